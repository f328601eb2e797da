#include "vg_mv_ckpt.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_hscore.h"
#include "vg_mv_int.h"
#include "vg_util.h"

#define CKPT_KIND  "vg_mv"
#define TAG_PARAMS VG_CKPT_TAG('M', 'V', 'P', 'A')
#define TAG_STATE  VG_CKPT_TAG('M', 'V', 'S', 'T')
#define TAG_WEIGHT VG_CKPT_TAG('M', 'V', 'W', 'T')
#define TAG_ADAM_M VG_CKPT_TAG('M', 'V', 'A', 'M')
#define TAG_ADAM_V VG_CKPT_TAG('M', 'V', 'A', 'V')
#define TAG_AGES   VG_CKPT_TAG('M', 'V', 'H', 'A')
#define TAG_HOSTS  VG_CKPT_TAG('M', 'V', 'H', 'S')
#define TAG_PRIORS VG_CKPT_TAG('M', 'V', 'P', 'R')

/* ---- checkpoints ---- */

/* The parameters as 32-bit words, in a fixed order (floats by their bits). */
#define N_PWORDS 32
static void params_pack(const struct vg_mv_params *p, uint32_t w[N_PWORDS])
{
    memset(w, 0, N_PWORDS * sizeof(uint32_t));
    float f[] = {p->lr,
                 p->adam_b1,
                 p->adam_b2,
                 p->adam_eps,
                 p->huber_delta,
                 p->train_max_score,
                 p->norm.alpha,
                 p->norm.prior_weight,
                 p->norm.floor_abs,
                 p->norm.floor_rel,
                 p->norm.z_clip,
                 p->score.alpha,
                 p->score.prior_weight,
                 p->score.floor,
                 p->score.clip};
    size_t i = 0;
    w[i++] = p->n_metrics;
    w[i++] = p->window;
    w[i++] = (uint32_t)p->arch;
    w[i++] = p->n_hidden;
    for (int h = 0; h < VG_MV_MAX_HIDDEN; h++)
        w[i++] = p->hidden[h];
    w[i++] = p->train_every;
    w[i++] = p->train_rows;
    w[i++] = p->score.top_k;
    w[i++] = (uint32_t)p->seed;
    w[i++] = (uint32_t)(p->seed >> 32);
    for (size_t j = 0; j < VG_ARRAY_LEN(f); j++)
        memcpy(&w[i++], &f[j], 4);
}

static void params_unpack(struct vg_mv_params *p, const uint32_t w[N_PWORDS])
{
    size_t i = 0;
    memset(p, 0, sizeof(*p));
    p->n_metrics = w[i++];
    p->window = w[i++];
    p->arch = (enum vg_mv_arch)w[i++];
    p->n_hidden = w[i++];
    for (int h = 0; h < VG_MV_MAX_HIDDEN; h++)
        p->hidden[h] = w[i++];
    p->train_every = w[i++];
    p->train_rows = w[i++];
    p->score.top_k = w[i++];
    p->seed = w[i] | (uint64_t)w[i + 1] << 32;
    i += 2;
    float *f[] = {&p->lr,
                  &p->adam_b1,
                  &p->adam_b2,
                  &p->adam_eps,
                  &p->huber_delta,
                  &p->train_max_score,
                  &p->norm.alpha,
                  &p->norm.prior_weight,
                  &p->norm.floor_abs,
                  &p->norm.floor_rel,
                  &p->norm.z_clip,
                  &p->score.alpha,
                  &p->score.prior_weight,
                  &p->score.floor,
                  &p->score.clip};
    for (size_t j = 0; j < VG_ARRAY_LEN(f); j++)
        memcpy(f[j], &w[i++], 4);
}

/* Bounds of each of vg_mv_host_bufs' parts as the normaliser and the scorer write them
 * (vg_k_math.h): finite, scales and counts not negative, a count at most 2^24 (where it stops
 * growing), a window value (a clipped z, or 0 where missing) far inside 1e6, centres and scales far
 * inside a float's range, so that no sum or quotient of the normaliser can overflow into NaN. A NaN
 * that reaches a host's window reaches the group's weights too: the training products multiply
 * every row, and 0 x NaN is NaN even for a row that is not learned. */
static const char *const part_name[5] = {"normaliser centre", "normaliser scale", "value count",
                                         "residual scale", "window value"};
static const float part_lo[5] = {-1e36f, 0.0f, 0.0f, 0.0f, -1e6f};
static const float part_hi[5] = {1e36f, 1e36f, 16777216.0f, 1e36f, 1e6f};

/* Index of the first of n floats of part b (unaligned in a file or a record) out of its bounds,
 * with its value in *v; n when all are in. */
static size_t part_check(const void *d, size_t n, size_t b, float *v)
{
    const unsigned char *p = d;
    for (size_t j = 0; j < n; j++) {
        memcpy(v, p + j * sizeof(float), sizeof(float));
        if (!(*v >= part_lo[b] && *v <= part_hi[b])) /* NaN fails too */
            return j;
    }
    return n;
}

int vg_mv_save(const struct vg_mv *mv, struct vg_ckpt_w *w, char *err, size_t errlen)
{
    uint32_t pw[N_PWORDS];
    params_pack(&mv->p, pw);
    uint64_t st[8] = {mv->ticks,          mv->adam_t,          mv->train_off,       mv->n,
                      mv->st.train_steps, mv->st.rows_trained, mv->st.rows_skipped, mv->n_primed};
    if (vg_ckpt_w_add(w, TAG_PARAMS, pw, sizeof(pw)) || vg_ckpt_w_add(w, TAG_STATE, st, sizeof(st)))
        return vg_err(err, errlen, -ENOMEM, "checkpoint: out of memory");
    float *bufs[5];
    size_t per_row[5], nb = vg_mv_host_bufs(mv, bufs, per_row), m = mv->p.n_metrics;
    size_t host_floats = 0;
    for (size_t b = 0; b < nb; b++)
        host_floats += per_row[b] * mv->n;
    size_t tot = mv->n_params > host_floats ? mv->n_params : host_floats;
    if (tot < 2 * m)
        tot = 2 * m;
    float *h = malloc(tot * sizeof(float));
    if (!h)
        return vg_err(err, errlen, -ENOMEM, "checkpoint: out of memory");
    char why[VG_ERRLEN];
    int rc = 0;
    float *pbufs[3] = {mv->param, mv->adam_m, mv->adam_v};
    uint32_t ptags[3] = {TAG_WEIGHT, TAG_ADAM_M, TAG_ADAM_V};
    for (int i = 0; i < 3 && !rc; i++) {
        rc =
            mv->ops->download(mv->ctx, h, pbufs[i], mv->n_params * sizeof(float), why, sizeof(why));
        if (!rc && vg_ckpt_w_add(w, ptags[i], h, mv->n_params * sizeof(float)))
            rc = -ENOMEM;
    }
    size_t o = 0;
    for (size_t b = 0; b < nb && !rc; b++) {
        rc = mv->ops->download(mv->ctx, h + o, bufs[b], per_row[b] * mv->n * sizeof(float), why,
                               sizeof(why));
        o += per_row[b] * mv->n;
    }
    if (!rc && vg_ckpt_w_add(w, TAG_HOSTS, h, host_floats * sizeof(float)))
        rc = -ENOMEM;
    if (!rc)
        rc = mv->ops->download(mv->ctx, h, mv->prior_s, m * sizeof(float), why, sizeof(why));
    if (!rc)
        rc = mv->ops->download(mv->ctx, h + m, mv->prior_r, m * sizeof(float), why, sizeof(why));
    if (!rc && vg_ckpt_w_add(w, TAG_PRIORS, h, 2 * m * sizeof(float)))
        rc = -ENOMEM;
    if (!rc && vg_ckpt_w_add(w, TAG_AGES, mv->age, mv->n * sizeof(uint32_t)))
        rc = -ENOMEM;
    free(h);
    if (rc == -ENOMEM)
        return vg_err(err, errlen, rc, "checkpoint: out of memory");
    if (rc < 0)
        return vg_err(err, errlen, rc, "checkpoint: compute backend: %s", why);
    return 0;
}

static int shape_differs(const struct vg_mv_params *a, const struct vg_mv_params *b, char *what,
                         size_t len)
{
    if (a->n_metrics != b->n_metrics)
        return snprintf(what, len, "%u metrics, not %u", a->n_metrics, b->n_metrics), 1;
    if (a->window != b->window)
        return snprintf(what, len, "window %u, not %u", a->window, b->window), 1;
    if (a->arch != b->arch)
        return snprintf(what, len, "architecture %d, not %d", (int)a->arch, (int)b->arch), 1;
    if (a->n_hidden != b->n_hidden)
        return snprintf(what, len, "%u hidden layers, not %u", a->n_hidden, b->n_hidden), 1;
    for (uint32_t i = 0; i < a->n_hidden; i++)
        if (a->hidden[i] != b->hidden[i])
            return snprintf(what, len, "hidden layer %u of width %u, not %u", i, a->hidden[i],
                            b->hidden[i]),
                   1;
    /* Not top_k: it picks which errors are averaged into a score, and neither the weights nor a
     * host's row depend on it (vg_mv_host_bufs); a caller that keeps calibrations fitted on that
     * average checks it (vg_mv_ckpt_params). */
    return 0;
}

/* Checks n floats of a section (unaligned in the file) are finite, and >= 0 with nonneg (Adam's
 * second moment). 0 or -EINVAL naming the section. */
static int check_floats(const void *d, size_t n, int nonneg, uint32_t tag, const char *name,
                        char *err, size_t errlen)
{
    const unsigned char *b = d;
    for (size_t j = 0; j < n; j++) {
        float f;
        memcpy(&f, b + j * sizeof(float), sizeof(f));
        if (!isfinite(f) || (nonneg && f < 0)) {
            char t[5] = {(char)tag, (char)(tag >> 8), (char)(tag >> 16), (char)(tag >> 24), 0};
            return vg_err(err, errlen, -EINVAL, "%s: section %s: value %zu is %g", name, t, j,
                          (double)f);
        }
    }
    return 0;
}

/* Largest |value| of n floats from position `at` of d (unaligned). */
static double max_abs(const void *d, size_t at, size_t n)
{
    const unsigned char *b = d;
    double m = 0;
    for (size_t j = 0; j < n; j++) {
        float f;
        memcpy(&f, b + (at + j) * sizeof(float), sizeof(f));
        if (fabs(f) > m)
            m = fabs(f);
    }
    return m;
}

/* Whether a model with these weights and Adam moments (n_params floats each, unaligned) stays
 * finite, which finite values alone do not make it: weights of 1e30 overflow the forward pass,
 * and a first moment far above what its second moment allows makes a step of that size. Both
 * are bounds no trained model comes near and a checkpoint with a good checksum can break:
 * fuzz_ckpt's oracle found a first moment of 1.3e35 that reset its group at the first step.
 * - The largest activation, layer by layer from inputs within the window's bound (1e6), the
 *   largest gradient back from the output (at most huber_delta) and the largest weight gradient
 *   (summed over 2^24 rows) must stay within 1e30.
 * - Adam writes m = (1-b1) sum b1^k g_k and v = (1-b2) sum b2^k g_k^2, so by Cauchy-Schwarz
 *   m^2 <= C v with C = (1-b1)^2 / ((1 - b1^2/b2) (1-b2)) (about 53 with the defaults): each
 *   step then moves a weight by at most lr sqrt(C) / (1-b1).
 * 0, or -EINVAL with what is wrong in why. */
static int check_magnitudes(const struct vg_mv *mv, const void *w, const void *am, const void *av,
                            char *why, size_t len)
{
    const double lim = 1e30;
    double a = part_hi[4], d = mv->p.huber_delta, rows = (double)(1u << 24);
    double amax[MAX_LAYERS], wmax[MAX_LAYERS];
    for (int l = 0; l < mv->n_layers; l++) {
        const struct layer *L = &mv->L[l];
        wmax[l] = max_abs(w, L->w_off, (size_t)L->in * L->out);
        amax[l] = a;
        a = L->in * wmax[l] * a + max_abs(w, L->b_off, (size_t)L->out);
        if (!(a <= lim))
            return snprintf(why, len, "weights of layer %d can overflow its outputs", l), -EINVAL;
    }
    for (int l = mv->n_layers - 1; l >= 0; l--) {
        if (!(rows * amax[l] * d <= lim))
            return snprintf(why, len, "weights of layer %d can overflow its gradients", l), -EINVAL;
        d *= mv->L[l].out * wmax[l];
    }
    double b1 = mv->p.adam_b1, b2 = mv->p.adam_b2;
    if (b1 * b1 >= b2)
        return 0; /* no such bound; the loader's other checks stand */
    double C = (1 - b1) * (1 - b1) / ((1 - b1 * b1 / b2) * (1 - b2));
    const unsigned char *pm = am, *pv = av;
    for (size_t j = 0; j < mv->n_params; j++) {
        float m, v;
        memcpy(&m, pm + j * sizeof(float), sizeof(m));
        memcpy(&v, pv + j * sizeof(float), sizeof(v));
        if (!((double)m * m <= C * v * 1.01 + 1e-30))
            return snprintf(why, len,
                            "Adam's first moment %zu is %g, more than its second moment %g allows",
                            j, (double)m, (double)v),
                   -EINVAL;
    }
    return 0;
}

int vg_mv_load(struct vg_mv **out, struct vg_ckpt_r *r, const struct vg_mv_params *want,
               struct vg_mv_params *had, struct vg_k *k, char *err, size_t errlen)
{
    uint32_t pw[N_PWORDS];
    uint64_t st[8];
    const char *name = vg_ckpt_r_name(r);
    int rc = vg_ckpt_r_read(r, TAG_PARAMS, pw, sizeof(pw), err, errlen);
    if (!rc)
        rc = vg_ckpt_r_read(r, TAG_STATE, st, sizeof(st), err, errlen);
    if (rc < 0)
        return rc;
    struct vg_mv_params p;
    params_unpack(&p, pw);
    if (had)
        *had = p;
    char why[VG_ERRLEN];
    if (vg_mv_params_check(&p, why, sizeof(why)) < 0)
        return vg_err(err, errlen, -EINVAL, "%s: bad model parameters: %s", name, why);
    if (want && shape_differs(&p, want, why, sizeof(why)))
        return vg_err(err, errlen, -EINVAL,
                      "%s: incompatible model (checkpoint has %s); starting fresh is needed", name,
                      why);
    if (want) {
        /* Tunables that do not change the shape follow the configuration, not the file. */
        struct vg_mv_params shape = p;
        p = *want;
        p.seed = shape.seed;
    }
    if (st[3] > (1u << 24) || st[7] > st[3])
        return vg_err(err, errlen, -EINVAL, "%s: bad host count %llu", name,
                      (unsigned long long)st[3]);
    /* Each counts ticks or steps, one per tick at most: 2^53 is far past any real run. The
     * optimiser's step count at 2^64-1 wraps to 0 at the next step, whose bias correction then
     * divides by zero and makes every weight NaN. */
    static const char *const what[3] = {"tick count", "optimiser step count", "training offset"};
    for (int i = 0; i < 3; i++)
        if (st[i] > VG_HSCORE_COUNT_MAX)
            return vg_err(err, errlen, -EINVAL,
                          "%s: section MVST: %s %llu out of range (at most "
                          "2^53)",
                          name, what[i], (unsigned long long)st[i]);
    struct vg_mv *mv;
    rc = vg_mv_build(&mv, &p, k, err, errlen);
    if (rc < 0)
        return rc;
    uint32_t n = (uint32_t)st[3];
    /* The hosts' rows must be in the file before room is made for them: a count alone (a damaged
     * or hostile file with a good checksum) must not make the analyzer allocate gigabytes. */
    float *bufs[5];
    size_t per_row[5], nb = vg_mv_host_bufs(mv, bufs, per_row), host_floats = 0;
    for (size_t b = 0; b < nb; b++)
        host_floats += per_row[b] * n;
    const void *hd;
    size_t hlen;
    if ((rc = vg_ckpt_r_get(r, TAG_HOSTS, &hd, &hlen, err, errlen)) < 0)
        goto fail;
    if (hlen != host_floats * sizeof(float)) {
        rc = vg_err(err, errlen, -EINVAL, "%s: %zu bytes of host state, expected %zu", name, hlen,
                    host_floats * sizeof(float));
        goto fail;
    }
    for (uint32_t i = 0; i < n; i++)
        if ((rc = vg_mv_add_host(mv, NULL, err, errlen)) < 0)
            goto fail;
    mv->ticks = st[0];
    mv->adam_t = st[1];
    mv->train_off = st[2];
    mv->st.ticks = st[0];
    mv->st.train_steps = st[4];
    mv->st.rows_trained = st[5];
    mv->st.rows_skipped = st[6];
    mv->n_primed = (uint32_t)st[7];
    float *pbufs[3] = {mv->param, mv->adam_m, mv->adam_v};
    uint32_t ptags[3] = {TAG_WEIGHT, TAG_ADAM_M, TAG_ADAM_V};
    const void *d, *pd[3];
    size_t len;
    for (int i = 0; i < 3; i++) {
        if ((rc = vg_ckpt_r_get(r, ptags[i], &d, &len, err, errlen)) < 0)
            goto fail;
        pd[i] = d;
        if (len != mv->n_params * sizeof(float)) {
            rc = vg_err(err, errlen, -EINVAL, "%s: %zu bytes of weights, expected %zu", name, len,
                        mv->n_params * sizeof(float));
            goto fail;
        }
        /* A model that diverged, or a file with a good checksum and bad numbers, would score
         * NaN for every host of the group until it relearned: it starts fresh instead. */
        if ((rc = check_floats(d, mv->n_params, i == 2, ptags[i], name, err, errlen)) < 0)
            goto fail;
        if ((rc = mv->ops->upload(mv->ctx, pbufs[i], d, len)) < 0)
            goto fail;
    }
    if ((rc = check_magnitudes(mv, pd[0], pd[1], pd[2], why, sizeof(why))) < 0) {
        vg_err(err, errlen, rc, "%s: %s", name, why);
        goto fail;
    }
    nb = vg_mv_host_bufs(mv, bufs, per_row); /* the rows grew with the hosts */
    const float *hf = hd;
    for (size_t b = 0, o = 0; b < nb; o += per_row[b] * n, b++) {
        float v;
        size_t j = part_check(hf + o, per_row[b] * n, b, &v);
        if (j < per_row[b] * n) {
            rc = vg_err(err, errlen, -EINVAL,
                        b < 4 ? "%s: host %zu: %s of metric %zu is %g"
                              : "%s: host %zu: %s %zu is %g",
                        name, j / per_row[b], part_name[b], j % per_row[b], (double)v);
            goto fail;
        }
    }
    for (size_t b = 0; b < nb; b++) {
        if (n && (rc = mv->ops->upload(mv->ctx, bufs[b], hf, per_row[b] * n * sizeof(float))) < 0)
            goto fail;
        hf += per_row[b] * n;
    }
    vg_mv_twin_from_win(mv, 0, n);
    size_t m = p.n_metrics;
    if ((rc = vg_ckpt_r_get(r, TAG_PRIORS, &d, &len, err, errlen)) < 0)
        goto fail;
    if (len != 2 * m * sizeof(float)) {
        rc = vg_err(err, errlen, -EINVAL, "%s: bad priors section", name);
        goto fail;
    }
    /* The priors are column means of the scales (parts 1 and 3), a new host's first ones. */
    for (size_t b = 1, o = 0; b <= 3; b += 2, o += m) {
        float v;
        size_t j = part_check((const float *)d + o, m, b, &v);
        if (j < m) {
            rc = vg_err(err, errlen, -EINVAL, "%s: new hosts' %s of metric %zu is %g", name,
                        part_name[b], j, (double)v);
            goto fail;
        }
    }
    if ((rc = mv->ops->upload(mv->ctx, mv->prior_s, d, m * sizeof(float))) < 0 ||
        (rc = mv->ops->upload(mv->ctx, mv->prior_r, (const float *)d + m, m * sizeof(float))) < 0)
        goto fail;
    if ((rc = vg_ckpt_r_read(r, TAG_AGES, mv->age, n * sizeof(uint32_t), err, errlen)) < 0)
        goto fail;
    *out = mv;
    return 0;
fail:
    vg_mv_free(mv);
    if (rc != -ENOMEM && (!err || !*err))
        vg_err(err, errlen, rc, "%s: compute backend failed while loading", name);
    return rc;
}

int vg_mv_save_file(const struct vg_mv *mv, const char *path, char *err, size_t errlen)
{
    struct vg_ckpt_w *w;
    if (vg_ckpt_w_new(&w, CKPT_KIND) < 0)
        return vg_err(err, errlen, -ENOMEM, "checkpoint: out of memory");
    int rc = vg_mv_save(mv, w, err, errlen);
    if (!rc)
        rc = vg_ckpt_w_commit(w, path, err, errlen);
    vg_ckpt_w_free(w);
    return rc;
}

int vg_mv_load_file(struct vg_mv **out, const char *path, const struct vg_mv_params *want,
                    struct vg_k *k, char *err, size_t errlen)
{
    struct vg_ckpt_r *r;
    int rc = vg_ckpt_r_open(&r, path, CKPT_KIND, err, errlen);
    if (rc < 0)
        return rc;
    rc = vg_mv_load(out, r, want, NULL, k, err, errlen);
    vg_ckpt_r_free(r);
    return rc;
}

/* ---- one host's state, for moving it to another model of the same shape (scale-out) ---- */

size_t vg_mv_host_floats(const struct vg_mv *mv)
{
    return (size_t)4 * mv->p.n_metrics + vg_mv_rowlen_win(mv);
}

uint32_t vg_mv_host_floats_window(const struct vg_mv *mv, size_t n_floats)
{
    size_t m = mv->p.n_metrics, ring;
    if (!m || n_floats <= 4 * m || (n_floats - 4 * m) % (2 * m))
        return 0;
    ring = (n_floats - 4 * m) / (2 * m);
    size_t lag = mv->lag > 0 ? (size_t)mv->lag : 0;
    return ring > lag && ring - lag <= UINT32_MAX ? (uint32_t)(ring - lag) : 0;
}

int vg_mv_host_get(const struct vg_mv *mv, uint32_t id, float *out, uint32_t *age, uint32_t *phase,
                   char *err, size_t errlen)
{
    if (id >= mv->n)
        return vg_err(err, errlen, -ENOENT, "host %u: no such host", id);
    float *bufs[5];
    size_t per_row[5], nb = vg_mv_host_bufs(mv, bufs, per_row), o = 0;
    char why[VG_ERRLEN];
    for (size_t b = 0; b < nb; b++) {
        if (mv->ops->download(mv->ctx, out + o, bufs[b] + id * per_row[b],
                              per_row[b] * sizeof(float), why, sizeof(why)) < 0)
            return vg_err(err, errlen, -EIO, "compute backend %s: %s", mv->ops->name, why);
        o += per_row[b];
    }
    *age = mv->age[id];
    *phase = (uint32_t)(mv->ticks % (uint64_t)mv->ring);
    return 0;
}

int vg_mv_host_set(struct vg_mv *mv, uint32_t id, const float *in, uint32_t age, uint32_t phase,
                   char *err, size_t errlen)
{
    uint32_t R = (uint32_t)mv->ring;
    if (id >= mv->n || phase >= R)
        return vg_err(err, errlen, -EINVAL, "host %u: bad row or phase %u", id, phase);
    size_t m = mv->p.n_metrics, wl = vg_mv_rowlen_win(mv);
    float *bufs[5];
    size_t per_row[5], nb = vg_mv_host_bufs(mv, bufs, per_row), o = 0;
    for (size_t b = 0; b < nb; o += per_row[b], b++) {
        float v;
        size_t j = part_check(in + o, per_row[b], b, &v);
        if (j < per_row[b])
            return vg_err(err, errlen, -EINVAL,
                          b < 4 ? "host state: %s of metric %zu is %g" : "host state: %s %zu is %g",
                          part_name[b], j, (double)v);
    }
    o = 0;
    /* The window is a ring indexed by the model's own tick count: turn the exporter's ring so
     * that its newest tick sits where this model writes before its next one. */
    float *win = malloc(wl * sizeof(float));
    if (!win)
        return vg_err(err, errlen, -ENOMEM, "out of memory");
    uint32_t shift = (uint32_t)((mv->ticks % R + R - phase) % R);
    const float *src = in + 4 * m;
    for (uint32_t k = 0; k < R; k++) {
        uint32_t to = (k + shift) % R;
        memcpy(win + (size_t)to * m, src + (size_t)k * m, m * sizeof(float));
        memcpy(win + (size_t)(to + R) * m, src + (size_t)k * m, m * sizeof(float));
    }
    int rc = 0;
    for (size_t b = 0; b < nb && !rc; b++) {
        const float *from = b == 4 ? win : in + o;
        rc = mv->ops->upload(mv->ctx, bufs[b] + id * per_row[b], from, per_row[b] * sizeof(float));
        o += per_row[b];
    }
    if (rc == 0)
        vg_mv_twin_from_win(mv, id, 1);
    free(win);
    if (rc < 0)
        return vg_err(err, errlen, rc, "compute backend %s: upload failed", mv->ops->name);
    mv->age[id] = age;
    return 0;
}
