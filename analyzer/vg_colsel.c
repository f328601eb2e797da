#include "vg_colsel.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "vg_util.h"
#include "vg_wire.h"

struct vg_colsel {
    size_t n;
    struct {
        char *glob;
        int exclude;
    } p[VG_COLSEL_MAX_PATTERNS];
};

void vg_colsel_free(struct vg_colsel *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->p[i].glob);
    free(s);
}

int vg_colsel_new(struct vg_colsel **out, const char *patterns, char *err, size_t errlen)
{
    *out = NULL;
    struct vg_colsel *s = calloc(1, sizeof(*s));
    if (!s)
        return vg_err(err, errlen, -ENOMEM, "model.metrics: out of memory");
    const char *p = patterns && *patterns ? patterns : "*";
    int positive = 0;
    for (size_t idx = 1;; idx++) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        int rc = 0;
        int excl = len && *p == '!';
        if (!len)
            rc = vg_err(err, errlen, -EINVAL, "model.metrics: pattern %zu is empty", idx);
        else if (excl && len == 1)
            rc = vg_err(err, errlen, -EINVAL, "model.metrics: pattern %zu is a '!' with no glob",
                        idx);
        else if (len > VG_COLSEL_MAX_PATTERN)
            rc = vg_err(err, errlen, -EINVAL, "model.metrics: pattern %zu is longer than %d bytes",
                        idx, VG_COLSEL_MAX_PATTERN);
        else if (s->n == VG_COLSEL_MAX_PATTERNS)
            rc = vg_err(err, errlen, -EINVAL, "model.metrics: more than %d patterns",
                        VG_COLSEL_MAX_PATTERNS);
        else if (!(s->p[s->n].glob = strndup(p + excl, len - (size_t)excl)))
            rc = vg_err(err, errlen, -ENOMEM, "model.metrics: out of memory");
        if (rc < 0) {
            vg_colsel_free(s);
            return rc;
        }
        s->p[s->n++].exclude = excl;
        positive |= !excl;
        if (!end)
            break;
        p = end + 1;
    }
    if (!positive) {
        vg_colsel_free(s);
        return vg_err(err, errlen, -EINVAL,
                      "model.metrics: only '!' patterns, so no metric would be taken (add '*' to "
                      "take the rest)");
    }
    *out = s;
    return 0;
}

/* The rank of name: the index of the first positive pattern it matches; -1 when excluded or
 * matched by none. */
static long rank_of(const struct vg_colsel *s, const char *name)
{
    /* The engine refuses such a series (vg_engine_process): no column either, so the model and
     * its attribution never show what rules cannot read. */
    if (vg_wire_name_reserved(name))
        return -1;
    for (size_t i = 0; i < s->n; i++)
        if (s->p[i].exclude && fnmatch(s->p[i].glob, name, 0) == 0)
            return -1;
    for (size_t i = 0; i < s->n; i++)
        if (!s->p[i].exclude && fnmatch(s->p[i].glob, name, 0) == 0)
            return (long)i;
    return -1;
}

struct ranked {
    long rank;
    const char *name;
};

static int cmp_ranked(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return strcmp(x->name, y->name);
}

int vg_colsel_pick(const struct vg_colsel *s, const char **names, size_t n, size_t max,
                   size_t *picked)
{
    struct ranked *r = malloc((n ? n : 1) * sizeof(*r));
    size_t k = 0;
    *picked = 0;
    if (!r)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        long rank = rank_of(s, names[i]);
        if (rank >= 0)
            r[k++] = (struct ranked){rank, names[i]};
    }
    qsort(r, k, sizeof(*r), cmp_ranked);
    size_t u = 0;
    for (size_t i = 0; i < k && u < max; i++)
        if (u == 0 || strcmp(names[u - 1], r[i].name) != 0)
            names[u++] = r[i].name;
    free(r);
    *picked = u;
    return 0;
}
