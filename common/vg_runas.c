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

#include "vg_log.h"
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

/* Why the inode st describes, found at a path the hand-over covers, is left as it is; NULL when
 * it is what a run as root could have left there for the user: a directory, or a regular file
 * with no other name, on dev (the top path's file system). A hard link's other name can be
 * anywhere on the file system (/etc/shadow where fs.protected_hardlinks is 0): whoever may write
 * the directory, the service user among them, could otherwise have root give that file away. */
static const char *left_because(const struct stat *st, dev_t dev)
{
    if (st->st_dev != dev)
        return "on another file system";
    if (S_ISDIR(st->st_mode))
        return NULL;
    if (S_ISLNK(st->st_mode))
        return "a symbolic link";
    if (!S_ISREG(st->st_mode))
        return "neither a directory nor a regular file";
    if (st->st_nlink != 1)
        return "a regular file with other hard links (names elsewhere)";
    return NULL;
}

/* Gives the inode open at fd (O_PATH: pinned, so that what was checked is what is chowned) to
 * uid:gid when root owns it and left_because() allows it. Only root's: what another user owns
 * (the service user's own files, a group an operator chose) was not left by a root run. Returns
 * 1 when it was left with a warning, 0 otherwise, or a negative errno. */
static int give_inode(int fd, const struct stat *st, const char *path, const char *name, dev_t dev,
                      uid_t uid, gid_t gid, char *err, size_t errlen)
{
    if (st->st_uid != 0)
        return 0;
    const char *why = left_because(st, dev);
    char q[VG_ERRLEN];
    if (why) {
        char full[VG_ERRLEN];
        snprintf(full, sizeof full, "%s%s%s", path, name ? "/" : "", name ? name : "");
        vg_warn("hand-over to the service user: left root's", "path=%s reason=\"%s\"",
                vg_log_quote(q, sizeof q, full), why);
        return 1;
    }
    if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH) != 0)
        return vg_err(err, errlen, -errno, "cannot give %s%s%s to uid %u: %s", path,
                      name ? "/" : "", name ? name : "", (unsigned)uid, strerror(errno));
    return 0;
}

/* Gives the entries directly in the directory open at fd (O_PATH; path names it in errors).
 * Returns how many were left with a warning, or a negative errno. */
static int give_entries(int fd, const char *path, dev_t dev, uid_t uid, gid_t gid, char *err,
                        size_t errlen)
{
    int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        int e = errno;
        if (dfd >= 0)
            close(dfd);
        return vg_err(err, errlen, -e, "cannot list %s: %s", path, strerror(e));
    }
    int rc = 0, left = 0;
    for (struct dirent *de; !rc && (de = readdir(d));) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        int efd = openat(dirfd(d), de->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (efd < 0) {
            if (errno != ENOENT) /* gone since the listing: nothing to hand over */
                rc = vg_err(err, errlen, -errno, "cannot open %s/%s: %s", path, de->d_name,
                            strerror(errno));
            continue;
        }
        if (fstat(efd, &st) != 0)
            rc = vg_err(err, errlen, -errno, "cannot stat %s/%s: %s", path, de->d_name,
                        strerror(errno));
        else
            rc = give_inode(efd, &st, path, de->d_name, dev, uid, gid, err, errlen);
        close(efd);
        if (rc > 0) {
            left += rc;
            rc = 0;
        }
    }
    closedir(d);
    return rc < 0 ? rc : left;
}

int vg_runas_give(const char *path, uid_t uid, gid_t gid, unsigned flags, char *err, size_t errlen)
{
    if ((flags & VG_RUNAS_MKDIR) && mkdir(path, 0700) != 0 && errno != EEXIST) {
        if (errno == ENOENT)
            return 0; /* its parent is missing: the daemon says so itself when it opens it */
        return vg_err(err, errlen, -errno, "cannot create %s: %s", path, strerror(errno));
    }
    /* O_NOFOLLOW: a symbolic link is looked at, not followed; O_PATH opens a FIFO or a device
     * without the effects of opening it. */
    int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT && !(flags & VG_RUNAS_MKDIR))
            return 0;
        return vg_err(err, errlen, -errno, "cannot open %s: %s", path, strerror(errno));
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0)
        rc = vg_err(err, errlen, -errno, "cannot stat %s: %s", path, strerror(errno));
    else if ((flags & VG_RUNAS_MKDIR) && !S_ISDIR(st.st_mode))
        rc = vg_err(err, errlen, S_ISLNK(st.st_mode) ? -ELOOP : -ENOTDIR, "cannot open %s: %s",
                    path, strerror(S_ISLNK(st.st_mode) ? ELOOP : ENOTDIR));
    else
        rc = give_inode(fd, &st, path, NULL, st.st_dev, uid, gid, err, errlen);
    if (rc == 0 && S_ISDIR(st.st_mode))
        rc = give_entries(fd, path, st.st_dev, uid, gid, err, errlen);
    close(fd);
    return rc;
}

struct config_check {
    const char *path, *user, *group;
};

int vg_runas_config_error(const char *path, const char *user, const char *group, const char *as,
                          int e, char *err, size_t errlen)
{
    /* A directory on the way the user cannot search: the file's mode is not what to change. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    if (e == EACCES && access(slash ? dir : ".", X_OK) != 0)
        return vg_err(err, errlen, -e,
                      "%s: cannot open config as user '%s' (%s): %s: the directory %s is not "
                      "searchable by that user",
                      path, user, as, strerror(e), slash ? dir : ".");
    return vg_err(err, errlen, -e,
                  "%s: cannot open config as user '%s' (%s): %s; let its group read it: chown "
                  "root:%s %s; chmod 0640 %s",
                  path, user, as, strerror(e), group, path, path);
}

static int open_config_cb(void *ud, char *err, size_t errlen)
{
    const struct config_check *cc = ud;
    int fd = open(cc->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    return vg_runas_config_error(cc->path, cc->user, cc->group, "the unit's User=", errno, err,
                                 errlen);
}

const char *vg_runas_group_of_pw(const struct passwd *pw, char *buf, size_t n)
{
    struct group *gr = getgrgid(pw->pw_gid);
    if (gr)
        snprintf(buf, n, "%s", gr->gr_name);
    else
        snprintf(buf, n, "%u", (unsigned)pw->pw_gid);
    return buf;
}

const char *vg_runas_group_of(const char *user, char *buf, size_t n)
{
    struct passwd *pw = user && *user ? getpwnam(user) : NULL;
    if (!user || !*user)
        snprintf(buf, n, "root");
    else if (pw)
        vg_runas_group_of_pw(pw, buf, n);
    else
        snprintf(buf, n, "%s", user);
    return buf;
}

int vg_runas_check_config(const struct passwd *pw, const char *path, char *err, size_t errlen)
{
    char group[64];
    struct config_check cc = {path, pw->pw_name, vg_runas_group_of_pw(pw, group, sizeof group)};
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
