#include "vg_runas.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vg_util.h"

int vg_runas_become(const struct passwd *pw, char *err, size_t errlen)
{
    if (initgroups(pw->pw_name, pw->pw_gid) != 0)
        return vg_err(err, errlen, -errno, "initgroups(%s): %s", pw->pw_name, strerror(errno));
    if (setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0)
        return vg_err(err, errlen, -errno, "setresgid(%u): %s", (unsigned)pw->pw_gid,
                      strerror(errno));
    if (setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0)
        return vg_err(err, errlen, -errno, "setresuid(%u): %s", (unsigned)pw->pw_uid,
                      strerror(errno));
    return 0;
}

/* Gives the directory open at fd (path names it in errors) and the entries directly in it. */
static int give_dir(int fd, const char *path, uid_t uid, gid_t gid, char *err, size_t errlen)
{
    if (fchown(fd, uid, gid) != 0) {
        int e = errno;
        close(fd);
        return vg_err(err, errlen, -e, "cannot give %s to uid %u: %s", path, (unsigned)uid,
                      strerror(e));
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return vg_err(err, errlen, -e, "cannot list %s: %s", path, strerror(e));
    }
    int rc = 0;
    for (struct dirent *de; !rc && (de = readdir(d));) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        if (fchownat(dirfd(d), de->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
            rc = vg_err(err, errlen, -errno, "cannot give %s/%s to uid %u: %s", path, de->d_name,
                        (unsigned)uid, strerror(errno));
    }
    closedir(d);
    return rc;
}

int vg_runas_give(const char *path, uid_t uid, gid_t gid, unsigned flags, char *err, size_t errlen)
{
    if (flags & VG_RUNAS_MKDIR) {
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            if (errno == ENOENT)
                return 0; /* its parent is missing: the daemon says so itself when it opens it */
            return vg_err(err, errlen, -errno, "cannot create %s: %s", path, strerror(errno));
        }
    } else {
        struct stat st;
        if (lstat(path, &st) != 0 || !(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)))
            return 0;
        if (S_ISREG(st.st_mode)) {
            if (fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
                return vg_err(err, errlen, -errno, "cannot give %s to uid %u: %s", path,
                              (unsigned)uid, strerror(errno));
            return 0;
        }
    }
    /* O_NOFOLLOW: a directory swapped for a link since the lstat is refused, not followed. */
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return vg_err(err, errlen, -errno, "cannot open %s: %s", path, strerror(errno));
    return give_dir(fd, path, uid, gid, err, errlen);
}

struct config_check {
    const char *path, *user, *group;
};

static int open_config_cb(void *ud, char *err, size_t errlen)
{
    const struct config_check *cc = ud;
    int fd = open(cc->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    int e = errno;
    /* A directory on the way the user cannot search: the file's mode is not what to change. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", cc->path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    if (e == EACCES && access(slash ? dir : ".", X_OK) != 0)
        return vg_err(err, errlen, -e,
                      "%s: cannot open config as user '%s' (the unit's User=): %s: the directory "
                      "%s is not searchable by that user",
                      cc->path, cc->user, strerror(e), slash ? dir : ".");
    return vg_err(err, errlen, -e,
                  "%s: cannot open config as user '%s' (the unit's User=): %s; let its group "
                  "read it: chown root:%s %s; chmod 0640 %s",
                  cc->path, cc->user, strerror(e), cc->group, cc->path, cc->path);
}

int vg_runas_check_config(const struct passwd *pw, const char *path, char *err, size_t errlen)
{
    char group[64];
    struct group *gr = getgrgid(pw->pw_gid);
    if (gr)
        snprintf(group, sizeof group, "%s", gr->gr_name);
    else
        snprintf(group, sizeof group, "%u", (unsigned)pw->pw_gid);
    struct config_check cc = {path, pw->pw_name, group};
    return vg_run_as_user(pw, open_config_cb, &cc, "the config file", err, errlen);
}

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
        char cerr[VG_ERRLEN] = "", why[128];
        int rc = -EPERM;
        if (vg_runas_become(pw, why, sizeof why) < 0)
            snprintf(cerr, sizeof cerr, "user: cannot become '%s' to check %s: %s", pw->pw_name,
                     what, why);
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
