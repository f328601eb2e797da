#include "vg_eval_nab.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vg_util.h"

const struct vg_nab_profile vg_nab_profiles[VG_NAB_PROFILES] = {
    {"standard", 1.0, 0.11, 1.0},
    {"reward_low_FP_rate", 1.0, 0.22, 1.0},
    {"reward_low_FN_rate", 1.0, 0.11, 2.0},
};

size_t vg_nab_probation(size_t n)
{
    size_t p = (size_t)floor(0.15 * (double)n);
    return p < 750 ? p : 750;
}

static double scaled_sigmoid(double x)
{
    if (x > 3.0)
        return -1.0;
    return 2.0 / (1.0 + exp(5.0 * x)) - 1.0;
}

void vg_nab_file_free(struct vg_nab_file *f)
{
    free(f->window);
    free(f->weight);
    free(f->label);
    memset(f, 0, sizeof(*f));
}

static long first_index(const int64_t *ts, size_t n, int64_t t)
{
    for (size_t i = 0; i < n; i++)
        if (ts[i] == t)
            return (long)i;
    return -1;
}

/* Sorts the windows by start into *out (malloc'd) and refuses two that share a row: the sweep
 * below enters windows in list order, so an unsorted list would drop every window after the first
 * one it passes, and overlapping ones would be scored as neither. Window numbers in messages are
 * positions in the list as given, 1-based. */
static int sorted_windows(const struct vg_eval_window *w, size_t nw, struct vg_eval_window **out,
                          char *err, size_t errlen)
{
    struct vg_eval_window *s = malloc((nw ? nw : 1) * sizeof(*s));
    size_t *pos = malloc((nw ? nw : 1) * sizeof(*pos));
    if (!s || !pos) {
        free(s);
        free(pos);
        return vg_err(err, errlen, -ENOMEM, "out of memory");
    }
    /* Insertion sort, stable: label lists hold a handful of windows. */
    for (size_t k = 0; k < nw; k++) {
        size_t j = k;
        while (j > 0 && s[j - 1].start_us > w[k].start_us) {
            s[j] = s[j - 1];
            pos[j] = pos[j - 1];
            j--;
        }
        s[j] = w[k];
        pos[j] = k;
    }
    for (size_t k = 1; k < nw; k++) {
        if (s[k].start_us <= s[k - 1].end_us) {
            size_t a = pos[k - 1] < pos[k] ? pos[k - 1] : pos[k];
            size_t b = pos[k - 1] < pos[k] ? pos[k] : pos[k - 1];
            free(s);
            free(pos);
            return vg_err(err, errlen, -EINVAL,
                          "window %zu overlaps window %zu (windows must not share a row)", b + 1,
                          a + 1);
        }
    }
    free(pos);
    *out = s;
    return 0;
}

int vg_nab_file_init(struct vg_nab_file *f, const int64_t *ts, size_t n,
                     const struct vg_eval_window *w_in, size_t nw, char *err, size_t errlen)
{
    memset(f, 0, sizeof(*f));
    for (size_t k = 0; k < nw; k++) {
        if (first_index(ts, n, w_in[k].start_us) < 0 || first_index(ts, n, w_in[k].end_us) < 0 ||
            first_index(ts, n, w_in[k].end_us) < first_index(ts, n, w_in[k].start_us))
            return vg_err(err, errlen, -EINVAL,
                          "window %zu: its start or end time is not a row of the file, or it "
                          "ends before it starts",
                          k + 1);
    }
    struct vg_eval_window *w = NULL;
    int rc = sorted_windows(w_in, nw, &w, err, errlen);
    if (rc)
        return rc;
    f->n = n;
    f->probation = vg_nab_probation(n);
    f->n_windows_all = nw;
    f->window = malloc((n ? n : 1) * sizeof(*f->window));
    f->weight = malloc((n ? n : 1) * sizeof(*f->weight));
    f->label = calloc(n ? n : 1, 1);
    uint8_t *seen = calloc(nw ? nw : 1, 1);
    if (!f->window || !f->weight || !f->label || !seen) {
        free(seen);
        free(w);
        vg_nab_file_free(f);
        return vg_err(err, errlen, -ENOMEM, "out of memory");
    }
    const double max_tp = scaled_sigmoid(-1.0);
    size_t pending = 0;
    long cur = -1, right = 0, prev_right = -1;
    double width = 0, prev_width = 0;
    for (size_t i = 0; i < n; i++) {
        /* As NAB's sweeper: the next window starts on the first row carrying its start time. */
        if (pending < nw && ts[i] == w[pending].start_us) {
            cur = (long)pending++;
            right = first_index(ts, n, w[cur].end_us);
            width = (double)(right - first_index(ts, n, w[cur].start_us) + 1);
        }
        if (cur >= 0) {
            f->window[i] = (int32_t)cur;
            f->weight[i] = scaled_sigmoid(-(double)(right - (long)i + 1) / width) / max_tp;
            if (i >= f->probation)
                seen[cur] = 1;
        } else {
            f->window[i] = -1;
            if (prev_right < 0 || prev_width <= 1) {
                f->weight[i] = -1.0;
            } else {
                double q = fabs((double)(prev_right - (long)i)) / (prev_width - 1);
                f->weight[i] = scaled_sigmoid(q);
            }
        }
        if (cur >= 0 && ts[i] == w[cur].end_us) {
            prev_right = right;
            prev_width = width;
            cur = -1;
        }
        for (size_t k = 0; k < nw; k++)
            if (ts[i] >= w[k].start_us && ts[i] <= w[k].end_us)
                f->label[i] = 1;
    }
    for (size_t k = 0; k < nw; k++)
        f->n_windows += seen[k];
    free(seen);
    free(w);
    return 0;
}

struct acc {
    double *best;   /* per window of the corpus: its best detection, or -A_FN */
    size_t *base;   /* first corpus window index of each file */
    size_t windows; /* scorable */
    size_t total;   /* all */
};

static int acc_init(struct acc *a, const struct vg_nab_file *files, size_t nfiles)
{
    a->windows = 0;
    a->base = malloc((nfiles ? nfiles : 1) * sizeof(*a->base));
    size_t total = 0;
    for (size_t i = 0; i < nfiles; i++)
        total += files[i].n_windows_all;
    a->best = malloc((total ? total : 1) * sizeof(*a->best));
    if (!a->base || !a->best) {
        free(a->base);
        free(a->best);
        return -ENOMEM;
    }
    total = 0;
    for (size_t i = 0; i < nfiles; i++) {
        a->base[i] = total;
        total += files[i].n_windows_all;
        a->windows += files[i].n_windows;
    }
    a->total = total;
    return 0;
}

/* Marks which corpus windows are scorable: NaN for windows that only lie in probation. */
static void acc_reset(struct acc *a, const struct vg_nab_file *files, size_t nfiles,
                      const struct vg_nab_profile *p)
{
    for (size_t i = 0; i < nfiles; i++) {
        const struct vg_nab_file *f = &files[i];
        for (size_t k = 0; k < f->n_windows_all; k++)
            a->best[a->base[i] + k] = NAN;
        for (size_t r = f->probation; r < f->n; r++)
            if (f->window[r] >= 0)
                a->best[a->base[i] + (size_t)f->window[r]] = -p->a_fn;
    }
}

int vg_nab_score(const struct vg_nab_file *files, const double *const *scores, size_t nfiles,
                 const struct vg_nab_profile *p, double threshold, struct vg_nab_result *out)
{
    struct acc a;
    memset(out, 0, sizeof(*out));
    if (acc_init(&a, files, nfiles))
        return -ENOMEM;
    acc_reset(&a, files, nfiles, p);
    double fp = 0;
    for (size_t i = 0; i < nfiles; i++) {
        const struct vg_nab_file *f = &files[i];
        for (size_t r = f->probation; r < f->n; r++) {
            if (!(scores[i][r] >= threshold))
                continue;
            if (f->window[r] >= 0) {
                double *b = &a.best[a.base[i] + (size_t)f->window[r]];
                double v = p->a_tp * f->weight[r];
                if (v > *b)
                    *b = v;
            } else {
                fp += p->a_fp * f->weight[r];
                out->fp++;
            }
        }
    }
    double raw = fp;
    for (size_t k = 0; k < a.total; k++) {
        if (isnan(a.best[k]))
            continue;
        raw += a.best[k];
        if (a.best[k] > -p->a_fn)
            out->tp++;
        else
            out->fn++;
    }
    out->threshold = threshold;
    out->raw = raw;
    out->windows = a.windows;
    out->null_raw = -p->a_fn * (double)a.windows;
    out->perfect = p->a_tp * (double)a.windows;
    double span = out->perfect - out->null_raw;
    out->normalized = span > 0 ? 100.0 * (raw - out->null_raw) / span : 0;
    free(a.best);
    free(a.base);
    return 0;
}

struct cand {
    double score;
    uint32_t file;
    uint32_t row;
};

static int cand_cmp(const void *pa, const void *pb)
{
    const struct cand *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    if (a->file != b->file)
        return a->file < b->file ? -1 : 1;
    return a->row < b->row ? -1 : (a->row > b->row);
}

int vg_nab_optimize(const struct vg_nab_file *files, const double *const *scores, size_t nfiles,
                    const struct vg_nab_profile *p, struct vg_nab_result *out)
{
    size_t m = 0;
    for (size_t i = 0; i < nfiles; i++)
        m += files[i].n - files[i].probation;
    struct cand *c = malloc((m ? m : 1) * sizeof(*c));
    struct acc a;
    if (!c || acc_init(&a, files, nfiles)) {
        free(c);
        return -ENOMEM;
    }
    acc_reset(&a, files, nfiles, p);
    m = 0;
    for (size_t i = 0; i < nfiles; i++)
        for (size_t r = files[i].probation; r < files[i].n; r++)
            if (!isnan(scores[i][r]))
                c[m++] = (struct cand){scores[i][r], (uint32_t)i, (uint32_t)r};
    qsort(c, m, sizeof(*c), cand_cmp);
    /* Running total = detections outside windows + each window's best so far. */
    double total = -p->a_fn * (double)a.windows;
    double best_total = total, best_thr = 1.1;
    for (size_t j = 0; j < m;) {
        size_t g = j;
        for (; g < m && c[g].score == c[j].score; g++) {
            const struct vg_nab_file *f = &files[c[g].file];
            int32_t w = f->window[c[g].row];
            if (w >= 0) {
                double *b = &a.best[a.base[c[g].file] + (size_t)w];
                double v = p->a_tp * f->weight[c[g].row];
                if (v > *b) {
                    total += v - *b;
                    *b = v;
                }
            } else {
                total += p->a_fp * f->weight[c[g].row];
            }
        }
        if (total > best_total + 1e-12) {
            best_total = total;
            best_thr = c[j].score;
        }
        j = g;
    }
    free(c);
    free(a.best);
    free(a.base);
    return vg_nab_score(files, scores, nfiles, p, best_thr, out);
}
