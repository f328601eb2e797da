/* vg_mv's internals, shared by vg_mv.c (the model and its step) and vg_mv_ckpt.c (its state in
 * and out: checkpoints, one host's state). Not part of the API: include vg_mv.h or vg_mv_ckpt.h. */
#ifndef VG_MV_INT_H
#define VG_MV_INT_H

#include <string.h>

#include "vg_mv.h"

#define MAX_LAYERS (VG_MV_MAX_HIDDEN + 1)

struct layer {
    int in, out;
    size_t w_off, b_off; /* offsets of W (in x out, row-major) and b in the parameter vector */
    float *act;          /* cap x out: outputs of the forward pass (the last layer: predictions) */
    float *d;            /* train_cap x out: gradient w.r.t. the outputs, then pre-activations */
};

struct vg_mv {
    struct vg_mv_params p;
    struct vg_k *k;
    const struct vg_k_ops *ops;
    void *ctx;
    int n_layers, in_dim, out_dim, ring, lag;
    struct layer L[MAX_LAYERS];
    size_t n_params;
    float *param, *grad, *adam_m, *adam_v; /* backend buffers of n_params */
    /* Per host, backend buffers of cap rows. */
    uint32_t n, cap, train_cap;
    float *x, *c, *s, *cnt, *r, *tgt, *win, *roww, *loss;
    /* An autoencoder's training target: its window again, but NaN where a value was missing (the
     * window holds 0 there, the centre, which the model must not learn as a value); NULL for a
     * forecaster, whose target is tgt. Not in checkpoints: restored as a copy of the window. */
    float *twin;
    /* A step's results, one download: score[n], then top_err[n K], then top_idx[n K] (int32, the
     * size of a float). */
    float *out;
    float *prior_s, *prior_r; /* m */
    /* Host side. */
    uint32_t *age;
    uint32_t n_primed;  /* hosts [0, n_primed) had a step; later ones get priors first */
    float *h_x, *h_out; /* backend host memory: the tick buffer, out's copy (cap rows) */
    /* Backend host memory (cap rows): a step's targets, then its last layer's output. */
    float *h_tgt_pred;
    float *h_score, *h_top_err; /* into h_out, laid out for the last step's n */
    int32_t *h_top_idx;
    float *h_roww, *h_loss;
    uint64_t ticks, adam_t, train_off;
    uint64_t block_samples; /* vg_mv_set_pipeline() */
    int recording;          /* vg_mv_set_recording() */
    void **rec;             /* ring recordings of a step, by tick phase (NULL: none yet) */
    uint32_t rec_n, rec_nb; /* the hosts and blocks they were recorded for */
    struct vg_mv_stats st;
};

/* Builds a model of shape p on backend k with no hosts and unset weights (vg_mv_new draws them,
 * vg_mv_load reads them). The caller owns *out (vg_mv_free). 0, or a negative errno with err. */
int vg_mv_build(struct vg_mv **out, const struct vg_mv_params *p, struct vg_k *k, char *err,
                size_t errlen);

/* Floats of one host's window ring: each tick is written twice, ring slots apart. */
static inline size_t vg_mv_rowlen_win(const struct vg_mv *mv)
{
    return (size_t)2 * mv->ring * mv->p.n_metrics;
}

/* An autoencoder's target window for hosts [first, first + count) whose window was restored (a
 * checkpoint, another analyzer's state), which do not say what was missing: a copy of the window,
 * so that for its W ticks a restored missing value is a target at the centre, until it leaves
 * the window. */
static inline void vg_mv_twin_from_win(struct vg_mv *mv, uint32_t first, uint32_t count)
{
    size_t wl = vg_mv_rowlen_win(mv);
    if (mv->twin && count)
        mv->ops->copy(mv->ctx, mv->twin + first * wl, mv->win + first * wl,
                      count * wl * sizeof(float));
}

/* Host buffers saved per host row, in this order. */
static inline size_t vg_mv_host_bufs(const struct vg_mv *mv, float *bufs[5], size_t per_row[5])
{
    size_t m = mv->p.n_metrics;
    float *b[5] = {mv->c, mv->s, mv->cnt, mv->r, mv->win};
    size_t pr[5] = {m, m, m, m, vg_mv_rowlen_win(mv)};
    memcpy(bufs, b, sizeof(b));
    memcpy(per_row, pr, sizeof(pr));
    return 5;
}

#endif
