/* LD_PRELOAD shim for test_local_alerts: a read error (EIO) on every pread() of a spool segment
 * (a file named *.spool) while the file named by VG_SPOOL_EIO_TRIGGER exists, as a bad sector or a
 * disk resetting gives. Created and removed by the test, so the agent's start scan reads its
 * segments normally and a read error while sending ends when the test says. Every other pread()
 * passes through untouched. */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

typedef ssize_t (*pread_fn)(int, void *, size_t, off_t);

static int failing(int fd)
{
    const char *trigger = getenv("VG_SPOOL_EIO_TRIGGER");
    if (!trigger || access(trigger, F_OK) != 0)
        return 0;
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
    if (failing(fd)) {
        errno = EIO;
        return -1;
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
