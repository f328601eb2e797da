/* The EWMA detector's maths, every detector's state check and its recovery from absurd values,
 * and the alert state machine. */
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

#include "vg_alert.h"
#include "vg_ewma.h"
#include "vg_seasonal.h"

static const struct vg_detector_params P = {.alpha = 0.05,
                                            .alpha_outlier = 0.005,
                                            .warmup = 10,
                                            .clip_k = 3,
                                            .min_std_abs = 0,
                                            .min_std_rel = 0};

/* Deterministic noise in [-1, 1] so the tests do not depend on libc's rand. */
static double noise(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return ((*s >> 8) / 8388608.0) - 1.0;
}

static void warmup_learns_mean_and_variance_without_scoring(void **state)
{
    struct vg_ewma_state s;
    const struct vg_detector *d = &vg_detector_ewma;
    d->init(&s);
    double xs[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, score = -1;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(d->update(&s, &P, xs[i], &score), -EAGAIN);
        assert_true(score == 0);
    }
    /* None is far from the others: the plain mean and population variance of 1..10. */
    assert_true(fabs(s.mean - 5.5) < 1e-12);
    assert_true(fabs(s.var - 8.25) < 1e-12);
    assert_int_equal(d->update(&s, &P, 5.5, &score), 0);
    assert_true(score < 1e-12);
}

/* Deterministic N(mean, sd) by Box-Muller over noise(). */
static double gauss(uint32_t *s, double mean, double sd)
{
    double u1 = (noise(s) + 1.0001) / 2.0002, u2 = (noise(s) + 1) / 2;
    return mean + sd * sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

/* P with the analyzer's default warm-up of 20 values. */
static struct vg_detector_params warm20(void)
{
    struct vg_detector_params p = P;
    p.warmup = 20;
    return p;
}

/* Warms s up on 20 values of N(50, 2), the sixth of them a counter glitch of 1e9. */
static void warm_up_with_a_glitch(struct vg_ewma_state *s, const struct vg_detector_params *p,
                                  uint32_t *seed)
{
    double score;
    vg_detector_ewma.init(s);
    for (int i = 0; i < 20; i++)
        assert_int_equal(vg_detector_ewma.update(s, p, i == 5 ? 1e9 : gauss(seed, 50, 2), &score),
                         -EAGAIN);
}

/* One absurd warm-up value used to inflate the variance so far that a step of 15 sd went
 * unseen for hundreds of values (the variance decays only at rate alpha). */
static void a_glitch_in_the_warmup_does_not_blind_ewma_to_a_step(void **state)
{
    (void)state;
    struct vg_detector_params p = warm20();
    struct vg_ewma_state s;
    uint32_t seed = 11;
    double score, best = 0;
    warm_up_with_a_glitch(&s, &p, &seed);
    for (int i = 0; i < 10; i++)
        assert_int_equal(vg_detector_ewma.update(&s, &p, gauss(&seed, 50, 2), &score), 0);
    for (int i = 0; i < 3; i++) {
        vg_detector_ewma.update(&s, &p, 80 + gauss(&seed, 0, 2), &score);
        best = score > best ? score : best;
    }
    assert_true(best >= 0.999);
}

static void a_glitch_in_the_warmup_does_not_make_normal_values_alert(void **state)
{
    (void)state;
    struct vg_detector_params p = warm20();
    struct vg_ewma_state s;
    uint32_t seed = 11;
    double score;
    warm_up_with_a_glitch(&s, &p, &seed);
    for (int i = 0; i < 200; i++) {
        assert_int_equal(vg_detector_ewma.update(&s, &p, gauss(&seed, 50, 2), &score), 0);
        assert_true(score < 0.999);
    }
}

/* A series that is 0 most of the time with real bursts of 5-7 (30 % of the warm-up) must not be
 * learned as constant: a median and MAD would give it a scale of 0 and every burst would alert. */
static void an_on_off_warmup_is_not_learned_as_constant(void **state)
{
    (void)state;
    struct vg_detector_params p = warm20();
    struct vg_ewma_state s;
    vg_detector_ewma.init(&s);
    double score;
    for (int i = 0; i < 20; i++) {
        double x = i % 10 == 2 || i % 10 == 5 || i % 10 == 8 ? 5 + i % 3 : 0;
        assert_int_equal(vg_detector_ewma.update(&s, &p, x, &score), -EAGAIN);
    }
    assert_int_equal(vg_detector_ewma.update(&s, &p, 6, &score), 0);
    assert_true(score < 0.999);
}

/* A warm-up longer than the values ewma keeps: the kept ones set the baseline, the rest are
 * learned as after the warm-up (winsorised), and none is scored before the warm-up ends. */
static void a_warmup_longer_than_its_buffer_learns_the_rest_without_scoring(void **state)
{
    (void)state;
    struct vg_detector_params p = P;
    p.warmup = VG_EWMA_WARM + 16;
    struct vg_ewma_state s;
    vg_detector_ewma.init(&s);
    uint32_t seed = 4;
    double score;
    for (uint32_t i = 0; i < p.warmup; i++) {
        double x = i == 3 ? 1e9 : i < VG_EWMA_WARM ? gauss(&seed, 50, 2) : gauss(&seed, 53, 2);
        assert_int_equal(vg_detector_ewma.update(&s, &p, x, &score), -EAGAIN);
        assert_true(score == 0);
    }
    assert_int_equal(s.n, p.warmup);
    /* From about 50 towards 53 (1.5 sd) at alpha 0.05 for 16 values: about half-way. */
    assert_true(s.mean > 51 && s.mean < 53);
    assert_int_equal(vg_detector_ewma.update(&s, &p, 53, &score), 0);
}

static void score_is_normal_mass_of_the_deviation(void **state)
{
    struct vg_ewma_state s = {.mean = 10, .var = 4, .n = 100};
    /* z = 3 -> erf(3/sqrt2) = 0.9973002 */
    assert_true(fabs(vg_ewma_score(&s, &P, 16) - 0.99730020393674) < 1e-9);
    assert_true(fabs(vg_ewma_score(&s, &P, 4) - 0.99730020393674) < 1e-9);
    assert_true(fabs(vg_ewma_score(&s, &P, 12) - 0.68268949213709) < 1e-9);
}

static void scale_floors_keep_constant_series_quiet(void **state)
{
    struct vg_ewma_state s = {.mean = 1000, .var = 0, .n = 100};
    struct vg_detector_params p = P;
    p.min_std_rel = 0.01;                            /* scale >= 10 */
    assert_true(vg_ewma_score(&s, &p, 1020) < 0.96); /* z = 2 */
    p.min_std_rel = 0;
    p.min_std_abs = 0;
    assert_true(vg_ewma_score(&s, &p, 1000.001) > 0.999); /* no floor: any change is huge */
}

static void outlier_moves_baseline_by_at_most_clip_scales(void **state)
{
    struct vg_ewma_state s = {.mean = 0, .var = 1, .n = 100};
    double score;
    assert_int_equal(vg_detector_ewma.update(&s, &P, 1e6, &score), 0);
    assert_true(score > 0.999999);
    /* mean moves by alpha_outlier * clip_k * scale = 0.005 * 3 * 1 */
    assert_true(fabs(s.mean - 0.015) < 1e-12);
    assert_true(s.var < 1.05);
}

/* A series constant for hours (its variance decayed to about 0) that then moves to a new level
 * with noise stops alerting within 1/alpha_outlier values and a few more (vg_ewma.h), with the
 * analyzer's defaults: it alerted for about 950 values (16 minutes at 1 s), the clipped learning
 * widening the collapsed scale by only 2% a value. */
static void a_constant_series_that_moves_relearns_within_its_bound(void **state)
{
    struct vg_detector_params p = {.alpha = 0.05,
                                   .alpha_outlier = 0.005,
                                   .warmup = 20,
                                   .clip_k = 3,
                                   .min_std_abs = 0.01,
                                   .min_std_rel = 0.02};
    struct vg_ewma_state s;
    vg_detector_ewma.init(&s);
    uint32_t seed = 7;
    double score;
    for (int i = 0; i < 4 * 3600; i++) /* four hours at 1 s */
        vg_detector_ewma.update(&s, &p, 0, &score);
    int end = -1, bound = (int)(1 / p.alpha_outlier) + 10, after = 0;
    for (int i = 0; i < 3600; i++) {
        assert_int_equal(vg_detector_ewma.update(&s, &p, gauss(&seed, 5e6, 5e4), &score), 0);
        if (score < 0.999 && end < 0)
            end = i;
        after += score >= 0.999 && i > bound;
    }
    assert_true(end > 100); /* the move itself is an anomaly, for a while */
    assert_true(end <= bound);
    assert_true(after <= 10); /* past the bound, no more than chance (0.1% of normal values) */
}

/* A rolling upgrade hands a host new -> old -> new analyzer: the older one learns the host's values
 * but writes the clipped-run count back as it read it (to it, unused bytes), n moved on. The new
 * one starts the run over rather than adding to the stale count: 60 clipped values after 150
 * carried over are not a level change (the bound is 200), and the state goes on as one whose
 * run was never carried. Before, the run went on from 150 and the 50th value was learned whole. */
static void a_run_carried_by_an_older_analyzer_starts_over(void **state)
{
    struct vg_detector_params p = {.alpha = 0.05,
                                   .alpha_outlier = 0.005,
                                   .warmup = 20,
                                   .clip_k = 3,
                                   .min_std_abs = 0.01,
                                   .min_std_rel = 0.02};
    struct vg_ewma_state s, fresh;
    vg_detector_ewma.init(&s);
    uint32_t seed = 11;
    double score;
    for (int i = 0; i < 500; i++)
        vg_detector_ewma.update(&s, &p, gauss(&seed, 50, 1), &score);
    for (int i = 0; i < 150; i++)
        vg_detector_ewma.update(&s, &p, 1000, &score);
    assert_true(s.run == 150);
    double carried[2] = {s.run, s.run_n}; /* the older analyzer's turn: it keeps these bytes */
    for (int i = 0; i < 30; i++)
        vg_detector_ewma.update(&s, &p, gauss(&seed, 50, 1), &score);
    s.run = carried[0];
    s.run_n = carried[1];
    fresh = s;
    fresh.run = 0;
    fresh.run_n = s.n;
    for (int i = 0; i < 60; i++) {
        vg_detector_ewma.update(&s, &p, 1000, &score);
        vg_detector_ewma.update(&fresh, &p, 1000, &score);
    }
    assert_true(s.run == 60);
    assert_memory_equal(&s, &fresh, sizeof(s));
    (void)state;
}

static void sustained_shift_keeps_scoring_high_then_recovers(void **state)
{
    struct vg_ewma_state s;
    vg_detector_ewma.init(&s);
    uint32_t seed = 42;
    double score;
    for (int i = 0; i < 200; i++)
        vg_detector_ewma.update(&s, &P, 5 + noise(&seed), &score);
    int high = 0;
    for (int i = 0; i < 20; i++) {
        vg_detector_ewma.update(&s, &P, 50 + noise(&seed), &score);
        high += score > 0.999;
    }
    assert_int_equal(high, 20);
    int low = 0;
    for (int i = 0; i < 30; i++) {
        vg_detector_ewma.update(&s, &P, 5 + noise(&seed), &score);
        low += score < 0.999;
    }
    assert_true(low >= 25); /* back to normal within a few ticks */
}

static void nonfinite_values_are_refused_and_not_learned(void **state)
{
    struct vg_ewma_state s = {.mean = 1, .var = 1, .n = 100};
    double score;
    assert_int_equal(vg_detector_ewma.update(&s, &P, NAN, &score), -EINVAL);
    assert_int_equal(vg_detector_ewma.update(&s, &P, INFINITY, &score), -EINVAL);
    assert_true(s.mean == 1 && s.var == 1 && s.n == 100);
}

static const struct vg_alert_params AP = {
    .threshold = 0.99, .for_ms = 3000, .resolve_for_ms = 2000};

static void alert_fires_only_after_for_duration(void **state)
{
    struct vg_alert a = {0};
    assert_int_equal(vg_alert_step(&a, &AP, 0.995, 1000), VG_ALERT_EV_NONE);
    assert_int_equal(a.state, VG_ALERT_PENDING);
    assert_int_equal(vg_alert_step(&a, &AP, 0.995, 3000), VG_ALERT_EV_NONE);
    assert_int_equal(vg_alert_step(&a, &AP, 0.995, 4000), VG_ALERT_EV_FIRED);
    assert_int_equal(a.firing_since, 4000);
    assert_int_equal(a.state, VG_ALERT_FIRING);
}

static void pending_alert_drops_back_when_score_falls(void **state)
{
    struct vg_alert a = {0};
    vg_alert_step(&a, &AP, 0.995, 1000);
    assert_int_equal(vg_alert_step(&a, &AP, 0.5, 2000), VG_ALERT_EV_NONE);
    assert_int_equal(a.state, VG_ALERT_INACTIVE);
    /* The `for` clock starts again. */
    vg_alert_step(&a, &AP, 0.995, 3000);
    assert_int_equal(vg_alert_step(&a, &AP, 0.995, 5000), VG_ALERT_EV_NONE);
    assert_int_equal(vg_alert_step(&a, &AP, 0.995, 6000), VG_ALERT_EV_FIRED);
}

static void resolve_waits_for_hysteresis_and_flapping_does_not_resolve(void **state)
{
    struct vg_alert a = {0};
    struct vg_alert_params p = AP;
    p.for_ms = 0;
    assert_int_equal(vg_alert_step(&a, &p, 0.995, 1000), VG_ALERT_EV_FIRED);
    assert_int_equal(vg_alert_step(&a, &p, 0.1, 2000), VG_ALERT_EV_NONE);
    assert_int_equal(vg_alert_step(&a, &p, 0.995, 3000), VG_ALERT_EV_NONE); /* back up */
    assert_int_equal(vg_alert_step(&a, &p, 0.1, 4000), VG_ALERT_EV_NONE);
    assert_int_equal(vg_alert_step(&a, &p, 0.1, 5000), VG_ALERT_EV_NONE);
    assert_int_equal(vg_alert_step(&a, &p, 0.1, 6000), VG_ALERT_EV_RESOLVED);
    assert_int_equal(a.state, VG_ALERT_INACTIVE);
}

/* "At or above": a score equal to alert.threshold is anomalous (docs/configuration.md). Scores
 * saturate at 1.0, so alert.threshold: 1 fires only through the equality. */
static void a_score_equal_to_the_threshold_is_anomalous(void **state)
{
    struct vg_alert a = {0};
    struct vg_alert_params p = AP;
    p.for_ms = 0;
    assert_int_equal(vg_alert_step(&a, &p, nextafter(AP.threshold, 0), 1000), VG_ALERT_EV_NONE);
    assert_int_equal(a.state, VG_ALERT_INACTIVE);
    assert_int_equal(vg_alert_step(&a, &p, AP.threshold, 2000), VG_ALERT_EV_FIRED);
    /* Equal while firing is not below: no resolve however long it lasts. */
    assert_int_equal(vg_alert_step(&a, &p, AP.threshold, 10000), VG_ALERT_EV_NONE);
    assert_int_equal(a.below_since, 0);

    /* A value far out scores the saturated 1.0, which alert.threshold: 1 takes. */
    struct vg_ewma_state s = {0};
    double score = 0;
    for (int i = 0; i < 200; i++) /* -EAGAIN while warming up */
        vg_detector_ewma.update(&s, &P, 10.0 + (i % 3), &score);
    assert_int_equal(vg_detector_ewma.update(&s, &P, 1e9, &score), 0);
    assert_true(score == 1.0);
    struct vg_alert b = {0};
    p.threshold = 1.0;
    assert_int_equal(vg_alert_step(&b, &p, score, 1000), VG_ALERT_EV_FIRED);
}

/* A clock that steps back restarts the `for` wait from the new time (docs/rules.md): the step
 * itself fires nothing, and the alert fires `for` after it, not `for` after the old time. */
static void clock_stepping_back_restarts_the_for_wait(void **state)
{
    struct vg_alert a = {0};
    vg_alert_step(&a, &AP, 0.995, 10000);
    assert_int_equal(vg_alert_step(&a, &AP, 0.995, 1000), VG_ALERT_EV_NONE);
    assert_int_equal(vg_alert_step(&a, &AP, 0.995, 3999), VG_ALERT_EV_NONE);
    assert_int_equal(vg_alert_step(&a, &AP, 0.995, 4000), VG_ALERT_EV_FIRED);
}

/* The first high score stamped a day ahead, then the right time: the wait must not last until
 * the host's clock reaches that stamp. */
static void a_pending_start_stamped_in_the_future_does_not_hold_the_alert(void **state)
{
    struct vg_alert a = {0};
    const int64_t day = 86400000;
    assert_int_equal(vg_alert_step(&a, &AP, 0.995, 1000 + day), VG_ALERT_EV_NONE);
    assert_int_equal(vg_alert_step(&a, &AP, 0.995, 2000), VG_ALERT_EV_NONE);
    assert_int_equal(vg_alert_step(&a, &AP, 0.995, 4000), VG_ALERT_EV_NONE);
    assert_int_equal(vg_alert_step(&a, &AP, 0.995, 5000), VG_ALERT_EV_FIRED);
    assert_int_equal(a.firing_since, 5000);
}

/* A firing alert, one low score stamped a day ahead, then low scores at the right time: it
 * resolves resolve_for after the clock came back, and keeps the starts_at it fired with. */
static void a_resolve_wait_started_in_the_future_does_not_hold_the_alert(void **state)
{
    struct vg_alert a = {0};
    struct vg_alert_params p = AP;
    p.for_ms = 0;
    const int64_t day = 86400000;
    assert_int_equal(vg_alert_step(&a, &p, 0.995, 1000), VG_ALERT_EV_FIRED);
    assert_int_equal(vg_alert_step(&a, &p, 0.1, 2000 + day), VG_ALERT_EV_NONE);
    assert_int_equal(vg_alert_step(&a, &p, 0.1, 3000), VG_ALERT_EV_NONE);
    assert_int_equal(vg_alert_step(&a, &p, 0.1, 4999), VG_ALERT_EV_NONE);
    assert_int_equal(vg_alert_step(&a, &p, 0.1, 5000), VG_ALERT_EV_RESOLVED);
    assert_int_equal(a.firing_since, 1000);
}

/* Waits count observed time only: with gap_ms set, a step longer than it between two scores
 * restarts a running `for` (two high scores ten minutes apart are no five minutes of anomaly,
 * nor is one stamped a day ahead) and a running resolve_for; steps up to gap_ms are counted. */
static void a_wait_restarts_after_a_gap_longer_than_gap_ms(void **state)
{
    const int64_t min = 60000, day = 86400000;
    struct vg_alert_params p = {
        .threshold = 0.99, .for_ms = 5 * min, .resolve_for_ms = 2 * min, .gap_ms = 5 * min};
    struct vg_alert a = {0};
    assert_int_equal(vg_alert_step(&a, &p, 0.995, 1000), VG_ALERT_EV_NONE);
    assert_int_equal(vg_alert_step(&a, &p, 0.995, 1000 + 10 * min), VG_ALERT_EV_NONE);
    assert_int_equal(a.state, VG_ALERT_PENDING);
    assert_int_equal(a.pending_since, 1000 + 10 * min);
    /* Counted from there: 5 minutes on, in steps up to gap_ms, it fires. */
    assert_int_equal(vg_alert_step(&a, &p, 0.995, 1000 + 13 * min), VG_ALERT_EV_NONE);
    assert_int_equal(vg_alert_step(&a, &p, 0.995, 1000 + 15 * min), VG_ALERT_EV_FIRED);
    /* Below, 10 minutes of nothing, below: the resolve wait starts again. */
    assert_int_equal(vg_alert_step(&a, &p, 0.1, 1000 + 16 * min), VG_ALERT_EV_NONE);
    assert_int_equal(vg_alert_step(&a, &p, 0.1, 1000 + 26 * min), VG_ALERT_EV_NONE);
    assert_int_equal(vg_alert_step(&a, &p, 0.1, 1000 + 28 * min - 1), VG_ALERT_EV_NONE);
    assert_int_equal(vg_alert_step(&a, &p, 0.1, 1000 + 28 * min), VG_ALERT_EV_RESOLVED);

    /* One high score stamped a day ahead, then the right time: nothing fires. */
    struct vg_alert b = {0};
    assert_int_equal(vg_alert_step(&b, &p, 0.995, 1000), VG_ALERT_EV_NONE);
    assert_int_equal(vg_alert_step(&b, &p, 0.995, 1000 + day), VG_ALERT_EV_NONE);
    assert_int_equal(vg_alert_step(&b, &p, 0.1, 3000), VG_ALERT_EV_NONE);
    assert_int_equal(b.state, VG_ALERT_INACTIVE);

    /* gap_ms 0: no limit, as before (what a caller without a stale limit gets). */
    struct vg_alert c = {0};
    p.gap_ms = 0;
    assert_int_equal(vg_alert_step(&c, &p, 0.995, 1000), VG_ALERT_EV_NONE);
    assert_int_equal(vg_alert_step(&c, &p, 0.995, 1000 + 10 * min), VG_ALERT_EV_FIRED);
}

/* P with every signal of the seasonal model on (likelihood, profile deviation, weekly profile,
 * persistence), so that each state these tests look at is in use. */
static struct vg_detector_params every_signal(void)
{
    struct vg_detector_params dp = P;
    dp.lik_short = 32;
    dp.prof = 1;
    dp.weekly = 1;
    dp.cusum = 2;
    return dp;
}

/* One value at tick t (one a minute) into a model, with its time where the model takes one. */
static int feed(const struct vg_detector *d, void *st, const struct vg_detector_params *dp, int t,
                double x, double *sc)
{
    return d->update_at ? d->update_at(st, dp, 1700000000000LL + (int64_t)t * 60000, x, sc)
                        : d->update(st, dp, x, sc);
}

/* A state warmed up and scored under a short warm-up, then run under a longer one (the key raised
 * and the analyzer restarted, its states read back): the value slots it never filled held 0 (ewma)
 * or smoothing values (seasonal's ring) and were taken for warm-up values, so the level jumped
 * towards 0 and a seasonal state could no longer pass its own check, which refused the host's
 * whole record. The level must stay where it was learned. */
static void a_state_warmed_under_a_shorter_warmup_keeps_its_level_under_a_longer_one(void **state)
{
    (void)state;
    char err[256];
    struct vg_detector_params shorter = every_signal(), longer;
    shorter.warmup = 5;
    longer = shorter;
    longer.warmup = 40;
    uint32_t seed = 5;
    double sc;

    struct vg_ewma_state e;
    vg_detector_ewma.init(&e);
    for (int t = 0; t < 10; t++) /* fewer than the values it keeps (VG_EWMA_WARM) */
        vg_detector_ewma.update(&e, &shorter, -100 + 0.5 * noise(&seed), &sc);
    assert_int_equal(vg_detector_ewma.update(&e, &longer, -100, &sc), -EAGAIN);
    assert_true(fabs(e.mean + 100) < 1);
    assert_true(e.var < 1);
    assert_int_equal(vg_detector_ewma.check(&e, err, sizeof(err)), 0);

    struct vg_seasonal_state *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    vg_detector_seasonal.init(s);
    for (int t = 0; t < 25; t++)
        feed(&vg_detector_seasonal, s, &shorter, t, -100 + 0.5 * noise(&seed), &sc);
    assert_int_equal(feed(&vg_detector_seasonal, s, &longer, 25, -100, &sc), -EAGAIN);
    assert_true(fabs(s->plain + 100) < 1);
    if (vg_detector_seasonal.check(s, err, sizeof(err)) != 0)
        fail_msg("seasonal state refused: %s", err);
    free(s);
}

/* A burst of absurd values (+-1.7e308: a broken exporter) must leave every model a state it
 * can go on from and able to flag the next real spike. Before values were bounded
 * (vg_detector_bound), ewma's variance became infinite and it scored 0 for good. */
static void every_detector_recovers_from_absurd_values(void **state)
{
    (void)state;
    char err[256];
    struct vg_detector_params dp = every_signal();
    dp.alpha_outlier = 0.05; /* as the NAB setting: the burst moves the mean further */
    for (size_t i = 0; vg_detectors[i]; i++) {
        const struct vg_detector *d = vg_detectors[i];
        unsigned char *st = calloc(1, d->state_size);
        assert_non_null(st);
        d->init(st);
        uint32_t seed = 5;
        double sc = 0;
        int rc = 0;
        for (int t = 0; t <= 20000; t++) {
            double x = t >= 500 && t < 5000 ? (t % 2 ? 1.7e308 : -1.7e308) : 50 + noise(&seed);
            if (t == 20000)
                x = 1e6; /* a real spike, long after */
            rc = feed(d, st, &dp, t, x, &sc);
            if (t == 4999 && d->check(st, err, sizeof(err)) != 0) {
                fprintf(stderr, "%s after the burst: %s\n", d->name, err);
                fail();
            }
        }
        printf("  %s: spike after the burst scores %.4f\n", d->name, sc);
        assert_int_equal(rc, 0);
        /* 1 for both without the burst; seasonal's calibration still remembers some of the
         * burst's peaks (0.957) */
        assert_true(sc > 0.9);
        assert_int_equal(d->check(st, err, sizeof(err)), 0);
        free(st);
    }
}

/* A state a model made passes its own check, fresh and after learning; states update() could not
 * have made (counts past their arrays, values not finite) are refused with a reason. */
static void every_detector_checks_states_copied_in(void **state)
{
    (void)state;
    char err[256];
    struct vg_detector_params dp = every_signal();
    for (size_t i = 0; vg_detectors[i]; i++) {
        const struct vg_detector *d = vg_detectors[i];
        assert_non_null(d->check);
        unsigned char *st = calloc(1, d->state_size);
        assert_non_null(st);
        d->init(st);
        assert_int_equal(d->check(st, err, sizeof(err)), 0);
        uint32_t seed = 3;
        double sc;
        for (int t = 0; t < 5000; t++) {
            feed(d, st, &dp, t, 50 + 10 * sin(t / 40.0) + noise(&seed), &sc);
        }
        assert_int_equal(d->check(st, err, sizeof(err)), 0);
        free(st);
    }

    struct vg_ewma_state e = {.mean = 1, .var = -1, .n = 5};
    assert_int_equal(vg_detector_ewma.check(&e, err, sizeof(err)), -EINVAL);
    e.var = 1;
    e.mean = NAN;
    assert_int_equal(vg_detector_ewma.check(&e, err, sizeof(err)), -EINVAL);
    e.mean = 1;
    assert_int_equal(vg_detector_ewma.check(&e, err, sizeof(err)), 0);
    e.warm[VG_EWMA_WARM - 1] = INFINITY; /* would become the baseline */
    assert_int_equal(vg_detector_ewma.check(&e, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "warm-up value 15 not finite");

    struct vg_seasonal_state *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    vg_detector_seasonal.init(s);
    s->spot.next_peak = VG_SPOT_PEAKS; /* the next peak would be written past the ring */
    assert_int_equal(vg_detector_seasonal.check(s, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "value calibration state: counts out of range");
    vg_detector_seasonal.init(s);
    s->cus_spot.ninit = VG_SPOT_INIT;
    assert_int_equal(vg_detector_seasonal.check(s, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "persistence calibration state: counts out of range");
    vg_detector_seasonal.init(s);
    s->day.visits[7] = UINT32_MAX; /* the next visit would divide by a wrapped 0 */
    assert_int_equal(vg_detector_seasonal.check(s, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "daily profile: visit count out of range");
    vg_detector_seasonal.init(s);
    s->week.profile[3] = INFINITY;
    assert_int_equal(vg_detector_seasonal.check(s, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "weekly profile: a value not finite");
    vg_detector_seasonal.init(s);
    s->err_plain = -1;
    assert_int_equal(vg_detector_seasonal.check(s, err, sizeof(err)), -EINVAL);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(warmup_learns_mean_and_variance_without_scoring),
        cmocka_unit_test(a_constant_series_that_moves_relearns_within_its_bound),
        cmocka_unit_test(a_run_carried_by_an_older_analyzer_starts_over),
        cmocka_unit_test(a_glitch_in_the_warmup_does_not_blind_ewma_to_a_step),
        cmocka_unit_test(a_state_warmed_under_a_shorter_warmup_keeps_its_level_under_a_longer_one),
        cmocka_unit_test(a_glitch_in_the_warmup_does_not_make_normal_values_alert),
        cmocka_unit_test(an_on_off_warmup_is_not_learned_as_constant),
        cmocka_unit_test(a_warmup_longer_than_its_buffer_learns_the_rest_without_scoring),
        cmocka_unit_test(score_is_normal_mass_of_the_deviation),
        cmocka_unit_test(scale_floors_keep_constant_series_quiet),
        cmocka_unit_test(outlier_moves_baseline_by_at_most_clip_scales),
        cmocka_unit_test(sustained_shift_keeps_scoring_high_then_recovers),
        cmocka_unit_test(nonfinite_values_are_refused_and_not_learned),
        cmocka_unit_test(alert_fires_only_after_for_duration),
        cmocka_unit_test(a_score_equal_to_the_threshold_is_anomalous),
        cmocka_unit_test(pending_alert_drops_back_when_score_falls),
        cmocka_unit_test(resolve_waits_for_hysteresis_and_flapping_does_not_resolve),
        cmocka_unit_test(clock_stepping_back_restarts_the_for_wait),
        cmocka_unit_test(a_pending_start_stamped_in_the_future_does_not_hold_the_alert),
        cmocka_unit_test(a_resolve_wait_started_in_the_future_does_not_hold_the_alert),
        cmocka_unit_test(a_wait_restarts_after_a_gap_longer_than_gap_ms),
        cmocka_unit_test(every_detector_checks_states_copied_in),
        cmocka_unit_test(every_detector_recovers_from_absurd_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
