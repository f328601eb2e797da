/* vigilctl: dispatches to the subcommand named in argv[1]. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vg_config.h"
#include "vg_util.h"
#include "vigilctl.h"

const struct vg_ctl_cmd vg_ctl_cmds[] = {
    {"version", "", "print the version", vg_ctl_version},
    {"eval", "nab|smd [OPTIONS] DIR", "score the detectors on a labelled data set (NAB, SMD)",
     vg_ctl_eval},
    {"status", "[--api URL] [--json]", "a running analyzer: stream, hosts, lag, alerts, receivers",
     vg_ctl_status},
    {"top", "[--api URL] [--once] [-i DUR] [-n N] [--json]", "hosts by anomaly score, refreshing",
     vg_ctl_top},
    {"alerts", "[--api URL] [--host HOST] [--json]", "the alerts firing now", vg_ctl_alerts},
    {"silence", "add|list|expire [OPTIONS] [ARGS]", "create, list and expire silences",
     vg_ctl_silence},
    {"replay", "[-c CONFIG] [-s KEY=VALUE] FILE",
     "feed a recorded stream or CSV through the detectors, print alerts", vg_ctl_replay},
    {"fire-test", "[-c CONFIG] [-s KEY=VALUE] RECEIVER",
     "send a test alert through a configured receiver", vg_ctl_fire_test},
    {"report", "[--api URL | --input FILE] [-o FILE] [--since DUR | --from TIME] HOST",
     "write an HTML page with plots of a host's metrics, scores and alerts", vg_ctl_report},
    {"rules", "check [-c CONFIG] [-s KEY=VALUE] [-r RECEIVERS] [-m MODELSET] [-q] DIR|FILE",
     "validate a rules directory or file without starting anything", vg_ctl_rules},
    {"config", "check [-s KEY=VALUE] agent|analyzer FILE",
     "validate a config file with the daemon's own check", vg_ctl_config},
    {NULL, NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: vigilctl COMMAND [ARGS]\n"
               "\n"
               "The operator's tool for Vigil: validate config and rule files, replay and\n"
               "evaluate data through the same detectors as the analyzer, and query a running\n"
               "analyzer.\n"
               "\n"
               "Commands:\n");
    for (const struct vg_ctl_cmd *c = vg_ctl_cmds; c->name; c++)
        fprintf(f, "  %-10s %s\n", c->name, c->summary);
    fprintf(f, "\nRun 'vigilctl COMMAND --help' (or 'vigilctl help COMMAND') for a command's "
               "options.\n"
               "The commands that ask a running analyzer (status, top, alerts, silence,\n"
               "report) take --api URL; 'vigilctl --api URL COMMAND ...' reads the same.\n");
    /* Both kept as they were: changing a letter or a default would break command lines and
     * scripts that work today; the long forms are the same everywhere. */
    fprintf(f, "\n"
               "Option letters (long forms are the same everywhere; use them in scripts):\n"
               "  -c                  --config PATH in replay, report, fire-test and rules check;\n"
               "                      --comment TEXT in silence add\n"
               "  -s                  --set KEY=VALUE in replay, report, fire-test, rules check\n"
               "                      and config check; --start TIME in silence add\n"
               "\n"
               "Config (the analyzer's, for the commands that take -c):\n"
               "  replay              built-in defaults unless -c PATH; says on stderr which\n"
               "                      config it uses\n"
               "  report --input      the same\n"
               "  rules check         built-in defaults unless -c PATH; without -c or -s,\n"
               "                      receivers and models are not checked\n"
               "  fire-test           " VG_CTL_ANALYZER_CONFIG " unless -c PATH ('-c \"\"'\n"
               "                      for the built-in defaults): the receivers to test are the\n"
               "                      installed analyzer's\n");
    /* The man page is made from this text (packaging/man/gen-man.sh): "Exit status: ..."
     * becomes its EXIT STATUS section and "Environment:" its ENVIRONMENT, as in
     * docs/vigilctl.md. */
    fprintf(f, "\n"
               "Exit status: 0 success; 1 the command found problems or could not do its work:\n"
               "the file config check or rules check checks has a mistake, the analyzer is\n"
               "unreachable or answers an error, a notification was not delivered, input lines\n"
               "were bad, there is no data to plot; 2 usage error (an unknown option, a missing\n"
               "or extra argument, a bad option value, an --api or VIGIL_API that is not an\n"
               "http:// or https:// URL), or a config a command runs with (-c/-s of replay,\n"
               "report, fire-test) refused, or no daemon for config check to run.\n"
               "\n"
               "Environment:\n"
               "  VIGIL_API           the analyzer's API base URL (http:// or https://; anything\n"
               "                      else is a usage error, exit 2); --api overrides it\n"
               "  VIGIL_TOKEN_FILE    the bearer token file for the requests that change state\n"
               "                      (silence add and expire; no other command reads it);\n"
               "                      --token-file overrides it\n");
}

void vg_ctl_usage(FILE *f, const char *name)
{
    for (const struct vg_ctl_cmd *c = vg_ctl_cmds; c->name; c++)
        if (strcmp(c->name, name) == 0)
            fprintf(f, "Usage: vigilctl %s%s%s\n%s\n", c->name, *c->args ? " " : "", c->args,
                    c->summary);
}

int vg_ctl_add_set(const char *cmd, char **sets, size_t *n, char *arg)
{
    if (*n == VG_CTL_MAX_SETS) {
        fprintf(stderr, "vigilctl %s: too many --set options\n", cmd);
        return -1;
    }
    sets[(*n)++] = arg;
    return 0;
}

void vg_ctl_say_config(const char *cmd, const char *path, size_t n_sets)
{
    const char *sets = n_sets ? " and --set" : "";
    if (path) {
        fprintf(stderr, "vigilctl %s: config %s%s\n", cmd, path, sets);
        return;
    }
    int installed = access(VG_CTL_ANALYZER_CONFIG, F_OK) == 0;
    fprintf(stderr, "vigilctl %s: config: built-in defaults%s (no -c)%s%s\n", cmd, sets,
            installed ? "; the installed analyzer's is -c " : "",
            installed ? VG_CTL_ANALYZER_CONFIG : "");
}

int vg_ctl_version(int argc, char **argv)
{
    /* Every command takes --help (docs/vigilctl.md), this one included. */
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        vg_ctl_usage(stdout, "version");
        printf("\nExit status: 0 printed, 2 usage error (any argument).\n");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "vigilctl version: takes no arguments ('%s')\n", argv[1]);
        return 2;
    }
    printf("vigilctl %s\n", VIGIL_VERSION);
    return 0;
}

/* The commands that ask a running analyzer, and so take --api. */
static int takes_api(const char *cmd)
{
    static const char *const api_cmds[] = {"status", "top", "alerts", "silence", "report"};
    for (size_t i = 0; i < VG_ARRAY_LEN(api_cmds); i++)
        if (strcmp(cmd, api_cmds[i]) == 0)
            return 1;
    return 0;
}

/* The most arguments vigilctl --api URL COMMAND ... is rearranged with. */
#define VG_CTL_MAX_ARGS 256

int main(int argc, char **argv)
{
    /* -c and -s of replay, report and fire-test take the analyzer's keys, which vigilctl's own
     * --help does not list. */
    vg_config_set_keys_hint("see 'vigil-analyzer --help' for the list of keys");
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    /* "vigilctl --api URL status": the global-option habit of other tools. Only --api, and only
     * before a command that takes it, is moved after the command name, where getopt reads it
     * as if written there; anything else before the command is refused saying where it goes. */
    char *moved[VG_CTL_MAX_ARGS];
    if (strcmp(argv[1], "--api") == 0 || strncmp(argv[1], "--api=", 6) == 0) {
        int nopt = argv[1][5] == '=' ? 1 : 2;
        if (argc <= nopt + 1 || !takes_api(argv[nopt + 1])) {
            fprintf(stderr, "vigilctl: --api goes with a command that asks the analyzer (status, "
                            "top, alerts, silence, report), e.g. vigilctl status --api URL\n");
            return 2;
        }
        if ((size_t)argc >= VG_ARRAY_LEN(moved)) {
            fprintf(stderr, "vigilctl: too many arguments\n");
            return 2;
        }
        int n = 0;
        moved[n++] = argv[0];
        moved[n++] = argv[nopt + 1];
        for (int i = 1; i <= nopt; i++)
            moved[n++] = argv[i];
        for (int i = nopt + 2; i < argc; i++)
            moved[n++] = argv[i];
        moved[n] = NULL;
        argv = moved;
    } else if (argv[1][0] == '-' && argv[1][1] && strcmp(argv[1], "-h") != 0 &&
               strcmp(argv[1], "--help") != 0 && strcmp(argv[1], "-V") != 0 &&
               strcmp(argv[1], "--version") != 0) {
        fprintf(stderr,
                "vigilctl: options go after the command: vigilctl COMMAND %s ... (commands: "
                "vigilctl --help)\n",
                argv[1]);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 ||
        (strcmp(name, "help") == 0 && argc == 2)) {
        usage(stdout);
        return 0;
    }
    if (strcmp(name, "-V") == 0 || strcmp(name, "--version") == 0)
        return vg_ctl_version(argc - 1, argv + 1);
    /* "vigilctl help status" is "vigilctl status --help", and "help rules check" is "rules check
     * --help", as other tools with subcommands read it. */
    char **cargv = argv + 1, *help_argv[16];
    int cargc = argc - 1;
    if (strcmp(name, "help") == 0) {
        if ((size_t)argc > VG_ARRAY_LEN(help_argv) - 1) {
            fprintf(stderr, "vigilctl help: too many arguments\n");
            return 2;
        }
        int n = 0;
        for (int i = 2; i < argc; i++)
            help_argv[n++] = argv[i];
        help_argv[n++] = "--help";
        help_argv[n] = NULL;
        cargv = help_argv;
        cargc = n;
        name = help_argv[0];
    }
    const char *best = NULL;
    size_t best_d = 99;
    for (const struct vg_ctl_cmd *c = vg_ctl_cmds; c->name; c++) {
        if (strcmp(c->name, name) == 0) {
            /* getopt names argv[0] in its own messages ("unrecognized option '--bogus'",
             * "option '--api' requires an argument"): "vigilctl status: ...", as the
             * commands' own messages read, not "status: ...". */
            static char prog[64];
            snprintf(prog, sizeof(prog), "vigilctl %s", c->name);
            cargv[0] = prog;
            return c->run(cargc, cargv);
        }
        size_t d = vg_edit_distance(name, c->name);
        if (d < best_d) {
            best_d = d;
            best = c->name;
        }
    }
    fprintf(stderr, "vigilctl: unknown command '%s'", name);
    if (best && best_d <= 2)
        fprintf(stderr, "; did you mean '%s'?", best);
    fprintf(stderr, "\nRun 'vigilctl --help' for the list.\n");
    return 2;
}
