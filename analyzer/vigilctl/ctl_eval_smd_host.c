#include "ctl_eval_smd_host.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "vg_k.h"
#include "vg_log.h"
#include "vg_util.h"

/* -log10 of a tail probability 1 - score, bounded so that a score of exactly 1 stays finite (the
 * per-series surprises, which a top-k mean adds up). */
static double surprise(double score)
{
    double t = 1 - score;
    return t < 1e-12 ? 12.0 : -log10(t);
}

void ctl_smd_mv_params(const struct ctl_eval_opts *o, size_t m, struct vg_mv_params *mp)
{
    vg_mv_params_default(mp, (uint32_t)m);
    mp->window = (uint32_t)o->smd.window;
    mp->lr = (float)o->smd.lr;
    mp->norm.alpha = (float)o->smd.norm_alpha;
    mp->arch = o->smd.arch > 0 ? VG_MV_AUTOENCODER : VG_MV_FORECAST;
    mp->hidden[1] = (uint32_t)o->smd.bottleneck;
    mp->seed = (uint64_t)o->smd.seed;
}

void ctl_smd_hscore_params(const struct ctl_eval_opts *o, struct vg_hscore_params *hp)
{
    vg_hscore_defaults(hp);
    hp->top_k = (uint32_t)o->smd.topk;
    hp->smooth = (uint32_t)o->smd.hsmooth;
    hp->blame = (uint32_t)o->smd.hblame;
    hp->blame_fast = (uint32_t)o->smd.hbfast;
    hp->floor = o->smd.hfloor;
    hp->alpha = o->smd.halpha;
    hp->spot.q = o->smd.hq;
    hp->state_weight = o->smd.hstate;
    hp->state_k = o->smd.hstate_k;
    hp->spot.learn_max = o->smd.hlearn;
    hp->burst = o->smd.hburst;
    /* As the analyzer sets it (vg_model_mv.c): from the normaliser's memory. */
    hp->relearn = o->smd.hrelearn >= 0 ? (uint32_t)o->smd.hrelearn
                                       : vg_hscore_relearn_ticks(1.0 / o->smd.norm_alpha);
}

int ctl_smd_host_init(struct ctl_smd_host *h, const struct ctl_eval_opts *o, size_t m)
{
    char err[VG_ERRLEN];
    h->o = o;
    h->m = m;
    h->use_uni = o->smd.host != 1 || o->smd.ublame > 0;
    h->use_mv = o->smd.host != 0;
    h->states = calloc(m, o->det->state_size);
    h->sur = calloc(m, sizeof(double));
    h->xf = calloc(m, sizeof(float));
    h->res = calloc(m, sizeof(float));
    h->z = calloc(m, sizeof(float));
    h->blame = calloc(m, sizeof(double));
    if (!h->states || !h->sur || !h->xf || !h->res || !h->z || !h->blame)
        return -ENOMEM;
    for (size_t d = 0; d < m; d++)
        o->det->init(h->states + d * o->det->state_size);
    vg_spot_init(&h->spot);
    vg_spot_defaults(&h->sp);
    h->sp.min_sigma = 0.5; /* half a decade of tail probability */
    vg_spot_init(&h->cspot);
    vg_spot_defaults(&h->csp);
    h->csp.min_sigma = 0.5;
    if (!h->use_mv)
        return 0;
    /* The backend's choice is logged at info with a time stamp: keep the output reproducible. */
    vg_log_init("vigilctl", VG_LOG_WARN, 0);
    if (vg_k_open(&h->k, o->backend, err, sizeof(err)) < 0) {
        fprintf(stderr, "vigilctl eval smd: %s\n", err);
        return -EIO;
    }
    struct vg_mv_params mp;
    ctl_smd_mv_params(o, m, &mp);
    if (vg_mv_new(&h->mv, &mp, &h->k, err, sizeof(err)) < 0 ||
        vg_mv_add_host(h->mv, NULL, err, sizeof(err)) < 0) {
        fprintf(stderr, "vigilctl eval smd: %s\n", err);
        return -EIO;
    }
    size_t ne = (size_t)o->smd.ens > 1 ? (size_t)o->smd.ens - 1 : 0;
    if (ne > 0 && (!(h->eres = calloc(m, sizeof(float))) || !(h->ez = calloc(m, sizeof(float)))))
        return -ENOMEM;
    for (size_t i = 0; i < ne; i++) {
        mp.seed = (uint64_t)o->smd.seed + i + 1;
        if (vg_mv_new(&h->ens[i], &mp, &h->k, err, sizeof(err)) < 0 ||
            vg_mv_add_host(h->ens[i], NULL, err, sizeof(err)) < 0) {
            fprintf(stderr, "vigilctl eval smd: %s\n", err);
            return -EIO;
        }
        h->n_ens = i + 1;
    }
    if (vg_hscore_init(&h->hs, m) < 0)
        return -ENOMEM;
    ctl_smd_hscore_params(o, &h->hp);
    return 0;
}

void ctl_smd_host_free(struct ctl_smd_host *h)
{
    free(h->states);
    free(h->sur);
    free(h->xf);
    free(h->res);
    free(h->z);
    free(h->blame);
    if (h->mv) {
        vg_mv_free(h->mv);
        vg_hscore_free(&h->hs);
    }
    for (size_t i = 0; i < VG_ARRAY_LEN(h->ens); i++)
        if (h->ens[i])
            vg_mv_free(h->ens[i]);
    free(h->eres);
    free(h->ez);
    if (h->k.ops)
        vg_k_close(&h->k);
}

/* The per-series path: per-metric surprises (-log10 tail) into h->sur, the calibrated host score
 * (mean of the top-k surprises through the host's SPOT) returned. */
static double uni_step(struct ctl_smd_host *h, int64_t ts_ms, const double *x)
{
    for (size_t d = 0; d < h->m; d++) {
        double sc;
        ctl_eval_step(h->o, h->states + d * h->o->det->state_size, ts_ms, x[d], &sc);
        h->sur[d] = surprise(sc);
    }
    /* Mean of the top-k surprises: a host is anomalous when a few of its metrics are at once,
     * and one noisy metric alone weighs a third. */
    double top[CTL_SMD_UNI_TOPK] = {0};
    for (size_t d = 0; d < h->m; d++) {
        double v = h->sur[d];
        for (int k = 0; k < CTL_SMD_UNI_TOPK; k++) {
            if (v > top[k]) {
                double t = top[k];
                top[k] = v;
                v = t;
            }
        }
    }
    double raw = 0;
    for (int k = 0; k < CTL_SMD_UNI_TOPK; k++)
        raw += top[k];
    raw /= CTL_SMD_UNI_TOPK;
    double score;
    vg_spot_update(&h->spot, &h->sp, raw, &score);
    return score;
}

static double mv_step(struct ctl_smd_host *h, const double *x, int phase, int learn)
{
    char err[VG_ERRLEN];
    if (h->failed)
        return 0;
    if (h->o->from_resid) {
        /* Replay: the rows the host score saw when they were saved; no model runs. */
        if (ctl_resid_read(&h->rin, h->res, h->z, err, sizeof(err)) < 0)
            goto fail;
    } else {
        for (size_t d = 0; d < h->m; d++)
            h->xf[d] = vg_k_x_of(x[d]); /* as vg_fleet_put */
        if (vg_mv_step(h->mv, h->xf, learn ? VG_MV_TRAIN : VG_MV_SCORE, NULL, err, sizeof(err)) <
                0 ||
            (phase != CTL_SMD_TRAIN &&
             vg_mv_residuals_targets(h->mv, h->res, h->z, err, sizeof(err)) < 0))
            goto fail;
        for (size_t i = 0; i < h->n_ens; i++) {
            if (vg_mv_step(h->ens[i], h->xf, learn ? VG_MV_TRAIN : VG_MV_SCORE, NULL, err,
                           sizeof(err)) < 0 ||
                (phase != CTL_SMD_TRAIN &&
                 vg_mv_residuals_targets(h->ens[i], h->eres, h->ez, err, sizeof(err)) < 0))
                goto fail;
            for (size_t d = 0; phase != CTL_SMD_TRAIN && d < h->m; d++)
                h->res[d] += h->eres[d];
        }
        for (size_t d = 0; h->n_ens > 0 && phase != CTL_SMD_TRAIN && d < h->m; d++)
            h->res[d] /= (float)(h->n_ens + 1);
        if (phase == CTL_SMD_TRAIN)
            return 0;
        if (h->o->save_resid && ctl_resid_write(&h->rout, h->res, h->z, err, sizeof(err)) < 0)
            goto fail;
    }
    double score, raw;
    vg_hscore_update_state(&h->hs, &h->hp, h->res, h->z, &score, &raw, h->blame);
    h->raw = raw;
    return h->hs.surprise;
fail:
    fprintf(stderr, "vigilctl eval smd: %s\n", err);
    h->failed = 1;
    return 0;
}

/* One row through the host scorer chosen (o->smd.host). The per-series detectors see each row
 * once; vg_mv sees the train half once per epoch (phase). Returns the calibrated host score as a
 * surprise, -log10 of its tail probability: the same order as the score 1 - tail, but the ticks
 * whose tail is below about 1e-16, where 1 - tail rounds to 1, stay ordered (the metrics are
 * rankings, and alert.threshold maps to -log10(1 - threshold)). */
double ctl_smd_host_step(struct ctl_smd_host *h, int64_t ts_ms, const double *x, int phase,
                         int learn)
{
    int how = (int)h->o->smd.host;
    double su = 0, sm = 0;
    if (h->use_uni && phase != CTL_SMD_TRAIN)
        su = uni_step(h, ts_ms, x);
    if (h->use_mv)
        sm = mv_step(h, x, phase, learn);
    if (how == 0)
        return -log10(1 - su); /* a score of 1: +inf, the order kept */
    if (how == 1)
        return sm;
    if (phase != CTL_SMD_SCORE || (h->use_mv && !h->hs.fitted))
        return 0; /* the combination starts when vg_mv's host score does */
    /* Max or mean of the two surprises, calibrated again, so that the alert threshold keeps
     * its meaning (a mean of two -log10 tails is no tail probability). */
    double a = surprise(su), b = sm < 12 ? sm : 12;
    double raw = how == 2 ? (a > b ? a : b) : 0.5 * (a + b), score;
    vg_spot_update(&h->cspot, &h->csp, raw, &score);
    return -log10(1 - score);
}
