#include "vg_rule.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_rule_impl.h"

static void free_tmpl_kvs(struct vg_rule_tmpl_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        vg_tmpl_free(kv[i].tmpl);
    }
    free(kv);
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void vg_rule_free(struct vg_rule *r)
{
    if (!r)
        return;
    free(r->name);
    free(r->where);
    for (size_t i = 0; i < r->n_select; i++)
        vg_rule_select_free(&r->select[i]);
    free(r->select);
    free(r->when_text);
    vg_expr_free(r->when);
    free_tmpl_kvs(r->labels, r->n_labels);
    free_tmpl_kvs(r->annotations, r->n_annotations);
    free_strv(r->actions, r->n_actions);
    free_strv(r->action_where, r->n_actions);
    free_strv(r->series, r->n_series);
    free(r);
}

void vg_rule_set_free(struct vg_rule_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        vg_rule_free(s->rules[i]);
    free(s->rules);
    for (size_t i = 0; i < s->n_policies; i++)
        vg_rule_policy_free(s->policies[i]);
    free(s->policies);
    for (size_t i = 0; i < s->n_skipped; i++)
        free(s->skipped[i]);
    free(s->skipped);
    for (size_t i = 0; i < 2 * s->n_host_models; i++)
        free(s->host_models[i]);
    free(s->host_models);
    free(s);
}

size_t vg_rule_set_host_model_count(const struct vg_rule_set *s)
{
    return s->n_host_models;
}

const char *vg_rule_set_host_model(const struct vg_rule_set *s, size_t i, const char **where)
{
    if (i >= s->n_host_models)
        return NULL;
    if (where)
        *where = s->host_models[2 * i + 1];
    return s->host_models[2 * i];
}

size_t vg_rule_set_count(const struct vg_rule_set *s)
{
    return s->n;
}

const struct vg_rule *vg_rule_set_rule(const struct vg_rule_set *s, size_t i)
{
    return i < s->n ? s->rules[i] : NULL;
}

const struct vg_rule *vg_rule_set_find(const struct vg_rule_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->rules[i]->name, name) == 0)
            return s->rules[i];
    return NULL;
}

int vg_rule_set_reads_window_of(const struct vg_rule_set *s, const char *name)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (vg_expr_reads_window_of(s->rules[i]->when, name))
            return 1;
    for (size_t i = 0; s && i < s->n_policies; i++)
        if (vg_expr_reads_window_of(s->policies[i]->expr, name))
            return 1;
    return 0;
}

int64_t vg_rule_set_max_window_ms(const struct vg_rule_set *s)
{
    int64_t m = 0;
    for (size_t i = 0; i < s->n; i++) {
        int64_t w = vg_expr_max_window_ms(s->rules[i]->when);
        if (w > m)
            m = w;
    }
    for (size_t i = 0; i < s->n_policies; i++) {
        int64_t w = vg_expr_max_window_ms(s->policies[i]->expr);
        if (w > m)
            m = w;
    }
    return m;
}

const char *vg_rule_name(const struct vg_rule *r)
{
    return r->name;
}

const char *vg_rule_where(const struct vg_rule *r)
{
    return r->where;
}

const char *vg_rule_when(const struct vg_rule *r)
{
    return r->when_text;
}

enum vg_rule_severity vg_rule_severity(const struct vg_rule *r)
{
    return r->severity;
}

const char *vg_rule_severity_name(enum vg_rule_severity s)
{
    switch (s) {
    case VG_RULE_INFO:
        return "info";
    case VG_RULE_WARNING:
        return "warning";
    case VG_RULE_CRITICAL:
        return "critical";
    }
    return "?";
}

int64_t vg_rule_for_ms(const struct vg_rule *r)
{
    return r->for_ms;
}

int64_t vg_rule_keep_firing_for_ms(const struct vg_rule *r)
{
    return r->keep_firing_for_ms;
}

size_t vg_rule_action_count(const struct vg_rule *r)
{
    return r->n_actions;
}

const char *vg_rule_action(const struct vg_rule *r, size_t i)
{
    return i < r->n_actions ? r->actions[i] : NULL;
}

const char *vg_rule_action_where(const struct vg_rule *r, size_t i)
{
    return i < r->n_actions ? r->action_where[i] : NULL;
}

size_t vg_rule_annotation_count(const struct vg_rule *r)
{
    return r->n_annotations;
}

const char *vg_rule_annotation_name(const struct vg_rule *r, size_t i)
{
    return i < r->n_annotations ? r->annotations[i].key : NULL;
}

/* ---- hosts --------------------------------------------------------------------------------- */

struct host_labels {
    const char *host;
    const struct vg_label *labels;
    size_t n;
};

static const char *host_label(const void *ud, const char *name)
{
    const struct host_labels *h = ud;
    if (h->host && strcmp(name, "host") == 0)
        return h->host;
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->labels[i].key, name) == 0)
            return h->labels[i].value;
    return NULL;
}

int vg_rule_matches_host(const struct vg_rule *r, const char *host, const struct vg_label *labels,
                         size_t n)
{
    struct host_labels h = {host, labels, n};
    for (size_t i = 0; i < r->n_select; i++)
        if (!vg_rule_select_match(&r->select[i], host_label, &h))
            return 0;
    return 1;
}

/* ---- evaluation ---------------------------------------------------------------------------- */

struct top {
    const struct vg_rule *r;
    size_t n;
    char name[VG_RULE_TOP_METRICS][VG_WIRE_NAME_MAX + 1];
    double score[VG_RULE_TOP_METRICS];
};

/* Highest score first; equal scores by name, so the text does not depend on the order in which
 * the analyzer happens to list its series. */
static int ranks_before(double s, const char *name, double s2, const char *name2)
{
    return s > s2 || (s == s2 && strcmp(name, name2) < 0);
}

static int top_one(void *ud, const char *series, double score)
{
    struct top *t = ud;
    if (!isfinite(score) || !vg_expr_series_selected(series, t->r->series, t->r->n_series))
        return 0;
    char name[VG_WIRE_NAME_MAX + 1];
    snprintf(name, sizeof(name), "%s", series);
    size_t at = t->n;
    while (at > 0 && ranks_before(score, name, t->score[at - 1], t->name[at - 1]))
        at--;
    if (at >= VG_RULE_TOP_METRICS)
        return 0;
    size_t last = t->n < VG_RULE_TOP_METRICS ? t->n : VG_RULE_TOP_METRICS - 1;
    for (size_t i = last; i > at; i--) {
        memcpy(t->name[i], t->name[i - 1], sizeof(t->name[i]));
        t->score[i] = t->score[i - 1];
    }
    memcpy(t->name[at], name, sizeof(name));
    t->score[at] = score;
    if (t->n < VG_RULE_TOP_METRICS)
        t->n++;
    return 0;
}

int vg_rule_eval(const struct vg_rule *r, const struct vg_expr_env *env, struct vg_rule_result *res)
{
    struct vg_expr_result er;
    res->matched = 0;
    res->value = NAN;
    res->score = NAN;
    res->top_metrics[0] = '\0';
    int rc = vg_expr_eval(r->when, env, r->series, r->n_series, &er);
    if (rc)
        return rc;
    res->matched = er.matched;
    res->value = er.value;
    struct top t = {.r = r};
    rc = env->scores ? env->scores(env->ud, top_one, &t) : 0;
    if (rc < 0 && rc != -ENOENT)
        return rc;
    if (t.n)
        res->score = t.score[0];
    size_t used = 0;
    for (size_t i = 0; i < t.n; i++) {
        int w = snprintf(res->top_metrics + used, sizeof(res->top_metrics) - used, "%s%s=%.6g",
                         i ? ", " : "", t.name[i], t.score[i]);
        if (w < 0 || (size_t)w >= sizeof(res->top_metrics) - used)
            break; /* sized for three full names; cannot happen */
        used += (size_t)w;
    }
    return 0;
}

/* ---- alert labels and annotations ---------------------------------------------------------- */

int vg_rule_alert_labels(const struct vg_rule *r, const char *host, const struct vg_label *labels,
                         size_t n, struct vg_kvlist *out)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++)
        rc = vg_kvlist_set(out, labels[i].key, labels[i].value);
    if (!rc && host)
        rc = vg_kvlist_set(out, "host", host);
    struct host_labels h = {host, labels, n};
    struct vg_tmpl_ctx c = {.rule = r->name,
                            .host = host,
                            .severity = vg_rule_severity_name(r->severity),
                            .value = NAN,
                            .score = NAN,
                            .label = host_label,
                            .label_ud = &h};
    for (size_t i = 0; !rc && i < r->n_labels; i++) {
        char buf[1024];
        vg_tmpl_render(r->labels[i].tmpl, &c, buf, sizeof(buf));
        rc = vg_kvlist_set(out, r->labels[i].key, buf);
    }
    return rc;
}

static const char *kvlist_label(const void *ud, const char *name)
{
    return ud ? vg_kvlist_get(ud, name) : NULL;
}

size_t vg_rule_render_annotation(const struct vg_rule *r, size_t i, const char *host,
                                 const struct vg_kvlist *alert_labels,
                                 const struct vg_rule_result *res, char *buf, size_t len)
{
    if (i >= r->n_annotations) {
        if (len)
            buf[0] = '\0';
        return 0;
    }
    struct vg_tmpl_ctx c = {.rule = r->name,
                            .host = host,
                            .severity = vg_rule_severity_name(r->severity),
                            .value = res ? res->value : NAN,
                            .score = res ? res->score : NAN,
                            .top_metrics = res && res->top_metrics[0] ? res->top_metrics : NULL,
                            .label = kvlist_label,
                            .label_ud = alert_labels};
    return vg_tmpl_render(r->annotations[i].tmpl, &c, buf, len);
}
