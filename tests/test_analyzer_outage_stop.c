/* The analyzer stopped during a group re-join with the broker gone: the stop ends within its
 * budget (drain_timeout + 15 s, 20 s by default), well inside the packaged unit's
 * TimeoutStopSec=30s, and the receivers' drain runs. It used never to end (librdkafka 2.0's
 * rd_kafka_destroy hang). Real processes: vigil-test-mockbroker with its control FIFO and
 * vigil-analyzer. The bound asserted is loose (25 s): the point is that the stop ends, not how
 * fast. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vg_analyzerproc.h"
#include "vg_testproc.h"

/* Past this the test calls the stop hung: under the unit's 30 s, with a margin. */
#define STOP_BOUND_MS 25000
/* The exit status of a stop whose Kafka teardown the stop watchdog gave up on (main.c). */
#define EXIT_STOP_ABANDONED 3

static void write_metrics(const char *path, int from, int to)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int t = from; t < to; t++)
        for (int h = 0; h < 4; h++)
            fprintf(f,
                    "stop-%d|{\"v\":1,\"host\":\"stop-%d\",\"boot\":\"boot-1\",\"seq\":%d,"
                    "\"ts\":%lld,\"interval_ms\":1000,\"metrics\":{\"cpu.user_pct\":%d}}\n",
                    h, h, t + 1, 1700000000000LL + t * 1000LL, 40 + (t * 7 + h) % 9);
    fclose(f);
}

static void fail_with_log(const struct vg_ap *a, const char *what)
{
    char *t = vg_tp_read(a->log);
    fail_msg("%s:\n%s", what, t ? t : "");
}

/* Starts an analyzer with a webhook receiver nobody answers (its alerts stay in the outbox) and
 * the extra sets, waits for its partitions and for it to process a first batch. */
static void start_consuming(struct vg_ap *a, const char *dir, const char *bootstrap,
                            const char *const *extra)
{
    static char outbox[600];
    snprintf(outbox, sizeof outbox, "outbox.dir=%s/outbox", dir);
    vg_tp_sh("mkdir -p %s/outbox", dir);
    const char *sets[24] = {"webhook.url=http://127.0.0.1:1/alerts", outbox, "stats_interval=5s",
                            "kafka.topic.metadata.refresh.interval.ms=2000"};
    size_t n = 4;
    for (; extra && *extra && n < 23; extra++)
        sets[n++] = *extra;
    sets[n] = NULL;
    vg_ap_start(a, dir, "stop", bootstrap, sets);
    if (vg_tp_wait_contains(a->log, "msg=\"partitions assigned\"", 60000) != 0)
        fail_with_log(a, "no assignment");
    char chunk[700];
    snprintf(chunk, sizeof chunk, "%s/chunk-0", dir);
    write_metrics(chunk, 0, 20);
    assert_int_equal(vg_ap_produce(bootstrap, chunk), 0);
    int64_t end = vg_tp_mono_ms() + 30000;
    while (vg_ap_metric(a, "vigil_messages_consumed_total") < 80 && vg_tp_mono_ms() < end)
        vg_tp_pause_ms(50);
    assert_true(vg_ap_metric(a, "vigil_messages_consumed_total") >= 80);
}

/* SIGTERM, then after_ms later the broker command (NULL: none), then waits for the exit until
 * STOP_BOUND_MS after the signal: the exit status. Kills it and fails past the bound. */
static int stop_within_bound(struct vg_ap *a, const char *dir, int64_t after_ms, const char *cmd)
{
    int64_t t0 = vg_tp_mono_ms();
    assert_int_equal(kill(a->pid, SIGTERM), 0);
    if (cmd) {
        vg_tp_pause_ms(after_ms);
        vg_ap_broker_control(dir, cmd);
    }
    int st = 0;
    pid_t w = 0;
    while ((w = waitpid(a->pid, &st, WNOHANG)) == 0 && vg_tp_mono_ms() - t0 < STOP_BOUND_MS)
        vg_tp_pause_ms(100);
    int64_t took = vg_tp_mono_ms() - t0;
    fprintf(stderr, "stopped in %lld ms\n", (long long)took);
    if (w != a->pid) {
        kill(a->pid, SIGKILL);
        waitpid(a->pid, NULL, 0);
        char what[128];
        snprintf(what, sizeof what, "still running %lld ms after SIGTERM (killed)",
                 (long long)took);
        fail_with_log(a, what);
    }
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* Either a clean stop or the watchdog's, which says so. */
static void expect_bounded_exit(const struct vg_ap *a, int status)
{
    if (status == EXIT_STOP_ABANDONED)
        vg_ap_expect_log(a, "msg=\"stop budget spent: exiting without finishing the Kafka "
                            "teardown\"");
    else if (status != 0)
        fail_with_log(a, "unexpected exit status");
    vg_ap_expect_log(a, "msg=\"receivers stopped\"");
}

/* SIGTERM while the group re-joins (the metrics topic was unavailable and is back), the broker
 * gone 4 s later: rd_kafka_destroy never returned. */
static void stop_during_a_group_rejoin_with_the_broker_gone_ends_within_the_budget(void **state)
{
    (void)state;
    char *dir = vg_tp_tmpdir("anstop-rejoin"), bootstrap[256];
    pid_t broker = vg_ap_start_broker_ctl(dir, 1, bootstrap, sizeof bootstrap);
    struct vg_ap a;
    const char *sets[] = {"state.topic=", NULL};
    start_consuming(&a, dir, bootstrap, sets);
    vg_ap_broker_control(dir, "topic-error vigil.metrics 3");
    if (vg_tp_wait_contains(a.log, "msg=\"partitions revoked\"", 30000) != 0)
        fail_with_log(&a, "no revoke after the topic error");
    vg_tp_pause_ms(2000);
    vg_ap_broker_control(dir, "topic-error vigil.metrics 0");
    vg_tp_pause_ms(8000); /* re-joining: the mock group takes longer than this */
    int status = stop_within_bound(&a, dir, 4000, "down");
    expect_bounded_exit(&a, status);
    vg_tp_stop(broker, SIGTERM, 5000);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stop_during_a_group_rejoin_with_the_broker_gone_ends_within_the_budget),
    };
    return vg_tp_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
