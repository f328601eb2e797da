/* Hosts that stop for good (autoscaled VMs, pods) are forgotten after limits.host_idle
 * (vg_engine_expire_hosts): their alerts resolve, the host table shrinks, and their record in the
 * state topic is deleted by a tombstone, so that a restarted analyzer or the partition's next
 * owner does not bring them back.
 *
 * Real parts: vigil-test-mockbroker, analyzers in processes of their own, kcat for the metrics.
 * Every wait has a deadline; nothing is timed. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vg_analyzerproc.h"
#include "vg_testhttp.h"
#include "vg_testproc.h"

/* Ticks [from, to) of host (two steady series) into dir, and produces them. */
static void send_ticks(const char *dir, const char *bootstrap, const char *host, int from, int to)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/ticks-%s-%d.txt", dir, host, from);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int t = from; t < to; t++)
        fprintf(f,
                "%s|{\"v\":1,\"host\":\"%s\",\"boot\":\"b1\",\"seq\":%d,\"ts\":%lld,"
                "\"interval_ms\":1000,\"metrics\":{\"cpu.user_pct\":%d,\"load.1m\":0.5}}\n",
                host, host, t + 1, 1700000000000LL + t * 1000LL, 10 + t % 3);
    fclose(f);
    assert_int_equal(vg_ap_produce(bootstrap, path), 0);
}

/* The status of GET /api/v1/history/HOST. */
static int history_status(const struct vg_ap *a, const char *host)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/history/%s", a->port, host);
    return vg_th_request("GET", url, NULL, NULL, 0, NULL);
}

/* gone-1 reports for 20 ticks and stops; stay-1 goes on, one tick about every 300 ms of wall
 * clock so that messages keep arriving, and its event time passes gone-1's last by more than
 * host_idle. gone-1's host_silent fires, then gone-1 is forgotten: host_silent resolves, the host
 * leaves the table, and the tombstone is acknowledged. A second analyzer restores stay-1 only:
 * it reads gone-1's records and then the tombstone that voids them. */
static void a_forgotten_host_is_deleted_from_the_state_topic_and_not_restored(void **state)
{
    (void)state;
    char *dir = vg_tp_tmpdir("host-expiry");
    char bootstrap[256];
    pid_t broker = vg_ap_start_broker(dir, bootstrap, sizeof(bootstrap));
    const char *sets[] = {"state.checkpoint_interval=200ms", "alert.host_silent_after=3s",
                          "limits.host_idle=10s", "model.backend=cpu", NULL};
    struct vg_ap a, b;
    vg_ap_start(&a, dir, "expiry-a", bootstrap, sets);
    send_ticks(dir, bootstrap, "gone-1", 0, 20);
    send_ticks(dir, bootstrap, "stay-1", 0, 20);
    vg_ap_wait_seq(&a, "gone-1", 20);
    vg_ap_wait_seq(&a, "stay-1", 20);
    assert_int_equal(history_status(&a, "gone-1"), 200);
    vg_ap_wait_metric(&a, "vigil_state_hosts_pending", 0, 30000);
    assert_int_equal((int)vg_ap_metric(&a, "vigil_hosts"), 2);

    int t = 20;
    int64_t end = vg_tp_mono_ms() + 60000;
    while (vg_ap_metric(&a, "vigil_hosts_expired_total") < 1 && vg_tp_mono_ms() < end) {
        send_ticks(dir, bootstrap, "stay-1", t, t + 1);
        t++;
        vg_tp_pause_ms(300);
    }
    assert_int_equal((int)vg_ap_metric(&a, "vigil_hosts_expired_total"), 1);
    vg_ap_expect_log(&a, "msg=\"host silent\" host=gone-1");
    vg_ap_expect_log(&a, "msg=\"host expired\" host=gone-1");
    vg_ap_expect_log(&a, "msg=\"host_silent resolved: host forgotten\" host=gone-1");
    assert_int_equal((int)vg_ap_metric(&a, "vigil_hosts"), 1);
    assert_int_equal((int)vg_ap_metric(&a, "vigil_hosts_silent"), 0);
    assert_int_equal((int)vg_ap_metric(&a, "vigil_alerts_firing"), 0);
    assert_int_equal(vg_ap_last_seq(&a, "gone-1"), -1);
    /* Its `vigilctl report` history went with it; stay-1's is still there. */
    assert_int_equal(history_status(&a, "gone-1"), 404);
    assert_int_equal(history_status(&a, "stay-1"), 200);
    vg_ap_wait_metric(&a, "vigil_state_hosts_deleted_total", 1, 30000);
    vg_ap_wait_metric(&a, "vigil_state_hosts_pending", 0, 30000);
    assert_int_equal((int)vg_ap_metric(&a, "vigil_state_checkpoint_errors_total"), 0);
    assert_int_equal(vg_tp_stop(a.pid, SIGTERM, 20000), 0);

    vg_ap_start(&b, dir, "expiry-b", bootstrap, sets);
    send_ticks(dir, bootstrap, "stay-1", t, t + 5);
    vg_ap_wait_seq(&b, "stay-1", t + 5);
    vg_ap_expect_log(&b, "msg=\"state restored\"");
    vg_ap_expect_log(&b, "deleted=1");
    assert_int_equal((int)vg_ap_metric(&b, "vigil_state_hosts_restored_total"), 1);
    assert_int_equal((int)vg_ap_metric(&b, "vigil_state_restore_errors_total"), 0);
    assert_int_equal((int)vg_ap_metric(&b, "vigil_hosts"), 1);
    assert_int_equal(vg_ap_last_seq(&b, "gone-1"), -1);
    assert_int_equal(vg_tp_stop(b.pid, SIGTERM, 20000), 0);

    vg_tp_stop(broker, SIGTERM, 5000);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_forgotten_host_is_deleted_from_the_state_topic_and_not_restored),
    };
    return vg_tp_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
