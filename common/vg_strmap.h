/* String-keyed hash map (open addressing, linear probing) holding void * values. Used for the
 * analyzer's host and series tables, where lookups happen once per metric per tick. */
#ifndef VG_STRMAP_H
#define VG_STRMAP_H

#include <stddef.h>

struct vg_strmap {
    char **keys;
    void **vals;
    size_t cap; /* power of two */
    size_t n;
};

void vg_strmap_init(struct vg_strmap *m);

/* Returns the value for key, or NULL. */
void *vg_strmap_get(const struct vg_strmap *m, const char *key);

/* Inserts key (copied) -> val; key must not be present. Returns 0 or -ENOMEM. */
int vg_strmap_put(struct vg_strmap *m, const char *key, void *val);

/* Removes key and returns its value (the caller frees it), or NULL when absent. Entries after it
 * in its probe chain move back, so iterate over a copy of the keys when deleting in a loop. */
void *vg_strmap_del(struct vg_strmap *m, const char *key);

/* Removes every entry for which drop(ud, val) is true, handing its value to fn (may be NULL).
 * Safe against the moves deletion makes. Returns how many were removed, or -ENOMEM (nothing
 * removed). */
long vg_strmap_del_if(struct vg_strmap *m, int (*drop)(void *ud, const void *val), void *ud,
                      void (*fn)(void *val));

/* Calls fn on every value (e.g. to free them), then frees the map's own storage. */
void vg_strmap_free(struct vg_strmap *m, void (*fn)(void *val));

/* Iteration: for (size_t i = 0; i < m->cap; i++) if (m->keys[i]) ... */

#endif
