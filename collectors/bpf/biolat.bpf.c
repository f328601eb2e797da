/* bpf_biolat, kernel side: block request latency from issue to the driver until completion, per
 * device (the queueing before issue is the scheduler's, not the device's). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "biolat.h"
#include "vg_bpf_common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The leading fields of block_rq_issue and block_rq_complete, at the offsets their tracefs
 * formats have long had (dev at 8, sector at 16). Declared here rather than taken from
 * vmlinux.h because the completion event's struct was renamed (trace_event_raw_block_rq_complete
 * -> _block_rq_completion) while this layout stayed. */
struct blk_rq_event {
    __u64 common;
    __u32 dev;
    __u32 pad;
    __u64 sector;
};

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, BIOLAT_MAX_INFLIGHT);
    __type(key, struct biolat_rq);
    __type(value, __u64);
} inflight SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, BIOLAT_MAX_DEVS);
    __type(key, __u32);
    __type(value, struct vg_hist);
} dev_hist SEC(".maps");

SEC("tp/block/block_rq_issue")
int biolat_issue(struct blk_rq_event *ctx)
{
    struct biolat_rq rq = {.dev = ctx->dev, .sector = ctx->sector};
    __u64 ts = bpf_ktime_get_ns();
    bpf_map_update_elem(&inflight, &rq, &ts, BPF_ANY);
    return 0;
}

SEC("tp/block/block_rq_complete")
int biolat_complete(struct blk_rq_event *ctx)
{
    struct biolat_rq rq = {.dev = ctx->dev, .sector = ctx->sector};
    __u64 *tsp = bpf_map_lookup_elem(&inflight, &rq);
    if (!tsp)
        return 0;
    __s64 delta = (__s64)(bpf_ktime_get_ns() - *tsp);
    bpf_map_delete_elem(&inflight, &rq);
    if (delta < 0)
        return 0;
    __u32 dev = rq.dev;
    struct vg_hist *h = vg_hist_get(&dev_hist, &dev);
    if (h)
        vg_hist_add_atomic(h, delta);
    return 0;
}
