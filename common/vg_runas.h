#ifndef VG_RUNAS_H
#define VG_RUNAS_H

#include <pwd.h>
#include <stddef.h>
#include <sys/types.h>

/* Runs check(ud, err, errlen) in a child process that has become pw's user for good (its
 * groups, gid and uid), and returns what the check returned: 0, or a negative errno-style code
 * with the child's message in err. For checks that must judge access as the service user will
 * (--check-config run as root, where root could read or write anything). The caller must be
 * root; `what` completes "cannot become 'USER' to check ..." when the child cannot switch. */
int vg_run_as_user(const struct passwd *pw, int (*check)(void *ud, char *err, size_t errlen),
                   void *ud, const char *what, char *err, size_t errlen);

/* For --check-config run as root: whether pw's user can open the config file at path, as the
 * unit (User=) reads it at its start (and the agent at every SIGHUP), where root reads any file.
 * 0, or a negative errno with err saying so and how to let the user read it: the user's group
 * and mode 0640, as the packages set the secret files (a config locked to root:root 0600 passed
 * the check, and the unit then exited 78). */
int vg_runas_check_config(const struct passwd *pw, const char *path, char *err, size_t errlen);

/* The name of user's group (its passwd entry's gid) into buf, for the advice "chown root:GROUP
 * FILE; chmod 0640 FILE": "root" for "" (the daemon stays root), the gid in digits when it has no
 * name, and user itself when the user is not on this host (the packages name the group after
 * the user: vigil). Returns buf. */
const char *vg_runas_group_of(const char *user, char *buf, size_t n);

/* The name of pw's group into buf (the gid in digits when it has no name). Returns buf. */
const char *vg_runas_group_of_pw(const struct passwd *pw, char *buf, size_t n);

/* The error for the config file at path that this process, running as user (its group: group),
 * could not open with errno e: a directory on the way it cannot search, or else how to let its
 * group read the file (chown root:GROUP; chmod 0640). as says who chose that user ("the unit's
 * User=", "the agent's `user`"). The text of vg_runas_check_config's refusal, for a reload that
 * reads the config after a start as root became the user. Returns -e. */
int vg_runas_config_error(const char *path, const char *user, const char *group, const char *as,
                          int e, char *err, size_t errlen);

/* Becomes pw's user for good: its supplementary groups, its gid and its uid (real, effective and
 * saved). The caller must be root; capabilities go with the uid unless it kept them
 * (PR_SET_KEEPCAPS). Returns 0, or a negative errno with err naming the step that failed. */
int vg_runas_become(const struct passwd *pw, char *err, size_t errlen);

/* vg_runas_give: path is a directory, created (0700) when missing; nothing is done when its
 * parent is missing too, and anything but a directory found there is an error. */
#define VG_RUNAS_MKDIR 0x1u

/* Gives path to uid:gid, so that what a run as root made stays usable by the service user that
 * runs later: a directory with the entries directly in it (the spool, the outbox, model.dir and
 * the BTF cache hold no subdirectories the daemons make), or a regular file alone. Only what a
 * root run could have left is given: root's directories, and root's regular files with no other
 * hard link, on the top path's file system. Each is opened (O_PATH, O_NOFOLLOW) and checked and
 * chowned through that descriptor, so that a name swapped meanwhile changes nothing. What another
 * user owns is left silently (the user's own files, a group an operator chose); what root owns
 * but is not given (a symbolic link, a FIFO, a hard link, a mount point: a hard link's other name
 * may be any file, and the service user may write these directories) is left with a warning that
 * names it. Without VG_RUNAS_MKDIR, a missing path is left as it is. Returns how many were left
 * with a warning (0 or more), or a negative errno with err saying what could not be given (a
 * chown, a listing). */
int vg_runas_give(const char *path, uid_t uid, gid_t gid, unsigned flags, char *err, size_t errlen);

#endif
