/* libvigil-agent-webhook.so: the actions/ delivery engine as the module vg_local_http.h
 * describes. Only the entry point is exported; the static libraries inside stay hidden. */
#include "vg_local_http.h"
#include "vg_urlfile.h"

static void log_init(const char *component, enum vg_log_level level, int json)
{
    vg_log_init(component, level, json);
}

static const struct vg_local_http_ops ops = {
    .abi = VG_LOCAL_HTTP_ABI,
    .notification_size = sizeof(struct vg_notification),
    .receiver_cfg_size = sizeof(struct vg_receiver_cfg),
    .log_init = log_init,
    .log_flush_suppressed = vg_log_flush_suppressed,
    .register_url = vg_urlfile_register,
    .create = vg_action_create,
};

__attribute__((visibility("default"))) const struct vg_local_http_ops *vg_local_http_entry(void);

const struct vg_local_http_ops *vg_local_http_entry(void)
{
    return &ops;
}
