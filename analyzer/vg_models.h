/* The set of host models (detectors/vg_model.h) the analyzer runs: the table of every model,
 * and a set chosen by name ("series,mv") that is fed each host's ticks, checkpointed and asked
 * for scores. */
#ifndef VG_MODELS_H
#define VG_MODELS_H

#include <stddef.h>

#include "vg_model.h"

struct vg_fleet_stats;

extern const struct vg_model_ops vg_model_series;
extern const struct vg_model_ops vg_model_mv;
/* Fills out with the host groups' counters of an "mv" instance. */
void vg_model_mv_stats(void *inst, struct vg_fleet_stats *out);

/* Every host model, NULL-terminated. */
extern const struct vg_model_ops *const vg_models[];
const struct vg_model_ops *vg_model_find(const char *name);

struct vg_models;

/* Checks the host models a rule set reads (value("host:NAME"), vg_rule_set_host_model()): each
 * must be a model of the table above and, when set is not NULL, one model.set runs, or its
 * condition could never hold. Adds one "FILE:LINE:COL: ..." line per bad read to el and returns
 * how many there were. */
struct vg_rule_set;
struct vg_rule_errlist;
size_t vg_models_check_rules(const struct vg_rule_set *rules, const char *set,
                             struct vg_rule_errlist *el);

/* The checks of vg_models_new on set's names alone (unknown, repeated, too many), for
 * --check-config. 0 or -EINVAL with err. */
int vg_models_check_set(const char *set, char *err, size_t errlen);

/* Whether the comma-separated set names model ("mv" in "series, mv"). */
int vg_models_set_has(const char *set, const char *model);

/* Creates the models named in set (comma-separated, e.g. "series,mv"; "" = none). An unknown or
 * repeated name is an error naming the known ones. Free with vg_models_free(). */
int vg_models_new(struct vg_models **out, const char *set, const struct vg_model_env *env,
                  char *err, size_t errlen);
void vg_models_free(struct vg_models *ms);

size_t vg_models_count(const struct vg_models *ms);
const struct vg_model_ops *vg_models_ops(const struct vg_models *ms, size_t i);
/* The instance of model i, for model-specific calls (vg_model_mv_stats). */
void *vg_models_inst(const struct vg_models *ms, size_t i);
/* The instance of the model called name, or NULL when the set does not run it. */
void *vg_models_find(const struct vg_models *ms, const char *name);

/* Feeds one tick of a host to every model. Returns 0 or the first failure (with a message). */
int vg_models_update(struct vg_models *ms, const struct vg_model_tick *t, char *err, size_t errlen);

/* The host's latest score from the model called name: 0, or -ENOENT (no such model in the set,
 * or no score for the host). */
int vg_models_score(const struct vg_models *ms, const char *host, const char *name,
                    struct vg_model_score *out);

/* Checkpoints, and resumes from checkpoints, every model. Save returns 0 or the first error;
 * load returns what was resumed or the first error (refused checkpoints are not errors). */
int vg_models_save(struct vg_models *ms, char *err, size_t errlen);
int vg_models_load(struct vg_models *ms, char *err, size_t errlen);

/* Forgets, in every model, the hosts keep(ud, host) returns 0 for (vg_model_ops.hosts_prune);
 * how many rows went. */
size_t vg_models_hosts_prune(struct vg_models *ms, int (*keep)(void *ud, const char *host),
                             void *ud);

/* Scale-out: every model's state of one host (vg_model_ops.host_save), as blobs for the host's
 * state record (vg_engine_host_export). Fills up to max blobs (type = the model's name, data
 * malloc'd: release with vg_models_host_blobs_free) and returns how many, or -ENOMEM. */
struct vg_engine_blob;
int vg_models_host_save(const struct vg_models *ms, const char *host, struct vg_engine_blob *out,
                        size_t max);
void vg_models_host_blobs_free(struct vg_engine_blob *b, size_t n);
/* Hands a blob to the model it names. 0, -ENOENT (no such model in the set: skipped), or the
 * model's refusal with a message. */
int vg_models_host_load(struct vg_models *ms, const char *host, const struct vg_engine_blob *b,
                        char *err, size_t errlen);
/* Every model forgets host. */
void vg_models_host_drop(struct vg_models *ms, const char *host);

#endif
