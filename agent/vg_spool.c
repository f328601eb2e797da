#include "vg_spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vg_crc32.h"
#include "vg_log.h"
#include "vg_util.h"

#define MAGIC      0x56475350u /* "VGSP" */
#define HDR        20          /* magic u32, len u32, crc u32, ts i64 */
#define MAX_RECORD (16u << 20)
#define MAX_SEGS   VG_SPOOL_MAX_SEGS
/* Ids start high so that segments can be placed before the first one (vg_spool_prepend). */
#define FIRST_ID (1ull << 40)
/* A token is the segment id above a record's index in its segment: ids stay below 2^41 (they
 * start at 2^40 and grow by one per segment), leaving 23 bits for the index. */
#define IDX_BITS     23
#define MAX_SEG_RECS ((1ull << IDX_BITS) - 1)
#define MAX_ID       ((1ull << (64 - IDX_BITS)) - 1)
#define NO_END       UINT64_MAX
/* A segment takes no record that could start past this: offsets are kept in 32 bits. */
#define SEG_FULL (UINT32_MAX - HDR - MAX_RECORD)
/* A read error while sending is tried again after 1 s, doubling: READ_TRIES attempts in all, the
 * last 31 s after the first, then the segment is set aside (read_failed). */
#define READ_TRIES    6
#define READ_RETRY_MS 1000

struct seg {
    uint64_t id;
    uint64_t bytes;    /* valid bytes: records end here */
    uint64_t records;  /* valid records */
    uint64_t finished; /* delivered, given up on, expired, lost to damage or set aside */
    uint64_t inflight; /* handed out since the last rewind and not finished */
    uint64_t end;      /* the reader stops at this record (set aside), else NO_END */
    /* One bit per record, set once it is finished. Records are finished out of order (an
     * expired or refused one while older ones are in flight), so a rewind goes back to the
     * first record and skips the finished ones rather than trusting a count. */
    unsigned char *done;
    uint64_t done_cap; /* bytes */
    /* Where each record starts (as written, or as the start scan found it past damage): the
     * reader goes from record to record by index, so that damage found while sending costs the
     * damaged records only and every record keeps its index (tokens and done bits name records by
     * index). Segments stay below 4 GiB (append_to rolls them, scan cuts one not written so). */
    uint32_t *offs;
    uint64_t offs_cap; /* entries */
    /* Set aside after read errors (read_failed): once its records are finished the segment is
     * forgotten, its file left in place for the next start, not removed. */
    int aside;
};

struct vg_spool {
    struct vg_spool_cfg cfg;
    char *dir;
    int lock_fd;
    struct seg *segs; /* ascending id */
    size_t n, cap;
    int wfd;      /* open on the last segment when this run appends to it, else -1 */
    uint64_t wid; /* its id */
    int ffd;      /* the prepend segment of this run, else -1 */
    uint64_t fid;
    /* The lowest and highest segment ids this run has had, on disk or made: a new segment takes
     * one outside them. An id is never reused within a run, so a delivery report that comes late
     * for a dropped segment finds nothing rather than a newer record under the same token.
     * Tokens do not outlive the process (librdkafka's queue does not), so nothing is persisted:
     * the ids on disk at open are enough. */
    uint64_t lo_id, hi_id;
    /* Records in flight when their segment was dropped, their reports still due: not counted
     * in dropped_full, as a report counts them. A rewind means they never come. (A report that
     * comes again for a finished segment is taken for one of them; only a replaced producer
     * sends those, and its reports end before the rewind.) */
    uint64_t gone_inflight;
    uint64_t rid, ridx; /* reader: next record (segment, index); rid 0 = first segment */
    int rfd;
    uint64_t rfd_id;
    /* The reader's last read error (read_failed): where, how many attempts, and the wall-clock
     * times of the last one and of the next. fail_tries 0: none pending. */
    uint64_t fail_id, fail_idx;
    unsigned fail_tries;
    int64_t fail_ms, retry_ms;
    uint64_t yields; /* vg_spool_yields */
    struct vg_spool_stats st;
};

static void seg_path(const struct vg_spool *s, uint64_t id, char *out, size_t n)
{
    snprintf(out, n, "%s/%020" PRIu64 ".spool", s->dir, id);
}

static struct seg *find(struct vg_spool *s, uint64_t id)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->segs[i].id == id)
            return &s->segs[i];
    return NULL;
}

static int insert(struct vg_spool *s, size_t at, uint64_t id)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct seg *g = realloc(s->segs, cap * sizeof *g);
        if (!g)
            return -ENOMEM;
        s->segs = g;
        s->cap = cap;
    }
    memmove(&s->segs[at + 1], &s->segs[at], (s->n - at) * sizeof *s->segs);
    s->segs[at] = (struct seg){.id = id, .end = NO_END};
    s->n++;
    return 0;
}

/* Closes the append descriptors (tail and front) open on segment id, if any. */
static void close_writers(struct vg_spool *s, uint64_t id)
{
    if (s->wfd >= 0 && s->wid == id) {
        close(s->wfd);
        s->wfd = -1;
    }
    if (s->ffd >= 0 && s->fid == id) {
        close(s->ffd);
        s->ffd = -1;
    }
}

/* Takes segment i off the list; its file is unlinked when unlink is set. */
static void forget_at(struct vg_spool *s, size_t i, int unlink_it)
{
    char path[600];
    struct seg *g = &s->segs[i];
    seg_path(s, g->id, path, sizeof path);
    if (unlink_it)
        unlink(path);
    s->st.bytes -= g->bytes;
    s->st.records -= g->records - g->finished;
    close_writers(s, g->id);
    if (s->rfd >= 0 && s->rfd_id == g->id) {
        close(s->rfd);
        s->rfd = -1;
    }
    if (s->rid == g->id) {
        s->rid = i + 1 < s->n ? s->segs[i + 1].id : 0;
        s->ridx = 0;
    }
    free(g->done);
    free(g->offs);
    memmove(&s->segs[i], &s->segs[i + 1], (s->n - i - 1) * sizeof *s->segs);
    s->n--;
}

static void remove_at(struct vg_spool *s, size_t i)
{
    forget_at(s, i, 1);
}

/* Opens a segment for reading. Not through a symlink, and without blocking: a FIFO named like a
 * segment would hold the open until a writer came. Anything but a regular file is refused
 * (-EFTYPE's stand-in, -EINVAL): a directory or a device is no segment, and never unlinked. */
static int open_segment(const char *path, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    if (fstat(fd, st) != 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return -EINVAL;
    }
    return fd;
}

/* A segment is finished with when all its records are delivered and nobody appends to it. A
 * segment set aside keeps its file. */
static void maybe_remove(struct vg_spool *s, struct seg *g)
{
    if (g->finished < g->records)
        return;
    if (s->ffd >= 0 && s->fid == g->id)
        return;
    forget_at(s, (size_t)(g - s->segs), !g->aside);
}

/* Drops the oldest segment for room: its records not finished are lost, counted in dropped_full
 * (those in flight are counted by their report, or by a rewind). Its file goes, unless it was
 * set aside: that one is outside the spool's count from then on, as a segment the start could not
 * read is. Returns the records lost. */
static uint64_t drop_oldest(struct vg_spool *s)
{
    struct seg *g = &s->segs[0];
    uint64_t lost = g->records - g->finished - g->inflight;
    s->st.dropped_full += lost;
    s->gone_inflight += g->inflight;
    forget_at(s, 0, !g->aside);
    return lost;
}

/* Drops logged as expired records are: the first drop and then each one that passes another
 * 1000 records dropped, the count has them all. With records of a segment's size every tick
 * dropped one, and each was a line. */
static void log_drop(const struct vg_spool *s, const char *msg, uint64_t lost, uint64_t was)
{
    if (lost && (was == 0 || was / 1000 != s->st.dropped_full / 1000))
        vg_warn(msg,
                "records=%" PRIu64 " max_bytes=%" PRIu64 " max_segments=%d dropped_full=%" PRIu64
                " logged=\"first, then every 1000 records\"",
                lost, s->cfg.max_bytes, MAX_SEGS, s->st.dropped_full);
}

static int is_done(const struct seg *g, uint64_t k)
{
    return g->done && k / 8 < g->done_cap && (g->done[k / 8] >> (k % 8) & 1);
}

/* Room in g->done and g->offs for n records; new bits are clear. */
static int room(struct seg *g, uint64_t n)
{
    uint64_t need = (n + 7) / 8;
    if (need > g->done_cap) {
        uint64_t cap = g->done_cap ? g->done_cap : 64;
        while (cap < need)
            cap *= 2;
        unsigned char *d = realloc(g->done, cap);
        if (!d)
            return -ENOMEM;
        memset(d + g->done_cap, 0, cap - g->done_cap);
        g->done = d;
        g->done_cap = cap;
    }
    if (n > g->offs_cap) {
        uint64_t cap = g->offs_cap ? g->offs_cap : 64;
        while (cap < n)
            cap *= 2;
        uint32_t *o = realloc(g->offs, cap * sizeof *o);
        if (!o)
            return -ENOMEM;
        g->offs = o;
        g->offs_cap = cap;
    }
    return 0;
}

/* A segment that takes no more records (scanned at start, or rolled over, or a prepend segment
 * ended) keeps tables of its own size: room() doubles them while it is written, and over a spool
 * of thousands of segments that slack was up to as much again as the tables. What stays is 4 bytes
 * and a bit a record (docs/reliability.md states the bound). A failed shrink keeps the larger
 * table. */
static void fit(struct seg *g)
{
    if (g->records && g->offs_cap > g->records) {
        uint32_t *o = realloc(g->offs, g->records * sizeof *o);
        if (o) {
            g->offs = o;
            g->offs_cap = g->records;
        }
    }
    uint64_t need = (g->records + 7) / 8;
    if (need && g->done_cap > need) {
        unsigned char *d = realloc(g->done, need);
        if (d) {
            g->done = d;
            g->done_cap = need;
        }
    }
}

/* Marks record k finished; 0 when it already was. */
static int finish(struct vg_spool *s, struct seg *g, uint64_t k)
{
    if (k >= g->records || is_done(g, k))
        return 0;
    g->done[k / 8] |= (unsigned char)(1u << (k % 8));
    g->finished++;
    s->st.records--;
    return 1;
}

static int read_full(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -ENODATA;
        got += (size_t)r;
    }
    return 0;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Reads the record at off: 1 with *payload (malloc'ed), 0 at the clean end, -EBADMSG when the
 * bytes there are not a whole valid record, or the read's own error (-EIO: a bad sector), which
 * says nothing about the bytes. */
static int read_record(int fd, uint64_t off, uint64_t size, void **payload, size_t *len,
                       int64_t *ts)
{
    unsigned char h[HDR];
    if (off == size)
        return 0;
    if (size - off < HDR)
        return -EBADMSG;
    int rc = read_full(fd, h, HDR, off);
    if (rc < 0)
        return rc == -ENODATA ? -EBADMSG : rc;
    if (get32(h) != MAGIC)
        return -EBADMSG;
    uint32_t n = get32(h + 4);
    if (n > MAX_RECORD || size - off - HDR < n)
        return -EBADMSG;
    void *p = malloc(n ? n : 1);
    if (!p)
        return -ENOMEM;
    if ((rc = read_full(fd, p, n, off + HDR)) < 0) {
        free(p);
        return rc == -ENODATA ? -EBADMSG : rc;
    }
    uint32_t crc = vg_crc32(vg_crc32(0, h + 12, 8), p, n);
    if (crc != get32(h + 8)) {
        free(p);
        return -EBADMSG;
    }
    uint64_t t = 0;
    for (int i = 0; i < 8; i++)
        t |= (uint64_t)h[12 + i] << (8 * i);
    *ts = (int64_t)t;
    *payload = p;
    *len = n;
    return 1;
}

/* After damage at off: *next is the offset of the next whole valid record (magic, length and
 * CRC all right) in the file, or size when there is none. Candidates are found by their magic,
 * read in chunks, and each is checked as the reader would read it. 0, or a read error (-EIO) at
 * *next. */
static int resync(int fd, uint64_t off, uint64_t size, uint64_t *next)
{
    enum { CHUNK = 64 * 1024 };
    unsigned char *buf = malloc(CHUNK);
    unsigned char m[4];
    put32(m, MAGIC);
    *next = size;
    if (!buf)
        return 0;
    for (uint64_t at = off + 1; at + HDR <= size;) {
        size_t n = size - at < CHUNK ? (size_t)(size - at) : CHUNK;
        int rc = read_full(fd, buf, n, at);
        if (rc < 0 && rc != -ENODATA) {
            free(buf);
            *next = at;
            return rc;
        }
        if (rc < 0)
            break;
        for (size_t i = 0; i + 4 <= n; i++) {
            if (memcmp(buf + i, m, 4) != 0)
                continue;
            void *p;
            size_t len;
            int64_t ts;
            int r = read_record(fd, at + i, size, &p, &len, &ts);
            if (r == 1)
                free(p);
            if (r == 1 || (r < 0 && r != -EBADMSG && r != -ENOMEM)) {
                free(buf);
                *next = at + i;
                return r == 1 ? 0 : r;
            }
        }
        if (n < 4)
            break;
        at += n - 3; /* a magic across the chunk's end is found in the next one */
    }
    free(buf);
    return 0;
}

/* Counts the valid records of a segment left by an earlier run and notes where each starts.
 * Damaged bytes are skipped to the next valid record; with none after them, the rest is cut off. */
static int scan(struct vg_spool *s, struct seg *g, uint64_t *file_size)
{
    char path[600];
    seg_path(s, g->id, path, sizeof path);
    struct stat st;
    int fd = open_segment(path, &st);
    if (fd < 0)
        return fd;
    uint64_t off = 0, size = (uint64_t)st.st_size;
    *file_size = size;
    for (;;) {
        void *p;
        size_t len;
        int64_t ts;
        if (s->cfg.stop && *s->cfg.stop) {
            close(fd);
            return -ECANCELED;
        }
        int rc = read_record(fd, off, size, &p, &len, &ts);
        if (rc == 0)
            break;
        if (rc == -ENOMEM) {
            close(fd);
            return rc;
        }
        uint64_t next = off;
        int bad = rc == -EBADMSG;
        if (bad)
            rc = resync(fd, off, size, &next);
        if (rc < 0) {
            /* A read error (a bad sector) is not damage: nothing is known of the bytes there, so
             * the segment is neither cut nor removed. It is left in place, untouched, and the
             * next start tries it again (open_spool counts and logs it). */
            vg_warn("spool: read error in segment, left in place",
                    "file=%s offset=%" PRIu64 " errno=%d reason=\"%s\"", path, next, -rc,
                    strerror(-rc));
            close(fd);
            g->records = 0; /* none of it is used: open_spool forgets it as it found it */
            g->bytes = 0;
            return rc;
        }
        if (bad) {
            s->st.corrupt++;
            if (next >= size) {
                vg_warn("spool: damaged record, rest of segment skipped",
                        "file=%s offset=%" PRIu64 " bytes_skipped=%" PRIu64
                        " records_before=%" PRIu64,
                        path, off, size - off, g->records);
                break;
            }
            /* The records after the damage are as good as any: a torn write early in a 4 MiB
             * segment used to cost all of them. */
            vg_warn("spool: damaged record, skipped to the next valid record",
                    "file=%s offset=%" PRIu64 " bytes_skipped=%" PRIu64 " resumed_at=%" PRIu64,
                    path, off, next - off, next);
            off = next;
            continue;
        }
        free(p);
        /* Not written by this code: tokens cannot name more records, offs not reach further. */
        if (g->records == MAX_SEG_RECS || off > UINT32_MAX) {
            vg_warn("spool: segment holds too many records, rest of it skipped",
                    "file=%s records=%" PRIu64 " offset=%" PRIu64, path, g->records, off);
            break;
        }
        if ((rc = room(g, g->records + 1)) < 0) {
            close(fd);
            return rc;
        }
        g->offs[g->records++] = (uint32_t)off;
        off += HDR + len;
    }
    close(fd);
    g->bytes = off;
    fit(g);
    return 0;
}

static int cmp_id(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* One segment that cannot be read at start (permissions, not a file, or a read error such as a
 * bad sector anywhere in it, which scan does not take for damage) costs that segment, not the
 * spool: it is left where it is, untouched, for whoever looks (its id stays out of use, lo_id and
 * hi_id having counted it), and the next start tries it again. */
static void note_unreadable(struct vg_spool *s, uint64_t id, int rc)
{
    char path[600];
    seg_path(s, id, path, sizeof path);
    s->st.corrupt++;
    vg_warn("spool: segment cannot be read, skipped and left in place",
            "file=%s reason=\"%s\" spool_corrupt=%" PRIu64, path,
            rc == -EINVAL  ? "not a regular file"
            : rc == -ELOOP ? "a symbolic link, not followed"
                           : strerror(-rc),
            s->st.corrupt);
}

/* More segment files than MAX_SEGS (left by an agent from before the limit was kept while
 * spooling, whose restarts each began a segment): the oldest ones beyond it are dropped, their
 * records counted in dropped_full and the whole logged once, rather than the spool refused. ids
 * (ascending) are the first n of them. */
static int drop_excess(struct vg_spool *s, const uint64_t *ids, size_t n)
{
    uint64_t segs = 0, records = 0, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        struct seg t = {.id = ids[i], .end = NO_END};
        uint64_t file_size = 0;
        int rc = scan(s, &t, &file_size);
        free(t.done);
        free(t.offs);
        if (rc == -ENOMEM)
            return rc;
        if (rc < 0) {
            note_unreadable(s, t.id, rc);
            continue;
        }
        char path[600];
        seg_path(s, t.id, path, sizeof path);
        unlink(path);
        segs++;
        records += t.records;
        bytes += file_size;
    }
    s->st.dropped_full += records;
    if (segs)
        vg_warn("spool: more segment files than the spool keeps, oldest dropped",
                "dir=%s segments=%" PRIu64 " records=%" PRIu64 " bytes=%" PRIu64
                " max_segments=%d dropped_full=%" PRIu64,
                s->dir, segs, records, bytes, MAX_SEGS, s->st.dropped_full);
    return 0;
}

int vg_spool_open(struct vg_spool **out, const struct vg_spool_cfg *cfg, char *err, size_t errlen)
{
    struct vg_spool *s = calloc(1, sizeof *s);
    if (!s)
        return vg_err(err, errlen, -ENOMEM, "spool: out of memory");
    s->cfg = *cfg;
    if (!s->cfg.max_bytes)
        s->cfg.max_bytes = 256ull << 20;
    /* Segments of a sixteenth of the limit (64 KiB to 4 MiB): the segment being written is
     * never dropped, so a small spool stays near its limit, and a large one (16 GiB at most)
     * needs at most 4096 files. */
    if (!s->cfg.segment_bytes) {
        s->cfg.segment_bytes = s->cfg.max_bytes / 16;
        if (s->cfg.segment_bytes < (64u << 10))
            s->cfg.segment_bytes = 64u << 10;
        if (s->cfg.segment_bytes > (4u << 20))
            s->cfg.segment_bytes = 4u << 20;
    }
    s->wfd = s->ffd = s->rfd = s->lock_fd = -1;
    s->dir = strdup(cfg->dir);
    int rc = 0;
    if (!s->dir) {
        rc = vg_err(err, errlen, -ENOMEM, "spool: out of memory");
        goto fail;
    }
    if (mkdir(s->dir, 0700) != 0 && errno != EEXIST) {
        rc = vg_err(err, errlen, -errno, "spool: creating %s: %s", s->dir, strerror(errno));
        goto fail;
    }
    char why[VG_ERRLEN];
    if ((rc = vg_dir_lock(s->dir, &s->lock_fd, why, sizeof why)) < 0) {
        rc = vg_err(err, errlen, rc, "spool: %s", why);
        goto fail;
    }
    DIR *d = opendir(s->dir);
    if (!d) {
        rc = vg_err(err, errlen, -errno, "spool: reading %s: %s", s->dir, strerror(errno));
        goto fail;
    }
    struct dirent *e;
    uint64_t *ids = NULL;
    size_t n_ids = 0, cap_ids = 0;
    while ((e = readdir(d)) != NULL) {
        char *end;
        uint64_t id = strtoull(e->d_name, &end, 10);
        if (strlen(e->d_name) != 26 || strcmp(end, ".spool") != 0 || id == 0)
            continue;
        if (id > MAX_ID) { /* not written by this code: a token could not name its records */
            vg_warn("spool: file with an id out of range left alone", "file=%s/%s", s->dir,
                    e->d_name);
            continue;
        }
        if (n_ids == cap_ids) {
            cap_ids = cap_ids ? cap_ids * 2 : 64;
            uint64_t *more = realloc(ids, cap_ids * sizeof *ids);
            if (!more) {
                free(ids);
                closedir(d);
                rc = vg_err(err, errlen, -ENOMEM, "spool: out of memory");
                goto fail;
            }
            ids = more;
        }
        ids[n_ids++] = id;
    }
    closedir(d);
    if (n_ids)
        qsort(ids, n_ids, sizeof *ids, cmp_id);
    s->lo_id = n_ids ? ids[0] : FIRST_ID;
    s->hi_id = n_ids ? ids[n_ids - 1] : FIRST_ID - 1;
    size_t excess = n_ids > MAX_SEGS ? n_ids - MAX_SEGS : 0;
    rc = drop_excess(s, ids, excess);
    for (size_t i = excess; rc == 0 && i < n_ids; i++)
        rc = insert(s, s->n, ids[i]);
    free(ids);
    if (rc < 0) {
        rc = vg_err(err, errlen, rc, "spool: out of memory");
        goto fail;
    }
    size_t total = s->n;
    for (size_t i = 0, done = 0; i < s->n; done++) {
        if (s->cfg.progress)
            s->cfg.progress(s->cfg.progress_ud, done, total);
        uint64_t file_size = 0;
        if (s->cfg.stop && *s->cfg.stop)
            rc = -ECANCELED;
        else
            rc = scan(s, &s->segs[i], &file_size);
        if (rc == -ECANCELED) {
            rc = vg_err(err, errlen, rc, "spool: start scan stopped in segment %zu of %zu",
                        done + 1, total);
            goto fail;
        }
        if (rc == -ENOMEM) {
            rc = vg_err(err, errlen, rc, "spool: out of memory");
            goto fail;
        }
        if (rc < 0) {
            note_unreadable(s, s->segs[i].id, rc);
            forget_at(s, i, 0);
            rc = 0;
            continue;
        }
        s->st.bytes += s->segs[i].bytes;
        s->st.records += s->segs[i].records;
        if (s->segs[i].records == 0) { /* empty or wholly damaged */
            char path[600];
            seg_path(s, s->segs[i].id, path, sizeof path);
            if (file_size)
                vg_warn("spool: segment without a valid record removed", "file=%s bytes=%" PRIu64,
                        path, file_size);
            else
                vg_info("spool: empty segment removed", "file=%s", path);
            remove_at(s, i);
        } else {
            i++;
        }
    }
    if (total && s->cfg.progress)
        s->cfg.progress(s->cfg.progress_ud, total, total);
    /* spool.max_bytes lowered since the earlier run: its oldest segments go now, whole (so up to
     * one of the earlier run's segments more than the excess), as the first record spooled would
     * have dropped them, but counted and logged once, with the whole. */
    uint64_t t_segs = 0, t_records = 0, t_bytes = 0;
    while (s->n && s->st.bytes > s->cfg.max_bytes) {
        t_bytes += s->segs[0].bytes;
        t_records += drop_oldest(s);
        t_segs++;
    }
    if (t_segs)
        vg_warn("spool: more spooled than spool.max_bytes at start, oldest segments dropped",
                "dir=%s segments=%" PRIu64 " records=%" PRIu64 " bytes=%" PRIu64
                " max_bytes=%" PRIu64 " dropped_full=%" PRIu64,
                s->dir, t_segs, t_records, t_bytes, s->cfg.max_bytes, s->st.dropped_full);
    s->rid = s->n ? s->segs[0].id : 0;
    if (s->st.records)
        vg_info("spool: records from an earlier run will be sent first",
                "dir=%s records=%" PRIu64 " bytes=%" PRIu64, s->dir, s->st.records, s->st.bytes);
    *out = s;
    return 0;
fail:
    vg_spool_close(s);
    return rc;
}

static int write_record(int fd, int64_t ts, const void *buf, size_t len)
{
    unsigned char h[HDR];
    put32(h, MAGIC);
    put32(h + 4, (uint32_t)len);
    for (int i = 0; i < 8; i++)
        h[12 + i] = (unsigned char)((uint64_t)ts >> (8 * i));
    put32(h + 8, vg_crc32(vg_crc32(0, h + 12, 8), buf, len));
    struct part {
        const void *b;
        size_t n;
    } parts[2] = {{h, HDR}, {buf, len}};
    for (int k = 0; k < 2; k++) {
        const char *p = parts[k].b;
        size_t n = parts[k].n;
        while (n > 0) {
            ssize_t w = write(fd, p, n);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return -errno;
            p += w;
            n -= (size_t)w;
        }
    }
    return 0;
}

/* Creates segment id at position at of the list, open for appending on *fd; on failure nothing
 * is left open or listed. */
static int new_segment(struct vg_spool *s, uint64_t id, size_t at, int *fd, char *err,
                       size_t errlen)
{
    char path[600];
    seg_path(s, id, path, sizeof path);
    *fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    int rc = *fd < 0 ? -errno : insert(s, at, id);
    if (rc < 0) {
        if (*fd >= 0) {
            close(*fd);
            unlink(path);
            *fd = -1;
        }
        return vg_err(err, errlen, rc, "spool: new segment in %s: %s", s->dir, strerror(-rc));
    }
    return 0;
}

/* Appends to the segment open on fd; a failed write is cut back off so the file stays valid. */
static int append_to(struct vg_spool *s, int fd, struct seg *g, int64_t ts, const void *buf,
                     size_t len, char *err, size_t errlen)
{
    int rc = room(g, g->records + 1);
    if (rc < 0)
        return vg_err(err, errlen, rc, "spool: out of memory");
    rc = write_record(fd, ts, buf, len);
    if (rc < 0) {
        if (ftruncate(fd, (off_t)g->bytes) != 0)
            vg_warn("spool: cannot cut a failed write", "reason=\"%s\"", strerror(errno));
        return vg_err(err, errlen, rc, "spool: writing %s: %s", s->dir, strerror(-rc));
    }
    g->offs[g->records++] = (uint32_t)g->bytes;
    g->bytes += HDR + len;
    s->st.bytes += HDR + len;
    s->st.records++;
    s->st.appended++;
    return 0;
}

/* Before a new segment: at MAX_SEGS segments the oldest goes, as at max_bytes. Segments are
 * smaller than segment_bytes when a run ends (each run starts a new one), when one is prepended at
 * a stop or a producer's replacement, and after damage; an agent restarting in a loop through an
 * outage once made more than a start would read, and the next start turned the spool off. */
static void make_room_for_segment(struct vg_spool *s)
{
    while (s->n >= MAX_SEGS) {
        uint64_t was = s->st.dropped_full;
        log_drop(s, "spool: segment files at their limit, oldest segment dropped", drop_oldest(s),
                 was);
    }
}

int vg_spool_append(struct vg_spool *s, int64_t ts_ms, const void *buf, size_t len, char *err,
                    size_t errlen)
{
    if (len > MAX_RECORD)
        return vg_err(err, errlen, -EMSGSIZE, "spool: message of %zu bytes over the limit", len);
    /* The oldest go first; the segment being written stays. */
    while (s->st.bytes + HDR + len > s->cfg.max_bytes && s->n > 0 && !(s->n == 1 && s->wfd >= 0)) {
        uint64_t was = s->st.dropped_full;
        log_drop(s, "spool full: oldest segment dropped", drop_oldest(s), was);
    }
    struct seg *g = s->wfd >= 0 ? find(s, s->wid) : NULL;
    if (g &&
        (g->bytes >= s->cfg.segment_bytes || g->records >= MAX_SEG_RECS || g->bytes > SEG_FULL)) {
        close(s->wfd);
        s->wfd = -1;
        fit(g);
        g = NULL;
    }
    if (!g) {
        /* Not the last segment's id plus one: the last may be gone (dropped while full after a
         * restart, or finished), and its records' reports may still come. */
        if (s->hi_id >= MAX_ID)
            return vg_err(err, errlen, -EOVERFLOW, "spool: segment ids used up in %s", s->dir);
        make_room_for_segment(s);
        uint64_t id = s->hi_id + 1;
        int rc = new_segment(s, id, s->n, &s->wfd, err, errlen);
        if (rc < 0)
            return rc;
        s->hi_id = id;
        s->wid = id;
        g = &s->segs[s->n - 1];
        if (!s->rid)
            s->rid = id, s->ridx = 0;
    }
    return append_to(s, s->wfd, g, ts_ms, buf, len, err, errlen);
}

int vg_spool_prepend(struct vg_spool *s, int64_t ts_ms, const void *buf, size_t len, char *err,
                     size_t errlen)
{
    if (len > MAX_RECORD)
        return vg_err(err, errlen, -EMSGSIZE, "spool: message of %zu bytes over the limit", len);
    if (s->ffd >= 0 &&
        (find(s, s->fid)->records >= MAX_SEG_RECS || find(s, s->fid)->bytes > SEG_FULL))
        return vg_err(err, errlen, -EFBIG, "spool: prepend segment full");
    if (s->ffd < 0) {
        /* Below every id this run has had, for the same reason as in vg_spool_append: the
         * first segment's id minus one may be a dropped segment's. */
        if (s->lo_id <= 1)
            return vg_err(err, errlen, -EOVERFLOW, "spool: segment ids used up in %s", s->dir);
        make_room_for_segment(s);
        uint64_t id = s->lo_id - 1;
        int rc = new_segment(s, id, 0, &s->ffd, err, errlen);
        if (rc < 0)
            return rc;
        s->lo_id = id;
        s->fid = id;
    }
    return append_to(s, s->ffd, find(s, s->fid), ts_ms, buf, len, err, errlen);
}

int vg_spool_busy(const struct vg_spool *s)
{
    return s->st.records > 0;
}

/* Damage found while sending at the reader's record of g: bytes that are not a whole valid
 * record, changed or cut behind the agent's back (the start scanned the segment, or this run
 * wrote it). As at the start, the reader goes on at the next intact record, and only the damaged
 * ones are lost: it knows where each record starts, so it checks the following ones in turn
 * (magic, length, CRC, as they are read) and resumes at the first intact one; with none left
 * (a file cut short) the rest of the segment is lost. One line and one count in corrupt for the
 * run of damaged records. Nothing more is appended behind the damage (a file cut behind the
 * agent's back would take appends at its new end), and the segment goes once its records are
 * finished. 0, -ENOMEM, or a read error at the reader's record (read_failed takes it). */
static int skip_damage(struct vg_spool *s, struct seg *g)
{
    uint64_t first = s->ridx, k = first + 1;
    for (; k < g->records; k++) {
        void *p;
        size_t len;
        int64_t ts;
        int rc = read_record(s->rfd, g->offs[k], g->bytes, &p, &len, &ts);
        if (rc == 1)
            free(p);
        if (rc == -ENOMEM)
            return rc;
        if (rc != 0 && rc != -EBADMSG)
            break; /* intact, or a read error, which the reader meets there next */
    }
    uint64_t lost = 0;
    for (uint64_t j = first; j < k; j++)
        lost += (uint64_t)finish(s, g, j);
    s->st.corrupt++;
    close_writers(s, g->id);
    char path[600];
    seg_path(s, g->id, path, sizeof path);
    if (k < g->records)
        vg_warn("spool: damaged record while sending, skipped to the next valid record",
                "file=%s offset=%" PRIu64 " bytes_skipped=%" PRIu64 " resumed_at=%" PRIu64
                " records_lost=%" PRIu64 " spool_corrupt=%" PRIu64,
                path, (uint64_t)g->offs[first], (uint64_t)(g->offs[k] - g->offs[first]),
                (uint64_t)g->offs[k], lost, s->st.corrupt);
    else
        vg_warn("spool: damaged record while sending, rest of segment skipped",
                "file=%s offset=%" PRIu64 " bytes_skipped=%" PRIu64 " records_lost=%" PRIu64
                " spool_corrupt=%" PRIu64,
                path, (uint64_t)g->offs[first], g->bytes - g->offs[first], lost, s->st.corrupt);
    s->ridx = k;
    maybe_remove(s, g);
    return 0;
}

/* A read error while sending (EIO: a bad sector), or the reader's segment cannot be opened: it
 * says nothing of the bytes, so nothing is skipped or lost for it. The reader waits at that record
 * and tries it again after 1 s, doubling, READ_TRIES attempts in all (31 s from the first); the
 * records behind it wait too, to keep their order, and new messages are spooled behind them. Each
 * failed attempt is counted in read_errors and logged. After the last one the segment is set
 * aside, so that it cannot hold the spool for ever: its records from there on are not sent in
 * this run (finished, not counted as lost), those before it are, and its file stays on disk as it
 * is, neither cut nor removed, for the next start to read again (a segment still unreadable then
 * is left in place by the start, as always). Counted in corrupt. 1: wait (vg_spool_next hands
 * nothing out now); 0: set aside, read on. */
static int read_failed(struct vg_spool *s, struct seg *g, int rc, int64_t now_ms)
{
    if (!s->fail_tries || s->fail_id != g->id || s->fail_idx != s->ridx)
        s->fail_tries = 0;
    s->fail_id = g->id;
    s->fail_idx = s->ridx;
    s->fail_tries++;
    s->st.read_errors++;
    char path[600];
    seg_path(s, g->id, path, sizeof path);
    uint64_t off = g->offs[s->ridx];
    if (s->fail_tries < READ_TRIES) {
        int64_t wait = (int64_t)READ_RETRY_MS << (s->fail_tries - 1);
        s->fail_ms = now_ms;
        s->retry_ms = now_ms + wait;
        vg_warn("spool: read error while sending, tried again later",
                "file=%s offset=%" PRIu64 " attempt=%u attempts=%d retry_in_ms=%lld errno=%d "
                "reason=\"%s\" spool_read_errors=%" PRIu64,
                path, off, s->fail_tries, READ_TRIES, (long long)wait, -rc, strerror(-rc),
                s->st.read_errors);
        return 1;
    }
    uint64_t kept = 0;
    for (uint64_t k = s->ridx; k < g->records; k++)
        kept += (uint64_t)finish(s, g, k);
    s->st.corrupt++;
    vg_error("spool: segment unreadable while sending, set aside for the next start",
             "file=%s offset=%" PRIu64 " attempts=%d records_not_sent=%" PRIu64
             " errno=%d reason=\"%s\" spool_corrupt=%" PRIu64,
             path, off, READ_TRIES, kept, -rc, strerror(-rc), s->st.corrupt);
    s->fail_tries = 0;
    g->aside = 1;
    g->end = s->ridx; /* a rewind hands again only the records before it */
    close_writers(s, g->id);
    maybe_remove(s, g);
    return 0;
}

/* After a failed read at the reader's record: -ENOMEM to return, 1 to hand nothing out now (a
 * read error waiting for its next attempt), 0 to read on (damage skipped, or a segment set
 * aside). */
static int read_error(struct vg_spool *s, struct seg *g, int rc, int64_t now_ms)
{
    if (rc == -ENOMEM)
        return rc;
    if (rc == 0 || rc == -EBADMSG) {
        rc = skip_damage(s, g);
        if (rc == 0 || rc == -ENOMEM)
            return rc;
    }
    return read_failed(s, g, rc, now_ms);
}

int vg_spool_next(struct vg_spool *s, int64_t now_ms, void **buf, size_t *len, uint64_t *token)
{
    uint64_t skipped = 0, skipped_bytes = 0;
    while (s->rid) {
        struct seg *g = find(s, s->rid);
        if (!g) { /* dropped while being read */
            s->rid = s->n ? s->segs[0].id : 0;
            s->ridx = 0;
            continue;
        }
        if (s->ridx >= g->records || s->ridx >= g->end) {
            size_t i = (size_t)(g - s->segs);
            if (i + 1 < s->n) {
                s->rid = s->segs[i + 1].id;
                s->ridx = 0;
                continue;
            }
            return 0; /* caught up with the writer */
        }
        if (is_done(g, s->ridx)) { /* after vg_spool_rewind: finished already */
            s->ridx++;
            continue;
        }
        /* A read error here, its next attempt not due (a clock stepped back does not hold it). */
        if (s->fail_tries && s->fail_id == g->id && s->fail_idx == s->ridx &&
            now_ms >= s->fail_ms && now_ms < s->retry_ms)
            return 0;
        int rc;
        if (s->rfd < 0 || s->rfd_id != g->id) {
            if (s->rfd >= 0)
                close(s->rfd);
            char path[600];
            seg_path(s, g->id, path, sizeof path);
            struct stat st;
            rc = open_segment(path, &st);
            s->rfd = rc < 0 ? -1 : rc;
            if (rc < 0) { /* as a read error: removed, its permissions changed, replaced */
                if ((rc = rc == -ENOMEM ? rc : read_failed(s, g, rc, now_ms)) != 0)
                    return rc < 0 ? rc : 0;
                continue;
            }
            s->rfd_id = g->id;
        }
        int64_t ts;
        uint64_t k = s->ridx;
        rc = read_record(s->rfd, g->offs[k], g->bytes, buf, len, &ts);
        if (rc <= 0) {
            if ((rc = read_error(s, g, rc, now_ms)) != 0)
                return rc < 0 ? rc : 0;
            continue;
        }
        s->ridx++;
        if (s->fail_tries && s->fail_id == g->id && s->fail_idx == k) {
            char path[600];
            seg_path(s, g->id, path, sizeof path);
            vg_info("spool: read error gone, sending again",
                    "file=%s offset=%" PRIu64 " attempts=%u", path, (uint64_t)g->offs[k],
                    s->fail_tries + 1);
            s->fail_tries = 0;
        }
        if (s->cfg.max_age_ms > 0 && now_ms - ts > s->cfg.max_age_ms) {
            free(*buf);
            *buf = NULL;
            /* Expired records come in runs (an outage longer than max_age): the first and every
             * 1000th are logged, the count has them all. */
            if (++s->st.dropped_age % 1000 == 1)
                vg_warn("spool: records older than spool.max_age dropped",
                        "max_age_ms=%lld dropped_age=%" PRIu64, (long long)s->cfg.max_age_ms,
                        s->st.dropped_age);
            finish(s, g, k);
            maybe_remove(s, g);
            skipped_bytes += *len;
            if (++skipped >= VG_SPOOL_SKIP_MAX || skipped_bytes >= VG_SPOOL_SKIP_MAX_BYTES) {
                s->yields++;
                return 0;
            }
            continue;
        }
        g->inflight++;
        *token = g->id << IDX_BITS | k;
        return 1;
    }
    return 0;
}

uint64_t vg_spool_yields(const struct vg_spool *s)
{
    return s->yields;
}

int vg_spool_read_held(const struct vg_spool *s)
{
    /* fail_tries stays set when the reader leaves that record other than by reading it (its
     * segment dropped for room, say): only the reader still standing at it counts. */
    if (!s->fail_tries || s->rid != s->fail_id || s->ridx != s->fail_idx)
        return 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->segs[i].id == s->fail_id)
            return 1;
    return 0;
}

void vg_spool_delivered(struct vg_spool *s, uint64_t token)
{
    struct seg *g = find(s, token >> IDX_BITS);
    /* Its segment was dropped while the record was in flight (or finished, and this report
     * comes again): ids are not reused, so no other record has this token. */
    if (!g) {
        s->st.late_reports++;
        if (s->gone_inflight)
            s->gone_inflight--;
        return;
    }
    /* Finished already: a report from a replaced producer after all. */
    if (!finish(s, g, token & MAX_SEG_RECS))
        return;
    if (g->inflight)
        g->inflight--;
    s->st.delivered++;
    /* The segment being written is kept until the reader has passed its end. */
    if (g->id == s->wid && s->wfd >= 0 && !(s->rid == g->id && s->ridx >= g->records))
        return;
    maybe_remove(s, g);
}

int vg_spool_kept(struct vg_spool *s, uint64_t token)
{
    if (find(s, token >> IDX_BITS))
        return 1;
    /* One of gone_inflight: its report has come, and says it was not sent. At exit no rewind
     * follows to count it, and the agent must not call it kept. */
    if (s->gone_inflight)
        s->gone_inflight--;
    s->st.dropped_full++;
    vg_warn("spool: a record given back unsent was dropped for room while in flight",
            "dropped_full=%" PRIu64, s->st.dropped_full);
    return 0;
}

int vg_spool_rewind(struct vg_spool *s)
{
    if (s->ffd >= 0) { /* a later prepend starts a segment of its own, in front again */
        close(s->ffd);
        s->ffd = -1;
        struct seg *f = find(s, s->fid);
        if (f)
            fit(f);
    }
    if (s->gone_inflight) { /* their segment is gone: not handed again, so lost here */
        s->st.dropped_full += s->gone_inflight;
        vg_warn("spool: records in flight when the spool dropped them will not be reported",
                "records=%" PRIu64 " dropped_full=%" PRIu64, s->gone_inflight, s->st.dropped_full);
        s->gone_inflight = 0;
    }
    for (size_t j = 0; j < s->n; j++)
        s->segs[j].inflight = 0;
    size_t i = 0;
    while (i < s->n && s->segs[i].finished >= s->segs[i].records)
        i++;
    if (i == s->n)
        return 0; /* nothing handed out is pending: the reader is where it should be */
    /* From the first record not finished: vg_spool_next skips the finished ones by their done
     * bits, so records finished out of order (expired, given up on) are neither handed again
     * nor counted twice. */
    s->rid = s->segs[i].id;
    s->ridx = 0;
    return 0;
}

void vg_spool_get_stats(const struct vg_spool *s, struct vg_spool_stats *st)
{
    *st = s->st;
}

void vg_spool_close(struct vg_spool *s)
{
    if (!s)
        return;
    if (s->wfd >= 0)
        close(s->wfd);
    if (s->ffd >= 0)
        close(s->ffd);
    if (s->rfd >= 0)
        close(s->rfd);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    for (size_t i = 0; i < s->n; i++) {
        free(s->segs[i].done);
        free(s->segs[i].offs);
    }
    free(s->segs);
    free(s->dir);
    free(s);
}
