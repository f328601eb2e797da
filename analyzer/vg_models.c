#include "vg_models.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vg_engine_state.h"
#include "vg_log.h"
#include "vg_rule.h"
#include "vg_rule_load.h"
#include "vg_rule_suggest.h"
#include "vg_util.h"

const struct vg_model_ops *const vg_models[] = {
    &vg_model_series,
    &vg_model_mv,
    NULL,
};

const struct vg_model_ops *vg_model_find(const char *name)
{
    for (size_t i = 0; vg_models[i]; i++)
        if (strcmp(vg_models[i]->name, name) == 0)
            return vg_models[i];
    return NULL;
}

#define MAX_MODELS 8

struct vg_models {
    const struct vg_model_ops *ops[MAX_MODELS];
    void *inst[MAX_MODELS];
    size_t n;
    int lockfd; /* env->dir/.lock, or -1 */
};

static void known(char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; vg_models[i] && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", vg_models[i]->name);
}

int vg_models_check_set(const char *set, char *err, size_t errlen)
{
    char *buf = strdup(set ? set : "");
    if (!buf)
        return vg_err(err, errlen, -ENOMEM, "model.set: out of memory");
    const struct vg_model_ops *seen[MAX_MODELS];
    size_t n = 0;
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ", ", &save); tok && !rc; tok = strtok_r(NULL, ", ", &save)) {
        const struct vg_model_ops *o = vg_model_find(tok);
        char names[128];
        if (!o) {
            known(names, sizeof(names));
            rc = vg_err(err, errlen, -EINVAL, "model.set: unknown model '%s' (known: %s)", tok,
                        names);
            break;
        }
        for (size_t i = 0; i < n && !rc; i++)
            if (seen[i] == o)
                rc = vg_err(err, errlen, -EINVAL, "model.set: '%s' named twice", tok);
        if (!rc && n == MAX_MODELS)
            rc = vg_err(err, errlen, -EINVAL, "model.set: more than %d models", MAX_MODELS);
        if (!rc)
            seen[n++] = o;
    }
    free(buf);
    return rc;
}

int vg_models_set_has(const char *set, const char *model)
{
    size_t n = strlen(model);
    for (const char *p = set; p && *p;) {
        p += strspn(p, ", ");
        size_t l = strcspn(p, ", ");
        if (l == n && strncmp(p, model, n) == 0)
            return 1;
        p += l;
    }
    return 0;
}

size_t vg_models_check_rules(const struct vg_rule_set *rules, const char *set,
                             struct vg_rule_errlist *el)
{
    const char *names[MAX_MODELS];
    size_t nn = 0, bad = 0;
    for (size_t i = 0; vg_models[i] && nn < MAX_MODELS; i++)
        names[nn++] = vg_models[i]->name;
    char all[128];
    known(all, sizeof(all));
    for (size_t i = 0; rules && i < vg_rule_set_host_model_count(rules); i++) {
        const char *where = "", *m = vg_rule_set_host_model(rules, i, &where);
        char line[PATH_MAX + 512], hint[160] = "";
        if (!vg_model_find(m)) {
            const char *s = vg_rule_suggest(m, names, nn);
            if (s)
                snprintf(hint, sizeof(hint), "did you mean '%s'? ", s);
            snprintf(line, sizeof(line),
                     "%s: value(\"host:%.100s\"): no host model '%.100s' (%sthe models are %s)",
                     where, m, m, hint, all);
        } else if (set && !vg_models_set_has(set, m)) {
            snprintf(line, sizeof(line),
                     "%s: value(\"host:%s\"): model '%s' is not in model.set (it runs: %.100s): "
                     "the condition could never hold; add it to model.set",
                     where, m, m, *set ? set : "none");
        } else {
            continue;
        }
        vg_rule_errlist_add(el, line);
        bad++;
    }
    return bad;
}

int vg_models_new(struct vg_models **out, const char *set, const struct vg_model_env *env,
                  char *err, size_t errlen)
{
    int rc = vg_models_check_set(set, err, errlen);
    if (rc < 0)
        return rc;
    struct vg_models *ms = calloc(1, sizeof(*ms));
    char *buf = strdup(set ? set : "");
    if (!ms || !buf) {
        free(ms);
        free(buf);
        return vg_err(err, errlen, -ENOMEM, "model.set: out of memory");
    }
    ms->lockfd = -1;
    /* Two analyzers on one model.dir would overwrite each other's checkpoints, each resuming
     * the other's model at its next start: the second one is refused. A directory that cannot
     * be locked (missing, not writable) cannot take checkpoints either; their writes say so. */
    if (env && env->dir && *env->dir) {
        char why[VG_ERRLEN];
        rc = vg_dir_lock(env->dir, &ms->lockfd, why, sizeof(why));
        if (rc == -EBUSY) {
            free(ms);
            free(buf);
            return vg_err(err, errlen, rc, "model.dir: %s: run one model.dir per analyzer", why);
        }
        if (rc < 0)
            vg_warn("model.dir not locked", "reason=\"%s\"", why);
        rc = 0;
    }
    char *save = NULL;
    for (char *tok = strtok_r(buf, ", ", &save); tok && !rc; tok = strtok_r(NULL, ", ", &save)) {
        const struct vg_model_ops *o = vg_model_find(tok); /* checked above */
        if (!(rc = o->create(&ms->inst[ms->n], env, err, errlen)))
            ms->ops[ms->n++] = o;
    }
    free(buf);
    if (rc) {
        vg_models_free(ms);
        return rc;
    }
    *out = ms;
    return 0;
}

void vg_models_free(struct vg_models *ms)
{
    if (!ms)
        return;
    for (size_t i = 0; i < ms->n; i++)
        ms->ops[i]->destroy(ms->inst[i]);
    if (ms->lockfd >= 0)
        close(ms->lockfd);
    free(ms);
}

size_t vg_models_count(const struct vg_models *ms)
{
    return ms ? ms->n : 0;
}

const struct vg_model_ops *vg_models_ops(const struct vg_models *ms, size_t i)
{
    return ms->ops[i];
}

void *vg_models_inst(const struct vg_models *ms, size_t i)
{
    return ms->inst[i];
}

void *vg_models_find(const struct vg_models *ms, const char *name)
{
    for (size_t i = 0; ms && i < ms->n; i++)
        if (strcmp(ms->ops[i]->name, name) == 0)
            return ms->inst[i];
    return NULL;
}

int vg_models_update(struct vg_models *ms, const struct vg_model_tick *t, char *err, size_t errlen)
{
    for (size_t i = 0; ms && i < ms->n; i++) {
        int rc = ms->ops[i]->update(ms->inst[i], t, err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int vg_models_score(const struct vg_models *ms, const char *host, const char *name,
                    struct vg_model_score *out)
{
    for (size_t i = 0; ms && i < ms->n; i++)
        if (strcmp(ms->ops[i]->name, name) == 0)
            return ms->ops[i]->score(ms->inst[i], host, out);
    return -ENOENT;
}

int vg_models_save(struct vg_models *ms, char *err, size_t errlen)
{
    int first = 0;
    for (size_t i = 0; ms && i < ms->n; i++) {
        char why[VG_ERRLEN];
        /* Asked to fit behind "model NAME: " in err, a failed write's message shortens its path
         * rather than lose its cause (vg_atomicfile). */
        size_t pre = strlen("model : ") + strlen(ms->ops[i]->name);
        size_t left = errlen > pre ? errlen - pre : sizeof(why);
        int rc = ms->ops[i]->save(ms->inst[i], why, left < sizeof(why) ? left : sizeof(why));
        if (rc < 0 && !first)
            first = vg_err(err, errlen, rc, "model %s: %s", ms->ops[i]->name, why);
    }
    return first;
}

int vg_models_load(struct vg_models *ms, char *err, size_t errlen)
{
    int total = 0;
    for (size_t i = 0; ms && i < ms->n; i++) {
        char why[VG_ERRLEN];
        int rc = ms->ops[i]->load(ms->inst[i], why, sizeof(why));
        if (rc < 0)
            return vg_err(err, errlen, rc, "model %s: %s", ms->ops[i]->name, why);
        total += rc;
    }
    return total;
}

int vg_models_host_save(const struct vg_models *ms, const char *host, struct vg_engine_blob *out,
                        size_t max)
{
    size_t k = 0;
    for (size_t i = 0; ms && i < ms->n && k < max; i++) {
        if (!ms->ops[i]->host_save)
            continue;
        unsigned char *buf = NULL;
        size_t len = 0;
        uint32_t version = 0;
        int rc = ms->ops[i]->host_save(ms->inst[i], host, &buf, &len, &version);
        if (rc == -ENOENT)
            continue;
        if (rc < 0) {
            vg_models_host_blobs_free(out, k);
            return rc;
        }
        out[k++] = (struct vg_engine_blob){ms->ops[i]->name, version, buf, len};
    }
    return (int)k;
}

void vg_models_host_blobs_free(struct vg_engine_blob *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((void *)b[i].data);
        b[i].data = NULL;
    }
}

int vg_models_host_load(struct vg_models *ms, const char *host, const struct vg_engine_blob *b,
                        char *err, size_t errlen)
{
    for (size_t i = 0; ms && i < ms->n; i++) {
        if (strcmp(ms->ops[i]->name, b->type) != 0)
            continue;
        if (!ms->ops[i]->host_load)
            return -ENOENT;
        return ms->ops[i]->host_load(ms->inst[i], host, b->version, b->data, b->len, err, errlen);
    }
    return -ENOENT;
}

size_t vg_models_hosts_prune(struct vg_models *ms, int (*keep)(void *ud, const char *host),
                             void *ud)
{
    size_t n = 0;
    for (size_t i = 0; ms && i < ms->n; i++)
        if (ms->ops[i]->hosts_prune)
            n += ms->ops[i]->hosts_prune(ms->inst[i], keep, ud);
    return n;
}

void vg_models_host_drop(struct vg_models *ms, const char *host)
{
    for (size_t i = 0; ms && i < ms->n; i++)
        if (ms->ops[i]->host_drop)
            ms->ops[i]->host_drop(ms->inst[i], host);
}
