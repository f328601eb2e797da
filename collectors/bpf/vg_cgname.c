#include "vg_cgname.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vg_log.h"
#include "vg_util.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
    char *w = s;
    for (const char *r = s; *r;) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 4;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

int vg_cgroup2_mount_parse(const char *text, size_t len, char *out, size_t n, char *err,
                           size_t errlen)
{
    char line[4096];
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t l = nl ? (size_t)(nl - (text + at)) : len - at;
        size_t next = at + l + 1;
        if (l >= sizeof line) { /* longer than any mount line the kernel writes: not ours */
            at = next;
            continue;
        }
        memcpy(line, text + at, l);
        line[l] = '\0';
        at = next;
        if (memchr(line, '\0', l))
            continue;
        /* id parent maj:min root mountpoint options [optional...] - fstype source superopts */
        char *sep = strstr(line, " - ");
        if (!sep || strncmp(sep + 3, "cgroup2 ", 8) != 0)
            continue;
        char *save = NULL, *tok = strtok_r(line, " ", &save);
        for (int i = 0; tok && i < 4; i++)
            tok = strtok_r(NULL, " ", &save);
        if (!tok || tok >= sep)
            continue;
        unescape_octal(tok);
        if (strlen(tok) >= n)
            return vg_err(err, errlen, -ENAMETOOLONG, "cgroup2 mount point too long");
        snprintf(out, n, "%s", tok);
        return 0;
    }
    return vg_err(err, errlen, -ENOENT, "no cgroup2 mount in /proc/self/mountinfo");
}

/* A /proc file has no size to stat: read until the end, up to max bytes. */
static int read_proc_file(const char *path, size_t max, char **out, size_t *len)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    size_t cap = 16384, n = 0;
    char *buf = malloc(cap);
    int rc = buf ? 0 : -ENOMEM;
    while (!rc) {
        if (n == cap) {
            char *nb = cap < max ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                rc = cap < max ? -ENOMEM : -EFBIG;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                rc = -EIO;
            break;
        }
    }
    fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = n;
    return 0;
}

int vg_cgroup2_mount(char *out, size_t n, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc = read_proc_file("/proc/self/mountinfo", 16u << 20, &text, &len);
    if (rc < 0)
        return vg_err(err, errlen, rc, "/proc/self/mountinfo: %s", strerror(-rc));
    rc = vg_cgroup2_mount_parse(text, len, out, n, err, errlen);
    free(text);
    return rc;
}

size_t vg_cgroup_metric_name(char *dst, size_t dstsize, const char *rel)
{
    if (dstsize == 0)
        return 0;
    while (*rel == '/')
        rel++;
    if (!*rel) {
        snprintf(dst, dstsize, "root");
        return strlen(dst);
    }
    size_t len = strlen(rel);
    while (len > 0 && rel[len - 1] == '/')
        len--;
    size_t room = dstsize - 1 < VG_CG_NAME_MAX ? dstsize - 1 : VG_CG_NAME_MAX;
    size_t w = 0;
    if (len > room) {
        dst[w++] = '_';
        rel += len - (room - 1);
        len = room - 1;
    }
    for (size_t i = 0; i < len; i++) {
        char ch = rel[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_' || ch == '.' || ch == ':' || ch == '-';
        dst[w++] = ch == '/' ? '.' : ok ? ch : '_';
    }
    dst[w] = '\0';
    return w;
}

void vg_cgnames_init(struct vg_cgnames *c, const char *root)
{
    memset(c, 0, sizeof *c);
    snprintf(c->root, sizeof c->root, "%s", root ? root : "");
}

static void free_entries(struct vg_cg_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(e[i].name);
    free(e);
}

void vg_cgnames_free(struct vg_cgnames *c)
{
    free_entries(c->e, c->n);
    c->e = NULL;
    c->n = 0;
}

static int entry_cmp(const void *a, const void *b)
{
    const struct vg_cg_entry *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

struct walk {
    int rootfd;
    struct vg_cg_entry *e;
    size_t n, cap;
    char **stack;
    size_t depth_n, stack_cap;
    /* directories left out: VG_CG_WALK_MAX or VG_CG_DEPTH_MAX reached, or one could not be
     * read */
    int truncated;
};

/* Room for one more entry in w->e (which may move). 0 or -ENOMEM. */
static int grow(struct walk *w)
{
    if (w->n < w->cap)
        return 0;
    size_t cap = w->cap ? w->cap * 2 : 64;
    struct vg_cg_entry *e = realloc(w->e, cap * sizeof *e);
    if (!e)
        return -ENOMEM;
    w->e = e;
    w->cap = cap;
    return 0;
}

static int add_entry(struct walk *w, __u64 id, const char *rel)
{
    if (grow(w) < 0)
        return -ENOMEM;
    char name[VG_CG_NAME_MAX + 1];
    vg_cgroup_metric_name(name, sizeof name, rel);
    char *dup = strdup(name);
    if (!dup)
        return -ENOMEM;
    w->e[w->n++] = (struct vg_cg_entry){id, dup};
    return 0;
}

static int push(struct walk *w, char *rel)
{
    if (w->depth_n == w->stack_cap) {
        size_t cap = w->stack_cap ? w->stack_cap * 2 : 64;
        char **s = realloc(w->stack, cap * sizeof *s);
        if (!s)
            return -ENOMEM;
        w->stack = s;
        w->stack_cap = cap;
    }
    w->stack[w->depth_n++] = rel;
    return 0;
}

static int depth_of(const char *rel)
{
    int d = 0;
    for (; *rel; rel++)
        d += *rel == '/';
    return d;
}

/* A directory that could not be read: one removed mid-walk (ENOENT) is simply not there, since the
 * hierarchy changes under us all the time; any other failure (EMFILE, ENOMEM, EACCES...) leaves
 * out a directory that may well exist, with everything below it, and so makes the walk
 * incomplete: vg_cgnames_gone must not then take what it missed for gone. */
static void unreadable(struct walk *w, int err)
{
    if (err != ENOENT)
        w->truncated = 1;
}

/* Depth-first over directories, iteratively so that a deep hierarchy cannot exhaust the stack. */
static int walk_hierarchy(struct walk *w)
{
    int rc = push(w, strdup(""));
    if (rc < 0 || !w->stack[0])
        return -ENOMEM;
    size_t visited = 0;
    while (w->depth_n > 0 && rc == 0) {
        char *rel = w->stack[--w->depth_n];
        int fd = openat(w->rootfd, *rel ? rel : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            unreadable(w, errno);
            if (fd >= 0)
                close(fd);
            free(rel);
            continue;
        }
        rc = add_entry(w, (__u64)st.st_ino, rel);
        DIR *d = rc == 0 ? fdopendir(fd) : NULL;
        if (!d) {
            if (rc == 0)
                unreadable(w, errno);
            close(fd);
            free(rel);
            continue;
        }
        struct dirent *de = NULL;
        /* Whether a directory this deep has children is not looked at: taken as truncated. */
        int deep = depth_of(rel) >= VG_CG_DEPTH_MAX;
        w->truncated |= deep;
        /* readdir's NULL is the end, or an error when errno changed. */
        while (rc == 0 && !deep && (errno = 0, de = readdir(d)) != NULL) {
            if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 ||
                strcmp(de->d_name, "..") == 0)
                continue;
            if (++visited >= VG_CG_WALK_MAX) {
                w->truncated = 1;
                break;
            }
            size_t len = strlen(rel) + strlen(de->d_name) + 2;
            char *child = malloc(len);
            if (!child) {
                rc = -ENOMEM;
                break;
            }
            snprintf(child, len, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
            rc = push(w, child);
            if (rc < 0)
                free(child);
        }
        if (rc == 0 && !deep && !de && errno != 0)
            unreadable(w, errno);
        closedir(d);
        free(rel);
    }
    while (w->depth_n > 0)
        free(w->stack[--w->depth_n]);
    free(w->stack);
    return rc;
}

static const char *find(const struct vg_cgnames *c, __u64 id);

/* An incomplete walk may have missed cgroups that exist (a directory it could not open takes its
 * whole subtree with it: with the root, everything), so what the cache knew and the walk did not
 * see is kept: a name stays usable, and vg_cgnames_known stays 1, which keeps vg_bpf_cgsweep from
 * even asking. At most VG_CG_WALK_MAX entries are so carried, so that a host whose walks never
 * complete (more than VG_CG_WALK_MAX cgroups) does not grow the cache with every cgroup it ever
 * saw; a complete walk drops them all. w->e must have been sorted. */
static int carry_over(struct walk *w, const struct vg_cgnames *old)
{
    struct vg_cgnames seen = {.e = w->e, .n = w->n};
    size_t walked = w->n, carried = 0;
    for (size_t i = 0; i < old->n && carried < VG_CG_WALK_MAX; i++) {
        if (find(&seen, old->e[i].id))
            continue;
        if (grow(w) < 0)
            return -ENOMEM;
        seen.e = w->e;
        char *dup = strdup(old->e[i].name);
        if (!dup)
            return -ENOMEM;
        w->e[w->n++] = (struct vg_cg_entry){old->e[i].id, dup};
        carried++;
    }
    if (w->n > walked)
        qsort(w->e, w->n, sizeof *w->e, entry_cmp);
    return 0;
}

static int rewalk(struct vg_cgnames *c, int64_t now_ms)
{
    struct walk w = {.rootfd = open(c->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (w.rootfd < 0)
        return -errno;
    int rc = walk_hierarchy(&w);
    close(w.rootfd);
    if (rc < 0) {
        free_entries(w.e, w.n);
        return rc;
    }
    if (w.n) /* w.e is NULL when the walk found nothing, and qsort's base must not be */
        qsort(w.e, w.n, sizeof *w.e, entry_cmp);
    if (w.truncated && (rc = carry_over(&w, c)) < 0) {
        free_entries(w.e, w.n);
        return rc;
    }
    free_entries(c->e, c->n);
    c->e = w.e;
    c->n = w.n;
    c->walks++;
    c->complete = !w.truncated;
    c->walked_ms = now_ms ? now_ms : 1;
    return 0;
}

static const char *find(const struct vg_cgnames *c, __u64 id)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->e[mid].id < id)
            lo = mid + 1;
        else if (c->e[mid].id > id)
            hi = mid;
        else
            return c->e[mid].name;
    }
    return NULL;
}

const char *vg_cgnames_get(struct vg_cgnames *c, __u64 id, int64_t now_ms, int *walk_budget)
{
    const char *name = find(c, id);
    if (name || !c->root[0])
        return name;
    for (size_t i = 0; i < VG_CG_NEG_MAX; i++)
        if (c->neg[i].id == id && c->neg[i].at_ms && now_ms - c->neg[i].at_ms < VG_CG_RETRY_MS)
            return NULL;
    if (*walk_budget <= 0)
        return NULL;
    (*walk_budget)--;
    if (rewalk(c, now_ms) == 0 && (name = find(c, id)) != NULL)
        return name;
    c->neg[c->neg_next].id = id;
    c->neg[c->neg_next].at_ms = now_ms ? now_ms : 1;
    c->neg_next = (c->neg_next + 1) % VG_CG_NEG_MAX;
    return NULL;
}

int vg_cgnames_known(const struct vg_cgnames *c, __u64 id)
{
    return find(c, id) != NULL;
}

int vg_cgnames_gone(const struct vg_cgnames *c, __u64 id, uint64_t gen)
{
    return c->walks > gen && c->complete && !find(c, id);
}

int vg_cgnames_sweep(struct vg_cgnames *c, int64_t now_ms)
{
    if (!c->root[0] || (c->walked_ms && now_ms - c->walked_ms < VG_CG_SWEEP_MS))
        return 0;
    int rc = rewalk(c, now_ms);
    return rc < 0 ? rc : 1;
}

void vg_cgnames_name_top(struct vg_cgnames *c, const __u64 *ids, size_t n, int64_t now_ms,
                         char (*names)[VG_CG_NAME_MAX + 1])
{
    int budget = 1;
    /* Copied at once: a later lookup may walk again and free the cache's strings. */
    for (size_t i = 0; i < n; i++) {
        const char *name = vg_cgnames_get(c, ids[i], now_ms, &budget);
        snprintf(names[i], sizeof names[i], "%s", name ? name : "");
        for (size_t j = 0; j < i && names[i][0]; j++)
            if (strcmp(names[i], names[j]) == 0)
                names[i][0] = '\0';
    }
}

struct vg_cgnames *vg_bpf_cgnames(void)
{
    static struct vg_cgnames names;
    static int found; /* 0: not looked yet, 1: found, -1: none */
    if (found == 0) {
        char root[PATH_MAX], err[VG_ERRLEN], q[VG_ERRLEN + 8];
        if (vg_cgroup2_mount(root, sizeof root, err, sizeof err) == 0) {
            vg_cgnames_init(&names, root);
            found = 1;
        } else {
            vg_info("per-cgroup eBPF metrics off", "reason=%s", vg_log_quote(q, sizeof q, err));
            found = -1;
        }
    }
    return found > 0 ? &names : NULL;
}
