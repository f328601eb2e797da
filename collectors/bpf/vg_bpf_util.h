/* Shared user-space plumbing of the eBPF collectors: opening and attaching programs with specific
 * errors, reading maps once per tick, and histogram arithmetic. Internal to collectors/bpf (and
 * its tests).
 */
#ifndef VG_BPF_UTIL_H
#define VG_BPF_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>

#include "vg_hist.h"
#include "vg_rate.h"
#include "vg_wire.h"

struct bpf_map;
struct bpf_object;
struct bpf_link;
struct vg_bpf_pair;

/* Per-cgroup metrics are sent for this many cgroups per tick, the busiest first. */
#define VG_BPF_TOP_CGROUPS 10

#define VG_BPF_MAX_TPS 8

/* One program of a collector and the tracepoint it attaches to, always as a raw tracepoint
 * (docs/ebpf.md says why tp/ programs are not used). */
struct vg_bpf_tp {
    const char *prog;     /* program name in the BPF object */
    const char *category; /* tracefs event category, e.g. "sched" */
    const char *event;    /* e.g. "sched_switch" */
    int required;         /* the collector is useless without it; else its metrics are left out */
    const char *loses;    /* what is not reported without it (for the log line) */
    /* A raw tracepoint program written for an older form of the event, with more arguments
     * than the current one: the kernel refuses to attach it (EINVAL) where the event has fewer,
     * and the next entry, the same event's current form, is attached instead. Where it does
     * attach, the next entry is left unattached. */
    int older_form;
};

/* Runs of a collector's programs that the kernel skipped (docs/ebpf.md, "Events lost"). */
struct vg_bpf_misses {
    struct vg_rate rate;
    __u64 logged;      /* total at the last log line */
    int64_t logged_ms; /* when that line was written; 0: never */
    int unsupported;   /* the count is not reported or cannot be read: not sent */
};

struct vg_bpf_links {
    struct bpf_link *link[VG_BPF_MAX_TPS];
    int prog_fd[VG_BPF_MAX_TPS]; /* the attached programs, owned by their bpf_object */
    unsigned present;            /* bit i: tps[i] exists on this kernel and was attached */
    struct vg_bpf_misses misses;
};

/* Checks what every eBPF collector needs before its object is opened: kernel BTF, a mounted
 * tracefs (mounted here, once, with one log line, when missing), libbpf's messages routed to the
 * log. Returns 0 or -ENOENT with err naming what is missing. */
int vg_bpf_prepare(const char *collector, char *err, size_t errlen);

/* 1 when tracefs lists the event, 0 when it does not, negative errno when that cannot be told
 * (tracefs unavailable). Honours vg_bpf_tp_override(). */
int vg_bpf_tp_exists(const char *category, const char *event);

/* Tests only: makes collectors ask for tracepoint to_cat/to_event wherever they would use
 * from_cat/from_event, to simulate a kernel that lacks one. NULLs remove the override. The
 * strings are not copied. */
void vg_bpf_tp_override(const char *from_cat, const char *from_event, const char *to_cat,
                        const char *to_event);

/* Between open and load: probes each tracepoint; a missing optional one has its program's
 * autoload turned off and one info line logged; a missing required one fails with -ENOENT and
 * "<collector>: tracepoint cat/event missing". Sets *present (bit i: tps[i] exists). */
int vg_bpf_select(struct bpf_object *obj, const char *collector, const struct vg_bpf_tp *tps,
                  size_t n, unsigned *present, char *err, size_t errlen);

/* Turns a failed open or load (rc < 0) into a specific message, e.g. the privileges missing. */
int vg_bpf_load_failed(const char *collector, const char *what, int rc, char *err, size_t errlen);

/* Attaches the programs of the present tracepoints. An optional one the kernel does not have
 * (-ENOENT: the lookup in vg_bpf_select could not be made) is logged as missing and left out of
 * links->present; any other failure, or nothing attached, fails, detaching what it attached. */
int vg_bpf_attach(struct bpf_object *obj, const char *collector, const struct vg_bpf_tp *tps,
                  size_t n, unsigned present, struct vg_bpf_links *links, char *err, size_t errlen);
void vg_bpf_detach(struct vg_bpf_links *links);

/* The kernel's recursion_misses of one program: the times it did not run the program because
 * the program was already running on that CPU (an event in an interrupt that arrived while the
 * program handled another). 0 with *misses set; -EOPNOTSUPP where the kernel does not report the
 * count (before 5.12); or -errno of the bpf() call. */
int vg_bpf_prog_misses(int prog_fd, __u64 *misses);

/* Emits metric (e.g. "bpf.biolat.missed_ps"): the runs the kernel skipped per second, over all
 * the attached programs of links. Absent on the first tick, and for good where the kernel does
 * not count them or the count cannot be read (one line says so, once). The first tick it grows, and
 * then at most once a minute while it grows, a warning names the collector and the count, since
 * each skipped run is an event the collector's metrics do not include. */
int vg_bpf_emit_misses(struct vg_bpf_links *links, const char *collector, const char *metric,
                       int64_t now_ms, struct vg_wire_msg *out, char *err, size_t errlen);

/* Possible CPUs, the stride of per-CPU map values. */
int vg_bpf_ncpus(void);

/* Reads one per-CPU array element made of n __u64 and sums it over CPUs into out[n]. scratch
 * holds vg_bpf_ncpus() * n __u64. */
int vg_bpf_read_percpu(int map_fd, __u32 key, size_t n, __u64 *scratch, __u64 *out, char *err,
                       size_t errlen);

/* LRU hash maps (docs/ebpf.md, "LRU map sizes"). The kernel's common LRU hands out free entries
 * to each CPU in batches: a CPU whose own free list is empty takes a batch from the map's global
 * free list, and when that list holds less than a batch it evicts entries to make one up, however
 * many free entries the other CPUs' lists still hold. The batch is 128 entries (LOCAL_FREE_TARGET
 * in kernel/bpf/bpf_lru_list.c); since Linux 6.16 it is max_entries / possible CPUs / 2 when that
 * is less. So a map of max_entries can evict while it holds only max_entries - 128 x CPUs, and a
 * map must be that much larger than what it has to hold. */
#define VG_BPF_LRU_CPU_BATCH 128
/* Kernel memory one LRU map may take for that reserve. Never less than twice the entries the map
 * must hold, which since 6.16 is enough for up to max_entries / 2 CPUs (the batches of all CPUs
 * then add up to at most half the map). */
#define VG_BPF_LRU_MAX_BYTES (8u << 20)
/* Kernel memory of an entry beyond its key and value: 48 bytes of element header and up to 32 of
 * hash bucket (16 bytes each, max_entries rounded up to a power of two); measured on 6.18. */
#define VG_BPF_LRU_ENTRY_OVERHEAD 80

/* max_entries for an LRU hash map that must hold `live` entries of key_size + value_size bytes
 * without evicting any on a host with ncpus (>= 1) possible CPUs: live + VG_BPF_LRU_CPU_BATCH per
 * CPU, cut to what VG_BPF_LRU_MAX_BYTES holds but not below 2 * live. */
__u32 vg_bpf_lru_entries(__u32 live, unsigned ncpus, __u32 key_size, __u32 value_size);

/* The kernel memory vg_bpf_lru_entries' limit counts for a map of entries (an upper bound). */
__u64 vg_bpf_lru_bytes(__u32 entries, __u32 key_size, __u32 value_size);

/* Between open and load: sets an LRU hash map's max_entries to vg_bpf_lru_entries(live, ...) for
 * this host's possible CPUs. Returns 0 or negative errno with err set. */
int vg_bpf_lru_size(struct bpf_map *map, __u32 live, const char *collector, char *err,
                    size_t errlen);

/* Tests only: vg_bpf_lru_size sizes every map for `live` entries instead of its own, so that a
 * test can overflow one with a few hundred keys; 0 restores the maps' own. */
void vg_bpf_lru_live_override(__u32 live);

/* Entries an LRU map has lost to eviction so far, for a map whose entries only its programs
 * create (each counted in `created`) and only user space deletes (`deleted` of them, all before
 * the map was read): created - live - deleted. `created` must be read before the map is: an entry
 * created in between then makes the figure low, never high. Never below prev, the previous
 * result: a low figure catches up at the next reading. */
__u64 vg_bpf_lru_evicted(__u64 prev, __u64 created, __u64 live, __u64 deleted);

/* Events a collector's metrics lost (entries evicted from a full map, requests that could not be
 * timed), sent as a rate like vg_bpf_emit_misses sends skipped runs. */
struct vg_bpf_loss {
    struct vg_rate rate;
    __u64 logged;      /* total at the last log line */
    int64_t logged_ms; /* when that line was written; 0: never */
    int primed;
};

/* Emits metric: the growth of total (a count since load) per second; absent on the first tick.
 * The first tick it grows after the first, and then at most once a minute while it grows, a
 * warning names the collector, what was lost (`what`) and the count. What the first reading
 * holds is only the baseline: e.g. requests that were in flight when the programs were attached
 * complete untimed, and that is no loss worth a warning. */
int vg_bpf_emit_loss(struct vg_bpf_loss *l, __u64 total, const char *collector, const char *what,
                     const char *metric, int64_t now_ms, struct vg_wire_msg *out, char *err,
                     size_t errlen);

/* Zeroed memory for n elements of size bytes, for arrays sized for a full BPF map: a map usually
 * holds a fraction of its max_entries (a few dozen of bpf_syscall_errors' 4,352 cgroups), and
 * only the pages written become resident. The memory is an anonymous mapping of its own, whose
 * pages the kernel provides only when first touched; calloc() took the smaller of these arrays
 * from the heap and cleared them whenever it reused memory freed there (libbpf frees plenty while
 * loading), so all of it was resident: 0.4 MiB of the agent's RSS (docs/bench.md). NULL when out
 * of memory. Freed with vg_bpf_lazy_free() (NULL is ignored). */
void *vg_bpf_lazy_calloc(size_t n, size_t size);
void vg_bpf_lazy_free(void *p);

/* A whole hash map read at one instant: keys ascending, each with width __u64 values. */
struct vg_bpf_snap {
    size_t key_size; /* 4 or 8 */
    size_t width;
    size_t cap; /* the map's max_entries */
    size_t n;
    __u64 *keys;
    __u64 *vals; /* n * width */
    /* per entry: vg_bpf_cgsweep deleted it from the map after the read, holding a newer value
     * than the read's, which vals then holds; the next sweep drops it from the snapshot */
    unsigned char *swept;
    /* scratch for reading */
    unsigned char *rawk;
    struct vg_bpf_pair *order;
    __u64 *row; /* width values */
};

int vg_bpf_snap_init(struct vg_bpf_snap *s, size_t key_size, size_t width, size_t cap);
/* Replaces the content with the map's; batched lookups where the kernel has them. */
int vg_bpf_snap_read(struct vg_bpf_snap *s, int map_fd, char *err, size_t errlen);
/* The values for key, or NULL. */
const __u64 *vg_bpf_snap_find(const struct vg_bpf_snap *s, __u64 key);
void vg_bpf_snap_swap(struct vg_bpf_snap *a, struct vg_bpf_snap *b);
void vg_bpf_snap_free(struct vg_bpf_snap *s);

/* The per-cgroup maps' entries of cgroups that no longer exist (docs/ebpf.md, "Events lost"):
 * nothing else would ever remove them, and each new cgroup would then evict one, read as a
 * loss. */
struct vg_bpf_cgsweep {
    uint64_t gen;             /* the cgroup names' walk count when the previous snapshot was read */
    __u64 deleted;            /* entries deleted so far */
    int no_lookup_and_delete; /* the kernel refused BPF_MAP_LOOKUP_AND_DELETE_ELEM on the map */
};

struct vg_cgnames;

/* Call with the collector's init, before any snapshot is read. */
void vg_bpf_cgsweep_init(struct vg_bpf_cgsweep *s, const struct vg_cgnames *names);

/* Right after cur (keys of 8 bytes: cgroup ids; a map of plain values, not per-CPU) is read from
 * map_fd, and after the evictions are worked out from it; prev is the previous snapshot. Deletes
 * from the map, and drops from cur, the entries of cgroups that are gone: entries unchanged since
 * prev (a gone cgroup's entry no longer changes, so it holds nothing unread) whose cgroup a walk
 * made since prev was read did not find (vg_cgnames_gone), and that still hold what cur read when
 * looked up again (the programs update in place; one that changed is kept). The delete takes the
 * entry's last value in the same call (BPF_MAP_LOOKUP_AND_DELETE_ELEM, Linux 5.14): when an update
 * landed since that lookup, the entry stays in cur for this tick with that value, so that the
 * gain enters the caller's differences (unnamed, as its cgroup is gone), and is dropped from prev
 * by the next call (cur->swept), so that an entry the programs create again under that id counts
 * whole. Where the kernel cannot, a plain delete loses such an update, uncounted. When unchanged
 * entries of cgroups the last walk did not find are there and no walk was made since prev was read,
 * walks first (vg_cgnames_sweep: at most every VG_CG_SWEEP_MS). Counts the deletions in s->deleted.
 * Returns 0 or negative errno with err set. */
int vg_bpf_cgsweep(struct vg_bpf_cgsweep *s, struct vg_cgnames *names, int map_fd,
                   struct vg_bpf_snap *cur, struct vg_bpf_snap *prev, int64_t now_ms, char *err,
                   size_t errlen);

/* Counter arrays and histograms only grow in the kernel; a smaller reading means the entry was
 * evicted and re-created, and then all it holds is new. Writes cur - prev (or cur) into delta
 * (which may alias neither) and returns the sum of delta. prev may be NULL (entry is new). */
__u64 vg_bpf_delta(const __u64 *cur, const __u64 *prev, size_t n, __u64 *delta);

/* Bucket i covers [lower, upper) nanoseconds. */
__u64 vg_hist_lower(__u32 i);
__u64 vg_hist_upper(__u32 i);

/* The q-quantile (0 < q <= 1) of a histogram holding total samples (> 0), interpolated within
 * its bucket; nanoseconds. */
double vg_hist_quantile(const __u64 *slots, __u64 total, double q);

/* Picks the indices of up to k largest non-zero counts[0..n), largest first. Returns how many. */
size_t vg_bpf_top(const __u64 *counts, size_t n, size_t *idx, size_t k);

/* Appends a metric whose name is formatted from fmt. */
int vg_bpf_emit(struct vg_wire_msg *out, double value, char *err, size_t errlen, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));

#endif
