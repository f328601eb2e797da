/* Small helpers every module uses: clocks, error buffers. */
#ifndef VG_UTIL_H
#define VG_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Size of the error buffers that functions fill for user-facing messages. */
#define VG_ERRLEN 256

#define VG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Event-time waits (a rule's `for` and `keep_firing_for`, the built-in alert's `alert.for` and
 * `alert.resolve_for`) count only time in which their series was observed: a high score before a
 * reboot and one after it are two observations, not ten minutes of anomaly. Whether the step from
 * the previous observation at last_ms to ts_ms is longer than limit_ms, after which a running
 * wait restarts at ts_ms. limit_ms 0: no limit; last_ms 0: no previous observation known (the
 * first, or the first after a restore that did not keep it). */
static inline int vg_event_gap(int64_t last_ms, int64_t ts_ms, int64_t limit_ms)
{
    return limit_ms > 0 && last_ms > 0 && ts_ms - last_ms > limit_ms;
}

/* When an alert that fired at fired_ms resolves on a message stamped ts_ms: never before it
 * fired, so that a fire stamped ahead (a host clock stepped back since) does not reach the
 * receivers with its end before its start. */
static inline int64_t vg_event_resolved_at(int64_t fired_ms, int64_t ts_ms)
{
    return ts_ms < fired_ms ? fired_ms : ts_ms;
}

/* Wall-clock milliseconds since the Unix epoch (timestamps that leave the process). */
int64_t vg_now_ms(void);

/* Monotonic milliseconds (intervals, timeouts, backoff). */
int64_t vg_mono_ms(void);

/* snprintf into an error buffer; tolerates err == NULL. Returns rc so callers can
 * `return vg_err(err, n, -EINVAL, "...")`. */
int vg_err(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Sleeps for ms milliseconds, resuming after signals unless *stop becomes non-zero. */
void vg_sleep_ms(int64_t ms, volatile int *stop);

/* Levenshtein distance, for "did you mean" suggestions; strings over 64 bytes count as 99. */
size_t vg_edit_distance(const char *a, const char *b);

/* The fraction of a second at *p in a time ("." then digits; the first three count, as
 * milliseconds) into *ms, *p moved past it; anything but '.' at *p leaves both as they are. 0, or
 * -EINVAL for a '.' without digits. Digits only: strtod would also take ".5e9". */
int vg_parse_frac_ms(const char **p, int64_t *ms);

/* vg_parse_rfc3339_ms: a time without an offset is UTC, and a space may separate the date and
 * the time ("2026-11-23 13:00:05"), as recorded data and spreadsheets write it. */
#define VG_RFC3339_LENIENT 1

/* Parses all of s as an RFC 3339 date-time, "YYYY-MM-DDTHH:MM:SS[.fff](Z|+hh:mm|-hh:mm)" ('T'
 * and 'Z' in either case; a fraction's first three digits count), into Unix ms in UTC: the
 * offset is taken off. Years 0000 to 9999; a second of 60 (leap) reads as the next minute's 0.
 * flags: 0 or VG_RFC3339_LENIENT. The one parser of times as text for the API's silences and
 * vigilctl's recorded input, so both read an offset alike. 0, or -EINVAL. */
int vg_parse_rfc3339_ms(const char *s, int flags, int64_t *ms);

/* fsyncs the directory holding path, so that a rename into it survives a crash: after one, the
 * old file or the new one, not a directory that lost the new name. 0 or -errno. */
int vg_fsync_dir_of(const char *path);

/* Takes dir/.lock with flock(LOCK_EX | LOCK_NB) for as long as *fd stays open, and writes this
 * process's pid into it, so that a second process pointed at the same directory is refused
 * instead of overwriting the first one's files (the model store and the agent's spool use it;
 * an outbox locks <receiver>.lock instead, since receivers share one directory). 0 with *fd set;
 * -EBUSY when another open file holds it, err naming its pid when the file gives one; another
 * -errno (dir missing, not writable) with err. Release with close(*fd). */
int vg_dir_lock(const char *dir, int *fd, char *err, size_t errlen);

/* The form a URL is shown in, in logs and --check-config (docs/alerts.md): scheme://host[:port]
 * and the path, user:password left out, a query replaced by "?..." and a fragment dropped, since
 * receiver URLs often carry tokens there; with hide_path (a URL whose path is the credential, as
 * Slack's is), scheme://host[:port]/... only. Writes it into out (n bytes). 0, -EINVAL for text
 * that is not scheme://host..., or -ENOSPC when it does not fit; out is then not to be shown. */
int vg_url_redact(const char *url, int hide_path, char *out, size_t n);

/* Whether the kernel may dump this process (prctl PR_SET_DUMPABLE). A daemon holds secrets in
 * memory (Kafka passwords, HMAC keys, receiver URLs with tokens): not dumpable, it leaves no core
 * file when it crashes, and processes of its own user can no longer attach to it or read its
 * /proc/PID/mem, environ, fd/, maps or smaps (/proc/PID/ is root's then; root may still attach).
 * The daemons' core_dumps key sets it back, for debugging (docs/security.md). The kernel resets
 * it on exec and when the process changes user. 0 or -errno. */
int vg_set_dumpable(int on);

#endif
