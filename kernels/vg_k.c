#include "vg_k.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vg_log.h"
#include "vg_util.h"

#define CUDA_LIB   "libvigil-cuda.so"
#define CUDA_ENTRY "vg_k_cuda_entry"

#ifndef VG_K_INSTALL_LIBDIR
#define VG_K_INSTALL_LIBDIR "/usr/lib/vigil"
#endif

/* Candidate paths of the CUDA library, most specific first: the environment, next to the
 * running binary in an install (bin/../lib/vigil) and in the build tree (x/../kernels), then the
 * configured install directory. */
static size_t cuda_candidates(char paths[4][PATH_MAX])
{
    size_t n = 0;
    const char *env = getenv("VIGIL_CUDA_LIB");
    if (env && *env)
        snprintf(paths[n++], PATH_MAX, "%s", env);
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (len > 0) {
        exe[len] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(paths[n++], PATH_MAX, "%.3000s/../lib/vigil/" CUDA_LIB, exe);
            snprintf(paths[n++], PATH_MAX, "%.3000s/../kernels/" CUDA_LIB, exe);
        }
    }
    snprintf(paths[n++], PATH_MAX, "%s/" CUDA_LIB, VG_K_INSTALL_LIBDIR);
    return n;
}

/* Loads and opens the CUDA backend into k; on failure says why in err. */
static int open_cuda(struct vg_k *k, char *err, size_t errlen)
{
    char paths[4][PATH_MAX];
    size_t n = cuda_candidates(paths);
    void *dl = NULL;
    char why[512] = "";
    for (size_t i = 0; i < n && !dl; i++) {
        if (access(paths[i], F_OK) != 0)
            continue;
        /* Never unloaded: CUDA and C++ runtimes keep process-wide state that does not survive
         * an unload (and LeakSanitizer reports their pools as lost). */
        dl = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
        if (!dl) {
            const char *e = dlerror();
            snprintf(why, sizeof(why), "%.500s", e ? e : paths[i]);
        }
    }
    if (!dl)
        return vg_err(err, errlen, -ENOENT, "%s", *why ? why : CUDA_LIB " not installed");
    const struct vg_k_ops *(*entry)(void) = (const struct vg_k_ops *(*)(void))dlsym(dl, CUDA_ENTRY);
    const struct vg_k_ops *ops = entry ? entry() : NULL;
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
            return vg_err(err, errlen, rc, "CUDA backend unusable: %s", why);
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
