/* The service notification protocol, written here rather than linked from libsystemd: the
 * protocol is one datagram of KEY=VALUE lines to the socket in $NOTIFY_SOCKET, documented as
 * a stable interface in sd_notify(3), which shows standalone implementations, while libsystemd
 * brings libgcrypt, liblzma, libzstd and libcap into the agent: 0.8 MiB of resident memory on
 * every host for five send() calls. */
#include "vg_notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int64_t g_interval_ms; /* 0: no watchdog */
static int64_t g_next_ms;

int vg_notify_send(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    /* "/..." is a file system socket, "@..." one in the abstract namespace (leading NUL). */
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
        return -EINVAL;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
    int rc = n < 0 ? -errno : 0;
    close(fd);
    return rc;
}

void vg_notify_init(void)
{
    /* systemd sets WATCHDOG_USEC for the main process only; WATCHDOG_PID says which one. */
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    if (!usec || (pid && strtol(pid, NULL, 10) != (long)getpid()))
        return;
    long long us = strtoll(usec, NULL, 10);
    if (us > 0)
        g_interval_ms = (int64_t)(us / 1000) / 2;
}

void vg_notify_ready(const char *status)
{
    char buf[320];
    snprintf(buf, sizeof(buf), "READY=1\nSTATUS=%s", status);
    vg_notify_send(buf);
}

void vg_notify_status(const char *fmt, ...)
{
    char buf[300];
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(buf, sizeof(buf), "STATUS=");
    vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
    va_end(ap);
    vg_notify_send(buf);
}

void vg_notify_watchdog(int64_t now_mono_ms)
{
    /* The watchdog proves the main loop turns, so only the loop itself may pet it. */
    if (!g_interval_ms || now_mono_ms < g_next_ms)
        return;
    vg_notify_send("WATCHDOG=1");
    g_next_ms = now_mono_ms + g_interval_ms;
}

void vg_notify_watchdog_ahead(int64_t now_mono_ms, int64_t wait_ms)
{
    if (!g_interval_ms || now_mono_ms + wait_ms < g_next_ms)
        return;
    vg_notify_send("WATCHDOG=1");
    g_next_ms = now_mono_ms + g_interval_ms;
}

int64_t vg_notify_watchdog_due(void)
{
    return g_interval_ms ? g_next_ms : INT64_MAX;
}

int64_t vg_notify_watchdog_timeout_ms(void)
{
    return g_interval_ms * 2;
}

void vg_notify_extend(int64_t ms, const char *status)
{
    char buf[320];
    snprintf(buf, sizeof(buf), "EXTEND_TIMEOUT_USEC=%lld\nSTATUS=%s", (long long)ms * 1000, status);
    vg_notify_send(buf);
}

void vg_notify_stopping(void)
{
    vg_notify_send("STOPPING=1");
}
