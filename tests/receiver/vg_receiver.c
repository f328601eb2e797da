/* vigil-test-receiver: a small real HTTP server that records what webhooks send it.
 *
 * Tests run it as a separate process so that the webhook code talks to a genuine TCP peer: one
 * that can be absent, slow, failing or restarted. The demo uses --print to show alerts arriving.
 * One thread per connection, so a stalled answer (--stall-ms) holds only its own connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct opts {
    int port;
    const char *bind;
    const char *port_file;
    const char *out;
    long fail;
    int fail_status;
    long stall_ms;
    int print;
    size_t max_body;
    long retry_after;
};

/* Per-request state: the body as it arrives in chunks. */
struct req {
    char *body;
    size_t len, cap;
    size_t total; /* bytes received, including those beyond --max-body */
    int too_large;
};

static struct opts g_opt = {
    .bind = "127.0.0.1",
    .fail_status = 500,
    .max_body = 1 << 20,
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_stop_cv; /* CLOCK_MONOTONIC; wakes stalled answers at shutdown */
static int g_stopping;
static long g_nreq;
static FILE *g_out;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vigil-test-receiver [options]\n"
            "A test HTTP receiver for Vigil webhooks: records every request, can fail or stall.\n"
            "\n"
            "  --port N            port to listen on (default 0: an ephemeral port)\n"
            "  --bind ADDR         IPv4 or IPv6 address to bind (default 127.0.0.1)\n"
            "  --port-file PATH    write the port there once listening (atomically, via rename)\n"
            "  --out PATH          append one JSON line per request: recv_ms, method, path,\n"
            "                      headers (lower-case names), body (parsed JSON if valid, else a\n"
            "                      string), body_bytes, status (what was answered)\n"
            "  --fail N            answer the first N requests with --fail-status\n"
            "  --fail-status CODE  status for --fail (default 500)\n"
            "  --retry-after S     add 'Retry-After: S' to --fail answers\n"
            "  --stall-ms MS       wait MS before answering each request\n"
            "  --print             print one human-readable line per request to stdout\n"
            "  --max-body BYTES    answer 413 to larger bodies (default 1048576)\n"
            "  --help              show this help\n"
            "\n"
            "Stops cleanly on SIGTERM or SIGINT.\n");
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* jansson refuses invalid UTF-8; the receiver must still record whatever arrived. */
static json_t *lossy_string(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    if (j)
        return j;
    char *c = malloc(n + 1);
    if (!c)
        return json_null();
    for (size_t i = 0; i < n; i++)
        c[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    c[n] = '\0';
    j = json_stringn(c, n);
    free(c);
    return j ? j : json_null();
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    json_t *h = cls;
    char name[256];
    size_t i = 0;
    /* HTTP header names are case-insensitive; one spelling makes the file easy to query. */
    for (; key[i] && i + 1 < sizeof(name); i++)
        name[i] = (char)((key[i] >= 'A' && key[i] <= 'Z') ? key[i] + 32 : key[i]);
    name[i] = '\0';
    json_t *prev = json_object_get(h, name);
    if (prev && json_is_string(prev)) {
        char *joined = NULL;
        if (asprintf(&joined, "%s, %s", json_string_value(prev), value ? value : "") >= 0) {
            json_object_set_new(h, name, lossy_string(joined, strlen(joined)));
            free(joined);
        }
    } else {
        json_object_set_new(h, name, value ? lossy_string(value, strlen(value)) : json_null());
    }
    return MHD_YES;
}

static void fmt_num(char *buf, size_t n, json_t *v, const char *fmt)
{
    if (json_is_number(v))
        snprintf(buf, n, fmt, json_number_value(v));
    else
        snprintf(buf, n, "null");
}

static void print_line(int64_t recv_ms, const char *method, const char *path, json_t *body,
                       size_t bytes, int status)
{
    char ts[32];
    time_t t = (time_t)(recv_ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    size_t n = strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03d", (int)(recv_ms % 1000));

    char answered[48] = "";
    if (status != 200)
        snprintf(answered, sizeof(answered), "  (answered %d)", status);
    const char *st = json_string_value(json_object_get(body, "status"));
    if (st && (strcmp(st, "firing") == 0 || strcmp(st, "resolved") == 0)) {
        char score[32], value[32];
        fmt_num(score, sizeof(score), json_object_get(body, "score"), "%.3f");
        fmt_num(value, sizeof(value), json_object_get(body, "value"), "%g");
        const char *host = json_string_value(json_object_get(body, "host"));
        const char *series = json_string_value(json_object_get(body, "series"));
        printf("[%s] %-7s %s %s score=%s value=%s%s\n", ts,
               strcmp(st, "firing") == 0 ? "FIRING" : "RESOLVED", host ? host : "?",
               series ? series : "?", score, value, answered);
    } else {
        printf("[%s] %s %s %zu bytes%s\n", ts, method, path, bytes, answered);
    }
    fflush(stdout);
}

/* Called with g_mu held so lines from concurrent connections never interleave. */
static void record(struct MHD_Connection *c, const char *method, const char *path,
                   const struct req *r, int status)
{
    int64_t now = wall_ms();
    json_t *body;
    if (r->too_large) {
        body = json_null();
    } else {
        json_error_t jerr;
        body = r->len ? json_loadb(r->body, r->len, JSON_DECODE_ANY, &jerr) : NULL;
        if (!body)
            body = lossy_string(r->body ? r->body : "", r->len);
    }
    if (g_out) {
        json_t *headers = json_object();
        MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, headers);
        json_t *line = json_pack("{s:I,s:s,s:s,s:o,s:O,s:I,s:i}", "recv_ms", (json_int_t)now,
                                 "method", method, "path", path, "headers", headers, "body", body,
                                 "body_bytes", (json_int_t)r->total, "status", status);
        char *s = line ? json_dumps(line, JSON_COMPACT) : NULL;
        if (s) {
            fprintf(g_out, "%s\n", s);
            fflush(g_out);
        } else {
            fprintf(stderr, "vigil-test-receiver: cannot encode request record\n");
        }
        free(s);
        json_decref(line);
    }
    if (g_opt.print)
        print_line(now, method, path, body, r->total, status);
    json_decref(body);
}

/* Holds this connection's answer for --stall-ms, ending early when the receiver shuts down. */
static void stall(void)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += g_opt.stall_ms / 1000;
    until.tv_nsec += (g_opt.stall_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&g_mu);
    while (!g_stopping) {
        if (pthread_cond_timedwait(&g_stop_cv, &g_mu, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&g_mu);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r)
            return MHD_NO;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        r->total += n;
        if (!r->too_large && r->len + n > g_opt.max_body) {
            r->too_large = 1;
            free(r->body);
            r->body = NULL;
            r->len = r->cap = 0;
        }
        if (!r->too_large) {
            if (r->len + n > r->cap) {
                size_t cap = r->cap ? r->cap : 4096;
                while (cap < r->len + n)
                    cap *= 2;
                char *b = realloc(r->body, cap);
                if (!b)
                    return MHD_NO;
                r->body = b;
                r->cap = cap;
            }
            memcpy(r->body + r->len, upload, n);
            r->len += n;
        }
        *upload_size = 0;
        return MHD_YES;
    }

    pthread_mutex_lock(&g_mu);
    long seq = ++g_nreq;
    int status = r->too_large ? 413 : seq <= g_opt.fail ? g_opt.fail_status : 200;
    record(c, method, url, r, status);
    pthread_mutex_unlock(&g_mu);

    if (g_opt.stall_ms > 0)
        stall();

    char text[128];
    if (status == 200)
        snprintf(text, sizeof(text), "{\"ok\":true,\"request\":%ld}\n", seq);
    else if (status == 413)
        snprintf(text, sizeof(text), "{\"error\":\"body larger than %zu bytes\"}\n",
                 g_opt.max_body);
    else
        snprintf(text, sizeof(text), "{\"error\":\"injected failure\",\"request\":%ld}\n", seq);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (g_opt.retry_after > 0 && status != 200 && status != 413) {
        char ra[32];
        snprintf(ra, sizeof(ra), "%ld", g_opt.retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct req *r = *con_cls;
    if (r) {
        free(r->body);
        free(r);
        *con_cls = NULL;
    }
}

static int write_port_file(const char *path, unsigned port)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -errno;
    int bad = fprintf(f, "%u\n", port) < 0;
    bad |= fclose(f) != 0;
    /* rename() is atomic: a reader polling for the file never sees it half written. */
    if (bad || rename(tmp, path) != 0) {
        int e = errno ? errno : EIO;
        unlink(tmp);
        return -e;
    }
    return 0;
}

int main(int argc, char **argv)
{
    enum {
        O_PORT = 1,
        O_BIND,
        O_PORT_FILE,
        O_OUT,
        O_FAIL,
        O_FAIL_STATUS,
        O_STALL,
        O_PRINT,
        O_MAX_BODY,
        O_RETRY_AFTER,
        O_HELP
    };
    static const struct option longopts[] = {
        {"port", required_argument, NULL, O_PORT},
        {"bind", required_argument, NULL, O_BIND},
        {"port-file", required_argument, NULL, O_PORT_FILE},
        {"out", required_argument, NULL, O_OUT},
        {"fail", required_argument, NULL, O_FAIL},
        {"fail-status", required_argument, NULL, O_FAIL_STATUS},
        {"retry-after", required_argument, NULL, O_RETRY_AFTER},
        {"stall-ms", required_argument, NULL, O_STALL},
        {"print", no_argument, NULL, O_PRINT},
        {"max-body", required_argument, NULL, O_MAX_BODY},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    int c;
    long v;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case O_PORT:
            bad = parse_long(optarg, 0, 65535, &v);
            g_opt.port = (int)v;
            break;
        case O_BIND:
            g_opt.bind = optarg;
            break;
        case O_PORT_FILE:
            g_opt.port_file = optarg;
            break;
        case O_OUT:
            g_opt.out = optarg;
            break;
        case O_FAIL:
            bad = parse_long(optarg, 0, INT32_MAX, &g_opt.fail);
            break;
        case O_FAIL_STATUS:
            bad = parse_long(optarg, 100, 599, &v);
            g_opt.fail_status = (int)v;
            break;
        case O_RETRY_AFTER:
            bad = parse_long(optarg, 0, 86400, &g_opt.retry_after);
            break;
        case O_STALL:
            bad = parse_long(optarg, 0, 3600000, &g_opt.stall_ms);
            break;
        case O_PRINT:
            g_opt.print = 1;
            break;
        case O_MAX_BODY:
            bad = parse_long(optarg, 0, INT32_MAX, &v);
            g_opt.max_body = (size_t)v;
            break;
        case O_HELP:
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (bad) {
            const char *name = "?";
            for (const struct option *o = longopts; o->name; o++) {
                if (o->val == c)
                    name = o->name;
            }
            fprintf(stderr, "vigil-test-receiver: invalid value for --%s: %s\n", name, optarg);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vigil-test-receiver: unexpected argument: %s\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
    if (strchr(g_opt.bind, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)g_opt.port);
        if (inet_pton(AF_INET6, g_opt.bind, &a->sin6_addr) != 1) {
            fprintf(stderr, "vigil-test-receiver: --bind: not an IPv6 address: %s\n", g_opt.bind);
            return 2;
        }
        flags |= MHD_USE_IPv6;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)g_opt.port);
        if (inet_pton(AF_INET, g_opt.bind, &a->sin_addr) != 1) {
            fprintf(stderr, "vigil-test-receiver: --bind: not an IPv4 address: %s\n", g_opt.bind);
            return 2;
        }
    }

    if (g_opt.out) {
        g_out = fopen(g_opt.out, "a");
        if (!g_out) {
            fprintf(stderr, "vigil-test-receiver: cannot open %s: %s\n", g_opt.out,
                    strerror(errno));
            return 1;
        }
    }

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g_stop_cv, &ca);
    pthread_condattr_destroy(&ca);

    /* Blocked before MHD starts its threads, which inherit the mask, so sigwait() below is the
     * only place these signals are taken. */
    sigset_t stopsigs;
    sigemptyset(&stopsigs);
    sigaddset(&stopsigs, SIGTERM);
    sigaddset(&stopsigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stopsigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)g_opt.port, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &ss,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "vigil-test-receiver: cannot listen on %s port %d\n", g_opt.bind,
                g_opt.port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = info ? info->port : (unsigned)g_opt.port;
    fprintf(stderr, "vigil-test-receiver: listening on %s port %u\n", g_opt.bind, port);
    if (g_opt.port_file) {
        int rc = write_port_file(g_opt.port_file, port);
        if (rc < 0) {
            fprintf(stderr, "vigil-test-receiver: cannot write %s: %s\n", g_opt.port_file,
                    strerror(-rc));
            MHD_stop_daemon(d);
            return 1;
        }
    }

    int sig = 0;
    while (sigwait(&stopsigs, &sig) != 0)
        ;
    pthread_mutex_lock(&g_mu);
    g_stopping = 1;
    pthread_cond_broadcast(&g_stop_cv);
    pthread_mutex_unlock(&g_mu);
    MHD_stop_daemon(d);
    if (g_opt.port_file)
        unlink(g_opt.port_file);
    if (g_out)
        fclose(g_out);
    fprintf(stderr, "vigil-test-receiver: stopped by signal %d after %ld requests\n", sig, g_nreq);
    return 0;
}
