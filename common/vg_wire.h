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
    struct vg_metric *metrics;
    size_t n_metrics;
    void *priv; /* implementation storage (arrays, string arena); reused across resets */
};

/* Zero-initialises m. A message owns everything it points to; release with vg_wire_msg_free(). */
void vg_wire_msg_init(struct vg_wire_msg *m);

/* Forgets the labels and metrics but keeps allocated capacity for the next tick. */
void vg_wire_msg_reset(struct vg_wire_msg *m);

/* Frees what the message allocated; m can be reused after vg_wire_msg_init(). */
void vg_wire_msg_free(struct vg_wire_msg *m);

/* Append a metric or label; name/key/value are copied. Returns 0, -EINVAL for a name outside the
 * character set or a non-finite value (err says which), -ENOMEM. */
int vg_wire_msg_add_metric(struct vg_wire_msg *m, const char *name, double value, char *err,
                           size_t errlen);
int vg_wire_msg_add_label(struct vg_wire_msg *m, const char *key, const char *value, char *err,
                          size_t errlen);

/* Returns 0 when name is a valid metric name: first char [A-Za-z_], then [A-Za-z0-9_.:-],
 * 1..VG_WIRE_NAME_MAX bytes. */
int vg_wire_name_valid(const char *name);

/* Returns 0 when host is valid: [A-Za-z0-9._-], 1..VG_WIRE_HOST_MAX bytes. */
int vg_wire_host_valid(const char *host);

/* Encodes m as one compact JSON object. On success *out is a NUL-terminated malloc'd buffer the
 * caller frees with free(), *outlen its length without the NUL. Returns 0 or -EINVAL/-ENOMEM. */
int vg_wire_encode(const struct vg_wire_msg *m, char **out, size_t *outlen, char *err,
                   size_t errlen);

/* Decodes buf[0..len) into m (which must have been vg_wire_msg_init'd; previous content is
 * reset). max_bytes == 0 means VG_WIRE_DEFAULT_MAX_BYTES. Returns 0 or a negative code, with a
 * specific message in err:
 *   -EMSGSIZE        message larger than max_bytes
 *   -EBADMSG         not JSON, trailing bytes, duplicate object keys, not an object
 *   -EPROTONOSUPPORT "v" is not a supported version
 *   -EINVAL          missing or mistyped field, bad host/name/label, NaN/Inf/out-of-range value */
int vg_wire_decode(const char *buf, size_t len, size_t max_bytes, struct vg_wire_msg *m, char *err,
                   size_t errlen);

#endif
