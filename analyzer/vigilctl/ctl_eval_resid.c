#include "ctl_eval_resid.h"

#include <errno.h>
#include <string.h>

#include "ctl_eval.h"
#include "vg_util.h"

#define MAGIC    "VGRESID1"
#define HDR_SIZE 32

/* The state both directions start from: path, shape, nothing open. */
static int start(struct ctl_resid *r, const char *dir, const char *name, size_t m, uint64_t nr,
                 uint64_t nt, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    r->m = m;
    r->rows = nr + nt;
    int n = snprintf(r->path, sizeof(r->path), "%s/%s.resid", dir, name);
    if (n < 0 || (size_t)n >= sizeof(r->path))
        return vg_err(err, errlen, -ENAMETOOLONG, "%s/%s.resid: path too long", dir, name);
    return 0;
}

int ctl_resid_create(struct ctl_resid *r, const char *dir, const char *name, size_t m, uint64_t nr,
                     uint64_t nt, char *err, size_t errlen)
{
    int rc = start(r, dir, name, m, nr, nt, err, errlen);
    if (rc < 0)
        return rc;
    if ((rc = ctl_eval_mkdirs(dir)) < 0)
        return vg_err(err, errlen, rc, "%s: cannot create the folder: %s", dir, strerror(-rc));
    r->f = fopen(r->path, "wb");
    if (!r->f)
        return vg_err(err, errlen, -errno, "%s: %s", r->path, strerror(errno));
    unsigned char h[HDR_SIZE] = {0};
    uint32_t m32 = (uint32_t)m;
    memcpy(h, MAGIC, 8);
    memcpy(h + 8, &m32, 4);
    memcpy(h + 16, &nr, 8);
    memcpy(h + 24, &nt, 8);
    r->writing = 1;
    if (fwrite(h, sizeof(h), 1, r->f) != 1) {
        rc = vg_err(err, errlen, -EIO, "%s: write failed", r->path);
        fclose(r->f);
        r->f = NULL;
        return rc;
    }
    return 0;
}

int ctl_resid_open(struct ctl_resid *r, const char *dir, const char *name, size_t m, uint64_t nr,
                   uint64_t nt, char *err, size_t errlen)
{
    int rc = start(r, dir, name, m, nr, nt, err, errlen);
    if (rc < 0)
        return rc;
    r->f = fopen(r->path, "rb");
    if (!r->f)
        return vg_err(err, errlen, -errno, "%s: %s (write it with --save-residuals)", r->path,
                      strerror(errno));
    unsigned char h[HDR_SIZE];
    uint32_t fm;
    uint64_t fnr, fnt;
    long len = -1;
    if (fread(h, sizeof(h), 1, r->f) != 1 || memcmp(h, MAGIC, 8) != 0) {
        rc = vg_err(err, errlen, -EINVAL, "%s: not a residuals file of this version", r->path);
        goto fail;
    }
    memcpy(&fm, h + 8, 4);
    memcpy(&fnr, h + 16, 8);
    memcpy(&fnt, h + 24, 8);
    if (fm != m || fnr != nr || fnt != nt) {
        rc = vg_err(err, errlen, -EINVAL,
                    "%s: written for %u metrics, %llu train and %llu test rows; this machine has "
                    "%zu, %llu and %llu",
                    r->path, fm, (unsigned long long)fnr, (unsigned long long)fnt, m,
                    (unsigned long long)nr, (unsigned long long)nt);
        goto fail;
    }
    if (fseek(r->f, 0, SEEK_END) == 0)
        len = ftell(r->f);
    uint64_t want = HDR_SIZE + (nr + nt) * 2 * m * sizeof(float);
    if (len < 0 || (uint64_t)len != want || fseek(r->f, HDR_SIZE, SEEK_SET) != 0) {
        rc = vg_err(err, errlen, -EINVAL, "%s: %ld bytes where its header announces %llu", r->path,
                    len, (unsigned long long)want);
        goto fail;
    }
    return 0;
fail:
    fclose(r->f);
    r->f = NULL;
    return rc;
}

int ctl_resid_write(struct ctl_resid *r, const float *res, const float *z, char *err, size_t errlen)
{
    if (r->done >= r->rows)
        return vg_err(err, errlen, -EINVAL, "%s: more rows than announced", r->path);
    if (fwrite(res, sizeof(float), r->m, r->f) != r->m ||
        fwrite(z, sizeof(float), r->m, r->f) != r->m)
        return vg_err(err, errlen, -EIO, "%s: write failed", r->path);
    r->done++;
    return 0;
}

int ctl_resid_read(struct ctl_resid *r, float *res, float *z, char *err, size_t errlen)
{
    if (r->done >= r->rows || fread(res, sizeof(float), r->m, r->f) != r->m ||
        fread(z, sizeof(float), r->m, r->f) != r->m)
        return vg_err(err, errlen, -EIO, "%s: short read at row %llu", r->path,
                      (unsigned long long)r->done);
    r->done++;
    return 0;
}

int ctl_resid_close(struct ctl_resid *r, char *err, size_t errlen)
{
    if (!r->f)
        return 0;
    int bad = fclose(r->f) != 0;
    r->f = NULL;
    if (r->writing && (bad || r->done != r->rows))
        return vg_err(err, errlen, -EIO, "%s: %llu of %llu rows written", r->path,
                      (unsigned long long)r->done, (unsigned long long)r->rows);
    return 0;
}
