/* vigilctl eval smd: each machine of a Server Machine Dataset folder through the analyzer's host
 * scorers (vg_mv's residuals through vg_hscore by default; the per-series detectors, one state
 * per metric, or both: --param host), then scored against the test labels (vg_eval_smd.c). Each
 * machine learns causally over its train half and continues over its test half; only the test
 * half is scored. With --param group=1 the machines are the hosts of one vg_mv group, stepped
 * together as the analyzer steps a group. Rows are a minute apart (the data set's step). */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_eval.h"
#include "ctl_eval_resid.h"
#include "ctl_eval_smd_host.h"
#include "vg_eval_io.h"
#include "vg_eval_smd.h"
#include "vg_hscore.h"
#include "vg_k.h"
#include "vg_log.h"
#include "vg_mv.h"
#include "vg_util.h"
#include "vigilctl.h"

#define STEP_MS 60000

static void help(FILE *f)
{
    fprintf(f,
            "Usage: vigilctl eval smd [OPTIONS] DIR\n"
            "\nFor each DIR/test/machine-*.txt: learns over train/ then scores test/ one row at a\n"
            "time and prints point-wise precision/recall/F1 at alert.threshold, best-threshold\n"
            "F1, AUPRC, point-adjusted best F1 and HitRate@100%%/150%% against\n"
            "interpretation_label, per machine and their mean.\n"
            "\nHost scorers (--param host=N):\n"
            "  0  the analyzer's per-series detector, one state per metric; the mean of the %d\n"
            "     largest -log10 tail probabilities, calibrated per host by SPOT\n"
            "  1  the multivariate model vg_mv, trained for `epochs` passes over train/, its\n"
            "     per-metric residuals through vg_hscore (error scales fitted on train/, top-k,\n"
            "     smoothing, SPOT per host) (default)\n"
            "  2, 3  the larger / the mean of both surprises, calibrated again by SPOT\n"
            "Host scorer parameters (--param): epochs, topk, hsmooth, hblame, hbfast, hfloor,\n"
            "halpha, hq, hstate, hstate_k, hlearn, hburst, hrelearn, norm_alpha, lr, window,\n"
            "online, ublame, arch (0 forecaster, 1 autoencoder), bottleneck, seed\n"
            "(docs/evaluation.md), group (1: every machine a host of one vg_mv group with\n"
            "shared weights, stepped together row by row, as the analyzer runs a group; host=1\n"
            "only), ens (K models of seeds seed ... seed+K-1, their residuals averaged before\n"
            "the host score).\n"
            "\nOptions:\n",
            CTL_SMD_UNI_TOPK);
    ctl_eval_common_help(f);
    fprintf(f,
            "  -r, --results DIR     write DIR/machine-*.csv: per test row its label, host score\n"
            "                        (surprise), raw score and the three metrics blamed first\n"
            "  --backend B           vg_mv's compute backend: cpu (default), cuda or auto. The\n"
            "                        header names it and, for cpu, OpenBLAS's kernels. Training\n"
            "                        amplifies rounding: another backend, or kernels other than\n"
            "                        the documented figures' (Haswell: OPENBLAS_CORETYPE=Haswell\n"
            "                        picks them on any AVX2 CPU), moves a seed's best F1 by up\n"
            "                        to about 0.01 (docs/evaluation.md)\n"
            "  --save-residuals DIR  also write DIR/machine-*.resid: vg_mv's residuals and\n"
            "                        normalised values of the rows the host score sees\n"
            "  --from-residuals DIR  score those instead of running vg_mv: only the host score's\n"
            "                        parameters (topk, hsmooth, hfloor, halpha, hq, hstate,\n"
            "                        hstate_k, hlearn, hburst, hrelearn, hblame, hbfast) take\n"
            "                        effect; the model's are those of the run that saved them.\n"
            "                        A second instead of a minute per setting\n");
    fprintf(f, "\nExit status: 0 scored, 1 a file could not be read, 2 usage error.\n");
}

/* Names the backend vg_mv will run on, and so the rounding behind the figures. 0, or -EIO with
 * the reason on stderr. */
static int print_backend(const char *want)
{
    struct vg_k k;
    char err[VG_ERRLEN];
    vg_log_init("vigilctl", VG_LOG_WARN, 0);
    if (vg_k_open(&k, want, err, sizeof(err)) < 0) {
        fprintf(stderr, "vigilctl eval smd: %s\n", err);
        return -EIO;
    }
    printf("vg_mv backend: %s\n", k.desc);
    vg_k_close(&k);
    return 0;
}

/* Length of a machine's name without its ".txt" (the data set's files; the table's rows, the
 * --results and --save-residuals files are named by the rest). */
static int stem_len(const char *file)
{
    return (int)(strlen(file) - 4);
}

struct machine_result {
    struct vg_prf at, best, adj;
    double auprc, hit100, hit150;
};

/* --results: one CSV per machine, a row per test row, so that an operator can see where the
 * score rose and what it blamed (dims 1-based, as in interpretation_label). */
static int write_rows(const struct ctl_eval_opts *o, const char *name, size_t nt, size_t mt,
                      const uint8_t *lab, const double *score, const double *raw,
                      const double *contrib)
{
    char path[8192];
    int n = snprintf(path, sizeof(path), "%s/%.*s.csv", o->results, stem_len(name), name);
    if (n < 0 || (size_t)n >= sizeof(path) || ctl_eval_mkdirs(o->results) < 0) {
        fprintf(stderr, "vigilctl eval smd: %s: cannot create the results folder\n", o->results);
        return -1;
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "vigilctl eval smd: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "row,label,surprise,raw,blame1,blame2,blame3\n");
    for (size_t i = 0; i < nt; i++) {
        int top[3] = {-1, -1, -1};
        const double *c = contrib + i * mt;
        for (size_t d = 0; d < mt; d++) {
            int v = (int)d;
            for (int q = 0; q < 3; q++)
                if (top[q] < 0 || c[v] > c[top[q]]) {
                    int t = top[q];
                    top[q] = v;
                    v = t;
                    if (v < 0)
                        break;
                }
        }
        fprintf(f, "%zu,%u,%.6g,%.6g,%d,%d,%d\n", i, lab[i], score[i], raw[i], top[0] + 1,
                top[1] + 1, top[2] + 1);
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "vigilctl eval smd: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* One machine's data and, once scored, its per-row outputs. */
struct machine {
    const char *name;
    double *train, *test; /* nr x m, nt x m */
    size_t nr, nt, m;
    uint8_t *lab;                  /* nt */
    uint64_t *gt;                  /* nt: interpretation_label's metric sets */
    double *score, *raw, *contrib; /* nt, nt, nt x m */
};

static void machine_free(struct machine *d)
{
    free(d->train);
    free(d->test);
    free(d->lab);
    free(d->gt);
    free(d->score);
    free(d->raw);
    free(d->contrib);
    memset(d, 0, sizeof(*d));
}

/* Reads DIR/{train,test,test_label,interpretation_label}/name and allocates the outputs.
 * 0, or -1 with the reason printed. */
static int machine_load(const struct ctl_eval_opts *o, const char *name, struct machine *d)
{
    char p_train[8192], p_test[8192], p_lab[8192], p_int[8192], err[VG_ERRLEN];
    snprintf(p_train, sizeof(p_train), "%s/train/%s", o->dir, name);
    snprintf(p_test, sizeof(p_test), "%s/test/%s", o->dir, name);
    snprintf(p_lab, sizeof(p_lab), "%s/test_label/%s", o->dir, name);
    snprintf(p_int, sizeof(p_int), "%s/interpretation_label/%s", o->dir, name);
    size_t mr, nl;
    memset(d, 0, sizeof(*d));
    d->name = name;
    if (vg_eval_matrix_read(p_train, &d->train, &d->nr, &mr, err, sizeof(err)) ||
        vg_eval_matrix_read(p_test, &d->test, &d->nt, &d->m, err, sizeof(err)) ||
        vg_eval_labels_read(p_lab, &d->lab, &nl, err, sizeof(err)) ||
        vg_eval_interp_read(p_int, d->nt, &d->gt, err, sizeof(err))) {
        fprintf(stderr, "vigilctl eval smd: %s\n", err);
        return -1;
    }
    if (mr != d->m || nl != d->nt || d->m > 64) {
        fprintf(stderr,
                "vigilctl eval smd: %s: train has %zu columns, test %zu, labels %zu rows "
                "for %zu test rows (at most 64 columns)\n",
                name, mr, d->m, nl, d->nt);
        return -1;
    }
    d->score = malloc(d->nt * sizeof(double));
    d->raw = malloc(d->nt * sizeof(double));
    d->contrib = malloc(d->nt * d->m * sizeof(double));
    if (!d->score || !d->raw || !d->contrib) {
        fprintf(stderr, "vigilctl eval smd: out of memory\n");
        return -1;
    }
    return 0;
}

/* The metrics of a scored machine (and its --results file). 0 or -1 (printed). */
static int machine_finish(const struct ctl_eval_opts *o, struct machine *d,
                          struct machine_result *r)
{
    size_t nt = d->nt, mt = d->m;
    if (o->results && write_rows(o, d->name, nt, mt, d->lab, d->score, d->raw, d->contrib) != 0)
        return -1;
    vg_smd_at(d->score, d->lab, nt, -log10(1 - o->ap.threshold), &r->at);
    if (vg_smd_best(d->score, d->lab, nt, &r->best, &r->auprc) ||
        vg_smd_best_adjusted(d->score, d->lab, nt, &r->adj)) {
        fprintf(stderr, "vigilctl eval smd: out of memory\n");
        return -1;
    }
    /* Attribution is judged where the label says anomalous and an interpretation exists. */
    for (size_t i = 0; i < nt; i++)
        if (!d->lab[i])
            d->gt[i] = 0;
    vg_smd_hitrate(d->gt, d->contrib, nt, mt, 1.0, &r->hit100, NULL);
    vg_smd_hitrate(d->gt, d->contrib, nt, mt, 1.5, &r->hit150, NULL);
    return 0;
}

static int run_machine(const struct ctl_eval_opts *o, const char *name, struct machine_result *r)
{
    struct machine d;
    struct ctl_smd_host h = {0};
    int rc = -1;
    if (machine_load(o, name, &d) != 0)
        goto out;
    if (ctl_smd_host_init(&h, o, d.m) != 0) {
        fprintf(stderr, "vigilctl eval smd: out of memory\n");
        goto out;
    }
    size_t nr = d.nr, nt = d.nt, mt = d.m;
    int online = o->smd.online > 0;
    char err[VG_ERRLEN], stem[256];
    snprintf(stem, sizeof(stem), "%.*s", stem_len(name), name);
    if ((o->from_resid &&
         ctl_resid_open(&h.rin, o->from_resid, stem, mt, nr, nt, err, sizeof(err)) < 0) ||
        (o->save_resid &&
         ctl_resid_create(&h.rout, o->save_resid, stem, mt, nr, nt, err, sizeof(err)) < 0)) {
        fprintf(stderr, "vigilctl eval smd: %s\n", err);
        goto out;
    }
    /* vg_mv: epochs over the train half; in the last one, the first half fits the per-metric
     * error scales and the second feeds the calibration, so the test half is scored from its
     * first row. The per-series detectors learn the train half once (in the last epoch). A
     * replay has only the last epoch's rows: the earlier ones never reach the host score. */
    uint32_t ep = !h.use_mv || o->smd.epochs < 1 || o->from_resid ? 1 : (uint32_t)o->smd.epochs;
    h.hp.fit_n = (uint32_t)(nr / 2);
    for (uint32_t e = 0; e < ep; e++)
        for (size_t i = 0; i < nr; i++) {
            int ph = e + 1 < ep ? CTL_SMD_TRAIN : CTL_SMD_SCORE;
            ctl_smd_host_step(&h, (int64_t)i * STEP_MS, d.train + i * mt, ph, 1);
        }
    for (size_t i = 0; i < nt; i++) {
        d.score[i] = ctl_smd_host_step(&h, (int64_t)(nr + i) * STEP_MS, d.test + i * mt,
                                       CTL_SMD_SCORE, online);
        d.raw[i] = h.use_mv ? h.raw : NAN;
        for (size_t j = 0; j < mt; j++)
            d.contrib[i * mt + j] = h.use_mv ? h.blame[j] + o->smd.ublame * h.sur[j] : h.sur[j];
    }
    if (ctl_resid_close(&h.rout, err, sizeof(err)) < 0) {
        fprintf(stderr, "vigilctl eval smd: %s\n", err);
        h.failed = 1;
    }
    if (!h.failed)
        rc = machine_finish(o, &d, r);
out:
    ctl_resid_close(&h.rin, err, sizeof(err));
    ctl_resid_close(&h.rout, err, sizeof(err));
    ctl_smd_host_free(&h);
    machine_free(&d);
    return rc;
}

/* --param group=1: every machine is a host of one vg_mv group, as the analyzer runs the hosts of
 * a group: one set of weights, trained and scored in one batched step per row index, each host
 * with its own normaliser and host score. Row i of every machine is one tick; a machine whose
 * half is shorter reports nothing (NaN) in the last ticks. The phases are run_machine's. */
struct group {
    struct vg_k k;
    struct vg_mv *mv;
    struct vg_hscore *hs;
    struct vg_hscore_params *hp;
    float *x, *res, *z;
    double *blame;
};

static int group_run(const struct ctl_eval_opts *o, struct machine *d, size_t n, struct group *g)
{
    char err[VG_ERRLEN];
    size_t m = d[0].m, maxr = 0, maxt = 0;
    for (size_t k = 0; k < n; k++) {
        if (d[k].m != m) {
            fprintf(stderr, "vigilctl eval smd: group=1: %s has %zu columns, %s %zu\n", d[0].name,
                    m, d[k].name, d[k].m);
            return -1;
        }
        maxr = d[k].nr > maxr ? d[k].nr : maxr;
        maxt = d[k].nt > maxt ? d[k].nt : maxt;
    }
    g->hs = calloc(n, sizeof(*g->hs));
    g->hp = calloc(n, sizeof(*g->hp));
    g->x = malloc(n * m * sizeof(float));
    g->res = malloc(n * m * sizeof(float));
    g->z = malloc(n * m * sizeof(float));
    g->blame = malloc(m * sizeof(double));
    if (!g->hs || !g->hp || !g->x || !g->res || !g->z || !g->blame) {
        fprintf(stderr, "vigilctl eval smd: out of memory\n");
        return -1;
    }
    for (size_t k = 0; k < n; k++) {
        if (vg_hscore_init(&g->hs[k], m) < 0) {
            fprintf(stderr, "vigilctl eval smd: out of memory\n");
            return -1;
        }
        ctl_smd_hscore_params(o, &g->hp[k]);
        g->hp[k].fit_n = (uint32_t)(d[k].nr / 2);
    }
    vg_log_init("vigilctl", VG_LOG_WARN, 0);
    struct vg_mv_params mp;
    ctl_smd_mv_params(o, m, &mp);
    if (vg_k_open(&g->k, o->backend, err, sizeof(err)) < 0 ||
        vg_mv_new(&g->mv, &mp, &g->k, err, sizeof(err)) < 0) {
        fprintf(stderr, "vigilctl eval smd: %s\n", err);
        return -1;
    }
    for (size_t k = 0; k < n; k++)
        if (vg_mv_add_host(g->mv, NULL, err, sizeof(err)) < 0) {
            fprintf(stderr, "vigilctl eval smd: %s\n", err);
            return -1;
        }
    uint32_t ep = o->smd.epochs < 1 ? 1 : (uint32_t)o->smd.epochs;
    /* Passes 0..ep-1 over the train halves (the last one through the host scores too), then
     * the test halves. */
    for (uint32_t e = 0; e <= ep; e++) {
        int test = e == ep, learn = !test || o->smd.online > 0;
        for (size_t i = 0; i < (test ? maxt : maxr); i++) {
            for (size_t k = 0; k < n; k++) {
                size_t nk = test ? d[k].nt : d[k].nr;
                const double *row = (test ? d[k].test : d[k].train) + i * m;
                for (size_t j = 0; j < m; j++)
                    g->x[k * m + j] = i < nk ? vg_k_x_of(row[j]) : NAN; /* as vg_fleet_put */
            }
            if (vg_mv_step(g->mv, g->x, learn ? VG_MV_TRAIN : VG_MV_SCORE, NULL, err, sizeof(err)) <
                    0 ||
                (e + 1 >= ep &&
                 vg_mv_residuals_targets(g->mv, g->res, g->z, err, sizeof(err)) < 0)) {
                fprintf(stderr, "vigilctl eval smd: %s\n", err);
                return -1;
            }
            if (e + 1 < ep)
                continue;
            for (size_t k = 0; k < n; k++) {
                if (i >= (test ? d[k].nt : d[k].nr))
                    continue;
                double score, raw;
                vg_hscore_update_state(&g->hs[k], &g->hp[k], g->res + k * m, g->z + k * m, &score,
                                       &raw, g->blame);
                if (!test)
                    continue;
                d[k].score[i] = g->hs[k].surprise;
                d[k].raw[i] = raw;
                memcpy(d[k].contrib + i * m, g->blame, m * sizeof(double));
            }
        }
    }
    return 0;
}

static void group_free(struct group *g, size_t n)
{
    if (g->hs)
        for (size_t k = 0; k < n; k++)
            vg_hscore_free(&g->hs[k]);
    free(g->hs);
    free(g->hp);
    free(g->x);
    free(g->res);
    free(g->z);
    free(g->blame);
    if (g->mv)
        vg_mv_free(g->mv);
    if (g->k.ops)
        vg_k_close(&g->k);
}

/* Loads every machine, runs them as one group and fills r[n]. 0 or -1 (printed). */
static int run_group(const struct ctl_eval_opts *o, const char *const *names, size_t n,
                     struct machine_result *r)
{
    struct machine *d = calloc(n, sizeof(*d));
    struct group g;
    memset(&g, 0, sizeof(g));
    int rc = -1;
    if (!d) {
        fprintf(stderr, "vigilctl eval smd: out of memory\n");
        return -1;
    }
    if (o->smd.host != 1 || o->smd.ublame > 0) {
        fprintf(stderr, "vigilctl eval smd: group=1 runs the vg_mv host scorer alone (host=1, "
                        "ublame=0)\n");
        goto out;
    }
    for (size_t k = 0; k < n; k++)
        if (machine_load(o, names[k], &d[k]) != 0)
            goto out;
    if (group_run(o, d, n, &g) != 0)
        goto out;
    for (size_t k = 0; k < n; k++)
        if (machine_finish(o, &d[k], &r[k]) != 0)
            goto out;
    rc = 0;
out:
    group_free(&g, n);
    for (size_t k = 0; k < n; k++)
        machine_free(&d[k]);
    free(d);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int ctl_eval_smd(int argc, char **argv)
{
    struct ctl_eval_opts o;
    int prc = ctl_eval_parse(argc, argv, &o, help);
    if (prc)
        return prc == 3 ? 0 : prc;
    if ((o.save_resid || o.from_resid) &&
        (o.smd.host != 1 || o.smd.ublame > 0 || o.smd.group > 0)) {
        fprintf(stderr,
                "vigilctl eval smd: --save-residuals and --from-residuals take vg_mv's host "
                "scorer, one model per machine (host=1, ublame=0, group=0)\n");
        return 2;
    }
    if (o.smd.ens > 1 && (o.smd.host == 0 || o.smd.group > 0 || o.from_resid)) {
        fprintf(stderr, "vigilctl eval smd: ens averages vg_mv models of one machine: not with "
                        "host=0, group=1 or --from-residuals\n");
        return 2;
    }
    if (o.save_resid && o.from_resid) {
        fprintf(stderr, "vigilctl eval smd: --save-residuals with --from-residuals would copy the "
                        "residuals; give one of them\n");
        return 2;
    }
    char tdir[8192];
    snprintf(tdir, sizeof(tdir), "%s/test", o.dir);
    DIR *d = opendir(tdir);
    if (!d) {
        fprintf(stderr, "vigilctl eval smd: %s: %s\n", tdir, strerror(errno));
        return 1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l < 5 || strcmp(e->d_name + l - 4, ".txt") != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof(*names));
            if (!nn)
                break;
            names = nn;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n == 0) {
        fprintf(stderr, "vigilctl eval smd: no machine-*.txt under %s\n", tdir);
        free(names);
        return 1;
    }
    qsort(names, n, sizeof(*names), cmp_str);
    static const char *const scorers[] = {"per-series top-3", "vg_mv", "max(per-series, vg_mv)",
                                          "mean(per-series, vg_mv)"};
    int how = (int)o.smd.host;
    if (how < 0 || how > 3) {
        fprintf(stderr, "vigilctl eval smd: --param host=%g: expected 0, 1, 2 or 3\n", o.smd.host);
        return 2;
    }
    /* The per-series detector takes part only where a host scorer uses the per-series path. */
    char det[64] = "";
    if (how != 1)
        snprintf(det, sizeof(det), "detector %s, ", o.det->name);
    printf("SMD %s: %zu machine%s, %shost scorer %s%s%s, alert.threshold %g\n", o.dir, n,
           n == 1 ? "" : "s", det, scorers[how], o.from_resid ? " replayed from " : "",
           o.from_resid ? o.from_resid : "", o.ap.threshold);
    if (how != 0 && !o.from_resid && print_backend(o.backend) < 0)
        return 1;
    printf("%-16s %6s %6s %6s | %7s %6s | %6s | %6s %6s\n", "machine", "P@thr", "R@thr", "F1@thr",
           "bestF1", "AUPRC", "PA-F1", "HR@100", "HR@150");
    struct machine_result sum = {0};
    int bad = 0;
    size_t ok = 0, hit_n = 0;
    /* group=1 scores every machine at once; a failure there fails them all. */
    struct machine_result *gres = NULL;
    int group_bad = 0;
    if (o.smd.group > 0) {
        gres = calloc(n, sizeof(*gres));
        if (!gres)
            fprintf(stderr, "vigilctl eval smd: out of memory\n");
        group_bad = !gres || run_group(&o, (const char *const *)names, n, gres) != 0;
    }
    for (size_t i = 0; i < n; i++) {
        struct machine_result r;
        memset(&r, 0, sizeof(r));
        if (gres && !group_bad)
            r = gres[i];
        else if (group_bad || run_machine(&o, names[i], &r) != 0) {
            bad = 1;
            continue;
        }
        char nm[64];
        snprintf(nm, sizeof(nm), "%.*s", stem_len(names[i]), names[i]);
        printf("%-16s %6.3f %6.3f %6.3f | %7.3f %6.3f | %6.3f | %6.3f %6.3f\n", nm, r.at.precision,
               r.at.recall, r.at.f1, r.best.f1, r.auprc, r.adj.f1, r.hit100, r.hit150);
        if (o.verbose)
            printf("  at threshold %g: TP %zu FP %zu FN %zu; best F1 at surprise %.4f (score "
                   "%.10f)\n",
                   o.ap.threshold, r.at.tp, r.at.fp, r.at.fn, r.best.threshold,
                   1 - pow(10, -r.best.threshold));
        ok++;
        sum.at.precision += r.at.precision;
        sum.at.recall += r.at.recall;
        sum.at.f1 += r.at.f1;
        sum.best.f1 += r.best.f1;
        sum.auprc += r.auprc;
        sum.adj.f1 += r.adj.f1;
        if (!isnan(r.hit100)) {
            sum.hit100 += r.hit100;
            sum.hit150 += r.hit150;
            hit_n++;
        }
    }
    if (ok) {
        double k = (double)ok, kh = hit_n ? (double)hit_n : NAN;
        printf("%-16s %6.3f %6.3f %6.3f | %7.3f %6.3f | %6.3f | %6.3f %6.3f\n", "mean",
               sum.at.precision / k, sum.at.recall / k, sum.at.f1 / k, sum.best.f1 / k,
               sum.auprc / k, sum.adj.f1 / k, sum.hit100 / kh, sum.hit150 / kh);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(gres);
    return bad ? 1 : 0;
}
