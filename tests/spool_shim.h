/* What the spool shims (slow_spool_read_shim.c, spool_eio_shim.c) share: each is preloaded into
 * an agent and replaces pread() and pread64(); every read first goes to the shim's own
 * spool_shim_fault(fd), which returns 0 to let it through to the real call, or -1 with errno set
 * to fail it. Included once, by the shim's source, before its spool_shim_fault. */
#ifndef VG_SPOOL_SHIM_H
#define VG_SPOOL_SHIM_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

typedef ssize_t (*pread_fn)(int, void *, size_t, off_t);

static int spool_shim_fault(int fd);

/* Whether fd is a spool segment: a file whose name ends in .spool. */
static int is_segment(int fd)
{
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 6)
        return 0;
    path[n] = '\0';
    return strcmp(path + n - 6, ".spool") == 0;
}

static ssize_t call(const char *name, int fd, void *buf, size_t count, off_t off)
{
    if (spool_shim_fault(fd) != 0)
        return -1;
    pread_fn real = (pread_fn)dlsym(RTLD_NEXT, name);
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    return real(fd, buf, count, off);
}

ssize_t pread(int fd, void *buf, size_t count, off_t off)
{
    return call("pread", fd, buf, count, off);
}

ssize_t pread64(int fd, void *buf, size_t count, off_t off)
{
    return call("pread64", fd, buf, count, off);
}

#endif
