#include "vg_local_state.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vg_atomicfile.h"
#include "vg_bytes.h"
#include "vg_crc32.h"
#include "vg_util.h"

#define MAGIC     "VGLOCAL1"
#define MAGIC_LEN 8
#define HDR       (MAGIC_LEN + 4 + 4) /* magic, CRC-32 of the body, body length */
/* An alert without its series name and detector state: name length, fingerprint, 4 times and
 * numbers, whether the state follows. */
#define ENTRY_FIXED (2 + 16 + 4 * 8 + 1)

static void put32_at(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32_at(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int vg_local_state_write(const char *path, const struct vg_local_saved_set *set, size_t *left_out,
                         char *err, size_t errlen)
{
    struct vg_bw b = {0};
    size_t left = 0;
    uint32_t n = 0;
    vg_bw_put(&b, MAGIC, MAGIC_LEN);
    vg_bw_uint(&b, 0, 4); /* CRC and length, filled in below */
    vg_bw_uint(&b, 0, 4);
    vg_bw_str16(&b, set->host);
    vg_bw_str16(&b, set->detector);
    vg_bw_uint(&b, set->det_size, 4);
    size_t count_at = b.len;
    vg_bw_uint(&b, 0, 4);
    for (size_t i = 0; i < set->n; i++) {
        const struct vg_local_saved *e = &set->v[i];
        size_t entry = ENTRY_FIXED + strlen(e->series);
        if (b.len + entry > VG_LOCAL_STATE_MAX_BYTES) {
            left++;
            continue;
        }
        /* Without its state an alert still resolves (cold: after the warm-up); without the
         * alert its receiver keeps it firing. So the states give way first. */
        int with_state =
            e->det && set->det_size && b.len + entry + set->det_size <= VG_LOCAL_STATE_MAX_BYTES;
        vg_bw_str16(&b, e->series);
        vg_bw_put(&b, e->fingerprint, 16);
        vg_bw_uint(&b, (uint64_t)e->starts_at_ms, 8);
        vg_bw_uint(&b, (uint64_t)e->seen_ms, 8);
        vg_bw_f64(&b, e->score);
        vg_bw_f64(&b, e->value);
        vg_bw_uint(&b, (uint64_t)with_state, 1);
        if (with_state)
            vg_bw_put(&b, e->det, set->det_size);
        n++;
    }
    if (left_out)
        *left_out = left;
    if (b.bad) {
        free(b.p);
        return vg_err(err, errlen, -ENOMEM, "%s: out of memory", path);
    }
    put32_at(b.p + count_at, n);
    put32_at(b.p + MAGIC_LEN + 4, (uint32_t)(b.len - HDR));
    put32_at(b.p + MAGIC_LEN, vg_crc32(0, b.p + HDR, b.len - HDR));

    /* A crash leaves the old set or the new one, never a torn file (vg_atomicfile); a failed
     * directory sync is reported too, so that the guard keeps trying to make the set durable. */
    int rc = vg_atomicfile_write(path, b.p, b.len, 0600, 0, err, errlen);
    free(b.p);
    return rc;
}

/* A u16-length string of 1..max bytes without a NUL into out (max + 1 bytes); 0 or -1. */
static int take_str(struct vg_br *r, char *out, size_t max)
{
    size_t n = (size_t)vg_br_uint(r, 2);
    const unsigned char *p = vg_br_take(r, n);
    if (!p || n == 0 || n > max || memchr(p, '\0', n))
        return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

static int is_fingerprint(const unsigned char *p)
{
    for (int i = 0; i < 16; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return 0;
    return 1;
}

static int parse(const unsigned char *p, size_t len, struct vg_local_saved_set *out, char *why,
                 size_t whylen)
{
    if (len < HDR || memcmp(p, MAGIC, MAGIC_LEN) != 0)
        return vg_err(why, whylen, -EINVAL, "not a local alerts file (no %s header)", MAGIC);
    uint32_t body = get32_at(p + MAGIC_LEN + 4);
    if (body != len - HDR)
        return vg_err(why, whylen, -EINVAL, "truncated or extended: %zu bytes, the header says %u",
                      len - HDR, body);
    if (vg_crc32(0, p + HDR, body) != get32_at(p + MAGIC_LEN))
        return vg_err(why, whylen, -EINVAL, "damaged: its CRC-32 does not match");
    struct vg_br r = {.p = p + HDR, .len = body};
    if (take_str(&r, out->host, VG_WIRE_HOST_MAX) < 0 || vg_wire_host_valid(out->host) != 0)
        return vg_err(why, whylen, -EINVAL, "no valid host name");
    if (take_str(&r, out->detector, sizeof out->detector - 1) < 0)
        return vg_err(why, whylen, -EINVAL, "no valid detector name");
    out->det_size = (size_t)vg_br_uint(&r, 4);
    uint64_t n = vg_br_uint(&r, 4);
    if (!r.bad && n > VG_LOCAL_STATE_MAX_ALERTS)
        return vg_err(why, whylen, -EINVAL, "%llu alerts, more than local.max_series allows (%u)",
                      (unsigned long long)n, VG_LOCAL_STATE_MAX_ALERTS);
    if (r.bad || out->det_size > VG_LOCAL_STATE_MAX_BYTES || n > (body - r.off) / ENTRY_FIXED)
        return vg_err(why, whylen, -EINVAL, "a count or size out of range");
    out->v = n ? calloc((size_t)n, sizeof *out->v) : NULL;
    if (n && !out->v)
        return vg_err(why, whylen, -ENOMEM, "out of memory");
    for (; out->n < n; out->n++) {
        struct vg_local_saved *e = &out->v[out->n];
        if (take_str(&r, e->series, VG_WIRE_NAME_MAX) < 0)
            return vg_err(why, whylen, -EINVAL, "alert %zu: no valid series name", out->n);
        const unsigned char *fp = vg_br_take(&r, 16);
        e->starts_at_ms = (int64_t)vg_br_uint(&r, 8);
        e->seen_ms = (int64_t)vg_br_uint(&r, 8);
        e->score = vg_br_f64(&r);
        e->value = vg_br_f64(&r);
        uint64_t with_state = vg_br_uint(&r, 1);
        if (r.bad || !is_fingerprint(fp) || e->starts_at_ms <= 0 || e->seen_ms <= 0 ||
            !(e->score >= 0 && e->score <= 1) || !isfinite(e->value) || with_state > 1)
            return vg_err(why, whylen, -EINVAL, "alert %zu (%s): a field out of range", out->n,
                          e->series);
        memcpy(e->fingerprint, fp, 16);
        e->fingerprint[16] = '\0';
        if (with_state) {
            const unsigned char *st = out->det_size ? vg_br_take(&r, out->det_size) : NULL;
            if (!st)
                return vg_err(why, whylen, -EINVAL, "alert %zu (%s): detector state cut short",
                              out->n, e->series);
            if (!(e->det = malloc(out->det_size)))
                return vg_err(why, whylen, -ENOMEM, "out of memory");
            memcpy(e->det, st, out->det_size);
        }
    }
    if (r.off != r.len)
        return vg_err(why, whylen, -EINVAL, "%zu bytes after the last alert", r.len - r.off);
    return 0;
}

int vg_local_state_read(const char *path, struct vg_local_saved_set *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? -ENOENT
                               : vg_err(err, errlen, -errno, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int rc = -errno;
        close(fd);
        return vg_err(err, errlen, rc, "%s: %s", path, strerror(-rc));
    }
    if (!S_ISREG(st.st_mode) || st.st_size > (off_t)VG_LOCAL_STATE_MAX_BYTES) {
        close(fd);
        return vg_err(err, errlen, -EINVAL, "%s: %s", path,
                      S_ISREG(st.st_mode) ? "larger than the bound of 16 MiB" : "not a file");
    }
    size_t len = (size_t)st.st_size, got = 0;
    unsigned char *p = malloc(len ? len : 1);
    int rc = p ? 0 : -ENOMEM;
    while (!rc && got < len) {
        ssize_t r = read(fd, p + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = -errno;
        else if (r == 0)
            len = got; /* shrank meanwhile: parsed as it is, and refused as truncated */
        else
            got += (size_t)r;
    }
    close(fd);
    if (rc) {
        free(p);
        return vg_err(err, errlen, rc, "%s: %s", path, strerror(-rc));
    }
    char why[VG_ERRLEN];
    rc = parse(p, len, out, why, sizeof why);
    free(p);
    if (rc < 0)
        return vg_err(err, errlen, rc, "%s: %s", path, why);
    return 0;
}

void vg_local_state_free(struct vg_local_saved_set *set)
{
    for (size_t i = 0; set->v && i < set->n; i++)
        free(set->v[i].det);
    free(set->v);
    set->v = NULL;
    set->n = 0;
}
