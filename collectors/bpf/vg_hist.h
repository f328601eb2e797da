/* Latency histogram shared by the BPF programs (which fill it) and user space (which reads it).
 *
 * Buckets are powers of two split into VG_HIST_SUB linear sub-buckets, so a bucket is at most
 * 1/VG_HIST_SUB of its lower bound wide: a percentile read from it is within 12.5% (interpolated,
 * usually far closer) at every scale, from nanoseconds to minutes, in a fixed 2 KiB.
 * Values are nanoseconds; values below VG_HIST_SUB get a bucket each, values of 2^VG_HIST_MAX_LOG2
 * and above all land in the last bucket.
 *
 * Included by BPF code (after vmlinux.h, which defines __u64) and by user space.
 */
#ifndef VG_HIST_H
#define VG_HIST_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define VG_HIST_SUB_BITS 3
#define VG_HIST_SUB      (1u << VG_HIST_SUB_BITS)
#define VG_HIST_MAX_LOG2 37 /* 2^37 ns is about 137 s */
#define VG_HIST_BUCKETS  ((VG_HIST_MAX_LOG2 - VG_HIST_SUB_BITS + 1) * VG_HIST_SUB)

struct vg_hist {
    __u64 slots[VG_HIST_BUCKETS];
};

/* floor(log2(v)) for v > 0, without loops or clz, which the BPF target lacks. */
static inline __attribute__((always_inline)) __u32 vg_log2_u32(__u32 v)
{
    __u32 shift, r;

    r = (__u32)(v > 0xFFFF) << 4;
    v >>= r;
    shift = (__u32)(v > 0xFF) << 3;
    v >>= shift;
    r |= shift;
    shift = (__u32)(v > 0xF) << 2;
    v >>= shift;
    r |= shift;
    shift = (__u32)(v > 0x3) << 1;
    v >>= shift;
    r |= shift;
    r |= (v >> 1);
    return r;
}

static inline __attribute__((always_inline)) __u32 vg_log2_u64(__u64 v)
{
    __u32 hi = (__u32)(v >> 32);
    return hi ? vg_log2_u32(hi) + 32 : vg_log2_u32((__u32)v);
}

static inline __attribute__((always_inline)) __u32 vg_hist_bucket(__u64 v)
{
    if (v < VG_HIST_SUB)
        return (__u32)v;
    __u32 e = vg_log2_u64(v);
    if (e >= VG_HIST_MAX_LOG2)
        return VG_HIST_BUCKETS - 1;
    __u32 sub = (__u32)(v >> (e - VG_HIST_SUB_BITS)) & (VG_HIST_SUB - 1);
    return (e - VG_HIST_SUB_BITS + 1) * VG_HIST_SUB + sub;
}

#endif
