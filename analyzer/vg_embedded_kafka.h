/* The embedded broker: librdkafka's mock cluster, started in the analyzer's process for demos,
 * tests and trying Vigil on one host. It speaks the Kafka protocol on loopback TCP, so the agent
 * and tools such as kcat connect to it like to any broker. Nothing else in Vigil knows it is a
 * mock: production points bootstrap_servers at a real cluster. */
#ifndef VG_EMBEDDED_KAFKA_H
#define VG_EMBEDDED_KAFKA_H

#include <stddef.h>

struct vg_embedded_kafka;

/* Starts a cluster of `brokers` brokers and creates `topic` with `partitions` partitions.
 * *out is released with vg_embedded_kafka_stop(). */
int vg_embedded_kafka_start(struct vg_embedded_kafka **out, int brokers, const char *topic,
                            int partitions, char *err, size_t errlen);

/* The bootstrap address ("127.0.0.1:PORT,..."), valid until stop. */
const char *vg_embedded_kafka_bootstraps(const struct vg_embedded_kafka *k);

/* Creates one more topic on the embedded cluster (vigil.decisions). 0 or -EIO with err. */
int vg_embedded_kafka_create_topic(struct vg_embedded_kafka *k, const char *topic, int partitions,
                                   char *err, size_t errlen);

void vg_embedded_kafka_stop(struct vg_embedded_kafka *k);

#endif
