/* One SMD machine as a host of the analyzer's scorers, for vigilctl eval smd: the per-series
 * detectors (one state per metric), vg_mv with its host score (vg_hscore), or both combined, per
 * --param host. ctl_eval_smd.c feeds it rows and scores what it returns. */
#ifndef CTL_EVAL_SMD_HOST_H
#define CTL_EVAL_SMD_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "ctl_eval.h"
#include "ctl_eval_resid.h"
#include "vg_hscore.h"
#include "vg_k.h"
#include "vg_mv.h"
#include "vg_spot.h"

/* The per-series path's host score: the mean of this many of the largest per-metric surprises. */
#define CTL_SMD_UNI_TOPK 3

struct ctl_smd_host {
    const struct ctl_eval_opts *o;
    size_t m;
    int use_uni, use_mv;
    unsigned char *states; /* m detector states */
    struct vg_spot spot;
    struct vg_spot_params sp;
    double *sur;
    /* Multivariate path: vg_mv (one host) and its host score. */
    struct vg_k k;
    struct vg_mv *mv;
    /* --param ens=K: the models of seeds seed+1 ... seed+K-1 beside mv, stepped on the same rows;
     * their residuals are averaged with mv's before the one host score (the targets are mv's:
     * the normaliser's statistics come from the data, the same for every seed). */
    struct vg_mv *ens[CTL_SMD_ENS_MAX - 1];
    size_t n_ens;
    float *eres, *ez;
    struct vg_hscore hs;
    struct vg_hscore_params hp;
    float *xf, *res, *z;
    double *blame;
    double raw;                 /* the last row's raw host score (vg_hscore), for --results */
    struct ctl_resid rin, rout; /* --from-residuals, --save-residuals */
    int failed;                 /* vg_mv or a residuals file failed: the machine is not scored */
    struct vg_spot cspot;       /* calibration of the combined score */
    struct vg_spot_params csp;
};

/* Phases of the multivariate path over the data: epochs before the last (the model only), then
 * every row through the host score, as the analyzer runs it (vg_hscore_update: its first fit_n
 * rows fit the error scales). */
enum { CTL_SMD_TRAIN, CTL_SMD_SCORE };

/* vg_mv's settings for m metrics: its defaults, then the --param overrides. */
void ctl_smd_mv_params(const struct ctl_eval_opts *o, size_t m, struct vg_mv_params *mp);
/* The host score's settings: vg_hscore's defaults, then the --param overrides. */
void ctl_smd_hscore_params(const struct ctl_eval_opts *o, struct vg_hscore_params *hp);
/* Sets h up for m metrics with the scorers o asks for (h zeroed by the caller; its buffers and
 * model are h's, released by ctl_smd_host_free even after a failure). 0, -ENOMEM, or -EIO with
 * the reason printed. */
int ctl_smd_host_init(struct ctl_smd_host *h, const struct ctl_eval_opts *o, size_t m);
void ctl_smd_host_free(struct ctl_smd_host *h);
/* One row (x: m values at ts_ms) in the given phase; learn: vg_mv learns from it. Returns the
 * host score as a surprise (-log10 of its tail probability); 0 while there is none yet. */
double ctl_smd_host_step(struct ctl_smd_host *h, int64_t ts_ms, const double *x, int phase,
                         int learn);

#endif
