#include "vg_local.h"

#include <errno.h>
#include <fnmatch.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vg_local_state.h"
#include "vg_log.h"
#include "vg_strmap.h"
#include "vg_util.h"

#define MAX_GLOBS  32
#define MAX_LABELS 64
/* A tick whose sends (and their flush) take this long is logged: the tick thread alone pets the
 * systemd watchdog, and collection and Kafka wait meanwhile. */
#define SLOW_SEND_US 1000000

enum sent_state { UNSENT = 0, SENT, REFUSED };

struct series {
    struct vg_alert alert;
    enum sent_state sent;
    int64_t seen_ms;     /* event time of the last tick that had it */
    double score, value; /* as then, for a resolve sent because it went stale */
    char fingerprint[17];
    /* Detector state, detector->state_size bytes; aligned for any model's doubles. */
    _Alignas(max_align_t) unsigned char det[];
};

/* A sent firing alert of an earlier run that this guard cannot judge: resolved on the first tick,
 * the one that gives its resolve the agent's labels and an end time. */
struct orphan {
    struct vg_local_saved e;
    const char *why;
};

struct vg_local {
    struct vg_local_cfg cfg;
    const struct vg_detector *det;
    char host[VG_WIRE_HOST_MAX + 1];
    char *severity;
    char *glob_buf;
    char *globs[MAX_GLOBS];
    size_t n_globs;
    struct vg_strmap series;
    vg_local_send_fn send;
    vg_local_flush_fn flush;
    vg_local_release_fn release;
    void *ud;
    /* The tick being scored: notifications handed to send (accepted: those it took), and the
     * time send took. */
    uint64_t tick_sends, tick_accepted;
    int64_t tick_send_us;
    int flush_failed;   /* the last flush failed: tried again on the next tick, sends or not */
    int unsaved_logged; /* released with state_path unwritten: logged once until a write works */
    int64_t last_ok_ms; /* monotonic: the last successful delivery report (or creation) */
    int64_t waiting_since_ms; /* monotonic: since when messages have been waiting; 0: none */
    int64_t lost_since_ms;    /* monotonic: the first message lost since the last success */
    int down;
    int64_t swept_ms; /* event time of the last look for stale series */
    /* Series of the tick being scored that were not tracked: st.refused once it ends. Counted
     * per tick, as a tick has each name once; a set of refused names would grow with every
     * name that comes and goes. */
    uint64_t refused_now;
    int refused_logged;
    uint64_t ticks;
    /* state_path (NULL: not kept); dirty: the set of sent firing alerts changed since it was
     * written (or its write failed, tried again on the next tick); failing: the last write
     * failed (logged once until one succeeds). */
    char *state_path;
    int state_dirty, state_failing;
    char orphan_host[VG_WIRE_HOST_MAX + 1];
    struct orphan *orphans;
    size_t n_orphans;
    struct vg_local_stats st;
};

static void restore(struct vg_local *l);

int vg_local_new(struct vg_local **out, const struct vg_local_cfg *cfg, const char *host,
                 vg_local_send_fn send, void *ud, char *err, size_t errlen)
{
    *out = NULL;
    const struct vg_detector *det = cfg->detector ? vg_detector_find(cfg->detector) : NULL;
    if (!det)
        return vg_err(err, errlen, -EINVAL,
                      "local.detector: unknown model '%s' (ewma, seasonal or off)",
                      cfg->detector ? cfg->detector : "");
    struct vg_local *l = calloc(1, sizeof(*l));
    if (!l)
        return vg_err(err, errlen, -ENOMEM, "local guard: out of memory");
    l->cfg = *cfg;
    l->det = det;
    l->send = send;
    l->ud = ud;
    snprintf(l->host, sizeof(l->host), "%s", host);
    vg_strmap_init(&l->series);
    l->severity = strdup(cfg->severity ? cfg->severity : "warning");
    if (!l->severity)
        goto nomem;
    l->cfg.severity = l->severity;
    l->cfg.series = NULL; /* borrowed from the caller; the globs below point into our copy */
    if (cfg->series && *cfg->series) {
        if (!(l->glob_buf = strdup(cfg->series)))
            goto nomem;
        char *save = NULL;
        for (char *tok = strtok_r(l->glob_buf, ", ", &save); tok;
             tok = strtok_r(NULL, ", ", &save)) {
            if (l->n_globs == MAX_GLOBS) {
                vg_local_free(l);
                return vg_err(err, errlen, -EINVAL, "local.series: more than %d patterns",
                              MAX_GLOBS);
            }
            l->globs[l->n_globs++] = tok;
        }
    }
    l->cfg.detector = det->name;
    l->cfg.state_path = NULL; /* borrowed; l->state_path is ours */
    if (cfg->state_path && *cfg->state_path && !(l->state_path = strdup(cfg->state_path)))
        goto nomem;
    l->last_ok_ms = vg_mono_ms();
    if (l->state_path)
        restore(l);
    *out = l;
    return 0;
nomem:
    vg_local_free(l);
    return vg_err(err, errlen, -ENOMEM, "local guard: out of memory");
}

void vg_local_set_flush(struct vg_local *l, vg_local_flush_fn flush, vg_local_release_fn release)
{
    l->flush = flush;
    l->release = release;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void vg_local_free(struct vg_local *l)
{
    if (!l)
        return;
    vg_strmap_free(&l->series, free);
    for (size_t i = 0; i < l->n_orphans; i++)
        free(l->orphans[i].e.det);
    free(l->orphans);
    free(l->state_path);
    free(l->glob_buf);
    free(l->severity);
    free(l);
}

int vg_local_selected(const struct vg_local *l, const char *name)
{
    if (!l->n_globs)
        return 1;
    for (size_t i = 0; i < l->n_globs; i++)
        if (fnmatch(l->globs[i], name, 0) == 0)
            return 1;
    return 0;
}

/* The analyzer's fingerprint of (alertname, host, series) with "agent" added: stable across
 * restarts, and different from the analyzer's alert on the same series, so that a receiver
 * deduping on fingerprints never lets the agent's resolve close the analyzer's alert. */
static void fingerprint(char out[17], const char *host, const char *series)
{
    uint64_t h = 1469598103934665603ULL;
    const char *parts[] = {"anomaly", host, series, VG_LOCAL_SOURCE_VALUE};
    for (size_t i = 0; i < VG_ARRAY_LEN(parts); i++) {
        for (const char *s = parts[i]; *s; s++) {
            h ^= (unsigned char)*s;
            h *= 1099511628211ULL;
        }
        h ^= 0xff;
        h *= 1099511628211ULL;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static struct series *get_series(struct vg_local *l, const char *name)
{
    struct series *s = vg_strmap_get(&l->series, name);
    if (s)
        return s;
    if (l->series.n >= l->cfg.max_series) {
        l->refused_now++;
        if (!l->refused_logged) {
            l->refused_logged = 1;
            vg_warn("local guard: series limit reached, further series are not scored",
                    "max_series=%zu first_refused=%s", l->cfg.max_series, name);
        }
        return NULL;
    }
    s = calloc(1, sizeof(*s) + l->det->state_size);
    if (!s || vg_strmap_put(&l->series, name, s) < 0) {
        free(s);
        l->refused_now++;
        return NULL;
    }
    l->det->init(s->det);
    fingerprint(s->fingerprint, l->host, name);
    l->st.series = l->series.n;
    return s;
}

void vg_local_kafka_ok(struct vg_local *l, int64_t now_ms)
{
    l->last_ok_ms = now_ms;
    l->lost_since_ms = 0;
}

void vg_local_kafka_lost(struct vg_local *l, int64_t now_ms)
{
    if (!l->lost_since_ms)
        l->lost_since_ms = now_ms > 0 ? now_ms : 1;
}

int vg_local_outage(struct vg_local *l, int64_t now_ms, uint64_t waiting)
{
    /* Measured from the later of the last success and the moment messages began to wait, so
     * that an agent with a long interval, idle and empty between ticks, is not in an outage
     * just because its last delivery report is old. */
    if (waiting == VG_LOCAL_WAITING_UNKNOWN) {
        /* Neither "no trouble" (that ended a real outage, and restarted its timer at every read
         * error of the spool) nor "waiting" (no delivery report can come while nothing reaches
         * Kafka, so that declared an outage while Kafka was fine). A delivery since messages
         * began to wait shows that Kafka took them: the timer stops until they wait again. */
        if (l->waiting_since_ms && l->last_ok_ms > l->waiting_since_ms)
            l->waiting_since_ms = 0;
    } else if (!waiting) {
        l->waiting_since_ms = 0;
    } else if (!l->waiting_since_ms) {
        l->waiting_since_ms = now_ms;
    }
    /* Messages Kafka refused for good (or the agent dropped as too large) wait nowhere, yet the
     * analyzer gets none of them either: lost ones count as trouble as waiting ones do, from
     * the first one lost. */
    int64_t trouble = l->waiting_since_ms;
    if (l->lost_since_ms && (!trouble || l->lost_since_ms < trouble))
        trouble = l->lost_since_ms;
    int64_t from = l->last_ok_ms > trouble ? l->last_ok_ms : trouble;
    int down = trouble && now_ms - from >= l->cfg.outage_after_ms;
    if (down && !l->down) {
        l->st.outages++;
        char w[24] = "unknown";
        if (waiting != VG_LOCAL_WAITING_UNKNOWN)
            snprintf(w, sizeof w, "%llu", (unsigned long long)waiting);
        vg_warn("kafka not taking messages: local alerts are sent",
                "waiting=%s lost=%d since_last_delivery_ms=%lld firing=%llu", w,
                l->lost_since_ms != 0, (long long)(now_ms - l->last_ok_ms),
                (unsigned long long)l->st.firing);
    } else if (!down && l->down) {
        vg_info("kafka takes messages again: new local alerts are left to the analyzer",
                "firing=%llu", (unsigned long long)l->st.firing);
    }
    l->down = down;
    return down;
}

/* Sends one transition of the alert fingerprinted fp on host's series name, firing since
 * since; returns whether the callback took it. */
static int send_one(struct vg_local *l, const struct vg_wire_msg *m, const char *host,
                    const char *name, const char *fp, int64_t since, int firing, double score,
                    double value)
{
    const char *keys[MAX_LABELS + 1], *vals[MAX_LABELS + 1];
    size_t nl = 0;
    for (size_t i = 0; i < m->n_labels && nl < MAX_LABELS; i++) {
        if (strcmp(m->labels[i].key, VG_LOCAL_SOURCE_LABEL) == 0)
            continue; /* the marker must be ours, never a host label's */
        keys[nl] = m->labels[i].key;
        vals[nl++] = m->labels[i].value;
    }
    keys[nl] = VG_LOCAL_SOURCE_LABEL;
    vals[nl++] = VG_LOCAL_SOURCE_VALUE;
    char summary[512];
    snprintf(summary, sizeof(summary), "%s: %s %s on the agent (score %.4g, value %.6g)%s", host,
             name, firing ? "anomalous" : "resolved", score, value,
             l->cfg.when == VG_LOCAL_WHEN_OUTAGE && firing ? ", Kafka not taking its messages"
                                                           : "");
    struct vg_notification n = {
        .status = firing ? "firing" : "resolved",
        .alertname = "anomaly",
        .host = host,
        .series = name,
        .fingerprint = fp,
        .severity = l->severity,
        .score = score,
        .value = value,
        .threshold = l->cfg.ap.threshold,
        .starts_at_ms = since,
        .ends_at_ms = firing ? 0 : vg_event_resolved_at(since, m->ts_ms),
        .event_ts_ms = m->ts_ms,
        .accepted_ms = vg_now_ms(),
        .label_keys = keys,
        .label_values = vals,
        .n_labels = nl,
        .summary = summary,
    };
    char q[256];
    int64_t t0 = mono_us();
    int rc = l->send(l->ud, &n);
    l->tick_send_us += mono_us() - t0;
    l->tick_sends++;
    if (rc < 0) {
        l->st.send_failed++;
        vg_error("local alert not sent: delivery refused it",
                 "status=%s series=%s fingerprint=%s reason=\"%s\"", n.status,
                 vg_log_quote(q, sizeof(q), name), fp, strerror(-rc));
        return 0;
    }
    l->st.sent++;
    l->tick_accepted++;
    vg_info("local alert sent", "status=%s series=%s score=%.6f value=%.6g fingerprint=%s",
            n.status, vg_log_quote(q, sizeof(q), name), score, value, fp);
    return 1;
}

/* A firing alert ended (its score recovered, or its series went stale): logged, counted, and
 * its resolve sent when its firing was. */
static void resolved(struct vg_local *l, const struct vg_wire_msg *m, const char *name,
                     struct series *s, double score, double value, const char *why)
{
    char q[256];
    l->st.resolved++;
    l->st.firing--;
    vg_info("local alert resolved",
            "series=%s score=%.6f value=%.6g fingerprint=%s was_sent=%d why=%s",
            vg_log_quote(q, sizeof(q), name), score, value, s->fingerprint, s->sent == SENT, why);
    if (s->sent == SENT && l->send) {
        send_one(l, m, m->host, name, s->fingerprint, s->alert.firing_since, 0, score, value);
        l->state_dirty = 1; /* one alert fewer to resolve after a restart */
    } else if (s->sent == UNSENT) {
        l->st.not_sent++;
    }
    s->sent = UNSENT;
    /* A taken-over alert kept the fingerprint it was sent with; the next one is this host's. */
    fingerprint(s->fingerprint, l->host, name);
}

struct unseen_ctx {
    int64_t now, limit;
};

static int unseen_longer(void *ud, const void *v)
{
    const struct unseen_ctx *u = ud;
    return u->now - ((const struct series *)v)->seen_ms > u->limit;
}

/* Series the agent no longer sends (a cgroup or disk gone): a firing alert of one would never
 * resolve, and their state would fill max_series as names come and go. Looked at about 4 times
 * per stale_ms of event time. */
static void sweep(struct vg_local *l, const struct vg_wire_msg *m)
{
    int64_t stale = vg_alert_unreported_limit(l->cfg.stale_ms, m->interval_ms, 3);
    int64_t idle = vg_alert_unreported_limit(l->cfg.idle_ms, m->interval_ms, 10);
    int64_t every = stale ? stale / 4 : idle / 4;
    if (!every || (l->swept_ms && m->ts_ms - l->swept_ms < every && m->ts_ms >= l->swept_ms))
        return;
    l->swept_ms = m->ts_ms;
    for (size_t i = 0; i < l->series.cap; i++) {
        if (!l->series.keys[i])
            continue;
        struct series *s = l->series.vals[i];
        int64_t unseen = m->ts_ms - s->seen_ms;
        int expire = idle && unseen > idle;
        if (s->alert.state != VG_ALERT_INACTIVE && ((stale && unseen > stale) || expire)) {
            if (s->alert.state == VG_ALERT_FIRING) {
                l->st.stale_resolved++;
                resolved(l, m, l->series.keys[i], s, s->score, s->value, "series_not_sent");
            }
            s->alert = (struct vg_alert){0};
        }
    }
    struct unseen_ctx u = {m->ts_ms, idle};
    long n_gone = idle ? vg_strmap_del_if(&l->series, unseen_longer, &u, free) : 0;
    if (n_gone > 0)
        l->st.expired += (uint64_t)n_gone;
    l->st.series = l->series.n;
}

/* A pattern that matches nothing is most likely mistyped ("[mem", "cpu_*" for cpu.*): it
 * would score nothing, in silence. Looked at on the second tick, the first with rates. */
static void warn_unmatched(const struct vg_local *l, const struct vg_wire_msg *m)
{
    char q[256];
    for (size_t g = 0; g < l->n_globs; g++) {
        size_t i = 0;
        while (i < m->n_metrics && fnmatch(l->globs[g], m->metrics[i].name, 0) != 0)
            i++;
        if (i == m->n_metrics)
            vg_warn("local.series: a pattern matches no metric the agent sends",
                    "pattern=%s metrics=%zu", vg_log_quote(q, sizeof q, l->globs[g]), m->n_metrics);
    }
}

/* Writes the sent firing alerts to state_path (none: the file is removed, so that no file is
 * the normal case). A failure keeps state_dirty, so the next tick tries again; it is logged once
 * until a write succeeds, and counted each time. */
static int save_state(struct vg_local *l)
{
    struct vg_local_saved_set set = {.det_size = l->det->state_size};
    snprintf(set.host, sizeof set.host, "%s", l->host);
    snprintf(set.detector, sizeof set.detector, "%s", l->det->name);
    int rc = 0;
    size_t left = 0;
    char why[VG_ERRLEN];
    for (size_t i = 0; i < l->series.cap; i++) {
        const struct series *s = l->series.vals[i];
        if (l->series.keys[i] && s->alert.state == VG_ALERT_FIRING && s->sent == SENT)
            set.n++;
    }
    if (set.n && !(set.v = calloc(set.n, sizeof *set.v))) {
        rc = vg_err(why, sizeof why, -ENOMEM, "%s: out of memory", l->state_path);
    } else if (set.n) {
        size_t k = 0;
        for (size_t i = 0; i < l->series.cap; i++) {
            struct series *s = l->series.vals[i];
            if (!l->series.keys[i] || s->alert.state != VG_ALERT_FIRING || s->sent != SENT)
                continue;
            struct vg_local_saved *e = &set.v[k++];
            snprintf(e->series, sizeof e->series, "%s", l->series.keys[i]);
            memcpy(e->fingerprint, s->fingerprint, sizeof e->fingerprint);
            e->starts_at_ms = s->alert.firing_since;
            e->seen_ms = s->seen_ms;
            e->score = s->score;
            e->value = s->value;
            e->det = s->det; /* borrowed */
        }
        rc = vg_local_state_write(l->state_path, &set, &left, why, sizeof why);
    } else if (unlink(l->state_path) == 0) {
        vg_fsync_dir_of(l->state_path); /* best effort: the file is gone either way */
    } else if (errno != ENOENT) {
        rc = vg_err(why, sizeof why, -errno, "%s: removing it: %s", l->state_path, strerror(errno));
    }
    free(set.v);
    char q[VG_ERRLEN + 8];
    if (rc < 0) {
        l->st.state_errors++;
        if (!l->state_failing)
            vg_error("local guard: cannot keep its sent alerts on disk: after a restart their "
                     "receiver would not get their resolves",
                     "alerts=%zu reason=%s", set.n, vg_log_quote(q, sizeof q, why));
        l->state_failing = 1;
        return rc;
    }
    if (l->state_failing)
        vg_info("local guard: sent alerts kept on disk again", "file=%s alerts=%zu",
                vg_log_quote(q, sizeof q, l->state_path), set.n);
    l->state_failing = 0;
    l->state_dirty = 0;
    if (left) {
        l->st.state_errors++;
        vg_error("local guard: sent alerts beyond the bound of its state file not kept: after a "
                 "restart their receiver would not get their resolves",
                 "file=%s alerts=%zu left_out=%zu", vg_log_quote(q, sizeof q, l->state_path), set.n,
                 left);
    }
    return 0;
}

int vg_local_save(struct vg_local *l)
{
    if (!l || !l->state_path || !l->ticks)
        return 0;
    return save_state(l);
}

/* Takes over the sent firing alerts an earlier run left in state_path: each one the guard can
 * still judge becomes its series' firing, sent alert again, with the series' detector state when
 * the file has a usable one (without it the series warms up first, learning the value it then
 * resolves on); the others are resolved on the first tick. */
static void restore(struct vg_local *l)
{
    struct vg_local_saved_set set;
    char why[VG_ERRLEN], q[VG_ERRLEN + 8], q2[VG_ERRLEN + 8];
    int rc = vg_local_state_read(l->state_path, &set, why, sizeof why);
    if (rc == -ENOENT) {
        vg_local_state_free(&set);
        return;
    }
    if (rc < 0) {
        /* Moved aside, so that it can be looked at and is not refused again at every start; the
         * next write makes a new one. */
        char bad[4096];
        snprintf(bad, sizeof bad, "%s.bad", l->state_path);
        int moved = rc == -EINVAL && rename(l->state_path, bad) == 0;
        l->st.state_errors++;
        vg_error("local guard: the alerts an earlier run sent cannot be read: their resolves "
                 "will not be sent",
                 "reason=%s moved_to=%s", vg_log_quote(q, sizeof q, why),
                 moved ? vg_log_quote(q2, sizeof q2, bad) : "none");
        vg_local_state_free(&set);
        return;
    }
    if (!l->send) {
        /* Left in the file for a start with a URL: this one has nowhere to send resolves, and
         * rewriting the file would forget them. */
        if (set.n)
            vg_warn("local guard: alerts an earlier run sent stay unresolved: local.webhook.url "
                    "is not set",
                    "file=%s alerts=%zu", vg_log_quote(q, sizeof q, l->state_path), set.n);
        free(l->state_path);
        l->state_path = NULL;
        vg_local_state_free(&set);
        return;
    }
    int same_host = strcmp(set.host, l->host) == 0;
    int same_det = strcmp(set.detector, l->det->name) == 0 && set.det_size == l->det->state_size;
    size_t cold = 0;
    if (set.n && !(l->orphans = calloc(set.n, sizeof *l->orphans))) {
        l->st.state_errors++;
        vg_error("local guard: out of memory taking over the alerts an earlier run sent: their "
                 "resolves will not be sent",
                 "alerts=%zu", set.n);
        vg_local_state_free(&set);
        return;
    }
    snprintf(l->orphan_host, sizeof l->orphan_host, "%s", set.host);
    for (size_t i = 0; i < set.n; i++) {
        struct vg_local_saved *e = &set.v[i];
        const char *orphan = NULL;
        struct series *s = NULL;
        if (!same_host)
            orphan = "host_renamed";
        else if (!vg_local_selected(l, e->series))
            orphan = "series_not_selected";
        else if (vg_strmap_get(&l->series, e->series))
            continue; /* listed twice: the first one stands for both */
        else if (l->series.n >= l->cfg.max_series || !(s = get_series(l, e->series)))
            orphan = "max_series";
        if (orphan) {
            l->orphans[l->n_orphans].e = *e;
            l->orphans[l->n_orphans++].why = orphan;
            e->det = NULL; /* the orphan has it now */
            l->st.firing++;
            continue;
        }
        s->alert = (struct vg_alert){.state = VG_ALERT_FIRING, .firing_since = e->starts_at_ms};
        s->sent = SENT;
        s->seen_ms = e->seen_ms;
        s->score = e->score;
        s->value = e->value;
        memcpy(s->fingerprint, e->fingerprint, sizeof s->fingerprint);
        char cerr[VG_ERRLEN];
        if (e->det && same_det) {
            memcpy(s->det, e->det, set.det_size);
            if (l->det->check(s->det, cerr, sizeof cerr) < 0) {
                l->st.state_errors++;
                vg_warn("local guard: an earlier run's detector state refused, the series warms "
                        "up again",
                        "series=%s reason=%s", vg_log_quote(q, sizeof q, e->series),
                        vg_log_quote(q2, sizeof q2, cerr));
                l->det->init(s->det);
                cold++;
            }
        } else {
            cold++;
        }
        l->st.firing++;
        l->st.restored++;
    }
    vg_info("local guard: alerts an earlier run sent taken over, so that their resolves are sent",
            "file=%s alerts=%zu restored=%llu warming_up=%zu resolved_on_first_tick=%zu "
            "host_was=%s detector_was=%s",
            vg_log_quote(q, sizeof q, l->state_path), set.n, (unsigned long long)l->st.restored,
            cold, l->n_orphans, set.host, set.detector);
    /* Rewritten on the first tick: orphans resolved then, duplicates gone. */
    l->state_dirty = set.n > 0;
    vg_local_state_free(&set);
}

/* The taken-over alerts the guard cannot judge: their resolves, with this tick's labels and time.
 */
static void resolve_orphans(struct vg_local *l, const struct vg_wire_msg *m)
{
    char q[256];
    for (size_t i = 0; i < l->n_orphans; i++) {
        struct vg_local_saved *e = &l->orphans[i].e;
        l->st.resolved++;
        l->st.firing--;
        vg_info("local alert resolved",
                "series=%s score=%.6f value=%.6g fingerprint=%s was_sent=1 why=%s",
                vg_log_quote(q, sizeof(q), e->series), e->score, e->value, e->fingerprint,
                l->orphans[i].why);
        send_one(l, m, l->orphan_host, e->series, e->fingerprint, e->starts_at_ms, 0, e->score,
                 e->value);
        free(e->det);
    }
    free(l->orphans);
    l->orphans = NULL;
    l->n_orphans = 0;
    l->state_dirty = 1;
}

/* What the tick sent, made durable at once (group commit: one fdatasync, not one per
 * notification) and before state_path is written: a firing is in the outbox before its alert is
 * in the file, so a crash in between replays a firing the next start does not hold, which it
 * drops, never an alert held as sent whose firing is lost. A failed flush is the receiver's to
 * log and count, and is tried again on the next tick; the notifications are queued all the same,
 * and the file is written, as when a submit's own fdatasync failed. Slow ticks are logged. */
static void flush_sends(struct vg_local *l)
{
    if (!l->tick_sends && !l->flush_failed)
        return;
    if (l->flush) {
        int64_t t0 = mono_us();
        l->flush_failed = l->flush(l->ud) < 0;
        l->tick_send_us += mono_us() - t0;
    }
    l->st.send_us += (uint64_t)l->tick_send_us;
    if (l->tick_send_us >= SLOW_SEND_US)
        vg_warn("local guard: handing this tick's alerts to delivery took long: the tick (and "
                "the watchdog's pet) waited for it",
                "notifications=%llu ms=%lld", (unsigned long long)l->tick_sends,
                (long long)(l->tick_send_us / 1000));
}

/* What the tick sent may go to the receiver now that state_path names the alerts it fired (and
 * no longer those it resolved): a firing delivered before, with a crash before the file was
 * written, reached the receiver from an alert the next start does not know and never resolves.
 * A file that cannot be written does not hold them back: the guard pages while Kafka is down,
 * often on a host in trouble (a full or failing disk), and holding its alerts until the disk
 * recovers would silence it just then; they go, logged once until a write works and counted
 * (unsaved_sent), at the risk of a crash before a later write. */
static void release_sends(struct vg_local *l, int saved)
{
    if (saved) /* the file is current: a failed write keeps state_dirty */
        l->unsaved_logged = 0;
    if (!l->tick_sends)
        return;
    if (!saved && l->tick_accepted) {
        l->st.unsaved_sent += l->tick_accepted;
        if (!l->unsaved_logged) {
            char q[VG_ERRLEN + 8];
            vg_warn("local guard: alerts delivered although local-alerts could not be written: "
                    "a crash or power loss before a write works leaves a firing among them "
                    "unresolved at the receiver",
                    "notifications=%llu file=%s", (unsigned long long)l->tick_accepted,
                    vg_log_quote(q, sizeof q, l->state_path));
            l->unsaved_logged = 1;
        }
    }
    if (l->release)
        l->release(l->ud);
}

/* The series taken over at start (the only ones before the first tick) count as seen at the
 * first tick: the agent's own downtime is not the series being gone. Counted from the earlier
 * run's last value, a downtime past stale_after resolved every taken-over alert whose series the
 * first tick lacks (a rate: it starts on the second tick) and it fired again, under a new
 * starts_at, on the next ticks, while the anomaly went on. Gone for stale_after from here, it
 * resolves as any other series. */
static void restart_clock(struct vg_local *l, const struct vg_wire_msg *m)
{
    for (size_t i = 0; i < l->series.cap; i++)
        if (l->series.keys[i])
            ((struct series *)l->series.vals[i])->seen_ms = m->ts_ms;
}

void vg_local_tick(struct vg_local *l, const struct vg_wire_msg *m, int64_t now_ms,
                   uint64_t waiting)
{
    if (++l->ticks == 1)
        restart_clock(l, m);
    if (l->ticks == 2)
        warn_unmatched(l, m);
    l->tick_sends = 0;
    l->tick_accepted = 0;
    l->tick_send_us = 0;
    if (l->n_orphans)
        resolve_orphans(l, m);
    int gate = vg_local_outage(l, now_ms, waiting) || l->cfg.when == VG_LOCAL_WHEN_ALWAYS;
    char q[256];
    l->refused_now = 0;
    /* Waits count no step after which a series would be stale, as the analyzer's. */
    struct vg_alert_params ap = l->cfg.ap;
    ap.gap_ms = vg_alert_unreported_limit(l->cfg.stale_ms, m->interval_ms, 3);
    for (size_t i = 0; i < m->n_metrics; i++) {
        const char *name = m->metrics[i].name;
        double value = m->metrics[i].value;
        if (!vg_local_selected(l, name))
            continue;
        struct series *s = get_series(l, name);
        if (!s)
            continue;
        s->seen_ms = m->ts_ms;
        double score = 0;
        int rc = l->det->update_at ? l->det->update_at(s->det, &l->cfg.dp, m->ts_ms, value, &score)
                                   : l->det->update(s->det, &l->cfg.dp, value, &score);
        if (rc == -EAGAIN)
            continue; /* warming up: learned, not scored */
        if (rc < 0) {
            l->st.invalid++;
            continue;
        }
        l->st.scored++;
        s->score = score;
        s->value = value;
        enum vg_alert_event ev = vg_alert_step(&s->alert, &ap, score, m->ts_ms);
        if (ev == VG_ALERT_EV_FIRED) {
            l->st.fired++;
            l->st.firing++;
            s->sent = UNSENT;
            vg_info("local alert firing",
                    "series=%s score=%.6f value=%.6g fingerprint=%s kafka_down=%d",
                    vg_log_quote(q, sizeof(q), name), score, value, s->fingerprint, l->down);
        } else if (ev == VG_ALERT_EV_RESOLVED) {
            resolved(l, m, name, s, score, value, "score_recovered");
        }
        /* Level-triggered: an alert firing when the gate opens is sent then, so an anomaly that
         * began just before Kafka stopped taking messages is not lost between the two. */
        if (s->alert.state == VG_ALERT_FIRING && s->sent == UNSENT && gate && l->send) {
            s->sent = send_one(l, m, m->host, name, s->fingerprint, s->alert.firing_since, 1, score,
                               value)
                          ? SENT
                          : REFUSED;
            l->state_dirty |= s->sent == SENT;
        }
    }
    l->st.refused = l->refused_now;
    sweep(l, m);
    flush_sends(l);
    /* Once per tick, whatever changed in it: an alert sent now is on the disk before the next
     * tick, so a crash after it still leaves its resolve to the next run. */
    int saved = 1;
    if (l->state_dirty && l->state_path)
        saved = save_state(l) == 0;
    release_sends(l, saved);
}

void vg_local_each_sent(const struct vg_local *l,
                        void (*fn)(void *ud, const char *fingerprint, int64_t starts_at_ms),
                        void *ud)
{
    for (size_t i = 0; i < l->series.cap; i++) {
        const struct series *s = l->series.keys[i] ? l->series.vals[i] : NULL;
        if (s && s->sent == SENT && s->alert.state == VG_ALERT_FIRING)
            fn(ud, s->fingerprint, s->alert.firing_since);
    }
    for (size_t i = 0; i < l->n_orphans; i++)
        fn(ud, l->orphans[i].e.fingerprint, l->orphans[i].e.starts_at_ms);
}

void vg_local_get_stats(const struct vg_local *l, struct vg_local_stats *out)
{
    *out = l->st;
}
