/* Host score (vg_hscore) and the residuals it reads from vg_mv: per-metric error scales keep a
 * noisy metric from taking the blame, smoothing averages the raw score over the last ticks, the
 * calibration learns before it scores, the state term adds how far a metric is beyond its usual
 * distance, a lasting incident keeps its score, and vg_mv_residuals and vg_mv_targets (alone or
 * through vg_mv_residuals_targets) agree with the model. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vg_hscore.h"
#include "vg_k.h"
#include "vg_mv.h"
#include "vg_util.h"

static void noisy_metric_does_not_take_the_blame(void **state)
{
    (void)state;
    struct vg_hscore h;
    struct vg_hscore_params p;
    vg_hscore_defaults(&p);
    p.top_k = 1;
    p.floor = 0.05;
    p.spot.n_init = 16;
    assert_int_equal(vg_hscore_init(&h, 2), 0);
    /* Metric 0 errs by 1.0 on typical ticks, metric 1 by 0.1. */
    for (int i = 0; i < 100; i++)
        vg_hscore_fit(&h, (const float[]){i % 2 ? 1.5f : 0.5f, 0.1f});
    double score, raw, blame[2];
    /* 1.0 is typical for metric 0 (e = 1), 0.5 five times metric 1's (e = 5). */
    assert_int_equal(vg_hscore_step(&h, &p, (const float[]){1.0f, 0.5f}, &score, &raw, blame),
                     -EAGAIN);
    assert_true(fabs(blame[0] - 1.0) < 1e-6);
    assert_true(fabs(blame[1] - 5.0) < 1e-6);
    assert_true(fabs(raw - 5.0) < 1e-6);
    vg_hscore_free(&h);
}

static void raw_score_is_the_mean_over_smooth_ticks(void **state)
{
    (void)state;
    struct vg_hscore h;
    struct vg_hscore_params p;
    vg_hscore_defaults(&p);
    p.top_k = 2;
    p.smooth = 3;
    p.floor = 0.05;
    p.alpha = 0; /* frozen scales: exact arithmetic */
    assert_int_equal(vg_hscore_init(&h, 3), 0);
    vg_hscore_fit(&h, (const float[]){1, 1, 1});
    double score, raw;
    /* Top-2 means per tick: (3+1)/2 = 2, (5+4)/2 = 4.5, (1+1)/2 = 1 (a missing value is no error).
     */
    vg_hscore_step(&h, &p, (const float[]){3, 1, 0}, &score, &raw, NULL);
    assert_true(fabs(raw - 2.0) < 1e-9);
    vg_hscore_step(&h, &p, (const float[]){-5, 4, 0}, &score, &raw, NULL);
    assert_true(fabs(raw - (2.0 + 4.5) / 2) < 1e-9);
    vg_hscore_step(&h, &p, (const float[]){1, NAN, 1}, &score, &raw, NULL);
    assert_true(fabs(raw - (2.0 + 4.5 + 1.0) / 3) < 1e-9);
    /* The fourth tick drops the first. */
    vg_hscore_step(&h, &p, (const float[]){0, 0, 0}, &score, &raw, NULL);
    assert_true(fabs(raw - (4.5 + 1.0 + 0.0) / 3) < 1e-9);
    /* No finite error at all: refused. */
    assert_int_equal(vg_hscore_step(&h, &p, (const float[]){NAN, NAN, NAN}, &score, &raw, NULL),
                     -EINVAL);
    vg_hscore_free(&h);
}

static void calibration_learns_then_scores_an_incident_high(void **state)
{
    (void)state;
    struct vg_hscore h;
    struct vg_hscore_params p;
    vg_hscore_defaults(&p);
    p.smooth = 1; /* one tick's incident, not diluted */
    p.blame = 1;
    assert_int_equal(vg_hscore_init(&h, 4), 0);
    uint64_t s = 7;
    float e[4];
    for (int i = 0; i < 1000; i++) {
        for (int j = 0; j < 4; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            e[j] = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5);
        }
        vg_hscore_fit(&h, e);
    }
    double score, raw, blame[4];
    int rc = 0, n_again = 0;
    for (int i = 0; i < 2000; i++) {
        for (int j = 0; j < 4; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            e[j] = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5);
        }
        rc = vg_hscore_step(&h, &p, e, &score, &raw, blame);
        n_again += rc == -EAGAIN;
        assert_true(score >= 0 && score <= 1);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(n_again, VG_SPOT_INIT);
    /* Errors of 20 typical scales on two metrics: far past anything seen, and blamed. */
    rc = vg_hscore_step(&h, &p, (const float[]){0.1f, 5.0f, -5.0f, 0.1f}, &score, &raw, blame);
    assert_int_equal(rc, 0);
    assert_true(score > 0.999);
    assert_true(blame[1] > blame[0] && blame[2] > blame[3]);
    vg_hscore_free(&h);
}

static void mv_residuals_agree_with_the_first_scores(void **state)
{
    (void)state;
    char err[VG_ERRLEN];
    struct vg_k k;
    assert_int_equal(vg_k_open(&k, "cpu", err, sizeof(err)), 0);
    struct vg_mv_params mp;
    vg_mv_params_default(&mp, 5);
    mp.score.top_k = 2;
    struct vg_mv *mv;
    assert_int_equal(vg_mv_new(&mv, &mp, &k, err, sizeof(err)), 0);
    assert_int_equal(vg_mv_add_host(mv, NULL, err, sizeof(err)), 0);
    assert_int_equal(vg_mv_add_host(mv, NULL, err, sizeof(err)), 0);
    float x[10] = {1, 2, 3, 4, 5, 0.5f, NAN, 7, 8, 9};
    struct vg_mv_result res[2];
    float r[10];
    assert_int_equal(vg_mv_step(mv, x, VG_MV_SCORE, res, err, sizeof(err)), 0);
    assert_int_equal(vg_mv_residuals(mv, r, err, sizeof(err)), 0);
    assert_true(isnan(r[6]));
    for (int i = 0; i < 10; i++)
        assert_true(i == 6 || isfinite(r[i]));
    /* On a host's first tick the residual scale is the prior (1), so the score's standardised
     * errors are |residual| / (1 + floor). */
    for (int h = 0; h < 2; h++)
        for (uint32_t q = 0; q < res[h].n_top; q++) {
            float a = fabsf(r[h * 5 + res[h].top[q]]) / (1.0f + mp.score.floor);
            assert_true(fabsf(a - res[h].top_err[q]) <= 1e-5f * (1 + a));
        }
    /* The normalised tick: a first value is its own centre (0), a missing one NaN. */
    float z[10];
    assert_int_equal(vg_mv_targets(mv, z, err, sizeof(err)), 0);
    for (int i = 0; i < 10; i++)
        assert_true(i == 6 ? isnan(z[i]) : z[i] == 0);
    /* The next one is read in the first's units: no scale yet (no host had a history to give a
     * prior), so the floors, 0.01 + 0.01 x |1|: (1.5 - 1) / 0.02 = 25. The forecast from a window
     * at the centre is 0 (biases start at 0), so the residual is the whole of it. */
    x[0] = 1.5f;
    assert_int_equal(vg_mv_step(mv, x, VG_MV_SCORE, res, err, sizeof(err)), 0);
    assert_int_equal(vg_mv_targets(mv, z, err, sizeof(err)), 0);
    assert_int_equal(vg_mv_residuals(mv, r, err, sizeof(err)), 0);
    assert_true(fabsf(z[0] - 25.0f) < 1e-3f);
    assert_true(z[0] == r[0]);
    /* The one-download form gives both, bit for bit, with or without the targets. */
    float r2[10], z2[10], r3[10];
    for (int i = 0; i < 10; i++)
        r2[i] = z2[i] = r3[i] = -1;
    assert_int_equal(vg_mv_residuals_targets(mv, r2, z2, err, sizeof(err)), 0);
    assert_int_equal(vg_mv_residuals_targets(mv, r3, NULL, err, sizeof(err)), 0);
    assert_memory_equal(r2, r, sizeof(r));
    assert_memory_equal(r3, r, sizeof(r));
    assert_memory_equal(z2, z, sizeof(z));
    vg_mv_free(mv);
    vg_k_close(&k);
}

static float noise(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(*s >> 11) / 9007199254740992.0 - 0.5);
}

static void state_term_measures_each_side_against_its_own_spread(void **state)
{
    (void)state;
    struct vg_hscore h;
    struct vg_hscore_params p;
    vg_hscore_defaults(&p);
    p.fit_n = 4;
    p.top_k = 1;
    p.smooth = 1;
    p.alpha = 0;
    p.floor = 0.3;
    p.state_k = 3;
    p.state_weight = 2;
    assert_int_equal(vg_hscore_init(&h, 2), 0);
    double score, raw;
    /* Metric 0 rises to z 1 every other tick and never falls below its centre: typical distance 1
     * above, none below (floored to 0.3). Metric 1 sits at 0.1 (floored to 0.3 on both sides). */
    for (int i = 0; i < 4; i++)
        vg_hscore_update_state(&h, &p, (const float[]){1, 1}, (const float[]){i % 2 ? 1 : 0, 0.1f},
                               &score, &raw, NULL);
    /* Within k typical distances on their side (2.5 < 3 x 1 above; 0.9 = 3 x 0.3): the errors
     * alone (1). */
    vg_hscore_update_state(&h, &p, (const float[]){1, 1}, (const float[]){2.5f, 0.9f}, &score, &raw,
                           NULL);
    assert_true(fabs(raw - 1.0) < 1e-6);
    /* Metric 0 at z 4 is 4 - 3 x 1 = 1 past, weighed 2; the forecast being right does not hide
     * it. */
    vg_hscore_update_state(&h, &p, (const float[]){0, 0}, (const float[]){4, 0}, &score, &raw,
                           NULL);
    assert_true(fabs(raw - 2.0) < 1e-6);
    /* A fall of metric 0 is measured against its spread below (0.3), not above: -2 is
     * 2 - 3 x 0.3 = 1.1 past, 2.2 weighed, where a rise of 2 is nothing. */
    vg_hscore_update_state(&h, &p, (const float[]){0, 0}, (const float[]){-2, 0}, &score, &raw,
                           NULL);
    assert_true(fabs(raw - 2.2) < 1e-6);
    vg_hscore_update_state(&h, &p, (const float[]){0, 0}, (const float[]){2, 0}, &score, &raw,
                           NULL);
    assert_true(fabs(raw) < 1e-6);
    /* Added to the metric's error: 1 + 2 x 1.1. */
    vg_hscore_update_state(&h, &p, (const float[]){1, 1}, (const float[]){0, -2}, &score, &raw,
                           NULL);
    assert_true(fabs(raw - 3.2) < 1e-6);
    /* Without z, or with weight 0, the errors alone. */
    vg_hscore_update_state(&h, &p, (const float[]){1, 1}, NULL, &score, &raw, NULL);
    assert_true(fabs(raw - 1.0) < 1e-6);
    p.state_weight = 0;
    vg_hscore_update_state(&h, &p, (const float[]){1, 1}, (const float[]){4, -2}, &score, &raw,
                           NULL);
    assert_true(fabs(raw - 1.0) < 1e-6);
    vg_hscore_free(&h);
}

/* A host fitted and calibrated on noise, then an incident of 600 ticks whose errors are a few
 * times the usual: its mean score over ticks 10-39 (first) and over its last 300 ticks
 * (returned), with the calibration learning peaks that come in a burst (burst 0) or not. */
static double late_score_of_a_long_incident(double burst, double *first)
{
    struct vg_hscore h;
    struct vg_hscore_params p;
    vg_hscore_defaults(&p);
    p.fit_n = 200;
    p.spot.n_init = 200;
    p.state_weight = 0;
    p.alpha = 0; /* the error scales' own slow drift apart */
    p.burst = burst;
    assert_int_equal(vg_hscore_init(&h, 4), 0);
    uint64_t s = 5;
    float e[4];
    double score = 0, raw, late = 0;
    *first = 0;
    for (int i = 0; i < 3000; i++) {
        for (int j = 0; j < 4; j++)
            e[j] = noise(&s);
        vg_hscore_update(&h, &p, e, &score, &raw, NULL);
    }
    for (int i = 0; i < 600; i++) {
        for (int j = 0; j < 4; j++)
            e[j] = noise(&s) + (j < 2 ? 1.0f : 0.0f);
        assert_int_equal(vg_hscore_update(&h, &p, e, &score, &raw, NULL), 0);
        if (i >= 10 && i < 40)
            *first += score / 30;
        if (i >= 300)
            late += score / 300;
    }
    vg_hscore_free(&h);
    return late;
}

static void a_lasting_incident_keeps_its_score(void **state)
{
    (void)state;
    double first, kept = late_score_of_a_long_incident(0.2, &first);
    assert_true(first > 0.999);
    assert_true(kept > 0.999);
    /* Learning the incident's peaks as the tail (measured: 0.997 then 0.86), its score falls
     * while it lasts. */
    double learnt = late_score_of_a_long_incident(0, &first);
    assert_true(first > 0.99);
    assert_true(learnt < 0.95);
}

/* Two fresh scorers of n metrics, a and b (for a pack and an unpack), and params that fit on
 * fit_n ticks and calibrate SPOT on n_init. */
static void init_pair(struct vg_hscore *a, struct vg_hscore *b, struct vg_hscore_params *p, int n,
                      int fit_n, int n_init)
{
    vg_hscore_defaults(p);
    p->fit_n = fit_n;
    p->spot.n_init = n_init;
    assert_int_equal(vg_hscore_init(a, n), 0);
    assert_int_equal(vg_hscore_init(b, n), 0);
}

/* 100 ticks of noise (from seed) on a 3-metric scorer: fitted, and scoring. */
static void fit_on_noise(struct vg_hscore *h, const struct vg_hscore_params *p, uint64_t seed)
{
    uint64_t s = seed;
    double score, raw;
    for (int i = 0; i < 100; i++)
        vg_hscore_update(h, p, (const float[]){noise(&s), noise(&s), noise(&s)}, &score, &raw,
                         NULL);
}

/* A buffer for a packed state of n metrics, its size in *len; the caller frees it. */
static unsigned char *packed_buf(int n, size_t *len)
{
    *len = vg_hscore_packed_size(n);
    unsigned char *buf = malloc(*len);
    assert_non_null(buf);
    return buf;
}

/* Packs h into buf and returns the format version it wrote (the first word). */
static uint32_t packed_version(const struct vg_hscore *h, unsigned char *buf)
{
    uint32_t version;
    vg_hscore_pack(h, buf);
    memcpy(&version, buf, 4);
    return version;
}

static void packed_state_scores_on_identically(void **state)
{
    (void)state;
    struct vg_hscore a, b;
    struct vg_hscore_params p;
    init_pair(&a, &b, &p, 5, 100, 64);
    uint64_t s = 11;
    float e[5], z[5];
    double sa, ra, ba[5], sb, rb, bb[5];
    for (int i = 0; i < 400; i++) {
        for (int j = 0; j < 5; j++) {
            e[j] = noise(&s);
            z[j] = 2 * noise(&s);
        }
        vg_hscore_update_state(&a, &p, e, z, &sa, &ra, ba);
    }
    size_t len;
    unsigned char *buf = packed_buf(5, &len);
    vg_hscore_pack(&a, buf);
    char err[VG_ERRLEN];
    assert_int_equal(vg_hscore_unpack(&b, buf, len, err, sizeof(err)), 0);
    /* The same following stream, incidents (and a lasting one) included, scores bitwise the
     * same. */
    for (int i = 0; i < 300; i++) {
        for (int j = 0; j < 5; j++) {
            e[j] = noise(&s) * (i % 50 == 7 && j == i % 5 ? 40.0f : 1.0f) + (i > 200 ? 3.0f : 0);
            z[j] = 2 * noise(&s) + (i > 100 && j == 0 ? 5.0f : 0);
        }
        int rca = vg_hscore_update_state(&a, &p, e, z, &sa, &ra, ba);
        int rcb = vg_hscore_update_state(&b, &p, e, z, &sb, &rb, bb);
        assert_int_equal(rca, 0);
        assert_int_equal(rcb, 0);
        assert_memory_equal(&sa, &sb, sizeof(sa));
        assert_memory_equal(&ra, &rb, sizeof(ra));
        assert_memory_equal(ba, bb, sizeof(ba));
        assert_memory_equal(&a.surprise, &b.surprise, sizeof(a.surprise));
    }
    /* What a stream cannot have produced is refused, with the reason. */
    assert_int_equal(vg_hscore_unpack(&b, buf, len - 1, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "bytes"));
    buf[0] ^= 0x40; /* the format version */
    assert_int_equal(vg_hscore_unpack(&b, buf, len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "format version"));
    buf[0] ^= 0x40;
    /* Version 2, before the state term was measured per side, is not read as this one. */
    uint32_t v2 = 2, v3;
    memcpy(&v3, buf, 4);
    memcpy(buf, &v2, 4);
    assert_int_equal(vg_hscore_unpack(&b, buf, len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "format version 2 not supported"));
    memcpy(buf, &v3, 4);
    struct vg_hscore c;
    assert_int_equal(vg_hscore_init(&c, 4), 0);
    assert_int_equal(vg_hscore_unpack(&c, buf, len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "5 metrics, not 4"));
    vg_hscore_free(&c);
    /* A blame tick count of 2^64-1 (after the 24-byte header), good for its checksum: it wrapped
     * to 0 at the next tick, and the blame average divided by it. */
    uint64_t nblame, huge = UINT64_MAX;
    memcpy(&nblame, buf + 24, 8);
    memcpy(buf + 24, &huge, 8);
    assert_int_equal(vg_hscore_unpack(&b, buf, len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "blame tick count 18446744073709551615 out of range"));
    memcpy(buf + 24, &nblame, 8);
    assert_int_equal(vg_hscore_unpack(&b, buf, len, err, sizeof(err)), 0);
    /* A calibration with an impossible sample count (the last 16 bytes hold its counters). */
    vg_hscore_pack(&a, buf);
    uint32_t ninit;
    size_t at = len - 16;
    memcpy(&ninit, buf + at, 4);
    assert_int_equal(ninit, 64);
    ninit = 100000;
    memcpy(buf + at, &ninit, 4);
    assert_int_equal(vg_hscore_unpack(&b, buf, len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "calibration state"));
    free(buf);
    vg_hscore_free(&a);
    vg_hscore_free(&b);
}

static void update_fits_then_scores(void **state)
{
    (void)state;
    struct vg_hscore h;
    struct vg_hscore_params p;
    vg_hscore_defaults(&p);
    p.fit_n = 3;
    p.alpha = 0;
    p.floor = 0.01;
    assert_int_equal(vg_hscore_init(&h, 2), 0);
    double score, raw;
    /* Three ticks fit the scales (2 and 0.5) and score nothing. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(vg_hscore_update(&h, &p, (const float[]){2, -0.5f}, &score, &raw, NULL),
                         -EAGAIN);
        assert_true(isnan(raw));
    }
    /* Then errors are read in those scales: (4/2 + 1/0.5) / 2 = 2 with top_k 3 over 2 metrics. */
    assert_int_equal(vg_hscore_update(&h, &p, (const float[]){4, 1}, &score, &raw, NULL), -EAGAIN);
    assert_true(fabs(raw - 2.0) < 1e-9);
    vg_hscore_free(&h);
}

/* A host whose usual errors, after its calibration's sample, rise to 2.5 times those the sample
 * saw within 2000 ticks (as they do in the units of scales fitted while a young model erred
 * more, and that follow it slowly): the share of ticks above 0.999 over the last
 * 2000 of 6000, and how often its calibration learned again, with the gate limited to relearn
 * ticks in a row (0: none). */
static double high_share_after_a_rise(uint32_t relearn, int *relearned)
{
    struct vg_hscore h;
    struct vg_hscore_params p;
    vg_hscore_defaults(&p);
    p.fit_n = 100;
    p.spot.n_init = 100;
    p.alpha = 0; /* the rise is in the raw score's units, as the scales' lag leaves it */
    p.relearn = relearn;
    assert_int_equal(vg_hscore_init(&h, 4), 0);
    uint64_t s = 3;
    float e[4];
    double score, raw;
    long high = 0;
    *relearned = 0;
    for (int i = 0; i < 6000; i++) {
        for (int j = 0; j < 4; j++)
            e[j] = (noise(&s) + noise(&s) + noise(&s)) * (float)(i < 200 ? 1
                                                                 : i < 2200
                                                                     ? 1 + 1.5 * (i - 200) / 2000.0
                                                                     : 2.5);
        int rc = vg_hscore_update(&h, &p, e, &score, &raw, NULL);
        if (h.relearned) {
            (*relearned)++;
            assert_int_equal(rc, -EAGAIN);
            assert_true(score == 0);
        }
        high += i >= 4000 && rc == 0 && score > 0.999;
    }
    vg_hscore_free(&h);
    return (double)high / 2000;
}

/* Closed for good by such a rise, the burst gate kept the calibration from learning that the
 * higher level is usual, and the host scored above 0.999 on a large share of its ticks for ever.
 * Closed relearn ticks in a row, it takes the calibration to be out of date: a new sample. */
static void a_gate_closed_for_relearn_ticks_learns_the_calibration_again(void **state)
{
    (void)state;
    int n;
    double locked = high_share_after_a_rise(0, &n);
    assert_int_equal(n, 0);
    double relearned = high_share_after_a_rise(300, &n);
    printf("  above 0.999 after the rise: %.2f %% without a limit, %.2f %% with 300 ticks "
           "(%d relearned)\n",
           100 * locked, 100 * relearned, n);
    assert_true(locked > 0.05);
    assert_true(n >= 1);
    assert_true(relearned < 0.005);
}

/* A metric with no value in the fit (one that came up later) fits on its own first fit_n values,
 * unscored meanwhile, instead of keeping the floor as its scale for good. */
static void a_metric_missing_from_the_fit_fits_on_its_own_values(void **state)
{
    (void)state;
    struct vg_hscore h;
    struct vg_hscore_params p;
    vg_hscore_defaults(&p);
    p.fit_n = 10;
    p.alpha = 0;
    p.floor = 0.01;
    p.top_k = 1;
    assert_int_equal(vg_hscore_init(&h, 2), 0);
    double score, raw, blame[2];
    for (int i = 0; i < 10; i++)
        vg_hscore_update(&h, &p, (const float[]){1, NAN}, &score, &raw, blame);
    for (int i = 0; i < 10; i++) {
        vg_hscore_update(&h, &p, (const float[]){1, 4}, &score, &raw, blame);
        assert_true(blame[1] == 0); /* fitting, not scored */
        assert_true(fabs(raw - 1) < 1e-9);
    }
    assert_true(fabs(h.scale[1] - 4) < 1e-9);
    vg_hscore_update(&h, &p, (const float[]){1, 8}, &score, &raw, blame);
    assert_true(fabs(h.e[1] - 2) < 1e-9);
    vg_hscore_free(&h);
}

/* Format 4 adds the ticks the gate has been closed in a header word that format 3 wrote 0: a
 * state of 3 still loads (the gate not closed), and the count survives a pack. */
static void a_version_3_state_loads_and_the_gate_count_is_kept(void **state)
{
    (void)state;
    struct vg_hscore a, b;
    struct vg_hscore_params p;
    init_pair(&a, &b, &p, 3, 20, 20);
    fit_on_noise(&a, &p, 9);
    a.closed = 42;
    size_t len;
    unsigned char *buf = packed_buf(3, &len);
    vg_hscore_pack(&a, buf);
    char err[VG_ERRLEN];
    assert_int_equal(vg_hscore_unpack(&b, buf, len, err, sizeof(err)), 0);
    assert_int_equal(b.closed, 42);
    uint32_t v3 = 3, zero = 0;
    memcpy(buf, &v3, 4);
    assert_int_equal(vg_hscore_unpack(&b, buf, len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "counters out of range"));
    memcpy(buf + 20, &zero, 4);
    assert_int_equal(vg_hscore_unpack(&b, buf, len, err, sizeof(err)), 0);
    assert_int_equal(b.closed, 0);
    free(buf);
    vg_hscore_free(&a);
    vg_hscore_free(&b);
}

/* A state whose gate is not closed is written as format 3 (the same bytes as 4 with a count of
 * 0), so that an analyzer reading only 3 (a rolling upgrade, a roll-back) keeps every such host's
 * state and every group checkpoint; only a closed gate needs 4. Both load here. */
static void a_state_with_the_gate_open_packs_as_version_3(void **state)
{
    (void)state;
    struct vg_hscore a, b;
    struct vg_hscore_params p;
    init_pair(&a, &b, &p, 3, 20, 20);
    size_t len;
    unsigned char *buf = packed_buf(3, &len);
    char err[VG_ERRLEN];
    /* Fresh. */
    assert_int_equal(packed_version(&a, buf), 3);
    assert_int_equal(vg_hscore_unpack(&b, buf, len, err, sizeof(err)), 0);
    /* Fitted and scoring, the gate open. */
    fit_on_noise(&a, &p, 5);
    assert_int_equal(a.closed, 0);
    assert_int_equal(packed_version(&a, buf), 3);
    assert_int_equal(vg_hscore_unpack(&b, buf, len, err, sizeof(err)), 0);
    assert_int_equal(b.closed, 0);
    /* Closed: 4, and the count comes back. */
    a.closed = 7;
    assert_int_equal(packed_version(&a, buf), 4);
    assert_int_equal(vg_hscore_unpack(&b, buf, len, err, sizeof(err)), 0);
    assert_int_equal(b.closed, 7);
    free(buf);
    vg_hscore_free(&a);
    vg_hscore_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(noisy_metric_does_not_take_the_blame),
        cmocka_unit_test(raw_score_is_the_mean_over_smooth_ticks),
        cmocka_unit_test(calibration_learns_then_scores_an_incident_high),
        cmocka_unit_test(mv_residuals_agree_with_the_first_scores),
        cmocka_unit_test(state_term_measures_each_side_against_its_own_spread),
        cmocka_unit_test(a_lasting_incident_keeps_its_score),
        cmocka_unit_test(packed_state_scores_on_identically),
        cmocka_unit_test(update_fits_then_scores),
        cmocka_unit_test(a_gate_closed_for_relearn_ticks_learns_the_calibration_again),
        cmocka_unit_test(a_metric_missing_from_the_fit_fits_on_its_own_values),
        cmocka_unit_test(a_version_3_state_loads_and_the_gate_count_is_kept),
        cmocka_unit_test(a_state_with_the_gate_open_packs_as_version_3),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
