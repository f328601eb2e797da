/* The agent's local guard (agent/vg_local): series selection, the alert state machine on event
 * time, and which transitions are sent while Kafka takes messages (when=outage) or always. The
 * clocks are inputs, so every step is exact; notifications are captured by the send callback. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vg_crc32.h"
#include "vg_local.h"
#include "vg_local_state.h"
#include "vg_util.h"

#define HOST "web-1"
#define T0   1795438800000LL /* event time of the first tick */

struct sent {
    char status[16], host[64], series[64], fingerprint[17], source[16], env[16];
    double score, value;
    int64_t starts_at, ends_at;
};

struct capture {
    struct sent v[16];
    size_t n;
    int refuse; /* answer -ENOBUFS, like a full queue */
};

static int capture(void *ud, const struct vg_notification *n)
{
    struct capture *c = ud;
    if (c->refuse)
        return -ENOBUFS;
    assert_true(c->n < 16);
    struct sent *s = &c->v[c->n++];
    snprintf(s->status, sizeof s->status, "%s", n->status);
    snprintf(s->host, sizeof s->host, "%s", n->host);
    snprintf(s->series, sizeof s->series, "%s", n->series);
    snprintf(s->fingerprint, sizeof s->fingerprint, "%s", n->fingerprint);
    for (size_t i = 0; i < n->n_labels; i++) {
        if (strcmp(n->label_keys[i], VG_LOCAL_SOURCE_LABEL) == 0)
            snprintf(s->source, sizeof s->source, "%s", n->label_values[i]);
        if (strcmp(n->label_keys[i], "env") == 0)
            snprintf(s->env, sizeof s->env, "%s", n->label_values[i]);
    }
    s->score = n->score;
    s->value = n->value;
    s->starts_at = n->starts_at_ms;
    s->ends_at = n->ends_at_ms;
    return 0;
}

static struct vg_local_cfg base_cfg(enum vg_local_when when)
{
    return (struct vg_local_cfg){
        .detector = "ewma",
        .series = "",
        .dp = {.alpha = 0.05,
               .alpha_outlier = 0.005,
               .warmup = 10,
               .clip_k = 3,
               .min_std_abs = 0.01,
               .min_std_rel = 0.02},
        .ap = {.threshold = 0.9999, .for_ms = 3000, .resolve_for_ms = 5000},
        .when = when,
        .outage_after_ms = 30000,
        .max_series = 100,
    };
}

/* One tick at event time ts with load.1m = v (and a host label a host could try to spoof the
 * marker with). */
static void tick(struct vg_local *l, int64_t ts, double v, int64_t mono, uint64_t waiting)
{
    struct vg_wire_msg m;
    vg_wire_msg_init(&m);
    snprintf(m.host, sizeof m.host, "%s", HOST);
    m.ts_ms = ts;
    assert_int_equal(vg_wire_msg_add_label(&m, "env", "prod", NULL, 0), 0);
    assert_int_equal(vg_wire_msg_add_label(&m, VG_LOCAL_SOURCE_LABEL, "analyzer", NULL, 0), 0);
    assert_int_equal(vg_wire_msg_add_metric(&m, "load.1m", v, NULL, 0), 0);
    vg_local_tick(l, &m, mono, waiting);
    vg_wire_msg_free(&m);
}

/* Ticks from..to-1 (one per second, mono = event time - T0) at the steady value v. */
static void ticks(struct vg_local *l, int from, int to, double v)
{
    for (int i = from; i < to; i++)
        tick(l, T0 + i * 1000LL, v, i * 1000LL, 0);
}

/* Ticks 0..n-1 (one per second) at a steady 0.5: past the warm-up, nothing anomalous. */
static void warm(struct vg_local *l, int n, uint64_t waiting)
{
    for (int i = 0; i < n; i++)
        tick(l, T0 + i * 1000LL, 0.5, i * 1000LL, waiting);
}

static void series_globs_select_metrics(void **state)
{
    (void)state;
    struct vg_local_cfg c = base_cfg(VG_LOCAL_WHEN_ALWAYS);
    struct vg_local *l;
    char err[VG_ERRLEN];
    c.series = "cpu.*, load.1m";
    assert_int_equal(vg_local_new(&l, &c, HOST, NULL, NULL, err, sizeof err), 0);
    assert_true(vg_local_selected(l, "cpu.user_pct"));
    assert_true(vg_local_selected(l, "load.1m"));
    assert_false(vg_local_selected(l, "load.5m"));
    assert_false(vg_local_selected(l, "mem.available_bytes"));
    vg_local_free(l);

    c.series = "";
    assert_int_equal(vg_local_new(&l, &c, HOST, NULL, NULL, err, sizeof err), 0);
    assert_true(vg_local_selected(l, "anything.at_all"));
    vg_local_free(l);

    char many[33 * 3 + 1] = "";
    for (int i = 0; i < 33; i++)
        strcat(many, "a*,");
    c.series = many;
    assert_int_equal(vg_local_new(&l, &c, HOST, NULL, NULL, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "local.series: more than 32 patterns"));

    c.series = "";
    c.detector = "prophet";
    assert_int_equal(vg_local_new(&l, &c, HOST, NULL, NULL, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "local.detector: unknown model 'prophet'"));
}

static void unselected_series_get_no_state(void **state)
{
    (void)state;
    struct vg_local_cfg c = base_cfg(VG_LOCAL_WHEN_ALWAYS);
    c.series = "cpu.*";
    struct vg_local *l;
    char err[VG_ERRLEN];
    assert_int_equal(vg_local_new(&l, &c, HOST, NULL, NULL, err, sizeof err), 0);
    warm(l, 30, 0);
    struct vg_local_stats st;
    vg_local_get_stats(l, &st);
    assert_int_equal(st.series, 0);
    assert_int_equal(st.scored, 0);
    vg_local_free(l);
}

static void fires_after_for_and_resolves_after_resolve_for(void **state)
{
    (void)state;
    struct vg_local_cfg c = base_cfg(VG_LOCAL_WHEN_ALWAYS);
    struct capture cap = {0};
    struct vg_local *l;
    char err[VG_ERRLEN];
    assert_int_equal(vg_local_new(&l, &c, HOST, capture, &cap, err, sizeof err), 0);
    warm(l, 30, 0);
    assert_int_equal(cap.n, 0);
    /* Spike from t=30 s: pending at 30, 31, 32; fires at 33 (for = 3 s). */
    ticks(l, 30, 33, 50);
    assert_int_equal(cap.n, 0);
    tick(l, T0 + 33000, 50, 33000, 0);
    assert_int_equal(cap.n, 1);
    struct sent *f = &cap.v[0];
    assert_string_equal(f->status, "firing");
    assert_string_equal(f->host, HOST);
    assert_string_equal(f->series, "load.1m");
    assert_string_equal(f->source, VG_LOCAL_SOURCE_VALUE); /* the host's own label lost */
    assert_string_equal(f->env, "prod");
    assert_int_equal(strlen(f->fingerprint), 16);
    assert_true(f->score >= 0.9999);
    assert_true(f->value == 50);
    assert_int_equal(f->starts_at, T0 + 33000);
    assert_int_equal(f->ends_at, 0);
    /* Back to normal from t=40 s: below since 40, resolved at 45 (resolve_for = 5 s). */
    ticks(l, 34, 40, 50);
    ticks(l, 40, 45, 0.5);
    assert_int_equal(cap.n, 1);
    tick(l, T0 + 45000, 0.5, 45000, 0);
    assert_int_equal(cap.n, 2);
    struct sent *r = &cap.v[1];
    assert_string_equal(r->status, "resolved");
    assert_string_equal(r->fingerprint, f->fingerprint);
    assert_int_equal(r->starts_at, T0 + 33000);
    assert_int_equal(r->ends_at, T0 + 45000);
    struct vg_local_stats st;
    vg_local_get_stats(l, &st);
    assert_int_equal(st.series, 1);
    assert_int_equal(st.scored, 46 - 10);
    assert_int_equal(st.fired, 1);
    assert_int_equal(st.resolved, 1);
    assert_int_equal(st.firing, 0);
    assert_int_equal(st.sent, 2);
    assert_int_equal(st.not_sent, 0);
    vg_local_free(l);
}

static void outage_gate_sends_only_while_kafka_is_down(void **state)
{
    (void)state;
    struct vg_local_cfg c = base_cfg(VG_LOCAL_WHEN_OUTAGE);
    struct capture cap = {0};
    struct vg_local *l;
    char err[VG_ERRLEN];
    assert_int_equal(vg_local_new(&l, &c, HOST, capture, &cap, err, sizeof err), 0);
    vg_local_kafka_ok(l, 0);
    warm(l, 30, 0);
    /* Kafka takes everything: a spike fires locally but is the analyzer's to send. */
    ticks(l, 30, 40, 50);
    ticks(l, 40, 50, 0.5);
    struct vg_local_stats st;
    vg_local_get_stats(l, &st);
    assert_int_equal(st.fired, 1);
    assert_int_equal(st.resolved, 1);
    assert_int_equal(cap.n, 0);
    assert_int_equal(st.not_sent, 1);

    /* Messages wait from t=50 s with no delivery since t=0: the gate opens 30 s after they began
     * to wait, not 30 s after the last delivery. */
    vg_local_kafka_ok(l, 49000);
    for (int i = 50; i < 60; i++)
        tick(l, T0 + i * 1000LL, 0.5, i * 1000LL, (uint64_t)(i - 49));
    assert_false(vg_local_outage(l, 79999, 30));
    /* A spike that fires (at 63 s) before the gate opens (at 80 s) is sent when it does. */
    for (int i = 60; i < 80; i++)
        tick(l, T0 + i * 1000LL, 50, i * 1000LL, (uint64_t)(i - 49));
    assert_int_equal(cap.n, 0);
    tick(l, T0 + 80000, 50, 80000, 31);
    assert_int_equal(cap.n, 1);
    assert_string_equal(cap.v[0].status, "firing");
    assert_string_equal(cap.v[0].source, VG_LOCAL_SOURCE_VALUE);
    assert_int_equal(cap.v[0].starts_at, T0 + 63000);
    vg_local_get_stats(l, &st);
    assert_int_equal(st.outages, 1);

    /* Kafka takes messages again: the alert stays firing while the value stays high... */
    vg_local_kafka_ok(l, 80500);
    ticks(l, 81, 90, 50);
    assert_int_equal(cap.n, 1);
    assert_false(vg_local_outage(l, 90000, 0));
    /* ...and its resolve is sent once it recovers (below from 90 s, resolved at 95 s), though
     * the gate is closed by then. */
    ticks(l, 90, 96, 0.5);
    assert_int_equal(cap.n, 2);
    assert_string_equal(cap.v[1].status, "resolved");
    assert_string_equal(cap.v[1].fingerprint, cap.v[0].fingerprint);
    assert_int_equal(cap.v[1].ends_at, T0 + 95000);
    /* A new spike with Kafka up is not sent. */
    ticks(l, 96, 110, 50);
    assert_int_equal(cap.n, 2);
    vg_local_get_stats(l, &st);
    assert_int_equal(st.fired, 3);
    assert_int_equal(st.firing, 1);
    assert_int_equal(st.sent, 2);
    vg_local_free(l);
}

/* One tick at 1 s intervals with the named metric at v, plus load.1m steady. */
static void tick2(struct vg_local *l, int64_t i, const char *name, double v)
{
    struct vg_wire_msg m;
    vg_wire_msg_init(&m);
    snprintf(m.host, sizeof m.host, "%s", HOST);
    m.ts_ms = T0 + i * 1000LL;
    m.interval_ms = 1000;
    assert_int_equal(vg_wire_msg_add_metric(&m, "load.1m", 0.5, NULL, 0), 0);
    if (name)
        assert_int_equal(vg_wire_msg_add_metric(&m, name, v, NULL, 0), 0);
    vg_local_tick(l, &m, i * 1000LL, 0);
    vg_wire_msg_free(&m);
}

/* A cgroup's series fires and was sent (when=always), then the cgroup goes: its resolve is sent
 * once the series is stale, rather than never, and the series is forgotten later, freeing its
 * place under max_series. */
static void alert_of_a_series_no_longer_sent_resolves_then_the_series_is_forgotten(void **state)
{
    (void)state;
    struct vg_local_cfg c = base_cfg(VG_LOCAL_WHEN_ALWAYS);
    c.stale_ms = 20000;
    c.idle_ms = 60000;
    struct capture cap = {0};
    struct vg_local *l;
    char err[VG_ERRLEN];
    assert_int_equal(vg_local_new(&l, &c, HOST, capture, &cap, err, sizeof err), 0);
    const char *cg = "cgroup.app.cpu_pct";
    int64_t i = 0;
    for (; i < 30; i++)
        tick2(l, i, cg, 5);
    for (; i < 36; i++)
        tick2(l, i, cg, 95);
    assert_int_equal(cap.n, 1);
    assert_string_equal(cap.v[0].status, "firing");
    int64_t last = i - 1;
    while (cap.n < 2 && i < last + 60)
        tick2(l, i++, NULL, 0);
    assert_int_equal(cap.n, 2);
    assert_string_equal(cap.v[1].status, "resolved");
    assert_string_equal(cap.v[1].series, cg);
    assert_string_equal(cap.v[1].fingerprint, cap.v[0].fingerprint);
    assert_true(cap.v[1].value == 95);
    int64_t after = cap.v[1].ends_at - (T0 + last * 1000);
    print_message("resolve sent %lld ms after the series was last sent\n", (long long)after);
    assert_true(after > 20000 && after <= 25000);
    struct vg_local_stats st;
    vg_local_get_stats(l, &st);
    assert_int_equal(st.stale_resolved, 1);
    assert_int_equal(st.firing, 0);
    assert_int_equal(st.series, 2);
    while (st.series == 2 && i < last + 200) {
        tick2(l, i++, NULL, 0);
        vg_local_get_stats(l, &st);
    }
    print_message("forgotten %lld s after it was last sent\n", (long long)(i - 1 - last));
    assert_int_equal(st.series, 1);
    assert_int_equal(st.expired, 1);
    assert_true(i - 1 - last > 60 && i - 1 - last <= 65);
    assert_int_equal(cap.n, 2);
    vg_local_free(l);
}

static void idle_agent_with_old_delivery_is_not_an_outage(void **state)
{
    (void)state;
    struct vg_local_cfg c = base_cfg(VG_LOCAL_WHEN_OUTAGE);
    struct vg_local *l;
    char err[VG_ERRLEN];
    assert_int_equal(vg_local_new(&l, &c, HOST, NULL, NULL, err, sizeof err), 0);
    vg_local_kafka_ok(l, 0);
    /* An hour-long interval: nothing waits between ticks, the last delivery is an hour old. */
    assert_false(vg_local_outage(l, 3600000, 0));
    assert_false(vg_local_outage(l, 3600000, 1));
    assert_false(vg_local_outage(l, 3629999, 1));
    assert_true(vg_local_outage(l, 3630000, 1));
    /* A delivery ends it at once. */
    vg_local_kafka_ok(l, 3630001);
    assert_false(vg_local_outage(l, 3630002, 1));
    vg_local_free(l);
}

/* A read error of the spool holds its records on the disk and nothing reaches Kafka: the agent
 * cannot tell whether Kafka is down. A declared outage stays declared, and the timer of messages
 * that were waiting before keeps counting; only a delivery report ends either. */
static void unknown_waiting_neither_ends_nor_restarts_an_outage(void **state)
{
    (void)state;
    const uint64_t unknown = VG_LOCAL_WAITING_UNKNOWN;
    struct vg_local_cfg c = base_cfg(VG_LOCAL_WHEN_OUTAGE);
    struct vg_local *l;
    char err[VG_ERRLEN];
    assert_int_equal(vg_local_new(&l, &c, HOST, NULL, NULL, err, sizeof err), 0);
    vg_local_kafka_ok(l, 0);
    assert_false(vg_local_outage(l, 1000, 5));
    assert_true(vg_local_outage(l, 31000, 5));
    /* 40 s of a held read, no delivery report: still down. */
    for (int64_t t = 32000; t <= 72000; t += 1000)
        assert_true(vg_local_outage(l, t, unknown));
    assert_true(vg_local_outage(l, 73000, 1));
    /* A delivery ends it, and with it the timer of what waited before. */
    vg_local_kafka_ok(l, 73500);
    assert_false(vg_local_outage(l, 74000, unknown));
    assert_false(vg_local_outage(l, 200000, unknown));
    assert_false(vg_local_outage(l, 200001, 1));
    assert_false(vg_local_outage(l, 230000, 1));
    /* Nothing waits at 230 s; messages wait from 240 s, the read is held, released for a tick,
     * held again: the outage comes 30 s after they began to wait, whatever came between. */
    assert_false(vg_local_outage(l, 230000, 0));
    assert_false(vg_local_outage(l, 240000, 1));
    assert_false(vg_local_outage(l, 259000, unknown));
    assert_false(vg_local_outage(l, 260000, 1));
    assert_false(vg_local_outage(l, 269999, unknown));
    assert_true(vg_local_outage(l, 270000, unknown));
    assert_true(vg_local_outage(l, 272000, 1));
    assert_true(vg_local_outage(l, 273000, unknown));
    struct vg_local_stats st;
    vg_local_get_stats(l, &st);
    assert_int_equal(st.outages, 2);
    vg_local_free(l);
}

/* Kafka refusing messages for good (an ACL, a message too large) leaves nothing waiting, yet the
 * analyzer gets nothing: an outage once no delivery has succeeded for outage_after since the
 * first loss; a delivery ends it. */
static void lost_messages_with_nothing_waiting_are_an_outage(void **state)
{
    (void)state;
    struct vg_local_cfg c = base_cfg(VG_LOCAL_WHEN_OUTAGE);
    struct vg_local *l;
    char err[VG_ERRLEN];
    assert_int_equal(vg_local_new(&l, &c, HOST, NULL, NULL, err, sizeof err), 0);
    vg_local_kafka_ok(l, 0);
    vg_local_kafka_lost(l, 1000);
    vg_local_kafka_lost(l, 2000); /* the first loss counts */
    assert_false(vg_local_outage(l, 30999, 0));
    assert_true(vg_local_outage(l, 31000, 0));
    vg_local_kafka_ok(l, 31001);
    assert_false(vg_local_outage(l, 31002, 0));
    /* A loss long after the last delivery is not an outage at once. */
    vg_local_kafka_lost(l, 100000);
    assert_false(vg_local_outage(l, 100001, 0));
    assert_true(vg_local_outage(l, 130000, 0));
    struct vg_local_stats st;
    vg_local_get_stats(l, &st);
    assert_int_equal(st.outages, 2);
    vg_local_free(l);
}

static void refused_notification_is_counted_not_retried(void **state)
{
    (void)state;
    struct vg_local_cfg c = base_cfg(VG_LOCAL_WHEN_ALWAYS);
    struct capture cap = {.refuse = 1};
    struct vg_local *l;
    char err[VG_ERRLEN];
    assert_int_equal(vg_local_new(&l, &c, HOST, capture, &cap, err, sizeof err), 0);
    warm(l, 30, 0);
    ticks(l, 30, 40, 50);
    cap.refuse = 0;
    ticks(l, 40, 50, 0.5);
    struct vg_local_stats st;
    vg_local_get_stats(l, &st);
    assert_int_equal(st.fired, 1);
    assert_int_equal(st.send_failed, 1);
    assert_int_equal(st.sent, 0);
    assert_int_equal(st.resolved, 1);
    assert_int_equal(cap.n, 0); /* no resolve for a firing the receiver never got */
    vg_local_free(l);
}

static void series_beyond_max_are_refused_and_counted(void **state)
{
    (void)state;
    struct vg_local_cfg c = base_cfg(VG_LOCAL_WHEN_ALWAYS);
    c.max_series = 2;
    struct vg_local *l;
    char err[VG_ERRLEN];
    assert_int_equal(vg_local_new(&l, &c, HOST, NULL, NULL, err, sizeof err), 0);
    struct vg_wire_msg m;
    vg_wire_msg_init(&m);
    snprintf(m.host, sizeof m.host, "%s", HOST);
    m.ts_ms = T0;
    const char *names[] = {"a", "b", "c", "d"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(vg_wire_msg_add_metric(&m, names[i], 1.0, NULL, 0), 0);
    vg_local_tick(l, &m, 0, 0);
    struct vg_local_stats st;
    vg_local_get_stats(l, &st);
    assert_int_equal(st.series, 2);
    assert_int_equal(st.refused, 2);
    /* Series, not values: the same two names refused again on later ticks are still two. */
    for (int i = 1; i <= 3; i++) {
        m.ts_ms = T0 + i * 1000LL;
        vg_local_tick(l, &m, i * 1000LL, 0);
    }
    vg_wire_msg_free(&m);
    vg_local_get_stats(l, &st);
    assert_int_equal(st.series, 2);
    assert_int_equal(st.refused, 2);
    vg_local_free(l);
}

static void seasonal_model_scores_with_event_time(void **state)
{
    (void)state;
    struct vg_local_cfg c = base_cfg(VG_LOCAL_WHEN_ALWAYS);
    c.detector = "seasonal";
    c.dp.calib_init = 32;
    struct vg_local *l;
    char err[VG_ERRLEN];
    assert_int_equal(vg_local_new(&l, &c, HOST, NULL, NULL, err, sizeof err), 0);
    /* A noisy series, so that the calibration has a tail to fit. */
    for (int i = 0; i < 300; i++)
        tick(l, T0 + i * 1000LL, 0.5 + 0.01 * ((i * 7919) % 13), i * 1000LL, 0);
    struct vg_local_stats st;
    vg_local_get_stats(l, &st);
    assert_int_equal(st.series, 1);
    assert_int_equal(st.invalid, 0);
    assert_true(st.scored > 0);
    vg_local_free(l);
}

/* A state file in a fresh directory: dir (64 bytes) and the file's path in path (128 bytes). */
static void state_dir(char dir[64], char path[128])
{
    snprintf(dir, 64, "/tmp/vigil-test-local-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, 128, "%s/local-alerts", dir);
}

/* The base configuration (when=always) with its state file in a fresh state_dir(dir, path). */
static struct vg_local_cfg state_cfg(char dir[64], char path[128])
{
    state_dir(dir, path);
    struct vg_local_cfg c = base_cfg(VG_LOCAL_WHEN_ALWAYS);
    c.state_path = path;
    return c;
}

/* The base configuration (when=always) with a state file that cannot be written: its directory
 * does not exist. */
static struct vg_local_cfg unwritable_state_cfg(void)
{
    struct vg_local_cfg c = base_cfg(VG_LOCAL_WHEN_ALWAYS);
    c.state_path = "/nonexistent-vigil-dir/local-alerts";
    return c;
}

static void state_dir_remove(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* A guard for c under host that sends to cap (NULL: no send callback, as without a URL). */
static struct vg_local *guard_new(const struct vg_local_cfg *c, const char *host,
                                  struct capture *cap)
{
    struct vg_local *l;
    char err[VG_ERRLEN];
    assert_int_equal(vg_local_new(&l, c, host, cap ? capture : NULL, cap, err, sizeof err), 0);
    return l;
}

static struct vg_local_stats stats_of(struct vg_local *l)
{
    struct vg_local_stats st;
    vg_local_get_stats(l, &st);
    return st;
}

/* One tick at event time ts that carries no load.1m (as a first tick lacks the rates). */
static void tick_without_series(struct vg_local *l, int64_t ts, int64_t mono)
{
    struct vg_wire_msg m;
    vg_wire_msg_init(&m);
    snprintf(m.host, sizeof m.host, "%s", HOST);
    m.ts_ms = ts;
    m.interval_ms = 1000;
    vg_local_tick(l, &m, mono, 0);
    vg_wire_msg_free(&m);
}

/* A guard that sent one firing alert for load.1m (at T0 + 33 s) and was then dropped without a
 * stop, as a crash drops it: what is on disk is what the tick that sent it wrote. */
static void crash_with_one_sent_alert(struct vg_local_cfg *c, struct capture *cap)
{
    struct vg_local *l = guard_new(c, HOST, cap);
    warm(l, 30, 0);
    ticks(l, 30, 40, 50);
    assert_int_equal(cap->n, 1);
    assert_string_equal(cap->v[0].status, "firing");
    assert_int_equal(access(c->state_path, F_OK), 0);
    vg_local_free(l);
}

/* A state_cfg(dir, path) whose file crash_with_one_sent_alert() left, its firing in first (NULL:
 * not kept). */
static struct vg_local_cfg crashed_state_cfg(char dir[64], char path[128], struct capture *first)
{
    struct vg_local_cfg c = state_cfg(dir, path);
    struct capture unkept = {0};
    crash_with_one_sent_alert(&c, first ? first : &unkept);
    return c;
}

static void sent_alert_is_taken_over_by_the_next_guard_and_resolved_there(void **state)
{
    (void)state;
    char dir[64], path[128];
    struct capture first = {0};
    struct vg_local_cfg c = crashed_state_cfg(dir, path, &first);

    struct capture cap = {0};
    struct vg_local *l = guard_new(&c, HOST, &cap);
    struct vg_local_stats st = stats_of(l);
    assert_int_equal(st.restored, 1);
    assert_int_equal(st.firing, 1);
    assert_int_equal(st.state_errors, 0);
    /* Still high after the restart: the series goes on from its detector state, so it stays
     * firing, and is not sent again. Started over, it would have learned 50 in its warm-up (10
     * values) and resolved 5 s later. */
    ticks(l, 40, 60, 50);
    assert_int_equal(cap.n, 0);
    st = stats_of(l);
    assert_int_equal(st.firing, 1);
    assert_int_equal(access(path, F_OK), 0);
    /* Back to normal: below from 60 s, resolved at 65 s, with the firing's fingerprint and
     * start. */
    ticks(l, 60, 66, 0.5);
    assert_int_equal(cap.n, 1);
    assert_string_equal(cap.v[0].status, "resolved");
    assert_string_equal(cap.v[0].fingerprint, first.v[0].fingerprint);
    assert_int_equal(cap.v[0].starts_at, first.v[0].starts_at);
    assert_int_equal(cap.v[0].ends_at, T0 + 65000);
    assert_string_equal(cap.v[0].source, VG_LOCAL_SOURCE_VALUE);
    st = stats_of(l);
    assert_int_equal(st.firing, 0);
    assert_int_equal(st.resolved, 1);
    /* Nothing left to resolve: no file. */
    assert_int_not_equal(access(path, F_OK), 0);
    vg_local_free(l);

    /* A third guard finds nothing to take over. */
    l = guard_new(&c, HOST, &cap);
    st = stats_of(l);
    assert_int_equal(st.restored, 0);
    assert_int_equal(st.state_errors, 0);
    vg_local_free(l);
    state_dir_remove(dir);
}

/* A stop writes the detector states as they are then (vg_local_save); a guard that has not
 * ticked leaves the file as it found it. */
static void save_at_a_stop_keeps_the_alert_and_writes_nothing_before_a_tick(void **state)
{
    (void)state;
    char dir[64], path[128];
    struct capture first = {0};
    struct vg_local_cfg c = crashed_state_cfg(dir, path, &first);
    struct capture cap = {0};
    struct vg_local *l;
    /* Renamed host, stopped before its first tick: the alert is still in the file after. */
    l = guard_new(&c, "web-2", &cap);
    assert_int_equal(vg_local_save(l), 0);
    vg_local_free(l);
    l = guard_new(&c, HOST, &cap);
    ticks(l, 40, 45, 50);
    assert_int_equal(vg_local_save(l), 0);
    vg_local_free(l);
    l = guard_new(&c, HOST, &cap);
    struct vg_local_stats st = stats_of(l);
    assert_int_equal(st.restored, 1);
    ticks(l, 45, 51, 0.5);
    assert_int_equal(cap.n, 1);
    assert_string_equal(cap.v[0].status, "resolved");
    assert_int_equal(cap.v[0].starts_at, first.v[0].starts_at);
    vg_local_free(l);
    state_dir_remove(dir);
}

/* Alerts the new guard cannot judge are resolved on its first tick, under the host and
 * fingerprint they were sent with. */
static void alerts_the_guard_cannot_judge_are_resolved_on_the_first_tick(void **state)
{
    (void)state;
    char dir[64], path[128];
    struct vg_local_cfg c = state_cfg(dir, path);
    struct capture first = {0};
    struct vg_local *l;
    struct vg_local_stats st;
    struct {
        const char *host, *series, *why;
    } cases[] = {
        {"web-2", "", "host renamed"},
        {HOST, "cpu.*", "series no longer selected"},
    };
    for (size_t k = 0; k < VG_ARRAY_LEN(cases); k++) {
        print_message("%s\n", cases[k].why);
        first.n = 0;
        crash_with_one_sent_alert(&c, &first);
        struct vg_local_cfg c2 = c;
        c2.series = cases[k].series;
        struct capture cap = {0};
        l = guard_new(&c2, cases[k].host, &cap);
        tick(l, T0 + 40000, 50, 40000, 0);
        assert_int_equal(cap.n, 1);
        assert_string_equal(cap.v[0].status, "resolved");
        assert_string_equal(cap.v[0].host, HOST);
        assert_string_equal(cap.v[0].series, "load.1m");
        assert_string_equal(cap.v[0].fingerprint, first.v[0].fingerprint);
        assert_int_equal(cap.v[0].starts_at, first.v[0].starts_at);
        assert_int_equal(cap.v[0].ends_at, T0 + 40000);
        st = stats_of(l);
        assert_int_equal(st.restored, 0);
        assert_int_equal(st.resolved, 1);
        assert_int_equal(st.firing, 0);
        assert_int_not_equal(access(path, F_OK), 0);
        vg_local_free(l);
    }
    state_dir_remove(dir);
}

/* Without a URL (no send callback) nothing could resolve the alerts: the file is left as it is,
 * for a start with one. */
static void a_guard_without_a_receiver_leaves_the_file_alone(void **state)
{
    (void)state;
    char dir[64], path[128];
    struct vg_local_cfg c = crashed_state_cfg(dir, path, NULL);
    struct stat before, after;
    assert_int_equal(stat(path, &before), 0);
    struct vg_local *l = guard_new(&c, HOST, NULL);
    ticks(l, 40, 60, 0.5);
    assert_int_equal(vg_local_save(l), 0);
    vg_local_free(l);
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    assert_int_equal(before.st_size, after.st_size);
    state_dir_remove(dir);
}

/* Damage of every kind: logged, counted, moved aside to PATH.bad, never trusted in part, never
 * a crash; the guard starts without those alerts. */
static void a_damaged_state_file_is_counted_and_moved_aside(void **state)
{
    (void)state;
    char dir[64], path[128], bad[160];
    struct vg_local_cfg c = crashed_state_cfg(dir, path, NULL);
    snprintf(bad, sizeof bad, "%s.bad", path);
    size_t len = 0;
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char good[4096];
    len = fread(good, 1, sizeof good, f);
    fclose(f);
    assert_true(len > 40 && len < sizeof good);
    enum { FLIP, TRUNCATE, EXTEND, FOREIGN, EMPTY };
    for (int k = FLIP; k <= EMPTY; k++) {
        unsigned char b[4200];
        size_t n = len;
        memcpy(b, good, len);
        if (k == FLIP)
            b[len / 2] ^= 0x40;
        else if (k == TRUNCATE)
            n = len - 7;
        else if (k == EXTEND)
            memset(b + len, 0, 8), n = len + 8;
        else if (k == FOREIGN)
            memcpy(b, "VGLOCAL9", 8);
        else
            n = 0;
        f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(b, 1, n, f), n);
        fclose(f);
        unlink(bad);
        struct capture cap = {0};
        struct vg_local *l = guard_new(&c, HOST, &cap);
        struct vg_local_stats st = stats_of(l);
        assert_int_equal(st.state_errors, 1);
        assert_int_equal(st.restored, 0);
        assert_int_equal(st.firing, 0);
        assert_int_equal(access(bad, F_OK), 0);
        assert_int_not_equal(access(path, F_OK), 0);
        tick(l, T0 + 40000, 0.5, 40000, 0);
        assert_int_equal(cap.n, 0);
        vg_local_free(l);
    }
    state_dir_remove(dir);
}

/* Taken over after a downtime longer than local.stale_after, an alert on a series the first tick
 * does not have (a rate: cpu.*, disk and net rates start on the second tick) stays firing and is
 * not sent again while the value stays high: the agent's own downtime is not the series being
 * gone. It used to be resolved on the first tick (why=series_not_sent) and fire again with a new
 * starts_at on the next ones: a resolve and a new incident for one ongoing anomaly. */
static void
a_taken_over_alert_outlives_the_downtime_and_a_first_tick_without_its_series(void **state)
{
    (void)state;
    char dir[64], path[128];
    struct vg_local_cfg c = state_cfg(dir, path);
    c.stale_ms = 5000;
    struct capture first = {0};
    crash_with_one_sent_alert(&c, &first);
    struct capture cap = {0};
    struct vg_local *l = guard_new(&c, HOST, &cap);
    int64_t t1 = T0 + 40000 + 6 * 60000; /* 6 min later: past stale_after */
    tick_without_series(l, t1, 0);       /* no load.1m yet */
    for (int i = 1; i <= 10; i++)
        tick(l, t1 + i * 1000LL, 50, i * 1000LL, 0);
    assert_int_equal(cap.n, 0);
    struct vg_local_stats st = stats_of(l);
    assert_int_equal(st.restored, 1);
    assert_int_equal(st.firing, 1);
    assert_int_equal(st.stale_resolved, 0);
    /* Still gone once stale_after has passed since the restart: resolved then, as before. */
    for (int i = 11; i <= 20; i++)
        tick_without_series(l, t1 + i * 1000LL, i * 1000LL);
    assert_int_equal(cap.n, 1);
    assert_string_equal(cap.v[0].status, "resolved");
    assert_string_equal(cap.v[0].fingerprint, first.v[0].fingerprint);
    vg_local_free(l);
    state_dir_remove(dir);
}

/* Writes set to path, then sets its alert count to count (when nonzero) and the CRC-32 over the
 * body again: a file that passes the header checks, so that the body's are reached. */
static void write_with_count(const char *path, const struct vg_local_saved_set *set, uint32_t count)
{
    char err[VG_ERRLEN];
    assert_int_equal(vg_local_state_write(path, set, NULL, err, sizeof err), 0);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    unsigned char b[4096];
    size_t len = fread(b, 1, sizeof b, f);
    assert_true(len > 16 && len < sizeof b);
    if (count) {
        size_t at = 16 + 2 + strlen(set->host) + 2 + strlen(set->detector) + 4;
        for (int i = 0; i < 4; i++)
            b[at + i] = (unsigned char)(count >> (8 * i));
    }
    uint32_t crc = vg_crc32(0, b + 16, len - 16);
    for (int i = 0; i < 4; i++)
        b[8 + i] = (unsigned char)(crc >> (8 * i));
    rewind(f);
    assert_int_equal(fwrite(b, 1, len, f), len);
    fclose(f);
}

/* Files whose header and CRC-32 are right but whose body is not what the agent writes: a score
 * out of [0, 1] and a count past local.max_series' bound are refused whole, with the reason; a
 * series listed twice is taken over once. A count over the bound used to be checked only against
 * the bytes left, which let a crafted 16 MiB file list 322k alerts. */
static void a_valid_file_with_bad_fields_is_refused_or_taken_over_once(void **state)
{
    (void)state;
    char dir[64], path[128];
    state_dir(dir, path);
    struct vg_local_saved v[2] = {{.series = "load.1m",
                                   .fingerprint = "0123456789abcdef",
                                   .starts_at_ms = T0,
                                   .seen_ms = T0 + 1000,
                                   .score = 2.0,
                                   .value = 50},
                                  {.series = "load.1m",
                                   .fingerprint = "0123456789abcdef",
                                   .starts_at_ms = T0,
                                   .seen_ms = T0 + 1000,
                                   .score = 0.99999,
                                   .value = 50}};
    struct vg_local_saved_set set = {.host = HOST, .detector = "ewma", .v = v, .n = 1};
    struct vg_local_saved_set got;
    char err[VG_ERRLEN];
    write_with_count(path, &set, 0);
    assert_int_equal(vg_local_state_read(path, &got, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "alert 0 (load.1m): a field out of range"));
    vg_local_state_free(&got);

    set.v = v + 1;
    write_with_count(path, &set, VG_LOCAL_STATE_MAX_ALERTS + 1);
    assert_int_equal(vg_local_state_read(path, &got, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "more than local.max_series allows"));
    vg_local_state_free(&got);

    v[0].score = 0.99999;
    set.v = v;
    set.n = 2;
    write_with_count(path, &set, 0);
    assert_int_equal(vg_local_state_read(path, &got, err, sizeof err), 0);
    assert_int_equal(got.n, 2);
    vg_local_state_free(&got);
    struct vg_local_cfg c = base_cfg(VG_LOCAL_WHEN_ALWAYS);
    c.state_path = path;
    struct capture cap = {0};
    struct vg_local *l = guard_new(&c, HOST, &cap);
    struct vg_local_stats st = stats_of(l);
    assert_int_equal(st.restored, 1);
    assert_int_equal(st.firing, 1);
    assert_int_equal(st.state_errors, 0);
    vg_local_free(l);
    state_dir_remove(dir);
}

/* A file that cannot be written (its directory gone): each attempt counted, the first logged,
 * tried again on the next tick; the guard goes on sending. */
static void a_state_file_that_cannot_be_written_is_counted_and_retried(void **state)
{
    (void)state;
    struct vg_local_cfg c = unwritable_state_cfg();
    struct capture cap = {0};
    struct vg_local *l = guard_new(&c, HOST, &cap);
    warm(l, 30, 0);
    ticks(l, 30, 36, 50);
    assert_int_equal(cap.n, 1);
    struct vg_local_stats st = stats_of(l);
    assert_int_equal(st.state_errors, 3); /* sent at 33 s: written at 33, 34 and 35 s */
    vg_local_free(l);
}

/* The guard's send, flush and release callbacks, recorded: whether each release came after
 * state_path was written with the alerts then firing (its fingerprint in it, or no file once it
 * resolved). */
struct releases {
    struct capture cap;
    const char *state_path;
    int flushes, releases;
    int stale; /* releases while the file did not say what cap last got */
};

static int rel_send(void *ud, const struct vg_notification *n)
{
    return capture(&((struct releases *)ud)->cap, n);
}

static int rel_flush(void *ud)
{
    ((struct releases *)ud)->flushes++;
    return 0;
}

/* Whether the local-alerts at path names fingerprint fp (0 when there is no such file). */
static int state_names(const char *path, const char *fp)
{
    struct vg_local_saved_set set = {0};
    char err[VG_ERRLEN];
    int found = 0;
    if (vg_local_state_read(path, &set, err, sizeof err) == 0)
        for (size_t i = 0; i < set.n && !found; i++)
            found = strcmp(set.v[i].fingerprint, fp) == 0;
    vg_local_state_free(&set);
    return found;
}

static void rel_release(void *ud)
{
    struct releases *r = ud;
    r->releases++;
    const struct sent *last = &r->cap.v[r->cap.n - 1];
    int firing = strcmp(last->status, "firing") == 0;
    r->stale += state_names(r->state_path, last->fingerprint) != firing;
}

/* A guard for c under HOST whose send, flush and release callbacks record into r. */
static struct vg_local *releases_guard_new(const struct vg_local_cfg *c, struct releases *r)
{
    struct vg_local *l;
    char err[VG_ERRLEN];
    assert_int_equal(vg_local_new(&l, c, HOST, rel_send, r, err, sizeof err), 0);
    vg_local_set_flush(l, rel_flush, rel_release);
    return l;
}

/* Ticks 34 to 45 s: load.1m stays high to 39 s, then drops, so an alert that fired at 33 s
 * resolves at 45 s. */
static void hold_then_resolve(struct vg_local *l)
{
    ticks(l, 34, 40, 50);
    ticks(l, 40, 46, 0.5);
}

/* A tick's notifications are released to delivery only once local-alerts says what they say (the
 * firing's alert in it, the resolved one out of it), and only in ticks that sent something. */
static void a_tick_releases_what_it_sent_after_local_alerts_is_written(void **state)
{
    (void)state;
    char dir[64], path[128];
    struct vg_local_cfg c = state_cfg(dir, path);
    struct releases r = {.state_path = path};
    struct vg_local *l = releases_guard_new(&c, &r);
    warm(l, 30, 0);
    ticks(l, 30, 33, 50);
    assert_int_equal(r.releases, 0);
    tick(l, T0 + 33000, 50, 33000, 0); /* fires */
    assert_int_equal(r.cap.n, 1);
    assert_int_equal(r.flushes, 1);
    assert_int_equal(r.releases, 1);
    hold_then_resolve(l);
    assert_int_equal(r.cap.n, 2);
    assert_string_equal(r.cap.v[1].status, "resolved");
    assert_int_equal(r.releases, 2);
    assert_int_equal(r.stale, 0);
    assert_int_equal(stats_of(l).unsaved_sent, 0);
    vg_local_free(l);
    state_dir_remove(dir);
}

/* A local-alerts that cannot be written does not hold the tick's alerts back (the guard would be
 * silent on a host whose disk fails): they are released all the same, and counted. */
static void alerts_are_released_and_counted_when_local_alerts_cannot_be_written(void **state)
{
    (void)state;
    struct vg_local_cfg c = unwritable_state_cfg();
    struct releases r = {.state_path = c.state_path};
    struct vg_local *l = releases_guard_new(&c, &r);
    warm(l, 30, 0);
    ticks(l, 30, 34, 50); /* fires at 33 s */
    assert_int_equal(r.cap.n, 1);
    assert_int_equal(r.releases, 1);
    assert_int_equal(r.stale, 1); /* the file could not name it */
    struct vg_local_stats st = stats_of(l);
    assert_int_equal(st.unsaved_sent, 1);
    assert_int_equal(st.state_errors, 1);
    hold_then_resolve(l);
    assert_int_equal(r.cap.n, 2);
    assert_int_equal(r.releases, 2);
    /* With no alert left the file is removed, which its absence makes a success: released as
     * usual. */
    assert_int_equal(stats_of(l).unsaved_sent, 1);
    vg_local_free(l);
}

/* fdatasync() calls on an outbox file (test_local links with -Wl,--wrap=fdatasync), and how many
 * had been made when a local-alerts was last renamed into place (-Wl,--wrap=rename). */
static atomic_int g_outbox_syncs;
static atomic_int g_outbox_syncs_at_rename;
/* Firings the receiver of the ordering test got; while g_rename_waits is set, the rename of a
 * local-alerts first waits (1 s at most) for one to arrive. */
static atomic_int g_rx_firings;
static atomic_int g_rename_waits;

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);
int __wrap_fdatasync(int fd)
{
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n > 0) {
        path[n] = '\0';
        if (ends_with(path, ".outbox"))
            atomic_fetch_add(&g_outbox_syncs, 1);
    }
    return __real_fdatasync(fd);
}

int __real_rename(const char *from, const char *to);
int __wrap_rename(const char *from, const char *to);
int __wrap_rename(const char *from, const char *to)
{
    if (ends_with(to, "/local-alerts")) {
        atomic_store(&g_outbox_syncs_at_rename, atomic_load(&g_outbox_syncs));
        /* A firing delivered before the file names its alert gets every chance to arrive first,
         * whatever the scheduling; with the order kept none can, and the bound only ends the
         * wait. */
        int64_t end = vg_mono_ms() + 1000;
        while (atomic_load(&g_rename_waits) && !atomic_load(&g_rx_firings) && vg_mono_ms() < end)
            vg_sleep_ms(1, NULL);
    }
    return __real_rename(from, to);
}

/* The agent's local receiver as the guard's send and flush callbacks. */
struct rx {
    const struct vg_action *act;
    void *inst;
};

static int rx_send(void *ud, const struct vg_notification *n)
{
    struct rx *r = ud;
    return r->act->submit(r->inst, n);
}

static int rx_flush(void *ud)
{
    struct rx *r = ud;
    return r->act->flush ? r->act->flush(r->inst) : 0;
}

static void rx_release(void *ud)
{
    struct rx *r = ud;
    if (r->act->release)
        r->act->release(r->inst);
}

/* A receiver made from rc (the agent's local one) as the send and flush callbacks of a guard
 * for c under HOST, filled into r; the caller destroys r's instance and frees the guard. */
static struct vg_local *rx_guard_new(const struct vg_local_cfg *c, const struct vg_receiver_cfg *rc,
                                     struct rx *r)
{
    char err[VG_ERRLEN];
    assert_int_equal(vg_action_create(rc, &r->act, &r->inst, err, sizeof err), 0);
    struct vg_local *l;
    assert_int_equal(vg_local_new(&l, c, HOST, rx_send, r, err, sizeof err), 0);
    vg_local_set_flush(l, rx_flush, rx_release);
    return l;
}

/* A TCP socket listening (backlog as listen() takes it) on a free loopback port, and the http://
 * URL of that port in url; the caller closes it. */
static int loopback_listener(int backlog, char url[64])
{
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(ls >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(ls, backlog), 0);
    assert_int_equal(getsockname(ls, (struct sockaddr *)&sa, &sl), 0);
    snprintf(url, 64, "http://127.0.0.1:%d/", ntohs(sa.sin_port));
    return ls;
}

#define STORM 40 /* series that fire in one tick */

/* A state_cfg(dir, path) that lets all STORM series have an alert. */
static struct vg_local_cfg storm_state_cfg(char dir[64], char path[128])
{
    struct vg_local_cfg c = state_cfg(dir, path);
    c.max_series = STORM;
    return c;
}

/* The agent's local receiver's settings: webhook to url, outbox in dir, firings held, group
 * commit; each test adds its delivery timings. */
static struct vg_receiver_cfg local_receiver_cfg(const char *url, const char *dir)
{
    return (struct vg_receiver_cfg){.type = "webhook",
                                    .name = "local",
                                    .url = url,
                                    .outbox_dir = dir,
                                    .hold_firings = 1,
                                    .group_commit = 1,
                                    .key_prefix = "local.webhook"};
}

/* One tick (1 s intervals) with the STORM series storm.NN all at v. */
static void storm_tick(struct vg_local *l, int64_t i, double v)
{
    struct vg_wire_msg m;
    vg_wire_msg_init(&m);
    snprintf(m.host, sizeof m.host, "%s", HOST);
    m.ts_ms = T0 + i * 1000LL;
    m.interval_ms = 1000;
    for (int k = 0; k < STORM; k++) {
        char name[32];
        snprintf(name, sizeof name, "storm.%02d", k);
        assert_int_equal(vg_wire_msg_add_metric(&m, name, v, NULL, 0), 0);
    }
    vg_local_tick(l, &m, i * 1000LL, 0);
    vg_wire_msg_free(&m);
}

/* A storm of alerts that fire in one tick costs the tick thread (the one that pets the
 * watchdog) one fdatasync of the local receiver's outbox, not one per notification; and that one
 * comes before local-alerts is written, so the file never names a sent alert whose firing is not
 * durable in the outbox. The receiver (the agent's settings: webhook, outbox, held firings, group
 * commit) sends to a socket that never answers, so no acknowledgement syncs the outbox
 * meanwhile. */
static void a_storm_in_one_tick_costs_one_outbox_sync_before_local_alerts_is_written(void **state)
{
    (void)state;
    char dir[64], path[128];
    struct vg_local_cfg c = storm_state_cfg(dir, path);
    char url[64];
    int ls = loopback_listener(4, url);
    struct vg_receiver_cfg rc = local_receiver_cfg(url, dir);
    rc.timeout_ms = 60000;
    rc.backoff_initial_ms = 60000;
    struct rx r;
    struct vg_local *l = rx_guard_new(&c, &rc, &r);
    int64_t i = 0;
    for (; i < 30; i++)
        storm_tick(l, i, 0.5);
    for (; i < 33; i++) /* pending at 30, 31, 32 s */
        storm_tick(l, i, 50);
    assert_int_equal(stats_of(l).sent, 0);
    int before = atomic_load(&g_outbox_syncs);
    assert_int_not_equal(access(path, F_OK), 0); /* nothing sent yet: no file */
    atomic_store(&g_outbox_syncs_at_rename, -1); /* earlier tests wrote theirs */
    storm_tick(l, i, 50);                        /* all fire at 33 s */
    struct vg_local_stats st = stats_of(l);
    int syncs = atomic_load(&g_outbox_syncs) - before;
    print_message("%d notifications in one tick: %d outbox fdatasync(s), %llu us in send+flush\n",
                  STORM, syncs, (unsigned long long)st.send_us);
    assert_int_equal(st.sent, STORM);
    assert_int_equal(st.send_failed, 0);
    assert_int_equal(syncs, 1);
    assert_int_equal(atomic_load(&g_outbox_syncs_at_rename), before + 1);
    assert_true(st.send_us > 0);
    struct vg_action_stats as;
    r.act->stats(r.inst, &as);
    assert_int_equal(as.outbox_errors, 0);
    r.act->destroy(r.inst, 0);
    vg_local_free(l);
    close(ls);
    state_dir_remove(dir);
}

/* The JSON string value of "key" in body (the webhook's flat document), into out; 0 if none. */
static int body_str(const char *body, const char *key, char *out, size_t n)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\"", key);
    const char *p = strstr(body, k);
    if (!p || !(p = strchr(p + strlen(k), '\"')))
        return 0;
    const char *e = strchr(++p, '\"');
    if (!e || (size_t)(e - p) >= n)
        return 0;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return 1;
}

/* A webhook receiver in a thread of the test: answers every request 200, and for each firing
 * looks, before counting it, whether local-alerts on disk names its alert then. */
struct order_rx {
    int ls;
    const char *state_path;
    atomic_int unknown; /* firings whose alert the file did not name when they arrived */
    atomic_int stop;
};

static void order_rx_one(struct order_rx *r, int c)
{
    char buf[16384];
    size_t n = 0;
    const char *body = NULL;
    while (!body && n < sizeof buf - 1) {
        ssize_t k = recv(c, buf + n, sizeof buf - 1 - n, 0);
        if (k <= 0)
            return;
        n += (size_t)k;
        buf[n] = '\0';
        const char *h = strstr(buf, "\r\n\r\n");
        const char *cl = strcasestr(buf, "\r\ncontent-length:");
        if (h && cl && n >= (size_t)(h + 4 - buf) + strtoul(cl + 17, NULL, 10))
            body = h + 4;
    }
    char status[16], fp[32];
    if (body && body_str(body, "status", status, sizeof status) && strcmp(status, "firing") == 0 &&
        body_str(body, "fingerprint", fp, sizeof fp)) {
        if (!state_names(r->state_path, fp))
            atomic_fetch_add(&r->unknown, 1);
        atomic_fetch_add(&g_rx_firings, 1);
    }
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    (void)send(c, ok, sizeof ok - 1, MSG_NOSIGNAL);
}

static void *order_rx_run(void *arg)
{
    struct order_rx *r = arg;
    while (!atomic_load(&r->stop)) {
        struct pollfd p = {.fd = r->ls, .events = POLLIN};
        if (poll(&p, 1, 20) <= 0)
            continue;
        int c = accept(r->ls, NULL, NULL);
        if (c < 0)
            continue;
        order_rx_one(r, c);
        close(c);
    }
    return NULL;
}

/* The agent's local receiver (webhook, outbox, held firings, group commit) delivers none of a
 * tick's firings before local-alerts names their alerts: one delivered earlier, with the agent
 * killed before the file was written, was a firing at the receiver from an alert the next start
 * does not know, never resolved. The receiver is a real HTTP server on a socket that reads
 * local-alerts as each firing arrives; the rename of local-alerts waits for a firing to arrive
 * first, which one released before it would. */
static void no_firing_reaches_the_receiver_before_local_alerts_names_its_alert(void **state)
{
    (void)state;
    char dir[64], path[128];
    struct vg_local_cfg c = storm_state_cfg(dir, path);
    char url[64];
    struct order_rx o = {.ls = loopback_listener(64, url), .state_path = path};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, order_rx_run, &o), 0);
    struct vg_receiver_cfg rc = local_receiver_cfg(url, dir);
    rc.rate_per_s = -1;
    struct rx r;
    struct vg_local *l = rx_guard_new(&c, &rc, &r);
    int64_t i = 0;
    for (; i < 33; i++) /* warm, then pending at 30, 31, 32 s */
        storm_tick(l, i, i < 30 ? 0.5 : 50);
    atomic_store(&g_rx_firings, 0);
    atomic_store(&g_rename_waits, 1);
    storm_tick(l, i, 50); /* all fire at 33 s */
    atomic_store(&g_rename_waits, 0);
    assert_int_equal(stats_of(l).sent, STORM);
    int64_t end = vg_mono_ms() + 30000;
    while (atomic_load(&g_rx_firings) < STORM && vg_mono_ms() < end)
        vg_sleep_ms(5, NULL);
    print_message("%d firings received, %d before local-alerts named their alert\n",
                  atomic_load(&g_rx_firings), atomic_load(&o.unknown));
    assert_int_equal(atomic_load(&g_rx_firings), STORM);
    assert_int_equal(atomic_load(&o.unknown), 0);
    r.act->destroy(r.inst, 0);
    vg_local_free(l);
    atomic_store(&o.stop, 1);
    pthread_join(th, NULL);
    close(o.ls);
    state_dir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(series_globs_select_metrics),
        cmocka_unit_test(unselected_series_get_no_state),
        cmocka_unit_test(fires_after_for_and_resolves_after_resolve_for),
        cmocka_unit_test(outage_gate_sends_only_while_kafka_is_down),
        cmocka_unit_test(idle_agent_with_old_delivery_is_not_an_outage),
        cmocka_unit_test(alert_of_a_series_no_longer_sent_resolves_then_the_series_is_forgotten),
        cmocka_unit_test(lost_messages_with_nothing_waiting_are_an_outage),
        cmocka_unit_test(unknown_waiting_neither_ends_nor_restarts_an_outage),
        cmocka_unit_test(refused_notification_is_counted_not_retried),
        cmocka_unit_test(series_beyond_max_are_refused_and_counted),
        cmocka_unit_test(seasonal_model_scores_with_event_time),
        cmocka_unit_test(sent_alert_is_taken_over_by_the_next_guard_and_resolved_there),
        cmocka_unit_test(save_at_a_stop_keeps_the_alert_and_writes_nothing_before_a_tick),
        cmocka_unit_test(alerts_the_guard_cannot_judge_are_resolved_on_the_first_tick),
        cmocka_unit_test(a_guard_without_a_receiver_leaves_the_file_alone),
        cmocka_unit_test(a_damaged_state_file_is_counted_and_moved_aside),
        cmocka_unit_test(a_valid_file_with_bad_fields_is_refused_or_taken_over_once),
        cmocka_unit_test(
            a_taken_over_alert_outlives_the_downtime_and_a_first_tick_without_its_series),
        cmocka_unit_test(a_state_file_that_cannot_be_written_is_counted_and_retried),
        cmocka_unit_test(a_storm_in_one_tick_costs_one_outbox_sync_before_local_alerts_is_written),
        cmocka_unit_test(a_tick_releases_what_it_sent_after_local_alerts_is_written),
        cmocka_unit_test(alerts_are_released_and_counted_when_local_alerts_cannot_be_written),
        cmocka_unit_test(no_firing_reaches_the_receiver_before_local_alerts_names_its_alert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
