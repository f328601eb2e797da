/* The host models of model.set as the analyzer runs them: the mv model's compute backend, the set
 * of models (vg_models.h), the engine's rules reading their scores (value("host:NAME")), and each
 * message fed to them before the engine scores it. vigil-analyzer (analyzer_models.c) and
 * `vigilctl replay` both run their models through here, so that a replay scores and fires what
 * the analyzer would on the same stream. */
#ifndef VG_MODEL_RUN_H
#define VG_MODEL_RUN_H

#include <stddef.h>

#include "vg_model.h"
#include "vg_wire.h"

struct vg_engine;
struct vg_models;
struct vg_k;

/* The model.* keys (analyzer_model_params). Strings are borrowed and must outlive the run. */
struct vg_model_run_params {
    const char *set;         /* model.set: comma-separated names ("series,mv"); NULL, "" = none */
    const char *backend;     /* model.backend of the mv model: "auto", "cpu" or "cuda" */
    int threads;             /* model.threads of the cpu backend; 0 = OpenBLAS's own choice */
    const char *group_label; /* model.group_label: the host label whose value names its group */
    struct vg_model_env env; /* the rest; engine and k are filled in by vg_model_run_open() */
};

struct vg_model_run {
    struct vg_engine *engine;
    struct vg_models *models; /* NULL: model.set is empty, or the models failed and are off */
    struct vg_k *k;           /* the mv model's backend; NULL when mv does not run */
    const char *group_label;  /* borrowed from the params */
};

/* Opens the backend when the set has mv (vg_k_open logs its choice at info), creates the models
 * of p->set over engine e and lets e's rules read them (vg_engine_set_host_models, with r as
 * their user data: r must not move while open). Checkpoints are not read here: the analyzer
 * resumes them with vg_models_load(r->models). With an empty set, r runs nothing and 0 is
 * returned. 0 or a negative code with err; r is then closed. Release with vg_model_run_close(). */
int vg_model_run_open(struct vg_model_run *r, struct vg_engine *e,
                      const struct vg_model_run_params *p, char *err, size_t errlen);

/* For --check-config: whether vg_model_run_open(p) could open p->backend, probed as it does
 * (vg_k_check) when the set has mv; 0, or its error ("model.backend: CUDA backend unusable:
 * ..."). */
int vg_model_run_check(const struct vg_model_run_params *p, char *err, size_t errlen);

/* Feeds one decoded message (a host's tick) to the models; call it before vg_engine_process(),
 * so that the rules see this tick's scores. A message the engine will skip as a redelivery
 * (vg_engine_is_duplicate) is not fed: the models would learn it twice (nor a second agent's
 * message under the same host name, which the engine refuses too). Returns 0, or a negative
 * code with err when the models failed (backend failure): they are then freed and turned off,
 * and the engine's per-series scoring goes on without them. */
int vg_model_run_feed(struct vg_model_run *r, const struct vg_wire_msg *m, char *err,
                      size_t errlen);

/* Forgets the models' hosts that the engine does not hold: rows resumed from model.dir for hosts
 * whose partitions another analyzer owns, which nothing else would free (a host leaving with its
 * partition or expiring after limits.host_idle is dropped as it goes). Call once the hosts this
 * analyzer owns have had time to arrive. How many rows went. */
size_t vg_model_run_prune(struct vg_model_run *r);

/* Frees the models (without writing checkpoints: see vg_models_save), takes them away from the
 * engine's rules and closes the backend; before the engine is freed. r may be zeroed or already
 * closed. */
void vg_model_run_close(struct vg_model_run *r);

#endif
