/* Backend operations (kernels/): the CPU path against scalar references and finite differences,
 * and, with --gpu (test_kernels_gpu, skipped where no GPU is usable: vg_testgpu.h), the CUDA path
 * against the CPU path on fresh random inputs. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vg_k.h"
#include "vg_k_cuda_why.h"
#include "vg_k_math.h"
#include "vg_testgpu.h"
#include "vg_util.h"

static uint64_t rng = 42;

static float frand(void)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((rng >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

static float *randv(size_t n, float scale)
{
    float *v = malloc(n * sizeof(float));
    assert_non_null(v);
    for (size_t i = 0; i < n; i++)
        v[i] = scale * frand();
    return v;
}

static struct vg_k cpu;

static int setup(void **state)
{
    char err[VG_ERRLEN];
    if (vg_k_open(&cpu, "cpu", err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    vg_k_close(&cpu);
    return 0;
}

/* A two-layer net (leaky ReLU hidden, linear output, Huber loss) built from the backend's
 * operations exactly as vg_mv composes them. Returns the loss; fills the gradients when asked. */
struct net {
    int B, D, H, O;
    float *x, *w1, *b1, *w2, *b2, *t, *rw;
};

static double net_loss(const struct net *n, float *gw1, float *gb1, float *gw2, float *gb2)
{
    const struct vg_k_ops *o = cpu.ops;
    float *h = calloc((size_t)n->B * n->H, sizeof(float));
    float *y = calloc((size_t)n->B * n->O, sizeof(float));
    float *dy = calloc((size_t)n->B * n->O, sizeof(float));
    float *dh = calloc((size_t)n->B * n->H, sizeof(float));
    float *loss = calloc((size_t)n->B, sizeof(float));
    o->gemm(NULL, 0, 0, n->B, n->H, n->D, 1, n->x, n->D, n->w1, n->H, 0, h, n->H);
    o->bias_act(NULL, h, n->H, n->B, n->H, n->b1, VG_K_ACT_LEAKY);
    o->gemm(NULL, 0, 0, n->B, n->O, n->H, 1, h, n->H, n->w2, n->O, 0, y, n->O);
    o->bias_act(NULL, y, n->O, n->B, n->O, n->b2, VG_K_ACT_NONE);
    o->huber(NULL, n->B, n->O, y, n->O, n->t, n->O, n->rw, 0.5f, 1.0f, dy, n->O, loss);
    double l = 0;
    for (int i = 0; i < n->B; i++)
        l += loss[i];
    if (gw1) {
        o->gemm(NULL, 1, 0, n->H, n->O, n->B, 1, h, n->H, dy, n->O, 0, gw2, n->O);
        o->colsum(NULL, gb2, dy, n->O, n->B, n->O, 1);
        o->gemm(NULL, 0, 1, n->B, n->H, n->O, 1, dy, n->O, n->w2, n->O, 0, dh, n->H);
        o->act_grad(NULL, dh, n->H, h, n->H, n->B, n->H, VG_K_ACT_LEAKY);
        o->gemm(NULL, 1, 0, n->D, n->H, n->B, 1, n->x, n->D, dh, n->H, 0, gw1, n->H);
        o->colsum(NULL, gb1, dh, n->H, n->B, n->H, 1);
    }
    free(h);
    free(y);
    free(dy);
    free(dh);
    free(loss);
    return l;
}

static void check_fd(const struct net *n, float *param, const float *grad, size_t len,
                     const char *what)
{
    /* Central differences in fp32 are noisy; compare each derivative against a tolerance of a
     * few percent of the largest derivative of the block. */
    float gmax = 0;
    for (size_t i = 0; i < len; i++)
        gmax = fmaxf(gmax, fabsf(grad[i]));
    assert_true(gmax > 0);
    const float h = 1e-2f;
    for (size_t i = 0; i < len; i++) {
        float keep = param[i];
        param[i] = keep + h;
        double lp = net_loss(n, NULL, NULL, NULL, NULL);
        param[i] = keep - h;
        double lm = net_loss(n, NULL, NULL, NULL, NULL);
        param[i] = keep;
        double fd = (lp - lm) / (2 * h);
        if (fabs(fd - grad[i]) > 0.03 * gmax + 1e-4) {
            fprintf(stderr, "%s[%zu]: analytic %g, finite difference %g\n", what, i, grad[i], fd);
            fail();
        }
    }
}

/* vg_k_x_of, the one conversion of a double into the models' rows (vg_fleet_put, vigilctl eval
 * smd): beyond a float's range a finite value counts as VG_K_X_MAX (a plain conversion gives inf,
 * which the normaliser reads as missing), and NaN and inf are missing. */
static void test_a_double_beyond_float_range_counts_as_x_max(void **state)
{
    (void)state;
    assert_true(vg_k_x_of(1e39) == VG_K_X_MAX);
    assert_true(vg_k_x_of(-1e39) == -VG_K_X_MAX);
    assert_true(vg_k_x_of(1.7976931348623157e308) == VG_K_X_MAX);
    assert_true(vg_k_x_of(3e30) == VG_K_X_MAX);
    assert_true(vg_k_x_of(1.5) == 1.5f);
    assert_true(vg_k_x_of(-2e29) == -2e29f);
    assert_true(isnan(vg_k_x_of(NAN)));
    assert_true(isnan(vg_k_x_of(INFINITY)));
    assert_true(isnan(vg_k_x_of(-INFINITY)));
}

static void test_cpu_gradients_match_finite_differences(void **state)
{
    struct net n = {.B = 6, .D = 7, .H = 5, .O = 4};
    n.x = randv((size_t)n.B * n.D, 1);
    n.w1 = randv((size_t)n.D * n.H, 0.8f);
    n.b1 = randv((size_t)n.H, 0.3f);
    n.w2 = randv((size_t)n.H * n.O, 0.8f);
    n.b2 = randv((size_t)n.O, 0.3f);
    n.t = randv((size_t)n.B * n.O, 1.5f);
    n.t[3] = NAN; /* a missing target contributes nothing */
    n.rw = randv((size_t)n.B, 1);
    for (int i = 0; i < n.B; i++)
        n.rw[i] = i == 2 ? 0.0f : 1.0f; /* a row weighted out */
    float *gw1 = calloc((size_t)n.D * n.H, 4), *gb1 = calloc((size_t)n.H, 4);
    float *gw2 = calloc((size_t)n.H * n.O, 4), *gb2 = calloc((size_t)n.O, 4);
    net_loss(&n, gw1, gb1, gw2, gb2);
    check_fd(&n, n.w1, gw1, (size_t)n.D * n.H, "w1");
    check_fd(&n, n.b1, gb1, (size_t)n.H, "b1");
    check_fd(&n, n.w2, gw2, (size_t)n.H * n.O, "w2");
    check_fd(&n, n.b2, gb2, (size_t)n.O, "b2");
    /* Row 2 is weighted out: its inputs must not move the first layer's gradient. */
    float keep = n.x[2 * n.D + 1];
    n.x[2 * n.D + 1] += 5.0f;
    float *gw1b = calloc((size_t)n.D * n.H, 4);
    net_loss(&n, gw1b, gb1, gw2, gb2);
    assert_memory_equal(gw1, gw1b, (size_t)n.D * n.H * 4);
    n.x[2 * n.D + 1] = keep;
    float *bufs[] = {n.x, n.w1, n.b1, n.w2, n.b2, n.t, n.rw, gw1, gb1, gw2, gb2, gw1b};
    for (size_t i = 0; i < VG_ARRAY_LEN(bufs); i++)
        free(bufs[i]);
}

static void test_adam_matches_scalar_reference(void **state)
{
    size_t n = 1000;
    float *p = randv(n, 1), *g = randv(n, 0.1f), *m = randv(n, 0.01f), *v = randv(n, 0.001f);
    double *rp = malloc(n * sizeof(double)), *rm = malloc(n * sizeof(double)),
           *rv = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        v[i] = fabsf(v[i]);
        rp[i] = p[i];
        rm[i] = m[i];
        rv[i] = v[i];
    }
    const double lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-6;
    for (int t = 1; t <= 5; t++) {
        double bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t);
        cpu.ops->adam(cpu.ctx, n, p, g, m, v, (float)lr, (float)b1, (float)b2, (float)eps,
                      (float)bc1, (float)bc2);
        for (size_t i = 0; i < n; i++) {
            rm[i] = b1 * rm[i] + (1 - b1) * g[i];
            rv[i] = b2 * rv[i] + (1 - b2) * (double)g[i] * g[i];
            rp[i] -= lr * (rm[i] / bc1) / (sqrt(rv[i] / bc2) + eps);
        }
    }
    for (size_t i = 0; i < n; i++) {
        assert_true(fabs(p[i] - rp[i]) <= 1e-5 * (fabs(rp[i]) + 1e-3));
        assert_true(fabs(m[i] - rm[i]) <= 1e-5 * fabs(rm[i]) + 1e-8);
    }
    free(p);
    free(g);
    free(m);
    free(v);
    free(rp);
    free(rm);
    free(rv);
}

static int cmp_desc(const void *a, const void *b)
{
    const float *x = a, *y = b;
    if (x[0] != y[0])
        return x[0] > y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

static void test_score_top_k_and_mean_match_a_sort(void **state)
{
    const int n = 5, m = 37;
    struct vg_k_score sp = {
        .alpha = 0.1f, .prior_weight = 4, .floor = 0.05f, .clip = 4, .top_k = 4};
    float *pred = randv((size_t)n * m, 2), *tgt = randv((size_t)n * m, 2);
    float *r = calloc((size_t)n * m, 4), *cnt = calloc((size_t)n * m, 4);
    float prior[37];
    for (int j = 0; j < m; j++)
        prior[j] = 1.0f;
    for (int i = 0; i < n * m; i++) {
        r[i] = 0.95f; /* (r + floor) = 1: e = |tgt - pred| */
        cnt[i] = 10;
    }
    /* Ties: two metrics with the same error; the lower index must come first. */
    tgt[7] = pred[7] + 3.5f;
    tgt[20] = pred[20] + 3.5f;
    for (int j = 0; j < m; j++)
        tgt[4 * m + j] = NAN; /* a host with nothing this tick */
    tgt[3 * m + 5] = NAN;
    float score[5], err[5 * 4];
    int32_t idx[5 * 4];
    cpu.ops->score(NULL, &sp, n, m, pred, m, tgt, r, cnt, prior, score, idx, err);
    for (int i = 0; i < 4; i++) {
        float e[37][2];
        int ne = 0;
        for (int j = 0; j < m; j++)
            if (!isnan(tgt[i * m + j])) {
                e[ne][0] = fabsf(tgt[i * m + j] - pred[i * m + j]) / 1.0f;
                e[ne][1] = (float)j;
                ne++;
            }
        qsort(e, (size_t)ne, sizeof(e[0]), cmp_desc);
        float sum = 0;
        for (int q = 0; q < 4; q++) {
            assert_int_equal(idx[i * 4 + q], (int)e[q][1]);
            assert_true(fabsf(err[i * 4 + q] - e[q][0]) <= 1e-6f * (1 + e[q][0]));
            sum += e[q][0];
        }
        assert_true(fabsf(score[i] - sum / 4) <= 1e-5f * (1 + sum));
    }
    assert_int_equal(idx[0], 7);
    assert_int_equal(idx[1], 20);
    assert_true(isnan(score[4]));
    assert_int_equal(idx[4 * 4], -1);
    free(pred);
    free(tgt);
    free(r);
    free(cnt);
}

static void test_ingest_normalises_and_masks_missing(void **state)
{
    struct vg_k_norm np = {
        .alpha = 0.05f, .prior_weight = 4, .floor_abs = 0.01f, .floor_rel = 0.0f, .z_clip = 5};
    const int n = 1, m = 3, R = 2, ldw = 2 * R * m;
    float c[3] = {0}, s[3] = {0}, cnt[3] = {0}, prior[3] = {2, 2, 2}, win[12] = {0}, tgt[3];
    float twin[12] = {0};
    /* First values set the centres and take the prior scale. */
    float x0[3] = {10, NAN, -4};
    cpu.ops->ingest(NULL, &np, n, m, x0, c, s, cnt, prior, win, twin, ldw, 0, R, tgt);
    assert_true(c[0] == 10 && s[0] == 2 && cnt[0] == 1 && cnt[1] == 0);
    assert_true(isnan(tgt[1]) && win[1] == 0 && win[R * m + 1] == 0);
    /* The autoencoder's target window: the window's values, NaN where one was missing. */
    assert_true(twin[0] == win[0] && isnan(twin[1]) && isnan(twin[R * m + 1]) && twin[2] == win[2]);
    /* A far outlier is clipped in the window, kept in the target, and moves the centre by at
     * most 2 scales times the rate. */
    float x1[3] = {1000, 1, -4};
    cpu.ops->ingest(NULL, &np, n, m, x1, c, s, cnt, prior, win, twin, ldw, 1, 1 + R, tgt);
    float sc = 2 + 0.01f, z = (1000 - 10) / sc;
    assert_true(fabsf(tgt[0] - z) < 1e-3f * z);
    assert_true(win[m + 0] == 5 && win[(1 + R) * m + 0] == 5);
    assert_true(c[0] <= 10 + 0.5f * 2 * sc + 1e-4f);
    assert_true(c[1] == 1 && cnt[1] == 1);
    assert_true(twin[m + 0] == 5 && twin[(1 + R) * m + 1] == win[(1 + R) * m + 1]);
    /* Without a target window (a forecaster) the rest is the same. */
    float c2[3] = {0}, s2[3] = {0}, cnt2[3] = {0}, win2[12] = {0}, tgt2[3];
    cpu.ops->ingest(NULL, &np, n, m, x0, c2, s2, cnt2, prior, win2, NULL, ldw, 0, R, tgt2);
    cpu.ops->ingest(NULL, &np, n, m, x1, c2, s2, cnt2, prior, win2, NULL, ldw, 1, 1 + R, tgt2);
    assert_memory_equal(win, win2, sizeof(win));
    assert_memory_equal(c, c2, sizeof(c));
}

/* ---- CUDA against CPU ---- */

/* For the matrix products and reductions, whose summation orders differ between the paths:
 * max |a - b| / max |b| over the array (normwise, infinity norm); NaN must match NaN. */
static double rel_err(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i])) {
            if (isnan(a[i]) != isnan(b[i]))
                return INFINITY;
            continue;
        }
        num = fmax(num, fabs((double)a[i] - b[i]));
        den = fmax(den, fabs((double)b[i]));
    }
    return den > 0 ? num / den : num;
}

/* Copies a host array to the GPU backend, runs nothing, and returns the device pointer. */
static float *dev_from(struct vg_k *g, const float *h, size_t n)
{
    float *d = g->ops->alloc(g->ctx, n * sizeof(float));
    assert_non_null(d);
    assert_int_equal(g->ops->upload(g->ctx, d, h, n * sizeof(float)), 0);
    return d;
}

static void back(struct vg_k *g, float *h, const float *d, size_t n)
{
    char err[VG_ERRLEN];
    if (g->ops->download(g->ctx, h, d, n * sizeof(float), err, sizeof(err)) < 0) {
        fprintf(stderr, "download: %s\n", err);
        fail();
    }
}

#define CHECK_REL(what, a, b, n)                                                                   \
    do {                                                                                           \
        double e_ = rel_err(a, b, n);                                                              \
        printf("  gpu vs cpu %-12s rel err %.2e\n", what, e_);                                     \
        assert_true(e_ <= 1e-4);                                                                   \
    } while (0)

/* For the element-wise operations: the same formulas (vg_k_math.h), both compiled without fused
 * multiply-adds, give the same bits, and a bound would hide a formula that drifted. Any NaN
 * matches any NaN (the GPU's arithmetic NaN has another payload than the CPU's). The first
 * element that differs, or n. */
static size_t first_diff(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(isnan(a[i]) && isnan(b[i])) && memcmp(&a[i], &b[i], sizeof(float)) != 0)
            return i;
    return n;
}

#define CHECK_SAME(what, a, b, n)                                                                  \
    do {                                                                                           \
        size_t i_ = first_diff(a, b, n);                                                           \
        if (i_ < (n)) {                                                                            \
            printf("  gpu vs cpu %-12s differ at %zu: %.9g, cpu %.9g\n", what, i_, (a)[i_],        \
                   (b)[i_]);                                                                       \
            fail();                                                                                \
        }                                                                                          \
        printf("  gpu vs cpu %-12s bit-identical\n", what);                                        \
    } while (0)

/* OpenBLAS's fallback to pre-AVX2 kernels is named with the OPENBLAS_CORETYPE that fits the CPU;
 * kernels the CPU cannot beat, or a CPU without AVX2, are left alone. */
static void test_openblas_old_kernels_get_a_coretype_the_cpu_can_run(void **state)
{
    (void)state;
    char ct[16];
    assert_int_equal(vg_k_cpu_coretype_hint("Prescott", 1, 1, ct, sizeof(ct)), 1);
    assert_string_equal(ct, "SkylakeX");
    assert_int_equal(vg_k_cpu_coretype_hint("NEHALEM", 1, 0, ct, sizeof(ct)), 1);
    assert_string_equal(ct, "Haswell");
    assert_int_equal(vg_k_cpu_coretype_hint("Sandybridge", 1, 0, ct, sizeof(ct)), 1);
    assert_string_equal(ct, "Haswell");
    const char *fine[] = {"Haswell", "SkylakeX", "Cooperlake", "Zen", "SapphireRapids"};
    for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
        assert_int_equal(vg_k_cpu_coretype_hint(fine[i], 1, 1, ct, sizeof(ct)), 0);
        assert_string_equal(ct, "");
    }
    assert_int_equal(vg_k_cpu_coretype_hint("Prescott", 0, 0, ct, sizeof(ct)), 0);
    assert_int_equal(vg_k_cpu_coretype_hint(NULL, 1, 1, ct, sizeof(ct)), 0);
}

/* The score on backend g against the CPU's, on cases the random block above does not reach: 600
 * metrics with top_k 8, so that each of the GPU's 32 lanes sees about 19 candidates and drops some
 * from its own top 8 (it does only past 32 * k metrics); ties, all metrics alike or a few error
 * levels spread over many lanes, which both paths must break by the lower metric index; and hosts
 * with 0, 1 or 2 finite targets, fewer than k. 203 hosts: the last block of 8 warps is not full.
 * Also checks the CPU's own answers on the cases whose answer is known, so that the fixture is
 * checked where no GPU is (test_score_evictions_ties_and_few_targets_on_the_cpu). */
static void score_cases(struct vg_k *g)
{
    const struct vg_k_ops *o = g->ops;
    enum { N = 203, MM = 600, K = 8, LDP = MM + 3 };
    struct vg_k_score sp = {
        .alpha = 0.02f, .prior_weight = 4, .floor = 0.05f, .clip = 4, .top_k = K};
    size_t nm = (size_t)N * MM, np = (size_t)N * LDP;
    float *pred = randv(np, 3), *tgt = randv(nm, 3), *r = randv(nm, 1), *cnt = malloc(nm * 4),
          *pr = randv(MM, 1);
    assert_non_null(cnt);
    for (int j = 0; j < MM; j++)
        pr[j] = fabsf(pr[j]) + 0.1f;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < MM; j++) {
            size_t e = (size_t)i * MM + j;
            float *pd = &pred[(size_t)i * LDP + j];
            r[e] = fabsf(r[e]) + 0.01f;
            cnt[e] = (float)((i + j) % 4); /* 0 and 1 take the prior scale */
            switch (i % 5) {
            case 0: /* every metric the same error */
                tgt[e] = 2.0f;
                *pd = 0.0f;
                r[e] = 1.0f;
                cnt[e] = 5.0f;
                break;
            case 1: /* five levels; the top one at j = 2, 7, 12, ...: 120 ties over 32 lanes */
                tgt[e] = (float)((j * 7) % 5);
                *pd = 0.0f;
                r[e] = 1.0f;
                cnt[e] = 5.0f;
                break;
            case 2: { /* (i / 5) % 3 finite targets: none, j = 599 (lane 23), also j = 37 (lane 5)
                       */
                int f = (i / 5) % 3;
                if (!((f >= 1 && j == MM - 1) || (f >= 2 && j == 37)))
                    tgt[e] = NAN;
                break;
            }
            default:
                if (e % 17 == 0)
                    tgt[e] = NAN;
            }
        }
    float *r2 = malloc(nm * 4), *sc = malloc(N * 4), *sc2 = malloc(N * 4), *te = malloc(N * K * 4),
          *te2 = malloc(N * K * 4);
    int32_t *ti = malloc(N * K * 4), *ti2 = malloc(N * K * 4);
    assert_true(r2 && sc && sc2 && te && te2 && ti && ti2);
    float *dpred = dev_from(g, pred, np), *dtgt = dev_from(g, tgt, nm), *dr = dev_from(g, r, nm),
          *dcnt = dev_from(g, cnt, nm), *dpr = dev_from(g, pr, MM), *dsc = o->alloc(g->ctx, N * 4),
          *dte = o->alloc(g->ctx, N * K * 4);
    int32_t *dti = o->alloc(g->ctx, N * K * 4);
    assert_true(dsc && dte && dti);
    cpu.ops->score(NULL, &sp, N, MM, pred, LDP, tgt, r, cnt, pr, sc, ti, te);
    o->score(g->ctx, &sp, N, MM, dpred, LDP, dtgt, dr, dcnt, dpr, dsc, dti, dte);
    back(g, sc2, dsc, N);
    back(g, te2, dte, (size_t)N * K);
    back(g, (float *)ti2, (float *)dti, (size_t)N * K);
    back(g, r2, dr, nm);
    CHECK_SAME("score 600x8", sc2, sc, (size_t)N);
    CHECK_SAME("top err 600x8", te2, te, (size_t)N * K);
    for (int i = 0; i < N * K; i++)
        if (ti[i] != ti2[i]) {
            printf("  gpu vs cpu top index %d of host %d: %d, cpu %d\n", i % K, i / K, ti2[i],
                   ti[i]);
            fail();
        }
    CHECK_SAME("resid 600x8", r2, r, nm);
    /* The answers known in advance. */
    for (int i = 0; i < N; i++) {
        const int32_t *idx = ti + (size_t)i * K;
        const float *err = te + (size_t)i * K;
        int f = (i / 5) % 3;
        switch (i % 5) {
        case 0:
        case 1:
            for (int q = 0; q < K; q++) {
                assert_int_equal(idx[q], i % 5 == 0 ? q : 2 + 5 * q);
                assert_true(err[q] == err[0]);
            }
            /* A mean of 8 equal values, summed in float: equal to rounding. */
            assert_true(fabsf(sc[i] - err[0]) <= 1e-6f * err[0]);
            break;
        case 2:
            if (f == 0)
                assert_true(isnan(sc[i]));
            else
                assert_false(isnan(sc[i]));
            for (int q = 0; q < K; q++)
                if (q >= f) {
                    assert_int_equal(idx[q], -1);
                    assert_true(err[q] == 0.0f);
                }
            if (f == 1)
                assert_int_equal(idx[0], MM - 1);
            if (f == 2) {
                assert_true(err[0] > err[1] || (err[0] == err[1] && idx[0] == 37));
                assert_true((idx[0] == 37 && idx[1] == MM - 1) ||
                            (idx[0] == MM - 1 && idx[1] == 37));
            }
            break;
        default:
            break;
        }
    }
    float *db[] = {dpred, dtgt, dr, dcnt, dpr, dsc, dte};
    for (size_t i = 0; i < VG_ARRAY_LEN(db); i++)
        o->free(g->ctx, db[i]);
    o->free(g->ctx, dti);
    float *hb[] = {pred, tgt, r, cnt, pr, r2, sc, sc2, te, te2};
    for (size_t i = 0; i < VG_ARRAY_LEN(hb); i++)
        free(hb[i]);
    free(ti);
    free(ti2);
}

/* The fixture of score_cases and the CPU's answers on it, with the CPU in the GPU's place. */
static void test_score_evictions_ties_and_few_targets_on_the_cpu(void **state)
{
    score_cases(&cpu);
}

static void test_gpu_score_matches_cpu_with_evictions_ties_and_few_targets(void **state)
{
    struct vg_k g;
    char err[VG_ERRLEN];
    assert_int_equal(vg_k_open(&g, "cuda", err, sizeof(err)), 0);
    score_cases(&g);
    vg_k_close(&g);
}

/* A GPU that is listed but broken (its self-test fails: -EIO) must not stop an analyzer set to
 * auto, which logs why and runs on the CPU, while one set to cuda refuses to start. The stub
 * stands in for libvigil-cuda.so, so no GPU is needed. */
static void test_auto_falls_back_to_the_cpu_on_a_failed_gpu_self_test(void **state)
{
    char *keep = getenv("VIGIL_CUDA_LIB") ? strdup(getenv("VIGIL_CUDA_LIB")) : NULL;
    assert_int_equal(setenv("VIGIL_CUDA_LIB", VG_CUDA_STUB_EIO, 1), 0);
    char logpath[] = "/tmp/vg-test-kernels-log-XXXXXX";
    int fd = mkstemp(logpath);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_true(dup2(fd, 2) >= 0);
    struct vg_k k;
    char err[VG_ERRLEN] = "";
    int auto_rc = vg_k_open(&k, "auto", err, sizeof(err));
    const struct vg_k_ops *auto_ops = k.ops;
    if (auto_rc == 0)
        vg_k_close(&k);
    int cuda_rc = vg_k_open(&k, "cuda", err, sizeof(err));
    char cerr[VG_ERRLEN] = "";
    int check_rc = vg_k_check("cuda", cerr, sizeof(cerr));
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char log[4096] = "";
    ssize_t got = pread(fd, log, sizeof(log) - 1, 0);
    close(fd);
    unlink(logpath);
    if (keep) {
        setenv("VIGIL_CUDA_LIB", keep, 1);
        free(keep);
    } else {
        unsetenv("VIGIL_CUDA_LIB");
    }
    printf("  log: %s", got > 0 ? log : "(none)\n");
    assert_int_equal(auto_rc, 0);
    assert_ptr_equal(auto_ops, &vg_k_cpu_ops);
    assert_non_null(strstr(log, "CUDA backend unusable, using the CPU"));
    assert_non_null(strstr(log, "self-test"));
    assert_non_null(strstr(log, "backend=cpu"));
    assert_int_equal(cuda_rc, -EIO);
    assert_non_null(strstr(err, "CUDA backend unusable: self-test"));
    assert_int_equal(check_rc, -EIO);
}

/* cudaGetDeviceCount on a host without NVIDIA's driver says "CUDA driver version is insufficient
 * for CUDA runtime version", and an SRE of a CPU-only host went to upgrade a driver that is not
 * there. The reason says what the host lacks; the runtime's text stays where the driver is there
 * (really too old) and for other errors. */
static void test_the_cuda_reason_says_what_the_host_lacks_of_the_driver(void **state)
{
    const char *old = "CUDA driver version is insufficient for CUDA runtime version";
    const struct vg_k_cuda_host none = {0, 0}, lib_only = {1, 0}, node_only = {0, 1}, both = {1, 1};
    char why[VG_ERRLEN];
    vg_k_cuda_why(why, sizeof(why), VG_K_CUDA_FAIL_DRIVER, old, &none);
    assert_string_equal(why, "no NVIDIA driver on this host (libcuda.so.1 not found)");
    vg_k_cuda_why(why, sizeof(why), VG_K_CUDA_FAIL_NO_DEVICE, "no CUDA-capable device", &none);
    assert_string_equal(why, "no NVIDIA driver on this host (libcuda.so.1 not found)");
    vg_k_cuda_why(why, sizeof(why), VG_K_CUDA_FAIL_NO_DEVICE, "no CUDA-capable device", &lib_only);
    assert_non_null(strstr(why, "no NVIDIA device (/dev/nvidiactl missing"));
    assert_non_null(strstr(why, "PrivateDevices=yes"));
    vg_k_cuda_why(why, sizeof(why), VG_K_CUDA_FAIL_DRIVER, old, &node_only);
    assert_non_null(strstr(why, "libcuda.so.1 not found, though /dev/nvidiactl is there"));
    /* The driver is there: it really is too old (or there really is no device). */
    vg_k_cuda_why(why, sizeof(why), VG_K_CUDA_FAIL_DRIVER, old, &both);
    assert_string_equal(why, "cudaGetDeviceCount: CUDA driver version is insufficient for CUDA "
                             "runtime version");
    vg_k_cuda_why(why, sizeof(why), VG_K_CUDA_FAIL_NO_DEVICE, "no CUDA-capable device is detected",
                  &both);
    assert_string_equal(why, "cudaGetDeviceCount: no CUDA-capable device is detected");
    /* Any other error is the runtime's, whatever the host has. */
    vg_k_cuda_why(why, sizeof(why), VG_K_CUDA_FAIL_OTHER, "initialization error", &none);
    assert_string_equal(why, "cudaGetDeviceCount: initialization error");
}

/* The real libvigil-cuda.so of this build on this host: where it has no NVIDIA driver (no
 * libcuda.so.1, as on a CPU-only build machine with the CUDA toolkit), cuda is refused with
 * "no NVIDIA driver", not with the runtime's "driver version is insufficient". */
static void test_a_host_without_the_driver_is_told_so_by_the_built_cuda_backend(void **state)
{
#ifdef VG_CUDA_LIB_BUILT
    struct vg_k_cuda_host host;
    vg_k_cuda_host_probe(&host);
    if (host.libcuda) {
        printf("  this host has libcuda.so.1: nothing to check here\n");
        skip();
    }
    char *keep = getenv("VIGIL_CUDA_LIB") ? strdup(getenv("VIGIL_CUDA_LIB")) : NULL;
    assert_int_equal(setenv("VIGIL_CUDA_LIB", VG_CUDA_LIB_BUILT, 1), 0);
    char err[VG_ERRLEN] = "";
    int rc = vg_k_check("cuda", err, sizeof(err));
    if (keep) {
        setenv("VIGIL_CUDA_LIB", keep, 1);
        free(keep);
    } else {
        unsetenv("VIGIL_CUDA_LIB");
    }
    printf("  %s\n", err);
    assert_int_equal(rc, -ENODEV);
    assert_non_null(strstr(err, "CUDA backend unusable: no NVIDIA driver on this host"));
    assert_null(strstr(err, "insufficient"));
#else
    printf("  no CUDA backend in this build: nothing to check here\n");
    skip();
#endif
}
static void test_gpu_ops_match_cpu(void **state)
{
    struct vg_k g;
    char err[VG_ERRLEN];
    assert_int_equal(vg_k_open(&g, "cuda", err, sizeof(err)), 0);
    printf("  gpu backend: %s\n", g.desc);
    const struct vg_k_ops *o = g.ops;
    /* Matrix products, every transpose combination, with leading dimensions wider than rows. */
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int M = 300, N = 70, K = 513;
            int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
            size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb,
                   nc = (size_t)M * ldc;
            float *a = randv(na, 1), *b = randv(nb, 1), *c = randv(nc, 1), *c2 = malloc(nc * 4);
            float *da = dev_from(&g, a, na), *db = dev_from(&g, b, nb), *dc = dev_from(&g, c, nc);
            cpu.ops->gemm(NULL, ta, tb, M, N, K, 0.7f, a, lda, b, ldb, 0.3f, c, ldc);
            o->gemm(g.ctx, ta, tb, M, N, K, 0.7f, da, lda, db, ldb, 0.3f, dc, ldc);
            back(&g, c2, dc, nc);
            CHECK_REL(ta ? (tb ? "gemm TT" : "gemm TN") : (tb ? "gemm NT" : "gemm NN"), c2, c, nc);
            o->free(g.ctx, da);
            o->free(g.ctx, db);
            o->free(g.ctx, dc);
            free(a);
            free(b);
            free(c);
            free(c2);
        }
    /* Element-wise and reductions. */
    int rows = 1000, cols = 67, ld = 70;
    size_t ne = (size_t)rows * ld;
    float *y = randv(ne, 2), *bias = randv((size_t)cols, 1), *y2 = malloc(ne * 4);
    float *dy = dev_from(&g, y, ne), *dbias = dev_from(&g, bias, (size_t)cols);
    cpu.ops->bias_act(NULL, y, ld, rows, cols, bias, VG_K_ACT_LEAKY);
    o->bias_act(g.ctx, dy, ld, rows, cols, dbias, VG_K_ACT_LEAKY);
    back(&g, y2, dy, ne);
    CHECK_SAME("bias_act", y2, y, ne);
    /* The linear output layer's. */
    float *yl = randv(ne, 2), *dyl = dev_from(&g, yl, ne);
    cpu.ops->bias_act(NULL, yl, ld, rows, cols, bias, VG_K_ACT_NONE);
    o->bias_act(g.ctx, dyl, ld, rows, cols, dbias, VG_K_ACT_NONE);
    back(&g, y2, dyl, ne);
    CHECK_SAME("bias (none)", y2, yl, ne);
    float *d = randv(ne, 1), *d2 = malloc(ne * 4), *dd = dev_from(&g, d, ne);
    cpu.ops->act_grad(NULL, d, ld, y, ld, rows, cols, VG_K_ACT_LEAKY);
    o->act_grad(g.ctx, dd, ld, dy, ld, rows, cols, VG_K_ACT_LEAKY);
    back(&g, d2, dd, ne);
    CHECK_SAME("act_grad", d2, d, ne);
    float cs[67], cs2[67], *dcs = o->alloc(g.ctx, sizeof(cs));
    cpu.ops->colsum(NULL, cs, d, ld, rows, cols, 0.5f);
    o->colsum(g.ctx, dcs, dd, ld, rows, cols, 0.5f);
    back(&g, cs2, dcs, (size_t)cols);
    CHECK_REL("colsum", cs2, cs, (size_t)cols);
    /* Huber with NaN targets and zero weights. */
    float *t = randv(ne, 3), *w = randv((size_t)rows, 1), loss[1000], loss2[1000];
    for (size_t i = 0; i < ne; i += 11)
        t[i] = NAN;
    for (int i = 0; i < rows; i++)
        w[i] = i % 7 ? 1.0f : 0.0f;
    float *dt = dev_from(&g, t, ne), *dw = dev_from(&g, w, (size_t)rows),
          *dl = o->alloc(g.ctx, sizeof(loss));
    cpu.ops->huber(NULL, rows, cols, y, ld, t, ld, w, 1.0f, 0.01f, d, ld, loss);
    o->huber(g.ctx, rows, cols, dy, ld, dt, ld, dw, 1.0f, 0.01f, dd, ld, dl);
    back(&g, d2, dd, ne);
    back(&g, loss2, dl, (size_t)rows);
    CHECK_SAME("huber grad", d2, d, ne);
    CHECK_REL("huber loss", loss2, loss, (size_t)rows);
    /* Adam. */
    size_t np = 100000;
    float *p = randv(np, 1), *gr = randv(np, 0.1f), *m = randv(np, 0.01f), *v = randv(np, 0.01f);
    for (size_t i = 0; i < np; i++)
        v[i] = fabsf(v[i]);
    float *dp = dev_from(&g, p, np), *dg = dev_from(&g, gr, np), *dm = dev_from(&g, m, np),
          *dv = dev_from(&g, v, np), *p2 = malloc(np * 4);
    cpu.ops->adam(NULL, np, p, gr, m, v, 1e-3f, 0.9f, 0.999f, 1e-6f, 0.1f, 0.001f);
    o->adam(g.ctx, np, dp, dg, dm, dv, 1e-3f, 0.9f, 0.999f, 1e-6f, 0.1f, 0.001f);
    back(&g, p2, dp, np);
    CHECK_SAME("adam", p2, p, np);
    float *mv2 = malloc(np * 4);
    back(&g, mv2, dm, np);
    CHECK_SAME("adam m", mv2, m, np);
    back(&g, mv2, dv, np);
    CHECK_SAME("adam v", mv2, v, np);
    free(mv2);
    /* Ingest and score over a block of hosts. */
    int n = 333, mm = 45, R = 3, ldw = 2 * R * mm;
    struct vg_k_norm nrm = {
        .alpha = 0.02f, .prior_weight = 4, .floor_abs = 0.01f, .floor_rel = 0.01f, .z_clip = 8};
    struct vg_k_score sp = {
        .alpha = 0.02f, .prior_weight = 4, .floor = 0.05f, .clip = 4, .top_k = 3};
    size_t nm = (size_t)n * mm, nw = (size_t)n * ldw;
    float *x = randv(nm, 10), *c = randv(nm, 1), *s = randv(nm, 1), *cnt = randv(nm, 1),
          *pr = randv((size_t)mm, 1), *win = calloc(nw, 4), *tgt = calloc(nm, 4), *r = randv(nm, 1),
          *pred = randv(nm, 3), *out = malloc(nw * 4), *twin = calloc(nw, 4);
    for (size_t i = 0; i < nm; i++) {
        s[i] = fabsf(s[i]);
        r[i] = fabsf(r[i]);
        cnt[i] = (float)(i % 5); /* includes first values (0) */
        if (i % 13 == 0)
            x[i] = NAN;
    }
    float *dx = dev_from(&g, x, nm), *dc2 = dev_from(&g, c, nm), *ds = dev_from(&g, s, nm),
          *dcnt = dev_from(&g, cnt, nm), *dpr = dev_from(&g, pr, (size_t)mm),
          *dwin = dev_from(&g, win, nw), *dtgt = dev_from(&g, tgt, nm), *dr = dev_from(&g, r, nm),
          *dpred = dev_from(&g, pred, nm), *dtwin = dev_from(&g, twin, nw);
    cpu.ops->ingest(NULL, &nrm, n, mm, x, c, s, cnt, pr, win, twin, ldw, 1, 1 + R, tgt);
    o->ingest(g.ctx, &nrm, n, mm, dx, dc2, ds, dcnt, dpr, dwin, dtwin, ldw, 1, 1 + R, dtgt);
    back(&g, out, dwin, nw);
    CHECK_SAME("ingest win", out, win, nw);
    back(&g, out, dtwin, nw);
    CHECK_SAME("ingest twin", out, twin, nw);
    back(&g, out, dtgt, nm);
    CHECK_SAME("ingest tgt", out, tgt, nm);
    back(&g, out, ds, nm);
    CHECK_SAME("ingest s", out, s, nm);
    back(&g, out, dc2, nm);
    CHECK_SAME("ingest c", out, c, nm);
    back(&g, out, dcnt, nm);
    CHECK_SAME("ingest cnt", out, cnt, nm);
    float *sc = malloc((size_t)n * 4), *sc2 = malloc((size_t)n * 4), *te = malloc(nm * 4),
          *te2 = malloc(nm * 4);
    int32_t *ti = malloc((size_t)n * 3 * 4), *ti2 = malloc((size_t)n * 3 * 4);
    float *dsc = o->alloc(g.ctx, (size_t)n * 4), *dte = o->alloc(g.ctx, (size_t)n * 3 * 4);
    int32_t *dti = o->alloc(g.ctx, (size_t)n * 3 * 4);
    cpu.ops->score(NULL, &sp, n, mm, pred, mm, tgt, r, cnt, pr, sc, ti, te);
    o->score(g.ctx, &sp, n, mm, dpred, mm, dtgt, dr, dcnt, dpr, dsc, dti, dte);
    back(&g, sc2, dsc, (size_t)n);
    back(&g, te2, dte, (size_t)n * 3);
    back(&g, (float *)ti2, (float *)dti, (size_t)n * 3);
    /* The score is a mean of top_k errors, summed in the same (descending) order on both. */
    CHECK_SAME("score", sc2, sc, (size_t)n);
    CHECK_SAME("top err", te2, te, (size_t)n * 3);
    assert_memory_equal(ti, ti2, (size_t)n * 3 * 4);
    back(&g, out, dr, nm);
    CHECK_SAME("resid scale", out, r, nm);
    vg_k_close(&g);
    /* Host buffers of the test; its device buffers go with the process. */
    float *hb[] = {y, bias, y2, d,   d2,  t, w,    p,   gr, m,   v,  p2,  x,    c,
                   s, cnt,  pr, win, tgt, r, pred, out, sc, sc2, te, te2, twin, yl};
    for (size_t i = 0; i < VG_ARRAY_LEN(hb); i++)
        free(hb[i]);
    free(ti);
    free(ti2);
}

int main(int argc, char **argv)
{
    if (vg_test_gpu_mode(argc, argv)) { /* test_kernels_gpu */
        int rc = vg_test_gpu_gate("gpu-vs-cpu kernels");
        if (rc)
            return rc;
        const struct CMUnitTest gpu[] = {
            cmocka_unit_test(test_gpu_ops_match_cpu),
            cmocka_unit_test(test_gpu_score_matches_cpu_with_evictions_ties_and_few_targets),
        };
        return cmocka_run_group_tests_name("gpu", gpu, setup, teardown);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_double_beyond_float_range_counts_as_x_max),
        cmocka_unit_test(test_cpu_gradients_match_finite_differences),
        cmocka_unit_test(test_adam_matches_scalar_reference),
        cmocka_unit_test(test_score_top_k_and_mean_match_a_sort),
        cmocka_unit_test(test_ingest_normalises_and_masks_missing),
        cmocka_unit_test(test_openblas_old_kernels_get_a_coretype_the_cpu_can_run),
        cmocka_unit_test(test_auto_falls_back_to_the_cpu_on_a_failed_gpu_self_test),
        cmocka_unit_test(test_the_cuda_reason_says_what_the_host_lacks_of_the_driver),
        cmocka_unit_test(test_a_host_without_the_driver_is_told_so_by_the_built_cuda_backend),
        cmocka_unit_test(test_score_evictions_ties_and_few_targets_on_the_cpu),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
