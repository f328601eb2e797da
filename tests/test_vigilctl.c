/* vigilctl against real parts: an analyzer with its embedded broker fed by a real agent (status,
 * top, alerts, report from the API), a real HTTP receiver in its own process (fire-test), and
 * recorded input (replay, report --input). Also the man pages generated from --help. */
#include <jansson.h>
#include <pwd.h>
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vg_stack.h"
#include "vg_testproc.h"

#define VIGILCTL  VG_BIN_DIR "/analyzer/vigilctl/vigilctl"
#define SPIKE_CSV VG_TEST_DATA "/ops/spike.csv"
#define BASE_LOAD "0.50 0.40 0.30 1/120 4242\n"
#define HIGH_LOAD "9.50 0.40 0.30 9/120 4242\n"
/* The fixture's detector settings: spike.csv has 60 ticks, a warm-up of 20 would leave little. */
#define SPIKE_SETS "--set detector.warmup=10 --set alert.for=2s --set alert.resolve_for=2s"

static char g_dir[256], g_out[512], g_err[512];

/* Runs vigilctl with the arguments (printf format); stdout goes to g_out, stderr to g_err.
 * Returns the exit status. */
__attribute__((format(printf, 1, 2))) static int ctl(const char *fmt, ...)
{
    char args[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    return vg_tp_sh("%s %s >%s 2>%s </dev/null", VIGILCTL, args, g_out, g_err);
}

static char *out(void)
{
    char *t = vg_tp_read(g_out);
    assert_non_null(t);
    return t;
}

static char *err(void)
{
    char *t = vg_tp_read(g_err);
    assert_non_null(t);
    return t;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void replay_csv_prints_the_spike_alert_once(void **state)
{
    (void)state;
    assert_int_equal(ctl("replay " SPIKE_SETS " %s", SPIKE_CSV), 0);
    char *o = out(), *e = err();
    /* load.1m goes to 9.5 at 13:20:30; after alert.for (2 s) it fires, and 2 s after it is
     * back to normal at 13:20:40 it resolves. cpu.user_pct never leaves its range. */
    assert_non_null(strstr(o, "2026-11-23T13:20:32.000Z FIRING   csv load.1m score=1.00000 "
                              "value=9.5\n"));
    assert_non_null(strstr(o, "2026-11-23T13:20:42.000Z RESOLVED csv load.1m score="));
    assert_int_equal(count(o, "FIRING"), 1);
    assert_int_equal(count(o, "RESOLVED"), 1);
    assert_null(strstr(o, "cpu.user_pct"));
    assert_non_null(strstr(e, "replayed 60 messages"));
    assert_non_null(strstr(e, "1 alerts fired, 1 resolved, 0 still firing; 0 lines skipped"));
    /* Not a terminal: no progress bar. */
    assert_null(strstr(e, "\r"));
    free(o);
    free(e);

    /* Alerting on cpu.* only: the spike of load.1m raises nothing (the config is honoured). */
    assert_int_equal(ctl("replay " SPIKE_SETS " --set alert.series=cpu.* %s", SPIKE_CSV), 0);
    o = out();
    assert_null(strstr(o, "FIRING"));
    free(o);
}

static void replay_with_rule_files_fires_the_rule(void **state)
{
    (void)state;
    assert_int_equal(
        ctl("replay --set detector.warmup=10 --rules %s/ops/rules %s", VG_TEST_DATA, SPIKE_CSV), 0);
    char *o = out();
    /* The rule replaces the built-in one: its alert, named by the rule, and no other. */
    assert_non_null(strstr(o, "2026-11-23T13:20:32.000Z FIRING   csv LoadSpike score="));
    assert_non_null(strstr(o, "2026-11-23T13:20:40.000Z RESOLVED csv LoadSpike score="));
    assert_int_equal(count(o, "\n"), 2);
    free(o);

    char dir[600];
    snprintf(dir, sizeof(dir), "%s/badrules", g_dir);
    vg_tp_sh("mkdir -p %s && printf 'rules:\\n  - name: X\\n    when: avg(1) > 2\\n' >%s/x.yaml",
             dir, dir);
    assert_int_equal(ctl("replay --rules %s %s", dir, SPIKE_CSV), 2);
    char *e = err();
    assert_non_null(strstr(e, "x.yaml:3:11: unknown function 'avg' (did you mean 'avg_over'?)"));
    free(e);
}

/* Hourly rows 1795440000 + i h, i < 60, load.1m about 10 and 100 on rows 40-42; with extra >= 0,
 * one more row 1 s after row extra (a duplicated sample, a DST fold). */
static void write_hourly(const char *path, int extra)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "timestamp,load.1m\n");
    for (int i = 0; i < 60; i++) {
        double v = i >= 40 && i <= 42 ? 100 : 10 + 0.9 * ((i * 37) % 19) / 19.0;
        fprintf(f, "%d,%.4f\n", 1795440000 + 3600 * i, v);
        if (i == extra)
            fprintf(f, "%d,%.4f\n", 1795440000 + 3600 * i + 1, v);
    }
    assert_int_equal(fclose(f), 0);
}

/* A CSV declares no interval: the typical step between its rows stands in for it. One short step
 * among hourly rows, before the alert or while it fires, changes nothing: it fires and resolves
 * at the same times (with the shortest step as the interval, every later hourly step was a gap,
 * so nothing fired after it and a firing alert never resolved). */
static void replay_csv_interval_is_not_the_one_short_step(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof(path), "%s/hourly.csv", g_dir);
    const int extras[] = {-1, 5, 41};
    for (size_t i = 0; i < sizeof(extras) / sizeof(extras[0]); i++) {
        write_hourly(path, extras[i]);
        assert_int_equal(ctl("replay --set detector.warmup=10 --host h1 %s", path), 0);
        char *o = out(), *e = err();
        if (!strstr(o, "2026-11-25T06:20:00.000Z FIRING   h1 load.1m ") ||
            !strstr(o, "2026-11-25T09:20:00.000Z RESOLVED h1 load.1m ") ||
            !strstr(e, "1 alerts fired, 1 resolved, 0 still firing"))
            fail_msg("extra row after %d: %s%s", extras[i], o, e);
        free(o);
        free(e);
    }
}

/* Timestamps past year 9999 (whose milliseconds would not fit), fractions strtod alone would take
 * (".5e9"), and negative times are skipped with their reason; the rest replays. */
static void replay_csv_skips_timestamps_out_of_range(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof(path), "%s/times.csv", g_dir);
    assert_int_equal(vg_tp_write_atomic(path, "timestamp,cpu.user_pct\n"
                                              "1e70,5\n"
                                              "2026-11-24T10:00:00.5e9Z,5\n"
                                              "10000-01-01T00:00:00Z,5\n"
                                              "-5,5\n"
                                              "2026-11-24T10:00:00.250Z,5\n"
                                              "1795440001,6\n"),
                     0);
    assert_int_equal(ctl("replay %s", path), 1);
    char *e = err();
    assert_non_null(strstr(e, "timestamp '1e70' is not Unix time or RFC 3339"));
    assert_non_null(strstr(e, "timestamp '2026-11-24T10:00:00.5e9Z' is not Unix time"));
    assert_non_null(strstr(e, "replayed 2 messages"));
    assert_non_null(strstr(e, "4 lines skipped"));
    free(e);
}

/* A header naming a column twice (two columns would feed one series, interleaved), or with an
 * empty name (a trailing comma: every row would be a cell longer than the header), is refused at
 * line 1 naming the column. */
static void replay_csv_refuses_a_repeated_or_empty_column_name(void **state)
{
    (void)state;
    static const struct {
        const char *csv, *msg;
    } cases[] = {
        {"timestamp,a,a\n1795440000,1,2\n", ":1: column 3 'a' repeats column 2"},
        {"timestamp,,a\n1795440000,,2\n", ":1: column 2 has no name"},
        {"timestamp,a,\n1795440000,1,\n", ":1: column 3 has no name"},
    };
    char path[600];
    snprintf(path, sizeof(path), "%s/header.csv", g_dir);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(vg_tp_write_atomic(path, cases[i].csv), 0);
        assert_int_equal(ctl("replay %s", path), 1);
        char *e = err(), want[700];
        snprintf(want, sizeof(want), "%s%s", path, cases[i].msg);
        if (!strstr(e, want))
            fail_msg("case %zu: '%s' not in '%s'", i, want, e);
        assert_null(strstr(e, "replayed"));
        free(e);
    }
}

/* A row with fewer cells than the header is skipped and reported as a longer one is, not
 * scored with the columns it lacks missing; an empty cell is a missing value and keeps the row. */
static void replay_csv_skips_rows_with_too_few_or_too_many_cells(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof(path), "%s/ragged.csv", g_dir);
    assert_int_equal(vg_tp_write_atomic(path, "timestamp,a,b\n"
                                              "1795440000,2\n"
                                              "1795440001,1,2,3,4\n"
                                              "1795440002,,5\n"
                                              "1795440003\n"),
                     0);
    assert_int_equal(ctl("replay %s", path), 1);
    char *e = err(), want[700];
    snprintf(want, sizeof(want), "%s:2: skipped: fewer cells than the header's 3 columns", path);
    assert_non_null(strstr(e, want));
    snprintf(want, sizeof(want), "%s:3: skipped: more cells than the header's 3 columns", path);
    assert_non_null(strstr(e, want));
    snprintf(want, sizeof(want), "%s:5: skipped: fewer cells than the header's 3 columns", path);
    assert_non_null(strstr(e, want));
    assert_non_null(strstr(e, "replayed 1 messages"));
    assert_non_null(strstr(e, "3 lines skipped"));
    free(e);
}

/* RFC 3339 times with an offset (+hh:mm, -hh:mm) or a lowercase z are the UTC times they name:
 * spike.csv's rows written in other zones fire and resolve at the same UTC times. */
static void replay_csv_reads_rfc3339_offsets_as_utc(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof(path), "%s/offsets.csv", g_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("timestamp,load.1m\n", f);
    for (int i = 0; i < 60; i++) {
        double load = i >= 30 && i < 40 ? 9.5 : 0.5 + 0.01 * (i % 3);
        /* 2026-11-23T13:20:ssZ, in turn as +01:00, -05:30 and z */
        if (i % 3 == 0)
            fprintf(f, "2026-11-23T14:20:%02d+01:00,%g\n", i, load);
        else if (i % 3 == 1)
            fprintf(f, "2026-11-23T07:50:%02d.000-05:30,%g\n", i, load);
        else
            fprintf(f, "2026-11-23t13:20:%02dz,%g\n", i, load);
    }
    fclose(f);
    assert_int_equal(ctl("replay " SPIKE_SETS " %s", path), 0);
    char *o = out(), *e = err();
    assert_non_null(strstr(o, "2026-11-23T13:20:32.000Z FIRING   csv load.1m score=1.00000"));
    assert_non_null(strstr(o, "2026-11-23T13:20:42.000Z RESOLVED csv load.1m score="));
    assert_non_null(strstr(e, "replayed 60 messages"));
    assert_non_null(strstr(e, "0 lines skipped"));
    free(o);
    free(e);
    /* An offset out of range or half written is still not a time. */
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("timestamp,a\n2026-11-23T13:00:05+24:00,5\n2026-11-23T13:00:05+01,5\n", f);
    fclose(f);
    assert_int_equal(ctl("replay %s", path), 1);
    e = err();
    assert_non_null(strstr(e, "timestamp '2026-11-23T13:00:05+24:00' is not Unix time"));
    assert_non_null(strstr(e, "timestamp '2026-11-23T13:00:05+01' is not Unix time"));
    free(e);
}

/* A column named like a host model's score (host:NAME, which rules read as the model) is refused
 * at the header, before any row, naming the column: not row by row, nor replayed as a series. */
static void replay_csv_refuses_a_reserved_column_name(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof(path), "%s/reserved.csv", g_dir);
    assert_int_equal(vg_tp_write_atomic(path, "timestamp,cpu.user_pct,host:mv\n"
                                              "1795440000,5,0.5\n"),
                     0);
    assert_int_equal(ctl("replay %s", path), 1);
    char *e = err();
    assert_non_null(strstr(e, "reserved.csv:1: column 'host:mv' is a reserved name: names starting "
                              "with 'host:' are host models' scores to rules"));
    assert_null(strstr(e, "replayed"));
    free(e);
}

static void replay_stream_and_bad_lines_are_reported(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof(path), "%s/stream.jsonl", g_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 40; i++) {
        double load = i >= 25 && i < 32 ? 9.5 : 0.5 + 0.01 * (i % 3);
        /* As kcat -C prints it, with one kcat -J envelope and one broken line among them. */
        if (i == 5)
            fprintf(f,
                    "{\"topic\":\"vigil.metrics\",\"partition\":0,\"offset\":5,\"key\":\"s-1\","
                    "\"payload\":\"{\\\"v\\\":1,\\\"host\\\":\\\"s-1\\\",\\\"boot\\\":\\\"b\\\","
                    "\\\"seq\\\":%d,\\\"ts\\\":%lld,\\\"interval_ms\\\":1000,\\\"labels\\\":{},"
                    "\\\"metrics\\\":{\\\"load.1m\\\":%g}}\"}\n",
                    i + 1, 1795440000000LL + i * 1000LL, load);
        else
            fprintf(
                f,
                "{\"v\":1,\"host\":\"s-1\",\"boot\":\"b\",\"seq\":%d,\"ts\":%lld,"
                "\"interval_ms\":1000,\"labels\":{\"env\":\"ci\"},\"metrics\":{\"load.1m\":%g}}\n",
                i + 1, 1795440000000LL + i * 1000LL, load);
        if (i == 10)
            fprintf(f, "{\"v\":1,\"host\":\"s-1\"\n");
    }
    fclose(f);
    assert_int_equal(ctl("replay " SPIKE_SETS " --json %s", path), 1);
    char *o = out(), *e = err();
    /* --json: the webhook's body, labels included. */
    assert_non_null(strstr(o, "\"status\":\"firing\""));
    assert_non_null(strstr(o, "\"host\":\"s-1\""));
    assert_non_null(strstr(o, "\"env\":\"ci\""));
    assert_int_equal(count(o, "\"status\":\"firing\""), 1);
    char want[700];
    snprintf(want, sizeof(want), "%s:12: skipped: ", path);
    assert_non_null(strstr(e, want));
    assert_non_null(strstr(e, "replayed 40 messages"));
    assert_non_null(strstr(e, "1 lines skipped"));
    free(o);
    free(e);

    assert_int_equal(ctl("replay %s/missing.csv", g_dir), 1);
    e = err();
    assert_non_null(strstr(e, "missing.csv: No such file or directory"));
    free(e);
    assert_int_equal(ctl("replay"), 2);
    assert_int_equal(ctl("replay --set alert.threshold=7 %s", SPIKE_CSV), 2);
    e = err();
    assert_non_null(strstr(e, "alert.threshold must be between 0.5 and 1"));
    free(e);
}

static void report_from_csv_has_a_plot_per_metric_and_the_alerts(void **state)
{
    (void)state;
    char html[600];
    snprintf(html, sizeof(html), "%s/spike.html", g_dir);
    assert_int_equal(ctl("report --input %s " SPIKE_SETS " -o %s", SPIKE_CSV, html), 0);
    char *h = vg_tp_read(html);
    assert_non_null(h);
    assert_true(strncmp(h, "<!DOCTYPE html>", 15) == 0);
    assert_non_null(strstr(h, "<title>Vigil report: csv</title>"));
    /* One section with one SVG per metric, the anomalous one first. */
    assert_int_equal(count(h, "<svg "), 2);
    assert_int_equal(count(h, "<section id=\"s-"), 2);
    char *l = strstr(h, "<section id=\"s-load.1m\">"),
         *c = strstr(h, "<section id=\"s-cpu.user_pct\">");
    assert_non_null(l);
    assert_non_null(c);
    assert_true(l < c);
    /* Values, scores, the threshold and the alert span are drawn. */
    assert_int_equal(count(h, "<polyline class=\"value\""), 2);
    assert_int_equal(count(h, "<polyline class=\"score\""), 2);
    assert_int_equal(count(h, "<rect class=\"alert\""), 1);
    assert_non_null(strstr(h, "<td>2026-11-23 13:20:32</td><td class=\"firing\">firing</td>"));
    assert_non_null(strstr(h, "<td>2026-11-23 13:20:42</td><td class=\"resolved\">resolved</td>"));
    /* Self-contained: nothing is fetched. */
    assert_null(strstr(h, "<script"));
    assert_null(strstr(h, "src="));
    assert_null(strstr(h, "<link"));
    assert_true(strstr(h, "</html>\n") != NULL);
    free(h);

    /* A range and a metric filter. */
    assert_int_equal(ctl("report --input %s " SPIKE_SETS " -m cpu.* --from 2026-11-23T13:20:50Z "
                         "-o %s",
                         SPIKE_CSV, html),
                     0);
    h = vg_tp_read(html);
    assert_int_equal(count(h, "<svg "), 1);
    assert_non_null(strstr(h, "13:20:50 to 2026-11-23 13:20:59 UTC"));
    assert_non_null(strstr(h, "No alert fired or resolved in this range."));
    free(h);
    assert_int_equal(ctl("report --input %s -m no.such.* -o %s", SPIKE_CSV, html), 1);
    assert_int_equal(ctl("report"), 2);
    /* A config it cannot use is a usage error, as for replay, before any input is read. */
    assert_int_equal(ctl("report --input %s -s no.such.key=1 -o %s", SPIKE_CSV, html), 2);
    char *e = err();
    assert_non_null(strstr(e, "config error: --set: unknown key 'no.such.key'"));
    free(e);
    assert_int_equal(ctl("report -s alert.threshold=7 -o %s web-1", html), 2);
    e = err();
    assert_non_null(strstr(e, "config error: --set: alert.threshold must be between 0.5 and 1"));
    free(e);
}

/* The summary line counts the alert rows the page holds, after --since/--from/--to and -m, not
 * every transition of the host. */
static void report_summary_counts_the_alerts_it_shows(void **state)
{
    (void)state;
    char html[600];
    snprintf(html, sizeof(html), "%s/count-report.html", g_dir);
    static const char *const filters[] = {"--since 10s", "-m 'cpu.*'"};
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
        assert_int_equal(ctl("report --input %s %s -o %s", SPIKE_CSV, filters[i], html), 0);
        char *e = err(), *h = vg_tp_read(html);
        assert_non_null(h);
        assert_non_null(strstr(h, "No alert fired or resolved in this range."));
        if (!strstr(e, " 0 alert transitions"))
            fail_msg("%s: %s", filters[i], e);
        free(e);
        free(h);
    }
    assert_int_equal(ctl("report --input %s -o %s", SPIKE_CSV, html), 0);
    char *e = err();
    assert_non_null(strstr(e, "2 metric plots, 2 alert transitions"));
    free(e);
}

/* A file scored with a rules dir: the rule's alerts are the page's, as replay prints them (the
 * history records the built-in rule only, which the rule set replaces). */
static void report_from_csv_lists_rule_alerts(void **state)
{
    (void)state;
    char html[600], rd[600];
    snprintf(html, sizeof(html), "%s/rules-report.html", g_dir);
    snprintf(rd, sizeof(rd), "%s/report-rules", g_dir);
    assert_int_equal(vg_tp_sh("mkdir -p %s && printf 'rules:\\n  - name: LoadHigh\\n    when: "
                              "value(\"load.1m\") > 5\\n' >%s/r.yaml",
                              rd, rd),
                     0);
    assert_int_equal(ctl("report --input %s -s rules.dir=%s -o %s", SPIKE_CSV, rd, html), 0);
    char *h = vg_tp_read(html), *e = err();
    assert_non_null(h);
    assert_non_null(strstr(h, "<td>2026-11-23 13:20:30</td><td class=\"firing\">firing</td>"
                              "<td>LoadHigh top: <a href=\"#s-load.1m\">load.1m</a>"));
    assert_non_null(
        strstr(h, "<td>2026-11-23 13:20:40</td><td class=\"resolved\">resolved</td><td>LoadHigh"));
    assert_null(strstr(h, "No alert fired or resolved in this range."));
    assert_non_null(strstr(e, "2 alert transitions"));
    free(h);
    free(e);
}

/* A filter or range with nothing in it is an error before the page is opened: no file is left
 * behind. A CSV without rows names the host its rows would have had; --since with --from is a
 * usage error. */
static void report_without_data_writes_nothing_and_names_the_host(void **state)
{
    (void)state;
    char html[600], csv[600];
    snprintf(html, sizeof(html), "%s/empty-report.html", g_dir);
    unlink(html);
    assert_int_equal(ctl("report --input %s -m 'nomatch*' -o %s", SPIKE_CSV, html), 1);
    char *e = err();
    assert_non_null(strstr(e, "no data of host csv in the range for these metrics"));
    assert_null(strstr(e, "wrote"));
    free(e);
    assert_int_equal(access(html, F_OK), -1);
    assert_int_equal(ctl("report --input %s --from 2030-01-01T00:00:00Z -o %s", SPIKE_CSV, html),
                     1);
    assert_int_equal(access(html, F_OK), -1);

    snprintf(csv, sizeof(csv), "%s/header-only.csv", g_dir);
    FILE *f = fopen(csv, "w");
    assert_non_null(f);
    fputs("timestamp,a\n", f);
    fclose(f);
    assert_int_equal(ctl("report --input %s -o %s", csv, html), 1);
    e = err();
    assert_non_null(strstr(e, "no message of host csv"));
    free(e);
    assert_int_equal(ctl("report --input %s --host web-1 -o %s", csv, html), 1);
    e = err();
    assert_non_null(strstr(e, "no message of host web-1"));
    free(e);
    assert_int_equal(access(html, F_OK), -1);

    assert_int_equal(
        ctl("report --input %s --since 5m --from 2026-11-23T13:20:00Z -o %s", SPIKE_CSV, html), 2);
    e = err();
    assert_non_null(strstr(e, "vigilctl report: --since DUR or --from/--to TIME, not both"));
    free(e);
    assert_int_equal(access(html, F_OK), -1);
}

static void fire_test_reaches_the_receiver_and_reports_failures(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "firetest");
    vg_stack_start_receiver(&s, NULL);
    assert_int_equal(ctl("fire-test -c '' --set webhook.url=http://127.0.0.1:%d/alerts --host ft-1 "
                         "webhook",
                         s.recv_port),
                     0);
    char *o = out();
    assert_non_null(strstr(o, "webhook: firing test notification delivered to "
                              "http://127.0.0.1:"));
    assert_non_null(strstr(o, "webhook: resolved test notification delivered"));
    free(o);
    assert_int_equal(vg_tp_wait_contains(s.recv_out, "\"resolved\"", 10000), 0);
    assert_int_equal(
        vg_tp_count(s.recv_out, "\"status\":\"firing\",\"alertname\":\"VigilFireTest\""), 1);
    assert_int_equal(
        vg_tp_count(s.recv_out, "\"status\":\"resolved\",\"alertname\":\"VigilFireTest\""), 1);
    /* The test alert carries its label, and the host it was asked to name. */
    assert_int_equal(
        vg_tp_count(s.recv_out, "\"labels\":{\"vigil_test\":\"true\",\"host\":\"ft-1\""), 2);
    assert_int_equal(vg_stack_stop(&s), 0);

    /* A receiver that answers 500: not delivered, and the log line says what it answered. */
    vg_stack_init(&s, "firetest-fail");
    const char *extra[] = {"--fail", "100", NULL};
    vg_stack_start_receiver(&s, extra);
    assert_int_equal(
        ctl("fire-test -c '' --set webhook.url=http://127.0.0.1:%d/alerts webhook", s.recv_port),
        1);
    o = out();
    char *e = err();
    assert_non_null(strstr(o, "firing test notification NOT delivered"));
    assert_non_null(strstr(e, "status=500"));
    /* ... and what it answered (fire-test --help, docs/install.md). */
    assert_non_null(strstr(e, "injected failure"));
    free(o);
    free(e);
    assert_int_equal(vg_stack_stop(&s), 0);

    assert_int_equal(ctl("fire-test -c '' slack"), 2);
    e = err();
    assert_non_null(strstr(e, "receiver slack is not configured in the built-in defaults"));
    assert_non_null(strstr(e, "slack.url"));
    free(e);
    assert_int_equal(ctl("fire-test -c '' sms"), 2);
}

/* --no-resolve leaves the test alert open: PagerDuty's incident until someone resolves it (they
 * do not expire), Alertmanager's until its endsAt. What is printed lets the user find it: the
 * dedup key the receiver got, or the labels and endsAt. The help once said both "expire". */
static void fire_test_no_resolve_prints_how_to_find_the_open_alert(void **state)
{
    (void)state;
    assert_int_equal(ctl("fire-test --help"), 0);
    char *o = out();
    assert_null(strstr(o, "until it expires"));
    assert_non_null(strstr(o, "in PagerDuty until it is resolved there"));
    free(o);

    struct vg_stack s;
    vg_stack_init(&s, "firetest-open");
    vg_stack_start_receiver(&s, NULL);
    char key[700];
    snprintf(key, sizeof(key), "%s/pd.key", s.dir);
    assert_int_equal(vg_tp_write_atomic(key, "0123456789abcdef0123456789abcdef\n"), 0);
    assert_int_equal(chmod(key, 0600), 0);
    assert_int_equal(ctl("fire-test -c '' --no-resolve --set pagerduty.url=http://127.0.0.1:%d "
                         "--set pagerduty.routing_key_file=%s --host ft-1 pagerduty",
                         s.recv_port, key),
                     0);
    o = out();
    const char *k = strstr(o, "until it is resolved in PagerDuty");
    if (!k)
        fail_msg("stdout: %s", o);
    k = strstr(k, "dedup_key ");
    assert_non_null(k);
    char dedup[64] = "", want[128];
    assert_int_equal(sscanf(k, "dedup_key %63s", dedup), 1);
    /* The key printed is the one PagerDuty got. */
    snprintf(want, sizeof(want), "\"dedup_key\":\"%s\"", dedup);
    assert_int_equal(vg_tp_wait_contains(s.recv_out, want, 10000), 0);
    assert_int_equal(vg_tp_count(s.recv_out, "\"event_action\":\"resolve\""), 0);
    free(o);

    assert_int_equal(ctl("fire-test -c '' --no-resolve --set alertmanager.url=http://127.0.0.1:%d "
                         "--set alertmanager.resend_interval=30s --host ft-1 alertmanager",
                         s.recv_port),
                     0);
    o = out();
    const char *about = strstr(o, "the test alert stays active until its endsAt, about ");
    if (!about ||
        !strstr(o, "labels alertname=\"VigilFireTest\" host=\"ft-1\" series=\"vigil.fire_test\" "
                   "severity=\"info\" vigil_test=\"true\""))
        fail_msg("stdout: %s", o);
    /* The endsAt printed is the one sent (4 x 30 s after), but for the moments the run took. */
    assert_int_equal(vg_tp_wait_contains(s.recv_out, "\"endsAt\":\"", 10000), 0);
    char *r = vg_tp_read(s.recv_out);
    assert_non_null(r);
    const char *sent = strstr(r, "\"endsAt\":\"");
    assert_non_null(sent);
    about += strlen("the test alert stays active until its endsAt, about ");
    sent += strlen("\"endsAt\":\"");
    struct tm tp = {0}, ts = {0};
    assert_non_null(strptime(about, "%Y-%m-%dT%H:%M:%S", &tp));
    assert_non_null(strptime(sent, "%Y-%m-%dT%H:%M:%S", &ts));
    long long d = (long long)timegm(&tp) - (long long)timegm(&ts);
    if (d < -5 || d > 30)
        fail_msg("endsAt printed %.24s, sent %.24s", about, sent);
    free(r);
    free(o);
    assert_int_equal(vg_stack_stop(&s), 0);
}

/* What fire-test prints shows a receiver's url as its log lines do (docs/security.md): no
 * user:password, no query, and for Slack no path, delivered or not. */
static void fire_test_does_not_print_url_credentials(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "firetest-redact");
    vg_stack_start_receiver(&s, NULL);
    assert_int_equal(ctl("fire-test -c '' --no-resolve --set "
                         "'webhook.url=http://user:secretpw@127.0.0.1:%d/alerts?token=SECRETQ' "
                         "webhook",
                         s.recv_port),
                     0);
    char *o = out(), *e = err();
    char want[128];
    snprintf(want, sizeof(want), "delivered to http://127.0.0.1:%d/alerts?... ", s.recv_port);
    assert_non_null(strstr(o, want));
    assert_null(strstr(o, "secretpw"));
    assert_null(strstr(o, "SECRETQ"));
    assert_null(strstr(e, "secretpw"));
    assert_null(strstr(e, "SECRETQ"));
    free(o);
    free(e);

    assert_int_equal(ctl("fire-test -c '' --no-resolve --set "
                         "slack.url=http://127.0.0.1:%d/services/T000/B000/XXXXSECRET slack",
                         s.recv_port),
                     0);
    o = out();
    e = err();
    snprintf(want, sizeof(want), "delivered to http://127.0.0.1:%d/... ", s.recv_port);
    assert_non_null(strstr(o, want));
    assert_null(strstr(o, "XXXXSECRET"));
    assert_null(strstr(e, "XXXXSECRET"));
    free(o);
    free(e);
    assert_int_equal(vg_stack_stop(&s), 0);

    /* Not delivered: the failure line names the url the same way. */
    vg_stack_init(&s, "firetest-redact-fail");
    const char *extra[] = {"--fail", "100", NULL};
    vg_stack_start_receiver(&s, extra);
    assert_int_equal(ctl("fire-test -c '' --no-resolve --set "
                         "'alertmanager.url=http://am:secretpw@127.0.0.1:%d/?token=SECRETQ' "
                         "alertmanager",
                         s.recv_port),
                     1);
    o = out();
    e = err();
    snprintf(want, sizeof(want), "NOT delivered to http://127.0.0.1:%d/?...: ", s.recv_port);
    assert_non_null(strstr(o, want));
    assert_null(strstr(o, "secretpw"));
    assert_null(strstr(o, "SECRETQ"));
    assert_null(strstr(e, "secretpw"));
    assert_null(strstr(e, "SECRETQ"));
    free(o);
    free(e);
    assert_int_equal(vg_stack_stop(&s), 0);
}

/* A URL read from webhook.url_file is a credential as a whole: the log lines showed it as
 * url="***", host and all (the whole URL was scrubbed), while stdout printed all of it, path
 * token included. Both now show scheme://host:port/... */
static void fire_test_shows_a_url_from_a_file_as_its_host_only(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "firetest-urlfile");
    vg_stack_start_receiver(&s, NULL);
    char *dir = vg_tp_tmpdir("firetest-urlfile");
    char path[300], url[200];
    snprintf(path, sizeof path, "%s/url", dir);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook/SEKRETPATH\n", s.recv_port);
    assert_int_equal(vg_tp_write_atomic(path, url), 0);
    assert_int_equal(chmod(path, 0600), 0);
    char args[600];
    snprintf(args, sizeof args, "fire-test -c '' --no-resolve --set webhook.url_file=%s webhook",
             path);
    assert_int_equal(ctl("%s", args), 0);
    char *o = out(), *e = err();
    char want[128];
    snprintf(want, sizeof(want), "delivered to http://127.0.0.1:%d/... ", s.recv_port);
    if (!strstr(o, want) || strstr(o, "SEKRETPATH"))
        fail_msg("want '%s' and no path in:\n%s", want, o);
    snprintf(want, sizeof(want), "url=\"http://127.0.0.1:%d/...\"", s.recv_port);
    if (!strstr(e, want) || strstr(e, "url=\"***\"") || strstr(e, "SEKRETPATH"))
        fail_msg("want '%s' in every log line and no path in:\n%s", want, e);
    free(o);
    free(e);
    assert_int_equal(vg_stack_stop(&s), 0);
    free(dir);
}

/* A receiver whose URL comes from its url_file: what fire-test says about the URL names the file,
 * not the inline key, which is not set. A delivery that fails says where the URL is read from; a
 * URL the policy refuses was "webhook.url: http://host/PATH: ...", sending the operator to edit a
 * key the config does not have, with the path, which may be the credential; a receiver not
 * configured at all is offered the file key too. */
static void fire_test_names_the_url_file_in_its_hints(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "firetest-urlfile-hint");
    const char *extra[] = {"--fail", "100", NULL};
    vg_stack_start_receiver(&s, extra);
    char *dir = vg_tp_tmpdir("firetest-urlfile-hint");
    char path[300], url[200], want[900];
    snprintf(path, sizeof path, "%s/url", dir);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook/SEKRETPATH\n", s.recv_port);
    assert_int_equal(vg_tp_write_atomic(path, url), 0);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(ctl("fire-test -c '' --no-resolve --set webhook.url_file=%s webhook", path),
                     1);
    char *o = out(), *e = err();
    snprintf(want, sizeof want,
             "NOT delivered to http://127.0.0.1:%d/...: refused or failed (see the log lines "
             "above; the URL is read from webhook.url_file %s)",
             s.recv_port, path);
    if (!strstr(o, want) || strstr(o, "SEKRETPATH") || strstr(e, "SEKRETPATH"))
        fail_msg("want '%s' and no path in:\n%s\n%s", want, o, e);
    free(o);
    free(e);
    assert_int_equal(vg_stack_stop(&s), 0);

    /* Refused before any attempt: plain http to a host other than loopback. */
    snprintf(path, sizeof path, "%s/plain-url", dir);
    assert_int_equal(vg_tp_write_atomic(path, "http://alerts.example.com/hook/SEKRETPATH\n"), 0);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(ctl("fire-test -c '' --no-resolve --set webhook.url_file=%s webhook", path),
                     2);
    e = err();
    snprintf(want, sizeof want,
             "webhook receiver: webhook.url_file (%s): http://alerts.example.com:80/...: plain "
             "http://",
             path);
    if (!strstr(e, want) || strstr(e, "SEKRETPATH"))
        fail_msg("want '%s' and no path in:\n%s", want, e);
    free(e);

    assert_int_equal(ctl("fire-test -c '' slack"), 2);
    e = err();
    assert_non_null(strstr(e, "receiver slack is not configured in the built-in defaults: set "
                              "slack.url (or slack.url_file)"));
    free(e);
    free(dir);
}

/* sudo vigilctl fire-test judged the secret files against root's group, so the packages'
 * root:vigil 0640 url file drew "readable by a group other than the daemon's"; it is judged
 * against the group of the analyzer's `user` now, as the analyzer's check does. */
static void fire_test_as_root_takes_the_daemons_group_for_the_secret_files(void **state)
{
    (void)state;
    struct passwd *pw = getpwnam("nobody");
    if (geteuid() != 0 || !pw || pw->pw_gid == 0) {
        print_message("[  SKIP    ] needs root and the user 'nobody' (not in group root)\n");
        skip();
    }
    struct vg_stack s;
    vg_stack_init(&s, "firetest-group");
    vg_stack_start_receiver(&s, NULL);
    char *dir = vg_tp_tmpdir("firetest-group");
    char path[300], url[200], args[600];
    snprintf(path, sizeof path, "%s/url", dir);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook\n", s.recv_port);
    assert_int_equal(vg_tp_write_atomic(path, url), 0);
    assert_int_equal(chown(path, 0, pw->pw_gid), 0);
    assert_int_equal(chmod(path, 0640), 0);
    snprintf(args, sizeof args,
             "fire-test -c '' --no-resolve --set user=nobody --set webhook.url_file=%s webhook",
             path);
    assert_int_equal(ctl("%s", args), 0);
    char *e = err();
    if (strstr(e, "secret file is"))
        fail_msg("%s: a warning about the packaged setup:\n%s", args, e);
    free(e);
    /* The group is not the daemon's: still warned. */
    snprintf(args, sizeof args,
             "fire-test -c '' --no-resolve --set user=root --set webhook.url_file=%s webhook",
             path);
    assert_int_equal(ctl("%s", args), 0);
    e = err();
    if (!strstr(e, "secret file is readable by a group other than the daemon's"))
        fail_msg("%s: no warning about group %d:\n%s", args, (int)pw->pw_gid, e);
    free(e);
    assert_int_equal(vg_stack_stop(&s), 0);
    free(dir);
}

/* Fetches the analyzer's JSON through vigilctl and returns it parsed. */
static json_t *ctl_json(const char *fmt, int port)
{
    char args[256];
    snprintf(args, sizeof(args), fmt, port);
    assert_int_equal(ctl("%s", args), 0);
    char *o = out();
    json_t *j = json_loads(o, 0, NULL);
    free(o);
    assert_non_null(j);
    return j;
}

static void status_top_alerts_report_on_a_live_analyzer(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "vigilctl");
    char proc[600], loadavg[700], procset[700];
    snprintf(proc, sizeof(proc), "%s/proc", s.dir);
    vg_tp_sh("mkdir -p %s", proc);
    snprintf(loadavg, sizeof(loadavg), "%s/loadavg", proc);
    assert_int_equal(vg_tp_write_atomic(loadavg, BASE_LOAD), 0);
    vg_stack_start_receiver(&s, NULL);
    char token[600], tokenset[700];
    snprintf(token, sizeof(token), "%s/api-token", s.dir);
    assert_int_equal(vg_tp_write_atomic(token, "vigilctl-test-token-0123456789\n"), 0);
    vg_tp_sh("chmod 600 %s", token);
    snprintf(tokenset, sizeof(tokenset), "http.token_file=%s", token);
    const char *asets[] = {tokenset,
                           "kafka.auto.offset.reset=earliest",
                           "detector.warmup=10",
                           "alert.for=1s",
                           "alert.resolve_for=1s",
                           "alert.series=load.1m",
                           "history.resolution=200ms",
                           NULL};
    vg_stack_start_analyzer(&s, asets);
    assert_true(s.http_port > 0);
    snprintf(procset, sizeof(procset), "proc_root=%s", proc);
    const char *gsets[] = {"collectors=load", procset, "interval=200ms", "host=ops-1", NULL};
    vg_stack_start_agent(&s, gsets);
    assert_int_equal(vg_tp_wait_contains(s.analyzer_log, "host warmed up", 30000), 0);

    assert_int_equal(ctl("status --api http://127.0.0.1:%d", s.http_port), 0);
    char *o = out();
    assert_non_null(strstr(o, "vigil-analyzer " VIGIL_VERSION));
    assert_non_null(strstr(o, ", ready (4 partitions)"));
    assert_non_null(strstr(o, "backend    kafka embedded 127.0.0.1:"));
    assert_non_null(strstr(o, "topic vigil.metrics, group vigil-analyzer; detector ewma"));
    assert_non_null(strstr(o, "hosts      1 seen, 0 silent"));
    assert_non_null(strstr(o, "lag        newest event "));
    assert_non_null(strstr(o, "alerts     0 firing; 0 fired, 0 resolved"));
    assert_non_null(strstr(o, "receivers  webhook: 0 delivered"));
    assert_non_null(strstr(o, "history    "));
    /* The default model.set, its backend with OpenBLAS's kernels, and the mv model's health. */
    assert_non_null(strstr(o, "\nmodels     series,mv on cpu (OpenBLAS "));
    assert_non_null(strstr(o, "\n  mv       1 groups, 1 hosts, "));
    assert_non_null(strstr(o, "; checkpoints 0 loaded, 0 refused; 0 resets\n"));
    free(o);
    /* A base URL written with trailing slashes is the same analyzer: they used to make every
     * request "//api/v1/...", which the analyzer answers 404. */
    assert_int_equal(ctl("status --api http://127.0.0.1:%d/", s.http_port), 0);
    o = out();
    assert_non_null(strstr(o, ", ready (4 partitions)"));
    free(o);
    assert_int_equal(vg_tp_sh("VIGIL_API=http://127.0.0.1:%d// %s alerts >%s 2>%s", s.http_port,
                              VIGILCTL, g_out, g_err),
                     0);
    o = out();
    assert_non_null(strstr(o, "\n0 alerts firing\n"));
    free(o);

    /* VIGIL_API selects the analyzer too; not a terminal: one table, then exit. */
    assert_int_equal(vg_tp_sh("VIGIL_API=http://127.0.0.1:%d %s top >%s 2>%s", s.http_port,
                              VIGILCTL, g_out, g_err),
                     0);
    o = out();
    assert_non_null(strstr(o, "HOST"));
    assert_non_null(strstr(o, "\nops-1 "));
    assert_null(strstr(o, "\033["));
    free(o);

    assert_int_equal(vg_tp_write_atomic(loadavg, HIGH_LOAD), 0);
    assert_int_equal(vg_tp_wait_contains(s.recv_out, "\"firing\"", 30000), 0);
    json_t *j = ctl_json("top --once --json --api http://127.0.0.1:%d", s.http_port);
    json_t *h0 = json_array_get(json_object_get(j, "hosts"), 0);
    assert_string_equal(json_string_value(json_object_get(h0, "host")), "ops-1");
    assert_int_equal(json_integer_value(json_object_get(h0, "firing")), 1);
    assert_string_equal(json_string_value(json_object_get(h0, "top_series")), "load.1m");
    json_decref(j);
    j = ctl_json("status --json --api http://127.0.0.1:%d", s.http_port);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "alerts"), "firing")),
                     1);
    assert_true(json_is_null(json_object_get(j, "not_ready"))); /* there, null when ready */
    json_decref(j);

    /* vigilctl alerts lists what GET /api/v1/alerts gives. */
    assert_int_equal(ctl("alerts --api http://127.0.0.1:%d", s.http_port), 0);
    o = out();
    char *e;
    assert_non_null(strstr(o, "ops-1"));
    assert_non_null(strstr(o, " anomaly "));
    assert_non_null(strstr(o, "load.1m"));
    assert_non_null(strstr(o, "\n1 alert firing\n"));
    free(o);
    /* A silence over the alert: created with the token, listed, shown on the alert, expired. */
    assert_int_equal(
        ctl("silence add --api http://127.0.0.1:%d -d 1h -c test host=ops-1", s.http_port), 1);
    e = err();
    assert_non_null(strstr(e, "POST http://127.0.0.1:"));
    assert_non_null(strstr(e, "/api/v1/silences: HTTP 401"));
    /* The 401 alone did not say how vigilctl sends a token. */
    assert_non_null(strstr(e, "no token sent: give the file the analyzer's http.token_file names "
                              "with -t/--token-file FILE or VIGIL_TOKEN_FILE"));
    free(e);
    char wrong[700];
    snprintf(wrong, sizeof(wrong), "%s/wrong-token", s.dir);
    assert_int_equal(vg_tp_write_atomic(wrong, "not-the-token\n"), 0);
    assert_int_equal(
        ctl("silence add --api http://127.0.0.1:%d -t %s host=ops-1", s.http_port, wrong), 1);
    e = err();
    assert_non_null(strstr(e, "HTTP 401: missing or wrong bearer token (the token read from "));
    assert_non_null(strstr(e, "wrong-token is not the one in the file the analyzer's "
                              "http.token_file names)"));
    free(e);
    assert_int_equal(ctl("silence add --api http://127.0.0.1:%d -t %s -d 1h -A ci -c 'a test' "
                         "host=ops-1 'alertname=\"anomaly\"'",
                         s.http_port, token),
                     0);
    o = out();
    char id[64] = "";
    sscanf(o, "%63s", id);
    free(o);
    assert_true(strlen(id) >= 8);
    assert_int_equal(ctl("silence list --api http://127.0.0.1:%d", s.http_port), 0);
    o = out();
    assert_non_null(strstr(o, id));
    assert_non_null(strstr(o, " active "));
    assert_non_null(strstr(o, "host=\"ops-1\" alertname=\"anomaly\""));
    assert_non_null(strstr(o, "# a test"));
    free(o);
    assert_int_equal(ctl("alerts --api http://127.0.0.1:%d", s.http_port), 0);
    o = out();
    assert_non_null(strstr(o, id));
    free(o);
    /* Without $USER (cron, a container) the author is the user id's name, not "". */
    assert_int_equal(vg_tp_sh("env -u USER %s silence add --api http://127.0.0.1:%d -t %s -d 1h "
                              "host=ops-2 >%s 2>%s </dev/null",
                              VIGILCTL, s.http_port, token, g_out, g_err),
                     0);
    assert_int_equal(ctl("silence list --json --api http://127.0.0.1:%d", s.http_port), 0);
    o = out();
    json_t *sl = json_loads(o, 0, NULL);
    struct passwd *pw = getpwuid(getuid());
    assert_non_null(pw);
    int by_me = 0;
    for (size_t i = 0; i < json_array_size(json_object_get(sl, "silences")); i++) {
        json_t *x = json_array_get(json_object_get(sl, "silences"), i);
        const char *by = json_string_value(json_object_get(x, "created_by"));
        const char *m = json_string_value(json_array_get(json_object_get(x, "matchers"), 0));
        if (m && strstr(m, "ops-2") && by && strcmp(by, pw->pw_name) == 0)
            by_me = 1;
    }
    if (!by_me)
        fail_msg("no silence created by %s in: %s", pw->pw_name, o);
    json_decref(sl);
    free(o);
    assert_int_equal(
        ctl("silence expire --api http://127.0.0.1:%d -t %s %s", s.http_port, token, id), 0);
    o = out();
    assert_non_null(strstr(o, "expired "));
    free(o);
    assert_int_equal(
        ctl("silence expire --api http://127.0.0.1:%d -t %s ffffffffffffffff", s.http_port, token),
        1);
    e = err();
    assert_non_null(strstr(e, "HTTP 404"));
    free(e);
    assert_int_equal(ctl("alerts --host nobody --api http://127.0.0.1:%d", s.http_port), 0);
    o = out();
    assert_non_null(strstr(o, "\n0 alerts firing\n"));
    free(o);

    assert_int_equal(vg_tp_write_atomic(loadavg, BASE_LOAD), 0);
    assert_int_equal(vg_tp_wait_contains(s.recv_out, "\"resolved\"", 30000), 0);

    char html[600];
    snprintf(html, sizeof(html), "%s/ops-1.html", g_dir);
    assert_int_equal(ctl("report --api http://127.0.0.1:%d -o %s ops-1", s.http_port, html), 0);
    char *h = vg_tp_read(html);
    assert_non_null(h);
    assert_non_null(strstr(h, "<title>Vigil report: ops-1</title>"));
    /* The load collector's series, each with its plot; load.1m first, with its alert. */
    int plots = count(h, "<svg ");
    assert_true(plots >= 3);
    assert_int_equal(count(h, "<section id=\"s-"), plots);
    char *first = strstr(h, "<section id=\"s-");
    assert_true(strncmp(first, "<section id=\"s-load.1m\">", 24) == 0);
    assert_non_null(strstr(h, "<td class=\"firing\">firing</td><td><a href=\"#s-load.1m\">"));
    assert_non_null(strstr(h, "<td class=\"resolved\">resolved</td><td><a href=\"#s-load.1m\">"));
    assert_int_equal(count(h, "<rect class=\"alert\""), 1);
    free(h);

    assert_int_equal(ctl("report --api http://127.0.0.1:%d -o %s nobody", s.http_port, html), 1);
    e = err();
    assert_non_null(strstr(e, "/api/v1/history/nobody: HTTP 404: unknown host"));
    free(e);
    assert_int_equal(vg_stack_stop(&s), 0);

    /* The analyzer is gone: a clear error, exit 1. */
    assert_int_equal(ctl("status --api http://127.0.0.1:%d", s.http_port), 1);
    e = err();
    assert_non_null(strstr(e, "is vigil-analyzer running?"));
    free(e);
}

/* vigilctl config check runs the daemon's own --check-config, found on PATH here (the build
 * tree keeps the three binaries in different folders; an install puts them side by side). */
static void config_check_runs_the_daemons_own_check(void **state)
{
    (void)state;
    const char *path = "PATH=" VG_BIN_DIR "/agent:" VG_BIN_DIR "/analyzer:/usr/bin:/bin";
    /* A vigilctl alone in its folder, no daemon on PATH: said so, exit 2. */
    assert_int_equal(vg_tp_sh("mkdir -p %s/lone && cp %s %s/lone/", g_dir, VIGILCTL, g_dir), 0);
    assert_int_equal(vg_tp_sh("PATH=/nonexistent %s/lone/vigilctl config check agent "
                              "%s/config/agent.yaml >%s 2>%s",
                              g_dir, VG_SOURCE_DIR "/packaging", g_out, g_err),
                     2);
    char *e = err();
    assert_non_null(strstr(e, "vigil-agent is neither beside vigilctl"));
    free(e);

    /* user: the package creates the vigil user; this host may have none, and the check, run as
     * root, refuses a user that does not exist, as the start does. */
    assert_int_equal(vg_tp_sh("%s %s config check -s user= agent %s/config/agent.yaml >%s 2>%s",
                              path, VIGILCTL, VG_SOURCE_DIR "/packaging", g_out, g_err),
                     0);
    char *o = out();
    assert_non_null(strstr(o, "collectors: "));
    assert_non_null(strstr(o, "# config OK (host resolves to"));
    free(o);
    /* model.dir and silences.file: the package makes their parent, /var/lib/vigil, which this
     * host may lack, and the check refuses a model.dir the start could not create and a
     * silences.file whose directory is missing. */
    assert_int_equal(
        vg_tp_sh("%s %s config check analyzer %s/config/analyzer.yaml --set user= --set model.dir= "
                 "--set silences.file= >%s 2>%s",
                 path, VIGILCTL, VG_SOURCE_DIR "/packaging", g_out, g_err),
        0);
    o = out();
    assert_non_null(strstr(o, "detector.model: "));
    assert_non_null(strstr(o, "# config OK\n"));
    free(o);

    /* A --set the agent refuses, and a file the analyzer refuses: the daemon's own message and
     * exit status 1. */
    assert_int_equal(vg_tp_sh("%s %s config check -s user= -s collectors=cpu,gpu agent "
                              "%s/config/agent.yaml "
                              ">%s 2>%s",
                              path, VIGILCTL, VG_SOURCE_DIR "/packaging", g_out, g_err),
                     1);
    e = err();
    assert_non_null(
        strstr(e, "vigil-agent: config error: --set: collectors: unknown collector 'gpu'"));
    free(e);
    char bad[600];
    snprintf(bad, sizeof(bad), "%s/bad-analyzer.yaml", g_dir);
    FILE *f = fopen(bad, "w");
    assert_non_null(f);
    fputs("detector:\n  model: seasonal\n  warmpu: 5\n", f);
    fclose(f);
    assert_int_equal(vg_tp_sh("%s %s config check analyzer %s --set user= >%s 2>%s", path, VIGILCTL,
                              bad, g_out, g_err),
                     1);
    e = err();
    assert_non_null(strstr(e, ":3:3: unknown key 'detector.warmpu' (did you mean "
                              "'detector.warmup'?)"));
    free(e);
    o = out();
    assert_null(strstr(o, "config OK"));
    free(o);

    /* Mistakes of its own: a file that is not there (1), a kind it does not know (2). */
    assert_int_equal(ctl("config check analyzer %s/no-such.yaml", g_dir), 1);
    e = err();
    assert_non_null(strstr(e, "no-such.yaml: No such file or directory"));
    free(e);
    assert_int_equal(ctl("config check web %s", bad), 2);
    e = err();
    assert_non_null(strstr(e, "'web' is not agent or analyzer"));
    free(e);
    assert_int_equal(ctl("config check agent"), 2);
}

/* In page (vigilctl's man page in roff), the section of `vigilctl cmd [kind]` holds every long
 * option `vigilctl cmd [kind] --help` lists; returns how many it checked. */
static int man_section_has_help_options(const char *page, const char *cmd, const char *kind)
{
    char name[128], want[200], help[700];
    snprintf(name, sizeof(name), "%s%s%s", cmd, kind ? " " : "", kind ? kind : "");
    size_t k = 0;
    k += (size_t)snprintf(want, sizeof(want), ".SS \"vigilctl ");
    for (const char *c = name; *c && k < sizeof(want) - 3; c++) {
        if (*c == '-')
            want[k++] = '\\';
        want[k++] = *c;
    }
    want[k] = '\0';
    const char *sec = NULL;
    for (const char *q = strstr(page, want); q && !sec; q = strstr(q + 1, want))
        if (q[k] == ' ' || q[k] == '"')
            sec = q;
    if (!sec)
        fail_msg("vigilctl.1 has no section for vigilctl %s", name);
    const char *end = strstr(sec + 1, "\n.SS ");
    const char *sh = strstr(sec + 1, "\n.SH ");
    if (!end || (sh && sh < end))
        end = sh;
    size_t seclen = end ? (size_t)(end - sec) : strlen(sec);

    snprintf(help, sizeof(help), "%s/vigilctl-help.txt", g_dir);
    assert_int_equal(vg_tp_sh("%s %s --help >%s", VIGILCTL, name, help), 0);
    char *t = vg_tp_read(help);
    int checked = 0;
    for (char *q = strstr(t, "--"); q; q = strstr(q + 2, "--")) {
        if ((q > t && (isalnum((unsigned char)q[-1]) || q[-1] == '-')) ||
            !islower((unsigned char)q[2]))
            continue;
        char opt[64], esc[140];
        sscanf(q, "%63[-a-z]", opt);
        k = 0;
        for (const char *c = opt; *c && k < sizeof(esc) - 2; c++) {
            if (*c == '-')
                esc[k++] = '\\';
            esc[k++] = *c;
        }
        esc[k] = '\0';
        int found = 0;
        for (const char *m = sec; !found && (m = strstr(m, esc)) && m < sec + seclen; m += k)
            found = !islower((unsigned char)m[k]) && m[k] != '\\';
        if (!found)
            fail_msg("vigilctl %s: %s is in its --help but not in its man page section", name, opt);
        checked++;
    }
    free(t);
    return checked;
}

static void man_pages_say_what_help_says(void **state)
{
    (void)state;
    const char *bins[][2] = {{VG_BIN_DIR "/agent/vigil-agent", "vigil-agent.8"},
                             {VG_BIN_DIR "/analyzer/vigil-analyzer", "vigil-analyzer.8"},
                             {VIGILCTL, "vigilctl.1"}};
    for (size_t i = 0; i < 3; i++) {
        char page[700], help[700];
        snprintf(page, sizeof(page), "%s/%s.txt", g_dir, bins[i][1]);
        snprintf(help, sizeof(help), "%s/%s.help", g_dir, bins[i][1]);
        assert_int_equal(vg_tp_sh("zcat %s/man/%s.gz >%s", VG_BIN_DIR, bins[i][1], page), 0);
        assert_int_equal(vg_tp_sh("%s --help >%s", bins[i][0], help), 0);
        char *p = vg_tp_read(page), *t = vg_tp_read(help);
        assert_non_null(strstr(p, ".TH "));
        assert_non_null(strstr(p, ".SH SYNOPSIS"));
        assert_non_null(strstr(p, ".SH OPTIONS") ? strstr(p, ".SH OPTIONS")
                                                 : strstr(p, ".SH COMMANDS"));
        /* vigilctl's page has docs/vigilctl.md's EXIT STATUS and ENVIRONMENT (from --help). */
        if (i == 2) {
            assert_non_null(strstr(p, "\n.SH EXIT STATUS\n"));
            assert_non_null(strstr(p, "\n.SH ENVIRONMENT\n"));
        }
        /* Every long option --help lists is in the page (roff writes '-' as '\-'). */
        int checked = 0;
        for (char *q = strstr(t, "  --"); q; q = strstr(q + 1, "  --")) {
            char opt[64], want[140];
            sscanf(q + 2, "%63[-a-z]", opt);
            size_t k = 0;
            for (const char *c = opt; *c && k < sizeof(want) - 2; c++) {
                if (*c == '-')
                    want[k++] = '\\';
                want[k++] = *c;
            }
            want[k] = '\0';
            if (!strstr(p, want))
                fail_msg("%s: %s is in --help but not in the man page", bins[i][1], opt);
            checked++;
        }
        if (i < 2)
            assert_true(checked >= 5);
        free(p);
        free(t);
    }
    /* vigilctl's page has a section for every command its --help lists (and for every kind a
     * command's --help lists, as eval's nab and smd), and each section every long option of
     * that command's own --help. */
    char page[700], cmdlist[700];
    snprintf(page, sizeof(page), "%s/vigilctl.1.txt", g_dir);
    snprintf(cmdlist, sizeof(cmdlist), "%s/vigilctl.cmds", g_dir);
    assert_int_equal(vg_tp_sh("%s --help | awk '/^Commands:/ { f = 1; next } f && /^$/ { f = 0 } "
                              "f { print $1 }' >%s",
                              VIGILCTL, cmdlist),
                     0);
    char *p = vg_tp_read(page), *cl = vg_tp_read(cmdlist);
    int n_cmds = 0, n_opts = 0, n_kinds = 0;
    for (char *c = strtok(cl, "\n"); c; c = strtok(NULL, "\n")) {
        n_cmds++;
        n_opts += man_section_has_help_options(p, c, NULL);
        char kinds[700];
        snprintf(kinds, sizeof(kinds), "%s/vigilctl-%s.kinds", g_dir, c);
        assert_int_equal(vg_tp_sh("%s %s --help | awk '/^Kinds:/ { f = 1; next } f && /^$/ "
                                  "{ f = 0 } f && /^  [a-z]/ { print $1 }' >%s",
                                  VIGILCTL, c, kinds),
                         0);
        char *kl = vg_tp_read(kinds);
        for (char *k = kl, *nl; *k; k = nl + 1) {
            nl = strchr(k, '\n');
            *nl = '\0';
            n_kinds++;
            n_opts += man_section_has_help_options(p, c, k);
        }
        free(kl);
    }
    print_message("# vigilctl.1: %d commands, %d kinds, %d --help options found\n", n_cmds, n_kinds,
                  n_opts);
    /* version, eval, status, top, alerts, silence, replay, fire-test, report, rules, config */
    assert_true(n_cmds >= 11);
    assert_true(n_kinds >= 2);
    assert_true(n_opts >= 50);
    assert_non_null(strstr(p, ".SS \"vigilctl version\"\n"));
    free(cl);
    free(p);
}

/* -c and -s mean --config and --set in most commands but --comment and --start in silence add,
 * and replay and report --input score with the built-in config while fire-test reads the
 * installed one. Both are kept, so that command lines keep working; the help says so, and the
 * offline commands say on stderr which config they score with. */
static void option_letters_and_config_defaults_are_explained(void **state)
{
    (void)state;
    assert_int_equal(ctl("--help"), 0);
    char *o = out();
    assert_non_null(strstr(o, "--comment TEXT in silence add"));
    assert_non_null(strstr(o, "--start TIME in silence add"));
    assert_non_null(strstr(o, "fire-test           /etc/vigil/analyzer.yaml unless -c PATH"));
    free(o);
    assert_int_equal(ctl("silence --help"), 0);
    o = out();
    assert_non_null(strstr(o, "Here -s and -c are --start and --comment"));
    free(o);
    assert_int_equal(ctl("replay " SPIKE_SETS " %s", SPIKE_CSV), 0);
    char *e = err();
    assert_non_null(strstr(e, "vigilctl replay: config: built-in defaults and --set (no -c)"));
    free(e);
    const char *cfg = VG_SOURCE_DIR "/packaging/config/analyzer.yaml";
    assert_int_equal(ctl("replay -c %s " SPIKE_SETS " %s", cfg, SPIKE_CSV), 0);
    e = err();
    char want[600];
    snprintf(want, sizeof want, "vigilctl replay: config %s and --set\n", cfg);
    if (!strstr(e, want))
        fail_msg("no '%s' in: %s", want, e);
    free(e);
    char html[600];
    snprintf(html, sizeof html, "%s/letters.html", g_dir);
    assert_int_equal(ctl("report --input %s -o %s", SPIKE_CSV, html), 0);
    e = err();
    assert_non_null(strstr(e, "vigilctl report: config: built-in defaults (no -c)"));
    free(e);
}

static void usage_errors_and_help(void **state)
{
    (void)state;
    const char *cmds[] = {"status", "top",   "alerts", "silence", "replay", "fire-test",
                          "report", "rules", "config", "eval",    "version"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        /* Every command has --help (docs/vigilctl.md), and "vigilctl help COMMAND" prints it
         * too; version refused --help, and help COMMAND printed the list of commands. */
        assert_int_equal(ctl("%s --help", cmds[i]), 0);
        char *o = out(), want[64];
        snprintf(want, sizeof(want), "Usage: vigilctl %s", cmds[i]);
        if (strncmp(o, want, strlen(want)) != 0)
            fail_msg("vigilctl %s --help: %s", cmds[i], o);
        /* ... and says what its exit statuses mean (top, silence, version and eval did not). */
        if (!strstr(o, "\nExit status: 0 "))
            fail_msg("vigilctl %s --help has no 'Exit status:': %s", cmds[i], o);
        assert_int_equal(ctl("help %s", cmds[i]), 0);
        char *h = out();
        assert_string_equal(h, o);
        free(h);
        free(o);
        assert_int_equal(ctl("%s --no-such-option", cmds[i]), 2);
    }
    assert_int_equal(ctl("help rules check"), 0);
    char *o = out();
    assert_non_null(strstr(o, "Usage: vigilctl rules check [-c CONFIG] [-s KEY=VALUE] [-r "
                              "RECEIVERS] [-m MODELSET] [-q] "));
    free(o);
    assert_int_equal(ctl("top --help"), 0);
    o = out();
    assert_non_null(strstr(o, "Usage: vigilctl top [--api URL] [--once] [-i DUR] [-n N] [--json]"));
    free(o);
    assert_int_equal(ctl("help"), 0);
    o = out();
    assert_non_null(strstr(o, "Usage: vigilctl COMMAND [ARGS]"));
    /* docs/vigilctl.md's EXIT STATUS and ENVIRONMENT, so that the man page has them. */
    assert_non_null(strstr(o, "\nExit status: 0 success; 1 the command found problems"));
    assert_non_null(strstr(o, "\nEnvironment:\n  VIGIL_API "));
    assert_non_null(strstr(o, "\n  VIGIL_TOKEN_FILE "));
    free(o);
    /* --api before the command is read as after it (it was "unknown command '--api'"). */
    assert_int_equal(ctl("--api http://127.0.0.1:1 status"), 1);
    char *ae = err();
    if (!strstr(ae, "vigilctl status: GET http://127.0.0.1:1/api/v1/status: "))
        fail_msg("vigilctl --api URL status: %s", ae);
    free(ae);
    assert_int_equal(ctl("--api=http://127.0.0.1:1 alerts"), 1);
    ae = err();
    assert_non_null(strstr(ae, "GET http://127.0.0.1:1/api/v1/alerts: "));
    free(ae);
    assert_int_equal(ctl("help statsu"), 2);
    char *e = err();
    assert_non_null(strstr(e, "unknown command 'statsu'; did you mean 'status'?"));
    free(e);
    assert_int_equal(ctl("silence"), 2);
    assert_int_equal(ctl("silence mute"), 2);
    assert_int_equal(ctl("silence add"), 2);
    assert_int_equal(ctl("top --interval 1ms --once"), 2);
    assert_int_equal(ctl("statsu"), 2);
    e = err();
    assert_non_null(strstr(e, "did you mean 'status'?"));
    free(e);
    /* Each usage error says what is wrong before the usage text. */
    static const struct {
        const char *args, *reason;
    } bad[] = {
        {"version --bogus", "vigilctl version: takes no arguments ('--bogus')"},
        {"config frob", "vigilctl config: unknown subcommand 'frob' (check)"},
        {"config validate analyzer x", "vigilctl config: unknown subcommand 'validate' (check)"},
        /* getopt's own messages name the command as vigilctl's do. */
        {"rules --bogus", "vigilctl rules: unrecognized option '--bogus'"},
        {"replay --bogus x.csv", "vigilctl replay: unrecognized option '--bogus'"},
        {"silence --bogus list", "vigilctl silence: unrecognized option '--bogus'"},
        {"status --api", "vigilctl status: option '--api' requires an argument"},
        {"config check agent", "vigilctl config: name agent or analyzer, and the file"},
        {"rules list x", "vigilctl rules: unknown subcommand 'list' (check)"},
        {"rules check a b", "vigilctl rules check: one directory or file only"},
        {"rules check -r webhook,pager " VG_SOURCE_DIR "/rules/examples",
         "vigilctl rules check: --receivers: 'pager' is not a receiver type"},
        {"replay --host 'bad host' x.csv", "vigilctl replay: --host 'bad host'"},
        {"report --input x.csv --from 2030-01-02T00:00:00Z --to 2030-01-01T00:00:00Z",
         "vigilctl report: --from is later than --to"},
        /* -s takes the analyzer's keys, which vigilctl's --help does not list: the message
         * used to send the reader there ("see --help"). */
        {"replay -s foo=1 " SPIKE_CSV,
         "vigilctl replay: config error: --set: unknown key 'foo' (see 'vigil-analyzer --help' "
         "for the list of keys)"},
        {"report --input " SPIKE_CSV " -s foo=1",
         "report: config error: --set: unknown key 'foo' (see 'vigil-analyzer --help'"},
        {"fire-test -c " VG_SOURCE_DIR "/packaging/config/analyzer.yaml -s foo=1 webhook",
         "fire-test: config error: --set: unknown key 'foo' (see 'vigil-analyzer --help'"},
        /* An --api that is no http(s) URL is the caller's mistake, not an unreachable analyzer
         * (curl said "Could not resolve host", exit 1). */
        {"status --api ftp://x",
         "vigilctl status: --api 'ftp://x': not an http:// or https:// URL"},
        {"top --once --api http://", "vigilctl top: --api 'http://': no host after the scheme"},
        {"silence list --api 'http://a b'", "vigilctl silence: --api 'http://a b': spaces"},
        {"report --api localhost:9710 web-1", "vigilctl report: --api 'localhost:9710': not an"},
        /* Trailing junk after a number was read as the number (-n 5abc was -n 5). */
        {"top --once -n 5abc", "vigilctl top: --hosts '5abc': a positive number"},
        /* A bad --duration is refused before any request, analyzer or not: it was a connect
         * error (exit 1) offline and "HTTP 400: duration: expected e.g. 30m" online, also for
         * 0s, whose problem is not its form. */
        {"silence add --api http://127.0.0.1:1 -d 2x host=a",
         "vigilctl silence add: --duration '2x': not a duration (write e.g. 30m, 2h, 1d)"},
        {"silence add --api http://127.0.0.1:1 -d 0s host=a",
         "vigilctl silence add: --duration '0s': must be longer than 0s"},
        /* Options before the command: --api only, and only for a command that takes it. */
        {"--api http://127.0.0.1:1 replay x.csv",
         "vigilctl: --api goes with a command that asks the analyzer (status, top, alerts, "
         "silence, report), e.g. vigilctl status --api URL"},
        {"--api http://127.0.0.1:1", "vigilctl: --api goes with a command that asks the analyzer"},
        {"--json status", "vigilctl: options go after the command: vigilctl COMMAND --json ..."},
        {"fire-test --attempts 3x webhook", "vigilctl fire-test: --attempts '3x': 1 to 100"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ctl("%s", bad[i].args), 2);
        e = err();
        if (!strstr(e, bad[i].reason))
            fail_msg("vigilctl %s: no '%s' in: %s", bad[i].args, bad[i].reason, e);
        free(e);
    }
    assert_int_equal(
        vg_tp_sh("VIGIL_API='not a url' %s alerts >%s 2>%s </dev/null", VIGILCTL, g_out, g_err), 2);
    e = err();
    assert_non_null(
        strstr(e, "vigilctl alerts: VIGIL_API 'not a url': not an http:// or https://"));
    free(e);
    /* One rule file is checked as a directory holding only it would be. */
    assert_int_equal(ctl("rules check %s/rules/examples/scale-out-cpu.yaml", VG_SOURCE_DIR), 0);
    o = out();
    assert_non_null(strstr(o, "scale-out-cpu.yaml: 1 rules, 1 scaling policies: OK"));
    free(o);
}

/* `rules check` reads a directory as the analyzer does: a subdirectory named like a rule file is
 * skipped and said so; a file over 4 MiB is refused the same way checked on its own. */
static void rules_check_names_skipped_entries_and_refuses_files_over_4_mib(void **state)
{
    (void)state;
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/skiprules", g_dir);
    vg_tp_sh("rm -rf %s && mkdir -p %s/old.yaml && printf 'rules: []\\n' >%s/a.yaml", dir, dir,
             dir);
    assert_int_equal(ctl("rules check %s", dir), 0);
    char *e = err(), want[700];
    snprintf(want, sizeof(want), "%s/old.yaml: skipped, a directory (subdirectories are not read)",
             dir);
    assert_non_null(strstr(e, want));
    free(e);
    char *o = out();
    assert_non_null(strstr(o, ": 0 rules, 0 scaling policies: OK"));
    free(o);

    /* 4 MiB + 1 byte: refused as a file and from the directory, with the same message. */
    vg_tp_sh("head -c 4194305 /dev/zero | tr '\\0' '#' >%s/a.yaml", dir);
    snprintf(want, sizeof(want), "%s/a.yaml: rule file larger than 4 MiB", dir);
    assert_int_equal(ctl("rules check %s/a.yaml", dir), 1);
    e = err();
    assert_non_null(strstr(e, want));
    free(e);
    assert_int_equal(ctl("rules check %s", dir), 1);
    e = err();
    assert_non_null(strstr(e, want));
    free(e);
    vg_tp_sh("rm -rf %s", dir);
}

/* More mistakes than its 64 KiB hold: the list stops at a whole line and says how many more. */
static void rules_check_ends_a_long_error_list_with_the_count_left_out(void **state)
{
    (void)state;
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/manyerrors", g_dir);
    vg_tp_sh("rm -rf %s && mkdir -p %s && awk 'BEGIN { print \"rules:\"; for (i = 0; i < 1500; "
             "i++) printf \"  - name: R%%d\\n    sevrity: info\\n    when: 1 > 0\\n\", i }' "
             ">%s/a.yaml",
             dir, dir, dir);
    assert_int_equal(ctl("rules check %s", dir), 1);
    char *e = err();
    int lines = count(e, "unknown key 'sevrity' (did you mean 'severity'?)\n");
    assert_true(lines > 100 && lines < 1500);
    char want[64];
    snprintf(want, sizeof(want), "\n... and %d more errors\n", 1500 - lines);
    size_t n = strlen(e), wn = strlen(want);
    assert_true(n > wn);
    assert_string_equal(e + n - wn, want);
    free(e);
    vg_tp_sh("rm -rf %s", dir);
}

/* With the analyzer's config (-c, -s) `actions:` are checked against the receivers it configures,
 * as vigil-analyzer checks them: the shipped examples name `webhook`, which the packaged config
 * does not configure. Without it, OK says so: the receivers were not checked. */
static void rules_check_with_the_config_checks_receivers_as_the_analyzer_does(void **state)
{
    (void)state;
    const char *pkg = VG_SOURCE_DIR "/packaging/config/analyzer.yaml";
    assert_int_equal(ctl("rules check -c %s %s/rules/examples", pkg, VG_SOURCE_DIR), 1);
    char *e = err(), *o = out();
    assert_non_null(strstr(e, "/rules/examples/host-anomaly.yaml:18:15: action 'webhook' is not "
                              "a configured receiver (configured: none; set webhook.url, "));
    assert_null(strstr(o, "OK"));
    assert_null(strstr(e, "note:"));
    free(e);
    free(o);
    /* What the analyzer says of the same. */
    assert_int_equal(
        ctl("config check analyzer %s --set user= --set model.dir= --set silences.file= "
            "--set rules.dir=%s/rules/examples",
            pkg, VG_SOURCE_DIR),
        1); /* model.dir, silences.file: see config_check_runs_the_daemons_own_check */
    e = err();
    assert_non_null(strstr(e, "/rules/examples/host-anomaly.yaml:18:15: action 'webhook' is not "
                              "a configured receiver (configured: none; set webhook.url, "));
    free(e);

    /* With a webhook receiver they load. */
    assert_int_equal(ctl("rules check -c %s -s webhook.url=http://127.0.0.1:9/alerts "
                         "%s/rules/examples",
                         pkg, VG_SOURCE_DIR),
                     0);
    e = err();
    o = out();
    assert_non_null(strstr(o, "/rules/examples: 5 rules, 1 scaling policies: OK"));
    assert_null(strstr(e, "note:"));
    free(e);
    free(o);
    /* The config's model.set is the one checked, as for the analyzer. */
    assert_int_equal(ctl("rules check -c %s -s webhook.url=http://127.0.0.1:9/alerts -s "
                         "model.set=series %s/rules/examples",
                         pkg, VG_SOURCE_DIR),
                     1);
    e = err();
    assert_non_null(strstr(e, "host-anomaly-mv.yaml:11:17: value(\"host:mv\"): model 'mv' is not "
                              "in model.set"));
    free(e);

    /* Neither -c nor -r: OK, and a note that the receivers were not checked, and how to. */
    assert_int_equal(ctl("rules check %s/rules/examples", VG_SOURCE_DIR), 0);
    e = err();
    assert_non_null(strstr(e, "note: `actions:` were not checked against the analyzer's "
                              "receivers; check them with -c /etc/vigil/analyzer.yaml"));
    free(e);
    assert_int_equal(ctl("rules check -q %s/rules/examples", VG_SOURCE_DIR), 0);
    e = err();
    assert_string_equal(e, "");
    free(e);

    /* A config that cannot be read is a usage error, as for the other commands. */
    assert_int_equal(ctl("rules check -c %s/no-such.yaml %s/rules/examples", g_dir, VG_SOURCE_DIR),
                     2);
    e = err();
    assert_non_null(strstr(e, "vigilctl rules check: config error: "));
    free(e);
}

/* A structural mistake in one rule does not hide the others': the receiver an action names and
 * the host model a condition reads are checked on the rules that parsed, by rules check and by
 * the analyzer alike, each reported with its place (docs/rules.md). */
static void rules_check_reports_receiver_and_model_mistakes_beside_structural_ones(void **state)
{
    (void)state;
    char dir[600], want[3][800];
    snprintf(dir, sizeof(dir), "%s/mixedrules", g_dir);
    vg_tp_sh("rm -rf %s && mkdir -p %s && printf 'rules:\n  - name: HostBad\n    when: "
             "value(\"host:mvx\") > 0.9\n    actions: [webhok]\n  - name: Other\n    when: "
             "value(\"cpu.user_pct\") > 90\n    fro: 1m\n' >%s/a.yaml",
             dir, dir, dir);
    snprintf(want[0], sizeof(want[0]), "%s/a.yaml:7:5: unknown key 'fro' (did you mean 'for'?)",
             dir);
    snprintf(want[1], sizeof(want[1]), "%s/a.yaml:3:17: value(\"host:mvx\"): no host model 'mvx'",
             dir);
    snprintf(want[2], sizeof(want[2]), "%s/a.yaml:4:15: action 'webhok' is not ", dir);
    assert_int_equal(ctl("rules check -r webhook %s", dir), 1);
    char *e = err();
    for (int i = 0; i < 3; i++)
        if (!strstr(e, want[i]))
            fail_msg("rules check: no '%s' in: %s", want[i], e);
    free(e);
    /* model.dir, silences.file: see config_check_runs_the_daemons_own_check */
    assert_int_equal(ctl("config check analyzer %s/packaging/config/analyzer.yaml --set user= "
                         "--set model.dir= --set silences.file= --set rules.dir=%s",
                         VG_SOURCE_DIR, dir),
                     1);
    e = err();
    for (int i = 0; i < 3; i++)
        if (!strstr(e, want[i]))
            fail_msg("config check: no '%s' in: %s", want[i], e);
    free(e);
    /* replay sends no actions, so only the host model is checked beside the loader's mistake */
    assert_int_equal(ctl("replay --rules %s %s", dir, SPIKE_CSV), 2);
    e = err();
    for (int i = 0; i < 2; i++)
        if (!strstr(e, want[i]))
            fail_msg("replay: no '%s' in: %s", want[i], e);
    free(e);
    vg_tp_sh("rm -rf %s", dir);
}

/* value("host:NAME") is checked as the analyzer checks it: the name against the host models that
 * exist, and with --models (rules check) or the config's model.set (replay) against the set.
 * Replay runs the host models when a rule reads one (test_replay_models); report --input runs
 * none and says so. */
static void host_model_reads_are_checked_and_report_warns_it_runs_none(void **state)
{
    (void)state;
    char dir[600], want[1024];
    snprintf(dir, sizeof(dir), "%s/modelrules", g_dir);
    vg_tp_sh("rm -rf %s && mkdir -p %s && printf 'rules:\\n  - name: M\\n    when: "
             "value(\"host:mvv\") > 0.9\\n' >%s/a.yaml",
             dir, dir, dir);
    assert_int_equal(ctl("rules check %s", dir), 1);
    char *e = err();
    snprintf(want, sizeof(want),
             "%s/a.yaml:3:17: value(\"host:mvv\"): no host model 'mvv' (did you mean 'mv'? the "
             "models are series, mv)",
             dir);
    assert_non_null(strstr(e, want));
    free(e);
    assert_int_equal(ctl("replay --rules %s %s", dir, SPIKE_CSV), 2);
    e = err();
    assert_non_null(strstr(e, "vigilctl replay: config error: "));
    assert_non_null(strstr(e, want));
    free(e);

    /* The shipped examples read host:mv: fine for the default model.set, not for one without. */
    assert_int_equal(ctl("rules check %s/rules/examples", VG_SOURCE_DIR), 0);
    const char *not_run = "/rules/examples/host-anomaly-mv.yaml:11:17: value(\"host:mv\"): model "
                          "'mv' is not in model.set (it runs: series): the condition could never "
                          "hold; add it to model.set";
    assert_int_equal(ctl("rules check -m series %s/rules/examples", VG_SOURCE_DIR), 1);
    e = err();
    assert_non_null(strstr(e, not_run));
    free(e);
    assert_int_equal(ctl("rules check -m series,bogus %s/rules/examples", VG_SOURCE_DIR), 2);
    assert_int_equal(
        ctl("replay --set model.set=series --rules %s/rules/examples %s", VG_SOURCE_DIR, SPIKE_CSV),
        2);
    e = err();
    assert_non_null(strstr(e, not_run));
    free(e);

    assert_int_equal(ctl("replay --rules %s/rules/examples %s", VG_SOURCE_DIR, SPIKE_CSV), 0);
    e = err();
    assert_null(strstr(e, "warning"));
    assert_non_null(strstr(e, "host models series,mv on cpu"));
    free(e);
    char html[700];
    snprintf(html, sizeof(html), "%s/examples.html", g_dir);
    assert_int_equal(ctl("report --input %s --set rules.dir=%s/rules/examples -o %s", SPIKE_CSV,
                         VG_SOURCE_DIR, html),
                     0);
    e = err();
    assert_non_null(strstr(e, "vigilctl report: warning: "));
    assert_non_null(strstr(e,
                           "/rules/examples/host-anomaly-mv.yaml:11:17: value(\"host:mv\") reads "
                           "a host model, which report does not run"));
    free(e);
    /* No rule reading one: no warning, and no host models run. */
    assert_int_equal(
        ctl("replay --set detector.warmup=10 --rules %s/ops/rules %s", VG_TEST_DATA, SPIKE_CSV), 0);
    e = err();
    assert_null(strstr(e, "warning"));
    assert_null(strstr(e, "host models"));
    free(e);
    vg_tp_sh("rm -rf %s", dir);
}

/* docs/rules.md: alert.series chooses the series the analyzer scores and keeps for rules, also
 * with rule files; a rule reading one outside it finds it missing and never fires. */
static void rules_see_only_the_series_alert_series_keeps(void **state)
{
    (void)state;
    assert_int_equal(ctl("replay --set detector.warmup=10 --set 'alert.series=cpu.*' --rules "
                         "%s/ops/rules %s",
                         VG_TEST_DATA, SPIKE_CSV),
                     0);
    char *o = out();
    assert_null(strstr(o, "LoadSpike"));
    free(o);
    assert_int_equal(ctl("replay --set detector.warmup=10 --set 'alert.series=cpu.*,load.*' "
                         "--rules %s/ops/rules %s",
                         VG_TEST_DATA, SPIKE_CSV),
                     0);
    o = out();
    assert_non_null(strstr(o, "FIRING   csv LoadSpike"));
    free(o);
}

/* Another service where --api points (an old Alertmanager answers GET /api/v1/alerts with 200
 * and JSON of its own): each command that reads the API says the answer is not the analyzer's
 * and exits 1, rather than printing an empty table as if the analyzer had nothing. */
static void commands_refuse_an_answer_that_is_not_the_analyzers(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "foreign-api");
    char body[600];
    snprintf(body, sizeof(body), "%s/answer.json", s.dir);
    assert_int_equal(
        vg_tp_write_atomic(body, "{\"status\":\"success\",\"data\":[{\"labels\":{\"alertname\":"
                                 "\"X\",\"host\":\"web-1\"}}]}\n"),
        0);
    const char *extra[] = {"--answer-file", body, NULL};
    vg_stack_start_receiver(&s, extra);
    static const struct {
        const char *cmd, *path, *want;
    } cases[] = {
        {"alerts", "/api/v1/alerts", "(no \"alerts\" array"},
        {"alerts --json", "/api/v1/alerts", "(no \"alerts\" array"},
        {"status", "/api/v1/status", "(no \"ready\" boolean"},
        {"top --once", "/api/v1/hosts", "(no \"hosts\" array"},
        {"silence list", "/api/v1/silences", "(no \"silences\" array"},
        {"silence add host=web-1", "/api/v1/silences", "(no \"id\" string"},
        {"silence expire 0123abcd", "/api/v1/silences/0123abcd", "(no \"id\" string"},
        {"report -o -", "/api/v1/history/web-1", "(no \"series\" object"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *cmd = strdup(cases[i].cmd), *sp = strchr(cmd, ' ');
        const char *rest = sp ? sp + 1 : "";
        if (sp)
            *sp = '\0';
        int rc = ctl("%s --api http://127.0.0.1:%d %s%s", cmd, s.recv_port, rest,
                     strncmp(cases[i].cmd, "report", 6) == 0 ? " web-1" : "");
        free(cmd);
        char *o = out(), *e = err(), want[300];
        snprintf(want, sizeof(want), "http://127.0.0.1:%d%s: the answer is not the analyzer's ",
                 s.recv_port, cases[i].path);
        if (rc != 1 || !strstr(e, want) || !strstr(e, cases[i].want) || count(e, "\n") != 1 || o[0])
            fail_msg("vigilctl %s: exit %d, stdout:\n%s\nstderr:\n%s", cases[i].cmd, rc, o, e);
        free(o);
        free(e);
    }
    assert_int_equal(vg_stack_stop(&s), 0);
}

/* Before the first message the API's quantiles are null: status prints "-" for each, the
 * processing time as the lag, not "nan". */
static void status_prints_a_dash_for_quantiles_not_measured_yet(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "status-null");
    char body[600];
    snprintf(body, sizeof(body), "%s/status.json", s.dir);
    assert_int_equal(vg_tp_write_atomic(body,
                                        "{\"version\":\"0.2.0\",\"uptime_s\":1.0,\"ready\":true,"
                                        "\"partitions_assigned\":4,\"hosts\":0,\"series\":0,"
                                        "\"newest_event_age_s\":null,\"messages\":{\"consumed\":0},"
                                        "\"lag_s\":{\"p50\":null,\"p99\":null,\"count\":0},"
                                        "\"processing_s\":{\"p50\":null,\"p99\":null,\"count\":0},"
                                        "\"alerts\":{\"firing\":0},\"receivers\":[]}\n"),
                     0);
    const char *extra[] = {"--answer-file", body, NULL};
    vg_stack_start_receiver(&s, extra);
    assert_int_equal(ctl("status --api http://127.0.0.1:%d", s.recv_port), 0);
    char *o = out();
    if (!strstr(o, "lag        newest event - old; event lag p50 -, p99 -\n") ||
        !strstr(o, "; processing p99 -\n") || strstr(o, "nan"))
        fail_msg("status before the first message:\n%s", o);
    free(o);
    assert_int_equal(vg_stack_stop(&s), 0);
}

/* Not ready, status gives the analyzer's reason, as /readyz does: "NOT READY (4 partitions)" sent
 * the operator to the consumer group while checkpoints failed, and a restore showed 0 partitions.
 * Its help lists every reason. */
static void status_says_why_the_analyzer_is_not_ready(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "status-why");
    char body[600];
    snprintf(body, sizeof(body), "%s/status.json", s.dir);
    assert_int_equal(vg_tp_write_atomic(
                         body, "{\"version\":\"0.2.0\",\"uptime_s\":1.0,\"ready\":false,"
                               "\"not_ready\":\"checkpoints failing since 2026-11-26T11:40:02Z (3 "
                               "in a row): state checkpoint: not acknowledged in time\","
                               "\"partitions_assigned\":4}\n"),
                     0);
    const char *extra[] = {"--answer-file", body, NULL};
    vg_stack_start_receiver(&s, extra);
    assert_int_equal(ctl("status --api http://127.0.0.1:%d", s.recv_port), 1);
    char *o = out();
    if (!strstr(o, ", up 1s, NOT READY: checkpoints failing since 2026-11-26T11:40:02Z (3 in a "
                   "row): state checkpoint: not acknowledged in time\n"))
        fail_msg("status of an analyzer not ready:\n%s", o);
    free(o);
    assert_int_equal(vg_stack_stop(&s), 0);
    assert_int_equal(ctl("status --help"), 0);
    o = out();
    assert_non_null(strstr(o, "no partitions\nassigned yet; restoring the state"));
    assert_non_null(strstr(o, "the state producer failed for good"));
    assert_non_null(strstr(o, "state checkpoints failing"));
    free(o);
}

/* From the analyzer, the dashed threshold line is alert.threshold of -c (and -s): -c used to be
 * ignored there, a missing file accepted and the default 0.999 drawn whatever it said. */
static void report_from_the_api_draws_the_threshold_of_its_config(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "report-thr");
    char body[600], thr[600], html[600];
    snprintf(body, sizeof(body), "%s/history.json", s.dir);
    assert_int_equal(vg_tp_write_atomic(body, "{\"host\":\"web-1\",\"series\":{\"cpu.user_pct\":"
                                              "{\"t\":[1700000000000,1700000010000],"
                                              "\"value\":[10,12],\"score\":[0.1,0.2]}},"
                                              "\"alerts\":[]}\n"),
                     0);
    snprintf(thr, sizeof(thr), "%s/thr.yaml", s.dir);
    assert_int_equal(vg_tp_write_atomic(thr, "alert:\n  threshold: 0.5\n"), 0);
    snprintf(html, sizeof(html), "%s/web-1.html", s.dir);
    const char *extra[] = {"--answer-file", body, NULL};
    vg_stack_start_receiver(&s, extra);
    /* The line's y: 175 - 40 * threshold (the score's band is 135..175). */
    static const struct {
        const char *opts, *y;
    } cases[] = {
        {"", "y1=\"135.0\""},                              /* the default, 0.999 */
        {"-c %s", "y1=\"155.0\""},                         /* thr.yaml's 0.5 */
        {"-c %s -s alert.threshold=0.75", "y1=\"145.0\""}, /* -s over -c */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char opts[700];
        snprintf(opts, sizeof(opts), cases[i].opts, thr);
        assert_int_equal(
            ctl("report --api http://127.0.0.1:%d %s -o %s web-1", s.recv_port, opts, html), 0);
        char *h = vg_tp_read(html), *line = h ? strstr(h, "<line class=\"thr\"") : NULL;
        if (!line || !strstr(line, cases[i].y) || strstr(line, cases[i].y) > strchr(line, '>'))
            fail_msg("report %s: no threshold line at %s in:\n%s", opts, cases[i].y,
                     line ? line : "(none)");
        free(h);
    }
    assert_int_equal(ctl("report --api http://127.0.0.1:%d -c %s/missing.yaml -o %s web-1",
                         s.recv_port, s.dir, html),
                     2);
    char *e = err();
    if (!strstr(e, "vigilctl report: config error: ") || !strstr(e, "missing.yaml"))
        fail_msg("report -c MISSING: %s", e);
    free(e);
    assert_int_equal(vg_stack_stop(&s), 0);
}

/* --json prints the API's body as it came, after the check that it is the analyzer's: numbers
 * keep their form (0.552, not 0.55200000000000005 from a parse and dump), keys their order. */
static void json_options_print_the_apis_body_as_received(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "json-raw");
    char body[600];
    snprintf(body, sizeof(body), "%s/answer.json", s.dir);
    /* One body that is each command's: "ready", "alerts" and "hosts" all there. */
    static const char answer[] = "{\"ready\":true,\"uptime_s\":1e3,\"alerts\":[],"
                                 "\"hosts\":[{\"host\":\"a\",\"age_s\":0.552,"
                                 "\"max_score\":0.1}]}\n";
    assert_int_equal(vg_tp_write_atomic(body, answer), 0);
    const char *extra[] = {"--answer-file", body, NULL};
    vg_stack_start_receiver(&s, extra);
    static const char *const cmds[] = {"status", "alerts", "top"};
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        int rc = ctl("%s --json --api http://127.0.0.1:%d", cmds[i], s.recv_port);
        char *o = out();
        if (rc != 0 || strcmp(o, answer) != 0)
            fail_msg("vigilctl %s --json: exit %d, stdout:\n%s", cmds[i], rc, o);
        free(o);
    }
    assert_int_equal(vg_stack_stop(&s), 0);
}

/* VIGIL_TOKEN_FILE is for the requests that change state: a reading command neither opens the
 * file (an on-call user who cannot read it, or a path that is wrong, used to get exit 1 from
 * status, alerts, top and silence list) nor sends the token (a --api naming another service was
 * sent it with every GET). silence add and expire still send it. */
static void reading_commands_neither_read_nor_send_the_token(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "token-reads");
    char body[600], token[600];
    snprintf(body, sizeof(body), "%s/answer.json", s.dir);
    /* One body that is each command's: "ready", "alerts", "hosts", "silences" and "id". */
    assert_int_equal(vg_tp_write_atomic(body, "{\"ready\":true,\"alerts\":[],\"hosts\":[],"
                                              "\"silences\":[],\"id\":\"0123abcd\"}\n"),
                     0);
    snprintf(token, sizeof(token), "%s/api-token", s.dir);
    assert_int_equal(vg_tp_write_atomic(token, "reads-token-0123456789\n"), 0);
    const char *extra[] = {"--answer-file", body, NULL};
    vg_stack_start_receiver(&s, extra);
    static const char *const reads[] = {"status", "alerts", "top --once", "silence list"};
    for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
        for (int readable = 0; readable < 2; readable++) {
            int rc = vg_tp_sh("VIGIL_TOKEN_FILE=%s VIGIL_API=http://127.0.0.1:%d %s %s >%s 2>%s "
                              "</dev/null",
                              readable ? token : "/nonexistent/api-token", s.recv_port, VIGILCTL,
                              reads[i], g_out, g_err);
            char *e = err();
            if (rc != 0)
                fail_msg("vigilctl %s with VIGIL_TOKEN_FILE %s: exit %d, stderr:\n%s", reads[i],
                         readable ? "readable" : "missing", rc, e);
            free(e);
        }
    }
    assert_int_equal(vg_tp_count(s.recv_out, "\"authorization\""), 0);
    assert_int_equal(vg_tp_count(s.recv_out, "reads-token"), 0);
    assert_int_equal(vg_tp_sh("VIGIL_TOKEN_FILE=%s %s silence add --api http://127.0.0.1:%d "
                              "host=web-1 >%s 2>%s </dev/null",
                              token, VIGILCTL, s.recv_port, g_out, g_err),
                     0);
    assert_int_equal(
        ctl("silence expire --api http://127.0.0.1:%d -t %s 0123abcd", s.recv_port, token), 0);
    assert_int_equal(vg_tp_count(s.recv_out, "\"Bearer reads-token-0123456789\""), 2);
    assert_int_equal(vg_stack_stop(&s), 0);
}

/* The token file is read as the analyzer reads http.token_file: a token of 2000 bytes (a signed
 * token often is that long) is sent whole, where vigilctl used to cut it at 1023 bytes without a
 * word and then blame the file for the analyzer's 401; a file the analyzer would refuse is
 * refused here too, naming it, and nothing is sent. */
static void a_token_file_is_read_as_the_analyzer_reads_it(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "token-long");
    char body[600], token[600], want[2100], text[5100];
    snprintf(body, sizeof(body), "%s/answer.json", s.dir);
    assert_int_equal(vg_tp_write_atomic(body, "{\"id\":\"0123abcd\"}\n"), 0);
    const char *extra[] = {"--answer-file", body, NULL};
    vg_stack_start_receiver(&s, extra);
    snprintf(token, sizeof(token), "%s/api-token", s.dir);
    memset(text, 'A', 2000);
    snprintf(text + 2000, sizeof(text) - 2000, "\n");
    assert_int_equal(vg_tp_write_atomic(token, text), 0);
    vg_tp_sh("chmod 600 %s", token);
    assert_int_equal(
        ctl("silence add --api http://127.0.0.1:%d -t %s host=web-1", s.recv_port, token), 0);
    snprintf(want, sizeof(want), "\"Bearer %.2000s\"", text);
    assert_int_equal(vg_tp_count(s.recv_out, want), 1);
    /* Over VG_SECRET_MAX (4096 bytes), and two lines: refused before any request. */
    memset(text, 'B', 5000);
    snprintf(text + 5000, sizeof(text) - 5000, "\n");
    assert_int_equal(vg_tp_write_atomic(token, text), 0);
    assert_int_equal(
        ctl("silence add --api http://127.0.0.1:%d -t %s host=web-1", s.recv_port, token), 1);
    char *e = err();
    if (!strstr(e, "vigilctl silence add: --token-file: ") ||
        !strstr(e, "api-token is 5001 bytes; a secret file holds "
                   "one line of at most 4096"))
        fail_msg("an oversized token file: %s", e);
    free(e);
    assert_int_equal(vg_tp_write_atomic(token, "first-line-0123456789\nsecond-line\n"), 0);
    assert_int_equal(
        ctl("silence expire --api http://127.0.0.1:%d -t %s 0123abcd", s.recv_port, token), 1);
    e = err();
    if (!strstr(e, "api-token must hold a single line"))
        fail_msg("a token file of two lines: %s", e);
    free(e);
    assert_int_equal(vg_tp_count(s.recv_out, "\"authorization\""), 1);
    assert_int_equal(vg_stack_stop(&s), 0);
}

/* A token kept off the disk, given through a pipe: bash's -t <(...) (a /dev/fd path),
 * VIGIL_TOKEN_FILE=/dev/stdin with the token piped in, and a named FIFO. vigilctl refused them all
 * once it read the token as the analyzer reads its file ("is not a regular file"). silence
 * expire of two ids reads the pipe once and sends the token with both; a pipe holding more than a
 * token may is refused, as a file is, and nothing is sent. */
static void a_token_from_a_pipe_is_sent(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "token-pipe");
    char body[600], fifo[600];
    snprintf(body, sizeof(body), "%s/answer.json", s.dir);
    assert_int_equal(vg_tp_write_atomic(body, "{\"id\":\"0123abcd\"}\n"), 0);
    const char *extra[] = {"--answer-file", body, NULL};
    vg_stack_start_receiver(&s, extra);
    int rc = vg_tp_sh("bash -c '%s silence add --api http://127.0.0.1:%d "
                      "-t <(printf \"pipe-token-0123456789\\n\") host=web-1' >%s 2>%s </dev/null",
                      VIGILCTL, s.recv_port, g_out, g_err);
    char *e = err();
    if (rc != 0 || strstr(e, "secret file"))
        fail_msg("-t <(printf TOKEN): exit %d, stderr:\n%s", rc, e);
    free(e);
    rc = vg_tp_sh("printf 'pipe-token-0123456789\\n' | VIGIL_TOKEN_FILE=/dev/stdin %s silence "
                  "expire --api http://127.0.0.1:%d 0123abcd 4567abcd >%s 2>%s",
                  VIGILCTL, s.recv_port, g_out, g_err);
    e = err();
    if (rc != 0)
        fail_msg("VIGIL_TOKEN_FILE=/dev/stdin, two ids: exit %d, stderr:\n%s", rc, e);
    free(e);
    snprintf(fifo, sizeof(fifo), "%s/token.fifo", s.dir);
    rc =
        vg_tp_sh("mkfifo -m 600 %s && { timeout 10 sh -c 'printf pipe-token-0123456789 >%s' & } "
                 "&& %s silence add --api http://127.0.0.1:%d -t %s host=web-2 >%s 2>%s </dev/null",
                 fifo, fifo, VIGILCTL, s.recv_port, fifo, g_out, g_err);
    e = err();
    if (rc != 0)
        fail_msg("-t FIFO: exit %d, stderr:\n%s", rc, e);
    free(e);
    assert_int_equal(vg_tp_count(s.recv_out, "\"Bearer pipe-token-0123456789\""), 4);
    rc = vg_tp_sh("head -c 5000 /dev/zero | tr '\\0' A | %s silence add --api "
                  "http://127.0.0.1:%d -t /dev/stdin host=web-1 >%s 2>%s",
                  VIGILCTL, s.recv_port, g_out, g_err);
    e = err();
    if (rc != 1 || !strstr(e, "vigilctl silence add: --token-file: /dev/stdin holds more than "
                              "4096 bytes; a secret file holds one line of at most 4096"))
        fail_msg("a pipe of 5000 bytes: exit %d, stderr:\n%s", rc, e);
    free(e);
    assert_int_equal(vg_tp_count(s.recv_out, "\"authorization\""), 4);
    assert_int_equal(vg_stack_stop(&s), 0);
}

/* From the build tree, with nothing on PATH: the analyzer one folder above vigilctl is found,
 * as an install's beside it is. */
static void config_check_finds_the_analyzer_of_the_build_tree(void **state)
{
    (void)state;
    /* model.dir, silences.file: see config_check_runs_the_daemons_own_check */
    assert_int_equal(vg_tp_sh("PATH=/nonexistent %s config check analyzer %s/config/analyzer.yaml "
                              "--set user= --set model.dir= --set silences.file= >%s 2>%s",
                              VIGILCTL, VG_SOURCE_DIR "/packaging", g_out, g_err),
                     0);
    char *o = out();
    assert_non_null(strstr(o, "# config OK\n"));
    free(o);
    /* The agent is built in build/agent/, beside vigilctl's parent: found there too. user= so
     * that a host without the packaged user passes the agent's own check. */
    assert_int_equal(vg_tp_sh("PATH=/nonexistent %s config check agent %s/config/agent.yaml "
                              "--set user= >%s 2>%s",
                              VIGILCTL, VG_SOURCE_DIR "/packaging", g_out, g_err),
                     0);
    o = out();
    assert_non_null(strstr(o, "# config OK (host resolves to"));
    free(o);
}

int main(void)
{
    char *d = vg_tp_tmpdir("vigilctl-out");
    snprintf(g_dir, sizeof(g_dir), "%s", d);
    free(d);
    snprintf(g_out, sizeof(g_out), "%s/stdout", g_dir);
    snprintf(g_err, sizeof(g_err), "%s/stderr", g_dir);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replay_csv_prints_the_spike_alert_once),
        cmocka_unit_test(option_letters_and_config_defaults_are_explained),
        cmocka_unit_test(replay_with_rule_files_fires_the_rule),
        cmocka_unit_test(rules_see_only_the_series_alert_series_keeps),
        cmocka_unit_test(replay_stream_and_bad_lines_are_reported),
        cmocka_unit_test(replay_csv_skips_timestamps_out_of_range),
        cmocka_unit_test(replay_csv_interval_is_not_the_one_short_step),
        cmocka_unit_test(replay_csv_refuses_a_reserved_column_name),
        cmocka_unit_test(replay_csv_skips_rows_with_too_few_or_too_many_cells),
        cmocka_unit_test(replay_csv_refuses_a_repeated_or_empty_column_name),
        cmocka_unit_test(replay_csv_reads_rfc3339_offsets_as_utc),
        cmocka_unit_test(report_from_csv_has_a_plot_per_metric_and_the_alerts),
        cmocka_unit_test(report_from_csv_lists_rule_alerts),
        cmocka_unit_test(report_summary_counts_the_alerts_it_shows),
        cmocka_unit_test(report_without_data_writes_nothing_and_names_the_host),
        cmocka_unit_test(fire_test_reaches_the_receiver_and_reports_failures),
        cmocka_unit_test(fire_test_does_not_print_url_credentials),
        cmocka_unit_test(fire_test_shows_a_url_from_a_file_as_its_host_only),
        cmocka_unit_test(fire_test_names_the_url_file_in_its_hints),
        cmocka_unit_test(fire_test_as_root_takes_the_daemons_group_for_the_secret_files),
        cmocka_unit_test(fire_test_no_resolve_prints_how_to_find_the_open_alert),
        cmocka_unit_test(status_top_alerts_report_on_a_live_analyzer),
        cmocka_unit_test(config_check_runs_the_daemons_own_check),
        cmocka_unit_test(man_pages_say_what_help_says),
        cmocka_unit_test(usage_errors_and_help),
        cmocka_unit_test(rules_check_names_skipped_entries_and_refuses_files_over_4_mib),
        cmocka_unit_test(rules_check_ends_a_long_error_list_with_the_count_left_out),
        cmocka_unit_test(host_model_reads_are_checked_and_report_warns_it_runs_none),
        cmocka_unit_test(rules_check_with_the_config_checks_receivers_as_the_analyzer_does),
        cmocka_unit_test(rules_check_reports_receiver_and_model_mistakes_beside_structural_ones),
        cmocka_unit_test(commands_refuse_an_answer_that_is_not_the_analyzers),
        cmocka_unit_test(status_prints_a_dash_for_quantiles_not_measured_yet),
        cmocka_unit_test(status_says_why_the_analyzer_is_not_ready),
        cmocka_unit_test(report_from_the_api_draws_the_threshold_of_its_config),
        cmocka_unit_test(json_options_print_the_apis_body_as_received),
        cmocka_unit_test(reading_commands_neither_read_nor_send_the_token),
        cmocka_unit_test(a_token_file_is_read_as_the_analyzer_reads_it),
        cmocka_unit_test(a_token_from_a_pipe_is_sent),
        cmocka_unit_test(config_check_finds_the_analyzer_of_the_build_tree),
    };
    return vg_tp_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
