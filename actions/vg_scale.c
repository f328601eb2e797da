#include "vg_scale.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int clamp(const struct vg_scale_params *p, double v)
{
    if (!(v >= p->min)) /* NaN too */
        return p->min;
    if (v > p->max)
        return p->max;
    return (int)v;
}

void vg_scale_init(struct vg_scale_state *s, const struct vg_scale_params *p, int initial)
{
    s->current = clamp(p, initial);
    s->last_change_ms = INT64_MIN;
    s->head = s->n = 0;
}

/* Adds a recommendation to the max-deque. Entries not above it are dropped: while it is in the
 * window they cannot be the maximum, and it outlives them. Timestamps are kept non-decreasing so
 * that expiry from the front stays exact; an entry older than the newest (a clock that stepped
 * back, a followed decision older than our own) takes the newest's time and so is kept longer, the
 * safe side for scale-in. Counts are distinct integers in [0, VG_SCALE_MAX_REPLICAS], so the deque
 * never fills; the check only guards the array. */
static void remember(struct vg_scale_state *s, int64_t now, int rec)
{
    if (s->n) {
        int64_t newest = s->hist[(s->head + s->n - 1) % VG_SCALE_HISTORY].ts_ms;
        if (newest > now)
            now = newest;
    }
    while (s->n && s->hist[(s->head + s->n - 1) % VG_SCALE_HISTORY].rec <= rec)
        s->n--;
    if (s->n == VG_SCALE_HISTORY) {
        s->head = (s->head + 1) % VG_SCALE_HISTORY;
        s->n--;
    }
    size_t i = (s->head + s->n) % VG_SCALE_HISTORY;
    s->hist[i].ts_ms = now;
    s->hist[i].rec = rec;
    s->n++;
}

void vg_scale_restore(struct vg_scale_state *s, const struct vg_scale_params *p, int desired,
                      int64_t changed_ms, int64_t time_ms)
{
    vg_scale_init(s, p, desired);
    s->last_change_ms = changed_ms;
    remember(s, time_ms, s->current);
}

void vg_scale_follow(struct vg_scale_state *s, const struct vg_scale_params *p, int desired,
                     int recommended, int64_t changed_ms, int64_t time_ms)
{
    s->current = clamp(p, desired);
    s->last_change_ms = changed_ms;
    remember(s, time_ms, clamp(p, recommended));
}

/* Highest recommendation within (now - window, now]; older entries are forgotten. A clock that
 * stepped back makes every entry "in the future": they are kept, the safe side for scale-in. The
 * deque is decreasing from the front, so the highest is the oldest still in the window. */
static int window_max(struct vg_scale_state *s, int64_t now, int64_t window)
{
    while (s->n && s->hist[s->head].ts_ms <= now - window && s->hist[s->head].ts_ms <= now) {
        s->head = (s->head + 1) % VG_SCALE_HISTORY;
        s->n--;
    }
    /* Back to the start of the array now and then, so that the deque stays in the pages it has
     * touched rather than walking the whole array over the months (it is mostly a few entries). */
    if (!s->n) {
        s->head = 0;
    } else if (s->head >= 256 && s->head + s->n <= VG_SCALE_HISTORY) {
        memmove(s->hist, s->hist + s->head, s->n * sizeof(s->hist[0]));
        s->head = 0;
    }
    return s->n ? s->hist[s->head].rec : INT32_MIN;
}

/* Target tracking from the replicas that report. `cur` is our own previous decision, not the
 * real count: replicas asked for but not booted yet (pending pods, images pulling) do not report,
 * so the average metric is the load of `reporting` replicas. Multiplying `cur` by it would ask
 * for ratio x more on every cooldown while the same hosts carry the same load (7 -> 11 -> 17 with
 * 10 hosts at 1.5 x target). The load measured is reporting x metric, so the replicas it needs
 * are ceil(reporting x ratio): a function of the measurement alone, which stays put until new
 * replicas report and share the load, and never goes above what the measured load needs. The
 * replicas that do not report count as carrying nothing, both ways: a pending one does not, and
 * one that stopped reporting is soon no longer measured either. That is also the load
 * divided by the target, so a metric that is not per replica (a queue's depth reported by one
 * host) gives the replicas that load needs. */
static double track_reporting(long reporting, double ratio)
{
    return ceil((double)reporting * ratio - 1e-9);
}

int vg_scale_step_why(const struct vg_scale_params *p, struct vg_scale_state *s, double metric,
                      long reporting, int cond, int64_t now_ms, const char *hold_in,
                      struct vg_scale_decision *d)
{
    int cur = s->current, rec = cur;
    d->current = cur;
    d->metric = metric;
    d->time_ms = now_ms;
    if (p->mode == VG_SCALE_TARGET) {
        if (!isfinite(metric) || !(p->target > 0)) {
            snprintf(d->reason, sizeof(d->reason), "no data: keeping %d", cur);
        } else {
            double ratio = metric / p->target;
            int within = fabs(ratio - 1) <= p->tolerance;
            if (reporting > 0 && within) {
                /* The band says the reporting hosts are about the right count, not that our
                 * previous decision is: a `cur` from `initial` or from before a reload may be far
                 * from them (4 while 10 report), and keeping it would shed the other hosts and
                 * overload the rest. Scale-in to them still waits for the stabilisation window. */
                rec = clamp(p, (double)reporting);
                snprintf(d->reason, sizeof(d->reason),
                         "metric %.6g within %.0f%% of target %.6g on %ld hosts", metric,
                         p->tolerance * 100, p->target, reporting);
            } else if (reporting > 0) {
                rec = clamp(p, track_reporting(reporting, ratio));
                snprintf(d->reason, sizeof(d->reason), "metric %.6g vs target %.6g on %ld hosts",
                         metric, p->target, reporting);
            } else if (within) {
                snprintf(d->reason, sizeof(d->reason), "metric %.6g within %.0f%% of target %.6g",
                         metric, p->tolerance * 100, p->target);
            } else {
                /* A count of 0 would make the formula stick at 0: measure from one replica. */
                double base = cur > 0 ? cur : 1;
                rec = clamp(p, ceil(base * ratio - 1e-9));
                snprintf(d->reason, sizeof(d->reason), "metric %.6g vs target %.6g", metric,
                         p->target);
            }
        }
    } else {
        if (cond > 0) {
            rec = clamp(p, (double)cur + p->step_out);
            snprintf(d->reason, sizeof(d->reason), "condition true: +%d", p->step_out);
        } else if (cond == 0) {
            rec = clamp(p, (double)cur - p->step_in);
            snprintf(d->reason, sizeof(d->reason), "condition false: -%d", p->step_in);
        } else {
            snprintf(d->reason, sizeof(d->reason), "no data: keeping %d", cur);
        }
    }
    rec = clamp(p, rec);
    d->recommended = rec;
    remember(s, now_ms, rec);
    int want = rec;
    if (rec < cur) {
        int hi = window_max(s, now_ms, p->stabilization_ms);
        if (hi > want)
            want = hi < cur ? hi : cur;
        if (want == cur) {
            size_t l = 0;
            while (d->reason[l])
                l++;
            snprintf(d->reason + l, sizeof(d->reason) - l,
                     "; scale-in held by the stabilisation window");
        }
    } else {
        window_max(s, now_ms, p->stabilization_ms); /* forget what left the window */
    }
    if (want < cur && hold_in) {
        size_t l = 0;
        while (d->reason[l])
            l++;
        snprintf(d->reason + l, sizeof(d->reason) - l, "; scale-in held: %s", hold_in);
        want = cur;
    }
    /* Event time behind the last change (a replay from committed offsets after a restart, or
     * agents' clocks behind those of the analyzer that made the change) is within the cooldown:
     * that change has just happened as far as this clock can tell, and skipping the cooldown
     * issued a new change at once. The caller counts and logs it (behind_ms). */
    d->behind_ms = s->last_change_ms != INT64_MIN && now_ms < s->last_change_ms
                       ? s->last_change_ms - now_ms
                       : 0;
    if (want != cur && s->last_change_ms != INT64_MIN &&
        (d->behind_ms || now_ms - s->last_change_ms < p->cooldown_ms)) {
        size_t l = 0;
        while (d->reason[l])
            l++;
        if (d->behind_ms)
            snprintf(d->reason + l, sizeof(d->reason) - l,
                     "; %d held by the cooldown (event time %lld ms behind the last change)", want,
                     (long long)d->behind_ms);
        else
            snprintf(d->reason + l, sizeof(d->reason) - l, "; %d held by the cooldown", want);
        want = cur;
    }
    /* min and max bind whatever held the count: a reload that lowers max below the count (or
     * raises min above it) must not leave a decision outside the policy's limits for a window,
     * a cooldown or as long as an alert fires. */
    int bounded = clamp(p, want);
    if (bounded != want) {
        size_t l = 0;
        while (d->reason[l])
            l++;
        snprintf(d->reason + l, sizeof(d->reason) - l, "; %d outside min %d, max %d: %d", want,
                 p->min, p->max, bounded);
        want = bounded;
    }
    d->desired = want;
    if (want == cur)
        return 0;
    s->current = want;
    s->last_change_ms = now_ms;
    return 1;
}

int vg_scale_step_held(const struct vg_scale_params *p, struct vg_scale_state *s, double metric,
                       int cond, int64_t now_ms, int hold_in, struct vg_scale_decision *d)
{
    return vg_scale_step_why(p, s, metric, -1, cond, now_ms,
                             hold_in ? "an alert fires on the target's hosts" : NULL, d);
}

int vg_scale_step(const struct vg_scale_params *p, struct vg_scale_state *s, double metric,
                  int cond, int64_t now_ms, struct vg_scale_decision *d)
{
    return vg_scale_step_held(p, s, metric, cond, now_ms, 0, d);
}
