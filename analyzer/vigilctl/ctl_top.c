/* vigilctl top: hosts by anomaly score, from GET /api/v1/hosts. On a terminal the table is
 * redrawn every --interval with ANSI escapes (no curses); otherwise, or with --once, it is
 * printed once. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "ctl_http.h"
#include "vg_config.h"
#include "vg_util.h"
#include "vigilctl.h"

static volatile int g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void help(FILE *f)
{
    vg_ctl_usage(f, "top");
    fprintf(f,
            "\nLists the hosts the analyzer tracks, highest anomaly score first: the score of\n"
            "the host's most anomalous series in its last message, that series, alerts\n"
            "firing and pending (built-in rule), series tracked and the age of the last\n"
            "message. On a terminal it refreshes until Ctrl-C.\n"
            "\n"
            "Options:\n"
            "  -a, --api URL         the analyzer's API (default $VIGIL_API, else %s)\n"
            "  -i, --interval DUR    refresh period on a terminal (default 2s)\n"
            "  -n, --hosts N         show at most N hosts (default: what fits the terminal;\n"
            "                        all when not a terminal)\n"
            "  -1, --once            print the table once and exit\n"
            "      --json            print the API's JSON once and exit\n"
            "  -h, --help            this help\n"
            "\n"
            "Exit status: 0 printed (on a terminal: until Ctrl-C), 1 the analyzer could not be\n"
            "asked (printed once; on a terminal it retries), 2 usage error.\n",
            VG_CTL_API_DEFAULT);
}

static double getd(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Prints the table; returns the number of hosts. */
static size_t print_table(json_t *o, size_t max_rows, int color)
{
    json_t *hosts = json_object_get(o, "hosts");
    size_t n = json_array_size(hosts);
    printf("%-32s %8s  %-32s %6s %7s %6s %8s\n", "HOST", "SCORE", "TOP SERIES", "FIRING", "PENDING",
           "SERIES", "LAST");
    for (size_t i = 0; i < n && (!max_rows || i < max_rows); i++) {
        json_t *h = json_array_get(hosts, i);
        char age[32], score[32];
        double s = getd(h, "max_score");
        snprintf(score, sizeof(score), isnan(s) ? "-" : "%.4f", s);
        const char *top = json_string_value(json_object_get(h, "top_series"));
        long long firing = json_integer_value(json_object_get(h, "firing"));
        const char *on = "", *off = "";
        if (color && firing) {
            on = "\033[1;31m";
            off = "\033[0m";
        } else if (color && s >= 0.99) {
            on = "\033[33m";
            off = "\033[0m";
        }
        printf("%s%-32.32s %8s  %-32.32s %6lld %7lld %6lld %8s%s\n", on,
               json_string_value(json_object_get(h, "host")), score, top ? top : "-", firing,
               (long long)json_integer_value(json_object_get(h, "pending")),
               (long long)json_integer_value(json_object_get(h, "series")),
               vg_ctl_fmt_age(age, sizeof(age), getd(h, "age_s")), off);
    }
    if (max_rows && n > max_rows)
        printf("... %zu more hosts (-n to show more)\n", n - max_rows);
    return n;
}

int vg_ctl_top(int argc, char **argv)
{
    static const struct option opts[] = {
        {"api", required_argument, NULL, 'a'},
        {"interval", required_argument, NULL, 'i'},
        {"hosts", required_argument, NULL, 'n'},
        {"once", no_argument, NULL, '1'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct vg_ctl_api api;
    vg_ctl_api_init(&api);
    int once = 0, json = 0, opt;
    int64_t interval_ms = 2000;
    long max_rows = 0;
    while ((opt = getopt_long(argc, argv, "a:i:n:1h", opts, NULL)) != -1) {
        switch (opt) {
        case 'a':
            api.url = optarg;
            break;
        case 'i':
            if (vg_parse_duration_ms(optarg, &interval_ms) < 0 || interval_ms < 100) {
                fprintf(stderr,
                        "vigilctl top: --interval '%s': a duration of 100ms or more, "
                        "e.g. 2s\n",
                        optarg);
                return 2;
            }
            break;
        case 'n': {
            char *end;
            errno = 0;
            max_rows = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || max_rows <= 0) {
                fprintf(stderr, "vigilctl top: --hosts '%s': a positive number\n", optarg);
                return 2;
            }
            break;
        }
        case '1':
            once = 1;
            break;
        case 'j':
            json = once = 1;
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
        fprintf(stderr, "vigilctl top: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (vg_ctl_api_check("top", &api) < 0)
        return 2;
    int tty = isatty(STDOUT_FILENO);
    if (!tty)
        once = 1;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    char err[VG_ERRLEN * 2];
    int rc = 0;
    do {
        json_t *o = NULL;
        char *raw = NULL;
        if (vg_ctl_json_want_raw(&api, "GET", "/api/v1/hosts", NULL, "hosts", JSON_ARRAY, &o,
                                 json ? &raw : NULL, err, sizeof(err)) < 0) {
            if (once) {
                fprintf(stderr, "vigilctl top: %s\n", err);
                return 1;
            }
            printf("\033[H\033[2J%s\n(retrying every %lldms; Ctrl-C to quit)\n", err,
                   (long long)interval_ms);
            fflush(stdout);
            vg_sleep_ms(interval_ms, &g_stop);
            continue;
        }
        if (json) {
            vg_ctl_print_raw(raw);
        } else if (once) {
            print_table(o, (size_t)max_rows, 0);
        } else {
            struct winsize ws = {0};
            size_t rows = (size_t)max_rows;
            if (!rows && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 5)
                rows = (size_t)ws.ws_row - 4;
            char when[32];
            printf("\033[H\033[2J");
            printf("vigilctl top: %s   %s   every %.1fs, Ctrl-C to quit\n\n", api.url,
                   vg_ctl_fmt_time(when, sizeof(when), vg_now_ms()), (double)interval_ms / 1e3);
            print_table(o, rows, 1);
            fflush(stdout);
        }
        json_decref(o);
        free(raw);
        if (!once)
            vg_sleep_ms(interval_ms, &g_stop);
    } while (!once && !g_stop);
    return rc;
}
