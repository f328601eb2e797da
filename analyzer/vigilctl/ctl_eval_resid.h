/* vigilctl eval smd --save-residuals / --from-residuals: vg_mv's per-metric residuals and
 * normalised values, one file per machine, for the rows the host score sees (the last training
 * pass, then the test half). Replaying them runs only vg_hscore, so a host-score setting
 * (--param topk, hsmooth, hstate, ...) is measured in a fraction of a second instead of
 * retraining the model for a minute; the model's own settings are those of the run that saved
 * them.
 *
 * File: an 8-byte magic "VGRESID1", m (uint32), 4 zero bytes, the train and test row counts
 * (uint64 each), then per row m residuals and m normalised values (float32), all in this
 * machine's byte order: a cache for the machine that wrote it, not an exchange format. */
#ifndef VG_CTL_EVAL_RESID_H
#define VG_CTL_EVAL_RESID_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct ctl_resid {
    FILE *f;
    size_t m;
    uint64_t rows, done; /* rows the file holds; rows written or read so far */
    int writing;
    char path[4096];
};

/* Creates DIR/NAME.resid (DIR and its parents made as needed) for a machine of m metrics whose
 * replay will read nr train rows and nt test rows. 0, or a negative errno with the message in
 * err. Close with ctl_resid_close(). */
int ctl_resid_create(struct ctl_resid *r, const char *dir, const char *name, size_t m, uint64_t nr,
                     uint64_t nt, char *err, size_t errlen);

/* Opens DIR/NAME.resid for reading, refusing (-EINVAL, with the reason in err) a file that is
 * not one, or that was written for another number of metrics or rows, or whose length does not
 * match its header. Close with ctl_resid_close(). */
int ctl_resid_open(struct ctl_resid *r, const char *dir, const char *name, size_t m, uint64_t nr,
                   uint64_t nt, char *err, size_t errlen);

/* One row: m residuals and m normalised values. 0 or a negative errno with the message. */
int ctl_resid_write(struct ctl_resid *r, const float *res, const float *z, char *err,
                    size_t errlen);
int ctl_resid_read(struct ctl_resid *r, float *res, float *z, char *err, size_t errlen);

/* Closes the file; a written one must hold every row its header announced (else -EIO). Safe on a
 * zeroed or already closed struct. 0 or a negative errno with the message. */
int ctl_resid_close(struct ctl_resid *r, char *err, size_t errlen);

#endif
