/* Robust EWMA detector: exponentially weighted mean and variance of a series, learned from
 * winsorised values, at a lower rate (alpha_outlier), so that an outlier moves the baseline by at
 * most clip_k scales times that rate, and a
 * score that is the two-sided normal mass of the standardised deviation:
 *     z = |x - mean| / max(sd, min_std_abs, min_std_rel * |mean|),  score = erf(z / sqrt 2).
 * A sustained level shift therefore keeps scoring high for many ticks, and the baseline
 * recovers quickly once the value returns.
 * Warm-up: the first values (up to VG_EWMA_WARM) are kept, and the baseline is their mean and
 * variance less any absurd ones (vg_detector_warmup_baseline): one glitch no longer blinds it;
 * values of a longer warm-up are learned as after it, though not scored. Cheap enough for the
 * agent: 152 bytes per series on x86-64, most of it the warm-up values.
 * Level change: after 1/alpha_outlier values in a row clipped on one side (at least 200, the
 * default: vg_detector_level_change), the values are learned unclipped at alpha, so the alert ends
 * a few values later, however small the scale had become: a series constant for hours has a
 * variance near 0, and clipped learning widens it by only about 2% a value (ln(shift/scale)/0.02
 * values: a shift of 5e6 from a constant 0 alerted for 950 values, 16 minutes at 1 s, hours at
 * longer intervals).
 */
#ifndef VG_EWMA_H
#define VG_EWMA_H

#include <stdint.h>

#include "vg_detector.h"

#define VG_EWMA_WARM 16

struct vg_ewma_state {
    double mean;
    double var;
    uint32_t n;
    /* 1 once a value was scored: the warm-up values are gone (zeroed), and a longer warm-up
     * set later learns as after one rather than from them. Where the padding was before the
     * warm-up values were kept, so that the layout before it (24 bytes) is this one's start. */
    uint32_t warm_done;
    union {
        double warm[VG_EWMA_WARM]; /* the first min(n, VG_EWMA_WARM) values, while warming up */
        /* Once warm (the warm-up values zeroed): how many values in a row were clipped on one
         * side, + above the mean, - below, and n after the value that last set it. In the
         * warm-up values' place, so a state keeps its size and an older analyzer reads it back
         * (it ignores them once warm). That analyzer writes them back unchanged, though, with n
         * moved on: a run whose run_n is not n is stale (a host handed back during a rolling
         * upgrade) and starts over, rather than declaring a level change early. */
        struct {
            double run;
            double run_n;
        };
    };
};

extern const struct vg_detector vg_detector_ewma;

/* The score alone for a state and value, without learning (used by tests and attribution). */
double vg_ewma_score(const struct vg_ewma_state *s, const struct vg_detector_params *p, double x);

#endif
