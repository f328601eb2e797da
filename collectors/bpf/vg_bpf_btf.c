#include "vg_bpf_btf.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "vg_collector.h"
#include "vg_log.h"
#include "vg_util.h"

#define KERNEL_BTF  "/sys/kernel/btf/vmlinux"
#define FNV_OFFSET  0xcbf29ce484222325ULL
#define FNV_PRIME   0x100000001b3ULL
#define BPFTOOL_ERR 200

extern char **environ;

static unsigned long long fnv(const void *p, size_t n, unsigned long long h)
{
    const unsigned char *b = p;
    if (!h)
        h = FNV_OFFSET;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= FNV_PRIME;
    }
    return h;
}

unsigned long long vg_bpf_hash_file(const char *file, unsigned long long h)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    unsigned char buf[16384];
    ssize_t r;
    size_t total = 0;
    while ((r = read(fd, buf, sizeof buf)) > 0) {
        h = fnv(buf, (size_t)r, h);
        total += (size_t)r;
    }
    close(fd);
    return r < 0 || total == 0 ? 0 : h;
}

/* The kernel's BTF hashed once per process: it only changes with the kernel. */
static unsigned long long kernel_btf_hash(void)
{
    static unsigned long long h;
    if (!h)
        h = vg_bpf_hash_file(KERNEL_BTF, 0);
    return h;
}

/* bpftool as configured: a path, or a name looked up in PATH and then the sbin directories,
 * which are often missing from a service's or a user's PATH. */
static int find_bpftool(const char *want, char *out, size_t n)
{
    if (strchr(want, '/')) {
        snprintf(out, n, "%s", want);
        return access(out, X_OK) == 0 ? 0 : -errno;
    }
    const char *env = getenv("PATH");
    char dirs[1024];
    snprintf(dirs, sizeof dirs, "%s:/usr/sbin:/sbin:/usr/local/sbin", env ? env : "/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, n, "%s/%s", d, want);
        if (access(out, X_OK) == 0)
            return 0;
    }
    return -ENOENT;
}

static int write_file(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int rc = -errno;
            close(fd);
            return rc;
        }
        p += w;
        n -= (size_t)w;
    }
    return close(fd) == 0 ? 0 : -errno;
}

/* The last non-empty line of a small file, for quoting a tool's complaint. */
static void last_line(const char *file, char *out, size_t n)
{
    char buf[2048];
    out[0] = '\0';
    FILE *f = fopen(file, "re");
    if (!f)
        return;
    while (fgets(buf, sizeof buf, f)) {
        buf[strcspn(buf, "\n")] = '\0';
        if (buf[0])
            snprintf(out, n, "%.*s", (int)(n - 1), buf);
    }
    fclose(f);
}

/* Runs bpftool gen min_core_btf, its stderr kept in errfile so a failure can say why. */
static int run_bpftool(const char *bpftool, const char *obj, const char *out, const char *errfile,
                       char *why, size_t whylen)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char *argv[] = {(char *)bpftool, "gen", "min_core_btf", KERNEL_BTF, (char *)out,
                    (char *)obj,     NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, bpftool, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return vg_err(why, whylen, -rc, "starting %s: %s", bpftool, strerror(rc));
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return vg_err(why, whylen, -errno, "waiting for bpftool: %s", strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    char said[160];
    last_line(errfile, said, sizeof said);
    if (WIFEXITED(status))
        return vg_err(why, whylen, -EIO, "'%s gen min_core_btf' exited with status %d: %s", bpftool,
                      WEXITSTATUS(status), said[0] ? said : "(no message)");
    return vg_err(why, whylen, -EIO, "'%s gen min_core_btf' killed by signal %d", bpftool,
                  WTERMSIG(status));
}

/* 0 when file holds BTF that libbpf parses; else -errno. A cache file cut short (a crash or a
 * full disk while it was written, before files were synced) or emptied must not be trusted:
 * loading with it fails, and would on every start. */
static int check_btf(const char *file, char *why, size_t whylen)
{
    struct stat sb;
    if (stat(file, &sb) != 0)
        return vg_err(why, whylen, -errno, "%s", strerror(errno));
    if (sb.st_size == 0)
        return vg_err(why, whylen, -ENODATA, "empty file");
    struct btf *btf = btf__parse(file, NULL);
    long rc = libbpf_get_error(btf);
    if (!btf && !rc)
        rc = -EINVAL;
    if (rc)
        return vg_err(why, whylen, (int)rc, "not BTF libbpf can parse (%s, %lld bytes)",
                      strerror((int)-rc), (long long)sb.st_size);
    /* No type count is required: an object with no CO-RE relocations (syscall_errors) gets
     * minimal BTF holding none. */
    btf__free(btf);
    return 0;
}

/* Makes a written file durable before it is renamed into place: otherwise a crash can leave the
 * name pointing at an empty or partial file. */
static int sync_file(const char *file)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

static int make_dir(const char *dir)
{
    if (mkdir(dir, 0700) == 0 || errno == EEXIST)
        return access(dir, W_OK) == 0 ? 0 : -errno;
    return -errno;
}

/* Files of this collector for other kernels or agent versions are dead weight once a new one is
 * made; an unreadable directory just keeps them. */
static void prune(const char *dir, const char *collector, const char *keep)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    size_t cl = strlen(collector);
    const char *keep_base = strrchr(keep, '/') ? strrchr(keep, '/') + 1 : keep;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, collector, cl) == 0 && e->d_name[cl] == '-' && len > 4 &&
            strcmp(e->d_name + len - 4, ".btf") == 0 && strcmp(e->d_name, keep_base) != 0)
            unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

static int generate(const char *collector, const struct vg_collector_cfg *cfg, const void *elf,
                    size_t elf_size, char *path, size_t n, char *why, size_t whylen)
{
    const char *dir = cfg ? cfg->bpf_btf_cache : NULL;
    if (!dir || !*dir)
        return vg_err(why, whylen, -ENOTSUP, "bpf.btf_cache is empty (minimising is off)");
    unsigned long long kh = kernel_btf_hash();
    if (!kh)
        return vg_err(why, whylen, -ENOENT, "cannot read %s", KERNEL_BTF);
    unsigned long long h = fnv(elf, elf_size, kh);
    snprintf(path, n, "%s/%s-%016llx.btf", dir, collector, h);
    if (access(path, R_OK) == 0) {
        char bad[VG_ERRLEN], q[VG_ERRLEN + 16];
        if (check_btf(path, bad, sizeof bad) == 0)
            return 0;
        /* Made again below; if that fails too, the whole kernel BTF is used. */
        vg_warn("eBPF: damaged minimal BTF removed", "collector=%s path=%s reason=%s", collector,
                path, vg_log_quote(q, sizeof q, bad));
        if (unlink(path) != 0 && errno != ENOENT)
            return vg_err(why, whylen, -errno, "removing damaged %s: %s", path, strerror(errno));
    }

    char bpftool[512];
    int rc = find_bpftool(cfg->bpf_bpftool && *cfg->bpf_bpftool ? cfg->bpf_bpftool : "bpftool",
                          bpftool, sizeof bpftool);
    if (rc < 0)
        return vg_err(why, whylen, rc, "bpftool not found (%s)", strerror(-rc));
    if ((rc = make_dir(dir)) < 0)
        return vg_err(why, whylen, rc, "cache directory %s: %s", dir, strerror(-rc));

    char obj[600], tmp[600], errfile[600];
    snprintf(obj, sizeof obj, "%s/.%s.%d.bpf.o", dir, collector, (int)getpid());
    snprintf(tmp, sizeof tmp, "%s/.%s.%d.btf", dir, collector, (int)getpid());
    snprintf(errfile, sizeof errfile, "%s/.%s.%d.err", dir, collector, (int)getpid());
    if ((rc = write_file(obj, elf, elf_size)) < 0) {
        unlink(obj);
        return vg_err(why, whylen, rc, "writing %s: %s", obj, strerror(-rc));
    }
    rc = run_bpftool(bpftool, obj, tmp, errfile, why, whylen);
    unlink(obj);
    unlink(errfile);
    char bad[VG_ERRLEN];
    if (rc == 0 && check_btf(tmp, bad, sizeof bad) < 0)
        rc = vg_err(why, whylen, -EIO, "bpftool wrote %s: %s", tmp, bad);
    if (rc == 0 && (rc = sync_file(tmp)) < 0)
        rc = vg_err(why, whylen, rc, "syncing %s: %s", tmp, strerror(-rc));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = vg_err(why, whylen, -errno, "renaming %s: %s", tmp, strerror(errno));
    if (rc == 0)
        sync_file(dir); /* the rename itself; without it the old name may come back */
    if (rc < 0) {
        unlink(tmp);
        return rc;
    }
    prune(dir, collector, path);
    vg_debug("generated minimal BTF", "collector=%s path=%s", collector, path);
    return 0;
}

int vg_bpf_core_btf(const char *collector, const struct vg_collector_cfg *cfg, const void *elf,
                    size_t elf_size, char *path, size_t n)
{
    static int logged;
    char why[VG_ERRLEN];
    int rc = generate(collector, cfg, elf, elf_size, path, n, why, sizeof why);
    if (rc == 0)
        return 0;
    path[0] = '\0';
    if (!logged++ && rc != -ENOTSUP) {
        char q[VG_ERRLEN + 16];
        vg_info("eBPF: loading with the whole kernel BTF",
                "reason=%s cost=\"about 12 MiB more peak memory while programs load\"",
                vg_log_quote(q, sizeof q, why));
    }
    return rc;
}

int vg_bpf_core_btf_retry(const char **custom_path)
{
    if (!*custom_path)
        return 0;
    *custom_path = NULL;
    return 1;
}

void vg_bpf_core_btf_bad(const char *collector, const char *path, int load_rc)
{
    int rc = unlink(path) == 0 || errno == ENOENT ? 0 : -errno;
    vg_warn("eBPF: minimal BTF failed, loaded with the whole kernel BTF",
            "collector=%s path=%s load_error=\"%s\" removed=%s", collector, path,
            strerror(-load_rc), rc == 0 ? "yes" : strerror(-rc));
}
