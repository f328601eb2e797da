/* The multivariate host model in the real analyzer: fed by kcat, scored per tick, shown in the API
 * with its top metrics, read by a rule whose alert names those metrics; its checkpoints survive a
 * restart, and a corrupt one is refused with a clear log line while the analyzer keeps scoring. */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vg_stack.h"
#include "vg_testhttp.h"
#include "vg_testlaw.h"
#include "vg_testproc.h"

#define HOST "mv-1"
/* Ticks learned in bulk, then ticks produced one by one and read back through the API. */
#define BULK    1500
#define PROBE   20
#define ANOM_AT (BULK + PROBE)
#define TICKS   (ANOM_AT + PROBE)

static void nap(void)
{
    vg_tp_pause_ms(20);
}

static uint64_t rng = VG_TLAW_SEED;

/* One host of the shared test law (vg_testlaw.h), diverging from ANOM_AT on. */
static void write_ticks(const char *path, int from, int to)
{
    static struct vg_tlaw h;
    static int next;
    assert_int_equal(from, next);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int t = from; t < to; t++) {
        double x[6];
        vg_tlaw_tick(&rng, &h, t, t >= ANOM_AT, x);
        fprintf(f,
                HOST "|{\"v\":1,\"host\":\"" HOST "\",\"boot\":\"b1\",\"seq\":%d,\"ts\":%lld,"
                     "\"interval_ms\":1000,\"labels\":{\"env\":\"prod\"},\"metrics\":{"
                     "\"req_rate\":%.4f,\"load_1\":%.4f,\"disk_wa\":%.4f,\"cpu_user\":%.4f,"
                     "\"mem_used\":%.4f,\"net_rx\":%.4f}}\n",
                t + 1, 1700000000000LL + t * 1000LL, x[0], x[1], x[2], x[3], x[4], x[5]);
    }
    next = to;
    fclose(f);
}

static void produce(const struct vg_stack *s, int from, int to)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/in-%d.txt", s->dir, from);
    write_ticks(path, from, to);
    assert_int_equal(vg_tp_sh("kcat -P -b %s -t vigil.metrics -K '|' -l %s", s->bootstrap, path),
                     0);
}

/* /api/v1/hosts/HOST once its last_seq reaches seq; NULL past the deadline. */
static json_t *host_at(const struct vg_stack *s, int seq, int64_t timeout_ms)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/hosts/" HOST, s->http_port);
    int64_t end = vg_tp_mono_ms() + timeout_ms;
    while (vg_tp_mono_ms() < end) {
        char *body = NULL;
        int st = vg_th_request("GET", url, NULL, NULL, 0, &body);
        json_t *o = st == 200 && body ? json_loads(body, 0, NULL) : NULL;
        free(body);
        if (o && json_integer_value(json_object_get(o, "last_seq")) >= seq)
            return o;
        json_decref(o);
        nap();
    }
    return NULL;
}

struct probe {
    double score, raw, series_max;
    const char *top0, *top1;
};

static int injected(const char *name)
{
    return name && (strcmp(name, "load_1") == 0 || strcmp(name, "disk_wa") == 0);
}

/* Produces tick t alone and reads the host back after it. */
static void probe_tick(const struct vg_stack *s, int t, struct probe *p, json_t **keep)
{
    produce(s, t, t + 1);
    json_t *o = host_at(s, t + 1, 30000);
    assert_non_null(o);
    json_t *mv = json_object_get(json_object_get(o, "models"), "mv");
    assert_non_null(mv);
    assert_true(json_is_true(json_object_get(mv, "warm")));
    p->score = json_real_value(json_object_get(mv, "score"));
    p->raw = json_real_value(json_object_get(mv, "raw"));
    json_t *top = json_object_get(mv, "top_metrics");
    p->top0 = json_string_value(json_object_get(json_array_get(top, 0), "name"));
    p->top1 = json_string_value(json_object_get(json_array_get(top, 1), "name"));
    /* The per-series scores of the two metrics whose relation was broken. */
    json_t *series = json_object_get(o, "series");
    p->series_max =
        fmax(json_real_value(json_object_get(json_object_get(series, "load_1"), "score")),
             json_real_value(json_object_get(json_object_get(series, "disk_wa"), "score")));
    json_array_append_new(*keep, o); /* the names point into it */
}

static void diverging_metrics_raise_the_mv_score_and_are_named(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "mv-analyzer");
    char rules[600], rfile[700], set_rules[700];
    snprintf(rules, sizeof(rules), "%s/rules", s.dir);
    assert_int_equal(vg_tp_sh("mkdir -p %s", rules), 0);
    snprintf(rfile, sizeof(rfile), "%s/host-anomaly-mv.yaml", rules);
    /* rules/examples/host-anomaly-mv.yaml with for: 0s (the divergence lasts 20 s here). */
    assert_int_equal(vg_tp_write_atomic(rfile,
                                        "rules:\n"
                                        "  - name: MvHostAnomaly\n"
                                        "    when: value(\"host:mv\") > 0.99\n"
                                        "    annotations:\n"
                                        "      description: \"{{ host }}: {{ top_metrics }}\"\n"),
                     0);
    snprintf(set_rules, sizeof(set_rules), "rules.dir=%s", rules);
    vg_stack_start_receiver(&s, NULL);
    const char *sets[] = {"kafka.auto.offset.reset=earliest", "model.calib_init=64", set_rules,
                          NULL};
    vg_stack_start_analyzer(&s, sets);
    assert_true(s.http_port > 0);
    assert_int_equal(vg_tp_wait_contains(s.analyzer_log, "msg=\"compute backend\"", 1000), 0);

    produce(&s, 0, BULK);
    json_t *o = host_at(&s, BULK, 60000);
    assert_non_null(o);
    json_decref(o);

    json_t *keep = json_array();
    struct probe normal[PROBE], anom[PROBE];
    double n_max = 0, n_raw = 0, a_max = 0, a_raw = 0, a_series = 0;
    int named = 0, best = 0;
    for (int i = 0; i < PROBE; i++) {
        probe_tick(&s, BULK + i, &normal[i], &keep);
        n_max = fmax(n_max, normal[i].score);
        n_raw += normal[i].raw / PROBE;
    }
    for (int i = 0; i < PROBE; i++) {
        probe_tick(&s, ANOM_AT + i, &anom[i], &keep);
        if (anom[i].score > a_max) {
            a_max = anom[i].score;
            best = i;
        }
        a_raw += anom[i].raw / PROBE;
        a_series = fmax(a_series, anom[i].series_max);
        named += injected(anom[i].top0);
    }
    printf("  mv score: normal max %.4f (raw mean %.2f), diverged max %.4f (raw mean %.2f); "
           "top metric injected in %d/%d diverged ticks, best tick names %s, %s; per-series "
           "max of load_1/disk_wa while diverged %.4f\n",
           n_max, n_raw, a_max, a_raw, named, PROBE, anom[best].top0, anom[best].top1, a_series);
    assert_true(a_max >= 0.99);
    assert_true(a_max > n_max);
    assert_true(a_raw > 1.5 * n_raw);
    assert_true(named >= PROBE * 3 / 4);
    assert_true(injected(anom[best].top0) && injected(anom[best].top1));
    /* The per-series detectors do not see it: each metric stays in its range. */
    assert_true(a_series < 0.999);

    /* The rule reading value("host:mv") fired during the divergence, naming the two metrics. */
    assert_int_equal(vg_tp_wait_contains(s.recv_out, "MvHostAnomaly", 20000), 0);
    char *got = vg_tp_read(s.recv_out);
    int seen = 0;
    char ts[32];
    for (int i = 0; i < PROBE && !seen; i++) {
        /* a notification of a diverged tick: its event time */
        snprintf(ts, sizeof(ts), "%lld", 1700000000000LL + (ANOM_AT + i) * 1000LL);
        for (char *line = got; line && *line && !seen;) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            char *top = strstr(line, "top_metrics");
            if (strstr(line, "MvHostAnomaly") && strstr(line, ts) && top &&
                (strstr(top, "disk_wa") || strstr(top, "load_1")))
                seen = 1;
            if (nl)
                *nl = '\n';
            line = nl ? nl + 1 : NULL;
        }
    }
    free(got);
    assert_true(seen);
    json_decref(keep);
    assert_int_equal(vg_stack_stop(&s), 0);
}

static void corrupt_checkpoint_is_refused_then_checkpoints_resume(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "mv-ckpt");
    char dir[600], set_dir[700], ckpt[700];
    snprintf(dir, sizeof(dir), "%s/models", s.dir);
    assert_int_equal(vg_tp_sh("mkdir -p %s", dir), 0);
    snprintf(ckpt, sizeof(ckpt), "%s/default.ckpt", dir);
    assert_int_equal(vg_tp_write_atomic(ckpt, "this is not a checkpoint\n"), 0);
    snprintf(set_dir, sizeof(set_dir), "model.dir=%s", dir);
    const char *sets[] = {"kafka.auto.offset.reset=earliest", set_dir, NULL};
    vg_stack_start_analyzer(&s, sets);
    assert_int_equal(
        vg_tp_wait_contains(s.analyzer_log,
                            "msg=\"model checkpoint refused, that group starts fresh\"", 5000),
        0);
    assert_int_equal(vg_tp_wait_contains(s.analyzer_log, "resumed_groups=0", 5000), 0);
    /* It still scores: the group starts fresh. */
    char path[700];
    snprintf(path, sizeof(path), "%s/in.txt", s.dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int t = 0; t < 40; t++)
        fprintf(f,
                HOST "|{\"v\":1,\"host\":\"" HOST "\",\"boot\":\"b2\",\"seq\":%d,\"ts\":%lld,"
                     "\"interval_ms\":1000,\"metrics\":{\"a\":%d,\"b\":%d,\"c\":%d,\"d\":1}}\n",
                t + 1, 1700000000000LL + t * 1000LL, t % 5, t % 7, t % 3);
    fclose(f);
    assert_int_equal(vg_tp_sh("kcat -P -b %s -t vigil.metrics -K '|' -l %s", s.bootstrap, path), 0);
    json_t *o = host_at(&s, 40, 30000);
    assert_non_null(o);
    json_t *mv = json_object_get(json_object_get(o, "models"), "mv");
    assert_non_null(mv);
    assert_true(json_is_true(json_object_get(mv, "warm")) ||
                json_is_real(json_object_get(mv, "raw")));
    assert_int_equal(json_array_size(json_object_get(mv, "top_metrics")), 3);
    json_decref(o);
    /* At exit the model is checkpointed; the next start resumes the group. */
    assert_int_equal(vg_stack_stop(&s), 0);
    assert_int_equal(vg_tp_count(s.analyzer_log, "msg=\"model checkpoints written\""), 1);
    char *text = vg_tp_read(ckpt);
    assert_non_null(text);
    assert_null(strstr(text, "this is not a checkpoint"));
    free(text);
    /* The refused file is kept beside it, as it was. */
    char kept[720];
    snprintf(kept, sizeof(kept), "%s.refused", ckpt);
    text = vg_tp_read(kept);
    assert_non_null(text);
    assert_string_equal(text, "this is not a checkpoint\n");
    free(text);
    struct vg_stack s2;
    vg_stack_init(&s2, "mv-ckpt-2");
    vg_stack_start_analyzer(&s2, sets);
    assert_int_equal(vg_tp_wait_contains(s2.analyzer_log, "resumed_groups=1", 5000), 0);
    assert_int_equal(vg_tp_count(s2.analyzer_log, "checkpoint refused"), 0);
    assert_int_equal(vg_stack_stop(&s2), 0);
}

/* A stop whose last model checkpoint fails (model.dir removed while the analyzer ran: an
 * operator's mistake, a full disk alike) says so, and no longer "model checkpoints written" as
 * well, which it logged whatever the save gave. */
static void model_checkpoints_written_is_logged_only_when_they_were(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "mv-ckpt-fail");
    char dir[600], set_dir[700], path[700];
    snprintf(dir, sizeof(dir), "%s/models", s.dir);
    snprintf(set_dir, sizeof(set_dir), "model.dir=%s", dir);
    const char *sets[] = {"kafka.auto.offset.reset=earliest", set_dir, NULL};
    vg_stack_start_analyzer(&s, sets);
    snprintf(path, sizeof(path), "%s/in.txt", s.dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int t = 0; t < 40; t++)
        fprintf(f,
                HOST "|{\"v\":1,\"host\":\"" HOST "\",\"boot\":\"b3\",\"seq\":%d,\"ts\":%lld,"
                     "\"interval_ms\":1000,\"metrics\":{\"a\":%d,\"b\":%d,\"c\":%d,\"d\":1}}\n",
                t + 1, 1700000000000LL + t * 1000LL, t % 5, t % 7, t % 3);
    fclose(f);
    assert_int_equal(vg_tp_sh("kcat -P -b %s -t vigil.metrics -K '|' -l %s", s.bootstrap, path), 0);
    json_t *o = host_at(&s, 40, 30000);
    assert_non_null(o);
    json_decref(o);
    assert_int_equal(vg_tp_sh("rm -rf %s", dir), 0);
    assert_int_equal(vg_stack_stop(&s), 0);
    assert_true(vg_tp_count(s.analyzer_log, "msg=\"model checkpoint not written\"") >= 1);
    assert_int_equal(vg_tp_count(s.analyzer_log, "msg=\"model checkpoints written\""), 0);
}

/* The metrics page of s's analyzer, or NULL. */
static char *scrape(const struct vg_stack *s)
{
    char url[256], *body = NULL;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", s->http_port);
    if (vg_th_request("GET", url, NULL, NULL, 0, &body) != 200) {
        free(body);
        return NULL;
    }
    return body;
}

/* A host whose group label changed was counted in the mv model's hosts_regrouped and logged as
 * "host moved group", but the count was not on /metrics, where an operator would see a fleet's
 * labels flapping: vigil_model_hosts_regrouped_total. */
static void a_host_that_moves_group_is_counted_on_metrics(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "mv-regroup");
    const char *sets[] = {"kafka.auto.offset.reset=earliest", NULL};
    vg_stack_start_analyzer(&s, sets);
    char path[700];
    snprintf(path, sizeof(path), "%s/in.txt", s.dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int t = 0; t < 20; t++)
        fprintf(f,
                HOST "|{\"v\":1,\"host\":\"" HOST "\",\"boot\":\"b4\",\"seq\":%d,\"ts\":%lld,"
                     "\"interval_ms\":1000,\"labels\":{\"group\":\"%s\"},\"metrics\":{\"a\":%d,"
                     "\"b\":%d,\"c\":%d,\"d\":1}}\n",
                t + 1, 1700000000000LL + t * 1000LL, t < 10 ? "web" : "db", t % 5, t % 7, t % 3);
    fclose(f);
    assert_int_equal(vg_tp_sh("kcat -P -b %s -t vigil.metrics -K '|' -l %s", s.bootstrap, path), 0);
    json_t *o = host_at(&s, 20, 30000);
    assert_non_null(o);
    json_decref(o);
    char *body = scrape(&s);
    assert_non_null(body);
    assert_non_null(strstr(body, "\nvigil_model_hosts_regrouped_total 1\n"));
    free(body);
    assert_int_equal(vg_stack_stop(&s), 0);
    assert_int_equal(vg_tp_count(s.analyzer_log, "msg=\"host moved group\""), 1);
}

int main(void)
{
    if (vg_tp_sh("command -v kcat >/dev/null 2>&1") != 0) {
        fprintf(stderr, "kcat is not installed (scripts/setup.sh installs it)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(diverging_metrics_raise_the_mv_score_and_are_named),
        cmocka_unit_test(corrupt_checkpoint_is_refused_then_checkpoints_resume),
        cmocka_unit_test(model_checkpoints_written_is_logged_only_when_they_were),
        cmocka_unit_test(a_host_that_moves_group_is_counted_on_metrics),
    };
    return vg_tp_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
