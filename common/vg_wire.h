/* Wire format v1: one JSON message per host per collection tick (docs/wire-format.md).
 *
 *   {"v":1,"host":"web-1","boot":"6f1c...","seq":42,"ts":1763900000000,"interval_ms":1000,
 *    "labels":{"env":"prod"},"metrics":{"cpu.user_pct":12.5,"load.1m":0.42}}
 *
 * The same struct is filled by the agent's collectors and by the analyzer's decoder.
 */
#ifndef VG_WIRE_H
#define VG_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define VG_WIRE_VERSION           1
#define VG_WIRE_DEFAULT_MAX_BYTES (1024 * 1024)
#define VG_WIRE_HOST_MAX          253 /* a DNS name's limit */
#define VG_WIRE_BOOT_MAX          64
#define VG_WIRE_NAME_MAX          200 /* metric names and label keys */
#define VG_WIRE_LABEL_VALUE_MAX   256
/* Labels of one message: they describe a host, not data. The encoder refuses more. The v1
 * decoder keeps the first 64 in message order and counts the rest (n_labels_dropped), as the
 * analyzer did before the limit (older agents send more); a v2 would refuse them. */
#define VG_WIRE_LABELS_MAX 64
/* Metric names starting with this are reserved: rules read value("host:NAME") as host model
 * NAME's score (docs/rules.md), so a series of that name would be shadowed by, or shadow, the
 * model. The decoder and encoder still take such a name (a v1 message is accepted or refused
 * whole, and one odd series must not cost a host all its others); vg_wire_msg_add_metric()
 * refuses it, and the analyzer refuses each such series, counted and logged. */
#define VG_WIRE_RESERVED_PREFIX "host:"

struct vg_metric {
    const char *name; /* points into the message's own storage */
    double value;
};

struct vg_label {
    const char *key;
    const char *value;
};

struct vg_wire_msg {
    int version;
    char host[VG_WIRE_HOST_MAX + 1];
    char boot[VG_WIRE_BOOT_MAX + 1];
    uint64_t seq;
    int64_t ts_ms;
    int64_t interval_ms;
    struct vg_label *labels;
    size_t n_labels;
    size_t n_labels_dropped; /* decoded labels past VG_WIRE_LABELS_MAX, not in labels */
    struct vg_metric *metrics;
    size_t n_metrics;
    void *priv; /* implementation storage (arrays, string arena); reused across resets */
};

/* Zero-initialises m and sets version to VG_WIRE_VERSION; allocates nothing (storage comes on first
 * use). A message owns everything it points to; release with vg_wire_msg_free(). */
void vg_wire_msg_init(struct vg_wire_msg *m);

/* Forgets the labels and metrics but keeps allocated capacity for the next tick. The header fields
 * (host, boot, seq, ...) are left as they are. */
void vg_wire_msg_reset(struct vg_wire_msg *m);

/* Frees what the message allocated; m can be reused after vg_wire_msg_init(). */
void vg_wire_msg_free(struct vg_wire_msg *m);

/* Append a metric or label; name/key/value are copied into the message's storage. Returns 0,
 * -EINVAL for a name outside the character set or reserved (VG_WIRE_RESERVED_PREFIX), a non-finite
 * value, a label value over
 * VG_WIRE_LABEL_VALUE_MAX bytes or not UTF-8, a label past VG_WIRE_LABELS_MAX (err says which),
 * -ENOMEM. Duplicates are not
 * checked here; vg_wire_encode() refuses them. Adding may move the storage: the arrays and the
 * names in them are updated, but copies of those pointers kept elsewhere become invalid. */
int vg_wire_msg_add_metric(struct vg_wire_msg *m, const char *name, double value, char *err,
                           size_t errlen);
int vg_wire_msg_add_label(struct vg_wire_msg *m, const char *key, const char *value, char *err,
                          size_t errlen);

/* Returns 0 when name is a valid metric name: first char [A-Za-z_], then [A-Za-z0-9_.:-],
 * 1..VG_WIRE_NAME_MAX bytes. */
int vg_wire_name_valid(const char *name);

/* Returns 1 when name starts with VG_WIRE_RESERVED_PREFIX, 0 otherwise (NULL included). */
int vg_wire_name_reserved(const char *name);

/* Returns 0 when key and value make a label the decoder accepts: key [A-Za-z_][A-Za-z0-9_]*,
 * 1..VG_WIRE_NAME_MAX bytes; value UTF-8, 0..VG_WIRE_LABEL_VALUE_MAX bytes (control characters
 * included: JSON escapes them). For state read back from elsewhere, which must hold no label a
 * message could not have carried. */
int vg_wire_label_valid(const char *key, const char *value);

/* Returns 0 when host is valid: [A-Za-z0-9._-], 1..VG_WIRE_HOST_MAX bytes. */
int vg_wire_host_valid(const char *host);

/* Encodes m as one compact JSON object. On success *out is a NUL-terminated malloc'd buffer the
 * caller frees with free(), *outlen its length without the NUL. Returns 0 or -EINVAL/-ENOMEM;
 * -EINVAL for anything the decoder would reject (so an encoded message decodes, size limits
 * aside), for duplicate metric names or label keys, and for more than VG_WIRE_LABELS_MAX labels
 * (which the decoder would leave out). On error *out is NULL. */
int vg_wire_encode(const struct vg_wire_msg *m, char **out, size_t *outlen, char *err,
                   size_t errlen);

/* The most one metric whose name has name_len bytes adds to vg_wire_encode()'s output: the name
 * in quotes, a colon, the longest number the encoder writes (24 bytes, as in
 * -2.2250738585072014e-308) and a comma. */
#define VG_WIRE_METRIC_SIZE_MAX(name_len) ((size_t)(name_len) + 28)

/* An upper bound on the length of vg_wire_encode()'s output for m as it stands: the header with
 * its numbers at their longest, every label value as if each control character took a \u escape,
 * every metric at VG_WIRE_METRIC_SIZE_MAX. It does not depend on the metrics' values, so a
 * producer that keeps it within a limit reports the same things from tick to tick. O(labels +
 * metrics); never less than the encoding (tests/test_wire.c checks it against the encoder). */
size_t vg_wire_msg_size_max(const struct vg_wire_msg *m);

/* Decodes buf[0..len) into m (which must have been vg_wire_msg_init'd; previous content is
 * reset). buf may hold any bytes, NULs included. max_bytes == 0 means VG_WIRE_DEFAULT_MAX_BYTES.
 * Names and values stay valid until the next decode, add, reset or free of m. On error m holds no
 * labels or metrics and an empty host. Returns 0 or a negative code, with a specific message in
 * err (prefixes listed in docs/wire-format.md):
 *   -EMSGSIZE        message larger than max_bytes
 *   -EBADMSG         not JSON, trailing bytes, duplicate object keys, not an object
 *   -EPROTONOSUPPORT "v" is not a supported version
 *   -EINVAL          missing, mistyped or unknown field, bad host/boot/name/label, NaN/Inf or
 *                    out-of-range value, more than 100000 metrics
 * Labels past VG_WIRE_LABELS_MAX are checked like the others, then left out and counted in
 * m->n_labels_dropped (0 otherwise). */
int vg_wire_decode(const char *buf, size_t len, size_t max_bytes, struct vg_wire_msg *m, char *err,
                   size_t errlen);

/* vg_wire_decode() without its fast path: every message through jansson. Same contract and
 * results; tests and the fuzz target check the fast path against it. */
int vg_wire_decode_reference(const char *buf, size_t len, size_t max_bytes, struct vg_wire_msg *m,
                             char *err, size_t errlen);

/* Copies the top-level "host" of the message in buf[0..len) into host, reading no further than
 * that field (the encoder writes it second). For a message kept as bytes (the agent's spool)
 * whose Kafka key must be its own host. Returns 0, or -EINVAL when no valid host is found before
 * something the fast decoder would not take (escapes, non-ASCII); the rest of the message is not
 * checked. */
int vg_wire_peek_host(const char *buf, size_t len, char host[VG_WIRE_HOST_MAX + 1]);

/* The fast decoder checks metric names for duplicates in a linear-probing table keyed by
 * vg_wire_dup_hash(). A name that meets this many taken slots makes it give the message to the
 * jansson path, so crafted names cost at most this many comparisons each. */
#define VG_WIRE_DUP_PROBES_MAX 64

/* The hash of that table: SipHash-1-3 under a key drawn from getrandom() once per process, so
 * names cannot be chosen offline to collide. Exposed for tests, which need colliding names. */
uint64_t vg_wire_dup_hash(const char *name, size_t len);

/* What that table did in m's last decode (zeros when the fast path never reached the metrics),
 * for tests. */
struct vg_wire_dup_stats {
    uint64_t probes;  /* slots looked at, over all names */
    uint64_t longest; /* most slots one name looked at */
    int gave_up;      /* a name reached VG_WIRE_DUP_PROBES_MAX: the jansson path decided */
};
void vg_wire_dup_stats_get(const struct vg_wire_msg *m, struct vg_wire_dup_stats *out);

#endif
