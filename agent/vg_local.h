/* The agent's local guard: cheap per-series detection on the host itself, so that a host can
 * still raise an alert while Kafka is not taking its messages (docs/reliability.md).
 *
 * Each selected metric of the tick gets a per-series detector state (detectors/vg_detector.h,
 * `ewma` by default) and the analyzer's built-in alert state machine (detectors/vg_alert.h:
 * threshold, for, resolve_for on event time). Scoring runs on every tick; what is *sent* is
 * gated:
 *
 *   - when = outage (default): a firing local alert is sent only while Kafka is down for this
 *     agent, i.e. messages are waiting (in librdkafka's queue or the spool; while a read error
 *     of the spool holds them back, the caller says it cannot tell) or were lost (Kafka
 *     refused them for good, or they were too large) and no delivery report has succeeded for
 *     outage_after. An alert already firing when the outage begins is sent then. While Kafka
 *     takes messages, the analyzer does the alerting.
 *   - when = always: every firing local alert is sent.
 *
 * A resolve is sent for every firing alert that was sent, whatever the gate says then, so a
 * receiver always gets the pair; an alert stays firing after an outage ends until its value
 * recovers. Firing alerts that resolve without ever having been sent are counted (not_sent).
 * The pair spans restarts too: with state_path set, the firing alerts that were sent are kept in
 * that file (vg_local_state.h) and a new guard takes them over, with their series' detector
 * state, so that a resolve still goes out once the value recovers (or the series goes stale).
 * One it can no longer judge (the host renamed, the series no longer selected, max_series
 * reached) is resolved on the first tick.
 *
 * Sending goes through a callback (the agent hands it to the actions/ delivery engine, whose
 * submit() only queues; with an outbox, it writes it there and a flush callback at the end of
 * the tick fdatasyncs the tick's notifications at once; a release callback after state_path is
 * written lets them be delivered), so scoring never waits for HTTP and tests can capture
 * notifications.
 * "Sent" therefore means queued: an alert leaves state_path once its resolve is queued. The pair
 * survives a restart only if the queue does too, which the agent's is with a spool (the engine's
 * outbox, <spool.dir>/local.outbox: what is undelivered at a stop or crash is sent by the next
 * start).
 */
#ifndef VG_LOCAL_H
#define VG_LOCAL_H

#include <stddef.h>
#include <stdint.h>

#include "vg_action.h"
#include "vg_alert.h"
#include "vg_detector.h"
#include "vg_wire.h"

/* The label every local notification carries, so a receiver can tell it from the analyzer's. */
#define VG_LOCAL_SOURCE_LABEL "vigil_source"
#define VG_LOCAL_SOURCE_VALUE "agent"

enum vg_local_when { VG_LOCAL_WHEN_OUTAGE = 0, VG_LOCAL_WHEN_ALWAYS };

struct vg_local_cfg {
    const char *detector; /* a vg_detectors[] name; "off" is handled by the caller */
    const char *series;   /* comma-separated fnmatch globs; NULL or "": every metric */
    struct vg_detector_params dp;
    struct vg_alert_params ap;
    enum vg_local_when when;
    int64_t outage_after_ms;
    size_t max_series; /* series tracked at most; beyond, new ones are refused (counted) */
    /* Event time after which a series the agent no longer sends is stale (its firing alert
     * resolves; at least 3 intervals) and forgotten (at least 10 intervals); 0 = never. */
    int64_t stale_ms, idle_ms;
    const char *severity;
    /* The file the sent firing alerts are kept in (copied); NULL or "": not kept, a restart
     * forgets them. Read by vg_local_new() when send is set; without send its alerts are left
     * in the file, unread, as nothing could resolve them. */
    const char *state_path;
};

struct vg_local_stats {
    uint64_t series;         /* tracked now */
    uint64_t refused;        /* series of the last tick not tracked: max_series reached or out of
                              * memory */
    uint64_t scored;         /* values scored (past warm-up) */
    uint64_t invalid;        /* values the detector refused (non-finite) */
    uint64_t fired;          /* firing transitions of the state machine */
    uint64_t resolved;       /* resolving transitions */
    uint64_t firing;         /* firing now */
    uint64_t sent;           /* notifications accepted by the send callback (firing + resolved) */
    uint64_t send_failed;    /* notifications the send callback refused (queue full, no memory) */
    uint64_t not_sent;       /* alerts that fired and resolved unsent: the gate was closed */
    uint64_t outages;        /* outages begun */
    uint64_t stale_resolved; /* alerts resolved because their series was no longer sent */
    uint64_t expired;        /* series forgotten after idle_ms unsent */
    uint64_t restored;       /* sent firing alerts an earlier run left, taken over at start */
    uint64_t state_errors;   /* state_path unreadable or damaged at start, writes that failed,
                              * alerts left out of it (its bound) */
    uint64_t send_us;        /* time the ticks spent in the send and flush callbacks: what
                              * handing alerts to delivery (the outbox's fdatasync) cost the
                              * tick thread */
    uint64_t unsaved_sent;   /* notifications released to delivery although their tick could
                              * not write state_path (vg_local_set_flush) */
};

/* Hands one notification to delivery; 0 when accepted, negative errno when refused. The
 * notification and its strings are only borrowed for the call. */
typedef int (*vg_local_send_fn)(void *ud, const struct vg_notification *n);

/* Makes what send accepted durable (vg_action.flush of a group_commit receiver); 0 or negative
 * errno, which the callee has logged and counted. */
typedef int (*vg_local_flush_fn)(void *ud);

/* Lets what send accepted be delivered (vg_action.release of a group_commit receiver). */
typedef void (*vg_local_release_fn)(void *ud);

struct vg_local;

/* Creates the guard for host (copied). send may be NULL: detection runs, transitions are logged
 * and counted, nothing is sent. *out is owned by the caller and released with vg_local_free().
 * -EINVAL with err saying why for an unknown detector or a bad glob list. */
int vg_local_new(struct vg_local **out, const struct vg_local_cfg *cfg, const char *host,
                 vg_local_send_fn send, void *ud, char *err, size_t errlen);

void vg_local_free(struct vg_local *l);

/* flush (NULL: none) is called with send's ud once at the end of every tick that sent
 * something (or whose last flush failed), before state_path is rewritten: the notifications of the
 * tick are then durable before the file says they were sent (a crash in between replays a firing
 * the file lacks, which the agent drops, rather than leaving a sent alert without its
 * notification), at the cost of one fdatasync per tick rather than one per notification (a storm of
 * N alerts in one tick cost N, on the thread that pets the watchdog). release (NULL: none) is
 * called after state_path is rewritten, at the end of every tick that sent something: only then
 * may the receiver get the tick's notifications, so that it never has a firing from an alert
 * the file does not name (a crash before the write: the next start would not know it, and
 * never resolve it). When the write fails they are released all the same, logged once until a
 * write works and counted in unsaved_sent (docs/reliability.md says why). */
void vg_local_set_flush(struct vg_local *l, vg_local_flush_fn flush, vg_local_release_fn release);

/* Writes state_path with the series' current detector states, for a stop: the next start then
 * goes on from them, rather than from those of the tick each alert was sent on (the file is
 * written then, so a crash loses nothing else). Does nothing without state_path or before the
 * first tick (what the file holds is still true). Failures are logged and counted; 0 or negative
 * errno. */
int vg_local_save(struct vg_local *l);

/* A delivery report succeeded at monotonic time now_ms: Kafka takes this agent's messages. */
void vg_local_kafka_ok(struct vg_local *l, int64_t now_ms);

/* A message was lost at monotonic time now_ms: refused for good by Kafka (a permanent delivery
 * error, a refused produce) or dropped as too large. The analyzer gets none of it, as it gets
 * nothing of a waiting one: until the next successful delivery this counts towards an outage. */
void vg_local_kafka_lost(struct vg_local *l, int64_t now_ms);

/* `waiting` when the caller cannot tell whether messages wait for Kafka: the spool holds records
 * but a read error holds its reader, and librdkafka's queue is empty. Those records wait on the
 * disk, and new ticks go to the spool behind them, so no delivery report comes whether Kafka is
 * up or down. The guard then neither starts nor resets its outage timer and keeps a declared
 * outage; only a delivery report since messages began to wait ends either. */
#define VG_LOCAL_WAITING_UNKNOWN UINT64_MAX

/* Whether Kafka counts as down at monotonic now_ms, with `waiting` messages not yet delivered
 * (librdkafka's queue plus the spool; VG_LOCAL_WAITING_UNKNOWN above), or messages lost since the
 * last success. Logs the start and the end of an outage once each. */
int vg_local_outage(struct vg_local *l, int64_t now_ms, uint64_t waiting);

/* Scores every selected metric of one tick (event time m->ts_ms) and sends what the gate lets
 * through; now_ms and waiting as for vg_local_outage(). */
void vg_local_tick(struct vg_local *l, const struct vg_wire_msg *m, int64_t now_ms,
                   uint64_t waiting);

/* Calls fn for every firing alert the guard holds as sent (fingerprint and starts_at as sent),
 * the orphans to be resolved on the first tick included. Right after vg_local_new() these are
 * the alerts taken over from state_path: the agent releases the firings its outbox replayed for
 * them only (vg_action adopt), as a firing the file lacks gets no resolve from this guard. */
void vg_local_each_sent(const struct vg_local *l,
                        void (*fn)(void *ud, const char *fingerprint, int64_t starts_at_ms),
                        void *ud);

void vg_local_get_stats(const struct vg_local *l, struct vg_local_stats *out);

/* Whether name is selected by the series globs (exposed for tests). */
int vg_local_selected(const struct vg_local *l, const char *name);

#endif
