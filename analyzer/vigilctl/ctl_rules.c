/* vigilctl rules check DIR|FILE: validates a rules directory, or one rule file, (rules and scaling
 * policies) exactly as the analyzer loads it, without starting anything; with the analyzer's
 * config (-c), also against the receivers and host models it configures. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analyzer_config.h"
#include "ctl_engine.h"
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
            "Whether `actions:` name receivers that exist depends on the analyzer's config:\n"
            "give it with -c (or the receivers with -r) to have that checked too.\n"
            "  -c, --config FILE     the analyzer's config: `actions:` must name receivers it\n"
            "                        configures (webhook.url, ...), and value(\"host:NAME\")\n"
            "                        models its model.set runs, as vigil-analyzer checks them\n"
            "  -s, --set KEY=VALUE   override a key of that config (repeatable; without -c,\n"
            "                        of the built-in defaults), e.g. -s webhook.url=http://...\n"
            "  -r, --receivers LIST  check `actions:` against these receivers instead\n"
            "                        (comma-separated, e.g. webhook,slack)\n"
            "  -m, --models SET      check value(\"host:NAME\") against this model.set instead\n"
            "                        (e.g. series,mv); the names are always checked against the\n"
            "                        host models that exist\n"
            "  -q, --quiet           print nothing when the rules are fine\n"
            "Exit status: 0 valid, 1 mistakes found, 2 usage or config error.\n");
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
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"receivers", required_argument, NULL, 'r'},
        {"models", required_argument, NULL, 'm'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *receivers = NULL, *models = NULL, *config = NULL;
    char *sets[VG_CTL_MAX_SETS];
    size_t n_sets = 0;
    int quiet = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:s:r:m:qh", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 's':
            if (vg_ctl_add_set("rules check", sets, &n_sets, optarg) < 0)
                return 2;
            break;
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
    /* The analyzer's config, as vigil-analyzer reads it (defaults, the file, VIGIL_* variables):
     * the receivers it starts and the models it runs are what its rule check uses. */
    struct analyzer_cfg cfg;
    int have_cfg = 0;
    if (config || n_sets) {
        if (vg_ctl_load_config(&cfg, config && *config ? config : NULL, sets, n_sets, merr,
                               sizeof(merr)) < 0) {
            fprintf(stderr, "vigilctl rules check: config error: %s\n", merr);
            vg_config_free(&analyzer_config_table, &cfg);
            return 2;
        }
        have_cfg = 1;
        if (!models)
            models = cfg.model_set ? cfg.model_set : "";
    }
    const char *dir = argv[optind + 1];
    char *err = malloc(ERRLEN);
    if (!err) {
        if (have_cfg)
            vg_config_free(&analyzer_config_table, &cfg);
        return 1;
    }
    struct vg_rule_set *set = NULL;
    struct stat st;
    int rc;
    /* The check loads: what parsed comes back even with mistakes, so that the receivers and
     * models are checked too and every mistake is listed in one run (docs/rules.md). */
    if (stat(dir, &st) == 0 && S_ISREG(st.st_mode)) {
        /* One file, as the analyzer would load it from a directory holding only it. */
        char *text = NULL;
        size_t len = 0;
        rc = vg_rule_file_read(dir, &text, &len, err, ERRLEN);
        if (!rc)
            rc = vg_rule_set_check_buffer(dir, text, len, &set, err, ERRLEN);
        free(text);
    } else if (stat(dir, &st) != 0 && (strstr(dir, ".yaml") || strstr(dir, ".yml"))) {
        rc = -errno; /* a rule file that is not there: not "cannot open rules directory" */
        snprintf(err, ERRLEN, "%s: %s", dir, strerror(errno));
    } else {
        rc = vg_rule_set_check_dir(dir, &set, err, ERRLEN);
    }
    int bad = rc != 0;
    size_t n_actions = 0;
    if (set) {
        /* As the analyzer checks them (analyzer_rules.c): a model that does not exist always,
         * one model.set does not run when told the set. */
        struct vg_rule_errlist el;
        vg_rule_errlist_resume(&el, err, ERRLEN);
        bad |= vg_models_check_rules(set, models, &el) > 0;
        if (have_cfg && !receivers)
            bad |= analyzer_check_rule_actions(&cfg, set, &el) > 0;
        for (size_t i = 0; i < vg_rule_set_count(set); i++) {
            const struct vg_rule *r = vg_rule_set_rule(set, i);
            n_actions += vg_rule_action_count(r);
            for (size_t k = 0; receivers && k < vg_rule_action_count(r); k++) {
                if (listed(vg_rule_action(r, k), receivers))
                    continue;
                char line[8192];
                snprintf(line, sizeof(line), "%s: action '%s' is not one of the receivers %s",
                         vg_rule_action_where(r, k), vg_rule_action(r, k), receivers);
                vg_rule_errlist_add(&el, line);
                bad = 1;
            }
        }
        vg_rule_errlist_finish(&el);
    }
    if (err[0])
        fprintf(stderr, "%s\n", err);
    for (size_t i = 0; set && !quiet && i < vg_rule_set_skipped_count(set); i++)
        fprintf(stderr, "%s\n", vg_rule_set_skipped(set, i));
    /* Without the config the receivers are not known, and the analyzer refuses a rule naming
     * one it does not configure (the packaged config configures none): say what was left
     * unchecked rather than let OK read as "the analyzer will load these". */
    if (set && n_actions && !receivers && !have_cfg && !quiet)
        fprintf(stderr,
                "note: `actions:` were not checked against the analyzer's receivers; check them "
                "with -c /etc/vigil/analyzer.yaml (or -r RECEIVERS)\n");
    /* A warning, not a mistake: the analyzer loads such a directory (docs/rules.md), but with
     * its rule files replacing the built-in rule nothing alerts, so it is said even with -q. */
    int empty = !bad && set && vg_rule_set_count(set) == 0 && vg_rule_set_policy_count(set) == 0;
    if (empty)
        fprintf(stderr,
                "warning: %s: no rules and no scaling policies: as rules.dir, no alert would fire "
                "(rule files end in .yaml or .yml and replace the built-in rule)\n",
                dir);
    if (!bad && !quiet)
        printf("%s: %zu rules, %zu scaling policies: %s\n", dir, vg_rule_set_count(set),
               vg_rule_set_policy_count(set), empty ? "OK, but nothing to alert on" : "OK");
    vg_rule_set_free(set);
    free(err);
    if (have_cfg)
        vg_config_free(&analyzer_config_table, &cfg);
    return bad;
}
