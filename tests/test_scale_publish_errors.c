/* A scaling decision the broker refuses (docs/reliability.md, table: "analyzer: scaling
 * decisions"): each is counted in vigil_scale_publish_errors_total and logged (the first and every
 * 100th) with the broker's reason (quoted: logfmt); every evaluation is either on the topic or
 * counted, and publishing goes on after the refusal.
 *
 * Real processes: vigil-test-mockbroker with its control FIFO (`broker-errors 2 0 1 29`: the next
 * Produce request to the decisions' leader fails with TOPIC_AUTHORIZATION_FAILED), vigil-analyzer
 * with one scaling policy; the decisions topic is read back with kcat. */
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

#include "vg_analyzerproc.h"
#include "vg_stack.h"
#include "vg_testproc.h"

#define T0     1700000000000LL
#define REFUSE 1 /* Produce requests of the decisions refused */

/* One policy, evaluated every second: one decision per Produce request. */
static const char *rules_yaml = "scaling:\n"
                                "  - target: web\n"
                                "    metric: value(\"q.depth\")\n"
                                "    target_value: 50\n"
                                "    min: 1\n"
                                "    max: 20\n"
                                "    initial: 1\n"
                                "    interval: 1s\n";

static double metric(const struct vg_ap *a, const char *name)
{
    return vg_ap_metric(a, name);
}

/* One message of h1 at seq, one second of event time after the one before: one evaluation of
 * the policy, whose decision is then published or refused (the counters add up to it). */
static void step(const struct vg_ap *a, const char *dir, const char *bootstrap, int seq)
{
    char in[700], line[256];
    snprintf(in, sizeof in, "%s/in.txt", dir);
    snprintf(line, sizeof line,
             "h1|{\"v\":1,\"host\":\"h1\",\"boot\":\"b\",\"seq\":%d,\"ts\":%lld,"
             "\"interval_ms\":1000,\"metrics\":{\"q.depth\":500}}\n",
             seq, T0 + seq * 1000LL);
    double e0 = metric(a, "vigil_scale_evaluations_total");
    assert_int_equal(vg_tp_write_atomic(in, line), 0);
    assert_int_equal(vg_ap_produce(bootstrap, in), 0);
    int64_t end = vg_tp_mono_ms() + 20000;
    double e, p, x;
    for (;;) {
        e = metric(a, "vigil_scale_evaluations_total");
        p = metric(a, "vigil_scale_published_total");
        x = metric(a, "vigil_scale_publish_errors_total");
        if ((e > e0 && p + x >= e) || vg_tp_mono_ms() >= end)
            break;
        vg_tp_pause_ms(50);
    }
    if (!(e > e0 && p + x == e))
        fail_msg("step %d: evaluations %g (before %g), published %g + errors %g", seq, e, e0, p, x);
}

static void decisions_the_broker_refuses_are_counted_and_logged_with_its_reason(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "scale-publish-errors");
    char bootstrap[256], rules[600], rfile[700], set_rules[700], dump[700];
    /* Two brokers: vigil.decisions led by broker 2 alone, so that the refused Produce requests
     * are the decisions' (not the state checkpoints' or the test's own input). */
    pid_t broker = vg_ap_start_broker_ctl(s.dir, 2, bootstrap, sizeof bootstrap);
    vg_ap_broker_control(s.dir, "leader vigil.decisions 0 2");
    for (int p = 0; p < 4; p++) {
        char cmd[64];
        snprintf(cmd, sizeof cmd, "leader vigil.metrics %d 1", p);
        vg_ap_broker_control(s.dir, cmd);
        snprintf(cmd, sizeof cmd, "leader vigil.state %d 1", p);
        vg_ap_broker_control(s.dir, cmd);
    }
    snprintf(rules, sizeof rules, "%s/rules", s.dir);
    assert_int_equal(vg_tp_sh("mkdir -p %s", rules), 0);
    snprintf(rfile, sizeof rfile, "%s/scale.yaml", rules);
    assert_int_equal(vg_tp_write_atomic(rfile, rules_yaml), 0);
    snprintf(set_rules, sizeof set_rules, "rules.dir=%s", rules);
    const char *sets[] = {set_rules, "detector.warmup=5", "decisions.partials_topic=", NULL};
    struct vg_ap a;
    vg_ap_start(&a, s.dir, "a", bootstrap, sets);
    int seq = 0;
    while (metric(&a, "vigil_scale_published_total") < 2 && seq < 20)
        step(&a, s.dir, bootstrap, seq++);
    assert_true(metric(&a, "vigil_scale_published_total") >= 2);
    assert_int_equal((int)metric(&a, "vigil_scale_publish_errors_total"), 0);

    /* The next Produce request broker 2 gets fails: TOPIC_AUTHORIZATION_FAILED. */
    vg_ap_broker_control(s.dir, "broker-errors 2 0 1 29");
    double before = metric(&a, "vigil_scale_published_total");
    for (int i = 0; i < 20 && metric(&a, "vigil_scale_publish_errors_total") < REFUSE; i++)
        step(&a, s.dir, bootstrap, seq++);
    /* Publishing goes on after it. */
    step(&a, s.dir, bootstrap, seq++);
    step(&a, s.dir, bootstrap, seq++);
    double published = metric(&a, "vigil_scale_published_total");
    double evaluated = metric(&a, "vigil_scale_evaluations_total");
    double errors = metric(&a, "vigil_scale_publish_errors_total");
    print_message("evaluations=%.0f published=%.0f (before the fault %.0f) publish_errors=%.0f\n",
                  evaluated, published, before, errors);
    assert_int_equal((int)errors, REFUSE);
    assert_true(published >= before + 2);
    /* Every evaluation is either on the topic or counted. */
    assert_true(evaluated == published + errors);

    /* Logged once (the first of every 100), with the broker's reason. */
    char *log = vg_tp_read(a.log);
    assert_non_null(log);
    assert_int_equal(vg_tp_count(a.log, "msg=\"scaling decision not published\""), 1);
    assert_non_null(strstr(log, "msg=\"scaling decision not published\" errors=1 "
                                "reason=\"Broker: Topic authorization failed\""));
    free(log);

    kill(a.pid, SIGTERM);
    int status = 0;
    assert_int_equal(waitpid(a.pid, &status, 0), a.pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The topic holds the decisions published, none of the refused ones. */
    snprintf(dump, sizeof dump, "%s/decisions.txt", s.dir);
    assert_int_equal(vg_tp_sh("kcat -C -b %s -t vigil.decisions -e -q -f '%%k\\n' 2>/dev/null "
                              "| grep -c '^web$' > %s",
                              bootstrap, dump),
                     0);
    char *n = vg_tp_read(dump);
    long long records = n ? atoll(n) : -1;
    free(n);
    print_message("vigil.decisions: %lld records\n", records);
    assert_int_equal(records, (long long)published);
    vg_tp_stop(broker, SIGTERM, 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decisions_the_broker_refuses_are_counted_and_logged_with_its_reason),
    };
    return vg_tp_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
