/* Plugins: shared objects a program opens at run time rather than links, so that their heavy
 * dependencies (CUDA, libcurl and its TLS stack) cost nothing where they are not used. */
#ifndef VG_PLUGIN_H
#define VG_PLUGIN_H

#include <stddef.h>

/* Opens `file` from the first place it exists: env_path (when non-NULL and non-empty), then next
 * to the running executable as installed (<exe dir>/../lib/vigil/file) and in the build tree
 * (<exe dir>/<build_subdir>/file, for each of build_subdir's ':'-separated folders), then
 * install_dir/file. It is opened RTLD_NOW | RTLD_LOCAL |
 * RTLD_NODELETE: plugins' runtimes keep process-wide state that does not survive an unload.
 * Returns 0 with *dl the handle (the caller may dlclose it) and *sym the address of `entry`;
 * -ENOENT when no candidate opens (err: the loader's message, or where it looked), -EPROTO when
 * the object lacks `entry` (the handle is closed). */
int vg_plugin_open(const char *file, const char *env_path, const char *build_subdir,
                   const char *install_dir, const char *entry, void **dl, void **sym, char *err,
                   size_t errlen);

#endif
