/* vigilctl eval: runs the analyzer's own detectors over a labelled data set and scores them.
 * The detector, its settings and the alert threshold come from the analyzer's configuration
 * (defaults, --config, --set), so the figures are those of what would run in production. */
#include "ctl_eval.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analyzer_config.h"
#include "vg_engine.h"
#include "vg_hscore.h"
#include "vg_util.h"
#include "vigilctl.h"

static void help(FILE *f)
{
    vg_ctl_usage(f, "eval");
    fprintf(f,
            "\nKinds:\n"
            "  nab DIR   NAB-format corpus (data/<category>/*.csv, labels/): one causal pass per\n"
            "            file, scored with NAB's three profiles\n"
            "  smd DIR   Server Machine Dataset (train/, test/, test_label/,\n"
            "            interpretation_label/): point-wise and attribution metrics\n"
            "\nRun 'vigilctl eval KIND --help' for the options.\n"
            "\nExit status: 0 scored, 1 a file could not be read or scored, 2 usage error.\n");
}

void ctl_eval_common_help(FILE *f)
{
    fprintf(f,
            "  -c, --config FILE     the analyzer's configuration (detector.*, alert.threshold)\n"
            "  -s, --set KEY=VALUE   override one analyzer key, e.g. detector.model=ewma\n"
            "  -p, --param NAME=VAL  the SMD host scorer's settings (eval smd --help); the\n"
            "                        per-series detector's are the analyzer's detector.* keys\n"
            "  -v, --verbose         per-file / per-machine details\n"
            "  -h, --help            this help\n");
}

/* The SMD host scorer's settings (doubles of struct ctl_eval_smd_opts), each with its range:
 * they are cast to integers (out of range: undefined), and a huge epochs ran for ever. */
struct extra {
    const char *name;
    size_t off;
    double lo, hi;
    int whole; /* a whole number */
    int above; /* lo itself is excluded */
    const char *what;
};

#define X(n) #n, offsetof(struct ctl_eval_smd_opts, n)
static const struct extra extras[] = {
    {X(host), 0, 3, 1, 0, "0, 1, 2 or 3"},
    {X(epochs), 1, 1000, 1, 0, "a whole number from 1 to 1000"},
    {X(topk), 1, 64, 1, 0, "a whole number from 1 to 64"},
    {X(hsmooth), 1, VG_HSCORE_SMOOTH, 1, 0, "a whole number from 1 to 32"},
    {X(hfloor), 0, 1e6, 0, 1, "a number above 0, at most 1e6"},
    {X(halpha), 0, 1, 0, 0, "a number from 0 to 1"},
    {X(norm_alpha), 0, 1, 0, 1, "a number above 0, at most 1"},
    {X(lr), 0, 0.999999, 0, 1, "a number above 0 and below 1"},
    {X(window), 1, 1024, 1, 0, "a whole number from 1 to 1024"},
    {X(online), 0, 1, 1, 0, "0 or 1"},
    {X(hq), 0, 0.999999, 0, 1, "a number above 0 and below 1"},
    {X(hblame), 0, 1e6, 1, 0, "a whole number from 0 to 1e6"},
    {X(hbfast), 0, 1e6, 1, 0, "a whole number from 0 to 1e6"},
    {X(ublame), 0, 1e6, 0, 0, "a number from 0 to 1e6"},
    {X(arch), 0, 1, 1, 0, "0 or 1"},
    {X(bottleneck), 1, 16384, 1, 0, "a whole number from 1 to 16384"},
    {X(hstate), 0, 1e6, 0, 0, "a number from 0 to 1e6"},
    {X(hstate_k), 0, 1e6, 0, 0, "a number from 0 to 1e6"},
    {X(hlearn), 0, 1, 0, 0, "a number from 0 to 1"},
    {X(hburst), 0, 1, 0, 0, "a number from 0 to 1"},
    {X(hrelearn), 0, 1e9, 1, 0, "a whole number from 0 to 1e9"},
    {X(seed), 0, 9007199254740992.0, 1, 0, "a whole number from 0 to 2^53"},
    {X(group), 0, 1, 1, 0, "0 or 1"},
    {X(ens), 1, CTL_SMD_ENS_MAX, 1, 0, "a whole number from 1 to 8"},
};
#undef X

/* Returns 0, -ENOENT for an unknown name, or -EINVAL with *what set to the range expected
 * (NULL: not NAME=VALUE at all). */
static int set_extra(struct ctl_eval_smd_opts *so, const char *arg, const char **what)
{
    *what = NULL;
    const char *eq = strchr(arg, '=');
    if (!eq)
        return -EINVAL;
    for (size_t i = 0; i < VG_ARRAY_LEN(extras); i++) {
        const struct extra *x = &extras[i];
        if (strlen(x->name) != (size_t)(eq - arg) || strncmp(x->name, arg, (size_t)(eq - arg)) != 0)
            continue;
        *what = x->what;
        char *end;
        double v = strtod(eq + 1, &end);
        /* isfinite first: every comparison with a NaN is false. */
        if (*end || eq[1] == 0 || !isfinite(v) || v < x->lo || v > x->hi ||
            (x->above && v <= x->lo) || (x->whole && v != floor(v)))
            return -EINVAL;
        *(double *)((char *)so + x->off) = v;
        return 0;
    }
    return -ENOENT;
}

int ctl_eval_parse(int argc, char **argv, struct ctl_eval_opts *o, void (*kind_help)(FILE *f))
{
    static const struct option lo[] = {
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"param", required_argument, NULL, 'p'},
        {"results", required_argument, NULL, 'r'},
        {"name", required_argument, NULL, 'n'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"save-residuals", required_argument, NULL, 'S'},
        {"from-residuals", required_argument, NULL, 'F'},
        {"backend", required_argument, NULL, 'B'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    char **sets = calloc((size_t)argc + 1, sizeof(char *));
    char **params = calloc((size_t)argc + 1, sizeof(char *));
    size_t n_sets = 0, n_params = 0;
    int rc = 2, c;
    memset(o, 0, sizeof(*o));
    /* The host score's settings start from the analyzer's own (vg_hscore_defaults); the rest
     * are the evaluation's: its training phase, its frozen normaliser, which path scores. */
    struct vg_hscore_params hp;
    vg_hscore_defaults(&hp);
    o->smd = (struct ctl_eval_smd_opts){.host = 1,
                                        .epochs = 2,
                                        .topk = hp.top_k,
                                        .hsmooth = hp.smooth,
                                        .hfloor = hp.floor,
                                        .halpha = hp.alpha,
                                        .norm_alpha = 1e-5,
                                        .lr = 3e-4,
                                        .window = 8,
                                        .online = 1,
                                        .hq = hp.spot.q,
                                        .hblame = hp.blame,
                                        .hbfast = hp.blame_fast,
                                        .bottleneck = 32,
                                        .hstate = hp.state_weight,
                                        .hstate_k = hp.state_k,
                                        .hlearn = hp.spot.learn_max,
                                        .hburst = hp.burst,
                                        .hrelearn = -1,
                                        .seed = 1,
                                        .ens = 1};
    o->name = "vigil";
    o->backend = "cpu";
    if (!sets || !params)
        goto out;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:s:p:r:n:vh", lo, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 's':
            sets[n_sets++] = optarg;
            break;
        case 'p':
            if (!o->param)
                o->param = optarg;
            params[n_params++] = optarg;
            break;
        case 'r':
            o->results = optarg;
            break;
        case 'n':
            o->name = optarg;
            break;
        case 'S':
            o->save_resid = optarg;
            break;
        case 'F':
            o->from_resid = optarg;
            break;
        case 'B':
            if (strcmp(optarg, "cpu") && strcmp(optarg, "cuda") && strcmp(optarg, "auto")) {
                fprintf(stderr, "vigilctl eval: --backend must be cpu, cuda or auto, not '%s'\n",
                        optarg);
                goto out;
            }
            o->backend = optarg;
            break;
        case 'v':
            o->verbose++;
            break;
        case 'h':
            kind_help(stdout);
            rc = 3;
            goto out;
        default:
            fprintf(stderr, "vigilctl eval %s: unknown or incomplete option '%s'\n", argv[0],
                    argv[optind - 1]);
            goto out;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "vigilctl eval %s: expected one DIR (see --help)\n", argv[0]);
        goto out;
    }
    o->dir = argv[optind];
    if (strpbrk(o->name, "_./") || !*o->name) {
        fprintf(stderr, "vigilctl eval: --name must be non-empty without '_', '.' or '/'\n");
        goto out;
    }
    struct analyzer_cfg cfg;
    char err[VG_ERRLEN];
    if (vg_config_load_all(&analyzer_config_table, &cfg, config, sets, n_sets, err, sizeof(err)) !=
        0) {
        fprintf(stderr, "vigilctl eval: %s\n", err);
        goto out;
    }
    /* The analyzer's own reading of detector.* and alert.*, so eval scores what it would. */
    struct vg_engine_params ep;
    if (analyzer_engine_params(&cfg, 0, &ep, err, sizeof(err)) != 0) {
        fprintf(stderr, "vigilctl eval: %s\n", err);
        vg_config_free(&analyzer_config_table, &cfg);
        goto out;
    }
    o->det = ep.detector;
    o->dp = ep.dp;
    o->ap = ep.ap;
    o->stale_ms = ep.stale_ms;
    vg_config_free(&analyzer_config_table, &cfg);
    for (size_t i = 0; i < n_params; i++) {
        const char *what;
        int e = set_extra(&o->smd, params[i], &what);
        if (e == -ENOENT) {
            fprintf(stderr, "vigilctl eval: --param '%s': unknown name (see --help)\n", params[i]);
            goto out;
        }
        if (e && !what) {
            fprintf(stderr, "vigilctl eval: --param '%s': expected NAME=VALUE\n", params[i]);
            goto out;
        }
        if (e) {
            fprintf(stderr, "vigilctl eval: --param '%s': %.*s must be %s\n", params[i],
                    (int)(strchr(params[i], '=') - params[i]), params[i], what);
            goto out;
        }
    }
    rc = 0;
out:
    free(sets);
    free(params);
    return rc;
}

int ctl_eval_step(const struct ctl_eval_opts *o, void *state, int64_t ts_ms, double x,
                  double *score)
{
    int rc = o->det->update_at ? o->det->update_at(state, &o->dp, ts_ms, x, score)
                               : o->det->update(state, &o->dp, x, score);
    if (rc)
        *score = 0;
    return rc;
}

int vg_ctl_eval(int argc, char **argv)
{
    if (argc < 2) {
        help(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        help(stdout);
        return 0;
    }
    if (strcmp(argv[1], "nab") == 0)
        return ctl_eval_nab(argc - 1, argv + 1);
    if (strcmp(argv[1], "smd") == 0)
        return ctl_eval_smd(argc - 1, argv + 1);
    fprintf(stderr, "vigilctl eval: unknown kind '%s' (nab, smd)\n", argv[1]);
    return 2;
}

int ctl_eval_mkdirs(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}
