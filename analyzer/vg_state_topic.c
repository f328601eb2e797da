#include "vg_state_topic.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vg_ckpt.h"
#include "vg_engine_state.h"
#include "vg_kafka.h"
#include "vg_kafka_read.h"
#include "vg_log.h"
#include "vg_models.h"
#include "vg_secret.h"
#include "vg_strmap.h"
#include "vg_util.h"

/* Record value: "VGST", u32 version, u32 partition, u32 CRC-32 of the engine record, then the
 * engine record; all little-endian. Version 1 had no header: u32 partition, engine record. */
#define REC_MAGIC   "VGST"
#define REC_VERSION 2
#define REC_HEADER  16
#define MAX_BLOBS   8
/* What librdkafka adds to key and value when it checks message.max.bytes (a v2 record's
 * framing is well under this). */
#define REC_FRAMING 512
/* The state producer's message.max.bytes unless kafka.message.max.bytes says otherwise, and the
 * max.message.bytes of a topic this analyzer creates: a host with 300 series on the `seasonal`
 * model writes about 9 MB (29 KB a series), librdkafka's and Kafka's 1 MB default would take
 * about 34 of them. */
#define STATE_MAX_BYTES "16777216"

/* How much of a host's state its record carries: everything; everything but the series'
 * detector states and rule windows' samples (they warm up after a move); neither its host models'
 * state (the `mv` rows and calibration; the host starts over there too); nothing (not written).
 * Each step keeps the host's sequence number, labels and alerts, so a new owner neither counts a
 * gap nor fires or forgets an alert; a detector state is most of a record (about 29 KB a series
 * with `seasonal`), a host model's a few KB to about 100 KB. */
enum shrink { SHRINK_NONE, SHRINK_NO_DETECTOR, SHRINK_NO_MODELS, SHRINK_SKIP };

/* A host written smaller for the producer's limit is tried whole again at every this many of its
 * checkpoints: its series expire (limits.series_idle) and its record may fit again. Building a
 * record is a copy of the host's state (a few ms for 2 MB), so the retry costs little. */
#define RETRY_EVERY 8
/* A host written smaller because the broker refused its record is tried a step larger again after
 * RETRY_EVERY of its checkpoints, then after twice as many for every refusal, up to this: the
 * topic's max.message.bytes may have been raised, and a restart should not be what it takes.
 * Such a trial is produced alone after the checkpoint's records are acknowledged, so a refusal
 * costs neither the checkpoint nor another host's record in the same batch. */
#define TRIAL_EVERY_MAX 256
/* Trials per checkpoint, each a round trip to the broker: a fleet of refused hosts does not
 * stretch one checkpoint; the others wait for the next. */
#define TRIALS_MAX 8

/* Longest wait, at the start (vg_state_topic_open) and at a checkpoint, for a broker to say
 * whether the state topic exists, and again for its creation (vg_state_topic_ckpt_wait), only
 * until a broker has answered once; less when the checkpoint's own timeout is less. */
#define CHECK_TIMEOUT_MS 5000

struct ent {
    int32_t partition;
    int dirty;
    int tombstone;        /* forgotten (limits.host_idle): the next checkpoint deletes its record */
    enum shrink refused;  /* the least the broker took for this host (sticky: a topic's limit) */
    enum shrink written;  /* of the record produced last (sticky too) */
    enum shrink logged;   /* the most said in the log for this host */
    unsigned since_retry; /* checkpoints written at `written` since the last larger try */
    unsigned since_trial; /* checkpoints since the last trial of a step the broker refused */
    unsigned trial_every; /* checkpoints between such trials */
    int trying;           /* 1 + the step of the trial in flight, 0: none */
    size_t refused_bytes; /* of the record the broker refused last */
    /* Bumped by every touch and drop; sent_gen: its value when the checkpoint in flight wrote the
     * host. A host changed since stays dirty when that checkpoint is acknowledged: the loop goes
     * on processing while the checkpoint waits for the broker (vg_state_topic_ckpt_poll). */
    uint64_t gen, sent_gen;
    int flying; /* in st->flight */
    char name[];
};

struct vg_state_topic {
    rd_kafka_t *producer;
    /* A copy of its config, for the producer that replaces one ended by a fatal error. */
    rd_kafka_conf_t *conf_tmpl;
    int64_t replace_at_ms; /* monotonic; 0: no fatal error seen on this producer */
    int64_t replaced_ms, replace_backoff_ms;
    char *topic;
    char *bootstrap;
    const struct vg_kvlist *kafka;  /* borrowed from the config, which outlives us */
    const atomic_int *stop;         /* borrowed: set, a restore ends (vg_state_topic_set_stop) */
    const _Atomic int64_t *stop_by; /* borrowed: nonzero, a checkpoint's wait ends by it */
    int32_t metrics_parts;          /* the metrics topic's partition count, 0: not known */
    struct vg_strmap hosts;         /* host -> struct ent */
    struct ent **dirty;
    size_t n_dirty, cap_dirty;
    uint64_t delivery_errors; /* from the delivery callback, per checkpoint */
    size_t max_bytes;         /* the producer's message.max.bytes */
    int topic_checked;        /* a broker answered whether the topic exists (create_topic) */
    unsigned check_warned;    /* "no broker answered" logged (once) */
    /* The run loop's check of the topic (check_start): a metadata request cannot be polled, and
     * a cluster may take longer to answer one than a loop turn may block, so it is asked on a
     * thread of its own, and its answer is taken by whichever checkpoint comes after it. */
    pthread_t check_thread;
    atomic_int check_state; /* CHECK_NONE, CHECK_RUNNING, CHECK_DONE */
    rd_kafka_t *check_rk;   /* the producer it asks through; not replaced while it runs */
    int check_have;
    rd_kafka_resp_err_t check_why;
    char last_error[VG_ERRLEN];
    struct vg_state_topic_stats st;
    /* The checkpoint under way (vg_state_topic_ckpt_produce): what the wait, outside the caller's
     * lock, leaves to vg_state_topic_ckpt_settle. */
    enum { CKPT_IDLE, CKPT_CHECK, CKPT_RECORDS, CKPT_TRIAL } phase;
    int timeout_ms;
    int64_t deadline; /* monotonic, of the step under way */
    uint64_t bytes;
    struct timespec t0, t1, t2; /* started, records queued, wait over */
    rd_kafka_resp_err_t flush_err;
    struct ent *trials[TRIALS_MAX];
    size_t n_trials, next_trial;
    /* The hosts the checkpoint under way wrote (a copy of the dirty list when it queued them;
     * NULL where one was forgotten since), and how many of them were tombstones. */
    struct ent **flight;
    size_t n_flight, cap_flight, n_tombs;
    double blocked_s; /* of the step under way: the caller waited in vg_state_topic_ckpt_wait */
    /* Refused trials, counted by the delivery callback, which runs in the wait outside the
     * caller's lock: added to st.trials_refused (read under that lock) by the settle step. */
    uint64_t trials_refused;
};

/* The per-message opaque of a trial record (start_trial): its delivery does not count against
 * the checkpoint. */
static const char trial_tag;

static int too_large(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
           err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE;
}

/* The host a state record is keyed by, or NULL (forgotten since, or not ours). */
static struct ent *host_of(struct vg_state_topic *st, const rd_kafka_message_t *m)
{
    char host[256];
    if (!m->key || m->key_len >= sizeof(host))
        return NULL;
    memcpy(host, m->key, m->key_len);
    host[m->key_len] = '\0';
    return vg_strmap_get(&st->hosts, host);
}

static void note_grown(struct ent *x, enum shrink to, size_t bytes);

/* A trial's outcome. Taken: the host is written at that step from now on, and the next trial
 * (if any step is left) comes after RETRY_EVERY checkpoints. Refused again: twice as long. */
static void on_trial(struct vg_state_topic *st, const rd_kafka_message_t *m)
{
    struct ent *x = host_of(st, m);
    if (!x || !x->trying)
        return;
    enum shrink step = (enum shrink)(x->trying - 1);
    x->trying = 0;
    /* Purged unsent (the next checkpoint, purge_unsent): no answer about its size. It is tried
     * again after its interval, which is not doubled. */
    if (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE)
        return;
    if (!m->err) {
        if (step < x->refused) {
            x->refused = step;
            x->written = step;
            x->trial_every = RETRY_EVERY;
            note_grown(x, step, m->len);
        }
        return;
    }
    st->trials_refused++;
    x->trial_every = x->trial_every * 2 > TRIAL_EVERY_MAX ? TRIAL_EVERY_MAX : x->trial_every * 2;
    /* Info, not debug: an operator who raised the topic's limit too little sees here why the
     * host stays trimmed. The backoff bounds it to one line per host per 8..256 checkpoints. */
    vg_info("state record still too large", "host=%s bytes=%zu reason=\"%s\" next_trial_after=%u",
            x->name, m->len, rd_kafka_err2str(m->err), x->trial_every);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct vg_state_topic *st = opaque;
    if (m->_private == &trial_tag) {
        on_trial(st, m);
        return;
    }
    /* A record of a failed checkpoint, purged unsent by the next one (purge_unsent): that
     * checkpoint was counted when it failed, and this one writes the host again. */
    if (!m->err || m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE)
        return;
    st->delivery_errors++;
    snprintf(st->last_error, sizeof(st->last_error), "%s", rd_kafka_err2str(m->err));
    /* The topic takes less than the producer (its max.message.bytes, set by whoever made it):
     * this checkpoint fails, and the next one writes the host's record smaller. */
    struct ent *x = too_large(m->err) ? host_of(st, m) : NULL;
    if (x && x->written < SHRINK_SKIP && x->refused <= x->written) {
        x->refused = x->written + 1;
        x->refused_bytes = m->len;
        snprintf(st->last_error, sizeof(st->last_error),
                 "the broker refused the %zu-byte record of %s (%s): it is written smaller from "
                 "the next checkpoint",
                 m->len, x->name, rd_kafka_err2str(m->err));
    }
}

/* Best effort: a cluster that refuses (no ACL for CreateTopics, say) leaves it to the operator,
 * and auto-creation would give a topic that is not compacted, so say so. When no broker answered
 * the metadata request, whether the topic exists is unknown and it is no advice to create it:
 * a mistyped bootstrap_servers used to be told to create the topic. Waits check_ms for the
 * metadata, then timeout_ms for the creation. */
static void topic_answer(struct vg_state_topic *st, int have, rd_kafka_resp_err_t why,
                         int timeout_ms)
{
    if (have < 0) {
        /* Checked again at each checkpoint until a broker answers, before anything is written
         * (vg_state_topic_checkpoint): a record would have the producer auto-create the topic
         * with the broker's defaults, not compacted. */
        if (!st->check_warned++) {
            char q[600];
            vg_warn("state topic not checked: no broker answered; is bootstrap_servers right and "
                    "a broker up?",
                    "topic=%s bootstrap_servers=%s reason=\"%s\"", st->topic,
                    vg_log_quote(q, sizeof(q), st->bootstrap), rd_kafka_err2str(why));
        }
        return;
    }
    st->topic_checked = 1;
    if (have > 0)
        return;
    /* So that the topic takes the records the producer may write (a broker's default is 1 MB). */
    char mb[32];
    snprintf(mb, sizeof(mb), "%zu", st->max_bytes);
    const struct vg_kafka_prop cfg[] = {
        {"cleanup.policy", "compact"}, {"max.message.bytes", mb}, {NULL, NULL}};
    rd_kafka_resp_err_t e = vg_kafka_create_topic(st->producer, st->topic, -1, cfg, timeout_ms);
    /* The cluster answered the metadata request and lacks the topic: the advice holds even when
     * the create itself got no answer. */
    const char *reason = e == RD_KAFKA_RESP_ERR__TIMED_OUT ? "no answer" : rd_kafka_err2str(e);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        vg_info("state topic created", "topic=%s cleanup.policy=compact", st->topic);
    else if (e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        vg_warn("could not create the state topic; create it with cleanup.policy=compact",
                "topic=%s reason=\"%s\"", st->topic, reason);
}

static void create_topic(struct vg_state_topic *st, int check_ms, int timeout_ms)
{
    rd_kafka_resp_err_t why = RD_KAFKA_RESP_ERR_NO_ERROR;
    int have = vg_kafka_topic_partitions(st->producer, st->topic, 1, check_ms, &why);
    topic_answer(st, have, why, timeout_ms);
}

enum { CHECK_NONE, CHECK_RUNNING, CHECK_DONE };

static void *check_main(void *arg)
{
    struct vg_state_topic *st = arg;
    st->check_have =
        vg_kafka_topic_partitions(st->check_rk, st->topic, 1, CHECK_TIMEOUT_MS, &st->check_why);
    atomic_store(&st->check_state, CHECK_DONE);
    return NULL;
}

/* Asks, off the caller's thread, whether the state topic exists, unless that is under way: the
 * answer waits for check_take. Each ask waits up to CHECK_TIMEOUT_MS for the cluster, however
 * slow, where a slice of the run loop's turn used to give up after 100 ms (a new request each
 * time, each dropped late), so a cluster slower than that was never checked and no offset was
 * ever committed. 0, or -errno when no thread could be started. */
static int check_start(struct vg_state_topic *st)
{
    if (atomic_load(&st->check_state) != CHECK_NONE)
        return 0;
    st->check_rk = st->producer;
    atomic_store(&st->check_state, CHECK_RUNNING);
    int rc = pthread_create(&st->check_thread, NULL, check_main, st);
    if (rc) {
        atomic_store(&st->check_state, CHECK_NONE);
        return -rc;
    }
    return 0;
}

/* Waits until by (vg_mono_ms(); 0: not at all) for the check under way; once it has an answer,
 * takes it (and creates the topic when it is missing, waiting up to timeout_ms: once). 1: the
 * check has ended (answered or not), 0: it is still under way. */
static int check_take(struct vg_state_topic *st, int64_t by, int timeout_ms)
{
    while (atomic_load(&st->check_state) == CHECK_RUNNING && vg_mono_ms() < by) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&st->check_state) != CHECK_DONE)
        return 0;
    pthread_join(st->check_thread, NULL);
    atomic_store(&st->check_state, CHECK_NONE);
    topic_answer(st, st->check_have, st->check_why, timeout_ms);
    return 1;
}

/* The check under way, ended before its producer is destroyed: waits for it until by (it asks
 * for CHECK_TIMEOUT_MS at most), its answer dropped. 0, or -ETIMEDOUT when it still runs. */
static int check_end(struct vg_state_topic *st, int64_t by)
{
    while (atomic_load(&st->check_state) == CHECK_RUNNING && vg_mono_ms() < by) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&st->check_state) == CHECK_RUNNING)
        return -ETIMEDOUT;
    if (atomic_load(&st->check_state) == CHECK_DONE)
        pthread_join(st->check_thread, NULL);
    atomic_store(&st->check_state, CHECK_NONE);
    return 0;
}

static int producer_conf(const char *bootstrap, const struct vg_kvlist *kafka,
                         rd_kafka_conf_t **out, char *err, size_t errlen)
{
    const struct vg_kafka_prop defaults[] = {
        {"client.id", "vigil-analyzer-state"},
        {"bootstrap.servers", bootstrap},
        /* A checkpoint allows the offsets to be committed: it must survive a broker loss. */
        {"acks", "all"},
        {"enable.idempotence", "true"},
        {"linger.ms", "5"},
        {"compression.type", "lz4"},
        {"message.max.bytes", STATE_MAX_BYTES},
        {NULL, NULL},
    };
    return vg_kafka_conf_new(out, defaults, kafka, err, errlen);
}

int vg_state_topic_check_kafka(const struct vg_kvlist *kafka, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf;
    int rc = producer_conf("", kafka, &conf, err, errlen);
    return rc ? rc
              : vg_kafka_client_check(RD_KAFKA_PRODUCER, conf, "state topic producer", err, errlen);
}

int vg_state_topic_open(struct vg_state_topic **out, const char *bootstrap, const char *topic,
                        const struct vg_kvlist *kafka, int timeout_ms, char *err, size_t errlen)
{
    struct vg_state_topic *st = calloc(1, sizeof(*st));
    if (!st || !(st->topic = strdup(topic)) || !(st->bootstrap = strdup(bootstrap))) {
        vg_state_topic_close(st, 0, NULL);
        return -ENOMEM;
    }
    st->kafka = kafka;
    vg_strmap_init(&st->hosts);
    rd_kafka_conf_t *conf;
    int rc = producer_conf(bootstrap, kafka, &conf, err, errlen);
    if (rc) {
        vg_state_topic_close(st, 0, NULL);
        return rc;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, st);
    st->conf_tmpl = rd_kafka_conf_dup(conf);
    char rkerr[256];
    st->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rkerr, sizeof(rkerr));
    if (!st->producer) {
        rd_kafka_conf_destroy(conf);
        vg_state_topic_close(st, 0, NULL);
        return vg_err(err, errlen, -EINVAL, "state topic producer: %s", rkerr);
    }
    char mb[32];
    size_t mblen = sizeof(mb);
    if (rd_kafka_conf_get(rd_kafka_conf(st->producer), "message.max.bytes", mb, &mblen) !=
            RD_KAFKA_CONF_OK ||
        (st->max_bytes = strtoul(mb, NULL, 10)) == 0)
        st->max_bytes = 1000000; /* librdkafka's own default */
    /* As a checkpoint waits for the check (vg_state_topic_ckpt_produce): a cluster that does not
     * answer holds the start no longer than a checkpoint would wait for it. */
    int check_ms = timeout_ms < CHECK_TIMEOUT_MS ? timeout_ms : CHECK_TIMEOUT_MS;
    create_topic(st, check_ms, check_ms);
    *out = st;
    return 0;
}

static int mark_dirty(struct vg_state_topic *st, struct ent *x);

int vg_state_topic_touch(struct vg_state_topic *st, const char *host, int32_t partition)
{
    struct ent *x = vg_strmap_get(&st->hosts, host);
    if (!x && partition < 0)
        return -ENOENT;
    if (!x) {
        size_t n = strlen(host);
        x = calloc(1, sizeof(*x) + n + 1);
        if (!x)
            return -ENOMEM;
        memcpy(x->name, host, n + 1);
        x->trial_every = RETRY_EVERY;
        if (vg_strmap_put(&st->hosts, host, x) < 0) {
            free(x);
            return -ENOMEM;
        }
    }
    if (partition >= 0)
        x->partition = partition;
    x->tombstone = 0; /* back before the checkpoint that would have deleted it */
    x->gen++;
    return mark_dirty(st, x);
}

void vg_state_topic_drop(struct vg_state_topic *st, const char *host)
{
    struct ent *x = vg_strmap_get(&st->hosts, host);
    if (!x)
        return;
    x->tombstone = 1;
    x->gen++;
    /* Without memory for the mark, the record stays: a restart restores the host, which is
     * forgotten again one limits.host_idle later. */
    if (mark_dirty(st, x) < 0)
        vg_warn("forgotten host's state record kept: out of memory", "host=%s", host);
}

static int mark_dirty(struct vg_state_topic *st, struct ent *x)
{
    if (x->dirty)
        return 0;
    if (st->n_dirty == st->cap_dirty) {
        size_t cap = st->cap_dirty ? st->cap_dirty * 2 : 256;
        struct ent **d = realloc(st->dirty, cap * sizeof(*d));
        if (!d)
            return -ENOMEM;
        st->dirty = d;
        st->cap_dirty = cap;
    }
    st->dirty[st->n_dirty++] = x;
    x->dirty = 1;
    return 0;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int b = 0; b < 4; b++)
        p[b] = (unsigned char)(v >> (8 * b));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The record of one host: header + engine state + its models' state, less what shrink leaves
 * out. 0, -ENOENT, -ENOMEM. */
static int make_record(const struct vg_engine *e, const struct vg_models *ms, const struct ent *x,
                       enum shrink shrink, unsigned char **out, size_t *outlen)
{
    struct vg_engine_blob blobs[MAX_BLOBS];
    int nb = shrink >= SHRINK_NO_MODELS ? 0 : vg_models_host_save(ms, x->name, blobs, MAX_BLOBS);
    if (nb < 0)
        return nb;
    unsigned char *val = NULL;
    size_t len = 0;
    int rc = vg_engine_host_export(e, x->name, blobs, (size_t)nb, REC_HEADER,
                                   shrink >= SHRINK_NO_DETECTOR ? VG_ENGINE_EXPORT_NO_DETECTOR : 0,
                                   &val, &len);
    vg_models_host_blobs_free(blobs, (size_t)nb);
    if (rc < 0)
        return rc;
    memcpy(val, REC_MAGIC, 4);
    put_u32(val + 4, REC_VERSION);
    put_u32(val + 8, (uint32_t)x->partition);
    put_u32(val + 12, vg_ckpt_crc32(0, val + REC_HEADER, len - REC_HEADER));
    *out = val;
    *outlen = len;
    return 0;
}

/* Says once per host and step what a record too large for the topic costs it. limit 0: the
 * broker refused it (the topic's own limit, not known here). */
static void note_shrink(struct ent *x, enum shrink to, size_t bytes, size_t limit)
{
    static const char *const what[] = {
        [SHRINK_NO_DETECTOR] = "state record too large: written without its series' detector "
                               "state",
        [SHRINK_NO_MODELS] = "state record too large: written without its series' detector "
                             "state and its host models' state",
        [SHRINK_SKIP] = "state record too large: host not checkpointed",
    };
    static const char *const effect[] = {
        [SHRINK_NO_DETECTOR] = "after a restart or move its series warm up and its rule "
                               "windows fill again; its sequence, alerts and host models "
                               "still move",
        [SHRINK_NO_MODELS] = "after a restart or move its series and host models warm up and "
                             "its rule windows fill again; its sequence and alerts still move",
        [SHRINK_SKIP] = "after a restart or move the next owner restores its last record "
                        "written, if any, and counts a sequence gap",
    };
    if (to <= SHRINK_NONE || x->logged >= to)
        return;
    x->logged = to;
    char by[64];
    if (limit)
        snprintf(by, sizeof(by), "message.max.bytes (%zu)", limit);
    else
        snprintf(by, sizeof(by), "the topic's max.message.bytes");
    vg_warn(what[to],
            "host=%s bytes=%zu over=\"%s\" effect=\"%s\" fix=\"raise max.message.bytes of the "
            "state topic and kafka.message.max.bytes\"",
            x->name, bytes, by, effect[to]);
}

/* Says that x's record fits again, whole or at a larger step, and forgets what was logged, so a
 * later shrink is said again. */
static void note_grown(struct ent *x, enum shrink to, size_t bytes)
{
    static const char *const now[] = {
        [SHRINK_NONE] = "whole",
        [SHRINK_NO_DETECTOR] = "without its series' detector state",
        [SHRINK_NO_MODELS] = "without its series' detector state and its host models' state",
    };
    vg_info("state record fits again", "host=%s bytes=%zu written=\"%s\"", x->name, bytes, now[to]);
    x->logged = to > x->refused ? to : x->refused;
}

/* The most bytes x's record value may have under the producer's message.max.bytes. */
static size_t value_limit(const struct vg_state_topic *st, const struct ent *x)
{
    size_t over = REC_FRAMING + strlen(x->name);
    return st->max_bytes > over ? st->max_bytes - over : 0;
}

/* x's record as large as the topic takes, shrunk step by step (enum shrink), or none (-E2BIG).
 * It starts from the step written last, and at every RETRY_EVERY-th call from the least the broker
 * refused: making a 2 MB record at every checkpoint only to throw it away is what this avoids.
 * 0, -E2BIG, -ENOENT, -ENOMEM. */
static int make_fitting(struct vg_state_topic *st, const struct vg_engine *e,
                        const struct vg_models *ms, struct ent *x, unsigned char **out,
                        size_t *outlen)
{
    size_t limit = value_limit(st, x);
    if (x->refused > SHRINK_NONE)
        note_shrink(x, x->refused, x->refused_bytes, 0);
    enum shrink from = x->refused > x->written ? x->refused : x->written;
    if (from > x->refused && ++x->since_retry >= RETRY_EVERY) {
        from = x->refused;
        x->since_retry = 0;
    }
    for (enum shrink s = from; s < SHRINK_SKIP; s++) {
        int rc = make_record(e, ms, x, s, out, outlen);
        if (rc < 0)
            return rc;
        if (*outlen <= limit) {
            st->st.records_trimmed += s > SHRINK_NONE;
            if (s < x->written)
                note_grown(x, s, *outlen);
            x->written = s;
            return 0;
        }
        note_shrink(x, s + 1, *outlen, st->max_bytes);
        free(*out);
        *out = NULL;
    }
    st->st.records_dropped++;
    return -E2BIG;
}

/* Whether x is due a trial of the step above the least the broker took (counts the checkpoint
 * towards it). */
static int trial_due(struct ent *x)
{
    if (x->refused == SHRINK_NONE || x->trying)
        return 0;
    return ++x->since_trial >= x->trial_every;
}

/* Produces x's record one step larger than the broker took last, alone: the caller waits for
 * its answer (vg_state_topic_ckpt_wait) and on_trial takes the outcome. 0, nothing produced,
 * when that record is over the producer's own limit (make_fitting already writes the host as
 * large as that allows). */
static int start_trial(struct vg_state_topic *st, const struct vg_engine *e,
                       const struct vg_models *ms, struct ent *x)
{
    size_t limit = value_limit(st, x);
    enum shrink step = (enum shrink)(x->refused - 1);
    unsigned char *val = NULL;
    size_t len = 0;
    x->since_trial = 0;
    if (make_record(e, ms, x, step, &val, &len) < 0)
        return 0;
    if (len > limit) {
        free(val);
        return 0;
    }
    rd_kafka_resp_err_t pe = rd_kafka_producev(
        st->producer, RD_KAFKA_V_TOPIC(st->topic), RD_KAFKA_V_KEY(x->name, strlen(x->name)),
        RD_KAFKA_V_VALUE(val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
        RD_KAFKA_V_OPAQUE((void *)&trial_tag), RD_KAFKA_V_END);
    if (pe) {
        free(val);
        return 0;
    }
    x->trying = 1 + (int)step;
    st->st.trials++;
    return 1;
}

/* Queues x's record (val, len; NULL: a tombstone), taking val over. 0, or -EIO with the reason
 * in st->last_error (counted). A full queue fails the checkpoint at once: this runs under the
 * analyzer's lock, and waiting here for room (up to the checkpoint's 10 s in a broker outage)
 * held up /readyz, /metrics and the API at every checkpoint. */
static int produce(struct vg_state_topic *st, const struct ent *x, unsigned char *val, size_t len)
{
    rd_kafka_resp_err_t pe = rd_kafka_producev(
        st->producer, RD_KAFKA_V_TOPIC(st->topic), RD_KAFKA_V_KEY(x->name, strlen(x->name)),
        RD_KAFKA_V_VALUE(val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_END);
    if (!pe)
        return 0;
    free(val);
    st->st.checkpoint_errors++;
    if (pe == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        snprintf(st->last_error, sizeof(st->last_error),
                 "the state producer's queue is full (one checkpoint's records must fit in "
                 "kafka.queue.buffering.max.messages and .max.kbytes)");
    else
        snprintf(st->last_error, sizeof(st->last_error), "%s", rd_kafka_err2str(pe));
    return -EIO;
}

/* Drops what a failed checkpoint left unsent in the producer's queue: its hosts are still dirty,
 * so this checkpoint writes their newest state anyway, and kept there (message.timeout.ms, 5
 * minutes) every retry of a broker outage added all of them again until the queue was full.
 * Their delivery reports are served now, before this checkpoint counts its own. */
static void purge_unsent(struct vg_state_topic *st)
{
    if (!rd_kafka_outq_len(st->producer))
        return;
    rd_kafka_purge(st->producer, RD_KAFKA_PURGE_F_QUEUE);
    rd_kafka_poll(st->producer, 0);
}

/* A fatal error of the idempotent producer (librdkafka's sequence desynchronization, say) ends
 * it: every checkpoint after would fail, and with them every offset commit, for ever. The next
 * checkpoint replaces it with a new producer; its hosts are still dirty, so that checkpoint
 * writes them all. At once the first time; again within a minute of the last replacement after
 * 1 s, doubling to a minute (failing the checkpoints meanwhile). */
static int replace_if_fatal(struct vg_state_topic *st, char *err, size_t errlen)
{
    char reason[512], q[600];
    rd_kafka_resp_err_t fe = rd_kafka_fatal_error(st->producer, reason, sizeof(reason));
    if (!fe)
        return 0;
    int64_t now = vg_mono_ms();
    if (!st->replace_at_ms) {
        if (now - st->replaced_ms > 60000)
            st->replace_backoff_ms = 0;
        st->replace_at_ms = now + st->replace_backoff_ms;
        vg_error("state topic producer failed for good: replacing it",
                 "topic=%s error=%s reason=%s replace_in_ms=%lld", st->topic, rd_kafka_err2name(fe),
                 vg_log_quote(q, sizeof(q), reason), (long long)st->replace_backoff_ms);
        st->replace_backoff_ms = st->replace_backoff_ms ? st->replace_backoff_ms * 2 : 1000;
        if (st->replace_backoff_ms > 60000)
            st->replace_backoff_ms = 60000;
    }
    char rkerr[256] = "out of memory";
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_t *p = NULL;
    if (now >= st->replace_at_ms && st->conf_tmpl && (conf = rd_kafka_conf_dup(st->conf_tmpl)) &&
        !(p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rkerr, sizeof(rkerr)))) {
        rd_kafka_conf_destroy(conf);
        vg_secret_scrub(rkerr);
        st->replace_at_ms = now + st->replace_backoff_ms;
        vg_error("state topic producer not replaced, retrying", "reason=%s retry_in_ms=%lld",
                 vg_log_quote(q, sizeof(q), rkerr), (long long)st->replace_backoff_ms);
    }
    if (!p) {
        st->st.checkpoint_errors++;
        return vg_err(err, errlen, -EAGAIN,
                      "state checkpoint: the state producer failed for good (%s), replaced in "
                      "%lld ms",
                      reason, (long long)(st->replace_at_ms - now));
    }
    /* A check of the topic asks through the old producer: ended first (rare: the topic not
     * checked yet and the producer failed for good; it waits CHECK_TIMEOUT_MS at most). */
    check_end(st, vg_mono_ms() + CHECK_TIMEOUT_MS + 1000);
    /* What it still holds is written again by this checkpoint: its hosts are dirty still. Its
     * delivery reports are served so that a trial in flight is not left pending. */
    rd_kafka_purge(st->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(st->producer, 0);
    rd_kafka_destroy(st->producer);
    st->producer = p;
    st->replace_at_ms = 0;
    st->replaced_ms = now;
    st->st.producer_recreated++;
    vg_warn("state topic producer replaced", "topic=%s producer_recreated=%llu", st->topic,
            (unsigned long long)st->st.producer_recreated);
    return 0;
}

int vg_state_topic_producer_failed(const struct vg_state_topic *st, char *why, size_t whylen)
{
    char reason[512];
    rd_kafka_resp_err_t fe = rd_kafka_fatal_error(st->producer, reason, sizeof(reason));
    if (!fe)
        return 0;
    int64_t left = st->replace_at_ms ? st->replace_at_ms - vg_mono_ms() : 0;
    snprintf(why, whylen,
             "the state producer failed for good (%s: %s): checkpoints and offset commits fail "
             "until it is replaced, at the next checkpoint in %lld ms at the earliest",
             rd_kafka_err2name(fe), reason, (long long)(left > 0 ? left : 0));
    return 1;
}

/* The checkpoint under way wrote nothing any more (settled, failed or abandoned). */
static void land_flight(struct vg_state_topic *st)
{
    for (size_t i = 0; i < st->n_flight; i++)
        if (st->flight[i])
            st->flight[i]->flying = 0;
    st->n_flight = 0;
}

/* Notes the dirty hosts as written by the checkpoint under way, each at its generation now.
 * 0, or -ENOMEM (counted, err set). */
static int take_flight(struct vg_state_topic *st, char *err, size_t errlen)
{
    if (st->n_dirty > st->cap_flight) {
        struct ent **f = realloc(st->flight, st->n_dirty * sizeof(*f));
        if (!f) {
            st->st.checkpoint_errors++;
            return vg_err(err, errlen, -ENOMEM, "state checkpoint: out of memory");
        }
        st->flight = f;
        st->cap_flight = st->n_dirty;
    }
    for (size_t i = 0; i < st->n_dirty; i++) {
        struct ent *x = st->dirty[i];
        x->sent_gen = x->gen;
        x->flying = 1;
        st->flight[i] = x;
    }
    st->n_flight = st->n_dirty;
    return 0;
}

/* What a test waits for before it probes the API or sends more while a checkpoint waits
 * (test_state_size). */
static void say_waiting(const struct vg_state_topic *st)
{
    int64_t left = st->deadline - vg_mono_ms();
    vg_debug("state checkpoint waiting for the broker", "wait_ms=%lld",
             (long long)(left > 0 ? left : 0));
}

/* Queues the record of every dirty host; the checkpoint's deadline starts here. 1 (wait, then
 * settle), or negative with err set. */
static int produce_records(struct vg_state_topic *st, const struct vg_engine *e,
                           const struct vg_models *ms, char *err, size_t errlen)
{
    st->phase = CKPT_IDLE;
    land_flight(st);
    purge_unsent(st);
    st->delivery_errors = 0;
    clock_gettime(CLOCK_MONOTONIC, &st->t0);
    int64_t deadline = vg_mono_ms() + st->timeout_ms;
    st->bytes = 0;
    st->n_tombs = 0;
    st->n_trials = st->next_trial = 0;
    int frc = take_flight(st, err, errlen);
    if (frc < 0)
        return frc;
    for (size_t i = 0; i < st->n_dirty; i++) {
        struct ent *x = st->dirty[i];
        unsigned char *val = NULL;
        size_t len = 0;
        if (x->tombstone) {
            /* Compaction then deletes every record of the host: the next owner does not bring
             * it back from the dead. */
            int prc = produce(st, x, NULL, 0);
            if (prc < 0) {
                land_flight(st);
                return vg_err(err, errlen, prc, "state checkpoint: produce to %s: %s", st->topic,
                              st->last_error);
            }
            st->n_tombs++;
            continue;
        }
        int rc = make_fitting(st, e, ms, x, &val, &len);
        if (rc != -ENOENT && st->n_trials < TRIALS_MAX && trial_due(x))
            st->trials[st->n_trials++] = x;
        if (rc == -ENOENT || rc == -E2BIG)
            continue; /* refused host (limits), or too large: nothing to keep (logged) */
        if (rc < 0) {
            land_flight(st);
            st->st.checkpoint_errors++;
            return vg_err(err, errlen, rc, "state checkpoint of %s: %s", x->name,
                          rc == -ENOMEM ? "out of memory" : "model state too large");
        }
        if (produce(st, x, val, len) < 0) {
            land_flight(st);
            return vg_err(err, errlen, -EIO, "state checkpoint: produce to %s: %s", st->topic,
                          st->last_error);
        }
        st->bytes += len;
    }
    clock_gettime(CLOCK_MONOTONIC, &st->t1);
    st->deadline = deadline;
    st->blocked_s = 0;
    st->phase = CKPT_RECORDS;
    say_waiting(st);
    return 1;
}

int vg_state_topic_ckpt_produce(struct vg_state_topic *st, const struct vg_engine *e,
                                const struct vg_models *ms, int timeout_ms, char *err,
                                size_t errlen)
{
    st->phase = CKPT_IDLE;
    if (!st->n_dirty)
        return 0;
    int frc = replace_if_fatal(st, err, errlen);
    if (frc < 0)
        return frc;
    st->timeout_ms = timeout_ms;
    if (!st->topic_checked) {
        /* No broker answered at start: checked (and created) now, before anything is written;
         * until then nothing is, and so no offset is committed. */
        st->deadline =
            vg_mono_ms() + (timeout_ms < CHECK_TIMEOUT_MS ? timeout_ms : CHECK_TIMEOUT_MS);
        st->phase = CKPT_CHECK;
        say_waiting(st);
        return 1;
    }
    return produce_records(st, e, ms, err, errlen);
}

/* rd_kafka_flush until deadline (vg_mono_ms()), or until *st->stop_by once a stop set it: in short
 * slices, so that a SIGTERM that comes during a checkpoint of a broker outage does not wait out
 * the checkpoint's whole timeout (up to 10 s) before the stop's own steps. */
static rd_kafka_resp_err_t flush_until(struct vg_state_topic *st, int64_t deadline, int use_stop)
{
    for (;;) {
        int64_t by = deadline, stop_by = use_stop && st->stop_by ? atomic_load(st->stop_by) : 0;
        if (stop_by && stop_by < by)
            by = stop_by;
        int64_t left = by - vg_mono_ms();
        rd_kafka_resp_err_t e = rd_kafka_flush(st->producer, left <= 0    ? 0
                                                             : left > 100 ? 100
                                                                          : (int)left);
        if (!e || left <= 0)
            return e;
    }
}

/* The step's deadline, or *st->stop_by when a stop set an earlier one. */
static int64_t step_by(const struct vg_state_topic *st)
{
    int64_t by = st->deadline, stop_by = st->stop_by ? atomic_load(st->stop_by) : 0;
    return stop_by && stop_by < by ? stop_by : by;
}

void vg_state_topic_ckpt_wait(struct vg_state_topic *st)
{
    struct timespec w0;
    clock_gettime(CLOCK_MONOTONIC, &w0);
    int64_t left = step_by(st) - vg_mono_ms();
    int ms = left > 0 ? (int)left : 0;
    if (st->phase == CKPT_CHECK) {
        if (check_start(st) < 0)
            create_topic(st, ms, ms);
        else
            check_take(st, vg_mono_ms() + ms, ms);
    } else if (st->phase != CKPT_IDLE)
        st->flush_err = flush_until(st, st->deadline, 1);
    clock_gettime(CLOCK_MONOTONIC, &st->t2);
    st->blocked_s +=
        (double)(st->t2.tv_sec - w0.tv_sec) + (double)(st->t2.tv_nsec - w0.tv_nsec) / 1e9;
}

/* How long one vg_state_topic_ckpt_poll may ask, itself, whether the state topic exists, when no
 * thread could be started to ask (check_start): the loop that calls it runs a 100 ms tick. */
#define CHECK_SLICE_MS 100

int vg_state_topic_ckpt_poll(struct vg_state_topic *st)
{
    if (st->phase == CKPT_IDLE)
        return 0;
    int64_t by = step_by(st), left = by - vg_mono_ms();
    if (st->phase == CKPT_CHECK) {
        /* Once a broker answers, the topic's creation (if it is missing) is waited for as
         * before: it happens once. A check that outlives this checkpoint's deadline is taken by
         * the next one. */
        if (check_start(st) < 0)
            create_topic(st,
                         left <= 0               ? 0
                         : left > CHECK_SLICE_MS ? CHECK_SLICE_MS
                                                 : (int)left,
                         left > 0 ? (int)left : 0);
        else
            check_take(st, 0, left > 0 ? (int)left : 0);
        if (!st->topic_checked && vg_mono_ms() < by)
            return 1;
    } else {
        /* Delivery reports, as rd_kafka_flush serves them; what it waits for is the same: the
         * producer holds nothing more of this checkpoint's. */
        rd_kafka_poll(st->producer, 0);
        if (rd_kafka_outq_len(st->producer) > 0 && left > 0)
            return 1;
        st->flush_err = rd_kafka_outq_len(st->producer) > 0 ? RD_KAFKA_RESP_ERR__TIMED_OUT : 0;
    }
    clock_gettime(CLOCK_MONOTONIC, &st->t2);
    return 0;
}

/* The next trial due (after the checkpoint's own records: a trial taken lands later in the log
 * and so wins), each alone. 1: one is in flight; 0: none left, or the deadline has passed. A
 * host forgotten since the records were written is no longer in the list. */
static int next_trial(struct vg_state_topic *st, const struct vg_engine *e,
                      const struct vg_models *ms)
{
    st->phase = CKPT_IDLE;
    while (st->next_trial < st->n_trials && vg_mono_ms() < st->deadline) {
        struct ent *x = st->trials[st->next_trial++];
        if (x && start_trial(st, e, ms, x)) {
            st->phase = CKPT_TRIAL;
            say_waiting(st);
            return 1;
        }
    }
    return 0;
}

int vg_state_topic_ckpt_settle(struct vg_state_topic *st, const struct vg_engine *e,
                               const struct vg_models *ms, char *err, size_t errlen)
{
    st->st.trials_refused += st->trials_refused;
    st->trials_refused = 0;
    int phase = st->phase;
    st->phase = CKPT_IDLE;
    if (phase == CKPT_CHECK) {
        if (!st->topic_checked) {
            st->st.checkpoint_errors++;
            return vg_err(err, errlen, -EAGAIN,
                          "state topic %s not checked yet: no broker answered whether it exists",
                          st->topic);
        }
        vg_info("state topic checked", "topic=%s", st->topic);
        return produce_records(st, e, ms, err, errlen);
    }
    if (phase == CKPT_TRIAL)
        return next_trial(st, e, ms);
    if (phase != CKPT_RECORDS)
        return 0;
    double build_s =
        (double)(st->t1.tv_sec - st->t0.tv_sec) + (double)(st->t1.tv_nsec - st->t0.tv_nsec) / 1e9;
    double wait_s =
        (double)(st->t2.tv_sec - st->t1.tv_sec) + (double)(st->t2.tv_nsec - st->t1.tv_nsec) / 1e9;
    /* The consumer thread's time: the build, and the wait only where the caller blocked in it
     * (a revoke's or the stop's checkpoint); the run loop's goes on meanwhile. */
    st->st.checkpoint_s += build_s + st->blocked_s;
    st->blocked_s = 0;
    vg_debug("state checkpoint", "hosts=%zu bytes=%llu build_s=%.3f wait_s=%.3f", st->n_flight,
             (unsigned long long)st->bytes, build_s, wait_s);
    if (st->flush_err || st->delivery_errors) {
        land_flight(st); /* every host stays dirty */
        st->st.checkpoint_errors++;
        return vg_err(err, errlen, -EIO, "state checkpoint: %s",
                      st->flush_err ? "not acknowledged in time" : st->last_error);
    }
    /* Acknowledged: clean, unless changed after its record was made (then the next checkpoint
     * writes it again: a touch after a tombstone brings the host back, a drop after a record
     * deletes it). Hosts forgotten meanwhile are NULL in the list. */
    size_t sent = 0, n = 0;
    for (size_t i = 0; i < st->n_flight; i++) {
        struct ent *x = st->flight[i];
        if (!x)
            continue;
        sent++;
        if (x->gen == x->sent_gen)
            x->dirty = 0;
    }
    for (size_t i = 0; i < st->n_dirty; i++)
        if (st->dirty[i]->dirty)
            st->dirty[n++] = st->dirty[i];
    st->n_dirty = n;
    for (size_t i = 0; i < st->n_flight; i++) {
        struct ent *x = st->flight[i];
        if (x && !x->dirty && x->tombstone) {
            for (size_t t = 0; t < st->n_trials; t++)
                if (st->trials[t] == x)
                    st->trials[t] = NULL;
            free(vg_strmap_del(&st->hosts, x->name));
            st->flight[i] = NULL;
        }
    }
    land_flight(st);
    size_t tombs = st->n_tombs < sent ? st->n_tombs : sent;
    st->st.hosts_written += sent - tombs;
    st->st.hosts_deleted += tombs;
    st->st.bytes_written += st->bytes;
    st->st.checkpoints++;
    return next_trial(st, e, ms);
}

void vg_state_topic_ckpt_abandon(struct vg_state_topic *st)
{
    if (st->phase == CKPT_IDLE)
        return;
    st->phase = CKPT_IDLE;
    land_flight(st);
    st->n_trials = st->next_trial = 0;
    /* Not sent yet: dropped now rather than written after the partitions' new owner took its
     * hosts over. */
    rd_kafka_purge(st->producer, RD_KAFKA_PURGE_F_QUEUE);
    rd_kafka_poll(st->producer, 0);
}

int vg_state_topic_checkpoint(struct vg_state_topic *st, const struct vg_engine *e,
                              const struct vg_models *ms, int timeout_ms, char *err, size_t errlen)
{
    int rc = vg_state_topic_ckpt_produce(st, e, ms, timeout_ms, err, errlen);
    while (rc == 1) {
        vg_state_topic_ckpt_wait(st);
        rc = vg_state_topic_ckpt_settle(st, e, ms, err, errlen);
    }
    return rc;
}

void vg_state_topic_forget(struct vg_state_topic *st, const char *host)
{
    struct ent *x = vg_strmap_del(&st->hosts, host);
    if (!x)
        return;
    for (size_t i = 0; x->dirty && i < st->n_dirty; i++)
        if (st->dirty[i] == x) {
            st->dirty[i] = st->dirty[--st->n_dirty];
            break;
        }
    /* Written by the checkpoint under way: it settles without it (its record may still land,
     * as one acknowledged just before would have). */
    for (size_t i = 0; x->flying && i < st->n_flight; i++)
        if (st->flight[i] == x)
            st->flight[i] = NULL;
    for (size_t i = 0; i < st->n_trials; i++)
        if (st->trials[i] == x)
            st->trials[i] = NULL;
    free(x);
}

static int wanted(int32_t p, const int32_t *parts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (parts[i] == p)
            return 1;
    return 0;
}

int vg_state_record_parse(const void *value, size_t len, struct vg_state_record *r, char *err,
                          size_t errlen)
{
    const unsigned char *v = value;
    if (len >= REC_HEADER && memcmp(v, REC_MAGIC, 4) == 0) {
        uint32_t version = get_u32(v + 4);
        if (version != REC_VERSION)
            return vg_err(err, errlen, -EPROTONOSUPPORT,
                          "record version %u, this analyzer reads %d (and the headerless 1)",
                          version, REC_VERSION);
        if (vg_ckpt_crc32(0, v + REC_HEADER, len - REC_HEADER) != get_u32(v + 12))
            return vg_err(err, errlen, -EINVAL, "checksum mismatch (corrupt record)");
        *r = (struct vg_state_record){(int32_t)get_u32(v + 8), v + REC_HEADER, len - REC_HEADER};
        return 0;
    }
    /* Version 1: no header, no checksum; the engine checks the record's structure. */
    if (len >= 8 && memcmp(v + 4, "VGHS", 4) == 0) {
        *r = (struct vg_state_record){(int32_t)get_u32(v), v + 4, len - 4};
        return 0;
    }
    return vg_err(err, errlen, -EINVAL, "not a host state record (%zu bytes)", len);
}

struct blob_ctx {
    struct vg_state_topic *st;
    struct vg_models *ms;
    int models; /* model states of the current record loaded */
};

/* A model's part of a host record; a refusal leaves that model cold for the host only. */
static void on_blob(void *ud, const char *host, const struct vg_engine_blob *b)
{
    struct blob_ctx *c = ud;
    char err[VG_ERRLEN];
    int rc = vg_models_host_load(c->ms, host, b, err, sizeof(err));
    if (rc == 0) {
        c->models++;
    } else if (rc != -ENOENT) {
        c->st->st.model_errors++;
        vg_warn("model state of host refused: it starts fresh in that model",
                "host=%s model=%s reason=\"%s\"", host, b->type, err);
    }
}

/* A host's latest record read so far (of one of the partitions restored), imported once its
 * partition of the state topic is read to its end: a restore cut short by its deadline must not
 * leave a host with an older record than its latest, whose offsets are long committed (the
 * messages in between would be a sequence gap, the alerts they fired or resolved unknown).
 * Staged without the caller's lock, which only the import takes: at most one record per host of
 * the partitions restored, each at most the topic's max.message.bytes, and only until its
 * partition of the state topic is read whole (docs/reliability.md). */
struct pending {
    int32_t part;    /* of the state topic; -1 once imported */
    int64_t offset;  /* of the record, for the log */
    size_t off, len; /* the engine's host record within data */
    int32_t metrics_part;
    unsigned char data[]; /* the record's value */
};

struct restore_ctx {
    struct vg_state_topic *st;
    struct vg_engine *e;
    struct vg_models *ms;
    pthread_mutex_t *lock; /* held around each change to e, ms and st (NULL: none) */
    const int32_t *parts;
    size_t n;
    /* Refused records, counted in st at the end under the lock: the reading holds no lock, and
     * the API reads st's counters. */
    size_t errors;
    size_t records;           /* records of the partitions restored */
    size_t tombstones;        /* hosts whose record a later tombstone voided */
    size_t restored, models;  /* hosts imported, and their model states */
    size_t parts_done;        /* partitions of the state topic read to their end */
    struct vg_strmap pending; /* host -> struct pending */
};

static void drop_pending(struct restore_ctx *c, const char *host)
{
    free(vg_strmap_del(&c->pending, host));
}

static void restore_record(void *ud, const rd_kafka_message_t *m)
{
    struct restore_ctx *c = ud;
    struct vg_state_topic *st = c->st;
    char ierr[VG_ERRLEN];
    if (m->key && m->key_len && m->key_len < 256 && m->len >= 4) {
        char host[256];
        memcpy(host, m->key, m->key_len);
        host[m->key_len] = '\0';
        struct vg_state_record r = {0};
        /* The key and the reasons come from the record: quoted, so a crafted key cannot make a
         * log line of its own. */
        char qh[600], qr[VG_ERRLEN + 8];
        vg_log_quote(qh, sizeof qh, host);
        int bad = vg_state_record_parse(m->payload, m->len, &r, ierr, sizeof(ierr)) < 0;
        /* The metrics partition is outside the record's checksum (header version 2, which
         * analyzers of both versions read during an upgrade): one the metrics topic cannot
         * have is damage, not another analyzer's host. */
        if (!bad &&
            !vg_state_topic_partition_possible(r.partition, st->metrics_parts, c->parts, c->n)) {
            bad = 1;
            if (st->metrics_parts > 0)
                snprintf(ierr, sizeof(ierr),
                         "metrics partition %d in the record's header, the metrics topic has %d "
                         "(corrupt header)",
                         (int)r.partition, (int)st->metrics_parts);
            else
                snprintf(ierr, sizeof(ierr),
                         "metrics partition %d in the record's header (corrupt header)",
                         (int)r.partition);
        }
        if (bad) {
            /* Which analyzer's host it is cannot be told (the metrics partition is in the
             * refused part): every analyzer counts it. The host's older records are void too:
             * restored from one, the host would carry the state of a time whose offsets are long
             * committed (docs/reliability.md). It starts cold unless a later record is good. */
            c->errors++;
            int had = vg_strmap_get(&c->pending, host) != NULL;
            drop_pending(c, host);
            vg_warn("state record refused: host starts cold, its older records are not used",
                    "host=%s partition=%d offset=%lld older_record_dropped=%d reason=%s", qh,
                    (int)m->partition, (long long)m->offset, had,
                    vg_log_quote(qr, sizeof qr, ierr));
        } else if (!wanted(r.partition, c->parts, c->n)) {
            /* The host's latest record names another partition: an earlier one is void. */
            drop_pending(c, host);
        } else {
            /* Later records of a host replace earlier ones until compaction. */
            c->records++;
            struct pending *p = malloc(sizeof(*p) + m->len);
            if (!p) {
                c->errors++;
                drop_pending(c, host);
                vg_warn("state record refused", "host=%s partition=%d offset=%lld reason=%s", qh,
                        (int)m->partition, (long long)m->offset, "\"out of memory\"");
                return;
            }
            *p = (struct pending){
                m->partition, m->offset,
                (size_t)((const unsigned char *)r.data - (const unsigned char *)m->payload), r.len,
                r.partition};
            memcpy(p->data, m->payload, m->len);
            drop_pending(c, host);
            if (vg_strmap_put(&c->pending, host, p) < 0) {
                free(p);
                c->errors++;
                vg_warn("state record refused", "host=%s partition=%d offset=%lld reason=%s", qh,
                        (int)m->partition, (long long)m->offset, "\"out of memory\"");
            }
        }
    } else if (m->key && m->key_len && m->key_len < 256 && m->len == 0) {
        /* A tombstone (a host forgotten after limits.host_idle, or written by an operator):
         * the host has no state, and a record of it read before this one is void. */
        char host[256];
        memcpy(host, m->key, m->key_len);
        host[m->key_len] = '\0';
        struct pending *p = vg_strmap_del(&c->pending, host);
        if (p) {
            free(p);
            c->tombstones++;
        }
    } else if (m->key && m->len == 0) {
        /* A tombstone with a key no host can have: nothing to restore. */
    } else {
        c->errors++;
        vg_warn("state record refused", "partition=%d offset=%lld reason=\"%s\"", (int)m->partition,
                (long long)m->offset,
                !m->key || !m->key_len ? "no key (the host)"
                : m->key_len >= 256    ? "key longer than 255 bytes"
                                       : "shorter than a record's header");
    }
}

static int imported(void *ud, const void *val)
{
    (void)ud;
    return ((const struct pending *)val)->part < 0;
}

/* A partition of the state topic read to its end: its hosts' latest records are final. */
static void restore_partition(void *ud, int32_t part)
{
    struct restore_ctx *c = ud;
    struct vg_state_topic *st = c->st;
    char ierr[VG_ERRLEN];
    c->parts_done++;
    size_t k = 0;
    for (size_t i = 0; i < c->pending.cap; i++) {
        struct pending *p = c->pending.vals[i];
        const char *host = c->pending.keys[i];
        if (!host || p->part != part)
            continue;
        p->part = -1;
        k++;
        struct blob_ctx bc = {st, c->ms, 0};
        /* The lock one host at a time: an import is a copy in memory (milliseconds for a large
         * host), so the API waits no longer than that whatever the size of the restore. */
        if (c->lock)
            pthread_mutex_lock(c->lock);
        int rc = vg_engine_host_import(c->e, host, p->data + p->off, p->len, on_blob, &bc, ierr,
                                       sizeof(ierr));
        if (rc == 0) {
            vg_engine_host_partition(c->e, host, p->metrics_part);
            /* Ours now: checkpointed from here on (rewritten once, harmless). */
            vg_state_topic_touch(st, host, p->metrics_part);
        }
        if (c->lock)
            pthread_mutex_unlock(c->lock);
        if (rc == 0) {
            c->restored++;
            c->models += (size_t)bc.models;
        } else {
            char qh[600], qr[VG_ERRLEN + 8];
            c->errors++;
            vg_warn("state record refused", "host=%s partition=%d offset=%lld reason=%s",
                    vg_log_quote(qh, sizeof qh, host), (int)part, (long long)p->offset,
                    vg_log_quote(qr, sizeof qr, ierr));
        }
    }
    /* Out of memory: the imported ones stay, marked, until the end of the restore. */
    if (k)
        (void)vg_strmap_del_if(&c->pending, imported, NULL, free);
}

int vg_state_topic_restore(struct vg_state_topic *st, struct vg_engine *e, struct vg_models *ms,
                           pthread_mutex_t *lock, const int32_t *parts, size_t n, int timeout_ms,
                           char *err, size_t errlen)
{
    struct restore_ctx c = {.st = st, .e = e, .ms = ms, .lock = lock, .parts = parts, .n = n};
    vg_strmap_init(&c.pending);
    char rerr[VG_ERRLEN];
    int n_parts = 0;
    int rc = vg_kafka_read_topic_stoppable(st->bootstrap, st->kafka, "vigil-analyzer-state-restore",
                                           st->topic, timeout_ms, st->stop, restore_record,
                                           restore_partition, &c, &n_parts, rerr, sizeof(rerr));
    /* Hosts whose partition of the state topic was not read to its end: not restored at all
     * (they start cold) rather than from a record that may not be their latest. */
    size_t unread = 0;
    for (size_t i = 0; i < c.pending.cap; i++)
        if (c.pending.keys[i] && ((struct pending *)c.pending.vals[i])->part >= 0)
            unread++;
    vg_strmap_free(&c.pending, free);
    /* A read that failed or ended at its deadline is one restore error more (below); not a stop:
     * its hosts go nowhere. */
    int failed = rc && rc != -ECANCELED;
    if (lock)
        pthread_mutex_lock(lock);
    st->st.hosts_restored += c.restored;
    st->st.models_restored += c.models;
    st->st.restore_errors += c.errors + (size_t)failed;
    if (lock)
        pthread_mutex_unlock(lock);
    if (rc == 0 || rc == -ETIMEDOUT)
        vg_info("state restored",
                "topic=%s partitions=%zu hosts=%zu models=%zu records=%zu deleted=%zu", st->topic,
                n, c.restored, c.models, c.records, c.tombstones);
    if (rc == -ECANCELED) /* the analyzer stops: its hosts go nowhere, no error */
        return vg_err(err, errlen, rc, "state restore stopped: %s", rerr);
    if (rc == -ETIMEDOUT)
        return vg_err(err, errlen, rc,
                      "state restore: %s: %zu of its %d partitions read whole, hosts of the "
                      "others not restored (%zu of them read so far)",
                      rerr, c.parts_done, n_parts, unread);
    if (rc) /* hosts not restored start cold: counted above, not only logged */
        return vg_err(err, errlen, rc, "state restore: %s", rerr);
    return 0;
}

void vg_state_topic_set_stop(struct vg_state_topic *st, const atomic_int *stop)
{
    st->stop = stop;
}

void vg_state_topic_set_metrics_partitions(struct vg_state_topic *st, int32_t n)
{
    /* A topic's partitions are only ever added: a smaller answer is not a newer one. */
    if (n > st->metrics_parts)
        st->metrics_parts = n;
}

void vg_state_topic_set_stop_by(struct vg_state_topic *st, const _Atomic int64_t *stop_by)
{
    st->stop_by = stop_by;
}

void vg_state_topic_get_stats(const struct vg_state_topic *st, struct vg_state_topic_stats *out)
{
    *out = st->st;
    out->hosts_pending = st->n_dirty;
}

static void free_ent(void *v)
{
    free(v);
}

static void free_st(struct vg_state_topic *st)
{
    if (st->conf_tmpl)
        rd_kafka_conf_destroy(st->conf_tmpl);
    vg_strmap_free(&st->hosts, free_ent);
    free(st->dirty);
    free(st->flight);
    free(st->topic);
    free(st->bootstrap);
    free(st);
}

int vg_state_topic_close(struct vg_state_topic *st, int64_t by, size_t *unsent)
{
    if (unsent)
        *unsent = 0;
    if (!st)
        return 0;
    if (!st->producer) {
        free_st(st);
        return 0;
    }
    /* A check of the topic still asking uses the producer: past by, st is left to it. */
    if (check_end(st, by) < 0)
        return -ETIMEDOUT;
    int64_t now = vg_mono_ms(), flush_by = by < now + 5000 ? by : now + 5000;
    flush_until(st, flush_by, 0);
    /* What is left belongs to checkpoints that were not acknowledged, so their offsets were not
     * committed either: purged, its delivery reports served, and counted for the stop's log. */
    int left = rd_kafka_outq_len(st->producer);
    if (left > 0) {
        /* Not waiting for the broker threads to acknowledge: one stuck in a DNS lookup during
         * an outage would hold this (main) thread past the stop's deadline. */
        rd_kafka_purge(st->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
                                         RD_KAFKA_PURGE_F_NON_BLOCKING);
        rd_kafka_poll(st->producer, 0);
        if (unsent)
            *unsent = (size_t)left;
    }
    now = vg_mono_ms();
    if (vg_kafka_destroy_by(st->producer, 0, by > now + 1000 ? by : now + 1000) == -ETIMEDOUT)
        return -ETIMEDOUT; /* st stays: the producer's threads may still use it */
    free_st(st);
    return 0;
}
