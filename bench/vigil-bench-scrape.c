/* vigil-bench-scrape: a minimal Prometheus-style scraper for bench/agent-overhead.
 *
 * GETs http://HOST:PORT/PATH on a fixed grid (one connection per scrape, HTTP/1.0, no
 * compression: node_exporter's cheapest way to answer, so the comparison does not inflate its
 * cost), counts the samples in each answer (lines that are neither empty nor '#' comments) and,
 * when it stops (after --count scrapes, --duration-s seconds, or on SIGTERM/SIGINT), prints one
 * summary line:
 *
 *   scrapes=N ok=N failed=N samples_last=N samples_min=N samples_max=N node_samples_last=N
 *   bytes_last=N latency_ms_avg=X latency_ms_max=X
 *
 * node_samples counts the samples whose name starts with "node_" but not "node_scrape_" (the
 * host's own metrics, without node_exporter's Go runtime, process and per-collector
 * self-metrics). --dump FILE writes the body of the last good answer there (the benchmark
 * uses it to read netdata's /api/v1/charts).
 *
 * It is written in C rather than as a curl loop so that the scraper itself stays cheap and
 * does not fork a process per second next to the processes being measured. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct result {
    size_t bytes; /* body bytes */
    long samples; /* sample lines in the body */
    long node;    /* of which host metrics (node_*, not node_scrape_*) */
};

/* One scrape. Returns 0 on an HTTP 200 answer, -1 otherwise (reason in err). */
static int scrape(const struct sockaddr_in *addr, const char *host, const char *path,
                  const char *dump, struct result *res, char *err, size_t errlen)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0) {
        snprintf(err, errlen, "connect: %s", strerror(errno));
        close(fd);
        return -1;
    }
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: vigil-bench-scrape\r\n"
                     "Accept: text/plain;version=0.0.4\r\nConnection: close\r\n\r\n",
                     path, host);
    if (n < 0 || (size_t)n >= sizeof(req) || write(fd, req, (size_t)n) != n) {
        snprintf(err, errlen, "sending the request failed");
        close(fd);
        return -1;
    }
    size_t cap = 1 << 18, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (;;) {
        if (len + 65536 > cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                close(fd);
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "read: %s", strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    int status = 0;
    if (sscanf(buf, "HTTP/%*d.%*d %d", &status) != 1 || status != 200) {
        snprintf(err, errlen, "HTTP status %d", status);
        free(buf);
        return -1;
    }
    char *body = strstr(buf, "\r\n\r\n");
    if (!body) {
        snprintf(err, errlen, "no end of headers");
        free(buf);
        return -1;
    }
    body += 4;
    res->bytes = len - (size_t)(body - buf);
    res->samples = res->node = 0;
    if (dump) {
        FILE *f = fopen(dump, "w");
        if (f) {
            fwrite(body, 1, res->bytes, f);
            fclose(f);
        }
    }
    for (char *p = body; *p;) {
        char *nl = strchr(p, '\n');
        if (*p != '#' && *p != '\n' && *p != '\r') {
            res->samples++;
            if (strncmp(p, "node_", 5) == 0 && strncmp(p, "node_scrape_", 12) != 0)
                res->node++;
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    free(buf);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: vigil-bench-scrape --port PORT [--host 127.0.0.1] [--path /metrics]\n"
               "                          [--interval-ms 1000] [--count N] [--duration-s S]\n"
               "                          [--dump FILE] [--quiet]\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'H'},  {"port", required_argument, NULL, 'p'},
        {"path", required_argument, NULL, 'P'},  {"interval-ms", required_argument, NULL, 'i'},
        {"count", required_argument, NULL, 'n'}, {"duration-s", required_argument, NULL, 'd'},
        {"dump", required_argument, NULL, 'D'},  {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    const char *host = "127.0.0.1", *path = "/metrics", *dump = NULL;
    long port = 0, interval_ms = 1000, count = 0, duration_s = 0;
    int quiet = 0, opt;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'H':
            host = optarg;
            break;
        case 'p':
            port = strtol(optarg, NULL, 10);
            break;
        case 'P':
            path = optarg;
            break;
        case 'i':
            interval_ms = strtol(optarg, NULL, 10);
            break;
        case 'n':
            count = strtol(optarg, NULL, 10);
            break;
        case 'd':
            duration_s = strtol(optarg, NULL, 10);
            break;
        case 'D':
            dump = optarg;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (port <= 0 || port > 65535 || interval_ms < 1 || count < 0 || duration_s < 0) {
        usage(stderr);
        return 2;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "vigil-bench-scrape: --host must be an IPv4 address\n");
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: the sleep must end */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    long scrapes = 0, ok = 0, failed = 0, s_last = 0, s_min = -1, s_max = 0, n_last = 0;
    size_t b_last = 0;
    double lat_sum = 0, lat_max = 0;
    int64_t start = mono_ns(), next = start, step = (int64_t)interval_ms * 1000000;
    int64_t end = duration_s ? start + (int64_t)duration_s * 1000000000 : INT64_MAX;
    while (!g_stop && (!count || scrapes < count) && mono_ns() < end) {
        struct result r = {0};
        char err[256] = "";
        int64_t t0 = mono_ns();
        scrapes++;
        if (scrape(&addr, host, path, dump, &r, err, sizeof(err)) == 0) {
            ok++;
            s_last = r.samples;
            n_last = r.node;
            b_last = r.bytes;
            if (s_min < 0 || r.samples < s_min)
                s_min = r.samples;
            if (r.samples > s_max)
                s_max = r.samples;
            double ms = (double)(mono_ns() - t0) / 1e6;
            lat_sum += ms;
            if (ms > lat_max)
                lat_max = ms;
        } else {
            failed++;
            if (!quiet && (failed <= 3 || failed % 60 == 0))
                fprintf(stderr, "vigil-bench-scrape: scrape %ld failed: %s\n", scrapes, err);
        }
        if (count && scrapes >= count)
            break;
        /* Fixed grid; after an overrun skip the missed slots instead of bursting. */
        next += step;
        int64_t now = mono_ns();
        if (next <= now)
            next = now + step - (now - start) % step;
        struct timespec ts = {.tv_sec = next / 1000000000, .tv_nsec = next % 1000000000};
        while (!g_stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
        }
    }
    printf("scrapes=%ld ok=%ld failed=%ld samples_last=%ld samples_min=%ld samples_max=%ld "
           "node_samples_last=%ld bytes_last=%zu latency_ms_avg=%.2f latency_ms_max=%.2f\n",
           scrapes, ok, failed, s_last, s_min < 0 ? 0 : s_min, s_max, n_last, b_last,
           ok ? lat_sum / (double)ok : 0.0, lat_max);
    fflush(stdout);
    return ok > 0 ? 0 : 1;
}
