#include "vg_kafka_read.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "vg_kafka.h"
#include "vg_util.h"

/* The longest one request to the broker may block the read: a stop (SIGTERM) waits for the request
 * in flight, so this bounds how late the read sees it. A broker answering slower than this cannot
 * be read at all, as the watermark queries already required. */
#define STEP_MS 5000

static int stopped(const atomic_int *stop)
{
    return stop && atomic_load(stop);
}

/* Sleeps ms, or less when *stop is set meanwhile. */
static void pause_ms(int64_t ms, const atomic_int *stop)
{
    int64_t end = vg_mono_ms() + ms;
    for (int64_t left = ms; left > 0 && !stopped(stop); left = end - vg_mono_ms())
        vg_sleep_ms(left < 50 ? left : 50, NULL);
}

/* The next step's timeout: the time left, but no more than STEP_MS. 0 when none is left. */
static int step_ms(int64_t deadline)
{
    int64_t left = deadline - vg_mono_ms();
    return left <= 0 ? 0 : (int)(left < STEP_MS ? left : STEP_MS);
}

/* The topic's partition count, asked again (STEP_MS at most each time) until deadline or a
 * stop: one metadata request waiting the whole timeout could not be stopped. -EIO when no broker
 * answered (*why: librdkafka's reason), 0 when the topic is not there, as
 * vg_kafka_topic_partitions says. */
static int partitions(rd_kafka_t *rk, const char *topic, int64_t deadline, const atomic_int *stop,
                      rd_kafka_resp_err_t *why)
{
    *why = RD_KAFKA_RESP_ERR__TIMED_OUT;
    for (int t; !stopped(stop) && (t = step_ms(deadline)) > 0;) {
        int64_t t0 = vg_mono_ms();
        int n = vg_kafka_topic_partitions(rk, topic, 0, t, why);
        if (n >= 0)
            return n;
        if (vg_mono_ms() - t0 < t) /* refused at once (no broker up yet): not a busy loop */
            pause_ms(100, stop);
    }
    if (stopped(stop))
        *why = RD_KAFKA_RESP_ERR__DESTROY;
    return -EIO;
}

/* Every partition's watermarks (offsets_for_times with the timestamps -2, earliest, and -1,
 * latest, the ListOffsets request rd_kafka_query_watermark_offsets sends), asked again with a
 * growing pause until deadline while the broker refuses (a leader moving answers
 * NOT_LEADER_OR_FOLLOWER for a while): a partition that cannot be sized cannot be told from an
 * empty one, and reading it as empty would lose its records without a word. Not
 * rd_kafka_query_watermark_offsets: it waits for the broker's answer without a limit, its
 * timeout only that of each request, which librdkafka retries, so a slow broker held the read
 * minutes past its deadline (with SIGTERM unheeded). offsets_for_times returns at its timeout. */
static rd_kafka_resp_err_t watermarks(rd_kafka_t *rk, const char *topic, int nparts,
                                      int64_t deadline, const atomic_int *stop, int64_t *lo,
                                      int64_t *hi)
{
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TIMED_OUT;
    int64_t *want[2] = {lo, hi};
    const int64_t ts[2] = {RD_KAFKA_OFFSET_BEGINNING, RD_KAFKA_OFFSET_END};
    for (int w = 0; w < 2; w++) {
        for (int64_t pause = 50;; pause = pause < 1000 ? pause * 2 : 1000) {
            int t = step_ms(deadline);
            if (stopped(stop))
                return RD_KAFKA_RESP_ERR__DESTROY;
            if (t <= 0)
                return e;
            rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
            if (!l)
                return RD_KAFKA_RESP_ERR__FAIL;
            for (int p = 0; p < nparts; p++)
                rd_kafka_topic_partition_list_add(l, topic, p)->offset = ts[w];
            e = rd_kafka_offsets_for_times(rk, l, t);
            for (int i = 0; !e && i < l->cnt; i++) {
                int32_t p = l->elems[i].partition;
                if (l->elems[i].err)
                    e = l->elems[i].err;
                else if (p >= 0 && p < nparts)
                    want[w][p] = l->elems[i].offset;
            }
            rd_kafka_topic_partition_list_destroy(l);
            if (!e)
                break;
            int left = step_ms(deadline);
            if (left <= 0)
                return e;
            pause_ms(pause < left ? pause : left, stop);
        }
    }
    /* An empty partition may answer only its end. */
    for (int p = 0; p < nparts; p++)
        if (lo[p] < 0 && hi[p] >= 0)
            lo[p] = hi[p];
    return e;
}

int vg_kafka_read_topic(const char *bootstrap, const struct vg_kvlist *props, const char *client_id,
                        const char *topic, int timeout_ms, vg_kafka_read_fn on_record,
                        vg_kafka_read_end_fn on_end, void *ud, int *n_partitions, char *err,
                        size_t errlen)
{
    return vg_kafka_read_topic_stoppable(bootstrap, props, client_id, topic, timeout_ms, NULL,
                                         on_record, on_end, ud, n_partitions, err, errlen);
}

int vg_kafka_read_topic_stoppable(const char *bootstrap, const struct vg_kvlist *props,
                                  const char *client_id, const char *topic, int timeout_ms,
                                  const atomic_int *stop, vg_kafka_read_fn on_record,
                                  vg_kafka_read_end_fn on_end, void *ud, int *n_partitions,
                                  char *err, size_t errlen)
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
    int nparts = partitions(rk, topic, deadline, stop, &why);
    if (nparts <= 0) {
        rd_kafka_destroy(rk);
        if (stopped(stop))
            return vg_err(err, errlen, -ECANCELED, "topic %s: read stopped", topic);
        return vg_err(err, errlen, -EIO, "topic %s: %s", topic,
                      why ? rd_kafka_err2str(why) : "no partitions");
    }
    if (n_partitions)
        *n_partitions = nparts;
    /* The end each partition had when we looked: what is produced meanwhile is not waited
     * for. -1 marks a partition done (or empty). */
    int64_t *hi = calloc((size_t)nparts, sizeof(*hi)), *lo = calloc((size_t)nparts, sizeof(*lo));
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    if (!hi || !lo || !l) {
        free(hi);
        free(lo);
        if (l)
            rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy(rk);
        return vg_err(err, errlen, -ENOMEM, "topic %s: out of memory", topic);
    }
    int remaining = 0;
    rd_kafka_resp_err_t we = watermarks(rk, topic, nparts, deadline, stop, lo, hi);
    if (we) {
        free(hi);
        free(lo);
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy(rk);
        if (stopped(stop))
            return vg_err(err, errlen, -ECANCELED, "topic %s: read stopped", topic);
        return vg_err(err, errlen, -EIO,
                      "topic %s: its partitions' ends not known in %d ms (%s): nothing read", topic,
                      timeout_ms, rd_kafka_err2str(we));
    }
    for (int p = 0; p < nparts; p++) {
        if (hi[p] <= lo[p]) {
            hi[p] = -1;
            if (on_end)
                on_end(ud, p);
            continue;
        }
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        remaining++;
    }
    free(lo);
    if (remaining)
        rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    while (remaining > 0 && vg_mono_ms() < deadline && !stopped(stop)) {
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
    if (remaining > 0 && stopped(stop))
        return vg_err(err, errlen, -ECANCELED, "%s: read stopped before its end", topic);
    if (remaining > 0)
        return vg_err(err, errlen, -ETIMEDOUT, "%s not read to its end in %d ms", topic,
                      timeout_ms);
    return 0;
}
