/* vg_notify speaks systemd's notification protocol by hand: these tests are the service manager,
 * a datagram socket at $NOTIFY_SOCKET reading what the daemon sends. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "vg_notify.h"

/* Binds a datagram socket at path ("@name": abstract) and points NOTIFY_SOCKET at it. */
static int manager_socket(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    else
        unlink(path);
    assert_int_equal(
        bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)),
        0);
    setenv("NOTIFY_SOCKET", path, 1);
    return fd;
}

/* The next datagram, or "" when none is waiting (sends are synchronous on a local socket). */
static const char *next_datagram(int fd, char *buf, size_t n)
{
    ssize_t r = recv(fd, buf, n - 1, MSG_DONTWAIT);
    buf[r > 0 ? r : 0] = '\0';
    return buf;
}

static void ready_and_status_reach_a_path_socket(void **state)
{
    (void)state;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/tmp/vigil-test-notify.%d", (int)getpid());
    int fd = manager_socket(path);
    vg_notify_ready("collecting");
    assert_string_equal(next_datagram(fd, buf, sizeof buf), "READY=1\nSTATUS=collecting");
    vg_notify_status("%d ticks", 42);
    assert_string_equal(next_datagram(fd, buf, sizeof buf), "STATUS=42 ticks");
    vg_notify_extend(30000, "reading the spool: 3 of 40 segments");
    assert_string_equal(next_datagram(fd, buf, sizeof buf),
                        "EXTEND_TIMEOUT_USEC=30000000\nSTATUS=reading the spool: 3 of 40 segments");
    vg_notify_stopping();
    assert_string_equal(next_datagram(fd, buf, sizeof buf), "STOPPING=1");
    close(fd);
    unlink(path);
}

static void abstract_socket_names_start_with_at(void **state)
{
    (void)state;
    char path[64], buf[512];
    snprintf(path, sizeof path, "@vigil-test-notify.%d", (int)getpid());
    int fd = manager_socket(path);
    vg_notify_ready("up");
    assert_string_equal(next_datagram(fd, buf, sizeof buf), "READY=1\nSTATUS=up");
    close(fd);
}

static void without_notify_socket_nothing_is_sent_and_nothing_fails(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(vg_notify_send("READY=1"), 0);
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    assert_int_equal(vg_notify_send("READY=1"), -EINVAL);
    unsetenv("NOTIFY_SOCKET");
}

static void watchdog_is_petted_at_half_its_interval_only_for_its_pid(void **state)
{
    (void)state;
    char path[64], buf[512], pid[32];
    snprintf(path, sizeof path, "@vigil-test-notify-wd.%d", (int)getpid());
    int fd = manager_socket(path);

    /* Meant for another process (a child that inherited the environment): no watchdog. */
    snprintf(pid, sizeof pid, "%d", (int)getpid() + 1);
    setenv("WATCHDOG_PID", pid, 1);
    setenv("WATCHDOG_USEC", "10000000", 1);
    vg_notify_init();
    assert_true(vg_notify_watchdog_due() == INT64_MAX);
    vg_notify_watchdog(1000);
    assert_string_equal(next_datagram(fd, buf, sizeof buf), "");

    snprintf(pid, sizeof pid, "%d", (int)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    vg_notify_init();
    vg_notify_watchdog(1000);
    assert_string_equal(next_datagram(fd, buf, sizeof buf), "WATCHDOG=1");
    assert_true(vg_notify_watchdog_due() == 1000 + 5000); /* half of 10 s */
    vg_notify_watchdog(5999);
    assert_string_equal(next_datagram(fd, buf, sizeof buf), "");
    vg_notify_watchdog(6000);
    assert_string_equal(next_datagram(fd, buf, sizeof buf), "WATCHDOG=1");
    close(fd);
    unsetenv("NOTIFY_SOCKET");
}

/* Before a wait on the broker the loop pets the watchdog if it would fall due meanwhile: the
 * wait then does not stretch the gap past the interval. */
static void watchdog_is_petted_ahead_of_a_wait_it_would_fall_due_in(void **state)
{
    (void)state;
    char path[64], buf[512], pid[32];
    snprintf(path, sizeof path, "@vigil-test-notify-ahead.%d", (int)getpid());
    int fd = manager_socket(path);
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    setenv("WATCHDOG_USEC", "10000000", 1);
    vg_notify_init();
    vg_notify_watchdog(100000);
    assert_string_equal(next_datagram(fd, buf, sizeof buf), "WATCHDOG=1");
    vg_notify_watchdog_ahead(101000, 3000); /* due at 105000, after the wait: not yet */
    assert_string_equal(next_datagram(fd, buf, sizeof buf), "");
    vg_notify_watchdog_ahead(103000, 3000); /* due during the wait: now */
    assert_string_equal(next_datagram(fd, buf, sizeof buf), "WATCHDOG=1");
    assert_true(vg_notify_watchdog_due() == 103000 + 5000);
    close(fd);
    unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ready_and_status_reach_a_path_socket),
        cmocka_unit_test(abstract_socket_names_start_with_at),
        cmocka_unit_test(without_notify_socket_nothing_is_sent_and_nothing_fails),
        cmocka_unit_test(watchdog_is_petted_at_half_its_interval_only_for_its_pid),
        cmocka_unit_test(watchdog_is_petted_ahead_of_a_wait_it_would_fall_due_in),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
