/* The bench/ programs' argument checks: a malformed or out-of-range argument is a usage error
 * (exit 2, the usage on stderr) before anything is started or measured, rather than a run that
 * prints figures made up from it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vg_testproc.h"

#define BENCH VG_BIN_DIR "/bench/"

static char g_dir[256], g_out[512], g_err[512];

/* Runs bench program PROG with the arguments (printf format); stdout to g_out, stderr to g_err.
 * Returns the exit status. */
__attribute__((format(printf, 2, 3))) static int run(const char *prog, const char *fmt, ...)
{
    char args[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    return vg_tp_sh("timeout 60 %s%s %s >%s 2>%s </dev/null", BENCH, prog, args, g_out, g_err);
}

static void assert_err_has(const char *needle)
{
    char *e = vg_tp_read(g_err);
    assert_non_null(e);
    if (!strstr(e, needle))
        fail_msg("'%s' not in stderr: %s", needle, e);
    free(e);
}

/* SECONDS 10 had no crossing (they start at tick 10) and read before the crossings array;
 * below 10, or a bad HOSTS, it exited 2 without a word. */
static void alert_latency_refuses_runs_without_a_crossing(void **state)
{
    (void)state;
    static const char *const bad[] = {"2 10", "2 5", "0 60", "201 60", "abc", "2 60x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (run("alert-latency", "%s %s", VG_BIN_DIR, bad[i]) != 2)
            fail_msg("alert-latency BUILD %s: not exit 2", bad[i]);
        assert_err_has("usage: alert-latency BUILD_DIR [HOSTS] [SECONDS]");
    }
    assert_int_equal(run("alert-latency", "%s 2 10", VG_BIN_DIR), 2);
    assert_err_has("SECONDS: a whole number from 11");
}

/* --file: metric names holding ':' and a space after a separator are valid wire messages; the
 * value tokens were found by a text search that broke on both (false errors, or "0 metric
 * values" and an inf ratio with exit 0). */
static void wire_decode_file_reads_every_value_as_written(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof(path), "%s/msgs.jsonl", g_dir);
    assert_int_equal(vg_tp_write_atomic(
                         path, "{\"v\":1,\"host\":\"h\",\"boot\":\"b\",\"seq\":1,\"ts\":"
                               "1795689231737,\"interval_ms\":1000,\"metrics\":{\"app:req_ps\":"
                               "12.5,\"b\":3.0}}\n"
                               "{\"v\":1,\"host\":\"h\",\"boot\":\"b\",\"seq\":2,\"ts\":"
                               "1795689232737,\"interval_ms\":1000,\"labels\": {\"k\": \"x:1,y\"},"
                               "\"metrics\": {\"a\": 12.5, \"b\" : -3e-2 }}\n"),
                     0);
    assert_int_equal(run("wire-decode", "--reps 1 --file %s", path), 0);
    char *o = vg_tp_read(g_out);
    assert_non_null(o);
    if (!strstr(o, "numbers: 4 metric values as written in the file"))
        fail_msg("not 4 values: %s", o);
    assert_null(strstr(o, "ERRORS"));
    assert_null(strstr(o, "inf"));
    free(o);
}

/* detector-throughput ran "--hosts abc" as 0 hosts (a row of made-up figures) and a misspelt
 * backend as both; outbox-compaction ran "x" as a 0 MiB size. Each is now exit 2 before any
 * measurement, with the usage; so is collector-cost's. */
static void malformed_numbers_and_names_are_usage_errors(void **state)
{
    (void)state;
    static const struct {
        const char *prog, *args, *msg;
    } cases[] = {
        {"detector-throughput", "--hosts abc --backend cpu --seconds 0.1", "--hosts 'abc'"},
        {"detector-throughput", "--backend bogus --hosts 1 --metrics 64 --seconds 0.1",
         "--backend 'bogus': cpu, cuda or both"},
        {"detector-throughput", "--hosts 1,,2 --backend cpu", "--hosts '1,,2'"},
        {"detector-throughput", "--metrics 1,2,3,4,5,6,7,8,9 --backend cpu", "at most 8"},
        {"detector-throughput", "--seconds nan --backend cpu", "--seconds 'nan'"},
        {"detector-throughput", "--procs 4x --backend cpu", "--procs '4x'"},
        {"outbox-compaction", "%s x", "'x': a live size in MiB"},
        {"outbox-compaction", "%s 0", "'0': a live size in MiB"},
        {"outbox-compaction", "%s 1 5abc", "'5abc': a live size in MiB"},
        {"collector-cost", "--ticks abc", "--ticks 'abc': a whole number from 1"},
        {"collector-cost", "--ticks 0", "--ticks '0': a whole number from 1"},
        {"collector-cost", "--reps 5x", "--reps '5x': a whole number from 1"},
        {"collector-cost", "extra", "usage: collector-cost"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char args[512];
        /* outbox-compaction's DIR: this test's own, where nothing is written on a usage error. */
        snprintf(args, sizeof(args), cases[i].args, g_dir);
        int rc = run(cases[i].prog, "%s", args);
        if (rc != 2)
            fail_msg("%s %s: exit %d, not 2", cases[i].prog, args, rc);
        assert_err_has(cases[i].msg);
        assert_err_has("usage: ");
    }
}

int main(void)
{
    char *d = vg_tp_tmpdir("bench-cli");
    assert_non_null(d);
    snprintf(g_dir, sizeof(g_dir), "%s", d);
    snprintf(g_out, sizeof(g_out), "%s/out", d);
    snprintf(g_err, sizeof(g_err), "%s/err", d);
    free(d);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(alert_latency_refuses_runs_without_a_crossing),
        cmocka_unit_test(wire_decode_file_reads_every_value_as_written),
        cmocka_unit_test(malformed_numbers_and_names_are_usage_errors),
    };
    return vg_tp_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
