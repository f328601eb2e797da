/* vigil-loadgen: a simulated fleet for bench/fleet. N hosts, each reporting M metrics per tick
 * with agent-like names, produced as wire-format messages (common/vg_wire's encoder, the
 * agent's) keyed by host to Kafka, at a target rate or as fast as the producer takes them.
 *
 * Values: per host and metric a base level, a daily-like seasonal swing (one "day" is
 * --day ticks), Gaussian noise, and on --anomaly-hosts hosts a level shift of several standard
 * deviations on a quarter of their metrics for --anomaly-len ticks out of every
 * --anomaly-every. Each message's ts is the wall clock when it is built, so the analyzer's
 * vigil_event_lag_seconds is the end-to-end latency (build -> produce -> broker -> scored).
 *
 * --replay K builds K ticks of every host ahead of time with the same encoder and then sends
 * them in a loop, rewriting only seq and ts in place (both fixed width: seq counts from 10^9, ts
 * has 13 digits), so that on a small machine the generator does not take the cores the analyzers
 * are measured on; the values then repeat every K ticks.
 *
 * Progress goes to stdout as one logfmt line per second and a final "done" line:
 *   loadgen t=3.0 produced=24000 delivered=23800 failed=0 samples=3072000 bytes=104857600
 */
#include <errno.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vg_fleetgen.h"
#include "vg_util.h"
#include "vg_wire.h"

#define MAX_PROPS 32

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

struct counts {
    uint64_t delivered, failed;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct counts *c = opaque;
    (void)rk;
    if (m->err) {
        if (c->failed++ == 0)
            fprintf(stderr, "vigil-loadgen: delivery failed: %s\n", rd_kafka_err2str(m->err));
    } else {
        c->delivered++;
    }
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* seq counts from 10^9 so that it always has 10 digits and can be rewritten in place; a boot's
 * first sequence number is whatever its agent starts at. */
#define SEQ_BASE   1000000000ULL
#define SEQ_DIGITS 10
#define TS_DIGITS  13 /* ms since the epoch, until the year 2286 */

struct pooled {
    char *buf;
    size_t len, seq_off, ts_off;
};

/* One host's tick as the agent would send it, encoded by vg_wire_encode() into *out (malloc'd). */
static int build(struct vg_fleetgen *g, struct vg_wire_msg *msg, const char *boot, uint32_t h,
                 uint64_t tick, char **out, size_t *len, char *err, size_t errlen)
{
    static const char *roles[] = {"web", "db", "cache", "batch"};
    snprintf(msg->host, sizeof(msg->host), "host-%05u", h);
    snprintf(msg->boot, sizeof(msg->boot), "%s", boot);
    msg->seq = SEQ_BASE + tick;
    msg->ts_ms = wall_ms();
    msg->interval_ms = 1000;
    int rc = vg_fleetgen_fill(g, msg, h, tick, err, errlen);
    if (!rc)
        rc = vg_wire_msg_add_label(msg, "group", roles[h % 4], err, errlen);
    if (!rc)
        rc = vg_wire_encode(msg, out, len, err, errlen);
    return rc;
}

static int find_fields(struct pooled *p)
{
    const char *s = strstr(p->buf, "\"seq\":"), *t = strstr(p->buf, "\"ts\":");
    if (!s || !t)
        return -EINVAL;
    p->seq_off = (size_t)(s - p->buf) + 6;
    p->ts_off = (size_t)(t - p->buf) + 5;
    return 0;
}

/* Writes v as exactly `digits` decimal digits at p. */
static void patch(char *p, uint64_t v, int digits)
{
    for (int i = digits - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: vigil-loadgen --bootstrap ADDR [OPTIONS]\n"
            "\n"
            "  -b, --bootstrap ADDR    Kafka bootstrap servers\n"
            "  -t, --topic NAME        topic (default vigil.metrics)\n"
            "  -H, --hosts N           simulated hosts (default 8000)\n"
            "  -m, --metrics N         metrics per host and tick (default 128)\n"
            "  -r, --rate S            samples/s to produce; 0 = as fast as possible\n"
            "                          (default: hosts x metrics per second, a 1 s interval)\n"
            "  -d, --duration S        stop after S seconds (default: until --ticks or SIGTERM)\n"
            "  -n, --ticks N           stop after N ticks of every host\n"
            "      --replay K          send K pre-built ticks per host in a loop (cheap)\n"
            "      --anomaly-hosts N   hosts with injected anomalies (default 8)\n"
            "      --anomaly-every N   ticks between anomaly starts (default 120)\n"
            "      --anomaly-len N     ticks an anomaly lasts (default 10)\n"
            "      --day N             ticks per seasonal cycle (default 600)\n"
            "      --seed N            fleet seed (default 1)\n"
            "  -X, --set KEY=VALUE     librdkafka producer property (repeatable)\n"
            "\n"
            "Producer defaults (throughput): acks=all, compression.type=lz4, linger.ms=20,\n"
            "batch.size=1000000, batch.num.messages=10000, queue.buffering.max.kbytes=1048576.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"bootstrap", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"hosts", required_argument, NULL, 'H'},
        {"metrics", required_argument, NULL, 'm'},
        {"rate", required_argument, NULL, 'r'},
        {"duration", required_argument, NULL, 'd'},
        {"ticks", required_argument, NULL, 'n'},
        {"anomaly-hosts", required_argument, NULL, 1},
        {"anomaly-every", required_argument, NULL, 2},
        {"anomaly-len", required_argument, NULL, 3},
        {"day", required_argument, NULL, 4},
        {"seed", required_argument, NULL, 5},
        {"replay", required_argument, NULL, 6},
        {"set", required_argument, NULL, 'X'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *bootstrap = NULL, *topic = "vigil.metrics";
    struct vg_fleetgen g = {.hosts = 8000,
                            .metrics = 128,
                            .day = 600,
                            .anomaly_hosts = 8,
                            .anomaly_every = 120,
                            .anomaly_len = 10};
    double rate = -1, duration = 0;
    uint64_t ticks = 0, seed = 1;
    uint32_t replay = 0;
    const char *props[MAX_PROPS];
    size_t n_props = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "b:t:H:m:r:d:n:X:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'b':
            bootstrap = optarg;
            break;
        case 't':
            topic = optarg;
            break;
        case 'H':
            g.hosts = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'm':
            g.metrics = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'r':
            rate = strtod(optarg, NULL);
            break;
        case 'd':
            duration = strtod(optarg, NULL);
            break;
        case 'n':
            ticks = strtoull(optarg, NULL, 10);
            break;
        case 1:
            g.anomaly_hosts = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 2:
            g.anomaly_every = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 3:
            g.anomaly_len = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 4:
            g.day = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 5:
            seed = strtoull(optarg, NULL, 10);
            break;
        case 6:
            replay = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'X':
            if (n_props == MAX_PROPS || !strchr(optarg, '=')) {
                fprintf(stderr, "vigil-loadgen: --set wants KEY=VALUE (at most %d)\n", MAX_PROPS);
                return 2;
            }
            props[n_props++] = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!bootstrap || !g.hosts || !g.metrics || g.metrics > 10000 || !g.day ||
        g.anomaly_len > g.anomaly_every || g.anomaly_hosts > g.hosts) {
        fprintf(stderr, "vigil-loadgen: need --bootstrap, 1..10000 metrics, hosts >= 1, "
                        "anomaly-len <= anomaly-every, anomaly-hosts <= hosts\n");
        usage(stderr);
        return 2;
    }
    if (rate < 0)
        rate = (double)g.hosts * g.metrics;
    if (vg_fleetgen_init(&g, seed) < 0) {
        fprintf(stderr, "vigil-loadgen: out of memory\n");
        return 1;
    }

    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *defaults[][2] = {
        {"bootstrap.servers", bootstrap},
        {"client.id", "vigil-loadgen"},
        {"acks", "all"},
        {"compression.type", "lz4"},
        /* Throughput settings: large batches, a short wait to fill them, room to queue. */
        {"linger.ms", "20"},
        {"batch.size", "1000000"},
        {"batch.num.messages", "10000"},
        {"queue.buffering.max.kbytes", "1048576"},
        {"queue.buffering.max.messages", "1000000"},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(defaults); i++)
        if (rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], errstr, sizeof(errstr))) {
            fprintf(stderr, "vigil-loadgen: %s\n", errstr);
            return 1;
        }
    for (size_t i = 0; i < n_props; i++) {
        char kv[512];
        snprintf(kv, sizeof(kv), "%s", props[i]);
        char *eq = strchr(kv, '=');
        *eq = '\0';
        if (rd_kafka_conf_set(conf, kv, eq + 1, errstr, sizeof(errstr))) {
            fprintf(stderr, "vigil-loadgen: %s\n", errstr);
            return 1;
        }
    }
    struct counts counts = {0};
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, &counts);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "vigil-loadgen: %s\n", errstr);
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    /* Every host's boot id: one agent start each. */
    char boot[40];
    snprintf(boot, sizeof(boot), "loadgen-%llx-%lx", (unsigned long long)seed, (long)time(NULL));
    struct vg_wire_msg msg;
    vg_wire_msg_init(&msg);
    char err[VG_ERRLEN];
    double msg_rate = rate / g.metrics; /* messages per second; 0 = unpaced */
    uint64_t produced = 0, bytes = 0, queue_full = 0;
    int rc = 0;
    printf("loadgen hosts=%u metrics=%u rate=%.0f ticks=%llu duration=%.1f\n", g.hosts, g.metrics,
           rate, (unsigned long long)ticks, duration);
    fflush(stdout);
    struct pooled *pool = NULL;
    if (replay) {
        /* Built before the clock starts: the timed loop only patches and sends. */
        if (!(pool = calloc((size_t)g.hosts * replay, sizeof(*pool)))) {
            fprintf(stderr, "vigil-loadgen: out of memory for the replay pool\n");
            return 1;
        }
        for (uint32_t k = 0; k < replay && !rc; k++)
            for (uint32_t h = 0; h < g.hosts && !rc; h++) {
                struct pooled *p = &pool[(size_t)h * replay + k];
                rc = build(&g, &msg, boot, h, k, &p->buf, &p->len, err, sizeof(err));
                if (!rc && (rc = find_fields(p)))
                    snprintf(err, sizeof(err), "seq or ts not found in the encoded message");
            }
        printf("loadgen replay pool built: %u ticks x %u hosts\n", replay, g.hosts);
    }
    printf("loadgen start\n");
    fflush(stdout);
    double t0 = now_s(), next_report = t0 + 1;
    for (uint64_t tick = 0; !g_stop && (!ticks || tick < ticks) && !rc; tick++) {
        for (uint32_t h = 0; h < g.hosts && !g_stop && !rc; h++) {
            double t = now_s();
            if (duration > 0 && t - t0 >= duration) {
                g_stop = 1;
                break;
            }
            /* Paced on the total: the i-th message is due at t0 + i / msg_rate. Sleeps only
             * when 2 ms ahead, so that it wakes a few hundred times a second, not per message:
             * its CPU is taken from the analyzers it measures. */
            if (msg_rate > 0) {
                double due = t0 + (double)produced / msg_rate;
                if (due > t) {
                    rd_kafka_poll(rk, 0);
                    if (due - t > 0.002) {
                        struct timespec ts = {0, (long)((due - t) * 1e9)};
                        nanosleep(&ts, NULL);
                    }
                }
            }
            char *out;
            size_t len;
            int flags = RD_KAFKA_MSG_F_FREE;
            if (pool) {
                struct pooled *p = &pool[(size_t)h * replay + tick % replay];
                patch(p->buf + p->seq_off, SEQ_BASE + tick, SEQ_DIGITS);
                patch(p->buf + p->ts_off, (uint64_t)wall_ms(), TS_DIGITS);
                out = p->buf;
                len = p->len;
                flags = RD_KAFKA_MSG_F_COPY;
            } else if ((rc = build(&g, &msg, boot, h, tick, &out, &len, err, sizeof(err)))) {
                break;
            }
            char key[16];
            int klen = snprintf(key, sizeof(key), "host-%05u", h);
            for (;;) {
                rd_kafka_resp_err_t e = rd_kafka_producev(
                    rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, (size_t)klen),
                    RD_KAFKA_V_VALUE(out, len), RD_KAFKA_V_MSGFLAGS(flags), RD_KAFKA_V_END);
                if (!e)
                    break;
                if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                    fprintf(stderr, "vigil-loadgen: produce: %s\n", rd_kafka_err2str(e));
                    if (!pool)
                        free(out);
                    rc = -EIO;
                    break;
                }
                queue_full++;
                rd_kafka_poll(rk, 10);
            }
            produced++;
            bytes += len;
            if ((produced & 255) == 0)
                rd_kafka_poll(rk, 0);
            if (t >= next_report) {
                printf("loadgen t=%.1f produced=%llu delivered=%llu failed=%llu samples=%llu "
                       "bytes=%llu\n",
                       t - t0, (unsigned long long)produced, (unsigned long long)counts.delivered,
                       (unsigned long long)counts.failed,
                       (unsigned long long)(counts.delivered * g.metrics),
                       (unsigned long long)bytes);
                fflush(stdout);
                next_report += 1;
            }
        }
    }
    if (rc)
        fprintf(stderr, "vigil-loadgen: %s\n", err);
    double t_prod = now_s() - t0;
    /* Everything queued is delivered (or fails) before the final count. */
    while (rd_kafka_outq_len(rk) > 0 && counts.delivered + counts.failed < produced)
        rd_kafka_poll(rk, 100);
    double t_all = now_s() - t0;
    printf("loadgen done produced=%llu delivered=%llu failed=%llu samples=%llu bytes=%llu "
           "avg_bytes=%.0f produce_s=%.2f delivered_s=%.2f rate=%.0f anomalies=%llu "
           "queue_full=%llu\n",
           (unsigned long long)produced, (unsigned long long)counts.delivered,
           (unsigned long long)counts.failed, (unsigned long long)(counts.delivered * g.metrics),
           (unsigned long long)bytes, produced ? (double)bytes / (double)produced : 0.0, t_prod,
           t_all, t_prod > 0 ? (double)produced * g.metrics / t_prod : 0.0,
           (unsigned long long)g.anomalies, (unsigned long long)queue_full);
    fflush(stdout);
    vg_wire_msg_free(&msg);
    for (size_t i = 0; pool && i < (size_t)g.hosts * replay; i++)
        free(pool[i].buf);
    free(pool);
    rd_kafka_destroy(rk);
    vg_fleetgen_free(&g);
    return rc || counts.failed ? 1 : 0;
}
