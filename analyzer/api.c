/* The analyzer's HTTP API: health, readiness, Prometheus metrics, per-host state. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "analyzer_models.h"
#include "api_alerts.h"
#include "api_ops.h"
#include "vg_http.h"
#include "vg_state_topic.h"
#include "vg_util.h"

#define JSON_CT "application/json"
#define PROM_CT "text/plain; version=0.0.4; charset=utf-8"

static void healthz(void *ud, const struct vg_http_request *req, struct vg_http_response *resp)
{
    (void)ud;
    (void)req;
    vg_http_reply(resp, 200, "text/plain; charset=utf-8", "ok\n");
}

/* Ready once the consumer group has given this analyzer partitions to work on. */
static void readyz(void *ud, const struct vg_http_request *req, struct vg_http_response *resp)
{
    struct analyzer *a = ud;
    (void)req;
    pthread_mutex_lock(&a->lock);
    int assigned = a->assigned;
    pthread_mutex_unlock(&a->lock);
    if (assigned > 0)
        vg_http_replyf(resp, 200, "text/plain; charset=utf-8", "ready: %d partitions\n", assigned);
    else
        vg_http_reply(resp, 503, "text/plain; charset=utf-8",
                      "not ready: no partitions assigned yet\n");
}

static void counter(FILE *f, const char *name, const char *help, uint64_t v)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
            (unsigned long long)v);
}

static void gauge(FILE *f, const char *name, const char *help, double v)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n%s %.9g\n", name, help, name, name, v);
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
    counter(f, "vigil_messages_consumed_total", "Kafka messages consumed.", a->consumed);
    counter(f, "vigil_bad_messages_total", "Messages rejected by the wire decoder.",
            a->bad_messages);
    counter(f, "vigil_duplicate_messages_total", "Redelivered messages skipped.", es.duplicates);
    counter(f, "vigil_sequence_gaps_total", "Messages missing between two of an agent boot.",
            es.seq_gaps);
    counter(f, "vigil_samples_scored_total", "Series values scored.", es.samples_scored);
    counter(f, "vigil_samples_warming_total", "Series values learned during warm-up.",
            es.samples_warming);
    counter(f, "vigil_alerts_fired_total", "Alerts that started firing.", es.alerts_fired);
    counter(f, "vigil_alerts_resolved_total", "Alerts that resolved.", es.alerts_resolved);
    counter(f, "vigil_hosts_refused_total", "Messages of hosts beyond limits.max_hosts.",
            es.hosts_refused);
    counter(f, "vigil_series_refused_total", "Values of series beyond limits.max_series_per_host.",
            es.series_refused);
    counter(f, "vigil_alerts_stale_resolved_total",
            "Per-series alerts resolved because their host stopped reporting the series "
            "(alert.stale_after).",
            es.alerts_stale_resolved);
    gauge(f, "vigil_hosts_silent",
          "Hosts whose host_silent alert fires now (alert.host_silent_after).",
          (double)es.hosts_silent);
    counter(f, "vigil_series_expired_total",
            "Series forgotten after their host stopped reporting them (limits.series_idle).",
            es.series_expired);
    counter(f, "vigil_hosts_cold_started_total",
            "Hosts first seen here without restored state: their series warm up.",
            es.hosts_cold_started);
    counter(f, "vigil_hosts_released_total",
            "Hosts dropped because their partition moved to another analyzer.", es.hosts_released);
    counter(f, "vigil_rule_states_restored_total",
            "Pending and firing rule alerts restored with their host from the state topic.",
            es.rule_states_restored);
    counter(f, "vigil_rule_states_skipped_total",
            "Restored rule alerts of rules this analyzer's rule files do not have.",
            es.rule_states_skipped);
    if (a->state) {
        struct vg_state_topic_stats ss;
        vg_state_topic_get_stats(a->state, &ss);
        counter(f, "vigil_state_checkpoints_total",
                "State checkpoints the broker acknowledged (state.topic).", ss.checkpoints);
        counter(f, "vigil_state_checkpoint_errors_total",
                "State checkpoints not acknowledged: offsets not committed.", ss.checkpoint_errors);
        counter(f, "vigil_state_bytes_written_total",
                "Bytes of host state records in acknowledged checkpoints.", ss.bytes_written);
        fprintf(f,
                "# HELP vigil_state_checkpoint_seconds_total Consumer-thread time spent writing "
                "state checkpoints.\n# TYPE vigil_state_checkpoint_seconds_total counter\n"
                "vigil_state_checkpoint_seconds_total %.3f\n",
                ss.checkpoint_s);
        counter(f, "vigil_state_hosts_restored_total",
                "Hosts restored from the state topic on partition assignment.", ss.hosts_restored);
        counter(f, "vigil_state_restore_errors_total", "State records refused on restore.",
                ss.restore_errors);
        counter(f, "vigil_state_models_restored_total",
                "Host model states restored with their hosts.", ss.models_restored);
        counter(f, "vigil_state_model_errors_total",
                "Host model states refused on restore: that model starts the host fresh.",
                ss.model_errors);
        counter(f, "vigil_state_records_trimmed_total",
                "Host state records written without their series' detector states (and, if still "
                "too large, their host models' state): the whole record was larger than the "
                "state topic takes.",
                ss.records_trimmed);
        counter(f, "vigil_state_records_dropped_total",
                "Host state records not written at a checkpoint: too large even with only the "
                "host's sequence, labels and alerts.",
                ss.records_dropped);
        counter(f, "vigil_state_record_trials_total",
                "Host state records tried one step larger after the broker refused the host's "
                "record (the topic's max.message.bytes may have been raised).",
                ss.trials);
        counter(f, "vigil_state_record_trials_refused_total",
                "Of those trials, the ones the broker refused again (the next waits twice as "
                "long).",
                ss.trials_refused);
        gauge(f, "vigil_state_hosts_pending",
              "Hosts changed since the last acknowledged state checkpoint (it grows while "
              "checkpoints fail).",
              (double)ss.hosts_pending);
    }
    counter(f, "vigil_consume_errors_total", "Errors reported by the Kafka consumer.",
            a->consume_errors);
    counter(f, "vigil_commit_errors_total", "Failed offset commits.", a->commit_errors);
    counter(f, "vigil_webhook_delivered_total",
            "Alert notifications delivered (2xx), all receivers.", as.delivered);
    counter(f, "vigil_webhook_attempt_errors_total", "Delivery attempts that failed.",
            as.attempt_errors);
    counter(f, "vigil_webhook_tls_errors_total",
            "Delivery attempts that failed TLS verification or handshake, all receivers.",
            as.tls_errors);
    counter(f, "vigil_webhook_dropped_total", "Notifications given up on.", as.dropped);
    counter(f, "vigil_webhook_queue_full_total", "Notifications refused: queue full.", refused);
    gauge(f, "vigil_webhook_queued", "Notifications waiting for delivery.", (double)as.queued);
    fprintf(f, "# HELP vigil_receiver_delivered_total Notifications delivered, per receiver.\n"
               "# TYPE vigil_receiver_delivered_total counter\n");
    for (size_t i = 0; i < a->n_receivers; i++) {
        struct vg_action_stats st;
        a->receivers[i].act->stats(a->receivers[i].inst, &st);
        fprintf(f, "vigil_receiver_delivered_total{receiver=\"%s\"} %llu\n", a->receivers[i].name,
                (unsigned long long)st.delivered);
    }
    gauge(f, "vigil_alerts_firing", "Alerts firing now.", (double)es.firing);
    gauge(f, "vigil_hosts", "Hosts tracked.", (double)es.hosts);
    gauge(f, "vigil_series", "Series tracked.", (double)es.series);
    gauge(f, "vigil_partitions_assigned", "Kafka partitions assigned to this analyzer.",
          a->assigned);
    gauge(f, "vigil_uptime_seconds", "Seconds since start.",
          (double)(vg_mono_ms() - a->started_ms) / 1000.0);
    vg_histo_write(&a->processing_s, "vigil_processing_seconds",
                   "Time to decode, score and evaluate one message.", f);
    vg_histo_write(&a->lag_s, "vigil_event_lag_seconds",
                   "Processing time minus the message's timestamp (collection to scoring).", f);
    fprintf(f, "# HELP vigil_host_score Highest series score in the host's last message.\n"
               "# TYPE vigil_host_score gauge\n");
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
        json_object_set_new(o, "host", json_string(h.name));
        json_object_set_new(o, "boot", json_string(h.boot));
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
    {"GET", "/healthz", 0, healthz},
    {"GET", "/readyz", 0, readyz},
    {"GET", "/metrics", 0, metrics},
    {"GET", "/api/v1/hosts/", 0, host},
    VG_API_OPS_ROUTES,   /* operations endpoints: api_ops.c */
    VG_API_ALERT_ROUTES, /* alerts, silences, rules, reload, scaling: api_alerts.c */
};
const size_t vg_api_n_routes = sizeof(vg_api_routes) / sizeof(vg_api_routes[0]);
