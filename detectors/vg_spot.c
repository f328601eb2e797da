#include "vg_spot.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vg_util.h"

void vg_spot_defaults(struct vg_spot_params *p)
{
    p->q = 0.98;
    p->n_init = VG_SPOT_INIT;
    p->learn_max = 0.9999;
    p->min_sigma = 0;
}

void vg_spot_init(struct vg_spot *s)
{
    memset(s, 0, sizeof(*s));
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void fit(struct vg_spot *s, double min_sigma)
{
    if (s->npeaks < 2) {
        /* Too few peaks for a shape: an exponential tail with the one scale we have. */
        s->gamma = 0;
        s->sigma = s->npeaks ? s->peaks[0] : 0;
    } else {
        double m = 0, v = 0;
        for (uint32_t i = 0; i < s->npeaks; i++)
            m += s->peaks[i];
        m /= s->npeaks;
        for (uint32_t i = 0; i < s->npeaks; i++)
            v += (s->peaks[i] - m) * (s->peaks[i] - m);
        v /= s->npeaks - 1;
        if (v <= 0 || m <= 0) {
            s->gamma = 0;
            s->sigma = m;
        } else {
            double r = m * m / v;
            s->gamma = 0.5 * (1 - r);
            s->sigma = 0.5 * m * (1 + r);
        }
    }
    /* A bounded tail (gamma < 0) would give every value past its end point the same score, 1,
     * and an incident's values would all tie; an exponential tail keeps them ordered. */
    if (s->gamma < 0)
        s->gamma = 0;
    /* A flat tail (all excesses zero) still needs a positive scale to divide by. */
    double floor = 1e-9 * (fabs(s->t) > 1 ? fabs(s->t) : 1);
    if (floor < min_sigma)
        floor = min_sigma;
    if (!(s->sigma > floor))
        s->sigma = floor;
}

static double tail_prob(const struct vg_spot *s, double raw)
{
    double frac = (double)(s->nt + 1) / (double)(s->n + 1);
    double y = (raw - s->t) / s->sigma;
    if (fabs(s->gamma) < 1e-6)
        return frac * exp(-y);
    double base = 1 + s->gamma * y;
    if (base <= 0)
        return 0; /* beyond the end point of a bounded tail */
    return frac * pow(base, -1 / s->gamma);
}

double vg_spot_score(const struct vg_spot *s, double raw)
{
    if (!s->ready)
        return 0;
    if (raw > s->t) {
        double sc = 1 - tail_prob(s, raw);
        return sc < 0 ? 0 : sc;
    }
    /* Mid-rank empirical CDF of the initial sample (ties, e.g. a constant series, count half),
     * at most the mass below t. */
    size_t lo = 0, hi = s->ninit;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->init[mid] < raw)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t eq = lo;
    while (eq < s->ninit && s->init[eq] == raw)
        eq++;
    double f = ((double)lo + 0.5 * (double)(eq - lo)) / (double)s->ninit;
    double cap = 1 - (double)s->nt / (double)(s->n ? s->n : 1);
    return f < cap ? f : cap;
}

double vg_spot_surprise(const struct vg_spot *s, double raw)
{
    if (!s->ready)
        return 0;
    if (raw > s->t) {
        /* The log of the tail probability directly: 1 - tail rounds to 1 in double once the tail
         * is below about 1e-16, and the strongest values would all tie. */
        double frac = (double)(s->nt + 1) / (double)(s->n + 1);
        double y = (raw - s->t) / s->sigma;
        double lt = fabs(s->gamma) < 1e-6 ? -y : -log1p(s->gamma * y) / s->gamma;
        return (-log(frac) - lt) / log(10.0);
    }
    /* Below t the score is at most the mass below t, so 1 - score is no smaller than the tail
     * fraction and no rounding is lost. */
    return -log10(1 - vg_spot_score(s, raw));
}

static void add_peak(struct vg_spot *s, double excess)
{
    s->peaks[s->next_peak] = excess;
    s->next_peak = (s->next_peak + 1) % VG_SPOT_PEAKS;
    if (s->npeaks < VG_SPOT_PEAKS)
        s->npeaks++;
}

/* Whether every value of the initial sample at or below t ties with it (a series constant
 * through its first n_init values, but for at most 1 - q of them above). */
static int all_ties(const struct vg_spot *s)
{
    return s->ninit > 0 && s->init[0] == s->t;
}

/* The count of values learned that such a calibration can have: its initial sample and the
 * values above t learned since (nt less those of the sample above t). */
static uint64_t all_ties_count(const struct vg_spot *s)
{
    size_t lo = 0, hi = s->ninit; /* the first value of the sorted sample above t */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->init[mid] <= s->t)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint64_t above_init = s->ninit - lo;
    return s->ninit + (s->nt > above_init ? s->nt - above_init : 0);
}

int vg_spot_update(struct vg_spot *s, const struct vg_spot_params *p, double raw, double *score)
{
    *score = 0;
    if (!isfinite(raw))
        return -EINVAL;
    uint32_t n_init = p->n_init < 16 ? 16 : p->n_init > VG_SPOT_INIT ? VG_SPOT_INIT : p->n_init;
    if (!s->ready) {
        s->init[s->ninit++] = raw;
        if (s->ninit < n_init)
            return -EAGAIN;
        qsort(s->init, s->ninit, sizeof(double), cmp_double);
        size_t k = (size_t)floor(p->q * (double)(s->ninit - 1));
        s->t = s->init[k];
        for (uint32_t i = 0; i < s->ninit; i++)
            if (s->init[i] > s->t) {
                add_peak(s, s->init[i] - s->t);
                s->nt++;
            }
        s->n = s->ninit;
        fit(s, p->min_sigma);
        s->ready = 1;
        return -EAGAIN;
    }
    int ties = all_ties(s);
    /* An analyzer from before ties were left out counted them: restored from its checkpoint or
     * state record, a calibration of a series that was constant for hours carries them in n,
     * and would score every value above t at learn_max or more, learn none, and alert for ever.
     * Such a calibration can count only its sample and the values above t it learned; a larger
     * n is taken back to that, and learning resumes. */
    if (ties) {
        uint64_t can = all_ties_count(s);
        if (s->n > can)
            s->n = can;
    }
    *score = vg_spot_score(s, raw);
    if (*score >= p->learn_max)
        return 0;
    /* A value at or below a threshold that every value at or below it in the initial sample ties
     * with too (a series that was constant) says nothing about the tail: counted, hours of ties
     * made the fraction above t so small that no value above it scored below learn_max once the
     * series moved, so none was learned and the series alerted for ever (and hours below such a
     * sample would do the same). */
    if (ties && raw <= s->t)
        return 0;
    s->n++;
    if (raw > s->t) {
        s->nt++;
        add_peak(s, raw - s->t);
        fit(s, p->min_sigma);
    }
    return 0;
}

/* ---- packed state ---- */

static int bad(char *err, size_t errlen, const char *what)
{
    return vg_err(err, errlen, -EINVAL, "calibration state: %s", what);
}

void vg_spot_pack(const struct vg_spot *s, void *buf)
{
    unsigned char *b = buf;
    memcpy(b, s->init, sizeof(s->init));
    b += sizeof(s->init);
    memcpy(b, s->peaks, sizeof(s->peaks));
    b += sizeof(s->peaks);
    double d[3] = {s->t, s->gamma, s->sigma};
    uint64_t n[2] = {s->n, s->nt};
    uint32_t u[4] = {s->ninit, s->npeaks, s->next_peak, (uint32_t)s->ready};
    memcpy(b, d, sizeof(d));
    b += sizeof(d);
    memcpy(b, n, sizeof(n));
    b += sizeof(n);
    memcpy(b, u, sizeof(u));
}

int vg_spot_check(const struct vg_spot *v, char *err, size_t errlen)
{
    /* Counts index the arrays: out of range they would read and write past them. A sample that
     * is not ready yet has room for the next value (it turns ready on its VG_SPOT_INIT-th). */
    if (v->ninit > VG_SPOT_INIT || (!v->ready && v->ninit >= VG_SPOT_INIT) ||
        v->npeaks > VG_SPOT_PEAKS || v->next_peak >= VG_SPOT_PEAKS ||
        (v->ready != 0 && v->ready != 1) || v->nt > v->n)
        return bad(err, errlen, "counts out of range");
    for (uint32_t i = 0; i < v->ninit; i++)
        if (!isfinite(v->init[i]) || (v->ready && i && v->init[i] < v->init[i - 1]))
            return bad(err, errlen, "initial sample not finite or not sorted");
    for (uint32_t i = 0; i < v->npeaks; i++)
        if (!(v->peaks[i] >= 0) || !isfinite(v->peaks[i]))
            return bad(err, errlen, "bad tail excess");
    if (v->ready && (!isfinite(v->t) || !(v->gamma >= 0) || !isfinite(v->gamma) ||
                     !(v->sigma > 0) || !isfinite(v->sigma) || v->ninit == 0))
        return bad(err, errlen, "bad tail parameters");
    return 0;
}

int vg_spot_unpack(struct vg_spot *s, const void *buf, char *err, size_t errlen)
{
    struct vg_spot v;
    const unsigned char *b = buf;
    memcpy(v.init, b, sizeof(v.init));
    b += sizeof(v.init);
    memcpy(v.peaks, b, sizeof(v.peaks));
    b += sizeof(v.peaks);
    double d[3];
    uint64_t n[2];
    uint32_t u[4];
    memcpy(d, b, sizeof(d));
    b += sizeof(d);
    memcpy(n, b, sizeof(n));
    b += sizeof(n);
    memcpy(u, b, sizeof(u));
    v.t = d[0];
    v.gamma = d[1];
    v.sigma = d[2];
    v.n = n[0];
    v.nt = n[1];
    v.ninit = u[0];
    v.npeaks = u[1];
    v.next_peak = u[2];
    v.ready = u[3] > 1 ? 2 : (int)u[3]; /* 2: out of range, refused below */
    int rc = vg_spot_check(&v, err, errlen);
    if (rc < 0)
        return rc;
    *s = v;
    return 0;
}
