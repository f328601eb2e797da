/* Host groups of multivariate models (analyzer/vg_fleet): metric sets by name, batched steps,
 * attribution by metric name, checkpoints to a directory and the refusal of a bad one, host scores
 * (vg_hscore) and their calibration across a restart. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vg_fleet.h"
#include "vg_util.h"

#define NM 12

static const char *names[NM] = {"cpu_user", "cpu_sys", "load_1", "mem_used",
                                "disk_wa",  "disk_r",  "disk_w", "net_rx",
                                "net_tx",   "ctx_sw",  "procs",  "tcp_estab"};

static struct vg_k cpu;
static char dir[256];

static int setup(void **state)
{
    char err[VG_ERRLEN];
    snprintf(dir, sizeof(dir), "/tmp/vg-test-fleet.XXXXXX");
    if (!mkdtemp(dir) || vg_k_open(&cpu, "cpu", err, sizeof(err)) < 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    vg_k_close(&cpu);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static double value(int h, uint64_t t, int j)
{
    double w = 2 * M_PI / 30.0, a = sin(w * (double)t + 0.5 * h), b = cos(w * (double)t * 2);
    uint64_t z = (uint64_t)h * 0x9e3779b97f4a7c15ULL ^ t * 0xbf58476d1ce4e5b9ULL ^ (uint64_t)j;
    z = (z ^ (z >> 29)) * 0x94d049bb133111ebULL;
    double noise = (double)((z >> 40) & 0xffff) / 65536.0 - 0.5;
    double v = j % 2 ? a : 0.5 * a + 0.5 * b;
    return (20.0 + j) * (1 + 0.05 * h) + (1 + 0.2 * j) * (v + 0.05 * noise);
}

struct seen {
    int calls;
    char host[64];
    float score;
    const char *top[2];
};

static void on_score(void *ud, const struct vg_fleet_score *s)
{
    struct seen *sn = ud;
    sn->calls++;
    if (strcmp(s->host, sn->host) == 0) {
        sn->score = s->score;
        sn->top[0] = s->n_top > 0 ? s->top[0] : NULL;
        sn->top[1] = s->n_top > 1 ? s->top[1] : NULL;
    }
}

static struct vg_fleet_params params(void)
{
    struct vg_fleet_params p = {
        .dir = dir, .max_metrics = 64, .max_hosts = 100, .max_groups = 4, .train = 1};
    vg_mv_params_default(&p.mv, 1);
    p.mv.train_rows = 0;
    return p;
}

static void put_tick(struct vg_fleet *f, int hosts, uint64_t t, int bad_host)
{
    char err[VG_ERRLEN], host[32];
    for (int h = 0; h < hosts; h++) {
        struct vg_metric m[NM];
        for (int j = 0; j < NM; j++) {
            m[j].name = names[j];
            m[j].value = value(h, t, j);
        }
        if (h == bad_host) {
            m[2].value += 4 * (1 + 0.2 * 2);
            m[4].value -= 4 * (1 + 0.2 * 4);
        }
        snprintf(host, sizeof(host), "web-%02d", h);
        assert_int_equal(vg_fleet_put(f, "web", host, m, NM, err, sizeof(err)), 0);
    }
    assert_int_equal(vg_fleet_step(f, err, sizeof(err)), 0);
}

static void test_group_metric_set_is_fixed_by_its_first_host(void **state)
{
    struct vg_fleet_params p = params();
    p.dir = NULL;
    struct vg_fleet *f;
    char err[VG_ERRLEN];
    assert_int_equal(vg_fleet_new(&f, &p, &cpu, NULL, NULL, err, sizeof(err)), 0);
    struct vg_metric a[] = {{"cpu", 1}, {"mem", 2}, {"disk", 3}, {"mem", 2}};
    struct vg_metric b[] = {{"cpu", 1}, {"mem", 2}, {"net", 9}};
    assert_int_equal(vg_fleet_put(f, "db", "a", a, 4, err, sizeof(err)), 0);
    assert_int_equal(vg_fleet_put(f, "db", "b", b, 3, err, sizeof(err)), 0);
    /* a reports again: the tick is over and the group steps on its own. */
    assert_int_equal(vg_fleet_put(f, "db", "a", a, 3, err, sizeof(err)), 0);
    struct vg_fleet_stats st;
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.groups, 1);
    assert_int_equal(st.hosts, 2);
    assert_int_equal(st.steps, 1);
    assert_int_equal(st.metrics_ignored, 1); /* b's "net" */
    struct vg_fleet_score s;
    assert_int_equal(vg_fleet_host(f, "b", &s), 0);
    assert_string_equal(s.group, "db");
    assert_int_equal(s.age, 1);
    assert_int_equal(vg_fleet_host(f, "nope", &s), -ENOENT);
    /* A first host with fewer metrics than top_k cannot found a group: refused, counted. */
    struct vg_metric c[] = {{"x", 1}};
    assert_int_equal(vg_fleet_put(f, "tiny", "c", c, 1, err, sizeof(err)), 1);
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.hosts_refused, 1);
    vg_fleet_free(f);
}

static void test_anomaly_is_attributed_to_metric_names(void **state)
{
    struct vg_fleet_params p = params();
    p.dir = NULL;
    struct seen sn = {.host = "web-02"};
    struct vg_fleet *f;
    char err[VG_ERRLEN];
    assert_int_equal(vg_fleet_new(&f, &p, &cpu, on_score, &sn, err, sizeof(err)), 0);
    float max_normal = 0;
    for (uint64_t t = 0; t < 900; t++) {
        put_tick(f, 6, t, -1);
        if (t > 700)
            max_normal = fmaxf(max_normal, sn.score);
    }
    assert_int_equal(sn.calls, 900 * 6);
    put_tick(f, 6, 900, 2);
    printf("  web-02: normal max %.2f, anomaly %.2f on %s, %s\n", max_normal, sn.score, sn.top[0],
           sn.top[1]);
    assert_true(sn.score > 2 * max_normal);
    assert_non_null(sn.top[0]);
    assert_non_null(sn.top[1]);
    int a = !strcmp(sn.top[0], "disk_wa") && !strcmp(sn.top[1], "load_1");
    int b = !strcmp(sn.top[0], "load_1") && !strcmp(sn.top[1], "disk_wa");
    assert_true(a || b);
    vg_fleet_free(f);
}

static void test_restart_resumes_from_checkpoints(void **state)
{
    struct vg_fleet_params p = params();
    struct vg_fleet *f, *g;
    char err[VG_ERRLEN];
    assert_int_equal(vg_fleet_new(&f, &p, &cpu, NULL, NULL, err, sizeof(err)), 0);
    for (uint64_t t = 0; t < 200; t++)
        put_tick(f, 4, t, -1);
    assert_int_equal(vg_fleet_save(f, err, sizeof(err)), 0);
    /* The restarted fleet resumes the same groups and hosts, and scores as the first would. */
    assert_int_equal(vg_fleet_new(&g, &p, &cpu, NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(vg_fleet_load(g, err, sizeof(err)), 1);
    struct vg_fleet_stats st;
    vg_fleet_get_stats(g, &st);
    assert_int_equal(st.hosts, 4);
    for (uint64_t t = 200; t < 220; t++) {
        put_tick(f, 4, t, -1);
        put_tick(g, 4, t, -1);
        for (int h = 0; h < 4; h++) {
            char host[32];
            snprintf(host, sizeof(host), "web-%02d", h);
            struct vg_fleet_score a, b;
            assert_int_equal(vg_fleet_host(f, host, &a), 0);
            assert_int_equal(vg_fleet_host(g, host, &b), 0);
            assert_memory_equal(&a.score, &b.score, sizeof(float));
            assert_int_equal(a.age, b.age);
        }
    }
    vg_fleet_free(f);
    vg_fleet_free(g);
}

static void test_corrupt_checkpoint_is_refused_and_the_group_starts_fresh(void **state)
{
    struct vg_fleet_params p = params();
    struct vg_fleet *f;
    char err[VG_ERRLEN], path[300];
    assert_int_equal(vg_fleet_new(&f, &p, &cpu, NULL, NULL, err, sizeof(err)), 0);
    for (uint64_t t = 0; t < 30; t++)
        put_tick(f, 2, t, -1);
    assert_int_equal(vg_fleet_save(f, err, sizeof(err)), 0);
    vg_fleet_free(f);
    snprintf(path, sizeof(path), "%s/web.ckpt", dir);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, 300, SEEK_SET);
    int c = fgetc(fp);
    fseek(fp, 300, SEEK_SET);
    fputc(c ^ 0xff, fp);
    fclose(fp);
    assert_int_equal(vg_fleet_new(&f, &p, &cpu, NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(vg_fleet_load(f, err, sizeof(err)), 0);
    struct vg_fleet_stats st;
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.ckpt_refused, 1);
    assert_int_equal(st.groups, 0);
    /* Fresh: the hosts come back as new ones. */
    put_tick(f, 2, 30, -1);
    struct vg_fleet_score s;
    assert_int_equal(vg_fleet_host(f, "web-01", &s), 0);
    assert_int_equal(s.age, 1);
    vg_fleet_free(f);
}

static struct vg_fleet_params hs_params(void)
{
    struct vg_fleet_params p = params();
    p.host_score = 1;
    vg_hscore_defaults(&p.hs);
    p.hs.fit_n = 40;
    p.hs.spot.n_init = 32;
    return p;
}

static void test_host_calibration_survives_a_restart(void **state)
{
    struct vg_fleet_params p = hs_params();
    struct vg_fleet *f, *g;
    char err[VG_ERRLEN];
    assert_int_equal(vg_fleet_new(&f, &p, &cpu, NULL, NULL, err, sizeof(err)), 0);
    /* Warm after 8 ticks, error scales fitted on the next 40, calibration sample on 32 more. */
    for (uint64_t t = 0; t < 150; t++)
        put_tick(f, 4, t, -1);
    struct vg_fleet_score a, b;
    assert_int_equal(vg_fleet_host(f, "web-01", &a), 0);
    assert_int_equal(a.hs_rc, 0);
    assert_int_equal(vg_fleet_save(f, err, sizeof(err)), 0);
    assert_int_equal(vg_fleet_new(&g, &p, &cpu, NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(vg_fleet_load(g, err, sizeof(err)), 1);
    /* The same following stream, anomalies included, gives bitwise the same host scores and
     * blame: a fresh calibration would still be learning (hs_rc -EAGAIN). */
    double hi = 0;
    for (uint64_t t = 150; t < 200; t++) {
        int bad = t % 10 == 5 ? (int)(t / 10) % 4 : -1;
        put_tick(f, 4, t, bad);
        put_tick(g, 4, t, bad);
        for (int h = 0; h < 4; h++) {
            char host[32];
            snprintf(host, sizeof(host), "web-%02d", h);
            assert_int_equal(vg_fleet_host(f, host, &a), 0);
            assert_int_equal(vg_fleet_host(g, host, &b), 0);
            assert_int_equal(a.hs_rc, 0);
            assert_int_equal(b.hs_rc, 0);
            assert_memory_equal(&a.hs_score, &b.hs_score, sizeof(double));
            assert_memory_equal(&a.hs_raw, &b.hs_raw, sizeof(double));
            assert_int_equal(a.n_blame, p.hs.top_k);
            assert_int_equal(b.n_blame, a.n_blame);
            for (uint32_t q = 0; q < a.n_blame; q++) {
                assert_string_equal(a.blame_top[q], b.blame_top[q]);
                assert_memory_equal(&a.blame[q], &b.blame[q], sizeof(double));
            }
            hi = fmax(hi, a.hs_score);
        }
    }
    /* The injected anomalies are scored as such: the comparison is not of zeros. */
    assert_true(hi > 0.99);
    vg_fleet_free(f);
    vg_fleet_free(g);
}

static void test_checkpoint_without_host_calibration_is_refused(void **state)
{
    /* A checkpoint written without host scores (as before they were checkpointed) is refused
     * by a fleet that scores hosts: its hosts would otherwise resume uncalibrated. */
    struct vg_fleet_params p = params(), q = hs_params();
    struct vg_fleet *f;
    char err[VG_ERRLEN];
    assert_int_equal(vg_fleet_new(&f, &p, &cpu, NULL, NULL, err, sizeof(err)), 0);
    for (uint64_t t = 0; t < 20; t++)
        put_tick(f, 2, t, -1);
    assert_int_equal(vg_fleet_save(f, err, sizeof(err)), 0);
    vg_fleet_free(f);
    assert_int_equal(vg_fleet_new(&f, &q, &cpu, NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(vg_fleet_load(f, err, sizeof(err)), 0);
    struct vg_fleet_stats st;
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.ckpt_refused, 1);
    assert_int_equal(st.groups, 0);
    vg_fleet_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_metric_set_is_fixed_by_its_first_host),
        cmocka_unit_test(test_anomaly_is_attributed_to_metric_names),
        cmocka_unit_test(test_restart_resumes_from_checkpoints),
        cmocka_unit_test(test_corrupt_checkpoint_is_refused_and_the_group_starts_fresh),
        cmocka_unit_test(test_host_calibration_survives_a_restart),
        cmocka_unit_test(test_checkpoint_without_host_calibration_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
