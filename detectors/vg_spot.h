/* Streaming calibration of raw anomaly scores into [0,1] with extreme-value theory (after SPOT,
 * Siffer et al., KDD 2017): the score of a raw value x is 1 - P(X >= x) under the distribution of
 * the raw values seen so far, so that an alert threshold of 0.999 means "rarer than one value in a
 * thousand" whatever the detector and whatever the series.
 *
 * Method. The first n_init raw values are kept and sorted; their q-quantile becomes the tail
 * threshold t. Below t the score is the empirical CDF of that sample. Values above t ("peaks")
 * are modelled by a generalised Pareto distribution fitted to the excesses x - t of the most recent
 * VG_SPOT_PEAKS peaks by the method of moments (cheap and closed-form):
 *     gamma = (1 - m^2/v) / 2,  sigma = m (1 + m^2/v) / 2     (m, v: mean, variance of excesses)
 *     P(X >= x) = (N_t / N) (1 + gamma (x - t) / sigma)^(-1/gamma)    (exp(-(x-t)/sigma) at 0)
 * with N_t / N the running fraction of learned values above t ((N_t + 1) / (N + 1), so that a tail
 * never seen is rare, not impossible). Values whose score reaches learn_max
 * (anomalies) are not learned, so an incident does not teach the tail that it is normal. Nor is
 * a value at or below t when the initial sample is all ties at and below t (a constant series):
 * counted, hours of them left no value above t learnable once the series moved. Such a
 * calibration counts only its sample and the values above t it learned; a larger count (one an
 * analyzer from before wrote, ties counted) is taken back to that at the next update.
 * The state is fixed size (about 3 KiB): one per host, or per series where that is affordable.
 */
#ifndef VG_SPOT_H
#define VG_SPOT_H

#include <stddef.h>
#include <stdint.h>

#define VG_SPOT_INIT  256
#define VG_SPOT_PEAKS 128

struct vg_spot_params {
    double q;         /* level of the tail threshold in the initial sample, e.g. 0.98 */
    uint32_t n_init;  /* values learned before scoring, 16..VG_SPOT_INIT */
    double learn_max; /* scores at or above this are not learned, e.g. 0.9999 */
    double min_sigma; /* floor of the tail's scale in raw units (0: none); a series that never
                       * varied has no tail to fit, and without a floor its first wobble would
                       * score 1 */
};

struct vg_spot {
    double init[VG_SPOT_INIT];
    double peaks[VG_SPOT_PEAKS]; /* excesses over t, a ring */
    double t, gamma, sigma;
    uint64_t n, nt; /* values learned, of which above t */
    uint32_t ninit, npeaks, next_peak;
    int ready;
};

/* Fills p with the defaults (q 0.98, n_init 256, learn_max 0.9999, min_sigma 0). */
void vg_spot_defaults(struct vg_spot_params *p);

void vg_spot_init(struct vg_spot *s);

/* The calibrated score of raw without learning it; 0 before n_init values were learned. */
double vg_spot_score(const struct vg_spot *s, double raw);

/* The surprise of raw, -log10 of its tail probability, without learning it: the same ranking as
 * vg_spot_score (score = 1 - 10^-surprise) but without its rounding to 1 for tails below about
 * 1e-16, where the strongest values would tie. 0 before n_init values were learned. */
double vg_spot_surprise(const struct vg_spot *s, double raw);

/* Bytes of a packed state: a fixed layout of the fields in the host's byte order (as the rest of
 * a checkpoint), for checkpoints of the states that hold one. */
#define VG_SPOT_PACKED (8 * (VG_SPOT_INIT + VG_SPOT_PEAKS + 3) + 2 * 8 + 4 * 4)

/* Writes s into buf (VG_SPOT_PACKED bytes). */
void vg_spot_pack(const struct vg_spot *s, void *buf);
/* Reads a packed state into s, checking that it is one vg_spot_update() can have made (counts in
 * range, finite values, a sorted initial sample once ready); -EINVAL with what is wrong in err
 * otherwise, s then unchanged. */
int vg_spot_unpack(struct vg_spot *s, const void *buf, char *err, size_t errlen);

/* Checks that s is a state vg_spot_update() can have made (the checks of vg_spot_unpack), for a
 * state copied in from elsewhere whole: 0, or -EINVAL with what is wrong in err. */
int vg_spot_check(const struct vg_spot *s, char *err, size_t errlen);

/* Scores raw, then learns it (unless its score reaches learn_max). Returns 0 with *score set, or
 * -EAGAIN while the initial sample fills (*score = 0), -EINVAL for a non-finite raw. */
int vg_spot_update(struct vg_spot *s, const struct vg_spot_params *p, double raw, double *score);

#endif
