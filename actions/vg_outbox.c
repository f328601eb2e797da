#include "vg_outbox.h"

#include "vg_bytes.h"
#include "vg_crc32.h"

#include "vg_log.h"
#include "vg_util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define OB_FILE_MAGIC "VGOUTBX1"
#define OB_HDR        VG_OUTBOX_HEADER_BYTES /* file magic, u64 next seq */
#define OB_RECHDR     24u         /* u32 magic, u8 type, 3 pad, u64 seq, u32 len, u32 crc */
#define OB_REC_MAGIC  0x52424f56u /* "VOBR" little-endian */
#define OB_DATA       1
#define OB_ACK        2

#define OB_DEFAULT_MAX_RECORDS   10000
#define OB_DEFAULT_COMPACT_BYTES (4u << 20)
#define OB_COMPACT_FLUSH         (1u << 20) /* see compact_concurrent */

#define CODEC_VERSION 2 /* 2 added annotations and repeat; 1 is still read */
#define CODEC_NULL    0xffffffffu

struct pend {
    uint64_t seq;
    uint64_t off; /* of the record header */
    uint32_t len; /* payload */
};

struct vg_outbox {
    char *path;    /* <dir>/<name>.outbox, for logs */
    char *file;    /* <name>.outbox, relative to dirfd */
    char *tmpfile; /* <name>.outbox.tmp */
    int dirfd, fd, lockfd;
    pthread_mutex_t mu;
    struct pend *pend; /* pending records are pend[head .. n) */
    size_t head, n, cap;
    uint64_t pend_bytes;
    uint64_t size;
    uint64_t next_seq;
    size_t max_records, max_bytes, compact_bytes;
    int compacting; /* a compaction is copying the file without mu held */
    /* Records appended with VG_OUTBOX_NO_SYNC since the last successful sync of the file. */
    uint64_t unsynced;
    /* A sync of fd failed while such records were unsynced. Their pages may never reach the disk,
     * and a later fdatasync of the file does not say so: Linux reports a writeback error once
     * (to the sync that sees it, an ack's on another thread included), marks the pages clean,
     * and answers the next one 0. They are durable again only once rewritten into a new file
     * (compact_locked, by vg_outbox_sync), whose own sync tells. */
    int sync_lost;
    struct vg_outbox_stats st;
};

/* ---- little-endian helpers and CRC-32 (IEEE 802.3, as zlib and gzip compute it) ---- */

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* ---- file I/O ---- */

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* fdatasync is enough for appends: it flushes the data and the size, which is all a reader
 * needs; the timestamps it skips are not. Timed, because it is what durability costs. */
static int timed_sync(struct vg_outbox *ob, int fd, int full)
{
    int64_t t0 = now_us();
    int rc = full ? fsync(fd) : fdatasync(fd);
    int e = errno;
    ob->st.syncs++;
    ob->st.sync_us += (uint64_t)(now_us() - t0);
    return rc < 0 ? -e : 0;
}

/* fdatasync of the outbox file itself; a failure with unsynced records makes them sync_lost. */
static int file_sync(struct vg_outbox *ob)
{
    int rc = timed_sync(ob, ob->fd, 0);
    if (rc < 0 && ob->unsynced)
        ob->sync_lost = 1;
    return rc;
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const unsigned char *p = buf;
    while (len) {
        ssize_t w = pwrite(fd, p, len, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        if (w == 0)
            return -EIO;
        p += w;
        len -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    unsigned char *p = buf;
    while (len) {
        ssize_t r = pread(fd, p, len, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -EIO; /* the file is shorter than our index says: someone else changed it */
        p += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

static void make_rec_header(unsigned char *h, int type, uint64_t seq, const void *payload,
                            uint32_t len)
{
    memset(h, 0, OB_RECHDR);
    put32(h, OB_REC_MAGIC);
    h[4] = (unsigned char)type;
    put64(h + 8, seq);
    put32(h + 16, len);
    uint32_t crc = vg_crc32(0, h + 4, 16);
    crc = vg_crc32(crc, payload, len);
    put32(h + 20, crc);
}

static void make_file_header(unsigned char *h, uint64_t next_seq)
{
    memcpy(h, OB_FILE_MAGIC, 8);
    put64(h + 8, next_seq);
}

/* ---- pending index ---- */

static size_t pend_count(const struct vg_outbox *ob)
{
    return ob->n - ob->head;
}

static int pend_push(struct vg_outbox *ob, uint64_t seq, uint64_t off, uint32_t len)
{
    if (ob->n == ob->cap) {
        if (ob->head > 0) {
            memmove(ob->pend, ob->pend + ob->head, pend_count(ob) * sizeof(*ob->pend));
            ob->n -= ob->head;
            ob->head = 0;
        }
        if (ob->n == ob->cap) {
            size_t nc = ob->cap ? ob->cap * 2 : 64;
            struct pend *p = realloc(ob->pend, nc * sizeof(*p));
            if (!p)
                return -ENOMEM;
            ob->pend = p;
            ob->cap = nc;
        }
    }
    ob->pend[ob->n++] = (struct pend){.seq = seq, .off = off, .len = len};
    ob->pend_bytes += len;
    return 0;
}

/* Acks come in delivery order, so the oldest pending record is nearly always the one. */
static int pend_remove(struct vg_outbox *ob, uint64_t seq)
{
    for (size_t i = ob->head; i < ob->n; i++) {
        if (ob->pend[i].seq != seq)
            continue;
        ob->pend_bytes -= ob->pend[i].len;
        if (i == ob->head) {
            ob->head++;
        } else {
            memmove(ob->pend + i, ob->pend + i + 1, (ob->n - i - 1) * sizeof(*ob->pend));
            ob->n--;
        }
        if (ob->head == ob->n)
            ob->head = ob->n = 0;
        return 0;
    }
    return -ENOENT;
}

static uint64_t live_bytes(const struct vg_outbox *ob)
{
    return OB_HDR + (uint64_t)pend_count(ob) * OB_RECHDR + ob->pend_bytes;
}

/* ---- compaction ---- */

/* The record buffer of a copy loop, grown to hold need bytes: 0, or -ENOMEM (buf kept). */
static int grow_buf(unsigned char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    unsigned char *b = realloc(*buf, need);
    if (!b)
        return -ENOMEM;
    *buf = b;
    *cap = need;
    return 0;
}

/* Writes the pending records to a temp file and renames it over the outbox, so that a crash at
 * any point leaves either the old file or the new one, never a mix. Called with mu held. */
static int compact_locked(struct vg_outbox *ob)
{
    int tfd = openat(ob->dirfd, ob->tmpfile, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (tfd < 0)
        return -errno;
    unsigned char hdr[OB_HDR];
    make_file_header(hdr, ob->next_seq);
    int rc = pwrite_all(tfd, hdr, OB_HDR, 0);
    uint64_t off = OB_HDR;
    uint64_t *newoff = pend_count(ob) ? malloc(pend_count(ob) * sizeof(*newoff)) : NULL;
    size_t bufcap = 0;
    unsigned char *buf = NULL;
    if (pend_count(ob) && !newoff)
        rc = -ENOMEM;
    for (size_t i = ob->head; rc == 0 && i < ob->n; i++) {
        size_t rl = OB_RECHDR + ob->pend[i].len;
        if ((rc = grow_buf(&buf, &bufcap, rl)) < 0)
            break;
        rc = pread_all(ob->fd, buf, rl, ob->pend[i].off);
        if (rc == 0)
            rc = pwrite_all(tfd, buf, rl, off);
        newoff[i - ob->head] = off;
        off += rl;
    }
    free(buf);
    if (rc == 0)
        rc = timed_sync(ob, tfd, 0);
    if (rc == 0 && renameat(ob->dirfd, ob->tmpfile, ob->dirfd, ob->file) < 0)
        rc = -errno;
    if (rc < 0) {
        close(tfd);
        unlinkat(ob->dirfd, ob->tmpfile, 0);
        free(newoff);
        return rc;
    }
    /* The rename is durable only once the directory is. If this fails the new file is in place
     * anyway; at worst a crash brings back the old one, whose extra records are acked ones. */
    timed_sync(ob, ob->dirfd, 1);
    close(ob->fd);
    ob->fd = tfd;
    for (size_t i = ob->head; i < ob->n; i++)
        ob->pend[i].off = newoff[i - ob->head];
    free(newoff);
    ob->size = off;
    ob->st.compactions++;
    ob->unsynced = 0; /* the new file was synced whole before its rename */
    ob->sync_lost = 0;
    return 0;
}

/* The same while the outbox is in use: the pending records are copied to the temp file without
 * mu held, so that appends (the analyzer's submits) wait for at most one fdatasync instead of the
 * whole rewrite. What was appended or acknowledged meanwhile is the file's tail past the copied
 * size; under mu that tail is copied after the records, synced, and the temp file renamed. Until
 * the rename the old file, still appended to and synced, is the outbox; after it the new file
 * holds every record the old one had that was not acknowledged before the copy began, and every
 * ack of one that was after it, so a crash at any instant replays the same records. Called with
 * mu held and ob->compacting set; returns with mu held and *old_fd, when set (else -1), for the
 * caller to close after releasing mu. */
static int compact_concurrent(struct vg_outbox *ob, int *old_fd)
{
    *old_fd = -1;
    size_t np = pend_count(ob);
    struct pend *snap = np ? malloc(np * sizeof(*snap)) : NULL;
    uint64_t *newoff = np ? malloc(np * sizeof(*newoff)) : NULL;
    if (np && (!snap || !newoff)) {
        free(snap);
        free(newoff);
        return -ENOMEM;
    }
    if (np)
        memcpy(snap, ob->pend + ob->head, np * sizeof(*snap));
    uint64_t snap_size = ob->size;
    unsigned char hdr[OB_HDR];
    make_file_header(hdr, ob->next_seq);
    /* Only a compaction replaces ob->fd, and the file is not cut back while one runs (ack),
     * so the copied records stay where snap says. */
    int fd = ob->fd;
    pthread_mutex_unlock(&ob->mu);

    uint64_t syncs = 0, sync_us = 0;
    int rc = 0;
    int tfd = openat(ob->dirfd, ob->tmpfile, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (tfd < 0)
        rc = -errno;
    if (rc == 0)
        rc = pwrite_all(tfd, hdr, OB_HDR, 0);
    uint64_t off = OB_HDR, flushed = 0;
    size_t bufcap = 0;
    unsigned char *buf = NULL;
    for (size_t i = 0; rc == 0 && i < np; i++) {
        size_t rl = OB_RECHDR + snap[i].len;
        if ((rc = grow_buf(&buf, &bufcap, rl)) < 0)
            break;
        rc = pread_all(fd, buf, rl, snap[i].off);
        if (rc == 0)
            rc = pwrite_all(tfd, buf, rl, off);
        newoff[i] = off;
        off += rl;
        /* On ext4 (data=ordered) an append's fdatasync commits the journal, which first writes
         * out the temp file's dirty blocks: flushing them as we go keeps what a submit can wait
         * for to about a MiB. */
        if (rc == 0 && off - flushed >= OB_COMPACT_FLUSH) {
            int64_t t0 = now_us();
            rc = fdatasync(tfd) < 0 ? -errno : 0;
            syncs++;
            sync_us += (uint64_t)(now_us() - t0);
            flushed = off;
        }
    }
    if (rc == 0) {
        /* The bulk of the data is flushed here, so that the sync under mu has only the tail. */
        int64_t t0 = now_us();
        rc = fdatasync(tfd) < 0 ? -errno : 0;
        syncs++;
        sync_us += (uint64_t)(now_us() - t0);
    }

    pthread_mutex_lock(&ob->mu);
    ob->st.syncs += syncs;
    ob->st.sync_us += sync_us;
    uint64_t tail = rc == 0 ? ob->size - snap_size : 0;
    for (uint64_t done = 0; rc == 0 && done < tail;) {
        size_t chunk = tail - done > (64u << 10) ? (64u << 10) : (size_t)(tail - done);
        if (chunk > bufcap) {
            unsigned char *b = realloc(buf, chunk);
            if (!b) {
                rc = -ENOMEM;
                break;
            }
            buf = b;
            bufcap = chunk;
        }
        rc = pread_all(ob->fd, buf, chunk, snap_size + done);
        if (rc == 0)
            rc = pwrite_all(tfd, buf, chunk, off + done);
        done += chunk;
    }
    free(buf);
    if (rc == 0)
        rc = timed_sync(ob, tfd, 0);
    if (rc == 0 && renameat(ob->dirfd, ob->tmpfile, ob->dirfd, ob->file) < 0)
        rc = -errno;
    if (rc < 0) {
        if (tfd >= 0) {
            close(tfd);
            unlinkat(ob->dirfd, ob->tmpfile, 0);
        }
        free(snap);
        free(newoff);
        return rc;
    }
    /* As in compact_locked: at worst a crash brings back the old file, which is whole. */
    timed_sync(ob, ob->dirfd, 1);
    /* The old file's last reference: closing it frees its blocks, which takes time in
     * proportion to its size, so the caller does it once mu is released. */
    *old_fd = ob->fd;
    ob->fd = tfd;
    /* Records still pending from the copy moved to newoff; those appended since moved with the
     * tail. Both keep their order, and pend only ever loses copied records. */
    size_t j = 0;
    for (size_t i = ob->head; i < ob->n; i++) {
        if (ob->pend[i].off >= snap_size) {
            ob->pend[i].off = ob->pend[i].off - snap_size + off;
            continue;
        }
        while (j < np && snap[j].seq != ob->pend[i].seq)
            j++;
        if (j < np)
            ob->pend[i].off = newoff[j];
    }
    free(snap);
    free(newoff);
    ob->size = off + tail;
    ob->st.compactions++;
    ob->unsynced = 0; /* the new file was synced whole before its rename */
    ob->sync_lost = 0;
    return 0;
}

/* ---- reading the file back ---- */

/* 1 when a valid record starts at off, else 0 with *why set. */
static int record_at(const unsigned char *buf, uint64_t size, uint64_t off, int *type,
                     uint64_t *seq, uint32_t *len, const char **why)
{
    const unsigned char *p = buf + off;
    if (get32(p) != OB_REC_MAGIC) {
        *why = "bad record magic";
        return 0;
    }
    *type = p[4];
    *seq = get64(p + 8);
    *len = get32(p + 16);
    if (*type != OB_DATA && *type != OB_ACK) {
        *why = "bad record type";
        return 0;
    }
    if (*len > VG_OUTBOX_MAX_RECORD || (*type == OB_ACK && *len != 0)) {
        *why = "bad record length";
        return 0;
    }
    if (off + OB_RECHDR + *len > size) {
        *why = "torn: record runs past the end of the file";
        return 0;
    }
    uint32_t crc = vg_crc32(0, p + 4, 16);
    crc = vg_crc32(crc, p + OB_RECHDR, *len);
    if (crc != get32(p + 20)) {
        *why = "crc mismatch";
        return 0;
    }
    return 1;
}

static void log_skipped(struct vg_outbox *ob, uint64_t off, uint64_t bytes, const char *why)
{
    char qf[512], qw[96];
    ob->st.corrupt++;
    vg_warn("outbox record skipped: damaged or torn, the notification in it is lost",
            "file=%s offset=%llu bytes=%llu reason=%s", vg_log_quote(qf, sizeof(qf), ob->path),
            (unsigned long long)off, (unsigned long long)bytes, vg_log_quote(qw, sizeof(qw), why));
}

/* Rebuilds the pending index from the file. *dirty is set when the file holds anything besides
 * the pending records (acked records, damage), i.e. when a rewrite would shrink it. */
static int load(struct vg_outbox *ob, int *dirty, const struct vg_outbox_cfg *cfg)
{
    struct stat st;
    if (fstat(ob->fd, &st) < 0)
        return -errno;
    uint64_t size = (uint64_t)st.st_size;
    ob->size = size;
    ob->next_seq = 1;
    *dirty = 0;
    if (size == 0)
        return 0;
    if (size > (uint64_t)SIZE_MAX / 2)
        return -EFBIG;
    unsigned char *buf = malloc((size_t)size);
    if (!buf)
        return -ENOMEM;
    int rc = pread_all(ob->fd, buf, (size_t)size, 0);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    if (size < OB_HDR || memcmp(buf, OB_FILE_MAGIC, 8) != 0) {
        /* Reading on is still worth it: records carry their own magic and CRC. */
        log_skipped(ob, 0, size < OB_HDR ? size : OB_HDR, "bad file header");
        *dirty = 1;
    } else {
        ob->next_seq = get64(buf + 8);
    }
    uint64_t off = OB_HDR, bad_at = UINT64_MAX;
    const char *bad_why = NULL;
    while (off + OB_RECHDR <= size) {
        int type;
        uint64_t seq;
        uint32_t len;
        const char *why = NULL;
        if (!record_at(buf, size, off, &type, &seq, &len, &why)) {
            /* Resynchronise one byte at a time: a damaged length cannot be trusted to find the
             * next record, the next magic with a matching CRC can. */
            if (bad_at == UINT64_MAX) {
                bad_at = off;
                bad_why = why;
            }
            off++;
            continue;
        }
        if (bad_at != UINT64_MAX) {
            log_skipped(ob, bad_at, off - bad_at, bad_why);
            bad_at = UINT64_MAX;
            *dirty = 1;
        }
        if (type == OB_DATA) {
            rc = pend_push(ob, seq, off, len);
            if (rc < 0)
                break;
        } else {
            for (size_t i = ob->head; cfg->done_fn && i < ob->n; i++) {
                if (ob->pend[i].seq == seq) {
                    cfg->done_fn(cfg->done_ud, seq, buf + ob->pend[i].off + OB_RECHDR,
                                 ob->pend[i].len);
                    break;
                }
            }
            pend_remove(ob, seq);
            *dirty = 1;
        }
        if (seq >= ob->next_seq)
            ob->next_seq = seq + 1;
        off += OB_RECHDR + len;
    }
    if (rc == 0 && off < size && bad_at == UINT64_MAX && size >= OB_HDR) {
        bad_at = off;
        bad_why = "torn: record header runs past the end of the file";
    }
    if (rc == 0 && bad_at != UINT64_MAX && size > bad_at) {
        log_skipped(ob, bad_at, size - bad_at, bad_why);
        *dirty = 1;
    }
    free(buf);
    if (ob->size > live_bytes(ob))
        *dirty = 1;
    return rc;
}

/* ---- public API ---- */

static int name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 64 || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

void vg_outbox_close(struct vg_outbox *ob)
{
    if (!ob)
        return;
    if (ob->fd >= 0)
        close(ob->fd);
    if (ob->dirfd >= 0)
        close(ob->dirfd);
    /* The lock file stays: removing it would let a process that opened it just before lock a
     * file nobody else can see any more. */
    if (ob->lockfd >= 0)
        close(ob->lockfd);
    pthread_mutex_destroy(&ob->mu);
    free(ob->pend);
    free(ob->path);
    free(ob->file);
    free(ob->tmpfile);
    free(ob);
}

int vg_outbox_dir_check(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return vg_err(err, errlen, -ENOTDIR, "%s is not a directory", dir);
        /* The lock and outbox files are made in it. */
        if (access(dir, W_OK | X_OK) != 0) {
            int e = errno;
            return vg_err(err, errlen, -e, "cannot create files in directory %s: %s", dir,
                          strerror(e));
        }
        return 0;
    }
    int e = errno;
    if (e == ENOENT) {
        /* Only the last component is created (mode 0700): a missing parent is an install or a
         * typo, which making a tree of directories would hide. */
        char parent[4096];
        snprintf(parent, sizeof parent, "%s", dir);
        size_t n = strlen(parent);
        while (n > 1 && parent[n - 1] == '/')
            parent[--n] = '\0';
        char *slash = strrchr(parent, '/');
        if (!slash)
            snprintf(parent, sizeof parent, ".");
        else
            *(slash == parent ? slash + 1 : slash) = '\0';
        if (stat(parent, &st) != 0)
            e = errno;
        else if (!S_ISDIR(st.st_mode))
            e = ENOTDIR;
        else if (access(parent, W_OK | X_OK) != 0)
            e = errno;
        else
            return 0;
    }
    return vg_err(err, errlen, -e, "cannot create directory %s: %s%s", dir, strerror(e),
                  e == ENOENT ? " (its parent must exist)" : "");
}

int vg_outbox_open(struct vg_outbox **out, const struct vg_outbox_cfg *cfg, char *err,
                   size_t errlen)
{
    *out = NULL;
    if (!cfg || !cfg->dir || !*cfg->dir)
        return vg_err(err, errlen, -EINVAL, "outbox: no directory given");
    if (!name_ok(cfg->name))
        return vg_err(err, errlen, -EINVAL,
                      "outbox: receiver name must be 1..64 of [A-Za-z0-9._-], not starting "
                      "with '.'");
    struct vg_outbox *ob = calloc(1, sizeof(*ob));
    if (!ob)
        return vg_err(err, errlen, -ENOMEM, "outbox: out of memory");
    ob->fd = ob->dirfd = ob->lockfd = -1;
    pthread_mutex_init(&ob->mu, NULL);
    ob->max_records = cfg->max_records ? cfg->max_records : OB_DEFAULT_MAX_RECORDS;
    ob->max_bytes = cfg->max_bytes ? cfg->max_bytes : VG_OUTBOX_DEFAULT_MAX_BYTES;
    ob->compact_bytes = cfg->compact_bytes ? cfg->compact_bytes : OB_DEFAULT_COMPACT_BYTES;
    char *lockname = NULL;
    if (asprintf(&ob->path, "%s/%s.outbox", cfg->dir, cfg->name) < 0)
        ob->path = NULL;
    if (asprintf(&ob->file, "%s.outbox", cfg->name) < 0)
        ob->file = NULL;
    if (asprintf(&ob->tmpfile, "%s.outbox.tmp", cfg->name) < 0)
        ob->tmpfile = NULL;
    if (asprintf(&lockname, "%s.lock", cfg->name) < 0)
        lockname = NULL;
    int rc = 0;
    if (!ob->path || !ob->file || !ob->tmpfile || !lockname) {
        rc = vg_err(err, errlen, -ENOMEM, "outbox: out of memory");
        goto fail;
    }
    /* The check --check-config runs (vg_outbox_dir_check), so that the two cannot disagree. */
    char why[VG_ERRLEN];
    if ((rc = vg_outbox_dir_check(cfg->dir, why, sizeof why)) < 0) {
        vg_err(err, errlen, rc, "outbox: %s", why);
        goto fail;
    }
    if (mkdir(cfg->dir, 0700) < 0 && errno != EEXIST) {
        int e = errno;
        rc = vg_err(err, errlen, -e, "outbox: cannot create directory %s: %s%s", cfg->dir,
                    strerror(e), e == ENOENT ? " (its parent must exist)" : "");
        goto fail;
    }
    ob->dirfd = open(cfg->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ob->dirfd < 0) {
        int e = errno;
        rc = vg_err(err, errlen, -e, "outbox: cannot open directory %s: %s", cfg->dir, strerror(e));
        goto fail;
    }
    ob->lockfd = openat(ob->dirfd, lockname, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (ob->lockfd < 0 || flock(ob->lockfd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        if (e == EWOULDBLOCK)
            rc = vg_err(err, errlen, -EBUSY,
                        "outbox: %s is in use (two receivers with the same name, or two "
                        "processes sharing the outbox directory)",
                        ob->path);
        else
            rc = vg_err(err, errlen, -e, "outbox: cannot lock %s/%s: %s", cfg->dir, lockname,
                        strerror(e));
        goto fail;
    }
    /* A temp file left by a crash mid-compaction was never renamed: the outbox itself is whole. */
    unlinkat(ob->dirfd, ob->tmpfile, 0);
    ob->fd = openat(ob->dirfd, ob->file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (ob->fd < 0) {
        int e = errno;
        rc = vg_err(err, errlen, -e, "outbox: cannot open %s: %s", ob->path, strerror(e));
        goto fail;
    }
    int dirty = 0;
    rc = load(ob, &dirty, cfg);
    if (rc < 0) {
        rc = vg_err(err, errlen, rc, "outbox: cannot read %s: %s", ob->path, strerror(-rc));
        goto fail;
    }
    if (ob->size == 0) {
        unsigned char hdr[OB_HDR];
        make_file_header(hdr, ob->next_seq);
        rc = pwrite_all(ob->fd, hdr, OB_HDR, 0);
        if (rc == 0)
            rc = timed_sync(ob, ob->fd, 0);
        if (rc == 0)
            rc = timed_sync(ob, ob->dirfd, 1);
        if (rc < 0) {
            rc = vg_err(err, errlen, rc, "outbox: cannot initialise %s: %s", ob->path,
                        strerror(-rc));
            goto fail;
        }
        ob->size = OB_HDR;
    } else if (dirty && (rc = compact_locked(ob)) < 0) {
        /* A full disk must cost durability, not the receiver: appends go after whatever the
         * file holds, and the next load skips acked or damaged records again by their CRC. */
        char q[512];
        vg_warn("outbox: cannot rewrite at start, appending to it as it is",
                "file=%s reason=\"%s\"", vg_log_quote(q, sizeof(q), ob->path), strerror(-rc));
        rc = 0;
    }
    free(lockname);
    *out = ob;
    return 0;
fail:
    free(lockname);
    vg_outbox_close(ob);
    return rc;
}

int vg_outbox_append(struct vg_outbox *ob, const void *payload, size_t len, uint64_t *seq)
{
    return vg_outbox_append_ex(ob, payload, len, seq, 0);
}

int vg_outbox_append_ex(struct vg_outbox *ob, const void *payload, size_t len, uint64_t *seq,
                        unsigned flags)
{
    if (len > VG_OUTBOX_MAX_RECORD)
        return -EMSGSIZE;
    pthread_mutex_lock(&ob->mu);
    if (!(flags & VG_OUTBOX_OVER_LIMIT) &&
        (pend_count(ob) >= ob->max_records || ob->pend_bytes + len > ob->max_bytes)) {
        ob->st.full++;
        pthread_mutex_unlock(&ob->mu);
        return -ENOBUFS;
    }
    unsigned char *rec = malloc(OB_RECHDR + len);
    if (!rec) {
        pthread_mutex_unlock(&ob->mu);
        return -ENOMEM;
    }
    uint64_t s = ob->next_seq;
    make_rec_header(rec, OB_DATA, s, payload, (uint32_t)len);
    memcpy(rec + OB_RECHDR, payload, len);
    int rc = pwrite_all(ob->fd, rec, OB_RECHDR + len, ob->size);
    free(rec);
    if (rc == 0 && !(flags & VG_OUTBOX_NO_SYNC))
        rc = file_sync(ob);
    if (rc == 0)
        rc = pend_push(ob, s, ob->size, (uint32_t)len);
    if (rc < 0) {
        /* Leave nothing half-written for the next append to follow; if even this fails, the
         * reader skips it by its CRC. */
        if (ftruncate(ob->fd, (off_t)ob->size) < 0) {
            char q[512];
            vg_warn("outbox: cannot cut back a failed append", "file=%s",
                    vg_log_quote(q, sizeof(q), ob->path));
        }
        pthread_mutex_unlock(&ob->mu);
        return rc;
    }
    ob->size += OB_RECHDR + len;
    ob->next_seq++;
    ob->st.appended++;
    if (flags & VG_OUTBOX_NO_SYNC)
        ob->unsynced++;
    *seq = s;
    pthread_mutex_unlock(&ob->mu);
    return 0;
}

int vg_outbox_sync(struct vg_outbox *ob)
{
    pthread_mutex_lock(&ob->mu);
    int rc = 0, rewritten = 0;
    if (ob->sync_lost) {
        /* A plain fdatasync would answer 0 for records it never wrote: they are copied from the
         * page cache, where the kernel keeps them, into a new file synced before its rename.
         * Not while a concurrent compaction copies the file (the temp file is its): it does the
         * same, and until it or the next call has, they are not durable. */
        rc = ob->compacting ? -EIO : compact_locked(ob);
        rewritten = rc == 0;
    } else if (ob->unsynced) {
        /* During a concurrent compaction ob->fd is still the outbox (the old file); the
         * compaction syncs the new one before renaming it over. */
        rc = file_sync(ob);
        if (rc == 0)
            ob->unsynced = 0;
    }
    pthread_mutex_unlock(&ob->mu);
    if (rewritten) {
        char q[512];
        vg_info("outbox: rewritten into a new file after a failed sync, its records are durable "
                "again",
                "file=%s", vg_log_quote(q, sizeof(q), ob->path));
    }
    return rc;
}

int vg_outbox_ack(struct vg_outbox *ob, uint64_t seq)
{
    int old_fd = -1;
    pthread_mutex_lock(&ob->mu);
    if (pend_remove(ob, seq) < 0) {
        pthread_mutex_unlock(&ob->mu);
        return -ENOENT;
    }
    ob->st.acked++;
    int rc;
    if (pend_count(ob) == 0 && !ob->compacting) {
        /* Everything is acknowledged: cutting the file back to its header is the ack. (Not
         * while a compaction is copying records out of the file: then an ack record it is.) */
        rc = ftruncate(ob->fd, OB_HDR) < 0 ? -errno : 0;
        if (rc == 0)
            rc = timed_sync(ob, ob->fd, 0);
        if (rc == 0) {
            ob->size = OB_HDR;
            ob->unsynced = 0; /* nothing is left pending, synced or not */
            ob->sync_lost = 0;
        }
    } else {
        unsigned char rec[OB_RECHDR];
        make_rec_header(rec, OB_ACK, seq, NULL, 0);
        rc = pwrite_all(ob->fd, rec, OB_RECHDR, ob->size);
        if (rc == 0)
            rc = file_sync(ob);
        if (rc == 0) {
            ob->size += OB_RECHDR;
            /* The fdatasync flushed the records before the ack too (but sync_lost ones: it
             * cannot tell). */
            ob->unsynced = 0;
        } else if (ftruncate(ob->fd, (off_t)ob->size) < 0)
            rc = -errno;
        /* Twice the live size: with many records pending, rewriting at every ack would copy the
         * whole outbox per delivery. */
        if (rc == 0 && !ob->compacting && ob->size > ob->compact_bytes &&
            ob->size > 2 * live_bytes(ob)) {
            ob->compacting = 1;
            int crc = compact_concurrent(ob, &old_fd);
            ob->compacting = 0;
            if (crc < 0) {
                char q[512], qe[128];
                vg_warn("outbox: compaction failed, will retry at a later ack", "file=%s error=%s",
                        vg_log_quote(q, sizeof(q), ob->path),
                        vg_log_quote(qe, sizeof(qe), strerror(-crc)));
            }
        }
    }
    pthread_mutex_unlock(&ob->mu);
    if (old_fd >= 0)
        close(old_fd);
    return rc;
}

int vg_outbox_replay(struct vg_outbox *ob, vg_outbox_replay_fn fn, void *ud)
{
    pthread_mutex_lock(&ob->mu);
    size_t n = pend_count(ob);
    uint64_t *drop = n ? calloc(n, sizeof(*drop)) : NULL;
    size_t ndrop = 0;
    unsigned char *buf = NULL;
    size_t cap = 0;
    int rc = n && !drop ? -ENOMEM : 0;
    for (size_t i = ob->head; rc == 0 && i < ob->n; i++) {
        struct pend p = ob->pend[i];
        if (p.len + 1 > cap) {
            unsigned char *b = realloc(buf, p.len + 1);
            if (!b) {
                rc = -ENOMEM;
                break;
            }
            buf = b;
            cap = p.len + 1;
        }
        rc = pread_all(ob->fd, buf, p.len, p.off + OB_RECHDR);
        if (rc == 0 && fn(ud, p.seq, buf, p.len))
            drop[ndrop++] = p.seq;
    }
    free(buf);
    pthread_mutex_unlock(&ob->mu);
    for (size_t i = 0; i < ndrop; i++)
        vg_outbox_ack(ob, drop[i]);
    free(drop);
    return rc;
}

void vg_outbox_get_stats(struct vg_outbox *ob, struct vg_outbox_stats *st)
{
    pthread_mutex_lock(&ob->mu);
    *st = ob->st;
    st->pending = pend_count(ob);
    st->pending_bytes = ob->pend_bytes;
    st->file_bytes = ob->size;
    pthread_mutex_unlock(&ob->mu);
}

const char *vg_outbox_path(const struct vg_outbox *ob)
{
    return ob->path;
}

/* ---- notification codec ---- */

static void put_str(struct vg_bw *b, const char *s)
{
    if (!s) {
        vg_bw_uint(b, CODEC_NULL, 4);
        return;
    }
    size_t n = strlen(s);
    if (n >= CODEC_NULL) {
        b->bad = 1;
        return;
    }
    vg_bw_uint(b, (uint32_t)n, 4);
    vg_bw_put(b, s, n + 1);
}

int vg_outbox_encode(const struct vg_notification *n, unsigned char **out, size_t *len)
{
    struct vg_bw b = {0};
    unsigned char v = CODEC_VERSION;
    vg_bw_put(&b, &v, 1);
    put_str(&b, n->status);
    put_str(&b, n->alertname);
    put_str(&b, n->host);
    put_str(&b, n->series);
    put_str(&b, n->fingerprint);
    put_str(&b, n->severity);
    put_str(&b, n->summary);
    vg_bw_f64(&b, n->score);
    vg_bw_f64(&b, n->value);
    vg_bw_f64(&b, n->threshold);
    vg_bw_uint(&b, (uint64_t)n->starts_at_ms, 8);
    vg_bw_uint(&b, (uint64_t)n->ends_at_ms, 8);
    vg_bw_uint(&b, (uint64_t)n->event_ts_ms, 8);
    vg_bw_uint(&b, (uint64_t)n->accepted_ms, 8);
    vg_bw_uint(&b, (uint32_t)n->n_labels, 4);
    for (size_t i = 0; i < n->n_labels; i++) {
        put_str(&b, n->label_keys ? n->label_keys[i] : NULL);
        put_str(&b, n->label_values ? n->label_values[i] : NULL);
    }
    size_t nt = n->top_metrics ? n->n_top_metrics : 0;
    vg_bw_uint(&b, (uint32_t)nt, 4);
    for (size_t i = 0; i < nt; i++) {
        put_str(&b, n->top_metrics[i].name);
        vg_bw_f64(&b, n->top_metrics[i].value);
        vg_bw_f64(&b, n->top_metrics[i].contribution);
    }
    size_t na = n->annotation_keys && n->annotation_values ? n->n_annotations : 0;
    vg_bw_uint(&b, (uint32_t)na, 4);
    for (size_t i = 0; i < na; i++) {
        put_str(&b, n->annotation_keys[i]);
        put_str(&b, n->annotation_values[i]);
    }
    vg_bw_uint(&b, n->repeat, 4);
    if (b.bad || n->n_labels > UINT32_MAX || nt > UINT32_MAX || na > UINT32_MAX) {
        free(b.p);
        return -ENOMEM;
    }
    *out = b.p;
    *len = b.len;
    return 0;
}

static const char *get_str(struct vg_br *r)
{
    uint32_t n = (uint32_t)vg_br_uint(r, 4);
    if (r->bad || n == CODEC_NULL)
        return NULL;
    const unsigned char *p = vg_br_take(r, (size_t)n + 1);
    /* The string must end exactly at its NUL: a shorter strlen would silently cut it. */
    if (!p || p[n] != '\0' || memchr(p, '\0', n)) {
        r->bad = 1;
        return NULL;
    }
    return (const char *)p;
}

int vg_outbox_decode(const void *buf, size_t len, struct vg_notification *n, void **arrays)
{
    struct vg_br r = {.p = buf, .len = len};
    memset(n, 0, sizeof(*n));
    *arrays = NULL;
    const unsigned char *v = vg_br_take(&r, 1);
    if (!v || (*v != 1 && *v != CODEC_VERSION))
        return -EINVAL;
    int version = *v;
    n->status = get_str(&r);
    n->alertname = get_str(&r);
    n->host = get_str(&r);
    n->series = get_str(&r);
    n->fingerprint = get_str(&r);
    n->severity = get_str(&r);
    n->summary = get_str(&r);
    n->score = vg_br_f64(&r);
    n->value = vg_br_f64(&r);
    n->threshold = vg_br_f64(&r);
    n->starts_at_ms = (int64_t)vg_br_uint(&r, 8);
    n->ends_at_ms = (int64_t)vg_br_uint(&r, 8);
    n->event_ts_ms = (int64_t)vg_br_uint(&r, 8);
    n->accepted_ms = (int64_t)vg_br_uint(&r, 8);
    uint32_t nl = (uint32_t)vg_br_uint(&r, 4);
    /* Each label takes at least 8 bytes: a count beyond that is damage, not a reason to try a
     * huge allocation. */
    if (r.bad || nl > (len - r.off) / 8)
        return -EINVAL;
    size_t asize = 2 * (size_t)nl * sizeof(char *);
    const char **kv = NULL;
    if (nl) {
        kv = malloc(asize);
        if (!kv)
            return -ENOMEM;
    }
    for (uint32_t i = 0; i < nl; i++) {
        kv[i] = get_str(&r);
        kv[nl + i] = get_str(&r);
    }
    uint32_t nt = (uint32_t)vg_br_uint(&r, 4);
    if (r.bad || nt > (len - r.off) / 20) {
        free(kv);
        return -EINVAL;
    }
    /* Annotations follow the top metrics: count them before allocating one block for all the
     * arrays, so the caller frees one pointer. */
    size_t top_off = r.off;
    for (uint32_t i = 0; i < nt; i++) {
        get_str(&r);
        vg_br_uint(&r, 8);
        vg_br_uint(&r, 8);
    }
    uint32_t na = 0;
    if (version >= 2) {
        na = (uint32_t)vg_br_uint(&r, 4);
        if (r.bad || na > (len - r.off) / 8) {
            free(kv);
            return -EINVAL;
        }
    }
    size_t tsize = (size_t)nt * sizeof(struct vg_top_metric);
    size_t nsize = 2 * (size_t)na * sizeof(char *);
    size_t total = asize + tsize + nsize;
    void *block = total ? malloc(total) : NULL;
    if (total && !block) {
        free(kv);
        return -ENOMEM;
    }
    if (nl)
        memcpy(block, kv, asize);
    free(kv);
    /* Only formed when there are top metrics: an offset from a NULL block is undefined. */
    struct vg_top_metric *top = nt ? (struct vg_top_metric *)((char *)block + asize) : NULL;
    const char **ann = na ? (const char **)((char *)block + asize + tsize) : NULL;
    size_t after_count = r.off;
    r.off = top_off;
    for (uint32_t i = 0; i < nt; i++) {
        top[i].name = get_str(&r);
        top[i].value = vg_br_f64(&r);
        top[i].contribution = vg_br_f64(&r);
    }
    if (version >= 2) {
        r.off = after_count;
        for (uint32_t i = 0; i < na; i++) {
            ann[i] = get_str(&r);
            ann[na + i] = get_str(&r);
        }
        n->repeat = (uint32_t)vg_br_uint(&r, 4);
    }
    if (r.bad || r.off != len) {
        free(block);
        memset(n, 0, sizeof(*n));
        return -EINVAL;
    }
    n->annotation_keys = na ? ann : NULL;
    n->annotation_values = na ? ann + na : NULL;
    n->n_annotations = na;
    n->label_keys = nl ? (const char *const *)block : NULL;
    n->label_values = nl ? (const char *const *)block + nl : NULL;
    n->n_labels = nl;
    n->top_metrics = nt ? top : NULL;
    n->n_top_metrics = nt;
    *arrays = block;
    return 0;
}
