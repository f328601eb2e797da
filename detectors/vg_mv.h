/* Multivariate per-host model: a small MLP over a sliding window of all of a host's metrics,
 * shared by the hosts of one group, so one batched call scores (and trains on) every host of the
 * group in a tick. docs/detectors.md argues the design and gives the measurements behind it.
 *
 *   per host: raw tick x (M metrics) -> robust streaming normaliser (centre/scale per metric)
 *             -> window of the last W normalised ticks (W*M inputs)
 *   shared:   MLP W*M -> hidden... -> M, predicting the next tick (VG_MV_FORECAST, default) or
 *             reconstructing the window (VG_MV_AUTOENCODER); Huber loss, Adam, trained online
 *   per host: per-metric residual |z - prediction| divided by its own running scale; the raw
 *             score is the mean of the top_k of those, and the top_k metrics are the attribution.
 *
 * Scores are raw (about 1 on typical ticks, unbounded); calibration into alert thresholds is done
 * elsewhere (SPOT). A new host starts from the group's weights and typical scales, so it scores
 * from its first tick. Missing values (NaN) are neither scored nor learned.
 *
 * Not thread-safe: one thread drives a model.
 */
#ifndef VG_MV_H
#define VG_MV_H

#include <stddef.h>
#include <stdint.h>

#include "vg_k.h"

#define VG_MV_MAX_HIDDEN 4
#define VG_MV_TOPK_MAX   VG_K_TOPK_MAX

enum vg_mv_arch {
    VG_MV_FORECAST = 0,    /* window of W ticks before t -> tick t */
    VG_MV_AUTOENCODER = 1, /* window of W ticks up to t -> the same window; tick t is scored */
};

struct vg_mv_params {
    uint32_t n_metrics; /* M, fixed for the model's life */
    uint32_t window;    /* W ticks */
    enum vg_mv_arch arch;
    uint32_t n_hidden;
    uint32_t hidden[VG_MV_MAX_HIDDEN]; /* layer widths; leaky ReLU between, linear output */
    /* Training. */
    float lr;
    float adam_b1, adam_b2, adam_eps;
    float huber_delta;     /* in normalised units */
    uint32_t train_every;  /* a training step every this many ticks (1 = each tick) */
    uint32_t train_rows;   /* hosts per training step, a round-robin block; 0 = all */
    float train_max_score; /* a host scoring above this in a tick is not learned from then */
    /* Normaliser and scoring (see vg_k.h). */
    struct vg_k_norm norm;
    struct vg_k_score score;
    uint64_t seed; /* weight initialisation and nothing else: same seed, same scores */
};

/* Defaults for m metrics: forecaster, W = 8, hidden {64, 32}, lr 1e-3, Huber delta 3,
 * train every tick on up to 1024 hosts, top_k 3. */
void vg_mv_params_default(struct vg_mv_params *p, uint32_t n_metrics);

/* Checks p; returns 0 or -EINVAL with the offending field named in err. */
int vg_mv_params_check(const struct vg_mv_params *p, char *err, size_t errlen);

struct vg_mv;

/* Creates a model with no hosts, weights drawn from p->seed, on backend k (not owned; it must
 * outlive the model). Free with vg_mv_free(). */
int vg_mv_new(struct vg_mv **out, const struct vg_mv_params *p, struct vg_k *k, char *err,
              size_t errlen);
void vg_mv_free(struct vg_mv *mv);

/* Adds a host; its id is the number of hosts before it (ids are 0..n-1, rows of step()'s x).
 * Returns 0 or -ENOMEM (the model is then as it was, its hosts still stepping). */
int vg_mv_add_host(struct vg_mv *mv, uint32_t *id, char *err, size_t errlen);
uint32_t vg_mv_n_hosts(const struct vg_mv *mv);
const struct vg_mv_params *vg_mv_params(const struct vg_mv *mv);

struct vg_mv_result {
    float score;  /* raw; NaN when the host had no value this tick */
    uint32_t age; /* ticks this host has been stepped, this one included */
    uint32_t n_top;
    int32_t top[VG_MV_TOPK_MAX]; /* metric columns, most anomalous first */
    float top_err[VG_MV_TOPK_MAX];
};

#define VG_MV_SCORE 0 /* score only */
#define VG_MV_TRAIN 1 /* also learn from this tick (every train_every-th call that asks) */

/* On a backend with work queues (CUDA), a step cuts its hosts into blocks of about block_samples
 * values (at most 16 blocks) and overlaps one block's upload with the previous block's compute;
 * 0 turns that off. Every block computes the same function, so results agree with an unblocked
 * step to rounding. The default, 2^21 values (8 MiB of upload), measured best on an H200 at
 * 8,192-16,384 hosts x 512 metrics (docs/detectors.md); a fleet smaller than one block is one
 * block. */
#define VG_MV_BLOCK_SAMPLES (1u << 21)
void vg_mv_set_pipeline(struct vg_mv *mv, uint64_t block_samples);

/* On a backend that can record work (CUDA graphs), a step through vg_mv_tick_buffer() is
 * recorded the first time for each phase of the window's ring and replayed after, as one
 * submission instead of a dozen per block (vg_mv_stats.steps_replayed counts them). A
 * recording is remade when the hosts or the blocks change; a backend that cannot record
 * a step leaves the model stepping unrecorded. On by default; 0 turns it off (for comparison). */
void vg_mv_set_recording(struct vg_mv *mv, int on);

/* The model's own input buffer for the next tick: n_hosts x n_metrics floats of host memory that
 * the backend uploads fastest (page-locked on a GPU: one DMA at the link's speed, where a tick in
 * ordinary memory is first copied through a staging buffer). A caller that writes each tick here
 * and passes x = NULL to vg_mv_step() saves that copy. Owned by the model; adding or removing a
 * host may move it (rows already written are kept), so fetch it again after either. */
float *vg_mv_tick_buffer(struct vg_mv *mv);

/* One tick for every host: x is n_hosts x n_metrics row-major, NaN = missing (a host that did
 * not report gives a row of NaN; its window then holds its centre), or NULL for the tick written
 * into vg_mv_tick_buffer(). Fills res[n_hosts] (may be NULL). Returns 0, or a negative code with
 * a message (a backend failure; the model is then unusable). */
int vg_mv_step(struct vg_mv *mv, const float *x, int flags, struct vg_mv_result *res, char *err,
               size_t errlen);

/* After a step: every host's normalised residual of the newest tick per metric, target minus
 * prediction (in the normaliser's units, before the running residual scale), into out
 * (n_hosts x n_metrics, row-major, caller's buffer); NaN where the value was missing. For callers
 * that weigh or rank all metrics themselves (calibration, attribution beyond top_k). Returns 0
 * or a backend failure with a message. */
int vg_mv_residuals(const struct vg_mv *mv, float *out, char *err, size_t errlen);

/* vg_mv_residuals() and vg_mv_targets() in one: the residuals into res and, where z is not NULL,
 * the targets into z (both n_hosts x n_metrics, caller's buffers), downloading the targets once.
 * Returns 0 or a backend failure with a message. */
int vg_mv_residuals_targets(const struct vg_mv *mv, float *res, float *z, char *err, size_t errlen);

/* After a step: every host's newest tick as the normaliser saw it, (x - centre) / scale per metric
 * (n_hosts x n_metrics into the caller's out; NaN where the value was missing): how far the host
 * now is from its usual state, whatever the forecast. Returns 0 or a backend failure with a
 * message. */
int vg_mv_targets(const struct vg_mv *mv, float *out, char *err, size_t errlen);

struct vg_mv_stats {
    uint64_t ticks;
    uint64_t train_steps;
    uint64_t rows_trained;   /* host-ticks learned from */
    uint64_t rows_skipped;   /* host-ticks not learned from: score above train_max_score */
    double last_loss;        /* mean Huber loss per target of the last training step */
    uint64_t steps_replayed; /* steps queued as one recording (vg_mv_set_recording) */
};
void vg_mv_get_stats(const struct vg_mv *mv, struct vg_mv_stats *out);

/* Floating-point operations one step does for n hosts (scoring alone, and training on rows
 * rows), for benchmarks. */
double vg_mv_flops(const struct vg_mv_params *p, uint32_t n, uint32_t rows);

/* Removes host id: the last host's state moves into its row (the last id is gone). 0 or
 * -ENOENT. */
int vg_mv_remove_host(struct vg_mv *mv, uint32_t id, char *err, size_t errlen);

#endif
