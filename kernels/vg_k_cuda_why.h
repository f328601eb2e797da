/* Why the CUDA backend found no GPU, in words that send an operator the right way.
 *
 * On a host without NVIDIA's driver (no libcuda.so.1), the CUDA runtime linked into
 * libvigil-cuda.so answers cudaGetDeviceCount with cudaErrorInsufficientDriver, "CUDA driver
 * version is insufficient for CUDA runtime version": an SRE of a CPU-only host went to upgrade a
 * driver that is not there. So on that error, and on cudaErrorNoDevice, the host is looked at
 * (vg_k_cuda_host_probe) and the reason says what is missing (vg_k_cuda_why); the runtime's text
 * stays where the driver is there and really too old, or a device really is missing.
 *
 * Header-only, C and C++: kernels/vg_k_cuda.cu (nvcc) uses it, and tests/test_kernels.c tests it
 * on the CPU, with no CUDA headers or driver needed.
 */
#ifndef VG_K_CUDA_WHY_H
#define VG_K_CUDA_WHY_H

#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

/* cudaGetDeviceCount's failure, as far as the reason goes. */
enum vg_k_cuda_fail {
    VG_K_CUDA_FAIL_OTHER,
    VG_K_CUDA_FAIL_DRIVER,    /* cudaErrorInsufficientDriver */
    VG_K_CUDA_FAIL_NO_DEVICE, /* cudaErrorNoDevice */
};

/* What the host has of NVIDIA's driver. */
struct vg_k_cuda_host {
    int libcuda;   /* the driver's library, libcuda.so.1, loads */
    int nvidiactl; /* its control device node, /dev/nvidiactl, exists */
};

#define VG_K_CUDA_DRIVER_LIB "libcuda.so.1"
#define VG_K_CUDA_CTL_NODE   "/dev/nvidiactl"

/* Fills h from this host. libcuda.so.1 is taken as there when already loaded (the runtime
 * loaded it) or when it loads now; it is unloaded again. */
static inline void vg_k_cuda_host_probe(struct vg_k_cuda_host *h)
{
    void *dl = dlopen(VG_K_CUDA_DRIVER_LIB, RTLD_NOW | RTLD_NOLOAD);
    if (!dl)
        dl = dlopen(VG_K_CUDA_DRIVER_LIB, RTLD_LAZY | RTLD_LOCAL);
    h->libcuda = dl != NULL;
    if (dl)
        dlclose(dl);
    h->nvidiactl = access(VG_K_CUDA_CTL_NODE, F_OK) == 0;
}

/* Writes to out (len bytes) why cudaGetDeviceCount failed: fail, the runtime's text for it
 * (cuda_text) and, for VG_K_CUDA_FAIL_DRIVER and _NO_DEVICE, what h says of the host. */
static inline void vg_k_cuda_why(char *out, size_t len, enum vg_k_cuda_fail fail,
                                 const char *cuda_text, const struct vg_k_cuda_host *h)
{
    if (fail != VG_K_CUDA_FAIL_OTHER && !h->libcuda && !h->nvidiactl)
        snprintf(out, len, "no NVIDIA driver on this host (" VG_K_CUDA_DRIVER_LIB " not found)");
    else if (fail != VG_K_CUDA_FAIL_OTHER && !h->libcuda)
        snprintf(out, len,
                 "the NVIDIA driver's " VG_K_CUDA_DRIVER_LIB
                 " not found, though " VG_K_CUDA_CTL_NODE
                 " is there: is the driver's library installed and in the dynamic linker's path?");
    else if (fail != VG_K_CUDA_FAIL_OTHER && !h->nvidiactl)
        /* The packaged unit's PrivateDevices=yes hides the nodes of a host that has them. */
        snprintf(out, len,
                 "no NVIDIA device (" VG_K_CUDA_CTL_NODE " missing; under systemd, "
                 "PrivateDevices=yes hides it: docs/install.md, GPU)");
    else
        snprintf(out, len, "cudaGetDeviceCount: %s", cuda_text ? cuda_text : "unknown error");
}

#endif
