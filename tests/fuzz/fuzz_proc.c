/* libFuzzer target for the /proc parsers: arbitrary bytes must never crash them or make them read
 * outside the buffer, and what they accept must hold the invariants the collectors rely on.
 * Every input goes through all five parsers, so any real /proc file is a useful seed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc_parse.h"
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    char err[VG_ERRLEN];
    struct vg_devtab tab;

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
    return 0;
}
