/* The analyzer's scoring engine: per host and series, a detector state and an alert state.
 * It is fed decoded wire messages one by one, in the order Kafka delivers them per host, and
 * calls back for every alert transition. It knows nothing of Kafka or HTTP, so tests and
 * `vigilctl replay` drive it directly.
 */
#ifndef VG_ENGINE_H
#define VG_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "vg_action.h"
#include "vg_alert.h"
#include "vg_detector.h"
#include "vg_expr.h"
#include "vg_rule.h"
#include "vg_wire.h"

struct vg_engine_params {
    const struct vg_detector *detector;
    struct vg_detector_params dp;
    struct vg_alert_params ap;
    const char *series_match; /* comma-separated shell globs of series to alert on; NULL = all */
    const char *severity;     /* severity label of the built-in rule */
    int no_builtin;           /* turn the built-in per-series rule off (rule files replace it) */
    size_t max_hosts;         /* beyond this, new hosts are refused and counted */
    size_t max_series_per_host;
    /* Event time after which a series its host no longer reports is stale: its firing built-in
     * alert resolves and rules read it as missing (at least 3 of the host's intervals; 0 =
     * never). Also the longest step between two messages that alert waits count (vg_event_gap):
     * a longer one restarts them. */
    int64_t stale_ms;
    /* ... and after which it is forgotten, state freed (at least 10 intervals; 0 = never). */
    int64_t idle_ms;
    /* Wall-clock time without a message after which a host fires the `host_silent` alert
     * (vg_engine_check_silent; at least 3 of its intervals); 0 = off. */
    int64_t silent_ms;
    /* Wall-clock time without a message after which a host is forgotten with all its state
     * (vg_engine_expire_hosts; at least 10 of its intervals); 0 = never. */
    int64_t host_idle_ms;
    /* Wall clock in ms (tests pass their own); NULL = vg_now_ms. */
    int64_t (*clock)(void);
};

struct vg_engine_stats {
    uint64_t messages;        /* processed */
    uint64_t duplicates;      /* same boot, sequence not newer: skipped (redelivery) */
    uint64_t seq_gaps;        /* messages missing between two of a boot */
    uint64_t samples_scored;  /* values scored */
    uint64_t samples_warming; /* values learned before their series could score */
    uint64_t alerts_fired;
    uint64_t alerts_resolved;
    uint64_t hosts_refused;  /* messages from hosts beyond max_hosts */
    uint64_t series_refused; /* values of series beyond max_series_per_host */
    /* values of series whose names are reserved (VG_WIRE_RESERVED_PREFIX, "host:"): a rule's
     * value("host:NAME") reads host model NAME, never a series */
    uint64_t series_reserved;
    /* labels past the 64 a message keeps (vg_wire.h: n_labels_dropped), of agents from before
     * the limit: the first 64 are used */
    uint64_t labels_dropped;
    uint64_t hosts;
    uint64_t series;
    uint64_t firing;             /* alerts firing now */
    uint64_t rule_evals;         /* rule conditions evaluated */
    uint64_t rule_eval_errors;   /* evaluations a callback failed (out of memory) */
    uint64_t hosts_cold_started; /* hosts first seen here with no restored state, or restored
                                  * without their detector states: warm up */
    uint64_t hosts_released;     /* hosts dropped because their partition moved elsewhere */
    /* Hosts released because their key maps to another member's partition now (partitions
     * added to the metrics topic), once they stopped arriving here: no host_silent. */
    uint64_t hosts_moved;
    /* Pending and firing rule alerts restored with their host (state topic); pending ones
     * skipped because this engine's rule set has no rule of that name; firing ones of such a
     * rule, resolved (vg_engine_resolve_orphans). */
    uint64_t rule_states_restored, rule_states_skipped, rule_states_resolved;
    uint64_t alerts_stale_resolved; /* built-in alerts resolved because their series went stale */
    uint64_t series_expired;        /* series forgotten after stale_ms/idle_ms unreported */
    uint64_t hosts_silent;          /* hosts whose host_silent alert fires now */
    uint64_t hosts_expired;         /* hosts forgotten after host_idle_ms without a message */
    /* Messages (not redeliveries) with an event time before their host's previous one: its
     * clock stepped back (NTP, a VM restored, an RTC before NTP at boot). Processed as any
     * other; each logged (rate-limited). */
    uint64_t clock_steps_back;
    /* Messages of one of their host's previous boots (VG_ENGINE_PAST_BOOTS) that came after a
     * newer boot's, not redeliveries: the agent's spool replayed after a reboot. No clock step:
     * the host stays on its newer boot, whose detectors and rule windows they are kept from (the
     * history records them in their place, vg_history_record); the first of a run is logged. */
    uint64_t previous_boot_late;
    /* Messages refused because two agents claim one host name (a cloned VM: two boot ids taking
     * turns, VG_ENGINE_BOOT_RETURNS): those of the boot that did not take over last; the first
     * of each host is logged. */
    uint64_t boot_conflicts;
    /* Messages stamped more than VG_FMT_CLOCK_TOLERANCE_MS ahead of the analyzer's clock: their
     * host's clock is fast (each time a host becomes so, logged). */
    uint64_t clock_ahead;
    /* alert.series patterns that matched no metric name of any host checked so far (a host's
     * first VG_ENGINE_GLOB_CHECK_MSGS messages here): most likely mistyped. Each is logged once,
     * with the first host it missed; one that matches a later host's is no longer counted. */
    uint64_t alert_series_unmatched;
};

typedef void (*vg_engine_notify_fn)(void *ud, const struct vg_notification *n);

struct vg_engine;

/* Creates an engine; strings in p are copied. Free with vg_engine_free(). */
int vg_engine_new(struct vg_engine **out, const struct vg_engine_params *p, char *err,
                  size_t errlen);

/* Scores every metric of m and calls fn for each alert transition. A metric whose name is
 * reserved (vg_wire_name_reserved) is refused: counted in series_reserved and logged once per
 * host; so are the labels the decoder left out (labels_dropped). A late message of one of the
 * host's previous boots (previous_boot_late) is taken note of (its boot's sequence) and not scored:
 * the host stays on its newer boot. Returns 0, 1 when m was skipped (a duplicate, another agent's
 * under the same host name, or a new host beyond max_hosts, counted in hosts_refused:
 * vg_engine_is_duplicate), or -ENOMEM. */
int vg_engine_process(struct vg_engine *e, const struct vg_wire_msg *m, vg_engine_notify_fn fn,
                      void *ud);

void vg_engine_get_stats(const struct vg_engine *e, struct vg_engine_stats *out);

/* Writes the key=value fields of st an operator reads in the analyzer's periodic stats line about
 * what its hosts' agents do wrong (two agents under one name, clocks ahead or stepping back),
 * hosts released to another analyzer's partition and alert.series patterns that match nothing,
 * so that these show without /metrics. Returns
 * what snprintf returns. */
int vg_engine_stats_fields(const struct vg_engine_stats *st, char *buf, size_t len);

/* The alert of a host that stopped sending (VG_ENGINE_SILENT_ALERT): fires for a host whose last
 * message arrived more than silent_ms ago (wall clock; at least 3 of its intervals), and only
 * while other hosts' messages still arrive (within silent_ms / 2), so that a stalled consumer or
 * broker does not page for every host at once. The host's next message resolves it. Call about
 * once a second; it looks at the hosts at most once a second. */
#define VG_ENGINE_SILENT_ALERT "host_silent"
void vg_engine_check_silent(struct vg_engine *e, vg_engine_notify_fn fn, void *ud);

/* With host_silent off, how recently some host's message must have arrived for the others'
 * silence to count (vg_engine_expire_hosts). */
#define VG_ENGINE_FLOW_MS 300000

/* A host first seen here with no state (vg_engine_process) may have moved from another analyzer
 * (partitions added to the metrics topic), which resolves the host's alerts when it releases it
 * (vg_engine_set_moved): one silent_ms (at least 3 of the host's intervals; host_idle_ms when
 * host_silent is off) after the host's last message there, at the check that runs about once a
 * second, and its receivers deliver that resolve later still when they retry or queue. An alert
 * the host fires here before the resolve may be one of those, which the resolve would close at
 * the receivers while it fires here. So each firing of such a host within that time plus this
 * margin of its first message here carries vg_notification.repeat_once_at_ms, that time plus
 * the margin: its firing notification goes out once more then if it still fires (vg_dispatch).
 * The margin covers the old owner reading the host's last messages later than this one reads
 * its first (consumer lag) and its receivers' first retries. */
#define VG_ENGINE_COLD_REPEAT_MARGIN_MS 90000

/* Forgets the hosts that have sent nothing for host_idle_ms (at least 10 of their intervals) by
 * the wall clock, and by event time too (the latest message of any host is that much newer than
 * theirs), while other hosts' messages still arrive: a fleet whose names come and go (autoscaled
 * VMs, pods) does not grow the host table and fill max_hosts. Each alert such a host still fires
 * (built-in, rule, host_silent) is resolved through fn first, since nothing would resolve it
 * later; then gone (may be NULL) is called with the host's name, and the host is freed with its
 * series, detector and rule state (counted in hosts_expired). A host that sends again later
 * starts cold. Call about once a second; it looks at the hosts at most once a second. Returns how
 * many hosts were forgotten. */
size_t vg_engine_expire_hosts(struct vg_engine *e, vg_engine_notify_fn fn,
                              void (*gone)(void *ud, const char *host), void *ud);

/* Calls fn with a "firing" notification for every alert that fires now (built-in, rule and
 * host_silent), as when it fired: its labels, starts_at, value and score, a rule's annotations
 * rendered with what it fired with, and repeat_once_at_ms when its host started cold recently
 * (here, or at the analyzer whose record restored it: VG_ENGINE_COLD_REPEAT_MARGIN_MS). For the
 * alerts a host brought with it from a checkpoint (vg_engine_host_import, vg_engine_state.h), which
 * this process never notified: the analyzer hands them to its dispatcher so that they are listed,
 * repeated and kept alive at their receivers. Nothing is counted or logged. Returns how many. */
size_t vg_engine_each_firing(struct vg_engine *e, vg_engine_notify_fn fn, void *ud);

/* The dispatcher handed the firing notification of alert fp (a fingerprint) of host to the
 * receivers. Until then a firing alert counts as not notified, and its host's state record says
 * so ("engine.notify", vg_engine_state.c): whoever restores the host (this analyzer after a
 * kill -9, the partition's next owner) sends its firing rather than taking it as sent
 * (vg_engine_alert_is_notified). May be called from within a notify callback. Returns 1 when the
 * alert was waiting for it (the host's record changes: checkpoint it), 0 when not, -ENOENT for a
 * host not held. */
int vg_engine_alert_notified(struct vg_engine *e, const char *host, const char *fp);

/* 0 when alert fp of host fires and its firing notification was not handed to the receivers
 * (vg_engine_alert_notified), here or by the analyzer whose record restored the host; 1
 * otherwise, also for a record from before the analyzer kept this, whose alerts are taken as
 * notified. */
int vg_engine_alert_is_notified(const struct vg_engine *e, const char *host, const char *fp);

/* Resolves, through fn, the firing rule alerts that restored hosts brought with them
 * (vg_engine_host_import) whose rule this engine's set lacks, as vg_engine_set_rules() resolves
 * those of a rule a reload removes: same fingerprint, labels, starts_at, and the severity,
 * annotations and receivers the old owner stated them with (when its record carried them), at
 * the host's latest event time. Each is logged and counted (rule_states_resolved,
 * alerts_resolved) once. Call after a restore; a host's next message resolves its own first if
 * this was not called. Returns how many. */
size_t vg_engine_resolve_orphans(struct vg_engine *e, vg_engine_notify_fn fn, void *ud);

/* What the API shows of one host. */
struct vg_engine_host {
    const char *name;
    const char *boot;
    uint64_t last_seq;
    int64_t last_ts_ms; /* event time of the last message */
    double max_score;   /* highest series score in the last message */
    size_t n_series;
};

struct vg_engine_series {
    const char *name;
    double value; /* last value */
    double score; /* last score; 0 while warming up */
    int warm;
    enum vg_alert_state state;
};

/* Calls fn for every host. The engine must not change meanwhile (the caller holds its lock). */
void vg_engine_each_host(const struct vg_engine *e,
                         void (*fn)(void *ud, const struct vg_engine_host *h), void *ud);

/* Describes one host and calls fn for each of its series. Returns 0 or -ENOENT. */
int vg_engine_describe_host(const struct vg_engine *e, const char *host, struct vg_engine_host *out,
                            void (*fn)(void *ud, const struct vg_engine_series *s), void *ud);

/* Makes the engine evaluate the rules of set (NULL: none) after scoring each message, as well as
 * or instead of (params.no_builtin) the built-in rule. The set is borrowed: keep it alive until
 * it is replaced by another call or the engine is freed. Alert state of rules that keep their
 * name carries over (a reload does not re-fire what fires), and so does every detector's
 * baseline; alerts firing for rules the new set lacks are resolved through fn at their host's
 * latest event time. Series history is kept for the set's longest window. 0 or -ENOMEM (the old
 * rules then stay). */
int vg_engine_set_rules(struct vg_engine *e, const struct vg_rule_set *set, vg_engine_notify_fn fn,
                        void *ud);

/* Host models (analyzer/vg_models.c): rules read a host model's score as value("host:NAME")
 * (e.g. value("host:mv") > 0.999), and an alert whose rule read one names that model's top
 * metrics rather than the top-scoring series. score: 0 or -ENOENT; top: how many it filled. */
struct vg_engine_host_models {
    void *ud;
    int (*score)(void *ud, const char *host, const char *model, double *out);
    size_t (*top)(void *ud, const char *host, const char *model, const char **names, double *shares,
                  size_t max);
};
/* hm is copied; NULL turns host models off. */
void vg_engine_set_host_models(struct vg_engine *e, const struct vg_engine_host_models *hm);

/* A host counts towards scaling measurements only while it reports: its latest message is at
 * most this many of its intervals old, and at least VG_ENGINE_REPORTING_MIN_MS (see
 * vg_engine_each_host_env). */
#define VG_ENGINE_REPORTING_INTERVALS 3
#define VG_ENGINE_REPORTING_MIN_MS    10000

/* Silences (borrowed, NULL: none) that vg_engine_each_host_env consults: an alert an active
 * silence matches holds no scale-in. Same locking as the engine's other calls. */
struct vg_silences;
void vg_engine_set_silences(struct vg_engine *e, struct vg_silences *sil);

/* alerting as vg_engine_each_host_env states it: no alert fires (that no active silence
 * matches), or the highest severity (enum vg_rule_severity) among those that fire. A per-series
 * alert has the severity alert.severity names; one the rules do not know counts as critical. */
#define VG_ENGINE_ALERTING_NONE      0
#define VG_ENGINE_ALERTING(severity) ((int)(severity) + 1)

/* Calls fn for every host with the data rules read (for scaling policies): its labels, an
 * expression environment at its latest event time, its alerting level (VG_ENGINE_ALERTING: the
 * highest severity of its firing alerts, a per-series or a rule's, that no active silence of
 * vg_engine_set_silences matches), and its input partition (vg_engine_host_partition; -1
 * unknown). Not
 * for a host that no longer reports: its host_silent alert fires, or its latest message is more
 * than VG_ENGINE_REPORTING_INTERVALS of its intervals (at least VG_ENGINE_REPORTING_MIN_MS) old
 * both by the wall clock (arrival) and by event time (the newest message of any host not stamped
 * more than VG_FMT_CLOCK_TOLERANCE_MS ahead of the engine's clock, while one came). Same
 * locking as vg_engine_each_host(). */
typedef void (*vg_engine_env_fn)(void *ud, const char *host, const struct vg_label *labels,
                                 size_t n_labels, const struct vg_expr_env *env, int alerting,
                                 int32_t partition);
void vg_engine_each_host_env(struct vg_engine *e, vg_engine_env_fn fn, void *ud);

/* The latest event time over all hosts (0 before any message). */
int64_t vg_engine_latest_ts(const struct vg_engine *e);

/* 1 when vg_engine_process() would skip m or not score it: a redelivery (its boot is the host's
 * current one or one of the few before it, and its sequence is not newer than that boot's last),
 * a message of a second agent claiming the host's name (boot_conflicts), a late message of a
 * previous boot (previous_boot_late), or one of a host not held while max_hosts are
 * (hosts_refused), so that the host models do not learn it either. */
int vg_engine_is_duplicate(const struct vg_engine *e, const struct vg_wire_msg *m);

/* Scale-out (analyzer/main.c): the input partition host's messages arrive on (-1 unknown, the
 * default), so that vg_engine_release() knows which hosts leave with a revoked partition, as a
 * restored record names it: until the host's next message (vg_engine_host_partition_keyed), the
 * moved callback is asked with the count the record says the key mapped there under, or with
 * key_parts 0 when it says none (written by an analyzer from before it kept that). 0 or
 * -ENOENT. */
int vg_engine_host_partition(struct vg_engine *e, const char *host, int32_t partition);

/* vg_engine_host_partition(), and key_parts: the metrics topic's partition count under which
 * the host's key maps to partition by its producer's partitioner (checked by the caller on the
 * message), 0 when it does not under any count the caller knows; then the count it was last
 * found under for this partition (here, or by its record at its previous owner) still holds, and
 * is kept: a caller started after the count changed does not know the one before. */
int vg_engine_host_partition_keyed(struct vg_engine *e, const char *host, int32_t partition,
                                   int32_t key_parts);

/* Whether a host that stopped arriving moved to another member's partition (scale-out: the
 * metrics topic got more partitions, and its key maps elsewhere now): the partition it moved to,
 * or -1 (not moved: it is silent). partition and key_parts: as the host's last message noted,
 * or its record (vg_engine_host_partition); key_parts 0 for a host restored with a record that
 * names no count and silent since, whose key the callback checks itself. Hosts whose messages'
 * keys did not map are not asked. */
typedef int32_t (*vg_engine_moved_fn)(void *ud, const char *host, int32_t partition,
                                      int32_t key_parts);
/* With moved set, a host about to go silent (vg_engine_check_silent) or be forgotten
 * (vg_engine_expire_hosts) for which moved says so is released quietly instead: no host_silent,
 * no expiry; each alert it still fires (built-in, rule, a host_silent that fired before the move
 * was known, restored alerts of rules this engine lacks) is resolved through fn, since the new
 * owner started the host cold and holds none of them. One whose condition still holds there fires
 * again there under the same fingerprint and is sent once more after this resolve
 * (VG_ENGINE_COLD_REPEAT_MARGIN_MS). gone(ud, host) is called just before it goes (the caller
 * forgets it as on a revoke: no tombstone of a record that is the new owner's now). */
void vg_engine_set_moved(struct vg_engine *e, vg_engine_moved_fn moved,
                         void (*gone)(void *ud, const char *host), void *ud);

/* Drops every host whose partition is one of parts[0..n), with its series, detector and alert
 * state, without notifications: its alerts go on at the partition's new owner, which restored
 * them from the last checkpoint. fn (may be NULL) is called with each host's name just before
 * it goes. Returns how many hosts were dropped (counted in hosts_released). */
size_t vg_engine_release(struct vg_engine *e, const int32_t *parts, size_t n,
                         void (*fn)(void *ud, const char *host), void *ud);

/* Drops host with its state, without notifications or counts: a state restore that read the
 * host's record and then its tombstone (the host was forgotten; vg_state_topic.c). 0 or
 * -ENOENT. */
int vg_engine_forget_host(struct vg_engine *e, const char *host);

void vg_engine_free(struct vg_engine *e);

#endif
