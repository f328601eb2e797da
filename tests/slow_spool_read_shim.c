/* Preloaded into one agent by test_cli: every pread() of a spool segment (a file named *.spool)
 * takes VG_SLOW_SPOOL_READ_MS (300 by default), as a slow or failing disk would, so that the start
 * is seen to tell systemd it is still reading the spool and the `tick late` line is seen to name
 * the spool, not a collector, as what held the loop. Every other pread() passes through at once. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

typedef ssize_t (*pread_fn)(int, void *, size_t, off_t);

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
    if (is_segment(fd)) {
        const char *ms = getenv("VG_SLOW_SPOOL_READ_MS");
        long v = ms ? strtol(ms, NULL, 10) : 300;
        struct timespec ts = {v / 1000, (v % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
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
