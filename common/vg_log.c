#include "vg_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vg_secret.h"

static char g_comp[32] = "vigil";
static enum vg_log_level g_min = VG_LOG_INFO;
static int g_json;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* Repeats of one message (by its msg text) beyond burst lines per window are counted instead of
 * written; the next line of that message that gets through says how many were held back. A
 * failing disk or a flood of bad input then costs a few lines, not the journal. */
#define RL_SLOTS 64
static struct {
    uint64_t hash;
    int64_t window_start;
    int count;
    uint64_t suppressed;
} g_rl[RL_SLOTS];
static int g_rl_burst = 20;
static int64_t g_rl_window_ms = 10000;
static pthread_mutex_t g_rl_lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
static int64_t (*g_rl_clock)(void) = mono_ms;

void vg_log_set_clock(int64_t (*now_ms)(void))
{
    pthread_mutex_lock(&g_rl_lock);
    g_rl_clock = now_ms ? now_ms : mono_ms;
    pthread_mutex_unlock(&g_rl_lock);
}

void vg_log_set_rate_limit(int burst, int64_t window_ms)
{
    pthread_mutex_lock(&g_rl_lock);
    g_rl_burst = burst;
    g_rl_window_ms = window_ms;
    memset(g_rl, 0, sizeof(g_rl));
    pthread_mutex_unlock(&g_rl_lock);
}

/* 1 when the line may be written; *held is then the count held back since the last one. */
static int rate_ok(const char *msg, uint64_t *held)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    int ok = 1;
    *held = 0;
    pthread_mutex_lock(&g_rl_lock);
    int64_t now = g_rl_clock();
    if (g_rl_burst > 0) {
        unsigned i = (unsigned)(h % RL_SLOTS);
        if (g_rl[i].hash != h || now - g_rl[i].window_start >= g_rl_window_ms) {
            /* A new window (or another message taking the slot: it starts its own). */
            *held = g_rl[i].hash == h ? g_rl[i].suppressed : 0;
            g_rl[i].hash = h;
            g_rl[i].window_start = now;
            g_rl[i].count = 0;
            g_rl[i].suppressed = 0;
        }
        if (++g_rl[i].count > g_rl_burst) {
            g_rl[i].suppressed++;
            ok = 0;
        }
    }
    pthread_mutex_unlock(&g_rl_lock);
    return ok;
}

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
    uint64_t held;
    if (!rate_ok(msg, &held))
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
        /* The last line of defence: a secret that reached a message (librdkafka's own lines,
         * a receiver echoing a key) is masked before it is written. */
        vg_secret_scrub(kv);
    }
    if (held) {
        size_t kl = strlen(kv);
        snprintf(kv + kl, sizeof(kv) - kl, "%srepeats_suppressed=%llu", kl ? " " : "",
                 (unsigned long long)held);
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
