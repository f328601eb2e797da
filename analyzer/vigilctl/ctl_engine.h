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
 * vg_engine_free(). Mistakes in the rules fail with every one of them in err, as does a rule
 * reading a host model that is unknown or not in cfg's model.set (the analyzer refuses those). */
int vg_ctl_engine_new(const struct analyzer_cfg *cfg, const char *rules_dir, struct vg_engine **out,
                      struct vg_rule_set **rules, char *err, size_t errlen);

/* The engine vg_ctl_engine_new() builds runs no host models (model.set): a rule reading one,
 * value("host:mv"), never holds because of that read. Says so on stderr, naming the first read,
 * when rules has any; cmd is the subcommand ("replay"). */
void vg_ctl_warn_host_models(const char *cmd, const struct vg_rule_set *rules);

#endif
