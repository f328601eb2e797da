/* The analyzer's host models (vg_models.h): opened from the model.* keys with their compute
 * backend, fed every decoded message, checkpointed, and shown in the API, /metrics and rules. */
#ifndef VG_ANALYZER_MODELS_H
#define VG_ANALYZER_MODELS_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "analyzer.h"

/* Opens the backend (logged), the set of model.set and lets the engine's rules read the models
 * (vg_model_run.h, which `vigilctl replay` runs too), then resumes from model.dir. Call after the
 * engine exists. 0 or a negative code with a message. */
int analyzer_models_open(struct analyzer *a, char *err, size_t errlen);

/* Feeds one decoded message (a host's tick) to the models, unless the engine will skip it as a
 * redelivery; before vg_engine_process, so that rules see this tick's scores. A backend failure
 * turns the models off (logged). Lock held. */
void analyzer_models_feed(struct analyzer *a, const struct vg_wire_msg *m);

/* Writes checkpoints when model.checkpoint_interval has passed, and drops the models' rows of
 * hosts the engine does not hold every limits.host_idle once partitions are assigned (now:
 * vg_mono_ms()). Lock held. */
void analyzer_models_tick(struct analyzer *a, int64_t now);

/* Writes the last checkpoints, frees the models and closes the backend. */
void analyzer_models_close(struct analyzer *a);

/* /metrics: vigil_host_score{host,model} lines (right after the family's header) and the models'
 * counters. Lock held. */
void analyzer_models_metrics(struct analyzer *a, FILE *f);

/* /api/v1/hosts/HOST: {"mv": {"score", "raw", "warm", "ts_ms", "top_metrics": [{"name",
 * "share"}]}, ...} for the models that score the host; a new reference. Lock held. */
json_t *analyzer_models_host_json(struct analyzer *a, const char *host);

/* /api/v1/status "models": {"set", "backend" (the compute backend's description, or null),
 * "mv": {"groups", "hosts", "steps", "checkpoints_loaded", "checkpoints_refused", "resets",
 * "ticks_queued"} (only with mv)}, or JSON null when model.set is empty; a new reference. Lock
 * held. */
json_t *analyzer_models_status_json(struct analyzer *a);

#endif
