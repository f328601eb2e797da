/* Preloaded into one agent by test_cli: every pread() of a spool segment (a file named *.spool)
 * takes VG_SLOW_SPOOL_READ_MS (300 by default), as a slow or failing disk would, so that the start
 * is seen to tell systemd it is still reading the spool and the `tick late` line is seen to name
 * the spool, not a collector, as what held the loop. Every other pread() passes through at once. */
#include "spool_shim.h"

#include <time.h>

static int spool_shim_fault(int fd)
{
    if (is_segment(fd)) {
        const char *ms = getenv("VG_SLOW_SPOOL_READ_MS");
        long v = ms ? strtol(ms, NULL, 10) : 300;
        struct timespec ts = {v / 1000, (v % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    return 0;
}
