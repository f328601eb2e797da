/* bpf_biolat: structures shared by biolat.bpf.c and biolat.c. */
#ifndef VG_BIOLAT_H
#define VG_BIOLAT_H

/* What the LRU maps must hold. The maps are made larger at load, by a batch of free entries per
 * CPU (vg_bpf_lru_size), so that they hold this much before the kernel evicts anything. */
#define BIOLAT_MAX_INFLIGHT 16384 /* requests in flight, tracked at once */
#define BIOLAT_MAX_DEVS     256   /* devices with a histogram (least recently used go first) */

/* Per-CPU counters of what the maps lost. */
enum biolat_counter {
    BIOLAT_UNTIMED,     /* requests with data completed without an issue time */
    BIOLAT_DEV_CREATED, /* dev_hist entries created: those no longer there were evicted */
    BIOLAT_NCOUNTERS,
};

#endif
