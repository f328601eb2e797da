#include "api_metrics.h"
#include "analyzer_models.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vg_fleet.h"
#include "vg_k.h"
#include "vg_log.h"
#include "vg_models.h"
#include "vg_util.h"

/* ---- what rules read (vg_engine_set_host_models) ---- */

static int rule_score(void *ud, const char *host, const char *model, double *out)
{
    struct analyzer *a = ud;
    struct vg_model_score s;
    if (vg_models_score(a->models, host, model, &s) < 0 || !s.warm)
        return -ENOENT; /* missing: a condition on it is neither true nor false */
    *out = s.score;
    return 0;
}

static size_t rule_top(void *ud, const char *host, const char *model, const char **names,
                       double *shares, size_t max)
{
    struct analyzer *a = ud;
    struct vg_model_score s;
    if (vg_models_score(a->models, host, model, &s) < 0)
        return 0;
    size_t n = s.n_top < max ? s.n_top : max;
    for (size_t i = 0; i < n; i++) {
        names[i] = s.top[i];
        shares[i] = s.top_share[i];
    }
    return n;
}

static int set_wants(const char *set, const char *name)
{
    size_t l = strlen(name);
    for (const char *p = set; (p = strstr(p, name)); p += l)
        if ((p == set || p[-1] == ',' || p[-1] == ' ') && (p[l] == 0 || p[l] == ',' || p[l] == ' '))
            return 1;
    return 0;
}

int analyzer_models_open(struct analyzer *a, char *err, size_t errlen)
{
    const struct analyzer_cfg *c = &a->cfg;
    if (!c->model_set || !*c->model_set)
        return 0;
    if (set_wants(c->model_set, "mv")) {
        if (!(a->k = calloc(1, sizeof(*a->k))))
            return vg_err(err, errlen, -ENOMEM, "out of memory");
        char why[VG_ERRLEN];
        vg_k_cpu_set_threads((int)c->model_threads);
        int rc = vg_k_open(a->k, c->model_backend, why, sizeof(why)); /* logs the choice */
        if (rc < 0) {
            free(a->k);
            a->k = NULL;
            return vg_err(err, errlen, rc, "model.backend: %s", why);
        }
    }
    const char *dir = c->model_dir && *c->model_dir ? c->model_dir : NULL;
    /* The unit's StateDirectory makes /var/lib/vigil, not the models' directory in it. A
     * failure here shows again, with its reason, when the first checkpoint is written. */
    if (dir && mkdir(dir, 0750) < 0 && errno != EEXIST)
        vg_warn("model.dir not created", "dir=%s reason=\"%s\"", dir, strerror(errno));
    struct vg_model_env env = {
        .engine = a->engine,
        .k = a->k,
        .dir = dir,
        .window = (uint32_t)c->model_window,
        .max_metrics = (uint32_t)c->model_max_metrics,
        .metrics = c->model_metrics,
        .max_hosts = (uint32_t)c->max_hosts,
        .max_groups = 1024,
        .top_k = (uint32_t)c->model_top_k,
        .calib_init = (uint32_t)c->model_calib_init,
        .state_weight = c->model_state_weight,
        .norm_ticks = (uint32_t)c->model_norm_ticks,
        .queue_ticks = (uint32_t)c->model_queue_ticks,
        .train = c->model_train,
        .seed = 1,
    };
    int rc = vg_models_new(&a->models, c->model_set, &env, err, errlen);
    if (rc < 0)
        return rc;
    int loaded = vg_models_load(a->models, err, errlen);
    if (loaded < 0)
        return loaded;
    vg_info("host models", "set=%s backend=%s checkpoints=%s resumed_groups=%d", c->model_set,
            a->k ? a->k->ops->name : "none", dir ? dir : "off", loaded);
    struct vg_engine_host_models hm = {a, rule_score, rule_top};
    vg_engine_set_host_models(a->engine, &hm);
    a->next_model_save = vg_mono_ms() + c->model_checkpoint_ms;
    return 0;
}

void analyzer_models_feed(struct analyzer *a, const struct vg_wire_msg *m)
{
    if (!a->models)
        return;
    const char *group = NULL;
    for (size_t i = 0; i < m->n_labels; i++)
        if (strcmp(m->labels[i].key, a->cfg.model_group_label) == 0)
            group = m->labels[i].value;
    struct vg_model_tick t = {m->host, group, m->ts_ms, m->metrics, m->n_metrics};
    char err[VG_ERRLEN], q[VG_ERRLEN + 8];
    if (vg_models_update(a->models, &t, err, sizeof(err)) == 0)
        return;
    /* A backend failure leaves a model unusable; the per-series path goes on without it. */
    vg_error("host models failed and are turned off; per-series scoring continues", "reason=%s",
             vg_log_quote(q, sizeof(q), err));
    vg_engine_set_host_models(a->engine, NULL);
    vg_models_free(a->models);
    a->models = NULL;
}

static void save(struct analyzer *a)
{
    char err[VG_ERRLEN], q[VG_ERRLEN + 8];
    if (vg_models_save(a->models, err, sizeof(err)) < 0)
        vg_warn("model checkpoint not written", "reason=%s", vg_log_quote(q, sizeof(q), err));
}

void analyzer_models_tick(struct analyzer *a, int64_t now)
{
    if (!a->models || now < a->next_model_save)
        return;
    a->next_model_save = now + a->cfg.model_checkpoint_ms;
    if (a->cfg.model_dir && *a->cfg.model_dir)
        save(a);
}

void analyzer_models_close(struct analyzer *a)
{
    if (a->models && a->cfg.model_dir && *a->cfg.model_dir) {
        save(a);
        vg_info("model checkpoints written", "dir=%s", a->cfg.model_dir);
    }
    if (a->engine)
        vg_engine_set_host_models(a->engine, NULL);
    vg_models_free(a->models);
    a->models = NULL;
    if (a->k) {
        vg_k_close(a->k);
        free(a->k);
        a->k = NULL;
    }
}

struct mctx {
    struct analyzer *a;
    FILE *f;
};

static void host_lines(void *ud, const struct vg_engine_host *h)
{
    struct mctx *c = ud;
    for (size_t i = 0; i < vg_models_count(c->a->models); i++) {
        const char *name = vg_models_ops(c->a->models, i)->name;
        struct vg_model_score s;
        if (vg_models_score(c->a->models, h->name, name, &s) == 0)
            fprintf(c->f, "vigil_host_score{host=\"%s\",model=\"%s\"} %.6f\n", h->name, name,
                    s.score);
    }
}

void analyzer_models_metrics(struct analyzer *a, FILE *f)
{
    if (!a->models)
        return;
    struct mctx c = {a, f};
    vg_engine_each_host(a->engine, host_lines, &c);
    void *mv = vg_models_find(a->models, "mv");
    if (!mv)
        return;
    struct vg_fleet_stats st;
    vg_model_mv_stats(mv, &st);
    vg_api_counter(f, "vigil_model_steps_total", st.steps);
    vg_api_gauge(f, "vigil_model_hosts", (double)st.hosts);
    vg_api_gauge(f, "vigil_model_groups", (double)st.groups);
    vg_api_counter(f, "vigil_model_hosts_refused_total", st.hosts_refused);
    vg_api_counter(f, "vigil_model_checkpoints_refused_total", st.ckpt_refused);
    vg_api_counter(f, "vigil_model_checkpoints_loaded_total", st.ckpt_loaded);
    vg_api_counter(f, "vigil_model_steps_forced_total", st.steps_forced);
    vg_api_gauge(f, "vigil_model_ticks_queued", (double)st.ticks_queued);
    vg_api_gauge(f, "vigil_model_ticks_queued_max", (double)st.ticks_queued_max);
    vg_api_gauge(f, "vigil_model_hosts_absent", (double)st.hosts_absent);
    vg_api_counter(f, "vigil_model_ticks_skipped_total", st.ticks_skipped);
    vg_api_counter(f, "vigil_model_resets_total", st.model_resets);
}

json_t *analyzer_models_host_json(struct analyzer *a, const char *host)
{
    json_t *o = json_object();
    for (size_t i = 0; i < vg_models_count(a->models); i++) {
        const char *name = vg_models_ops(a->models, i)->name;
        struct vg_model_score s;
        if (vg_models_score(a->models, host, name, &s) < 0)
            continue;
        json_t *m = json_object(), *top = json_array();
        json_object_set_new(m, "score", isfinite(s.score) ? json_real(s.score) : json_null());
        json_object_set_new(m, "raw", isfinite(s.raw) ? json_real(s.raw) : json_null());
        json_object_set_new(m, "warm", json_boolean(s.warm));
        json_object_set_new(m, "ts_ms", json_integer(s.ts_ms));
        for (uint32_t q = 0; q < s.n_top; q++) {
            json_t *t = json_object();
            json_object_set_new(t, "name", json_string(s.top[q]));
            json_object_set_new(t, "share", json_real(s.top_share[q]));
            json_array_append_new(top, t);
        }
        json_object_set_new(m, "top_metrics", top);
        json_object_set_new(o, name, m);
    }
    return o;
}

json_t *analyzer_models_status_json(struct analyzer *a)
{
    if (!a->models)
        return json_null();
    json_t *o = json_object();
    json_object_set_new(o, "set", json_string(a->cfg.model_set));
    json_object_set_new(o, "backend", a->k ? json_string(a->k->desc) : json_null());
    void *mv = vg_models_find(a->models, "mv");
    if (mv) {
        struct vg_fleet_stats st;
        vg_model_mv_stats(mv, &st);
        json_t *m = json_object();
        json_object_set_new(m, "groups", json_integer((json_int_t)st.groups));
        json_object_set_new(m, "hosts", json_integer((json_int_t)st.hosts));
        json_object_set_new(m, "steps", json_integer((json_int_t)st.steps));
        json_object_set_new(m, "checkpoints_loaded", json_integer((json_int_t)st.ckpt_loaded));
        json_object_set_new(m, "checkpoints_refused", json_integer((json_int_t)st.ckpt_refused));
        json_object_set_new(m, "resets", json_integer((json_int_t)st.model_resets));
        json_object_set_new(m, "ticks_queued", json_integer((json_int_t)st.ticks_queued));
        json_object_set_new(o, "mv", m);
    }
    return o;
}
