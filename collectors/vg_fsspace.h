/* fsspace: space and inodes of local file systems. The mountinfo parser and the choice of the
 * mounts to report are here, apart from the collector (proc_fsspace.c), so that tests and the
 * fuzzer (tests/fuzz/fuzz_proc.c) can feed them any buffer.
 */
#ifndef VG_FSSPACE_H
#define VG_FSSPACE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/vfs.h>

#include "proc_parse.h" /* VG_DEV_NAME_MAX */

/* Longest mount point accepted once unescaped (the kernel's PATH_MAX); a longer line is an
 * error. */
#define VG_MOUNT_PATH_MAX 4096
/* Longest file system type accepted ("fuse." and a subtype included). */
#define VG_FSTYPE_MAX 64

/* One line of /proc/<pid>/mountinfo: "id parent major:minor root mount-point options
 * [optional fields...] - fstype source super-options". */
struct vg_mountinfo_line {
    uint32_t major, minor;
    const char *mnt;    /* unescaped (\040 is a space...), NUL-terminated, starts with '/' */
    size_t mnt_len;     /* 1..VG_MOUNT_PATH_MAX-1; no NUL inside */
    const char *fstype; /* NUL-terminated, 1..VG_FSTYPE_MAX-1 bytes of [!-~] */
};

/* Returns non-zero to stop the parse with that value. */
typedef int (*vg_mountinfo_fn)(void *ctx, const struct vg_mountinfo_line *m);

/* Hands every well-formed line of mountinfo text buf[0..len) to fn, in file order. Returns 0,
 * fn's non-zero value, or -EINVAL with err naming src and the first malformed line (the others
 * are still handed over). Never allocates. */
int vg_parse_mountinfo(const char *buf, size_t len, const char *src, vg_mountinfo_fn fn, void *ctx,
                       char *err, size_t errlen);

/* What the collector does with a file system type at a mount point. */
enum vg_fs_kind {
    VG_FS_SKIP,    /* pseudo or read-only image file system, or a tmpfs of no system-wide use */
    VG_FS_LOCAL,   /* reported: statfs() on it reads the superblock in memory */
    VG_FS_REMOTE,  /* network, cluster or FUSE: never statfs'ed, as that can block on a server
                    * (or daemon) that does not answer, stalling the tick; nor is anything below
                    * its mount point */
    VG_FS_TRIGGER, /* autofs: never statfs'ed, as that mounts what it stands for (perhaps NFS);
                    * what is mounted on or below it once triggered is listed on its own and
                    * chosen by its own type (a systemd automount's /boot is vfat on /boot) */
};

enum vg_fs_kind vg_fsspace_kind(const char *fstype, const char *mnt);

/* The metric-name component for mount point mnt (NUL-terminated): "/" is "root"; otherwise the
 * path without its leading '/', with '/' and every other byte outside [A-Za-z0-9_.:-] written
 * '_' ("/var/log" is "var_log", "/mnt/my disk" "mnt_my_disk"); a result longer than
 * VG_DEV_NAME_MAX bytes is cut to '_' and its last VG_DEV_NAME_MAX-1 bytes, which tell mounts
 * apart better than the first ones (/var/lib/kubelet/pods/...). dst holds VG_DEV_NAME_MAX + 1
 * bytes. */
void vg_fsspace_key(char *dst, const char *mnt);

/* The mounts chosen from one read of mountinfo, in file order. */
struct vg_fsspace_mount {
    char *path; /* owned */
    char key[VG_DEV_NAME_MAX + 1];
    uint32_t major, minor;
    int failed; /* statfs failed (said once): not tried again while it stays mounted */
};

struct vg_fsspace_set {
    struct vg_fsspace_mount *m; /* owned */
    size_t n;
    size_t remote;       /* network/FUSE mounts seen (never statfs'ed) */
    size_t under_remote; /* local mounts left out as their path crosses a remote mount */
    size_t excess;       /* local mounts past max */
    size_t dups;         /* left out: their key was an earlier mount's */
    char dup_path[128], dup_key[VG_DEV_NAME_MAX + 1]; /* the first of them */
};

/* Chooses the mounts to report from mountinfo text buf[0..len): local file systems
 * (vg_fsspace_kind), a mount hidden by a later one on the same path or a parent path left out, one
 * mount point per device (major:minor: the first listed, so bind mounts and btrfs subvolumes of one
 * device count once), one per key, at most max. Fills *out (zeroed or freed before; release with
 * vg_fsspace_set_free). Returns 0, -ENOMEM, or -EINVAL for malformed lines as
 * vg_parse_mountinfo (then *out holds the mounts of the other lines). */
int vg_fsspace_select(const char *buf, size_t len, const char *src, size_t max,
                      struct vg_fsspace_set *out, char *err, size_t errlen);

void vg_fsspace_set_free(struct vg_fsspace_set *s);

/* statfs() as the collector calls it; tests replace it to see which paths are asked. */
extern int (*vg_fsspace_statfs)(const char *path, struct statfs *sb);

#endif
