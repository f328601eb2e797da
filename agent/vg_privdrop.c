#include "vg_privdrop.h"

#include <errno.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vg_runas.h"
#include "vg_util.h"

#define CAP_WORDS 2 /* _LINUX_CAPABILITY_U32S_3 */
#define BIT(c)    (1ULL << (c))

static const char *const cap_names[] = {
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_linux_immutable",
    "cap_net_bind_service",
    "cap_net_broadcast",
    "cap_net_admin",
    "cap_net_raw",
    "cap_ipc_lock",
    "cap_ipc_owner",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_chroot",
    "cap_sys_ptrace",
    "cap_sys_pacct",
    "cap_sys_admin",
    "cap_sys_boot",
    "cap_sys_nice",
    "cap_sys_resource",
    "cap_sys_time",
    "cap_sys_tty_config",
    "cap_mknod",
    "cap_lease",
    "cap_audit_write",
    "cap_audit_control",
    "cap_setfcap",
    "cap_mac_override",
    "cap_mac_admin",
    "cap_syslog",
    "cap_wake_alarm",
    "cap_block_suspend",
    "cap_audit_read",
    "cap_perfmon",
    "cap_bpf",
    "cap_checkpoint_restore",
};

void vg_privdrop_caps_str(uint64_t mask, char *buf, size_t n)
{
    size_t o = 0;
    if (n)
        buf[0] = '\0';
    for (unsigned c = 0; c < 64 && o + 1 < n; c++) {
        if (!(mask & BIT(c)))
            continue;
        int w = c < sizeof(cap_names) / sizeof(cap_names[0])
                    ? snprintf(buf + o, n - o, "%s%s", o ? "," : "", cap_names[c])
                    : snprintf(buf + o, n - o, "%scap_%u", o ? "," : "", c);
        o += w > 0 ? (size_t)w : 0;
    }
    if (!mask)
        snprintf(buf, n, "none");
}

struct caps {
    uint64_t eff, prm, inh;
};

static int cap_get(struct caps *c)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[CAP_WORDS];
    if (syscall(SYS_capget, &h, d) != 0)
        return -errno;
    c->eff = d[0].effective | (uint64_t)d[1].effective << 32;
    c->prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
    c->inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
    return 0;
}

static int cap_set(const struct caps *c)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[CAP_WORDS] = {
        {(uint32_t)c->eff, (uint32_t)c->prm, (uint32_t)c->inh},
        {(uint32_t)(c->eff >> 32), (uint32_t)(c->prm >> 32), (uint32_t)(c->inh >> 32)},
    };
    return syscall(SYS_capset, &h, d) == 0 ? 0 : -errno;
}

static int last_cap(void)
{
    int last = 40;
    FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
    if (f) {
        if (fscanf(f, "%d", &last) != 1 || last < 0 || last > 63)
            last = 40;
        fclose(f);
    }
    return last;
}

static int threads(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return -1;
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

/* Whether this kernel checks CAP_BPF on every bpf() command: a map lookup on a descriptor that
 * cannot exist fails with EPERM before the descriptor is looked at when it does (before 6.5 with
 * kernel.unprivileged_bpf_disabled set), with EBADF when it does not. Runs with CAP_BPF and
 * CAP_SYS_ADMIN (which also passes the check) out of the effective set. */
static int bpf_needs_cap(const struct caps *now)
{
    struct caps probe = *now;
    probe.eff &= ~(BIT(CAP_BPF) | BIT(CAP_SYS_ADMIN));
    if (cap_set(&probe) != 0)
        return 1;
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.map_fd = (uint32_t)-1;
    long r = syscall(SYS_bpf, BPF_MAP_LOOKUP_ELEM, &attr, sizeof attr);
    int e = errno;
    cap_set(now);
    return r < 0 && e == EPERM;
}

int vg_privdrop_give_dirs(const char *user, const char *const *dirs, char *err, size_t errlen)
{
    if (geteuid() != 0 || !user || !*user)
        return 0;
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (!pw)
        return errno ? -errno : -ENOENT;
    if (pw->pw_uid == 0)
        return 0;
    for (const char *const *d = dirs; d && *d; d++) {
        struct stat st;
        if (!**d || lstat(*d, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        int rc = vg_runas_give(*d, pw->pw_uid, pw->pw_gid, 0, err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int switch_user(const struct vg_privdrop_cfg *cfg, struct vg_privdrop_result *res, char *err,
                       size_t errlen)
{
    errno = 0;
    struct passwd *pw = getpwnam(cfg->user);
    if (!pw)
        return vg_err(err, errlen, errno ? -errno : -ENOENT,
                      "user: no user '%s' on this host (create it, e.g. useradd --system "
                      "--no-create-home %s, or set user to an existing unprivileged user; "
                      "user: \"\" stays root with the capabilities dropped)",
                      cfg->user, cfg->user);
    if (pw->pw_uid == 0)
        return vg_err(err, errlen, -EINVAL, "user: '%s' is root; name an unprivileged user",
                      cfg->user);
    for (const char *const *d = cfg->own_dirs; d && *d; d++) {
        if (!**d)
            continue;
        int rc = vg_runas_give(*d, pw->pw_uid, pw->pw_gid, VG_RUNAS_MKDIR, err, errlen);
        if (rc < 0)
            return rc;
    }
    /* Keep the permitted set across the uid change; the final capset below trims it. */
    if (prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) != 0)
        return vg_err(err, errlen, -errno, "prctl(PR_SET_KEEPCAPS): %s", strerror(errno));
    char why[VG_ERRLEN];
    int rc = vg_runas_become(pw, why, sizeof why);
    if (rc < 0)
        return vg_err(err, errlen, rc, "user: %s", why);
    prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L);
    res->switched = 1;
    return 0;
}

int vg_privdrop(const struct vg_privdrop_cfg *cfg, struct vg_privdrop_result *res, char *err,
                size_t errlen)
{
    memset(res, 0, sizeof *res);
    res->bpf_probe = -1;
    int nt = threads();
    if (nt != 1)
        return vg_err(err, errlen, -EBUSY,
                      "privilege drop: the process has %d threads; capabilities are per thread, "
                      "so it must run before any other starts",
                      nt);
    struct caps now = {0};
    int rc = cap_get(&now);
    if (rc < 0)
        return vg_err(err, errlen, rc, "capget: %s", strerror(-rc));

    /* What stays: CAP_BPF when this kernel wants it for reading maps; CAP_SYS_ADMIN instead on a
     * kernel older than CAP_BPF (5.8), where it is what bpf() checks. Nothing else: /proc and
     * /sys files the collectors read are world-readable, and tracefs and perf events are only
     * needed while attaching. */
    uint64_t keep = 0;
    if (cfg->bpf_maps) {
        res->bpf_probe = bpf_needs_cap(&now);
        if (res->bpf_probe)
            keep = (now.prm & BIT(CAP_BPF)) ? BIT(CAP_BPF) : now.prm & BIT(CAP_SYS_ADMIN);
    }
    /* Regain the whole permitted set in the effective one for the steps below (root's effective
     * set already is; a service's ambient capabilities too). */
    struct caps full = {.eff = now.prm, .prm = now.prm, .inh = 0};
    if ((rc = cap_set(&full)) < 0)
        return vg_err(err, errlen, rc, "capset: %s", strerror(-rc));

    if (full.eff & BIT(CAP_SETPCAP)) {
        int last = last_cap();
        for (int c = 0; c <= last; c++)
            if (!(keep & BIT(c)) && prctl(PR_CAPBSET_DROP, (unsigned long)c, 0L, 0L, 0L) != 0 &&
                errno != EINVAL)
                return vg_err(err, errlen, -errno, "prctl(PR_CAPBSET_DROP, %d): %s", c,
                              strerror(errno));
        res->bounding_dropped = 1;
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0L, 0L, 0L) != 0 && errno != EINVAL)
        return vg_err(err, errlen, -errno, "prctl(PR_CAP_AMBIENT_CLEAR_ALL): %s", strerror(errno));

    if (geteuid() == 0 && cfg->user && *cfg->user) {
        if ((rc = switch_user(cfg, res, err, errlen)) < 0)
            return rc;
    }
    struct caps final = {.eff = keep, .prm = keep, .inh = 0};
    if ((rc = cap_set(&final)) < 0)
        return vg_err(err, errlen, rc, "capset: %s", strerror(-rc));
    if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) != 0)
        return vg_err(err, errlen, -errno, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));

    res->uid = getuid();
    res->gid = getgid();
    res->kept = keep;
    for (int c = 0; c <= 63; c++) {
        int r = prctl(PR_CAPBSET_READ, (unsigned long)c, 0L, 0L, 0L);
        if (r < 0)
            break;
        if (r == 1)
            res->bounding |= BIT(c);
    }
    return 0;
}
