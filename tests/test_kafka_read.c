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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(read_topic_reads_every_partition_to_its_end),
        cmocka_unit_test(read_topic_asks_again_for_watermarks_the_broker_refused),
        cmocka_unit_test(read_topic_fails_when_a_partitions_end_stays_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
