/* libFuzzer target for the /proc and cgroup parsers: arbitrary bytes must never crash them or
 * make them read outside the buffer, and what they accept must hold the invariants the
 * collectors rely on. Every input goes through every parser, so any real /proc or cgroup file is
 * a useful seed. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc_parse.h"
#include "vg_cgname.h"
#include "vg_devtab.h"
#include "vg_fsspace.h"
#include "vg_util.h"

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_proc: %s\n", what);
    abort();
}

/* Device names go into metric names; the collectors rely on sanitising to keep them valid. */
static void check_name(const char *name, size_t len, struct vg_devtab *tab)
{
    char key[VG_DEV_NAME_MAX + 1];
    struct vg_dev *dev;

    if (len < 1 || len > VG_DEV_NAME_MAX || memchr(name, '\n', len))
        fail("device name length or content out of bounds");
    size_t n = vg_metric_sanitise(key, sizeof key, name, len);
    if (n != len || strlen(key) != len ||
        strspn(key, "abcdefghijklmnopqrstuvwxyz"
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") != len)
        fail("sanitised name outside the metric charset");
    int rc = vg_devtab_get(tab, key, &dev);
    if (rc >= 0 && strcmp(dev->name, key) != 0)
        fail("device table returned another device");
}

static int on_disk(void *ctx, const struct vg_disk_line *d)
{
    if (d->n_counters != 4 && d->n_counters < VG_DISK_NCOUNTERS)
        fail("disk line with a counter count no kernel prints");
    check_name(d->name, d->name_len, ctx);
    return 0;
}

static int on_net(void *ctx, const struct vg_net_line *n)
{
    if (memchr(n->name, ':', n->name_len) || memchr(n->name, ' ', n->name_len))
        fail("interface name holds ':' or a blank");
    check_name(n->name, n->name_len, ctx);
    return 0;
}

static int on_cpu(void *ctx, const struct vg_cpu_line *l)
{
    if (l->cpu > VG_CPU_MAX || l->n_cols < 4 || l->n_cols > VG_CPU_NCOLS)
        fail("cpuN line with a CPU number or column count out of range");
    return 0;
}

static void check_avg(double v)
{
    if (!(v >= 0 && v < 1e15))
        fail("PSI average out of range");
}

/* The parsers that fill fixed structs, on the same bytes. */
static void fuzz_fields(const char *buf, size_t size)
{
    char err[VG_ERRLEN];

    struct vg_stat_sample st;
    if (vg_parse_stat_cpus(buf, size, "stat", &st, on_cpu, NULL, err, sizeof err) == 0 &&
        (st.n_cpu_cols < 4 || st.n_cpu_cols > VG_CPU_NCOLS))
        fail("stat with per-CPU lines accepted with a column count out of range");

    struct vg_vmstat_sample vm;
    if (vg_parse_vmstat(buf, size, "vmstat", &vm, err, sizeof err) == 0 &&
        (vm.have == 0 || vm.have >> VG_VM_NFIELDS))
        fail("vmstat accepted without a field, or with a field no key stands for");

    struct vg_psi_sample ps;
    if (vg_parse_psi(buf, size, "pressure", &ps, err, sizeof err) == 0) {
        if (!(ps.have & (1u << VG_PSI_SOME)))
            fail("pressure accepted without a some line");
        for (int k = 0; k < VG_PSI_NLINES; k++)
            check_avg(ps.avg10[k]);
    }

    struct vg_snmp_sample sn;
    if (vg_parse_snmp(buf, size, "snmp", &sn, err, sizeof err) == 0) {
        static const uint64_t group_fields[] = {
            [0] = (UINT64_C(1) << VG_SNMP_UDP_IN_ERRORS) - 1,
            [1] = (UINT64_C(1) << VG_SNMP_TCPEXT_LISTEN_OVERFLOWS) -
                  (UINT64_C(1) << VG_SNMP_UDP_IN_ERRORS),
            [2] =
                (UINT64_C(1) << VG_SNMP_NFIELDS) - (UINT64_C(1) << VG_SNMP_TCPEXT_LISTEN_OVERFLOWS),
        };
        for (int g = 0; g < 3; g++)
            if ((sn.have & group_fields[g]) && !(sn.groups & (1u << g)))
                fail("snmp field set for a group whose lines were not parsed");
    }

    struct vg_sockstat_sample so;
    vg_parse_sockstat(buf, size, "sockstat", &so, err, sizeof err);

    struct vg_file_nr_sample fnr;
    vg_parse_file_nr(buf, size, "file-nr", &fnr, err, sizeof err);

    uint64_t v, r, w;
    int is_max;
    if (vg_parse_cg_value(buf, size, "memory.max", &v, &is_max, err, sizeof err) == 0 && is_max &&
        v != UINT64_MAX)
        fail("\"max\" read as a limit");
    if (vg_parse_cg_iostat(buf, size, "io.stat", &r, &w, err, sizeof err) == 0 &&
        ((r && !memmem(buf, size, "rbytes=", 7)) || (w && !memmem(buf, size, "wbytes=", 7))))
        fail("io.stat byte count from no rbytes= or wbytes= field");

    static const char *const keys[] = {"usage_usec", "nr_throttled", "throttled_usec", "oom_kill"};
    uint64_t vals[4], have;
    if (vg_parse_keyed(buf, size, "cpu.stat", keys, 4, vals, &have, err, sizeof err) == 0 &&
        have >> 4)
        fail("keyed parser set a bit for a key it was not given");
}

/* The remote mount points of the input, for fuzz_mountinfo to check none is crossed. */
#define FUZZ_REMOTE_MAX 16
static struct {
    char path[FUZZ_REMOTE_MAX][VG_MOUNT_PATH_MAX];
    size_t n;
    int overflow;
} g_remote;

static int on_mountinfo(void *ctx, const struct vg_mountinfo_line *m)
{
    size_t n = strlen(m->mnt);
    if (n != m->mnt_len || n < 1 || n >= VG_MOUNT_PATH_MAX || m->mnt[0] != '/')
        fail("mount point not a NUL-free absolute path of the length said");
    n = strlen(m->fstype);
    for (size_t i = 0; i < n; i++)
        if (m->fstype[i] < '!' || m->fstype[i] > '~')
            fail("file system type of bytes outside [!-~]");
    if (n < 1 || n >= VG_FSTYPE_MAX)
        fail("file system type empty or too long");
    if (vg_fsspace_kind(m->fstype, m->mnt) == VG_FS_REMOTE) {
        if (g_remote.n < FUZZ_REMOTE_MAX)
            memcpy(g_remote.path[g_remote.n++], m->mnt, m->mnt_len + 1);
        else
            g_remote.overflow = 1;
    }
    return 0;
}

static int at_or_below(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strcmp(dir, "/") == 0 ||
           (strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/'));
}

/* mountinfo as the fsspace collector reads it: what it would statfs() is neither a remote mount
 * nor below one, once per device and per metric name, within max, and named within the metric
 * charset. */
static void fuzz_mountinfo(const char *buf, size_t size)
{
    char err[VG_ERRLEN];
    struct vg_fsspace_set set;

    g_remote.n = 0;
    g_remote.overflow = 0;
    vg_parse_mountinfo(buf, size, "mountinfo", on_mountinfo, NULL, err, sizeof err);
    if (vg_fsspace_select(buf, size, "mountinfo", 4, &set, err, sizeof err) == -ENOMEM)
        return;
    if (set.n > 4)
        fail("more mounts chosen than max");
    for (size_t i = 0; i < set.n; i++) {
        const struct vg_fsspace_mount *m = &set.m[i];
        if (m->path[0] != '/')
            fail("chosen mount point not an absolute path");
        for (size_t j = 0; j < g_remote.n; j++)
            if (at_or_below(m->path, g_remote.path[j]))
                fail("chosen mount point at or below a remote mount: statfs() could hang");
        size_t k = strlen(m->key);
        if (k < 1 || k > VG_DEV_NAME_MAX ||
            strspn(m->key, "abcdefghijklmnopqrstuvwxyz"
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") != k)
            fail("mount key empty, too long or outside the metric charset");
        for (size_t j = 0; j < i; j++) {
            if (set.m[j].major == m->major && set.m[j].minor == m->minor)
                fail("one device chosen twice");
            if (strcmp(set.m[j].key, m->key) == 0)
                fail("one metric name chosen twice");
        }
    }
    vg_fsspace_set_free(&set);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    char err[VG_ERRLEN];
    struct vg_devtab tab;

    /* mountinfo: what is found is one NUL-free name that fits. */
    char mnt[256];
    if (vg_cgroup2_mount_parse(buf, size, mnt, sizeof mnt, err, sizeof err) == 0 &&
        strlen(mnt) >= sizeof mnt)
        fail("cgroup2 mount point longer than its buffer");

    struct vg_stat_sample st;
    if (vg_parse_stat(buf, size, "stat", &st, err, sizeof err) == 0 &&
        (st.n_cpu_cols < 4 || st.n_cpu_cols > VG_CPU_NCOLS))
        fail("stat accepted with a column count out of range");

    struct vg_meminfo_sample mi;
    if (vg_parse_meminfo(buf, size, "meminfo", &mi, err, sizeof err) == 0 &&
        (mi.bytes[VG_MEM_TOTAL] == 0 || mi.bytes[VG_MEM_TOTAL] % 1024 != 0))
        fail("meminfo accepted with a zero or non-kB total");

    struct vg_loadavg_sample la;
    if (vg_parse_loadavg(buf, size, "loadavg", &la, err, sizeof err) == 0)
        for (int i = 0; i < 3; i++)
            if (!(la.avg[i] >= 0 && la.avg[i] < 1e15))
                fail("load average out of range");

    /* One table across both parsers and all lines, as a collector keeps it across ticks. */
    vg_devtab_init(&tab);
    vg_devtab_begin(&tab);
    vg_parse_diskstats(buf, size, "diskstats", on_disk, &tab, err, sizeof err);
    vg_devtab_begin(&tab);
    vg_parse_netdev(buf, size, "net/dev", on_net, &tab, err, sizeof err);
    vg_devtab_end(&tab);
    vg_devtab_free(&tab);

    fuzz_fields(buf, size);
    fuzz_mountinfo(buf, size);
    return 0;
}
