/* Host score: turns one tick of a host's per-metric errors (vg_mv residuals, or per-metric
 * surprises of the per-series detectors) into one calibrated host score in [0,1] and a ranking of
 * the metrics to blame. Written for the analyzer's multivariate path (not wired into it yet) and
 * used by `vigilctl eval smd`.
 *
 *   e_j   = |err_j| / scale_j     scale_j: the metric's typical error (mean absolute error while
 *                                 fitting; then a slow winsorised EWMA, floored), so a metric that
 *                                 is noisy by nature does not dominate the host's score
 *   raw   = mean of the top_k e_j, averaged over the last `smooth` ticks
 *   score = 1 - tail probability of raw under the host's SPOT calibration (vg_spot)
 *   blame = metrics ranked by an exponential average of e_j over about `blame` ticks
 *
 * While fitting (vg_hscore_fit: a model's training data), only the scales are learned; the
 * calibration starts with the first vg_hscore_step. Not thread-safe; one state per host.
 */
#ifndef VG_HSCORE_H
#define VG_HSCORE_H

#include <stddef.h>
#include <stdint.h>

#include "vg_spot.h"

#define VG_HSCORE_SMOOTH 32

struct vg_hscore_params {
    uint32_t top_k;  /* metrics averaged into the raw score (1..m) */
    uint32_t smooth; /* ticks averaged (1..VG_HSCORE_SMOOTH) */
    uint32_t blame;  /* ticks averaged for the ranking of metrics (0: as smooth) */
    double floor;    /* least error scale, in the errors' units */
    double alpha;    /* rate at which a scale keeps learning after the fit (0 = frozen) */
    double clip;     /* errors beyond clip scales are learned as clip scales */
    struct vg_spot_params spot;
};

/* Defaults (measured on SMD, docs/evaluation.md): top_k 3, smooth 10, blame 60, floor 0.3,
 * alpha 0.001, clip 4, SPOT defaults with min_sigma 0.1. */
void vg_hscore_defaults(struct vg_hscore_params *p);

struct vg_hscore {
    size_t m;
    double *scale; /* m */
    double *sum;   /* m: absolute errors while fitting */
    uint64_t *cnt; /* m */
    double *e;     /* m: this tick's normalised errors */
    double *blame; /* m: their exponential average */
    uint64_t nblame;
    double raw_ring[VG_HSCORE_SMOOTH];
    uint32_t pos, have;
    int fitted;
    struct vg_spot spot;
};

/* Allocates the state of a host of m metrics; free with vg_hscore_free(). 0 or -ENOMEM. */
int vg_hscore_init(struct vg_hscore *h, size_t m);
void vg_hscore_free(struct vg_hscore *h);

/* Learns the error scales from one tick of training data (err: m values, NaN = missing). */
void vg_hscore_fit(struct vg_hscore *h, const float *err);

/* Scores one tick: *score in [0,1] (0 while the calibration fills), *raw the uncalibrated score,
 * blame (m, may be NULL) the per-metric contributions (higher = more to blame). Returns 0, or
 * -EAGAIN while the calibration learns its initial sample, -EINVAL when no error is finite. */
int vg_hscore_step(struct vg_hscore *h, const struct vg_hscore_params *p, const float *err,
                   double *score, double *raw, double *blame);

#endif
