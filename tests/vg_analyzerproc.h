/* Analyzers in processes of their own against a vigil-test-mockbroker (tests/vg_mockbroker.c),
 * for tests that kill -9, restart or add group members: the broker, its committed offsets and
 * the state topic outlive every analyzer. */
#ifndef VG_ANALYZERPROC_H
#define VG_ANALYZERPROC_H

#include <stdint.h>
#include <sys/types.h>

#define VG_MOCKBROKER_BIN VG_BIN_DIR "/tests/vigil-test-mockbroker"

struct vg_ap {
    pid_t pid;
    int port; /* its HTTP API */
    char log[600];
};

/* Starts the broker with vigil.metrics and vigil.state (4 partitions each), vigil.decisions and
 * vigil.scale.partials (1 each) and fills bootstrap.
 * Returns its pid. */
pid_t vg_ap_start_broker(const char *dir, char *bootstrap, size_t len);

/* As vg_ap_start_broker, with `brokers` brokers and a control FIFO at dir/control for fault
 * injection (vg_ap_broker_control). */
pid_t vg_ap_start_broker_ctl(const char *dir, int brokers, char *bootstrap, size_t len);

/* As vg_ap_start_broker_ctl, with only the topics given ("NAME:PARTITIONS", NULL-terminated;
 * NULL: the defaults): a topic left out is missing until something creates it. */
pid_t vg_ap_start_broker_topics(const char *dir, int brokers, const char *const *topics,
                                char *bootstrap, size_t len);

/* Sends one control command (down, up, leader ..., errors ..., rtt ..., create ...: the list is
 * in tests/vg_mockbroker.c) to the broker started in dir and waits until its log says it applied
 * it; fails the test otherwise. */
void vg_ap_broker_control(const char *dir, const char *cmd);

/* vg_ap_broker_control without failing the test. Waits (10 s at most) for an answer to cmd given
 * after it was sent, so that a command sent again waits for its own answer, not an earlier
 * one's. Returns 0 when the broker answered ok; -EIO with its answer in answer (the error, or
 * "unknown command"); -ETIMEDOUT when it did not answer. */
int vg_ap_broker_control_rc(const char *dir, const char *cmd, char *answer, size_t len);

/* Starts vigil-analyzer against bootstrap with test-friendly group timings and the extra --set
 * options (NULL-terminated), logging to dir/analyzer-<tag>.log; waits for its API port. */
void vg_ap_start(struct vg_ap *a, const char *dir, const char *tag, const char *bootstrap,
                 const char *const *sets);

/* A counter or gauge from the analyzer's /metrics, -1 when unreadable. */
double vg_ap_metric(const struct vg_ap *a, const char *name);

/* Waits (ms at most, reading every 50 ms) until a's metric name is want; fails the test with
 * the last value otherwise. */
void vg_ap_wait_metric(const struct vg_ap *a, const char *name, double want, int64_t ms);

/* last_seq of host from /api/v1/hosts/HOST, -1 when unknown. */
int64_t vg_ap_last_seq(const struct vg_ap *a, const char *host);

/* The sum of the offsets the analyzers' group ("vigil-analyzer") has committed on the first
 * partitions of vigil.metrics: each partition's next offset to read, so the number of messages
 * consumed when the topic started empty. -1 when the broker did not answer. */
int64_t vg_ap_committed_total(const char *bootstrap, int partitions);

/* Produces the lines of file ("key|json" per line) with kcat. 0 or kcat's status. */
int vg_ap_produce(const char *bootstrap, const char *file);

/* Waits (30 s at most) until host's last_seq at a is seq; fails the test otherwise. */
void vg_ap_wait_seq(const struct vg_ap *a, const char *host, int64_t seq);
/* Waits (10 s at most) until a's log holds needle; fails the test with the log otherwise. */
void vg_ap_expect_log(const struct vg_ap *a, const char *needle);

#endif
