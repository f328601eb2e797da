/* Scaling policy maths: from a measurement to a replica count, without flapping.
 *
 * Pure functions of their inputs (the clock is an argument), so the same measurements always give
 * the same decisions and tests can feed hours of noise in microseconds. docs/scaling-actions.md
 * describes the policies; rules/ parses them and the analyzer feeds them (analyzer/vg_decisions.c).
 *
 * Each step makes a *recommendation* and then applies two brakes:
 *   - scale-in stabilisation: the count only goes down to the highest recommendation of the last
 *     stabilisation window, so one quiet measurement cannot shed capacity that the next busy one
 *     needs again (scale-out is immediate);
 *   - cooldown: after a change, the count stays put for this long whatever is recommended.
 * Target tracking also has a tolerance band: a ratio within 1 +- tolerance changes nothing.
 */
#ifndef VG_SCALE_H
#define VG_SCALE_H

#include <stddef.h>
#include <stdint.h>

enum vg_scale_mode {
    VG_SCALE_TARGET, /* target tracking: desired = ceil(replicas * metric / target) */
    VG_SCALE_STEP,   /* condition true: + step_out; false: - step_in */
};

struct vg_scale_params {
    enum vg_scale_mode mode;
    double target;    /* target tracking: the metric's value per replica to aim for (> 0) */
    double tolerance; /* target tracking: |metric / target - 1| <= tolerance changes nothing */
    int step_out;     /* step: replicas added while the condition holds */
    int step_in;      /* step: replicas removed while it does not */
    int min, max;     /* 0 <= min <= max */
    int64_t cooldown_ms;
    int64_t stabilization_ms; /* scale-in stabilisation window */
};

/* The most replicas a policy may ask for (rules/ refuses a larger min, max or initial). */
#define VG_SCALE_MAX_REPLICAS 100000

/* Scale-in stabilisation only needs the highest recommendation of the window, so the state keeps
 * a monotonic max-deque: each recommendation drops the older ones that are not above it (they can
 * never be the window's maximum again), leaving strictly decreasing counts from oldest to newest.
 * That is at most one entry per possible count, whatever the window and the evaluation interval:
 * a ring of recent recommendations instead cut a long window short. The array is large but only
 * the pages the deque reaches are touched (callers malloc the state; window_max moves the deque
 * back to the start of the array). */
#define VG_SCALE_HISTORY (VG_SCALE_MAX_REPLICAS + 1)

/* What one policy remembers between steps. Initialise with vg_scale_init(). */
struct vg_scale_state {
    int current;
    int64_t last_change_ms; /* INT64_MIN before the first change */
    struct {
        int64_t ts_ms;
        int rec;
    } hist[VG_SCALE_HISTORY];
    size_t head, n; /* ring holding the max-deque: oldest (and highest) at head */
};

/* What a step decided. */
struct vg_scale_decision {
    int current;     /* replicas before this step */
    int desired;     /* replicas after it */
    int recommended; /* the raw recommendation, before stabilisation and cooldown */
    double metric;   /* the measurement (NAN: none) */
    int64_t time_ms;
    /* How far time_ms was behind the state's last change (0: not behind); the cooldown then
     * held whatever was recommended. */
    int64_t behind_ms;
    char reason[192];
};

/* Starts at `initial`, clamped to [min, max]. */
void vg_scale_init(struct vg_scale_state *s, const struct vg_scale_params *p, int initial);

/* Continues from a decision published before a restart (the decisions topic): `desired`
 * (clamped to [min, max]) becomes the count, the cooldown runs from changed_ms (INT64_MIN: no
 * change known), and desired enters the stabilisation window at time_ms, so a restart does not
 * shed within the window what was decided before it. */
void vg_scale_restore(struct vg_scale_state *s, const struct vg_scale_params *p, int desired,
                      int64_t changed_ms, int64_t time_ms);

/* Follows a decision another analyzer made for the same target (the decisions topic, read
 * live): `desired` (clamped) becomes the count, the cooldown runs from changed_ms, and that
 * decision's recommendation enters the stabilisation window at time_ms, after what the window
 * holds already. An analyzer that becomes the target's decider then continues with the brakes
 * the previous decider had, not a fresh window. */
void vg_scale_follow(struct vg_scale_state *s, const struct vg_scale_params *p, int desired,
                     int recommended, int64_t changed_ms, int64_t time_ms);

/* One evaluation at time now_ms. Target tracking reads `metric` (NAN: no data, no change); step
 * mode reads `cond` (1 true, 0 false, -1 unknown: no change). Fills *d and returns 1 when the
 * replica count changed, 0 when it did not. */
/* The same, with hold_in set while an alert fires on the target's hosts: the count may go up
 * but not down, since an anomaly is no time to shed capacity (its recommendations still enter
 * the stabilisation window). vg_scale_step is this with hold_in 0. */
int vg_scale_step_held(const struct vg_scale_params *p, struct vg_scale_state *s, double metric,
                       int cond, int64_t now_ms, int hold_in, struct vg_scale_decision *d);

/* The same, with the reason scale-in is held in hold_in (NULL: not held), which the decision's
 * reason then gives, and `reporting`, the selected hosts the metric was averaged over (the
 * replicas that report; -1: unknown). Target tracking with reporting > 0 bases the
 * recommendation on them rather than on the previous decision: ceil(reporting x metric / target),
 * the replicas the measured load needs, or `reporting` itself within the tolerance band. So a
 * constant
 * load on a fixed set of hosts converges on one count instead of compounding on each decision
 * (docs/scaling-actions.md, "The maths"). vg_scale_step_held is this with reporting -1. */
int vg_scale_step_why(const struct vg_scale_params *p, struct vg_scale_state *s, double metric,
                      long reporting, int cond, int64_t now_ms, const char *hold_in,
                      struct vg_scale_decision *d);

int vg_scale_step(const struct vg_scale_params *p, struct vg_scale_state *s, double metric,
                  int cond, int64_t now_ms, struct vg_scale_decision *d);

#endif
