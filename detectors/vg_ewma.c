#include "vg_ewma.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "vg_util.h"

static void ewma_init(void *state)
{
    memset(state, 0, sizeof(struct vg_ewma_state));
}

static double scale_of(const struct vg_ewma_state *s, const struct vg_detector_params *p)
{
    double sd = sqrt(s->var > 0 ? s->var : 0);
    double floor_rel = p->min_std_rel * fabs(s->mean);
    if (sd < p->min_std_abs)
        sd = p->min_std_abs;
    if (sd < floor_rel)
        sd = floor_rel;
    /* A series that has been exactly constant with zero floors would divide by zero. */
    return sd > 1e-12 ? sd : 1e-12;
}

double vg_ewma_score(const struct vg_ewma_state *s, const struct vg_detector_params *p, double x)
{
    double z = fabs(x - s->mean) / scale_of(s, p);
    return erf(z / M_SQRT2);
}

static int ewma_update(void *state, const struct vg_detector_params *p, double x, double *score)
{
    struct vg_ewma_state *s = state;
    if (!isfinite(x))
        return -EINVAL;
    x = vg_detector_bound(x);
    if (s->n < p->warmup) {
        /* Plain running mean/variance (Welford) during warm-up: every early value weighs the
         * same, so the first reading does not dominate the baseline. */
        s->n++;
        double d = x - s->mean;
        s->mean += d / s->n;
        s->var += (d * (x - s->mean) - s->var) / s->n;
        *score = 0;
        return -EAGAIN;
    }
    double scale = scale_of(s, p);
    double dev = x - s->mean;
    *score = erf(fabs(dev) / scale / M_SQRT2);
    /* Winsorise before learning: an anomaly may only nudge the baseline. */
    double lim = p->clip_k * scale, alpha = p->alpha;
    if (dev > lim || dev < -lim) {
        dev = dev > 0 ? lim : -lim;
        alpha = p->alpha_outlier;
    }
    s->mean += alpha * dev;
    s->var = (1 - alpha) * (s->var + alpha * dev * dev);
    if (s->n < UINT32_MAX)
        s->n++;
    return 0;
}

static int ewma_check(const void *state, char *err, size_t errlen)
{
    const struct vg_ewma_state *s = state;
    if (!isfinite(s->mean) || !(s->var >= 0) || !isfinite(s->var))
        return vg_err(err, errlen, -EINVAL, "mean or variance not finite, or variance < 0");
    return 0;
}

const struct vg_detector vg_detector_ewma = {
    .name = "ewma",
    .help = "robust exponentially weighted mean/variance per series, winsorised learning",
    .state_size = sizeof(struct vg_ewma_state),
    .init = ewma_init,
    .update = ewma_update,
    .check = ewma_check,
};
