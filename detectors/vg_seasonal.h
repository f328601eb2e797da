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
 * Optional second signal, the profile deviation (prof = 1): the seasonal residual calibrated by
 * its own SPOT whenever the profile can forecast, even where the plain model is trusted; the
 * reported score is the larger of the two calibrated scores (a day without its usual jump is no
 * surprise to a level that follows every step, but is to the profile).
 * Without event times (update() rather than update_at()) only the plain model runs.
 * State: 16,904 bytes per series on x86-64 (profile and its visit counts 9 KiB, smoothing rings,
 * three SPOT calibrations of 3,128 bytes each; the profile deviation's is 3,136 of the total).
 */
#ifndef VG_SEASONAL_H
#define VG_SEASONAL_H

#include <stdint.h>

#include "vg_detector.h"
#include "vg_spot.h"

#define VG_SEASONAL_BINS   288
#define VG_SEASONAL_SMOOTH 32

struct vg_seasonal_state {
    double plain;                       /* plain forecast */
    double offset;                      /* seasonal model: shift from the usual profile */
    double profile[VG_SEASONAL_BINS];   /* seasonal offsets per time-of-day bin */
    uint32_t periods[VG_SEASONAL_BINS]; /* periods in which the bin was visited */
    uint32_t visits[VG_SEASONAL_BINS];  /* values that fell in the bin */
    double err_plain, err_seas;         /* running mean absolute errors */
    double ring[VG_SEASONAL_SMOOTH];
    double var_plain;    /* for the warm-up (Welford) */
    int64_t last_period; /* period index of the last value */
    int64_t last_bin_period[VG_SEASONAL_BINS];
    uint64_t n;
    uint32_t ring_pos;
    int seasonal_on;                     /* the profile has been trusted at least once */
    double peak_rare;                    /* -log10 tail probability of the last reported extreme */
    uint32_t since;                      /* values since it */
    double lik_ring[VG_SEASONAL_SMOOTH]; /* surprises of the last values (likelihood) */
    uint32_t lik_pos;
    struct vg_spot lik_spot; /* long-run distribution of the short mean */
    struct vg_spot spot;
    double prof_z;            /* last residual off the profile in typical errors, -1 if none */
    struct vg_spot prof_spot; /* its distribution (prof) */
};

extern const struct vg_detector vg_detector_seasonal;

/* The raw (uncalibrated) standardised residual of x at ts_ms; the value is learned. Exposed for
 * evaluation and tests; ts_ms < 0 means no time (plain model only). Returns 0 or -EAGAIN while
 * warming up (*raw = 0). */
int vg_seasonal_raw(struct vg_seasonal_state *s, const struct vg_detector_params *p, int64_t ts_ms,
                    double x, double *raw);

#endif
