/* vigilctl eval: shared option handling of the evaluation subcommands (ctl_eval*.c). */
#ifndef VG_CTL_EVAL_H
#define VG_CTL_EVAL_H

#include <stdio.h>

#include "vg_alert.h"
#include "vg_detector.h"

/* The most vg_mv models --param ens averages (eval smd). */
#define CTL_SMD_ENS_MAX 8

struct ctl_eval_opts {
    const struct vg_detector *det; /* detector.model of the analyzer's configuration */
    struct vg_detector_params dp;  /* the analyzer's detector.* settings, then --param */
    struct vg_alert_params ap;     /* the analyzer's alert.threshold, alert.for, .resolve_for */
    int64_t stale_ms;              /* its alert.stale_after: the gap a wait does not count */
    const char *results;           /* --results DIR, or NULL */
    const char *save_resid;        /* eval smd --save-residuals DIR, or NULL */
    const char *from_resid;        /* eval smd --from-residuals DIR, or NULL */
    const char *backend;           /* eval smd --backend: vg_mv's compute backend (cpu) */
    const char *name;              /* detector name in NAB's results tree */
    int verbose;
    const char *dir;   /* the data set */
    const char *param; /* the first --param, or NULL: eval nab, which runs no host scorer, refuses
                          one rather than ignore it */
    struct ctl_eval_smd_opts {
        double host;       /* host scorer: 0 per-series top-k, 1 vg_mv, 2 max, 3 mean of both */
        double epochs;     /* passes of vg_mv over the train half */
        double topk;       /* metrics in the host score */
        double hsmooth;    /* ticks averaged in the host score */
        double hfloor;     /* least per-metric error scale */
        double halpha;     /* scale learning after the fit */
        double norm_alpha; /* vg_mv normaliser rate (small: statistics of the train half) */
        double lr;         /* vg_mv learning rate */
        double window;     /* vg_mv window */
        double online;     /* vg_mv keeps learning over the test half */
        double hq;         /* host calibration level */
        double hblame;     /* ticks averaged for the attribution */
        double hbfast;     /* ticks of its fast average (0: none) */
        double ublame;     /* weight of the per-series surprises in the attribution */
        double arch;       /* vg_mv architecture: 0 forecaster, 1 autoencoder */
        double bottleneck; /* width of vg_mv's second hidden layer */
        double hstate;     /* weight of the host score's state term (0: off) */
        double hstate_k;   /* its threshold in typical distances */
        double hlearn;     /* host calibration: scores at or above this are not learned */
        double hburst;     /* ... nor any while peaks come at more than this rate (0: off) */
        double hrelearn;   /* ... for at most this many ticks in a row, then a new sample (0: no
                            * limit; -1, the default: the analyzer's, from norm_alpha) */
        double seed;       /* vg_mv's weight initialisation */
        double group;      /* 1: every machine a host of one vg_mv group (shared weights) */
        double ens;        /* vg_mv models of seeds seed.. seed+ens-1, their residuals averaged */
    } smd;
};

/* Parses the options common to eval nab and eval smd (argv[0] is the data set kind):
 *   --config FILE, --set KEY=VALUE (analyzer keys), --param NAME=VALUE (model extras),
 *   --results DIR, --name NAME, -v, --save-residuals DIR, --from-residuals DIR (eval smd); the
 *   one positional argument is DIR.
 * Returns 0, 2 after a usage error (message printed), or 3 after --help (help printed by help). */
int ctl_eval_parse(int argc, char **argv, struct ctl_eval_opts *o, void (*help)(FILE *f));

/* Feeds one value to a detector state, with its time when the model takes one. Returns the
 * model's code; *score is 0 while it warms up. */
int ctl_eval_step(const struct ctl_eval_opts *o, void *state, int64_t ts_ms, double x,
                  double *score);

int ctl_eval_nab(int argc, char **argv);
int ctl_eval_smd(int argc, char **argv);

/* Creates path and its missing parents (the --results folders). 0 or -errno. */
int ctl_eval_mkdirs(const char *path);

/* Prints the option lines shared by both kinds. */
void ctl_eval_common_help(FILE *f);

#endif
