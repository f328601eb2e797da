/* vigilctl report: a self-contained HTML page (inline SVG, no scripts, no external files) with
 * one plot per metric of a host: its values, its anomaly score and the alerts, over a time
 * range. The data comes from a running analyzer's history (GET /api/v1/history/{host}) or from
 * a recorded stream or CSV run through the detectors here, as `vigilctl replay` does. */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl_engine.h"
#include "ctl_http.h"
#include "ctl_input.h"
#include "vg_config.h"
#include "vg_history.h"
#include "vg_log.h"
#include "vg_rule.h"
#include "vg_util.h"
#include "vigilctl.h"

/* Plot geometry, in SVG user units. */
#define W       960
#define PLOT_X0 70
#define PLOT_X1 (W - 10)
#define VAL_Y0  10
#define VAL_Y1  120
#define SC_Y0   135
#define SC_Y1   175
#define H       195
/* Points per polyline at most: about one per horizontal unit. */
#define MAX_PTS 900
/* A file's history gets about this many points per series, whatever its length. */
#define FILE_POINTS 1500

static void help(FILE *f)
{
    vg_ctl_usage(f, "report");
    fprintf(
        f,
        "\nWrites one HTML page (self-contained: inline SVG, no scripts, no network) with,\n"
        "for every metric of HOST, a plot of its values, its anomaly score against the\n"
        "alert threshold, and the alerts as shaded spans; metrics with the highest score\n"
        "come first, after a table of the alerts.\n"
        "\n"
        "From a running analyzer (its history: history.window, default 1h):\n"
        "  vigilctl report [--api URL] [-c CONFIG] [-s KEY=VALUE] HOST\n"
        "From a recorded stream or CSV (what 'vigilctl replay' reads), scored here with the\n"
        "analyzer's config:\n"
        "  vigilctl report --input FILE [-c CONFIG] [-s KEY=VALUE] [HOST]\n"
        "\n"
        "Options:\n"
        "  -a, --api URL         the analyzer's API (default $VIGIL_API, else %s)\n"
        "  -i, --input FILE      read FILE instead of asking the analyzer; HOST may be left\n"
        "                        out when FILE holds one host (a CSV's is --host, default csv)\n"
        "  -c, --config PATH     the analyzer's config: with --input, what scores FILE;\n"
        "                        else, where the threshold line's alert.threshold is read\n"
        "                        (default: built-in defaults, not " VG_CTL_ANALYZER_CONFIG ";\n"
        "                        with --input, said on stderr)\n"
        "  -s, --set KEY=VALUE   override a config key (-c's, or the defaults)\n"
        "      --host NAME       with --input: host name of a CSV's rows\n"
        "  -o, --output PATH     where to write (default vigil-report-HOST-TIME.html; '-' is\n"
        "                        stdout)\n"
        "      --since DUR       only the last DUR before the newest point, e.g. 30m (not\n"
        "                        with --from or --to)\n"
        "      --from TIME       only from TIME (RFC 3339 or Unix s/ms)\n"
        "      --to TIME         only up to TIME\n"
        "  -m, --metrics GLOBS   only these metrics, comma-separated shell globs (cpu.*)\n"
        "  -h, --help            this help\n"
        "\n"
        "Exit status: 0 written, 1 no data to plot (nothing is written) or the analyzer\n"
        "could not be asked, 2 usage or config error.\n",
        VG_CTL_API_DEFAULT);
}

struct range {
    int64_t from, to; /* inclusive; INT64_MIN/INT64_MAX when open */
};

static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static const char *utc(char *buf, size_t n, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

static double num(json_t *v)
{
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* One series, cut to the range. */
struct ser {
    const char *name;
    size_t n;
    int64_t *t;
    double *v, *s;
    double vmin, vmax, smax, last;
};

static int by_score(const void *a, const void *b)
{
    const struct ser *x = a, *y = b;
    double sx = isnan(x->smax) ? -1 : x->smax, sy = isnan(y->smax) ? -1 : y->smax;
    if (sx != sy)
        return sx < sy ? 1 : -1;
    return strcmp(x->name, y->name);
}

static int selected(const char *globs, const char *name)
{
    if (!globs || !*globs)
        return 1;
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", globs);
    char *save = NULL;
    for (char *g = strtok_r(buf, ", ", &save); g; g = strtok_r(NULL, ", ", &save))
        if (fnmatch(g, name, 0) == 0)
            return 1;
    return 0;
}

/* An alert row under -m: the built-in rule's by its series, a rule's by its series or, for one
 * about the host, by any metric it blames. */
static int alert_selected(const char *globs, json_t *al)
{
    const char *sn = json_string_value(json_object_get(al, "series"));
    if (!json_object_get(al, "rule") || sn)
        return selected(globs, sn ? sn : "");
    if (!globs || !*globs)
        return 1;
    json_t *top = json_object_get(al, "top");
    for (size_t k = 0; k < json_array_size(top); k++) {
        const char *t = json_string_value(json_array_get(top, k));
        if (t && selected(globs, t))
            return 1;
    }
    return 0;
}

static void series_link(FILE *f, const char *name)
{
    fprintf(f, "<a href=\"#s-");
    esc(f, name);
    fprintf(f, "\">");
    esc(f, name);
    fprintf(f, "</a>");
}

static double xpos(int64_t t, int64_t t0, int64_t t1)
{
    if (t1 <= t0)
        return (PLOT_X0 + PLOT_X1) / 2.0;
    return PLOT_X0 + (double)(t - t0) * (PLOT_X1 - PLOT_X0) / (double)(t1 - t0);
}

static void fmt_num(char *buf, size_t n, double v)
{
    if (isnan(v))
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%.4g", v);
}

/* Alert spans of one series: fired..resolved, or fired..the range's end while still firing. */
static void alert_spans(FILE *f, json_t *alerts, const char *series, int64_t t0, int64_t t1)
{
    int64_t open = INT64_MIN;
    for (size_t i = 0; i < json_array_size(alerts); i++) {
        json_t *a = json_array_get(alerts, i);
        const char *s = json_string_value(json_object_get(a, "series"));
        /* A rule's alert is listed, not drawn: it may fire again while a built-in one on the
         * same series is open. */
        if (!s || strcmp(s, series) != 0 || json_object_get(a, "rule"))
            continue;
        int64_t ts = json_integer_value(json_object_get(a, "ts"));
        int firing = strcmp(json_string_value(json_object_get(a, "status")), "firing") == 0;
        if (firing) {
            open = ts;
        } else {
            int64_t start = open == INT64_MIN ? t0 : open;
            if (ts >= t0 && start <= t1) {
                double x0 = xpos(start < t0 ? t0 : start, t0, t1);
                double x1 = xpos(ts > t1 ? t1 : ts, t0, t1);
                fprintf(f,
                        "<rect class=\"alert\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\"/>",
                        x0, VAL_Y0, x1 - x0 < 1 ? 1 : x1 - x0, SC_Y1 - VAL_Y0);
            }
            open = INT64_MIN;
        }
    }
    if (open != INT64_MIN && open <= t1) {
        double x0 = xpos(open < t0 ? t0 : open, t0, t1);
        fprintf(f, "<rect class=\"alert\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\"/>", x0,
                VAL_Y0, PLOT_X1 - x0 < 1 ? 1 : PLOT_X1 - x0, SC_Y1 - VAL_Y0);
    }
}

/* A polyline of y over the series' points, decimated to MAX_PTS buckets that keep each bucket's
 * lowest and highest value so spikes stay visible. */
static void polyline(FILE *f, const char *cls, const struct ser *s, const double *y, double lo,
                     double hi, int y0, int y1, int64_t t0, int64_t t1)
{
    if (hi <= lo) {
        hi = lo + 1;
        lo -= 1;
    }
    size_t per = s->n / MAX_PTS + 1;
    fprintf(f, "<polyline class=\"%s\" points=\"", cls);
    int started = 0;
    for (size_t i = 0; i < s->n; i += per) {
        size_t imin = SIZE_MAX, imax = SIZE_MAX;
        for (size_t k = i; k < i + per && k < s->n; k++) {
            if (isnan(y[k]))
                continue;
            if (imin == SIZE_MAX || y[k] < y[imin])
                imin = k;
            if (imax == SIZE_MAX || y[k] > y[imax])
                imax = k;
        }
        if (imin == SIZE_MAX)
            continue;
        size_t a = imin < imax ? imin : imax, b = imin < imax ? imax : imin;
        for (int j = 0; j < (a == b ? 1 : 2); j++) {
            size_t k = j ? b : a;
            double py = y1 - (y[k] - lo) * (y1 - y0) / (hi - lo);
            fprintf(f, "%s%.1f,%.1f", started ? " " : "", xpos(s->t[k], t0, t1), py);
            started = 1;
        }
    }
    fprintf(f, "\"/>");
}

static void plot(FILE *f, const struct ser *s, json_t *alerts, int64_t t0, int64_t t1,
                 double threshold)
{
    char a[32], b[32], c[32], d[32], e[32];
    fmt_num(a, sizeof(a), s->vmin);
    fmt_num(b, sizeof(b), s->vmax);
    fmt_num(c, sizeof(c), s->last);
    fmt_num(d, sizeof(d), s->smax);
    fprintf(f, "<section id=\"s-");
    esc(f, s->name);
    fprintf(f, "\"><h3>");
    esc(f, s->name);
    fprintf(f, "</h3><p class=\"stats\">min %s, max %s, last %s; highest score %s</p>\n", a, b, c,
            d);
    fprintf(f,
            "<svg class=\"plot\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
            "width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"",
            W, H, W, H);
    esc(f, s->name);
    fprintf(f, "\"><title>");
    esc(f, s->name);
    fprintf(f, ": value (top) and anomaly score (bottom)</title>");
    fprintf(f, "<rect class=\"frame\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>", PLOT_X0,
            VAL_Y0, PLOT_X1 - PLOT_X0, VAL_Y1 - VAL_Y0);
    fprintf(f, "<rect class=\"frame\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>", PLOT_X0,
            SC_Y0, PLOT_X1 - PLOT_X0, SC_Y1 - SC_Y0);
    alert_spans(f, alerts, s->name, t0, t1);
    double pad = (s->vmax - s->vmin) * 0.05;
    double lo = s->vmin - pad, hi = s->vmax + pad;
    polyline(f, "value", s, s->v, lo, hi, VAL_Y0, VAL_Y1, t0, t1);
    polyline(f, "score", s, s->s, 0, 1, SC_Y0, SC_Y1, t0, t1);
    double ty = SC_Y1 - threshold * (SC_Y1 - SC_Y0);
    if (threshold > 0 && threshold <= 1)
        fprintf(f, "<line class=\"thr\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>", PLOT_X0, ty,
                PLOT_X1, ty);
    fmt_num(a, sizeof(a), hi);
    fmt_num(b, sizeof(b), lo);
    fprintf(f,
            "<text x=\"%d\" y=\"%d\" class=\"ax\" text-anchor=\"end\">%s</text>"
            "<text x=\"%d\" y=\"%d\" class=\"ax\" text-anchor=\"end\">%s</text>"
            "<text x=\"%d\" y=\"%d\" class=\"ax\" text-anchor=\"end\">score 1</text>"
            "<text x=\"%d\" y=\"%d\" class=\"ax\" text-anchor=\"end\">0</text>",
            PLOT_X0 - 4, VAL_Y0 + 9, a, PLOT_X0 - 4, VAL_Y1, b, PLOT_X0 - 4, SC_Y0 + 9, PLOT_X0 - 4,
            SC_Y1);
    fprintf(f,
            "<text x=\"%d\" y=\"%d\" class=\"ax\">%s</text>"
            "<text x=\"%d\" y=\"%d\" class=\"ax\" text-anchor=\"middle\">%s</text>"
            "<text x=\"%d\" y=\"%d\" class=\"ax\" text-anchor=\"end\">%s</text>",
            PLOT_X0, H - 4, utc(c, sizeof(c), t0), (PLOT_X0 + PLOT_X1) / 2, H - 4,
            utc(d, sizeof(d), t0 + (t1 - t0) / 2), PLOT_X1, H - 4, utc(e, sizeof(e), t1));
    fprintf(f, "</svg></section>\n");
}

static const char *CSS =
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:24px 0 8px}"
    "h3{font-size:14px;margin:18px 0 2px;font-family:monospace}"
    ".meta,.stats{color:#666;margin:0 0 6px}"
    "table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:3px 10px;"
    "text-align:left;font-variant-numeric:tabular-nums}"
    ".firing{color:#b00020;font-weight:600}.resolved{color:#2e7d32}"
    "nav a{margin-right:10px;font-family:monospace;font-size:12px}"
    "svg.plot{display:block;max-width:100%;height:auto}"
    ".frame{fill:#fafafa;stroke:#ccc}.value{fill:none;stroke:#1565c0;stroke-width:1.3}"
    ".score{fill:none;stroke:#ef6c00;stroke-width:1.2}.thr{stroke:#b00020;stroke-dasharray:4 3}"
    ".alert{fill:#b00020;fill-opacity:.12}.ax{font:11px monospace;fill:#666}";

/* The series to plot, cut to the range: gathered before the page is written, so that a range or
 * filter with nothing in it is told without leaving a page behind. */
struct plots {
    struct ser *ss;
    size_t n;
    int64_t t0, t1;
};

static void plots_free(struct plots *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->ss[i].t);
        free(p->ss[i].v);
        free(p->ss[i].s);
    }
    free(p->ss);
    memset(p, 0, sizeof(*p));
}

/* Fills p with the selected series that have a value in the range, highest score first.
 * 0 or -ENOMEM. */
static int collect(json_t *hist, const struct range *r, const char *globs, struct plots *p)
{
    json_t *series = json_object_get(hist, "series");
    size_t cap = json_object_size(series), n = 0;
    struct ser *ss = calloc(cap ? cap : 1, sizeof(*ss));
    int64_t t0 = INT64_MAX, t1 = INT64_MIN;
    if (!ss)
        return -ENOMEM;
    const char *name;
    json_t *so;
    json_object_foreach(series, name, so)
    {
        if (!selected(globs, name))
            continue;
        json_t *t = json_object_get(so, "t"), *v = json_object_get(so, "value"),
               *sc = json_object_get(so, "score");
        size_t m = json_array_size(t);
        struct ser *s = &ss[n];
        s->name = name;
        s->t = malloc((m ? m : 1) * sizeof(*s->t));
        s->v = malloc((m ? m : 1) * sizeof(*s->v));
        s->s = malloc((m ? m : 1) * sizeof(*s->s));
        if (!s->t || !s->v || !s->s) {
            *p = (struct plots){ss, n + 1, t0, t1};
            plots_free(p);
            return -ENOMEM;
        }
        s->vmin = INFINITY;
        s->vmax = -INFINITY;
        s->smax = NAN;
        s->last = NAN;
        for (size_t i = 0; i < m; i++) {
            int64_t ts = json_integer_value(json_array_get(t, i));
            if (ts < r->from || ts > r->to)
                continue;
            double x = num(json_array_get(v, i)), y = num(json_array_get(sc, i));
            s->t[s->n] = ts;
            s->v[s->n] = x;
            s->s[s->n] = y;
            s->n++;
            if (!isnan(x)) {
                s->vmin = fmin(s->vmin, x);
                s->vmax = fmax(s->vmax, x);
                s->last = x;
            }
            if (!isnan(y) && (isnan(s->smax) || y > s->smax))
                s->smax = y;
            if (ts < t0)
                t0 = ts;
            if (ts > t1)
                t1 = ts;
        }
        if (!s->n || isinf(s->vmin)) {
            free(s->t);
            free(s->v);
            free(s->s);
            memset(s, 0, sizeof(*s));
            continue;
        }
        n++;
    }
    qsort(ss, n, sizeof(*ss), by_score);
    *p = (struct plots){ss, n, t0, t1};
    return 0;
}

/* Writes the page of the series in p. Returns the number of alert rows it wrote (those in the
 * range and the metric filter). */
static size_t write_html(FILE *f, json_t *hist, const struct plots *p, const struct range *r,
                         const char *globs, const char *source, double threshold)
{
    const char *host = json_string_value(json_object_get(hist, "host"));
    json_t *alerts = json_object_get(hist, "alerts");
    const struct ser *ss = p->ss;
    size_t n = p->n;
    int64_t t0 = p->t0, t1 = p->t1;
    char a[32], b[32], g[32];
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<meta name=\"generator\" content=\"vigilctl " VIGIL_VERSION "\">"
               "<title>Vigil report: ");
    esc(f, host);
    fprintf(f, "</title><style>%s</style></head>\n<body>\n<h1>Vigil report: ", CSS);
    esc(f, host);
    fprintf(f, "</h1>\n<p class=\"meta\">");
    if (n)
        fprintf(f, "%s to %s UTC, ", utc(a, sizeof(a), t0), utc(b, sizeof(b), t1));
    fprintf(f, "%zu series. Source: ", n);
    esc(f, source);
    fprintf(f, ". Generated %s UTC by vigilctl %s.</p>\n", utc(g, sizeof(g), vg_now_ms()),
            VIGIL_VERSION);
    fprintf(f,
            "<p class=\"meta\">Each plot: the metric's value (blue; one point per %lld ms, "
            "lowest and highest kept when thinned), below it the anomaly score from 0 to 1 "
            "(orange) against the alert threshold (dashed), and alerts as shaded spans.</p>\n",
            (long long)json_integer_value(json_object_get(hist, "resolution_ms")));

    fprintf(f, "<h2>Alerts</h2>\n");
    size_t shown = 0;
    for (size_t i = 0; i < json_array_size(alerts); i++) {
        json_t *al = json_array_get(alerts, i);
        int64_t ts = json_integer_value(json_object_get(al, "ts"));
        const char *sn = json_string_value(json_object_get(al, "series"));
        const char *rule = json_string_value(json_object_get(al, "rule"));
        if (ts < r->from || ts > r->to || !alert_selected(globs, al))
            continue;
        if (!shown++)
            fprintf(f, "<table><tr><th>time (UTC)</th><th>status</th><th>alert</th>"
                       "<th>score</th><th>value</th></tr>\n");
        const char *st = json_string_value(json_object_get(al, "status"));
        fmt_num(a, sizeof(a), num(json_object_get(al, "score")));
        fmt_num(b, sizeof(b), num(json_object_get(al, "value")));
        int firing = st && strcmp(st, "firing") == 0;
        fprintf(f, "<tr><td>%s</td><td class=\"%s\">%s</td><td>", utc(g, sizeof(g), ts),
                firing ? "firing" : "resolved", st ? st : "?");
        if (!rule) {
            series_link(f, sn);
        } else if (sn) {
            esc(f, rule);
            fprintf(f, " ");
            series_link(f, sn);
        } else {
            /* What a firing blames, as replay prints it (a resolve's is of the tick that ended
             * it; kept for -m only). */
            esc(f, rule);
            json_t *top = firing ? json_object_get(al, "top") : NULL;
            for (size_t k = 0; k < json_array_size(top); k++) {
                fprintf(f, "%s", k ? ", " : " top: ");
                series_link(f, json_string_value(json_array_get(top, k)));
            }
        }
        fprintf(f, "</td><td>%s</td><td>%s</td></tr>\n", a, b);
    }
    fprintf(f, shown ? "</table>\n" : "<p>No alert fired or resolved in this range.</p>\n");

    fprintf(f, "<h2>Metrics, highest score first</h2>\n<nav>");
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "<a href=\"#s-");
        esc(f, ss[i].name);
        fprintf(f, "\">");
        esc(f, ss[i].name);
        fprintf(f, "</a> ");
    }
    fprintf(f, "</nav>\n");
    for (size_t i = 0; i < n; i++)
        plot(f, &ss[i], alerts, t0, t1, threshold);
    fprintf(f, "</body></html>\n");
    return shown;
}

/* A rule's alerts (rules.dir) as rows of the alerts list: the history records the built-in
 * per-series rule's transitions only, and a rule set replaces that rule, which left the page of
 * a file scored with rules without any alert. A row carries "rule" (its name), the series when
 * the alert is about one, and the metrics it blames ("top"), as replay prints them. */
static void take_rule_alert(void *ud, const struct vg_notification *n)
{
    json_t *rows = ud;
    if (!n->alertname || strcmp(n->alertname, "anomaly") == 0 || n->repeat)
        return;
    json_t *a = json_object();
    json_t *top = json_array();
    if (!a || !top) {
        json_decref(a);
        json_decref(top);
        return;
    }
    json_object_set_new(a, "ts", json_integer(n->event_ts_ms));
    json_object_set_new(a, "rule", json_string(n->alertname));
    if (n->series)
        json_object_set_new(a, "series", json_string(n->series));
    json_object_set_new(a, "status", json_string(n->status));
    json_object_set_new(a, "score", isfinite(n->score) ? json_real(n->score) : json_null());
    json_object_set_new(a, "value", isfinite(n->value) ? json_real(n->value) : json_null());
    for (size_t i = 0; i < n->n_top_metrics; i++)
        json_array_append_new(top, json_string(n->top_metrics[i].name));
    json_object_set_new(a, "top", top);
    json_array_append_new(rows, a);
}

/* Merges the rule rows into the history's alerts, in time order (each list already is). */
static int merge_rule_alerts(json_t *hist, json_t *rules)
{
    json_t *old = json_object_get(hist, "alerts");
    json_t *all = json_array();
    if (!all)
        return -ENOMEM;
    size_t i = 0, j = 0, ni = json_array_size(old), nj = json_array_size(rules);
    while (i < ni || j < nj) {
        json_t *a = i < ni ? json_array_get(old, i) : NULL;
        json_t *b = j < nj ? json_array_get(rules, j) : NULL;
        int take_b = !a || (b && json_integer_value(json_object_get(b, "ts")) <
                                     json_integer_value(json_object_get(a, "ts")));
        json_array_append(all, take_b ? b : a);
        if (take_b)
            j++;
        else
            i++;
    }
    return json_object_set_new(hist, "alerts", all) ? -ENOMEM : 0;
}

/* Scores FILE here and returns the chosen host's history as the API would give it. *config_bad
 * is set when the config or its rules were refused (exit 2, as replay), rather than the input. */
static json_t *history_from_file(const char *path, const char *config, char *const *sets,
                                 size_t n_sets, const char *csv_host, const char **host,
                                 double *threshold, int *config_bad, char *err, size_t errlen)
{
    if (strcmp(path, "-") == 0) {
        vg_err(err, errlen, -EINVAL, "report --input reads the file twice: give a file, not -");
        return NULL;
    }
    struct analyzer_cfg cfg;
    struct vg_engine *e = NULL;
    struct vg_rule_set *rules = NULL;
    struct vg_history *h = NULL;
    json_t *out = NULL, *rule_rows = json_array();
    struct vg_ctl_input in = {0};
    struct vg_wire_msg m;
    vg_wire_msg_init(&m);
    int rc = vg_ctl_load_config(&cfg, config, sets, n_sets, err, errlen);
    if (rc) {
        *config_bad = 1;
        goto done;
    }
    *threshold = cfg.alert_threshold;
    /* Pass 1: the host and the time span, so the history spans the file at a fixed number
     * of points whatever its length. */
    if ((rc = vg_ctl_input_open(&in, path, csv_host, err, errlen)) < 0)
        goto done;
    int64_t t0 = INT64_MAX, t1 = INT64_MIN;
    char first[VG_WIRE_HOST_MAX + 1] = "";
    /* The host every row of a CSV gets (--host, else "csv"), for an error about a CSV without
     * rows: the name to give, not an empty one. */
    char csv_name[VG_WIRE_HOST_MAX + 1] = "";
    if (in.csv)
        snprintf(csv_name, sizeof(csv_name), "%s", in.host);
    int several = 0;
    while (vg_ctl_input_next(&in, &m) == 1) {
        if (!first[0])
            snprintf(first, sizeof(first), "%s", m.host);
        else if (strcmp(first, m.host) != 0)
            several = 1;
        if (*host && strcmp(*host, m.host) != 0)
            continue;
        if (m.ts_ms < t0)
            t0 = m.ts_ms;
        if (m.ts_ms > t1)
            t1 = m.ts_ms;
    }
    vg_ctl_input_close(&in);
    if (!*host && !first[0]) {
        if (csv_name[0])
            rc = vg_err(err, errlen, -ENOENT, "%s: no message of host %s (no row read)", path,
                        csv_name);
        else
            rc = vg_err(err, errlen, -ENOENT, "%s: no message read", path);
        goto done;
    }
    if (!*host) {
        if (several) {
            rc = vg_err(err, errlen, -EINVAL, "%s holds several hosts: name one (HOST)", path);
            goto done;
        }
        *host = strdup(first);
    }
    if (t0 > t1) {
        rc = vg_err(err, errlen, -ENOENT, "%s: no message of host %s", path, *host);
        goto done;
    }
    int64_t res = (t1 - t0) / FILE_POINTS + 1;
    struct vg_history_params hp = {
        .window_ms = (t1 - t0) + 2 * res, .resolution_ms = res, .max_bytes = (size_t)1 << 40};
    if ((rc = vg_ctl_engine_new(&cfg, NULL, &e, &rules, err, errlen)) < 0) {
        *config_bad = 1;
        goto done;
    }
    vg_ctl_warn_host_models("report", rules);
    if ((rc = vg_history_new(&h, &hp, err, errlen)) < 0 ||
        (rc = vg_ctl_input_open(&in, path, csv_host, err, errlen)) < 0)
        goto done;
    while (vg_ctl_input_next(&in, &m) == 1) {
        if (strcmp(m.host, *host) != 0)
            continue;
        vg_engine_process(e, &m, rule_rows ? take_rule_alert : NULL, rule_rows);
        vg_history_record(h, e, &m);
    }
    out = vg_history_host_json(h, *host, INT64_MIN);
    if (!out || !rule_rows || merge_rule_alerts(out, rule_rows) < 0)
        rc = vg_err(err, errlen, -ENOMEM, "out of memory");
done:
    json_decref(rule_rows);
    vg_ctl_input_close(&in);
    vg_wire_msg_free(&m);
    vg_history_free(h);
    vg_engine_free(e);
    vg_rule_set_free(rules);
    vg_config_free(&analyzer_config_table, &cfg);
    if (rc) {
        json_decref(out);
        return NULL;
    }
    return out;
}

int vg_ctl_report(int argc, char **argv)
{
    static const struct option opts[] = {
        {"api", required_argument, NULL, 'a'},    {"input", required_argument, NULL, 'i'},
        {"config", required_argument, NULL, 'c'}, {"set", required_argument, NULL, 's'},
        {"host", required_argument, NULL, 'H'},   {"output", required_argument, NULL, 'o'},
        {"since", required_argument, NULL, 'S'},  {"from", required_argument, NULL, 'F'},
        {"to", required_argument, NULL, 'T'},     {"metrics", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    struct vg_ctl_api api;
    vg_ctl_api_init(&api);
    const char *input = NULL, *config = NULL, *csv_host = NULL, *output = NULL, *globs = NULL;
    char *sets[VG_CTL_MAX_SETS];
    size_t n_sets = 0;
    int64_t since = 0;
    struct range r = {INT64_MIN, INT64_MAX};
    int opt;
    while ((opt = getopt_long(argc, argv, "a:i:c:s:o:m:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'a':
            api.url = optarg;
            break;
        case 'i':
            input = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case 's':
            if (vg_ctl_add_set("report", sets, &n_sets, optarg) < 0)
                return 2;
            break;
        case 'H':
            csv_host = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'S':
            if (vg_parse_duration_ms(optarg, &since) < 0 || since <= 0) {
                fprintf(stderr, "vigilctl report: --since '%s': a duration, e.g. 30m\n", optarg);
                return 2;
            }
            break;
        case 'F':
        case 'T':
            if (vg_ctl_parse_time(optarg, opt == 'F' ? &r.from : &r.to) < 0) {
                fprintf(stderr, "vigilctl report: --%s '%s': RFC 3339 or Unix time\n",
                        opt == 'F' ? "from" : "to", optarg);
                return 2;
            }
            break;
        case 'm':
            globs = optarg;
            break;
        case 'h':
            help(stdout);
            return 0;
        default:
            help(stderr);
            return 2;
        }
    }
    if (argc - optind > 1 || (!input && argc - optind != 1)) {
        fprintf(stderr, "vigilctl report: one HOST expected (see --help)\n");
        return 2;
    }
    if (!input && vg_ctl_api_check("report", &api) < 0)
        return 2;
    if (since && (r.from != INT64_MIN || r.to != INT64_MAX)) {
        fprintf(stderr, "vigilctl report: --since DUR or --from/--to TIME, not both\n");
        return 2;
    }
    if (r.from > r.to) {
        fprintf(stderr, "vigilctl report: --from is later than --to\n");
        return 2;
    }
    const char *host = optind < argc ? argv[optind] : NULL;
    /* Room for a rule directory's list of mistakes (rules.dir), one line each. */
    char err[16384], source[1200];
    json_t *hist = NULL;
    double threshold = NAN;
    int config_bad = 0;
    vg_log_init("vigilctl", VG_LOG_WARN, 0);
    if (input) {
        vg_ctl_say_config("report", config, n_sets);
        hist = history_from_file(input, config, sets, n_sets, csv_host, &host, &threshold,
                                 &config_bad, err, sizeof(err));
        snprintf(source, sizeof(source), "%s, scored by vigilctl", input);
    } else {
        /* The threshold line is alert.threshold of -c and -s (the API does not give the
         * analyzer's), else the default. A config that cannot be read or a bad --set is refused
         * before the request, not drawn as the default: -c used to be ignored here, a missing
         * file accepted and its threshold not drawn. */
        struct analyzer_cfg cfg;
        if (vg_ctl_load_config(&cfg, config, sets, n_sets, err, sizeof(err)) == 0)
            threshold = cfg.alert_threshold;
        else
            config_bad = 1;
        vg_config_free(&analyzer_config_table, &cfg);
        char path[600];
        snprintf(path, sizeof(path), "/api/v1/history/%s", host);
        if (!config_bad && vg_ctl_json_want(&api, "GET", path, NULL, "series", JSON_OBJECT, &hist,
                                            err, sizeof(err)) < 0)
            hist = NULL;
        snprintf(source, sizeof(source), "history of the analyzer at %s", api.url);
    }
    if (!hist) {
        fprintf(stderr, "vigilctl report: %s%s\n", config_bad ? "config error: " : "", err);
        if (input && host && host != argv[optind])
            free((char *)host);
        return config_bad ? 2 : 1;
    }
    if (since) {
        int64_t newest = INT64_MIN;
        const char *k;
        json_t *so;
        json_object_foreach(json_object_get(hist, "series"), k, so)
        {
            json_t *t = json_object_get(so, "t");
            size_t m = json_array_size(t);
            if (m && json_integer_value(json_array_get(t, m - 1)) > newest)
                newest = json_integer_value(json_array_get(t, m - 1));
        }
        if (newest != INT64_MIN && newest - since > r.from)
            r.from = newest - since;
    }
    struct plots p = {0};
    if (collect(hist, &r, globs, &p) < 0) {
        fprintf(stderr, "vigilctl report: out of memory\n");
        json_decref(hist);
        if (input && host && (optind >= argc || host != argv[optind]))
            free((char *)host);
        return 1;
    }
    int rc = 0;
    if (!p.n) {
        fprintf(stderr, "vigilctl report: no data of host %s in the range%s; nothing written\n",
                json_string_value(json_object_get(hist, "host")),
                globs ? " for these metrics" : "");
        rc = 1;
        goto out;
    }
    char defpath[600];
    if (!output) {
        char ts[32];
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(ts, sizeof(ts), "%Y%m%d-%H%M%S", &tm);
        snprintf(defpath, sizeof(defpath), "vigil-report-%s-%s.html",
                 json_string_value(json_object_get(hist, "host")), ts);
        output = defpath;
    }
    FILE *f = strcmp(output, "-") == 0 ? stdout : fopen(output, "w");
    if (!f) {
        fprintf(stderr, "vigilctl report: %s: %s\n", output, strerror(errno));
        rc = 1;
    } else {
        size_t shown = write_html(f, hist, &p, &r, globs, source, threshold);
        if (f != stdout && fclose(f) != 0) {
            fprintf(stderr, "vigilctl report: %s: %s\n", output, strerror(errno));
            rc = 1;
        } else if (f != stdout) {
            fprintf(stderr, "wrote %s: %zu metric plots, %zu alert transitions\n", output, p.n,
                    shown);
        }
    }
out:
    plots_free(&p);
    json_decref(hist);
    if (input && host && (optind >= argc || host != argv[optind]))
        free((char *)host);
    return rc;
}
