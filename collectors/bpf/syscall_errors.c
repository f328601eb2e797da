/* bpf_syscall_errors, user side: per-class counters turned into rates, and the per-cgroup
 * counts differenced against the previous tick to find the busiest cgroups. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_impl.h"
#include "syscall_errors.h"
#include "syscall_errors.skel.h"
#include "vg_bpf_btf.h"
#include "vg_bpf_util.h"
#include "vg_cgname.h"
#include "vg_rate.h"
#include "vg_util.h"

#define NAME "bpf_syscall_errors"

static const struct vg_bpf_tp syserr_tps[] = {
    {"syserr_exit", "raw_syscalls", "sys_exit", 1, NULL, 0},
};

static const char *const class_metric[SYSERR_NCLASSES] = {
    [SYSERR_ENOENT] = "bpf.syscall_errors.enoent_ps",
    [SYSERR_EACCES] = "bpf.syscall_errors.eacces_ps",
    [SYSERR_EAGAIN] = "bpf.syscall_errors.eagain_ps",
    [SYSERR_EINTR] = "bpf.syscall_errors.eintr_ps",
    [SYSERR_OTHER] = "bpf.syscall_errors.other_ps",
};

struct syserr_state {
    struct syscall_errors_bpf *skel;
    struct vg_bpf_links links;
    __u64 *scratch;
    struct vg_rate rate[SYSERR_NCLASSES];
    int cg_on;
    struct vg_bpf_snap cg_prev, cg_cur;
    __u64 *cg_counts;
    __u64 cg_evicted;
    struct vg_bpf_cgsweep cg_sweep;
    struct vg_bpf_loss cg_loss;
    int64_t prev_ms;
    int primed;
};

void vg_bpf_syscall_errors_fini(void *state)
{
    struct syserr_state *st = state;
    if (!st)
        return;
    vg_bpf_detach(&st->links);
    syscall_errors_bpf__destroy(st->skel);
    vg_bpf_snap_free(&st->cg_prev);
    vg_bpf_snap_free(&st->cg_cur);
    vg_bpf_lazy_free(st->cg_counts);
    free(st->scratch);
    free(st);
}

int vg_bpf_syscall_errors_init(void **state, const struct vg_collector_cfg *cfg, char *err,
                               size_t errlen)
{
    unsigned present;
    int rc = vg_bpf_prepare(NAME, err, errlen);
    if (rc < 0)
        return rc;
    struct syserr_state *st = calloc(1, sizeof *st);
    if (!st)
        return vg_err(err, errlen, -ENOMEM, NAME ": out of memory");
    LIBBPF_OPTS(bpf_object_open_opts, opts);
    char btf[600];
    size_t elf_size;
    const void *elf = syscall_errors_bpf__elf_bytes(&elf_size);
    int minimal_rc = 0; /* what loading with the minimal BTF gave, when that failed */
    if (vg_bpf_core_btf(NAME, cfg, elf, elf_size, btf, sizeof btf) == 0)
        opts.btf_custom_path = btf;
open_object:
    st->skel = syscall_errors_bpf__open_opts(&opts);
    if (!st->skel) {
        rc = vg_bpf_load_failed(NAME, "opening the BPF object", -errno, err, errlen);
        goto fail;
    }
    rc = vg_bpf_select(st->skel->obj, NAME, syserr_tps, VG_ARRAY_LEN(syserr_tps), &present, err,
                       errlen);
    if (rc < 0)
        goto fail;
    st->cg_on = vg_bpf_cgnames() != NULL;
    vg_bpf_cgsweep_init(&st->cg_sweep, vg_bpf_cgnames());
    st->skel->rodata->track_cgroups = st->cg_on;
    /* Without cgroup names the counts are never made: one entry. */
    if (st->cg_on)
        rc = vg_bpf_lru_size(st->skel->maps.cg_errors, SYSERR_MAX_CGROUPS, NAME, err, errlen);
    else if ((rc = bpf_map__set_max_entries(st->skel->maps.cg_errors, 1)) < 0)
        rc = vg_err(err, errlen, rc, NAME ": sizing cg_errors: %s", strerror(-rc));
    if (rc < 0)
        goto fail;
    rc = syscall_errors_bpf__load(st->skel);
    if (rc < 0 && vg_bpf_core_btf_retry(&opts.btf_custom_path)) {
        minimal_rc = rc;
        syscall_errors_bpf__destroy(st->skel);
        st->skel = NULL;
        goto open_object;
    }
    if (rc < 0) {
        rc = vg_bpf_load_failed(NAME, "loading the BPF programs", rc, err, errlen);
        goto fail;
    }
    if (minimal_rc)
        vg_bpf_core_btf_bad(NAME, btf, minimal_rc);
    rc = vg_bpf_attach(st->skel->obj, NAME, syserr_tps, VG_ARRAY_LEN(syserr_tps), present,
                       &st->links, err, errlen);
    if (rc < 0)
        goto fail;
    size_t cg_max = bpf_map__max_entries(st->skel->maps.cg_errors);
    st->scratch = calloc((size_t)vg_bpf_ncpus() * SYSERR_NCLASSES, sizeof *st->scratch);
    st->cg_counts = vg_bpf_lazy_calloc(cg_max, sizeof *st->cg_counts);
    if (!st->scratch || !st->cg_counts || vg_bpf_snap_init(&st->cg_prev, 8, 1, cg_max) < 0 ||
        vg_bpf_snap_init(&st->cg_cur, 8, 1, cg_max) < 0) {
        rc = vg_err(err, errlen, -ENOMEM, NAME ": out of memory");
        goto fail;
    }
    *state = st;
    return 0;
fail:
    vg_bpf_syscall_errors_fini(st);
    return rc;
}

/* Rates need two readings like every other, so the first tick only reads. */
static int collect_cgroups(struct syserr_state *st, int64_t now_ms, struct vg_wire_msg *out,
                           char *err, size_t errlen)
{
    __u64 created;
    /* The creations before the map, as vg_bpf_lru_evicted needs. */
    int rc = vg_bpf_read_percpu(bpf_map__fd(st->skel->maps.cg_created), 0, 1, st->scratch, &created,
                                err, errlen);
    if (rc == 0)
        rc = vg_bpf_snap_read(&st->cg_cur, bpf_map__fd(st->skel->maps.cg_errors), err, errlen);
    if (rc < 0)
        return rc;
    st->cg_evicted =
        vg_bpf_lru_evicted(st->cg_evicted, created, st->cg_cur.n, st->cg_sweep.deleted);
    rc = vg_bpf_cgsweep(&st->cg_sweep, vg_bpf_cgnames(), bpf_map__fd(st->skel->maps.cg_errors),
                        &st->cg_cur, &st->cg_prev, now_ms, err, errlen);
    if (rc < 0)
        return rc;
    int64_t dt = now_ms - st->prev_ms;
    if (st->primed && dt > 0) {
        struct vg_bpf_snap *cur = &st->cg_cur;
        for (size_t i = 0; i < cur->n; i++)
            vg_bpf_delta(cur->vals + i, vg_bpf_snap_find(&st->cg_prev, cur->keys[i]), 1,
                         &st->cg_counts[i]);
        size_t top[VG_BPF_TOP_CGROUPS];
        __u64 ids[VG_BPF_TOP_CGROUPS];
        char names[VG_BPF_TOP_CGROUPS][VG_CG_NAME_MAX + 1];
        size_t n = vg_bpf_top(st->cg_counts, cur->n, top, VG_BPF_TOP_CGROUPS);
        for (size_t i = 0; i < n; i++)
            ids[i] = cur->keys[top[i]];
        vg_cgnames_name_top(vg_bpf_cgnames(), ids, n, now_ms, names);
        for (size_t i = 0; i < n && rc == 0; i++)
            if (names[i][0])
                rc = vg_bpf_emit(out, (double)st->cg_counts[top[i]] * 1000.0 / (double)dt, err,
                                 errlen, "bpf.syscall_errors.cg.%s_ps", names[i]);
    }
    vg_bpf_snap_swap(&st->cg_prev, &st->cg_cur);
    st->prev_ms = now_ms;
    st->primed = 1;
    if (rc == 0)
        rc = vg_bpf_emit_loss(&st->cg_loss, st->cg_evicted, NAME,
                              "cgroup counts evicted from the full cg_errors map",
                              "bpf.syscall_errors.cg_evicted_ps", now_ms, out, err, errlen);
    return rc;
}

int vg_bpf_syscall_errors_collect(void *state, int64_t now_ms, struct vg_wire_msg *out, char *err,
                                  size_t errlen)
{
    struct syserr_state *st = state;
    __u64 c[SYSERR_NCLASSES];
    int rc = vg_bpf_read_percpu(bpf_map__fd(st->skel->maps.counters), 0, SYSERR_NCLASSES,
                                st->scratch, c, err, errlen);
    for (int i = 0; i < SYSERR_NCLASSES && rc == 0; i++) {
        double r;
        if (vg_rate_update(&st->rate[i], c[i], now_ms, 64, &r) == 0)
            rc = vg_bpf_emit(out, r, err, errlen, "%s", class_metric[i]);
    }
    if (rc == 0)
        rc = vg_bpf_emit_misses(&st->links, NAME, "bpf.syscall_errors.missed_ps", now_ms, out, err,
                                errlen);
    if (rc < 0 || !st->cg_on)
        return rc;
    return collect_cgroups(st, now_ms, out, err, errlen);
}
