#include "vg_k.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_log.h"
#include "vg_plugin.h"
#include "vg_util.h"

#define CUDA_LIB   "libvigil-cuda.so"
#define CUDA_ENTRY "vg_k_cuda_entry"

#ifndef VG_K_INSTALL_LIBDIR
#define VG_K_INSTALL_LIBDIR "/usr/lib/vigil"
#endif

/* Loads and opens the CUDA backend into k; on failure says why in err. */
static int open_cuda(struct vg_k *k, char *err, size_t errlen)
{
    /* Never unloaded (vg_plugin_open): CUDA and C++ runtimes keep process-wide state that does
     * not survive an unload (and LeakSanitizer reports their pools as lost). Looked for first
     * where VIGIL_CUDA_LIB says, then in the install (bin/../lib/vigil) and the build tree
     * (x/../kernels, or x/../../kernels for vigilctl). */
    void *dl, *sym;
    int prc = vg_plugin_open(CUDA_LIB, getenv("VIGIL_CUDA_LIB"), "../kernels:../../kernels",
                             VG_K_INSTALL_LIBDIR, CUDA_ENTRY, &dl, &sym, err, errlen);
    if (prc < 0)
        return prc;
    const struct vg_k_ops *(*entry)(void) = (const struct vg_k_ops *(*)(void))sym;
    const struct vg_k_ops *ops = entry();
    if (!ops || ops->abi != VG_K_ABI) {
        dlclose(dl);
        return vg_err(err, errlen, -EPROTO, CUDA_LIB " is of another build (ABI %u, want %u)",
                      ops ? ops->abi : 0, VG_K_ABI);
    }
    int rc = ops->open(&k->ctx, k->desc, sizeof(k->desc), err, errlen);
    if (rc < 0) {
        dlclose(dl);
        return rc;
    }
    k->ops = ops;
    k->dl = dl;
    return 0;
}

int vg_k_cuda_available(char *why, size_t whylen)
{
    struct vg_k k = {0};
    if (open_cuda(&k, why, whylen) < 0)
        return 0;
    vg_k_close(&k);
    return 1;
}

/* The refusal of want=cuda, one text for vg_k_open() and vg_k_check(). */
static int cuda_unusable(char *err, size_t errlen, int rc, const char *why)
{
    return vg_err(err, errlen, rc, "CUDA backend unusable: %s", why);
}

int vg_k_check(const char *want, char *err, size_t errlen)
{
    /* cpu always opens, and auto falls back to it: only cuda can refuse. */
    if (!want || strcmp(want, "cuda") != 0)
        return 0;
    struct vg_k k = {0};
    char why[VG_ERRLEN];
    int rc = open_cuda(&k, why, sizeof(why));
    if (rc < 0)
        return cuda_unusable(err, errlen, rc, why);
    vg_k_close(&k);
    return 0;
}

int vg_k_open(struct vg_k *k, const char *want, char *err, size_t errlen)
{
    memset(k, 0, sizeof(*k));
    if (!want || !*want)
        want = "auto";
    if (strcmp(want, "cpu") && strcmp(want, "cuda") && strcmp(want, "auto"))
        return vg_err(err, errlen, -EINVAL, "unknown compute backend '%s' (cpu, cuda, auto)", want);
    if (strcmp(want, "cpu") != 0) {
        char why[VG_ERRLEN];
        int rc = open_cuda(k, why, sizeof(why));
        if (rc == 0) {
            char q[192];
            vg_info("compute backend", "backend=cuda device=%s",
                    vg_log_quote(q, sizeof(q), k->desc));
            return 0;
        }
        if (strcmp(want, "cuda") == 0)
            return cuda_unusable(err, errlen, rc, why);
        char q[VG_ERRLEN + 8];
        vg_info("CUDA backend unusable, using the CPU", "reason=%s",
                vg_log_quote(q, sizeof(q), why));
    }
    int rc = vg_k_cpu_ops.open(&k->ctx, k->desc, sizeof(k->desc), err, errlen);
    if (rc < 0)
        return rc;
    k->ops = &vg_k_cpu_ops;
    char q[192];
    vg_info("compute backend", "backend=cpu detail=%s", vg_log_quote(q, sizeof(q), k->desc));
    return 0;
}

void vg_k_close(struct vg_k *k)
{
    if (!k || !k->ops)
        return;
    k->ops->close(k->ctx);
    if (k->dl)
        dlclose(k->dl);
    memset(k, 0, sizeof(*k));
}
