#include "vg_format.h"

#include "vg_hmac.h"
#include "vg_util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int vg_http_req_add_header(struct vg_http_req *r, const char *fmt, ...)
{
    if (r->n_headers >= VG_REQ_MAX_HEADERS)
        return -E2BIG;
    va_list ap;
    va_start(ap, fmt);
    char *h = NULL;
    int n = vasprintf(&h, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -ENOMEM;
    r->headers[r->n_headers++] = h;
    return 0;
}

void vg_http_req_free(struct vg_http_req *r)
{
    if (!r)
        return;
    free(r->url);
    /* The body of a pagerduty request holds the routing key: do not leave it in freed memory. */
    if (r->body) {
        explicit_bzero(r->body, r->body_len);
        free(r->body);
    }
    for (size_t i = 0; i < r->n_headers; i++)
        free(r->headers[i]);
    memset(r, 0, sizeof(*r));
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there are not one. Overlongs,
 * surrogates and code points above U+10FFFF count as invalid, as jansson rejects them too. */
static size_t utf8_seq_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned cp;
    if ((c & 0xe0) == 0xc0) {
        n = 2;
        cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3;
        cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    static const unsigned min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Host names and labels come off the wire unvalidated; jansson refuses invalid UTF-8, and a
 * notification must not vanish because one label is mangled, so bad bytes become '?'. */
json_t *vg_fmt_str(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    size_t len = strlen(s);
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    while (*p) {
        size_t n = utf8_seq_len(p);
        if (n == 0) {
            copy[o++] = '?';
            p++;
        } else {
            memcpy(copy + o, p, n);
            o += n;
            p += n;
        }
    }
    copy[o] = '\0';
    j = json_string(copy);
    free(copy);
    return j;
}

int vg_fmt_set(json_t *obj, const char *key, json_t *v)
{
    if (json_object_set_new(obj, key, json_incref(v)) == 0) {
        json_decref(v);
        return 0;
    }
    json_t *k = vg_fmt_str(key);
    int rc = k && v ? json_object_set_new(obj, json_string_value(k), v) : (json_decref(v), -1);
    json_decref(k);
    return rc;
}

/* JSON has no NaN or Infinity; receivers choke on them, so they become null. */
json_t *vg_fmt_num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

int vg_fmt_rfc3339(int64_t ms, char *buf, size_t n)
{
    int64_t sec = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    if (n)
        buf[0] = '\0';
    if (n < 25 || !gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
        return -ERANGE;
    size_t l = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + l, n - l, ".%03dZ", (int)frac);
    return 0;
}

/* Years outside 0000..9999 cannot be written in RFC 3339 and give null. */
json_t *vg_fmt_time(int64_t ms)
{
    char buf[40];
    if (vg_fmt_rfc3339(ms, buf, sizeof(buf)) < 0)
        return json_null();
    return json_string(buf);
}

const char *vg_fmt_number(char *buf, size_t n, const char *fmt, double v)
{
    if (isfinite(v))
        snprintf(buf, n, fmt, v);
    else
        snprintf(buf, n, "n/a");
    return buf;
}

const char *vg_fmt_label_value(const struct vg_notification *n, size_t i)
{
    const char *k = n->label_keys ? n->label_keys[i] : NULL;
    const char *v = n->label_values ? n->label_values[i] : NULL;
    if (!k)
        return v;
    const char *mine = strcmp(k, "host") == 0       ? n->host
                       : strcmp(k, "series") == 0   ? n->series
                       : strcmp(k, "severity") == 0 ? n->severity
                       : strcmp(k, "alertname") == 0
                           ? (n->alertname && *n->alertname ? n->alertname : "anomaly")
                           : NULL;
    return mine && *mine ? mine : v;
}

const char *vg_fmt_summary(const struct vg_notification *n, char *buf, size_t len)
{
    if (n->summary) {
        snprintf(buf, len, "%s", n->summary);
        return buf;
    }
    int resolved = n->status && strcmp(n->status, "resolved") == 0;
    char score[32], value[32];
    vg_fmt_number(score, sizeof(score), "%.3f", n->score);
    vg_fmt_number(value, sizeof(value), "%g", n->value);
    snprintf(buf, len, "%s: %s %s (score %s, value %s)", n->host ? n->host : "?",
             n->series      ? n->series
             : n->alertname ? n->alertname
                            : "?",
             resolved ? "resolved" : "anomalous", score, value);
    return buf;
}

const char *vg_fmt_top_metrics_text(const struct vg_notification *n, char *buf, size_t len)
{
    size_t o = 0;
    if (len)
        buf[0] = '\0';
    for (size_t i = 0; i < n->n_top_metrics && n->top_metrics && o + 1 < len; i++) {
        const struct vg_top_metric *m = &n->top_metrics[i];
        char v[32], share[32];
        vg_fmt_number(v, sizeof(v), "%g", m->value);
        if (isfinite(m->contribution))
            snprintf(share, sizeof(share), " (share %.0f %%)", m->contribution * 100);
        else
            share[0] = '\0';
        int w = snprintf(buf + o, len - o, "%s%s=%s%s", i ? ", " : "", m->name ? m->name : "?", v,
                         share);
        if (w < 0)
            break;
        o += (size_t)w < len - o ? (size_t)w : len - o - 1;
    }
    return buf;
}

const char *vg_fmt_idempotency_key(const struct vg_notification *n, char *buf, size_t len)
{
    if (n->repeat)
        snprintf(buf, len, "%s-%s-%lld-r%u", n->fingerprint ? n->fingerprint : "",
                 n->status ? n->status : "", (long long)n->starts_at_ms, (unsigned)n->repeat);
    else
        snprintf(buf, len, "%s-%s-%lld", n->fingerprint ? n->fingerprint : "",
                 n->status ? n->status : "", (long long)n->starts_at_ms);
    /* Header values must be a single line of visible ASCII; the fingerprint is not ours to
     * trust. */
    for (char *s = buf; *s; s++) {
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            *s = '_';
    }
    return buf;
}

char *vg_fmt_join_url(const char *base, const char *path)
{
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    while (*path == '/')
        path++;
    char *out = NULL;
    if (asprintf(&out, "%.*s/%s", (int)bl, base, path) < 0)
        return NULL;
    return out;
}

int vg_fmt_set_body(struct vg_http_req *out, json_t *j)
{
    /* 15 significant digits print 51.2 as 51.2 rather than 51.200000000000003; more precision
     * than that means nothing for an alert. */
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(j);
    if (!s)
        return -ENOMEM;
    out->body = s;
    out->body_len = strlen(s);
    return 0;
}

int vg_fmt_webhook(const struct vg_notification *n, const struct vg_fmt_ctx *ctx,
                   struct vg_http_req *out, char *err, size_t errlen)
{
    char idem[512];
    int rc = 0;
    out->body = vg_notification_to_json(n);
    out->url = strdup(ctx->url ? ctx->url : "");
    if (!out->body || !out->url) {
        rc = -ENOMEM;
        goto fail;
    }
    out->body_len = strlen(out->body);
    rc |= vg_http_req_add_header(out, "Content-Type: application/json");
    rc |= vg_http_req_add_header(out, "Idempotency-Key: %s",
                                 vg_fmt_idempotency_key(n, idem, sizeof(idem)));
    if (ctx->secret) {
        /* The timestamp is signed with the body, so a receiver can bound how old a request may
         * be; the caller formats each attempt afresh, so a retry or a replay from the outbox
         * carries the time it was sent, not the time the alert was raised. */
        char sig[VG_HMAC_SIG_LEN + 1], ts[24];
        snprintf(ts, sizeof(ts), "%lld", (long long)(ctx->now_ms / 1000));
        int hr = vg_hmac_sign(ctx->secret, ctx->secret_len, ts, out->body, out->body_len, sig);
        if (hr < 0) {
            vg_http_req_free(out);
            return hr == -ENOMEM
                       ? vg_err(err, errlen, hr, "webhook: out of memory signing")
                       : vg_err(err, errlen, -EIO, "webhook: HMAC-SHA256 failed in libcrypto");
        }
        rc |= vg_http_req_add_header(out, "X-Vigil-Timestamp: %s", ts);
        rc |= vg_http_req_add_header(out, "X-Vigil-Signature: %s", sig);
    }
    if (rc == 0)
        return 0;
    rc = -ENOMEM;
fail:
    vg_http_req_free(out);
    return vg_err(err, errlen, rc, "webhook: out of memory building the request");
}
