#include "vg_bytes.h"

#include <stdlib.h>
#include <string.h>

void vg_bw_put(struct vg_bw *b, const void *src, size_t n)
{
    if (b->bad || !n)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->bad = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

void vg_bw_uint(struct vg_bw *b, uint64_t v, int bytes)
{
    unsigned char t[8];
    for (int i = 0; i < bytes; i++)
        t[i] = (unsigned char)(v >> (8 * i));
    vg_bw_put(b, t, (size_t)bytes);
}

void vg_bw_f64(struct vg_bw *b, double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof(v));
    vg_bw_uint(b, v, 8);
}

void vg_bw_str16(struct vg_bw *b, const char *s)
{
    size_t n = strlen(s);
    if (n > 0xffff)
        n = 0xffff;
    vg_bw_uint(b, n, 2);
    vg_bw_put(b, s, n);
}

const unsigned char *vg_br_take(struct vg_br *r, size_t n)
{
    if (r->bad || r->len - r->off < n) {
        r->bad = 1;
        return NULL;
    }
    r->off += n;
    return r->p + r->off - n;
}

uint64_t vg_br_uint(struct vg_br *r, int bytes)
{
    const unsigned char *p = vg_br_take(r, (size_t)bytes);
    uint64_t v = 0;
    for (int i = 0; p && i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

double vg_br_f64(struct vg_br *r)
{
    uint64_t v = vg_br_uint(r, 8);
    double d;
    memcpy(&d, &v, sizeof(d));
    return d;
}
