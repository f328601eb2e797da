/* libFuzzer target for the /proc and cgroup parsers: arbitrary bytes must never crash them or
 * make them read outside the buffer, and what they accept must hold the invariants the
 * collectors rely on. Every input goes through every parser, so any real /proc or cgroup file is
 * a useful seed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc_parse.h"
#include "vg_cgname.h"
#include "vg_devtab.h"
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
    return 0;
}
