/* A stand-in for libvigil-cuda.so whose open fails as the real one's does when the device is
 * listed but its self-test fails, for the tests that need a broken GPU on a machine without one
 * (tests/kernels.cmake). Its open returns -EIO, as kernels/vg_k_cuda.cu does now, or with
 * VG_STUB_ENODEV -ENODEV, as it did before, which the GPU tests took for a missing GPU. */
#include <errno.h>
#include <stdio.h>

#include "vg_k.h"

#ifdef VG_STUB_ENODEV
#define VG_STUB_RC (-ENODEV)
#else
#define VG_STUB_RC (-EIO)
#endif

static int stub_open(void **ctx, char *desc, size_t desclen, char *err, size_t errlen)
{
    *ctx = NULL;
    snprintf(err, errlen, "self-test: a 2x2 product came back as 8 17 11 24, not 8 12 16 24");
    return VG_STUB_RC;
}

static const struct vg_k_ops stub_ops = {.abi = VG_K_ABI, .name = "cuda", .open = stub_open};

__attribute__((visibility("default"))) const struct vg_k_ops *vg_k_cuda_entry(void)
{
    return &stub_ops;
}
