/* netstat: TCP and UDP protocol counters from /proc/net/snmp, /proc/net/netstat and
 * /proc/net/sockstat. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "proc_parse.h"
#include "proc_read.h"
#include "proc_scan.h"
#include "vg_collector.h"
#include "vg_rate.h"
#include "vg_util.h"

static const struct vg_metric_desc netstat_metrics[] = {
    {"tcp.active_opens_ps", "conns/s", VG_METRIC_RATE,
     "Connections this host opened (Tcp ActiveOpens: connect() sent a SYN)."},
    {"tcp.passive_opens_ps", "conns/s", VG_METRIC_RATE,
     "Connections this host accepted (Tcp PassiveOpens: a SYN to a listener was answered)."},
    {"tcp.attempt_fails_ps", "conns/s", VG_METRIC_RATE,
     "Connection attempts that failed (Tcp AttemptFails): SYN-SENT or SYN-RECEIVED went to "
     "CLOSED, or SYN-RECEIVED back to LISTEN. Mostly outgoing connects refused by a reset or "
     "timed out, plus incoming handshakes reset by the peer: a proxy for resets received during "
     "connection setup, not an exact count of them."},
    {"tcp.estab_resets_ps", "conns/s", VG_METRIC_RATE,
     "Connections reset while established (Tcp EstabResets): ESTABLISHED or CLOSE-WAIT went "
     "straight to CLOSED. Counts resets received from the peer and also resets this host sent "
     "when aborting a connection, so it is not purely resets received."},
    {"tcp.curr_estab", "conns", VG_METRIC_GAUGE,
     "Connections in ESTABLISHED or CLOSE-WAIT right now (Tcp CurrEstab)."},
    {"tcp.time_wait", "sockets", VG_METRIC_GAUGE,
     "Sockets in TIME-WAIT right now (tw on the TCP line of /proc/net/sockstat)."},
    {"tcp.retrans_segs_ps", "segments/s", VG_METRIC_RATE,
     "Segments retransmitted (Tcp RetransSegs)."},
    {"tcp.out_rsts_ps", "segments/s", VG_METRIC_RATE,
     "Segments sent with the RST flag (Tcp OutRsts): resets this host sent."},
    {"tcp.listen_overflows_ps", "conns/s", VG_METRIC_RATE,
     "Handshakes completed while a listener's accept queue was full (TcpExt ListenOverflows): "
     "the application accepts too slowly."},
    {"tcp.listen_drops_ps", "SYNs/s", VG_METRIC_RATE,
     "SYNs and handshakes a listener dropped for any reason, overflows included (TcpExt "
     "ListenDrops)."},
    {"udp.no_ports_ps", "datagrams/s", VG_METRIC_RATE,
     "Datagrams received for a port nobody listens on (Udp NoPorts)."},
    {"udp.in_errors_ps", "datagrams/s", VG_METRIC_RATE,
     "Datagrams received but not delivered, for any reason but no port: bad checksum, full "
     "buffer (Udp InErrors)."},
    {"udp.rcvbuf_errors_ps", "datagrams/s", VG_METRIC_RATE,
     "Datagrams dropped because the socket's receive buffer was full (Udp RcvbufErrors; kernel "
     "2.6.18+; also counted in udp.in_errors_ps)."},
};

/* The metric sent for each field. */
static const char *const snmp_names[VG_SNMP_NFIELDS] = {
    [VG_SNMP_TCP_ACTIVE_OPENS] = "tcp.active_opens_ps",
    [VG_SNMP_TCP_PASSIVE_OPENS] = "tcp.passive_opens_ps",
    [VG_SNMP_TCP_ATTEMPT_FAILS] = "tcp.attempt_fails_ps",
    [VG_SNMP_TCP_ESTAB_RESETS] = "tcp.estab_resets_ps",
    [VG_SNMP_TCP_CURR_ESTAB] = "tcp.curr_estab",
    [VG_SNMP_TCP_RETRANS_SEGS] = "tcp.retrans_segs_ps",
    [VG_SNMP_TCP_OUT_RSTS] = "tcp.out_rsts_ps",
    [VG_SNMP_UDP_IN_ERRORS] = "udp.in_errors_ps",
    [VG_SNMP_UDP_NO_PORTS] = "udp.no_ports_ps",
    [VG_SNMP_UDP_RCVBUF_ERRORS] = "udp.rcvbuf_errors_ps",
    [VG_SNMP_TCPEXT_LISTEN_OVERFLOWS] = "tcp.listen_overflows_ps",
    [VG_SNMP_TCPEXT_LISTEN_DROPS] = "tcp.listen_drops_ps",
};

/* The groups parsed and the columns wanted from each. */
struct snmp_col {
    const char *name;
    int field;
};
static const struct snmp_col tcp_cols[] = {
    {"ActiveOpens", VG_SNMP_TCP_ACTIVE_OPENS},   {"PassiveOpens", VG_SNMP_TCP_PASSIVE_OPENS},
    {"AttemptFails", VG_SNMP_TCP_ATTEMPT_FAILS}, {"EstabResets", VG_SNMP_TCP_ESTAB_RESETS},
    {"CurrEstab", VG_SNMP_TCP_CURR_ESTAB},       {"RetransSegs", VG_SNMP_TCP_RETRANS_SEGS},
    {"OutRsts", VG_SNMP_TCP_OUT_RSTS},
};
static const struct snmp_col udp_cols[] = {
    {"InErrors", VG_SNMP_UDP_IN_ERRORS},
    {"NoPorts", VG_SNMP_UDP_NO_PORTS},
    {"RcvbufErrors", VG_SNMP_UDP_RCVBUF_ERRORS},
};
static const struct snmp_col tcpext_cols[] = {
    {"ListenOverflows", VG_SNMP_TCPEXT_LISTEN_OVERFLOWS},
    {"ListenDrops", VG_SNMP_TCPEXT_LISTEN_DROPS},
};
static const struct {
    const char *prefix;
    unsigned bit;
    const struct snmp_col *cols;
    size_t n;
} groups[] = {
    {"Tcp:", VG_SNMP_HAVE_TCP, tcp_cols, VG_ARRAY_LEN(tcp_cols)},
    {"Udp:", VG_SNMP_HAVE_UDP, udp_cols, VG_ARRAY_LEN(udp_cols)},
    {"TcpExt:", VG_SNMP_HAVE_TCPEXT, tcpext_cols, VG_ARRAY_LEN(tcpext_cols)},
};

static int same_word(struct vg_span a, struct vg_span b)
{
    return a.end - a.p == b.end - b.p && memcmp(a.p, b.p, (size_t)(a.end - a.p)) == 0;
}

/* An integer, possibly negative; the columns that are not reported are only checked to be one. */
static int is_integer(struct vg_span w)
{
    uint64_t v;
    if (w.p < w.end && *w.p == '-')
        w.p++;
    return vg_word_u64(w, &v) == 0;
}

static int parse_pair(struct vg_span hdr, struct vg_span val, int g, const char *src,
                      unsigned lineno, struct vg_snmp_sample *out, char *err, size_t errlen)
{
    struct vg_span hw, vw;
    int col = 0;
    while (vg_span_word(&hdr, &hw)) {
        col++;
        if (!vg_span_word(&val, &vw))
            return vg_err(err, errlen, -EINVAL, "%s:%u: %s has fewer values than column names", src,
                          lineno, groups[g].prefix);
        const struct snmp_col *c = NULL;
        for (size_t i = 0; i < groups[g].n; i++)
            if (vg_word_is(hw, groups[g].cols[i].name))
                c = &groups[g].cols[i];
        if (c && !(out->have & (UINT64_C(1) << c->field))) {
            if (vg_word_u64(vw, &out->v[c->field]) < 0)
                return vg_err(err, errlen, -EINVAL, "%s:%u: %s %s is not an unsigned number", src,
                              lineno, groups[g].prefix, c->name);
            out->have |= UINT64_C(1) << c->field;
        } else if (!is_integer(vw)) {
            return vg_err(err, errlen, -EINVAL, "%s:%u: %s column %d is not a number", src, lineno,
                          groups[g].prefix, col);
        }
    }
    if (vg_span_word(&val, &vw))
        return vg_err(err, errlen, -EINVAL, "%s:%u: %s has more values than column names", src,
                      lineno, groups[g].prefix);
    out->groups |= groups[g].bit;
    return 0;
}

int vg_parse_snmp(const char *buf, size_t len, const char *src, struct vg_snmp_sample *out,
                  char *err, size_t errlen)
{
    struct vg_scan s;
    struct vg_span line, w, hdr = {0}, hdr_word = {0};
    unsigned hdr_line = 0;
    int rc;

    memset(out, 0, sizeof *out);
    vg_scan_init(&s, buf, len);
    while (vg_scan_line(&s, &line)) {
        if (!vg_span_word(&line, &w))
            continue;
        if (w.end - w.p < 2 || w.end[-1] != ':')
            return vg_err(err, errlen, -EINVAL, "%s:%u: line does not start with \"Group:\"", src,
                          s.line);
        if (!hdr_line) {
            hdr = line;
            hdr_word = w;
            hdr_line = s.line;
            continue;
        }
        if (!same_word(w, hdr_word))
            return vg_err(err, errlen, -EINVAL, "%s:%u: column names without a line of values", src,
                          hdr_line);
        hdr_line = 0;
        for (size_t g = 0; g < VG_ARRAY_LEN(groups); g++) {
            if (!vg_word_is(w, groups[g].prefix))
                continue;
            /* The first pair of a group wins, as the kernel prints each once. */
            if (!(out->groups & groups[g].bit) &&
                (rc = parse_pair(hdr, line, (int)g, src, s.line, out, err, errlen)) < 0)
                return rc;
            break;
        }
    }
    if (hdr_line)
        return vg_err(err, errlen, -EINVAL, "%s:%u: column names without a line of values", src,
                      hdr_line);
    return 0;
}

int vg_parse_sockstat(const char *buf, size_t len, const char *src, struct vg_sockstat_sample *out,
                      char *err, size_t errlen)
{
    struct vg_scan s;
    struct vg_span line, w, name;
    uint64_t v;

    memset(out, 0, sizeof *out);
    vg_scan_init(&s, buf, len);
    while (vg_scan_line(&s, &line)) {
        if (!vg_span_word(&line, &w) || !vg_word_is(w, "TCP:"))
            continue;
        int have_tw = 0;
        while (vg_span_word(&line, &name)) {
            if (vg_span_u64(&line, &v) < 0)
                return vg_err(err, errlen, -EINVAL, "%s:%u: a TCP field has no number after it",
                              src, s.line);
            if (vg_word_is(name, "tw")) {
                out->tcp_tw = v;
                have_tw = 1;
            }
        }
        if (!have_tw)
            return vg_err(err, errlen, -EINVAL, "%s:%u: the TCP line has no tw field", src, s.line);
        return 0;
    }
    return vg_err(err, errlen, -EINVAL, "%s: no TCP line", src);
}

enum { F_SNMP, F_NETSTAT, F_SOCKSTAT, N_FILES };
static const char *const file_rel[N_FILES] = {"net/snmp", "net/netstat", "net/sockstat"};

struct netstat_state {
    char path[N_FILES][PATH_MAX];
    int present[N_FILES];
    struct vg_procbuf buf;
    struct vg_rate rate[VG_SNMP_NFIELDS];
};

/* Reads and parses one file into *smp (snmp or netstat) or *sock. */
static int read_file(struct netstat_state *st, int f, struct vg_snmp_sample *smp,
                     struct vg_sockstat_sample *sock, char *err, size_t errlen)
{
    int rc = vg_procbuf_read(&st->buf, st->path[f], err, errlen);
    if (rc < 0)
        return rc;
    if (f == F_SOCKSTAT)
        return vg_parse_sockstat(st->buf.data, st->buf.len, st->path[f], sock, err, errlen);
    rc = vg_parse_snmp(st->buf.data, st->buf.len, st->path[f], smp, err, errlen);
    if (rc == 0 && f == F_SNMP && !(smp->groups & VG_SNMP_HAVE_TCP))
        rc = vg_err(err, errlen, -EINVAL, "%s: no Tcp: lines", st->path[f]);
    return rc;
}

static void netstat_fini(void *state)
{
    struct netstat_state *st = state;
    if (!st)
        return;
    vg_procbuf_free(&st->buf);
    free(st);
}

static int netstat_init(void **state, const struct vg_collector_cfg *cfg, char *err, size_t errlen)
{
    struct vg_snmp_sample smp;
    struct vg_sockstat_sample sock;
    struct netstat_state *st = calloc(1, sizeof *st);
    if (!st)
        return vg_err(err, errlen, -ENOMEM, "netstat: out of memory");
    int rc = 0;
    for (int f = 0; rc == 0 && f < N_FILES; f++) {
        rc = vg_proc_path(st->path[f], sizeof st->path[f], cfg->proc_root, "/proc", file_rel[f],
                          err, errlen);
        if (rc == 0)
            rc = read_file(st, f, &smp, &sock, err, errlen);
        /* snmp is the core; a kernel or namespace without the other two still gets its
         * metrics, and never pays for opening a missing file each tick. */
        if (rc == -ENOENT && f != F_SNMP)
            rc = 0;
        else if (rc == 0)
            st->present[f] = 1;
    }
    if (rc < 0) {
        netstat_fini(st);
        return rc;
    }
    *state = st;
    return 0;
}

static int emit(struct netstat_state *st, const struct vg_snmp_sample *smp, int64_t now_ms,
                struct vg_wire_msg *out, char *err, size_t errlen)
{
    for (int i = 0; i < VG_SNMP_NFIELDS; i++) {
        double v = (double)smp->v[i];
        if (!(smp->have & (UINT64_C(1) << i)))
            continue;
        /* unsigned long in the kernel: read as 64-bit, a 32-bit kernel's wrap skips a sample. */
        if (i != VG_SNMP_TCP_CURR_ESTAB &&
            vg_rate_update(&st->rate[i], smp->v[i], now_ms, 64, &v) < 0)
            continue;
        int rc = vg_wire_msg_add_metric(out, snmp_names[i], v, err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int netstat_collect(void *state, int64_t now_ms, struct vg_wire_msg *out, char *err,
                           size_t errlen)
{
    struct netstat_state *st = state;
    struct vg_snmp_sample smp;
    struct vg_sockstat_sample sock;
    int first_rc = 0;
    for (int f = 0; f < N_FILES; f++) {
        if (!st->present[f])
            continue;
        /* Each file stands alone: one that fails does not hide the others' metrics. */
        int rc = read_file(st, f, &smp, &sock, first_rc ? NULL : err, errlen);
        if (rc == 0 && f == F_SOCKSTAT)
            rc = vg_wire_msg_add_metric(out, "tcp.time_wait", (double)sock.tcp_tw, err, errlen);
        else if (rc == 0)
            rc = emit(st, &smp, now_ms, out, err, errlen);
        if (rc == -ENOMEM)
            return rc;
        if (rc < 0 && !first_rc)
            first_rc = rc;
    }
    return first_rc;
}

const struct vg_collector vg_collector_netstat = {
    .name = "netstat",
    .help = "TCP and UDP protocol counters of the agent's network namespace, from "
            "/proc/net/snmp, /proc/net/netstat (listen queues) and /proc/net/sockstat "
            "(TIME-WAIT). The TCP counters cover IPv4 and IPv6 together; the UDP ones IPv4 only "
            "(the kernel keeps IPv6 UDP apart, in /proc/net/snmp6, which is not read). Columns "
            "are found by name, so a kernel that lacks one simply does not send its metric.",
    .metrics = netstat_metrics,
    .n_metrics = VG_ARRAY_LEN(netstat_metrics),
    .init = netstat_init,
    .collect = netstat_collect,
    .fini = netstat_fini,
};
