/* The analyzer's multivariate side: host groups, each one vg_mv model with shared weights, fed
 * one tick of each host's metrics by name.
 *
 * A group's metric set (its model's columns) is fixed by the first host that reports into it:
 * its metric names as the `metrics` patterns pick and order them (vg_colsel.h), up to
 * max_metrics. Later hosts' metrics outside the set are ignored (and counted), metrics they lack
 * are missing (NaN) for the model.
 *
 * Ticks and steps: a host's report goes into its own queue of at most queue_ticks ticks, and a
 * group steps (one batched call over all its hosts) on the front tick of every host's queue;
 * hosts with nothing queued give a row of missing values. With step_when_complete, a group steps
 * as soon as every host of it that is neither absent nor resting has a tick queued, again while
 * that holds, so
 * hosts whose ticks arrive in any interleaving (a backlog read one partition at a time) are
 * stepped in lockstep, exactly as if they had arrived tick by tick. A host that reports while its
 * queue is full forces a step first (counted); a host that had no tick in a step is absent: the
 * group no longer waits for it until it reports again, so a host that stopped delays its group
 * once, by about queue_ticks ticks. A host with a longer interval than its group's (by its own
 * event times) rests between its ticks: not waited for, nor absent (vg_fleet.c rest_or_wait).
 * Every tick put is stepped, so scored, exactly once, whatever its event time (a host's clock may
 * step back); the caller skips redeliveries (by boot and sequence: vg_model_run_feed).
 * vg_fleet_step() steps once every group with a tick queued.
 * Lockstep is by position in the queues, not by time: a host joins its group on the others' next
 * tick. Hosts that are known and at most queue_ticks apart are stepped together; hosts first seen
 * a partition at a time on a backlog (an analyzer starting without restored hosts) are not, the
 * first ones having stepped past the ticks of the later ones, which wait for a forced step.
 * Memory: queue_ticks x max_metrics floats and queue_ticks event times per host.
 *
 * Host scores: with host_score set, every warm host's per-metric residuals of a step go through
 * its own vg_hscore (detectors/vg_hscore.h: error scales, top-k, smoothing, SPOT calibration,
 * blame), the code `vigilctl eval smd` scores with, and each result carries the calibrated score
 * and the metrics ranked by blame.
 *
 * Checkpoints: one file per group, DIR/<group>.ckpt, written atomically by vg_fleet_save() and
 * read by vg_fleet_load() at start (vg_fleet_ckpt.h); with host_score they hold every host's
 * vg_hscore state too (its calibration survives a restart). A file that is corrupt, truncated, of
 * another format version or of another model shape is refused with its reason logged and counted;
 * that group starts fresh.
 *
 * Not thread-safe: the analyzer's consumer thread drives it (API readers hold the analyzer lock).
 */
#ifndef VG_FLEET_H
#define VG_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "vg_hscore.h"
#include "vg_k.h"
#include "vg_mv.h"
#include "vg_wire.h"

/* Hosts found_on_second_tick remembers at most, without max_hosts. */
#define VG_FLEET_FIRST_SEEN_MAX 65536

struct vg_fleet_params {
    struct vg_mv_params mv; /* n_metrics is ignored: each group takes its own */
    const char *dir;        /* checkpoint directory; NULL or "" = no checkpoints */
    uint32_t max_metrics;   /* columns per group at most */
    const char *metrics;    /* which metrics become columns, in what order (vg_colsel.h);
                               NULL or "" = all, by name */
    uint32_t max_groups;
    uint32_t max_hosts; /* over all groups */
    int train;          /* learn online (VG_MV_TRAIN) */
    /* Step a group as soon as every host of it that is not absent has a tick queued, rather
     * than waiting for a full queue or vg_fleet_step() (the analyzer, where each message is a
     * host's tick). */
    int step_when_complete;
    /* Ticks a host may have queued before its group steps without the hosts that are behind:
     * the lockstep a lagging reader keeps, for that many floats per host and metric. 0 = 1 (a
     * second report steps the group). */
    uint32_t queue_ticks;
    /* Score every warm host through its own vg_hscore with these parameters (hs). */
    int host_score;
    struct vg_hscore_params hs;
    /* A new group is founded by its first host's second tick, not its first (that first tick is
     * dropped). An agent's first message after it starts has none of its rates (a counter needs
     * two readings, collectors/vg_rate.h), and a group's columns are its founder's for good: a
     * group founded on it modelled no cpu, disk or network (the analyzer). */
    int found_on_second_tick;
};

/* One host's result of a step. Strings belong to the fleet and live until it is freed. */
struct vg_fleet_score {
    const char *group;
    const char *host;
    float score;   /* raw (vg_mv.h); NaN when the host did not report this tick */
    int64_t ts_ms; /* event time of the host's tick stepped (vg_fleet_put_at); 0 = none */
    uint32_t age;
    int warm; /* its window holds only its own ticks: scores are meaningful */
    uint32_t n_top;
    const char *top[VG_MV_TOPK_MAX]; /* metric names, most anomalous first */
    float top_err[VG_MV_TOPK_MAX];
    /* Host score (host_score): hs_rc is vg_hscore_update's last return (0: hs_score is the
     * calibrated score; -EAGAIN: still fitting or calibrating; -ENOENT: none yet), hs_raw its
     * uncalibrated score (NaN while fitting), and the hs.top_k metrics most to blame with their
     * blame (vg_hscore), highest first. */
    int hs_rc;
    double hs_score, hs_raw;
    uint32_t n_blame;
    const char *blame_top[VG_MV_TOPK_MAX];
    double blame[VG_MV_TOPK_MAX];
};

typedef void (*vg_fleet_score_fn)(void *ud, const struct vg_fleet_score *s);

struct vg_fleet_stats {
    uint64_t groups, hosts, steps;
    uint64_t ticks_put;       /* host ticks accepted */
    uint64_t hosts_refused;   /* beyond max_hosts or max_groups, too few metrics, no memory */
    uint64_t metrics_ignored; /* values of metrics outside their group's set */
    uint64_t ckpt_loaded;     /* groups resumed from a checkpoint */
    uint64_t ckpt_refused;    /* checkpoint files refused (corrupt, version, shape) */
    uint64_t ckpt_saved;
    /* Hosts that changed group label: dropped from the old group, new in the one named now. */
    uint64_t hosts_regrouped;
    uint64_t steps_forced;     /* steps because a host's queue was full */
    uint64_t ticks_queued;     /* host ticks queued, not yet stepped, now */
    uint64_t ticks_queued_max; /* the most ever queued at once */
    uint64_t hosts_absent;     /* hosts their group does not wait for, now */
    /* Groups started fresh because a host that reported finite values scored NaN (vg_fleet.c,
     * step_group): a model fault, never expected. */
    uint64_t model_resets;
    /* Host calibrations learned again because their burst gate stayed closed
     * VG_HSCORE_RELEARN_TICKS steps in a row (vg_hscore.h): the raw score's usual level had risen
     * past the calibration's tail threshold. A few per host of a new group, as its model improves;
     * a steady rate means the hosts' level keeps changing. */
    uint64_t calib_relearned;
};

struct vg_fleet;

/* Creates an empty fleet on backend k (not owned). fn (may be NULL) is called for every host
 * of every group step. Free with vg_fleet_free(). */
int vg_fleet_new(struct vg_fleet **out, const struct vg_fleet_params *p, struct vg_k *k,
                 vg_fleet_score_fn fn, void *ud, char *err, size_t errlen);
void vg_fleet_free(struct vg_fleet *f);

/* Queues one tick of host (in group, NULL = "default"), of event time ts_ms (given back with its
 * score), and steps its group as the header comment says. A host whose group differs from the
 * one it is in leaves that one (logged, counted in hosts_regrouped) and joins this. Returns 0, 1
 * when refused (limits, too few metrics, no memory for its rows or its new group's model; counted),
 * or a negative code with a message (backend failure). */
int vg_fleet_put_at(struct vg_fleet *f, const char *group, const char *host, int64_t ts_ms,
                    const struct vg_metric *metrics, size_t n, char *err, size_t errlen);
/* vg_fleet_put_at() with event time 0. */
int vg_fleet_put(struct vg_fleet *f, const char *group, const char *host,
                 const struct vg_metric *metrics, size_t n, char *err, size_t errlen);

/* Steps once every group that has a tick queued. Returns 0 or a negative code with a message. */
int vg_fleet_step(struct vg_fleet *f, char *err, size_t errlen);

/* The last result of a host; returns 0 or -ENOENT. */
int vg_fleet_host(const struct vg_fleet *f, const char *host, struct vg_fleet_score *out);

/* Scale-out: one host's state in its group, to move it to another analyzer's fleet. */
struct vg_fleet_host_state {
    const char *group;
    const char *const *cols; /* the group's m metric names, in column order */
    uint32_t m;
    float *row; /* vg_mv_host_floats() floats (vg_mv_host_get) */
    size_t n_floats;
    uint32_t age, phase;
    unsigned char *hscore; /* vg_hscore_pack() bytes of its host score; NULL without host_score */
    size_t hscore_len;
    /* Its ticks queued and not yet stepped, oldest first: n_queued x m values (NaN = missing)
     * and their event times. Offsets are committed past them, so they travel with the host. */
    uint32_t n_queued;
    float *queued;
    int64_t *queued_ts;
};
/* Fills out; out->row, out->hscore, out->queued and out->queued_ts are malloc'd (the caller
 * frees them; the last two NULL when nothing is queued), group and cols are the fleet's, valid
 * until it changes. 0, -ENOENT (host not modelled) or a negative code with a message. */
int vg_fleet_host_export(const struct vg_fleet *f, const char *host,
                         struct vg_fleet_host_state *out, char *err, size_t errlen);
/* Continues host from such a state, replacing what the fleet had of it. A group this fleet does
 * not have yet is made from in->cols with initial weights; *fresh = 1 when the host's group here
 * has not stepped yet (its weights are the initial ones): the host score then starts over, since
 * it calibrated residuals of other weights. Refused, with a message, when the group
 * here models other metrics or another shape, or at the limits. The host's queued ticks are
 * queued here as if it had just reported them (its group may step). */
int vg_fleet_host_import(struct vg_fleet *f, const char *host, const struct vg_fleet_host_state *in,
                         int *fresh, char *err, size_t errlen);
/* Forgets host (the last host of its group takes its row). 0 or -ENOENT. */
int vg_fleet_host_drop(struct vg_fleet *f, const char *host);
/* Forgets every host keep(ud, host) returns 0 for (vg_fleet_host_drop). Returns how many went
 * (0 too when out of memory: a later call takes them). */
size_t vg_fleet_hosts_prune(struct vg_fleet *f, int (*keep)(void *ud, const char *host), void *ud);

void vg_fleet_get_stats(const struct vg_fleet *f, struct vg_fleet_stats *out);

#endif
