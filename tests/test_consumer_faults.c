/* The analyzer's Kafka consumer under faults of the partitions it reads, through real processes:
 * vigil-test-mockbroker (with its control FIFO) and vigil-analyzer. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>

#include "vg_analyzerproc.h"
#include "vg_testproc.h"

/* Ticks [from, to) of host into dir, produced with kcat; seq is t + 1, all of one boot. */
static void send_ticks(const char *dir, const char *bootstrap, const char *host, int from, int to)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/ticks-%s-%d.txt", dir, host, from);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int t = from; t < to; t++)
        fprintf(f,
                "%s|{\"v\":1,\"host\":\"%s\",\"boot\":\"b1\",\"seq\":%d,\"ts\":%lld,"
                "\"interval_ms\":1000,\"metrics\":{\"cpu.user_pct\":%d}}\n",
                host, host, t + 1, 1700000000000LL + t * 1000LL, 10 + t % 3);
    fclose(f);
    assert_int_equal(vg_ap_produce(bootstrap, path), 0);
}

/* Fetches that answer OFFSET_OUT_OF_RANGE (what a broker answers once retention has deleted the
 * consumer's position) make librdkafka reset the partitions by auto.offset.reset (latest here),
 * skipping the records produced meanwhile. That used to leave no analyzer counter and no analyzer
 * line: only librdkafka's own, rate-limited away. Now each reset is logged with its topic,
 * partition, offset and where it went, counted, and the records it skipped are counted (and
 * logged) when the partition's next record arrives: the records consumed and those counted
 * skipped add up to those produced. */
static void an_offset_reset_is_logged_and_its_skipped_records_counted(void **state)
{
    (void)state;
    char *dir = vg_tp_tmpdir("offset-reset");
    char bootstrap[256];
    pid_t broker = vg_ap_start_broker_ctl(dir, 1, bootstrap, sizeof(bootstrap));
    const char *sets[] = {"state.topic=", "kafka.auto.offset.reset=latest", NULL};
    struct vg_ap a;
    vg_ap_start(&a, dir, "reset", bootstrap, sets);
    vg_ap_wait_metric(&a, "vigil_partitions_assigned", 4, 30000);
    /* With latest, what is produced before the consumer has asked for the partitions' ends is
     * not read: one tick at a time until one arrives. */
    int t0 = 0;
    int64_t end = vg_tp_mono_ms() + 30000;
    while (vg_tp_mono_ms() < end) {
        send_ticks(dir, bootstrap, "reset-1", t0, t0 + 1);
        t0++;
        vg_tp_pause_ms(300);
        if (vg_ap_last_seq(&a, "reset-1") == t0)
            break;
    }
    assert_true(vg_ap_last_seq(&a, "reset-1") == t0);
    send_ticks(dir, bootstrap, "reset-1", t0, 12);
    vg_ap_wait_seq(&a, "reset-1", 12);
    assert_int_equal((int)vg_ap_metric(&a, "vigil_offset_resets_total"), 0);
    double before = vg_ap_metric(&a, "vigil_messages_consumed_total");

    /* Fetch (API key 1) answers OFFSET_OUT_OF_RANGE (1) for a while; 20 records are produced
     * meanwhile. */
    vg_ap_broker_control(dir, "errors 1 8 1");
    send_ticks(dir, bootstrap, "reset-1", 12, 32);
    end = vg_tp_mono_ms() + 30000;
    while (vg_ap_metric(&a, "vigil_offset_resets_total") < 1 && vg_tp_mono_ms() < end)
        vg_tp_pause_ms(100);
    vg_ap_expect_log(&a, "msg=\"partition offset reset\" topic=\"vigil.metrics\" partition=");
    vg_ap_expect_log(&a, " reset_to=end");
    /* Once the errors are used up the partition is read again: a later record arrives. */
    int64_t seq = -1;
    end = vg_tp_mono_ms() + 30000;
    for (int t = 32; vg_tp_mono_ms() < end; t++) {
        send_ticks(dir, bootstrap, "reset-1", t, t + 1);
        vg_tp_pause_ms(500);
        if ((seq = vg_ap_last_seq(&a, "reset-1")) == t + 1)
            break;
    }
    assert_true(seq > 32);
    double consumed = vg_ap_metric(&a, "vigil_messages_consumed_total") - before;
    double resets = vg_ap_metric(&a, "vigil_offset_resets_total");
    double skipped = vg_ap_metric(&a, "vigil_offset_reset_skipped_total");
    double gaps = vg_ap_metric(&a, "vigil_sequence_gaps_total");
    printf("consumed=%.0f resets=%.0f skipped=%.0f seq_gaps=%.0f\n", consumed, resets, skipped,
           gaps);
    assert_true(resets >= 1);
    vg_ap_expect_log(&a, "msg=\"records skipped by an offset reset\" topic=\"vigil.metrics\" "
                         "partition=");
    /* Every record produced since is either consumed or counted skipped (kcat writes no
     * transaction markers, so offsets and records are one to one). */
    double produced = 20 + (double)(seq - 32);
    assert_true(skipped > 0);
    assert_true(consumed + skipped == produced);
    /* The engine saw the same records missing from the host's sequence, once a later record of
     * its boot arrived; it would not have for a host that sends no more, or a new boot. */
    assert_true(gaps == skipped);
    assert_int_equal(vg_tp_stop(a.pid, SIGTERM, 20000), 0);
    vg_tp_stop(broker, SIGTERM, 5000);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_offset_reset_is_logged_and_its_skipped_records_counted),
    };
    return vg_tp_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
