/* Cgroup ids (what bpf_get_current_cgroup_id() returns: the inode number of the cgroup's
 * directory in the v2 hierarchy) turned into names for metrics, by walking that hierarchy.
 *
 * The walk is cached; an id not in the cache triggers a new walk, at most one per tick (the
 * caller's budget), and an id that a walk did not find is not looked for again for
 * VG_CG_RETRY_MS, so a cgroup that vanished, or one outside this cgroup namespace, costs one walk,
 * not one per tick. A walk also tells which cgroups are gone (vg_cgnames_gone), so that what is
 * kept for them can be dropped.
 */
#ifndef VG_CGNAME_H
#define VG_CGNAME_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>

#define VG_CG_NAME_MAX  120   /* bytes of a cgroup's name in a metric name */
#define VG_CG_WALK_MAX  16384 /* directories a walk visits at most */
#define VG_CG_DEPTH_MAX 32
#define VG_CG_NEG_MAX   64
#define VG_CG_RETRY_MS  60000
#define VG_CG_SWEEP_MS  10000 /* vg_cgnames_sweep walks at most this often */

struct vg_cg_entry {
    __u64 id;
    char *name;
};

struct vg_cgnames {
    char root[PATH_MAX];
    struct vg_cg_entry *e; /* sorted by id */
    size_t n;
    struct {
        __u64 id;
        int64_t at_ms;
    } neg[VG_CG_NEG_MAX];
    size_t neg_next;
    uint64_t walks;    /* walks made so far */
    int complete;      /* the last walk saw every directory of the hierarchy */
    int64_t walked_ms; /* when the last walk was made; 0: never */
};

/* Finds the cgroup v2 mount in /proc/self/mountinfo (/sys/fs/cgroup on pure-v2 hosts,
 * /sys/fs/cgroup/unified on hybrid ones). Returns 0, or -ENOENT when there is none. */
int vg_cgroup2_mount(char *out, size_t n, char *err, size_t errlen);

/* The same on mountinfo's text (len bytes, not NUL-terminated), for the fuzzer. Lines over 4 KiB
 * are skipped. */
int vg_cgroup2_mount_parse(const char *text, size_t len, char *out, size_t n, char *err,
                           size_t errlen);

/* root: the v2 mount point. Allocates nothing yet. */
void vg_cgnames_init(struct vg_cgnames *c, const char *root);
void vg_cgnames_free(struct vg_cgnames *c);

/* The metric name of cgroup id, or NULL when it cannot be found. A cache miss walks the
 * hierarchy when *walk_budget > 0, and decrements it. */
const char *vg_cgnames_get(struct vg_cgnames *c, __u64 id, int64_t now_ms, int *walk_budget);

/* 1 when the last walk found id, without walking. */
int vg_cgnames_known(const struct vg_cgnames *c, __u64 id);

/* Whether id's cgroup is gone, for dropping what is kept for it. gen is c->walks read when the
 * cgroup was known to exist (e.g. when an entry made by one of its tasks was read). 1 when a walk
 * made since then saw the whole hierarchy and not id; 0 when id is there, or when that cannot be
 * told (no walk since, or the last one stopped at VG_CG_WALK_MAX or VG_CG_DEPTH_MAX, or could not
 * open or read a directory for any reason but its removal). Cgroup ids are never reused, so a
 * cgroup the walk did not find cannot come back. An incomplete walk also keeps the names the cache
 * had and it did not see (at most VG_CG_WALK_MAX of them). */
int vg_cgnames_gone(const struct vg_cgnames *c, __u64 id, uint64_t gen);

/* Walks the hierarchy again, for vg_cgnames_gone, unless a walk was made less than
 * VG_CG_SWEEP_MS before now_ms. Returns 1 when it walked, 0 when not, negative errno. */
int vg_cgnames_sweep(struct vg_cgnames *c, int64_t now_ms);

/* The process's one cache, on the v2 mount; NULL (logged once) when there is no v2 hierarchy.
 * One cache for all: ids are global, and one walk serves every collector that names cgroups. */
struct vg_cgnames *vg_bpf_cgnames(void);

/* Names the cgroups ids[0..n) (the busiest first) for one tick: names[i] is the metric name, or
 * "" when the cgroup cannot be found or a busier one already has that name (two paths can
 * sanitise alike), so that metric names stay unique. Walks at most once. */
void vg_cgnames_name_top(struct vg_cgnames *c, const __u64 *ids, size_t n, int64_t now_ms,
                         char (*names)[VG_CG_NAME_MAX + 1]);

/* Writes the metric form of a path relative to the v2 root: "" is "root", '/' becomes '.', any
 * other byte outside [A-Za-z0-9_.:-] becomes '_'; a path too long for VG_CG_NAME_MAX keeps its
 * end (the most specific part) after a '_'. Returns the length written. */
size_t vg_cgroup_metric_name(char *dst, size_t dstsize, const char *rel);

#endif
