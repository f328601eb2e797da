#include "vg_runas.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vg_util.h"

int vg_run_as_user(const struct passwd *pw, int (*check)(void *ud, char *err, size_t errlen),
                   void *ud, const char *what, char *err, size_t errlen)
{
    int fds[2];
    if (pipe(fds) != 0)
        return vg_err(err, errlen, -errno, "pipe: %s", strerror(errno));
    fflush(NULL); /* or the child's exit would write the parent's buffered output twice */
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return vg_err(err, errlen, -e, "fork: %s", strerror(e));
    }
    if (pid == 0) {
        close(fds[0]);
        char cerr[VG_ERRLEN] = "";
        int rc = -EPERM;
        if (initgroups(pw->pw_name, pw->pw_gid) != 0 ||
            setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
            setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0)
            snprintf(cerr, sizeof cerr, "user: cannot become '%s' to check %s: %s", pw->pw_name,
                     what, strerror(errno));
        else
            rc = check(ud, cerr, sizeof cerr);
        if (rc < 0 && write(fds[1], cerr, strlen(cerr)) < 0)
            rc = -EIO;
        /* The code travels as the exit status (errno values fit in it). */
        _exit(rc < 0 ? (-rc & 0xff ? -rc & 0xff : 1) : 0);
    }
    close(fds[1]);
    char cerr[VG_ERRLEN];
    ssize_t n = read(fds[0], cerr, sizeof cerr - 1);
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    cerr[n > 0 ? n : 0] = '\0';
    int rc = WIFEXITED(status) ? -WEXITSTATUS(status) : -EIO;
    return vg_err(err, errlen, rc, "%s", *cerr ? cerr : "the check as that user failed");
}
