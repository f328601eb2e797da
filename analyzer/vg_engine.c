#include "vg_engine.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_engine_int.h"
#include "vg_format.h"
#include "vg_log.h"
#include "vg_rule_state.h"
#include "vg_silence.h"
#include "vg_strmap.h"
#include "vg_util.h"

#define MAX_LABELS VG_WIRE_LABELS_MAX /* all a message can carry (vg_wire.h) */
/* A rule alert's labels: the host's, "host" and the rule's. Sized for all of them, since the
 * fingerprint hashes the whole list and a receiver that routes on a rule label (team) must get
 * it. */
#define ALERT_LABELS_MAX VG_RULE_ALERT_LABELS_MAX

/* What a notification says of its alert. RESTATED: it fires, and fired before this engine knew of
 * it (restored with its host, vg_engine_each_firing): said again, nothing counted. */
enum note { NOTE_FIRED, NOTE_RESOLVED, NOTE_RESTATED };

int vg_engine_new(struct vg_engine **out, const struct vg_engine_params *p, char *err,
                  size_t errlen)
{
    if (!p->detector)
        return vg_err(err, errlen, -EINVAL, "no detector given");
    struct vg_engine *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->p = *p;
    if (!e->p.clock)
        e->p.clock = vg_now_ms;
    e->severity = strdup(p->severity ? p->severity : "warning");
    if (!e->severity)
        goto nomem;
    if (p->series_match && *p->series_match) {
        if (!(e->match_buf = strdup(p->series_match)))
            goto nomem;
        char *save = NULL;
        for (char *tok = strtok_r(e->match_buf, ", ", &save); tok;
             tok = strtok_r(NULL, ", ", &save)) {
            if (e->n_globs == VG_ENGINE_MAX_GLOBS) {
                vg_engine_free(e);
                return vg_err(err, errlen, -EINVAL, "alert.series: more than %d patterns",
                              VG_ENGINE_MAX_GLOBS);
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

/* Notes which of alert.series' patterns match a metric name of m, one of h's first messages here;
 * after the VG_ENGINE_GLOB_CHECK_MSGS-th, judges them for h. A pattern that matched no host's
 * names yet is logged (once; the agent's local.series is checked alike, agent/vg_local.c) and
 * counted in alert_series_unmatched until some host's match. A mixed fleet (gpu.* on the GPU
 * hosts only) logs one line at most per pattern, never one per host. */
static void check_globs(struct vg_engine *e, struct host *h, const struct vg_wire_msg *m)
{
    if (!e->n_globs || h->glob_msgs >= VG_ENGINE_GLOB_CHECK_MSGS)
        return;
    for (size_t g = 0; g < e->n_globs; g++) {
        uint32_t bit = UINT32_C(1) << g;
        for (size_t i = 0; i < m->n_metrics && !(h->globs_seen & bit); i++)
            if (!vg_wire_name_reserved(m->metrics[i].name) &&
                fnmatch(e->globs[g], m->metrics[i].name, 0) == 0)
                h->globs_seen |= bit;
    }
    if (++h->glob_msgs < VG_ENGINE_GLOB_CHECK_MSGS)
        return;
    e->glob_hosts_checked++;
    char q[256];
    for (size_t g = 0; g < e->n_globs; g++) {
        struct glob_check *c = &e->glob_checks[g];
        if (h->globs_seen & (UINT32_C(1) << g)) {
            if (!c->matched && c->warned)
                vg_info("alert.series: a pattern that matched no series matches this host's",
                        "pattern=%s host=%s hosts_without=%llu",
                        vg_log_quote(q, sizeof q, e->globs[g]), m->host,
                        (unsigned long long)c->hosts_without);
            c->matched = 1;
            continue;
        }
        c->hosts_without++;
        if (c->matched || c->warned)
            continue;
        c->warned = 1;
        vg_warn("alert.series: a pattern matches no series of this host",
                "pattern=%s host=%s metrics=%zu hosts_checked=%llu",
                vg_log_quote(q, sizeof q, e->globs[g]), m->host, m->n_metrics,
                (unsigned long long)e->glob_hosts_checked);
    }
    uint64_t n = 0;
    for (size_t g = 0; g < e->n_globs; g++)
        n += !e->glob_checks[g].matched && e->glob_checks[g].hosts_without > 0;
    e->st.alert_series_unmatched = n;
}

void vg_engine_fingerprint(char out[17], const char *host, const char *series)
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

/* Whether a host not yet held would be refused: limits.max_hosts are held. */
static int host_refused(const struct vg_engine *e)
{
    return e->p.max_hosts && e->hosts.n >= e->p.max_hosts;
}

struct host *vg_engine_get_host(struct vg_engine *e, const char *name)
{
    struct host *h = vg_strmap_get(&e->hosts, name);
    if (h)
        return h;
    if (host_refused(e)) {
        e->st.hosts_refused++;
        return NULL;
    }
    h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->partition = -1;
    vg_strmap_init(&h->series);
    if (vg_strmap_put(&e->hosts, name, h) < 0) {
        free(h);
        return NULL;
    }
    e->st.hosts++;
    return h;
}

struct series *vg_engine_get_series(struct vg_engine *e, struct host *h, const char *host,
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
    vg_engine_fingerprint(s->fingerprint, host, name);
    if (vg_strmap_put(&h->series, name, s) < 0) {
        free(s);
        return NULL;
    }
    e->st.series++;
    return s;
}

static int is_stale(const struct vg_engine *e, const struct host *h, const struct series *s)
{
    int64_t lim = vg_alert_unreported_limit(e->p.stale_ms, h->interval_ms, 3);
    return lim && s->seen_ms && h->last_ts_ms - s->seen_ms > lim;
}

/* A label list as the notification's two arrays, which hold max entries. A longer list cannot
 * arrive (the wire, the rule loader and the state import bound it), but should one, the first
 * entries go: an alert's list starts with the host's labels, and "host" and the rule's own come
 * after them. Returns the count. */
static size_t label_arrays(const struct vg_kvlist *l, const char **keys, const char **vals,
                           size_t max)
{
    size_t skip = l->n > max ? l->n - max : 0;
    if (skip)
        vg_warn("alert labels cut: more than the analyzer can state", "labels=%zu kept=%zu", l->n,
                max);
    for (size_t i = skip; i < l->n; i++) {
        keys[i - skip] = l->items[i].key;
        vals[i - skip] = l->items[i].value;
    }
    return l->n - skip;
}

/* A transition's counts (a restated alert counts nothing). */
static void count_note(struct vg_engine *e, enum note kind)
{
    if (kind == NOTE_FIRED) {
        e->st.alerts_fired++;
        e->st.firing++;
    } else if (kind == NOTE_RESOLVED) {
        e->st.alerts_resolved++;
        e->st.firing--;
    }
}

int vg_engine_unnotified_add(struct host *h, const char *fp)
{
    for (uint32_t i = 0; i < h->n_unnotified; i++)
        if (strcmp(h->unnotified[i], fp) == 0)
            return 0;
    if (h->n_unnotified == h->cap_unnotified) {
        uint32_t cap = h->cap_unnotified ? h->cap_unnotified * 2 : 4;
        void *nv = realloc(h->unnotified, cap * sizeof(*h->unnotified));
        if (!nv)
            return -ENOMEM;
        h->unnotified = nv;
        h->cap_unnotified = cap;
    }
    snprintf(h->unnotified[h->n_unnotified++], VG_RULE_FINGERPRINT_LEN, "%s", fp);
    return 0;
}

int vg_engine_unnotified_del(struct host *h, const char *fp)
{
    for (uint32_t i = 0; i < h->n_unnotified; i++) {
        if (strcmp(h->unnotified[i], fp) != 0)
            continue;
        memcpy(h->unnotified[i], h->unnotified[--h->n_unnotified], VG_RULE_FINGERPRINT_LEN);
        return 1;
    }
    return 0;
}

/* A transition's mark in h's list of alerts not notified yet: a new firing is not notified
 * until the dispatcher says so (vg_engine_alert_notified), which it may do from within the
 * notify callback, so this comes before it; a resolved alert leaves the list. */
static void note_unnotified(struct host *h, const char *host, const char *fp, enum note kind)
{
    if (!fp || !*fp)
        return;
    if (kind == NOTE_RESOLVED) {
        vg_engine_unnotified_del(h, fp);
    } else if (kind == NOTE_FIRED && vg_engine_unnotified_add(h, fp) < 0) {
        /* Only what a crash during its group_wait would cost: taken as notified there. */
        vg_warn("out of memory: alert not marked as waiting for its notification",
                "host=%s fingerprint=%s effect=\"a restart before it is sent takes it as sent\"",
                host, fp);
    }
}

int vg_engine_alert_notified(struct vg_engine *e, const char *host, const char *fp)
{
    struct host *h = host && fp ? vg_strmap_get(&e->hosts, host) : NULL;
    if (!h)
        return -ENOENT;
    return vg_engine_unnotified_del(h, fp);
}

int vg_engine_alert_is_notified(const struct vg_engine *e, const char *host, const char *fp)
{
    const struct host *h = host && fp ? vg_strmap_get(&e->hosts, host) : NULL;
    if (!h)
        return 1;
    for (uint32_t i = 0; i < h->n_unnotified; i++)
        if (strcmp(h->unnotified[i], fp) == 0)
            return 0;
    return 1;
}

/* For a firing of h: when its firing notification goes out once more, or 0. A host that started
 * cold here may have moved from another analyzer, whose release of the host resolves its alerts,
 * at the latest this long after its first message here (VG_ENGINE_COLD_REPEAT_MARGIN_MS): a firing
 * before then may be one that resolve closes at the receivers, and is sent again after it. */
static int64_t cold_repeat_at(const struct vg_engine *e, const struct host *h)
{
    if (!h->cold_ms)
        return 0;
    /* When the old owner releases the host: as vg_engine_check_silent, else as expire_hosts. */
    int64_t lim = e->p.silent_ms ? vg_alert_unreported_limit(e->p.silent_ms, h->interval_ms, 3)
                                 : vg_alert_unreported_limit(e->p.host_idle_ms, h->interval_ms, 10);
    if (!lim)
        return 0; /* no release, no resolve from it */
    int64_t at = h->cold_ms + lim + VG_ENGINE_COLD_REPEAT_MARGIN_MS;
    return e->p.clock() < at ? at : 0;
}

const struct vg_kvlist *vg_engine_series_labels(const struct host *h, const struct series *s)
{
    return s->fired_labels ? s->fired_labels : &h->labels;
}

void vg_engine_series_forget_labels(struct series *s)
{
    if (!s->fired_labels)
        return;
    vg_kvlist_free(s->fired_labels);
    free(s->fired_labels);
    s->fired_labels = NULL;
}

/* Before h's labels change: each firing built-in alert keeps the labels it fired with, so that its
 * resolve (and a restatement after a move) carries the label set the receivers know it by. Out of
 * memory, it takes the new ones, as before this was kept: logged. */
static void keep_fired_labels(const char *host_name, struct host *h)
{
    for (size_t i = 0; i < h->series.cap; i++) {
        struct series *s = h->series.keys[i] ? h->series.vals[i] : NULL;
        if (!s || s->alert.state != VG_ALERT_FIRING || s->fired_labels)
            continue;
        struct vg_kvlist *l = calloc(1, sizeof(*l));
        int rc = l ? 0 : -ENOMEM;
        for (size_t k = 0; !rc && k < h->labels.n; k++)
            rc = vg_kvlist_set(l, h->labels.items[k].key, h->labels.items[k].value);
        if (rc) {
            if (l)
                vg_kvlist_free(l);
            free(l);
            vg_warn("out of memory: a firing alert takes its host's new labels",
                    "host=%s series=%s", host_name, h->series.keys[i]);
            continue;
        }
        s->fired_labels = l;
    }
}

/* A built-in alert's notification: the series' latest score and value, the host's labels (as in
 * its latest message, or as when the alert fired if they changed since), at event time ts. */
static void notify(struct vg_engine *e, const char *host_name, struct host *h, int64_t ts,
                   const char *name, struct series *s, enum note kind, vg_engine_notify_fn fn,
                   void *ud)
{
    if (kind == NOTE_FIRED) /* a new alert: the host's labels now */
        vg_engine_series_forget_labels(s);
    const char *keys[MAX_LABELS], *vals[MAX_LABELS];
    size_t nl = label_arrays(vg_engine_series_labels(h, s), keys, vals, MAX_LABELS);
    struct vg_notification n = {
        .status = kind == NOTE_RESOLVED ? "resolved" : "firing",
        .alertname = "anomaly",
        .host = host_name,
        .series = name,
        .fingerprint = s->fingerprint,
        .severity = e->severity,
        .score = s->score,
        .value = s->value,
        .threshold = e->p.ap.threshold,
        .starts_at_ms = s->alert.firing_since,
        .ends_at_ms = kind == NOTE_RESOLVED ? vg_event_resolved_at(s->alert.firing_since, ts) : 0,
        .event_ts_ms = ts,
        .accepted_ms = vg_now_ms(),
        .label_keys = keys,
        .label_values = vals,
        .n_labels = nl,
        .repeat_once_at_ms = kind != NOTE_RESOLVED ? cold_repeat_at(e, h) : 0,
    };
    count_note(e, kind);
    note_unnotified(h, host_name, s->fingerprint, kind);
    char q[256];
    if (kind != NOTE_RESTATED)
        vg_info(kind == NOTE_FIRED ? "alert firing" : "alert resolved",
                "host=%s series=%s score=%.6f value=%.6g fingerprint=%s", host_name,
                vg_log_quote(q, sizeof(q), name), s->score, s->value, s->fingerprint);
    if (fn)
        fn(ud, &n);
    if (kind == NOTE_RESOLVED)
        vg_engine_series_forget_labels(s);
}

/* ---- series history, for avg_over/max_over/min_over/rate ------------------------------------ */

int vg_engine_hist_push(struct series *s, int64_t ts, double v, int64_t window_ms)
{
    /* Forget what fell out of the window... */
    while (s->hn) {
        const struct sample *o = &s->hist[s->hhead];
        if (o->ts_ms > ts - window_ms && o->ts_ms <= ts)
            break;
        s->hhead = (s->hhead + 1) % s->hcap;
        s->hn--;
    }
    /* ...and, after the host's clock stepped back, what is now in its future: the ring stays
     * in time order, which the windows and the state record (hist_import) rely on. */
    while (s->hn && s->hist[(s->hhead + s->hn - 1) % s->hcap].ts_ms > ts)
        s->hn--;
    if (s->hn == s->hcap) {
        uint32_t nc = s->hcap ? s->hcap * 2 : 16;
        struct sample *nh = malloc(nc * sizeof(*nh));
        if (!nh)
            return -ENOMEM;
        for (uint32_t i = 0; i < s->hn; i++)
            nh[i] = s->hist[(s->hhead + i) % s->hcap];
        free(s->hist);
        s->hist = nh;
        s->hcap = nc;
        s->hhead = 0;
    }
    s->hist[(s->hhead + s->hn) % s->hcap] = (struct sample){ts, v};
    s->hn++;
    return 0;
}

int vg_engine_series_windowed(const struct vg_engine *e, struct series *s, const char *name)
{
    if (s->win_gen != e->rules_gen) {
        s->win_gen = e->rules_gen;
        s->windowed = e->window_ms > 0 && vg_rule_set_reads_window_of(e->rules, name);
        if (!s->windowed) {
            free(s->hist);
            s->hist = NULL;
            s->hcap = s->hhead = s->hn = 0;
        }
    }
    return s->windowed;
}

struct env_ctx {
    struct vg_engine *e;
    struct host *h;
    const char *host_name;
    char model_read[32]; /* the last host model the expression read, "" = none */
};

#define HOST_MODEL_PREFIX VG_WIRE_RESERVED_PREFIX

void vg_engine_set_host_models(struct vg_engine *e, const struct vg_engine_host_models *hm)
{
    e->hm = hm ? *hm : (struct vg_engine_host_models){0};
}

static int env_scores(void *ud, vg_expr_series_fn fn, void *fnud)
{
    const struct env_ctx *c = ud;
    const struct vg_strmap *m = &c->h->series;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        const struct series *s = m->vals[i];
        if (!s->warm || is_stale(c->e, c->h, s))
            continue;
        int rc = fn(fnud, m->keys[i], s->score);
        if (rc)
            return rc;
    }
    return 0;
}

static int env_value(void *ud, const char *name, double *out)
{
    struct env_ctx *c = ud;
    /* A host model's, always: no series has such a name (vg_engine_process refuses them), so
     * the same rule never reads a series on one analyzer and a model on another. */
    if (vg_wire_name_reserved(name)) {
        if (!c->e->hm.score || !c->host_name)
            return -ENOENT;
        const char *model = name + strlen(HOST_MODEL_PREFIX);
        snprintf(c->model_read, sizeof(c->model_read), "%s", model);
        return c->e->hm.score(c->e->hm.ud, c->host_name, model, out);
    }
    const struct series *s = vg_strmap_get(&c->h->series, name);
    if (!s || is_stale(c->e, c->h, s))
        return -ENOENT; /* a series no longer reported is missing, as a stale one in PromQL */
    *out = s->value;
    return 0;
}

static int env_window(void *ud, const char *name, int64_t dur_ms, enum vg_expr_window_fn fn,
                      double *out)
{
    const struct env_ctx *c = ud;
    const struct series *s = vg_strmap_get(&c->h->series, name);
    if (!s)
        return -ENOENT;
    int64_t now = c->h->last_ts_ms;
    double sum = 0, mx = -INFINITY, mn = INFINITY;
    size_t n = 0;
    const struct sample *first = NULL, *last = NULL;
    for (uint32_t i = 0; i < s->hn; i++) {
        const struct sample *x = &s->hist[(s->hhead + i) % s->hcap];
        if (x->ts_ms <= now - dur_ms || x->ts_ms > now)
            continue;
        if (!first)
            first = x;
        last = x;
        sum += x->v;
        mx = x->v > mx ? x->v : mx;
        mn = x->v < mn ? x->v : mn;
        n++;
    }
    if (!n)
        return -ENOENT;
    switch (fn) {
    case VG_EXPR_AVG_OVER:
        *out = sum / (double)n;
        return 0;
    case VG_EXPR_MAX_OVER:
        *out = mx;
        return 0;
    case VG_EXPR_MIN_OVER:
        *out = mn;
        return 0;
    case VG_EXPR_RATE:
        if (n < 2 || last->ts_ms == first->ts_ms)
            return -ENOENT;
        *out = (last->v - first->v) / ((double)(last->ts_ms - first->ts_ms) / 1000.0);
        return 0;
    }
    return -ENOENT;
}

static struct vg_expr_env env_of(struct env_ctx *c)
{
    return (struct vg_expr_env){c, env_scores, env_value, env_window};
}

/* ---- rules ---------------------------------------------------------------------------------- */

void vg_engine_rstate_forget_alert(struct rstate *rs)
{
    vg_kvlist_free(&rs->labels);
    free(rs->fired_top);
    rs->fired_top = NULL;
}

/* The host's labels as the rule API wants them. Returns the count. */
static size_t host_labels(const struct host *h, struct vg_label *out)
{
    size_t n = h->labels.n < MAX_LABELS ? h->labels.n : MAX_LABELS;
    for (size_t i = 0; i < n; i++)
        out[i] = (struct vg_label){h->labels.items[i].key, h->labels.items[i].value};
    return n;
}

/* The top series of a rule's alert, for the formats' top_metrics: highest score first. */
static size_t rule_top(const struct vg_rule_result *res, const struct host *h,
                       struct vg_top_metric *top, char names[][VG_WIRE_NAME_MAX + 1])
{
    size_t n = 0;
    const char *p = res->top_metrics;
    while (*p && n < VG_RULE_TOP_METRICS) {
        const char *eq = strchr(p, '=');
        if (!eq)
            break;
        size_t len = (size_t)(eq - p);
        if (len > VG_WIRE_NAME_MAX)
            len = VG_WIRE_NAME_MAX;
        memcpy(names[n], p, len);
        names[n][len] = '\0';
        const struct series *s = vg_strmap_get(&h->series, names[n]);
        top[n] = (struct vg_top_metric){names[n], s ? s->value : NAN, NAN};
        n++;
        const char *comma = strstr(eq, ", ");
        if (!comma)
            break;
        p = comma + 2;
    }
    return n;
}

static void rule_notify(struct vg_engine *e, const struct vg_rule *r, const char *host_name,
                        struct host *h, const struct rstate *rs, enum note kind,
                        const struct vg_rule_result *res, int64_t ts, vg_engine_notify_fn fn,
                        void *ud)
{
    const char *keys[ALERT_LABELS_MAX], *vals[ALERT_LABELS_MAX];
    size_t nl = label_arrays(&rs->labels, keys, vals, ALERT_LABELS_MAX);
    size_t na = vg_rule_annotation_count(r);
    if (na > MAX_LABELS)
        na = MAX_LABELS;
    const char *akeys[MAX_LABELS], *avals[MAX_LABELS];
    char *abuf = NULL;
    size_t per = 2048;
    if (na && (abuf = malloc(na * per)))
        for (size_t i = 0; i < na; i++) {
            akeys[i] = vg_rule_annotation_name(r, i);
            vg_rule_render_annotation(r, i, host_name, &rs->labels, res, abuf + i * per, per);
            avals[i] = abuf + i * per;
        }
    else
        na = 0;
    const char *summary = NULL;
    for (size_t i = 0; i < na; i++)
        if (strcmp(akeys[i], "summary") == 0)
            summary = avals[i];
    struct vg_top_metric top[VG_RULE_TOP_METRICS];
    char names[VG_RULE_TOP_METRICS][VG_WIRE_NAME_MAX + 1];
    size_t nt = res ? rule_top(res, h, top, names) : 0;
    const char *recv[64];
    size_t nr = vg_rule_action_count(r) < 64 ? vg_rule_action_count(r) : 64;
    for (size_t i = 0; i < nr; i++)
        recv[i] = vg_rule_action(r, i);
    int fired = kind != NOTE_RESOLVED;
    struct vg_notification n = {
        .status = fired ? "firing" : "resolved",
        .alertname = vg_rule_name(r),
        .host = host_name,
        .fingerprint = rs->fp,
        .severity = vg_rule_severity_name(vg_rule_severity(r)),
        .score = res ? res->score : NAN,
        .value = res ? res->value : NAN,
        .threshold = NAN,
        .starts_at_ms = rs->st.fired_at,
        .ends_at_ms = fired ? 0 : vg_event_resolved_at(rs->st.fired_at, ts),
        .event_ts_ms = ts,
        .accepted_ms = vg_now_ms(),
        .label_keys = keys,
        .label_values = vals,
        .n_labels = nl,
        .summary = summary,
        .top_metrics = nt ? top : NULL,
        .n_top_metrics = nt,
        .annotation_keys = na ? akeys : NULL,
        .annotation_values = na ? avals : NULL,
        .n_annotations = na,
        .receivers = nr ? recv : NULL,
        .n_receivers = nr,
        .repeat_once_at_ms = kind != NOTE_RESOLVED ? cold_repeat_at(e, h) : 0,
    };
    count_note(e, kind);
    note_unnotified(h, host_name, rs->fp, kind);
    if (kind != NOTE_RESTATED)
        vg_info(fired ? "alert firing" : "alert resolved",
                "rule=%s host=%s value=%.6g fingerprint=%s", vg_rule_name(r), host_name,
                res ? res->value : NAN, rs->fp);
    if (fn)
        fn(ud, &n);
    free(abuf);
}

void vg_engine_fired_result(const struct rstate *rs, struct vg_rule_result *res)
{
    *res = (struct vg_rule_result){1, rs->fired_value, rs->fired_score, ""};
    if (rs->fired_top)
        snprintf(res->top_metrics, sizeof(res->top_metrics), "%s", rs->fired_top);
}

static void free_orphan(struct orphan *o)
{
    free(o->rule);
    vg_engine_rstate_forget_alert(&o->rs);
    free(o->severity);
    vg_kvlist_free(&o->annotations);
    for (size_t i = 0; i < o->n_receivers; i++)
        free(o->receivers[i]);
    free(o->receivers);
}

void vg_engine_drop_orphans(struct vg_engine *e, struct host *h)
{
    for (size_t i = 0; i < h->n_orphans; i++) {
        if (e && e->st.firing)
            e->st.firing--;
        free_orphan(&h->orphans[i]);
    }
    free(h->orphans);
    h->orphans = NULL;
    h->n_orphans = 0;
}

/* Resolves h's orphans at its latest event time, as vg_engine_set_rules() resolves the alerts of
 * a rule a reload removed: no value (the rule is not evaluated here), the rest as the old owner
 * stated it. Returns how many. */
static size_t resolve_orphans_of(struct vg_engine *e, const char *host_name, struct host *h,
                                 vg_engine_notify_fn fn, void *ud)
{
    size_t n_done = h->n_orphans;
    for (size_t i = 0; i < n_done; i++) {
        const struct orphan *o = &h->orphans[i];
        const char *keys[ALERT_LABELS_MAX], *vals[ALERT_LABELS_MAX];
        size_t nl = label_arrays(&o->rs.labels, keys, vals, ALERT_LABELS_MAX);
        const char *akeys[MAX_LABELS], *avals[MAX_LABELS];
        size_t na = label_arrays(&o->annotations, akeys, avals, MAX_LABELS);
        int64_t ts = h->last_ts_ms;
        struct vg_notification n = {
            .status = "resolved",
            .alertname = o->rule,
            .host = host_name,
            .fingerprint = o->rs.fp,
            .severity = o->severity,
            .score = NAN,
            .value = NAN,
            .threshold = NAN,
            .starts_at_ms = o->rs.st.fired_at,
            .ends_at_ms = ts,
            .event_ts_ms = ts,
            .accepted_ms = vg_now_ms(),
            .label_keys = keys,
            .label_values = vals,
            .n_labels = nl,
            .summary = vg_kvlist_get(&o->annotations, "summary"),
            .annotation_keys = na ? akeys : NULL,
            .annotation_values = na ? avals : NULL,
            .n_annotations = na,
            .receivers = o->n_receivers ? (const char *const *)o->receivers : NULL,
            .n_receivers = o->n_receivers,
        };
        count_note(e, NOTE_RESOLVED);
        vg_engine_unnotified_del(h, o->rs.fp);
        e->st.rule_states_resolved++;
        /* as_fired=0: the record came from an analyzer that did not write how the alert was
         * stated, so it goes to every receiver, without severity or annotations. */
        vg_info("rule not loaded here: resolving the alert its host brought",
                "rule=%s host=%s fingerprint=%s as_fired=%d", o->rule, host_name, o->rs.fp,
                o->severity != NULL);
        vg_info("alert resolved", "rule=%s host=%s value=%.6g fingerprint=%s", o->rule, host_name,
                NAN, o->rs.fp);
        if (fn)
            fn(ud, &n);
    }
    /* Off the firing count already (count_note): only the memory is left to free. */
    for (size_t i = 0; i < n_done; i++)
        free_orphan(&h->orphans[i]);
    free(h->orphans);
    h->orphans = NULL;
    h->n_orphans = 0;
    return n_done;
}

size_t vg_engine_resolve_orphans(struct vg_engine *e, vg_engine_notify_fn fn, void *ud)
{
    size_t n = 0;
    for (size_t i = 0; i < e->hosts.cap; i++) {
        struct host *h = e->hosts.keys[i] ? e->hosts.vals[i] : NULL;
        if (h && h->n_orphans)
            n += resolve_orphans_of(e, e->hosts.keys[i], h, fn, ud);
    }
    return n;
}

/* A rule that read a host model is about that model's anomaly: its score and top metrics are
 * the model's, so that the alert names e.g. disk_wa and load_1 rather than the series that
 * happen to score highest on their own. */
static void host_model_top(struct vg_engine *e, const char *host, const char *model,
                           struct vg_rule_result *res)
{
    const char *names[VG_RULE_TOP_METRICS];
    double shares[VG_RULE_TOP_METRICS], score;
    if (!e->hm.top || e->hm.score(e->hm.ud, host, model, &score) < 0)
        return;
    size_t n = e->hm.top(e->hm.ud, host, model, names, shares, VG_RULE_TOP_METRICS);
    if (!n)
        return;
    res->score = score;
    size_t used = 0;
    res->top_metrics[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(res->top_metrics + used, sizeof(res->top_metrics) - used, "%s%s=%.3g",
                         i ? ", " : "", names[i], shares[i]);
        if (w < 0 || (size_t)w >= sizeof(res->top_metrics) - used)
            break;
        used += (size_t)w;
    }
}

static void eval_rules(struct vg_engine *e, const char *host_name, struct host *h, int64_t ts,
                       vg_engine_notify_fn fn, void *ud)
{
    const struct vg_rule_set *set = e->rules;
    struct vg_label labels[MAX_LABELS];
    size_t nl = host_labels(h, labels);
    struct env_ctx c = {e, h, host_name, ""};
    struct vg_expr_env env = env_of(&c);
    /* A wait counts no step after which the host's series would be stale (vg_event_gap). */
    int64_t gap = vg_alert_unreported_limit(e->p.stale_ms, h->interval_ms, 3);
    for (size_t i = 0; i < h->n_rs; i++) {
        const struct vg_rule *r = vg_rule_set_rule(set, i);
        struct rstate *rs = &h->rs[i];
        int applies = vg_rule_matches_host(r, host_name, labels, nl);
        /* A host whose labels changed so that the rule no longer applies counts as the
         * condition being false: a firing alert resolves rather than hanging forever. */
        if (!applies && rs->st.state != VG_RULE_STATE_FIRING &&
            rs->st.state != VG_RULE_STATE_PENDING)
            continue;
        struct vg_rule_result res;
        int cond = 0;
        if (applies) {
            e->st.rule_evals++;
            c.model_read[0] = '\0';
            if (vg_rule_eval(r, &env, &res) < 0) {
                e->st.rule_eval_errors++;
                continue;
            }
            cond = res.matched;
            if (c.model_read[0])
                host_model_top(e, host_name, c.model_read, &res);
        } else {
            res = (struct vg_rule_result){0, NAN, NAN, ""};
        }
        enum vg_rule_state_event ev = vg_rule_state_step(
            &rs->st, vg_rule_for_ms(r), vg_rule_keep_firing_for_ms(r), gap, cond, ts);
        if (ev == VG_RULE_EV_FIRED) {
            vg_kvlist_free(&rs->labels);
            if (vg_rule_alert_labels(r, host_name, labels, nl, &rs->labels) < 0) {
                e->st.rule_eval_errors++;
                vg_kvlist_free(&rs->labels);
            }
            vg_rule_fingerprint(vg_rule_name(r), rs->labels.items, rs->labels.n, rs->fp);
            rs->fired_value = res.value;
            rs->fired_score = res.score;
            free(rs->fired_top);
            rs->fired_top = res.top_metrics[0] ? strdup(res.top_metrics) : NULL;
            rule_notify(e, r, host_name, h, rs, NOTE_FIRED, &res, ts, fn, ud);
        } else if (ev == VG_RULE_EV_RESOLVED) {
            rule_notify(e, r, host_name, h, rs, NOTE_RESOLVED, &res, ts, fn, ud);
            vg_engine_rstate_forget_alert(rs);
        }
    }
}

int vg_engine_host_fit_rules(struct vg_engine *e, struct host *h)
{
    size_t n = e->rules ? vg_rule_set_count(e->rules) : 0;
    if (h->n_rs == n && (n == 0 || h->rs))
        return 0;
    struct rstate *rs = n ? calloc(n, sizeof(*rs)) : NULL;
    if (n && !rs)
        return -ENOMEM;
    free(h->rs);
    h->rs = rs;
    h->n_rs = n;
    return 0;
}

int vg_engine_set_rules(struct vg_engine *e, const struct vg_rule_set *set, vg_engine_notify_fn fn,
                        void *ud)
{
    size_t n = set ? vg_rule_set_count(set) : 0;
    /* Allocate every host's new states first, so that running out of memory changes nothing. */
    struct rstate **fresh = calloc(e->hosts.cap ? e->hosts.cap : 1, sizeof(*fresh));
    if (!fresh)
        return -ENOMEM;
    for (size_t i = 0; n && i < e->hosts.cap; i++) {
        if (!e->hosts.keys[i])
            continue;
        if (!(fresh[i] = calloc(n, sizeof(struct rstate)))) {
            for (size_t j = 0; j < i; j++)
                free(fresh[j]);
            free(fresh);
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < e->hosts.cap; i++) {
        if (!e->hosts.keys[i])
            continue;
        struct host *h = e->hosts.vals[i];
        for (size_t k = 0; k < h->n_rs; k++) {
            const struct vg_rule *old = vg_rule_set_rule(e->rules, k);
            const struct vg_rule *now = NULL;
            size_t at = 0;
            for (at = 0; at < n; at++) {
                now = vg_rule_set_rule(set, at);
                if (strcmp(vg_rule_name(now), vg_rule_name(old)) == 0)
                    break;
            }
            if (at < n) {
                fresh[i][at] = h->rs[k]; /* moves the labels too */
                continue;
            }
            if (h->rs[k].st.state == VG_RULE_STATE_FIRING) {
                vg_info("rule removed by reload: resolving its alert", "rule=%s host=%s",
                        vg_rule_name(old), e->hosts.keys[i]);
                rule_notify(e, old, e->hosts.keys[i], h, &h->rs[k], NOTE_RESOLVED, NULL,
                            h->last_ts_ms, fn, ud);
            }
            vg_engine_rstate_forget_alert(&h->rs[k]);
        }
        free(h->rs);
        h->rs = fresh[i];
        h->n_rs = n;
    }
    free(fresh);
    e->rules = set;
    e->window_ms = set ? vg_rule_set_max_window_ms(set) : 0;
    e->rules_gen++;
    return 0;
}

void vg_engine_set_silences(struct vg_engine *e, struct vg_silences *sil)
{
    e->silences = sil;
}

/* A firing alert's labels as silences see them (vg_dispatch.c's label_of): its labels, then
 * alertname, severity, series (built-in rule) and host. */
struct alert_view {
    const char *alertname, *severity, *series, *host;
    const struct vg_kvlist *labels;
};

static const char *alert_label(const void *ud, const char *name)
{
    const struct alert_view *a = ud;
    if (strcmp(name, "alertname") == 0)
        return a->alertname;
    if (strcmp(name, "severity") == 0)
        return a->severity;
    if (strcmp(name, "series") == 0 && a->series)
        return a->series;
    if (strcmp(name, "host") == 0)
        return a->host;
    return vg_kvlist_get(a->labels, name);
}

/* The rule severity alert.severity names; one the rules do not know (a receiver's own word)
 * counts as critical, so that it holds a scale-in as before severities were told apart. */
static int builtin_severity(const struct vg_engine *e)
{
    for (int i = VG_RULE_INFO; i <= VG_RULE_CRITICAL; i++)
        if (e->severity &&
            strcmp(e->severity, vg_rule_severity_name((enum vg_rule_severity)i)) == 0)
            return i;
    return VG_RULE_CRITICAL;
}

/* h's alerting level (VG_ENGINE_ALERTING): the highest severity of its firing alerts, a
 * per-series one or a rule's, that no active silence matches (sil: silences are on and some are
 * active now). An alert an operator silenced as known is no reason to keep capacity. */
static int host_alerting(const struct vg_engine *e, const char *name, const struct host *h, int sil,
                         int64_t now)
{
    int top = VG_ENGINE_ALERTING_NONE;
    int builtin = VG_ENGINE_ALERTING(builtin_severity(e));
    for (size_t k = 0; k < h->series.cap && top < builtin; k++) {
        const struct series *s = h->series.keys[k] ? h->series.vals[k] : NULL;
        if (!s || s->alert.state != VG_ALERT_FIRING)
            continue;
        struct alert_view a = {"anomaly", e->severity, h->series.keys[k], name,
                               vg_engine_series_labels(h, s)};
        if (!sil || !vg_silences_match(e->silences, alert_label, &a, now, NULL, 0))
            top = builtin;
    }
    for (size_t k = 0; e->rules && k < h->n_rs && k < vg_rule_set_count(e->rules); k++) {
        if (h->rs[k].st.state != VG_RULE_STATE_FIRING)
            continue;
        const struct vg_rule *r = vg_rule_set_rule(e->rules, k);
        int level = VG_ENGINE_ALERTING(vg_rule_severity(r));
        if (level <= top)
            continue;
        struct alert_view a = {vg_rule_name(r), vg_rule_severity_name(vg_rule_severity(r)), NULL,
                               name, &h->rs[k].labels};
        if (!sil || !vg_silences_match(e->silences, alert_label, &a, now, NULL, 0))
            top = level;
    }
    return top;
}

/* 1 when h's latest message is too old for its values to be a replica's present load. A replica
 * removed by a scale-in stops reporting with the values it had while the load was spread over
 * more replicas: counted until host_silent (minutes), they add load that the remaining replicas
 * now carry themselves, and the first evaluation after the cooldown scales out again. Both
 * clocks must say so: by arrival alone a stalled consumer would drop every host, and by event
 * time alone a host whose clock runs slow, or a partition read behind the others, would. A host
 * restored from a checkpoint (arrived_ms 0) reports until vg_engine_check_silent starts its
 * clock. */
/* The event time hosts' quiet is measured against: the newest of the messages not stamped ahead
 * of the analyzer's clock, or, while none came (every agent's clock ahead of it), of any. */
static int64_t quiet_ref_ts(const struct vg_engine *e)
{
    return e->latest_ts_timely ? e->latest_ts_timely : e->latest_ts;
}

static int host_not_reporting(const struct vg_engine *e, const struct host *h, int64_t now)
{
    int64_t lim = h->interval_ms * VG_ENGINE_REPORTING_INTERVALS;
    if (lim < VG_ENGINE_REPORTING_MIN_MS)
        lim = VG_ENGINE_REPORTING_MIN_MS;
    return h->arrived_ms && now - h->arrived_ms > lim && quiet_ref_ts(e) - h->last_ts_ms > lim;
}

void vg_engine_each_host_env(struct vg_engine *e, vg_engine_env_fn fn, void *ud)
{
    int64_t now = e->p.clock(); /* the wall clock, as the dispatcher checks silences on */
    int sil = e->silences && vg_silences_active(e->silences, now) > 0;
    for (size_t i = 0; i < e->hosts.cap; i++) {
        if (!e->hosts.keys[i])
            continue;
        struct host *h = e->hosts.vals[i];
        /* A host gone silent (its host_silent alert fires), or just no longer reporting, is no
         * replica: its last values would otherwise count for ever, and a replica removed by a
         * scale-in would hold the average where it was. */
        if (h->silent_since || host_not_reporting(e, h, now))
            continue;
        struct vg_label labels[MAX_LABELS];
        size_t nl = host_labels(h, labels);
        struct env_ctx c = {e, h, e->hosts.keys[i], ""};
        struct vg_expr_env env = env_of(&c);
        fn(ud, e->hosts.keys[i], labels, nl, &env, host_alerting(e, e->hosts.keys[i], h, sil, now),
           h->partition);
    }
}

int64_t vg_engine_latest_ts(const struct vg_engine *e)
{
    return e->latest_ts;
}

static int labels_changed(const struct host *h, const struct vg_wire_msg *m)
{
    if (h->labels.n != m->n_labels)
        return 1;
    for (size_t i = 0; i < m->n_labels; i++)
        if (strcmp(h->labels.items[i].key, m->labels[i].key) != 0 ||
            strcmp(h->labels.items[i].value, m->labels[i].value) != 0)
            return 1;
    return 0;
}

struct unseen_ctx {
    int64_t now, limit;
};

static int unseen_longer(void *ud, const void *v)
{
    const struct unseen_ctx *u = ud;
    return u->now - ((const struct series *)v)->seen_ms > u->limit;
}

/* A host_silent transition: labels as the host last sent them; value = seconds without a
 * message. They cannot change while it fires: the host's next message, the only thing that brings
 * new labels, resolves it first, with the labels it fired with. */
static void notify_silent(struct vg_engine *e, const char *host, struct host *h, enum note kind,
                          int64_t now, const char *why, vg_engine_notify_fn fn, void *ud)
{
    const char *keys[MAX_LABELS], *vals[MAX_LABELS];
    size_t nl = label_arrays(&h->labels, keys, vals, MAX_LABELS);
    int fired = kind != NOTE_RESOLVED;
    double silent_s = (double)(now - (h->arrived_ms ? h->arrived_ms : h->silent_since)) / 1000.0;
    char summary[512];
    if (fired)
        snprintf(summary, sizeof(summary), "%s: no metrics for %.0f s", host, silent_s);
    else if (why)
        snprintf(summary, sizeof(summary), "%s", why);
    else
        snprintf(summary, sizeof(summary), "%s: metrics arrive again", host);
    struct vg_notification n = {
        .status = fired ? "firing" : "resolved",
        .alertname = VG_ENGINE_SILENT_ALERT,
        .host = host,
        .fingerprint = h->silent_fp,
        .severity = e->severity,
        .score = NAN,
        .value = fired ? silent_s : 0,
        .threshold = (double)e->p.silent_ms / 1000.0,
        .starts_at_ms = h->silent_since,
        .ends_at_ms = fired ? 0 : now,
        .event_ts_ms = h->last_ts_ms,
        .accepted_ms = vg_now_ms(),
        .label_keys = keys,
        .label_values = vals,
        .n_labels = nl,
        .summary = summary,
        .repeat_once_at_ms = kind != NOTE_RESOLVED ? cold_repeat_at(e, h) : 0,
    };
    count_note(e, kind);
    note_unnotified(h, host, h->silent_fp, kind);
    if (kind == NOTE_FIRED)
        e->st.hosts_silent++;
    else if (kind == NOTE_RESOLVED)
        e->st.hosts_silent--;
    if (kind != NOTE_RESTATED)
        vg_log(fired ? VG_LOG_WARN : VG_LOG_INFO,
               fired ? "host silent"
               : why ? "host_silent resolved: host forgotten"
                     : "host reports again",
               "host=%s silent_s=%.0f fingerprint=%s", host, silent_s, h->silent_fp);
    if (fn)
        fn(ud, &n);
}

/* Series a host no longer reports (a container gone, a cgroup out of the eBPF collectors' top 10,
 * a disk removed): a firing built-in alert would otherwise fire for good and be re-sent to the
 * receivers forever, and their state would pile up as names come and go. Looked at about 4 times
 * per stale_ms of event time. */
static void sweep(struct vg_engine *e, const struct vg_wire_msg *m, struct host *h,
                  vg_engine_notify_fn fn, void *ud)
{
    int64_t stale = vg_alert_unreported_limit(e->p.stale_ms, h->interval_ms, 3);
    int64_t idle = vg_alert_unreported_limit(e->p.idle_ms, h->interval_ms, 10);
    int64_t every = stale ? stale / 4 : idle / 4;
    if (!every || (h->swept_ms && m->ts_ms - h->swept_ms < every && m->ts_ms >= h->swept_ms))
        return;
    h->swept_ms = m->ts_ms;
    for (size_t i = 0; i < h->series.cap; i++) {
        if (!h->series.keys[i])
            continue;
        struct series *s = h->series.vals[i];
        if (!s->seen_ms) { /* restored with its host: its age starts now */
            s->seen_ms = m->ts_ms;
            continue;
        }
        int64_t unseen = m->ts_ms - s->seen_ms;
        int expire = idle && unseen > idle;
        if (s->alert.state != VG_ALERT_INACTIVE && ((stale && unseen > stale) || expire)) {
            if (s->alert.state == VG_ALERT_FIRING) {
                e->st.alerts_stale_resolved++;
                notify(e, m->host, h, m->ts_ms, h->series.keys[i], s, NOTE_RESOLVED, fn, ud);
            }
            s->alert = (struct vg_alert){0};
        }
    }
    struct unseen_ctx u = {m->ts_ms, idle};
    long n_gone = idle ? vg_strmap_del_if(&h->series, unseen_longer, &u, vg_engine_free_series) : 0;
    if (n_gone > 0) {
        e->st.series -= (uint64_t)n_gone;
        e->st.series_expired += (uint64_t)n_gone;
        vg_debug("series forgotten", "host=%s series=%ld unreported_for_ms=%lld", m->host, n_gone,
                 (long long)idle);
    }
}

/* A series whose name rules read as a host model's (value("host:mv")): taking it would make
 * that rule read the series on an analyzer without the model and the model elsewhere, or hide
 * one behind the other. The wire format takes the name (a message is accepted or refused whole),
 * so it is refused here, one series at a time, and never silently. */
static void refuse_reserved(struct vg_engine *e, const char *host_name, struct host *h,
                            const char *name)
{
    e->st.series_reserved++;
    if (h->reserved_logged) /* the rest are counted: a producer sends it every tick */
        return;
    h->reserved_logged = 1;
    char q[256];
    vg_warn("series refused: name reserved for host models",
            "host=%s series=%s reason=\"rules read " VG_WIRE_RESERVED_PREFIX
            "NAME as host model NAME's score: rename the metric\" refused_total=%llu",
            host_name, vg_log_quote(q, sizeof(q), name), (unsigned long long)e->st.series_reserved);
}

/* A v1 message with more labels than a message keeps (an agent from before the limit): the
 * decoder kept the first VG_WIRE_LABELS_MAX, as the engine always used, and the host is scored;
 * the rest are counted here and the first such message of the host is logged. */
static void note_labels_dropped(struct vg_engine *e, const struct vg_wire_msg *m, struct host *h)
{
    e->st.labels_dropped += m->n_labels_dropped;
    if (h->labels_dropped_logged) /* the rest are counted: its agent sends them every tick */
        return;
    h->labels_dropped_logged = 1;
    vg_warn("labels dropped: more than a message keeps",
            "host=%s labels=%zu kept=%zu reason=\"an agent older than the limit of %d labels: "
            "give it at most %d, then upgrade it\" dropped_total=%llu",
            m->host, m->n_labels + m->n_labels_dropped, m->n_labels, VG_WIRE_LABELS_MAX,
            VG_WIRE_LABELS_MAX, (unsigned long long)e->st.labels_dropped);
}

/* Whether m was processed before: of the host's current boot or one of the boots before it, and
 * not newer than the last message of that boot. A redelivery spanning a reboot (the end of boot
 * A, then boot B again) would otherwise read as two boot changes and be learned twice. Boot ids,
 * not event times, tell: the agent's clock may step back across a reboot (an RTC before NTP), so
 * a new boot's first messages can carry older times than the last boot's. A boot older than the
 * last VG_ENGINE_PAST_BOOTS is taken as new, as any boot never seen. */
static int seen_before(const struct host *h, const struct vg_wire_msg *m)
{
    if (!h->have_seq)
        return 0;
    if (strcmp(h->boot, m->boot) == 0)
        return m->seq <= h->last_seq;
    for (uint32_t i = 0; i < h->n_past; i++)
        if (strcmp(h->past[i].boot, m->boot) == 0)
            return m->seq <= h->past[i].last_seq;
    return 0;
}

static int is_past_boot(const struct host *h, const char *boot)
{
    for (uint32_t i = 0; i < h->n_past; i++)
        if (strcmp(h->past[i].boot, boot) == 0)
            return 1;
    return 0;
}

/* Whether m, not a redelivery, is a second agent's under its host's name: a message of a past
 * boot after the host switched back and forth VG_ENGINE_BOOT_RETURNS times, or once that was
 * found. Feeding both agents' values to one host's detectors and models mixes two machines: each
 * message flips the levels, nothing scores right, no alert fires. The boot that took over last
 * keeps the host, as after a reboot (the other's are refused): a boot never seen before ends it. */
static int boot_refused(const struct host *h, const struct vg_wire_msg *m)
{
    if (!h->have_seq || strcmp(h->boot, m->boot) == 0 || !is_past_boot(h, m->boot))
        return 0;
    return h->boot_conflict || h->boot_returns + 1 >= VG_ENGINE_BOOT_RETURNS;
}

static void boot_conflict(struct vg_engine *e, struct host *h, const struct vg_wire_msg *m)
{
    e->st.boot_conflicts++;
    h->boot_conflict = 1;
    if (h->conflict_logged)
        return; /* the rest are counted: the other agent sends every tick */
    h->conflict_logged = 1;
    char qk[2 * VG_WIRE_BOOT_MAX + 8], qr[2 * VG_WIRE_BOOT_MAX + 8];
    vg_warn("two agents claim one host: messages of one refused",
            "host=%s boot_kept=%s boot_refused=%s reason=\"their boot ids take turns (a cloned "
            "machine?): give each agent its own host name (host, VIGIL_HOST)\"",
            m->host, vg_log_quote(qk, sizeof(qk), h->boot), vg_log_quote(qr, sizeof(qr), m->boot));
}

/* The host's current boot becomes a past one as boot, one never seen (or older than the past
 * ones), takes its place: a past boot's later messages do not take it back (previous_boot_late). */
static void boot_changed(struct host *h, const char *boot)
{
    uint32_t n = 0;
    struct past_boot keep[VG_ENGINE_PAST_BOOTS];
    snprintf(keep[n].boot, sizeof(keep[n].boot), "%s", h->boot);
    keep[n++].last_seq = h->last_seq;
    for (uint32_t i = 0; i < h->n_past && n < VG_ENGINE_PAST_BOOTS; i++)
        if (strcmp(h->past[i].boot, boot) != 0 && strcmp(h->past[i].boot, h->boot) != 0)
            keep[n++] = h->past[i];
    memcpy(h->past, keep, n * sizeof(keep[0]));
    h->n_past = n;
}

/* A new message (not a redelivery: seen_before tells those by boot and sequence) stamped before
 * its host's previous one. It is processed as any other: skipping it, as an event-time rule did,
 * froze the host's model and history until its clock passed the bad time again (a tick stamped a
 * day ahead froze them for a day). Said, since the times the host's alerts carry jumped. */
static void clock_stepped_back(struct vg_engine *e, const struct host *h,
                               const struct vg_wire_msg *m)
{
    e->st.clock_steps_back++;
    char q[2 * VG_WIRE_BOOT_MAX + 8];
    vg_warn("host clock stepped back", "host=%s boot=%s seq=%llu from_ms=%lld to_ms=%lld", m->host,
            vg_log_quote(q, sizeof(q), m->boot), (unsigned long long)m->seq,
            (long long)h->last_ts_ms, (long long)m->ts_ms);
}

/* Whether m, not a redelivery, is of one of its host's previous boots: it came after a newer
 * boot's messages. */
static int is_previous_boot(const struct host *h, const struct vg_wire_msg *m)
{
    return h->have_seq && strcmp(h->boot, m->boot) != 0 && is_past_boot(h, m->boot);
}

/* A previous boot's message that came after a newer boot's (not a redelivery, nor a second
 * agent's): the agent replays its spool after a reboot, so the old boot's tail can arrive after
 * the new boot's first messages. It is no clock step back. Taken for one, as it was, it took the
 * host back to the old boot, fed the detectors a value of before the reboot, and the rule windows
 * dropped the new boot's samples after its time (a rule over a window read only what came after
 * it). The host stays on its newer boot, whose detectors and rule windows went on without this
 * message and do not take it (a window's samples across a reboot, a counter's reset among them,
 * are no series); the history records it in its place among the newer points. Its boot's
 * sequence moves on, so that a redelivery of it is still skipped. A turn to it from the current
 * boot counts towards a conflict, as two agents under one name take such turns. Its arrival
 * says the agent is alive: a host_silent alert resolves. */
static void previous_boot_late(struct vg_engine *e, struct host *h, const struct vg_wire_msg *m,
                               vg_engine_notify_fn fn, void *ud)
{
    for (uint32_t i = 0; i < h->n_past; i++)
        if (strcmp(h->past[i].boot, m->boot) == 0 && m->seq > h->past[i].last_seq)
            h->past[i].last_seq = m->seq;
    e->st.previous_boot_late++;
    e->st.messages++;
    char q[2 * VG_WIRE_BOOT_MAX + 8], qc[2 * VG_WIRE_BOOT_MAX + 8];
    const char *what = "late message of a previous boot: not scored";
    if (!h->late_run) { /* a spool's tail is many: the rest at debug level */
        h->late_run = 1;
        h->boot_returns++;
        vg_info(what, "host=%s boot=%s seq=%llu ts_ms=%lld boot_now=%s last_ts_ms=%lld", m->host,
                vg_log_quote(q, sizeof(q), m->boot), (unsigned long long)m->seq,
                (long long)m->ts_ms, vg_log_quote(qc, sizeof(qc), h->boot),
                (long long)h->last_ts_ms);
    } else {
        vg_debug(what, "host=%s boot=%s seq=%llu ts_ms=%lld", m->host,
                 vg_log_quote(q, sizeof(q), m->boot), (unsigned long long)m->seq,
                 (long long)m->ts_ms);
    }
    int64_t now = e->p.clock();
    if (h->silent_since) {
        notify_silent(e, m->host, h, NOTE_RESOLVED, now, NULL, fn, ud);
        h->silent_since = 0;
    }
    h->arrived_ms = e->last_arrival_ms = now;
}

/* Event times are the agent's clock: one running ahead of the analyzer's dates alerts in the
 * future (Alertmanager's are sent at the analyzer's time instead: vg_fmt_alertmanager.c) and
 * delays the windows of rules on event time. Counted per message; said when a host's messages
 * start being ahead, and again after it came back within the tolerance. */
static int check_clock_ahead(struct vg_engine *e, struct host *h, const struct vg_wire_msg *m,
                             int64_t now)
{
    int ahead = m->ts_ms > now + VG_FMT_CLOCK_TOLERANCE_MS;
    if (ahead) {
        e->st.clock_ahead++;
        if (!h->clock_ahead)
            vg_warn("host clock ahead of the analyzer's", "host=%s ahead_ms=%lld ts_ms=%lld",
                    m->host, (long long)(m->ts_ms - now), (long long)m->ts_ms);
    }
    h->clock_ahead = ahead;
    return ahead;
}

int vg_engine_process(struct vg_engine *e, const struct vg_wire_msg *m, vg_engine_notify_fn fn,
                      void *ud)
{
    struct host *h = vg_strmap_get(&e->hosts, m->host);
    if (!h) {
        /* Neither seen nor restored from a checkpoint: every series warms up from nothing. */
        if (!(h = vg_engine_get_host(e, m->host)))
            return host_refused(e) ? 1 : -ENOMEM; /* refused: counted in hosts_refused */
        e->st.hosts_cold_started++;
        h->cold_ms = e->p.clock();
        vg_debug("host starts cold", "host=%s", m->host);
    }
    /* Restored with alerts of rules this engine lacks, and not resolved since (whoever restored
     * it did not call vg_engine_resolve_orphans): before anything else of the host changes. */
    if (h->n_orphans)
        resolve_orphans_of(e, m->host, h, fn, ud);
    /* Kafka delivers at least once: a message that is not newer than the last one seen of its
     * boot was already learned from, and learning it twice would skew the baseline. */
    if (seen_before(h, m)) {
        e->st.duplicates++;
        return 1;
    }
    if (boot_refused(h, m)) {
        boot_conflict(e, h, m);
        return 1;
    }
    if (is_previous_boot(h, m)) {
        previous_boot_late(e, h, m, fn, ud);
        return 0;
    }
    if (h->have_seq && m->ts_ms < h->last_ts_ms)
        clock_stepped_back(e, h, m);
    if (h->have_seq && strcmp(h->boot, m->boot) == 0) {
        e->st.seq_gaps += m->seq - h->last_seq - 1;
        if (h->late_run) /* back from a previous boot's late messages */
            h->boot_returns++;
    } else if (h->have_seq) { /* a boot never seen: a reboot ends a conflict */
        h->boot_returns = 0;
        h->boot_conflict = 0;
        boot_changed(h, m->boot);
    }
    h->late_run = 0;
    snprintf(h->boot, sizeof(h->boot), "%s", m->boot);
    h->last_seq = m->seq;
    h->have_seq = 1;
    h->last_ts_ms = m->ts_ms;
    h->interval_ms = m->interval_ms;
    int64_t now = e->p.clock();
    int ahead = check_clock_ahead(e, h, m, now);
    if (h->silent_since) { /* measured from the message before this one */
        notify_silent(e, m->host, h, NOTE_RESOLVED, now, NULL, fn, ud);
        h->silent_since = 0;
    }
    h->arrived_ms = e->last_arrival_ms = now;
    h->max_score = 0;
    e->st.messages++;
    /* The built-in rule's waits count no step after which the series would be stale. */
    struct vg_alert_params ap = e->p.ap;
    ap.gap_ms = vg_alert_unreported_limit(e->p.stale_ms, h->interval_ms, 3);

    if (m->ts_ms > e->latest_ts)
        e->latest_ts = m->ts_ms;
    if (!ahead && m->ts_ms > e->latest_ts_timely)
        e->latest_ts_timely = m->ts_ms;
    if (m->n_labels_dropped)
        note_labels_dropped(e, m, h);
    if (labels_changed(h, m)) {
        keep_fired_labels(m->host, h);
        vg_kvlist_free(&h->labels);
        for (size_t i = 0; i < m->n_labels; i++)
            if (vg_kvlist_set(&h->labels, m->labels[i].key, m->labels[i].value) < 0)
                break;
    }
    check_globs(e, h, m);
    for (size_t i = 0; i < m->n_metrics; i++) {
        const char *name = m->metrics[i].name;
        if (vg_wire_name_reserved(name)) {
            refuse_reserved(e, m->host, h, name);
            continue;
        }
        if (!series_selected(e, name))
            continue;
        struct series *s = vg_engine_get_series(e, h, m->host, name);
        if (!s)
            continue;
        double score, x = m->metrics[i].value;
        /* Event time, not arrival: a time-of-day profile must see a replayed or spooled
         * backlog at the hours it was collected. */
        int rc = e->p.detector->update_at
                     ? e->p.detector->update_at(s->det, &e->p.dp, m->ts_ms, x, &score)
                     : e->p.detector->update(s->det, &e->p.dp, x, &score);
        s->value = x;
        s->seen_ms = m->ts_ms;
        if (vg_engine_series_windowed(e, s, name))
            vg_engine_hist_push(s, m->ts_ms, x, e->window_ms);
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
        if (e->p.no_builtin)
            continue;
        enum vg_alert_event ev = vg_alert_step(&s->alert, &ap, score, m->ts_ms);
        if (ev != VG_ALERT_EV_NONE)
            notify(e, m->host, h, m->ts_ms, name, s,
                   ev == VG_ALERT_EV_FIRED ? NOTE_FIRED : NOTE_RESOLVED, fn, ud);
    }
    sweep(e, m, h, fn, ud);
    if (e->rules && vg_engine_host_fit_rules(e, h) == 0)
        eval_rules(e, m->host, h, m->ts_ms, fn, ud);
    return 0;
}

int vg_engine_host_partition_keyed(struct vg_engine *e, const char *host, int32_t partition,
                                   int32_t key_parts)
{
    struct host *h = vg_strmap_get(&e->hosts, host);
    if (!h)
        return -ENOENT;
    /* Its key mapped to this partition under keyed_parts (checked on an earlier message, here or
     * at its previous owner): it still does. Found under none of the caller's counts, it is a
     * count the caller does not know, one from before this analyzer started. */
    if (key_parts == 0 && partition == h->partition && h->keyed_parts > 0)
        key_parts = h->keyed_parts;
    h->partition = partition;
    h->key_parts = key_parts;
    h->keyed_parts = key_parts > 0 ? key_parts : 0;
    return 0;
}

void vg_engine_set_moved(struct vg_engine *e, vg_engine_moved_fn moved,
                         void (*gone)(void *ud, const char *host), void *ud)
{
    e->moved = moved;
    e->moved_gone = gone;
    e->moved_ud = ud;
}

/* The partition h moved to (vg_engine_set_moved), or -1. */
static int32_t moved_to(const struct vg_engine *e, const char *name, const struct host *h)
{
    if (!e->moved || h->partition < 0 || h->key_parts == 0)
        return -1;
    /* Restored and silent since: as its record's count says, or judged by the callback (0). */
    return e->moved(e->moved_ud, name, h->partition,
                    h->key_parts > 0 ? h->key_parts : h->keyed_parts);
}

static void remove_host(struct vg_engine *e, const char *name);
static size_t resolve_all(struct vg_engine *e, const char *name, struct host *h, int64_t now,
                          const char *why, vg_engine_notify_fn fn, void *ud);

/* The host of a name listed for removal, with a copy of its name that outlives the host's key
 * (*name, the caller frees it); NULL (and nothing to free) when it went meanwhile or on ENOMEM. */
static struct host *host_to_remove(struct vg_engine *e, const char *listed, char **name)
{
    *name = strdup(listed);
    struct host *h = *name ? vg_strmap_get(&e->hosts, *name) : NULL;
    if (!h) {
        free(*name);
        *name = NULL;
    }
    return h;
}

/* Releases the hosts in names[0..k) (copies taken here) that moved to another member's partition.
 * Their alerts are resolved: the new owner did not restore them (it started the host cold), so
 * nothing else would; one it fires again since, under the same fingerprint, it sends once more
 * after this resolve (VG_ENGINE_COLD_REPEAT_MARGIN_MS), which opens the incident again at the
 * receivers. A host_silent that fired before the move was known is resolved with them. The rest
 * goes as on a revoke, without a tombstone. */
static void release_moved(struct vg_engine *e, char **names, const int32_t *to, size_t k,
                          int64_t now, vg_engine_notify_fn fn, void *ud)
{
    for (size_t i = 0; i < k; i++) {
        char *name;
        struct host *h = host_to_remove(e, names[i], &name);
        if (!h)
            continue;
        char why[160];
        snprintf(why, sizeof(why), "%s: moved to partition %d of another analyzer", name,
                 (int)to[i]);
        size_t resolved = resolve_all(e, name, h, now, why, fn, ud);
        vg_info("host moved to another analyzer's partition: released",
                "host=%s from=%d to=%d alerts_resolved=%zu", name, (int)h->partition, (int)to[i],
                resolved);
        if (e->moved_gone)
            e->moved_gone(e->moved_ud, name);
        remove_host(e, name);
        e->st.hosts_moved++;
        free(name);
    }
}

void vg_engine_check_silent(struct vg_engine *e, vg_engine_notify_fn fn, void *ud)
{
    int64_t now = e->p.clock();
    if (!e->p.silent_ms ||
        (e->silent_checked_ms && now - e->silent_checked_ms < 1000 && now >= e->silent_checked_ms))
        return;
    e->silent_checked_ms = now;
    /* Nothing arrives from anyone: the consumer or the broker is stalled, not every host. */
    int flowing = e->last_arrival_ms && now - e->last_arrival_ms <= e->p.silent_ms / 2;
    /* Hosts that moved to another member's partition: released after the scan (deleting moves
     * entries between slots). */
    char **moved = NULL;
    int32_t *to = NULL;
    size_t n_moved = 0;
    for (size_t i = 0; i < e->hosts.cap; i++) {
        if (!e->hosts.keys[i])
            continue;
        struct host *h = e->hosts.vals[i];
        if (!h->arrived_ms) { /* restored with its partition: its silence starts now */
            h->arrived_ms = now;
            continue;
        }
        int64_t lim = vg_alert_unreported_limit(e->p.silent_ms, h->interval_ms, 3);
        if (!h->silent_since && flowing && now - h->arrived_ms > lim) {
            int32_t p = moved_to(e, e->hosts.keys[i], h);
            if (p >= 0) {
                if (!moved) {
                    moved = malloc(e->hosts.n * sizeof(*moved));
                    to = malloc(e->hosts.n * sizeof(*to));
                }
                if (moved && to) {
                    moved[n_moved] = e->hosts.keys[i];
                    to[n_moved++] = p;
                    continue;
                }
            }
            h->silent_since = now;
            /* ':' cannot start a metric name, so no series alert can share this fingerprint. */
            vg_engine_fingerprint(h->silent_fp, e->hosts.keys[i], ":" VG_ENGINE_SILENT_ALERT);
            notify_silent(e, e->hosts.keys[i], h, NOTE_FIRED, now, NULL, fn, ud);
        }
    }
    release_moved(e, moved, to, n_moved, now, fn, ud);
    free(moved);
    free(to);
}

size_t vg_engine_each_firing(struct vg_engine *e, vg_engine_notify_fn fn, void *ud)
{
    size_t n = 0;
    int64_t now = e->p.clock();
    int rules_fit = e->rules != NULL;
    for (size_t i = 0; i < e->hosts.cap; i++) {
        if (!e->hosts.keys[i])
            continue;
        const char *name = e->hosts.keys[i];
        struct host *h = e->hosts.vals[i];
        for (size_t k = 0; k < h->series.cap; k++) {
            struct series *s = h->series.keys[k] ? h->series.vals[k] : NULL;
            if (s && s->alert.state == VG_ALERT_FIRING) {
                notify(e, name, h, h->last_ts_ms, h->series.keys[k], s, NOTE_RESTATED, fn, ud);
                n++;
            }
        }
        for (size_t k = 0; rules_fit && k < h->n_rs && k < vg_rule_set_count(e->rules); k++) {
            const struct rstate *rs = &h->rs[k];
            if (rs->st.state != VG_RULE_STATE_FIRING)
                continue;
            /* Its annotations rendered as when it fired. */
            struct vg_rule_result res;
            vg_engine_fired_result(rs, &res);
            rule_notify(e, vg_rule_set_rule(e->rules, k), name, h, rs, NOTE_RESTATED, &res,
                        h->last_ts_ms, fn, ud);
            n++;
        }
        if (h->silent_since) {
            notify_silent(e, name, h, NOTE_RESTATED, now, NULL, fn, ud);
            n++;
        }
    }
    return n;
}

void vg_engine_get_stats(const struct vg_engine *e, struct vg_engine_stats *out)
{
    *out = e->st;
}

int vg_engine_stats_fields(const struct vg_engine_stats *st, char *buf, size_t len)
{
    return snprintf(buf, len,
                    "boot_conflicts=%llu clock_ahead=%llu clock_steps_back=%llu hosts_moved=%llu "
                    "hosts_released=%llu alert_series_unmatched=%llu",
                    (unsigned long long)st->boot_conflicts, (unsigned long long)st->clock_ahead,
                    (unsigned long long)st->clock_steps_back, (unsigned long long)st->hosts_moved,
                    (unsigned long long)st->hosts_released,
                    (unsigned long long)st->alert_series_unmatched);
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

void vg_engine_free_series(void *v)
{
    struct series *s = v;
    vg_engine_series_forget_labels(s);
    free(s->hist);
    free(s);
}

static void free_host(void *v)
{
    struct host *h = v;
    vg_strmap_free(&h->series, vg_engine_free_series);
    for (size_t i = 0; i < h->n_rs; i++)
        vg_engine_rstate_forget_alert(&h->rs[i]);
    free(h->rs);
    vg_engine_drop_orphans(NULL, h);
    vg_kvlist_free(&h->labels);
    free(h->unnotified);
    free(h);
}

int vg_engine_is_duplicate(const struct vg_engine *e, const struct vg_wire_msg *m)
{
    const struct host *h = vg_strmap_get(&e->hosts, m->host);
    if (!h) /* a host beyond limits.max_hosts would take model rows the engine never frees */
        return host_refused(e);
    /* A previous boot's late tick would go into the newer boot's window in the models. */
    return seen_before(h, m) || boot_refused(h, m) || is_previous_boot(h, m);
}

int vg_engine_host_partition(struct vg_engine *e, const char *host, int32_t partition)
{
    struct host *h = vg_strmap_get(&e->hosts, host);
    if (!h)
        return -ENOENT;
    h->partition = partition;
    /* A restored record's partition: whether the key put the host there is not known until a
     * message says so. A host whose agent moved to another partition before this engine took the
     * record over never sends one here, and asking no one paged host_silent for it. */
    h->key_parts = -1;
    return 0;
}

static void remove_host(struct vg_engine *e, const char *name)
{
    struct host *h = vg_strmap_del(&e->hosts, name);
    if (!h)
        return;
    for (size_t i = 0; i < h->series.cap; i++) {
        const struct series *s = h->series.keys[i] ? h->series.vals[i] : NULL;
        if (s && s->alert.state == VG_ALERT_FIRING && e->st.firing)
            e->st.firing--;
    }
    for (size_t i = 0; i < h->n_rs; i++)
        if (h->rs[i].st.state == VG_RULE_STATE_FIRING && e->st.firing)
            e->st.firing--;
    if (h->silent_since && e->st.firing) {
        e->st.firing--;
        e->st.hosts_silent--;
    }
    vg_engine_drop_orphans(e, h);
    e->st.series -= h->series.n;
    e->st.hosts--;
    free_host(h);
}

int vg_engine_forget_host(struct vg_engine *e, const char *host)
{
    if (!vg_strmap_get(&e->hosts, host))
        return -ENOENT;
    remove_host(e, host);
    return 0;
}

static int in_set(int32_t p, const int32_t *parts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (parts[i] == p)
            return 1;
    return 0;
}

size_t vg_engine_release(struct vg_engine *e, const int32_t *parts, size_t n,
                         void (*fn)(void *ud, const char *host), void *ud)
{
    /* Names first: deleting moves entries between slots, so no deletes while scanning. */
    char **names = e->hosts.n ? malloc(e->hosts.n * sizeof(*names)) : NULL;
    size_t k = 0;
    for (size_t i = 0; names && i < e->hosts.cap; i++) {
        const struct host *h = e->hosts.keys[i] ? e->hosts.vals[i] : NULL;
        if (h && h->partition >= 0 && in_set(h->partition, parts, n))
            names[k++] = e->hosts.keys[i];
    }
    for (size_t i = 0; i < k; i++) {
        /* The name is the map's key, freed with the host: the callback sees it before. */
        if (fn)
            fn(ud, names[i]);
        char *copy = strdup(names[i]);
        if (copy) {
            remove_host(e, copy);
            e->st.hosts_released++;
            free(copy);
        }
    }
    free(names);
    return k;
}

/* Resolves every alert of a host about to be forgotten: nothing of it would be left to resolve
 * them later, and a receiver that keeps incidents open (PagerDuty) would keep them for good. */
static size_t resolve_all(struct vg_engine *e, const char *name, struct host *h, int64_t now,
                          const char *why, vg_engine_notify_fn fn, void *ud)
{
    size_t n = 0;
    for (size_t k = 0; k < h->series.cap; k++) {
        struct series *s = h->series.keys[k] ? h->series.vals[k] : NULL;
        if (s && s->alert.state == VG_ALERT_FIRING) {
            notify(e, name, h, h->last_ts_ms, h->series.keys[k], s, NOTE_RESOLVED, fn, ud);
            n++;
        }
        if (s)
            s->alert = (struct vg_alert){0};
    }
    for (size_t k = 0; e->rules && k < h->n_rs && k < vg_rule_set_count(e->rules); k++) {
        struct rstate *rs = &h->rs[k];
        if (rs->st.state == VG_RULE_STATE_FIRING) {
            rule_notify(e, vg_rule_set_rule(e->rules, k), name, h, rs, NOTE_RESOLVED, NULL,
                        h->last_ts_ms, fn, ud);
            n++;
        }
        vg_engine_rstate_forget_alert(rs);
        rs->st = (struct vg_rule_state){0};
    }
    if (h->silent_since) {
        notify_silent(e, name, h, NOTE_RESOLVED, now, why, fn, ud);
        h->silent_since = 0;
        n++;
    }
    if (h->n_orphans) /* restored alerts of rules this engine lacks, not yet resolved */
        n += resolve_orphans_of(e, name, h, fn, ud);
    return n;
}

size_t vg_engine_expire_hosts(struct vg_engine *e, vg_engine_notify_fn fn,
                              void (*gone)(void *ud, const char *host), void *ud)
{
    int64_t now = e->p.clock();
    if (!e->p.host_idle_ms ||
        (e->expire_checked_ms && now - e->expire_checked_ms < 1000 && now >= e->expire_checked_ms))
        return 0;
    e->expire_checked_ms = now;
    /* As for host_silent: when nothing arrives from anyone, the pipeline is stalled, and hosts
     * that go on sending would be forgotten with their baselines. */
    int64_t flow_ms = e->p.silent_ms ? e->p.silent_ms / 2 : VG_ENGINE_FLOW_MS;
    int flowing = e->last_arrival_ms && now - e->last_arrival_ms <= flow_ms;
    char **names = e->hosts.n ? malloc(e->hosts.n * sizeof(*names)) : NULL;
    char **moved = names && e->moved ? malloc(e->hosts.n * sizeof(*moved)) : NULL;
    int32_t *to = moved ? malloc(e->hosts.n * sizeof(*to)) : NULL;
    size_t k = 0, n_moved = 0;
    for (size_t i = 0; names && i < e->hosts.cap; i++) {
        struct host *h = e->hosts.keys[i] ? e->hosts.vals[i] : NULL;
        if (!h)
            continue;
        if (!h->arrived_ms) { /* restored with its partition: its idleness starts now */
            h->arrived_ms = now;
            continue;
        }
        int64_t lim = vg_alert_unreported_limit(e->p.host_idle_ms, h->interval_ms, 10);
        /* Idle by the wall clock and by event time: while a consumer works through a backlog,
         * the other hosts' messages of the same hours show that this one sent none. */
        if (flowing && now - h->arrived_ms > lim && quiet_ref_ts(e) - h->last_ts_ms > lim) {
            int32_t p = moved_to(e, e->hosts.keys[i], h);
            if (p >= 0 && to) {
                moved[n_moved] = e->hosts.keys[i];
                to[n_moved++] = p;
            } else {
                names[k++] = e->hosts.keys[i];
            }
        }
    }
    /* Not forgotten: their state record is the new owner's now, which a tombstone would
     * delete. */
    release_moved(e, moved, to, n_moved, now, fn, ud);
    free(moved);
    free(to);
    for (size_t i = 0; i < k; i++) {
        char *name;
        struct host *h = host_to_remove(e, names[i], &name);
        if (!h)
            continue;
        char why[160];
        double idle_s = (double)(now - h->arrived_ms) / 1000.0;
        snprintf(why, sizeof(why), "%s: forgotten after %.0f s without metrics (limits.host_idle)",
                 name, idle_s);
        size_t resolved = resolve_all(e, name, h, now, why, fn, ud);
        vg_info("host expired", "host=%s idle_s=%.0f alerts_resolved=%zu series=%zu", name, idle_s,
                resolved, h->series.n);
        if (gone)
            gone(ud, name);
        remove_host(e, name);
        e->st.hosts_expired++;
        free(name);
    }
    free(names);
    return k;
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
