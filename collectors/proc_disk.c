/* disk: per-device I/O from /proc/diskstats. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc_parse.h"
#include "proc_read.h"
#include "proc_scan.h"
#include "vg_collector.h"
#include "vg_devtab.h"
#include "vg_util.h"

static const struct vg_metric_desc disk_metrics[] = {
    {"disk.<dev>.reads_ps", "ops/s", VG_METRIC_RATE, "Reads completed."},
    {"disk.<dev>.writes_ps", "ops/s", VG_METRIC_RATE, "Writes completed."},
    {"disk.<dev>.read_bytes_ps", "bytes/s", VG_METRIC_RATE, "Bytes read."},
    {"disk.<dev>.write_bytes_ps", "bytes/s", VG_METRIC_RATE, "Bytes written."},
    {"disk.<dev>.util_pct", "%", VG_METRIC_GAUGE,
     "Share of time the device had I/O in flight (capped at 100; devices that serve requests "
     "in parallel, such as SSDs and RAID, can be far from saturated at 100)."},
    {"disk.<dev>.await_ms", "ms", VG_METRIC_GAUGE,
     "Average time a read or write took, queueing included, over the I/Os completed since the "
     "previous tick; 0 when none completed."},
    {"disk.<dev>.queue_time_ms_ps", "ms/s", VG_METRIC_RATE,
     "Time spent by all I/Os in flight, added up (divide by 1000 for the average queue length)."},
};

/* The counters turned into rates, and their width. ios and sectors are unsigned long in the
 * kernel, so 64-bit here (on a 32-bit kernel their wrap is taken as a reset and skips one
 * sample); the millisecond fields are printed from unsigned int on every kernel and do wrap at
 * 32 bits. */
enum { R_READS, R_WRITES, R_RSECT, R_WSECT, R_RMS, R_WMS, R_IOMS, R_WEIGHTED, N_RATES };
static const struct {
    int counter;
    int width;
} rate_src[N_RATES] = {
    [R_READS] = {VG_DISK_READS, 64},        [R_WRITES] = {VG_DISK_WRITES, 64},
    [R_RSECT] = {VG_DISK_READ_SECTORS, 64}, [R_WSECT] = {VG_DISK_WRITE_SECTORS, 64},
    [R_RMS] = {VG_DISK_READ_MS, 32},        [R_WMS] = {VG_DISK_WRITE_MS, 32},
    [R_IOMS] = {VG_DISK_IO_MS, 32},         [R_WEIGHTED] = {VG_DISK_WEIGHTED_MS, 32},
};
_Static_assert(N_RATES <= VG_DEVTAB_RATES, "vg_dev has too few rate slots");

/* diskstats counts sectors of 512 bytes whatever the device's own sector size. */
#define SECTOR_BYTES 512.0

enum { DEV_PARTITION = 1u << 0 };

struct disk_state {
    char path[PATH_MAX];
    char sys_block[PATH_MAX];
    int sys_ok; /* sys_block is readable, so partitions can be told apart */
    struct vg_procbuf buf;
    struct vg_devtab tab;
    struct vg_devbudget budget;
};

/* One collect pass, handed to the per-line callback. */
struct disk_pass {
    struct disk_state *st;
    int64_t now_ms;
    struct vg_wire_msg *out;
    char *err;
    size_t errlen;
    int full;    /* the table hit VG_DEVTAB_MAX this tick */
    size_t dups; /* devices left out: their metric name is an earlier one's */
    char dup_raw[VG_DEV_NAME_MAX + 1], dup_key[VG_DEV_NAME_MAX + 1]; /* the first of them */
};

/* What is wrong with a line, worded to follow "line". */
enum { LINE_OK, BAD_DEVNUM, BAD_NAME, BAD_COUNTER, TOO_FEW };
static const char *const line_problem[] = {
    [BAD_DEVNUM] = "does not start with major and minor numbers",
    [BAD_NAME] = "has no device name or one longer than 64 bytes",
    [BAD_COUNTER] = "has a counter that is not a number",
    [TOO_FEW] = "has too few counters (expected 4, or 11 or more)",
};

static int parse_line(struct vg_span line, struct vg_disk_line *d)
{
    struct vg_span w;
    uint64_t v;
    int rc;

    if (vg_span_u64(&line, &v) < 0 || vg_span_u64(&line, &v) < 0)
        return BAD_DEVNUM;
    if (!vg_span_word(&line, &w) || (size_t)(w.end - w.p) > VG_DEV_NAME_MAX)
        return BAD_NAME;
    d->name = w.p;
    d->name_len = (size_t)(w.end - w.p);
    memset(d->c, 0, sizeof d->c);
    int n = 0;
    uint64_t c[4];
    while ((rc = vg_span_u64(&line, &v)) == 0) {
        if (n < 4)
            c[n] = v;
        if (n < VG_DISK_NCOUNTERS)
            d->c[n] = v;
        n++;
    }
    if (rc != -ENODATA)
        return BAD_COUNTER;
    if (n == 4) {
        memset(d->c, 0, sizeof d->c);
        d->c[VG_DISK_READS] = c[0];
        d->c[VG_DISK_READ_SECTORS] = c[1];
        d->c[VG_DISK_WRITES] = c[2];
        d->c[VG_DISK_WRITE_SECTORS] = c[3];
    } else if (n < VG_DISK_NCOUNTERS) {
        return TOO_FEW;
    }
    d->n_counters = n;
    return LINE_OK;
}

int vg_parse_diskstats(const char *buf, size_t len, const char *src, vg_disk_line_fn fn, void *ctx,
                       char *err, size_t errlen)
{
    struct vg_scan s;
    struct vg_span line, rest, word;
    int first_rc = 0;

    vg_scan_init(&s, buf, len);
    while (vg_scan_line(&s, &line)) {
        rest = line;
        if (!vg_span_word(&rest, &word))
            continue;
        struct vg_disk_line d;
        int bad = parse_line(line, &d);
        if (bad != LINE_OK) {
            if (first_rc == 0)
                first_rc =
                    vg_err(err, errlen, -EINVAL, "%s:%u: line %s", src, s.line, line_problem[bad]);
            continue;
        }
        int rc = fn(ctx, &d);
        if (rc)
            return rc;
    }
    return first_rc;
}

static int is_partition(const struct disk_state *st, const char *raw, size_t len)
{
    char name[VG_DEV_NAME_MAX + 1], path[PATH_MAX];
    if (!st->sys_ok)
        return 0;
    /* sysfs spells a '/' in a device name (cciss/c0d0) as '!'. A name with bytes no kernel
     * device has is looked up nowhere, so it cannot reach outside sys_block. */
    for (size_t i = 0; i < len; i++) {
        char c = raw[i] == '/' ? '!' : raw[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (c != '\0' && strchr("_.:!+-", c))))
            return 0;
        name[i] = c;
    }
    name[len] = '\0';
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return 0;
    int n = snprintf(path, sizeof path, "%s/%s/partition", st->sys_block, name);
    if (n < 0 || (size_t)n >= sizeof path)
        return 0;
    return access(path, F_OK) == 0;
}

static int has_prefix(const struct vg_disk_line *d, const char *p)
{
    size_t n = strlen(p);
    return d->name_len >= n && memcmp(d->name, p, n) == 0;
}

static int emit(struct disk_pass *p, const char *dev, const char *suffix, double v)
{
    char name[sizeof "disk.." + VG_DEV_NAME_MAX + 32];
    snprintf(name, sizeof name, "disk.%s.%s", dev, suffix);
    return vg_wire_msg_add_metric(p->out, name, v, p->err, p->errlen);
}

static int on_line(void *ctx, const struct vg_disk_line *d)
{
    struct disk_pass *p = ctx;
    char key[VG_DEV_NAME_MAX + 1];
    struct vg_dev *dev;
    int rc;

    /* Loop and RAM disks mirror I/O already counted elsewhere or none that matters. The 4-counter
     * lines of early 2.6 kernels are always partitions. */
    if (has_prefix(d, "loop") || has_prefix(d, "ram") || d->n_counters == 4)
        return 0;
    vg_metric_sanitise(key, sizeof key, d->name, d->name_len);
    rc = vg_devtab_get(&p->st->tab, key, &dev);
    if (rc == -ENOSPC) {
        p->full = 1;
        return 0;
    }
    if (rc == -EEXIST) {
        /* Two raw names that clean up alike cannot both be sent: the second is left out, but
         * said, or a device would vanish without a word. */
        if (p->dups++ == 0) {
            snprintf(p->dup_raw, sizeof p->dup_raw, "%.*s", (int)d->name_len, d->name);
            snprintf(p->dup_key, sizeof p->dup_key, "%s", key);
        }
        return 0;
    }
    if (rc < 0)
        return vg_err(p->err, p->errlen, rc, "disk: out of memory");
    /* Checked once per device rather than every tick: a name does not change kind while it
     * exists, and a stat per partition per tick would dominate the collector's cost. */
    if (rc == 1 && is_partition(p->st, d->name, d->name_len))
        dev->flags |= DEV_PARTITION;
    if (dev->flags & DEV_PARTITION)
        return 0;

    int idle_forever = 1;
    for (int i = 0; i < VG_DISK_NCOUNTERS; i++)
        idle_forever &= d->c[i] == 0;
    /* Counted whether or not it has rates this tick, so that the same devices fit each tick.
     * One left out still keeps its rates current, ready for when it fits again. */
    int send = 0;
    if (!idle_forever) {
        size_t bytes = 0;
        for (size_t i = 0; i < VG_ARRAY_LEN(disk_metrics); i++)
            bytes += VG_WIRE_METRIC_SIZE_MAX(strlen(disk_metrics[i].name) - strlen("<dev>") +
                                             strlen(key));
        send = vg_devbudget_take(&p->st->budget, bytes);
    }

    double r[N_RATES];
    int ok[N_RATES], reset = 0;
    for (int i = 0; i < N_RATES; i++) {
        int urc = vg_rate_update(&dev->rate[i], d->c[rate_src[i].counter], p->now_ms,
                                 rate_src[i].width, &r[i]);
        ok[i] = urc == 0;
        reset |= urc == -ERANGE && rate_src[i].width == 64;
    }
    /* A 64-bit counter going back is the device re-created under this name (LVM snapshot, reused
     * dm minor, iSCSI relogin): every counter restarted. The 32-bit ones cannot tell that alone,
     * since a drop from 2^31 or more reads as a wrap, and unfolding it gives util_pct 100 and an
     * absurd queue time. Every slot has just taken this line as its new baseline, so leaving the
     * whole line out costs the device one sample and nothing more. */
    if (reset || !send)
        return 0;

    if (ok[R_READS] && (rc = emit(p, key, "reads_ps", r[R_READS])) < 0)
        return rc;
    if (ok[R_WRITES] && (rc = emit(p, key, "writes_ps", r[R_WRITES])) < 0)
        return rc;
    if (ok[R_RSECT] && (rc = emit(p, key, "read_bytes_ps", r[R_RSECT] * SECTOR_BYTES)) < 0)
        return rc;
    if (ok[R_WSECT] && (rc = emit(p, key, "write_bytes_ps", r[R_WSECT] * SECTOR_BYTES)) < 0)
        return rc;
    if (ok[R_IOMS]) {
        /* io_ticks advances in jiffies while our interval is measured by another clock, so a
         * saturated device can read a little over 100 %. */
        double util = r[R_IOMS] / 10.0;
        if ((rc = emit(p, key, "util_pct", util > 100.0 ? 100.0 : util)) < 0)
            return rc;
    }
    if (ok[R_READS] && ok[R_WRITES] && ok[R_RMS] && ok[R_WMS]) {
        double ios = r[R_READS] + r[R_WRITES];
        double await = ios > 0 ? (r[R_RMS] + r[R_WMS]) / ios : 0.0;
        if ((rc = emit(p, key, "await_ms", await)) < 0)
            return rc;
    }
    if (ok[R_WEIGHTED] && (rc = emit(p, key, "queue_time_ms_ps", r[R_WEIGHTED])) < 0)
        return rc;
    return 0;
}

static int noop_line(void *ctx, const struct vg_disk_line *d)
{
    return 0;
}

static void disk_fini(void *state)
{
    struct disk_state *st = state;
    if (!st)
        return;
    vg_procbuf_free(&st->buf);
    vg_devtab_free(&st->tab);
    free(st);
}

static int disk_init(void **state, const struct vg_collector_cfg *cfg, char *err, size_t errlen)
{
    struct stat sb;
    struct disk_state *st = calloc(1, sizeof *st);
    if (!st)
        return vg_err(err, errlen, -ENOMEM, "disk: out of memory");
    vg_devtab_init(&st->tab);
    vg_devbudget_init(&st->budget, cfg->max_message_bytes);
    int rc =
        vg_proc_path(st->path, sizeof st->path, cfg->proc_root, "/proc", "diskstats", err, errlen);
    if (rc == 0)
        rc = vg_proc_path(st->sys_block, sizeof st->sys_block, cfg->sys_root, "/sys", "class/block",
                          err, errlen);
    if (rc == 0)
        rc = vg_procbuf_read(&st->buf, st->path, err, errlen);
    if (rc == 0)
        rc = vg_parse_diskstats(st->buf.data, st->buf.len, st->path, noop_line, NULL, err, errlen);
    if (rc < 0) {
        disk_fini(st);
        return rc;
    }
    /* Without sysfs (some containers) partitions cannot be told from disks; they are then
     * reported too, which double counts but hides nothing. */
    st->sys_ok = stat(st->sys_block, &sb) == 0 && S_ISDIR(sb.st_mode);
    *state = st;
    return 0;
}

static int disk_collect(void *state, int64_t now_ms, struct vg_wire_msg *out, char *err,
                        size_t errlen)
{
    struct disk_state *st = state;
    struct disk_pass p = {.st = st, .now_ms = now_ms, .out = out, .err = err, .errlen = errlen};
    int rc = vg_procbuf_read(&st->buf, st->path, err, errlen);
    if (rc < 0)
        return rc;
    vg_devtab_begin(&st->tab);
    vg_devbudget_begin(&st->budget, out);
    rc = vg_parse_diskstats(st->buf.data, st->buf.len, st->path, on_line, &p, err, errlen);
    vg_devtab_end(&st->tab);
    return vg_devtab_report(rc, st->path, "device", "disk", p.full, &st->budget, p.dups, p.dup_raw,
                            p.dup_key, err, errlen);
}

const struct vg_collector vg_collector_disk = {
    .name = "disk",
    .help = "Per-device I/O, from /proc/diskstats. Whole devices only: partitions (told apart "
            "through /sys/class/block), loop and RAM disks, and devices that never did any I/O "
            "are left out. A device missing from one read starts over when its name comes back "
            "(it may be another device), and sends no rates that tick. Devices that would take "
            "the tick's message past the size Kafka takes (each counted at its longest, beside "
            "the most the collectors before it sent over the last 60 to 120 ticks, so that the "
            "same ones are sent every tick; docs/wire-format.md) are left out, the last in "
            "/proc/diskstats first, and the log says how many.",
    .metrics = disk_metrics,
    .n_metrics = VG_ARRAY_LEN(disk_metrics),
    .init = disk_init,
    .collect = disk_collect,
    .fini = disk_fini,
    .keeps_within = 1,
};
