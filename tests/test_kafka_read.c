/* vg_kafka_read_topic (common/vg_kafka_read.c), the reader behind the state restore and the
 * scaling decisions' restore, against librdkafka's mock cluster in this process: a partition
 * whose end the broker will not say for a while is asked again, one that stays unknown fails the
 * read instead of passing for empty. */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "vg_config.h"
#include "vg_kafka_read.h"

#define PARTS        4
#define PER_PART     3
#define LIST_OFFSETS 2 /* the Kafka API key */

struct cluster {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    char bootstrap[256];
};

/* A one-broker mock cluster with topic t (PARTS partitions, PER_PART records in each). */
static void cluster_start(struct cluster *c)
{
    char e[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    c->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
    assert_non_null(c->rk);
    c->mc = rd_kafka_mock_cluster_new(c->rk, 1);
    assert_non_null(c->mc);
    assert_int_equal(rd_kafka_mock_topic_create(c->mc, "t", PARTS, 1), 0);
    snprintf(c->bootstrap, sizeof(c->bootstrap), "%s", rd_kafka_mock_cluster_bootstraps(c->mc));

    conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", c->bootstrap, e, sizeof(e)), 0);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
    assert_non_null(p);
    for (int part = 0; part < PARTS; part++)
        for (int i = 0; i < PER_PART; i++) {
            char key[16], val[32];
            snprintf(key, sizeof(key), "h%d", part);
            snprintf(val, sizeof(val), "p%d-r%d", part, i);
            assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC("t"), RD_KAFKA_V_PARTITION(part),
                                               RD_KAFKA_V_KEY(key, strlen(key)),
                                               RD_KAFKA_V_VALUE(val, strlen(val)),
                                               RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                               RD_KAFKA_V_END),
                             0);
        }
    assert_int_equal(rd_kafka_flush(p, 10000), 0);
    rd_kafka_destroy(p);
}

static void cluster_stop(struct cluster *c)
{
    rd_kafka_mock_cluster_destroy(c->mc);
    rd_kafka_destroy(c->rk);
}

/* The broker refuses the next n ListOffsets requests (watermark queries) with code. */
static void refuse_list_offsets(struct cluster *c, size_t n, rd_kafka_resp_err_t code)
{
    rd_kafka_resp_err_t errs[1000];
    assert_true(n <= 1000);
    for (size_t i = 0; i < n; i++)
        errs[i] = code;
    rd_kafka_mock_push_request_errors_array(c->mc, LIST_OFFSETS, n, errs);
}

struct got {
    int records[PARTS];
    int ended[PARTS];
};

static void on_record(void *ud, const rd_kafka_message_t *m)
{
    struct got *g = ud;
    if (m->partition >= 0 && m->partition < PARTS)
        g->records[m->partition]++;
}

static void on_end(void *ud, int32_t p)
{
    struct got *g = ud;
    if (p >= 0 && p < PARTS)
        g->ended[p]++;
}

static int read_all(struct cluster *c, int timeout_ms, struct got *g, char *err, size_t errlen)
{
    struct vg_kvlist props = {0};
    memset(g, 0, sizeof(*g));
    int n = 0;
    return vg_kafka_read_topic(c->bootstrap, &props, "test-kafka-read", "t", timeout_ms, on_record,
                               on_end, g, &n, err, errlen);
}

static void read_topic_reads_every_partition_to_its_end(void **state)
{
    (void)state;
    struct cluster c;
    cluster_start(&c);
    struct got g;
    char err[256] = "";
    assert_int_equal(read_all(&c, 15000, &g, err, sizeof(err)), 0);
    for (int p = 0; p < PARTS; p++) {
        assert_int_equal(g.records[p], PER_PART);
        assert_int_equal(g.ended[p], 1);
    }
    cluster_stop(&c);
}

/* NOT_LEADER_FOR_PARTITION (6) for 8 watermark queries (a leader moving): the read used to take
 * those partitions for empty and return 0 without their records; they are asked again. */
static void read_topic_asks_again_for_watermarks_the_broker_refused(void **state)
{
    (void)state;
    struct cluster c;
    cluster_start(&c);
    refuse_list_offsets(&c, 8, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
    struct got g;
    char err[256] = "";
    int rc = read_all(&c, 15000, &g, err, sizeof(err));
    if (rc)
        fail_msg("read: %d: %s", rc, err);
    for (int p = 0; p < PARTS; p++) {
        if (g.records[p] != PER_PART)
            fail_msg("partition %d: %d records read, %d in it", p, g.records[p], PER_PART);
        assert_int_equal(g.ended[p], 1);
    }
    cluster_stop(&c);
}

/* A broker that never says where a partition ends: an error (-EIO, with the reason), nothing
 * delivered, never 0 as for an empty topic. */
static void read_topic_fails_when_a_partitions_end_stays_unknown(void **state)
{
    (void)state;
    struct cluster c;
    cluster_start(&c);
    refuse_list_offsets(&c, 1000, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
    struct got g;
    char err[256] = "";
    assert_int_equal(read_all(&c, 1500, &g, err, sizeof(err)), -EIO);
    assert_non_null(strstr(err, "partition"));
    for (int p = 0; p < PARTS; p++) {
        assert_int_equal(g.records[p], 0);
        assert_int_equal(g.ended[p], 0);
    }
    cluster_stop(&c);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The broker answers every watermark query (ListOffsets) 25 s late. The read used
 * rd_kafka_query_watermark_offsets, which waits for the answer without a limit (its timeout is
 * each request's, and librdkafka retries a request that timed out): a 2 s read sat there for
 * minutes, a state restore past its state.restore_timeout with SIGTERM unheeded. It ends at its
 * deadline now, with the reason; the guard below only catches the old unbounded wait. */
static void read_topic_ends_at_its_deadline_when_the_broker_answers_late(void **state)
{
    (void)state;
    struct cluster c;
    cluster_start(&c);
    for (int i = 0; i < 50; i++)
        assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                             c.mc, 1, LIST_OFFSETS, 1, RD_KAFKA_RESP_ERR_NO_ERROR, 25000),
                         0);
    struct got g;
    char err[256] = "";
    int64_t t0 = mono_ms();
    int rc = read_all(&c, 2000, &g, err, sizeof(err));
    int64_t took = mono_ms() - t0;
    if (took > 2000 + 8000)
        fail_msg("a 2 s read took %lld ms (rc %d: %s)", (long long)took, rc, err);
    assert_int_equal(rc, -EIO);
    assert_non_null(strstr(err, "not known"));
    for (int p = 0; p < PARTS; p++)
        assert_int_equal(g.records[p], 0);
    cluster_stop(&c);
}

/* A stop asked before the read (a daemon told to stop while partitions were assigned): nothing
 * is read, -ECANCELED, no partition reported whole. */
static void read_topic_stopped_reads_nothing_and_says_so(void **state)
{
    (void)state;
    struct cluster c;
    cluster_start(&c);
    struct vg_kvlist props = {0};
    struct got g;
    memset(&g, 0, sizeof(g));
    char err[256] = "";
    atomic_int stop = 1;
    int n = 0;
    int rc = vg_kafka_read_topic_stoppable(c.bootstrap, &props, "test-kafka-read", "t", 15000,
                                           &stop, on_record, on_end, &g, &n, err, sizeof(err));
    assert_int_equal(rc, -ECANCELED);
    assert_non_null(strstr(err, "stopped"));
    for (int p = 0; p < PARTS; p++) {
        assert_int_equal(g.records[p], 0);
        assert_int_equal(g.ended[p], 0);
    }
    cluster_stop(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(read_topic_reads_every_partition_to_its_end),
        cmocka_unit_test(read_topic_asks_again_for_watermarks_the_broker_refused),
        cmocka_unit_test(read_topic_fails_when_a_partitions_end_stays_unknown),
        cmocka_unit_test(read_topic_ends_at_its_deadline_when_the_broker_answers_late),
        cmocka_unit_test(read_topic_stopped_reads_nothing_and_says_so),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
