/* Actions: what the analyzer does when an alert fires or resolves. Each action type is a struct of
 * callbacks registered in vg_actions[] (vg_action.c). submit() never blocks the analyzer's consumer
 * loop: it queues, and the action's own thread delivers with timeouts and retries.
 */
#ifndef VG_ACTION_H
#define VG_ACTION_H

#include <stddef.h>
#include <stdint.h>

/* One alert transition, as the analyzer hands it to actions. Strings are only borrowed for the
 * duration of submit(); an action copies what it keeps. */
struct vg_notification {
    const char *status;    /* "firing" or "resolved" */
    const char *alertname; /* rule name; "anomaly" for the built-in per-series rule */
    const char *host;
    const char *series;      /* metric name the alert is about */
    const char *fingerprint; /* stable per (alertname, host, series): same on fire and resolve */
    const char *severity;    /* "warning", "critical", ... */
    double score;            /* anomaly score in [0,1] at this transition */
    double value;            /* the metric's value in the message that caused the transition */
    double threshold;
    int64_t starts_at_ms;          /* when the alert started firing (event time of the message) */
    int64_t ends_at_ms;            /* 0 while firing */
    int64_t event_ts_ms;           /* timestamp of the message that caused this transition */
    int64_t accepted_ms;           /* wall clock when the analyzer produced the notification */
    const char *const *label_keys; /* host labels from the wire message */
    const char *const *label_values;
    size_t n_labels;
};

struct vg_action_stats {
    uint64_t submitted;      /* accepted into the queue */
    uint64_t delivered;      /* receiver answered 2xx */
    uint64_t attempt_errors; /* attempts that failed (network, timeout, non-2xx) */
    uint64_t retries;        /* attempts after the first */
    uint64_t dropped;        /* given up on: attempts exhausted or a permanent 4xx */
    uint64_t queue_full;     /* refused at submit because the queue was full */
    uint64_t queued;         /* waiting now */
};

struct vg_webhook_cfg {
    const char *url;
    int64_t timeout_ms;         /* whole request; default 5000 */
    int64_t connect_timeout_ms; /* default 2000 */
    int max_attempts;           /* default 8 */
    int64_t backoff_initial_ms; /* default 500; doubles per attempt, with +-20 % jitter */
    int64_t backoff_max_ms;     /* default 30000 */
    size_t queue_max;           /* default 10000 notifications */
};

struct vg_action {
    const char *name;
    const char *help;
    /* Starts the action (its delivery thread). *inst is released by destroy(). */
    int (*create)(void **inst, const struct vg_webhook_cfg *cfg, char *err, size_t errlen);
    /* Queues a deep copy of n and returns at once: 0, -ENOBUFS when the queue is full (counted in
     * queue_full) or -ENOMEM when the copy cannot be allocated. */
    int (*submit)(void *inst, const struct vg_notification *n);
    void (*stats)(void *inst, struct vg_action_stats *out);
    /* Waits up to drain_ms for the queue to empty, then stops the thread and frees inst. */
    void (*destroy)(void *inst, int64_t drain_ms);
};

extern const struct vg_action *const vg_actions[];
const struct vg_action *vg_action_find(const char *name);

/* Builds the generic webhook JSON body for n (docs/alerts.md). Returns a malloc'd NUL-terminated
 * string the caller frees, or NULL on allocation failure. */
char *vg_notification_to_json(const struct vg_notification *n);

#endif
