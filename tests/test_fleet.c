/* Host groups of multivariate models (analyzer/vg_fleet): metric sets by name, batched steps,
 * attribution by metric name, checkpoints to a directory and the refusal of a bad one, host scores
 * (vg_hscore) and their calibration across a restart; per-host tick queues (any interleaving of a
 * group's ticks scores as in order, a host that stops and comes back), queued ticks carried by a
 * host's export, the mv model's state blob for the state topic (analyzer/vg_model_mv.c), a group
 * that scores NaN starting fresh, and, with --gpu (test_fleet_gpu, skipped where no GPU is usable:
 * vg_testgpu.h), the same host alerts from a fleet on the GPU as from one on the CPU. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "analyzer_config.h"
#include "vg_ckpt.h"
#include "vg_colsel.h"
#include "vg_engine.h"
#include "vg_engine_state.h"
#include "vg_ewma.h"
#include "vg_fleet.h"
#include "vg_fleet_ckpt.h"
#include "vg_model_run.h"
#include "vg_models.h"
#include "vg_testgpu.h"
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

/* What vg_fleet_host_export() allocated. */
static void free_host_state(struct vg_fleet_host_state *hs)
{
    free(hs->row);
    free(hs->hscore);
    free(hs->queued);
    free(hs->queued_ts);
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

/* A backend whose optimiser step turns the weights to NaN once when asked: a fault no public
 * input can cause any more (vg_mv.c refuses such state, vg_k_math.h bounds values), standing for
 * the unknown ones, a GPU's or a bug's. */
static int poison_next;
static struct vg_k_ops faulty_ops;

static void faulty_adam(void *ctx, size_t n, float *param, const float *grad, float *m, float *v,
                        float lr, float b1, float b2, float eps, float bc1, float bc2)
{
    vg_k_cpu_ops.adam(ctx, n, param, grad, m, v, lr, b1, b2, eps, bc1, bc2);
    if (poison_next) {
        poison_next = 0;
        param[0] = NAN;
    }
}

struct nan_seen {
    int finite, nan; /* scores of hosts in the steps since last cleared */
};

static void count_scores(void *ud, const struct vg_fleet_score *s)
{
    struct nan_seen *ns = ud;
    if (isfinite(s->score))
        ns->finite++;
    else
        ns->nan++;
}

/* The group's weights turned NaN: every host of it would score NaN for good (and the mv host
 * model would keep each host's last score, since it reads NaN as "did not report"). The step
 * that sees it starts the group fresh, says so, counts it, and the hosts score again. */
static void test_a_group_that_scores_nan_starts_fresh(void **state)
{
    struct vg_fleet_params p = params();
    p.dir = NULL;
    p.host_score = 1;
    vg_hscore_defaults(&p.hs);
    faulty_ops = vg_k_cpu_ops;
    faulty_ops.adam = faulty_adam;
    struct vg_k faulty = cpu;
    faulty.ops = &faulty_ops;
    struct nan_seen ns = {0};
    struct vg_fleet *f;
    char err[VG_ERRLEN];
    assert_int_equal(vg_fleet_new(&f, &p, &faulty, count_scores, &ns, err, sizeof(err)), 0);
    uint64_t t = 0;
    for (; t < 100; t++)
        put_tick(f, 3, t, -1);
    assert_int_equal(ns.nan, 0);
    struct vg_fleet_stats st;
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.model_resets, 0);

    poison_next = 1;
    put_tick(f, 3, t++, -1); /* its training step poisons the weights */
    put_tick(f, 3, t++, -1); /* every host scores NaN: the group starts fresh */
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.model_resets, 1);
    struct vg_fleet_score sc;
    assert_int_equal(vg_fleet_host(f, "web-00", &sc), 0);
    assert_int_equal(sc.age, 0); /* a fresh model: its window is empty */

    memset(&ns, 0, sizeof(ns));
    for (uint64_t end = t + 100; t < end; t++)
        put_tick(f, 3, t, -1);
    printf("  after the reset: %d finite scores, %d NaN\n", ns.finite, ns.nan);
    assert_int_equal(ns.nan, 0);
    assert_int_equal(ns.finite, 300);
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.model_resets, 1);
    assert_int_equal(vg_fleet_host(f, "web-02", &sc), 0);
    assert_true(sc.warm);
    assert_true(sc.hs_rc == 0 || sc.hs_rc == -EAGAIN);
    vg_fleet_free(f);
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
    /* a reports again: its queue (one tick by default) is full, so the group steps on its own. */
    assert_int_equal(vg_fleet_put(f, "db", "a", a, 3, err, sizeof(err)), 0);
    struct vg_fleet_stats st;
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.groups, 1);
    assert_int_equal(st.hosts, 2);
    assert_int_equal(st.steps, 1);
    assert_int_equal(st.steps_forced, 1);
    assert_int_equal(st.ticks_queued, 1);    /* a's second tick */
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

/* Stderr into a file from here until log_end(), which reads it into log (NUL-terminated). */
static int log_begin(void)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/stderr.log", dir);
    fflush(stderr);
    int saved = dup(2), fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    return saved;
}

static void log_end(int saved, char *log, size_t loglen)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/stderr.log", dir);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = pread(fd, log, loglen - 1, 0);
    close(fd);
    log[n > 0 ? n : 0] = 0;
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* A host relabelled from group web to db (its role changed, and its metrics with it) is modelled
 * in db from its next tick, on db's columns, and the move is logged. It used to stay in web for
 * good: its db metrics ignored, its attribution naming web's columns, its checkpoint web's. */
static void test_a_host_whose_group_label_changes_moves_to_that_group(void **state)
{
    struct vg_fleet_params p = params();
    p.dir = NULL;
    struct vg_fleet *f;
    char err[VG_ERRLEN], log[8192];
    assert_int_equal(vg_fleet_new(&f, &p, &cpu, NULL, NULL, err, sizeof(err)), 0);
    struct vg_metric web[] = {{"cpu.a", 1}, {"cpu.b", 2}, {"cpu.c", 3}};
    struct vg_metric db[] = {{"db.q", 4}, {"db.r", 5}, {"db.s", 6}};
    for (int t = 0; t < 5; t++) {
        assert_int_equal(vg_fleet_put(f, "web", "g-1", web, 3, err, sizeof(err)), 0);
        assert_int_equal(vg_fleet_put(f, "db", "g-2", db, 3, err, sizeof(err)), 0);
    }
    int saved = log_begin();
    for (int t = 0; t < 5; t++) {
        assert_int_equal(vg_fleet_put(f, "db", "g-1", db, 3, err, sizeof(err)), 0);
        assert_int_equal(vg_fleet_put(f, "db", "g-2", db, 3, err, sizeof(err)), 0);
    }
    log_end(saved, log, sizeof(log));
    struct vg_fleet_score s;
    assert_int_equal(vg_fleet_host(f, "g-1", &s), 0);
    assert_string_equal(s.group, "db");
    assert_true(s.n_top > 0);
    assert_memory_equal(s.top[0], "db.", 3); /* db's columns, not web's */
    struct vg_fleet_stats st;
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.hosts, 2);
    assert_int_equal(st.metrics_ignored, 0); /* its db values are modelled */
    assert_int_equal(st.hosts_regrouped, 1);
    assert_int_equal(count_of(log, "host moved group"), 1);
    assert_non_null(strstr(log, "host=\"g-1\" from=\"web\" to=\"db\""));
    /* Its old group is empty and remains (for hosts that come back), the host is in db only. */
    assert_int_equal(st.groups, 2);
    vg_fleet_free(f);
}

/* Metrics a group does not model (a collector enabled after the group was made) are counted
 * (vigil_model_metrics_ignored_total) and their names logged once for the group, not once a
 * tick; a name new later is logged then. */
static void test_metrics_a_group_does_not_model_are_logged_once_by_name(void **state)
{
    struct vg_fleet_params p = params();
    p.dir = NULL;
    struct vg_fleet *f;
    char err[VG_ERRLEN], log[8192];
    assert_int_equal(vg_fleet_new(&f, &p, &cpu, NULL, NULL, err, sizeof(err)), 0);
    struct vg_metric a[] = {{"cpu", 1}, {"mem", 2}, {"load", 3}};
    struct vg_metric more[] = {{"cpu", 1}, {"mem", 2}, {"load", 3}, {"disk.sdb", 4}, {"gpu", 5}};
    struct vg_metric most[] = {{"cpu", 1}, {"net", 2}, {"load", 3}, {"disk.sdb", 4}};
    assert_int_equal(vg_fleet_put(f, "web", "a", a, 3, err, sizeof(err)), 0);
    int saved = log_begin();
    for (int t = 0; t < 10; t++) {
        assert_int_equal(vg_fleet_put(f, "web", "a", more, 5, err, sizeof(err)), 0);
        assert_int_equal(vg_fleet_put(f, "web", "b", more, 5, err, sizeof(err)), 0);
    }
    assert_int_equal(vg_fleet_put(f, "web", "b", most, 4, err, sizeof(err)), 0);
    log_end(saved, log, sizeof(log));
    struct vg_fleet_stats st;
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.metrics_ignored, 42);
    assert_int_equal(count_of(log, "metrics not in the model group"), 2);
    assert_non_null(strstr(log, "group=\"web\" host=\"a\" metrics=\"disk.sdb,gpu\""));
    assert_non_null(strstr(log, "group=\"web\" host=\"b\" metrics=\"net\""));
    vg_fleet_free(f);
}

/* A group whose model cannot be made, or a host whose rows cannot (its backend out of memory), is
 * not a host with too few metrics, and not a failure of the other groups: the host is refused and
 * counted (and a warning logged), and its next tick is taken once memory is back. */
static int refuse_allocs;

static void *refusing_alloc(void *ctx, size_t bytes)
{
    return refuse_allocs ? NULL : vg_k_cpu_ops.alloc(ctx, bytes);
}

/* Group names that change over time (a label per deployment): a group whose hosts have all left
 * is kept (a rebalance often brings them back, and its weights with them) until a new group
 * needs its room at max_groups; then it is freed, with its checkpoint. Before, empty groups were
 * kept for good and, past max_groups of them, every new group was refused (no mv score). */
static void test_an_empty_group_makes_room_for_a_new_one_at_max_groups(void **state)
{
    (void)state;
    struct vg_fleet_params p = params();
    p.max_groups = 16;
    p.max_hosts = 32;
    struct vg_fleet *f;
    char err[VG_ERRLEN], group[32], host[32], path[512];
    assert_int_equal(vg_fleet_new(&f, &p, &cpu, NULL, NULL, err, sizeof(err)), 0);
    struct vg_metric a[] = {{"cpu", 1}, {"mem", 2}, {"disk", 3}};
    assert_int_equal(vg_fleet_put(f, "live", "stays", a, 3, err, sizeof(err)), 0);
    struct vg_fleet_stats st;
    for (int i = 0; i < 100; i++) {
        snprintf(group, sizeof(group), "deploy-%d", i);
        snprintf(host, sizeof(host), "pod-%d", i);
        assert_int_equal(vg_fleet_put(f, group, host, a, 3, err, sizeof(err)), 0);
        if (i == 0) /* a checkpoint of the group, which goes when the group is freed */
            assert_int_equal(vg_fleet_save(f, err, sizeof(err)), 0);
        assert_int_equal(vg_fleet_host_drop(f, host), 0);
        vg_fleet_get_stats(f, &st);
        /* Kept while there is room: the live group and every emptied one, up to max_groups. */
        assert_int_equal(st.groups, i + 2 < 16 ? i + 2 : 16);
        assert_int_equal(st.hosts, 1);
        assert_int_equal(st.hosts_refused, 0);
    }
    snprintf(path, sizeof(path), "%s/deploy-0.ckpt", dir);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof(path), "%s/live.ckpt", dir);
    assert_int_equal(access(path, F_OK), 0);
    unlink(path);
    /* An emptied group whose host comes back while it is still kept finds it again. */
    assert_int_equal(vg_fleet_put(f, "deploy-99", "pod-99", a, 3, err, sizeof(err)), 0);
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.groups, 16);
    /* With every group in use, a new one is still refused, and counted. */
    for (int i = 0; i < 14; i++) {
        snprintf(group, sizeof(group), "busy-%d", i);
        snprintf(host, sizeof(host), "busy-pod-%d", i);
        assert_int_equal(vg_fleet_put(f, group, host, a, 3, err, sizeof(err)), 0);
    }
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.groups, 16);
    assert_int_equal(st.hosts_refused, 0);
    assert_int_equal(vg_fleet_put(f, "one-too-many", "late-pod", a, 3, err, sizeof(err)), 1);
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.hosts_refused, 1);
    /* The live group kept its host and model throughout. */
    struct vg_fleet_score sc;
    assert_int_equal(vg_fleet_host(f, "stays", &sc), 0);
    assert_string_equal(sc.group, "live");
    vg_fleet_free(f);
}

static void test_a_host_without_memory_to_model_is_taken_on_its_next_tick(void **state)
{
    struct vg_fleet_params p = params();
    p.dir = NULL;
    static struct vg_k_ops ops;
    ops = vg_k_cpu_ops;
    ops.alloc = refusing_alloc;
    struct vg_k k = cpu;
    k.ops = &ops;
    struct vg_fleet *f;
    char err[VG_ERRLEN];
    assert_int_equal(vg_fleet_new(&f, &p, &k, NULL, NULL, err, sizeof(err)), 0);
    struct vg_metric a[] = {{"cpu", 1}, {"mem", 2}, {"disk", 3}};
    refuse_allocs = 1;
    assert_int_equal(vg_fleet_put(f, "db", "a", a, 3, err, sizeof(err)), 1);
    refuse_allocs = 0;
    struct vg_fleet_stats st;
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.hosts_refused, 1);
    assert_int_equal(st.groups, 0);
    assert_int_equal(st.hosts, 0);
    assert_int_equal(vg_fleet_put(f, "db", "a", a, 3, err, sizeof(err)), 0);
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.groups, 1);
    assert_int_equal(st.hosts, 1);
    /* 16 hosts fill a new model's rows; the 17th needs more. */
    char host[16];
    for (int h = 1; h < 16; h++) {
        snprintf(host, sizeof(host), "h%d", h);
        assert_int_equal(vg_fleet_put(f, "db", host, a, 3, err, sizeof(err)), 0);
    }
    refuse_allocs = 1;
    assert_int_equal(vg_fleet_put(f, "db", "h16", a, 3, err, sizeof(err)), 1);
    refuse_allocs = 0;
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.hosts_refused, 2);
    assert_int_equal(st.hosts, 16);
    assert_int_equal(vg_fleet_step(f, err, sizeof(err)), 0);
    assert_int_equal(vg_fleet_put(f, "db", "h16", a, 3, err, sizeof(err)), 0);
    assert_int_equal(vg_fleet_step(f, err, sizeof(err)), 0);
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.hosts, 17);
    assert_true(st.steps >= 2);
    vg_fleet_free(f);
}

/* The columns a group gets from a host like a default agent's on a server with 40 systemd
 * services: 480 cgroup.* metrics sort before cpu.*, and by name alone the model took eBPF and
 * cgroup series and no CPU, memory, disk or network. With the analyzer's default patterns the
 * host-level families come first, the cgroups after them, per-CPU shares only after those, and
 * the volatile per-cgroup eBPF series and loss counters not at all. */
static void test_default_columns_put_host_level_metrics_before_cgroups(void **state)
{
    static const char *host_level[] = {
        "cpu.user_pct",       "cpu.system_pct",        "cpu.iowait_pct",       "load.1m",
        "mem.used_pct",       "mem.available_bytes",   "psi.cpu.some_avg10",   "vmstat.pgfault_ps",
        "disk.sda.util_pct",  "disk.sda.await_ms",     "net.eth0.rx_bytes_ps", "tcp.curr_estab",
        "udp.in_errors_ps",   "fd.used_pct",           "procs.count",          "load.15m",
        "bpf.runqlat.p99_us", "bpf.biolat.sda.p99_us",
    };
    static const char *never[] = {"bpf.runqlat.cg.system.slice.a.p99_us",
                                  "bpf.syscall_errors.cg.system.slice.b_ps",
                                  "bpf.runqlat.missed_ps",
                                  "bpf.biolat.missed_ps",
                                  "bpf.biolat.untimed_ps",
                                  "bpf.tcp.connect_untimed_ps",
                                  "bpf.runqlat.cg_evicted_ps",
                                  "bpf.biolat.dev_evicted_ps"};
    enum { NH = VG_ARRAY_LEN(host_level), NN = VG_ARRAY_LEN(never), SVC = 40, PER = 12 };
    enum { N = NH + NN + 8 + SVC * PER };
    static char names_buf[N][96];
    struct vg_metric m[N];
    size_t n = 0;
    for (size_t i = 0; i < NH; i++)
        snprintf(names_buf[n++], sizeof names_buf[0], "%s", host_level[i]);
    for (size_t i = 0; i < NN; i++)
        snprintf(names_buf[n++], sizeof names_buf[0], "%s", never[i]);
    for (int c = 0; c < 8; c++)
        snprintf(names_buf[n++], sizeof names_buf[0], "cpu.%d.user_pct", c);
    for (int svc = 0; svc < SVC; svc++)
        for (int k = 0; k < PER; k++)
            snprintf(names_buf[n++], sizeof names_buf[0], "cgroup.system.slice.svc%02d.m%02d", svc,
                     k);
    assert_int_equal(n, N);
    for (size_t i = 0; i < n; i++)
        m[i] = (struct vg_metric){names_buf[i], (double)i};

    struct vg_fleet_params p = params();
    p.dir = NULL;
    p.max_metrics = 128;
    p.metrics = VG_COLSEL_DEFAULT;
    struct vg_fleet *f;
    char err[VG_ERRLEN];
    assert_int_equal(vg_fleet_new(&f, &p, &cpu, NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(vg_fleet_put(f, "web", "h1", m, n, err, sizeof(err)), 0);
    struct vg_fleet_host_state hs;
    assert_int_equal(vg_fleet_host_export(f, "h1", &hs, err, sizeof(err)), 0);
    assert_int_equal(hs.m, 128);
    size_t first_cpu_n = hs.m, last_host_level = 0, first_cgroup = hs.m;
    for (uint32_t j = 0; j < hs.m; j++) {
        for (size_t i = 0; i < NN; i++)
            if (strcmp(hs.cols[j], never[i]) == 0)
                fail_msg("column %u is %s", j, never[i]);
        for (size_t i = 0; i < NH; i++)
            if (strcmp(hs.cols[j], host_level[i]) == 0 && j > last_host_level)
                last_host_level = j;
        if (strncmp(hs.cols[j], "cpu.", 4) == 0 && hs.cols[j][4] >= '0' && hs.cols[j][4] <= '9' &&
            j < first_cpu_n)
            first_cpu_n = j;
        if (strncmp(hs.cols[j], "cgroup.", 7) == 0 && j < first_cgroup)
            first_cgroup = j;
    }
    printf("  %zu metrics: columns 0-%zu host-level (%s first), cgroups from %zu to %u, per-CPU "
           "shares %s\n",
           n, last_host_level, hs.cols[0], first_cgroup, hs.m - 1,
           first_cpu_n < hs.m ? "taken" : "left out");
    /* Every host-level metric is a column, all before the cgroups, which fill the rest. */
    assert_int_equal(last_host_level, NH - 1);
    assert_int_equal(first_cgroup, NH);
    assert_int_equal(first_cpu_n, hs.m);
    assert_string_equal(hs.cols[0], "cpu.iowait_pct"); /* first pattern, then by name */
    free_host_state(&hs);

    /* By name alone (no patterns: every metric, sorted), the same host gets no CPU at all. */
    vg_fleet_free(f);
    p.metrics = NULL;
    assert_int_equal(vg_fleet_new(&f, &p, &cpu, NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(vg_fleet_put(f, "web", "h1", m, n, err, sizeof(err)), 0);
    assert_int_equal(vg_fleet_host_export(f, "h1", &hs, err, sizeof(err)), 0);
    for (uint32_t j = 0; j < hs.m; j++)
        assert_true(strncmp(hs.cols[j], "bpf.", 4) == 0 || strncmp(hs.cols[j], "cgroup.", 7) == 0);
    free_host_state(&hs);
    vg_fleet_free(f);
}

/* model.metrics is checked when the analyzer starts: each fault named, none accepted. */
static void test_bad_metric_patterns_are_refused_naming_the_fault(void **state)
{
    static const struct {
        const char *patterns, *msg;
    } cases[] = {
        {"cpu.*,,mem.*", "model.metrics: pattern 2 is empty"},
        {"cpu.*, ", "model.metrics: pattern 2 is empty"},
        {"!", "model.metrics: pattern 1 is a '!' with no glob"},
        {"!cgroup.*,!bpf.*", "model.metrics: only '!' patterns, so no metric would be taken (add "
                             "'*' to take the rest)"},
    };
    char err[VG_ERRLEN];
    struct vg_colsel *s;
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        assert_int_equal(vg_colsel_new(&s, cases[i].patterns, err, sizeof(err)), -EINVAL);
        assert_null(s);
        assert_string_equal(err, cases[i].msg);
    }
    char many[4096] = "";
    for (int i = 0; i <= VG_COLSEL_MAX_PATTERNS; i++)
        strcat(many, i ? ",a*" : "a*");
    assert_int_equal(vg_colsel_new(&s, many, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "model.metrics: more than 64 patterns");
    char longp[VG_COLSEL_MAX_PATTERN + 2];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    assert_int_equal(vg_colsel_new(&s, longp, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "model.metrics: pattern 1 is longer than 200 bytes");

    /* Spaces around patterns are ignored; a metric no pattern matches is not taken. */
    assert_int_equal(vg_colsel_new(&s, " mem.* , cpu.* ", err, sizeof(err)), 0);
    const char *names_in[] = {"net.rx", "cpu.b", "mem.x", "cpu.a", "cpu.a"};
    size_t picked;
    assert_int_equal(vg_colsel_pick(s, names_in, 5, 10, &picked), 0);
    assert_int_equal(picked, 3);
    assert_string_equal(names_in[0], "mem.x");
    assert_string_equal(names_in[1], "cpu.a");
    assert_string_equal(names_in[2], "cpu.b");
    assert_int_equal(vg_colsel_pick(s, names_in, 5, 2, &picked), 0);
    assert_int_equal(picked, 2);
    vg_colsel_free(s);

    /* A reserved name (host:..., refused by the engine) is no column, even under '*'. */
    assert_int_equal(vg_colsel_new(&s, "host:*,*", err, sizeof(err)), 0);
    const char *with_reserved[] = {"host:mv", "cpu.a"};
    assert_int_equal(vg_colsel_pick(s, with_reserved, 2, 10, &picked), 0);
    assert_int_equal(picked, 1);
    assert_string_equal(with_reserved[0], "cpu.a");
    vg_colsel_free(s);
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

/* A value beyond a float's range (a counter glitch, a unit error: 1e39 to 1e308) is the far
 * outlier it is, not a missing value: the model reads floats, and such a double made +inf there,
 * which the normaliser takes for "did not report", so the metric was neither scored nor named. */
static void test_a_value_beyond_a_float_is_scored_as_an_outlier_not_missing(void **state)
{
    struct vg_fleet_params p = params();
    p.dir = NULL;
    struct seen sn = {.host = "web-00"};
    struct vg_fleet *f;
    char err[VG_ERRLEN];
    assert_int_equal(vg_fleet_new(&f, &p, &cpu, on_score, &sn, err, sizeof(err)), 0);
    float max_normal = 0;
    for (uint64_t t = 0; t < 400; t++) {
        put_tick(f, 1, t, -1);
        if (t > 300)
            max_normal = fmaxf(max_normal, sn.score);
    }
    const double huge[] = {1e39, 1e300, -1e300};
    for (size_t k = 0; k < VG_ARRAY_LEN(huge); k++) {
        struct vg_metric m[NM];
        for (int j = 0; j < NM; j++) {
            m[j].name = names[j];
            m[j].value = value(0, 400 + k, j);
        }
        m[2].value = huge[k];
        assert_int_equal(vg_fleet_put(f, "web", "web-00", m, NM, err, sizeof(err)), 0);
        assert_int_equal(vg_fleet_step(f, err, sizeof(err)), 0);
        printf("  load_1=%g: score %.2f (normal max %.2f), top %s\n", huge[k], sn.score, max_normal,
               sn.top[0] ? sn.top[0] : "-");
        assert_true(sn.score > 2 * max_normal);
        assert_non_null(sn.top[0]);
        assert_string_equal(sn.top[0], "load_1");
    }
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

/* A fleet with p whose 2 hosts learned ticks ticks, checkpointed to dir and freed. */
/* Sets path's modification time to secs_ago seconds before now. */
static void set_age(const char *path, int secs_ago)
{
    struct timespec ts[2];
    assert_int_equal(clock_gettime(CLOCK_REALTIME, &ts[0]), 0);
    ts[0].tv_sec -= secs_ago;
    ts[1] = ts[0];
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void save_trained_hosts(const struct vg_fleet_params *p, int hosts, uint64_t ticks)
{
    struct vg_fleet *f;
    char err[VG_ERRLEN];
    assert_int_equal(vg_fleet_new(&f, p, &cpu, NULL, NULL, err, sizeof(err)), 0);
    for (uint64_t t = 0; t < ticks; t++)
        put_tick(f, hosts, t, -1);
    assert_int_equal(vg_fleet_save(f, err, sizeof(err)), 0);
    vg_fleet_free(f);
}

static void save_trained(const struct vg_fleet_params *p, uint64_t ticks)
{
    save_trained_hosts(p, 2, ticks);
}

/* A fleet with p that loads dir and refuses its one checkpoint: no group resumed. The caller
 * frees it. */
static struct vg_fleet *load_refusing_the_checkpoint(const struct vg_fleet_params *p)
{
    struct vg_fleet *f;
    char err[VG_ERRLEN];
    assert_int_equal(vg_fleet_new(&f, p, &cpu, NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(vg_fleet_load(f, err, sizeof(err)), 0);
    struct vg_fleet_stats st;
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.ckpt_refused, 1);
    assert_int_equal(st.groups, 0);
    return f;
}

static void test_corrupt_checkpoint_is_refused_and_the_group_starts_fresh(void **state)
{
    struct vg_fleet_params p = params();
    struct vg_fleet *f;
    char path[300];
    save_trained(&p, 30);
    snprintf(path, sizeof(path), "%s/web.ckpt", dir);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, 300, SEEK_SET);
    int c = fgetc(fp);
    fseek(fp, 300, SEEK_SET);
    fputc(c ^ 0xff, fp);
    fclose(fp);
    f = load_refusing_the_checkpoint(&p);
    /* Fresh: the hosts come back as new ones. */
    put_tick(f, 2, 30, -1);
    struct vg_fleet_score s;
    assert_int_equal(vg_fleet_host(f, "web-01", &s), 0);
    assert_int_equal(s.age, 1);
    vg_fleet_free(f);
}

/* Removes the refused checkpoints of group "web" that the tests before left (a refused file is
 * kept as web.ckpt.refused, then .refused.1, ...). */
static void clear_refused(void)
{
    char path[320];
    for (int n = 0; n < 10; n++) {
        if (n)
            snprintf(path, sizeof(path), "%s/web.ckpt.refused.%d", dir, n);
        else
            snprintf(path, sizeof(path), "%s/web.ckpt.refused", dir);
        unlink(path);
    }
}

/* Puts the checkpoint of group "web" that a load refused (kept as web.ckpt.refused) back. */
static void restore_refused(void)
{
    char from[320], to[300];
    snprintf(to, sizeof(to), "%s/web.ckpt", dir);
    snprintf(from, sizeof(from), "%s.refused", to);
    assert_int_equal(rename(from, to), 0);
}

/* The bytes of path (*len of them; the caller frees), or NULL when it cannot be read. */
static unsigned char *file_bytes(const char *path, long *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    *len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)*len + 1);
    if (b && fread(b, 1, (size_t)*len, fp) != (size_t)*len) {
        free(b);
        b = NULL;
    }
    fclose(fp);
    return b;
}

/* A refused checkpoint was overwritten by its group's next checkpoint: a temporary downgrade (a
 * file of a newer format version) destroyed the newer model. It is kept as NAME.refused, then
 * NAME.refused.1, its bytes as they were. */
static void test_a_refused_checkpoint_is_kept_beside_the_new_one(void **state)
{
    (void)state;
    struct vg_fleet_params p = params();
    char path[300], kept[320];
    snprintf(path, sizeof(path), "%s/web.ckpt", dir);
    clear_refused();
    for (int round = 0; round < 2; round++) {
        save_trained(&p, 30);
        long len = 0, got_len = 0;
        unsigned char *b = file_bytes(path, &len);
        assert_non_null(b);
        assert_true(len > 12);
        b[8] ^= 0x7f; /* the format version */
        FILE *fp = fopen(path, "wb");
        assert_non_null(fp);
        assert_int_equal(fwrite(b, 1, (size_t)len, fp), (size_t)len);
        fclose(fp);
        struct vg_fleet *f = load_refusing_the_checkpoint(&p);
        put_tick(f, 2, 30, -1);
        char err[VG_ERRLEN];
        assert_int_equal(vg_fleet_save(f, err, sizeof(err)), 0);
        vg_fleet_free(f);
        if (round)
            snprintf(kept, sizeof(kept), "%s.refused.%d", path, round);
        else
            snprintf(kept, sizeof(kept), "%s.refused", path);
        unsigned char *got = file_bytes(kept, &got_len);
        assert_non_null(got);
        assert_int_equal(got_len, len);
        assert_memory_equal(got, b, (size_t)len);
        free(got);
        free(b);
        /* The new checkpoint is the fresh group's, and is taken. */
        struct vg_fleet *g;
        assert_int_equal(vg_fleet_new(&g, &p, &cpu, NULL, NULL, err, sizeof(err)), 0);
        assert_int_equal(vg_fleet_load(g, err, sizeof(err)), 1);
        vg_fleet_free(g);
    }
    clear_refused();
    unlink(path); /* the tests after count the groups they load */
}

/* A checkpoint that lists one host twice (edited here, its checksum made good again) would give
 * that host two rows, and dropping it would leave one behind: refused as a whole. */
static void test_checkpoint_listing_a_host_twice_is_refused(void **state)
{
    (void)state;
    struct vg_fleet_params p = params();
    struct vg_fleet *f;
    char path[300];
    save_trained(&p, 30);
    snprintf(path, sizeof(path), "%s/web.ckpt", dir);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    unsigned char *b = malloc((size_t)len);
    fseek(fp, 0, SEEK_SET);
    assert_int_equal(fread(b, 1, (size_t)len, fp), (size_t)len);
    unsigned char *at = memmem(b, (size_t)len, "web-00\0web-01", 13);
    assert_non_null(at);
    at[12] = '0'; /* web-01 -> web-00 */
    uint32_t crc = vg_ckpt_crc32(0, b, (size_t)len - 4);
    memcpy(b + len - 4, &crc, 4);
    fseek(fp, 0, SEEK_SET);
    assert_int_equal(fwrite(b, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    free(b);
    f = load_refusing_the_checkpoint(&p);
    vg_fleet_free(f);
}

/* Checkpoints group (two hosts, trained), resumes it, and removes its file: the one whose name
 * starts with file_start, which must leave room for the ".tmp" of the temp file it is written
 * through (255 bytes in all). Returns the file name's length. */
static size_t checkpoint_and_resume(const char *group, const char *file_start)
{
    struct vg_fleet_params p = params();
    struct vg_fleet *f, *g;
    char err[VG_ERRLEN];
    assert_int_equal(vg_fleet_new(&f, &p, &cpu, NULL, NULL, err, sizeof(err)), 0);
    for (uint64_t t = 0; t < 30; t++) {
        for (int h = 0; h < 2; h++) {
            struct vg_metric m[NM];
            for (int j = 0; j < NM; j++) {
                m[j].name = names[j];
                m[j].value = value(h, t, j);
            }
            char host[32];
            snprintf(host, sizeof(host), "db-%02d", h);
            assert_int_equal(vg_fleet_put(f, group, host, m, NM, err, sizeof(err)), 0);
        }
        assert_int_equal(vg_fleet_step(f, err, sizeof(err)), 0);
    }
    if (vg_fleet_save(f, err, sizeof(err)) != 0)
        fail_msg("save: %s", err);
    vg_fleet_free(f);
    assert_int_equal(vg_fleet_new(&g, &p, &cpu, NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(vg_fleet_load(g, err, sizeof(err)), 1);
    struct vg_fleet_stats st;
    vg_fleet_get_stats(g, &st);
    assert_int_equal(st.hosts, 2);
    vg_fleet_free(g);
    /* Its file goes, so that the next tests find only their own. */
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int removed = 0;
    size_t len = 0;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, file_start, strlen(file_start)) != 0)
            continue;
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        len = strlen(e->d_name);
        printf("  group's file: %s (%zu bytes of name)\n", e->d_name, len);
        assert_true(len + strlen(".tmp") <= 255);
        removed += unlink(path) == 0;
    }
    closedir(d);
    assert_int_equal(removed, 1);
    return len;
}

/* A group's name is a label value: up to 256 bytes, in UTF-8, whose bytes triple as %XX in the
 * file name. Such a group is still checkpointed (its file name ends in a hash) and resumed. */
static void test_a_group_with_a_long_utf8_name_is_checkpointed_and_resumed(void **state)
{
    (void)state;
    char group[257] = "";
    for (int i = 0; i < 128; i++)
        strcat(group, "\xc3\xa9"); /* 128 x U+00E9: 256 bytes, 768 once escaped */
    checkpoint_and_resume(group, "%C3%A9");
}

/* A name of 247 to 250 bytes once escaped: NAME.ckpt fits in a file name (255 bytes), but the
 * NAME.ckpt.tmp it is written through did not, and every save failed with ENAMETOOLONG. Its file
 * name now ends in a hash too; one of 246 bytes keeps its name, as files already written have. */
static void test_a_group_name_whose_temp_file_name_would_be_too_long_is_hashed(void **state)
{
    (void)state;
    char group[260];
    memset(group, 'a', 248);
    group[248] = '\0';
    assert_int_equal(checkpoint_and_resume(group, "aaaa"), 200 + 17 + strlen(".ckpt"));
    group[246] = '\0';
    assert_int_equal(checkpoint_and_resume(group, "aaaa"), 246 + strlen(".ckpt"));
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
    save_trained(&p, 20);
    f = load_refusing_the_checkpoint(&q);
    vg_fleet_free(f);
}

/* Loads dir's checkpoints into a new fleet with p, the warnings the load logs into log. */
static struct vg_fleet *load_logged(const struct vg_fleet_params *p, int want_loaded, char *log,
                                    size_t loglen)
{
    struct vg_fleet *f;
    char err[VG_ERRLEN], path[300];
    snprintf(path, sizeof(path), "%s/load.log", dir);
    fflush(stderr);
    int saved = dup(2), fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    assert_int_equal(vg_fleet_new(&f, p, &cpu, NULL, NULL, err, sizeof(err)), 0);
    int loaded = vg_fleet_load(f, err, sizeof(err));
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, log, loglen - 1, 0);
    close(fd);
    log[n > 0 ? n : 0] = 0;
    assert_int_equal(loaded, want_loaded);
    return f;
}

/* A fleet with hs_params() (*p) trained 150 ticks on 4 hosts and saved (*trained, kept running),
 * and its checkpoint loaded into a new fleet whose model.top_k and host top_k are one less (*q),
 * the warnings the load logs into log. The caller frees both. */
static struct vg_fleet *fleet_reloaded_with_top_k_one_less(struct vg_fleet **trained,
                                                           struct vg_fleet_params *p,
                                                           struct vg_fleet_params *q, char *log,
                                                           size_t loglen)
{
    char err[VG_ERRLEN];
    *p = hs_params();
    clear_refused();
    assert_int_equal(vg_fleet_new(trained, p, &cpu, NULL, NULL, err, sizeof(err)), 0);
    for (uint64_t t = 0; t < 150; t++)
        put_tick(*trained, 4, t, -1);
    assert_int_equal(vg_fleet_save(*trained, err, sizeof(err)), 0);
    *q = *p;
    q->mv.score.top_k = p->mv.score.top_k - 1;
    q->hs.top_k = p->hs.top_k - 1;
    return load_logged(q, 1, log, loglen);
}

/* Frees the fleets of a top_k test and removes their group's checkpoint: the tests after count
 * the groups they load. */
static void free_both_and_remove_the_checkpoint(struct vg_fleet *f, struct vg_fleet *g)
{
    vg_fleet_free(f);
    vg_fleet_free(g);
    char path[300];
    snprintf(path, sizeof(path), "%s/web.ckpt", dir);
    unlink(path);
}

/* model.top_k picks which errors are averaged into a score; the weights and host rows do not
 * depend on it. A change threw every group's trained weights away ("incompatible model
 * (checkpoint has top_k 3, not 2)"); the group now resumes its weights, and only its hosts'
 * calibrations, fitted on the other average, learn again (logged). */
static void test_a_top_k_change_keeps_the_groups_weights(void **state)
{
    (void)state;
    struct vg_fleet_params p, q;
    struct vg_fleet *f, *g;
    char log[4096];
    g = fleet_reloaded_with_top_k_one_less(&f, &p, &q, log, sizeof(log));
    printf("  %s", log);
    struct vg_fleet_stats st;
    vg_fleet_get_stats(g, &st);
    assert_int_equal(st.ckpt_refused, 0);
    assert_int_equal(st.hosts, 4);
    assert_non_null(strstr(log, "msg=\"model.top_k changed: group resumes its weights, its hosts' "
                                "calibration learns again\""));
    /* The weights are the saved ones: the model's largest errors agree with the fleet that kept
     * running (its score, their mean over top_k, cannot), and the calibration learns again. */
    put_tick(f, 4, 150, -1);
    put_tick(g, 4, 150, -1);
    struct vg_fleet_score a, b;
    assert_int_equal(vg_fleet_host(f, "web-01", &a), 0);
    assert_int_equal(vg_fleet_host(g, "web-01", &b), 0);
    assert_int_equal(a.hs_rc, 0);
    assert_int_not_equal(b.hs_rc, 0);
    assert_int_equal(a.n_top, p.mv.score.top_k);
    assert_int_equal(b.n_top, q.mv.score.top_k);
    for (uint32_t k = 0; k < b.n_top; k++) {
        assert_string_equal(a.top[k], b.top[k]);
        assert_memory_equal(&a.top_err[k], &b.top_err[k], sizeof(float));
    }
    free_both_and_remove_the_checkpoint(f, g);
}

/* The state-topic restore runs after the checkpoints load: a host's record carries a
 * calibration fitted on the mean of the old top_k errors, and nothing in it says which top_k.
 * Imported into a group whose checkpoint had another top_k, the host learns it again, as the
 * hosts that came only from the checkpoint do (logged once for the group). */
static void test_a_host_restored_after_a_top_k_change_learns_its_calibration_again(void **state)
{
    (void)state;
    struct vg_fleet_params p, q;
    struct vg_fleet *f, *g;
    char err[VG_ERRLEN], log[4096];
    g = fleet_reloaded_with_top_k_one_less(&f, &p, &q, log, sizeof(log));
    int saved = log_begin();
    for (int h = 0; h < 2; h++) {
        char host[16];
        snprintf(host, sizeof(host), "web-%02d", h);
        struct vg_fleet_host_state hs;
        assert_int_equal(vg_fleet_host_export(f, host, &hs, err, sizeof(err)), 0);
        assert_non_null(hs.hscore);
        int fresh = 1;
        assert_int_equal(vg_fleet_host_import(g, host, &hs, &fresh, err, sizeof(err)), 0);
        assert_int_equal(fresh, 0); /* the weights are trained: only the calibration is stale */
        free_host_state(&hs);
    }
    log_end(saved, log, sizeof(log));
    printf("  %s", log);
    const char *msg = "msg=\"model.top_k changed: hosts restored into this group learn their "
                      "calibration again\"";
    assert_int_equal(count_of(log, msg), 1); /* once for the group, not once per host */
    put_tick(f, 4, 150, -1);
    put_tick(g, 4, 150, -1);
    for (int h = 0; h < 3; h++) {
        char host[16];
        snprintf(host, sizeof(host), "web-%02d", h);
        struct vg_fleet_score a, b;
        assert_int_equal(vg_fleet_host(f, host, &a), 0);
        assert_int_equal(vg_fleet_host(g, host, &b), 0);
        assert_int_equal(a.hs_rc, 0);
        assert_int_not_equal(b.hs_rc, 0); /* imported (web-00, web-01) or not: learning again */
    }
    free_both_and_remove_the_checkpoint(f, g);
}

/* A group's columns are fixed when it is made, by the patterns (model.metrics) of the analyzer
 * that made it. A checkpoint written under other ones (an analyzer from before the patterns took
 * the first names in byte order) would keep its columns for good; it is refused, naming where the
 * columns differ, and the group is made again with the configured patterns. Patterns that choose
 * the same columns load it. */
static void test_checkpoint_whose_columns_other_patterns_chose_is_refused(void **state)
{
    struct vg_fleet_params p = params(); /* no patterns: every name, in byte order */
    struct vg_fleet *f;
    char err[VG_ERRLEN], log[4096];
    save_trained(&p, 20);
    clear_refused();

    p.metrics = "*"; /* the same choice, written differently */
    vg_fleet_free(load_logged(&p, 1, log, sizeof(log)));

    p.metrics = "load_*,mem_*,*";
    f = load_logged(&p, 0, log, sizeof(log));
    restore_refused();
    printf("  %s", log);
    assert_non_null(strstr(log, "column 1 is cpu_sys, these put load_1 there"));
    struct vg_fleet_stats st;
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.ckpt_refused, 1);
    assert_int_equal(st.groups, 0);
    put_tick(f, 2, 20, -1);
    struct vg_fleet_host_state hs;
    assert_int_equal(vg_fleet_host_export(f, "web-00", &hs, err, sizeof(err)), 0);
    assert_string_equal(hs.cols[0], "load_1");
    assert_string_equal(hs.cols[1], "mem_used");
    free_host_state(&hs);
    vg_fleet_free(f);

    p.metrics = "!net_*,*";
    f = load_logged(&p, 0, log, sizeof(log));
    restore_refused();
    printf("  %s", log);
    assert_non_null(strstr(log, "these leave out 2 of its 12 columns, e.g. net_rx"));
    vg_fleet_free(f);
}

/* Loads dir, which holds two files of group "web", into a new fleet with p: the group resumes
 * from one, with hosts hosts, and the other is refused. The load's log goes into log. */
static struct vg_fleet *
load_one_file_of_the_group_refusing_the_other(const struct vg_fleet_params *p, int hosts, char *log,
                                              size_t loglen)
{
    struct vg_fleet *f = load_logged(p, 1, log, loglen);
    printf("  %s", log);
    struct vg_fleet_stats st;
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.groups, 1);
    assert_int_equal(st.hosts, hosts);
    assert_int_equal(st.ckpt_loaded, 1);
    assert_int_equal(st.ckpt_refused, 1);
    return f;
}

/* A second file holding group "web" (aaa.ckpt, a backup copy of an older web.ckpt): the group's
 * own file won or lost by directory order, the newer model was set aside as refused, and the log
 * said the group started fresh although it had resumed from the copy. The group's own file is
 * loaded; the copy is refused naming the file the group came from, and set aside. A copy alone
 * (no web.ckpt) still loads. */
static void test_a_copy_of_a_groups_checkpoint_never_outranks_its_own_file(void **state)
{
    (void)state;
    struct vg_fleet_params p = params();
    struct vg_fleet *f;
    char log[4096], own[300], copy[300], kept[320];
    snprintf(own, sizeof(own), "%s/web.ckpt", dir);
    snprintf(copy, sizeof(copy), "%s/aaa.ckpt", dir);
    snprintf(kept, sizeof(kept), "%s.refused", copy);
    clear_refused();
    unlink(kept);
    /* The copy: 3 hosts. The group's own file: 2 hosts. The copy is the newer file (a backup
     * restored with cp, say), so that the own file wins as the own file, not as the newest. */
    save_trained_hosts(&p, 3, 30);
    assert_int_equal(rename(own, copy), 0);
    save_trained(&p, 60);
    set_age(own, 600);
    set_age(copy, 0);

    f = load_one_file_of_the_group_refusing_the_other(&p, 2, log, sizeof(log));
    struct vg_fleet_stats st;
    assert_null(strstr(log, "starts fresh"));
    assert_non_null(strstr(log, "msg=\"model checkpoint refused, its group resumes from another "
                                "file\" group=\"web\" loaded_from="));
    assert_non_null(strstr(log, "aaa.ckpt holds group web, already loaded from "));
    assert_int_equal(access(own, F_OK), 0);
    assert_int_equal(access(copy, F_OK), -1);
    assert_int_equal(access(kept, F_OK), 0);
    vg_fleet_free(f);

    /* The copy alone: the group resumes from it. */
    unlink(own);
    assert_int_equal(rename(kept, copy), 0);
    f = load_logged(&p, 1, log, sizeof(log));
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.hosts, 3);
    assert_int_equal(st.ckpt_refused, 0);
    vg_fleet_free(f);
    unlink(copy); /* the tests after count the groups they load */
}

/* With no file of its own (web.ckpt lost), a group found only in copies resumes from the newest
 * of them by modification time, whichever comes first by name or directory order; the other is
 * refused naming the file the group came from. */
static void test_the_newest_of_several_copies_of_a_group_without_its_own_file_loads(void **state)
{
    (void)state;
    struct vg_fleet_params p = params();
    struct vg_fleet *f;
    char log[4096], own[300], a[300], z[300], ka[320], kz[320];
    snprintf(own, sizeof(own), "%s/web.ckpt", dir);
    snprintf(a, sizeof(a), "%s/aaa.ckpt", dir);
    snprintf(z, sizeof(z), "%s/zzz.ckpt", dir);
    snprintf(ka, sizeof(ka), "%s.refused", a);
    snprintf(kz, sizeof(kz), "%s.refused", z);
    clear_refused();
    unlink(ka);
    unlink(kz);
    /* aaa.ckpt: 3 hosts; zzz.ckpt: 2 hosts. */
    save_trained_hosts(&p, 3, 30);
    assert_int_equal(rename(own, a), 0);
    save_trained(&p, 60);
    assert_int_equal(rename(own, z), 0);
    for (int round = 0; round < 2; round++) {
        const char *newer = round == 0 ? a : z, *older = round == 0 ? z : a;
        set_age(older, 600);
        set_age(newer, 0);
        f = load_one_file_of_the_group_refusing_the_other(&p, round == 0 ? 3 : 2, log, sizeof(log));
        const char *base = strrchr(older, '/') + 1;
        char want[64];
        snprintf(want, sizeof(want), "%s holds group web, already loaded from ", base);
        assert_non_null(strstr(log, want));
        assert_int_equal(access(newer, F_OK), 0);
        char kept[320];
        snprintf(kept, sizeof(kept), "%s.refused", older);
        assert_int_equal(rename(kept, older), 0);
        vg_fleet_free(f);
    }
    unlink(a); /* the tests after count the groups they load */
    unlink(z);
}

/* A checkpoint of more columns than model.max_metrics (written before the key was lowered) is
 * refused as a configuration matter, naming both numbers, not as a corrupt file ("bad metric
 * list"); raised back, the same file loads. */
static void test_checkpoint_wider_than_max_metrics_is_refused_naming_both(void **state)
{
    struct vg_fleet_params p = params(); /* max_metrics 64: all 12 columns */
    struct vg_fleet *f;
    char log[4096];
    save_trained(&p, 20);
    clear_refused();
    p.max_metrics = 4;
    f = load_logged(&p, 0, log, sizeof(log));
    restore_refused();
    printf("  %s", log);
    assert_non_null(strstr(log, "checkpoint has 12 columns, model.max_metrics is 4"));
    assert_null(strstr(log, "bad metric list"));
    vg_fleet_free(f);
    p.max_metrics = 12;
    vg_fleet_free(load_logged(&p, 1, log, sizeof(log)));
}

/* ---- tick queues ---- */

#define QH 4   /* hosts */
#define QT 160 /* ticks */

/* Every result a fleet gave, per host in the order given. */
struct trace {
    int n[QH], overflow;
    float score[QH][QT];
    double hs[QH][QT], raw[QH][QT];
    int rc[QH][QT];
    int64_t ts[QH][QT];
};

static void on_trace(void *ud, const struct vg_fleet_score *s)
{
    struct trace *tr = ud;
    int h = atoi(s->host + 4); /* "web-NN" */
    if (h < 0 || h >= QH || tr->n[h] >= QT) {
        tr->overflow++;
        return;
    }
    int k = tr->n[h]++;
    tr->score[h][k] = s->score;
    tr->hs[h][k] = s->hs_score;
    tr->raw[h][k] = s->hs_raw;
    tr->rc[h][k] = s->hs_rc;
    tr->ts[h][k] = s->ts_ms;
}

/* Tick t of host h, event time t seconds; from tick 100 (the host scores have calibrated), every
 * tenth tick one host is anomalous. */
static void put_one(struct vg_fleet *f, int h, uint64_t t)
{
    char err[VG_ERRLEN], host[32];
    struct vg_metric m[NM];
    for (int j = 0; j < NM; j++) {
        m[j].name = names[j];
        m[j].value = value(h, t, j);
    }
    if (t >= 100 && t % 10 == 5 && (int)(t / 10) % QH == h) {
        m[2].value += 4 * (1 + 0.2 * 2);
        m[4].value -= 4 * (1 + 0.2 * 4);
    }
    snprintf(host, sizeof(host), "web-%02d", h);
    assert_int_equal(vg_fleet_put_at(f, "web", host, (int64_t)t * 1000, m, NM, err, sizeof(err)),
                     0);
}

/* Tick 0 of every host, then a step: every host is in the group and none has a tick queued. */
static void put_first(struct vg_fleet *f, int hosts)
{
    char err[VG_ERRLEN];
    for (int h = 0; h < hosts; h++)
        put_one(f, h, 0);
    assert_int_equal(vg_fleet_step(f, err, sizeof(err)), 0);
}

static struct vg_fleet_params queue_params(uint32_t depth)
{
    struct vg_fleet_params p = hs_params();
    p.dir = NULL;
    p.step_when_complete = 1;
    p.queue_ticks = depth;
    return p;
}

static uint64_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* Ticks 1..QT-1 in a random interleaving where no host gets `ahead` or more ticks ahead of the
 * slowest (a backlog read a partition at a time). */
static void put_shuffled(struct vg_fleet *f, uint64_t seed, int ahead)
{
    uint64_t next[QH], rs = seed;
    for (int h = 0; h < QH; h++)
        next[h] = 1;
    for (;;) {
        uint64_t lo = QT;
        for (int h = 0; h < QH; h++)
            lo = next[h] < lo ? next[h] : lo;
        if (lo == QT)
            break;
        int h = (int)(rng_next(&rs) % QH);
        if (next[h] < QT && next[h] - lo < (uint64_t)ahead)
            put_one(f, h, next[h]++);
    }
}

static int traces_equal(const struct trace *a, const struct trace *b)
{
    for (int h = 0; h < QH; h++) {
        if (a->n[h] != b->n[h])
            return 0;
        for (int k = 0; k < a->n[h]; k++)
            if (memcmp(&a->score[h][k], &b->score[h][k], sizeof(float)) ||
                memcmp(&a->hs[h][k], &b->hs[h][k], sizeof(double)) ||
                memcmp(&a->raw[h][k], &b->raw[h][k], sizeof(double)) ||
                a->rc[h][k] != b->rc[h][k] || a->ts[h][k] != b->ts[h][k])
                return 0;
    }
    return 1;
}

/* What the traces compare is not trivial: every host's host score calibrated (hs_rc 0), and the
 * anomalies (put_one) scored well above the normal ticks. */
static void assert_meaningful(const struct trace *tr, int hosts)
{
    float normal = 0, anomaly = 0;
    for (int h = 0; h < hosts; h++) {
        int calibrated = 0;
        for (int k = 0; k < tr->n[h]; k++) {
            uint64_t t = (uint64_t)(tr->ts[h][k] / 1000);
            calibrated += tr->rc[h][k] == 0;
            if (t >= 100 && t % 10 == 5 && (int)(t / 10) % QH == h)
                anomaly = fmaxf(anomaly, tr->score[h][k]);
            else if (t >= 60 && isfinite(tr->score[h][k]))
                normal = fmaxf(normal, tr->score[h][k]);
        }
        assert_true(calibrated > 0);
    }
    printf("  mv score: normal max %.2f, anomalies max %.2f\n", normal, anomaly);
    assert_true(anomaly > 3 * normal);
}

static void test_any_interleaving_of_a_groups_ticks_scores_as_in_order(void **state)
{
    const uint32_t D = 8;
    struct vg_fleet_params p = queue_params(D), one = queue_params(1);
    struct trace *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b)), *c = calloc(1, sizeof(*c));
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    struct vg_fleet *fa, *fb, *fc;
    char err[VG_ERRLEN];
    assert_int_equal(vg_fleet_new(&fa, &p, &cpu, on_trace, a, err, sizeof(err)), 0);
    assert_int_equal(vg_fleet_new(&fb, &p, &cpu, on_trace, b, err, sizeof(err)), 0);
    assert_int_equal(vg_fleet_new(&fc, &one, &cpu, on_trace, c, err, sizeof(err)), 0);
    put_first(fa, QH);
    put_first(fb, QH);
    put_first(fc, QH);
    for (uint64_t t = 1; t < QT; t++)
        for (int h = 0; h < QH; h++)
            put_one(fa, h, t);
    put_shuffled(fb, 42, (int)D);
    put_shuffled(fc, 42, (int)D); /* the same order into queues of one tick */
    struct vg_fleet_stats sa, sb, sc;
    vg_fleet_get_stats(fa, &sa);
    vg_fleet_get_stats(fb, &sb);
    vg_fleet_get_stats(fc, &sc);
    printf(
        "  in order: %llu steps, queued max %llu; shuffled: %llu steps (%llu forced), queued max "
        "%llu; shuffled into 1-tick queues: %llu steps (%llu forced)\n",
        (unsigned long long)sa.steps, (unsigned long long)sa.ticks_queued_max,
        (unsigned long long)sb.steps, (unsigned long long)sb.steps_forced,
        (unsigned long long)sb.ticks_queued_max, (unsigned long long)sc.steps,
        (unsigned long long)sc.steps_forced);
    assert_int_equal(a->overflow + b->overflow + c->overflow, 0);
    /* Every tick of every host was scored, in lockstep, with the same results bit for bit. */
    for (int h = 0; h < QH; h++) {
        assert_int_equal(a->n[h], QT);
        for (int k = 0; k < QT; k++)
            assert_int_equal(a->ts[h][k], (int64_t)k * 1000);
    }
    assert_int_equal(sa.steps, sb.steps);
    assert_int_equal(sb.steps_forced, 0);
    assert_int_equal(sb.ticks_queued, 0);
    assert_int_equal(sb.hosts_absent, 0);
    assert_true(sb.ticks_queued_max > 2 * QH); /* it was not in order */
    assert_true(traces_equal(a, b));
    assert_meaningful(a, QH);
    /* Without room to queue, the same arrivals step early, with rows missing: not the same. */
    assert_true(sc.steps_forced > 0);
    assert_false(traces_equal(a, c));
    vg_fleet_free(fa);
    vg_fleet_free(fb);
    vg_fleet_free(fc);
    free(a);
    free(b);
    free(c);
}

/* Three hosts with queues of 4 ticks (no host scores), in step through tick 9; *tr is their
 * trace (calloc'd; the caller frees it, and the fleet). */
static struct vg_fleet *three_hosts_in_step(struct trace **tr)
{
    struct vg_fleet_params p = queue_params(4);
    p.host_score = 0;
    *tr = calloc(1, sizeof(**tr));
    assert_non_null(*tr);
    struct vg_fleet *f;
    char err[VG_ERRLEN];
    assert_int_equal(vg_fleet_new(&f, &p, &cpu, on_trace, *tr, err, sizeof(err)), 0);
    put_first(f, 3);
    for (uint64_t t = 1; t < 10; t++)
        for (int h = 0; h < 3; h++)
            put_one(f, h, t);
    return f;
}

static void test_a_host_that_stops_delays_its_group_once_and_rejoins_when_back(void **state)
{
    struct trace *tr;
    struct vg_fleet *f = three_hosts_in_step(&tr);
    struct vg_fleet_stats st;
    vg_fleet_get_stats(f, &st);
    uint64_t s0 = st.steps;
    assert_int_equal(st.ticks_queued, 0);
    /* web-02 stops: its group waits for it while the others queue their 4 ticks. */
    for (uint64_t t = 10; t < 14; t++)
        for (int h = 0; h < 2; h++)
            put_one(f, h, t);
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.steps, s0);
    assert_int_equal(st.ticks_queued, 8);
    assert_int_equal(st.ticks_queued_max, 8);
    /* A fifth tick does not fit: one step without web-02, which is now absent, and the group
     * catches up with what is complete without it (ticks 11-13). */
    put_one(f, 0, 14);
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.steps_forced, 1);
    assert_int_equal(st.hosts_absent, 1);
    assert_int_equal(st.steps, s0 + 4);
    assert_int_equal(st.ticks_queued, 1);
    assert_int_equal(tr->n[1], 14);
    assert_int_equal(tr->ts[1][13], 13000);
    /* From now on it steps on every tick, without waiting for web-02. */
    put_one(f, 1, 14);
    for (uint64_t t = 15; t < 20; t++)
        for (int h = 0; h < 2; h++)
            put_one(f, h, t);
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.steps, s0 + 10);
    assert_int_equal(st.steps_forced, 1);
    assert_int_equal(st.ticks_queued, 0);
    assert_int_equal(tr->n[0], 20);
    assert_int_equal(tr->n[2], 10); /* no result for the ticks it did not report */
    struct vg_fleet_score sc;
    assert_int_equal(vg_fleet_host(f, "web-02", &sc), 0);
    assert_int_equal(sc.ts_ms, 9000);
    /* It comes back: waited for again, its tick is stepped with the others' tick 20. */
    put_one(f, 0, 20);
    put_one(f, 2, 20);
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.hosts_absent, 0);
    assert_int_equal(st.steps, s0 + 10);
    put_one(f, 1, 20);
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.steps, s0 + 11);
    assert_int_equal(tr->n[2], 11);
    assert_int_equal(tr->ts[2][10], 20000);
    assert_true(isfinite(tr->score[2][10]));
    assert_int_equal(tr->n[0], 21);
    assert_int_equal(tr->n[1], 21);
    assert_int_equal(tr->overflow, 0);
    vg_fleet_free(f);
    free(tr);
}

/* A host whose ticks arrive late (a partition read after the others'), after its group already
 * stepped without it: each of them is still scored, once (they used to be skipped as owed to
 * those steps, and an anomaly in them was never seen); its full queue steps the group without the
 * others, which are then absent, and it is in step with its group again on the next tick. */
static void test_a_late_host_has_every_tick_scored_and_is_back_in_step(void **state)
{
    (void)state;
    struct trace *tr;
    struct vg_fleet *f = three_hosts_in_step(&tr);
    /* web-02's ticks 10-14 are late: the others' fill their queues and force the steps. */
    for (uint64_t t = 10; t < 15; t++)
        for (int h = 0; h < 2; h++)
            put_one(f, h, t);
    struct vg_fleet_stats st;
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.steps_forced, 1);
    assert_int_equal(st.ticks_queued, 0);
    int n2 = tr->n[2];
    for (uint64_t t = 10; t < 15; t++)
        put_one(f, 2, t);
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.ticks_queued, 0);
    assert_int_equal(tr->n[2], n2 + 5);
    for (int k = 0; k < 5; k++)
        assert_int_equal(tr->ts[2][n2 + k], 10000 + 1000 * k);
    /* Tick 15: all three step together, web-02 included, nothing left queued. */
    uint64_t s0 = st.steps;
    for (int h = 0; h < 3; h++)
        put_one(f, h, 15);
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.steps, s0 + 1);
    assert_int_equal(st.ticks_queued, 0);
    assert_int_equal(tr->ts[2][tr->n[2] - 1], 15000);
    assert_int_equal(tr->ts[0][tr->n[0] - 1], 15000);
    assert_int_equal(tr->overflow, 0);
    vg_fleet_free(f);
    free(tr);
}

/* One tick stamped a day ahead (an agent's clock stepped forward, then back): every later tick of
 * the host was taken as a redelivery (its event time not after the newest one) and skipped, so the
 * host's mv score stayed at tomorrow's tick until its clock passed it. Redeliveries are told by
 * boot and sequence before the fleet (vg_model_run_feed); each tick put here is scored once. */
static void test_a_tick_stamped_in_the_future_does_not_freeze_its_host(void **state)
{
    (void)state;
    struct trace *tr;
    struct vg_fleet *f = three_hosts_in_step(&tr);
    int n0 = tr->n[0];
    put_one(f, 0, 10 + 86400);
    put_one(f, 1, 10);
    put_one(f, 2, 10);
    for (uint64_t t = 11; t < 14; t++)
        for (int h = 0; h < 3; h++)
            put_one(f, h, t);
    assert_int_equal(tr->n[0], n0 + 4);
    assert_int_equal(tr->ts[0][n0], 86410000);
    for (int k = 1; k < 4; k++) {
        assert_int_equal(tr->ts[0][n0 + k], 10000 + 1000 * k);
        assert_true(isfinite(tr->score[0][n0 + k]));
    }
    struct vg_fleet_score sc;
    assert_int_equal(vg_fleet_host(f, "web-00", &sc), 0);
    assert_int_equal(sc.ts_ms, 13000);
    struct vg_fleet_stats st;
    vg_fleet_get_stats(f, &st);
    assert_int_equal(st.ticks_queued, 0);
    assert_int_equal(tr->overflow, 0);
    vg_fleet_free(f);
    free(tr);
}

/* Hosts 0 and 1 report every 10 s, host 2 every `every` x 10 s, for `ticks` of the fast hosts'
 * ticks (event time t x 10 s), host 2 before or after the others of its time; then whatever is
 * still queued is stepped. */
static void run_mixed_intervals(struct trace *tr, struct vg_fleet_stats *st, uint64_t every,
                                uint64_t ticks, int slow_first)
{
    struct vg_fleet_params p = queue_params(8);
    p.host_score = 0;
    struct vg_fleet *f;
    char err[VG_ERRLEN];
    assert_int_equal(vg_fleet_new(&f, &p, &cpu, on_trace, tr, err, sizeof(err)), 0);
    for (uint64_t t = 0; t < ticks; t++) {
        int slow = t % every == 0;
        if (slow && slow_first)
            put_one(f, 2, t * 10);
        put_one(f, 0, t * 10);
        put_one(f, 1, t * 10);
        if (slow && !slow_first)
            put_one(f, 2, t * 10);
    }
    for (int k = 0; k < 16; k++)
        assert_int_equal(vg_fleet_step(f, err, sizeof(err)), 0);
    vg_fleet_get_stats(f, st);
    vg_fleet_free(f);
}

/* Every message of host h (one every `every` x 10 s from event time 0, `n` of them) scored once,
 * in order. */
static void assert_each_scored_once(const struct trace *tr, int h, int n, uint64_t every)
{
    assert_int_equal(tr->n[h], n);
    for (int k = 0; k < n; k++)
        assert_int_equal(tr->ts[h][k], (int64_t)((uint64_t)k * every * 10 * 1000));
}

/* A host whose agent ticks every 60 s in a group of hosts ticking every 10 s (a mixed fleet, or
 * an interval changed in a rollout): the group steps without it between its ticks, and its ticks
 * were taken as owed to those steps and skipped (4 of 60 scored in an hour, then 32). Each is
 * scored once. */
static void test_a_host_with_a_longer_interval_than_its_group_is_still_scored(void **state)
{
    (void)state;
    struct trace *tr = calloc(1, sizeof(*tr));
    assert_non_null(tr);
    struct vg_fleet_params p = queue_params(8);
    p.host_score = 0;
    struct vg_fleet *f;
    char err[VG_ERRLEN];
    assert_int_equal(vg_fleet_new(&f, &p, &cpu, on_trace, tr, err, sizeof(err)), 0);
    /* Hosts 0 and 1 every 10 s, host 2 every 60 s (after them), for an hour. */
    for (uint64_t t = 0; t < 360; t++) {
        put_one(f, 0, t * 10);
        put_one(f, 1, t * 10);
        if (t % 6 == 0)
            put_one(f, 2, t * 10);
    }
    struct vg_fleet_stats st;
    vg_fleet_get_stats(f, &st);
    print_message("  60 s host scored %d of its 60 ticks\n", tr->n[2]);
    assert_each_scored_once(tr, 2, 60, 6);
    vg_fleet_free(f);
    free(tr);
}

/* A host whose agent sends every 20 s in a group whose other hosts send every 10 s: between two
 * of its messages the group steps once without it. Those steps were taken as steps it had missed,
 * and its next message as owed to them: skipped, so the mv model scored about every other one of
 * its messages, and an anomaly in the others went unseen. Every message of every host is scored
 * exactly once now, whichever comes first, and the group still steps once per tick of its
 * fastest hosts (one batched call each). */
static void test_every_message_of_a_host_with_a_longer_interval_is_scored_once(void **state)
{
    (void)state;
    for (int slow_first = 0; slow_first < 2; slow_first++) {
        struct trace *tr = calloc(1, sizeof(*tr));
        assert_non_null(tr);
        struct vg_fleet_stats st;
        run_mixed_intervals(tr, &st, 2, 150, slow_first);
        print_message("  20 s host %s: scored %d of its 75 messages, %llu steps (%llu forced) for "
                      "150 ticks\n",
                      slow_first ? "first" : "last", tr->n[2], (unsigned long long)st.steps,
                      (unsigned long long)st.steps_forced);
        assert_int_equal(tr->overflow, 0);
        assert_each_scored_once(tr, 2, 75, 2);
        assert_each_scored_once(tr, 0, 150, 1);
        assert_each_scored_once(tr, 1, 150, 1);
        assert_int_equal(st.ticks_queued, 0);
        /* One step per tick, and one more: the founding host's first, alone. */
        assert_int_equal(st.steps_forced, 0);
        assert_true(st.steps <= 151);
        free(tr);
    }
}

static void count_results(void *ud, const struct vg_fleet_score *s)
{
    (void)s;
    ++*(uint64_t *)ud;
}

/* A cold drain: an analyzer starting on a backlog that librdkafka hands it 20 ticks of one
 * partition at a time (4 partitions of 16 hosts, one group). The hosts of the later partitions
 * are behind the first ones' steps; their ticks used to be skipped as owed to those steps (2,560
 * of 6,400 scored, in 160 steps). Each is scored once now, in more steps (400: a full queue steps
 * its group without the hosts that are ahead). */
static void test_a_cold_drain_a_partition_at_a_time_scores_every_tick_once(void **state)
{
    (void)state;
    struct vg_fleet_params p = queue_params(8);
    p.host_score = 0;
    struct vg_fleet *f;
    char err[VG_ERRLEN];
    uint64_t scored = 0, sent = 0;
    assert_int_equal(vg_fleet_new(&f, &p, &cpu, count_results, &scored, err, sizeof(err)), 0);
    for (uint64_t t0 = 0; t0 < 100; t0 += 20)
        for (int part = 0; part < 4; part++)
            for (uint64_t t = t0; t < t0 + 20; t++)
                for (int h = 0; h < 16; h++) {
                    char host[32];
                    struct vg_metric m[NM];
                    for (int j = 0; j < NM; j++) {
                        m[j].name = names[j];
                        m[j].value = value(h, t, j);
                    }
                    snprintf(host, sizeof(host), "web-%02d", part * 16 + h);
                    assert_int_equal(vg_fleet_put_at(f, "web", host, (int64_t)(t + 1) * 10000, m,
                                                     NM, err, sizeof(err)),
                                     0);
                    sent++;
                }
    for (int k = 0; k < 8; k++)
        assert_int_equal(vg_fleet_step(f, err, sizeof(err)), 0);
    struct vg_fleet_stats st;
    vg_fleet_get_stats(f, &st);
    print_message("  cold drain: %llu of %llu host ticks scored in %llu steps (%llu forced)\n",
                  (unsigned long long)scored, (unsigned long long)sent,
                  (unsigned long long)st.steps, (unsigned long long)st.steps_forced);
    assert_int_equal(st.ticks_queued, 0);
    assert_int_equal(scored, sent);
    vg_fleet_free(f);
}

static void test_queued_ticks_move_with_an_exported_host(void **state)
{
    struct vg_fleet_params p = queue_params(8);
    p.dir = dir;
    struct trace *ta = calloc(1, sizeof(*ta)), *tb = calloc(1, sizeof(*tb));
    assert_non_null(ta);
    assert_non_null(tb);
    struct vg_fleet *f, *g;
    char err[VG_ERRLEN];
    assert_int_equal(vg_fleet_new(&f, &p, &cpu, on_trace, ta, err, sizeof(err)), 0);
    put_first(f, 3);
    for (uint64_t t = 1; t < 100; t++)
        for (int h = 0; h < 3; h++)
            put_one(f, h, t);
    /* web-02 (the last row, so that moving it keeps the rows' order) is 3 ticks ahead. */
    for (uint64_t t = 100; t < 103; t++)
        put_one(f, 2, t);
    /* g: the group as checkpointed now (without the queue), then web-02 from its export. */
    assert_int_equal(vg_fleet_save(f, err, sizeof(err)), 0);
    assert_int_equal(vg_fleet_new(&g, &p, &cpu, on_trace, tb, err, sizeof(err)), 0);
    assert_int_equal(vg_fleet_load(g, err, sizeof(err)), 1);
    struct vg_fleet_host_state hs;
    assert_int_equal(vg_fleet_host_export(f, "web-02", &hs, err, sizeof(err)), 0);
    assert_int_equal(hs.n_queued, 3);
    assert_non_null(hs.queued);
    assert_int_equal(hs.queued_ts[0], 100000);
    assert_int_equal(hs.queued_ts[2], 102000);
    int fresh = 1;
    assert_int_equal(vg_fleet_host_import(g, "web-02", &hs, &fresh, err, sizeof(err)), 0);
    assert_int_equal(fresh, 0);
    free_host_state(&hs);
    struct vg_fleet_stats st;
    vg_fleet_get_stats(g, &st);
    assert_int_equal(st.ticks_queued, 3);
    /* Both go on alike: web-02's queued ticks are scored with the others' ticks 100-102. */
    memset(ta, 0, sizeof(*ta));
    for (uint64_t t = 100; t < 130; t++)
        for (int h = 0; h < 3; h++) {
            if (h < 2 || t >= 103) {
                put_one(f, h, t);
                put_one(g, h, t);
            }
        }
    assert_int_equal(ta->n[2], 30);
    assert_int_equal(ta->ts[2][0], 100000);
    assert_int_equal(ta->overflow + tb->overflow, 0);
    assert_true(traces_equal(ta, tb));
    assert_meaningful(ta, 3);
    vg_fleet_free(f);
    vg_fleet_free(g);
    free(ta);
    free(tb);
}

/* Exports host from one fleet and imports it into another, which refuses it (-EINVAL); the
 * reason is left in err. */
static void assert_import_refused(struct vg_fleet *from, struct vg_fleet *to, const char *host,
                                  char *err, size_t errlen)
{
    struct vg_fleet_host_state hs;
    assert_int_equal(vg_fleet_host_export(from, host, &hs, err, errlen), 0);
    int fresh;
    assert_int_equal(vg_fleet_host_import(to, host, &hs, &fresh, err, errlen), -EINVAL);
    printf("  %s\n", err);
    free_host_state(&hs);
}

/* A host's state from an analyzer whose group of the same name has other columns (other
 * model.metrics or model.max_metrics) is refused naming the first column that differs and both
 * counts, not only "models other metrics". */
static void test_an_imported_host_of_other_columns_is_refused_naming_them(void **state)
{
    struct vg_fleet_params p = params();
    p.dir = NULL;
    struct vg_fleet *f, *g;
    char err[VG_ERRLEN];
    assert_int_equal(vg_fleet_new(&f, &p, &cpu, NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(vg_fleet_new(&g, &p, &cpu, NULL, NULL, err, sizeof(err)), 0);
    struct vg_metric a[] = {{"cpu", 1}, {"disk", 2}, {"mem", 3}, {"net", 4}};
    struct vg_metric b[] = {{"cpu", 1}, {"load", 2}, {"mem", 3}};
    assert_int_equal(vg_fleet_put(f, "ck", "h1", a, 4, err, sizeof(err)), 0);
    assert_int_equal(vg_fleet_put(g, "ck", "h2", b, 3, err, sizeof(err)), 0);
    assert_import_refused(f, g, "h1", err, sizeof(err));
    assert_non_null(strstr(err, "group ck models other metrics here: column 2 is load here, disk "
                                "in the record (3 columns here, 4 in the record)"));
    vg_fleet_free(f);
    vg_fleet_free(g);
}

/* A host's state from an analyzer of another model.window is refused naming both windows, as the
 * checkpoint path does, not as "176 floats of host state, this model's shape takes 304". */
static void test_an_imported_host_of_another_window_is_refused_naming_both(void **state)
{
    (void)state;
    struct vg_fleet_params p = params(), q;
    p.dir = NULL;
    q = p;
    q.mv.window = p.mv.window * 2;
    struct vg_fleet *f, *g;
    char err[VG_ERRLEN], want[200];
    assert_int_equal(vg_fleet_new(&f, &p, &cpu, NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(vg_fleet_new(&g, &q, &cpu, NULL, NULL, err, sizeof(err)), 0);
    struct vg_metric a[] = {{"cpu", 1}, {"disk", 2}, {"mem", 3}};
    assert_int_equal(vg_fleet_put(f, "ck", "h1", a, 3, err, sizeof(err)), 0);
    assert_int_equal(vg_fleet_put(g, "ck", "h2", a, 3, err, sizeof(err)), 0);
    assert_import_refused(f, g, "h1", err, sizeof(err));
    snprintf(want, sizeof(want),
             "group ck: the record's host window is %u ticks, model.window here is %u", p.mv.window,
             q.mv.window);
    assert_non_null(strstr(err, want));
    vg_fleet_free(f);
    vg_fleet_free(g);
}

/* ---- the mv model's host blob (state topic) ---- */

/* One tick of host web-<h>; `shift` (in the metric's own amplitudes) added to load_1 and
 * disk_wa. */
static void mv_tick_at(struct vg_models *ms, int h, uint64_t t, double shift)
{
    char err[VG_ERRLEN], host[32];
    struct vg_metric m[NM];
    for (int j = 0; j < NM; j++) {
        m[j].name = names[j];
        m[j].value = value(h, t, j);
    }
    m[2].value += shift * (1 + 0.2 * 2);
    m[4].value += shift * (1 + 0.2 * 4);
    snprintf(host, sizeof(host), "web-%02d", h);
    struct vg_model_tick tk = {host, "web", (int64_t)t * 1000, m, NM};
    assert_int_equal(vg_models_update(ms, &tk, err, sizeof(err)), 0);
}

static void mv_tick(struct vg_models *ms, int h, uint64_t t)
{
    mv_tick_at(ms, h, t, 0);
}

/* The mv model's settings for these tests: a group of up to 100 hosts of 12 metrics. */
static struct vg_model_env mv_env(uint32_t calib_init, uint32_t queue_ticks)
{
    return (struct vg_model_env){.k = &cpu,
                                 .window = 8,
                                 .max_metrics = 64,
                                 .max_hosts = 100,
                                 .max_groups = 4,
                                 .top_k = 3,
                                 .calib_init = calib_init,
                                 .queue_ticks = queue_ticks,
                                 .train = 1,
                                 .seed = 1};
}

/* An agent's first message after it starts has no rates (a counter needs two readings:
 * collectors/vg_rate.h): no cpu, disk or network. A new group's columns are those of its first
 * host, so a group founded by a host whose agent had just started (a new service deployed) modelled
 * only its gauges, for good (and in its checkpoint). The analyzer's mv model founds a group from
 * its first host's second message. */
static void test_a_group_is_not_founded_on_an_agents_first_message_without_rates(void **state)
{
    (void)state;
    char err[VG_ERRLEN];
    struct vg_model_env env = mv_env(20, 1);
    struct vg_models *ms;
    assert_int_equal(vg_models_new(&ms, "mv", &env, err, sizeof(err)), 0);
    /* The gauges only: load_1, mem_used, procs, tcp_estab. */
    struct vg_metric first[] = {{names[2], value(0, 0, 2)},
                                {names[3], value(0, 0, 3)},
                                {names[10], value(0, 0, 10)},
                                {names[11], value(0, 0, 11)}};
    struct vg_model_tick tk = {"web-00", "web", 0, first, VG_ARRAY_LEN(first)};
    assert_int_equal(vg_models_update(ms, &tk, err, sizeof(err)), 0);
    for (uint64_t t = 1; t < 200; t++)
        mv_tick(ms, 0, t);
    struct vg_fleet_stats st;
    vg_model_mv_stats(vg_models_find(ms, "mv"), &st);
    assert_int_equal(st.groups, 1);
    assert_int_equal(st.hosts, 1);
    /* Every metric of the full messages has its column. */
    assert_int_equal(st.metrics_ignored, 0);
    /* And an incident on a rate is seen and named. */
    mv_tick_at(ms, 0, 200, 8);
    struct vg_model_score sc;
    assert_int_equal(vg_models_score(ms, "web-00", "mv", &sc), 0);
    int named = 0;
    for (uint32_t q = 0; q < sc.n_top; q++)
        named |= strcmp(sc.top[q], "disk_wa") == 0;
    assert_true(named);
    vg_models_free(ms);
}

/* model.max_groups reaches the analyzer's mv model: it was a constant 1024 there, so a fleet of
 * many small groups could not be bounded (or allowed more) from the config. */
static void test_model_max_groups_from_the_config_bounds_the_mv_groups(void **state)
{
    (void)state;
    struct analyzer_cfg c = {0};
    char err[VG_ERRLEN];
    char *sets[] = {"model.max_groups=2", "model.set=mv"};
    assert_int_equal(
        vg_config_load_all(&analyzer_config_table, &c, NULL, sets, 2, err, sizeof(err)), 0);
    struct vg_model_run_params p;
    analyzer_model_params(&c, &p);
    assert_int_equal(p.env.max_groups, 2);
    struct vg_model_env env = p.env;
    env.k = &cpu;
    env.dir = NULL;
    struct vg_models *ms;
    assert_int_equal(vg_models_new(&ms, "mv", &env, err, sizeof(err)), 0);
    struct vg_metric m[] = {{"cpu", 1}, {"mem", 2}, {"disk", 3}, {"net", 4}};
    const char *groups[] = {"a", "b", "c"}, *hosts[] = {"a-1", "b-1", "c-1"};
    /* A group is founded by its first host's second tick; c-1 is refused on its first. */
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < (i < 2 ? 2 : 1); k++) {
            struct vg_model_tick t = {hosts[i], groups[i], 1000 + k * 1000, m, 4};
            assert_int_equal(vg_models_update(ms, &t, err, sizeof(err)), 0);
        }
    struct vg_fleet_stats st;
    vg_model_mv_stats(vg_models_find(ms, "mv"), &st);
    assert_int_equal(st.groups, 2);
    assert_int_equal(st.hosts, 2);
    assert_int_equal(st.hosts_refused, 1); /* c-1: a third group */
    /* Once b's only host has left, c takes its place. */
    vg_models_host_drop(ms, "b-1");
    for (int k = 0; k < 2; k++) {
        struct vg_model_tick t = {"c-1", "c", 3000 + k * 1000, m, 4};
        assert_int_equal(vg_models_update(ms, &t, err, sizeof(err)), 0);
    }
    vg_model_mv_stats(vg_models_find(ms, "mv"), &st);
    assert_int_equal(st.groups, 2);
    assert_int_equal(st.hosts, 2);
    assert_int_equal(st.hosts_refused, 1);
    vg_models_free(ms);
    vg_config_free(&analyzer_config_table, &c);
}

/* Two analyzers on one model.dir overwrote each other's checkpoints: the second is refused,
 * naming the first, and the directory is free again once the first has closed. */
static void test_a_second_holder_of_a_model_dir_is_refused(void **state)
{
    (void)state;
    char err[VG_ERRLEN], pid[32];
    struct vg_model_env env = mv_env(20, 1);
    env.dir = dir;
    struct vg_models *a, *b;
    assert_int_equal(vg_models_new(&a, "mv", &env, err, sizeof(err)), 0);
    assert_int_equal(vg_models_new(&b, "mv", &env, err, sizeof(err)), -EBUSY);
    snprintf(pid, sizeof(pid), "pid %ld", (long)getpid());
    assert_non_null(strstr(err, pid));
    assert_non_null(strstr(err, "model.dir"));
    vg_models_free(a);
    assert_int_equal(vg_models_new(&b, "mv", &env, err, sizeof(err)), 0);
    vg_models_free(b);
}

/* A checkpoint that cannot be written under a long model.dir: the message, behind "model mv: ",
 * keeps the step and the cause whole ("model checkpoint not written" logs it), the path cut in
 * its middle instead. */
static void test_a_failed_checkpoint_keeps_its_cause_under_a_long_model_dir(void **state)
{
    (void)state;
    char err[VG_ERRLEN], longdir[400], tmp[420];
    int n = snprintf(longdir, sizeof(longdir), "%s/", dir);
    memset(longdir + n, 'd', 220);
    longdir[n + 220] = '\0';
    assert_int_equal(mkdir(longdir, 0700), 0);
    snprintf(tmp, sizeof(tmp), "%s/web.ckpt.tmp", longdir);
    assert_int_equal(mkdir(tmp, 0700), 0); /* what cannot be removed: EISDIR */
    struct vg_model_env env = mv_env(20, 1);
    env.dir = longdir;
    struct vg_models *ms;
    assert_int_equal(vg_models_new(&ms, "mv", &env, err, sizeof(err)), 0);
    for (uint64_t t = 0; t < 12; t++)
        for (int h = 0; h < 2; h++)
            mv_tick(ms, h, t);
    assert_int_equal(vg_models_save(ms, err, sizeof(err)), -EISDIR);
    vg_models_free(ms);
    const char *end = ": removing the leftover web.ckpt.tmp: Is a directory";
    if (strncmp(err, "model mv: /tmp/vg-test-fleet.", 29) != 0 || strlen(err) < strlen(end) ||
        strcmp(err + strlen(err) - strlen(end), end) != 0)
        fail_msg("\"%s\" does not end in \"%s\"", err, end);
    char cmd[500];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", longdir);
    assert_int_equal(system(cmd), 0);
}

/* model.dir's checkpoint held 4 hosts of which this analyzer's engine holds 2 (the others'
 * partitions are another analyzer's): the 2 foreign rows were never freed and saved again at every
 * checkpoint (vigil_model_hosts 4, vigil_hosts 2). The prune that limits.host_idle drives
 * (analyzer_models.c) drops them: the model's hosts are the engine's. */
static void test_model_rows_of_hosts_the_engine_does_not_hold_are_pruned(void **state)
{
    (void)state;
    char err[VG_ERRLEN];
    struct vg_model_env env = mv_env(20, 1);
    env.dir = dir;
    struct vg_models *ms;
    assert_int_equal(vg_models_new(&ms, "mv", &env, err, sizeof(err)), 0);
    for (uint64_t t = 0; t < 12; t++)
        for (int h = 0; h < 4; h++)
            mv_tick(ms, h, t);
    assert_int_equal(vg_models_save(ms, err, sizeof(err)), 0);
    vg_models_free(ms);

    struct vg_engine_params ep = {
        .detector = &vg_detector_ewma,
        .dp =
            {.alpha = 0.05, .alpha_outlier = 0.005, .warmup = 10, .clip_k = 3, .min_std_abs = 0.1},
        .ap = {.threshold = 0.999, .for_ms = 2000, .resolve_for_ms = 2000},
        .severity = "critical",
        .max_hosts = 10,
        .max_series_per_host = 100,
    };
    struct vg_engine *e;
    assert_int_equal(vg_engine_new(&e, &ep, err, sizeof(err)), 0);
    assert_int_equal(vg_models_new(&ms, "mv", &env, err, sizeof(err)), 0);
    assert_int_equal(vg_models_load(ms, err, sizeof(err)), 1);
    struct vg_model_run r = {.engine = e, .models = ms};
    for (int h = 0; h < 2; h++) { /* the hosts this analyzer owns: web-00 and web-01 */
        struct vg_wire_msg m;
        vg_wire_msg_init(&m);
        m.version = 1;
        snprintf(m.host, sizeof(m.host), "web-%02d", h);
        snprintf(m.boot, sizeof(m.boot), "b");
        m.seq = 1;
        m.ts_ms = 13000;
        m.interval_ms = 1000;
        assert_int_equal(vg_wire_msg_add_metric(&m, names[0], 1, NULL, 0), 0);
        assert_int_equal(vg_engine_process(e, &m, NULL, NULL), 0);
        vg_wire_msg_free(&m);
    }
    struct vg_fleet_stats st;
    vg_model_mv_stats(vg_models_find(ms, "mv"), &st);
    assert_int_equal(st.hosts, 4);
    assert_int_equal(vg_model_run_prune(&r), 2);
    vg_model_mv_stats(vg_models_find(ms, "mv"), &st);
    struct vg_engine_stats es;
    vg_engine_get_stats(e, &es);
    assert_int_equal(es.hosts, 2);
    assert_int_equal(st.hosts, es.hosts);
    assert_int_equal(vg_model_run_prune(&r), 0);
    /* And the next checkpoint holds the engine's hosts only. */
    assert_int_equal(vg_models_save(ms, err, sizeof(err)), 0);
    vg_models_free(ms);
    assert_int_equal(vg_models_new(&ms, "mv", &env, err, sizeof(err)), 0);
    assert_int_equal(vg_models_load(ms, err, sizeof(err)), 1);
    vg_model_mv_stats(vg_models_find(ms, "mv"), &st);
    assert_int_equal(st.hosts, 2);
    vg_models_free(ms);
    vg_engine_free(e);
    char path[300];
    snprintf(path, sizeof(path), "%s/web.ckpt", dir);
    unlink(path); /* the tests after count the groups they load */
}

static void test_mv_host_blob_carries_queued_ticks_and_reads_version_2(void **state)
{
    struct vg_model_env env = mv_env(16, 8);
    struct vg_models *a, *b;
    char err[VG_ERRLEN];
    assert_int_equal(vg_models_new(&a, "mv", &env, err, sizeof(err)), 0);
    assert_int_equal(vg_models_new(&b, "mv", &env, err, sizeof(err)), 0);
    for (uint64_t t = 0; t < 40; t++)
        for (int h = 0; h < 3; h++)
            mv_tick(a, h, t);
    mv_tick(a, 2, 40); /* web-02 ahead by two ticks */
    mv_tick(a, 2, 41);
    struct vg_engine_blob bl[3];
    const char *hosts[3] = {"web-00", "web-01", "web-02"};
    for (int h = 0; h < 3; h++) {
        assert_int_equal(vg_models_host_save(a, hosts[h], &bl[h], 1), 1);
        assert_string_equal(bl[h].type, "mv");
        assert_int_equal(bl[h].version, 3);
    }
    /* web-00 founded the group and stepped its tick 0 alone, so the others' ticks have gone with
     * its next one since: web-01 has one tick queued, web-02 three, each 12 values and a time. */
    size_t one = 8 + NM * sizeof(float);
    assert_int_equal(bl[1].len, bl[0].len + one);
    assert_int_equal(bl[2].len, bl[0].len + 3 * one);
    for (int h = 0; h < 3; h++)
        assert_int_equal(vg_models_host_load(b, hosts[h], &bl[h], err, sizeof(err)), 0);
    struct vg_fleet_stats st;
    vg_model_mv_stats(vg_models_find(b, "mv"), &st);
    assert_int_equal(st.ticks_queued, 4);
    /* The others catch up: web-02's ticks are scored, with their own event times. */
    for (uint64_t t = 40; t < 43; t++) {
        mv_tick(b, 0, t);
        mv_tick(b, 1, t);
    }
    vg_model_mv_stats(vg_models_find(b, "mv"), &st);
    assert_int_equal(st.ticks_queued, 1); /* web-01's tick 42, as above */
    struct vg_model_score sc;
    assert_int_equal(vg_models_score(b, "web-02", "mv", &sc), 0);
    assert_int_equal(sc.ts_ms, 41000);

    /* Version 2 is version 3 without the queued ticks' count: read as none queued. */
    unsigned char *v2 = malloc(bl[0].len);
    assert_non_null(v2);
    memcpy(v2, bl[0].data, bl[0].len - 4);
    struct vg_engine_blob old = {"mv", 2, v2, bl[0].len - 4};
    assert_int_equal(vg_models_host_load(b, "web-00", &old, err, sizeof(err)), 0);
    /* ... which is truncated as version 3; a count past the blob, or past the bound, is refused;
     * and version 1 is not read. */
    old.version = 3;
    assert_int_equal(vg_models_host_load(b, "web-00", &old, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "truncated"));
    unsigned char *bad = malloc(bl[0].len);
    assert_non_null(bad);
    memcpy(bad, bl[0].data, bl[0].len);
    struct vg_engine_blob b3 = {"mv", 3, bad, bl[0].len};
    bad[bl[0].len - 4] = 1;
    assert_int_equal(vg_models_host_load(b, "web-00", &b3, err, sizeof(err)), -EINVAL);
    memset(bad + bl[0].len - 4, 0xff, 4);
    assert_int_equal(vg_models_host_load(b, "web-00", &b3, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "queued ticks"));
    old.version = 1;
    assert_int_equal(vg_models_host_load(b, "web-00", &old, err, sizeof(err)), -EPROTONOSUPPORT);
    free(v2);
    free(bad);
    for (int h = 0; h < 3; h++)
        vg_models_host_blobs_free(&bl[h], 1);
    vg_models_free(a);
    vg_models_free(b);
}

/* ---- the normaliser's memory (model.norm_ticks) ---- */

/* web-01's raw mv score `late` ticks into a lasting level shift, and its largest before it. */
static void shifted_scores(uint32_t norm_ticks, uint64_t late, double *normal, double *after)
{
    struct vg_model_env env = mv_env(32, 1);
    env.state_weight = 1;
    env.norm_ticks = norm_ticks;
    struct vg_models *ms;
    char err[VG_ERRLEN];
    assert_int_equal(vg_models_new(&ms, "mv", &env, err, sizeof(err)), 0);
    const uint64_t from = 2000;
    *normal = 0;
    for (uint64_t t = 0; t <= from + late; t++) {
        for (int h = 0; h < 3; h++)
            mv_tick_at(ms, h, t, h == 1 && t >= from ? 8 : 0);
        struct vg_model_score sc;
        if (vg_models_score(ms, "web-01", "mv", &sc) == 0 && sc.warm && t > 200 && t < from)
            *normal = fmax(*normal, sc.raw);
        if (t == from + late) {
            assert_int_equal(vg_models_score(ms, "web-01", "mv", &sc), 0);
            *after = sc.raw;
        }
    }
    vg_models_free(ms);
}

/* The forecaster catches up with a new level within its window; what keeps an incident that lasts
 * scored is the state term, a distance from the normaliser's centre. A centre that follows each
 * level within a hundred ticks forgets the incident; model.norm_ticks sets how long it remembers.
 */
static void test_a_lasting_level_stays_scored_for_as_long_as_the_normaliser_remembers(void **state)
{
    (void)state;
    double n_short, a_short, n_long, a_long;
    shifted_scores(20, 150, &n_short, &a_short);
    shifted_scores(10000, 150, &n_long, &a_long);
    printf("  150 ticks into a lasting shift: raw %.2f (normal max %.2f) with norm_ticks 10000, "
           "%.2f (normal max %.2f) with 20\n",
           a_long, n_long, a_short, n_short);
    assert_true(a_long > 2 * n_long);
    assert_true(a_short < n_short);
}

/* ---- the host score's calibration in a new group ---- */

#define SH 8  /* hosts */
#define SM 16 /* metrics per host */

/* What stationary_group() saw, per host: from its warm-up on, ticks with a warm score and those
 * above 0.999; from the late metric's first tick on, those above 0.999 blaming it first. */
struct calib_seen {
    long warm[SH], high[SH], high_last[SH];
    uint64_t relearned;
};

static double gauss(uint64_t *s)
{
    double u = ((double)rng_next(s) + 1) / 2147483649.0, v = (double)rng_next(s) / 2147483648.0;
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* A new group of SH hosts x SM metrics with no anomaly at all: each metric 100 plus four AR(0.95)
 * factors of its host mixed in, plus noise, 1 s ticks, the analyzer's defaults (calib_init 128,
 * norm_ticks 100, state term on). web-01 lacks the last metric until tick late. */
static void stationary_group(uint64_t ticks, uint64_t warm, uint64_t late, struct calib_seen *out)
{
    struct vg_model_env env = mv_env(128, 1);
    env.state_weight = 1;
    env.norm_ticks = 100;
    struct vg_models *ms;
    char err[VG_ERRLEN], mnames[SM][16], host[32];
    assert_int_equal(vg_models_new(&ms, "mv", &env, err, sizeof(err)), 0);
    struct vg_metric m[SM];
    for (int j = 0; j < SM; j++) {
        snprintf(mnames[j], sizeof(mnames[j]), "cpu.m%d", j);
        m[j].name = mnames[j];
    }
    memset(out, 0, sizeof(*out));
    uint64_t s = 4242;
    double ar[SH][4] = {{0}};
    for (uint64_t t = 0; t < ticks; t++)
        for (int h = 0; h < SH; h++) {
            for (int q = 0; q < 4; q++)
                ar[h][q] = 0.95 * ar[h][q] + gauss(&s);
            for (int j = 0; j < SM; j++)
                m[j].value =
                    100 + 10 * ar[h][j % 4] + (j >= 8 ? 5 * ar[h][(j + 1) % 4] : 0) + 3 * gauss(&s);
            snprintf(host, sizeof(host), "web-%02d", h);
            struct vg_model_tick tk = {host, "web", (int64_t)t * 1000, m,
                                       h == 1 && t < late ? SM - 1 : SM};
            assert_int_equal(vg_models_update(ms, &tk, err, sizeof(err)), 0);
            struct vg_model_score sc;
            if (vg_models_score(ms, host, "mv", &sc) < 0 || !sc.warm)
                continue;
            int high = sc.score > 0.999;
            if (late && t >= late && high && sc.n_top > 0)
                out->high_last[h] += strcmp(sc.top[0], mnames[SM - 1]) == 0;
            if (t >= warm) {
                out->warm[h]++;
                out->high[h] += high;
            }
        }
    struct vg_fleet_stats st;
    vg_model_mv_stats(vg_models_find(ms, "mv"), &st);
    out->relearned = st.calib_relearned;
    vg_models_free(ms);
}

/* A new group's model improves for thousands of ticks after its hosts' error scales were fitted
 * (on their first 128 warm ticks) and their calibration's sample taken (on the next 128); the
 * scales follow, so the raw score's usual level rises past the calibration's tail threshold.
 * More than a fifth of the ticks then above it closed the burst gate for good, and the hosts
 * scored above 0.999 on 15-30 % of their ticks with no anomaly at all, for ever (a rule on
 * host:mv fired and never resolved). A gate closed far longer than an incident lasts now takes
 * the calibration to be out of date and learns it again. */
static void test_a_new_groups_stationary_hosts_stay_calibrated(void **state)
{
    (void)state;
    struct calib_seen c;
    stationary_group(12000, 4000, 0, &c);
    long warm = 0, high = 0;
    for (int h = 0; h < SH; h++) {
        warm += c.warm[h];
        high += c.high[h];
    }
    printf("  after tick 4000: %ld of %ld host ticks above 0.999 (%.3f %%), %llu relearned\n", high,
           warm, 100.0 * (double)high / (double)warm, (unsigned long long)c.relearned);
    assert_true(warm > SH * 7000);
    assert_true((double)high <= 0.003 * (double)warm);
    assert_true(c.relearned >= 1);
}

/* A metric with no value while its host's scales were fitted (a service that comes up minutes
 * after the agent) got the floor as its error scale and typical distances, for good: its usual
 * values were outliers, blamed on it above 0.999 many times more often than on its peers (and,
 * with the gate closed for good, the host scored above 0.999 on a tenth of its ticks). It now fits
 * on its own first values. */
static void test_a_metric_that_appears_after_its_hosts_fit_scores_like_its_peers(void **state)
{
    (void)state;
    struct calib_seen c;
    stationary_group(12000, 4000, 1000, &c);
    long peers = 0;
    for (int h = 0; h < SH; h++)
        if (h != 1)
            peers += c.high_last[h];
    double peer_mean = (double)peers / (SH - 1);
    printf("  above 0.999 blaming cpu.m15 first from tick 1000: web-01 (m15 from then) %ld, peers "
           "%.1f on average; after tick 4000 web-01 above 0.999 on %ld of %ld\n",
           c.high_last[1], peer_mean, c.high[1], c.warm[1]);
    /* At most one tick in a thousand since it appeared, and as often as on the peers'. */
    assert_true(c.high_last[1] <= (12000 - 1000) / 1000);
    assert_true((double)c.high_last[1] <= 3 * peer_mean + 10);
    /* Its calibration may learn again once more than its peers' (its scales settle later), not
     * be closed for good. */
    assert_true(c.warm[1] > 7000);
    assert_true((double)c.high[1] <= 0.02 * (double)c.warm[1]);
}

/* ---- the CUDA backend against the CPU, through the host score ---- */

#define GH 16 /* hosts */

/* The results of one step, per host. */
struct step_seen {
    int got[GH], rc[GH];
    double hs[GH], raw[GH];
    const char *blame[GH];
};

static void on_step(void *ud, const struct vg_fleet_score *s)
{
    struct step_seen *st = ud;
    int h = atoi(s->host + 4); /* "web-NN" */
    if (h < 0 || h >= GH)
        return;
    st->got[h] = 1;
    st->rc[h] = s->hs_rc;
    st->hs[h] = s->hs_score;
    st->raw[h] = s->hs_raw;
    st->blame[h] = s->n_blame > 0 ? s->blame_top[0] : NULL;
}

/* What the analyzer alerts on is the host score, computed on the CPU from the residuals and
 * normalised values the model's backend gives back; so the same stream through a fleet on the
 * GPU and one on the CPU must raise the same alerts at the analyzer's default threshold, blaming
 * the same metric first. */
static void test_gpu_and_cpu_fleets_raise_the_same_host_alerts(void **state)
{
    char err[VG_ERRLEN];
    const double threshold = 0.999; /* alert.threshold's default */
    /* Calibrated scores this close to the threshold may land on either side: the raw scores
     * agree to 1e-4 relative (asserted below), and SPOT's tail moves by about that much there. */
    const double margin = 1e-5;
    int at_threshold = 0;
    struct vg_k g;
    assert_int_equal(vg_k_open(&g, "cuda", err, sizeof(err)), 0);
    struct vg_fleet_params p = hs_params();
    p.dir = NULL;
    struct step_seen *sa = calloc(1, sizeof(*sa)), *sb = calloc(1, sizeof(*sb));
    assert_non_null(sa);
    assert_non_null(sb);
    struct vg_fleet *fa, *fb;
    assert_int_equal(vg_fleet_new(&fa, &p, &cpu, on_step, sa, err, sizeof(err)), 0);
    assert_int_equal(vg_fleet_new(&fb, &p, &g, on_step, sb, err, sizeof(err)), 0);
    int alerts = 0, calibrated = 0;
    double worst = 0;
    for (uint64_t t = 0; t < 400; t++) {
        /* From tick 150 (warm, fitted, calibrated) a host is anomalous every seventh tick. */
        int bad = t >= 150 && t % 7 == 3 ? (int)(t / 7) % GH : -1;
        memset(sa, 0, sizeof(*sa));
        memset(sb, 0, sizeof(*sb));
        put_tick(fa, GH, t, bad);
        put_tick(fb, GH, t, bad);
        for (int h = 0; h < GH; h++) {
            assert_int_equal(sa->got[h], sb->got[h]);
            if (!sa->got[h])
                continue;
            assert_int_equal(sa->rc[h], sb->rc[h]);
            if (sa->rc[h] != 0)
                continue;
            calibrated++;
            worst = fmax(worst, fabs(sa->raw[h] - sb->raw[h]) / fmax(1.0, fabs(sa->raw[h])));
            int a = sa->hs[h] >= threshold, b = sb->hs[h] >= threshold;
            if (a != b && fabs(sa->hs[h] - threshold) <= margin &&
                fabs(sb->hs[h] - threshold) <= margin) {
                /* Both scores sit on the threshold: fp32 rounding decides the side, not the
                 * model. Counted, and allowed only rarely. */
                at_threshold++;
                continue;
            }
            assert_int_equal(a, b);
            alerts += a;
            if (a) {
                assert_non_null(sa->blame[h]);
                assert_non_null(sb->blame[h]);
                assert_string_equal(sa->blame[h], sb->blame[h]);
            }
        }
    }
    printf("  host scores: %d calibrated host-ticks, %d alerts on both cpu and gpu, %d on the "
           "threshold (within %.0e, either side allowed); worst raw score difference %.2e\n",
           calibrated, alerts, at_threshold, margin, worst);
    assert_true(alerts > 0);
    /* A few ticks on the threshold are rounding; many would mean the backends disagree. */
    assert_true(at_threshold * 100 <= alerts);
    assert_true(worst <= 1e-4);
    vg_fleet_free(fa);
    vg_fleet_free(fb);
    vg_k_close(&g);
    free(sa);
    free(sb);
}

int main(int argc, char **argv)
{
    if (vg_test_gpu_mode(argc, argv)) { /* test_fleet_gpu */
        int rc = vg_test_gpu_gate("gpu-vs-cpu host scores");
        if (rc)
            return rc;
        const struct CMUnitTest gpu[] = {
            cmocka_unit_test(test_gpu_and_cpu_fleets_raise_the_same_host_alerts),
        };
        return cmocka_run_group_tests_name("gpu", gpu, setup, teardown);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_metric_set_is_fixed_by_its_first_host),
        cmocka_unit_test(test_a_host_whose_group_label_changes_moves_to_that_group),
        cmocka_unit_test(test_metrics_a_group_does_not_model_are_logged_once_by_name),
        cmocka_unit_test(test_a_host_without_memory_to_model_is_taken_on_its_next_tick),
        cmocka_unit_test(test_an_empty_group_makes_room_for_a_new_one_at_max_groups),
        cmocka_unit_test(test_default_columns_put_host_level_metrics_before_cgroups),
        cmocka_unit_test(test_bad_metric_patterns_are_refused_naming_the_fault),
        cmocka_unit_test(test_a_new_groups_stationary_hosts_stay_calibrated),
        cmocka_unit_test(test_a_metric_that_appears_after_its_hosts_fit_scores_like_its_peers),
        cmocka_unit_test(test_anomaly_is_attributed_to_metric_names),
        cmocka_unit_test(test_a_value_beyond_a_float_is_scored_as_an_outlier_not_missing),
        cmocka_unit_test(test_a_group_is_not_founded_on_an_agents_first_message_without_rates),
        cmocka_unit_test(test_restart_resumes_from_checkpoints),
        cmocka_unit_test(test_corrupt_checkpoint_is_refused_and_the_group_starts_fresh),
        cmocka_unit_test(test_checkpoint_listing_a_host_twice_is_refused),
        cmocka_unit_test(test_a_refused_checkpoint_is_kept_beside_the_new_one),
        cmocka_unit_test(test_a_group_with_a_long_utf8_name_is_checkpointed_and_resumed),
        cmocka_unit_test(test_a_group_name_whose_temp_file_name_would_be_too_long_is_hashed),
        cmocka_unit_test(test_a_failed_checkpoint_keeps_its_cause_under_a_long_model_dir),
        cmocka_unit_test(test_host_calibration_survives_a_restart),
        cmocka_unit_test(test_checkpoint_without_host_calibration_is_refused),
        cmocka_unit_test(test_checkpoint_whose_columns_other_patterns_chose_is_refused),
        cmocka_unit_test(test_a_copy_of_a_groups_checkpoint_never_outranks_its_own_file),
        cmocka_unit_test(test_the_newest_of_several_copies_of_a_group_without_its_own_file_loads),
        cmocka_unit_test(test_a_top_k_change_keeps_the_groups_weights),
        cmocka_unit_test(test_a_host_restored_after_a_top_k_change_learns_its_calibration_again),
        cmocka_unit_test(test_checkpoint_wider_than_max_metrics_is_refused_naming_both),
        cmocka_unit_test(test_an_imported_host_of_other_columns_is_refused_naming_them),
        cmocka_unit_test(test_an_imported_host_of_another_window_is_refused_naming_both),
        cmocka_unit_test(test_any_interleaving_of_a_groups_ticks_scores_as_in_order),
        cmocka_unit_test(test_a_host_that_stops_delays_its_group_once_and_rejoins_when_back),
        cmocka_unit_test(test_a_late_host_has_every_tick_scored_and_is_back_in_step),
        cmocka_unit_test(test_a_tick_stamped_in_the_future_does_not_freeze_its_host),
        cmocka_unit_test(test_a_host_with_a_longer_interval_than_its_group_is_still_scored),
        cmocka_unit_test(test_every_message_of_a_host_with_a_longer_interval_is_scored_once),
        cmocka_unit_test(test_a_cold_drain_a_partition_at_a_time_scores_every_tick_once),
        cmocka_unit_test(test_queued_ticks_move_with_an_exported_host),
        cmocka_unit_test(test_model_max_groups_from_the_config_bounds_the_mv_groups),
        cmocka_unit_test(test_a_second_holder_of_a_model_dir_is_refused),
        cmocka_unit_test(test_model_rows_of_hosts_the_engine_does_not_hold_are_pruned),
        cmocka_unit_test(test_mv_host_blob_carries_queued_ticks_and_reads_version_2),
        cmocka_unit_test(test_a_lasting_level_stays_scored_for_as_long_as_the_normaliser_remembers),
        cmocka_unit_test(test_a_group_that_scores_nan_starts_fresh),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
