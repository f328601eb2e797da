/* vigilctl replay runs the analyzer's host models (vg_model_run.h): a recorded stream in which the
 * relation between a host's metrics breaks, while each metric stays in its own range, fires a
 * rule reading value("host:mv"), and the alert names the mv model's top metrics, as the analyzer's
 * does (test_mv_analyzer). The model.* keys apply; redeliveries are not learned twice; the
 * models start fresh, on the CPU unless model.backend is set; a host that stops sending its
 * group's metrics has its mv alert resolved. */
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

#include "vg_testgpu.h"
#include "vg_testlaw.h"
#include "vg_testproc.h"

#define VIGILCTL VG_BIN_DIR "/analyzer/vigilctl/vigilctl"
/* Ticks of both hosts: the model learns, then from ANOM_AT on mv-1's load_1 and disk_wa stop
 * following its req_rate. calib_init=64 warms the host score within the first ~300 ticks. */
#define TICKS   1540
#define ANOM_AT 1520
#define T0_MS   1700000000000LL
#define SETS    "--set model.calib_init=64"

static char g_dir[256], g_out[512], g_err[512], g_stream[512], g_rules[512];

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

static char *slurp(const char *path)
{
    char *t = vg_tp_read(path);
    assert_non_null(t);
    return t;
}

static uint64_t rng = VG_TLAW_SEED;

/* One host of the shared test law (vg_testlaw.h). */
struct host {
    const char *name;
    struct vg_tlaw law;
};

/* One tick of h; its metric names prefixed with `prefix` (none of its group's then). */
static void format_tick(char *buf, size_t n, struct host *h, int t, int diverged,
                        const char *prefix)
{
    double x[6];
    vg_tlaw_tick(&rng, &h->law, t, diverged, x);
    const char *p = prefix;
    int len = snprintf(
        buf, n,
        "{\"v\":1,\"host\":\"%s\",\"boot\":\"b1\",\"seq\":%d,\"ts\":%lld,\"interval_ms\":1000,"
        "\"labels\":{\"env\":\"prod\",\"group\":\"web\"},\"metrics\":{"
        "\"%sreq_rate\":%.4f,\"%sload_1\":%.4f,\"%sdisk_wa\":%.4f,\"%scpu_user\":%.4f,"
        "\"%smem_used\":%.4f,\"%snet_rx\":%.4f}}\n",
        h->name, t + 1, T0_MS + t * 1000LL, p, x[0], p, x[1], p, x[2], p, x[3], p, x[4], p, x[5]);
    assert_true(len > 0 && (size_t)len < n);
}

/* The recording, as `kcat -C` writes it: two hosts of group web, one line per host and tick
 * (ticks of them); only mv-1 diverges, from ANOM_AT on. mv-1's ticks in [dup_from, dup_to) are
 * delivered twice, as after a consumer restart; from tick foreign on, its metrics are other
 * ones than its group's. */
static void write_stream_of(const char *path, int ticks, int dup_from, int dup_to, int foreign)
{
    rng = VG_TLAW_SEED;
    struct host a = {"mv-1", {0, 0, 0}}, b = {"mv-2", {0, 0, 0}};
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    char line[1024];
    for (int t = 0; t < ticks; t++) {
        format_tick(line, sizeof(line), &a, t, t >= ANOM_AT, t >= foreign ? "new_" : "");
        fputs(line, f);
        if (t >= dup_from && t < dup_to)
            fputs(line, f);
        format_tick(line, sizeof(line), &b, t, 0, "");
        fputs(line, f);
    }
    fclose(f);
}

static void write_stream(const char *path, int dup_from, int dup_to)
{
    write_stream_of(path, TICKS, dup_from, dup_to, TICKS);
}

static int injected(const char *name)
{
    return name && (strcmp(name, "load_1") == 0 || strcmp(name, "disk_wa") == 0);
}

/* What the text output's FIRING lines of mv-1 within the divergence blame ("... top=a,b,c"):
 * how many there are, how many name a broken metric first, and how many the two of them first;
 * names: how many metrics each line names (the same on every line, else -1). */
struct blamed {
    int n, first, both, names;
};

static struct blamed diverged_firings(const char *out)
{
    struct blamed b = {0, 0, 0, 0};
    for (const char *p = out; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[1024];
        snprintf(line, sizeof(line), "%.*s", (int)len, p);
        p = nl ? nl + 1 : NULL;
        /* "2023-11-14T22:38:40.000Z FIRING   mv-1 MvHostAnomaly ...": ANOM_AT is 22:38:40. */
        if (len < 30 || strncmp(line + 24, " FIRING   mv-1 MvHostAnomaly ", 29) != 0 ||
            strncmp(line, "2023-11-14T22:38:40", 19) < 0)
            continue;
        char *top = strstr(line, " top=");
        assert_non_null(top);
        char *names[8], *save = NULL;
        int k = 0;
        for (char *t = strtok_r(top + 5, ",", &save); t && k < 8; t = strtok_r(NULL, ",", &save))
            names[k++] = t;
        b.names = b.n == 0 || b.names == k ? k : -1;
        b.n++;
        b.first += injected(names[0]);
        b.both += k >= 2 && injected(names[0]) && injected(names[1]);
    }
    return b;
}

static void diverging_metrics_fire_the_mv_rule_naming_them(void **state)
{
    (void)state;
    assert_int_equal(ctl("replay " SETS " --rules %s %s", g_rules, g_stream), 0);
    char *o = slurp(g_out), *e = slurp(g_err);
    printf("%s%s", o, e);
    /* The host models ran, on the CPU (model.backend not set), and nothing was warned about. */
    assert_non_null(strstr(e, "host models series,mv on cpu"));
    assert_null(strstr(e, "warning"));
    assert_non_null(strstr(e, "replayed 3080 messages"));
    /* Within the divergence the mv rule fires for mv-1, blaming a broken metric first, and at
     * least once both of them (its first tick may blame req_rate, which they no longer follow). */
    struct blamed b = diverged_firings(o);
    assert_true(b.n >= 1);
    assert_int_equal(b.first, b.n);
    assert_true(b.both >= 1);
    assert_int_equal(b.names, 3); /* model.top_k's default */
    free(o);
    free(e);

    /* The same alerts as the analyzer's webhook bodies: top_metrics, and the rule's annotation
     * rendering them with their shares. */
    assert_int_equal(ctl("replay " SETS " --json --rules %s %s", g_rules, g_stream), 0);
    o = slurp(g_out);
    int n = 0, both = 0;
    for (char *p = o; p && *p;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        json_t *j = json_loads(p, 0, NULL);
        assert_non_null(j);
        p = nl ? nl + 1 : NULL;
        json_t *top = json_object_get(j, "top_metrics");
        const char *t0 = json_string_value(json_object_get(json_array_get(top, 0), "name")),
                   *t1 = json_string_value(json_object_get(json_array_get(top, 1), "name")),
                   *desc = json_string_value(
                       json_object_get(json_object_get(j, "annotations"), "description"));
        if (strcmp(json_string_value(json_object_get(j, "status")), "firing") == 0 &&
            strcmp(json_string_value(json_object_get(j, "host")), "mv-1") == 0 &&
            strcmp(json_string_value(json_object_get(j, "event_ts")), "2023-11-14T22:38:40") >= 0) {
            n++;
            assert_true(injected(t0));
            assert_non_null(desc);
            assert_non_null(strstr(desc, "mv-1: "));
            if (injected(t1)) {
                both++;
                assert_non_null(strstr(desc, "load_1="));
                assert_non_null(strstr(desc, "disk_wa="));
            }
        }
        json_decref(j);
    }
    assert_int_equal(n, b.n);
    assert_int_equal(both, b.both);
    free(o);
}

/* model.* keys are the analyzer's: top_k names that many metrics; model.set without mv refuses a
 * rule reading it (as the analyzer does); a bad backend is a config error. */
static void model_keys_apply(void **state)
{
    (void)state;
    assert_int_equal(ctl("replay " SETS " --set model.top_k=2 --rules %s %s", g_rules, g_stream),
                     0);
    char *o = slurp(g_out);
    struct blamed b = diverged_firings(o);
    assert_true(b.n >= 1);
    assert_int_equal(b.first, b.n);
    assert_int_equal(b.names, 2);
    free(o);

    assert_int_equal(ctl("replay --set model.set=series --rules %s %s", g_rules, g_stream), 2);
    char *e = slurp(g_err);
    assert_non_null(strstr(e, "model 'mv' is not in model.set (it runs: series)"));
    free(e);

    /* Set, model.backend is honoured: where a GPU is usable cuda runs and the mv rule fires as
     * on the CPU; without one it is refused. Which of the two this host is comes from the
     * backend's own probe, not from the replay's answer, so that a broken replay on CUDA is not
     * taken for a missing GPU (tests/vg_testgpu.h: a backend there but broken fails, and so
     * does a missing GPU with VIGIL_REQUIRE_GPU=1). */
    char why[VG_ERRLEN];
    int krc = vg_k_check("cuda", why, sizeof why);
    const char *req = getenv("VIGIL_REQUIRE_GPU");
    if (krc != 0 && !vg_test_gpu_missing(krc, why))
        fail_msg("the CUDA backend is broken: %s", why);
    if (krc != 0 && req && strcmp(req, "1") == 0)
        fail_msg("no usable GPU (%s), and VIGIL_REQUIRE_GPU=1", why);
    int rc = ctl("replay " SETS " --set model.backend=cuda --rules %s %s", g_rules, g_stream);
    e = slurp(g_err);
    o = slurp(g_out);
    if (krc == 0) {
        if (rc != 0)
            fail_msg("replay with model.backend=cuda on a usable GPU: exit %d:\n%s", rc, e);
        assert_non_null(strstr(e, "host models series,mv on cuda"));
        b = diverged_firings(o);
        assert_true(b.n >= 1);
        assert_int_equal(b.first, b.n);
        assert_true(b.both >= 1);
        assert_int_equal(b.names, 3);
    } else {
        printf("SKIP: replay on CUDA: no usable GPU (%s); checked that it is refused\n", why);
        assert_int_equal(rc, 2);
        assert_non_null(strstr(e, "vigilctl replay: config error: "));
        assert_non_null(strstr(e, "model.backend: CUDA backend unusable"));
    }
    free(o);
    free(e);
}

/* A redelivered message (same boot, sequence not newer) is skipped by the engine and not fed to
 * the models, as in the analyzer: the replay is the one without it. */
static void redeliveries_are_not_learned_twice(void **state)
{
    (void)state;
    char dup[600];
    snprintf(dup, sizeof(dup), "%s/dup.jsonl", g_dir);
    write_stream(dup, 400, 440);
    assert_int_equal(ctl("replay " SETS " --rules %s %s", g_rules, g_stream), 0);
    char *want = slurp(g_out);
    assert_non_null(strstr(want, "FIRING"));
    assert_int_equal(ctl("replay " SETS " --rules %s %s", g_rules, dup), 0);
    char *got = slurp(g_out), *e = slurp(g_err);
    assert_non_null(strstr(e, "replayed 3120 messages"));
    assert_non_null(strstr(e, "40 duplicates"));
    assert_string_equal(got, want);
    free(want);
    free(got);
    free(e);
}
/* A host whose ticks carry none of its group's metrics (renamed by an agent upgrade) has no mv
 * score: its last one, kept and read by rules on each of its messages, kept a firing alert firing
 * for as long as that lasted. Its alert now resolves at the first such tick, as any rule's whose
 * input went missing. */
static void an_mv_alert_resolves_when_the_host_stops_sending_its_groups_metrics(void **state)
{
    (void)state;
    /* The tick mv-1's alert fires at in the divergence: the replay below is the same until
     * then. */
    assert_int_equal(ctl("replay " SETS " --rules %s %s", g_rules, g_stream), 0);
    char *o = slurp(g_out);
    const char *fired = strstr(o, "Z FIRING   mv-1 MvHostAnomaly ");
    while (fired && strncmp(fired - 23, "2023-11-14T22:38:40", 19) < 0)
        fired = strstr(fired + 1, "Z FIRING   mv-1 MvHostAnomaly ");
    assert_non_null(fired);
    int hh, mm, ss;
    assert_int_equal(sscanf(fired - 12, "%d:%d:%d", &hh, &mm, &ss), 3);
    int at = (hh - 22) * 3600 + (mm - 13) * 60 + (ss - 20); /* T0 is 22:13:20 */
    assert_true(at >= ANOM_AT && at < TICKS);
    free(o);
    /* From the next tick on, mv-1 sends other metrics than its group's. */
    char path[600];
    snprintf(path, sizeof(path), "%s/foreign.jsonl", g_dir);
    write_stream_of(path, TICKS, 0, 0, at + 1);
    assert_int_equal(ctl("replay " SETS " --rules %s %s", g_rules, path), 0);
    o = slurp(g_out);
    char *e = slurp(g_err);
    printf("%s%s", o, e);
    char want[64];
    snprintf(want, sizeof(want), "22:%02d:%02d.000Z FIRING   mv-1 MvHostAnomaly ",
             13 + (20 + at) / 60, (20 + at) % 60);
    assert_non_null(strstr(o, want));
    /* Resolved within two ticks of the first without its group's metrics. */
    const char *r = strstr(o, "Z RESOLVED mv-1 MvHostAnomaly ");
    assert_non_null(r);
    assert_true(r - o >= 23);
    assert_int_equal(sscanf(r - 12, "%d:%d:%d", &hh, &mm, &ss), 3);
    int gone = (hh - 22) * 3600 + (mm - 13) * 60 + (ss - 20);
    assert_true(gone >= at + 1 && gone <= at + 3);
    assert_non_null(strstr(e, " 0 still firing"));
    free(o);
    free(e);
}

/* A replay must not depend on or disturb a live analyzer's checkpoints: model.dir is neither
 * read nor written. */
static void model_dir_is_left_alone(void **state)
{
    (void)state;
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/models", g_dir);
    assert_int_equal(vg_tp_sh("mkdir -p %s && printf 'not a checkpoint' >%s/web.ckpt", dir, dir),
                     0);
    assert_int_equal(ctl("replay " SETS
                         " --set model.dir=%s --set model.checkpoint_interval=1s --rules %s %s",
                         dir, g_rules, g_stream),
                     0);
    char *e = slurp(g_err);
    assert_null(strstr(e, "refused"));
    free(e);
    assert_int_equal(vg_tp_sh("test \"$(ls %s)\" = web.ckpt", dir), 0);
    char path[700];
    snprintf(path, sizeof(path), "%s/web.ckpt", dir);
    char *t = slurp(path);
    assert_string_equal(t, "not a checkpoint");
    free(t);
}

int main(void)
{
    char *d = vg_tp_tmpdir("replay-models");
    snprintf(g_dir, sizeof(g_dir), "%s", d);
    free(d);
    snprintf(g_out, sizeof(g_out), "%s/stdout", g_dir);
    snprintf(g_err, sizeof(g_err), "%s/stderr", g_dir);
    snprintf(g_stream, sizeof(g_stream), "%s/stream.jsonl", g_dir);
    snprintf(g_rules, sizeof(g_rules), "%s/rules", g_dir);
    write_stream(g_stream, 0, 0);
    /* rules/examples/host-anomaly-mv.yaml with for: 0s (the divergence lasts 20 s here). */
    char rfile[600];
    snprintf(rfile, sizeof(rfile), "%s/host-anomaly-mv.yaml", g_rules);
    if (vg_tp_sh("mkdir -p %s", g_rules) != 0 ||
        vg_tp_write_atomic(rfile, "rules:\n"
                                  "  - name: MvHostAnomaly\n"
                                  "    when: value(\"host:mv\") > 0.99\n"
                                  "    annotations:\n"
                                  "      description: \"{{ host }}: {{ top_metrics }}\"\n") != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(diverging_metrics_fire_the_mv_rule_naming_them),
        cmocka_unit_test(model_keys_apply),
        cmocka_unit_test(redeliveries_are_not_learned_twice),
        cmocka_unit_test(an_mv_alert_resolves_when_the_host_stops_sending_its_groups_metrics),
        cmocka_unit_test(model_dir_is_left_alone),
    };
    return vg_tp_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
