/* Collectors run over fixture trees (tests/data/proc, tests/data/cgroup) and the live host.
 *
 * Each fixture test copies one tree into a scratch proc root per tick (basic-1, then basic-2...),
 * so counters advance exactly as written in the fixtures; ticks are 2 s apart so every expected
 * value below is exact in binary floating point. Cgroup trees are copied into <scratch>/cg file
 * by file, rewriting files in place, so that a cgroup keeps its inodes from tick to tick as it
 * does in the kernel.
 *
 * Run with --write-metrics-md PATH to regenerate docs/metrics.md, or with --cost [SELECT] to
 * print what each collector costs per tick on this host (SELECT: cgroup.select to use).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "proc_parse.h"
#include "proc_read.h"
#include "vg_collector.h"
#include "vg_devtab.h"
#include "vg_util.h"
#include "vg_wire.h"

#define FIXTURES   VG_TEST_DATA "/proc"
#define CGFIXTURES VG_TEST_DATA "/cgroup"
#define SYSFS      FIXTURES "/sysfs"
#define T0         1000000
#define TICK       2000

/* Every file a collector reads, relative to the proc root. */
static const char *const proc_files[] = {
    "stat",         "meminfo",         "loadavg",        "diskstats",      "net/dev",
    "vmstat",       "pressure/cpu",    "pressure/io",    "net/snmp",       "net/netstat",
    "net/sockstat", "pressure/memory", "sys/fs/file-nr", "self/mountinfo",
};

struct run {
    char root[64];    /* scratch proc root */
    char cgroot[128]; /* scratch cgroup root, <root>/cg, made by the cgroup tests */
    struct vg_collector_cfg cfg;
    const struct vg_collector *c;
    void *state;
    struct vg_wire_msg msg;
    char err[VG_ERRLEN];
};

/* ---- scratch trees ---- */

static void write_file(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void put(struct run *r, const char *rel, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", r->root, rel);
    write_file(path, text, strlen(text));
}

/* Creates every missing directory above path. */
static void make_parents(const char *path)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
            fail_msg("mkdir %s: %s", dir, strerror(errno));
        *p = '/';
    }
}

/* Copies file src to dst, rewriting dst in place when it exists. Returns 0, or -1 when src does
 * not exist. */
static int copy_file(const char *src, const char *dst)
{
    FILE *f = fopen(src, "rb");
    if (!f)
        return -1;
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf, f);
    assert_true(feof(f));
    fclose(f);
    make_parents(dst);
    write_file(dst, buf, n);
    return 0;
}

/* Makes the scratch root hold exactly the files fixture tree `tree` has. */
static void load_tree(struct run *r, const char *tree)
{
    for (size_t i = 0; i < VG_ARRAY_LEN(proc_files); i++) {
        char src[512], dst[256];
        snprintf(src, sizeof src, "%s/%s/%s", FIXTURES, tree, proc_files[i]);
        snprintf(dst, sizeof dst, "%s/%s", r->root, proc_files[i]);
        if (copy_file(src, dst) < 0)
            unlink(dst);
    }
}

/* nftw passes no context: the tree being synced. */
static char g_sync_src[512], g_sync_dst[512];

static int sync_copy(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    char dst[1024];
    snprintf(dst, sizeof dst, "%s%s", g_sync_dst, path + strlen(g_sync_src));
    if (flag == FTW_D && mkdir(dst, 0755) < 0 && errno != EEXIST)
        fail_msg("mkdir %s: %s", dst, strerror(errno));
    if (flag == FTW_F)
        copy_file(path, dst);
    return 0;
}

static int sync_prune(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    char src[1024];
    struct stat st;
    snprintf(src, sizeof src, "%s%s", g_sync_src, path + strlen(g_sync_dst));
    if (lstat(src, &st) < 0)
        remove(path);
    return 0;
}

/* Makes the scratch cgroup root hold exactly cgroup fixture tree `tree`. */
static void load_cgroups(struct run *r, const char *tree)
{
    snprintf(g_sync_src, sizeof g_sync_src, "%s/%s", CGFIXTURES, tree);
    snprintf(g_sync_dst, sizeof g_sync_dst, "%s", r->cgroot);
    assert_int_equal(nftw(g_sync_src, sync_copy, 16, FTW_PHYS), 0);
    assert_int_equal(nftw(g_sync_dst, sync_prune, 16, FTW_PHYS | FTW_DEPTH), 0);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void run_setup(struct run *r, const char *collector, const char *sys_root)
{
    memset(r, 0, sizeof *r);
    snprintf(r->root, sizeof r->root, "/tmp/vg-coll-XXXXXX");
    assert_non_null(mkdtemp(r->root));
    char net[128];
    snprintf(net, sizeof net, "%s/net", r->root);
    assert_int_equal(mkdir(net, 0755), 0);
    r->cfg.proc_root = r->root;
    r->cfg.sys_root = sys_root;
    snprintf(r->cgroot, sizeof r->cgroot, "%s/cg", r->root);
    r->cfg.cgroup_root = r->cgroot;
    r->c = vg_collector_find(collector);
    assert_non_null(r->c);
    vg_wire_msg_init(&r->msg);
}

static void run_teardown(struct run *r)
{
    if (r->state)
        r->c->fini(r->state);
    vg_wire_msg_free(&r->msg);
    nftw(r->root, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static int run_init(struct run *r)
{
    r->err[0] = '\0';
    return r->c->init(&r->state, &r->cfg, r->err, sizeof r->err);
}

static int run_tick(struct run *r, int64_t now_ms)
{
    vg_wire_msg_reset(&r->msg);
    r->err[0] = '\0';
    return r->c->collect(r->state, now_ms, &r->msg, r->err, sizeof r->err);
}

/* Sets up collector over fixture trees a then b, one tick each; the message holds tick b's. */
static void run_two(struct run *r, const char *collector, const char *sys_root, const char *a,
                    const char *b)
{
    run_setup(r, collector, sys_root);
    load_tree(r, a);
    assert_int_equal(run_init(r), 0);
    assert_int_equal(run_tick(r, T0), 0);
    load_tree(r, b);
    int rc = run_tick(r, T0 + TICK);
    if (rc != 0)
        fail_msg("collect: %d %s", rc, r->err);
}

/* ---- looking at the message ---- */

static const struct vg_metric *find(const struct vg_wire_msg *m, const char *name)
{
    for (size_t i = 0; i < m->n_metrics; i++)
        if (strcmp(m->metrics[i].name, name) == 0)
            return &m->metrics[i];
    return NULL;
}

#define assert_metric(m, name, expected) check_metric(m, name, expected, __FILE__, __LINE__)
static void check_metric(const struct vg_wire_msg *m, const char *name, double expected,
                         const char *file, int line)
{
    const struct vg_metric *v = find(m, name);
    if (!v)
        fail_msg("%s:%d: %s missing", file, line, name);
    if (v->value != expected)
        fail_msg("%s:%d: %s = %.17g, expected %.17g", file, line, name, v->value, expected);
}

#define assert_no_metric(m, name) check_no_metric(m, name, __FILE__, __LINE__)
static void check_no_metric(const struct vg_wire_msg *m, const char *name, const char *file,
                            int line)
{
    if (find(m, name))
        fail_msg("%s:%d: %s present, expected absent", file, line, name);
}

static size_t count_prefix(const struct vg_wire_msg *m, const char *prefix)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_metrics; i++)
        n += strncmp(m->metrics[i].name, prefix, strlen(prefix)) == 0;
    return n;
}

/* ---- cpu ---- */

static void cpu_first_tick_sends_only_gauges(void **unused)
{
    struct run r;
    run_setup(&r, "cpu", SYSFS);
    load_tree(&r, "basic-1");
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    assert_int_equal(r.msg.n_metrics, 2);
    assert_metric(&r.msg, "cpu.procs_running", 3);
    assert_metric(&r.msg, "cpu.procs_blocked", 1);
    run_teardown(&r);
}

static void cpu_shares_and_rates_over_two_ticks(void **unused)
{
    struct run r;
    run_two(&r, "cpu", SYSFS, "basic-1", "basic-2");
    assert_metric(&r.msg, "cpu.user_pct", 10);
    assert_metric(&r.msg, "cpu.nice_pct", 2);
    assert_metric(&r.msg, "cpu.system_pct", 5);
    assert_metric(&r.msg, "cpu.idle_pct", 80);
    assert_metric(&r.msg, "cpu.iowait_pct", 1);
    assert_metric(&r.msg, "cpu.irq_pct", 0.5);
    assert_metric(&r.msg, "cpu.softirq_pct", 0.5);
    assert_metric(&r.msg, "cpu.steal_pct", 1);
    assert_metric(&r.msg, "cpu.ctxt_ps", 5000);
    assert_metric(&r.msg, "cpu.intr_ps", 3000);
    assert_metric(&r.msg, "cpu.forks_ps", 10);
    assert_metric(&r.msg, "cpu.procs_running", 5);
    assert_metric(&r.msg, "cpu.procs_blocked", 0);
    assert_int_equal(r.msg.n_metrics, 13);
    run_teardown(&r);
}

static void cpu_without_elapsed_jiffies_sends_no_shares(void **unused)
{
    struct run r;
    run_two(&r, "cpu", SYSFS, "basic-1", "basic-1");
    assert_int_equal(count_prefix(&r.msg, "cpu.") - count_prefix(&r.msg, "cpu.procs_"), 3);
    assert_no_metric(&r.msg, "cpu.idle_pct");
    assert_metric(&r.msg, "cpu.ctxt_ps", 0);
    run_teardown(&r);
}

static void cpu_old_kernel_with_seven_columns(void **unused)
{
    struct run r;
    run_two(&r, "cpu", SYSFS, "old-1", "old-2");
    assert_metric(&r.msg, "cpu.user_pct", 20);
    assert_metric(&r.msg, "cpu.nice_pct", 0);
    assert_metric(&r.msg, "cpu.system_pct", 10);
    assert_metric(&r.msg, "cpu.idle_pct", 60);
    assert_metric(&r.msg, "cpu.iowait_pct", 10);
    assert_metric(&r.msg, "cpu.irq_pct", 0);
    assert_metric(&r.msg, "cpu.softirq_pct", 0);
    assert_metric(&r.msg, "cpu.steal_pct", 0);
    assert_metric(&r.msg, "cpu.ctxt_ps", 300);
    assert_metric(&r.msg, "cpu.intr_ps", 200);
    assert_metric(&r.msg, "cpu.forks_ps", 2);
    run_teardown(&r);
}

static void cpu_counter_going_back_is_not_negative(void **unused)
{
    struct run r;
    run_two(&r, "cpu", SYSFS, "reset-1", "reset-2");
    /* iowait stepped back by 10 while idle went up by 790: the kernel moved 10 jiffies of
     * iowait to idle, so 780 idle jiffies elapsed of 990 in all, and none of iowait. */
    assert_metric(&r.msg, "cpu.user_pct", 100.0 * 100 / 990);
    assert_metric(&r.msg, "cpu.system_pct", 100.0 * 100 / 990);
    assert_metric(&r.msg, "cpu.idle_pct", 100.0 * 780 / 990);
    assert_metric(&r.msg, "cpu.iowait_pct", 0);
    assert_metric(&r.msg, "cpu.irq_pct", 100.0 * 5 / 990);
    assert_metric(&r.msg, "cpu.softirq_pct", 100.0 * 5 / 990);
    assert_no_metric(&r.msg, "cpu.ctxt_ps");
    assert_metric(&r.msg, "cpu.intr_ps", 1000);
    /* The stat file of this fixture has no procs_* lines: they are simply not sent. */
    assert_no_metric(&r.msg, "cpu.procs_running");
    run_teardown(&r);
}

/* Idle went down by 50 (a CPU went offline and its counters changed source): no share is
 * sent that tick, rather than 0 % idle on an idle host; rates still are. Per CPU, the CPU
 * whose idle went down sends nothing, the other its shares. */
static void cpu_idle_going_back_sends_no_shares_that_tick(void **unused)
{
    struct run r;
    run_setup(&r, "cpu", SYSFS);
    r.cfg.cpu_per_cpu = 1;
    load_tree(&r, "hotplug-1");
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    load_tree(&r, "hotplug-2");
    assert_int_equal(run_tick(&r, T0 + TICK), 0);
    assert_no_metric(&r.msg, "cpu.idle_pct");
    assert_no_metric(&r.msg, "cpu.user_pct");
    assert_no_metric(&r.msg, "cpu.1.idle_pct");
    assert_metric(&r.msg, "cpu.0.user_pct", 100.0 * 20 / 121);
    assert_metric(&r.msg, "cpu.0.idle_pct", 100.0 * 90 / 121);
    assert_metric(&r.msg, "cpu.ctxt_ps", 300);
    run_teardown(&r);
}

/* ---- mem ---- */

static void mem_values_in_bytes(void **unused)
{
    struct run r;
    run_setup(&r, "mem", SYSFS);
    load_tree(&r, "basic-1");
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    assert_metric(&r.msg, "mem.total_bytes", 8000000.0 * 1024);
    assert_metric(&r.msg, "mem.free_bytes", 2000000.0 * 1024);
    assert_metric(&r.msg, "mem.available_bytes", 6000000.0 * 1024);
    assert_metric(&r.msg, "mem.buffers_bytes", 100000.0 * 1024);
    assert_metric(&r.msg, "mem.cached_bytes", 3000000.0 * 1024);
    assert_metric(&r.msg, "mem.used_pct", 25);
    assert_metric(&r.msg, "mem.swap_total_bytes", 2000000.0 * 1024);
    assert_metric(&r.msg, "mem.swap_free_bytes", 1500000.0 * 1024);
    assert_metric(&r.msg, "mem.dirty_bytes", 1234.0 * 1024);
    assert_int_equal(r.msg.n_metrics, 9);
    load_tree(&r, "basic-2");
    assert_int_equal(run_tick(&r, T0 + TICK), 0);
    assert_metric(&r.msg, "mem.used_pct", 50);
    run_teardown(&r);
}

static void mem_old_kernel_estimates_available(void **unused)
{
    struct run r;
    run_two(&r, "mem", SYSFS, "old-1", "old-2");
    assert_metric(&r.msg, "mem.available_bytes", 2000000.0 * 1024);
    assert_metric(&r.msg, "mem.used_pct", 50);
    run_teardown(&r);
}

static void mem_available_above_total_is_zero_used(void **unused)
{
    struct run r;
    run_setup(&r, "mem", SYSFS);
    put(&r, "meminfo", "MemTotal: 1000 kB\nMemFree: 900 kB\nMemAvailable: 1001 kB\n");
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    assert_metric(&r.msg, "mem.used_pct", 0);
    assert_metric(&r.msg, "mem.available_bytes", 1001.0 * 1024);
    assert_no_metric(&r.msg, "mem.dirty_bytes");
    run_teardown(&r);
}

/* ---- load ---- */

static void load_values(void **unused)
{
    struct run r;
    run_setup(&r, "load", SYSFS);
    load_tree(&r, "basic-1");
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    assert_metric(&r.msg, "load.1m", 0.42);
    assert_metric(&r.msg, "load.5m", 0.30);
    assert_metric(&r.msg, "load.15m", 0.25);
    assert_metric(&r.msg, "load.runnable", 2);
    assert_metric(&r.msg, "load.threads", 345);
    load_tree(&r, "basic-2");
    assert_int_equal(run_tick(&r, T0 + TICK), 0);
    assert_metric(&r.msg, "load.1m", 1.5);
    assert_metric(&r.msg, "load.threads", 350);
    run_teardown(&r);
}

/* ---- disk ---- */

static void disk_rates_over_two_ticks(void **unused)
{
    struct run r;
    run_two(&r, "disk", SYSFS, "basic-1", "basic-2");
    assert_metric(&r.msg, "disk.sda.reads_ps", 50);
    assert_metric(&r.msg, "disk.sda.writes_ps", 150);
    assert_metric(&r.msg, "disk.sda.read_bytes_ps", 1000.0 * 512);
    assert_metric(&r.msg, "disk.sda.write_bytes_ps", 3000.0 * 512);
    assert_metric(&r.msg, "disk.sda.util_pct", 50);
    assert_metric(&r.msg, "disk.sda.await_ms", 4);
    assert_metric(&r.msg, "disk.sda.queue_time_ms_ps", 1500);
    /* An idle device: zero rates, and await 0 rather than 0/0. */
    assert_metric(&r.msg, "disk.nvme0n1.reads_ps", 0);
    assert_metric(&r.msg, "disk.nvme0n1.util_pct", 0);
    assert_metric(&r.msg, "disk.nvme0n1.await_ms", 0);
    /* "cciss/c0d0" is cciss!c0d0 in sysfs and cciss_c0d0 in metric names. */
    assert_metric(&r.msg, "disk.cciss_c0d0.reads_ps", 10);
    assert_metric(&r.msg, "disk.cciss_c0d0.read_bytes_ps", 100.0 * 512);
    assert_metric(&r.msg, "disk.cciss_c0d0.await_ms", 1);
    assert_metric(&r.msg, "disk.cciss_c0d0.util_pct", 1);
    assert_int_equal(r.msg.n_metrics, 3 * 7);
    /* Left out: loop and RAM disks, partitions, a device that never did I/O. */
    assert_int_equal(count_prefix(&r.msg, "disk.loop0."), 0);
    assert_int_equal(count_prefix(&r.msg, "disk.ram0."), 0);
    assert_int_equal(count_prefix(&r.msg, "disk.sda1."), 0);
    assert_int_equal(count_prefix(&r.msg, "disk.nvme0n1p1."), 0);
    assert_int_equal(count_prefix(&r.msg, "disk.cciss_c0d0p1."), 0);
    assert_int_equal(count_prefix(&r.msg, "disk.sr0."), 0);
    run_teardown(&r);
}

static void disk_keeps_partitions_without_sysfs(void **unused)
{
    struct run r;
    run_two(&r, "disk", "/nonexistent-vigil-sys", "basic-1", "basic-2");
    assert_metric(&r.msg, "disk.sda1.reads_ps", 50);
    assert_int_equal(count_prefix(&r.msg, "disk.nvme0n1p1."), 7);
    assert_int_equal(count_prefix(&r.msg, "disk.loop0."), 0);
    run_teardown(&r);
}

static void disk_32bit_millisecond_fields_wrap(void **unused)
{
    struct run r;
    run_two(&r, "disk", SYSFS, "wrap-a", "wrap-b");
    assert_metric(&r.msg, "disk.sdb.reads_ps", 100);
    assert_metric(&r.msg, "disk.sdb.util_pct", 50);
    assert_metric(&r.msg, "disk.sdb.await_ms", 2);
    assert_metric(&r.msg, "disk.sdb.queue_time_ms_ps", 1000);
    run_teardown(&r);
}

static void disk_old_kernel_14_fields(void **unused)
{
    struct run r;
    run_two(&r, "disk", SYSFS, "old-1", "old-2");
    assert_metric(&r.msg, "disk.hda.reads_ps", 100);
    assert_metric(&r.msg, "disk.hda.writes_ps", 100);
    assert_metric(&r.msg, "disk.hda.read_bytes_ps", 800.0 * 512);
    assert_metric(&r.msg, "disk.hda.write_bytes_ps", 800.0 * 512);
    assert_metric(&r.msg, "disk.hda.util_pct", 30);
    assert_metric(&r.msg, "disk.hda.await_ms", 3);
    assert_metric(&r.msg, "disk.hda.queue_time_ms_ps", 800);
    /* hda1 is printed in the 4-counter partition format of early 2.6 kernels. */
    assert_int_equal(count_prefix(&r.msg, "disk.hda1."), 0);
    run_teardown(&r);
}

static void disk_util_is_capped_at_100(void **unused)
{
    struct run r;
    run_setup(&r, "disk", SYSFS);
    put(&r, "diskstats", "8 0 sda 1 0 8 1 0 0 0 0 0 100 100\n");
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    put(&r, "diskstats", "8 0 sda 2 0 16 2 0 0 0 0 0 2200 2200\n");
    assert_int_equal(run_tick(&r, T0 + TICK), 0);
    assert_metric(&r.msg, "disk.sda.util_pct", 100);
    run_teardown(&r);
}

/* A disk re-created under the same name between two ticks (LVM snapshot, reused dm minor, iSCSI
 * relogin) restarts every counter. The 32-bit millisecond ones, taken alone, read as a wrap when
 * the old value was at or above 2^31, so only the 64-bit ones going back can tell the reset; it
 * must then cost the whole device one sample, and the tick after must be exact. */
static void disk_recreated_device_resets_every_counter(void **unused)
{
    struct run r;
    run_setup(&r, "disk", SYSFS);
    put(&r, "diskstats",
        "8 16 sdb 90000000 100 7200000000 2000000000 50000000 100 4000000000 2100000000 0 "
        "3000000000 4100000000 0 0 0 0 100 50\n");
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    put(&r, "diskstats",
        "8 16 sdb 90001000 100 7200080000 2000001000 50001000 100 4000080000 2100001000 0 "
        "3000001000 4100002000 0 0 0 0 100 50\n");
    assert_int_equal(run_tick(&r, T0 + TICK), 0);
    assert_metric(&r.msg, "disk.sdb.util_pct", 50);
    assert_metric(&r.msg, "disk.sdb.queue_time_ms_ps", 1000);

    put(&r, "diskstats", "8 16 sdb 500 0 40000 300 200 0 16000 100 0 700 400 0 0 0 0 0 0\n");
    assert_int_equal(run_tick(&r, T0 + 2 * TICK), 0);
    assert_int_equal(count_prefix(&r.msg, "disk.sdb."), 0);

    put(&r, "diskstats", "8 16 sdb 700 0 41600 500 400 0 17600 300 0 1700 1400 0 0 0 0 0 0\n");
    assert_int_equal(run_tick(&r, T0 + 3 * TICK), 0);
    assert_metric(&r.msg, "disk.sdb.reads_ps", 100);
    assert_metric(&r.msg, "disk.sdb.writes_ps", 100);
    assert_metric(&r.msg, "disk.sdb.read_bytes_ps", 800.0 * 512);
    assert_metric(&r.msg, "disk.sdb.write_bytes_ps", 800.0 * 512);
    assert_metric(&r.msg, "disk.sdb.util_pct", 50);
    assert_metric(&r.msg, "disk.sdb.await_ms", 1);
    assert_metric(&r.msg, "disk.sdb.queue_time_ms_ps", 500);
    run_teardown(&r);
}

/* ---- net ---- */

static void net_rates_over_two_ticks(void **unused)
{
    struct run r;
    run_two(&r, "net", SYSFS, "basic-1", "basic-2");
    assert_metric(&r.msg, "net.eth0.rx_bytes_ps", 1000000);
    assert_metric(&r.msg, "net.eth0.tx_bytes_ps", 500000);
    assert_metric(&r.msg, "net.eth0.rx_packets_ps", 1000);
    assert_metric(&r.msg, "net.eth0.tx_packets_ps", 800);
    assert_metric(&r.msg, "net.eth0.rx_errs_ps", 1);
    assert_metric(&r.msg, "net.eth0.tx_errs_ps", 0);
    assert_metric(&r.msg, "net.eth0.rx_drop_ps", 2);
    assert_metric(&r.msg, "net.eth0.tx_drop_ps", 1);
    assert_metric(&r.msg, "net.eth0.100.rx_bytes_ps", 100);
    assert_metric(&r.msg, "net.eth0.100.tx_packets_ps", 2);
    assert_metric(&r.msg, "net.we_rd.rx_bytes_ps", 1000);
    assert_int_equal(count_prefix(&r.msg, "net.lo."), 0);
    assert_int_equal(r.msg.n_metrics, 3 * 8);
    run_teardown(&r);
}

static void net_64bit_wrap_unfolded_and_32bit_wrap_skipped(void **unused)
{
    struct run r;
    run_two(&r, "net", SYSFS, "wrap-a", "wrap-b");
    assert_metric(&r.msg, "net.eth0.rx_bytes_ps", 1000);
    assert_metric(&r.msg, "net.eth0.rx_packets_ps", 10);
    /* tx_bytes went from 2^32 - 296 to 1000: read as 64-bit that is a reset, not a rate. */
    assert_no_metric(&r.msg, "net.eth0.tx_bytes_ps");
    assert_metric(&r.msg, "net.eth0.tx_packets_ps", 10);
    run_teardown(&r);
}

static void net_old_kernel_counter_against_colon(void **unused)
{
    struct run r;
    run_two(&r, "net", SYSFS, "old-1", "old-2");
    assert_metric(&r.msg, "net.eth0.rx_bytes_ps", 50000);
    assert_metric(&r.msg, "net.eth0.rx_packets_ps", 100);
    assert_metric(&r.msg, "net.eth0.tx_bytes_ps", 50000);
    assert_metric(&r.msg, "net.eth0.tx_packets_ps", 100);
    run_teardown(&r);
}

#define NETHDR                                                                                     \
    "Inter-|   Receive                                                |  Transmit\n"               \
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "     \
    "drop fifo colls carrier compressed\n"
#define NETLINE(name, rx) name ": " #rx " 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"

static void net_interfaces_come_and_go(void **unused)
{
    struct run r;
    run_setup(&r, "net", SYSFS);
    put(&r, "net/dev", NETHDR NETLINE("eth0", 1000));
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    /* veth1 appears before eth0: eth0 keeps its baseline, veth1 has none yet. */
    put(&r, "net/dev", NETHDR NETLINE("veth1", 500) NETLINE("eth0", 3000));
    assert_int_equal(run_tick(&r, T0 + TICK), 0);
    assert_metric(&r.msg, "net.eth0.rx_bytes_ps", 1000);
    assert_int_equal(count_prefix(&r.msg, "net.veth1."), 0);
    /* eth0 is gone; veth1 now has a rate. */
    put(&r, "net/dev", NETHDR NETLINE("veth1", 700));
    assert_int_equal(run_tick(&r, T0 + 2 * TICK), 0);
    assert_metric(&r.msg, "net.veth1.rx_bytes_ps", 100);
    assert_int_equal(count_prefix(&r.msg, "net.eth0."), 0);
    /* eth0 back: it may be another interface, so it starts over. */
    put(&r, "net/dev", NETHDR NETLINE("veth1", 700) NETLINE("eth0", 9000));
    assert_int_equal(run_tick(&r, T0 + 4 * TICK), 0);
    assert_int_equal(count_prefix(&r.msg, "net.eth0."), 0);
    put(&r, "net/dev", NETHDR NETLINE("veth1", 700) NETLINE("eth0", 11000));
    assert_int_equal(run_tick(&r, T0 + 5 * TICK), 0);
    assert_metric(&r.msg, "net.eth0.rx_bytes_ps", 1000);
    run_teardown(&r);
}

/* A container's veth removed and another created under the same name a tick later has counters
 * of its own: compared with the old one's, a counter that went up by terabytes read as a spike.
 * The name missing for a tick starts over and skips one sample. */
static void net_name_reused_after_a_gap_skips_a_sample(void **unused)
{
    struct run r;
    run_setup(&r, "net", SYSFS);
    put(&r, "net/dev", NETHDR NETLINE("eth0", 1000));
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    put(&r, "net/dev", NETHDR NETLINE("eth0", 2000));
    assert_int_equal(run_tick(&r, T0 + TICK), 0);
    assert_metric(&r.msg, "net.eth0.rx_bytes_ps", 500);
    put(&r, "net/dev", NETHDR NETLINE("eth1", 10));
    assert_int_equal(run_tick(&r, T0 + 2 * TICK), 0);
    put(&r, "net/dev", NETHDR NETLINE("eth1", 20) NETLINE("eth0", 5000000000000));
    assert_int_equal(run_tick(&r, T0 + 3 * TICK), 0);
    assert_no_metric(&r.msg, "net.eth0.rx_bytes_ps");
    assert_metric(&r.msg, "net.eth1.rx_bytes_ps", 5);
    put(&r, "net/dev", NETHDR NETLINE("eth1", 30) NETLINE("eth0", 5000000004000));
    assert_int_equal(run_tick(&r, T0 + 4 * TICK), 0);
    assert_metric(&r.msg, "net.eth0.rx_bytes_ps", 2000);
    run_teardown(&r);
}

static void net_names_that_sanitise_alike_are_sent_once_and_said(void **unused)
{
    struct run r;
    run_setup(&r, "net", SYSFS);
    put(&r, "net/dev", NETHDR NETLINE("a%b", 1000) NETLINE("a#b", 5000));
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), -EEXIST);
    put(&r, "net/dev", NETHDR NETLINE("a%b", 3000) NETLINE("a#b", 9000) NETLINE("a&b", 1));
    assert_int_equal(run_tick(&r, T0 + TICK), -EEXIST);
    assert_int_equal(count_prefix(&r.msg, "net.a_b.rx_bytes_ps"), 1);
    assert_metric(&r.msg, "net.a_b.rx_bytes_ps", 1000);
    /* The ones left out are said, not dropped without a word. */
    if (!strstr(r.err, "2 interfaces left out") || !strstr(r.err, "'a#b', as net.a_b"))
        fail_msg("err: %s", r.err);
    run_teardown(&r);
}

static void disk_names_that_sanitise_alike_are_sent_once_and_said(void **unused)
{
    struct run r;
    run_setup(&r, "disk", SYSFS);
    put(&r, "diskstats",
        "8 0 sda 1 0 8 1 0 0 0 0 0 100 100\n"
        "104 0 cciss/c0d0 1 0 8 1 0 0 0 0 0 100 100\n"
        "104 1 cciss_c0d0 1 0 8 1 0 0 0 0 0 100 100\n");
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), -EEXIST);
    put(&r, "diskstats",
        "8 0 sda 2 0 16 2 0 0 0 0 0 200 200\n"
        "104 0 cciss/c0d0 3 0 8 1 0 0 0 0 0 100 100\n"
        "104 1 cciss_c0d0 9 0 8 1 0 0 0 0 0 100 100\n");
    assert_int_equal(run_tick(&r, T0 + TICK), -EEXIST);
    assert_metric(&r.msg, "disk.cciss_c0d0.reads_ps", 1);
    assert_metric(&r.msg, "disk.sda.reads_ps", 0.5);
    if (!strstr(r.err, "1 device left out") || !strstr(r.err, "'cciss_c0d0', as disk.cciss_c0d0"))
        fail_msg("err: %s", r.err);
    run_teardown(&r);
}

/* ---- cpu per CPU ---- */

#define STATLINE(cpu, user, idle) cpu " " #user " 0 0 " #idle " 0 0 0 0 0 0\n"

static void cpu_per_cpu_off_by_default(void **unused)
{
    struct run r;
    run_two(&r, "cpu", SYSFS, "basic-1", "basic-2");
    assert_int_equal(count_prefix(&r.msg, "cpu.0."), 0);
    assert_int_equal(count_prefix(&r.msg, "cpu.1."), 0);
    run_teardown(&r);
}

static void cpu_per_cpu_shares_over_two_ticks(void **unused)
{
    struct run r;
    run_setup(&r, "cpu", SYSFS);
    r.cfg.cpu_per_cpu = 1;
    /* CPU 2 is offline: the kernel prints no line for it. */
    put(&r, "stat",
        STATLINE("cpu", 300, 900) STATLINE("cpu0", 100, 300) STATLINE("cpu1", 100, 300)
            STATLINE("cpu3", 100, 300));
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    assert_int_equal(count_prefix(&r.msg, "cpu.0."), 0);
    put(&r, "stat",
        STATLINE("cpu", 525, 1375) STATLINE("cpu0", 200, 300) STATLINE("cpu1", 125, 375)
            STATLINE("cpu3", 200, 700));
    assert_int_equal(run_tick(&r, T0 + TICK), 0);
    assert_metric(&r.msg, "cpu.user_pct", 100.0 * 225 / 700);
    assert_metric(&r.msg, "cpu.0.user_pct", 100);
    assert_metric(&r.msg, "cpu.0.idle_pct", 0);
    assert_metric(&r.msg, "cpu.1.user_pct", 25);
    assert_metric(&r.msg, "cpu.1.idle_pct", 75);
    assert_metric(&r.msg, "cpu.1.steal_pct", 0);
    assert_metric(&r.msg, "cpu.3.user_pct", 20);
    assert_metric(&r.msg, "cpu.3.idle_pct", 80);
    assert_int_equal(count_prefix(&r.msg, "cpu.0."), 8);
    assert_int_equal(count_prefix(&r.msg, "cpu.2."), 0);
    run_teardown(&r);
}

static void cpu_per_cpu_offline_cpu_skips_one_tick(void **unused)
{
    struct run r;
    run_setup(&r, "cpu", SYSFS);
    r.cfg.cpu_per_cpu = 1;
    put(&r, "stat",
        STATLINE("cpu", 200, 200) STATLINE("cpu0", 100, 100) STATLINE("cpu1", 100, 100));
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    /* CPU 1 goes offline... */
    put(&r, "stat", STATLINE("cpu", 300, 200) STATLINE("cpu0", 200, 100));
    assert_int_equal(run_tick(&r, T0 + TICK), 0);
    assert_metric(&r.msg, "cpu.0.user_pct", 100);
    assert_int_equal(count_prefix(&r.msg, "cpu.1."), 0);
    /* ...and comes back: its last reading is two ticks old, so it waits one tick. */
    put(&r, "stat",
        STATLINE("cpu", 400, 300) STATLINE("cpu0", 300, 100) STATLINE("cpu1", 100, 200));
    assert_int_equal(run_tick(&r, T0 + 2 * TICK), 0);
    assert_int_equal(count_prefix(&r.msg, "cpu.1."), 0);
    put(&r, "stat",
        STATLINE("cpu", 500, 400) STATLINE("cpu0", 400, 100) STATLINE("cpu1", 100, 300));
    assert_int_equal(run_tick(&r, T0 + 3 * TICK), 0);
    assert_metric(&r.msg, "cpu.1.idle_pct", 100);
    run_teardown(&r);
}

static void cpu_per_cpu_bad_line_is_an_error(void **unused)
{
    static const char *const bad[] = {
        STATLINE("cpu", 1, 1) "cpu0 1 2 x 4\n",
        STATLINE("cpu", 1, 1) "cpu0 1 2 3\n",
        STATLINE("cpu", 1, 1) "cpu8192 1 2 3 4\n",
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(bad); i++) {
        struct run r;
        run_setup(&r, "cpu", SYSFS);
        r.cfg.cpu_per_cpu = 1;
        put(&r, "stat", STATLINE("cpu", 1, 1) STATLINE("cpu0", 1, 1));
        assert_int_equal(run_init(&r), 0);
        assert_int_equal(run_tick(&r, T0), 0);
        put(&r, "stat", bad[i]);
        assert_int_equal(run_tick(&r, T0 + TICK), -EINVAL);
        assert_non_null(strstr(r.err, "stat:2:"));
        run_teardown(&r);
    }
    /* Without per-CPU the same lines are not read at all. */
    struct run r;
    run_setup(&r, "cpu", SYSFS);
    put(&r, "stat", STATLINE("cpu", 1, 1) STATLINE("cpu0", 1, 1));
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    put(&r, "stat", bad[0]);
    assert_int_equal(run_tick(&r, T0 + TICK), 0);
    run_teardown(&r);
}

/* ---- vmstat ---- */

static void vmstat_rates_over_two_ticks(void **unused)
{
    struct run r;
    run_two(&r, "vmstat", SYSFS, "basic-1", "basic-2");
    assert_metric(&r.msg, "vmstat.pgfault_ps", 10000);
    assert_metric(&r.msg, "vmstat.pgmajfault_ps", 5);
    assert_metric(&r.msg, "vmstat.pswpin_ps", 2);
    assert_metric(&r.msg, "vmstat.pswpout_ps", 5);
    assert_metric(&r.msg, "vmstat.pgpgin_bytes_ps", 250.0 * 1024);
    assert_metric(&r.msg, "vmstat.pgpgout_bytes_ps", 500.0 * 1024);
    assert_metric(&r.msg, "vmstat.oom_kill_ps", 1);
    assert_metric(&r.msg, "vmstat.oom_kill", 3);
    assert_int_equal(r.msg.n_metrics, 8);
    run_teardown(&r);
}

static void vmstat_first_tick_sends_oom_total_only(void **unused)
{
    struct run r;
    run_setup(&r, "vmstat", SYSFS);
    load_tree(&r, "basic-1");
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    assert_int_equal(r.msg.n_metrics, 1);
    assert_metric(&r.msg, "vmstat.oom_kill", 1);
    run_teardown(&r);
}

static void vmstat_old_kernel_without_oom_kill(void **unused)
{
    struct run r;
    run_two(&r, "vmstat", SYSFS, "old-1", "old-2");
    assert_metric(&r.msg, "vmstat.pgfault_ps", 2000);
    assert_metric(&r.msg, "vmstat.pgpgin_bytes_ps", 100.0 * 1024);
    assert_no_metric(&r.msg, "vmstat.oom_kill_ps");
    assert_no_metric(&r.msg, "vmstat.oom_kill");
    assert_int_equal(r.msg.n_metrics, 6);
    run_teardown(&r);
}

static void vmstat_without_known_fields_is_an_error(void **unused)
{
    struct run r;
    run_setup(&r, "vmstat", SYSFS);
    put(&r, "vmstat", "nr_free_pages 1\nnr_dirty 2\n");
    assert_int_equal(run_init(&r), -EINVAL);
    assert_non_null(strstr(r.err, r.root));
    assert_non_null(strstr(r.err, "CONFIG_VM_EVENT_COUNTERS"));
    run_teardown(&r);
}

/* ---- psi ---- */

static void psi_values_over_two_ticks(void **unused)
{
    struct run r;
    run_two(&r, "psi", SYSFS, "basic-1", "basic-2");
    assert_metric(&r.msg, "psi.cpu.some_avg10", 2.25);
    assert_metric(&r.msg, "psi.cpu.some_total_us_ps", 200000);
    assert_metric(&r.msg, "psi.cpu.full_avg10", 0);
    assert_metric(&r.msg, "psi.cpu.full_total_us_ps", 0);
    assert_metric(&r.msg, "psi.memory.some_avg10", 0.5);
    assert_metric(&r.msg, "psi.memory.some_total_us_ps", 10000);
    assert_metric(&r.msg, "psi.memory.full_avg10", 0.25);
    assert_metric(&r.msg, "psi.memory.full_total_us_ps", 5000);
    assert_metric(&r.msg, "psi.io.some_avg10", 4);
    assert_metric(&r.msg, "psi.io.some_total_us_ps", 50000);
    assert_metric(&r.msg, "psi.io.full_avg10", 2);
    assert_metric(&r.msg, "psi.io.full_total_us_ps", 30000);
    assert_int_equal(r.msg.n_metrics, 12);
    run_teardown(&r);
}

static void psi_kernel_without_cpu_full(void **unused)
{
    struct run r;
    run_two(&r, "psi", SYSFS, "k5-1", "k5-2");
    assert_metric(&r.msg, "psi.cpu.some_avg10", 6);
    assert_metric(&r.msg, "psi.cpu.some_total_us_ps", 300000);
    assert_int_equal(count_prefix(&r.msg, "psi.cpu.full"), 0);
    assert_metric(&r.msg, "psi.io.full_total_us_ps", 200);
    assert_int_equal(r.msg.n_metrics, 10);
    run_teardown(&r);
}

static void psi_missing_directory_fails_init_naming_it(void **unused)
{
    struct run r;
    run_setup(&r, "psi", SYSFS);
    load_tree(&r, "old-1"); /* a kernel before 4.20: no /proc/pressure */
    char dir[128];
    snprintf(dir, sizeof dir, "%s/pressure", r.root);
    assert_int_equal(access(dir, F_OK), -1);
    assert_int_equal(run_init(&r), -ENOENT);
    assert_null(r.state);
    assert_non_null(strstr(r.err, dir));
    assert_non_null(strstr(r.err, "CONFIG_PSI"));
    run_teardown(&r);
}

static void psi_one_unreadable_resource_keeps_the_others(void **unused)
{
    struct run r;
    run_setup(&r, "psi", SYSFS);
    load_tree(&r, "basic-1");
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    load_tree(&r, "basic-2");
    put(&r, "pressure/memory", "some avg10=1.00 avg60=0.00 avg300=0.00\n");
    assert_int_equal(run_tick(&r, T0 + TICK), -EINVAL);
    assert_non_null(strstr(r.err, "pressure/memory:1:"));
    assert_metric(&r.msg, "psi.cpu.some_avg10", 2.25);
    assert_metric(&r.msg, "psi.io.full_total_us_ps", 30000);
    assert_int_equal(count_prefix(&r.msg, "psi.memory."), 0);
    run_teardown(&r);
}

/* ---- netstat ---- */

static void netstat_rates_over_two_ticks(void **unused)
{
    struct run r;
    run_two(&r, "netstat", SYSFS, "basic-1", "basic-2");
    assert_metric(&r.msg, "tcp.active_opens_ps", 50);
    assert_metric(&r.msg, "tcp.passive_opens_ps", 200);
    assert_metric(&r.msg, "tcp.attempt_fails_ps", 2);
    assert_metric(&r.msg, "tcp.estab_resets_ps", 3);
    assert_metric(&r.msg, "tcp.curr_estab", 30);
    assert_metric(&r.msg, "tcp.retrans_segs_ps", 10);
    assert_metric(&r.msg, "tcp.out_rsts_ps", 5);
    assert_metric(&r.msg, "tcp.listen_overflows_ps", 2);
    assert_metric(&r.msg, "tcp.listen_drops_ps", 3);
    assert_metric(&r.msg, "tcp.time_wait", 9);
    assert_metric(&r.msg, "udp.no_ports_ps", 5);
    assert_metric(&r.msg, "udp.in_errors_ps", 2);
    assert_metric(&r.msg, "udp.rcvbuf_errors_ps", 1);
    assert_int_equal(r.msg.n_metrics, 13);
    run_teardown(&r);
}

static void netstat_old_kernel_with_fewer_columns(void **unused)
{
    struct run r;
    run_two(&r, "netstat", SYSFS, "old-1", "old-2");
    assert_metric(&r.msg, "tcp.active_opens_ps", 10);
    assert_metric(&r.msg, "tcp.out_rsts_ps", 1);
    assert_metric(&r.msg, "tcp.curr_estab", 5);
    assert_metric(&r.msg, "udp.no_ports_ps", 2);
    assert_metric(&r.msg, "udp.in_errors_ps", 1);
    assert_metric(&r.msg, "tcp.time_wait", 2);
    /* No RcvbufErrors column, no ListenOverflows/ListenDrops in TcpExt. */
    assert_no_metric(&r.msg, "udp.rcvbuf_errors_ps");
    assert_no_metric(&r.msg, "tcp.listen_overflows_ps");
    assert_no_metric(&r.msg, "tcp.listen_drops_ps");
    assert_int_equal(r.msg.n_metrics, 10);
    run_teardown(&r);
}

#define TCPHDR "Tcp: RtoAlgorithm CurrEstab Future1 ActiveOpens\n"
static void netstat_columns_found_by_name(void **unused)
{
    struct run r;
    run_setup(&r, "netstat", SYSFS);
    /* Columns in another order, one no kernel has, others missing. */
    put(&r, "net/snmp", TCPHDR "Tcp: 1 4 -7 100\n");
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    assert_metric(&r.msg, "tcp.curr_estab", 4);
    put(&r, "net/snmp", TCPHDR "Tcp: 1 6 9 120\n");
    assert_int_equal(run_tick(&r, T0 + TICK), 0);
    assert_metric(&r.msg, "tcp.active_opens_ps", 10);
    assert_metric(&r.msg, "tcp.curr_estab", 6);
    /* netstat and sockstat were missing at init: never read, never an error. */
    assert_int_equal(r.msg.n_metrics, 2);
    run_teardown(&r);
}

static void netstat_malformed_pairs_are_errors(void **unused)
{
    static const struct {
        const char *text, *where;
    } bad[] = {
        {TCPHDR "Tcp: 1 4 -7\n", "snmp:2: Tcp: has fewer values"},
        {TCPHDR "Tcp: 1 4 -7 100 5\n", "snmp:2: Tcp: has more values"},
        {TCPHDR "Tcp: 1 -4 7 100\n", "snmp:2: Tcp: CurrEstab is not an unsigned"},
        {TCPHDR "Tcp: 1 4 x 100\n", "snmp:2: Tcp: column 3 is not a number"},
        {TCPHDR "Udp: 1 2 3 4\n", "snmp:1: column names without"},
        /* A stray value line pairs with the names that follow it, which then fail as values. */
        {"Tcp: 1 2\n" TCPHDR "Tcp: 1 4 7 100\n", "snmp:2: Tcp: column 1 is not a number"},
        {TCPHDR, "snmp:1: column names without"},
        {"Udp: NoPorts\nUdp: 1\n", "no Tcp: lines"},
        {"Tcp ActiveOpens\nTcp 1\n", "snmp:1: line does not start"},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(bad); i++) {
        struct run r;
        run_setup(&r, "netstat", SYSFS);
        put(&r, "net/snmp", bad[i].text);
        assert_int_equal(run_init(&r), -EINVAL);
        if (!strstr(r.err, bad[i].where))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, r.err, bad[i].where);
        run_teardown(&r);
    }
}

static void netstat_one_bad_file_keeps_the_others(void **unused)
{
    struct run r;
    run_setup(&r, "netstat", SYSFS);
    load_tree(&r, "basic-1");
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    load_tree(&r, "basic-2");
    put(&r, "net/netstat", "TcpExt: ListenOverflows ListenDrops\nTcpExt: 1\n");
    assert_int_equal(run_tick(&r, T0 + TICK), -EINVAL);
    assert_non_null(strstr(r.err, "net/netstat:2:"));
    assert_metric(&r.msg, "tcp.active_opens_ps", 50);
    assert_metric(&r.msg, "tcp.time_wait", 9);
    assert_no_metric(&r.msg, "tcp.listen_drops_ps");
    run_teardown(&r);
}

/* ---- fs ---- */

static void fs_handles_processes_and_threads(void **unused)
{
    struct run r;
    run_setup(&r, "fs", SYSFS);
    load_tree(&r, "basic-1");
    /* Three processes; "self", a file named like a PID and "0x1" are not processes. */
    static const char *const dirs[] = {"1", "42", "31337", "self", "0x1", "12a"};
    for (size_t i = 0; i < VG_ARRAY_LEN(dirs); i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", r.root, dirs[i]);
        /* "self" may be there already, holding the fixture's self/mountinfo. */
        assert_true(mkdir(p, 0755) == 0 || (errno == EEXIST && strcmp(dirs[i], "self") == 0));
    }
    put(&r, "77", "");
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    assert_metric(&r.msg, "fd.allocated", 1024);
    assert_metric(&r.msg, "fd.max", 1048576);
    assert_metric(&r.msg, "fd.used_pct", 100.0 / 1024);
    assert_metric(&r.msg, "procs.count", 3);
    assert_metric(&r.msg, "procs.threads", 345);
    assert_int_equal(r.msg.n_metrics, 5);
    load_tree(&r, "basic-2");
    char p[128];
    snprintf(p, sizeof p, "%s/42", r.root);
    assert_int_equal(rmdir(p), 0);
    assert_int_equal(run_tick(&r, T0 + TICK), 0);
    assert_metric(&r.msg, "fd.allocated", 2048);
    assert_metric(&r.msg, "procs.threads", 350);
    /* Processes are counted at init and every tenth tick; the last count is sent in between. */
    assert_metric(&r.msg, "procs.count", 3);
    for (int i = 3; i < 10; i++) {
        assert_int_equal(run_tick(&r, T0 + i * TICK), 0);
        assert_metric(&r.msg, "procs.count", 3);
    }
    assert_int_equal(run_tick(&r, T0 + 10 * TICK), 0);
    assert_metric(&r.msg, "procs.count", 2);
    run_teardown(&r);
}

static void fs_file_max_zero_sends_no_share(void **unused)
{
    struct run r;
    run_setup(&r, "fs", SYSFS);
    load_tree(&r, "basic-1");
    put(&r, "sys/fs/file-nr", "5 0 0\n");
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    assert_metric(&r.msg, "fd.max", 0);
    assert_no_metric(&r.msg, "fd.used_pct");
    run_teardown(&r);
}

/* ---- resets, wraps, errors ---- */

static void counter_resets_give_no_negative_or_huge_rate(void **unused)
{
    static const char *const collectors[] = {"cpu", "disk", "net", "vmstat", "psi", "netstat"};
    for (size_t i = 0; i < VG_ARRAY_LEN(collectors); i++) {
        struct run r;
        run_two(&r, collectors[i], SYSFS, "reset-1", "reset-2");
        for (size_t j = 0; j < r.msg.n_metrics; j++) {
            double v = r.msg.metrics[j].value;
            if (!(v >= 0 && v <= 1e6))
                fail_msg("%s = %g after a reset", r.msg.metrics[j].name, v);
        }
        run_teardown(&r);
    }
    struct run r;
    run_two(&r, "disk", SYSFS, "reset-1", "reset-2");
    /* Every counter went back; the millisecond ones too far for a 32-bit wrap. */
    assert_int_equal(count_prefix(&r.msg, "disk.sda."), 0);
    run_teardown(&r);
    run_two(&r, "net", SYSFS, "reset-1", "reset-2");
    assert_int_equal(count_prefix(&r.msg, "net.eth0."), 0);
    run_teardown(&r);
    /* Every counter went back: only the levels are left. */
    run_two(&r, "vmstat", SYSFS, "reset-1", "reset-2");
    assert_int_equal(r.msg.n_metrics, 1);
    assert_metric(&r.msg, "vmstat.oom_kill", 0);
    run_teardown(&r);
    run_two(&r, "psi", SYSFS, "reset-1", "reset-2");
    /* Six avg10 levels, and cpu full's total, which stayed at 0 and so did not reset. */
    assert_int_equal(r.msg.n_metrics, 7);
    assert_metric(&r.msg, "psi.cpu.full_total_us_ps", 0);
    assert_no_metric(&r.msg, "psi.io.some_total_us_ps");
    assert_no_metric(&r.msg, "psi.memory.full_total_us_ps");
    run_teardown(&r);
    run_two(&r, "netstat", SYSFS, "reset-1", "reset-2");
    assert_int_equal(r.msg.n_metrics, 2);
    assert_metric(&r.msg, "tcp.curr_estab", 3);
    assert_metric(&r.msg, "tcp.time_wait", 0);
    run_teardown(&r);
}

static int is_bpf(const struct vg_collector *c)
{
    return strncmp(c->name, "bpf_", 4) == 0;
}

static void missing_file_fails_init_with_enoent_naming_path(void **unused)
{
    for (size_t i = 0; vg_collectors[i]; i++) {
        if (is_bpf(vg_collectors[i]))
            continue; /* kernel programs, not files: tested in test_bpf */
        struct run r;
        run_setup(&r, vg_collectors[i]->name, SYSFS);
        assert_int_equal(run_init(&r), -ENOENT);
        assert_null(r.state);
        if (!strstr(r.err, r.root) || !strstr(r.err, "No such file"))
            fail_msg("%s: unhelpful message \"%s\"", r.c->name, r.err);
        run_teardown(&r);
    }
}

static void garbage_fails_init_with_einval_naming_path(void **unused)
{
    for (size_t i = 0; vg_collectors[i]; i++) {
        if (is_bpf(vg_collectors[i]))
            continue; /* kernel programs, not files: tested in test_bpf */
        struct run r;
        /* cgroup reads no cgroup's files at init: see cgroup_garbage_fails_collect_naming_file. */
        if (strcmp(vg_collectors[i]->name, "cgroup") == 0)
            continue;
        run_setup(&r, vg_collectors[i]->name, SYSFS);
        load_tree(&r, "garbage");
        assert_int_equal(run_init(&r), -EINVAL);
        if (!strstr(r.err, r.root))
            fail_msg("%s: message \"%s\" does not name the file", r.c->name, r.err);
        run_teardown(&r);
    }
}

static void garbage_after_init_fails_collect(void **unused)
{
    for (size_t i = 0; vg_collectors[i]; i++) {
        if (is_bpf(vg_collectors[i]))
            continue; /* kernel programs, not files: tested in test_bpf */
        struct run r;
        /* fsspace reads mountinfo again only when the mount table changes (and every 60
         * ticks): test_fsspace's garbage_mountinfo_read_again_is_said. */
        if (strcmp(vg_collectors[i]->name, "cgroup") == 0 ||
            strcmp(vg_collectors[i]->name, "fsspace") == 0)
            continue;
        run_setup(&r, vg_collectors[i]->name, SYSFS);
        load_tree(&r, "basic-1");
        assert_int_equal(run_init(&r), 0);
        assert_int_equal(run_tick(&r, T0), 0);
        load_tree(&r, "garbage");
        assert_int_equal(run_tick(&r, T0 + TICK), -EINVAL);
        assert_non_null(strstr(r.err, r.root));
        run_teardown(&r);
    }
}

static void file_vanishing_after_init_fails_collect(void **unused)
{
    struct run r;
    run_setup(&r, "load", SYSFS);
    load_tree(&r, "basic-1");
    assert_int_equal(run_init(&r), 0);
    load_tree(&r, "wrap-a"); /* has no loadavg */
    assert_int_equal(run_tick(&r, T0), -ENOENT);
    run_teardown(&r);
}

static void malformed_disk_line_is_reported_and_others_kept(void **unused)
{
    struct run r;
    run_setup(&r, "disk", SYSFS);
    put(&r, "diskstats", "8 0 sda 1 0 8 1 0 0 0 0 0 100 100\n");
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    /* A truncated second line, as from a read cut short. */
    put(&r, "diskstats", "8 0 sda 3 0 24 3 0 0 0 0 0 300 300\n8 16 sdb 1 2");
    assert_int_equal(run_tick(&r, T0 + TICK), -EINVAL);
    assert_non_null(strstr(r.err, "diskstats:2:"));
    assert_metric(&r.msg, "disk.sda.reads_ps", 1);
    run_teardown(&r);
}

static void malformed_net_line_is_reported_and_others_kept(void **unused)
{
    struct run r;
    run_setup(&r, "net", SYSFS);
    put(&r, "net/dev", NETHDR NETLINE("eth0", 1000));
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    put(&r, "net/dev", NETHDR "eth1 has no colon\n" NETLINE("eth0", 3000) "eth2: 1 2 x\n");
    assert_int_equal(run_tick(&r, T0 + TICK), -EINVAL);
    assert_non_null(strstr(r.err, "net/dev:3:"));
    assert_metric(&r.msg, "net.eth0.rx_bytes_ps", 1000);
    run_teardown(&r);
}

static void many_interfaces_all_reported(void **unused)
{
    enum { N = 300 }; /* about 30 KiB of net/dev: the read buffer has to grow */
    char *text = malloc(N * 128 + 512);
    size_t len = 0;
    struct run r;
    run_setup(&r, "net", SYSFS);
    for (int tick = 0; tick < 2; tick++) {
        len = (size_t)sprintf(text, "%s", NETHDR);
        for (int i = 0; i < N; i++)
            len += (size_t)sprintf(text + len, "veth%d: %d 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n", i,
                                   1000 * i + 2000 * tick * i);
        put(&r, "net/dev", text);
        if (tick == 0)
            assert_int_equal(run_init(&r), 0);
        assert_int_equal(run_tick(&r, T0 + tick * TICK), 0);
    }
    assert_int_equal(r.msg.n_metrics, N * 8);
    assert_metric(&r.msg, "net.veth299.rx_bytes_ps", 299000);
    run_teardown(&r);
    free(text);
}

static void oversized_file_is_refused(void **unused)
{
    struct run r;
    run_setup(&r, "load", SYSFS);
    size_t n = VG_PROC_READ_MAX + 1;
    char *big = malloc(n);
    memset(big, ' ', n);
    memcpy(big, "0.1 0.2 0.3 1/2 3\n", 18);
    char path[128];
    snprintf(path, sizeof path, "%s/loadavg", r.root);
    write_file(path, big, n);
    free(big);
    assert_int_equal(run_init(&r), -EFBIG);
    assert_non_null(strstr(r.err, path));
    run_teardown(&r);
}

/* ---- parsers on buffers ---- */

static void parsers_never_read_past_len(void **unused)
{
    char err[VG_ERRLEN];
    struct vg_stat_sample st;
    /* Only "cpu 1 2 3" is inside len: too few columns, whatever follows in memory. */
    const char *s = "cpu 1 2 3 4 5 6 7 8\n";
    assert_int_equal(vg_parse_stat(s, 9, "stat", &st, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "at least 4"));
    assert_int_equal(vg_parse_stat(s, 11, "stat", &st, err, sizeof err), 0);
    assert_int_equal(st.n_cpu_cols, 4);
    assert_true(st.cpu[VG_CPU_IDLE] == 4);

    struct vg_loadavg_sample l;
    assert_int_equal(vg_parse_loadavg("0.5 1 2 3/4", 10, "loadavg", &l, err, sizeof err), -EINVAL);
    assert_int_equal(vg_parse_loadavg("0.5 1 2 3/4", 11, "loadavg", &l, err, sizeof err), 0);
    assert_true(l.threads == 4);
}

static void numbers_out_of_range_are_errors(void **unused)
{
    char err[VG_ERRLEN];
    struct vg_stat_sample st;
    struct vg_meminfo_sample m;
    const char *big = "cpu 18446744073709551616 0 0 0\n";
    assert_int_equal(vg_parse_stat(big, strlen(big), "stat", &st, err, sizeof err), -EINVAL);
    const char *max = "cpu 18446744073709551615 0 0 0\n";
    assert_int_equal(vg_parse_stat(max, strlen(max), "stat", &st, err, sizeof err), 0);
    const char *neg = "cpu -1 0 0 0\n";
    assert_int_equal(vg_parse_stat(neg, strlen(neg), "stat", &st, err, sizeof err), -EINVAL);
    const char *huge = "MemTotal: 18014398509481984 kB\nMemFree: 0 kB\n";
    assert_int_equal(vg_parse_meminfo(huge, strlen(huge), "mi", &m, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "mi:1:"));
    const char *unit = "MemTotal: 10 MB\nMemFree: 0 kB\n";
    assert_int_equal(vg_parse_meminfo(unit, strlen(unit), "mi", &m, err, sizeof err), -EINVAL);
    struct vg_loadavg_sample l;
    const char *digits = "0.1234567891 0 0 1/2 3\n";
    assert_int_equal(vg_parse_loadavg(digits, strlen(digits), "la", &l, err, sizeof err), -EINVAL);
}

static void empty_device_files_are_valid(void **unused)
{
    char err[VG_ERRLEN];
    assert_int_equal(vg_parse_diskstats("", 0, "d", NULL, NULL, err, sizeof err), 0);
    assert_int_equal(vg_parse_netdev(NETHDR, strlen(NETHDR), "n", NULL, NULL, err, sizeof err), 0);
}

static void new_parsers_never_read_past_len(void **unused)
{
    char err[VG_ERRLEN];
    struct vg_psi_sample p;
    const char *psi = "some avg10=1.00 total=5\n";
    assert_int_equal(vg_parse_psi(psi, 22, "psi", &p, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "psi:1:"));
    assert_int_equal(vg_parse_psi(psi, 23, "psi", &p, err, sizeof err), 0);
    assert_true(p.total_us[VG_PSI_SOME] == 5 && p.avg10[VG_PSI_SOME] == 1.0);

    static const char *const keys[] = {"pgfault"};
    uint64_t v = 0, have;
    assert_int_equal(vg_parse_keyed("pgfault 12345", 10, "vm", keys, 1, &v, &have, err, sizeof err),
                     0);
    assert_true(have == 1 && v == 12);

    struct vg_file_nr_sample f;
    assert_int_equal(vg_parse_file_nr("1 2 3 4", 5, "fnr", &f, err, sizeof err), 0);
    assert_true(f.allocated == 1 && f.max == 3);
    assert_int_equal(vg_parse_file_nr("1 2 3 4", 4, "fnr", &f, err, sizeof err), -EINVAL);

    int is_max;
    assert_int_equal(vg_parse_cg_value("max5", 3, "mm", &v, &is_max, err, sizeof err), 0);
    assert_int_equal(is_max, 1);

    struct vg_snmp_sample sn;
    const char *snmp = "Tcp: CurrEstab\nTcp: 42\n";
    assert_int_equal(vg_parse_snmp(snmp, 15, "snmp", &sn, err, sizeof err), -EINVAL);
    assert_int_equal(vg_parse_snmp(snmp, 21, "snmp", &sn, err, sizeof err), 0);
    assert_true(sn.v[VG_SNMP_TCP_CURR_ESTAB] == 4);

    struct vg_sockstat_sample so;
    const char *sock = "TCP: inuse 1 tw 23\n";
    assert_int_equal(vg_parse_sockstat(sock, 17, "sockstat", &so, err, sizeof err), 0);
    assert_true(so.tcp_tw == 2);
    assert_int_equal(vg_parse_sockstat(sock, 15, "sockstat", &so, err, sizeof err), -EINVAL);
}

static void keyed_parser_rules(void **unused)
{
    static const char *const keys[] = {"pgfault", "oom_kill"};
    char err[VG_ERRLEN];
    uint64_t v[2] = {0, 0}, have;
    /* A longer key that starts alike is another key; the first of two lines wins. */
    const char *ok = "pgfault_x 9\npgfault 1\npgfault 2\n";
    assert_int_equal(vg_parse_keyed(ok, strlen(ok), "vm", keys, 2, v, &have, err, sizeof err), 0);
    assert_true(have == 1 && v[0] == 1);
    const char *extra = "oom_kill 1 2\n";
    assert_int_equal(vg_parse_keyed(extra, strlen(extra), "vm", keys, 2, v, &have, err, sizeof err),
                     -EINVAL);
    assert_non_null(strstr(err, "vm:1: unexpected text"));
    const char *none = "x 1\noom_kill\n";
    assert_int_equal(vg_parse_keyed(none, strlen(none), "vm", keys, 2, v, &have, err, sizeof err),
                     -EINVAL);
    assert_non_null(strstr(err, "vm:2: expected a number"));
}

static void small_parsers_reject_garbage(void **unused)
{
    char err[VG_ERRLEN];
    struct vg_sockstat_sample so;
    static const char *const sock[] = {"UDP: inuse 1\n", "TCP: inuse 1 tw\n", "TCP: inuse x\n",
                                       "TCP: inuse 1 orphan 0\n"};
    for (size_t i = 0; i < VG_ARRAY_LEN(sock); i++)
        assert_int_equal(vg_parse_sockstat(sock[i], strlen(sock[i]), "s", &so, err, sizeof err),
                         -EINVAL);
    uint64_t r, w;
    const char *sat = "8:0 rbytes=18446744073709551615 wbytes=1\n8:16 rbytes=5 wbytes=2\n";
    assert_int_equal(vg_parse_cg_iostat(sat, strlen(sat), "io", &r, &w, err, sizeof err), 0);
    assert_true(r == UINT64_MAX && w == 3);
    assert_int_equal(vg_parse_cg_iostat("", 0, "io", &r, &w, err, sizeof err), 0);
    assert_true(r == 0 && w == 0);
    /* The device must be MAJ:MIN in numbers: stacked devices are looked up by it. */
    static const char *const io[] = {"sda rbytes=1\n", "8:x rbytes=1\n",   "8: rbytes=1\n",
                                     ":0 rbytes=1\n",  "8:0:0 rbytes=1\n", "8:4294967296\n"};
    for (size_t i = 0; i < VG_ARRAY_LEN(io); i++)
        if (vg_parse_cg_iostat(io[i], strlen(io[i]), "io", &r, &w, err, sizeof err) != -EINVAL)
            fail_msg("io.stat \"%s\" accepted", io[i]);
    uint64_t v;
    int is_max;
    static const char *const val[] = {"", "\n", "1 2\n", "1\n2\n", "-1\n", "maximum\n"};
    for (size_t i = 0; i < VG_ARRAY_LEN(val); i++)
        assert_int_equal(
            vg_parse_cg_value(val[i], strlen(val[i]), "v", &v, &is_max, err, sizeof err), -EINVAL);
    struct vg_psi_sample p;
    static const char *const psi[] = {"full avg10=0.00 total=0\n",
                                      "some avg10=0.00 total=0\nsome avg10=0.00 total=0\n",
                                      "some avg10=0.00 total=0 x\n", "some avg10=-1 total=0\n"};
    for (size_t i = 0; i < VG_ARRAY_LEN(psi); i++)
        assert_int_equal(vg_parse_psi(psi[i], strlen(psi[i]), "p", &p, err, sizeof err), -EINVAL);
}

/* Writes each device vg_parse_cg_iostat_devs hands over as "MAJ:MIN rbytes wbytes," into a
 * string, so that a test can compare what was read, in order, with one assertion. */
struct iodevs_seen {
    char text[512];
    size_t len;
};

static int note_iodev(void *ctx, const struct vg_cg_iodev *d)
{
    struct iodevs_seen *s = ctx;
    int n = snprintf(s->text + s->len, sizeof s->text - s->len, "%u:%u %llu %llu,", d->major,
                     d->minor, (unsigned long long)d->rbytes, (unsigned long long)d->wbytes);
    assert_true(n > 0 && (size_t)n < sizeof s->text - s->len);
    s->len += (size_t)n;
    return 0;
}

/* Parses text; returns the parser's code, with what it handed over in s. */
static int read_iodevs(const char *text, struct iodevs_seen *s, char *err, size_t errlen)
{
    s->text[0] = '\0';
    s->len = 0;
    return vg_parse_cg_iostat_devs(text, strlen(text), "io", note_iodev, s, err, errlen);
}

static void cg_iostat_skips_lines_naming_no_device(void **unused)
{
    char err[VG_ERRLEN];
    struct iodevs_seen s;
    /* NVMe multipath: the hidden per-path disks have no registered bdi, so the kernel prints
     * "(unknown)" for them; their I/O is the multipath device's (259:0) again. */
    const char *io = "259:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
                     "(unknown) rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
                     "(unknown) rbytes=0 wbytes=0 rios=0 wios=0 dbytes=0 dios=0\n"
                     "8:0 rbytes=1 wbytes=2\n"
                     "(unknown)\n";
    assert_int_equal(read_iodevs(io, &s, err, sizeof err), 0);
    assert_string_equal(s.text, "259:0 4096 8192,8:0 1 2,");
    uint64_t r, w;
    assert_int_equal(vg_parse_cg_iostat(io, strlen(io), "io", &r, &w, err, sizeof err), 0);
    assert_true(r == 4097 && w == 8194);
    /* Its fields are checked as any line's, and nothing else stands for a device. */
    static const char *const bad[] = {"(unknown) rbytes=x\n", "(unknown) sda\n",
                                      "(unknown rbytes=1\n", "(UNKNOWN) rbytes=1\n",
                                      "unknown rbytes=1\n"};
    for (size_t i = 0; i < VG_ARRAY_LEN(bad); i++)
        if (read_iodevs(bad[i], &s, err, sizeof err) != -EINVAL)
            fail_msg("io.stat \"%s\" accepted", bad[i]);
}

static void cg_iostat_splits_devices_joined_on_one_line(void **unused)
{
    char err[VG_ERRLEN];
    struct iodevs_seen s;
    /* Kernels with 252c651a4c85 (5.15) but not its fix end a device's entry with a newline only
     * when it has stats, so a device without any runs into the next (7:7, 7:6, 253:0 with iocost's
     * fields only). A device number within a line starts the next device. */
    const char *io =
        "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0 8:16 rbytes=5 wbytes=6 "
        "rios=1 wios=1 dbytes=0 dios=0\n"
        "7:7 7:6 7:4 rbytes=28672 wbytes=0 rios=22 wios=0 dbytes=0 dios=0\n"
        "253:0 cost.vrate=100.00 (unknown) rbytes=9 wbytes=9 259:0 rbytes=7 wbytes=8\n";
    assert_int_equal(read_iodevs(io, &s, err, sizeof err), 0);
    assert_string_equal(s.text,
                        "8:0 1 2,8:16 5 6,7:7 0 0,7:6 0 0,7:4 28672 0,253:0 0 0,259:0 7 8,");
    /* Within a line as at its start, a word without '=' must be a device, and a device's fields
     * are checked as ever; the devices before the fault have been handed over. */
    assert_int_equal(read_iodevs("8:0 rbytes=1 8:16 rbytes=x\n", &s, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "io:1: rbytes is not a number"));
    assert_string_equal(s.text, "8:0 1 0,");
    static const char *const bad[] = {"8:0 rbytes=1 8:x wbytes=2\n", "8:0 rbytes=1 sda\n",
                                      "8:0 rbytes=1 8:16 wbytes=18446744073709551616\n",
                                      "8:0 rbytes=1 8:4294967296 rbytes=1\n"};
    for (size_t i = 0; i < VG_ARRAY_LEN(bad); i++)
        if (read_iodevs(bad[i], &s, err, sizeof err) != -EINVAL)
            fail_msg("io.stat \"%s\" accepted", bad[i]);
}

/* ---- device table ---- */

/* A name missing from one tick may come back as another device: its entry starts over, flags and
 * rate baselines zeroed, rather than keep the old device's. */
static void devtab_forgets_a_device_missing_from_one_tick(void **unused)
{
    struct vg_devtab t;
    struct vg_dev *d;
    vg_devtab_init(&t);
    vg_devtab_begin(&t);
    assert_int_equal(vg_devtab_get(&t, "a", &d), 1);
    d->flags = 7;
    d->rate[0].primed = 1;
    assert_int_equal(vg_devtab_get(&t, "b", &d), 1);
    assert_int_equal(vg_devtab_get(&t, "a", &d), -EEXIST);
    vg_devtab_end(&t);
    vg_devtab_begin(&t);
    assert_int_equal(vg_devtab_get(&t, "b", &d), 0);
    vg_devtab_end(&t);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.dev[0].name, "b");
    vg_devtab_begin(&t);
    assert_int_equal(vg_devtab_get(&t, "a", &d), 1);
    assert_int_equal(d->flags, 0);
    assert_int_equal(d->rate[0].primed, 0);
    assert_int_equal(vg_devtab_get(&t, "b", &d), 0);
    vg_devtab_end(&t);
    assert_int_equal(t.n, 2);
    vg_devtab_free(&t);
}

static void devtab_keeps_file_order(void **unused)
{
    static const char *const order[] = {"x", "a", "m", "b", "c"};
    struct vg_devtab t;
    struct vg_dev *d;
    vg_devtab_init(&t);
    vg_devtab_begin(&t);
    vg_devtab_get(&t, "a", &d);
    vg_devtab_get(&t, "b", &d);
    vg_devtab_get(&t, "c", &d);
    vg_devtab_end(&t);
    vg_devtab_begin(&t);
    for (size_t i = 0; i < VG_ARRAY_LEN(order); i++)
        vg_devtab_get(&t, order[i], &d);
    vg_devtab_end(&t);
    assert_int_equal(t.n, VG_ARRAY_LEN(order));
    for (size_t i = 0; i < VG_ARRAY_LEN(order); i++)
        assert_string_equal(t.dev[i].name, order[i]);
    vg_devtab_free(&t);
}

static void devtab_refuses_more_than_max(void **unused)
{
    struct vg_devtab t;
    struct vg_dev *d;
    char name[16];
    vg_devtab_init(&t);
    vg_devtab_begin(&t);
    for (int i = 0; i < VG_DEVTAB_MAX; i++) {
        snprintf(name, sizeof name, "d%d", i);
        assert_int_equal(vg_devtab_get(&t, name, &d), 1);
    }
    assert_int_equal(vg_devtab_get(&t, "one-too-many", &d), -ENOSPC);
    vg_devtab_end(&t);
    vg_devtab_free(&t);
}

/* Devices taken in a tick, each 100 bytes, beside others metrics of 32 bytes. */
static size_t budget_tick(struct vg_devbudget *b, struct vg_wire_msg *m, int others)
{
    vg_wire_msg_reset(m);
    for (int i = 0; i < others; i++) {
        char name[16];
        snprintf(name, sizeof name, "o%03d", i);
        assert_int_equal(vg_wire_msg_add_metric(m, name, 1, NULL, 0), 0);
    }
    vg_devbudget_begin(b, m);
    int fits = 1;
    for (int i = 0; i < 20; i++) {
        int t = vg_devbudget_take(b, 100);
        assert_true(t <= fits); /* once one is left out, so is every later one */
        fits = t;
    }
    assert_int_equal(b->sent + b->left_out, 20);
    return b->sent;
}

/* The others are counted at the most they sent over the last 60 to 120 ticks: a tick where they
 * send less lets no more devices in, so the same ones are sent; after that long, more fit. */
static void devbudget_counts_the_most_the_others_sent_lately(void **unused)
{
    struct vg_devbudget b;
    struct vg_wire_msg m;
    vg_wire_msg_init(&m);
    size_t base = vg_wire_msg_size_max(&m);
    assert_int_equal(VG_WIRE_METRIC_SIZE_MAX(4), 32);
    vg_devbudget_init(&b, base + 1000);
    assert_int_equal(budget_tick(&b, &m, 10), 6);
    int more = 0;
    for (int k = 1; k <= 121 && !more; k++)
        if (budget_tick(&b, &m, 0) > 6)
            more = k;
    assert_true(more >= 60 && more <= 120);
    assert_int_equal(budget_tick(&b, &m, 0), 10);
    /* A peak leaves devices out at once. */
    assert_int_equal(budget_tick(&b, &m, 20), 3);
    vg_devbudget_init(&b, 0);
    assert_int_equal(budget_tick(&b, &m, 20), 20);
    vg_wire_msg_free(&m);
}

static void sanitise_maps_outside_charset_to_underscore(void **unused)
{
    char out[8];
    assert_int_equal(vg_metric_sanitise(out, sizeof out, "a/b c\0d", 7), 7);
    assert_memory_equal(out, "a_b_c_d", 8);
    assert_int_equal(vg_metric_sanitise(out, sizeof out, "Az09_.:-xyz", 11), 7);
    assert_string_equal(out, "Az09_.:");
    assert_int_equal(vg_metric_sanitise(out, sizeof out, "\xc3\xa9", 2), 2);
    assert_string_equal(out, "__");
}

/* ---- the table and its documentation ---- */

static void collector_find_by_name(void **unused)
{
    static const char *const names[] = {"cpu",
                                        "mem",
                                        "load",
                                        "disk",
                                        "net",
                                        "vmstat",
                                        "psi",
                                        "netstat",
                                        "fs",
                                        "fsspace",
                                        "cgroup",
                                        "bpf_runqlat",
                                        "bpf_biolat",
                                        "bpf_tcp",
                                        "bpf_syscall_errors",
                                        "bpf_proc_events"};
    size_t n = 0;
    while (vg_collectors[n])
        n++;
    assert_int_equal(n, VG_ARRAY_LEN(names));
    for (size_t i = 0; i < VG_ARRAY_LEN(names); i++)
        assert_ptr_equal(vg_collector_find(names[i]), vg_collectors[i]);
    assert_null(vg_collector_find("gpu"));
    assert_null(vg_collector_find(NULL));
}

/* name matches desc when equal, or when desc is a family "pre<x>post" and name is pre, a
 * non-empty middle, then post. */
static int documented(const struct vg_collector *c, const char *name)
{
    for (size_t i = 0; i < c->n_metrics; i++) {
        const char *d = c->metrics[i].name;
        const char *lt = strchr(d, '<'), *gt = lt ? strchr(lt, '>') : NULL;
        if (!lt || !gt) {
            if (strcmp(d, name) == 0)
                return 1;
            continue;
        }
        size_t pre = (size_t)(lt - d), post = strlen(gt + 1), n = strlen(name);
        if (n > pre + post && strncmp(name, d, pre) == 0 && strcmp(name + n - post, gt + 1) == 0)
            return 1;
    }
    return 0;
}

static void every_metric_sent_is_documented(void **unused)
{
    static const char *const trees[][2] = {
        {"basic-1", "basic-2"}, {"old-1", "old-2"}, {"wrap-a", "wrap-b"}};
    for (size_t i = 0; vg_collectors[i]; i++) {
        if (is_bpf(vg_collectors[i]))
            continue; /* kernel programs, not files: tested in test_bpf */
        for (size_t k = 0; k < VG_ARRAY_LEN(trees); k++) {
            struct run r;
            run_setup(&r, vg_collectors[i]->name, SYSFS);
            load_tree(&r, trees[k][0]);
            if (run_init(&r) < 0) { /* this tree has no file for it */
                run_teardown(&r);
                continue;
            }
            run_tick(&r, T0);
            load_tree(&r, trees[k][1]);
            assert_int_equal(run_tick(&r, T0 + TICK), 0);
            assert_true(r.msg.n_metrics > 0);
            for (size_t j = 0; j < r.msg.n_metrics; j++)
                if (!documented(r.c, r.msg.metrics[j].name))
                    fail_msg("%s sends %s, which its table does not list", r.c->name,
                             r.msg.metrics[j].name);
            run_teardown(&r);
        }
    }
}

static void metrics_md_matches_tables(void **unused)
{
    char *gen = NULL, *doc = NULL;
    size_t genlen = 0, doclen = 0;
    FILE *f = open_memstream(&gen, &genlen);
    assert_non_null(f);
    assert_int_equal(vg_collectors_write_markdown(f), 0);
    fclose(f);

    f = fopen(VG_SOURCE_DIR "/docs/metrics.md", "rb");
    if (!f)
        fail_msg("docs/metrics.md missing: run test_collectors --write-metrics-md "
                 "docs/metrics.md");
    FILE *m = open_memstream(&doc, &doclen);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, m);
    fclose(f);
    fclose(m);
    if (genlen != doclen || memcmp(gen, doc, genlen) != 0)
        fail_msg("docs/metrics.md differs from the collectors' tables: run "
                 "test_collectors --write-metrics-md %s/docs/metrics.md",
                 VG_SOURCE_DIR);
    free(gen);
    free(doc);
}

/* ---- cgroup ---- */

/* Sets up the cgroup collector over cgroup fixture tree `tree`; NULL select: the default. */
static void cg_setup(struct run *r, const char *tree, const char *select, int max)
{
    run_setup(r, "cgroup", SYSFS);
    r->cfg.cgroup_select = select;
    r->cfg.cgroup_max = max;
    if (tree)
        load_cgroups(r, tree);
}

static void cg_put(struct run *r, const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", r->cgroot, rel);
    make_parents(path);
    write_file(path, text, strlen(text));
}

static void cg_rmtree(struct run *r, const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", r->cgroot, rel);
    nftw(path, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void check_all_documented(const struct run *r)
{
    for (size_t j = 0; j < r->msg.n_metrics; j++)
        if (!documented(r->c, r->msg.metrics[j].name))
            fail_msg("%s sends %s, which its table does not list", r->c->name,
                     r->msg.metrics[j].name);
}

static void cgroup_values_over_two_ticks(void **unused)
{
    struct run r;
    cg_setup(&r, "basic-1", NULL, 0);
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    load_cgroups(&r, "basic-2");
    assert_int_equal(run_tick(&r, T0 + TICK), 0);

    assert_metric(&r.msg, "cgroup.system.slice.ssh.service.cpu_pct", 25);
    assert_metric(&r.msg, "cgroup.system.slice.ssh.service.cpu_throttled_ms_ps", 4);
    assert_metric(&r.msg, "cgroup.system.slice.ssh.service.cpu_nr_throttled_ps", 2);
    assert_metric(&r.msg, "cgroup.system.slice.ssh.service.memory_current_bytes", 209715200);
    assert_metric(&r.msg, "cgroup.system.slice.ssh.service.memory_max_bytes", 536870912);
    assert_metric(&r.msg, "cgroup.system.slice.ssh.service.memory_oom_kill_ps", 1);
    assert_metric(&r.msg, "cgroup.system.slice.ssh.service.memory_oom_kill", 3);
    assert_metric(&r.msg, "cgroup.system.slice.ssh.service.io_read_bytes_ps", 4000);
    assert_metric(&r.msg, "cgroup.system.slice.ssh.service.io_write_bytes_ps", 6000);
    assert_metric(&r.msg, "cgroup.system.slice.ssh.service.psi_cpu_some_avg10", 2.5);
    assert_metric(&r.msg, "cgroup.system.slice.ssh.service.psi_memory_some_avg10", 0.75);
    assert_metric(&r.msg, "cgroup.system.slice.ssh.service.psi_io_some_avg10", 3);
    assert_int_equal(count_prefix(&r.msg, "cgroup.system.slice.ssh.service."), 12);
    /* One CPU busy; memory.max is "max"; idle disks, with iocost's non-integer fields. */
    assert_metric(&r.msg, "cgroup.system.slice.nginx.service.cpu_pct", 100);
    assert_metric(&r.msg, "cgroup.system.slice.nginx.service.cpu_throttled_ms_ps", 0);
    assert_no_metric(&r.msg, "cgroup.system.slice.nginx.service.memory_max_bytes");
    assert_metric(&r.msg, "cgroup.system.slice.nginx.service.io_write_bytes_ps", 0);
    assert_metric(&r.msg, "cgroup.system.slice.nginx.service.memory_oom_kill", 0);
    assert_int_equal(count_prefix(&r.msg, "cgroup.system.slice.nginx.service."), 11);
    /* No controller enabled: the core files only. */
    assert_metric(&r.msg, "cgroup.system.slice.cron.service.cpu_pct", 1);
    assert_metric(&r.msg, "cgroup.system.slice.cron.service.psi_io_some_avg10", 0);
    assert_int_equal(count_prefix(&r.msg, "cgroup.system.slice.cron.service."), 4);
    /* '@' is outside the metric charset. */
    assert_metric(&r.msg, "cgroup.system.slice.getty_tty1.service.cpu_pct", 0);
    assert_int_equal(r.msg.n_metrics, 12 + 11 + 4 + 1);
    /* Not selected, and system.slice's own files are not cgroups. */
    assert_int_equal(count_prefix(&r.msg, "cgroup.user."), 0);
    assert_int_equal(count_prefix(&r.msg, "cgroup.system.slice.cpu"), 0);
    assert_int_equal(count_prefix(&r.msg, "cgroup.system.slice.memory"), 0);
    check_all_documented(&r);
    run_teardown(&r);
}

static void cgroup_first_tick_sends_levels_only(void **unused)
{
    struct run r;
    cg_setup(&r, "basic-1", "system.slice/ssh.service", 0);
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    assert_metric(&r.msg, "cgroup.system.slice.ssh.service.memory_current_bytes", 104857600);
    assert_metric(&r.msg, "cgroup.system.slice.ssh.service.memory_oom_kill", 1);
    assert_metric(&r.msg, "cgroup.system.slice.ssh.service.psi_cpu_some_avg10", 1.5);
    assert_no_metric(&r.msg, "cgroup.system.slice.ssh.service.cpu_pct");
    assert_int_equal(r.msg.n_metrics, 6);
    run_teardown(&r);
}

static void cgroup_old_kernel_yields_fewer_metrics(void **unused)
{
    struct run r;
    cg_setup(&r, "old-1", NULL, 0);
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    load_cgroups(&r, "old-2");
    assert_int_equal(run_tick(&r, T0 + TICK), 0);
    assert_metric(&r.msg, "cgroup.system.slice.ssh.service.cpu_pct", 10);
    assert_metric(&r.msg, "cgroup.system.slice.ssh.service.memory_current_bytes", 8192000);
    assert_metric(&r.msg, "cgroup.system.slice.ssh.service.memory_max_bytes", 1073741824);
    assert_metric(&r.msg, "cgroup.system.slice.ssh.service.io_read_bytes_ps", 100);
    assert_metric(&r.msg, "cgroup.system.slice.ssh.service.io_write_bytes_ps", 500);
    /* No throttling (cpu controller off), no oom_kill (before 4.13), no PSI (before 4.20). */
    assert_int_equal(r.msg.n_metrics, 5);
    check_all_documented(&r);
    run_teardown(&r);
}

/* The cgroup names of the cpu_pct metrics in the message, sorted, joined with ' '. */
static void cpu_pct_names(const struct vg_wire_msg *m, char *out, size_t n)
{
    out[0] = '\0';
    for (size_t i = 0; i < m->n_metrics; i++) {
        const char *name = m->metrics[i].name, *end = strstr(name, ".cpu_pct");
        if (strncmp(name, "cgroup.", 7) != 0 || !end || end[8])
            continue;
        size_t l = strlen(out);
        snprintf(out + l, n - l, "%s%.*s", l ? " " : "", (int)(end - name - 7), name + 7);
    }
}

static void cgroup_select_globs(void **unused)
{
    static const struct {
        const char *select, *want;
    } cases[] = {
        {"kubepods.slice/*/*", "kubepods.slice.kubepods-besteffort.slice.pod-b "
                               "kubepods.slice.kubepods-burstable.slice.pod-a"},
        {"kubepods.slice/*-burstable.slice", "kubepods.slice.kubepods-burstable.slice"},
        /* Overlapping patterns, blanks around them, empty ones: each cgroup once. */
        {" system.slice/ssh.service , ,system.slice/[n-s]*,user.slice/user-????.slice",
         "system.slice.nginx.service system.slice.ssh.service user.slice.user-1000.slice"},
        {"*", "kubepods.slice system.slice user.slice"},
        {"nonexistent.slice/*,system.slice/nothing.service", ""},
        {"system.slice/*.service/*", ""},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        struct run r;
        char got[1024];
        cg_setup(&r, "basic-1", cases[i].select, 0);
        assert_int_equal(run_init(&r), 0);
        assert_int_equal(run_tick(&r, T0), 0);
        load_cgroups(&r, "basic-2");
        assert_int_equal(run_tick(&r, T0 + TICK), 0);
        cpu_pct_names(&r.msg, got, sizeof got);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("select \"%s\": got \"%s\", want \"%s\"", cases[i].select, got, cases[i].want);
        run_teardown(&r);
    }
}

/* stderr, where the log goes, into a file between capture_start and capture_end, which returns
 * what was written (malloc'd). */
static int g_saved_stderr = -1;
static char g_capture[64];

static void capture_start(void)
{
    snprintf(g_capture, sizeof g_capture, "/tmp/vg-coll-log-XXXXXX");
    int fd = mkstemp(g_capture);
    assert_true(fd >= 0);
    fflush(stderr);
    g_saved_stderr = dup(2);
    assert_true(g_saved_stderr >= 0);
    assert_int_equal(dup2(fd, 2), 2);
    close(fd);
}

static char *capture_end(void)
{
    fflush(stderr);
    dup2(g_saved_stderr, 2);
    close(g_saved_stderr);
    FILE *f = fopen(g_capture, "r");
    assert_non_null(f);
    char *buf = calloc(1, 65536);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    unlink(g_capture);
    return buf;
}

static int count_of(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* A cgroup.select that matches nothing (a typo; kubepods.slice/ on a node whose kubelet uses
 * cgroupfs' kubepods/) started the collector, which then sent nothing for ever, without a word.
 * One info line says so at init, none more while it lasts, one when cgroups match again and one
 * when they are gone again; --check-config (cfg.check) says how many a selection matches. */
static void cgroup_select_matching_nothing_is_logged_at_init_and_on_change(void **unused)
{
    struct run r;
    cg_setup(&r, "basic-1", "nonexistent.slice/*", 0);
    capture_start();
    int rc = run_init(&r);
    int64_t now = T0;
    for (int i = 0; rc == 0 && i < 25; i++, now += TICK) /* two rescans */
        rc = run_tick(&r, now);
    char *log = capture_end();
    assert_int_equal(rc, 0);
    print_message("%s", log);
    assert_int_equal(count_of(log, "msg=\"cgroup.select matches no cgroup\" collector=cgroup "), 1);
    assert_non_null(strstr(log, "select=\"nonexistent.slice/*\" rescan_every_ticks=10"));
    free(log);

    cg_put(&r, "nonexistent.slice/a.service/cpu.stat", "usage_usec 1000\n");
    capture_start();
    for (int i = 0; rc == 0 && i < 10; i++, now += TICK)
        rc = run_tick(&r, now);
    log = capture_end();
    assert_int_equal(rc, 0);
    assert_int_equal(count_of(log, "msg=\"cgroup.select matches cgroups again\""), 1);
    assert_non_null(strstr(log, " matched=1"));
    assert_int_equal(count_of(log, "matches no cgroup"), 0);
    free(log);

    cg_rmtree(&r, "nonexistent.slice/a.service");
    capture_start();
    for (int i = 0; rc == 0 && i < 20; i++, now += TICK)
        rc = run_tick(&r, now);
    log = capture_end();
    assert_int_equal(rc, 0);
    assert_int_equal(count_of(log, "msg=\"cgroup.select matches no cgroup\""), 1);
    free(log);
    run_teardown(&r);

    /* --check-config: the count matched. A start says nothing when cgroups match. */
    for (int check = 0; check <= 1; check++) {
        cg_setup(&r, "basic-1", "kubepods.slice/*/*", 0);
        r.cfg.check = check;
        capture_start();
        rc = run_init(&r);
        log = capture_end();
        assert_int_equal(rc, 0);
        if (check)
            assert_non_null(strstr(log, "msg=\"cgroup.select matches\" collector=cgroup "));
        assert_int_equal(count_of(log, " matched=2 reported=2"), check);
        assert_int_equal(count_of(log, "matches no cgroup"), 0);
        free(log);
        run_teardown(&r);
    }
}

static int64_t g_scan_clock;

/* Every reading of the rescan's clock is 400 ms after the one before: the scan takes 400 ms. */
static int64_t slow_scan_clock(void)
{
    return g_scan_clock += 400;
}

/* Every 10th tick rescans the tree before reading the files, yet its rates were stamped with the
 * time taken before the scan: high by the scan's share of the interval, and the next tick's low by
 * as much (a sawtooth every 10 ticks). The rates now cover the interval between the readings. */
static void cgroup_rates_of_the_rescan_tick_cover_the_time_between_readings(void **unused)
{
    struct run r;
    const char *pct = "cgroup.system.slice.ssh.service.cpu_pct";
    cg_setup(&r, "basic-1", "system.slice/ssh.service", 0);
    vg_cgroup_set_scan_clock(slow_scan_clock);
    assert_int_equal(run_init(&r), 0);
    /* One second of CPU time per 2 s tick, read at the ticks' times, and 400 ms after on the
     * rescan tick (the 10th). */
    for (int k = 1; k <= 11; k++) {
        char text[64];
        snprintf(text, sizeof text, "usage_usec %d\n", k * 1000000);
        cg_put(&r, "system.slice/ssh.service/cpu.stat", text);
        assert_int_equal(run_tick(&r, T0 + (k - 1) * TICK), 0);
        if (k >= 2 && k <= 9)
            assert_metric(&r.msg, pct, 50);
        if (k == 10) /* 1 s of CPU over 2.4 s */
            assert_metric(&r.msg, pct, 1000000 / 2.4 / 10000);
    }
    /* Tick 11, after the rescan tick read at +400 ms: 1 s of CPU over 1.6 s. */
    assert_metric(&r.msg, pct, 1000000 / 1.6 / 10000);
    vg_cgroup_set_scan_clock(NULL);
    run_teardown(&r);
}

static void cgroup_bad_select_fails_init(void **unused)
{
    static const char *const bad[] = {"/system.slice/*",
                                      "system.slice/../*",
                                      "a//b",
                                      "./x",
                                      "",
                                      " , ",
                                      "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q"};
    for (size_t i = 0; i < VG_ARRAY_LEN(bad); i++) {
        struct run r;
        cg_setup(&r, "basic-1", bad[i], 0);
        assert_int_equal(run_init(&r), -EINVAL);
        assert_null(r.state);
        if (!strstr(r.err, "cgroup.select"))
            fail_msg("\"%s\": message \"%s\" does not name the key", bad[i], r.err);
        run_teardown(&r);
    }
}

static void cgroup_disappears_and_reappears_starts_over(void **unused)
{
    struct run r;
    const char *ssh = "cgroup.system.slice.ssh.service.";
    cg_setup(&r, "basic-1", NULL, 0);
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    /* The service stops: not an error, just no metrics. */
    cg_rmtree(&r, "system.slice/ssh.service");
    assert_int_equal(run_tick(&r, T0 + TICK), 0);
    assert_int_equal(count_prefix(&r.msg, ssh), 0);
    assert_metric(&r.msg, "cgroup.system.slice.nginx.service.cpu_pct", 0);
    /* It starts again with counters above the old ones: a rate from the old cgroup's reading
     * would look plausible and be wrong, so there is none. */
    load_cgroups(&r, "basic-2");
    assert_int_equal(run_tick(&r, T0 + 2 * TICK), 0);
    assert_metric(&r.msg, "cgroup.system.slice.ssh.service.memory_current_bytes", 209715200);
    assert_no_metric(&r.msg, "cgroup.system.slice.ssh.service.cpu_pct");
    assert_no_metric(&r.msg, "cgroup.system.slice.ssh.service.io_read_bytes_ps");
    assert_no_metric(&r.msg, "cgroup.system.slice.ssh.service.memory_oom_kill_ps");
    cg_put(&r, "system.slice/ssh.service/cpu.stat", "usage_usec 1700000\n");
    assert_int_equal(run_tick(&r, T0 + 3 * TICK), 0);
    assert_metric(&r.msg, "cgroup.system.slice.ssh.service.cpu_pct", 10);
    run_teardown(&r);
}

static void cgroup_recreated_between_ticks_starts_over(void **unused)
{
    struct run r;
    cg_setup(&r, "basic-1", "system.slice/ssh.service", 0);
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    /* A restart within one tick: a new directory (so new inodes) takes the old one's place,
     * with a counter above the old one. */
    cg_put(&r, "system.slice/ssh.new/cpu.stat", "usage_usec 1200000\n");
    cg_rmtree(&r, "system.slice/ssh.service");
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/system.slice/ssh.new", r.cgroot);
    snprintf(b, sizeof b, "%s/system.slice/ssh.service", r.cgroot);
    assert_int_equal(rename(a, b), 0);
    assert_int_equal(run_tick(&r, T0 + TICK), 0);
    assert_no_metric(&r.msg, "cgroup.system.slice.ssh.service.cpu_pct");
    cg_put(&r, "system.slice/ssh.service/cpu.stat", "usage_usec 1400000\n");
    assert_int_equal(run_tick(&r, T0 + 2 * TICK), 0);
    assert_metric(&r.msg, "cgroup.system.slice.ssh.service.cpu_pct", 10);
    run_teardown(&r);
}

static void cgroup_counter_reset_gives_no_negative_or_huge_rate(void **unused)
{
    struct run r;
    cg_setup(&r, "basic-2", "system.slice/*", 0);
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    /* Same files, every counter lower: as seen if a restart recycled the inodes. */
    load_cgroups(&r, "basic-1");
    cg_put(&r, "system.slice/ssh.service/io.stat", "");
    assert_int_equal(run_tick(&r, T0 + TICK), 0);
    for (size_t j = 0; j < r.msg.n_metrics; j++) {
        double v = r.msg.metrics[j].value;
        if (!(v >= 0 && v <= 1e9))
            fail_msg("%s = %g after a reset", r.msg.metrics[j].name, v);
    }
    assert_no_metric(&r.msg, "cgroup.system.slice.ssh.service.cpu_pct");
    assert_no_metric(&r.msg, "cgroup.system.slice.ssh.service.io_write_bytes_ps");
    assert_no_metric(&r.msg, "cgroup.system.slice.ssh.service.memory_oom_kill_ps");
    assert_metric(&r.msg, "cgroup.system.slice.ssh.service.memory_oom_kill", 1);
    /* nginx's counters stayed: its rates are 0, not skipped. */
    assert_metric(&r.msg, "cgroup.system.slice.nginx.service.io_read_bytes_ps", 0);
    run_teardown(&r);
}

static void cgroup_rescan_adds_new_and_drops_gone(void **unused)
{
    struct run r;
    cg_setup(&r, "basic-1", "system.slice/*", 0);
    assert_int_equal(run_init(&r), 0);
    cg_put(&r, "system.slice/new.service/cpu.stat", "usage_usec 0\n");
    cg_rmtree(&r, "system.slice/cron.service");
    int64_t t = T0;
    /* Until the tenth tick the table is the one init found. */
    for (int i = 1; i < 10; i++, t += TICK) {
        assert_int_equal(run_tick(&r, t), 0);
        assert_int_equal(count_prefix(&r.msg, "cgroup.system.slice.new.service."), 0);
    }
    assert_int_equal(run_tick(&r, t), 0);
    t += TICK;
    /* Found, but a rate needs a second reading. */
    assert_int_equal(count_prefix(&r.msg, "cgroup.system.slice.new.service."), 0);
    cg_put(&r, "system.slice/new.service/cpu.stat", "usage_usec 20000\n");
    assert_int_equal(run_tick(&r, t), 0);
    assert_metric(&r.msg, "cgroup.system.slice.new.service.cpu_pct", 1);
    /* cron was dropped at that scan, and new.service now goes: cron is found again at the next
     * scan, as a new cgroup with no baseline. */
    load_cgroups(&r, "basic-2");
    for (int i = 12; i < 20; i++) {
        t += TICK;
        assert_int_equal(run_tick(&r, t), 0);
        assert_int_equal(count_prefix(&r.msg, "cgroup.system.slice.cron.service."), 0);
        assert_int_equal(count_prefix(&r.msg, "cgroup.system.slice.new.service."), 0);
    }
    assert_int_equal(run_tick(&r, t + TICK), 0);
    assert_no_metric(&r.msg, "cgroup.system.slice.cron.service.cpu_pct");
    assert_metric(&r.msg, "cgroup.system.slice.cron.service.psi_cpu_some_avg10", 0);
    run_teardown(&r);
}

static void cgroup_max_reports_first_by_name_and_says_so(void **unused)
{
    struct run r;
    cg_setup(&r, "basic-1", "system.slice/*", 2);
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), -ENOSPC);
    assert_non_null(strstr(r.err, "4 cgroups"));
    assert_non_null(strstr(r.err, "cgroup.max (2)"));
    load_cgroups(&r, "basic-2");
    assert_int_equal(run_tick(&r, T0 + TICK), -ENOSPC);
    char got[512];
    cpu_pct_names(&r.msg, got, sizeof got);
    assert_string_equal(got, "system.slice.cron.service system.slice.getty_tty1.service");
    run_teardown(&r);
}

/* A tick with what other collectors sent before the cgroup collector (n metrics), the way the
 * agent fills one. */
static int cg_tick_after_others(struct run *r, int64_t now_ms, int others)
{
    vg_wire_msg_reset(&r->msg);
    snprintf(r->msg.host, sizeof r->msg.host, "cg-host");
    snprintf(r->msg.boot, sizeof r->msg.boot, "6f1c-77");
    r->msg.ts_ms = 1763900000000;
    r->msg.interval_ms = 1000;
    for (int i = 0; i < others; i++) {
        char name[32];
        snprintf(name, sizeof name, "other.m%03d", i);
        assert_int_equal(vg_wire_msg_add_metric(&r->msg, name, 1.0 / 3, NULL, 0), 0);
    }
    r->err[0] = '\0';
    return r->c->collect(r->state, now_ms, &r->msg, r->err, sizeof r->err);
}

static void cg_put_pod(struct run *r, int i, int usage)
{
    static const char pad[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    static const char *const files[][2] = {
        {"memory.current", "1073741824\n"},
        {"memory.max", "2147483648\n"},
        {"memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 1\n"},
        {"io.stat", "8:0 rbytes=4096 wbytes=8192 rios=1 wios=1 dbytes=0 dios=0\n"},
        {"cpu.pressure", "some avg10=1.25 avg60=0.00 avg300=0.00 total=0\n"},
        {"memory.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"},
        {"io.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"},
    };
    char rel[256], text[160];
    for (size_t f = 0; f < VG_ARRAY_LEN(files); f++) {
        snprintf(rel, sizeof rel, "pods/pod-%03d-%s.scope/%s", i, pad, files[f][0]);
        cg_put(r, rel, files[f][1]);
    }
    snprintf(rel, sizeof rel, "pods/pod-%03d-%s.scope/cpu.stat", i, pad);
    snprintf(text, sizeof text,
             "usage_usec %d\nnr_periods 10\nnr_throttled %d\nthrottled_usec %d\n", usage,
             usage / 100, usage / 10);
    cg_put(r, rel, text);
}

/* The names of the cgroups the message holds (memory_current_bytes: sent from the first tick). */
static size_t pods_sent(const struct vg_wire_msg *m, int *first, int *last)
{
    size_t n = 0;
    *first = *last = -1;
    for (size_t i = 0; i < m->n_metrics; i++) {
        int k;
        if (sscanf(m->metrics[i].name, "cgroup.pods.pod-%d-", &k) == 1 &&
            strstr(m->metrics[i].name, ".memory_current_bytes")) {
            if (*first < 0)
                *first = k;
            *last = k;
            n++;
        }
    }
    return n;
}

static int64_t still_clock(void)
{
    return 0;
}

/* A cgroup the message limit left out is not read; when it fit again, 60 to 120 ticks later, its
 * first rates were the average over that whole gap against its last reading, sent as the current
 * rate. It now skips one sample on its return, as a new cgroup does. */
static void cgroup_left_out_by_the_limit_skips_one_sample_when_back(void **unused)
{
    struct run r;
    cg_setup(&r, NULL, "pods/*", 300);
    cg_put(&r, "cgroup.controllers", "cpu io memory\n");
    for (int i = 0; i < 200; i++)
        cg_put_pod(&r, i, 1000000);
    r.cfg.max_message_bytes = 60000;
    vg_cgroup_set_scan_clock(still_clock); /* rescans take no time: every interval is TICK */
    assert_int_equal(run_init(&r), 0);
    int first, last;
    assert_int_equal(cg_tick_after_others(&r, T0, 0), -EMSGSIZE);
    int sent = (int)pods_sent(&r.msg, &first, &last);
    /* Many metrics of other collectors on one tick leave the cgroups from `out` on out, for 60
     * to 120 ticks; cgroup `out` was read before. */
    assert_int_equal(cg_tick_after_others(&r, T0 + TICK, 100), -EMSGSIZE);
    int out = (int)pods_sent(&r.msg, &first, &last);
    assert_true(out > 0 && out < sent);
    char name[256];
    snprintf(name, sizeof name,
             "cgroup.pods.pod-%03d-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
             ".scope.cpu_pct",
             out);
    /* Busy (50%) while left out, idle from the tick it comes back: its true rate then is 0, the
     * average over the gap near 50. */
    int usage = 1000000, t = 2;
    for (; t <= 130; t++) {
        int n = (int)pods_sent(&r.msg, &first, &last);
        if (n <= out)
            usage += 1000000;
        cg_put_pod(&r, out, usage);
        cg_tick_after_others(&r, T0 + t * TICK, 0);
        if ((int)pods_sent(&r.msg, &first, &last) > out)
            break;
    }
    assert_true(t <= 130);
    print_message("cgroup %d left out for %d ticks\n", out, t - 2);
    const struct vg_metric *m = find(&r.msg, name);
    if (m)
        fail_msg("%s back after %d ticks: %g, the average over the gap", name, t - 2, m->value);
    /* The tick after: the rate over that tick alone (0.2 s of CPU in 2 s). */
    cg_put_pod(&r, out, usage + 200000);
    cg_tick_after_others(&r, T0 + (t + 1) * TICK, 0);
    assert_metric(&r.msg, name, 10);
    vg_cgroup_set_scan_clock(NULL);
    run_teardown(&r);
}

/* Kafka refuses a message past message.max.bytes whole, so a node with many cgroups lost every
 * tick. The collector leaves out the cgroups that would take the message past
 * max_message_bytes, counting what other collectors put in it first (the most they put in over
 * the last minute or two): the last by name, as cgroup.max does, each counted at its longest so
 * that the same ones fit every tick. */
static void cgroup_leaves_out_what_would_pass_the_message_limit(void **unused)
{
    struct run r;
    const size_t limit = 60000;
    cg_setup(&r, NULL, "pods/*", 300);
    cg_put(&r, "cgroup.controllers", "cpu io memory\n");
    for (int i = 0; i < 200; i++)
        cg_put_pod(&r, i, 1000000 + i);
    r.cfg.max_message_bytes = limit;
    assert_int_equal(run_init(&r), 0);

    int first, last;
    size_t sent[2];
    for (int t = 0; t < 2; t++) {
        if (t == 1)
            for (int i = 0; i < 200; i++)
                cg_put_pod(&r, i, 1500000 + 7 * i);
        assert_int_equal(cg_tick_after_others(&r, T0 + t * TICK, 100), -EMSGSIZE);
        sent[t] = pods_sent(&r.msg, &first, &last);
        /* The first by name, and the message within the limit, encoded as well as bounded. */
        assert_int_equal(first, 0);
        assert_int_equal(last, (int)sent[t] - 1);
        char *buf, err[VG_ERRLEN];
        size_t len;
        assert_int_equal(vg_wire_encode(&r.msg, &buf, &len, err, sizeof err), 0);
        free(buf);
        size_t bound = vg_wire_msg_size_max(&r.msg);
        print_message("tick %d: %zu of 200 cgroups, %zu bytes, bound %zu, limit %zu\n", t, sent[t],
                      len, bound, limit);
        assert_true(len <= bound && bound <= limit);
        char want[200];
        snprintf(want, sizeof want,
                 "cgroup: 200 cgroups match cgroup.select; the first %zu by name are reported, "
                 "%zu left out to keep the message within %zu bytes",
                 sent[t], 200 - sent[t], limit);
        if (!strstr(r.err, want))
            fail_msg("no '%s' in '%s'", want, r.err);
    }
    /* The same cgroups both ticks, though the first sent no rates; and no room for one more
     * (12 metrics, none of whose suffixes is longer than psi_memory_some_avg10). */
    assert_int_equal(sent[0], sent[1]);
    assert_true(sent[1] > 20);
    size_t prefix = strlen("cgroup.pods.pod-000-.scope.") + 64;
    assert_int_equal(count_prefix(&r.msg, "cgroup.pods.pod-000-"), 12);
    assert_true(limit - vg_wire_msg_size_max(&r.msg) <
                12 * VG_WIRE_METRIC_SIZE_MAX(prefix + strlen("psi_memory_some_avg10")));

    /* What the others send varies from tick to tick, as much as 100 metrics: the same cgroups
     * every tick, not one more when the others send less, and the message within the limit. */
    static const int others[] = {40, 100, 0, 70, 100, 10};
    int64_t now = T0 + 2 * TICK;
    for (size_t k = 0; k < VG_ARRAY_LEN(others); k++, now += TICK) {
        assert_int_equal(cg_tick_after_others(&r, now, others[k]), -EMSGSIZE);
        size_t n = pods_sent(&r.msg, &first, &last);
        if (n != sent[1])
            fail_msg("beside %d others: %zu cgroups, not %zu", others[k], n, sent[1]);
        assert_true(vg_wire_msg_size_max(&r.msg) <= limit);
    }
    /* Fewer others for long enough (60 to 120 ticks since the last 100: docs/wire-format.md):
     * more cgroups. */
    int grown = 0;
    for (int k = 2; k <= 121 && !grown; k++, now += TICK) {
        assert_int_equal(cg_tick_after_others(&r, now, 0), -EMSGSIZE);
        size_t n = pods_sent(&r.msg, &first, &last);
        assert_true(n >= sent[1]);
        grown = n > sent[1] ? k : 0;
    }
    print_message("more cgroups %d ticks after the last 100 others\n", grown);
    assert_true(grown > 60 && grown <= 120);
    assert_true(vg_wire_msg_size_max(&r.msg) <= limit);
    run_teardown(&r);

    /* Past cgroup.max as well: both said in one line. */
    cg_setup(&r, NULL, "pods/*", 150);
    cg_put(&r, "cgroup.controllers", "cpu io memory\n");
    for (int i = 0; i < 200; i++)
        cg_put_pod(&r, i, 1000000 + i);
    r.cfg.max_message_bytes = limit;
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(cg_tick_after_others(&r, T0, 100), -EMSGSIZE);
    char want[200];
    snprintf(want, sizeof want,
             "the first %zu by name are reported, 50 past cgroup.max (150) and %zu "
             "left out",
             sent[0], 150 - sent[0]);
    if (!strstr(r.err, want))
        fail_msg("no '%s' in '%s'", want, r.err);
    run_teardown(&r);

    /* No limit: all of them (cgroup.max allowing). */
    cg_setup(&r, NULL, "pods/*", 300);
    cg_put(&r, "cgroup.controllers", "cpu io memory\n");
    for (int i = 0; i < 200; i++)
        cg_put_pod(&r, i, 1000000 + i);
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(cg_tick_after_others(&r, T0, 100), 0);
    assert_int_equal(pods_sent(&r.msg, &first, &last), 200);
    run_teardown(&r);
}

/* Devices sent: how many metrics named <prefix><number>.<suffix>, and the first and last number. */
static size_t devs_sent(const struct vg_wire_msg *m, const char *prefix, const char *suffix,
                        int *first, int *last)
{
    size_t n = 0;
    *first = *last = -1;
    for (size_t i = 0; i < m->n_metrics; i++) {
        const char *name = m->metrics[i].name;
        char *end;
        if (strncmp(name, prefix, strlen(prefix)) != 0)
            continue;
        long k = strtol(name + strlen(prefix), &end, 10);
        if (*end != '.' || strcmp(end + 1, suffix) != 0)
            continue;
        if (*first < 0)
            *first = (int)k;
        *last = (int)k;
        n++;
    }
    return n;
}

/* A tick of a device collector beside others; checks what the message limit lets through: the
 * first n devices in file order, the message within limit (encoded and bounded), and the log
 * line. Returns n. */
static size_t devs_within(struct run *r, int64_t now, int others, const char *prefix,
                          const char *suffix, const char *what, int total, size_t limit)
{
    int first, last;
    assert_int_equal(cg_tick_after_others(r, now, others), -EMSGSIZE);
    size_t n = devs_sent(&r->msg, prefix, suffix, &first, &last);
    if (n) {
        assert_int_equal(first, 0);
        assert_int_equal(last, (int)n - 1);
    }
    char *buf, err[VG_ERRLEN];
    size_t len;
    assert_int_equal(vg_wire_encode(&r->msg, &buf, &len, err, sizeof err), 0);
    free(buf);
    size_t bound = vg_wire_msg_size_max(&r->msg);
    assert_true(len <= bound && bound <= limit);
    /* The first tick sends no rates, yet counts the same devices. */
    char want[200];
    size_t said = 0;
    const char *at = strstr(r->err, what);
    if (!at || sscanf(at + strlen(what), "; the first %zu are reported", &said) != 1)
        fail_msg("no '%s; the first N are reported' in '%s'", what, r->err);
    snprintf(want, sizeof want, "%zu left out to keep the message within %zu bytes",
             (size_t)total - said, limit);
    if (!strstr(r->err, want))
        fail_msg("no '%s' in '%s'", want, r->err);
    if (n)
        assert_int_equal(n, said);
    return said;
}

/* 3,000 interfaces (or 3,400 multipath LUNs) took the message past message.max.bytes, and Kafka
 * refused every tick whole: every metric of the host was lost. The net collector leaves out the
 * interfaces that would pass max_message_bytes, the last in the file first, each counted at its
 * longest beside the most the collectors before it sent lately, so the same ones fit every tick. */
static void net_leaves_out_what_would_pass_the_message_limit(void **unused)
{
    struct run r;
    const size_t limit = 60000;
    const int total = 300;
    static char text[300 * 96 + 512];
    run_setup(&r, "net", SYSFS);
    for (int t = 0; t < 3; t++) {
        size_t off = (size_t)snprintf(text, sizeof text, "%s", NETHDR);
        for (int i = 0; i < total; i++)
            off += (size_t)snprintf(text + off, sizeof text - off,
                                    "veth%04d: %d 1 0 0 0 0 0 0 %d 1 0 0 0 0 0 0\n", i,
                                    1000 * t + i, 500 * t);
        put(&r, "net/dev", text);
        if (t == 0) {
            r.cfg.max_message_bytes = limit;
            assert_int_equal(run_init(&r), 0);
        }
        size_t n = devs_within(&r, T0 + t * TICK, 100, "net.veth", "rx_bytes_ps", "300 interfaces",
                               total, limit);
        assert_true(n > 50 && n < 250);
        if (t > 0) {
            int first, last;
            assert_int_equal(devs_sent(&r.msg, "net.veth", "tx_drop_ps", &first, &last), n);
            /* No room for one more. */
            assert_true(limit - vg_wire_msg_size_max(&r.msg) <
                        8 * VG_WIRE_METRIC_SIZE_MAX(strlen("net.veth0000.rx_packets_ps")));
        }
    }
    /* The others sending less, then more: the same interfaces, within the limit. */
    size_t n = devs_within(&r, T0 + 3 * TICK, 100, "net.veth", "rx_bytes_ps", "300 interfaces",
                           total, limit);
    static const int others[] = {40, 0, 100, 10};
    for (size_t k = 0; k < VG_ARRAY_LEN(others); k++)
        assert_int_equal(devs_within(&r, T0 + (4 + (int64_t)k) * TICK, others[k], "net.veth",
                                     "rx_bytes_ps", "300 interfaces", total, limit),
                         n);
    run_teardown(&r);

    /* No limit: every interface. */
    run_setup(&r, "net", SYSFS);
    put(&r, "net/dev", text);
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(cg_tick_after_others(&r, T0, 100), 0);
    assert_int_equal(cg_tick_after_others(&r, T0 + TICK, 100), 0);
    assert_int_equal(count_prefix(&r.msg, "net.veth"), 8 * total);
    run_teardown(&r);
}

/* As for interfaces: disks past the limit are left out, the last in /proc/diskstats first; a
 * partition and a disk that never did any I/O, which send nothing, take no room. */
static void disk_leaves_out_what_would_pass_the_message_limit(void **unused)
{
    struct run r;
    const size_t limit = 30000;
    const int total = 200;
    static char text[200 * 96 + 512];
    run_setup(&r, "disk", SYSFS);
    for (int t = 0; t < 2; t++) {
        size_t off = (size_t)snprintf(text, sizeof text, "8 0 sdzz 0 0 0 0 0 0 0 0 0 0 0\n");
        for (int i = 0; i < total; i++)
            off += (size_t)snprintf(text + off, sizeof text - off,
                                    "253 %d dm-%d %d 0 %d 5 0 0 0 0 0 %d %d\n", i, i, 10 + 100 * t,
                                    80 + 800 * t, 10 + t * 500, 10 + t * 500);
        put(&r, "diskstats", text);
        if (t == 0) {
            r.cfg.max_message_bytes = limit;
            assert_int_equal(run_init(&r), 0);
        }
        size_t n =
            devs_within(&r, T0 + t * TICK, 50, "disk.dm-", "reads_ps", "200 devices", total, limit);
        assert_true(n > 30 && n < 150);
        assert_int_equal(count_prefix(&r.msg, "disk.sdzz."), 0);
    }
    run_teardown(&r);
}

static void cgroup_names_sanitised_and_kept_unique(void **unused)
{
    struct run r;
    char long_name[200];
    memset(long_name, 'x', sizeof long_name);
    memcpy(long_name + 150, "-the-end.scope", 15);
    cg_setup(&r, NULL, "a.b/*,a/*,long.slice/*,odd.slice/*", 0);
    cg_put(&r, "cgroup.controllers", "cpu\n");
    cg_put(&r, "a.b/c/cpu.stat", "usage_usec 0\n");
    cg_put(&r, "a/b.c/cpu.stat", "usage_usec 0\n");
    char rel[300];
    snprintf(rel, sizeof rel, "long.slice/%s/cpu.stat", long_name);
    cg_put(&r, rel, "usage_usec 0\n");
    cg_put(&r, "odd.slice/a b\x01\xc3\xa9:c/cpu.stat", "usage_usec 0\n");
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    cg_put(&r, "a.b/c/cpu.stat", "usage_usec 20000\n");
    cg_put(&r, "a/b.c/cpu.stat", "usage_usec 40000\n");
    assert_int_equal(run_tick(&r, T0 + TICK), 0);
    /* a.b/c and a/b.c are both "a.b.c": the first by path is sent, once. */
    assert_int_equal(count_prefix(&r.msg, "cgroup.a.b.c.cpu_pct"), 1);
    assert_metric(&r.msg, "cgroup.a.b.c.cpu_pct", 1);
    assert_metric(&r.msg, "cgroup.odd.slice.a_b___:c.cpu_pct", 0);
    /* "long.slice/" + 164 bytes: the last 119 after a '_'. */
    char want[200];
    snprintf(want, sizeof want, "cgroup._%s.cpu_pct", long_name + 164 - 119);
    assert_int_equal(strlen(want), 7 + 120 + 8);
    assert_metric(&r.msg, want, 0);
    assert_int_equal(r.msg.n_metrics, 3);
    run_teardown(&r);
}

static void cgroup_root_auto_detection(void **unused)
{
    struct run r;
    char sys[128], unified[160], v2[160];
    cg_setup(&r, NULL, "*", 0);
    snprintf(sys, sizeof sys, "%s/sys", r.root);
    snprintf(unified, sizeof unified, "%s/fs/cgroup/unified", sys);
    snprintf(v2, sizeof v2, "%s/fs/cgroup", sys);
    r.cfg.sys_root = sys;
    r.cfg.cgroup_root = "auto";
    /* Neither: the message names both places. */
    char p[256];
    snprintf(p, sizeof p, "%s/fs/cgroup/cpu/tasks", sys);
    make_parents(p);
    write_file(p, "", 0);
    assert_int_equal(run_init(&r), -ENOENT);
    assert_non_null(strstr(r.err, v2));
    assert_non_null(strstr(r.err, unified));
    /* Hybrid: v1 at fs/cgroup, v2 at fs/cgroup/unified. */
    snprintf(p, sizeof p, "%s/cgroup.controllers", unified);
    make_parents(p);
    write_file(p, "", 0);
    snprintf(p, sizeof p, "%s/hybrid.slice/cpu.stat", unified);
    make_parents(p);
    write_file(p, "usage_usec 1\n", 13);
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    assert_int_equal(run_tick(&r, T0 + TICK), 0);
    assert_metric(&r.msg, "cgroup.hybrid.slice.cpu_pct", 0);
    r.c->fini(r.state);
    r.state = NULL;
    /* Unified: v2 at fs/cgroup wins (and "unified" would be a cgroup like any other). */
    snprintf(p, sizeof p, "%s/cgroup.controllers", v2);
    write_file(p, "", 0);
    snprintf(p, sizeof p, "%s/top.slice/cpu.stat", v2);
    make_parents(p);
    write_file(p, "usage_usec 1\n", 13);
    r.cfg.cgroup_root = NULL;
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    assert_int_equal(run_tick(&r, T0 + TICK), 0);
    char got[512];
    cpu_pct_names(&r.msg, got, sizeof got);
    assert_string_equal(got, "top.slice");
    run_teardown(&r);
}

static void cgroup_garbage_fails_collect_naming_file(void **unused)
{
    static const struct {
        const char *file, *text;
    } bad[] = {
        {"cpu.stat", "usage_usec lots\n"},      {"cpu.stat", "user_usec 5\n"},
        {"memory.current", "12 kB\n"},          {"memory.events", "oom_kill -1\n"},
        {"io.stat", "8:0 rbytes=1 wbytes=x\n"}, {"io.stat", "rbytes=1\n"},
        {"cpu.pressure", "some avg10=1.0\n"},   {"io.pressure", "\xff\xfe\n\x00\x01"},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(bad); i++) {
        struct run r;
        char rel[128];
        cg_setup(&r, "basic-1", NULL, 0);
        assert_int_equal(run_init(&r), 0);
        assert_int_equal(run_tick(&r, T0), 0);
        load_cgroups(&r, "basic-2");
        snprintf(rel, sizeof rel, "system.slice/ssh.service/%s", bad[i].file);
        char path[512];
        snprintf(path, sizeof path, "%s/%s", r.cgroot, rel);
        write_file(path, bad[i].text, strlen(bad[i].text) + (i == VG_ARRAY_LEN(bad) - 1) * 2);
        assert_int_equal(run_tick(&r, T0 + TICK), -EINVAL);
        if (!strstr(r.err, path))
            fail_msg("%s: message \"%s\" does not name the file", bad[i].file, r.err);
        /* The other cgroups are still reported. */
        assert_metric(&r.msg, "cgroup.system.slice.nginx.service.cpu_pct", 100);
        run_teardown(&r);
    }
}

/* ---- cgroup io.stat over stacked block devices ---- */

/* A cgroup "svc" whose io.stat the test writes, and a fake sysfs at <root>/sys laid out as the
 * kernel's: a directory per device under sys/block (a partition inside its disk's), with
 * sys/dev/block/MAJ:MIN and slaves/ entries as symlinks to them. */
struct io_run {
    struct run r;
    char sys[128];
    int64_t t;
};

static void io_setup(struct io_run *io)
{
    cg_setup(&io->r, NULL, "svc", 0);
    cg_put(&io->r, "cgroup.controllers", "io\n");
    cg_put(&io->r, "svc/cpu.stat", "usage_usec 0\n");
    snprintf(io->sys, sizeof io->sys, "%s/sys", io->r.root);
    io->r.cfg.sys_root = io->sys;
    io->t = T0;
}

/* Device path below sys/block ("sda", "sda/sda2") numbered devnum ("8:2"). */
static void sys_dev(struct io_run *io, const char *path, const char *devnum)
{
    char p[512], text[32];
    snprintf(p, sizeof p, "%s/block/%s/dev", io->sys, path);
    make_parents(p);
    snprintf(text, sizeof text, "%s\n", devnum);
    write_file(p, text, strlen(text));
    if (strchr(path, '/')) {
        snprintf(p, sizeof p, "%s/block/%s/partition", io->sys, path);
        write_file(p, "1\n", 2);
        return;
    }
    char link[512], target[512];
    snprintf(link, sizeof link, "%s/dev/block/%s", io->sys, devnum);
    make_parents(link);
    snprintf(target, sizeof target, "../../block/%s", path);
    assert_int_equal(symlink(target, link), 0);
}

/* Makes device path slave ("sda/sda2") a slave of holder ("dm-0"). */
static void sys_slave(struct io_run *io, const char *holder, const char *slave)
{
    char link[512], target[512];
    const char *name = strrchr(slave, '/');
    snprintf(link, sizeof link, "%s/block/%s/slaves/%s", io->sys, holder, name ? name + 1 : slave);
    make_parents(link);
    snprintf(target, sizeof target, "../../%s", slave);
    assert_int_equal(symlink(target, link), 0);
}

/* One tick with io.stat holding text; the message then holds that tick's metrics. */
static void io_tick(struct io_run *io, const char *text)
{
    cg_put(&io->r, "svc/io.stat", text);
    int rc = run_tick(&io->r, io->t);
    if (rc != 0)
        fail_msg("collect: %d %s", rc, io->r.err);
    io->t += TICK;
}

static void cgroup_io_counts_stacked_io_once(void **unused)
{
    struct io_run io;
    io_setup(&io);
    /* LVM with sda as a whole-disk PV: every byte of dm-0 is listed again on sda. 259:0 has no
     * sysfs entry at all, and counts. */
    sys_dev(&io, "sda", "8:0");
    sys_dev(&io, "dm-0", "253:0");
    sys_slave(&io, "dm-0", "sda");
    assert_int_equal(run_init(&io.r), 0);
    io_tick(&io, "8:0 rbytes=1000 wbytes=2000\n253:0 rbytes=1000 wbytes=2000\n"
                 "259:0 rbytes=100 wbytes=0\n");
    io_tick(&io, "8:0 rbytes=5000 wbytes=10000\n253:0 rbytes=5000 wbytes=10000\n"
                 "259:0 rbytes=300 wbytes=0\n");
    assert_metric(&io.r.msg, "cgroup.svc.io_read_bytes_ps", (4000 + 200) / 2);
    assert_metric(&io.r.msg, "cgroup.svc.io_write_bytes_ps", 8000 / 2);
    run_teardown(&io.r);
}

static void cgroup_io_counts_the_top_of_raid_and_partition_stacks(void **unused)
{
    struct io_run io;
    io_setup(&io);
    /* dm-crypt (253:1) on md RAID1 (9:0) over sda1 and sdb1: a write shows on all four. */
    sys_dev(&io, "sda", "8:0");
    sys_dev(&io, "sda/sda1", "8:1");
    sys_dev(&io, "sdb", "8:16");
    sys_dev(&io, "sdb/sdb1", "8:17");
    sys_dev(&io, "md0", "9:0");
    sys_slave(&io, "md0", "sda/sda1");
    sys_slave(&io, "md0", "sdb/sdb1");
    sys_dev(&io, "dm-1", "253:1");
    sys_slave(&io, "dm-1", "md0");
    /* LVM on a partition (sdc2) of sdc: io.stat names the disk, 8:32. */
    sys_dev(&io, "sdc", "8:32");
    sys_dev(&io, "sdc/sdc2", "8:34");
    sys_dev(&io, "dm-0", "253:0");
    sys_slave(&io, "dm-0", "sdc/sdc2");
    assert_int_equal(run_init(&io.r), 0);
    io_tick(&io, "253:1 rbytes=0 wbytes=1000\n9:0 rbytes=0 wbytes=1000\n"
                 "8:0 rbytes=0 wbytes=1000\n8:16 rbytes=0 wbytes=1000\n"
                 "253:0 rbytes=500 wbytes=0\n8:32 rbytes=500 wbytes=0\n");
    io_tick(&io, "253:1 rbytes=0 wbytes=5000\n9:0 rbytes=0 wbytes=5000\n"
                 "8:0 rbytes=0 wbytes=5000\n8:16 rbytes=0 wbytes=5000\n"
                 "253:0 rbytes=2500 wbytes=0\n8:32 rbytes=2500 wbytes=0\n");
    assert_metric(&io.r.msg, "cgroup.svc.io_write_bytes_ps", 4000 / 2);
    assert_metric(&io.r.msg, "cgroup.svc.io_read_bytes_ps", 2000 / 2);
    run_teardown(&io.r);
}

static void cgroup_io_counts_loop_io_on_the_disk_below(void **unused)
{
    struct io_run io;
    io_setup(&io);
    /* The loop driver re-issues loop0's reads as reads of its backing file, here on 8:0, charged
     * to the same cgroup. No sysfs is needed to tell a loop device. */
    assert_int_equal(run_init(&io.r), 0);
    io_tick(&io, "7:0 rbytes=1000 wbytes=0\n8:0 rbytes=1000 wbytes=0\n");
    io_tick(&io, "7:0 rbytes=3000 wbytes=0\n8:0 rbytes=3000 wbytes=0\n");
    assert_metric(&io.r.msg, "cgroup.svc.io_read_bytes_ps", 2000 / 2);
    run_teardown(&io.r);
}

static void cgroup_io_stacked_device_coming_and_going_moves_rate_by_its_tick(void **unused)
{
    struct io_run io;
    const char *rd = "cgroup.svc.io_read_bytes_ps";
    io_setup(&io);
    sys_dev(&io, "sda", "8:0");
    sys_dev(&io, "sda/sda2", "8:2");
    sys_dev(&io, "dm-0", "253:0");
    sys_slave(&io, "dm-0", "sda/sda2");
    assert_int_equal(run_init(&io.r), 0);
    io_tick(&io, "8:0 rbytes=1000\n");
    io_tick(&io, "8:0 rbytes=3000\n");
    assert_metric(&io.r.msg, rd, 1000);
    /* First I/O through dm-0: what it shows is new, and sda is now left out. */
    io_tick(&io, "8:0 rbytes=5000\n253:0 rbytes=2000\n");
    assert_metric(&io.r.msg, rd, 1000);
    io_tick(&io, "8:0 rbytes=7000\n253:0 rbytes=4000\n");
    assert_metric(&io.r.msg, rd, 1000);
    /* dm-0 removed: a counted device went away, so one sample is skipped; sda counts again from
     * there, by what it does, not by its 8000 bytes of history. */
    io_tick(&io, "8:0 rbytes=8000\n");
    assert_no_metric(&io.r.msg, rd);
    io_tick(&io, "8:0 rbytes=9000\n");
    assert_metric(&io.r.msg, rd, 500);
    run_teardown(&io.r);
}

static void cgroup_io_stacking_looked_up_again_at_rescan(void **unused)
{
    struct io_run io;
    const char *rd = "cgroup.svc.io_read_bytes_ps";
    io_setup(&io);
    sys_dev(&io, "sda", "8:0");
    sys_dev(&io, "sdb", "8:16");
    sys_dev(&io, "dm-0", "253:0");
    sys_slave(&io, "dm-0", "sda");
    assert_int_equal(run_init(&io.r), 0);
    char text[256];
    for (int i = 1; i <= 10; i++) {
        snprintf(text, sizeof text, "253:0 rbytes=%d\n8:0 rbytes=%d\n8:16 rbytes=%d\n", 1000 * i,
                 2000 * i, 4000 * i);
        if (i == 3) {
            /* dm-0's table reloaded onto sdb (as pvmove does): its line neither leaves io.stat
             * nor goes back, so sysfs is not read again until the rescan at the tenth tick. */
            char link[512];
            snprintf(link, sizeof link, "%s/block/dm-0/slaves/sda", io.sys);
            assert_int_equal(unlink(link), 0);
            sys_slave(&io, "dm-0", "sdb");
        }
        io_tick(&io, text);
        if (i > 1)
            assert_metric(&io.r.msg, rd, i < 10 ? (1000 + 4000) / 2 : (1000 + 2000) / 2);
    }
    run_teardown(&io.r);
}

/* dm-0 (253:0) on sda, with sdb beside it, read for two ticks; the read rate is then 1000. */
static void io_setup_dm0_on_sda(struct io_run *io)
{
    io_setup(io);
    sys_dev(io, "sda", "8:0");
    sys_dev(io, "sdb", "8:16");
    sys_dev(io, "dm-0", "253:0");
    sys_slave(io, "dm-0", "sda");
    assert_int_equal(run_init(&io->r), 0);
    io_tick(io, "253:0 rbytes=1000\n8:0 rbytes=1000\n8:16 rbytes=0\n");
    io_tick(io, "253:0 rbytes=3000\n8:0 rbytes=3000\n8:16 rbytes=0\n");
    assert_metric(&io->r.msg, "cgroup.svc.io_read_bytes_ps", 1000);
}

/* dm-0 removed and its number given to a new volume on sdb. */
static void reuse_dm0_on_sdb(struct io_run *io)
{
    char link[512];
    snprintf(link, sizeof link, "%s/block/dm-0/slaves/sda", io->sys);
    assert_int_equal(unlink(link), 0);
    sys_slave(io, "dm-0", "sdb");
}

static void cgroup_io_reused_device_number_looked_up_again_when_its_line_returns(void **unused)
{
    struct io_run io;
    const char *rd = "cgroup.svc.io_read_bytes_ps";
    io_setup_dm0_on_sda(&io);
    /* Removing a disk removes its line from every io.stat; the new volume's line appears with
     * its first I/O, well before the rescan at the tenth tick. */
    reuse_dm0_on_sdb(&io);
    io_tick(&io, "8:0 rbytes=3000\n8:16 rbytes=0\n");
    assert_no_metric(&io.r.msg, rd);
    io_tick(&io, "253:0 rbytes=500\n8:0 rbytes=3000\n8:16 rbytes=500\n");
    assert_metric(&io.r.msg, rd, 500 / 2);
    io_tick(&io, "253:0 rbytes=2500\n8:0 rbytes=3000\n8:16 rbytes=2500\n");
    assert_metric(&io.r.msg, rd, 2000 / 2);
    run_teardown(&io.r);
}

static void cgroup_io_reused_device_number_looked_up_again_when_its_counters_go_back(void **unused)
{
    struct io_run io;
    const char *rd = "cgroup.svc.io_read_bytes_ps";
    io_setup_dm0_on_sda(&io);
    /* Removed and re-created between two readings: the line never left, but the new disk's
     * counters start from 0. */
    reuse_dm0_on_sdb(&io);
    io_tick(&io, "253:0 rbytes=200\n8:0 rbytes=3000\n8:16 rbytes=200\n");
    assert_no_metric(&io.r.msg, rd);
    io_tick(&io, "253:0 rbytes=1200\n8:0 rbytes=3000\n8:16 rbytes=1200\n");
    assert_metric(&io.r.msg, rd, 1000 / 2);
    run_teardown(&io.r);
}

static void cgroup_io_without_sysfs_counts_every_device(void **unused)
{
    struct io_run io;
    io_setup(&io);
    /* Nothing at sys_root: what is stacked on what is unknown, so nothing is left out (stacked
     * I/O then counts once per layer, as io.stat lists it). */
    assert_int_equal(run_init(&io.r), 0);
    io_tick(&io, "8:0 rbytes=1000\n253:0 rbytes=1000\n");
    io_tick(&io, "8:0 rbytes=3000\n253:0 rbytes=3000\n");
    assert_metric(&io.r.msg, "cgroup.svc.io_read_bytes_ps", 4000 / 2);
    run_teardown(&io.r);
}

static void cgroup_io_rates_leave_out_lines_naming_no_device(void **unused)
{
    struct io_run io;
    io_setup(&io);
    /* NVMe multipath (259:0) over two paths the kernel names "(unknown)": each I/O counts once,
     * on 259:0, and the rest of the file is still read. */
    assert_int_equal(run_init(&io.r), 0);
    io_tick(&io, "259:0 rbytes=1000 wbytes=100\n(unknown) rbytes=600 wbytes=50\n"
                 "(unknown) rbytes=400 wbytes=50\n8:0 rbytes=10 wbytes=0\n");
    io_tick(&io, "259:0 rbytes=5000 wbytes=300\n(unknown) rbytes=2600 wbytes=150\n"
                 "(unknown) rbytes=2400 wbytes=150\n8:0 rbytes=30 wbytes=0\n");
    assert_metric(&io.r.msg, "cgroup.svc.io_read_bytes_ps", (4000 + 20) / 2);
    assert_metric(&io.r.msg, "cgroup.svc.io_write_bytes_ps", 200 / 2);
    run_teardown(&io.r);
}

static void cgroup_io_rates_read_devices_joined_on_one_line(void **unused)
{
    struct io_run io;
    io_setup(&io);
    /* As a 5.15 kernel prints it: loop1, without stats, runs into 8:0, and 8:16 follows on the
     * same line. */
    assert_int_equal(run_init(&io.r), 0);
    io_tick(&io, "7:1 8:0 rbytes=1000 wbytes=10 rios=1 wios=1 dbytes=0 dios=0 "
                 "8:16 rbytes=1000 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n");
    io_tick(&io, "7:1 8:0 rbytes=3000 wbytes=30 rios=3 wios=3 dbytes=0 dios=0 "
                 "8:16 rbytes=5000 wbytes=0 rios=5 wios=0 dbytes=0 dios=0\n");
    assert_metric(&io.r.msg, "cgroup.svc.io_read_bytes_ps", (2000 + 4000) / 2);
    assert_metric(&io.r.msg, "cgroup.svc.io_write_bytes_ps", 20 / 2);
    run_teardown(&io.r);
}

/* ---- the live host ---- */

static double live_value(const struct vg_wire_msg *m, const char *name)
{
    const struct vg_metric *v = find(m, name);
    if (!v)
        fail_msg("%s missing on this host", name);
    return v->value;
}

static void live_host_values_are_plausible(void **unused)
{
    static const char *const shares[] = {"cpu.user_pct",    "cpu.nice_pct",   "cpu.system_pct",
                                         "cpu.idle_pct",    "cpu.iowait_pct", "cpu.irq_pct",
                                         "cpu.softirq_pct", "cpu.steal_pct"};
    const struct vg_collector_cfg cfg = {.proc_root = "/proc", .sys_root = "/sys"};
    char err[VG_ERRLEN];
    struct vg_wire_msg msg;
    vg_wire_msg_init(&msg);

    for (size_t i = 0; vg_collectors[i]; i++) {
        if (is_bpf(vg_collectors[i]))
            continue; /* kernel programs, not files: tested in test_bpf */
        const struct vg_collector *c = vg_collectors[i];
        void *st = NULL;
        int rc = c->init(&st, &cfg, err, sizeof err);
        /* Containers may hide diskstats, kernels may lack PSI or cgroup v2; cpu, mem and load
         * exist on every Linux host. */
        if (rc == -ENOENT && (strcmp(c->name, "disk") == 0 || strcmp(c->name, "net") == 0 ||
                              strcmp(c->name, "psi") == 0 || strcmp(c->name, "cgroup") == 0))
            continue;
        if (rc < 0)
            fail_msg("%s: %s", c->name, err);
        /* Two reads in the same jiffy give no CPU shares: read until one has elapsed. The loop
         * itself keeps this CPU busy, so that takes a few milliseconds. */
        int64_t start = vg_mono_ms();
        do {
            vg_wire_msg_reset(&msg);
            rc = c->collect(st, vg_mono_ms(), &msg, err, sizeof err);
            if (rc < 0)
                fail_msg("%s: %s", c->name, err);
        } while (strcmp(c->name, "cpu") == 0 && !find(&msg, "cpu.idle_pct") &&
                 vg_mono_ms() - start < 5000);

        for (size_t j = 0; j < msg.n_metrics; j++) {
            double v = msg.metrics[j].value;
            if (!isfinite(v) || v < 0)
                fail_msg("%s = %g", msg.metrics[j].name, v);
            /* A cgroup's cpu_pct is of one CPU; live_host_cgroup_values_are_plausible checks it. */
            if (strstr(msg.metrics[j].name, "_pct") && v > 100 &&
                strncmp(msg.metrics[j].name, "cgroup.", 7) != 0)
                fail_msg("%s = %g", msg.metrics[j].name, v);
        }
        if (strcmp(c->name, "cpu") == 0) {
            double sum = 0;
            for (size_t j = 0; j < VG_ARRAY_LEN(shares); j++)
                sum += live_value(&msg, shares[j]);
            if (fabs(sum - 100) > 1)
                fail_msg("CPU shares add up to %g", sum);
        } else if (strcmp(c->name, "mem") == 0) {
            assert_true(live_value(&msg, "mem.total_bytes") > 0);
            assert_true(live_value(&msg, "mem.available_bytes") <=
                        live_value(&msg, "mem.total_bytes"));
        } else if (strcmp(c->name, "load") == 0) {
            assert_true(live_value(&msg, "load.1m") >= 0);
            assert_true(live_value(&msg, "load.threads") >= 1);
        }
        c->fini(st);
    }
    vg_wire_msg_free(&msg);
}

/* Runs c on the live host for two ticks 1 s apart by the clock passed in (the real gap is
 * shorter, which only makes rates smaller); the message holds the second tick's. Returns the
 * init code; *st is left for the caller to fini. */
static int live_two_ticks(const struct vg_collector *c, const struct vg_collector_cfg *cfg,
                          void **st, struct vg_wire_msg *msg)
{
    char err[VG_ERRLEN];
    int rc = c->init(st, cfg, err, sizeof err);
    if (rc < 0)
        return rc;
    int64_t t = vg_mono_ms();
    for (int i = 0; i < 2; i++) {
        vg_wire_msg_reset(msg);
        if ((rc = c->collect(*st, t + 1000 * i, msg, err, sizeof err)) < 0)
            fail_msg("%s: %s", c->name, err);
    }
    for (size_t j = 0; j < msg->n_metrics; j++) {
        double v = msg->metrics[j].value;
        if (!isfinite(v) || v < 0)
            fail_msg("%s = %g", msg->metrics[j].name, v);
        if (!documented(c, msg->metrics[j].name))
            fail_msg("%s is not in the %s table", msg->metrics[j].name, c->name);
    }
    return 0;
}

static int file_has(const char *path, const char *needle)
{
    char buf[65536];
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

static void live_host_new_collectors_are_plausible(void **unused)
{
    const struct vg_collector_cfg cfg = {.proc_root = "/proc", .sys_root = "/sys"};
    struct vg_wire_msg msg;
    void *st = NULL;
    vg_wire_msg_init(&msg);

    assert_int_equal(live_two_ticks(vg_collector_find("vmstat"), &cfg, &st, &msg), 0);
    live_value(&msg, "vmstat.pgfault_ps");
    live_value(&msg, "vmstat.pgpgin_bytes_ps");
    if (file_has("/proc/vmstat", "\noom_kill "))
        live_value(&msg, "vmstat.oom_kill");
    vg_collector_find("vmstat")->fini(st);

    int rc = live_two_ticks(vg_collector_find("psi"), &cfg, &st, &msg);
    if (access("/proc/pressure", F_OK) == 0) {
        assert_int_equal(rc, 0);
        static const char *const res[] = {"cpu", "memory", "io"};
        for (size_t i = 0; i < VG_ARRAY_LEN(res); i++) {
            char name[64];
            snprintf(name, sizeof name, "psi.%s.some_avg10", res[i]);
            assert_true(live_value(&msg, name) <= 100);
            snprintf(name, sizeof name, "psi.%s.some_total_us_ps", res[i]);
            /* Stalled time cannot exceed the wall time between the reads, well under 1 s. */
            assert_true(live_value(&msg, name) <= 1e6);
        }
        vg_collector_find("psi")->fini(st);
    } else {
        assert_int_equal(rc, -ENOENT);
    }

    assert_int_equal(live_two_ticks(vg_collector_find("netstat"), &cfg, &st, &msg), 0);
    live_value(&msg, "tcp.active_opens_ps");
    live_value(&msg, "tcp.curr_estab");
    live_value(&msg, "tcp.time_wait");
    live_value(&msg, "udp.no_ports_ps");
    if (file_has("/proc/net/netstat", " ListenDrops"))
        live_value(&msg, "tcp.listen_drops_ps");
    vg_collector_find("netstat")->fini(st);

    assert_int_equal(live_two_ticks(vg_collector_find("fs"), &cfg, &st, &msg), 0);
    assert_true(live_value(&msg, "fd.allocated") >= 3); /* this process has stdin..stderr */
    assert_true(live_value(&msg, "fd.allocated") <= live_value(&msg, "fd.max"));
    /* Not procs.count <= procs.threads: the count is taken every 10th tick (here at init) and
     * the threads at each tick, and on a host with few threads per process (82 against 68 on
     * the development machine) other tests' processes exiting in between can reverse them. The
     * fixture tests pin both parsers exactly. */
    assert_true(live_value(&msg, "procs.count") >= 1);
    assert_true(live_value(&msg, "procs.threads") >= 1);
    vg_collector_find("fs")->fini(st);
    vg_wire_msg_free(&msg);
}

static void live_host_per_cpu_shares_add_up(void **unused)
{
    const struct vg_collector_cfg cfg = {
        .proc_root = "/proc", .sys_root = "/sys", .cpu_per_cpu = 1};
    const struct vg_collector *c = vg_collector_find("cpu");
    char err[VG_ERRLEN], name[64];
    struct vg_wire_msg msg;
    void *st = NULL;
    vg_wire_msg_init(&msg);
    assert_int_equal(c->init(&st, &cfg, err, sizeof err), 0);
    long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);
    /* As in live_host_values_are_plausible: read until a jiffy has elapsed on every CPU. */
    int64_t start = vg_mono_ms();
    size_t have;
    do {
        vg_wire_msg_reset(&msg);
        if (c->collect(st, vg_mono_ms(), &msg, err, sizeof err) < 0)
            fail_msg("%s", err);
        have = 0;
        for (size_t i = 0; i < msg.n_metrics; i++) {
            const char *m = msg.metrics[i].name;
            have += strncmp(m, "cpu.", 4) == 0 && m[4] >= '0' && m[4] <= '9' &&
                    strstr(m, ".idle_pct") != NULL;
        }
    } while (have < (size_t)n_cpu && vg_mono_ms() - start < 5000);
    assert_int_equal(have, n_cpu);
    for (size_t i = 0; i < msg.n_metrics; i++)
        if (!documented(c, msg.metrics[i].name))
            fail_msg("%s is not in the cpu table", msg.metrics[i].name);
    for (long cpu = 0; cpu < n_cpu; cpu++) {
        static const char *const shares[] = {"user",   "nice", "system",  "idle",
                                             "iowait", "irq",  "softirq", "steal"};
        double sum = 0;
        snprintf(name, sizeof name, "cpu.%ld.idle_pct", cpu);
        if (!find(&msg, name))
            continue; /* CPU numbers need not be contiguous */
        for (size_t i = 0; i < VG_ARRAY_LEN(shares); i++) {
            snprintf(name, sizeof name, "cpu.%ld.%s_pct", cpu, shares[i]);
            sum += live_value(&msg, name);
        }
        if (fabs(sum - 100) > 1e-6)
            fail_msg("CPU %ld shares add up to %g", cpu, sum);
    }
    c->fini(st);
    vg_wire_msg_free(&msg);
}

/* The cgroup the live test made, removed by its teardown whatever the test's outcome. */
static char g_live_cg[PATH_MAX], g_live_cg_child[PATH_MAX + 8];

static int live_cg_teardown(void **unused)
{
    if (g_live_cg_child[0])
        rmdir(g_live_cg_child);
    if (g_live_cg[0])
        rmdir(g_live_cg);
    g_live_cg[0] = g_live_cg_child[0] = '\0';
    return 0;
}

static void live_host_cgroup_values_are_plausible(void **unused)
{
    struct vg_collector_cfg cfg = {.proc_root = "/proc", .sys_root = "/sys"};
    const struct vg_collector *c = vg_collector_find("cgroup");
    char err[VG_ERRLEN], select[128], root[PATH_MAX] = "";
    struct vg_wire_msg msg;
    void *st = NULL;

    int rc = c->init(&st, &cfg, err, sizeof err);
    if (rc == -ENOENT)
        skip(); /* no cgroup v2 hierarchy on this host */
    if (rc < 0)
        fail_msg("%s", err);
    c->fini(st);
    snprintf(root, sizeof root, "%s",
             access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ? "/sys/fs/cgroup"
                                                                    : "/sys/fs/cgroup/unified");

    /* Where we may, a cgroup of our own, so that there is something to read whatever the host
     * runs; else whatever system.slice holds. */
    snprintf(g_live_cg, sizeof g_live_cg, "%.3900s/vigil-test-%d.slice", root, (int)getpid());
    snprintf(g_live_cg_child, sizeof g_live_cg_child, "%s/t.scope", g_live_cg);
    int own = mkdir(g_live_cg, 0755) == 0 && mkdir(g_live_cg_child, 0755) == 0;
    if (own) {
        snprintf(select, sizeof select, "vigil-test-%d.slice/*", (int)getpid());
        cfg.cgroup_select = select;
    } else {
        live_cg_teardown(NULL);
        char ss[PATH_MAX + 16];
        snprintf(ss, sizeof ss, "%s/system.slice", root);
        if (access(ss, F_OK) != 0)
            skip();
    }
    vg_wire_msg_init(&msg);
    assert_int_equal(live_two_ticks(c, &cfg, &st, &msg), 0);
    long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);
    size_t n_cpu_pct = 0;
    for (size_t i = 0; i < msg.n_metrics; i++) {
        const char *m = msg.metrics[i].name;
        double v = msg.metrics[i].value;
        if (strstr(m, ".cpu_pct")) {
            n_cpu_pct++;
            assert_true(v <= 100.0 * (double)n_cpu);
        } else if (strstr(m, "_avg10")) {
            assert_true(v <= 100);
        }
    }
    assert_true(n_cpu_pct > 0);
    if (own) {
        char name[160], prefix[128];
        int64_t t = vg_mono_ms() + 10000;
        snprintf(prefix, sizeof prefix, "cgroup.vigil-test-%d.slice.t.scope.", (int)getpid());
        snprintf(name, sizeof name, "%scpu_pct", prefix);
        /* An empty cgroup uses no CPU. */
        assert_true(live_value(&msg, name) == 0);
        /* Removed: the kernel answers the held descriptors with ENODEV; no metric, no error. */
        assert_int_equal(rmdir(g_live_cg_child), 0);
        vg_wire_msg_reset(&msg);
        assert_int_equal(c->collect(st, t, &msg, err, sizeof err), 0);
        assert_int_equal(count_prefix(&msg, prefix), 0);
        /* Created again: a new cgroup, whose rates start over. */
        assert_int_equal(mkdir(g_live_cg_child, 0755), 0);
        vg_wire_msg_reset(&msg);
        assert_int_equal(c->collect(st, t + 1000, &msg, err, sizeof err), 0);
        assert_no_metric(&msg, name);
        vg_wire_msg_reset(&msg);
        assert_int_equal(c->collect(st, t + 2000, &msg, err, sizeof err), 0);
        assert_true(live_value(&msg, name) == 0);
    }
    c->fini(st);
    vg_wire_msg_free(&msg);
}

/* ---- cost ---- */

static double cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* CPU time of ticks collect() calls of c, ticks either back to back ("hot": caches warm, as
 * the figures quoted for the first five collectors) or 4 ms apart ("cold": closer to the agent,
 * which sleeps between ticks). Only the collect() calls are timed. */
static double collect_cost(const struct vg_collector *c, void *st, int cold, double clock_cost,
                           size_t *n_metrics)
{
    enum { TICKS = 400 };
    const struct timespec gap = {0, 4000000};
    struct vg_wire_msg msg;
    char err[VG_ERRLEN];
    double spent = 0;
    int64_t t = vg_mono_ms();
    vg_wire_msg_init(&msg);
    for (int k = -2; k < TICKS; k++) {
        /* Without real time passing no CPU share would be sent, and not counted, even hot. */
        if (cold || k % 8 == 0)
            nanosleep(&gap, NULL);
        vg_wire_msg_reset(&msg);
        double t0 = cpu_us();
        int rc = c->collect(st, t + 1000 * (k + 2), &msg, err, sizeof err);
        if (k >= 0)
            spent += cpu_us() - t0 - clock_cost;
        if (rc < 0 && k == 0)
            printf("%-8s error: %s\n", c->name, err);
        *n_metrics = msg.n_metrics;
    }
    vg_wire_msg_free(&msg);
    return spent / TICKS;
}

/* Prints each collector's CPU time per tick on this host. */
static int print_cost(const char *select)
{
    struct vg_collector_cfg cfg = {
        .proc_root = "/proc", .sys_root = "/sys", .cgroup_select = select};
    char err[VG_ERRLEN];
    double total[2] = {0, 0}, clock_cost = cpu_us();
    for (int k = 0; k < 1000; k++)
        cpu_us();
    clock_cost = (cpu_us() - clock_cost) / 1001;
    printf("collector      hot us  cold us  metrics\n");
    for (int per_cpu = 0; per_cpu < 2; per_cpu++) {
        for (size_t i = 0; vg_collectors[i]; i++) {
            const struct vg_collector *c = vg_collectors[i];
            void *st = NULL;
            size_t n = 0;
            double us[2];
            if (per_cpu && strcmp(c->name, "cpu") != 0)
                continue;
            cfg.cpu_per_cpu = per_cpu;
            if (c->init(&st, &cfg, err, sizeof err) < 0) {
                printf("%-8s off: %s\n", c->name, err);
                continue;
            }
            for (int cold = 0; cold < 2; cold++)
                us[cold] = collect_cost(c, st, cold, clock_cost, &n);
            printf("%-8s%s %7.1f  %7.1f  %5zu\n", c->name, per_cpu ? "/cpu" : "    ", us[0], us[1],
                   n);
            for (int cold = 0; !per_cpu && cold < 2; cold++)
                total[cold] += us[cold];
            c->fini(st);
        }
    }
    printf("all         %7.1f  %7.1f  (per-CPU off)\n", total[0], total[1]);
    return 0;
}

static int write_metrics_md(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return 1;
    }
    int rc = vg_collectors_write_markdown(f);
    if (fclose(f) != 0 || rc < 0) {
        fprintf(stderr, "%s: write failed\n", path);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-metrics-md") == 0)
        return write_metrics_md(argv[2]);
    if (argc >= 2 && argc <= 3 && strcmp(argv[1], "--cost") == 0)
        return print_cost(argv[2]);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cpu_first_tick_sends_only_gauges),
        cmocka_unit_test(cpu_shares_and_rates_over_two_ticks),
        cmocka_unit_test(cpu_without_elapsed_jiffies_sends_no_shares),
        cmocka_unit_test(cpu_old_kernel_with_seven_columns),
        cmocka_unit_test(cpu_counter_going_back_is_not_negative),
        cmocka_unit_test(cpu_idle_going_back_sends_no_shares_that_tick),
        cmocka_unit_test(mem_values_in_bytes),
        cmocka_unit_test(mem_old_kernel_estimates_available),
        cmocka_unit_test(mem_available_above_total_is_zero_used),
        cmocka_unit_test(load_values),
        cmocka_unit_test(disk_rates_over_two_ticks),
        cmocka_unit_test(disk_keeps_partitions_without_sysfs),
        cmocka_unit_test(disk_32bit_millisecond_fields_wrap),
        cmocka_unit_test(disk_old_kernel_14_fields),
        cmocka_unit_test(disk_util_is_capped_at_100),
        cmocka_unit_test(disk_recreated_device_resets_every_counter),
        cmocka_unit_test(net_rates_over_two_ticks),
        cmocka_unit_test(net_64bit_wrap_unfolded_and_32bit_wrap_skipped),
        cmocka_unit_test(net_old_kernel_counter_against_colon),
        cmocka_unit_test(net_interfaces_come_and_go),
        cmocka_unit_test(net_name_reused_after_a_gap_skips_a_sample),
        cmocka_unit_test(net_names_that_sanitise_alike_are_sent_once_and_said),
        cmocka_unit_test(disk_names_that_sanitise_alike_are_sent_once_and_said),
        cmocka_unit_test(cpu_per_cpu_off_by_default),
        cmocka_unit_test(cpu_per_cpu_shares_over_two_ticks),
        cmocka_unit_test(cpu_per_cpu_offline_cpu_skips_one_tick),
        cmocka_unit_test(cpu_per_cpu_bad_line_is_an_error),
        cmocka_unit_test(vmstat_rates_over_two_ticks),
        cmocka_unit_test(vmstat_first_tick_sends_oom_total_only),
        cmocka_unit_test(vmstat_old_kernel_without_oom_kill),
        cmocka_unit_test(vmstat_without_known_fields_is_an_error),
        cmocka_unit_test(psi_values_over_two_ticks),
        cmocka_unit_test(psi_kernel_without_cpu_full),
        cmocka_unit_test(psi_missing_directory_fails_init_naming_it),
        cmocka_unit_test(psi_one_unreadable_resource_keeps_the_others),
        cmocka_unit_test(netstat_rates_over_two_ticks),
        cmocka_unit_test(netstat_old_kernel_with_fewer_columns),
        cmocka_unit_test(netstat_columns_found_by_name),
        cmocka_unit_test(netstat_malformed_pairs_are_errors),
        cmocka_unit_test(netstat_one_bad_file_keeps_the_others),
        cmocka_unit_test(fs_handles_processes_and_threads),
        cmocka_unit_test(fs_file_max_zero_sends_no_share),
        cmocka_unit_test(counter_resets_give_no_negative_or_huge_rate),
        cmocka_unit_test(missing_file_fails_init_with_enoent_naming_path),
        cmocka_unit_test(garbage_fails_init_with_einval_naming_path),
        cmocka_unit_test(garbage_after_init_fails_collect),
        cmocka_unit_test(file_vanishing_after_init_fails_collect),
        cmocka_unit_test(malformed_disk_line_is_reported_and_others_kept),
        cmocka_unit_test(malformed_net_line_is_reported_and_others_kept),
        cmocka_unit_test(many_interfaces_all_reported),
        cmocka_unit_test(oversized_file_is_refused),
        cmocka_unit_test(parsers_never_read_past_len),
        cmocka_unit_test(numbers_out_of_range_are_errors),
        cmocka_unit_test(empty_device_files_are_valid),
        cmocka_unit_test(new_parsers_never_read_past_len),
        cmocka_unit_test(keyed_parser_rules),
        cmocka_unit_test(small_parsers_reject_garbage),
        cmocka_unit_test(cg_iostat_skips_lines_naming_no_device),
        cmocka_unit_test(cg_iostat_splits_devices_joined_on_one_line),
        cmocka_unit_test(devtab_forgets_a_device_missing_from_one_tick),
        cmocka_unit_test(devtab_keeps_file_order),
        cmocka_unit_test(devtab_refuses_more_than_max),
        cmocka_unit_test(devbudget_counts_the_most_the_others_sent_lately),
        cmocka_unit_test(sanitise_maps_outside_charset_to_underscore),
        cmocka_unit_test(collector_find_by_name),
        cmocka_unit_test(every_metric_sent_is_documented),
        cmocka_unit_test(metrics_md_matches_tables),
        cmocka_unit_test(cgroup_values_over_two_ticks),
        cmocka_unit_test(cgroup_first_tick_sends_levels_only),
        cmocka_unit_test(cgroup_old_kernel_yields_fewer_metrics),
        cmocka_unit_test(cgroup_select_globs),
        cmocka_unit_test(cgroup_select_matching_nothing_is_logged_at_init_and_on_change),
        cmocka_unit_test(cgroup_rates_of_the_rescan_tick_cover_the_time_between_readings),
        cmocka_unit_test(cgroup_left_out_by_the_limit_skips_one_sample_when_back),
        cmocka_unit_test(cgroup_bad_select_fails_init),
        cmocka_unit_test(cgroup_disappears_and_reappears_starts_over),
        cmocka_unit_test(cgroup_recreated_between_ticks_starts_over),
        cmocka_unit_test(cgroup_counter_reset_gives_no_negative_or_huge_rate),
        cmocka_unit_test(cgroup_rescan_adds_new_and_drops_gone),
        cmocka_unit_test(cgroup_max_reports_first_by_name_and_says_so),
        cmocka_unit_test(cgroup_leaves_out_what_would_pass_the_message_limit),
        cmocka_unit_test(net_leaves_out_what_would_pass_the_message_limit),
        cmocka_unit_test(disk_leaves_out_what_would_pass_the_message_limit),
        cmocka_unit_test(cgroup_names_sanitised_and_kept_unique),
        cmocka_unit_test(cgroup_root_auto_detection),
        cmocka_unit_test(cgroup_garbage_fails_collect_naming_file),
        cmocka_unit_test(cgroup_io_counts_stacked_io_once),
        cmocka_unit_test(cgroup_io_counts_the_top_of_raid_and_partition_stacks),
        cmocka_unit_test(cgroup_io_counts_loop_io_on_the_disk_below),
        cmocka_unit_test(cgroup_io_stacked_device_coming_and_going_moves_rate_by_its_tick),
        cmocka_unit_test(cgroup_io_stacking_looked_up_again_at_rescan),
        cmocka_unit_test(cgroup_io_reused_device_number_looked_up_again_when_its_line_returns),
        cmocka_unit_test(cgroup_io_reused_device_number_looked_up_again_when_its_counters_go_back),
        cmocka_unit_test(cgroup_io_without_sysfs_counts_every_device),
        cmocka_unit_test(cgroup_io_rates_leave_out_lines_naming_no_device),
        cmocka_unit_test(cgroup_io_rates_read_devices_joined_on_one_line),
        cmocka_unit_test(live_host_values_are_plausible),
        cmocka_unit_test(live_host_new_collectors_are_plausible),
        cmocka_unit_test(live_host_per_cpu_shares_add_up),
        cmocka_unit_test_teardown(live_host_cgroup_values_are_plausible, live_cg_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
