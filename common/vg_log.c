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
 * written. A failing disk or a flood of bad input then costs a few lines, not the journal. The
 * count is written exactly once, so the log always says how many lines it is missing: by the next
 * line of that message in a later window, by vg_log_flush_suppressed, or, when another message
 * takes the slot, by a report written before that message's line. */
#define RL_SLOTS 64
#define RL_TEXT  96
#define RL_PROBE 4
struct rl_slot {
    uint64_t hash;
    int64_t window_start;
    uint64_t last_used; /* g_rl_uses at its last line: the least recent one is taken */
    int count;
    uint64_t suppressed;
    enum vg_log_level level; /* the highest of the lines held back */
    char text[RL_TEXT];      /* for the report: the caller's msg may be gone by then */
};
static struct rl_slot g_rl[RL_SLOTS];
static uint64_t g_rl_uses;
static int g_rl_burst = 20;
static int64_t g_rl_window_ms = 10000;
static pthread_mutex_t g_rl_lock = PTHREAD_MUTEX_INITIALIZER;

/* Held-back lines not yet reported, taken out of a slot. */
struct rl_report {
    char text[RL_TEXT];
    uint64_t count;
    enum vg_log_level level;
};

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

/* Called with g_rl_lock held: moves slot's unreported count into r (count 0: nothing). */
static void take_report(struct rl_slot *slot, struct rl_report *r)
{
    r->count = slot->suppressed;
    r->level = slot->level;
    memcpy(r->text, slot->text, sizeof(r->text));
    slot->suppressed = 0;
}

/* 1 when the line may be written; *held is then the count of this message held back since the
 * last one, and *nth (when not NULL) its number in the window, from 1. *evicted gets the
 * unreported count of another message whose slot this one takes. */
static int rate_ok(enum vg_log_level level, const char *msg, int burst, uint64_t *held, int *nth,
                   struct rl_report *evicted)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    int ok = 1;
    *held = 0;
    if (nth)
        *nth = 1;
    evicted->count = 0;
    pthread_mutex_lock(&g_rl_lock);
    int64_t now = g_rl_clock();
    if (burst > 0) {
        /* A text looks in RL_PROBE slots from its hash's and, if it has none, takes the least
         * recently used: two texts on one slot would take it from each other at every line, and
         * neither would ever be held back. */
        struct rl_slot *sl = NULL, *victim = NULL;
        for (size_t i = 0; i < RL_PROBE && !sl; i++) {
            struct rl_slot *c = &g_rl[(h + i) % RL_SLOTS];
            if (c->hash == h)
                sl = c;
            else if (!victim || (victim->hash && (!c->hash || c->last_used < victim->last_used)))
                victim = c;
        }
        if (!sl) {
            sl = victim;
            take_report(sl, evicted);
            sl->hash = h;
            sl->window_start = now;
            sl->count = 0;
            snprintf(sl->text, sizeof(sl->text), "%s", msg);
        } else if (now - sl->window_start >= g_rl_window_ms) {
            *held = sl->suppressed;
            sl->suppressed = 0;
            sl->window_start = now;
            sl->count = 0;
        }
        sl->last_used = ++g_rl_uses;
        if (nth)
            *nth = sl->count + 1;
        if (++sl->count > burst) {
            if (sl->suppressed++ == 0 || level > sl->level)
                sl->level = level;
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
static void write_line(enum vg_log_level level, const char *msg, const char *kv)
{
    char line[2048], ts[40], qmsg[512];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t tl = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tl, sizeof(ts) - tl, ".%03ldZ", now.tv_nsec / 1000000);
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

static void write_report(const struct rl_report *r)
{
    char kv[RL_TEXT * 2 + 48], qtext[RL_TEXT * 2 + 3];
    snprintf(kv, sizeof(kv), "text=%s count=%llu", vg_log_quote(qtext, sizeof(qtext), r->text),
             (unsigned long long)r->count);
    write_line(r->level, "log lines suppressed", kv);
}

/* key NULL: no rate limit. key == msg: the plain limit. Otherwise the line is counted under key,
 * and the lines it lets through are counted again under msg with a budget of
 * RL_KEYED_TOTAL_FACTOR bursts, so that many keys of one message still make a bounded flood.
 * The first RL_KEYED_FIRST lines of a key in its window skip the total: a storm of several keys
 * would use the total up and hold back the rare line of another (librdkafka's OFFSET while FAIL,
 * ERROR, REQTMOUT... storm), which is the line the key was for. The flood stays bounded, by the
 * total plus RL_KEYED_FIRST lines of each key. */
#define RL_KEYED_TOTAL_FACTOR 5
#define RL_KEYED_FIRST        2

static void log_v(const char *key, enum vg_log_level level, const char *msg, const char *kv_fmt,
                  va_list ap)
{
    if (level < g_min)
        return;
    uint64_t held = 0;
    struct rl_report evicted = {.count = 0};
    int ok = 1;
    if (key) {
        pthread_mutex_lock(&g_rl_lock);
        int burst = g_rl_burst;
        pthread_mutex_unlock(&g_rl_lock);
        int nth;
        ok = rate_ok(level, key, burst, &held, &nth, &evicted);
        if (evicted.count)
            write_report(&evicted);
        if (ok && key != msg && nth > RL_KEYED_FIRST) {
            /* The total's held-back lines are the message's, not this key's: they get a report
             * line of their own rather than this line's repeats_suppressed. */
            struct rl_report total = {.level = level};
            ok = rate_ok(level, msg, burst * RL_KEYED_TOTAL_FACTOR, &total.count, NULL, &evicted);
            if (evicted.count)
                write_report(&evicted);
            if (total.count) {
                snprintf(total.text, sizeof(total.text), "%s", msg);
                write_report(&total);
            }
        }
    }
    if (!ok)
        return;
    char kv[1600] = "";
    if (kv_fmt) {
        vsnprintf(kv, sizeof(kv), kv_fmt, ap);
        /* The last line of defence: a secret that reached a message (librdkafka's own lines,
         * a receiver echoing a key) is masked before it is written. */
        vg_secret_scrub(kv);
    }
    if (held) {
        size_t kl = strlen(kv);
        snprintf(kv + kl, sizeof(kv) - kl, "%srepeats_suppressed=%llu", kl ? " " : "",
                 (unsigned long long)held);
    }
    write_line(level, msg, kv);
}

void vg_log(enum vg_log_level level, const char *msg, const char *kv_fmt, ...)
{
    va_list ap;
    va_start(ap, kv_fmt);
    log_v(msg, level, msg, kv_fmt, ap);
    va_end(ap);
}

void vg_log_unlimited(enum vg_log_level level, const char *msg, const char *kv_fmt, ...)
{
    va_list ap;
    va_start(ap, kv_fmt);
    log_v(NULL, level, msg, kv_fmt, ap);
    va_end(ap);
}

void vg_log_keyed(enum vg_log_level level, const char *key, const char *msg, const char *kv_fmt,
                  ...)
{
    va_list ap;
    va_start(ap, kv_fmt);
    log_v(key, level, msg, kv_fmt, ap);
    va_end(ap);
}

void vg_log_flush_suppressed(void)
{
    struct rl_report r[RL_SLOTS];
    size_t n = 0;
    pthread_mutex_lock(&g_rl_lock);
    for (size_t i = 0; i < RL_SLOTS; i++)
        if (g_rl[i].suppressed)
            take_report(&g_rl[i], &r[n++]);
    pthread_mutex_unlock(&g_rl_lock);
    for (size_t i = 0; i < n; i++)
        write_report(&r[i]);
}
