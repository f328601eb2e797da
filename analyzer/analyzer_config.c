#include "analyzer_config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_colsel.h"
#include "vg_engine.h"
#include "vg_httpsec.h"
#include "vg_log.h" /* VG_LOG_LEVEL_CHOICES */
#include "vg_model_run.h"
#include "vg_rule.h"
#include "vg_rule_load.h"
#include "vg_secret.h"
#include "vg_urlfile.h"
#include "vg_util.h"

#define OFF(f)  offsetof(struct analyzer_cfg, f)
#define NOBOUND 1, 0
#define SET(s)  ((s) && *(s))

VG_CFG_KEYS_BEGIN
static const struct vg_cfg_key keys[] = {
    {"topic", VG_CFG_STRING, "vigil.metrics", OFF(topic), NOBOUND, NULL,
     "Kafka topic the agents produce to: at most 249 letters, digits, '.', '_' and '-' (the "
     "names Kafka takes; state.topic, decisions.topic and decisions.partials_topic alike)"},
    {"group_id", VG_CFG_STRING, "vigil-analyzer", OFF(group_id), NOBOUND, NULL,
     "consumer group; analyzers in one group share the topic's partitions (hosts)"},
    {"bootstrap_servers", VG_CFG_STRING, "localhost:9092", OFF(bootstrap_servers), NOBOUND,
     "VIGIL_BOOTSTRAP_SERVERS",
     "Kafka bootstrap servers; ignored with --embedded-kafka; kafka.bootstrap.servers wins"},
    {"kafka", VG_CFG_MAP, NULL, OFF(kafka), NOBOUND, NULL,
     "librdkafka consumer properties, passed through (auto.offset.reset, security.protocol, "
     "sasl.*, ssl.*, ...)"},
    {"max_message_bytes", VG_CFG_SIZE, "1MiB", OFF(max_message_bytes), 1024, 67108864, NULL,
     "larger wire messages are rejected, logged and skipped"},
    {"commit_interval", VG_CFG_DURATION, "1s", OFF(commit_interval_ms), 10, 600000, NULL,
     "how often the offsets of processed messages are committed"},
    {"stats_interval", VG_CFG_DURATION, "60s", OFF(stats_interval_ms), 1000, 86400000, NULL,
     "how often counters are logged"},
    {"detector.model", VG_CFG_STRING, "ewma", OFF(detector_model), NOBOUND, NULL,
     "per-series model: ewma (a value far from its recent level; 152 bytes a series) or seasonal "
     "(level and time-of-day profile, SPOT-calibrated, with the anomaly likelihood and profile "
     "deviation below; about 29 KB a series, the model measured on NAB in docs/evaluation.md)",
     "ewma|seasonal"}, /* vg_detectors[]; test_config_tables holds the two together */
    {"detector.alpha", VG_CFG_DOUBLE, "0.05", OFF(detector_alpha), 1e-6, 1, NULL,
     "weight of a new value in the baseline once warm (0.05: half-life of about 14 ticks)"},
    {"detector.alpha_outlier", VG_CFG_DOUBLE, "0.005", OFF(detector_alpha_outlier), 0, 1, NULL,
     "weight of a clipped (anomalous) value: a level shift is learned as normal over minutes, "
     "not seconds; 1/this values in a row (at least 200) clipped on one side are a level change, "
     "learned whole"},
    {"detector.warmup", VG_CFG_INT, "20", OFF(detector_warmup), 2, 1000000, NULL,
     "values a series learns from before it is scored"},
    {"detector.clip", VG_CFG_DOUBLE, "3", OFF(detector_clip), 0.5, 100, NULL,
     "values beyond this many scales from the baseline are clipped before learning, so an "
     "anomaly cannot teach the model that it is normal"},
    {"detector.min_stddev", VG_CFG_DOUBLE, "0.01", OFF(detector_min_std_abs), 0, 1e300, NULL,
     "floor of a series' scale, in its own unit (keeps near-constant series quiet)"},
    {"detector.min_stddev_rel", VG_CFG_DOUBLE, "0.02", OFF(detector_min_std_rel), 0, 10, NULL,
     "floor of a series' scale as a fraction of its mean"},
    {"detector.season", VG_CFG_DURATION, "1d", OFF(detector_season_ms), 1000, 31536000000.0, NULL,
     "seasonal: period of the time-of-day profile (288 bins); a bin is trusted after two periods"},
    {"detector.smooth", VG_CFG_INT, "1", OFF(detector_smooth), 1, 32, NULL,
     "seasonal: standardised residuals averaged over this many values before calibration"},
    {"detector.calib_q", VG_CFG_DOUBLE, "0.98", OFF(detector_calib_q), 0.5, 0.9999, NULL,
     "seasonal: quantile above which the calibration fits its Pareto tail (SPOT)"},
    {"detector.calib_init", VG_CFG_INT, "256", OFF(detector_calib_init), 16, 256, NULL,
     "seasonal: warm values the calibration learns from before the series is scored"},
    {"detector.likelihood.short", VG_CFG_INT, "32", OFF(detector_lik_short), 0, 32, NULL,
     "seasonal: anomaly likelihood over the mean surprise of this many values, so a run of "
     "moderately rare values scores like one extreme value; 0 = off"},
    {"detector.likelihood.long", VG_CFG_INT, "20", OFF(detector_lik_long), 2, 1000000, NULL,
     "seasonal: the likelihood's tail starts at its 1 - 1/long quantile"},
    {"detector.likelihood.mode", VG_CFG_INT, "1", OFF(detector_lik_mode), 0, 1, NULL,
     "seasonal: 1 = report the larger of the likelihood and the value's own score, 0 = the "
     "likelihood alone"},
    {"detector.profile_deviation", VG_CFG_BOOL, "true", OFF(detector_prof), NOBOUND, NULL,
     "seasonal: also score the distance from the time-of-day profile where the plain level is "
     "the better forecast (a day without its usual jump), and report the larger score"},
    {"detector.weekly", VG_CFG_BOOL, "true", OFF(detector_weekly), NOBOUND, NULL,
     "seasonal: a weekly profile (bins of 35 minutes) races the plain level and the daily "
     "profile, for series whose weekdays and weekends differ; it competes in a bin only after "
     "two weeks"},
    {"detector.cusum", VG_CFG_DOUBLE, "2", OFF(detector_cusum), 0, 100, NULL,
     "seasonal: persistence signal, a CUSUM of the trusted forecast's signed residual with this "
     "drift in typical errors (a run of values beyond it on one side, hours below the usual "
     "shape), calibrated apart, the larger score reported; 0 = off"},
    {"detector.refractory", VG_CFG_INT, "0", OFF(detector_refractory), 0, 1000000, NULL,
     "seasonal: after a reported extreme, halve the scores of the next N values unless they are "
     "rarer by `detector.escalation`; for onset-only scoring (NAB), 0 = off (alerts already "
     "fire once per incident)"},
    {"detector.escalation", VG_CFG_DOUBLE, "0.1", OFF(detector_escalation), 1e-12, 1, NULL,
     "seasonal: during the refractory period, a value is reported again if its tail "
     "probability is below this factor times the last reported one"},
    {"alert.threshold", VG_CFG_DOUBLE, "0.999", OFF(alert_threshold), 0.5, 1, NULL,
     "score at or above which a series is anomalous, from 0.5 to 1 (0.999: 3.3 scales away). "
     "A score is 1 minus the value's tail probability, so below 0.5 most of a series' ordinary "
     "values would count as anomalous, and 0 would make every scored series fire and never "
     "resolve"},
    {"alert.for", VG_CFG_DURATION, "3s", OFF(alert_for_ms), 0, 86400000, NULL,
     "how long (event time) a series must stay anomalous before the alert fires, observed: "
     "a step between two of its values longer than alert.stale_after restarts the wait"},
    {"alert.resolve_for", VG_CFG_DURATION, "5s", OFF(alert_resolve_for_ms), 0, 86400000, NULL,
     "how long it must stay below the threshold before the alert resolves (hysteresis); a "
     "step longer than alert.stale_after restarts the wait, as for alert.for"},
    {"alert.stale_after", VG_CFG_DURATION, "5m", OFF(alert_stale_after_ms), 0, 86400000, NULL,
     "a series its host stopped reporting (a container gone, a cgroup out of the eBPF top 10) "
     "is stale after this long (event time; at least 3 of the host's intervals): its firing "
     "per-series alert resolves and rules read it as missing, as PromQL does. Also the "
     "longest step between two values that the alert waits (alert.for, alert.resolve_for, a "
     "rule's for and keep_firing_for) count; a longer one restarts them; 0 = never"},
    {"alert.host_silent_after", VG_CFG_DURATION, "5m", OFF(alert_host_silent_ms), 0, 86400000, NULL,
     "a host whose messages stop arriving for this long (wall clock; at least 3 of its "
     "intervals) fires the host_silent alert, resolved by its next message; only while other "
     "hosts' messages still arrive, so a stalled broker or consumer does not page for every "
     "host; 0 = off"},
    {"alert.series", VG_CFG_STRING, "", OFF(alert_series), NOBOUND, NULL,
     "comma-separated shell globs of the series the analyzer scores and alerts on; empty = all. "
     "The history (/api/v1/history, vigilctl report) still keeps every series' values, without "
     "a score for the others. Also applies with rules.dir: a series no glob matches is missing "
     "to every rule (value, score, windows) and to host:series (the mv model reads metrics "
     "itself). A glob that matches no metric of a host's first two messages, while no host's "
     "matched it, is logged (once per glob, with that host) and counted in "
     "vigil_alert_series_unmatched_patterns: most likely a typo"},
    {"alert.severity", VG_CFG_STRING, "warning", OFF(alert_severity), NOBOUND, NULL,
     "severity sent with the alerts of the built-in rule"},
    {"rules.dir", VG_CFG_STRING, NULL, OFF(rules_dir), NOBOUND, "VIGIL_RULES_DIR",
     "directory of rule files (docs/rules.md): they replace the built-in per-series rule "
     "(alert.threshold/for/resolve_for/severity); reloaded on SIGHUP and POST /api/v1/reload; "
     "unset = the built-in rule",
     NULL, VG_CFG_F_ABS_PATH},
    {"alert.group_by", VG_CFG_STRING, "", OFF(alert_group_by), NOBOUND, NULL,
     "comma-separated label names (alertname, host, severity or any label) that group alerts "
     "for alert.group_wait; empty = every alert is its own group"},
    {"alert.group_wait", VG_CFG_DURATION, "0s", OFF(alert_group_wait_ms), 0, 3600000, NULL,
     "how long a new group's first firing notification waits so that alerts of the same group "
     "go out together"},
    {"alert.repeat_interval", VG_CFG_DURATION, "4h", OFF(alert_repeat_interval_ms), 0, 604800000,
     NULL,
     "firing alerts are notified again this often (0 = never); repeats carry a new "
     "Idempotency-Key"},
    {"silences.file", VG_CFG_STRING, NULL, OFF(silences_file), NOBOUND, NULL,
     "file keeping the silences across restarts (e.g. /var/lib/vigil/silences.json), created at "
     "the first silence; its directory must exist and take new files, or the analyzer does not "
     "start; unset = in memory only",
     NULL, VG_CFG_F_ABS_PATH},
    {"decisions.topic", VG_CFG_STRING, "vigil.decisions", OFF(decisions_topic), NOBOUND, NULL,
     "Kafka topic scaling decisions are published to (keyed by target), and read back at start "
     "so that each target continues from its latest decision rather than `initial`; empty = "
     "not published"},
    {"decisions.partials_topic", VG_CFG_STRING, "vigil.scale.partials",
     OFF(decisions_partials_topic), NOBOUND, NULL,
     "Kafka topic the analyzers of one group exchange their partial scaling measurements on "
     "(keyed by target), so that one of them decides each target over every analyzer's hosts "
     "and all serve that decision (docs/scaling-actions.md); a topic that cannot be read at "
     "start is logged and counted, and the analyzer then decides from its own hosts while it "
     "retries (decisions.rejoin_backoff_*); empty = no exchange (one analyzer per fleet)"},
    {"decisions.restore_timeout", VG_CFG_DURATION, "10s", OFF(decisions_restore_ms), 100, 600000,
     NULL,
     "how long reading decisions.topic back at start may take; past it the targets not yet "
     "read start from `initial` (logged)"},
    {"decisions.rejoin_backoff_initial", VG_CFG_DURATION, "30s", OFF(decisions_rejoin_initial_ms),
     10, 3600000, NULL,
     "after the partials exchange could not be joined, the first retry (1 s at most, each) comes "
     "this long after; the wait doubles per failed retry"},
    {"decisions.rejoin_backoff_max", VG_CFG_DURATION, "5m", OFF(decisions_rejoin_max_ms), 10,
     3600000, NULL, "longest wait between retries of joining the partials exchange"},
    {"decisions.webhook_url", VG_CFG_STRING, NULL, OFF(decisions_webhook_url), NOBOUND, NULL,
     "URL a scaling decision that changes the replica count is POSTed to; unset = none", NULL,
     VG_CFG_F_URL_CREDS},
    {"decisions.webhook_url_file", VG_CFG_STRING, NULL, OFF(decisions_webhook_url_file), NOBOUND,
     NULL,
     "file holding decisions.webhook_url (one line, trimmed), for a URL that carries a credential "
     "(user:password, ?token=): the config is readable by all; set one of the two",
     NULL, VG_CFG_F_ABS_PATH},
    {"decisions.webhook_secret_file", VG_CFG_STRING, NULL, OFF(decisions_webhook_secret_file),
     NOBOUND, NULL,
     "file holding the HMAC-SHA256 key that signs each decisions.webhook_url post "
     "(X-Vigil-Timestamp, X-Vigil-Signature, as webhook.secret_file); unset: not signed",
     NULL, VG_CFG_F_ABS_PATH},
    {"webhook.url", VG_CFG_STRING, NULL, OFF(webhook_url), NOBOUND, "VIGIL_WEBHOOK_URL",
     "where alerts are POSTed (generic JSON, docs/alerts.md); unset = log only", NULL,
     VG_CFG_F_URL_CREDS},
    {"webhook.url_file", VG_CFG_STRING, NULL, OFF(webhook_url_file), NOBOUND,
     "VIGIL_WEBHOOK_URL_FILE",
     "file holding webhook.url (one line, trimmed, read like a secret file), for a URL that "
     "carries a credential (user:password, ?token=): the config is readable by all; set one of "
     "the two",
     NULL, VG_CFG_F_ABS_PATH},
    {"webhook.timeout", VG_CFG_DURATION, "5s", OFF(webhook_timeout_ms), 100, 600000, NULL,
     "whole-request timeout"},
    {"webhook.connect_timeout", VG_CFG_DURATION, "2s", OFF(webhook_connect_timeout_ms), 100, 600000,
     NULL, "connection timeout"},
    {"webhook.max_attempts", VG_CFG_INT, "8", OFF(webhook_max_attempts), 1, 1000, NULL,
     "failed attempts after which an alert stops holding back the ones behind it; one that "
     "failed only with retryable errors (network, 408, 429, 5xx) is then retried every "
     "webhook.backoff_max until delivered or webhook.max_age (alertmanager: dropped and counted, "
     "its re-sends and endsAt take over)"},
    {"webhook.max_age", VG_CFG_DURATION, "24h", OFF(webhook_max_age_ms), 0, 31536000000.0, NULL,
     "an alert still failing this long after it was produced is dropped (logged, counted in "
     "vigil_webhook_expired_total); 0 = never, it waits for the receiver however long"},
    {"webhook.backoff_initial", VG_CFG_DURATION, "500ms", OFF(webhook_backoff_initial_ms), 1,
     600000, NULL, "first retry delay; doubles per attempt with +-20% jitter"},
    {"webhook.backoff_max", VG_CFG_DURATION, "30s", OFF(webhook_backoff_max_ms), 1, 3600000, NULL,
     "longest retry delay"},
    {"webhook.queue_max", VG_CFG_INT, "10000", OFF(webhook_queue_max), 1, 10000000, NULL,
     "notifications queued per receiver waiting for delivery; more are refused and counted (with "
     "state.topic, as many held firings besides: docs/alerts.md, Order)"},
    {"webhook.secret_file", VG_CFG_STRING, NULL, OFF(webhook_secret_file), NOBOUND,
     "VIGIL_WEBHOOK_SECRET_FILE",
     "file holding the shared secret for the X-Vigil-Signature HMAC-SHA256 header", NULL,
     VG_CFG_F_ABS_PATH},
    {"webhook.rate", VG_CFG_DOUBLE, "0", OFF(webhook_rate), -1, 1e6, NULL,
     "requests per second to the webhook; 0 = default (10/s, burst 20), -1 = unlimited; "
     "excess waits, it is not dropped"},
    {"alertmanager.url", VG_CFG_STRING, NULL, OFF(alertmanager_url), NOBOUND,
     "VIGIL_ALERTMANAGER_URL",
     "Prometheus Alertmanager base URL (alerts go to /api/v2/alerts); unset = off", NULL,
     VG_CFG_F_URL_CREDS},
    {"alertmanager.url_file", VG_CFG_STRING, NULL, OFF(alertmanager_url_file), NOBOUND,
     "VIGIL_ALERTMANAGER_URL_FILE",
     "file holding alertmanager.url (one line, trimmed), for a URL that carries a credential; set "
     "one of the two",
     NULL, VG_CFG_F_ABS_PATH},
    {"alertmanager.generator_url", VG_CFG_STRING, NULL, OFF(alertmanager_generator_url), NOBOUND,
     NULL, "generatorURL sent with alerts; may hold {host} and {series}"},
    {"alertmanager.resend_interval", VG_CFG_DURATION, "60s", OFF(alertmanager_resend_ms), 1000,
     86400000, NULL,
     "firing alerts are re-sent this often, with endsAt 4 intervals ahead, as Alertmanager "
     "expects from its clients"},
    {"alertmanager.rate", VG_CFG_DOUBLE, "0", OFF(alertmanager_rate), -1, 1e6, NULL,
     "requests per second; 0 = default, -1 = unlimited"},
    {"pagerduty.url", VG_CFG_STRING, "https://events.pagerduty.com", OFF(pagerduty_url), NOBOUND,
     NULL, "PagerDuty Events API v2 base URL (events go to /v2/enqueue)", NULL, VG_CFG_F_URL_CREDS},
    {"pagerduty.routing_key_file", VG_CFG_STRING, NULL, OFF(pagerduty_routing_key_file), NOBOUND,
     "VIGIL_PAGERDUTY_ROUTING_KEY_FILE",
     "file holding the integration's routing key; setting it turns PagerDuty on", NULL,
     VG_CFG_F_ABS_PATH},
    {"pagerduty.rate", VG_CFG_DOUBLE, "0", OFF(pagerduty_rate), -1, 1e6, NULL,
     "requests per second; 0 = default (2/s), -1 = unlimited"},
    {"slack.url", VG_CFG_STRING, NULL, OFF(slack_url), NOBOUND, "VIGIL_SLACK_URL",
     "Slack incoming-webhook URL, a credential: --check-config and the logs show "
     "scheme://host/... only; unset = off",
     NULL, VG_CFG_F_SECRET_PATH},
    {"slack.url_file", VG_CFG_STRING, NULL, OFF(slack_url_file), NOBOUND, "VIGIL_SLACK_URL_FILE",
     "file holding slack.url (one line, trimmed, read like a secret file: e.g. root:vigil 0640), "
     "the way to keep the credential out of the world-readable config; set one of the two",
     NULL, VG_CFG_F_ABS_PATH},
    {"slack.rate", VG_CFG_DOUBLE, "0", OFF(slack_rate), -1, 1e6, NULL,
     "requests per second; 0 = default (1/s), -1 = unlimited"},
    {"actions.allowed_urls", VG_CFG_STRING, "", OFF(allowed_urls), NOBOUND, NULL,
     "comma-separated URL prefixes scheme://host[:port][/path] every receiver URL (webhook.url, "
     "alertmanager.url, pagerduty.url, slack.url, decisions.webhook_url) must match: scheme, host "
     "and port exactly, the path by prefix; a URL outside it stops the analyzer at start "
     "(docs/security.md); empty: any"},
    {"actions.allow_plain_http", VG_CFG_BOOL, "false", OFF(allow_plain_http), NOBOUND, NULL,
     "allow http:// receiver URLs to hosts other than loopback (alerts, signatures and keys then "
     "cross the network in clear text); false: https:// only, except to localhost, 127.0.0.0/8 "
     "and [::1]"},
    {"actions.tls_ca_file", VG_CFG_STRING, NULL, OFF(tls_ca_file), NOBOUND, NULL,
     "PEM file of CA certificates trusted for receivers' HTTPS, in addition to the system's (a "
     "private CA); certificate and host-name verification are always on",
     NULL, VG_CFG_F_ABS_PATH},
    {"outbox.dir", VG_CFG_STRING, NULL, OFF(outbox_dir), NOBOUND, NULL,
     "directory of the persistent alert outbox (e.g. /var/lib/vigil/outbox): an accepted alert "
     "is delivered after a crash or restart; created (mode 0700) when missing, its parent must "
     "exist; unset = in memory only",
     NULL, VG_CFG_F_ABS_PATH},
    {"outbox.max_bytes", VG_CFG_SIZE, "64MiB", OFF(outbox_max_bytes), 65536, 17179869184.0, NULL,
     "pending bytes per receiver's outbox; beyond, alerts are refused and counted. With "
     "state.topic set (the default), firings held after a hand-over have as many bytes of their "
     "own (the outbox takes twice this; not an alertmanager receiver's, which holds none)"},
    {"user", VG_CFG_STRING, "vigil", OFF(user), NOBOUND, NULL,
     "the user the analyzer runs as (the packaged unit's User=): --check-config started as root "
     "reads the config file, the secret files (webhook.secret_file, decisions.webhook_secret_file, "
     "pagerduty.routing_key_file, http.token_file, "
     "kafka.*_file), actions.tls_ca_file, the rule files of rules.dir and silences.file, and "
     "checks that outbox.dir, model.dir (with a model.set) and silences.file are writable, as "
     "this user and its groups, as the unit will read and write them; empty: as "
     "root; not on this host: as root, with a warning. Started as root (by hand), the analyzer "
     "becomes this user before it writes anything, giving it what an earlier root run left in "
     "outbox.dir, model.dir, silences.file and the bootstrap file (docs/security.md); not on this "
     "host, it stays root with a warning"},
    {"core_dumps", VG_CFG_BOOL, "false", OFF(core_dumps), NOBOUND, NULL,
     "let the analyzer be dumped: a core file when it crashes, and processes of its user (the "
     "agent's too, under the packages) may attach to it and read its memory (gdb -p, "
     "/proc/PID/mem, environ). false: not dumpable from its start, as it holds the receivers' "
     "keys and URLs, the API token and the Kafka credentials (docs/security.md); root may still "
     "attach. For debugging only"},
    {"limits.max_hosts", VG_CFG_INT, "100000", OFF(max_hosts), 1, 100000000, NULL,
     "hosts tracked; messages of further hosts are counted and skipped"},
    {"limits.max_series_per_host", VG_CFG_INT, "10000", OFF(max_series_per_host), 1, 10000000, NULL,
     "series tracked per host; further series are counted and skipped"},
    {"limits.series_idle", VG_CFG_DURATION, "1h", OFF(series_idle_ms), 0, 31536000000.0, NULL,
     "a series its host has not reported for this long (event time; at least 10 of the host's "
     "intervals) is forgotten, its detector state freed; if it comes back it warms up again. "
     "Keeps memory and limits.max_series_per_host from filling with names that come and go; "
     "0 = never"},
    {"limits.host_idle", VG_CFG_DURATION, "24h", OFF(host_idle_ms), 0, 31536000000.0, NULL,
     "a host whose messages stop arriving for this long (wall clock and event time; at least 10 "
     "of its intervals) is forgotten: its alerts still firing (host_silent among them) are "
     "resolved, its detector, rule and model state freed and its state record deleted; if it "
     "comes back it starts cold. Only while other hosts' messages arrive. Keeps the host table "
     "and limits.max_hosts from filling with autoscaled names; must be longer than "
     "alert.host_silent_after; 0 = never"},
    {"embedded.partitions", VG_CFG_INT, "4", OFF(embedded_partitions), 1, 1000, NULL,
     "partitions of the topic on the embedded broker (--embedded-kafka)"},
    {"embedded.brokers", VG_CFG_INT, "1", OFF(embedded_brokers), 1, 9, NULL,
     "brokers in the embedded cluster"},
    {"drain_timeout", VG_CFG_DURATION, "5s", OFF(drain_timeout_ms), 0, 600000, NULL,
     "on SIGTERM, how long queued alerts may take to be delivered: one deadline for every "
     "receiver and the scaling webhook, which drain at the same time"},
    {"history.window", VG_CFG_DURATION, "1h", OFF(history_window_ms), 1000, 604800000, NULL,
     "how far back the per-host history of values, scores and alerts reaches (vigilctl report)"},
    {"history.resolution", VG_CFG_DURATION, "10s", OFF(history_resolution_ms), 100, 3600000, NULL,
     "one history point per series per this much event time (last value, highest score)"},
    {"history.max_bytes", VG_CFG_SIZE, "64MiB", OFF(history_max_bytes), 0, 17179869184.0, NULL,
     "memory for the history over all hosts; when full, a host's series with no point within "
     "history.window are freed for its new ones, and series still beyond are not recorded "
     "(counted); 0 disables the history"},
    {"http.listen", VG_CFG_STRING, "127.0.0.1:9710", OFF(http_listen), NOBOUND, "VIGIL_HTTP_LISTEN",
     "address:port of the HTTP API (/healthz, /readyz, /metrics, /api/v1/...); empty disables "
     "it; loopback by default. A port below 1024 (net.ipv4.ip_unprivileged_port_start) is "
     "refused unless the analyzer runs as root: it has no capability as `user`"},
    {"http.token_file", VG_CFG_STRING, NULL, OFF(http_token_file), NOBOUND, "VIGIL_HTTP_TOKEN_FILE",
     "file holding the bearer token (16+ characters) that mutating endpoints require; unset "
     "disables them",
     NULL, VG_CFG_F_ABS_PATH},
    {"http.max_body", VG_CFG_SIZE, "64KiB", OFF(http_max_body), 1024, 16777216, NULL,
     "larger request bodies are refused with 413"},
    {"http.max_connections", VG_CFG_INT, "64", OFF(http_max_conns), 1, 10000, NULL,
     "connections kept open: while more are open, the one that has waited longest (1 s at "
     "least) with no request being answered is closed to make room. Until one has waited that "
     "long, up to twice as many stay open; a new connection beyond that is closed at once. So a "
     "client that sends its request at once, a probe say, is answered as long as the other "
     "clients, from any address, hold fewer than twice this less 1 (docs/api.md). A connection "
     "whose request (headers and body) has not arrived 10 s after it opened (20 s after the "
     "previous response on a kept-alive one) is closed. Each takes a thread and a file "
     "descriptor: beyond about 500, the process needs a descriptor limit above the usual "
     "1024 (the packaged unit sets LimitNOFILE=32768)"},
    {"http.rate", VG_CFG_DOUBLE, "200", OFF(http_rate), 0, 1e6, NULL,
     "requests per second over all clients before 429; 0 = no limit. /healthz and /readyz are "
     "exempt, so that a client spending it cannot fail the probes"},
    {"log.level", VG_CFG_STRING, "info", OFF(log_level), NOBOUND, "VIGIL_LOG_LEVEL",
     "least severe level logged", VG_LOG_LEVEL_CHOICES},
    {"log.format", VG_CFG_STRING, "logfmt", OFF(log_format), NOBOUND, NULL,
     "log line format: `logfmt` (key=value) or `json` (one object per line)", "logfmt|json"},
    {"state.topic", VG_CFG_STRING, "vigil.state", OFF(state_topic), NOBOUND, NULL,
     "compacted Kafka topic where detector state is checkpointed per host, so that a restarted "
     "analyzer or the next owner of a partition continues the scores instead of warming up; "
     "empty disables it (then a restart warms up again). Created with max.message.bytes "
     "16 MiB when missing; a topic made by hand needs room for a host's record (about 29 KB a "
     "series with seasonal), or large hosts are written without their detector state "
     "(docs/reliability.md)"},
    {"state.checkpoint_interval", VG_CFG_DURATION, "5s", OFF(state_checkpoint_ms), 100, 3600000,
     NULL,
     "how often changed hosts are checkpointed; with state.topic set, offsets are committed "
     "only then, after the checkpoint is acknowledged, so this replaces commit_interval"},
    {"state.checkpoint_timeout", VG_CFG_DURATION, "10s", OFF(state_checkpoint_timeout_ms), 1000,
     10000, NULL,
     "how long a checkpoint waits for the broker to acknowledge its records; one not acknowledged "
     "by then fails (offsets not committed, its hosts written again at the next interval), and "
     "/readyz is not ready from the second failure in a row. At most 10 s: a revoke and the stop "
     "wait for their checkpoint, within the packaged unit's watchdog. Also the longest wait (5 s "
     "at most) for a broker to say whether state.topic exists, at start and before the first "
     "checkpoint"},
    {"state.restore_timeout", VG_CFG_DURATION, "30s", OFF(state_restore_timeout_ms), 1000, 600000,
     NULL,
     "how long reading the state topic may take when partitions are assigned; past it the "
     "hosts of its partitions not read to their end start cold, those already read included "
     "(logged, counted in vigil_state_restore_errors_total)"},
    {"model.set", VG_CFG_STRING, "series,mv", OFF(model_set), NOBOUND, NULL,
     "host models run per host tick (docs/detectors.md): series (the per-series detectors "
     "summarised per host), mv (multivariate, host groups sharing one model); rules read them "
     "as value(\"host:NAME\"); empty = none"},
    {"model.backend", VG_CFG_STRING, "auto", OFF(model_backend), NOBOUND, "VIGIL_MODEL_BACKEND",
     "compute backend of the mv model: auto (CUDA when a GPU is usable, else CPU), cpu or cuda "
     "(an error at start and in --check-config when no GPU is usable); the choice is logged at "
     "start",
     "auto|cpu|cuda"},
    {"model.threads", VG_CFG_INT, "1", OFF(model_threads), 0, 256, "VIGIL_MODEL_THREADS",
     "threads of the cpu backend's matrix products (OpenBLAS); 1 keeps an analyzer on its "
     "consumer thread's core (scale out by processes; more threads mostly spin waiting on "
     "small products); 0 = OpenBLAS's own choice (OPENBLAS_NUM_THREADS, else all cores)"},
    {"model.dir", VG_CFG_STRING, NULL, OFF(model_dir), NOBOUND, NULL,
     "directory of the mv model's checkpoints, one file per host group (e.g. "
     "/var/lib/vigil/models; created at start when missing, mode 0750, its parent must exist "
     "and be writable, or the start and --check-config refuse it): loaded at start, written "
     "every model.checkpoint_interval and at "
     "exit; a corrupt or incompatible file is refused (logged, kept as FILE.refused) and that "
     "group starts fresh; "
     "one directory per analyzer process (its .lock is held while it runs: a second analyzer "
     "on it does not start); unset = no checkpoints",
     NULL, VG_CFG_F_ABS_PATH},
    {"model.checkpoint_interval", VG_CFG_DURATION, "5m", OFF(model_checkpoint_ms), 1000, 86400000,
     NULL, "how often the mv model's checkpoints are written (with model.dir)"},
    {"model.group_label", VG_CFG_STRING, "group", OFF(model_group_label), NOBOUND, NULL,
     "host label whose value names a host's group (hosts of a group share one mv model, and a "
     "new host starts from it); hosts without it are in the group 'default'"},
    {"model.window", VG_CFG_INT, "8", OFF(model_window), 1, 256, NULL,
     "ticks of a host's history the mv model forecasts the next tick from"},
    {"model.top_k", VG_CFG_INT, "3", OFF(model_top_k), 1, 8, NULL,
     "metrics averaged into the mv score and named as its attribution; a change keeps each "
     "group's trained weights, its hosts' calibrations learn again (those restored from "
     "state.topic records too)"},
    {"model.calib_init", VG_CFG_INT, "128", OFF(model_calib_init), 16, 256, NULL,
     "warm mv ticks a host's error scales are fitted on, then as many its calibration learns, "
     "before its score leaves 0"},
    {"model.state_weight", VG_CFG_DOUBLE, "1", OFF(model_state_weight), 0, 100, NULL,
     "weight of the mv host score's state term: how far each metric is beyond 3 times its "
     "typical distance from its centre on that side, added to its forecast error, so that an "
     "incident that lasts keeps its score after the forecast has caught up with it; 0 = off"},
    {"model.norm_ticks", VG_CFG_INT, "100", OFF(model_norm_ticks), 1, 100000000, NULL,
     "ticks over which the mv model keeps each metric's centre and scale per host (an "
     "exponential average; the first ticks averaged evenly): the state term measures how far a "
     "metric is from this centre, so a level that lasts becomes normal after about this many "
     "ticks; longer keeps a lasting incident scored (SMD: best F1 0.456 at 100, 0.520 at "
     "10000) but also a host whose level changed for good, and it cost attribution in "
     "test_mv_analyzer (docs/detectors.md)"},
    {"model.max_metrics", VG_CFG_INT, "128", OFF(model_max_metrics), 1, 4096, NULL,
     "metrics per host group the mv model takes at most, chosen by model.metrics"},
    {"model.max_groups", VG_CFG_INT, "1024", OFF(model_max_groups), 1, 100000, NULL,
     "host groups (model.group_label values) the mv model keeps a model for at most; at the "
     "limit a new group takes the place of the group longest without hosts, else it is refused "
     "(logged, its hosts get no mv score). Each group's model costs about 1.6 MB at 128 metrics "
     "and model.window 8 (weights, gradients and optimiser state, on the GPU with cuda), "
     "growing with both, plus its hosts' rows"},
    {"model.metrics", VG_CFG_STRING, VG_COLSEL_DEFAULT, OFF(model_metrics), NOBOUND, NULL,
     "which of the first host's metrics become a group's mv model columns: comma-separated "
     "shell globs in order of preference ('*' also matches '.'); a metric ranks by the first "
     "glob it matches, then by name, up to model.max_metrics; '!glob' leaves out what it "
     "matches; quote the value in YAML, where a leading '!' or '*' means something else. The "
     "default takes host-level families first, then cgroups, then the rest (per-CPU shares), and "
     "leaves out the eBPF collectors' per-cgroup top-10 series (a different 10 each tick) and "
     "their loss counters"},
    {"model.queue_ticks", VG_CFG_INT, "8", OFF(model_queue_ticks), 1, 64, NULL,
     "ticks of a host the mv model queues until every host of its group has reported that "
     "tick, so hosts read out of step (an analyzer catching up on a backlog) are still "
     "stepped together, in one batch; costs this many x model.max_metrics floats per host, and "
     "a host that stops reporting holds its group back once by up to this many ticks"},
    {"model.train", VG_CFG_BOOL, "true", OFF(model_train), NOBOUND, NULL,
     "the mv model keeps learning online (false: it only scores, e.g. from a checkpoint)"},
};
VG_CFG_KEYS_END

const struct vg_config_table analyzer_config_table = {keys, sizeof(keys) / sizeof(keys[0])};

void analyzer_detector_params(const struct analyzer_cfg *c, struct vg_detector_params *dp)
{
    *dp = (struct vg_detector_params){
        .alpha = c->detector_alpha,
        .alpha_outlier = c->detector_alpha_outlier,
        .warmup = (uint32_t)c->detector_warmup,
        .clip_k = c->detector_clip,
        .min_std_abs = c->detector_min_std_abs,
        .min_std_rel = c->detector_min_std_rel,
        .season_s = (double)c->detector_season_ms / 1000.0,
        .smooth = (uint32_t)c->detector_smooth,
        .calib_q = c->detector_calib_q,
        .calib_init = (uint32_t)c->detector_calib_init,
        .refractory = (uint32_t)c->detector_refractory,
        .escalation = c->detector_escalation,
        .lik_short = (uint32_t)c->detector_lik_short,
        .lik_long = (uint32_t)c->detector_lik_long,
        .lik_mode = (uint32_t)c->detector_lik_mode,
        .prof = c->detector_prof ? 1 : 0,
        .weekly = c->detector_weekly ? 1 : 0,
        .cusum = c->detector_cusum,
    };
}

int analyzer_check_urls(const struct analyzer_cfg *c, char *err, size_t errlen)
{
    const struct vg_url_policy pol = {c->allowed_urls, c->allow_plain_http, NULL};
    int pd = c->pagerduty_routing_key_file && *c->pagerduty_routing_key_file;
    const struct {
        const char *key, *file_key, *url, *file;
        int hide_path;
    } urls[] = {
        {"webhook.url", "webhook.url_file", c->webhook_url, c->webhook_url_file, 0},
        {"alertmanager.url", "alertmanager.url_file", c->alertmanager_url, c->alertmanager_url_file,
         0},
        {"pagerduty.url", NULL, pd ? c->pagerduty_url : NULL, NULL, 0},
        {"slack.url", "slack.url_file", c->slack_url, c->slack_url_file,
         1}, /* its path is the credential */
        {"decisions.webhook_url", "decisions.webhook_url_file", c->decisions_webhook_url,
         c->decisions_webhook_url_file, 0},
    };
    int rc = vg_url_policy_validate(&pol, "actions.allowed_urls", err, errlen);
    for (size_t i = 0; !rc && i < sizeof(urls) / sizeof(urls[0]); i++) {
        if (!urls[i].url || !*urls[i].url)
            continue;
        /* A URL read from its file is named by the file, and shown as the logs show it: without
         * its path, which may be the credential. */
        char kb[1024];
        const char *key =
            vg_urlfile_key(urls[i].key, urls[i].file_key, urls[i].file, kb, sizeof kb);
        int hide = urls[i].hide_path || (urls[i].file && *urls[i].file);
        rc = vg_url_policy_check(&pol, key, urls[i].url, hide, err, errlen);
    }
    if (!rc)
        rc = vg_http_ca_file_check(c->tls_ca_file, "actions.tls_ca_file", err, errlen);
    return rc;
}

/* The receiver URLs that may carry a credential, with their *_file keys. */
struct url_key {
    const char *key, *file_key;
    size_t url_off, file_off;
    int secret_path; /* the path is the credential (Slack) */
};
static const struct url_key url_keys[] = {
    {"webhook.url", "webhook.url_file", OFF(webhook_url), OFF(webhook_url_file), 0},
    {"alertmanager.url", "alertmanager.url_file", OFF(alertmanager_url), OFF(alertmanager_url_file),
     0},
    {"slack.url", "slack.url_file", OFF(slack_url), OFF(slack_url_file), 1},
    {"decisions.webhook_url", "decisions.webhook_url_file", OFF(decisions_webhook_url),
     OFF(decisions_webhook_url_file), 0},
};

int analyzer_read_url_files(struct analyzer_cfg *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof(url_keys) / sizeof(url_keys[0]); i++) {
        const struct url_key *k = &url_keys[i];
        int rc = vg_urlfile_read(k->key, k->file_key, *(char **)((char *)c + k->file_off),
                                 (char **)((char *)c + k->url_off), err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int analyzer_warn_inline_urls(const struct analyzer_cfg *c)
{
    int n = 0;
    for (size_t i = 0; i < sizeof(url_keys) / sizeof(url_keys[0]); i++) {
        const struct url_key *k = &url_keys[i];
        n += vg_urlfile_warn_inline(k->key, k->file_key, *(char **)((const char *)c + k->url_off),
                                    *(char **)((const char *)c + k->file_off), k->secret_path,
                                    c->user);
    }
    return n;
}

int analyzer_engine_params(const struct analyzer_cfg *c, int no_builtin, struct vg_engine_params *p,
                           char *err, size_t errlen)
{
    const struct vg_detector *det = vg_detector_find(c->detector_model);
    if (!det) /* the key's choices refuse other names at load; this is a table out of step */
        return vg_err(err, errlen, -EINVAL,
                      "detector.model: '%s' is a choice of the key but not in vg_detectors[]",
                      c->detector_model);
    *p = (struct vg_engine_params){
        .detector = det,
        .ap = {.threshold = c->alert_threshold,
               .for_ms = c->alert_for_ms,
               .resolve_for_ms = c->alert_resolve_for_ms},
        .series_match = c->alert_series,
        .no_builtin = no_builtin,
        .severity = c->alert_severity,
        .max_hosts = (size_t)c->max_hosts,
        .max_series_per_host = (size_t)c->max_series_per_host,
        .stale_ms = c->alert_stale_after_ms,
        .silent_ms = c->alert_host_silent_ms,
        .idle_ms = c->series_idle_ms,
        .host_idle_ms = c->host_idle_ms,
    };
    if (c->host_idle_ms && c->host_idle_ms <= c->alert_host_silent_ms)
        return vg_err(err, errlen, -EINVAL,
                      "limits.host_idle (%llds) must be longer than alert.host_silent_after "
                      "(%llds), or 0 (never): a host would be forgotten before it is reported "
                      "silent",
                      (long long)(c->host_idle_ms / 1000),
                      (long long)(c->alert_host_silent_ms / 1000));
    if (c->host_idle_ms && c->host_idle_ms < 10000)
        return vg_err(err, errlen, -EINVAL,
                      "limits.host_idle (%lldms) must be at least 10s, or 0 (never)",
                      (long long)c->host_idle_ms);
    analyzer_detector_params(c, &p->dp);
    return 0;
}

void analyzer_model_params(const struct analyzer_cfg *c, struct vg_model_run_params *p)
{
    *p = (struct vg_model_run_params){
        .set = c->model_set,
        .backend = c->model_backend,
        .threads = (int)c->model_threads,
        .group_label = c->model_group_label,
        .env =
            {
                .dir = c->model_dir && *c->model_dir ? c->model_dir : NULL,
                .window = (uint32_t)c->model_window,
                .max_metrics = (uint32_t)c->model_max_metrics,
                .metrics = c->model_metrics,
                .max_hosts = (uint32_t)c->max_hosts,
                .max_groups = (uint32_t)c->model_max_groups,
                .top_k = (uint32_t)c->model_top_k,
                .calib_init = (uint32_t)c->model_calib_init,
                .state_weight = c->model_state_weight,
                .norm_ticks = (uint32_t)c->model_norm_ticks,
                .queue_ticks = (uint32_t)c->model_queue_ticks,
                .train = c->model_train,
                .seed = 1,
            },
    };
}

size_t analyzer_receivers(const struct analyzer_cfg *c, const char *names[4])
{
    size_t n = 0;
    /* A *.url_file counts before it is read (vigilctl rules check -c reads no secret). */
    if (SET(c->webhook_url) || SET(c->webhook_url_file))
        names[n++] = "webhook";
    if (SET(c->alertmanager_url) || SET(c->alertmanager_url_file))
        names[n++] = "alertmanager";
    if (c->pagerduty_routing_key_file && *c->pagerduty_routing_key_file && c->pagerduty_url &&
        *c->pagerduty_url)
        names[n++] = "pagerduty";
    if (SET(c->slack_url) || SET(c->slack_url_file))
        names[n++] = "slack";
    return n;
}

size_t analyzer_check_rule_actions(const struct analyzer_cfg *c, const struct vg_rule_set *set,
                                   struct vg_rule_errlist *el)
{
    const char *names[4];
    size_t nn = analyzer_receivers(c, names);
    char list[64] = "";
    for (size_t i = 0; i < nn; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "", names[i]);
    size_t bad = 0;
    for (size_t r = 0; r < vg_rule_set_count(set); r++) {
        const struct vg_rule *rule = vg_rule_set_rule(set, r);
        for (size_t i = 0; i < vg_rule_action_count(rule); i++) {
            const char *act = vg_rule_action(rule, i);
            size_t k;
            for (k = 0; k < nn; k++)
                if (strcmp(act, names[k]) == 0)
                    break;
            if (k < nn)
                continue;
            bad++;
            char line[8192];
            snprintf(line, sizeof(line),
                     "%s: action '%s' is not a configured receiver (configured: %s; set "
                     "webhook.url, alertmanager.url, pagerduty.routing_key_file or slack.url)",
                     vg_rule_action_where(rule, i), act, nn ? list : "none");
            vg_rule_errlist_add(el, line);
        }
    }
    return bad;
}
