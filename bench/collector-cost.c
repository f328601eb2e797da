/* bench/collector-cost: the CPU one agent tick costs in each collector's collect(), the five
 * eBPF collectors next to the procfs/sysfs ones measured in the same run (docs/bench.md).
 *
 *   collector-cost [--ticks N] [--reps R]
 *
 * Every collector built in is opened as the agent opens it (defaults; the eBPF ones with the
 * whole kernel BTF, which changes their load, not their collect); one that cannot open here (no
 * root for eBPF, a build without it, a file this host lacks) is listed with its reason and left
 * out. Each round runs N ticks (default 1000) of every open collector in turn, 1 s apart as the
 * agent passes them, timing each collect() in per-thread CPU time (CLOCK_THREAD_CPUTIME_ID: user
 * and system, so the bpf() calls that read the maps count); the figures are the best of R rounds
 * (default 5), so that other load on the machine shows less. A collect() that fails is printed
 * and makes the exit status 1.
 *
 * The agent's budget is 3 ms of CPU per 1 s tick for everything it does (docs/ebpf.md). */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vg_collector.h"
#include "vg_util.h"
#include "vg_wire.h"

#define MAX_COLLECTORS 64

struct one {
    const struct vg_collector *c;
    void *state;
    int is_bpf;
    double cpu_s;   /* this round */
    double best_us; /* per tick, best round */
    double metrics; /* per tick, last round */
};

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void usage(void)
{
    fprintf(stderr, "usage: collector-cost [--ticks N] [--reps R]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long ticks = 1000, reps = 5;
    static const struct option opts[] = {
        {"ticks", required_argument, NULL, 't'}, {"reps", required_argument, NULL, 'r'}, {0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (o == '?')
            usage();
        char *end;
        errno = 0;
        long v = strtol(optarg, &end, 10);
        if (errno || end == optarg || *end || v <= 0 || v > 100000000) {
            fprintf(stderr, "collector-cost: --%s '%s': a whole number from 1 to 100000000\n",
                    o == 't' ? "ticks" : "reps", optarg);
            usage();
        }
        if (o == 't')
            ticks = v;
        else
            reps = v;
    }
    if (optind != argc)
        usage();

    struct one col[MAX_COLLECTORS];
    size_t n = 0;
    for (size_t i = 0; vg_collectors[i] && n < MAX_COLLECTORS; i++) {
        const struct vg_collector *c = vg_collectors[i];
        struct vg_collector_cfg cfg = {0};
        char err[VG_ERRLEN] = "";
        void *st = NULL;
        int rc = c->init(&st, &cfg, err, sizeof err);
        if (rc != 0) {
            printf("%-20s not opened: %s\n", c->name, err);
            continue;
        }
        col[n++] = (struct one){.c = c, .state = st, .is_bpf = strncmp(c->name, "bpf_", 4) == 0};
    }

    int failed = 0;
    int64_t now = 1000000;
    struct vg_wire_msg msg;
    vg_wire_msg_init(&msg);
    /* One tick first: rates need two readings, and the first read of a map or file warms it. */
    for (long r = -1; r < reps; r++) {
        for (size_t k = 0; k < n; k++)
            col[k].cpu_s = 0, col[k].metrics = 0;
        for (long t = 0; t < (r < 0 ? 1 : ticks); t++) {
            now += 1000;
            for (size_t k = 0; k < n; k++) {
                char err[VG_ERRLEN] = "";
                vg_wire_msg_reset(&msg);
                double t0 = cpu_s();
                int rc = col[k].c->collect(col[k].state, now, &msg, err, sizeof err);
                col[k].cpu_s += cpu_s() - t0;
                col[k].metrics += (double)msg.n_metrics;
                if (rc != 0 && !failed) {
                    printf("%s: collect failed: %s\n", col[k].c->name, err);
                    failed = 1;
                }
            }
        }
        for (size_t k = 0; k < n && r >= 0; k++) {
            double us = col[k].cpu_s / (double)ticks * 1e6;
            if (r == 0 || us < col[k].best_us)
                col[k].best_us = us;
        }
    }
    vg_wire_msg_free(&msg);

    printf("%ld ticks, best of %ld rounds, %ld CPUs online; CPU per tick of collect():\n", ticks,
           reps, sysconf(_SC_NPROCESSORS_ONLN));
    double sum[2] = {0, 0};
    size_t count[2] = {0, 0};
    for (size_t k = 0; k < n; k++) {
        printf("  %-20s %8.1f us  (%.1f metrics)\n", col[k].c->name, col[k].best_us,
               col[k].metrics / (double)ticks);
        sum[col[k].is_bpf] += col[k].best_us;
        count[col[k].is_bpf]++;
    }
    printf("procfs/sysfs collectors (%zu): %.1f us CPU per tick\n", count[0], sum[0]);
    if (count[1])
        printf("eBPF collectors (%zu):        %.1f us CPU per tick (%.2f%% of the agent's 3 ms "
               "budget; %.2fx the procfs/sysfs ones)\n",
               count[1], sum[1], sum[1] / 3000 * 100, sum[0] > 0 ? sum[1] / sum[0] : 0);
    else
        printf("eBPF collectors: none opened (root and a build with VIGIL_BPF needed)\n");
    for (size_t k = 0; k < n; k++)
        col[k].c->fini(col[k].state);
    return failed;
}
