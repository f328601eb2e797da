/* The agent's on-disk spool: where messages wait, in order, while Kafka cannot take them.
 *
 * The agent hands a message straight to librdkafka while the spool is empty and librdkafka holds
 * fewer than spool.memory_messages undelivered ones. Otherwise the message is appended here, and
 * the spool is fed back to librdkafka, oldest first, as deliveries make room. A record leaves the
 * spool only when its delivery is confirmed, so an agent stopped or killed during the outage
 * sends again, after its restart, whatever was not confirmed (the analyzer drops the duplicates
 * by boot and sequence number).
 *
 * On disk: <dir>/<20-digit id>.spool segment files, each a run of records (magic, payload length,
 * CRC-32 of the rest, wall-clock ms, payload), rolled at segment_bytes. Bounds: max_bytes over
 * all segments (when exceeded the oldest segment goes, its records counted as dropped_full; at
 * open, a spool over a lowered max_bytes drops its oldest segments likewise), VG_SPOOL_MAX_SEGS
 * segment files (the same) and max_age (records older are skipped when read, counted as
 * dropped_age). Bytes that are not a valid record (a write torn by a crash, damage on disk) are
 * counted as corrupt, and reading goes on at the next valid record of the segment, or at the next
 * segment when there is none, whether found at open or while sending. A read error (EIO) says
 * nothing of the bytes: at open the segment is skipped and left alone, as one that cannot be
 * opened as a regular file is (counted as corrupt); while sending, the reader waits and tries
 * again (read_errors), and after the last attempt sets the segment aside for the next start, its
 * file kept whole (corrupt).
 *
 * Appends are write()s without fsync: the spool covers broker outages and agent restarts, not
 * power loss, and one fsync per tick on every host is a cost for little gain.
 *
 * Not thread-safe: the agent's main loop and librdkafka's delivery callbacks (served on that same
 * thread in rd_kafka_poll()) are its only users.
 */
#ifndef VG_SPOOL_H
#define VG_SPOOL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* Segment files the spool keeps at most (16 GiB / 4 MiB, with room for the smaller segments that
 * restarts, prepends and damage leave): past it the oldest segment is dropped, as at max_bytes. */
#define VG_SPOOL_MAX_SEGS 8192

struct vg_spool;

/* Expired records vg_spool_next skips at most in one call (or VG_SPOOL_SKIP_MAX_BYTES of them,
 * whichever comes first) before it returns 0 for now: after an outage longer than max_age a
 * spool of GiBs is expired whole, and skipping it in one call held the agent's loop, its ticks
 * and its watchdog for as long as reading it all took. */
#define VG_SPOOL_SKIP_MAX       256
#define VG_SPOOL_SKIP_MAX_BYTES (8u << 20)

struct vg_spool_cfg {
    const char *dir;        /* created (0700) when missing; its parent must exist */
    uint64_t max_bytes;     /* default 256 MiB */
    int64_t max_age_ms;     /* default 6 h; 0: no limit */
    uint64_t segment_bytes; /* default max_bytes / 16, within 64 KiB to 4 MiB */
    /* Optional: called by vg_spool_open before each segment it reads and once at the end, with
     * the segments read so far (done of total), so that a start reading GiBs can tell its service
     * manager that it is still making progress. */
    void (*progress)(void *ud, uint64_t done, uint64_t total);
    void *progress_ud;
    /* Optional: set (by a signal handler) when a stop is asked for. vg_spool_open checks it
     * before each segment and each record it reads, and then ends the scan there: it returns
     * -ECANCELED with the segments not yet read left as they are and the lock released, rather
     * than making the stop wait for the whole scan (minutes for GiBs on a slow disk). */
    volatile sig_atomic_t *stop;
};

struct vg_spool_stats {
    uint64_t appended, delivered;
    uint64_t dropped_full, dropped_age, corrupt;
    /* Reads that failed while sending (EIO, a segment that cannot be opened), each attempt. */
    uint64_t read_errors;
    uint64_t records; /* in the spool now, handed to Kafka or not */
    uint64_t bytes;   /* on disk now */
    /* Delivery reports naming a segment that is gone (dropped, expired, or finished before a
     * repeated report): ignored, as segment ids are never reused within a run. */
    uint64_t late_reports;
};

/* Opens the spool in cfg->dir, taking over the records a previous run left (they are fed first).
 * *out is released by vg_spool_close(). -EBUSY when another process has it open. */
int vg_spool_open(struct vg_spool **out, const struct vg_spool_cfg *cfg, char *err, size_t errlen);

/* Appends one message stamped ts_ms (wall clock). Drops the oldest segments first when the spool
 * would exceed max_bytes. 0 or -errno (the message is then not kept: the caller counts it). */
int vg_spool_append(struct vg_spool *s, int64_t ts_ms, const void *buf, size_t len, char *err,
                    size_t errlen);

/* 1 while any record is in the spool (handed to Kafka or not): new messages must then queue
 * behind them to keep their order. */
int vg_spool_busy(const struct vg_spool *s);

/* The next record not yet handed to Kafka, oldest first, skipping expired ones at now_ms. Returns
 * 1 with *buf (malloc'ed, the caller owns it), *len and *token (pass it to vg_spool_delivered), 0
 * when every record has been handed or the next one cannot be read now (a read error, tried again
 * after 1 s, doubling, from now_ms: 6 attempts before its segment is set aside) or the call has
 * skipped its share of expired records (VG_SPOOL_SKIP_MAX; vg_spool_yields then grows: call
 * again soon), or -ENOMEM. */
int vg_spool_next(struct vg_spool *s, int64_t now_ms, void **buf, size_t *len, uint64_t *token);

/* How many vg_spool_next calls returned 0 with expired records still to skip: a caller that sees
 * it grow comes back at once, after its other work, rather than when it would next feed. */
uint64_t vg_spool_yields(const struct vg_spool *s);

/* 1 while the reader waits at a record that failed to read (a read error, its next attempt due
 * later, as vg_spool_next describes): the records behind it wait on the disk, not on Kafka, so
 * the agent's local guard does not count them as messages Kafka has not taken. 0 otherwise,
 * including once the reader has left that record (read, set aside, or its segment dropped). */
int vg_spool_read_held(const struct vg_spool *s);

/* A record handed out by vg_spool_next is delivered (or given up on): once every record of a
 * segment is, the segment file is removed. Tokens may come in any order; one that comes again is
 * ignored, and one whose segment is gone (dropped while the record was in flight) is ignored and
 * counted in late_reports. Segment ids are never reused within a run (a new segment takes an id
 * above, or for vg_spool_prepend below, every id the run has had), so such a token cannot name a
 * newer record. */
void vg_spool_delivered(struct vg_spool *s, uint64_t token);

/* A record handed out by vg_spool_next came back unsent (purged at exit, failed by a producer
 * being replaced, refused for now): 1 when the spool still holds it, to be handed out again
 * after vg_spool_rewind or at the next start; 0 when its segment was dropped for room while it
 * was in flight, so it is lost: counted in dropped_full here, and not again by a rewind. */
int vg_spool_kept(struct vg_spool *s, uint64_t token);

/* For shutdown: keeps a message that librdkafka still held when the flush timed out. Such
 * messages went to librdkafka directly while the spool was empty, so they are older than every
 * record here: they go into a segment placed before the others, in the order of the calls. */
int vg_spool_prepend(struct vg_spool *s, int64_t ts_ms, const void *buf, size_t len, char *err,
                     size_t errlen);

/* Every record handed out by vg_spool_next and not delivered yet is handed out again, oldest
 * first: for a producer replaced while it held them, whose delivery reports will never come.
 * Records delivered, given up on, expired, lost to damage or set aside are not, whatever their
 * order (and are not counted again). Records in flight when their segment was dropped for room, and
 * not reported since, are counted in dropped_full here. Also ends this run's prepend segment. 0 or
 * -errno. */
int vg_spool_rewind(struct vg_spool *s);

void vg_spool_get_stats(const struct vg_spool *s, struct vg_spool_stats *st);

void vg_spool_close(struct vg_spool *s);

#endif
