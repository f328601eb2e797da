/* vg_log's rate limit: a message repeated in a burst costs a bounded number of lines, and the
 * count of what was held back is reported, not lost. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vg_log.h"
#include "vg_testproc.h"
#include "vg_util.h"

static char path[64];

/* Sends stderr to a fresh file for the duration of a test. */
static int saved_fd = -1;

static void capture_start(void)
{
    snprintf(path, sizeof path, "/tmp/vigil-test-log.%d", (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    saved_fd = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
}

static char *capture_end(void)
{
    dup2(saved_fd, STDERR_FILENO);
    close(saved_fd);
    char *t = vg_tp_read(path);
    unlink(path);
    return t;
}

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static int64_t fake_now_ms;
static int64_t fake_clock(void)
{
    return fake_now_ms;
}

static void burst_of_one_message_is_cut_to_the_limit_and_counted(void **state)
{
    (void)state;
    vg_log_init("test", VG_LOG_INFO, 0);
    vg_log_set_rate_limit(5, 300);
    fake_now_ms = 1000;
    vg_log_set_clock(fake_clock);
    capture_start();
    for (int i = 0; i < 50; i++)
        vg_warn("disk full", "attempt=%d", i);
    vg_info("other event", "x=1"); /* another message has its own budget */
    fake_now_ms += 299;
    vg_warn("disk full", "attempt=%d", 49); /* still inside the window: held */
    fake_now_ms += 1;                       /* past it: the next line reports the held ones */
    vg_warn("disk full", "attempt=%d", 50);
    vg_log_set_clock(NULL);
    char *t = capture_end();
    assert_int_equal(count(t, "msg=\"disk full\""), 6);
    assert_int_equal(count(t, "msg=\"other event\""), 1);
    assert_non_null(strstr(t, "attempt=50 repeats_suppressed=46\n"));
    free(t);
    vg_log_set_rate_limit(20, 10000);
}

static void zero_burst_turns_the_limit_off(void **state)
{
    (void)state;
    vg_log_init("test", VG_LOG_INFO, 0);
    vg_log_set_rate_limit(0, 10000);
    capture_start();
    for (int i = 0; i < 100; i++)
        vg_info("tick", "i=%d", i);
    char *t = capture_end();
    assert_int_equal(count(t, " i="), 100);
    free(t);
    vg_log_set_rate_limit(20, 10000);
}

/* A burst with no later line of the same text (the flood stopped): the flush still says how many
 * lines were held back, once. */
static void held_lines_are_reported_by_the_flush_without_a_later_line(void **state)
{
    (void)state;
    vg_log_init("test", VG_LOG_INFO, 0);
    vg_log_set_rate_limit(20, 10000);
    fake_now_ms = 5000;
    vg_log_set_clock(fake_clock);
    capture_start();
    for (int i = 0; i < 100; i++)
        vg_warn("alert not queued", "i=%d", i);
    vg_info("quiet one", "x=1");
    vg_log_flush_suppressed();
    vg_log_flush_suppressed(); /* nothing held since: no second report */
    fake_now_ms += 10000;      /* a later line must not count the reported ones again */
    vg_warn("alert not queued", "i=%d", 100);
    vg_log_set_clock(NULL);
    char *t = capture_end();
    assert_int_equal(count(t, "msg=\"alert not queued\""), 21);
    assert_int_equal(count(t, "msg=\"log lines suppressed\""), 1);
    assert_non_null(strstr(t, "level=warn comp=test msg=\"log lines suppressed\" "
                              "text=\"alert not queued\" count=80\n"));
    assert_null(strstr(t, "repeats_suppressed"));
    free(t);
    vg_log_set_rate_limit(20, 10000);
}

/* A call site with a budget and a count of its own is not cut by the generic limit, or its count
 * of what it did not log would leave lines out. */
static void unlimited_lines_pass_the_rate_limit(void **state)
{
    (void)state;
    vg_log_init("test", VG_LOG_INFO, 0);
    vg_log_set_rate_limit(5, 10000);
    fake_now_ms = 5000;
    vg_log_set_clock(fake_clock);
    capture_start();
    for (int i = 0; i < 100; i++)
        vg_log_unlimited(VG_LOG_WARN, "bad message skipped", "i=%d", i);
    vg_log_flush_suppressed();
    vg_log_set_clock(NULL);
    char *t = capture_end();
    assert_int_equal(count(t, "msg=\"bad message skipped\""), 100);
    assert_null(strstr(t, "suppressed"));
    free(t);
    vg_log_set_rate_limit(20, 10000);
}

/* One message text logged under several keys (librdkafka's lines, by facility): each key has a
 * burst of its own, so a flood under one key does not hold back another's lines, and the keys
 * together are held to 5 bursts; both counts are reported. */
static void keyed_lines_have_a_budget_per_key_and_a_bounded_total(void **state)
{
    (void)state;
    vg_log_init("test", VG_LOG_INFO, 0);
    vg_log_set_rate_limit(5, 10000);
    fake_now_ms = 5000;
    vg_log_set_clock(fake_clock);
    capture_start();
    for (int i = 0; i < 50; i++)
        vg_log_keyed(VG_LOG_ERROR, "lib FAIL", "lib", "fac=FAIL i=%d", i);
    vg_log_keyed(VG_LOG_WARN, "lib OFFSET", "lib", "fac=OFFSET");
    for (int k = 0; k < 10; k++) {
        char key[16];
        snprintf(key, sizeof key, "lib K%d", k);
        for (int i = 0; i < 5; i++)
            vg_log_keyed(VG_LOG_INFO, key, "lib", "fac=K%d", k);
    }
    vg_log_flush_suppressed();
    vg_log_set_clock(NULL);
    char *t = capture_end();
    assert_int_equal(count(t, "fac=FAIL"), 5);
    assert_int_equal(count(t, "fac=OFFSET"), 1);
    /* The total (5 bursts, 25) counts the lines of each key after its first 2: FAIL's 3, then
     * 22 of the K keys' 30; the first 2 of each key (FAIL, OFFSET, K0..K9) skip it. */
    assert_int_equal(count(t, "msg=\"lib\""), 25 + 2 + 1 + 2 * 10);
    assert_non_null(strstr(t, "msg=\"log lines suppressed\" text=\"lib FAIL\" count=45\n"));
    assert_non_null(strstr(t, "msg=\"log lines suppressed\" text=\"lib\" count=8\n"));
    free(t);
    vg_log_set_rate_limit(20, 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(burst_of_one_message_is_cut_to_the_limit_and_counted),
        cmocka_unit_test(zero_burst_turns_the_limit_off),
        cmocka_unit_test(held_lines_are_reported_by_the_flush_without_a_later_line),
        cmocka_unit_test(unlimited_lines_pass_the_rate_limit),
        cmocka_unit_test(keyed_lines_have_a_budget_per_key_and_a_bounded_total),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
