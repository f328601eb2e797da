/* vigil-agent's configuration: the struct and the one table that describes every key. */
#ifndef VG_AGENT_CONFIG_H
#define VG_AGENT_CONFIG_H

#include <stdint.h>

#include "vg_config.h"

struct agent_cfg {
    char *host;
    int64_t interval_ms;
    char *topic;
    char *collectors;
    char *proc_root;
    char *sys_root;
    int cpu_per_cpu;
    char *cgroup_root;
    char *cgroup_select;
    int64_t cgroup_max;
    int64_t fsspace_max;
    char *bpf_btf_cache;
    char *bpf_bpftool;
    struct vg_kvlist labels;
    char *bootstrap_servers;
    struct vg_kvlist kafka;
    int64_t flush_timeout_ms;
    char *spool_dir;
    int64_t spool_max_bytes;
    int64_t spool_max_age_ms;
    int64_t spool_memory_messages;
    int64_t stats_interval_ms;
    char *log_level;
    char *log_format;
    char *user;
    int core_dumps;
    /* Local guard (agent/vg_local.h). */
    char *local_detector;
    char *local_series;
    double local_threshold;
    int64_t local_for_ms;
    int64_t local_resolve_for_ms;
    int64_t local_warmup;
    int64_t local_max_series;
    int64_t local_stale_after_ms;
    int64_t local_series_idle_ms;
    char *local_when;
    int64_t local_outage_after_ms;
    char *local_webhook_url;
    char *local_webhook_url_file;
    char *local_webhook_secret_file;
    int local_webhook_allow_plain_http;
    char *local_webhook_tls_ca_file;
};

extern const struct vg_config_table agent_config_table;

/* What the table cannot say about a loaded config: a topic name Kafka takes, a valid host,
 * collectors that exist, labels the wire format takes (the table's choices already hold log.level,
 * log.format, local.detector and local.when). One check for the start, --check-config and a SIGHUP
 * reload, so none of them accepts what another refuses. 0 or -EINVAL with the first problem in err;
 * a refused label's message starts with where its key or value was written ("FILE:LINE:COL: "), the
 * others are placed by vg_config_locate. */
int agent_config_check(const struct agent_cfg *c, char *err, size_t errlen);

/* Logs what a valid config does that its writer may not expect (a label every alert replaces).
 * Called once the log is set up (log.format, log.level), or by --check-config; at a start, a
 * check and each reload. */
void agent_config_warn(const struct agent_cfg *c);

/* Sets local.webhook.url to the URL in local.webhook.url_file (vg_urlfile_read: one line, read as
 * a secret file, its credential parts scrubbed from logs), when that key is set and the local
 * guard is on (local.detector is not off: the URL is not used otherwise). Called by the start
 * after the privilege drop, by --check-config and by a reload (as `user` then), so that the file
 * is read as the start reads it. 0 or negative errno, err naming the key and the path. */
int agent_read_url_file(struct agent_cfg *c, char *err, size_t errlen);

#endif
