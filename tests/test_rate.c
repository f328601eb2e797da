/* vg_rate: counters to per-second rates across wraps and resets. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vg_rate.h"

static void first_reading_returns_eagain(void **unused)
{
    struct vg_rate r = {0};
    double ps = -1;
    assert_int_equal(vg_rate_update(&r, 12345, 1000, 64, &ps), -EAGAIN);
    assert_true(ps == -1);
    /* The first reading became the baseline. */
    assert_int_equal(vg_rate_update(&r, 12345 + 300, 4000, 64, &ps), 0);
    assert_true(ps == 100.0);
}

static void normal_rate_is_delta_per_second(void **unused)
{
    struct vg_rate r = {0};
    double ps;
    vg_rate_update(&r, 1000, 10000, 64, &ps);
    assert_int_equal(vg_rate_update(&r, 1500, 10500, 64, &ps), 0);
    assert_true(ps == 1000.0);
    assert_int_equal(vg_rate_update(&r, 1500, 11500, 64, &ps), 0);
    assert_true(ps == 0.0);
}

static void wrap_32bit_is_unfolded(void **unused)
{
    struct vg_rate r = {0};
    double ps;
    vg_rate_update(&r, UINT32_MAX - 99, 0, 32, &ps);
    assert_int_equal(vg_rate_update(&r, 100, 1000, 32, &ps), 0);
    assert_true(ps == 200.0);
}

static void backwards_beyond_half_range_is_reset(void **unused)
{
    struct vg_rate r = {0};
    double ps = -1;
    vg_rate_update(&r, 3000000000u, 0, 32, &ps);
    /* Unfolding would mean 2^32 - 3e9 + 10 ~ 1.3e9 events, under half the range: a wrap. */
    assert_int_equal(vg_rate_update(&r, 10, 1000, 32, &ps), 0);
    assert_true(ps == 1294967306.0);
    /* 10 -> 5 would need almost a full trip round 2^32: a reset, then counting resumes from 5. */
    ps = -1;
    assert_int_equal(vg_rate_update(&r, 5, 2000, 32, &ps), -ERANGE);
    assert_true(ps == -1);
    assert_int_equal(vg_rate_update(&r, 25, 3000, 32, &ps), 0);
    assert_true(ps == 20.0);
}

static void reset_of_64bit_counter_is_not_a_wrap(void **unused)
{
    struct vg_rate r = {0};
    double ps;
    vg_rate_update(&r, 5000000000u, 0, 64, &ps);
    assert_int_equal(vg_rate_update(&r, 1000, 1000, 64, &ps), -ERANGE);
    assert_int_equal(vg_rate_update(&r, 3000, 2000, 64, &ps), 0);
    assert_true(ps == 2000.0);
}

static void wrap_32bit_read_as_64bit_is_reset(void **unused)
{
    struct vg_rate r = {0};
    double ps;
    vg_rate_update(&r, UINT32_MAX - 99, 0, 64, &ps);
    assert_int_equal(vg_rate_update(&r, 100, 1000, 64, &ps), -ERANGE);
}

static void zero_interval_returns_eagain_and_reprimes(void **unused)
{
    struct vg_rate r = {0};
    double ps;
    vg_rate_update(&r, 100, 5000, 64, &ps);
    assert_int_equal(vg_rate_update(&r, 200, 5000, 64, &ps), -EAGAIN);
    assert_int_equal(vg_rate_update(&r, 300, 4000, 64, &ps), -EAGAIN);
    /* Baseline is now 300 at 4000. */
    assert_int_equal(vg_rate_update(&r, 400, 5000, 64, &ps), 0);
    assert_true(ps == 100.0);
}

static void near_max_64bit_wrap_is_unfolded(void **unused)
{
    struct vg_rate r = {0};
    double ps;
    vg_rate_update(&r, UINT64_MAX - 999, 0, 64, &ps);
    assert_int_equal(vg_rate_update(&r, 1000, 2000, 64, &ps), 0);
    assert_true(ps == 1000.0);
}

static void huge_forward_step_is_progress(void **unused)
{
    struct vg_rate r = {0};
    double ps;
    vg_rate_update(&r, 0, 0, 64, &ps);
    assert_int_equal(vg_rate_update(&r, UINT64_MAX, 1000, 64, &ps), 0);
    assert_true(ps == (double)UINT64_MAX);
}

static void value_wider_than_declared_is_erange(void **unused)
{
    struct vg_rate r = {0};
    double ps;
    vg_rate_update(&r, 10, 0, 32, &ps);
    assert_int_equal(vg_rate_update(&r, (uint64_t)UINT32_MAX + 1, 1000, 32, &ps), -ERANGE);
}

static void bad_width_is_einval_and_keeps_state(void **unused)
{
    struct vg_rate r = {0};
    double ps;
    vg_rate_update(&r, 10, 0, 64, &ps);
    assert_int_equal(vg_rate_update(&r, 20, 1000, 0, &ps), -EINVAL);
    assert_int_equal(vg_rate_update(&r, 20, 1000, 65, &ps), -EINVAL);
    assert_int_equal(vg_rate_update(&r, 20, 1000, 64, &ps), 0);
    assert_true(ps == 10.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_reading_returns_eagain),
        cmocka_unit_test(normal_rate_is_delta_per_second),
        cmocka_unit_test(wrap_32bit_is_unfolded),
        cmocka_unit_test(backwards_beyond_half_range_is_reset),
        cmocka_unit_test(reset_of_64bit_counter_is_not_a_wrap),
        cmocka_unit_test(wrap_32bit_read_as_64bit_is_reset),
        cmocka_unit_test(zero_interval_returns_eagain_and_reprimes),
        cmocka_unit_test(near_max_64bit_wrap_is_unfolded),
        cmocka_unit_test(huge_forward_step_is_progress),
        cmocka_unit_test(value_wider_than_declared_is_erange),
        cmocka_unit_test(bad_width_is_einval_and_keeps_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
