/* The agent's local guard through real processes: vigil-test-mockbroker with its control FIFO,
 * vigil-agent reading a fake /proc the test writes (collector `load`, proc_root), and
 * vigil-test-receiver as the local webhook.
 *
 * With the broker up and local.when=outage a spike fires locally but is not sent (the analyzer
 * alerts on it); with every broker down it is sent, labelled vigil_source=agent; once the
 * brokers are back the alert stays firing until the value recovers, and its resolve is sent
 * then (docs/reliability.md, "Local alerts"). Every wait is for a condition, with a deadline. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vg_analyzerproc.h"
#include "vg_stack.h"
#include "vg_testproc.h"
#include "vg_util.h"

#define HOST     "edge-host"
#define DEADLINE 30000

struct rig {
    struct vg_stack s; /* dir, the receiver, the agent's log */
    char loadavg[800];
    char bootstrap[256];
    pid_t broker, agent;
};

static void write_load(struct rig *r, const char *load1)
{
    char text[128];
    snprintf(text, sizeof text, "%s 0.40 0.30 1/100 1234\n", load1);
    assert_int_equal(vg_tp_write_atomic(r->loadavg, text), 0);
}

/* A rig in a fresh stack directory named after tag: its fake /proc made, with a load of 0.50. */
static void rig_init(struct rig *r, const char *tag)
{
    vg_stack_init(&r->s, tag);
    char proc[700];
    snprintf(proc, sizeof proc, "%s/proc", r->s.dir);
    assert_int_equal(mkdir(proc, 0700), 0);
    snprintf(r->loadavg, sizeof r->loadavg, "%s/loadavg", proc);
    write_load(r, "0.50");
}

static void start_broker(struct rig *r)
{
    r->broker = vg_ap_start_broker_ctl(r->s.dir, 1, r->bootstrap, sizeof r->bootstrap);
}

static void control(struct rig *r, const char *cmd)
{
    vg_ap_broker_control(r->s.dir, cmd);
}

/* extra: NULL-terminated further --set options (NULL: none). */
static void start_agent_with(struct rig *r, const char *const *extra)
{
    char bs[300], proc[700], spool[700], url[128];
    snprintf(bs, sizeof bs, "bootstrap_servers=%s", r->bootstrap);
    snprintf(proc, sizeof proc, "proc_root=%s/proc", r->s.dir);
    snprintf(spool, sizeof spool, "spool.dir=%s/spool", r->s.dir);
    snprintf(url, sizeof url, "local.webhook.url=http://127.0.0.1:%d/alerts", r->s.recv_port);
    const char *argv[] = {
        VG_AGENT_BIN, "--set", "user=", "--set", bs, "--set", "host=" HOST, "--set",
        "interval=200ms", "--set", "stats_interval=1s", "--set", "collectors=load", "--set", proc,
        "--set", spool, "--set", "spool.memory_messages=10",
        /* reconnect quickly once the broker is back */
        "--set", "kafka.reconnect.backoff.max.ms=1000", "--set", "local.series=load.1m", "--set",
        /* The load is a constant 0.50 until a test changes it: the detector's baseline after 5
         * values is the one after 10 (or any number), 1 s sooner. */
        "local.warmup=5", "--set", "local.for=1s", "--set", "local.resolve_for=1s", "--set",
        "local.outage_after=3s", "--set", url, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    size_t n = 0;
    while (argv[n])
        n++;
    for (size_t i = 0; extra && extra[i]; i++) {
        assert_true(n + 2 < sizeof argv / sizeof argv[0]);
        argv[n++] = "--set";
        argv[n++] = extra[i];
    }
    r->agent = vg_tp_spawn((char *const *)argv, r->s.agent_log);
}

static void start_agent(struct rig *r)
{
    start_agent_with(r, NULL);
}

/* Waits until the agent's newest stats line has key >= want. */
static void wait_field(struct rig *r, const char *key, long long want)
{
    long long v = vg_tp_wait_field(r->s.agent_log, key, want, DEADLINE);
    if (v < want)
        fail_msg("agent: %s stayed at %lld, want >= %lld", key, v, want);
}

static void wait_log(struct rig *r, const char *needle, int count)
{
    int64_t deadline = vg_mono_ms() + DEADLINE;
    while (vg_tp_count(r->s.agent_log, needle) < count && vg_mono_ms() < deadline)
        vg_sleep_ms(100, NULL);
    if (vg_tp_count(r->s.agent_log, needle) < count)
        fail_msg("agent log: '%s' seen %d times, want %d", needle,
                 vg_tp_count(r->s.agent_log, needle), count);
}

/* The bodies the receiver got, in order, with the given status; only_ok: only those it answered
 * 200 (delivered). */
static size_t received_as(struct rig *r, const char *status, int only_ok, json_t **out, size_t max)
{
    char *t = vg_tp_read(r->s.recv_out);
    size_t n = 0;
    for (char *line = t, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        json_t *rec = json_loads(line, 0, NULL);
        json_t *body = json_object_get(rec, "body");
        const char *st = json_string_value(json_object_get(body, "status"));
        int ok = json_integer_value(json_object_get(rec, "status")) == 200;
        if (st && strcmp(st, status) == 0 && (ok || !only_ok) && n < max)
            out[n++] = json_incref(body);
        json_decref(rec);
    }
    free(t);
    return n;
}

static size_t received(struct rig *r, const char *status, json_t **out, size_t max)
{
    return received_as(r, status, 0, out, max);
}

/* How many notifications with this status the receiver took (answered 2xx; up to 16). */
static size_t count_accepted(struct rig *r, const char *status)
{
    json_t *got[16];
    size_t n = received_as(r, status, 1, got, 16);
    for (size_t i = 0; i < n; i++)
        json_decref(got[i]);
    return n;
}

/* Waits for a notification with this status that the receiver answered 200. */
static json_t *wait_delivered(struct rig *r, const char *status)
{
    json_t *b = NULL;
    int64_t deadline = vg_mono_ms() + DEADLINE;
    while (received_as(r, status, 1, &b, 1) == 0 && vg_mono_ms() < deadline)
        vg_sleep_ms(100, NULL);
    if (!b)
        fail_msg("receiver: no %s notification delivered", status);
    return b;
}

static json_t *wait_received(struct rig *r, const char *status)
{
    json_t *b = NULL;
    int64_t deadline = vg_mono_ms() + DEADLINE;
    while (received(r, status, &b, 1) == 0 && vg_mono_ms() < deadline)
        vg_sleep_ms(100, NULL);
    if (!b)
        fail_msg("receiver: no %s notification", status);
    return b;
}

static const char *field(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

static void assert_local_alert(json_t *b, const char *status)
{
    assert_string_equal(field(b, "status"), status);
    assert_string_equal(field(b, "alertname"), "anomaly");
    assert_string_equal(field(b, "host"), HOST);
    assert_string_equal(field(b, "series"), "load.1m");
    assert_string_equal(field(json_object_get(b, "labels"), "vigil_source"), "agent");
    assert_int_equal(strlen(field(b, "fingerprint")), 16);
    assert_non_null(strstr(field(b, "summary"), "on the agent"));
}

/* The receiver (rx: its extra options, NULL: none) and the broker started for r. */
static void start_receiver_and_broker(struct rig *r, const char *const *rx)
{
    vg_stack_start_receiver(&r->s, rx);
    start_broker(r);
}

static void wait_guard_on(struct rig *r)
{
    assert_int_equal(vg_tp_wait_contains(r->s.agent_log, "msg=\"local guard on\"", DEADLINE), 0);
}

/* The guard on, Kafka taking the agent's messages, and the local warm-up over. */
static void wait_delivering_and_warm(struct rig *r)
{
    wait_guard_on(r);
    wait_field(r, "delivered", 10);
    wait_field(r, "local_scored", 5);
}

/* Every broker down, until the agent declares the outage. */
static void take_kafka_down(struct rig *r)
{
    control(r, "down");
    wait_log(r, "msg=\"kafka not taking messages: local alerts are sent\"", 1);
}

/* The agent's next start logs to agent-N.log in the rig's directory. */
static void next_agent_log(struct rig *r, int n)
{
    snprintf(r->s.agent_log, sizeof r->s.agent_log, "%s/agent-%d.log", r->s.dir, n);
}

static void stop_agent(struct rig *r)
{
    assert_int_equal(vg_tp_stop(r->agent, SIGTERM, 20000), 0);
    r->agent = 0;
}

/* Once the tick that sent the alert has written kept, the agent is killed (nothing written at
 * a stop). */
static void kill_agent_after_kept(struct rig *r, const char *kept)
{
    assert_int_equal(vg_tp_wait_contains(kept, NULL, DEADLINE), 0);
    int st = vg_tp_stop(r->agent, SIGKILL, 10000);
    assert_true(WIFSIGNALED(st));
}

static void stop_broker_and_receiver(struct rig *r)
{
    vg_tp_stop(r->broker, SIGTERM, 10000);
    vg_tp_stop(r->s.receiver, SIGTERM, 10000);
}

/* How many notifications with this status the receiver got (up to 16). */
static size_t count_received(struct rig *r, const char *status)
{
    json_t *all[16];
    size_t n = received(r, status, all, 16);
    for (size_t i = 0; i < n; i++)
        json_decref(all[i]);
    return n;
}

/* The resolve belongs to the firing: the same fingerprint and start. */
static void assert_resolves(json_t *resolved, json_t *fired)
{
    assert_string_equal(field(resolved, "fingerprint"), field(fired, "fingerprint"));
    assert_string_equal(field(resolved, "starts_at"), field(fired, "starts_at"));
}

static void spike_is_sent_only_while_kafka_is_down(void **state)
{
    (void)state;
    struct rig r = {0};
    rig_init(&r, "local-alerts");
    start_receiver_and_broker(&r, NULL);
    start_agent(&r);
    /* Delivering, and past the local warm-up. */
    wait_delivering_and_warm(&r);

    /* 1. Kafka takes messages: the spike fires locally and is left to the analyzer. */
    write_load(&r, "50.00");
    wait_log(&r, "msg=\"local alert firing\"", 1);
    write_load(&r, "0.50");
    wait_log(&r, "msg=\"local alert resolved\"", 1);
    wait_field(&r, "local_not_sent", 1);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_sent"), 0);
    assert_int_equal(vg_tp_count(r.s.agent_log, "msg=\"local alert sent\""), 0);
    json_t *none = NULL;
    assert_int_equal(received(&r, "firing", &none, 1), 0);

    /* 2. Every broker down: once messages have waited local.outage_after, the guard sends. */
    take_kafka_down(&r);
    /* High enough that the detector does not learn it as the new level before step 3 ends
     * (its scale grows about 2 % a tick while clipped: some 90 s here). */
    write_load(&r, "500.00");
    json_t *fired = wait_received(&r, "firing");
    assert_local_alert(fired, "firing");
    assert_true(json_number_value(json_object_get(fired, "score")) >= 0.9999);
    assert_true(json_number_value(json_object_get(fired, "value")) == 500.0);
    assert_true(json_is_null(json_object_get(fired, "ends_at")));

    /* 3. The broker is back: deliveries resume, the alert stays firing while the value is high
     * (no resolve transition yet: the one resolve so far is step 1's)... */
    control(&r, "up");
    wait_log(&r, "msg=\"kafka takes messages again", 1);
    wait_field(&r, "local_firing", 1);
    assert_int_equal(vg_tp_count(r.s.agent_log, "msg=\"local alert resolved\""), 1);
    /* ...and resolves, sent though Kafka is up, once the value recovers. */
    write_load(&r, "0.50");
    json_t *resolved = wait_received(&r, "resolved");
    assert_local_alert(resolved, "resolved");
    assert_resolves(resolved, fired);
    assert_false(json_is_null(json_object_get(resolved, "ends_at")));

    /* Nothing lost or left: both notifications delivered, counted in the final stats line. */
    stop_agent(&r);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_sent"), 2);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_delivered"), 2);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_failed"), 0);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_not_sent"), 1);
    assert_int_equal(count_received(&r, "firing"), 1);
    json_decref(fired);
    json_decref(resolved);
    stop_broker_and_receiver(&r);
}

/* Kafka up but refusing every message for good (TOPIC_AUTHORIZATION_FAILED to every Produce, as
 * after an ACL mistake) and no spool to keep them in: nothing waits in librdkafka's queue, yet
 * the analyzer gets nothing, so once no delivery has succeeded for local.outage_after the outage
 * is declared and the spike is sent. */
static void spike_is_sent_while_kafka_refuses_every_message(void **state)
{
    (void)state;
    struct rig r = {0};
    rig_init(&r, "local-refused");
    start_receiver_and_broker(&r, NULL);
    const char *const extra[] = {"spool.dir=", NULL};
    start_agent_with(&r, extra);
    wait_delivering_and_warm(&r);

    /* 29: TOPIC_AUTHORIZATION_FAILED, a permanent error: each message fails at once. */
    control(&r, "errors 0 1000 29");
    wait_field(&r, "delivery_failed", 3);
    wait_log(&r, "msg=\"kafka not taking messages: local alerts are sent\"", 1);
    assert_int_equal(vg_tp_count(r.s.agent_log, " lost=1 "), 1);
    write_load(&r, "500.00");
    json_t *fired = wait_received(&r, "firing");
    assert_local_alert(fired, "firing");
    json_decref(fired);
    stop_agent(&r);
    assert_true(vg_tp_last_field(r.s.agent_log, "local_outages") >= 1);
    stop_broker_and_receiver(&r);
}

/* The local webhook failing for good (local.when=always, the receiver answering 503 to every
 * request): the firing gets the documented 8 attempts, is given up on and counted in
 * local_failed; its resolve is still sent, as the analyzer's receivers do (the dispatcher sends
 * a resolve for every alert it handed to them, whatever became of the firing: docs/alerts.md),
 * and what is still queued at SIGTERM is dropped and counted in the `webhook stopped` line and
 * the last stats line's local_failed.
 * The receiver asks for `Retry-After: 1`, which replaces the computed backoff (0.5 s doubling
 * to 30 s, about a minute in all) so that the attempts take seconds; their number is the same. */
static void a_receiver_failing_for_good_gets_8_attempts_then_the_drop_is_counted(void **state)
{
    (void)state;
    struct rig r = {0};
    rig_init(&r, "local-failing");
    const char *const rx[] = {"--fail", "1000000", "--fail-status", "503", "--retry-after",
                              "1",      NULL};
    start_receiver_and_broker(&r, rx);
    const char *const extra[] = {"local.when=always", "flush_timeout=1s", NULL};
    start_agent_with(&r, extra);
    wait_delivering_and_warm(&r);

    /* The spike fires and is sent (Kafka is up: local.when=always); every attempt fails. */
    write_load(&r, "500.00");
    wait_log(&r, "msg=\"local alert sent\" status=firing", 1);
    wait_log(&r, "msg=\"webhook attempt failed, giving up, notification dropped\"", 1);
    assert_int_equal(vg_tp_count(r.s.agent_log, " attempt=8 status=503 "), 1);
    wait_field(&r, "local_failed", 1);
    assert_int_equal(vg_tp_count(r.s.agent_log, "msg=\"webhook attempt failed, will retry\""), 7);
    assert_int_equal(count_received(&r, "firing"), 8);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_delivered"), 0);

    /* The value recovers: the resolve is sent all the same, and fails likewise. */
    write_load(&r, "0.50");
    wait_log(&r, "msg=\"local alert resolved\"", 1);
    assert_int_equal(vg_tp_count(r.s.agent_log, "was_sent=1"), 1);
    wait_log(&r, "msg=\"local alert sent\" status=resolved", 1);
    json_decref(wait_received(&r, "resolved"));

    /* SIGTERM while the resolve is being retried: it gets flush_timeout (1 s), then is kept in
     * spool.dir's local.outbox for the next start. The receiver stops before the last stats
     * line, which counts it in local_kept (and the firing given up on in local_failed, as the
     * README says), not as local_queued. */
    stop_agent(&r);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_sent"), 2);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_delivered"), 0);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_failed"), 1);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_kept"), 1);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_queued"), 0);
    wait_log(&r, "msg=\"webhook stopped with undelivered notifications, kept in the outbox\"", 1);
    char *log = vg_tp_read(r.s.agent_log);
    char *stopped = log ? strstr(log, "msg=\"webhook stopped\"") : NULL;
    assert_non_null(stopped);
    stopped[strcspn(stopped, "\n")] = '\0';
    print_message("%s\n", stopped);
    assert_non_null(strstr(stopped, " submitted=2 delivered=0 dropped=1 "));
    assert_non_null(strstr(stopped, " kept=1 "));
    assert_non_null(strstr(stopped, " attempt_errors="));
    free(log);
    stop_broker_and_receiver(&r);
}

/* local.webhook.url_file: the URL, with its credential in the path, is read from a file after the
 * privilege drop (docs/security.md). The alert reaches that URL, and the agent's log shows it as
 * scheme://host:port/... only, never the path, not even where the receiver's answer quotes it
 * (the delivery module logs with a secret registry of its own). A SIGHUP reads the file again, as
 * --check-config would: a URL rewritten there is named as needing a restart, a file gone is a
 * refused reload. */
static void a_url_from_its_url_file_is_used_and_never_logged(void **state)
{
    (void)state;
    struct rig r = {0};
    rig_init(&r, "local-urlfile");
    /* The first request fails, so that the delivery logs a line naming the URL and the answer,
     * which quotes the path. */
    const char *const rx[] = {"--fail",        "1", "--fail-status", "503",
                              "--retry-after", "1", "--echo-path",   NULL};
    start_receiver_and_broker(&r, rx);
    char path[800], url[200], set[900];
    snprintf(path, sizeof path, "%s/local-url", r.s.dir);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/alerts/SEKRETPATH\n", r.s.recv_port);
    assert_int_equal(vg_tp_write_atomic(path, url), 0);
    assert_int_equal(chmod(path, 0600), 0);
    snprintf(set, sizeof set, "local.webhook.url_file=%s", path);
    const char *const extra[] = {"local.webhook.url=", set, "local.when=always", NULL};
    start_agent_with(&r, extra);
    wait_guard_on(&r);
    wait_field(&r, "local_scored", 5);

    write_load(&r, "500.00");
    json_t *fired = wait_received(&r, "firing");
    assert_local_alert(fired, "firing");
    json_decref(fired);
    char *got = vg_tp_read(r.s.recv_out);
    assert_non_null(strstr(got, "\"path\":\"/alerts/SEKRETPATH\""));
    free(got);
    wait_log(&r, "msg=\"webhook attempt failed, will retry\"", 1);
    char want[128];
    snprintf(want, sizeof want, "url=\"http://127.0.0.1:%d/...\"", r.s.recv_port);
    assert_true(vg_tp_count(r.s.agent_log, want) >= 1);
    /* The answer quoted the path; its log line shows it scrubbed (body="...path\":\"/ and stars).
     */
    assert_true(vg_tp_count(r.s.agent_log, "path\\\":\\\"/***") >= 1);

    /* Rewritten: the next start would post elsewhere, which a reload does not apply. */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/alerts/OTHERSEKRET\n", r.s.recv_port);
    assert_int_equal(vg_tp_write_atomic(path, url), 0);
    assert_int_equal(kill(r.agent, SIGHUP), 0);
    wait_log(&r, "msg=\"reload: changed settings need a restart to apply\"", 1);
    assert_int_equal(vg_tp_count(r.s.agent_log, "count=1 keys=\"local.webhook.url\""), 1);
    /* Gone: the next start would refuse it, so the reload does. */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(kill(r.agent, SIGHUP), 0);
    wait_log(&r, "msg=\"reload failed, running config kept\"", 1);
    char gone[900];
    snprintf(gone, sizeof gone, "local.webhook.url_file: cannot open %s", path);
    assert_int_equal(vg_tp_count(r.s.agent_log, gone), 1);

    stop_agent(&r);
    char *log = vg_tp_read(r.s.agent_log);
    if (strstr(log, "SEKRET"))
        fail_msg("the URL's path is in the agent's log:\n%s", log);
    free(log);
    stop_broker_and_receiver(&r);
}

/* Stops during the outage wait flush_timeout for Kafka. */
static const char *const quick_stop[] = {"flush_timeout=1s", NULL};

/* A rig in a fresh stack directory named after tag, its agent (quick_stop) delivering and warm,
 * then every broker down and a spike: returns the firing notification the receiver got (the
 * caller frees it), with kept naming <spool.dir>/local-alerts. */
static json_t *fire_during_an_outage(struct rig *r, const char *tag, char *kept, size_t n)
{
    rig_init(r, tag);
    start_receiver_and_broker(r, NULL);
    snprintf(kept, n, "%s/spool/local-alerts", r->s.dir);
    start_agent_with(r, quick_stop);
    wait_delivering_and_warm(r);
    take_kafka_down(r);
    write_load(r, "500.00");
    return wait_received(r, "firing");
}

/* A start that does not read <spool.dir>/local-alerts says so when the file holds alerts: with
 * local.detector=off the guard is never made, and the alerts an earlier run sent stayed firing at
 * the receiver with not a word in the log. The file is left for a start with the guard on. */
static void a_start_with_the_guard_off_warns_of_the_alerts_it_leaves_unresolved(void **state)
{
    (void)state;
    struct rig r = {0};
    char kept[800];
    json_decref(fire_during_an_outage(&r, "local-off", kept, sizeof kept));
    kill_agent_after_kept(&r, kept);
    struct stat before;
    assert_int_equal(stat(kept, &before), 0);

    next_agent_log(&r, 2);
    const char *const off[] = {"flush_timeout=1s", "local.detector=off", NULL};
    start_agent_with(&r, off);
    assert_int_equal(vg_tp_wait_contains(r.s.agent_log,
                                         "msg=\"local guard: alerts an earlier run sent stay "
                                         "unresolved at the receiver until a start that reads "
                                         "their file\" why=guard_off",
                                         DEADLINE),
                     0);
    assert_int_equal(vg_tp_count(r.s.agent_log, " alerts=1"), 1);
    wait_field(&r, "ticks", 3);
    stop_agent(&r);
    struct stat after;
    assert_int_equal(stat(kept, &after), 0);
    assert_int_equal(after.st_ino, before.st_ino);
    assert_int_equal(after.st_size, before.st_size);
    stop_broker_and_receiver(&r);
}

/* A read error on the spool (a bad sector, a disk resetting) while Kafka takes messages: the
 * spool retries it for up to 31 s, holding its records and the ticks behind them on the disk.
 * Kafka is fine all along, so the guard must not declare an outage; it did once the retries had
 * lasted local.outage_after (30 s by default, 1 s here), blaming Kafka and sending local alerts.
 * The read errors come from tests/spool_eio_shim.c: every pread() of a segment fails while the
 * file `eio` exists in the test's directory. */
static void a_spool_read_error_while_kafka_takes_messages_is_no_outage(void **state)
{
    (void)state;
    struct rig r = {0};
    rig_init(&r, "local-spool-eio");
    char trigger[700];
    snprintf(trigger, sizeof trigger, "%s/eio", r.s.dir);
    start_receiver_and_broker(&r, NULL);
    /* Only the agent gets the preload. An ASan build wants its runtime first among preloaded
     * libraries; the shim is not instrumented and needs no such order. */
    char *asan_was = getenv("ASAN_OPTIONS") ? strdup(getenv("ASAN_OPTIONS")) : NULL;
    char opts[512];
    snprintf(opts, sizeof opts, "%s%sverify_asan_link_order=0", asan_was ? asan_was : "",
             asan_was ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
    setenv("LD_PRELOAD", VG_SPOOL_EIO_SHIM, 1);
    setenv("VG_SPOOL_EIO_TRIGGER", trigger, 1);
    start_agent_with(&r, (const char *const[]){"local.outage_after=1s", NULL});
    unsetenv("LD_PRELOAD");
    unsetenv("VG_SPOOL_EIO_TRIGGER");
    if (asan_was)
        setenv("ASAN_OPTIONS", asan_was, 1);
    else
        unsetenv("ASAN_OPTIONS");
    free(asan_was);
    wait_guard_on(&r);
    wait_field(&r, "delivered", 5);

    /* Records in the spool: every broker down until ticks are spooled (a real outage). */
    take_kafka_down(&r);
    wait_field(&r, "spooled", 3);
    /* From now every read of them fails; the broker is back and takes what librdkafka holds. */
    int fd = open(trigger, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
    control(&r, "up");
    wait_log(&r, "msg=\"kafka takes messages again", 1);
    wait_log(&r, "msg=\"spool: read error while sending, tried again later\"", 1);
    /* The third attempt comes 3 s after the first: three times local.outage_after. */
    wait_log(&r, " attempt=3 attempts=6 ", 1);
    assert_int_equal(unlink(trigger), 0);
    wait_log(&r, "msg=\"spool: read error gone, sending again\"", 1);
    wait_log(&r, "msg=\"spool drained\"", 1);
    stop_agent(&r);

    /* Kafka took messages from the first read error on: no outage declared there. */
    char *log = vg_tp_read(r.s.agent_log);
    assert_non_null(log);
    char *from = strstr(log, "msg=\"spool: read error while sending");
    assert_non_null(from);
    char *declared = strstr(from, "msg=\"kafka not taking messages");
    if (declared) {
        declared[strcspn(declared, "\n")] = '\0';
        fail_msg("an outage declared during the spool's read error: %s", declared);
    }
    free(log);
    assert_true(vg_tp_last_field(r.s.agent_log, "spool_read_errors") >= 3);
    stop_broker_and_receiver(&r);
}

/* docs/reliability.md, "Local alerts": the receiver gets the pair across restarts too. A local
 * alert sent during an outage is kept in <spool.dir>/local-alerts; the agent is killed (SIGKILL:
 * nothing is written at a stop), started again with the value still high (the alert is taken
 * over with its series' detector state: it stays firing, and is not sent again), stopped
 * (SIGTERM) and started once more with the value back to normal: the resolve arrives with the
 * firing's fingerprint and starts_at. The agent used to keep its alerts in memory only: the new
 * process had forgotten the alert, and the receiver kept it firing for good. */
static void a_sent_alert_is_resolved_by_the_agent_after_a_restart(void **state)
{
    (void)state;
    struct rig r = {0};
    char kept[800];
    json_t *fired = fire_during_an_outage(&r, "local-restart", kept, sizeof kept);
    assert_local_alert(fired, "firing");
    /* Written in the tick that sent it (renamed into place whole): killed after that, the agent
     * has written nothing more. */
    kill_agent_after_kept(&r, kept);

    /* 2. Started again, the value still high: taken over, firing, not sent again. At least 15
     * values scored with local.resolve_for=1s (5 ticks): a series that had started over would
     * have learned 500 in its warm-up and resolved by then. */
    next_agent_log(&r, 2);
    start_agent_with(&r, quick_stop);
    assert_int_equal(vg_tp_wait_contains(r.s.agent_log, "taken over", DEADLINE), 0);
    assert_int_equal(vg_tp_count(r.s.agent_log, " restored=1 warming_up=0 "), 1);
    wait_field(&r, "local_scored", 15);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_firing"), 1);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_resolved"), 0);
    assert_int_equal(vg_tp_stop(r.agent, SIGTERM, 20000), 0);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_restored"), 1);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_sent"), 0);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_state_errors"), 0);

    /* 3. Started with the value back to normal: resolved, and the pair is whole. */
    write_load(&r, "0.50");
    next_agent_log(&r, 3);
    start_agent_with(&r, quick_stop);
    json_t *resolved = wait_received(&r, "resolved");
    assert_local_alert(resolved, "resolved");
    assert_resolves(resolved, fired);
    assert_false(json_is_null(json_object_get(resolved, "ends_at")));
    wait_log(&r, "why=score_recovered", 1);
    /* Nothing left to resolve: the file goes with the last alert. */
    int64_t deadline = vg_mono_ms() + DEADLINE;
    while (access(kept, F_OK) == 0 && vg_mono_ms() < deadline)
        vg_sleep_ms(100, NULL);
    assert_int_not_equal(access(kept, F_OK), 0);
    stop_agent(&r);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_restored"), 1);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_resolved"), 1);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_sent"), 1);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_firing"), 0);
    assert_int_equal(count_received(&r, "firing"), 1);
    json_decref(fired);
    json_decref(resolved);
    stop_broker_and_receiver(&r);
}

/* The receiver is replaced by one started with rx (NULL: healthy; the agent of the next start is
 * given its port). */
static void restart_receiver_with(struct rig *r, const char *const *rx)
{
    vg_tp_stop(r->s.receiver, SIGTERM, 10000);
    char portfile[700];
    snprintf(portfile, sizeof portfile, "%s/receiver.port", r->s.dir);
    unlink(portfile); /* the receiver may have removed it */
    vg_stack_start_receiver(&r->s, rx);
}

static void restart_receiver_healthy(struct rig *r)
{
    restart_receiver_with(r, NULL);
}

/* The next receiver answers 503 to its first request only (a receiver restarting, say). */
static void restart_receiver_failing_once(struct rig *r)
{
    const char *const rx[] = {"--fail", "1", "--fail-status", "503", NULL};
    restart_receiver_with(r, rx);
}

/* The receiver fails every notification whose body holds fail_match. The spike fires; with
 * recover, its firing is delivered and the value recovers. The agent is stopped while the
 * failing notification is retried, and must keep it for the next start. */
static void stop_while_undelivered(struct rig *r, const char *fail_match, int recover)
{
    const char *const rx[] = {"--fail-match", fail_match, "--fail-status", "503", NULL};
    start_receiver_and_broker(r, rx);
    const char *const extra[] = {"local.when=always", "flush_timeout=1s", NULL};
    start_agent_with(r, extra);
    wait_guard_on(r);
    assert_int_equal(vg_tp_count(r->s.agent_log, " outbox=on"), 1);
    wait_field(r, "local_scored", 5);
    write_load(r, "500.00");
    wait_log(r, "msg=\"local alert sent\" status=firing", 1);
    if (recover) {
        json_decref(wait_delivered(r, "firing"));
        write_load(r, "0.50");
        wait_log(r, "msg=\"local alert sent\" status=resolved", 1);
    }
    /* Stopped while the notification is retried: the stop gives it flush_timeout (1 s). */
    wait_log(r, "msg=\"webhook attempt failed, will retry\"", 1);
    stop_agent(r);
    assert_int_equal(vg_tp_last_field(r->s.agent_log, "local_delivered"), recover ? 1 : 0);
    assert_int_equal(vg_tp_last_field(r->s.agent_log, "local_failed"), 0);
    assert_int_equal(vg_tp_last_field(r->s.agent_log, "local_kept"), 1);
}

/* A resolve still undelivered at a stop (the receiver failing, retried in backoff) is kept in
 * spool.dir (local.outbox) and delivered by the next start: the receiver does not keep the alert
 * firing for good. It used to be dropped at the stop, with the alert already gone from
 * local-alerts, so the next start had nothing to resolve. */
static void a_resolve_undelivered_at_a_stop_is_delivered_after_the_restart(void **state)
{
    (void)state;
    struct rig r = {0};
    rig_init(&r, "local-kept-resolve");
    stop_while_undelivered(&r, "\"resolved\"", 1);
    json_t *fired = wait_delivered(&r, "firing");

    restart_receiver_healthy(&r);
    next_agent_log(&r, 2);
    const char *const extra[] = {"local.when=always", "flush_timeout=1s", NULL};
    start_agent_with(&r, extra);
    json_t *resolved = wait_delivered(&r, "resolved");
    assert_local_alert(resolved, "resolved");
    assert_resolves(resolved, fired);
    wait_field(&r, "local_replayed", 1);
    wait_field(&r, "local_delivered", 1);
    stop_agent(&r);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_kept"), 0);
    json_decref(fired);
    json_decref(resolved);
    stop_broker_and_receiver(&r);
}

/* A firing still undelivered at a stop is kept likewise and delivered by the next start, and the
 * alert, taken over from local-alerts while the value stays high, is resolved once it recovers:
 * the receiver gets the whole pair. The firing used to be dropped at the stop and taken over as
 * sent: the receiver never heard of the anomaly. */
static void a_firing_undelivered_at_a_stop_is_delivered_after_the_restart(void **state)
{
    (void)state;
    struct rig r = {0};
    rig_init(&r, "local-kept-firing");
    stop_while_undelivered(&r, "\"firing\"", 0);

    restart_receiver_healthy(&r);
    next_agent_log(&r, 2);
    const char *const extra[] = {"local.when=always", "flush_timeout=1s", NULL};
    start_agent_with(&r, extra);
    json_t *fired = wait_delivered(&r, "firing");
    assert_local_alert(fired, "firing");
    wait_log(&r, " restored=1 ", 1);
    write_load(&r, "0.50");
    json_t *resolved = wait_delivered(&r, "resolved");
    assert_resolves(resolved, fired);
    stop_agent(&r);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_replayed"), 1);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_delivered"), 2);
    json_decref(fired);
    json_decref(resolved);
    stop_broker_and_receiver(&r);
}

/* A crash after a firing went into local.outbox but before the tick wrote local-alerts (here:
 * a stop that kept the firing, then local-alerts removed, as the crash would have left it) must
 * not make the next start deliver that firing: this start does not hold its alert, so no resolve
 * would ever follow and the receiver would keep it firing for good. The replayed firing is held
 * and dropped (logged) once local-alerts turns out not to have it. */
static void a_replayed_firing_whose_alert_local_alerts_lacks_is_dropped(void **state)
{
    (void)state;
    struct rig r = {0};
    rig_init(&r, "local-kept-firing-no-state");
    stop_while_undelivered(&r, "\"firing\"", 0);
    char path[800];
    snprintf(path, sizeof path, "%s/spool/local-alerts", r.s.dir);
    assert_int_equal(unlink(path), 0);

    write_load(&r, "0.50");
    restart_receiver_healthy(&r);
    next_agent_log(&r, 2);
    const char *const extra[] = {"flush_timeout=1s", NULL}; /* local.when=outage, the default */
    start_agent_with(&r, extra);
    wait_guard_on(&r);
    wait_field(&r, "delivered", 10);
    wait_field(&r, "local_scored", 10);
    stop_agent(&r);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_replayed"), 1);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_delivered"), 0);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_kept"), 0);
    /* Never a firing delivered without its resolve (the first run's were all answered 503). */
    size_t nf = count_accepted(&r, "firing");
    size_t nr = count_accepted(&r, "resolved");
    assert_int_equal(nf, nr);
    assert_int_equal(nf, 0);
    assert_int_equal(vg_tp_count(r.s.agent_log, "msg=\"webhook held firings dropped"), 1);
    stop_broker_and_receiver(&r);
}

/* A start that does not deliver <spool.dir>/local.outbox says so when the file holds
 * notifications: with local.detector=off, and with no local.webhook.url. Here it holds a resolve,
 * whose alert has left local-alerts already (the file is gone), so the note on local-alerts said
 * nothing, and the receiver kept the alert firing with not a word in the log. The file is left
 * for a start that delivers it. */
static void a_start_that_does_not_deliver_the_outbox_warns_of_what_it_holds(void **state)
{
    (void)state;
    struct rig r = {0};
    rig_init(&r, "local-off-outbox");
    stop_while_undelivered(&r, "\"resolved\"", 1);
    char outbox[800], alerts[800];
    snprintf(outbox, sizeof outbox, "%s/spool/local.outbox", r.s.dir);
    snprintf(alerts, sizeof alerts, "%s/spool/local-alerts", r.s.dir);
    assert_int_not_equal(access(alerts, F_OK), 0);
    struct stat before;
    assert_int_equal(stat(outbox, &before), 0);
    assert_true(before.st_size > 16);
    char want[64];
    snprintf(want, sizeof want, " bytes=%lld", (long long)before.st_size);
    const char *const off[] = {"flush_timeout=1s", "local.detector=off", NULL};
    const char *const no_url[] = {"flush_timeout=1s", "local.webhook.url=", NULL};
    const char *const *runs[] = {off, no_url};
    const char *const why[] = {"why=guard_off ", "why=no_webhook "};
    for (int i = 0; i < 2; i++) {
        next_agent_log(&r, 2 + i);
        start_agent_with(&r, runs[i]);
        assert_int_equal(vg_tp_wait_contains(r.s.agent_log,
                                             "msg=\"local guard: notifications an earlier run "
                                             "queued for the local webhook are not delivered by "
                                             "this start",
                                             DEADLINE),
                         0);
        assert_int_equal(vg_tp_count(r.s.agent_log, why[i]), 1);
        assert_int_equal(vg_tp_count(r.s.agent_log, want), 1);
        wait_field(&r, "ticks", 3);
        stop_agent(&r);
        struct stat after;
        assert_int_equal(stat(outbox, &after), 0);
        assert_int_equal(after.st_ino, before.st_ino);
        assert_int_equal(after.st_size, before.st_size);
    }
    stop_broker_and_receiver(&r);
}

/* The size of the file at path (-1: none). */
static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* A start whose local.outbox cannot be opened (here spool/local.lock a directory, for that start
 * only) delivers from memory, and the older notifications the file holds must not be replayed by
 * a later start after the newer ones it sent. Run 1 keeps its alert's resolve in the outbox; run
 * 2 fires the alert again and delivers the firing; run 3 must not then deliver run 1's resolve,
 * which would resolve the alert at the receiver while the agent holds it firing. It did: run 2
 * left the file as it was. Now run 2 sets it aside (local.outbox.stale), with a warning giving
 * its size. */
static void
a_start_that_cannot_open_its_outbox_sets_it_aside_for_no_later_start_to_replay(void **state)
{
    (void)state;
    struct rig r = {0};
    rig_init(&r, "local-outbox-aside");
    stop_while_undelivered(&r, "\"resolved\"", 1);
    char lock[800], outbox[800], stale[800];
    snprintf(lock, sizeof lock, "%s/spool/local.lock", r.s.dir);
    snprintf(outbox, sizeof outbox, "%s/spool/local.outbox", r.s.dir);
    snprintf(stale, sizeof stale, "%s/spool/local.outbox.stale", r.s.dir);
    long long kept = file_size(outbox);
    assert_true(kept > 16);
    assert_int_equal(unlink(lock), 0); /* left by run 1's outbox, as it always is */
    assert_int_equal(mkdir(lock, 0700), 0);

    /* 2. The outbox cannot be locked: memory only. The alert fires again and is delivered. */
    restart_receiver_healthy(&r);
    next_agent_log(&r, 2);
    const char *const extra[] = {"local.when=always", "flush_timeout=1s", NULL};
    start_agent_with(&r, extra);
    wait_guard_on(&r);
    assert_int_equal(vg_tp_count(r.s.agent_log, " outbox=none"), 1);
    wait_field(&r, "local_scored", 5);
    write_load(&r, "500.00");
    wait_field(&r, "local_delivered", 1);
    stop_agent(&r);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_firing"), 1);
    char run2_log[sizeof r.s.agent_log];
    snprintf(run2_log, sizeof run2_log, "%s", r.s.agent_log);

    /* 3. The outbox works again; the alert, still firing, is taken over. Nothing is replayed. */
    assert_int_equal(rmdir(lock), 0);
    next_agent_log(&r, 3);
    start_agent_with(&r, extra);
    wait_guard_on(&r);
    assert_int_equal(vg_tp_count(r.s.agent_log, " outbox=on"), 1);
    wait_log(&r, " restored=1 ", 1);
    wait_field(&r, "local_scored", 5);
    stop_agent(&r);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_replayed"), 0);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_firing"), 1);
    /* The receiver got run 1's firing and run 2's, and no resolve it took (run 1's were all
     * answered 503). */
    size_t nf = count_accepted(&r, "firing");
    size_t nr = count_accepted(&r, "resolved");
    assert_int_equal(nf, 2);
    assert_int_equal(nr, 0);
    /* Run 2 said what it set aside, and the file is there, whole, for a look. */
    assert_int_equal(
        vg_tp_count(run2_log, "msg=\"local alerts: the outbox that cannot be used is set aside"),
        1);
    char want[64];
    snprintf(want, sizeof want, " bytes=%lld", kept);
    assert_int_equal(vg_tp_count(run2_log, want), 1);
    assert_int_equal(file_size(stale), kept);
    assert_true(file_size(outbox) <= 16); /* run 3's, holding nothing */
    stop_broker_and_receiver(&r);
}

/* Restarts the receiver (failing its first request) and, once what the stopped agent kept in
 * local.outbox is older than spool.max_age (1 s, waited 1.5 s), the agent with that max age. */
static void restart_past_max_age(struct rig *r)
{
    int64_t stopped = vg_mono_ms();
    restart_receiver_failing_once(r);
    while (vg_mono_ms() - stopped < 1500)
        vg_sleep_ms(100, NULL);
    next_agent_log(r, 2);
    const char *const extra[] = {"local.when=always", "flush_timeout=1s", "spool.max_age=1s", NULL};
    start_agent_with(r, extra);
}

/* A firing kept in local.outbox at a stop and replayed more than spool.max_age later, its alert
 * still firing (the load stays at 500 through the restart, and local-alerts holds the episode),
 * is delivered, though its first attempt fails: it is the one page the ongoing alert gets, as the
 * alert is taken over as sent and never sent again. It used to be dropped at the start for its
 * age (`outbox firing older than max_age not replayed`, local_failed=1, no firing at the
 * receiver), and this test asserted that outcome: an anomaly still going on was never paged.
 * The age was to keep a stale episode from being replayed, which adopt() already refuses (it
 * releases only a firing of the fingerprint and starts_at local-alerts holds; the others are
 * dropped, a_replayed_firing_whose_alert_local_alerts_lacks_is_dropped), so it only lost pages.
 */
static void
a_replayed_firing_older_than_spool_max_age_whose_alert_still_fires_is_delivered(void **state)
{
    (void)state;
    struct rig r = {0};
    rig_init(&r, "local-kept-firing-aged");
    stop_while_undelivered(&r, "\"firing\"", 0);
    restart_past_max_age(&r);
    json_t *fired = wait_delivered(&r, "firing");
    assert_local_alert(fired, "firing");
    wait_log(&r, " restored=1 ", 1);
    wait_field(&r, "local_delivered", 1);
    stop_agent(&r);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_replayed"), 1);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_delivered"), 1);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_failed"), 0);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_firing"), 1);
    assert_int_equal(vg_tp_count(r.s.agent_log, "msg=\"webhook attempt failed, will retry\""), 1);
    assert_int_equal(vg_tp_count(r.s.agent_log, "older than max_age"), 0);
    size_t nf = count_accepted(&r, "firing");
    assert_int_equal(nf, 1);
    json_decref(fired);
    stop_broker_and_receiver(&r);
}

/* A resolve kept in local.outbox at a stop and replayed more than spool.max_age later still gets
 * its attempts: its first one fails (a 503, as from a receiver that is restarting) and the retry
 * delivers it. It was given up on at that first failure (`older than max_age, dropped`): its
 * alert had left local-alerts at the stop, so nothing sent it again and the receiver kept the
 * alert firing for good. */
static void a_replayed_resolve_older_than_spool_max_age_is_retried_until_delivered(void **state)
{
    (void)state;
    struct rig r = {0};
    rig_init(&r, "local-kept-resolve-aged");
    stop_while_undelivered(&r, "\"resolved\"", 1);
    json_t *fired = wait_delivered(&r, "firing");
    restart_past_max_age(&r);
    json_t *resolved = wait_delivered(&r, "resolved");
    assert_local_alert(resolved, "resolved");
    assert_resolves(resolved, fired);
    wait_field(&r, "local_delivered", 1);
    stop_agent(&r);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_replayed"), 1);
    assert_int_equal(vg_tp_last_field(r.s.agent_log, "local_failed"), 0);
    assert_int_equal(vg_tp_count(r.s.agent_log, "msg=\"webhook attempt failed, will retry\""), 1);
    assert_int_equal(vg_tp_count(r.s.agent_log, "older than max_age"), 0);
    size_t nr = count_accepted(&r, "resolved");
    assert_int_equal(nr, 1);
    json_decref(fired);
    json_decref(resolved);
    stop_broker_and_receiver(&r);
}

/* An outbox that cannot be opened (here a directory in its place) does not stop the guard: its
 * queue is in memory only, which the start logs and counts (local_state_errors). */
static void
an_outbox_that_cannot_be_opened_leaves_the_queue_in_memory_logged_and_counted(void **state)
{
    (void)state;
    struct rig r = {0};
    rig_init(&r, "local-outbox-bad");
    char path[800];
    snprintf(path, sizeof path, "%s/spool", r.s.dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/spool/local.outbox", r.s.dir);
    assert_int_equal(mkdir(path, 0700), 0);
    start_receiver_and_broker(&r, NULL);
    const char *const extra[] = {"local.when=always", "flush_timeout=1s", NULL};
    start_agent_with(&r, extra);
    wait_guard_on(&r);
    assert_int_equal(vg_tp_count(r.s.agent_log, " outbox=none"), 1);
    assert_int_equal(
        vg_tp_count(r.s.agent_log, "msg=\"local alerts: the outbox in spool.dir cannot be used"),
        1);
    wait_field(&r, "local_state_errors", 1);
    /* Alerts still go out. */
    wait_field(&r, "local_scored", 5);
    write_load(&r, "500.00");
    json_decref(wait_delivered(&r, "firing"));
    stop_agent(&r);
    stop_broker_and_receiver(&r);
}

int main(void)
{
    /* Longest first, three at a time, each with its own broker, receiver and agent
     * (vg_tp_run_tests): they mostly wait (warm-ups, outages declared, local.for, retries). The
     * spool read-error case changes LD_PRELOAD and ASAN_OPTIONS around its agent's start, in its
     * own process. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_receiver_failing_for_good_gets_8_attempts_then_the_drop_is_counted),
        cmocka_unit_test(a_sent_alert_is_resolved_by_the_agent_after_a_restart),
        cmocka_unit_test(spike_is_sent_only_while_kafka_is_down),
        cmocka_unit_test(a_spool_read_error_while_kafka_takes_messages_is_no_outage),
        cmocka_unit_test(
            a_start_that_cannot_open_its_outbox_sets_it_aside_for_no_later_start_to_replay),
        cmocka_unit_test(a_start_with_the_guard_off_warns_of_the_alerts_it_leaves_unresolved),
        cmocka_unit_test(a_replayed_firing_whose_alert_local_alerts_lacks_is_dropped),
        cmocka_unit_test(a_start_that_does_not_deliver_the_outbox_warns_of_what_it_holds),
        cmocka_unit_test(a_replayed_resolve_older_than_spool_max_age_is_retried_until_delivered),
        cmocka_unit_test(
            a_replayed_firing_older_than_spool_max_age_whose_alert_still_fires_is_delivered),
        cmocka_unit_test(a_firing_undelivered_at_a_stop_is_delivered_after_the_restart),
        cmocka_unit_test(a_resolve_undelivered_at_a_stop_is_delivered_after_the_restart),
        cmocka_unit_test(spike_is_sent_while_kafka_refuses_every_message),
        cmocka_unit_test(a_url_from_its_url_file_is_used_and_never_logged),
        cmocka_unit_test(
            an_outbox_that_cannot_be_opened_leaves_the_queue_in_memory_logged_and_counted),
    };
    return vg_tp_finish(vg_tp_run_tests(tests, sizeof(tests) / sizeof(tests[0]), 3));
}
