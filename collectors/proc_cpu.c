/* cpu: CPU time shares and scheduler activity from /proc/stat. */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
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
    /* Per CPU, with cpu.per_cpu on; same order as the shares above. */
    {"cpu.<n>.user_pct", "%", VG_METRIC_GAUGE,
     "As cpu.user_pct, for CPU n alone (of that CPU's jiffies). Only with cpu.per_cpu on."},
    {"cpu.<n>.nice_pct", "%", VG_METRIC_GAUGE, "As cpu.nice_pct, for CPU n."},
    {"cpu.<n>.system_pct", "%", VG_METRIC_GAUGE, "As cpu.system_pct, for CPU n."},
    {"cpu.<n>.idle_pct", "%", VG_METRIC_GAUGE, "As cpu.idle_pct, for CPU n."},
    {"cpu.<n>.iowait_pct", "%", VG_METRIC_GAUGE, "As cpu.iowait_pct, for CPU n."},
    {"cpu.<n>.irq_pct", "%", VG_METRIC_GAUGE, "As cpu.irq_pct, for CPU n."},
    {"cpu.<n>.softirq_pct", "%", VG_METRIC_GAUGE, "As cpu.softirq_pct, for CPU n."},
    {"cpu.<n>.steal_pct", "%", VG_METRIC_GAUGE, "As cpu.steal_pct, for CPU n."},
};

/* The jiffy columns that make up the total, each with its metric (same order as cpu_metrics).
 * guest and guest_nice are left out: the kernel already counts them in user and nice. */
#define N_SHARES 8

/* Where the per-CPU rows start in cpu_metrics. */
#define PERCPU_ROW 13
_Static_assert(VG_ARRAY_LEN(cpu_metrics) == PERCPU_ROW + N_SHARES, "one per-CPU row per share");

/* The previous reading of one CPU. */
struct percpu {
    uint64_t prev[N_SHARES];
    uint64_t seen; /* tick it was last read in; 0: never */
};

struct cpu_state {
    char path[PATH_MAX];
    struct vg_procbuf buf;
    struct vg_stat_sample prev;
    int primed;
    struct vg_rate ctxt, intr, forks;
    int per_cpu;
    struct percpu *cpus; /* indexed by CPU number, grown as higher numbers show up */
    size_t n_cpus;
    uint64_t tick;
};

static int parse_one(struct vg_span *line, const char *src, unsigned lineno, const char *key,
                     uint64_t *v, char *err, size_t errlen)
{
    if (vg_span_u64(line, v) < 0)
        return vg_err(err, errlen, -EINVAL, "%s:%u: expected a number after \"%s\"", src, lineno,
                      key);
    return 0;
}

/* Reads the jiffy columns left in line into c (at most VG_CPU_NCOLS kept) and their count into
 * *n_cols. Returns 0, or the 1-based column that is not a number, or -1 for fewer than 4. */
static int parse_cols(struct vg_span *line, uint64_t *c, int *n_cols)
{
    int n = 0, rc;
    uint64_t v;
    while ((rc = vg_span_u64(line, &v)) == 0) {
        /* Columns a future kernel may add are ignored. */
        if (n < VG_CPU_NCOLS)
            c[n] = v;
        n++;
    }
    if (rc != -ENODATA)
        return n + 1;
    *n_cols = n < VG_CPU_NCOLS ? n : VG_CPU_NCOLS;
    return n < 4 ? -1 : 0;
}

/* "cpu<digits>": sets *cpu and returns 1; anything else returns 0 (-1 for a number too high). */
static int cpu_number(struct vg_span w, unsigned *cpu)
{
    uint64_t v;
    if (w.end - w.p < 4 || memcmp(w.p, "cpu", 3) != 0 ||
        vg_word_u64((struct vg_span){w.p + 3, w.end}, &v) < 0)
        return 0;
    if (v > VG_CPU_MAX)
        return -1;
    *cpu = (unsigned)v;
    return 1;
}

int vg_parse_stat(const char *buf, size_t len, const char *src, struct vg_stat_sample *out,
                  char *err, size_t errlen)
{
    return vg_parse_stat_cpus(buf, len, src, out, NULL, NULL, err, errlen);
}

int vg_parse_stat_cpus(const char *buf, size_t len, const char *src, struct vg_stat_sample *out,
                       vg_cpu_line_fn fn, void *ctx, char *err, size_t errlen)
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
            int n = 0, bad = parse_cols(&line, out->cpu, &n);
            if (bad > 0)
                return vg_err(err, errlen, -EINVAL,
                              "%s:%u: column %d of the \"cpu\" line is not a number", src, s.line,
                              bad);
            if (bad < 0)
                return vg_err(err, errlen, -EINVAL,
                              "%s:%u: the \"cpu\" line has %d columns, expected at least 4", src,
                              s.line, n);
            out->n_cpu_cols = n;
            continue;
        }
        struct vg_cpu_line cl;
        int is_cpu;
        /* Without fn the per-CPU lines are not even looked at: the common case costs nothing. */
        if (fn && (is_cpu = cpu_number(w, &cl.cpu)) != 0) {
            if (is_cpu < 0)
                return vg_err(err, errlen, -EINVAL, "%s:%u: CPU number above %d", src, s.line,
                              VG_CPU_MAX);
            memset(cl.c, 0, sizeof cl.c);
            if (parse_cols(&line, cl.c, &cl.n_cols) != 0)
                return vg_err(err, errlen, -EINVAL,
                              "%s:%u: a \"cpuN\" line with a column that is not a number or "
                              "fewer than 4",
                              src, s.line);
            if ((rc = fn(ctx, &cl)) != 0)
                return rc;
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

#define COL_IDLE   3
#define COL_IOWAIT 4

/* The jiffies of each column from prev to cur into d; 0 when the reading cannot be compared
 * with the last one (a counter went down), in which case no share is sent this tick. */
static int share_deltas(const uint64_t *cur, const uint64_t *prev, uint64_t d[N_SHARES])
{
    for (int i = 0; i < N_SHARES; i++) {
        if (i == COL_IDLE || i == COL_IOWAIT)
            continue;
        /* A busy column that went down is a reset (CPU hotplug; on some kernels an offline
         * CPU's counters change source): counting it as zero would hand its share to the
         * other columns, e.g. 0 % idle on an idle host. */
        if (cur[i] < prev[i])
            return 0;
        d[i] = cur[i] - prev[i];
    }
    /* Idle and iowait are one kind of time that the kernel splits between them, and iowait is
     * known to step backwards on NO_HZ kernels: only their sum must not go down, and what
     * iowait lost went to idle. */
    uint64_t was = prev[COL_IDLE] + prev[COL_IOWAIT], now = cur[COL_IDLE] + cur[COL_IOWAIT];
    if (now < was)
        return 0;
    uint64_t iow = cur[COL_IOWAIT] > prev[COL_IOWAIT] ? cur[COL_IOWAIT] - prev[COL_IOWAIT] : 0;
    if (iow > now - was)
        iow = now - was;
    d[COL_IOWAIT] = iow;
    d[COL_IDLE] = now - was - iow;
    return 1;
}

/* Sends the shares of the jiffies that elapsed from prev to cur, as prefix + "user_pct"... */
static int add_shares(const uint64_t *cur, const uint64_t *prev, const char *prefix,
                      struct vg_wire_msg *out, char *err, size_t errlen)
{
    char name[sizeof "cpu.." + 16 + 16];
    size_t pl = strlen(prefix);
    uint64_t d[N_SHARES], total = 0;
    if (!share_deltas(cur, prev, d))
        return 0;
    for (int i = 0; i < N_SHARES; i++)
        total += d[i];
    /* No jiffy elapsed (two reads within one tick of the kernel clock): no share to report. */
    for (int i = 0; total > 0 && i < N_SHARES; i++) {
        const char *suffix = cpu_metrics[i].name + 4; /* after "cpu." */
        memcpy(name, prefix, pl);
        memcpy(name + pl, suffix, strlen(suffix) + 1);
        int rc =
            vg_wire_msg_add_metric(out, name, 100.0 * (double)d[i] / (double)total, err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

struct cpu_pass {
    struct cpu_state *st;
    struct vg_wire_msg *out;
    char *err;
    size_t errlen;
};

static int on_cpu(void *ctx, const struct vg_cpu_line *l)
{
    struct cpu_pass *p = ctx;
    struct cpu_state *st = p->st;
    char prefix[sizeof "cpu.." + 16];

    if (l->cpu >= st->n_cpus) {
        size_t n = st->n_cpus ? st->n_cpus : 64;
        while (n <= l->cpu)
            n *= 2;
        struct percpu *c = realloc(st->cpus, n * sizeof *c);
        if (!c)
            return vg_err(p->err, p->errlen, -ENOMEM, "cpu: out of memory");
        memset(c + st->n_cpus, 0, (n - st->n_cpus) * sizeof *c);
        st->cpus = c;
        st->n_cpus = n;
    }
    struct percpu *c = &st->cpus[l->cpu];
    if (c->seen == st->tick) /* a second line for the same CPU: only the first counts */
        return 0;
    /* A CPU that was offline at the previous tick has no baseline from it. */
    if (c->seen && c->seen + 1 == st->tick) {
        snprintf(prefix, sizeof prefix, "cpu.%u.", l->cpu);
        int rc = add_shares(l->c, c->prev, prefix, p->out, p->err, p->errlen);
        if (rc < 0)
            return rc;
    }
    memcpy(c->prev, l->c, sizeof c->prev);
    c->seen = st->tick;
    return 0;
}

/* With p (per-CPU on, during collect) each CPU's shares are sent as its line is parsed. */
static int read_sample(struct cpu_state *st, struct vg_stat_sample *smp, struct cpu_pass *p,
                       char *err, size_t errlen)
{
    int rc = vg_procbuf_read(&st->buf, st->path, err, errlen);
    if (rc < 0)
        return rc;
    return vg_parse_stat_cpus(st->buf.data, st->buf.len, st->path, smp, p ? on_cpu : NULL, p, err,
                              errlen);
}

static void cpu_fini(void *state)
{
    struct cpu_state *st = state;
    if (!st)
        return;
    vg_procbuf_free(&st->buf);
    free(st->cpus);
    free(st);
}

static int cpu_init(void **state, const struct vg_collector_cfg *cfg, char *err, size_t errlen)
{
    struct vg_stat_sample smp;
    struct cpu_state *st = calloc(1, sizeof *st);
    if (!st)
        return vg_err(err, errlen, -ENOMEM, "cpu: out of memory");
    st->per_cpu = cfg->cpu_per_cpu;
    int rc = vg_proc_path(st->path, sizeof st->path, cfg->proc_root, "/proc", "stat", err, errlen);
    /* Reading once here turns a missing or unreadable file into one clear message at startup. */
    if (rc == 0)
        rc = read_sample(st, &smp, NULL, err, errlen);
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
    struct cpu_pass p = {st, out, err, errlen};
    st->tick++;
    int rc = read_sample(st, &cur, st->per_cpu ? &p : NULL, err, errlen);
    if (rc < 0)
        return rc;

    if (st->primed && (rc = add_shares(cur.cpu, st->prev.cpu, "cpu.", out, err, errlen)) < 0)
        return rc;
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
            "that elapsed on all CPUs together since the previous tick, so they sum to 100. "
            "With cpu.per_cpu on, the same shares are also sent for each online CPU (8 metrics "
            "per CPU, so off by default); a CPU that was offline at the previous tick is left "
            "out for one tick. When a column other than iowait goes down (CPU hotplug), no share "
            "is sent for that tick; iowait may step back on NO_HZ kernels, and what it lost "
            "counts as idle.",
    .metrics = cpu_metrics,
    .n_metrics = VG_ARRAY_LEN(cpu_metrics),
    .init = cpu_init,
    .collect = cpu_collect,
    .fini = cpu_fini,
};
