#include "api_metrics.h"

#include <string.h>

#define NOT_IN_TABLE "(not in the metrics table: analyzer/api_metrics.c)"

const struct vg_api_metric vg_api_metrics[] = {
    {"vigil_messages_consumed_total", VG_METRIC_COUNTER, NULL, NULL,
     "Kafka messages consumed, each once: the bad ones skipped included, librdkafka's repeated "
     "reports of a batch it cannot read not."},
    {"vigil_http_requests_total", VG_METRIC_COUNTER, "code", NULL,
     "HTTP API responses by status code, refusals included (401 wrong or missing token, 413, "
     "429 rate limit, 400 bad request); a code appears once it has been answered. Each 401 is "
     "also logged (rate-limited)."},
    {"vigil_http_connections_closed_for_room_total", VG_METRIC_COUNTER, NULL, NULL,
     "HTTP API connections closed to make room: while more than http.max_connections were "
     "open, the one that had waited longest (1 s at least) with no request being answered "
     "(sending none, or part of one, or kept alive since its last response). Each is logged "
     "(rate-limited) as `http connection closed to make room`."},
    {"vigil_bad_messages_total", VG_METRIC_COUNTER, NULL, NULL,
     "Messages skipped as bad: rejected by the wire decoder, or in a batch librdkafka could not "
     "check or decompress (each of its records once); each logged as `bad message skipped` with "
     "topic, partition and offset (and key, or the batch's offset)."},
    {"vigil_duplicate_messages_total", VG_METRIC_COUNTER, NULL, NULL,
     "Redelivered messages skipped."},
    {"vigil_sequence_gaps_total", VG_METRIC_COUNTER, NULL, NULL,
     "Messages missing between two of an agent boot."},
    {"vigil_host_boot_conflicts_total", VG_METRIC_COUNTER, NULL, NULL,
     "Messages refused because two agents claim one host name (a cloned machine: their boot ids "
     "take turns): those of the agent that did not take the host over last, kept from its "
     "detectors, models and history; the first of each host is logged as `two agents claim one "
     "host`."},
    {"vigil_host_clock_ahead_total", VG_METRIC_COUNTER, NULL, NULL,
     "Messages stamped more than 5 s ahead of the analyzer's wall clock: their agent's clock is "
     "fast (Alertmanager is sent the analyzer's times for them). Logged as `host clock ahead of "
     "the analyzer's` each time a host's messages start being ahead."},
    {"vigil_host_clock_steps_back_total", VG_METRIC_COUNTER, NULL, NULL,
     "Messages (not redeliveries: those are told by boot and sequence number) stamped before their "
     "host's previous message: its clock stepped back. They are scored, recorded and fed to the "
     "host models as any other; each is logged as `host clock stepped back`. A late message of "
     "a previous boot is not one of them: vigil_host_previous_boot_late_total."},
    {"vigil_host_previous_boot_late_total", VG_METRIC_COUNTER, NULL, NULL,
     "Messages (not redeliveries) of one of their host's 4 previous boots that came after a newer "
     "boot's: its agent's spool replayed after a reboot. No clock step: the host stays on the "
     "newer boot, whose detectors and rule windows do not take them; they are recorded in the "
     "history in their place and fed to the host models. The first of a run is logged as `late "
     "message of a previous boot: not scored`."},
    {"vigil_samples_scored_total", VG_METRIC_COUNTER, NULL, NULL, "Series values scored."},
    {"vigil_samples_warming_total", VG_METRIC_COUNTER, NULL, NULL,
     "Series values learned during warm-up."},
    {"vigil_alerts_fired_total", VG_METRIC_COUNTER, NULL, NULL, "Alerts that started firing."},
    {"vigil_alerts_resolved_total", VG_METRIC_COUNTER, NULL, NULL, "Alerts that resolved."},
    {"vigil_hosts_refused_total", VG_METRIC_COUNTER, NULL, NULL,
     "Messages of hosts beyond limits.max_hosts: not scored, not fed to the host models, not "
     "recorded in the history or the state topic."},
    {"vigil_series_refused_total", VG_METRIC_COUNTER, NULL, NULL,
     "Values of series beyond limits.max_series_per_host."},
    {"vigil_series_reserved_total", VG_METRIC_COUNTER, NULL, NULL,
     "Values of series refused because their name starts with host:, which rules read as a host "
     "model's score (value(\"host:mv\")); the first of each host is logged."},
    {"vigil_labels_dropped_total", VG_METRIC_COUNTER, NULL, NULL,
     "Labels left out of messages that carry more than 64 (agents from before that limit; the "
     "first 64 are used); the first such message of each host is logged."},
    {"vigil_alerts_stale_resolved_total", VG_METRIC_COUNTER, NULL, NULL,
     "Per-series alerts resolved because their host stopped reporting the series "
     "(alert.stale_after)."},
    {"vigil_hosts_silent", VG_METRIC_GAUGE, NULL, NULL,
     "Hosts whose host_silent alert fires now (alert.host_silent_after)."},
    {"vigil_alert_series_unmatched_patterns", VG_METRIC_GAUGE, NULL, NULL,
     "alert.series patterns that matched no metric of any host so far (each host's first two "
     "messages here are looked at): most likely mistyped, they select no series. Each is logged "
     "once, as `alert.series: a pattern matches no series of this host` with the first host it "
     "missed; one that matches a later host's metrics is no longer counted."},
    {"vigil_series_expired_total", VG_METRIC_COUNTER, NULL, NULL,
     "Series forgotten after their host stopped reporting them (limits.series_idle)."},
    {"vigil_hosts_cold_started_total", VG_METRIC_COUNTER, NULL, NULL,
     "Hosts first seen here without restored state, or restored from a record of another "
     "model's (or an unknown layout's) detector states: their series warm up."},
    {"vigil_hosts_released_total", VG_METRIC_COUNTER, NULL, NULL,
     "Hosts dropped because their partition moved to another analyzer."},
    {"vigil_hosts_moved_total", VG_METRIC_COUNTER, NULL, NULL,
     "Hosts released quietly (no host_silent, no tombstone) when they stopped arriving because "
     "partitions were added to the metrics topic and their key maps to another analyzer's "
     "partition now."},
    {"vigil_hosts_expired_total", VG_METRIC_COUNTER, NULL, NULL,
     "Hosts forgotten after limits.host_idle without a message; their alerts were resolved."},
    {"vigil_rule_states_restored_total", VG_METRIC_COUNTER, NULL, NULL,
     "Pending and firing rule alerts restored with their host from the state topic."},
    {"vigil_rule_states_skipped_total", VG_METRIC_COUNTER, NULL, NULL,
     "Pending rule alerts restored with their host, of rules this analyzer's rule files do not "
     "have: dropped."},
    {"vigil_rule_states_resolved_total", VG_METRIC_COUNTER, NULL, NULL,
     "Firing rule alerts restored with their host, of rules this analyzer's rule files do not "
     "have: resolved (same fingerprint), as a reload that removes the rule resolves them."},
    {"vigil_state_checkpoints_total", VG_METRIC_COUNTER, NULL, "state.topic set",
     "State checkpoints the broker acknowledged (state.topic)."},
    {"vigil_state_checkpoint_errors_total", VG_METRIC_COUNTER, NULL, "state.topic set",
     "State checkpoints not acknowledged: offsets not committed."},
    {"vigil_state_producer_recreated_total", VG_METRIC_COUNTER, NULL, "state.topic set",
     "State producers replaced after a fatal error (the idempotent producer's, e.g. a sequence "
     "desynchronization), which would have failed every later checkpoint."},
    {"vigil_state_bytes_written_total", VG_METRIC_COUNTER, NULL, "state.topic set",
     "Bytes of host state records in acknowledged checkpoints."},
    {"vigil_state_checkpoint_seconds_total", VG_METRIC_COUNTER, NULL, "state.topic set",
     "Consumer-thread time spent writing state checkpoints."},
    {"vigil_state_hosts_deleted_total", VG_METRIC_COUNTER, NULL, "state.topic set",
     "Tombstones written for hosts forgotten after limits.host_idle (their records deleted)."},
    {"vigil_state_hosts_restored_total", VG_METRIC_COUNTER, NULL, "state.topic set",
     "Hosts restored from the state topic on partition assignment."},
    {"vigil_state_restore_errors_total", VG_METRIC_COUNTER, NULL, "state.topic set",
     "State records refused on restore, and restores that failed (the topic or a partition's "
     "end unreadable, state.restore_timeout passed): their hosts start cold."},
    {"vigil_state_models_restored_total", VG_METRIC_COUNTER, NULL, "state.topic set",
     "Host model states restored with their hosts."},
    {"vigil_state_model_errors_total", VG_METRIC_COUNTER, NULL, "state.topic set",
     "Host model states refused on restore: that model starts the host fresh."},
    {"vigil_state_records_trimmed_total", VG_METRIC_COUNTER, NULL, "state.topic set",
     "Host state records written without their series' detector states (and, if still too large, "
     "their host models' state): the whole record was larger than the state topic takes."},
    {"vigil_state_records_dropped_total", VG_METRIC_COUNTER, NULL, "state.topic set",
     "Host state records not written at a checkpoint: too large even with only the host's "
     "sequence, labels and alerts."},
    {"vigil_state_record_trials_total", VG_METRIC_COUNTER, NULL, "state.topic set",
     "Host state records tried one step larger after the broker refused the host's record (the "
     "topic's max.message.bytes may have been raised)."},
    {"vigil_state_record_trials_refused_total", VG_METRIC_COUNTER, NULL, "state.topic set",
     "Of those trials, the ones the broker refused again (the next waits twice as long)."},
    {"vigil_state_hosts_pending", VG_METRIC_GAUGE, NULL, "state.topic set",
     "Hosts changed since the last acknowledged state checkpoint (it grows while checkpoints "
     "fail)."},
    {"vigil_consume_errors_total", VG_METRIC_COUNTER, NULL, NULL,
     "Errors reported by the Kafka consumer."},
    {"vigil_offset_resets_total", VG_METRIC_COUNTER, NULL, NULL,
     "Partition positions librdkafka reset by kafka.auto.offset.reset after an error "
     "(OFFSET_OUT_OF_RANGE: retention deleted the position, the topic was recreated or "
     "truncated); each is logged as `partition offset reset`."},
    {"vigil_offset_reset_skipped_total", VG_METRIC_COUNTER, NULL, NULL,
     "Records those resets skipped forward over, never consumed: counted (and logged as `records "
     "skipped by an offset reset`) when the partition's next record arrives."},
    {"vigil_commit_errors_total", VG_METRIC_COUNTER, NULL, NULL, "Failed offset commits."},
    {"vigil_webhook_delivered_total", VG_METRIC_COUNTER, NULL, NULL,
     "Alert notifications delivered (2xx), all receivers."},
    {"vigil_webhook_attempt_errors_total", VG_METRIC_COUNTER, NULL, NULL,
     "Delivery attempts that failed."},
    {"vigil_webhook_tls_errors_total", VG_METRIC_COUNTER, NULL, NULL,
     "Delivery attempts that failed TLS verification or handshake, all receivers."},
    {"vigil_webhook_redirects_total", VG_METRIC_COUNTER, NULL, NULL,
     "Delivery attempts and Alertmanager re-sends answered with a redirect (3xx), all receivers: "
     "redirects are not followed, the receiver's url is to be fixed (logged with the location; "
     "also in vigil_webhook_attempt_errors_total)."},
    {"vigil_webhook_dropped_total", VG_METRIC_COUNTER, NULL, NULL,
     "Notifications given up on: refused for good (a 4xx), older than webhook.max_age (also in "
     "vigil_webhook_expired_total), alertmanager's after webhook.max_attempts, or held firings "
     "past webhook.queue_max of them (the oldest)."},
    {"vigil_webhook_queue_full_total", VG_METRIC_COUNTER, NULL, NULL,
     "Notifications refused, all receivers: queue or outbox full (or out of memory); each is "
     "counted and logged with its alert (msg=\"alert not queued\") once, when first refused."},
    {"vigil_webhook_resolves_refused_total", VG_METRIC_COUNTER, NULL, NULL,
     "Resolves a receiver refused although each has headroom past webhook.queue_max (also in "
     "vigil_webhook_queue_full_total, once: a later try its queue refuses is not counted again; "
     "vigil_webhook_resolves_owed says how many wait): kept and handed to the receiver again "
     "every second until "
     "it takes them, a later firing of the same alert kept behind and handed on after it; each is "
     "logged (msg=\"resolve not "
     "queued: kept, and handed to the receiver again until it takes it\")."},
    {"vigil_webhook_resolves_owed", VG_METRIC_GAUGE, NULL, NULL,
     "Refused resolves kept now, waiting for their receiver's queue to take them."},
    {"vigil_webhook_resolves_lost_total", VG_METRIC_COUNTER, NULL, NULL,
     "Refused resolves given up on: more than 100000 kept, out of memory, still refused when "
     "the analyzer stopped, or their host moved to another analyzer; their incidents stay open at "
     "the receiver (each logged at error "
     "level)."},
    {"vigil_webhook_queued", VG_METRIC_GAUGE, NULL, NULL, "Notifications waiting for delivery."},
    {"vigil_webhook_retrying", VG_METRIC_GAUGE, NULL, NULL,
     "Of those, the ones that failed webhook.max_attempts times and are still retried every "
     "webhook.backoff_max: a receiver failing for longer than the backoff, or refusing them with "
     "retryable errors."},
    {"vigil_webhook_held", VG_METRIC_GAUGE, NULL, NULL,
     "Firings held back, not sent, all receivers but Alertmanager (with state.topic set): found "
     "in the outbox at start, or of a host handed over while the receiver was failing. Each goes "
     "out once this analyzer takes its alert over as firing; a later notification of the alert "
     "or a finished state restore that holds its host without the alert firing ends it "
     "(vigil_webhook_coalesced_total), webhook.max_age drops it (vigil_webhook_expired_total), "
     "and past webhook.queue_max held the oldest is dropped (vigil_webhook_dropped_total). Not "
     "in vigil_webhook_queued."},
    {"vigil_webhook_expired_total", VG_METRIC_COUNTER, NULL, NULL,
     "Notifications dropped because they still failed at webhook.max_age, after "
     "webhook.max_attempts failures in this run (also in vigil_webhook_dropped_total); each is "
     "logged at error level. Also held firings (vigil_webhook_held) that reached webhook.max_age, "
     "logged at warning level."},
    {"vigil_webhook_coalesced_total", VG_METRIC_COUNTER, NULL, NULL,
     "Firing notifications not sent because their resolve replaced them: it was submitted while "
     "they were still queued or while an attempt of theirs that failed was under way, or both "
     "were pending in the outbox at start; the resolve went alone, in their place (logged at "
     "debug level). Also firings found pending at start whose resolve was already delivered, "
     "and held firings (vigil_webhook_held) that a later notification of their alert or a state "
     "restore ended."},
    {"vigil_receiver_delivered_total", VG_METRIC_COUNTER, "receiver", NULL,
     "Notifications delivered, per receiver."},
    {"vigil_webhook_outbox_errors_total", VG_METRIC_COUNTER, "receiver", "outbox.dir set",
     "Outbox appends that failed (disk full, I/O error): the notification was queued in memory "
     "only and is lost if the analyzer stops or crashes before delivering it; logged once per "
     "episode."},
    {"vigil_webhook_outbox_replayed_total", VG_METRIC_COUNTER, "receiver", "outbox.dir set",
     "Undelivered notifications loaded from the receiver's outbox at start."},
    {"vigil_webhook_outbox_syncs_total", VG_METRIC_COUNTER, "receiver", "outbox.dir set",
     "fdatasync/fsync calls of the receiver's outbox: one per accepted notification, one per "
     "acknowledgement, and those of compactions."},
    {"vigil_webhook_outbox_sync_seconds_total", VG_METRIC_COUNTER, "receiver", "outbox.dir set",
     "Time spent in those calls; an accepted notification waits for its own in the consumer "
     "thread."},
    {"vigil_alerts_firing", VG_METRIC_GAUGE, NULL, NULL, "Alerts firing now."},
    {"vigil_hosts", VG_METRIC_GAUGE, NULL, NULL, "Hosts tracked."},
    {"vigil_series", VG_METRIC_GAUGE, NULL, NULL, "Series tracked."},
    {"vigil_partitions_assigned", VG_METRIC_GAUGE, NULL, NULL,
     "Kafka partitions assigned to this analyzer."},
    {"vigil_uptime_seconds", VG_METRIC_GAUGE, NULL, NULL, "Seconds since start."},
    {"vigil_processing_seconds", VG_METRIC_HISTOGRAM, NULL, NULL,
     "Time to decode, score and evaluate one message."},
    {"vigil_event_lag_seconds", VG_METRIC_HISTOGRAM, NULL, NULL,
     "Processing time minus the message's timestamp: from the start of the agent's collection "
     "(its own time included) to scoring; 0 for a message stamped later than its processing "
     "(vigil_event_lag_negative_total), so that _sum never falls."},
    {"vigil_event_lag_negative_total", VG_METRIC_COUNTER, NULL, NULL,
     "Messages stamped later than the analyzer's wall clock when processed: their host's clock "
     "is ahead (by any amount; beyond 5 s also vigil_host_clock_ahead_total), or the analyzer's "
     "behind. Their lag is observed as 0 in vigil_event_lag_seconds, whose quantiles then read "
     "low."},
    {"vigil_host_score", VG_METRIC_GAUGE, "host; host, model", NULL,
     "Highest series score in the host's last message."},
    {"vigil_notifications_sent_total", VG_METRIC_COUNTER, NULL, NULL,
     "Alert notifications handed to receivers, repeats included."},
    {"vigil_notifications_repeated_total", VG_METRIC_COUNTER, NULL, NULL,
     "Repeats of firing notifications."},
    {"vigil_notifications_repeated_after_cold_start_total", VG_METRIC_COUNTER, NULL, NULL,
     "Firing notifications sent once more (also in vigil_notifications_repeated_total) because "
     "their host started cold here at most alert.host_silent_after + 90 s before: it may have "
     "moved from another analyzer, whose release of the host resolves its alerts "
     "(docs/alerts.md)."},
    {"vigil_notifications_deduplicated_total", VG_METRIC_COUNTER, NULL, NULL,
     "Firing transitions of alerts already firing (same fingerprint), dropped."},
    {"vigil_alerts_handed_over_total", VG_METRIC_COUNTER, NULL, NULL,
     "Firing alerts dropped here because their host moved to another analyzer."},
    {"vigil_notifications_sent_early_total", VG_METRIC_COUNTER, NULL, NULL,
     "Firing notifications group_wait still held, sent early because their partitions were "
     "revoked or this analyzer stopped: before that checkpoint, so that the next owner takes "
     "them as notified."},
    {"vigil_alerts_taken_over_unnotified_total", VG_METRIC_COUNTER, NULL, NULL,
     "Of vigil_alerts_taken_over_total, those whose state record said their firing notification "
     "was not handed to the receivers yet (group_wait or a silence held it when the analyzer "
     "that checkpointed them was killed or stopped): sent from here once what is left of their "
     "group_wait has passed."},
    {"vigil_alerts_taken_over_total", VG_METRIC_COUNTER, NULL, NULL,
     "Firing alerts that came here with their host (restart or partition move): listed, "
     "repeated and kept active at Alertmanager from here on; those whose record said they were "
     "not notified yet are also in vigil_alerts_taken_over_unnotified_total."},
    {"vigil_notifications_silenced_total", VG_METRIC_COUNTER, NULL, NULL,
     "Firing notifications held back by a silence."},
    {"vigil_silences_created_total", VG_METRIC_COUNTER, NULL, NULL,
     "Silences created through the API."},
    {"vigil_silences_save_errors_total", VG_METRIC_COUNTER, NULL, NULL,
     "Silence changes (create, expire) refused with 503 because silences.file could not be "
     "written; the change was not made."},
    {"vigil_silences_load_skipped_total", VG_METRIC_COUNTER, NULL, NULL,
     "Silences in silences.file refused at start (saved by an older version that accepted them, "
     "e.g. a matcher with a backreference): logged and left out."},
    {"vigil_silences_active", VG_METRIC_GAUGE, NULL, NULL, "Silences in force now."},
    {"vigil_rule_reloads_total", VG_METRIC_COUNTER, NULL, NULL, "Successful rule reloads."},
    {"vigil_rule_reload_failures_total", VG_METRIC_COUNTER, NULL, NULL,
     "Rule reloads refused (the old rules stayed)."},
    {"vigil_rule_evaluations_total", VG_METRIC_COUNTER, NULL, NULL, "Rule conditions evaluated."},
    {"vigil_rules_loaded", VG_METRIC_GAUGE, NULL, NULL, "Rules in the running set."},
    {"vigil_scale_evaluations_total", VG_METRIC_COUNTER, NULL, "rules.dir has scaling policies",
     "Scaling policy evaluations."},
    {"vigil_scale_changes_total", VG_METRIC_COUNTER, NULL, "rules.dir has scaling policies",
     "Scaling decisions that changed the count."},
    {"vigil_scale_published_total", VG_METRIC_COUNTER, NULL, "rules.dir has scaling policies",
     "Decisions acknowledged by Kafka."},
    {"vigil_scale_publish_errors_total", VG_METRIC_COUNTER, NULL, "rules.dir has scaling policies",
     "Decisions Kafka did not take."},
    {"vigil_scale_webhook_sent_total", VG_METRIC_COUNTER, NULL, "rules.dir has scaling policies",
     "Decisions decisions.webhook_url answered with 2xx."},
    {"vigil_scale_webhook_errors_total", VG_METRIC_COUNTER, NULL, "rules.dir has scaling policies",
     "Decisions not posted to decisions.webhook_url: attempts spent or queue full."},
    {"vigil_scale_restored_total", VG_METRIC_COUNTER, NULL, "rules.dir has scaling policies",
     "Targets continued at start from their latest decision on decisions.topic."},
    {"vigil_scale_restore_refused_total", VG_METRIC_COUNTER, NULL, "rules.dir has scaling policies",
     "Records of decisions.topic read at start that were not a decision (logged)."},
    {"vigil_scale_restore_incomplete_total", VG_METRIC_COUNTER, NULL,
     "rules.dir has scaling policies",
     "Targets started from `initial` because decisions.topic was not read to its end at start "
     "(decisions.restore_timeout passed, or the topic unreadable; logged with their names)."},
    {"vigil_scale_local_only", VG_METRIC_GAUGE, NULL, "rules.dir has scaling policies",
     "1 while this analyzer decides from its own hosts only (no partials exchange: "
     "decisions.partials_topic empty or not usable), 0 while decisions are fleet-wide (and "
     "before the first policy)."},
    {"vigil_scale_metrics_partitions", VG_METRIC_GAUGE, NULL, "rules.dir has scaling policies",
     "The metrics topic's partition count as this analyzer knows it (which analyzer decides "
     "each target follows from it); 0 while unknown, when a fleet-wide analyzer decides "
     "nothing and looks it up again every 10 s (logged)."},
    {"vigil_scale_partials_published_total", VG_METRIC_COUNTER, NULL,
     "rules.dir has scaling policies",
     "Partial measurements of this analyzer acknowledged by Kafka (decisions.partials_topic)."},
    {"vigil_scale_partials_errors_total", VG_METRIC_COUNTER, NULL, "rules.dir has scaling policies",
     "Partial measurements Kafka did not take, and failed joins of the exchange, at start and "
     "each retry (logged)."},
    {"vigil_scale_exchange_join_retries_total", VG_METRIC_COUNTER, NULL,
     "rules.dir has scaling policies",
     "Retries of joining the partials exchange after it failed (local-only meanwhile), the "
     "successful one included; each failed one is also in vigil_scale_partials_errors_total."},
    {"vigil_scale_partials_received_total", VG_METRIC_COUNTER, NULL,
     "rules.dir has scaling policies", "Partial measurements of other analyzers kept."},
    {"vigil_scale_partials_refused_total", VG_METRIC_COUNTER, NULL,
     "rules.dir has scaling policies",
     "Records of decisions.partials_topic that were not a partial measurement (logged)."},
    {"vigil_scale_partials_overlapped_total", VG_METRIC_COUNTER, NULL,
     "rules.dir has scaling policies",
     "Partials left out of a merge because a newer one counted their partitions (hosts moved by "
     "a rebalance)."},
    {"vigil_scale_decisions_followed_total", VG_METRIC_COUNTER, NULL,
     "rules.dir has scaling policies",
     "Fleet-wide decisions of other analyzers taken over from decisions.topic."},
    {"vigil_scale_follow_refused_total", VG_METRIC_COUNTER, NULL, "rules.dir has scaling policies",
     "Records of decisions.topic, read live, that were not a decision (logged)."},
    {"vigil_scale_times_capped_total", VG_METRIC_COUNTER, NULL, "rules.dir has scaling policies",
     "Times of other analyzers' partials and decisions, and of decisions read back at start, "
     "more than 5 s ahead of this analyzer's wall clock, capped there (a fast clock; logged)."},
    {"vigil_scale_clock_behind_total", VG_METRIC_COUNTER, NULL, "rules.dir has scaling policies",
     "Evaluations whose event time was behind the target's last change (a replay after a "
     "restart, or agents' clocks behind the previous decider's): held by the cooldown (logged)."},
    {"vigil_scale_desired_replicas", VG_METRIC_GAUGE, "target", "rules.dir has scaling policies",
     "Latest desired replicas per target."},
    {"vigil_model_steps_total", VG_METRIC_COUNTER, NULL, "model.set has mv",
     "Batched steps of the mv model's host groups."},
    {"vigil_model_hosts", VG_METRIC_GAUGE, NULL, "model.set has mv", "Hosts the mv model scores."},
    {"vigil_model_groups", VG_METRIC_GAUGE, NULL, "model.set has mv",
     "Host groups of the mv model."},
    {"vigil_model_hosts_refused_total", VG_METRIC_COUNTER, NULL, "model.set has mv",
     "Host ticks the mv model did not take (limits, too few metrics, no memory for it)."},
    {"vigil_model_hosts_regrouped_total", VG_METRIC_COUNTER, NULL, "model.set has mv",
     "Hosts of the mv model whose group label (model.group_label) changed: each left its group and "
     "started over in the one it names, logged as `host moved group`."},
    {"vigil_model_metrics_ignored_total", VG_METRIC_COUNTER, NULL, "model.set has mv",
     "Values of metrics their host's mv group does not model (not among the columns its first "
     "host gave it: a collector or a disk added later); their names are logged once per group."},
    {"vigil_model_checkpoints_refused_total", VG_METRIC_COUNTER, NULL, "model.set has mv",
     "Model checkpoint files refused at start."},
    {"vigil_model_checkpoints_loaded_total", VG_METRIC_COUNTER, NULL, "model.set has mv",
     "Host groups resumed from a checkpoint."},
    {"vigil_model_steps_forced_total", VG_METRIC_COUNTER, NULL, "model.set has mv",
     "Steps of the mv model forced by a host's full queue (model.queue_ticks), without the hosts "
     "of its group that were behind."},
    {"vigil_model_ticks_queued", VG_METRIC_GAUGE, NULL, "model.set has mv",
     "Host ticks the mv model holds until their group steps."},
    {"vigil_model_ticks_queued_max", VG_METRIC_GAUGE, NULL, "model.set has mv",
     "The most host ticks the mv model held at once."},
    {"vigil_model_hosts_absent", VG_METRIC_GAUGE, NULL, "model.set has mv",
     "Hosts whose group steps without waiting for them (no tick in its last step, none since)."},
    {"vigil_model_resets_total", VG_METRIC_COUNTER, NULL, "model.set has mv",
     "Host groups of the mv model started fresh because a host that reported finite values scored "
     "NaN (a model fault; never expected)."},
    {"vigil_model_calibrations_relearned_total", VG_METRIC_COUNTER, NULL, "model.set has mv",
     "Host calibrations of the mv model learned again because their burst gate stayed closed for "
     "600 steps in a row: the host's usual score had risen past its calibration (as a new group's "
     "model improves, a few per host; logged at info)."},
    {NULL, VG_METRIC_COUNTER, NULL, NULL, NULL},
};

const struct vg_api_metric *vg_api_metric_find(const char *name)
{
    for (const struct vg_api_metric *m = vg_api_metrics; m->name; m++)
        if (strcmp(m->name, name) == 0)
            return m;
    return NULL;
}

const char *vg_api_metric_help(const char *name)
{
    const struct vg_api_metric *m = vg_api_metric_find(name);
    return m ? m->help : NOT_IN_TABLE;
}

static const char *kind_name(enum vg_metric_kind k)
{
    return k == VG_METRIC_GAUGE ? "gauge" : k == VG_METRIC_HISTOGRAM ? "histogram" : "counter";
}

void vg_api_metric_head(FILE *f, const char *name)
{
    const struct vg_api_metric *m = vg_api_metric_find(name);
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, m ? m->help : NOT_IN_TABLE, name,
            m ? kind_name(m->kind) : "untyped");
}

void vg_api_counter(FILE *f, const char *name, uint64_t v)
{
    vg_api_metric_head(f, name);
    fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

void vg_api_gauge(FILE *f, const char *name, double v)
{
    vg_api_metric_head(f, name);
    fprintf(f, "%s %.9g\n", name, v);
}

void vg_api_metrics_doc(FILE *f)
{
    fprintf(f,
            "# vigil-analyzer metrics\n\n"
            "Generated by `vigil-analyzer --metrics-doc` from `analyzer/api_metrics.c`: what\n"
            "`GET /metrics` (docs/api.md) exports about the analyzer itself, in Prometheus text\n"
            "format. The agent's metrics (the data it collects) are in docs/metrics.md.\n\n"
            "| metric | type | labels | exported | meaning |\n|---|---|---|---|---|\n");
    for (const struct vg_api_metric *m = vg_api_metrics; m->name; m++)
        fprintf(f, "| `%s` | %s | %s | %s | %s |\n", m->name, kind_name(m->kind),
                m->labels ? m->labels : "", m->when ? m->when : "always", m->help);
}
