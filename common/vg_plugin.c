#include "vg_plugin.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vg_util.h"

int vg_plugin_open(const char *file, const char *env_path, const char *build_subdir,
                   const char *install_dir, const char *entry, void **dl, void **sym, char *err,
                   size_t errlen)
{
    char paths[8][PATH_MAX];
    size_t n = 0;
    if (env_path && *env_path)
        snprintf(paths[n++], PATH_MAX, "%s", env_path);
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash = NULL;
    if (len > 0) {
        exe[len] = 0;
        slash = strrchr(exe, '/');
    }
    if (slash) {
        *slash = 0;
        snprintf(paths[n++], PATH_MAX, "%.3000s/../lib/vigil/%.200s", exe, file);
        /* A program sits one or two folders down in the build tree (bench/x, analyzer/vigilctl/x),
         * so the caller may name more than one place there, ':'-separated. */
        for (const char *d = build_subdir; d && *d && n < 7;) {
            size_t dl_len = strcspn(d, ":");
            snprintf(paths[n++], PATH_MAX, "%.3000s/%.*s/%.200s", exe,
                     (int)(dl_len < 200 ? dl_len : 200), d, file);
            d += dl_len + (d[dl_len] == ':');
        }
    }
    snprintf(paths[n++], PATH_MAX, "%.3000s/%.200s", install_dir, file);

    *dl = NULL;
    *sym = NULL;
    char why[512] = "";
    for (size_t i = 0; i < n && !*dl; i++) {
        if (access(paths[i], F_OK) != 0)
            continue;
        *dl = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
        if (!*dl) {
            const char *e = dlerror();
            snprintf(why, sizeof(why), "%.500s", e ? e : paths[i]);
        }
    }
    if (!*dl) {
        if (*why)
            return vg_err(err, errlen, -ENOENT, "%s", why);
        return vg_err(err, errlen, -ENOENT,
                      "%s not installed (looked next to the executable, in ../lib/vigil and in "
                      "%s)",
                      file, install_dir);
    }
    *sym = dlsym(*dl, entry);
    if (!*sym) {
        dlclose(*dl);
        *dl = NULL;
        return vg_err(err, errlen, -EPROTO, "%s has no entry point %s", file, entry);
    }
    return 0;
}
