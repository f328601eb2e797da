#include "vg_urlfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "vg_config.h"
#include "vg_log.h"
#include "vg_secret.h"
#include "vg_util.h"

/* Not the whole URL: a line holding it became url="***", host and all, which hid where
 * deliveries go. */
int vg_urlfile_register(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t auth = strcspn(p, "/?#");
    const char *at = memchr(p, '@', auth);
    int rc = 0;
    if (at) {
        char *ui = strndup(p, (size_t)(at - p));
        rc = ui ? vg_secret_register(ui) : -ENOMEM;
        if (ui) {
            explicit_bzero(ui, strlen(ui));
            free(ui);
        }
    }
    const char *rest = p + auth;
    if (*rest == '/')
        rest++; /* scheme://host/ stays: the scrubbed line shows "scheme://host/" and the stars */
    if (!rc && *rest)
        rc = vg_secret_register(rest);
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
    static const char *const names[] = {
        "token",         "access_token", "auth_token", "key",  "api_key", "apikey",    "secret",
        "client_secret", "password",     "passwd",     "pass", "sig",     "signature", "auth"};
    for (q++; q < p + end;) {
        size_t len = strcspn(q, "&#"), n = strcspn(q, "=&#");
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (n == strlen(names[i]) && strncasecmp(q, names[i], n) == 0)
                return 1;
        q += len;
        if (*q == '&')
            q++;
    }
    return 0;
}

int vg_urlfile_warn_inline(const char *key, const char *file_key, const char *url, const char *file,
                           int secret_path)
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
    vg_warn("a receiver URL that carries a credential is written in a config file others can "
            "read; put it in a file only the daemon's group can read and set file_key instead "
            "(docs/security.md)",
            "key=%s file_key=%s config=%s", key, file_key, path);
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
