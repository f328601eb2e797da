#include "vg_engine.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_bytes.h"
#include "vg_log.h"
#include "vg_rule_state.h"
#include "vg_strmap.h"
#include "vg_util.h"

#define MAX_GLOBS  32
#define MAX_LABELS 64

/* What a notification says of its alert. RESTATED: it fires, and fired before this engine knew of
 * it (restored with its host, vg_engine_each_firing): said again, nothing counted. */
enum note { NOTE_FIRED, NOTE_RESOLVED, NOTE_RESTATED };

struct sample {
    int64_t ts_ms;
    double v;
};

struct series {
    struct vg_alert alert;
    double value, score;
    int64_t seen_ms; /* event time of the host's last message that had it; 0 = not yet known */
    int warm;
    char fingerprint[17];
    /* History for rule windows: a ring of the samples of the last window_ms, kept only when a
     * rule's window reads this series (windowed, as of rule set win_gen). */
    struct sample *hist;
    uint32_t hcap, hhead, hn;
    uint32_t win_gen;
    int windowed;
    /* Detector state, detector->state_size bytes; aligned for any model's doubles. */
    _Alignas(max_align_t) unsigned char det[];
};

struct host {
    struct vg_strmap series;
    char boot[VG_WIRE_BOOT_MAX + 1];
    uint64_t last_seq;
    int have_seq;
    int64_t last_ts_ms;
    int64_t interval_ms;  /* the agent's interval, from its latest message */
    int64_t swept_ms;     /* last look for stale and idle series */
    int64_t arrived_ms;   /* wall clock when its latest message was processed; 0 = restored */
    int64_t silent_since; /* wall clock its host_silent alert fired; 0 = not firing */
    char silent_fp[17];
    double max_score;
    int scoring;             /* logged "scoring" once */
    int32_t partition;       /* input partition its messages arrive on; -1 unknown */
    struct vg_kvlist labels; /* as in the latest message, for policies */
    /* One alert state per rule of the engine's set, in the set's order. */
    struct rstate *rs;
    size_t n_rs;
};

/* One rule's alert on one host. */
struct rstate {
    struct vg_rule_state st;
    char fp[VG_RULE_FINGERPRINT_LEN]; /* of the firing alert */
    struct vg_kvlist labels;          /* its labels, as they were when it fired */
    /* What it fired with, kept while it fires so that it can be stated again with the same
     * annotations once its host has moved (vg_engine_each_firing). */
    double fired_value, fired_score;
    char *fired_top; /* malloc'd; NULL = none */
};

struct vg_engine {
    struct vg_engine_params p;
    char *match_buf;
    char *globs[MAX_GLOBS];
    size_t n_globs;
    char *severity;
    struct vg_strmap hosts;
    struct vg_engine_stats st;
    const struct vg_rule_set *rules;
    int64_t window_ms;  /* history kept per series a rule's window reads */
    uint32_t rules_gen; /* bumped by each vg_engine_set_rules, for series.windowed */
    int64_t latest_ts;
    int64_t last_arrival_ms; /* wall clock of the latest message of any host */
    int64_t silent_checked_ms;
    struct vg_engine_host_models hm; /* host models rules may read; score NULL = none */
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
    h->partition = -1;
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

static int is_stale(const struct vg_engine *e, const struct host *h, const struct series *s)
{
    int64_t lim = vg_alert_unreported_limit(e->p.stale_ms, h->interval_ms, 3);
    return lim && s->seen_ms && h->last_ts_ms - s->seen_ms > lim;
}

/* A label list as the notification's two arrays (at most MAX_LABELS). Returns the count. */
static size_t label_arrays(const struct vg_kvlist *l, const char **keys, const char **vals)
{
    size_t n = l->n < MAX_LABELS ? l->n : MAX_LABELS;
    for (size_t i = 0; i < n; i++) {
        keys[i] = l->items[i].key;
        vals[i] = l->items[i].value;
    }
    return n;
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

/* A built-in alert's notification: the series' latest score and value, the host's labels (as in
 * its latest message), at event time ts. */
static void notify(struct vg_engine *e, const char *host_name, const struct host *h, int64_t ts,
                   const char *name, const struct series *s, enum note kind, vg_engine_notify_fn fn,
                   void *ud)
{
    const char *keys[MAX_LABELS], *vals[MAX_LABELS];
    size_t nl = label_arrays(&h->labels, keys, vals);
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
        .ends_at_ms = kind == NOTE_RESOLVED ? ts : 0,
        .event_ts_ms = ts,
        .accepted_ms = vg_now_ms(),
        .label_keys = keys,
        .label_values = vals,
        .n_labels = nl,
    };
    count_note(e, kind);
    char q[256];
    if (kind != NOTE_RESTATED)
        vg_info(kind == NOTE_FIRED ? "alert firing" : "alert resolved",
                "host=%s series=%s score=%.6f value=%.6g fingerprint=%s", host_name,
                vg_log_quote(q, sizeof(q), name), s->score, s->value, s->fingerprint);
    if (fn)
        fn(ud, &n);
}

/* ---- series history, for avg_over/max_over/min_over/rate ------------------------------------ */

static int hist_push(struct series *s, int64_t ts, double v, int64_t window_ms)
{
    /* Forget what fell out of the window (and everything after a clock step back). */
    while (s->hn) {
        const struct sample *o = &s->hist[s->hhead];
        if (o->ts_ms > ts - window_ms && o->ts_ms <= ts)
            break;
        s->hhead = (s->hhead + 1) % s->hcap;
        s->hn--;
    }
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

/* Whether a rule's window reads s (name): only then are its samples kept. Found once per rule
 * set; a series no rule reads any more lets its samples go. */
static int series_windowed(const struct vg_engine *e, struct series *s, const char *name)
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

#define HOST_MODEL_PREFIX "host:"

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
    /* Series names cannot hold ':' (wire format), so host model names cannot clash. */
    if (strncmp(name, HOST_MODEL_PREFIX, strlen(HOST_MODEL_PREFIX)) == 0 && c->e->hm.score &&
        c->host_name) {
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

/* Frees what a rule alert keeps while it fires (its labels, what it fired with); its state stays.
 */
static void rstate_forget_alert(struct rstate *rs)
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
                        const struct host *h, const struct rstate *rs, enum note kind,
                        const struct vg_rule_result *res, int64_t ts, vg_engine_notify_fn fn,
                        void *ud)
{
    const char *keys[MAX_LABELS], *vals[MAX_LABELS];
    size_t nl = label_arrays(&rs->labels, keys, vals);
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
        .ends_at_ms = fired ? 0 : ts,
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
    };
    count_note(e, kind);
    if (kind != NOTE_RESTATED)
        vg_info(fired ? "alert firing" : "alert resolved",
                "rule=%s host=%s value=%.6g fingerprint=%s", vg_rule_name(r), host_name,
                res ? res->value : NAN, rs->fp);
    if (fn)
        fn(ud, &n);
    free(abuf);
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
        enum vg_rule_state_event ev =
            vg_rule_state_step(&rs->st, vg_rule_for_ms(r), vg_rule_keep_firing_for_ms(r), cond, ts);
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
            rstate_forget_alert(rs);
        }
    }
}

/* Gives h one state per rule of e's set (new hosts, or after a reload). */
static int host_fit_rules(struct vg_engine *e, struct host *h)
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
            rstate_forget_alert(&h->rs[k]);
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

void vg_engine_each_host_env(struct vg_engine *e, vg_engine_env_fn fn, void *ud)
{
    for (size_t i = 0; i < e->hosts.cap; i++) {
        if (!e->hosts.keys[i])
            continue;
        struct host *h = e->hosts.vals[i];
        struct vg_label labels[MAX_LABELS];
        size_t nl = host_labels(h, labels);
        struct env_ctx c = {e, h, e->hosts.keys[i], ""};
        struct vg_expr_env env = env_of(&c);
        fn(ud, e->hosts.keys[i], labels, nl, &env);
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

static void free_series(void *v);

struct unseen_ctx {
    int64_t now, limit;
};

static int unseen_longer(void *ud, const void *v)
{
    const struct unseen_ctx *u = ud;
    return u->now - ((const struct series *)v)->seen_ms > u->limit;
}

/* A host_silent transition: labels as the host last sent them; value = seconds without a
 * message. */
static void notify_silent(struct vg_engine *e, const char *host, const struct host *h,
                          enum note kind, int64_t now, vg_engine_notify_fn fn, void *ud)
{
    const char *keys[MAX_LABELS], *vals[MAX_LABELS];
    size_t nl = label_arrays(&h->labels, keys, vals);
    int fired = kind != NOTE_RESOLVED;
    double silent_s = (double)(now - (h->arrived_ms ? h->arrived_ms : h->silent_since)) / 1000.0;
    char summary[512];
    if (fired)
        snprintf(summary, sizeof(summary), "%s: no metrics for %.0f s", host, silent_s);
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
    };
    count_note(e, kind);
    if (kind == NOTE_FIRED)
        e->st.hosts_silent++;
    else if (kind == NOTE_RESOLVED)
        e->st.hosts_silent--;
    if (kind != NOTE_RESTATED)
        vg_log(fired ? VG_LOG_WARN : VG_LOG_INFO, fired ? "host silent" : "host reports again",
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
    long n_gone = idle ? vg_strmap_del_if(&h->series, unseen_longer, &u, free_series) : 0;
    if (n_gone > 0) {
        e->st.series -= (uint64_t)n_gone;
        e->st.series_expired += (uint64_t)n_gone;
        vg_debug("series forgotten", "host=%s series=%ld unreported_for_ms=%lld", m->host, n_gone,
                 (long long)idle);
    }
}

int vg_engine_process(struct vg_engine *e, const struct vg_wire_msg *m, vg_engine_notify_fn fn,
                      void *ud)
{
    struct host *h = vg_strmap_get(&e->hosts, m->host);
    if (!h) {
        /* Neither seen nor restored from a checkpoint: every series warms up from nothing. */
        if (!(h = get_host(e, m->host)))
            return e->p.max_hosts && e->hosts.n >= e->p.max_hosts ? 0 : -ENOMEM;
        e->st.hosts_cold_started++;
        vg_debug("host starts cold", "host=%s", m->host);
    }
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
    h->interval_ms = m->interval_ms;
    int64_t now = e->p.clock();
    if (h->silent_since) { /* measured from the message before this one */
        notify_silent(e, m->host, h, NOTE_RESOLVED, now, fn, ud);
        h->silent_since = 0;
    }
    h->arrived_ms = e->last_arrival_ms = now;
    h->max_score = 0;
    e->st.messages++;

    if (m->ts_ms > e->latest_ts)
        e->latest_ts = m->ts_ms;
    if (labels_changed(h, m)) {
        vg_kvlist_free(&h->labels);
        for (size_t i = 0; i < m->n_labels; i++)
            if (vg_kvlist_set(&h->labels, m->labels[i].key, m->labels[i].value) < 0)
                break;
    }
    for (size_t i = 0; i < m->n_metrics; i++) {
        const char *name = m->metrics[i].name;
        if (!series_selected(e, name))
            continue;
        struct series *s = get_series(e, h, m->host, name);
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
        if (series_windowed(e, s, name))
            hist_push(s, m->ts_ms, x, e->window_ms);
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
        enum vg_alert_event ev = vg_alert_step(&s->alert, &e->p.ap, score, m->ts_ms);
        if (ev != VG_ALERT_EV_NONE)
            notify(e, m->host, h, m->ts_ms, name, s,
                   ev == VG_ALERT_EV_FIRED ? NOTE_FIRED : NOTE_RESOLVED, fn, ud);
    }
    sweep(e, m, h, fn, ud);
    if (e->rules && host_fit_rules(e, h) == 0)
        eval_rules(e, m->host, h, m->ts_ms, fn, ud);
    return 0;
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
            h->silent_since = now;
            /* ':' cannot start a metric name, so no series alert can share this fingerprint. */
            fingerprint(h->silent_fp, e->hosts.keys[i], ":" VG_ENGINE_SILENT_ALERT);
            notify_silent(e, e->hosts.keys[i], h, NOTE_FIRED, now, fn, ud);
        }
    }
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
        const struct host *h = e->hosts.vals[i];
        for (size_t k = 0; k < h->series.cap; k++) {
            const struct series *s = h->series.keys[k] ? h->series.vals[k] : NULL;
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
            struct vg_rule_result res = {1, rs->fired_value, rs->fired_score, ""};
            if (rs->fired_top)
                snprintf(res.top_metrics, sizeof(res.top_metrics), "%s", rs->fired_top);
            rule_notify(e, vg_rule_set_rule(e->rules, k), name, h, rs, NOTE_RESTATED, &res,
                        h->last_ts_ms, fn, ud);
            n++;
        }
        if (h->silent_since) {
            notify_silent(e, name, h, NOTE_RESTATED, now, fn, ud);
            n++;
        }
    }
    return n;
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
    struct series *s = v;
    free(s->hist);
    free(s);
}

static void free_host(void *v)
{
    struct host *h = v;
    vg_strmap_free(&h->series, free_series);
    for (size_t i = 0; i < h->n_rs; i++)
        rstate_forget_alert(&h->rs[i]);
    free(h->rs);
    vg_kvlist_free(&h->labels);
    free(h);
}

int vg_engine_is_duplicate(const struct vg_engine *e, const struct vg_wire_msg *m)
{
    const struct host *h = vg_strmap_get(&e->hosts, m->host);
    return h && h->have_seq && strcmp(h->boot, m->boot) == 0 && m->seq <= h->last_seq;
}

int vg_engine_host_partition(struct vg_engine *e, const char *host, int32_t partition)
{
    struct host *h = vg_strmap_get(&e->hosts, host);
    if (!h)
        return -ENOENT;
    h->partition = partition;
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
    e->st.series -= h->series.n;
    e->st.hosts--;
    e->st.hosts_released++;
    free_host(h);
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
            free(copy);
        }
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

/* ---- host state export/import (checkpoints, analyzer/vg_state_topic.c) ----
 *
 * Record, all integers little-endian:
 *   "VGHS" u32 version(1)
 *   str boot, u64 last_seq, i64 last_ts_ms, u8 have_seq, f64 max_score
 *   str detector model, u32 detector state size
 *   u32 n_series, each: str name, f64 value, f64 score, u8 warm,
 *       u8 alert state, i64 pending_since, i64 firing_since, i64 below_since,
 *       detector state bytes (the size above)
 *   u32 n_blobs, each: str type, u32 version, u32 len, bytes   (other models' state, handed to
 *       the importer's callback; an unknown type is its to skip, so a newer writer's extra
 *       models do not break an older reader)
 * where str is u16 length + bytes.
 *
 * The engine's own rule alerts travel as one more blob, type "rules" (RULES_VERSION), so that a
 * reader from before it skips them like any unknown model: u32 n, each: str rule name, u8 state,
 * i64 active_since, fired_at, last_true, resolved_at, last_ts, str fingerprint, u32 n_labels,
 * each str key, str value. Only pending and firing alerts are written: the others are the same
 * as a fresh state. Without them a rule firing when its host moved would never be resolved by
 * the new owner, which starts it inactive. */

#define HS_MAGIC   "VGHS"
#define HS_VERSION 1

#define RULES_BLOB    "rules"
#define RULES_VERSION 1

/* The engine's own part of a host that no series holds, as one more blob ("engine.host", skipped
 * like an unknown model by a reader from before it): the host's labels (its alerts are stated
 * with them, and a moved host may send nothing more), its interval, its host_silent alert, and
 * what each firing rule alert fired with (so that it is stated again with the same annotations):
 * u32 n_labels, each str key, str value; i64 interval_ms; i64 silent_since (0: not firing), i64
 * the wall clock of its last message then; u32 n, each: str rule name, f64 value, f64 score, str
 * top_metrics. */
#define HOST_BLOB    "engine.host"
#define HOST_VERSION 1

/* The samples rule window functions (avg_over and the like) read, as one more blob
 * ("engine.hist", skipped by a reader from before it), so that a moved host's windows are as
 * full at the new owner as they were: u32 n, each: str series name, u32 count, then count x (i64
 * event time, f64 value), oldest first. Only series with samples are written; with the detector
 * states, the state topic leaves it out of a record too large for the topic. */
#define HIST_BLOB    "engine.hist"
#define HIST_VERSION 1
/* A series keeps the samples of the longest window; more than this per series in a record is
 * damage, not history (one a second over a day is 86 400). */
#define HIST_MAX_SAMPLES (1u << 20)

/* The "rules" blob of h into a new buffer (*out, malloc'd, the caller frees; NULL and 0
 * when no alert of h is pending or firing). 0 or -ENOMEM. */
static int rules_export(const struct vg_engine *e, const struct host *h, unsigned char **out,
                        size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    uint32_t n = 0;
    for (size_t i = 0; i < h->n_rs; i++)
        n +=
            h->rs[i].st.state == VG_RULE_STATE_PENDING || h->rs[i].st.state == VG_RULE_STATE_FIRING;
    if (!n || !h->rs || !e->rules || h->n_rs != vg_rule_set_count(e->rules))
        return 0;
    struct vg_bw b = {.p = malloc(256), .cap = 256};
    if (!b.p)
        return -ENOMEM;
    vg_bw_uint(&b, n, 4);
    for (size_t i = 0; i < h->n_rs; i++) {
        const struct rstate *rs = &h->rs[i];
        if (rs->st.state != VG_RULE_STATE_PENDING && rs->st.state != VG_RULE_STATE_FIRING)
            continue;
        vg_bw_str16(&b, vg_rule_name(vg_rule_set_rule(e->rules, i)));
        vg_bw_uint(&b, (uint64_t)rs->st.state, 1);
        vg_bw_uint(&b, (uint64_t)rs->st.active_since, 8);
        vg_bw_uint(&b, (uint64_t)rs->st.fired_at, 8);
        vg_bw_uint(&b, (uint64_t)rs->st.last_true, 8);
        vg_bw_uint(&b, (uint64_t)rs->st.resolved_at, 8);
        vg_bw_uint(&b, (uint64_t)rs->st.last_ts, 8);
        vg_bw_str16(&b, rs->fp);
        vg_bw_uint(&b, rs->labels.n, 4);
        for (size_t k = 0; k < rs->labels.n; k++) {
            vg_bw_str16(&b, rs->labels.items[k].key);
            vg_bw_str16(&b, rs->labels.items[k].value);
        }
    }
    if (b.bad) {
        free(b.p);
        return -ENOMEM;
    }
    *out = b.p;
    *outlen = b.len;
    return 0;
}

/* The "engine.host" blob of h into a new buffer (*out, malloc'd, the caller frees). 0 or
 * -ENOMEM. */
static int host_blob_export(const struct vg_engine *e, const struct host *h, unsigned char **out,
                            size_t *outlen)
{
    struct vg_bw b = {.p = malloc(256), .cap = 256};
    if (!b.p)
        return -ENOMEM;
    vg_bw_uint(&b, h->labels.n, 4);
    for (size_t i = 0; i < h->labels.n; i++) {
        vg_bw_str16(&b, h->labels.items[i].key);
        vg_bw_str16(&b, h->labels.items[i].value);
    }
    vg_bw_uint(&b, (uint64_t)h->interval_ms, 8);
    vg_bw_uint(&b, (uint64_t)h->silent_since, 8);
    vg_bw_uint(&b, (uint64_t)(h->silent_since ? h->arrived_ms : 0), 8);
    int rules_fit = e->rules && h->rs && h->n_rs == vg_rule_set_count(e->rules);
    uint32_t n = 0;
    for (size_t i = 0; rules_fit && i < h->n_rs; i++)
        n += h->rs[i].st.state == VG_RULE_STATE_FIRING;
    vg_bw_uint(&b, n, 4);
    for (size_t i = 0; n && i < h->n_rs; i++) {
        const struct rstate *rs = &h->rs[i];
        if (rs->st.state != VG_RULE_STATE_FIRING)
            continue;
        vg_bw_str16(&b, vg_rule_name(vg_rule_set_rule(e->rules, i)));
        vg_bw_f64(&b, rs->fired_value);
        vg_bw_f64(&b, rs->fired_score);
        vg_bw_str16(&b, rs->fired_top ? rs->fired_top : "");
    }
    if (b.bad) {
        free(b.p);
        return -ENOMEM;
    }
    *out = b.p;
    *outlen = b.len;
    return 0;
}

/* The "engine.hist" blob of h into a new buffer (*out, malloc'd, the caller frees; NULL and 0
 * when no series of h has samples). 0 or -ENOMEM. */
static int hist_export(const struct host *h, unsigned char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    uint32_t n = 0;
    size_t bytes = 4;
    for (size_t i = 0; i < h->series.cap; i++) {
        const struct series *s = h->series.keys[i] ? h->series.vals[i] : NULL;
        if (s && s->hn) {
            n++;
            bytes += 2 + strlen(h->series.keys[i]) + 4 + (size_t)s->hn * 16;
        }
    }
    if (!n)
        return 0;
    struct vg_bw b = {.p = malloc(bytes), .cap = bytes};
    if (!b.p)
        return -ENOMEM;
    vg_bw_uint(&b, n, 4);
    for (size_t i = 0; i < h->series.cap; i++) {
        const struct series *s = h->series.keys[i] ? h->series.vals[i] : NULL;
        if (!s || !s->hn)
            continue;
        vg_bw_str16(&b, h->series.keys[i]);
        vg_bw_uint(&b, s->hn, 4);
        for (uint32_t k = 0; k < s->hn; k++) {
            const struct sample *x = &s->hist[(s->hhead + k) % s->hcap];
            vg_bw_uint(&b, (uint64_t)x->ts_ms, 8);
            vg_bw_f64(&b, x->v);
        }
    }
    if (b.bad) {
        free(b.p);
        return -ENOMEM;
    }
    *out = b.p;
    *outlen = b.len;
    return 0;
}

int vg_engine_host_export(const struct vg_engine *e, const char *host,
                          const struct vg_engine_blob *blobs, size_t n_blobs, size_t headroom,
                          unsigned flags, unsigned char **out, size_t *outlen)
{
    const struct host *h = vg_strmap_get(&e->hosts, host);
    if (!h)
        return -ENOENT;
    /* Sized once for the usual names (the state checkpoint exports every host each interval:
     * growing by doubling copied each record several times). */
    unsigned char *rules = NULL, *hb = NULL, *hist = NULL;
    size_t rules_len = 0, hb_len = 0, hist_len = 0;
    /* No model name and no state: the importer takes it as another model's record. */
    int with_det = !(flags & VG_ENGINE_EXPORT_NO_DETECTOR);
    if (rules_export(e, h, &rules, &rules_len) < 0)
        return -ENOMEM;
    if (host_blob_export(e, h, &hb, &hb_len) < 0 ||
        (with_det && hist_export(h, &hist, &hist_len) < 0)) {
        free(rules);
        free(hb);
        return -ENOMEM;
    }
    if (hist_len > UINT32_MAX) { /* not a record anyone could carry: windows fill again */
        free(hist);
        hist = NULL;
        hist_len = 0;
    }
    size_t det_size = with_det ? e->p.detector->state_size : 0;
    size_t guess = headroom + 256 + h->series.n * (48 + 40 + det_size) + rules_len + 80 + hb_len;
    for (size_t i = 0; i < n_blobs; i++)
        guess += 80 + blobs[i].len;
    struct vg_bw b = {.p = malloc(guess), .cap = guess, .len = headroom};
    if (!b.p) {
        free(rules);
        free(hb);
        return -ENOMEM;
    }
    vg_bw_put(&b, HS_MAGIC, 4);
    vg_bw_uint(&b, HS_VERSION, 4);
    vg_bw_str16(&b, h->boot);
    vg_bw_uint(&b, h->last_seq, 8);
    vg_bw_uint(&b, (uint64_t)h->last_ts_ms, 8);
    vg_bw_uint(&b, (uint64_t)h->have_seq, 1);
    vg_bw_f64(&b, h->max_score);
    vg_bw_str16(&b, with_det ? e->p.detector->name : "");
    vg_bw_uint(&b, det_size, 4);
    vg_bw_uint(&b, h->series.n, 4);
    for (size_t i = 0; i < h->series.cap; i++) {
        if (!h->series.keys[i])
            continue;
        const struct series *s = h->series.vals[i];
        vg_bw_str16(&b, h->series.keys[i]);
        vg_bw_f64(&b, s->value);
        vg_bw_f64(&b, s->score);
        vg_bw_uint(&b, (uint64_t)s->warm, 1);
        vg_bw_uint(&b, (uint64_t)s->alert.state, 1);
        vg_bw_uint(&b, (uint64_t)s->alert.pending_since, 8);
        vg_bw_uint(&b, (uint64_t)s->alert.firing_since, 8);
        vg_bw_uint(&b, (uint64_t)s->alert.below_since, 8);
        vg_bw_put(&b, s->det, det_size);
    }
    vg_bw_uint(&b, n_blobs + (rules != NULL) + 1 + (hist != NULL), 4);
    for (size_t i = 0; i < n_blobs; i++) {
        if (blobs[i].len > UINT32_MAX) {
            free(rules);
            free(hb);
            free(hist);
            free(b.p);
            return -EINVAL;
        }
        vg_bw_str16(&b, blobs[i].type);
        vg_bw_uint(&b, blobs[i].version, 4);
        vg_bw_uint(&b, blobs[i].len, 4);
        vg_bw_put(&b, blobs[i].data, blobs[i].len);
    }
    if (rules) {
        vg_bw_str16(&b, RULES_BLOB);
        vg_bw_uint(&b, RULES_VERSION, 4);
        vg_bw_uint(&b, rules_len, 4);
        vg_bw_put(&b, rules, rules_len);
        free(rules);
    }
    /* After the rules: its values go to the rule alerts they restored. */
    vg_bw_str16(&b, HOST_BLOB);
    vg_bw_uint(&b, HOST_VERSION, 4);
    vg_bw_uint(&b, hb_len, 4);
    vg_bw_put(&b, hb, hb_len);
    free(hb);
    if (hist) {
        vg_bw_str16(&b, HIST_BLOB);
        vg_bw_uint(&b, HIST_VERSION, 4);
        vg_bw_uint(&b, hist_len, 4);
        vg_bw_put(&b, hist, hist_len);
        free(hist);
    }
    if (b.bad) {
        free(b.p);
        return -ENOMEM;
    }
    *out = b.p;
    *outlen = b.len;
    return 0;
}

/* Copies a str into dst (NUL-terminated, dstlen > 0); too long for dst is an error. */
static void hs_gets(struct vg_br *r, char *dst, size_t dstlen)
{
    size_t n = (size_t)vg_br_uint(r, 2);
    const unsigned char *p = vg_br_take(r, n);
    if (!p || n >= dstlen) {
        r->bad = 1;
        dst[0] = '\0';
        return;
    }
    memcpy(dst, p, n);
    dst[n] = '\0';
}

/* Restores h's pending and firing rule alerts from a "rules" blob, by rule name: a rule this
 * engine's set does not have is skipped (counted), as after a reload that removed it. A firing
 * one resolves here, with its fingerprint, when its condition stays false. With h NULL, only
 * checks the blob (the same messages), changing nothing. */
static int rules_import(struct vg_engine *e, struct host *h, uint32_t version,
                        const unsigned char *data, size_t len, char *err, size_t errlen)
{
    if (version != RULES_VERSION)
        return vg_err(err, errlen, -EPROTONOSUPPORT,
                      "rule alert states: version %u, this analyzer reads %d", version,
                      RULES_VERSION);
    if (h && host_fit_rules(e, h) < 0)
        return vg_err(err, errlen, -ENOMEM, "rule alert states: out of memory");
    struct vg_br r = {data, len, 0, 0};
    uint32_t n = (uint32_t)vg_br_uint(&r, 4);
    char name[256], key[256], value[4096];
    for (uint32_t i = 0; i < n && !r.bad; i++) {
        hs_gets(&r, name, sizeof(name));
        struct vg_rule_state st = {.state = (enum vg_rule_state_kind)vg_br_uint(&r, 1)};
        st.active_since = (int64_t)vg_br_uint(&r, 8);
        st.fired_at = (int64_t)vg_br_uint(&r, 8);
        st.last_true = (int64_t)vg_br_uint(&r, 8);
        st.resolved_at = (int64_t)vg_br_uint(&r, 8);
        st.last_ts = (int64_t)vg_br_uint(&r, 8);
        char fp[VG_RULE_FINGERPRINT_LEN];
        hs_gets(&r, fp, sizeof(fp));
        uint32_t nl = (uint32_t)vg_br_uint(&r, 4);
        if (r.bad || (st.state != VG_RULE_STATE_PENDING && st.state != VG_RULE_STATE_FIRING))
            return vg_err(err, errlen, -EINVAL, "rule alert states: truncated or corrupt");
        struct vg_kvlist labels = {0};
        for (uint32_t k = 0; k < nl && !r.bad; k++) {
            hs_gets(&r, key, sizeof(key));
            hs_gets(&r, value, sizeof(value));
            if (!r.bad && vg_kvlist_set(&labels, key, value) < 0) {
                vg_kvlist_free(&labels);
                return vg_err(err, errlen, -ENOMEM, "rule alert states: out of memory");
            }
        }
        if (r.bad) {
            vg_kvlist_free(&labels);
            return vg_err(err, errlen, -EINVAL, "rule alert states: truncated or corrupt");
        }
        if (!h) {
            vg_kvlist_free(&labels);
            continue;
        }
        size_t at = 0;
        while (at < h->n_rs && strcmp(vg_rule_name(vg_rule_set_rule(e->rules, at)), name) != 0)
            at++;
        if (at == h->n_rs) {
            e->st.rule_states_skipped++;
            vg_kvlist_free(&labels);
            continue;
        }
        struct rstate *rs = &h->rs[at];
        if (rs->st.state == VG_RULE_STATE_FIRING && e->st.firing)
            e->st.firing--;
        rstate_forget_alert(rs);
        rs->st = st;
        rs->labels = labels;
        snprintf(rs->fp, sizeof(rs->fp), "%s", fp);
        if (st.state == VG_RULE_STATE_FIRING)
            e->st.firing++;
        e->st.rule_states_restored++;
    }
    if (r.bad || r.off != r.len)
        return vg_err(err, errlen, -EINVAL, "rule alert states: truncated or corrupt");
    return 0;
}

/* Restores h's labels, host_silent alert and what its firing rule alerts fired with from an
 * "engine.host" blob (after its "rules" blob). With h NULL, only checks the blob. */
static int host_blob_import(struct vg_engine *e, const char *host, struct host *h, uint32_t version,
                            const unsigned char *data, size_t len, char *err, size_t errlen)
{
    if (version != HOST_VERSION)
        return vg_err(err, errlen, -EPROTONOSUPPORT,
                      "host state: version %u, this analyzer reads %d", version, HOST_VERSION);
    struct vg_br r = {data, len, 0, 0};
    char key[VG_WIRE_NAME_MAX + 1], value[VG_WIRE_LABEL_VALUE_MAX + 1], name[256];
    struct vg_kvlist labels = {0};
    uint32_t nl = (uint32_t)vg_br_uint(&r, 4);
    for (uint32_t i = 0; i < nl && !r.bad; i++) {
        hs_gets(&r, key, sizeof(key));
        hs_gets(&r, value, sizeof(value));
        if (!r.bad && h && vg_kvlist_set(&labels, key, value) < 0) {
            vg_kvlist_free(&labels);
            return vg_err(err, errlen, -ENOMEM, "host state: out of memory");
        }
    }
    int64_t interval = (int64_t)vg_br_uint(&r, 8);
    int64_t silent_since = (int64_t)vg_br_uint(&r, 8);
    int64_t arrived = (int64_t)vg_br_uint(&r, 8);
    if (r.bad || interval < 0 || silent_since < 0 || arrived < 0) {
        vg_kvlist_free(&labels);
        return vg_err(err, errlen, -EINVAL, "host state: truncated or corrupt");
    }
    if (h) {
        vg_kvlist_free(&h->labels);
        h->labels = labels;
        h->interval_ms = interval;
        if (silent_since) {
            h->silent_since = silent_since;
            h->arrived_ms = arrived ? arrived : silent_since;
            fingerprint(h->silent_fp, host, ":" VG_ENGINE_SILENT_ALERT);
            e->st.firing++;
            e->st.hosts_silent++;
        }
    }
    uint32_t n = (uint32_t)vg_br_uint(&r, 4);
    for (uint32_t i = 0; i < n && !r.bad; i++) {
        hs_gets(&r, name, sizeof(name));
        double v = vg_br_f64(&r), sc = vg_br_f64(&r);
        struct vg_rule_result top;
        hs_gets(&r, top.top_metrics, sizeof(top.top_metrics));
        if (r.bad || !h || !e->rules)
            continue;
        for (size_t k = 0; k < h->n_rs && k < vg_rule_set_count(e->rules); k++) {
            struct rstate *rs = &h->rs[k];
            if (rs->st.state != VG_RULE_STATE_FIRING ||
                strcmp(vg_rule_name(vg_rule_set_rule(e->rules, k)), name) != 0)
                continue;
            rs->fired_value = v;
            rs->fired_score = sc;
            free(rs->fired_top);
            rs->fired_top = top.top_metrics[0] ? strdup(top.top_metrics) : NULL;
        }
    }
    if (r.bad || r.off != r.len)
        return vg_err(err, errlen, -EINVAL, "host state: truncated or corrupt");
    return 0;
}

/* Refills the rule windows of h's series from an "engine.hist" blob (after the series are
 * restored); a series h lacks is skipped. With h NULL, only checks the blob. */
static int hist_import(struct vg_engine *e, struct host *h, uint32_t version,
                       const unsigned char *data, size_t len, char *err, size_t errlen)
{
    if (version != HIST_VERSION)
        return 0; /* a newer writer's: the windows fill again, as before this blob */
    struct vg_br r = {data, len, 0, 0};
    char name[VG_WIRE_NAME_MAX + 1];
    uint32_t n = (uint32_t)vg_br_uint(&r, 4);
    for (uint32_t i = 0; i < n && !r.bad; i++) {
        hs_gets(&r, name, sizeof(name));
        uint32_t count = (uint32_t)vg_br_uint(&r, 4);
        if (r.bad || count > HIST_MAX_SAMPLES || count > (r.len - r.off) / 16)
            return vg_err(err, errlen, -EINVAL, "rule window history: truncated or corrupt");
        struct series *s = h ? vg_strmap_get(&h->series, name) : NULL;
        if (s && !series_windowed(e, s, name))
            s = NULL;
        if (s)
            s->hhead = s->hn = 0;
        int64_t prev = INT64_MIN;
        for (uint32_t k = 0; k < count; k++) {
            int64_t ts = (int64_t)vg_br_uint(&r, 8);
            double v = vg_br_f64(&r);
            /* In order and finite, as hist_push keeps them: a window reads them as written. */
            if (ts < prev || !isfinite(v))
                return vg_err(err, errlen, -EINVAL,
                              "rule window history of %s: sample %u out of order or not finite",
                              name, k);
            prev = ts;
            if (s && hist_push(s, ts, v, e->window_ms) < 0)
                return vg_err(err, errlen, -ENOMEM, "rule window history: out of memory");
        }
    }
    if (r.bad || r.off != r.len)
        return vg_err(err, errlen, -EINVAL, "rule window history: truncated or corrupt");
    return 0;
}

/* One series of a host record, as read; det points into the record. */
struct hs_entry {
    char name[VG_WIRE_NAME_MAX + 1];
    double value, score;
    int warm;
    struct vg_alert alert;
    const unsigned char *det;
};

static void hs_read_entry(struct vg_br *r, size_t state_size, struct hs_entry *s)
{
    hs_gets(r, s->name, sizeof(s->name));
    s->value = vg_br_f64(r);
    s->score = vg_br_f64(r);
    s->warm = (int)vg_br_uint(r, 1);
    s->alert = (struct vg_alert){.state = (enum vg_alert_state)vg_br_uint(r, 1)};
    s->alert.pending_since = (int64_t)vg_br_uint(r, 8);
    s->alert.firing_since = (int64_t)vg_br_uint(r, 8);
    s->alert.below_since = (int64_t)vg_br_uint(r, 8);
    s->det = vg_br_take(r, state_size);
}

/* One model's blob of a host record, as read; data points into the record. */
struct hs_blob {
    char type[64];
    uint32_t version;
    const unsigned char *data;
    size_t len;
};

static void hs_read_blob(struct vg_br *r, struct hs_blob *b)
{
    hs_gets(r, b->type, sizeof(b->type));
    b->version = (uint32_t)vg_br_uint(r, 4);
    b->len = (size_t)vg_br_uint(r, 4);
    b->data = vg_br_take(r, b->len);
}

/* Reads a record's series and blobs (r at its first series) without changing anything, so that
 * a corrupt record is refused whole, before it replaces what the engine knew of the host. The
 * detector states of this engine's model are checked by the model (vg_detector.check): they are
 * copied in byte for byte, and their counts index arrays. */
static int import_check(const struct vg_engine *e, const char *host, struct vg_br r, uint32_t n,
                        size_t state_size, int same_model, char *err, size_t errlen)
{
    char why[VG_ERRLEN];
    const struct vg_detector *d = e->p.detector;
    /* The record's bytes are unaligned; a model reads its state as its struct. */
    void *scratch = same_model && d->check ? malloc(state_size ? state_size : 1) : NULL;
    if (same_model && d->check && !scratch)
        return vg_err(err, errlen, -ENOMEM, "host state of %s: out of memory", host);
    int rc = 0;
    for (uint32_t i = 0; i < n && !rc; i++) {
        struct hs_entry s;
        hs_read_entry(&r, state_size, &s);
        if (r.bad)
            rc =
                vg_err(err, errlen, -EINVAL, "host state of %s: truncated or corrupt series", host);
        else if (s.alert.state > VG_ALERT_FIRING)
            rc = vg_err(err, errlen, -EINVAL, "host state of %s: series %s: alert state %u unknown",
                        host, s.name, (unsigned)s.alert.state);
        else if (scratch) {
            memcpy(scratch, s.det, state_size);
            if (d->check(scratch, why, sizeof(why)) < 0)
                rc = vg_err(err, errlen, -EINVAL, "host state of %s: series %s: %s detector: %s",
                            host, s.name, d->name, why);
        }
    }
    free(scratch);
    if (rc)
        return rc;
    uint32_t n_blobs = (uint32_t)vg_br_uint(&r, 4);
    for (uint32_t i = 0; i < n_blobs && !r.bad; i++) {
        struct hs_blob b;
        hs_read_blob(&r, &b);
        if (!r.bad && strcmp(b.type, RULES_BLOB) == 0 &&
            (rc = rules_import((struct vg_engine *)e, NULL, b.version, b.data, b.len, err,
                               errlen)) < 0)
            return rc;
        if (!r.bad && strcmp(b.type, HOST_BLOB) == 0 &&
            (rc = host_blob_import((struct vg_engine *)e, host, NULL, b.version, b.data, b.len, err,
                                   errlen)) < 0)
            return rc;
        if (!r.bad && strcmp(b.type, HIST_BLOB) == 0 &&
            (rc = hist_import((struct vg_engine *)e, NULL, b.version, b.data, b.len, err, errlen)) <
                0)
            return rc;
    }
    if (r.bad || r.off != r.len)
        return vg_err(err, errlen, -EINVAL, "host state of %s: truncated model state%s", host,
                      r.bad ? "" : " (bytes after its end)");
    return 0;
}

int vg_engine_host_import(struct vg_engine *e, const char *host, const unsigned char *buf,
                          size_t len, vg_engine_blob_fn fn, void *ud, char *err, size_t errlen)
{
    struct vg_br r = {buf, len, 0, 0};
    const unsigned char *magic = vg_br_take(&r, 4);
    if (!magic || memcmp(magic, HS_MAGIC, 4) != 0)
        return vg_err(err, errlen, -EINVAL, "host state of %s: not a host state record", host);
    uint32_t version = (uint32_t)vg_br_uint(&r, 4);
    if (version != HS_VERSION)
        return vg_err(err, errlen, -EPROTONOSUPPORT,
                      "host state of %s: version %u, this analyzer reads %d", host, version,
                      HS_VERSION);
    char boot[VG_WIRE_BOOT_MAX + 1], model[64];
    hs_gets(&r, boot, sizeof(boot));
    uint64_t last_seq = vg_br_uint(&r, 8);
    int64_t last_ts = (int64_t)vg_br_uint(&r, 8);
    int have_seq = (int)vg_br_uint(&r, 1);
    double max_score = vg_br_f64(&r);
    hs_gets(&r, model, sizeof(model));
    size_t state_size = (size_t)vg_br_uint(&r, 4);
    uint32_t n = (uint32_t)vg_br_uint(&r, 4);
    if (r.bad)
        return vg_err(err, errlen, -EINVAL, "host state of %s: truncated header", host);
    /* Another model's state cannot seed this one: its series start cold. */
    int same_model =
        strcmp(model, e->p.detector->name) == 0 && state_size == e->p.detector->state_size;
    int rc = import_check(e, host, r, n, state_size, same_model, err, errlen);
    if (rc < 0)
        return rc;
    struct host *h = get_host(e, host);
    if (!h)
        return vg_err(err, errlen, -ENOMEM, "host state of %s: host limit or out of memory", host);
    /* The checkpoint replaces whatever this engine knew of the host's series: it is newer. */
    for (size_t i = 0; i < h->series.cap; i++) {
        const struct series *s = h->series.keys[i] ? h->series.vals[i] : NULL;
        if (s && s->alert.state == VG_ALERT_FIRING && e->st.firing)
            e->st.firing--;
    }
    e->st.series -= h->series.n;
    vg_strmap_free(&h->series, free_series);
    vg_strmap_init(&h->series);
    /* Rule alerts too: those not in the record were inactive when it was written; and its
     * host_silent alert, which the record states when it fired. */
    if (h->silent_since && e->st.firing) {
        e->st.firing--;
        e->st.hosts_silent--;
    }
    h->silent_since = 0;
    for (size_t i = 0; i < h->n_rs; i++) {
        if (h->rs[i].st.state == VG_RULE_STATE_FIRING && e->st.firing)
            e->st.firing--;
        rstate_forget_alert(&h->rs[i]);
        memset(&h->rs[i], 0, sizeof(h->rs[i]));
    }
    snprintf(h->boot, sizeof(h->boot), "%s", boot);
    h->last_seq = last_seq;
    h->last_ts_ms = last_ts;
    h->have_seq = have_seq;
    h->max_score = max_score;
    /* Checked above: the reads below cannot fail. */
    for (uint32_t i = 0; i < n; i++) {
        struct hs_entry in;
        hs_read_entry(&r, state_size, &in);
        struct series *s = get_series(e, h, host, in.name);
        if (!s)
            continue;
        s->value = in.value;
        s->score = in.score;
        if (s->alert.state == VG_ALERT_FIRING && e->st.firing)
            e->st.firing--; /* a name twice in one record: the later entry counts */
        s->alert = in.alert;
        if (in.alert.state == VG_ALERT_FIRING)
            e->st.firing++;
        if (same_model) {
            s->warm = in.warm;
            memcpy(s->det, in.det, state_size);
        }
        if (s->warm && !h->scoring)
            h->scoring = 1;
    }
    uint32_t n_blobs = (uint32_t)vg_br_uint(&r, 4);
    struct hs_blob hb = {.data = NULL};
    for (uint32_t i = 0; i < n_blobs; i++) {
        struct hs_blob b;
        hs_read_blob(&r, &b);
        if (strcmp(b.type, RULES_BLOB) == 0) {
            if ((rc = rules_import(e, h, b.version, b.data, b.len, err, errlen)) < 0)
                return rc; /* out of memory: the blob itself was checked */
        } else if (strcmp(b.type, HOST_BLOB) == 0) {
            hb = b; /* once the rule alerts it completes are in */
        } else if (strcmp(b.type, HIST_BLOB) == 0) {
            if ((rc = hist_import(e, h, b.version, b.data, b.len, err, errlen)) < 0)
                return rc; /* out of memory, likewise */
        } else if (fn) {
            fn(ud, host, &(struct vg_engine_blob){b.type, b.version, b.data, b.len});
        }
    }
    if (hb.data &&
        (rc = host_blob_import(e, host, h, hb.version, hb.data, hb.len, err, errlen)) < 0)
        return rc; /* out of memory, likewise */
    return 0;
}
