#include "vg_kafka_read.h"

#include <errno.h>
#include <stdlib.h>

#include "vg_kafka.h"
#include "vg_util.h"

/* A partition's watermarks, asked again (with a growing pause) until deadline while the broker
 * refuses (a leader moving answers NOT_LEADER_OR_FOLLOWER for a while): a partition that cannot
 * be sized cannot be told from an empty one, and reading it as empty would lose its records
 * without a word. Each query waits no longer than the time left. */
static rd_kafka_resp_err_t watermarks(rd_kafka_t *rk, const char *topic, int32_t p,
                                      int64_t deadline, int64_t *lo, int64_t *hi)
{
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TIMED_OUT;
    for (int64_t pause = 50;; pause = pause < 1000 ? pause * 2 : 1000) {
        int64_t left = deadline - vg_mono_ms();
        if (left <= 0)
            return e;
        e = rd_kafka_query_watermark_offsets(rk, topic, p, lo, hi,
                                             (int)(left < 5000 ? left : 5000));
        if (!e)
            return e;
        left = deadline - vg_mono_ms();
        if (left <= 0)
            return e;
        vg_sleep_ms(pause < left ? pause : left, NULL);
    }
}

int vg_kafka_read_topic(const char *bootstrap, const struct vg_kvlist *props, const char *client_id,
                        const char *topic, int timeout_ms, vg_kafka_read_fn on_record,
                        vg_kafka_read_end_fn on_end, void *ud, int *n_partitions, char *err,
                        size_t errlen)
{
    const struct vg_kafka_prop defaults[] = {
        {"client.id", client_id},
        {"bootstrap.servers", bootstrap},
        /* A group name only because librdkafka's assign() consumer wants one: it never joins
         * (no subscribe) and commits nothing. */
        {"group.id", client_id},
        {"enable.auto.commit", "false"},
        {"enable.partition.eof", "true"},
        {NULL, NULL},
    };
    if (n_partitions)
        *n_partitions = 0;
    rd_kafka_conf_t *conf;
    int rc = vg_kafka_conf_new(&conf, defaults, props, err, errlen);
    if (rc)
        return rc;
    char rkerr[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rkerr, sizeof(rkerr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return vg_err(err, errlen, -EINVAL, "%s: %s", topic, rkerr);
    }
    rd_kafka_poll_set_consumer(rk);
    int64_t deadline = vg_mono_ms() + timeout_ms;
    rd_kafka_resp_err_t why;
    int nparts = vg_kafka_topic_partitions(rk, topic, 0, timeout_ms, &why);
    if (nparts <= 0) {
        rd_kafka_destroy(rk);
        return vg_err(err, errlen, -EIO, "topic %s: %s", topic,
                      why ? rd_kafka_err2str(why) : "no partitions");
    }
    if (n_partitions)
        *n_partitions = nparts;
    /* The end each partition had when we looked: what is produced meanwhile is not waited
     * for. -1 marks a partition done (or empty). */
    int64_t *hi = calloc((size_t)nparts, sizeof(*hi));
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    if (!hi || !l) {
        free(hi);
        if (l)
            rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy(rk);
        return vg_err(err, errlen, -ENOMEM, "topic %s: out of memory", topic);
    }
    int remaining = 0;
    for (int p = 0; p < nparts; p++) {
        int64_t lo = 0;
        rd_kafka_resp_err_t we = watermarks(rk, topic, p, deadline, &lo, &hi[p]);
        if (we) {
            free(hi);
            rd_kafka_topic_partition_list_destroy(l);
            rd_kafka_destroy(rk);
            return vg_err(err, errlen, -EIO,
                          "topic %s partition %d: its end not known in %d ms (%s): nothing read",
                          topic, p, timeout_ms, rd_kafka_err2str(we));
        }
        if (hi[p] <= lo) {
            hi[p] = -1;
            if (on_end)
                on_end(ud, p);
            continue;
        }
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        remaining++;
    }
    if (remaining)
        rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    while (remaining > 0 && vg_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        int32_t p = m->partition;
        int ours = p >= 0 && p < nparts && hi[p] >= 0;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (ours) {
                hi[p] = -1;
                remaining--;
                if (on_end)
                    on_end(ud, p);
            }
        } else if (!m->err && ours) {
            on_record(ud, m);
            if (m->offset + 1 >= hi[p]) {
                hi[p] = -1;
                remaining--;
                if (on_end)
                    on_end(ud, p);
            }
        }
        rd_kafka_message_destroy(m);
    }
    free(hi);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (remaining > 0)
        return vg_err(err, errlen, -ETIMEDOUT, "%s not read to its end in %d ms", topic,
                      timeout_ms);
    return 0;
}
