/* Generic JSON webhook action (docs/alerts.md): one delivery thread per instance, a bounded
 * in-memory FIFO, retries with capped exponential backoff. Reached through vg_actions[] and
 * vg_action_find("webhook"); declared here only so vg_action.c can list it.
 */
#ifndef VG_WEBHOOK_H
#define VG_WEBHOOK_H

#include "vg_action.h"

extern const struct vg_action vg_webhook_action;

#endif
