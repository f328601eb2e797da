/* bpf_runqlat: structures shared by runqlat.bpf.c and runqlat.c. */
#ifndef VG_RUNQLAT_H
#define VG_RUNQLAT_H

#define RUNQLAT_SLOTS       65536 /* power of two: tasks waiting to run, by pid modulo this */
#define RUNQLAT_MAX_CGROUPS 1024  /* cgroups with a histogram (least recently used go first) */

/* When a task started waiting. An array slot rather than a hash entry: the wakeup path is hot,
 * and an array lookup is inlined where a hash update takes a lock (measured: ~280 ns per
 * wakeup saved). Two waiting tasks whose pids share a slot cost one sample, never a wrong one:
 * the pid is checked on the way out. */
struct runqlat_slot {
    __u32 pid;
    __u32 pad;
    __u64 ts;
};

/* The longest wait a CPU saw during tick `epoch`. User space bumps the epoch each tick and reads
 * the slots still tagged with the previous one, so no one ever has to reset them. */
struct runqlat_max {
    __u64 epoch;
    __u64 max_ns;
};

#endif
