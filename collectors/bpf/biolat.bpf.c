/* bpf_biolat, kernel side: block request latency from issue to the driver until completion, per
 * device (the queueing before issue is the scheduler's, not the device's).
 *
 * raw_tp rather than tp: a tp/ program is skipped whenever anything else holds the CPU's
 * bpf_prog_active count, which includes any process reading or writing a BPF map through the
 * bpf() system call on that CPU. Completions arrive in interrupts, so with another BPF user on
 * the host (bpftool, a CNI, the agent's own map reads) requests went uncounted: 11 to 20 of 32
 * in tests/test_bpf.c against two processes reading a map in a loop. A raw_tp program is only
 * skipped if it interrupts itself on the same CPU. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "biolat.h"
#include "vg_bpf_common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Keyed by the request's address, which is unique while the request is in flight. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, BIOLAT_MAX_INFLIGHT);
    __type(key, __u64);
    __type(value, __u64);
} inflight SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, BIOLAT_MAX_DEVS);
    __type(key, __u32);
    __type(value, struct vg_hist);
} dev_hist SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, BIOLAT_NCOUNTERS);
    __type(key, __u32);
    __type(value, __u64);
} counters SEC(".maps");

/* Older kernels' requests name their disk themselves; newer ones only through their queue. */
struct request___rq_disk {
    struct gendisk *rq_disk;
} __attribute__((preserve_access_index));

/* The kernel's dev_t of the request's whole disk (major << 20 | first minor), as the block
 * tracepoints report it; 0 for a request without a disk. */
static __always_inline __u32 rq_dev(struct request *rq)
{
    struct request___rq_disk *old = (void *)rq;
    struct gendisk *disk;
    if (bpf_core_field_exists(old->rq_disk))
        disk = BPF_CORE_READ(old, rq_disk);
    else
        disk = BPF_CORE_READ(rq, q, disk);
    if (!disk)
        return 0;
    return (__u32)BPF_CORE_READ(disk, major) << 20 | (__u32)BPF_CORE_READ(disk, first_minor);
}

static __always_inline void issued(struct request *rq)
{
    __u64 key = (__u64)rq, ts = bpf_ktime_get_ns();
    bpf_map_update_elem(&inflight, &key, &ts, BPF_ANY);
}

/* block_rq_issue(rq) since 5.11. */
SEC("raw_tp/block_rq_issue")
int BPF_PROG(biolat_issue, struct request *rq)
{
    issued(rq);
    return 0;
}

/* block_rq_issue(q, rq) before 5.11. Where the event has one argument the kernel refuses to
 * attach this program, which reads two, and biolat_issue is attached instead (biolat.c). */
SEC("raw_tp/block_rq_issue")
int BPF_PROG(biolat_issue_q, struct request_queue *q, struct request *rq)
{
    issued(rq);
    return 0;
}

/* block_rq_complete(rq, error, nr_bytes). A request completed in parts fires once per part; the
 * first ends its latency, and the entry stays, its start set to 0, until the last part (nr_bytes
 * covers what is left of the request), so that only a request whose issue was not seen finds
 * no entry. */
SEC("raw_tp/block_rq_complete")
int BPF_PROG(biolat_complete, struct request *rq, int error, unsigned int nr_bytes)
{
    __u64 key = (__u64)rq;
    __u64 *tsp = bpf_map_lookup_elem(&inflight, &key);
    if (!tsp) {
        /* Evicted, issued before the programs were attached, or its issue run skipped: counted,
         * since the device's figures lack it. Not for requests without data: the flush
         * machinery completes a request a second time with 0 bytes once its data is done, and
         * completes a bare flush request that it never issued itself. */
        if (nr_bytes)
            vg_count(&counters, BIOLAT_UNTIMED);
        return 0;
    }
    __u64 start = *tsp;
    if (nr_bytes < BPF_CORE_READ(rq, __data_len))
        *tsp = 0;
    else
        bpf_map_delete_elem(&inflight, &key);
    if (!start)
        return 0;
    __s64 delta = (__s64)(bpf_ktime_get_ns() - start);
    if (delta < 0)
        return 0;
    __u32 dev = rq_dev(rq);
    struct vg_hist *h = vg_hist_get(&dev_hist, &dev, &counters, BIOLAT_DEV_CREATED);
    if (h)
        vg_hist_add_atomic(h, delta);
    return 0;
}
