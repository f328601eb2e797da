/* vigilctl replay FILE: feeds a recorded stream or a CSV through the analyzer's detectors and
 * alerting, offline, printing every alert as it fires and resolves (in event time). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl_engine.h"
#include "ctl_input.h"
#include "vg_action.h"
#include "vg_k.h"
#include "vg_log.h"
#include "vg_model_run.h"
#include "vg_rule.h"
#include "vg_util.h"
#include "vg_wire.h"
#include "vigilctl.h"

static void help(FILE *f)
{
    vg_ctl_usage(f, "replay");
    fprintf(f,
            "\nFILE is a recorded stream (one wire message per line, as\n"
            "'kcat -b ADDR -t vigil.metrics -C -e > FILE' writes it; kcat -J envelopes work\n"
            "too) or a CSV of one host: a header 'timestamp,metric1,metric2,...' and a row per\n"
            "tick, timestamps in Unix seconds or ms or RFC 3339 (Z or +hh:mm, read as UTC;\n"
            "without an offset, UTC); a row with fewer or more cells than the header is\n"
            "skipped. '-' reads stdin.\n"
            "Every message goes through the same detector and alert state machine as in\n"
            "vigil-analyzer, with the analyzer's config; alerts are printed as they fire and\n"
            "resolve, stamped with event time:\n"
            "    2026-11-23T13:00:05.000Z FIRING   web-1 load.1m score=0.99990 value=9.5\n"
            "A rule's firing alert ends with the metrics it blames (... top=disk_wa,load_1):\n"
            "its top-scoring series, or for a rule reading a host model (value(\"host:mv\"))\n"
            "that model's.\n"
            "When a rule reads one, the host models of model.set run as in the analyzer,\n"
            "with its model.* keys, but start fresh (model.dir is neither read nor written)\n"
            "and run on the CPU unless model.backend is set (config, VIGIL_MODEL_BACKEND or\n"
            "--set).\n"
            "A summary goes to stderr, with a progress bar when stderr is a terminal.\n"
            "\n"
            "Options:\n"
            "  -c, --config PATH     the analyzer's YAML config (default: built-in defaults,\n"
            "                        not " VG_CTL_ANALYZER_CONFIG " as for fire-test; which\n"
            "                        one is used is said on stderr at the start)\n"
            "  -s, --set KEY=VALUE   override a config key, e.g. --set alert.threshold=0.99\n"
            "  -r, --rules DIR       evaluate the rule files of DIR instead of the built-in\n"
            "                        per-series rule (default: the config's rules.dir)\n"
            "      --host NAME       host name of a CSV's rows (default csv)\n"
            "      --json            print each alert as the webhook's JSON body (docs/alerts.md)\n"
            "      --no-progress     no progress bar\n"
            "  -h, --help            this help\n"
            "\n"
            "Exit status: 0 replayed, 1 some lines were skipped (each reported), 2 usage or\n"
            "config error.\n");
}

struct replay {
    int json;
    int progress_shown;
    uint64_t fired, resolved;
};

static const char *iso(char *buf, size_t n, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + k, n - k, ".%03dZ", (int)(ms % 1000));
    return buf;
}

static void clear_progress(struct replay *r)
{
    if (r->progress_shown) {
        fprintf(stderr, "\r\033[K");
        r->progress_shown = 0;
    }
}

static void on_alert(void *ud, const struct vg_notification *n)
{
    struct replay *r = ud;
    clear_progress(r);
    if (strcmp(n->status, "firing") == 0)
        r->fired++;
    else
        r->resolved++;
    if (r->json) {
        char *j = vg_notification_to_json(n);
        printf("%s\n", j ? j : "{}");
        free(j);
    } else {
        /* The built-in rule's alerts are named by their series, a rule's by the rule. */
        char t[40], what[512];
        int builtin = !n->alertname || strcmp(n->alertname, "anomaly") == 0;
        snprintf(what, sizeof(what), "%s%s%s", builtin ? "" : n->alertname,
                 builtin || !n->series ? "" : " ", n->series ? n->series : "");
        int firing = strcmp(n->status, "firing") == 0;
        printf("%s %-8s %s %s score=%.5f value=%.6g", iso(t, sizeof(t), n->event_ts_ms),
               firing ? "FIRING" : "RESOLVED", n->host, what, n->score, n->value);
        /* What the alert blames (a host model's metrics for a rule reading one), as the
         * receivers get it; a resolve's would be of the tick that ended it. */
        for (size_t i = 0; firing && i < n->n_top_metrics; i++)
            printf("%s%s", i ? "," : " top=", n->top_metrics[i].name);
        printf("\n");
    }
    fflush(stdout);
}

static void progress(struct replay *r, long long pos, long long size, uint64_t msgs)
{
    int width = 40, done = size ? (int)(pos * width / size) : 0;
    fprintf(stderr, "\r[%.*s%*s] %3d%%  %llu messages, %llu alerts", done,
            "########################################", width - done, "",
            size ? (int)(pos * 100 / size) : 0, (unsigned long long)msgs,
            (unsigned long long)r->fired);
    r->progress_shown = 1;
}

int vg_ctl_replay(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"set", required_argument, NULL, 's'},
        {"host", required_argument, NULL, 'H'},   {"json", no_argument, NULL, 'j'},
        {"no-progress", no_argument, NULL, 'P'},  {"rules", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *host = NULL, *rules_dir = NULL;
    char *sets[VG_CTL_MAX_SETS];
    size_t n_sets = 0;
    struct replay r = {0};
    int no_progress = 0, opt;
    while ((opt = getopt_long(argc, argv, "c:s:r:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 's':
            if (vg_ctl_add_set("replay", sets, &n_sets, optarg) < 0)
                return 2;
            break;
        case 'H':
            if (vg_wire_host_valid(optarg) != 0) {
                fprintf(stderr,
                        "vigilctl replay: --host '%s': only letters, digits, '.', '_' and '-'\n",
                        optarg);
                return 2;
            }
            host = optarg;
            break;
        case 'j':
            r.json = 1;
            break;
        case 'P':
            no_progress = 1;
            break;
        case 'r':
            rules_dir = optarg;
            break;
        case 'h':
            help(stdout);
            return 0;
        default:
            help(stderr);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "vigilctl replay: one FILE expected (see --help)\n");
        return 2;
    }
    const char *path = argv[optind];
    /* The engine logs every transition for the daemon's journal; here the printed alerts say it. */
    vg_log_init("vigilctl", VG_LOG_WARN, 0);
    /* Room for a rule directory's list of mistakes, one line each, not only a config's one line. */
    char err[16384];
    struct analyzer_cfg cfg;
    struct vg_engine *e = NULL;
    struct vg_rule_set *rules = NULL;
    struct vg_model_run hm = {0};
    vg_ctl_say_config("replay", config, n_sets);
    int rc = vg_ctl_load_config(&cfg, config, sets, n_sets, err, sizeof(err));
    if (!rc)
        rc = vg_ctl_engine_new(&cfg, rules_dir, &e, &rules, err, sizeof(err));
    if (!rc)
        rc = vg_ctl_models_open(&cfg, rules, e, &hm, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "vigilctl replay: config error: %s\n", err);
        vg_engine_free(e);
        vg_rule_set_free(rules);
        vg_config_free(&analyzer_config_table, &cfg);
        return 2;
    }
    struct vg_ctl_input in;
    if (vg_ctl_input_open(&in, path, host, err, sizeof(err)) < 0) {
        fprintf(stderr, "vigilctl replay: %s\n", err);
        vg_ctl_input_close(&in);
        vg_model_run_close(&hm);
        vg_engine_free(e);
        vg_rule_set_free(rules);
        vg_config_free(&analyzer_config_table, &cfg);
        return 1;
    }
    int show = !no_progress && isatty(STDERR_FILENO) && in.size > 0;
    struct vg_wire_msg m;
    vg_wire_msg_init(&m);
    uint64_t msgs = 0;
    int64_t last_draw = 0;
    while (vg_ctl_input_next(&in, &m) == 1) {
        /* As the analyzer's consumer does: the models first, so that rules read this tick. */
        if (vg_model_run_feed(&hm, &m, err, sizeof(err)) < 0) {
            clear_progress(&r);
            fprintf(stderr,
                    "vigilctl replay: warning: host models failed and are turned off: %s; rules "
                    "reading them find no value from here on\n",
                    err);
        }
        vg_engine_process(e, &m, on_alert, &r);
        msgs++;
        if (show && (msgs & 255) == 0) {
            int64_t now = vg_mono_ms();
            if (now - last_draw >= 100) {
                progress(&r, vg_ctl_input_pos(&in), in.size, msgs);
                last_draw = now;
            }
        }
    }
    if (show)
        progress(&r, in.size, in.size, msgs);
    clear_progress(&r);
    struct vg_engine_stats st;
    vg_engine_get_stats(e, &st);
    fprintf(stderr,
            "replayed %llu messages from %s: %llu hosts, %llu series, %llu values scored; "
            "%llu alerts fired, %llu resolved, %llu still firing; %llu lines skipped, %llu "
            "duplicates\n",
            (unsigned long long)msgs, path, (unsigned long long)st.hosts,
            (unsigned long long)st.series, (unsigned long long)st.samples_scored,
            (unsigned long long)r.fired, (unsigned long long)r.resolved,
            (unsigned long long)st.firing, (unsigned long long)in.bad,
            (unsigned long long)st.duplicates);
    if (hm.models)
        fprintf(stderr, "host models %s on %s\n", cfg.model_set,
                hm.k ? hm.k->desc : "no compute backend");
    int bad = in.bad > 0;
    vg_wire_msg_free(&m);
    vg_ctl_input_close(&in);
    vg_model_run_close(&hm);
    vg_engine_free(e);
    vg_rule_set_free(rules);
    vg_config_free(&analyzer_config_table, &cfg);
    return bad ? 1 : 0;
}
