#include "vg_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <linux/capability.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "vg_log.h"
#include "vg_secret.h"
#include "vg_util.h"

struct vg_http {
    struct MHD_Daemon *d;
    struct vg_http_router rt; /* routes, token and body limit: what a request is judged by */
    int port;
    pthread_mutex_t lock; /* the rate limiter */
    /* Held by a handler other than a probe's: those run one at a time, as they did when one
     * thread served every connection (the analyzer's may drop its lock halfway, to write the
     * silences file). */
    pthread_mutex_t serial;
    double tokens, rate, burst;
    int64_t last_ms;
    atomic_int starting; /* inside MHD_start_daemon: its messages are the caller's to report */
    struct vg_http_counts *counts;
    /* Open connections and the deadline of the request each is receiving: cut_due shuts down
     * those past their deadline, and makes room, on new connections, closed ones and the reaper
     * thread's period. */
    pthread_mutex_t conns_lock;
    pthread_cond_t reaper_wake;
    pthread_t reaper;
    int reaper_started, stopping;
    int64_t request_timeout_ms;
    struct tracked_conn *conns; /* newest first */
    /* Tracked connections not shut down yet, and how many of them cut_due keeps. */
    unsigned live, max_conns;
};

#define IDLE_TIMEOUT_S 10 /* MHD closes a connection idle this long */
/* cut_due never closes for room a connection that has waited less than this for a request of its
 * own: a client that sends its request at once (a probe, a scrape, vigilctl) has it read and marked
 * answering long before, however many others connect meanwhile. */
#define ROOM_MIN_WAIT_MS 1000
/* Connections shut down and not closed yet still count against libmicrohttpd's limit: one at a
 * time is shut down (cut_due). One shut down longer ago than this no longer holds up the next
 * (its thread was already in the handler: it closes once that is done). */
#define CLOSING_WAIT_MS 1000

struct tracked_conn {
    struct tracked_conn *prev, *next;
    int fd;
    int answering; /* its request arrived: the handler or the response is under way */
    int cut;       /* shut down by cut_due: no longer live, closing */
    int64_t cut_at_ms;
    int64_t deadline_ms;
    int64_t waiting_since_ms; /* when it opened, or its previous response was done */
};

struct conn_ctx {
    char *body;
    size_t len;
    int too_large;
    int headers_seen; /* on_request had its first call */
    int answered;     /* on_request queued the response (and counted it) */
    char url[128];    /* for the count of a response MHD gave itself */
};

/* vg_http_token_equal for the first la bytes of a. */
static int token_equal_n(const char *a, size_t la, const char *b)
{
    size_t lb = strlen(b);
    unsigned char diff = la != lb;
    /* Touch every byte of the expected token whatever the input, so timing does not tell how
     * many leading bytes matched. */
    for (size_t i = 0; i < lb; i++)
        diff |= (unsigned char)(b[i] ^ (i < la ? a[i] : 0));
    return diff == 0;
}

int vg_http_token_equal(const char *a, const char *b)
{
    return token_equal_n(a, strlen(a), b);
}

void vg_http_reply(struct vg_http_response *r, int status, const char *content_type,
                   const char *body)
{
    free(r->body);
    r->status = status;
    r->content_type = content_type;
    r->body = strdup(body);
    r->len = r->body ? strlen(r->body) : 0;
}

void vg_http_replyf(struct vg_http_response *r, int status, const char *content_type,
                    const char *fmt, ...)
{
    free(r->body);
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&r->body, fmt, ap);
    va_end(ap);
    r->status = status;
    r->content_type = content_type;
    if (n < 0) {
        r->body = NULL;
        n = 0;
    }
    r->len = (size_t)n;
}

/* libmicrohttpd's messages (MHD_USE_ERROR_LOG), which it would print raw to stderr, as logfmt
 * lines. While the daemon starts they are debug: vg_http_start's error says what failed with the
 * configured address, where MHD's own line named port 0 (it is handed a sockaddr, not a port).
 * Once it runs they are warnings (connection limit reached, a socket error), rate-limited by
 * vg_log like any other message. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct vg_http *h = cls;
    char text[512], q[600];
    vsnprintf(text, sizeof text, fmt, ap);
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
        text[--n] = '\0';
    vg_log(atomic_load(&h->starting) ? VG_LOG_DEBUG : VG_LOG_WARN, "http server", "detail=%s",
           vg_log_quote(q, sizeof q, text));
}

uint64_t vg_http_count(const struct vg_http_counts *counts, int code)
{
    if (!counts || code < VG_HTTP_CODE_MIN || code > VG_HTTP_CODE_MAX)
        return 0;
    return atomic_load(&counts->by_code[code - VG_HTTP_CODE_MIN]);
}

/* Counts every response, and logs a wrong or missing token: someone is trying a mutating route
 * without the right one (a probe, or a client with a stale token). vg_log's rate limit keeps a
 * flood of them to a few lines. */
static void note_response(struct vg_http *h, struct MHD_Connection *c, const char *method,
                          const char *url, int status)
{
    if (h->counts && status >= VG_HTTP_CODE_MIN && status <= VG_HTTP_CODE_MAX)
        atomic_fetch_add(&h->counts->by_code[status - VG_HTTP_CODE_MIN], 1);
    if (status != 401)
        return;
    char peer[INET_ADDRSTRLEN] = "?", qm[80], qu[300];
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)ci->client_addr)->sin_addr,
                  peer, sizeof(peer));
    vg_warn("http request refused: missing or wrong bearer token", "client=%s method=%s path=%s",
            peer, vg_log_quote(qm, sizeof(qm), method), vg_log_quote(qu, sizeof(qu), url));
}

static int rate_ok(struct vg_http *h)
{
    if (h->rate <= 0)
        return 1;
    pthread_mutex_lock(&h->lock);
    int64_t now = vg_mono_ms();
    h->tokens += (double)(now - h->last_ms) * h->rate / 1000.0;
    if (h->tokens > h->burst)
        h->tokens = h->burst;
    h->last_ms = now;
    int ok = h->tokens >= 1;
    if (ok)
        h->tokens -= 1;
    pthread_mutex_unlock(&h->lock);
    return ok;
}

/* Queues a response; takes ownership of body (malloc'd or NULL). allow: the Allow header of a
 * 405, or NULL. */
static enum MHD_Result respond(struct MHD_Connection *c, int status, const char *ctype, char *body,
                               size_t len, const char *allow)
{
    struct MHD_Response *r =
        body ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(0, (char *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", ctype ? ctype : "text/plain; charset=utf-8");
    if (status == 401)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    if (allow && *allow)
        MHD_add_response_header(r, "Allow", allow);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

/* The route of method on path. *path_known: some method serves path; allow (allow_len bytes)
 * gets those methods, for a 405's Allow header. HEAD is served by a GET route (the server sends
 * its headers without the body). */
static const struct vg_http_route *route_for(const struct vg_http_router *rt, const char *path,
                                             const char *method, const char **rest, int *path_known,
                                             char *allow, size_t allow_len)
{
    *path_known = 0;
    allow[0] = '\0';
    int head = strcmp(method, "HEAD") == 0;
    for (size_t i = 0; i < rt->n_routes; i++) {
        const struct vg_http_route *r = &rt->routes[i];
        size_t pl = strlen(r->path);
        int prefix = pl > 1 && r->path[pl - 1] == '/';
        int match = prefix ? strncmp(path, r->path, pl) == 0 && path[pl] != '\0'
                           : strcmp(path, r->path) == 0;
        if (!match)
            continue;
        *path_known = 1;
        if (strcmp(method, r->method) == 0 || (head && strcmp(r->method, "GET") == 0)) {
            *rest = prefix ? path + pl : "";
            return r;
        }
        size_t al = strlen(allow);
        if (!strstr(allow, r->method))
            snprintf(allow + al, allow_len - al, "%s%s%s", al ? ", " : "", r->method,
                     strcmp(r->method, "GET") == 0 ? ", HEAD" : "");
    }
    return NULL;
}

/* The router's own refusals: JSON {"error": ...} under /api/v1 as the handlers answer there
 * (docs/api.md), text elsewhere. */
static void reply_text(struct vg_http_response *resp, const char *path, int status,
                       const char *text)
{
    if (strncmp(path, "/api/v1/", 8) == 0) {
        json_t *o = json_pack("{s:s}", "error", text);
        char *b = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (b) {
            vg_http_replyf(resp, status, "application/json", "%s\n", b);
            free(b);
            return;
        }
    }
    vg_http_replyf(resp, status, "text/plain; charset=utf-8", "%s\n", text);
}

int vg_http_too_large(const struct vg_http_router *rt, const char *content_length)
{
    return content_length && strtoull(content_length, NULL, 10) > rt->max_body;
}

void vg_http_dispatch(const struct vg_http_router *rt, const char *method, const char *path,
                      const char *authorization, const char *body, size_t body_len,
                      struct vg_http_response *resp)
{
    if (body_len > rt->max_body) {
        reply_text(resp, path, 413, "request body too large");
        return;
    }
    const char *rest = "";
    int known;
    const struct vg_http_route *r =
        route_for(rt, path, method, &rest, &known, resp->allow, sizeof resp->allow);
    if (!r) {
        reply_text(resp, path, known ? 405 : 404, known ? "method not allowed" : "not found");
        if (!known)
            resp->allow[0] = '\0';
        return;
    }
    resp->allow[0] = '\0';
    if (r->kind == VG_HTTP_MUTATING) {
        if (!rt->token) {
            reply_text(resp, path, 403,
                       "mutating endpoints are disabled: set http.token_file to enable them");
            return;
        }
        /* The scheme is case-insensitive and followed by one or more spaces (RFC 7235 2.1):
         * "bearer" is the same scheme. */
        const char *cred = authorization;
        if (cred && strncasecmp(cred, "Bearer ", 7) == 0)
            cred += 7 + strspn(cred + 7, " ");
        else
            cred = NULL;
        /* Whitespace around a field value is no part of it (RFC 9110 5.5), and MHD leaves the
         * trailing side in: "Bearer TOKEN " is TOKEN. */
        size_t cred_len = cred ? strlen(cred) : 0;
        while (cred_len && (cred[cred_len - 1] == ' ' || cred[cred_len - 1] == '\t'))
            cred_len--;
        if (!cred || !token_equal_n(cred, cred_len, rt->token)) {
            reply_text(resp, path, 401, "missing or wrong bearer token");
            return;
        }
    }
    struct vg_http_request req = {
        .method = method,
        .path = path,
        .path_rest = rest,
        .body = body ? body : "",
        .body_len = body ? body_len : 0,
    };
    resp->status = 500;
    r->fn(rt->ud, &req, resp);
}

static int is_probe(const struct vg_http_router *rt, const char *method, const char *url)
{
    const char *rest;
    int known;
    char allow[64];
    const struct vg_http_route *r = route_for(rt, url, method, &rest, &known, allow, sizeof allow);
    return r && r->kind == VG_HTTP_PROBE;
}

/* The next request on a connection (keep-alive) gets a deadline of its own once the previous
 * response is done: the idle wait MHD already bounds (IDLE_TIMEOUT_S, after which it closes the
 * connection itself, quietly) plus the time a request may take to arrive. While a request is
 * being answered there is none (a handler may wait for the analyzer's lock). 1 when cut_due has
 * shut the connection down already: there is no one to answer. */
static int mark_answering(struct vg_http *h, struct MHD_Connection *c, int answering)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct tracked_conn *t = ci ? ci->socket_context : NULL;
    if (!t)
        return 0;
    pthread_mutex_lock(&h->conns_lock);
    int cut = t->cut;
    if (!cut) {
        t->answering = answering;
        t->waiting_since_ms = vg_mono_ms();
        t->deadline_ms = t->waiting_since_ms + IDLE_TIMEOUT_S * 1000 + h->request_timeout_ms;
    }
    pthread_mutex_unlock(&h->conns_lock);
    return cut;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    struct vg_http *h = cls;
    (void)version;
    struct conn_ctx *ctx = *con_cls;
    if (!ctx || !ctx->headers_seen) {
        /* First call: headers only. The context is usually on_uri's. */
        if (!ctx && !(ctx = calloc(1, sizeof(*ctx))))
            return MHD_NO;
        *con_cls = ctx;
        ctx->headers_seen = 1;
        ctx->too_large = vg_http_too_large(
            &h->rt, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length"));
        return MHD_YES;
    }
    if (*upload_size) {
        if (!ctx->too_large && ctx->len + *upload_size <= h->rt.max_body) {
            char *nb = realloc(ctx->body, ctx->len + *upload_size + 1);
            if (!nb)
                return MHD_NO;
            ctx->body = nb;
            memcpy(ctx->body + ctx->len, upload_data, *upload_size);
            ctx->len += *upload_size;
            ctx->body[ctx->len] = '\0';
        } else {
            ctx->too_large = 1;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    /* Shut down as its request completed: closed at once, rather than after a handler that may
     * wait, all the while counted against libmicrohttpd's limit. */
    if (mark_answering(h, c, 1))
        return MHD_NO;
    struct vg_http_response resp = {.status = 500};
    /* The server's own refusals take the router's shape: JSON under /api/v1 (docs/api.md). A
     * body too large is refused before it costs a rate token, and a probe costs none. */
    if (ctx->too_large || (!is_probe(&h->rt, method, url) && !rate_ok(h))) {
        reply_text(&resp, url, ctx->too_large ? 413 : 429,
                   ctx->too_large ? "request body too large" : "too many requests");
        resp.allow[0] = '\0';
    } else {
        /* A probe does not queue behind the others: on a thread of its own (one per
         * connection), it answers while a scrape waits for the analyzer's lock. */
        int serial = !is_probe(&h->rt, method, url);
        if (serial)
            pthread_mutex_lock(&h->serial);
        vg_http_dispatch(&h->rt, method, url,
                         MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"),
                         ctx->body, ctx->len, &resp);
        if (serial)
            pthread_mutex_unlock(&h->serial);
    }
    note_response(h, c, method, url, resp.status);
    ctx->answered = 1;
    return respond(c, resp.status, resp.content_type, resp.body, resp.len, resp.allow);
}

/* Called when a request's first line has arrived: the context made here reaches on_completed
 * even when libmicrohttpd refuses the request before on_request sees it. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    struct conn_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx)
        snprintf(ctx->url, sizeof ctx->url, "%s", uri ? uri : "");
    return ctx;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    struct vg_http *h = cls;
    mark_answering(h, c, 0);
    struct conn_ctx *ctx = *con_cls;
    if (ctx && !ctx->answered) {
        /* libmicrohttpd answered this request itself, before on_request (a Content-Length it
         * cannot parse: 413; malformed headers: 400; ...): still counted, as every response
         * is. */
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
        if (ci && ci->http_status)
            note_response(h, c, "-", ctx->url, (int)ci->http_status);
    }
    if (ctx) {
        free(ctx->body);
        free(ctx);
        *con_cls = NULL;
    }
}

/* Shuts t down (conns_lock held): MHD then sees the socket end and closes the connection as if
 * the client had gone. No response is sent (the request is incomplete), as with MHD's own idle
 * timeout. */
static void cut_conn(struct vg_http *h, struct tracked_conn *t, int64_t now)
{
    shutdown(t->fd, SHUT_RDWR);
    t->cut = 1;
    t->cut_at_ms = now;
    t->deadline_ms = INT64_MAX; /* once is enough */
    h->live--;
}

/* Shuts down the connections that must go (conns_lock held), one at a time: first one whose
 * request is still arriving past its deadline (MHD's own timeout counts idle time only, so a
 * client sending a header line every few seconds would hold a connection for ever); then, while
 * more than h->max_conns are open, the one that has waited longest for a request of its own
 * (opened and sent none or part of one, or kept alive since its previous response) to make
 * room, provided it has waited ROOM_MIN_WAIT_MS.
 *
 * A limit per client address protects nothing on the loopback listener, where every client
 * (Prometheus, vigilctl, a health check) shares the local users' address. Closing whichever
 * connection waited longest, at once, was not enough either: with clients reconnecting in a
 * loop every connection was a few milliseconds old, and the one closed was as often a probe
 * whose request had not been read yet; and each one closed still counted against
 * libmicrohttpd's limit while its reconnection was a new one, so closing many at once filled
 * that limit and new connections, probes too, were refused. So one that is being answered is
 * never closed, nor one younger than ROOM_MIN_WAIT_MS: until older ones can be, connections
 * beyond h->max_conns stay open, up to libmicrohttpd's limit of twice as many (vg_http_start).
 * And no connection is shut down while another still closes: libmicrohttpd then holds at most
 * h->live + 1 connections, and a new one is refused only when 2 * max_conns - 1 others are
 * open. Runs for each new connection, each one closed and on the reaper's period. */
static void cut_due(struct vg_http *h, int64_t now)
{
    for (;;) {
        struct tracked_conn *late = NULL, *oldest = NULL;
        for (struct tracked_conn *t = h->conns; t; t = t->next) {
            if (t->cut && now - t->cut_at_ms < CLOSING_WAIT_MS)
                return;
            if (t->cut || t->answering)
                continue;
            if (now >= t->deadline_ms)
                late = t;
            if (now - t->waiting_since_ms >= ROOM_MIN_WAIT_MS &&
                (!oldest || t->waiting_since_ms <= oldest->waiting_since_ms))
                oldest = t;
        }
        if (late) {
            cut_conn(h, late, now);
            vg_warn("http connection closed: its request did not arrive in time", "timeout_ms=%lld",
                    (long long)h->request_timeout_ms);
        } else if (oldest && h->live > h->max_conns) {
            int64_t waited = now - oldest->waiting_since_ms;
            cut_conn(h, oldest, now);
            if (h->counts)
                atomic_fetch_add(&h->counts->conns_closed_for_room, 1);
            vg_warn("http connection closed to make room: it had no request being answered",
                    "waited_ms=%lld max_connections=%u", (long long)waited, h->max_conns);
        } else {
            return;
        }
    }
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct vg_http *h = cls;
    struct tracked_conn *t = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci || !(t = calloc(1, sizeof(*t))))
            return; /* untracked: MHD's idle timeout still applies */
        t->fd = ci->connect_fd;
        t->waiting_since_ms = vg_mono_ms();
        t->deadline_ms = t->waiting_since_ms + h->request_timeout_ms;
        pthread_mutex_lock(&h->conns_lock);
        t->next = h->conns;
        if (h->conns)
            h->conns->prev = t;
        h->conns = t;
        h->live++;
        cut_due(h, t->waiting_since_ms);
        pthread_mutex_unlock(&h->conns_lock);
        *socket_context = t;
        return;
    }
    if (!t)
        return;
    /* MHD closes the socket after this notification: once t is unlinked under the lock, the
     * reaper cannot shut down a descriptor that a new connection has reused. */
    pthread_mutex_lock(&h->conns_lock);
    if (!t->cut)
        h->live--;
    if (t->prev)
        t->prev->next = t->next;
    else
        h->conns = t->next;
    if (t->next)
        t->next->prev = t->prev;
    if (t->cut)
        cut_due(h, vg_mono_ms()); /* the next one may go */
    pthread_mutex_unlock(&h->conns_lock);
    free(t);
    *socket_context = NULL;
}

/* Runs cut_due on a period: a deadline passes, or a connection beyond h->max_conns reaches
 * ROOM_MIN_WAIT_MS, with no connection opening or closing. */
static void *reaper_main(void *arg)
{
    struct vg_http *h = arg;
    int64_t period = h->request_timeout_ms / 4;
    if (period < 10)
        period = 10;
    if (period > 1000)
        period = 1000;
    pthread_mutex_lock(&h->conns_lock);
    while (!h->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts); /* the condition's clock: see vg_http_start */
        ts.tv_sec += (time_t)(period / 1000);
        ts.tv_nsec += (long)(period % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->reaper_wake, &h->conns_lock, &ts);
        cut_due(h, vg_mono_ms());
    }
    pthread_mutex_unlock(&h->conns_lock);
    return NULL;
}

/* Read as the other secret files are (vg_secret_read): a mode that lets other local users read
 * the token, which is all that stands between them and the mutating routes, is warned about;
 * surrounding whitespace is no part of it, as vigilctl reads the same file; and the token is
 * registered so that no log line shows it. */
static int read_token(const char *path, char **out, char *err, size_t errlen)
{
    size_t len = 0;
    int rc = vg_secret_read(path, "http.token_file", VG_SECRET_TRIM_SPACE, out, &len, err, errlen);
    if (rc < 0)
        return rc;
    if (len < 16) {
        vg_secret_free(*out, len);
        *out = NULL;
        return vg_err(err, errlen, -EINVAL,
                      "http.token_file %s: the token must be at least 16 characters", path);
    }
    if (vg_secret_register(*out) < 0)
        vg_warn("too many secrets to scrub them all from log lines", "what=http.token_file");
    return 0;
}

static int parse_listen(const char *listen, struct sockaddr_in *sa, char *err, size_t errlen)
{
    char host[64];
    const char *colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= sizeof(host))
        return vg_err(err, errlen, -EINVAL, "http.listen '%s': expected ADDRESS:PORT", listen);
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    *sa = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (end == colon + 1 || *end || errno || port < 0 || port > 65535 ||
        inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return vg_err(err, errlen, -EINVAL,
                      "http.listen '%s': expected an IPv4 address and a port (0-65535), e.g. "
                      "127.0.0.1:9710",
                      listen);
    return 0;
}

/* The lowest port this process may listen on without CAP_NET_BIND_SERVICE:
 * net.ipv4.ip_unprivileged_port_start (1024 unless changed; 0 in many containers), or 0 when it
 * holds that capability (or capget fails: the listen itself then says). */
static long lowest_port(void)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
    if (syscall(SYS_capget, &h, d) != 0 ||
        (d[CAP_TO_INDEX(CAP_NET_BIND_SERVICE)].effective & CAP_TO_MASK(CAP_NET_BIND_SERVICE)))
        return 0;
    long start = 1024;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "re");
    if (f) {
        if (fscanf(f, "%ld", &start) != 1)
            start = 0;
        fclose(f);
    }
    return start;
}

int vg_http_check_cfg(const struct vg_http_cfg *cfg, char *err, size_t errlen)
{
    struct sockaddr_in sa;
    int rc = parse_listen(cfg->listen, &sa, err, errlen);
    /* The packaged unit grants the analyzer no capability (CapabilityBoundingSet=), and a start
     * as root that becomes `user` keeps none: a port below 1024 passed the check, and the start
     * then failed to listen, exit 1, restarted for ever. Checked as the process that listens
     * (the check as root runs this as `user`). */
    long port = ntohs(sa.sin_port), lowest;
    if (!rc && port && port < (lowest = lowest_port()))
        rc = vg_err(err, errlen, -EACCES,
                    "http.listen %s: port %ld needs CAP_NET_BIND_SERVICE, which the analyzer "
                    "lacks (its unit grants none): use a port of %ld or above "
                    "(net.ipv4.ip_unprivileged_port_start)",
                    cfg->listen, port, lowest);
    char *token = NULL;
    if (!rc && cfg->token_file && (rc = read_token(cfg->token_file, &token, err, errlen)) == 0)
        vg_secret_free(token, strlen(token));
    return rc;
}

int vg_http_start(struct vg_http **out, const struct vg_http_cfg *cfg,
                  const struct vg_http_route *routes, size_t n_routes, void *ud, char *err,
                  size_t errlen)
{
    struct sockaddr_in sa;
    int prc = parse_listen(cfg->listen, &sa, err, errlen);
    if (prc < 0)
        return prc;

    struct vg_http *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->rt.routes = routes;
    h->rt.n_routes = n_routes;
    h->rt.ud = ud;
    h->rt.max_body = cfg->max_body ? cfg->max_body : 65536;
    h->counts = cfg->counts;
    h->rate = cfg->rate_per_s;
    h->burst = cfg->rate_per_s > 1 ? cfg->rate_per_s : 1;
    h->tokens = h->burst;
    h->last_ms = vg_mono_ms();
    h->request_timeout_ms = cfg->request_timeout_ms ? cfg->request_timeout_ms : 10000;
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->serial, NULL);
    pthread_mutex_init(&h->conns_lock, NULL);
    /* On the monotonic clock, so that a wall-clock step cannot stall the reaper. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->reaper_wake, &ca);
    pthread_condattr_destroy(&ca);
    int rc;
    if (cfg->token_file && (rc = read_token(cfg->token_file, &h->rt.token, err, errlen)) < 0) {
        vg_http_stop(h);
        return rc;
    }
    /* cut_due keeps max_conns connections; libmicrohttpd refuses a new one only at twice as
     * many: room for new connections, a probe say, while those beyond max_conns have not waited
     * long enough to be closed, and while the one shut down has not closed yet. */
    h->max_conns = cfg->max_conns ? cfg->max_conns : 64;
    unsigned hard_limit = h->max_conns <= UINT_MAX / 2 ? 2 * h->max_conns : UINT_MAX;
    /* The logger goes first: MHD uses its own for whatever options come before it. A thread per
     * connection (at most hard_limit of them): with one thread for all, /healthz waited behind
     * any handler waiting for the analyzer's lock, and a liveness probe failed. MHD_USE_AUTO
     * makes those threads poll() (select() where there is no poll): with select(), MHD closed at
     * once every connection whose descriptor was FD_SETSIZE (1024) or more, so a process holding
     * that many refused every API connection, probes included, and http.max_connections above
     * about 970 could not be reached. */
    atomic_store(&h->starting, 1);
    h->d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                             MHD_USE_AUTO | MHD_USE_ERROR_LOG,
                         0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT,
                         hard_limit, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_NOTIFY_CONNECTION,
                         on_connection, h, MHD_OPTION_URI_LOG_CALLBACK, on_uri, h, MHD_OPTION_END);
    atomic_store(&h->starting, 0);
    if (!h->d) {
        int e = errno;
        vg_http_stop(h);
        return vg_err(err, errlen, e ? -e : -EADDRINUSE, "http.listen %s: cannot listen: %s",
                      cfg->listen, strerror(e ? e : EADDRINUSE));
    }
    if (pthread_create(&h->reaper, NULL, reaper_main, h) != 0) {
        vg_http_stop(h);
        return vg_err(err, errlen, -EAGAIN, "http.listen %s: cannot start a thread", cfg->listen);
    }
    h->reaper_started = 1;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_FLAGS);
    if (info && !(info->flags & MHD_USE_POLL))
        vg_warn("http server polls with select(): a connection whose descriptor is 1024 or more "
                "is refused (this libmicrohttpd was built without poll)",
                "max_connections=%u", h->max_conns);
    info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : (int)ntohs(sa.sin_port);
    *out = h;
    return 0;
}

int vg_http_port(const struct vg_http *h)
{
    return h->port;
}

void vg_http_stop(struct vg_http *h)
{
    if (!h)
        return;
    if (h->reaper_started) {
        pthread_mutex_lock(&h->conns_lock);
        h->stopping = 1;
        pthread_cond_signal(&h->reaper_wake);
        pthread_mutex_unlock(&h->conns_lock);
        pthread_join(h->reaper, NULL);
    }
    if (h->d)
        MHD_stop_daemon(h->d);
    if (h->rt.token)
        vg_secret_free(h->rt.token, strlen(h->rt.token));
    pthread_cond_destroy(&h->reaper_wake);
    pthread_mutex_destroy(&h->conns_lock);
    pthread_mutex_destroy(&h->serial);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
