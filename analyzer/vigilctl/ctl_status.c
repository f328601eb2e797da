/* vigilctl status: one screen on a running analyzer, from GET /api/v1/status. */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_http.h"
#include "vg_util.h"
#include "vigilctl.h"

static void help(FILE *f)
{
    vg_ctl_usage(f, "status");
    fprintf(f,
            "\nShows the analyzer's version and uptime, readiness, where its stream comes from\n"
            "(Kafka embedded or external, topic, group, detector), hosts seen and silent,\n"
            "event lag, message and alert counters, each receiver's deliveries, the\n"
            "history kept for 'vigilctl report', and the host models: their compute backend\n"
            "and the mv model's groups, hosts, steps, checkpoints and resets.\n"
            "\n"
            "Options:\n"
            "  -a, --api URL         the analyzer's API (default $VIGIL_API, else %s)\n"
            "      --json            print the API's JSON as it is\n"
            "  -h, --help            this help\n"
            "\n"
            "Not ready is said with the analyzer's reason, as /readyz gives it: no partitions\n"
            "assigned yet; restoring the state of the hosts of its partitions from the state\n"
            "topic; the state producer failed for good; or state checkpoints failing (from\n"
            "the second in a row, e.g. while Kafka is down).\n"
            "\n"
            "Exit status: 0 ready, 1 not ready or not reachable, 2 usage error.\n",
            VG_CTL_API_DEFAULT);
}

static long long geti(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static double getd(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *gets(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "?";
}

static void print_status(const struct vg_ctl_api *api, json_t *o)
{
    char a1[32], a2[32], a3[32], p99[32];
    json_t *b = json_object_get(o, "backend"), *m = json_object_get(o, "messages"),
           *al = json_object_get(o, "alerts"), *lag = json_object_get(o, "lag_s"),
           *pr = json_object_get(o, "processing_s"), *hi = json_object_get(o, "history");
    int ready = json_is_true(json_object_get(o, "ready"));
    /* The reason rather than the partition count, which is 0 while a restore runs and said
     * nothing of checkpoints failing; an analyzer older than "not_ready" has none. */
    const char *why = json_string_value(json_object_get(o, "not_ready"));
    printf("analyzer   %s: vigil-analyzer %s, up %s, ", api->url, gets(o, "version"),
           vg_ctl_fmt_age(a1, sizeof(a1), getd(o, "uptime_s")));
    if (!ready && why)
        printf("NOT READY: %s\n", why);
    else
        printf("%s (%lld partitions)\n", ready ? "ready" : "NOT READY",
               geti(o, "partitions_assigned"));
    printf("backend    kafka %s %s, topic %s, group %s; detector %s\n", gets(b, "kafka"),
           gets(b, "bootstrap_servers"), gets(b, "topic"), gets(b, "group_id"),
           gets(b, "detector"));
    printf("hosts      %lld seen, %lld silent for over 60s; %lld series\n", geti(o, "hosts"),
           geti(o, "hosts_silent"), geti(o, "series"));
    printf("lag        newest event %s old; event lag p50 %s, p99 %s\n",
           vg_ctl_fmt_age(a1, sizeof(a1), getd(o, "newest_event_age_s")),
           vg_ctl_fmt_age(a2, sizeof(a2), getd(lag, "p50")),
           vg_ctl_fmt_age(a3, sizeof(a3), getd(lag, "p99")));
    /* null before the first message, as the lag's quantiles; milliseconds with three digits,
     * finer than vg_ctl_fmt_age's, as processing takes well under one. */
    double pt = getd(pr, "p99");
    snprintf(p99, sizeof(p99), isnan(pt) ? "-" : "%.3gms", pt * 1000);
    printf("messages   %lld consumed, %lld bad, %lld duplicates, %lld missing (sequence gaps); "
           "processing p99 %s\n",
           geti(m, "consumed"), geti(m, "bad"), geti(m, "duplicates"), geti(m, "seq_gaps"), p99);
    printf("alerts     %lld firing; %lld fired, %lld resolved since start\n", geti(al, "firing"),
           geti(al, "fired_total"), geti(al, "resolved_total"));
    json_t *rs = json_object_get(o, "receivers");
    if (!json_array_size(rs))
        printf("receivers  none configured: alerts are only logged\n");
    for (size_t i = 0; i < json_array_size(rs); i++) {
        json_t *r = json_array_get(rs, i);
        printf("%-10s %s: %lld delivered, %lld failed attempts, %lld dropped, %lld queued, "
               "%lld refused\n",
               i ? "" : "receivers", gets(r, "name"), geti(r, "delivered"),
               geti(r, "attempt_errors"), geti(r, "dropped"), geti(r, "queued"),
               geti(r, "refused"));
    }
    printf("history    %lld series, %.1f MiB, %s at %s resolution%s\n", geti(hi, "series"),
           (double)geti(hi, "bytes") / 1048576.0,
           vg_ctl_fmt_age(a1, sizeof(a1), (double)geti(hi, "window_ms") / 1e3),
           vg_ctl_fmt_age(a2, sizeof(a2), (double)geti(hi, "resolution_ms") / 1e3),
           geti(hi, "series_refused") ? " (full: some series not recorded)" : "");
    /* Host models: absent from analyzers older than this line, null when model.set is empty. */
    json_t *md = json_object_get(o, "models"), *mv = json_object_get(md, "mv");
    if (json_is_object(md)) {
        const char *be = json_string_value(json_object_get(md, "backend"));
        printf("models     %s", gets(md, "set"));
        if (be)
            printf(" on %s", be);
        printf("\n");
    }
    if (json_is_object(mv))
        printf(
            "  mv       %lld groups, %lld hosts, %lld steps, %lld ticks queued; checkpoints %lld "
            "loaded, %lld refused; %lld resets%s\n",
            geti(mv, "groups"), geti(mv, "hosts"), geti(mv, "steps"), geti(mv, "ticks_queued"),
            geti(mv, "checkpoints_loaded"), geti(mv, "checkpoints_refused"), geti(mv, "resets"),
            geti(mv, "resets") ? " (a group scored NaN and started fresh: see the log)" : "");
}

int vg_ctl_status(int argc, char **argv)
{
    static const struct option opts[] = {
        {"api", required_argument, NULL, 'a'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct vg_ctl_api api;
    vg_ctl_api_init(&api);
    int json = 0, opt;
    while ((opt = getopt_long(argc, argv, "a:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'a':
            api.url = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            help(stdout);
            return 0;
        default:
            help(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vigilctl status: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (vg_ctl_api_check("status", &api) < 0)
        return 2;
    char err[VG_ERRLEN * 2];
    json_t *o = NULL;
    char *raw = NULL;
    if (vg_ctl_json_want_raw(&api, "GET", "/api/v1/status", NULL, "ready", JSON_TRUE, &o,
                             json ? &raw : NULL, err, sizeof(err)) < 0) {
        fprintf(stderr, "vigilctl status: %s\n", err);
        return 1;
    }
    if (json) {
        vg_ctl_print_raw(raw);
    } else {
        print_status(&api, o);
    }
    int ready = json_is_true(json_object_get(o, "ready"));
    json_decref(o);
    free(raw);
    return ready ? 0 : 1;
}
