#include "vg_mv.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_mv_int.h"
#include "vg_util.h"

/* Sanity bounds, also applied to checkpoints read from disk. */
#define MAX_METRICS 65536
#define MAX_WINDOW  1024
#define MAX_WIDTH   16384

void vg_mv_params_default(struct vg_mv_params *p, uint32_t n_metrics)
{
    *p = (struct vg_mv_params){
        .n_metrics = n_metrics,
        .window = 8,
        .arch = VG_MV_FORECAST,
        .n_hidden = 2,
        .hidden = {64, 32},
        .lr = 1e-3f,
        .adam_b1 = 0.9f,
        .adam_b2 = 0.999f,
        .adam_eps = 1e-6f,
        .huber_delta = 3.0f,
        .train_every = 1,
        .train_rows = 1024,
        .train_max_score = 6.0f,
        .norm = {.alpha = 0.01f,
                 .prior_weight = 4.0f,
                 .floor_abs = 1e-2f,
                 .floor_rel = 1e-2f,
                 .z_clip = 10.0f},
        .score = {.alpha = 0.01f, .prior_weight = 4.0f, .floor = 0.05f, .clip = 4.0f, .top_k = 3},
        .seed = 1,
    };
}

int vg_mv_params_check(const struct vg_mv_params *p, char *err, size_t errlen)
{
#define BAD(...) return vg_err(err, errlen, -EINVAL, __VA_ARGS__)
    if (p->n_metrics < 1 || p->n_metrics > MAX_METRICS)
        BAD("n_metrics %u out of range 1..%d", p->n_metrics, MAX_METRICS);
    if (p->window < 1 || p->window > MAX_WINDOW)
        BAD("window %u out of range 1..%d", p->window, MAX_WINDOW);
    if (p->arch != VG_MV_FORECAST && p->arch != VG_MV_AUTOENCODER)
        BAD("arch %d unknown", (int)p->arch);
    if (p->n_hidden > VG_MV_MAX_HIDDEN)
        BAD("n_hidden %u above %d", p->n_hidden, VG_MV_MAX_HIDDEN);
    for (uint32_t i = 0; i < p->n_hidden; i++)
        if (p->hidden[i] < 1 || p->hidden[i] > MAX_WIDTH)
            BAD("hidden[%u] = %u out of range 1..%d", i, p->hidden[i], MAX_WIDTH);
    if ((uint64_t)p->window * p->n_metrics > 1u << 20)
        BAD("window x n_metrics = %llu above 2^20", (unsigned long long)p->window * p->n_metrics);
    if (!(p->lr > 0 && p->lr < 1))
        BAD("lr %g out of range (0,1)", p->lr);
    if (!(p->adam_b1 >= 0 && p->adam_b1 < 1) || !(p->adam_b2 >= 0 && p->adam_b2 < 1) ||
        !(p->adam_eps > 0))
        BAD("Adam parameters out of range");
    if (!(p->huber_delta > 0))
        BAD("huber_delta must be > 0");
    if (p->train_every < 1)
        BAD("train_every must be >= 1");
    if (!(p->train_max_score > 0))
        BAD("train_max_score must be > 0");
    /* floor_rel |c| is no floor for a centre at 0: a metric that stays at 0 (s and c both 0)
     * would give z = 0/0, a NaN that the centre and then the window take in. */
    if (!(p->norm.floor_abs > 0))
        BAD("norm.floor_abs %g must be > 0", p->norm.floor_abs);
    if (!(p->norm.alpha > 0 && p->norm.alpha <= 1) || !(p->norm.prior_weight >= 1) ||
        !(p->norm.floor_rel >= 0) || !(p->norm.z_clip > 0))
        BAD("normaliser parameters out of range");
    if (!(p->score.alpha > 0 && p->score.alpha <= 1) || !(p->score.prior_weight >= 1) ||
        !(p->score.floor > 0) || !(p->score.clip >= 1))
        BAD("score parameters out of range");
    if (p->score.top_k < 1 || p->score.top_k > VG_MV_TOPK_MAX || p->score.top_k > p->n_metrics)
        BAD("top_k %u out of range 1..min(%d, n_metrics)", p->score.top_k, VG_MV_TOPK_MAX);
    return 0;
#undef BAD
}

static void *kalloc(struct vg_mv *mv, size_t bytes)
{
    return mv->ops->alloc(mv->ctx, bytes);
}

static void kfree(struct vg_mv *mv, void *p)
{
    if (p)
        mv->ops->free(mv->ctx, p);
}

_Static_assert(sizeof(int32_t) == sizeof(float), "top_idx is packed among floats in out");

static void *halloc(struct vg_mv *mv, size_t bytes)
{
    return mv->ops->host_alloc(mv->ctx, bytes);
}

static void hfree(struct vg_mv *mv, void *p)
{
    if (p)
        mv->ops->host_free(mv->ctx, p);
}

/* splitmix64: small, seedable, the same everywhere. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static float rng_uniform(uint64_t *s)
{
    return (float)((rng_next(s) >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

static int init_weights(struct vg_mv *mv)
{
    float *h = calloc(mv->n_params, sizeof(float));
    if (!h)
        return -ENOMEM;
    uint64_t s = mv->p.seed;
    for (int l = 0; l < mv->n_layers; l++) {
        const struct layer *L = &mv->L[l];
        /* He-uniform for the leaky-ReLU layers; the linear output starts small so the first
         * predictions sit near the centre (z = 0) instead of at random offsets. */
        float a = sqrtf(6.0f / (float)L->in);
        if (l == mv->n_layers - 1)
            a *= 0.1f;
        for (size_t i = 0; i < (size_t)L->in * L->out; i++)
            h[L->w_off + i] = a * rng_uniform(&s);
    }
    int rc = mv->ops->upload(mv->ctx, mv->param, h, mv->n_params * sizeof(float));
    free(h);
    return rc;
}

/* Frees the step recordings; a step after records again. */
static void rec_drop(struct vg_mv *mv)
{
    if (mv->rec)
        for (int i = 0; i < mv->ring; i++)
            if (mv->rec[i])
                mv->ops->drop(mv->ctx, mv->rec[i]);
    free(mv->rec);
    mv->rec = NULL;
}

/* A buffer grow() replaces: where it lives, its new size, and how much of the old one it keeps. */
enum { IN_BACKEND, IN_PINNED, IN_HEAP };
struct regrow {
    float **p;
    int where;
    size_t bytes, keep;
    float *nb;
};

static float *regrow_alloc(struct vg_mv *mv, int where, size_t bytes)
{
    if (where == IN_BACKEND)
        return kalloc(mv, bytes);
    return where == IN_PINNED ? halloc(mv, bytes) : calloc(1, bytes);
}

static void regrow_free(struct vg_mv *mv, int where, float *p)
{
    if (where == IN_BACKEND)
        kfree(mv, p);
    else if (where == IN_PINNED)
        hfree(mv, p);
    else
        free(p);
}

/* (Re)allocates every per-host buffer for cap rows, keeping the first n rows. Every new buffer is
 * allocated before an old one is let go, so a grow that runs out of memory (a full GPU) leaves
 * the model as it was and its hosts step on; freeing as it went left NULL buffers behind, which
 * the next step wrote through. */
static int grow(struct vg_mv *mv, uint32_t cap)
{
    size_t m = mv->p.n_metrics, K = mv->p.score.top_k, wl = vg_mv_rowlen_win(mv), n = mv->n;
    size_t f = sizeof(float), last_out = (size_t)mv->L[mv->n_layers - 1].out;
    uint32_t train_cap = mv->p.train_rows && mv->p.train_rows < cap ? mv->p.train_rows : cap;
    struct regrow r[16 + 2 * MAX_LAYERS] = {
        {&mv->x, IN_BACKEND, m * cap * f, 0, NULL},
        {&mv->c, IN_BACKEND, m * cap * f, m * n * f, NULL},
        {&mv->s, IN_BACKEND, m * cap * f, m * n * f, NULL},
        {&mv->cnt, IN_BACKEND, m * cap * f, m * n * f, NULL},
        {&mv->r, IN_BACKEND, m * cap * f, m * n * f, NULL},
        {&mv->tgt, IN_BACKEND, m * cap * f, 0, NULL},
        {&mv->win, IN_BACKEND, wl * cap * f, wl * n * f, NULL},
        {&mv->out, IN_BACKEND, (1 + 2 * K) * cap * f, 0, NULL},
        {&mv->roww, IN_BACKEND, cap * f, 0, NULL},
        {&mv->loss, IN_BACKEND, cap * f, 0, NULL},
        {&mv->h_x, IN_PINNED, m * cap * f, m * n * f, NULL},
        {&mv->h_out, IN_PINNED, (1 + 2 * K) * cap * f, 0, NULL},
        {&mv->h_tgt_pred, IN_PINNED, (m + last_out) * cap * f, 0, NULL},
        {&mv->h_roww, IN_HEAP, cap * f, 0, NULL},
        {&mv->h_loss, IN_HEAP, cap * f, 0, NULL},
    };
    size_t nr = 15;
    if (mv->p.arch == VG_MV_AUTOENCODER)
        r[nr++] = (struct regrow){&mv->twin, IN_BACKEND, wl * cap * f, wl * n * f, NULL};
    for (int l = 0; l < mv->n_layers; l++) {
        struct layer *L = &mv->L[l];
        r[nr++] = (struct regrow){&L->act, IN_BACKEND, (size_t)cap * L->out * f, 0, NULL};
        r[nr++] = (struct regrow){&L->d, IN_BACKEND, (size_t)train_cap * L->out * f, 0, NULL};
    }
    uint32_t *age = calloc(cap, sizeof(*age));
    size_t i = 0;
    while (age && i < nr && (r[i].nb = regrow_alloc(mv, r[i].where, r[i].bytes)))
        i++;
    if (i < nr) {
        while (i-- > 0)
            regrow_free(mv, r[i].where, r[i].nb);
        free(age);
        return -ENOMEM;
    }
    rec_drop(mv); /* they hold the buffers replaced here */
    for (i = 0; i < nr; i++) {
        if (*r[i].p && r[i].keep) {
            if (r[i].where == IN_BACKEND)
                mv->ops->copy(mv->ctx, r[i].nb, *r[i].p, r[i].keep);
            else
                memcpy(r[i].nb, *r[i].p, r[i].keep);
        }
        regrow_free(mv, r[i].where, *r[i].p);
        *r[i].p = r[i].nb;
    }
    if (mv->age && n)
        memcpy(age, mv->age, n * sizeof(*age));
    free(mv->age);
    mv->age = age;
    mv->cap = cap;
    mv->train_cap = train_cap;
    return 0;
}

int vg_mv_build(struct vg_mv **out, const struct vg_mv_params *p, struct vg_k *k, char *err,
                size_t errlen)
{
    int rc = vg_mv_params_check(p, err, errlen);
    if (rc < 0)
        return rc;
    if (!k || !k->ops)
        return vg_err(err, errlen, -EINVAL, "no compute backend");
    struct vg_mv *mv = calloc(1, sizeof(*mv));
    if (!mv)
        return vg_err(err, errlen, -ENOMEM, "out of memory");
    mv->p = *p;
    mv->block_samples = VG_MV_BLOCK_SAMPLES;
    mv->recording = 1;
    mv->k = k;
    mv->ops = k->ops;
    mv->ctx = k->ctx;
    int m = (int)p->n_metrics, W = (int)p->window;
    mv->lag = p->arch == VG_MV_FORECAST ? 1 : 0;
    /* The ring keeps the last W ticks, plus tick t itself for a forecaster whose input ends at
     * t-1. Each tick is written twice, R slots apart, so every window is one contiguous run of
     * W*m floats and the first layer reads it in place (lda = 2Rm) without a gather. */
    mv->ring = W + mv->lag;
    mv->in_dim = W * m;
    mv->out_dim = p->arch == VG_MV_FORECAST ? m : W * m;
    mv->n_layers = (int)p->n_hidden + 1;
    size_t off = 0;
    for (int l = 0; l < mv->n_layers; l++) {
        struct layer *L = &mv->L[l];
        L->in = l == 0 ? mv->in_dim : (int)p->hidden[l - 1];
        L->out = l == mv->n_layers - 1 ? mv->out_dim : (int)p->hidden[l];
        L->w_off = off;
        off += (size_t)L->in * L->out;
        L->b_off = off;
        off += (size_t)L->out;
    }
    mv->n_params = off;
    size_t pb = off * sizeof(float);
    mv->param = kalloc(mv, pb);
    mv->grad = kalloc(mv, pb);
    mv->adam_m = kalloc(mv, pb);
    mv->adam_v = kalloc(mv, pb);
    mv->prior_s = kalloc(mv, (size_t)m * sizeof(float));
    mv->prior_r = kalloc(mv, (size_t)m * sizeof(float));
    if (!mv->param || !mv->grad || !mv->adam_m || !mv->adam_v || !mv->prior_s || !mv->prior_r ||
        grow(mv, 16) < 0) {
        vg_mv_free(mv);
        return vg_err(err, errlen, -ENOMEM, "model of %zu parameters: out of memory", off);
    }
    /* Before any host has a history: no typical scale, residuals of one normalised unit. */
    float *one = malloc((size_t)m * sizeof(float));
    if (!one) {
        vg_mv_free(mv);
        return vg_err(err, errlen, -ENOMEM, "out of memory");
    }
    for (int j = 0; j < m; j++)
        one[j] = 1.0f;
    rc = mv->ops->upload(mv->ctx, mv->prior_r, one, (size_t)m * sizeof(float));
    free(one);
    if (rc < 0) {
        vg_mv_free(mv);
        return vg_err(err, errlen, rc, "backend upload failed");
    }
    *out = mv;
    return 0;
}

int vg_mv_new(struct vg_mv **out, const struct vg_mv_params *p, struct vg_k *k, char *err,
              size_t errlen)
{
    int rc = vg_mv_build(out, p, k, err, errlen);
    if (rc < 0)
        return rc;
    rc = init_weights(*out);
    if (rc < 0) {
        vg_mv_free(*out);
        *out = NULL;
        return vg_err(err, errlen, rc, "weight initialisation failed");
    }
    return 0;
}

void vg_mv_free(struct vg_mv *mv)
{
    if (!mv)
        return;
    float *bufs[] = {mv->param, mv->grad, mv->adam_m, mv->adam_v, mv->prior_s, mv->prior_r,
                     mv->x,     mv->c,    mv->s,      mv->cnt,    mv->r,       mv->tgt,
                     mv->win,   mv->out,  mv->roww,   mv->loss,   mv->twin};
    for (size_t i = 0; i < VG_ARRAY_LEN(bufs); i++)
        kfree(mv, bufs[i]);
    for (int l = 0; l < mv->n_layers; l++) {
        kfree(mv, mv->L[l].act);
        kfree(mv, mv->L[l].d);
    }
    rec_drop(mv);
    free(mv->age);
    hfree(mv, mv->h_x);
    hfree(mv, mv->h_out);
    hfree(mv, mv->h_tgt_pred);
    free(mv->h_roww);
    free(mv->h_loss);
    free(mv);
}

int vg_mv_add_host(struct vg_mv *mv, uint32_t *id, char *err, size_t errlen)
{
    if (mv->n == mv->cap) {
        if (mv->cap >= UINT32_MAX / 2 || grow(mv, mv->cap * 2) < 0)
            return vg_err(err, errlen, -ENOMEM, "host %u: out of memory", mv->n);
    }
    uint32_t i = mv->n;
    size_t m = mv->p.n_metrics;
    /* A new row starts blank: count 0 (the first value sets the centre and takes the group's
     * scale), a window at the centre. Rows beyond n may hold a removed past, so clear them. */
    float *rows[] = {mv->c, mv->s, mv->cnt, mv->r};
    for (size_t b = 0; b < VG_ARRAY_LEN(rows); b++)
        mv->ops->zero(mv->ctx, rows[b] + i * m, m * sizeof(float));
    size_t wl = vg_mv_rowlen_win(mv);
    mv->ops->zero(mv->ctx, mv->win + i * wl, wl * sizeof(float));
    if (mv->twin)
        mv->ops->zero(mv->ctx, mv->twin + i * wl, wl * sizeof(float));
    mv->age[i] = 0;
    mv->n++;
    if (id)
        *id = i;
    return 0;
}

void vg_mv_set_pipeline(struct vg_mv *mv, uint64_t block_samples)
{
    mv->block_samples = block_samples;
    rec_drop(mv);
}

void vg_mv_set_recording(struct vg_mv *mv, int on)
{
    mv->recording = on;
    rec_drop(mv);
}

float *vg_mv_tick_buffer(struct vg_mv *mv)
{
    return mv->h_x;
}

uint32_t vg_mv_n_hosts(const struct vg_mv *mv)
{
    return mv->n;
}

const struct vg_mv_params *vg_mv_params(const struct vg_mv *mv)
{
    return &mv->p;
}

void vg_mv_get_stats(const struct vg_mv *mv, struct vg_mv_stats *out)
{
    *out = mv->st;
}

double vg_mv_flops(const struct vg_mv_params *p, uint32_t n, uint32_t rows)
{
    double macs = 0, macs_dx = 0, wm = (double)p->window * p->n_metrics;
    double in = wm;
    for (uint32_t l = 0; l <= p->n_hidden; l++) {
        /* An autoencoder's output is its whole window again, not the last hidden width. */
        double out =
            l < p->n_hidden ? p->hidden[l] : (p->arch == VG_MV_FORECAST ? p->n_metrics : wm);
        double mm = in * out;
        macs += mm;
        if (l > 0)
            macs_dx += mm;
        in = out;
    }
    /* Forward for every host; the weight gradient for every trained row, and the input gradient
     * for every layer but the first. Element-wise work is left out: it is not what bounds. */
    return 2.0 * n * macs + 2.0 * rows * (macs + macs_dx);
}

/* Window of host rows ending at tick `last`: pointer to its first float. */
static float *window_at(const struct vg_mv *mv, uint64_t last)
{
    int R = mv->ring, W = (int)mv->p.window;
    int s0 = (int)((last + (uint64_t)R * 2 - (uint64_t)(W - 1)) % (uint64_t)R);
    return mv->win + (size_t)s0 * mv->p.n_metrics;
}

/* The window the model reads this tick: a forecaster's ends the tick before the newest. */
static float *input_window(const struct vg_mv *mv)
{
    return window_at(mv, mv->ticks + (uint64_t)mv->ring - (uint64_t)mv->lag);
}

static int fail(struct vg_mv *mv, char *err, size_t errlen)
{
    char why[VG_ERRLEN];
    int rc = mv->ops->sync(mv->ctx, why, sizeof(why));
    return vg_err(err, errlen, rc < 0 ? rc : -EIO, "compute backend %s: %s", mv->ops->name,
                  rc < 0 ? why : "failed");
}

static int train(struct vg_mv *mv, const float *win_in, char *err, size_t errlen)
{
    const struct vg_k_ops *o = mv->ops;
    void *cx = mv->ctx;
    uint32_t n = mv->n, off = (uint32_t)(mv->train_off % n);
    uint32_t B = mv->train_cap < n - off ? mv->train_cap : n - off;
    mv->train_off = (off + B) % n;
    uint32_t W = mv->p.window;
    float wsum = 0;
    for (uint32_t i = 0; i < B; i++) {
        float s = mv->h_score[off + i];
        /* Learn only from hosts whose window holds their own history, and not from ticks that
         * look anomalous: the model must not be taught that an incident is normal. */
        int ok = mv->age[off + i] > W + 1 && isfinite(s) && s <= mv->p.train_max_score;
        mv->h_roww[i] = ok ? 1.0f : 0.0f;
        wsum += mv->h_roww[i];
        if (!ok && mv->age[off + i] > W + 1)
            mv->st.rows_skipped++;
    }
    if (wsum == 0)
        return 0;
    if (o->upload(cx, mv->roww, mv->h_roww, B * sizeof(float)) < 0)
        return fail(mv, err, errlen);
    int m = (int)mv->p.n_metrics, ldw = (int)vg_mv_rowlen_win(mv), Lz = mv->n_layers - 1;
    struct layer *last = &mv->L[Lz];
    const float *T;
    int ldt;
    if (mv->p.arch == VG_MV_FORECAST) {
        T = mv->tgt + (size_t)off * m;
        ldt = m;
    } else {
        T = mv->twin + (win_in - mv->win) + (size_t)off * ldw;
        ldt = ldw;
    }
    float scale = 1.0f / (wsum * (float)mv->out_dim);
    o->huber(cx, (int)B, last->out, last->act + (size_t)off * last->out, last->out, T, ldt,
             mv->roww, mv->p.huber_delta, scale, last->d, last->out, mv->loss);
    for (int l = Lz; l >= 0; l--) {
        struct layer *L = &mv->L[l];
        if (l < Lz)
            o->act_grad(cx, L->d, L->out, L->act + (size_t)off * L->out, L->out, (int)B, L->out,
                        VG_K_ACT_LEAKY);
        const float *in =
            l == 0 ? win_in + (size_t)off * ldw : mv->L[l - 1].act + (size_t)off * mv->L[l - 1].out;
        int ldi = l == 0 ? ldw : mv->L[l - 1].out;
        o->gemm(cx, 1, 0, L->in, L->out, (int)B, 1.0f, in, ldi, L->d, L->out, 0.0f,
                mv->grad + L->w_off, L->out);
        o->colsum(cx, mv->grad + L->b_off, L->d, L->out, (int)B, L->out, 1.0f);
        if (l > 0)
            o->gemm(cx, 0, 1, (int)B, L->in, L->out, 1.0f, L->d, L->out, mv->param + L->w_off,
                    L->out, 0.0f, mv->L[l - 1].d, L->in);
    }
    mv->adam_t++;
    float bc1 = 1.0f - powf(mv->p.adam_b1, (float)mv->adam_t);
    float bc2 = 1.0f - powf(mv->p.adam_b2, (float)mv->adam_t);
    o->adam(cx, mv->n_params, mv->param, mv->grad, mv->adam_m, mv->adam_v, mv->p.lr, mv->p.adam_b1,
            mv->p.adam_b2, mv->p.adam_eps, bc1, bc2);
    char why[VG_ERRLEN];
    if (o->download(cx, mv->h_loss, mv->loss, B * sizeof(float), why, sizeof(why)) < 0)
        return vg_err(err, errlen, -EIO, "compute backend %s: %s", o->name, why);
    double lsum = 0;
    for (uint32_t i = 0; i < B; i++)
        lsum += mv->h_loss[i];
    mv->st.last_loss = lsum / ((double)wsum * mv->out_dim);
    mv->st.train_steps++;
    mv->st.rows_trained += (uint64_t)wsum;
    return 0;
}

/* Host rows [a, b) of a step's tick up to the backend. 0 or -EIO (the upload refused). */
static int upload_rows(struct vg_mv *mv, const float *x, uint32_t a, uint32_t b)
{
    size_t am = (size_t)a * mv->p.n_metrics;
    if (b == a)
        return 0;
    return mv->ops->upload(mv->ctx, mv->x + am, x + am,
                           (size_t)(b - a) * mv->p.n_metrics * sizeof(float)) < 0
               ? -EIO
               : 0;
}

/* Host rows [a, b) of a step, once uploaded: into the window, forward through every layer,
 * scored. Rows are independent, so a backend with work queues computes one block while the next
 * one's upload runs. */
static void compute_rows(struct vg_mv *mv, uint32_t a, uint32_t b)
{
    const struct vg_k_ops *o = mv->ops;
    void *cx = mv->ctx;
    uint32_t n = mv->n, rows = b - a;
    int m = (int)mv->p.n_metrics, K = (int)mv->p.score.top_k, ldw = (int)vg_mv_rowlen_win(mv);
    size_t am = (size_t)a * m;
    uint64_t t = mv->ticks;
    int R = mv->ring;
    if (rows == 0)
        return;
    o->ingest(cx, &mv->p.norm, (int)rows, m, mv->x + am, mv->c + am, mv->s + am, mv->cnt + am,
              mv->prior_s, mv->win + (size_t)a * ldw, mv->twin ? mv->twin + (size_t)a * ldw : NULL,
              ldw, (int)(t % (uint64_t)R), (int)(t % (uint64_t)R) + R, mv->tgt + am);
    /* Forward: one GEMM per layer over the block's hosts. */
    const float *in = input_window(mv) + (size_t)a * ldw;
    int ldi = ldw;
    for (int l = 0; l < mv->n_layers; l++) {
        struct layer *L = &mv->L[l];
        float *act = L->act + (size_t)a * L->out;
        o->gemm(cx, 0, 0, (int)rows, L->out, L->in, 1.0f, in, ldi, mv->param + L->w_off, L->out,
                0.0f, act, L->out);
        o->bias_act(cx, act, L->out, (int)rows, L->out, mv->param + L->b_off,
                    l < mv->n_layers - 1 ? VG_K_ACT_LEAKY : VG_K_ACT_NONE);
        in = act;
        ldi = L->out;
    }
    const struct layer *last = &mv->L[mv->n_layers - 1];
    /* The newest tick's predictions: the whole output of a forecaster, the last W-th of an
     * autoencoder's. The results are packed for all n hosts (score[n], top_err[n K],
     * top_idx[n K]) so that one download fetches them. */
    size_t pred_off = mv->p.arch == VG_MV_FORECAST ? 0 : (size_t)(mv->p.window - 1) * m;
    size_t nk = (size_t)n * K, ak = (size_t)a * K;
    o->score(cx, &mv->p.score, (int)rows, m, last->act + (size_t)a * last->out + pred_off,
             last->out, mv->tgt + am, mv->r + am, mv->cnt + am, mv->prior_r, mv->out + a,
             (int32_t *)(mv->out + n + nk) + ak, mv->out + n + ak);
}

/* Blocks a step's hosts are cut into: one where the backend has no queues to overlap them on,
 * else one per block_samples (at most 16). */
static uint32_t blocks_of(const struct vg_mv *mv)
{
    if (!mv->ops->queue || !mv->ops->wait || mv->block_samples == 0)
        return 1;
    uint64_t nb = (uint64_t)mv->n * mv->p.n_metrics / mv->block_samples;
    if (nb > 16)
        nb = 16;
    if (nb > mv->n)
        nb = mv->n;
    return nb ? (uint32_t)nb : 1;
}

/* Queues a step's blocks. Uploads go on queue 1 back to back, so the link never waits for
 * compute; queue 0 computes each block once its upload is in. Waiting for queue 0 first keeps the
 * uploads off the input rows the tick before still reads; queue 0 has waited for every upload
 * by the end, so the step is whole against the work after it. Ends on queue 0. 0 or -EIO. */
static int queue_blocks(struct vg_mv *mv, const float *src, uint32_t nb)
{
    const struct vg_k_ops *o = mv->ops;
    void *cx = mv->ctx;
    uint32_t n = mv->n;
    if (nb > 1) {
        o->queue(cx, 1);
        o->wait(cx, 0);
    }
    for (uint32_t b = 0; b < nb; b++) {
        uint32_t r0 = (uint32_t)(n * (uint64_t)b / nb), r1 = (uint32_t)(n * (uint64_t)(b + 1) / nb);
        if (nb > 1)
            o->queue(cx, 1);
        int rc = upload_rows(mv, src, r0, r1);
        if (nb > 1) {
            o->queue(cx, 0); /* later calls (a checkpoint, say) expect queue 0 */
            o->wait(cx, 1);
        }
        if (rc < 0)
            return rc;
        compute_rows(mv, r0, r1);
    }
    return 0;
}

int vg_mv_step(struct vg_mv *mv, const float *x, int flags, struct vg_mv_result *res, char *err,
               size_t errlen)
{
    const struct vg_k_ops *o = mv->ops;
    void *cx = mv->ctx;
    uint32_t n = mv->n;
    int m = (int)mv->p.n_metrics, K = (int)mv->p.score.top_k;
    if (n == 0)
        return 0;
    /* Hosts added since the last step take the group's typical scales (column means over the
     * hosts that have a history) as the prior for their first values. */
    if (mv->n_primed < n && mv->n_primed > 0) {
        float inv = 1.0f / (float)mv->n_primed;
        o->colsum(cx, mv->prior_s, mv->s, m, (int)mv->n_primed, m, inv);
        o->colsum(cx, mv->prior_r, mv->r, m, (int)mv->n_primed, m, inv);
    }
    mv->n_primed = n;
    const float *src = x ? x : mv->h_x;
    uint32_t nb = blocks_of(mv);
    /* A step through the tick buffer is recorded once per ring phase (the window's pointers
     * turn with the tick) and replayed after, as one submission. */
    void **slot = NULL;
    if (!x && mv->recording && o->record_begin && mv->ticks > 0) {
        if (mv->rec && (mv->rec_n != n || mv->rec_nb != nb))
            rec_drop(mv);
        if (!mv->rec && (mv->rec = calloc((size_t)mv->ring, sizeof(void *)))) {
            mv->rec_n = n;
            mv->rec_nb = nb;
        }
        if (mv->rec)
            slot = &mv->rec[mv->ticks % (uint64_t)mv->ring];
    }
    if (slot && !*slot) {
        void *r = NULL;
        if (o->record_begin(cx) == 0) {
            int qr = queue_blocks(mv, src, nb);
            r = o->record_end(cx);
            if (qr < 0 && r) {
                o->drop(cx, r);
                r = NULL;
            }
        }
        if (r) {
            *slot = r;
        } else {
            /* Not recordable here (nothing ran): this model steps unrecorded from now on. */
            rec_drop(mv);
            mv->recording = 0;
            slot = NULL;
        }
    }
    int rc = 0;
    if (slot && *slot) {
        o->replay(cx, *slot);
        mv->st.steps_replayed++;
    } else {
        rc = queue_blocks(mv, src, nb);
    }
    if (rc < 0)
        return fail(mv, err, errlen);
    const float *win_in = input_window(mv);
    size_t nk = (size_t)n * K;
    char why[VG_ERRLEN];
    if (o->download(cx, mv->h_out, mv->out, (n + 2 * nk) * sizeof(float), why, sizeof(why)) < 0)
        return vg_err(err, errlen, -EIO, "compute backend %s: %s", o->name, why);
    mv->h_score = mv->h_out;
    mv->h_top_err = mv->h_out + n;
    mv->h_top_idx = (int32_t *)(mv->h_out + n + nk);
    for (uint32_t i = 0; i < n; i++) {
        if (mv->age[i] < UINT32_MAX)
            mv->age[i]++;
        if (!res)
            continue;
        struct vg_mv_result *rr = &res[i];
        rr->score = mv->h_score[i];
        rr->age = mv->age[i];
        rr->n_top = 0;
        for (int q = K; q < VG_MV_TOPK_MAX; q++) {
            rr->top[q] = -1;
            rr->top_err[q] = 0;
        }
        for (int q = 0; q < K; q++) {
            rr->top[q] = mv->h_top_idx[(size_t)i * K + q];
            rr->top_err[q] = mv->h_top_err[(size_t)i * K + q];
            if (rr->top[q] >= 0)
                rr->n_top++;
        }
    }
    mv->ticks++;
    mv->st.ticks = mv->ticks;
    if ((flags & VG_MV_TRAIN) && mv->ticks % mv->p.train_every == 0)
        return train(mv, win_in, err, errlen);
    return 0;
}

int vg_mv_residuals_targets(const struct vg_mv *mv, float *res, float *z, char *err, size_t errlen)
{
    size_t n = mv->n, m = mv->p.n_metrics;
    const struct layer *last = &mv->L[mv->n_layers - 1];
    size_t pred_off = mv->p.arch == VG_MV_FORECAST ? 0 : (size_t)(mv->p.window - 1) * m;
    if (n == 0)
        return 0;
    /* The targets once, both downloads into the model's own host memory (page-locked on a GPU:
     * one DMA each, where the caller's ordinary memory would be staged). */
    float *tgt = mv->h_tgt_pred, *pred = mv->h_tgt_pred + n * m;
    char why[VG_ERRLEN];
    if (mv->ops->download(mv->ctx, tgt, mv->tgt, n * m * sizeof(float), why, sizeof(why)) < 0 ||
        mv->ops->download(mv->ctx, pred, last->act, n * (size_t)last->out * sizeof(float), why,
                          sizeof(why)) < 0)
        return vg_err(err, errlen, -EIO, "compute backend %s: %s", mv->ops->name, why);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m; j++)
            res[i * m + j] = tgt[i * m + j] - pred[i * (size_t)last->out + pred_off + j];
    if (z)
        memcpy(z, tgt, n * m * sizeof(float));
    return 0;
}

int vg_mv_residuals(const struct vg_mv *mv, float *out, char *err, size_t errlen)
{
    return vg_mv_residuals_targets(mv, out, NULL, err, errlen);
}

int vg_mv_targets(const struct vg_mv *mv, float *out, char *err, size_t errlen)
{
    size_t n = mv->n, m = mv->p.n_metrics;
    char why[VG_ERRLEN];
    if (n && mv->ops->download(mv->ctx, out, mv->tgt, n * m * sizeof(float), why, sizeof(why)) < 0)
        return vg_err(err, errlen, -EIO, "compute backend %s: %s", mv->ops->name, why);
    return 0;
}

int vg_mv_remove_host(struct vg_mv *mv, uint32_t id, char *err, size_t errlen)
{
    if (id >= mv->n)
        return vg_err(err, errlen, -ENOENT, "host %u: no such host", id);
    uint32_t last = mv->n - 1;
    if (id != last) {
        float *bufs[5];
        size_t per_row[5], nb = vg_mv_host_bufs(mv, bufs, per_row);
        for (size_t b = 0; b < nb; b++)
            mv->ops->copy(mv->ctx, bufs[b] + id * per_row[b], bufs[b] + last * per_row[b],
                          per_row[b] * sizeof(float));
        size_t m = mv->p.n_metrics, wl = vg_mv_rowlen_win(mv);
        if (mv->twin)
            mv->ops->copy(mv->ctx, mv->twin + id * wl, mv->twin + last * wl, wl * sizeof(float));
        memcpy(mv->h_x + id * m, mv->h_x + last * m, m * sizeof(float));
        mv->age[id] = mv->age[last];
    }
    mv->n--;
    /* A moved row that had no step yet now sits among the primed ones: it only weighs in the
     * next priors (column means) with its blank scales, never loses its own state. */
    if (mv->n_primed > mv->n)
        mv->n_primed = mv->n;
    return 0;
}
