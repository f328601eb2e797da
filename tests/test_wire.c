/* Wire format v1 codec: round trips, every rejection reason with its message, storage reuse. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vg_util.h"
#include "vg_wire.h"

#define HDR                                                                                        \
    "\"v\":1,\"host\":\"web-1\",\"boot\":\"6f1c-77\",\"seq\":42,\"ts\":1763900000000,"             \
    "\"interval_ms\":1000"
#define VALID "{" HDR ",\"labels\":{\"env\":\"prod\"},\"metrics\":{\"cpu.user_pct\":12.5}}"

static struct vg_wire_msg *new_msg(void)
{
    struct vg_wire_msg *m = malloc(sizeof(*m));
    assert_non_null(m);
    vg_wire_msg_init(m);
    return m;
}

static void free_msg(struct vg_wire_msg *m)
{
    vg_wire_msg_free(m);
    free(m);
}

static int decode_len(struct vg_wire_msg *m, const char *buf, size_t len, char *err)
{
    return vg_wire_decode(buf, len, 0, m, err, VG_ERRLEN);
}

/* Decodes json and checks it fails with rc, an error containing `want`, and an empty message. */
static void expect_reject_n(const char *json, size_t len, int rc, const char *want)
{
    struct vg_wire_msg *m = new_msg();
    char err[VG_ERRLEN] = "";
    int got = decode_len(m, json, len, err);
    if (got != rc || !strstr(err, want))
        print_error("input: %.*s\nrc %d (want %d), err: %s\nwant substring: %s\n", (int)len, json,
                    got, rc, err, want);
    assert_int_equal(got, rc);
    assert_non_null(strstr(err, want));
    assert_int_equal(m->n_metrics, 0);
    assert_int_equal(m->n_labels, 0);
    assert_string_equal(m->host, "");
    free_msg(m);
}

static void expect_reject(const char *json, int rc, const char *want)
{
    expect_reject_n(json, strlen(json), rc, want);
}

static void expect_accept(const char *json, struct vg_wire_msg *m)
{
    char err[VG_ERRLEN] = "";
    int rc = decode_len(m, json, strlen(json), err);
    if (rc)
        print_error("input: %s\nerr: %s\n", json, err);
    assert_int_equal(rc, 0);
}

static void fill_header(struct vg_wire_msg *m)
{
    strcpy(m->host, "web-1");
    strcpy(m->boot, "6f1c-77");
    m->seq = 42;
    m->ts_ms = 1763900000000;
    m->interval_ms = 1000;
}

static void assert_same_bits(double a, double b)
{
    /* memcmp so -0.0 vs 0.0 and subnormals are told apart. */
    assert_memory_equal(&a, &b, sizeof(a));
}

static void assert_msgs_equal(const struct vg_wire_msg *a, const struct vg_wire_msg *b)
{
    assert_int_equal(a->version, b->version);
    assert_string_equal(a->host, b->host);
    assert_string_equal(a->boot, b->boot);
    assert_true(a->seq == b->seq);
    assert_true(a->ts_ms == b->ts_ms);
    assert_true(a->interval_ms == b->interval_ms);
    assert_int_equal(a->n_labels, b->n_labels);
    for (size_t i = 0; i < a->n_labels; i++) {
        assert_string_equal(a->labels[i].key, b->labels[i].key);
        assert_string_equal(a->labels[i].value, b->labels[i].value);
    }
    assert_int_equal(a->n_metrics, b->n_metrics);
    for (size_t i = 0; i < a->n_metrics; i++) {
        assert_string_equal(a->metrics[i].name, b->metrics[i].name);
        assert_same_bits(a->metrics[i].value, b->metrics[i].value);
    }
}

static void round_trip(const struct vg_wire_msg *in, struct vg_wire_msg *out)
{
    char err[VG_ERRLEN] = "";
    char *buf = NULL;
    size_t len = 0;
    int rc = vg_wire_encode(in, &buf, &len, err, sizeof(err));
    if (rc)
        print_error("encode: %s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(strlen(buf), len);
    rc = vg_wire_decode(buf, len, 0, out, err, sizeof(err));
    if (rc)
        print_error("decode of %s: %s\n", buf, err);
    assert_int_equal(rc, 0);
    free(buf);
    assert_msgs_equal(in, out);
}

/* ---- round trips and encoder output ---- */

static void round_trip_preserves_extreme_finite_values_and_labels(void **state)
{
    struct vg_wire_msg *a = new_msg(), *b = new_msg();
    char err[VG_ERRLEN];
    fill_header(a);
    a->seq = UINT64_C(1) << 53;
    a->ts_ms = INT64_MAX;
    a->interval_ms = 86400000;
    assert_int_equal(vg_wire_msg_add_label(a, "env", "prod", err, sizeof(err)), 0);
    assert_int_equal(vg_wire_msg_add_label(a, "_zone", "eu \"west\"\n\xc3\xa9\\", err, sizeof(err)),
                     0);
    assert_int_equal(vg_wire_msg_add_label(a, "empty", "", err, sizeof(err)), 0);
    const double values[] = {1e308,
                             -1e308,
                             -0.0,
                             0.0,
                             5e-324,
                             -5e-324,
                             2.2250738585072014e-308,
                             1.7976931348623157e308,
                             0.1,
                             1.0 / 3,
                             123,
                             -9007199254740993.0};
    char name[32];
    for (size_t i = 0; i < VG_ARRAY_LEN(values); i++) {
        snprintf(name, sizeof(name), "m_%zu.x:y-z", i);
        assert_int_equal(vg_wire_msg_add_metric(a, name, values[i], err, sizeof(err)), 0);
    }
    round_trip(a, b);
    free_msg(a);
    free_msg(b);
}

static void round_trip_preserves_max_length_names_and_values(void **state)
{
    struct vg_wire_msg *a = new_msg(), *b = new_msg();
    char err[VG_ERRLEN];
    fill_header(a);
    memset(a->host, 'h', VG_WIRE_HOST_MAX);
    a->host[VG_WIRE_HOST_MAX] = '\0';
    memset(a->boot, 'b', VG_WIRE_BOOT_MAX);
    a->boot[VG_WIRE_BOOT_MAX] = '\0';
    char name[VG_WIRE_NAME_MAX + 1], value[VG_WIRE_LABEL_VALUE_MAX + 1];
    memset(name, 'n', VG_WIRE_NAME_MAX);
    name[VG_WIRE_NAME_MAX] = '\0';
    memset(value, 'v', VG_WIRE_LABEL_VALUE_MAX);
    value[VG_WIRE_LABEL_VALUE_MAX] = '\0';
    assert_int_equal(vg_wire_msg_add_label(a, name, value, err, sizeof(err)), 0);
    assert_int_equal(vg_wire_msg_add_metric(a, name, 1, err, sizeof(err)), 0);
    round_trip(a, b);
    free_msg(a);
    free_msg(b);
}

static void encode_writes_compact_json_in_documented_key_order(void **state)
{
    struct vg_wire_msg *m = new_msg();
    char err[VG_ERRLEN], *buf;
    size_t len;
    fill_header(m);
    assert_int_equal(vg_wire_msg_add_label(m, "env", "prod", err, sizeof(err)), 0);
    assert_int_equal(vg_wire_msg_add_metric(m, "cpu.user_pct", 12.5, err, sizeof(err)), 0);
    assert_int_equal(vg_wire_msg_add_metric(m, "load.1m", 2, err, sizeof(err)), 0);
    assert_int_equal(vg_wire_encode(m, &buf, &len, err, sizeof(err)), 0);
    assert_string_equal(buf, "{" HDR ",\"labels\":{\"env\":\"prod\"},"
                             "\"metrics\":{\"cpu.user_pct\":12.5,\"load.1m\":2.0}}");
    free(buf);
    free_msg(m);
}

/* The agent keeps its messages within Kafka's limit by this bound: it must never be below the
 * encoding, whatever the values, and not far above it for the longest numbers. */
static void size_max_is_never_less_than_the_encoding(void **state)
{
    char err[VG_ERRLEN], *buf, name[VG_WIRE_NAME_MAX + 1], value[VG_WIRE_LABEL_VALUE_MAX + 1];
    size_t len;
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (int round = 0; round < 300; round++) {
        struct vg_wire_msg *m = new_msg();
        fill_header(m);
        m->seq = x % ((UINT64_C(1) << 53) + 1);
        m->ts_ms = (int64_t)(x >> 1) | 1;
        int n_labels = round % 5;
        for (int i = 0; i < n_labels; i++) {
            /* Printable text, quotes, backslashes and control characters (escaped longest). */
            size_t vl = (x >> 7) % (VG_WIRE_LABEL_VALUE_MAX + 1);
            for (size_t k = 0; k < vl; k++) {
                x = x * 6364136223846793005u + 1442695040888963407u;
                value[k] = (char)(1 + (x >> 33) % 127);
            }
            value[vl] = '\0';
            snprintf(name, sizeof name, "l%d", i);
            assert_int_equal(vg_wire_msg_add_label(m, name, value, err, sizeof err), 0);
        }
        for (int i = 0; i < 200; i++) {
            x = x * 6364136223846793005u + 1442695040888963407u;
            double v;
            uint64_t bits = x;
            memcpy(&v, &bits, sizeof v);
            if (!isfinite(v))
                v = (double)(int64_t)x;
            int nl = snprintf(name, sizeof name, "m%d.", i);
            size_t want = (size_t)nl + (x >> 40) % (VG_WIRE_NAME_MAX - (size_t)nl + 1);
            for (; (size_t)nl < want; nl++)
                name[nl] = (char)('a' + nl % 26);
            name[want] = '\0';
            assert_int_equal(vg_wire_msg_add_metric(m, name, v, err, sizeof err), 0);
        }
        assert_int_equal(vg_wire_encode(m, &buf, &len, err, sizeof err), 0);
        if (len > vg_wire_msg_size_max(m))
            fail_msg("round %d: encoded %zu bytes, bound %zu", round, len, vg_wire_msg_size_max(m));
        free(buf);
        free_msg(m);
    }

    /* The longest numbers, header fields and escapes: the bound is the encoding, give or take
     * the last comma and the header's shorter integers. */
    struct vg_wire_msg *m = new_msg();
    fill_header(m);
    m->seq = UINT64_C(1) << 53;
    m->ts_ms = INT64_MAX;
    m->interval_ms = 86400000;
    memset(value, 0x01, VG_WIRE_LABEL_VALUE_MAX); /* written \u0001 */
    value[VG_WIRE_LABEL_VALUE_MAX] = '\0';
    assert_int_equal(vg_wire_msg_add_label(m, "ctl", value, err, sizeof err), 0);
    const double longest[] = {-2.2250738585072014e-308, -4.9406564584124654e-324};
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "m%04d", i);
        assert_int_equal(vg_wire_msg_add_metric(m, name, longest[i % 2], err, sizeof err), 0);
    }
    assert_int_equal(vg_wire_encode(m, &buf, &len, err, sizeof err), 0);
    size_t bound = vg_wire_msg_size_max(m);
    print_message("1000 metrics of the longest values: %zu bytes, bound %zu\n", len, bound);
    assert_true(len <= bound);
    assert_true(bound - len <= 32);
    free(buf);
    free_msg(m);
}

static void encode_omits_labels_when_there_are_none(void **state)
{
    struct vg_wire_msg *m = new_msg();
    char err[VG_ERRLEN], *buf;
    size_t len;
    fill_header(m);
    assert_int_equal(vg_wire_encode(m, &buf, &len, err, sizeof(err)), 0);
    assert_string_equal(buf, "{" HDR ",\"metrics\":{}}");
    free(buf);
    free_msg(m);
}

static void encode_rejects_invalid_messages(void **state)
{
    struct vg_wire_msg *m = new_msg();
    char err[VG_ERRLEN], *buf = (char *)"untouched";
    size_t len = 99;

    fill_header(m);
    strcpy(m->host, "web 1");
    assert_int_equal(vg_wire_encode(m, &buf, &len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "invalid host 'web 1'"));
    assert_null(buf);
    assert_int_equal(len, 0);

    fill_header(m);
    strcpy(m->boot, "");
    assert_int_equal(vg_wire_encode(m, &buf, &len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "invalid boot ''"));

    fill_header(m);
    m->seq = (UINT64_C(1) << 53) + 1;
    assert_int_equal(vg_wire_encode(m, &buf, &len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "field 'seq' out of range: 9007199254740993"));

    fill_header(m);
    m->ts_ms = 0;
    assert_int_equal(vg_wire_encode(m, &buf, &len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "field 'ts' out of range"));

    fill_header(m);
    m->interval_ms = 86400001;
    assert_int_equal(vg_wire_encode(m, &buf, &len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "field 'interval_ms' out of range"));

    fill_header(m);
    m->version = 2;
    assert_int_equal(vg_wire_encode(m, &buf, &len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "unsupported version 2"));
    m->version = VG_WIRE_VERSION;

    assert_int_equal(vg_wire_msg_add_metric(m, "cpu", 1, err, sizeof(err)), 0);
    assert_int_equal(vg_wire_msg_add_metric(m, "cpu", 2, err, sizeof(err)), 0);
    assert_int_equal(vg_wire_encode(m, &buf, &len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "duplicate key: metric 'cpu'"));

    /* Collectors may write values straight into the array, bypassing add_metric's check. */
    vg_wire_msg_reset(m);
    assert_int_equal(vg_wire_msg_add_metric(m, "cpu", 1, err, sizeof(err)), 0);
    m->metrics[0].value = NAN;
    assert_int_equal(vg_wire_encode(m, &buf, &len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "non-finite value for metric 'cpu' (NaN)"));
    m->metrics[0].value = -INFINITY;
    assert_int_equal(vg_wire_encode(m, &buf, &len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "non-finite value for metric 'cpu' (Infinity)"));

    vg_wire_msg_reset(m);
    struct vg_metric bad = {.name = "9lives", .value = 1};
    m->metrics = &bad;
    m->n_metrics = 1;
    assert_int_equal(vg_wire_encode(m, &buf, &len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "invalid metric name '9lives'"));
    m->n_metrics = 0;

    vg_wire_msg_reset(m);
    assert_int_equal(vg_wire_msg_add_label(m, "env", "a", err, sizeof(err)), 0);
    assert_int_equal(vg_wire_msg_add_label(m, "env", "b", err, sizeof(err)), 0);
    assert_int_equal(vg_wire_encode(m, &buf, &len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "duplicate key: label 'env'"));
    free_msg(m);
}

/* ---- decoder: accepted shapes ---- */

static void decode_fills_every_field(void **state)
{
    struct vg_wire_msg *m = new_msg();
    expect_accept(VALID, m);
    assert_int_equal(m->version, 1);
    assert_string_equal(m->host, "web-1");
    assert_string_equal(m->boot, "6f1c-77");
    assert_true(m->seq == 42);
    assert_true(m->ts_ms == 1763900000000);
    assert_true(m->interval_ms == 1000);
    assert_int_equal(m->n_labels, 1);
    assert_string_equal(m->labels[0].key, "env");
    assert_string_equal(m->labels[0].value, "prod");
    assert_int_equal(m->n_metrics, 1);
    assert_string_equal(m->metrics[0].name, "cpu.user_pct");
    assert_true(m->metrics[0].value == 12.5);
    free_msg(m);
}

static void decode_accepts_absent_labels_and_empty_metrics(void **state)
{
    struct vg_wire_msg *m = new_msg();
    expect_accept("{" HDR ",\"metrics\":{}}", m);
    assert_int_equal(m->n_labels, 0);
    assert_int_equal(m->n_metrics, 0);
    /* Field order is not part of the format; whitespace around the object is allowed. */
    expect_accept(" \n{\"metrics\":{\"a\":1},\"interval_ms\":5,\"ts\":1,\"seq\":0,\"boot\":\"b\","
                  "\"host\":\"h\",\"v\":1,\"labels\":{}}\n",
                  m);
    assert_int_equal(m->n_metrics, 1);
    free_msg(m);
}

static void decode_converts_integer_metric_values_to_doubles(void **state)
{
    struct vg_wire_msg *m = new_msg();
    expect_accept("{" HDR ",\"metrics\":{\"a\":-7,\"b\":9223372036854775807,\"c\":0}}", m);
    assert_true(m->metrics[0].value == -7.0);
    assert_true(m->metrics[1].value == 9223372036854775807.0);
    assert_true(m->metrics[2].value == 0.0);
    free_msg(m);
}

static void decode_accepts_exactly_the_metric_limit_and_rejects_one_more(void **state)
{
    const size_t limit = 100000;
    size_t cap = (limit + 1) * 24 + 256, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    len += (size_t)snprintf(buf, cap, "{" HDR ",\"metrics\":{");
    for (size_t i = 0; i < limit; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s\"m%zu\":%zu", i ? "," : "", i, i);
    size_t body = len;
    len += (size_t)snprintf(buf + len, cap - len, "}}");

    struct vg_wire_msg *m = new_msg();
    char err[VG_ERRLEN] = "";
    assert_int_equal(vg_wire_decode(buf, len, cap, m, err, sizeof(err)), 0);
    assert_int_equal(m->n_metrics, limit);
    assert_string_equal(m->metrics[limit - 1].name, "m99999");
    assert_true(m->metrics[limit - 1].value == 99999.0);

    len = body + (size_t)snprintf(buf + body, cap - body, ",\"extra\":1}}");
    assert_int_equal(vg_wire_decode(buf, len, cap, m, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "too many metrics: 100001, limit 100000"));
    free(buf);
    free_msg(m);
}

/* Labels describe a host and are matched per message: a message keeps 64. v1 had no limit, so
 * the decoders take a v1 message with more (an agent from before the limit: refusing it made the
 * host silent at an upgraded analyzer), keep the first 64 and count the rest; the encoder and
 * vg_wire_msg_add_label refuse the 65th. A message of 100,000 labels within the size limit used
 * to take the decoder and the engine tens of seconds. */
static void a_message_keeps_64_labels_and_counts_the_rest(void **state)
{
    (void)state;
    char buf[8192];
    size_t len = (size_t)snprintf(buf, sizeof(buf), "{" HDR ",\"labels\":{");
    for (int i = 0; i < VG_WIRE_LABELS_MAX; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s\"k%d\":\"v\"", i ? "," : "", i);
    size_t body = len;
    len += (size_t)snprintf(buf + len, sizeof(buf) - len, "},\"metrics\":{}}");
    struct vg_wire_msg *m = new_msg();
    char err[VG_ERRLEN] = "";
    assert_int_equal(vg_wire_decode(buf, len, 0, m, err, sizeof(err)), 0);
    assert_int_equal(m->n_labels, VG_WIRE_LABELS_MAX);
    assert_int_equal(m->n_labels_dropped, 0);
    struct vg_wire_msg *r = new_msg();
    assert_int_equal(vg_wire_decode_reference(buf, len, 0, r, err, sizeof(err)), 0);
    assert_int_equal(r->n_labels, VG_WIRE_LABELS_MAX);
    /* At the limit, encoding works; one more label is refused when added... */
    assert_int_equal(vg_wire_msg_add_label(m, "extra", "x", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "too many labels: 65, limit 64"));

    /* ...and decoded, the first 64 in the message's order are kept, by both paths. */
    len = body + (size_t)snprintf(buf + body, sizeof(buf) - body,
                                  ",\"extra\":\"x\",\"more\":\"y\"},\"metrics\":{\"a\":1}}");
    assert_int_equal(vg_wire_decode(buf, len, 0, m, err, sizeof(err)), 0);
    assert_int_equal(vg_wire_decode_reference(buf, len, 0, r, err, sizeof(err)), 0);
    assert_msgs_equal(m, r);
    assert_int_equal(m->n_labels, VG_WIRE_LABELS_MAX);
    assert_int_equal(m->n_labels_dropped, 2);
    assert_int_equal(r->n_labels_dropped, 2);
    assert_string_equal(m->labels[0].key, "k0");
    assert_string_equal(m->labels[VG_WIRE_LABELS_MAX - 1].key, "k63");
    assert_int_equal(m->n_metrics, 1);
    /* The message as kept encodes; with one more label it does not. */
    char *out = NULL;
    size_t outlen = 0;
    assert_int_equal(vg_wire_encode(m, &out, &outlen, err, sizeof(err)), 0);
    free(out);
    struct vg_label more[VG_WIRE_LABELS_MAX + 1];
    memcpy(more, m->labels, VG_WIRE_LABELS_MAX * sizeof(more[0]));
    more[VG_WIRE_LABELS_MAX] = (struct vg_label){"extra", "x"};
    struct vg_label *kept = m->labels;
    m->labels = more;
    m->n_labels = VG_WIRE_LABELS_MAX + 1;
    assert_int_equal(vg_wire_encode(m, &out, &outlen, err, sizeof(err)), -EINVAL);
    assert_null(out);
    assert_non_null(strstr(err, "too many labels: 65, limit 64"));
    m->labels = kept;
    m->n_labels = VG_WIRE_LABELS_MAX;

    /* Those past the limit are still checked: the message is valid v1 or not as a whole. */
    len = body + (size_t)snprintf(buf + body, sizeof(buf) - body,
                                  ",\"extra\":\"x\",\"b d\":\"y\"},\"metrics\":{}}");
    expect_reject_n(buf, len, -EINVAL, "invalid label key 'b d'");
    assert_int_equal(vg_wire_decode_reference(buf, len, 0, r, err, sizeof(err)), -EINVAL);
    assert_int_equal(r->n_labels_dropped, 0);
    /* A decode that keeps them all counts none. */
    assert_int_equal(vg_wire_decode(VALID, strlen(VALID), 0, m, err, sizeof(err)), 0);
    assert_int_equal(m->n_labels_dropped, 0);
    free_msg(r);
    free_msg(m);
}

/* ---- decoder: one test per rejection reason ---- */

static void decode_rejects_oversized_message_before_parsing(void **state)
{
    /* Not JSON at all: a size error proves the check happens before the parser runs. */
    char buf[101];
    memset(buf, 'x', sizeof(buf));
    struct vg_wire_msg *m = new_msg();
    char err[VG_ERRLEN];
    assert_int_equal(vg_wire_decode(buf, sizeof(buf), 100, m, err, sizeof(err)), -EMSGSIZE);
    assert_string_equal(err, "message too large: 101 bytes, limit 100");
    assert_int_equal(vg_wire_decode(VALID, strlen(VALID), strlen(VALID), m, err, sizeof(err)), 0);
    free_msg(m);
}

static void decode_rejects_malformed_json_with_position(void **state)
{
    expect_reject("{\"v\":1,", -EBADMSG, "malformed JSON at line 1 column 7: ");
    expect_reject("{\"v\":1,\n\"host\" \"x\"}", -EBADMSG, "malformed JSON at line 2 column");
    expect_reject("", -EBADMSG, "malformed JSON at line 1 column 0: the message is empty");
    expect_reject("{\"v\":1,\"host\":\"a\xff\"}", -EBADMSG, "malformed JSON");
}

static void decode_rejects_embedded_nul_bytes(void **state)
{
    static const char inside[] = "{\"v\":1,\"ho\0st\":\"x\"}";
    expect_reject_n(inside, sizeof(inside) - 1, -EBADMSG, "malformed JSON");
    expect_reject("{" HDR ",\"labels\":{\"a\":\"x\\u0000y\"},\"metrics\":{}}", -EBADMSG,
                  "malformed JSON");
    static const char after[] = "{" HDR ",\"metrics\":{}}\0junk";
    expect_reject_n(after, sizeof(after) - 1, -EBADMSG, "trailing data after the JSON object");
}

static void decode_rejects_trailing_garbage(void **state)
{
    expect_reject(VALID " x", -EBADMSG, "trailing data after the JSON object at byte");
    expect_reject(VALID VALID, -EBADMSG, "trailing data after the JSON object");
}

static void decode_rejects_top_level_non_object(void **state)
{
    expect_reject("[1,2]", -EBADMSG, "top-level value is array, expected an object");
    expect_reject("42", -EBADMSG, "top-level value is integer, expected an object");
    expect_reject("\"hi\"", -EBADMSG, "top-level value is string, expected an object");
    expect_reject("null", -EBADMSG, "top-level value is null, expected an object");
}

static void decode_rejects_duplicate_keys(void **state)
{
    expect_reject("{" HDR ",\"seq\":43,\"metrics\":{}}", -EBADMSG,
                  "duplicate key at line 1 column");
    expect_reject("{" HDR ",\"metrics\":{\"a\":1,\"a\":2}}", -EBADMSG,
                  "duplicate object key near '\"a\"'");
    expect_reject("{" HDR ",\"labels\":{\"k\":\"1\",\"k\":\"2\"},\"metrics\":{}}", -EBADMSG,
                  "duplicate key");
}

static void decode_rejects_unsupported_version(void **state)
{
    expect_reject("{\"v\":2,\"whatever\":true}", -EPROTONOSUPPORT,
                  "unsupported version 2: this decoder reads v1");
    expect_reject("{\"v\":0}", -EPROTONOSUPPORT, "unsupported version 0");
}

static void decode_rejects_each_missing_required_field(void **state)
{
    static const char *const fields[][2] = {
        {"v", "\"v\":1"},
        {"host", "\"host\":\"web-1\""},
        {"boot", "\"boot\":\"b\""},
        {"seq", "\"seq\":1"},
        {"ts", "\"ts\":1"},
        {"interval_ms", "\"interval_ms\":1000"},
        {"metrics", "\"metrics\":{}"},
    };
    for (size_t skip = 0; skip < VG_ARRAY_LEN(fields); skip++) {
        char json[512] = "{", want[64];
        for (size_t i = 0; i < VG_ARRAY_LEN(fields); i++) {
            if (i == skip)
                continue;
            if (strlen(json) > 1)
                strcat(json, ",");
            strcat(json, fields[i][1]);
        }
        strcat(json, "}");
        snprintf(want, sizeof(want), "missing field '%s'", fields[skip][0]);
        expect_reject(json, -EINVAL, want);
    }
}

static void decode_rejects_mistyped_fields_naming_field_and_type(void **state)
{
    static const char *const cases[][2] = {
        {"{\"v\":\"1\"}", "field 'v' must be an integer, got string"},
        {"{\"v\":1.0}", "field 'v' must be an integer, got real"},
        {"{\"v\":1,\"host\":7}", "field 'host' must be a string, got integer"},
        {"{\"v\":1,\"boot\":[]}", "field 'boot' must be a string, got array"},
        {"{\"v\":1,\"seq\":\"42\"}", "field 'seq' must be an integer, got string"},
        {"{\"v\":1,\"seq\":42.5}", "field 'seq' must be an integer, got real"},
        {"{\"v\":1,\"ts\":null}", "field 'ts' must be an integer, got null"},
        {"{\"v\":1,\"interval_ms\":true}", "field 'interval_ms' must be an integer, got boolean"},
        {"{\"v\":1,\"labels\":[]}", "field 'labels' must be an object, got array"},
        {"{\"v\":1,\"metrics\":[1,2]}", "field 'metrics' must be an object, got array"},
        {"{\"v\":1,\"metrics\":null}", "field 'metrics' must be an object, got null"},
        {"{\"v\":1,\"metrics\":{\"cpu\":\"12\"}}", "metric 'cpu' must be a number, got string"},
        {"{\"v\":1,\"metrics\":{\"cpu\":{}}}", "metric 'cpu' must be a number, got object"},
        {"{\"v\":1,\"labels\":{\"env\":1}}", "label 'env' must be a string, got integer"},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++)
        expect_reject(cases[i][0], -EINVAL, cases[i][1]);
}

static void decode_rejects_out_of_range_integers(void **state)
{
    expect_reject("{\"v\":1,\"seq\":-1}", -EINVAL,
                  "field 'seq' out of range: -1 not in 0..9007199254740992");
    expect_reject("{\"v\":1,\"seq\":9007199254740993}", -EINVAL, "field 'seq' out of range");
    expect_reject("{\"v\":1,\"ts\":0}", -EINVAL, "field 'ts' out of range: 0");
    expect_reject("{\"v\":1,\"ts\":-5}", -EINVAL, "field 'ts' out of range: -5");
    expect_reject("{\"v\":1,\"interval_ms\":0}", -EINVAL,
                  "field 'interval_ms' out of range: 0 not in 1..86400000");
    expect_reject("{\"v\":1,\"interval_ms\":86400001}", -EINVAL,
                  "field 'interval_ms' out of range: 86400001");

    struct vg_wire_msg *m = new_msg();
    expect_accept("{\"v\":1,\"host\":\"h\",\"boot\":\"b\",\"seq\":9007199254740992,\"ts\":1,"
                  "\"interval_ms\":86400000,\"metrics\":{}}",
                  m);
    assert_true(m->seq == UINT64_C(9007199254740992));
    free_msg(m);
}

static void decode_rejects_unknown_top_level_field(void **state)
{
    expect_reject("{" HDR ",\"metrics\":{},\"tags\":{}}", -EINVAL,
                  "unknown field 'tags': v1 rejects fields it does not know");
}

static void decode_rejects_nan_and_infinity(void **state)
{
    static const char *const tokens[] = {"NaN", "nan", "Infinity", "-Infinity", "inf", "-inf"};
    for (size_t i = 0; i < VG_ARRAY_LEN(tokens); i++) {
        char json[256];
        snprintf(json, sizeof(json), "{" HDR ",\"metrics\":{\"a\":%s}}", tokens[i]);
        expect_reject(json, -EINVAL, "non-finite number at line 1 column");
    }
}

static void decode_rejects_numbers_overflowing_a_double(void **state)
{
    expect_reject("{" HDR ",\"metrics\":{\"a\":1e400}}", -EINVAL,
                  "number out of range at line 1 column");
    expect_reject("{" HDR ",\"metrics\":{\"a\":-1.8e308}}", -EINVAL, "real number overflow");
    expect_reject("{" HDR ",\"metrics\":{\"a\":99999999999999999999}}", -EINVAL,
                  "number out of range");
}

static void decode_rejects_bad_metric_names_naming_them(void **state)
{
    static const char *const cases[][2] = {
        {"1abc", "invalid metric name '1abc'"},
        {"a b", "invalid metric name 'a b'"},
        {"", "invalid metric name ''"},
        {"-x", "invalid metric name '-x'"},
        {"a/b", "invalid metric name 'a/b'"},
        {"caf\xc3\xa9", "invalid metric name 'caf\\xc3\\xa9'"},
        {"a\\nb", "invalid metric name 'a\\x0ab'"},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        char json[256];
        snprintf(json, sizeof(json), "{" HDR ",\"metrics\":{\"%s\":1}}", cases[i][0]);
        expect_reject(json, -EINVAL, cases[i][1]);
    }
}

static void decode_truncates_overlong_names_in_errors(void **state)
{
    char name[VG_WIRE_NAME_MAX + 2], json[512];
    memset(name, 'a', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    snprintf(json, sizeof(json), "{" HDR ",\"metrics\":{\"%s\":1}}", name);

    struct vg_wire_msg *m = new_msg();
    char err[VG_ERRLEN];
    assert_int_equal(decode_len(m, json, strlen(json), err), -EINVAL);
    assert_non_null(
        strstr(err, "invalid metric name 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'"));
    assert_non_null(strstr(err, "1..200 bytes"));

    /* Exactly at the limit is fine. */
    name[VG_WIRE_NAME_MAX] = '\0';
    snprintf(json, sizeof(json), "{" HDR ",\"metrics\":{\"%s\":1}}", name);
    expect_accept(json, m);

    /* A tiny error buffer still gets a terminated prefix. */
    char small[8];
    assert_int_equal(vg_wire_decode("{\"v\":3}", 7, 0, m, small, sizeof(small)), -EPROTONOSUPPORT);
    assert_string_equal(small, "unsuppo");
    free_msg(m);
}

static void decode_rejects_bad_host(void **state)
{
    expect_reject("{\"v\":1,\"host\":\"web 1\"}", -EINVAL,
                  "invalid host 'web 1': want 1..253 bytes of [A-Za-z0-9._-]");
    expect_reject("{\"v\":1,\"host\":\"\"}", -EINVAL, "invalid host ''");
    expect_reject("{\"v\":1,\"host\":\"a:b\"}", -EINVAL, "invalid host 'a:b'");
    char json[512] = "{\"v\":1,\"host\":\"";
    size_t n = strlen(json);
    memset(json + n, 'h', VG_WIRE_HOST_MAX + 1);
    strcpy(json + n + VG_WIRE_HOST_MAX + 1, "\"}");
    expect_reject(json, -EINVAL, "invalid host 'hhhh");
}

static void decode_rejects_bad_boot(void **state)
{
    expect_reject("{\"v\":1,\"boot\":\"a_b\"}", -EINVAL,
                  "invalid boot 'a_b': want 1..64 bytes of [A-Za-z0-9-]");
    expect_reject("{\"v\":1,\"boot\":\"\"}", -EINVAL, "invalid boot ''");
    char json[256] = "{\"v\":1,\"boot\":\"";
    size_t n = strlen(json);
    memset(json + n, 'b', VG_WIRE_BOOT_MAX + 1);
    strcpy(json + n + VG_WIRE_BOOT_MAX + 1, "\"}");
    expect_reject(json, -EINVAL, "invalid boot 'bbbb");
}

static void decode_rejects_bad_label_keys(void **state)
{
    expect_reject("{\"v\":1,\"labels\":{\"a.b\":\"x\"}}", -EINVAL,
                  "invalid label key 'a.b': want [A-Za-z_] then [A-Za-z0-9_], 1..200 bytes");
    expect_reject("{\"v\":1,\"labels\":{\"1a\":\"x\"}}", -EINVAL, "invalid label key '1a'");
    expect_reject("{\"v\":1,\"labels\":{\"\":\"x\"}}", -EINVAL, "invalid label key ''");
}

static void decode_rejects_label_values_over_256_bytes(void **state)
{
    char json[1024], value[VG_WIRE_LABEL_VALUE_MAX + 2];
    memset(value, 'v', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    snprintf(json, sizeof(json), "{" HDR ",\"labels\":{\"env\":\"%s\"},\"metrics\":{}}", value);
    expect_reject(json, -EINVAL, "label value too long: label 'env' has 257 bytes, limit 256");

    value[VG_WIRE_LABEL_VALUE_MAX] = '\0';
    snprintf(json, sizeof(json), "{" HDR ",\"labels\":{\"env\":\"%s\"},\"metrics\":{}}", value);
    struct vg_wire_msg *m = new_msg();
    expect_accept(json, m);
    assert_int_equal(strlen(m->labels[0].value), VG_WIRE_LABEL_VALUE_MAX);
    free_msg(m);
}

/* ---- storage ---- */

static void failed_decode_clears_previous_message(void **state)
{
    struct vg_wire_msg *m = new_msg();
    char err[VG_ERRLEN];
    expect_accept(VALID, m);
    static const char bad[] = "{" HDR ",\"labels\":{\"z\":\"1\"},\"metrics\":{\"ok\":1,\"b d\":2}}";
    assert_int_equal(decode_len(m, bad, strlen(bad), err), -EINVAL);
    assert_int_equal(m->n_metrics, 0);
    assert_int_equal(m->n_labels, 0);
    assert_string_equal(m->host, "");
    free_msg(m);
}

/* The decoder's fast path (no jansson tree) must agree with the jansson path on everything:
 * same return code, same error text, same message. Each base message is mutated at every byte
 * (replaced by JSON's structural and number characters, escapes, control and non-ASCII bytes;
 * deleted; cut short there) and decoded both ways. */
static void expect_same_decode(const char *buf, size_t len, struct vg_wire_msg *a,
                               struct vg_wire_msg *b)
{
    char ea[VG_ERRLEN] = "", eb[VG_ERRLEN] = "";
    int ra = vg_wire_decode(buf, len, 0, a, ea, sizeof(ea));
    int rb = vg_wire_decode_reference(buf, len, 0, b, eb, sizeof(eb));
    if (ra != rb || (ra && strcmp(ea, eb) != 0))
        fail_msg("fast %d '%s' vs reference %d '%s' for: %.*s", ra, ea, rb, eb, (int)len, buf);
    if (ra)
        return;
    assert_msgs_equal(a, b);
}

static void fast_decoder_agrees_with_jansson_on_every_mutation(void **state)
{
    (void)state;
    static const char *bases[] = {
        "{\"v\":1,\"host\":\"web-1\",\"boot\":\"6f1c-2a90\",\"seq\":42,\"ts\":1763900000000,"
        "\"interval_ms\":1000,\"labels\":{\"env\":\"prod\",\"group\":\"web\"},\"metrics\":{"
        "\"cpu.user_pct\":12.5,\"load.1m\":0.42000000000000004,\"net.eth0:rx_bytes\":18234,"
        "\"a\":-0.0,\"b\":1e-320,\"c\":-7,\"d\":1.5E+3,\"e\":0}}",
        " {\"metrics\" : { \"x\" : 1 , \"y\":2.5e3 } ,\"interval_ms\":1, \"ts\":1,\"seq\":0,"
        "\"boot\":\"b\",\"host\":\"h\", \"v\" : 1 }\n",
        "{\"v\":1,\"host\":\"h\",\"boot\":\"b\",\"seq\":9007199254740992,\"ts\":1,"
        "\"interval_ms\":86400000,\"labels\":{},\"metrics\":{}}",
        /* numbers at the edges of vg_num_parse: 64-bit integer ends, DBL_MAX, below DBL_MIN,
         * a subnormal, more digits than fit 64 bits, -0 as an integer and as a real */
        "{\"v\":1,\"host\":\"h\",\"boot\":\"b\",\"seq\":1,\"ts\":1,\"interval_ms\":1,"
        "\"metrics\":{\"a\":9223372036854775807,\"b\":-9223372036854775808,"
        "\"c\":1.7976931348623157e308,\"d\":2.2250738585072011e-308,\"e\":5e-324,"
        "\"f\":123456789012345678901234567890e-10,\"g\":-0,\"h\":-0.0,"
        "\"i\":0.30000000000000004}}",
    };
    static const char repl[] = "\"\\{}[],:01-.eE+9 \tx\x01\x80\xc3u";
    struct vg_wire_msg a, b;
    vg_wire_msg_init(&a);
    vg_wire_msg_init(&b);
    char buf[1024];
    for (size_t k = 0; k < sizeof(bases) / sizeof(bases[0]); k++) {
        size_t len = strlen(bases[k]);
        expect_same_decode(bases[k], len, &a, &b);
        assert_int_equal(vg_wire_decode(bases[k], len, 0, &a, buf, sizeof(buf)), 0);
        for (size_t i = 0; i < len; i++) {
            for (size_t r = 0; r < sizeof(repl) - 1; r++) {
                memcpy(buf, bases[k], len);
                buf[i] = repl[r];
                expect_same_decode(buf, len, &a, &b);
            }
            memcpy(buf, bases[k], i);
            memcpy(buf + i, bases[k] + i + 1, len - i - 1);
            expect_same_decode(buf, len - 1, &a, &b); /* byte i deleted */
            expect_same_decode(bases[k], i, &a, &b);  /* cut short at i */
        }
    }
    vg_wire_msg_free(&a);
    vg_wire_msg_free(&b);
}

/* The agent's spool keeps message bytes only, and a replayed record's Kafka key must be the host
 * it names: read from the message, whatever comes before it. */
static void peek_host_reads_the_host_of_a_message(void **state)
{
    (void)state;
    char host[VG_WIRE_HOST_MAX + 1];
    assert_int_equal(vg_wire_peek_host(VALID, strlen(VALID), host), 0);
    assert_string_equal(host, "web-1");
    static const char later[] =
        " { \"metrics\" : {\"a\":1,\"b\":-2.5e3}, \"labels\":{\"env\":\"prod\"},\"v\":1,"
        "\"boot\":\"b\", \"host\" : \"db-7.example\"}";
    assert_int_equal(vg_wire_peek_host(later, strlen(later), host), 0);
    assert_string_equal(host, "db-7.example");
    /* Only up to the host: the rest is the decoder's business. */
    static const char cut[] = "{\"v\":1,\"host\":\"web-2\",\"boot\":";
    assert_int_equal(vg_wire_peek_host(cut, strlen(cut), host), 0);
    assert_string_equal(host, "web-2");
    static const char *const none[] = {
        "",
        "[]",
        "{\"v\":1,\"boot\":\"b\"}",
        "{\"v\":1,\"host\":\"bad host\"}",
        "{\"v\":1,\"host\":\"\"}",
        "{\"v\":1,\"host\":7}",
        "{\"labels\":{\"k\":\"a\\\"b\"},\"host\":\"web-1\"}",
        "{\"v\":1 \"host\":\"web-1\"}",
    };
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
        if (vg_wire_peek_host(none[i], strlen(none[i]), host) != -EINVAL)
            fail_msg("found a host in %s", none[i]);
    /* Never past len. */
    assert_int_equal(vg_wire_peek_host(VALID, 12, host), -EINVAL);
}

/* ---- the fast decoder's duplicate-name table ---- */

/* A message of the n metrics names[0..n), then extra if not NULL, into *buf (malloc'd); returns
 * its length. */
static size_t build_names_msg(char **buf, char (*names)[16], size_t n, const char *extra)
{
    size_t cap = n * 24 + 256, len = 0;
    *buf = malloc(cap);
    assert_non_null(*buf);
    len += (size_t)snprintf(*buf, cap, "{" HDR ",\"metrics\":{");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(*buf + len, cap - len, "%s\"%s\":%zu", i ? "," : "", names[i], i);
    if (extra)
        len += (size_t)snprintf(*buf + len, cap - len, ",\"%s\":0", extra);
    len += (size_t)snprintf(*buf + len, cap - len, "}}");
    return len;
}

/* The i-th name of a fixed sequence of distinct valid metric names, 7 bytes. */
static void nth_name(char out[16], uint64_t i)
{
    static const char al[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";
    out[0] = al[i % 52];
    i /= 52;
    for (int k = 1; k < 7; k++, i /= 63)
        out[k] = al[i % 63];
    out[7] = '\0';
}

static uint32_t fnv1a(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* The table used an unkeyed FNV-1a: names whose hash's low 18 bits are below 1024 all landed in
 * the first 1024 slots of any table (at most 2^18 slots, for 100,000 metrics), one random name in
 * 256 is one, and n of them took ~n^2/2 comparisons: 90,000 in a 1 MiB message took ~10 s, under
 * the analyzer's lock. Under a per-process key they are ordinary names. */
static void names_colliding_under_an_unkeyed_hash_cost_no_more_than_others(void **state)
{
    (void)state;
    const size_t n = 20000;
    char(*names)[16] = malloc(n * sizeof(*names));
    assert_non_null(names);
    for (uint64_t c = 0, k = 0; k < n; c++) {
        nth_name(names[k], c);
        if ((fnv1a(names[k], 7) & 0x3FFFF) < 1024)
            k++;
    }
    char *buf;
    size_t len = build_names_msg(&buf, names, n, NULL);
    struct vg_wire_msg *m = new_msg();
    char err[VG_ERRLEN] = "";
    assert_int_equal(vg_wire_decode(buf, len, 0, m, err, sizeof(err)), 0);
    assert_int_equal(m->n_metrics, n);
    struct vg_wire_dup_stats st;
    vg_wire_dup_stats_get(m, &st);
    /* The table is at most half full: about 1.2 slots a name when they spread, ~n/2 when not. */
    if (st.probes > 3 * n || st.gave_up)
        fail_msg("%zu names: %llu probes, longest %llu, gave up %d", n,
                 (unsigned long long)st.probes, (unsigned long long)st.longest, st.gave_up);
    free(buf);
    free(names);
    free_msg(m);
}

/* Names that do collide in the table (found here through the process's key, which a producer
 * cannot know) cost at most VG_WIRE_DUP_PROBES_MAX slots each: past it the fast path gives up and
 * the jansson path decides, with the same result, duplicates included. */
static void names_colliding_in_the_table_are_decided_by_the_jansson_path(void **state)
{
    (void)state;
    const size_t n = 100;
    char(*names)[16] = malloc(n * sizeof(*names));
    assert_non_null(names);
    /* Slot < 16 of every table size the decoder uses (16 to 2^18 slots). */
    for (uint64_t c = 0, k = 0; k < n; c++) {
        nth_name(names[k], c);
        if ((vg_wire_dup_hash(names[k], 7) & 0x3FFFF) < 16)
            k++;
    }
    struct vg_wire_msg *m = new_msg(), *r = new_msg();
    char err[VG_ERRLEN] = "", ref_err[VG_ERRLEN] = "";
    char *buf;
    size_t len = build_names_msg(&buf, names, n, NULL);
    assert_int_equal(vg_wire_decode(buf, len, 0, m, err, sizeof(err)), 0);
    struct vg_wire_dup_stats st;
    vg_wire_dup_stats_get(m, &st);
    assert_true(st.gave_up);
    assert_true(st.longest <= VG_WIRE_DUP_PROBES_MAX);
    assert_int_equal(vg_wire_decode_reference(buf, len, 0, r, ref_err, sizeof(ref_err)), 0);
    assert_int_equal(m->n_metrics, n);
    assert_msgs_equal(m, r);
    free(buf);

    /* The last name repeats the first, far down the run: still a duplicate. */
    len = build_names_msg(&buf, names, n, names[0]);
    assert_int_equal(vg_wire_decode(buf, len, 0, m, err, sizeof(err)), -EBADMSG);
    assert_int_equal(vg_wire_decode_reference(buf, len, 0, r, ref_err, sizeof(ref_err)), -EBADMSG);
    assert_string_equal(err, ref_err);
    assert_int_equal(m->n_metrics, 0);
    free(buf);
    free(names);
    free_msg(m);
    free_msg(r);
}

static void decode_reuses_storage_after_reset(void **state)
{
    char json[8192];
    size_t len = (size_t)snprintf(json, sizeof(json),
                                  "{" HDR ",\"labels\":{\"env\":\"prod\"},"
                                  "\"metrics\":{");
    for (int i = 0; i < 300; i++)
        len += (size_t)snprintf(json + len, sizeof(json) - len, "%s\"metric_%d\":%d.5",
                                i ? "," : "", i, i);
    snprintf(json + len, sizeof(json) - len, "}}");

    struct vg_wire_msg *m = new_msg();
    expect_accept(json, m);
    const struct vg_metric *metrics = m->metrics;
    const char *first_name = m->metrics[0].name;
    for (int round = 0; round < 3; round++) {
        vg_wire_msg_reset(m);
        assert_int_equal(m->n_metrics, 0);
        assert_int_equal(m->n_labels, 0);
        expect_accept(json, m);
        /* Same addresses: nothing was reallocated for a message of the same size. */
        assert_ptr_equal(m->metrics, metrics);
        assert_ptr_equal(m->metrics[0].name, first_name);
        assert_int_equal(m->n_metrics, 300);
        assert_string_equal(m->metrics[299].name, "metric_299");
        assert_true(m->metrics[299].value == 299.5);
        assert_string_equal(m->labels[0].value, "prod");
    }
    free_msg(m);
}

static void add_metric_names_survive_storage_growth(void **state)
{
    struct vg_wire_msg *m = new_msg();
    char err[VG_ERRLEN], name[VG_WIRE_NAME_MAX + 1];
    assert_int_equal(vg_wire_msg_add_label(m, "first", "label", err, sizeof(err)), 0);
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "metric_%d_%0150d", i, i);
        assert_int_equal(vg_wire_msg_add_metric(m, name, i, err, sizeof(err)), 0);
    }
    assert_int_equal(vg_wire_msg_add_label(m, "last", "label", err, sizeof(err)), 0);
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "metric_%d_%0150d", i, i);
        assert_string_equal(m->metrics[i].name, name);
        assert_true(m->metrics[i].value == i);
    }
    assert_string_equal(m->labels[0].key, "first");
    assert_string_equal(m->labels[0].value, "label");
    assert_string_equal(m->labels[1].key, "last");

    vg_wire_msg_reset(m);
    assert_int_equal(vg_wire_msg_add_metric(m, "again", 1, err, sizeof(err)), 0);
    assert_int_equal(m->n_metrics, 1);
    assert_string_equal(m->metrics[0].name, "again");
    free_msg(m);
}

static void add_metric_rejects_bad_names_and_non_finite_values(void **state)
{
    struct vg_wire_msg *m = new_msg();
    char err[VG_ERRLEN], longname[VG_WIRE_NAME_MAX + 2];
    assert_int_equal(vg_wire_msg_add_metric(m, "1x", 1, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "invalid metric name '1x'"));
    assert_int_equal(vg_wire_msg_add_metric(m, "", 1, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "invalid metric name ''"));
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(vg_wire_msg_add_metric(m, longname, 1, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "invalid metric name 'aaaa"));
    assert_int_equal(vg_wire_msg_add_metric(m, "cpu", NAN, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "non-finite value for metric 'cpu' (NaN)"));
    assert_int_equal(vg_wire_msg_add_metric(m, "cpu", INFINITY, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "non-finite value for metric 'cpu' (Infinity)"));
    assert_int_equal(vg_wire_msg_add_metric(m, "cpu", -INFINITY, err, sizeof(err)), -EINVAL);
    /* Rules read host:NAME as a host model's score: the agent never sends such a series. */
    assert_int_equal(vg_wire_msg_add_metric(m, "host:mv", 1, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "reserved metric name 'host:mv': names starting with 'host:' are "
                                "host models' scores to rules"));
    assert_int_equal(m->n_metrics, 0);
    assert_int_equal(vg_wire_msg_add_metric(m, "hostname:x", 1, err, sizeof(err)), 0);
    assert_int_equal(vg_wire_msg_add_metric(m, "net.host:rx", 1, err, sizeof(err)), 0);
    free_msg(m);
}

/* A reserved name arrives from another producer: the message is taken whole (v1 does not refuse
 * a message for one series: the analyzer refuses that series alone), and it round-trips. */
static void decode_takes_a_reserved_name_for_the_analyzer_to_refuse(void **state)
{
    struct vg_wire_msg *m = new_msg();
    expect_accept("{" HDR ",\"metrics\":{\"host:mv\":1,\"cpu.user_pct\":12.5}}", m);
    assert_int_equal(m->n_metrics, 2);
    assert_int_equal(vg_wire_name_reserved(m->metrics[0].name), 1);
    assert_int_equal(vg_wire_name_reserved(m->metrics[1].name), 0);
    struct vg_wire_msg *out = new_msg();
    round_trip(m, out);
    assert_msgs_equal(m, out);
    free_msg(out);
    free_msg(m);
    assert_int_equal(vg_wire_name_reserved("host:"), 1);
    assert_int_equal(vg_wire_name_reserved("host:series"), 1);
    assert_int_equal(vg_wire_name_reserved("host"), 0);
    assert_int_equal(vg_wire_name_reserved("Host:mv"), 0);
    assert_int_equal(vg_wire_name_reserved("hosts:mv"), 0);
    assert_int_equal(vg_wire_name_reserved("disk.host:mv"), 0);
    assert_int_equal(vg_wire_name_reserved(NULL), 0);
}

static void add_label_rejects_bad_keys_and_values(void **state)
{
    struct vg_wire_msg *m = new_msg();
    char err[VG_ERRLEN], value[VG_WIRE_LABEL_VALUE_MAX + 2];
    assert_int_equal(vg_wire_msg_add_label(m, "a.b", "x", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "invalid label key 'a.b'"));
    memset(value, 'v', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    assert_int_equal(vg_wire_msg_add_label(m, "env", value, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "label value too long: label 'env'"));
    assert_int_equal(vg_wire_msg_add_label(m, "env", "\xc3(", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "label value not UTF-8: label 'env'"));
    assert_int_equal(vg_wire_msg_add_label(m, "env", "\xed\xa0\x80", err, sizeof(err)), -EINVAL);
    assert_int_equal(m->n_labels, 0);
    free_msg(m);
}

static void name_and_host_validators_follow_documented_sets(void **state)
{
    assert_int_equal(vg_wire_name_valid("cpu.user_pct"), 0);
    assert_int_equal(vg_wire_name_valid("_x:y-z.9"), 0);
    assert_int_not_equal(vg_wire_name_valid("9x"), 0);
    assert_int_not_equal(vg_wire_name_valid(".x"), 0);
    assert_int_not_equal(vg_wire_name_valid("a b"), 0);
    assert_int_not_equal(vg_wire_name_valid(""), 0);
    assert_int_not_equal(vg_wire_name_valid(NULL), 0);
    char name[VG_WIRE_NAME_MAX + 2];
    memset(name, 'a', sizeof(name) - 1);
    name[VG_WIRE_NAME_MAX] = '\0';
    assert_int_equal(vg_wire_name_valid(name), 0);
    name[VG_WIRE_NAME_MAX] = 'a';
    name[VG_WIRE_NAME_MAX + 1] = '\0';
    assert_int_not_equal(vg_wire_name_valid(name), 0);

    assert_int_equal(vg_wire_host_valid("web-1.eu_west.example.com"), 0);
    assert_int_equal(vg_wire_host_valid("10.0.0.1"), 0);
    assert_int_not_equal(vg_wire_host_valid("web 1"), 0);
    assert_int_not_equal(vg_wire_host_valid("[::1]"), 0);
    assert_int_not_equal(vg_wire_host_valid(""), 0);
    assert_int_not_equal(vg_wire_host_valid(NULL), 0);
    char host[VG_WIRE_HOST_MAX + 2];
    memset(host, 'h', sizeof(host) - 1);
    host[VG_WIRE_HOST_MAX] = '\0';
    assert_int_equal(vg_wire_host_valid(host), 0);
    host[VG_WIRE_HOST_MAX] = 'h';
    host[VG_WIRE_HOST_MAX + 1] = '\0';
    assert_int_not_equal(vg_wire_host_valid(host), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_preserves_extreme_finite_values_and_labels),
        cmocka_unit_test(round_trip_preserves_max_length_names_and_values),
        cmocka_unit_test(encode_writes_compact_json_in_documented_key_order),
        cmocka_unit_test(encode_omits_labels_when_there_are_none),
        cmocka_unit_test(size_max_is_never_less_than_the_encoding),
        cmocka_unit_test(encode_rejects_invalid_messages),
        cmocka_unit_test(decode_fills_every_field),
        cmocka_unit_test(decode_accepts_absent_labels_and_empty_metrics),
        cmocka_unit_test(decode_converts_integer_metric_values_to_doubles),
        cmocka_unit_test(decode_accepts_exactly_the_metric_limit_and_rejects_one_more),
        cmocka_unit_test(a_message_keeps_64_labels_and_counts_the_rest),
        cmocka_unit_test(decode_rejects_oversized_message_before_parsing),
        cmocka_unit_test(decode_rejects_malformed_json_with_position),
        cmocka_unit_test(decode_rejects_embedded_nul_bytes),
        cmocka_unit_test(decode_rejects_trailing_garbage),
        cmocka_unit_test(decode_rejects_top_level_non_object),
        cmocka_unit_test(decode_rejects_duplicate_keys),
        cmocka_unit_test(decode_rejects_unsupported_version),
        cmocka_unit_test(decode_rejects_each_missing_required_field),
        cmocka_unit_test(decode_rejects_mistyped_fields_naming_field_and_type),
        cmocka_unit_test(decode_rejects_out_of_range_integers),
        cmocka_unit_test(decode_rejects_unknown_top_level_field),
        cmocka_unit_test(decode_rejects_nan_and_infinity),
        cmocka_unit_test(decode_rejects_numbers_overflowing_a_double),
        cmocka_unit_test(decode_rejects_bad_metric_names_naming_them),
        cmocka_unit_test(decode_truncates_overlong_names_in_errors),
        cmocka_unit_test(decode_rejects_bad_host),
        cmocka_unit_test(decode_rejects_bad_boot),
        cmocka_unit_test(decode_rejects_bad_label_keys),
        cmocka_unit_test(decode_rejects_label_values_over_256_bytes),
        cmocka_unit_test(failed_decode_clears_previous_message),
        cmocka_unit_test(decode_reuses_storage_after_reset),
        cmocka_unit_test(fast_decoder_agrees_with_jansson_on_every_mutation),
        cmocka_unit_test(peek_host_reads_the_host_of_a_message),
        cmocka_unit_test(names_colliding_under_an_unkeyed_hash_cost_no_more_than_others),
        cmocka_unit_test(names_colliding_in_the_table_are_decided_by_the_jansson_path),
        cmocka_unit_test(add_metric_names_survive_storage_growth),
        cmocka_unit_test(add_metric_rejects_bad_names_and_non_finite_values),
        cmocka_unit_test(add_label_rejects_bad_keys_and_values),
        cmocka_unit_test(decode_takes_a_reserved_name_for_the_analyzer_to_refuse),
        cmocka_unit_test(name_and_host_validators_follow_documented_sets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
