/* Collectors run over fixture trees (tests/data/proc) and the live host.
 *
 * Each fixture test copies one tree into a scratch proc root per tick (basic-1, then basic-2...),
 * so counters advance exactly as written in the fixtures; ticks are 2 s apart so every expected
 * value below is exact in binary floating point.
 *
 * Run with --write-metrics-md PATH to regenerate docs/metrics.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "proc_parse.h"
#include "proc_read.h"
#include "vg_collector.h"
#include "vg_devtab.h"
#include "vg_util.h"
#include "vg_wire.h"

#define FIXTURES VG_TEST_DATA "/proc"
#define SYSFS    FIXTURES "/sysfs"
#define T0       1000000
#define TICK     2000

/* Every file a collector reads, relative to the proc root. */
static const char *const proc_files[] = {"stat", "meminfo", "loadavg", "diskstats", "net/dev"};

struct run {
    char root[64]; /* scratch proc root */
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

/* Makes the scratch root hold exactly the files fixture tree `tree` has. */
static void load_tree(struct run *r, const char *tree)
{
    for (size_t i = 0; i < VG_ARRAY_LEN(proc_files); i++) {
        char src[512], dst[256];
        snprintf(src, sizeof src, "%s/%s/%s", FIXTURES, tree, proc_files[i]);
        snprintf(dst, sizeof dst, "%s/%s", r->root, proc_files[i]);
        FILE *f = fopen(src, "rb");
        if (!f) {
            unlink(dst);
            continue;
        }
        char buf[65536];
        size_t n = fread(buf, 1, sizeof buf, f);
        assert_true(feof(f));
        fclose(f);
        write_file(dst, buf, n);
    }
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
    /* iowait stepped back by 10: it counts as 0, and the shares still add up to 100. */
    assert_metric(&r.msg, "cpu.user_pct", 10);
    assert_metric(&r.msg, "cpu.system_pct", 10);
    assert_metric(&r.msg, "cpu.idle_pct", 79);
    assert_metric(&r.msg, "cpu.iowait_pct", 0);
    assert_metric(&r.msg, "cpu.irq_pct", 0.5);
    assert_metric(&r.msg, "cpu.softirq_pct", 0.5);
    assert_no_metric(&r.msg, "cpu.ctxt_ps");
    assert_metric(&r.msg, "cpu.intr_ps", 1000);
    /* The stat file of this fixture has no procs_* lines: they are simply not sent. */
    assert_no_metric(&r.msg, "cpu.procs_running");
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
    /* eth0 back within VG_DEVTAB_KEEP_TICKS: its baseline survived. */
    put(&r, "net/dev", NETHDR NETLINE("veth1", 700) NETLINE("eth0", 9000));
    assert_int_equal(run_tick(&r, T0 + 4 * TICK), 0);
    assert_metric(&r.msg, "net.eth0.rx_bytes_ps", 1000);
    run_teardown(&r);
}

static void net_names_that_sanitise_alike_are_sent_once(void **unused)
{
    struct run r;
    run_setup(&r, "net", SYSFS);
    put(&r, "net/dev", NETHDR NETLINE("a%b", 1000) NETLINE("a#b", 5000));
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r, T0), 0);
    put(&r, "net/dev", NETHDR NETLINE("a%b", 3000) NETLINE("a#b", 9000));
    assert_int_equal(run_tick(&r, T0 + TICK), 0);
    assert_int_equal(count_prefix(&r.msg, "net.a_b.rx_bytes_ps"), 1);
    assert_metric(&r.msg, "net.a_b.rx_bytes_ps", 1000);
    run_teardown(&r);
}

/* ---- resets, wraps, errors ---- */

static void counter_resets_give_no_negative_or_huge_rate(void **unused)
{
    static const char *const collectors[] = {"cpu", "disk", "net"};
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
}

static void missing_file_fails_init_with_enoent_naming_path(void **unused)
{
    for (size_t i = 0; vg_collectors[i]; i++) {
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
        struct run r;
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
        struct run r;
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

/* ---- device table ---- */

static void devtab_drops_devices_unseen_for_keep_ticks(void **unused)
{
    struct vg_devtab t;
    struct vg_dev *d;
    vg_devtab_init(&t);
    vg_devtab_begin(&t);
    assert_int_equal(vg_devtab_get(&t, "a", &d), 1);
    d->flags = 7;
    assert_int_equal(vg_devtab_get(&t, "b", &d), 1);
    assert_int_equal(vg_devtab_get(&t, "a", &d), -EEXIST);
    vg_devtab_end(&t);
    for (int i = 1; i < VG_DEVTAB_KEEP_TICKS; i++) {
        vg_devtab_begin(&t);
        assert_int_equal(vg_devtab_get(&t, "b", &d), 0);
        vg_devtab_end(&t);
    }
    assert_int_equal(t.n, 2);
    vg_devtab_begin(&t);
    assert_int_equal(vg_devtab_get(&t, "b", &d), 0);
    vg_devtab_end(&t);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.dev[0].name, "b");
    vg_devtab_begin(&t);
    assert_int_equal(vg_devtab_get(&t, "a", &d), 1);
    assert_int_equal(d->flags, 0);
    vg_devtab_end(&t);
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
    static const char *const names[] = {"cpu", "mem", "load", "disk", "net"};
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
    const struct vg_collector_cfg cfg = {"/proc", "/sys"};
    char err[VG_ERRLEN];
    struct vg_wire_msg msg;
    vg_wire_msg_init(&msg);

    for (size_t i = 0; vg_collectors[i]; i++) {
        const struct vg_collector *c = vg_collectors[i];
        void *st = NULL;
        int rc = c->init(&st, &cfg, err, sizeof err);
        /* Containers may hide diskstats; cpu, mem and load exist on every Linux host. */
        if (rc == -ENOENT && (strcmp(c->name, "disk") == 0 || strcmp(c->name, "net") == 0))
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
            if (strstr(msg.metrics[j].name, "_pct") && v > 100)
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

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cpu_first_tick_sends_only_gauges),
        cmocka_unit_test(cpu_shares_and_rates_over_two_ticks),
        cmocka_unit_test(cpu_without_elapsed_jiffies_sends_no_shares),
        cmocka_unit_test(cpu_old_kernel_with_seven_columns),
        cmocka_unit_test(cpu_counter_going_back_is_not_negative),
        cmocka_unit_test(mem_values_in_bytes),
        cmocka_unit_test(mem_old_kernel_estimates_available),
        cmocka_unit_test(mem_available_above_total_is_zero_used),
        cmocka_unit_test(load_values),
        cmocka_unit_test(disk_rates_over_two_ticks),
        cmocka_unit_test(disk_keeps_partitions_without_sysfs),
        cmocka_unit_test(disk_32bit_millisecond_fields_wrap),
        cmocka_unit_test(disk_old_kernel_14_fields),
        cmocka_unit_test(disk_util_is_capped_at_100),
        cmocka_unit_test(net_rates_over_two_ticks),
        cmocka_unit_test(net_64bit_wrap_unfolded_and_32bit_wrap_skipped),
        cmocka_unit_test(net_old_kernel_counter_against_colon),
        cmocka_unit_test(net_interfaces_come_and_go),
        cmocka_unit_test(net_names_that_sanitise_alike_are_sent_once),
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
        cmocka_unit_test(devtab_drops_devices_unseen_for_keep_ticks),
        cmocka_unit_test(devtab_keeps_file_order),
        cmocka_unit_test(devtab_refuses_more_than_max),
        cmocka_unit_test(sanitise_maps_outside_charset_to_underscore),
        cmocka_unit_test(collector_find_by_name),
        cmocka_unit_test(every_metric_sent_is_documented),
        cmocka_unit_test(metrics_md_matches_tables),
        cmocka_unit_test(live_host_values_are_plausible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
