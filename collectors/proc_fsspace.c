/* fsspace: space and inodes of each local file system, from statfs() on the mount points that
 * /proc/self/mountinfo lists. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "proc_read.h"
#include "proc_scan.h"
#include "vg_collector.h"
#include "vg_devtab.h"
#include "vg_fsspace.h"
#include "vg_util.h"

static const struct vg_metric_desc fsspace_metrics[] = {
    {"fsspace.<mount>.avail_bytes", "bytes", VG_METRIC_GAUGE,
     "Space a user other than root can still write (statfs f_bavail times f_frsize); what is left "
     "before writes fail with ENOSPC."},
    {"fsspace.<mount>.used_pct", "%", VG_METRIC_GAUGE,
     "Space used, as a share of what users can use: used / (used + avail_bytes), the Use% of "
     "df, so 100 when avail_bytes is 0 even though root's reserve may be left. Not sent for a "
     "file system reporting no space at all."},
    {"fsspace.<mount>.inodes_free", "inodes", VG_METRIC_GAUGE,
     "Free inodes (f_ffree): files that can still be created. Not sent for file systems without "
     "an inode count (btrfs, and others reporting 0 inodes)."},
    {"fsspace.<mount>.inodes_used_pct", "%", VG_METRIC_GAUGE,
     "Inodes used as a share of all inodes; at 100 no file can be created, whatever the free "
     "space. Not sent where inodes_free is not."},
};
#define MOUNT_PLACEHOLDER_LEN (sizeof "<mount>" - 1)

#define FSSPACE_DEFAULT_MAX 64
/* mountinfo is read again when poll() says the mount table changed (POLLPRI | POLLERR, the
 * kernel's signal on this file), and every this many ticks in case the file gives no such signal
 * (a fixture, a procfs that does not). */
#define REREAD_TICKS 60

int (*vg_fsspace_statfs)(const char *path, struct statfs *sb) = statfs;

/* ---- mountinfo ---- */

/* mountinfo escapes space, tab, newline and backslash as \ooo; other bytes are written as is.
 * Returns the length written to dst (dstsize bytes, NUL-terminated), or -1 when it does not fit
 * or holds a NUL. */
static long unescape(char *dst, size_t dstsize, const char *p, const char *end)
{
    size_t w = 0;
    while (p < end) {
        char c = *p;
        if (c == '\\' && end - p >= 4 && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
            p[3] >= '0' && p[3] <= '7') {
            c = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
            p += 4;
        } else {
            p++;
        }
        if (c == '\0' || w + 1 >= dstsize)
            return -1;
        dst[w++] = c;
    }
    dst[w] = '\0';
    return (long)w;
}

/* The next field of a line whose fields are separated by one space each. */
static int field(struct vg_span *line, struct vg_span *f)
{
    if (line->p >= line->end)
        return 0;
    const char *sp = memchr(line->p, ' ', (size_t)(line->end - line->p));
    f->p = line->p;
    f->end = sp ? sp : line->end;
    line->p = sp ? sp + 1 : line->end;
    return 1;
}

static int parse_u32(const char *p, const char *end, uint32_t *v)
{
    uint64_t x = 0;
    if (p == end)
        return -1;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        x = x * 10 + (uint64_t)(*p - '0');
        if (x > UINT32_MAX)
            return -1;
    }
    *v = (uint32_t)x;
    return 0;
}

/* What is wrong with a line, worded to follow "line". */
enum { LINE_OK, TOO_FEW, BAD_DEVNUM, BAD_MNT, NO_SEPARATOR, BAD_FSTYPE };
static const char *const line_problem[] = {
    [TOO_FEW] = "has fewer than 6 fields before the separator",
    [BAD_DEVNUM] = "has no major:minor device numbers as its third field",
    [BAD_MNT] = "has a mount point that is not an absolute path of at most 4095 bytes",
    [NO_SEPARATOR] = "has no ' - ' separator before the file system type",
    [BAD_FSTYPE] = "has no file system type, or one of odd bytes or over 63 bytes",
};

static int parse_line(struct vg_span line, struct vg_mountinfo_line *m, char *mnt, char *fstype)
{
    struct vg_span f[6];
    for (int i = 0; i < 6; i++)
        if (!field(&line, &f[i]))
            return TOO_FEW;
    const char *colon = memchr(f[2].p, ':', (size_t)(f[2].end - f[2].p));
    if (!colon || parse_u32(f[2].p, colon, &m->major) < 0 ||
        parse_u32(colon + 1, f[2].end, &m->minor) < 0)
        return BAD_DEVNUM;
    long n = unescape(mnt, VG_MOUNT_PATH_MAX, f[4].p, f[4].end);
    if (n < 1 || mnt[0] != '/')
        return BAD_MNT;
    m->mnt = mnt;
    m->mnt_len = (size_t)n;
    /* Optional fields (shared:N, master:N...) up to the lone "-". */
    struct vg_span o;
    do {
        if (!field(&line, &o))
            return NO_SEPARATOR;
    } while (!(o.end - o.p == 1 && o.p[0] == '-'));
    if (!field(&line, &o))
        return BAD_FSTYPE;
    n = unescape(fstype, VG_FSTYPE_MAX, o.p, o.end);
    if (n < 1)
        return BAD_FSTYPE;
    for (long i = 0; i < n; i++)
        if (fstype[i] < '!' || fstype[i] > '~')
            return BAD_FSTYPE;
    m->fstype = fstype;
    return LINE_OK;
}

int vg_parse_mountinfo(const char *buf, size_t len, const char *src, vg_mountinfo_fn fn, void *ctx,
                       char *err, size_t errlen)
{
    /* Static would not be reentrant; on the stack 4 KiB is fine for the agent's threads. */
    char mnt[VG_MOUNT_PATH_MAX], fstype[VG_FSTYPE_MAX];
    struct vg_scan s;
    struct vg_span line;
    int first_rc = 0;

    vg_scan_init(&s, buf, len);
    while (vg_scan_line(&s, &line)) {
        if (line.p == line.end)
            continue;
        struct vg_mountinfo_line m;
        int bad = parse_line(line, &m, mnt, fstype);
        if (bad != LINE_OK) {
            if (first_rc == 0)
                first_rc =
                    vg_err(err, errlen, -EINVAL, "%s:%u: line %s", src, s.line, line_problem[bad]);
            continue;
        }
        int rc = fn(ctx, &m);
        if (rc)
            return rc;
    }
    return first_rc;
}

/* ---- which mounts ---- */

static int in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return 1;
    return 0;
}

enum vg_fs_kind vg_fsspace_kind(const char *fstype, const char *mnt)
{
    /* statfs() on these asks a server or a user-space daemon, and waits for the answer: on an
     * unreachable NFS server (hard mounts, the default) for ever. Cluster file systems wait on
     * their lock managers. */
    static const char *const remote[] = {
        "nfs",   "nfs4",  "cifs",     "smb3",   "smbfs",  "ceph",     "glusterfs", "9p",    "afs",
        "ocfs2", "gfs2",  "lustre",   "beegfs", "gpfs",   "orangefs", "pvfs2",     "ncpfs", "coda",
        "davfs", "sshfs", "virtiofs", "vboxsf", "vmhgfs", "fuse",     "fuseblk",   NULL,
    };
    /* Disk file systems whose statfs() answers from memory. Anything else is left out: pseudo
     * file systems (proc, sysfs, cgroup, devpts, debugfs...), devtmpfs and ramfs (no size to
     * fill), overlay (a container's root: its space is that of the file system under it,
     * reported there, and one per container would churn), and read-only images (squashfs snaps,
     * iso9660, erofs) that are always 100 % full. */
    static const char *const local[] = {
        "ext2",     "ext3",   "ext4", "xfs",   "btrfs", "zfs",  "f2fs",  "bcachefs", "jfs",
        "reiserfs", "nilfs2", "vfat", "msdos", "exfat", "ntfs", "ntfs3", "hfsplus",  NULL,
    };
    /* tmpfs fills memory and swap, and a full /run or /dev/shm breaks a host; but every login
     * (/run/user/N), container and pod secret gets one of its own, too many to report and coming
     * and going. So only the system-wide ones. */
    static const char *const tmpfs_at[] = {
        "/", "/tmp", "/var/tmp", "/run", "/run/lock", "/run/shm", "/dev/shm", NULL,
    };
    /* statfs() on an autofs mount point mounts what it stands for, often NFS. It is not a remote
     * file system itself: x-systemd.automount and systemd's /boot and /efi put one on a path and,
     * once used, the local file system on the same path, which is reported (a full /boot fails
     * kernel updates). What it mounts over the network is left out by its own type. */
    if (strcmp(fstype, "autofs") == 0)
        return VG_FS_TRIGGER;
    if (in_list(fstype, remote) || strncmp(fstype, "fuse.", 5) == 0)
        return VG_FS_REMOTE;
    if (strcmp(fstype, "tmpfs") == 0)
        return in_list(mnt, tmpfs_at) ? VG_FS_LOCAL : VG_FS_SKIP;
    return in_list(fstype, local) ? VG_FS_LOCAL : VG_FS_SKIP;
}

void vg_fsspace_key(char *dst, const char *mnt)
{
    if (strcmp(mnt, "/") == 0) {
        memcpy(dst, "root", sizeof "root");
        return;
    }
    const char *p = mnt[0] == '/' ? mnt + 1 : mnt;
    size_t len = strlen(p);
    if (len <= VG_DEV_NAME_MAX) {
        vg_metric_sanitise(dst, VG_DEV_NAME_MAX + 1, p, len);
        return;
    }
    dst[0] = '_';
    vg_metric_sanitise(dst + 1, VG_DEV_NAME_MAX, p + len - (VG_DEV_NAME_MAX - 1),
                       VG_DEV_NAME_MAX - 1);
}

/* Local mounts as read, and the paths of the remote ones. */
struct cand {
    struct vg_fsspace_mount m;
    int hidden;
};
struct select_pass {
    struct cand *c;
    size_t n, cap;
    char **remote;
    size_t n_remote, cap_remote;
};

static int grow(void **p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 16;
    void *q = realloc(*p, c * size);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

/* 1 when path is at or below mount point dir. */
static int is_under(const char *path, const char *dir)
{
    if (strcmp(dir, "/") == 0)
        return 1;
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static int on_mount(void *ctx, const struct vg_mountinfo_line *m)
{
    struct select_pass *s = ctx;
    /* A mount on a path hides what was mounted there before, and below it (a mount on /mnt
     * covers an earlier /mnt/x): statfs() would read the new one, or fail on a path it lacks. */
    for (size_t i = 0; i < s->n; i++)
        if (!s->c[i].hidden && is_under(s->c[i].m.path, m->mnt))
            s->c[i].hidden = 1;
    enum vg_fs_kind k = vg_fsspace_kind(m->fstype, m->mnt);
    if (k == VG_FS_SKIP || k == VG_FS_TRIGGER)
        return 0;
    char *path = strdup(m->mnt);
    if (!path)
        return -ENOMEM;
    if (k == VG_FS_REMOTE) {
        if (grow((void **)&s->remote, &s->cap_remote, s->n_remote, sizeof *s->remote) < 0) {
            free(path);
            return -ENOMEM;
        }
        s->remote[s->n_remote++] = path;
        return 0;
    }
    if (grow((void **)&s->c, &s->cap, s->n, sizeof *s->c) < 0) {
        free(path);
        return -ENOMEM;
    }
    struct cand *c = &s->c[s->n++];
    memset(c, 0, sizeof *c);
    c->m.path = path;
    c->m.major = m->major;
    c->m.minor = m->minor;
    vg_fsspace_key(c->m.key, path);
    return 0;
}

void vg_fsspace_set_free(struct vg_fsspace_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->m[i].path);
    free(s->m);
    memset(s, 0, sizeof *s);
}

int vg_fsspace_select(const char *buf, size_t len, const char *src, size_t max,
                      struct vg_fsspace_set *out, char *err, size_t errlen)
{
    struct select_pass s = {0};
    memset(out, 0, sizeof *out);
    int rc = vg_parse_mountinfo(buf, len, src, on_mount, &s, err, errlen);
    if (rc == -ENOMEM)
        vg_err(err, errlen, rc, "fsspace: out of memory");
    if (rc != -ENOMEM && s.n && !(out->m = calloc(s.n < max ? s.n : max, sizeof *out->m)))
        rc = vg_err(err, errlen, -ENOMEM, "fsspace: out of memory");
    out->remote = s.n_remote;
    for (size_t i = 0; rc != -ENOMEM && i < s.n; i++) {
        struct cand *c = &s.c[i];
        if (c->hidden)
            continue;
        /* Reaching the mount point would look its path up through the remote file system, which
         * can wait on the server just as statfs() on it would. */
        int under = 0;
        for (size_t j = 0; j < s.n_remote && !under; j++)
            under = is_under(c->m.path, s.remote[j]);
        if (under) {
            out->under_remote++;
            continue;
        }
        /* One device mounted twice (bind mounts, a btrfs subvolume) is one file system: reported
         * under its first mount point, the one mounted first. */
        int dup = 0;
        for (size_t j = 0; j < out->n && !dup; j++)
            dup = out->m[j].major == c->m.major && out->m[j].minor == c->m.minor;
        if (dup)
            continue;
        for (size_t j = 0; j < out->n && !dup; j++)
            dup = strcmp(out->m[j].key, c->m.key) == 0;
        if (dup) {
            if (out->dups++ == 0) {
                snprintf(out->dup_path, sizeof out->dup_path, "%s", c->m.path);
                snprintf(out->dup_key, sizeof out->dup_key, "%s", c->m.key);
            }
            continue;
        }
        if (out->n == max) {
            out->excess++;
            continue;
        }
        out->m[out->n++] = c->m;
        c->m.path = NULL; /* moved */
    }
    for (size_t i = 0; i < s.n; i++)
        free(s.c[i].m.path);
    free(s.c);
    for (size_t i = 0; i < s.n_remote; i++)
        free(s.remote[i]);
    free(s.remote);
    if (rc == -ENOMEM)
        vg_fsspace_set_free(out);
    return rc;
}

/* ---- the collector ---- */

struct fsspace_state {
    char path[PATH_MAX];
    int fd; /* mountinfo held open for poll(); -1 when it cannot be */
    struct vg_procbuf buf;
    size_t max;
    struct vg_fsspace_set set;
    unsigned ticks_since_read;
    int reread;  /* a mount point went away: read mountinfo at the next tick */
    int pending; /* the last read left mounts out in a way not yet said */
    int read_rc; /* the last read's malformed lines, said with pending */
    char read_err[VG_ERRLEN];
    struct vg_devbudget budget;
};

/* Reads mountinfo and chooses the mounts anew; a mount whose statfs() failed stays failed while
 * it is still mounted, so that it is said once, not at every read. */
static int read_mounts(struct fsspace_state *st, char *err, size_t errlen)
{
    struct vg_fsspace_set set;
    int rc = vg_procbuf_read(&st->buf, st->path, err, errlen);
    if (rc < 0)
        return rc;
    rc = vg_fsspace_select(st->buf.data, st->buf.len, st->path, st->max, &set, st->read_err,
                           sizeof st->read_err);
    if (rc == -ENOMEM)
        return vg_err(err, errlen, rc, "%s", st->read_err);
    for (size_t i = 0; i < set.n; i++)
        for (size_t j = 0; j < st->set.n; j++)
            if (st->set.m[j].failed && st->set.m[j].major == set.m[i].major &&
                st->set.m[j].minor == set.m[i].minor &&
                strcmp(st->set.m[j].path, set.m[i].path) == 0)
                set.m[i].failed = 1;
    st->pending = rc < 0 || set.excess != st->set.excess || set.dups != st->set.dups ||
                  set.under_remote != st->set.under_remote;
    st->read_rc = rc;
    vg_fsspace_set_free(&st->set);
    st->set = set;
    st->ticks_since_read = 0;
    st->reread = 0;
    return 0;
}

/* 1 when the mount table changed since the last poll (or since open). */
static int mounts_changed(struct fsspace_state *st)
{
    if (st->fd < 0)
        return 0;
    struct pollfd p = {.fd = st->fd, .events = POLLPRI};
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLPRI | POLLERR));
}

static void fsspace_fini(void *state)
{
    struct fsspace_state *st = state;
    if (!st)
        return;
    if (st->fd >= 0)
        close(st->fd);
    vg_procbuf_free(&st->buf);
    vg_fsspace_set_free(&st->set);
    free(st);
}

static int fsspace_init(void **state, const struct vg_collector_cfg *cfg, char *err, size_t errlen)
{
    struct fsspace_state *st = calloc(1, sizeof *st);
    if (!st)
        return vg_err(err, errlen, -ENOMEM, "fsspace: out of memory");
    st->fd = -1;
    st->max = cfg->fsspace_max > 0 ? (size_t)cfg->fsspace_max : FSSPACE_DEFAULT_MAX;
    vg_devbudget_init(&st->budget, cfg->max_message_bytes);
    int rc = vg_proc_path(st->path, sizeof st->path, cfg->proc_root, "/proc", "self/mountinfo", err,
                          errlen);
    /* Opened before the first read, so that a change between the two is signalled. */
    if (rc == 0)
        st->fd = open(st->path, O_RDONLY | O_CLOEXEC);
    if (rc == 0)
        rc = read_mounts(st, err, errlen);
    if (rc < 0) {
        fsspace_fini(st);
        return rc;
    }
    /* Unlike malformed lines, which collect says, a file with nothing usable is no source. */
    if (st->read_rc < 0 && st->set.n == 0) {
        rc = vg_err(err, errlen, st->read_rc, "%s", st->read_err);
        fsspace_fini(st);
        return rc;
    }
    *state = st;
    return 0;
}

static int emit(struct vg_wire_msg *out, const char *key, const char *suffix, double v, char *err,
                size_t errlen)
{
    char name[sizeof "fsspace.." + VG_DEV_NAME_MAX + 32];
    snprintf(name, sizeof name, "fsspace.%s.%s", key, suffix);
    return vg_wire_msg_add_metric(out, name, v, err, errlen);
}

static int emit_mount(struct vg_wire_msg *out, const struct vg_fsspace_mount *m,
                      const struct statfs *sb, char *err, size_t errlen)
{
    double frsize = (double)(sb->f_frsize ? sb->f_frsize : sb->f_bsize);
    double blocks = (double)sb->f_blocks, bfree = (double)sb->f_bfree;
    double bavail = (double)sb->f_bavail;
    double used = blocks > bfree ? blocks - bfree : 0;
    int rc = emit(out, m->key, "avail_bytes", bavail * frsize, err, errlen);
    if (rc == 0 && used + bavail > 0)
        rc = emit(out, m->key, "used_pct", 100.0 * used / (used + bavail), err, errlen);
    if (rc == 0 && sb->f_files > 0) {
        double files = (double)sb->f_files, ffree = (double)sb->f_ffree;
        if (ffree > files)
            ffree = files;
        rc = emit(out, m->key, "inodes_free", ffree, err, errlen);
        if (rc == 0)
            rc = emit(out, m->key, "inodes_used_pct", 100.0 * (files - ffree) / files, err, errlen);
    }
    return rc;
}

static int fsspace_collect(void *state, int64_t now_ms, struct vg_wire_msg *out, char *err,
                           size_t errlen)
{
    struct fsspace_state *st = state;
    (void)now_ms;
    int rc = 0;
    if (mounts_changed(st) | st->reread | (++st->ticks_since_read >= REREAD_TICKS))
        if ((rc = read_mounts(st, err, errlen)) < 0)
            return rc;

    vg_devbudget_begin(&st->budget, out);
    size_t failed = 0;
    const char *failed_path = NULL;
    int failed_errno = 0;
    for (size_t i = 0; i < st->set.n; i++) {
        struct vg_fsspace_mount *m = &st->set.m[i];
        if (m->failed)
            continue;
        size_t bytes = 0;
        for (size_t j = 0; j < VG_ARRAY_LEN(fsspace_metrics); j++)
            bytes += VG_WIRE_METRIC_SIZE_MAX(strlen(fsspace_metrics[j].name) -
                                             MOUNT_PLACEHOLDER_LEN + strlen(m->key));
        if (!vg_devbudget_take(&st->budget, bytes))
            continue;
        struct statfs sb;
        if (vg_fsspace_statfs(m->path, &sb) < 0) {
            /* Unmounted since the read (ENOENT), or out of the agent's reach once it dropped
             * root (EACCES below /var/lib/kubelet...): said once, then left alone until the
             * mount table changes; a read soon tells which. */
            if (failed++ == 0) {
                failed_path = m->path;
                failed_errno = errno ? errno : EIO;
            }
            m->failed = 1;
            st->reread = 1;
            continue;
        }
        if ((rc = emit_mount(out, m, &sb, err, errlen)) < 0)
            return rc;
    }

    rc = 0;
    if (failed)
        rc = vg_devtab_problem(rc, err, errlen, -failed_errno,
                               "fsspace: statfs %s: %s%s; left out until it is mounted again",
                               failed_path, strerror(failed_errno),
                               failed > 1 ? " (and other mount points)" : "");
    if (st->budget.left_out)
        rc = vg_devtab_report(rc, st->path, "mount", "fsspace", 0, &st->budget, 0, NULL, NULL, err,
                              errlen);
    if (st->pending) {
        st->pending = 0;
        if (st->read_rc < 0)
            rc = vg_devtab_problem(rc, err, errlen, st->read_rc, "%s", st->read_err);
        if (st->set.excess)
            rc = vg_devtab_problem(rc, err, errlen, -ENOSPC,
                                   "%s: %zu local file systems, more than fsspace.max (%zu): the "
                                   "first %zu listed are reported",
                                   st->path, st->set.n + st->set.excess, st->max, st->max);
        if (st->set.under_remote)
            rc = vg_devtab_problem(rc, err, errlen, -EXDEV,
                                   "%s: %zu local mount%s below a network or FUSE mount point "
                                   "left out: reaching %s could wait on that server",
                                   st->path, st->set.under_remote,
                                   st->set.under_remote == 1 ? "" : "s",
                                   st->set.under_remote == 1 ? "it" : "them");
        if (st->set.dups) {
            struct vg_devbudget none = {0};
            rc = vg_devtab_report(rc, st->path, "mount point", "fsspace", 0, &none, st->set.dups,
                                  st->set.dup_path, st->set.dup_key, err, errlen);
        }
    }
    return rc;
}

const struct vg_collector vg_collector_fsspace = {
    .name = "fsspace",
    .help =
        "Space and inodes of each local file system, from statfs() on the mount points "
        "/proc/self/mountinfo lists (as the agent's mount namespace sees them). Reported: "
        "ext2/3/4, "
        "xfs, btrfs, zfs, f2fs, bcachefs, jfs, reiserfs, nilfs2, vfat, msdos, exfat, ntfs, ntfs3, "
        "hfsplus, and tmpfs mounted on /, /tmp, /var/tmp, /run, /run/lock, /run/shm or /dev/shm "
        "(the tmpfs of each login, container or pod is not). Pseudo file systems, devtmpfs, ramfs, "
        "overlay and read-only images (squashfs, iso9660) are not. Network, cluster and FUSE file "
        "systems (nfs, nfs4, cifs, smb3, ceph, glusterfs, 9p, fuse.*...) are never "
        "statfs'ed, nor anything mounted below them, since that can wait for ever on a server "
        "that does not answer. Nor are autofs mount points (that would mount what they stand "
        "for), but a local file system mounted on or below one (a systemd automount's /boot) "
        "is reported. A device mounted twice (bind mounts) is reported once, under the "
        "mount point listed first. `<mount>` is the mount point without its leading '/', with "
        "'/' and every character outside [A-Za-z0-9_.:-] written '_' (`/` is `root`, "
        "`/var/log` `var_log`), and one longer than 64 bytes cut to '_' and its last 63; of two "
        "that come out alike only the first listed is sent. The mount table is read again when "
        "the kernel signals a change (poll() on mountinfo) and every 60 ticks. At most "
        "fsspace.max file systems, the first listed, and fewer where the tick's message would "
        "pass the size Kafka takes (docs/wire-format.md); the log says how many are left out, "
        "and names a mount point statfs() fails on (it is then left out until mounted again). "
        "Under the packaged systemd unit, ProtectHome=yes hides /home from the agent: a "
        "separate /home file system is not reported.",
    .metrics = fsspace_metrics,
    .n_metrics = VG_ARRAY_LEN(fsspace_metrics),
    .init = fsspace_init,
    .collect = fsspace_collect,
    .fini = fsspace_fini,
    .keeps_within = 1,
};
