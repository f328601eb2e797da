/* The simulated fleet's values (vg_fleetgen.h). */
#include "vg_fleetgen.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "vg_util.h"

static uint64_t rnd(struct vg_fleetgen *g)
{
    /* xorshift64*: cheap, and the same fleet for the same seed. */
    g->rng ^= g->rng >> 12;
    g->rng ^= g->rng << 25;
    g->rng ^= g->rng >> 27;
    return g->rng * 0x2545F4914F6CDD1DULL;
}

static double unif(struct vg_fleetgen *g)
{
    return (double)(rnd(g) >> 11) * (1.0 / 9007199254740992.0);
}

/* Sum of four uniforms, scaled to unit variance: close enough to Gaussian for noise, and no
 * log/sqrt per sample on the generator's budget. */
static double noise(struct vg_fleetgen *g)
{
    uint64_t r = rnd(g);
    double s = (double)(r & 0xffff) + (double)((r >> 16) & 0xffff) + (double)((r >> 32) & 0xffff) +
               (double)(r >> 48);
    return (s / 65536.0 - 2.0) * 1.7320508075688772;
}

/* Metric names as the agent sends them (docs/metrics.md): fixed families first, then per disk
 * and per interface families until M names exist. */
static void make_names(struct vg_fleetgen *g)
{
    static const char *fixed[] = {
        "cpu.user_pct",
        "cpu.system_pct",
        "cpu.idle_pct",
        "cpu.iowait_pct",
        "cpu.irq_pct",
        "cpu.softirq_pct",
        "cpu.steal_pct",
        "cpu.ctxt_ps",
        "cpu.intr_ps",
        "cpu.forks_ps",
        "cpu.procs_running",
        "cpu.procs_blocked",
        "mem.free_bytes",
        "mem.available_bytes",
        "mem.cached_bytes",
        "mem.used_pct",
        "mem.dirty_bytes",
        "load.1m",
        "load.5m",
        "load.15m",
        "load.runnable",
        "load.threads",
        "vmstat.pgfault_ps",
        "vmstat.pgmajfault_ps",
        "vmstat.pgpgin_bytes_ps",
        "vmstat.pgpgout_bytes_ps",
        "psi.cpu.some_avg10",
        "psi.memory.some_avg10",
        "psi.io.some_avg10",
        "psi.io.full_avg10",
        "tcp.active_opens_ps",
        "tcp.passive_opens_ps",
        "tcp.curr_estab",
        "tcp.retrans_segs_ps",
        "tcp.time_wait",
        "udp.in_errors_ps",
        "fd.allocated",
        "fd.used_pct",
        "procs.count",
        "procs.threads",
        "bpf.runqlat.p50_us",
        "bpf.runqlat.p99_us",
    };
    static const char *disk[] = {"reads_ps", "writes_ps", "read_bytes_ps",   "write_bytes_ps",
                                 "util_pct", "await_ms",  "queue_time_ms_ps"};
    static const char *net[] = {"rx_bytes_ps", "tx_bytes_ps", "rx_packets_ps", "tx_packets_ps",
                                "rx_errs_ps",  "tx_errs_ps",  "rx_drop_ps",    "tx_drop_ps"};
    uint32_t n = 0;
    for (size_t i = 0; i < VG_ARRAY_LEN(fixed) && n < g->metrics; i++)
        snprintf(g->names[n++], 64, "%s", fixed[i]);
    for (uint32_t dev = 0; n < g->metrics; dev++) {
        for (size_t i = 0; i < VG_ARRAY_LEN(disk) && n < g->metrics; i++)
            snprintf(g->names[n++], 64, "disk.vd%c%s.%s", 'a' + dev % 26, dev >= 26 ? "x" : "",
                     disk[i]);
        for (size_t i = 0; i < VG_ARRAY_LEN(net) && n < g->metrics; i++)
            snprintf(g->names[n++], 64, "net.eth%u.%s", dev, net[i]);
    }
}

int vg_fleetgen_init(struct vg_fleetgen *g, uint64_t seed)
{
    size_t cells = (size_t)g->hosts * g->metrics;
    g->names = calloc(g->metrics, sizeof(*g->names));
    g->base = malloc(cells * sizeof(float));
    g->sigma = malloc(cells * sizeof(float));
    g->amp = malloc(cells * sizeof(float));
    g->phase = malloc(g->metrics * sizeof(float));
    if (!g->names || !g->base || !g->sigma || !g->amp || !g->phase)
        return -ENOMEM;
    g->rng = seed ? seed : 1;
    make_names(g);
    for (uint32_t m = 0; m < g->metrics; m++)
        g->phase[m] = (float)(unif(g) * 6.283185307179586);
    for (size_t c = 0; c < cells; c++) {
        /* Levels spread over decades like real gauges and rates (0.1 .. 1e6). */
        g->base[c] = (float)pow(10.0, unif(g) * 7.0 - 1.0);
        g->sigma[c] = (float)(0.02 + 0.08 * unif(g));
        g->amp[c] = (float)(0.3 * unif(g));
    }
    return 0;
}

/* Hosts 0, stride, 2*stride, ... (anomaly_hosts of them) are the anomalous ones. */
static int anomalous(const struct vg_fleetgen *g, uint32_t host, uint64_t tick)
{
    if (!g->anomaly_hosts || !g->anomaly_every)
        return 0;
    uint32_t stride = g->hosts / g->anomaly_hosts ? g->hosts / g->anomaly_hosts : 1;
    if (host % stride || host / stride >= g->anomaly_hosts)
        return 0;
    /* Staggered, so anomalies do not all start in the same tick. */
    uint64_t t = tick + host / stride * 7;
    return t % g->anomaly_every >= g->anomaly_every - g->anomaly_len;
}

int vg_fleetgen_fill(struct vg_fleetgen *g, struct vg_wire_msg *msg, uint32_t host, uint64_t tick,
                     char *err, size_t errlen)
{
    vg_wire_msg_reset(msg);
    int anom = anomalous(g, host, tick);
    g->anomalies += (uint64_t)anom;
    double season = 6.283185307179586 * (double)(tick % g->day) / (double)g->day;
    const float *base = g->base + (size_t)host * g->metrics;
    const float *sig = g->sigma + (size_t)host * g->metrics;
    const float *amp = g->amp + (size_t)host * g->metrics;
    for (uint32_t m = 0; m < g->metrics; m++) {
        double b = base[m];
        double v = b * (1.0 + amp[m] * sin(season + g->phase[m])) + b * sig[m] * noise(g);
        if (anom && m % 4 == 0)
            v += 8.0 * b * sig[m]; /* a shift of 8 sigma on a quarter of the metrics */
        if (v < 0)
            v = 0;
        int rc = vg_wire_msg_add_metric(msg, g->names[m], v, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

void vg_fleetgen_free(struct vg_fleetgen *g)
{
    free(g->names);
    free(g->base);
    free(g->sigma);
    free(g->amp);
    free(g->phase);
    g->names = NULL;
    g->base = g->sigma = g->amp = g->phase = NULL;
}
