/* bpf_proc_events, user side: three counters read once per tick. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_impl.h"
#include "proc_events.h"
#include "proc_events.skel.h"
#include "vg_bpf_btf.h"
#include "vg_bpf_util.h"
#include "vg_rate.h"
#include "vg_util.h"

#define NAME "bpf_proc_events"

enum { TP_OOM, TP_EXEC, TP_EXIT };

static const struct vg_bpf_tp procev_tps[] = {
    [TP_OOM] = {"procev_oom", "oom", "mark_victim", 0, "bpf.oom_kills, bpf.oom_kills_total", 0},
    [TP_EXEC] = {"procev_exec", "sched", "sched_process_exec", 0, "bpf.exec_ps", 0},
    [TP_EXIT] = {"procev_exit", "sched", "sched_process_exit", 0, "bpf.exit_ps", 0},
};

struct procev_state {
    struct proc_events_bpf *skel;
    struct vg_bpf_links links;
    __u64 *scratch;
    __u64 prev_oom;
    struct vg_rate exec_rate, exit_rate;
};

void vg_bpf_proc_events_fini(void *state)
{
    struct procev_state *st = state;
    if (!st)
        return;
    vg_bpf_detach(&st->links);
    proc_events_bpf__destroy(st->skel);
    free(st->scratch);
    free(st);
}

int vg_bpf_proc_events_init(void **state, const struct vg_collector_cfg *cfg, char *err,
                            size_t errlen)
{
    unsigned present;
    int rc = vg_bpf_prepare(NAME, err, errlen);
    if (rc < 0)
        return rc;
    struct procev_state *st = calloc(1, sizeof *st);
    if (!st)
        return vg_err(err, errlen, -ENOMEM, NAME ": out of memory");
    LIBBPF_OPTS(bpf_object_open_opts, opts);
    char btf[600];
    size_t elf_size;
    const void *elf = proc_events_bpf__elf_bytes(&elf_size);
    int minimal_rc = 0; /* what loading with the minimal BTF gave, when that failed */
    if (vg_bpf_core_btf(NAME, cfg, elf, elf_size, btf, sizeof btf) == 0)
        opts.btf_custom_path = btf;
open_object:
    st->skel = proc_events_bpf__open_opts(&opts);
    if (!st->skel) {
        rc = vg_bpf_load_failed(NAME, "opening the BPF object", -errno, err, errlen);
        goto fail;
    }
    rc = vg_bpf_select(st->skel->obj, NAME, procev_tps, VG_ARRAY_LEN(procev_tps), &present, err,
                       errlen);
    if (rc < 0)
        goto fail;
    /* Each event is worth having alone, but with none of them there is nothing to report. */
    if (!present) {
        rc = vg_err(err, errlen, -ENOENT,
                    NAME ": tracepoints oom/mark_victim, sched/sched_process_exec and "
                         "sched/sched_process_exit all missing");
        goto fail;
    }
    rc = proc_events_bpf__load(st->skel);
    if (rc < 0 && vg_bpf_core_btf_retry(&opts.btf_custom_path)) {
        minimal_rc = rc;
        proc_events_bpf__destroy(st->skel);
        st->skel = NULL;
        goto open_object;
    }
    if (rc < 0) {
        rc = vg_bpf_load_failed(NAME, "loading the BPF programs", rc, err, errlen);
        goto fail;
    }
    if (minimal_rc)
        vg_bpf_core_btf_bad(NAME, btf, minimal_rc);
    rc = vg_bpf_attach(st->skel->obj, NAME, procev_tps, VG_ARRAY_LEN(procev_tps), present,
                       &st->links, err, errlen);
    if (rc < 0)
        goto fail;
    st->scratch = calloc((size_t)vg_bpf_ncpus() * PROCEV_NCOUNTERS, sizeof *st->scratch);
    if (!st->scratch) {
        rc = vg_err(err, errlen, -ENOMEM, NAME ": out of memory");
        goto fail;
    }
    *state = st;
    return 0;
fail:
    vg_bpf_proc_events_fini(st);
    return rc;
}

int vg_bpf_proc_events_collect(void *state, int64_t now_ms, struct vg_wire_msg *out, char *err,
                               size_t errlen)
{
    struct procev_state *st = state;
    __u64 c[PROCEV_NCOUNTERS];
    double r;
    int rc = vg_bpf_read_percpu(bpf_map__fd(st->skel->maps.counters), 0, PROCEV_NCOUNTERS,
                                st->scratch, c, err, errlen);
    if (rc < 0)
        return rc;
    /* The map was created empty at init, so the counts are totals since then. */
    if (st->links.present & (1u << TP_OOM)) {
        __u64 oom = c[PROCEV_OOM_KILLS];
        if ((rc = vg_bpf_emit(out, (double)(oom - st->prev_oom), err, errlen, "bpf.oom_kills")) <
                0 ||
            (rc = vg_bpf_emit(out, (double)oom, err, errlen, "bpf.oom_kills_total")) < 0)
            return rc;
        st->prev_oom = oom;
    }
    if ((st->links.present & (1u << TP_EXEC)) &&
        vg_rate_update(&st->exec_rate, c[PROCEV_EXECS], now_ms, 64, &r) == 0 &&
        (rc = vg_bpf_emit(out, r, err, errlen, "bpf.exec_ps")) < 0)
        return rc;
    if ((st->links.present & (1u << TP_EXIT)) &&
        vg_rate_update(&st->exit_rate, c[PROCEV_EXITS], now_ms, 64, &r) == 0 &&
        (rc = vg_bpf_emit(out, r, err, errlen, "bpf.exit_ps")) < 0)
        return rc;
    return vg_bpf_emit_misses(&st->links, NAME, "bpf.proc_events.missed_ps", now_ms, out, err,
                              errlen);
}
