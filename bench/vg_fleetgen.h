/* The simulated fleet's values, shared by bench/vigil-loadgen (which sends them) and
 * bench/wire-decode (which times decoding them): agent-like metric names, per host and metric a
 * level spread over decades (0.1 .. 1e6), a daily-like seasonal swing and noise, and injected
 * anomalies (an 8 sigma shift on a quarter of the metrics of a few hosts, for anomaly_len of
 * every anomaly_every ticks). The same seed gives the same fleet. */
#ifndef VG_FLEETGEN_H
#define VG_FLEETGEN_H

#include <stddef.h>
#include <stdint.h>

#include "vg_wire.h"

struct vg_fleetgen {
    /* Set by the caller before vg_fleetgen_init(). */
    uint32_t hosts, metrics;
    uint32_t day, anomaly_hosts, anomaly_every, anomaly_len;
    /* Filled by vg_fleetgen_init(). */
    char (*names)[64];
    /* Per host x metric: base level, noise sigma, seasonal amplitude (fractions of base). */
    float *base, *sigma, *amp;
    float *phase; /* per metric */
    uint64_t rng;
    uint64_t anomalies; /* host ticks with an anomaly injected */
};

/* Draws the fleet from seed (0 = 1) into g's arrays (malloc'd; vg_fleetgen_free() frees them).
 * Returns 0 or -ENOMEM. */
int vg_fleetgen_init(struct vg_fleetgen *g, uint64_t seed);
void vg_fleetgen_free(struct vg_fleetgen *g);

/* Resets msg and adds host's metrics for tick. Returns 0 or vg_wire_msg_add_metric()'s error. */
int vg_fleetgen_fill(struct vg_fleetgen *g, struct vg_wire_msg *msg, uint32_t host, uint64_t tick,
                     char *err, size_t errlen);

#endif
