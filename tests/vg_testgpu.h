/* The GPU comparisons of a test program (CUDA against the CPU path) run as a ctest entry of their
 * own, the same program with --gpu (vg_add_gpu_test in tests/CMakeLists.txt), so that a machine
 * without a usable GPU reports them as skipped rather than passed, and the program's CPU tests
 * still run (without --gpu) everywhere.
 *
 * Without a usable GPU the --gpu run prints "SKIP: <what>: no usable GPU (<reason>)" and exits
 * 77, which ctest counts as skipped (SKIP_RETURN_CODE), not failed. Only a missing GPU is
 * skipped: no CUDA backend built or installed, no driver (the backend's CUDA libraries do not
 * load), or no device (or none this build can run on). A backend that is there but broken (no
 * entry point, another ABI, not a library, a failed self-test, a wrong VIGIL_CUDA_DEVICE), or
 * any failure of the library VIGIL_CUDA_LIB names, fails. VIGIL_REQUIRE_GPU=1 (for runners that
 * have a GPU; scripts/test.sh sets it where nvidia-smi lists one) makes a missing GPU a failure
 * too. */
#ifndef VG_TESTGPU_H
#define VG_TESTGPU_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_k.h"
#include "vg_util.h"

#define VG_TEST_SKIPPED 77

static inline int vg_test_gpu_mode(int argc, char **argv)
{
    return argc > 1 && strcmp(argv[1], "--gpu") == 0;
}

/* 1 when the CUDA backend's failure (vg_k_check's rc and reason) means this machine has no GPU
 * to test, 0 when the backend is broken. */
static inline int vg_test_gpu_missing(int rc, const char *why)
{
    /* The library asked for must load and open: it is named to be tested, so even its "no
     * device" is a failure (a stub standing in for a broken GPU must not pass as a missing one). */
    const char *lib = getenv("VIGIL_CUDA_LIB");
    if (lib && *lib)
        return 0;
    /* No device, no driver answering, or too old a device: the backend's -ENODEV means only that
     * (a failed self-test, stream or cuBLAS handle is -EIO, kernels/vg_k.h). */
    if (rc == -ENODEV)
        return 1;
    /* -ENOENT: not built or installed, or its CUDA libraries (the driver's) not on this host;
     * a file that is there but is no loadable library is broken. */
    return rc == -ENOENT &&
           (strstr(why, "not installed") || strstr(why, "cannot open shared object file"));
}

/* 0 where a GPU is usable; else the program's exit code, the reason printed. */
static inline int vg_test_gpu_gate(const char *what)
{
    char why[VG_ERRLEN];
    int rc = vg_k_check("cuda", why, sizeof(why));
    if (rc == 0)
        return 0;
    if (!vg_test_gpu_missing(rc, why)) {
        printf("FAIL: %s: the CUDA backend is broken: %s\n", what, why);
        return 1;
    }
    const char *req = getenv("VIGIL_REQUIRE_GPU");
    if (req && strcmp(req, "1") == 0) {
        printf("FAIL: %s: no usable GPU (%s), and VIGIL_REQUIRE_GPU=1\n", what, why);
        return 1;
    }
    printf("SKIP: %s: no usable GPU (%s)\n", what, why);
    return VG_TEST_SKIPPED;
}

#endif
