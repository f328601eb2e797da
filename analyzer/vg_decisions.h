/* Scaling decisions: runs the scaling policies of the loaded rule set (rules/vg_rule_policy.h)
 * over the engine's hosts, keeps each target's latest decision for GET /api/v1/scale/{target},
 * publishes every decision to a Kafka topic (vigil.decisions, keyed by target) and POSTs the
 * ones that change the replica count to an optional webhook (docs/scaling-actions.md).
 *
 * With several analyzers in one consumer group each measures only the hosts of its partitions,
 * so the decision is made fleet-wide (vg_decisions_join): every analyzer publishes its partial
 * measurement of each target to the partials topic (vg_partials.h); the analyzer that owns the
 * metrics partition a target hashes to merges the partials and decides; every analyzer follows
 * the decisions topic and serves the latest decision, and continues from it when it becomes the
 * decider. Without the partials topic each analyzer decides from its own hosts (local-only).
 *
 * Time is event time (the engine's latest message timestamp), like alert rules, so a replay
 * decides as the live stream did. Not thread-safe: the analyzer calls it under its lock; the
 * Kafka producer and the webhook thread never block the caller.
 */
#ifndef VG_DECISIONS_H
#define VG_DECISIONS_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "vg_config.h"
#include "vg_engine.h"
#include "vg_rule.h"

struct vg_decisions_cfg {
    const char *topic;             /* NULL or "": not published to Kafka */
    const char *partials_topic;    /* NULL or "": no exchange, every analyzer decides alone */
    const char *metrics_topic;     /* whose partition count is looked up again when unknown */
    const char *bootstrap;         /* Kafka bootstrap servers */
    const struct vg_kvlist *kafka; /* extra producer and reader properties (the analyzer's kafka:
                                      map), borrowed until vg_decisions_free */
    const char *webhook_url;       /* NULL or "": no webhook */
    int webhook_url_hide_path;     /* read from a file: logs show scheme://host[:port]/... only */
    int64_t webhook_timeout_ms;
    const char *tls_ca_file; /* actions.tls_ca_file; NULL: the system's CAs only */
    /* HMAC-SHA256 key file: each post carries X-Vigil-Timestamp and X-Vigil-Signature, as the
     * alert webhook's do. NULL or "": not signed. */
    const char *webhook_secret_file;
    int64_t drain_ms; /* at vg_decisions_free, how long queued webhooks may still go */
    /* A failed join is retried this long after, doubling up to rejoin_max_ms; 0: 30 s, 5 min. */
    int64_t rejoin_initial_ms, rejoin_max_ms;
};

struct vg_decisions_stats {
    uint64_t evaluations; /* policy evaluations */
    uint64_t changes;     /* of which changed the replica count */
    uint64_t published;   /* delivered to Kafka (broker acknowledged) */
    uint64_t publish_errors;
    uint64_t webhook_sent;
    uint64_t webhook_errors;
    uint64_t restored;        /* targets continued from the decisions topic at start */
    uint64_t restore_refused; /* records of that topic that could not be read as a decision */
    /* targets started from `initial` because that topic was not read whole at start (timeout,
     * unreadable): a partial read's latest record may be far older than the real latest */
    uint64_t restore_incomplete;
    /* The fleet-wide exchange (vg_decisions_join). */
    uint64_t partials_published;  /* this analyzer's partials the broker acknowledged */
    uint64_t partials_errors;     /* partials not published, and failed joins (retries too) */
    uint64_t join_retries;        /* retries of a failed join, the successful one included */
    uint64_t partials_received;   /* other analyzers' partials kept */
    uint64_t partials_refused;    /* records of the partials topic that are no partial (logged) */
    uint64_t partials_overlapped; /* partials left out of a merge: their partitions counted */
    uint64_t followed;            /* decisions of other analyzers taken over */
    uint64_t follow_refused;      /* records of the decisions topic, read live, not a decision */
    uint64_t times_capped; /* partial and decision times of others capped at the wall clock */
    uint64_t clock_behind; /* evaluations whose event time was behind the target's last change */
    int local_only; /* 1: decides from its own hosts only (the exchange off or failed); 0 also
                       before there is any policy */
    int metrics_partitions; /* the metrics topic's partition count as known; 0: unknown (a
                               fleet-wide analyzer then decides nothing) */
};

struct vg_decisions;

/* *out is freed with vg_decisions_free(). */
int vg_decisions_new(struct vg_decisions **out, const struct vg_decisions_cfg *cfg, char *err,
                     size_t errlen);
void vg_decisions_free(struct vg_decisions *d);

/* Starts the stop of the scaling webhook without waiting: what is queued is posted until
 * deadline_ms (vg_mono_ms' clock) and no later, so that it drains alongside the alert receivers
 * against one drain_timeout. vg_decisions_free then only waits for it. Without this call,
 * vg_decisions_free stops with the configured drain from its own start. d may be NULL. */
void vg_decisions_stop(struct vg_decisions *d, int64_t deadline_ms);

/* The policies of set (borrowed until replaced; NULL: none). A target that keeps its name keeps
 * its replica count, cooldown and history. 0 or -ENOMEM (the old policies then stay). */
int vg_decisions_set_policies(struct vg_decisions *d, const struct vg_rule_set *set);

/* The same in two steps, for a reload that changes other things too: prepare allocates
 * everything the new policies need and changes nothing (0, *out owned by the caller, or
 * -ENOMEM); commit applies it and cannot fail (it takes plan); plan_free drops an unused one. */
struct vg_decisions_plan;
int vg_decisions_prepare(const struct vg_decisions *d, const struct vg_rule_set *set,
                         struct vg_decisions_plan **out);
void vg_decisions_commit(struct vg_decisions *d, struct vg_decisions_plan *plan);
void vg_decisions_plan_free(struct vg_decisions_plan *plan);

/* Reads the decisions topic to its end (at most timeout_ms) and continues each target that has
 * not been evaluated yet from its latest decision there (vg_scale_restore): a restarted analyzer
 * then neither serves nor publishes `initial` in place of what it had decided. Only targets whose
 * partitions were read to their end are restored: after a timeout the others start from
 * `initial` rather than from whatever record was read last. 0 (also when the topic holds
 * nothing, or when decisions are not published to Kafka); -EIO, -ETIMEDOUT or -ENOMEM with err
 * set, naming the targets that start from `initial` (counted in restore_incomplete). */
int vg_decisions_restore(struct vg_decisions *d, int timeout_ms, char *err, size_t errlen);

/* Joins the fleet-wide exchange: opens a reader of the partials topic and the decisions topic
 * (assigned, not in the consumer group, from their ends), so that vg_decisions_tick publishes
 * partials, decides only the targets this analyzer is the decider of, and follows the others'
 * decisions. Call before vg_decisions_restore, so that no decision falls between the read-back
 * and the reader. 0 also when there is nothing to join (no decisions or partials topic: local-
 * only, as configured); -EIO (a topic not found, the broker not answering in timeout_ms),
 * -EINVAL or -ENOMEM with err set: the analyzer then decides from its own hosts (local-only),
 * which the caller logs. Called once; vg_decisions_tick calls it when a reload brings the first
 * policies. After a failure vg_decisions_tick retries the join (1 s at most each) while there
 * are policies: rejoin_initial_ms after, doubling up to rejoin_max_ms; it logs the failures
 * (rate-limited) and the success, after which the targets continue fleet-wide with their
 * state. */
int vg_decisions_join(struct vg_decisions *d, int timeout_ms, char *err, size_t errlen);

/* The metrics-topic partitions this analyzer owns now (none between a revoke and the next
 * assignment) and the topic's partition count (0: unknown, the last one known stays): the hosts
 * it measures, and the targets it decides. ids is copied. 0 or -ENOMEM (then it owns none). */
int vg_decisions_set_partitions(struct vg_decisions *d, const int32_t *ids, size_t n,
                                int partition_count);

/* This analyzer's member id in the exchange (host name, pid and start time): unique per
 * process. */
const char *vg_decisions_member(const struct vg_decisions *d);

/* Which metrics-topic partition's owner decides target: FNV-1a of its name modulo
 * partition_count, the same on every analyzer. */
int32_t vg_decisions_decider_partition(const char *target, int partition_count);

/* Evaluates every policy whose interval has passed since its last evaluation, at the engine's
 * latest event time (fleet-wide: the latest of it and the partials received). */
void vg_decisions_tick(struct vg_decisions *d, struct vg_engine *e);

/* The latest decision of target as JSON (docs/api.md), or {"decisions": [...]} for target NULL.
 * A new reference; NULL for an unknown target. */
json_t *vg_decisions_json(const struct vg_decisions *d, const char *target);

void vg_decisions_get_stats(struct vg_decisions *d, struct vg_decisions_stats *out);

#endif
