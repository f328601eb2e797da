/* bpf_biolat: structures shared by biolat.bpf.c and biolat.c. */
#ifndef VG_BIOLAT_H
#define VG_BIOLAT_H

#define BIOLAT_MAX_INFLIGHT 16384 /* requests in flight, tracked at once */
#define BIOLAT_MAX_DEVS     256   /* devices with a histogram (least recently used go first) */

#endif
