#include "vg_stack.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "vg_testproc.h"

#define MAX_ARGS 64

void vg_stack_init(struct vg_stack *s, const char *tag)
{
    memset(s, 0, sizeof(*s));
    char *dir = vg_tp_tmpdir(tag);
    assert_non_null(dir);
    snprintf(s->dir, sizeof(s->dir), "%s", dir);
    free(dir);
    snprintf(s->recv_out, sizeof(s->recv_out), "%s/received.jsonl", s->dir);
    snprintf(s->recv_log, sizeof(s->recv_log), "%s/receiver.log", s->dir);
    snprintf(s->analyzer_log, sizeof(s->analyzer_log), "%s/analyzer.log", s->dir);
    snprintf(s->agent_log, sizeof(s->agent_log), "%s/agent.log", s->dir);
}

static void dump_on_failure(const char *path)
{
    char *t = vg_tp_read(path);
    fprintf(stderr, "---- %s ----\n%s\n", path, t ? t : "(missing)");
    free(t);
}

void vg_stack_start_receiver(struct vg_stack *s, const char *const *extra)
{
    char portfile[600];
    snprintf(portfile, sizeof(portfile), "%s/receiver.port", s->dir);
    const char *argv[MAX_ARGS] = {VG_RECEIVER_BIN, "--port", "0",        "--port-file",
                                  portfile,        "--out",  s->recv_out};
    size_t n = 7;
    for (; extra && *extra && n < MAX_ARGS - 1; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    s->receiver = vg_tp_spawn((char *const *)argv, s->recv_log);
    if (vg_tp_wait_contains(portfile, NULL, 10000) != 0) {
        dump_on_failure(s->recv_log);
        fail_msg("receiver did not start");
    }
    char *p = vg_tp_read(portfile);
    s->recv_port = atoi(p);
    free(p);
    assert_true(s->recv_port > 0);
}

void vg_stack_start_analyzer(struct vg_stack *s, const char *const *sets)
{
    char bsfile[600];
    snprintf(bsfile, sizeof(bsfile), "%s/bootstrap", s->dir);
    snprintf(s->url_set, sizeof(s->url_set), "webhook.url=http://127.0.0.1:%d/alerts",
             s->recv_port);
    /* Port 0: tests run analyzers side by side. user= : as the agent's below (an analyzer
     * started as root becomes `user`, vigil by default, where the host has it). */
    const char *argv[MAX_ARGS] = {VG_ANALYZER_BIN,
                                  "--embedded-kafka",
                                  "--bootstrap-file",
                                  bsfile,
                                  "--set",
                                  "http.listen=127.0.0.1:0",
                                  "--set",
                                  "user="};
    size_t n = 8;
    if (s->recv_port) {
        argv[n++] = "--set";
        argv[n++] = s->url_set;
    }
    for (; sets && *sets && n < MAX_ARGS - 2; sets++) {
        argv[n++] = "--set";
        argv[n++] = *sets;
    }
    argv[n] = NULL;
    s->analyzer = vg_tp_spawn((char *const *)argv, s->analyzer_log);
    if (vg_tp_wait_contains(bsfile, "\n", 15000) != 0) {
        dump_on_failure(s->analyzer_log);
        fail_msg("analyzer did not start its embedded broker");
    }
    char *b = vg_tp_read(bsfile);
    b[strcspn(b, "\n")] = '\0';
    snprintf(s->bootstrap, sizeof(s->bootstrap), "%s", b);
    free(b);
    if (vg_tp_wait_contains(s->analyzer_log, "msg=\"http api listening\"", 15000) == 0) {
        char *log = vg_tp_read(s->analyzer_log);
        char *p = strstr(log, "msg=\"http api listening\"");
        p = p ? strstr(p, " port=") : NULL;
        s->http_port = p ? atoi(p + 6) : 0;
        free(log);
    }
}

void vg_stack_start_agent(struct vg_stack *s, const char *const *sets)
{
    char bs[300];
    snprintf(bs, sizeof(bs), "bootstrap_servers=%s", s->bootstrap);
    /* The spool and BTF cache default to /var/lib/vigil: a test there would share (and drain)
     * the spool of an agent installed on this host. Later --set entries override these. */
    char spool[300], btf[300];
    snprintf(spool, sizeof(spool), "spool.dir=%s/spool", s->dir);
    snprintf(btf, sizeof(btf), "bpf.btf_cache=%s/btf", s->dir);
    /* user= : tests run as root and keep their files in root's temporary directories. */
    const char *argv[MAX_ARGS] = {
        VG_AGENT_BIN, "--set", bs, "--set", "user=", "--set", spool, "--set", btf};
    size_t n = 9;
    for (; sets && *sets && n < MAX_ARGS - 2; sets++) {
        argv[n++] = "--set";
        argv[n++] = *sets;
    }
    argv[n] = NULL;
    s->agent = vg_tp_spawn((char *const *)argv, s->agent_log);
}

static int stop_one(pid_t *pid, const char *log)
{
    if (!*pid)
        return 0;
    int st = vg_tp_stop(*pid, SIGTERM, 20000);
    *pid = 0;
    if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        dump_on_failure(log);
        return 1;
    }
    return 0;
}

int vg_stack_stop(struct vg_stack *s)
{
    int bad = stop_one(&s->agent, s->agent_log);
    bad |= stop_one(&s->analyzer, s->analyzer_log);
    bad |= stop_one(&s->receiver, s->recv_log);
    return bad;
}
