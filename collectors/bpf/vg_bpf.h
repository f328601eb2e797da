/* eBPF collectors (docs/ebpf.md): run-queue latency, block I/O latency, TCP events, failing
 * syscalls, process events. Each aggregates in the kernel and is read once per tick.
 *
 * The collectors exist in every build so that the collector table and docs/metrics.md do not
 * depend on the build host; where eBPF support was not compiled in, their init fails with a
 * message saying so, and the agent runs without them.
 */
#ifndef VG_BPF_H
#define VG_BPF_H

#include "vg_collector.h"

extern const struct vg_collector vg_collector_bpf_runqlat;
extern const struct vg_collector vg_collector_bpf_biolat;
extern const struct vg_collector vg_collector_bpf_tcp;
extern const struct vg_collector vg_collector_bpf_syscall_errors;
extern const struct vg_collector vg_collector_bpf_proc_events;

/* 1 when this build has the eBPF collectors (clang, bpftool and kernel BTF were found at build
 * time, or VIGIL_BPF=ON), 0 when their init can only report that they are missing. */
int vg_bpf_compiled_in(void);

#endif
