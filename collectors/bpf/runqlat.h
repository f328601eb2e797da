/* bpf_runqlat: structures shared by runqlat.bpf.c and runqlat.c. */
#ifndef VG_RUNQLAT_H
#define VG_RUNQLAT_H

#define RUNQLAT_SLOTS 65536 /* power of two: tasks waiting to run, by pid modulo this */
/* cgroups with a histogram (least recently used go first); the LRU map is made larger at load,
 * by a batch of free entries per CPU (vg_bpf_lru_size), so that it holds this many */
#define RUNQLAT_MAX_CGROUPS 1024

/* When a task started waiting. An array slot rather than a hash entry: the wakeup path is hot,
 * and an array lookup is inlined where a hash update takes a lock (measured: ~280 ns per
 * wakeup saved). Two waiting tasks whose pids share a slot cost one sample, never a wrong one:
 * the pid is checked on the way out. */
struct runqlat_slot {
    __u32 pid;
    __u32 pad;
    __u64 ts;
};

/* The longest wait a CPU saw during tick `epoch`, in entry epoch % 2 of the map. User space bumps
 * the epoch each tick, then reads the entry of the tick just ended: a wait that ends meanwhile
 * writes the other entry, so it cannot overwrite the maximum being read (with one entry it did
 * on a contended CPU, and a tick reported a p99 but no max_us). Entries still tagged with an
 * older epoch are ignored, so no one ever has to reset them. */
struct runqlat_max {
    __u64 epoch;
    __u64 max_ns;
};

#endif
