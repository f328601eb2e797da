/* Compiled to assembly, not run (tests/kernels.cmake): the element-wise formulas of
 * kernels/vg_k_math.h, which must round on the CPU as on the GPU (nvcc --fmad=false), with
 * nothing but the header to keep a compiler that contracts by default (clang) from fusing
 * multiply-adds. */
#include "vg_k_math.h"

void probe_adam(float *p, float g, float *m, float *v, float lr, float b1, float b2, float eps,
                float c1, float c2);
void probe_norm(const struct vg_k_norm *q, float x, float *c, float *s, float *cnt, float prior_s,
                float *zw, float *zt);

void probe_adam(float *p, float g, float *m, float *v, float lr, float b1, float b2, float eps,
                float c1, float c2)
{
    vg_k_adam_one(p, g, m, v, lr, b1, b2, eps, c1, c2);
}

void probe_norm(const struct vg_k_norm *q, float x, float *c, float *s, float *cnt, float prior_s,
                float *zw, float *zt)
{
    vg_k_norm_one(q, x, c, s, cnt, prior_s, zw, zt);
}
