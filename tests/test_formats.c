/* The alert formats as pure functions: every body is parsed back with jansson and checked field
 * by field against docs/alerts.md. Also: signatures recomputed here with libcrypto directly, the
 * PagerDuty dedup_key across trigger and resolve, and that secrets never reach the logs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vg_action.h"
#include "vg_fmt_alertmanager.h"
#include "vg_fmt_pagerduty.h"
#include "vg_fmt_slack.h"
#include "vg_format.h"
#include "vg_hmac.h"
#include "vg_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* 2026-11-23T13:00:00.123Z and 2026-11-23T13:05:00.456Z */
#define T_START 1795438800123LL
#define T_END   1795439100456LL
#define T_NOW   1795438801000LL /* when the request is built */
#define FP      "3f2a9c0d1e7b4a55"

static const char *const label_keys[] = {"env", "host",  "region", "k8s.io/zone",
                                         "1st", "empty", "service"};
static const char *const label_values[] = {"prod", "spoofed-by-label", "eu-1", "z1", "x",
                                           "",     "checkout"};
static const struct vg_top_metric top[] = {
    {"cpu.user_pct", 51.2, 0.62},
    {"cpu.iowait_pct", 20.5, 0.25},
    {"load.1m", 7.5, 0.13},
};

static struct vg_notification sample(const char *status)
{
    int resolved = strcmp(status, "resolved") == 0;
    struct vg_notification n = {
        .status = status,
        .alertname = "anomaly",
        .host = "web-1",
        .series = "cpu.user_pct",
        .fingerprint = FP,
        .severity = "warning",
        .score = resolved ? 0.12 : 0.999,
        .value = resolved ? 12.5 : 51.2,
        .threshold = 0.99,
        .starts_at_ms = T_START,
        .ends_at_ms = resolved ? T_END : 0,
        .event_ts_ms = resolved ? T_END : T_START,
        .accepted_ms = T_START + 5,
        .label_keys = label_keys,
        .label_values = label_values,
        .n_labels = VG_ARRAY_LEN(label_keys),
        .top_metrics = top,
        .n_top_metrics = VG_ARRAY_LEN(top),
    };
    return n;
}

static json_t *parse(const struct vg_http_req *r)
{
    json_error_t e;
    json_t *j = json_loadb(r->body, r->body_len, 0, &e);
    if (!j)
        fail_msg("body is not JSON (%s): %.*s", e.text, (int)r->body_len, r->body);
    return j;
}

static const char *header(const struct vg_http_req *r, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < r->n_headers; i++) {
        if (strncasecmp(r->headers[i], name, nl) == 0 && r->headers[i][nl] == ':')
            return r->headers[i] + nl + 2;
    }
    return NULL;
}

static void assert_str(json_t *o, const char *key, const char *want)
{
    const char *got = json_string_value(json_object_get(o, key));
    if (!got || strcmp(got, want) != 0)
        fail_msg("%s: got %s, want %s", key, got ? got : "(none)", want);
}

static void assert_real(json_t *o, const char *key, double want)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        fail_msg("%s is not a number", key);
    if (fabs(json_number_value(v) - want) > 1e-12)
        fail_msg("%s: got %g, want %g", key, json_number_value(v), want);
}

/* The object has exactly these keys, no more, no fewer. */
static void assert_keys(json_t *o, const char *const *keys, size_t n)
{
    assert_true(json_is_object(o));
    for (size_t i = 0; i < n; i++) {
        if (!json_object_get(o, keys[i]))
            fail_msg("key %s is missing", keys[i]);
    }
    if (json_object_size(o) != n) {
        char *s = json_dumps(o, JSON_COMPACT);
        fail_msg("object has %zu keys, want %zu: %s", json_object_size(o), n, s);
    }
}

static int64_t rfc3339_ms(const char *s)
{
    if (!s || strlen(s) != 24 || s[10] != 'T' || s[19] != '.' || s[23] != 'Z')
        return INT64_MIN;
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p != s + 19)
        return INT64_MIN;
    int ms = 0;
    for (int i = 20; i < 23; i++) {
        if (s[i] < '0' || s[i] > '9')
            return INT64_MIN;
        ms = ms * 10 + (s[i] - '0');
    }
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static void assert_time(json_t *o, const char *key, int64_t want_ms)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (rfc3339_ms(s) != want_ms)
        fail_msg("%s: got %s, want RFC 3339 of %lld ms", key, s ? s : "(none)", (long long)want_ms);
}

static void test_rfc3339_times_are_utc_with_milliseconds(void **state)
{
    char b[40];
    assert_int_equal(vg_fmt_rfc3339(T_START, b, sizeof(b)), 0);
    assert_string_equal(b, "2026-11-23T13:00:00.123Z");
    assert_int_equal(vg_fmt_rfc3339(0, b, sizeof(b)), 0);
    assert_string_equal(b, "1970-01-01T00:00:00.000Z");
    /* Before the epoch the millisecond part still counts forwards. */
    assert_int_equal(vg_fmt_rfc3339(-1, b, sizeof(b)), 0);
    assert_string_equal(b, "1969-12-31T23:59:59.999Z");
    assert_int_equal(vg_fmt_rfc3339(253402300799999LL, b, sizeof(b)), 0);
    assert_string_equal(b, "9999-12-31T23:59:59.999Z");
    assert_int_equal(vg_fmt_rfc3339(253402300800000LL, b, sizeof(b)), -ERANGE);
    assert_string_equal(b, "");
    assert_int_equal(vg_fmt_rfc3339(T_START, b, 24), -ERANGE);
}

static void hmac_hex(const char *key, const char *msg, size_t len, char out[72])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    assert_non_null(
        HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)msg, len, md, &mdlen));
    assert_int_equal(mdlen, 32);
    strcpy(out, "sha256=");
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

static void test_webhook_body_is_signed_and_the_signature_verifies(void **state)
{
    const char *key = "k3y-for-tests-0123456789";
    struct vg_notification n = sample("firing");
    struct vg_fmt_ctx ctx = {.url = "https://hooks.example.com/vigil",
                             .secret = (const unsigned char *)key,
                             .secret_len = strlen(key),
                             .now_ms = T_NOW};
    struct vg_http_req r = {0};
    char err[VG_ERRLEN];
    assert_int_equal(vg_fmt_webhook(&n, &ctx, &r, err, sizeof(err)), 0);
    assert_string_equal(r.url, "https://hooks.example.com/vigil");
    assert_string_equal(header(&r, "Content-Type"), "application/json");
    assert_string_equal(header(&r, "Idempotency-Key"), FP "-firing-1795438800123");
    assert_string_equal(header(&r, "X-Vigil-Timestamp"), "1795438801");

    /* The body is exactly the generic document... */
    char *doc = vg_notification_to_json(&n);
    assert_non_null(doc);
    assert_int_equal(r.body_len, strlen(doc));
    assert_memory_equal(r.body, doc, r.body_len);
    free(doc);
    /* ...and the signature is HMAC-SHA256 over "<timestamp>.<those exact bytes>", recomputed
     * independently. */
    const char *ts = "1795438801";
    size_t ml = strlen(ts) + 1 + r.body_len;
    char *signed_msg = malloc(ml);
    assert_non_null(signed_msg);
    memcpy(signed_msg, ts, strlen(ts));
    signed_msg[strlen(ts)] = '.';
    memcpy(signed_msg + strlen(ts) + 1, r.body, r.body_len);
    char want[72];
    hmac_hex(key, signed_msg, ml, want);
    free(signed_msg);
    assert_string_equal(header(&r, "X-Vigil-Signature"), want);
    assert_int_equal(vg_hmac_verify(key, strlen(key), ts, r.body, r.body_len, want), 1);

    /* A changed byte, a changed signature, a truncated one, another key, another timestamp (a
     * replay re-dated by whoever captured it), no timestamp: all refused. */
    r.body[5] ^= 1;
    assert_int_equal(vg_hmac_verify(key, strlen(key), ts, r.body, r.body_len, want), 0);
    r.body[5] ^= 1;
    char bad[72];
    strcpy(bad, want);
    bad[40] = bad[40] == 'a' ? 'b' : 'a';
    assert_int_equal(vg_hmac_verify(key, strlen(key), ts, r.body, r.body_len, bad), 0);
    bad[40] = '\0';
    assert_int_equal(vg_hmac_verify(key, strlen(key), ts, r.body, r.body_len, bad), 0);
    assert_int_equal(vg_hmac_verify("other", 5, ts, r.body, r.body_len, want), 0);
    assert_int_equal(vg_hmac_verify(key, strlen(key), ts, r.body, r.body_len, NULL), 0);
    assert_int_equal(vg_hmac_verify(key, strlen(key), "1795439801", r.body, r.body_len, want), 0);
    assert_int_equal(vg_hmac_verify(key, strlen(key), NULL, r.body, r.body_len, want), 0);

    /* Formatted again a second later (the next attempt): a new timestamp, a new signature that
     * verifies under it, the same body and Idempotency-Key. */
    struct vg_http_req r2 = {0};
    ctx.now_ms = T_NOW + 1000;
    assert_int_equal(vg_fmt_webhook(&n, &ctx, &r2, err, sizeof(err)), 0);
    assert_string_equal(header(&r2, "X-Vigil-Timestamp"), "1795438802");
    assert_string_not_equal(header(&r2, "X-Vigil-Signature"), want);
    assert_int_equal(r2.body_len, r.body_len);
    assert_memory_equal(r2.body, r.body, r.body_len);
    assert_string_equal(header(&r2, "Idempotency-Key"), header(&r, "Idempotency-Key"));
    assert_int_equal(vg_hmac_verify(key, strlen(key), "1795438802", r2.body, r2.body_len,
                                    header(&r2, "X-Vigil-Signature")),
                     1);
    vg_http_req_free(&r2);

    json_t *b = parse(&r);
    json_t *tm = json_object_get(b, "top_metrics");
    assert_int_equal(json_array_size(tm), 3);
    assert_str(json_array_get(tm, 0), "name", "cpu.user_pct");
    assert_real(json_array_get(tm, 0), "value", 51.2);
    assert_real(json_array_get(tm, 0), "contribution", 0.62);
    /* Fifteen documented fields plus top_metrics, which is only there when given. */
    assert_int_equal(json_object_size(b), 16);
    json_decref(b);
    vg_http_req_free(&r);

    /* No secret, no signature headers. */
    ctx.secret = NULL;
    n.top_metrics = NULL;
    n.n_top_metrics = 0;
    assert_int_equal(vg_fmt_webhook(&n, &ctx, &r, err, sizeof(err)), 0);
    assert_null(header(&r, "X-Vigil-Signature"));
    assert_null(header(&r, "X-Vigil-Timestamp"));
    b = parse(&r);
    assert_int_equal(json_object_size(b), 15);
    json_decref(b);
    vg_http_req_free(&r);
}

static void test_alertmanager_body_matches_documented_format(void **state)
{
    struct vg_notification fire = sample("firing"), res = sample("resolved");
    struct vg_fmt_ctx ctx = {.url = "http://am.example.com:9093/",
                             .generator_url = "https://vigil.example.com/s?h={host}&s={series}",
                             .now_ms = T_NOW,
                             .am_active_ms = 240000};
    struct vg_http_req r = {0};
    char err[VG_ERRLEN];
    assert_int_equal(vg_am_format(&fire, &ctx, &r, err, sizeof(err)), 0);
    assert_string_equal(r.url, "http://am.example.com:9093/api/v2/alerts");
    assert_string_equal(header(&r, "Content-Type"), "application/json");
    assert_string_equal(header(&r, "Idempotency-Key"), FP "-firing-1795438800123");
    json_t *arr = parse(&r);
    assert_true(json_is_array(arr));
    assert_int_equal(json_array_size(arr), 1);
    json_t *a = json_array_get(arr, 0);
    static const char *const keys[] = {"labels", "annotations", "startsAt", "endsAt",
                                       "generatorURL"};
    assert_keys(a, keys, VG_ARRAY_LEN(keys));

    json_t *l = json_object_get(a, "labels");
    static const char *const lkeys[] = {"env",       "region", "k8s_io_zone", "_1st",    "service",
                                        "alertname", "host",   "series",      "severity"};
    assert_keys(l, lkeys, VG_ARRAY_LEN(lkeys));
    assert_str(l, "alertname", "anomaly");
    assert_str(l, "host", "web-1"); /* not the host label's value */
    assert_str(l, "series", "cpu.user_pct");
    assert_str(l, "severity", "warning");
    assert_str(l, "env", "prod");
    assert_str(l, "k8s_io_zone", "z1");
    assert_str(l, "_1st", "x");

    json_t *an = json_object_get(a, "annotations");
    static const char *const akeys[] = {
        "summary",     "description",      "score", "value", "threshold",
        "top_metrics", "vigil_fingerprint"};
    assert_keys(an, akeys, VG_ARRAY_LEN(akeys));
    assert_str(an, "summary", "web-1: cpu.user_pct anomalous (score 0.999, value 51.2)");
    assert_str(an, "description",
               "cpu.user_pct anomalous on web-1: anomaly score 0.999 (threshold 0.99), value 51.2. "
               "Top metrics: cpu.user_pct=51.2 (share 62 %), cpu.iowait_pct=20.5 (share 25 %), "
               "load.1m=7.5 (share 13 %)");
    assert_str(an, "score", "0.999");
    assert_str(an, "value", "51.2");
    assert_str(an, "threshold", "0.99");
    assert_str(an, "vigil_fingerprint", FP);
    assert_time(a, "startsAt", T_START);
    /* Firing: endsAt in the future, so Alertmanager keeps it active until the next re-send. */
    assert_time(a, "endsAt", T_NOW + 240000);
    assert_str(a, "generatorURL", "https://vigil.example.com/s?h=web-1&s=cpu.user_pct");
    json_decref(arr);
    vg_http_req_free(&r);

    /* Resolve: the real end time, same labels (that is how Alertmanager matches it); built after
     * it happened. */
    ctx.now_ms = T_END + 1000;
    ctx.generator_url = NULL;
    ctx.url = "http://am.example.com/prefix";
    assert_int_equal(vg_am_format(&res, &ctx, &r, err, sizeof(err)), 0);
    assert_string_equal(r.url, "http://am.example.com/prefix/api/v2/alerts");
    arr = parse(&r);
    a = json_array_get(arr, 0);
    static const char *const rkeys[] = {"labels", "annotations", "startsAt", "endsAt"};
    assert_keys(a, rkeys, VG_ARRAY_LEN(rkeys));
    assert_keys(json_object_get(a, "labels"), lkeys, VG_ARRAY_LEN(lkeys));
    assert_time(a, "startsAt", T_START);
    assert_time(a, "endsAt", T_END);
    assert_str(json_object_get(a, "annotations"), "summary",
               "web-1: cpu.user_pct resolved (score 0.120, value 12.5)");
    json_decref(arr);
    vg_http_req_free(&r);

    /* A batch (the re-sends) is one array. */
    const struct vg_notification *both[] = {&fire, &fire};
    assert_int_equal(vg_am_format_batch(both, 2, &ctx, &r, err, sizeof(err)), 0);
    arr = parse(&r);
    assert_int_equal(json_array_size(arr), 2);
    assert_null(header(&r, "Idempotency-Key"));
    json_decref(arr);
    vg_http_req_free(&r);

    char nb[32];
    assert_string_equal(vg_am_label_name("a.b-c/d", nb, sizeof(nb)), "a_b_c_d");
    assert_string_equal(vg_am_label_name("9x", nb, sizeof(nb)), "_9x");
    assert_string_equal(vg_am_label_name("", nb, sizeof(nb)), "_");
}

/* An agent whose clock is a day ahead: its alert's resolve was sent with endsAt a day ahead, and
 * Alertmanager, reading it against its own clock, kept the alert active (the page open) for the
 * skew. Times ahead of the analyzer's wall clock by more than VG_FMT_CLOCK_TOLERANCE_MS are taken
 * as when the analyzer made the notification; the event time stays as an annotation. */
static void test_alertmanager_times_of_an_agent_clock_ahead_are_the_analyzers(void **state)
{
    (void)state;
    const int64_t day = 86400000;
    struct vg_notification fire = sample("firing"), res = sample("resolved");
    fire.starts_at_ms = fire.event_ts_ms = T_NOW + day;
    fire.accepted_ms = T_NOW - 10;
    res.starts_at_ms = T_NOW + day;
    res.ends_at_ms = res.event_ts_ms = T_NOW + day + 12000;
    res.accepted_ms = T_NOW - 5;
    struct vg_fmt_ctx ctx = {
        .url = "http://am.example.com", .now_ms = T_NOW, .am_active_ms = 240000};
    struct vg_http_req r = {0};
    char err[VG_ERRLEN];
    assert_int_equal(vg_am_format(&fire, &ctx, &r, err, sizeof(err)), 0);
    json_t *arr = parse(&r);
    json_t *a = json_array_get(arr, 0);
    assert_time(a, "startsAt", T_NOW - 10);
    assert_time(a, "endsAt", T_NOW + 240000);
    assert_time(json_object_get(a, "annotations"), "vigil_event_time", T_NOW + day);
    json_decref(arr);
    vg_http_req_free(&r);

    assert_int_equal(vg_am_format(&res, &ctx, &r, err, sizeof(err)), 0);
    arr = parse(&r);
    a = json_array_get(arr, 0);
    assert_time(a, "startsAt", T_NOW - 5);
    assert_time(a, "endsAt", T_NOW - 5); /* resolved now, not in a day */
    assert_time(json_object_get(a, "annotations"), "vigil_event_time", T_NOW + day + 12000);
    json_decref(arr);
    vg_http_req_free(&r);

    /* Within the tolerance, the event times are kept, and no annotation added. */
    res.starts_at_ms = T_NOW - 60000;
    res.ends_at_ms = res.event_ts_ms = T_NOW + VG_FMT_CLOCK_TOLERANCE_MS;
    assert_int_equal(vg_am_format(&res, &ctx, &r, err, sizeof(err)), 0);
    arr = parse(&r);
    a = json_array_get(arr, 0);
    assert_time(a, "startsAt", T_NOW - 60000);
    assert_time(a, "endsAt", T_NOW + VG_FMT_CLOCK_TOLERANCE_MS);
    assert_null(json_object_get(json_object_get(a, "annotations"), "vigil_event_time"));
    json_decref(arr);
    vg_http_req_free(&r);
}

/* Host labels whose names are only distinct before they are made valid for Alertmanager keep
 * every value: a name valid as it is keeps it whatever the order, the others get _2, _3. Each
 * used to replace the one before it. */
static void test_alertmanager_keeps_labels_whose_valid_names_collide(void **state)
{
    (void)state;
    static const char *const keys[] = {"k8s.io/zone", "k8s_io_zone", "k8s-io/zone",
                                       "k8s_io_zone_2"};
    static const char *const vals[] = {"a", "b", "c", "d"};
    struct vg_notification n = sample("firing");
    n.label_keys = keys;
    n.label_values = vals;
    n.n_labels = VG_ARRAY_LEN(keys);
    struct vg_fmt_ctx ctx = {.url = "http://am.example.com", .now_ms = T_NOW};
    struct vg_http_req r = {0};
    char err[VG_ERRLEN];
    assert_int_equal(vg_am_format(&n, &ctx, &r, err, sizeof(err)), 0);
    json_t *arr = parse(&r);
    json_t *l = json_object_get(json_array_get(arr, 0), "labels");
    assert_str(l, "k8s_io_zone", "b");
    assert_str(l, "k8s_io_zone_2", "d");
    assert_str(l, "k8s_io_zone_3", "a");
    assert_str(l, "k8s_io_zone_4", "c");
    assert_str(l, "host", "web-1");
    /* Four host labels, alertname, host, series, severity. */
    assert_int_equal(json_object_size(l), 8);
    json_decref(arr);
    vg_http_req_free(&r);
}

static void test_pagerduty_dedup_key_is_the_same_on_trigger_and_resolve(void **state)
{
    struct vg_notification fire = sample("firing"), res = sample("resolved");
    struct vg_fmt_ctx ctx = {.routing_key = "R0UT1NGKEY0123456789abcdefABCDEF", .now_ms = T_NOW};
    struct vg_http_req r = {0};
    char err[VG_ERRLEN];
    assert_int_equal(vg_pd_format(&fire, &ctx, &r, err, sizeof(err)), 0);
    assert_string_equal(r.url, "https://events.pagerduty.com/v2/enqueue");
    assert_string_equal(header(&r, "Content-Type"), "application/json");
    json_t *t = parse(&r);
    static const char *const tkeys[] = {"routing_key", "event_action", "dedup_key", "payload",
                                        "client"};
    assert_keys(t, tkeys, VG_ARRAY_LEN(tkeys));
    assert_str(t, "routing_key", "R0UT1NGKEY0123456789abcdefABCDEF");
    assert_str(t, "event_action", "trigger");
    assert_str(t, "dedup_key", FP);
    assert_str(t, "client", "Vigil");
    json_t *p = json_object_get(t, "payload");
    static const char *const pkeys[] = {"summary",   "source", "severity", "timestamp",
                                        "component", "group",  "class",    "custom_details"};
    assert_keys(p, pkeys, VG_ARRAY_LEN(pkeys));
    assert_str(p, "summary", "web-1: cpu.user_pct anomalous (score 0.999, value 51.2)");
    assert_str(p, "source", "web-1");
    assert_str(p, "severity", "warning");
    assert_time(p, "timestamp", T_START);
    assert_str(p, "component", "cpu.user_pct");
    assert_str(p, "group", "checkout");
    assert_str(p, "class", "anomaly");
    json_t *cd = json_object_get(p, "custom_details");
    static const char *const ckeys[] = {"score",     "value",       "threshold", "severity",
                                        "starts_at", "fingerprint", "labels",    "top_metrics"};
    assert_keys(cd, ckeys, VG_ARRAY_LEN(ckeys));
    assert_real(cd, "score", 0.999);
    assert_real(cd, "value", 51.2);
    assert_real(cd, "threshold", 0.99);
    assert_time(cd, "starts_at", T_START);
    assert_str(json_object_get(cd, "labels"), "region", "eu-1");
    json_t *tm = json_object_get(cd, "top_metrics");
    assert_int_equal(json_array_size(tm), 3);
    assert_str(json_array_get(tm, 1), "name", "cpu.iowait_pct");
    assert_real(json_array_get(tm, 1), "value", 20.5);
    assert_real(json_array_get(tm, 1), "contribution", 0.25);
    vg_http_req_free(&r);

    ctx.url = "http://127.0.0.1:9/";
    assert_int_equal(vg_pd_format(&res, &ctx, &r, err, sizeof(err)), 0);
    assert_string_equal(r.url, "http://127.0.0.1:9/v2/enqueue");
    json_t *rs = parse(&r);
    static const char *const rkeys[] = {"routing_key", "event_action", "dedup_key"};
    assert_keys(rs, rkeys, VG_ARRAY_LEN(rkeys));
    assert_str(rs, "event_action", "resolve");
    /* The whole point: the resolve names the incident the trigger opened. */
    assert_string_equal(json_string_value(json_object_get(rs, "dedup_key")),
                        json_string_value(json_object_get(t, "dedup_key")));
    json_decref(rs);
    json_decref(t);
    vg_http_req_free(&r);

    /* Another series of the same host is another incident. */
    struct vg_notification other = sample("firing");
    other.fingerprint = "77aa00bb11cc22dd";
    assert_int_equal(vg_pd_format(&other, &ctx, &r, err, sizeof(err)), 0);
    t = parse(&r);
    assert_str(t, "dedup_key", "77aa00bb11cc22dd");
    json_decref(t);
    vg_http_req_free(&r);

    other.fingerprint = NULL;
    assert_int_equal(vg_pd_format(&other, &ctx, &r, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "dedup_key"));
    ctx.routing_key = NULL;
    assert_int_equal(vg_pd_format(&fire, &ctx, &r, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "routing key"));
}

static void test_pagerduty_severity_mapping(void **state)
{
    static const char *const map[][2] = {
        {"critical", "critical"}, {"CRITICAL", "critical"}, {"page", "critical"},
        {"fatal", "critical"},    {"high", "critical"},     {"error", "error"},
        {"major", "error"},       {"warning", "warning"},   {"Warn", "warning"},
        {"minor", "warning"},     {"info", "info"},         {"notice", "info"},
        {"low", "info"},          {"bogus", "error"},       {"", "error"},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(map); i++) {
        if (strcmp(vg_pd_severity(map[i][0]), map[i][1]) != 0)
            fail_msg("severity %s maps to %s, want %s", map[i][0], vg_pd_severity(map[i][0]),
                     map[i][1]);
    }
    assert_string_equal(vg_pd_severity(NULL), "error");

    /* The mapped value is what goes into the payload. */
    struct vg_notification n = sample("firing");
    n.severity = "page";
    struct vg_fmt_ctx ctx = {.routing_key = "key"};
    struct vg_http_req r = {0};
    char err[VG_ERRLEN];
    assert_int_equal(vg_pd_format(&n, &ctx, &r, err, sizeof(err)), 0);
    json_t *t = parse(&r);
    assert_str(json_object_get(t, "payload"), "severity", "critical");
    assert_str(json_object_get(json_object_get(t, "payload"), "custom_details"), "severity",
               "page");
    json_decref(t);
    vg_http_req_free(&r);
}

static const char *field_text(json_t *fields, size_t i)
{
    return json_string_value(json_object_get(json_array_get(fields, i), "text"));
}

/* The context line holds the labels up to Slack's text limit; those beyond it were cut without a
 * mark, so a reader took the list for the whole (64 host labels pushed a rule's `team` out). */
static void test_slack_says_how_many_labels_did_not_fit(void **state)
{
    (void)state;
    struct vg_notification n = sample("firing");
    static char kbuf[64][16], vbuf[64][40];
    const char *keys[64], *values[64];
    for (int i = 0; i < 64; i++) {
        snprintf(kbuf[i], sizeof kbuf[i], "l%02d", i);
        snprintf(vbuf[i], sizeof vbuf[i], "value-%02d-abcdefghijklmnopqrstuvwx", i);
        keys[i] = kbuf[i];
        values[i] = vbuf[i];
    }
    n.label_keys = keys;
    n.label_values = values;
    n.n_labels = 64;
    struct vg_fmt_ctx ctx = {.url = "https://hooks.slack.com/services/T000/B000/XXXX"};
    struct vg_http_req r = {0};
    char err[VG_ERRLEN];
    assert_int_equal(vg_slack_format(&n, &ctx, &r, err, sizeof(err)), 0);
    json_t *m = parse(&r);
    json_t *blocks = json_object_get(m, "blocks");
    json_t *c = json_array_get(blocks, json_array_size(blocks) - 1);
    assert_str(c, "type", "context");
    const char *t = json_string_value(
        json_object_get(json_array_get(json_object_get(c, "elements"), 0), "text"));
    assert_non_null(t);
    assert_non_null(strstr(t, "l00=value-00-"));
    /* Each label takes 40 characters with its separator; the list has room for some 23. */
    const char *more = strstr(t, " (+");
    if (!more)
        fail_msg("no count of the labels left out in: %s", t);
    unsigned left = 0;
    assert_int_equal(sscanf(more, " (+%u more)", &left), 1);
    char last[16];
    snprintf(last, sizeof last, "l%02u=", 63 - left);
    assert_non_null(strstr(t, last)); /* the last label shown is the one before those counted */
    snprintf(last, sizeof last, "l%02u=", 64 - left);
    assert_null(strstr(t, last));
    json_decref(m);
    vg_http_req_free(&r);
}

/* Host lab-1 whose agent labels say host=evil, severity=critical, alertname=pwn, series=s, for
 * an alert of severity SEV1 (-s alert.severity=SEV1): Slack's context line and PagerDuty's
 * custom_details.labels show Vigil's values for those four, as the webhook and Alertmanager
 * payloads do (docs/alerts.md), never values that contradict the alert's own fields. */
static void
test_slack_and_pagerduty_labels_carry_vigils_host_series_alertname_severity(void **state)
{
    (void)state;
    static const char *const keys[] = {"host", "severity", "alertname", "series", "env"};
    static const char *const values[] = {"evil", "critical", "pwn", "s", "lab"};
    struct vg_notification n = sample("firing");
    n.host = "lab-1";
    n.severity = "SEV1";
    n.alertname = "HostAnomaly";
    n.label_keys = keys;
    n.label_values = values;
    n.n_labels = VG_ARRAY_LEN(keys);
    char err[VG_ERRLEN];

    struct vg_fmt_ctx sctx = {.url = "https://hooks.slack.com/services/T000/B000/XXXX"};
    struct vg_http_req r = {0};
    assert_int_equal(vg_slack_format(&n, &sctx, &r, err, sizeof(err)), 0);
    json_t *m = parse(&r);
    json_t *blocks = json_object_get(m, "blocks");
    json_t *c = json_array_get(blocks, json_array_size(blocks) - 1);
    assert_str(c, "type", "context");
    const char *t = json_string_value(
        json_object_get(json_array_get(json_object_get(c, "elements"), 0), "text"));
    assert_non_null(t);
    if (!strstr(t, "| host=lab-1, severity=SEV1, alertname=HostAnomaly, series=cpu.user_pct, "
                   "env=lab"))
        fail_msg("context line: %s", t);
    assert_null(strstr(t, "evil"));
    assert_null(strstr(t, "critical"));
    assert_null(strstr(t, "pwn"));
    json_decref(m);
    vg_http_req_free(&r);

    struct vg_fmt_ctx pctx = {.routing_key = "R0UT1NGKEY0123456789abcdefABCDEF", .now_ms = T_NOW};
    assert_int_equal(vg_pd_format(&n, &pctx, &r, err, sizeof(err)), 0);
    json_t *pd = parse(&r);
    json_t *cd = json_object_get(json_object_get(pd, "payload"), "custom_details");
    json_t *labels = json_object_get(cd, "labels");
    assert_str(labels, "host", "lab-1");
    assert_str(labels, "severity", "SEV1");
    assert_str(labels, "alertname", "HostAnomaly");
    assert_str(labels, "series", "cpu.user_pct");
    assert_str(labels, "env", "lab");
    assert_str(cd, "severity", "SEV1");
    json_decref(pd);
    vg_http_req_free(&r);
}

static void test_slack_message_is_readable_and_resolve_is_distinct(void **state)
{
    struct vg_notification fire = sample("firing"), res = sample("resolved");
    struct vg_fmt_ctx ctx = {.url = "https://hooks.slack.com/services/T000/B000/XXXX"};
    struct vg_http_req r = {0};
    char err[VG_ERRLEN];
    assert_int_equal(vg_slack_format(&fire, &ctx, &r, err, sizeof(err)), 0);
    assert_string_equal(r.url, ctx.url);
    json_t *m = parse(&r);
    static const char *const keys[] = {"text", "blocks"};
    assert_keys(m, keys, VG_ARRAY_LEN(keys));
    assert_str(m, "text",
               ":red_circle: [FIRING] web-1: cpu.user_pct anomalous (score 0.999, value 51.2)");
    json_t *blocks = json_object_get(m, "blocks");
    assert_int_equal(json_array_size(blocks), 4);
    json_t *h = json_array_get(blocks, 0);
    assert_str(h, "type", "header");
    assert_str(json_object_get(h, "text"), "type", "plain_text");
    assert_str(json_object_get(h, "text"), "text", "Anomaly: cpu.user_pct on web-1");
    json_t *sec = json_array_get(blocks, 1);
    assert_str(sec, "type", "section");
    json_t *fields = json_object_get(sec, "fields");
    assert_int_equal(json_array_size(fields), 6);
    assert_string_equal(field_text(fields, 0), "*Host*\nweb-1");
    assert_string_equal(field_text(fields, 1), "*Series*\ncpu.user_pct");
    assert_string_equal(field_text(fields, 2), "*Score*\n0.999 (threshold 0.99)");
    assert_string_equal(field_text(fields, 3), "*Value*\n51.2");
    assert_string_equal(field_text(fields, 4), "*Severity*\nwarning");
    assert_string_equal(field_text(fields, 5), "*Since*\n2026-11-23T13:00:00.123Z");
    json_t *topb = json_array_get(blocks, 2);
    assert_str(topb, "type", "section");
    assert_str(json_object_get(topb, "text"), "text",
               "*Top metrics*\n\xe2\x80\xa2 `cpu.user_pct` = 51.2 (62 %)\n\xe2\x80\xa2 "
               "`cpu.iowait_pct` = 20.5 (25 %)\n\xe2\x80\xa2 `load.1m` = 7.5 (13 %)");
    json_t *c = json_array_get(blocks, 3);
    assert_str(c, "type", "context");
    const char *ctxt = json_string_value(
        json_object_get(json_array_get(json_object_get(c, "elements"), 0), "text"));
    assert_non_null(ctxt);
    assert_non_null(strstr(ctxt, "fingerprint " FP));
    assert_non_null(strstr(ctxt, "env=prod"));
    char *fire_text = strdup(json_string_value(json_object_get(m, "text")));
    json_decref(m);
    vg_http_req_free(&r);

    assert_int_equal(vg_slack_format(&res, &ctx, &r, err, sizeof(err)), 0);
    m = parse(&r);
    assert_str(m, "text",
               ":large_green_circle: [RESOLVED] web-1: cpu.user_pct resolved (score 0.120, value "
               "12.5)");
    assert_string_not_equal(json_string_value(json_object_get(m, "text")), fire_text);
    blocks = json_object_get(m, "blocks");
    assert_str(json_object_get(json_array_get(blocks, 0), "text"), "text",
               "Resolved: cpu.user_pct on web-1");
    fields = json_object_get(json_array_get(blocks, 1), "fields");
    assert_string_equal(field_text(fields, 5), "*Lasted*\n5m 0s");
    free(fire_text);
    json_decref(m);
    vg_http_req_free(&r);

    /* mrkdwn control characters from agents are escaped: no @channel pings, no fake links. */
    struct vg_notification evil = sample("firing");
    evil.host = "<!channel> & <http://x|y>";
    evil.n_top_metrics = 0;
    assert_int_equal(vg_slack_format(&evil, &ctx, &r, err, sizeof(err)), 0);
    m = parse(&r);
    const char *text = json_string_value(json_object_get(m, "text"));
    assert_non_null(strstr(text, "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"));
    assert_null(strstr(text, "<!channel>"));
    assert_string_equal(
        field_text(json_object_get(json_array_get(json_object_get(m, "blocks"), 1), "fields"), 0),
        "*Host*\n&lt;!channel&gt; &amp; &lt;http://x|y&gt;");
    json_decref(m);
    vg_http_req_free(&r);
}

/* ---- secrets and logs ---- */

struct capture {
    int rd;
    char *buf;
    size_t len, cap;
    pthread_t th;
};

/* Drains the pipe as it fills, so that a chatty test cannot block on a full pipe. */
static void *drain(void *arg)
{
    struct capture *c = arg;
    for (;;) {
        if (c->len + 4096 + 1 > c->cap) {
            c->cap = c->cap ? 2 * c->cap : 65536;
            c->buf = realloc(c->buf, c->cap);
            if (!c->buf)
                abort();
        }
        ssize_t n = read(c->rd, c->buf + c->len, c->cap - c->len - 1);
        if (n <= 0)
            break;
        c->len += (size_t)n;
    }
    c->buf[c->len] = '\0';
    return NULL;
}

static int closed_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void run_until_dropped(const struct vg_action *act, void *inst)
{
    struct vg_notification n = sample("firing");
    assert_int_equal(act->submit(inst, &n), 0);
    n = sample("resolved");
    assert_int_equal(act->submit(inst, &n), 0);
    struct vg_action_stats st;
    int64_t end = vg_mono_ms() + 15000;
    do {
        act->stats(inst, &st);
        if (st.dropped == 2)
            break;
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    } while (vg_mono_ms() < end);
    assert_int_equal(st.dropped, 2);
    act->destroy(inst, 0);
}

static void test_secrets_never_appear_in_logs(void **state)
{
    const char *rkey = "PDKEYsecret0123456789abcdefghij";
    const char *hkey = "HMACsecret-do-not-log-42";
    char dir[] = "/tmp/vg-test-formats-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char rfile[128], hfile[128], badfile[128];
    snprintf(rfile, sizeof(rfile), "%s/routing_key", dir);
    snprintf(hfile, sizeof(hfile), "%s/secret", dir);
    snprintf(badfile, sizeof(badfile), "%s/bad_key", dir);
    char line[128];
    snprintf(line, sizeof(line), "%s\n", rkey);
    write_file(rfile, line, 0644); /* too open: warned about, by name only */
    snprintf(line, sizeof(line), "  %s \n", hkey);
    write_file(hfile, line, 0600);
    write_file(badfile, "two words-PDKEYsecret\n", 0600);

    struct capture cap = {0};
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
    close(p[1]);
    cap.rd = p[0];
    assert_int_equal(pthread_create(&cap.th, NULL, drain, &cap), 0);

    char url[64], err[VG_ERRLEN] = "";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", closed_port());
    const struct vg_action *act = NULL;
    void *inst = NULL;
    struct vg_receiver_cfg pd = {.type = "pagerduty",
                                 .url = url,
                                 .routing_key_file = rfile,
                                 .max_attempts = 2,
                                 .backoff_initial_ms = 1,
                                 .rate_per_s = -1};
    int rc_pd = vg_action_create(&pd, &act, &inst, err, sizeof(err));
    if (rc_pd == 0)
        run_until_dropped(act, inst);
    struct vg_receiver_cfg wh = {.type = "webhook",
                                 .url = url,
                                 .secret_file = hfile,
                                 .max_attempts = 2,
                                 .backoff_initial_ms = 1,
                                 .rate_per_s = -1};
    int rc_wh = vg_action_create(&wh, &act, &inst, err, sizeof(err));
    if (rc_wh == 0)
        run_until_dropped(act, inst);
    struct vg_receiver_cfg bad = {.type = "pagerduty", .routing_key_file = badfile};
    char bad_err[VG_ERRLEN] = "";
    int rc_bad = vg_action_create(&bad, &act, &inst, bad_err, sizeof(bad_err));

    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    pthread_join(cap.th, NULL);
    close(cap.rd);
    fputs(cap.buf, stderr); /* for ctest's output */

    assert_int_equal(rc_pd, 0);
    assert_int_equal(rc_wh, 0);
    assert_int_equal(rc_bad, -EINVAL);
    assert_null(strstr(bad_err, "PDKEY"));
    assert_non_null(strstr(bad_err, badfile));
    /* The capture saw the attempts, so silence cannot pass for secrecy. */
    assert_non_null(strstr(cap.buf, "pagerduty attempt failed, will retry"));
    assert_non_null(strstr(cap.buf, "webhook attempt failed, giving up"));
    assert_non_null(strstr(cap.buf, "secret file is accessible to others"));
    assert_null(strstr(cap.buf, rkey));
    assert_null(strstr(cap.buf, "PDKEY"));
    assert_null(strstr(cap.buf, hkey));
    assert_null(strstr(cap.buf, "HMACsecret"));
    free(cap.buf);
    unlink(rfile);
    unlink(hfile);
    unlink(badfile);
    rmdir(dir);
}

static void test_secret_files_are_read_strictly(void **state)
{
    char dir[] = "/tmp/vg-test-secret-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char f[128], err[VG_ERRLEN];
    snprintf(f, sizeof(f), "%s/s", dir);
    char *s = NULL;
    size_t len = 0;
    write_file(f, "\n  abc def\r\n", 0600);
    assert_int_equal(vg_action_read_secret(f, "test", &s, &len, err, sizeof(err)), 0);
    assert_int_equal(len, 7);
    assert_string_equal(s, "abc def");
    vg_action_secret_free(s, len);
    write_file(f, " \n\n", 0600);
    assert_int_equal(vg_action_read_secret(f, "test", &s, &len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "is empty"));
    write_file(f, "a\nb\n", 0600);
    assert_int_equal(vg_action_read_secret(f, "test", &s, &len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "single line"));
    assert_null(s);
    unlink(f);
    assert_int_equal(vg_action_read_secret(f, "test", &s, &len, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, f));
    assert_int_equal(vg_action_read_secret(dir, "test", &s, &len, err, sizeof(err)), -EINVAL);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339_times_are_utc_with_milliseconds),
        cmocka_unit_test(test_webhook_body_is_signed_and_the_signature_verifies),
        cmocka_unit_test(test_alertmanager_body_matches_documented_format),
        cmocka_unit_test(test_alertmanager_keeps_labels_whose_valid_names_collide),
        cmocka_unit_test(test_alertmanager_times_of_an_agent_clock_ahead_are_the_analyzers),
        cmocka_unit_test(test_pagerduty_dedup_key_is_the_same_on_trigger_and_resolve),
        cmocka_unit_test(test_pagerduty_severity_mapping),
        cmocka_unit_test(test_slack_message_is_readable_and_resolve_is_distinct),
        cmocka_unit_test(test_slack_says_how_many_labels_did_not_fit),
        cmocka_unit_test(
            test_slack_and_pagerduty_labels_carry_vigils_host_series_alertname_severity),
        cmocka_unit_test(test_secrets_never_appear_in_logs),
        cmocka_unit_test(test_secret_files_are_read_strictly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
