/* The analyzer's rules, silences, notification dispatch and scaling decisions, and their
 * reload: the glue between the engine, rules/, vg_dispatch, vg_decisions and the receivers.
 * Every function but analyzer_rules_load() is called with a->lock held. */
#ifndef VG_ANALYZER_RULES_H
#define VG_ANALYZER_RULES_H

#include <stddef.h>

#include "analyzer.h"

struct vg_silences_change;

/* At start, after the engine exists: loads rules.dir (when set) and silences.file, creates the
 * silence store and the dispatcher. An error is a config error (err holds every rule mistake,
 * one per line). */
int analyzer_rules_load(struct analyzer *a, char *err, size_t errlen);

/* Once the Kafka bootstrap address is known: the decisions producer and webhook. */
int analyzer_decisions_open(struct analyzer *a, const char *bootstrap, char *err, size_t errlen);

/* Loads rules.dir again; on success swaps it in (keeping detector and alert state), on failure
 * keeps the running rules. 0, -ENOENT (no rules.dir), -EINVAL (mistakes: err) or -ENOMEM. */
int analyzer_reload(struct analyzer *a, char *err, size_t errlen);

/* The engine's transition callback: into the dispatcher. */
void analyzer_on_event(void *ud, const struct vg_notification *n);

/* vg_engine_each_firing's callback after a restore: alerts that came with their hosts, into the
 * dispatcher as taken over (vg_dispatch_adopt). */
void analyzer_on_adopted(void *ud, const struct vg_notification *n);

/* The host moved to another analyzer (or its state was dropped): its kept resolves, and firings
 * kept behind them, are dropped, logged and counted (resolves_lost), since one handed on late
 * would close the new owner's incident of the same alert (same fingerprint). */
void analyzer_owed_forget_host(struct analyzer *a, const char *host);

/* At the stop, before the receivers drain: hands them the resolves they refused (queue full)
 * once more; those still refused are lost, logged and counted (resolves_lost). */
void analyzer_owed_flush(struct analyzer *a);

/* Sends what became due (refused resolves, group waits, silences that ended, repeats) and runs
 * due policies. */
void analyzer_tick(struct analyzer *a);

/* Makes a change through the API (vg_silences_prepare_*), saved first when silences.file is set,
 * then lets the dispatcher release what a silence that ended held. A failed save is counted and
 * logged and returns -errno with err, the change not made: a restart would lose it. Called with
 * a->silences_save_lock and a->lock held; a->lock is released for the write and its fsync, so
 * that messages are scored meanwhile, and held again on return. The change is made only after
 * the write: until then ticks, GETs and matching see the silences as they were. */
int analyzer_silences_change(struct analyzer *a, struct vg_silences_change *ch, char *err,
                             size_t errlen);

void analyzer_rules_free(struct analyzer *a);

#endif
