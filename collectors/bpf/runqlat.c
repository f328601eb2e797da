/* bpf_runqlat, user side: per tick, the difference between this and the previous reading of the
 * kernel's histograms gives the tick's waits, without ever resetting a map under the programs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_impl.h"
#include "runqlat.h"
#include "runqlat.skel.h"
#include "vg_bpf_btf.h"
#include "vg_bpf_util.h"
#include "vg_cgname.h"
#include "vg_log.h"
#include "vg_rate.h"
#include "vg_util.h"

#define NAME "bpf_runqlat"

static const struct vg_bpf_tp runqlat_tps[] = {
    {"runqlat_wakeup", "sched", "sched_wakeup", 1, NULL, 0},
    {"runqlat_wakeup_new", "sched", "sched_wakeup_new", 1, NULL, 0},
    {"runqlat_switch", "sched", "sched_switch", 1, NULL, 0},
};

struct runqlat_state {
    struct runqlat_bpf *skel;
    struct vg_bpf_links links;
    __u64 *scratch; /* one per-CPU histogram */
    struct vg_hist prev, cur, delta;
    __u64 total;
    struct vg_rate rate;
    int cg_on;
    struct vg_bpf_snap cg_prev, cg_cur;
    __u64 *cg_counts;
    __u64 cg_evicted;
    struct vg_bpf_cgsweep cg_sweep;
    struct vg_bpf_loss cg_loss;
};

void vg_bpf_runqlat_fini(void *state)
{
    struct runqlat_state *st = state;
    if (!st)
        return;
    vg_bpf_detach(&st->links);
    runqlat_bpf__destroy(st->skel);
    vg_bpf_snap_free(&st->cg_prev);
    vg_bpf_snap_free(&st->cg_cur);
    vg_bpf_lazy_free(st->cg_counts);
    free(st->scratch);
    free(st);
}

static int read_hist(struct runqlat_state *st, char *err, size_t errlen)
{
    return vg_bpf_read_percpu(bpf_map__fd(st->skel->maps.hist), 0, VG_HIST_BUCKETS, st->scratch,
                              st->cur.slots, err, errlen);
}

int vg_bpf_runqlat_init(void **state, const struct vg_collector_cfg *cfg, char *err, size_t errlen)
{
    unsigned present;
    int rc = vg_bpf_prepare(NAME, err, errlen);
    if (rc < 0)
        return rc;
    struct runqlat_state *st = calloc(1, sizeof *st);
    if (!st)
        return vg_err(err, errlen, -ENOMEM, NAME ": out of memory");
    LIBBPF_OPTS(bpf_object_open_opts, opts);
    char btf[600];
    size_t elf_size;
    const void *elf = runqlat_bpf__elf_bytes(&elf_size);
    int minimal_rc = 0; /* what loading with the minimal BTF gave, when that failed */
    if (vg_bpf_core_btf(NAME, cfg, elf, elf_size, btf, sizeof btf) == 0)
        opts.btf_custom_path = btf;
open_object:
    st->skel = runqlat_bpf__open_opts(&opts);
    if (!st->skel) {
        rc = vg_bpf_load_failed(NAME, "opening the BPF object", -errno, err, errlen);
        goto fail;
    }
    rc = vg_bpf_select(st->skel->obj, NAME, runqlat_tps, VG_ARRAY_LEN(runqlat_tps), &present, err,
                       errlen);
    if (rc < 0)
        goto fail;
    st->cg_on = vg_bpf_cgnames() != NULL;
    vg_bpf_cgsweep_init(&st->cg_sweep, vg_bpf_cgnames());
    st->skel->rodata->track_cgroups = st->cg_on;
    /* Without cgroup names the histograms are never made: one entry, not megabytes. */
    if (st->cg_on)
        rc = vg_bpf_lru_size(st->skel->maps.cg_hist, RUNQLAT_MAX_CGROUPS, NAME, err, errlen);
    else if ((rc = bpf_map__set_max_entries(st->skel->maps.cg_hist, 1)) < 0)
        rc = vg_err(err, errlen, rc, NAME ": sizing cg_hist: %s", strerror(-rc));
    if (rc < 0)
        goto fail;
    rc = runqlat_bpf__load(st->skel);
    if (rc < 0 && vg_bpf_core_btf_retry(&opts.btf_custom_path)) {
        minimal_rc = rc;
        runqlat_bpf__destroy(st->skel);
        st->skel = NULL;
        goto open_object;
    }
    if (rc < 0) {
        rc = vg_bpf_load_failed(NAME, "loading the BPF programs", rc, err, errlen);
        goto fail;
    }
    if (minimal_rc)
        vg_bpf_core_btf_bad(NAME, btf, minimal_rc);
    rc = vg_bpf_attach(st->skel->obj, NAME, runqlat_tps, VG_ARRAY_LEN(runqlat_tps), present,
                       &st->links, err, errlen);
    if (rc < 0)
        goto fail;

    size_t cg_max = bpf_map__max_entries(st->skel->maps.cg_hist);
    st->scratch = calloc((size_t)vg_bpf_ncpus() * VG_HIST_BUCKETS, sizeof *st->scratch);
    st->cg_counts = vg_bpf_lazy_calloc(cg_max, sizeof *st->cg_counts);
    if (!st->scratch || !st->cg_counts ||
        vg_bpf_snap_init(&st->cg_prev, 8, VG_HIST_BUCKETS, cg_max) < 0 ||
        vg_bpf_snap_init(&st->cg_cur, 8, VG_HIST_BUCKETS, cg_max) < 0) {
        rc = vg_err(err, errlen, -ENOMEM, NAME ": out of memory");
        goto fail;
    }
    if ((rc = read_hist(st, err, errlen)) < 0)
        goto fail;
    st->prev = st->cur;

    if (st->cg_on &&
        (rc = vg_bpf_snap_read(&st->cg_prev, bpf_map__fd(st->skel->maps.cg_hist), err, errlen)) < 0)
        goto fail;
    *state = st;
    return 0;
fail:
    vg_bpf_runqlat_fini(st);
    return rc;
}

/* The longest wait of tick `epoch`, over CPUs; 0 when no CPU recorded one. */
static int read_max(struct runqlat_state *st, __u64 epoch, __u64 *max_ns, char *err, size_t errlen)
{
    __u32 half = (__u32)(epoch & 1);
    *max_ns = 0;
    if (bpf_map_lookup_elem(bpf_map__fd(st->skel->maps.max_slot), &half, st->scratch) != 0)
        return vg_err(err, errlen, -errno, NAME ": reading max_slot: %s", strerror(errno));
    const struct runqlat_max *m = (const struct runqlat_max *)st->scratch;
    for (int c = 0; c < vg_bpf_ncpus(); c++)
        if (m[c].epoch == epoch && m[c].max_ns > *max_ns)
            *max_ns = m[c].max_ns;
    return 0;
}

static int collect_cgroups(struct runqlat_state *st, int64_t now_ms, struct vg_wire_msg *out,
                           char *err, size_t errlen)
{
    __u64 created;
    /* The creations before the map, as vg_bpf_lru_evicted needs. */
    int rc = vg_bpf_read_percpu(bpf_map__fd(st->skel->maps.cg_created), 0, 1, st->scratch, &created,
                                err, errlen);
    if (rc == 0)
        rc = vg_bpf_snap_read(&st->cg_cur, bpf_map__fd(st->skel->maps.cg_hist), err, errlen);
    if (rc < 0)
        return rc;
    struct vg_bpf_snap *cur = &st->cg_cur;
    st->cg_evicted = vg_bpf_lru_evicted(st->cg_evicted, created, cur->n, st->cg_sweep.deleted);
    rc = vg_bpf_cgsweep(&st->cg_sweep, vg_bpf_cgnames(), bpf_map__fd(st->skel->maps.cg_hist),
                        &st->cg_cur, &st->cg_prev, now_ms, err, errlen);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < cur->n; i++)
        st->cg_counts[i] =
            vg_bpf_delta(cur->vals + i * cur->width, vg_bpf_snap_find(&st->cg_prev, cur->keys[i]),
                         VG_HIST_BUCKETS, st->delta.slots);
    size_t top[VG_BPF_TOP_CGROUPS];
    __u64 ids[VG_BPF_TOP_CGROUPS];
    char names[VG_BPF_TOP_CGROUPS][VG_CG_NAME_MAX + 1];
    size_t n = vg_bpf_top(st->cg_counts, cur->n, top, VG_BPF_TOP_CGROUPS);
    for (size_t i = 0; i < n; i++)
        ids[i] = cur->keys[top[i]];
    vg_cgnames_name_top(vg_bpf_cgnames(), ids, n, now_ms, names);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!names[i][0])
            continue;
        __u64 total =
            vg_bpf_delta(cur->vals + top[i] * cur->width, vg_bpf_snap_find(&st->cg_prev, ids[i]),
                         VG_HIST_BUCKETS, st->delta.slots);
        rc = vg_bpf_emit(out, vg_hist_quantile(st->delta.slots, total, 0.99) / 1000.0, err, errlen,
                         "bpf.runqlat.cg.%s.p99_us", names[i]);
    }
    vg_bpf_snap_swap(&st->cg_prev, &st->cg_cur);
    if (rc == 0)
        rc = vg_bpf_emit_loss(&st->cg_loss, st->cg_evicted, NAME,
                              "cgroup histograms evicted from the full cg_hist map",
                              "bpf.runqlat.cg_evicted_ps", now_ms, out, err, errlen);
    return rc;
}

int vg_bpf_runqlat_collect(void *state, int64_t now_ms, struct vg_wire_msg *out, char *err,
                           size_t errlen)
{
    struct runqlat_state *st = state;
    /* Waits ending from here on belong to the next tick. */
    __u64 epoch = st->skel->bss->epoch;
    __atomic_store_n(&st->skel->bss->epoch, epoch + 1, __ATOMIC_RELEASE);

    int rc = read_hist(st, err, errlen);
    if (rc < 0)
        return rc;
    __u64 count = vg_bpf_delta(st->cur.slots, st->prev.slots, VG_HIST_BUCKETS, st->delta.slots);
    st->prev = st->cur;
    st->total += count;
    if (count) {
        __u64 max_ns;
        if ((rc = read_max(st, epoch, &max_ns, err, errlen)) < 0)
            return rc;
        /* Interpolating within the top bucket can overshoot the longest wait; never report a
         * percentile above it. */
        double p50 = vg_hist_quantile(st->delta.slots, count, 0.50) / 1000.0;
        double p99 = vg_hist_quantile(st->delta.slots, count, 0.99) / 1000.0;
        double max_us = (double)max_ns / 1000.0;
        if (max_ns && p99 > max_us)
            p99 = max_us;
        if (max_ns && p50 > max_us)
            p50 = max_us;
        if ((rc = vg_bpf_emit(out, p50, err, errlen, "bpf.runqlat.p50_us")) < 0 ||
            (rc = vg_bpf_emit(out, p99, err, errlen, "bpf.runqlat.p99_us")) < 0)
            return rc;
        if (max_ns && (rc = vg_bpf_emit(out, max_us, err, errlen, "bpf.runqlat.max_us")) < 0)
            return rc;
    }
    double r;
    if (vg_rate_update(&st->rate, st->total, now_ms, 64, &r) == 0 &&
        (rc = vg_bpf_emit(out, r, err, errlen, "bpf.runqlat.count_ps")) < 0)
        return rc;
    if ((rc = vg_bpf_emit_misses(&st->links, NAME, "bpf.runqlat.missed_ps", now_ms, out, err,
                                 errlen)) < 0)
        return rc;
    return st->cg_on ? collect_cgroups(st, now_ms, out, err, errlen) : 0;
}
