/* bpf_proc_events, kernel side: OOM kills, execs and process exits, counted.
 *
 * raw_tp rather than tp, as in biolat.bpf.c: a tp/ program is skipped while anything holds the
 * CPU's bpf_prog_active count, a bpf() map syscall preempted on that CPU included. The
 * arguments are not read, so no form of these events' signatures matters. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "proc_events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct procev_counters);
} counters SEC(".maps");

static __always_inline void count(enum procev_counter which)
{
    __u32 zero = 0;
    struct procev_counters *c = bpf_map_lookup_elem(&counters, &zero);
    if (c && which < PROCEV_NCOUNTERS)
        c->c[which]++;
}

SEC("raw_tp/mark_victim")
int procev_oom(void *ctx)
{
    count(PROCEV_OOM_KILLS);
    return 0;
}

SEC("raw_tp/sched_process_exec")
int procev_exec(void *ctx)
{
    count(PROCEV_EXECS);
    return 0;
}

/* Fires once per exiting thread, in its own context; the thread-group leader stands for the
 * process. */
SEC("raw_tp/sched_process_exit")
int procev_exit(void *ctx)
{
    __u64 id = bpf_get_current_pid_tgid();
    if ((__u32)id == (__u32)(id >> 32))
        count(PROCEV_EXITS);
    return 0;
}
