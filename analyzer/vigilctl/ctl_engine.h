/* The analyzer's scoring as vigilctl runs it offline (replay, report FILE): the analyzer's
 * config file and --set overrides, and an engine (and for replay its host models) built from them
 * the way vigil-analyzer builds its own, so a replay fires the alerts the live analyzer would. */
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

struct vg_model_run;

/* Runs cfg's host models (model.set) over e as vigil-analyzer runs them (vg_model_run.h: same
 * code, same model.* keys) when rules read one (value("host:mv")); otherwise r runs none, as
 * nothing would read them. Two differences, so that an offline run neither depends on nor
 * disturbs a live analyzer: the models start fresh (model.dir is neither read nor written), and
 * the mv model's backend is the CPU unless model.backend is set (config file, environment or
 * --set), which needs no GPU and takes none from an analyzer running beside it. Feed each message
 * with vg_model_run_feed() before vg_engine_process(). 0 or a negative code with err; r is zeroed
 * first, and released with vg_model_run_close() before vg_engine_free(). */
int vg_ctl_models_open(const struct analyzer_cfg *cfg, const struct vg_rule_set *rules,
                       struct vg_engine *e, struct vg_model_run *r, char *err, size_t errlen);

/* For a command that runs no host models (report): a rule reading one, value("host:mv"), never
 * holds because of that read. Says so on stderr, naming the first read, when rules has any; cmd
 * is the subcommand ("report"). */
void vg_ctl_warn_host_models(const char *cmd, const struct vg_rule_set *rules);

#endif
