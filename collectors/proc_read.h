/* Reading a /proc or /sys file whole into a buffer that is reused tick after tick, so that a
 * steady-state read costs one open, a few reads and one close, and no allocation.
 */
#ifndef VG_PROC_READ_H
#define VG_PROC_READ_H

#include <stddef.h>

/* Files larger than this are refused: no /proc file we read comes near it, and a runaway one must
 * not make the agent grow without bound. */
#define VG_PROC_READ_MAX (4u * 1024 * 1024)

struct vg_procbuf {
    char *data; /* owned; data[len] is always '\0' after a successful read */
    size_t len;
    size_t cap;
};

/* Replaces b's content with the whole file at path (may hold any bytes, NULs included). b must be
 * zeroed before first use. Returns 0, or -errno from open/read (err names the path), -EFBIG past
 * VG_PROC_READ_MAX, -ENOMEM. */
int vg_procbuf_read(struct vg_procbuf *b, const char *path, char *err, size_t errlen);

/* Writes root + "/" + rel into dst (dstsize bytes); root NULL means def ("/proc", "/sys").
 * Returns 0 or -ENAMETOOLONG with err set. */
int vg_proc_path(char *dst, size_t dstsize, const char *root, const char *def, const char *rel,
                 char *err, size_t errlen);

/* Frees what b owns and zeroes it. */
void vg_procbuf_free(struct vg_procbuf *b);

#endif
