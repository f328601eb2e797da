/* The local guard's HTTP delivery, loaded only when local.webhook.url is set.
 *
 * Local alerts go through the analyzer's delivery engine (actions/: queue, retries with backoff,
 * HMAC, its own thread). That engine needs libcurl, and libcurl pulls in some 25 libraries
 * (GnuTLS, Kerberos, LDAP, ...) whose loading and constructors cost a process about 4 MiB of
 * RSS, measured (docs/bench.md): more than the agent's whole budget allows for a feature that
 * is off unless configured. So the engine is built as a module, libvigil-agent-webhook.so
 * (vg_local_http_mod.c), that the agent dlopen()s at start only when it has a URL to send to.
 *
 * The module holds its own copy of common/ (logging, secrets): the agent hands it its log
 * settings through log_init.
 */
#ifndef VG_LOCAL_HTTP_H
#define VG_LOCAL_HTTP_H

#include <stddef.h>

#include "vg_action.h"
#include "vg_log.h"

#define VG_LOCAL_HTTP_LIB   "libvigil-agent-webhook.so"
#define VG_LOCAL_HTTP_ENTRY "vg_local_http_entry"
/* 3: vg_action.stop; 4: vg_receiver_cfg.url_key, register_url; 5: vg_action.flush,
 * vg_receiver_cfg.group_commit; 6: vg_action.release; 7: vg_receiver_cfg.adopt_at_start */
#define VG_LOCAL_HTTP_ABI 7u

struct vg_local_http_ops {
    unsigned abi;
    /* sizeof the structs passed across, as the module was built: a module of another build is
     * refused rather than handed structs of another layout. */
    size_t notification_size, receiver_cfg_size;
    void (*log_init)(const char *component, enum vg_log_level level, int json);
    /* vg_log_flush_suppressed() of the module's own rate limit, flushed with the agent's. */
    void (*log_flush_suppressed)(void);
    /* vg_urlfile_register() of the module: a URL read from local.webhook.url_file is scrubbed from
     * the module's log lines too (a receiver's answer, logged as body=, may quote its path). */
    int (*register_url)(const char *url);
    /* vg_action_create() of the module. */
    int (*create)(const struct vg_receiver_cfg *cfg, const struct vg_action **act, void **inst,
                  char *err, size_t errlen);
};

/* Loads the module from, in order: <dir of the executable>/../lib/vigil, the executable's own
 * directory (a build tree), and the install directory. It stays loaded for the life of the
 * process (its delivery thread may outlive a failed start). 0 with *ops set, or -ENOENT /
 * -EPROTO with err naming what was tried. */
int vg_local_http_load(const struct vg_local_http_ops **ops, char *err, size_t errlen);

#endif
