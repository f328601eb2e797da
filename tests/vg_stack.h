/* Starting the real Vigil processes for integration tests: a receiver, an analyzer with its
 * embedded broker, agents. Each test gets its own temporary directory for logs and files. */
#ifndef VG_STACK_H
#define VG_STACK_H

#include <sys/types.h>

#define VG_AGENT_BIN    VG_BIN_DIR "/agent/vigil-agent"
#define VG_ANALYZER_BIN VG_BIN_DIR "/analyzer/vigil-analyzer"
#define VG_RECEIVER_BIN VG_BIN_DIR "/tests/receiver/vigil-test-receiver"

struct vg_stack {
    char dir[256];
    char url_set[128]; /* the analyzer's --set webhook.url=... */
    char recv_out[512], recv_log[512], analyzer_log[512], agent_log[512];
    char bootstrap[256];
    int recv_port;
    int http_port; /* the analyzer's API */
    pid_t receiver, analyzer, agent;
};

/* Creates the directory and file names. */
void vg_stack_init(struct vg_stack *s, const char *tag);

/* Starts vigil-test-receiver; extra is NULL-terminated extra argv. Fails the test on error. */
void vg_stack_start_receiver(struct vg_stack *s, const char *const *extra);

/* Starts vigil-analyzer --embedded-kafka posting to the receiver, with extra --set options
 * (NULL-terminated). Waits for the bootstrap address. */
void vg_stack_start_analyzer(struct vg_stack *s, const char *const *sets);

/* Starts vigil-agent against the analyzer's broker with extra --set options. */
void vg_stack_start_agent(struct vg_stack *s, const char *const *sets);

/* Stops whatever runs (SIGTERM) and returns non-zero if a daemon did not exit 0. */
int vg_stack_stop(struct vg_stack *s);

#endif
