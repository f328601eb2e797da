/* bpf_runqlat, kernel side: time from a task becoming runnable (woken, or preempted while still
 * runnable) to it getting a CPU, into a system-wide per-CPU histogram and one per cgroup.
 *
 * raw_tp rather than tp: the raw tracepoints hand over the task_struct pointers, so the task
 * switched in (not current, which is still the previous one) gives its own pid and cgroup. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "runqlat.h"
#include "vg_bpf_common.bpf.h"

#define TASK_RUNNING 0

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Bumped by user space once per tick. */
__u64 epoch = 0;

/* Set before load; off where user space cannot name cgroups, so the verifier drops that work. */
const volatile bool track_cgroups = true;

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, RUNQLAT_SLOTS);
    __type(key, __u32);
    __type(value, struct runqlat_slot);
} start SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct vg_hist);
} hist SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, RUNQLAT_MAX_CGROUPS);
    __type(key, __u64);
    __type(value, struct vg_hist);
} cg_hist SEC(".maps");

/* cg_hist entries created: those no longer there were evicted, or deleted by user space
 * (their cgroup was removed), which counts those itself. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} cg_created SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 2); /* by epoch % 2 */
    __type(key, __u32);
    __type(value, struct runqlat_max);
} max_slot SEC(".maps");

/* task_struct->state became __state in 5.14. */
struct task_struct___o {
    volatile long int state;
} __attribute__((preserve_access_index));

struct task_struct___x {
    unsigned int __state;
} __attribute__((preserve_access_index));

static __always_inline long task_state(struct task_struct *t)
{
    struct task_struct___x *tx = (void *)t;
    if (bpf_core_field_exists(tx->__state))
        return BPF_CORE_READ(tx, __state);
    return BPF_CORE_READ((struct task_struct___o *)t, state);
}

static __always_inline void enqueued(__u32 pid, __u64 now)
{
    /* pid 0 is each CPU's idle task, which never waits. */
    if (!pid)
        return;
    __u32 k = pid & (RUNQLAT_SLOTS - 1);
    struct runqlat_slot *s = bpf_map_lookup_elem(&start, &k);
    if (!s)
        return;
    s->pid = pid;
    s->ts = now;
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(runqlat_wakeup, struct task_struct *p)
{
    enqueued(BPF_CORE_READ(p, pid), bpf_ktime_get_ns());
    return 0;
}

SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(runqlat_wakeup_new, struct task_struct *p)
{
    enqueued(BPF_CORE_READ(p, pid), bpf_ktime_get_ns());
    return 0;
}

SEC("raw_tp/sched_switch")
int BPF_PROG(runqlat_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
    __u64 now = bpf_ktime_get_ns();
    /* Preempted while runnable: it waits in the run queue from now on. */
    if (task_state(prev) == TASK_RUNNING)
        enqueued(BPF_CORE_READ(prev, pid), now);

    __u32 pid = BPF_CORE_READ(next, pid);
    if (!pid)
        return 0;
    __u32 k = pid & (RUNQLAT_SLOTS - 1);
    struct runqlat_slot *s = bpf_map_lookup_elem(&start, &k);
    if (!s || s->pid != pid || !s->ts)
        return 0;
    __s64 delta = (__s64)(now - s->ts);
    s->ts = 0;
    if (delta < 0)
        return 0;

    __u32 zero = 0;
    struct vg_hist *h = bpf_map_lookup_elem(&hist, &zero);
    if (h)
        vg_hist_add(h, delta);

    __u64 e = epoch;
    __u32 half = (__u32)(e & 1);
    struct runqlat_max *m = bpf_map_lookup_elem(&max_slot, &half);
    if (m) {
        if (m->epoch != e) {
            m->epoch = e;
            m->max_ns = delta;
        } else if ((__u64)delta > m->max_ns) {
            m->max_ns = delta;
        }
    }

    if (!track_cgroups)
        return 0;
    __u64 cg = BPF_CORE_READ(next, cgroups, dfl_cgrp, kn, id);
    struct vg_hist *ch = vg_hist_get(&cg_hist, &cg, &cg_created, 0);
    if (ch)
        vg_hist_add_atomic(ch, delta);
    return 0;
}
