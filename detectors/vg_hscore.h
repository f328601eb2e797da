/* Host score: turns one tick of a host's per-metric errors (vg_mv residuals, or per-metric
 * surprises of the per-series detectors) into one calibrated host score in [0,1] and a ranking of
 * the metrics to blame. The one implementation behind both the analyzer's multivariate host model
 * (analyzer/vg_fleet.c, per host of a group) and `vigilctl eval smd`, so that the evaluation's
 * figures describe what the analyzer computes.
 *
 *   e_j   = |err_j| / scale_j     scale_j: the metric's typical error (mean absolute error while
 *                                 fitting; then a slow winsorised EWMA, floored), so a metric that
 *                                 is noisy by nature does not dominate the host's score
 *         + w max(0, z_j - k up_j, -z_j - k down_j)
 *                                 the state term, when the caller passes the tick's normalised
 *                                 values z (vg_hscore_update_state): how far the metric is beyond
 *                                 k times its typical distance from its centre on that side (root
 *                                 mean square of the positive z, resp. of the negative z, while
 *                                 fitting, floored), whatever the forecast. A forecaster's error
 *                                 fades while an incident lasts, as its window fills with the
 *                                 incident; the state term stays while the host stays off its
 *                                 usual state. Per side, because metrics are skewed: one that
 *                                 spikes upwards but seldom falls is flagged for a fall that its
 *                                 spikes would hide from a two-sided scale, and not for a spike
 *                                 of its usual size
 *   raw   = mean of the top_k e_j, averaged over the last `smooth` ticks
 *   score = 1 - tail probability of raw under the host's SPOT calibration (vg_spot); the same as
 *           a surprise -log10(tail) in the field `surprise`, which keeps the strongest ticks
 *           ordered where 1 - tail rounds to 1
 *   blame = metrics ranked by the larger of two exponential averages of e_j, over about `blame`
 *           ticks (an incident's metrics stay ranked while it lasts) and over `blame_fast`
 *           (a new incident's metrics are named within a few ticks)
 *
 * While fitting (vg_hscore_fit: a model's training data), only the scales are learned; the
 * calibration starts with the first vg_hscore_step. vg_hscore_update does both in a stream: its
 * first fit_n ticks fit the scales, the next ones are scored (the calibration learning its
 * initial sample first). A metric with fewer finite errors in the fit than the fit had ticks (one
 * that came up later) goes on fitting on its own values after it, and is scored once it has had
 * as many: fitted on the ticks it had, its scales would be the floor's for good.
 *
 * The burst gate (burst) keeps an incident from teaching the calibration that it is normal. Closed
 * for relearn ticks in a row, it is taken to guard no incident but a raw score whose usual level
 * rose past the calibration's tail threshold (the error scales shrinking as a young model
 * improves): the calibration learns a new sample (h->relearned, scores 0 and -EAGAIN meanwhile).
 * Not thread-safe; one state per host.
 */
#ifndef VG_HSCORE_H
#define VG_HSCORE_H

#include <stddef.h>
#include <stdint.h>

#include "vg_spot.h"

#define VG_HSCORE_SMOOTH      32
#define VG_HSCORE_BURST_TICKS 60
/* The gate closed this long in a row is no incident it exists for: the raw score's usual level
 * has moved above the calibration's tail threshold (docs/detectors.md). */
#define VG_HSCORE_RELEARN_TICKS (10 * VG_HSCORE_BURST_TICKS)

struct vg_hscore_params {
    uint32_t top_k;      /* metrics averaged into the raw score (1..m) */
    uint32_t smooth;     /* ticks averaged (1..VG_HSCORE_SMOOTH) */
    uint32_t blame;      /* ticks averaged for the ranking of metrics (0: as smooth) */
    uint32_t blame_fast; /* ticks of the fast average of the ranking (0: none) */
    double floor;        /* least error scale, in the errors' units */
    double alpha;        /* rate at which a scale keeps learning after the fit (0 = frozen) */
    double clip;         /* errors beyond clip scales are learned as clip scales */
    uint32_t fit_n;      /* ticks vg_hscore_update fits the scales on before it scores */
    double state_weight; /* w of the state term (0: off) */
    double state_k;      /* k of the state term, in typical distances */
    double burst;        /* the calibration learns nothing while more than this fraction of
                          * recent raw scores (about VG_HSCORE_BURST_TICKS) is above its tail
                          * threshold (0: it always learns) */
    uint32_t relearn;    /* ticks in a row the gate may stay closed before the calibration is
                          * taken to be out of date and learns a new sample (0: never); longer
                          * than the caller's state term remembers an incident
                          * (vg_hscore_relearn_ticks) */
    struct vg_spot_params spot;
};

/* Defaults (measured on SMD, docs/evaluation.md): top_k 3, smooth 5, blame 60, blame_fast 10,
 * floor 0.3, alpha 0.001, clip 4, fit_n 256, state_weight 1, state_k 3, burst 0.2, relearn
 * VG_HSCORE_RELEARN_TICKS, SPOT defaults with min_sigma 0.1. */
void vg_hscore_defaults(struct vg_hscore_params *p);

/* relearn for a normaliser that remembers about norm_ticks (the inverse of its rate): 3 times
 * that (a lasting level is then normal to the state term, and no longer an incident's score the
 * gate must keep), at least VG_HSCORE_RELEARN_TICKS. */
uint32_t vg_hscore_relearn_ticks(double norm_ticks);

struct vg_hscore {
    size_t m;
    double *scale;       /* m */
    double *sum;         /* m: absolute errors while fitting */
    uint64_t *cnt;       /* m */
    double *e;           /* m: this tick's normalised errors */
    double *blame;       /* m: their exponential average */
    double *fast;        /* m: the fast one */
    double *zup2, *zdn2; /* m: sums of z^2 while fitting, over z > 0 and over z < 0 */
    uint64_t *nup, *ndn; /* m: their counts */
    double *zup, *zdn;   /* m: typical z above and below the centre (the state term's units) */
    uint64_t nblame;
    uint64_t nfit; /* ticks fitted */
    double raw_ring[VG_HSCORE_SMOOTH];
    uint32_t pos, have;
    int fitted;
    double prate;    /* exponential average of (raw above the calibration's tail threshold) */
    uint32_t closed; /* ticks in a row the burst gate has been closed (saturates) */
    int relearned;   /* whether the last step restarted the calibration (p->relearn); an
                      * output, not packed */
    double surprise; /* the last step's score as -log10 of its tail probability (vg_spot_surprise:
                      * the same order, without the rounding to 1); an output, not packed */
    struct vg_spot spot;
};

/* Allocates the state of a host of m metrics; free with vg_hscore_free(). 0 or -ENOMEM. */
int vg_hscore_init(struct vg_hscore *h, size_t m);
void vg_hscore_free(struct vg_hscore *h);

/* Learns the error scales from one tick of training data (err: m values, NaN = missing). */
void vg_hscore_fit(struct vg_hscore *h, const float *err);

/* Scores one tick: *score in [0,1] (0 while the calibration fills; h->surprise the same score as
 * -log10 of its tail probability), *raw the uncalibrated score,
 * blame (m, may be NULL) the per-metric contributions (higher = more to blame). Returns 0, or
 * -EAGAIN while the calibration learns its initial sample, -EINVAL when no error of a fitted
 * metric is finite. */
int vg_hscore_step(struct vg_hscore *h, const struct vg_hscore_params *p, const float *err,
                   double *score, double *raw, double *blame);

/* The streaming form: vg_hscore_fit for the first p->fit_n ticks (returning -EAGAIN, *score 0,
 * *raw NaN, blame untouched), vg_hscore_step after. No state term. */
int vg_hscore_update(struct vg_hscore *h, const struct vg_hscore_params *p, const float *err,
                     double *score, double *raw, double *blame);

/* vg_hscore_update with the tick's normalised values z (m, NaN = missing; NULL = none), which
 * the state term (p->state_weight) fits on and scores. A host should be given z on every tick
 * or on none. */
int vg_hscore_update_state(struct vg_hscore *h, const struct vg_hscore_params *p, const float *err,
                           const float *z, double *score, double *raw, double *blame);

/* The most a per-tick count in a packed state may hold (vg_hscore_unpack, vg_mv_load): far past
 * any real run, far from wrapping. */
#define VG_HSCORE_COUNT_MAX (1ull << 53)

/* Checkpoints: the whole state (scales, fit sums, smoothing ring, blame, calibration; not the
 * output `surprise`) packed into
 * vg_hscore_packed_size(m) bytes, a format version first (3 while the burst gate is not closed,
 * else 4, so that builds reading only 3 keep reading most states). vg_hscore_unpack reads one into
 * h (made by vg_hscore_init with the same m), refusing (-EINVAL, with the reason in err; h
 * unchanged) a buffer of another size or version, or with values no stream can have produced. */
size_t vg_hscore_packed_size(size_t m);
void vg_hscore_pack(const struct vg_hscore *h, void *buf);
int vg_hscore_unpack(struct vg_hscore *h, const void *buf, size_t len, char *err, size_t errlen);

#endif
