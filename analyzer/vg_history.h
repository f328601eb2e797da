/* A bounded recent history per host: each series' value and score at a fixed resolution over a
 * sliding window, and the host's last alert transitions. It feeds `vigilctl report` through the
 * API (GET /api/v1/history/{host}), so an operator can look at what the analyzer saw without a
 * metrics database.
 *
 * Memory is bounded twice: every series gets a ring of window/resolution points, and the rings
 * together never exceed max_bytes; when a new series would pass it, the host's series with no
 * point within the window are freed first, and series still beyond are not recorded (counted). The
 * analyzer calls vg_history_record() after vg_engine_process() with its lock held; API handlers
 * read with the same lock held.
 */
#ifndef VG_HISTORY_H
#define VG_HISTORY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "vg_engine.h"
#include "vg_wire.h"

#define VG_HISTORY_ALERTS_PER_HOST 64
/* Boots before a host's current one whose late messages are told from a clock step back (as the
 * engine's VG_ENGINE_PAST_BOOTS). */
#define VG_HISTORY_PAST_BOOTS 4

struct vg_history_params {
    int64_t window_ms;     /* how far back a series' ring reaches */
    int64_t resolution_ms; /* one point per series per this much event time (last value, max
                            * score of the messages in it) */
    size_t max_bytes;      /* all rings together; 0 disables the history */
};

struct vg_history_stats {
    uint64_t hosts;
    uint64_t series;
    uint64_t bytes;
    uint64_t series_refused; /* not recorded: max_bytes reached */
    uint64_t series_ended;   /* freed to make room: no point within the window */
    uint64_t messages_late;  /* not recorded: a redelivery (boot and sequence not newer) */
    /* recorded among newer points: a previous boot's message that came after a newer boot's (an
     * agent's spool replayed after a reboot) */
    uint64_t messages_previous_boot;
};

struct vg_history;

/* Creates an empty history. *out is released with vg_history_free(). */
int vg_history_new(struct vg_history **out, const struct vg_history_params *p, char *err,
                   size_t errlen);

/* Records m's values, and from e (which has just processed m) the scores of m's host and its
 * alert transitions, each in its place in event time order. A host e does not hold (refused at
 * its max_hosts) is not recorded. A redelivery (of the host's current boot or one of the
 * VG_HISTORY_PAST_BOOTS before it, sequence not newer) is not recorded (counted in
 * messages_late); the caller skips those anyway. A late message of a previous boot (a spool
 * replayed after a reboot) is recorded among the newer points, which stay (counted in
 * messages_previous_boot). Any other message older than the host's newest recorded one (its clock
 * stepped back) is recorded, and the points and alert transitions after it are dropped, so that
 * both stay in event time order. NULL h does nothing. */
void vg_history_record(struct vg_history *h, const struct vg_engine *e,
                       const struct vg_wire_msg *m);

/* The host's history as a JSON object (docs/api.md): {"host", "window_ms", "resolution_ms",
 * "series": {NAME: {"t": [...], "value": [...], "score": [...]}}, "alerts": [...]}; points
 * older than since_ms are left out. Returns a new reference the caller decrefs, or NULL when
 * the host is unknown (or out of memory). */
json_t *vg_history_host_json(const struct vg_history *h, const char *host, int64_t since_ms);

/* Frees what is kept of host (its partition moved to another analyzer, or it was forgotten
 * after limits.host_idle), so its bytes go to the hosts still here. NULL h does nothing. */
void vg_history_forget_host(struct vg_history *h, const char *host);

void vg_history_get_stats(const struct vg_history *h, struct vg_history_stats *out);

void vg_history_free(struct vg_history *h);

#endif
