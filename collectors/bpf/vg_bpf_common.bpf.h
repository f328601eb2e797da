/* Helpers shared by the BPF programs; include after vmlinux.h and bpf/bpf_helpers.h. */
#ifndef VG_BPF_COMMON_BPF_H
#define VG_BPF_COMMON_BPF_H

#include "vg_hist.h"

/* Source of a new map entry: a histogram does not fit on the 512-byte BPF stack. */
static struct vg_hist vg_zero_hist;

/* Adds one to entry idx of a per-CPU array of __u64 counters. Not atomic: a program does not nest
 * within itself on one CPU, so give each program its own entries. */
static __always_inline void vg_count(void *counters, __u32 idx)
{
    __u64 *c = bpf_map_lookup_elem(counters, &idx);
    if (c)
        (*c)++;
}

/* The histogram for key in an LRU hash map of them, created empty on first use. Two CPUs may race
 * to create it; BPF_NOEXIST makes one win and both then count into the same entry. The winner
 * counts the creation in entry created_idx of the per-CPU counters `created`: what was created
 * and is no longer there was evicted, or deleted by user space, which counts its deletions
 * (vg_bpf_lru_evicted). */
static __always_inline struct vg_hist *vg_hist_get(void *map, const void *key, void *created,
                                                   __u32 created_idx)
{
    struct vg_hist *h = bpf_map_lookup_elem(map, key);
    if (h)
        return h;
    if (bpf_map_update_elem(map, key, &vg_zero_hist, BPF_NOEXIST) == 0)
        vg_count(created, created_idx);
    return bpf_map_lookup_elem(map, key);
}

/* For histograms shared between CPUs. */
static __always_inline void vg_hist_add_atomic(struct vg_hist *h, __u64 ns)
{
    __u32 i = vg_hist_bucket(ns);
    /* clang knows i is in range and drops the check, but the verifier cannot tell. */
    barrier_var(i);
    if (i < VG_HIST_BUCKETS)
        __sync_fetch_and_add(&h->slots[i], 1);
}

/* For per-CPU histograms: a program does not nest within itself on one CPU. */
static __always_inline void vg_hist_add(struct vg_hist *h, __u64 ns)
{
    __u32 i = vg_hist_bucket(ns);
    /* clang knows i is in range and drops the check, but the verifier cannot tell. */
    barrier_var(i);
    if (i < VG_HIST_BUCKETS)
        h->slots[i]++;
}

/* Adds n to the counter for key in an LRU hash map of them, created on first use and the creation
 * counted as vg_hist_get counts it. */
static __always_inline void vg_add_u64(void *map, const void *key, __u64 n, void *created,
                                       __u32 created_idx)
{
    __u64 *v = bpf_map_lookup_elem(map, key);
    if (v) {
        __sync_fetch_and_add(v, n);
        return;
    }
    if (bpf_map_update_elem(map, key, &n, BPF_NOEXIST) == 0) {
        vg_count(created, created_idx);
        return;
    }
    /* Lost the race to create it: the winner's entry is there now. */
    v = bpf_map_lookup_elem(map, key);
    if (v)
        __sync_fetch_and_add(v, n);
}

#endif
