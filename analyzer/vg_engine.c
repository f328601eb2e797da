#include "vg_engine.h"

#include <errno.h>
#include <fnmatch.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_log.h"
#include "vg_strmap.h"
#include "vg_util.h"

#define MAX_GLOBS 32

struct series {
    struct vg_alert alert;
    double value, score;
    int warm;
    char fingerprint[17];
    /* Detector state, detector->state_size bytes; aligned for any model's doubles. */
    _Alignas(max_align_t) unsigned char det[];
};

struct host {
    struct vg_strmap series;
    char boot[VG_WIRE_BOOT_MAX + 1];
    uint64_t last_seq;
    int have_seq;
    int64_t last_ts_ms;
    double max_score;
    int scoring; /* logged "scoring" once */
};

struct vg_engine {
    struct vg_engine_params p;
    char *match_buf;
    char *globs[MAX_GLOBS];
    size_t n_globs;
    char *severity;
    struct vg_strmap hosts;
    struct vg_engine_stats st;
};

int vg_engine_new(struct vg_engine **out, const struct vg_engine_params *p, char *err,
                  size_t errlen)
{
    if (!p->detector)
        return vg_err(err, errlen, -EINVAL, "no detector given");
    struct vg_engine *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->p = *p;
    e->severity = strdup(p->severity ? p->severity : "warning");
    if (!e->severity)
        goto nomem;
    if (p->series_match && *p->series_match) {
        if (!(e->match_buf = strdup(p->series_match)))
            goto nomem;
        char *save = NULL;
        for (char *tok = strtok_r(e->match_buf, ", ", &save); tok;
             tok = strtok_r(NULL, ", ", &save)) {
            if (e->n_globs == MAX_GLOBS) {
                vg_engine_free(e);
                return vg_err(err, errlen, -EINVAL, "alert.series: more than %d patterns",
                              MAX_GLOBS);
            }
            e->globs[e->n_globs++] = tok;
        }
    }
    vg_strmap_init(&e->hosts);
    *out = e;
    return 0;
nomem:
    vg_engine_free(e);
    return -ENOMEM;
}

static int series_selected(const struct vg_engine *e, const char *name)
{
    if (!e->n_globs)
        return 1;
    for (size_t i = 0; i < e->n_globs; i++)
        if (fnmatch(e->globs[i], name, 0) == 0)
            return 1;
    return 0;
}

/* Stable across restarts and analyzers: receivers dedupe on it (PagerDuty dedup_key etc.). */
static void fingerprint(char out[17], const char *host, const char *series)
{
    uint64_t h = 1469598103934665603ULL;
    const char *parts[] = {"anomaly", host, series};
    for (size_t i = 0; i < 3; i++) {
        for (const char *s = parts[i]; *s; s++) {
            h ^= (unsigned char)*s;
            h *= 1099511628211ULL;
        }
        h ^= 0xff; /* separator, so ("ab","c") differs from ("a","bc") */
        h *= 1099511628211ULL;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static struct host *get_host(struct vg_engine *e, const char *name)
{
    struct host *h = vg_strmap_get(&e->hosts, name);
    if (h)
        return h;
    if (e->p.max_hosts && e->hosts.n >= e->p.max_hosts) {
        e->st.hosts_refused++;
        return NULL;
    }
    h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    vg_strmap_init(&h->series);
    if (vg_strmap_put(&e->hosts, name, h) < 0) {
        free(h);
        return NULL;
    }
    e->st.hosts++;
    return h;
}

static struct series *get_series(struct vg_engine *e, struct host *h, const char *host,
                                 const char *name)
{
    struct series *s = vg_strmap_get(&h->series, name);
    if (s)
        return s;
    if (e->p.max_series_per_host && h->series.n >= e->p.max_series_per_host) {
        e->st.series_refused++;
        return NULL;
    }
    s = calloc(1, sizeof(*s) + e->p.detector->state_size);
    if (!s)
        return NULL;
    e->p.detector->init(s->det);
    fingerprint(s->fingerprint, host, name);
    if (vg_strmap_put(&h->series, name, s) < 0) {
        free(s);
        return NULL;
    }
    e->st.series++;
    return s;
}

static void notify(struct vg_engine *e, const struct vg_wire_msg *m, const char *name,
                   struct series *s, enum vg_alert_event ev, double score, double value,
                   vg_engine_notify_fn fn, void *ud)
{
    const char *keys[64], *vals[64];
    size_t nl = m->n_labels < 64 ? m->n_labels : 64;
    for (size_t i = 0; i < nl; i++) {
        keys[i] = m->labels[i].key;
        vals[i] = m->labels[i].value;
    }
    struct vg_notification n = {
        .status = ev == VG_ALERT_EV_FIRED ? "firing" : "resolved",
        .alertname = "anomaly",
        .host = m->host,
        .series = name,
        .fingerprint = s->fingerprint,
        .severity = e->severity,
        .score = score,
        .value = value,
        .threshold = e->p.ap.threshold,
        .starts_at_ms = s->alert.firing_since,
        .ends_at_ms = ev == VG_ALERT_EV_RESOLVED ? m->ts_ms : 0,
        .event_ts_ms = m->ts_ms,
        .accepted_ms = vg_now_ms(),
        .label_keys = keys,
        .label_values = vals,
        .n_labels = nl,
    };
    if (ev == VG_ALERT_EV_FIRED) {
        e->st.alerts_fired++;
        e->st.firing++;
    } else {
        e->st.alerts_resolved++;
        e->st.firing--;
    }
    char q[256];
    vg_info(ev == VG_ALERT_EV_FIRED ? "alert firing" : "alert resolved",
            "host=%s series=%s score=%.6f value=%.6g fingerprint=%s", m->host,
            vg_log_quote(q, sizeof(q), name), score, value, s->fingerprint);
    if (fn)
        fn(ud, &n);
}

int vg_engine_process(struct vg_engine *e, const struct vg_wire_msg *m, vg_engine_notify_fn fn,
                      void *ud)
{
    struct host *h = get_host(e, m->host);
    if (!h)
        return e->p.max_hosts && e->hosts.n >= e->p.max_hosts ? 0 : -ENOMEM;
    /* Kafka delivers at least once: a message of the same boot that is not newer than the last
     * one seen was already learned from, and learning it twice would skew the baseline. */
    if (h->have_seq && strcmp(h->boot, m->boot) == 0) {
        if (m->seq <= h->last_seq) {
            e->st.duplicates++;
            return 1;
        }
        e->st.seq_gaps += m->seq - h->last_seq - 1;
    }
    snprintf(h->boot, sizeof(h->boot), "%s", m->boot);
    h->last_seq = m->seq;
    h->have_seq = 1;
    h->last_ts_ms = m->ts_ms;
    h->max_score = 0;
    e->st.messages++;

    for (size_t i = 0; i < m->n_metrics; i++) {
        const char *name = m->metrics[i].name;
        if (!series_selected(e, name))
            continue;
        struct series *s = get_series(e, h, m->host, name);
        if (!s)
            continue;
        double score, x = m->metrics[i].value;
        int rc = e->p.detector->update(s->det, &e->p.dp, x, &score);
        s->value = x;
        if (rc == -EAGAIN) {
            e->st.samples_warming++;
            continue;
        }
        if (rc < 0)
            continue;
        e->st.samples_scored++;
        s->score = score;
        s->warm = 1;
        if (score > h->max_score)
            h->max_score = score;
        if (!h->scoring) {
            h->scoring = 1;
            vg_info("host warmed up, scoring", "host=%s series=%zu", m->host, h->series.n);
        }
        enum vg_alert_event ev = vg_alert_step(&s->alert, &e->p.ap, score, m->ts_ms);
        if (ev != VG_ALERT_EV_NONE)
            notify(e, m, name, s, ev, score, x, fn, ud);
    }
    return 0;
}

void vg_engine_get_stats(const struct vg_engine *e, struct vg_engine_stats *out)
{
    *out = e->st;
}

static void fill_host(struct vg_engine_host *out, const char *name, const struct host *h)
{
    *out = (struct vg_engine_host){
        .name = name,
        .boot = h->boot,
        .last_seq = h->last_seq,
        .last_ts_ms = h->last_ts_ms,
        .max_score = h->max_score,
        .n_series = h->series.n,
    };
}

void vg_engine_each_host(const struct vg_engine *e,
                         void (*fn)(void *ud, const struct vg_engine_host *h), void *ud)
{
    for (size_t i = 0; i < e->hosts.cap; i++) {
        if (!e->hosts.keys[i])
            continue;
        struct vg_engine_host info;
        fill_host(&info, e->hosts.keys[i], e->hosts.vals[i]);
        fn(ud, &info);
    }
}

int vg_engine_describe_host(const struct vg_engine *e, const char *host, struct vg_engine_host *out,
                            void (*fn)(void *ud, const struct vg_engine_series *s), void *ud)
{
    const struct host *h = vg_strmap_get(&e->hosts, host);
    if (!h)
        return -ENOENT;
    fill_host(out, host, h);
    for (size_t i = 0; fn && i < h->series.cap; i++) {
        if (!h->series.keys[i])
            continue;
        const struct series *s = h->series.vals[i];
        struct vg_engine_series info = {
            .name = h->series.keys[i],
            .value = s->value,
            .score = s->score,
            .warm = s->warm,
            .state = s->alert.state,
        };
        fn(ud, &info);
    }
    return 0;
}

static void free_series(void *v)
{
    free(v);
}

static void free_host(void *v)
{
    struct host *h = v;
    vg_strmap_free(&h->series, free_series);
    free(h);
}

void vg_engine_free(struct vg_engine *e)
{
    if (!e)
        return;
    vg_strmap_free(&e->hosts, free_host);
    free(e->match_buf);
    free(e->severity);
    free(e);
}
