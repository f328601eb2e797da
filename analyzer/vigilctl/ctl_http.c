#include "ctl_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "vg_secret.h"
#include "vg_util.h"

void vg_ctl_api_init(struct vg_ctl_api *api)
{
    const char *u = getenv("VIGIL_API"), *t = getenv("VIGIL_TOKEN_FILE");
    api->url = u && *u ? u : VG_CTL_API_DEFAULT;
    api->token_file = t && *t ? t : NULL;
    api->timeout_ms = 10000;
}

int vg_ctl_api_check(const char *cmd, const struct vg_ctl_api *api)
{
    const char *u = api->url, *env = getenv("VIGIL_API");
    const char *what = env && u == env ? "VIGIL_API" : "--api";
    size_t scheme = strncasecmp(u, "http://", 7) == 0    ? 7
                    : strncasecmp(u, "https://", 8) == 0 ? 8
                                                         : 0;
    const char *why = NULL;
    if (!scheme)
        why = "not an http:// or https:// URL (e.g. http://127.0.0.1:9710)";
    else if (!u[scheme] || u[scheme] == '/' || u[scheme] == ':' || u[scheme] == '?' ||
             u[scheme] == '#')
        why = "no host after the scheme (e.g. http://127.0.0.1:9710)";
    for (const char *p = u; !why && *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            why = "spaces and control characters are not part of a URL";
    if (!why)
        return 0;
    fprintf(stderr, "vigilctl %s: %s '%s': %s\n", cmd, what, u, why);
    return -1;
}

/* The length of api->url without its trailing slashes: "--api http://host:9710/" is as natural
 * to write as without the slash, and joined as is with "/api/v1/..." it asks for "//api/v1/...",
 * which the analyzer does not serve (404). */
static int base_len(const struct vg_ctl_api *api)
{
    size_t n = strlen(api->url);
    while (n && api->url[n - 1] == '/')
        n--;
    return n > INT_MAX ? INT_MAX : (int)n;
}

struct buf {
    char *p;
    size_t n;
};

static size_t on_data(char *d, size_t sz, size_t nm, void *ud)
{
    struct buf *b = ud;
    char *np = realloc(b->p, b->n + sz * nm + 1);
    if (!np)
        return 0;
    memcpy(np + b->n, d, sz * nm);
    b->n += sz * nm;
    np[b->n] = '\0';
    b->p = np;
    return sz * nm;
}

/* The token, read once per process (vigilctl runs one command, on one thread): a pipe gives it
 * only once, and silence expire sends a request per id. Wiped at exit. */
static char *g_token, *g_token_path;
static size_t g_token_len;
static int g_wipe_at_exit;

static void wipe_token(void)
{
    vg_secret_free(g_token, g_token_len);
    free(g_token_path);
    g_token = g_token_path = NULL;
}

/* The token file is read as the analyzer reads http.token_file (vg_secret_read): the same
 * whitespace rules, one line, up to VG_SECRET_MAX bytes, so that every token the analyzer takes is
 * sent whole (a fixed buffer of 1 KiB cut longer ones short without a word, and the analyzer's
 * 401 then blamed the file). A file other users may read, or its group write, is warned about.
 * Which group may read it is the analyzer's business, not this client's: root:vigil 0640 read by
 * a member of vigil is the packages' setup, so no group is judged here. Unlike the analyzer, it
 * may also be a pipe or a character device (vg_secret_read_stream): -t <(pass show vigil/token)
 * or VIGIL_TOKEN_FILE=/dev/stdin keep the token off the disk. *out is the cached token: not
 * the caller's to free. */
static int read_token(const struct vg_ctl_api *api, const char **out, char *err, size_t errlen)
{
    if (g_token && strcmp(g_token_path, api->token_file) == 0) {
        *out = g_token;
        return 0;
    }
    const char *env = getenv("VIGIL_TOKEN_FILE");
    const char *what = env && api->token_file == env ? "VIGIL_TOKEN_FILE" : "--token-file";
    struct stat st;
    if (stat(api->token_file, &st) == 0)
        vg_secret_set_group(st.st_gid);
    char *token = NULL, *path = strdup(api->token_file);
    size_t len = 0;
    int rc = path ? vg_secret_read_stream(api->token_file, what, VG_SECRET_TRIM_SPACE, &token, &len,
                                          err, errlen)
                  : vg_err(err, errlen, -ENOMEM, "%s: out of memory", what);
    if (rc < 0) {
        free(path);
        return rc;
    }
    if (!g_wipe_at_exit)
        g_wipe_at_exit = atexit(wipe_token) == 0;
    wipe_token();
    g_token = token;
    g_token_len = len;
    g_token_path = path;
    *out = g_token;
    return 0;
}

/* Only the requests that change state carry the token (the API's mutating routes are POST and
 * DELETE): a reading command works without access to the file (VIGIL_TOKEN_FILE exported for
 * everyone by a profile, the file root:vigil 0640), and a --api naming another service by
 * mistake is not sent the token with every GET. */
static int sends_token(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

int vg_ctl_request(const struct vg_ctl_api *api, const char *method, const char *path,
                   const char *body, long *status, char **out, char *err, size_t errlen)
{
    char url[2048];
    snprintf(url, sizeof(url), "%.*s%s", base_len(api), api->url, path);
    struct curl_slist *h = NULL;
    if (api->token_file && sends_token(method)) {
        const char *token = NULL;
        char *auth = NULL;
        int rc = read_token(api, &token, err, errlen);
        if (rc)
            return rc;
        int alen = asprintf(&auth, "Authorization: Bearer %s", token);
        if (alen < 0)
            return vg_err(err, errlen, -ENOMEM, "token file %s: out of memory", api->token_file);
        h = curl_slist_append(h, auth); /* a copy */
        vg_secret_free(auth, (size_t)alen);
    }
    if (body)
        h = curl_slist_append(h, "Content-Type: application/json");
    CURL *c = curl_easy_init();
    if (!c) {
        curl_slist_free_all(h);
        return vg_err(err, errlen, -ENOMEM, "curl_easy_init failed");
    }
    struct buf b = {calloc(1, 1), 0};
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, api->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    CURLcode cc = curl_easy_perform(c);
    int rc = 0;
    if (cc != CURLE_OK) {
        rc = vg_err(err, errlen, -EIO,
                    "%s %s: %s (is vigil-analyzer running? --api or VIGIL_API "
                    "selects another address)",
                    method, url, cerr[0] ? cerr : curl_easy_strerror(cc));
        free(b.p);
        b.p = NULL;
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (out)
        *out = b.p;
    else
        free(b.p);
    return rc;
}

/* vg_ctl_json, and with raw non-NULL the body as received (caller frees) beside its parse. */
static int request_json(const struct vg_ctl_api *api, const char *method, const char *path,
                        const char *body, json_t **out, char **raw, char *err, size_t errlen)
{
    long status = 0;
    char *text = NULL;
    int rc = vg_ctl_request(api, method, path, body, &status, &text, err, errlen);
    if (rc)
        return rc;
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    if (status < 200 || status > 299) {
        const char *msg = json_string_value(json_object_get(o, "error"));
        char plain[300];
        if (!msg) {
            snprintf(plain, sizeof(plain), "%s", text ? text : "");
            plain[strcspn(plain, "\n")] = '\0';
            msg = plain;
        }
        /* 401 is the analyzer refusing a mutating request's token, and all it says is "missing
         * or wrong bearer token": name where vigilctl takes the token from. */
        char hint[600] = "";
        if (status == 401 && api->token_file && sends_token(method))
            snprintf(hint, sizeof(hint),
                     " (the token read from %s is not the one in the file the analyzer's "
                     "http.token_file names)",
                     api->token_file);
        else if (status == 401)
            snprintf(hint, sizeof(hint),
                     " (no token sent: give the file the analyzer's http.token_file names with "
                     "-t/--token-file FILE or VIGIL_TOKEN_FILE)");
        rc = vg_err(err, errlen, -EPROTO, "%s %.*s%s: HTTP %ld%s%s%s", method, base_len(api),
                    api->url, path, status, *msg ? ": " : "", msg, hint);
        json_decref(o);
        free(text);
        return rc;
    }
    if (!o) {
        free(text);
        return vg_err(err, errlen, -EPROTO, "%s %.*s%s: the answer is not JSON: %s", method,
                      base_len(api), api->url, path, je.text);
    }
    if (raw)
        *raw = text;
    else
        free(text);
    *out = o;
    return 0;
}

int vg_ctl_json(const struct vg_ctl_api *api, const char *method, const char *path,
                const char *body, json_t **out, char *err, size_t errlen)
{
    return request_json(api, method, path, body, out, NULL, err, errlen);
}

static int has_type(json_t *v, json_type want)
{
    switch (want) {
    case JSON_TRUE:
    case JSON_FALSE:
        return json_is_boolean(v);
    case JSON_INTEGER:
    case JSON_REAL:
        return json_is_number(v);
    default:
        return v && json_typeof(v) == want;
    }
}

/* The kind of value wanted, as has_type accepts it: "number" for either numeric type. Not shared
 * with vg_wire.c's, which names the type a value has ("integer", "real") and keeps jansson out of
 * vg_wire.h. */
static const char *type_name(json_type t)
{
    switch (t) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

int vg_ctl_json_want_raw(const struct vg_ctl_api *api, const char *method, const char *path,
                         const char *body, const char *key, json_type want, json_t **out,
                         char **raw, char *err, size_t errlen)
{
    json_t *o = NULL;
    char *text = NULL;
    int rc = request_json(api, method, path, body, &o, raw ? &text : NULL, err, errlen);
    if (rc)
        return rc;
    if (!has_type(json_object_get(o, key), want)) {
        json_decref(o);
        free(text);
        return vg_err(err, errlen, -EPROTO,
                      "%s %.*s%s: the answer is not the analyzer's (no \"%s\" %s; is --api or "
                      "VIGIL_API the analyzer's address?)",
                      method, base_len(api), api->url, path, key, type_name(want));
    }
    *out = o;
    if (raw)
        *raw = text;
    return 0;
}

int vg_ctl_json_want(const struct vg_ctl_api *api, const char *method, const char *path,
                     const char *body, const char *key, json_type want, json_t **out, char *err,
                     size_t errlen)
{
    return vg_ctl_json_want_raw(api, method, path, body, key, want, out, NULL, err, errlen);
}

void vg_ctl_print_raw(const char *text)
{
    size_t n = strlen(text);
    fputs(text, stdout);
    if (!n || text[n - 1] != '\n')
        fputc('\n', stdout);
}

const char *vg_ctl_fmt_time(char *buf, size_t n, long long ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm))
        snprintf(buf, n, "%lld", ms);
    return buf;
}

const char *vg_ctl_fmt_age(char *buf, size_t n, double s)
{
    if (s != s)
        snprintf(buf, n, "-");
    else if (s < 1)
        snprintf(buf, n, "%.0fms", s * 1000);
    else if (s < 60)
        snprintf(buf, n, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else if (s < 86400)
        snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else
        snprintf(buf, n, "%dd%02dh", (int)(s / 86400), (int)(s / 3600) % 24);
    return buf;
}
