/* bpf_tcp, user side: counters and the connect-time histogram, read once per tick. A counter
 * whose tracepoint this kernel lacks is not sent (its program was never loaded). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_impl.h"
#include "tcpstat.h"
#include "tcpstat.skel.h"
#include "vg_bpf_btf.h"
#include "vg_bpf_util.h"
#include "vg_rate.h"
#include "vg_util.h"

#define NAME "bpf_tcp"

enum { TP_STATE, TP_RETRANSMIT, TP_SEND_RESET, TP_RECEIVE_RESET };

static const struct vg_bpf_tp tcp_tps[] = {
    [TP_STATE] = {"tcp_set_state", "sock", "inet_sock_set_state", 1, NULL, 0},
    [TP_RETRANSMIT] = {"tcp_retransmit", "tcp", "tcp_retransmit_skb", 0, "bpf.tcp.retransmits_ps",
                       0},
    [TP_SEND_RESET] = {"tcp_send_reset", "tcp", "tcp_send_reset", 0, "bpf.tcp.resets_sent_ps", 0},
    [TP_RECEIVE_RESET] = {"tcp_receive_reset", "tcp", "tcp_receive_reset", 0,
                          "bpf.tcp.resets_received_ps", 0},
};

/* Each counter's metric and the tracepoint that feeds it. */
static const struct {
    const char *name;
    int tp;
} counter_src[TCPSTAT_NCOUNTERS] = {
    [TCPSTAT_RETRANSMITS] = {"bpf.tcp.retransmits_ps", TP_RETRANSMIT},
    [TCPSTAT_RESETS_SENT] = {"bpf.tcp.resets_sent_ps", TP_SEND_RESET},
    [TCPSTAT_RESETS_RECEIVED] = {"bpf.tcp.resets_received_ps", TP_RECEIVE_RESET},
    [TCPSTAT_CONNECTS] = {"bpf.tcp.connects_ps", TP_STATE},
    [TCPSTAT_CONNECT_FAILURES] = {"bpf.tcp.connect_failures_ps", TP_STATE},
    [TCPSTAT_CONNECTS_UNTIMED] = {"bpf.tcp.connect_untimed_ps", TP_STATE},
};

struct tcp_state {
    struct tcpstat_bpf *skel;
    struct vg_bpf_links links;
    __u64 *scratch;
    struct vg_hist prev, cur, delta;
    struct vg_rate rate[TCPSTAT_NCOUNTERS];
    struct vg_bpf_loss untimed_loss;
};

void vg_bpf_tcp_fini(void *state)
{
    struct tcp_state *st = state;
    if (!st)
        return;
    vg_bpf_detach(&st->links);
    tcpstat_bpf__destroy(st->skel);
    free(st->scratch);
    free(st);
}

static int read_hist(struct tcp_state *st, char *err, size_t errlen)
{
    return vg_bpf_read_percpu(bpf_map__fd(st->skel->maps.connect_hist), 0, VG_HIST_BUCKETS,
                              st->scratch, st->cur.slots, err, errlen);
}

int vg_bpf_tcp_init(void **state, const struct vg_collector_cfg *cfg, char *err, size_t errlen)
{
    unsigned present;
    int rc = vg_bpf_prepare(NAME, err, errlen);
    if (rc < 0)
        return rc;
    struct tcp_state *st = calloc(1, sizeof *st);
    if (!st)
        return vg_err(err, errlen, -ENOMEM, NAME ": out of memory");
    LIBBPF_OPTS(bpf_object_open_opts, opts);
    char btf[600];
    size_t elf_size;
    const void *elf = tcpstat_bpf__elf_bytes(&elf_size);
    int minimal_rc = 0; /* what loading with the minimal BTF gave, when that failed */
    if (vg_bpf_core_btf(NAME, cfg, elf, elf_size, btf, sizeof btf) == 0)
        opts.btf_custom_path = btf;
open_object:
    st->skel = tcpstat_bpf__open_opts(&opts);
    if (!st->skel) {
        rc = vg_bpf_load_failed(NAME, "opening the BPF object", -errno, err, errlen);
        goto fail;
    }
    rc = vg_bpf_select(st->skel->obj, NAME, tcp_tps, VG_ARRAY_LEN(tcp_tps), &present, err, errlen);
    if (rc < 0)
        goto fail;
    rc = vg_bpf_lru_size(st->skel->maps.connecting, TCPSTAT_MAX_CONNECTING, NAME, err, errlen);
    if (rc < 0)
        goto fail;
    rc = tcpstat_bpf__load(st->skel);
    if (rc < 0 && vg_bpf_core_btf_retry(&opts.btf_custom_path)) {
        minimal_rc = rc;
        tcpstat_bpf__destroy(st->skel);
        st->skel = NULL;
        goto open_object;
    }
    if (rc < 0) {
        rc = vg_bpf_load_failed(NAME, "loading the BPF programs", rc, err, errlen);
        goto fail;
    }
    if (minimal_rc)
        vg_bpf_core_btf_bad(NAME, btf, minimal_rc);
    rc = vg_bpf_attach(st->skel->obj, NAME, tcp_tps, VG_ARRAY_LEN(tcp_tps), present, &st->links,
                       err, errlen);
    if (rc < 0)
        goto fail;
    st->scratch = calloc((size_t)vg_bpf_ncpus() * VG_HIST_BUCKETS, sizeof *st->scratch);
    if (!st->scratch) {
        rc = vg_err(err, errlen, -ENOMEM, NAME ": out of memory");
        goto fail;
    }
    if ((rc = read_hist(st, err, errlen)) < 0)
        goto fail;
    st->prev = st->cur;
    *state = st;
    return 0;
fail:
    vg_bpf_tcp_fini(st);
    return rc;
}

int vg_bpf_tcp_collect(void *state, int64_t now_ms, struct vg_wire_msg *out, char *err,
                       size_t errlen)
{
    struct tcp_state *st = state;
    __u64 c[TCPSTAT_NCOUNTERS];
    int rc = read_hist(st, err, errlen);
    if (rc < 0)
        return rc;
    __u64 n = vg_bpf_delta(st->cur.slots, st->prev.slots, VG_HIST_BUCKETS, st->delta.slots);
    st->prev = st->cur;
    if (n && ((rc = vg_bpf_emit(out, vg_hist_quantile(st->delta.slots, n, 0.50) / 1000.0, err,
                                errlen, "bpf.tcp.connect_p50_us")) < 0 ||
              (rc = vg_bpf_emit(out, vg_hist_quantile(st->delta.slots, n, 0.99) / 1000.0, err,
                                errlen, "bpf.tcp.connect_p99_us")) < 0))
        return rc;

    rc = vg_bpf_read_percpu(bpf_map__fd(st->skel->maps.counters), 0, TCPSTAT_NCOUNTERS, st->scratch,
                            c, err, errlen);
    for (int i = 0; i < TCPSTAT_NCOUNTERS && rc == 0; i++) {
        double r;
        if (!(st->links.present & (1u << counter_src[i].tp)))
            continue;
        if (i == TCPSTAT_CONNECTS_UNTIMED)
            rc = vg_bpf_emit_loss(&st->untimed_loss, c[i], NAME,
                                  "connects established without the time their SYN was sent, "
                                  "so not timed",
                                  counter_src[i].name, now_ms, out, err, errlen);
        else if (vg_rate_update(&st->rate[i], c[i], now_ms, 64, &r) == 0)
            rc = vg_bpf_emit(out, r, err, errlen, "%s", counter_src[i].name);
    }
    if (rc == 0)
        rc = vg_bpf_emit_misses(&st->links, NAME, "bpf.tcp.missed_ps", now_ms, out, err, errlen);
    return rc;
}
