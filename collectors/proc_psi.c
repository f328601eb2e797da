/* psi: pressure stall information from /proc/pressure/{cpu,memory,io}. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proc_parse.h"
#include "proc_read.h"
#include "vg_collector.h"
#include "vg_rate.h"
#include "vg_util.h"

/* Four rows per resource, in the order psi_collect relies on. */
static const struct vg_metric_desc psi_metrics[] = {
    {"psi.cpu.some_avg10", "%", VG_METRIC_GAUGE,
     "Share of the last 10 s in which at least one task was stalled waiting for a CPU."},
    {"psi.cpu.some_total_us_ps", "us/s", VG_METRIC_RATE,
     "Time in which at least one task was stalled waiting for a CPU, per second: 1000000 means "
     "stalled all the time."},
    {"psi.cpu.full_avg10", "%", VG_METRIC_GAUGE,
     "Share of the last 10 s in which all non-idle tasks were stalled waiting for a CPU at once "
     "(always 0 system-wide, see above)."},
    {"psi.cpu.full_total_us_ps", "us/s", VG_METRIC_RATE,
     "Time in which all non-idle tasks were stalled waiting for a CPU at once, per second."},
    {"psi.memory.some_avg10", "%", VG_METRIC_GAUGE,
     "Share of the last 10 s in which at least one task was stalled on memory: reclaim, "
     "refaults of evicted pages, swap-in."},
    {"psi.memory.some_total_us_ps", "us/s", VG_METRIC_RATE,
     "Time in which at least one task was stalled on memory, per second."},
    {"psi.memory.full_avg10", "%", VG_METRIC_GAUGE,
     "Share of the last 10 s in which all non-idle tasks were stalled on memory at once: time "
     "lost outright (thrashing)."},
    {"psi.memory.full_total_us_ps", "us/s", VG_METRIC_RATE,
     "Time in which all non-idle tasks were stalled on memory at once, per second."},
    {"psi.io.some_avg10", "%", VG_METRIC_GAUGE,
     "Share of the last 10 s in which at least one task was stalled waiting for I/O."},
    {"psi.io.some_total_us_ps", "us/s", VG_METRIC_RATE,
     "Time in which at least one task was stalled waiting for I/O, per second."},
    {"psi.io.full_avg10", "%", VG_METRIC_GAUGE,
     "Share of the last 10 s in which all non-idle tasks were stalled waiting for I/O at once."},
    {"psi.io.full_total_us_ps", "us/s", VG_METRIC_RATE,
     "Time in which all non-idle tasks were stalled waiting for I/O at once, per second."},
};

enum { PSI_CPU, PSI_MEMORY, PSI_IO, PSI_NRES };
static const char *const res_name[PSI_NRES] = {"cpu", "memory", "io"};
/* Rows of psi_metrics per resource: some_avg10, some_total, full_avg10, full_total. */
#define ROWS 4
_Static_assert(VG_ARRAY_LEN(psi_metrics) == PSI_NRES * ROWS, "four metrics per resource");

struct psi_state {
    char path[PSI_NRES][PATH_MAX];
    struct vg_procbuf buf;
    struct vg_rate total[PSI_NRES][VG_PSI_NLINES];
};

static int read_sample(struct psi_state *st, int res, struct vg_psi_sample *smp, char *err,
                       size_t errlen)
{
    int rc = vg_procbuf_read(&st->buf, st->path[res], err, errlen);
    if (rc < 0)
        return rc;
    return vg_parse_psi(st->buf.data, st->buf.len, st->path[res], smp, err, errlen);
}

static void psi_fini(void *state)
{
    struct psi_state *st = state;
    if (!st)
        return;
    vg_procbuf_free(&st->buf);
    free(st);
}

static int psi_init(void **state, const struct vg_collector_cfg *cfg, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    struct stat sb;
    struct vg_psi_sample smp;
    struct psi_state *st = calloc(1, sizeof *st);
    if (!st)
        return vg_err(err, errlen, -ENOMEM, "psi: out of memory");
    int rc = vg_proc_path(dir, sizeof dir, cfg->proc_root, "/proc", "pressure", err, errlen);
    /* The directory missing is the common case (old kernel, CONFIG_PSI off, psi=0 at boot); say
     * so rather than name a file in it. */
    if (rc == 0 && stat(dir, &sb) < 0)
        rc = vg_err(err, errlen, -errno,
                    "cannot read %s: %s (kernel before 4.20, built without CONFIG_PSI, or booted "
                    "with psi=0)",
                    dir, strerror(errno));
    for (int i = 0; rc == 0 && i < PSI_NRES; i++) {
        rc = vg_proc_path(st->path[i], sizeof st->path[i], dir, NULL, res_name[i], err, errlen);
        if (rc == 0)
            rc = read_sample(st, i, &smp, err, errlen);
    }
    if (rc < 0) {
        psi_fini(st);
        return rc;
    }
    *state = st;
    return 0;
}

static int psi_collect(void *state, int64_t now_ms, struct vg_wire_msg *out, char *err,
                       size_t errlen)
{
    struct psi_state *st = state;
    int first_rc = 0;
    for (int i = 0; i < PSI_NRES; i++) {
        struct vg_psi_sample p;
        /* One unreadable resource does not hide the others; the first error is returned. */
        int rc = read_sample(st, i, &p, first_rc ? NULL : err, errlen);
        if (rc < 0) {
            if (!first_rc)
                first_rc = rc;
            continue;
        }
        for (int k = 0; k < VG_PSI_NLINES; k++) {
            const struct vg_metric_desc *m = &psi_metrics[i * ROWS + k * 2];
            double ps;
            if (!(p.have & (1u << k)))
                continue;
            rc = vg_wire_msg_add_metric(out, m[0].name, p.avg10[k], err, errlen);
            if (rc == 0 && vg_rate_update(&st->total[i][k], p.total_us[k], now_ms, 64, &ps) == 0)
                rc = vg_wire_msg_add_metric(out, m[1].name, ps, err, errlen);
            if (rc < 0)
                return rc;
        }
    }
    return first_rc;
}

const struct vg_collector vg_collector_psi = {
    .name = "psi",
    .help = "Pressure stall information, from /proc/pressure/{cpu,memory,io} (kernel 4.20+ with "
            "PSI enabled): how much time tasks lost waiting for a resource. The cpu \"full\" "
            "line exists from kernel 5.13 on (before that the psi.cpu.full_* metrics are not "
            "sent), and system-wide the kernel always reports it as 0: it is meaningful for "
            "cgroups only.",
    .metrics = psi_metrics,
    .n_metrics = VG_ARRAY_LEN(psi_metrics),
    .init = psi_init,
    .collect = psi_collect,
    .fini = psi_fini,
};
