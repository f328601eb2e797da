/* Silences: label matchers with a time range that mute alert notifications (docs/api.md).
 *
 * Matchers are written like a rule's select (rules/vg_rule_select.h). The store is not
 * thread-safe: the analyzer holds its lock around every call but vg_silences_write(), which
 * touches only a snapshot. Times are wall-clock Unix ms.
 */
#ifndef VG_SILENCE_H
#define VG_SILENCE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "vg_rule_select.h"

#define VG_SILENCE_ID_LEN  17 /* 16 hex digits and the NUL */
#define VG_SILENCE_MAX     10000
#define VG_SILENCE_KEEP_MS 3600000 /* expired silences stay listed this long */

struct vg_silences;

int vg_silences_new(struct vg_silences **out);
void vg_silences_free(struct vg_silences *s);

/* Creates a silence from a POST body (JSON, docs/api.md). On success fills id and returns 0;
 * -EINVAL with the reason in err for a bad request (duplicate keys included), -ENOSPC when
 * VG_SILENCE_MAX are active or pending. At the cap, expired silences still listed make room,
 * the one that ended first going first. */
int vg_silences_add_json(struct vg_silences *s, const char *body, size_t len, int64_t now_ms,
                         char id[VG_SILENCE_ID_LEN], char *err, size_t errlen);

/* Ends a silence now. 0 or -ENOENT. */
int vg_silences_expire(struct vg_silences *s, const char *id, int64_t now_ms);

/* A change through the API, in two steps: the analyzer writes silences.file from a snapshot as if
 * the change were made (vg_silences_snapshot_change) without its lock, and makes the change
 * (vg_silences_apply) only once the file holds it. A change refused because it could not be
 * saved was then never seen: no tick meanwhile sent what a DELETE would release, nor held back
 * what a POST would. Between the two steps no other change may be prepared or applied (the
 * analyzer's silences_save_lock); silences may still end and be forgotten with time. */
struct vg_silence;
struct vg_silences_change {
    char id[VG_SILENCE_ID_LEN]; /* the silence added or expired */
    int64_t now_ms;             /* when the change is made: its times, and the answer's */
    struct vg_silence *add;     /* the silence to add, not in the store yet; NULL: an expiry */
    /* The expired silences the add makes room for at the cap: dropped when it is applied, not
     * when it is prepared, so that an add never applied leaves them listed. */
    char (*drop)[VG_SILENCE_ID_LEN];
    size_t n_drop;
};

/* vg_silences_add_json's checks (and answers), room found at the cap (ch->drop) and memory set
 * aside, so that vg_silences_apply() cannot fail for it. */
int vg_silences_prepare_add(struct vg_silences *s, const char *body, size_t len, int64_t now_ms,
                            struct vg_silences_change *ch, char *err, size_t errlen);
/* An expiry of id at now_ms. 0 or -ENOENT. */
int vg_silences_prepare_expire(struct vg_silences *s, const char *id, int64_t now_ms,
                               struct vg_silences_change *ch);
/* The silence as ch leaves it (the API's answer); a new reference, NULL when out of memory. */
json_t *vg_silences_change_json(const struct vg_silences *s, const struct vg_silences_change *ch);
/* Makes ch. 0; -ENOENT for an expiry of a silence forgotten meanwhile (it ended more than
 * VG_SILENCE_KEEP_MS ago); -ENOMEM only for an add that was not prepared. */
int vg_silences_apply(struct vg_silences *s, struct vg_silences_change *ch);
/* Frees what ch holds (an add not applied). */
void vg_silences_change_free(struct vg_silences_change *ch);

/* A new reference to the JSON of one silence (id) or {"silences": [...]} (id NULL); NULL for an
 * unknown id or out of memory. Forgets silences expired more than VG_SILENCE_KEEP_MS ago. */
json_t *vg_silences_json(struct vg_silences *s, const char *id, int64_t now_ms);

/* Writes the ids of the active silences whose matchers all hold for the labels lookup gives
 * into ids[0..max) and returns how many match (possibly more than max). */
size_t vg_silences_match(struct vg_silences *s, vg_rule_label_fn lookup, const void *ud,
                         int64_t now_ms, const char **ids, size_t max);

/* Which silences' matchers hold for one label set, remembered: a regex matcher may cost
 * milliseconds per value (docs/api.md), and an alert's labels and a silence's matchers never
 * change, so they are run once per alert and silence, not on every tick and every
 * GET /api/v1/alerts; only the time window is checked each call. Zero-initialise; the memo
 * notices when silences are added or removed. */
struct vg_silence_memo {
    uint64_t layout;
    int valid;
    size_t *idx; /* indices of the silences whose matchers hold */
    size_t n;
};

/* vg_silences_match for the label set memo belongs to (always the same lookup and ud). */
size_t vg_silences_match_memo(struct vg_silences *s, struct vg_silence_memo *memo,
                              vg_rule_label_fn lookup, const void *ud, int64_t now_ms,
                              const char **ids, size_t max);
void vg_silence_memo_free(struct vg_silence_memo *memo);

/* How many times a silence's matchers were run against a label set (for tests). */
uint64_t vg_silences_match_evals(const struct vg_silences *s);

/* Active silences now. */
size_t vg_silences_active(const struct vg_silences *s, int64_t now_ms);

/* Bumped by every add and expiry: lets the caller notice that held alerts may need a look. */
uint64_t vg_silences_generation(const struct vg_silences *s);

/* What vg_silences_save() writes, taken apart so that the analyzer's lock is held for the
 * snapshot only, not for the write and its fsync (about 20 ms with 3,000 silences, during which
 * no message was scored). seq numbers the snapshots of one store, from 1. */
struct vg_silences_snap {
    json_t *doc;
    uint64_t seq;
};

/* Every silence still listed at now_ms (vg_silences_save), as the file holds them. 0 or -ENOMEM. */
int vg_silences_snapshot(struct vg_silences *s, int64_t now_ms, struct vg_silences_snap *snap);
/* The snapshot at ch->now_ms as it will be once ch is applied (the store is left as it is). */
int vg_silences_snapshot_change(struct vg_silences *s, const struct vg_silences_change *ch,
                                struct vg_silences_snap *snap);
void vg_silences_snap_free(struct vg_silences_snap *snap);

/* Writes snap to path (temp file, fsync, rename), unless *written (the seq of the last snapshot
 * written there, 0 at first) is snap's or later: that one holds all snap does and more, and an
 * older snapshot must never replace it. Returns 0 when written (*written updated), 1 when skipped
 * for that reason, -errno with err. The caller serialises the calls for one path and *written. */
int vg_silences_write(const struct vg_silences_snap *snap, const char *path, uint64_t *written,
                      char *err, size_t errlen);

/* Saves every silence still listed (not expired, or expired less than VG_SILENCE_KEEP_MS ago) to
 * path (snapshot and write) / loads them back, dropping those expired longer ago. A missing file
 * loads as none; the load refuses a path the save could not write (its directory missing or not
 * writable by this user, or path a directory). A silence the load refuses (saved by an older
 * version that took what this one does not) is logged, counted in *skipped (when not NULL) and left
 * out; the others load. 0 or -errno with err. */
int vg_silences_save(struct vg_silences *s, const char *path, int64_t now_ms, char *err,
                     size_t errlen);
int vg_silences_load(struct vg_silences *s, const char *path, int64_t now_ms, uint64_t *skipped,
                     char *err, size_t errlen);

/* Whether vg_silences_save() could write path, as this process's real user (access(2)): the
 * load's own check, for --check-config to run as the service user. 0 or -errno with err. */
int vg_silences_file_check(const char *path, char *err, size_t errlen);

/* Parses an RFC 3339 time ("2026-11-23T13:00:00Z", a fraction optional, Z or +hh:mm/-hh:mm
 * required) into Unix ms: vg_parse_rfc3339_ms, strict. 0 or -EINVAL. */
int vg_silence_parse_time(const char *s, int64_t *out_ms);

#endif
