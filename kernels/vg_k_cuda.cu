/* CUDA backend: cuBLAS for the matrix products, own kernels for the rest. Built as
 * libvigil-cuda.so and loaded by vg_k_open() with dlopen(), so nothing else links CUDA.
 *
 * Every operation is queued on one stream; the first failure is kept and reported by the next
 * download() or sync(). Running out of memory is not a failure of the backend: alloc() and
 * host_alloc() return NULL and every model on it goes on. Reductions use a fixed partition and a
 * fixed combining order, so a run is repeatable bit for bit on one device. The element-wise
 * formulas are those of the CPU path (vg_k_math.h); this file is compiled with --fmad=false so they
 * round the same way.
 */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "vg_k.h"
#include "vg_k_cuda_why.h"
}
#include "vg_k_math.h"

namespace
{

/* One stream per queue, each with its own cuBLAS handle (a handle's workspace must not serve two
 * streams at once); stream and blas are the current queue's. */
struct cuda_ctx {
    int dev;
    cudaStream_t streams[VG_K_QUEUES];
    cublasHandle_t blases[VG_K_QUEUES];
    cudaEvent_t done[VG_K_QUEUES];
    cudaStream_t stream;
    cublasHandle_t blas;
    int failed;
    int recording_failed; /* failed as it was when a recording began */
    char msg[256];
};

void note(cuda_ctx *c, const char *what, const char *why)
{
    if (c->failed)
        return;
    c->failed = 1;
    snprintf(c->msg, sizeof(c->msg), "%s: %s", what, why);
}

/* The runtime also keeps a failed call's error as its "last error", which the next launch check
 * (launched) reads: taken here, so that an error is the call's own, reported once. */
bool ok(cuda_ctx *c, cudaError_t rc, const char *what)
{
    if (rc == cudaSuccess)
        return true;
    (void)cudaGetLastError();
    note(c, what, cudaGetErrorString(rc));
    return false;
}

/* Out of memory is the caller's to handle (it gets NULL; a full GPU is not a broken one), so it
 * does not fail the backend that every model on it shares; any other error does. */
bool alloc_ok(cuda_ctx *c, cudaError_t rc, const char *what)
{
    if (rc == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        return false;
    }
    return ok(c, rc, what);
}

bool blas_ok(cuda_ctx *c, cublasStatus_t rc, const char *what)
{
    if (rc == CUBLAS_STATUS_SUCCESS)
        return true;
    note(c, what, cublasGetStatusString(rc));
    return false;
}

/* Right after a launch: every earlier failure was taken when it happened (ok, alloc_ok,
 * record_begin), so what is left is this launch's own error. */
void launched(cuda_ctx *c, const char *what)
{
    ok(c, cudaGetLastError(), what);
}

constexpr int THREADS = 256;

unsigned blocks_for(size_t n)
{
    size_t b = (n + THREADS - 1) / THREADS;
    return (unsigned)(b < 65535 * 8 ? (b ? b : 1) : 65535 * 8);
}

/* ---- kernels ---- */

__global__ void k_bias_act(float *y, int ldy, int rows, int cols, const float *bias, int leaky)
{
    size_t n = (size_t)rows * cols;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        int r = (int)(i / cols), j = (int)(i % cols);
        float v = y[(size_t)r * ldy + j] + bias[j];
        y[(size_t)r * ldy + j] = leaky ? vg_k_leaky(v) : v;
    }
}

__global__ void k_act_grad(float *d, int ldd, const float *y, int ldy, int rows, int cols)
{
    size_t n = (size_t)rows * cols;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        int r = (int)(i / cols), j = (int)(i % cols);
        d[(size_t)r * ldd + j] *= vg_k_leaky_grad(y[(size_t)r * ldy + j]);
    }
}

/* 32 columns per block, 8 row lanes each summing a fixed stride of rows, then combined in lane
 * order: the same partition every run, hence the same sum. */
__global__ void k_colsum(float *out, const float *x, int ldx, int rows, int cols, float alpha)
{
    __shared__ float part[8][33];
    int j = blockIdx.x * 32 + threadIdx.x, ty = threadIdx.y;
    float acc = 0.0f;
    if (j < cols)
        for (int r = ty; r < rows; r += 8)
            acc += x[(size_t)r * ldx + j];
    part[ty][threadIdx.x] = acc;
    __syncthreads();
    if (ty == 0 && j < cols) {
        float s = 0.0f;
        for (int q = 0; q < 8; q++)
            s += part[q][threadIdx.x];
        out[j] = alpha * s;
    }
}

__global__ void k_ingest(vg_k_norm p, int n, int m, const float *x, float *c, float *s, float *cnt,
                         const float *prior_s, float *win, float *twin, int ldw, int slot_a,
                         int slot_b, float *tgt)
{
    size_t total = (size_t)n * m;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        int h = (int)(i / m), j = (int)(i % m);
        float zw, zt;
        vg_k_norm_one(&p, x[i], &c[i], &s[i], &cnt[i], prior_s[j], &zw, &zt);
        float *row = win + (size_t)h * ldw;
        row[(size_t)slot_a * m + j] = zw;
        row[(size_t)slot_b * m + j] = zw;
        tgt[i] = zt;
        if (twin) {
            float *trow = twin + (size_t)h * ldw;
            trow[(size_t)slot_a * m + j] = trow[(size_t)slot_b * m + j] = vg_k_masked(zw, zt);
        }
    }
}

/* Whether (va, ia) ranks before (vb, ib): larger value first, then lower index. */
__device__ bool before(float va, int ia, float vb, int ib)
{
    return va > vb || (va == vb && ia < ib);
}

/* One warp per host: each lane scores a strided share of the metrics and keeps its own top k;
 * then k rounds of a warp-wide arg-max pick the host's top k in the CPU path's order. */
__global__ void k_score(vg_k_score p, int n, int m, const float *pred, int ldp, const float *tgt,
                        float *r, const float *cnt, const float *prior_r, float *score,
                        int32_t *top_idx, float *top_err)
{
    int warp = (int)((blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32);
    int lane = threadIdx.x & 31;
    if (warp >= n)
        return;
    int k = (int)p.top_k;
    size_t o = (size_t)warp * m;
    vg_k_topk t;
    vg_k_topk_init(&t, k);
    for (int j = lane; j < m; j += 32) {
        float e = vg_k_resid_one(&p, tgt[o + j], pred[(size_t)warp * ldp + j], &r[o + j],
                                 cnt[o + j], prior_r[j]);
        if (e >= 0.0f)
            vg_k_topk_push(&t, e, j);
    }
    int head = 0, found = 0;
    float sum = 0.0f;
    for (int q = 0; q < k; q++) {
        float v = head < t.n ? t.val[head] : -1.0f;
        int id = head < t.n ? t.idx[head] : 0x7fffffff;
        for (int off = 16; off > 0; off >>= 1) {
            float ov = __shfl_xor_sync(0xffffffffu, v, off);
            int oi = __shfl_xor_sync(0xffffffffu, id, off);
            if (before(ov, oi, v, id)) {
                v = ov;
                id = oi;
            }
        }
        if (v < 0.0f) {
            if (lane == 0) {
                top_idx[(size_t)warp * k + q] = -1;
                top_err[(size_t)warp * k + q] = 0.0f;
            }
            continue;
        }
        if (head < t.n && t.idx[head] == id)
            head++;
        sum += v;
        found++;
        if (lane == 0) {
            top_idx[(size_t)warp * k + q] = id;
            top_err[(size_t)warp * k + q] = v;
        }
    }
    if (lane == 0)
        score[warp] = found ? sum / (float)found : NAN;
}

/* One warp per row; the row's loss is combined by a fixed butterfly. */
__global__ void k_huber(int rows, int cols, const float *pp, int ldp, const float *t, int ldt,
                        const float *w, float delta, float scale, float *d, int ldd, float *loss)
{
    int row = (int)((blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32);
    int lane = threadIdx.x & 31;
    if (row >= rows)
        return;
    float acc = 0.0f, wr = w[row];
    for (int j = lane; j < cols; j += 32) {
        float l, g;
        vg_k_huber_one(pp[(size_t)row * ldp + j], t[(size_t)row * ldt + j], wr, delta, &l, &g);
        d[(size_t)row * ldd + j] = scale * g;
        acc += l;
    }
    for (int off = 16; off > 0; off >>= 1)
        acc += __shfl_xor_sync(0xffffffffu, acc, off);
    if (lane == 0)
        loss[row] = acc;
}

__global__ void k_adam(size_t n, float *param, const float *grad, float *m, float *v, float lr,
                       float b1, float b2, float eps, float bc1, float bc2)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        vg_k_adam_one(&param[i], grad[i], &m[i], &v[i], lr, b1, b2, eps, bc1, bc2);
}

/* ---- operations ---- */

/* Waits for every queue; the first failure is kept. */
void wait_all(cuda_ctx *c)
{
    for (int q = 0; q < VG_K_QUEUES; q++)
        if (c->streams[q])
            ok(c, cudaStreamSynchronize(c->streams[q]), "stream");
}

void cu_close(void *ctx)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (!c)
        return;
    wait_all(c);
    for (int q = 0; q < VG_K_QUEUES; q++) {
        if (c->blases[q])
            cublasDestroy(c->blases[q]);
        if (c->done[q])
            cudaEventDestroy(c->done[q]);
        if (c->streams[q])
            cudaStreamDestroy(c->streams[q]);
    }
    free(c);
}

int self_test(cuda_ctx *c, char *err, size_t errlen);

int cu_open(void **out, char *desc, size_t desclen, char *err, size_t errlen)
{
    int n = 0;
    cudaError_t rc = cudaGetDeviceCount(&n);
    if (rc != cudaSuccess) {
        /* Without NVIDIA's driver the runtime calls it too old: say what is missing instead. */
        enum vg_k_cuda_fail fail = rc == cudaErrorInsufficientDriver ? VG_K_CUDA_FAIL_DRIVER
                                   : rc == cudaErrorNoDevice         ? VG_K_CUDA_FAIL_NO_DEVICE
                                                                     : VG_K_CUDA_FAIL_OTHER;
        struct vg_k_cuda_host host = {1, 1};
        if (fail != VG_K_CUDA_FAIL_OTHER)
            vg_k_cuda_host_probe(&host);
        vg_k_cuda_why(err, errlen, fail, cudaGetErrorString(rc), &host);
        return -ENODEV;
    }
    if (n < 1) {
        snprintf(err, errlen, "no CUDA device");
        return -ENODEV;
    }
    int dev = 0;
    const char *env = getenv("VIGIL_CUDA_DEVICE");
    if (env && *env)
        dev = atoi(env);
    if (dev < 0 || dev >= n) {
        snprintf(err, errlen, "VIGIL_CUDA_DEVICE=%d, but %d device(s)", dev, n);
        return -EINVAL;
    }
    cudaDeviceProp prop;
    if ((rc = cudaSetDevice(dev)) != cudaSuccess ||
        (rc = cudaGetDeviceProperties(&prop, dev)) != cudaSuccess) {
        snprintf(err, errlen, "device %d: %s", dev, cudaGetErrorString(rc));
        return -ENODEV;
    }
    if (prop.major < 9) {
        /* The library carries sm_90 code and compute_90 PTX only. */
        snprintf(err, errlen, "%s is sm_%d%d; this build needs sm_90 or newer", prop.name,
                 prop.major, prop.minor);
        return -ENODEV;
    }
    cuda_ctx *c = (cuda_ctx *)calloc(1, sizeof(cuda_ctx));
    if (!c)
        return -ENOMEM;
    c->dev = dev;
    for (int q = 0; q < VG_K_QUEUES; q++) {
        if ((rc = cudaStreamCreateWithFlags(&c->streams[q], cudaStreamNonBlocking)) !=
                cudaSuccess ||
            (rc = cudaEventCreateWithFlags(&c->done[q], cudaEventDisableTiming)) != cudaSuccess) {
            snprintf(err, errlen, "stream: %s", cudaGetErrorString(rc));
            cu_close(c);
            return -EIO;
        }
        cublasStatus_t bs = cublasCreate(&c->blases[q]);
        if (bs == CUBLAS_STATUS_SUCCESS)
            bs = cublasSetStream(c->blases[q], c->streams[q]);
        /* Plain fp32: no TF32 tensor-core shortcuts, so the products match the CPU path to fp32
         * rounding. */
        if (bs == CUBLAS_STATUS_SUCCESS)
            bs = cublasSetMathMode(c->blases[q], CUBLAS_DEFAULT_MATH);
        if (bs != CUBLAS_STATUS_SUCCESS) {
            snprintf(err, errlen, "cuBLAS: %s", cublasGetStatusString(bs));
            cu_close(c);
            return -EIO;
        }
    }
    c->stream = c->streams[0];
    c->blas = c->blases[0];
    /* From here on the device is there: a failure is a broken GPU (-EIO, or -ENOMEM), which the
     * GPU tests must fail on, not a missing one (-ENODEV, which they skip). */
    int trc = self_test(c, err, errlen);
    if (trc < 0) {
        cu_close(c);
        return trc;
    }
    snprintf(desc, desclen, "cuda (%s, sm_%d%d, %.0f GiB, device %d)", prop.name, prop.major,
             prop.minor, (double)prop.totalGlobalMem / (1024.0 * 1024 * 1024), dev);
    *out = c;
    return 0;
}

void *cu_alloc(void *ctx, size_t bytes)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    void *p = NULL;
    if (!alloc_ok(c, cudaMalloc(&p, bytes ? bytes : 4), "cudaMalloc"))
        return NULL;
    if (!ok(c, cudaMemsetAsync(p, 0, bytes, c->stream), "cudaMemsetAsync")) {
        cudaFree(p);
        return NULL;
    }
    return p;
}

void cu_free(void *ctx, void *p)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    /* Queued work may still read p: wait for it first. */
    wait_all(c);
    ok(c, cudaFree(p), "cudaFree");
}

void *cu_host_alloc(void *ctx, size_t bytes)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    void *p = NULL;
    if (!alloc_ok(c, cudaHostAlloc(&p, bytes ? bytes : 4, cudaHostAllocDefault), "cudaHostAlloc"))
        return NULL;
    memset(p, 0, bytes);
    return p;
}

void cu_host_free(void *ctx, void *p)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (!p)
        return;
    /* A queued transfer may still read or write p. */
    wait_all(c);
    ok(c, cudaFreeHost(p), "cudaFreeHost");
}

void cu_zero(void *ctx, void *p, size_t bytes)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    ok(c, cudaMemsetAsync(p, 0, bytes, c->stream), "cudaMemsetAsync");
}

void cu_copy(void *ctx, void *dst, const void *src, size_t bytes)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    ok(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, c->stream), "copy");
}

int cu_upload(void *ctx, void *dst, const void *src, size_t bytes)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    /* From pageable memory the source is staged before the call returns, so the caller may
     * reuse it at once. */
    return ok(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream), "upload")
               ? 0
               : -EIO;
}

int cu_sync(void *ctx, char *err, size_t errlen)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    wait_all(c);
    if (c->failed) {
        snprintf(err, errlen, "%s", c->msg);
        return -EIO;
    }
    return 0;
}

int cu_download(void *ctx, void *dst, const void *src, size_t bytes, char *err, size_t errlen)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    ok(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream), "download");
    return cu_sync(ctx, err, errlen);
}

void cu_queue(void *ctx, int q)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (q < 0 || q >= VG_K_QUEUES) {
        note(c, "queue", "no such queue");
        return;
    }
    c->stream = c->streams[q];
    c->blas = c->blases[q];
}

void cu_wait(void *ctx, int q)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (q < 0 || q >= VG_K_QUEUES) {
        note(c, "wait", "no such queue");
        return;
    }
    /* An event records the queue's work so far; re-recording it later does not move a wait
     * already queued. */
    ok(c, cudaEventRecord(c->done[q], c->streams[q]), "wait");
    ok(c, cudaStreamWaitEvent(c->stream, c->done[q], 0), "wait");
}

int cu_record_begin(void *ctx)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    c->stream = c->streams[0];
    c->blas = c->blases[0];
    c->recording_failed = c->failed;
    /* Relaxed: cuBLAS may set itself up on its first call inside a recording. A refusal is the
     * caller's to handle (it steps unrecorded), not the backend's failure. */
    if (cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeRelaxed) != cudaSuccess) {
        (void)cudaGetLastError();
        return -EIO;
    }
    return 0;
}

void *cu_record_end(void *ctx)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    cudaGraph_t g = NULL;
    cudaGraphExec_t e = NULL;
    cudaError_t rc = cudaStreamEndCapture(c->streams[0], &g);
    if (rc == cudaSuccess && g)
        rc = cudaGraphInstantiate(&e, g, 0);
    if (g)
        cudaGraphDestroy(g);
    if (rc != cudaSuccess || !e || c->failed > c->recording_failed) {
        /* Nothing ran: what failed while recording is not the backend's failure, and the
         * caller runs the step unrecorded. */
        if (e)
            cudaGraphExecDestroy(e);
        (void)cudaGetLastError();
        c->failed = c->recording_failed;
        if (!c->failed)
            c->msg[0] = 0;
        return NULL;
    }
    return (void *)e;
}

void cu_replay(void *ctx, void *rec)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    ok(c, cudaGraphLaunch((cudaGraphExec_t)rec, c->stream), "replay");
}

void cu_drop(void *ctx, void *rec)
{
    (void)ctx;
    if (rec)
        cudaGraphExecDestroy((cudaGraphExec_t)rec);
}

void cu_gemm(void *ctx, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
             const float *b, int ldb, float beta, float *cm, int ldc)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (m == 0 || n == 0)
        return;
    /* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands. */
    blas_ok(c,
            cublasSgemm(c->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, n,
                        m, k, &alpha, b, ldb, a, lda, &beta, cm, ldc),
            "cublasSgemm");
}

void cu_bias_act(void *ctx, float *y, int ldy, int rows, int cols, const float *bias,
                 enum vg_k_act act)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (rows == 0 || cols == 0)
        return;
    k_bias_act<<<blocks_for((size_t)rows * cols), THREADS, 0, c->stream>>>(y, ldy, rows, cols, bias,
                                                                           act == VG_K_ACT_LEAKY);
    launched(c, "bias_act");
}

/* A device can be listed and still not run this library's work (no kernel image for it, a cuBLAS
 * the driver cannot load, a GPU in a bad state or with its memory taken): one allocation, cuBLAS
 * product and own kernel on a few floats, their result checked, so that "auto" picks the CPU at
 * start instead of failing at the first step. */
int self_test(cuda_ctx *c, char *err, size_t errlen)
{
    /* A A + (1, 2) per row, A = [1 2; 3 4]: small integers, exact in fp32. */
    const float a[4] = {1, 2, 3, 4}, want[4] = {8, 12, 16, 24};
    float got[4] = {0};
    float *d = (float *)cu_alloc(c, 8 * sizeof(float));
    if (!d) {
        snprintf(err, errlen, "self-test: %s", c->failed ? c->msg : "cudaMalloc: out of memory");
        return c->failed ? -EIO : -ENOMEM;
    }
    char why[256];
    cu_upload(c, d, a, sizeof(a));
    cu_gemm(c, 0, 0, 2, 2, 2, 1.0f, d, 2, d, 2, 0.0f, d + 4, 2);
    cu_bias_act(c, d + 4, 2, 2, 2, d, VG_K_ACT_LEAKY);
    cu_download(c, got, d + 4, sizeof(got), why, sizeof(why));
    cu_free(c, d);
    if (cu_sync(c, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "self-test: %s", why);
        return -EIO;
    }
    if (memcmp(got, want, sizeof(got)) != 0) {
        snprintf(err, errlen, "self-test: a 2x2 product came back as %g %g %g %g, not 8 12 16 24",
                 got[0], got[1], got[2], got[3]);
        return -EIO;
    }
    return 0;
}

void cu_act_grad(void *ctx, float *d, int ldd, const float *y, int ldy, int rows, int cols,
                 enum vg_k_act act)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (act != VG_K_ACT_LEAKY || rows == 0 || cols == 0)
        return;
    k_act_grad<<<blocks_for((size_t)rows * cols), THREADS, 0, c->stream>>>(d, ldd, y, ldy, rows,
                                                                           cols);
    launched(c, "act_grad");
}

void cu_colsum(void *ctx, float *out, const float *x, int ldx, int rows, int cols, float alpha)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (cols == 0)
        return;
    dim3 block(32, 8);
    k_colsum<<<(unsigned)((cols + 31) / 32), block, 0, c->stream>>>(out, x, ldx, rows, cols, alpha);
    launched(c, "colsum");
}

void cu_ingest(void *ctx, const struct vg_k_norm *p, int n, int m, const float *x, float *cc,
               float *s, float *cnt, const float *prior_s, float *win, float *twin, int ldw,
               int slot_a, int slot_b, float *tgt)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (n == 0 || m == 0)
        return;
    k_ingest<<<blocks_for((size_t)n * m), THREADS, 0, c->stream>>>(
        *p, n, m, x, cc, s, cnt, prior_s, win, twin, ldw, slot_a, slot_b, tgt);
    launched(c, "ingest");
}

void cu_score(void *ctx, const struct vg_k_score *p, int n, int m, const float *pred, int ldp,
              const float *tgt, float *r, const float *cnt, const float *prior_r, float *score,
              int32_t *top_idx, float *top_err)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (n == 0)
        return;
    unsigned blocks = (unsigned)(((size_t)n * 32 + THREADS - 1) / THREADS);
    k_score<<<blocks, THREADS, 0, c->stream>>>(*p, n, m, pred, ldp, tgt, r, cnt, prior_r, score,
                                               top_idx, top_err);
    launched(c, "score");
}

void cu_huber(void *ctx, int rows, int cols, const float *pp, int ldp, const float *t, int ldt,
              const float *w, float delta, float scale, float *d, int ldd, float *loss)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (rows == 0)
        return;
    unsigned blocks = (unsigned)(((size_t)rows * 32 + THREADS - 1) / THREADS);
    k_huber<<<blocks, THREADS, 0, c->stream>>>(rows, cols, pp, ldp, t, ldt, w, delta, scale, d, ldd,
                                               loss);
    launched(c, "huber");
}

void cu_adam(void *ctx, size_t n, float *param, const float *grad, float *m, float *v, float lr,
             float b1, float b2, float eps, float bc1, float bc2)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (n == 0)
        return;
    k_adam<<<blocks_for(n), THREADS, 0, c->stream>>>(n, param, grad, m, v, lr, b1, b2, eps, bc1,
                                                     bc2);
    launched(c, "adam");
}

vg_k_ops make_ops()
{
    vg_k_ops o;
    memset(&o, 0, sizeof(o));
    o.abi = VG_K_ABI;
    o.name = "cuda";
    o.open = cu_open;
    o.close = cu_close;
    o.alloc = cu_alloc;
    o.free = cu_free;
    o.host_alloc = cu_host_alloc;
    o.host_free = cu_host_free;
    o.zero = cu_zero;
    o.copy = cu_copy;
    o.upload = cu_upload;
    o.download = cu_download;
    o.sync = cu_sync;
    o.queue = cu_queue;
    o.wait = cu_wait;
    o.record_begin = cu_record_begin;
    o.record_end = cu_record_end;
    o.replay = cu_replay;
    o.drop = cu_drop;
    o.gemm = cu_gemm;
    o.bias_act = cu_bias_act;
    o.act_grad = cu_act_grad;
    o.colsum = cu_colsum;
    o.ingest = cu_ingest;
    o.score = cu_score;
    o.huber = cu_huber;
    o.adam = cu_adam;
    return o;
}

const vg_k_ops cuda_ops = make_ops();

} // namespace

extern "C" __attribute__((visibility("default"))) const struct vg_k_ops *vg_k_cuda_entry(void)
{
    return &cuda_ops;
}
