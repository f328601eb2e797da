/* Slack incoming webhook (docs/alerts.md): POST {text, blocks} to the webhook URL. text is the
 * one line shown in notifications; blocks lay out host, series, score, value and the top metrics.
 * A resolve reads differently (green, "back to normal", how long it lasted), so that it cannot be
 * mistaken for the firing in a channel.
 */
#ifndef VG_FMT_SLACK_H
#define VG_FMT_SLACK_H

#include "vg_format.h"

int vg_slack_format(const struct vg_notification *n, const struct vg_fmt_ctx *ctx,
                    struct vg_http_req *out, char *err, size_t errlen);

/* Escapes &, < and > as Slack's mrkdwn requires (they would otherwise start links or mentions:
 * a host label "<!channel>" must not ping a whole channel). Returns buf, truncated to fit without
 * splitting an escape or a UTF-8 sequence. */
const char *vg_slack_escape(const char *s, char *buf, size_t len);

#endif
