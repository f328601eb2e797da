/* The analyzer's HTTP API: health, readiness, Prometheus metrics, per-host state. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_metrics.h"
#include "analyzer.h"
#include "analyzer_models.h"
#include "api_alerts.h"
#include "api_ops.h"
#include "vg_http.h"
#include "vg_state_topic.h"
#include "vg_format.h"
#include "vg_util.h"

#define JSON_CT "application/json"
#define PROM_CT "text/plain; version=0.0.4; charset=utf-8"

static void healthz(void *ud, const struct vg_http_request *req, struct vg_http_response *resp)
{
    (void)ud;
    (void)req;
    vg_http_reply(resp, 200, "text/plain; charset=utf-8", "ok\n");
}

/* Ready once the consumer group has given this analyzer partitions to work on, and while it can
 * checkpoint them (vg_api_ready). */
static void readyz(void *ud, const struct vg_http_request *req, struct vg_http_response *resp)
{
    struct analyzer *a = ud;
    (void)req;
    char why[768];
    pthread_mutex_lock(&a->lock);
    int assigned = a->assigned;
    int ready = vg_api_ready(a, why, sizeof(why));
    pthread_mutex_unlock(&a->lock);
    if (ready)
        vg_http_replyf(resp, 200, "text/plain; charset=utf-8", "ready: %d partitions\n", assigned);
    else
        vg_http_replyf(resp, 503, "text/plain; charset=utf-8", "not ready: %s\n", why);
}

static void receiver_line(FILE *f, const char *name, const char *receiver, uint64_t v)
{
    fprintf(f, "%s{receiver=\"%s\"} %llu\n", name, receiver, (unsigned long long)v);
}

/* Per receiver: an outbox write that fails costs durability, not the alert, and nothing else
 * would tell an operator whose disk stays full. */
static void outbox_metrics(struct analyzer *a, FILE *f)
{
    size_t n = a->n_receivers;
    struct vg_action_stats *st = calloc(n ? n : 1, sizeof(*st));
    if (!st)
        return;
    for (size_t i = 0; i < n; i++)
        a->receivers[i].act->stats(a->receivers[i].inst, &st[i]);
    vg_api_metric_head(f, "vigil_webhook_outbox_errors_total");
    for (size_t i = 0; i < n; i++)
        receiver_line(f, "vigil_webhook_outbox_errors_total", a->receivers[i].name,
                      st[i].outbox_errors);
    vg_api_metric_head(f, "vigil_webhook_outbox_replayed_total");
    for (size_t i = 0; i < n; i++)
        receiver_line(f, "vigil_webhook_outbox_replayed_total", a->receivers[i].name,
                      st[i].replayed);
    vg_api_metric_head(f, "vigil_webhook_outbox_syncs_total");
    for (size_t i = 0; i < n; i++)
        receiver_line(f, "vigil_webhook_outbox_syncs_total", a->receivers[i].name,
                      st[i].outbox_syncs);
    vg_api_metric_head(f, "vigil_webhook_outbox_sync_seconds_total");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "vigil_webhook_outbox_sync_seconds_total{receiver=\"%s\"} %.6f\n",
                a->receivers[i].name, (double)st[i].outbox_sync_us / 1e6);
    free(st);
}

static void host_score_line(void *ud, const struct vg_engine_host *h)
{
    /* Host names are restricted to [A-Za-z0-9._-] by the wire format: no escaping needed. */
    fprintf((FILE *)ud, "vigil_host_score{host=\"%s\"} %.6f\n", h->name, h->max_score);
}

static void metrics(void *ud, const struct vg_http_request *req, struct vg_http_response *resp)
{
    struct analyzer *a = ud;
    (void)req;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        vg_http_reply(resp, 500, NULL, "out of memory\n");
        return;
    }
    struct vg_action_stats as;
    uint64_t refused;
    pthread_mutex_lock(&a->lock);
    struct vg_engine_stats es;
    vg_engine_get_stats(a->engine, &es);
    analyzer_receiver_stats(a, &as, &refused);
    vg_api_counter(f, "vigil_messages_consumed_total", a->consumed);
    vg_api_metric_head(f, "vigil_http_requests_total");
    for (int code = VG_HTTP_CODE_MIN; code <= VG_HTTP_CODE_MAX; code++) {
        uint64_t n = vg_http_count(&a->http_counts, code);
        if (n)
            fprintf(f, "vigil_http_requests_total{code=\"%d\"} %llu\n", code,
                    (unsigned long long)n);
    }
    vg_api_counter(f, "vigil_http_connections_closed_for_room_total",
                   atomic_load(&a->http_counts.conns_closed_for_room));
    vg_api_counter(f, "vigil_bad_messages_total", a->bad_messages);
    vg_api_counter(f, "vigil_duplicate_messages_total", es.duplicates);
    vg_api_counter(f, "vigil_sequence_gaps_total", es.seq_gaps);
    vg_api_counter(f, "vigil_host_clock_steps_back_total", es.clock_steps_back);
    vg_api_counter(f, "vigil_host_previous_boot_late_total", es.previous_boot_late);
    vg_api_counter(f, "vigil_host_clock_ahead_total", es.clock_ahead);
    vg_api_counter(f, "vigil_host_boot_conflicts_total", es.boot_conflicts);
    vg_api_counter(f, "vigil_samples_scored_total", es.samples_scored);
    vg_api_counter(f, "vigil_samples_warming_total", es.samples_warming);
    vg_api_counter(f, "vigil_alerts_fired_total", es.alerts_fired);
    vg_api_counter(f, "vigil_alerts_resolved_total", es.alerts_resolved);
    vg_api_counter(f, "vigil_hosts_refused_total", es.hosts_refused);
    vg_api_counter(f, "vigil_series_refused_total", es.series_refused);
    vg_api_counter(f, "vigil_series_reserved_total", es.series_reserved);
    vg_api_counter(f, "vigil_labels_dropped_total", es.labels_dropped);
    vg_api_counter(f, "vigil_alerts_stale_resolved_total", es.alerts_stale_resolved);
    vg_api_gauge(f, "vigil_hosts_silent", (double)es.hosts_silent);
    vg_api_gauge(f, "vigil_alert_series_unmatched_patterns", (double)es.alert_series_unmatched);
    vg_api_counter(f, "vigil_series_expired_total", es.series_expired);
    vg_api_counter(f, "vigil_hosts_cold_started_total", es.hosts_cold_started);
    vg_api_counter(f, "vigil_hosts_released_total", es.hosts_released);
    vg_api_counter(f, "vigil_hosts_moved_total", es.hosts_moved);
    vg_api_counter(f, "vigil_hosts_expired_total", es.hosts_expired);
    vg_api_counter(f, "vigil_rule_states_restored_total", es.rule_states_restored);
    vg_api_counter(f, "vigil_rule_states_skipped_total", es.rule_states_skipped);
    vg_api_counter(f, "vigil_rule_states_resolved_total", es.rule_states_resolved);
    if (a->state) {
        struct vg_state_topic_stats ss;
        vg_state_topic_get_stats(a->state, &ss);
        vg_api_counter(f, "vigil_state_checkpoints_total", ss.checkpoints);
        vg_api_counter(f, "vigil_state_checkpoint_errors_total", ss.checkpoint_errors);
        vg_api_counter(f, "vigil_state_producer_recreated_total", ss.producer_recreated);
        vg_api_counter(f, "vigil_state_bytes_written_total", ss.bytes_written);
        vg_api_metric_head(f, "vigil_state_checkpoint_seconds_total");
        fprintf(f, "vigil_state_checkpoint_seconds_total %.3f\n", ss.checkpoint_s);
        vg_api_counter(f, "vigil_state_hosts_deleted_total", ss.hosts_deleted);
        vg_api_counter(f, "vigil_state_hosts_restored_total", ss.hosts_restored);
        vg_api_counter(f, "vigil_state_restore_errors_total", ss.restore_errors);
        vg_api_counter(f, "vigil_state_models_restored_total", ss.models_restored);
        vg_api_counter(f, "vigil_state_model_errors_total", ss.model_errors);
        vg_api_counter(f, "vigil_state_records_trimmed_total", ss.records_trimmed);
        vg_api_counter(f, "vigil_state_records_dropped_total", ss.records_dropped);
        vg_api_counter(f, "vigil_state_record_trials_total", ss.trials);
        vg_api_counter(f, "vigil_state_record_trials_refused_total", ss.trials_refused);
        vg_api_gauge(f, "vigil_state_hosts_pending", (double)ss.hosts_pending);
    }
    vg_api_counter(f, "vigil_consume_errors_total", a->consume_errors);
    vg_api_counter(f, "vigil_offset_resets_total", a->offset_resets);
    vg_api_counter(f, "vigil_offset_reset_skipped_total", a->offset_reset_skipped);
    vg_api_counter(f, "vigil_commit_errors_total", a->commit_errors);
    vg_api_counter(f, "vigil_webhook_delivered_total", as.delivered);
    vg_api_counter(f, "vigil_webhook_attempt_errors_total", as.attempt_errors);
    vg_api_counter(f, "vigil_webhook_tls_errors_total", as.tls_errors);
    vg_api_counter(f, "vigil_webhook_redirects_total", as.redirects);
    vg_api_counter(f, "vigil_webhook_dropped_total", as.dropped);
    vg_api_counter(f, "vigil_webhook_queue_full_total", refused);
    vg_api_counter(f, "vigil_webhook_resolves_refused_total", a->resolves_refused);
    vg_api_gauge(f, "vigil_webhook_resolves_owed", (double)a->owed_resolves);
    vg_api_counter(f, "vigil_webhook_resolves_lost_total", a->resolves_lost);
    vg_api_gauge(f, "vigil_webhook_queued", (double)as.queued);
    vg_api_gauge(f, "vigil_webhook_retrying", (double)as.retrying);
    vg_api_gauge(f, "vigil_webhook_held", (double)as.held);
    vg_api_counter(f, "vigil_webhook_expired_total", as.expired);
    vg_api_counter(f, "vigil_webhook_coalesced_total", as.coalesced);
    vg_api_metric_head(f, "vigil_receiver_delivered_total");
    for (size_t i = 0; i < a->n_receivers; i++) {
        struct vg_action_stats st;
        a->receivers[i].act->stats(a->receivers[i].inst, &st);
        fprintf(f, "vigil_receiver_delivered_total{receiver=\"%s\"} %llu\n", a->receivers[i].name,
                (unsigned long long)st.delivered);
    }
    if (a->cfg.outbox_dir && *a->cfg.outbox_dir)
        outbox_metrics(a, f);
    vg_api_gauge(f, "vigil_alerts_firing", (double)es.firing);
    vg_api_gauge(f, "vigil_hosts", (double)es.hosts);
    vg_api_gauge(f, "vigil_series", (double)es.series);
    vg_api_gauge(f, "vigil_partitions_assigned", a->assigned);
    vg_api_gauge(f, "vigil_uptime_seconds", (double)(vg_mono_ms() - a->started_ms) / 1000.0);
    vg_histo_write(&a->processing_s, "vigil_processing_seconds",
                   vg_api_metric_help("vigil_processing_seconds"), f);
    vg_histo_write(&a->lag_s, "vigil_event_lag_seconds",
                   vg_api_metric_help("vigil_event_lag_seconds"), f);
    vg_api_counter(f, "vigil_event_lag_negative_total", a->lag_negative);
    vg_api_metric_head(f, "vigil_host_score");
    vg_engine_each_host(a->engine, host_score_line, f);
    analyzer_models_metrics(a, f); /* {host,model} lines and the models' counters */
    vg_api_alerts_metrics(a, f);
    pthread_mutex_unlock(&a->lock);
    fclose(f);
    resp->status = 200;
    resp->content_type = PROM_CT;
    resp->body = buf;
    resp->len = len;
}

static const char *state_name(enum vg_alert_state s)
{
    return s == VG_ALERT_FIRING ? "firing" : s == VG_ALERT_PENDING ? "pending" : "inactive";
}

static json_t *num_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static void add_series(void *ud, const struct vg_engine_series *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "value", num_or_null(s->value));
    json_object_set_new(o, "score", s->warm ? num_or_null(s->score) : json_null());
    json_object_set_new(o, "state", json_string(state_name(s->state)));
    json_object_set_new((json_t *)ud, s->name, o);
}

static void host(void *ud, const struct vg_http_request *req, struct vg_http_response *resp)
{
    struct analyzer *a = ud;
    json_t *series = json_object(), *o = json_object();
    struct vg_engine_host h;
    pthread_mutex_lock(&a->lock);
    int rc = vg_engine_describe_host(a->engine, req->path_rest, &h, add_series, series);
    if (rc == 0) {
        json_object_set_new(o, "host", vg_fmt_str(h.name));
        json_object_set_new(o, "boot", vg_fmt_str(h.boot));
        json_object_set_new(o, "last_seq", json_integer((json_int_t)h.last_seq));
        json_object_set_new(o, "last_ts_ms", json_integer(h.last_ts_ms));
        json_object_set_new(o, "max_score", num_or_null(h.max_score));
        json_object_set_new(o, "models", analyzer_models_host_json(a, h.name));
    }
    pthread_mutex_unlock(&a->lock);
    if (rc < 0) {
        json_decref(series);
        json_decref(o);
        vg_http_reply(resp, 404, JSON_CT, "{\"error\":\"unknown host\"}\n");
        return;
    }
    json_object_set_new(o, "series", series);
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(10));
    json_decref(o);
    resp->status = text ? 200 : 500;
    resp->content_type = JSON_CT;
    resp->body = text;
    resp->len = text ? strlen(text) : 0;
}

const struct vg_http_route vg_api_routes[] = {
    {"GET", "/healthz", VG_HTTP_PROBE, healthz},
    {"GET", "/readyz", VG_HTTP_PROBE, readyz},
    {"GET", "/metrics", 0, metrics},
    {"GET", "/api/v1/hosts/", 0, host},
    VG_API_OPS_ROUTES,   /* operations endpoints: api_ops.c */
    VG_API_ALERT_ROUTES, /* alerts, silences, rules, reload, scaling: api_alerts.c */
};
const size_t vg_api_n_routes = sizeof(vg_api_routes) / sizeof(vg_api_routes[0]);
