#include "vg_secret.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vg_log.h"
#include "vg_util.h"

#define MAX_REGISTERED 64
#define MIN_SCRUB_LEN  4

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static char *registered[MAX_REGISTERED];
static size_t n_registered;

/* The group the daemon runs as, when it is not this process's egid yet (vg_secret_set_group). */
static gid_t daemon_gid;
static int daemon_gid_set;

void vg_secret_set_group(gid_t gid)
{
    daemon_gid = gid;
    daemon_gid_set = 1;
}

/* A group's name for a log line, or its number where it has none. */
static const char *group_name(gid_t gid, char *buf, size_t n)
{
    struct group *g = getgrgid(gid);
    if (g && g->gr_name)
        snprintf(buf, n, "%s", g->gr_name);
    else
        snprintf(buf, n, "%u", (unsigned)gid);
    return buf;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* vg_secret_read, and with stream a pipe or a character device too (vg_secret_read_stream). */
static int read_secret(const char *path, const char *what, enum vg_secret_trim trim, int stream,
                       char **out, size_t *len, char *err, size_t errlen)
{
    *out = NULL;
    *len = 0;
    if (!path || !*path)
        return vg_err(err, errlen, -EINVAL, "%s: no file given", what);
    /* O_NONBLOCK where only a regular file will do: opening a named pipe with no writer would
     * otherwise hang a daemon's start or reload rather than refuse it. It changes nothing for a
     * regular file's reads. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | (stream ? 0 : O_NONBLOCK));
    if (fd < 0) {
        int e = errno;
        return vg_err(err, errlen, -e, "%s: cannot open %s: %s", what, path, strerror(e));
    }
    struct stat st;
    int ok = fstat(fd, &st) == 0;
    int reg = ok && S_ISREG(st.st_mode), chr = ok && S_ISCHR(st.st_mode);
    if (!reg && !(stream && ok && (S_ISFIFO(st.st_mode) || chr))) {
        close(fd);
        return vg_err(err, errlen, -EINVAL, "%s: %s is not a regular file%s", what, path,
                      stream ? ", a pipe or a character device" : "");
    }
    if (reg && st.st_size > VG_SECRET_MAX) {
        close(fd);
        return vg_err(err, errlen, -EINVAL,
                      "%s: %s is %lld bytes; a secret file holds one line of at most %d", what,
                      path, (long long)st.st_size, VG_SECRET_MAX);
    }
    char *buf = malloc(VG_SECRET_MAX + 1);
    if (!buf) {
        close(fd);
        return vg_err(err, errlen, -ENOMEM, "%s: out of memory", what);
    }
    /* One byte more than a secret may hold: a pipe has no size to check beforehand, and a file
     * that grew since fstat is refused as well, never cut short. */
    size_t n = 0;
    while (n < VG_SECRET_MAX + 1) {
        ssize_t r = read(fd, buf + n, VG_SECRET_MAX + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            vg_secret_free(buf, VG_SECRET_MAX + 1);
            return vg_err(err, errlen, -e, "%s: cannot read %s: %s", what, path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (n > VG_SECRET_MAX) {
        vg_secret_free(buf, VG_SECRET_MAX + 1);
        return vg_err(err, errlen, -EINVAL,
                      "%s: %s holds more than %d bytes; a secret file holds one line of at most %d",
                      what, path, VG_SECRET_MAX, VG_SECRET_MAX);
    }
    /* Editors add a trailing newline; "echo key > file" too. */
    size_t b = 0;
    if (trim == VG_SECRET_TRIM_SPACE) {
        while (b < n && is_space(buf[b]))
            b++;
        while (n > b && is_space(buf[n - 1]))
            n--;
    } else if (n > 0 && buf[n - 1] == '\n') {
        n--;
        if (n > 0 && buf[n - 1] == '\r')
            n--;
    }
    if (n == b) {
        vg_secret_free(buf, VG_SECRET_MAX + 1);
        return vg_err(err, errlen, -EINVAL, "%s: %s is empty", what, path);
    }
    if (memchr(buf + b, '\n', n - b) || memchr(buf + b, '\0', n - b)) {
        vg_secret_free(buf, VG_SECRET_MAX + 1);
        return vg_err(err, errlen, -EINVAL, "%s: %s must hold a single line", what, path);
    }
    memmove(buf, buf + b, n - b);
    n -= b;
    explicit_bzero(buf + n, VG_SECRET_MAX + 1 - n);
    buf[n] = '\0';
    /* Group read is how the packages let the service user read a root-owned file (root:vigil
     * 0640, docs/install.md), so it is no warning when the group is the daemon's own; "chmod 600"
     * would lock the service out. Any other group (root:adm, root:users) reads a secret the
     * daemon does not need it to. */
    gid_t own = daemon_gid_set ? daemon_gid : getegid();
    char q[512], g[64], og[64];
    /* A terminal's mode (group tty may write to it) says nothing of who reads what is typed. */
    mode_t mode = chr ? 0 : st.st_mode;
    if (mode & (S_IRWXO | S_IWGRP))
        vg_warn("secret file is accessible to others or writable by its group; chmod o-rwx,g-w "
                "it (0640 root:vigil, or 0600 owned by the user the daemon runs as)",
                "what=%s file=%s mode=%04o", what, vg_log_quote(q, sizeof(q), path),
                (unsigned)(st.st_mode & 07777));
    else if ((mode & S_IRGRP) && st.st_gid != own)
        vg_warn("secret file is readable by a group other than the daemon's; chown "
                "root:<daemon_group> and chmod 0640 it (root:vigil for the packaged units), or "
                "chmod g-r",
                "what=%s file=%s mode=%04o group=%s daemon_group=%s", what,
                vg_log_quote(q, sizeof(q), path), (unsigned)(st.st_mode & 07777),
                group_name(st.st_gid, g, sizeof g), group_name(own, og, sizeof og));
    *out = buf;
    *len = n;
    return 0;
}

int vg_secret_read(const char *path, const char *what, enum vg_secret_trim trim, char **out,
                   size_t *len, char *err, size_t errlen)
{
    return read_secret(path, what, trim, 0, out, len, err, errlen);
}

int vg_secret_read_stream(const char *path, const char *what, enum vg_secret_trim trim, char **out,
                          size_t *len, char *err, size_t errlen)
{
    return read_secret(path, what, trim, 1, out, len, err, errlen);
}

void vg_secret_free(char *s, size_t len)
{
    if (!s)
        return;
    explicit_bzero(s, len);
    free(s);
}

int vg_secret_register(const char *value)
{
    if (!value || strlen(value) < MIN_SCRUB_LEN)
        return 0;
    int rc = 0;
    pthread_mutex_lock(&reg_mu);
    size_t i = 0;
    while (i < n_registered && strcmp(registered[i], value) != 0)
        i++;
    if (i == n_registered) {
        if (n_registered == MAX_REGISTERED)
            rc = -ENOSPC;
        else if (!(registered[n_registered] = strdup(value)))
            rc = -ENOMEM;
        else
            n_registered++;
    }
    pthread_mutex_unlock(&reg_mu);
    return rc;
}

size_t vg_secret_mark(void)
{
    pthread_mutex_lock(&reg_mu);
    size_t n = n_registered;
    pthread_mutex_unlock(&reg_mu);
    return n;
}

void vg_secret_forget_since(size_t mark)
{
    pthread_mutex_lock(&reg_mu);
    while (n_registered > mark) {
        char *v = registered[--n_registered];
        registered[n_registered] = NULL;
        vg_secret_free(v, strlen(v));
    }
    pthread_mutex_unlock(&reg_mu);
}

int vg_secret_scrub(char *buf)
{
    static const char mask[] = "***";
    int hits = 0;
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < n_registered; i++) {
        size_t sl = strlen(registered[i]);
        char *p = buf;
        while ((p = strstr(p, registered[i])) != NULL) {
            /* The mask is shorter than any registered value, so this only ever shrinks. */
            memcpy(p, mask, sizeof(mask) - 1);
            memmove(p + sizeof(mask) - 1, p + sl, strlen(p + sl) + 1);
            p += sizeof(mask) - 1;
            hits++;
        }
    }
    pthread_mutex_unlock(&reg_mu);
    return hits;
}
