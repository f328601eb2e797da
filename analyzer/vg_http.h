/* A small HTTP server for the analyzer's API, on libmicrohttpd's own thread.
 *
 * Routes are a table (method, path or path prefix, whether it mutates state, handler). The
 * server enforces what every route needs: loopback by default, a bearer token (constant-time
 * compare) on mutating routes, a request body limit, a connection limit (beyond it, a connection
 * that has waited 1 s or more with no request being answered is closed to make room, and up to
 * twice as many stay open meanwhile), a deadline for a request to arrive and a global request rate
 * limit that probes (/healthz, /readyz) are exempt from. Handlers run on the server thread: they
 * must lock whatever they read.
 */
#ifndef VG_HTTP_H
#define VG_HTTP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct vg_http_request {
    const char *method;
    const char *path;      /* without the query string */
    const char *path_rest; /* for prefix routes: what follows the prefix */
    const char *body;      /* NUL-terminated copy of the body, or "" */
    size_t body_len;
};

struct vg_http_response {
    int status;
    const char *content_type; /* static string */
    char *body;               /* malloc'd by the handler; the server frees it */
    size_t len;
    char allow[64]; /* a 405's Allow header: the path's methods */
};

typedef void (*vg_http_handler)(void *ud, const struct vg_http_request *req,
                                struct vg_http_response *resp);

enum vg_http_route_kind {
    VG_HTTP_READ = 0,
    VG_HTTP_MUTATING = 1, /* needs the bearer token */
    /* A liveness or readiness probe: cheap, and exempt from the global rate limit, so that one
     * client spending the budget cannot get the process restarted by its failing probes. */
    VG_HTTP_PROBE = 2,
};

struct vg_http_route {
    const char *method;
    const char *path; /* exact path, or a prefix when it ends with '/' */
    int kind;         /* enum vg_http_route_kind (tables write 0 or 1) */
    vg_http_handler fn;
};

/* Responses the server sent, by status code (100..599), its own refusals (413, 429) and the
 * router's (401, 403, 404, 405) included: a refusal must leave a trace somewhere. */
#define VG_HTTP_CODE_MIN 100
#define VG_HTTP_CODE_MAX 599
struct vg_http_counts {
    atomic_uint_fast64_t by_code[VG_HTTP_CODE_MAX - VG_HTTP_CODE_MIN + 1];
    /* Connections with no request being answered, shut down while more than max_conns were open. */
    atomic_uint_fast64_t conns_closed_for_room;
};

struct vg_http_cfg {
    const char *listen;            /* "127.0.0.1:9710"; port 0 picks a free one */
    const char *token_file;        /* bearer token for mutating routes; NULL disables them */
    size_t max_body;               /* bytes; larger requests get 413 */
    unsigned max_conns;            /* 0: 64; kept open, twice as many for about a second */
    unsigned request_timeout_ms;   /* a request's headers and body must arrive within; 0: 10 s */
    double rate_per_s;             /* requests per second over all clients; beyond: 429 */
    struct vg_http_counts *counts; /* NULL: not counted; else must outlive the server */
};

/* How many responses with status code counts holds (0 outside 100..599). */
uint64_t vg_http_count(const struct vg_http_counts *counts, int code);

struct vg_http;

/* What a request is judged by, apart from the socket: the routes, the bearer token (NULL:
 * mutating routes are off) and the body limit. The server holds one; tests and the fuzzer
 * (tests/fuzz/fuzz_http.c) build their own. */
struct vg_http_router {
    const struct vg_http_route *routes;
    size_t n_routes;
    void *ud;
    char *token;
    size_t max_body;
};

/* 1 when a Content-Length header value announces more than max_body bytes. */
int vg_http_too_large(const struct vg_http_router *rt, const char *content_length);

/* Decides one request's response without any socket: 413 past the body limit, 404/405 for
 * unknown paths and methods, 403/401 for mutating routes without the right bearer token (the
 * whole Authorization header value, may be NULL; its scheme "Bearer" in any case, RFC 7235),
 * else the route's handler. body may be NULL.
 * resp->body is malloc'd; the caller frees it. The rate limit is the server's, not checked
 * here. */
void vg_http_dispatch(const struct vg_http_router *rt, const char *method, const char *path,
                      const char *authorization, const char *body, size_t body_len,
                      struct vg_http_response *resp);

/* Starts the server. routes must outlive it. *out is released with vg_http_stop(). */
/* What vg_http_start refuses before it listens (listen address, token file), checked without
 * listening: for --check-config. 0 or -errno with err as vg_http_start gives it. */
int vg_http_check_cfg(const struct vg_http_cfg *cfg, char *err, size_t errlen);

int vg_http_start(struct vg_http **out, const struct vg_http_cfg *cfg,
                  const struct vg_http_route *routes, size_t n_routes, void *ud, char *err,
                  size_t errlen);

/* The port actually bound (useful with port 0). */
int vg_http_port(const struct vg_http *h);

void vg_http_stop(struct vg_http *h);

/* Helpers for handlers: set a copied body / a printf-formatted body. */
void vg_http_reply(struct vg_http_response *r, int status, const char *content_type,
                   const char *body);
void vg_http_replyf(struct vg_http_response *r, int status, const char *content_type,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Constant-time comparison of two strings' bytes (length is not hidden). 1 when equal. */
int vg_http_token_equal(const char *a, const char *b);

#endif
