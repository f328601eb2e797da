#include "vg_analyzerproc.h"

#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vg_stack.h"
#include "vg_testhttp.h"
#include "vg_testproc.h"

static pid_t start_broker(const char *dir, const char *brokers, int with_control,
                          const char *const *topics, char *bootstrap, size_t len)
{
    char bsfile[600], log[600], control[600];
    snprintf(bsfile, sizeof(bsfile), "%s/bootstrap", dir);
    snprintf(log, sizeof(log), "%s/broker.log", dir);
    snprintf(control, sizeof(control), "%s/control", dir);
    const char *argv[40] = {VG_MOCKBROKER_BIN, "--bootstrap-file", bsfile};
    int n = 3;
    if (brokers) {
        argv[n++] = "--brokers";
        argv[n++] = brokers;
    }
    if (with_control) {
        argv[n++] = "--control";
        argv[n++] = control;
    }
    for (; topics && *topics && n < 38; topics++) {
        argv[n++] = "--topic";
        argv[n++] = *topics;
    }
    pid_t pid = vg_tp_spawn((char *const *)argv, log);
    assert_int_equal(vg_tp_wait_contains(bsfile, "\n", 15000), 0);
    char *b = vg_tp_read(bsfile);
    b[strcspn(b, "\n")] = '\0';
    snprintf(bootstrap, len, "%s", b);
    free(b);
    return pid;
}

pid_t vg_ap_start_broker(const char *dir, char *bootstrap, size_t len)
{
    return start_broker(dir, NULL, 0, NULL, bootstrap, len);
}

pid_t vg_ap_start_broker_ctl(const char *dir, int brokers, char *bootstrap, size_t len)
{
    return vg_ap_start_broker_topics(dir, brokers, NULL, bootstrap, len);
}

pid_t vg_ap_start_broker_topics(const char *dir, int brokers, const char *const *topics,
                                char *bootstrap, size_t len)
{
    char nb[16];
    snprintf(nb, sizeof(nb), "%d", brokers);
    return start_broker(dir, nb, 1, topics, bootstrap, len);
}

/* How many answers the broker's log holds to a command (lines starting with prefix, "control:
 * CMD: "); the last one's text after prefix goes into last. */
static int count_answers(const char *log, const char *prefix, char *last, size_t len)
{
    char *s = vg_tp_read(log);
    size_t pl = strlen(prefix);
    int n = 0;
    for (char *p = s; p && *p;) {
        char *nl = strchr(p, '\n');
        if (!nl) /* a line still being written */
            break;
        if (strncmp(p, prefix, pl) == 0) {
            n++;
            snprintf(last, len, "%.*s", (int)(nl - p - (ptrdiff_t)pl), p + pl);
        }
        p = nl + 1;
    }
    free(s);
    return n;
}

int vg_ap_broker_control_rc(const char *dir, const char *cmd, char *answer, size_t len)
{
    char control[600], log[600], line[256], prefix[300];
    snprintf(control, sizeof(control), "%s/control", dir);
    snprintf(log, sizeof(log), "%s/broker.log", dir);
    snprintf(prefix, sizeof(prefix), "control: %s: ", cmd);
    /* The answers before this one: a command sent before has its old answer in the log already,
     * and only a further one says that this sending was applied (or refused). */
    int before = count_answers(log, prefix, answer, len);
    int fd = open(control, O_WRONLY);
    assert_true(fd >= 0);
    int n = snprintf(line, sizeof(line), "%s\n", cmd);
    assert_int_equal(write(fd, line, (size_t)n), n);
    close(fd);
    int64_t end = vg_tp_mono_ms() + 10000;
    snprintf(answer, len, "(no answer)");
    while (count_answers(log, prefix, answer, len) <= before) {
        if (vg_tp_mono_ms() >= end) {
            snprintf(answer, len, "(no answer within 10 s)");
            return -ETIMEDOUT;
        }
        vg_tp_pause_ms(20);
    }
    return strcmp(answer, "ok") == 0 ? 0 : -EIO;
}

void vg_ap_broker_control(const char *dir, const char *cmd)
{
    char answer[300];
    if (vg_ap_broker_control_rc(dir, cmd, answer, sizeof(answer)) != 0)
        fail_msg("broker did not apply '%s': %s", cmd, answer);
}

void vg_ap_start(struct vg_ap *a, const char *dir, const char *tag, const char *bootstrap,
                 const char *const *sets)
{
    static char bs[300];
    snprintf(bs, sizeof(bs), "bootstrap_servers=%s", bootstrap);
    snprintf(a->log, sizeof(a->log), "%s/analyzer-%s.log", dir, tag);
    /* A killed member is noticed after session.timeout: the broker's minimum keeps restarts
     * quick. user= : tests run as root and keep their files in root's temporary directories (an
     * analyzer started as root becomes `user`, vigil by default, where the host has it). */
    const char *argv[64] = {VG_ANALYZER_BIN,
                            "--set",
                            "user=",
                            "--set",
                            bs,
                            "--set",
                            "http.listen=127.0.0.1:0",
                            "--set",
                            "kafka.session.timeout.ms=6000",
                            "--set",
                            "kafka.heartbeat.interval.ms=500",
                            "--set",
                            "kafka.auto.offset.reset=earliest",
                            "--set",
                            "http.rate=0"};
    size_t n = 15;
    for (; sets && *sets && n < 62; sets++) {
        argv[n++] = "--set";
        argv[n++] = *sets;
    }
    argv[n] = NULL;
    a->pid = vg_tp_spawn((char *const *)argv, a->log);
    if (vg_tp_wait_contains(a->log, "msg=\"http api listening\"", 20000) != 0) {
        char *t = vg_tp_read(a->log);
        fail_msg("analyzer %s did not start:\n%s", tag, t ? t : "");
    }
    char *log = vg_tp_read(a->log);
    char *p = strstr(strstr(log, "msg=\"http api listening\""), " port=");
    a->port = p ? atoi(p + 6) : 0;
    free(log);
    assert_true(a->port > 0);
}

double vg_ap_metric(const struct vg_ap *a, const char *name)
{
    char url[128], *body = NULL;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", a->port);
    if (vg_th_request("GET", url, NULL, NULL, 0, &body) != 200) {
        free(body);
        return -1;
    }
    double v = -1;
    size_t nl = strlen(name);
    for (char *line = body; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, name, nl) == 0 && line[nl] == ' ') {
            v = atof(line + nl + 1);
            break;
        }
    free(body);
    return v;
}

int64_t vg_ap_last_seq(const struct vg_ap *a, const char *host)
{
    char url[256], *body = NULL;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/hosts/%s", a->port, host);
    int64_t v = -1;
    if (vg_th_request("GET", url, NULL, NULL, 0, &body) == 200 && body) {
        char *p = strstr(body, "\"last_seq\":");
        if (p)
            v = atoll(p + 11);
    }
    free(body);
    return v;
}

int vg_ap_produce(const char *bootstrap, const char *file)
{
    return vg_tp_sh("kcat -P -b %s -t vigil.metrics -K '|' -l %s", bootstrap, file);
}

void vg_ap_wait_seq(const struct vg_ap *a, const char *host, int64_t seq)
{
    int64_t end = vg_tp_mono_ms() + 30000, got;
    while ((got = vg_ap_last_seq(a, host)) != seq && vg_tp_mono_ms() < end)
        vg_tp_pause_ms(50);
    if (got != seq)
        fail_msg("%s: host %s at seq %lld, expected %lld", a->log, host, (long long)got,
                 (long long)seq);
}

void vg_ap_expect_log(const struct vg_ap *a, const char *needle)
{
    if (vg_tp_wait_contains(a->log, needle, 10000) != 0) {
        char *t = vg_tp_read(a->log);
        fail_msg("%s lacks '%s':\n%s", a->log, needle, t ? t : "");
    }
}

void vg_ap_wait_metric(const struct vg_ap *a, const char *name, double want, int64_t ms)
{
    int64_t end = vg_tp_mono_ms() + ms;
    double v;
    while ((v = vg_ap_metric(a, name)) != want && vg_tp_mono_ms() < end)
        vg_tp_pause_ms(50);
    if (v != want)
        fail_msg("%s: %s is %g, expected %g", a->log, name, v, want);
}

int64_t vg_ap_committed_total(const char *bootstrap, int partitions)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, NULL, 0);
    rd_kafka_conf_set(conf, "group.id", "vigil-analyzer", NULL, 0);
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, NULL, 0);
    if (!rk)
        return -1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(l, "vigil.metrics", p);
    int64_t total = -1;
    if (rd_kafka_committed(rk, l, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        total = 0;
        for (int i = 0; i < l->cnt; i++)
            if (l->elems[i].offset > 0)
                total += l->elems[i].offset;
    }
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return total;
}
