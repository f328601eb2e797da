/* CPU backend: OpenBLAS for the matrix products, plain loops for the rest. The loops run over
 * contiguous rows so the compiler vectorises them at -O2; each keeps a fixed order of summation
 * so a run is bitwise repeatable. The CUDA backend (vg_k_cuda.cu) implements the same formulas.
 */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vg_k.h"
#include "vg_k_math.h"
#include "vg_log.h"
#include "vg_util.h"

/* openblas_get_num_threads() and openblas_get_config() are OpenBLAS extensions that cblas.h
 * declares only in OpenBLAS's own copy of the header. */
int openblas_get_num_threads(void);
char *openblas_get_config(void);
char *openblas_get_corename(void);
void openblas_set_num_threads(int n);

int vg_k_cpu_coretype_hint(const char *corename, int avx2_fma, int avx512, char *coretype,
                           size_t len)
{
    /* OpenBLAS's x86 core names whose kernels stop short of AVX2. */
    static const char *old[] = {"Prescott",   "Core2",        "Penryn",      "Dunnington",
                                "Nehalem",    "Atom",         "Sandybridge", "Katmai",
                                "Coppermine", "Northwood",    "Banias",      "Athlon",
                                "Opteron",    "Opteron_SSE3", "Barcelona",   "Bobcat",
                                "Bulldozer",  "Piledriver",   "Steamroller", "Excavator"};
    if (len)
        coretype[0] = '\0';
    if (!corename || !avx2_fma)
        return 0;
    for (size_t i = 0; i < sizeof(old) / sizeof(old[0]); i++)
        if (strcasecmp(corename, old[i]) == 0) {
            snprintf(coretype, len, "%s", avx512 ? "SkylakeX" : "Haswell");
            return 1;
        }
    return 0;
}

void vg_k_cpu_set_threads(int n)
{
    if (n > 0)
        openblas_set_num_threads(n);
}

static int cpu_open(void **ctx, char *desc, size_t desclen, char *err, size_t errlen)
{
    *ctx = NULL;
    /* The kernels OpenBLAS picked for this CPU are named: each rounds its sums in its own order,
     * so a model trained on two CPUs drifts apart (docs/evaluation.md, "Reproduce"). The version
     * is the config string's first two words. */
    const char *cfg = openblas_get_config(), *kern = openblas_get_corename();
    int vlen = 0;
    if (cfg) {
        const char *sp = strchr(cfg, ' ');
        sp = sp ? strchr(sp + 1, ' ') : NULL;
        vlen = sp ? (int)(sp - cfg) : (int)strnlen(cfg, 32);
    }
    int th = openblas_get_num_threads();
    snprintf(desc, desclen, "cpu (%.*s, %.24s kernels, %d thread%s)", vlen ? vlen : 8,
             vlen ? cfg : "OpenBLAS", kern ? kern : "unknown", th, th == 1 ? "" : "s");
#if defined(__x86_64__) && defined(__GNUC__)
    /* Only a choice OpenBLAS made itself: an OPENBLAS_CORETYPE the operator set is theirs. */
    char ct[16];
    const char *set = getenv("OPENBLAS_CORETYPE");
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    const char *core = openblas_get_corename();
    /* Once per process: the choice is the process's, and eval opens a backend per machine. */
    static atomic_int warned;
    if ((!set || !*set) && vg_k_cpu_coretype_hint(core, avx2, avx512, ct, sizeof(ct)) &&
        !atomic_exchange(&warned, 1))
        vg_warn("OpenBLAS chose kernels older than this CPU",
                "kernels=%s cpu=%s hint=\"set OPENBLAS_CORETYPE=%s in the environment (for the "
                "service: systemctl edit vigil-analyzer, Environment=OPENBLAS_CORETYPE=%s); "
                "on an H200 host's Xeon SGEMM went from 240 to 1,600 GFLOP/s, docs/bench.md\"",
                core, avx512 ? "avx512" : "avx2", ct, ct);
#endif
    return 0;
}

static void cpu_close(void *ctx)
{
}

static void *cpu_alloc(void *ctx, size_t bytes)
{
    /* 64-byte aligned rows suit AVX-512 loads and OpenBLAS's packing alike. */
    size_t sz = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, sz ? sz : 64);
    if (p)
        memset(p, 0, sz ? sz : 64);
    return p;
}

static void cpu_free(void *ctx, void *p)
{
    free(p);
}

static void cpu_zero(void *ctx, void *p, size_t bytes)
{
    memset(p, 0, bytes);
}

static void cpu_copy(void *ctx, void *dst, const void *src, size_t bytes)
{
    memmove(dst, src, bytes);
}

static int cpu_upload(void *ctx, void *dst, const void *src, size_t bytes)
{
    memcpy(dst, src, bytes);
    return 0;
}

static int cpu_download(void *ctx, void *dst, const void *src, size_t bytes, char *err,
                        size_t errlen)
{
    memcpy(dst, src, bytes);
    return 0;
}

static int cpu_sync(void *ctx, char *err, size_t errlen)
{
    return 0;
}

static void cpu_gemm(void *ctx, int ta, int tb, int m, int n, int k, float alpha, const float *a,
                     int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
                k, alpha, a, lda, b, ldb, beta, c, ldc);
}

static void cpu_bias_act(void *ctx, float *y, int ldy, int rows, int cols, const float *bias,
                         enum vg_k_act act)
{
    for (int r = 0; r < rows; r++) {
        float *row = y + (size_t)r * ldy;
        if (act == VG_K_ACT_LEAKY)
            for (int j = 0; j < cols; j++)
                row[j] = vg_k_leaky(row[j] + bias[j]);
        else
            for (int j = 0; j < cols; j++)
                row[j] += bias[j];
    }
}

static void cpu_act_grad(void *ctx, float *d, int ldd, const float *y, int ldy, int rows, int cols,
                         enum vg_k_act act)
{
    if (act != VG_K_ACT_LEAKY)
        return;
    for (int r = 0; r < rows; r++) {
        float *dr = d + (size_t)r * ldd;
        const float *yr = y + (size_t)r * ldy;
        for (int j = 0; j < cols; j++)
            dr[j] *= vg_k_leaky_grad(yr[j]);
    }
}

static void cpu_colsum(void *ctx, float *out, const float *x, int ldx, int rows, int cols,
                       float alpha)
{
    memset(out, 0, sizeof(float) * (size_t)cols);
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * ldx;
        for (int j = 0; j < cols; j++)
            out[j] += xr[j];
    }
    for (int j = 0; j < cols; j++)
        out[j] *= alpha;
}

static void cpu_ingest(void *ctx, const struct vg_k_norm *p, int n, int m, const float *x, float *c,
                       float *s, float *cnt, const float *prior_s, float *win, float *twin, int ldw,
                       int slot_a, int slot_b, float *tgt)
{
    size_t oa = (size_t)slot_a * m, ob = (size_t)slot_b * m;
    for (int i = 0; i < n; i++) {
        size_t o = (size_t)i * m, row = (size_t)i * ldw;
        for (int j = 0; j < m; j++) {
            float zw, zt;
            vg_k_norm_one(p, x[o + j], &c[o + j], &s[o + j], &cnt[o + j], prior_s[j], &zw, &zt);
            win[row + oa + j] = zw;
            win[row + ob + j] = zw;
            tgt[o + j] = zt;
            if (twin)
                twin[row + oa + j] = twin[row + ob + j] = vg_k_masked(zw, zt);
        }
    }
}

static void cpu_score(void *ctx, const struct vg_k_score *p, int n, int m, const float *pred,
                      int ldp, const float *tgt, float *r, const float *cnt, const float *prior_r,
                      float *score, int32_t *top_idx, float *top_err)
{
    int k = (int)p->top_k;
    for (int i = 0; i < n; i++) {
        size_t o = (size_t)i * m;
        struct vg_k_topk t;
        vg_k_topk_init(&t, k);
        for (int j = 0; j < m; j++) {
            float e = vg_k_resid_one(p, tgt[o + j], pred[(size_t)i * ldp + j], &r[o + j],
                                     cnt[o + j], prior_r[j]);
            if (e >= 0)
                vg_k_topk_push(&t, e, j);
        }
        score[i] = vg_k_topk_finish(&t, top_idx + (size_t)i * k, top_err + (size_t)i * k);
    }
}

static void cpu_huber(void *ctx, int rows, int cols, const float *p, int ldp, const float *t,
                      int ldt, const float *w, float delta, float scale, float *d, int ldd,
                      float *loss)
{
    for (int r = 0; r < rows; r++) {
        const float *pr = p + (size_t)r * ldp, *tr = t + (size_t)r * ldt;
        float *dr = d + (size_t)r * ldd, acc = 0;
        for (int j = 0; j < cols; j++) {
            float l, g;
            vg_k_huber_one(pr[j], tr[j], w[r], delta, &l, &g);
            dr[j] = scale * g;
            acc += l;
        }
        loss[r] = acc;
    }
}

static void cpu_adam(void *ctx, size_t n, float *param, const float *grad, float *m, float *v,
                     float lr, float b1, float b2, float eps, float bc1, float bc2)
{
    for (size_t i = 0; i < n; i++)
        vg_k_adam_one(&param[i], grad[i], &m[i], &v[i], lr, b1, b2, eps, bc1, bc2);
}

const struct vg_k_ops vg_k_cpu_ops = {
    .abi = VG_K_ABI,
    .name = "cpu",
    .open = cpu_open,
    .close = cpu_close,
    .alloc = cpu_alloc,
    .free = cpu_free,
    /* Host memory is what this backend computes in: the same allocator serves both. */
    .host_alloc = cpu_alloc,
    .host_free = cpu_free,
    .zero = cpu_zero,
    .copy = cpu_copy,
    .upload = cpu_upload,
    .download = cpu_download,
    .sync = cpu_sync,
    .gemm = cpu_gemm,
    .bias_act = cpu_bias_act,
    .act_grad = cpu_act_grad,
    .colsum = cpu_colsum,
    .ingest = cpu_ingest,
    .score = cpu_score,
    .huber = cpu_huber,
    .adam = cpu_adam,
};
