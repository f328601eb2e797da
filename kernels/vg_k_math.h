/* The element-wise formulas of the backends, written once and compiled both by the C compiler
 * (vg_k_cpu.c) and by nvcc (vg_k_cuda.cu, as __host__ __device__), so both paths compute the same
 * function; only summation orders inside the matrix products differ. See vg_k.h for the maths.
 */
#ifndef VG_K_MATH_H
#define VG_K_MATH_H

#include <math.h>
#include <stdint.h>

#include "vg_k.h"

/* No fused multiply-adds: the CUDA library is built with --fmad=false, and the CPU must round as
 * it does (bit-identical element-wise results, tests/test_kernels.c). The build passes
 * -ffp-contract=off to every C file (CMakeLists.txt); this keeps it so for a file built without
 * it by clang, which contracts by default. GCC does not contract in strict C17 and warns on the
 * pragma (-Wunknown-pragmas), so it is clang's only. */
#if defined(__clang__) && !defined(__CUDACC__)
#pragma STDC FP_CONTRACT OFF
#endif

#ifdef __CUDACC__
#define VG_K_FN static __host__ __device__ __forceinline__
#else
#define VG_K_FN static inline
#endif

VG_K_FN float vg_k_clamp(float x, float lo, float hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* NaN and infinities both fail; no isfinite() so the same text builds everywhere. */
VG_K_FN int vg_k_finite(float x)
{
    return x - x == 0.0f;
}

VG_K_FN float vg_k_leaky(float x)
{
    return x > 0.0f ? x : VG_K_LEAKY_SLOPE * x;
}

/* Leaky ReLU keeps the sign of its input, so the derivative is known from the output alone and
 * the pre-activations need not be kept for the backward pass. */
VG_K_FN float vg_k_leaky_grad(float y)
{
    return y > 0.0f ? 1.0f : VG_K_LEAKY_SLOPE;
}

VG_K_FN void vg_k_norm_one(const struct vg_k_norm *p, float x, float *c, float *s, float *cnt,
                           float prior_s, float *zw, float *zt)
{
    if (!vg_k_finite(x)) {
        *zw = 0.0f;
        *zt = NAN;
        return;
    }
    x = vg_k_clamp(x, -VG_K_X_MAX, VG_K_X_MAX);
    float n = *cnt;
    if (n == 0.0f) {
        *c = x;
        *s = prior_s;
        *cnt = 1.0f;
        *zw = 0.0f;
        *zt = 0.0f;
        return;
    }
    float cc = *c, ss = *s;
    float sc = ss + p->floor_abs + p->floor_rel * fabsf(cc);
    float z = (x - cc) / sc;
    float ac = fmaxf(p->alpha, 1.0f / (n + 1.0f));
    float as = fmaxf(p->alpha, 1.0f / (n + p->prior_weight));
    *c = cc + ac * sc * vg_k_clamp(z, -2.0f, 2.0f);
    *s = ss + as * (fminf(fabsf(x - cc), 4.0f * sc) - ss);
    /* Past 2^24 the count stops growing, which only pins the rates at alpha. */
    *cnt = n + 1.0f;
    *zw = vg_k_clamp(z, -p->z_clip, p->z_clip);
    *zt = vg_k_clamp(z, -1000.0f, 1000.0f);
}

/* A window value as an autoencoder's target: NaN (not learned) where the value was missing, which
 * vg_k_norm_one marks by a NaN zt; the window itself holds 0 there, the input the model sees. */
VG_K_FN float vg_k_masked(float zw, float zt)
{
    return vg_k_finite(zt) ? zw : NAN;
}

/* Standardised residual of one metric, or -1 when the target is missing. */
VG_K_FN float vg_k_resid_one(const struct vg_k_score *p, float t, float pred, float *r, float cnt,
                             float prior_r)
{
    if (!vg_k_finite(t))
        return -1.0f;
    float rr = cnt <= 1.0f ? prior_r : *r;
    float a = fabsf(t - pred);
    float e = a / (rr + p->floor);
    float ar = fmaxf(p->alpha, 1.0f / (cnt + p->prior_weight));
    *r = rr + ar * (fminf(a, p->clip * (rr + p->floor)) - rr);
    return e;
}

/* The k largest of a stream of (value, index) pushed in increasing index order, ordered by value
 * descending and, among equal values, index ascending. */
struct vg_k_topk {
    int k, n;
    float val[VG_K_TOPK_MAX];
    int32_t idx[VG_K_TOPK_MAX];
};

VG_K_FN void vg_k_topk_init(struct vg_k_topk *t, int k)
{
    t->k = k;
    t->n = 0;
}

VG_K_FN void vg_k_topk_push(struct vg_k_topk *t, float v, int32_t i)
{
    if (t->n == t->k && !(v > t->val[t->n - 1]))
        return;
    int pos = t->n < t->k ? t->n++ : t->k - 1;
    while (pos > 0 && v > t->val[pos - 1]) {
        t->val[pos] = t->val[pos - 1];
        t->idx[pos] = t->idx[pos - 1];
        pos--;
    }
    t->val[pos] = v;
    t->idx[pos] = i;
}

/* Writes k entries (missing ones as -1 / 0) and returns the mean of those present, summed in
 * descending order, or NaN when there are none. */
VG_K_FN float vg_k_topk_finish(const struct vg_k_topk *t, int32_t *idx, float *err)
{
    float sum = 0.0f;
    for (int q = 0; q < t->k; q++) {
        idx[q] = q < t->n ? t->idx[q] : -1;
        err[q] = q < t->n ? t->val[q] : 0.0f;
        if (q < t->n)
            sum += t->val[q];
    }
    return t->n ? sum / (float)t->n : NAN;
}

/* Huber loss and its derivative for prediction p and target t; a zero row weight or a missing
 * target contributes nothing. */
VG_K_FN void vg_k_huber_one(float p, float t, float w, float delta, float *l, float *g)
{
    if (w == 0.0f || !vg_k_finite(t)) {
        *l = 0.0f;
        *g = 0.0f;
        return;
    }
    float e = p - t, a = fabsf(e);
    if (a <= delta) {
        *l = w * 0.5f * e * e;
        *g = w * e;
    } else {
        *l = w * delta * (a - 0.5f * delta);
        *g = w * (e > 0.0f ? delta : -delta);
    }
}

VG_K_FN void vg_k_adam_one(float *p, float g, float *m, float *v, float lr, float b1, float b2,
                           float eps, float bc1, float bc2)
{
    float mm = b1 * *m + (1.0f - b1) * g;
    float vv = b2 * *v + (1.0f - b2) * g * g;
    *m = mm;
    *v = vv;
    *p -= lr * (mm / bc1) / (sqrtf(vv / bc2) + eps);
}

#endif
