/* NAB scoring on hand-made cases whose scores were worked out by hand (values below), and the
 * NAB CSV / window readers on the corpus's parsing traps. */
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
#include "vg_eval_nab.h"

/* s(x) = 2/(1+e^(5x)) - 1; s(-1) = 0.98661429815143. */
#define TP_AT_9  0.96698908780006  /* s(-0.75)/s(-1): row 9 of window 8..11 */
#define TP_AT_10 0.85979256690978  /* s(-0.5)/s(-1) */
#define FP_AT_13 -0.93110960866758 /* s(2/3): two rows past a window of width 4 */
#define FP_AT_19 -0.99999676081166 /* s(8/3) */

/* 20 rows, one a second; probation floor(0.15*20) = 3 rows; one window rows 8..11. */
static void hand_case(struct vg_nab_file *f, double *score)
{
    int64_t ts[20];
    for (int i = 0; i < 20; i++)
        ts[i] = (int64_t)(1000 + i) * 1000000;
    struct vg_eval_window w = {ts[8], ts[11]};
    char err[256];
    assert_int_equal(vg_nab_file_init(f, ts, 20, &w, 1, err, sizeof(err)), 0);
    for (int i = 0; i < 20; i++)
        score[i] = 0;
    score[1] = 1.0; /* probationary: never counts */
    score[5] = 0.9; /* before any window: -A_FP */
    score[9] = 0.8; /* in the window, earlier than row 10 */
    score[10] = 0.95;
    score[13] = 0.7; /* just after the window */
    score[19] = 0.6; /* further after it (q = 8/3 < 3) */
}

static void geometry_follows_the_sweeper(void **state)
{
    struct vg_nab_file f;
    double score[20];
    hand_case(&f, score);
    assert_int_equal(f.probation, 3);
    assert_int_equal(f.n_windows, 1);
    assert_int_equal(f.window[7], -1);
    assert_int_equal(f.window[8], 0);
    assert_int_equal(f.window[11], 0);
    assert_int_equal(f.window[12], -1);
    assert_true(fabs(f.weight[8] - 1.0) < 1e-12); /* the left edge is worth A_TP exactly */
    assert_true(fabs(f.weight[9] - TP_AT_9) < 1e-12);
    assert_true(fabs(f.weight[13] - FP_AT_13) < 1e-12);
    assert_true(f.weight[5] == -1.0);
    assert_int_equal(f.label[8] + f.label[11] + f.label[12] + f.label[7], 2);
    vg_nab_file_free(&f);
}

static void fixed_threshold_scores_by_hand(void **state)
{
    struct vg_nab_file f;
    double score[20];
    hand_case(&f, score);
    const double *sc = score;
    struct vg_nab_result r;
    /* At 0.95 only row 10 counts: raw = TP_AT_10, normalised 100 (raw + 1) / 2. */
    assert_int_equal(vg_nab_score(&f, &sc, 1, &vg_nab_profiles[0], 0.95, &r), 0);
    assert_true(fabs(r.raw - TP_AT_10) < 1e-12);
    assert_true(fabs(r.normalized - 100 * (TP_AT_10 + 1) / 2) < 1e-9);
    assert_int_equal(r.tp, 1);
    assert_int_equal(r.fp, 0);
    /* At 0.6: row 9 is the earliest detection; three false positives. */
    assert_int_equal(vg_nab_score(&f, &sc, 1, &vg_nab_profiles[0], 0.6, &r), 0);
    assert_true(fabs(r.raw - (TP_AT_9 - 0.11 + 0.11 * FP_AT_13 + 0.11 * FP_AT_19)) < 1e-12);
    assert_int_equal(r.fp, 3);
    /* reward_low_FN at 0.7: 0.8 and 0.95 detect, row 5 and row 13 are false positives. */
    assert_int_equal(vg_nab_score(&f, &sc, 1, &vg_nab_profiles[2], 0.7, &r), 0);
    assert_true(fabs(r.raw - (TP_AT_9 - 0.11 + 0.11 * FP_AT_13)) < 1e-12);
    assert_true(fabs(r.null_raw + 2) < 1e-12);
    /* Nothing detected: the null score, normalised 0. */
    assert_int_equal(vg_nab_score(&f, &sc, 1, &vg_nab_profiles[0], 1.1, &r), 0);
    assert_true(fabs(r.raw + 1) < 1e-12);
    assert_true(fabs(r.normalized) < 1e-12);
    vg_nab_file_free(&f);
}

static void optimiser_picks_the_best_corpus_threshold(void **state)
{
    struct vg_nab_file f;
    double score[20];
    hand_case(&f, score);
    const double *sc = score;
    struct vg_nab_result r;
    /* By hand (standard): 0.95 -> 0.8598, 0.9 -> 0.7498, 0.8 -> 0.8570, 0.7 -> 0.7546: 0.95. */
    assert_int_equal(vg_nab_optimize(&f, &sc, 1, &vg_nab_profiles[0], &r), 0);
    assert_true(r.threshold == 0.95);
    assert_true(fabs(r.normalized - 92.98962834548918) < 1e-9);
    /* reward_low_FP_rate: the same threshold, the same score (no FP at 0.95). */
    assert_int_equal(vg_nab_optimize(&f, &sc, 1, &vg_nab_profiles[1], &r), 0);
    assert_true(r.threshold == 0.95);
    /* reward_low_FN_rate normalises by A_TP + A_FN = 3: 100 (0.8598 + 2) / 3. */
    assert_int_equal(vg_nab_optimize(&f, &sc, 1, &vg_nab_profiles[2], &r), 0);
    assert_true(fabs(r.normalized - 95.32641889699279) < 1e-9);
    vg_nab_file_free(&f);
}

static void threshold_is_shared_across_files(void **state)
{
    /* Two copies of the hand case, the second with its scores halved: one corpus threshold
     * cannot be 0.95 for both, and the optimiser must find the joint best. */
    struct vg_nab_file f[2];
    double a[20], b[20];
    hand_case(&f[0], a);
    hand_case(&f[1], b);
    for (int i = 0; i < 20; i++)
        b[i] /= 2;
    const double *sc[2] = {a, b};
    struct vg_nab_result r;
    assert_int_equal(vg_nab_optimize(f, sc, 2, &vg_nab_profiles[0], &r), 0);
    /* By hand: 0.95 -> 0.8598 - 1 = -0.140; 0.6 (all of file 1) -> 0.6446 - 1 = -0.355;
     * 0.475 (file 2 detects at row 10) -> 0.6446 + 0.8598 = 1.504; 0.45 -> 1.394; 0.4 -> 1.501;
     * lower ones only add false positives. */
    assert_true(r.threshold == 0.475);
    assert_true(fabs(r.raw - (TP_AT_9 - 0.11 + 0.11 * FP_AT_13 + 0.11 * FP_AT_19 + TP_AT_10)) <
                1e-12);
    assert_int_equal(r.windows, 2);
    vg_nab_file_free(&f[0]);
    vg_nab_file_free(&f[1]);
}

static void window_inside_probation_is_not_scored(void **state)
{
    int64_t ts[100];
    for (int i = 0; i < 100; i++)
        ts[i] = (int64_t)i * 1000000;
    struct vg_eval_window w[2] = {{ts[2], ts[5]}, {ts[50], ts[60]}};
    struct vg_nab_file f;
    char err[256];
    assert_int_equal(vg_nab_file_init(&f, ts, 100, w, 2, err, sizeof(err)), 0);
    assert_int_equal(f.probation, 15);
    assert_int_equal(f.n_windows, 1);
    double score[100] = {0};
    score[70] = 1; /* q = 10 / 10 = 1 past the second window */
    const double *sc = score;
    struct vg_nab_result r;
    assert_int_equal(vg_nab_score(&f, &sc, 1, &vg_nab_profiles[0], 0.5, &r), 0);
    assert_true(fabs(r.raw - (-1 + 0.11 * (2 / (1 + exp(5.0)) - 1))) < 1e-12);
    vg_nab_file_free(&f);
    /* A window whose time is not a row is refused rather than misplaced. */
    struct vg_eval_window bad = {ts[50] + 1, ts[60]};
    assert_int_equal(vg_nab_file_init(&f, ts, 100, &bad, 1, err, sizeof(err)), -EINVAL);
}

static void windows_out_of_order_score_as_sorted(void **state)
{
    int64_t ts[100];
    for (int i = 0; i < 100; i++)
        ts[i] = (int64_t)i * 1000000;
    struct vg_eval_window in_order[2] = {{ts[30], ts[40]}, {ts[60], ts[70]}};
    struct vg_eval_window reversed[2] = {in_order[1], in_order[0]};
    double score[100] = {0};
    score[35] = 0.9;
    score[65] = 0.8;
    score[50] = 0.7;
    const double *sc = score;
    char err[256];
    struct vg_nab_file a, b;
    struct vg_nab_result ra, rb;
    assert_int_equal(vg_nab_file_init(&a, ts, 100, in_order, 2, err, sizeof(err)), 0);
    assert_int_equal(vg_nab_file_init(&b, ts, 100, reversed, 2, err, sizeof(err)), 0);
    assert_int_equal(b.n_windows, 2);
    assert_int_equal(b.window[65], 1);
    assert_memory_equal(a.window, b.window, sizeof(*a.window) * 100);
    assert_memory_equal(a.weight, b.weight, sizeof(*a.weight) * 100);
    assert_int_equal(vg_nab_score(&a, &sc, 1, &vg_nab_profiles[0], 0.6, &ra), 0);
    assert_int_equal(vg_nab_score(&b, &sc, 1, &vg_nab_profiles[0], 0.6, &rb), 0);
    assert_true(ra.raw == rb.raw);
    assert_int_equal(rb.tp, 2);
    vg_nab_file_free(&a);
    vg_nab_file_free(&b);
}

static void overlapping_windows_are_refused(void **state)
{
    int64_t ts[100];
    for (int i = 0; i < 100; i++)
        ts[i] = (int64_t)i * 1000000;
    struct vg_nab_file f;
    char err[256];
    struct vg_eval_window over[3] = {{ts[60], ts[70]}, {ts[20], ts[30]}, {ts[25], ts[40]}};
    assert_int_equal(vg_nab_file_init(&f, ts, 100, over, 3, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "window 3 overlaps window 2"));
    /* Sharing one row (one's end is the other's start) is an overlap too. */
    struct vg_eval_window touch[2] = {{ts[20], ts[30]}, {ts[30], ts[40]}};
    assert_int_equal(vg_nab_file_init(&f, ts, 100, touch, 2, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "window 2 overlaps window 1"));
}

static void csv_reader_copes_with_the_corpus_traps(void **state)
{
    const char csv[] = "timestamp,value\r\n"
                       "2014-04-01 00:00:00,1.5\r\n"
                       "2014-04-01 00:05:00,-2e3\r\n"
                       "2014-04-01 00:05:00,7\r\n" /* repeated timestamp kept */
                       "2014-04-01 00:01:00,8";    /* out of order, no final newline */
    struct vg_eval_series s;
    char err[256];
    assert_int_equal(vg_eval_series_parse(csv, sizeof(csv) - 1, "t", &s, err, sizeof(err)), 0);
    assert_int_equal(s.n, 4);
    assert_true(s.value[1] == -2000);
    assert_true(s.ts_us[1] == s.ts_us[2]);
    assert_true(s.ts_us[3] < s.ts_us[2]);
    assert_string_equal(s.ts_text[3], "2014-04-01 00:01:00");
    assert_string_equal(s.val_text[1], "-2e3");
    int64_t us;
    assert_int_equal(vg_eval_parse_time("2014-04-01 00:00:00.000000", 26, &us), 0);
    assert_true(us == s.ts_us[0]);
    assert_true(us == 1396310400LL * 1000000); /* date -u -d 2014-04-01 +%s */
    vg_eval_series_free(&s);

    const char bad[] = "timestamp,value\n2014-04-01 00:00:00,abc\n";
    assert_int_equal(vg_eval_series_parse(bad, sizeof(bad) - 1, "bad.csv", &s, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "bad.csv:2: bad value 'abc'");
    const char nohdr[] = "2014-04-01 00:00:00,1\n";
    assert_int_equal(vg_eval_series_parse(nohdr, sizeof(nohdr) - 1, "x", &s, err, sizeof(err)),
                     -EINVAL);
    const char badts[] = "timestamp,value\n2014-13-01 00:00:00,1\n";
    assert_int_equal(vg_eval_series_parse(badts, sizeof(badts) - 1, "x", &s, err, sizeof(err)),
                     -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(geometry_follows_the_sweeper),
        cmocka_unit_test(fixed_threshold_scores_by_hand),
        cmocka_unit_test(optimiser_picks_the_best_corpus_threshold),
        cmocka_unit_test(threshold_is_shared_across_files),
        cmocka_unit_test(window_inside_probation_is_not_scored),
        cmocka_unit_test(windows_out_of_order_score_as_sorted),
        cmocka_unit_test(overlapping_windows_are_refused),
        cmocka_unit_test(csv_reader_copes_with_the_corpus_traps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
