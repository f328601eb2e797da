/* The GPU comparisons of a test program (CUDA against the CPU path) run as a ctest entry of their
 * own, the same program with --gpu (vg_add_gpu_test in tests/CMakeLists.txt), so that a machine
 * without a usable GPU reports them as skipped rather than passed, and the program's CPU tests
 * still run (without --gpu) everywhere.
 *
 * Without a usable GPU the --gpu run prints "SKIP: <what>: no usable GPU (<reason>)" and exits
 * 77, which ctest counts as skipped (SKIP_RETURN_CODE), not failed. VIGIL_REQUIRE_GPU=1 (for
 * runners that have a GPU) makes that a failure instead, so that a broken driver or library
 * cannot pass as a missing GPU. */
#ifndef VG_TESTGPU_H
#define VG_TESTGPU_H

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

/* 0 where a GPU is usable; else the program's exit code, the reason printed. */
static inline int vg_test_gpu_gate(const char *what)
{
    char why[VG_ERRLEN];
    if (vg_k_cuda_available(why, sizeof(why)))
        return 0;
    const char *req = getenv("VIGIL_REQUIRE_GPU");
    if (req && strcmp(req, "1") == 0) {
        printf("FAIL: %s: no usable GPU (%s), and VIGIL_REQUIRE_GPU=1\n", what, why);
        return 1;
    }
    printf("SKIP: %s: no usable GPU (%s)\n", what, why);
    return VG_TEST_SKIPPED;
}

#endif
