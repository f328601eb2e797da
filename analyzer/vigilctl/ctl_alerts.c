/* vigilctl alerts: the alerts firing now, from GET /api/v1/alerts (docs/api.md). */
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
    vg_ctl_usage(f, "alerts");
    fprintf(f,
            "\nLists the alerts firing now, newest first: since when, host, alert name, series\n"
            "(built-in rule) or summary, severity, score at firing, and the silences that\n"
            "hold back its notifications.\n"
            "\n"
            "Options:\n"
            "  -a, --api URL         the analyzer's API (default $VIGIL_API, else %s)\n"
            "      --host HOST       only this host's alerts\n"
            "      --json            print the API's JSON as it is (all hosts)\n"
            "  -h, --help            this help\n"
            "\n"
            "Exit status: 0 listed (even when none fire), 1 the analyzer could not be asked.\n",
            VG_CTL_API_DEFAULT);
}

static void print_alerts(json_t *o, const char *only_host)
{
    json_t *list = json_object_get(o, "alerts");
    size_t shown = 0;
    printf("%-19s %-24s %-20s %-28s %-8s %7s %s\n", "SINCE", "HOST", "ALERT", "SERIES/SUMMARY",
           "SEVERITY", "SCORE", "SILENCED BY");
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *a = json_array_get(list, i);
        const char *host = json_string_value(json_object_get(a, "host"));
        if (only_host && (!host || strcmp(host, only_host) != 0))
            continue;
        const char *series = json_string_value(json_object_get(a, "series"));
        if (!series)
            series =
                json_string_value(json_object_get(json_object_get(a, "annotations"), "summary"));
        char since[32], score[32], sil[256] = "";
        vg_ctl_fmt_time(since, sizeof(since),
                        (long long)json_integer_value(json_object_get(a, "starts_at_ms")));
        json_t *sc = json_object_get(a, "score");
        snprintf(score, sizeof(score), json_is_number(sc) ? "%.4f" : "-", json_number_value(sc));
        json_t *sb = json_object_get(a, "silenced_by");
        for (size_t k = 0; k < json_array_size(sb); k++) {
            size_t l = strlen(sil);
            snprintf(sil + l, sizeof(sil) - l, "%s%s", k ? "," : "",
                     json_string_value(json_array_get(sb, k)));
        }
        printf("%-19s %-24s %-20s %-28s %-8s %7s %s\n", since, host ? host : "-",
               json_string_value(json_object_get(a, "alertname")), series ? series : "-",
               json_string_value(json_object_get(a, "severity")), score, sil[0] ? sil : "-");
        shown++;
    }
    printf("%zu alert%s firing\n", shown, shown == 1 ? "" : "s");
}

int vg_ctl_alerts(int argc, char **argv)
{
    static const struct option opts[] = {
        {"api", required_argument, NULL, 'a'},
        {"host", required_argument, NULL, 'H'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct vg_ctl_api api;
    vg_ctl_api_init(&api);
    int json = 0, opt;
    const char *host = NULL;
    while ((opt = getopt_long(argc, argv, "a:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'a':
            api.url = optarg;
            break;
        case 'H':
            host = optarg;
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
        fprintf(stderr, "vigilctl alerts: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (vg_ctl_api_check("alerts", &api) < 0)
        return 2;
    char err[VG_ERRLEN * 2];
    json_t *o = NULL;
    char *raw = NULL;
    if (vg_ctl_json_want_raw(&api, "GET", "/api/v1/alerts", NULL, "alerts", JSON_ARRAY, &o,
                             json ? &raw : NULL, err, sizeof(err)) < 0) {
        fprintf(stderr, "vigilctl alerts: %s\n", err);
        return 1;
    }
    if (json) {
        vg_ctl_print_raw(raw);
    } else {
        print_alerts(o, host);
    }
    json_decref(o);
    free(raw);
    return 0;
}
