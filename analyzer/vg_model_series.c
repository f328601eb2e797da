/* Host model "series": the per-series detectors (vg_detectors[]) summarised per host. The engine
 * runs the detectors, keeps their state and checkpoints it (state.topic), so this adapter learns
 * nothing itself: its host score is the highest calibrated series score of the host's last
 * message, and its attribution the series with the highest scores. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vg_engine.h"
#include "vg_model.h"
#include "vg_models.h"
#include "vg_util.h"

#define SERIES_TOP 3

struct series_model {
    const struct vg_engine *engine;
    struct vg_model_score last; /* of the last score() call; its names are the engine's */
};

static int series_create(void **inst, const struct vg_model_env *env, char *err, size_t errlen)
{
    if (!env->engine)
        return vg_err(err, errlen, -EINVAL, "model series: no engine");
    struct series_model *m = calloc(1, sizeof(*m));
    if (!m)
        return vg_err(err, errlen, -ENOMEM, "model series: out of memory");
    m->engine = env->engine;
    *inst = m;
    return 0;
}

static int series_update(void *inst, const struct vg_model_tick *t, char *err, size_t errlen)
{
    (void)inst;
    (void)t;
    (void)err;
    (void)errlen;
    return 0; /* the engine has scored the tick's series */
}

static void top_one(void *ud, const struct vg_engine_series *s)
{
    struct vg_model_score *o = ud;
    if (!s->warm || !isfinite(s->score))
        return;
    o->warm = 1;
    uint32_t at = o->n_top;
    while (at > 0 && o->top_share[at - 1] < s->score)
        at--;
    if (at >= SERIES_TOP)
        return;
    uint32_t n = o->n_top < SERIES_TOP ? o->n_top + 1 : SERIES_TOP;
    for (uint32_t q = n - 1; q > at; q--) {
        o->top[q] = o->top[q - 1];
        o->top_share[q] = o->top_share[q - 1];
    }
    o->top[at] = s->name;
    o->top_share[at] = s->score; /* made shares below */
    o->n_top = n;
}

static int series_score(void *inst, const char *host, struct vg_model_score *out)
{
    struct series_model *m = inst;
    struct vg_engine_host h;
    memset(out, 0, sizeof(*out));
    if (vg_engine_describe_host(m->engine, host, &h, top_one, out) < 0 || !out->warm)
        return -ENOENT;
    out->score = h.max_score;
    out->raw = h.max_score;
    out->ts_ms = h.last_ts_ms;
    double sum = 0;
    for (uint32_t q = 0; q < out->n_top; q++)
        sum += out->top_share[q];
    for (uint32_t q = 0; q < out->n_top; q++)
        out->top_share[q] = sum > 0 ? out->top_share[q] / sum : 0;
    return 0;
}

static int series_nop(void *inst, char *err, size_t errlen)
{
    (void)inst;
    (void)err;
    (void)errlen;
    return 0; /* checkpointed with the engine's host state (state.topic) */
}

static void series_destroy(void *inst)
{
    free(inst);
}

const struct vg_model_ops vg_model_series = {
    .name = "series",
    .help = "the per-series detectors (detector.model) per host: highest series score, the "
            "highest-scoring series as attribution",
    .create = series_create,
    .update = series_update,
    .score = series_score,
    .save = series_nop,
    .load = series_nop,
    .destroy = series_destroy,
};
