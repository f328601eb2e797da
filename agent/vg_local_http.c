#include "vg_local_http.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vg_util.h"

#ifndef VG_AGENT_INSTALL_LIBDIR
#define VG_AGENT_INSTALL_LIBDIR "/usr/lib/vigil"
#endif

static size_t candidates(char paths[][PATH_MAX])
{
    size_t n = 0;
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (len > 0) {
        exe[len] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(paths[n++], PATH_MAX, "%.3000s/../lib/vigil/" VG_LOCAL_HTTP_LIB, exe);
            snprintf(paths[n++], PATH_MAX, "%.3000s/" VG_LOCAL_HTTP_LIB, exe);
        }
    }
    snprintf(paths[n++], PATH_MAX, "%s/" VG_LOCAL_HTTP_LIB, VG_AGENT_INSTALL_LIBDIR);
    return n;
}

int vg_local_http_load(const struct vg_local_http_ops **ops, char *err, size_t errlen)
{
    char paths[3][PATH_MAX];
    size_t n = candidates(paths);
    void *dl = NULL;
    char why[600] = "";
    for (size_t i = 0; i < n && !dl; i++) {
        if (access(paths[i], F_OK) != 0)
            continue;
        /* Never unloaded: libcurl and its TLS libraries keep process-wide state. */
        dl = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
        if (!dl) {
            const char *e = dlerror();
            snprintf(why, sizeof(why), "%.500s", e ? e : paths[i]);
        }
    }
    if (!dl)
        return vg_err(err, errlen, -ENOENT, "%s",
                      *why ? why
                           : VG_LOCAL_HTTP_LIB
                          " not installed (looked next to the "
                          "executable, in ../lib/vigil and in " VG_AGENT_INSTALL_LIBDIR ")");
    const struct vg_local_http_ops *(*entry)(void) =
        (const struct vg_local_http_ops *(*)(void))dlsym(dl, VG_LOCAL_HTTP_ENTRY);
    const struct vg_local_http_ops *o = entry ? entry() : NULL;
    if (!o || o->abi != VG_LOCAL_HTTP_ABI ||
        o->notification_size != sizeof(struct vg_notification) ||
        o->receiver_cfg_size != sizeof(struct vg_receiver_cfg))
        return vg_err(err, errlen, -EPROTO,
                      VG_LOCAL_HTTP_LIB " is of another build (ABI %u, want %u)", o ? o->abi : 0,
                      VG_LOCAL_HTTP_ABI);
    *ops = o;
    return 0;
}
