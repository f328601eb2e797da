/* Alert formats: pure functions from a notification to the HTTP request a receiver expects (URL,
 * headers, body). The delivery engine (vg_webhook.c) only sends what a format built, so each
 * format can be checked field by field without a network (tests/test_formats.c), and what it
 * sends is documented in docs/alerts.md.
 */
#ifndef VG_FORMAT_H
#define VG_FORMAT_H

#include "vg_action.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define VG_REQ_MAX_HEADERS 8

/* One POST. Every pointer is malloc'd and owned by the struct: vg_http_req_free() releases it. */
struct vg_http_req {
    char *url;
    char *body;
    size_t body_len;
    char *headers[VG_REQ_MAX_HEADERS]; /* "Name: value" */
    size_t n_headers;
};

/* Everything a format may use besides the notification. The clock is an input too, so that the
 * same inputs always give the same bytes. */
struct vg_fmt_ctx {
    const char *url;             /* the receiver's url; a base url for alertmanager/pagerduty */
    const unsigned char *secret; /* webhook: HMAC key, or NULL for no signature */
    size_t secret_len;
    const char *routing_key;   /* pagerduty */
    const char *generator_url; /* alertmanager; NULL: no generatorURL */
    int64_t now_ms;            /* wall clock: X-Vigil-Timestamp, alertmanager endsAt */
    int64_t am_active_ms;      /* alertmanager: a firing alert's endsAt is now_ms + this */
};

/* How far ahead of the analyzer's wall clock an event time (the agent's clock) may lie in a
 * payload whose receiver reads times against its own clock (Alertmanager's startsAt and endsAt):
 * later ones are replaced by the analyzer's time. */
#define VG_FMT_CLOCK_TOLERANCE_MS 5000

/* Fills *out (zeroed by the caller) for n. 0, or -ENOMEM / -EINVAL with err saying why; on error
 * *out holds nothing to free. */
typedef int (*vg_format_fn)(const struct vg_notification *n, const struct vg_fmt_ctx *ctx,
                            struct vg_http_req *out, char *err, size_t errlen);

/* Adds a "Name: value" header (printf format). 0, -ENOMEM or -E2BIG when the array is full. */
int vg_http_req_add_header(struct vg_http_req *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Frees what r holds and zeroes it; r itself is the caller's. */
void vg_http_req_free(struct vg_http_req *r);

/* JSON values for formats. Invalid UTF-8 becomes '?', NULL becomes null, a non-finite number
 * becomes null (JSON has no NaN). NULL only when out of memory. */
json_t *vg_fmt_str(const char *s);
json_t *vg_fmt_num(double v);

/* json_object_set_new with key's invalid UTF-8 made '?' as vg_fmt_str does (jansson refuses
 * such a key, and the member would go missing). Steals v. 0, or -1 when out of memory. */
int vg_fmt_set(json_t *obj, const char *key, json_t *v);

/* RFC 3339 UTC with milliseconds ("2026-11-23T13:00:00.123Z") into buf (>= 25 bytes): 0, or
 * -ERANGE for a year outside 0000..9999 (buf is then ""). */
int vg_fmt_rfc3339(int64_t ms, char *buf, size_t n);

/* vg_fmt_rfc3339 as a JSON string, null when out of range. */
json_t *vg_fmt_time(int64_t ms);

/* printf of v with fmt, or "n/a" when v is not finite. Returns buf. */
const char *vg_fmt_number(char *buf, size_t n, const char *fmt, double v);

/* The value label i of n shows: a host label named host, series, alertname or severity carries
 * Vigil's value for it (when the alert has one), as in the webhook and Alertmanager payloads
 * (docs/alerts.md), so that an agent's labels cannot contradict the alert's own fields. Any other
 * label, its own value (NULL stays NULL). */
const char *vg_fmt_label_value(const struct vg_notification *n, size_t i);

/* n->summary, or the generated one-liner, into buf. Returns buf. */
const char *vg_fmt_summary(const struct vg_notification *n, char *buf, size_t len);

/* "name=value (share 62 %), ..." for the top metrics, into buf ("" when there are none). */
const char *vg_fmt_top_metrics_text(const struct vg_notification *n, char *buf, size_t len);

/* Idempotency-Key value: "<fingerprint>-<status>-<starts_at ms>", made header-safe. */
const char *vg_fmt_idempotency_key(const struct vg_notification *n, char *buf, size_t len);

/* base + path with exactly one '/' between them; malloc'd, NULL when out of memory. */
char *vg_fmt_join_url(const char *base, const char *path);

/* Serialises a JSON value compactly as formats send it (15 significant digits) into out->body.
 * Steals j (decrefs it). */
int vg_fmt_set_body(struct vg_http_req *out, json_t *j);

/* The generic webhook (docs/alerts.md): vg_notification_to_json() POSTed to ctx->url, with
 * X-Vigil-Signature and X-Vigil-Timestamp when ctx->secret is set. */
int vg_fmt_webhook(const struct vg_notification *n, const struct vg_fmt_ctx *ctx,
                   struct vg_http_req *out, char *err, size_t errlen);

#endif
