/* bpf_biolat: structures shared by biolat.bpf.c and biolat.c. */
#ifndef VG_BIOLAT_H
#define VG_BIOLAT_H

#define BIOLAT_MAX_INFLIGHT 16384 /* requests in flight, tracked at once */
#define BIOLAT_MAX_DEVS     256   /* devices with a histogram (least recently used go first) */

/* A request in flight: the device and its first sector identify it from issue to completion. */
struct biolat_rq {
    __u32 dev; /* the kernel's dev_t: major << 20 | minor */
    __u32 pad;
    __u64 sector;
};

#endif
