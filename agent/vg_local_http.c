#include "vg_local_http.h"

#include <errno.h>

#include "vg_plugin.h"
#include "vg_util.h"

#ifndef VG_AGENT_INSTALL_LIBDIR
#define VG_AGENT_INSTALL_LIBDIR "/usr/lib/vigil"
#endif

int vg_local_http_load(const struct vg_local_http_ops **ops, char *err, size_t errlen)
{
    /* Never unloaded (vg_plugin_open): libcurl and its TLS libraries keep process-wide state. */
    void *dl, *sym;
    int rc = vg_plugin_open(VG_LOCAL_HTTP_LIB, NULL, ".", VG_AGENT_INSTALL_LIBDIR,
                            VG_LOCAL_HTTP_ENTRY, &dl, &sym, err, errlen);
    if (rc < 0)
        return rc;
    const struct vg_local_http_ops *(*entry)(void) = (const struct vg_local_http_ops *(*)(void))sym;
    const struct vg_local_http_ops *o = entry();
    if (!o || o->abi != VG_LOCAL_HTTP_ABI ||
        o->notification_size != sizeof(struct vg_notification) ||
        o->receiver_cfg_size != sizeof(struct vg_receiver_cfg))
        return vg_err(err, errlen, -EPROTO,
                      VG_LOCAL_HTTP_LIB " is of another build (ABI %u, want %u)", o ? o->abi : 0,
                      VG_LOCAL_HTTP_ABI);
    *ops = o;
    return 0;
}
