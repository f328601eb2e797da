#include "vg_ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vg_atomicfile.h"
#include "vg_util.h"

#define MAGIC    "VIGILCKP"
#define TAG_END  VG_CKPT_TAG('E', 'N', 'D', '!')
#define KIND_MAX 64

struct vg_ckpt_w {
    unsigned char *buf;
    size_t len, cap;
};

struct section {
    uint32_t tag;
    const unsigned char *data;
    size_t len;
    int used;
};

struct vg_ckpt_r {
    unsigned char *buf;
    size_t len;
    char name[256];
    struct section *sec;
    size_t n_sec;
};

/* Slicing-by-8 (eight tables, eight bytes per step): the analyzer checksums every host's state
 * record at each state checkpoint, tens of MB a second on large fleets, where the byte-at-a-time
 * loop cost a quarter of its CPU. Same CRC-32 (IEEE, reflected) as before. */
uint32_t vg_ckpt_crc32(uint32_t crc, const void *buf, size_t len)
{
    static uint32_t t[8][256];
    static int ready;
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            t[0][i] = c;
        }
        for (uint32_t i = 0; i < 256; i++)
            for (int k = 1; k < 8; k++)
                t[k][i] = t[0][t[k - 1][i] & 0xff] ^ (t[k - 1][i] >> 8);
        ready = 1;
    }
    const unsigned char *p = buf;
    crc = ~crc;
    for (; len >= 8; len -= 8, p += 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        uint32_t hi =
            (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
              t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
    }
    while (len--)
        crc = t[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static int put(struct vg_ckpt_w *w, const void *data, size_t len)
{
    if (w->len + len > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + len)
            cap *= 2;
        unsigned char *nb = realloc(w->buf, cap);
        if (!nb)
            return -ENOMEM;
        w->buf = nb;
        w->cap = cap;
    }
    if (len)
        memcpy(w->buf + w->len, data, len);
    w->len += len;
    return 0;
}

static int put_u32(struct vg_ckpt_w *w, uint32_t v)
{
    unsigned char b[4] = {v, v >> 8, v >> 16, v >> 24};
    return put(w, b, 4);
}

static int put_u64(struct vg_ckpt_w *w, uint64_t v)
{
    int rc = put_u32(w, (uint32_t)v);
    return rc ? rc : put_u32(w, (uint32_t)(v >> 32));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
    return get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

int vg_ckpt_w_new(struct vg_ckpt_w **out, const char *kind)
{
    struct vg_ckpt_w *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    size_t kl = strlen(kind);
    if (kl > KIND_MAX || put(w, MAGIC, 8) || put_u32(w, VG_CKPT_VERSION) ||
        put_u32(w, (uint32_t)kl) || put(w, kind, kl)) {
        vg_ckpt_w_free(w);
        return kl > KIND_MAX ? -EINVAL : -ENOMEM;
    }
    *out = w;
    return 0;
}

int vg_ckpt_w_add(struct vg_ckpt_w *w, uint32_t tag, const void *data, size_t len)
{
    if (put_u32(w, tag) || put_u64(w, len) || put(w, data, len))
        return -ENOMEM;
    return 0;
}

int vg_ckpt_w_commit(struct vg_ckpt_w *w, const char *path, char *err, size_t errlen)
{
    size_t body = w->len;
    if (put_u32(w, TAG_END) || put_u64(w, 0))
        return vg_err(err, errlen, -ENOMEM, "%s: out of memory", path);
    if (put_u32(w, vg_ckpt_crc32(0, w->buf, w->len))) {
        w->len = body;
        return vg_err(err, errlen, -ENOMEM, "%s: out of memory", path);
    }
    /* The directory's sync is best effort, as it always was here: the new checkpoint is in
     * place once renamed, and a crash before the directory reaches the disk brings back the
     * previous one, which a resume reads as well. */
    int rc = vg_atomicfile_write(path, w->buf, w->len, 0640, VG_ATOMICFILE_DIRSYNC_BEST_EFFORT, err,
                                 errlen);
    w->len = body; /* the writer may be committed again, e.g. to a second path */
    return rc;
}

void vg_ckpt_w_free(struct vg_ckpt_w *w)
{
    if (!w)
        return;
    free(w->buf);
    free(w);
}

static int parse(struct vg_ckpt_r *r, const char *kind, char *err, size_t errlen)
{
    const unsigned char *b = r->buf;
    size_t len = r->len;
    /* An empty or cut-short file is what a full or failing disk leaves: said as truncated, not
     * as some other program's file. */
    if (len < 8 && memcmp(b, MAGIC, len) == 0)
        return vg_err(err, errlen, -EINVAL, "%s: truncated (%zu bytes)", r->name, len);
    if (len < 8 || memcmp(b, MAGIC, 8) != 0)
        return vg_err(err, errlen, -EINVAL, "%s: not a Vigil checkpoint", r->name);
    if (len < 16)
        return vg_err(err, errlen, -EINVAL, "%s: truncated (%zu bytes)", r->name, len);
    /* The version is checked before the checksum: a file of another format version may also
     * checksum another way, and "version" is then the message that helps. */
    uint32_t ver = get_u32(b + 8);
    if (ver != VG_CKPT_VERSION)
        return vg_err(err, errlen, -EPROTO,
                      "%s: format version %u not supported (this build reads %u)", r->name, ver,
                      VG_CKPT_VERSION);
    /* A complete file ends with the END! section and the CRC; anything shorter is truncated.
     * An end marker earlier in the file, with its checksum, means bytes were added after it. */
    if (len < 16 + 16 || get_u32(b + len - 16) != TAG_END || get_u64(b + len - 12) != 0) {
        /* One forward pass, the checksum carried from one candidate to the next: a checksum
         * from byte 0 at each candidate cost the square of the length on a file of repeated
         * markers (hours for a few MB). The last candidate whose checksum matches is the end. */
        uint32_t crc = 0;
        size_t done = 0, found = 0;
        for (size_t at = 16; len >= 32 && at <= len - 17; at++) {
            if (get_u32(b + at) != TAG_END || get_u64(b + at + 4) != 0)
                continue;
            crc = vg_ckpt_crc32(crc, b + done, at + 12 - done);
            done = at + 12;
            if (crc == get_u32(b + at + 12))
                found = at;
        }
        if (found)
            return vg_err(err, errlen, -EINVAL,
                          "%s: %zu bytes after its end marker (at byte %zu of %zu): appended "
                          "to, not written by a checkpoint",
                          r->name, len - (found + 16), found, len);
        return vg_err(err, errlen, -EINVAL, "%s: truncated (%zu bytes, no end marker)", r->name,
                      len);
    }
    if (vg_ckpt_crc32(0, b, len - 4) != get_u32(b + len - 4))
        return vg_err(err, errlen, -EINVAL, "%s: checksum mismatch (corrupt)", r->name);
    uint32_t kl = get_u32(b + 12);
    if (kl > KIND_MAX || 16 + (size_t)kl > len - 16)
        return vg_err(err, errlen, -EINVAL, "%s: bad header (kind length %u)", r->name, kl);
    if (strlen(kind) != kl || memcmp(b + 16, kind, kl) != 0)
        return vg_err(err, errlen, -EINVAL, "%s: holds a '%.*s' checkpoint, not a '%s'", r->name,
                      (int)kl, (const char *)b + 16, kind);
    size_t off = 16 + kl, end = len - 16, cap = 0;
    while (off < end) {
        if (end - off < 12)
            return vg_err(err, errlen, -EINVAL, "%s: bad section header at byte %zu", r->name, off);
        uint32_t tag = get_u32(b + off);
        uint64_t sl = get_u64(b + off + 4);
        off += 12;
        if (sl > end - off)
            return vg_err(err, errlen, -EINVAL,
                          "%s: section at byte %zu claims %llu bytes, %zu remain", r->name,
                          off - 12, (unsigned long long)sl, end - off);
        if (r->n_sec == cap) {
            cap = cap ? cap * 2 : 16;
            struct section *ns = realloc(r->sec, cap * sizeof(*ns));
            if (!ns)
                return -ENOMEM;
            r->sec = ns;
        }
        r->sec[r->n_sec++] = (struct section){.tag = tag, .data = b + off, .len = (size_t)sl};
        off += (size_t)sl;
    }
    return 0;
}

int vg_ckpt_r_open_mem(struct vg_ckpt_r **out, const void *buf, size_t len, const char *name,
                       const char *kind, char *err, size_t errlen)
{
    struct vg_ckpt_r *r = calloc(1, sizeof(*r));
    if (!r || !(r->buf = malloc(len ? len : 1))) {
        free(r);
        return -ENOMEM;
    }
    if (len)
        memcpy(r->buf, buf, len);
    r->len = len;
    snprintf(r->name, sizeof(r->name), "%s", name);
    int rc = parse(r, kind, err, errlen);
    if (rc < 0) {
        vg_ckpt_r_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int vg_ckpt_r_open(struct vg_ckpt_r **out, const char *path, const char *kind, char *err,
                   size_t errlen)
{
    /* O_NONBLOCK: a FIFO left in the directory must not hang the start in open(). */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return vg_err(err, errlen, -errno, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return vg_err(err, errlen, -EINVAL, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > VG_CKPT_MAX_FILE) {
        close(fd);
        return vg_err(err, errlen, -EFBIG,
                      "%s: %lld bytes, more than a checkpoint of the largest group (%llu)", path,
                      (long long)st.st_size, (unsigned long long)VG_CKPT_MAX_FILE);
    }
    size_t len = (size_t)st.st_size, got = 0;
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf) {
        close(fd);
        return vg_err(err, errlen, -ENOMEM, "%s: %zu bytes: out of memory", path, len);
    }
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    int rc = vg_ckpt_r_open_mem(out, buf, got, path, kind, err, errlen);
    free(buf);
    return rc;
}

int vg_ckpt_r_get(struct vg_ckpt_r *r, uint32_t tag, const void **data, size_t *len, char *err,
                  size_t errlen)
{
    for (size_t i = 0; i < r->n_sec; i++) {
        if (r->sec[i].tag != tag || r->sec[i].used)
            continue;
        r->sec[i].used = 1;
        *data = r->sec[i].data;
        *len = r->sec[i].len;
        return 0;
    }
    char t[5] = {(char)tag, (char)(tag >> 8), (char)(tag >> 16), (char)(tag >> 24), 0};
    for (int i = 0; i < 4; i++)
        if (t[i] < 0x20 || t[i] > 0x7e)
            t[i] = '?';
    return vg_err(err, errlen, -ENOENT, "%s: section '%s' missing", r->name, t);
}

int vg_ckpt_r_read(struct vg_ckpt_r *r, uint32_t tag, void *dst, size_t len, char *err,
                   size_t errlen)
{
    const void *d = NULL;
    size_t l = 0;
    int rc = vg_ckpt_r_get(r, tag, &d, &l, err, errlen);
    if (rc < 0)
        return rc;
    if (l != len) {
        char t[5] = {(char)tag, (char)(tag >> 8), (char)(tag >> 16), (char)(tag >> 24), 0};
        return vg_err(err, errlen, -EINVAL, "%s: section '%s' has %zu bytes, expected %zu", r->name,
                      t, l, len);
    }
    memcpy(dst, d, len);
    return 0;
}

const char *vg_ckpt_r_name(const struct vg_ckpt_r *r)
{
    return r->name;
}

void vg_ckpt_r_free(struct vg_ckpt_r *r)
{
    if (!r)
        return;
    free(r->sec);
    free(r->buf);
    free(r);
}
