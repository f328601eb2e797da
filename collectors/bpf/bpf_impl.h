/* The eBPF collectors' callbacks, defined in <name>.c and tabled in bpf_collectors.c. */
#ifndef VG_BPF_IMPL_H
#define VG_BPF_IMPL_H

#include "vg_collector.h"

#define VG_BPF_DECLARE(x)                                                                          \
    int vg_bpf_##x##_init(void **state, const struct vg_collector_cfg *cfg, char *err,             \
                          size_t errlen);                                                          \
    int vg_bpf_##x##_collect(void *state, int64_t now_ms, struct vg_wire_msg *out, char *err,      \
                             size_t errlen);                                                       \
    void vg_bpf_##x##_fini(void *state);

VG_BPF_DECLARE(runqlat)
VG_BPF_DECLARE(biolat)
VG_BPF_DECLARE(tcp)
VG_BPF_DECLARE(syscall_errors)
VG_BPF_DECLARE(proc_events)

#endif
