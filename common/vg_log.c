#include "vg_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char g_comp[32] = "vigil";
static enum vg_log_level g_min = VG_LOG_INFO;
static int g_json;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void vg_log_init(const char *component, enum vg_log_level min_level, int json)
{
    snprintf(g_comp, sizeof(g_comp), "%s", component);
    g_min = min_level;
    g_json = json;
}

int vg_log_level_parse(const char *s, enum vg_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum vg_log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *vg_log_quote(char *buf, size_t n, const char *s)
{
    size_t o = 0;
    if (n < 3) {
        if (n)
            buf[0] = '\0';
        return buf;
    }
    buf[o++] = '"';
    for (; s && *s && o + 3 < n; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else if (c < 0x20) {
            buf[o++] = '?';
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* In JSON mode the logfmt tail is kept as one string field: parsing it back into typed fields
 * would need a second grammar, and log shippers handle logfmt-in-JSON well enough. */
void vg_log(enum vg_log_level level, const char *msg, const char *kv_fmt, ...)
{
    if (level < g_min)
        return;
    char line[2048], ts[40], kv[1600] = "", qmsg[512];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t tl = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tl, sizeof(ts) - tl, ".%03ldZ", now.tv_nsec / 1000000);
    if (kv_fmt) {
        va_list ap;
        va_start(ap, kv_fmt);
        vsnprintf(kv, sizeof(kv), kv_fmt, ap);
        va_end(ap);
    }
    int len;
    vg_log_quote(qmsg, sizeof(qmsg), msg);
    if (g_json) {
        char qkv[1700];
        vg_log_quote(qkv, sizeof(qkv), kv);
        len = snprintf(line, sizeof(line),
                       "{\"ts\":\"%s\",\"level\":\"%s\",\"comp\":\"%s\",\"msg\":%s,\"kv\":%s}\n",
                       ts, level_names[level], g_comp, qmsg, qkv);
    } else {
        len = snprintf(line, sizeof(line), "ts=%s level=%s comp=%s msg=%s%s%s\n", ts,
                       level_names[level], g_comp, qmsg, kv[0] ? " " : "", kv);
    }
    if (len < 0)
        return;
    if ((size_t)len >= sizeof(line)) {
        len = (int)sizeof(line) - 1;
        line[len - 1] = '\n';
    }
    ssize_t w = write(STDERR_FILENO, line, (size_t)len);
    (void)w;
}
