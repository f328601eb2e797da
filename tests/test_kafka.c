/* common/vg_kafka.c's pure helpers: which consumed messages are bad messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vg_kafka.h"

/* A message librdkafka marks as failed with a topic and a partition (a batch it could not
 * decompress, a CRC that does not match) is a bad message at its offset, counted and logged with
 * where it is, like one that does not decode; the analyzer used to count it as a consume error,
 * logged once per 100 with only librdkafka's text. Errors of the consumer or the cluster stay
 * consume errors. */
static void a_message_librdkafka_could_not_read_is_a_bad_message(void **state)
{
    (void)state;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    assert_non_null(rk);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, "vigil.metrics", NULL);
    assert_non_null(rkt);
    rd_kafka_message_t m = {.rkt = rkt, .partition = 3, .offset = 42};
    const rd_kafka_resp_err_t bad[] = {RD_KAFKA_RESP_ERR__BAD_MSG,
                                       RD_KAFKA_RESP_ERR__BAD_COMPRESSION,
                                       RD_KAFKA_RESP_ERR_INVALID_MSG};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        m.err = bad[i];
        assert_int_equal(vg_kafka_message_is_bad(&m), 1);
    }
    const rd_kafka_resp_err_t other[] = {RD_KAFKA_RESP_ERR_NO_ERROR, RD_KAFKA_RESP_ERR__TRANSPORT,
                                         RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN,
                                         RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                                         RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        m.err = other[i];
        assert_int_equal(vg_kafka_message_is_bad(&m), 0);
    }
    /* Without a partition (or a topic) it is not about one message. */
    m.err = RD_KAFKA_RESP_ERR__BAD_MSG;
    m.partition = RD_KAFKA_PARTITION_UA;
    assert_int_equal(vg_kafka_message_is_bad(&m), 0);
    m.partition = 3;
    m.rkt = NULL;
    assert_int_equal(vg_kafka_message_is_bad(&m), 0);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_message_librdkafka_could_not_read_is_a_bad_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
