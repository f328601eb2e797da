#include "vg_notify.h"

#include <stdarg.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

static int64_t g_interval_ms; /* 0: no watchdog */
static int64_t g_next_ms;

void vg_notify_init(void)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
        g_interval_ms = (int64_t)(usec / 1000) / 2;
}

void vg_notify_ready(const char *status)
{
    sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void vg_notify_status(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    sd_notifyf(0, "STATUS=%s", buf);
}

void vg_notify_watchdog(int64_t now_mono_ms)
{
    /* The watchdog proves the main loop turns, so only the loop itself may pet it. */
    if (!g_interval_ms || now_mono_ms < g_next_ms)
        return;
    sd_notify(0, "WATCHDOG=1");
    g_next_ms = now_mono_ms + g_interval_ms;
}

int64_t vg_notify_watchdog_due(void)
{
    return g_interval_ms ? g_next_ms : INT64_MAX;
}

void vg_notify_stopping(void)
{
    sd_notify(0, "STOPPING=1");
}
