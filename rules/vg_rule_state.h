/* The life of one alert (one rule on one host): inactive -> pending -> firing -> resolved.
 *
 * Time is event time: the timestamps of the messages the condition was evaluated on, so a
 * replay of recorded data behaves like the live stream, and the analyzer's own clock never
 * matters.
 *
 *   inactive/resolved  condition true: pending; firing at once when for_ms is 0
 *   pending            condition false: inactive (nothing was sent, nothing to resolve);
 *                      true for for_ms since it became pending: firing
 *   firing             condition false for keep_firing_for_ms since it was last true:
 *                      resolved; at once when keep_firing_for_ms is 0
 *
 * keep_firing_for is the hysteresis against flapping: a condition that drops out for a tick or
 * two does not resolve the alert, only one that stays false for that long does. A timestamp
 * older than the previous one (a host clock stepped back) restarts whatever wait is running from
 * that timestamp instead of being ignored, so an alert cannot get stuck. Waits count observed
 * time only: a step of more than gap_ms from the previous evaluation (the host rebooted or
 * stopped, or one message was stamped far ahead) restarts a running `for` or `keep_firing_for`
 * wait at the new one (vg_event_gap). A resolve is never stamped before its fire.
 */
#ifndef VG_RULE_STATE_H
#define VG_RULE_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "vg_config.h"

enum vg_rule_state_kind {
    VG_RULE_STATE_INACTIVE = 0,
    VG_RULE_STATE_PENDING,
    VG_RULE_STATE_FIRING,
    VG_RULE_STATE_RESOLVED,
};

enum vg_rule_state_event {
    VG_RULE_EV_NONE = 0,
    VG_RULE_EV_PENDING,  /* became pending */
    VG_RULE_EV_FIRED,    /* send a "firing" notification */
    VG_RULE_EV_RESOLVED, /* send a "resolved" notification */
};

/* Zero-initialise (= inactive). */
struct vg_rule_state {
    enum vg_rule_state_kind state;
    int64_t active_since; /* pending or firing: when the condition became true */
    int64_t fired_at;     /* firing, resolved: when it fired */
    int64_t last_true;    /* firing: the latest timestamp the condition was true at, or the
                           * end of a gap (keep_firing_for counts from it) */
    int64_t resolved_at;  /* resolved: never before fired_at */
    int64_t last_ts;      /* of the previous step; 0 before the first */
};

/* Feeds the condition's value at event time ts_ms; returns the transition it caused. gap_ms: the
 * longest step between two evaluations a wait counts (0 = any); the analyzer passes its stale
 * limit for the host, vg_alert_unreported_limit(alert.stale_after, interval, 3). */
enum vg_rule_state_event vg_rule_state_step(struct vg_rule_state *s, int64_t for_ms,
                                            int64_t keep_firing_for_ms, int64_t gap_ms, int cond,
                                            int64_t ts_ms);

const char *vg_rule_state_name(enum vg_rule_state_kind k);

#define VG_RULE_FINGERPRINT_LEN 17 /* 16 hex digits and the NUL */

/* The alert's identity: 16 hex digits of a 64-bit FNV-1a hash of the rule name and the label
 * set, sorted by label name (the order of `labels` does not matter; it is not changed). It
 * depends on nothing else, so it is the same on fire and resolve, across restarts and across
 * analyzers, and receivers can pair and dedupe on it. */
void vg_rule_fingerprint(const char *rule, const struct vg_kv *labels, size_t n,
                         char out[VG_RULE_FINGERPRINT_LEN]);

#endif
