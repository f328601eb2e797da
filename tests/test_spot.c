/* SPOT calibration: scores follow the tail probability, ties and constant series do not saturate,
 * anomalies are not learned, the surprise orders what the score rounds to 1. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vg_spot.h"

/* Deterministic uniform (0,1). */
static double unif(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return ((double)(*s >> 11) + 0.5) / 9007199254740992.0;
}

static void score_matches_the_tail_of_an_exponential(void **state)
{
    struct vg_spot s;
    struct vg_spot_params p;
    vg_spot_defaults(&p);
    vg_spot_init(&s);
    uint64_t seed = 42;
    double sc;
    int rc = 0;
    for (int i = 0; i < 20000; i++)
        rc = vg_spot_update(&s, &p, -log(unif(&seed)), &sc);
    assert_int_equal(rc, 0);
    /* P(X >= x) = e^-x: x = ln 1000 is the 0.999 quantile, ln 1e5 the 0.99999 one. The GPD is
     * fitted by moments to 128 recent peaks: a factor of about 2 on the tail is expected. */
    double t3 = 1 - vg_spot_score(&s, log(1000.0)), t5 = 1 - vg_spot_score(&s, log(1e5));
    assert_true(t3 > 0.3e-3 && t3 < 3e-3);
    assert_true(t5 > 1e-6 && t5 < 1e-4);
    /* Below the tail threshold: the empirical CDF (median of an exponential is ln 2). */
    assert_true(fabs(vg_spot_score(&s, log(2.0)) - 0.5) < 0.08);
}

static void constant_series_is_not_saturated(void **state)
{
    struct vg_spot s;
    struct vg_spot_params p;
    vg_spot_defaults(&p);
    p.n_init = 32;
    p.min_sigma = 1;
    vg_spot_init(&s);
    double sc = -1;
    for (int i = 0; i < 32; i++)
        vg_spot_update(&s, &p, 0.0, &sc);
    assert_int_equal(vg_spot_update(&s, &p, 0.0, &sc), 0);
    assert_true(fabs(sc - 0.5) < 1e-12); /* a tie counts half, never 1 */
    /* A first wobble is rare, not impossible: (0 + 1) / (32 + 1) e^-0.5 (the tie after the
     * initial sample says nothing about the tail, and is not counted). */
    double w = vg_spot_score(&s, 0.5);
    assert_true(w < 1 && fabs((1 - w) - exp(-0.5) / 33) < 1e-9);
}

/* Hours of a constant series: the values tied at its threshold are not counted, so a value above
 * it can still be learned once the series moves. Counted, 20,000 of them made (0 + 1) / 20,257
 * e^-0.5 the tail of 0.5, below 1 - learn_max: no value was learned, and every one scored as an
 * anomaly for ever. */
static void hours_of_a_constant_series_do_not_stop_the_tail_learning(void **state)
{
    struct vg_spot s;
    struct vg_spot_params p;
    vg_spot_defaults(&p);
    p.min_sigma = 1;
    vg_spot_init(&s);
    double sc;
    for (int i = 0; i < 256 + 20000; i++)
        vg_spot_update(&s, &p, 0.0, &sc);
    int high = 0;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(vg_spot_update(&s, &p, 0.5 + (i % 10) * 0.1, &sc), 0);
        high += i >= 500 && sc >= 0.999;
    }
    assert_true(s.nt >= 900); /* learned */
    assert_int_equal(high, 0);
    (void)state;
}

/* A constant series' calibration saved by an analyzer from before ties were left out, which
 * counted 20,000 of them, then restored: the count it cannot have is taken back, and the values of
 * the moved series are learned. They scored 0.99999 and were never learned: n stayed at 20,256. */
static void a_calibration_saturated_by_an_older_analyzer_learns_again(void **state)
{
    struct vg_spot s;
    struct vg_spot_params p;
    vg_spot_defaults(&p);
    p.min_sigma = 1;
    vg_spot_init(&s);
    double sc;
    for (int i = 0; i < 256; i++)
        vg_spot_update(&s, &p, 0.0, &sc);
    s.n += 20000; /* what the old code counted for 20,000 ties */
    char err[128];
    assert_int_equal(vg_spot_check(&s, err, sizeof(err)), 0); /* a state it can restore */
    int high = 0;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(vg_spot_update(&s, &p, 0.5 + (i % 10) * 0.1, &sc), 0);
        high += i >= 500 && sc >= 0.999;
    }
    assert_true(s.nt >= 900); /* learned */
    assert_true(s.n == 256 + s.nt);
    assert_int_equal(high, 0);
    /* A sample with a few values above its threshold: they stay counted, above and in all. */
    vg_spot_init(&s);
    for (int i = 0; i < 256; i++)
        vg_spot_update(&s, &p, i < 3 ? 2.0 : 0.0, &sc);
    assert_true(s.t == 0 && s.nt == 3);
    s.n += 20000;
    assert_int_equal(vg_spot_update(&s, &p, 0.7, &sc), 0);
    assert_true(s.nt == 4 && s.n == 257);
    (void)state;
}

/* Hours below a constant initial sample (a series constant through its first values, lower
 * since) are not counted either: counted, they made the tail fraction as small as hours of ties,
 * and a later move above the sample's level alerted for ever. */
static void hours_below_a_constant_sample_do_not_stop_the_tail_learning(void **state)
{
    struct vg_spot s;
    struct vg_spot_params p;
    vg_spot_defaults(&p);
    p.min_sigma = 1;
    vg_spot_init(&s);
    double sc;
    for (int i = 0; i < 256; i++)
        vg_spot_update(&s, &p, 0.0, &sc);
    for (int i = 0; i < 20000; i++) {
        assert_int_equal(vg_spot_update(&s, &p, -1.0 - (i % 7) * 0.1, &sc), 0);
        assert_true(sc == 0);
    }
    int high = 0;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(vg_spot_update(&s, &p, 0.5 + (i % 10) * 0.1, &sc), 0);
        high += i >= 500 && sc >= 0.999;
    }
    assert_true(s.nt >= 900);
    assert_int_equal(high, 0);
    (void)state;
}

static void anomalies_do_not_teach_the_tail(void **state)
{
    struct vg_spot s;
    struct vg_spot_params p;
    vg_spot_defaults(&p);
    vg_spot_init(&s);
    uint64_t seed = 7;
    double sc;
    for (int i = 0; i < 5000; i++)
        vg_spot_update(&s, &p, -log(unif(&seed)), &sc);
    double before = vg_spot_score(&s, 30);
    for (int i = 0; i < 500; i++) {
        vg_spot_update(&s, &p, 30, &sc);
        assert_true(sc >= p.learn_max);
    }
    assert_true(vg_spot_score(&s, 30) == before);
    assert_int_equal(vg_spot_update(&s, &p, NAN, &sc), -EINVAL);
}

static void surprise_orders_the_values_that_score_1(void **state)
{
    (void)state;
    struct vg_spot s;
    struct vg_spot_params p;
    vg_spot_defaults(&p);
    vg_spot_init(&s);
    uint64_t seed = 3;
    double sc;
    for (int i = 0; i < 5000; i++)
        vg_spot_update(&s, &p, -log(unif(&seed)), &sc);
    /* The same score, 1 - 10^-surprise, above and below the tail threshold. */
    const double xs[] = {0.01, log(2.0), s.t, s.t + 0.5, log(1000.0), 12};
    for (size_t i = 0; i < sizeof(xs) / sizeof(xs[0]); i++) {
        double a = vg_spot_score(&s, xs[i]), u = vg_spot_surprise(&s, xs[i]);
        assert_true(fabs(a - (1 - pow(10, -u))) < 1e-12);
        assert_true(u >= 0);
    }
    /* Past a tail of about 1e-16 the scores round to 1 and tie; the surprises stay ordered,
     * about one decade per ln 10 of an exponential tail. */
    assert_true(vg_spot_score(&s, 60) == 1 && vg_spot_score(&s, 80) == 1);
    double u60 = vg_spot_surprise(&s, 60), u80 = vg_spot_surprise(&s, 80);
    assert_true(isfinite(u80) && u80 > u60 && u60 > 16);
    assert_true(vg_spot_surprise(&s, 0.5) < vg_spot_surprise(&s, 0.6));
    struct vg_spot fresh;
    vg_spot_init(&fresh);
    assert_true(vg_spot_surprise(&fresh, 5) == 0);
}

/* A state copied in from elsewhere (a host's state record) must be one update() can go on from:
 * its counts index the sample and the tail's ring. */
static void check_refuses_states_update_would_write_past(void **state)
{
    (void)state;
    struct vg_spot s, v;
    struct vg_spot_params p;
    vg_spot_defaults(&p);
    char err[128];
    vg_spot_init(&s);
    assert_int_equal(vg_spot_check(&s, err, sizeof(err)), 0);
    double sc;
    uint64_t seed = 7;
    for (int i = 0; i < 2000; i++)
        vg_spot_update(&s, &p, -log(unif(&seed)), &sc);
    assert_int_equal(vg_spot_check(&s, err, sizeof(err)), 0);

    /* Not ready with a full sample: the next update would write init[VG_SPOT_INIT]. */
    vg_spot_init(&v);
    v.ninit = VG_SPOT_INIT;
    assert_int_equal(vg_spot_check(&v, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "calibration state: counts out of range");
    v.ninit = VG_SPOT_INIT - 1; /* room for one more: it turns ready on it */
    assert_int_equal(vg_spot_check(&v, err, sizeof(err)), 0);
    assert_int_equal(vg_spot_update(&v, &p, 1.0, &sc), -EAGAIN);
    assert_true(v.ready);
    assert_int_equal(vg_spot_check(&v, err, sizeof(err)), 0);

    v = s;
    v.next_peak = VG_SPOT_PEAKS;
    assert_int_equal(vg_spot_check(&v, err, sizeof(err)), -EINVAL);
    v = s;
    v.npeaks = VG_SPOT_PEAKS + 1;
    assert_int_equal(vg_spot_check(&v, err, sizeof(err)), -EINVAL);
    v = s;
    v.ready = 7;
    assert_int_equal(vg_spot_check(&v, err, sizeof(err)), -EINVAL);
    v = s;
    v.init[3] = v.init[2] - 1; /* the ready sample is sorted: the CDF bisects it */
    assert_int_equal(vg_spot_check(&v, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "calibration state: initial sample not finite or not sorted");
    v = s;
    v.sigma = 0;
    assert_int_equal(vg_spot_check(&v, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "calibration state: bad tail parameters");
    v = s;
    v.peaks[0] = NAN;
    assert_int_equal(vg_spot_check(&v, err, sizeof(err)), -EINVAL);

    /* vg_spot_unpack applies the same checks to a packed state. */
    unsigned char buf[VG_SPOT_PACKED];
    v = s;
    v.ready = 0;
    v.ninit = VG_SPOT_INIT;
    vg_spot_pack(&v, buf);
    struct vg_spot u = s;
    assert_int_equal(vg_spot_unpack(&u, buf, err, sizeof(err)), -EINVAL);
    assert_memory_equal(&u, &s, sizeof(s)); /* unchanged */
    vg_spot_pack(&s, buf);
    vg_spot_init(&u);
    assert_int_equal(vg_spot_unpack(&u, buf, err, sizeof(err)), 0);
    assert_true(u.ninit == s.ninit && u.npeaks == s.npeaks && u.t == s.t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(score_matches_the_tail_of_an_exponential),
        cmocka_unit_test(constant_series_is_not_saturated),
        cmocka_unit_test(hours_of_a_constant_series_do_not_stop_the_tail_learning),
        cmocka_unit_test(a_calibration_saturated_by_an_older_analyzer_learns_again),
        cmocka_unit_test(hours_below_a_constant_sample_do_not_stop_the_tail_learning),
        cmocka_unit_test(anomalies_do_not_teach_the_tail),
        cmocka_unit_test(surprise_orders_the_values_that_score_1),
        cmocka_unit_test(check_refuses_states_update_would_write_past),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
