/* SMD metrics on cases computed by hand, and the SMD readers' errors. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vg_eval_io.h"
#include "vg_eval_smd.h"

/* Ten points, two segments (rows 2-3 and 7-9). */
static const uint8_t L[10] = {0, 0, 1, 1, 0, 0, 0, 1, 1, 1};
static const double S[10] = {0.1, 0.5, 0.9, 0.2, 0.6, 0.1, 0.1, 0.3, 0.8, 0.4};

static void pointwise_metrics_by_hand(void **state)
{
    struct vg_prf r;
    /* >= 0.5: flagged 1, 2, 4, 8: TP 2 (2, 8), FP 2, FN 3: P 0.5, R 0.4, F1 4/9. */
    vg_smd_at(S, L, 10, 0.5, &r);
    assert_int_equal(r.tp, 2);
    assert_int_equal(r.fp, 2);
    assert_int_equal(r.fn, 3);
    assert_true(fabs(r.f1 - 4.0 / 9) < 1e-12);
}

static void best_f1_and_average_precision_by_hand(void **state)
{
    struct vg_prf b;
    double ap;
    assert_int_equal(vg_smd_best(S, L, 10, &b, &ap), 0);
    /* Descending: 0.9 T, 0.8 T, 0.6 F, 0.5 F, 0.4 T, 0.3 T, 0.2 T, 0.1 F F F.
     * At 0.2: TP 5, FP 2 -> P 5/7, R 1, F1 10/12 = 0.8333 (the best).
     * AP = 0.2*1 + 0.2*1 + 0.2*(3/5) + 0.2*(4/6) + 0.2*(5/7). */
    assert_true(b.threshold == 0.2);
    assert_true(fabs(b.f1 - 10.0 / 12) < 1e-12);
    double want = 0.2 * (1 + 1 + 3.0 / 5 + 4.0 / 6 + 5.0 / 7);
    assert_true(fabs(ap - want) < 1e-12);
}

static void point_adjustment_credits_whole_segments(void **state)
{
    struct vg_prf b;
    assert_int_equal(vg_smd_best_adjusted(S, L, 10, &b), 0);
    /* Segment maxima 0.9 and 0.8: at 0.8 every labelled point counts, nothing else fires. */
    assert_true(b.threshold == 0.8);
    assert_true(fabs(b.f1 - 1.0) < 1e-12);
}

static void hitrate_takes_floor_p_times_g_dimensions(void **state)
{
    /* Two interpreted rows over 4 dimensions. Row 0 blames {0, 1}: top 2 (P=1) are {3, 0} -> 1/2;
     * top 3 (P=1.5) are {3, 0, 1} -> 2/2. Row 1 blames {2}: top 1 is {2} -> 1; top floor(1.5) = 1
     * -> 1. Row 2 has no interpretation. */
    uint64_t gt[3] = {0x3, 0x4, 0};
    double c[12] = {0.5, 0.4, 0.1, 0.9, 0.0, 0.0, 1.0, 0.5, 9, 9, 9, 9};
    double r;
    size_t rows;
    assert_int_equal(vg_smd_hitrate(gt, c, 3, 4, 1.0, &r, &rows), 0);
    assert_int_equal(rows, 2);
    assert_true(fabs(r - 0.75) < 1e-12);
    assert_int_equal(vg_smd_hitrate(gt, c, 3, 4, 1.5, &r, &rows), 0);
    assert_true(fabs(r - 1.0) < 1e-12);
}

static void readers_report_malformed_lines(void **state)
{
    char err[256];
    double *d;
    size_t rows, cols;
    const char ok[] = "0.1,0.2\r\n1e-3,4\n";
    assert_int_equal(
        vg_eval_matrix_parse(ok, sizeof(ok) - 1, "m", &d, &rows, &cols, err, sizeof(err)), 0);
    assert_int_equal(rows, 2);
    assert_int_equal(cols, 2);
    assert_true(d[2] == 1e-3);
    free(d);
    const char ragged[] = "1,2\n3\n";
    assert_int_equal(
        vg_eval_matrix_parse(ragged, sizeof(ragged) - 1, "m", &d, &rows, &cols, err, sizeof(err)),
        -EINVAL);
    assert_string_equal(err, "m:2: 1 fields, expected 2");
    uint64_t *m;
    const char interp[] = "2-4:1,3\n5-6:64\n";
    assert_int_equal(
        vg_eval_interp_parse(interp, sizeof(interp) - 1, "i", 10, &m, err, sizeof(err)), 0);
    assert_true(m[1] == 0 && m[2] == 0x5 && m[3] == 0x5 && m[4] == 0);
    assert_true(m[5] == 1ull << 63);
    free(m);
    const char beyond[] = "8-12:1\n";
    assert_int_equal(
        vg_eval_interp_parse(beyond, sizeof(beyond) - 1, "i", 10, &m, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "i:1: rows 8-12 outside 0-10");
    const char dim0[] = "1-2:0\n";
    assert_int_equal(vg_eval_interp_parse(dim0, sizeof(dim0) - 1, "i", 10, &m, err, sizeof(err)),
                     -EINVAL);
    const char junk[] = "1-2\n";
    assert_int_equal(vg_eval_interp_parse(junk, sizeof(junk) - 1, "i", 10, &m, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "i:1: expected 'start-end:d1,d2,...'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pointwise_metrics_by_hand),
        cmocka_unit_test(best_f1_and_average_precision_by_hand),
        cmocka_unit_test(point_adjustment_credits_whole_segments),
        cmocka_unit_test(hitrate_takes_floor_p_times_g_dimensions),
        cmocka_unit_test(readers_report_malformed_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
