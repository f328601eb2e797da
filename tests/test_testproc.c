/* vg_tp_run_tests (tests/vg_testproc.c), which runs the long integration tests each in a process of
 * its own, several at a time: a test that fails or dies there must fail the program, as it would
 * in cmocka_run_group_tests, or the tests it runs could not fail. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vg_testproc.h"

static void passes(void **state)
{
    (void)state;
}

static void fails(void **state)
{
    (void)state;
    fail_msg("failing on purpose");
}

static void dies(void **state)
{
    (void)state;
    kill(getpid(), SIGKILL);
}

static int g_setup_ran;

static int setup(void **state)
{
    (void)state;
    g_setup_ran = 1;
    return 0;
}

/* Runs only with its setup having run in its own process. */
static void passes_after_its_setup(void **state)
{
    (void)state;
    assert_int_equal(g_setup_ran, 1);
}

static void the_runner_counts_each_failed_or_killed_test_and_names_it(void **state)
{
    (void)state;
    const struct CMUnitTest group[] = {
        cmocka_unit_test(passes),
        cmocka_unit_test(fails),
        cmocka_unit_test(dies),
        cmocka_unit_test_setup(passes_after_its_setup, setup),
    };
    char *dir = vg_tp_tmpdir("testproc");
    char path[300];
    snprintf(path, sizeof(path), "%s/out", dir);
    /* The group's output (the runner's and its tests') into a file, read afterwards. */
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(saved_out >= 0 && saved_err >= 0 && fd >= 0);
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
    unsetenv("VIGIL_TEST_JOBS");
    int failed = vg_tp_run_tests(group, sizeof(group) / sizeof(group[0]), 2);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    char *out = vg_tp_read(path);
    assert_non_null(out);
    if (failed != 2 || !strstr(out, "[  FAILED  ] 2 test(s), listed below:\n") ||
        !strstr(out, "[  FAILED  ] fails\n") || !strstr(out, "[  FAILED  ] dies\n") ||
        !strstr(out, "failing on purpose") || !strstr(out, "dies: killed by signal 9") ||
        !strstr(out, "[  PASSED  ] 2 test(s).\n") || strstr(out, "[  FAILED  ] passes"))
        fail_msg("the runner returned %d, expected 2; its output:\n%s", failed, out);
    /* Each test ran in a process of its own: not the setup in this one. */
    assert_int_equal(g_setup_ran, 0);
    free(out);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_runner_counts_each_failed_or_killed_test_and_names_it),
    };
    return vg_tp_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
