/* The `when` expression language of alert rules: parsed once into a tree at load time, then
 * evaluated for a host every time the analyzer has new data for it.
 *
 *   score("disk.*.await_ms") > 0.99 and value("psi.io.some_avg10") > 10
 *
 * Numbers, "strings" or 'strings', durations (250ms, 30s, 5m, 1h, 1d), + - * /, comparisons
 * (> >= < <= == !=), and, or, not, parentheses, and the functions:
 *
 *   score(GLOB)          highest anomaly score among the host's series matching GLOB (fnmatch)
 *   top_score()          highest anomaly score among all the series the rule considers
 *   value(NAME)          latest value of series NAME
 *   avg_over(NAME, DUR)  average of NAME over the last DUR; max_over, min_over likewise
 *   rate(NAME, DUR)      (last - first) / seconds between them, over the last DUR
 *
 * Missing data never makes a condition true. A function whose series the host does not have
 * (or has no samples of in the window) yields "missing"; arithmetic on a missing value, and a
 * division by zero, yield missing too; a comparison with a missing side is neither true nor
 * false but unknown, and so is `not` of unknown. `a and b` is false when either side is false,
 * `a or b` true when either side is true; the expression matches only when the whole is true.
 * Evaluation stops early: the right side of `and` is not evaluated when the left is false, that
 * of `or` not when the left is true.
 */
#ifndef VG_EXPR_H
#define VG_EXPR_H

#include <stddef.h>
#include <stdint.h>

enum vg_expr_window_fn {
    VG_EXPR_AVG_OVER, /* mean of the samples */
    VG_EXPR_MAX_OVER,
    VG_EXPR_MIN_OVER,
    VG_EXPR_RATE, /* (last - first) / ((t_last - t_first) in seconds); needs two samples */
};

/* Called for each series by env->scores; a non-zero return stops the iteration. */
typedef int (*vg_expr_series_fn)(void *fnud, const char *series, double score);

/* How the evaluator reads the analyzer's data for one host, at the event time of the message
 * being processed. Every callback returns 0, -ENOENT when the series (or any sample in the
 * window) is missing, or another negative errno, which aborts the evaluation. */
struct vg_expr_env {
    void *ud;
    /* Calls fn(fnud, series, score) for every series of the host that has a score now, in any
     * order; returns 0, or the first non-zero value fn returned (stopping there). */
    int (*scores)(void *ud, vg_expr_series_fn fn, void *fnud);
    /* Latest value of the series `name`. */
    int (*value)(void *ud, const char *name, double *out);
    /* fn over the samples of `name` whose timestamps lie in (now - dur_ms, now], now being the
     * event time of the latest message of the host. */
    int (*window)(void *ud, const char *name, int64_t dur_ms, enum vg_expr_window_fn fn,
                  double *out);
};

/* The longest window avg_over/max_over/min_over/rate may have. The analyzer keeps the samples of
 * the longest window for every series one reads, for every host, and moves them with a host
 * (the state importer takes at most 2^20 samples per series): a day is 864 000 samples at the
 * agents' shortest interval (100ms), 86 400 (about 2 MiB of ring) at the default 1s. */
#define VG_EXPR_MAX_WINDOW_MS (24LL * 3600 * 1000)

struct vg_expr;

struct vg_expr_result {
    int matched; /* the whole expression is true */
    /* The left side of the first comparison of the expression (reading from the left, through
     * and, or, not and parentheses): the measured quantity in `value("x") > 3 and ...`. NAN
     * when it was missing. */
    double value;
    /* The whole expression is unknown (missing data decided it), not false: matched is 0 either
     * way, but a caller that must tell "false" from "cannot say" (a scaling vote) reads this,
     * not value, which only describes the first comparison. */
    int unknown;
};

/* Parses src. On success *out is a new expression the caller frees with vg_expr_free(). On
 * error returns -EINVAL (or -ENOMEM) with the message in err and, in *err_off, the byte offset
 * in src of what the message is about. */
int vg_expr_parse(const char *src, struct vg_expr **out, size_t *err_off, char *err, size_t errlen);

/* The same for an expression that computes a number rather than a condition (a scaling policy's
 * metric): `avg_over("cpu.user_pct", 1m) / 100`. A condition is refused. */
int vg_expr_parse_number(const char *src, struct vg_expr **out, size_t *err_off, char *err,
                         size_t errlen);

void vg_expr_free(struct vg_expr *e);

/* Evaluates e. series[0..n_series) are the globs of the rule's `series:` list: score() and
 * top_score() only look at series matching one of them (all series when n_series is 0).
 * Returns 0 with *res filled, or the negative errno a callback returned (other than -ENOENT). */
int vg_expr_eval(const struct vg_expr *e, const struct vg_expr_env *env, char *const *series,
                 size_t n_series, struct vg_expr_result *res);

/* Evaluates a number expression (vg_expr_parse_number). *out is NAN when data is missing.
 * Returns 0 or the negative errno a callback returned (other than -ENOENT). */
int vg_expr_eval_number(const struct vg_expr *e, const struct vg_expr_env *env, char *const *series,
                        size_t n_series, double *out);

/* The longest window of any avg_over/max_over/min_over/rate in e (0 when none): how much
 * history the analyzer must keep for it. */
int64_t vg_expr_max_window_ms(const struct vg_expr *e);

/* 1 when an avg_over/max_over/min_over/rate of e reads series `name`: only such series need
 * their samples kept (their names are literal, never patterns). */
int vg_expr_reads_window_of(const struct vg_expr *e, const char *name);

/* value("host:NAME") reads the host's score from host model NAME (docs/rules.md), not a series.
 * Calls fn(ud, NAME, off) for each such read of e, off being the byte offset in the source of
 * its string argument, so that a loader can name the place of a model that does not exist. */
#define VG_EXPR_HOST_MODEL_PREFIX "host:"
typedef void (*vg_expr_host_model_fn)(void *ud, const char *model, size_t off);
void vg_expr_each_host_model(const struct vg_expr *e, vg_expr_host_model_fn fn, void *ud);

/* True when `name` passes a `series:` glob list (an empty list passes everything). */
int vg_expr_series_selected(const char *name, char *const *series, size_t n_series);

#endif
