/* The analyzer process's state, shared by its consumer loop (main.c) and its HTTP API (api.c).
 * The consumer thread holds `lock` while it changes the engine or the counters; API handlers
 * hold it while they read them. */
#ifndef VG_ANALYZER_H
#define VG_ANALYZER_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdint.h>

#include "analyzer_config.h"
#include "vg_action.h"
#include "vg_engine.h"
#include "vg_histo.h"
#include "vg_history.h"
#include "vg_http.h"
#include "vg_model_run.h"
#include "vg_wire.h"

struct vg_rule_set;
struct vg_silences;
struct vg_dispatch;
struct vg_decisions;
struct vg_state_topic;
struct analyzer_owed;

/* Failed state checkpoints in a row that make /readyz answer 503 (vg_api_ready). */
#define VG_CKPT_FAILS_NOT_READY 2

struct analyzer {
    struct analyzer_cfg cfg;
    pthread_mutex_t lock;
    struct vg_engine *engine;
    struct receiver {
        const char *name; /* "webhook", "alertmanager", "pagerduty", "slack" */
        const struct vg_action *act;
        void *inst;
        uint64_t refused; /* notifications its queue or outbox would not take */
    } receivers[4];
    size_t n_receivers;
    rd_kafka_t *rk;
    struct vg_wire_msg msg;
    /* The metrics topic's partition count, and the one before it changed (0: not known): which
     * partition a host's key maps to (main.c, host_moved). */
    int32_t metrics_parts, metrics_parts_before;
    int assigned; /* partitions currently assigned (readiness) */
    /* Newly assigned partitions whose hosts a state restore is reading now, and since when (wall
     * clock, ms): not ready meanwhile (vg_api_ready). 0: no restore runs. */
    int restoring;
    int64_t restoring_since_ms;
    int state_touched; /* a host changed without a message (host_silent): checkpoint it */
    /* State checkpoints failed in a row since the last one acknowledged, since when (wall
     * clock, ms) and the last one's reason: /readyz (vg_api_ready). */
    uint64_t ckpt_failing;
    int64_t ckpt_failing_since_ms;
    char ckpt_error[256];
    int64_t started_ms;
    uint64_t consumed, bad_messages, bad_logged, bad_suppressed, consume_errors, commit_errors;
    /* Partition positions librdkafka reset by auto.offset.reset after an error, and the offsets
     * those resets skipped forward over (main.c, note_offset_resets). */
    uint64_t offset_resets, offset_reset_skipped;
    uint64_t notify_refused;
    /* Resolves a receiver refused (its queue or outbox full), kept and handed to it again at
     * each tick until it takes them (analyzer_rules.c): a resolve given up on would leave its
     * incident open for good. resolves_refused counts them (also in notify_refused);
     * resolves_lost those that could not be kept (out of memory, ANALYZER_OWED_MAX) or were
     * still refused at the stop. */
    /* A host's state changed without a message (its alert notified): checkpoint it (main.c;
     * NULL without a state topic). */
    void (*host_changed)(struct analyzer *a, const char *host);
    struct analyzer_owed *owed_head, *owed_tail; /* oldest first */
    size_t n_owed;        /* refused resolves, and firings kept behind them */
    size_t owed_resolves; /* of n_owed */
    int64_t owed_next_ms; /* wall clock of their next try (once a second) */
    uint64_t resolves_refused, resolves_lost;
    struct vg_histo processing_s; /* decode + score + alert, per message */
    struct vg_histo lag_s;        /* wall clock at processing minus the message's timestamp */
    uint64_t lag_negative;        /* messages stamped later than that: observed as 0 lag */
    /* Operations (api_ops.c): recent history for `vigilctl report`, and where the stream comes
     * from for `vigilctl status`. */
    struct vg_history *history;
    const char *bootstrap;
    int embedded;
    struct vg_http_counts http_counts; /* the HTTP server counts its responses here */
    /* Rules, silences, notification dispatch and scaling (analyzer_rules.c). */
    struct vg_rule_set *rules; /* NULL: the built-in rule */
    struct vg_silences *silences;
    struct vg_dispatch *dispatch;
    struct vg_decisions *decisions;
    uint64_t reloads, reload_failures, silences_created, silences_save_errors;
    /* Silence changes take turns from their preparation to their save and, when it succeeds,
     * their making (analyzer_silences_change), so that no other change's snapshot holds one that
     * is then refused; the write itself is outside `lock`. silences_written: the seq of the last
     * snapshot written (vg_silences_write). */
    pthread_mutex_t silences_save_lock;
    uint64_t silences_written;
    uint64_t silences_load_skipped; /* refused in silences.file at start */
    int rules_loaded_once; /* rules.dir loaded at start: a failed reload keeps those running */
    int last_reload_ok;
    int64_t last_reload_ms;
    char *last_reload_errors; /* of the last failed load, one per line; NULL after a success */
    /* Host models and their compute backend (analyzer_models.c); hm.models is NULL when
     * model.set is empty or after the models failed. */
    struct vg_model_run hm;
    int64_t next_model_save;
    int64_t next_model_prune; /* 0: no partition assigned yet (analyzer_models_tick) */
    /* Detector state checkpoints (state.topic, vg_state_topic.h); NULL when off. */
    struct vg_state_topic *state;
};

/* Adds up every receiver's delivery counters (call with lock held). */
void analyzer_receiver_stats(struct analyzer *a, struct vg_action_stats *sum, uint64_t *refused);

/* The API's route table; handlers take `struct analyzer *` as their user data. */
extern const struct vg_http_route vg_api_routes[];
extern const size_t vg_api_n_routes;

#endif
