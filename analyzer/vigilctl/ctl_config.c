/* vigilctl config check agent|analyzer FILE: checks a config file by running the daemon that
 * reads it with --check-config. The daemon's check is the only one: it loads the file with its
 * own key table and opens what a start would open (detectors, rules, receivers' URLs, Kafka
 * properties), so a copy of it here would fall out of step, as vigilctl's engine settings once
 * did (analyzer_engine_params). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vigilctl.h"

static void help(FILE *f)
{
    vg_ctl_usage(f, "config");
    fprintf(f,
            "\nChecks FILE as the daemon that reads it would at a start, by running that daemon\n"
            "with --check-config: vigil-agent for `agent`, vigil-analyzer for `analyzer`. It\n"
            "prints the effective values (secrets masked) and `# config OK`, or `config error:`\n"
            "and the first problem. The daemon is looked for beside vigilctl, then where a\n"
            "build tree keeps it (../vigil-analyzer, ../../agent/vigil-agent), then on PATH.\n"
            "  -s, --set KEY=VALUE  override a key, as the daemon's own --set (repeatable)\n"
            "Exit status: 0 valid, 1 config error, 2 usage error or daemon not found.\n");
}

/* The directory vigilctl runs from, into dir (empty when /proc/self/exe cannot be read). */
static void own_dir(char *dir, size_t n)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    dir[0] = '\0';
    if (len <= 0)
        return;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash && (size_t)(slash - exe) < n)
        snprintf(dir, n, "%.*s", (int)(slash - exe), exe);
}

int vg_ctl_config(int argc, char **argv)
{
    static const struct option opts[] = {{"set", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    char *sets[VG_CTL_MAX_SETS];
    size_t n_sets = 0;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        switch (opt) {
        case 's':
            if (vg_ctl_add_set("config", sets, &n_sets, optarg) < 0)
                return 2;
            break;
        case 'h':
            help(stdout);
            return 0;
        default:
            help(stderr);
            return 2;
        }
    }
    if (optind < argc && strcmp(argv[optind], "check") != 0) {
        fprintf(stderr, "vigilctl config: unknown subcommand '%s' (check)\n\n", argv[optind]);
        help(stderr);
        return 2;
    }
    if (optind + 3 != argc) {
        fprintf(stderr, "vigilctl config: %s\n\n",
                optind == argc      ? "no subcommand (check)"
                : optind + 3 > argc ? "name agent or analyzer, and the file"
                                    : "one file only");
        help(stderr);
        return 2;
    }
    const char *kind = argv[optind + 1], *file = argv[optind + 2];
    const char *daemon = strcmp(kind, "agent") == 0      ? "vigil-agent"
                         : strcmp(kind, "analyzer") == 0 ? "vigil-analyzer"
                                                         : NULL;
    if (!daemon) {
        fprintf(stderr, "vigilctl config: '%s' is not agent or analyzer\n", kind);
        return 2;
    }
    /* The daemon would say "no such file" too, but only after it is found. */
    if (access(file, R_OK) != 0) {
        fprintf(stderr, "vigilctl config: %s: %s\n", file, strerror(errno));
        return 1;
    }
    char *args[4 + 2 * VG_CTL_MAX_SETS + 1];
    size_t n = 0;
    args[n++] = (char *)daemon;
    args[n++] = "--check-config";
    args[n++] = "--config";
    args[n++] = (char *)file;
    for (size_t i = 0; i < n_sets; i++) {
        args[n++] = "--set";
        args[n++] = sets[i];
    }
    args[n] = NULL;
    fflush(stdout);
    /* Beside vigilctl first: the daemon of the same install, not another one on PATH. Then where
     * a build tree keeps it: build/analyzer/vigilctl/vigilctl, build/analyzer/vigil-analyzer,
     * build/agent/vigil-agent. */
    char dir[PATH_MAX], path[2 * PATH_MAX];
    own_dir(dir, sizeof(dir));
    static const char *const where[] = {"%s/%s%s", "%s/../%s%s", "%s/../../%s/%s"};
    for (size_t i = 0; dir[0] && i < sizeof(where) / sizeof(where[0]); i++) {
        int w = i < 2 ? snprintf(path, sizeof(path), where[i], dir, daemon, "")
                      : snprintf(path, sizeof(path), where[i], dir, kind, daemon);
        if (w < 0 || w >= (int)sizeof(path) || access(path, X_OK) != 0)
            continue;
        execv(path, args);
        fprintf(stderr, "vigilctl config: cannot run %s: %s\n", path, strerror(errno));
        return 2;
    }
    execvp(daemon, args);
    fprintf(stderr,
            "vigilctl config: %s is neither beside vigilctl (%s), where a build tree keeps it, nor "
            "on PATH; the %s's config is checked by %s itself, so run this where it is installed\n",
            daemon, dir[0] ? dir : "?", kind, daemon);
    return 2;
}
