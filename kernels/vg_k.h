/* Compute backends for the batched models (detectors/vg_mv): a table of operations on buffers
 * that live where the backend computes (host memory for the CPU path, device memory for CUDA).
 * The model is written once against this table; the CPU path (vg_k_cpu.c, OpenBLAS) and the CUDA
 * path (vg_k_cuda.cu, cuBLAS + own kernels, built as libvigil-cuda.so and dlopen()ed) compute the
 * same function, so a model runs and is tested on either.
 *
 * All matrices are row-major fp32 with an explicit leading dimension. Compute operations return
 * nothing: a failure (a CUDA launch error) is kept as the backend's first error and reported by
 * the next download() or sync(), which is where the model checks.
 */
#ifndef VG_K_H
#define VG_K_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* Bumped when the table changes; a libvigil-cuda.so of another ABI is refused. */
#define VG_K_ABI 5 /* 5: ingest writes an autoencoder's target window */

enum vg_k_act {
    VG_K_ACT_NONE = 0,
    VG_K_ACT_LEAKY = 1, /* y = x > 0 ? x : 0.01 x; the derivative is read off y's sign */
};
#define VG_K_LEAKY_SLOPE 0.01f

/* Streaming robust normaliser of one tick of n hosts x m metrics (vg_k_ops.ingest). Per host and
 * metric it keeps a centre c, a scale s and a count; for a finite x:
 *     z = (x - c) / (s + floor_abs + floor_rel |c|)
 *     c += a_c * S * clamp(z, -2, 2)            a Huber M-step: an outlier moves c by <= 2 a_c S
 *     s += a_s * (min(|x - c|, 4 S) - s)          a clipped mean absolute deviation
 * with a_c = max(alpha, 1/(cnt+1)) and a_s = max(alpha, 1/(cnt+prior_weight)) so that a new host
 * starts from its first value and the group's typical scale (prior_s). The first finite value
 * sets c = x. A missing (NaN) x leaves the state alone, enters the window as 0 (the centre) and
 * the target, and an autoencoder's target window, as NaN (not scored, not learned). A finite x
 * beyond +-VG_K_X_MAX counts as that much: c and s then stay within 2 VG_K_X_MAX, so no sum or
 * quotient above can overflow. Without the bound, a host reporting +-3e38 grew its s by some 3 % a
 * tick until x - c overflowed; s became infinite, then NaN, and through the window so did the
 * group's weights (test_mv). */
#define VG_K_X_MAX 1e30f /* far beyond any counter: a u64 is at most 1.8e19 */

#ifndef __CUDACC__
/* A double as the models' float input, for every caller that fills their rows (vg_fleet_put,
 * vigilctl eval smd), so that both read a value alike: a finite double beyond a float's range
 * (1e39 .. 1e308) would become +-inf in the conversion (which C leaves undefined), which the
 * normaliser reads as missing, and the far outlier would be neither scored nor named. It counts
 * as +-VG_K_X_MAX, as the normaliser bounds any finite value; NaN and +-inf are missing (NaN). */
static inline float vg_k_x_of(double v)
{
    if (!isfinite(v))
        return NAN;
    return v > VG_K_X_MAX ? VG_K_X_MAX : v < -VG_K_X_MAX ? -VG_K_X_MAX : (float)v;
}
#endif
struct vg_k_norm {
    float alpha;
    float prior_weight;
    float floor_abs;
    float floor_rel;
    float z_clip; /* z in the window is clipped to +-z_clip; the target to +-1000 */
};

/* Per-metric residual scoring of the newest tick (vg_k_ops.score). For host i, metric j with a
 * finite target: a = |tgt - pred|, e = a / (r + floor), then r += a_r (min(a, clip r) - r) with
 * a_r = max(alpha, 1/(cnt+prior_weight)); the score is the mean of the top_k largest e, the top_k
 * indices (descending e, ties to the lower index) are the attribution. A host with no finite
 * target scores NaN with indices -1. */
struct vg_k_score {
    float alpha;
    float prior_weight;
    float floor;
    float clip;
    uint32_t top_k; /* 1..VG_K_TOPK_MAX */
};
#define VG_K_TOPK_MAX 8
#define VG_K_QUEUES   2

struct vg_k_ops {
    uint32_t abi; /* VG_K_ABI */
    const char *name;
    /* Opens the backend; fills desc (device name etc.) and returns 0, or a negative code and a
     * message saying why it cannot run here. -ENODEV means only that there is no device to run
     * on (no driver answering, none listed, or none this build can run on); a device that is
     * there but does not work (a failed self-test, no stream or cuBLAS handle) is -EIO, or
     * -ENOMEM for a self-test that found the device's memory full, so that the GPU tests fail on
     * it rather than skip it as a missing GPU (tests/vg_testgpu.h). */
    int (*open)(void **ctx, char *desc, size_t desclen, char *err, size_t errlen);
    void (*close)(void *ctx);

    /* Zeroed buffer, or NULL (out of memory; the backend stays usable). */
    void *(*alloc)(void *ctx, size_t bytes);
    void (*free)(void *ctx, void *p);
    /* Zeroed host memory that upload() and download() move fastest (page-locked for CUDA, so a
     * transfer is one DMA at the link's speed instead of a copy through a staging buffer), or
     * NULL. Freed with host_free(). */
    void *(*host_alloc)(void *ctx, size_t bytes);
    void (*host_free)(void *ctx, void *p);
    void (*zero)(void *ctx, void *p, size_t bytes);
    void (*copy)(void *ctx, void *dst, const void *src, size_t bytes); /* within the backend */
    int (*upload)(void *ctx, void *dst, const void *host_src, size_t bytes);
    /* Waits for the work queued before it; returns the first error since open, if any. */
    int (*download)(void *ctx, void *host_dst, const void *src, size_t bytes, char *err,
                    size_t errlen);
    int (*sync)(void *ctx, char *err, size_t errlen);
    /* Work queues, for a backend that can overlap a transfer with compute (CUDA: one stream
     * each); NULL on one that cannot (the CPU). Operations go to the current queue, 0 at open;
     * work on different queues may run at the same time, so it must touch disjoint data. sync()
     * and download() wait for every queue. */
    void (*queue)(void *ctx, int q); /* 0 .. VG_K_QUEUES-1 */
    /* Later work on the current queue waits for all work queued so far on queue q; the other
     * queues go on (a compute queue waiting for one upload, not for the next). */
    void (*wait)(void *ctx, int q);
    /* Recordings (CUDA graphs); NULL where the backend has none. Between record_begin() and
     * record_end() the operations queued are recorded, not run; replay() then queues the whole
     * recording in one call, where each operation would be a submission of its own (for a
     * small fleet, a step's dozen small kernels cost the host more time than the GPU takes to
     * run them). A recording keeps the buffers, sizes and arguments it was given: record again when
     * they change. Recording starts and ends on queue 0; another queue joins by wait()ing for
     * queue 0 and must be waited for by queue 0 before record_end(). record_begin returns 0 or
     * -EIO; record_end returns the recording, or NULL when it could not be made (nothing was
     * run; the backend stays usable); drop() frees one. */
    int (*record_begin)(void *ctx);
    void *(*record_end)(void *ctx);
    void (*replay)(void *ctx, void *rec);
    void (*drop)(void *ctx, void *rec);

    /* C = alpha op(A) op(B) + beta C, row-major, op(A) is m x k, op(B) k x n. */
    void (*gemm)(void *ctx, int trans_a, int trans_b, int m, int n, int k, float alpha,
                 const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
    /* Y[r][j] = act(Y[r][j] + bias[j]). */
    void (*bias_act)(void *ctx, float *y, int ldy, int rows, int cols, const float *bias,
                     enum vg_k_act act);
    /* D[r][j] *= act'(.) read off Y[r][j]. */
    void (*act_grad)(void *ctx, float *d, int ldd, const float *y, int ldy, int rows, int cols,
                     enum vg_k_act act);
    /* out[j] = alpha * sum_r X[r][j], summed in a fixed order (deterministic). */
    void (*colsum)(void *ctx, float *out, const float *x, int ldx, int rows, int cols, float alpha);
    /* Normalises a tick x (n x m, ld m, NaN = missing) with state c, s, cnt (n x m each),
     * writes the clipped z (NaN -> 0) into window rows at columns slot_a*m and slot_b*m of
     * win (ld ldw), the same with NaN kept into twin where it is not NULL (laid out as win: an
     * autoencoder's target, the window it must give back), and the target z (NaN kept) into tgt
     * (n x m). prior_s (m) seeds the scale of a host's metric on its first value. */
    void (*ingest)(void *ctx, const struct vg_k_norm *p, int n, int m, const float *x, float *c,
                   float *s, float *cnt, const float *prior_s, float *win, float *twin, int ldw,
                   int slot_a, int slot_b, float *tgt);
    /* Scores n hosts: pred (ld ldp) against tgt (n x m), updating r (n x m) seeded by prior_r;
     * cnt as left by ingest. Writes score[n], top_idx[n * top_k], top_err[n * top_k]. */
    void (*score)(void *ctx, const struct vg_k_score *p, int n, int m, const float *pred, int ldp,
                  const float *tgt, float *r, const float *cnt, const float *prior_r, float *score,
                  int32_t *top_idx, float *top_err);
    /* Huber loss of rows weighted by w[r] (0 or 1) against targets T (NaN = masked):
     * D[r][j] = scale * w[r] * huber'(P - T), loss[r] = w[r] * sum_j huber(P - T). */
    void (*huber)(void *ctx, int rows, int cols, const float *p, int ldp, const float *t, int ldt,
                  const float *w, float delta, float scale, float *d, int ldd, float *loss);
    /* One Adam step over n parameters; bc1 = 1 - b1^t, bc2 = 1 - b2^t. */
    void (*adam)(void *ctx, size_t n, float *param, const float *grad, float *m, float *v, float lr,
                 float b1, float b2, float eps, float bc1, float bc2);
};

/* An opened backend. */
struct vg_k {
    const struct vg_k_ops *ops;
    void *ctx;
    void *dl;       /* dlopen handle of libvigil-cuda.so, or NULL */
    char desc[128]; /* "cpu (OpenBLAS 0.3.21, Haswell kernels, 2 threads)", "cuda (NVIDIA H100 ...,
                       sm_90)" */
};

extern const struct vg_k_ops vg_k_cpu_ops;

/* Threads of the cpu backend's matrix products (process-wide, OpenBLAS); n <= 0 leaves
 * OpenBLAS's own choice. Call before vg_k_open(), whose description names the count. */
void vg_k_cpu_set_threads(int n);

/* OpenBLAS picks its kernels from the CPU's model number, and on a model it does not know (a
 * newer CPU, or a VM that hides the model) it falls back to kernels of an old core, without AVX2:
 * on an H200 host's Xeon its "Prescott" kernels ran SGEMM at 240 GFLOP/s against 1,600 with the
 * AVX-512 ones (docs/bench.md). Given OpenBLAS's core name and the CPU's AVX2+FMA / AVX-512
 * support, writes into coretype the OPENBLAS_CORETYPE value that selects kernels the CPU can run
 * and returns 1 when the core name is one of the pre-AVX2 ones; 0 (coretype "") otherwise.
 * The CPU backend logs it as a warning when vg_k_open() opens it. */
int vg_k_cpu_coretype_hint(const char *corename, int avx2_fma, int avx512, char *coretype,
                           size_t len);

/* Opens a backend: want = "cpu", "cuda" or "auto" (cuda where libvigil-cuda.so loads and a
 * device is usable, else cpu). With "auto" a CUDA failure is logged with its reason and the CPU
 * path is used; with "cuda" it is an error. Logs the backend chosen. The library is looked for in
 * $VIGIL_CUDA_LIB, next to the build (tests), then in the install's lib/vigil/. Close with
 * vg_k_close(). */
int vg_k_open(struct vg_k *k, const char *want, char *err, size_t errlen);
void vg_k_close(struct vg_k *k);

/* Whether vg_k_open(want) would succeed, for --check-config: with "cuda" it opens the CUDA backend
 * as vg_k_open does and closes it again, and fails with vg_k_open's message; "cpu" and "auto"
 * (which falls back to the CPU) pass. Logs nothing. */
int vg_k_check(const char *want, char *err, size_t errlen);

/* Whether the CUDA backend can run here; fills why when it cannot (tests print it in their
 * skip line). */
int vg_k_cuda_available(char *why, size_t whylen);

#endif
