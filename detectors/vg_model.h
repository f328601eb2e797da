/* Host models: what the analyzer runs per host beside (or over) the per-series detectors of
 * vg_detector.h. A host model takes one tick of a host (all its metrics of one message) and gives
 * the host one score in [0,1] with the metrics that contributed most ("disk_wa and load_1").
 *
 * Each model is a struct of callbacks; the analyzer keeps a table of them (vg_models[] in
 * analyzer/vg_models.c, where the implementations live because they use the analyzer's engine
 * and host groups) and runs the set named by its config key model.set. docs/detectors.md says
 * which model does what behind this interface.
 *
 * Not thread-safe: the analyzer's consumer thread drives the models, API readers hold its lock.
 */
#ifndef VG_MODEL_H
#define VG_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "vg_wire.h"

#define VG_MODEL_TOP_MAX 8

struct vg_engine;
struct vg_k;

/* What a model may use; everything is borrowed and outlives the model. */
struct vg_model_env {
    const struct vg_engine *engine; /* the per-series scores (model "series") */
    struct vg_k *k;                 /* compute backend of batched models (model "mv") */
    const char *dir;                /* checkpoint directory; NULL = no checkpoints */
    uint32_t window;                /* ticks of history a multivariate model looks at */
    uint32_t max_metrics;           /* metrics per host group at most */
    const char *metrics; /* which metrics a group's model takes, in what order (model "mv";
                            analyzer/vg_colsel.h); NULL = all, by name */
    uint32_t max_hosts;
    uint32_t max_groups;
    uint32_t top_k;       /* metrics averaged into a raw score, and named as its attribution */
    uint32_t calib_init;  /* warm scores a host's calibration learns before it scores */
    double state_weight;  /* weight of the host score's state term (model "mv"; 0 = off) */
    uint32_t norm_ticks;  /* ticks the normaliser averages over (model "mv"); 0 = its default */
    uint32_t queue_ticks; /* ticks a host may be ahead of its group (model "mv"); 0 = 1 */
    int train;            /* learn online */
    uint64_t seed;
};

/* One tick of one host. */
struct vg_model_tick {
    const char *host;
    const char *group; /* host group whose hosts share a model; NULL = "default" */
    int64_t ts_ms;     /* event time */
    const struct vg_metric *metrics;
    size_t n_metrics;
};

/* A host's latest score. Strings are borrowed from the model (or the engine) and valid until its
 * next update. */
struct vg_model_score {
    double score; /* calibrated, in [0,1]; 0 while not warm */
    double raw;   /* the model's own unit; NaN when the host has no score yet */
    int warm;     /* the model has seen enough of this host for score to mean something */
    int64_t ts_ms;
    uint32_t n_top;
    const char *top[VG_MODEL_TOP_MAX];  /* metric names, most contributing first */
    double top_share[VG_MODEL_TOP_MAX]; /* each one's share of the anomaly, in [0,1] */
};

struct vg_model_ops {
    const char *name;
    const char *help;
    /* Creates an instance in *inst (freed by destroy). 0 or a negative code with a message. */
    int (*create)(void **inst, const struct vg_model_env *env, char *err, size_t errlen);
    /* Learns and scores one tick of a host (a batched model may score it a little later, when
     * its group's tick is complete). Returns 0, or a negative code with a message when the model
     * can no longer run (backend failure). */
    int (*update)(void *inst, const struct vg_model_tick *t, char *err, size_t errlen);
    /* The host's latest score: 0, or -ENOENT when the model has none for it. */
    int (*score)(void *inst, const char *host, struct vg_model_score *out);
    /* Checkpoints to env->dir (nothing without one). 0 or a negative code with a message. */
    int (*save)(void *inst, char *err, size_t errlen);
    /* Resumes from env->dir. A checkpoint that is corrupt or of another shape is refused with
     * its reason logged, and that part starts fresh; only an unreadable directory is an error.
     * Returns what was resumed (>= 0) or a negative code with a message. */
    int (*load)(void *inst, char *err, size_t errlen);
    void (*destroy)(void *inst);
    /* Scale-out (analyzer/vg_state_topic.c): one host's own state, carried in its record of the
     * state topic when its partition moves to another analyzer. All three are optional: NULL
     * means the model keeps nothing per host that it could not rebuild (model "series").
     * host_save: a malloc'd blob in *out (the caller frees it) and its format version in
     * *version; 0, -ENOENT (nothing for this host yet) or -ENOMEM. */
    int (*host_save)(void *inst, const char *host, unsigned char **out, size_t *len,
                     uint32_t *version);
    /* Continues host from such a blob, replacing what the model had of it. A blob of another
     * version, size or model shape is refused (negative code, message) and the host starts
     * fresh in this model. */
    int (*host_load)(void *inst, const char *host, uint32_t version, const unsigned char *buf,
                     size_t len, char *err, size_t errlen);
    /* Forgets host: its partition now belongs to another analyzer. */
    void (*host_drop)(void *inst, const char *host);
    /* Forgets every host keep(ud, host) returns 0 for (hosts of model.dir's checkpoints that
     * this analyzer does not hold); how many went. Optional, as the three above. */
    size_t (*hosts_prune)(void *inst, int (*keep)(void *ud, const char *host), void *ud);
};

#endif
