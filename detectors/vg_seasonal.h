/* Seasonal robust detector: two forecasts of the next value race, and the one that has recently
 * been closer is trusted:
 *   - plain:    a winsorised EWMA of the value (the model of vg_ewma.c);
 *   - seasonal: a time-of-day profile of VG_SEASONAL_BINS bins over season_s seconds (a per-bin
 *               EWMA of the value) plus an offset (a winsorised EWMA of how far the series sits
 *               from its profile now): forecast = offset + profile[bin(t)]. It competes only once
 *               the bin has been visited in two periods.
 * The residual of the trusted forecast, divided by that model's running mean absolute error,
 * (averaged over the last `smooth` values) is the raw score; vg_spot calibrates it per series into
 * [0,1], so 0.999 means "a residual this large is seen once in a thousand values here".
 * Optional third racer (weekly = 1): a weekly profile of the same form (bins of 35 minutes), for
 * series whose weekdays and weekends differ; it too competes once its bin was visited in two
 * weeks, so series younger than that run as without it.
 * Optional second signal, the profile deviation (prof = 1): the daily residual, in the larger of
 * the profile's average error and its bin's own, calibrated by
 * its own SPOT whenever the daily profile can forecast, even where another model is trusted; the
 * reported score is the larger of the two calibrated scores (a day without its usual jump is no
 * surprise to a level that follows every step, but is to the profile).
 * Optional persistence signal (cusum = k > 0): a two-sided CUSUM of the trusted model's signed
 * residual, each step clipped to k + 1 typical errors, calibrated by its own SPOT; the larger
 * score is reported. It rises on a run of residuals beyond k on one side (a day far below its
 * usual shape, hours at a time), which no single value need make rare.
 * Without event times (update() rather than update_at()) only the plain model runs.
 * Warm-up: the plain model starts from the mean and variance of the first values less any absurd
 * ones (vg_detector_warmup_baseline), kept in the smoothing ring until the first value is scored;
 * values of a warm-up longer than the ring are learned as after it, though not scored.
 * State: 29,280 bytes per series on x86-64: two profiles of 6,928 bytes (bins and visit counts;
 * the weekly one is there even when off, so a state has one size), the daily profile's per-bin
 * errors (2,304 bytes), smoothing rings, four SPOT
 * calibrations of 3,128 bytes each (the profile deviation's is 3,136 of the total, with its z;
 * the persistence's 3,152, with its two sums and the signed residual).
 */
#ifndef VG_SEASONAL_H
#define VG_SEASONAL_H

#include <stdint.h>

#include "vg_detector.h"
#include "vg_spot.h"

#define VG_SEASONAL_BINS   288
#define VG_SEASONAL_SMOOTH 32

/* One periodic profile plus offset: forecast = offset + profile[bin(t)], a bin being
 * 1/VG_SEASONAL_BINS of the period. */
struct vg_seasonal_profile {
    double offset;                      /* shift from the usual profile now */
    double err;                         /* running mean absolute error of its forecast */
    double profile[VG_SEASONAL_BINS];   /* offsets per bin of the period */
    uint32_t periods[VG_SEASONAL_BINS]; /* periods in which the bin was visited */
    uint32_t visits[VG_SEASONAL_BINS];  /* values that fell in the bin */
    int64_t last_bin_period[VG_SEASONAL_BINS];
};

struct vg_seasonal_state {
    double plain;                    /* plain forecast */
    double err_plain;                /* its running mean absolute error */
    struct vg_seasonal_profile day;  /* period detector.season (a day by default) */
    struct vg_seasonal_profile week; /* a week; learned and raced only with weekly = 1 */
    double ring[VG_SEASONAL_SMOOTH];
    double var_plain; /* the plain model's variance over the warm-up values kept */
    uint64_t n;
    uint32_t ring_pos;
    /* Values in a row the plain level clipped on one side, + above, - below: a level change
     * once vg_detector_level_change says so, learned whole by every model. In what was padding,
     * so the state keeps its size and layout. */
    int32_t run;
    double peak_rare; /* -log10 tail probability of the last reported extreme */
    uint32_t since;   /* values since it */
    /* n after the value that last set run (its low 32 bits), in what was padding too. An older
     * analyzer writes run back unchanged with n moved on; such a run is stale (a host handed back
     * during a rolling upgrade) and starts over, rather than declaring a level change early. */
    uint32_t run_n;
    double lik_ring[VG_SEASONAL_SMOOTH]; /* surprises of the last values (likelihood) */
    uint32_t lik_pos;
    struct vg_spot lik_spot; /* long-run distribution of the short mean */
    struct vg_spot spot;
    double prof_z; /* last residual off the daily profile in typical errors, -1 if none */
    double day_bin_err[VG_SEASONAL_BINS]; /* the daily profile's typical error per bin (prof) */
    struct vg_spot prof_spot;             /* its distribution (prof) */
    double z_signed;         /* last residual of the trusted model, signed, in typical errors */
    double cus_up, cus_down; /* CUSUM of runs above and below the forecast (cusum) */
    struct vg_spot cus_spot; /* their distribution */
};

extern const struct vg_detector vg_detector_seasonal;

/* The raw (uncalibrated) standardised residual of x at ts_ms; the value is learned. Exposed for
 * evaluation and tests; ts_ms < 0 means no time (plain model only). Returns 0 or -EAGAIN while
 * warming up (*raw = 0). */
int vg_seasonal_raw(struct vg_seasonal_state *s, const struct vg_detector_params *p, int64_t ts_ms,
                    double x, double *raw);

#endif
