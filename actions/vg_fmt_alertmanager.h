/* Prometheus Alertmanager API v2 (docs/alerts.md): POST {base}/api/v2/alerts with a JSON array of
 * {labels, annotations, startsAt, endsAt, generatorURL}.
 *
 * Alertmanager expects clients to re-send active alerts (every 30 s to 3 min) and resolves an
 * alert by itself at its endsAt, or resolve_timeout (5 min by default) after the last receipt when
 * endsAt is omitted. So a firing alert carries endsAt = now + ctx->am_active_ms and the
 * alertmanager action re-sends firing alerts well within that; a resolve carries the real end.
 */
#ifndef VG_FMT_ALERTMANAGER_H
#define VG_FMT_ALERTMANAGER_H

#include "vg_format.h"

/* One alert per request: the format callback of the alertmanager action. */
int vg_am_format(const struct vg_notification *n, const struct vg_fmt_ctx *ctx,
                 struct vg_http_req *out, char *err, size_t errlen);

/* Several alerts in one request (the re-sends of firing alerts); count >= 1. */
int vg_am_format_batch(const struct vg_notification *const *ns, size_t count,
                       const struct vg_fmt_ctx *ctx, struct vg_http_req *out, char *err,
                       size_t errlen);

/* Writes name as an Alertmanager label name into buf: [a-zA-Z_][a-zA-Z0-9_]*, other bytes become
 * '_', a leading digit gets a '_' prefix. Returns buf ("_" for an empty name). */
const char *vg_am_label_name(const char *name, char *buf, size_t len);

#endif
