#include "vg_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

int64_t vg_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t vg_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int vg_err(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

void vg_sleep_ms(int64_t ms, volatile int *stop)
{
    int64_t end = vg_mono_ms() + ms;
    for (;;) {
        if (stop && *stop)
            return;
        int64_t left = end - vg_mono_ms();
        if (left <= 0)
            return;
        /* Short slices so a stop flag set by a signal handler is seen promptly. */
        if (left > 100)
            left = 100;
        struct timespec ts = {.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
}

size_t vg_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    size_t prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof(size_t));
    }
    return prev[lb];
}

int vg_parse_frac_ms(const char **p, int64_t *ms)
{
    const char *q = *p;
    if (*q != '.')
        return 0;
    int64_t v = 0;
    int digits = 0;
    for (q++; *q >= '0' && *q <= '9'; q++, digits++)
        if (digits < 3)
            v = v * 10 + (*q - '0');
    if (!digits)
        return -EINVAL;
    for (; digits < 3; digits++)
        v *= 10;
    *ms = v;
    *p = q;
    return 0;
}

/* n decimal digits at *p into *v, *p moved past them; -EINVAL unless all n are digits. */
static int fixed_digits(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -EINVAL;
        *v = *v * 10 + (**p - '0');
    }
    return 0;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int vg_parse_rfc3339_ms(const char *s, int flags, int64_t *ms)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = s;
    int y, mo, d, h, mi, sec;
    if (fixed_digits(&p, 4, &y) || *p++ != '-' || fixed_digits(&p, 2, &mo) || *p++ != '-' ||
        fixed_digits(&p, 2, &d))
        return -EINVAL;
    if (!(*p == 'T' || *p == 't' || ((flags & VG_RFC3339_LENIENT) && *p == ' ')))
        return -EINVAL;
    p++;
    if (fixed_digits(&p, 2, &h) || *p++ != ':' || fixed_digits(&p, 2, &mi) || *p++ != ':' ||
        fixed_digits(&p, 2, &sec))
        return -EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && is_leap(y)) || h > 23 ||
        mi > 59 || sec > 60)
        return -EINVAL;
    int64_t frac = 0;
    if (vg_parse_frac_ms(&p, &frac) < 0)
        return -EINVAL;
    int64_t off_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '+' ? 1 : -1, oh, om;
        if (fixed_digits(&p, 2, &oh) || *p++ != ':' || fixed_digits(&p, 2, &om) || oh > 23 ||
            om > 59)
            return -EINVAL;
        off_s = sign * (oh * 3600 + om * 60);
    } else if (!(flags & VG_RFC3339_LENIENT)) {
        return -EINVAL; /* RFC 3339 requires the offset: local time is not a time */
    }
    if (*p)
        return -EINVAL;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    *ms = ((int64_t)timegm(&tm) - off_s) * 1000 + frac;
    return 0;
}

int vg_fsync_dir_of(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

int vg_url_redact(const char *url, int hide_path, char *out, size_t n)
{
    if (n)
        *out = '\0';
    const char *sep = url ? strstr(url, "://") : NULL;
    if (!sep || sep == url)
        return -EINVAL;
    for (const char *p = url; p < sep; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '+' || *p == '-' || *p == '.'))
            return -EINVAL;
    const char *auth = sep + 3;
    size_t alen = strcspn(auth, "/?#");
    /* The host is what follows the last '@' of the authority, as URL parsers (libcurl's
     * included) read it: "https://a.example@b.example/" goes to b.example. */
    const char *host = auth;
    for (const char *p = auth; p < auth + alen; p++)
        if (*p == '@')
            host = p + 1;
    size_t hlen = (size_t)(auth + alen - host);
    if (hlen == 0)
        return -EINVAL;
    const char *path = auth + alen;
    size_t plen = strcspn(path, "?#");
    int query = path[plen] == '?';
    int w;
    if (hide_path)
        w = snprintf(out, n, "%.*s://%.*s/...", (int)(sep - url), url, (int)hlen, host);
    else
        w = snprintf(out, n, "%.*s://%.*s%.*s%s", (int)(sep - url), url, (int)hlen, host, (int)plen,
                     path, query ? "?..." : "");
    return w < 0 || (size_t)w >= n ? -ENOSPC : 0;
}

int vg_dir_lock(const char *dir, int *fd, char *err, size_t errlen)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s/.lock", dir) >= sizeof(path))
        return vg_err(err, errlen, -ENAMETOOLONG, "%s: path too long", dir);
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (f < 0) {
        int e = errno;
        return vg_err(err, errlen, -e, "cannot open %s: %s", path, strerror(e));
    }
    if (flock(f, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        if (e != EWOULDBLOCK) {
            close(f);
            return vg_err(err, errlen, -e, "cannot lock %s: %s", path, strerror(e));
        }
        char b[32] = "";
        ssize_t n = pread(f, b, sizeof(b) - 1, 0);
        close(f);
        char *end;
        long pid = n > 0 ? strtol(b, &end, 10) : 0;
        if (pid > 0 && (*end == '\n' || *end == '\0'))
            return vg_err(err, errlen, -EBUSY, "%s is in use by another process (pid %ld holds %s)",
                          dir, pid, path);
        return vg_err(err, errlen, -EBUSY, "%s is in use by another process (it holds %s)", dir,
                      path);
    }
    char b[32];
    int n = snprintf(b, sizeof(b), "%ld\n", (long)getpid());
    /* Only names the holder in the message above: the lock works without it. */
    int named = ftruncate(f, 0) == 0 && pwrite(f, b, (size_t)n, 0) == n;
    (void)named;
    *fd = f;
    return 0;
}

int vg_set_dumpable(int on)
{
    return prctl(PR_SET_DUMPABLE, on ? 1L : 0L, 0L, 0L, 0L) == 0 ? 0 : -errno;
}
