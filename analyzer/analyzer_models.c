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
#include "vg_format.h"
#include "vg_util.h"

int analyzer_models_open(struct analyzer *a, char *err, size_t errlen)
{
    const struct analyzer_cfg *c = &a->cfg;
    if (!c->model_set || !*c->model_set)
        return 0;
    struct vg_model_run_params p;
    analyzer_model_params(c, &p);
    /* The unit's StateDirectory makes /var/lib/vigil, not the models' directory in it. A
     * failure here shows again, with its reason, when the first checkpoint is written. */
    if (p.env.dir && mkdir(p.env.dir, 0750) < 0 && errno != EEXIST)
        vg_warn("model.dir not created", "dir=%s reason=\"%s\"", p.env.dir, strerror(errno));
    int rc = vg_model_run_open(&a->hm, a->engine, &p, err, errlen);
    if (rc < 0)
        return rc;
    int loaded = vg_models_load(a->hm.models, err, errlen);
    if (loaded < 0)
        return loaded;
    vg_info("host models", "set=%s backend=%s checkpoints=%s resumed_groups=%d", c->model_set,
            a->hm.k ? a->hm.k->ops->name : "none", p.env.dir ? p.env.dir : "off", loaded);
    a->next_model_save = vg_mono_ms() + c->model_checkpoint_ms;
    return 0;
}

void analyzer_models_feed(struct analyzer *a, const struct vg_wire_msg *m)
{
    char err[VG_ERRLEN], q[VG_ERRLEN + 8];
    if (vg_model_run_feed(&a->hm, m, err, sizeof(err)) < 0)
        vg_error("host models failed and are turned off; per-series scoring continues", "reason=%s",
                 vg_log_quote(q, sizeof(q), err));
}

/* 0 when written; a failure is logged. */
static int save(struct analyzer *a)
{
    char err[VG_ERRLEN], q[VG_ERRLEN + 8];
    int rc = vg_models_save(a->hm.models, err, sizeof(err));
    if (rc < 0)
        vg_warn("model checkpoint not written", "reason=%s", vg_log_quote(q, sizeof(q), err));
    return rc;
}

/* model.dir's checkpoints hold every host of their groups when they were written, some of which
 * this analyzer may not own now (its partitions moved, or another analyzer wrote the files):
 * rows that nothing would free, saved again at every checkpoint. Once a whole limits.host_idle
 * has passed since partitions were first assigned (its hosts have arrived or been restored by
 * then, and one that has not would have expired), and every limits.host_idle after, the rows of
 * hosts the engine does not hold go. limits.host_idle 0 (never expire) keeps them. */
static void prune(struct analyzer *a, int64_t now)
{
    int64_t idle = a->cfg.host_idle_ms;
    if (!idle || !a->assigned)
        return;
    if (!a->next_model_prune) {
        a->next_model_prune = now + idle;
        return;
    }
    if (now < a->next_model_prune)
        return;
    a->next_model_prune = now + idle;
    size_t n = vg_model_run_prune(&a->hm);
    if (n)
        vg_info("model hosts this analyzer does not hold dropped", "hosts=%zu", n);
}

void analyzer_models_tick(struct analyzer *a, int64_t now)
{
    if (!a->hm.models)
        return;
    prune(a, now);
    if (now < a->next_model_save)
        return;
    a->next_model_save = now + a->cfg.model_checkpoint_ms;
    if (a->cfg.model_dir && *a->cfg.model_dir)
        save(a);
}

void analyzer_models_close(struct analyzer *a)
{
    /* Said only when true: it used to follow "model checkpoint not written" at every stop. */
    if (a->hm.models && a->cfg.model_dir && *a->cfg.model_dir && save(a) == 0)
        vg_info("model checkpoints written", "dir=%s", a->cfg.model_dir);
    vg_model_run_close(&a->hm);
}

struct mctx {
    struct analyzer *a;
    FILE *f;
};

static void host_lines(void *ud, const struct vg_engine_host *h)
{
    struct mctx *c = ud;
    for (size_t i = 0; i < vg_models_count(c->a->hm.models); i++) {
        const char *name = vg_models_ops(c->a->hm.models, i)->name;
        struct vg_model_score s;
        if (vg_models_score(c->a->hm.models, h->name, name, &s) == 0)
            fprintf(c->f, "vigil_host_score{host=\"%s\",model=\"%s\"} %.6f\n", h->name, name,
                    s.score);
    }
}

void analyzer_models_metrics(struct analyzer *a, FILE *f)
{
    if (!a->hm.models)
        return;
    struct mctx c = {a, f};
    vg_engine_each_host(a->engine, host_lines, &c);
    void *mv = vg_models_find(a->hm.models, "mv");
    if (!mv)
        return;
    struct vg_fleet_stats st;
    vg_model_mv_stats(mv, &st);
    vg_api_counter(f, "vigil_model_steps_total", st.steps);
    vg_api_gauge(f, "vigil_model_hosts", (double)st.hosts);
    vg_api_gauge(f, "vigil_model_groups", (double)st.groups);
    vg_api_counter(f, "vigil_model_hosts_refused_total", st.hosts_refused);
    vg_api_counter(f, "vigil_model_hosts_regrouped_total", st.hosts_regrouped);
    vg_api_counter(f, "vigil_model_metrics_ignored_total", st.metrics_ignored);
    vg_api_counter(f, "vigil_model_checkpoints_refused_total", st.ckpt_refused);
    vg_api_counter(f, "vigil_model_checkpoints_loaded_total", st.ckpt_loaded);
    vg_api_counter(f, "vigil_model_steps_forced_total", st.steps_forced);
    vg_api_gauge(f, "vigil_model_ticks_queued", (double)st.ticks_queued);
    vg_api_gauge(f, "vigil_model_ticks_queued_max", (double)st.ticks_queued_max);
    vg_api_gauge(f, "vigil_model_hosts_absent", (double)st.hosts_absent);
    vg_api_counter(f, "vigil_model_resets_total", st.model_resets);
    vg_api_counter(f, "vigil_model_calibrations_relearned_total", st.calib_relearned);
}

json_t *analyzer_models_host_json(struct analyzer *a, const char *host)
{
    json_t *o = json_object();
    for (size_t i = 0; i < vg_models_count(a->hm.models); i++) {
        const char *name = vg_models_ops(a->hm.models, i)->name;
        struct vg_model_score s;
        if (vg_models_score(a->hm.models, host, name, &s) < 0)
            continue;
        json_t *m = json_object(), *top = json_array();
        json_object_set_new(m, "score", isfinite(s.score) ? json_real(s.score) : json_null());
        json_object_set_new(m, "raw", isfinite(s.raw) ? json_real(s.raw) : json_null());
        json_object_set_new(m, "warm", json_boolean(s.warm));
        json_object_set_new(m, "ts_ms", json_integer(s.ts_ms));
        for (uint32_t q = 0; q < s.n_top; q++) {
            json_t *t = json_object();
            json_object_set_new(t, "name", vg_fmt_str(s.top[q]));
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
    if (!a->hm.models)
        return json_null();
    json_t *o = json_object();
    json_object_set_new(o, "set", json_string(a->cfg.model_set));
    json_object_set_new(o, "backend", a->hm.k ? json_string(a->hm.k->desc) : json_null());
    void *mv = vg_models_find(a->hm.models, "mv");
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
        json_object_set_new(m, "calibrations_relearned",
                            json_integer((json_int_t)st.calib_relearned));
        json_object_set_new(m, "ticks_queued", json_integer((json_int_t)st.ticks_queued));
        json_object_set_new(o, "mv", m);
    }
    return o;
}
