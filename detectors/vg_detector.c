#include "vg_detector.h"

#include <math.h>
#include <string.h>

#include "vg_ewma.h"
#include "vg_seasonal.h"

const struct vg_detector *const vg_detectors[] = {
    &vg_detector_ewma,
    &vg_detector_seasonal,
    NULL,
};

const struct vg_detector *vg_detector_find(const char *name)
{
    for (size_t i = 0; vg_detectors[i]; i++)
        if (strcmp(vg_detectors[i]->name, name) == 0)
            return vg_detectors[i];
    return NULL;
}

/* Mean and population variance of w[lo..hi) within lim of centre (all for lim < 0); *k: their
 * number. */
static void mean_var(const double *w, size_t lo, size_t hi, double centre, double lim, double *mean,
                     double *var, size_t *k)
{
    double m = 0, q = 0;
    *k = 0;
    for (size_t i = lo; i < hi; i++) {
        if (lim >= 0 && fabs(w[i] - centre) > lim)
            continue;
        (*k)++;
        double d = w[i] - m;
        m += d / (double)*k;
        q += d * (w[i] - m);
    }
    *mean = m;
    *var = *k ? q / (double)*k : 0;
}

void vg_detector_warmup_baseline(const struct vg_detector_params *p, const double *v, size_t n,
                                 double *mean, double *var)
{
    double w[VG_DETECTOR_WARM_MAX];
    if (n > VG_DETECTOR_WARM_MAX)
        n = VG_DETECTOR_WARM_MAX;
    /* Insertion sort: at most 32 values, once per warm-up value. */
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        for (; j > 0 && w[j - 1] > v[i]; j--)
            w[j] = w[j - 1];
        w[j] = v[i];
    }
    size_t t = n < 5 ? 0 : n / 10 > 1 ? n / 10 : 1, k;
    double tm, tv;
    mean_var(w, t, n - t, 0, -1, &tm, &tv, &k);
    /* The scale that decides what is absurd is floored as the models floor theirs: a series
     * that is mostly one value would otherwise call every other value absurd. */
    double sd = sqrt(tv), fl = p->min_std_rel * fabs(tm);
    if (sd < p->min_std_abs)
        sd = p->min_std_abs;
    if (sd < fl)
        sd = fl;
    mean_var(w, 0, n, tm, VG_DETECTOR_WARM_ABSURD * sd, mean, var, &k);
    /* Cannot happen: none of the at most 26 trimmed values lies beyond sqrt(26 - 1) of their
     * standard deviations from their mean (Samuelson's inequality). */
    if (k == 0) {
        *mean = tm;
        *var = tv;
    }
}
