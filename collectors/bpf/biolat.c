/* bpf_biolat, user side: per-device histograms read once per tick, differenced against the
 * previous reading, device numbers named as /sys/dev/block (or /proc/partitions) name them. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "biolat.h"
#include "biolat.skel.h"
#include "bpf_impl.h"
#include "proc_parse.h"
#include "proc_read.h"
#include "vg_bpf_btf.h"
#include "vg_bpf_util.h"
#include "vg_devtab.h"
#include "vg_util.h"

#define NAME "bpf_biolat"

static const struct vg_bpf_tp biolat_tps[] = {
    {"biolat_issue_q", "block", "block_rq_issue", 1, NULL, 1}, /* before 5.11 */
    {"biolat_issue", "block", "block_rq_issue", 1, NULL, 0},
    {"biolat_complete", "block", "block_rq_complete", 1, NULL, 0},
};

struct biolat_dev {
    __u32 dev;
    uint64_t io_tick;    /* the last tick with I/O */
    uint64_t named_tick; /* the tick name was read */
    uint64_t sent_tick;  /* the last tick it was sent in */
    char name[VG_DEV_NAME_MAX + 1];
};

struct biolat_state {
    struct biolat_bpf *skel;
    struct vg_bpf_links links;
    char sys_root[PATH_MAX];
    char proc_root[PATH_MAX];
    struct vg_bpf_snap prev, cur;
    struct vg_hist delta;
    int64_t prev_ms;
    int primed;
    uint64_t tick;           /* collects so far, from 1 */
    struct biolat_dev *devs; /* one per entry dev_hist can hold */
    size_t ndevs, max_devs;
    __u64 *scratch; /* one per-CPU counter */
    __u64 dev_evicted;
    struct vg_bpf_loss untimed_loss, dev_loss;
    /* Keeps the devices within the tick message's limit (keeps_within), as the disk collector
     * does: a host with hundreds of LUNs or loop devices must not take the message past it. */
    struct vg_devbudget budget;
};

void vg_bpf_biolat_fini(void *state)
{
    struct biolat_state *st = state;
    if (!st)
        return;
    vg_bpf_detach(&st->links);
    biolat_bpf__destroy(st->skel);
    vg_bpf_snap_free(&st->prev);
    vg_bpf_snap_free(&st->cur);
    vg_bpf_lazy_free(st->devs);
    free(st->scratch);
    free(st);
}

int vg_bpf_biolat_init(void **state, const struct vg_collector_cfg *cfg, char *err, size_t errlen)
{
    unsigned present;
    int rc = vg_bpf_prepare(NAME, err, errlen);
    if (rc < 0)
        return rc;
    struct biolat_state *st = calloc(1, sizeof *st);
    if (!st)
        return vg_err(err, errlen, -ENOMEM, NAME ": out of memory");
    snprintf(st->sys_root, sizeof st->sys_root, "%s",
             cfg && cfg->sys_root ? cfg->sys_root : "/sys");
    snprintf(st->proc_root, sizeof st->proc_root, "%s",
             cfg && cfg->proc_root ? cfg->proc_root : "/proc");
    vg_devbudget_init(&st->budget, cfg ? cfg->max_message_bytes : 0);
    LIBBPF_OPTS(bpf_object_open_opts, opts);
    char btf[600];
    size_t elf_size;
    const void *elf = biolat_bpf__elf_bytes(&elf_size);
    int minimal_rc = 0; /* what loading with the minimal BTF gave, when that failed */
    if (vg_bpf_core_btf(NAME, cfg, elf, elf_size, btf, sizeof btf) == 0)
        opts.btf_custom_path = btf;
open_object:
    st->skel = biolat_bpf__open_opts(&opts);
    if (!st->skel) {
        rc = vg_bpf_load_failed(NAME, "opening the BPF object", -errno, err, errlen);
        goto fail;
    }
    rc = vg_bpf_select(st->skel->obj, NAME, biolat_tps, VG_ARRAY_LEN(biolat_tps), &present, err,
                       errlen);
    if (rc < 0)
        goto fail;
    if ((rc = vg_bpf_lru_size(st->skel->maps.inflight, BIOLAT_MAX_INFLIGHT, NAME, err, errlen)) <
            0 ||
        (rc = vg_bpf_lru_size(st->skel->maps.dev_hist, BIOLAT_MAX_DEVS, NAME, err, errlen)) < 0)
        goto fail;
    rc = biolat_bpf__load(st->skel);
    if (rc < 0 && vg_bpf_core_btf_retry(&opts.btf_custom_path)) {
        minimal_rc = rc;
        biolat_bpf__destroy(st->skel);
        st->skel = NULL;
        goto open_object;
    }
    if (rc < 0) {
        rc = vg_bpf_load_failed(NAME, "loading the BPF programs", rc, err, errlen);
        goto fail;
    }
    if (minimal_rc)
        vg_bpf_core_btf_bad(NAME, btf, minimal_rc);
    rc = vg_bpf_attach(st->skel->obj, NAME, biolat_tps, VG_ARRAY_LEN(biolat_tps), present,
                       &st->links, err, errlen);
    if (rc < 0)
        goto fail;
    st->max_devs = bpf_map__max_entries(st->skel->maps.dev_hist);
    st->devs = vg_bpf_lazy_calloc(st->max_devs, sizeof *st->devs);
    st->scratch = calloc((size_t)vg_bpf_ncpus(), sizeof *st->scratch);
    if (!st->devs || !st->scratch ||
        vg_bpf_snap_init(&st->prev, 4, VG_HIST_BUCKETS, st->max_devs) < 0 ||
        vg_bpf_snap_init(&st->cur, 4, VG_HIST_BUCKETS, st->max_devs) < 0) {
        rc = vg_err(err, errlen, -ENOMEM, NAME ": out of memory");
        goto fail;
    }
    rc = vg_bpf_snap_read(&st->prev, bpf_map__fd(st->skel->maps.dev_hist), err, errlen);
    if (rc < 0)
        goto fail;
    *state = st;
    return 0;
fail:
    vg_bpf_biolat_fini(st);
    return rc;
}

/* DEVNAME from the device's uevent, else its /proc/partitions name, else "major:minor". */
static void name_device(const struct biolat_state *st, unsigned major, unsigned minor, char *out,
                        size_t n)
{
    char path[PATH_MAX + 64], line[256], raw[256] = "";
    snprintf(path, sizeof path, "%s/dev/block/%u:%u/uevent", st->sys_root, major, minor);
    FILE *f = fopen(path, "re");
    if (f) {
        while (!raw[0] && fgets(line, sizeof line, f))
            if (strncmp(line, "DEVNAME=", 8) == 0)
                snprintf(raw, sizeof raw, "%s", line + 8);
        fclose(f);
    }
    if (!raw[0]) {
        snprintf(path, sizeof path, "%s/partitions", st->proc_root);
        if ((f = fopen(path, "re")) != NULL) {
            unsigned ma, mi;
            unsigned long long blocks;
            char nm[128];
            while (!raw[0] && fgets(line, sizeof line, f))
                if (sscanf(line, "%u %u %llu %127s", &ma, &mi, &blocks, nm) == 4 && ma == major &&
                    mi == minor)
                    snprintf(raw, sizeof raw, "%s", nm);
            fclose(f);
        }
    }
    raw[strcspn(raw, "\n")] = '\0';
    if (!raw[0])
        snprintf(raw, sizeof raw, "%u:%u", major, minor);
    vg_metric_sanitise(out, n, raw, strlen(raw));
}

/* The kernel's dev_t, not the user-space one: 12 bits of major, 20 of minor. */
static void name_dev(const struct biolat_state *st, struct biolat_dev *d)
{
    name_device(st, d->dev >> 20, d->dev & 0xfffff, d->name, sizeof d->name);
    d->named_tick = st->tick;
}

/* The entry for dev, made (and named) only when the device had I/O this tick, or on the first
 * tick (the devices with I/O before the collector started): a device forgotten for being idle
 * keeps its histogram in the kernel's map, and must not be listed again until it does I/O. NULL
 * when there is none, or no room. */
static struct biolat_dev *device(struct biolat_state *st, __u32 dev, __u64 count)
{
    for (size_t i = 0; i < st->ndevs; i++)
        if (st->devs[i].dev == dev)
            return &st->devs[i];
    if (!count && st->tick > 1)
        return NULL;
    if (st->ndevs == st->max_devs) {
        /* Full: keep the devices the kernel still has a histogram for. */
        size_t w = 0;
        for (size_t i = 0; i < st->ndevs; i++)
            if (vg_bpf_snap_find(&st->cur, st->devs[i].dev))
                st->devs[w++] = st->devs[i];
        st->ndevs = w;
        if (w == st->max_devs)
            return NULL;
    }
    struct biolat_dev *d = &st->devs[st->ndevs++];
    memset(d, 0, sizeof *d);
    d->dev = dev;
    name_dev(st, d);
    return d;
}

/* Drops the devices idle past BIOLAT_IDLE_TICKS, those no longer in the kernel's map included,
 * so that a number reused by another disk is named afresh at its first I/O. */
static void forget_idle(struct biolat_state *st)
{
    size_t w = 0;
    for (size_t i = 0; i < st->ndevs; i++)
        if (st->tick - st->devs[i].io_tick <= BIOLAT_IDLE_TICKS)
            st->devs[w++] = st->devs[i];
    st->ndevs = w;
}

static int name_taken(const struct biolat_state *st, const struct biolat_dev *d)
{
    for (size_t i = 0; i < st->ndevs; i++)
        if (&st->devs[i] != d && st->devs[i].sent_tick == st->tick &&
            strcmp(st->devs[i].name, d->name) == 0)
            return 1;
    return 0;
}

/* The most one device's metrics add to the message (vg_devbudget), whatever their values. */
static size_t dev_bytes(const char *name)
{
    static const char *const suffixes[] = {".p50_us", ".p99_us", ".count_ps"};
    size_t n = 0;
    for (size_t i = 0; i < VG_ARRAY_LEN(suffixes); i++)
        n += VG_WIRE_METRIC_SIZE_MAX(strlen("bpf.biolat.") + strlen(name) + strlen(suffixes[i]));
    return n;
}

/* What the collector sends besides its devices, counted before them (vg_devbudget_reserve). */
static size_t own_bytes(void)
{
    static const char *const names[] = {"bpf.biolat.missed_ps", "bpf.biolat.untimed_ps",
                                        "bpf.biolat.dev_evicted_ps"};
    size_t n = 0;
    for (size_t i = 0; i < VG_ARRAY_LEN(names); i++)
        n += VG_WIRE_METRIC_SIZE_MAX(strlen(names[i]));
    return n;
}

int vg_bpf_biolat_collect(void *state, int64_t now_ms, struct vg_wire_msg *out, char *err,
                          size_t errlen)
{
    struct biolat_state *st = state;
    __u64 untimed = 0, created = 0;
    int cfd = bpf_map__fd(st->skel->maps.counters);
    /* The creations before the map, as vg_bpf_lru_evicted needs. */
    int rc = vg_bpf_read_percpu(cfd, BIOLAT_UNTIMED, 1, st->scratch, &untimed, err, errlen);
    if (rc == 0)
        rc = vg_bpf_read_percpu(cfd, BIOLAT_DEV_CREATED, 1, st->scratch, &created, err, errlen);
    if (rc == 0)
        rc = vg_bpf_snap_read(&st->cur, bpf_map__fd(st->skel->maps.dev_hist), err, errlen);
    if (rc < 0)
        return rc;
    st->dev_evicted = vg_bpf_lru_evicted(st->dev_evicted, created, st->cur.n, 0);
    int64_t dt = st->primed ? now_ms - st->prev_ms : 0;
    st->tick++;
    vg_devbudget_begin(&st->budget, out);
    vg_devbudget_reserve(&st->budget, own_bytes());
    for (size_t i = 0; i < st->cur.n && rc == 0; i++) {
        __u32 dev = (__u32)st->cur.keys[i];
        __u64 count =
            vg_bpf_delta(st->cur.vals + i * st->cur.width, vg_bpf_snap_find(&st->prev, dev),
                         VG_HIST_BUCKETS, st->delta.slots);
        struct biolat_dev *d = device(st, dev, count);
        if (!d)
            continue;
        if (count)
            d->io_tick = st->tick;
        if (st->tick - d->io_tick > BIOLAT_IDLE_TICKS)
            continue;
        if (st->tick - d->named_tick >= BIOLAT_NAME_TICKS)
            name_dev(st, d);
        /* Two device names that sanitise alike: only the first is sent, so names stay unique. */
        if (name_taken(st, d))
            continue;
        /* The snapshot is in device-number order, so past the limit the highest numbers are
         * left out, the same ones each tick. A device counts at its longest whether or not it
         * had requests, so that an idle one does not make room that a busy tick then takes. */
        if (!vg_devbudget_take(&st->budget, dev_bytes(d->name)))
            continue;
        d->sent_tick = st->tick;
        if (count &&
            ((rc = vg_bpf_emit(out, vg_hist_quantile(st->delta.slots, count, 0.50) / 1000.0, err,
                               errlen, "bpf.biolat.%s.p50_us", d->name)) < 0 ||
             (rc = vg_bpf_emit(out, vg_hist_quantile(st->delta.slots, count, 0.99) / 1000.0, err,
                               errlen, "bpf.biolat.%s.p99_us", d->name)) < 0))
            break;
        if (dt > 0)
            rc = vg_bpf_emit(out, (double)count * 1000.0 / (double)dt, err, errlen,
                             "bpf.biolat.%s.count_ps", d->name);
    }
    forget_idle(st);
    vg_bpf_snap_swap(&st->prev, &st->cur);
    st->prev_ms = now_ms;
    st->primed = 1;
    if (rc == 0)
        rc = vg_bpf_emit_misses(&st->links, NAME, "bpf.biolat.missed_ps", now_ms, out, err, errlen);
    if (rc == 0)
        rc = vg_bpf_emit_loss(&st->untimed_loss, untimed, NAME,
                              "block requests completed without an issue time, so not timed",
                              "bpf.biolat.untimed_ps", now_ms, out, err, errlen);
    if (rc == 0)
        rc = vg_bpf_emit_loss(&st->dev_loss, st->dev_evicted, NAME,
                              "device histograms evicted from the full dev_hist map",
                              "bpf.biolat.dev_evicted_ps", now_ms, out, err, errlen);
    if (st->budget.left_out)
        rc = vg_devtab_report(rc, NAME, "device", "bpf.biolat", 0, &st->budget, 0, NULL, NULL, err,
                              errlen);
    return rc;
}
