/* load: load averages and task counts from /proc/loadavg. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "proc_parse.h"
#include "proc_read.h"
#include "proc_scan.h"
#include "vg_collector.h"
#include "vg_util.h"

static const struct vg_metric_desc load_metrics[] = {
    {"load.1m", "tasks", VG_METRIC_GAUGE,
     "Load average over 1 minute: tasks running, runnable or in uninterruptible sleep."},
    {"load.5m", "tasks", VG_METRIC_GAUGE, "Load average over 5 minutes."},
    {"load.15m", "tasks", VG_METRIC_GAUGE, "Load average over 15 minutes."},
    {"load.runnable", "tasks", VG_METRIC_GAUGE,
     "Tasks runnable right now (includes the agent itself while it reads)."},
    {"load.threads", "tasks", VG_METRIC_GAUGE, "Tasks (processes and threads) that exist."},
};

struct load_state {
    char path[PATH_MAX];
    struct vg_procbuf buf;
};

int vg_parse_loadavg(const char *buf, size_t len, const char *src, struct vg_loadavg_sample *out,
                     char *err, size_t errlen)
{
    struct vg_scan s;
    struct vg_span line, w;

    memset(out, 0, sizeof *out);
    vg_scan_init(&s, buf, len);
    if (!vg_scan_line(&s, &line))
        return vg_err(err, errlen, -EINVAL, "%s: empty file", src);
    for (int i = 0; i < 3; i++) {
        if (!vg_span_word(&line, &w) || vg_word_decimal(w, &out->avg[i]) < 0)
            return vg_err(err, errlen, -EINVAL, "%s:1: field %d is not a load average", src, i + 1);
    }
    if (!vg_span_word(&line, &w))
        return vg_err(err, errlen, -EINVAL, "%s:1: no runnable/total task counts", src);
    const char *slash = memchr(w.p, '/', (size_t)(w.end - w.p));
    if (!slash || vg_word_u64((struct vg_span){w.p, slash}, &out->runnable) < 0 ||
        vg_word_u64((struct vg_span){slash + 1, w.end}, &out->threads) < 0)
        return vg_err(err, errlen, -EINVAL,
                      "%s:1: field 4 is not runnable/total task counts like 2/345", src);
    /* Field 5, the last PID handed out, is of no use here and not checked. */
    return 0;
}

static int read_sample(struct load_state *st, struct vg_loadavg_sample *smp, char *err,
                       size_t errlen)
{
    int rc = vg_procbuf_read(&st->buf, st->path, err, errlen);
    if (rc < 0)
        return rc;
    return vg_parse_loadavg(st->buf.data, st->buf.len, st->path, smp, err, errlen);
}

static void load_fini(void *state)
{
    struct load_state *st = state;
    if (!st)
        return;
    vg_procbuf_free(&st->buf);
    free(st);
}

static int load_init(void **state, const struct vg_collector_cfg *cfg, char *err, size_t errlen)
{
    struct vg_loadavg_sample smp;
    struct load_state *st = calloc(1, sizeof *st);
    if (!st)
        return vg_err(err, errlen, -ENOMEM, "load: out of memory");
    int rc =
        vg_proc_path(st->path, sizeof st->path, cfg->proc_root, "/proc", "loadavg", err, errlen);
    if (rc == 0)
        rc = read_sample(st, &smp, err, errlen);
    if (rc < 0) {
        load_fini(st);
        return rc;
    }
    *state = st;
    return 0;
}

static int load_collect(void *state, int64_t now_ms, struct vg_wire_msg *out, char *err,
                        size_t errlen)
{
    struct load_state *st = state;
    struct vg_loadavg_sample l;
    int rc = read_sample(st, &l, err, errlen);
    if (rc < 0)
        return rc;
    const double v[] = {l.avg[0], l.avg[1], l.avg[2], (double)l.runnable, (double)l.threads};
    _Static_assert(VG_ARRAY_LEN(v) == VG_ARRAY_LEN(load_metrics), "one value per metric");
    for (size_t i = 0; i < VG_ARRAY_LEN(v); i++) {
        rc = vg_wire_msg_add_metric(out, load_metrics[i].name, v[i], err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

const struct vg_collector vg_collector_load = {
    .name = "load",
    .help = "Load averages and task counts, from /proc/loadavg.",
    .metrics = load_metrics,
    .n_metrics = VG_ARRAY_LEN(load_metrics),
    .init = load_init,
    .collect = load_collect,
    .fini = load_fini,
};
