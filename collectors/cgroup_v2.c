/* cgroup: resource use of selected cgroups, from the cgroup v2 hierarchy.
 *
 * The selection (cgroup.select: shell globs of paths below the root) is matched against the
 * directory tree at init and again every CG_RESCAN_TICKS ticks, so that services that start
 * appear and those that stop are dropped; between scans only the selected cgroups' files are
 * read. State per cgroup lives in one table sorted by metric name.
 *
 * The files read every tick are kept open and read again from offset 0, which makes the kernel
 * regenerate their content: opening a kernfs file costs several times more than reading it
 * (about 10 us against 2-5 us per file measured on a VM), and a cgroup has seven such files.
 * Descriptors are held up to a budget derived from RLIMIT_NOFILE; files beyond it are opened
 * each tick.
 *
 * A restarted service gets a new cgroup at the same path, with counters from 0. A held
 * descriptor of a removed cgroup reads ENODEV (or, on an ordinary file system as in the tests,
 * its cpu.stat has no links left); the file is then opened again by path, and when that gives
 * a cpu.stat with another inode (kernfs never reuses one while mounted) or the cgroup was
 * unreadable for a tick, its rates start over instead of mixing two cgroups' counters.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "proc_parse.h"
#include "proc_read.h"
#include "proc_scan.h"
#include "vg_collector.h"
#include "vg_log.h"
#include "vg_rate.h"
#include "vg_util.h"

#define CG_RESCAN_TICKS    10
#define CG_DEFAULT_SELECT  "system.slice/*"
#define CG_DEFAULT_MAX     100
#define CG_NAME_MAX        120 /* as collectors/bpf's VG_CG_NAME_MAX, so both name alike */
#define CG_PATTERNS_MAX    64
#define CG_DEPTH_MAX       16         /* components in one pattern */
#define CG_SCAN_VISITS_MAX 100000     /* directory entries one scan looks at, all patterns */
#define CG_HELD_FDS_MAX    4096       /* descriptors held open at most, and half of RLIMIT_NOFILE */
#define CG_CGROUP2_MAGIC   0x63677270 /* CGROUP2_SUPER_MAGIC, linux/magic.h */
#define CG_LOOP_MAJOR      7          /* LOOP_MAJOR, linux/major.h */
#define CG_IODEV_MAX       4096       /* io.stat lines looked at, per cgroup */
#define CG_BLK_MAX         4096       /* block devices whose stacking is remembered */
#define CG_LOWER_MAX       256        /* disks remembered below one device */
#define CG_STACK_DEPTH     8          /* levels of stacking followed down */
#define CG_OTHERS_TICKS    60 /* the others' largest share of the message is kept 60 to 120 ticks */

static const struct vg_metric_desc cg_metrics[] = {
    {"cgroup.<cgroup>.cpu_pct", "%", VG_METRIC_GAUGE,
     "CPU time used by the cgroup's tasks (cpu.stat usage_usec), in percent of one CPU: 250 is "
     "two and a half CPUs busy."},
    {"cgroup.<cgroup>.cpu_throttled_ms_ps", "ms/s", VG_METRIC_RATE,
     "Time the cgroup's tasks were kept off the CPU by its cpu.max quota (cpu.stat "
     "throttled_usec). Needs the cpu controller enabled for the cgroup."},
    {"cgroup.<cgroup>.cpu_nr_throttled_ps", "periods/s", VG_METRIC_RATE,
     "Quota periods in which the cgroup was throttled (cpu.stat nr_throttled). Needs the cpu "
     "controller."},
    {"cgroup.<cgroup>.memory_current_bytes", "bytes", VG_METRIC_GAUGE,
     "Memory charged to the cgroup, page cache included (memory.current). Needs the memory "
     "controller."},
    {"cgroup.<cgroup>.memory_max_bytes", "bytes", VG_METRIC_GAUGE,
     "The cgroup's hard memory limit (memory.max), re-read at each rescan; not sent while the "
     "limit is \"max\" (none)."},
    {"cgroup.<cgroup>.memory_oom_kill_ps", "kills/s", VG_METRIC_RATE,
     "Processes of the cgroup or its descendants killed by the OOM killer (memory.events "
     "oom_kill; kernel 4.13+)."},
    {"cgroup.<cgroup>.memory_oom_kill", "kills", VG_METRIC_GAUGE,
     "OOM kills in the cgroup since it was created (memory.events oom_kill)."},
    {"cgroup.<cgroup>.io_read_bytes_ps", "bytes/s", VG_METRIC_RATE,
     "Bytes the cgroup read from block devices (io.stat rbytes), each I/O counted once: I/O "
     "through a device-mapper or md device (LVM, dm-crypt, RAID) counts on that device, not "
     "again on the disks under it; I/O through a loop device counts on the disk holding its "
     "backing file, when it reaches one. A disk is left out while io.stat lists a device stacked "
     "on it (sysfs slaves under sys_root), so the cgroup's I/O to another, plain partition of "
     "that disk is then missed; I/O through a device built on loop devices counts twice. Where "
     "sysfs cannot tell what a device is stacked on (not mounted, not readable), every device "
     "counts and stacked I/O may count once per layer. A device io.stat names \"(unknown)\" "
     "(the per-path disks of NVMe multipath, whose I/O counts on the multipath device; a disk "
     "being removed) is left out. Needs the io controller."},
    {"cgroup.<cgroup>.io_write_bytes_ps", "bytes/s", VG_METRIC_RATE,
     "Bytes the cgroup wrote to block devices (io.stat wbytes), counted as for io_read_bytes_ps: "
     "a write that md RAID1 mirrors counts once, not once per disk."},
    {"cgroup.<cgroup>.psi_cpu_some_avg10", "%", VG_METRIC_GAUGE,
     "Share of the last 10 s in which some task of the cgroup waited for a CPU (cpu.pressure; "
     "kernel 4.20+ with PSI)."},
    {"cgroup.<cgroup>.psi_memory_some_avg10", "%", VG_METRIC_GAUGE,
     "Share of the last 10 s in which some task of the cgroup stalled on memory "
     "(memory.pressure)."},
    {"cgroup.<cgroup>.psi_io_some_avg10", "%", VG_METRIC_GAUGE,
     "Share of the last 10 s in which some task of the cgroup waited for I/O (io.pressure)."},
};

/* The files read, in the order they are read. memory.max is read at scans only: limits change
 * rarely, and one file fewer per cgroup per tick adds up. */
enum {
    F_CPU_STAT,
    F_MEM_CURRENT,
    F_MEM_EVENTS,
    F_IO_STAT,
    F_CPU_PRESSURE,
    F_MEM_PRESSURE,
    F_IO_PRESSURE,
    F_MEM_MAX,
    N_FILES
};
static const char *const file_name[N_FILES] = {
    [F_CPU_STAT] = "cpu.stat",         [F_MEM_CURRENT] = "memory.current",
    [F_MEM_EVENTS] = "memory.events",  [F_IO_STAT] = "io.stat",
    [F_CPU_PRESSURE] = "cpu.pressure", [F_MEM_PRESSURE] = "memory.pressure",
    [F_IO_PRESSURE] = "io.pressure",   [F_MEM_MAX] = "memory.max",
};
#define FILE_NAME_MAX sizeof "memory.pressure"
#define N_HELD        F_MEM_MAX /* the files read every tick, whose descriptors may be held */

enum { R_USAGE, R_THROTTLED_US, R_NR_THROTTLED, R_OOM_KILL, R_RBYTES, R_WBYTES, N_RATES };

enum { K_USAGE, K_NR_THROTTLED, K_THROTTLED_US, N_CPU_KEYS };
static const char *const cpu_keys[N_CPU_KEYS] = {"usage_usec", "nr_throttled", "throttled_usec"};
static const char *const oom_key[] = {"oom_kill"};

/* One device line of an io.stat. */
struct cg_iodev {
    uint64_t dev; /* major << 32 | minor */
    uint64_t rbytes, wbytes;
    int counted; /* its bytes go into io_read_bytes_ps and io_write_bytes_ps */
};

/* What one block device is stacked on, from sysfs: the devices below it at every level, a
 * partition given as its disk. */
struct cg_blk {
    uint64_t dev;
    uint64_t *lower; /* sorted; owned */
    size_t n_lower;
    uint64_t tick; /* cg_state.tick when sysfs was read */
};

struct cg {
    char *rel; /* path below the root: "system.slice/ssh.service" */
    char *dir; /* root/rel/, ready for a file name to be appended */
    size_t dir_len;
    char prefix[sizeof "cgroup.." + CG_NAME_MAX]; /* "cgroup.<name>." */
    size_t prefix_len;
    unsigned files;  /* 1 << F_*: files to try until the next scan */
    int fd[N_HELD];  /* held descriptors, -1 for none */
    ino_t ident;     /* inode of cpu.stat when last opened; 0 before */
    int gone;        /* cpu.stat could not be read at the last attempt */
    int mem_max_set; /* memory.max holds a limit, in mem_max */
    uint64_t mem_max;
    struct vg_rate rate[N_RATES];
    struct cg_iodev *io; /* io.stat at the last reading, sorted by device; owned */
    size_t n_io, cap_io;
    uint64_t io_sum[2]; /* bytes read and written on the devices counted, since the start */
};

struct cg_state {
    char root[PATH_MAX];
    char *select;                             /* the patterns, split in place */
    char *pat[CG_PATTERNS_MAX][CG_DEPTH_MAX]; /* components of each pattern */
    size_t pat_len[CG_PATTERNS_MAX];
    size_t n_pat;
    size_t max;
    struct cg *cg; /* sorted by prefix */
    size_t n;
    size_t matched; /* distinct cgroups the last scan found, before the cap */
    /* The last scan matched nothing, and that was logged: said once, at init or when the count
     * drops to 0, and again when cgroups match once more. A typo, or a pattern for another
     * layout (kubepods.slice/ against cgroupfs' kubepods/), would otherwise send nothing for
     * ever without a word. */
    int none_said;
    char *select_text; /* cgroup.select as given, for those lines; owned */
    /* The tick's message may take this much (vg_wire_msg_size_max); 0: no limit. */
    size_t max_bytes;
    size_t suffix_bytes; /* the metric names' parts after "cgroup.<cgroup>.", all together */
    /* The largest bound of what other collectors put in the message before this one, over the
     * running window of CG_OTHERS_TICKS ticks ([0]) and the one before ([1]). */
    size_t others_max[2];
    int scan_rc; /* an error of the last scan, repeated every tick until the next */
    char scan_err[VG_ERRLEN];
    unsigned ticks_since_scan;
    uint64_t tick;           /* collect calls so far */
    size_t n_fds, fd_budget; /* descriptors held, and how many may be */
    int kernfs;              /* root is a cgroup2 mount (not a test tree) */
    struct vg_procbuf buf;
    char path[PATH_MAX * 2];
    char sys_dev_block[PATH_MAX]; /* <sys_root>/dev/block */
    struct cg_blk *blk;           /* sorted by device; emptied at each scan */
    size_t n_blk, cap_blk;
    struct cg_iodev *lines; /* the io.stat being read */
    size_t n_lines, cap_lines;
};

/* The metric form of rel: '/' becomes '.', other bytes outside [A-Za-z0-9_.:-] become '_', and
 * a path longer than CG_NAME_MAX keeps its end, the most specific part, after a '_'. */
static size_t cg_metric_name(char *dst, const char *rel)
{
    size_t len = strlen(rel), w = 0;
    if (len > CG_NAME_MAX) {
        dst[w++] = '_';
        rel += len - (CG_NAME_MAX - 1);
        len = CG_NAME_MAX - 1;
    }
    for (size_t i = 0; i < len; i++) {
        char c = rel[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.' || c == ':' || c == '-';
        dst[w++] = c == '/' ? '.' : ok ? c : '_';
    }
    dst[w] = '\0';
    return w;
}

/* ---- parsers ---- */

int vg_parse_cg_value(const char *buf, size_t len, const char *src, uint64_t *v, int *is_max,
                      char *err, size_t errlen)
{
    struct vg_scan s;
    struct vg_span line, w, extra;

    vg_scan_init(&s, buf, len);
    if (!vg_scan_line(&s, &line) || !vg_span_word(&line, &w))
        return vg_err(err, errlen, -EINVAL, "%s: empty file", src);
    if (vg_span_word(&line, &extra) || vg_scan_line(&s, &line))
        return vg_err(err, errlen, -EINVAL, "%s: more than one value", src);
    if (vg_word_is(w, "max")) {
        *v = UINT64_MAX;
        *is_max = 1;
        return 0;
    }
    if (vg_word_u64(w, v) < 0)
        return vg_err(err, errlen, -EINVAL, "%s:1: neither a number nor \"max\"", src);
    *is_max = 0;
    return 0;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Parses word as "MAJ:MIN". Returns 0 or -EINVAL. */
static int parse_devnum(struct vg_span w, uint32_t *major, uint32_t *minor)
{
    const char *colon = memchr(w.p, ':', (size_t)(w.end - w.p));
    uint64_t ma, mi;
    if (!colon || vg_word_u64((struct vg_span){w.p, colon}, &ma) < 0 ||
        vg_word_u64((struct vg_span){colon + 1, w.end}, &mi) < 0 || ma > UINT32_MAX ||
        mi > UINT32_MAX)
        return -EINVAL;
    *major = (uint32_t)ma;
    *minor = (uint32_t)mi;
    return 0;
}

int vg_parse_cg_iostat_devs(const char *buf, size_t len, const char *src, vg_cg_iodev_fn fn,
                            void *ctx, char *err, size_t errlen)
{
    struct vg_scan s;
    struct vg_span line, w;
    int rc;

    vg_scan_init(&s, buf, len);
    while (vg_scan_line(&s, &line)) {
        struct vg_cg_iodev d = {0};
        int first = 1, named = 0; /* named: d is a device, handed to fn when its fields end */
        while (vg_span_word(&line, &w)) {
            const char *eq = memchr(w.p, '=', (size_t)(w.end - w.p));
            if (eq && !first) {
                struct vg_span key = {w.p, eq}, val = {eq + 1, w.end};
                uint64_t *v = vg_word_is(key, "rbytes")   ? &d.rbytes
                              : vg_word_is(key, "wbytes") ? &d.wbytes
                                                          : NULL;
                if (v && vg_word_u64(val, v) < 0)
                    return vg_err(err, errlen, -EINVAL, "%s:%u: %.6s is not a number", src, s.line,
                                  v == &d.rbytes ? "rbytes" : "wbytes");
                continue;
            }
            /* A device within a line: kernels with 252c651a4c85 (5.15) but not "blk-cgroup:
             * always terminate io.stat lines" end an entry with a newline only when it has stats,
             * so a device without any runs into the next one. */
            if (named && (rc = fn(ctx, &d)) != 0)
                return rc;
            d = (struct vg_cg_iodev){0};
            /* The kernel names a device by its bdi, and prints "(unknown)" for a disk that has
             * none registered: the hidden per-path disks of NVMe multipath, whose I/O is the
             * multipath device's again, or a disk being removed. Such an entry cannot be paired
             * with a reading of the same device, so it is left out, the rest of the file being
             * read. */
            named = !vg_word_is(w, "(unknown)");
            if (named && parse_devnum(w, &d.major, &d.minor) < 0) {
                if (first)
                    return vg_err(err, errlen, -EINVAL,
                                  "%s:%u: line does not start with MAJ:MIN or \"(unknown)\"", src,
                                  s.line);
                return vg_err(err, errlen, -EINVAL,
                              "%s:%u: a field is neither key=value nor a device", src, s.line);
            }
            first = 0;
        }
        if (named && (rc = fn(ctx, &d)) != 0)
            return rc;
    }
    return 0;
}

struct iostat_sum {
    uint64_t r, w;
};

static int add_to_sum(void *ctx, const struct vg_cg_iodev *d)
{
    struct iostat_sum *sum = ctx;
    sum->r = sat_add(sum->r, d->rbytes);
    sum->w = sat_add(sum->w, d->wbytes);
    return 0;
}

int vg_parse_cg_iostat(const char *buf, size_t len, const char *src, uint64_t *rbytes,
                       uint64_t *wbytes, char *err, size_t errlen)
{
    struct iostat_sum sum = {0, 0};
    int rc = vg_parse_cg_iostat_devs(buf, len, src, add_to_sum, &sum, err, errlen);
    *rbytes = sum.r;
    *wbytes = sum.w;
    return rc;
}

/* ---- stacked block devices ----
 *
 * The io controller charges a bio to a cgroup at every device it is submitted to. The
 * filesystem's bio is charged at the device it was issued to, to the cgroup that issued it (or,
 * for writeback, owns the dirty pages). A device-mapper or md device then submits bios of its own
 * to the devices below: clones made in the submitter's context keep the cgroup (device-mapper
 * targets such as linear, md RAID0/1/10, dm-crypt reads), so io.stat lists the same bytes again
 * on the disk below; bios a driver issues from its own threads (dm-crypt writes, RAID5/6 stripe
 * I/O) are charged to that thread's cgroup and appear below under none of ours. Summing every
 * line counts the first kind twice; counting only the bottom layer would lose the second. So an
 * I/O is counted where it entered: a disk is left out while the same io.stat lists a device
 * stacked on it (sysfs slaves, at any depth; a partition stands for its disk, as io.stat names
 * whole disks only). The loop driver is the other way round: it re-issues each request as file
 * I/O charged to the same cgroup, so what reaches a disk counts there, and loop devices are left
 * out (a device built on loop devices then counts twice: itself, and the disk under the files). */

static uint64_t dev_key(uint32_t major, uint32_t minor)
{
    return (uint64_t)major << 32 | minor;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Reads a sysfs "dev" file ("8:0\n") into *dev. Returns 0 or -errno, -EINVAL. */
static int read_devnum(const char *path, uint64_t *dev)
{
    char buf[32];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof buf);
    int rc = n < 0 ? -errno : 0;
    close(fd);
    if (rc < 0)
        return rc;
    struct vg_scan s;
    struct vg_span line, w;
    uint32_t major, minor;
    vg_scan_init(&s, buf, (size_t)n);
    if (!vg_scan_line(&s, &line) || !vg_span_word(&line, &w) || parse_devnum(w, &major, &minor) < 0)
        return -EINVAL;
    *dev = dev_key(major, minor);
    return 0;
}

struct devlist {
    uint64_t *v;
    size_t n, cap;
};

/* Beyond CG_LOWER_MAX devices are dropped: those disks may then count twice. */
static int devlist_add(struct devlist *l, uint64_t dev)
{
    if (l->n == CG_LOWER_MAX)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        uint64_t *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = dev;
    return 0;
}

/* Adds to out the devices below dev, following slaves down. A device whose slaves cannot be
 * listed (none, no sysfs, no permission) adds nothing, so nothing is left out because of it.
 * Returns 0 or -ENOMEM. */
static int find_lower(const struct cg_state *st, uint64_t dev, int depth, struct devlist *out)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%u:%u/slaves", st->sys_dev_block, (unsigned)(dev >> 32),
                     (unsigned)(dev & UINT32_MAX));
    if (n < 0 || (size_t)n + 1 + NAME_MAX + sizeof "/partition" > sizeof path)
        return 0;
    DIR *d = opendir(path);
    if (!d)
        return 0;
    size_t base = (size_t)n;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && out->n < CG_LOWER_MAX && (e = readdir(d)) != NULL) {
        uint64_t slave, disk;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path + base, sizeof path - base, "/%s/dev", e->d_name);
        if (read_devnum(path, &slave) < 0)
            continue;
        snprintf(path + base, sizeof path - base, "/%s/partition", e->d_name);
        if (access(path, F_OK) == 0) {
            /* slaves/sda2 links to .../block/sda/sda2: the directory above is the disk. */
            snprintf(path + base, sizeof path - base, "/%s/../dev", e->d_name);
            if (read_devnum(path, &disk) == 0)
                rc = devlist_add(out, disk);
            continue;
        }
        rc = devlist_add(out, slave);
        if (rc == 0 && depth + 1 < CG_STACK_DEPTH)
            rc = find_lower(st, slave, depth + 1, out);
    }
    closedir(d);
    return rc;
}

static void blk_clear(struct cg_state *st)
{
    for (size_t i = 0; i < st->n_blk; i++)
        free(st->blk[i].lower);
    st->n_blk = 0;
}

/* Where dev is in st->blk, or would go. */
static size_t blk_index(const struct cg_state *st, uint64_t dev)
{
    size_t lo = 0, hi = st->n_blk;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (st->blk[mid].dev < dev)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Sets *b to what sysfs says is below dev, looking it up on first use; NULL when the table is
 * full (nothing is then known below dev). Valid until the next call. Returns 0 or -ENOMEM. */
static int blk_get(struct cg_state *st, uint64_t dev, const struct cg_blk **b)
{
    size_t lo = blk_index(st, dev);
    *b = NULL;
    if (lo < st->n_blk && st->blk[lo].dev == dev) {
        *b = &st->blk[lo];
        return 0;
    }
    if (st->n_blk == CG_BLK_MAX)
        return 0;
    if (st->n_blk == st->cap_blk) {
        size_t cap = st->cap_blk ? st->cap_blk * 2 : 16;
        struct cg_blk *t = realloc(st->blk, cap * sizeof *t);
        if (!t)
            return -ENOMEM;
        st->blk = t;
        st->cap_blk = cap;
    }
    struct devlist l = {NULL, 0, 0};
    int rc = find_lower(st, dev, 0, &l);
    if (rc < 0) {
        free(l.v);
        return rc;
    }
    size_t w = 0;
    if (l.n)
        qsort(l.v, l.n, sizeof *l.v, cmp_u64);
    for (size_t i = 0; i < l.n; i++)
        if (w == 0 || l.v[w - 1] != l.v[i])
            l.v[w++] = l.v[i];
    memmove(&st->blk[lo + 1], &st->blk[lo], (st->n_blk - lo) * sizeof *st->blk);
    st->blk[lo] = (struct cg_blk){dev, l.v, w, st->tick};
    st->n_blk++;
    *b = &st->blk[lo];
    return 0;
}

/* Drops what sysfs said about dev, unless it was read this tick, so that the next blk_get()
 * reads it again. */
static void blk_forget(struct cg_state *st, uint64_t dev)
{
    size_t lo = blk_index(st, dev);
    if (lo == st->n_blk || st->blk[lo].dev != dev || st->blk[lo].tick == st->tick)
        return;
    free(st->blk[lo].lower);
    memmove(&st->blk[lo], &st->blk[lo + 1], (st->n_blk - lo - 1) * sizeof *st->blk);
    st->n_blk--;
}

static int cmp_iodev(const void *a, const void *b)
{
    const struct cg_iodev *x = a, *y = b;
    return x->dev < y->dev ? -1 : x->dev > y->dev;
}

/* Index of dev in lines[0..n) (sorted), or n. */
static size_t find_iodev(const struct cg_iodev *lines, size_t n, uint64_t dev)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (lines[mid].dev < dev)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && lines[lo].dev == dev ? lo : n;
}

/* Sorts st->lines by device, drops repeated devices and marks which count; c holds the previous
 * reading. Returns 0 or -ENOMEM. */
static int classify_lines(struct cg_state *st, const struct cg *c)
{
    struct cg_iodev *l = st->lines;
    size_t n = 0;
    if (st->n_lines)
        qsort(l, st->n_lines, sizeof *l, cmp_iodev);
    for (size_t i = 0; i < st->n_lines; i++)
        if (n == 0 || l[n - 1].dev != l[i].dev)
            l[n++] = l[i];
    st->n_lines = n;
    /* A removed disk leaves every io.stat, and a new one given its number (a dm minor goes to the
     * next volume, which may sit on other disks) comes back with counters from 0: a device new to
     * this cgroup's reading, or gone backwards, may not be the one sysfs was asked about. Asking
     * again costs a lookup only when a cgroup starts using a device. */
    for (size_t i = 0; i < n; i++) {
        size_t j = find_iodev(c->io, c->n_io, l[i].dev);
        if (j == c->n_io || l[i].rbytes < c->io[j].rbytes || l[i].wbytes < c->io[j].wbytes)
            blk_forget(st, l[i].dev);
    }
    for (size_t i = 0; i < n; i++)
        l[i].counted = (l[i].dev >> 32) != CG_LOOP_MAJOR;
    /* One line cannot be stacked under another: most cgroups cost no sysfs lookup at all. */
    if (n < 2)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const struct cg_blk *b;
        int rc = blk_get(st, l[i].dev, &b);
        if (rc < 0)
            return rc;
        for (size_t k = 0; b && k < b->n_lower; k++) {
            size_t j = find_iodev(l, n, b->lower[k]);
            if (j < n && j != i)
                l[j].counted = 0;
        }
    }
    return 0;
}

/* ---- selection ---- */

static int has_glob(const char *s)
{
    return strpbrk(s, "*?[\\") != NULL;
}

/* Splits select into patterns and components, checking each: relative, no empty, "." or ".."
 * component, so that no pattern reaches outside the root. */
static int parse_select(struct cg_state *st, const char *select, char *err, size_t errlen)
{
    if (!(st->select = strdup(select)) || !(st->select_text = strdup(select)))
        return vg_err(err, errlen, -ENOMEM, "cgroup: out of memory");
    char *save = NULL;
    for (char *p = strtok_r(st->select, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strlen(p);
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            p[--n] = '\0';
        if (n == 0)
            continue;
        if (st->n_pat == CG_PATTERNS_MAX)
            return vg_err(err, errlen, -EINVAL, "cgroup.select: more than %d patterns",
                          CG_PATTERNS_MAX);
        if (*p == '/')
            return vg_err(err, errlen, -EINVAL,
                          "cgroup.select: \"%s\" must be relative to cgroup.root, without a "
                          "leading '/'",
                          p);
        size_t k = 0;
        char *comp = p;
        for (;;) {
            char *slash = strchr(comp, '/');
            if (slash)
                *slash = '\0';
            if (!*comp || strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0)
                return vg_err(err, errlen, -EINVAL,
                              "cgroup.select: pattern %zu has an empty, \".\" or \"..\" "
                              "component",
                              st->n_pat + 1);
            if (k == CG_DEPTH_MAX)
                return vg_err(err, errlen, -EINVAL,
                              "cgroup.select: pattern %zu is deeper than %d levels", st->n_pat + 1,
                              CG_DEPTH_MAX);
            st->pat[st->n_pat][k++] = comp;
            if (!slash)
                break;
            comp = slash + 1;
        }
        st->pat_len[st->n_pat++] = k;
    }
    if (st->n_pat == 0)
        return vg_err(err, errlen, -EINVAL, "cgroup.select: no pattern");
    return 0;
}

struct found {
    char **rel;
    size_t n, cap;
    size_t visits;
    int rc; /* first error met */
    char *err;
    size_t errlen;
};

static int add_found(struct found *f, const char *rel)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 32;
        char **p = realloc(f->rel, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        f->rel = p;
        f->cap = cap;
    }
    if (!(f->rel[f->n] = strdup(rel)))
        return -ENOMEM;
    f->n++;
    return 0;
}

/* Matches components [depth..) of pattern pat below root/rel (rel_len bytes, "" for the root).
 * Only -ENOMEM stops the walk; other errors are kept in f and the walk goes on. */
static int walk(struct cg_state *st, char *const *pat, size_t n_comp, size_t depth, char *rel,
                size_t rel_len, struct found *f)
{
    char path[PATH_MAX];
    struct stat sb;

    if (depth == n_comp) {
        int n = snprintf(path, sizeof path, "%s/%s", st->root, rel);
        if (n < 0 || (size_t)n >= sizeof path)
            return 0;
        return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) ? add_found(f, rel) : 0;
    }
    const char *comp = pat[depth];
    if (!has_glob(comp)) {
        size_t cl = strlen(comp);
        if (rel_len + 1 + cl >= PATH_MAX)
            return 0;
        size_t at = rel_len ? rel_len + 1 : 0;
        if (rel_len)
            rel[rel_len] = '/';
        memcpy(rel + at, comp, cl + 1);
        int rc = walk(st, pat, n_comp, depth + 1, rel, at + cl, f);
        rel[rel_len] = '\0';
        return rc;
    }

    int n = snprintf(path, sizeof path, "%s/%s", st->root, rel);
    if (n < 0 || (size_t)n >= sizeof path)
        return 0;
    DIR *d = opendir(path);
    if (!d) {
        /* A level that does not exist (no kubepods.slice on this host) just matches nothing. */
        if (errno != ENOENT && errno != ENOTDIR && !f->rc)
            f->rc = vg_err(f->err, f->errlen, -errno, "cgroup: cannot list %s: %s", path,
                           strerror(errno));
        return 0;
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (++f->visits > CG_SCAN_VISITS_MAX) {
            if (!f->rc)
                f->rc = vg_err(f->err, f->errlen, -E2BIG,
                               "cgroup: cgroup.select made one scan look at more than %d "
                               "directory entries; narrow it",
                               CG_SCAN_VISITS_MAX);
            break;
        }
        const char *name = e->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        /* Interface files (cgroup.procs, cpu.stat...) match globs too; only directories are
         * cgroups. */
        if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN)
            continue;
        if (fnmatch(comp, name, FNM_PERIOD) != 0)
            continue;
        size_t nl = strlen(name);
        if (rel_len + 1 + nl >= PATH_MAX)
            continue;
        size_t at = rel_len ? rel_len + 1 : 0;
        if (rel_len)
            rel[rel_len] = '/';
        memcpy(rel + at, name, nl + 1);
        /* readdir already said it is a directory: no stat needed to confirm the match. */
        if (depth + 1 == n_comp && e->d_type == DT_DIR)
            rc = add_found(f, rel);
        else
            rc = walk(st, pat, n_comp, depth + 1, rel, at + nl, f);
        rel[rel_len] = '\0';
    }
    closedir(d);
    return rc;
}

static int cmp_cg(const void *a, const void *b)
{
    const struct cg *x = a, *y = b;
    int c = strcmp(x->prefix, y->prefix);
    return c ? c : strcmp(x->rel, y->rel);
}

static void close_held(struct cg_state *st, struct cg *c)
{
    for (int f = 0; f < N_HELD; f++) {
        if (c->fd[f] < 0)
            continue;
        close(c->fd[f]);
        c->fd[f] = -1;
        st->n_fds--;
    }
}

static void cg_free(struct cg_state *st, struct cg *c)
{
    close_held(st, c);
    free(c->rel);
    free(c->dir);
    free(c->io);
}

/* Reads memory.max for c; absent or unreadable leaves the limit unknown. */
static void read_mem_max(struct cg_state *st, struct cg *c);

/* Matches the selection against the tree and rebuilds the table, keeping the state of cgroups
 * that were there before. */
static int scan(struct cg_state *st, char *err, size_t errlen)
{
    char rel[PATH_MAX];
    struct found f = {.err = st->scan_err, .errlen = sizeof st->scan_err};
    int rc = 0;

    st->scan_err[0] = '\0';
    /* Stacking can change under a device number that stays listed (a dm table reloaded onto
     * other disks, as pvmove does; a disk re-created between two readings whose counters already
     * passed the old one's): what sysfs said is looked up again after each scan. */
    blk_clear(st);
    for (size_t i = 0; rc == 0 && i < st->n_pat; i++) {
        rel[0] = '\0';
        rc = walk(st, st->pat[i], st->pat_len[i], 0, rel, 0, &f);
    }
    struct cg *t = rc == 0 && f.n ? calloc(f.n, sizeof *t) : NULL;
    if (rc == 0 && f.n && !t)
        rc = -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; rc == 0 && i < f.n; i++) {
        struct cg *c = &t[n];
        size_t rl = strlen(f.rel[i]), root_len = strlen(st->root);
        for (int k = 0; k < N_HELD; k++)
            c->fd[k] = -1;
        c->rel = f.rel[i];
        f.rel[i] = NULL;
        c->dir_len = root_len + 1 + rl + 1;
        if (c->dir_len + FILE_NAME_MAX > sizeof st->path) {
            cg_free(st, c);
            continue;
        }
        if (!(c->dir = malloc(c->dir_len + 1))) {
            cg_free(st, c);
            rc = -ENOMEM;
            break;
        }
        memcpy(c->dir, st->root, root_len);
        c->dir[root_len] = '/';
        memcpy(c->dir + root_len + 1, c->rel, rl);
        c->dir[c->dir_len - 1] = '/';
        c->dir[c->dir_len] = '\0';
        memcpy(c->prefix, "cgroup.", 7);
        c->prefix_len = 7 + cg_metric_name(c->prefix + 7, c->rel);
        c->prefix[c->prefix_len++] = '.';
        c->prefix[c->prefix_len] = '\0';
        n++;
    }
    for (size_t i = 0; i < f.n; i++)
        free(f.rel[i]);
    free(f.rel);
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            cg_free(st, &t[i]);
        free(t);
        return vg_err(err, errlen, rc, "cgroup: out of memory");
    }

    /* Sorted by name, patterns that overlap and paths that sanitise alike (a.b/c, a/b.c) leave
     * adjacent duplicates: the first is kept, so metric names stay unique. */
    if (n)
        qsort(t, n, sizeof *t, cmp_cg);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (w > 0 && strcmp(t[w - 1].prefix, t[i].prefix) == 0) {
            cg_free(st, &t[i]);
            continue;
        }
        t[w++] = t[i];
    }
    st->matched = w;
    if (w == 0 && f.rc == 0 && !st->none_said) { /* f.rc: not matched, or not listable */
        char q[512];
        vg_info("cgroup.select matches no cgroup",
                "collector=cgroup root=%s select=%s rescan_every_ticks=%d", st->root,
                vg_log_quote(q, sizeof q, st->select_text), CG_RESCAN_TICKS);
        st->none_said = 1;
    } else if (w > 0 && st->none_said) {
        char q[512];
        vg_info("cgroup.select matches cgroups again",
                "collector=cgroup root=%s select=%s matched=%zu", st->root,
                vg_log_quote(q, sizeof q, st->select_text), w);
        st->none_said = 0;
    }
    for (; w > st->max; w--)
        cg_free(st, &t[w - 1]);

    /* Both tables are sorted: one merge carries the old state over. */
    size_t j = 0;
    for (size_t i = 0; i < w; i++) {
        struct cg *c = &t[i];
        while (j < st->n && strcmp(st->cg[j].prefix, c->prefix) < 0)
            j++;
        if (j < st->n && strcmp(st->cg[j].rel, c->rel) == 0) {
            struct cg *old = &st->cg[j];
            c->ident = old->ident;
            c->gone = old->gone;
            memcpy(c->rate, old->rate, sizeof c->rate);
            memcpy(c->fd, old->fd, sizeof c->fd);
            c->io = old->io;
            c->n_io = old->n_io;
            c->cap_io = old->cap_io;
            memcpy(c->io_sum, old->io_sum, sizeof c->io_sum);
            old->io = NULL;
            for (int k = 0; k < N_HELD; k++)
                old->fd[k] = -1;
        }
        c->files = (1u << N_FILES) - 1;
        read_mem_max(st, c);
    }
    for (size_t i = 0; i < st->n; i++)
        cg_free(st, &st->cg[i]);
    free(st->cg);
    st->cg = t;
    st->n = w;
    st->scan_rc = f.rc;
    st->ticks_since_scan = 0;
    return 0;
}

/* ---- reading ---- */

static const char *file_path(struct cg_state *st, const struct cg *c, int f)
{
    memcpy(st->path, c->dir, c->dir_len);
    memcpy(st->path + c->dir_len, file_name[f], strlen(file_name[f]) + 1);
    return st->path;
}

/* A file that is not there because its controller is not enabled for the cgroup, or PSI is off
 * for it: not an error, and not tried again until the next scan. */
static int is_absent(int rc)
{
    return rc == -ENOENT || rc == -EOPNOTSUPP || rc == -ENODEV;
}

/* Reads the whole of open file fd from offset 0 into b. Returns 0 or -errno, -EFBIG past
 * VG_PROC_READ_MAX, -ENOMEM.
 *
 * A cgroup interface file is a single seq_file record, which the kernel hands out whole when the
 * buffer has room for it: a read that leaves room therefore ends the file, and the read that
 * would return 0 is saved (a third of the syscalls). Ordinary files, as in the tests, behave
 * alike. */
static int pread_all(int fd, struct vg_procbuf *b)
{
    b->len = 0;
    for (;;) {
        if (b->cap - b->len < 2) {
            size_t cap = b->cap ? b->cap * 2 : 4096;
            if (cap > VG_PROC_READ_MAX + 1)
                return -EFBIG;
            char *p = realloc(b->data, cap);
            if (!p)
                return -ENOMEM;
            b->data = p;
            b->cap = cap;
        }
        size_t room = b->cap - b->len - 1;
        ssize_t n = pread(fd, b->data + b->len, room, (off_t)b->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        b->len += (size_t)n;
        if ((size_t)n < room)
            break;
    }
    b->data[b->len] = '\0';
    return 0;
}

/* On an ordinary file system (the tests' trees), whether a held file was deleted. kernfs
 * instead answers ENODEV to reads once the cgroup is removed, and needs no fstat per tick. */
static int is_deleted(int fd)
{
    struct stat sb;
    return fstat(fd, &sb) < 0 || sb.st_nlink == 0;
}

/* Reads file f of c into st->buf, through its held descriptor when it has one, else by path
 * (then holding the descriptor when the budget allows). *opened is set when the file was opened
 * by path, and for cpu.stat *ino to its inode. Returns 0 or -errno with err naming the file. */
static int cg_read(struct cg_state *st, struct cg *c, int f, int *opened, ino_t *ino, char *err,
                   size_t errlen)
{
    *opened = 0;
    if (f < N_HELD && c->fd[f] >= 0) {
        int rc = pread_all(c->fd[f], &st->buf);
        /* Checked on cpu.stat only, which every cgroup has and which is read first: a cgroup
         * found gone has all its descriptors closed. */
        if (rc == 0 && (f != F_CPU_STAT || st->kernfs || !is_deleted(c->fd[f])))
            return 0;
        close(c->fd[f]);
        c->fd[f] = -1;
        st->n_fds--;
        if (rc == -ENOMEM || rc == -EFBIG)
            return vg_err(err, errlen, rc, "cannot read %s: %s", file_path(st, c, f),
                          strerror(-rc));
    }
    const char *path = file_path(st, c, f);
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vg_err(err, errlen, -errno, "cannot read %s: %s", path, strerror(errno));
    *opened = 1;
    int rc = ino && fstat(fd, &sb) < 0 ? -errno : 0;
    if (rc == 0 && ino)
        *ino = sb.st_ino;
    if (rc == 0)
        rc = pread_all(fd, &st->buf);
    if (rc == 0 && f < N_HELD && st->n_fds < st->fd_budget) {
        c->fd[f] = fd;
        st->n_fds++;
    } else {
        close(fd);
    }
    if (rc < 0)
        return vg_err(err, errlen, rc, "cannot read %s: %s", path, strerror(-rc));
    return 0;
}

static void read_mem_max(struct cg_state *st, struct cg *c)
{
    int is_max;
    const char *path = file_path(st, c, F_MEM_MAX);
    c->mem_max_set = 0;
    if (vg_procbuf_read(&st->buf, path, NULL, 0) == 0 &&
        vg_parse_cg_value(st->buf.data, st->buf.len, path, &c->mem_max, &is_max, NULL, 0) == 0)
        c->mem_max_set = !is_max;
}

/* One tick's pass over one cgroup. */
struct pass {
    struct cg_state *st;
    struct cg *c;
    int64_t now_ms;
    struct vg_wire_msg *out;
    char *err;
    size_t errlen;
    int first_rc; /* of a file that could not be read or parsed */
};

static int emit(struct pass *p, const char *suffix, double v)
{
    char name[sizeof p->c->prefix + 32];
    size_t sl = strlen(suffix);
    memcpy(name, p->c->prefix, p->c->prefix_len);
    memcpy(name + p->c->prefix_len, suffix, sl + 1);
    return vg_wire_msg_add_metric(p->out, name, v, p->err, p->errlen);
}

/* Sends counter v as a rate divided by div (to turn microseconds into percent or ms). */
static int emit_rate(struct pass *p, int r, uint64_t v, double div, const char *suffix)
{
    double ps;
    /* All these counters are 64-bit in the kernel. A reset (new cgroup, device gone from
     * io.stat) skips one sample. */
    if (vg_rate_update(&p->c->rate[r], v, p->now_ms, 64, &ps) < 0)
        return 0;
    return emit(p, suffix, ps / div);
}

/* Reads file f of the cgroup; returns 1 when it was read, 0 when it is absent or failed (the
 * failure is kept in p). The file's path is then in st->path. */
static int read_file(struct pass *p, int f)
{
    int opened;
    if (!(p->c->files & (1u << f)))
        return 0;
    int rc = cg_read(p->st, p->c, f, &opened, NULL, p->first_rc ? NULL : p->err, p->errlen);
    file_path(p->st, p->c, f);
    if (rc == 0)
        return 1;
    if (is_absent(rc))
        p->c->files &= ~(1u << f);
    else if (!p->first_rc)
        p->first_rc = rc;
    return 0;
}

static void parse_failed(struct pass *p, int rc)
{
    if (!p->first_rc)
        p->first_rc = rc;
}

static int add_line(void *ctx, const struct vg_cg_iodev *d)
{
    struct cg_state *st = ctx;
    if (st->n_lines == CG_IODEV_MAX)
        return 0;
    if (st->n_lines == st->cap_lines) {
        size_t cap = st->cap_lines ? st->cap_lines * 2 : 8;
        struct cg_iodev *l = realloc(st->lines, cap * sizeof *l);
        if (!l)
            return -ENOMEM;
        st->lines = l;
        st->cap_lines = cap;
    }
    st->lines[st->n_lines++] =
        (struct cg_iodev){dev_key(d->major, d->minor), d->rbytes, d->wbytes, 0};
    return 0;
}

/* io.stat, read into st->buf: adds what the counted devices moved since the last reading to
 * c->io_sum and sends its rates. Per device rather than a sum of lines, so that a device that
 * starts or stops being counted (a stacked device appears above it) moves the sum by what it did
 * in the tick, not by its whole history. A counted device that went away or backwards (re-created)
 * skips one sample, as a reset counter does. Returns 0, or -ENOMEM. */
static int collect_io(struct pass *p)
{
    struct cg_state *st = p->st;
    struct cg *c = p->c;
    uint64_t add[2] = {0, 0};
    int reset = 0;

    st->n_lines = 0;
    int rc = vg_parse_cg_iostat_devs(st->buf.data, st->buf.len, st->path, add_line, st,
                                     p->first_rc ? NULL : p->err, p->errlen);
    if (rc == -ENOMEM || (rc == 0 && (rc = classify_lines(st, c)) < 0))
        return vg_err(p->err, p->errlen, rc, "cgroup: out of memory");
    if (rc < 0) {
        parse_failed(p, rc);
        return 0;
    }
    /* Both lists are sorted by device: one merge pairs each line with its previous reading. */
    const struct cg_iodev *l = st->lines, *old = c->io;
    size_t j = 0;
    for (size_t i = 0; i < st->n_lines; i++) {
        for (; j < c->n_io && old[j].dev < l[i].dev; j++)
            reset |= old[j].counted;
        int seen = j < c->n_io && old[j].dev == l[i].dev;
        if (l[i].counted && !seen) {
            /* New in io.stat: all it shows was done since the last reading. */
            add[0] += l[i].rbytes;
            add[1] += l[i].wbytes;
        } else if (l[i].counted && (l[i].rbytes < old[j].rbytes || l[i].wbytes < old[j].wbytes)) {
            reset = 1;
        } else if (l[i].counted) {
            add[0] += l[i].rbytes - old[j].rbytes;
            add[1] += l[i].wbytes - old[j].wbytes;
        }
        j += (size_t)seen;
    }
    for (; j < c->n_io; j++)
        reset |= old[j].counted;

    if (st->n_lines > c->cap_io) {
        struct cg_iodev *t = realloc(c->io, st->n_lines * sizeof *t);
        if (!t)
            return vg_err(p->err, p->errlen, -ENOMEM, "cgroup: out of memory");
        c->io = t;
        c->cap_io = st->n_lines;
    }
    if (st->n_lines)
        memcpy(c->io, st->lines, st->n_lines * sizeof *st->lines);
    c->n_io = st->n_lines;
    c->io_sum[0] += add[0];
    c->io_sum[1] += add[1];
    if (reset) {
        memset(&c->rate[R_RBYTES], 0, sizeof c->rate[R_RBYTES]);
        memset(&c->rate[R_WBYTES], 0, sizeof c->rate[R_WBYTES]);
    }
    if ((rc = emit_rate(p, R_RBYTES, c->io_sum[0], 1, "io_read_bytes_ps")) < 0)
        return rc;
    return emit_rate(p, R_WBYTES, c->io_sum[1], 1, "io_write_bytes_ps");
}

static int collect_one(struct pass *p)
{
    struct cg_state *st = p->st;
    struct cg *c = p->c;
    struct vg_procbuf *b = &st->buf;
    char *perr = p->first_rc ? NULL : p->err;
    ino_t ino = 0;
    uint64_t v[N_CPU_KEYS], have, x;
    int rc, is_max, opened;

    /* cpu.stat is a core file every cgroup has (4.15+): failing to open it means the cgroup is
     * gone, which is not an error (services stop), until the next scan drops it. */
    rc = cg_read(st, c, F_CPU_STAT, &opened, &ino, perr, p->errlen);
    const char *path = file_path(st, c, F_CPU_STAT);
    if (rc < 0) {
        if (!is_absent(rc) && !p->first_rc)
            p->first_rc = rc;
        c->gone = 1;
        close_held(st, c);
        return 0;
    }
    if (c->gone || (opened && c->ident != ino)) {
        /* A new cgroup at this path: nothing read from the old one may serve as a baseline, and
         * the old one's other files must not be read any more. */
        int keep = c->fd[F_CPU_STAT];
        c->fd[F_CPU_STAT] = -1;
        close_held(st, c);
        c->fd[F_CPU_STAT] = keep;
        memset(c->rate, 0, sizeof c->rate);
        c->n_io = 0;
        c->files = (1u << N_FILES) - 1;
        c->ident = ino;
        c->gone = 0;
    }
    rc = vg_parse_keyed(b->data, b->len, path, cpu_keys, N_CPU_KEYS, v, &have, perr, p->errlen);
    if (rc == 0 && !(have & (1u << K_USAGE)))
        rc = vg_err(perr, p->errlen, -EINVAL, "%s: no usage_usec", path);
    if (rc < 0) {
        parse_failed(p, rc);
    } else {
        /* usage in us per s, over 10000: percent of one CPU. */
        if ((rc = emit_rate(p, R_USAGE, v[K_USAGE], 10000, "cpu_pct")) < 0)
            return rc;
        if ((have & (1u << K_THROTTLED_US)) &&
            (rc = emit_rate(p, R_THROTTLED_US, v[K_THROTTLED_US], 1000, "cpu_throttled_ms_ps")) < 0)
            return rc;
        if ((have & (1u << K_NR_THROTTLED)) &&
            (rc = emit_rate(p, R_NR_THROTTLED, v[K_NR_THROTTLED], 1, "cpu_nr_throttled_ps")) < 0)
            return rc;
    }

    if (read_file(p, F_MEM_CURRENT)) {
        path = st->path;
        rc = vg_parse_cg_value(b->data, b->len, path, &x, &is_max, p->first_rc ? NULL : p->err,
                               p->errlen);
        if (rc == 0 && !is_max && (rc = emit(p, "memory_current_bytes", (double)x)) < 0)
            return rc;
        if (rc < 0)
            parse_failed(p, rc);
    }
    if (c->mem_max_set && (rc = emit(p, "memory_max_bytes", (double)c->mem_max)) < 0)
        return rc;

    if (read_file(p, F_MEM_EVENTS)) {
        rc = vg_parse_keyed(b->data, b->len, st->path, oom_key, 1, &x, &have,
                            p->first_rc ? NULL : p->err, p->errlen);
        if (rc < 0) {
            parse_failed(p, rc);
        } else if (have) {
            if ((rc = emit_rate(p, R_OOM_KILL, x, 1, "memory_oom_kill_ps")) < 0 ||
                (rc = emit(p, "memory_oom_kill", (double)x)) < 0)
                return rc;
        }
    }

    if (read_file(p, F_IO_STAT) && (rc = collect_io(p)) < 0)
        return rc;

    static const struct {
        int file;
        const char *suffix;
    } psi[] = {
        {F_CPU_PRESSURE, "psi_cpu_some_avg10"},
        {F_MEM_PRESSURE, "psi_memory_some_avg10"},
        {F_IO_PRESSURE, "psi_io_some_avg10"},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(psi); i++) {
        struct vg_psi_sample ps;
        if (!read_file(p, psi[i].file))
            continue;
        rc = vg_parse_psi(b->data, b->len, st->path, &ps, p->first_rc ? NULL : p->err, p->errlen);
        if (rc < 0)
            parse_failed(p, rc);
        else if ((rc = emit(p, psi[i].suffix, ps.avg10[VG_PSI_SOME])) < 0)
            return rc;
    }
    return 0;
}

/* ---- the collector ---- */

/* The most cgroup c can add to the message: every metric of the table, each at its longest
 * value. From its name alone, so that the same cgroups fit from tick to tick. */
static size_t cg_size_max(const struct cg_state *st, const struct cg *c)
{
    size_t n = VG_ARRAY_LEN(cg_metrics);
    return n * VG_WIRE_METRIC_SIZE_MAX(c->prefix_len) + st->suffix_bytes;
}

static void cg_fini(void *state)
{
    struct cg_state *st = state;
    if (!st)
        return;
    for (size_t i = 0; i < st->n; i++)
        cg_free(st, &st->cg[i]);
    free(st->cg);
    free(st->select);
    free(st->select_text);
    vg_procbuf_free(&st->buf);
    blk_clear(st);
    free(st->blk);
    free(st->lines);
    free(st);
}

/* 0 when dir is the root of a v2 hierarchy (or a cgroup in one), else -errno. */
static int is_v2_root(const char *dir)
{
    char p[PATH_MAX];
    int n = snprintf(p, sizeof p, "%s/cgroup.controllers", dir);
    if (n < 0 || (size_t)n >= sizeof p)
        return -ENAMETOOLONG;
    return access(p, F_OK) == 0 ? 0 : -errno;
}

static int find_root(struct cg_state *st, const struct vg_collector_cfg *cfg, char *err,
                     size_t errlen)
{
    char a[PATH_MAX], b[PATH_MAX];
    const char *root = cfg->cgroup_root;
    if (root && *root && strcmp(root, "auto") != 0) {
        if (strlen(root) >= sizeof st->root)
            return vg_err(err, errlen, -ENAMETOOLONG, "cgroup.root %s is too long", root);
        int rc = is_v2_root(root);
        if (rc < 0)
            return vg_err(err, errlen, rc,
                          "cgroup.root %s is not a cgroup v2 hierarchy (cannot find "
                          "%s/cgroup.controllers: %s)",
                          root, root, strerror(-rc));
        memcpy(st->root, root, strlen(root) + 1);
        return 0;
    }
    /* Unified hosts mount v2 at /sys/fs/cgroup; hybrid ones (systemd's default for years) mount
     * v1 controllers there and v2 at /sys/fs/cgroup/unified. */
    int rc = vg_proc_path(a, sizeof a, cfg->sys_root, "/sys", "fs/cgroup", err, errlen);
    if (rc == 0)
        rc = vg_proc_path(b, sizeof b, cfg->sys_root, "/sys", "fs/cgroup/unified", err, errlen);
    if (rc < 0)
        return rc;
    const char *found = is_v2_root(a) == 0 ? a : is_v2_root(b) == 0 ? b : NULL;
    if (!found)
        return vg_err(err, errlen, -ENOENT,
                      "no cgroup v2 hierarchy: neither %s nor %s has cgroup.controllers (set "
                      "cgroup.root if it is mounted elsewhere)",
                      a, b);
    memcpy(st->root, found, strlen(found) + 1);
    return 0;
}

static int cg_init(void **state, const struct vg_collector_cfg *cfg, char *err, size_t errlen)
{
    struct cg_state *st = calloc(1, sizeof *st);
    if (!st)
        return vg_err(err, errlen, -ENOMEM, "cgroup: out of memory");
    st->max = cfg->cgroup_max > 0 ? (size_t)cfg->cgroup_max : CG_DEFAULT_MAX;
    st->max_bytes = cfg->max_message_bytes;
    for (size_t i = 0; i < VG_ARRAY_LEN(cg_metrics); i++)
        st->suffix_bytes += strlen(cg_metrics[i].name) - strlen("cgroup.<cgroup>.");
    struct rlimit rl;
    st->fd_budget = CG_HELD_FDS_MAX;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur / 2 < st->fd_budget)
        st->fd_budget = (size_t)(rl.rlim_cur / 2);
    int rc = find_root(st, cfg, err, errlen);
    if (rc == 0)
        rc = vg_proc_path(st->sys_dev_block, sizeof st->sys_dev_block, cfg->sys_root, "/sys",
                          "dev/block", err, errlen);
    struct statfs sf;
    st->kernfs = rc == 0 && statfs(st->root, &sf) == 0 && sf.f_type == CG_CGROUP2_MAGIC;
    if (rc == 0)
        rc = parse_select(st, cfg->cgroup_select ? cfg->cgroup_select : CG_DEFAULT_SELECT, err,
                          errlen);
    if (rc == 0)
        rc = scan(st, err, errlen);
    /* At startup a selection that cannot be listed is worth failing for; later it is reported
     * each tick while it lasts. */
    if (rc == 0 && st->scan_rc < 0)
        rc = vg_err(err, errlen, st->scan_rc, "%s", st->scan_err);
    if (rc < 0) {
        cg_fini(st);
        return rc;
    }
    /* --check-config says what the selection finds here (none: said by scan already). */
    if (cfg->check && st->matched) {
        char q[512];
        vg_info("cgroup.select matches",
                "collector=cgroup root=%s select=%s matched=%zu reported=%zu", st->root,
                vg_log_quote(q, sizeof q, st->select_text), st->matched, st->n);
    }
    *state = st;
    return 0;
}

static int64_t (*scan_clock)(void) = vg_mono_ms;

void vg_cgroup_set_scan_clock(int64_t (*now_ms)(void))
{
    scan_clock = now_ms ? now_ms : vg_mono_ms;
}

static int cg_collect(void *state, int64_t now_ms, struct vg_wire_msg *out, char *err,
                      size_t errlen)
{
    struct cg_state *st = state;
    int rc;
    st->tick++;
    if (++st->ticks_since_scan >= CG_RESCAN_TICKS) {
        int64_t began = scan_clock();
        if ((rc = scan(st, err, errlen)) < 0)
            return rc;
        /* The files are read after the scan, which on a large tree takes tens of ms: stamped
         * with now_ms, the rescan tick's rates would be high by that much over the interval, and
         * the next tick's low. */
        now_ms += scan_clock() - began;
    }
    struct pass p = {st, NULL, now_ms, out, err, errlen, 0};
    /* Past the message's size limit Kafka would refuse the whole tick: the cgroups that do not
     * fit are left out, the last by name first, as cgroup.max leaves them. What the other
     * collectors sent varies from tick to tick (the busiest cgroups in eBPF maps, idle disks
     * left out), and budgeting against this tick's alone would have the last cgroup that fits
     * come and go with it. The largest of their bounds over the last CG_OTHERS_TICKS to twice as
     * many ticks is used instead: never less than this tick's, so the limit holds; a peak leaves
     * cgroups out at once, and they come back only after that many ticks without one. Two
     * windows' maxima stand in for a sliding maximum, which would keep every tick's; a decaying
     * maximum would let a cgroup back in between any two peaks further apart than its decay. */
    size_t used = 0, reported = st->n;
    if (st->max_bytes) {
        if (st->tick % CG_OTHERS_TICKS == 0) {
            st->others_max[1] = st->others_max[0];
            st->others_max[0] = 0;
        }
        used = vg_wire_msg_size_max(out);
        if (used > st->others_max[0])
            st->others_max[0] = used;
        used = st->others_max[0] > st->others_max[1] ? st->others_max[0] : st->others_max[1];
    }
    for (size_t i = 0; i < st->n; i++) {
        p.c = &st->cg[i];
        if (st->max_bytes && used + cg_size_max(st, p.c) > st->max_bytes) {
            reported = i;
            /* Not read while left out: when they fit again (60 to 120 ticks on), a rate against
             * the last reading would be the average over that gap, sent as this tick's. They
             * start over instead, skipping one sample. */
            for (size_t k = i; k < st->n; k++)
                memset(st->cg[k].rate, 0, sizeof st->cg[k].rate);
            break;
        }
        used += cg_size_max(st, p.c);
        if ((rc = collect_one(&p)) < 0)
            return rc;
    }
    if (p.first_rc)
        return p.first_rc;
    if (st->scan_rc)
        return vg_err(err, errlen, st->scan_rc, "%s", st->scan_err);
    if (reported < st->n) {
        char capped[96] = "";
        if (st->matched > st->n)
            snprintf(capped, sizeof capped, "%zu past cgroup.max (%zu) and ", st->matched - st->n,
                     st->max);
        return vg_err(err, errlen, -EMSGSIZE,
                      "cgroup: %zu cgroups match cgroup.select; the first %zu by name are "
                      "reported, %s%zu left out to keep the message within %zu bytes "
                      "(docs/wire-format.md)",
                      st->matched, reported, capped, st->n - reported, st->max_bytes);
    }
    if (st->matched > st->max)
        return vg_err(err, errlen, -ENOSPC,
                      "cgroup: %zu cgroups under %s match cgroup.select, more than cgroup.max "
                      "(%zu): the first %zu by name are reported",
                      st->matched, st->root, st->max, st->max);
    return 0;
}

const struct vg_collector vg_collector_cgroup = {
    .name = "cgroup",
    .help = "Resource use of selected cgroups, from the cgroup v2 hierarchy (cgroup.root; on "
            "hybrid hosts /sys/fs/cgroup/unified, where only controllers not bound to v1 give "
            "their files). cgroup.select picks the cgroups, as globs of paths below the root; "
            "the tree is scanned again every 10 ticks, so new cgroups appear and removed ones "
            "go. A selection that matches no cgroup is logged (`cgroup.select matches no "
            "cgroup`) at the start and whenever the count falls to 0, and again when cgroups "
            "match once more; `--check-config` logs how many it matches. `<cgroup>` is the "
            "cgroup's path below the root with '/' written '.', other "
            "characters outside [A-Za-z0-9_.:-] written '_', and a path longer than 120 bytes "
            "cut to its last 119 after a '_'; of two paths that come out alike only the one "
            "first in byte order is sent. A metric whose file the kernel does not provide for that "
            "cgroup "
            "(controller not enabled, older kernel) is not sent. A cgroup that is removed and "
            "created again (a restarted service) starts its rates over. Cgroups past cgroup.max, "
            "and those that would take the tick's message past the size Kafka takes (each counted "
            "at its longest, beside the most the other collectors sent over the last 60 to 120 "
            "ticks, so that the same ones are sent every tick; docs/wire-format.md), are left "
            "out, the last by name first, and the log says how many; one left out starts its rates "
            "over when it fits again, so its first value after the gap is not an average over it.",
    .metrics = cg_metrics,
    .n_metrics = VG_ARRAY_LEN(cg_metrics),
    .init = cg_init,
    .collect = cg_collect,
    .fini = cg_fini,
    .keeps_within = 1,
};
