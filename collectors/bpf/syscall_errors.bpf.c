/* bpf_syscall_errors, kernel side: every syscall that returns an error, counted by errno class
 * and by cgroup. Runs on every syscall exit, so the common path (no error) is a compare; and as
 * a raw tracepoint, which is handed the return value directly, where a tp program would first
 * have the kernel build the event record (measured: ~40 ns per syscall more). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "syscall_errors.h"
#include "vg_bpf_common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define MAX_ERRNO 4095 /* larger "negative" returns are addresses, not errors */

/* errno values are fixed by the ABI; vmlinux.h has no #defines. */
#define EPERM_                 1
#define ENOENT_                2
#define EINTR_                 4
#define EAGAIN_                11
#define EACCES_                13
#define ERESTARTSYS_           512
#define ERESTART_RESTARTBLOCK_ 516

/* Set before load; off where user space cannot name cgroups, so the verifier drops that work. */
const volatile bool track_cgroups = true;

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct syserr_counters);
} counters SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, SYSERR_MAX_CGROUPS);
    __type(key, __u64);
    __type(value, __u64);
} cg_errors SEC(".maps");

/* cg_errors entries created: those no longer there were evicted, or deleted by user space
 * (their cgroup was removed), which counts those itself. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} cg_created SEC(".maps");

SEC("raw_tp/sys_exit")
int BPF_PROG(syserr_exit, struct pt_regs *regs, long ret)
{
    if (ret >= 0 || ret < -MAX_ERRNO)
        return 0;
    long e = -ret;
    __u32 cls = SYSERR_OTHER;
    if (e == ENOENT_)
        cls = SYSERR_ENOENT;
    else if (e == EACCES_ || e == EPERM_)
        cls = SYSERR_EACCES;
    else if (e == EAGAIN_)
        cls = SYSERR_EAGAIN;
    else if (e == EINTR_ || (e >= ERESTARTSYS_ && e <= ERESTART_RESTARTBLOCK_))
        cls = SYSERR_EINTR;

    __u32 zero = 0;
    struct syserr_counters *c = bpf_map_lookup_elem(&counters, &zero);
    if (c && cls < SYSERR_NCLASSES)
        c->c[cls]++;
    if (!track_cgroups)
        return 0;
    __u64 cg = bpf_get_current_cgroup_id();
    vg_add_u64(&cg_errors, &cg, 1, &cg_created, 0);
    return 0;
}
