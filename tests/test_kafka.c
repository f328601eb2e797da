/* common/vg_kafka.c's pure helpers: which consumed messages are bad messages, which partition a
 * key goes to, which file a config names is missing, how consumer and offset commit errors and
 * librdkafka's own lines are logged, which topic names Kafka takes. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vg_kafka.h"
#include "vg_log.h"
#include "vg_util.h"

#include <librdkafka/rdkafka_mock.h> /* after rdkafka.h (vg_kafka.h) */

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
    /* Nor without an offset: there is no record to skip past. */
    m.rkt = rkt;
    m.offset = RD_KAFKA_OFFSET_INVALID;
    assert_int_equal(vg_kafka_message_is_bad(&m), 0);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    *(int32_t *)m->_private = m->err ? -1 : m->partition;
}

/* The partition an analyzer computes for a host's key (to tell that the host moved to another
 * analyzer's partition when partitions are added, analyzer/main.c) is the one a producer with
 * librdkafka's default partitioner, as the agent's, sends it to: checked against a mock cluster's
 * deliveries for topics of 4 and of 6 partitions. */
static void the_key_partition_is_the_default_partitioners(void **state)
{
    (void)state;
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof err), 0);
    assert_int_equal(rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err), 0);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    assert_non_null(rk);
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(rk);
    assert_non_null(mc);
    const char *topics[] = {"four", "six"};
    const int32_t parts[] = {4, 6};
    int moved = 0;
    for (int t = 0; t < 2; t++) {
        assert_int_equal(rd_kafka_mock_topic_create(mc, topics[t], parts[t], 1), 0);
        for (int h = 0; h < 40; h++) {
            char key[32];
            int n = snprintf(key, sizeof key, "web-%d", h);
            int32_t got = -2;
            assert_int_equal(rd_kafka_producev(
                                 rk, RD_KAFKA_V_TOPIC(topics[t]), RD_KAFKA_V_KEY(key, (size_t)n),
                                 RD_KAFKA_V_VALUE("x", 1), RD_KAFKA_V_OPAQUE(&got), RD_KAFKA_V_END),
                             0);
            assert_int_equal(rd_kafka_flush(rk, 10000), 0);
            assert_int_equal(got, vg_kafka_key_partition(key, (size_t)n, parts[t]));
            moved += vg_kafka_key_partition(key, (size_t)n, 4) !=
                     vg_kafka_key_partition(key, (size_t)n, 6);
        }
    }
    assert_true(moved > 0); /* more partitions move keys: what the analyzer has to follow */
    rd_kafka_destroy(rk);
}

/* The agent's start waits for a file the kafka: properties name that does not exist yet (a CA
 * bundle config management writes a moment later) rather than exit as for a bad config: this
 * names the first such file, the librdkafka path properties and the "_file" secrets alike. */
static void a_missing_file_a_kafka_property_names_is_found(void **state)
{
    (void)state;
    char err[256];
    struct vg_kv kv[] = {
        {"security.protocol", "SASL_SSL"}, /* GSSAPI, the default mechanism: all are read */
        {"ssl.ca.location", "probe"},      /* librdkafka's word for the system's CA store */
        {"linger.ms", "/nonexistent/not-a-path-property"},
        {"ssl.certificate.location", "/"},
        {"sasl.kerberos.keytab", "/nonexistent/keytab"},
        {"sasl.password_file", "/nonexistent/password"},
    };
    struct vg_kvlist user = {kv, 4};
    assert_int_equal(vg_kafka_missing_file(&user, err, sizeof err), 0);
    assert_int_equal(vg_kafka_missing_file(NULL, err, sizeof err), 0);
    user.n = 6;
    assert_int_equal(vg_kafka_missing_file(&user, err, sizeof err), -ENOENT);
    assert_string_equal(
        err, "kafka.sasl.kerberos.keytab: /nonexistent/keytab: No such file or directory");
    kv[4].value = "/";
    assert_int_equal(vg_kafka_missing_file(&user, err, sizeof err), -ENOENT);
    assert_string_equal(
        err, "kafka.sasl.password_file: /nonexistent/password: No such file or directory");
}

/* A plaintext agent whose templated config still named a CA path that is not on the host, or a
 * SCRAM one with a keytab left over, used to start; once the start waited for every file the
 * properties name, it waited 60 s for a file librdkafka never reads and then exited 78 for good.
 * Only the files read with the configured security.protocol (any case; plaintext when unset) and
 * SASL mechanism (GSSAPI when unset) are missing; the others are found apart, for a warning. The
 * "_file" secrets are read whatever the protocol. */
static void a_missing_file_librdkafka_does_not_read_does_not_count(void **state)
{
    (void)state;
    char err[256];
    struct vg_kv kv[] = {
        {"ssl.ca.location", "/nonexistent/ca.pem"},
        {"sasl.kerberos.keytab", "/nonexistent/keytab"},
        {"security.protocol", "PLAINTEXT"},
        {"sasl.mechanism", "SCRAM-SHA-512"},
    };
    struct vg_kvlist user = {kv, 2}; /* no protocol: plaintext */
    assert_int_equal(vg_kafka_missing_file(&user, err, sizeof err), 0);
    assert_int_equal(vg_kafka_unused_missing_file(&user, err, sizeof err), -ENOENT);
    assert_string_equal(err, "kafka.ssl.ca.location: /nonexistent/ca.pem: No such file or "
                             "directory (not read with security.protocol plaintext)");
    user.n = 3;
    assert_int_equal(vg_kafka_missing_file(&user, err, sizeof err), 0);
    kv[2].value = "sasl_plaintext"; /* SASL, the default GSSAPI: the keytab, not the CA */
    assert_int_equal(vg_kafka_missing_file(&user, err, sizeof err), -ENOENT);
    assert_string_equal(
        err, "kafka.sasl.kerberos.keytab: /nonexistent/keytab: No such file or directory");
    user.n = 4; /* SCRAM: neither */
    assert_int_equal(vg_kafka_missing_file(&user, err, sizeof err), 0);
    kv[2].value = "ssl";
    assert_int_equal(vg_kafka_missing_file(&user, err, sizeof err), -ENOENT);
    assert_string_equal(err,
                        "kafka.ssl.ca.location: /nonexistent/ca.pem: No such file or directory");
    kv[2].value = "SASL_SSL"; /* SCRAM over SSL: the CA, not the keytab */
    kv[0].value = "/";
    assert_int_equal(vg_kafka_missing_file(&user, err, sizeof err), 0);
    assert_int_equal(vg_kafka_unused_missing_file(&user, err, sizeof err), -ENOENT);
    assert_string_equal(err, "kafka.sasl.kerberos.keytab: /nonexistent/keytab: No such file or "
                             "directory (not read with security.protocol SASL_SSL, "
                             "sasl.mechanism SCRAM-SHA-512)");
    kv[3].key = "sasl.mechanisms"; /* the alias, GSSAPI: the keytab is read */
    kv[3].value = "GSSAPI";
    assert_int_equal(vg_kafka_missing_file(&user, err, sizeof err), -ENOENT);
    assert_int_equal(vg_kafka_unused_missing_file(&user, err, sizeof err), 0);
    kv[2].value = "plaintext";
    kv[0].key = "sasl.password_file"; /* a secret file: read by Vigil whatever the protocol */
    kv[0].value = "/nonexistent/password";
    assert_int_equal(vg_kafka_missing_file(&user, err, sizeof err), -ENOENT);
    assert_string_equal(
        err, "kafka.sasl.password_file: /nonexistent/password: No such file or directory");
}

/* A path the kafka: properties name that is relative is refused, read with these properties or
 * not, and not waited for: the units run from /, so it names another file there than the one a
 * check run from the operator's directory found. "probe" (ssl.ca.location's word for the system
 * store) and properties that are not paths stay as they are. */
static void a_relative_path_a_kafka_property_names_is_refused_at_once(void **state)
{
    (void)state;
    char err[256];
    struct vg_kv kv[] = {
        {"ssl.ca.location", "probe"},
        {"client.id", "relative-looking"},
        {"ssl.key.location", "certs/client.key"}, /* plaintext: not read, refused all the same */
    };
    struct vg_kvlist user = {kv, 2};
    assert_int_equal(vg_kafka_missing_file(&user, err, sizeof err), 0);
    user.n = 3;
    assert_int_equal(vg_kafka_missing_file(&user, err, sizeof err), -EINVAL);
    assert_string_equal(err, "kafka.ssl.key.location: 'certs/client.key' must be an absolute path "
                             "(the units run from /, not from the directory a check runs in)");
    kv[2].key = "sasl.password_file";
    kv[2].value = "~/kafka.pass";
    /* Refused, not waited for as a missing file (which ends -ENOENT). */
    assert_int_equal(vg_kafka_wait_files(&user, 2000, NULL, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "kafka.sasl.password_file: '~/kafka.pass' must be an absolute"));
}

/* A CA bundle path of this test process that does not exist (yet). */
static void absent_ca_path(char *path, size_t len)
{
    snprintf(path, len, "/tmp/vigil-test-kafka-ca.%d", (int)getpid());
    unlink(path);
}

/* A start whose CA bundle never comes gives up after the wait (60 s in the daemons; 1.5 s here)
 * with the config error naming the file and how long it waited, rather than waiting forever or
 * starting a client librdkafka refuses. */
static void a_file_that_never_comes_is_given_up_on_after_the_wait(void **state)
{
    (void)state;
    char err[256], path[64];
    absent_ca_path(path, sizeof path);
    struct vg_kv kv[] = {{"security.protocol", "SSL"}, {"ssl.ca.location", path}};
    struct vg_kvlist user = {kv, 2};
    volatile sig_atomic_t stop = 0;
    int64_t t0 = vg_mono_ms();
    assert_int_equal(vg_kafka_wait_files(&user, 1500, &stop, err, sizeof err), -ENOENT);
    assert_true(vg_mono_ms() - t0 >= 1500); /* it waited, and said so */
    char want[200];
    int n = snprintf(want, sizeof want,
                     "kafka.ssl.ca.location: %s: No such file or directory (waited ", path);
    assert_memory_equal(err, want, (size_t)n); /* then 1 s, or more on a loaded machine */
    assert_non_null(strstr(err + n, " s for it)"));
    assert_int_equal(vg_kafka_wait_files(&user, 0, NULL, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "(waited 0 s for it)"));
}

/* The file config management writes is found, whatever attempt finds it: nothing missing is
 * no wait and no error. */
static void a_file_that_is_there_is_not_waited_for(void **state)
{
    (void)state;
    char err[256], path[64];
    absent_ca_path(path, sizeof path);
    struct vg_kv kv[] = {
        {"security.protocol", "SASL_SSL"}, {"sasl.mechanism", "PLAIN"}, {"ssl.ca.location", path}};
    struct vg_kvlist user = {kv, 3};
    volatile sig_atomic_t stop = 0;
    assert_int_equal(vg_kafka_wait_files(&user, 0, &stop, err, sizeof err), -ENOENT);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600); /* config management's write */
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(vg_kafka_wait_files(&user, 0, &stop, err, sizeof err), 0);
    assert_int_equal(vg_kafka_wait_files(NULL, 0, &stop, err, sizeof err), 0);
    unlink(path);
}

/* A stop (SIGTERM) during the wait ends it at once with 0, not a config error: the daemon exits 0
 * rather than 78, which systemd would not restart. */
static void a_stop_ends_the_wait_for_a_file_at_once(void **state)
{
    (void)state;
    char err[256];
    struct vg_kv kv[] = {{"security.protocol", "ssl"}, {"ssl.ca.location", "/nonexistent/ca.pem"}};
    struct vg_kvlist user = {kv, 2};
    volatile sig_atomic_t stop = 1;
    int64_t t0 = vg_mono_ms();
    assert_int_equal(vg_kafka_wait_files(&user, 60000, &stop, err, sizeof err), 0);
    assert_true(vg_mono_ms() - t0 < 30000); /* not the 60 s wait; a bound, not a timing */
}

/* Sends stderr to a fresh file for the duration of a test. */
static char cap_path[64];
static int cap_saved = -1;

static void capture_start(void)
{
    snprintf(cap_path, sizeof cap_path, "/tmp/vigil-test-kafka.%d", (int)getpid());
    int fd = open(cap_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    cap_saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
}

static char *capture_end(void)
{
    dup2(cap_saved, STDERR_FILENO);
    close(cap_saved);
    FILE *f = fopen(cap_path, "r");
    assert_non_null(f);
    char *t = calloc(1, 1 << 20);
    assert_non_null(t);
    size_t n = fread(t, 1, (1 << 20) - 1, f);
    t[n] = '\0';
    fclose(f);
    unlink(cap_path);
    return t;
}

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static int64_t fake_now_ms;
static int64_t fake_clock(void)
{
    return fake_now_ms;
}

/* The consume error line was `reason=Subscribed topic not available: ...`, unquoted (a logfmt
 * parser reads "topic", "not", ... as keys), and named no partition or offset even when the
 * error was a partition's. */
static void a_consume_error_is_quoted_and_says_where(void **state)
{
    (void)state;
    char buf[1024], err[256];
    char text[] = "Subscribed topic not available: vigil.metrics: Broker: Unknown topic or "
                  "partition";
    rd_kafka_message_t m = {.err = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                            .payload = text,
                            .len = sizeof text - 1,
                            .partition = RD_KAFKA_PARTITION_UA,
                            .offset = RD_KAFKA_OFFSET_INVALID};
    assert_string_equal(vg_kafka_consume_error_kv(&m, buf, sizeof buf),
                        "code=UNKNOWN_TOPIC_OR_PART reason=\"Subscribed topic not available: "
                        "vigil.metrics: Broker: Unknown topic or partition\"");

    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, rd_kafka_conf_new(), err, sizeof err);
    assert_non_null(rk);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, "vigil.metrics", NULL);
    assert_non_null(rkt);
    char fetch[] = "Fetch from \"broker\" 1 failed";
    rd_kafka_message_t p = {.err = RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET,
                            .rkt = rkt,
                            .payload = fetch,
                            .len = sizeof fetch - 1,
                            .partition = 2,
                            .offset = 1000};
    assert_string_equal(vg_kafka_consume_error_kv(&p, buf, sizeof buf),
                        "code=_AUTO_OFFSET_RESET reason=\"Fetch from \\\"broker\\\" 1 failed\" "
                        "topic=\"vigil.metrics\" partition=2 offset=1000");
    p.offset = RD_KAFKA_OFFSET_INVALID; /* no offset: none named */
    assert_null(strstr(vg_kafka_consume_error_kv(&p, buf, sizeof buf), "offset="));
    assert_non_null(strstr(buf, " partition=2"));
    char small[40]; /* cut, still a string */
    vg_kafka_consume_error_kv(&p, small, sizeof small);
    assert_int_equal(strlen(small), sizeof small - 1);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
}

/* The analyzer's offset commit line was `reason=REQUEST_TIMED_OUT`, only for commit errors 1, 101,
 * 201 ... with no count of the others, and named no partition though the commit result lists them.
 * It is now code= and a quoted reason=, with the failed partitions, under the log's rate limit. */
static void a_failed_offset_commit_is_quoted_and_says_where(void **state)
{
    (void)state;
    char buf[1024];
    assert_string_equal(
        vg_kafka_commit_error_kv(RD_KAFKA_RESP_ERR__TRANSPORT, NULL, buf, sizeof buf),
        "code=_TRANSPORT reason=\"Local: Broker transport failure\"");

    /* The request failed as a whole: every partition in it, none with an error of its own. */
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    rd_kafka_topic_partition_list_add(l, "vigil.metrics", 0)->offset = 10;
    rd_kafka_topic_partition_list_add(l, "vigil.metrics", 3)->offset = 20;
    assert_string_equal(
        vg_kafka_commit_error_kv(RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, l, buf, sizeof buf),
        "code=REQUEST_TIMED_OUT reason=\"Broker: Request timed out\" topic=\"vigil.metrics\" "
        "partitions=0,3");

    /* One partition refused: that one, with the offset it tried to commit. */
    rd_kafka_topic_partition_list_add(l, "vigil.metrics", 5)->offset = 1000;
    l->elems[2].err = RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE;
    assert_string_equal(
        vg_kafka_commit_error_kv(RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE, l, buf, sizeof buf),
        "code=OFFSET_METADATA_TOO_LARGE reason=\"Broker: Offset metadata string too large\" "
        "topic=\"vigil.metrics\" partition=5 offset=1000");
    l->elems[0].err = RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID;
    assert_non_null(
        strstr(vg_kafka_commit_error_kv(RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID, l, buf, sizeof buf),
               " topic=\"vigil.metrics\" partitions=0,5"));
    char small[40]; /* cut, still a string */
    vg_kafka_commit_error_kv(RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID, l, small, sizeof small);
    assert_int_equal(strlen(small), sizeof small - 1);
    rd_kafka_topic_partition_list_destroy(l);
}

/* Every librdkafka line was rate-limited as one message (msg="librdkafka"): in a broker outage
 * the connection errors (facility FAIL) used up the budget, and the lines that say a partition's
 * offset was reset (facility OFFSET) were dropped to a bare count. Each facility has a budget of
 * its own now, and all of them together are still bounded. */
static void a_storm_of_one_librdkafka_facility_does_not_hide_another(void **state)
{
    (void)state;
    vg_log_init("test", VG_LOG_INFO, 0);
    vg_log_set_rate_limit(20, 10000);
    fake_now_ms = 1000;
    vg_log_set_clock(fake_clock);
    capture_start();
    for (int i = 0; i < 200; i++)
        vg_kafka_log("vigil-analyzer#consumer-1", 3, "FAIL",
                     "localhost:9092/1: Connect to ipv4#127.0.0.1:9092 failed");
    for (int i = 0; i < 4; i++)
        vg_kafka_log("vigil-analyzer#consumer-1", 4, "OFFSET",
                     "vigil.metrics [0]: offset reset (at offset 6, broker 1) to END");
    /* Many facilities at once: bounded all together, at 5 bursts plus the first 2 lines of
     * each facility (FAIL's, OFFSET's and 20 noise facilities'). */
    for (int f = 0; f < 20; f++) {
        char fac[16];
        snprintf(fac, sizeof fac, "F%d", f);
        for (int i = 0; i < 20; i++)
            vg_kafka_log("c", 6, fac, "noise");
    }
    vg_log_flush_suppressed();
    vg_log_set_clock(NULL);
    char *t = capture_end();
    assert_int_equal(count(t, "facility=FAIL"), 20);
    assert_int_equal(count(t, "facility=OFFSET"), 4);
    assert_non_null(strstr(t, "msg=\"log lines suppressed\" text=\"librdkafka FAIL\" count=180\n"));
    assert_int_equal(count(t, "msg=\"librdkafka\""), 100 + 2 * 22);
    assert_non_null(strstr(t, "msg=\"log lines suppressed\" text=\"librdkafka\" count=280\n"));
    free(t);
}

/* Several facilities storming at once (FAIL, ERROR, REQTMOUT... from every client during a broker
 * outage) use up the total of all facilities; a rare facility's first lines skip that total, so
 * the OFFSET line that comes after them is still written. */
static void a_storm_of_five_librdkafka_facilities_does_not_hide_an_offset_line(void **state)
{
    (void)state;
    vg_log_init("test", VG_LOG_INFO, 0);
    vg_log_set_rate_limit(20, 10000);
    fake_now_ms = 1000;
    vg_log_set_clock(fake_clock);
    capture_start();
    const char *storm[] = {"FAIL", "ERROR", "REQTMOUT", "BROKERFAIL", "CONNECT"};
    for (int f = 0; f < 5; f++)
        for (int i = 0; i < 25; i++)
            vg_kafka_log("vigil-analyzer#consumer-1", 4, storm[f], "localhost:9092/1: down");
    vg_kafka_log("vigil-analyzer#consumer-1", 4, "OFFSET",
                 "vigil.metrics [0]: offset reset (at offset 6, broker 1) to END");
    vg_log_flush_suppressed();
    vg_log_set_clock(NULL);
    char *t = capture_end();
    assert_int_equal(count(t, "facility=OFFSET"), 1);
    assert_int_equal(count(t, "facility=FAIL"), 20);
    assert_non_null(
        strstr(t, "msg=\"log lines suppressed\" text=\"librdkafka CONNECT\" count=5\n"));
    free(t);
}

/* librdkafka says that it reset a partition's position after an error only in its log (facility
 * OFFSET); the analyzer reads those lines to log and count the records skipped. The formats of
 * librdkafka 2.0 (Debian 12) and of 2.1 on (with leader epochs) both parse. */
static void an_offset_reset_line_is_parsed(void **state)
{
    (void)state;
    char topic[64];
    int32_t p;
    int64_t at, to;
    assert_int_equal(vg_kafka_parse_offset_reset(
                         "[thrd:main]: vigil.metrics [0]: offset reset (at offset 6, broker 1) to "
                         "END: fetch failed due to requested offset not available on the broker: "
                         "Broker: Offset out of range",
                         topic, sizeof topic, &p, &at, &to),
                     0);
    assert_string_equal(topic, "vigil.metrics");
    assert_int_equal(p, 0);
    assert_int_equal(at, 6);
    assert_int_equal(to, RD_KAFKA_OFFSET_END);
    assert_int_equal(vg_kafka_parse_offset_reset(
                         "[thrd:main]: m.x-1 [12]: offset reset (at offset 1000 (leader epoch 3), "
                         "broker 2) to offset BEGINNING (leader epoch -1): fetch failed: Broker: "
                         "Offset out of range",
                         topic, sizeof topic, &p, &at, &to),
                     0);
    assert_string_equal(topic, "m.x-1");
    assert_int_equal(p, 12);
    assert_int_equal(at, 1000);
    assert_int_equal(to, RD_KAFKA_OFFSET_BEGINNING);
    assert_int_equal(vg_kafka_parse_offset_reset("t [3]: offset reset (at offset 5, broker 1) to "
                                                 "cached BEGINNING offset 40: fetch failed",
                                                 topic, sizeof topic, &p, &at, &to),
                     0);
    assert_int_equal(at, 5);
    assert_int_equal(to, 40);
    const char *other[] = {
        "[thrd:main]: vigil.metrics [0]: Fetch from broker 1 failed",
        "[thrd:main]: vigil.metrics [x]: offset reset (at offset 6, broker 1) to END: x",
        "[thrd:main]: vigil.metrics [0]: offset reset (at offset 6, broker 1)",
        "[thrd:main]: vigil.metrics [0]: offset reset (at offset 6, broker 1) to SOMEWHERE",
        " [0]: offset reset (at offset 6, broker 1) to END: x",
        "",
    };
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        assert_int_equal(vg_kafka_parse_offset_reset(other[i], topic, sizeof topic, &p, &at, &to),
                         -EINVAL);
    char tiny[4]; /* a topic longer than the buffer is refused, not cut */
    assert_int_equal(vg_kafka_parse_offset_reset(
                         "vigil.metrics [0]: offset reset (at offset 6, broker 1) to END: x", tiny,
                         sizeof tiny, &p, &at, &to),
                     -EINVAL);
}

/* The analyzer counts the records an offset reset skipped when the partition's next record
 * arrives. A reset logged just before a rebalance but taken by the run loop after it (the same
 * poll ran the revoke and the assign) used to be compared with the next record, read from the
 * committed offset, and counted as records skipped: it is still reported, but skips nothing. */
static void a_reset_logged_before_a_rebalance_skips_nothing_after_it(void **state)
{
    (void)state;
    static struct vg_kafka_resets q = VG_KAFKA_RESETS_INIT;
    static const char line[] = "[thrd:main]: vigil.metrics [2]: offset reset (at offset 66, "
                               "broker 1) to END: fetch failed: Broker: Offset out of range";
    struct vg_kafka_reset r[VG_KAFKA_RESETS_MAX];
    uint64_t lost;
    int64_t at = -1;

    /* Within one assignment: the next record says what was skipped, once. */
    vg_kafka_resets_line(&q, 4, "OFFSET", line);
    vg_kafka_resets_line(&q, 6, "OFFSET", line); /* not a warning: not a reset */
    vg_kafka_resets_line(&q, 4, "FETCH", line);
    assert_int_equal(vg_kafka_resets_take(&q, r, &lost), 1);
    assert_int_equal(lost, 0);
    assert_int_equal(r[0].at, 66);
    assert_int_equal(vg_kafka_resets_read(&q, "vigil.metrics", 1, 89, &at), 0);
    assert_int_equal(vg_kafka_resets_read(&q, "vigil.metrics", 2, 89, &at), 1);
    assert_int_equal(at, 66);
    assert_int_equal(vg_kafka_resets_read(&q, "vigil.metrics", 2, 90, &at), 0);

    /* Logged, then a rebalance (revoke, assign) before the run loop takes it. */
    vg_kafka_resets_line(&q, 4, "OFFSET", line);
    vg_kafka_resets_forget(&q);                              /* revoke */
    vg_kafka_resets_forget(&q);                              /* assign */
    assert_int_equal(vg_kafka_resets_take(&q, r, &lost), 1); /* still reported */
    assert_int_equal(vg_kafka_resets_read(&q, "vigil.metrics", 2, 40, &at), 0);

    /* Taken, then a rebalance before the partition's next record. */
    vg_kafka_resets_line(&q, 4, "OFFSET", line);
    assert_int_equal(vg_kafka_resets_take(&q, r, &lost), 1);
    vg_kafka_resets_forget(&q);
    assert_int_equal(vg_kafka_resets_read(&q, "vigil.metrics", 2, 40, &at), 0);

    /* After the rebalance, a new reset counts again. */
    vg_kafka_resets_line(&q, 4, "OFFSET", line);
    assert_int_equal(vg_kafka_resets_take(&q, r, &lost), 1);
    assert_int_equal(vg_kafka_resets_read(&q, "vigil.metrics", 2, 70, &at), 1);
    assert_int_equal(at, 66);
}

/* Kafka's rule for topic names, as both daemons check it for every topic key: the longest name
 * it takes, and the error naming the key that set it (which vg_config_locate places). */
static void a_topic_name_kafka_refuses_is_refused_with_its_key(void **state)
{
    (void)state;
    char err[VG_ERRLEN], name[VG_KAFKA_TOPIC_MAX + 2];
    memset(name, 'a', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    assert_int_equal(vg_kafka_topic_check("topic", name, err, sizeof err), -EINVAL);
    assert_string_equal(err, "topic: 250 characters long, Kafka takes at most 249");
    name[VG_KAFKA_TOPIC_MAX] = '\0';
    assert_int_equal(vg_kafka_topic_check("topic", name, err, sizeof err), 0);
    assert_int_equal(vg_kafka_topic_check("state.topic", "vigil.state_2-B", err, sizeof err), 0);
    static const char *const bad[] = {"a b", ".", "..", "a/b", "a:b", "t\xc3\xa9"};
    for (size_t i = 0; i < VG_ARRAY_LEN(bad); i++) {
        char want[VG_ERRLEN];
        snprintf(want, sizeof want,
                 "decisions.topic: '%s' is not a name Kafka takes: only letters, digits, '.', "
                 "'_' and '-', and not '.' or '..'",
                 bad[i]);
        assert_int_equal(vg_kafka_topic_check("decisions.topic", bad[i], err, sizeof err), -EINVAL);
        assert_string_equal(err, want);
    }
    assert_int_equal(vg_kafka_topic_check("topic", "", err, sizeof err), -EINVAL);
    assert_string_equal(err, "topic: empty");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_message_librdkafka_could_not_read_is_a_bad_message),
        cmocka_unit_test(a_topic_name_kafka_refuses_is_refused_with_its_key),
        cmocka_unit_test(a_consume_error_is_quoted_and_says_where),
        cmocka_unit_test(a_failed_offset_commit_is_quoted_and_says_where),
        cmocka_unit_test(a_storm_of_one_librdkafka_facility_does_not_hide_another),
        cmocka_unit_test(a_storm_of_five_librdkafka_facilities_does_not_hide_an_offset_line),
        cmocka_unit_test(an_offset_reset_line_is_parsed),
        cmocka_unit_test(a_reset_logged_before_a_rebalance_skips_nothing_after_it),
        cmocka_unit_test(the_key_partition_is_the_default_partitioners),
        cmocka_unit_test(a_missing_file_a_kafka_property_names_is_found),
        cmocka_unit_test(a_missing_file_librdkafka_does_not_read_does_not_count),
        cmocka_unit_test(a_relative_path_a_kafka_property_names_is_refused_at_once),
        cmocka_unit_test(a_file_that_never_comes_is_given_up_on_after_the_wait),
        cmocka_unit_test(a_file_that_is_there_is_not_waited_for),
        cmocka_unit_test(a_stop_ends_the_wait_for_a_file_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
