/* vmstat: paging, swapping and OOM kills from /proc/vmstat. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "proc_parse.h"
#include "proc_read.h"
#include "vg_collector.h"
#include "vg_rate.h"
#include "vg_util.h"

static const struct vg_metric_desc vmstat_metrics[] = {
    {"vmstat.pgfault_ps", "faults/s", VG_METRIC_RATE,
     "Page faults of all kinds (pgfault), minor ones included: most are served from memory."},
    {"vmstat.pgmajfault_ps", "faults/s", VG_METRIC_RATE,
     "Major page faults (pgmajfault): the page had to be read from disk or swap."},
    {"vmstat.pswpin_ps", "pages/s", VG_METRIC_RATE, "Pages swapped in (pswpin)."},
    {"vmstat.pswpout_ps", "pages/s", VG_METRIC_RATE, "Pages swapped out (pswpout)."},
    {"vmstat.pgpgin_bytes_ps", "bytes/s", VG_METRIC_RATE,
     "Data read from block devices into memory (pgpgin, which the kernel counts in KiB): file "
     "reads and swap-ins."},
    {"vmstat.pgpgout_bytes_ps", "bytes/s", VG_METRIC_RATE,
     "Data written from memory to block devices (pgpgout, in KiB in the kernel)."},
    {"vmstat.oom_kill_ps", "kills/s", VG_METRIC_RATE,
     "Processes killed by the OOM killer, system-wide and in cgroups (oom_kill; kernel 4.13+)."},
    {"vmstat.oom_kill", "kills", VG_METRIC_GAUGE,
     "OOM kills since boot (oom_kill; kernel 4.13+): unlike the rate, present from the first "
     "tick."},
};

static const char *const vm_keys[VG_VM_NFIELDS] = {
    [VG_VM_PGPGIN] = "pgpgin",     [VG_VM_PGPGOUT] = "pgpgout", [VG_VM_PSWPIN] = "pswpin",
    [VG_VM_PSWPOUT] = "pswpout",   [VG_VM_PGFAULT] = "pgfault", [VG_VM_PGMAJFAULT] = "pgmajfault",
    [VG_VM_OOM_KILL] = "oom_kill",
};

/* The rate sent for each field, and the factor from the kernel's unit to the metric's. */
static const struct {
    int field;
    const char *name;
    double scale;
} vm_rates[] = {
    {VG_VM_PGFAULT, "vmstat.pgfault_ps", 1},
    {VG_VM_PGMAJFAULT, "vmstat.pgmajfault_ps", 1},
    {VG_VM_PSWPIN, "vmstat.pswpin_ps", 1},
    {VG_VM_PSWPOUT, "vmstat.pswpout_ps", 1},
    {VG_VM_PGPGIN, "vmstat.pgpgin_bytes_ps", 1024},
    {VG_VM_PGPGOUT, "vmstat.pgpgout_bytes_ps", 1024},
    {VG_VM_OOM_KILL, "vmstat.oom_kill_ps", 1},
};
_Static_assert(VG_ARRAY_LEN(vm_rates) == VG_VM_NFIELDS, "one rate per field");

struct vmstat_state {
    char path[PATH_MAX];
    struct vg_procbuf buf;
    struct vg_rate rate[VG_VM_NFIELDS];
};

int vg_parse_vmstat(const char *buf, size_t len, const char *src, struct vg_vmstat_sample *out,
                    char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int rc = vg_parse_keyed(buf, len, src, vm_keys, VG_VM_NFIELDS, out->v, &out->have, err, errlen);
    if (rc < 0)
        return rc;
    if (!out->have)
        return vg_err(err, errlen, -EINVAL,
                      "%s: none of pgfault, pgmajfault, pswpin, pswpout, pgpgin, pgpgout, "
                      "oom_kill (kernel without CONFIG_VM_EVENT_COUNTERS?)",
                      src);
    return 0;
}

static int read_sample(struct vmstat_state *st, struct vg_vmstat_sample *smp, char *err,
                       size_t errlen)
{
    int rc = vg_procbuf_read(&st->buf, st->path, err, errlen);
    if (rc < 0)
        return rc;
    return vg_parse_vmstat(st->buf.data, st->buf.len, st->path, smp, err, errlen);
}

static void vmstat_fini(void *state)
{
    struct vmstat_state *st = state;
    if (!st)
        return;
    vg_procbuf_free(&st->buf);
    free(st);
}

static int vmstat_init(void **state, const struct vg_collector_cfg *cfg, char *err, size_t errlen)
{
    struct vg_vmstat_sample smp;
    struct vmstat_state *st = calloc(1, sizeof *st);
    if (!st)
        return vg_err(err, errlen, -ENOMEM, "vmstat: out of memory");
    int rc =
        vg_proc_path(st->path, sizeof st->path, cfg->proc_root, "/proc", "vmstat", err, errlen);
    if (rc == 0)
        rc = read_sample(st, &smp, err, errlen);
    if (rc < 0) {
        vmstat_fini(st);
        return rc;
    }
    *state = st;
    return 0;
}

static int vmstat_collect(void *state, int64_t now_ms, struct vg_wire_msg *out, char *err,
                          size_t errlen)
{
    struct vmstat_state *st = state;
    struct vg_vmstat_sample v;
    int rc = read_sample(st, &v, err, errlen);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < VG_ARRAY_LEN(vm_rates); i++) {
        int f = vm_rates[i].field;
        double ps;
        /* unsigned long in the kernel: read as 64-bit, a 32-bit kernel's wrap skips a sample. */
        if (!(v.have & (UINT64_C(1) << f)) ||
            vg_rate_update(&st->rate[f], v.v[f], now_ms, 64, &ps) < 0)
            continue;
        rc = vg_wire_msg_add_metric(out, vm_rates[i].name, ps * vm_rates[i].scale, err, errlen);
        if (rc < 0)
            return rc;
    }
    if ((v.have & (UINT64_C(1) << VG_VM_OOM_KILL)) &&
        (rc = vg_wire_msg_add_metric(out, "vmstat.oom_kill", (double)v.v[VG_VM_OOM_KILL], err,
                                     errlen)) < 0)
        return rc;
    return 0;
}

const struct vg_collector vg_collector_vmstat = {
    .name = "vmstat",
    .help = "Paging, swapping and OOM kills, from /proc/vmstat. Fields a kernel does not print "
            "are not sent.",
    .metrics = vmstat_metrics,
    .n_metrics = VG_ARRAY_LEN(vmstat_metrics),
    .init = vmstat_init,
    .collect = vmstat_collect,
    .fini = vmstat_fini,
};
