/* mem: memory and swap from /proc/meminfo. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "proc_parse.h"
#include "proc_read.h"
#include "proc_scan.h"
#include "vg_collector.h"
#include "vg_util.h"

static const struct vg_metric_desc mem_metrics[] = {
    {"mem.total_bytes", "bytes", VG_METRIC_GAUGE, "Usable RAM (MemTotal)."},
    {"mem.free_bytes", "bytes", VG_METRIC_GAUGE, "RAM not used for anything (MemFree)."},
    {"mem.available_bytes", "bytes", VG_METRIC_GAUGE,
     "RAM available for new work without swapping (MemAvailable; on kernels before 3.14, "
     "estimated as free + buffers + cached)."},
    {"mem.buffers_bytes", "bytes", VG_METRIC_GAUGE, "RAM used for block device buffers (Buffers)."},
    {"mem.cached_bytes", "bytes", VG_METRIC_GAUGE, "RAM used for the page cache (Cached)."},
    {"mem.used_pct", "%", VG_METRIC_GAUGE,
     "Share of RAM not available: 100 * (total - available) / total."},
    {"mem.swap_total_bytes", "bytes", VG_METRIC_GAUGE, "Swap space configured (SwapTotal)."},
    {"mem.swap_free_bytes", "bytes", VG_METRIC_GAUGE, "Swap space unused (SwapFree)."},
    {"mem.dirty_bytes", "bytes", VG_METRIC_GAUGE,
     "Page cache modified and waiting to be written back (Dirty)."},
};

/* meminfo keys in VG_MEM_* order. */
static const char *const mem_keys[VG_MEM_NFIELDS] = {
    "MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapTotal", "SwapFree", "Dirty",
};

/* Metric emitted for each VG_MEM_* field (mem.used_pct is derived). */
static const char *const mem_names[VG_MEM_NFIELDS] = {
    "mem.total_bytes",  "mem.free_bytes",       "mem.available_bytes", "mem.buffers_bytes",
    "mem.cached_bytes", "mem.swap_total_bytes", "mem.swap_free_bytes", "mem.dirty_bytes",
};

struct mem_state {
    char path[PATH_MAX];
    struct vg_procbuf buf;
};

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static int parse_field(struct vg_span rest, const char *src, unsigned lineno, const char *key,
                       uint64_t *bytes, char *err, size_t errlen)
{
    uint64_t kb;
    struct vg_span unit, extra;
    if (vg_span_u64(&rest, &kb) < 0)
        return vg_err(err, errlen, -EINVAL, "%s:%u: %s is not followed by a number", src, lineno,
                      key);
    /* The kernel prints these fields in kB and never in another unit, so a missing unit is read
     * as kB too; a different one means a format we do not know. */
    if (vg_span_word(&rest, &unit) && !vg_word_is(unit, "kB"))
        return vg_err(err, errlen, -EINVAL, "%s:%u: %s has a unit other than kB", src, lineno, key);
    if (vg_span_word(&rest, &extra))
        return vg_err(err, errlen, -EINVAL, "%s:%u: unexpected text after %s", src, lineno, key);
    if (kb > UINT64_MAX / 1024)
        return vg_err(err, errlen, -EINVAL, "%s:%u: %s is out of range", src, lineno, key);
    *bytes = kb * 1024;
    return 0;
}

int vg_parse_meminfo(const char *buf, size_t len, const char *src, struct vg_meminfo_sample *out,
                     char *err, size_t errlen)
{
    struct vg_scan s;
    struct vg_span line;
    int rc;

    memset(out, 0, sizeof *out);
    vg_scan_init(&s, buf, len);
    while (vg_scan_line(&s, &line)) {
        const char *colon = memchr(line.p, ':', (size_t)(line.end - line.p));
        if (!colon)
            continue;
        struct vg_span key = {line.p, colon};
        for (int i = 0; i < VG_MEM_NFIELDS; i++) {
            if (!vg_word_is(key, mem_keys[i]))
                continue;
            struct vg_span rest = {colon + 1, line.end};
            if ((rc = parse_field(rest, src, s.line, mem_keys[i], &out->bytes[i], err, errlen)) < 0)
                return rc;
            out->have |= 1u << i;
            break;
        }
    }
    if (!(out->have & (1u << VG_MEM_TOTAL)) || out->bytes[VG_MEM_TOTAL] == 0)
        return vg_err(err, errlen, -EINVAL, "%s: no MemTotal, or MemTotal is 0", src);
    if (!(out->have & (1u << VG_MEM_FREE)))
        return vg_err(err, errlen, -EINVAL, "%s: no MemFree", src);
    return 0;
}

static int read_sample(struct mem_state *st, struct vg_meminfo_sample *smp, char *err,
                       size_t errlen)
{
    int rc = vg_procbuf_read(&st->buf, st->path, err, errlen);
    if (rc < 0)
        return rc;
    return vg_parse_meminfo(st->buf.data, st->buf.len, st->path, smp, err, errlen);
}

static void mem_fini(void *state)
{
    struct mem_state *st = state;
    if (!st)
        return;
    vg_procbuf_free(&st->buf);
    free(st);
}

static int mem_init(void **state, const struct vg_collector_cfg *cfg, char *err, size_t errlen)
{
    struct vg_meminfo_sample smp;
    struct mem_state *st = calloc(1, sizeof *st);
    if (!st)
        return vg_err(err, errlen, -ENOMEM, "mem: out of memory");
    int rc =
        vg_proc_path(st->path, sizeof st->path, cfg->proc_root, "/proc", "meminfo", err, errlen);
    if (rc == 0)
        rc = read_sample(st, &smp, err, errlen);
    if (rc < 0) {
        mem_fini(st);
        return rc;
    }
    *state = st;
    return 0;
}

static int mem_collect(void *state, int64_t now_ms, struct vg_wire_msg *out, char *err,
                       size_t errlen)
{
    struct mem_state *st = state;
    struct vg_meminfo_sample m;
    int rc = read_sample(st, &m, err, errlen);
    if (rc < 0)
        return rc;

    uint64_t *b = m.bytes;
    if (!(m.have & (1u << VG_MEM_AVAILABLE))) {
        /* Kernels before 3.14 have no MemAvailable. free + buffers + cached is the estimate tools
         * used before it existed: it overstates (not all cache can be dropped) but tracks the
         * same trend, which is what detectors need. */
        b[VG_MEM_AVAILABLE] = sat_add(sat_add(b[VG_MEM_FREE], b[VG_MEM_BUFFERS]), b[VG_MEM_CACHED]);
        m.have |= 1u << VG_MEM_AVAILABLE;
    }
    /* Totals and free counts are sampled at slightly different moments; never report < 0 %. */
    uint64_t avail = b[VG_MEM_AVAILABLE] < b[VG_MEM_TOTAL] ? b[VG_MEM_AVAILABLE] : b[VG_MEM_TOTAL];
    double used_pct = 100.0 * (double)(b[VG_MEM_TOTAL] - avail) / (double)b[VG_MEM_TOTAL];

    for (int i = 0; i < VG_MEM_NFIELDS; i++) {
        if ((m.have & (1u << i)) &&
            (rc = vg_wire_msg_add_metric(out, mem_names[i], (double)b[i], err, errlen)) < 0)
            return rc;
        if (i == VG_MEM_CACHED &&
            (rc = vg_wire_msg_add_metric(out, "mem.used_pct", used_pct, err, errlen)) < 0)
            return rc;
    }
    return 0;
}

const struct vg_collector vg_collector_mem = {
    .name = "mem",
    .help = "Memory and swap, from /proc/meminfo. Fields a kernel does not print are not sent, "
            "except mem.available_bytes, which is then estimated.",
    .metrics = mem_metrics,
    .n_metrics = VG_ARRAY_LEN(mem_metrics),
    .init = mem_init,
    .collect = mem_collect,
    .fini = mem_fini,
};
