/* vigilctl eval nab: every file of a NAB-format corpus through the configured detector, one causal
 * pass each, then NAB's scoring (vg_eval_nab.c) under its three profiles. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl_eval.h"
#include "ctl_input.h"
#include "vg_eval_io.h"
#include "vg_eval_nab.h"
#include "vg_util.h"
#include "vigilctl.h"

static void help(FILE *f)
{
    fprintf(f,
            "Usage: vigilctl eval nab [OPTIONS] DIR\n"
            "\nRuns the analyzer's detector over DIR/data/<category>/*.csv, one causal pass per\n"
            "file (a score for row i uses rows 0..i only), and scores the result as NAB does:\n"
            "windows from DIR/labels/combined_windows.json, a probationary 15%% (at most 750\n"
            "rows) per file, one threshold per profile optimised over the corpus, normalised\n"
            "so that a detector that never detects scores 0 and a perfect one 100.\n"
            "Under each profile: 'at alert.threshold' counts every row at or above the\n"
            "analyzer's threshold; 'as alerts' counts only the rows where the analyzer's\n"
            "built-in alert would fire (alert.threshold, alert.for, alert.resolve_for on the\n"
            "rows' times): what an on-call team would have been paged with.\n"
            "\nOptions:\n"
            "  -r, --results DIR     write NAB results files under DIR/<name>/<category>/\n"
            "  -n, --name NAME       detector name in the results tree (default vigil)\n");
    ctl_eval_common_help(f);
    fprintf(f, "\nExit status: 0 scored, 1 a file could not be read or scored, 2 usage error.\n");
}

struct nab_item {
    char *key; /* "<category>/<file>.csv" */
    struct vg_eval_series s;
    struct vg_nab_file f;
    double *score;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in dir that end in suffix (or that are directories when suffix is NULL). */
static int list_dir(const char *dir, const char *suffix, char ***out, size_t *n)
{
    DIR *d = opendir(dir);
    *out = NULL;
    *n = 0;
    if (!d)
        return -errno;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[8192];
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
            continue;
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        if (suffix) {
            size_t l = strlen(e->d_name), sl = strlen(suffix);
            if (!S_ISREG(st.st_mode) || l <= sl || strcmp(e->d_name + l - sl, suffix) != 0)
                continue;
        } else if (!S_ISDIR(st.st_mode)) {
            continue;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = realloc(*out, cap * sizeof(char *));
            if (!nv)
                break;
            *out = nv;
        }
        (*out)[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    if (*n)
        qsort(*out, *n, sizeof(char *), cmp_str);
    return 0;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int write_results(const struct ctl_eval_opts *o, const struct nab_item *it)
{
    char dir[4096], path[8192];
    const char *slash = strchr(it->key, '/');
    if (snprintf(dir, sizeof(dir), "%s/%s/%.*s", o->results, o->name, (int)(slash - it->key),
                 it->key) >= (int)sizeof(dir) ||
        snprintf(path, sizeof(path), "%s/%s_%s", dir, o->name, slash + 1) >= (int)sizeof(path)) {
        fprintf(stderr, "vigilctl eval nab: results path too long\n");
        return -1;
    }
    if (ctl_eval_mkdirs(dir) != 0) {
        fprintf(stderr, "vigilctl eval nab: cannot create %s: %s\n", dir, strerror(errno));
        return -1;
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "vigilctl eval nab: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "timestamp,value,anomaly_score,label\n");
    for (size_t i = 0; i < it->s.n; i++)
        fprintf(f, "%s,%s,%.17g,%d\n", it->s.ts_text[i], it->s.val_text[i], it->score[i],
                it->f.label[i]);
    if (fclose(f) != 0) {
        fprintf(stderr, "vigilctl eval nab: write error on %s\n", path);
        return -1;
    }
    return 0;
}

static int run_file(const struct ctl_eval_opts *o, const char *labels, struct nab_item *it)
{
    char path[8192], err[VG_ERRLEN];
    snprintf(path, sizeof(path), "%s/data/%s", o->dir, it->key);
    if (vg_eval_series_read(path, &it->s, err, sizeof(err)) != 0) {
        fprintf(stderr, "vigilctl eval nab: %s\n", err);
        return -1;
    }
    struct vg_eval_window *w;
    size_t nw;
    if (vg_eval_nab_windows(labels, it->key, &w, &nw, err, sizeof(err)) != 0) {
        fprintf(stderr, "vigilctl eval nab: %s\n", err);
        return -1;
    }
    int rc = vg_nab_file_init(&it->f, it->s.ts_us, it->s.n, w, nw, err, sizeof(err));
    free(w);
    if (rc) {
        fprintf(stderr, "vigilctl eval nab: %s: %s\n", it->key, err);
        return -1;
    }
    it->score = calloc(it->s.n ? it->s.n : 1, sizeof(double));
    void *st = calloc(1, o->det->state_size);
    if (!it->score || !st) {
        free(st);
        fprintf(stderr, "vigilctl eval nab: out of memory\n");
        return -1;
    }
    o->det->init(st);
    for (size_t i = 0; i < it->s.n; i++) {
        /* A model that refuses a value (non-finite: the reader lets none through) scores 0. */
        ctl_eval_step(o, st, it->s.ts_us[i] / 1000, it->s.value[i], &it->score[i]);
    }
    free(st);
    return 0;
}

/* The analyzer's built-in alert over one file's scores: 1 on each row where an alert fires (on
 * event time, alert.for and alert.resolve_for as configured), else 0. NAB scored on these is what
 * an on-call team would have been paged with, rather than every row above a threshold. Returns a
 * malloc'd array of n, or NULL. */
static double *alert_onsets(const struct ctl_eval_opts *o, const struct nab_item *it)
{
    double *on = calloc(it->s.n ? it->s.n : 1, sizeof(double));
    if (!on)
        return NULL;
    struct vg_alert a = {0};
    struct vg_alert_params ap = o->ap;
    /* A wait counts no gap in the rows, as the analyzer's (vg_event_gap), with the file's
     * typical step so far as the host's interval, as `vigilctl replay` takes a CSV's
     * (vg_ctl_step_next). */
    struct vg_ctl_step st = {0};
    for (size_t i = 0; i < it->s.n; i++) {
        int64_t ts = it->s.ts_us[i] / 1000;
        ap.gap_ms = vg_alert_unreported_limit(o->stale_ms, vg_ctl_step_next(&st, ts), 3);
        on[i] = vg_alert_step(&a, &ap, it->score[i], ts) == VG_ALERT_EV_FIRED;
    }
    return on;
}

int ctl_eval_nab(int argc, char **argv)
{
    struct ctl_eval_opts o;
    int prc = ctl_eval_parse(argc, argv, &o, help);
    if (prc)
        return prc == 3 ? 0 : prc;
    if (o.save_resid || o.from_resid || strcmp(o.backend, "cpu") != 0) {
        fprintf(stderr, "vigilctl eval nab: --save-residuals, --from-residuals and --backend are "
                        "eval smd's (the per-series detectors run on the CPU)\n");
        return 2;
    }
    if (o.param) {
        fprintf(stderr,
                "vigilctl eval nab: --param '%s': --param sets eval smd's host scorer, which nab "
                "does not run; nab's per-series detector takes the analyzer's detector.* keys "
                "(-s detector.KEY=VALUE)\n",
                o.param);
        return 2;
    }
    char data[4096], labels[4096];
    snprintf(data, sizeof(data), "%s/data", o.dir);
    snprintf(labels, sizeof(labels), "%s/labels/combined_windows.json", o.dir);
    /* NAB's repository as it is cloned: DIR is its top, not data/ or a category. */
    static const char layout[] =
        "DIR must contain data/<category>/*.csv and labels/combined_windows.json";
    char **cats;
    size_t ncat;
    int lrc = list_dir(data, NULL, &cats, &ncat);
    if (lrc < 0 || ncat == 0) {
        fprintf(stderr, "vigilctl eval nab: %s: %s (%s)\n", data,
                lrc < 0 ? strerror(-lrc) : "no category folders", layout);
        free_list(cats, ncat);
        return 1;
    }
    struct stat lst;
    if (stat(labels, &lst) != 0) {
        fprintf(stderr, "vigilctl eval nab: %s: %s (%s)\n", labels, strerror(errno), layout);
        free_list(cats, ncat);
        return 1;
    }
    struct nab_item *items = NULL;
    size_t n = 0, cap = 0;
    int bad = 0;
    for (size_t c = 0; c < ncat && !bad; c++) {
        char cdir[8192];
        snprintf(cdir, sizeof(cdir), "%s/%s", data, cats[c]);
        char **files;
        size_t nf;
        list_dir(cdir, ".csv", &files, &nf);
        for (size_t k = 0; k < nf && !bad; k++) {
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                struct nab_item *ni = realloc(items, cap * sizeof(*items));
                if (!ni) {
                    bad = 1;
                    break;
                }
                items = ni;
            }
            struct nab_item *it = &items[n++];
            memset(it, 0, sizeof(*it));
            if (asprintf(&it->key, "%s/%s", cats[c], files[k]) < 0) {
                it->key = NULL;
                bad = 1;
                break;
            }
            if (run_file(&o, labels, it) != 0)
                bad = 1;
            else if (o.results && write_results(&o, it) != 0)
                bad = 1;
        }
        free_list(files, nf);
    }
    free_list(cats, ncat);
    if (!bad && n == 0) {
        fprintf(stderr, "vigilctl eval nab: no .csv files under %s\n", data);
        bad = 1;
    }
    if (!bad) {
        struct vg_nab_file *fs = calloc(n, sizeof(*fs));
        const double **sc = calloc(n, sizeof(*sc));
        double **al = calloc(n, sizeof(*al));
        size_t rows = 0;
        for (size_t i = 0; fs && sc && al && i < n; i++) {
            fs[i] = items[i].f;
            sc[i] = items[i].score;
            rows += items[i].s.n;
            if (!(al[i] = alert_onsets(&o, &items[i])))
                bad = 1;
        }
        if (!fs || !sc || !al)
            bad = 1;
        printf("NAB %s: %zu files, %zu rows, detector %s\n", o.dir, n, rows, o.det->name);
        printf("%-20s %9s %12s %8s %5s %5s %5s\n", "profile", "score", "threshold", "raw", "TP",
               "FN", "FP");
        for (size_t p = 0; !bad && p < VG_NAB_PROFILES; p++) {
            struct vg_nab_result r;
            if (vg_nab_optimize(fs, sc, n, &vg_nab_profiles[p], &r) != 0) {
                bad = 1;
                break;
            }
            printf("%-20s %9.2f %12.10f %8.3f %5zu %5zu %5zu\n", vg_nab_profiles[p].name,
                   r.normalized, r.threshold, r.raw, r.tp, r.fn, r.fp);
            /* The same profile at the analyzer's own threshold: what would run in production. */
            struct vg_nab_result ra;
            if (vg_nab_score(fs, sc, n, &vg_nab_profiles[p], o.ap.threshold, &ra) == 0)
                printf("%-20s %9.2f %12.10f %8.3f %5zu %5zu %5zu\n", "  at alert.threshold",
                       ra.normalized, o.ap.threshold, ra.raw, ra.tp, ra.fn, ra.fp);
            if (!bad &&
                vg_nab_score(fs, (const double *const *)al, n, &vg_nab_profiles[p], 0.5, &ra) == 0)
                printf("%-20s %9.2f %12.10f %8.3f %5zu %5zu %5zu\n", "  as alerts", ra.normalized,
                       o.ap.threshold, ra.raw, ra.tp, ra.fn, ra.fp);
            if (o.verbose && p == 0) {
                for (size_t i = 0; i < n; i++) {
                    struct vg_nab_result fr;
                    vg_nab_score(&fs[i], &sc[i], 1, &vg_nab_profiles[0], r.threshold, &fr);
                    printf("  %-60s windows %zu TP %zu FN %zu FP %zu raw %.3f\n", items[i].key,
                           fr.windows, fr.tp, fr.fn, fr.fp, fr.raw);
                }
            }
        }
        for (size_t i = 0; al && i < n; i++)
            free(al[i]);
        free(al);
        free(fs);
        free(sc);
    }
    for (size_t i = 0; i < n; i++) {
        free(items[i].key);
        vg_eval_series_free(&items[i].s);
        vg_nab_file_free(&items[i].f);
        free(items[i].score);
    }
    free(items);
    return bad ? 1 : 0;
}
