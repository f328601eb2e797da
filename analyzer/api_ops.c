/* Operations endpoints of the analyzer's API: /api/v1/status, /api/v1/hosts and
 * /api/v1/history/{host} (docs/api.md, "Operations"). */
#include "api_ops.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analyzer.h"
#include "analyzer_models.h"
#include "vg_config.h"
#include "vg_history.h"
#include "vg_state_topic.h"
#include "vg_format.h"
#include "vg_util.h"

#define JSON_CT "application/json"
/* A host whose last message is older than this counts as silent in the status. */
#define SILENT_MS 60000

static json_t *num_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static void reply_json(struct vg_http_response *resp, int status, json_t *o)
{
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(o);
    if (!text) {
        vg_http_reply(resp, 500, JSON_CT, "{\"error\":\"out of memory\"}\n");
        return;
    }
    free(resp->body);
    resp->status = status;
    resp->content_type = JSON_CT;
    resp->body = text;
    resp->len = strlen(text);
}

static json_t *quantiles(const struct vg_histo *h)
{
    json_t *o = json_object();
    json_object_set_new(o, "p50", num_or_null(vg_histo_quantile(h, 0.5)));
    json_object_set_new(o, "p99", num_or_null(vg_histo_quantile(h, 0.99)));
    json_object_set_new(o, "count", json_integer((json_int_t)h->count));
    return o;
}

struct host_tally {
    int64_t now, newest;
    uint64_t silent;
};

static void tally_host(void *ud, const struct vg_engine_host *h)
{
    struct host_tally *t = ud;
    if (h->last_ts_ms > t->newest)
        t->newest = h->last_ts_ms;
    if (t->now - h->last_ts_ms > SILENT_MS)
        t->silent++;
}

/* ms (Unix, wall clock) as RFC 3339 UTC to the second. */
static void utc_time(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int vg_api_ready(struct analyzer *a, char *why, size_t whylen)
{
    /* Said before the assignment below, which is 0 meanwhile too: a restore may take up to
     * state.restore_timeout, and "no partitions assigned yet" would send the operator looking at
     * the consumer group rather than at the state topic's brokers. */
    if (a->restoring > 0) {
        char since[32];
        utc_time(a->restoring_since_ms, since, sizeof(since));
        snprintf(why, whylen,
                 "restoring the state of the hosts of %d assigned partitions from %s since %s",
                 a->restoring, a->cfg.state_topic, since);
        return 0;
    }
    if (a->assigned <= 0) {
        snprintf(why, whylen, "no partitions assigned yet");
        return 0;
    }
    /* Without a working state producer no checkpoint is written and so no offset committed:
     * the analyzer's work would be redone by whoever owns its partitions next. */
    if (a->state && vg_state_topic_producer_failed(a->state, why, whylen))
        return 0;
    /* Nor while checkpoints fail (a broker outage, say): nothing is committed, and the consumer
     * group may take a while to notice (session.timeout.ms) that nothing is consumed either. From
     * the second failure in a row: a single one (a leader election's blip) flipped every
     * replica to not ready at once. */
    if (a->ckpt_failing >= VG_CKPT_FAILS_NOT_READY) {
        char since[32];
        utc_time(a->ckpt_failing_since_ms, since, sizeof(since));
        snprintf(why, whylen, "checkpoints failing since %s (%llu in a row): %s", since,
                 (unsigned long long)a->ckpt_failing, a->ckpt_error);
        return 0;
    }
    return 1;
}

void vg_api_ops_status(void *ud, const struct vg_http_request *req, struct vg_http_response *resp)
{
    struct analyzer *a = ud;
    (void)req;
    json_t *o = json_object(), *backend = json_object(), *alerts = json_object(),
           *msgs = json_object(), *recv = json_array(), *hist = json_object();
    pthread_mutex_lock(&a->lock);
    struct vg_engine_stats es;
    vg_engine_get_stats(a->engine, &es);
    struct host_tally t = {.now = vg_now_ms()};
    vg_engine_each_host(a->engine, tally_host, &t);
    json_object_set_new(o, "version", json_string(VIGIL_VERSION));
    json_object_set_new(o, "uptime_s", json_real((double)(vg_mono_ms() - a->started_ms) / 1e3));
    char not_ready[768];
    int ready = vg_api_ready(a, not_ready, sizeof(not_ready));
    json_object_set_new(o, "ready", json_boolean(ready));
    /* /readyz's reason, for `vigilctl status`: "not ready" alone sent operators to the consumer
     * group while checkpoints failed or a restore ran (partitions_assigned is 0 meanwhile). */
    json_object_set_new(o, "not_ready", ready ? json_null() : json_string(not_ready));
    json_object_set_new(o, "partitions_assigned", json_integer(a->assigned));
    json_object_set_new(backend, "kafka", json_string(a->embedded ? "embedded" : "external"));
    json_object_set_new(backend, "bootstrap_servers",
                        json_string(a->bootstrap ? a->bootstrap : a->cfg.bootstrap_servers));
    json_object_set_new(backend, "topic", json_string(a->cfg.topic));
    json_object_set_new(backend, "group_id", json_string(a->cfg.group_id));
    json_object_set_new(backend, "detector", json_string(a->cfg.detector_model));
    json_object_set_new(o, "backend", backend);
    json_object_set_new(o, "hosts", json_integer((json_int_t)es.hosts));
    json_object_set_new(o, "hosts_silent", json_integer((json_int_t)t.silent));
    json_object_set_new(o, "series", json_integer((json_int_t)es.series));
    json_object_set_new(o, "newest_event_age_s",
                        t.newest ? json_real((double)(t.now - t.newest) / 1e3) : json_null());
    json_object_set_new(msgs, "consumed", json_integer((json_int_t)a->consumed));
    json_object_set_new(msgs, "bad", json_integer((json_int_t)a->bad_messages));
    json_object_set_new(msgs, "duplicates", json_integer((json_int_t)es.duplicates));
    json_object_set_new(msgs, "seq_gaps", json_integer((json_int_t)es.seq_gaps));
    json_object_set_new(o, "messages", msgs);
    json_object_set_new(o, "lag_s", quantiles(&a->lag_s));
    json_object_set_new(o, "processing_s", quantiles(&a->processing_s));
    json_object_set_new(alerts, "firing", json_integer((json_int_t)es.firing));
    json_object_set_new(alerts, "fired_total", json_integer((json_int_t)es.alerts_fired));
    json_object_set_new(alerts, "resolved_total", json_integer((json_int_t)es.alerts_resolved));
    json_object_set_new(o, "alerts", alerts);
    for (size_t i = 0; i < a->n_receivers; i++) {
        struct vg_action_stats st;
        a->receivers[i].act->stats(a->receivers[i].inst, &st);
        json_t *r = json_object();
        json_object_set_new(r, "name", json_string(a->receivers[i].name));
        json_object_set_new(r, "delivered", json_integer((json_int_t)st.delivered));
        json_object_set_new(r, "attempt_errors", json_integer((json_int_t)st.attempt_errors));
        json_object_set_new(r, "dropped", json_integer((json_int_t)st.dropped));
        json_object_set_new(r, "queued", json_integer((json_int_t)st.queued));
        json_object_set_new(r, "retrying", json_integer((json_int_t)st.retrying));
        json_object_set_new(r, "held", json_integer((json_int_t)st.held));
        json_object_set_new(r, "refused", json_integer((json_int_t)a->receivers[i].refused));
        json_object_set_new(r, "outbox_errors", json_integer((json_int_t)st.outbox_errors));
        json_array_append_new(recv, r);
    }
    json_object_set_new(o, "receivers", recv);
    struct vg_history_stats hs;
    vg_history_get_stats(a->history, &hs);
    json_object_set_new(hist, "window_ms", json_integer(a->cfg.history_window_ms));
    json_object_set_new(hist, "resolution_ms", json_integer(a->cfg.history_resolution_ms));
    json_object_set_new(hist, "bytes", json_integer((json_int_t)hs.bytes));
    json_object_set_new(hist, "series", json_integer((json_int_t)hs.series));
    json_object_set_new(hist, "series_refused", json_integer((json_int_t)hs.series_refused));
    json_object_set_new(hist, "series_ended", json_integer((json_int_t)hs.series_ended));
    json_object_set_new(hist, "messages_late", json_integer((json_int_t)hs.messages_late));
    json_object_set_new(hist, "messages_previous_boot",
                        json_integer((json_int_t)hs.messages_previous_boot));
    json_object_set_new(o, "history", hist);
    json_object_set_new(o, "models", analyzer_models_status_json(a));
    pthread_mutex_unlock(&a->lock);
    reply_json(resp, 200, o);
}

struct series_tally {
    int firing, pending;
    const char *top;
    double top_score;
};

static void tally_series(void *ud, const struct vg_engine_series *s)
{
    struct series_tally *t = ud;
    t->firing += s->state == VG_ALERT_FIRING;
    t->pending += s->state == VG_ALERT_PENDING;
    if (s->warm && isfinite(s->score) && (!t->top || s->score > t->top_score)) {
        t->top = s->name;
        t->top_score = s->score;
    }
}

struct hosts_ctx {
    const struct vg_engine *e;
    json_t *list;
    int64_t now;
};

static void add_host(void *ud, const struct vg_engine_host *h)
{
    struct hosts_ctx *c = ud;
    struct series_tally t = {0};
    struct vg_engine_host info;
    vg_engine_describe_host(c->e, h->name, &info, tally_series, &t);
    json_t *o = json_object();
    json_object_set_new(o, "host", vg_fmt_str(h->name));
    json_object_set_new(o, "last_ts_ms", json_integer(h->last_ts_ms));
    json_object_set_new(o, "age_s", json_real((double)(c->now - h->last_ts_ms) / 1e3));
    json_object_set_new(o, "max_score", num_or_null(h->max_score));
    json_object_set_new(o, "series", json_integer((json_int_t)h->n_series));
    json_object_set_new(o, "firing", json_integer(t.firing));
    json_object_set_new(o, "pending", json_integer(t.pending));
    json_object_set_new(o, "top_series", t.top ? vg_fmt_str(t.top) : json_null());
    json_object_set_new(o, "top_score", t.top ? num_or_null(t.top_score) : json_null());
    json_array_append_new(c->list, o);
}

static int by_score_desc(const void *pa, const void *pb)
{
    json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    double sa = json_number_value(json_object_get(a, "max_score"));
    double sb = json_number_value(json_object_get(b, "max_score"));
    if (sa != sb)
        return sa < sb ? 1 : -1;
    return strcmp(json_string_value(json_object_get(a, "host")),
                  json_string_value(json_object_get(b, "host")));
}

void vg_api_ops_hosts(void *ud, const struct vg_http_request *req, struct vg_http_response *resp)
{
    struct analyzer *a = ud;
    (void)req;
    struct hosts_ctx c = {.list = json_array(), .now = vg_now_ms()};
    pthread_mutex_lock(&a->lock);
    c.e = a->engine;
    vg_engine_each_host(a->engine, add_host, &c);
    pthread_mutex_unlock(&a->lock);
    /* Highest score first: the order `vigilctl top` shows. */
    size_t n = json_array_size(c.list);
    json_t **items = calloc(n ? n : 1, sizeof(*items));
    json_t *sorted = json_array();
    if (items) {
        for (size_t i = 0; i < n; i++)
            items[i] = json_array_get(c.list, i);
        qsort(items, n, sizeof(*items), by_score_desc);
        for (size_t i = 0; i < n; i++)
            json_array_append(sorted, items[i]);
        free(items);
    }
    json_decref(c.list);
    json_t *o = json_object();
    json_object_set_new(o, "now_ms", json_integer(c.now));
    json_object_set_new(o, "hosts", sorted);
    reply_json(resp, 200, o);
}

void vg_api_ops_history(void *ud, const struct vg_http_request *req, struct vg_http_response *resp)
{
    struct analyzer *a = ud;
    if (!a->history) {
        vg_http_reply(resp, 404, JSON_CT,
                      "{\"error\":\"history is disabled (history.max_bytes: 0)\"}\n");
        return;
    }
    pthread_mutex_lock(&a->lock);
    json_t *o = vg_history_host_json(a->history, req->path_rest, 0);
    pthread_mutex_unlock(&a->lock);
    if (!o) {
        vg_http_reply(resp, 404, JSON_CT, "{\"error\":\"unknown host\"}\n");
        return;
    }
    reply_json(resp, 200, o);
}

void vg_api_observe_lag(struct analyzer *a, int64_t now_ms, int64_t ts_ms)
{
    int64_t lag_ms = now_ms - ts_ms;
    if (lag_ms < 0) {
        a->lag_negative++;
        lag_ms = 0;
    }
    vg_histo_observe(&a->lag_s, (double)lag_ms / 1000.0);
}

int vg_api_ops_init(struct analyzer *a, char *err, size_t errlen)
{
    if (a->cfg.history_max_bytes <= 0)
        return 0;
    struct vg_history_params p = {
        .window_ms = a->cfg.history_window_ms,
        .resolution_ms = a->cfg.history_resolution_ms,
        .max_bytes = (size_t)a->cfg.history_max_bytes,
    };
    /* A window below the default resolution (history.window: 5s alone) is said at the window,
     * the key that was written, so that vg_config_locate places it; vg_history_new's words name
     * the resolution first, where it was written. */
    if (p.window_ms < p.resolution_ms && p.resolution_ms > 0 &&
        !vg_config_where("history.resolution"))
        return vg_err(err, errlen, -EINVAL,
                      "history.window (%.10gs) must not be below history.resolution (%.10gs)",
                      (double)p.window_ms / 1000.0, (double)p.resolution_ms / 1000.0);
    return vg_history_new(&a->history, &p, err, errlen);
}
