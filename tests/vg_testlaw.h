/* The multivariate test host that test_mv_analyzer (through Kafka) and test_replay_models
 * (through vigilctl) both score: req_rate is a random AR(1) load, load_1 and disk_wa follow it one
 * tick later; once diverged they follow two other processes of the same law instead, so each
 * keeps its range and dynamics and only their relation to req_rate breaks. cpu_user, mem_used and
 * net_rx are cycles and noise. Deterministic: the same seed gives the same stream. */
#ifndef VG_TESTLAW_H
#define VG_TESTLAW_H

#include <math.h>
#include <stdint.h>

#define VG_TLAW_SEED 0x9e3779b97f4a7c15ULL

/* One host's hidden processes. */
struct vg_tlaw {
    double r, v, w;
};

/* Uniform in (0, 1) from a splitmix64 stream. */
static inline double vg_tlaw_uniform(uint64_t *rng)
{
    uint64_t z = (*rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

static inline double vg_tlaw_gauss(uint64_t *rng)
{
    double u1 = vg_tlaw_uniform(rng);
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * vg_tlaw_uniform(rng));
}

/* Tick t of host h into out: req_rate, load_1, disk_wa, cpu_user, mem_used, net_rx. */
static inline void vg_tlaw_tick(uint64_t *rng, struct vg_tlaw *h, int t, int diverged,
                                double out[6])
{
    double pr = h->r, pv = h->v, pw = h->w;
    h->r = 0.8 * h->r + 0.6 * vg_tlaw_gauss(rng);
    h->v = 0.8 * h->v + 0.6 * vg_tlaw_gauss(rng);
    h->w = 0.8 * h->w + 0.6 * vg_tlaw_gauss(rng);
    /* Drawn last metric first, the order the tests drew them in before they shared this. */
    out[5] = 50 + 10 * cos(t / 11.0) + 0.5 * vg_tlaw_gauss(rng);
    out[4] = 60 + 0.3 * vg_tlaw_gauss(rng);
    out[3] = 30 + 5 * sin(t / 7.0) + 0.5 * vg_tlaw_gauss(rng);
    out[2] = 10 + 4 * (diverged ? pw : pr) + 0.1 * vg_tlaw_gauss(rng);
    out[1] = 5 + 2 * (diverged ? pv : pr) + 0.05 * vg_tlaw_gauss(rng);
    out[0] = 100 + 20 * h->r + 0.2 * vg_tlaw_gauss(rng);
}

#endif
