#include "vg_fmt_pagerduty.h"

#include "vg_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PD_SUMMARY_MAX 1024 /* PagerDuty truncates longer summaries itself, mid-character */
#define PD_DEDUP_MAX   255

const char *vg_pd_severity(const char *s)
{
    static const struct {
        const char *from, *to;
    } map[] = {
        {"critical", "critical"},
        {"crit", "critical"},
        {"page", "critical"},
        {"fatal", "critical"},
        {"emergency", "critical"},
        {"alert", "critical"},
        {"high", "critical"},
        {"error", "error"},
        {"err", "error"},
        {"major", "error"},
        {"warning", "warning"},
        {"warn", "warning"},
        {"minor", "warning"},
        {"medium", "warning"},
        {"info", "info"},
        {"informational", "info"},
        {"notice", "info"},
        {"low", "info"},
        {"ok", "info"},
    };
    for (size_t i = 0; s && i < VG_ARRAY_LEN(map); i++) {
        if (strcasecmp(s, map[i].from) == 0)
            return map[i].to;
    }
    return "error";
}

/* Cuts s to at most max bytes without splitting a UTF-8 sequence. */
static void utf8_truncate(char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return;
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    s[max] = '\0';
}

static const char *label_value(const struct vg_notification *n, const char *key)
{
    for (size_t i = 0; i < n->n_labels && n->label_keys && n->label_values; i++) {
        if (n->label_keys[i] && strcmp(n->label_keys[i], key) == 0 && n->label_values[i] &&
            *n->label_values[i])
            return n->label_values[i];
    }
    return NULL;
}

static json_t *custom_details(const struct vg_notification *n)
{
    json_t *d = json_object(), *labels = json_object();
    int bad = !d || !labels;
    bad |= json_object_set_new(d, "score", vg_fmt_num(n->score)) != 0;
    bad |= json_object_set_new(d, "value", vg_fmt_num(n->value)) != 0;
    bad |= json_object_set_new(d, "threshold", vg_fmt_num(n->threshold)) != 0;
    bad |= json_object_set_new(d, "severity", vg_fmt_str(n->severity)) != 0;
    bad |= json_object_set_new(d, "starts_at", vg_fmt_time(n->starts_at_ms)) != 0;
    bad |= json_object_set_new(d, "fingerprint", vg_fmt_str(n->fingerprint)) != 0;
    for (size_t i = 0; !bad && i < n->n_labels; i++) {
        const char *k = n->label_keys ? n->label_keys[i] : NULL;
        const char *v = vg_fmt_label_value(n, i); /* host, series, ...: Vigil's, as above */
        if (!k || !*k)
            continue;
        json_t *jk = vg_fmt_str(k);
        bad |= !jk || json_object_set_new(labels, json_string_value(jk), vg_fmt_str(v)) != 0;
        json_decref(jk);
    }
    if (!bad) {
        bad |= json_object_set_new(d, "labels", labels) != 0;
        labels = NULL;
    }
    if (!bad && n->n_annotations && n->annotation_keys && n->annotation_values) {
        json_t *ann = json_object();
        bad |= !ann;
        for (size_t i = 0; !bad && i < n->n_annotations; i++)
            if (n->annotation_keys[i])
                bad |= json_object_set_new(ann, n->annotation_keys[i],
                                           vg_fmt_str(n->annotation_values[i])) != 0;
        bad |= json_object_set_new(d, "annotations", ann) != 0;
    }
    if (!bad && n->n_top_metrics && n->top_metrics) {
        json_t *top = json_array();
        bad |= !top;
        for (size_t i = 0; !bad && i < n->n_top_metrics; i++) {
            const struct vg_top_metric *m = &n->top_metrics[i];
            json_t *e =
                json_pack("{s:o,s:o,s:o}", "name", vg_fmt_str(m->name), "value",
                          vg_fmt_num(m->value), "contribution", vg_fmt_num(m->contribution));
            bad |= json_array_append_new(top, e) != 0;
        }
        bad |= json_object_set_new(d, "top_metrics", top) != 0;
    }
    json_decref(labels);
    if (bad) {
        json_decref(d);
        return NULL;
    }
    return d;
}

int vg_pd_format(const struct vg_notification *n, const struct vg_fmt_ctx *ctx,
                 struct vg_http_req *out, char *err, size_t errlen)
{
    if (!ctx->routing_key || !*ctx->routing_key)
        return vg_err(err, errlen, -EINVAL, "pagerduty: no routing key");
    if (!n->fingerprint || !*n->fingerprint || strlen(n->fingerprint) > PD_DEDUP_MAX)
        return vg_err(err, errlen, -EINVAL,
                      "pagerduty: the alert has no fingerprint of 1..%d bytes to use as dedup_key",
                      PD_DEDUP_MAX);
    int resolved = n->status && strcmp(n->status, "resolved") == 0;
    json_t *o = json_object();
    int bad = !o;
    bad |= json_object_set_new(o, "routing_key", json_string(ctx->routing_key)) != 0;
    bad |=
        json_object_set_new(o, "event_action", json_string(resolved ? "resolve" : "trigger")) != 0;
    bad |= json_object_set_new(o, "dedup_key", vg_fmt_str(n->fingerprint)) != 0;
    if (!bad && !resolved) {
        char summary[PD_SUMMARY_MAX + 8];
        vg_fmt_summary(n, summary, sizeof(summary));
        utf8_truncate(summary, PD_SUMMARY_MAX);
        json_t *p = json_object();
        bad |= !p;
        bad |= json_object_set_new(p, "summary", vg_fmt_str(summary)) != 0;
        bad |= json_object_set_new(p, "source",
                                   vg_fmt_str(n->host && *n->host ? n->host : "unknown")) != 0;
        bad |= json_object_set_new(p, "severity", json_string(vg_pd_severity(n->severity))) != 0;
        json_t *ts = vg_fmt_time(n->event_ts_ms);
        if (json_is_string(ts))
            bad |= json_object_set_new(p, "timestamp", ts) != 0;
        else
            json_decref(ts);
        if (n->series && *n->series)
            bad |= json_object_set_new(p, "component", vg_fmt_str(n->series)) != 0;
        const char *group = label_value(n, "service");
        if (!group)
            group = label_value(n, "group");
        if (group)
            bad |= json_object_set_new(p, "group", vg_fmt_str(group)) != 0;
        bad |= json_object_set_new(
                   p, "class",
                   vg_fmt_str(n->alertname && *n->alertname ? n->alertname : "anomaly")) != 0;
        json_t *cd = custom_details(n);
        bad |= !cd || json_object_set_new(p, "custom_details", cd) != 0;
        bad |= json_object_set_new(o, "payload", p) != 0;
        bad |= json_object_set_new(o, "client", json_string("Vigil")) != 0;
    }
    if (bad) {
        json_decref(o);
        return vg_err(err, errlen, -ENOMEM, "pagerduty: out of memory building the request");
    }
    int rc = vg_fmt_set_body(out, o);
    out->url = vg_fmt_join_url(ctx->url && *ctx->url ? ctx->url : VG_PD_DEFAULT_URL, "v2/enqueue");
    char idem[512];
    if (rc == 0 && out->url)
        rc = vg_http_req_add_header(out, "Content-Type: application/json");
    if (rc == 0 && out->url)
        rc = vg_http_req_add_header(out, "Idempotency-Key: %s",
                                    vg_fmt_idempotency_key(n, idem, sizeof(idem)));
    if (rc < 0 || !out->url) {
        vg_http_req_free(out);
        return vg_err(err, errlen, -ENOMEM, "pagerduty: out of memory building the request");
    }
    return 0;
}
