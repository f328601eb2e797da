/* The analyzer's scoring as vigilctl runs it offline (replay, report FILE): the analyzer's
 * config file and --set overrides, and an engine built from them the way vigil-analyzer builds
 * its own, so a replay fires the alerts the live analyzer would. */
#ifndef VG_CTL_ENGINE_H
#define VG_CTL_ENGINE_H

#include <stddef.h>

#include "analyzer_config.h"
#include "vg_engine.h"

/* Loads defaults, path (NULL: none), the environment and sets[0..n). On success the caller
 * releases cfg with vg_config_free(&analyzer_config_table, cfg). */
int vg_ctl_load_config(struct analyzer_cfg *cfg, const char *path, char *const *sets, size_t n,
                       char *err, size_t errlen);

struct vg_rule_set;

/* Creates the engine (detector.*, alert.*, limits.*) of cfg. With a rules directory (rules_dir,
 * else cfg's rules.dir; NULL and "" mean none) its rules replace the built-in rule, as in the
 * analyzer; *rules then holds the set, which the caller frees with vg_rule_set_free() after
 * vg_engine_free(). Mistakes in the rules fail with every one of them in err. */
int vg_ctl_engine_new(const struct analyzer_cfg *cfg, const char *rules_dir, struct vg_engine **out,
                      struct vg_rule_set **rules, char *err, size_t errlen);

#endif
