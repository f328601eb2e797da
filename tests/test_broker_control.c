/* The mock broker's control helper (tests/vg_analyzerproc.c, vg_ap_broker_control), which the
 * fault-injection tests wait on: it returns once the broker has answered the command just sent.
 * It looked for "control: CMD: ok" anywhere in the broker's log, so that a command sent a second
 * time found the first one's answer at once: it neither waited for the new one to be applied nor
 * saw it refused. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vg_analyzerproc.h"
#include "vg_testproc.h"

struct broker {
    char *dir;
    char log[600];
    pid_t pid;
};

static void broker_up(struct broker *b, const char *tag)
{
    char bootstrap[256];
    b->dir = vg_tp_tmpdir(tag);
    assert_non_null(b->dir);
    snprintf(b->log, sizeof(b->log), "%s/broker.log", b->dir);
    b->pid = vg_ap_start_broker_ctl(b->dir, 2, bootstrap, sizeof(bootstrap));
}

static void broker_down(struct broker *b)
{
    assert_int_equal(vg_tp_stop(b->pid, SIGTERM, 10000), 0);
    free(b->dir);
}

/* Each sending returns only once its own answer is in the log: one more each time. */
static void a_command_sent_again_returns_after_its_own_answer(void **state)
{
    (void)state;
    struct broker b;
    broker_up(&b, "ctl-again");
    for (int i = 1; i <= 3; i++) {
        vg_ap_broker_control(b.dir, "rtt 1 0");
        assert_int_equal(vg_tp_count(b.log, "control: rtt 1 0: ok\n"), i);
    }
    broker_down(&b);
}

/* A command the broker took once and refuses the second time (the topic exists by then) is
 * reported refused, with the broker's answer, rather than taken as applied. */
static void a_command_refused_the_second_time_is_reported_refused(void **state)
{
    (void)state;
    struct broker b;
    char answer[300];
    broker_up(&b, "ctl-refused");
    assert_int_equal(
        vg_ap_broker_control_rc(b.dir, "create vigil.ctltest 1", answer, sizeof(answer)), 0);
    assert_string_equal(answer, "ok");
    assert_int_equal(
        vg_ap_broker_control_rc(b.dir, "create vigil.ctltest 1", answer, sizeof(answer)), -EIO);
    assert_string_equal(answer, "Broker: Topic already exists");
    /* An error answered the first time is returned at once, not after the wait for "ok". */
    int64_t t0 = vg_tp_mono_ms();
    assert_int_equal(vg_ap_broker_control_rc(b.dir, "down 9", answer, sizeof(answer)), -EIO);
    assert_string_equal(answer, "Broker: Broker not available");
    assert_true(vg_tp_mono_ms() - t0 < 9000);
    assert_int_equal(vg_ap_broker_control_rc(b.dir, "no such command", answer, sizeof(answer)),
                     -EIO);
    assert_string_equal(answer, "unknown command");
    broker_down(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_command_sent_again_returns_after_its_own_answer),
        cmocka_unit_test(a_command_refused_the_second_time_is_reported_refused),
    };
    return vg_tp_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
