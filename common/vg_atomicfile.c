#include "vg_atomicfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vg_util.h"

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO; /* 0: nothing written, nothing to retry on */
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int vg_atomicfile_write(const char *path, const void *data, size_t len, mode_t mode, unsigned flags,
                        char *err, size_t errlen)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return vg_err(err, errlen, -ENAMETOOLONG, "path too long (%zu bytes): %.100s...",
                      strlen(path), path);
    /* Named by its base name in messages: it lies beside path, and the whole path twice would
     * push the cause out of an error buffer. */
    const char *base = strrchr(tmp, '/') ? strrchr(tmp, '/') + 1 : tmp;
    /* O_TRUNC rather than unlink + O_EXCL: a temp file a crash left is written over in place,
     * and a test can stand a FIFO there to hold a write half-way. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        int e = errno;
        return vg_err(err, errlen, -e, "%s: creating %s: %s", path, base, strerror(e));
    }
    const char *step = "writing";
    int rc = write_all(fd, data, len);
    if (!rc && fsync(fd) != 0) {
        step = "syncing";
        rc = -errno;
    }
    /* A close error can be a write-back error that fsync did not see (NFS): the data may not be
     * there, so the rename must not happen. */
    if (close(fd) != 0 && !rc) {
        step = "closing";
        rc = -errno;
    }
    if (rc) {
        unlink(tmp);
        return vg_err(err, errlen, rc, "%s: %s %s: %s", path, step, base, strerror(-rc));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return vg_err(err, errlen, -e, "%s: renaming %s over it: %s", path, base, strerror(e));
    }
    if ((rc = vg_fsync_dir_of(path)) < 0 && !(flags & VG_ATOMICFILE_DIRSYNC_BEST_EFFORT))
        return vg_err(err, errlen, rc,
                      "%s: replaced, but syncing its directory failed (a crash may bring the old "
                      "content back): %s",
                      path, strerror(-rc));
    return 0;
}
