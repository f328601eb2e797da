/* vigilctl eval end to end on the small slices in tests/data: it runs, prints the three NAB
 * profiles and the SMD table, gives the same numbers twice, and refuses bad input clearly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define VIGILCTL VG_BIN_DIR "/analyzer/vigilctl/vigilctl"

/* Removes the warning that OpenBLAS picked older kernels than this CPU has: it depends on the
 * machine (OpenBLAS 0.3.21 does not know the newest Xeons) and carries a time stamp, so two
 * otherwise equal runs would differ by it. */
static void drop_blas_advice(char *b)
{
    char *p = b;
    while ((p = strstr(p, "ts=")) != NULL) {
        char *eol = strchr(p, '\n');
        char *end = eol ? eol + 1 : p + strlen(p);
        int line_start = p == b || p[-1] == '\n';
        char *hit = strstr(p, "msg=\"OpenBLAS chose kernels older than this CPU\"");
        if (line_start && hit && hit < end) {
            memmove(p, end, strlen(end) + 1);
        } else {
            p = end;
        }
    }
}

/* Runs cmd, returns its exit status and its stdout+stderr (less the advice above) in a malloc'd
 * string. */
static int run(const char *cmd, char **out)
{
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    assert_non_null(b);
    size_t got;
    while ((got = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n < 1024) {
            cap *= 2;
            b = realloc(b, cap);
            assert_non_null(b);
        }
    }
    b[n] = 0;
    int st = pclose(f);
    drop_blas_advice(b);
    *out = b;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void nab_slice_scores_three_profiles_reproducibly(void **state)
{
    char *a, *b;
    const char *cmd =
        VIGILCTL " eval nab -s detector.model=seasonal " VG_TEST_DATA "/nab-slice 2>&1";
    assert_int_equal(run(cmd, &a), 0);
    assert_non_null(strstr(a, "2 files, 2665 rows, detector seasonal"));
    assert_non_null(strstr(a, "\nstandard "));
    assert_non_null(strstr(a, "\nreward_low_FP_rate "));
    assert_non_null(strstr(a, "\nreward_low_FN_rate "));
    assert_int_equal(run(cmd, &b), 0);
    assert_string_equal(a, b);
    free(a);
    free(b);
}

/* Reads TP and FP from the line that starts with label (after the first "\nstandard "). */
static void tp_fp(const char *out, const char *label, int *tp, int *fp)
{
    const char *p = strstr(strstr(out, "\nstandard "), label);
    assert_non_null(p);
    double score, thr, raw;
    int fn;
    assert_int_equal(
        sscanf(p + strlen(label), "%lf %lf %lf %d %d %d", &score, &thr, &raw, tp, &fn, fp), 6);
}

/* "as alerts" scores the onsets of the analyzer's alert state machine: every onset is a row at or
 * above alert.threshold, and a run of such rows is one alert, so it can only have fewer
 * detections than the rows above the threshold, and here strictly fewer false positives. */
static void nab_as_alerts_counts_alert_onsets_not_rows(void **state)
{
    char *a;
    assert_int_equal(run(VIGILCTL " eval nab -s detector.model=seasonal -s alert.for=0s"
                                  " -s alert.resolve_for=6h -s alert.threshold=0.99 " VG_TEST_DATA
                                  "/nab-slice 2>&1",
                         &a),
                     0);
    int tp_rows, fp_rows, tp_alerts, fp_alerts;
    tp_fp(a, "\n  at alert.threshold", &tp_rows, &fp_rows);
    tp_fp(a, "\n  as alerts", &tp_alerts, &fp_alerts);
    print_message("rows: TP %d FP %d; alerts: TP %d FP %d\n", tp_rows, fp_rows, tp_alerts,
                  fp_alerts);
    assert_true(tp_alerts >= 1 && tp_alerts <= tp_rows);
    assert_true(fp_alerts >= 1 && fp_alerts < fp_rows);
    free(a);
}

/* A NAB file of hourly rows with one more row 1 s after row extra (extra < 0: none), load about
 * 10 and 100 on rows 150-152, labelled as one window around them, under dir. */
static void write_hourly_corpus(const char *dir, int extra)
{
    char path[512];
    snprintf(path, sizeof path, "mkdir -p %s/data/h %s/labels", dir, dir);
    assert_int_equal(system(path), 0);
    snprintf(path, sizeof path, "%s/labels/combined_windows.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "{\"h/hourly.csv\": [[\"2026-01-07 00:00:00.000000\", \"2026-01-07 "
               "18:00:00.000000\"]]}\n");
    assert_int_equal(fclose(f), 0);
    snprintf(path, sizeof path, "%s/data/h/hourly.csv", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "timestamp,value\n");
    for (int i = 0; i < 200; i++) {
        double v = i >= 150 && i <= 152 ? 100 : 10 + 0.9 * ((i * 37) % 19) / 19.0;
        int day = 1 + i / 24, hour = i % 24;
        fprintf(f, "2026-01-%02d %02d:00:00,%.4f\n", day, hour, v);
        if (i == extra)
            fprintf(f, "2026-01-%02d %02d:00:01,%.4f\n", day, hour, v);
    }
    assert_int_equal(fclose(f), 0);
}

/* "as alerts" takes a file's typical step as its interval, as `vigilctl replay` does a CSV's: one
 * short step among hourly rows does not make every later step a gap, which kept alert.for from
 * ever being met (the spike was missed). */
static void nab_as_alerts_interval_is_not_the_one_short_step(void **state)
{
    (void)state;
    char dir[] = "/tmp/vigil-nab-hourly-XXXXXX";
    assert_non_null(mkdtemp(dir));
    const int extras[] = {-1, 20};
    for (size_t i = 0; i < sizeof extras / sizeof extras[0]; i++) {
        write_hourly_corpus(dir, extras[i]);
        char cmd[700], *a;
        snprintf(cmd, sizeof cmd,
                 VIGILCTL " eval nab -s detector.warmup=10 -s alert.for=1h -s alert.threshold=0.99 "
                          "%s 2>&1",
                 dir);
        assert_int_equal(run(cmd, &a), 0);
        int tp, fp;
        tp_fp(a, "\n  as alerts", &tp, &fp);
        if (tp != 1 || fp != 0)
            fail_msg("extra row after %d: as alerts TP %d FP %d: %s", extras[i], tp, fp, a);
        free(a);
    }
    char rm[600];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    assert_int_equal(system(rm), 0);
}

static void nab_results_files_follow_nab_layout(void **state)
{
    char *a;
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "d=$(mktemp -d) && " VIGILCTL " eval nab -r $d -n vg " VG_TEST_DATA
             "/nab-slice >/dev/null && head -2 $d/vg/realTraffic/vg_speed_7578.csv && "
             "wc -l < $d/vg/realTraffic/vg_speed_7578.csv; rm -rf $d");
    assert_int_equal(run(cmd, &a), 0);
    /* Header, one row per input row (1127 + header), timestamp and value as written. */
    assert_non_null(strstr(a, "timestamp,value,anomaly_score,label\n2015-09-08 11:39:00,73,0,0\n"));
    assert_non_null(strstr(a, "1128\n"));
    free(a);
}

static void smd_slice_prints_machine_and_mean(void **state)
{
    char *a, *b;
    const char *cmd =
        VIGILCTL " eval smd -s detector.model=seasonal " VG_TEST_DATA "/smd-slice 2>&1";
    assert_int_equal(run(cmd, &a), 0);
    assert_non_null(strstr(a, "\nmachine-1-3 "));
    assert_non_null(strstr(a, "\nmean "));
    assert_null(strstr(a, "nan"));
    /* The figures depend on the kernels' rounding, so the run names them. */
    assert_non_null(strstr(a, "\nvg_mv backend: cpu (OpenBLAS "));
    assert_non_null(strstr(a, " kernels, "));
    assert_int_equal(run(cmd, &b), 0);
    assert_string_equal(a, b);
    free(a);
    free(b);
}

static void smd_results_file_has_a_row_per_test_row_with_its_label(void **state)
{
    char *a;
    char cmd[1024];
    /* The labels column must be test_label's, row for row (paste puts them side by side). */
    snprintf(cmd, sizeof(cmd),
             "d=$(mktemp -d) && " VIGILCTL " eval smd -r $d " VG_TEST_DATA
             "/smd-slice >/dev/null && head -1 $d/machine-1-3.csv && "
             "tail -n +2 $d/machine-1-3.csv | wc -l && "
             "tail -n +2 $d/machine-1-3.csv | cut -d, -f2 | paste -d' ' - " VG_TEST_DATA
             "/smd-slice/test_label/machine-1-3.txt | awk '$1 != $2' | wc -l; rm -rf $d");
    assert_int_equal(run(cmd, &a), 0);
    assert_non_null(strstr(a, "row,label,surprise,raw,blame1,blame2,blame3\n450\n0\n"));
    free(a);
}

/* A group of one machine runs the same phases on the same rows as the machine alone, so its
 * table must be the same to the digit; a group of the same machine twice too, as the mean of two
 * equal gradients is the gradient. */
static void smd_group_of_one_machine_scores_as_the_machine_alone(void **state)
{
    char *a, *b, *c;
    char cmd[1024];
    assert_int_equal(run(VIGILCTL " eval smd " VG_TEST_DATA "/smd-slice 2>&1 | tail -n +2", &a), 0);
    assert_int_equal(
        run(VIGILCTL " eval smd -p group=1 " VG_TEST_DATA "/smd-slice 2>&1 | tail -n +2", &b), 0);
    assert_non_null(strstr(a, "\nmachine-1-3 "));
    assert_string_equal(a, b);
    snprintf(cmd, sizeof(cmd),
             "d=$(mktemp -d) && for s in train test test_label interpretation_label; do "
             "mkdir $d/$s && cp " VG_TEST_DATA "/smd-slice/$s/machine-1-3.txt $d/$s/ && "
             "cp " VG_TEST_DATA
             "/smd-slice/$s/machine-1-3.txt $d/$s/machine-1-9.txt; done && " VIGILCTL
             " eval smd -p group=1 $d 2>&1 | grep '^machine-1-3 '; rm -rf $d");
    assert_int_equal(run(cmd, &c), 0);
    const char *line = strstr(a, "\nmachine-1-3 ");
    assert_non_null(line);
    assert_true(strncmp(c, "machine-1-3 ", 12) == 0 && strchr(c, '\n'));
    assert_memory_equal(c, line + 1, strlen(c));
    free(a);
    free(b);
    free(c);
}

static void smd_group_refuses_the_per_series_scorer(void **state)
{
    char *a;
    assert_int_equal(
        run(VIGILCTL " eval smd -p group=1 -p host=0 " VG_TEST_DATA "/smd-slice 2>&1", &a), 1);
    assert_non_null(strstr(a, "group=1 runs the vg_mv host scorer alone"));
    free(a);
}

/* Replaying saved residuals runs the same vg_hscore calls on the same numbers as the model run
 * that saved them, so the table must be the same to the digit; a host-score setting given to the
 * replay must act as it does in a full run. (A model run's header has one more line, its
 * backend; a replay has none.) */
static void smd_replayed_residuals_score_as_the_model_run(void **state)
{
    char *a, *b, *c, *d;
    char cmd[1024];
    const char *slice = VG_TEST_DATA "/smd-slice";
    snprintf(cmd, sizeof(cmd),
             "d=$(mktemp -d) && " VIGILCTL " eval smd --save-residuals $d/r %s | tail -n +3 && "
             "echo --- && " VIGILCTL " eval smd --from-residuals $d/r %s | tail -n +2 && "
             "echo --- && " VIGILCTL
             " eval smd -p hsmooth=1 %s | tail -n +3 && echo --- && " VIGILCTL
             " eval smd -p hsmooth=1 --from-residuals $d/r %s | tail -n +2; rm -rf $d",
             slice, slice, slice, slice);
    assert_int_equal(run(cmd, &a), 0);
    b = strstr(a, "---\n");
    assert_non_null(b);
    *b = 0;
    b += 4;
    c = strstr(b, "---\n");
    assert_non_null(c);
    *c = 0;
    c += 4;
    d = strstr(c, "---\n");
    assert_non_null(d);
    *d = 0;
    d += 4;
    assert_non_null(strstr(a, "\nmachine-1-3 "));
    assert_string_equal(a, b);
    assert_string_equal(c, d);
    assert_string_not_equal(a, c); /* the setting took effect */
    free(a);
}

/* A residuals file that does not match the machine (cut short here) or a scorer that has no
 * residuals is refused with a message, never scored. */
static void smd_residuals_that_do_not_fit_are_refused(void **state)
{
    char *a;
    assert_int_equal(
        run("d=$(mktemp -d) && " VIGILCTL " eval smd --save-residuals $d " VG_TEST_DATA
            "/smd-slice >/dev/null && truncate -s 1000 $d/machine-1-3.resid && " VIGILCTL
            " eval smd --from-residuals $d " VG_TEST_DATA
            "/smd-slice 2>&1; s=$?; rm -rf $d; exit $s",
            &a),
        1);
    assert_non_null(strstr(a, "machine-1-3.resid: 1000 bytes where its header announces"));
    assert_null(strstr(a, "\nmachine-1-3 "));
    free(a);
    assert_int_equal(run(VIGILCTL " eval smd -p group=1 --from-residuals /tmp " VG_TEST_DATA
                                  "/smd-slice 2>&1",
                         &a),
                     2);
    assert_non_null(strstr(a, "take vg_mv's host scorer, one model per machine"));
    free(a);
}

/* --param ens=K steps K vg_mv models (seeds seed ... seed+K-1) on the same rows and averages their
 * residuals before the one host score: an ensemble of one is the default path to the digit, one
 * of two runs and scores otherwise, and the paths that have no per-machine models refuse it. */
static void smd_ensemble_of_one_is_the_single_model(void **state)
{
    char *a, *b, *c;
    const char *slice = VG_TEST_DATA "/smd-slice";
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), VIGILCTL " eval smd %s 2>&1 | tail -n +2", slice);
    assert_int_equal(run(cmd, &a), 0);
    snprintf(cmd, sizeof(cmd), VIGILCTL " eval smd -p ens=1 %s 2>&1 | tail -n +2", slice);
    assert_int_equal(run(cmd, &b), 0);
    snprintf(cmd, sizeof(cmd), VIGILCTL " eval smd -p ens=2 %s 2>&1 | tail -n +2", slice);
    assert_int_equal(run(cmd, &c), 0);
    assert_non_null(strstr(a, "\nmachine-1-3 "));
    assert_string_equal(a, b);
    assert_non_null(strstr(c, "\nmachine-1-3 "));
    assert_null(strstr(c, "nan"));
    assert_string_not_equal(a, c);
    free(a);
    free(b);
    free(c);
    snprintf(cmd, sizeof(cmd), VIGILCTL " eval smd -p ens=2 -p group=1 %s 2>&1", slice);
    assert_int_equal(run(cmd, &a), 2);
    assert_non_null(strstr(a, "ens averages vg_mv models of one machine"));
    free(a);
    snprintf(cmd, sizeof(cmd), VIGILCTL " eval smd -p ens=9 %s 2>&1", slice);
    assert_int_not_equal(run(cmd, &a), 0);
    assert_non_null(strstr(a, "ens must be a whole number from 1 to 8"));
    free(a);
}

/* A value beyond a float's range (1e39: the readers take any finite double) counts as VG_K_X_MAX
 * in vg_mv's rows, as the analyzer's vg_fleet_put has it, per machine and in a group alike: the
 * results are those of the same data with 1e30 (the bound) in its place, and the row is flagged.
 * Converted unbounded it became inf, which the normaliser reads as missing: not scored at all. */
static void smd_a_value_beyond_float_range_scores_as_the_analyzer_bounds_it(void **state)
{
    (void)state;
    char *a;
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "d=$(mktemp -d) && for v in 1e39 1e30; do mkdir -p $d/$v && cp -r " VG_TEST_DATA
             "/smd-slice/. $d/$v/ && awk -F, -v OFS=, -v v=$v 'NR==301{$2=v}1' " VG_TEST_DATA
             "/smd-slice/test/machine-1-3.txt >$d/$v/test/machine-1-3.txt && "
             "for g in 0 1; do " VIGILCTL " eval smd -p group=$g -r $d/r$v$g $d/$v >/dev/null "
             "|| exit 1; done; done; for g in 0 1; do "
             "cmp -s $d/r1e39$g/machine-1-3.csv $d/r1e30$g/machine-1-3.csv && echo same; "
             "sed -n 302p $d/r1e39$g/machine-1-3.csv | cut -d, -f1,3; done; rm -rf $d");
    assert_int_equal(run(cmd, &a), 0);
    print_message("%s", a);
    /* Row 300 (0-based) with its surprise: far above the rows around it (about 0.3). */
    char row[2][32];
    double surprise[2];
    assert_int_equal(sscanf(a, "same\n%31[^,],%lf\nsame\n%31[^,],%lf", row[0], &surprise[0], row[1],
                            &surprise[1]),
                     4);
    for (int g = 0; g < 2; g++) {
        assert_string_equal(row[g], "300");
        assert_true(surprise[g] > 3);
    }
    free(a);
}

/* --backend picks vg_mv's compute backend in eval smd: cpu is the default (the same figures),
 * anything but cpu/cuda/auto is refused, and eval nab, which runs no vg_mv, refuses it. */
static void smd_backend_is_checked_and_cpu_is_the_default(void **state)
{
    char *a, *b;
    assert_int_equal(run(VIGILCTL " eval smd " VG_TEST_DATA "/smd-slice 2>&1", &a), 0);
    assert_int_equal(run(VIGILCTL " eval smd --backend cpu " VG_TEST_DATA "/smd-slice 2>&1", &b),
                     0);
    assert_string_equal(a, b);
    free(a);
    free(b);
    assert_int_equal(run(VIGILCTL " eval smd --backend gpu " VG_TEST_DATA "/smd-slice 2>&1", &a),
                     2);
    assert_non_null(strstr(a, "--backend must be cpu, cuda or auto, not 'gpu'"));
    free(a);
    assert_int_equal(run(VIGILCTL " eval nab --backend cuda " VG_TEST_DATA "/nab-slice 2>&1", &a),
                     2);
    assert_non_null(strstr(a, "--backend are eval smd's"));
    free(a);
}

/* vigilctl sits two folders down in the build tree (analyzer/vigilctl/), one further than the
 * programs that found the CUDA backend at <exe>/../kernels: --backend cuda must still find the
 * one built beside it rather than say it is not installed. Here it opens and then says why it
 * cannot run (no driver) or runs on a GPU; either way it was found. */
static void smd_backend_cuda_finds_the_build_trees_library(void **state)
{
    (void)state;
#ifdef VG_TEST_CUDA_BUILT
    char *a;
    run("env -u VIGIL_CUDA_LIB " VIGILCTL " eval smd --backend cuda " VG_TEST_DATA
        "/smd-slice 2>&1",
        &a);
    assert_null(strstr(a, "not installed"));
    assert_true(strstr(a, "vg_mv backend: cuda (") || strstr(a, "CUDA backend unusable: "));
    free(a);
#else
    printf("SKIP: smd_backend_cuda_finds_the_build_trees_library: no CUDA backend in this build\n");
#endif
}

/* A --param out of its range (non-finite, huge, a fraction where a count goes) is a usage error
 * naming the parameter: it was cast to an integer (undefined), or trained for ever. */
static void smd_param_out_of_range_is_refused(void **state)
{
    static const struct {
        const char *arg, *msg;
    } cases[] = {
        {"epochs=inf", "--param 'epochs=inf': epochs must be a whole number from 1 to 1000"},
        {"topk=nan", "--param 'topk=nan': topk must be a whole number from 1 to 64"},
        {"epochs=1e10", "--param 'epochs=1e10': epochs must be"},
        {"host=1.5", "--param 'host=1.5': host must be 0, 1, 2 or 3"},
        {"lr=0", "--param 'lr=0': lr must be a number above 0 and below 1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char cmd[512], *a;
        snprintf(cmd, sizeof(cmd),
                 "timeout 20 " VIGILCTL " eval smd -p %s " VG_TEST_DATA "/smd-slice 2>&1",
                 cases[i].arg);
        if (run(cmd, &a) != 2 || !strstr(a, cases[i].msg))
            fail_msg("-p %s: not refused with '%s': %s", cases[i].arg, cases[i].msg, a);
        free(a);
    }
}

static void bad_input_is_refused_with_a_message(void **state)
{
    char *a;
    assert_int_equal(run(VIGILCTL " eval nab /nonexistent 2>&1", &a), 1);
    assert_non_null(strstr(a, "/nonexistent/data: No such file or directory"));
    free(a);
    assert_int_equal(run(VIGILCTL " eval nab --param bogus=1 " VG_TEST_DATA "/nab-slice 2>&1", &a),
                     2);
    assert_non_null(strstr(a, "--param 'bogus=1': unknown name"));
    free(a);
    /* An SMD host scorer's setting is refused by nab, not silently ignored. */
    assert_int_equal(run(VIGILCTL " eval nab -p topk=3 " VG_TEST_DATA "/nab-slice 2>&1", &a), 2);
    assert_non_null(strstr(a, "vigilctl eval nab: --param 'topk=3': --param sets eval smd's host "
                              "scorer, which nab does not run"));
    free(a);
    assert_int_equal(run(VIGILCTL " eval foo 2>&1", &a), 2);
    free(a);
    assert_int_equal(run(VIGILCTL " eval smd --help", &a), 0);
    assert_non_null(strstr(a, "Usage: vigilctl eval smd"));
    free(a);
}

/* A DIR that is not NAB's layout says what is wrong with it and what it must hold: a missing
 * data/ is not an empty one, and a missing labels file has no line number. */
static void nab_dir_errors_name_the_cause_and_the_layout(void **state)
{
    (void)state;
    char *a;
    assert_int_equal(run(VIGILCTL " eval nab /nonexistent 2>&1", &a), 1);
    assert_non_null(strstr(a, "vigilctl eval nab: /nonexistent/data: No such file or directory "
                              "(DIR must contain data/<category>/*.csv and "
                              "labels/combined_windows.json)\n"));
    assert_null(strstr(a, "no category folders"));
    free(a);
    assert_int_equal(run("d=$(mktemp -d) && mkdir $d/data && " VIGILCTL
                         " eval nab $d 2>&1; rc=$?; rm -rf $d; exit $rc",
                         &a),
                     1);
    assert_non_null(strstr(a, "/data: no category folders (DIR must contain "));
    free(a);
    /* data/ as NAB has it, labels/ left out, then a labels file that is not JSON. */
    assert_int_equal(run("d=$(mktemp -d) && cp -r " VG_TEST_DATA "/nab-slice/data $d/ && " VIGILCTL
                         " eval nab $d 2>&1; rc=$?; rm -rf $d; exit $rc",
                         &a),
                     1);
    assert_non_null(strstr(a, "/labels/combined_windows.json: No such file or directory (DIR "
                              "must contain "));
    assert_null(strstr(a, ":-1:"));
    free(a);
    assert_int_equal(
        run("d=$(mktemp -d) && cp -r " VG_TEST_DATA "/nab-slice/data $d/ && mkdir "
            "$d/labels && printf '{\\n\\\"x\\\": [' >$d/labels/combined_windows.json && " VIGILCTL
            " eval nab $d 2>&1; rc=$?; rm -rf $d; exit $rc",
            &a),
        1);
    assert_non_null(strstr(a, "/labels/combined_windows.json:2: "));
    assert_null(strstr(a, ":-1:"));
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nab_slice_scores_three_profiles_reproducibly),
        cmocka_unit_test(nab_as_alerts_counts_alert_onsets_not_rows),
        cmocka_unit_test(nab_as_alerts_interval_is_not_the_one_short_step),
        cmocka_unit_test(nab_results_files_follow_nab_layout),
        cmocka_unit_test(smd_slice_prints_machine_and_mean),
        cmocka_unit_test(smd_results_file_has_a_row_per_test_row_with_its_label),
        cmocka_unit_test(smd_group_of_one_machine_scores_as_the_machine_alone),
        cmocka_unit_test(smd_group_refuses_the_per_series_scorer),
        cmocka_unit_test(smd_replayed_residuals_score_as_the_model_run),
        cmocka_unit_test(smd_residuals_that_do_not_fit_are_refused),
        cmocka_unit_test(smd_ensemble_of_one_is_the_single_model),
        cmocka_unit_test(smd_a_value_beyond_float_range_scores_as_the_analyzer_bounds_it),
        cmocka_unit_test(smd_backend_is_checked_and_cpu_is_the_default),
        cmocka_unit_test(smd_backend_cuda_finds_the_build_trees_library),
        cmocka_unit_test(smd_param_out_of_range_is_refused),
        cmocka_unit_test(bad_input_is_refused_with_a_message),
        cmocka_unit_test(nab_dir_errors_name_the_cause_and_the_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
