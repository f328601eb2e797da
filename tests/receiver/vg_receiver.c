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
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
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
    int listen_fd; /* --listen-fd: a socket bound already (-1: bind one) */
    const char *bind;
    const char *port_file;
    const char *out;
    long fail;
    int fail_status;
    const char *fail_match; /* --fail-match: bodies holding this fail, every time */
    long stall_ms;
    int print;
    size_t max_body;
    long retry_after;
    int ok_status;
    const char *path;
    unsigned char secret[4096];
    size_t secret_len;
    int have_secret;
    long max_age_s; /* --max-age: signed timestamps further than this from now are refused */
    int raw_body;
    int echo_body;
    int echo_path;
    const char *tls_cert, *tls_key; /* PEM files: serve HTTPS */
    char *answer;                   /* --answer-file: the body of successful answers */
    const char *location;           /* --location: a Location header on failure answers */
};

/* Per-request state: the body as it arrives in chunks. */
struct req {
    char *body;
    size_t len, cap;
    size_t total; /* bytes received, including those beyond --max-body */
    int too_large;
};

static struct opts g_opt = {
    .listen_fd = -1,
    .bind = "127.0.0.1",
    .fail_status = 500,
    .max_body = 1 << 20,
    .ok_status = 200,
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_stop_cv; /* CLOCK_MONOTONIC; wakes stalled answers at shutdown */
static int g_stopping;
static long g_nreq;
static FILE *g_out;

/* A whole (small) file, NUL-terminated; NULL on failure. */
static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(65537);
    size_t n = buf ? fread(buf, 1, 65536, f) : 0;
    fclose(f);
    if (!buf || n == 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vigil-test-receiver [options]\n"
            "A test HTTP receiver for Vigil webhooks: records every request, can fail or stall.\n"
            "\n"
            "  --port N            port to listen on (default 0: an ephemeral port)\n"
            "  --listen-fd FD      listen on this inherited socket, bound already (a test keeps\n"
            "                      its port refusing connections until the receiver starts)\n"
            "  --bind ADDR         IPv4 or IPv6 address to bind (default 127.0.0.1)\n"
            "  --port-file PATH    write the port there once listening (atomically, via rename)\n"
            "  --out PATH          append one JSON line per request: recv_ms, method, path,\n"
            "                      headers (lower-case names), body (parsed JSON if valid, else a\n"
            "                      string), body_bytes, status (what was answered)\n"
            "  --fail N            answer the first N requests with --fail-status\n"
            "  --fail-status CODE  status for --fail (default 500)\n"
            "  --fail-match TEXT   also answer --fail-status to every request whose body holds\n"
            "                      TEXT (e.g. a fingerprint: one alert failing for good)\n"
            "  --retry-after S     add 'Retry-After: S' to --fail answers\n"
            "  --stall-ms MS       wait MS before answering each request\n"
            "  --print             print one human-readable line per request to stdout\n"
            "  --max-body BYTES    answer 413 to larger bodies (default 1048576)\n"
            "  --ok-status CODE    status of a successful answer (default 200; PagerDuty: 202)\n"
            "  --path PATH         answer 404 to requests for any other path\n"
            "  --hmac-secret-file PATH  verify X-Vigil-Signature with this key: answer 401 when\n"
            "                      it is missing or wrong; records \"signature\": valid|invalid|\n"
            "                      missing|stale\n"
            "  --max-age S         with --hmac-secret-file: a request whose X-Vigil-Timestamp\n"
            "                      is more than S seconds from now is refused (401, \"stale\")\n"
            "  --raw-body          also record the body exactly as received, as \"body_raw\"\n"
            "  --echo-body         failure answers quote the request body, as some services do\n"
            "  --echo-path         failure answers quote the request's path, as many web\n"
            "                      frameworks' error pages do\n"
            "  --tls-cert FILE     serve HTTPS with this PEM certificate (and --tls-key)\n"
            "  --tls-key FILE      the certificate's PEM private key\n"
            "  --answer-file FILE  successful answers send this file's content (another\n"
            "                      service's JSON, to stand in for it) instead of {\"ok\":true}\n"
            "  --location URL      add 'Location: URL' to --fail answers (with a 3xx\n"
            "                      --fail-status: a receiver that moved)\n"
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
    if (status != g_opt.ok_status)
        snprintf(answered, sizeof(answered), "  (answered %d)", status);
    const char *st = json_string_value(json_object_get(body, "status"));
    const char *action = json_string_value(json_object_get(body, "event_action"));
    const char *text = json_string_value(json_object_get(body, "text"));
    if (json_is_array(body) && json_array_size(body) > 0) {
        /* Alertmanager: an alert is resolved once its endsAt has passed. */
        size_t i;
        json_t *a;
        json_array_foreach(body, i, a)
        {
            json_t *l = json_object_get(a, "labels");
            const char *ends = json_string_value(json_object_get(a, "endsAt"));
            char now[32];
            time_t tn = (time_t)(recv_ms / 1000);
            struct tm tu;
            gmtime_r(&tn, &tu);
            strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%S", &tu);
            int resolved = ends && strncmp(ends, now, 19) <= 0;
            const char *host = json_string_value(json_object_get(l, "host"));
            const char *series = json_string_value(json_object_get(l, "series"));
            printf("[%s] AM %-8s %s %s%s\n", ts, resolved ? "RESOLVED" : "FIRING",
                   host ? host : "?", series ? series : "?", answered);
        }
    } else if (action) {
        json_t *p = json_object_get(body, "payload");
        const char *src = json_string_value(json_object_get(p, "source"));
        const char *comp = json_string_value(json_object_get(p, "component"));
        const char *key = json_string_value(json_object_get(body, "dedup_key"));
        printf("[%s] PD %-8s %s %s dedup_key=%s%s\n", ts, action, src ? src : "", comp ? comp : "",
               key ? key : "?", answered);
    } else if (text && json_object_get(body, "blocks")) {
        printf("[%s] SLACK %s%s\n", ts, text, answered);
    } else if (st && (strcmp(st, "firing") == 0 || strcmp(st, "resolved") == 0)) {
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
                   const struct req *r, int status, const char *signature)
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
        if (line && signature)
            json_object_set_new(line, "signature", json_string(signature));
        if (line && g_opt.raw_body && !r->too_large)
            json_object_set_new(line, "body_raw", lossy_string(r->body ? r->body : "", r->len));
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

/* Checks X-Vigil-Signature the way a receiver should: recompute HMAC-SHA256 of the timestamp as
 * sent, a dot and the exact bytes received, compare in constant time (CRYPTO_memcmp), never with
 * strcmp, whose early exit tells an attacker how much of a forged signature was right; then, with
 * --max-age, refuse a request signed too long ago (a replay). Done independently of vg_hmac so
 * that the two implementations check each other. */
static const char *check_signature(struct MHD_Connection *c, const struct req *r)
{
    const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Vigil-Signature");
    const char *ts = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Vigil-Timestamp");
    if (!sig || !ts)
        return "missing";
    size_t tl = strlen(ts);
    unsigned char *msg = malloc(tl + 1 + r->len + 1);
    if (!msg)
        return "invalid";
    memcpy(msg, ts, tl);
    msg[tl] = '.';
    if (r->len)
        memcpy(msg + tl + 1, r->body, r->len);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    const unsigned char *ok =
        HMAC(EVP_sha256(), g_opt.secret, (int)g_opt.secret_len, msg, tl + 1 + r->len, md, &mdlen);
    free(msg);
    if (!ok)
        return "invalid";
    char want[7 + 2 * EVP_MAX_MD_SIZE + 1] = "sha256=";
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(want + 7 + 2 * i, 3, "%02x", md[i]);
    size_t wl = 7 + 2 * (size_t)mdlen;
    if (strlen(sig) != wl || CRYPTO_memcmp(sig, want, wl) != 0)
        return "invalid";
    if (g_opt.max_age_s > 0) {
        char *end;
        errno = 0;
        long long t = strtoll(ts, &end, 10);
        long long now = (long long)time(NULL);
        if (errno || end == ts || *end || t < now - g_opt.max_age_s || t > now + g_opt.max_age_s)
            return "stale";
    }
    return "valid";
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

    const char *signature = g_opt.have_secret && !r->too_large ? check_signature(c, r) : NULL;
    pthread_mutex_lock(&g_mu);
    long seq = ++g_nreq;
    int status;
    if (r->too_large)
        status = 413;
    else if (g_opt.path && strcmp(url, g_opt.path) != 0)
        status = 404;
    else if (signature && strcmp(signature, "valid") != 0)
        status = 401;
    else if (seq <= g_opt.fail)
        status = g_opt.fail_status;
    else if (g_opt.fail_match && r->body &&
             memmem(r->body, r->len, g_opt.fail_match, strlen(g_opt.fail_match)))
        status = g_opt.fail_status;
    else
        status = g_opt.ok_status;
    record(c, method, url, r, status, signature);
    pthread_mutex_unlock(&g_mu);

    if (g_opt.stall_ms > 0)
        stall();

    char text[128];
    char *owned = NULL;
    int ok = status == g_opt.ok_status;
    if (ok)
        snprintf(text, sizeof(text), "{\"ok\":true,\"request\":%ld}\n", seq);
    else if (status == 413)
        snprintf(text, sizeof(text), "{\"error\":\"body larger than %zu bytes\"}\n",
                 g_opt.max_body);
    else if (status == 404)
        snprintf(text, sizeof(text), "{\"error\":\"no such path\",\"request\":%ld}\n", seq);
    else if (status == 401)
        snprintf(text, sizeof(text), "{\"error\":\"%s signature\",\"request\":%ld}\n",
                 signature ? signature : "bad", seq);
    else
        snprintf(text, sizeof(text), "{\"error\":\"injected failure\",\"request\":%ld}\n", seq);
    if (!ok && status != 413 && g_opt.echo_body) {
        if (asprintf(&owned, "{\"error\":\"injected failure\",\"request\":%ld,\"echo\":%.*s}\n",
                     seq, (int)r->len, r->body ? r->body : "") < 0)
            owned = NULL;
    }
    if (!owned && !ok && status != 413 && g_opt.echo_path) {
        if (asprintf(&owned, "{\"error\":\"injected failure\",\"request\":%ld,\"path\":\"%s\"}\n",
                     seq, url) < 0)
            owned = NULL;
    }
    if (ok && g_opt.answer && asprintf(&owned, "%s", g_opt.answer) < 0)
        owned = NULL;
    struct MHD_Response *resp =
        owned ? MHD_create_response_from_buffer(strlen(owned), owned, MHD_RESPMEM_MUST_FREE)
              : MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        free(owned);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (g_opt.retry_after > 0 && !ok && status != 413) {
        char ra[32];
        snprintf(ra, sizeof(ra), "%ld", g_opt.retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    if (g_opt.location && !ok && status == g_opt.fail_status)
        MHD_add_response_header(resp, "Location", g_opt.location);
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

/* The key is the file's content without surrounding whitespace, as Vigil reads it. */
static int read_secret(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(g_opt.secret, 1, sizeof(g_opt.secret), f);
    fclose(f);
    size_t b = 0;
    while (b < n && (g_opt.secret[b] == ' ' || g_opt.secret[b] == '\t' || g_opt.secret[b] == '\n' ||
                     g_opt.secret[b] == '\r'))
        b++;
    memmove(g_opt.secret, g_opt.secret + b, n - b);
    n -= b;
    while (n > 0 && (g_opt.secret[n - 1] == '\n' || g_opt.secret[n - 1] == '\r' ||
                     g_opt.secret[n - 1] == ' ' || g_opt.secret[n - 1] == '\t'))
        n--;
    if (n == 0)
        return -1;
    g_opt.secret_len = n;
    g_opt.have_secret = 1;
    return 0;
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
        O_LISTEN_FD,
        O_BIND,
        O_PORT_FILE,
        O_OUT,
        O_FAIL,
        O_FAIL_MATCH,
        O_FAIL_STATUS,
        O_STALL,
        O_PRINT,
        O_MAX_BODY,
        O_RETRY_AFTER,
        O_OK_STATUS,
        O_PATH,
        O_HMAC_SECRET_FILE,
        O_MAX_AGE,
        O_RAW_BODY,
        O_ECHO_BODY,
        O_ECHO_PATH,
        O_TLS_CERT,
        O_TLS_KEY,
        O_ANSWER_FILE,
        O_LOCATION,
        O_HELP
    };
    static const struct option longopts[] = {
        {"port", required_argument, NULL, O_PORT},
        {"listen-fd", required_argument, NULL, O_LISTEN_FD},
        {"bind", required_argument, NULL, O_BIND},
        {"port-file", required_argument, NULL, O_PORT_FILE},
        {"out", required_argument, NULL, O_OUT},
        {"fail", required_argument, NULL, O_FAIL},
        {"fail-match", required_argument, NULL, O_FAIL_MATCH},
        {"fail-status", required_argument, NULL, O_FAIL_STATUS},
        {"retry-after", required_argument, NULL, O_RETRY_AFTER},
        {"stall-ms", required_argument, NULL, O_STALL},
        {"print", no_argument, NULL, O_PRINT},
        {"max-body", required_argument, NULL, O_MAX_BODY},
        {"ok-status", required_argument, NULL, O_OK_STATUS},
        {"path", required_argument, NULL, O_PATH},
        {"hmac-secret-file", required_argument, NULL, O_HMAC_SECRET_FILE},
        {"max-age", required_argument, NULL, O_MAX_AGE},
        {"raw-body", no_argument, NULL, O_RAW_BODY},
        {"echo-body", no_argument, NULL, O_ECHO_BODY},
        {"echo-path", no_argument, NULL, O_ECHO_PATH},
        {"tls-cert", required_argument, NULL, O_TLS_CERT},
        {"tls-key", required_argument, NULL, O_TLS_KEY},
        {"answer-file", required_argument, NULL, O_ANSWER_FILE},
        {"location", required_argument, NULL, O_LOCATION},
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
        case O_LISTEN_FD:
            bad = parse_long(optarg, 0, 65535, &v);
            g_opt.listen_fd = (int)v;
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
        case O_FAIL_MATCH:
            g_opt.fail_match = optarg;
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
        case O_OK_STATUS:
            bad = parse_long(optarg, 200, 299, &v);
            g_opt.ok_status = (int)v;
            break;
        case O_PATH:
            g_opt.path = optarg;
            break;
        case O_HMAC_SECRET_FILE:
            bad = read_secret(optarg);
            break;
        case O_MAX_AGE:
            bad = parse_long(optarg, 1, 86400 * 365, &g_opt.max_age_s);
            break;
        case O_RAW_BODY:
            g_opt.raw_body = 1;
            break;
        case O_ECHO_BODY:
            g_opt.echo_body = 1;
            break;
        case O_ECHO_PATH:
            g_opt.echo_path = 1;
            break;
        case O_TLS_CERT:
            g_opt.tls_cert = optarg;
            break;
        case O_TLS_KEY:
            g_opt.tls_key = optarg;
            break;
        case O_LOCATION:
            g_opt.location = optarg;
            break;
        case O_ANSWER_FILE:
            free(g_opt.answer);
            g_opt.answer = read_all(optarg);
            bad = !g_opt.answer;
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

    char *cert = NULL, *key = NULL;
    if (!g_opt.tls_cert != !g_opt.tls_key) {
        fprintf(stderr, "vigil-test-receiver: --tls-cert and --tls-key go together\n");
        return 2;
    }
    if (g_opt.tls_cert) {
        if (!(cert = read_all(g_opt.tls_cert)) || !(key = read_all(g_opt.tls_key))) {
            fprintf(stderr, "vigil-test-receiver: cannot read %s or %s\n", g_opt.tls_cert,
                    g_opt.tls_key);
            return 1;
        }
        flags |= MHD_USE_TLS;
    }
    struct MHD_OptionItem tls_opts[] = {
        {cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, key},
        {MHD_OPTION_END, 0, NULL},
    };
    if (g_opt.listen_fd >= 0) {
        /* Bound by the test (its port refused connections until now): listen on it. */
        struct sockaddr_storage bound;
        socklen_t blen = sizeof(bound);
        if (listen(g_opt.listen_fd, 64) != 0 ||
            getsockname(g_opt.listen_fd, (struct sockaddr *)&bound, &blen) != 0) {
            fprintf(stderr, "vigil-test-receiver: --listen-fd %d: %s\n", g_opt.listen_fd,
                    strerror(errno));
            return 1;
        }
        g_opt.port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                       : ((struct sockaddr_in *)&bound)->sin_port);
    }
    struct MHD_Daemon *d =
        g_opt.listen_fd >= 0
            ? MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_LISTEN_SOCKET,
                               (MHD_socket)g_opt.listen_fd, MHD_OPTION_NOTIFY_COMPLETED,
                               on_completed, NULL, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END)
            : MHD_start_daemon(flags, (uint16_t)g_opt.port, NULL, NULL, on_request, NULL,
                               MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
                               NULL, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "vigil-test-receiver: cannot listen on %s port %d\n", g_opt.bind,
                g_opt.port);
        return 1;
    }
    const union MHD_DaemonInfo *info =
        g_opt.listen_fd >= 0 ? NULL : MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
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
    free(cert);
    free(key);
    if (g_opt.port_file)
        unlink(g_opt.port_file);
    if (g_out)
        fclose(g_out);
    fprintf(stderr, "vigil-test-receiver: stopped by signal %d after %ld requests\n", sig, g_nreq);
    return 0;
}
