/* Detector state checkpoints in a compacted Kafka topic (default vigil.state), keyed by host.
 *
 * The analyzer marks every host it processed (vg_state_topic_touch), and at each checkpoint
 * writes those hosts' engine state, notes the consumer positions it covers, and once the broker
 * has all of it commits those positions (not the later ones it reached meanwhile: the run loop
 * goes on consuming while a checkpoint waits). So a committed offset never runs ahead of the
 * state it needs, and
 * whoever owns a partition next (a restarted analyzer, or another group member after a
 * rebalance) restores the hosts of that partition (vg_state_topic_restore) and continues their
 * scores where they were, instead of warming up again. Messages processed after the last
 * checkpoint are redelivered and processed again from the restored state, which gives the same
 * results: receivers see at most duplicates, with the same fingerprints.
 *
 * Record value, integers little-endian: "VGST", u32 version (2), u32 partition of the metrics
 * topic the host's messages come from, u32 CRC-32 of the rest, then the engine's host record
 * (vg_engine_host_export) with the host's state in each host model that keeps one (vg_model_ops
 * host_save: the "mv" model's normaliser, window and calibration) as its blobs. A record whose
 * checksum or version does not match is refused, counted and logged; the host then warms up.
 * Version 1 records (u32 partition, engine record; no header) are still read.
 *
 * Not thread-safe: the consumer thread uses it, holding the analyzer's lock around the engine,
 * except for vg_state_topic_ckpt_wait and _ckpt_poll, which it calls without that lock, and
 * vg_state_topic_restore, which takes that lock itself only to change st, the engine and the
 * models (the consumer thread waits for it meanwhile). Also the API thread, under that lock:
 * vg_state_topic_touch(st, host, -1) when an alert's firing is notified (a silence's change
 * sends it), which only marks a known host dirty and so may run while the consumer thread is
 * in _ckpt_poll or _ckpt_wait without the lock: touch(-1) inserts nothing into the host map,
 * and the fields it writes are not those the delivery callback writes. A change to either must
 * keep that so. The topic's check at a checkpoint runs on a thread of its own, which reads only
 * the producer and the topic's name and hands its answer over through an atomic.
 */
#ifndef VG_STATE_TOPIC_H
#define VG_STATE_TOPIC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "vg_config.h"
#include "vg_engine.h"

struct vg_models;

struct vg_state_topic;

/* One record value, its header checked: the partition it was written for and the engine record
 * it carries (pointing into the value, which the caller keeps). */
struct vg_state_record {
    int32_t partition;
    const unsigned char *data;
    size_t len;
};
/* Checks a record value's header, version and checksum (or takes it as version 1). 0, or
 * -EINVAL/-EPROTONOSUPPORT with the reason in err. The engine record is checked by
 * vg_engine_host_import. */
int vg_state_record_parse(const void *value, size_t len, struct vg_state_record *r, char *err,
                          size_t errlen);

struct vg_state_topic_stats {
    uint64_t checkpoints;       /* completed: every touched host written and acknowledged */
    uint64_t checkpoint_errors; /* a record not acknowledged: offsets were not committed */
    uint64_t hosts_written;
    uint64_t hosts_deleted; /* tombstones written for hosts forgotten after limits.host_idle */
    uint64_t bytes_written; /* record values produced by completed checkpoints */
    double checkpoint_s;    /* consumer-thread time spent writing checkpoints: building the
                             * records, and the waits for the broker it blocked in
                             * (vg_state_topic_ckpt_wait), not those it polled */
    uint64_t hosts_restored;
    uint64_t restore_errors;  /* corrupt or unreadable records, skipped */
    uint64_t models_restored; /* host model states restored (blobs of the records) */
    uint64_t model_errors;    /* host model states refused: that model starts the host fresh */
    uint64_t records_trimmed; /* written without the series' detector states, and maybe the host
                               * models' (the whole record was larger than the topic takes) */
    uint64_t records_dropped; /* hosts not written at a checkpoint: too large even so */
    uint64_t trials;          /* records tried a step larger after the broker refused one */
    uint64_t trials_refused;  /* of those, refused again */
    uint64_t hosts_pending;   /* now: hosts changed since the last acknowledged checkpoint */
    /* Producers replaced after a fatal error (vg_state_topic_checkpoint). */
    uint64_t producer_recreated;
};

/* Opens a producer for the topic with the user's kafka.* properties (TLS, SASL, ...), and asks
 * the cluster to create the topic compacted (cleanup.policy=compact) when it does not exist,
 * waiting up to timeout_ms (state.checkpoint_timeout; 5 s at most) for the answer and again for
 * the creation. On success the caller owns *out: vg_state_topic_close(). */
int vg_state_topic_open(struct vg_state_topic **out, const char *bootstrap, const char *topic,
                        const struct vg_kvlist *kafka, int timeout_ms, char *err, size_t errlen);

/* Notes that host changed, and the metrics partition its message came from (-1: the one noted
 * before, for a change without a message, e.g. its host_silent alert). 0, -ENOENT (-1 for a host
 * never noted) or -ENOMEM. */
int vg_state_topic_touch(struct vg_state_topic *st, const char *host, int32_t partition);

/* The host was forgotten (limits.host_idle): the next checkpoint writes a tombstone for it
 * (key, no value), so that compaction deletes its records and no later owner restores it. A
 * touch before that checkpoint (the host sends again) cancels it. */
void vg_state_topic_drop(struct vg_state_topic *st, const char *host);

/* Forgets host (its partition was revoked): no longer checkpointed by this analyzer. */
void vg_state_topic_forget(struct vg_state_topic *st, const char *host);

/* Writes the state of every host touched since the last checkpoint (engine, and the host models
 * of ms, which may be NULL) and waits up to timeout_ms until the broker acknowledged them all.
 * 0: durable, the caller may commit. Negative (err set): not durable; the hosts stay marked for
 * the next checkpoint. The three steps below, one after the other. */
int vg_state_topic_checkpoint(struct vg_state_topic *st, const struct vg_engine *e,
                              const struct vg_models *ms, int timeout_ms, char *err, size_t errlen);

/* vg_state_topic_checkpoint in steps, so that the wait for the broker (up to timeout_ms, at every
 * checkpoint of a broker outage) holds no lock the caller's other threads need:
 *
 *   rc = vg_state_topic_ckpt_produce(...);      under the lock: reads e and ms, queues records
 *   while (rc == 1) {
 *       vg_state_topic_ckpt_wait(st);           without it: waits for the broker
 *       rc = vg_state_topic_ckpt_settle(...);   under it: takes the result, maybe queues more
 *   }
 *
 * or, so that the caller goes on with its work meanwhile, vg_state_topic_ckpt_poll in place of
 * the wait, settling once it returns 0. rc as vg_state_topic_checkpoint's once it is not 1; one
 * checkpoint at a time (produce only once the last settled to other than 1, or was abandoned).
 * Meanwhile the caller may touch, drop and forget hosts: a host changed after its record was
 * queued stays marked for the next checkpoint when this one is acknowledged, and a host
 * forgotten is left out of it. e and ms may change too: what was queued is their state when it
 * was queued (a trial, queued by a settle, is their state then). */
int vg_state_topic_ckpt_produce(struct vg_state_topic *st, const struct vg_engine *e,
                                const struct vg_models *ms, int timeout_ms, char *err,
                                size_t errlen);
void vg_state_topic_ckpt_wait(struct vg_state_topic *st);
/* Serves the producer's delivery reports without waiting: 1 while the step under way still
 * waits for the broker and its deadline has not passed, 0 when it is to be settled (or nothing
 * is under way). While a broker has not yet said whether the topic exists, it waits up to 100 ms
 * for that answer. */
int vg_state_topic_ckpt_poll(struct vg_state_topic *st);
/* Gives up the checkpoint under way without its result (the consumer lost its partitions: no
 * offset can be committed, and the hosts go elsewhere): its hosts stay marked, its records not
 * sent yet are dropped. Nothing is counted. */
void vg_state_topic_ckpt_abandon(struct vg_state_topic *st);
int vg_state_topic_ckpt_settle(struct vg_state_topic *st, const struct vg_engine *e,
                               const struct vg_models *ms, char *err, size_t errlen);

/* Reads the topic from its beginning up to its high watermarks (as they are when called) and
 * imports into e (and the host models of ms, may be NULL) every host whose latest record came
 * from one of parts[0..n), noting its partition (vg_engine_host_partition). A host is imported
 * once its partition of the topic is read to its end, so never from a record that is not its
 * latest. Records that cannot be imported are counted and skipped. 0, or negative with err set
 * (and counted as a restore error) when the topic cannot be read, or not to its end, within
 * timeout_ms: the hosts of the partitions not read whole are not restored, and the caller
 * continues them cold.
 *
 * The read (up to timeout_ms of waiting for the broker) holds no lock: lock (may be NULL) is
 * taken only around each change to e, ms and st, one host's import at a time and the counters at
 * the end, so that the caller's other threads (its HTTP API) that hold it to read them are not
 * held up by the broker. Until its partition of the topic is read whole, each host's latest
 * record is kept in memory (a copy of its value): at most one record per host of parts, each at
 * most the topic's max.message.bytes (16 MB where this analyzer created the topic). */
int vg_state_topic_restore(struct vg_state_topic *st, struct vg_engine *e, struct vg_models *ms,
                           pthread_mutex_t *lock, const int32_t *parts, size_t n, int timeout_ms,
                           char *err, size_t errlen);

/* --check-config: the producer vg_state_topic_open creates, with the user's kafka properties,
 * created and destroyed without a broker (vg_kafka_client_check). */
int vg_state_topic_check_kafka(const struct vg_kvlist *kafka, char *err, size_t errlen);

/* A restore ends, -ECANCELED (not counted as a restore error), soon after *stop (may be NULL)
 * is set: within 5 s, the longest one request to the broker may take (vg_kafka_read.h). */
/* The metrics topic's partition count (0: not known). A record whose header names a metrics
 * partition at or past it, and not in the restore's assignment, is refused on restore as corrupt
 * (counted, logged, its host cold): that field is outside the record's checksum. */
void vg_state_topic_set_metrics_partitions(struct vg_state_topic *st, int32_t n);
/* Whether a record's metrics partition p can be one of the metrics topic's, whose count is
 * count (0: not known): never when negative; always when it is in this consumer's assignment
 * (assigned, n of them), which proves it exists even when the count was asked of a broker whose
 * metadata is older than partitions added since; else when below the count or the count is not
 * known. Inline: the restore's check, and what the unit tests call. */
static inline int vg_state_topic_partition_possible(int32_t p, int32_t count,
                                                    const int32_t *assigned, size_t n)
{
    if (p < 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (assigned[i] == p)
            return 1;
    return count <= 0 || p < count;
}
void vg_state_topic_set_stop(struct vg_state_topic *st, const atomic_int *stop);

void vg_state_topic_get_stats(const struct vg_state_topic *st, struct vg_state_topic_stats *out);

/* 1 when the producer has failed for good and is not replaced yet (the next checkpoint replaces
 * it, after the replacement backoff), with the reason in why; 0 when it works. No checkpoint,
 * and so no offset commit, can succeed meanwhile. Under the same lock as the checkpoints. */
int vg_state_topic_producer_failed(const struct vg_state_topic *st, char *why, size_t whylen);

/* A checkpoint's wait for the broker (vg_state_topic_ckpt_wait) ends by *stop_by (vg_mono_ms())
 * once that is nonzero: a signal handler sets it at a stop, so that the stop's own checkpoint and
 * commit still fit in its budget when a checkpoint of a broker outage was waiting. */
void vg_state_topic_set_stop_by(struct vg_state_topic *st, const _Atomic int64_t *stop_by);

/* Writes what is still queued until by (vg_mono_ms(); 5 s from now at most), purges what is left
 * (records of checkpoints not acknowledged, whose offsets were so not committed) with their count
 * in *unsent (may be NULL), destroys the producer (until by, at least 1 s) and frees st. 0, or
 * -ETIMEDOUT when the producer's destroy, or a check of the topic still asking through it, did
 * not end in time: it is left running, and st with it. */
int vg_state_topic_close(struct vg_state_topic *st, int64_t by, size_t *unsent);

#endif
