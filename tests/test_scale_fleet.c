/* Scaling decisions over the whole fleet when several analyzers share it (docs/scaling-actions.md,
 * "Several analyzers"): each analyzer measures the hosts of its own partitions and publishes that
 * partial measurement to vigil.scale.partials; one analyzer per target (the owner of the metrics
 * partition the target hashes to) merges them and decides; every analyzer follows
 * vigil.decisions and serves that decision.
 *
 * One vigil-test-mockbroker, vigil.metrics with 4 partitions, 8 hosts (host h on partition h % 4,
 * q.depth 10 * (h + 1), wall-clock timestamps), two analyzers in one group with the same
 * policies:
 *   - `step` scales out while q.depth > 75, which holds on so-7 only: measured by one analyzer,
 *     the other would scale in;
 *   - `avg` tracks the average q.depth (45 over the fleet, another value over any two
 *     partitions) against 45: within its tolerance only over every host (its count may have
 *     gone up while a partial was missing, never down).
 * Both analyzers must serve hosts = 8, the fleet's average and the same count; the decisions
 * topic must carry one decider's stream per target; after one analyzer stops, the survivor
 * decides over all 8 hosts, never more (the stopped one's last partials cover partitions the
 * survivor now measures itself). */
#include <jansson.h>
#include <librdkafka/rdkafka.h>
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
#include "vg_scalefleet.h"
#include "vg_stack.h"
#include "vg_testhttp.h"
#include "vg_testproc.h"

#define HOSTS VG_SF_HOSTS
#define PARTS VG_SF_PARTS

static const char *rules_yaml = "scaling:\n" VG_SF_STEP_RULE
                                /* and `avg`, the average q.depth against 45 */
                                "  - target: avg\n"
                                "    metric: value(\"q.depth\")\n"
                                "    target_value: 45\n"
                                "    tolerance: 0.05\n"
                                "    min: 1\n"
                                "    max: 20\n"
                                "    initial: 3\n"
                                "    interval: 1s\n"
                                "    cooldown: 0s\n"
                                "    scale_in_stabilization: 0s\n";

static const char *const targets[] = {"step", "avg"};
static const int want_desired[] = {4, 3};

/* ---- reading the analyzers and the decisions topic ---- */

static json_t *decision(const struct vg_ap *a, const char *target)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/scale/%s", target);
    return vg_th_get_json(a->port, path);
}

static int64_t jint(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* 1 when d is a fleet-wide decision for target ti: every host, the fleet's average, the count
 * the fleet's measurement leads to. */
static int fleet_wide(json_t *d, int ti)
{
    if (jint(d, "hosts") != HOSTS)
        return 0;
    if (ti != 1)
        return jint(d, "desired") == want_desired[ti];
    /* `avg` may have been scaled out while a partial was missing (an incomplete measurement
     * may scale out, never in): over the two partitions of one analyzer the average is above
     * 45. Within the tolerance from then on, it keeps that count. */
    return jint(d, "desired") >= want_desired[ti] &&
           json_number_value(json_object_get(d, "metric")) == 45.0;
}

/* Waits until every analyzer of aps serves a fleet-wide decision of every target, all from the
 * same decider; returns nothing, fails with what they served otherwise. */
static void wait_fleet_wide(const struct vg_ap *const *aps, int n)
{
    for (int ti = 0; ti < 2; ti++) {
        int64_t end = vg_tp_mono_ms() + 30000;
        char last[2048] = "";
        for (;;) {
            int ok = 1;
            char by[128] = "";
            last[0] = '\0';
            for (int i = 0; i < n; i++) {
                json_t *d = decision(aps[i], targets[ti]);
                char *s = json_dumps(d, JSON_COMPACT);
                size_t l = strlen(last);
                snprintf(last + l, sizeof(last) - l, "\n  %s: %s", aps[i]->log, s ? s : "?");
                free(s);
                const char *who = json_string_value(json_object_get(d, "decided_by"));
                if (!fleet_wide(d, ti) || !who || (by[0] && strcmp(by, who) != 0))
                    ok = 0;
                else
                    snprintf(by, sizeof(by), "%s", who);
                json_decref(d);
            }
            if (ok)
                break;
            if (vg_tp_mono_ms() >= end)
                fail_msg("target %s: not one fleet-wide decision (want hosts=%d desired=%d):%s",
                         targets[ti], HOSTS, want_desired[ti], last);
            vg_tp_pause_ms(100);
        }
    }
}

/* Every record of vigil.decisions, in order, as a JSON array (a new reference). */
static json_t *read_decisions(const char *dir, const char *bootstrap)
{
    char out[700];
    snprintf(out, sizeof(out), "%s/decisions.txt", dir);
    assert_int_equal(
        vg_tp_sh("kcat -C -q -e -b %s -t vigil.decisions -o beginning -f '%%s\\n' > %s 2>/dev/null",
                 bootstrap, out),
        0);
    char *text = vg_tp_read(out);
    json_t *all = json_array();
    for (char *line = text; line && *line;) {
        char *eol = strchr(line, '\n');
        if (eol)
            *eol = '\0';
        json_t *o = json_loads(line, 0, NULL);
        if (o)
            json_array_append_new(all, o);
        line = eol ? eol + 1 : NULL;
    }
    free(text);
    return all;
}

/* The last `tail` decisions of each target on the topic come from one decider (returned in by)
 * and are fleet-wide; no record of the whole topic counts more than the fleet's hosts. */
static void check_topic(const char *dir, const char *bootstrap, int tail, char *by, size_t bylen)
{
    json_t *all = read_decisions(dir, bootstrap);
    for (int ti = 0; ti < 2; ti++) {
        size_t n = json_array_size(all), seen = 0;
        const char *who = NULL;
        for (size_t i = n; i-- > 0;) {
            json_t *d = json_array_get(all, i);
            const char *target = json_string_value(json_object_get(d, "target"));
            if (!target || strcmp(target, targets[ti]) != 0)
                continue;
            if (jint(d, "hosts") > HOSTS) {
                char *s = json_dumps(d, JSON_COMPACT);
                fail_msg("decision counts hosts twice: %s", s);
            }
            if (seen >= (size_t)tail)
                continue;
            seen++;
            const char *w = json_string_value(json_object_get(d, "decided_by"));
            if (!fleet_wide(d, ti) || !w || (who && strcmp(who, w) != 0)) {
                char *s = json_dumps(d, JSON_COMPACT);
                fail_msg("target %s: decision %zu from the end is not the one decider's "
                         "fleet-wide one: %s",
                         targets[ti], seen, s);
            }
            who = w;
        }
        assert_int_equal(seen, tail);
        if (ti == 0)
            snprintf(by, bylen, "%s", who);
    }
    json_decref(all);
}

/* The member id a logs at start. */
static void member_of(const struct vg_ap *a, char *out, size_t len)
{
    vg_ap_expect_log(a, "msg=\"scaling decisions fleet-wide\"");
    vg_sf_member_of(a, out, len);
}

/* For two analyzers in one group: the mock coordinator holds a rebalance open for the session
 * timeout less a second, so 3 s (6 heartbeats) instead of the 6 s vg_ap_start sets makes each
 * join and leave of the second one seconds shorter. */
#define SESSION_TIMEOUT_SET "kafka.session.timeout.ms=3000"

/* With no broker at the start, a state topic is checked for 5 s before the analyzer starts, and
 * before its exchange retries: these analyzers need none. */
#define NO_STATE_TOPIC_SET "state.topic="

struct setup {
    struct vg_stack s;
    pid_t broker;
    char bootstrap[256];
    struct vg_sf_fleet fleet;
    struct vg_ap a, b;
};

/* Broker, fleet, and A and B with two partitions each, each holding hosts. */
static void start_two(struct setup *t, const char *tag)
{
    vg_stack_init(&t->s, tag);
    t->broker = vg_ap_start_broker(t->s.dir, t->bootstrap, sizeof(t->bootstrap));
    static char set_rules[700];
    vg_sf_write_rules(t->s.dir, rules_yaml, set_rules, sizeof(set_rules));
    const char *sets[] = {set_rules, SESSION_TIMEOUT_SET, NULL};
    vg_sf_fleet_start(&t->fleet, t->bootstrap, "sf");
    vg_ap_start(&t->a, t->s.dir, "a", t->bootstrap, sets);
    vg_ap_wait_metric(&t->a, "vigil_partitions_assigned", PARTS, 30000);
    vg_ap_start(&t->b, t->s.dir, "b", t->bootstrap, sets);
    vg_ap_wait_metric(&t->b, "vigil_partitions_assigned", PARTS / 2, 40000);
    vg_ap_wait_metric(&t->a, "vigil_partitions_assigned", PARTS / 2, 40000);
    /* Each measures hosts of its own. */
    int64_t end = vg_tp_mono_ms() + 20000;
    while ((vg_ap_metric(&t->a, "vigil_hosts") != HOSTS / 2 ||
            vg_ap_metric(&t->b, "vigil_hosts") != HOSTS / 2) &&
           vg_tp_mono_ms() < end)
        vg_tp_pause_ms(50);
    assert_int_equal((int)vg_ap_metric(&t->a, "vigil_hosts"), HOSTS / 2);
    assert_int_equal((int)vg_ap_metric(&t->b, "vigil_hosts"), HOSTS / 2);
}

static void finish(struct setup *t, struct vg_ap *left)
{
    vg_sf_fleet_stop(&t->fleet);
    int st = vg_tp_stop(left->pid, SIGTERM, 20000);
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(vg_stack_stop(&t->s), 0);
    vg_tp_stop(t->broker, SIGTERM, 10000);
}

/* Waits until the analyzer's evaluations counter moved by n. */
static void wait_evaluations(const struct vg_ap *a, int n)
{
    double e0 = vg_ap_metric(a, "vigil_scale_evaluations_total"), v;
    int64_t end = vg_tp_mono_ms() + 30000;
    while ((v = vg_ap_metric(a, "vigil_scale_evaluations_total")) < e0 + n && vg_tp_mono_ms() < end)
        vg_tp_pause_ms(50);
    if (v < e0 + n)
        fail_msg("%s: %g evaluations in 30 s, expected %d", a->log, v - e0, n);
}

static void two_analyzers_serve_one_fleet_wide_decision(void **state)
{
    (void)state;
    struct setup t;
    start_two(&t, "scale-fleet");
    const struct vg_ap *both[] = {&t.a, &t.b};
    wait_fleet_wide(both, 2);

    /* Records on the exchange's topics that are no partial (not JSON, a key that is not the
     * target, fields missing) or no decision are refused, logged and counted by both. */
    char bad[700];
    snprintf(bad, sizeof(bad), "%s/bad-partials.txt", t.s.dir);
    assert_int_equal(vg_tp_write_atomic(bad, "step|not json\n"
                                             "step|{\"target\":\"avg\",\"member\":\"x\"}\n"
                                             "avg|{\"target\":\"avg\",\"member\":\"x\","
                                             "\"time_ms\":1,\"sum\":1}\n"),
                     0);
    assert_int_equal(
        vg_tp_sh("kcat -P -b %s -t vigil.scale.partials -K '|' -l %s", t.bootstrap, bad), 0);
    snprintf(bad, sizeof(bad), "%s/bad-decision.txt", t.s.dir);
    assert_int_equal(vg_tp_write_atomic(bad, "step|{\"target\":\"step\",\"desired\":\"many\"}\n"),
                     0);
    assert_int_equal(vg_tp_sh("kcat -P -b %s -t vigil.decisions -K '|' -l %s", t.bootstrap, bad),
                     0);
    for (int i = 0; i < 2; i++) {
        vg_ap_wait_metric(both[i], "vigil_scale_partials_refused_total", 3, 20000);
        vg_ap_wait_metric(both[i], "vigil_scale_follow_refused_total", 1, 20000);
        vg_ap_expect_log(both[i], "msg=\"scaling partial refused\" topic=vigil.scale.partials "
                                  "topic_partition=0");
        vg_ap_expect_log(both[i], "key is not the record's target");
    }

    /* One decider: it evaluates, the other only follows; the topic's latest records are its. */
    char ma[128], mb[128], by[128];
    member_of(&t.a, ma, sizeof(ma));
    member_of(&t.b, mb, sizeof(mb));
    json_t *d = decision(&t.a, "step");
    const char *decider = json_string_value(json_object_get(d, "decided_by"));
    assert_true(strcmp(decider, ma) == 0 || strcmp(decider, mb) == 0);
    const struct vg_ap *dec = strcmp(decider, ma) == 0 ? &t.a : &t.b;
    const struct vg_ap *fol = dec == &t.a ? &t.b : &t.a;
    json_decref(d);
    double fol_evals = vg_ap_metric(fol, "vigil_scale_evaluations_total");
    wait_evaluations(dec, 2 * 4); /* two targets, 4 intervals */
    fprintf(stderr, "decider %s; the follower evaluated %g times meanwhile\n", dec->log,
            vg_ap_metric(fol, "vigil_scale_evaluations_total") - fol_evals);
    check_topic(t.s.dir, t.bootstrap, 4, by, sizeof(by));
    wait_fleet_wide(both, 2);
    assert_true(vg_ap_metric(fol, "vigil_scale_decisions_followed_total") > 0);
    assert_true(vg_ap_metric(dec, "vigil_scale_partials_received_total") > 0);
    assert_int_equal((int)vg_ap_metric(&t.a, "vigil_scale_local_only"), 0);
    assert_int_equal((int)vg_ap_metric(&t.b, "vigil_scale_local_only"), 0);

    /* A's partitions go to B: B decides alone, over every host and not more, although A's last
     * partials (whose partitions B now measures itself) have not expired yet. */
    int st = vg_tp_stop(t.a.pid, SIGTERM, 20000);
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    vg_ap_wait_metric(&t.b, "vigil_partitions_assigned", PARTS, 40000);
    const struct vg_ap *only_b[] = {&t.b};
    wait_evaluations(&t.b, 2 * 3);
    wait_fleet_wide(only_b, 1);
    check_topic(t.s.dir, t.bootstrap, 3, by, sizeof(by));
    assert_string_equal(by, mb);
    finish(&t, &t.b);
}

/* An exchange that cannot be joined at start (here: no broker answers) does not stop the
 * analyzer: it says so, counts it, and goes on deciding from its own hosts, as before the
 * exchange. (The mock cluster creates any topic asked for, so a missing topic cannot be shown
 * with it; the path is the same.) */
static void an_analyzer_that_cannot_join_the_exchange_starts_local_only(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "scale-fleet-local");
    char set_rules[700];
    vg_sf_write_rules(s.dir, rules_yaml, set_rules, sizeof(set_rules));
    const char *sets[] = {set_rules, "decisions.restore_timeout=1s", NO_STATE_TOPIC_SET, NULL};
    struct vg_ap a;
    vg_ap_start(&a, s.dir, "a", "127.0.0.1:1", sets);
    vg_ap_expect_log(&a, "msg=\"scaling decisions local-only: each analyzer decides from its own "
                         "hosts\"");
    assert_int_equal((int)vg_ap_metric(&a, "vigil_scale_local_only"), 1);
    assert_int_equal((int)vg_ap_metric(&a, "vigil_scale_partials_errors_total"), 1);
    json_t *d = decision(&a, "step");
    assert_int_equal(jint(d, "desired"), 2);
    assert_false(json_is_true(json_object_get(d, "fleet")));
    json_decref(d);
    int st = vg_tp_stop(a.pid, SIGTERM, 20000);
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(vg_stack_stop(&s), 0);
}

/* An analyzer that could not join the exchange at start (every broker down) retries while
 * local-only, and once the broker is back joins without a restart: its decisions become
 * fleet-wide. The retries are shortened with decisions.rejoin_backoff_*. */
static void a_local_only_analyzer_rejoins_the_exchange_when_the_broker_is_back(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "scale-fleet-rejoin");
    char bootstrap[256];
    pid_t broker = vg_ap_start_broker_ctl(s.dir, 1, bootstrap, sizeof(bootstrap));
    vg_ap_broker_control(s.dir, "down");
    char set_rules[700];
    vg_sf_write_rules(s.dir, rules_yaml, set_rules, sizeof(set_rules));
    const char *sets[] = {set_rules,
                          "decisions.restore_timeout=1s",
                          "decisions.rejoin_backoff_initial=200ms",
                          "decisions.rejoin_backoff_max=1s",
                          NO_STATE_TOPIC_SET,
                          NULL};
    struct vg_ap a;
    vg_ap_start(&a, s.dir, "a", bootstrap, sets);
    vg_ap_expect_log(&a, "msg=\"scaling decisions local-only: each analyzer decides from its own "
                         "hosts\"");
    assert_int_equal((int)vg_ap_metric(&a, "vigil_scale_local_only"), 1);
    json_t *d = decision(&a, "step");
    assert_false(json_is_true(json_object_get(d, "fleet")));
    json_decref(d);

    /* Retried while the broker is down: each failure logged and counted. */
    int64_t end = vg_tp_mono_ms() + 30000;
    while (vg_ap_metric(&a, "vigil_scale_exchange_join_retries_total") < 2 && vg_tp_mono_ms() < end)
        vg_tp_pause_ms(50);
    assert_true(vg_ap_metric(&a, "vigil_scale_exchange_join_retries_total") >= 2);
    assert_true(vg_ap_metric(&a, "vigil_scale_partials_errors_total") >= 3);
    vg_ap_expect_log(&a, "msg=\"scaling exchange not joined: still local-only, retrying\" "
                         "retries=1 ");
    assert_int_equal((int)vg_ap_metric(&a, "vigil_scale_local_only"), 1);

    /* The broker is back: the next retry joins, and the decisions become fleet-wide. */
    vg_ap_broker_control(s.dir, "up");
    struct vg_sf_fleet fleet;
    vg_sf_fleet_start(&fleet, bootstrap, "sf");
    assert_int_equal(vg_tp_wait_contains(a.log, "msg=\"scaling decisions fleet-wide\"", 30000), 0);
    vg_ap_expect_log(&a, " rejoined_after_retries=");
    vg_ap_wait_metric(&a, "vigil_scale_local_only", 0, 10000);
    vg_ap_wait_metric(&a, "vigil_partitions_assigned", PARTS, 30000);
    /* Its own decisions now, as decider of every target (it owns every partition), over every
     * host. (`avg`'s count depends on what the first measurements saw while the hosts' data
     * came in, so only `step`'s is checked.) */
    char ma[128];
    member_of(&a, ma, sizeof(ma));
    for (int ti = 0; ti < 2; ti++) {
        end = vg_tp_mono_ms() + 30000;
        char *txt = NULL;
        for (;;) {
            d = decision(&a, targets[ti]);
            const char *by = json_string_value(json_object_get(d, "decided_by"));
            int ok = json_is_true(json_object_get(d, "fleet")) && by && strcmp(by, ma) == 0 &&
                     jint(d, "hosts") == HOSTS && (ti != 0 || fleet_wide(d, ti));
            free(txt);
            txt = json_dumps(d, JSON_COMPACT);
            json_decref(d);
            if (ok)
                break;
            if (vg_tp_mono_ms() >= end)
                fail_msg("target %s: no fleet-wide decision of %s over %d hosts: %s", targets[ti],
                         ma, HOSTS, txt);
            vg_tp_pause_ms(100);
        }
        free(txt);
    }
    /* On the topic too, and once fleet-wide never local again: one decision stream per target,
     * not a local one alongside. */
    wait_evaluations(&a, 2 * 2);
    json_t *all = read_decisions(s.dir, bootstrap);
    for (int ti = 0; ti < 2; ti++) {
        size_t i, fleet_records = 0;
        json_t *r;
        json_array_foreach(all, i, r)
        {
            if (strcmp(json_string_value(json_object_get(r, "target")), targets[ti]) != 0)
                continue;
            if (json_is_true(json_object_get(r, "fleet")))
                fleet_records++;
            else if (fleet_records) {
                char *txt = json_dumps(r, JSON_COMPACT);
                fail_msg("a local decision after a fleet-wide one: %s", txt);
            }
        }
        assert_true(fleet_records >= 2);
    }
    json_decref(all);
    vg_sf_fleet_stop(&fleet);
    int st = vg_tp_stop(a.pid, SIGTERM, 20000);
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(vg_stack_stop(&s), 0);
    vg_tp_stop(broker, SIGTERM, 10000);
}

/* ---- an analyzer that cannot join the exchange ---- */

/* Four step targets whose decider partitions (FNV-1a mod 4) are 2, 1, 0 and 3: whichever two
 * partitions A owns, it decides some of them. `when` holds on so-7 (partition 3) only. */
static const char *const quad[] = {"s0", "s1", "s2", "s3"};

static void write_quad_rules(const char *dir, char *set_rules, size_t len)
{
    char yaml[2048] = "scaling:\n";
    for (int i = 0; i < 4; i++) {
        size_t l = strlen(yaml);
        snprintf(yaml + l, sizeof(yaml) - l,
                 "  - target: %s\n"
                 "    when: value(\"q.depth\") > 75\n"
                 "    min: 1\n"
                 "    max: 4\n"
                 "    initial: 2\n"
                 "    interval: 1s\n"
                 "    cooldown: 0s\n"
                 "    scale_in_stabilization: 0s\n",
                 quad[i]);
    }
    vg_sf_write_rules(dir, yaml, set_rules, len);
}

/* A joins the exchange; B cannot (its decisions topic cannot be read; its retries are put off
 * past the test) and is local-only, with B's partials
 * going to partials_b. Each owns 2 partitions. Fills A's member id. */
static void start_joined_and_local(struct setup *t, const char *tag, const char *partials_b,
                                   char *ma, size_t malen)
{
    vg_stack_init(&t->s, tag);
    t->broker = vg_ap_start_broker_ctl(t->s.dir, 1, t->bootstrap, sizeof(t->bootstrap));
    /* The mock cluster creates any topic asked for: B's decisions topic is made unreadable
     * instead (UNKNOWN_TOPIC_OR_PART in metadata), which fails its join alike. */
    vg_ap_broker_control(t->s.dir, "topic-error vigil.decisions.b 3");
    static char set_rules[700], set_partials[300];
    write_quad_rules(t->s.dir, set_rules, sizeof(set_rules));
    snprintf(set_partials, sizeof(set_partials), "decisions.partials_topic=%s", partials_b);
    const char *sets_a[] = {set_rules, SESSION_TIMEOUT_SET, NULL};
    const char *sets_b[] = {set_rules,
                            SESSION_TIMEOUT_SET,
                            set_partials,
                            "decisions.topic=vigil.decisions.b",
                            "decisions.restore_timeout=1s",
                            "decisions.rejoin_backoff_initial=10m",
                            "decisions.rejoin_backoff_max=10m",
                            NULL};
    vg_sf_fleet_start(&t->fleet, t->bootstrap, "sf");
    vg_ap_start(&t->a, t->s.dir, "a", t->bootstrap, sets_a);
    vg_ap_wait_metric(&t->a, "vigil_partitions_assigned", PARTS, 30000);
    member_of(&t->a, ma, malen);
    vg_ap_start(&t->b, t->s.dir, "b", t->bootstrap, sets_b);
    vg_ap_expect_log(&t->b, "msg=\"scaling decisions local-only: each analyzer decides from its "
                            "own hosts\"");
    vg_ap_wait_metric(&t->b, "vigil_partitions_assigned", PARTS / 2, 40000);
    vg_ap_wait_metric(&t->a, "vigil_partitions_assigned", PARTS / 2, 40000);
    assert_int_equal((int)vg_ap_metric(&t->b, "vigil_scale_local_only"), 1);
}

/* Set by wait_a_decides before it checks A's decisions: whether A owns partition 3 (so-7), which
 * it does exactly when it decides s3. */
static int a_has_so7;

/* Waits until every target A decides (decided_by A, fleet-wide) satisfies ok; fails with what A
 * served otherwise. */
static void wait_a_decides(const struct vg_ap *a, const char *ma, int (*ok)(json_t *))
{
    int64_t end = vg_tp_mono_ms() + 30000;
    char last[2048];
    for (;;) {
        json_t *d[4];
        int mine = 0, good = 0;
        last[0] = '\0';
        for (int i = 0; i < 4; i++) {
            d[i] = decision(a, quad[i]);
            const char *by = json_string_value(json_object_get(d[i], "decided_by"));
            char *txt = json_dumps(d[i], JSON_COMPACT);
            size_t l = strlen(last);
            snprintf(last + l, sizeof(last) - l, "\n  %s", txt ? txt : "?");
            free(txt);
            if (!by || strcmp(by, ma) != 0 || !json_is_true(json_object_get(d[i], "fleet"))) {
                json_decref(d[i]);
                d[i] = NULL;
            } else {
                mine++;
            }
        }
        /* A's decisions from before B took two partitions stay served until someone decides
         * those targets again: only the ones of its latest evaluation count. */
        int64_t latest = 0;
        for (int i = 0; i < 4; i++)
            if (d[i] && jint(d[i], "time_ms") > latest)
                latest = jint(d[i], "time_ms");
        for (int i = 0; i < 4; i++)
            if (d[i] && jint(d[i], "time_ms") < latest - 2500) {
                json_decref(d[i]);
                d[i] = NULL;
                mine--;
            }
        a_has_so7 = d[3] != NULL;
        for (int i = 0; i < 4; i++) {
            good += d[i] && ok(d[i]);
            json_decref(d[i]);
        }
        /* A owns 2 of the 4 partitions, so it decides 2 of the 4 targets. */
        if (mine == 2 && good == mine)
            return;
        if (vg_tp_mono_ms() >= end)
            fail_msg("A's fleet-wide decisions not as expected:%s", last);
        vg_tp_pause_ms(100);
    }
}

static int over_every_host(json_t *d)
{
    /* so-7's `when` is true on the fleet: +1 an interval up to max. */
    return jint(d, "hosts") == HOSTS && jint(d, "desired") == 4;
}

/* One analyzer that cannot join still publishes its partials: the analyzers that did join
 * measure every partition and decide over every host, instead of holding every target. */
static void a_local_only_analyzer_still_publishes_its_partials(void **state)
{
    (void)state;
    struct setup t;
    char ma[128];
    start_joined_and_local(&t, "scale-fleet-local-partials", "vigil.scale.partials", ma,
                           sizeof(ma));
    wait_a_decides(&t.a, ma, over_every_host);
    assert_true(vg_ap_metric(&t.b, "vigil_scale_partials_published_total") > 0);
    int st = vg_tp_stop(t.b.pid, SIGTERM, 20000);
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    finish(&t, &t.a);
}

static int out_not_in(json_t *d)
{
    if (jint(d, "hosts") != HOSTS / 2)
        return 0;
    if (a_has_so7) /* `when` true on a measured host: true for the fleet, scaled out */
        return jint(d, "desired") == 4;
    const char *r = json_string_value(json_object_get(d, "reason"));
    /* `when` false on every measured host: scale-in held (the count A reached alone stays). */
    return jint(d, "desired") == jint(d, "current") && r &&
           strstr(r, "2 of 4 partitions measured") && strstr(r, "scale-in held");
}

/* Partials missing (B's go elsewhere): A measures 2 of 4 partitions and may scale out, never
 * in. */
static void an_incomplete_measurement_scales_out_not_in(void **state)
{
    (void)state;
    struct setup t;
    char ma[128];
    start_joined_and_local(&t, "scale-fleet-incomplete", "vigil.scale.partials.b", ma, sizeof(ma));
    wait_a_decides(&t.a, ma, out_not_in);
    int st = vg_tp_stop(t.b.pid, SIGTERM, 20000);
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    finish(&t, &t.a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_analyzers_serve_one_fleet_wide_decision),
        cmocka_unit_test(an_analyzer_that_cannot_join_the_exchange_starts_local_only),
        cmocka_unit_test(a_local_only_analyzer_rejoins_the_exchange_when_the_broker_is_back),
        cmocka_unit_test(a_local_only_analyzer_still_publishes_its_partials),
        cmocka_unit_test(an_incomplete_measurement_scales_out_not_in),
    };
    return vg_tp_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
