/* vigilctl rules check DIR|FILE: validates a rules directory, or one rule file, (rules and scaling
 * policies) exactly as the analyzer loads it, without starting anything. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vg_action.h"
#include "vg_models.h"
#include "vg_rule.h"
#include "vg_rule_load.h"
#include "vg_rule_policy.h"
#include "vg_util.h"
#include "vigilctl.h"

#define ERRLEN 65536

static void help(FILE *f)
{
    vg_ctl_usage(f, "rules");
    fprintf(f,
            "\nChecks every *.yaml and *.yml file of DIR (or the one FILE) as vigil-analyzer\n"
            "would load it (docs/rules.md) and prints each mistake as FILE:LINE:COLUMN: message.\n"
            "  -r, --receivers LIST  also check that `actions:` only name these receivers\n"
            "                        (comma-separated, e.g. webhook,slack)\n"
            "  -m, --models SET      also check that value(\"host:NAME\") only reads models of\n"
            "                        this model.set (e.g. series,mv); the names are always\n"
            "                        checked against the host models that exist\n"
            "  -q, --quiet           print nothing when the rules are fine\n"
            "Exit status: 0 valid, 1 mistakes found, 2 usage error.\n");
}

static int listed(const char *name, const char *list)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (l == n && strncmp(p, name, n) == 0)
            return 1;
        p = c ? c + 1 : p + l;
    }
    return 0;
}

int vg_ctl_rules(int argc, char **argv)
{
    static const struct option opts[] = {{"receivers", required_argument, NULL, 'r'},
                                         {"models", required_argument, NULL, 'm'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *receivers = NULL, *models = NULL;
    int quiet = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "r:m:qh", opts, NULL)) != -1) {
        switch (opt) {
        case 'r':
            receivers = optarg;
            break;
        case 'm':
            models = optarg;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            help(stdout);
            return 0;
        default:
            help(stderr);
            return 2;
        }
    }
    if (optind == argc || strcmp(argv[optind], "check") != 0) {
        fprintf(stderr, "vigilctl rules: %s%s%s\n\n",
                optind == argc ? "no subcommand" : "unknown subcommand '",
                optind == argc ? "" : argv[optind], optind == argc ? " (check)" : "' (check)");
        help(stderr);
        return 2;
    }
    if (optind + 2 != argc) {
        fprintf(stderr, "vigilctl rules check: %s\n\n",
                optind + 2 > argc ? "name the rules directory (or one rule file)"
                                  : "one directory or file only");
        help(stderr);
        return 2;
    }
    for (const char *p = receivers; p && *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(l < sizeof name ? l : sizeof name - 1), p);
        if (!vg_action_find(name)) {
            fprintf(stderr, "vigilctl rules check: --receivers: '%s' is not a receiver type\n",
                    name);
            return 2;
        }
        p = c ? c + 1 : p + l;
    }
    char merr[VG_ERRLEN];
    if (models && vg_models_check_set(models, merr, sizeof(merr)) < 0) {
        fprintf(stderr, "vigilctl rules check: --models: %s\n", merr);
        return 2;
    }
    const char *dir = argv[optind + 1];
    char *err = malloc(ERRLEN);
    if (!err)
        return 1;
    struct vg_rule_set *set = NULL;
    struct stat st;
    int rc;
    if (stat(dir, &st) == 0 && S_ISREG(st.st_mode)) {
        /* One file, as the analyzer would load it from a directory holding only it. */
        char *text = NULL;
        size_t len = 0;
        rc = vg_rule_file_read(dir, &text, &len, err, ERRLEN);
        if (!rc)
            rc = vg_rule_set_load_buffer(dir, text, len, &set, err, ERRLEN);
        free(text);
    } else if (stat(dir, &st) != 0 && (strstr(dir, ".yaml") || strstr(dir, ".yml"))) {
        rc = -errno; /* a rule file that is not there: not "cannot open rules directory" */
        snprintf(err, ERRLEN, "%s: %s", dir, strerror(errno));
    } else {
        rc = vg_rule_set_load_dir(dir, &set, err, ERRLEN);
    }
    if (rc) {
        fprintf(stderr, "%s\n", err);
        free(err);
        return 1;
    }
    /* As the analyzer checks them (analyzer_rules.c): a model that does not exist always, one
     * model.set does not run when told the set. */
    struct vg_rule_errlist el = {err, ERRLEN, 0, 0};
    err[0] = '\0';
    int bad = vg_models_check_rules(set, models, &el) > 0;
    vg_rule_errlist_finish(&el);
    if (bad)
        fprintf(stderr, "%s\n", err);
    for (size_t i = 0; receivers && i < vg_rule_set_count(set); i++) {
        const struct vg_rule *r = vg_rule_set_rule(set, i);
        for (size_t k = 0; k < vg_rule_action_count(r); k++) {
            if (listed(vg_rule_action(r, k), receivers))
                continue;
            fprintf(stderr, "%s: action '%s' is not one of the receivers %s\n",
                    vg_rule_action_where(r, k), vg_rule_action(r, k), receivers);
            bad = 1;
        }
    }
    for (size_t i = 0; !quiet && i < vg_rule_set_skipped_count(set); i++)
        fprintf(stderr, "%s\n", vg_rule_set_skipped(set, i));
    if (!bad && !quiet)
        printf("%s: %zu rules, %zu scaling policies: OK\n", dir, vg_rule_set_count(set),
               vg_rule_set_policy_count(set));
    vg_rule_set_free(set);
    free(err);
    return bad;
}
