/* Joining the analyzers' scaling exchange against a cluster that is not as it should be
 * (docs/scaling-actions.md, "Several analyzers", failure behaviour), each with one real analyzer
 * around a vigil-test-mockbroker and its control FIFO; test_scale_fleet covers the exchange
 * itself.
 *
 * What librdkafka 2.0.2's mock cluster does, which these tests are built around:
 *   - it has no CreateTopics: the admin call times out waiting for a controller, so only the
 *     analyzer's path for a creation the cluster refuses can run here, not a creation;
 *   - a Metadata request naming a missing topic auto-creates it with 4 partitions, from any
 *     client (a consumer's allow.auto.create.topics=false does not stop it), while a request for
 *     all topics creates nothing: the tests look topics up with the latter;
 *   - Metadata requests take no injected errors or delays; a topic's error (topic-error) and a
 *     broker's round-trip time (rtt) are what can make a lookup fail.
 *
 * One vigil.metrics of 4 partitions, 8 hosts (host h on partition h % 4, q.depth 10 * (h + 1),
 * wall-clock timestamps), one analyzer, which owns every partition and so decides every
 * target; `step` scales out while q.depth > 75 (so-7 only), one step an interval up to 4. */
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

static const char *rules_yaml = "scaling:\n" VG_SF_STEP_RULE;

/* ---- the cluster, the analyzer ---- */

/* The topic's partition count on the cluster, 0 when it has no such topic. All topics are asked
 * for: a request naming the topic would have the mock cluster create it. */
static int cluster_partitions(const char *bootstrap, const char *topic)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[256];
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, e, sizeof(e)), 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
    assert_non_null(rk);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, 10000);
    int n = 0;
    for (int i = 0; !err && i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0)
            n = md->topics[i].err ? -1 : md->topics[i].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    if (err)
        fail_msg("metadata of the cluster: %s", rd_kafka_err2str(err));
    return n;
}

/* Waits until the metric is at least want. */
static void wait_metric_min(const struct vg_ap *a, const char *name, double want, int64_t ms)
{
    int64_t end = vg_tp_mono_ms() + ms;
    double v;
    while ((v = vg_ap_metric(a, name)) < want && vg_tp_mono_ms() < end)
        vg_tp_pause_ms(50);
    if (v < want)
        fail_msg("%s: %s is %g after %lld ms, expected %g at least", a->log, name, v, (long long)ms,
                 want);
}

/* Waits (30 s at most) until the log holds needle; fails with the log otherwise. */
static void wait_log(const struct vg_ap *a, const char *needle)
{
    if (vg_tp_wait_contains(a->log, needle, 30000) != 0) {
        char *t = vg_tp_read(a->log);
        fail_msg("%s lacks '%s' after 30 s:\n%s", a->log, needle, t ? t : "");
    }
}

/* How many times the log holds needle. */
static int log_count(const struct vg_ap *a, const char *needle)
{
    char *t = vg_tp_read(a->log);
    int n = 0;
    for (char *p = t; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(t);
    return n;
}

/* The first line of the log that holds needle (malloc'd), without its newline; fails the test
 * when there is none. */
static char *log_line(const struct vg_ap *a, const char *needle)
{
    wait_log(a, needle);
    char *t = vg_tp_read(a->log);
    char *p = strstr(t, needle);
    while (p > t && p[-1] != '\n')
        p--;
    size_t l = strcspn(p, "\n");
    char *line = strndup(p, l);
    free(t);
    assert_non_null(line);
    return line;
}

/* Fails unless line ends with tail. */
static void assert_ends_with(const char *line, const char *tail)
{
    size_t l = strlen(line), n = strlen(tail);
    if (l < n || strcmp(line + l - n, tail) != 0)
        fail_msg("'%s' does not end with '%s'", line, tail);
}

static int64_t jint(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* The member id a logs when it joins the exchange. */
static void member_of(const struct vg_ap *a, char *out, size_t len)
{
    wait_log(a, "msg=\"scaling decisions fleet-wide\"");
    vg_sf_member_of(a, out, len);
}

/* Waits until a serves its own fleet-wide decision of `step` over every host, scaled out to its
 * max (so-7's q.depth is above 75). */
static void wait_decides_fleet_wide(const struct vg_ap *a)
{
    char member[128];
    member_of(a, member, sizeof(member));
    int64_t end = vg_tp_mono_ms() + 30000;
    char *txt = NULL;
    for (;;) {
        json_t *d = vg_th_get_json(a->port, "/api/v1/scale/step");
        const char *by = json_string_value(json_object_get(d, "decided_by"));
        int ok = json_is_true(json_object_get(d, "fleet")) && by && strcmp(by, member) == 0 &&
                 jint(d, "hosts") == HOSTS && jint(d, "desired") == 4;
        free(txt);
        txt = json_dumps(d, JSON_COMPACT);
        json_decref(d);
        if (ok)
            break;
        if (vg_tp_mono_ms() >= end)
            fail_msg("%s: no fleet-wide decision of %s over %d hosts: %s", a->log, member, HOSTS,
                     txt ? txt : "?");
        vg_tp_pause_ms(100);
    }
    free(txt);
}

static void stop_analyzer(struct vg_ap *a)
{
    int st = vg_tp_stop(a->pid, SIGTERM, 20000);
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ---- the tests ---- */

/* A missing partials topic is the analyzer's to create (1 partition, retention 1 h), never to be
 * auto-created with the broker's defaults. The mock cluster cannot create it (no CreateTopics),
 * so the analyzer says how to create it and stays local-only; meanwhile neither its lookups nor
 * its partials (published while it owns partitions) may auto-create the topic, which the mock
 * would do with 4 partitions. Once the topic is created as the log says, a retry joins without
 * a restart and the topic keeps its 1 partition. */
static void a_missing_partials_topic_is_never_auto_created(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "scale-exchange-create");
    const char *topics[] = {"vigil.metrics:4", "vigil.state:4", "vigil.decisions:1", NULL};
    char bootstrap[256], set_rules[700];
    pid_t broker = vg_ap_start_broker_topics(s.dir, 1, topics, bootstrap, sizeof(bootstrap));
    assert_int_equal(cluster_partitions(bootstrap, "vigil.scale.partials"), 0);
    vg_sf_write_rules(s.dir, rules_yaml, set_rules, sizeof(set_rules));
    /* restore_timeout: how long the creation waits at start. */
    const char *sets[] = {set_rules, "decisions.restore_timeout=2s",
                          "decisions.rejoin_backoff_initial=1s", "decisions.rejoin_backoff_max=2s",
                          NULL};
    struct vg_sf_fleet fleet;
    vg_sf_fleet_start(&fleet, bootstrap, "so");
    struct vg_ap a;
    vg_ap_start(&a, s.dir, "a", bootstrap, sets);
    vg_ap_expect_log(&a, "msg=\"could not create the scaling partials topic: create it with 1 "
                         "partition, retention.ms=3600000 and cleanup.policy=delete, or set "
                         "decisions.partials_topic: \\\"\\\" (local-only)\" "
                         "topic=vigil.scale.partials ");
    /* The reason, which says how to create the topic or turn the exchange off (with
     * `decisions.partials_topic: ""`), is one logfmt value: its quotes escaped. */
    char *line = log_line(&a, "msg=\"scaling decisions local-only: each analyzer decides from "
                              "its own hosts\" reason=\"topic vigil.scale.partials missing and "
                              "not created (");
    assert_ends_with(line, ": create topic vigil.scale.partials with 1 partition, "
                           "retention.ms=3600000, cleanup.policy=delete or set "
                           "decisions.partials_topic: \\\"\\\"\"");
    free(line);

    /* Local-only, owning every partition, evaluating (each evaluation would publish a partial)
     * and retrying (each retry looks for the topic again): nothing has created the topic. */
    vg_ap_wait_metric(&a, "vigil_partitions_assigned", PARTS, 30000);
    vg_ap_wait_metric(&a, "vigil_hosts", HOSTS, 30000);
    wait_metric_min(&a, "vigil_scale_evaluations_total", 3, 30000);
    wait_metric_min(&a, "vigil_scale_exchange_join_retries_total", 2, 30000);
    line = log_line(&a, "msg=\"scaling exchange not joined: still local-only, retrying\" "
                        "retries=1 ");
    assert_ends_with(line, " decisions.partials_topic: \\\"\\\"\"");
    free(line);
    assert_int_equal(cluster_partitions(bootstrap, "vigil.scale.partials"), 0);
    assert_int_equal((int)vg_ap_metric(&a, "vigil_scale_local_only"), 1);
    assert_int_equal((int)vg_ap_metric(&a, "vigil_scale_partials_published_total"), 0);

    /* Created as the log says: the next retry joins, the analyzer publishes its partials and
     * decides over every host, and the topic still has its one partition. */
    vg_ap_broker_control(s.dir, "create vigil.scale.partials 1");
    wait_log(&a, "msg=\"scaling decisions fleet-wide\"");
    vg_ap_expect_log(&a, " rejoined_after_retries=");
    vg_ap_wait_metric(&a, "vigil_scale_local_only", 0, 10000);
    wait_decides_fleet_wide(&a);
    wait_metric_min(&a, "vigil_scale_partials_published_total", 1, 30000);
    assert_int_equal(cluster_partitions(bootstrap, "vigil.scale.partials"), 1);

    vg_sf_fleet_stop(&fleet);
    stop_analyzer(&a);
    assert_int_equal(vg_stack_stop(&s), 0);
    vg_tp_stop(broker, SIGTERM, 10000);
}

/* The metrics topic's partition count unknown at the assignment (its lookup failed): no target
 * can be decided, since the count says which analyzer decides each. A fleet-wide analyzer says
 * so once, shows 0 in vigil_scale_metrics_partitions, looks the count up again every 10 s and,
 * once it has it, decides, without waiting for another rebalance.
 *
 * The lookup is made to fail by a topic error on vigil.metrics (LEADER_NOT_AVAILABLE), set after
 * the group's assignment (which needs the topic's metadata) and before the assignment callback
 * looks the count up: in between, the callback restores the state of its partitions from
 * vigil.state, whose only partition is led by broker 2, which answers 1.5 s late; every other
 * partition and the group's coordinator are on broker 1. */
static void an_unknown_metrics_partition_count_is_looked_up_again(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "scale-exchange-count");
    const char *topics[] = {"vigil.metrics:4", "vigil.state:1", "vigil.decisions:1",
                            "vigil.scale.partials:1", NULL};
    char bootstrap[256], set_rules[700];
    pid_t broker = vg_ap_start_broker_topics(s.dir, 2, topics, bootstrap, sizeof(bootstrap));
    for (int p = 0; p < PARTS; p++) {
        char cmd[64];
        snprintf(cmd, sizeof(cmd), "leader vigil.metrics %d 1", p);
        vg_ap_broker_control(s.dir, cmd);
    }
    vg_ap_broker_control(s.dir, "leader vigil.decisions 0 1");
    vg_ap_broker_control(s.dir, "leader vigil.scale.partials 0 1");
    vg_ap_broker_control(s.dir, "coordinator group vigil-analyzer 1");
    vg_ap_broker_control(s.dir, "leader vigil.state 0 2");
    vg_ap_broker_control(s.dir, "rtt 2 1500");
    vg_sf_write_rules(s.dir, rules_yaml, set_rules, sizeof(set_rules));
    const char *sets[] = {set_rules, NULL};
    struct vg_sf_fleet fleet;
    vg_sf_fleet_start(&fleet, bootstrap, "so");
    struct vg_ap a;
    vg_ap_start(&a, s.dir, "a", bootstrap, sets);
    wait_log(&a, "msg=\"scaling decisions fleet-wide\"");

    /* The assignment is made; its state restore waits on broker 2 while the topic turns bad.
     * From then on broker 2 need not be slow. */
    wait_log(&a, "msg=\"partitions assigned\" count=4");
    vg_ap_broker_control(s.dir, "topic-error vigil.metrics 5");
    vg_ap_broker_control(s.dir, "rtt 2 0");
    wait_log(&a, "msg=\"scaling: the metrics topic's partition count is unknown: no target is "
                 "decided until it is (looked up again every 10 s)\" topic=vigil.metrics ");
    vg_ap_wait_metric(&a, "vigil_partitions_assigned", PARTS, 10000);
    assert_int_equal((int)vg_ap_metric(&a, "vigil_scale_metrics_partitions"), 0);
    assert_int_equal((int)vg_ap_metric(&a, "vigil_scale_evaluations_total"), 0);

    /* The topic is fine again: the next lookup has the count, and the analyzer decides. */
    vg_ap_broker_control(s.dir, "topic-error vigil.metrics 0");
    wait_log(&a, "msg=\"scaling: metrics topic's partition count known\" topic=vigil.metrics "
                 "partitions=4");
    vg_ap_wait_metric(&a, "vigil_scale_metrics_partitions", PARTS, 10000);
    wait_decides_fleet_wide(&a);
    /* Known from the lookup, not from another assignment; said once. */
    assert_int_equal(log_count(&a, "msg=\"partitions assigned\""), 1);
    assert_int_equal(log_count(&a, "the metrics topic's partition count is unknown"), 1);

    vg_sf_fleet_stop(&fleet);
    stop_analyzer(&a);
    assert_int_equal(vg_stack_stop(&s), 0);
    vg_tp_stop(broker, SIGTERM, 10000);
}

/* A broker that answers, but too late (every answer 2 min late; librdkafka gives a request up
 * after socket.timeout.ms, 1 min), does not hold up the start: the join gives up at
 * decisions.restore_timeout, the analyzer serves its API, says it is local-only and why, and
 * each retry gives up after 1 s, so that they go on (and the API answers between them); once
 * the broker answers in time again, a retry joins. */
static void a_broker_too_slow_for_the_join_does_not_hold_up_the_start(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "scale-exchange-slow");
    char bootstrap[256], set_rules[700];
    pid_t broker = vg_ap_start_broker_ctl(s.dir, 1, bootstrap, sizeof(bootstrap));
    vg_ap_broker_control(s.dir, "rtt -1 120000");
    vg_sf_write_rules(s.dir, rules_yaml, set_rules, sizeof(set_rules));
    const char *sets[] = {set_rules, "decisions.restore_timeout=2s",
                          "decisions.rejoin_backoff_initial=200ms",
                          "decisions.rejoin_backoff_max=500ms", NULL};
    struct vg_ap a;
    /* Fails unless the API listens within 20 s: the join and the read-back come first. */
    vg_ap_start(&a, s.dir, "a", bootstrap, sets);
    vg_ap_expect_log(&a, "msg=\"scaling decisions local-only: each analyzer decides from its own "
                         "hosts\" reason=\"topic vigil.scale.partials: the cluster did not "
                         "answer\"");
    assert_int_equal((int)vg_ap_metric(&a, "vigil_scale_local_only"), 1);
    assert_true(vg_ap_metric(&a, "vigil_scale_partials_errors_total") >= 1);

    /* Retries, each given up in time. */
    wait_metric_min(&a, "vigil_scale_exchange_join_retries_total", 3, 40000);
    vg_ap_expect_log(&a, "msg=\"scaling exchange not joined: still local-only, retrying\" "
                         "retries=1 ");
    assert_int_equal((int)vg_ap_metric(&a, "vigil_scale_local_only"), 1);

    /* In time again (the connections holding the late answers dropped): a retry joins. */
    vg_ap_broker_control(s.dir, "rtt -1 0");
    vg_ap_broker_control(s.dir, "down");
    vg_ap_broker_control(s.dir, "up");
    wait_log(&a, "msg=\"scaling decisions fleet-wide\"");
    vg_ap_expect_log(&a, " rejoined_after_retries=");
    vg_ap_wait_metric(&a, "vigil_scale_local_only", 0, 10000);

    stop_analyzer(&a);
    assert_int_equal(vg_stack_stop(&s), 0);
    vg_tp_stop(broker, SIGTERM, 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_missing_partials_topic_is_never_auto_created),
        cmocka_unit_test(an_unknown_metrics_partition_count_is_looked_up_again),
        cmocka_unit_test(a_broker_too_slow_for_the_join_does_not_hold_up_the_start),
    };
    return vg_tp_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
