/* vg_engine's internals, shared by vg_engine.c (hosts, series, scoring, rules, alerts) and
 * vg_engine_state.c (a host's state as a record, out and in). Not part of the API: include
 * vg_engine.h or vg_engine_state.h.
 */
#ifndef VG_ENGINE_INT_H
#define VG_ENGINE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "vg_engine.h"
#include "vg_rule_state.h"
#include "vg_strmap.h"

#define VG_ENGINE_MAX_GLOBS 32
/* A host's first messages here whose metric names alert.series' patterns are matched against
 * (vg_engine_process): an agent's first tick has no rates (cpu.*, net.* ...), its second has. */
#define VG_ENGINE_GLOB_CHECK_MSGS 2
_Static_assert(VG_ENGINE_MAX_GLOBS <= 32, "struct host's globs_seen has a bit per glob");

/* What the hosts checked so far say of one alert.series pattern: one that matches no series of
 * any host is most likely mistyped, and would select nothing, in silence. */
struct glob_check {
    uint64_t hosts_without; /* hosts checked whose messages had no name it matches */
    int matched;            /* some host's had one */
    int warned;             /* logged as matching nothing, before any host matched it */
};

struct sample {
    int64_t ts_ms;
    double v;
};

struct series {
    struct vg_alert alert;
    double value, score;
    int64_t seen_ms; /* event time of the host's last message that had it; 0 = not yet known */
    int warm;
    char fingerprint[17];
    /* The host's labels as they were when its alert fired, kept (malloc'd) only once they change
     * while it fires: its resolve must carry the label set it fired with, by which Alertmanager
     * knows the alert. NULL: the host's labels are still those. */
    struct vg_kvlist *fired_labels;
    /* History for rule windows: a ring of the samples of the last window_ms, kept only when a
     * rule's window reads this series (windowed, as of rule set win_gen). */
    struct sample *hist;
    uint32_t hcap, hhead, hn;
    uint32_t win_gen;
    int windowed;
    /* Detector state, detector->state_size bytes; aligned for any model's doubles. */
    _Alignas(max_align_t) unsigned char det[];
};

/* Boots of a host before its current one, remembered so that a redelivery spanning a reboot is
 * known as one (vg_engine_process). */
#define VG_ENGINE_PAST_BOOTS 4

/* Two agents under one host name (a cloned VM) take turns: each message turns from one agent's
 * boot to the other's. A reboot turns back at most once or twice (to the old boot's spooled
 * tail, its messages still in flight, and from it to the new boot); this many turns between the
 * current boot and a past one with no new boot between them make a conflict: the host then
 * follows the boot that took over last, and the other's messages are refused (vg_engine_process)
 * until a boot never seen before starts. */
#define VG_ENGINE_BOOT_RETURNS 3

struct past_boot {
    char boot[VG_WIRE_BOOT_MAX + 1];
    uint64_t last_seq; /* the highest seq of that boot processed */
};

struct host {
    struct vg_strmap series;
    char boot[VG_WIRE_BOOT_MAX + 1];
    uint64_t last_seq;
    int have_seq;
    struct past_boot past[VG_ENGINE_PAST_BOOTS]; /* most recent first */
    uint32_t n_past;
    /* Switches back to a past boot since the last boot never seen before, and whether two agents
     * claim the host (VG_ENGINE_BOOT_RETURNS), logged once. */
    uint32_t boot_returns;
    int boot_conflict, conflict_logged;
    /* Its latest message was a previous boot's late one (vg_engine_process): the next of its
     * current boot is a turn back to it, and the first of a run of late ones is logged. */
    int late_run;
    int clock_ahead; /* its latest message was stamped ahead of the analyzer's clock (logged) */
    int64_t last_ts_ms;
    int64_t interval_ms;  /* the agent's interval, from its latest message */
    int64_t swept_ms;     /* last look for stale and idle series */
    int64_t arrived_ms;   /* wall clock when its latest message was processed; 0 = restored */
    int64_t silent_since; /* wall clock its host_silent alert fired; 0 = not firing */
    /* Wall clock of its first message here when it started cold (no restored state); 0 when
     * restored (VG_ENGINE_COLD_REPEAT_MARGIN_MS). */
    int64_t cold_ms;
    /* Fingerprints of its firing alerts whose firing notification the dispatcher has not handed
     * to the receivers yet (group_wait, a silence: vg_engine_alert_notified), malloc'd. In its
     * state record ("engine.notify"), so that whoever restores the host sends them rather than
     * taking them as notified. */
    char (*unnotified)[VG_RULE_FINGERPRINT_LEN];
    uint32_t n_unnotified, cap_unnotified;
    char silent_fp[17];
    double max_score;
    int scoring; /* logged "scoring" once */
    /* alert.series' patterns (bit i: glob i) that matched a metric name of its first
     * glob_msgs messages here, checked once glob_msgs reaches VG_ENGINE_GLOB_CHECK_MSGS. */
    uint32_t globs_seen;
    uint32_t glob_msgs;
    int reserved_logged;       /* logged a refused series of a reserved name once */
    int labels_dropped_logged; /* logged a message whose labels the decoder cut once */
    int32_t partition;         /* input partition its messages arrive on; -1 unknown */
    /* Partition count its key mapped to partition under; 0 when its messages' keys did not map
     * so (another partitioner); -1 when its partition came from a restored record and no message
     * arrived here since: not checked yet, the moved callback judges the key (key_parts 0). */
    int32_t key_parts;
    /* The last count over 0 its key was found to map to partition under, here or (from its
     * record, "engine.key") at its previous owner; 0: none. It holds while the host's messages
     * arrive on the same partition, whatever counts the analyzer knows: an analyzer started after
     * partitions were added does not know the count before, under which the host's agent may
     * still send (vg_engine_host_partition_keyed). */
    int32_t keyed_parts;
    struct vg_kvlist labels; /* as in the latest message, for policies */
    /* One alert state per rule of the engine's set, in the set's order. */
    struct rstate *rs;
    size_t n_rs;
    /* Firing rule alerts it brought from a checkpoint whose rule the set lacks (malloc'd). */
    struct orphan *orphans;
    size_t n_orphans;
};

/* One rule's alert on one host. */
struct rstate {
    struct vg_rule_state st;
    char fp[VG_RULE_FINGERPRINT_LEN]; /* of the firing alert */
    struct vg_kvlist labels;          /* its labels, as they were when it fired */
    /* What it fired with, kept while it fires so that it can be stated again with the same
     * annotations once its host has moved (vg_engine_each_firing). */
    double fired_value, fired_score;
    char *fired_top; /* malloc'd; NULL = none */
};

/* A firing rule alert a host brought with it (vg_engine_host_import) whose rule this engine's set
 * does not have. The import has no one to notify, so it waits here until
 * vg_engine_resolve_orphans() (or the host's next message) resolves it, as a reload that removes
 * a rule resolves that rule's alerts: left alone, the receivers would keep it open. */
struct orphan {
    char *rule;       /* its rule's name, malloc'd */
    struct rstate rs; /* its state, fingerprint and labels */
    /* As the old owner stated it, from the record's "engine.fired" blob; NULL and empty when the
     * record has none (written by an analyzer from before it). */
    char *severity;
    struct vg_kvlist annotations; /* rendered with what it fired with */
    char **receivers;             /* its rule's actions; none: every receiver */
    size_t n_receivers;
};

struct vg_engine {
    struct vg_engine_params p;
    char *match_buf;
    char *globs[VG_ENGINE_MAX_GLOBS];
    size_t n_globs;
    struct glob_check glob_checks[VG_ENGINE_MAX_GLOBS];
    uint64_t glob_hosts_checked; /* hosts whose first messages were matched against the globs */
    char *severity;
    struct vg_strmap hosts;
    struct vg_engine_stats st;
    const struct vg_rule_set *rules;
    int64_t window_ms;  /* history kept per series a rule's window reads */
    uint32_t rules_gen; /* bumped by each vg_engine_set_rules, for series.windowed */
    int64_t latest_ts;
    /* The newest event time of a message not stamped ahead of the analyzer's clock (0: none yet):
     * what a host's quiet is measured against (host_not_reporting, vg_engine_expire_hosts). One
     * message stamped a day ahead put latest_ts there for good, and every host was quiet by event
     * time from then on, a stalled consumer's included. */
    int64_t latest_ts_timely;
    int64_t last_arrival_ms; /* wall clock of the latest message of any host */
    int64_t silent_checked_ms;
    int64_t expire_checked_ms;
    struct vg_engine_host_models hm; /* host models rules may read; score NULL = none */
    struct vg_silences *silences;    /* vg_engine_set_silences; NULL: none */
    vg_engine_moved_fn moved;        /* vg_engine_set_moved; NULL: hosts never move */
    void (*moved_gone)(void *ud, const char *host);
    void *moved_ud;
};

/* The host's entry, made (counted in hosts) when new; NULL at max_hosts (counted in
 * hosts_refused) or out of memory. Owned by e, freed with it or when the host is released. */
struct host *vg_engine_get_host(struct vg_engine *e, const char *name);
/* The series' entry in h, made with a fresh detector state when new; NULL at
 * max_series_per_host (counted in series_refused) or out of memory. Owned by h. */
struct series *vg_engine_get_series(struct vg_engine *e, struct host *h, const char *host,
                                    const char *name);
/* Frees a series (v: a struct series *), as a vg_strmap free callback. */
void vg_engine_free_series(void *v);
/* The labels s's alert is stated with: those it fired with (fired_labels), else h's. */
const struct vg_kvlist *vg_engine_series_labels(const struct host *h, const struct series *s);
/* Frees s's fired_labels (its alert resolved, or fires anew with the host's labels). */
void vg_engine_series_forget_labels(struct series *s);
/* Stable across restarts and analyzers: receivers dedupe on it (PagerDuty dedup_key etc.). */
void vg_engine_fingerprint(char out[17], const char *host, const char *series);
/* Appends a sample to s's rule-window history, forgetting those older than window_ms before ts.
 * 0 or -ENOMEM. */
int vg_engine_hist_push(struct series *s, int64_t ts, double v, int64_t window_ms);
/* Whether a rule's window reads s (name): only then are its samples kept. Found once per rule
 * set; a series no rule reads any more lets its samples go. */
int vg_engine_series_windowed(const struct vg_engine *e, struct series *s, const char *name);
/* Frees what a rule alert keeps while it fires (its labels, what it fired with); its state
 * stays. */
void vg_engine_rstate_forget_alert(struct rstate *rs);
/* Gives h one state per rule of e's set (new hosts, or after a reload). 0 or -ENOMEM. */
int vg_engine_host_fit_rules(struct vg_engine *e, struct host *h);
/* Frees h's orphans without notifying (a newer record of the host replaces them, or the host
 * goes), taking them off the firing count. */
void vg_engine_drop_orphans(struct vg_engine *e, struct host *h);
/* h's list of alerts not notified yet (struct host, unnotified): adds fp (once; 0 or -ENOMEM),
 * or removes it (1 when it was there, else 0). */
int vg_engine_unnotified_add(struct host *h, const char *fp);
int vg_engine_unnotified_del(struct host *h, const char *fp);
/* What a firing rule alert fired with, as a rule result, to render its annotations again. */
void vg_engine_fired_result(const struct rstate *rs, struct vg_rule_result *res);

#endif
