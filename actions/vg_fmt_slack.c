#include "vg_fmt_slack.h"

#include "vg_util.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Slack refuses a section field over 2000 characters and a header over 150. */
#define SLACK_FIELD_MAX  1900
#define SLACK_HEADER_MAX 150

const char *vg_slack_escape(const char *s, char *buf, size_t len)
{
    size_t o = 0;
    if (!len)
        return buf;
    for (; s && *s; s++) {
        const char *rep = NULL;
        char one[2] = {*s, '\0'};
        if (*s == '&')
            rep = "&amp;";
        else if (*s == '<')
            rep = "&lt;";
        else if (*s == '>')
            rep = "&gt;";
        else
            rep = one;
        size_t rl = strlen(rep);
        if (o + rl + 1 > len)
            break;
        memcpy(buf + o, rep, rl);
        o += rl;
    }
    /* Never end inside a UTF-8 sequence that was cut off. */
    size_t end = o;
    while (end > 0 && ((unsigned char)buf[end - 1] & 0xc0) == 0x80)
        end--;
    if (end > 0 && ((unsigned char)buf[end - 1] & 0x80)) {
        unsigned char lead = (unsigned char)buf[end - 1];
        size_t need = (lead & 0xe0) == 0xc0 ? 2 : (lead & 0xf0) == 0xe0 ? 3 : 4;
        if (o - (end - 1) < need)
            o = end - 1;
    }
    buf[o] = '\0';
    return buf;
}

static void duration_text(int64_t ms, char *buf, size_t len)
{
    if (ms < 0)
        ms = 0;
    int64_t s = ms / 1000;
    if (s < 60)
        snprintf(buf, len, "%" PRId64 "s", s);
    else if (s < 3600)
        snprintf(buf, len, "%" PRId64 "m %" PRId64 "s", s / 60, s % 60);
    else
        snprintf(buf, len, "%" PRId64 "h %" PRId64 "m", s / 3600, (s % 3600) / 60);
}

static json_t *mrkdwn(const char *text)
{
    return json_pack("{s:s,s:o}", "type", "mrkdwn", "text", vg_fmt_str(text));
}

/* "*Title*\nvalue" with value escaped. */
static json_t *field(const char *title, const char *value)
{
    char esc[SLACK_FIELD_MAX], text[SLACK_FIELD_MAX + 64];
    vg_slack_escape(value ? value : "?", esc, sizeof(esc));
    snprintf(text, sizeof(text), "*%s*\n%s", title, esc);
    return mrkdwn(text);
}

int vg_slack_format(const struct vg_notification *n, const struct vg_fmt_ctx *ctx,
                    struct vg_http_req *out, char *err, size_t errlen)
{
    if (!ctx->url || !*ctx->url)
        return vg_err(err, errlen, -EINVAL, "slack: no webhook url");
    int resolved = n->status && strcmp(n->status, "resolved") == 0;
    char summary[1024], esc[2200], text[2400];
    vg_fmt_summary(n, summary, sizeof(summary));
    vg_slack_escape(summary, esc, sizeof(esc));
    snprintf(text, sizeof(text), "%s %s",
             resolved ? ":large_green_circle: [RESOLVED]" : ":red_circle: [FIRING]", esc);

    char header[SLACK_HEADER_MAX * 2];
    snprintf(header, sizeof(header), "%s %s on %s", resolved ? "Resolved:" : "Anomaly:",
             n->series      ? n->series
             : n->alertname ? n->alertname
                            : "?",
             n->host ? n->host : "?");
    /* plain_text needs no escaping; its limit counts characters, so bytes are a safe bound. */
    if (strlen(header) > SLACK_HEADER_MAX - 1) {
        size_t m = SLACK_HEADER_MAX - 4;
        while (m > 0 && ((unsigned char)header[m] & 0xc0) == 0x80)
            m--;
        memcpy(header + m, "...", 4);
    }

    char score[32], value[32], thr[32], scoreline[96], when[40], lasted[32];
    vg_fmt_number(score, sizeof(score), "%.3f", n->score);
    vg_fmt_number(value, sizeof(value), "%g", n->value);
    vg_fmt_number(thr, sizeof(thr), "%g", n->threshold);
    snprintf(scoreline, sizeof(scoreline), "%s (threshold %s)", score, thr);
    vg_fmt_rfc3339(n->starts_at_ms, when, sizeof(when));

    json_t *fields = json_array();
    int bad = !fields;
    bad |= json_array_append_new(fields, field("Host", n->host)) != 0;
    if (n->series)
        bad |= json_array_append_new(fields, field("Series", n->series)) != 0;
    else
        bad |= json_array_append_new(fields, field("Rule", n->alertname)) != 0;
    bad |= json_array_append_new(fields, field("Score", scoreline)) != 0;
    bad |= json_array_append_new(fields, field("Value", value)) != 0;
    bad |= json_array_append_new(fields, field("Severity", n->severity)) != 0;
    if (resolved) {
        duration_text((n->ends_at_ms ? n->ends_at_ms : n->event_ts_ms) - n->starts_at_ms, lasted,
                      sizeof(lasted));
        bad |= json_array_append_new(fields, field("Lasted", lasted)) != 0;
    } else {
        bad |= json_array_append_new(fields, field("Since", when[0] ? when : "?")) != 0;
    }

    json_t *blocks = json_array();
    bad |= !blocks;
    bad |= json_array_append_new(blocks,
                                 json_pack("{s:s,s:{s:s,s:o}}", "type", "header", "text", "type",
                                           "plain_text", "text", vg_fmt_str(header))) != 0;
    bad |= json_array_append_new(blocks,
                                 json_pack("{s:s,s:o}", "type", "section", "fields", fields)) != 0;
    fields = NULL;
    if (n->n_top_metrics && n->top_metrics) {
        char lines[SLACK_FIELD_MAX] = "*Top metrics*";
        size_t o = strlen(lines);
        for (size_t i = 0; i < n->n_top_metrics && o + 1 < sizeof(lines); i++) {
            const struct vg_top_metric *m = &n->top_metrics[i];
            char name[256], v[32], share[32] = "";
            vg_slack_escape(m->name ? m->name : "?", name, sizeof(name));
            vg_fmt_number(v, sizeof(v), "%g", m->value);
            if (isfinite(m->contribution))
                snprintf(share, sizeof(share), " (%.0f %%)", m->contribution * 100);
            int w = snprintf(lines + o, sizeof(lines) - o, "\n\xe2\x80\xa2 `%s` = %s%s", name, v,
                             share);
            if (w < 0 || (size_t)w >= sizeof(lines) - o) {
                lines[o] = '\0';
                break;
            }
            o += (size_t)w;
        }
        bad |= json_array_append_new(
                   blocks, json_pack("{s:s,s:o}", "type", "section", "text", mrkdwn(lines))) != 0;
    }
    char ctxline[SLACK_FIELD_MAX], labels[SLACK_FIELD_MAX / 2] = "";
    size_t lo = 0, left = 0;
    /* Room is kept for the count of the labels that do not fit: a reader must not take a cut
     * list for the whole (a host with many labels pushes a rule's own labels out). */
    const size_t room = sizeof(labels) - sizeof(" (+9999 more)");
    for (size_t i = 0; i < n->n_labels && n->label_keys && n->label_values; i++) {
        if (!n->label_keys[i] || !*n->label_keys[i])
            continue;
        int w = left ? -1
                     : snprintf(labels + lo, room - lo, "%s%s=%s", lo ? ", " : "", n->label_keys[i],
                                vg_fmt_label_value(n, i) ? vg_fmt_label_value(n, i) : "");
        if (w < 0 || (size_t)w >= room - lo) {
            labels[lo] = '\0';
            left++;
            continue;
        }
        lo += (size_t)w;
    }
    if (left)
        lo += (size_t)snprintf(labels + lo, sizeof(labels) - lo, " (+%zu more)", left);
    char raw[SLACK_FIELD_MAX];
    snprintf(raw, sizeof(raw), "%s | fingerprint %s%s%s", n->alertname ? n->alertname : "anomaly",
             n->fingerprint ? n->fingerprint : "?", lo ? " | " : "", labels);
    vg_slack_escape(raw, ctxline, sizeof(ctxline));
    bad |= json_array_append_new(blocks, json_pack("{s:s,s:[o]}", "type", "context", "elements",
                                                   mrkdwn(ctxline))) != 0;

    json_t *o = json_object();
    bad |= !o;
    bad |= json_object_set_new(o, "text", vg_fmt_str(text)) != 0;
    bad |= json_object_set_new(o, "blocks", blocks) != 0;
    blocks = NULL;
    json_decref(fields);
    if (bad) {
        json_decref(o);
        return vg_err(err, errlen, -ENOMEM, "slack: out of memory building the request");
    }
    int rc = vg_fmt_set_body(out, o);
    out->url = strdup(ctx->url);
    char idem[512];
    if (rc == 0 && out->url)
        rc = vg_http_req_add_header(out, "Content-Type: application/json");
    if (rc == 0 && out->url)
        rc = vg_http_req_add_header(out, "Idempotency-Key: %s",
                                    vg_fmt_idempotency_key(n, idem, sizeof(idem)));
    if (rc < 0 || !out->url) {
        vg_http_req_free(out);
        return vg_err(err, errlen, -ENOMEM, "slack: out of memory building the request");
    }
    return 0;
}
