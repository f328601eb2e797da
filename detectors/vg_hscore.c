#include "vg_hscore.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vg_util.h"

void vg_hscore_defaults(struct vg_hscore_params *p)
{
    p->top_k = 3;
    p->smooth = 5;
    p->blame = 60;
    p->blame_fast = 10;
    p->floor = 0.3;
    p->alpha = 0.001;
    p->clip = 4;
    p->fit_n = 256;
    p->state_weight = 1;
    p->state_k = 3;
    p->burst = 0.2;
    p->relearn = VG_HSCORE_RELEARN_TICKS;
    vg_spot_defaults(&p->spot);
    /* A host whose errors never varied still needs a tail to score its first change on. */
    p->spot.min_sigma = 0.1;
}

uint32_t vg_hscore_relearn_ticks(double norm_ticks)
{
    double t = 3 * norm_ticks;
    if (!(t > VG_HSCORE_RELEARN_TICKS))
        return VG_HSCORE_RELEARN_TICKS;
    return t < (double)UINT32_MAX ? (uint32_t)t : UINT32_MAX;
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
    h->fast = calloc(m, sizeof(double));
    h->zup2 = calloc(m, sizeof(double));
    h->zdn2 = calloc(m, sizeof(double));
    h->nup = calloc(m, sizeof(uint64_t));
    h->ndn = calloc(m, sizeof(uint64_t));
    h->zup = calloc(m, sizeof(double));
    h->zdn = calloc(m, sizeof(double));
    vg_spot_init(&h->spot);
    if (!h->scale || !h->sum || !h->cnt || !h->e || !h->blame || !h->fast || !h->zup2 || !h->zdn2 ||
        !h->nup || !h->ndn || !h->zup || !h->zdn) {
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
    free(h->fast);
    free(h->zup2);
    free(h->zdn2);
    free(h->nup);
    free(h->ndn);
    free(h->zup);
    free(h->zdn);
    memset(h, 0, sizeof(*h));
}

/* One finite error of metric j (and its normalised value, NaN = none) into its fit sums. */
static void fit_metric(struct vg_hscore *h, size_t j, double err, double zj)
{
    h->sum[j] += fabs(err);
    if (zj > 0) { /* false for NaN */
        h->zup2[j] += zj * zj;
        h->nup[j]++;
    } else if (zj < 0) {
        h->zdn2[j] += zj * zj;
        h->ndn[j]++;
    }
    h->cnt[j]++;
}

static void fit(struct vg_hscore *h, const float *err, const float *z)
{
    for (size_t j = 0; j < h->m; j++)
        if (isfinite(err[j]))
            fit_metric(h, j, err[j], z && isfinite(z[j]) ? (double)z[j] : NAN);
    h->nfit++;
}

void vg_hscore_fit(struct vg_hscore *h, const float *err)
{
    fit(h, err, NULL);
}

static void finish_metric(struct vg_hscore *h, size_t j)
{
    h->scale[j] = h->cnt[j] ? h->sum[j] / (double)h->cnt[j] : 0;
    h->zup[j] = h->nup[j] ? sqrt(h->zup2[j] / (double)h->nup[j]) : 0;
    h->zdn[j] = h->ndn[j] ? sqrt(h->zdn2[j] / (double)h->ndn[j]) : 0;
}

static void finish_fit(struct vg_hscore *h)
{
    for (size_t j = 0; j < h->m; j++)
        finish_metric(h, j);
    h->fitted = 1;
}

/* Restarts the calibration: its tail threshold came from a sample whose raw scores were lower
 * than the host's usual ones now, and the gate, closed by them, would keep it from learning. */
static void relearn(struct vg_hscore *h)
{
    vg_spot_init(&h->spot);
    h->prate = 0;
    h->closed = 0;
    h->relearned = 1;
}

static int step(struct vg_hscore *h, const struct vg_hscore_params *p, const float *err,
                const float *z, double *score, double *raw, double *blame)
{
    *score = 0;
    *raw = 0;
    h->surprise = 0;
    h->relearned = 0;
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
        e[j] = 0;
        if (!isfinite(err[j]))
            continue;
        /* A metric that had fewer values in the fit than the fit had ticks (one that came up
         * after it) fits on its own first values now: with a scale and typical distances at the
         * floor, its usual errors would be outliers for good. */
        if (h->cnt[j] < h->nfit) {
            fit_metric(h, j, err[j], z && isfinite(z[j]) ? (double)z[j] : NAN);
            if (h->cnt[j] == h->nfit)
                finish_metric(h, j);
            continue;
        }
        nf++;
        double sc = h->scale[j] > p->floor ? h->scale[j] : p->floor;
        double a = fabs(err[j]);
        e[j] = a / sc;
        /* The state term: beyond k typical distances from its centre on its side (the same
         * floor as the errors', so a metric that never moved while fitting is not flagged for
         * any wobble). */
        if (z && p->state_weight > 0 && isfinite(z[j])) {
            double up = p->state_k * (h->zup[j] > p->floor ? h->zup[j] : p->floor);
            double dn = p->state_k * (h->zdn[j] > p->floor ? h->zdn[j] : p->floor);
            double ex = z[j] > up ? z[j] - up : z[j] < -dn ? -dn - z[j] : 0;
            e[j] += p->state_weight * ex;
        }
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
     * ticks averaged evenly), so the metrics of an incident stay ranked while it lasts, or, when
     * larger, one over `blame_fast` ticks, so the metrics of an incident that has just begun are
     * named before the slow average turns to them. */
    uint32_t bt = p->blame ? p->blame : sm, bf = p->blame_fast;
    h->nblame++;
    double ab = 1.0 / (double)(h->nblame < bt ? h->nblame : bt);
    double af = bf ? 1.0 / (double)(h->nblame < bf ? h->nblame : bf) : 0;
    for (size_t j = 0; j < h->m; j++) {
        h->blame[j] += ab * (e[j] - h->blame[j]);
        h->fast[j] += af * (e[j] - h->fast[j]);
        if (blame)
            blame[j] = bf && h->fast[j] > h->blame[j] ? h->fast[j] : h->blame[j];
    }
    /* SPOT learns its tail from the last VG_SPOT_PEAKS values above its threshold t: in normal
     * times 1 - q of the values (a few thousand ticks of history), but while an incident lasts
     * nearly every tick, so within a few hundred ticks the tail would be the incident's, and its
     * scores would fall while it goes on. Peaks arriving at many times their usual rate are an
     * incident, not the tail: they are scored, not learned. */
    h->surprise = vg_spot_surprise(&h->spot, *raw);
    if (h->spot.ready) {
        h->prate += ((*raw > h->spot.t ? 1.0 : 0.0) - h->prate) / VG_HSCORE_BURST_TICKS;
        if (p->burst > 0 && h->prate > p->burst) {
            if (h->closed < UINT32_MAX)
                h->closed++;
            /* Closed far longer than an incident lasts (the state term's centre has taken a
             * lasting level for normal long before): the calibration is what is wrong. This
             * tick is the new sample's first. */
            if (!p->relearn || h->closed < p->relearn) {
                *score = vg_spot_score(&h->spot, *raw);
                return 0;
            }
            relearn(h);
            h->surprise = 0;
        } else {
            h->closed = 0;
        }
    }
    return vg_spot_update(&h->spot, &p->spot, *raw, score);
}

int vg_hscore_step(struct vg_hscore *h, const struct vg_hscore_params *p, const float *err,
                   double *score, double *raw, double *blame)
{
    return step(h, p, err, NULL, score, raw, blame);
}

int vg_hscore_update_state(struct vg_hscore *h, const struct vg_hscore_params *p, const float *err,
                           const float *z, double *score, double *raw, double *blame)
{
    if (!h->fitted && h->nfit < p->fit_n) {
        fit(h, err, z);
        *score = 0;
        *raw = NAN;
        return -EAGAIN;
    }
    return step(h, p, err, z, score, raw, blame);
}

int vg_hscore_update(struct vg_hscore *h, const struct vg_hscore_params *p, const float *err,
                     double *score, double *raw, double *blame)
{
    return vg_hscore_update_state(h, p, err, NULL, score, raw, blame);
}

/* ---- packed state ---- */

/* 2: the state term, the peak rate; 3: the state term per side; 4: the ticks the gate has been
 * closed, in the header word that 3 wrote 0 (so a state of 3 reads as a gate not closed, and its
 * calibration relearns once the gate has been closed VG_HSCORE_RELEARN_TICKS from then).
 * A state whose gate is not closed is written as 3, the same bytes: a build that reads only 3
 * (an older analyzer in a rolling upgrade or after a roll-back) then refuses only the hosts
 * whose gate is closed at that moment, not every host's state and every group checkpoint. */
#define PACK_VERSION 4
#define PACK_OLDEST  3
#define PACK_HEAD    (6 * 4 + 2 * 8 + 8 + VG_HSCORE_SMOOTH * 8)

size_t vg_hscore_packed_size(size_t m)
{
    return PACK_HEAD + m * (11 * 8) + VG_SPOT_PACKED;
}

void vg_hscore_pack(const struct vg_hscore *h, void *buf)
{
    unsigned char *b = buf;
    uint32_t version = h->closed ? PACK_VERSION : 3;
    uint32_t u[6] = {version, (uint32_t)h->m, h->pos, h->have, (uint32_t)h->fitted, h->closed};
    uint64_t n[2] = {h->nblame, h->nfit};
    memcpy(b, u, sizeof(u));
    b += sizeof(u);
    memcpy(b, n, sizeof(n));
    b += sizeof(n);
    memcpy(b, h->raw_ring, sizeof(h->raw_ring));
    b += sizeof(h->raw_ring);
    memcpy(b, &h->prate, sizeof(h->prate));
    b += sizeof(h->prate);
    size_t mb = h->m * sizeof(double);
    memcpy(b, h->scale, mb);
    memcpy(b + mb, h->sum, mb);
    memcpy(b + 2 * mb, h->blame, mb);
    memcpy(b + 3 * mb, h->fast, mb);
    memcpy(b + 4 * mb, h->zup2, mb);
    memcpy(b + 5 * mb, h->zdn2, mb);
    memcpy(b + 6 * mb, h->zup, mb);
    memcpy(b + 7 * mb, h->zdn, mb);
    memcpy(b + 8 * mb, h->cnt, h->m * sizeof(uint64_t));
    memcpy(b + 9 * mb, h->nup, h->m * sizeof(uint64_t));
    memcpy(b + 10 * mb, h->ndn, h->m * sizeof(uint64_t));
    vg_spot_pack(&h->spot, b + 11 * mb);
}

static int finite_nonneg(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(v[i] >= 0) || !isfinite(v[i]))
            return 0;
    return 1;
}

int vg_hscore_unpack(struct vg_hscore *h, const void *buf, size_t len, char *err, size_t errlen)
{
    const unsigned char *b = buf;
    uint32_t u[6];
    if (len < sizeof(u))
        return vg_err(err, errlen, -EINVAL, "host score state: %zu bytes", len);
    memcpy(u, b, sizeof(u));
    if (u[0] < PACK_OLDEST || u[0] > PACK_VERSION)
        return vg_err(err, errlen, -EINVAL,
                      "host score state: format version %u not supported (this build reads %d "
                      "to %d)",
                      u[0], PACK_OLDEST, PACK_VERSION);
    if (u[1] != h->m)
        return vg_err(err, errlen, -EINVAL, "host score state: %u metrics, not %zu", u[1], h->m);
    if (len != vg_hscore_packed_size(h->m))
        return vg_err(err, errlen, -EINVAL, "host score state: %zu bytes, expected %zu", len,
                      vg_hscore_packed_size(h->m));
    if (u[3] > VG_HSCORE_SMOOTH || u[4] > 1 || (u[0] < 4 && u[5] != 0))
        return vg_err(err, errlen, -EINVAL, "host score state: counters out of range");
    b += sizeof(u);
    uint64_t n[2];
    memcpy(n, b, sizeof(n));
    b += sizeof(n);
    /* One a tick: 2^53 ticks is hundreds of millions of years at one a second. A count above
     * it was not counted, and one at 2^64-1 wraps to 0 at the next tick, where the blame average
     * divides by it. */
    if (n[0] > VG_HSCORE_COUNT_MAX)
        return vg_err(err, errlen, -EINVAL,
                      "host score state: blame tick count %llu out of range (at most 2^53)",
                      (unsigned long long)n[0]);
    if (n[1] > VG_HSCORE_COUNT_MAX)
        return vg_err(err, errlen, -EINVAL,
                      "host score state: calibration tick count %llu out of range (at most 2^53)",
                      (unsigned long long)n[1]);
    double ring[VG_HSCORE_SMOOTH];
    memcpy(ring, b, sizeof(ring));
    b += sizeof(ring);
    double prate;
    memcpy(&prate, b, sizeof(prate));
    b += sizeof(prate);
    if (!(prate >= 0 && prate <= 1))
        return vg_err(err, errlen, -EINVAL, "host score state: peak rate out of range");
    size_t m = h->m, mb = m * sizeof(double);
    double *d = malloc(8 * mb + 1);
    if (!d)
        return vg_err(err, errlen, -ENOMEM, "host score state: out of memory");
    memcpy(d, b, 8 * mb);
    if (!finite_nonneg(ring, VG_HSCORE_SMOOTH) || !finite_nonneg(d, 8 * m)) {
        free(d);
        return vg_err(err, errlen, -EINVAL, "host score state: negative or non-finite values");
    }
    struct vg_spot sp;
    int rc = vg_spot_unpack(&sp, b + 11 * mb, err, errlen);
    if (rc < 0) {
        free(d);
        return rc;
    }
    h->pos = u[2];
    h->have = u[3];
    h->fitted = (int)u[4];
    h->prate = prate;
    h->closed = u[5];
    h->nblame = n[0];
    h->nfit = n[1];
    memcpy(h->raw_ring, ring, sizeof(ring));
    memcpy(h->scale, d, mb);
    memcpy(h->sum, d + m, mb);
    memcpy(h->blame, d + 2 * m, mb);
    memcpy(h->fast, d + 3 * m, mb);
    memcpy(h->zup2, d + 4 * m, mb);
    memcpy(h->zdn2, d + 5 * m, mb);
    memcpy(h->zup, d + 6 * m, mb);
    memcpy(h->zdn, d + 7 * m, mb);
    memcpy(h->cnt, b + 8 * mb, m * sizeof(uint64_t));
    memcpy(h->nup, b + 9 * mb, m * sizeof(uint64_t));
    memcpy(h->ndn, b + 10 * mb, m * sizeof(uint64_t));
    h->spot = sp;
    free(d);
    return 0;
}
