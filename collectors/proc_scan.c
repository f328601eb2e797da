#include "proc_scan.h"

#include <errno.h>
#include <string.h>

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

void vg_scan_init(struct vg_scan *s, const char *buf, size_t len)
{
    s->p = buf;
    s->end = buf + len;
    s->line = 0;
}

int vg_scan_line(struct vg_scan *s, struct vg_span *line)
{
    if (s->p >= s->end)
        return 0;
    const char *nl = memchr(s->p, '\n', (size_t)(s->end - s->p));
    line->p = s->p;
    line->end = nl ? nl : s->end;
    s->p = nl ? nl + 1 : s->end;
    s->line++;
    return 1;
}

int vg_span_word(struct vg_span *line, struct vg_span *word)
{
    const char *p = line->p;
    while (p < line->end && is_blank(*p))
        p++;
    if (p == line->end) {
        line->p = p;
        return 0;
    }
    word->p = p;
    while (p < line->end && !is_blank(*p))
        p++;
    word->end = p;
    line->p = p;
    return 1;
}

int vg_word_u64(struct vg_span word, uint64_t *v)
{
    if (word.p == word.end)
        return -EINVAL;
    uint64_t x = 0;
    for (const char *p = word.p; p < word.end; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        unsigned d = (unsigned)(*p - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -EINVAL;
        x = x * 10 + d;
    }
    *v = x;
    return 0;
}

int vg_span_u64(struct vg_span *line, uint64_t *v)
{
    struct vg_span w;
    if (!vg_span_word(line, &w))
        return -ENODATA;
    return vg_word_u64(w, v);
}

int vg_word_decimal(struct vg_span word, double *v)
{
    static const double pow10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    const char *dot = memchr(word.p, '.', (size_t)(word.end - word.p));
    struct vg_span ip = {word.p, dot ? dot : word.end};
    uint64_t i, f = 0;
    size_t nf = 0;

    if (vg_word_u64(ip, &i) < 0)
        return -EINVAL;
    if (dot) {
        struct vg_span fp = {dot + 1, word.end};
        nf = (size_t)(fp.end - fp.p);
        if (nf == 0 || nf > 9 || vg_word_u64(fp, &f) < 0)
            return -EINVAL;
    }
    if ((size_t)(ip.end - ip.p) + nf > 15)
        return -EINVAL;
    /* One division of two exact integers (both < 2^53 with at most 15 digits) rounds once, so
     * "0.42" becomes the same double as the literal 0.42. */
    *v = (double)(i * (uint64_t)pow10[nf] + f) / pow10[nf];
    return 0;
}

int vg_word_is(struct vg_span word, const char *s)
{
    size_t n = strlen(s);
    return (size_t)(word.end - word.p) == n && memcmp(word.p, s, n) == 0;
}
