/* Actions: what the analyzer does when an alert fires or resolves. Each action type is a struct of
 * callbacks registered in vg_actions[] (vg_action.c). submit() never waits for a receiver: it
 * queues (and, with an outbox, appends to a file and fsyncs), and the action's own thread delivers
 * with timeouts, retries and a rate limit.
 */
#ifndef VG_ACTION_H
#define VG_ACTION_H

#include <stddef.h>
#include <stdint.h>

/* A metric that contributed to an anomaly, as the analyzer ranks them. */
struct vg_top_metric {
    const char *name;
    double value;        /* the metric's value at the transition */
    double contribution; /* share of the anomaly attributed to it, in [0,1] */
};

/* One alert transition, as the analyzer hands it to actions. Strings are only borrowed for the
 * duration of submit(); an action copies what it keeps. Fields after label counts are optional:
 * zero-initialised they mean "not given" and every format copes. */
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
    /* NULL: formats write "<host>: <series> anomalous (score S, value V)" */
    const char *summary;
    const struct vg_top_metric *top_metrics; /* most contributing first; NULL when not known */
    size_t n_top_metrics;
    /* A rule's rendered annotations (summary, description, ...); none for the built-in rule. */
    const char *const *annotation_keys;
    const char *const *annotation_values;
    size_t n_annotations;
    /* 0 for the first notification of a transition; N for its N-th repeat (repeat_interval):
     * part of the Idempotency-Key, so that a receiver deduping on it still sees reminders. */
    uint32_t repeat;
    /* Routing, for the analyzer only (not sent, not kept in the outbox): the receivers a rule's
     * `actions` names; NULL: every configured receiver. */
    const char *const *receivers;
    size_t n_receivers;
    /* For the analyzer only: an alert taken over while it fires (vg_dispatch_adopt), for the
     * receivers' adopt() rather than submit(). */
    int adopted;
    /* For the analyzer only (not sent, not kept in the outbox): a firing of a host its analyzer
     * started cold, whose firing notification goes out once more at this wall-clock time if it
     * still fires then (vg_dispatch_event); 0: none. */
    int64_t repeat_once_at_ms;
};

struct vg_action_stats {
    uint64_t submitted;      /* accepted into the queue */
    uint64_t delivered;      /* receiver answered 2xx */
    uint64_t attempt_errors; /* attempts that failed (network, timeout, non-2xx) */
    uint64_t retries;        /* attempts after the first */
    uint64_t dropped;        /* given up on: attempts exhausted, max_age, or a permanent 4xx */
    uint64_t queue_full;     /* refused at submit: queue or outbox full (-ENOBUFS) */
    uint64_t queued;         /* waiting now */
    uint64_t rate_limited;   /* attempts that waited for the receiver's rate limit */
    uint64_t replayed;       /* undelivered notifications loaded from the outbox at start */
    uint64_t kept;          /* undelivered at destroy() but kept in the outbox for the next start */
    uint64_t outbox_errors; /* outbox writes that failed: the notification is in memory only */
    uint64_t outbox_syncs;  /* fdatasync() calls of the outbox, and their total time: */
    uint64_t outbox_sync_us; /* the price of durability, per receiver */
    uint64_t resent;         /* alertmanager: firing alerts re-sent to keep them active */
    uint64_t tls_errors;     /* attempts that failed TLS: untrusted certificate, wrong host name,
                              * handshake (also in attempt_errors) */
    uint64_t retrying; /* queued now, failed max_attempts times and still retried (keep_retrying) */
    uint64_t expired;  /* given up on because still failing at max_age_ms (also in dropped) */
    uint64_t coalesced; /* firings not sent: their resolve arrived while they were queued */
    uint64_t redirects; /* answers 3xx, re-sends included: not followed (also in attempt_errors) */
    uint64_t held;      /* firings held back now (hold_firings), not in queued */
};

/* A receiver: where and how one action instance delivers. A field left at 0 or NULL takes the
 * default in docs/alerts.md. */
struct vg_receiver_cfg {
    const char *type; /* "webhook", "alertmanager", "pagerduty", "slack"; NULL: the action's own */
    const char *name; /* names the receiver in logs and its outbox file; default: type */
    const char *url;  /* webhook, slack: the URL; alertmanager, pagerduty: the base URL */
    /* The URL was read from a file (TYPE.url_file), as a credential: logs show
     * scheme://host[:port]/... only, whatever the type. */
    int url_hide_path;
    /* What errors about the URL call it: for one read from a file, vg_urlfile_key's "TYPE.url_file
     * (PATH)", so that the operator is sent to the file; NULL: KEY_PREFIX.url, or TYPE.url. */
    const char *url_key;
    int64_t timeout_ms;         /* whole request; default 5000 */
    int64_t connect_timeout_ms; /* default 2000 */
    /* Default 8. Without keep_retrying, a notification is dropped after this many failed
     * attempts; with it, see there. */
    int max_attempts;
    int64_t backoff_initial_ms; /* default 500; doubles per attempt, with +-20 % jitter */
    int64_t backoff_max_ms;     /* default 30000 */
    /* Default 10000 notifications queued (in memory and in the outbox); with hold_firings, as
     * many held firings besides, which have their own share of the outbox (2 x queue_max
     * records and 2 x outbox_max_bytes). */
    size_t queue_max;
    const char *secret_file;      /* webhook: HMAC-SHA256 key for X-Vigil-Signature */
    const char *routing_key_file; /* pagerduty: the integration's routing key (required) */
    double rate_per_s;            /* requests per second; 0: the type's default, < 0: unlimited */
    int burst;                    /* requests allowed back to back; 0: the type's default */
    const char *outbox_dir;       /* persistent outbox; NULL: the queue is in memory only */
    size_t outbox_max_bytes;      /* pending bytes in the outbox; default 64 MiB */
    size_t outbox_compact_bytes;  /* rewrite the outbox file beyond this size; default 4 MiB */
    const char *generator_url;    /* alertmanager generatorURL; may hold {host} and {series} */
    int64_t resend_interval_ms; /* alertmanager: re-send firing alerts this often; default 60000 */
    /* The analyzer's receivers (not alertmanager, which re-sends firing alerts and whose resolves
     * lapse at endsAt anyway): a notification that failed only with retryable errors (transport,
     * 408, 429, 5xx) is not dropped for its attempt count. After max_attempts it stops holding
     * back the notifications behind it (other alerts'; never a later one of its own alert) and
     * is retried every backoff_max until delivered, until an attempt fails once it is max_age_ms
     * old (counted in expired and dropped), or until a permanent answer. 0: dropped after
     * max_attempts (vigilctl fire-test, the agent's local alerts). */
    int keep_retrying;
    /* Age, from vg_notification.accepted_ms (or the submit when 0), past which a failed attempt
     * drops the notification (with keep_retrying, one that failed max_attempts times in this
     * process); without keep_retrying, a firing only: a resolve gets its max_attempts whatever
     * its age, as one dropped leaves its alert firing at the receiver. 0: no age limit. */
    int64_t max_age_ms;
    /* The analyzer's receivers (not alertmanager): a resolve submitted while its firing (same
     * fingerprint and starts_at, repeats included) is still queued and not being attempted takes
     * that firing's place in the queue, and the firing is not sent (acknowledged in the outbox,
     * counted in coalesced). The resolve carries starts_at, so the receiver still learns when
     * the alert began; PagerDuty then opens no incident. 0: every notification is sent. */
    int coalesce;
    /* The analyzer's receivers (not alertmanager, whose firings lapse at endsAt): a firing that
     * may be stale is held back, not sent, until adopt() says this process holds its alert as
     * firing (same fingerprint and starts_at), when it is queued again. Held are the firings the
     * outbox still holds at start, and the queued firings of a host handed over (forget_host)
     * while the receiver is failing (the one in flight too, if its attempt fails): another
     * analyzer may own the alert and have resolved it meanwhile, and a firing delivered after
     * its resolve opens an incident nothing closes. A
     * notification of the same alert submitted later takes the held one's place, past the
     * queue's limits (it is marked done in the outbox, counted in coalesced); restored() drops
     * those of the hosts this process holds that no adopt() released (coalesced); one held
     * max_age_ms is dropped, at start or while running (expired); past queue_max held the oldest
     * is dropped (dropped); at destroy() the rest stay in the outbox (kept). Counted in held.
     * 0: replayed and handed-over firings are delivered like any other. */
    int hold_firings;
    /* With hold_firings, for a caller that settles the held firings itself right after
     * create(), from its own durable record of the alerts it sent (the agent's local-alerts):
     * adopt() for each alert it holds as firing, then restored() for the rest. Their age then
     * says nothing that record does not: a replayed firing is held whatever its age (max_age_ms
     * does not drop it at the start), a held one does not expire, and an adopted one counts as
     * accepted at its adoption for max_age_ms (it is an alert the caller holds as firing now,
     * and taken over as sent, it is never sent again). 0: max_age_ms bounds held firings as
     * described above. */
    int adopt_at_start;
    /* For a caller that submits in batches (the agent's local guard, once per tick) and keeps
     * its own record of what it sent (local-alerts). With an outbox, submit() writes each
     * notification to it without waiting for its fdatasync, and flush() makes all those
     * submitted before it durable with one: a storm of N notifications costs one fdatasync, not
     * N. Until flush() a notification would not survive a power loss; a crash of the process
     * loses nothing, the page cache holds it. And, outbox or not, a submitted notification is
     * queued but not attempted until release(): the caller first makes its record durable, so
     * that a receiver never hears of a firing that a crash then leaves the caller not knowing
     * (and never resolving). 0: each submit() waits for its own fdatasync, and is attempted at
     * once. */
    int group_commit;
    /* Outgoing HTTP security (vg_httpsec.h, docs/security.md); zero: no allow-list, plain http
     * to loopback only, the system's CAs. */
    const char *allowed_urls;
    int allow_plain_http;
    const char *tls_ca_file; /* PEM bundle trusted in addition to the system's CAs */
    /* Where these settings come from, for error messages: "local.webhook" names the keys
     * local.webhook.url, local.webhook.tls_ca_file... (the agent); NULL: the analyzer's
     * TYPE.url, TYPE.secret_file, actions.tls_ca_file, actions.allow_plain_http. */
    const char *key_prefix;
    /* create() checks everything it can without starting (URL, policy, CA bundle, secret file),
     * then returns 0 with *inst NULL: for --check-config. */
    int check_only;
};

/* The receiver configuration was called this when the generic webhook was the only action. */
#define vg_webhook_cfg vg_receiver_cfg

struct vg_action {
    const char *name;
    const char *help;
    /* Starts the action (its delivery thread) after loading what its outbox still holds. *inst is
     * released by destroy(). */
    int (*create)(void **inst, const struct vg_receiver_cfg *cfg, char *err, size_t errlen);
    /* Queues a deep copy of n (and with an outbox, appends it and, without group_commit,
     * fdatasyncs before returning): 0, -ENOBUFS when the queue or outbox is full (counted in
     * queue_full) or -ENOMEM when the copy cannot be allocated. */
    int (*submit)(void *inst, const struct vg_notification *n);
    /* Optional (NULL: nothing to do). An alert this analyzer took over while it fires, restored
     * with its host after a restart or a partition move: the receiver was told of it before, by
     * this process or another. An action whose receiver forgets firing alerts it is not told of
     * again (Alertmanager) delivers it as submit() does and keeps it active from then on; the
     * others would only repeat a message. Same returns as submit(). */
    int (*adopt)(void *inst, const struct vg_notification *n);
    /* Optional (NULL: nothing to do). The host went to another analyzer (a partition move), which
     * takes its alerts over: an action that keeps telling its receiver of firing alerts
     * (Alertmanager) stops doing so for this host's, or they would fire there for good after the
     * new owner resolves them; the others (hold_firings) hold back its queued firings while the
     * receiver is failing, and the one in flight if that attempt fails, which could otherwise
     * reach the receiver after the new owner's resolve. Never waits for the receiver. */
    void (*forget_host)(void *inst, const char *host);
    /* Optional (NULL: nothing to do). A state restore has finished, its firing alerts handed
     * over through adopt(); owns(ud, host) says whether this process holds the host now. Held
     * firings (hold_firings) of such hosts that no adopt() released are of alerts that do not
     * fire here: dropped, counted in coalesced. owns is called with the receiver's lock held and
     * must not call back into it. */
    void (*restored)(void *inst, int (*owns)(void *ud, const char *host), void *ud);
    /* Optional (NULL: nothing to do). group_commit: every notification submitted before the call
     * is durable in the outbox when it returns 0 (one fdatasync, none when nothing was submitted
     * since the last); otherwise 0 at once. A failed fdatasync is logged, counted in
     * outbox_errors and returned (-errno): those notifications are still queued and delivered,
     * but may not survive a power loss; the next flush() tries again, by rewriting the outbox
     * into a new file (vg_outbox_sync: a second fdatasync would answer 0 for what it never
     * wrote), as it does after an acknowledgement's failed fdatasync. */
    int (*flush)(void *inst);
    /* Optional (NULL: nothing to do). group_commit: the notifications submitted before the call
     * may now be attempted; until then they wait in the queue (and the outbox), holding back
     * nothing submitted earlier. Without group_commit nothing waits for it. Never waits for the
     * receiver. */
    void (*release)(void *inst);
    void (*stats)(void *inst, struct vg_action_stats *out);
    /* Waits up to drain_ms for the queue to empty, then stops the thread and frees inst. What is
     * left stays in the outbox when there is one, and is dropped (and counted) otherwise. */
    void (*destroy)(void *inst, int64_t drain_ms);
    /* Optional (NULL: destroy does it all). What destroy does but the freeing: waits up to
     * drain_ms, stops the thread, keeps or drops (and counts) what is left. stats() still works
     * after it, with the final counts; submit() must not be called; destroy() then frees. */
    void (*stop)(void *inst, int64_t drain_ms);
};

extern const struct vg_action *const vg_actions[];
const struct vg_action *vg_action_find(const char *name);

/* Creates the receiver cfg->type (NULL means "webhook"); on success *act is its action, for
 * submit/stats/destroy. An unknown type is -EINVAL with the known ones listed in err. */
int vg_action_create(const struct vg_receiver_cfg *cfg, const struct vg_action **act, void **inst,
                     char *err, size_t errlen);

/* One receiver to stop with vg_action_destroy_all. */
struct vg_action_running {
    const struct vg_action *act;
    void *inst;
};

/* Destroys the n receivers at once, each in a thread of its own, all with what is left of one
 * deadline (deadline_ms on vg_mono_ms' clock): drain_timeout bounds the whole drain, not each
 * receiver's in turn, which with 4 receivers failing took 4 x drain_timeout and could outlast
 * the unit's TimeoutStopSec. A receiver whose thread cannot be started is destroyed in the
 * caller's thread, with what is left of the deadline then. Returns once every one is freed. */
void vg_action_destroy_all(const struct vg_action_running *rx, size_t n, int64_t deadline_ms);

/* Builds the generic webhook JSON body for n (docs/alerts.md). Returns a malloc'd NUL-terminated
 * string the caller frees, or NULL on allocation failure. */
char *vg_notification_to_json(const struct vg_notification *n);

/* Reads a secret (HMAC key, routing key) from path: one line, surrounding whitespace removed.
 * *out is malloc'd, NUL-terminated, *len bytes; free it with vg_action_secret_free(). Errors name
 * the file, never its content; a file readable by group or others is accepted with a warning. */
int vg_action_read_secret(const char *path, const char *what, char **out, size_t *len, char *err,
                          size_t errlen);

/* Overwrites and frees a secret from vg_action_read_secret(); NULL is fine. */
void vg_action_secret_free(char *s, size_t len);

#endif
