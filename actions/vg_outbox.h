/* Persistent outbox: an append-only log of notifications a receiver has accepted but not yet
 * finished with, so that a crash, kill -9 or power loss between submit() and delivery loses
 * nothing (docs/alerts.md, "What is kept where").
 *
 * One file per receiver, <dir>/<name>.outbox: a 16-byte header, then records, each a 24-byte
 * header (magic, type, seq, length, CRC-32 of everything after the magic) and a payload. A data
 * record holds one notification (vg_outbox_encode); an ack record says a seq is done. Appends are
 * fdatasync'd before they return, or, appended with VG_OUTBOX_NO_SYNC, by the next
 * vg_outbox_sync() (one fdatasync for a batch; any ack's or compaction's sync covers them too,
 * as it flushes the whole file, but after a failed one: vg_outbox_sync). On open, records are read
 * back: data minus acked is what is still pending, in order. A record whose CRC or length is wrong
 * (a write torn by a crash, a flipped bit) is logged with the file and offset and skipped, and
 * reading goes on at the next valid record. Then the file is rewritten (temp file, fdatasync,
 * rename, fsync of the directory) holding only the pending records; the same happens when
 * everything is acknowledged (the file is cut back to its header) or when it grows past
 * compact_bytes.
 *
 * <dir>/<name>.lock is flock()ed while the outbox is open, so that two receivers or two processes
 * never append to one file. Functions are thread-safe.
 */
#ifndef VG_OUTBOX_H
#define VG_OUTBOX_H

#include "vg_action.h"

#include <stddef.h>
#include <stdint.h>

#define VG_OUTBOX_MAX_RECORD (16u << 20) /* largest payload */

/* The file's header: an outbox file no longer than this holds no record (one whose records are
 * all acknowledged is cut back to it), so its size alone says whether it may hold any. */
#define VG_OUTBOX_HEADER_BYTES 16u

struct vg_outbox;

#define VG_OUTBOX_DEFAULT_MAX_BYTES ((size_t)64 << 20)

struct vg_outbox_cfg {
    const char *dir;      /* created (mode 0700) if missing; its parent must exist */
    const char *name;     /* [A-Za-z0-9._-], 1..64 bytes, not starting with '.' */
    size_t max_records;   /* pending records; default 10000 */
    size_t max_bytes;     /* pending payload bytes; default VG_OUTBOX_DEFAULT_MAX_BYTES */
    size_t compact_bytes; /* rewrite the file past this size; default 4 MiB */
    /* Optional: called during open, before the file is rewritten, for each data record still in
     * it that an ack record marks done, oldest first (payload valid for the call only). What was
     * done is otherwise forgotten at open, and a receiver may need it to judge what is pending:
     * a firing whose resolve was already delivered must not be replayed. */
    void (*done_fn)(void *ud, uint64_t seq, const void *payload, size_t len);
    void *done_ud;
};

struct vg_outbox_stats {
    uint64_t appended;
    uint64_t acked;
    uint64_t full;        /* appends refused with -ENOBUFS */
    uint64_t corrupt;     /* damaged regions skipped when the file was read */
    uint64_t compactions; /* rewrites of the file */
    uint64_t syncs;       /* fdatasync/fsync calls and their total duration */
    uint64_t sync_us;
    uint64_t pending;
    uint64_t pending_bytes;
    uint64_t file_bytes;
};

/* Whether vg_outbox_open() could use dir as this user, without creating anything (for
 * --check-config; the open runs it too): dir is a directory this user may create files in, or is
 * missing and its parent is one (only dir itself is created). 0, or -errno with err saying why
 * ("cannot create directory D: No such file or directory (its parent must exist)"), without a
 * prefix. */
int vg_outbox_dir_check(const char *dir, char *err, size_t errlen);

/* Opens (creating it if needed) and reads the outbox; *out is released by vg_outbox_close().
 * -EBUSY when another open outbox holds the same file. */
int vg_outbox_open(struct vg_outbox **out, const struct vg_outbox_cfg *cfg, char *err,
                   size_t errlen);

/* Appends a data record and fdatasyncs it; *seq identifies it for vg_outbox_ack(). -ENOBUFS when
 * max_records or max_bytes would be exceeded (counted in full), -EMSGSIZE for a payload over
 * VG_OUTBOX_MAX_RECORD, or the write's -errno (nothing is then left in the file). */
int vg_outbox_append(struct vg_outbox *ob, const void *payload, size_t len, uint64_t *seq);

/* Flags of vg_outbox_append_ex. OVER_LIMIT: taken past max_records and max_bytes, for a record
 * that will let the caller acknowledge another right after (a resolve replacing its firing), so
 * that the outbox is over its limits by one record for a moment only. NO_SYNC: written but not
 * fdatasync'd; durable once vg_outbox_sync() returns 0 (a crash of the process loses nothing
 * meanwhile, the page cache has it; a power loss may). */
#define VG_OUTBOX_OVER_LIMIT 1u
#define VG_OUTBOX_NO_SYNC    2u

/* vg_outbox_append with flags (above). */
int vg_outbox_append_ex(struct vg_outbox *ob, const void *payload, size_t len, uint64_t *seq,
                        unsigned flags);

/* Makes every record appended with VG_OUTBOX_NO_SYNC durable, with one fdatasync; none when no
 * such record was appended since the last sync of the file (an ack's, a compaction's or this).
 * 0, or the fdatasync's -errno: the records are then still pending, and the next call tries
 * again. Once a sync of the file has failed with such records in it (this one, an append's or an
 * ack's), a later fdatasync cannot say whether they reached the disk (Linux reports a writeback
 * error once): the next calls rewrite the pending records into a new file instead (a compaction:
 * temp file, fdatasync, rename), and return 0 only once that has worked (-EIO while a
 * compaction started by an ack is still copying). */
int vg_outbox_sync(struct vg_outbox *ob);

/* Marks seq done (an fdatasync'd ack record, or cutting the file back to its header when nothing
 * is left pending) and compacts when due: the caller waits for the rewrite, appends and other
 * acks made meanwhile do not (they wait for its last step only). -ENOENT for a seq that is not
 * pending; a failed write returns -errno, and seq is then forgotten in memory but may be delivered
 * again after a restart. */
int vg_outbox_ack(struct vg_outbox *ob, uint64_t seq);

/* Calls fn for each pending record, oldest first, with the outbox locked: fn must not call other
 * vg_outbox functions. fn returns 0 to keep the record or 1 to have it acknowledged (dropped)
 * once the walk is over. 0 or -errno from reading the file. */
typedef int (*vg_outbox_replay_fn)(void *ud, uint64_t seq, const void *payload, size_t len);
int vg_outbox_replay(struct vg_outbox *ob, vg_outbox_replay_fn fn, void *ud);

void vg_outbox_get_stats(struct vg_outbox *ob, struct vg_outbox_stats *st);

/* "<dir>/<name>.outbox", for logs. */
const char *vg_outbox_path(const struct vg_outbox *ob);

void vg_outbox_close(struct vg_outbox *ob);

/* A notification as an outbox payload (versioned, little-endian, every field kept exactly,
 * invalid UTF-8 and NaN included). *out is malloc'd; the caller frees it. 0 or -ENOMEM. */
int vg_outbox_encode(const struct vg_notification *n, unsigned char **out, size_t *len);

/* The inverse: n's strings point into buf, which must outlive n; *arrays (label and top-metric
 * arrays) is malloc'd and freed by the caller. -EINVAL for a payload that is not one. */
int vg_outbox_decode(const void *buf, size_t len, struct vg_notification *n, void **arrays);

#endif
