/* Test object for tests/test_bpf.c: makes the kernel skip runs of a raw tracepoint program on
 * purpose, so that the count the collectors report as bpf.<name>.missed_ps can be checked against
 * a known number.
 *
 * `nested` is attached to the bpf_trace/bpf_trace_printk tracepoint and itself calls
 * bpf_printk: the tracepoint fires again while `nested` runs on the same CPU, and the kernel
 * skips that run and counts it in the program's recursion_misses. So every run of `nested`
 * costs exactly one miss. `trigger` is run by BPF_PROG_TEST_RUN to start each chain. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Other processes' bpf_printk (another BPF tool's debugging) run `nested` too: it leaves them
 * alone, so that only this test's chains make misses. */
const volatile __u32 target_tgid = 0;

__u64 nested_runs = 0;

SEC("raw_tp")
int trigger(void *ctx)
{
    bpf_printk("vigil test: skipped_runs trigger");
    return 0;
}

SEC("raw_tp/bpf_trace_printk")
int nested(void *ctx)
{
    if ((__u32)(bpf_get_current_pid_tgid() >> 32) != target_tgid)
        return 0;
    __sync_fetch_and_add(&nested_runs, 1);
    bpf_printk("vigil test: skipped_runs nested");
    return 0;
}
