#include "vg_hscore.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void vg_hscore_defaults(struct vg_hscore_params *p)
{
    p->top_k = 3;
    p->smooth = 10;
    p->blame = 60;
    p->floor = 0.3;
    p->alpha = 0.001;
    p->clip = 4;
    vg_spot_defaults(&p->spot);
    /* A host whose errors never varied still needs a tail to score its first change on. */
    p->spot.min_sigma = 0.1;
}

int vg_hscore_init(struct vg_hscore *h, size_t m)
{
    memset(h, 0, sizeof(*h));
    h->m = m;
    h->scale = calloc(m, sizeof(double));
    h->sum = calloc(m, sizeof(double));
    h->cnt = calloc(m, sizeof(uint64_t));
    h->e = calloc(m, sizeof(double));
    h->blame = calloc(m, sizeof(double));
    vg_spot_init(&h->spot);
    if (!h->scale || !h->sum || !h->cnt || !h->e || !h->blame) {
        vg_hscore_free(h);
        return -ENOMEM;
    }
    return 0;
}

void vg_hscore_free(struct vg_hscore *h)
{
    free(h->scale);
    free(h->sum);
    free(h->cnt);
    free(h->e);
    free(h->blame);
    memset(h, 0, sizeof(*h));
}

void vg_hscore_fit(struct vg_hscore *h, const float *err)
{
    for (size_t j = 0; j < h->m; j++) {
        if (!isfinite(err[j]))
            continue;
        h->sum[j] += fabs(err[j]);
        h->cnt[j]++;
    }
}

static void finish_fit(struct vg_hscore *h)
{
    for (size_t j = 0; j < h->m; j++)
        h->scale[j] = h->cnt[j] ? h->sum[j] / (double)h->cnt[j] : 0;
    h->fitted = 1;
}

int vg_hscore_step(struct vg_hscore *h, const struct vg_hscore_params *p, const float *err,
                   double *score, double *raw, double *blame)
{
    *score = 0;
    *raw = 0;
    if (!h->fitted)
        finish_fit(h);
    uint32_t k = p->top_k < 1 ? 1 : p->top_k > h->m ? (uint32_t)h->m : p->top_k;
    uint32_t sm = p->smooth < 1 ? 1 : p->smooth > VG_HSCORE_SMOOTH ? VG_HSCORE_SMOOTH : p->smooth;
    double *e = h->e;
    double top[64];
    uint32_t kk = k > 64 ? 64 : k, nf = 0;
    for (uint32_t q = 0; q < kk; q++)
        top[q] = 0;
    for (size_t j = 0; j < h->m; j++) {
        if (!isfinite(err[j])) {
            e[j] = 0;
            continue;
        }
        nf++;
        double sc = h->scale[j] > p->floor ? h->scale[j] : p->floor;
        double a = fabs(err[j]);
        e[j] = a / sc;
        /* The scale keeps following slow drifts; an incident's errors count as clip scales at
         * most, so it does not teach the host that its errors are normal. */
        if (p->alpha > 0)
            h->scale[j] += p->alpha * ((a < p->clip * sc ? a : p->clip * sc) - h->scale[j]);
        double v = e[j];
        for (uint32_t q = 0; q < kk; q++)
            if (v > top[q]) {
                double t = top[q];
                top[q] = v;
                v = t;
            }
    }
    h->pos++;
    if (h->have < VG_HSCORE_SMOOTH)
        h->have++;
    if (nf == 0) {
        h->raw_ring[(h->pos - 1) % VG_HSCORE_SMOOTH] = 0;
        return -EINVAL;
    }
    double r = 0;
    for (uint32_t q = 0; q < kk; q++)
        r += top[q];
    r /= kk;
    h->raw_ring[(h->pos - 1) % VG_HSCORE_SMOOTH] = r;
    uint32_t n = h->have < sm ? h->have : sm;
    double s = 0;
    for (uint32_t i = 0; i < n; i++)
        s += h->raw_ring[(h->pos - 1 - i) % VG_HSCORE_SMOOTH];
    *raw = s / n;
    /* Blame: an exponential average of e over about `blame` ticks (rate 1/blame, the first
     * ticks averaged evenly), so the metrics of an incident stay ranked while it lasts. */
    uint32_t bt = p->blame ? p->blame : sm;
    h->nblame++;
    double ab = 1.0 / (double)(h->nblame < bt ? h->nblame : bt);
    for (size_t j = 0; j < h->m; j++) {
        h->blame[j] += ab * (e[j] - h->blame[j]);
        if (blame)
            blame[j] = h->blame[j];
    }
    return vg_spot_update(&h->spot, &p->spot, *raw, score);
}
