/* Collectors: each is a struct of callbacks registered in the one table vg_collectors[]
 * (vg_collector.c). The agent opens every collector the config enables; one that cannot work on
 * this host (file missing, no permission) logs one line at open and stays off.
 */
#ifndef VG_COLLECTOR_H
#define VG_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vg_wire.h"

enum vg_metric_type {
    VG_METRIC_GAUGE, /* a level read as is */
    VG_METRIC_RATE,  /* a kernel counter turned into a per-second rate */
};

/* One metric (or family: "disk.<dev>.read_bytes_ps") a collector emits; the table generates
 * docs/metrics.md, so name, unit and help are written for users. */
struct vg_metric_desc {
    const char *name;
    const char *unit;
    enum vg_metric_type type;
    const char *help;
};

/* Zero (or NULL) in any field means its default. */
struct vg_collector_cfg {
    const char *proc_root; /* "/proc" unless tests point it at a fixture tree; NULL: "/proc" */
    const char *sys_root;  /* "/sys" likewise */
    int cpu_per_cpu;       /* cpu: also send cpu.<n>.* for each CPU */
    /* cgroup: the v2 hierarchy; NULL or "auto": <sys_root>/fs/cgroup when it is one, else
     * <sys_root>/fs/cgroup/unified (hybrid hosts). */
    const char *cgroup_root;
    /* cgroup: comma-separated globs of paths below the root; NULL: every directory in
     * system.slice. */
    const char *cgroup_select;
    int cgroup_max;  /* cgroup: cgroups reported at most; 0: 100 */
    int fsspace_max; /* fsspace: file systems reported at most; 0: 64 */
    /* The most a tick's encoded message may take (vg_wire_msg_size_max), set by the agent from
     * the wire format's limit and the producer's message.max.bytes; 0: no limit. A collector
     * with keeps_within set leaves things out rather than pass it. */
    size_t max_message_bytes;
    /* bpf_*: where minimal kernel BTF files are cached (collectors/bpf/vg_bpf_btf.h); NULL or ""
     * loads with the whole kernel BTF. */
    const char *bpf_btf_cache;
    const char *bpf_bpftool; /* bpf_*: the bpftool that makes them; NULL: "bpftool" */
    int check; /* init for --check-config: a collector may log what it found (cgroup: matches) */
};

struct vg_collector {
    const char *name;
    const char *help;
    const struct vg_metric_desc *metrics;
    size_t n_metrics;
    /* Allocates *state (released by fini; cfg is not kept). Reads its source once, so a missing
     * file fails here: returns 0, or -ENOENT/-EACCES/-EINVAL (content not understood)/... with
     * err naming the file, and then *state is untouched and fini must not be called. */
    int (*init)(void **state, const struct vg_collector_cfg *cfg, char *err, size_t errlen);
    /* Reads the source once and appends metrics to out. now_ms is any clock that never goes
     * back (vg_mono_ms()); only differences between calls are used. Rates need two readings, so
     * the first call may append nothing, and a counter that reset is left out for one call.
     * Returns 0 or negative with err set (the agent logs and counts). Metrics appended before an
     * error are valid: a device collector that meets one malformed line still reports the
     * others, then returns -EINVAL for that line. */
    int (*collect)(void *state, int64_t now_ms, struct vg_wire_msg *out, char *err, size_t errlen);
    void (*fini)(void *state); /* accepts NULL */
    /* 1: collect leaves part of what it could send out of the tick (counted, and said in err)
     * rather than let the message pass cfg->max_message_bytes. The agent runs such collectors
     * after the others, so that the bound counts their metrics as well. */
    int keeps_within;
};

/* NULL-terminated table of every collector built in. */
extern const struct vg_collector *const vg_collectors[];

/* Finds a collector by name, or NULL. */
const struct vg_collector *vg_collector_find(const char *name);

/* Tests only: the clock (monotonic ms) the cgroup collector times its rescan with, so that a
 * test can make the scan take a known time; NULL restores vg_mono_ms. */
void vg_cgroup_set_scan_clock(int64_t (*now_ms)(void));

/* Writes the metric reference (docs/metrics.md) generated from every collector's table.
 * Returns 0, or -EIO when f reports a write error. */
int vg_collectors_write_markdown(FILE *f);

#endif
