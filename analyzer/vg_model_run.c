#include "vg_model_run.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vg_engine.h"
#include "vg_k.h"
#include "vg_models.h"
#include "vg_util.h"

/* ---- what rules read (vg_engine_set_host_models) ---- */

static int rule_score(void *ud, const char *host, const char *model, double *out)
{
    struct vg_model_run *r = ud;
    struct vg_model_score s;
    if (vg_models_score(r->models, host, model, &s) < 0 || !s.warm)
        return -ENOENT; /* missing: a condition on it is neither true nor false */
    *out = s.score;
    return 0;
}

static size_t rule_top(void *ud, const char *host, const char *model, const char **names,
                       double *shares, size_t max)
{
    struct vg_model_run *r = ud;
    struct vg_model_score s;
    if (vg_models_score(r->models, host, model, &s) < 0)
        return 0;
    size_t n = s.n_top < max ? s.n_top : max;
    for (size_t i = 0; i < n; i++) {
        names[i] = s.top[i];
        shares[i] = s.top_share[i];
    }
    return n;
}

int vg_model_run_check(const struct vg_model_run_params *p, char *err, size_t errlen)
{
    if (!p->set || !*p->set || !vg_models_set_has(p->set, "mv"))
        return 0; /* only mv computes on a backend */
    char why[VG_ERRLEN];
    int rc = vg_k_check(p->backend, why, sizeof(why));
    return rc < 0 ? vg_err(err, errlen, rc, "model.backend: %s", why) : 0;
}

int vg_model_run_open(struct vg_model_run *r, struct vg_engine *e,
                      const struct vg_model_run_params *p, char *err, size_t errlen)
{
    *r = (struct vg_model_run){.engine = e, .group_label = p->group_label};
    if (!p->set || !*p->set)
        return 0;
    if (vg_models_set_has(p->set, "mv")) {
        if (!(r->k = calloc(1, sizeof(*r->k))))
            return vg_err(err, errlen, -ENOMEM, "out of memory");
        char why[VG_ERRLEN];
        vg_k_cpu_set_threads(p->threads);
        int rc = vg_k_open(r->k, p->backend, why, sizeof(why)); /* logs the choice */
        if (rc < 0) {
            free(r->k);
            r->k = NULL;
            return vg_err(err, errlen, rc, "model.backend: %s", why);
        }
    }
    struct vg_model_env env = p->env;
    env.engine = e;
    env.k = r->k;
    int rc = vg_models_new(&r->models, p->set, &env, err, errlen);
    if (rc < 0) {
        vg_model_run_close(r);
        return rc;
    }
    struct vg_engine_host_models hm = {r, rule_score, rule_top};
    vg_engine_set_host_models(e, &hm);
    return 0;
}

int vg_model_run_feed(struct vg_model_run *r, const struct vg_wire_msg *m, char *err, size_t errlen)
{
    if (!r->models || vg_engine_is_duplicate(r->engine, m))
        return 0;
    const char *group = NULL;
    for (size_t i = 0; r->group_label && i < m->n_labels; i++)
        if (strcmp(m->labels[i].key, r->group_label) == 0)
            group = m->labels[i].value;
    struct vg_model_tick t = {m->host, group, m->ts_ms, m->metrics, m->n_metrics};
    int rc = vg_models_update(r->models, &t, err, errlen);
    if (rc == 0)
        return 0;
    /* A backend failure leaves a model unusable; rules reading it find it missing from here on,
     * as they would a model that is not warm yet. */
    vg_engine_set_host_models(r->engine, NULL);
    vg_models_free(r->models);
    r->models = NULL;
    return rc;
}

static int engine_holds(void *ud, const char *host)
{
    struct vg_engine_host info;
    return vg_engine_describe_host(ud, host, &info, NULL, NULL) == 0;
}

size_t vg_model_run_prune(struct vg_model_run *r)
{
    return r->models ? vg_models_hosts_prune(r->models, engine_holds, r->engine) : 0;
}

void vg_model_run_close(struct vg_model_run *r)
{
    if (r->engine && r->models)
        vg_engine_set_host_models(r->engine, NULL);
    vg_models_free(r->models);
    r->models = NULL;
    if (r->k) {
        vg_k_close(r->k);
        free(r->k);
        r->k = NULL;
    }
}
