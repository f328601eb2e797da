#include "vg_fleet_ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vg_ckpt.h"
#include "vg_colsel.h"
#include "vg_fleet_int.h"
#include "vg_log.h"
#include "vg_mv_ckpt.h"
#include "vg_util.h"

#define CKPT_KIND  "vg_fleet"
#define TAG_GROUP  VG_CKPT_TAG('F', 'L', 'G', 'R')
#define TAG_COLS   VG_CKPT_TAG('F', 'L', 'M', 'N')
#define TAG_HOSTS  VG_CKPT_TAG('F', 'L', 'H', 'N')
#define TAG_HSCORE VG_CKPT_TAG('F', 'L', 'H', 'S')

/* ---- checkpoints ---- */

/* DIR/<group>.ckpt, with characters outside [A-Za-z0-9._-] as %XX so names map one to one. A
 * name that would not fit in a file name (255 bytes; a long label, or one in UTF-8, whose bytes
 * triple) keeps its first 200 bytes and ends in a hash of the whole name instead. "Fit" counts
 * the ".tmp" of the temp file the checkpoint is written through (vg_atomicfile): a name of 247 to
 * 250 bytes, whose <group>.ckpt alone fits, could never be saved otherwise. Names that were
 * written before that (up to 246 bytes) keep their files. The group's name is inside the file:
 * loading never reads it from the file name. */
static int group_path(const struct vg_fleet *f, const char *group, char *out, size_t len)
{
    size_t o = (size_t)snprintf(out, len, "%s/", f->dir), start = o;
    for (const unsigned char *s = (const unsigned char *)group; *s && o + 4 < len; s++) {
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
            *s == '_' || *s == '-' || (*s == '.' && s != (const unsigned char *)group))
            out[o++] = (char)*s;
        else
            o += (size_t)snprintf(out + o, len - o, "%%%02X", *s);
    }
    if (o - start + strlen(".ckpt.tmp") > 255 && start + 200 + 18 < len) {
        uint64_t h = 1469598103934665603ull;
        for (const unsigned char *s = (const unsigned char *)group; *s; s++)
            h = (h ^ *s) * 1099511628211ull;
        o = start + 200;
        o -= out[o - 1] == '%' ? 1 : out[o - 2] == '%' ? 2 : 0; /* not inside a %XX */
        o += (size_t)snprintf(out + o, len - o, "~%016llx", (unsigned long long)h);
    }
    if (o + 6 > len)
        return -ENAMETOOLONG;
    memcpy(out + o, ".ckpt", 6);
    return 0;
}

static int join(char **names, uint32_t n, char **out, size_t *len)
{
    size_t l = 0;
    for (uint32_t i = 0; i < n; i++)
        l += strlen(names[i]) + 1;
    char *b = malloc(l ? l : 1), *p = b;
    if (!b)
        return -ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        size_t s = strlen(names[i]) + 1;
        memcpy(p, names[i], s);
        p += s;
    }
    *out = b;
    *len = l;
    return 0;
}

/* Every row's vg_hscore state, in row order, one section. */
static int save_hscores(const struct group *g, struct vg_ckpt_w *w, char *err, size_t errlen)
{
    size_t one = vg_hscore_packed_size(g->m), len = one * g->n;
    unsigned char *b = malloc(len ? len : 1);
    if (!b)
        return vg_err(err, errlen, -ENOMEM, "checkpoint: out of memory");
    for (uint32_t i = 0; i < g->n; i++)
        vg_hscore_pack(&g->hs[i], b + one * i);
    int rc = vg_ckpt_w_add(w, TAG_HSCORE, b, len) ? -ENOMEM : 0;
    free(b);
    return rc ? vg_err(err, errlen, rc, "checkpoint: out of memory") : 0;
}

/* Checks the host scores' section of a checkpoint of n hosts of m metrics: its size and every
 * host's state, unpacked into a scratch state. */
static int check_hscores(const char *path, const void *d, size_t len, uint32_t n, uint32_t m,
                         char *err, size_t errlen)
{
    size_t one = vg_hscore_packed_size(m);
    if (len != one * n)
        return vg_err(err, errlen, -EINVAL,
                      "%s: host calibration section has %zu bytes, expected %zu (%u hosts)", path,
                      len, one * n, n);
    struct vg_hscore tmp;
    if (vg_hscore_init(&tmp, m) < 0)
        return vg_err(err, errlen, -ENOMEM, "%s: out of memory", path);
    char why[VG_ERRLEN];
    int rc = 0;
    for (uint32_t i = 0; i < n && !rc; i++)
        if ((rc = vg_hscore_unpack(&tmp, (const unsigned char *)d + one * i, one, why,
                                   sizeof(why))) < 0)
            vg_err(err, errlen, rc, "%s: host %u: %s", path, i, why);
    vg_hscore_free(&tmp);
    return rc;
}

static int save_group(struct vg_fleet *f, struct group *g, char *err, size_t errlen)
{
    char path[4096];
    if (group_path(f, g->name, path, sizeof(path)) < 0)
        return vg_err(err, errlen, -ENAMETOOLONG, "group %s: checkpoint path too long", g->name);
    struct vg_ckpt_w *w;
    if (vg_ckpt_w_new(&w, CKPT_KIND) < 0)
        return vg_err(err, errlen, -ENOMEM, "checkpoint: out of memory");
    char *cols = NULL, *hosts = NULL;
    size_t cl = 0, hl = 0;
    int rc = join(g->cols, g->m, &cols, &cl);
    if (!rc)
        rc = join(g->hosts, g->n, &hosts, &hl);
    if (!rc && (vg_ckpt_w_add(w, TAG_GROUP, g->name, strlen(g->name)) ||
                vg_ckpt_w_add(w, TAG_COLS, cols, cl) || vg_ckpt_w_add(w, TAG_HOSTS, hosts, hl)))
        rc = -ENOMEM;
    if (rc)
        vg_err(err, errlen, rc, "checkpoint: out of memory");
    if (!rc)
        rc = vg_mv_save(g->mv, w, err, errlen);
    if (!rc && f->p.host_score)
        rc = save_hscores(g, w, err, errlen);
    if (!rc)
        rc = vg_ckpt_w_commit(w, path, err, errlen);
    free(cols);
    free(hosts);
    vg_ckpt_w_free(w);
    return rc;
}

int vg_fleet_save(struct vg_fleet *f, char *err, size_t errlen)
{
    if (!f->dir)
        return 0;
    int first = 0;
    for (size_t i = 0; i < f->groups.cap; i++) {
        if (!f->groups.keys[i])
            continue;
        char why[VG_ERRLEN];
        /* No longer than err: a failed write's message then fits by shortening its path rather
         * than lose its cause (vg_atomicfile). */
        int rc = save_group(f, f->groups.vals[i], why, errlen < sizeof(why) ? errlen : sizeof(why));
        if (rc < 0) {
            if (!first)
                first = vg_err(err, errlen, rc, "%s", why);
            continue;
        }
        f->st.ckpt_saved++;
    }
    return first;
}

int vg_fleet_ckpt_remove(const struct vg_fleet *f, const char *group)
{
    if (!f->dir)
        return 0;
    char path[4096];
    if (group_path(f, group, path, sizeof(path)) < 0)
        return -ENAMETOOLONG;
    if (unlink(path) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

/* Splits a section of NUL-terminated names; checks each with valid(). Returns the count or -1. */
static long split(const void *data, size_t len, char ***out, int (*valid)(const char *))
{
    const char *s = data;
    if (len && s[len - 1] != 0)
        return -1;
    long n = 0;
    for (size_t i = 0; i < len; i++)
        n += s[i] == 0;
    char **v = calloc(n ? (size_t)n : 1, sizeof(*v));
    if (!v)
        return -1;
    size_t o = 0;
    for (long i = 0; i < n; i++) {
        if (valid(s + o) != 0 || !(v[i] = strdup(s + o))) {
            for (long j = 0; j < i; j++)
                free(v[j]);
            free(v);
            return -1;
        }
        o += strlen(s + o) + 1;
    }
    *out = v;
    return n;
}

/* A group's columns are chosen once, by the patterns (model.metrics) of the analyzer that made it.
 * A checkpoint written under other patterns (an analyzer from before model.metrics took the first
 * names in byte order, or the operator changed the key) would keep those columns for good, and the
 * configured patterns would never take effect for that group. The patterns cannot say which
 * names the first host offered, but they fix which of the columns they keep and in what order:
 * columns they leave out, or put in another order, were chosen by other patterns. 0 when the
 * columns agree; -EINVAL with err saying where they differ; -ENOMEM. */
static int cols_match_patterns(const struct vg_fleet *f, const char *path, char **cols, long m,
                               char *err, size_t errlen)
{
    const char **v = malloc((size_t)m * sizeof(*v));
    if (!v)
        return vg_err(err, errlen, -ENOMEM, "%s: out of memory", path);
    for (long j = 0; j < m; j++)
        v[j] = cols[j];
    size_t u = 0;
    int rc = vg_colsel_pick(f->sel, v, (size_t)m, (size_t)m, &u);
    if (rc < 0) {
        free(v);
        return vg_err(err, errlen, rc, "%s: out of memory", path);
    }
    /* Checked once per file at start, m at most model.max_metrics: the square is cheap. */
    long dropped = m - (long)u, first_dropped = -1;
    for (long j = 0; dropped && first_dropped < 0 && j < m; j++) {
        size_t i = 0;
        while (i < u && strcmp(v[i], cols[j]) != 0)
            i++;
        if (i == u)
            first_dropped = j;
    }
    long at = 0;
    while (at < (long)u && strcmp(v[at], cols[at]) == 0)
        at++;
    if (first_dropped >= 0)
        rc = vg_err(err, errlen, -EINVAL,
                    "%s: its columns were chosen by other model.metrics patterns (these leave out "
                    "%ld of its %ld columns, e.g. %s)",
                    path, dropped, m, cols[first_dropped]);
    else if (at < (long)u)
        rc = vg_err(err, errlen, -EINVAL,
                    "%s: its columns were chosen by other model.metrics patterns (column %ld is "
                    "%s, these put %s there)",
                    path, at + 1, cols[at], v[at]);
    else if (dropped)
        rc = vg_err(err, errlen, -EINVAL, "%s: bad metric list (a column is listed twice)", path);
    free(v);
    return rc;
}

/* A file whose group's own file (group_path) is another one, left for the second pass of
 * vg_fleet_load. */
#define LOAD_DEFERRED 1

/* Loads the checkpoint at path. The group's name, once read, is copied into group. First pass
 * (own_only): a file that is not its group's own file is left alone (LOAD_DEFERRED); second pass:
 * it is loaded when its group is not loaded yet (loaded_from: group -> file it came from), so a
 * copy under another name (a backup, aaa.ckpt of web.ckpt) never outranks the group's own file
 * by directory order. 0, LOAD_DEFERRED, or -errno with err. */
static int load_one(struct vg_fleet *f, const char *path, int own_only,
                    const struct vg_strmap *loaded_from, char *group, size_t grouplen, char *err,
                    size_t errlen)
{
    struct vg_ckpt_r *r;
    group[0] = 0;
    int rc = vg_ckpt_r_open(&r, path, CKPT_KIND, err, errlen);
    if (rc < 0)
        return rc;
    const void *d;
    size_t len;
    char name[VG_WIRE_LABEL_VALUE_MAX + 1], **cols = NULL, **hosts = NULL;
    long m = -1, n = -1;
    struct group *g = NULL;
    if ((rc = vg_ckpt_r_get(r, TAG_GROUP, &d, &len, err, errlen)) < 0)
        goto out;
    if (len == 0 || len >= sizeof(name) || memchr(d, 0, len)) {
        rc = vg_err(err, errlen, -EINVAL, "%s: bad group name", path);
        goto out;
    }
    memcpy(name, d, len);
    name[len] = 0;
    snprintf(group, grouplen, "%s", name);
    char own[4096];
    int is_own = group_path(f, name, own, sizeof(own)) == 0 && strcmp(own, path) == 0;
    if (own_only && !is_own) {
        rc = LOAD_DEFERRED;
        goto out;
    }
    if (vg_strmap_get(&f->groups, name)) {
        const char *from = vg_strmap_get(loaded_from, name);
        rc = vg_err(err, errlen, -EEXIST, "%s holds group %s, already loaded from %s", path, name,
                    from ? from : "another file");
        goto out;
    }
    if ((rc = vg_ckpt_r_get(r, TAG_COLS, &d, &len, err, errlen)) < 0)
        goto out;
    m = split(d, len, &cols, vg_wire_name_valid);
    if (m < 1) {
        rc = vg_err(err, errlen, -EINVAL, "%s: bad metric list", path);
        goto out;
    }
    if (m > (long)f->p.max_metrics) {
        /* Not a corrupt file: written under a larger model.max_metrics (lowered since, or by
         * another analyzer), which is what the operator has to know. */
        rc = vg_err(err, errlen, -EINVAL,
                    "%s: checkpoint has %ld columns, model.max_metrics is %u (raise it to %ld "
                    "to keep this group's weights)",
                    path, m, f->p.max_metrics, m);
        goto out;
    }
    if ((rc = cols_match_patterns(f, path, cols, m, err, errlen)) < 0)
        goto out;
    if ((rc = vg_ckpt_r_get(r, TAG_HOSTS, &d, &len, err, errlen)) < 0)
        goto out;
    n = split(d, len, &hosts, vg_wire_host_valid);
    if (n < 0) {
        rc = vg_err(err, errlen, -EINVAL, "%s: bad host list", path);
        goto out;
    }
    for (long i = 0; i < n; i++)
        if (vg_strmap_get(&f->hosts, hosts[i])) {
            rc = vg_err(err, errlen, -EEXIST, "%s: host %s is already in another group", path,
                        hosts[i]);
            goto out;
        }
    /* A host twice in one group would own two rows, and dropping it would leave one behind. */
    struct vg_strmap seen;
    vg_strmap_init(&seen);
    for (long i = 0; i < n && !rc; i++) {
        if (vg_strmap_get(&seen, hosts[i]))
            rc = vg_err(err, errlen, -EINVAL, "%s: host %s is listed twice", path, hosts[i]);
        else if (vg_strmap_put(&seen, hosts[i], hosts[i]) < 0)
            rc = -ENOMEM;
    }
    vg_strmap_free(&seen, NULL);
    if (rc < 0)
        goto out;
    if (!(g = vg_fleet_group_alloc(name, cols, (uint32_t)m, f->p.queue_ticks))) {
        rc = -ENOMEM;
        goto out;
    }
    cols = NULL; /* the group owns them now */
    struct vg_mv_params want = f->p.mv;
    want.n_metrics = (uint32_t)m;
    /* A model.top_k change keeps the weights (they do not depend on it) but not the hosts'
     * calibrations: each was fitted on the mean of the old top_k errors. */
    struct vg_mv_params had;
    if ((rc = vg_mv_load(&g->mv, r, &want, &had, f->k, err, errlen)) < 0)
        goto out;
    int top_k_changed = had.score.top_k != want.score.top_k;
    if (vg_mv_n_hosts(g->mv) != (uint32_t)n) {
        rc = vg_err(err, errlen, -EINVAL, "%s: %ld host names for %u hosts", path, n,
                    vg_mv_n_hosts(g->mv));
        goto out;
    }
    const void *hsd = NULL;
    size_t hsl = 0;
    if (f->p.host_score && top_k_changed) {
        char q[2 * VG_WIRE_LABEL_VALUE_MAX + 8];
        vg_info("model.top_k changed: group resumes its weights, its hosts' calibration learns "
                "again",
                "group=%s hosts=%ld checkpoint_top_k=%u top_k=%u", vg_log_quote(q, sizeof(q), name),
                n, had.score.top_k, want.score.top_k);
    } else if (f->p.host_score) {
        if ((rc = vg_ckpt_r_get(r, TAG_HSCORE, &hsd, &hsl, err, errlen)) == -ENOENT) {
            rc = vg_err(err, errlen, -EINVAL,
                        "%s: no host calibration in this checkpoint (written by an older "
                        "version)",
                        path);
            goto out;
        }
        if (rc < 0 ||
            (rc = check_hscores(path, hsd, hsl, (uint32_t)n, (uint32_t)m, err, errlen)) < 0)
            goto out;
    }
    if (vg_strmap_put(&f->groups, name, g) < 0) {
        rc = -ENOMEM;
        goto out;
    }
    f->st.groups++;
    struct group *keep = g;
    g = NULL;
    if (top_k_changed)
        keep->calib_top_k = had.score.top_k;
    for (long i = 0; i < n; i++)
        if ((rc = vg_fleet_add_row(f, keep, hosts[i], err, errlen)) < 0)
            goto out;
    for (long i = 0; i < n; i++) {
        keep->last[i].age = 0;
        keep->last[i].score = NAN;
    }
    /* Checked above: cannot fail. */
    size_t one = vg_hscore_packed_size((size_t)m);
    for (long i = 0; hsd && i < n; i++)
        if ((rc = vg_hscore_unpack(&keep->hs[i], (const unsigned char *)hsd + one * (size_t)i, one,
                                   err, errlen)) < 0)
            goto out;
out:
    if (cols)
        for (long j = 0; j < m; j++)
            free(cols[j]);
    free(cols);
    for (long i = 0; hosts && i < n; i++)
        free(hosts[i]);
    free(hosts);
    vg_fleet_free_group(g);
    vg_ckpt_r_free(r);
    return rc;
}

/* Moves a refused checkpoint out of the way, to PATH.refused (PATH.refused.N when that is taken),
 * before its group starts fresh: the group's next checkpoint would overwrite it, and a file
 * refused by a temporary downgrade, or by a fault of this process (out of memory), may be the
 * newer model. Its name no longer ends in ".ckpt": it is not loaded again. The new name in out,
 * or "" when it stays (logged by the caller). 0 or -errno. */
static int keep_refused(const char *path, char *out, size_t outlen)
{
    out[0] = 0;
    for (unsigned n = 0; n < 1000; n++) {
        char to[4096];
        int l = n ? snprintf(to, sizeof(to), "%s.refused.%u", path, n)
                  : snprintf(to, sizeof(to), "%s.refused", path);
        if (l < 0 || (size_t)l >= sizeof(to))
            return -ENAMETOOLONG;
        /* An earlier refused file is kept too. The directory is this process's (model.dir's
         * lock, vg_models_new): nothing takes the name between the look and the rename. */
        if (access(to, F_OK) == 0)
            continue;
        if (errno != ENOENT)
            return -errno;
        if (rename(path, to) < 0)
            return -errno;
        snprintf(out, outlen, "%s", to);
        return 0;
    }
    return -EEXIST;
}

/* A refused file, logged once both passes are over: only then is it known whether its group
 * was resumed from another file or starts fresh. */
struct refusal {
    char path[4096];
    char group[VG_WIRE_LABEL_VALUE_MAX + 1];
    char why[VG_ERRLEN];
    char kept[4096 + 16];
    int krc;
};

/* A file of the second pass, newest first: of several files that are not their group's own,
 * the newest model is taken. */
struct later {
    char *path;
    struct timespec mtime;
};

static int newest_first(const void *a, const void *b)
{
    const struct timespec *x = &((const struct later *)a)->mtime,
                          *y = &((const struct later *)b)->mtime;
    if (x->tv_sec != y->tv_sec)
        return x->tv_sec < y->tv_sec ? 1 : -1;
    return x->tv_nsec < y->tv_nsec ? 1 : x->tv_nsec > y->tv_nsec ? -1 : 0;
}

static void log_refusal(const struct refusal *x, const struct vg_strmap *loaded_from)
{
    char q[VG_ERRLEN + 8], kq[4096 + 32], gq[2 * VG_WIRE_LABEL_VALUE_MAX + 8], fq[4096 + 32];
    const char *from = x->group[0] ? vg_strmap_get(loaded_from, x->group) : NULL;
    vg_log_quote(q, sizeof(q), x->why);
    vg_log_quote(kq, sizeof(kq), x->krc < 0 ? "" : x->kept);
    if (from) {
        vg_log_quote(gq, sizeof(gq), x->group);
        vg_warn("model checkpoint refused, its group resumes from another file",
                "group=%s loaded_from=%s reason=%s kept_as=%s", gq,
                vg_log_quote(fq, sizeof(fq), from), q, kq);
    } else {
        vg_warn("model checkpoint refused, that group starts fresh", "reason=%s kept_as=%s", q, kq);
    }
    if (x->krc < 0)
        vg_warn("refused model checkpoint not moved: the group's next checkpoint replaces it",
                "file=%s reason=\"%s\"", vg_log_quote(kq, sizeof(kq), x->path), strerror(-x->krc));
}

/* One load of path; a refusal is set aside (keep_refused) and added to *refs, to be logged once
 * both passes are over. 1: loaded; LOAD_DEFERRED + 1: left for the second pass; 0: refused. */
static int load_path(struct vg_fleet *f, const char *path, int own_only,
                     struct vg_strmap *loaded_from, struct refusal **refs, size_t *n_refs)
{
    char why[VG_ERRLEN] = "", group[VG_WIRE_LABEL_VALUE_MAX + 1];
    int rc = load_one(f, path, own_only, loaded_from, group, sizeof(group), why, sizeof(why));
    if (rc == LOAD_DEFERRED)
        return LOAD_DEFERRED + 1;
    if (rc == 0) {
        char *p = strdup(path);
        if (p && vg_strmap_put(loaded_from, group, p) < 0)
            free(p);
        f->st.ckpt_loaded++;
        return 1;
    }
    if (rc == -ENOMEM && !why[0])
        snprintf(why, sizeof why, "%.200s: out of memory", path);
    /* Out of memory too: that group starts fresh and the analyzer runs on, as for any
     * checkpoint it cannot use (docs/detectors.md). */
    f->st.ckpt_refused++;
    struct refusal *x = NULL, *grown = realloc(*refs, (*n_refs + 1) * sizeof(**refs));
    if (grown) {
        *refs = grown;
        x = &grown[(*n_refs)++];
    }
    struct refusal one;
    if (!x)
        x = &one;
    snprintf(x->path, sizeof(x->path), "%s", path);
    snprintf(x->group, sizeof(x->group), "%s", group);
    snprintf(x->why, sizeof(x->why), "%s", why);
    x->krc = keep_refused(path, x->kept, sizeof(x->kept));
    if (x == &one) /* no memory to wait: said now */
        log_refusal(x, loaded_from);
    return 0;
}

int vg_fleet_load(struct vg_fleet *f, char *err, size_t errlen)
{
    if (!f->dir)
        return 0;
    DIR *d = opendir(f->dir);
    if (!d) {
        if (errno == ENOENT)
            return 0; /* first start: nothing to resume */
        return vg_err(err, errlen, -errno, "%s: %s", f->dir, strerror(errno));
    }
    int loaded = 0;
    struct vg_strmap loaded_from; /* group -> the file it was loaded from */
    vg_strmap_init(&loaded_from);
    struct refusal *refs = NULL;
    struct later *later = NULL;
    size_t n_refs = 0, n_later = 0;
    struct dirent *e;
    /* First the files that are their group's own (group_path of the name inside), then the
     * others, newest first, for groups still without a model. */
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".ckpt") != 0 || e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", f->dir, e->d_name);
        int rc = load_path(f, path, 1, &loaded_from, &refs, &n_refs);
        if (rc == 1)
            loaded++;
        if (rc != LOAD_DEFERRED + 1)
            continue;
        struct stat sb;
        struct later *grown = realloc(later, (n_later + 1) * sizeof(*later));
        char *p = strdup(path);
        if (!grown || !p) {
            free(p);
            later = grown ? grown : later;
            /* Without memory to defer it: tried now, as before this order existed. */
            loaded += load_path(f, path, 0, &loaded_from, &refs, &n_refs) == 1;
            continue;
        }
        later = grown;
        later[n_later].path = p;
        later[n_later++].mtime = stat(path, &sb) == 0 ? sb.st_mtim : (struct timespec){0, 0};
    }
    closedir(d);
    /* later is NULL when nothing was deferred, and qsort's array must not be NULL (UBSan). */
    if (n_later > 1)
        qsort(later, n_later, sizeof(*later), newest_first);
    for (size_t i = 0; i < n_later; i++) {
        loaded += load_path(f, later[i].path, 0, &loaded_from, &refs, &n_refs) == 1;
        free(later[i].path);
    }
    free(later);
    for (size_t i = 0; i < n_refs; i++)
        log_refusal(&refs[i], &loaded_from);
    free(refs);
    vg_strmap_free(&loaded_from, free);
    return loaded;
}
