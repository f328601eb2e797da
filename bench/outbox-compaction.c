/* bench/outbox-compaction: how long a submit (vg_outbox_append) waits while the outbox is being
 * compacted by an ack on another thread (docs/bench.md). For each live size, the outbox is filled
 * with live records that stay pending, then one thread appends and acks filler records (the
 * delivery path) until a compaction has run, while another appends a small record every ~1 ms
 * (the analyzer's submit) and records each append's latency. Prints the longest submit that
 * overlapped the compacting ack against the p99 of the others, which wait for filler fdatasyncs
 * only.
 *
 *   outbox-compaction [DIR] [MiB...]     DIR defaults to /var/tmp; sizes to 1 4 16 32
 */
#include "vg_outbox.h"
#include "vg_util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REC 4096u /* a large notification (many labels and top metrics) */

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#define MAXS 100000

struct run {
    struct vg_outbox *ob;
    atomic_int stop;
    int64_t compact_t0, compact_t1; /* the ack that compacted */
    int64_t t0[MAXS], t1[MAXS];     /* each submit */
    size_t submits;
};

static void *submitter(void *arg)
{
    struct run *r = arg;
    char small[600];
    memset(small, 's', sizeof small);
    while (!atomic_load(&r->stop)) {
        uint64_t seq;
        int64_t t0 = now_us();
        if (vg_outbox_append(r->ob, small, sizeof small, &seq) != 0)
            break;
        if (r->submits < MAXS) {
            r->t0[r->submits] = t0;
            r->t1[r->submits++] = now_us();
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* Submits timed while one compaction of about live_mib MiB runs, and around it. */
static int one(const char *dir, unsigned live_mib, struct run *r)
{
    char sub[512], cmd[600];
    snprintf(sub, sizeof sub, "%s/vg-bench-outbox-%d", dir, (int)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", sub);
    if (system(cmd) != 0)
        return -1;
    struct vg_outbox_cfg c = {.dir = sub,
                              .name = "bench",
                              .max_records = 1000000,
                              .max_bytes = (size_t)1 << 31,
                              .compact_bytes = 1};
    char err[VG_ERRLEN];
    r->submits = 0;
    atomic_store(&r->stop, 0);
    if (vg_outbox_open(&r->ob, &c, err, sizeof err) != 0) {
        fprintf(stderr, "open: %s\n", err);
        return -1;
    }
    unsigned char *rec = malloc(REC);
    memset(rec, 'x', REC);
    size_t n = ((size_t)live_mib << 20) / REC;
    uint64_t seq;
    for (size_t i = 0; i < n; i++)
        vg_outbox_append(r->ob, rec, REC, &seq);
    pthread_t th;
    pthread_create(&th, NULL, submitter, r);
    struct vg_outbox_stats st;
    /* Filler traffic: appended and acked until the file is twice the live size and compacts. */
    size_t fillers = 2 * n + 256;
    for (size_t i = 0; i < fillers; i++) {
        vg_outbox_append(r->ob, rec, REC, &seq);
        int64_t t0 = now_us();
        vg_outbox_ack(r->ob, seq);
        int64_t t1 = now_us();
        vg_outbox_get_stats(r->ob, &st);
        if (st.compactions) {
            r->compact_t0 = t0;
            r->compact_t1 = t1;
            /* A few more submits after it, for the baseline. */
            for (int k = 0; k < 64; k++) {
                vg_outbox_append(r->ob, rec, REC, &seq);
                vg_outbox_ack(r->ob, seq);
            }
            break;
        }
    }
    atomic_store(&r->stop, 1);
    pthread_join(th, NULL);
    vg_outbox_close(r->ob);
    free(rec);
    if (system(cmd) != 0)
        return -1;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int usage(const char *why, const char *arg)
{
    if (why)
        fprintf(stderr, "outbox-compaction: '%s': %s\n", arg, why);
    fprintf(stderr, "usage: outbox-compaction [DIR] [MiB...]   DIR defaults to /var/tmp; up to 16 "
                    "live sizes, 1 to 4096 MiB each (default 1 4 16 32)\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(NULL, NULL);
        return 0;
    }
    const char *dir = argc > 1 ? argv[1] : "/var/tmp";
    unsigned sizes[16] = {1, 4, 16, 32};
    int ns = 4;
    if (argc > 2) {
        ns = 0;
        if (argc - 2 > 16)
            return usage("more than 16 sizes", argv[18]);
        /* atoi took "x" as 0 MiB, and ran it. */
        for (int i = 2; i < argc; i++) {
            char *end;
            errno = 0;
            unsigned long v = strtoul(argv[i], &end, 10);
            if (argv[i][0] < '0' || argv[i][0] > '9' || errno || *end || v < 1 || v > 4096)
                return usage("a live size in MiB, 1 to 4096", argv[i]);
            sizes[ns++] = (unsigned)v;
        }
    }
    static struct run r;
    static int64_t other[MAXS];
    printf("outbox: submits while an ack compacts, dir %s, %u-byte records\n", dir, REC);
    for (int i = 0; i < ns; i++) {
        if (one(dir, sizes[i], &r) < 0)
            return 1;
        int64_t during = 0;
        size_t nd = 0, no = 0;
        for (size_t k = 0; k < r.submits; k++) {
            int64_t dt = r.t1[k] - r.t0[k];
            if (r.t0[k] < r.compact_t1 && r.t1[k] > r.compact_t0) {
                nd++;
                if (dt > during)
                    during = dt;
            } else {
                other[no++] = dt;
            }
        }
        qsort(other, no, sizeof other[0], cmp_i64);
        int64_t p99 = no ? other[no * 99 / 100] : 0, omax = no ? other[no - 1] : 0;
        /* Two decimals: "%.0f" printed 17.3 ms against a 23.03 ms p99 as "1x", parity; without a
         * submit during the compaction (or none outside it) there is no ratio. */
        char ratio[32] = "n/a";
        if (nd && p99)
            snprintf(ratio, sizeof(ratio), "%.2fx", (double)during / (double)p99);
        printf("live %2u MiB: compaction (the ack) %6.1f ms; longest submit during it %6.1f ms "
               "(%zu submits); other submits p99 %5.2f ms, max %5.1f ms (%zu); ratio %s p99\n",
               sizes[i], (r.compact_t1 - r.compact_t0) / 1000.0, during / 1000.0, nd, p99 / 1000.0,
               omax / 1000.0, no, ratio);
    }
    return 0;
}
