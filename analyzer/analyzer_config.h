/* vigil-analyzer's configuration: the struct and the one table that describes every key. */
#ifndef VG_ANALYZER_CONFIG_H
#define VG_ANALYZER_CONFIG_H

#include <stdint.h>

#include "vg_config.h"
#include "vg_detector.h"

struct analyzer_cfg {
    char *topic;
    char *group_id;
    char *bootstrap_servers;
    struct vg_kvlist kafka;
    int64_t max_message_bytes;
    int64_t commit_interval_ms;
    int64_t stats_interval_ms;
    char *detector_model;
    double detector_alpha;
    double detector_alpha_outlier;
    int64_t detector_warmup;
    double detector_clip;
    double detector_min_std_abs;
    double detector_min_std_rel;
    int64_t detector_season_ms;
    int64_t detector_smooth;
    double detector_calib_q;
    int64_t detector_calib_init;
    int64_t detector_lik_short;
    int64_t detector_lik_long;
    int64_t detector_lik_mode;
    int detector_prof;
    int detector_weekly;
    double detector_cusum;
    int64_t detector_refractory;
    double detector_escalation;
    double alert_threshold;
    int64_t alert_for_ms;
    int64_t alert_resolve_for_ms;
    int64_t alert_stale_after_ms;
    int64_t alert_host_silent_ms;
    int64_t series_idle_ms;
    int64_t host_idle_ms;
    char *alert_series;
    char *alert_severity;
    char *alert_group_by;
    int64_t alert_group_wait_ms;
    int64_t alert_repeat_interval_ms;
    char *rules_dir;
    char *silences_file;
    char *decisions_topic;
    char *decisions_partials_topic;
    char *decisions_webhook_url;
    char *decisions_webhook_url_file;
    char *decisions_webhook_secret_file;
    int64_t decisions_restore_ms;
    int64_t decisions_rejoin_initial_ms, decisions_rejoin_max_ms;
    char *webhook_url;
    char *webhook_url_file;
    char *webhook_secret_file;
    double webhook_rate;
    char *alertmanager_url;
    char *alertmanager_url_file;
    char *alertmanager_generator_url;
    int64_t alertmanager_resend_ms;
    double alertmanager_rate;
    char *pagerduty_url;
    char *pagerduty_routing_key_file;
    double pagerduty_rate;
    char *slack_url;
    char *slack_url_file;
    double slack_rate;
    char *allowed_urls;
    int allow_plain_http;
    char *tls_ca_file;
    char *outbox_dir;
    char *user;
    int core_dumps;
    int64_t outbox_max_bytes;
    int64_t webhook_timeout_ms;
    int64_t webhook_connect_timeout_ms;
    int64_t webhook_max_attempts;
    int64_t webhook_max_age_ms;
    int64_t webhook_backoff_initial_ms;
    int64_t webhook_backoff_max_ms;
    int64_t webhook_queue_max;
    int64_t max_hosts;
    int64_t max_series_per_host;
    int64_t embedded_partitions;
    int64_t embedded_brokers;
    int64_t drain_timeout_ms;
    int64_t history_window_ms;
    int64_t history_resolution_ms;
    int64_t history_max_bytes;
    char *http_listen;
    char *http_token_file;
    int64_t http_max_body;
    int64_t http_max_conns;
    double http_rate;
    char *log_level;
    char *log_format;
    char *state_topic;
    int64_t state_checkpoint_ms;
    int64_t state_checkpoint_timeout_ms;
    int64_t state_restore_timeout_ms;
    /* Host models (analyzer_models.c). */
    char *model_set;
    char *model_backend;
    char *model_dir;
    int64_t model_checkpoint_ms;
    char *model_group_label;
    int64_t model_window;
    int64_t model_threads;
    int64_t model_top_k;
    int64_t model_calib_init;
    double model_state_weight;
    int64_t model_norm_ticks;
    int64_t model_max_metrics;
    int64_t model_max_groups;
    char *model_metrics;
    int64_t model_queue_ticks;
    int model_train;
};

extern const struct vg_config_table analyzer_config_table;

/* The per-series detector's settings from the detector.* keys; the analyzer and `vigilctl eval`
 * both take them from here, so an evaluation measures what the analyzer runs. */
void analyzer_detector_params(const struct analyzer_cfg *c, struct vg_detector_params *dp);

struct vg_engine_params;

/* The engine's settings (detector.*, alert.*, limits.*) from c, for the analyzer and vigilctl's
 * replay alike, so a replay fires what the analyzer would. no_builtin: rule files replace the
 * built-in per-series rule. 0, or -EINVAL when detector.model names no detector, which the
 * key's choices make a programming error (the table and vg_detectors[] out of step). */
int analyzer_engine_params(const struct analyzer_cfg *c, int no_builtin, struct vg_engine_params *p,
                           char *err, size_t errlen);

struct vg_model_run_params;

/* The host models' settings (model.*, and limits.max_hosts) from c, for the analyzer and
 * vigilctl's replay alike (vg_model_run.h). The strings are c's: p lives no longer than c. */
void analyzer_model_params(const struct analyzer_cfg *c, struct vg_model_run_params *p);

/* Checks every receiver URL the config enables against actions.allowed_urls and
 * actions.allow_plain_http, and that actions.tls_ca_file is readable PEM (docs/security.md).
 * 0, or -EINVAL/-EACCES with err naming the key and the URL. */
int analyzer_check_urls(const struct analyzer_cfg *c, char *err, size_t errlen);

/* Sets each receiver URL whose *.url_file is set (webhook.url_file, ...) to the file's one line,
 * trimmed, read as a secret (vg_secret_read: mode checked, never logged) and registered for log
 * scrubbing: a URL that carries its credential (Slack's path, user:password, ?token=) need not
 * sit in the world-readable config. 0, or negative errno with err naming the key and the path;
 * both the URL and its file set is -EINVAL. Call it before analyzer_check_urls. */
int analyzer_read_url_files(struct analyzer_cfg *c, char *err, size_t errlen);

/* Warns (vg_warn) about each receiver URL written in a config file others may read
 * whose URL looks like a credential: slack.url always (its path is the credential), any other
 * with user:password@ or a query parameter named like a token (token, key, secret, password,
 * sig, auth). Returns how many it warned about. */
int analyzer_warn_inline_urls(const struct analyzer_cfg *c);

/* The receivers c enables, by the names a rule's `actions` use ("webhook", "alertmanager",
 * "pagerduty", "slack"): main.c's open_receivers() starts exactly these. Returns how many. */
size_t analyzer_receivers(const struct analyzer_cfg *c, const char *names[4]);

struct vg_rule_set;
struct vg_rule_errlist;

/* Adds a "FILE:LINE:COL: ..." line to el for each action of set that names a receiver c does
 * not enable, and returns how many: the analyzer refuses such rules, and `vigilctl rules check
 * -c` says so as the analyzer would. */
size_t analyzer_check_rule_actions(const struct analyzer_cfg *c, const struct vg_rule_set *set,
                                   struct vg_rule_errlist *el);

#endif
