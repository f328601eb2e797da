#include "vg_strmap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

void vg_strmap_init(struct vg_strmap *m)
{
    memset(m, 0, sizeof(*m));
}

void *vg_strmap_get(const struct vg_strmap *m, const char *key)
{
    if (!m->cap)
        return NULL;
    for (size_t i = hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i])
            return NULL;
        if (strcmp(m->keys[i], key) == 0)
            return m->vals[i];
    }
}

static int grow(struct vg_strmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    char **nk = calloc(ncap, sizeof(*nk));
    void **nv = calloc(ncap, sizeof(*nv));
    if (!nk || !nv) {
        free(nk);
        free(nv);
        return -ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = hash(m->keys[i]) & (ncap - 1);
        while (nk[j])
            j = (j + 1) & (ncap - 1);
        nk[j] = m->keys[i];
        nv[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = nk;
    m->vals = nv;
    m->cap = ncap;
    return 0;
}

int vg_strmap_put(struct vg_strmap *m, const char *key, void *val)
{
    /* Keep the load under 70 % so probe chains stay short. */
    if ((m->n + 1) * 10 > m->cap * 7 && grow(m) < 0)
        return -ENOMEM;
    char *k = strdup(key);
    if (!k)
        return -ENOMEM;
    size_t i = hash(key) & (m->cap - 1);
    while (m->keys[i])
        i = (i + 1) & (m->cap - 1);
    m->keys[i] = k;
    m->vals[i] = val;
    m->n++;
    return 0;
}

void *vg_strmap_del(struct vg_strmap *m, const char *key)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1, i = hash(key) & mask;
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & mask;
    if (!m->keys[i])
        return NULL;
    void *val = m->vals[i];
    free(m->keys[i]);
    m->keys[i] = NULL;
    m->vals[i] = NULL;
    m->n--;
    /* Backward-shift deletion: no tombstones, so lookups still stop at the first empty slot.
     * An entry moves into the hole when its home slot is not cyclically inside (hole, j]. */
    for (size_t j = (i + 1) & mask; m->keys[j]; j = (j + 1) & mask) {
        size_t home = hash(m->keys[j]) & mask;
        int inside = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (inside)
            continue;
        m->keys[i] = m->keys[j];
        m->vals[i] = m->vals[j];
        m->keys[j] = NULL;
        m->vals[j] = NULL;
        i = j;
    }
    return val;
}

long vg_strmap_del_if(struct vg_strmap *m, int (*drop)(void *ud, const void *val), void *ud,
                      void (*fn)(void *val))
{
    size_t n = 0;
    for (size_t i = 0; i < m->cap; i++)
        n += m->keys[i] && drop(ud, m->vals[i]);
    if (!n)
        return 0;
    char **gone = malloc(n * sizeof(*gone));
    if (!gone)
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < m->cap && k < n; i++)
        if (m->keys[i] && drop(ud, m->vals[i]))
            gone[k++] = m->keys[i];
    /* Each gathered key is the map's own copy; deleting one moves others' slots, never their
     * strings, and frees only its own (after the lookup that found it). */
    for (size_t i = 0; i < k; i++) {
        void *v = vg_strmap_del(m, gone[i]);
        if (fn)
            fn(v);
    }
    free(gone);
    return (long)k;
}

void vg_strmap_free(struct vg_strmap *m, void (*fn)(void *val))
{
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        if (fn)
            fn(m->vals[i]);
        free(m->keys[i]);
    }
    free(m->keys);
    free(m->vals);
    vg_strmap_init(m);
}
