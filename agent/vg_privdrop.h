/* The agent's privilege drop (docs/security.md): once its eBPF programs are loaded and attached,
 * it keeps only what reading their maps needs.
 *
 * Capabilities belong to a thread, not a process: vg_privdrop() must run while the process has
 * one thread (before librdkafka starts its own), and refuses otherwise. */
#ifndef VG_PRIVDROP_H
#define VG_PRIVDROP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct vg_privdrop_cfg {
    /* Started as root: the user to become (its primary group and supplementary groups too).
     * NULL or "": stay uid 0, still with only the capabilities kept. Ignored when not root. */
    const char *user;
    /* eBPF collectors run: their maps are read every tick, which needs CAP_BPF on kernels that
     * check it for every bpf() command (before 6.5, with kernel.unprivileged_bpf_disabled set);
     * vg_privdrop probes whether this kernel does. */
    int bpf_maps;
    /* Directories the agent writes after the drop, or a later unprivileged run reads (the spool,
     * the BTF cache); when switching user, each one that exists, or whose parent exists (then
     * created 0700), is given to the user with the files directly in it. NULL-terminated; ""
     * entries are skipped. */
    const char *const *own_dirs;
};

struct vg_privdrop_result {
    uid_t uid;
    gid_t gid;
    int switched;         /* the uid changed */
    uint64_t kept;        /* capabilities in the permitted and effective sets */
    uint64_t bounding;    /* the bounding set after the drop */
    int bounding_dropped; /* 0: no CAP_SETPCAP to change it (left as the service manager set) */
    int bpf_probe;        /* bpf_maps: 1 CAP_BPF needed for map reads, 0 not, -1 not probed */
};

/* Drops privileges as described above, clears the ambient and inheritable sets, drops every
 * other capability from the bounding set (when allowed) and sets no_new_privs. Returns 0, or a
 * negative errno with err saying what failed (the user does not exist, the chown, a syscall);
 * on failure the process may hold fewer privileges than before, never more, and the agent exits. */
int vg_privdrop(const struct vg_privdrop_cfg *cfg, struct vg_privdrop_result *res, char *err,
                size_t errlen);

/* For a run that does not drop privileges (--once): started as root with user set (not root),
 * each of dirs that exists is given to the user with the files directly in it, as vg_privdrop()
 * does when switching, so that what this root run created (the BTF cache) stays usable by the
 * unprivileged service. Does nothing when not root, or user is NULL or "". Returns 0; -ENOENT
 * when the user does not exist (nothing done); another negative errno with err set when a chown
 * failed. */
int vg_privdrop_give_dirs(const char *user, const char *const *dirs, char *err, size_t errlen);

/* Writes a capability mask as "cap_bpf,cap_perfmon" ("none" for 0) into buf. */
void vg_privdrop_caps_str(uint64_t mask, char *buf, size_t n);

#endif
