/* Logging: one line per event, logfmt on stderr (journald keeps it), or JSON.
 *
 * A line reads:  ts=2026-11-23T13:00:00.123Z level=info comp=agent msg="..." key=value ...
 * The caller passes the key=value tail as a printf format; values that may hold spaces or quotes
 * go through vg_log_quote() first so that every line stays machine-parseable.
 */
#ifndef VG_LOG_H
#define VG_LOG_H

#include <stdint.h>

#include <stddef.h>

enum vg_log_level { VG_LOG_DEBUG = 0, VG_LOG_INFO, VG_LOG_WARN, VG_LOG_ERROR };

/* The levels vg_log_level_parse accepts, in order, as the choices of the daemons' log.level
 * (struct vg_cfg_key); test_config_tables holds the two together. */
#define VG_LOG_LEVEL_CHOICES "debug|info|warn|error"

/* Sets the component name (copied), the lowest level printed and the format (json != 0 for JSON).
 */
void vg_log_init(const char *component, enum vg_log_level min_level, int json);

/* At most burst lines per message text in any window_ms (default 20 per 10 s); the rest are
 * counted. The count is reported once: by the next line of that text in a later window
 * (repeats_suppressed=N), or else by vg_log_flush_suppressed. burst 0: no limit. */
void vg_log_set_rate_limit(int burst, int64_t window_ms);

/* Writes, for each message text with lines held back by the rate limit and not yet reported, one
 * line msg="log lines suppressed" text="<msg>" count=N at the level of those lines. The daemons
 * call it with each stats line and at exit, so a flood that stops is still accounted for. */
void vg_log_flush_suppressed(void);

/* The clock the rate limit reads (monotonic ms); NULL restores CLOCK_MONOTONIC. For tests, so
 * that a window can pass without sleeping. */
void vg_log_set_clock(int64_t (*now_ms)(void));

/* Parses "debug", "info", "warn" or "error"; returns 0 or -EINVAL. */
int vg_log_level_parse(const char *s, enum vg_log_level *out);

/* Emits one line; kv_fmt may be NULL. Thread-safe: each line is written with one write(2). */
void vg_log(enum vg_log_level level, const char *msg, const char *kv_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like vg_log, but never held back by the rate limit. Only for call sites that keep a budget of
 * their own and count what they leave out (the analyzer's bad messages and bad_suppressed): the
 * generic limit would hold back lines their count takes as logged. */
void vg_log_unlimited(enum vg_log_level level, const char *msg, const char *kv_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like vg_log, but the rate limit counts the line under key (e.g. "librdkafka OFFSET") instead
 * of msg, so that a rare kind of line is not held back by a flood of another kind with the same
 * msg. The lines of all keys of one msg are bounded too, at 5 bursts per window, not counting
 * the first 2 lines of each key in its window (always written, so that a storm of several keys
 * does not hold back a rare one's). The held-back count is reported under the key
 * (text="<key>"), or under msg for the total. */
void vg_log_keyed(enum vg_log_level level, const char *key, const char *msg, const char *kv_fmt,
                  ...) __attribute__((format(printf, 4, 5)));

/* Writes s into buf as a quoted logfmt value ("a \"b\"") and returns buf; truncates to fit. */
const char *vg_log_quote(char *buf, size_t n, const char *s);

#define vg_debug(msg, ...) vg_log(VG_LOG_DEBUG, msg, __VA_ARGS__)
#define vg_info(msg, ...)  vg_log(VG_LOG_INFO, msg, __VA_ARGS__)
#define vg_warn(msg, ...)  vg_log(VG_LOG_WARN, msg, __VA_ARGS__)
#define vg_error(msg, ...) vg_log(VG_LOG_ERROR, msg, __VA_ARGS__)

#endif
