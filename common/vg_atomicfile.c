#include "vg_atomicfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vg_util.h"

/* How many times PATH.tmp is removed and created again when something re-creates it in between:
 * a racing writer of the same path (which then fails, see the header) or something planting it
 * on purpose; neither goes away by trying longer. */
#define CREATE_TRIES 3

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

/* Whether the name tmp still is the file we created (own: its fstat): another writer of the same
 * path may have removed it and put its own there, which we must neither rename nor remove. */
static int still_ours(const char *tmp, const struct stat *own)
{
    struct stat st;
    return lstat(tmp, &st) == 0 && st.st_dev == own->st_dev && st.st_ino == own->st_ino;
}

/* s, or its first and last bytes around "..." when longer than keep. */
static const char *shorten(char *buf, const char *s, size_t keep)
{
    size_t n = strlen(s);
    if (n <= keep || keep < 5)
        return s;
    size_t head = (keep - 3) / 2, tail = keep - 3 - head;
    memcpy(buf, s, head);
    memcpy(buf + head, "...", 3);
    memcpy(buf + head + 3, s + n - tail, tail + 1);
    return buf;
}

/* err = "PATH: <pre>BASE<post>", where post ends in the cause. PATH, then BASE, are cut in their
 * middle as far as needed (down to 40 bytes each) for the rest to fit in errlen whole: the step
 * and the cause are what a reader acts on, and a long path (a long group name's checkpoint)
 * would otherwise push them out of a VG_ERRLEN buffer. */
static int report(char *err, size_t errlen, int rc, const char *path, const char *pre,
                  const char *base, const char *post)
{
    if (!err || !errlen)
        return rc;
    size_t lp = strlen(path), lb = strlen(base), fixed = 2 + strlen(pre) + strlen(post);
    size_t room = errlen - 1 > fixed ? errlen - 1 - fixed : 0, kp = lp, kb = lb;
    if (lp + lb > room) {
        size_t min_p = lp < 40 ? lp : 40, min_b = lb < 40 ? lb : 40;
        kb = room >= min_p + lb ? lb : room >= min_p + min_b ? room - min_p : min_b;
        kp = room >= kb + min_p ? room - kb : min_p;
    }
    char bp[4096], bb[4096]; /* both are parts of PATH.tmp, which fits in 4096 */
    return vg_err(err, errlen, rc, "%s: %s%s%s", shorten(bp, path, kp), pre, shorten(bb, base, kb),
                  post);
}

static int report_errno(char *err, size_t errlen, int e, const char *path, const char *pre,
                        const char *base, const char *post)
{
    char cause[160];
    snprintf(cause, sizeof cause, "%s: %s", post, strerror(e));
    return report(err, errlen, -e, path, pre, base, cause);
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
    /* Whatever is at PATH.tmp is removed, and a new file created with O_EXCL: a temp file a crash
     * left goes, and so does anything else someone who can write to the directory put there,
     * without being used. Opening it instead would write through a symlink into its target,
     * block in open() on a FIFO, and keep a planted file's owner and mode, which PATH then
     * inherits. O_EXCL does not follow a symlink at the last component already; O_NOFOLLOW
     * says so. The new file gets mode less the umask, and nothing else. */
    int fd = -1, e = 0, unlink_e = 0;
    for (int i = 0; i < CREATE_TRIES && fd < 0; i++) {
        unlink_e = unlink(tmp) == 0 || errno == ENOENT ? 0 : errno;
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        e = errno;
        if (fd < 0 && (e != EEXIST || unlink_e))
            break; /* not something that was re-created meanwhile: trying again changes nothing */
    }
    if (fd < 0 && e == EEXIST && unlink_e) /* e.g. a directory (EISDIR) */
        return report_errno(err, errlen, unlink_e, path, "removing the leftover ", base, "");
    if (fd < 0 && e == EEXIST)
        return report(err, errlen, -EEXIST, path, "creating ", base,
                      ": it was re-created each time it was removed (another writer of this "
                      "path?)");
    if (fd < 0)
        return report_errno(err, errlen, e, path, "creating ", base, "");
    struct stat own;
    const char *step = "writing ";
    int rc = fstat(fd, &own) != 0 ? -errno : write_all(fd, data, len);
    if (!rc && fsync(fd) != 0) {
        step = "syncing ";
        rc = -errno;
    }
    /* A close error can be a write-back error that fsync did not see (NFS): the data may not be
     * there, so the rename must not happen. */
    if (close(fd) != 0 && !rc) {
        step = "closing ";
        rc = -errno;
    }
    if (rc) {
        if (still_ours(tmp, &own))
            unlink(tmp);
        return report_errno(err, errlen, -rc, path, step, base, "");
    }
    /* Renaming whatever is at the name now would put another writer's unfinished file in place. */
    if (!still_ours(tmp, &own))
        return report(err, errlen, -EBUSY, path, "", base,
                      " was removed or replaced while it was written (another writer of this "
                      "path?)");
    if (rename(tmp, path) != 0) {
        e = errno;
        if (still_ours(tmp, &own))
            unlink(tmp);
        return report_errno(err, errlen, e, path, "renaming ", base, " over it");
    }
    if ((rc = vg_fsync_dir_of(path)) < 0 && !(flags & VG_ATOMICFILE_DIRSYNC_BEST_EFFORT))
        return report_errno(err, errlen, -rc, path,
                            "replaced, but syncing its directory failed (a crash may bring the "
                            "old content back)",
                            "", "");
    return 0;
}
