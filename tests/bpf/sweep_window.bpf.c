/* Test object for tests/test_bpf.c: a program's update landing in vg_bpf_cgsweep's window, after
 * its last lookup of an entry and before the entry is deleted, made deterministic. `bump` runs at
 * the entry of the test process's bpf() calls; armed, at the first that deletes a map entry
 * (BPF_MAP_DELETE_ELEM or BPF_MAP_LOOKUP_AND_DELETE_ELEM), it adds one to the entry of `key` in
 * `counts`, as the collectors' programs add to a cgroup's entry, and disarms. The syscall then
 * runs after that update, as it would after a program's on another CPU. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 target_tgid = 0;
const volatile long bpf_syscall_nr = -1;

__u64 key = 0;
__u32 armed = 0;
__u64 bumps = 0;

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 64);
    __type(key, __u64);
    __type(value, __u64);
} counts SEC(".maps");

SEC("raw_tp/sys_enter")
int BPF_PROG(bump, struct pt_regs *regs, long id)
{
    if (id != bpf_syscall_nr || (__u32)(bpf_get_current_pid_tgid() >> 32) != target_tgid || !armed)
        return 0;
    long cmd = PT_REGS_PARM1_CORE_SYSCALL(regs);
    if (cmd != BPF_MAP_DELETE_ELEM && cmd != BPF_MAP_LOOKUP_AND_DELETE_ELEM)
        return 0;
    armed = 0;
    __u64 *v = bpf_map_lookup_elem(&counts, &key);
    if (v) {
        __sync_fetch_and_add(v, 1);
        __sync_fetch_and_add(&bumps, 1);
    }
    return 0;
}
