#include "vg_alert.h"

#include "vg_util.h"

/* Elapsed event time, never negative (vg_alert_step rebases first, so this is a guard). */
static int64_t since(int64_t start, int64_t now)
{
    return now > start ? now - start : 0;
}

/* A wait that started after ts restarts from ts: a clock that stepped back (or one message
 * stamped in the future) must not hold the wait until the host's clock catches up with it, as
 * the rule state does (docs/rules.md). */
static void rebase(int64_t *t, int64_t ts)
{
    if (*t > ts)
        *t = ts ? ts : 1; /* below_since 0 means "not below" */
}

enum vg_alert_event vg_alert_step(struct vg_alert *a, const struct vg_alert_params *p, double score,
                                  int64_t ts_ms)
{
    int above = score >= p->threshold;
    /* Nothing was observed during a gap: a wait running across it restarts here, or two high
     * scores around a reboot would fire a `for: 5m` alert, and one stamped a day ahead too. */
    int gap = vg_event_gap(a->last_ms, ts_ms, p->gap_ms);
    a->last_ms = ts_ms;
    /* firing_since is the alert's starts_at (its identity at the receivers), not a wait: kept. */
    if (a->state == VG_ALERT_PENDING) {
        rebase(&a->pending_since, ts_ms);
        if (gap)
            a->pending_since = ts_ms;
    }
    if (a->state == VG_ALERT_FIRING && a->below_since) {
        rebase(&a->below_since, ts_ms);
        if (gap)
            a->below_since = ts_ms ? ts_ms : 1;
    }
    switch (a->state) {
    case VG_ALERT_INACTIVE:
        if (!above)
            return VG_ALERT_EV_NONE;
        a->state = VG_ALERT_PENDING;
        a->pending_since = ts_ms;
        /* A zero `for` fires on the first high score. */
        __attribute__((fallthrough));
    case VG_ALERT_PENDING:
        if (!above) {
            a->state = VG_ALERT_INACTIVE;
            return VG_ALERT_EV_NONE;
        }
        if (since(a->pending_since, ts_ms) < p->for_ms)
            return VG_ALERT_EV_NONE;
        a->state = VG_ALERT_FIRING;
        a->firing_since = ts_ms;
        a->below_since = 0;
        return VG_ALERT_EV_FIRED;
    case VG_ALERT_FIRING:
        if (above) {
            a->below_since = 0;
            return VG_ALERT_EV_NONE;
        }
        if (!a->below_since)
            a->below_since = ts_ms ? ts_ms : 1;
        if (since(a->below_since, ts_ms) < p->resolve_for_ms)
            return VG_ALERT_EV_NONE;
        a->state = VG_ALERT_INACTIVE;
        a->below_since = 0;
        return VG_ALERT_EV_RESOLVED;
    }
    return VG_ALERT_EV_NONE;
}

int64_t vg_alert_unreported_limit(int64_t ms, int64_t interval_ms, int64_t k)
{
    if (ms <= 0)
        return 0;
    return interval_ms * k > ms ? interval_ms * k : ms;
}
