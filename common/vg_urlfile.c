#include "vg_urlfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "vg_config.h"
#include "vg_log.h"
#include "vg_runas.h"
#include "vg_secret.h"
#include "vg_util.h"

/* Parameter names whose value is a credential, whatever it looks like (vg_url_has_credential). */
static const char *const cred_names[] = {
    "token",         "access_token", "auth_token", "key",  "api_key", "apikey",    "secret",
    "client_secret", "password",     "passwd",     "pass", "sig",     "signature", "auth"};

static int is_cred_name(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof(cred_names) / sizeof(cred_names[0]); i++)
        if (n == strlen(cred_names[i]) && strncasecmp(s, cred_names[i], n) == 0)
            return 1;
    return 0;
}

/* Whether a path segment or query value of n bytes may be a credential: 8 bytes or more with a
 * digit, an upper-case letter or anything but [a-z._-] in it, or 24 bytes or more of anything.
 * Words such as "vigil", "hooks", "services" or "alertmanager" are not: scrubbing them masked
 * every topic, client id and directory holding them in the daemon's logs. */
static int looks_like_credential(const char *s, size_t n)
{
    if (n >= 24)
        return 1;
    if (n < 8)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
            return 1;
    return 0;
}

static int register_part(const char *s, size_t n)
{
    char *v = strndup(s, n);
    if (!v)
        return -ENOMEM;
    int rc = vg_secret_register(v);
    explicit_bzero(v, n);
    free(v);
    return rc;
}

/* Not the whole URL: a line holding it became url="***", host and all, which hid where
 * deliveries go. Not its whole path either, alone: a URL such as https://host/vigil masked every
 * "vigil" in the logs, and a log quoting the token but not the whole path?query kept it. So:
 * the userinfo; every path segment, query value and the fragment that may be a credential
 * (looks_like_credential), and every value of a credential-named query parameter; and, when one
 * of those is there, the whole path?query#fragment, registered first so that a line quoting it
 * whole loses all of it (vg_secret_scrub replaces in the order registered). */
int vg_urlfile_register(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t auth = strcspn(p, "/?#");
    const char *at = memchr(p, '@', auth);
    int rc = 0;
    if (at)
        rc = register_part(p, (size_t)(at - p));
    const char *rest = p + auth;
    if (*rest == '/')
        rest++; /* scheme://host/ stays: the scrubbed line shows "scheme://host/" and the stars */
    struct {
        const char *s;
        size_t n;
    } parts[64];
    size_t np = 0;
    const char *q = rest, *end = rest + strlen(rest);
    size_t path_len = strcspn(rest, "?#");
    while (q < rest + path_len && np < 64) { /* path segments */
        size_t n = strcspn(q, "/?#");
        if (looks_like_credential(q, n))
            parts[np].s = q, parts[np++].n = n;
        q += n;
        if (*q == '/')
            q++;
    }
    q = rest + path_len;
    if (*q == '?') { /* query values */
        size_t qend = strcspn(q, "#");
        const char *qe = q + qend;
        for (q++; q < qe && np < 64;) {
            size_t len = strcspn(q, "&#"), name = strcspn(q, "=&#");
            if (name < len) {
                const char *v = q + name + 1;
                size_t vn = len - name - 1;
                if (is_cred_name(q, name) || looks_like_credential(v, vn))
                    parts[np].s = v, parts[np++].n = vn;
            }
            q += len;
            if (*q == '&')
                q++;
        }
        q = qe;
    }
    if (*q == '#' && np < 64 && looks_like_credential(q + 1, (size_t)(end - q - 1)))
        parts[np].s = q + 1, parts[np++].n = (size_t)(end - q - 1);
    if (!rc && np)
        rc = vg_secret_register(rest);
    for (size_t i = 0; !rc && i < np; i++)
        rc = register_part(parts[i].s, parts[i].n);
    return rc;
}

int vg_urlfile_read(const char *key, const char *file_key, const char *path, char **url, char *err,
                    size_t errlen)
{
    if (!path || !*path)
        return 0;
    if (*url && **url)
        return vg_err(err, errlen, -EINVAL,
                      "both %s and %s are set; keep one (the file is the safer)", key, file_key);
    char *v;
    size_t len;
    int rc = vg_secret_read(path, file_key, VG_SECRET_TRIM_SPACE, &v, &len, err, errlen);
    if (rc < 0)
        return rc;
    char *copy = strdup(v);
    rc = copy ? vg_urlfile_register(v) : -ENOMEM;
    vg_secret_free(v, len);
    if (rc < 0) {
        if (copy)
            explicit_bzero(copy, strlen(copy));
        free(copy);
        return vg_err(err, errlen, rc, "%s %s: cannot keep the URL", file_key, path);
    }
    free(*url);
    *url = copy;
    return 0;
}

int vg_url_has_credential(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t auth = strcspn(p, "/?#");
    if (memchr(p, '@', auth))
        return 1;
    /* The fragment is not sent, so a '?' after the '#' is no query. */
    size_t end = strcspn(p, "#");
    const char *q = memchr(p, '?', end);
    if (!q)
        return 0;
    /* Whole names only: "key" inside keyword=, "pass" inside passive= and "auth" inside author=
     * warned falsely. */
    for (q++; q < p + end;) {
        size_t len = strcspn(q, "&#"), n = strcspn(q, "=&#");
        if (is_cred_name(q, n))
            return 1;
        q += len;
        if (*q == '&')
            q++;
    }
    return 0;
}

int vg_url_path_has_credential(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    p += strcspn(p, "/?#");
    while (*p == '/') {
        p++;
        size_t n = strcspn(p, "/?#");
        if (looks_like_credential(p, n))
            return 1;
        p += n;
    }
    return 0;
}

int vg_urlfile_warn_inline(const char *key, const char *file_key, const char *url, const char *file,
                           int secret_path, const char *user)
{
    /* From the environment or --set, or read from its *_file: not in a config file. */
    const char *where = vg_config_where(key);
    if (!url || !*url || (file && *file) || !where || strcmp(where, "--set") == 0 ||
        strncmp(where, "environment ", 12) == 0)
        return 0;
    if (!secret_path && !vg_url_has_credential(url))
        return 0;
    char path[4096];
    snprintf(path, sizeof(path), "%s", where);
    for (int cut = 0; cut < 2; cut++) { /* "PATH:LINE:COLUMN" */
        char *colon = strrchr(path, ':');
        if (colon)
            *colon = '\0';
    }
    struct stat st;
    if (stat(path, &st) != 0 || !(st.st_mode & S_IROTH))
        return 0;
    /* The way out named first is the one that keeps the config as it is: a config only the
     * daemon's group reads (what `chmod 600` would break: the unit reads it as `user`). That
     * group is `user`'s: root:vigil under the packages, but not for a site's own user. */
    char group[64], msg[512];
    snprintf(msg, sizeof msg,
             "a receiver URL that carries a credential is written in a config file others can "
             "read; let only the daemon's group read the config (chown root:%s CONFIG; chmod "
             "0640 CONFIG), or put the URL in such a file of its own and set file_key "
             "(docs/security.md)",
             vg_runas_group_of(user, group, sizeof group));
    vg_warn(msg, "key=%s file_key=%s config=%s", key, file_key, path);
    return 1;
}

const char *vg_urlfile_key(const char *key, const char *file_key, const char *file, char *buf,
                           size_t n)
{
    if (!file || !*file)
        return key;
    snprintf(buf, n, "%s (%s)", file_key, file);
    return buf;
}
