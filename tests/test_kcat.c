/* Interoperability with kcat, a Kafka client nobody here wrote: kcat reads what the agent
 * produced, and the analyzer scores what kcat produced, skipping a malformed message with a log
 * line naming topic, partition, offset and reason, and committing past it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "vg_analyzerproc.h"
#include "vg_stack.h"
#include "vg_testproc.h"
#include "vg_wire.h"

static int have_kcat(void)
{
    return vg_tp_sh("command -v kcat >/dev/null 2>&1") == 0;
}

static void kcat_consumes_agent_message_keyed_by_host(void **state)
{
    if (!have_kcat())
        fail_msg("kcat is not installed (scripts/setup.sh installs it)");
    struct vg_stack s;
    vg_stack_init(&s, "kcat-consume");
    vg_stack_start_analyzer(&s, NULL);
    const char *gsets[] = {"collectors=cpu,mem,load", "interval=200ms", "host=kcat-agent-1",
                           "labels.env=interop", NULL};
    vg_stack_start_agent(&s, gsets);

    char out[600];
    snprintf(out, sizeof(out), "%s/kcat.out", s.dir);
    /* kcat exits at the end of the partitions; repeat until the agent's first message is
     * there. -f prints the key, a tab, then the value. */
    int64_t end = vg_tp_mono_ms() + 30000;
    char *text = NULL;
    while (vg_tp_mono_ms() < end) {
        vg_tp_sh("kcat -b %s -t vigil.metrics -C -o beginning -e -c 3 -q -f '%%k\\t%%s\\n' "
                 "> %s 2>/dev/null",
                 s.bootstrap, out);
        free(text);
        text = vg_tp_read(out);
        if (text && strchr(text, '\t'))
            break;
    }
    assert_int_equal(vg_stack_stop(&s), 0);
    assert_non_null(text);
    char *tab = strchr(text, '\t');
    assert_non_null(tab);
    *tab = '\0';
    assert_string_equal(text, "kcat-agent-1");
    char *value = tab + 1;
    value[strcspn(value, "\n")] = '\0';
    struct vg_wire_msg m;
    vg_wire_msg_init(&m);
    char err[256] = "";
    assert_int_equal(vg_wire_decode(value, strlen(value), 0, &m, err, sizeof(err)), 0);
    assert_string_equal(m.host, "kcat-agent-1");
    assert_int_equal(m.version, 1);
    assert_int_equal(m.interval_ms, 200);
    assert_true(m.n_metrics >= 5);
    assert_int_equal(m.n_labels, 1);
    assert_string_equal(m.labels[0].value, "interop");
    vg_wire_msg_free(&m);
    free(text);
}

static void analyzer_scores_kcat_messages_and_skips_malformed_one(void **state)
{
    if (!have_kcat())
        fail_msg("kcat is not installed (scripts/setup.sh installs it)");
    struct vg_stack s;
    vg_stack_init(&s, "kcat-produce");
    vg_stack_start_receiver(&s, NULL);
    const char *asets[] = {"kafka.auto.offset.reset=earliest", "detector.warmup=10", "alert.for=2s",
                           "commit_interval=100ms", NULL};
    vg_stack_start_analyzer(&s, asets);

    /* Two hosts, 15 steady ticks then 5 anomalous ones each; a malformed message for host
     * kc-1 sits between its steady and anomalous ticks. */
    char input[700];
    snprintf(input, sizeof(input), "%s/kcat.in", s.dir);
    FILE *f = fopen(input, "w");
    assert_non_null(f);
    int lines = 0;
    const char *hosts[] = {"kc-1", "kc-2"};
    for (int h = 0; h < 2; h++) {
        for (int i = 0; i < 20; i++) {
            if (h == 0 && i == 15) {
                fprintf(f, "kc-1|{\"v\":1,\"host\":\n");
                lines++;
            }
            double v = i < 15 ? 10.0 + (i % 3) : 95.0;
            fprintf(f,
                    "%s|{\"v\":1,\"host\":\"%s\",\"boot\":\"b-1\",\"seq\":%d,\"ts\":%lld,"
                    "\"interval_ms\":1000,\"metrics\":{\"app.latency_ms\":%g}}\n",
                    hosts[h], hosts[h], i, 1700000000000LL + i * 1000LL, v);
            lines++;
        }
    }
    fclose(f);
    assert_int_equal(vg_tp_sh("kcat -P -b %s -t vigil.metrics -K '|' -l %s", s.bootstrap, input),
                     0);

    assert_int_equal(vg_tp_wait_contains(s.recv_out, "\"kc-1\"", 30000), 0);
    assert_int_equal(vg_tp_wait_contains(s.recv_out, "\"kc-2\"", 30000), 0);
    assert_int_equal(vg_tp_count(s.recv_out, "\"firing\""), 2);

    /* Every message, the malformed one included, is committed. */
    int64_t end = vg_tp_mono_ms() + 20000, total = -1;
    while (vg_tp_mono_ms() < end && (total = vg_ap_committed_total(s.bootstrap, 4)) != lines)
        ;
    assert_int_equal(total, lines);
    assert_int_equal(vg_stack_stop(&s), 0);

    char *log = vg_tp_read(s.analyzer_log);
    char *bad = strstr(log, "msg=\"bad message skipped\"");
    assert_non_null(bad);
    char *eol = strchr(bad, '\n');
    *eol = '\0';
    assert_non_null(strstr(bad, "topic=vigil.metrics"));
    assert_non_null(strstr(bad, "partition="));
    assert_non_null(strstr(bad, "offset=15"));
    assert_non_null(strstr(bad, "key=\"kc-1\"")); /* the host, which the payload may not name */
    assert_non_null(strstr(bad, "reason="));
    /* Logged once, counted once. */
    *eol = '\n';
    assert_int_equal(vg_tp_count(s.analyzer_log, "msg=\"bad message skipped\""), 1);
    assert_non_null(strstr(log, "bad_messages=1 "));
    free(log);
}

/* A message stamped later than the analyzer's clock (its host's clock ahead, here by 4 s, within
 * the 5 s vigil_host_clock_ahead_total allows, and by 60 s) has a negative lag: observed as such,
 * vigil_event_lag_seconds_sum fell (Prometheus takes that for a counter reset) and nothing said
 * why. Now it counts as 0 lag and in vigil_event_lag_negative_total. */
static void a_message_stamped_ahead_counts_as_no_lag_and_is_counted(void **state)
{
    if (!have_kcat())
        fail_msg("kcat is not installed (scripts/setup.sh installs it)");
    struct vg_stack s;
    vg_stack_init(&s, "kcat-lag-ahead");
    vg_stack_start_receiver(&s, NULL);
    const char *asets[] = {"kafka.auto.offset.reset=earliest", NULL};
    vg_stack_start_analyzer(&s, asets);
    /* Consuming already, so that those 4 s ahead are scored within those 4 s. */
    struct vg_ap a = {.port = s.http_port};
    vg_ap_wait_metric(&a, "vigil_partitions_assigned", 4, 30000);
    char input[700];
    snprintf(input, sizeof(input), "%s/kcat.in", s.dir);
    FILE *f = fopen(input, "w");
    assert_non_null(f);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long now_ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    for (int i = 0; i < 20; i++)
        fprintf(f,
                "skew-%d|{\"v\":1,\"host\":\"skew-%d\",\"boot\":\"b-1\",\"seq\":%d,\"ts\":%lld,"
                "\"interval_ms\":1000,\"metrics\":{\"cpu.user_pct\":10}}\n",
                i % 2, i % 2, i / 2, now_ms + (i % 2 ? 60000 : 4000) + i);
    fclose(f);
    assert_int_equal(vg_tp_sh("kcat -P -b %s -t vigil.metrics -K '|' -l %s", s.bootstrap, input),
                     0);
    vg_ap_wait_metric(&a, "vigil_event_lag_seconds_count", 20, 30000);
    double sum = vg_ap_metric(&a, "vigil_event_lag_seconds_sum");
    double negative = vg_ap_metric(&a, "vigil_event_lag_negative_total");
    print_message("vigil_event_lag_seconds_sum=%g vigil_event_lag_negative_total=%g\n", sum,
                  negative);
    /* Those 60 s ahead surely, those 4 s ahead unless their processing took longer. */
    assert_true(sum >= 0);
    assert_true(negative >= 10 && negative <= 20);
    assert_int_equal(vg_stack_stop(&s), 0);
}

/* A flood of bad messages: the analyzer logs up to its own budget per stats_interval and counts
 * the rest in bad_suppressed, so the lines logged and bad_suppressed add up to bad_messages (no
 * second, generic limit may hold lines back uncounted). */
#define VG_X30    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define VG_LONG_X VG_X30 VG_X30 VG_X30

static void bad_message_lines_and_bad_suppressed_add_up_to_bad_messages(void **state)
{
    if (!have_kcat())
        fail_msg("kcat is not installed (scripts/setup.sh installs it)");
    enum { BAD = 150 };
    struct vg_stack s;
    vg_stack_init(&s, "kcat-bad-flood");
    vg_stack_start_receiver(&s, NULL);
    const char *asets[] = {"kafka.auto.offset.reset=earliest", "stats_interval=1s",
                           "commit_interval=100ms", NULL};
    vg_stack_start_analyzer(&s, asets);
    char input[700];
    snprintf(input, sizeof(input), "%s/kcat.in", s.dir);
    FILE *f = fopen(input, "w");
    assert_non_null(f);
    for (int i = 0; i < BAD; i++)
        fprintf(f, "kb-%d|{\"v\":1,\"host\":%d\n", i % 7, i);
    fclose(f);
    assert_int_equal(vg_tp_sh("kcat -P -b %s -t vigil.metrics -K '|' -l %s", s.bootstrap, input),
                     0);
    int64_t end = vg_tp_mono_ms() + 30000;
    while (vg_tp_mono_ms() < end && vg_tp_last_field(s.analyzer_log, "bad_messages") < BAD)
        vg_tp_pause_ms(100);
    /* Past the flood's stats_interval, whose budget it spent: one more, whose key is long and
     * has a quote, is logged with its key quoted, its first 64 bytes. */
    vg_tp_pause_ms(1500);
    f = fopen(input, "w");
    assert_non_null(f);
    fprintf(f, "%.30s\"%.69s|{\"v\":1,\"host\":0\n", VG_LONG_X, VG_LONG_X);
    fclose(f);
    assert_int_equal(vg_tp_sh("kcat -P -b %s -t vigil.metrics -K '|' -l %s", s.bootstrap, input),
                     0);
    while (vg_tp_mono_ms() < end && vg_tp_last_field(s.analyzer_log, "bad_messages") < BAD + 1)
        vg_tp_pause_ms(100);
    assert_int_equal(vg_stack_stop(&s), 0);
    long long bad = vg_tp_last_field(s.analyzer_log, "bad_messages");
    long long unlogged = vg_tp_last_field(s.analyzer_log, "bad_suppressed");
    int logged = vg_tp_count(s.analyzer_log, "msg=\"bad message skipped\"");
    print_message("bad_messages=%lld logged=%d bad_suppressed=%lld\n", bad, logged, unlogged);
    assert_int_equal(bad, BAD + 1);
    assert_true(logged >= 101); /* at least the budget of one stats_interval */
    assert_int_equal(logged + unlogged, bad);
    assert_int_equal(vg_tp_count(s.analyzer_log, "text=\"bad message skipped\""), 0);
    assert_int_equal(vg_tp_count(s.analyzer_log, "key=\"" VG_X30 "\\\"" VG_X30 "xxx...\" bytes="),
                     1);
}

static void alert_reaches_webhook_alertmanager_and_slack_through_outbox(void **state)
{
    if (!have_kcat())
        fail_msg("kcat is not installed (scripts/setup.sh installs it)");
    struct vg_stack s;
    vg_stack_init(&s, "receivers");
    vg_stack_start_receiver(&s, NULL);
    char am[128], slack[128], outbox[600];
    snprintf(am, sizeof(am), "alertmanager.url=http://127.0.0.1:%d", s.recv_port);
    snprintf(slack, sizeof(slack), "slack.url=http://127.0.0.1:%d/slack", s.recv_port);
    snprintf(outbox, sizeof(outbox), "outbox.dir=%s/outbox", s.dir);
    vg_tp_sh("mkdir -p %s/outbox", s.dir);
    const char *asets[] = {"kafka.auto.offset.reset=earliest",
                           "detector.warmup=10",
                           "alert.for=0s",
                           am,
                           slack,
                           outbox,
                           NULL};
    vg_stack_start_analyzer(&s, asets);
    char input[700];
    snprintf(input, sizeof(input), "%s/kcat.in", s.dir);
    FILE *f = fopen(input, "w");
    assert_non_null(f);
    for (int i = 0; i < 14; i++)
        fprintf(f,
                "rx-1|{\"v\":1,\"host\":\"rx-1\",\"boot\":\"b\",\"seq\":%d,\"ts\":%lld,"
                "\"interval_ms\":1000,\"metrics\":{\"q.depth\":%g}}\n",
                i, 1700000000000LL + i * 1000LL, i < 12 ? 5.0 + (i % 2) : 500.0);
    fclose(f);
    assert_int_equal(vg_tp_sh("kcat -P -b %s -t vigil.metrics -K '|' -l %s", s.bootstrap, input),
                     0);
    assert_int_equal(vg_tp_wait_contains(s.recv_out, "\"path\":\"/api/v2/alerts\"", 30000), 0);
    assert_int_equal(vg_tp_wait_contains(s.recv_out, "\"path\":\"/slack\"", 30000), 0);
    assert_int_equal(vg_tp_wait_contains(s.recv_out, "\"path\":\"/alerts\"", 30000), 0);
    assert_int_equal(vg_stack_stop(&s), 0);
    char *log = vg_tp_read(s.analyzer_log);
    assert_non_null(strstr(log, "receiver=alertmanager"));
    assert_non_null(strstr(log, "receiver=slack"));
    free(log);
    /* The outbox kept a file per receiver. */
    assert_int_equal(vg_tp_sh("test $(ls %s/outbox | wc -l) -ge 3", s.dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kcat_consumes_agent_message_keyed_by_host),
        cmocka_unit_test(analyzer_scores_kcat_messages_and_skips_malformed_one),
        cmocka_unit_test(bad_message_lines_and_bad_suppressed_add_up_to_bad_messages),
        cmocka_unit_test(a_message_stamped_ahead_counts_as_no_lag_and_is_counted),
        cmocka_unit_test(alert_reaches_webhook_alertmanager_and_slack_through_outbox),
    };
    return vg_tp_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
