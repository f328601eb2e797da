/* Host model "mv": the multivariate model of detectors/vg_mv.h run by host groups (vg_fleet.h),
 * each host's residuals scored by its own vg_hscore (detectors/vg_hscore.h, the code `vigilctl
 * eval smd` measures): calibrated into [0,1], with the top_k metrics most to blame named as the
 * attribution, each with its share of their blame. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vg_bytes.h"
#include "vg_fleet.h"
#include "vg_fleet_ckpt.h"
#include "vg_log.h"
#include "vg_model.h"
#include "vg_models.h"
#include "vg_strmap.h"
#include "vg_util.h"

struct mv_host {
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
    if (!h)
        return;
    /* The host reported none of its group's metrics (renamed by an agent upgrade, another
     * collector set under its group label): it has no score now. Its last one, kept, was read
     * by rules on each of its messages for as long as that lasted, and a firing alert on it
     * never resolved; gone, the rules read it as missing. */
    if (!isfinite(s->score)) {
        h->last = (struct vg_model_score){.raw = NAN};
        return;
    }
    struct vg_model_score *o = &h->last;
    o->ts_ms = s->ts_ms;
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
        .metrics = env->metrics,
        .max_groups = env->max_groups,
        .max_hosts = env->max_hosts,
        .train = env->train,
        .step_when_complete = 1,
        .queue_ticks = env->queue_ticks,
        .host_score = 1,
        .found_on_second_tick = 1,
    };
    /* The host score of `vigilctl eval smd` (docs/evaluation.md): error scales fitted on a
     * host's first calib_init warm ticks, then calib_init more for the calibration's sample. */
    vg_hscore_defaults(&p.hs);
    p.hs.top_k = env->top_k;
    p.hs.fit_n = env->calib_init;
    p.hs.spot.n_init = env->calib_init;
    p.hs.state_weight = env->state_weight;
    vg_mv_params_default(&p.mv, 1);
    p.mv.window = env->window;
    p.mv.score.top_k = env->top_k;
    p.mv.seed = env->seed;
    /* The state term is a distance from the normaliser's centre: a centre that follows each
     * level within a hundred ticks would forget an incident before it ends. */
    if (env->norm_ticks)
        p.mv.norm.alpha = 1.0f / (float)env->norm_ticks;
    /* A gate closed longer than the state term remembers guards no incident: the host's usual
     * score has risen past its calibration (a new group's model improving), which learns again. */
    p.hs.relearn = vg_hscore_relearn_ticks(1.0 / p.mv.norm.alpha);
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
    /* A host that changes group starts over there (vg_fleet_put_at): its last score names the
     * old group's columns, which go when that group is freed. */
    struct vg_fleet_score was;
    const char *group = t->group && *t->group ? t->group : "default";
    if (vg_fleet_host(m->fleet, t->host, &was) == 0 && strcmp(was.group, group) != 0)
        h->last = (struct vg_model_score){.raw = NAN};
    int rc = vg_fleet_put_at(m->fleet, t->group, t->host, t->ts_ms, t->metrics, t->n_metrics, err,
                             errlen);
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

/* ---- one host's state in the state topic (scale-out) ----
 *
 * Blob version 3, integers little-endian, floats as this build lays them out (the blob's size
 * checks catch another layout):
 *   str group, u32 m, m x str metric, u32 age, u32 phase, u32 n_floats, n_floats x f32 (the
 *   host's row of its group's model: vg_mv_host_get), u32 host score size, host score bytes
 *   (vg_hscore_pack: versioned and range-checked on its own), u32 n_queued, n_queued x (i64
 *   event time, m x f32): the host's ticks queued in its group and not yet stepped, oldest
 *   first (offsets are committed past them, so the new owner must have them)
 * where str is u16 length + bytes. Version 2 is version 3 without the queued ticks (read as
 * none queued). Version 1 carried a SPOT calibration the analyzer no longer uses; such a record
 * is refused and the host's calibration learns again. */
#define MV_BLOB_VERSION 3
#define MV_BLOB_QUEUED  3    /* the first version with queued ticks */
#define MV_BLOB_OLDEST  2    /* the oldest version read */
#define MV_QUEUED_MAX   4096 /* queued ticks a blob may carry (a fleet queues at most 64) */

static int mv_host_save(void *inst, const char *host, unsigned char **out, size_t *len,
                        uint32_t *version)
{
    struct mv_model *m = inst;
    const struct mv_host *h = vg_strmap_get(&m->hosts, host);
    struct vg_fleet_host_state hs;
    char err[VG_ERRLEN];
    if (!h || vg_fleet_host_export(m->fleet, host, &hs, err, sizeof(err)) < 0)
        return -ENOENT; /* not modelled (too few metrics, limits): nothing to carry */
    struct vg_bw b = {0};
    vg_bw_str16(&b, hs.group);
    vg_bw_uint(&b, hs.m, 4);
    for (uint32_t j = 0; j < hs.m; j++)
        vg_bw_str16(&b, hs.cols[j]);
    vg_bw_uint(&b, hs.age, 4);
    vg_bw_uint(&b, hs.phase, 4);
    vg_bw_uint(&b, (uint32_t)hs.n_floats, 4);
    vg_bw_put(&b, hs.row, hs.n_floats * sizeof(float));
    vg_bw_uint(&b, (uint32_t)hs.hscore_len, 4);
    vg_bw_put(&b, hs.hscore, hs.hscore_len);
    vg_bw_uint(&b, hs.n_queued, 4);
    for (uint32_t k = 0; k < hs.n_queued; k++) {
        vg_bw_uint(&b, (uint64_t)hs.queued_ts[k], 8);
        vg_bw_put(&b, hs.queued + (size_t)k * hs.m, hs.m * sizeof(float));
    }
    free(hs.row);
    free(hs.hscore);
    free(hs.queued);
    free(hs.queued_ts);
    if (b.bad) {
        free(b.p);
        return -ENOMEM;
    }
    *out = b.p;
    *len = b.len;
    *version = MV_BLOB_VERSION;
    return 0;
}

/* A malloc'd NUL-terminated copy, or NULL (r->bad set when malformed). */
static char *r_str(struct vg_br *r)
{
    size_t n = (size_t)vg_br_uint(r, 2);
    const unsigned char *s = vg_br_take(r, n);
    char *out = s ? malloc(n + 1) : NULL;
    if (!out) {
        r->bad = 1;
        return NULL;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

static int mv_host_load(void *inst, const char *host, uint32_t version, const unsigned char *buf,
                        size_t len, char *err, size_t errlen)
{
    struct mv_model *m = inst;
    if (version < MV_BLOB_OLDEST || version > MV_BLOB_VERSION)
        return vg_err(err, errlen, -EPROTONOSUPPORT,
                      "mv state version %u, this analyzer reads %d to %d", version, MV_BLOB_OLDEST,
                      MV_BLOB_VERSION);
    struct vg_br r = {buf, len, 0, 0};
    struct vg_fleet_host_state hs = {0};
    char *group = r_str(&r), **cols = NULL;
    hs.m = (uint32_t)vg_br_uint(&r, 4);
    if (!r.bad && hs.m <= 4096)
        cols = calloc(hs.m ? hs.m : 1, sizeof(*cols));
    for (uint32_t j = 0; cols && j < hs.m && !r.bad; j++)
        cols[j] = r_str(&r);
    hs.age = (uint32_t)vg_br_uint(&r, 4);
    hs.phase = (uint32_t)vg_br_uint(&r, 4);
    hs.n_floats = (uint32_t)vg_br_uint(&r, 4);
    const unsigned char *row =
        hs.n_floats < (1u << 24) ? vg_br_take(&r, hs.n_floats * sizeof(float)) : NULL;
    uint32_t hs_size = (uint32_t)vg_br_uint(&r, 4);
    const unsigned char *hsb = vg_br_take(&r, hs_size);
    int rc = 0;
    /* Queued ticks: their span is checked with the rest of the blob, then read from q_off. */
    size_t q_off = 0;
    if (version >= MV_BLOB_QUEUED) {
        hs.n_queued = (uint32_t)vg_br_uint(&r, 4);
        q_off = r.off;
        if (hs.n_queued > MV_QUEUED_MAX)
            rc = vg_err(err, errlen, -EINVAL, "mv state: %u queued ticks, at most %d", hs.n_queued,
                        MV_QUEUED_MAX);
        else
            vg_br_take(&r, (size_t)hs.n_queued * (8 + (size_t)hs.m * sizeof(float)));
    }
    if (!rc && (!group || !cols || !row || r.bad || r.off != len))
        rc = vg_err(err, errlen, -EINVAL, "mv state: truncated or malformed");
    if (!rc && hs.n_queued) {
        hs.queued = malloc((size_t)hs.n_queued * hs.m * sizeof(float) + 1);
        hs.queued_ts = malloc(hs.n_queued * sizeof(int64_t));
        if (!hs.queued || !hs.queued_ts)
            rc = vg_err(err, errlen, -ENOMEM, "out of memory");
        struct vg_br q = {buf, len, q_off, 0};
        for (uint32_t k = 0; !rc && k < hs.n_queued; k++) {
            hs.queued_ts[k] = (int64_t)vg_br_uint(&q, 8);
            memcpy(hs.queued + (size_t)k * hs.m, vg_br_take(&q, hs.m * sizeof(float)),
                   hs.m * sizeof(float));
        }
    }
    float *rowf = rc ? NULL : malloc(hs.n_floats ? hs.n_floats * sizeof(float) : 1);
    if (!rc && !rowf)
        rc = vg_err(err, errlen, -ENOMEM, "out of memory");
    int fresh = 0;
    if (!rc) {
        memcpy(rowf, row, hs.n_floats * sizeof(float));
        hs.group = group;
        hs.cols = (const char *const *)cols;
        hs.row = rowf;
        /* vg_hscore_unpack checks the host score's size, version and ranges. */
        hs.hscore = hs_size ? (unsigned char *)hsb : NULL;
        hs.hscore_len = hs_size;
        /* What this model scored of the host before is not the record's; the import may step
         * the host's queued ticks, whose scores are (on_score). */
        struct mv_host *old = vg_strmap_get(&m->hosts, host);
        if (old)
            old->last = (struct vg_model_score){.raw = NAN};
        rc = vg_fleet_host_import(m->fleet, host, &hs, &fresh, err, errlen);
    }
    if (!rc && !mv_host_get(m, host))
        rc = vg_err(err, errlen, -ENOMEM, "out of memory");
    /* A group that has not stepped here has initial weights, whose residuals the calibration
     * never saw: it learns them again rather than alert on an untrained model's errors. */
    if (!rc && fresh)
        vg_info("mv group untrained here: host keeps its window, calibration learns again",
                "host=%s group=%s", host, group);
    free(rowf);
    free(hs.queued);
    free(hs.queued_ts);
    for (uint32_t j = 0; cols && j < hs.m; j++)
        free(cols[j]);
    free(cols);
    free(group);
    return rc;
}

static void mv_host_drop(void *inst, const char *host)
{
    struct mv_model *m = inst;
    vg_fleet_host_drop(m->fleet, host);
    free(vg_strmap_del(&m->hosts, host));
}

static size_t mv_hosts_prune(void *inst, int (*keep)(void *ud, const char *host), void *ud)
{
    struct mv_model *m = inst;
    size_t n = vg_fleet_hosts_prune(m->fleet, keep, ud), k = 0;
    /* Their last scores too (deleting moves keys: the names are taken first). */
    char **names = m->hosts.n ? malloc(m->hosts.n * sizeof(*names)) : NULL;
    for (size_t i = 0; names && i < m->hosts.cap; i++)
        if (m->hosts.keys[i] && !keep(ud, m->hosts.keys[i]) &&
            (names[k] = strdup(m->hosts.keys[i])))
            k++;
    for (size_t i = 0; i < k; i++) {
        free(vg_strmap_del(&m->hosts, names[i]));
        free(names[i]);
    }
    free(names);
    return n;
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
    .host_save = mv_host_save,
    .host_load = mv_host_load,
    .host_drop = mv_host_drop,
    .hosts_prune = mv_hosts_prune,
};
