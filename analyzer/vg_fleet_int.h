/* vg_fleet's internals, shared by vg_fleet.c (groups, queues, steps, hosts moving) and
 * vg_fleet_ckpt.c (a group's checkpoint file out and in). Not part of the API: include vg_fleet.h
 * or vg_fleet_ckpt.h. */
#ifndef VG_FLEET_INT_H
#define VG_FLEET_INT_H

#include "vg_fleet.h"
#include "vg_strmap.h"

struct vg_colsel;

/* A host's last host score (vg_fleet_params.host_score). */
struct hs_last {
    int rc;
    double score, raw;
    uint32_t n;
    int32_t top[VG_MV_TOPK_MAX];
    double val[VG_MV_TOPK_MAX];
};

struct group {
    char *name;
    struct vg_mv *mv;
    uint32_t m;
    char **cols;             /* m metric names, in column order (vg_colsel) */
    struct vg_strmap colmap; /* name -> (uintptr_t)(column + 1) */
    char **hosts;            /* row -> host name (owned) */
    uint32_t n, cap;
    uint64_t emptied; /* when its last host left, in drops (vg_fleet.drops): first freed first */
    /* Each row's queue: a ring of D ticks (qx: cap x D x m values, NaN = missing; qts: their
     * event times), qlen of them from qhead. */
    uint32_t D;
    float *qx;
    int64_t *qts;
    uint32_t *qhead, *qlen;
    unsigned char *absent; /* no tick in the last step and none since: not waited for */
    /* Between two of its ticks by its own interval: not waited for, and not absent when a step
     * goes without it (a host with a longer interval than its group's; see rest_or_wait). */
    unsigned char *resting;
    uint32_t n_waiting;      /* rows neither absent, resting nor with a tick queued */
    uint32_t n_queued;       /* rows with a tick queued: something to step */
    unsigned char *reported; /* the row had a tick in this step */
    int64_t *last_ts;        /* event time of each row's last stepped tick */
    /* When a row is next due (rest_or_wait): the event time of its newest tick taken, its
     * interval between ticks (EWMA of its own event times, so neither clock skew nor phase
     * between hosts matters; 0 = not known yet), and the event time the group's steps covered
     * since its last tick was stepped (each step's by the stepped hosts' own clocks). */
    int64_t *push_ts;
    double *tick_ms;
    double *since;
    double step_ms;   /* the event time a step covers (EWMA, step_group); 0 = not known yet */
    int64_t front_ts; /* the oldest event time in the last step; 0 = none */
    struct vg_mv_result *res, *last; /* this step's results; each host's last reported one */
    /* Host scores (host_score): one vg_hscore per row, its last result, the step's residuals
     * and normalised values (cap x m each, the latter for the state term) and a row of blame
     * (m). */
    struct vg_hscore *hs;
    struct hs_last *hl;
    float *resid, *z;
    double *bl;
    /* Names of metrics its hosts sent that it does not model, logged once each (a collector or
     * a disk added after the group was made); at most VG_FLEET_IGNORED_MAX of them. */
    struct vg_strmap ignored;
    /* Loaded from a checkpoint written under another model.top_k (that top_k, else 0): the host
     * scores that state records carry were fitted on the mean of those errors and nothing in a
     * record says which top_k, so imported hosts learn their calibration again for as long as
     * the group lives in this process. calib_logged: that was logged (once per group). */
    uint32_t calib_top_k;
    unsigned char calib_logged;
};

#define VG_FLEET_IGNORED_MAX 256

struct hostref {
    struct group *g;
    uint32_t row;
};

struct vg_fleet {
    struct vg_fleet_params p;
    uint64_t drops;        /* hosts dropped so far: the order groups emptied in */
    struct vg_colsel *sel; /* p.metrics, parsed */
    char *dir;
    struct vg_k *k;
    vg_fleet_score_fn fn;
    void *ud;
    struct vg_strmap groups; /* name -> struct group * */
    struct vg_strmap hosts;  /* name -> struct hostref * */
    /* found_on_second_tick: hosts seen once for a group that did not exist (name -> (void *)1);
     * an entry goes when its host gets a row. */
    struct vg_strmap first_seen;
    struct vg_fleet_stats st;
};

/* A group shell with its columns (cols and its m names become the group's); the model is made by
 * the caller (new or from a checkpoint). NULL when out of memory. Freed by vg_fleet_free_group. */
struct group *vg_fleet_group_alloc(const char *name, char **cols, uint32_t m, uint32_t D);
/* Frees a group, its model and its rows (v: a struct group *, NULL allowed). */
void vg_fleet_free_group(void *v);
/* Adds host as the group's next row, with its queue, host score and entry in f's host map (the
 * caller adds its row to the model). 0, or -ENOMEM with err. */
int vg_fleet_add_row(struct vg_fleet *f, struct group *g, const char *host, char *err,
                     size_t errlen);

#endif
