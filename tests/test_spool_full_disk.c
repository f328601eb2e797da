/* The agent's spool on a disk that fills (docs/reliability.md, "The agent's spool"): with every
 * broker down the agent spools until its 256 KiB tmpfs is full; each message it then cannot
 * write is lost, counted in spool_failed (logged on the 1st and every 100th failure) and missing
 * from the topic: exactly that many sequence numbers, in one hole or a few (a failed write is cut
 * back off, so a smaller message can still fit in the space left while the disk is full).
 *
 * Real processes: vigil-test-mockbroker with its control FIFO, vigil-agent with its spool on a
 * tmpfs mounted for the test (root, as in CI; skipped with the reason otherwise); the topic is
 * read back with kcat. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vg_analyzerproc.h"
#include "vg_stack.h"
#include "vg_testproc.h"

#define HOST     "full-host"
#define DEADLINE 30000

static char g_dir[256], g_spool[300];

static void wait_field(const char *log, const char *key, long long want)
{
    long long v = vg_tp_wait_field(log, key, want, DEADLINE);
    if (v < want)
        fail_msg("%s: %s stayed at %lld, want >= %lld", log, key, v, want);
}

static void spool_write_failures_are_counted_and_are_exactly_what_the_topic_misses(void **state)
{
    (void)state;
    char bootstrap[256], log[320], bs[300], spool[320], holes[320];
    snprintf(log, sizeof log, "%s/agent.log", g_dir);
    snprintf(holes, sizeof holes, "%s/holes.txt", g_dir);
    pid_t broker = vg_ap_start_broker_ctl(g_dir, 1, bootstrap, sizeof bootstrap);
    snprintf(bs, sizeof bs, "bootstrap_servers=%s", bootstrap);
    snprintf(spool, sizeof spool, "spool.dir=%s", g_spool);
    /* Large messages (vmstat, netstat) fill the 256 KiB in a few seconds at 100 ms. */
    const char *argv[] = {VG_AGENT_BIN, "--set", "user=", "--set", bs, "--set", "host=" HOST,
                          "--set", "interval=100ms", "--set",
                          "collectors=cpu,mem,load,disk,net,vmstat,netstat", "--set",
                          "stats_interval=1s", "--set", spool, "--set", "spool.memory_messages=20",
                          "--set", "kafka.reconnect.backoff.max.ms=1000", "--set",
                          /* one produce request at a time: see tests/test_agent_outage.c */
                          "kafka.max.in.flight.requests.per.connection=1", NULL};
    pid_t agent = vg_tp_spawn((char *const *)argv, log);
    wait_field(log, "delivered", 5);

    vg_ap_broker_control(g_dir, "down");
    assert_int_equal(vg_tp_wait_contains(log, "spooling to disk", DEADLINE), 0);
    /* Past the 101st failure: the second log line. */
    wait_field(log, "spool_failed", 101);
    vg_ap_broker_control(g_dir, "up");
    /* The spool drains, then new messages are delivered again. */
    int64_t deadline = vg_tp_mono_ms() + DEADLINE;
    while (vg_tp_last_field(log, "spool_records") != 0 && vg_tp_mono_ms() < deadline)
        vg_tp_pause_ms(100);
    assert_int_equal(vg_tp_last_field(log, "spool_records"), 0);
    wait_field(log, "delivered", vg_tp_last_field(log, "delivered") + 5);
    assert_int_equal(vg_tp_stop(agent, SIGTERM, 20000), 0);

    long long ticks = vg_tp_last_field(log, "ticks"),
              failed = vg_tp_last_field(log, "spool_failed");
    long long spooled = vg_tp_last_field(log, "spooled");
    /* Logged on the 1st failure and every 100th after, with the reason. */
    int lines = vg_tp_count(log, "msg=\"spool write failed, message lost\"");
    char *text = vg_tp_read(log);
    assert_non_null(strstr(text, "msg=\"spool write failed, message lost\" failed=1 "));
    assert_non_null(strstr(text, "msg=\"spool write failed, message lost\" failed=101 "));
    assert_non_null(strstr(text, "No space left on device"));
    free(text);

    /* The topic's sequence numbers: "distinct holes hole_size last". */
    assert_int_equal(vg_tp_sh("kcat -C -b %s -t vigil.metrics -e -q -f '%%s\\n' 2>/dev/null | "
                              "grep -o '\"seq\":[0-9]*' | cut -d: -f2 | sort -n | uniq | "
                              "awk '{n++; if (n > 1 && $1 != p + 1) {h++; s += $1 - p - 1} p = $1} "
                              "END {printf \"%%d %%d %%d %%d\\n\", n, h, s, p}' > %s",
                              bootstrap, holes),
                     0);
    char *t = vg_tp_read(holes);
    long long distinct = -1, nholes = -1, hole = -1, last = -1;
    assert_non_null(t);
    assert_int_equal(sscanf(t, "%lld %lld %lld %lld", &distinct, &nholes, &hole, &last), 4);
    free(t);
    print_message("agent: ticks=%lld spooled=%lld spool_failed=%lld (%d log lines); topic: "
                  "distinct=%lld holes=%lld missing=%lld last=%lld\n",
                  ticks, spooled, failed, lines, distinct, nholes, hole, last);
    assert_true(failed >= 101);
    assert_int_equal(lines, (failed + 99) / 100);
    assert_true(nholes >= 1);
    assert_int_equal(hole, failed);
    assert_int_equal(distinct + failed, ticks);
    assert_int_equal(last, ticks - 1);
    assert_int_equal(vg_tp_last_field(log, "delivery_failed"), 0);
    assert_int_equal(vg_tp_last_field(log, "produce_failed"), 0);
    vg_tp_stop(broker, SIGTERM, 10000);
}

int main(void)
{
    char *d = vg_tp_tmpdir("spool-full");
    snprintf(g_dir, sizeof g_dir, "%s", d);
    free(d);
    snprintf(g_spool, sizeof g_spool, "%s/spool", g_dir);
    /* In a mount namespace of its own, private from the host's: the tmpfs goes with the last
     * process in it (this one and what it spawned, which die with it), so a failed assertion
     * with the agent still holding files in it, or a kill at ctest's timeout, leaves no mount
     * behind. */
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mkdir(g_spool, 0700) != 0 || mount("tmpfs", g_spool, "tmpfs", 0, "size=256k") != 0) {
        printf("test_spool_full_disk: skipped: cannot mount a 256 KiB tmpfs on %s in a mount "
               "namespace of its own: %s (needs root, as in CI)\n",
               g_spool, strerror(errno));
        vg_tp_finish(0);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spool_write_failures_are_counted_and_are_exactly_what_the_topic_misses),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (umount(g_spool) != 0)
        fprintf(stderr, "umount %s: %s\n", g_spool, strerror(errno));
    return vg_tp_finish(failed);
}
