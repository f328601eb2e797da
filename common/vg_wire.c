/* Wire format v1 codec on jansson. docs/wire-format.md is the contract; the error prefixes listed
 * there are produced here, so change both together. */
#include "vg_wire.h"
#include "vg_numparse.h"
#include "vg_util.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Bounds the analyzer's work per message independently of max_bytes, which operators may raise. */
#define WIRE_METRICS_MAX 100000
/* Beyond 2^53 a double (and so many JSON consumers) can no longer tell consecutive seqs apart. */
#define WIRE_SEQ_MAX      (INT64_C(1) << 53)
#define WIRE_INTERVAL_MAX 86400000 /* one day */
/* Bytes of untrusted input echoed into an error: enough to recognise, short enough for one line. */
#define WIRE_QUOTE_MAX 40
#define QUOTE_BUFLEN   (WIRE_QUOTE_MAX * 4 + 4)

struct wire_store {
    struct vg_metric *metrics;
    size_t metrics_cap;
    struct vg_label *labels;
    size_t labels_cap;
    /* All names, keys and values back to back, NUL-terminated; one allocation per message
     * instead of one per metric, and reused after vg_wire_msg_reset(). */
    char *arena;
    size_t arena_len;
    size_t arena_cap;
    /* The fast decoder's duplicate check: metric indices + 1 by name hash, 0 = empty. */
    uint32_t *dup;
    size_t dup_cap;                     /* power of two */
    struct vg_wire_dup_stats dup_stats; /* of the last decode */
};

enum wire_field { F_V, F_HOST, F_BOOT, F_SEQ, F_TS, F_INTERVAL, F_LABELS, F_METRICS, F_COUNT };

static const char *const field_names[F_COUNT] = {"v",  "host",        "boot",   "seq",
                                                 "ts", "interval_ms", "labels", "metrics"};

/* ---- validation shared by encoder, decoder and the add_* functions ---- */

static bool is_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool name_ok(const char *s, size_t len)
{
    if (len == 0 || len > VG_WIRE_NAME_MAX)
        return false;
    if (!is_alpha((unsigned char)s[0]) && s[0] != '_')
        return false;
    for (size_t i = 1; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '.' && c != ':' && c != '-')
            return false;
    }
    return true;
}

static bool label_key_ok(const char *s, size_t len)
{
    if (len == 0 || len > VG_WIRE_NAME_MAX)
        return false;
    if (!is_alpha((unsigned char)s[0]) && s[0] != '_')
        return false;
    for (size_t i = 1; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_alpha(c) && !is_digit(c) && c != '_')
            return false;
    }
    return true;
}

static bool host_ok(const char *s, size_t len)
{
    if (len == 0 || len > VG_WIRE_HOST_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_alpha(c) && !is_digit(c) && c != '.' && c != '_' && c != '-')
            return false;
    }
    return true;
}

static bool boot_ok(const char *s, size_t len)
{
    if (len == 0 || len > VG_WIRE_BOOT_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_alpha(c) && !is_digit(c) && c != '-')
            return false;
    }
    return true;
}

/* Same acceptance as jansson's decoder (no overlongs, surrogates or code points past U+10FFFF),
 * so the encoder never emits a label value the decoder would refuse. */
static bool utf8_ok(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i - 1 < n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

int vg_wire_name_valid(const char *name)
{
    if (!name)
        return -EINVAL;
    return name_ok(name, strnlen(name, VG_WIRE_NAME_MAX + 1)) ? 0 : -EINVAL;
}

int vg_wire_name_reserved(const char *name)
{
    return name && strncmp(name, VG_WIRE_RESERVED_PREFIX, strlen(VG_WIRE_RESERVED_PREFIX)) == 0;
}

int vg_wire_host_valid(const char *host)
{
    if (!host)
        return -EINVAL;
    return host_ok(host, strnlen(host, VG_WIRE_HOST_MAX + 1)) ? 0 : -EINVAL;
}

/* Renders untrusted bytes for an error message: a bounded prefix of them, anything outside
 * printable ASCII as \xNN, so a hostile name can neither overrun the buffer, split a UTF-8
 * sequence, nor put control characters into the logs.
 * How much is shown follows from dstlen (4 bytes per input byte, plus "..." and the NUL). */
static const char *quote_n(char *dst, size_t dstlen, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    size_t room = (dstlen - 4) / 4;
    size_t shown = len < room ? len : room;
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7F) {
            dst[o++] = (char)c;
        } else {
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 0xF];
        }
    }
    if (shown < len) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
    return dst;
}

#define quote(dst, s, len) quote_n(dst, sizeof(dst), s, len)

static int bad_metric_name(const char *s, size_t len, char *err, size_t errlen)
{
    char q[QUOTE_BUFLEN];
    return vg_err(err, errlen, -EINVAL,
                  "invalid metric name '%s': want [A-Za-z_] then [A-Za-z0-9_.:-], 1..%d bytes",
                  quote(q, s, len), VG_WIRE_NAME_MAX);
}

static int bad_label_key(const char *s, size_t len, char *err, size_t errlen)
{
    char q[QUOTE_BUFLEN];
    return vg_err(err, errlen, -EINVAL,
                  "invalid label key '%s': want [A-Za-z_] then [A-Za-z0-9_], 1..%d bytes",
                  quote(q, s, len), VG_WIRE_NAME_MAX);
}

static int check_label_value(const char *key, const char *v, size_t len, char *err, size_t errlen)
{
    char q[QUOTE_BUFLEN];
    if (len > VG_WIRE_LABEL_VALUE_MAX)
        return vg_err(err, errlen, -EINVAL,
                      "label value too long: label '%s' has %zu bytes, limit %d",
                      quote(q, key, strlen(key)), len, VG_WIRE_LABEL_VALUE_MAX);
    if (!utf8_ok(v, len))
        return vg_err(err, errlen, -EINVAL, "label value not UTF-8: label '%s'",
                      quote(q, key, strlen(key)));
    return 0;
}

int vg_wire_label_valid(const char *key, const char *value)
{
    size_t vlen = strnlen(value, VG_WIRE_LABEL_VALUE_MAX + 1);
    return label_key_ok(key, strnlen(key, VG_WIRE_NAME_MAX + 1)) &&
                   vlen <= VG_WIRE_LABEL_VALUE_MAX && utf8_ok(value, vlen)
               ? 0
               : -EINVAL;
}

static int check_host(const char *s, size_t len, char *err, size_t errlen)
{
    char q[QUOTE_BUFLEN];
    if (!host_ok(s, len))
        return vg_err(err, errlen, -EINVAL, "invalid host '%s': want 1..%d bytes of [A-Za-z0-9._-]",
                      quote(q, s, len), VG_WIRE_HOST_MAX);
    return 0;
}

static int check_boot(const char *s, size_t len, char *err, size_t errlen)
{
    char q[QUOTE_BUFLEN];
    if (!boot_ok(s, len))
        return vg_err(err, errlen, -EINVAL, "invalid boot '%s': want 1..%d bytes of [A-Za-z0-9-]",
                      quote(q, s, len), VG_WIRE_BOOT_MAX);
    return 0;
}

static int check_seq(long long v, char *err, size_t errlen)
{
    if (v < 0 || v > WIRE_SEQ_MAX)
        return vg_err(err, errlen, -EINVAL, "field 'seq' out of range: %lld not in 0..%lld", v,
                      (long long)WIRE_SEQ_MAX);
    return 0;
}

static int check_ts(long long v, char *err, size_t errlen)
{
    if (v <= 0)
        return vg_err(err, errlen, -EINVAL,
                      "field 'ts' out of range: %lld, want a positive count of ms since the epoch",
                      v);
    return 0;
}

static int check_interval(long long v, char *err, size_t errlen)
{
    if (v < 1 || v > WIRE_INTERVAL_MAX)
        return vg_err(err, errlen, -EINVAL, "field 'interval_ms' out of range: %lld not in 1..%d",
                      v, WIRE_INTERVAL_MAX);
    return 0;
}

/* ---- message storage ---- */

void vg_wire_msg_init(struct vg_wire_msg *m)
{
    memset(m, 0, sizeof(*m));
    m->version = VG_WIRE_VERSION;
}

void vg_wire_msg_reset(struct vg_wire_msg *m)
{
    struct wire_store *s = m->priv;
    m->n_labels = 0;
    m->n_labels_dropped = 0;
    m->n_metrics = 0;
    if (s)
        s->arena_len = 0;
}

void vg_wire_msg_free(struct vg_wire_msg *m)
{
    struct wire_store *s = m->priv;
    if (s) {
        free(s->metrics);
        free(s->labels);
        free(s->arena);
        free(s->dup);
        free(s);
    }
    memset(m, 0, sizeof(*m));
}

static struct wire_store *store_get(struct vg_wire_msg *m)
{
    if (!m->priv) {
        m->priv = calloc(1, sizeof(struct wire_store));
        m->metrics = NULL;
        m->labels = NULL;
        m->n_metrics = 0;
        m->n_labels = 0;
    }
    return m->priv;
}

/* Grows *arr to hold at least `need` elements of `size` bytes; capacity doubles so a message
 * settles at its steady-state size after a few ticks. */
static int grow(void **arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need) {
        if (n > SIZE_MAX / 2 / size)
            return -ENOMEM;
        n *= 2;
    }
    void *p = realloc(*arr, n * size);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = n;
    return 0;
}

static void rebase(const char **p, const char *old, size_t old_len, char *new_base)
{
    /* Integer comparison because the caller may have pointed a name outside the arena, and
     * relational operators on pointers to different objects are undefined. */
    uintptr_t a = (uintptr_t)*p, lo = (uintptr_t)old;
    if (old && a >= lo && a < lo + old_len)
        *p = new_base + (a - lo);
}

/* Makes room for `need` more arena bytes. Names already handed out point into the arena, so a
 * move re-points them: malloc+copy rather than realloc keeps the old block valid while we do. */
static int arena_reserve(struct vg_wire_msg *m, struct wire_store *s, size_t need)
{
    if (s->arena_cap - s->arena_len >= need)
        return 0;
    size_t cap = s->arena_cap ? s->arena_cap : 4096;
    while (cap - s->arena_len < need) {
        if (cap > SIZE_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
    char *a = malloc(cap);
    if (!a)
        return -ENOMEM;
    if (s->arena_len)
        memcpy(a, s->arena, s->arena_len);
    for (size_t i = 0; i < m->n_metrics; i++)
        rebase(&m->metrics[i].name, s->arena, s->arena_len, a);
    for (size_t i = 0; i < m->n_labels; i++) {
        rebase(&m->labels[i].key, s->arena, s->arena_len, a);
        rebase(&m->labels[i].value, s->arena, s->arena_len, a);
    }
    free(s->arena);
    s->arena = a;
    s->arena_cap = cap;
    return 0;
}

/* Copies into space already reserved with arena_reserve(). */
static const char *arena_put(struct wire_store *s, const char *str, size_t len)
{
    char *p = s->arena + s->arena_len;
    memcpy(p, str, len);
    p[len] = '\0';
    s->arena_len += len + 1;
    return p;
}

static int push_metric(struct vg_wire_msg *m, struct wire_store *s, const char *name, size_t len,
                       double value)
{
    if (grow((void **)&s->metrics, &s->metrics_cap, m->n_metrics + 1, sizeof(*s->metrics)))
        return -ENOMEM;
    m->metrics = s->metrics;
    if (arena_reserve(m, s, len + 1))
        return -ENOMEM;
    m->metrics[m->n_metrics].name = arena_put(s, name, len);
    m->metrics[m->n_metrics].value = value;
    m->n_metrics++;
    return 0;
}

static int push_label(struct vg_wire_msg *m, struct wire_store *s, const char *key, size_t klen,
                      const char *value, size_t vlen)
{
    if (grow((void **)&s->labels, &s->labels_cap, m->n_labels + 1, sizeof(*s->labels)))
        return -ENOMEM;
    m->labels = s->labels;
    /* One reservation for both strings: a move between the two copies would strand the key. */
    if (arena_reserve(m, s, klen + vlen + 2))
        return -ENOMEM;
    m->labels[m->n_labels].key = arena_put(s, key, klen);
    m->labels[m->n_labels].value = arena_put(s, value, vlen);
    m->n_labels++;
    return 0;
}

int vg_wire_msg_add_metric(struct vg_wire_msg *m, const char *name, double value, char *err,
                           size_t errlen)
{
    if (!name)
        return vg_err(err, errlen, -EINVAL, "invalid metric name: NULL");
    size_t len = strnlen(name, VG_WIRE_NAME_MAX + 1);
    if (!name_ok(name, len))
        return bad_metric_name(name, len, err, errlen);
    if (vg_wire_name_reserved(name)) {
        char q[QUOTE_BUFLEN];
        return vg_err(err, errlen, -EINVAL,
                      "reserved metric name '%s': names starting with '" VG_WIRE_RESERVED_PREFIX
                      "' are host models' scores to rules; the analyzer refuses such a series",
                      quote(q, name, len));
    }
    if (!isfinite(value)) {
        char q[QUOTE_BUFLEN];
        return vg_err(err, errlen, -EINVAL,
                      "non-finite value for metric '%s' (%s): JSON cannot carry it; leave the "
                      "metric out for this tick",
                      quote(q, name, len), isnan(value) ? "NaN" : "Infinity");
    }
    struct wire_store *s = store_get(m);
    if (!s || push_metric(m, s, name, len, value))
        return vg_err(err, errlen, -ENOMEM, "out of memory adding metric");
    return 0;
}

int vg_wire_msg_add_label(struct vg_wire_msg *m, const char *key, const char *value, char *err,
                          size_t errlen)
{
    if (!key || !value)
        return vg_err(err, errlen, -EINVAL, "invalid label: NULL key or value");
    size_t klen = strnlen(key, VG_WIRE_NAME_MAX + 1);
    if (!label_key_ok(key, klen))
        return bad_label_key(key, klen, err, errlen);
    size_t vlen = strnlen(value, VG_WIRE_LABEL_VALUE_MAX + 1);
    int rc = check_label_value(key, value, vlen, err, errlen);
    if (rc)
        return rc;
    if (m->n_labels >= VG_WIRE_LABELS_MAX)
        return vg_err(err, errlen, -EINVAL, "too many labels: %zu, limit %d", m->n_labels + 1,
                      VG_WIRE_LABELS_MAX);
    struct wire_store *s = store_get(m);
    if (!s || push_label(m, s, key, klen, value, vlen))
        return vg_err(err, errlen, -ENOMEM, "out of memory adding label");
    return 0;
}

/* ---- encoder ---- */

struct outbuf {
    char *p;
    size_t len, cap;
};

static int out_append(const char *buf, size_t size, void *data)
{
    struct outbuf *o = data;
    if (size + 1 > o->cap - o->len) {
        size_t cap = o->cap ? o->cap : 1024;
        while (size + 1 > cap - o->len) {
            if (cap > SIZE_MAX / 2)
                return -1;
            cap *= 2;
        }
        char *p = realloc(o->p, cap);
        if (!p)
            return -1;
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, buf, size);
    o->len += size;
    o->p[o->len] = '\0';
    return 0;
}

/* jansson's set_new consumes `v` even on failure, so callers need no cleanup for it. */
static int set_new(json_t *obj, const char *key, json_t *v)
{
    return v ? json_object_set_new_nocheck(obj, key, v) : -1;
}

static int encode_body(const struct vg_wire_msg *m, json_t *root, char *err, size_t errlen)
{
    int rc;
    if (m->version != VG_WIRE_VERSION)
        return vg_err(err, errlen, -EINVAL, "unsupported version %d: this encoder writes v%d",
                      m->version, VG_WIRE_VERSION);
    if ((rc = check_host(m->host, strnlen(m->host, sizeof(m->host)), err, errlen)) ||
        (rc = check_boot(m->boot, strnlen(m->boot, sizeof(m->boot)), err, errlen)) ||
        (rc = check_ts(m->ts_ms, err, errlen)) ||
        (rc = check_interval(m->interval_ms, err, errlen)))
        return rc;
    if (m->seq > (uint64_t)WIRE_SEQ_MAX)
        return vg_err(err, errlen, -EINVAL, "field 'seq' out of range: %llu not in 0..%lld",
                      (unsigned long long)m->seq, (long long)WIRE_SEQ_MAX);
    if (m->n_metrics > WIRE_METRICS_MAX)
        return vg_err(err, errlen, -EINVAL, "too many metrics: %zu, limit %d", m->n_metrics,
                      WIRE_METRICS_MAX);
    if (m->n_labels > VG_WIRE_LABELS_MAX)
        return vg_err(err, errlen, -EINVAL, "too many labels: %zu, limit %d", m->n_labels,
                      VG_WIRE_LABELS_MAX);

    if (set_new(root, "v", json_integer(VG_WIRE_VERSION)) ||
        set_new(root, "host", json_string_nocheck(m->host)) ||
        set_new(root, "boot", json_string_nocheck(m->boot)) ||
        set_new(root, "seq", json_integer((json_int_t)m->seq)) ||
        set_new(root, "ts", json_integer((json_int_t)m->ts_ms)) ||
        set_new(root, "interval_ms", json_integer((json_int_t)m->interval_ms)))
        return vg_err(err, errlen, -ENOMEM, "out of memory encoding message");

    char q[QUOTE_BUFLEN];
    if (m->n_labels) {
        json_t *labels = json_object();
        if (set_new(root, "labels", labels))
            return vg_err(err, errlen, -ENOMEM, "out of memory encoding message");
        for (size_t i = 0; i < m->n_labels; i++) {
            const struct vg_label *l = &m->labels[i];
            if (!l->key || !l->value)
                return vg_err(err, errlen, -EINVAL, "invalid label: NULL key or value");
            size_t klen = strnlen(l->key, VG_WIRE_NAME_MAX + 1);
            size_t vlen = strnlen(l->value, VG_WIRE_LABEL_VALUE_MAX + 1);
            if (!label_key_ok(l->key, klen))
                return bad_label_key(l->key, klen, err, errlen);
            if ((rc = check_label_value(l->key, l->value, vlen, err, errlen)))
                return rc;
            if (json_object_get(labels, l->key))
                return vg_err(err, errlen, -EINVAL, "duplicate key: label '%s' set twice",
                              quote(q, l->key, klen));
            if (set_new(labels, l->key, json_stringn_nocheck(l->value, vlen)))
                return vg_err(err, errlen, -ENOMEM, "out of memory encoding message");
        }
    }

    json_t *metrics = json_object();
    if (set_new(root, "metrics", metrics))
        return vg_err(err, errlen, -ENOMEM, "out of memory encoding message");
    for (size_t i = 0; i < m->n_metrics; i++) {
        const struct vg_metric *x = &m->metrics[i];
        if (!x->name)
            return vg_err(err, errlen, -EINVAL, "invalid metric name: NULL");
        size_t len = strnlen(x->name, VG_WIRE_NAME_MAX + 1);
        if (!name_ok(x->name, len))
            return bad_metric_name(x->name, len, err, errlen);
        if (!isfinite(x->value))
            return vg_err(err, errlen, -EINVAL, "non-finite value for metric '%s' (%s)",
                          quote(q, x->name, len), isnan(x->value) ? "NaN" : "Infinity");
        /* json_object_set would silently keep the last one; a duplicate is a collector bug. */
        if (json_object_get(metrics, x->name))
            return vg_err(err, errlen, -EINVAL, "duplicate key: metric '%s' added twice",
                          quote(q, x->name, len));
        if (set_new(metrics, x->name, json_real(x->value)))
            return vg_err(err, errlen, -ENOMEM, "out of memory encoding message");
    }
    return 0;
}

/* The encoder's fixed text, {"v":1,"host":"","boot":"","seq":,"ts":,"interval_ms":,
 * "labels":{},"metrics":{}} (80 bytes), and its three integers at 20 characters each (an int64
 * with its sign). */
#define WIRE_HEADER_SIZE_MAX (80 + 3 * 20)

size_t vg_wire_msg_size_max(const struct vg_wire_msg *m)
{
    size_t n =
        WIRE_HEADER_SIZE_MAX + strnlen(m->host, sizeof m->host) + strnlen(m->boot, sizeof m->boot);
    for (size_t i = 0; i < m->n_labels; i++) {
        const struct vg_label *l = &m->labels[i];
        /* "key":"value", where jansson writes a control character as \u00XX (at most), and '"'
         * and '\\' with a backslash. */
        n += 6 + (l->key ? strlen(l->key) : 0);
        for (const unsigned char *c = (const unsigned char *)l->value; c && *c; c++)
            n += *c < 0x20 ? 6 : (*c == '"' || *c == '\\') ? 2 : 1;
    }
    for (size_t i = 0; i < m->n_metrics; i++)
        n += VG_WIRE_METRIC_SIZE_MAX(m->metrics[i].name ? strlen(m->metrics[i].name) : 0);
    return n;
}

int vg_wire_encode(const struct vg_wire_msg *m, char **out, size_t *outlen, char *err,
                   size_t errlen)
{
    *out = NULL;
    *outlen = 0;
    json_t *root = json_object();
    if (!root)
        return vg_err(err, errlen, -ENOMEM, "out of memory encoding message");
    int rc = encode_body(m, root, err, errlen);
    if (rc == 0) {
        /* Dumped through a callback into our own malloc'd buffer so the caller's free() is right
         * even if someone installs custom jansson allocators. */
        struct outbuf o = {0};
        if (json_dump_callback(root, out_append, &o, JSON_COMPACT) != 0) {
            free(o.p);
            rc = vg_err(err, errlen, -ENOMEM, "out of memory encoding message");
        } else {
            *out = o.p;
            *outlen = o.len;
        }
    }
    json_decref(root);
    return rc;
}

/* ---- decoder ---- */

/* The type a value has, for "got ...": integer and real apart, as the fields' rules tell them
 * apart. */
static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "real";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

static int mistyped(const char *field, const char *want, const json_t *v, char *err, size_t errlen)
{
    return vg_err(err, errlen, -EINVAL, "field '%s' must be %s, got %s", field, want, type_name(v));
}

static bool starts_with_ci(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    if (len < n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != prefix[i])
            return false;
    }
    return true;
}

/* Producers in other languages happily print NaN/Infinity; jansson only says "invalid token", so
 * look at the token ourselves to give the producer's author the real cause. */
static bool nonfinite_token(const char *buf, size_t len, const json_error_t *je)
{
    const char *near = strstr(je->text, "near '");
    if (!near)
        return false;
    near += strlen("near '");
    size_t tlen = strcspn(near, "'");
    if (tlen && near[0] == '-') {
        near++;
        tlen--;
    }
    if (starts_with_ci(near, tlen, "nan") || starts_with_ci(near, tlen, "inf"))
        return true;
    /* For "-Infinity" jansson stops at the '-' and reports only that. */
    if (tlen == 0 && je->position >= 0 && (size_t)je->position <= len) {
        const char *rest = buf + je->position;
        size_t rlen = len - (size_t)je->position;
        return starts_with_ci(rest, rlen, "inf") || starts_with_ci(rest, rlen, "nan");
    }
    return false;
}

static int parse_error(const char *buf, size_t len, const json_error_t *je, char *err,
                       size_t errlen)
{
    char text[JSON_ERROR_TEXT_LENGTH * 4];
    /* jansson's text echoes input bytes. */
    quote(text, je->text, strnlen(je->text, sizeof(je->text) - 1));
    switch (json_error_code(je)) {
    case json_error_out_of_memory:
        return vg_err(err, errlen, -ENOMEM, "out of memory parsing message");
    case json_error_end_of_input_expected:
        return vg_err(err, errlen, -EBADMSG,
                      "trailing data after the JSON object at byte %d: one message per record",
                      je->position);
    case json_error_null_character:
        /* jansson's own text names a flag of its API, which means nothing to a producer. */
        return vg_err(err, errlen, -EBADMSG,
                      "malformed JSON at line %d column %d: \\u0000 is not allowed in strings",
                      je->line, je->column);
    case json_error_duplicate_key:
        return vg_err(err, errlen, -EBADMSG, "duplicate key at line %d column %d: %s", je->line,
                      je->column, text);
    case json_error_numeric_overflow:
        return vg_err(err, errlen, -EINVAL,
                      "number out of range at line %d column %d: %s (reals must fit a double, "
                      "integers 64 bits; write large values with an exponent)",
                      je->line, je->column, text);
    default:
        /* jansson's "unexpected token near end of file" does not say that nothing came. */
        if (len == 0)
            return vg_err(err, errlen, -EBADMSG,
                          "malformed JSON at line 1 column 0: the message is empty, expected "
                          "one JSON object");
        if (nonfinite_token(buf, len, je))
            return vg_err(err, errlen, -EINVAL,
                          "non-finite number at line %d column %d: NaN and Infinity are not "
                          "JSON; leave the metric out",
                          je->line, je->column);
        return vg_err(err, errlen, -EBADMSG, "malformed JSON at line %d column %d: %s", je->line,
                      je->column, text);
    }
}

static int field_index(const char *key, size_t klen)
{
    for (int i = 0; i < F_COUNT; i++)
        if (strlen(field_names[i]) == klen && memcmp(field_names[i], key, klen) == 0)
            return i;
    return -1;
}

static int decode_int(const char *field, const json_t *v, long long *out, char *err, size_t errlen)
{
    if (!json_is_integer(v))
        return mistyped(field, "an integer", v, err, errlen);
    *out = json_integer_value(v);
    return 0;
}

static int decode_labels(const json_t *obj, struct vg_wire_msg *m, struct wire_store *s, char *err,
                         size_t errlen)
{
    const char *key;
    size_t klen;
    json_t *v;
    char q[QUOTE_BUFLEN];
    if (!json_is_object(obj))
        return mistyped("labels", "an object", obj, err, errlen);
    /* Bounded, as metrics are: every label is matched and stored per host, and a message of a
     * hundred thousand of them once cost the analyzer tens of seconds. Those past the limit are
     * still checked (the message is v1 or not as a whole) but not kept: v1 had no limit, and
     * agents from before it, with more labels, must not go silent at an upgraded analyzer.
     * jansson iterates in document order, so the first 64 are kept, as the engine did. */
    json_object_keylen_foreach((json_t *)obj, key, klen, v)
    {
        if (!label_key_ok(key, klen))
            return bad_label_key(key, klen, err, errlen);
        if (!json_is_string(v))
            return vg_err(err, errlen, -EINVAL, "label '%s' must be a string, got %s",
                          quote(q, key, klen), type_name(v));
        size_t vlen = json_string_length(v);
        if (vlen > VG_WIRE_LABEL_VALUE_MAX)
            return vg_err(err, errlen, -EINVAL,
                          "label value too long: label '%s' has %zu bytes, limit %d",
                          quote(q, key, klen), vlen, VG_WIRE_LABEL_VALUE_MAX);
        if (m->n_labels >= VG_WIRE_LABELS_MAX)
            m->n_labels_dropped++;
        else if (push_label(m, s, key, klen, json_string_value(v), vlen))
            return vg_err(err, errlen, -ENOMEM, "out of memory decoding labels");
    }
    return 0;
}

static int decode_metrics(const json_t *obj, struct vg_wire_msg *m, struct wire_store *s, char *err,
                          size_t errlen)
{
    const char *key;
    size_t klen;
    json_t *v;
    char q[QUOTE_BUFLEN];
    if (!json_is_object(obj))
        return mistyped("metrics", "an object", obj, err, errlen);
    size_t n = json_object_size(obj);
    if (n > WIRE_METRICS_MAX)
        return vg_err(err, errlen, -EINVAL, "too many metrics: %zu, limit %d", n, WIRE_METRICS_MAX);
    /* Size everything up front so the loop below never reallocates. */
    size_t bytes = 0;
    json_object_keylen_foreach((json_t *)obj, key, klen, v)
    {
        bytes += klen + 1;
    }
    if (grow((void **)&s->metrics, &s->metrics_cap, m->n_metrics + n, sizeof(*s->metrics)) ||
        arena_reserve(m, s, bytes))
        return vg_err(err, errlen, -ENOMEM, "out of memory decoding %zu metrics", n);
    m->metrics = s->metrics;

    json_object_keylen_foreach((json_t *)obj, key, klen, v)
    {
        if (!name_ok(key, klen))
            return bad_metric_name(key, klen, err, errlen);
        double d;
        if (json_is_real(v))
            d = json_real_value(v); /* finite: jansson refuses overflow and NaN at parse time */
        else if (json_is_integer(v))
            d = (double)json_integer_value(v);
        else
            return vg_err(err, errlen, -EINVAL, "metric '%s' must be a number, got %s",
                          quote(q, key, klen), type_name(v));
        struct vg_metric *x = &m->metrics[m->n_metrics++];
        x->name = arena_put(s, key, klen);
        x->value = d;
    }
    return 0;
}

static int decode_root(const json_t *root, struct vg_wire_msg *m, struct wire_store *s, char *err,
                       size_t errlen)
{
    if (!json_is_object(root))
        return vg_err(err, errlen, -EBADMSG, "top-level value is %s, expected an object",
                      type_name(root));

    /* The version decides what the other fields mean, so it is judged before any of them. */
    const json_t *ver = json_object_get(root, "v");
    if (!ver)
        return vg_err(err, errlen, -EINVAL, "missing field 'v' (wire format version)");
    if (!json_is_integer(ver))
        return mistyped("v", "an integer", ver, err, errlen);
    if (json_integer_value(ver) != VG_WIRE_VERSION)
        return vg_err(err, errlen, -EPROTONOSUPPORT,
                      "unsupported version %lld: this decoder reads v%d",
                      (long long)json_integer_value(ver), VG_WIRE_VERSION);
    m->version = VG_WIRE_VERSION;

    unsigned seen = 0;
    const char *key;
    size_t klen;
    json_t *v;
    long long n = 0;
    int rc = 0;
    char q[QUOTE_BUFLEN];
    json_object_keylen_foreach((json_t *)root, key, klen, v)
    {
        int f = field_index(key, klen);
        if (f < 0)
            return vg_err(err, errlen, -EINVAL,
                          "unknown field '%s': v1 rejects fields it does not know",
                          quote(q, key, klen));
        seen |= 1u << f;
        switch (f) {
        case F_V:
            break;
        case F_HOST:
            if (!json_is_string(v))
                return mistyped("host", "a string", v, err, errlen);
            if ((rc = check_host(json_string_value(v), json_string_length(v), err, errlen)))
                return rc;
            memcpy(m->host, json_string_value(v), json_string_length(v) + 1);
            break;
        case F_BOOT:
            if (!json_is_string(v))
                return mistyped("boot", "a string", v, err, errlen);
            if ((rc = check_boot(json_string_value(v), json_string_length(v), err, errlen)))
                return rc;
            memcpy(m->boot, json_string_value(v), json_string_length(v) + 1);
            break;
        case F_SEQ:
            if ((rc = decode_int("seq", v, &n, err, errlen)) || (rc = check_seq(n, err, errlen)))
                return rc;
            m->seq = (uint64_t)n;
            break;
        case F_TS:
            if ((rc = decode_int("ts", v, &n, err, errlen)) || (rc = check_ts(n, err, errlen)))
                return rc;
            m->ts_ms = n;
            break;
        case F_INTERVAL:
            if ((rc = decode_int("interval_ms", v, &n, err, errlen)) ||
                (rc = check_interval(n, err, errlen)))
                return rc;
            m->interval_ms = n;
            break;
        case F_LABELS:
            if ((rc = decode_labels(v, m, s, err, errlen)))
                return rc;
            break;
        case F_METRICS:
            if ((rc = decode_metrics(v, m, s, err, errlen)))
                return rc;
            break;
        }
    }
    for (int f = 0; f < F_COUNT; f++)
        if (f != F_LABELS && !(seen & (1u << f)))
            return vg_err(err, errlen, -EINVAL, "missing field '%s'", field_names[f]);
    return 0;
}

/* ---- fast decoder ----
 * Most messages are plain: ASCII strings without escapes, numbers, the v1 fields once each. For
 * those, one pass over the bytes fills m directly, without jansson's tree of allocated values
 * (which was most of the analyzer's time per sample). It accepts only what the jansson path
 * below accepts, with the same result; anything else, valid or not (escapes, non-ASCII, an
 * unusual number, any error), makes it give up, and the message goes through the jansson path,
 * which then decides and words the error. */

struct fp {
    const char *p, *end;
};

static bool fp_ws(struct fp *f)
{
    while (f->p < f->end && (*f->p == ' ' || *f->p == '\n' || *f->p == '\r' || *f->p == '\t'))
        f->p++;
    return f->p < f->end;
}

static bool fp_char(struct fp *f, char c)
{
    if (!fp_ws(f) || *f->p != c)
        return false;
    f->p++;
    return true;
}

/* A string of printable ASCII without escapes; *s and *len point into the input. */
static bool fp_string(struct fp *f, const char **s, size_t *len)
{
    if (!fp_char(f, '"'))
        return false;
    const char *b = f->p;
    while (f->p < f->end) {
        unsigned char c = (unsigned char)*f->p;
        if (c == '"') {
            *s = b;
            *len = (size_t)(f->p - b);
            f->p++;
            return true;
        }
        if (c < 0x20 || c > 0x7E || c == '\\')
            return false;
        f->p++;
    }
    return false;
}

/* A JSON number followed by a delimiter, which rules out what the grammar stops short of ("01",
 * "1.", "1e+"). is_int: no fraction or exponent, which is what makes it an integer for jansson;
 * its value is then jansson's too, the integer converted (so "-0" is +0.0). Reals are read as
 * jansson reads them, with strtod()'s result bit for bit (vg_num_parse). */
static bool fp_number(struct fp *f, double *d, long long *i, bool *is_int)
{
    if (!fp_ws(f))
        return false;
    struct vg_num n;
    const char *p;
    if (vg_num_parse(f->p, f->end, &n, &p) != 0)
        return false;
    if (p >= f->end ||
        !(*p == ',' || *p == '}' || *p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        return false;
    if (n.is_int) {
        if (!n.i_range)
            return false; /* jansson: out of range */
        *i = n.i;
        *d = (double)n.i;
    } else {
        if (!isfinite(n.d))
            return false; /* jansson: out of range */
        *d = n.d;
    }
    *is_int = n.is_int;
    f->p = p;
    return true;
}

static bool fp_int(struct fp *f, long long *out)
{
    double d;
    bool is_int;
    return fp_number(f, &d, out, &is_int) && is_int;
}

/* After '{': calls item() per "key": value until '}'. */
#define FP_MEMBERS(f, key, klen, ...)                                                              \
    do {                                                                                           \
        if (!fp_ws(f))                                                                             \
            return false;                                                                          \
        if (*(f)->p == '}') {                                                                      \
            (f)->p++;                                                                              \
            break;                                                                                 \
        }                                                                                          \
        for (;;) {                                                                                 \
            if (!fp_string(f, &(key), &(klen)) || !fp_char(f, ':'))                                \
                return false;                                                                      \
            __VA_ARGS__                                                                            \
            if (fp_char(f, ','))                                                                   \
                continue;                                                                          \
            if (!fp_char(f, '}'))                                                                  \
                return false;                                                                      \
            break;                                                                                 \
        }                                                                                          \
    } while (0)

/* The duplicate table's hash is SipHash-1-3 under a key drawn once per process. Names come from
 * whoever may produce to the topic: with an unkeyed hash (FNV-1a, before), names that all land in
 * one run of slots are found offline, and one 1 MiB message of them cost ~10 s of quadratic
 * probing under the analyzer's lock. With a secret key they cannot be chosen to collide. */
static uint64_t dup_key[2];
static pthread_once_t dup_key_once = PTHREAD_ONCE_INIT;

static void dup_key_init(void)
{
    if (getrandom(dup_key, sizeof(dup_key), 0) == (ssize_t)sizeof(dup_key))
        return;
    /* Only before the kernel's pool is up (never for a daemon): a key that differs per process
     * and boot still beats a fixed one, and the probe limit bounds the rest. */
    struct timespec t = {0};
    clock_gettime(CLOCK_MONOTONIC, &t);
    dup_key[0] ^= (uint64_t)t.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)t.tv_sec;
    dup_key[1] ^= (uint64_t)getpid() * 0xbf58476d1ce4e5b9ULL ^ (uint64_t)(uintptr_t)&t;
}

#define SIP_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIP_ROUND                                                                                  \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = SIP_ROTL(v1, 13);                                                                     \
        v1 ^= v0;                                                                                  \
        v0 = SIP_ROTL(v0, 32);                                                                     \
        v2 += v3;                                                                                  \
        v3 = SIP_ROTL(v3, 16);                                                                     \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = SIP_ROTL(v3, 21);                                                                     \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = SIP_ROTL(v1, 17);                                                                     \
        v1 ^= v2;                                                                                  \
        v2 = SIP_ROTL(v2, 32);                                                                     \
    } while (0)

static uint64_t sip_le64(const unsigned char *p)
{
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = x << 8 | p[i];
    return x;
}

/* SipHash-1-3 (as Python's and Rust's hash tables use) of s under k. */
static uint64_t siphash13(const uint64_t k[2], const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    uint64_t v0 = 0x736f6d6570736575ULL ^ k[0], v1 = 0x646f72616e646f6dULL ^ k[1];
    uint64_t v2 = 0x6c7967656e657261ULL ^ k[0], v3 = 0x7465646279746573ULL ^ k[1];
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w = sip_le64(s + i);
        v3 ^= w;
        SIP_ROUND;
        v0 ^= w;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t j = 0; i + j < len; j++)
        b |= (uint64_t)s[i + j] << (8 * j);
    v3 ^= b;
    SIP_ROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIP_ROUND;
    SIP_ROUND;
    SIP_ROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t vg_wire_dup_hash(const char *name, size_t len)
{
    pthread_once(&dup_key_once, dup_key_init);
    return siphash13(dup_key, name, len);
}

/* Adds metric i (already stored) to the duplicate table. False if its name was there, or if it
 * met VG_WIRE_DUP_PROBES_MAX taken slots: the fast path gives up and the jansson path, whose own
 * table is seeded, decides. So however the names fall, a message costs at most that many
 * comparisons per name here, and the result is the same either way. */
static bool fp_dup_add(struct vg_wire_msg *m, struct wire_store *s, size_t i, size_t klen)
{
    size_t mask = s->dup_cap - 1;
    size_t k = (size_t)vg_wire_dup_hash(m->metrics[i].name, klen) & mask;
    for (size_t n = 1;; n++, k = (k + 1) & mask) {
        s->dup_stats.probes++;
        if (n > s->dup_stats.longest)
            s->dup_stats.longest = n;
        uint32_t at = s->dup[k];
        if (!at) {
            s->dup[k] = (uint32_t)i + 1;
            return true;
        }
        if (strcmp(m->metrics[at - 1].name, m->metrics[i].name) == 0)
            return false;
        if (n >= VG_WIRE_DUP_PROBES_MAX) {
            s->dup_stats.gave_up = 1;
            return false;
        }
    }
}

static bool fp_metrics(struct fp *f, struct vg_wire_msg *m, struct wire_store *s)
{
    const char *key;
    size_t klen;
    if (!fp_char(f, '{'))
        return false;
    /* Every name is shorter than the message, and so is their count: size for the worst case
     * the message allows, once, so the loop never reallocates or rehashes. */
    size_t most = (size_t)(f->end - f->p) / 6 + 1; /* "a":0, is 6 bytes */
    if (most > WIRE_METRICS_MAX)
        most = WIRE_METRICS_MAX;
    if (grow((void **)&s->metrics, &s->metrics_cap, m->n_metrics + most, sizeof(*s->metrics)))
        return false;
    m->metrics = s->metrics;
    size_t want = 16;
    while (want < 2 * most)
        want *= 2;
    if (want > s->dup_cap) {
        uint32_t *d = realloc(s->dup, want * sizeof(*d));
        if (!d)
            return false;
        s->dup = d;
        s->dup_cap = want;
    }
    memset(s->dup, 0, s->dup_cap * sizeof(*s->dup));
    FP_MEMBERS(f, key, klen, {
        double d;
        long long iv;
        bool is_int;
        if (!name_ok(key, klen) || !fp_number(f, &d, &iv, &is_int) || m->n_metrics >= most)
            return false;
        size_t i = m->n_metrics++;
        m->metrics[i].name = arena_put(s, key, klen);
        m->metrics[i].value = d;
        if (!fp_dup_add(m, s, i, klen))
            return false;
    });
    return true;
}

static bool fp_labels(struct fp *f, struct vg_wire_msg *m, struct wire_store *s)
{
    const char *key, *v;
    size_t klen, vlen;
    if (!fp_char(f, '{'))
        return false;
    /* Past the limit, the jansson path decides: it keeps the first ones and counts the rest,
     * and its duplicate check is not quadratic. */
    FP_MEMBERS(f, key, klen, {
        if (m->n_labels >= VG_WIRE_LABELS_MAX || !label_key_ok(key, klen) ||
            !fp_string(f, &v, &vlen) || vlen > VG_WIRE_LABEL_VALUE_MAX)
            return false;
        for (size_t i = 0; i < m->n_labels; i++)
            if (strlen(m->labels[i].key) == klen && memcmp(m->labels[i].key, key, klen) == 0)
                return false;
        if (grow((void **)&s->labels, &s->labels_cap, m->n_labels + 1, sizeof(*s->labels)))
            return false;
        m->labels = s->labels;
        m->labels[m->n_labels].key = arena_put(s, key, klen);
        m->labels[m->n_labels].value = arena_put(s, v, vlen);
        m->n_labels++;
    });
    return true;
}

/* True when buf was decoded into m; false: decide with the jansson path. */
static bool fast_decode(const char *buf, size_t len, struct vg_wire_msg *m, struct wire_store *s)
{
    struct fp f = {buf, buf + len};
    const char *key, *str;
    size_t klen, slen;
    long long n;
    unsigned seen = 0;
    /* All strings of the message fit in its own length: one reservation, no moves later. */
    if (arena_reserve(m, s, len + 1) || !fp_char(&f, '{'))
        return false;
    FP_MEMBERS(&f, key, klen, {
        int fi = field_index(key, klen);
        if (fi < 0 || (seen & (1u << fi)))
            return false;
        seen |= 1u << fi;
        switch (fi) {
        case F_V:
            if (!fp_int(&f, &n) || n != VG_WIRE_VERSION)
                return false;
            break;
        case F_HOST:
            if (!fp_string(&f, &str, &slen) || !host_ok(str, slen))
                return false;
            memcpy(m->host, str, slen);
            m->host[slen] = '\0';
            break;
        case F_BOOT:
            if (!fp_string(&f, &str, &slen) || !boot_ok(str, slen))
                return false;
            memcpy(m->boot, str, slen);
            m->boot[slen] = '\0';
            break;
        case F_SEQ:
            if (!fp_int(&f, &n) || n < 0 || n > WIRE_SEQ_MAX)
                return false;
            m->seq = (uint64_t)n;
            break;
        case F_TS:
            if (!fp_int(&f, &n) || n <= 0)
                return false;
            m->ts_ms = n;
            break;
        case F_INTERVAL:
            if (!fp_int(&f, &n) || n < 1 || n > WIRE_INTERVAL_MAX)
                return false;
            m->interval_ms = n;
            break;
        case F_LABELS:
            if (!fp_labels(&f, m, s))
                return false;
            break;
        case F_METRICS:
            if (!fp_metrics(&f, m, s))
                return false;
            break;
        }
    });
    if (fp_ws(&f)) /* anything but whitespace after the object */
        return false;
    for (int fi = 0; fi < F_COUNT; fi++)
        if (fi != F_LABELS && !(seen & (1u << fi)))
            return false;
    m->version = VG_WIRE_VERSION;
    return true;
}

/* Leaves m as if freshly reset, header included, so a failed decode never exposes half of a
 * message (or the previous one) to a caller that ignores the return code. */
static void clear(struct vg_wire_msg *m)
{
    vg_wire_msg_reset(m);
    m->version = 0;
    m->host[0] = '\0';
    m->boot[0] = '\0';
    m->seq = 0;
    m->ts_ms = 0;
    m->interval_ms = 0;
}

static int decode(const char *buf, size_t len, size_t max_bytes, struct vg_wire_msg *m, char *err,
                  size_t errlen, bool fast)
{
    if (max_bytes == 0)
        max_bytes = VG_WIRE_DEFAULT_MAX_BYTES;
    clear(m);
    if (len > max_bytes)
        return vg_err(err, errlen, -EMSGSIZE, "message too large: %zu bytes, limit %zu", len,
                      max_bytes);
    struct wire_store *s = store_get(m);
    if (!s)
        return vg_err(err, errlen, -ENOMEM, "out of memory decoding message");
    if (!buf)
        buf = "";
    memset(&s->dup_stats, 0, sizeof(s->dup_stats));
    if (fast && fast_decode(buf, len, m, s))
        return 0;
    clear(m);

    json_error_t je;
    /* DECODE_ANY so a scalar reaches our own "expected an object" message instead of a generic
     * syntax error; no ALLOW_NUL, so "\u0000" can never truncate a name copied as a C string. */
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!root)
        return parse_error(buf, len, &je, err, errlen);
    int rc = decode_root(root, m, s, err, errlen);
    json_decref(root);
    if (rc)
        clear(m);
    return rc;
}

int vg_wire_decode(const char *buf, size_t len, size_t max_bytes, struct vg_wire_msg *m, char *err,
                   size_t errlen)
{
    return decode(buf, len, max_bytes, m, err, errlen, true);
}

int vg_wire_decode_reference(const char *buf, size_t len, size_t max_bytes, struct vg_wire_msg *m,
                             char *err, size_t errlen)
{
    return decode(buf, len, max_bytes, m, err, errlen, false);
}

void vg_wire_dup_stats_get(const struct vg_wire_msg *m, struct vg_wire_dup_stats *out)
{
    const struct wire_store *s = m->priv;
    if (s)
        *out = s->dup_stats;
    else
        memset(out, 0, sizeof(*out));
}

/* Skips one member value of a v1 message: a string, a number, or an object of them (labels,
 * metrics). Like the fast path, it takes only plain input. */
static bool fp_skip(struct fp *f)
{
    const char *s;
    size_t n;
    double d;
    long long i;
    bool is_int;
    if (!fp_ws(f))
        return false;
    if (*f->p == '"')
        return fp_string(f, &s, &n);
    if (*f->p != '{')
        return fp_number(f, &d, &i, &is_int);
    f->p++;
    FP_MEMBERS(f, s, n, {
        if (!fp_ws(f))
            return false;
        if (*f->p == '"' ? !fp_string(f, &s, &n) : !fp_number(f, &d, &i, &is_int))
            return false;
    });
    return true;
}

int vg_wire_peek_host(const char *buf, size_t len, char host[VG_WIRE_HOST_MAX + 1])
{
    struct fp f = {buf, buf + len};
    const char *key, *s;
    size_t klen, slen;
    if (!buf || !fp_char(&f, '{'))
        return -EINVAL;
    for (;;) {
        if (!fp_string(&f, &key, &klen) || !fp_char(&f, ':'))
            return -EINVAL;
        if (klen == 4 && memcmp(key, "host", 4) == 0) {
            if (!fp_string(&f, &s, &slen) || !host_ok(s, slen))
                return -EINVAL;
            memcpy(host, s, slen);
            host[slen] = '\0';
            return 0;
        }
        if (!fp_skip(&f) || !fp_char(&f, ','))
            return -EINVAL;
    }
}
