#ifndef VG_RUNAS_H
#define VG_RUNAS_H

#include <pwd.h>
#include <stddef.h>

/* Runs check(ud, err, errlen) in a child process that has become pw's user for good (its
 * groups, gid and uid), and returns what the check returned: 0, or a negative errno-style code
 * with the child's message in err. For checks that must judge access as the service user will
 * (--check-config run as root, where root could read or write anything). The caller must be
 * root; `what` completes "cannot become 'USER' to check ..." when the child cannot switch. */
int vg_run_as_user(const struct passwd *pw, int (*check)(void *ud, char *err, size_t errlen),
                   void *ud, const char *what, char *err, size_t errlen);

#endif
