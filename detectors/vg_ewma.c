#include "vg_ewma.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
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

/* Learns a winsorised x: an anomaly may only nudge the baseline. A level change may not blind
 * it for long, though (vg_detector_level_change): clipped, a scale grows about
 * alpha_outlier * (clip_k^2 - 1) / 2 a value, so how long a change alerted grew with the log of
 * change / scale, without bound as the variance of a constant series decays towards 0. */
static void learn(struct vg_ewma_state *s, const struct vg_detector_params *p, double x,
                  double scale)
{
    double dev = x - s->mean;
    double lim = p->clip_k * scale, alpha = p->alpha;
    if (s->warm_done) {
        /* An older analyzer carried the run without counting its values (vg_ewma.h). */
        if (s->run_n != (double)s->n)
            s->run = 0;
        s->run_n = s->n < UINT32_MAX ? s->n + 1.0 : (double)s->n; /* n after this value */
    }
    if (dev > lim || dev < -lim) {
        double side = dev > 0 ? 1 : -1;
        if (s->warm_done)
            s->run = s->run * side > 0 ? s->run + side : side;
        if (!s->warm_done || !vg_detector_level_change(p, s->run)) {
            dev = side * lim;
            alpha = p->alpha_outlier;
        }
    } else if (s->warm_done) {
        s->run = 0;
    }
    s->mean += alpha * dev;
    s->var = (1 - alpha) * (s->var + alpha * dev * dev);
}

static int ewma_update(void *state, const struct vg_detector_params *p, double x, double *score)
{
    struct vg_ewma_state *s = state;
    if (!isfinite(x))
        return -EINVAL;
    x = vg_detector_bound(x);
    if (s->n < p->warmup) {
        /* Every early value weighs the same, so the first reading does not dominate, and the
         * baseline is set again from all of them each time, so that it is ready whenever the
         * warm-up ends (a state read back under a shorter one). */
        if (!s->warm_done && s->n < VG_EWMA_WARM) {
            s->warm[s->n++] = x;
            vg_detector_warmup_baseline(p, s->warm, s->n, &s->mean, &s->var);
        } else {
            learn(s, p, x, scale_of(s, p));
            s->n++;
        }
        *score = 0;
        return -EAGAIN;
    }
    if (!s->warm_done) {
        /* Zeroed: a state record then compresses them away (lz4 on the state topic). */
        s->warm_done = 1;
        memset(s->warm, 0, sizeof(s->warm));
    }
    double scale = scale_of(s, p);
    *score = erf(fabs(x - s->mean) / scale / M_SQRT2);
    learn(s, p, x, scale);
    if (s->n < UINT32_MAX)
        s->n++;
    return 0;
}

static int ewma_check(const void *state, char *err, size_t errlen)
{
    const struct vg_ewma_state *s = state;
    if (!isfinite(s->mean) || !(s->var >= 0) || !isfinite(s->var))
        return vg_err(err, errlen, -EINVAL, "mean or variance not finite, or variance < 0");
    if (s->warm_done > 1)
        return vg_err(err, errlen, -EINVAL, "warm-up flag %u, not 0 or 1", s->warm_done);
    /* Warm-up values become the baseline; those not kept yet are 0 (init). */
    for (size_t i = 0; i < VG_EWMA_WARM; i++)
        if (!isfinite(s->warm[i]))
            return vg_err(err, errlen, -EINVAL, "warm-up value %zu not finite", i);
    return 0;
}

/* The state before the warm-up values were kept: mean, var and n, as this one's start. Its
 * baseline came from every warm-up value; it goes on as one warmed up (learning as after the
 * warm-up should its warm-up not be over), never from warm-up values it does not have. */
#define EWMA_V1_SIZE 24
_Static_assert(offsetof(struct vg_ewma_state, warm_done) == 20, "the 24-byte layout's start");

static int ewma_adopt(void *state, const void *old, size_t old_size)
{
    struct vg_ewma_state *s = state;
    if (old_size != EWMA_V1_SIZE)
        return -EINVAL;
    if (!old)
        return 0;
    memcpy(s, old, offsetof(struct vg_ewma_state, warm_done));
    s->warm_done = s->n > 0;
    return 0;
}

const struct vg_detector vg_detector_ewma = {
    .name = "ewma",
    .help = "robust exponentially weighted mean/variance per series, winsorised learning",
    .state_size = sizeof(struct vg_ewma_state),
    .init = ewma_init,
    .update = ewma_update,
    .check = ewma_check,
    .adopt = ewma_adopt,
};
