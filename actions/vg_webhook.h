/* The HTTP actions (docs/alerts.md): "webhook" (generic JSON, optionally HMAC-signed),
 * "alertmanager", "pagerduty" and "slack". They share one delivery engine (vg_webhook.c): one
 * thread per receiver, a bounded FIFO (persisted in an outbox when outbox_dir is set), retries
 * with capped exponential backoff, Retry-After, and a token-bucket rate limit; they differ only in
 * their format (vg_format.h). Reached through vg_actions[] and vg_action_find(); declared here
 * only so vg_action.c can list them.
 */
#ifndef VG_WEBHOOK_H
#define VG_WEBHOOK_H

#include "vg_action.h"

extern const struct vg_action vg_webhook_action;
extern const struct vg_action vg_alertmanager_action;
extern const struct vg_action vg_pagerduty_action;
extern const struct vg_action vg_slack_action;

#endif
