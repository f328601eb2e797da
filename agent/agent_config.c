#include "agent_config.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vg_collector.h"
#include "vg_kafka.h"
#include "vg_log.h" /* VG_LOG_LEVEL_CHOICES */
#include "vg_urlfile.h"
#include "vg_util.h"
#include "vg_wire.h"

#define OFF(f)  offsetof(struct agent_cfg, f)
#define NOBOUND 1, 0

VG_CFG_KEYS_BEGIN
static const struct vg_cfg_key keys[] = {
    {"host", VG_CFG_STRING, NULL, OFF(host), NOBOUND, "VIGIL_HOST",
     "host name sent with every message and used as the Kafka key; default: the system host "
     "name, with characters outside [A-Za-z0-9._-] replaced by '-'"},
    {"interval", VG_CFG_DURATION, "1s", OFF(interval_ms), 100, 3600000, NULL,
     "collection interval; one message per interval"},
    {"topic", VG_CFG_STRING, "vigil.metrics", OFF(topic), NOBOUND, NULL,
     "Kafka topic the metrics are produced to: at most 249 letters, digits, '.', '_' and '-'. "
     "Create it before the agents start (docs/install.md): while it does not exist their messages "
     "wait in the spool"},
    {"collectors", VG_CFG_STRING,
     "cpu,mem,load,disk,net,vmstat,psi,netstat,fs,fsspace,cgroup,bpf_runqlat,bpf_biolat,"
     "bpf_tcp,bpf_proc_events",
     OFF(collectors), NOBOUND, NULL,
     "comma-separated collectors to run (vigil-agent --list-collectors); bpf_syscall_errors is "
     "off by default because hooking every syscall exit costs about 150 ns per syscall "
     "(docs/ebpf.md); the bpf_* ones need root or the capabilities in the systemd unit"},
    {"proc_root", VG_CFG_STRING, "/proc", OFF(proc_root), NOBOUND, NULL,
     "where procfs is mounted (tests point this at recorded fixtures)", NULL, VG_CFG_F_ABS_PATH},
    {"sys_root", VG_CFG_STRING, "/sys", OFF(sys_root), NOBOUND, NULL, "where sysfs is mounted",
     NULL, VG_CFG_F_ABS_PATH},
    {"cpu.per_cpu", VG_CFG_BOOL, "false", OFF(cpu_per_cpu), NOBOUND, NULL,
     "cpu collector: also send the CPU shares of each CPU (`cpu.<n>.*`, 8 metrics per CPU)"},
    {"cgroup.root", VG_CFG_STRING, "auto", OFF(cgroup_root), NOBOUND, NULL,
     "cgroup collector: the cgroup v2 hierarchy; auto: `sys_root`/fs/cgroup when it is one "
     "(has cgroup.controllers), else `sys_root`/fs/cgroup/unified",
     NULL, VG_CFG_F_ABS_PATH},
    {"cgroup.select", VG_CFG_STRING, "system.slice/*", OFF(cgroup_select), NOBOUND, NULL,
     "cgroup collector: comma-separated shell globs of cgroup paths below cgroup.root, one "
     "level of directories per '/', e.g. `system.slice/*,kubepods.slice/*/*`"},
    {"cgroup.max", VG_CFG_INT, "100", OFF(cgroup_max), 1, 1000, NULL,
     "cgroup collector: cgroups reported at most (the first by name); each costs up to 7 file "
     "reads per tick, through descriptors held open. Fewer are reported where the tick's message "
     "would pass the size Kafka takes (docs/wire-format.md)"},
    {"fsspace.max", VG_CFG_INT, "64", OFF(fsspace_max), 1, 1000, NULL,
     "fsspace collector: local file systems reported at most (the first in /proc/self/mountinfo, "
     "one statfs() each per tick); more are left out and the log says how many. Fewer are "
     "reported where the tick's message would pass the size Kafka takes (docs/wire-format.md)"},
    {"bpf.btf_cache", VG_CFG_STRING, "/var/lib/vigil/btf", OFF(bpf_btf_cache), NOBOUND, NULL,
     "bpf_* collectors: directory for the minimal kernel BTF files made with `bpftool gen "
     "min_core_btf` (one per collector and kernel, a few KB each), so that loading does not parse "
     "the whole kernel BTF (about 12 MiB of peak memory); created when its parent exists; empty: "
     "always load with the whole kernel BTF",
     NULL, VG_CFG_F_ABS_PATH},
    {"bpf.bpftool", VG_CFG_STRING, "bpftool", OFF(bpf_bpftool), NOBOUND, NULL,
     "bpf_* collectors: the bpftool used for bpf.btf_cache, a path or a name looked up in PATH, "
     "/usr/sbin and /sbin; without it the agent loads with the whole kernel BTF"},
    {"labels", VG_CFG_MAP, NULL, OFF(labels), NOBOUND, NULL,
     "labels sent with every message, e.g. labels: {env: prod, role: db}; alerts set host, "
     "series, alertname, severity and vigil_source themselves, over a label of that name "
     "(warned)"},
    {"bootstrap_servers", VG_CFG_STRING, "localhost:9092", OFF(bootstrap_servers), NOBOUND,
     "VIGIL_BOOTSTRAP_SERVERS",
     "Kafka bootstrap servers (host:port,...); kafka.bootstrap.servers wins if both are set"},
    {"kafka", VG_CFG_MAP, NULL, OFF(kafka), NOBOUND, NULL,
     "librdkafka producer properties, passed through (security.protocol, sasl.*, ssl.*, ...)"},
    {"flush_timeout", VG_CFG_DURATION, "10s", OFF(flush_timeout_ms), 0, 600000, NULL,
     "on SIGTERM, how long to wait for queued messages to be delivered before what is left goes "
     "to the spool; 14s or more is warned about: the packaged unit's TimeoutStopSec=20s would "
     "kill the agent before that, and librdkafka's queue would be lost"},
    {"spool.dir", VG_CFG_STRING, "/var/lib/vigil/spool", OFF(spool_dir), NOBOUND, NULL,
     "where messages wait, in order, while Kafka cannot take them (docs/reliability.md); "
     "created when its parent exists; empty: no spool (messages librdkafka cannot deliver "
     "within message.timeout.ms are lost, and counted). One the agent cannot use leaves it "
     "running without a spool (logged once, `spool off`): --check-config tries it as `user` and "
     "refuses it (warns, for this default). The packaged unit can write only /var/lib/vigil: a "
     "spool.dir elsewhere needs ReadWritePaths= in a drop-in (docs/install.md)",
     NULL, VG_CFG_F_ABS_PATH},
    {"spool.max_bytes", VG_CFG_SIZE, "256MiB", OFF(spool_max_bytes), 1048576, 17179869184.0, NULL,
     "disk the spool may use (1MiB to 16GiB, in segment files of a sixteenth of it, 64KiB to "
     "4MiB, 8192 files at most); when full its oldest segments are dropped whole, logged and "
     "counted, and at a start over a lowered limit likewise (docs/reliability.md). The agent "
     "keeps 4 bytes and a bit in memory per spooled message: about 1/66 of this with the "
     "smallest ticks (one collector), 1/960 with the default collectors"},
    {"spool.max_age", VG_CFG_DURATION, "6h", OFF(spool_max_age_ms), 0, 31536000000.0, NULL,
     "spooled messages older than this are dropped (counted) instead of sent; so are local "
     "firings: one this old that fails an attempt is not retried (logged, counted in "
     "local_failed), but never a resolve, nor a firing kept in spool.dir/local.outbox whose "
     "alert the next start still holds as firing (its age counts from that start); 0: no limit"},
    {"spool.memory_messages", VG_CFG_INT, "60", OFF(spool_memory_messages), 1, 100000, NULL,
     "undelivered messages librdkafka may hold in memory before new ones go to the spool"},
    {"stats_interval", VG_CFG_DURATION, "60s", OFF(stats_interval_ms), 1000, 86400000, NULL,
     "how often counters are logged"},
    {"log.level", VG_CFG_STRING, "info", OFF(log_level), NOBOUND, "VIGIL_LOG_LEVEL",
     "least severe level logged", VG_LOG_LEVEL_CHOICES},
    {"log.format", VG_CFG_STRING, "logfmt", OFF(log_format), NOBOUND, NULL,
     "log line format: `logfmt` (key=value) or `json` (one object per line)", "logfmt|json"},
    {"user", VG_CFG_STRING, "vigil", OFF(user), NOBOUND, NULL,
     "started as root: the user the agent becomes once its eBPF programs are loaded; it must "
     "exist (spool.dir and, with bpf_* collectors, bpf.btf_cache are given to it; --once, which "
     "stays root, gives it bpf.btf_cache too); empty: stays uid 0. Either way only CAP_BPF is "
     "kept, and "
     "only when this kernel needs it to read BPF maps, no_new_privs is set and the one log line "
     "`privileges dropped` says what was kept (docs/security.md). --check-config started as root "
     "opens the config file, spool.dir and the local webhook's files as this user"},
    {"core_dumps", VG_CFG_BOOL, "false", OFF(core_dumps), NOBOUND, NULL,
     "let the agent be dumped: a core file when it crashes, and processes of its user may attach "
     "to it and read its memory (gdb -p, /proc/PID/mem, environ). false: not dumpable from its "
     "start and after the privilege drop, as it holds the Kafka credentials and the local "
     "webhook's URL and key (docs/security.md); root may still attach. For debugging only"},
    {"local.detector", VG_CFG_STRING, "ewma", OFF(local_detector), NOBOUND, NULL,
     "local guard: the per-series model the agent runs on its own metrics, so that the host can "
     "still raise an alert while Kafka is down (docs/reliability.md): `ewma` (152 bytes, about "
     "290 bytes per series with its alert state), `seasonal` (about 29 KB per series, the "
     "analyzer's time-of-day model) or `off`",
     "ewma|seasonal|off"}, /* vg_detectors[] and off; test_config_tables holds them together */
    {"local.series", VG_CFG_STRING, "", OFF(local_series), NOBOUND, NULL,
     "local guard: comma-separated shell globs of the metric names it scores, e.g. "
     "`cpu.*,mem.available_bytes,load.1m` (at most 32); empty: every metric of the tick. A "
     "pattern that matches no metric of the agent's second tick is logged"},
    {"local.threshold", VG_CFG_DOUBLE, "0.9999", OFF(local_threshold), 0.5, 1, NULL,
     "local guard: score at or above which a series counts as anomalous, from 0.5 to 1 (below "
     "0.5 most ordinary values would count, and 0 would fire every series for good, as for "
     "alert.threshold); stricter than the analyzer's alert.threshold (0.999), as the agent "
     "sees one host only"},
    {"local.for", VG_CFG_DURATION, "5s", OFF(local_for_ms), 0, 86400000, NULL,
     "local guard: how long the score must stay at or above local.threshold before the alert "
     "fires (event time; a step longer than local.stale_after restarts the wait)"},
    {"local.resolve_for", VG_CFG_DURATION, "10s", OFF(local_resolve_for_ms), 0, 86400000, NULL,
     "local guard: how long the score must stay below local.threshold before a firing alert "
     "resolves"},
    {"local.warmup", VG_CFG_INT, "20", OFF(local_warmup), 2, 1000000, NULL,
     "local guard: values each series learns from before it is scored"},
    {"local.max_series", VG_CFG_INT, "1000", OFF(local_max_series), 1, 1000000, NULL,
     "local guard: series scored at most (the first seen); further ones are logged once and "
     "counted in local_refused (those of the last tick)"},
    {"local.stale_after", VG_CFG_DURATION, "5m", OFF(local_stale_after_ms), 0, 86400000, NULL,
     "local guard: a series the agent stopped sending (a cgroup gone) is stale after this long "
     "(at least 3 intervals): its firing local alert resolves. Also the longest step between "
     "two values that local.for and local.resolve_for count; 0 = never"},
    {"local.series_idle", VG_CFG_DURATION, "1h", OFF(local_series_idle_ms), 0, 31536000000.0, NULL,
     "local guard: a series not sent for this long (at least 10 intervals) is forgotten, so "
     "names that come and go do not fill local.max_series; 0 = never"},
    {"local.when", VG_CFG_STRING, "outage", OFF(local_when), NOBOUND, NULL,
     "local guard: when a firing local alert is sent to local.webhook.url. `outage`: only while "
     "Kafka is not taking this agent's messages, that is messages are waiting (in memory or the "
     "spool, not held back by a read error of the spool) or were lost (refused for good by Kafka, "
     "or too large) and no delivery has "
     "succeeded for local.outage_after; an alert firing when that begins is sent then. `always`: "
     "every local alert. A sent alert's resolve is always sent, also after a restart of the "
     "agent: the sent alerts are kept in spool.dir/local-alerts, and notifications not yet "
     "delivered in spool.dir/local.outbox, sent first by the next start (without a spool a "
     "restart forgets both)",
     "outage|always"},
    {"local.outage_after", VG_CFG_DURATION, "30s", OFF(local_outage_after_ms), 1000, 86400000, NULL,
     "local guard: how long messages must wait, or go on being lost, without a successful "
     "delivery before Kafka counts as down (local.when=outage)"},
    {"local.webhook.url", VG_CFG_STRING, NULL, OFF(local_webhook_url), NOBOUND,
     "VIGIL_LOCAL_WEBHOOK_URL",
     "local guard: generic webhook (docs/alerts.md) local alerts are POSTed to, labelled "
     "vigil_source=agent; `https://`, or `http://` to loopback (local.webhook.allow_plain_http "
     "for others); unset: local alerts are only logged and counted. Setting it loads the "
     "delivery module libvigil-agent-webhook.so (libcurl; about 6 MiB more resident memory, "
     "mostly shared library pages)",
     NULL, VG_CFG_F_URL_CREDS},
    {"local.webhook.url_file", VG_CFG_STRING, NULL, OFF(local_webhook_url_file), NOBOUND,
     "VIGIL_LOCAL_WEBHOOK_URL_FILE",
     "local guard: file holding local.webhook.url (one line, trimmed, read like a secret file "
     "after the privilege drop: readable by `user`), for a URL that carries a credential "
     "(user:password, ?token=): the config is readable by all; logs show scheme://host:port/... "
     "only; set one of the two",
     NULL, VG_CFG_F_ABS_PATH},
    {"local.webhook.secret_file", VG_CFG_STRING, NULL, OFF(local_webhook_secret_file), NOBOUND,
     NULL,
     "local guard: file holding the HMAC-SHA256 key for X-Vigil-Signature, read after the "
     "privilege drop (readable by `user`); unset: requests are not signed",
     NULL, VG_CFG_F_ABS_PATH},
    {"local.webhook.allow_plain_http", VG_CFG_BOOL, "false", OFF(local_webhook_allow_plain_http),
     NOBOUND, NULL,
     "local guard: allow an `http://` local.webhook.url to a host other than loopback"},
    {"local.webhook.tls_ca_file", VG_CFG_STRING, NULL, OFF(local_webhook_tls_ca_file), NOBOUND,
     NULL, "local guard: PEM CA bundle trusted for local.webhook.url in addition to the system's",
     NULL, VG_CFG_F_ABS_PATH},
};
VG_CFG_KEYS_END

const struct vg_config_table agent_config_table = {keys, sizeof(keys) / sizeof(keys[0])};

static int check_collectors(const char *names, char *err, size_t errlen)
{
    char *list = strdup(names), *save = NULL;
    if (!list)
        return vg_err(err, errlen, -ENOMEM, "out of memory");
    int rc = 0;
    const struct vg_collector *seen[64];
    size_t n_seen = 0;
    for (char *n = strtok_r(list, ", ", &save); n && !rc; n = strtok_r(NULL, ", ", &save)) {
        const struct vg_collector *c = vg_collector_find(n);
        if (!c) {
            rc = vg_err(err, errlen, -EINVAL,
                        "collectors: unknown collector '%s' (vigil-agent --list-collectors)", n);
            break;
        }
        /* Twice the same collector sends every metric twice, which the wire format refuses:
         * each tick's message would fail to encode and nothing would reach Kafka. */
        for (size_t i = 0; i < n_seen && !rc; i++)
            if (seen[i] == c)
                rc = vg_err(err, errlen, -EINVAL, "collectors: '%s' is listed twice", n);
        if (!rc && n_seen < VG_ARRAY_LEN(seen))
            seen[n_seen++] = c;
    }
    free(list);
    /* Nothing to collect: the start used to say "no collector could start on this host". */
    if (!rc && n_seen == 0)
        rc = vg_err(err, errlen, -EINVAL,
                    "collectors: empty; name at least one (vigil-agent --list-collectors)");
    return rc;
}

/* Whether the wire format takes the label; err says why not. */
static int label_ok(const char *key, const char *value, char *err, size_t errlen)
{
    struct vg_wire_msg probe;
    vg_wire_msg_init(&probe);
    int ok = vg_wire_msg_add_label(&probe, key, value, err, errlen) == 0;
    vg_wire_msg_free(&probe);
    return ok;
}

int agent_config_check(const struct agent_cfg *c, char *err, size_t errlen)
{
    if (!c->topic || !*c->topic)
        return vg_err(err, errlen, -EINVAL, "topic: empty (the Kafka topic to produce to)");
    int rc = vg_kafka_topic_check("topic", c->topic, err, errlen);
    if (rc)
        return rc;
    if (c->host && vg_wire_host_valid(c->host) != 0)
        return vg_err(err, errlen, -EINVAL,
                      "host '%s': only letters, digits, '.', '_' and '-' (1..253)", c->host);
    rc = check_collectors(c->collectors, err, errlen);
    if (rc)
        return rc;
    /* Refused whether or not the file is read (local.detector off), as a reload refuses it. */
    if (c->local_webhook_url && *c->local_webhook_url && c->local_webhook_url_file &&
        *c->local_webhook_url_file)
        return vg_err(err, errlen, -EINVAL,
                      "both local.webhook.url and local.webhook.url_file are set; keep one (the "
                      "file is the safer)");
    if (c->labels.n > VG_WIRE_LABELS_MAX)
        return vg_err(err, errlen, -EINVAL,
                      "labels: %zu of them, the wire format carries at most %d", c->labels.n,
                      VG_WIRE_LABELS_MAX);
    /* A label the wire format refuses would otherwise be dropped from every message in silence
     * (collect_tick cannot fail a tick for it). */
    for (size_t i = 0; !rc && i < c->labels.n; i++) {
        const char *k = c->labels.items[i].key;
        char lerr[VG_ERRLEN];
        if (label_ok(k, c->labels.items[i].value, lerr, sizeof(lerr)))
            continue;
        /* Reported where it was written, at the key when the key is what is refused (the
         * same key with a plain value is), else at the value: "labels" alone would place it at
         * the map's first line, lines away from it. */
        char entry[VG_ERRLEN];
        snprintf(entry, sizeof(entry), "labels.%s", k);
        char kerr[VG_ERRLEN];
        const char *w = label_ok(k, "x", kerr, sizeof(kerr)) ? vg_config_where(entry)
                                                             : vg_config_where_key(entry);
        if (w)
            rc = vg_err(err, errlen, -EINVAL, "%s: labels: %s", w, lerr);
        else
            rc = vg_err(err, errlen, -EINVAL, "labels: %s", lerr);
    }
    return rc;
}

/* The packaged unit's TimeoutStopSec (packaging/systemd/vigil-agent.service; test_cli checks
 * the two agree), and what a stop needs besides flush_timeout: the purge to the spool (up to
 * 1 s), closing, and room for a slow disk. */
#define UNIT_STOP_TIMEOUT_MS 20000
#define STOP_MARGIN_MS       6000

void agent_config_warn(const struct agent_cfg *c)
{
    /* Warned, not refused: a longer flush_timeout is right under a unit with a longer
     * TimeoutStopSec, and a config that started before must still start. */
    if (c->flush_timeout_ms >= UNIT_STOP_TIMEOUT_MS - STOP_MARGIN_MS) {
        const char *w = vg_config_where("flush_timeout");
        char q[VG_ERRLEN];
        vg_warn("flush_timeout leaves no time to spool the queue before the packaged unit's "
                "TimeoutStopSec kills the agent: a stop during an outage would lose what "
                "librdkafka holds; keep it below the limit, or raise TimeoutStopSec with it",
                "flush_timeout_ms=%lld limit_ms=%d timeout_stop_sec=%d where=%s",
                (long long)c->flush_timeout_ms, UNIT_STOP_TIMEOUT_MS - STOP_MARGIN_MS,
                UNIT_STOP_TIMEOUT_MS / 1000, vg_log_quote(q, sizeof(q), w ? w : "flush_timeout"));
    }
    /* The spool's message.timeout.ms of 0 wins over the user's while the spool is open
     * (make_producer): a timeout would lose during an outage what the spool is there to keep.
     * Warned, not refused: copied producer configs often carry one, and they must still start. */
    static const char *const timeouts[] = {"message.timeout.ms", "delivery.timeout.ms"};
    for (size_t i = 0; c->spool_dir && *c->spool_dir && i < VG_ARRAY_LEN(timeouts); i++) {
        const char *v = vg_kvlist_get(&c->kafka, timeouts[i]);
        if (!v || strcmp(v, "0") == 0)
            continue;
        char entry[64], q[VG_ERRLEN];
        snprintf(entry, sizeof entry, "kafka.%s", timeouts[i]);
        const char *w = vg_config_where(entry);
        vg_warn("Kafka message timeout not used while the spool is on: messages wait on disk "
                "instead of timing out and being lost (spool.max_age bounds the age of those on "
                "disk; the at most spool.memory_messages held in memory wait until Kafka takes "
                "them), and the timeout applies only when spool.dir is empty or cannot be used",
                "key=%s value=%s spool_dir=%s where=%s", entry, v, c->spool_dir,
                vg_log_quote(q, sizeof(q), w ? w : entry));
    }
    /* As the analyzer warns about its receivers' URLs. */
    vg_urlfile_warn_inline("local.webhook.url", "local.webhook.url_file", c->local_webhook_url,
                           c->local_webhook_url_file, 0, c->user);
    /* Notifications set these themselves after the host's labels, so that receivers can route on
     * them (actions/vg_action.c): a host label of the same name never reaches an alert. Warned,
     * not refused, so that a fleet's existing configs still start. */
    static const char *const reserved[] = {"host", "series", "alertname", "severity",
                                           "vigil_source"};
    for (size_t i = 0; i < c->labels.n; i++)
        for (size_t j = 0; j < sizeof(reserved) / sizeof(reserved[0]); j++)
            if (strcmp(c->labels.items[i].key, reserved[j]) == 0) {
                char entry[VG_ERRLEN];
                snprintf(entry, sizeof(entry), "labels.%s", reserved[j]);
                const char *w = vg_config_where_key(entry);
                char q[VG_ERRLEN];
                vg_warn("label replaced in every alert: the alert's own value wins; rename it",
                        "label=%s where=%s", reserved[j],
                        vg_log_quote(q, sizeof(q), w ? w : "labels"));
            }
}

int agent_read_url_file(struct agent_cfg *c, char *err, size_t errlen)
{
    if (strcmp(c->local_detector, "off") == 0)
        return 0;
    return vg_urlfile_read("local.webhook.url", "local.webhook.url_file", c->local_webhook_url_file,
                           &c->local_webhook_url, err, errlen);
}
