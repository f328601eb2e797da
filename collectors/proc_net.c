/* net: per-interface traffic from /proc/net/dev. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc_parse.h"
#include "proc_read.h"
#include "proc_scan.h"
#include "vg_collector.h"
#include "vg_devtab.h"
#include "vg_util.h"

static const struct vg_metric_desc net_metrics[] = {
    {"net.<if>.rx_bytes_ps", "bytes/s", VG_METRIC_RATE, "Bytes received."},
    {"net.<if>.tx_bytes_ps", "bytes/s", VG_METRIC_RATE, "Bytes sent."},
    {"net.<if>.rx_packets_ps", "packets/s", VG_METRIC_RATE, "Packets received."},
    {"net.<if>.tx_packets_ps", "packets/s", VG_METRIC_RATE, "Packets sent."},
    {"net.<if>.rx_errs_ps", "packets/s", VG_METRIC_RATE,
     "Receive errors (bad CRC or frame, FIFO overrun and the like)."},
    {"net.<if>.tx_errs_ps", "packets/s", VG_METRIC_RATE, "Transmit errors."},
    {"net.<if>.rx_drop_ps", "packets/s", VG_METRIC_RATE,
     "Packets received but dropped (no buffer space, unknown protocol and the like)."},
    {"net.<if>.tx_drop_ps", "packets/s", VG_METRIC_RATE, "Packets dropped before sending."},
};

/* Counter and metric name suffix behind each entry above, in the same order. */
static const struct {
    int counter;
    const char *suffix;
} net_out[] = {
    {VG_NET_RX_BYTES, "rx_bytes_ps"},     {VG_NET_TX_BYTES, "tx_bytes_ps"},
    {VG_NET_RX_PACKETS, "rx_packets_ps"}, {VG_NET_TX_PACKETS, "tx_packets_ps"},
    {VG_NET_RX_ERRS, "rx_errs_ps"},       {VG_NET_TX_ERRS, "tx_errs_ps"},
    {VG_NET_RX_DROP, "rx_drop_ps"},       {VG_NET_TX_DROP, "tx_drop_ps"},
};
_Static_assert(VG_ARRAY_LEN(net_out) == VG_ARRAY_LEN(net_metrics), "one counter per metric");
_Static_assert(VG_ARRAY_LEN(net_out) <= VG_DEVTAB_RATES, "vg_dev has too few rate slots");

/* The kernel prints 64-bit counters here on every architecture, but on a 32-bit kernel a driver
 * that only keeps unsigned long statistics wraps them at 2^32. They are all read as 64-bit: a
 * 32-bit wrap then looks like a reset and skips one sample. Reading them as 32-bit instead would
 * break every driver with real 64-bit counters, and guessing per counter would turn a real reset
 * below 4 GiB into a bogus spike. */
#define NET_COUNTER_BITS 64

struct net_state {
    char path[PATH_MAX];
    struct vg_procbuf buf;
    struct vg_devtab tab;
    struct vg_devbudget budget;
};

struct net_pass {
    struct net_state *st;
    int64_t now_ms;
    struct vg_wire_msg *out;
    char *err;
    size_t errlen;
    int full;    /* the table hit VG_DEVTAB_MAX this tick */
    size_t dups; /* interfaces left out: their metric name is an earlier one's */
    char dup_raw[VG_DEV_NAME_MAX + 1], dup_key[VG_DEV_NAME_MAX + 1]; /* the first of them */
};

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* What is wrong with a line, worded to follow "line". */
enum { LINE_OK, NO_COLON, BAD_NAME, TOO_FEW, BAD_COUNTER };
static const char *const line_problem[] = {
    [NO_COLON] = "has no ':' after the interface name",
    [BAD_NAME] = "has an empty, blank-holding or over 64-byte interface name",
    [TOO_FEW] = "has fewer than 16 counters",
    [BAD_COUNTER] = "has a counter that is not a number",
};

static int parse_line(struct vg_span line, struct vg_net_line *n)
{
    const char *colon = memchr(line.p, ':', (size_t)(line.end - line.p));
    if (!colon)
        return NO_COLON;
    const char *p = line.p;
    while (p < colon && is_blank(*p))
        p++;
    /* Interface names cannot hold ':' or blanks, so the first ':' ends the name. Old kernels
     * printed "eth0:123" with no space when the first counter was wide. */
    if (p == colon || colon - p > VG_DEV_NAME_MAX)
        return BAD_NAME;
    for (const char *q = p; q < colon; q++)
        if (is_blank(*q))
            return BAD_NAME;
    n->name = p;
    n->name_len = (size_t)(colon - p);

    struct vg_span rest = {colon + 1, line.end};
    for (int i = 0; i < VG_NET_NCOUNTERS; i++) {
        int rc = vg_span_u64(&rest, &n->c[i]);
        if (rc == -ENODATA)
            return TOO_FEW;
        if (rc < 0)
            return BAD_COUNTER;
    }
    /* Counters a future kernel may append are ignored, but they must still be numbers. */
    uint64_t v;
    int rc;
    while ((rc = vg_span_u64(&rest, &v)) == 0)
        ;
    return rc == -ENODATA ? LINE_OK : BAD_COUNTER;
}

int vg_parse_netdev(const char *buf, size_t len, const char *src, vg_net_line_fn fn, void *ctx,
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
        /* The two header lines are the only ones with '|'. */
        if (memchr(line.p, '|', (size_t)(line.end - line.p)))
            continue;
        struct vg_net_line n;
        int bad = parse_line(line, &n);
        if (bad != LINE_OK) {
            if (first_rc == 0)
                first_rc =
                    vg_err(err, errlen, -EINVAL, "%s:%u: line %s", src, s.line, line_problem[bad]);
            continue;
        }
        int rc = fn(ctx, &n);
        if (rc)
            return rc;
    }
    return first_rc;
}

static int on_line(void *ctx, const struct vg_net_line *n)
{
    struct net_pass *p = ctx;
    char key[VG_DEV_NAME_MAX + 1], name[sizeof "net.." + VG_DEV_NAME_MAX + 32];
    struct vg_dev *dev;

    /* Loopback traffic never leaves the host. */
    if (n->name_len == 2 && memcmp(n->name, "lo", 2) == 0)
        return 0;
    vg_metric_sanitise(key, sizeof key, n->name, n->name_len);
    int rc = vg_devtab_get(&p->st->tab, key, &dev);
    if (rc == -ENOSPC) {
        p->full = 1;
        return 0;
    }
    if (rc == -EEXIST) {
        /* Two raw names that clean up alike (vlan#10, vlan%10) cannot both be sent: the second
         * is left out, but said, or an interface would vanish without a word. */
        if (p->dups++ == 0) {
            snprintf(p->dup_raw, sizeof p->dup_raw, "%.*s", (int)n->name_len, n->name);
            snprintf(p->dup_key, sizeof p->dup_key, "%s", key);
        }
        return 0;
    }
    if (rc < 0)
        return vg_err(p->err, p->errlen, rc, "net: out of memory");

    /* Counted whether or not it has rates this tick, so that the same interfaces fit each tick.
     * One left out still keeps its rates current, ready for when it fits again. */
    size_t bytes = 0;
    for (size_t i = 0; i < VG_ARRAY_LEN(net_out); i++)
        bytes += VG_WIRE_METRIC_SIZE_MAX(strlen("net..") + strlen(key) + strlen(net_out[i].suffix));
    int send = vg_devbudget_take(&p->st->budget, bytes);
    for (size_t i = 0; i < VG_ARRAY_LEN(net_out); i++) {
        double ps;
        if (vg_rate_update(&dev->rate[i], n->c[net_out[i].counter], p->now_ms, NET_COUNTER_BITS,
                           &ps) < 0 ||
            !send)
            continue;
        snprintf(name, sizeof name, "net.%s.%s", key, net_out[i].suffix);
        if ((rc = vg_wire_msg_add_metric(p->out, name, ps, p->err, p->errlen)) < 0)
            return rc;
    }
    return 0;
}

static int noop_line(void *ctx, const struct vg_net_line *n)
{
    return 0;
}

static void net_fini(void *state)
{
    struct net_state *st = state;
    if (!st)
        return;
    vg_procbuf_free(&st->buf);
    vg_devtab_free(&st->tab);
    free(st);
}

static int net_init(void **state, const struct vg_collector_cfg *cfg, char *err, size_t errlen)
{
    struct net_state *st = calloc(1, sizeof *st);
    if (!st)
        return vg_err(err, errlen, -ENOMEM, "net: out of memory");
    vg_devtab_init(&st->tab);
    vg_devbudget_init(&st->budget, cfg->max_message_bytes);
    int rc =
        vg_proc_path(st->path, sizeof st->path, cfg->proc_root, "/proc", "net/dev", err, errlen);
    if (rc == 0)
        rc = vg_procbuf_read(&st->buf, st->path, err, errlen);
    if (rc == 0)
        rc = vg_parse_netdev(st->buf.data, st->buf.len, st->path, noop_line, NULL, err, errlen);
    if (rc < 0) {
        net_fini(st);
        return rc;
    }
    *state = st;
    return 0;
}

static int net_collect(void *state, int64_t now_ms, struct vg_wire_msg *out, char *err,
                       size_t errlen)
{
    struct net_state *st = state;
    struct net_pass p = {.st = st, .now_ms = now_ms, .out = out, .err = err, .errlen = errlen};
    int rc = vg_procbuf_read(&st->buf, st->path, err, errlen);
    if (rc < 0)
        return rc;
    vg_devtab_begin(&st->tab);
    vg_devbudget_begin(&st->budget, out);
    rc = vg_parse_netdev(st->buf.data, st->buf.len, st->path, on_line, &p, err, errlen);
    vg_devtab_end(&st->tab);
    return vg_devtab_report(rc, st->path, "interface", "net", p.full, &st->budget, p.dups,
                            p.dup_raw, p.dup_key, err, errlen);
}

const struct vg_collector vg_collector_net = {
    .name = "net",
    .help = "Per-interface traffic, from /proc/net/dev (the agent's network namespace). Every "
            "interface but lo. Counters are read as 64-bit: on a 32-bit kernel whose driver wraps "
            "them at 2^32, a wrap skips one sample instead of reporting a spike. An interface "
            "missing from one read starts over when its name comes back (it may be another "
            "interface), and sends no rates that tick. Interfaces that would take the tick's "
            "message past the size Kafka takes (each counted at its longest, beside the most the "
            "collectors before it sent over the last 60 to 120 ticks, so that the same ones are "
            "sent every tick; docs/wire-format.md) are left out, the last in /proc/net/dev first, "
            "and the log says how many.",
    .metrics = net_metrics,
    .n_metrics = VG_ARRAY_LEN(net_metrics),
    .init = net_init,
    .collect = net_collect,
    .fini = net_fini,
    .keeps_within = 1,
};
