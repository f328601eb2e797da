/* Scaling decisions survive an analyzer restart: the analyzer reads its decisions topic back at
 * start, so a restarted one serves and publishes the count it had decided, with its cooldown,
 * rather than falling back to `initial` (which an autoscaler following `desired` would apply: a
 * restart would shed most of the replicas). A record on the topic that is not a decision is
 * refused, logged and counted, and does not hide the valid one before it.
 *
 * Real processes: vigil-test-mockbroker outlives two analyzers; messages go in with kcat. */
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "vg_analyzerproc.h"
#include "vg_stack.h"
#include "vg_testhttp.h"
#include "vg_testproc.h"

#define T0 1700000000000LL

/* Two targets on the same load: one held by its cooldown only, one by its stabilisation window
 * only, so that each brake is shown to be restored. */
static const char *rules_yaml = "scaling:\n"
                                "  - target: web\n"
                                "    metric: value(\"q.depth\")\n"
                                "    target_value: 50\n"
                                "    min: 1\n"
                                "    max: 20\n"
                                "    initial: 1\n"
                                "    interval: 1s\n"
                                "    cooldown: 10m\n"
                                "    scale_in_stabilization: 0s\n"
                                "  - target: api\n"
                                "    metric: value(\"q.depth\")\n"
                                "    target_value: 50\n"
                                "    min: 1\n"
                                "    max: 20\n"
                                "    initial: 1\n"
                                "    interval: 1s\n"
                                "    cooldown: 0s\n"
                                "    scale_in_stabilization: 10m\n";

/* One message of host h1 at seq, stamped T0 + seq seconds, with q.depth v. One host and one
 * message per step: the analyzer evaluates policies on its own tick, so a batch of several
 * messages could be measured half-way (part old values, part new) and decide from that. */
static void produce_host(const char *dir, const char *bootstrap, const char *host, int seq,
                         double v)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/in-%s-%d.txt", dir, host, seq);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "%s|{\"v\":1,\"host\":\"%s\",\"boot\":\"b\",\"seq\":%d,\"ts\":%lld,"
            "\"interval_ms\":1000,\"metrics\":{\"q.depth\":%g}}\n",
            host, host, seq, T0 + seq * 1000LL, v);
    fclose(f);
    assert_int_equal(vg_ap_produce(bootstrap, path), 0);
}

static void produce(const char *dir, const char *bootstrap, int seq, double v)
{
    produce_host(dir, bootstrap, "h1", seq, v);
}

static json_t *decision_of(const struct vg_ap *a, const char *target)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/scale/%s", target);
    return vg_th_get_json(a->port, path);
}

static json_t *decision(const struct vg_ap *a)
{
    return decision_of(a, "web");
}

/* Waits until target has been evaluated by a, then checks it holds `want` for `why`. */
static void wait_held(const struct vg_ap *a, const char *target, int want, const char *why)
{
    int64_t end = vg_tp_mono_ms() + 20000;
    json_t *d;
    for (d = decision_of(a, target);
         json_is_null(json_object_get(d, "time_ms")) && vg_tp_mono_ms() < end;
         d = decision_of(a, target)) {
        json_decref(d);
        vg_tp_pause_ms(50);
    }
    assert_false(json_is_null(json_object_get(d, "time_ms")));
    const char *reason = json_string_value(json_object_get(d, "reason"));
    if (json_integer_value(json_object_get(d, "desired")) != want || !strstr(reason, why))
        fail_msg("%s: desired %lld (want %d), reason '%s' (want '%s')", target,
                 (long long)json_integer_value(json_object_get(d, "desired")), want, reason, why);
    json_decref(d);
}

static int64_t jint(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static void wait_metric(const struct vg_ap *a, const char *name, double want)
{
    int64_t end = vg_tp_mono_ms() + 20000;
    double v;
    while ((v = vg_ap_metric(a, name)) < want && vg_tp_mono_ms() < end)
        vg_tp_pause_ms(50);
    if (v < want)
        fail_msg("%s: %s is %g, expected >= %g", a->log, name, v, want);
}

static void stop(struct vg_ap *a)
{
    kill(a->pid, SIGTERM);
    int status = 0;
    assert_int_equal(waitpid(a->pid, &status, 0), a->pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("%s: analyzer exited with status %d", a->log, status);
}

static void restarted_analyzer_continues_from_its_last_decision_and_its_cooldown(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "scale-restore");
    char bootstrap[256], rules[600], rfile[700], set_rules[700];
    pid_t broker = vg_ap_start_broker(s.dir, bootstrap, sizeof(bootstrap));
    snprintf(rules, sizeof(rules), "%s/rules", s.dir);
    assert_int_equal(vg_tp_sh("mkdir -p %s", rules), 0);
    snprintf(rfile, sizeof(rfile), "%s/scale.yaml", rules);
    assert_int_equal(vg_tp_write_atomic(rfile, rules_yaml), 0);
    snprintf(set_rules, sizeof(set_rules), "rules.dir=%s", rules);
    const char *sets[] = {set_rules, "detector.warmup=5", NULL};

    /* A: 500 deep against 50 per replica: 1 -> 10 at once. */
    struct vg_ap a;
    vg_ap_start(&a, s.dir, "a", bootstrap, sets);
    json_t *d = decision(&a);
    assert_int_equal(jint(d, "desired"), 1); /* nothing to read back on a new topic */
    json_decref(d);
    produce(s.dir, bootstrap, 0, 500);
    int64_t end = vg_tp_mono_ms() + 20000;
    for (d = decision(&a); jint(d, "desired") != 10 && vg_tp_mono_ms() < end; d = decision(&a)) {
        json_decref(d);
        vg_tp_pause_ms(50);
    }
    assert_int_equal(jint(d, "desired"), 10);
    int64_t changed_at = jint(d, "changed_at_ms");
    assert_int_equal(changed_at, T0);
    json_decref(d);
    d = decision_of(&a, "api");
    assert_int_equal(jint(d, "desired"), 10);
    json_decref(d);
    wait_metric(&a, "vigil_scale_published_total", 2);
    stop(&a);

    /* A record that is not a decision, after the valid ones. */
    char bad[700];
    snprintf(bad, sizeof(bad), "%s/bad.txt", s.dir);
    assert_int_equal(vg_tp_write_atomic(bad, "web|{\"target\":\"web\",\"desired\":\"many\"}\n"), 0);
    assert_int_equal(vg_tp_sh("kcat -P -b %s -t vigil.decisions -K '|' -l %s", bootstrap, bad), 0);

    /* B, before any message: the API is up only once the topic has been read back. */
    struct vg_ap b;
    vg_ap_start(&b, s.dir, "b", bootstrap, sets);
    d = decision(&b);
    assert_int_equal(jint(d, "desired"), 10);
    assert_int_equal(jint(d, "current"), 10);
    assert_non_null(strstr(json_string_value(json_object_get(d, "reason")), "restored"));
    assert_int_equal(jint(d, "changed_at_ms"), changed_at);
    json_decref(d);
    assert_int_equal((int)vg_ap_metric(&b, "vigil_scale_restored_total"), 2);
    assert_int_equal((int)vg_ap_metric(&b, "vigil_scale_restore_refused_total"), 1);
    char *log = vg_tp_read(b.log);
    assert_non_null(strstr(log, "msg=\"scaling decision record refused\""));
    assert_non_null(strstr(log, "\\\"desired\\\" is not a replica count"));
    assert_non_null(strstr(log, "msg=\"scaling decision restored\" target=web current=10"));
    free(log);

    /* The load falls to a tenth: the recommendation is 1, but A's change was seconds ago in
     * event time, so the restored cooldown holds web at 10, and the restored window api. */
    produce(s.dir, bootstrap, 2, 5);
    wait_held(&b, "web", 10, "held by the cooldown");
    wait_held(&b, "api", 10, "scale-in held by the stabilisation window");
    stop(&b);
    kill(broker, SIGTERM);
    waitpid(broker, NULL, 0);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The read-back keeps each target's last record of its partition, not the one with the largest
 * time, and caps restored times at the wall clock + 5 s as it does the decisions it follows
 * live. web: a decision stamped an hour ahead (an analyzer whose clock ran fast), then a later
 * one at the right time: the later one is restored. It once kept 10, served it until the first
 * evaluation, and carried a change an hour in the future that turned the cooldown off. api:
 * only a record an hour ahead: its count is restored, its times capped, counted and logged. */
static void restore_takes_the_latest_record_and_caps_its_times(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "scale-restore-order");
    char bootstrap[256], rules[600], rfile[700], set_rules[700];
    pid_t broker = vg_ap_start_broker(s.dir, bootstrap, sizeof(bootstrap));
    snprintf(rules, sizeof(rules), "%s/rules", s.dir);
    assert_int_equal(vg_tp_sh("mkdir -p %s", rules), 0);
    snprintf(rfile, sizeof(rfile), "%s/scale.yaml", rules);
    assert_int_equal(vg_tp_write_atomic(rfile, rules_yaml), 0);
    snprintf(set_rules, sizeof(set_rules), "rules.dir=%s", rules);
    const char *sets[] = {set_rules, "detector.warmup=5", NULL};

    int64_t now = wall_ms(), ahead = now + 3600 * 1000;
    char recs[1024], path[700];
    snprintf(recs, sizeof(recs),
             "web|{\"target\":\"web\",\"desired\":10,\"time_ms\":%lld,"
             "\"changed_at_ms\":%lld}\n"
             "web|{\"target\":\"web\",\"desired\":3,\"time_ms\":%lld,"
             "\"changed_at_ms\":%lld}\n"
             "api|{\"target\":\"api\",\"desired\":7,\"time_ms\":%lld,"
             "\"changed_at_ms\":%lld}\n",
             (long long)ahead, (long long)ahead, (long long)now, (long long)now, (long long)ahead,
             (long long)ahead);
    snprintf(path, sizeof(path), "%s/decisions.txt", s.dir);
    assert_int_equal(vg_tp_write_atomic(path, recs), 0);
    assert_int_equal(vg_tp_sh("kcat -P -b %s -t vigil.decisions -K '|' -l %s", bootstrap, path), 0);

    struct vg_ap a;
    vg_ap_start(&a, s.dir, "a", bootstrap, sets);
    json_t *d = decision(&a);
    assert_int_equal(jint(d, "desired"), 3);
    assert_int_equal(jint(d, "changed_at_ms"), now);
    json_decref(d);
    d = decision_of(&a, "api");
    assert_int_equal(jint(d, "desired"), 7);
    int64_t changed = jint(d, "changed_at_ms");
    if (changed > wall_ms() + 5000)
        fail_msg("api: changed_at_ms %lld is more than 5 s ahead of the wall clock",
                 (long long)changed);
    json_decref(d);
    assert_int_equal((int)vg_ap_metric(&a, "vigil_scale_restored_total"), 2);
    assert_int_equal((int)vg_ap_metric(&a, "vigil_scale_times_capped_total"), 2);
    char *log = vg_tp_read(a.log);
    assert_non_null(strstr(log, "msg=\"scaling decision restored\" target=web current=3"));
    assert_non_null(strstr(log, "what=\"restored decision change\""));
    free(log);
    stop(&a);
    kill(broker, SIGTERM);
    waitpid(broker, NULL, 0);
}

/* The restarted analyzer's first messages are older than the restored change (another host's
 * clock a minute behind h1's here; a replay from the committed offsets gives the same): event
 * time minus the last change was negative and the cooldown was skipped, so B scaled 10 -> 20 at
 * once on a load ten times higher. (Scale-in was held anyway: the restored count sits in the
 * stabilisation window at a time still ahead.) The cooldown holds, and B counts and logs the
 * clock behind. */
static void restored_cooldown_holds_while_event_time_is_behind_the_last_change(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "scale-behind");
    char bootstrap[256], rules[600], rfile[700], set_rules[700];
    pid_t broker = vg_ap_start_broker(s.dir, bootstrap, sizeof(bootstrap));
    snprintf(rules, sizeof(rules), "%s/rules", s.dir);
    assert_int_equal(vg_tp_sh("mkdir -p %s", rules), 0);
    snprintf(rfile, sizeof(rfile), "%s/scale.yaml", rules);
    assert_int_equal(vg_tp_write_atomic(rfile, rules_yaml), 0);
    snprintf(set_rules, sizeof(set_rules), "rules.dir=%s", rules);
    /* No state topic: B knows nothing of h1, only the decision. */
    const char *sets[] = {set_rules, "detector.warmup=5", "state.topic=", NULL};

    struct vg_ap a;
    vg_ap_start(&a, s.dir, "a", bootstrap, sets);
    produce(s.dir, bootstrap, 60, 500); /* event time T0 + 60 s: 1 -> 10 */
    int64_t end = vg_tp_mono_ms() + 20000;
    json_t *d;
    for (d = decision(&a); jint(d, "desired") != 10 && vg_tp_mono_ms() < end; d = decision(&a)) {
        json_decref(d);
        vg_tp_pause_ms(50);
    }
    assert_int_equal(jint(d, "desired"), 10);
    assert_int_equal(jint(d, "changed_at_ms"), T0 + 60000);
    json_decref(d);
    wait_metric(&a, "vigil_scale_published_total", 2);
    stop(&a);

    struct vg_ap b;
    vg_ap_start(&b, s.dir, "b", bootstrap, sets);
    assert_int_equal((int)vg_ap_metric(&b, "vigil_scale_restored_total"), 2);
    produce_host(s.dir, bootstrap, "h2", 1, 5000); /* event time T0 + 1 s: 59 s behind */
    wait_held(&b, "web", 10,
              "20 held by the cooldown (event time 59000 ms behind the last change)");
    wait_metric(&b, "vigil_scale_clock_behind_total", 1);
    vg_ap_expect_log(&b, "msg=\"scaling: event time behind the target's last change: held by "
                         "the cooldown");
    stop(&b);
    kill(broker, SIGTERM);
    waitpid(broker, NULL, 0);
}

/* A restored change up to 5 s ahead of this analyzer's clock (the previous decider's clock a
 * little fast: within the tolerance, so not capped) lies ahead of the event clock, which is
 * capped at the wall clock. The cooldown once held only from the change on (now >= changed), and
 * the cap stopped only times more than 5 s ahead: in the gap between the event clock and a
 * restored change up to 5 s ahead, the first evaluation after a restart scaled at once. The
 * change is restored as is, and the cooldown holds through that gap. */
static void restored_change_up_to_5_s_ahead_is_kept_and_holds_the_cooldown(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "scale-ahead");
    char bootstrap[256], rules[600], rfile[700], set_rules[700];
    pid_t broker = vg_ap_start_broker(s.dir, bootstrap, sizeof(bootstrap));
    snprintf(rules, sizeof(rules), "%s/rules", s.dir);
    assert_int_equal(vg_tp_sh("mkdir -p %s", rules), 0);
    snprintf(rfile, sizeof(rfile), "%s/scale.yaml", rules);
    assert_int_equal(vg_tp_write_atomic(rfile, rules_yaml), 0);
    snprintf(set_rules, sizeof(set_rules), "rules.dir=%s", rules);
    const char *sets[] = {set_rules, "detector.warmup=5", "state.topic=", NULL};

    int64_t changed = wall_ms() + 4000;
    char recs[512], path[700];
    snprintf(recs, sizeof(recs),
             "web|{\"target\":\"web\",\"desired\":10,\"time_ms\":%lld,"
             "\"changed_at_ms\":%lld}\n",
             (long long)changed, (long long)changed);
    snprintf(path, sizeof(path), "%s/decisions.txt", s.dir);
    assert_int_equal(vg_tp_write_atomic(path, recs), 0);
    assert_int_equal(vg_tp_sh("kcat -P -b %s -t vigil.decisions -K '|' -l %s", bootstrap, path), 0);

    struct vg_ap b;
    vg_ap_start(&b, s.dir, "b", bootstrap, sets);
    json_t *d = decision(&b);
    assert_int_equal(jint(d, "desired"), 10);
    assert_int_equal(jint(d, "changed_at_ms"), changed); /* within the tolerance: kept */
    json_decref(d);
    assert_int_equal((int)vg_ap_metric(&b, "vigil_scale_times_capped_total"), 0);
    /* A message stamped a second before the change: ten times the load. The event clock is at
     * most the wall clock, still behind the change. */
    char msg[512];
    snprintf(path, sizeof(path), "%s/in-ahead.txt", s.dir);
    snprintf(msg, sizeof(msg),
             "h1|{\"v\":1,\"host\":\"h1\",\"boot\":\"b\",\"seq\":1,\"ts\":%lld,"
             "\"interval_ms\":1000,\"metrics\":{\"q.depth\":5000}}\n",
             (long long)(changed - 1000));
    assert_int_equal(vg_tp_write_atomic(path, msg), 0);
    assert_int_equal(vg_ap_produce(bootstrap, path), 0);
    wait_held(&b, "web", 10, "20 held by the cooldown");
    wait_metric(&b, "vigil_scale_clock_behind_total", 1);
    stop(&b);
    kill(broker, SIGTERM);
    waitpid(broker, NULL, 0);
}

/* A read-back cut short by decisions.restore_timeout restores nothing it did not read to the end
 * of its partition. The topic holds 300 decisions of web, one per batch (the mock broker answers
 * a fetch with one batch), every one of them stale except the last (20); the broker answers each
 * request 50 ms late, so the 1 s restore reads a few of them at most. The analyzer once restored
 * the latest record read so far (a stale 2..18), served it to the autoscaler as `desired` and
 * logged that the targets start from `initial`. web now serves `initial` (1), the log names the
 * targets that start from it, and they are counted. With the time to read the topic whole, a
 * restart restores the real latest, 20. */
static void partial_read_back_restores_no_target_from_a_record_read_so_far(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "scale-restore-partial");
    char bootstrap[256], rules[600], rfile[700], set_rules[700];
    pid_t broker = vg_ap_start_broker_ctl(s.dir, 1, bootstrap, sizeof(bootstrap));
    snprintf(rules, sizeof(rules), "%s/rules", s.dir);
    assert_int_equal(vg_tp_sh("mkdir -p %s", rules), 0);
    snprintf(rfile, sizeof(rfile), "%s/scale.yaml", rules);
    assert_int_equal(vg_tp_write_atomic(rfile, rules_yaml), 0);
    snprintf(set_rules, sizeof(set_rules), "rules.dir=%s", rules);

    enum { N = 300 };
    int64_t now = wall_ms();
    char path[700];
    snprintf(path, sizeof(path), "%s/decisions.txt", s.dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < N; i++) {
        int64_t t = now - (int64_t)(N - i) * 60000;
        fprintf(f,
                "web|{\"target\":\"web\",\"desired\":%d,\"time_ms\":%lld,\"changed_at_ms\":%lld}\n",
                i == N - 1 ? 20 : 2 + i % 17, (long long)t, (long long)t);
    }
    assert_int_equal(fclose(f), 0);
    assert_int_equal(vg_tp_sh("kcat -P -b %s -t vigil.decisions -K '|' -X batch.num.messages=1 "
                              "-X linger.ms=0 -l %s",
                              bootstrap, path),
                     0);

    vg_ap_broker_control(s.dir, "rtt 1 50");
    const char *short_sets[] = {set_rules,
                                "detector.warmup=5",
                                "state.topic=",
                                "decisions.partials_topic=",
                                "decisions.restore_timeout=1s",
                                NULL};
    struct vg_ap a;
    vg_ap_start(&a, s.dir, "a", bootstrap, short_sets);
    json_t *d = decision(&a);
    if (jint(d, "desired") != 1) {
        char *log = vg_tp_read(a.log);
        fail_msg("web serves desired %lld after a partial read-back, want `initial` (1):\n%s",
                 (long long)jint(d, "desired"), log);
    }
    json_decref(d);
    assert_int_equal((int)vg_ap_metric(&a, "vigil_scale_restored_total"), 0);
    assert_int_equal((int)vg_ap_metric(&a, "vigil_scale_restore_incomplete_total"), 2);
    vg_ap_expect_log(&a, "msg=\"scaling decisions not all restored: targets not read whole "
                         "start from `initial`\"");
    vg_ap_expect_log(&a, "0 target(s) restored, 2 start from `initial`: web, api");
    stop(&a);

    vg_ap_broker_control(s.dir, "rtt 1 0");
    const char *sets[] = {set_rules, "detector.warmup=5",
                          "state.topic=", "decisions.partials_topic=", NULL};
    struct vg_ap b;
    vg_ap_start(&b, s.dir, "b", bootstrap, sets);
    d = decision(&b);
    assert_int_equal(jint(d, "desired"), 20);
    json_decref(d);
    assert_int_equal((int)vg_ap_metric(&b, "vigil_scale_restored_total"), 1);
    assert_int_equal((int)vg_ap_metric(&b, "vigil_scale_restore_incomplete_total"), 0);
    stop(&b);
    kill(broker, SIGTERM);
    waitpid(broker, NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(restarted_analyzer_continues_from_its_last_decision_and_its_cooldown),
        cmocka_unit_test(restore_takes_the_latest_record_and_caps_its_times),
        cmocka_unit_test(restored_cooldown_holds_while_event_time_is_behind_the_last_change),
        cmocka_unit_test(restored_change_up_to_5_s_ahead_is_kept_and_holds_the_cooldown),
        cmocka_unit_test(partial_read_back_restores_no_target_from_a_record_read_so_far),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
