#include "vg_eval_smd.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void fill_prf(struct vg_prf *o, size_t tp, size_t fp, size_t fn)
{
    o->tp = tp;
    o->fp = fp;
    o->fn = fn;
    o->precision = tp + fp ? (double)tp / (double)(tp + fp) : 0;
    o->recall = tp + fn ? (double)tp / (double)(tp + fn) : 0;
    double d = o->precision + o->recall;
    o->f1 = d > 0 ? 2 * o->precision * o->recall / d : 0;
}

void vg_smd_at(const double *score, const uint8_t *label, size_t n, double thr, struct vg_prf *out)
{
    size_t tp = 0, fp = 0, fn = 0;
    for (size_t i = 0; i < n; i++) {
        int flag = score[i] >= thr;
        if (label[i])
            flag ? tp++ : fn++;
        else if (flag)
            fp++;
    }
    fill_prf(out, tp, fp, fn);
    out->threshold = thr;
}

struct item {
    double s;
    uint8_t l;
};

static int item_cmp(const void *a, const void *b)
{
    double x = ((const struct item *)a)->s, y = ((const struct item *)b)->s;
    return (x < y) - (x > y); /* descending */
}

int vg_smd_best(const double *score, const uint8_t *label, size_t n, struct vg_prf *best,
                double *auprc)
{
    struct item *it = malloc((n ? n : 1) * sizeof(*it));
    if (!it)
        return -ENOMEM;
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        it[i].s = isnan(score[i]) ? -INFINITY : score[i];
        it[i].l = label[i] != 0;
        pos += it[i].l;
    }
    qsort(it, n, sizeof(*it), item_cmp);
    memset(best, 0, sizeof(*best));
    best->threshold = INFINITY;
    fill_prf(best, 0, 0, pos);
    double ap = 0, prev_r = 0;
    size_t tp = 0, fp = 0;
    for (size_t j = 0; j < n;) {
        size_t g = j;
        for (; g < n && it[g].s == it[j].s; g++)
            it[g].l ? tp++ : fp++;
        struct vg_prf cur;
        fill_prf(&cur, tp, fp, pos - tp);
        cur.threshold = it[j].s;
        ap += (cur.recall - prev_r) * cur.precision;
        prev_r = cur.recall;
        if (cur.f1 > best->f1)
            *best = cur;
        j = g;
    }
    free(it);
    if (auprc)
        *auprc = pos ? ap : NAN;
    return 0;
}

int vg_smd_best_adjusted(const double *score, const uint8_t *label, size_t n, struct vg_prf *best)
{
    double *adj = malloc((n ? n : 1) * sizeof(*adj));
    if (!adj)
        return -ENOMEM;
    memcpy(adj, score, n * sizeof(*adj));
    for (size_t i = 0; i < n;) {
        if (!label[i]) {
            i++;
            continue;
        }
        size_t e = i;
        double m = -INFINITY;
        for (; e < n && label[e]; e++)
            if (score[e] > m)
                m = score[e];
        for (size_t k = i; k < e; k++)
            adj[k] = m;
        i = e;
    }
    int rc = vg_smd_best(adj, label, n, best, NULL);
    free(adj);
    return rc;
}

int vg_smd_hitrate(const uint64_t *gt, const double *contrib, size_t n, size_t m, double p,
                   double *rate, size_t *rows)
{
    if (m > 64)
        return -EINVAL;
    double sum = 0;
    size_t cnt = 0;
    for (size_t i = 0; i < n; i++) {
        if (!gt[i])
            continue;
        int g = __builtin_popcountll(gt[i]);
        size_t k = (size_t)floor(p * g + 1e-9);
        if (k > m)
            k = m;
        /* Selection of the k largest by repeated scans: m is small (tens). */
        uint64_t taken = 0;
        int hit = 0;
        for (size_t t = 0; t < k; t++) {
            size_t bi = m;
            for (size_t d = 0; d < m; d++) {
                if (taken & (1ull << d))
                    continue;
                if (bi == m || contrib[i * m + d] > contrib[i * m + bi])
                    bi = d;
            }
            taken |= 1ull << bi;
            if (gt[i] & (1ull << bi))
                hit++;
        }
        sum += (double)hit / g;
        cnt++;
    }
    *rate = cnt ? sum / (double)cnt : NAN;
    if (rows)
        *rows = cnt;
    return 0;
}
