/* The analyzer's scoring as vigilctl runs it offline (replay, report FILE): the analyzer's
 * config file and --set overrides, and an engine built from them the way vigil-analyzer builds
 * its own, so a replay fires the alerts the live analyzer would. */
#ifndef VG_CTL_ENGINE_H
#define VG_CTL_ENGINE_H

#include <stddef.h>

#include "analyzer_config.h"
#include "vg_engine.h"

#define VG_CTL_MAX_SETS 64

/* Loads defaults, path (NULL: none), the environment and sets[0..n). On success the caller
 * releases cfg with vg_config_free(&analyzer_config_table, cfg). */
int vg_ctl_load_config(struct analyzer_cfg *cfg, const char *path, char *const *sets, size_t n,
                       char *err, size_t errlen);

/* Creates the engine (detector.*, alert.*, limits.*) of cfg. Free with vg_engine_free(). */
int vg_ctl_engine_new(const struct analyzer_cfg *cfg, struct vg_engine **out, char *err,
                      size_t errlen);

#endif
