/* PagerDuty Events API v2 (docs/alerts.md): POST {base}/v2/enqueue, base
 * https://events.pagerduty.com by default. A trigger carries routing_key, event_action "trigger",
 * dedup_key and the payload; a resolve only routing_key, event_action "resolve" and the same
 * dedup_key: the alert fingerprint, which is the same for the firing and the resolve of an alert
 * (a per-event key, as Netdata sends, leaves every incident open forever).
 */
#ifndef VG_FMT_PAGERDUTY_H
#define VG_FMT_PAGERDUTY_H

#include "vg_format.h"

#define VG_PD_DEFAULT_URL "https://events.pagerduty.com"

/* The format callback of the pagerduty action. -EINVAL when ctx->routing_key or the fingerprint
 * is missing: PagerDuty would answer 400 anyway. */
int vg_pd_format(const struct vg_notification *n, const struct vg_fmt_ctx *ctx,
                 struct vg_http_req *out, char *err, size_t errlen);

/* Maps a Vigil severity to one of PagerDuty's four: critical, error, warning, info. Case is
 * ignored; synonyms (page, fatal, high / err, major / warn, minor / notice, low, ok) map to their
 * level and anything else, NULL included, to "error" so that it still pages. */
const char *vg_pd_severity(const char *severity);

#endif
