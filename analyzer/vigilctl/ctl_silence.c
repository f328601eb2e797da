/* vigilctl silence add|list|expire: the analyzer's silences (docs/api.md, "Silences"). */
#include <getopt.h>
#include <jansson.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_http.h"
#include "vg_config.h"
#include "vg_log.h"
#include "vg_util.h"
#include "vigilctl.h"

static void help(FILE *f)
{
    vg_ctl_usage(f, "silence");
    fprintf(f,
            "\nSilences mute the notifications of the alerts their matchers select; the alerts\n"
            "still fire and show in 'vigilctl alerts'.\n"
            "\n"
            "  vigilctl silence add [OPTIONS] MATCHER...\n"
            "      MATCHER is label=\"value\", label!=\"value\", label=~\"regex\" or\n"
            "      label!~\"regex\" over the alert's labels, alertname and severity; the quotes\n"
            "      may be left out (host=web-1). All matchers must hold. Prints the new id.\n"
            "      -d, --duration DUR   how long from the start (default 1h): 30m, 2h, 1d\n"
            "      -u, --until TIME     end instead: RFC 3339 (2026-11-23T15:00:00Z) or Unix ms\n"
            "      -s, --start TIME     start (default now)\n"
            "      -c, --comment TEXT   why (recommended)\n"
            "      Here -s and -c are --start and --comment; in replay, report, fire-test and\n"
            "      rules check they are --set and --config.\n"
            "      -A, --author NAME    who (default $USER, else this user id's name)\n"
            "  vigilctl silence list [--json]\n"
            "      Active and pending silences, and those expired in the last hour.\n"
            "  vigilctl silence expire ID...\n"
            "      Ends silences now.\n"
            "\n"
            "Common options:\n"
            "  -a, --api URL           the analyzer's API (default $VIGIL_API, else %s)\n"
            "  -t, --token-file PATH   bearer token for add and expire (default\n"
            "                          $VIGIL_TOKEN_FILE; the analyzer's http.token_file),\n"
            "                          a file or a pipe: -t <(pass show vigil/api-token)\n"
            "  -h, --help              this help\n"
            "\n"
            "Exit status: 0 done, 1 the analyzer could not be asked or refused the request\n"
            "(expire: any ID not expired), 2 usage error (including a bad --duration).\n",
            VG_CTL_API_DEFAULT);
}

/* Adds the double quotes the API wants around a matcher's value when the user left them out
 * (host=web-1 -> host="web-1"). Returns a new string the caller frees. */
static char *quote_matcher(const char *m)
{
    size_t name = strcspn(m, "=!");
    const char *op = m + name;
    size_t oplen =
        strncmp(op, "=~", 2) == 0 || strncmp(op, "!~", 2) == 0 || strncmp(op, "!=", 2) == 0 ? 2
        : *op == '='                                                                        ? 1
                                                                                            : 0;
    const char *val = op + oplen;
    if (!oplen || *val == '"')
        return strdup(m);
    size_t n = strlen(m) * 2 + 3;
    char *out = malloc(n), *p = out;
    if (!out)
        return NULL;
    memcpy(p, m, name + oplen);
    p += name + oplen;
    *p++ = '"';
    for (; *val; val++) {
        if (*val == '"' || *val == '\\')
            *p++ = '\\';
        *p++ = *val;
    }
    *p++ = '"';
    *p = '\0';
    return out;
}

static json_t *time_value(const char *s)
{
    char *end;
    long long ms = strtoll(s, &end, 10);
    if (*s && !*end)
        return json_integer(ms);
    return json_string(s);
}

static int print_silence_line(json_t *s)
{
    char st[32], en[32], m[512] = "";
    json_t *ms = json_object_get(s, "matchers");
    for (size_t k = 0; k < json_array_size(ms); k++) {
        size_t l = strlen(m);
        snprintf(m + l, sizeof(m) - l, "%s%s", k ? " " : "",
                 json_string_value(json_array_get(ms, k)));
    }
    const char *by = json_string_value(json_object_get(s, "created_by"));
    const char *comment = json_string_value(json_object_get(s, "comment"));
    return printf(
        "%-16s %-8s %-19s %-19s %-12s %s%s%s\n", json_string_value(json_object_get(s, "id")),
        json_string_value(json_object_get(s, "state")),
        vg_ctl_fmt_time(st, sizeof(st),
                        (long long)json_integer_value(json_object_get(s, "starts_at_ms"))),
        vg_ctl_fmt_time(en, sizeof(en),
                        (long long)json_integer_value(json_object_get(s, "ends_at_ms"))),
        by && *by ? by : "-", m, comment && *comment ? "  # " : "", comment ? comment : "");
}

static void header(void)
{
    printf("%-16s %-8s %-19s %-19s %-12s %s\n", "ID", "STATE", "STARTS", "ENDS", "BY", "MATCHERS");
}

int vg_ctl_silence(int argc, char **argv)
{
    static const struct option opts[] = {
        {"api", required_argument, NULL, 'a'},      {"token-file", required_argument, NULL, 't'},
        {"duration", required_argument, NULL, 'd'}, {"until", required_argument, NULL, 'u'},
        {"start", required_argument, NULL, 's'},    {"comment", required_argument, NULL, 'c'},
        {"author", required_argument, NULL, 'A'},   {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    struct vg_ctl_api api;
    vg_ctl_api_init(&api);
    vg_log_init("vigilctl", VG_LOG_WARN, 0); /* a token file's mode warning (ctl_http.c) */
    const char *duration = NULL, *until = NULL, *start = NULL, *comment = NULL;
    /* $USER, else the name of this user id: a shell started without a login (cron, a
     * container) has no $USER, and created_by "" says nothing of who silenced. */
    const char *author = getenv("USER");
    struct passwd *pw = author && *author ? NULL : getpwuid(getuid());
    if (pw)
        author = pw->pw_name;
    int json = 0, opt;
    while ((opt = getopt_long(argc, argv, "a:t:d:u:s:c:A:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'a':
            api.url = optarg;
            break;
        case 't':
            api.token_file = optarg;
            break;
        case 'd':
            duration = optarg;
            break;
        case 'u':
            until = optarg;
            break;
        case 's':
            start = optarg;
            break;
        case 'c':
            comment = optarg;
            break;
        case 'A':
            author = optarg;
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
    if (optind >= argc) {
        fprintf(stderr, "vigilctl silence: say add, list or expire (see --help)\n");
        return 2;
    }
    const char *sub = argv[optind++];
    if (vg_ctl_api_check("silence", &api) < 0)
        return 2;
    char err[VG_ERRLEN * 2];
    json_t *o = NULL;
    char *raw = NULL; /* --json: the body as received */
    if (strcmp(sub, "list") == 0) {
        if (vg_ctl_json_want_raw(&api, "GET", "/api/v1/silences", NULL, "silences", JSON_ARRAY, &o,
                                 json ? &raw : NULL, err, sizeof(err)) < 0) {
            fprintf(stderr, "vigilctl silence list: %s\n", err);
            return 1;
        }
        if (json) {
            vg_ctl_print_raw(raw);
        } else {
            json_t *l = json_object_get(o, "silences");
            header();
            for (size_t i = 0; i < json_array_size(l); i++)
                print_silence_line(json_array_get(l, i));
            printf("%zu silence%s\n", json_array_size(l), json_array_size(l) == 1 ? "" : "s");
        }
        json_decref(o);
        free(raw);
        return 0;
    }
    if (strcmp(sub, "add") == 0) {
        if (optind >= argc) {
            fprintf(stderr, "vigilctl silence add: at least one matcher, e.g. host=web-1\n");
            return 2;
        }
        if (duration && until) {
            fprintf(stderr, "vigilctl silence add: --duration or --until, not both\n");
            return 2;
        }
        /* Checked here as the analyzer checks it, so that a typo is a usage error even with
         * the analyzer down, and 0s says what is wrong with it (the API's "expected e.g. 30m"
         * did not). */
        int64_t dur_ms;
        if (duration && vg_parse_duration_ms(duration, &dur_ms) < 0) {
            fprintf(stderr,
                    "vigilctl silence add: --duration '%s': not a duration (write e.g. 30m, "
                    "2h, 1d)\n",
                    duration);
            return 2;
        }
        if (duration && dur_ms <= 0) {
            fprintf(stderr, "vigilctl silence add: --duration '%s': must be longer than 0s\n",
                    duration);
            return 2;
        }
        json_t *req = json_object(), *ms = json_array();
        for (int i = optind; i < argc; i++) {
            char *q = quote_matcher(argv[i]);
            json_array_append_new(ms, json_string(q ? q : argv[i]));
            free(q);
        }
        json_object_set_new(req, "matchers", ms);
        if (until)
            json_object_set_new(req, "ends_at", time_value(until));
        else
            json_object_set_new(req, "duration", json_string(duration ? duration : "1h"));
        if (start)
            json_object_set_new(req, "starts_at", time_value(start));
        if (author)
            json_object_set_new(req, "created_by", json_string(author));
        if (comment)
            json_object_set_new(req, "comment", json_string(comment));
        char *body = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        int rc = vg_ctl_json_want_raw(&api, "POST", "/api/v1/silences", body, "id", JSON_STRING, &o,
                                      json ? &raw : NULL, err, sizeof(err));
        free(body);
        if (rc < 0) {
            fprintf(stderr, "vigilctl silence add: %s\n", err);
            return 1;
        }
        if (json) {
            vg_ctl_print_raw(raw);
        } else {
            printf("%s\n", json_string_value(json_object_get(o, "id")));
        }
        json_decref(o);
        free(raw);
        return 0;
    }
    if (strcmp(sub, "expire") == 0) {
        if (optind >= argc) {
            fprintf(stderr, "vigilctl silence expire: which silence? (ids: vigilctl silence "
                            "list)\n");
            return 2;
        }
        int bad = 0;
        for (int i = optind; i < argc; i++) {
            if (!*argv[i] || strspn(argv[i], "0123456789abcdefABCDEF-_") != strlen(argv[i]) ||
                strlen(argv[i]) > 64) {
                fprintf(stderr,
                        "vigilctl silence expire: '%s' is not a silence id (ids: "
                        "vigilctl silence list)\n",
                        argv[i]);
                bad = 1;
                continue;
            }
            char path[512];
            snprintf(path, sizeof(path), "/api/v1/silences/%s", argv[i]);
            if (vg_ctl_json_want(&api, "DELETE", path, NULL, "id", JSON_STRING, &o, err,
                                 sizeof(err)) < 0) {
                fprintf(stderr, "vigilctl silence expire: %s\n", err);
                bad = 1;
                continue;
            }
            printf("expired %s\n", argv[i]);
            json_decref(o);
        }
        return bad;
    }
    fprintf(stderr, "vigilctl silence: unknown action '%s' (add, list or expire)\n", sub);
    return 2;
}
