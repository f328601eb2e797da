/* The Numenta Anomaly Benchmark's published scoring, in the project's own code.
 *
 * Per file, rows are walked in file order. A window is entered on the row whose timestamp equals
 * its start and left after the row whose timestamp equals its end; its right index is the first row
 * with the end timestamp and its width counts rows from the first row with the start timestamp.
 *   - inside a window, a detection at row i is worth A_TP * s(p) / s(-1), p = -(right - i +
 * 1)/width; only the best (earliest) detection of each window counts; a window without one costs
 * A_FN;
 *   - outside, a detection is worth A_FP * s(q), q = |prev_right - i| / (prev_width - 1), or -A_FP
 *     before the first window or when q > 3;
 *   s(x) = 2 / (1 + e^(5x)) - 1 (the scaled sigmoid).
 * The first min(floor(0.15 n), 750) rows of a file are probationary: neither detections nor windows
 * there are scored. One threshold for the whole corpus (per profile) is chosen by sweeping every
 * distinct score, highest first, keeping the best total (the highest threshold among equals). The
 * total is normalised to 100 * (raw - null) / (perfect - null), with null = -A_FN * windows and
 * perfect = A_TP * windows, windows counting those with scorable rows.
 */
#ifndef VG_EVAL_NAB_H
#define VG_EVAL_NAB_H

#include <stddef.h>
#include <stdint.h>

#include "vg_eval_io.h"

struct vg_nab_profile {
    const char *name;
    double a_tp, a_fp, a_fn;
};

/* standard, reward_low_FP_rate, reward_low_FN_rate. */
#define VG_NAB_PROFILES 3
extern const struct vg_nab_profile vg_nab_profiles[VG_NAB_PROFILES];

/* One file's scoring geometry, independent of the detector and the profile. */
struct vg_nab_file {
    size_t n;         /* rows */
    size_t probation; /* the first rows not scored */
    int32_t *window;  /* per row: index of the window it lies in, or -1 */
    double *weight;   /* per row: s(p)/s(-1) inside a window, s(q) or -1 outside */
    uint8_t *label;   /* per row: 1 when its timestamp lies within some window (results file) */
    size_t n_windows; /* windows with at least one scorable row */
    size_t n_windows_all;
};

/* Probationary rows of a file of n rows. */
size_t vg_nab_probation(size_t n);

/* Builds the geometry of a file from its timestamps and windows. A window whose start or end time
 * is not among the timestamps is -EINVAL (NAB would silently misplace it). Windows may be listed in
 * any order (they are taken by start time); two that share a row are -EINVAL. Free with
 * vg_nab_file_free(). */
int vg_nab_file_init(struct vg_nab_file *f, const int64_t *ts_us, size_t n,
                     const struct vg_eval_window *w, size_t nw, char *err, size_t errlen);
void vg_nab_file_free(struct vg_nab_file *f);

struct vg_nab_result {
    double threshold;  /* detections are scores >= threshold (> 1 means none) */
    double raw;        /* total score */
    double null_raw;   /* score of a detector that never detects */
    double perfect;    /* score of a detector that detects every window at its left edge */
    double normalized; /* 100 (raw - null) / (perfect - null) */
    size_t tp, fp, fn; /* windows detected, detections outside windows, windows missed */
    size_t windows;
};

/* Scores the corpus (files[i] with scores[i], files[i].n values each) at a fixed threshold. */
int vg_nab_score(const struct vg_nab_file *files, const double *const *scores, size_t nfiles,
                 const struct vg_nab_profile *p, double threshold, struct vg_nab_result *out);

/* Chooses the corpus threshold that maximises the profile's total, and scores at it. Returns 0 or
 * -ENOMEM. */
int vg_nab_optimize(const struct vg_nab_file *files, const double *const *scores, size_t nfiles,
                    const struct vg_nab_profile *p, struct vg_nab_result *out);

#endif
