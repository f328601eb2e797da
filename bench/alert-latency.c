/* bench/alert-latency: how long from the sample that crosses a rule's threshold to the webhook
 * request that reports it, through the real path: a producer with the agent's Kafka settings,
 * the analyzer's embedded broker, the analyzer with a rule file, vigil-test-receiver.
 *
 *   alert-latency BUILD_DIR [HOSTS] [SECONDS]
 *
 * HOSTS simulated hosts (default 20) send one message a second each, spread over the second, as
 * agents with a 1 s interval do. Every 5th tick of a host carries a value over the threshold
 * (the rule fires, `for: 0s`), the tick after it is back to normal (the rule resolves). The
 * crossing sample's timestamp is the wall clock when it was "collected", just before it is
 * produced; the latency is the receiver's arrival time of the firing request minus that. Both
 * clocks are this machine's. Prints p50/p90/p99/max over every crossing. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdint.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_until(int64_t t)
{
    for (int64_t d; (d = t - now_ms()) > 0;) {
        struct timespec ts = {d / 1000, (d % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = '\0';
    fclose(f);
    return b;
}

static int wait_for(const char *path, const char *needle, int64_t ms)
{
    int64_t end = now_ms() + ms;
    while (now_ms() < end) {
        char *t = slurp(path);
        int ok = t && (needle ? strstr(t, needle) != NULL : *t != '\0');
        free(t);
        if (ok)
            return 0;
        usleep(50000);
    }
    return -1;
}

static pid_t spawn(char *const argv[], const char *log)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
        perror(argv[0]);
        exit(1);
    }
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

#define MAX_HOSTS 200
#define MAX_CROSS 100000

struct crossing {
    int host;
    int64_t ts;
};

/* The first crossing is at tick WARM_TICKS (host 0), so a run needs one tick more. */
#define WARM_TICKS 10
#define MAX_SECS   2400

static int usage(const char *why)
{
    if (why)
        fprintf(stderr, "alert-latency: %s\n", why);
    fprintf(stderr,
            "usage: alert-latency BUILD_DIR [HOSTS] [SECONDS]\n"
            "  HOSTS 1..%d (default 20), SECONDS %d..%d (default 60; the first %d are warm-up)\n",
            MAX_HOSTS, WARM_TICKS + 1, MAX_SECS, WARM_TICKS);
    return 2;
}

/* A whole number in [lo, hi], nothing after it. */
static int parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int cmp_cross(const void *a, const void *b)
{
    const struct crossing *x = a, *y = b;
    if (x->host != y->host)
        return x->host < y->host ? -1 : 1;
    return x->ts < y->ts ? -1 : x->ts > y->ts;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4)
        return usage(NULL);
    const char *build = argv[1];
    int hosts = 20, secs = 60;
    if (argc > 2 && parse_int(argv[2], 1, MAX_HOSTS, &hosts) < 0)
        return usage("HOSTS: a whole number from 1 to 200");
    if (argc > 3 && parse_int(argv[3], WARM_TICKS + 1, MAX_SECS, &secs) < 0)
        return usage("SECONDS: a whole number from 11 to 2400 (no crossing comes before tick 10)");
    char dir[] = "/tmp/vigil-alert-latency-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char rules[300], rfile[400], portf[300], out[300], rlog[300], alog[300], bsf[300];
    snprintf(rules, sizeof(rules), "%s/rules", dir);
    mkdir(rules, 0755);
    snprintf(rfile, sizeof(rfile), "%s/latency.yaml", rules);
    FILE *f = fopen(rfile, "w");
    fprintf(f, "rules:\n  - name: BenchThreshold\n    when: value(\"bench.x\") > 100\n"
               "    annotations: {summary: \"{{ host }} crossed: {{ value }}\"}\n");
    fclose(f);
    snprintf(portf, sizeof(portf), "%s/port", dir);
    snprintf(out, sizeof(out), "%s/received.jsonl", dir);
    snprintf(rlog, sizeof(rlog), "%s/receiver.log", dir);
    snprintf(alog, sizeof(alog), "%s/analyzer.log", dir);
    snprintf(bsf, sizeof(bsf), "%s/bootstrap", dir);

    char recv_bin[300], an_bin[300];
    snprintf(recv_bin, sizeof(recv_bin), "%s/tests/receiver/vigil-test-receiver", build);
    snprintf(an_bin, sizeof(an_bin), "%s/analyzer/vigil-analyzer", build);
    char *rargv[] = {recv_bin, "--port", "0", "--port-file", portf, "--out", out, NULL};
    pid_t rp = spawn(rargv, rlog);
    if (wait_for(portf, NULL, 10000)) {
        fprintf(stderr, "receiver did not start (%s)\n", rlog);
        return 1;
    }
    char *port = slurp(portf);
    char url[200], rset[400];
    snprintf(url, sizeof(url), "webhook.url=http://127.0.0.1:%d/alerts", atoi(port));
    free(port);
    snprintf(rset, sizeof(rset), "rules.dir=%s", rules);
    char *aargv[] = {an_bin,
                     "--embedded-kafka",
                     "--bootstrap-file",
                     bsf,
                     "--set",
                     url,
                     "--set",
                     rset,
                     "--set",
                     "http.listen=",
                     "--set",
                     "user=",
                     "--set",
                     "state.topic=",
                     "--set",
                     "webhook.rate=-1",
                     NULL};
    pid_t ap = spawn(aargv, alog);
    if (wait_for(bsf, "\n", 15000) || wait_for(alog, "partitions assigned", 30000)) {
        fprintf(stderr, "analyzer did not start (%s)\n", alog);
        kill(ap, SIGTERM);
        kill(rp, SIGTERM);
        return 1;
    }
    char *bs = slurp(bsf);
    bs[strcspn(bs, "\n")] = '\0';

    /* The agent's producer settings (agent/main.c). */
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *props[][2] = {{"bootstrap.servers", bs}, {"enable.idempotence", "true"},
                              {"acks", "all"},           {"compression.type", "lz4"},
                              {"linger.ms", "50"},       {"client.id", "alert-latency"}};
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], errstr, sizeof(errstr))) {
            fprintf(stderr, "%s\n", errstr);
            return 1;
        }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    struct crossing *cross = calloc(MAX_CROSS, sizeof(*cross));
    size_t n_cross = 0;
    int64_t t0 = (now_ms() / 1000 + 1) * 1000;
    int ticks = secs;
    for (int t = 0; t < ticks; t++) {
        for (int h = 0; h < hosts; h++) {
            /* Hosts spread over the second, as independent agents are. */
            sleep_until(t0 + (int64_t)t * 1000 + (int64_t)h * 1000 / hosts);
            /* Warm-up: 10 ticks of normal values; then every 5th tick crosses. */
            int crossing = t >= WARM_TICKS && (t + h) % 5 == 0;
            int64_t ts = now_ms();
            char host[32], msg[512];
            snprintf(host, sizeof(host), "bench-%03d", h);
            int len = snprintf(msg, sizeof(msg),
                               "{\"v\":1,\"host\":\"%s\",\"boot\":\"b\",\"seq\":%d,\"ts\":%lld,"
                               "\"interval_ms\":1000,\"metrics\":{\"bench.x\":%d}}",
                               host, t, (long long)ts, crossing ? 500 : 10 + (t % 3));
            if (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("vigil.metrics"),
                                  RD_KAFKA_V_KEY(host, strlen(host)),
                                  RD_KAFKA_V_VALUE(msg, (size_t)len),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END))
                fprintf(stderr, "produce failed\n");
            rd_kafka_poll(rk, 0);
            if (crossing && n_cross < MAX_CROSS)
                cross[n_cross++] = (struct crossing){h, ts};
        }
    }
    rd_kafka_flush(rk, 10000);
    rd_kafka_destroy(rk);
    /* Every crossing fires one alert (and its resolve follows). Each firing request is matched
     * to its crossing by host and event time, so that a duplicate cannot stand in for a missed
     * one. */
    qsort(cross, n_cross, sizeof(*cross), cmp_cross);
    int64_t end = now_ms() + 15000;
    size_t matched = 0, dup = 0, stray = 0;
    int64_t *lat = calloc(n_cross ? n_cross : 1, sizeof(*lat));
    uint8_t *seen = calloc(n_cross ? n_cross : 1, 1);
    while (now_ms() < end) {
        char *all = slurp(out);
        matched = dup = stray = 0;
        memset(seen, 0, n_cross);
        for (char *line = all; line && *line;) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            json_t *o = json_loads(line, 0, NULL);
            json_t *b = json_object_get(o, "body");
            const char *st = json_string_value(json_object_get(b, "status"));
            if (st && strcmp(st, "firing") == 0) {
                const char *host = json_string_value(json_object_get(b, "host"));
                const char *ev = json_string_value(json_object_get(b, "event_ts"));
                int64_t recv = json_integer_value(json_object_get(o, "recv_ms"));
                /* event_ts is the crossing sample's timestamp, to the millisecond. */
                struct tm tm = {0};
                int ms = 0, h = -1;
                if (ev)
                    sscanf(ev, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                           &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms);
                if (host)
                    sscanf(host, "bench-%d", &h);
                tm.tm_year -= 1900;
                tm.tm_mon -= 1;
                struct crossing key = {h, (int64_t)timegm(&tm) * 1000 + ms};
                struct crossing *c = bsearch(&key, cross, n_cross, sizeof(*cross), cmp_cross);
                if (!c) {
                    stray++;
                } else if (seen[c - cross]) {
                    dup++;
                } else {
                    seen[c - cross] = 1;
                    lat[matched++] = recv - key.ts;
                }
            }
            json_decref(o);
            line = nl ? nl + 1 : line + strlen(line);
        }
        free(all);
        if (matched >= n_cross)
            break;
        usleep(200000);
    }
    kill(ap, SIGTERM);
    waitpid(ap, NULL, 0);
    kill(rp, SIGTERM);
    waitpid(rp, NULL, 0);
    if (matched == 0) {
        fprintf(stderr, "no alert of a crossing arrived (%zu crossings; logs in %s)\n", n_cross,
                dir);
        return 1;
    }
    qsort(lat, matched, sizeof(*lat), cmp_i64);
    printf(
        "alert latency, crossing sample -> webhook request: %zu crossings, %zu alerted, %d hosts "
        "at 1 s, %d s\n",
        n_cross, matched, hosts, secs);
    if (matched < n_cross || dup || stray)
        printf("  NOT ONE ALERT PER CROSSING: %zu crossings without an alert, %zu duplicate "
               "alerts, %zu alerts matching no crossing\n",
               n_cross - matched, dup, stray);
    printf("  p50 %lld ms  p90 %lld ms  p99 %lld ms  max %lld ms  min %lld ms\n",
           (long long)lat[matched / 2], (long long)lat[matched * 9 / 10],
           (long long)lat[matched * 99 / 100], (long long)lat[matched - 1], (long long)lat[0]);
    printf("  logs and requests: %s\n", dir);
    return matched == n_cross && !dup && !stray ? 0 : 1;
}
