/* librdkafka set-up shared by the agent and the analyzer. Nothing here knows about the mock
 * cluster: the embedded broker lives in the analyzer and is only ever a bootstrap address. */
#ifndef VG_KAFKA_H
#define VG_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>

#include "vg_config.h"

/* A default property: applied before the user's, so the user's config always wins. */
struct vg_kafka_prop {
    const char *key;
    const char *value;
};

/* Builds a librdkafka conf from Vigil's defaults (NULL-key terminated array, may be NULL) and the
 * user's properties from the config's `kafka:` map. librdkafka's own log lines are routed into
 * Vigil's log. On success the caller owns *out (hand it to rd_kafka_new, which takes it, or
 * rd_kafka_conf_destroy). On failure err names the property and librdkafka's reason.
 *
 * Secrets (docs/security.md): a user key ending in "_file" (sasl.password_file) names a file whose
 * one line (a trailing newline removed) becomes the property without the suffix (sasl.password);
 * setting both forms is an error. Every secret value, from a file or written inline in a key
 * that vg_kafka_prop_is_secret() names, is registered with vg_secret_register(), so no log line
 * or error message ever shows it; librdkafka's own refusals are scrubbed too. The files are read
 * on every call, with the caller's privileges. */
int vg_kafka_conf_new(rd_kafka_conf_t **out, const struct vg_kafka_prop *defaults,
                      const struct vg_kvlist *user, char *err, size_t errlen);

/* Flags of vg_kafka_conf_new_ex. */
enum {
    /* A secret file that cannot be read for want of permission (-EACCES: root's alone, read by a
     * reload running as the service user) is logged as a warning and skipped, not refused, and
     * the rest of the properties are set and checked: a SASL password or secret gets a
     * placeholder (the client can then be made and checked with vg_kafka_client_check), any other
     * property is left unset (VG_KAFKA_UNREAD_UNSET: the client check would not be faithful). */
    VG_KAFKA_CONF_SKIP_UNREADABLE = 1,
};

/* What vg_kafka_conf_new_ex skipped, in *unread. */
enum { VG_KAFKA_UNREAD_FILE = 1, VG_KAFKA_UNREAD_UNSET = 2 };

/* vg_kafka_conf_new with flags; *unread (may be NULL) says what VG_KAFKA_CONF_SKIP_UNREADABLE
 * skipped. */
int vg_kafka_conf_new_ex(rd_kafka_conf_t **out, const struct vg_kafka_prop *defaults,
                         const struct vg_kvlist *user, unsigned flags, int *unread, char *err,
                         size_t errlen);

/* Whether a file the user's properties name is missing: the ones librdkafka reads when the
 * client is made with these properties (ssl.ca.location unless "probe", ssl.certificate.location,
 * ssl.key.location, ssl.crl.location, ssl.keystore.location, only when security.protocol is ssl
 * or sasl_ssl, any case; sasl.kerberos.keytab only when it is sasl_plaintext or sasl_ssl with the
 * GSSAPI mechanism, the default) and the secret files of the keys ending in "_file", always read.
 * -ENOENT, err worded "kafka.KEY: PATH: No such file or directory", for the first; else 0. A file
 * that exists but cannot be read is the client's own refusal. Before that, any of these paths
 * that is relative, read with these properties or not: -EINVAL, "kafka.KEY: 'PATH' must be an
 * absolute path (...)" (the units run from /). */
int vg_kafka_missing_file(const struct vg_kvlist *user, char *err, size_t errlen);

/* The same for the path properties these properties leave unread (an ssl.* path on a plaintext
 * cluster): -ENOENT, err worded as above with the reason it is not read appended, for the first
 * missing one, which is worth a warning, not a refusal; else 0. */
int vg_kafka_unused_missing_file(const struct vg_kvlist *user, char *err, size_t errlen);

/* A start's wait for the files vg_kafka_missing_file names, before any client is made: config
 * management may write a CA bundle or a secret a moment after the daemon starts. A missing file is
 * checked again after 1 s, doubling to 10 s, for at most wait_ms, each attempt logged as a warning
 * (and the success after a wait as an info line). Still missing, it is a config error (a wrong
 * path, most likely): -ENOENT, err worded as vg_kafka_missing_file words it with
 * " (waited N s for it)" appended; a relative path is refused at once, as it refuses it. 0 when
 * nothing is missing, and 0 too when *stop (a signal handler's flag, may be NULL) is set before or
 * during the wait: the caller checks it. */
int vg_kafka_wait_files(const struct vg_kvlist *user, int wait_ms, volatile sig_atomic_t *stop,
                        char *err, size_t errlen);

/* Creates the client of type (producer or consumer) from conf (taken: built by
 * vg_kafka_conf_new as the start builds it) with rd_kafka_new and destroys it at once, without a
 * broker to connect to: for --check-config, which must refuse what the start refuses.
 * rd_kafka_new refuses what setting each property alone lets through: a SASL mechanism without
 * its settings (GSSAPI, the default, without a keytab; SCRAM without sasl.username), an
 * unreadable ssl.ca.location, acks other than all with idempotence. 0, or -EINVAL with the
 * error worded "WHAT: librdkafka's reason", as the start words it. */
int vg_kafka_client_check(rd_kafka_type_t type, rd_kafka_conf_t *conf, const char *what, char *err,
                          size_t errlen);

/* Kafka's own rule for a topic name (its Topic.validate; librdkafka does not check): at most 249
 * of [A-Za-z0-9._-], and neither "." nor "..". The brokers refuse any other, so every request
 * naming it would fail the same way, with an error (UNKNOWN_TOPIC_OR_PART,
 * INVALID_TOPIC_EXCEPTION) that names no typo. 0, or -EINVAL with the error starting with key
 * (the config key that set it, so that vg_config_locate places it): "KEY: 'a b' is not a name
 * Kafka takes: ...". An empty name is refused as "KEY: empty"; a key for which empty means off
 * tests that first. */
#define VG_KAFKA_TOPIC_MAX 249
int vg_kafka_topic_check(const char *key, const char *topic, char *err, size_t errlen);

/* 1 when a librdkafka property holds a secret: its name contains "password", "secret",
 * "ssl.key.pem" or "oauthbearer.config". */
int vg_kafka_prop_is_secret(const char *key);

/* Asks the cluster, through rk's admin API, to create topic with partitions (-1: the broker's
 * default) and the NULL-key terminated topic configs (may be NULL), waiting at most timeout_ms.
 * Returns the topic's result: RD_KAFKA_RESP_ERR_NO_ERROR when created,
 * RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS, RD_KAFKA_RESP_ERR__TIMED_OUT without an answer, or
 * the broker's refusal (ACLs, a bad config). Allocates nothing that outlives the call. */
/* The partition count of topic on rk's cluster: > 0; 0 when the cluster has no such topic (or
 * reports an error for it: *why says which, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART when it is
 * not listed); -EIO when the cluster did not answer within timeout_ms (*why: librdkafka's
 * reason). all_topics asks for every topic's metadata rather than this one's: a request naming
 * the topic would have a producer auto-create it, with the broker's defaults, where the cluster
 * allows that. why may be NULL. */
int vg_kafka_topic_partitions(rd_kafka_t *rk, const char *topic, int all_topics, int timeout_ms,
                              rd_kafka_resp_err_t *why);

/* The partition of n (> 0) that librdkafka's default partitioner (consistent_random, which the
 * agent's producer uses unless kafka.partitioner says otherwise) gives a message keyed key
 * (len > 0 bytes): CRC-32 of the key modulo n. */
int32_t vg_kafka_key_partition(const void *key, size_t len, int32_t n);

/* 1 when a consumed message's error is about the records at its topic, partition and offset (a
 * batch starting there that librdkafka could not check or decompress: _BAD_MSG,
 * _BAD_COMPRESSION, or a broker's CORRUPT_MESSAGE), which the consumer skips past like records
 * that do not decode; 0 for an error of the consumer or the cluster (a broker down, a topic
 * missing), one that names no offset, or no error. */
int vg_kafka_message_is_bad(const rd_kafka_message_t *m);

/* The key=value tail of a consumer error's log line, written into buf (n bytes) and returned:
 * code=<err name> reason="<text>", then topic=, partition= and offset= where the error carries
 * them. */
const char *vg_kafka_consume_error_kv(const rd_kafka_message_t *m, char *buf, size_t n);

/* Reads librdkafka's warning (facility OFFSET) that a partition's fetch position was reset by
 * auto.offset.reset after an error (OFFSET_OUT_OF_RANGE: retention deleted it, the topic was
 * recreated or truncated): topic (topic_len bytes), partition, the offset that could not be
 * fetched (at) and the one reset to (to: an offset, or RD_KAFKA_OFFSET_END / _BEGINNING when
 * librdkafka still has to ask the broker). librdkafka reports such a reset to the application
 * only with auto.offset.reset=error, which also stops the partition; this line is all that it
 * says otherwise. Returns 0, or -EINVAL for any other line. */
int vg_kafka_parse_offset_reset(const char *line, char *topic, size_t topic_len, int32_t *partition,
                                int64_t *at, int64_t *to);

/* The key=value tail of a failed offset commit's log line (the offset commit callback's err and
 * offsets, which may be NULL), written into buf (n bytes, cut to fit) and returned:
 * code=<err name> reason="<text>", then, where the result names them, the failed partitions
 * (those with an error of their own, else all of a commit that failed as a whole): topic= and
 * partition= (offset= where committed one, partition_code= where its error is another) for one,
 * topic= and partitions=0,3,5 for several. */
const char *vg_kafka_commit_error_kv(rd_kafka_resp_err_t err,
                                     const rd_kafka_topic_partition_list_t *offsets, char *buf,
                                     size_t n);

/* Offset resets read from a group consumer's log (vg_kafka_resets_line, on librdkafka's threads)
 * until its thread reports them (vg_kafka_resets_take), and the partitions reset and not read
 * from since (vg_kafka_resets_read, its thread only): the records a reset skipped are known when
 * the partition's next record arrives. Each reset is tagged with the assignment it was logged in
 * (gen, bumped by vg_kafka_resets_forget at each assignment and revocation): a reset logged just
 * before a rebalance but taken after it is still reported, but skipped nothing, since the new
 * assignment reads the partition from its committed offset. More than VG_KAFKA_RESETS_MAX
 * between two takes are only counted (lost). */
#define VG_KAFKA_RESETS_MAX 64
struct vg_kafka_reset {
    char topic[256];
    int32_t partition;
    int64_t at, to; /* as vg_kafka_parse_offset_reset gives them */
    uint64_t gen;   /* the assignment it was logged in */
};
struct vg_kafka_resets {
    pthread_mutex_t lock; /* for queued, n_queued, lost and gen */
    struct vg_kafka_reset queued[VG_KAFKA_RESETS_MAX];
    size_t n_queued;
    uint64_t lost;
    uint64_t gen;
    struct vg_kafka_reset unread[VG_KAFKA_RESETS_MAX]; /* the consumer's thread only */
    size_t n_unread;
};
#define VG_KAFKA_RESETS_INIT                                                                       \
    {                                                                                              \
        .lock = PTHREAD_MUTEX_INITIALIZER                                                          \
    }
/* Queues the reset a log line says (level: syslog, fac: librdkafka's facility), if it says one. */
void vg_kafka_resets_line(struct vg_kafka_resets *q, int level, const char *fac, const char *buf);
/* A new assignment or a revocation: the partitions are read from their committed offsets next,
 * so the resets so far skipped nothing that will not be read. */
void vg_kafka_resets_forget(struct vg_kafka_resets *q);
/* Moves the queued resets to out (VG_KAFKA_RESETS_MAX entries), all to be reported, and returns
 * how many; *lost gets those that did not fit in the queue. Those of the current assignment are
 * noted as unread, for vg_kafka_resets_read. */
size_t vg_kafka_resets_take(struct vg_kafka_resets *q, struct vg_kafka_reset *out, uint64_t *lost);
/* A record of topic/partition at offset was read: 1 when the partition was reset since its last
 * record, with *at where the reset was (the records from *at to offset were skipped when offset
 * is past it); 0 otherwise. */
int vg_kafka_resets_read(struct vg_kafka_resets *q, const char *topic, int32_t partition,
                         int64_t offset, int64_t *at);

/* Logs one librdkafka log line (level: syslog 0-7, fac: librdkafka's facility) as
 * msg="librdkafka" client= facility= detail=, rate-limited per facility (vg_log_keyed): the
 * clients' log callback. */
void vg_kafka_log(const char *client, int level, const char *fac, const char *buf);

rd_kafka_resp_err_t vg_kafka_create_topic(rd_kafka_t *rk, const char *topic, int partitions,
                                          const struct vg_kafka_prop *configs, int timeout_ms);

/* rd_kafka_destroy_flags(rk, flags) in a thread of its own, waited for until by (vg_mono_ms()):
 * 0 when it ended, -ETIMEDOUT when not, and the thread is then left to it (never joined; the
 * process is stopping). librdkafka 2.0.2's destroy may never return (a broker thread that waits
 * for references a group re-join left behind, librdkafka issue 3470), and a stop that waits for
 * it outlives the unit's TimeoutStopSec. The caller must not use rk, nor anything its callbacks
 * use, once it has called this, and must keep what rk's log callback uses for the process's
 * life; -EAGAIN (nothing started) when no thread could be made, rk destroyed in the caller. */
int vg_kafka_destroy_by(rd_kafka_t *rk, int flags, int64_t by);

/* How many vg_kafka_destroy_by() calls left their handle to its threads: the process must then
 * end with _exit(), not exit() (see the analyzer's main). */
int vg_kafka_destroys_abandoned(void);

#endif
