#include "vg_fmt_alertmanager.h"

#include "vg_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *vg_am_label_name(const char *name, char *buf, size_t len)
{
    size_t o = 0;
    if (len < 2) {
        if (len)
            buf[0] = '\0';
        return buf;
    }
    /* Alertmanager before 0.28 (and later ones outside UTF-8 mode) reject the whole request for a
     * single label name like "k8s.io/zone"; a mangled name is better than a lost alert. */
    if (name && *name >= '0' && *name <= '9')
        buf[o++] = '_';
    for (const char *p = name ? name : ""; *p && o + 1 < len; p++) {
        char c = *p;
        int ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        buf[o++] = ok ? c : '_';
    }
    if (o == 0)
        buf[o++] = '_';
    buf[o] = '\0';
    return buf;
}

/* Percent-encodes s (RFC 3986 unreserved bytes kept) for a {host}/{series} substitution. */
static int append_escaped(char **buf, size_t *len, size_t *cap, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; s && *s; s++) {
        if (*len + 4 > *cap) {
            size_t nc = *cap ? *cap * 2 : 128;
            char *b = realloc(*buf, nc);
            if (!b)
                return -ENOMEM;
            *buf = b;
            *cap = nc;
        }
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            (*buf)[(*len)++] = (char)c;
        } else {
            (*buf)[(*len)++] = '%';
            (*buf)[(*len)++] = hex[c >> 4];
            (*buf)[(*len)++] = hex[c & 15];
        }
    }
    return 0;
}

static char *expand_generator_url(const char *tmpl, const struct vg_notification *n)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (const char *p = tmpl;;) {
        const char *h = strstr(p, "{host}"), *s = strstr(p, "{series}");
        const char *next = h && (!s || h < s) ? h : s;
        size_t lit = next ? (size_t)(next - p) : strlen(p);
        if (len + lit + 1 > cap) {
            size_t nc = cap ? cap : 128;
            while (nc < len + lit + 1)
                nc *= 2;
            char *b = realloc(buf, nc);
            if (!b) {
                free(buf);
                return NULL;
            }
            buf = b;
            cap = nc;
        }
        memcpy(buf + len, p, lit);
        len += lit;
        if (!next)
            break;
        int rc = append_escaped(&buf, &len, &cap, next == h ? n->host : n->series);
        if (rc < 0) {
            free(buf);
            return NULL;
        }
        p = next + (next == h ? strlen("{host}") : strlen("{series}"));
    }
    buf[len] = '\0';
    return buf;
}

static json_t *am_alert(const struct vg_notification *n, const struct vg_fmt_ctx *ctx)
{
    json_t *a = json_object(), *labels = json_object(), *ann = json_object();
    int bad = !a || !labels || !ann;
    char name[256], alt[sizeof(name) + 24];
    /* Two passes so that no value is lost when made-valid names collide (k8s.io/zone and
     * k8s_io_zone): a name valid as it is keeps it, whatever the order; a changed one that meets
     * a name already taken gets the first free of NAME_2, NAME_3, ... in label order. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; !bad && i < n->n_labels; i++) {
            const char *k = n->label_keys ? n->label_keys[i] : NULL;
            const char *v = n->label_values ? n->label_values[i] : NULL;
            /* Alertmanager drops empty-valued labels itself; skipping them keeps what we send
             * equal to what it stores. */
            if (!k || !*k || !v || !*v)
                continue;
            const char *use = vg_am_label_name(k, name, sizeof(name));
            if ((strcmp(use, k) == 0) != (pass == 0))
                continue;
            /* NAME and NAME_2 .. NAME_{n_labels + 1} cannot all be taken by the other labels. */
            for (size_t j = 2; pass == 1 && json_object_get(labels, use) && j < n->n_labels + 2;
                 j++) {
                snprintf(alt, sizeof(alt), "%s_%zu", name, j);
                use = alt;
            }
            bad |= json_object_set_new(labels, use, vg_fmt_str(v)) != 0;
        }
    /* Set after the host labels: these identify the alert and must not be overridden. */
    bad |= json_object_set_new(
               labels, "alertname",
               vg_fmt_str(n->alertname && *n->alertname ? n->alertname : "anomaly")) != 0;
    if (n->host && *n->host)
        bad |= json_object_set_new(labels, "host", vg_fmt_str(n->host)) != 0;
    if (n->series && *n->series)
        bad |= json_object_set_new(labels, "series", vg_fmt_str(n->series)) != 0;
    if (n->severity && *n->severity)
        bad |= json_object_set_new(labels, "severity", vg_fmt_str(n->severity)) != 0;

    char summary[1024], top[1024], score[32], value[32], thr[32], desc[2600];
    vg_fmt_summary(n, summary, sizeof(summary));
    vg_fmt_top_metrics_text(n, top, sizeof(top));
    vg_fmt_number(score, sizeof(score), "%.3f", n->score);
    vg_fmt_number(value, sizeof(value), "%g", n->value);
    vg_fmt_number(thr, sizeof(thr), "%g", n->threshold);
    int resolved = n->status && strcmp(n->status, "resolved") == 0;
    snprintf(desc, sizeof(desc), "%s %s on %s: anomaly score %s (threshold %s), value %s.%s%s",
             n->series      ? n->series
             : n->alertname ? n->alertname
                            : "?",
             resolved ? "back to normal" : "anomalous", n->host ? n->host : "?", score, thr, value,
             top[0] ? " Top metrics: " : "", top);
    bad |= json_object_set_new(ann, "summary", vg_fmt_str(summary)) != 0;
    bad |= json_object_set_new(ann, "description", vg_fmt_str(desc)) != 0;
    bad |= json_object_set_new(ann, "score", json_string(score)) != 0;
    bad |= json_object_set_new(ann, "value", json_string(value)) != 0;
    bad |= json_object_set_new(ann, "threshold", json_string(thr)) != 0;
    if (top[0])
        bad |= json_object_set_new(ann, "top_metrics", vg_fmt_str(top)) != 0;
    if (n->fingerprint)
        bad |= json_object_set_new(ann, "vigil_fingerprint", vg_fmt_str(n->fingerprint)) != 0;
    /* A rule's own annotations come last: its summary and description replace ours. */
    for (size_t i = 0; !bad && n->annotation_keys && n->annotation_values && i < n->n_annotations;
         i++)
        if (n->annotation_keys[i])
            bad |= json_object_set_new(ann, n->annotation_keys[i],
                                       vg_fmt_str(n->annotation_values[i])) != 0;

    if (!bad) {
        bad |= json_object_set_new(a, "labels", labels) != 0;
        labels = NULL;
        bad |= json_object_set_new(a, "annotations", ann) != 0;
        ann = NULL;
    }
    /* Alertmanager rejects endsAt before startsAt; a resolve always has ends >= starts from the
     * analyzer, but a clock step on an agent must not turn the resolve into a 400. */
    int64_t starts = n->starts_at_ms ? n->starts_at_ms : n->event_ts_ms;
    int64_t ends = resolved ? (n->ends_at_ms ? n->ends_at_ms : n->event_ts_ms)
                            : ctx->now_ms + ctx->am_active_ms;
    /* Event times are the agent's clock; Alertmanager reads them against its own: a resolve
     * whose endsAt lies ahead keeps the alert active until then (an agent a day ahead: a page
     * open for a day). A time beyond the analyzer's wall clock by more than the tolerance is
     * taken as when the analyzer made the notification; the agent's time stays informative in
     * an annotation. */
    int ahead = 0;
    if (ctx->now_ms > 0) {
        int64_t made =
            n->accepted_ms > 0 && n->accepted_ms < ctx->now_ms ? n->accepted_ms : ctx->now_ms;
        int64_t lim = ctx->now_ms + VG_FMT_CLOCK_TOLERANCE_MS;
        if (starts > lim) {
            ahead = 1;
            starts = made;
        }
        if (resolved && ends > lim) {
            ahead = 1;
            ends = made;
        }
    }
    if (ends < starts)
        ends = starts;
    if (ahead && !bad) {
        json_t *an = json_object_get(a, "annotations");
        bad |= !an || json_object_set_new(an, "vigil_event_time", vg_fmt_time(n->event_ts_ms)) != 0;
    }
    bad |= json_object_set_new(a, "startsAt", vg_fmt_time(starts)) != 0;
    bad |= json_object_set_new(a, "endsAt", vg_fmt_time(ends)) != 0;
    if (ctx->generator_url && *ctx->generator_url) {
        char *g = expand_generator_url(ctx->generator_url, n);
        bad |= !g || json_object_set_new(a, "generatorURL", vg_fmt_str(g)) != 0;
        free(g);
    }
    json_decref(labels);
    json_decref(ann);
    if (bad) {
        json_decref(a);
        return NULL;
    }
    return a;
}

int vg_am_format_batch(const struct vg_notification *const *ns, size_t count,
                       const struct vg_fmt_ctx *ctx, struct vg_http_req *out, char *err,
                       size_t errlen)
{
    if (!ctx->url || !*ctx->url)
        return vg_err(err, errlen, -EINVAL, "alertmanager: no base url");
    json_t *arr = json_array();
    int bad = !arr;
    for (size_t i = 0; !bad && i < count; i++)
        bad |= json_array_append_new(arr, am_alert(ns[i], ctx)) != 0;
    if (bad) {
        json_decref(arr);
        return vg_err(err, errlen, -ENOMEM, "alertmanager: out of memory building the request");
    }
    int rc = vg_fmt_set_body(out, arr);
    out->url = vg_fmt_join_url(ctx->url, "api/v2/alerts");
    if (rc == 0 && out->url)
        rc = vg_http_req_add_header(out, "Content-Type: application/json");
    if (rc == 0 && count == 1) {
        char idem[512];
        rc = vg_http_req_add_header(out, "Idempotency-Key: %s",
                                    vg_fmt_idempotency_key(ns[0], idem, sizeof(idem)));
    }
    if (rc < 0 || !out->url) {
        vg_http_req_free(out);
        return vg_err(err, errlen, -ENOMEM, "alertmanager: out of memory building the request");
    }
    return 0;
}

int vg_am_format(const struct vg_notification *n, const struct vg_fmt_ctx *ctx,
                 struct vg_http_req *out, char *err, size_t errlen)
{
    return vg_am_format_batch(&n, 1, ctx, out, err, errlen);
}
