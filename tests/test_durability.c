/* No data lost across kill -9 (and a firing that group_wait holds is not lost either): a recorded
 * stream (4 hosts x 120 ticks, with anomalies) is replayed into an analyzer that is killed -9 at
 * seeded random moments and restarted each time (broker, committed offsets and vigil.state live on
 * in their own process). Afterwards no sequence number was skipped, every host reached the last
 * tick, and the alerts that reached the receiver are exactly those of an uninterrupted run
 * (compared by Idempotency-Key: fingerprint, status, start), duplicates allowed. One difference is
 * allowed: a firing that one run sent and the other did not, when both sent its resolve. The
 * analyzer replays a chunk faster than the receiver is paced, and a resolve that finds its firing
 * still queued goes in its place (docs/alerts.md, "Delivery"), so whether a firing is sent depends
 * on timing.
 *
 * VG_DURABILITY_SEED picks other kill moments (default 7). */
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vg_analyzerproc.h"
#include "vg_stack.h"
#include "vg_testhttp.h"
#include "vg_testproc.h"

#define HOSTS  4
#define TICKS  120
#define CHUNKS 6
#define KILLS  3

/* Ticks [from, to) of every host into path. Host h has a spike on one series at ticks 40-44
 * (and host 2 a second one at 90-92), so alerts fire and resolve. */
static void write_chunk(const char *path, int from, int to)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int t = from; t < to; t++)
        for (int h = 0; h < HOSTS; h++) {
            double base = 50 + 3 * ((t * 7 + h * 3) % 5);
            int spike = (t >= 40 && t < 45 && h != 3) || (h == 2 && t >= 90 && t < 93);
            fprintf(
                f,
                "dur-%d|{\"v\":1,\"host\":\"dur-%d\",\"boot\":\"boot-1\",\"seq\":%d,\"ts\":%lld,"
                "\"interval_ms\":1000,\"metrics\":{\"cpu.user_pct\":%g,\"mem.used_pct\":%g}}\n",
                h, h, t + 1, 1700000000000LL + t * 1000LL, spike ? base * 4 : base, 30.0 + (t % 3));
        }
    fclose(f);
}

/* The distinct Idempotency-Keys the receiver got; count is the number of requests. */
static json_t *received_keys(const char *jsonl, int *count)
{
    json_t *set = json_object();
    *count = 0;
    char *text = vg_tp_read(jsonl);
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        json_t *o = json_loads(line, 0, NULL);
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(o, "headers"), k, v)
        {
            if (strcasecmp(k, "Idempotency-Key") == 0 && json_is_string(v)) {
                json_object_set_new(set, json_string_value(v), json_true());
                (*count)++;
            }
        }
        json_decref(o);
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    return set;
}

static void wait_all_hosts_done(const struct vg_ap *a)
{
    int64_t end = vg_tp_mono_ms() + 60000;
    for (int h = 0; h < HOSTS; h++) {
        char host[32];
        snprintf(host, sizeof(host), "dur-%d", h);
        int64_t seq;
        while ((seq = vg_ap_last_seq(a, host)) != TICKS && vg_tp_mono_ms() < end)
            vg_tp_pause_ms(50);
        assert_int_equal(seq, TICKS);
    }
}

/* The mock coordinator holds a rebalance open for the session timeout less a second, and a
 * killed member's partitions until its session times out: 3 s (6 heartbeats) instead of the 6 s
 * vg_ap_start sets makes each restart after a kill -9 and each rebalance seconds shorter. */
#define SESSION_TIMEOUT_SET "kafka.session.timeout.ms=3000"

static const char *const g_sets[] = {"detector.warmup=10",
                                     "alert.for=0s",
                                     "alert.resolve_for=0s",
                                     "state.checkpoint_interval=100ms",
                                     "webhook.rate=-1",
                                     SESSION_TIMEOUT_SET,
                                     NULL};

static void run_stream(const char *tag, int kills, unsigned seed, json_t **keys_out,
                       int *requests_out)
{
    struct vg_stack s;
    vg_stack_init(&s, tag);
    vg_stack_start_receiver(&s, NULL);
    char bootstrap[256];
    pid_t broker = vg_ap_start_broker(s.dir, bootstrap, sizeof(bootstrap));
    char url[160], outbox[600];
    snprintf(url, sizeof(url), "webhook.url=http://127.0.0.1:%d/alerts", s.recv_port);
    snprintf(outbox, sizeof(outbox), "outbox.dir=%s/outbox", s.dir);
    vg_tp_sh("mkdir -p %s/outbox", s.dir);
    const char *sets[16];
    size_t n = 0;
    for (const char *const *p = g_sets; *p; p++)
        sets[n++] = *p;
    sets[n++] = url;
    sets[n++] = outbox;
    sets[n] = NULL;

    srand(seed);
    /* Kill after these chunks: KILLS distinct ones, chosen by the seed. */
    int kill_after[CHUNKS] = {0};
    for (int k = 0; k < kills;) {
        int c = rand() % (CHUNKS - 1);
        if (!kill_after[c]) {
            kill_after[c] = 1;
            k++;
        }
    }
    struct vg_ap a;
    int runs = 0;
    char rtag[32];
    snprintf(rtag, sizeof(rtag), "%d", runs++);
    vg_ap_start(&a, s.dir, rtag, bootstrap, sets);
    for (int c = 0; c < CHUNKS; c++) {
        char chunk[700];
        snprintf(chunk, sizeof(chunk), "%s/chunk-%d", s.dir, c);
        write_chunk(chunk, c * TICKS / CHUNKS, (c + 1) * TICKS / CHUNKS);
        assert_int_equal(vg_ap_produce(bootstrap, chunk), 0);
        if (!kill_after[c])
            continue;
        /* Once this analyzer is consuming, a random moment while (or after) the chunk is
         * processed and checkpointed. */
        int64_t end = vg_tp_mono_ms() + 30000;
        while (vg_ap_metric(&a, "vigil_messages_consumed_total") <= 0 && vg_tp_mono_ms() < end)
            vg_tp_pause_ms(20);
        assert_true(vg_ap_metric(&a, "vigil_messages_consumed_total") > 0);
        vg_tp_pause_ms(rand() % 300);
        assert_true(vg_ap_metric(&a, "vigil_sequence_gaps_total") <= 0);
        kill(a.pid, SIGKILL);
        waitpid(a.pid, NULL, 0);
        snprintf(rtag, sizeof(rtag), "%d", runs++);
        vg_ap_start(&a, s.dir, rtag, bootstrap, sets);
    }
    wait_all_hosts_done(&a);
    /* The restarts continued from checkpoints: otherwise this only tests replay from zero. */
    int restored = 0;
    for (int r = 1; r < runs; r++) {
        char path[700];
        snprintf(path, sizeof(path), "%s/analyzer-%d.log", s.dir, r);
        char *log = vg_tp_read(path);
        char *p = log ? strstr(log, "msg=\"state restored\"") : NULL;
        p = p ? strstr(p, "records=") : NULL;
        restored += p && atoi(p + 8) > 0;
        free(log);
    }
    if (kills)
        assert_true(restored > 0);
    assert_int_equal((int)vg_ap_metric(&a, "vigil_sequence_gaps_total"), 0);
    int st = vg_tp_stop(a.pid, SIGTERM, 20000);
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    *keys_out = received_keys(s.recv_out, requests_out);
    s.analyzer = 0;
    assert_int_equal(vg_stack_stop(&s), 0);
    vg_tp_stop(broker, SIGTERM, 10000);
}

/* Whether key is "<fp>-firing-<start>" whose "<fp>-resolved-<start>" both runs have: a firing
 * one run may have coalesced into its resolve. */
static int coalescible(const char *key, json_t *a, json_t *b)
{
    const char *p = strstr(key, "-firing-");
    if (!p)
        return 0;
    const char *start = p + strlen("-firing-");
    char res[512];
    /* A repeat's key ends in -rN, its resolve's does not. */
    snprintf(res, sizeof(res), "%.*s-resolved-%.*s", (int)(p - key), key, (int)strcspn(start, "-"),
             start);
    return json_object_get(a, res) && json_object_get(b, res);
}

static void alerts_after_kill9_restarts_equal_uninterrupted_run(void **state)
{
    (void)state;
    if (vg_tp_sh("command -v kcat >/dev/null 2>&1") != 0)
        fail_msg("kcat is not installed (scripts/setup.sh installs it)");
    const char *env = getenv("VG_DURABILITY_SEED");
    unsigned seed = env ? (unsigned)atoi(env) : 7;
    json_t *ref, *got;
    int ref_req, got_req;
    run_stream("durability-ref", 0, seed, &ref, &ref_req);
    /* The stream raises alerts at all: otherwise equality proves nothing. Counted by their
     * resolves, which coalescing never leaves out. */
    int resolves = 0;
    const char *rk;
    json_t *rv;
    json_object_foreach(ref, rk, rv)
    {
        resolves += strstr(rk, "-resolved-") != NULL;
    }
    assert_true(resolves >= 4); /* the stream resolves 4 alerts */
    run_stream("durability-kill9", KILLS, seed, &got, &got_req);
    const char *k;
    json_t *v;
    int missing = 0, extra = 0;
    json_object_foreach(ref, k, v)
    {
        if (!json_object_get(got, k) && coalescible(k, ref, got)) {
            fprintf(stderr, "coalesced into its resolve after kill -9: %s\n", k);
        } else if (!json_object_get(got, k)) {
            fprintf(stderr, "missing after kill -9: %s\n", k);
            missing++;
        }
    }
    json_object_foreach(got, k, v)
    {
        if (!json_object_get(ref, k) && coalescible(k, ref, got)) {
            fprintf(stderr, "coalesced into its resolve in the uninterrupted run: %s\n", k);
        } else if (!json_object_get(ref, k)) {
            fprintf(stderr, "not in the uninterrupted run: %s\n", k);
            extra++;
        }
    }
    fprintf(stderr, "alerts: %zu distinct (uninterrupted: %d requests; with %d kills: %d)\n",
            json_object_size(ref), ref_req, KILLS, got_req);
    assert_int_equal(missing, 0);
    assert_int_equal(extra, 0);
    json_decref(ref);
    json_decref(got);
}

/* A broker of two where broker 2 leads every partition of vigil.state and answers each request
 * rtt_ms late (rd_kafka_mock_broker_set_rtt); the group and the metrics topic stay on broker 1,
 * so only the state restore is slow. */
/* Ticks [from, to) of host gw-1 into path, x = value, stamped from now. */
static void write_x_ticks(const char *path, int from, int to, double value)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    long long now = (long long)time(NULL) * 1000;
    for (int t = from; t < to; t++)
        fprintf(f,
                "gw-1|{\"v\":1,\"host\":\"gw-1\",\"boot\":\"boot-1\",\"seq\":%d,\"ts\":%lld,"
                "\"interval_ms\":1000,\"metrics\":{\"x\":%g}}\n",
                t + 1, now - (to - t) * 1000LL, value);
    fclose(f);
}

/* What the group_wait tests share: a receiver, a broker, and rule HighX (x > 100, for 0s). */
struct gw_stack {
    struct vg_stack s;
    char bootstrap[256];
    pid_t broker;
};

static void gw_stack_start(struct gw_stack *g, const char *tag)
{
    vg_stack_init(&g->s, tag);
    vg_stack_start_receiver(&g->s, NULL);
    g->broker = vg_ap_start_broker(g->s.dir, g->bootstrap, sizeof(g->bootstrap));
    vg_tp_sh("mkdir -p %s/rules", g->s.dir);
    char rules[600];
    snprintf(rules, sizeof(rules), "%s/rules/r.yaml", g->s.dir);
    assert_int_equal(vg_tp_write_atomic(rules, "rules:\n  - name: HighX\n    when: value(\"x\") > "
                                               "100\n    for: 0s\n    severity: critical\n"),
                     0);
}

static void gw_stack_stop(struct gw_stack *g)
{
    g->s.analyzer = 0;
    assert_int_equal(vg_stack_stop(&g->s), 0);
    vg_tp_stop(g->broker, SIGTERM, 10000);
}

/* The --set options of one analyzer of a group_wait test: checkpoints every 100 ms, the given
 * alert.group_wait, no rate limit, the receiver, its own outbox (dir/outbox_name, created) and
 * the short session timeout. */
struct gw_sets {
    char group_wait[64], url[160], outbox[600], rules_dir[600];
    const char *v[8];
};

static const char *const *gw_sets_fill(struct gw_sets *o, const struct gw_stack *g,
                                       const char *group_wait, const char *outbox_name)
{
    vg_tp_sh("mkdir -p %s/%s", g->s.dir, outbox_name);
    snprintf(o->group_wait, sizeof(o->group_wait), "alert.group_wait=%s", group_wait);
    snprintf(o->url, sizeof(o->url), "webhook.url=http://127.0.0.1:%d/alerts", g->s.recv_port);
    snprintf(o->outbox, sizeof(o->outbox), "outbox.dir=%s/%s", g->s.dir, outbox_name);
    snprintf(o->rules_dir, sizeof(o->rules_dir), "rules.dir=%s/rules", g->s.dir);
    const char *v[] = {"state.checkpoint_interval=100ms",
                       o->group_wait,
                       "webhook.rate=-1",
                       o->url,
                       o->outbox,
                       o->rules_dir,
                       SESSION_TIMEOUT_SET,
                       NULL};
    memcpy(o->v, v, sizeof(v));
    return o->v;
}

/* Starts analyzer a (tag, sets) and makes HighX fire on gw-1; returns once a has checkpointed
 * with the alert firing (the host was marked with its last message) while group_wait still holds
 * the firing: nothing sent yet. */
static void gw_fire_and_hold(struct vg_ap *a, struct gw_stack *g, const char *tag,
                             const char *const *sets)
{
    vg_ap_start(a, g->s.dir, tag, g->bootstrap, sets);
    char chunk[700];
    snprintf(chunk, sizeof(chunk), "%s/fire", g->s.dir);
    write_x_ticks(chunk, 0, 4, 500);
    assert_int_equal(vg_ap_produce(g->bootstrap, chunk), 0);
    vg_ap_wait_seq(a, "gw-1", 4);
    assert_int_equal(vg_tp_wait_contains(a->log, "msg=\"alert firing\"", 10000), 0);
    vg_ap_wait_metric(a, "vigil_state_hosts_pending", 0, 10000);
    assert_int_equal(vg_tp_count(g->s.recv_out, "-firing-"), 0);
}

/* Stops pid with SIGTERM; it must exit 0. */
static void gw_stop_clean(pid_t pid)
{
    int st = vg_tp_stop(pid, SIGTERM, 20000);
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* A firing that alert.group_wait holds is in the analyzer's memory only, while the host's state
 * record already says the alert fires. Killed -9 during the wait, the restarted analyzer restores
 * the alert: the record says its firing was never notified, so it is sent once the wait is over
 * (not taken as sent, which left the receiver with a lone resolve), and its resolve after it. */
static void firing_held_by_group_wait_is_sent_after_a_kill9_restart(void **state)
{
    (void)state;
    struct gw_stack g;
    gw_stack_start(&g, "gw");
    struct gw_sets o;
    const char *const *sets = gw_sets_fill(&o, &g, "10s", "outbox");
    struct vg_ap a;
    gw_fire_and_hold(&a, &g, "0", sets);
    kill(a.pid, SIGKILL);
    waitpid(a.pid, NULL, 0);

    vg_ap_start(&a, g.s.dir, "1", g.bootstrap, sets);
    /* Its partitions come back once the killed member's session times out. */
    if (vg_tp_wait_contains(a.log, "firing alerts taken over", 40000) != 0)
        fail_msg("%s: the restarted analyzer took no firing alert over", a.log);
    if (vg_tp_wait_contains(g.s.recv_out, "-firing-", 30000) != 0)
        fail_msg("the firing held by group_wait never reached the receiver after the restart");
    assert_int_equal(vg_tp_count(g.s.recv_out, "-resolved-"), 0);
    char chunk[700];
    snprintf(chunk, sizeof(chunk), "%s/resolve", g.s.dir);
    write_x_ticks(chunk, 4, 5, 10);
    assert_int_equal(vg_ap_produce(g.bootstrap, chunk), 0);
    assert_int_equal(vg_tp_wait_contains(g.s.recv_out, "-resolved-", 30000), 0);
    char *out = vg_tp_read(g.s.recv_out);
    assert_non_null(out);
    assert_true(strstr(out, "-firing-") < strstr(out, "-resolved-"));
    free(out);
    assert_true(vg_ap_metric(&a, "vigil_alerts_taken_over_unnotified_total") == 1);
    gw_stop_clean(a.pid);
    gw_stack_stop(&g);
}

/* A clean stop sends the firing group_wait holds before its last checkpoint, so that the record
 * says it was notified: written before, the restarted analyzer took it as never notified and
 * sent it again (a duplicate at every restart where the receiver has no dedupe). */
static void firing_held_by_group_wait_is_not_sent_again_after_a_clean_restart(void **state)
{
    (void)state;
    struct gw_stack g;
    gw_stack_start(&g, "gw-stop");
    struct gw_sets o;
    const char *const *sets = gw_sets_fill(&o, &g, "10m", "outbox");
    struct vg_ap a;
    gw_fire_and_hold(&a, &g, "0", sets);
    gw_stop_clean(a.pid);
    assert_int_equal(vg_tp_count(g.s.recv_out, "-firing-"), 1); /* sent by the stop */

    vg_ap_start(&a, g.s.dir, "1", g.bootstrap, sets);
    if (vg_tp_wait_contains(a.log, "firing alerts taken over", 40000) != 0)
        fail_msg("%s: the restarted analyzer took no firing alert over", a.log);
    /* Taken over as notified: not held to be sent again. */
    assert_true(vg_ap_metric(&a, "vigil_alerts_taken_over_unnotified_total") == 0);
    gw_stop_clean(a.pid);
    assert_int_equal(vg_tp_count(g.s.recv_out, "-firing-"), 1);
    gw_stack_stop(&g);
}

/* Likewise at a rebalance: every partition is revoked, and the firing group_wait holds goes
 * before the revoke's checkpoint, wherever its host ends up. Sent only when the host left, after
 * that checkpoint, the new owner took it as never notified and sent it again; kept, it was not
 * sent at all then. */
static void firing_held_by_group_wait_is_sent_once_at_a_rebalance(void **state)
{
    (void)state;
    struct gw_stack g;
    gw_stack_start(&g, "gw-rebal");
    struct gw_sets oa, ob;
    const char *const *sets_a = gw_sets_fill(&oa, &g, "10m", "outbox-a");
    const char *const *sets_b = gw_sets_fill(&ob, &g, "10m", "outbox-b");
    struct vg_ap a, b;
    gw_fire_and_hold(&a, &g, "a", sets_a);

    vg_ap_start(&b, g.s.dir, "b", g.bootstrap, sets_b);
    if (vg_tp_wait_contains(b.log, "msg=\"partitions assigned\"", 60000) != 0)
        fail_msg("%s: the second analyzer got no partition", b.log);
    if (vg_tp_wait_contains(g.s.recv_out, "-firing-", 30000) != 0)
        fail_msg("the firing group_wait held was not sent at the rebalance");
    vg_ap_expect_log(&a, "msg=\"held notification sent early\" reason=rebalance");
    /* Whichever took the host over took it as notified. */
    assert_true(vg_ap_metric(&a, "vigil_alerts_taken_over_unnotified_total") == 0);
    assert_true(vg_ap_metric(&b, "vigil_alerts_taken_over_unnotified_total") == 0);
    gw_stop_clean(b.pid);
    gw_stop_clean(a.pid);
    assert_int_equal(vg_tp_count(g.s.recv_out, "-firing-"), 1);
    gw_stack_stop(&g);
}

static pid_t slow_state_broker(const char *dir, int rtt_ms, char *bootstrap, size_t len)
{
    pid_t pid = vg_ap_start_broker_ctl(dir, 2, bootstrap, len);
    char cmd[128];
    vg_ap_broker_control(dir, "coordinator group vigil-analyzer 1");
    for (int p = 0; p < 4; p++) {
        snprintf(cmd, sizeof cmd, "leader vigil.metrics %d 1", p);
        vg_ap_broker_control(dir, cmd);
        snprintf(cmd, sizeof cmd, "leader vigil.state %d 2", p);
        vg_ap_broker_control(dir, cmd);
    }
    snprintf(cmd, sizeof cmd, "rtt 2 %d", rtt_ms);
    vg_ap_broker_control(dir, cmd);
    return pid;
}

/* The service manager's end of $NOTIFY_SOCKET: an abstract datagram socket whose datagrams the
 * kernel stamps on arrival (SO_TIMESTAMPNS), so the gaps are measured where systemd would see
 * them, however late this test reads them. */
static int watchdog_socket(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    int on = 1;
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on), 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(name);
    memcpy(sa.sun_path, name, n);
    sa.sun_path[0] = '\0';
    assert_int_equal(
        bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)),
        0);
    return fd;
}

/* Reads the datagrams as they come, as the service manager does: a datagram socket's queue is
 * short (net.unix.max_dgram_qlen, 10 by default), and a full one blocks the sender. Keeps the
 * largest gap between consecutive WATCHDOG=1 arrivals (the kernel's stamps) and their count, and
 * the last one's stamp (wall clock ms) for the test's thread. */
struct watchdog_rx {
    int fd;
    atomic_int stop;
    int pings;
    double last_ms, max_gap_ms;
    atomic_llong last_at_ms;
};

static void *watchdog_rx_main(void *arg)
{
    struct watchdog_rx *w = arg;
    w->last_ms = -1;
    while (!atomic_load(&w->stop)) {
        char buf[512], ctl[CMSG_SPACE(sizeof(struct timespec))];
        struct iovec iov = {buf, sizeof buf - 1};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
        struct pollfd pfd = {.fd = w->fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t r = recvmsg(w->fd, &mh, MSG_DONTWAIT);
        if (r < 0)
            continue;
        buf[r] = '\0';
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        if (!strstr(buf, "WATCHDOG=1") || !c || c->cmsg_type != SCM_TIMESTAMPNS)
            continue;
        struct timespec ts;
        memcpy(&ts, CMSG_DATA(c), sizeof ts);
        double t = (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
        if (w->last_ms >= 0 && t - w->last_ms > w->max_gap_ms)
            w->max_gap_ms = t - w->last_ms;
        w->last_ms = t;
        atomic_store(&w->last_at_ms, (long long)t);
        w->pings++;
    }
    return NULL;
}

/* WatchdogSec=6s while vigil.state's leader answers 1.5 s late: the restore at the first
 * assignment takes several round trips (some 8 s). It ran in the loop that pets the watchdog,
 * and nothing else did: no ping for the whole restore (38 s against WatchdogSec=30s in the
 * audit), so systemd killed the analyzer, which restarted into the same restore. The pings go on
 * through it now; their largest gap stays within 3/4 of WatchdogSec (the analyzer pings at half
 * of it, plus its loop's granularity), short of the whole of it, which gets a unit killed. The
 * broker's delay stays below a quarter of WatchdogSec, as the analyzer's other waits on the
 * broker (10 s at most) stay below a third of the packaged 30 s. */
static void watchdog_is_petted_while_a_slow_broker_holds_the_state_restore(void **state)
{
    (void)state;
    char *dir = vg_tp_tmpdir("restore-watchdog"), bootstrap[256], name[64];
    pid_t broker = slow_state_broker(dir, 1500, bootstrap, sizeof bootstrap);
    snprintf(name, sizeof name, "@vigil-test-restore-wd.%d", (int)getpid());
    struct watchdog_rx w = {.fd = watchdog_socket(name)};
    pthread_t rx;
    assert_int_equal(pthread_create(&rx, NULL, watchdog_rx_main, &w), 0);
    const int watchdog_ms = 6000;
    char usec[32];
    snprintf(usec, sizeof usec, "%d", watchdog_ms * 1000);
    setenv("NOTIFY_SOCKET", name, 1);
    setenv("WATCHDOG_USEC", usec, 1);
    struct vg_ap a;
    const char *sets[] = {"state.restore_timeout=40s", NULL};
    vg_ap_start(&a, dir, "wd", bootstrap, sets);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    if (vg_tp_wait_contains(a.log, "msg=\"state restored\"", 90000) != 0) {
        char *t = vg_tp_read(a.log);
        fail_msg("no state restore:\n%s", t ? t : "");
    }
    /* Until a ping after the restore, which closes the gap that spans it (not a timing assert;
     * the analyzer pings every WatchdogSec / 2). */
    struct timespec seen;
    clock_gettime(CLOCK_REALTIME, &seen);
    long long seen_ms = (long long)seen.tv_sec * 1000 + seen.tv_nsec / 1000000;
    int64_t end = vg_tp_mono_ms() + 2 * watchdog_ms;
    while (atomic_load(&w.last_at_ms) <= seen_ms && vg_tp_mono_ms() < end)
        vg_tp_pause_ms(50);
    if (atomic_load(&w.last_at_ms) <= seen_ms)
        fail_msg("no watchdog ping in the %d ms after the restore", 2 * watchdog_ms);
    assert_int_equal(vg_tp_stop(a.pid, SIGTERM, 20000), 0);
    atomic_store(&w.stop, 1);
    pthread_join(rx, NULL);
    fprintf(stderr, "watchdog: %d pings, largest gap %.0f ms (WatchdogSec %d ms)\n", w.pings,
            w.max_gap_ms, watchdog_ms);
    assert_true(w.pings >= 3);
    if (w.max_gap_ms >= watchdog_ms * 0.75)
        fail_msg("watchdog gap %.0f ms with WatchdogSec %d ms: systemd kills at %d ms",
                 w.max_gap_ms, watchdog_ms, watchdog_ms);
    close(w.fd);
    vg_tp_stop(broker, SIGTERM, 5000);
    free(dir);
}

/* Starts analyzer a (name) in dir against a broker whose vigil.state leader answers 25 s late, with
 * state.restore_timeout=10m so that its first restore waits that long; returns the broker's pid. */
static pid_t start_in_a_slow_restore(const char *dir, const char *name, struct vg_ap *a)
{
    char bootstrap[256];
    pid_t broker = slow_state_broker(dir, 25000, bootstrap, sizeof bootstrap);
    const char *sets[] = {"state.restore_timeout=10m", NULL};
    vg_ap_start(a, dir, name, bootstrap, sets);
    return broker;
}

/* SIGTERM while vigil.state's leader answers 25 s late and the first assignment's restore waits
 * for it: the restore sat in a watermark query for minutes (SIGTERM unheeded, kill -9 needed).
 * It stops now, and the analyzer exits 0 through its normal stop. The 20 s guard is only there to
 * fail rather than hang; the stop takes a few seconds at most (the request in flight, 5 s). */
static void sigterm_during_a_slow_state_restore_stops_the_analyzer(void **state)
{
    (void)state;
    char *dir = vg_tp_tmpdir("restore-sigterm");
    struct vg_ap a;
    pid_t broker = start_in_a_slow_restore(dir, "term", &a);
    if (vg_tp_wait_contains(a.log, "msg=\"partitions assigned\"", 90000) != 0) {
        char *t = vg_tp_read(a.log);
        fail_msg("no assignment:\n%s", t ? t : "");
    }
    int64_t t0 = vg_tp_mono_ms();
    int st = vg_tp_stop(a.pid, SIGTERM, 20000);
    int64_t took = vg_tp_mono_ms() - t0;
    fprintf(stderr, "stopped in %lld ms\n", (long long)took);
    if (st == -1) {
        char *t = vg_tp_read(a.log);
        fail_msg("SIGTERM during the restore: still running after 20 s (killed):\n%s", t ? t : "");
    }
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    vg_ap_expect_log(&a, "msg=\"state restore stopped: the analyzer stops\"");
    vg_tp_stop(broker, SIGTERM, 5000);
    free(dir);
}

/* GET path on a's API: its status (-1: no answer within the client's 10 s), the body in *body
 * (the caller frees it). */
static int api_get(const struct vg_ap *a, const char *path, char **body)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", a->port, path);
    *body = NULL;
    return vg_th_request("GET", url, NULL, NULL, 0, body);
}

/* While vigil.state's leader answers 25 s late and the first assignment's restore waits for it
 * (up to state.restore_timeout, 10 minutes here), the API answers: the restore held the
 * analyzer's lock for the whole read, and /readyz, /metrics and every /api/v1 route waited for it,
 * so that Kubernetes' and systemd's probes timed out. /readyz says why it is not ready; the
 * routes that read the engine answer too, and the restore is still running after them (so they
 * were answered during it, not after it). */
static void api_answers_while_a_slow_broker_holds_the_state_restore(void **state)
{
    (void)state;
    char *dir = vg_tp_tmpdir("restore-api");
    struct vg_ap a;
    pid_t broker = start_in_a_slow_restore(dir, "api", &a);
    const char *restoring = "not ready: restoring the state of the hosts of 4 assigned partitions "
                            "from vigil.state since ";
    int64_t end = vg_tp_mono_ms() + 60000;
    int st = -1;
    char *body = NULL;
    while (vg_tp_mono_ms() < end) {
        free(body);
        st = api_get(&a, "/readyz", &body);
        if (st == 503 && body && strstr(body, restoring))
            break;
        vg_tp_pause_ms(50);
    }
    if (st != 503 || !body || !strstr(body, restoring)) {
        char *t = vg_tp_read(a.log);
        fail_msg("/readyz did not say the restore runs (last: %d %s):\n%s", st,
                 body ? body : "(no answer)", t ? t : "");
    }
    free(body);
    assert_int_equal(api_get(&a, "/metrics", &body), 200);
    assert_non_null(strstr(body, "vigil_state_hosts_restored_total 0\n"));
    free(body);
    assert_int_equal(api_get(&a, "/api/v1/status", &body), 200);
    assert_non_null(strstr(body, "\"ready\":false"));
    /* With /readyz's reason, for vigilctl status (partitions_assigned is 0 meanwhile). */
    assert_non_null(strstr(body, "\"not_ready\":\"restoring the state of the hosts of 4 assigned "
                                 "partitions from vigil.state since "));
    free(body);
    assert_int_equal(api_get(&a, "/readyz", &body), 503);
    assert_non_null(strstr(body, restoring));
    free(body);
    st = vg_tp_stop(a.pid, SIGTERM, 20000);
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    vg_ap_expect_log(&a, "msg=\"state restore stopped: the analyzer stops\"");
    vg_tp_stop(broker, SIGTERM, 5000);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(alerts_after_kill9_restarts_equal_uninterrupted_run),
        cmocka_unit_test(firing_held_by_group_wait_is_sent_after_a_kill9_restart),
        cmocka_unit_test(firing_held_by_group_wait_is_not_sent_again_after_a_clean_restart),
        cmocka_unit_test(firing_held_by_group_wait_is_sent_once_at_a_rebalance),
        cmocka_unit_test(watchdog_is_petted_while_a_slow_broker_holds_the_state_restore),
        cmocka_unit_test(sigterm_during_a_slow_state_restore_stops_the_analyzer),
        cmocka_unit_test(api_answers_while_a_slow_broker_holds_the_state_restore),
    };
    return vg_tp_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
