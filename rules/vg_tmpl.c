#include "vg_tmpl.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_rule_suggest.h"
#include "vg_util.h"

enum var { V_TEXT, V_HOST, V_RULE, V_SEVERITY, V_VALUE, V_SCORE, V_TOP_METRICS, V_LABEL };

static const char *const var_names[] = {
    [V_HOST] = "host",   [V_RULE] = "rule",   [V_SEVERITY] = "severity",
    [V_VALUE] = "value", [V_SCORE] = "score", [V_TOP_METRICS] = "top_metrics",
};

struct seg {
    enum var v;
    char *text; /* V_TEXT: the text; V_LABEL: the label name */
};

struct vg_tmpl {
    struct seg *segs;
    size_t n;
};

void vg_tmpl_free(struct vg_tmpl *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        free(t->segs[i].text);
    free(t->segs);
    free(t);
}

static int push(struct vg_tmpl *t, enum var v, const char *text, size_t len)
{
    struct seg *s = realloc(t->segs, (t->n + 1) * sizeof(*s));
    if (!s)
        return -ENOMEM;
    t->segs = s;
    s[t->n].v = v;
    s[t->n].text = NULL;
    if (text && !(s[t->n].text = strndup(text, len)))
        return -ENOMEM;
    t->n++;
    return 0;
}

static int terr(size_t *err_off, size_t off, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int terr(size_t *err_off, size_t off, char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    *err_off = off;
    return -EINVAL;
}

static int name_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int name_char(char c)
{
    return name_start(c) || (c >= '0' && c <= '9');
}

/* Parses the variable in "{{ ... }}" starting at src + off (just after the braces). */
static int parse_var(struct vg_tmpl *t, const char *src, size_t *pos, unsigned flags,
                     size_t *err_off, char *err, size_t errlen)
{
    size_t open = *pos - 2, i = *pos;
    while (src[i] == ' ')
        i++;
    size_t start = i;
    while (name_char(src[i]))
        i++;
    int is_label = 0;
    size_t label_start = 0;
    if (i - start == 6 && strncmp(src + start, "labels", 6) == 0 && src[i] == '.') {
        is_label = 1;
        label_start = ++i;
        if (!name_start(src[i]))
            return terr(err_off, i, err, errlen,
                        "'labels.' needs a label name, e.g. {{ labels.env }}");
        while (name_char(src[i]))
            i++;
    }
    size_t end = i;
    while (src[i] == ' ')
        i++;
    if (src[i] != '}' || src[i + 1] != '}') {
        if (!strstr(src + open + 2, "}}"))
            return terr(err_off, open, err, errlen, "'{{' is not closed with '}}'");
        if (end == start)
            return terr(err_off, start, err, errlen,
                        src[i] == '}' ? "empty '{{ }}' (write e.g. {{ host }})"
                                      : "expected a variable name after '{{', e.g. {{ host }}");
        return terr(err_off, i, err, errlen,
                    "unexpected '%c' in '{{ }}': one variable per '{{ }}', e.g. {{ host }}",
                    src[i]);
    }
    if (end == start)
        return terr(err_off, open, err, errlen, "empty '{{ }}' (write e.g. {{ host }})");
    *pos = i + 2;
    if (is_label)
        return push(t, V_LABEL, src + label_start, end - label_start);
    char name[64];
    size_t len = end - start < sizeof(name) - 1 ? end - start : sizeof(name) - 1;
    memcpy(name, src + start, len);
    name[len] = '\0';
    for (size_t v = V_HOST; v < VG_ARRAY_LEN(var_names); v++) {
        if (strcmp(name, var_names[v]) != 0)
            continue;
        if ((flags & VG_TMPL_STABLE) && (v == V_VALUE || v == V_SCORE || v == V_TOP_METRICS))
            return terr(err_off, start, err, errlen,
                        "{{ %s }} changes at every evaluation, so a label cannot use it (each "
                        "change would start a new alert); use it in annotations",
                        name);
        return push(t, (enum var)v, NULL, 0);
    }
    const char *s = vg_rule_suggest(name, var_names + 1, VG_ARRAY_LEN(var_names) - 1);
    if (!s && strcmp(name, "labels") != 0 && strcmp(name, "label") != 0)
        return terr(err_off, start, err, errlen,
                    "unknown template variable '%s' (the variables are host, rule, severity, "
                    "value, score, top_metrics, labels.NAME)",
                    name);
    if (!s)
        return terr(err_off, start, err, errlen,
                    "unknown template variable '%s' (write labels.NAME, e.g. {{ labels.env }})",
                    name);
    return terr(err_off, start, err, errlen, "unknown template variable '%s' (did you mean '%s'?)",
                name, s);
}

int vg_tmpl_parse(const char *src, unsigned flags, struct vg_tmpl **out, size_t *err_off, char *err,
                  size_t errlen)
{
    *out = NULL;
    *err_off = 0;
    struct vg_tmpl *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    size_t pos = 0;
    int rc = 0;
    while (!rc && src[pos]) {
        const char *open = strstr(src + pos, "{{");
        size_t lit = open ? (size_t)(open - src) - pos : strlen(src + pos);
        if (lit)
            rc = push(t, V_TEXT, src + pos, lit);
        pos += lit;
        if (!rc && open) {
            pos += 2;
            rc = parse_var(t, src, &pos, flags, err_off, err, errlen);
        }
    }
    if (rc) {
        vg_tmpl_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int vg_tmpl_is_constant(const struct vg_tmpl *t)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->segs[i].v != V_TEXT)
            return 0;
    return 1;
}

struct out {
    char *buf;
    size_t len, used, need;
    int cut; /* once a piece did not fit, nothing after it is written */
};

static void put(struct out *o, const char *s)
{
    size_t n = strlen(s);
    o->need += n;
    if (o->cut || !o->len)
        return;
    size_t room = o->len - 1 - o->used;
    if (n > room) {
        /* Back off to the start of the character that would be split. */
        while (room > 0 && ((unsigned char)s[room] & 0xC0) == 0x80)
            room--;
        n = room;
        o->cut = 1;
    }
    memcpy(o->buf + o->used, s, n);
    o->used += n;
    o->buf[o->used] = '\0';
}

static void put_num(struct out *o, double v)
{
    char num[32];
    if (isnan(v))
        snprintf(num, sizeof(num), "n/a");
    else
        snprintf(num, sizeof(num), "%.6g", v);
    put(o, num);
}

size_t vg_tmpl_render(const struct vg_tmpl *t, const struct vg_tmpl_ctx *c, char *buf, size_t len)
{
    struct out o = {.buf = buf, .len = len};
    if (len)
        buf[0] = '\0';
    for (size_t i = 0; i < t->n; i++) {
        const struct seg *s = &t->segs[i];
        const char *v = NULL;
        switch (s->v) {
        case V_TEXT:
            put(&o, s->text);
            continue;
        case V_VALUE:
            put_num(&o, c->value);
            continue;
        case V_SCORE:
            put_num(&o, c->score);
            continue;
        case V_HOST:
            v = c->host;
            break;
        case V_RULE:
            v = c->rule;
            break;
        case V_SEVERITY:
            v = c->severity;
            break;
        case V_TOP_METRICS:
            v = c->top_metrics ? c->top_metrics : "n/a";
            break;
        case V_LABEL:
            v = c->label ? c->label(c->label_ud, s->text) : NULL;
            break;
        }
        put(&o, v ? v : "");
    }
    return o.need;
}
