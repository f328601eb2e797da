/* bench/detector-throughput: how many samples per second the multivariate model (detectors/vg_mv)
 * scores and trains on synthetic fleets, on the CPU path and, where a GPU is usable, on the CUDA
 * path of the same machine. One sample = one metric value of one host in one tick.
 *
 *   detector-throughput [--hosts 1,16,...] [--metrics 64,512] [--backend cpu|cuda|both]
 *                       [--seconds S] [--window W] [--block N] [--record 0|1] [--procs N]
 *
 * For each fleet size it prints scoring throughput (VG_MV_SCORE), the throughput of a full step
 * with the default training (VG_MV_TRAIN: score every host, learn from up to train_rows hosts), the
 * rate of samples learned from, scoring with the host score's inputs brought back as well
 * ("score+res": vg_mv_residuals_targets after the step, what the analyzer does each tick), and the
 * achieved FLOP/s and bytes/s against peaks measured here:
 * a large SGEMM for compute, a large buffer copy for memory bandwidth and, on a GPU, a large
 * upload from page-locked host memory for the host link (PCIe) that every tick must cross.
 * "bound%" is the share of the roofline time bound max(FLOP/peak, bytes/peak, link bytes/link
 * peak) achieved, and "roof" names the roof that sets it.
 *
 * Each tick is written into the model's tick buffer (vg_mv_tick_buffer) before the clock starts,
 * as the analyzer writes decoded ticks there: the time is that of vg_mv_step alone, upload and
 * results' download included.
 *
 * --procs N measures the CPU path as a CPU-only fleet would run it on N cores: N processes at
 * once, each with its share of the hosts and one OpenBLAS thread, as N analyzers of one consumer
 * group (the analyzer's element-wise passes are single-threaded, so a process is its unit of
 * scale). Their rates are summed; they start timing together once every one has built its model.
 */
#include <sys/wait.h>
#include <unistd.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vg_k.h"
#include "vg_log.h"
#include "vg_mv.h"
#include "vg_util.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A whole number in [lo, hi] and nothing else ("abc", "5x", "-1" and overflows are refused). */
static int parse_num(const char *s, unsigned long long lo, unsigned long long hi,
                     unsigned long long *out)
{
    char *end;
    errno = 0;
    if (!s || *s < '0' || *s > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* A comma-separated list of whole numbers in [lo, hi], at most max of them; the count, or -1. */
static int parse_list(const char *s, unsigned *out, int max, unsigned lo, unsigned hi)
{
    int n = 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char tok[32];
        unsigned long long v;
        if (n == max || len == 0 || len >= sizeof(tok))
            return -1;
        memcpy(tok, p, len);
        tok[len] = '\0';
        if (parse_num(tok, lo, hi, &v) < 0)
            return -1;
        out[n++] = (unsigned)v;
        if (!comma)
            return n;
        p = comma + 1;
    }
}

struct peaks {
    double flops, bytes, link; /* link 0: none (the CPU computes in host memory) */
};

/* Peak compute: an n^3 SGEMM through the backend; peak bandwidth: a copy of a large buffer
 * (read + write counted). Best of a few repetitions. */
static int measure_peaks(struct vg_k *k, struct peaks *pk, int big)
{
    const struct vg_k_ops *o = k->ops;
    char err[VG_ERRLEN];
    int n = big ? 8192 : 2048;
    size_t nb = (size_t)n * n * sizeof(float);
    float *a = o->alloc(k->ctx, nb), *b = o->alloc(k->ctx, nb), *c = o->alloc(k->ctx, nb);
    if (!a || !b || !c)
        return -ENOMEM;
    o->gemm(k->ctx, 0, 0, n, n, n, 1, a, n, b, n, 0, c, n);
    o->sync(k->ctx, err, sizeof(err));
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double t0 = now_s();
        o->gemm(k->ctx, 0, 0, n, n, n, 1, a, n, b, n, 0, c, n);
        if (o->sync(k->ctx, err, sizeof(err)) < 0)
            return -EIO;
        best = fmin(best, now_s() - t0);
    }
    pk->flops = 2.0 * n * n * (double)n / best;
    o->free(k->ctx, a);
    o->free(k->ctx, b);
    o->free(k->ctx, c);
    size_t cb = big ? (size_t)1 << 30 : (size_t)256 << 20;
    a = o->alloc(k->ctx, cb);
    b = o->alloc(k->ctx, cb);
    if (!a || !b)
        return -ENOMEM;
    o->copy(k->ctx, b, a, cb);
    o->sync(k->ctx, err, sizeof(err));
    best = 1e30;
    for (int r = 0; r < 5; r++) {
        double t0 = now_s();
        o->copy(k->ctx, b, a, cb);
        if (o->sync(k->ctx, err, sizeof(err)) < 0)
            return -EIO;
        best = fmin(best, now_s() - t0);
    }
    pk->bytes = 2.0 * (double)cb / best;
    o->free(k->ctx, b);
    if (!strcmp(o->name, "cpu")) {
        o->free(k->ctx, a);
        return 0;
    }
    float *h = o->host_alloc(k->ctx, cb);
    if (!h)
        return -ENOMEM;
    best = 1e30;
    for (int r = 0; r < 5; r++) {
        double t0 = now_s();
        if (o->upload(k->ctx, a, h, cb) < 0 || o->sync(k->ctx, err, sizeof(err)) < 0)
            return -EIO;
        best = fmin(best, now_s() - t0);
    }
    pk->link = (double)cb / best;
    o->host_free(k->ctx, h);
    o->free(k->ctx, a);
    return 0;
}

/* In a process of run_together(), once its set-up is done: tells the parent it is ready and
 * waits until every process is (the parent then closes the start pipe). */
static int wait_start(int ready_fd, int start_fd)
{
    char c = 1;
    return write(ready_fd, &c, 1) == 1 && read(start_fd, &c, 1) == 0 ? 0 : -EIO;
}

/* One process's work under run_together(): its set-up, wait_start(), then the timed part; fills
 * res (the res_size bytes given to run_together). Returns 0 or a negative code. */
typedef int (*proc_fn)(unsigned i, unsigned n, const void *arg, int ready_fd, int start_fd,
                       void *res);

/* Runs fn in n forked processes (at most 256) whose timed parts start together, as --procs
 * needs; process i's result lands in res + i * res_size. Returns 0 when every process ran. */
static int run_together(unsigned n, proc_fn fn, const void *arg, void *res, size_t res_size)
{
    int start[2], out[256];
    pid_t pid[256];
    unsigned started = 0;
    if (n > 256 || pipe(start) < 0)
        return -1;
    fflush(stdout);
    for (unsigned i = 0; i < n; i++) {
        int pp[2];
        if (pipe(pp) < 0)
            break;
        pid[i] = fork();
        if (pid[i] == 0) {
            close(start[1]);
            close(pp[0]);
            char *r = (char *)res + i * res_size;
            int rc = fn(i, n, arg, pp[1], start[0], r);
            if (rc == 0 && write(pp[1], r, res_size) != (ssize_t)res_size)
                rc = -1;
            _exit(rc ? 1 : 0);
        }
        close(pp[1]);
        if (pid[i] < 0) {
            close(pp[0]);
            break;
        }
        out[started++] = pp[0];
    }
    close(start[0]);
    /* A process that fails before it is ready closes its pipe: the read sees the end. */
    int ok = started == n;
    for (unsigned i = 0; i < started; i++) {
        char c;
        ok &= read(out[i], &c, 1) == 1;
    }
    close(start[1]);
    for (unsigned i = 0; i < started; i++) {
        ok &= read(out[i], (char *)res + i * res_size, res_size) == (ssize_t)res_size;
        close(out[i]);
        int st;
        ok &= waitpid(pid[i], &st, 0) >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    return ok ? 0 : -1;
}

/* One process's copy bandwidth (bytes/s, read + write, a double into res) over 5 copies of
 * 128 MiB, beyond any cache. */
static int copy_proc(unsigned i, unsigned n, const void *arg, int ready_fd, int start_fd, void *res)
{
    const size_t cb = (size_t)128 << 20;
    char *a = malloc(cb), *b = malloc(cb);
    if (!a || !b)
        return -ENOMEM;
    memset(a, 1, cb);
    memset(b, 2, cb);
    if (wait_start(ready_fd, start_fd) < 0)
        return -EIO;
    double t0 = now_s();
    for (int r = 0; r < 5; r++)
        memcpy(b, a, cb);
    double bw = 5 * 2.0 * (double)cb / (now_s() - t0);
    volatile char keep = b[cb - 1]; /* the copies' result is read */
    (void)keep;
    memcpy(res, &bw, sizeof(bw));
    return 0; /* the process exits: no free */
}

/* The CPU's copy bandwidth with n processes copying at once (--procs), summed: the memory roof of
 * n analyzers, which one thread's copy understates on a many-core host. 0 on a failure. */
static double measure_copy_procs(unsigned n)
{
    double bw[256] = {0}, sum = 0;
    if (run_together(n, copy_proc, NULL, bw, sizeof(bw[0])) < 0)
        return 0;
    for (unsigned i = 0; i < n; i++)
        sum += bw[i];
    return sum;
}

/* Bytes a step moves at the least: the window read by the first layer, the new tick, the
 * normaliser and residual state read and written, the ring written twice, activations written
 * and read once, the weights once; training adds its rows' activations, gradients and the
 * optimiser's four passes over the parameters. */
static double step_bytes(const struct vg_mv_params *p, double n, double rows)
{
    double m = p->n_metrics, W = p->window, acts = 0, params = 0;
    double in = W * m;
    for (uint32_t l = 0; l <= p->n_hidden; l++) {
        double out = l == p->n_hidden ? m : p->hidden[l];
        acts += out;
        params += in * out + out;
        in = out;
    }
    double per_host = 4 * (W * m + m + 2 * m + 6 * m + 5 * m + 2 * acts);
    double per_row = 4 * (W * m + 4 * acts + m);
    return n * per_host + params * 4 + rows * per_row + (rows > 0 ? params * 4 * 7 : 0);
}

struct result {
    double score_sps, step_sps, learn_sps, score_flops, score_bytes, score_link;
    double resid_sps; /* scoring plus the host score's inputs brought back (the analyzer's tick) */
};

static long long block = -1; /* --block: vg_mv_set_pipeline(); -1 keeps the default */
static int record = 1;       /* --record: vg_mv_set_recording() */

/* start_fd >= 0: after the warm-up, write a byte to ready_fd and wait until start_fd is closed
 * (--procs: every process times the same interval). */
static int run_one(struct vg_k *k, unsigned hosts, unsigned metrics, unsigned window,
                   double seconds, struct result *res, int ready_fd, int start_fd)
{
    struct vg_mv_params p;
    vg_mv_params_default(&p, metrics);
    p.window = window;
    struct vg_mv *mv;
    char err[VG_ERRLEN];
    if (vg_mv_new(&mv, &p, k, err, sizeof(err)) < 0) {
        fprintf(stderr, "detector-throughput: %s\n", err);
        return -1;
    }
    if (block >= 0)
        vg_mv_set_pipeline(mv, (uint64_t)block);
    vg_mv_set_recording(mv, record);
    for (unsigned i = 0; i < hosts; i++)
        if (vg_mv_add_host(mv, NULL, err, sizeof(err)) < 0) {
            fprintf(stderr, "detector-throughput: %s\n", err);
            vg_mv_free(mv);
            return -1;
        }
    /* A few distinct ticks of correlated signals, cycled, so generating data costs nothing in
     * the timed loop. */
    enum { NT = 16 };
    size_t tick = (size_t)hosts * metrics;
    float *x = malloc(NT * tick * sizeof(float));
    struct vg_mv_result *r = calloc(hosts, sizeof(*r));
    float *hres = malloc(tick * sizeof(float)), *hz = malloc(tick * sizeof(float));
    if (!x || !r || !hres || !hz) {
        fprintf(stderr, "detector-throughput: out of memory\n");
        return -1;
    }
    uint64_t s = 12345;
    for (int t = 0; t < NT; t++)
        for (size_t i = 0; i < tick; i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            double noise = (double)(s >> 40) / 16777216.0 - 0.5;
            x[t * tick + i] = (float)(50 + 10 * sin(0.4 * t + (double)(i % metrics)) + noise);
        }
    int rc = 0;
    float *xb = vg_mv_tick_buffer(mv);
    /* Warm up past the window so training has rows to learn from. */
    for (unsigned t = 0; t < window + 3 && !rc; t++) {
        memcpy(xb, x + (t % NT) * tick, tick * sizeof(float));
        rc = vg_mv_step(mv, NULL, VG_MV_TRAIN, r, err, sizeof(err));
    }
    if (!rc && start_fd >= 0)
        rc = wait_start(ready_fd, start_fd);
    /* Modes: 0 scoring, 1 a step with training, 2 scoring and then the residuals and normalised
     * values every host's host score reads (vg_mv_residuals_targets), as the analyzer's tick. */
    for (int mode = 0; mode < 3 && !rc; mode++) {
        struct vg_mv_stats st0, st1;
        vg_mv_get_stats(mv, &st0);
        double dt = 0, t1 = now_s(), tend = t1 + seconds;
        unsigned ticks = 0;
        while (!rc && (ticks < 3 || t1 < tend)) {
            memcpy(xb, x + (ticks % NT) * tick, tick * sizeof(float));
            double t0 = now_s();
            rc = vg_mv_step(mv, NULL, mode == 1 ? VG_MV_TRAIN : VG_MV_SCORE, r, err, sizeof(err));
            if (!rc && mode == 2)
                rc = vg_mv_residuals_targets(mv, hres, hz, err, sizeof(err));
            t1 = now_s();
            dt += t1 - t0;
            ticks++;
        }
        vg_mv_get_stats(mv, &st1);
        double samples = (double)ticks * tick;
        if (mode == 0) {
            res->score_sps = samples / dt;
            res->score_flops = vg_mv_flops(&p, hosts, 0) * ticks / dt;
            res->score_bytes = step_bytes(&p, hosts, 0) * ticks / dt;
            /* The tick up the link, against the upload peak measured the same way. The results
             * (score, top-k) come down the other direction, which PCIe carries at the same time:
             * adding them here overstated the link's share by 2 top_k + 1 floats a host. */
            res->score_link = (double)hosts * metrics * sizeof(float) * ticks / dt;
        } else if (mode == 1) {
            res->step_sps = samples / dt;
            res->learn_sps = (double)(st1.rows_trained - st0.rows_trained) * metrics / dt;
        } else
            res->resid_sps = samples / dt;
    }
    if (rc)
        fprintf(stderr, "detector-throughput: %s\n", err);
    free(x);
    free(r);
    free(hres);
    free(hz);
    vg_mv_free(mv);
    return rc;
}

struct mv_job {
    struct vg_k *k;
    unsigned hosts, metrics, window;
    double seconds;
};

/* Process i of n under --procs: its share of the hosts, one OpenBLAS thread. */
static int mv_proc(unsigned i, unsigned n, const void *arg, int ready_fd, int start_fd, void *res)
{
    const struct mv_job *j = arg;
    vg_k_cpu_set_threads(1);
    unsigned share = j->hosts / n + (i < j->hosts % n);
    return run_one(j->k, share, j->metrics, j->window, j->seconds, res, ready_fd, start_fd);
}

/* The CPU path as n processes at once (--procs), each with its share of the hosts; res = the
 * sum of their rates. A process whose share would be no host is not started. */
static int run_procs(struct vg_k *k, unsigned hosts, unsigned metrics, unsigned window,
                     double seconds, unsigned n, struct result *res)
{
    if (n > hosts)
        n = hosts;
    const struct mv_job job = {k, hosts, metrics, window, seconds};
    struct result *r = calloc(n, sizeof(*r));
    int rc = r ? run_together(n, mv_proc, &job, r, sizeof(*r)) : -1;
    memset(res, 0, sizeof(*res));
    for (unsigned i = 0; !rc && i < n; i++) {
        res->score_sps += r[i].score_sps;
        res->step_sps += r[i].step_sps;
        res->learn_sps += r[i].learn_sps;
        res->resid_sps += r[i].resid_sps;
        res->score_flops += r[i].score_flops;
        res->score_bytes += r[i].score_bytes;
        res->score_link += r[i].score_link;
    }
    free(r);
    if (rc)
        fprintf(stderr, "detector-throughput: a --procs process failed\n");
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: detector-throughput [--hosts 1,16,256,1024,4096,16384] "
            "[--metrics 64,512]\n"
            "       [--backend cpu|cuda|both] [--seconds 1.0] [--window 8] [--block N] "
            "[--record 0|1] [--procs N]\n"
            "  --block N  values per pipelined block on a GPU (0: no pipelining; default "
            "%u)\n"
            "  --record 0 steps queued operation by operation on a GPU rather than replayed\n"
            "             from a recording (CUDA graphs; default 1)\n"
            "  --procs N  the CPU path as N processes at once, each with its share of the hosts\n"
            "             and one OpenBLAS thread (a CPU-only fleet's analyzers on N cores);\n"
            "             rates summed (default 1: one process, OpenBLAS's own threads)\n",
            VG_MV_BLOCK_SAMPLES);
}

int main(int argc, char **argv)
{
    unsigned hosts[32] = {1, 16, 256, 1024, 4096, 16384}, metrics[8] = {64, 512};
    int nh = 6, nm = 2;
    unsigned window = 8, procs = 1;
    double seconds = 1.0;
    const char *backend = "both";
    /* Options come in pairs: the name, then its value. A malformed value is a usage error: read
     * leniently, "--hosts abc" was 0 hosts and a row of made-up figures, a misspelt backend ran
     * both. */
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            usage(stderr);
            return 2;
        }
        unsigned long long n = 0;
        char *end;
        const char *bad = NULL;
        if (!strcmp(a, "--hosts")) {
            if ((nh = parse_list(v, hosts, 32, 1, 1u << 20)) < 0)
                bad = "a list of at most 32 host counts, each 1 to 1048576";
        } else if (!strcmp(a, "--metrics")) {
            if ((nm = parse_list(v, metrics, 8, 1, 65536)) < 0)
                bad = "a list of at most 8 metric counts, each 1 to 65536";
        } else if (!strcmp(a, "--backend")) {
            backend = v;
            if (strcmp(v, "cpu") && strcmp(v, "cuda") && strcmp(v, "both"))
                bad = "cpu, cuda or both";
        } else if (!strcmp(a, "--seconds")) {
            seconds = strtod(v, &end);
            if (end == v || *end || !isfinite(seconds) || seconds <= 0 || seconds > 3600)
                bad = "a number of seconds above 0, at most 3600";
        } else if (!strcmp(a, "--window")) {
            if (parse_num(v, 1, 1024, &n) < 0)
                bad = "1 to 1024";
            window = (unsigned)n;
        } else if (!strcmp(a, "--block")) {
            if (parse_num(v, 0, 1ull << 40, &n) < 0)
                bad = "a whole number, 0 for no pipelining";
            block = (long long)n;
        } else if (!strcmp(a, "--record")) {
            if (parse_num(v, 0, 1, &n) < 0)
                bad = "0 or 1";
            record = (int)n;
        } else if (!strcmp(a, "--procs")) {
            if (parse_num(v, 1, 256, &n) < 0)
                bad = "1 to 256";
            procs = (unsigned)n;
        } else {
            usage(stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "detector-throughput: %s '%s': %s\n", a, v, bad);
            usage(stderr);
            return 2;
        }
    }
    vg_log_init("bench", VG_LOG_WARN, 0);
    char err[VG_ERRLEN];
    struct vg_k cpu, gpu;
    int have_cpu = strcmp(backend, "cuda") != 0, have_gpu = 0;
    if (have_cpu && vg_k_open(&cpu, "cpu", err, sizeof(err)) < 0) {
        fprintf(stderr, "detector-throughput: %s\n", err);
        return 1;
    }
    if (strcmp(backend, "cpu") != 0) {
        if (vg_k_open(&gpu, "cuda", err, sizeof(err)) == 0)
            have_gpu = 1;
        else if (!strcmp(backend, "cuda")) {
            fprintf(stderr, "detector-throughput: %s\n", err);
            return 1;
        } else
            printf("# GPU: none usable here (%s); CPU figures only\n", err);
    }
    struct peaks pc = {0}, pg = {0};
    if (have_cpu) {
        measure_peaks(&cpu, &pc, 0);
        printf("# cpu: %s\n# cpu peaks: SGEMM %.1f GFLOP/s, copy %.1f GB/s\n", cpu.desc,
               pc.flops / 1e9, pc.bytes / 1e9);
        if (procs > 1) {
            /* n analyzers share the memory bus: their roof is n copies at once. The SGEMM peak
             * above already uses every core (OpenBLAS's threads). */
            double bw = measure_copy_procs(procs);
            if (bw > 0)
                pc.bytes = bw;
            printf("# cpu rows: %u processes at once (fewer hosts: one each), one OpenBLAS "
                   "thread each, rates summed; copy peak of %u processes at once %.1f GB/s "
                   "(bound%% against it and the SGEMM peak)\n",
                   procs, procs, bw / 1e9);
        }
    }
    if (have_gpu) {
        measure_peaks(&gpu, &pg, 1);
        printf("# gpu: %s\n# gpu peaks: SGEMM %.1f GFLOP/s, copy %.1f GB/s, host link (upload "
               "from page-locked memory) %.1f GB/s\n",
               gpu.desc, pg.flops / 1e9, pg.bytes / 1e9, pg.link / 1e9);
    }
    struct vg_mv_params dp;
    vg_mv_params_default(&dp, 64);
    printf("# model: forecaster, window %u, hidden %u-%u, train_rows %u per step; Msamples/s\n",
           window, dp.hidden[0], dp.hidden[1], dp.train_rows);
    printf("%-8s %7s %-4s %10s %10s %10s %9s %9s %7s %-4s %8s %10s\n", "hosts", "metrics", "dev",
           "score", "step+train", "learned", "GFLOP/s", "GB/s", "bound%", "roof", "gpu/cpu",
           "score+res");
    int rc = 0;
    for (int j = 0; j < nm; j++)
        for (int i = 0; i < nh; i++) {
            struct result rcpu = {0}, rgpu = {0};
            struct vg_mv_params p;
            vg_mv_params_default(&p, metrics[j]);
            p.window = window;
            for (int d = 0; d < 2; d++) {
                if ((d == 0 && !have_cpu) || (d == 1 && !have_gpu))
                    continue;
                struct result *res = d ? &rgpu : &rcpu;
                int r1 = d || procs == 1
                             ? run_one(d ? &gpu : &cpu, hosts[i], metrics[j], window, seconds, res,
                                       -1, -1)
                             : run_procs(&cpu, hosts[i], metrics[j], window, seconds, procs, res);
                if (r1 < 0) {
                    rc = 1;
                    continue;
                }
                const struct peaks *pk = d ? &pg : &pc;
                double fc = res->score_flops / pk->flops, fm = res->score_bytes / pk->bytes;
                double fl = pk->link > 0 ? res->score_link / pk->link : 0;
                double bound = fmax(fc, fmax(fm, fl));
                const char *roof = bound == fc ? "cmp" : bound == fm ? "mem" : "link";
                char ratio[16] = "";
                if (d == 1 && rcpu.score_sps > 0)
                    snprintf(ratio, sizeof(ratio), "%.1fx", res->score_sps / rcpu.score_sps);
                printf("%-8u %7u %-4s %10.2f %10.2f %10.2f %9.1f %9.1f %7.1f %-4s %8s %10.2f\n",
                       hosts[i], metrics[j], d ? "gpu" : "cpu", res->score_sps / 1e6,
                       res->step_sps / 1e6, res->learn_sps / 1e6, res->score_flops / 1e9,
                       res->score_bytes / 1e9, 100 * bound, roof, ratio, res->resid_sps / 1e6);
                fflush(stdout);
            }
        }
    if (have_cpu)
        vg_k_close(&cpu);
    if (have_gpu)
        vg_k_close(&gpu);
    return rc;
}
