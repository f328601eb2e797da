#include "vg_httpsec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vg_util.h"

struct parsed {
    char *scheme, *host, *port, *path;
    int has_user, has_query;
};

static void parsed_free(struct parsed *u)
{
    curl_free(u->scheme);
    curl_free(u->host);
    curl_free(u->port);
    curl_free(u->path);
    memset(u, 0, sizeof *u);
}

/* 0, or a static reason. */
static const char *parse(const char *s, struct parsed *out)
{
    memset(out, 0, sizeof *out);
    if (strncasecmp(s, "http://", 7) != 0 && strncasecmp(s, "https://", 8) != 0)
        return "not an http:// or https:// URL";
    /* libcurl skips the slashes of an empty authority: https:///x is host x to it, which the
     * check passed and a fire-test then posted to. No host written is refused here. */
    const char *auth = s + (s[4] == ':' ? 7 : 8);
    size_t alen = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', alen);
    const char *host = at ? at + 1 : auth;
    if (host == auth + alen || *host == ':')
        return "no host (nothing between \"//\" and the path)";
    CURLU *u = curl_url();
    if (!u)
        return "out of memory";
    const char *why = NULL;
    if (curl_url_set(u, CURLUPART_URL, s, 0) != CURLUE_OK)
        why = "not a valid URL";
    else if (curl_url_get(u, CURLUPART_SCHEME, &out->scheme, 0) != CURLUE_OK ||
             curl_url_get(u, CURLUPART_HOST, &out->host, 0) != CURLUE_OK || !*out->host)
        why = "no host";
    else if (curl_url_get(u, CURLUPART_PORT, &out->port, CURLU_DEFAULT_PORT) != CURLUE_OK)
        why = "no port";
    else if (curl_url_get(u, CURLUPART_PATH, &out->path, 0) != CURLUE_OK)
        why = "no path";
    if (!why) {
        char *x = NULL;
        out->has_user = curl_url_get(u, CURLUPART_USER, &x, 0) == CURLUE_OK;
        curl_free(x);
        x = NULL;
        out->has_query = curl_url_get(u, CURLUPART_QUERY, &x, 0) == CURLUE_OK;
        curl_free(x);
        x = NULL;
        if (curl_url_get(u, CURLUPART_FRAGMENT, &x, 0) == CURLUE_OK)
            out->has_query = 1;
        curl_free(x);
    }
    curl_url_cleanup(u);
    if (why)
        parsed_free(out);
    return why;
}

/* The URL as errors show it: scheme://host:port/path, the path replaced by "/..." when hidden. */
static void shown(const struct parsed *u, int hide_path, char *buf, size_t n)
{
    snprintf(buf, n, "%s://%s:%s%s", u->scheme, u->host, u->port, hide_path ? "/..." : u->path);
}

static int is_loopback(const char *host)
{
    if (strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
        return 1;
    struct in_addr a;
    return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

static int path_matches(const char *prefix, const char *path)
{
    size_t n = strlen(prefix);
    if (n == 0 || strcmp(prefix, "/") == 0)
        return 1;
    if (strncmp(path, prefix, n) != 0)
        return 0;
    return prefix[n - 1] == '/' || path[n] == '\0' || path[n] == '/';
}

static int matches(const struct parsed *e, const struct parsed *u)
{
    return strcasecmp(e->scheme, u->scheme) == 0 && strcasecmp(e->host, u->host) == 0 &&
           strcmp(e->port, u->port) == 0 && path_matches(e->path, u->path);
}

/* Calls fn for each entry of the list, stopping at the first non-zero return. */
static int each_entry(const char *list, int (*fn)(const char *entry, void *ud), void *ud)
{
    char *copy = strdup(list), *save = NULL;
    if (!copy)
        return -ENOMEM;
    int rc = 0;
    for (char *t = strtok_r(copy, ", \t", &save); t && !rc; t = strtok_r(NULL, ", \t", &save))
        rc = fn(t, ud);
    free(copy);
    return rc;
}

struct vctx {
    const char *key;
    char *err;
    size_t errlen;
    const struct parsed *url; /* NULL: only validate */
    int matched;
    size_t index; /* of the entry visited, from 1 */
};

static int visit(const char *entry, void *ud)
{
    struct vctx *c = ud;
    struct parsed e;
    const char *why = parse(entry, &e);
    if (!why && (e.has_user || e.has_query))
        why = "an entry has no user, query or fragment";
    c->index++;
    if (why) {
        parsed_free(&e);
        /* Shown as receiver URLs are (vg_url_redact): an entry pasted with user:password or a
         * token in its query is refused for that, and the refusal must not print them. Text
         * that is not scheme://host... is named by its place in the list instead. */
        char shown[600];
        if (vg_url_redact(entry, 0, shown, sizeof shown) < 0)
            return vg_err(c->err, c->errlen, -EINVAL, "%s: entry %zu: %s", c->key, c->index, why);
        return vg_err(c->err, c->errlen, -EINVAL, "%s: entry '%s': %s", c->key, shown, why);
    }
    if (c->url && matches(&e, c->url))
        c->matched = 1;
    parsed_free(&e);
    return 0;
}

int vg_url_policy_validate(const struct vg_url_policy *p, const char *key, char *err, size_t errlen)
{
    if (!p || !p->allowed || !*p->allowed)
        return 0;
    struct vctx c = {.key = key, .err = err, .errlen = errlen};
    return each_entry(p->allowed, visit, &c);
}

int vg_url_policy_check(const struct vg_url_policy *p, const char *key, const char *url,
                        int hide_path, char *err, size_t errlen)
{
    struct parsed u;
    const char *why = parse(url ? url : "", &u);
    if (why)
        return vg_err(err, errlen, -EINVAL, "%s: %s", key, why);
    char show[600];
    shown(&u, hide_path, show, sizeof show);
    int rc = 0;
    if (p && !p->allow_plain_http && strcasecmp(u.scheme, "http") == 0 && !is_loopback(u.host))
        rc = vg_err(err, errlen, -EACCES,
                    "%s: %s: plain http:// to a host other than loopback sends alerts (and the "
                    "signature) in clear text; use https://, or set %s: true",
                    key, show, p->plain_http_key ? p->plain_http_key : "actions.allow_plain_http");
    if (!rc && p && p->allowed && *p->allowed) {
        struct vctx c = {.key = "actions.allowed_urls", .err = err, .errlen = errlen, .url = &u};
        rc = each_entry(p->allowed, visit, &c);
        if (!rc && !c.matched)
            rc = vg_err(err, errlen, -EACCES,
                        "%s: %s: not in actions.allowed_urls (scheme, host and port must match an "
                        "entry exactly, the path must start with its path)",
                        key, show);
    }
    parsed_free(&u);
    return rc;
}

int vg_http_ca_file_check(const char *ca_file, const char *key, char *err, size_t errlen)
{
    if (!ca_file || !*ca_file)
        return 0;
    FILE *f = fopen(ca_file, "re");
    if (!f)
        return vg_err(err, errlen, -errno, "%s: cannot open %s: %s", key, ca_file, strerror(errno));
    char line[128];
    int pem = 0;
    while (!pem && fgets(line, sizeof line, f))
        pem = strncmp(line, "-----BEGIN CERTIFICATE-----", 27) == 0;
    fclose(f);
    if (!pem)
        return vg_err(err, errlen, -EINVAL, "%s: %s holds no PEM certificate", key, ca_file);
    return 0;
}

int vg_http_tls_apply(CURL *e, const char *ca_file)
{
    if (curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK)
        return -EINVAL;
    if (ca_file && *ca_file && curl_easy_setopt(e, CURLOPT_CAINFO, ca_file) != CURLE_OK)
        return -EINVAL;
    return 0;
}

int vg_http_protocols_apply(CURL *e, char *err, size_t errlen)
{
    CURLcode cc = curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (cc == CURLE_OK)
        return 0;
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    return vg_err(err, errlen, -ENOTSUP,
                  "libcurl %s refused CURLOPT_PROTOCOLS_STR (%s): it needs libcurl 7.85.0 or "
                  "later to restrict receivers to http and https",
                  v && v->version ? v->version : "(unknown version)", curl_easy_strerror(cc));
}

int vg_http_protocols_probe(char *err, size_t errlen)
{
    CURL *e = curl_easy_init();
    if (!e)
        return vg_err(err, errlen, -ENOMEM, "cannot initialise libcurl");
    int rc = vg_http_protocols_apply(e, err, errlen);
    curl_easy_cleanup(e);
    return rc;
}

int vg_http_is_tls_error(CURLcode cc)
{
    switch (cc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        return 1;
    default:
        return 0;
    }
}
