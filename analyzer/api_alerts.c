/* GET /api/v1/alerts, silences, rules and reload, scaling decisions (docs/api.md). */
#include "api_metrics.h"
#include "api_alerts.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "analyzer_rules.h"
#include "vg_decisions.h"
#include "vg_dispatch.h"
#include "vg_format.h"
#include "vg_rule_policy.h"
#include "vg_silence.h"
#include "vg_util.h"

#define JSON_CT "application/json"

/* Sends j (stolen) as the response. */
static void reply_json(struct vg_http_response *resp, int status, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(j);
    free(resp->body);
    resp->status = text ? status : 500;
    resp->content_type = JSON_CT;
    resp->body = text;
    resp->len = text ? strlen(text) : 0;
}

static void reply_error(struct vg_http_response *resp, int status, const char *msg)
{
    reply_json(resp, status, json_pack("{s:o}", "error", vg_fmt_str(msg)));
}

static json_t *receiver_names(const struct analyzer *a)
{
    json_t *r = json_array();
    for (size_t i = 0; i < a->n_receivers; i++)
        json_array_append_new(r, vg_fmt_str(a->receivers[i].name));
    return r;
}

void vg_api_alerts(void *ud, const struct vg_http_request *req, struct vg_http_response *resp)
{
    struct analyzer *a = ud;
    (void)req;
    pthread_mutex_lock(&a->lock);
    json_t *o = a->dispatch ? vg_dispatch_alerts_json(a->dispatch, vg_now_ms()) : NULL;
    /* An alert routed to every receiver lists them. */
    size_t i;
    json_t *al;
    json_array_foreach(json_object_get(o, "alerts"), i, al)
    {
        if (json_array_size(json_object_get(al, "receivers")) == 0)
            json_object_set_new(al, "receivers", receiver_names(a));
    }
    pthread_mutex_unlock(&a->lock);
    reply_json(resp, 200, o);
}

void vg_api_silences_get(void *ud, const struct vg_http_request *req, struct vg_http_response *resp)
{
    struct analyzer *a = ud;
    if (!a->silences) {
        reply_error(resp, 503, "silences are not available");
        return;
    }
    (void)req;
    pthread_mutex_lock(&a->lock);
    json_t *o = vg_silences_json(a->silences, NULL, vg_now_ms());
    pthread_mutex_unlock(&a->lock);
    reply_json(resp, 200, o);
}

void vg_api_silences_post(void *ud, const struct vg_http_request *req,
                          struct vg_http_response *resp)
{
    struct analyzer *a = ud;
    if (!a->silences) {
        reply_error(resp, 503, "silences are not available");
        return;
    }
    char err[VG_ERRLEN];
    struct vg_silences_change ch;
    pthread_mutex_lock(&a->silences_save_lock);
    pthread_mutex_lock(&a->lock);
    int rc = vg_silences_prepare_add(a->silences, req->body, req->body_len, vg_now_ms(), &ch, err,
                                     sizeof(err));
    int unsaved = 0;
    json_t *o = NULL;
    /* Saved before it is made and answered, and not made when the save fails: a 201 is a silence
     * that survives a restart, and a 503 one that never held anything (docs/api.md). The write
     * and fsync happen outside the analyzer's lock, but under silences_save_lock, with the
     * snapshot numbered: no older state can be written after this one. */
    if (!rc) {
        o = vg_silences_change_json(a->silences, &ch);
        unsaved = analyzer_silences_change(a, &ch, err, sizeof(err)) < 0;
        a->silences_created += !unsaved;
    }
    pthread_mutex_unlock(&a->lock);
    pthread_mutex_unlock(&a->silences_save_lock);
    vg_silences_change_free(&ch);
    if (unsaved) {
        json_decref(o);
        reply_error(resp, 503, err);
    } else if (rc == -ENOSPC)
        reply_error(resp, 507, err);
    else if (rc == -ENOMEM)
        reply_error(resp, 500, "out of memory");
    else if (rc)
        reply_error(resp, 400, err);
    else
        reply_json(resp, 201, o);
}

void vg_api_silences_delete(void *ud, const struct vg_http_request *req,
                            struct vg_http_response *resp)
{
    struct analyzer *a = ud;
    if (!a->silences) {
        reply_error(resp, 503, "silences are not available");
        return;
    }
    char err[VG_ERRLEN];
    struct vg_silences_change ch;
    pthread_mutex_lock(&a->silences_save_lock);
    pthread_mutex_lock(&a->lock);
    int rc = vg_silences_prepare_expire(a->silences, req->path_rest, vg_now_ms(), &ch);
    int unsaved = 0;
    json_t *o = NULL;
    /* As for a POST: an expiry a restart would undo is refused, and released nothing meanwhile.
     * The answer is taken before the change: the silence may be forgotten before it is made
     * (when it ended over an hour ago), and the change makes it exactly so. */
    if (!rc) {
        o = vg_silences_change_json(a->silences, &ch);
        unsaved = analyzer_silences_change(a, &ch, err, sizeof(err)) < 0;
    }
    pthread_mutex_unlock(&a->lock);
    pthread_mutex_unlock(&a->silences_save_lock);
    if (unsaved) {
        json_decref(o);
        reply_error(resp, 503, err);
    } else if (rc)
        reply_error(resp, 404, "unknown silence id");
    else
        reply_json(resp, 200, o);
}

/* Appends v (stolen) to arr; NULL (out of memory) or a failed append empties *ok. */
static void append(json_t *arr, json_t *v, int *ok)
{
    if (!v || json_array_append_new(arr, v) != 0)
        *ok = 0;
}

/* One string per line. The lines name rule files, whose names need not be UTF-8 (jansson
 * refuses those): bad bytes become '?' rather than the line going missing. NULL when out of
 * memory. */
static json_t *errors_json(const char *text)
{
    json_t *arr = json_array();
    int ok = arr != NULL;
    while (ok && text && *text) {
        const char *nl = strchr(text, '\n');
        size_t len = nl ? (size_t)(nl - text) : strlen(text);
        char *line = strndup(text, len);
        append(arr, line ? vg_fmt_str(line) : NULL, &ok);
        free(line);
        text += len + (nl ? 1 : 0);
    }
    if (!ok) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

void vg_api_rules(void *ud, const struct vg_http_request *req, struct vg_http_response *resp)
{
    struct analyzer *a = ud;
    (void)req;
    json_t *o = json_object(), *rules = json_array(), *pols = json_array();
    int ok = o && rules && pols;
    pthread_mutex_lock(&a->lock);
    const struct vg_rule_set *s = a->rules;
    /* Texts pass through vg_fmt_str: `where` names the rule file, whose name need not be UTF-8,
     * and a rule that jansson refused would otherwise go missing from the list. */
    for (size_t i = 0; ok && s && i < vg_rule_set_count(s); i++) {
        const struct vg_rule *r = vg_rule_set_rule(s, i);
        /* A rule without actions notifies every configured receiver (docs/rules.md), as
         * /api/v1/alerts lists its alerts: an empty list would read as "nobody". */
        json_t *acts = vg_rule_action_count(r) ? json_array() : receiver_names(a);
        for (size_t k = 0; k < vg_rule_action_count(r); k++)
            append(acts, vg_fmt_str(vg_rule_action(r, k)), &ok);
        append(rules,
               json_pack("{s:o,s:o,s:o,s:I,s:I,s:s,s:o}", "name", vg_fmt_str(vg_rule_name(r)),
                         "where", vg_fmt_str(vg_rule_where(r)), "when", vg_fmt_str(vg_rule_when(r)),
                         "for_ms", (json_int_t)vg_rule_for_ms(r), "keep_firing_for_ms",
                         (json_int_t)vg_rule_keep_firing_for_ms(r), "severity",
                         vg_rule_severity_name(vg_rule_severity(r)), "actions", acts),
               &ok);
    }
    for (size_t i = 0; ok && s && i < vg_rule_set_policy_count(s); i++) {
        const struct vg_rule_policy *p = vg_rule_set_policy(s, i);
        const struct vg_scale_params *sp = vg_rule_policy_params(p);
        append(pols,
               json_pack("{s:o,s:o,s:s,s:o,s:i,s:i}", "target",
                         vg_fmt_str(vg_rule_policy_target(p)), "where",
                         vg_fmt_str(vg_rule_policy_where(p)), "mode",
                         sp->mode == VG_SCALE_TARGET ? "target" : "step", "expr",
                         vg_fmt_str(vg_rule_policy_expr(p)), "min", sp->min, "max", sp->max),
               &ok);
    }
    json_object_set_new(o, "dir", a->cfg.rules_dir ? vg_fmt_str(a->cfg.rules_dir) : json_null());
    json_object_set_new(o, "builtin", json_boolean(!(a->cfg.rules_dir && *a->cfg.rules_dir)));
    json_object_set_new(o, "rules", rules);
    json_object_set_new(o, "policies", pols);
    json_t *lr = json_object();
    json_object_set_new(lr, "ok", json_boolean(a->last_reload_ok || !a->last_reload_ms));
    json_object_set_new(lr, "time",
                        a->last_reload_ms ? vg_fmt_time(a->last_reload_ms) : json_null());
    json_object_set_new(lr, "time_ms",
                        a->last_reload_ms ? json_integer(a->last_reload_ms) : json_null());
    json_t *errs = errors_json(a->last_reload_errors);
    ok &= errs && json_object_set_new(lr, "errors", errs) == 0;
    ok &= json_object_set_new(o, "last_reload", lr) == 0;
    pthread_mutex_unlock(&a->lock);
    if (!ok) {
        /* A partial list would pass for the whole one. */
        json_decref(o);
        o = NULL;
    }
    reply_json(resp, 200, o);
}

void vg_api_reload(void *ud, const struct vg_http_request *req, struct vg_http_response *resp)
{
    struct analyzer *a = ud;
    (void)req;
    pthread_mutex_lock(&a->lock);
    char err[VG_ERRLEN];
    int rc = analyzer_reload(a, err, sizeof(err));
    size_t nr = a->rules ? vg_rule_set_count(a->rules) : 0;
    size_t np = a->rules ? vg_rule_set_policy_count(a->rules) : 0;
    json_t *errs = rc == -ENOENT ? NULL : errors_json(rc ? a->last_reload_errors : NULL);
    pthread_mutex_unlock(&a->lock);
    if (rc == -ENOENT) {
        reply_error(resp, 409, err);
        return;
    }
    /* errs NULL (out of memory) fails the pack: a 500, not a 422 without its errors. */
    reply_json(resp, rc ? 422 : 200,
               json_pack("{s:b,s:I,s:I,s:o}", "ok", !rc, "rules", (json_int_t)nr, "policies",
                         (json_int_t)np, "errors", errs));
}

void vg_api_scale_all(void *ud, const struct vg_http_request *req, struct vg_http_response *resp)
{
    struct analyzer *a = ud;
    (void)req;
    pthread_mutex_lock(&a->lock);
    json_t *o =
        a->decisions ? vg_decisions_json(a->decisions, NULL) : json_pack("{s:[]}", "decisions");
    pthread_mutex_unlock(&a->lock);
    reply_json(resp, 200, o);
}

void vg_api_scale(void *ud, const struct vg_http_request *req, struct vg_http_response *resp)
{
    struct analyzer *a = ud;
    pthread_mutex_lock(&a->lock);
    json_t *o = a->decisions ? vg_decisions_json(a->decisions, req->path_rest) : NULL;
    pthread_mutex_unlock(&a->lock);
    if (!o)
        reply_error(resp, 404, "no scaling policy for this target");
    else
        reply_json(resp, 200, o);
}

void vg_api_alerts_metrics(struct analyzer *a, FILE *f)
{
    struct vg_dispatch_stats ds = {0};
    if (a->dispatch)
        vg_dispatch_get_stats(a->dispatch, &ds);
    vg_api_counter(f, "vigil_notifications_sent_total", ds.sent);
    vg_api_counter(f, "vigil_notifications_repeated_total", ds.repeats);
    vg_api_counter(f, "vigil_notifications_repeated_after_cold_start_total",
                   ds.repeated_after_cold_start);
    vg_api_counter(f, "vigil_notifications_deduplicated_total", ds.deduplicated);
    vg_api_counter(f, "vigil_alerts_handed_over_total", ds.handed_over);
    vg_api_counter(f, "vigil_notifications_sent_early_total", ds.sent_early);
    vg_api_counter(f, "vigil_alerts_taken_over_total", ds.adopted);
    vg_api_counter(f, "vigil_alerts_taken_over_unnotified_total", ds.adopted_unnotified);
    vg_api_counter(f, "vigil_notifications_silenced_total", ds.silenced);
    vg_api_counter(f, "vigil_silences_created_total", a->silences_created);
    vg_api_counter(f, "vigil_silences_save_errors_total", a->silences_save_errors);
    vg_api_counter(f, "vigil_silences_load_skipped_total", a->silences_load_skipped);
    vg_api_gauge(f, "vigil_silences_active",
                 a->silences ? (double)vg_silences_active(a->silences, vg_now_ms()) : 0);
    vg_api_counter(f, "vigil_rule_reloads_total", a->reloads);
    vg_api_counter(f, "vigil_rule_reload_failures_total", a->reload_failures);
    struct vg_engine_stats es;
    vg_engine_get_stats(a->engine, &es);
    vg_api_counter(f, "vigil_rule_evaluations_total", es.rule_evals);
    vg_api_gauge(f, "vigil_rules_loaded", a->rules ? (double)vg_rule_set_count(a->rules) : 0);
    if (a->decisions) {
        struct vg_decisions_stats st;
        vg_decisions_get_stats(a->decisions, &st);
        vg_api_counter(f, "vigil_scale_evaluations_total", st.evaluations);
        vg_api_counter(f, "vigil_scale_changes_total", st.changes);
        vg_api_counter(f, "vigil_scale_published_total", st.published);
        vg_api_counter(f, "vigil_scale_publish_errors_total", st.publish_errors);
        vg_api_counter(f, "vigil_scale_webhook_sent_total", st.webhook_sent);
        vg_api_counter(f, "vigil_scale_webhook_errors_total", st.webhook_errors);
        vg_api_counter(f, "vigil_scale_restored_total", st.restored);
        vg_api_counter(f, "vigil_scale_restore_refused_total", st.restore_refused);
        vg_api_counter(f, "vigil_scale_restore_incomplete_total", st.restore_incomplete);
        vg_api_gauge(f, "vigil_scale_local_only", st.local_only);
        vg_api_gauge(f, "vigil_scale_metrics_partitions", st.metrics_partitions);
        vg_api_counter(f, "vigil_scale_partials_published_total", st.partials_published);
        vg_api_counter(f, "vigil_scale_partials_errors_total", st.partials_errors);
        vg_api_counter(f, "vigil_scale_exchange_join_retries_total", st.join_retries);
        vg_api_counter(f, "vigil_scale_partials_received_total", st.partials_received);
        vg_api_counter(f, "vigil_scale_partials_refused_total", st.partials_refused);
        vg_api_counter(f, "vigil_scale_partials_overlapped_total", st.partials_overlapped);
        vg_api_counter(f, "vigil_scale_decisions_followed_total", st.followed);
        vg_api_counter(f, "vigil_scale_follow_refused_total", st.follow_refused);
        vg_api_counter(f, "vigil_scale_times_capped_total", st.times_capped);
        vg_api_counter(f, "vigil_scale_clock_behind_total", st.clock_behind);
        json_t *all = vg_decisions_json(a->decisions, NULL);
        size_t i;
        json_t *d;
        vg_api_metric_head(f, "vigil_scale_desired_replicas");
        json_array_foreach(json_object_get(all, "decisions"), i, d)
        {
            fprintf(f, "vigil_scale_desired_replicas{target=\"%s\"} %lld\n",
                    json_string_value(json_object_get(d, "target")),
                    (long long)json_integer_value(json_object_get(d, "desired")));
        }
        json_decref(all);
    }
}
