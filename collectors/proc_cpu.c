/* cpu: CPU time shares and scheduler activity from /proc/stat. */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "proc_parse.h"
#include "proc_read.h"
#include "proc_scan.h"
#include "vg_collector.h"
#include "vg_rate.h"
#include "vg_util.h"

static const struct vg_metric_desc cpu_metrics[] = {
    {"cpu.user_pct", "%", VG_METRIC_GAUGE,
     "Share of CPU time spent in user mode, including running virtual machines."},
    {"cpu.nice_pct", "%", VG_METRIC_GAUGE,
     "Share of CPU time spent in user mode at low priority (positive nice)."},
    {"cpu.system_pct", "%", VG_METRIC_GAUGE, "Share of CPU time spent in the kernel."},
    {"cpu.idle_pct", "%", VG_METRIC_GAUGE, "Share of CPU time spent idle."},
    {"cpu.iowait_pct", "%", VG_METRIC_GAUGE,
     "Share of CPU time spent idle while I/O was outstanding (0 on kernels before 2.5.41)."},
    {"cpu.irq_pct", "%", VG_METRIC_GAUGE,
     "Share of CPU time spent servicing hardware interrupts (0 on kernels before 2.6)."},
    {"cpu.softirq_pct", "%", VG_METRIC_GAUGE,
     "Share of CPU time spent servicing soft interrupts (0 on kernels before 2.6)."},
    {"cpu.steal_pct", "%", VG_METRIC_GAUGE,
     "Share of time a virtual CPU wanted to run but the hypervisor ran something else (0 on "
     "kernels before 2.6.11)."},
    {"cpu.ctxt_ps", "switches/s", VG_METRIC_RATE, "Context switches."},
    {"cpu.intr_ps", "interrupts/s", VG_METRIC_RATE, "Interrupts serviced, all sources."},
    {"cpu.forks_ps", "forks/s", VG_METRIC_RATE, "Processes and threads created."},
    {"cpu.procs_running", "tasks", VG_METRIC_GAUGE, "Tasks runnable or running right now."},
    {"cpu.procs_blocked", "tasks", VG_METRIC_GAUGE,
     "Tasks blocked waiting for I/O to complete right now."},
};

/* The jiffy columns that make up the total, each with its metric (same order as cpu_metrics).
 * guest and guest_nice are left out: the kernel already counts them in user and nice. */
#define N_SHARES 8

struct cpu_state {
    char path[PATH_MAX];
    struct vg_procbuf buf;
    struct vg_stat_sample prev;
    int primed;
    struct vg_rate ctxt, intr, forks;
};

static int parse_one(struct vg_span *line, const char *src, unsigned lineno, const char *key,
                     uint64_t *v, char *err, size_t errlen)
{
    if (vg_span_u64(line, v) < 0)
        return vg_err(err, errlen, -EINVAL, "%s:%u: expected a number after \"%s\"", src, lineno,
                      key);
    return 0;
}

int vg_parse_stat(const char *buf, size_t len, const char *src, struct vg_stat_sample *out,
                  char *err, size_t errlen)
{
    static const struct {
        const char *key;
        size_t off;
        unsigned bit;
    } singles[] = {
        {"ctxt", offsetof(struct vg_stat_sample, ctxt), VG_STAT_HAVE_CTXT},
        /* The first number is the total; the per-source counts after it are skipped unread. */
        {"intr", offsetof(struct vg_stat_sample, intr), VG_STAT_HAVE_INTR},
        {"processes", offsetof(struct vg_stat_sample, forks), VG_STAT_HAVE_FORKS},
        {"procs_running", offsetof(struct vg_stat_sample, procs_running), VG_STAT_HAVE_RUNNING},
        {"procs_blocked", offsetof(struct vg_stat_sample, procs_blocked), VG_STAT_HAVE_BLOCKED},
    };
    struct vg_scan s;
    struct vg_span line, w;
    int rc;

    memset(out, 0, sizeof *out);
    vg_scan_init(&s, buf, len);
    while (vg_scan_line(&s, &line)) {
        if (!vg_span_word(&line, &w))
            continue;
        if (vg_word_is(w, "cpu")) {
            if (out->n_cpu_cols)
                return vg_err(err, errlen, -EINVAL, "%s:%u: second aggregate \"cpu\" line", src,
                              s.line);
            int n = 0;
            uint64_t v;
            while ((rc = vg_span_u64(&line, &v)) == 0) {
                /* Columns a future kernel may add are ignored. */
                if (n < VG_CPU_NCOLS)
                    out->cpu[n] = v;
                n++;
            }
            if (rc != -ENODATA)
                return vg_err(err, errlen, -EINVAL,
                              "%s:%u: column %d of the \"cpu\" line is not a number", src, s.line,
                              n + 1);
            if (n < 4)
                return vg_err(err, errlen, -EINVAL,
                              "%s:%u: the \"cpu\" line has %d columns, expected at least 4", src,
                              s.line, n);
            out->n_cpu_cols = n < VG_CPU_NCOLS ? n : VG_CPU_NCOLS;
            continue;
        }
        for (size_t i = 0; i < VG_ARRAY_LEN(singles); i++) {
            if (!vg_word_is(w, singles[i].key))
                continue;
            uint64_t *dst = (uint64_t *)((char *)out + singles[i].off);
            if ((rc = parse_one(&line, src, s.line, singles[i].key, dst, err, errlen)) < 0)
                return rc;
            out->have |= singles[i].bit;
            break;
        }
    }
    if (!out->n_cpu_cols)
        return vg_err(err, errlen, -EINVAL, "%s: no aggregate \"cpu\" line", src);
    return 0;
}

static int read_sample(struct cpu_state *st, struct vg_stat_sample *smp, char *err, size_t errlen)
{
    int rc = vg_procbuf_read(&st->buf, st->path, err, errlen);
    if (rc < 0)
        return rc;
    return vg_parse_stat(st->buf.data, st->buf.len, st->path, smp, err, errlen);
}

static void cpu_fini(void *state)
{
    struct cpu_state *st = state;
    if (!st)
        return;
    vg_procbuf_free(&st->buf);
    free(st);
}

static int cpu_init(void **state, const struct vg_collector_cfg *cfg, char *err, size_t errlen)
{
    struct vg_stat_sample smp;
    struct cpu_state *st = calloc(1, sizeof *st);
    if (!st)
        return vg_err(err, errlen, -ENOMEM, "cpu: out of memory");
    int rc = vg_proc_path(st->path, sizeof st->path, cfg->proc_root, "/proc", "stat", err, errlen);
    /* Reading once here turns a missing or unreadable file into one clear message at startup. */
    if (rc == 0)
        rc = read_sample(st, &smp, err, errlen);
    if (rc < 0) {
        cpu_fini(st);
        return rc;
    }
    *state = st;
    return 0;
}

static int add_rate(struct vg_rate *r, uint64_t v, int64_t now_ms, const char *name,
                    struct vg_wire_msg *out, char *err, size_t errlen)
{
    double ps;
    if (vg_rate_update(r, v, now_ms, 64, &ps) < 0)
        return 0;
    return vg_wire_msg_add_metric(out, name, ps, err, errlen);
}

static int cpu_collect(void *state, int64_t now_ms, struct vg_wire_msg *out, char *err,
                       size_t errlen)
{
    struct cpu_state *st = state;
    struct vg_stat_sample cur;
    int rc = read_sample(st, &cur, err, errlen);
    if (rc < 0)
        return rc;

    if (st->primed) {
        uint64_t d[N_SHARES], total = 0;
        for (int i = 0; i < N_SHARES; i++) {
            /* iowait is known to step backwards on NO_HZ kernels, and the sum over online CPUs
             * drops when one goes offline: a column that went down contributed nothing. */
            d[i] = cur.cpu[i] > st->prev.cpu[i] ? cur.cpu[i] - st->prev.cpu[i] : 0;
            total += d[i];
        }
        /* No jiffy elapsed (two reads within one tick of the kernel clock): no share to report. */
        for (int i = 0; total > 0 && i < N_SHARES; i++) {
            rc = vg_wire_msg_add_metric(out, cpu_metrics[i].name,
                                        100.0 * (double)d[i] / (double)total, err, errlen);
            if (rc < 0)
                return rc;
        }
    }
    st->prev = cur;
    st->primed = 1;

    if ((cur.have & VG_STAT_HAVE_CTXT) &&
        (rc = add_rate(&st->ctxt, cur.ctxt, now_ms, "cpu.ctxt_ps", out, err, errlen)) < 0)
        return rc;
    if ((cur.have & VG_STAT_HAVE_INTR) &&
        (rc = add_rate(&st->intr, cur.intr, now_ms, "cpu.intr_ps", out, err, errlen)) < 0)
        return rc;
    if ((cur.have & VG_STAT_HAVE_FORKS) &&
        (rc = add_rate(&st->forks, cur.forks, now_ms, "cpu.forks_ps", out, err, errlen)) < 0)
        return rc;
    if ((cur.have & VG_STAT_HAVE_RUNNING) &&
        (rc = vg_wire_msg_add_metric(out, "cpu.procs_running", (double)cur.procs_running, err,
                                     errlen)) < 0)
        return rc;
    if ((cur.have & VG_STAT_HAVE_BLOCKED) &&
        (rc = vg_wire_msg_add_metric(out, "cpu.procs_blocked", (double)cur.procs_blocked, err,
                                     errlen)) < 0)
        return rc;
    return 0;
}

const struct vg_collector vg_collector_cpu = {
    .name = "cpu",
    .help = "CPU time shares and scheduler activity, from /proc/stat. Shares are of the jiffies "
            "that elapsed on all CPUs together since the previous tick, so they sum to 100.",
    .metrics = cpu_metrics,
    .n_metrics = VG_ARRAY_LEN(cpu_metrics),
    .init = cpu_init,
    .collect = cpu_collect,
    .fini = cpu_fini,
};
