#include "vg_seasonal.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* Profile bins learn per visit: a bin sees about BINS-th of the values, so it needs a much larger
 * rate than the offset to follow a changing daily shape within a few periods. */
#define PROFILE_RATE 0.25

static void seasonal_init(void *state)
{
    struct vg_seasonal_state *s = state;
    memset(s, 0, sizeof(*s));
    vg_spot_init(&s->spot);
    vg_spot_init(&s->lik_spot);
    vg_spot_init(&s->prof_spot);
}

static double floor_of(const struct vg_detector_params *p, double centre, double scale)
{
    double f = p->min_std_abs, rel = p->min_std_rel * fabs(centre);
    if (scale < f)
        scale = f;
    if (scale < rel)
        scale = rel;
    return scale > 1e-12 ? scale : 1e-12;
}

/* Winsorises dev to +-lim; returns the learning rate to use for it. */
static double clip(double *dev, double lim, const struct vg_detector_params *p)
{
    if (*dev > lim || *dev < -lim) {
        *dev = *dev > 0 ? lim : -lim;
        return p->alpha_outlier;
    }
    return p->alpha;
}

int vg_seasonal_raw(struct vg_seasonal_state *s, const struct vg_detector_params *p, int64_t ts_ms,
                    double x, double *raw)
{
    *raw = 0;
    if (!isfinite(x))
        return -EINVAL;
    uint32_t warmup = p->warmup ? p->warmup : 20;
    double clip_k = p->clip_k > 0 ? p->clip_k : 3;
    int64_t period = (int64_t)((p->season_s > 0 ? p->season_s : 86400.0) * 1000.0);
    if (period < VG_SEASONAL_BINS)
        period = VG_SEASONAL_BINS;
    int have_t = ts_ms >= 0;
    size_t b = 0;
    if (have_t) {
        int64_t per = ts_ms / period;
        b = (size_t)((ts_ms % period) * VG_SEASONAL_BINS / period);
        /* Periods are counted per bin (+1 so that 0 means never), so a bin trusts its offset only
         * after two distinct periods visited it. */
        if (s->last_bin_period[b] != per + 1) {
            s->last_bin_period[b] = per + 1;
            s->periods[b]++;
        }
        s->last_period = per;
    }
    if (s->n < warmup) {
        s->n++;
        double d = x - s->plain;
        s->plain += d / (double)s->n;
        s->var_plain += (d * (x - s->plain) - s->var_plain) / (double)s->n;
        /* Mean absolute deviation of a normal is 0.8 sd. */
        s->err_plain = 0.8 * sqrt(s->var_plain);
        return -EAGAIN;
    }
    double r_p = x - s->plain;
    double sc_p = floor_of(p, s->plain, s->err_plain);
    int usable = have_t && s->periods[b] >= 2;
    double pred_s = s->offset + s->profile[b];
    double r_s = x - pred_s;
    double sc_s = floor_of(p, pred_s, s->err_seas);
    int use_s = usable && s->err_seas > 0 && s->err_seas < s->err_plain;
    double z = use_s ? fabs(r_s) / sc_s : fabs(r_p) / sc_p;
    s->prof_z = usable && s->err_seas > 0 ? fabs(r_s) / sc_s : -1;

    uint32_t k = p->smooth ? p->smooth : 1;
    if (k > VG_SEASONAL_SMOOTH)
        k = VG_SEASONAL_SMOOTH;
    s->ring[s->ring_pos % VG_SEASONAL_SMOOTH] = z;
    s->ring_pos++;
    uint32_t have = s->ring_pos < k ? s->ring_pos : k;
    double sum = 0;
    for (uint32_t i = 0; i < have; i++)
        sum += s->ring[(s->ring_pos - 1 - i) % VG_SEASONAL_SMOOTH];
    *raw = sum / have;

    /* Learn: both models, from winsorised residuals. */
    double dev = r_p, lim = clip_k * sc_p;
    double a = clip(&dev, lim, p);
    s->plain += a * dev;
    s->err_plain += a * (fabs(dev) - s->err_plain);
    if (have_t) {
        /* The profile is a per-bin EWMA of the value less the current offset, learned apart from
         * the offset (the two would otherwise trade the daily shape between them); the offset
         * follows how far the series now sits from its usual shape (a level shift). */
        double lim_s = clip_k * (s->err_seas > 0 ? sc_s : sc_p);
        s->visits[b]++;
        double e_prof = x - s->offset - s->profile[b];
        double g = 1.0 / s->visits[b];
        if (g < PROFILE_RATE)
            g = PROFILE_RATE;
        /* A bin's first periods teach it the shape unclipped: a daily spike is an outlier to
         * the plain model but the very thing the profile must learn. */
        if (s->periods[b] > 2 && clip(&e_prof, lim_s, p) != p->alpha && p->alpha > 0)
            g *= p->alpha_outlier / p->alpha;
        if (usable) {
            double dev_s = r_s;
            double as = clip(&dev_s, lim_s, p);
            s->offset += as * dev_s;
            /* The seasonal model must prove itself: its error starts at the plain one. */
            if (s->err_seas == 0)
                s->err_seas = s->err_plain;
            s->err_seas += as * (fabs(dev_s) - s->err_seas);
        }
        s->profile[b] += g * e_prof;
    }
    if (s->n < UINT64_MAX)
        s->n++;
    return 0;
}

/* Anomaly likelihood (after Numenta's): how unusual the recent mean surprise is against its own
 * long-run distribution. A run of moderately rare values, none alarming alone (a changed shape, a
 * slow drift), is then as rare as one extreme value. The distribution is a second SPOT rather
 * than Numenta's Gaussian: a Gaussian tail underflows, and the scores of every clear incident
 * would tie at 1. */
static void likelihood(struct vg_seasonal_state *s, const struct vg_detector_params *p,
                       double *score)
{
    uint32_t k = p->lik_short > VG_SEASONAL_SMOOTH ? VG_SEASONAL_SMOOTH : p->lik_short;
    double tail = 1 - *score;
    double u = tail > 1e-12 ? -log10(tail) : 12;
    s->lik_ring[s->lik_pos % VG_SEASONAL_SMOOTH] = u;
    s->lik_pos++;
    uint32_t have = s->lik_pos < k ? s->lik_pos : k;
    double m = 0;
    for (uint32_t i = 0; i < have; i++)
        m += s->lik_ring[(s->lik_pos - 1 - i) % VG_SEASONAL_SMOOTH];
    m /= have;
    struct vg_spot_params sp;
    vg_spot_defaults(&sp);
    sp.min_sigma = 0.5 / k; /* a tenth of a decade, per value averaged */
    if (p->lik_long)
        sp.q = 1 - 1.0 / p->lik_long;
    double sl;
    if (vg_spot_update(&s->lik_spot, &sp, m, &sl) != 0)
        sl = 0;
    *score = p->lik_mode == 1 && *score > sl ? *score : sl;
}

/* Profile deviation: the residual off the time-of-day profile, calibrated by its own SPOT, even
 * where the plain model forecasts better one value ahead. On a series with steps (a daily jump)
 * the plain level wins that race, since it follows each step within a few values, and a day
 * without its jump is then no surprise to the trusted model; to the profile it is. The larger of
 * the two calibrated tails is reported. */
static void profile_score(struct vg_seasonal_state *s, double *score)
{
    struct vg_spot_params sp;
    vg_spot_defaults(&sp);
    sp.min_sigma = 1.0; /* as the value's own calibration: residuals in typical errors */
    double ps;
    if (vg_spot_update(&s->prof_spot, &sp, s->prof_z, &ps) == 0 && ps > *score)
        *score = ps;
}

static int seasonal_update_at(void *state, const struct vg_detector_params *p, int64_t ts_ms,
                              double x, double *score)
{
    struct vg_seasonal_state *s = state;
    double raw;
    *score = 0;
    int rc = vg_seasonal_raw(s, p, ts_ms, x, &raw);
    if (rc)
        return rc;
    struct vg_spot_params sp;
    vg_spot_defaults(&sp);
    if (p->calib_q > 0 && p->calib_q < 1)
        sp.q = p->calib_q;
    if (p->calib_init)
        sp.n_init = p->calib_init;
    /* Raw scores are residuals in units of the series' own typical error: a tail at least as
     * heavy as exp(-raw) keeps a series that never varied from scoring 1 on its first wobble. */
    sp.min_sigma = 1.0;
    rc = vg_spot_update(&s->spot, &sp, raw, score);
    if (rc)
        return rc;
    if (p->lik_short)
        likelihood(s, p, score);
    if (p->prof && s->prof_z >= 0)
        profile_score(s, score);
    if (!p->refractory)
        return rc;
    /* Refractory period: one report per incident unless it escalates, so that an alert is the
     * onset of an incident rather than every value of it. Reports reset the clock. */
    double tail = 1 - *score, esc = p->escalation > 0 ? p->escalation : 0.01;
    /* In decades of rarity (-log10 tail), so that tails that underflow to 0 compare equal. */
    double rare = tail > 1e-300 ? -log10(tail) : 300, step = -log10(esc);
    if (++s->since > p->refractory)
        s->peak_rare = 0;
    if (rare > s->peak_rare + step) {
        s->peak_rare = rare;
        s->since = 0;
    } else {
        *score *= 0.5;
    }
    return 0;
}

static int seasonal_update(void *state, const struct vg_detector_params *p, double x, double *score)
{
    return seasonal_update_at(state, p, -1, x, score);
}

const struct vg_detector vg_detector_seasonal = {
    .name = "seasonal",
    .help = "robust level, and time-of-day profile plus offset, per series, the better forecast "
            "trusted, "
            "residuals calibrated by SPOT",
    .state_size = sizeof(struct vg_seasonal_state),
    .init = seasonal_init,
    .update = seasonal_update,
    .update_at = seasonal_update_at,
};
