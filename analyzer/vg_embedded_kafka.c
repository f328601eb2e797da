#include "vg_embedded_kafka.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include "vg_util.h"

struct vg_embedded_kafka {
    rd_kafka_t *owner; /* the mock cluster runs on this handle's threads */
    rd_kafka_mock_cluster_t *mc;
};

int vg_embedded_kafka_start(struct vg_embedded_kafka **out, int brokers, const char *topic,
                            int partitions, char *err, size_t errlen)
{
    struct vg_embedded_kafka *k = calloc(1, sizeof(*k));
    if (!k)
        return -ENOMEM;
    char rkerr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "client.id", "vigil-embedded-kafka", NULL, 0);
    /* This handle only hosts the mock cluster: its notice that it has no brokers to talk to
     * would only confuse. */
    rd_kafka_conf_set(conf, "log_level", "4", NULL, 0);
    k->owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rkerr, sizeof(rkerr));
    if (!k->owner) {
        rd_kafka_conf_destroy(conf);
        free(k);
        return vg_err(err, errlen, -EINVAL, "embedded kafka: %s", rkerr);
    }
    /* The mock cluster's thread inherits our signal mask. Were SIGTERM delivered to it, its
     * poll() would fail with EINTR and the thread end, and destroying the cluster later would
     * touch freed memory (found by test_valgrind): keep the stop signals on our threads. */
    sigset_t stop_sigs, old;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGTERM);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_sigs, &old);
    k->mc = rd_kafka_mock_cluster_new(k->owner, brokers);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!k->mc) {
        vg_embedded_kafka_stop(k);
        return vg_err(err, errlen, -EIO, "embedded kafka: could not start the mock cluster");
    }
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(k->mc, topic, partitions, 1);
    if (e) {
        vg_embedded_kafka_stop(k);
        return vg_err(err, errlen, -EIO, "embedded kafka: creating topic %s: %s", topic,
                      rd_kafka_err2str(e));
    }
    *out = k;
    return 0;
}

const char *vg_embedded_kafka_bootstraps(const struct vg_embedded_kafka *k)
{
    return rd_kafka_mock_cluster_bootstraps(k->mc);
}

void vg_embedded_kafka_stop(struct vg_embedded_kafka *k)
{
    if (!k)
        return;
    if (k->mc)
        rd_kafka_mock_cluster_destroy(k->mc);
    if (k->owner)
        rd_kafka_destroy(k->owner);
    free(k);
}

int vg_embedded_kafka_create_topic(struct vg_embedded_kafka *k, const char *topic, int partitions,
                                   char *err, size_t errlen)
{
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(k->mc, topic, partitions, 1);
    if (e)
        return vg_err(err, errlen, -EIO, "embedded kafka: creating topic %s: %s", topic,
                      rd_kafka_err2str(e));
    return 0;
}
