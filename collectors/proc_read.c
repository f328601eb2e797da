#include "proc_read.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vg_util.h"

#define INITIAL_CAP 4096

static int fail(int fd, const char *path, int e, char *err, size_t errlen)
{
    char eb[128];
    const char *msg = strerror_r(e, eb, sizeof eb);
    if (fd >= 0)
        close(fd);
    return vg_err(err, errlen, -e, "cannot read %s: %s", path, msg);
}

static int grow(struct vg_procbuf *b)
{
    size_t cap = b->cap ? b->cap * 2 : INITIAL_CAP;
    if (cap > VG_PROC_READ_MAX + 1)
        cap = VG_PROC_READ_MAX + 1;
    char *p = realloc(b->data, cap);
    if (!p)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int vg_procbuf_read(struct vg_procbuf *b, const char *path, char *err, size_t errlen)
{
    b->len = 0;
    if (!b->data && grow(b) < 0)
        return vg_err(err, errlen, -ENOMEM, "cannot read %s: out of memory", path);

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(-1, path, errno, err, errlen);
    for (;;) {
        if (b->cap - b->len < 2) {
            if (b->cap > VG_PROC_READ_MAX) {
                close(fd);
                b->len = 0;
                b->data[0] = '\0';
                return vg_err(err, errlen, -EFBIG, "%s is larger than %u bytes", path,
                              VG_PROC_READ_MAX);
            }
            if (grow(b) < 0) {
                close(fd);
                b->len = 0;
                b->data[0] = '\0';
                return vg_err(err, errlen, -ENOMEM, "cannot read %s: out of memory", path);
            }
        }
        /* procfs hands out seq_file output a page or so per read, so loop until EOF. */
        ssize_t n = read(fd, b->data + b->len, b->cap - b->len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            b->len = 0;
            b->data[0] = '\0';
            return fail(fd, path, e, err, errlen);
        }
        if (n == 0)
            break;
        b->len += (size_t)n;
    }
    close(fd);
    b->data[b->len] = '\0';
    return 0;
}

void vg_procbuf_free(struct vg_procbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int vg_proc_path(char *dst, size_t dstsize, const char *root, const char *def, const char *rel,
                 char *err, size_t errlen)
{
    if (!root)
        root = def;
    int n = snprintf(dst, dstsize, "%s/%s", root, rel);
    if (n < 0 || (size_t)n >= dstsize)
        return vg_err(err, errlen, -ENAMETOOLONG, "path %s/%s is too long", root, rel);
    return 0;
}
