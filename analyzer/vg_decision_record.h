/* A record of the decisions topic (vigil.decisions) as another analyzer, or this one before a
 * restart, wrote it (vg_decisions.c's decision_json): the bytes are anyone's, so every field the
 * reader uses is checked here, ranges included, before it becomes a replica count. */
#ifndef VG_DECISION_RECORD_H
#define VG_DECISION_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "vg_partials.h"

#define VG_DECISION_TARGET_MAX 256 /* NUL included */
#define VG_DECISION_REASON_MAX 192 /* as struct vg_scale_decision's reason; longer is cut */

struct vg_decision_record {
    char target[VG_DECISION_TARGET_MAX];
    int desired;        /* [0, INT32_MAX] */
    int64_t time_ms;    /* INT64_MIN: the target was not evaluated yet */
    int64_t changed_ms; /* INT64_MIN: never changed */
    int recommended;    /* [0, INT32_MAX]; -1: none (not evaluated) */
    int current;        /* [0, INT32_MAX]; -1: none */
    int64_t hosts;      /* [0, INT32_MAX]; -1: none */
    double metric;      /* NAN: none */
    char reason[VG_DECISION_REASON_MAX];
    char decided_by[VG_PARTIAL_MEMBER_MAX]; /* "": none (or too long to be a member id) */
    int fleet, changed;
};

/* Parses the record payload (len bytes) keyed by key (key_len bytes, NULL: none): 0, or -EINVAL
 * with the reason in err (not JSON, "target" missing or not the key, a count that is no count). */
int vg_decision_record_parse(const void *key, size_t key_len, const void *payload, size_t len,
                             struct vg_decision_record *r, char *err, size_t errlen);

#endif
