/* vigilctl's client of the analyzer's HTTP API (docs/api.md): where the API is (--api URL, else
 * $VIGIL_API, else http://127.0.0.1:9710), the bearer token for mutating requests (--token-file,
 * else $VIGIL_TOKEN_FILE), and requests that turn every failure into one clear line. */
#ifndef VG_CTL_HTTP_H
#define VG_CTL_HTTP_H

#include <jansson.h>
#include <stddef.h>

#define VG_CTL_API_DEFAULT "http://127.0.0.1:9710"

struct vg_ctl_api {
    const char *url;        /* base URL; trailing slashes are ignored when a path is joined */
    const char *token_file; /* read and sent for POST, DELETE, ... only; NULL: never */
    long timeout_ms;
};

/* Fills api from the environment and defaults; options parsed later override the fields. */
void vg_ctl_api_init(struct vg_ctl_api *api);

/* Whether api->url is an http:// or https:// URL with a host, checked before any request: curl
 * would otherwise say "Could not resolve host" of ftp://x or "bad/illegal format", read as an
 * unreachable analyzer (exit 1) rather than the usage error it is. 0, or -1 after printing
 * "vigilctl CMD: --api 'URL': ..." (or VIGIL_API, where the URL came from) on stderr. */
int vg_ctl_api_check(const char *cmd, const struct vg_ctl_api *api);

/* Performs METHOD url+path with an optional JSON body; a method other than GET and HEAD (those
 * of the mutating routes) carries api->token_file's token, which only such a request reads. On
 * an answer (any status) returns 0 with *status and *out (malloc'd, NUL-terminated; caller
 * frees; may be NULL when out is NULL). On no answer (connection refused, timeout: -EIO) or a
 * token file that cannot be read or is refused (as the analyzer's http.token_file would be:
 * vg_secret_read; a pipe or a character device is read too, once per process) returns a
 * negative errno with err saying what and where. */
int vg_ctl_request(const struct vg_ctl_api *api, const char *method, const char *path,
                   const char *body, long *status, char **out, char *err, size_t errlen);

/* Like vg_ctl_request, for JSON answers: 0 with *out a new reference (caller decrefs) when the
 * status is 2xx and the body JSON. Otherwise a negative code and err reads e.g.
 * "GET http://127.0.0.1:9710/api/v1/alerts: HTTP 404: unknown path" (the API's "error" text
 * when it sent one); after a 401 it also says where the token comes from (--token-file,
 * VIGIL_TOKEN_FILE). */
int vg_ctl_json(const struct vg_ctl_api *api, const char *method, const char *path,
                const char *body, json_t **out, char *err, size_t errlen);

/* Like vg_ctl_json, and the answer must be the analyzer's: an object whose member key has the
 * JSON type want (JSON_TRUE stands for either boolean, JSON_INTEGER for any number). Another
 * service on that address (an old Alertmanager answers GET /api/v1/alerts with 200 and JSON of
 * its own) would otherwise read as an analyzer with nothing to show. Otherwise -EPROTO and err
 * reads e.g. 'GET http://127.0.0.1:9093/api/v1/alerts: the answer is not the analyzer's (no
 * "alerts" array)'. */
int vg_ctl_json_want(const struct vg_ctl_api *api, const char *method, const char *path,
                     const char *body, const char *key, json_type want, json_t **out, char *err,
                     size_t errlen);

/* vg_ctl_json_want, and *raw (caller frees) the answer's body byte for byte, for --json to
 * print "the API's JSON as it is": a parse and dump would print each number again in its own
 * form (0.552 as 0.55200000000000005). */
int vg_ctl_json_want_raw(const struct vg_ctl_api *api, const char *method, const char *path,
                         const char *body, const char *key, json_type want, json_t **out,
                         char **raw, char *err, size_t errlen);

/* Prints a body as received to stdout, with a final newline when it has none. */
void vg_ctl_print_raw(const char *text);

/* Formats Unix milliseconds as local "YYYY-MM-DD HH:MM:SS" into buf; returns buf. */
const char *vg_ctl_fmt_time(char *buf, size_t n, long long ms);

/* Formats seconds as "850ms", "12s", "3m20s", "2h05m", "3d04h" into buf; returns buf. */
const char *vg_ctl_fmt_age(char *buf, size_t n, double s);

#endif
