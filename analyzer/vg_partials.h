/* Partial scaling measurements, exchanged between the analyzers of one consumer group so that
 * one of them decides each target over the whole fleet (docs/scaling-actions.md, "Several
 * analyzers"). A partial is what one analyzer measured of one target over the hosts of the
 * metrics-topic partitions it owned: sums and counts, which add up across analyzers.
 *
 * The store keeps the latest partial per (target, member) and merges them newest first,
 * skipping any partial whose partitions were counted already by a newer one: a host that moved
 * in a rebalance is in its new owner's partial and may still be in its old owner's, and must be
 * counted once. Not thread-safe (vg_decisions calls it under the analyzer's lock).
 */
#ifndef VG_PARTIALS_H
#define VG_PARTIALS_H

#include <stddef.h>
#include <stdint.h>

#define VG_PARTIAL_MEMBER_MAX 128 /* member id, NUL included */
#define VG_PARTIAL_PARTS_MAX  100000

/* The mergeable measurement of one target (vg_decisions.c's per-host measure). */
struct vg_partial_agg {
    double sum;               /* target tracking: sum of the hosts' metric values */
    uint64_t n_values;        /* hosts with a metric value */
    uint64_t n_true, n_false; /* step: hosts whose condition holds, does not hold */
    uint64_t n_alerting;      /* selected hosts with an alert firing that holds the scale-in */
};

struct vg_partial {
    char member[VG_PARTIAL_MEMBER_MAX]; /* the analyzer process that measured */
    int64_t time_ms;                    /* event time of the measurement */
    struct vg_partial_agg agg;
    int32_t *parts; /* metrics-topic partitions its member owned, ascending, no duplicates;
                       owned by the struct (vg_partial_clear) */
    size_t n_parts;
};

/* The record's value for target's partial p: a malloc'd JSON string the caller frees, or NULL
 * when out of memory. Keyed by target on the partials topic. */
char *vg_partial_json(const char *target, const struct vg_partial *p);

/* Reads a record of the partials topic: its key must be the record's target. Fills target (tlen
 * bytes) and *out (out->parts malloc'd: vg_partial_clear) and returns 0; -EINVAL with the
 * reason in err when it is not a partial (out then holds nothing to free), -ENOMEM. */
int vg_partial_parse(const void *key, size_t key_len, const void *payload, size_t len, char *target,
                     size_t tlen, struct vg_partial *out, char *err, size_t errlen);

/* A count field above this is refused: no fleet has that many hosts, and sums of such values
 * across partials could wrap. */
#define VG_PARTIAL_COUNT_MAX ((uint64_t)1 << 40)

/* Times of other analyzers (partials, decisions) are capped at the local wall clock plus this
 * on receipt: one analyzer with a clock hours fast would otherwise freeze a target (its times in
 * the stabilisation window and the cooldown, its partials never expiring) for as long. 5 s is
 * well above NTP-kept skew and well below any policy interval that matters. */
#define VG_CLOCK_TOLERANCE_MS 5000

/* Caps *t at wall_ms + VG_CLOCK_TOLERANCE_MS; 1 when it did (to be counted), 0 otherwise. */
int vg_time_cap(int64_t *t, int64_t wall_ms);

/* Drops p's partitions >= n (the metrics topic's partition count: an id beyond it would count
 * as a partition measured); returns how many are left. n <= 0: unknown, all kept. */
size_t vg_partial_keep_below(struct vg_partial *p, int32_t n);

/* Frees p's partitions (p itself is the caller's). */
void vg_partial_clear(struct vg_partial *p);

struct vg_partials;

/* *out is freed with vg_partials_free(). 0 or -ENOMEM. */
int vg_partials_new(struct vg_partials **out);
void vg_partials_free(struct vg_partials *s);

/* Keeps p (its time capped: vg_time_cap at the wall clock) as its member's latest partial of
 * target and takes its partitions (p->parts is NULL
 * after the call, whatever it returns; they need not be sorted). One at least as new from the same
 * member already kept wins: the new one is dropped (1). 0 when kept, -ENOMEM. */
int vg_partials_put(struct vg_partials *s, const char *target, struct vg_partial *p);

/* Forgets target's partials measured before cutoff_ms (their members stopped, or lost their
 * partitions, and publish nothing newer). Returns how many went. */
size_t vg_partials_expire(struct vg_partials *s, const char *target, int64_t cutoff_ms);

/* Target's fleet-wide measurement: own (this analyzer's measurement now; NULL: none) first, then
 * the kept partials of other members newest first (equal times in member order, so every
 * analyzer merges alike), each only when none of its partitions was counted already. Partials
 * measured before cutoff_ms are forgotten first. Fills *sum and returns how many partials it
 * counted, own included; *hidden (may be NULL) gets how many it skipped for an overlap,
 * *covered (may be NULL) how many distinct partitions the counted ones measured. */
size_t vg_partials_merge(struct vg_partials *s, const char *target, const struct vg_partial *own,
                         int64_t cutoff_ms, struct vg_partial_agg *sum, size_t *hidden,
                         size_t *covered);

/* Partials kept for target (for tests and /metrics). */
size_t vg_partials_count(const struct vg_partials *s, const char *target);

#endif
