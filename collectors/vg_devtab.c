#include "vg_devtab.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vg_devtab_init(struct vg_devtab *t)
{
    memset(t, 0, sizeof *t);
}

void vg_devtab_begin(struct vg_devtab *t)
{
    t->tick++;
    t->hint = 0;
}

static int insert(struct vg_devtab *t, size_t at, const char *name)
{
    if (t->n == VG_DEVTAB_MAX)
        return -ENOSPC;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        struct vg_dev *d = realloc(t->dev, cap * sizeof *d);
        if (!d)
            return -ENOMEM;
        t->dev = d;
        t->cap = cap;
    }
    memmove(&t->dev[at + 1], &t->dev[at], (t->n - at) * sizeof *t->dev);
    t->n++;
    memset(&t->dev[at], 0, sizeof *t->dev);
    size_t len = strnlen(name, VG_DEV_NAME_MAX);
    memcpy(t->dev[at].name, name, len);
    t->dev[at].name[len] = '\0';
    return 0;
}

int vg_devtab_get(struct vg_devtab *t, const char *name, struct vg_dev **dev)
{
    for (size_t k = 0; k < t->n; k++) {
        size_t i = (t->hint + k) % t->n;
        if (strcmp(t->dev[i].name, name) != 0)
            continue;
        if (t->dev[i].last_seen == t->tick)
            return -EEXIST;
        t->dev[i].last_seen = t->tick;
        t->hint = i + 1;
        *dev = &t->dev[i];
        return 0;
    }
    /* A new device goes where the file listed it, keeping the table in file order. */
    size_t at = t->hint < t->n ? t->hint : t->n;
    int rc = insert(t, at, name);
    if (rc < 0)
        return rc;
    t->dev[at].last_seen = t->tick;
    t->hint = at + 1;
    *dev = &t->dev[at];
    return 1;
}

void vg_devtab_end(struct vg_devtab *t)
{
    size_t w = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (t->dev[i].last_seen != t->tick)
            continue;
        if (w != i)
            t->dev[w] = t->dev[i];
        w++;
    }
    t->n = w;
    t->hint = 0;
}

void vg_devtab_free(struct vg_devtab *t)
{
    free(t->dev);
    memset(t, 0, sizeof *t);
}

void vg_devbudget_init(struct vg_devbudget *b, size_t max_bytes)
{
    memset(b, 0, sizeof *b);
    b->max_bytes = max_bytes;
}

void vg_devbudget_begin(struct vg_devbudget *b, const struct vg_wire_msg *out)
{
    b->tick++;
    b->sent = b->left_out = 0;
    b->used = 0;
    if (!b->max_bytes)
        return;
    /* Two windows' maxima stand in for a sliding maximum, which would keep every tick's. */
    if (b->tick % VG_DEVBUDGET_TICKS == 0) {
        b->others_max[1] = b->others_max[0];
        b->others_max[0] = 0;
    }
    size_t now = vg_wire_msg_size_max(out);
    if (now > b->others_max[0])
        b->others_max[0] = now;
    b->used = b->others_max[0] > b->others_max[1] ? b->others_max[0] : b->others_max[1];
}

void vg_devbudget_reserve(struct vg_devbudget *b, size_t bytes)
{
    if (b->max_bytes)
        b->used += bytes;
}

int vg_devbudget_take(struct vg_devbudget *b, size_t bytes)
{
    if (b->max_bytes && (b->left_out || b->used + bytes > b->max_bytes)) {
        b->left_out++;
        return 0;
    }
    b->used += bytes;
    b->sent++;
    return 1;
}

int vg_devtab_problem(int rc, char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (!err || !errlen)
        return rc ? rc : code;
    size_t used = rc ? strnlen(err, errlen) : 0;
    if (rc && used + 2 < errlen) {
        memcpy(err + used, "; ", 3);
        used += 2;
    }
    if (used + 1 < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + used, errlen - used, fmt, ap);
        va_end(ap);
    }
    return rc ? rc : code;
}

int vg_devtab_report(int rc, const char *path, const char *noun, const char *prefix, int full,
                     const struct vg_devbudget *b, size_t dups, const char *dup_raw,
                     const char *dup_key, char *err, size_t errlen)
{
    if (full)
        rc = vg_devtab_problem(rc, err, errlen, -ENOSPC,
                               "%s: more than %d %ss; the rest are not "
                               "reported",
                               path, VG_DEVTAB_MAX, noun);
    if (b->left_out)
        rc = vg_devtab_problem(rc, err, errlen, -EMSGSIZE,
                               "%s: %zu %ss; the first %zu are reported, %zu left out to keep the "
                               "message within %zu bytes (docs/wire-format.md)",
                               path, b->sent + b->left_out, noun, b->sent, b->left_out,
                               b->max_bytes);
    if (dups)
        rc = vg_devtab_problem(rc, err, errlen, -EEXIST,
                               "%s: %zu %s%s left out, their names the same as an earlier one's "
                               "once cleaned up for metric names (the first: '%s', as %s.%s)",
                               path, dups, noun, dups == 1 ? "" : "s", dup_raw, prefix, dup_key);
    return rc;
}

size_t vg_metric_sanitise(char *dst, size_t dstsize, const char *src, size_t len)
{
    if (len > dstsize - 1)
        len = dstsize - 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.' || c == ':' || c == '-';
        dst[i] = ok ? (char)c : '_';
    }
    dst[len] = '\0';
    return len;
}
