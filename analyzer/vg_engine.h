/* The analyzer's scoring engine: per host and series, a detector state and an alert state.
 * It is fed decoded wire messages one by one, in the order Kafka delivers them per host, and
 * calls back for every alert transition. It knows nothing of Kafka or HTTP, so tests and
 * `vigilctl replay` drive it directly.
 */
#ifndef VG_ENGINE_H
#define VG_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "vg_action.h"
#include "vg_alert.h"
#include "vg_detector.h"
#include "vg_wire.h"

struct vg_engine_params {
    const struct vg_detector *detector;
    struct vg_detector_params dp;
    struct vg_alert_params ap;
    const char *series_match; /* comma-separated shell globs of series to alert on; NULL = all */
    const char *severity;     /* severity label of the built-in rule */
    size_t max_hosts;         /* beyond this, new hosts are refused and counted */
    size_t max_series_per_host;
};

struct vg_engine_stats {
    uint64_t messages;        /* processed */
    uint64_t duplicates;      /* same boot, sequence not newer: skipped (redelivery) */
    uint64_t seq_gaps;        /* messages missing between two of a boot */
    uint64_t samples_scored;  /* values scored */
    uint64_t samples_warming; /* values learned before their series could score */
    uint64_t alerts_fired;
    uint64_t alerts_resolved;
    uint64_t hosts_refused;  /* messages from hosts beyond max_hosts */
    uint64_t series_refused; /* values of series beyond max_series_per_host */
    uint64_t hosts;
    uint64_t series;
    uint64_t firing; /* alerts firing now */
};

typedef void (*vg_engine_notify_fn)(void *ud, const struct vg_notification *n);

struct vg_engine;

/* Creates an engine; strings in p are copied. Free with vg_engine_free(). */
int vg_engine_new(struct vg_engine **out, const struct vg_engine_params *p, char *err,
                  size_t errlen);

/* Scores every metric of m and calls fn for each alert transition. Returns 0, 1 when m was a
 * duplicate and skipped, or -ENOMEM. */
int vg_engine_process(struct vg_engine *e, const struct vg_wire_msg *m, vg_engine_notify_fn fn,
                      void *ud);

void vg_engine_get_stats(const struct vg_engine *e, struct vg_engine_stats *out);

/* What the API shows of one host. */
struct vg_engine_host {
    const char *name;
    const char *boot;
    uint64_t last_seq;
    int64_t last_ts_ms; /* event time of the last message */
    double max_score;   /* highest series score in the last message */
    size_t n_series;
};

struct vg_engine_series {
    const char *name;
    double value; /* last value */
    double score; /* last score; 0 while warming up */
    int warm;
    enum vg_alert_state state;
};

/* Calls fn for every host. The engine must not change meanwhile (the caller holds its lock). */
void vg_engine_each_host(const struct vg_engine *e,
                         void (*fn)(void *ud, const struct vg_engine_host *h), void *ud);

/* Describes one host and calls fn for each of its series. Returns 0 or -ENOENT. */
int vg_engine_describe_host(const struct vg_engine *e, const char *host, struct vg_engine_host *out,
                            void (*fn)(void *ud, const struct vg_engine_series *s), void *ud);

void vg_engine_free(struct vg_engine *e);

#endif
