/* LD_PRELOAD shim for test_local_alerts: a read error (EIO) on every pread() of a spool segment
 * (a file named *.spool) while the file named by VG_SPOOL_EIO_TRIGGER exists, as a bad sector or a
 * disk resetting gives. Created and removed by the test, so the agent's start scan reads its
 * segments normally and a read error while sending ends when the test says. Every other pread()
 * passes through untouched. */
#include "spool_shim.h"

static int spool_shim_fault(int fd)
{
    const char *trigger = getenv("VG_SPOOL_EIO_TRIGGER");
    if (!trigger || access(trigger, F_OK) != 0 || !is_segment(fd))
        return 0;
    errno = EIO;
    return -1;
}
