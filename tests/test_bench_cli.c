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
    };
    return vg_tp_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
