/* Alert state machine for one (rule, host, series): inactive -> pending -> firing -> inactive.
 *
 * A score at or above the threshold for `for_ms` (event time, from message timestamps, so a
 * replay behaves like the live stream) fires; a score below it for `resolve_for_ms` resolves.
 * The resolve delay is the hysteresis that stops a score hovering at the threshold from
 * sending a fire/resolve pair every tick. Both waits count observed time only: a step of more
 * than `gap_ms` between two scores (the host rebooted or stopped, or one message was stamped far
 * ahead) restarts a running wait at the later score (vg_event_gap).
 *
 * Shared by the analyzer's built-in per-series rule and the agent's local guard (agent/vg_local),
 * so both decide the same way; it lives with the detectors because both link them.
 */
#ifndef VG_ALERT_H
#define VG_ALERT_H

#include <stdint.h>

enum vg_alert_state { VG_ALERT_INACTIVE = 0, VG_ALERT_PENDING, VG_ALERT_FIRING };
enum vg_alert_event { VG_ALERT_EV_NONE = 0, VG_ALERT_EV_FIRED, VG_ALERT_EV_RESOLVED };

struct vg_alert_params {
    double threshold;
    int64_t for_ms;
    int64_t resolve_for_ms;
    /* A step longer than this between two scores restarts a running wait; 0 = never. Callers
     * pass their stale limit for the series' host, vg_alert_unreported_limit(stale, interval,
     * 3): the step after which the series would count as unreported. */
    int64_t gap_ms;
};

struct vg_alert {
    enum vg_alert_state state;
    int64_t pending_since;
    int64_t firing_since;
    int64_t below_since; /* while firing: when the score first fell below; 0 = not below */
    int64_t last_ms;     /* the previous score's event time; 0 = none known (not checkpointed) */
};

/* How long a series may go unreported before it counts as gone: ms, but never fewer than k of
 * its host's intervals (an agent with a long interval must not lose its series between two
 * ticks); 0 when ms is 0 (never). The analyzer and the local guard resolve the alert of a series
 * unreported for k = 3 and forget the series at k = 10. */
int64_t vg_alert_unreported_limit(int64_t ms, int64_t interval_ms, int64_t k);

/* Feeds one score at event time ts_ms; returns the transition it caused, if any. */
enum vg_alert_event vg_alert_step(struct vg_alert *a, const struct vg_alert_params *p, double score,
                                  int64_t ts_ms);

#endif
