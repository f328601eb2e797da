/* Test object for tests/test_bpf.c: two forms of one event's program, as bpf_biolat has for
 * block_rq_issue (vg_bpf_tp.older_form), on an event whose shape this kernel has, so that both
 * outcomes of choosing a form can be checked here: the older form attaches and the current one is
 * left out, or the kernel refuses the older form (it reads an argument the event lacks) and the
 * current one is attached. raw_syscalls/sys_enter has two arguments. Each program counts its
 * runs for the calling process only. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 target_tgid = 0;

__u64 runs_fits = 0, runs_too_many = 0, runs_current = 0;
/* Written so that the compiler keeps every argument read: the kernel judges a program by the
 * furthest argument it reads. */
__u64 sink = 0;

static __always_inline int mine(void)
{
    return (__u32)(bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

/* Reads both arguments: fits sys_enter. */
SEC("raw_tp/sys_enter")
int BPF_PROG(form_fits, struct pt_regs *regs, long id)
{
    if (mine()) {
        __sync_fetch_and_add(&runs_fits, 1);
        sink = (__u64)regs ^ (__u64)id;
    }
    return 0;
}

/* Reads a third argument sys_enter does not have: refused at attach (EINVAL). */
SEC("raw_tp/sys_enter")
int BPF_PROG(form_too_many, struct pt_regs *regs, long id, long extra)
{
    if (mine()) {
        __sync_fetch_and_add(&runs_too_many, 1);
        sink = (__u64)regs ^ (__u64)id ^ (__u64)extra;
    }
    return 0;
}

SEC("raw_tp/sys_enter")
int BPF_PROG(form_current, struct pt_regs *regs)
{
    if (mine()) {
        __sync_fetch_and_add(&runs_current, 1);
        sink = (__u64)regs;
    }
    return 0;
}
