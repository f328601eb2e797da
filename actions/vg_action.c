#include "vg_action.h"
#include "vg_webhook.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const struct vg_action *const vg_actions[] = {
    &vg_webhook_action,
    NULL,
};

const struct vg_action *vg_action_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; vg_actions[i]; i++) {
        if (strcmp(vg_actions[i]->name, name) == 0)
            return vg_actions[i];
    }
    return NULL;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there are not one. Overlongs,
 * surrogates and code points above U+10FFFF count as invalid, as jansson rejects them too. */
static size_t utf8_seq_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned cp;
    if ((c & 0xe0) == 0xc0) {
        n = 2;
        cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3;
        cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    static const unsigned min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Host names and labels come off the wire unvalidated; jansson refuses invalid UTF-8, and a
 * notification must not vanish because one label is mangled, so bad bytes become '?'. */
static json_t *jstr(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    size_t len = strlen(s);
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    while (*p) {
        size_t n = utf8_seq_len(p);
        if (n == 0) {
            copy[o++] = '?';
            p++;
        } else {
            memcpy(copy + o, p, n);
            o += n;
            p += n;
        }
    }
    copy[o] = '\0';
    j = json_string(copy);
    free(copy);
    return j;
}

/* JSON has no NaN or Infinity; receivers choke on them, so they become null. */
static json_t *jnum(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* RFC 3339 UTC with milliseconds, e.g. 2026-11-23T13:00:00.123Z. Years outside 0000..9999 cannot
 * be written in RFC 3339 and give null. */
static json_t *jtime(int64_t ms)
{
    int64_t sec = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
        return json_null();
    char buf[40];
    size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof(buf) - n, ".%03dZ", (int)frac);
    return json_string(buf);
}

static void fmt_num(char *buf, size_t n, const char *fmt, double v)
{
    if (isfinite(v))
        snprintf(buf, n, fmt, v);
    else
        snprintf(buf, n, "n/a");
}

char *vg_notification_to_json(const struct vg_notification *n)
{
    json_t *o = json_object();
    json_t *labels = json_object();
    int bad = !o || !labels;

    /* Host labels first so that the reserved keys below win over a host label of the same name:
     * receivers route on them and must be able to trust them. */
    for (size_t i = 0; !bad && i < n->n_labels; i++) {
        const char *k = n->label_keys ? n->label_keys[i] : NULL;
        const char *v = n->label_values ? n->label_values[i] : NULL;
        if (!k || !*k)
            continue;
        json_t *jk = jstr(k);
        if (!jk) {
            bad = 1;
            break;
        }
        /* json_object_set_new takes the key as UTF-8; jk holds the sanitised form. */
        bad |= json_object_set_new(labels, json_string_value(jk), jstr(v)) != 0;
        json_decref(jk);
    }
    bad |= json_object_set_new(labels, "host", jstr(n->host)) != 0;
    bad |= json_object_set_new(labels, "series", jstr(n->series)) != 0;
    bad |= json_object_set_new(labels, "alertname", jstr(n->alertname)) != 0;
    bad |= json_object_set_new(labels, "severity", jstr(n->severity)) != 0;

    int resolved = n->status && strcmp(n->status, "resolved") == 0;
    char score[32], value[32], summary[512];
    fmt_num(score, sizeof(score), "%.3f", n->score);
    fmt_num(value, sizeof(value), "%g", n->value);
    snprintf(summary, sizeof(summary), "%s: %s %s (score %s, value %s)", n->host ? n->host : "?",
             n->series ? n->series : "?", resolved ? "resolved" : "anomalous", score, value);

    bad |= json_object_set_new(o, "version", json_string("1")) != 0;
    bad |= json_object_set_new(o, "status", jstr(n->status)) != 0;
    bad |= json_object_set_new(o, "alertname", jstr(n->alertname)) != 0;
    bad |= json_object_set_new(o, "fingerprint", jstr(n->fingerprint)) != 0;
    bad |= json_object_set_new(o, "host", jstr(n->host)) != 0;
    bad |= json_object_set_new(o, "series", jstr(n->series)) != 0;
    bad |= json_object_set_new(o, "severity", jstr(n->severity)) != 0;
    bad |= json_object_set_new(o, "score", jnum(n->score)) != 0;
    bad |= json_object_set_new(o, "value", jnum(n->value)) != 0;
    bad |= json_object_set_new(o, "threshold", jnum(n->threshold)) != 0;
    bad |= json_object_set_new(o, "starts_at", jtime(n->starts_at_ms)) != 0;
    bad |=
        json_object_set_new(o, "ends_at", n->ends_at_ms ? jtime(n->ends_at_ms) : json_null()) != 0;
    bad |= json_object_set_new(o, "event_ts", jtime(n->event_ts_ms)) != 0;
    if (!bad) {
        bad |= json_object_set_new(o, "labels", labels) != 0;
        labels = NULL;
    }
    bad |= json_object_set_new(o, "summary", jstr(summary)) != 0;

    /* 15 significant digits print 51.2 as 51.2 rather than 51.200000000000003; more precision
     * than that means nothing for an alert. */
    char *out = bad ? NULL : json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(labels);
    json_decref(o);
    return out;
}
