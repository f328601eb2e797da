/* bpf_biolat: structures shared by biolat.bpf.c and biolat.c. */
#ifndef VG_BIOLAT_H
#define VG_BIOLAT_H

/* What the LRU maps must hold. The maps are made larger at load, by a batch of free entries per
 * CPU (vg_bpf_lru_size), so that they hold this much before the kernel evicts anything. */
#define BIOLAT_MAX_INFLIGHT 16384 /* requests in flight, tracked at once */
#define BIOLAT_MAX_DEVS     256   /* devices with a histogram (least recently used go first) */

/* User side. A device stays listed for BIOLAT_IDLE_TICKS ticks without I/O, long enough that an
 * idle disk reads 0 on dashboards rather than vanishing, then is forgotten. Its name is read
 * again every BIOLAT_NAME_TICKS ticks while listed: device numbers are reused (NVMe hot-plug,
 * loop and device-mapper minors), so the number may name another disk by then. */
#define BIOLAT_IDLE_TICKS 300
#define BIOLAT_NAME_TICKS 10

/* Per-CPU counters of what the maps lost. */
enum biolat_counter {
    BIOLAT_UNTIMED,     /* requests with data completed without an issue time */
    BIOLAT_DEV_CREATED, /* dev_hist entries created: those no longer there were evicted */
    BIOLAT_NCOUNTERS,
};

#endif
