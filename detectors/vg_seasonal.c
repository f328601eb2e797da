#include "vg_seasonal.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "vg_util.h"

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
    vg_spot_init(&s->cus_spot);
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

#define WEEK_MS ((int64_t)7 * 86400 * 1000)

/* The bin of ts_ms in a profile of period period_ms, counting the period in that bin (+1 so
 * that 0 means never): a bin trusts its profile only after two distinct periods visited it. */
static size_t profile_bin(struct vg_seasonal_profile *pr, int64_t ts_ms, int64_t period_ms)
{
    int64_t per = ts_ms / period_ms;
    size_t b = (size_t)((ts_ms % period_ms) * VG_SEASONAL_BINS / period_ms);
    if (pr->last_bin_period[b] != per + 1) {
        pr->last_bin_period[b] = per + 1;
        pr->periods[b]++;
    }
    return b;
}

/* A profile's forecast for bin b: its residual and the scale it is measured in. Returns whether
 * the profile may compete (its bin seen in two periods, an error of its own). */
static int profile_forecast(const struct vg_seasonal_profile *pr,
                            const struct vg_detector_params *p, size_t b, double x, double *r,
                            double *sc)
{
    double pred = pr->offset + pr->profile[b];
    *r = x - pred;
    *sc = floor_of(p, pred, pr->err);
    return pr->periods[b] >= 2 && pr->err > 0;
}

/* Learns x into a profile's bin b (r and sc from profile_forecast, sc_p the plain model's
 * scale for a profile that has no error of its own yet); bin_err, where not NULL, is the
 * profile's per-bin typical error, learned too. absurd: x is a glitch to the plain model
 * (VG_DETECTOR_WARM_ABSURD of its scales off, the value before it not). */
static void profile_learn(struct vg_seasonal_profile *pr, const struct vg_detector_params *p,
                          size_t b, double x, double r, double sc, double sc_p, double clip_k,
                          double err_plain, double *bin_err, int absurd)
{
    /* The profile is a per-bin EWMA of the value less the current offset, learned apart from the
     * offset (the two would otherwise trade the periodic shape between them); the offset follows
     * how far the series now sits from its usual shape (a level shift). */
    double lim = clip_k * (pr->err > 0 ? sc : sc_p);
    pr->visits[b]++;
    double e_prof = x - pr->offset - pr->profile[b];
    double g = 1.0 / pr->visits[b];
    if (g < PROFILE_RATE)
        g = PROFILE_RATE;
    if (bin_err) {
        /* Mean absolute error of the bin's value around its profile, at the profile's own rate
         * (an average over the first visits, then per visit 0.25), each error capped like the
         * offset's so that one incident does not blind the bin for days. */
        double ae = fabs(e_prof) < lim ? fabs(e_prof) : lim;
        bin_err[b] += g * (ae - bin_err[b]);
    }
    /* A bin's first periods teach it the shape unclipped: a daily spike is an outlier to the
     * plain model but the very thing the profile must learn. Not a glitch, though (a wrapped
     * counter, a sentinel: orders of magnitude off, as in the warm-up): one reading of 1e9
     * among values near 100 in the first two days set its bin, then through the residuals the
     * offset of every bin, so far off that the daily profile fired every day for over a week. */
    if ((pr->periods[b] > 2 || absurd) && clip(&e_prof, lim, p) != p->alpha && p->alpha > 0)
        g *= p->alpha_outlier / p->alpha;
    if (pr->periods[b] >= 2) {
        double dev = r;
        double a = clip(&dev, lim, p);
        pr->offset += a * dev;
        /* A profile must prove itself: its error starts at the plain one. */
        if (pr->err == 0)
            pr->err = err_plain;
        pr->err += a * (fabs(dev) - pr->err);
    }
    pr->profile[b] += g * e_prof;
}

int vg_seasonal_raw(struct vg_seasonal_state *s, const struct vg_detector_params *p, int64_t ts_ms,
                    double x, double *raw)
{
    *raw = 0;
    if (!isfinite(x))
        return -EINVAL;
    x = vg_detector_bound(x);
    uint32_t warmup = p->warmup ? p->warmup : 20;
    double clip_k = p->clip_k > 0 ? p->clip_k : 3;
    int64_t period = (int64_t)((p->season_s > 0 ? p->season_s : 86400.0) * 1000.0);
    if (period < VG_SEASONAL_BINS)
        period = VG_SEASONAL_BINS;
    int have_t = ts_ms >= 0, weekly = have_t && p->weekly;
    size_t b = have_t ? profile_bin(&s->day, ts_ms, period) : 0;
    size_t bw = weekly ? profile_bin(&s->week, ts_ms, WEEK_MS) : 0;
    if (s->n < warmup && s->n < VG_SEASONAL_SMOOTH && s->ring_pos == 0 && s->plain != 0) {
        /* A state written before the warm-up values were kept (an older analyzer's record): its
         * ring is all 0 but its level is not, and those zeros would be taken for values. Its
         * warm-up starts over. */
        uint64_t i = 0;
        while (i < s->n && s->ring[i] == 0)
            i++;
        if (i == s->n)
            s->n = 0;
    }
    if (s->n < warmup) {
        /* The smoothing ring is not in use yet and holds the warm-up values; the plain model is
         * set again from all of them each time, so that it is ready whenever the warm-up ends (a
         * state read back under a shorter one). Values of a longer warm-up, and of one set longer
         * after values were scored (the ring then smooths them), are learned as after it. */
        if (s->n < VG_SEASONAL_SMOOTH && s->ring_pos == 0) {
            s->ring[s->n++] = x;
            vg_detector_warmup_baseline(p, s->ring, (size_t)s->n, &s->plain, &s->var_plain);
            /* Mean absolute deviation of a normal is 0.8 sd. */
            s->err_plain = 0.8 * sqrt(s->var_plain);
        } else {
            double dev = x - s->plain;
            double a = clip(&dev, clip_k * floor_of(p, s->plain, s->err_plain), p);
            s->plain += a * dev;
            s->err_plain += a * (fabs(dev) - s->err_plain);
            s->n++;
        }
        return -EAGAIN;
    }
    /* The first value scored: the smoothing starts from a clean ring, not the warm-up's values
     * (or again after ring_pos wrapped, every 2^32 values, where it starts over anyway). */
    if (s->ring_pos == 0)
        memset(s->ring, 0, sizeof(s->ring));
    /* The race: the residual of whichever forecast has lately been closest is scored. */
    double r_p = x - s->plain;
    double sc_p = floor_of(p, s->plain, s->err_plain);
    double zs = r_p / sc_p, best = s->err_plain;
    double r_s = 0, sc_s = 1, r_w = 0, sc_w = 1;
    int day_ok = have_t && profile_forecast(&s->day, p, b, x, &r_s, &sc_s);
    int week_ok = weekly && profile_forecast(&s->week, p, bw, x, &r_w, &sc_w);
    if (day_ok && s->day.err < best) {
        zs = r_s / sc_s;
        best = s->day.err;
    }
    if (week_ok && s->week.err < best)
        zs = r_w / sc_w;
    double z = fabs(zs);
    s->z_signed = zs;
    /* The profile deviation is measured in the bin's own typical error where that is larger:
     * the bins around a daily step, or a busy hour, miss by more than the profile's average, and
     * scored against the average they would fire every day. */
    double sc_b = day_ok && s->day_bin_err[b] > sc_s ? s->day_bin_err[b] : sc_s;
    s->prof_z = day_ok ? fabs(r_s) / sc_b : -1;

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

    /* Learn: every model, from winsorised residuals. */
    /* A glitch is one reading: the first of a run of such values may be one, the rest are a
     * shape (a daily burst) that the profile must learn. */
    double z_prev = s->ring_pos >= 2 ? s->ring[(s->ring_pos - 2) % VG_SEASONAL_SMOOTH] : 0;
    int absurd = fabs(r_p) > VG_DETECTOR_WARM_ABSURD * sc_p && !(z_prev > VG_DETECTOR_WARM_ABSURD);
    double dev = r_p, lim = clip_k * sc_p;
    double a = clip(&dev, lim, p);
    int clipped = r_p > lim || r_p < -lim;
    int32_t side = r_p > 0 ? 1 : -1;
    if (s->run_n != (uint32_t)s->n) /* carried by an older analyzer without its values */
        s->run = 0;
    s->run_n = (uint32_t)(s->n < UINT64_MAX ? s->n + 1 : s->n); /* n after this value */
    /* Any int32 may come back in a state record: no product, no step past +-INT32_MAX. */
    if (!clipped)
        s->run = 0;
    else if (s->run == 0 || (s->run > 0) != (side > 0))
        s->run = side;
    else if (side > 0 ? s->run < INT32_MAX : s->run > -INT32_MAX)
        s->run += side;
    /* A level change (vg_detector_level_change) is learned whole, by the profiles too: a series
     * constant for hours has an error near 0, which clipped learning widens by only 1% a value,
     * so a move alerted for about ln(move / error) / 0.01 values. */
    int change = clipped && vg_detector_level_change(p, s->run);
    if (change) {
        dev = r_p;
        a = p->alpha;
    }
    s->plain += a * dev;
    s->err_plain += a * (fabs(dev) - s->err_plain);
    double clip_at = change ? INFINITY : clip_k;
    if (have_t)
        profile_learn(&s->day, p, b, x, r_s, sc_s, sc_p, clip_at, s->err_plain, s->day_bin_err,
                      absurd);
    if (weekly)
        profile_learn(&s->week, p, bw, x, r_w, sc_w, sc_p, clip_at, s->err_plain, NULL, absurd);
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

/* Persistence: a two-sided CUSUM of the trusted model's signed residual with drift k. Each step
 * is clipped to k + 1 typical errors, so one extreme value adds at most 1 and the sums count runs
 * rather than sizes (sizes are the value's own score); the larger sum is calibrated by its own
 * SPOT and the larger score reported. A model that adapts (the level, the profile's offset)
 * brings its residuals back to zero, so the sums fall by k a value once it has caught up. */
static void persistence_score(struct vg_seasonal_state *s, double k, double *score)
{
    double zc = s->z_signed, lim = k + 1;
    if (zc > lim)
        zc = lim;
    if (zc < -lim)
        zc = -lim;
    s->cus_up = fmax(0, s->cus_up + zc - k);
    s->cus_down = fmax(0, s->cus_down - zc - k);
    struct vg_spot_params sp;
    vg_spot_defaults(&sp);
    sp.min_sigma = 1.0; /* one value of a run */
    double cs;
    if (vg_spot_update(&s->cus_spot, &sp, fmax(s->cus_up, s->cus_down), &cs) == 0 && cs > *score)
        *score = cs;
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
    if (p->cusum > 0)
        persistence_score(s, p->cusum, score);
    if (!p->refractory)
        return 0;
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

/* 1 when every one of n doubles is finite (and >= 0 with nonneg). */
static int all_finite(const double *v, size_t n, int nonneg)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]) || (nonneg && v[i] < 0))
            return 0;
    return 1;
}

static int profile_check(const struct vg_seasonal_profile *pr, const char *which, char *err,
                         size_t errlen)
{
    if (!isfinite(pr->offset) || !all_finite(&pr->err, 1, 1) ||
        !all_finite(pr->profile, VG_SEASONAL_BINS, 0))
        return vg_err(err, errlen, -EINVAL, "%s profile: a value not finite", which);
    /* A visit count is a divisor once incremented: at its maximum it would wrap to 0. */
    for (size_t b = 0; b < VG_SEASONAL_BINS; b++)
        if (pr->visits[b] == UINT32_MAX)
            return vg_err(err, errlen, -EINVAL, "%s profile: visit count out of range", which);
    return 0;
}

static int seasonal_check(const void *state, char *err, size_t errlen)
{
    const struct vg_seasonal_state *s = state;
    char why[VG_ERRLEN];
    if (!isfinite(s->plain) || !all_finite(&s->err_plain, 1, 1) ||
        !all_finite(&s->var_plain, 1, 1) ||
        /* Before the first value is scored the ring holds the warm-up values, of any sign. */
        !all_finite(s->ring, VG_SEASONAL_SMOOTH, s->ring_pos > 0) ||
        !all_finite(s->lik_ring, VG_SEASONAL_SMOOTH, 1) ||
        !all_finite(s->day_bin_err, VG_SEASONAL_BINS, 1) || !isfinite(s->peak_rare) ||
        !isfinite(s->prof_z) || !isfinite(s->z_signed) || !all_finite(&s->cus_up, 1, 1) ||
        !all_finite(&s->cus_down, 1, 1))
        return vg_err(err, errlen, -EINVAL, "a level, error or ring value not finite");
    int rc;
    if ((rc = profile_check(&s->day, "daily", err, errlen)) < 0 ||
        (rc = profile_check(&s->week, "weekly", err, errlen)) < 0)
        return rc;
    const struct {
        const struct vg_spot *sp;
        const char *name;
    } spots[] = {{&s->spot, "value"},
                 {&s->lik_spot, "likelihood"},
                 {&s->prof_spot, "profile deviation"},
                 {&s->cus_spot, "persistence"}};
    for (size_t i = 0; i < VG_ARRAY_LEN(spots); i++)
        if (vg_spot_check(spots[i].sp, why, sizeof(why)) < 0)
            return vg_err(err, errlen, -EINVAL, "%s %s", spots[i].name, why);
    return 0;
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
    .check = seasonal_check,
};
