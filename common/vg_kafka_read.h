/* Reading a whole Kafka topic once, at start: every partition from its beginning up to the end
 * it had when the read began, without joining a consumer group or committing anything. The
 * analyzer restores its detector state (the state topic) and its scaling decisions (the
 * decisions topic) this way; both are keyed logs where the latest record of a key wins.
 */
#ifndef VG_KAFKA_READ_H
#define VG_KAFKA_READ_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stddef.h>

#include "vg_config.h"

/* Called for each record (never for an error or end-of-partition event), in offset order within
 * a partition. */
typedef void (*vg_kafka_read_fn)(void *ud, const rd_kafka_message_t *m);

/* Called once a partition is read to the end it had when the read began (an empty partition
 * included): its records, all delivered by then, are the partition's whole content. */
typedef void (*vg_kafka_read_end_fn)(void *ud, int32_t partition);

/* Reads topic from bootstrap with the user's kafka properties (client.id names the reader in the
 * broker's logs). Returns 0 once every partition is read to the end it had at the start,
 * -ETIMEDOUT when timeout_ms came first (the records read by then were delivered; on_end, which
 * may be NULL, says which partitions were read whole), -EIO when the topic's metadata cannot be
 * read (no such topic, broker unreachable) or a partition's end cannot be learnt before the
 * deadline (a broker refusing the watermark query is asked again until then; nothing is
 * delivered), -EINVAL or -ENOMEM for the set-up; err says which. *n_partitions (may be NULL)
 * gets the topic's partition count. No request to the broker blocks the read past timeout_ms,
 * nor longer than 5 s, so the read ends at its deadline even with a broker that answers late. */
int vg_kafka_read_topic(const char *bootstrap, const struct vg_kvlist *props, const char *client_id,
                        const char *topic, int timeout_ms, vg_kafka_read_fn on_record,
                        vg_kafka_read_end_fn on_end, void *ud, int *n_partitions, char *err,
                        size_t errlen);

/* vg_kafka_read_topic that also ends, with -ECANCELED, once *stop (may be NULL) is set, at the
 * latest when the request to the broker in flight returns (5 s at most): a daemon asked to stop
 * must not wait for a whole restore. Records delivered by then were delivered, as after a
 * timeout. */
int vg_kafka_read_topic_stoppable(const char *bootstrap, const struct vg_kvlist *props,
                                  const char *client_id, const char *topic, int timeout_ms,
                                  const atomic_int *stop, vg_kafka_read_fn on_record,
                                  vg_kafka_read_end_fn on_end, void *ud, int *n_partitions,
                                  char *err, size_t errlen);

#endif
