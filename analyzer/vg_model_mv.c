/* Host model "mv": the multivariate model of detectors/vg_mv.h run by host groups (vg_fleet.h),
 * each host's residuals scored by its own vg_hscore (detectors/vg_hscore.h, the code `vigilctl
 * eval smd` measures): calibrated into [0,1], with the top_k metrics most to blame named as the
 * attribution, each with its share of their blame. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vg_fleet.h"
#include "vg_log.h"
#include "vg_model.h"
#include "vg_models.h"
#include "vg_strmap.h"
#include "vg_util.h"

struct mv_host {
    int64_t ts_pending; /* event time of the tick put but not yet stepped */
    struct vg_model_score last;
};

struct mv_model {
    struct vg_fleet *fleet;
    struct vg_strmap hosts; /* name -> struct mv_host * */
};

static struct mv_host *mv_host_get(struct mv_model *m, const char *host)
{
    struct mv_host *h = vg_strmap_get(&m->hosts, host);
    if (h)
        return h;
    if (!(h = calloc(1, sizeof(*h))))
        return NULL;
    h->last.raw = NAN;
    if (vg_strmap_put(&m->hosts, host, h) < 0) {
        free(h);
        return NULL;
    }
    return h;
}

/* Every host of a group step: keep its host score and attribution. Until the host score has
 * fitted its error scales (vg_hscore_update), raw and the metrics named are vg_mv's own; until
 * its calibration has its sample, the host is not warm. */
static void on_score(void *ud, const struct vg_fleet_score *s)
{
    struct mv_model *m = ud;
    struct mv_host *h = mv_host_get(m, s->host);
    if (!h || !isfinite(s->score))
        return;
    struct vg_model_score *o = &h->last;
    o->ts_ms = h->ts_pending;
    o->warm = s->hs_rc == 0;
    o->score = o->warm ? s->hs_score : 0;
    o->raw = isfinite(s->hs_raw) ? s->hs_raw : s->score;
    /* The group's column names: they live as long as the fleet. */
    const char *const *names = s->n_blame ? s->blame_top : s->top;
    double val[VG_MV_TOPK_MAX];
    uint32_t n = s->n_blame ? s->n_blame : s->n_top;
    for (uint32_t q = 0; q < n && q < VG_MV_TOPK_MAX; q++)
        val[q] = s->n_blame ? s->blame[q] : s->top_err[q];
    double sum = 0;
    for (uint32_t q = 0; q < n; q++)
        sum += val[q] > 0 ? val[q] : 0;
    o->n_top = 0;
    for (uint32_t q = 0; q < n && q < VG_MODEL_TOP_MAX; q++) {
        o->top[q] = names[q];
        o->top_share[q] = sum > 0 && val[q] > 0 ? val[q] / sum : 0;
        o->n_top++;
    }
}

static void mv_destroy(void *inst)
{
    struct mv_model *m = inst;
    if (!m)
        return;
    vg_fleet_free(m->fleet);
    vg_strmap_free(&m->hosts, free);
    free(m);
}

static int mv_create(void **inst, const struct vg_model_env *env, char *err, size_t errlen)
{
    if (!env->k)
        return vg_err(err, errlen, -EINVAL, "model mv: no compute backend");
    struct mv_model *m = calloc(1, sizeof(*m));
    if (!m)
        return vg_err(err, errlen, -ENOMEM, "model mv: out of memory");
    vg_strmap_init(&m->hosts);
    struct vg_fleet_params p = {
        .dir = env->dir,
        .max_metrics = env->max_metrics,
        .max_groups = env->max_groups,
        .max_hosts = env->max_hosts,
        .train = env->train,
        .step_when_complete = 1,
        .host_score = 1,
    };
    /* The host score of `vigilctl eval smd` (docs/evaluation.md): error scales fitted on a
     * host's first calib_init warm ticks, then calib_init more for the calibration's sample. */
    vg_hscore_defaults(&p.hs);
    p.hs.top_k = env->top_k;
    p.hs.fit_n = env->calib_init;
    p.hs.spot.n_init = env->calib_init;
    vg_mv_params_default(&p.mv, 1);
    p.mv.window = env->window;
    p.mv.score.top_k = env->top_k;
    p.mv.seed = env->seed;
    int rc = vg_fleet_new(&m->fleet, &p, env->k, on_score, m, err, errlen);
    if (rc < 0) {
        mv_destroy(m);
        return rc;
    }
    *inst = m;
    return 0;
}

static int mv_update(void *inst, const struct vg_model_tick *t, char *err, size_t errlen)
{
    struct mv_model *m = inst;
    struct mv_host *h = mv_host_get(m, t->host);
    if (!h)
        return vg_err(err, errlen, -ENOMEM, "model mv: out of memory");
    h->ts_pending = t->ts_ms;
    int rc = vg_fleet_put(m->fleet, t->group, t->host, t->metrics, t->n_metrics, err, errlen);
    return rc < 0 ? rc : 0; /* 1: not modelled (limits, too few metrics), counted by the fleet */
}

static int mv_score(void *inst, const char *host, struct vg_model_score *out)
{
    struct mv_model *m = inst;
    const struct mv_host *h = vg_strmap_get(&m->hosts, host);
    if (!h || !isfinite(h->last.raw))
        return -ENOENT;
    *out = h->last;
    return 0;
}

static int mv_save(void *inst, char *err, size_t errlen)
{
    struct mv_model *m = inst;
    return vg_fleet_save(m->fleet, err, errlen);
}

static int mv_load(void *inst, char *err, size_t errlen)
{
    struct mv_model *m = inst;
    return vg_fleet_load(m->fleet, err, errlen);
}

void vg_model_mv_stats(void *inst, struct vg_fleet_stats *out)
{
    const struct mv_model *m = inst;
    vg_fleet_get_stats(m->fleet, out);
}

const struct vg_model_ops vg_model_mv = {
    .name = "mv",
    .help = "multivariate: one MLP per host group over a window of all of a host's metrics, "
            "forecasting the next tick; score = calibrated, smoothed mean of the top_k residuals "
            "over each metric's typical error (vg_hscore)",
    .create = mv_create,
    .update = mv_update,
    .score = mv_score,
    .save = mv_save,
    .load = mv_load,
    .destroy = mv_destroy,
};
