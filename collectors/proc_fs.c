/* fs: file handles from /proc/sys/fs/file-nr, processes and threads from /proc. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "proc_parse.h"
#include "proc_read.h"
#include "proc_scan.h"
#include "vg_collector.h"
#include "vg_util.h"

static const struct vg_metric_desc fs_metrics[] = {
    {"fd.allocated", "handles", VG_METRIC_GAUGE,
     "File handles allocated system-wide (first field of /proc/sys/fs/file-nr): open files, "
     "sockets, pipes and the like, all processes together."},
    {"fd.max", "handles", VG_METRIC_GAUGE,
     "Limit on allocated file handles (fs.file-max, third field of file-nr)."},
    {"fd.used_pct", "%", VG_METRIC_GAUGE,
     "fd.allocated as a share of fd.max; can pass 100, as root may exceed the limit. Not sent "
     "while fd.max is 0."},
    {"procs.count", "processes", VG_METRIC_GAUGE,
     "Processes (not threads) that exist: the numeric entries of /proc, so those of the agent's "
     "PID namespace. Counted every 10th tick, as listing /proc costs about 0.5 us per process; "
     "in between, the last count is sent."},
    {"procs.threads", "tasks", VG_METRIC_GAUGE,
     "Processes and threads that exist, system-wide (the total of field 4 of /proc/loadavg; "
     "the same number as load.threads)."},
};

/* Listing /proc makes the kernel build a dentry per process: about 0.5 ms per 1000 processes
 * on a VM, far past a tick's budget on a busy host when done every tick. */
#define PROCS_EVERY_TICKS 10

struct fs_state {
    char file_nr[PATH_MAX];
    char loadavg[PATH_MAX];
    char proc[PATH_MAX];
    DIR *dir; /* kept open: rewinding costs less than reopening */
    struct vg_procbuf buf;
    uint64_t procs; /* the last count */
    unsigned ticks_since_count;
};

int vg_parse_file_nr(const char *buf, size_t len, const char *src, struct vg_file_nr_sample *out,
                     char *err, size_t errlen)
{
    struct vg_scan s;
    struct vg_span line, w;
    uint64_t *f[] = {&out->allocated, &out->free, &out->max};

    memset(out, 0, sizeof *out);
    vg_scan_init(&s, buf, len);
    if (!vg_scan_line(&s, &line))
        return vg_err(err, errlen, -EINVAL, "%s: empty file", src);
    for (size_t i = 0; i < VG_ARRAY_LEN(f); i++)
        if (vg_span_u64(&line, f[i]) < 0)
            return vg_err(err, errlen, -EINVAL, "%s:1: field %zu is not a number", src, i + 1);
    if (vg_span_word(&line, &w))
        return vg_err(err, errlen, -EINVAL, "%s:1: more than 3 fields", src);
    return 0;
}

static int count_processes(struct fs_state *st, uint64_t *n, char *err, size_t errlen)
{
    struct dirent *d;
    uint64_t c = 0;
    rewinddir(st->dir);
    errno = 0;
    while ((d = readdir(st->dir)) != NULL) {
        /* A name of digits only is a process; no stat, which would cost far more than the
         * directory read itself. */
        const char *p = d->d_name;
        if (*p < '1' || *p > '9' || (d->d_type != DT_DIR && d->d_type != DT_UNKNOWN))
            continue;
        while (*p >= '0' && *p <= '9')
            p++;
        c += *p == '\0';
    }
    if (errno)
        return vg_err(err, errlen, -errno, "cannot list %s: %s", st->proc, strerror(errno));
    *n = c;
    return 0;
}

/* Reads file-nr and loadavg, and counts processes when count is set. */
static int read_all(struct fs_state *st, struct vg_file_nr_sample *fnr,
                    struct vg_loadavg_sample *la, int count, char *err, size_t errlen)
{
    int rc = vg_procbuf_read(&st->buf, st->file_nr, err, errlen);
    if (rc == 0)
        rc = vg_parse_file_nr(st->buf.data, st->buf.len, st->file_nr, fnr, err, errlen);
    if (rc == 0)
        rc = vg_procbuf_read(&st->buf, st->loadavg, err, errlen);
    if (rc == 0)
        rc = vg_parse_loadavg(st->buf.data, st->buf.len, st->loadavg, la, err, errlen);
    if (rc == 0 && count && (rc = count_processes(st, &st->procs, err, errlen)) == 0)
        st->ticks_since_count = 0;
    return rc;
}

static void fs_fini(void *state)
{
    struct fs_state *st = state;
    if (!st)
        return;
    if (st->dir)
        closedir(st->dir);
    vg_procbuf_free(&st->buf);
    free(st);
}

static int fs_init(void **state, const struct vg_collector_cfg *cfg, char *err, size_t errlen)
{
    struct vg_file_nr_sample fnr;
    struct vg_loadavg_sample la;
    struct fs_state *st = calloc(1, sizeof *st);
    if (!st)
        return vg_err(err, errlen, -ENOMEM, "fs: out of memory");
    int rc = vg_proc_path(st->file_nr, sizeof st->file_nr, cfg->proc_root, "/proc",
                          "sys/fs/file-nr", err, errlen);
    if (rc == 0)
        rc = vg_proc_path(st->loadavg, sizeof st->loadavg, cfg->proc_root, "/proc", "loadavg", err,
                          errlen);
    const char *root = cfg->proc_root ? cfg->proc_root : "/proc";
    if (rc == 0 && strlen(root) >= sizeof st->proc)
        rc = vg_err(err, errlen, -ENAMETOOLONG, "path %s is too long", root);
    if (rc == 0)
        memcpy(st->proc, root, strlen(root) + 1);
    if (rc == 0 && !(st->dir = opendir(st->proc)))
        rc = vg_err(err, errlen, -errno, "cannot list %s: %s", st->proc, strerror(errno));
    if (rc == 0)
        rc = read_all(st, &fnr, &la, 1, err, errlen);
    if (rc < 0) {
        fs_fini(st);
        return rc;
    }
    *state = st;
    return 0;
}

static int fs_collect(void *state, int64_t now_ms, struct vg_wire_msg *out, char *err,
                      size_t errlen)
{
    struct fs_state *st = state;
    struct vg_file_nr_sample fnr;
    struct vg_loadavg_sample la;
    /* init counted, so the first tick sends that count. */
    int rc = read_all(st, &fnr, &la, ++st->ticks_since_count >= PROCS_EVERY_TICKS, err, errlen);
    if (rc < 0)
        return rc;
    const double v[] = {
        (double)fnr.allocated,
        (double)fnr.max,
        fnr.max ? 100.0 * (double)fnr.allocated / (double)fnr.max : 0,
        (double)st->procs,
        (double)la.threads,
    };
    _Static_assert(VG_ARRAY_LEN(v) == VG_ARRAY_LEN(fs_metrics), "one value per metric");
    for (size_t i = 0; i < VG_ARRAY_LEN(v); i++) {
        /* The kernel accepts file-max 0 (then only root can open files): no share of it. */
        if (i == 2 && fnr.max == 0)
            continue;
        rc = vg_wire_msg_add_metric(out, fs_metrics[i].name, v[i], err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

const struct vg_collector vg_collector_fs = {
    .name = "fs",
    .help = "File handles, from /proc/sys/fs/file-nr, and process and thread counts, from /proc "
            "and /proc/loadavg. Processes are counted every 10th tick: listing /proc costs in "
            "proportion to their number.",
    .metrics = fs_metrics,
    .n_metrics = VG_ARRAY_LEN(fs_metrics),
    .init = fs_init,
    .collect = fs_collect,
    .fini = fs_fini,
};
