#include "vg_fleet.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_colsel.h"
#include "vg_fleet_ckpt.h"
#include "vg_fleet_int.h"
#include "vg_log.h"
#include "vg_mv_ckpt.h"
#include "vg_util.h"

int vg_fleet_new(struct vg_fleet **out, const struct vg_fleet_params *p, struct vg_k *k,
                 vg_fleet_score_fn fn, void *ud, char *err, size_t errlen)
{
    struct vg_mv_params check = p->mv;
    check.n_metrics = p->max_metrics ? p->max_metrics : 1;
    if (check.score.top_k > check.n_metrics)
        check.n_metrics = check.score.top_k;
    char why[VG_ERRLEN];
    if (vg_mv_params_check(&check, why, sizeof(why)) < 0)
        return vg_err(err, errlen, -EINVAL, "model: %s", why);
    if (p->max_metrics < p->mv.score.top_k)
        return vg_err(err, errlen, -EINVAL, "model: max_metrics %u below top_k %u", p->max_metrics,
                      p->mv.score.top_k);
    struct vg_colsel *sel;
    int rc = vg_colsel_new(&sel, p->metrics, err, errlen);
    if (rc < 0)
        return rc;
    struct vg_fleet *f = calloc(1, sizeof(*f));
    if (!f) {
        vg_colsel_free(sel);
        return -ENOMEM;
    }
    f->p = *p;
    f->p.metrics = NULL; /* parsed into sel; the string is the caller's */
    f->sel = sel;
    if (!f->p.queue_ticks)
        f->p.queue_ticks = 1;
    f->k = k;
    f->fn = fn;
    f->ud = ud;
    if (p->dir && *p->dir && !(f->dir = strdup(p->dir))) {
        vg_colsel_free(sel);
        free(f);
        return -ENOMEM;
    }
    f->p.dir = f->dir;
    vg_strmap_init(&f->groups);
    vg_strmap_init(&f->hosts);
    vg_strmap_init(&f->first_seen);
    *out = f;
    return 0;
}

void vg_fleet_free_group(void *v)
{
    struct group *g = v;
    if (!g)
        return;
    vg_mv_free(g->mv);
    for (uint32_t j = 0; g->cols && j < g->m; j++)
        free(g->cols[j]);
    free(g->cols);
    vg_strmap_free(&g->colmap, NULL);
    vg_strmap_free(&g->ignored, NULL);
    for (uint32_t i = 0; g->hosts && i < g->n; i++)
        free(g->hosts[i]);
    free(g->hosts);
    free(g->qx);
    free(g->qts);
    free(g->qhead);
    free(g->qlen);
    free(g->absent);
    free(g->reported);
    free(g->last_ts);
    free(g->push_ts);
    free(g->tick_ms);
    free(g->since);
    free(g->resting);
    free(g->res);
    free(g->last);
    for (uint32_t i = 0; g->hs && i < g->n; i++)
        vg_hscore_free(&g->hs[i]);
    free(g->hs);
    free(g->hl);
    free(g->resid);
    free(g->z);
    free(g->bl);
    free(g->name);
    free(g);
}

void vg_fleet_free(struct vg_fleet *f)
{
    if (!f)
        return;
    vg_strmap_free(&f->groups, vg_fleet_free_group);
    vg_strmap_free(&f->hosts, free);
    vg_strmap_free(&f->first_seen, NULL);
    vg_colsel_free(f->sel);
    free(f->dir);
    free(f);
}

/* A group shell with its columns; the model is made by the caller (new or from a checkpoint). */
struct group *vg_fleet_group_alloc(const char *name, char **cols, uint32_t m, uint32_t D)
{
    struct group *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    vg_strmap_init(&g->colmap);
    vg_strmap_init(&g->ignored);
    g->cols = cols;
    g->m = m;
    g->D = D;
    if (!(g->name = strdup(name)))
        goto fail;
    for (uint32_t j = 0; j < m; j++)
        if (vg_strmap_put(&g->colmap, cols[j], (void *)(uintptr_t)(j + 1)) < 0)
            goto fail;
    return g;
fail:
    vg_fleet_free_group(g);
    return NULL;
}

/* Grows array p to n elements (tmp: a void *); 0, or 1 leaving p as it was when out of memory. */
#define GROW(p, n, tmp) (((tmp) = realloc((p), (size_t)(n) * sizeof(*(p)))) ? ((p) = (tmp), 0) : 1)

int vg_fleet_add_row(struct vg_fleet *f, struct group *g, const char *host, char *err,
                     size_t errlen)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? (size_t)g->cap * 2 : 16, m = g->m, D = g->D;
        void *t;
        /* One at a time (t is shared); those grown before a failure stay grown. */
        int bad = GROW(g->qx, cap * D * m, t) || GROW(g->qts, cap * D, t) ||
                  GROW(g->qhead, cap, t) || GROW(g->qlen, cap, t) || GROW(g->absent, cap, t) ||
                  GROW(g->resting, cap, t) || GROW(g->reported, cap, t) ||
                  GROW(g->last_ts, cap, t) || GROW(g->push_ts, cap, t) ||
                  GROW(g->tick_ms, cap, t) || GROW(g->since, cap, t) || GROW(g->hosts, cap, t) ||
                  GROW(g->res, cap, t) || GROW(g->last, cap, t);
        if (!bad && f->p.host_score) {
            bad = GROW(g->hs, cap, t) || GROW(g->hl, cap, t) || GROW(g->resid, cap * m, t) ||
                  GROW(g->z, cap * m, t);
            if (!bad && !g->bl && !(g->bl = calloc(m, sizeof(double))))
                bad = 1;
        }
        if (bad)
            return vg_err(err, errlen, -ENOMEM, "host %s: out of memory", host);
        g->cap = (uint32_t)cap;
    }
    uint32_t row = g->n;
    if (f->p.host_score) {
        if (vg_hscore_init(&g->hs[row], g->m) < 0)
            return vg_err(err, errlen, -ENOMEM, "host %s: out of memory", host);
        memset(&g->hl[row], 0, sizeof(g->hl[row]));
        g->hl[row].rc = -ENOENT;
        g->hl[row].raw = NAN;
    }
    struct hostref *ref = malloc(sizeof(*ref));
    char *name = strdup(host);
    if (!ref || !name || vg_strmap_put(&f->hosts, host, ref) < 0) {
        free(ref);
        free(name);
        if (f->p.host_score)
            vg_hscore_free(&g->hs[row]);
        return vg_err(err, errlen, -ENOMEM, "host %s: out of memory", host);
    }
    *ref = (struct hostref){.g = g, .row = row};
    g->hosts[row] = name;
    g->qhead[row] = g->qlen[row] = 0;
    g->absent[row] = 0;
    g->resting[row] = 0;
    g->n_waiting++;
    g->reported[row] = 0;
    g->last_ts[row] = 0;
    g->push_ts[row] = 0;
    g->tick_ms[row] = 0;
    g->since[row] = 0;
    memset(&g->last[row], 0, sizeof(g->last[row]));
    g->last[row].score = NAN;
    g->n++;
    f->st.hosts++;
    return 0;
}

/* A group whose columns are picked from a host's metrics (pick), or are exactly the names given
 * (a host's state moved from another analyzer, whose group has its columns already), into *out.
 * 0; 1 when the metrics are too few to model (a property of the host, not a failure); or a
 * negative code (out of memory, host or backend: the model could not be made). err says why. */
static int new_group(struct vg_fleet *f, const char *name, const struct vg_metric *metrics,
                     size_t n, int pick, struct group **out, char *err, size_t errlen)
{
    const char **names = malloc((n ? n : 1) * sizeof(*names));
    if (!names)
        return vg_err(err, errlen, -ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (metrics[i].name && vg_wire_name_valid(metrics[i].name) == 0)
            names[k++] = metrics[i].name;
    size_t u = k;
    if (pick && vg_colsel_pick(f->sel, names, k, f->p.max_metrics, &u) < 0) {
        free(names);
        return vg_err(err, errlen, -ENOMEM, "out of memory");
    }
    if (u > f->p.max_metrics)
        u = f->p.max_metrics;
    if (u < f->p.mv.score.top_k) {
        free(names);
        vg_err(err, errlen, -EINVAL,
               "group %s: first host has %zu metrics model.metrics takes, the model needs %u", name,
               u, f->p.mv.score.top_k);
        return 1;
    }
    char **cols = calloc(u, sizeof(*cols));
    int ok = cols != NULL;
    for (size_t j = 0; ok && j < u; j++)
        ok = (cols[j] = strdup(names[j])) != NULL;
    free(names);
    if (!ok) {
        for (size_t j = 0; cols && j < u; j++)
            free(cols[j]);
        free(cols);
        return vg_err(err, errlen, -ENOMEM, "out of memory");
    }
    struct group *g = vg_fleet_group_alloc(name, cols, (uint32_t)u, f->p.queue_ticks);
    if (!g) {
        for (size_t j = 0; j < u; j++)
            free(cols[j]);
        free(cols);
        return vg_err(err, errlen, -ENOMEM, "out of memory");
    }
    struct vg_mv_params mp = f->p.mv;
    mp.n_metrics = (uint32_t)u;
    int rc = vg_mv_new(&g->mv, &mp, f->k, err, errlen);
    if (rc == 0 && vg_strmap_put(&f->groups, name, g) < 0)
        rc = vg_err(err, errlen, -ENOMEM, "out of memory");
    if (rc < 0) {
        vg_fleet_free_group(g);
        return rc;
    }
    f->st.groups++;
    /* offered - metrics: what model.metrics or model.max_metrics left out of the model. */
    vg_info("model group created", "group=%s metrics=%zu offered=%zu window=%u", name, u, k,
            mp.window);
    *out = g;
    return 0;
}

/* Row i's residuals of this step through its vg_hscore; its blame ranked into hl. */
static void host_score(struct vg_fleet *f, struct group *g, uint32_t i)
{
    struct hs_last *l = &g->hl[i];
    /* Without a state term the normalised values are not fetched (step_group) nor needed. */
    const float *z = f->p.hs.state_weight > 0 ? g->z + (size_t)i * g->m : NULL;
    l->rc = vg_hscore_update_state(&g->hs[i], &f->p.hs, g->resid + (size_t)i * g->m, z, &l->score,
                                   &l->raw, g->bl);
    if (g->hs[i].relearned) {
        f->st.calib_relearned++;
        vg_info("mv host calibration out of date, learning it again", "group=%s host=%s ticks=%u",
                g->name, g->hosts[i], f->p.hs.relearn);
    }
    l->n = 0;
    if (l->rc == -EINVAL || !isfinite(l->raw))
        return; /* fitting, or no finite error this tick: no blame */
    uint32_t k = f->p.hs.top_k < g->m ? f->p.hs.top_k : g->m;
    if (k > VG_MV_TOPK_MAX)
        k = VG_MV_TOPK_MAX;
    for (uint32_t q = 0; q < k; q++) {
        int32_t best = -1;
        for (uint32_t j = 0; j < g->m; j++) {
            int taken = 0;
            for (uint32_t r = 0; r < q && !taken; r++)
                taken = l->top[r] == (int32_t)j;
            if (!taken && (best < 0 || g->bl[j] > g->bl[best]))
                best = (int32_t)j;
        }
        l->top[q] = best;
        l->val[q] = g->bl[best];
        l->n++;
    }
}

/* Row i's k-th queued tick (0 = the oldest). */
static float *q_tick(const struct group *g, uint32_t i, uint32_t k)
{
    return g->qx + ((size_t)i * g->D + (g->qhead[i] + k) % g->D) * g->m;
}

static int64_t *q_ts(const struct group *g, uint32_t i, uint32_t k)
{
    return g->qts + (size_t)i * g->D + (g->qhead[i] + k) % g->D;
}

/* Whether a row of a step's input holds a finite value: its forecast then has a finite target. */
static int any_finite(const float *x, size_t m)
{
    for (size_t j = 0; j < m; j++)
        if (isfinite(x[j]))
            return 1;
    return 0;
}

/* Replaces a group's model with a fresh one of the same parameters and its hosts' host scores
 * with fresh ones, as when its checkpoint is refused; the rows, their queues and their absence
 * stay. 0, or a negative code (nothing changed) with a message. */
static int reset_group(struct vg_fleet *f, struct group *g, char *err, size_t errlen)
{
    struct vg_mv_params mp = *vg_mv_params(g->mv);
    struct vg_mv *mv;
    int rc = vg_mv_new(&mv, &mp, f->k, err, errlen);
    if (rc < 0)
        return rc;
    for (uint32_t i = 0; i < g->n && rc == 0; i++)
        rc = vg_mv_add_host(mv, NULL, err, errlen);
    struct vg_hscore *hs = NULL;
    if (rc == 0 && f->p.host_score && g->n) {
        hs = calloc(g->n, sizeof(*hs));
        rc = hs ? 0 : vg_err(err, errlen, -ENOMEM, "out of memory");
        for (uint32_t i = 0; i < g->n && rc == 0; i++)
            if (vg_hscore_init(&hs[i], g->m) < 0)
                rc = vg_err(err, errlen, -ENOMEM, "out of memory");
    }
    if (rc < 0) {
        for (uint32_t i = 0; hs && i < g->n; i++)
            vg_hscore_free(&hs[i]);
        free(hs);
        vg_mv_free(mv);
        return rc;
    }
    vg_mv_free(g->mv);
    g->mv = mv;
    for (uint32_t i = 0; i < g->n; i++) {
        if (hs) {
            vg_hscore_free(&g->hs[i]);
            g->hs[i] = hs[i];
            memset(&g->hl[i], 0, sizeof(g->hl[i]));
            g->hl[i].rc = -ENOENT;
            g->hl[i].raw = NAN;
        }
        memset(&g->last[i], 0, sizeof(g->last[i]));
        g->last[i].score = NAN;
    }
    free(hs);
    f->st.model_resets++;
    return 0;
}

/* Whether its group waits for row i (nothing queued, not absent) in its next step: not while the
 * row's own interval says its next tick comes more than half a step after that step. A host whose
 * agent sends every 20 s in a group of 10 s hosts so rests through the step between two of its
 * ticks: the group neither waits for it there nor takes it for absent, and waits for it on the
 * next. When is "after": by the group's steps since its last tick was stepped (their own clocks,
 * so skew does not matter), or by event time, its newest tick against the oldest one the group
 * stepped last (a group that fell behind its hosts steps through its queues, not waiting for a
 * host whose tick is still ahead of them). Either way every tick a host sends is stepped once
 * (q_push): a wrong guess (a clock far off) only delays it or its group by a step. A host whose
 * interval is the group's, or not known (no event times, too few ticks yet), is waited for, as
 * every host was. */
static void rest_or_wait(struct group *g, uint32_t i)
{
    double iv = g->tick_ms[i], st = g->step_ms;
    unsigned char rest = 0;
    if (iv > 0 && st > 0 && iv > 1.5 * st)
        rest =
            g->since[i] + 1.5 * st < iv || (g->front_ts > 0 && g->last_ts[i] > 0 &&
                                            (double)(g->front_ts - g->last_ts[i]) + 1.5 * st < iv);
    if (rest != g->resting[i]) {
        g->resting[i] = rest;
        if (rest)
            g->n_waiting--;
        else
            g->n_waiting++;
    }
}

/* One step on every row's oldest queued tick; rows with none give missing values, and those that
 * were waited for (not resting) become absent. */
static int step_group(struct vg_fleet *f, struct group *g, int forced, char *err, size_t errlen)
{
    if (!g->n_queued)
        return 0;
    size_t m = g->m;
    /* Each row's front tick goes straight into the model's input buffer (page-locked on a GPU). */
    float *xb = vg_mv_tick_buffer(g->mv);
    /* The event time this step covers: the least that a row stepped now moved on its own clock
     * since its last step (so neither skew between hosts nor a row stepped late counts; the
     * fastest hosts' interval when they are in step). 0 = not known. */
    double covered = 0;
    int64_t front = 0;
    for (uint32_t i = 0; i < g->n; i++) {
        float *x = xb + (size_t)i * m;
        g->reported[i] = g->qlen[i] > 0;
        if (!g->reported[i]) {
            for (size_t j = 0; j < m; j++)
                x[j] = NAN;
            if (!g->absent[i] && !g->resting[i]) {
                g->absent[i] = 1;
                g->n_waiting--;
                f->st.hosts_absent++;
            }
            continue;
        }
        memcpy(x, q_tick(g, i, 0), m * sizeof(float));
        int64_t ts = *q_ts(g, i, 0), prev = g->last_ts[i];
        if (prev > 0 && ts > prev && (covered == 0 || (double)(ts - prev) < covered))
            covered = (double)(ts - prev);
        g->last_ts[i] = ts;
        if (ts > 0 && (front == 0 || ts < front))
            front = ts;
        g->qhead[i] = (g->qhead[i] + 1) % g->D;
        f->st.ticks_queued--;
        if (--g->qlen[i] == 0) {
            g->n_queued--;
            g->n_waiting++;
        }
    }
    f->st.steps_forced += forced != 0;
    int rc = vg_mv_step(g->mv, NULL, f->p.train ? VG_MV_TRAIN : VG_MV_SCORE, g->res, err, errlen);
    if (rc < 0)
        return rc;
    f->st.steps++;
    /* The group's step (rest_or_wait). A gap (the group stopped a while) counts at most twice
     * the step known: a real change of the agents' interval is followed within a few steps, one
     * outage is not taken for it. */
    g->front_ts = front;
    if (covered > 0)
        g->step_ms =
            g->step_ms <= 0
                ? covered
                : 0.8 * g->step_ms + 0.2 * (covered < 2 * g->step_ms ? covered : 2 * g->step_ms);
    for (uint32_t i = 0; i < g->n; i++) {
        g->since[i] = g->reported[i] ? 0 : g->since[i] + covered;
        if (!g->absent[i] && g->qlen[i] == 0)
            rest_or_wait(g, i);
    }
    uint32_t W = vg_mv_params(g->mv)->window;
    /* A host whose window is its own and which reported a finite value has a finite target: a
     * NaN score there means its window or the weights are not finite, and through the next
     * training step the weights of every host would be. The known ways in are refused or
     * bounded (vg_mv_load, vg_mv_host_set, VG_K_X_MAX); this catches the unknown ones (a
     * backend fault, a bug) so that the group relearns instead of keeping its hosts' last
     * scores for good. */
    uint32_t bad = 0;
    for (uint32_t i = 0; i < g->n; i++)
        bad += g->reported[i] && g->res[i].age > W + 1 && !isfinite(g->res[i].score) &&
               any_finite(xb + (size_t)i * m, m);
    if (bad) {
        char why[VG_ERRLEN];
        if ((rc = reset_group(f, g, why, sizeof(why))) < 0)
            return vg_err(err, errlen, rc, "group %s: scored NaN, and starting it fresh failed: %s",
                          g->name, why);
        vg_error("model group scored NaN, starting it fresh",
                 "group=%s hosts=%u reason=\"%u host(s) that reported finite values scored NaN: "
                 "the model's weights or a host's window are not finite\"",
                 g->name, g->n, bad);
        return 0;
    }
    if (f->p.host_score &&
        (rc = vg_mv_residuals_targets(g->mv, g->resid, f->p.hs.state_weight > 0 ? g->z : NULL, err,
                                      errlen)) < 0)
        return rc;
    for (uint32_t i = 0; i < g->n; i++) {
        if (!g->reported[i])
            continue;
        g->last[i] = g->res[i];
        /* Until its window holds only its own ticks a host's residuals are not its own: its
         * host score neither fits nor calibrates on them. */
        if (f->p.host_score && g->res[i].age > W)
            host_score(f, g, i);
        if (f->fn) {
            struct vg_fleet_score s;
            vg_fleet_host(f, g->hosts[i], &s);
            s.warm = g->res[i].age > W;
            f->fn(f->ud, &s);
        }
    }
    return 0;
}

/* With step_when_complete: steps while every row that is not absent has a tick queued. */
static int step_complete(struct vg_fleet *f, struct group *g, char *err, size_t errlen)
{
    int rc = 0;
    while (!rc && f->p.step_when_complete && g->n_waiting == 0 && g->n_queued > 0)
        rc = step_group(f, g, 0, err, errlen);
    return rc;
}

/* Queues a tick of row i at ts, its values missing until the caller fills *out; a full queue
 * steps the group first. Returns 0.
 *
 * Every tick is queued, and so stepped and scored exactly once, however far behind its group the
 * row is: a host with a longer interval than its group's, or one whose ticks arrive after its
 * group stepped their time without it (a partition read late), is scored on each tick it sent.
 * (They used to be taken as owed to the steps that went without them and skipped: some ticks of a
 * host sending every 20 s in a group of 10 s hosts were never scored.) Redeliveries never get here:
 * the caller skips them by boot and sequence number (vg_model_run_feed, vg_engine_is_duplicate).
 * Event time cannot tell them: a tick not after the row's newest is the host's clock stepped
 * back, and skipping such ticks froze the host (a tick stamped a day ahead: every later one
 * skipped for a day). It is queued as any other; the interval learns nothing from it. */
static int q_push(struct vg_fleet *f, struct group *g, uint32_t i, int64_t ts, float **out,
                  char *err, size_t errlen)
{
    int64_t prev = g->push_ts[i];
    /* Reporting again: its group waits for it from now on. */
    if (g->absent[i]) {
        g->absent[i] = 0;
        g->n_waiting++;
        f->st.hosts_absent--;
    } else if (g->resting[i]) {
        g->resting[i] = 0;
        g->n_waiting++;
    }
    if (ts > 0 && prev > 0 && ts > prev) {
        double dt = (double)(ts - prev), iv = g->tick_ms[i];
        /* The interval learns from consecutive ticks only, not from gaps. */
        if (iv <= 0)
            g->tick_ms[i] = dt;
        else if (dt < 1.5 * iv)
            g->tick_ms[i] = 0.8 * iv + 0.2 * dt;
    }
    if (ts > 0)
        g->push_ts[i] = ts;
    if (g->qlen[i] == g->D) {
        int rc = step_group(f, g, 1, err, errlen);
        if (rc < 0)
            return rc;
    }
    if (g->qlen[i]++ == 0) {
        g->n_waiting--;
        g->n_queued++;
    }
    if (++f->st.ticks_queued > f->st.ticks_queued_max)
        f->st.ticks_queued_max = f->st.ticks_queued;
    float *x = q_tick(g, i, g->qlen[i] - 1);
    for (uint32_t j = 0; j < g->m; j++)
        x[j] = NAN;
    *q_ts(g, i, g->qlen[i] - 1) = ts;
    *out = x;
    return 0;
}

int vg_fleet_put(struct vg_fleet *f, const char *group, const char *host,
                 const struct vg_metric *metrics, size_t n, char *err, size_t errlen)
{
    return vg_fleet_put_at(f, group, host, 0, metrics, n, err, errlen);
}

static int reclaim_empty(struct vg_fleet *f);

/* A metric its group does not model (sent by a host that has more, or whose agent got a new
 * collector): its name goes into fresh (comma-separated, as much as fits) the first time the
 * group sees it, so that it is logged once, not every tick. */
static void note_ignored(struct group *g, const char *name, char *fresh, size_t len, size_t *n)
{
    if (!name || g->ignored.n >= VG_FLEET_IGNORED_MAX || vg_strmap_get(&g->ignored, name) ||
        vg_strmap_put(&g->ignored, name, (void *)1) < 0)
        return;
    size_t at = *n ? strlen(fresh) : 0;
    if (at + 1 < len)
        snprintf(fresh + at, len - at, "%s%s", *n ? "," : "", name);
    ++*n;
}

int vg_fleet_put_at(struct vg_fleet *f, const char *group, const char *host, int64_t ts_ms,
                    const struct vg_metric *metrics, size_t n, char *err, size_t errlen)
{
    if (!group || !*group)
        group = "default";
    struct hostref *ref = vg_strmap_get(&f->hosts, host);
    if (ref && strcmp(ref->g->name, group) != 0) {
        /* Its group label changed: its window, host score and columns are the old group's, and
         * its values would go on being read by that group's columns (those of the new group
         * dropped). It starts over in the group it names now, as a new host there. */
        char qf[160], qt[160], qh[160];
        vg_info("host moved group", "host=%s from=%s to=%s", vg_log_quote(qh, sizeof(qh), host),
                vg_log_quote(qf, sizeof(qf), ref->g->name), vg_log_quote(qt, sizeof(qt), group));
        vg_fleet_host_drop(f, host);
        f->st.hosts_regrouped++;
        ref = NULL;
    }
    if (!ref) {
        if (f->p.max_hosts && f->hosts.n >= f->p.max_hosts) {
            f->st.hosts_refused++;
            return 1;
        }
        struct group *g = vg_strmap_get(&f->groups, group);
        char why[VG_ERRLEN], q[VG_ERRLEN + 8], qg[160], qh[160];
        int rc = 0;
        if (!g) {
            if (f->p.max_groups && f->groups.n >= f->p.max_groups && !reclaim_empty(f)) {
                /* Its hosts get no mv score and rules on host:mv never fire for them: say so
                 * (the log's rate limit keeps it to a few lines, as it repeats every tick). */
                f->st.hosts_refused++;
                vg_warn("model group refused: model.max_groups reached", "group=%s host=%s max=%u",
                        vg_log_quote(qg, sizeof(qg), group), vg_log_quote(qh, sizeof(qh), host),
                        f->p.max_groups);
                return 1;
            }
            if (f->p.found_on_second_tick && !vg_strmap_get(&f->first_seen, host)) {
                /* Hosts that never report again (or never found their group) would pile up: the
                 * set is bounded, and a host forgotten so founds its group one tick later. */
                size_t cap = f->p.max_hosts ? f->p.max_hosts : VG_FLEET_FIRST_SEEN_MAX;
                if (f->first_seen.n >= cap) {
                    vg_strmap_free(&f->first_seen, NULL);
                    vg_strmap_init(&f->first_seen);
                }
                /* Out of memory only delays the founding further. */
                (void)vg_strmap_put(&f->first_seen, host, (void *)1);
                return 0;
            }
            rc = new_group(f, group, metrics, n, 1, &g, why, sizeof(why));
            if (rc > 0) {
                /* Too few metrics to model: a property of this host, not a failure; counted,
                 * and logged at debug level only since it repeats every tick. */
                f->st.hosts_refused++;
                vg_debug("host not modelled", "host=%s reason=%s",
                         vg_log_quote(qh, sizeof(qh), host), vg_log_quote(q, sizeof(q), why));
                return 1;
            }
        }
        if (rc == 0)
            rc = vg_mv_add_host(g->mv, NULL, why, sizeof(why));
        if (rc < 0) {
            /* No memory for a new group's model or for the host's rows (on a GPU, perhaps): a
             * fault, but one the group survives as it was; the other groups go on, and the
             * host's next tick tries again. */
            f->st.hosts_refused++;
            vg_warn("host not modelled", "group=%s host=%s reason=%s",
                    vg_log_quote(qg, sizeof(qg), group), vg_log_quote(qh, sizeof(qh), host),
                    vg_log_quote(q, sizeof(q), why));
            return 1;
        }
        if ((rc = vg_fleet_add_row(f, g, host, err, errlen)) < 0)
            return rc;
        vg_strmap_del(&f->first_seen, host);
        ref = vg_strmap_get(&f->hosts, host);
    }
    struct group *g = ref->g;
    float *row;
    int rc = q_push(f, g, ref->row, ts_ms, &row, err, errlen);
    if (rc < 0)
        return rc;
    char fresh[512];
    size_t nfresh = 0;
    for (size_t i = 0; i < n; i++) {
        void *c = vg_strmap_get(&g->colmap, metrics[i].name);
        if (!c) {
            f->st.metrics_ignored++;
            note_ignored(g, metrics[i].name, fresh, sizeof(fresh), &nfresh);
            continue;
        }
        /* The model reads floats: beyond one's range a value counts as VG_K_X_MAX. */
        row[(uintptr_t)c - 1] = vg_k_x_of(metrics[i].value);
    }
    if (nfresh) {
        char qg[160], qh[160], qm[sizeof(fresh) + 8];
        vg_info("metrics not in the model group: ignored (vigil_model_metrics_ignored_total)",
                "group=%s host=%s metrics=%s", vg_log_quote(qg, sizeof(qg), g->name),
                vg_log_quote(qh, sizeof(qh), host), vg_log_quote(qm, sizeof(qm), fresh));
    }
    f->st.ticks_put++;
    return step_complete(f, g, err, errlen);
}

int vg_fleet_step(struct vg_fleet *f, char *err, size_t errlen)
{
    for (size_t i = 0; i < f->groups.cap; i++) {
        if (!f->groups.keys[i])
            continue;
        int rc = step_group(f, f->groups.vals[i], 0, err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int vg_fleet_host(const struct vg_fleet *f, const char *host, struct vg_fleet_score *out)
{
    const struct hostref *ref = vg_strmap_get(&f->hosts, host);
    if (!ref)
        return -ENOENT;
    const struct group *g = ref->g;
    const struct vg_mv_result *r = &g->last[ref->row];
    memset(out, 0, sizeof(*out));
    out->group = g->name;
    out->host = g->hosts[ref->row];
    out->score = r->score;
    out->ts_ms = g->last_ts[ref->row];
    out->age = r->age;
    out->warm = r->age > vg_mv_params(g->mv)->window;
    for (uint32_t q = 0; q < r->n_top && q < VG_MV_TOPK_MAX; q++) {
        if (r->top[q] < 0 || (uint32_t)r->top[q] >= g->m)
            break;
        out->top[q] = g->cols[r->top[q]];
        out->top_err[q] = r->top_err[q];
        out->n_top++;
    }
    out->hs_rc = -ENOENT;
    out->hs_raw = NAN;
    if (f->p.host_score) {
        const struct hs_last *l = &g->hl[ref->row];
        out->hs_rc = l->rc;
        out->hs_score = l->score;
        out->hs_raw = l->raw;
        for (uint32_t q = 0; q < l->n; q++) {
            out->blame_top[q] = g->cols[l->top[q]];
            out->blame[q] = l->val[q];
        }
        out->n_blame = l->n;
    }
    return 0;
}

void vg_fleet_get_stats(const struct vg_fleet *f, struct vg_fleet_stats *out)
{
    *out = f->st;
}

/* ---- one host in and out of its group (scale-out, vg_model_mv.c) ---- */

int vg_fleet_host_export(const struct vg_fleet *f, const char *host,
                         struct vg_fleet_host_state *out, char *err, size_t errlen)
{
    const struct hostref *ref = vg_strmap_get(&f->hosts, host);
    if (!ref)
        return -ENOENT;
    const struct group *g = ref->g;
    size_t nf = vg_mv_host_floats(g->mv);
    float *row = malloc(nf * sizeof(float));
    if (!row)
        return vg_err(err, errlen, -ENOMEM, "out of memory");
    int rc = vg_mv_host_get(g->mv, ref->row, row, &out->age, &out->phase, err, errlen);
    if (rc < 0) {
        free(row);
        return rc;
    }
    out->hscore = NULL;
    out->hscore_len = 0;
    if (f->p.host_score) {
        out->hscore_len = vg_hscore_packed_size(g->m);
        if (!(out->hscore = malloc(out->hscore_len))) {
            free(row);
            return vg_err(err, errlen, -ENOMEM, "out of memory");
        }
        vg_hscore_pack(&g->hs[ref->row], out->hscore);
    }
    uint32_t nq = g->qlen[ref->row];
    out->n_queued = nq;
    out->queued = NULL;
    out->queued_ts = NULL;
    if (nq) {
        out->queued = malloc((size_t)nq * g->m * sizeof(float));
        out->queued_ts = malloc(nq * sizeof(int64_t));
        if (!out->queued || !out->queued_ts) {
            free(row);
            free(out->hscore);
            free(out->queued);
            free(out->queued_ts);
            return vg_err(err, errlen, -ENOMEM, "out of memory");
        }
        for (uint32_t k = 0; k < nq; k++) {
            memcpy(out->queued + (size_t)k * g->m, q_tick(g, ref->row, k), g->m * sizeof(float));
            out->queued_ts[k] = *q_ts(g, ref->row, k);
        }
    }
    out->group = g->name;
    out->cols = (const char *const *)g->cols;
    out->m = g->m;
    out->row = row;
    out->n_floats = nf;
    return 0;
}

/* Room for a new group at max_groups: frees a group whose hosts have all left (dropped by a
 * rebalance or expired), if there is one, with its checkpoint. Groups are not freed as soon as
 * they empty: a rebalance moves hosts away and often back, and their group's weights are worth
 * keeping meanwhile. But group names can change over time (a label per deployment), and empty
 * groups kept for good would have refused every new group past max_groups. The one empty
 * longest goes first. Returns 1 when one was freed. */
static int reclaim_empty(struct vg_fleet *f)
{
    struct group *g = NULL;
    for (size_t i = 0; i < f->groups.cap; i++) {
        struct group *c = f->groups.keys[i] ? f->groups.vals[i] : NULL;
        if (c && c->n == 0 && (!g || c->emptied < g->emptied))
            g = c; /* the one that has been empty longest */
    }
    if (!g)
        return 0;
    char qg[160];
    int rc = vg_fleet_ckpt_remove(f, g->name);
    if (rc < 0)
        vg_warn("model group checkpoint not removed", "group=%s reason=\"%s\"",
                vg_log_quote(qg, sizeof(qg), g->name), strerror(-rc));
    vg_info("model group freed: no host left, and model.max_groups reached", "group=%s",
            vg_log_quote(qg, sizeof(qg), g->name));
    vg_strmap_del(&f->groups, g->name);
    vg_fleet_free_group(g);
    f->st.groups--;
    return 1;
}

size_t vg_fleet_hosts_prune(struct vg_fleet *f, int (*keep)(void *ud, const char *host), void *ud)
{
    char **names = f->hosts.n ? malloc(f->hosts.n * sizeof(*names)) : NULL;
    size_t k = 0, n = 0;
    for (size_t i = 0; names && i < f->hosts.cap; i++)
        if (f->hosts.keys[i] && !keep(ud, f->hosts.keys[i]) &&
            (names[k] = strdup(f->hosts.keys[i]))) /* the key goes with the host */
            k++;
    for (size_t i = 0; i < k; i++) {
        n += vg_fleet_host_drop(f, names[i]) == 0;
        free(names[i]);
    }
    free(names);
    return n;
}

int vg_fleet_host_drop(struct vg_fleet *f, const char *host)
{
    struct hostref *ref = vg_strmap_get(&f->hosts, host);
    if (!ref)
        return -ENOENT;
    struct group *g = ref->g;
    uint32_t row = ref->row, last = g->n - 1;
    char why[VG_ERRLEN];
    if (vg_mv_remove_host(g->mv, row, why, sizeof(why)) < 0)
        return -ENOENT;
    /* Its queued ticks go with it (the new owner has them from its export). */
    f->st.ticks_queued -= g->qlen[row];
    if (g->qlen[row])
        g->n_queued--;
    else if (!g->absent[row] && !g->resting[row])
        g->n_waiting--;
    if (g->absent[row])
        f->st.hosts_absent--;
    free(g->hosts[row]);
    if (f->p.host_score)
        vg_hscore_free(&g->hs[row]);
    if (row != last) {
        /* The last row moved into this one in the model: the same here. */
        size_t dm = (size_t)g->D * g->m;
        g->hosts[row] = g->hosts[last];
        memcpy(g->qx + row * dm, g->qx + last * dm, dm * sizeof(float));
        memcpy(g->qts + (size_t)row * g->D, g->qts + (size_t)last * g->D, g->D * sizeof(int64_t));
        g->qhead[row] = g->qhead[last];
        g->qlen[row] = g->qlen[last];
        g->absent[row] = g->absent[last];
        g->resting[row] = g->resting[last];
        g->last_ts[row] = g->last_ts[last];
        g->push_ts[row] = g->push_ts[last];
        g->tick_ms[row] = g->tick_ms[last];
        g->since[row] = g->since[last];
        g->last[row] = g->last[last];
        if (f->p.host_score) {
            g->hs[row] = g->hs[last];
            g->hl[row] = g->hl[last];
        }
        struct hostref *moved = vg_strmap_get(&f->hosts, g->hosts[row]);
        if (moved)
            moved->row = row;
    }
    g->n--;
    g->emptied = ++f->drops;
    free(vg_strmap_del(&f->hosts, host));
    f->st.hosts--;
    return 0;
}

int vg_fleet_host_import(struct vg_fleet *f, const char *host, const struct vg_fleet_host_state *in,
                         int *fresh, char *err, size_t errlen)
{
    *fresh = 0;
    vg_fleet_host_drop(f, host); /* the record replaces what this fleet had of it */
    struct group *g = vg_strmap_get(&f->groups, in->group);
    if (!g) {
        if (f->p.max_groups && f->groups.n >= f->p.max_groups && !reclaim_empty(f))
            return vg_err(err, errlen, -ENOSPC, "group %s: model.max_groups reached", in->group);
        struct vg_metric *ms = calloc(in->m ? in->m : 1, sizeof(*ms));
        if (!ms)
            return vg_err(err, errlen, -ENOMEM, "out of memory");
        for (uint32_t j = 0; j < in->m; j++)
            ms[j].name = in->cols[j];
        char why[VG_ERRLEN];
        int grc = new_group(f, in->group, ms, in->m, 0, &g, why, sizeof(why));
        free(ms);
        if (grc != 0)
            return vg_err(err, errlen, grc > 0 ? -EINVAL : grc, "group %s: %s", in->group, why);
    }
    /* Made now, or by an earlier import: its weights have not learned anything here yet. */
    struct vg_mv_stats ms_st;
    vg_mv_get_stats(g->mv, &ms_st);
    *fresh = ms_st.ticks == 0;
    /* The first column where they differ: what an operator needs to tell which analyzer's
     * model.metrics or model.max_metrics made the group differently. */
    uint32_t at = 0;
    while (at < g->m && at < in->m && strcmp(g->cols[at], in->cols[at]) == 0)
        at++;
    if (at < g->m || at < in->m)
        return vg_err(err, errlen, -EINVAL,
                      "group %s models other metrics here: column %u is %s here, %s in the record "
                      "(%u columns here, %u in the record)",
                      in->group, at + 1, at < g->m ? g->cols[at] : "(none)",
                      at < in->m ? in->cols[at] : "(none)", g->m, in->m);
    if (in->n_floats != vg_mv_host_floats(g->mv)) {
        /* With the columns the same, the window is what sizes a row: named, as the checkpoint
         * path names it, rather than left to be worked out from the float counts. */
        uint32_t w = vg_mv_host_floats_window(g->mv, in->n_floats);
        if (w)
            return vg_err(err, errlen, -EINVAL,
                          "group %s: the record's host window is %u ticks, model.window here is "
                          "%u (%zu floats of host state, this model's shape takes %zu)",
                          in->group, w, vg_mv_params(g->mv)->window, in->n_floats,
                          vg_mv_host_floats(g->mv));
        return vg_err(err, errlen, -EINVAL,
                      "group %s: %zu floats of host state, this model's shape takes %zu", in->group,
                      in->n_floats, vg_mv_host_floats(g->mv));
    }
    if (f->p.max_hosts && f->hosts.n >= f->p.max_hosts)
        return vg_err(err, errlen, -ENOSPC, "limits.max_hosts reached");
    uint32_t id;
    int rc = vg_mv_add_host(g->mv, &id, err, errlen);
    if (rc < 0 || (rc = vg_fleet_add_row(f, g, host, err, errlen)) < 0)
        return rc;
    rc = vg_mv_host_set(g->mv, id, in->row, in->age, in->phase, err, errlen);
    if (rc == 0 && f->p.host_score && !*fresh && g->calib_top_k) {
        if (!g->calib_logged) {
            char q[160];
            vg_info("model.top_k changed: hosts restored into this group learn their calibration "
                    "again",
                    "group=%s checkpoint_top_k=%u top_k=%u", vg_log_quote(q, sizeof(q), g->name),
                    g->calib_top_k, vg_mv_params(g->mv)->score.top_k);
            g->calib_logged = 1;
        }
    } else if (rc == 0 && f->p.host_score && !*fresh) {
        if (!in->hscore)
            rc = vg_err(err, errlen, -EINVAL, "group %s: the record has no host score", in->group);
        else
            rc = vg_hscore_unpack(&g->hs[id], in->hscore, in->hscore_len, err, errlen);
    }
    if (rc < 0) {
        vg_fleet_host_drop(f, host);
        return rc;
    }
    g->last[id].age = in->age;
    g->since[id] = 0;
    g->push_ts[id] = 0;
    /* Its queued ticks, as if it reported them now (more than this fleet queues step the
     * oldest, as reports would); a value that is not finite is missing, as the model reads it. */
    for (uint32_t k = 0; k < in->n_queued; k++) {
        float *x;
        if ((rc = q_push(f, g, id, in->queued_ts[k], &x, err, errlen)) < 0)
            return rc; /* a backend failure: the model is unusable */
        for (uint32_t j = 0; j < g->m; j++) {
            float v = in->queued[(size_t)k * g->m + j];
            x[j] = isfinite(v) ? v : NAN;
        }
    }
    return step_complete(f, g, err, errlen);
}
