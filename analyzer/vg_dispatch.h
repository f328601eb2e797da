/* From alert transitions to notifications: the analyzer's small Alertmanager.
 *
 * The engine reports every fire and resolve; the dispatcher keeps the firing alerts (for
 * GET /api/v1/alerts), drops a second "firing" of an alert that already fires (same
 * fingerprint: a redelivered message, two analyzers' hand-over), holds notifications back while
 * a silence matches or the alert's group waits (group_wait), repeats firing notifications every
 * repeat_interval, and hands what is due to the receivers through send(). Not thread-safe: the
 * analyzer calls it with its lock held. Times are wall-clock ms.
 */
#ifndef VG_DISPATCH_H
#define VG_DISPATCH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "vg_action.h"
#include "vg_silence.h"

struct vg_dispatch_params {
    int64_t group_wait_ms;      /* a new group's first notification waits this long for others */
    int64_t repeat_interval_ms; /* re-send firing notifications this often; 0: never */
    const char *group_by;       /* comma-separated label names; "" or NULL: one group per alert */
};

struct vg_dispatch_stats {
    uint64_t sent;           /* notifications handed to receivers, repeats included */
    uint64_t repeats;        /* of which repeats */
    uint64_t deduplicated;   /* "firing" of an alert already firing, dropped */
    uint64_t silenced;       /* firing notifications a silence held back (counted once each) */
    uint64_t resolved_quiet; /* resolves not sent because their firing never was */
    uint64_t firing;         /* alerts held now */
    uint64_t handed_over;    /* alerts dropped because their host moved to another analyzer */
    uint64_t adopted;        /* firing alerts taken over with their host (vg_dispatch_adopt) */
    uint64_t sent_early;     /* held by group_wait, sent at a hand-over or a stop */
    /* of adopted: their record said the firing was not notified yet, so it is sent here */
    uint64_t adopted_unnotified;
    /* firing notifications sent once more at their repeat_once_at_ms (a host started cold) */
    uint64_t repeated_after_cold_start;
};

/* Hands n to receivers: n->receivers names them (NULL: every receiver). */
typedef void (*vg_dispatch_send_fn)(void *ud, const struct vg_notification *n);

struct vg_dispatch;

/* sil is borrowed and may be NULL. Strings in p are copied. */
int vg_dispatch_new(struct vg_dispatch **out, const struct vg_dispatch_params *p,
                    struct vg_silences *sil, vg_dispatch_send_fn send, void *ud);
void vg_dispatch_free(struct vg_dispatch *d);

/* One transition from the engine. A firing with n->repeat_once_at_ms set (its host started cold
 * and may have moved from another analyzer, whose release resolves it: vg_engine.h,
 * VG_ENGINE_COLD_REPEAT_MARGIN_MS) is sent once more at that time if it still fires then, as a
 * repeat (counted in repeats and repeated_after_cold_start), once any silence holding it ends;
 * its repeat_interval reminders follow from then. Not when its first notification goes out at or
 * after that time. */
void vg_dispatch_event(struct vg_dispatch *d, const struct vg_notification *n, int64_t now_ms);

/* Drops the alerts of a host whose partition went to another analyzer: the new owner restores
 * the host's alert state and sends the repeats and the resolve under the same fingerprint, so a
 * copy kept here would repeat forever and never resolve. The new owner takes them as notified
 * (vg_dispatch_adopt), so one that group_wait still holds is sent first (counted in sent_early);
 * one a silence holds is not. Returns how many were dropped. */
size_t vg_dispatch_forget_host(struct vg_dispatch *d, const char *host, int64_t now_ms);

/* At a stop or a revoke, before the last checkpoint: sends the alerts group_wait still holds,
 * since the analyzer that restores their hosts takes them as notified when the record says so,
 * and sends them again when it does not (counted in sent_early; why, the log's reason). Returns
 * how many. */
size_t vg_dispatch_send_held(struct vg_dispatch *d, int64_t now_ms, const char *why);

/* An alert that fires and was notified before this process knew of it: restored with its host
 * from the state topic after a restart or a partition move (vg_engine_each_firing). It is held
 * as notified (listed, repeated every repeat_interval, its resolve sent), and handed to send()
 * once with n->adopted set, for receivers that must be told again to keep it active
 * (Alertmanager expires an alert it is not told of). One a silence holds is not handed on but
 * held as not notified, since it may have fired under the silence: its firing goes out when the
 * silence ends (a receiver that had it drops the same Idempotency-Key), and its resolve goes out
 * either way. Its repeat count continues from how many repeat_intervals it has fired for, so a
 * reminder's Idempotency-Key does not repeat one the old owner sent. An alert already held is
 * left as it is.
 *
 * notified 0: the host's record says its firing notification was never handed to the receivers
 * (vg_engine_alert_is_notified: the old owner held it in group_wait or under a silence when it
 * stopped, was killed, or checkpointed last). It is held as a new firing is: sent when what is
 * left of its group_wait (from its starts_at) has passed and no silence holds it, at once when
 * its group was notified, and counted in adopted_unnotified. Its resolve goes out either way,
 * since the old owner may have sent the firing after its last checkpoint. A repeat_once_at_ms
 * of n (its host started cold recently) is kept as vg_dispatch_event keeps it. */
void vg_dispatch_adopt(struct vg_dispatch *d, const struct vg_notification *n, int notified,
                       int64_t now_ms);

/* Sends what became due: group waits that ended, silences that ended, repeats (those after a
 * cold start included). */
void vg_dispatch_tick(struct vg_dispatch *d, int64_t now_ms);

void vg_dispatch_get_stats(const struct vg_dispatch *d, struct vg_dispatch_stats *out);

/* {"alerts": [...]} (docs/api.md), newest first; a new reference, NULL when out of memory. */
json_t *vg_dispatch_alerts_json(const struct vg_dispatch *d, int64_t now_ms);

#endif
