#include "vg_kafka.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "vg_log.h"
#include "vg_secret.h"
#include "vg_util.h"

#define FILE_SUFFIX     "_file"
#define FILE_SUFFIX_LEN 5

/* librdkafka logs with syslog levels (0 emerg .. 7 debug). Each facility has its own rate-limit
 * budget: a storm of one (FAIL, ERROR: reconnects from every client) must not hold back the rare
 * lines of another (OFFSET: a partition's offset reset). */
void vg_kafka_log(const char *client, int level, const char *fac, const char *buf)
{
    enum vg_log_level l = level <= 3   ? VG_LOG_ERROR
                          : level == 4 ? VG_LOG_WARN
                          : level <= 6 ? VG_LOG_INFO
                                       : VG_LOG_DEBUG;
    char q[512], key[48];
    snprintf(key, sizeof(key), "librdkafka %s", fac ? fac : "");
    vg_log_keyed(l, key, "librdkafka", "client=%s facility=%s detail=%s", client ? client : "",
                 fac ? fac : "", vg_log_quote(q, sizeof(q), buf));
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    vg_kafka_log(rd_kafka_name(rk), level, fac, buf);
}

int vg_kafka_prop_is_secret(const char *key)
{
    return strstr(key, "password") || strstr(key, "secret") || strstr(key, "ssl.key.pem") ||
           strstr(key, "oauthbearer.config");
}

int vg_kafka_topic_check(const char *key, const char *topic, char *err, size_t errlen)
{
    size_t n = strlen(topic);
    if (n == 0)
        return vg_err(err, errlen, -EINVAL, "%s: empty", key);
    if (n > VG_KAFKA_TOPIC_MAX)
        return vg_err(err, errlen, -EINVAL, "%s: %zu characters long, Kafka takes at most %d", key,
                      n, VG_KAFKA_TOPIC_MAX);
    if (strcmp(topic, ".") == 0 || strcmp(topic, "..") == 0 ||
        strspn(topic, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n)
        return vg_err(err, errlen, -EINVAL,
                      "%s: '%.64s%s' is not a name Kafka takes: only letters, digits, '.', "
                      "'_' and '-', and not '.' or '..'",
                      key, topic, n > 64 ? "..." : "");
    return 0;
}

/* librdkafka's refusal quotes the value ("Invalid value "..." for ..."): scrubbed, since the
 * value may be a secret. */
static int set_prop(rd_kafka_conf_t *conf, const char *k, const char *v, char *err, size_t errlen)
{
    char rkerr[512];
    if (rd_kafka_conf_set(conf, k, v, rkerr, sizeof(rkerr)) != RD_KAFKA_CONF_OK) {
        vg_secret_scrub(rkerr);
        return vg_err(err, errlen, -EINVAL, "kafka property '%s': %s", k, rkerr);
    }
    return 0;
}

static int is_file_key(const char *k)
{
    size_t n = strlen(k);
    return n > FILE_SUFFIX_LEN && strcmp(k + n - FILE_SUFFIX_LEN, FILE_SUFFIX) == 0;
}

/* "sasl.password_file: /etc/vigil/kafka.pass" sets sasl.password to the file's one line. */
static int set_from_file(rd_kafka_conf_t *conf, const struct vg_kvlist *user, const char *k,
                         const char *path, unsigned flags, int *unread, char *err, size_t errlen)
{
    char prop[256], what[300];
    size_t n = strlen(k) - FILE_SUFFIX_LEN;
    if (n >= sizeof(prop))
        return vg_err(err, errlen, -EINVAL, "kafka property '%s': name too long", k);
    memcpy(prop, k, n);
    prop[n] = '\0';
    if (vg_kvlist_get(user, prop))
        return vg_err(err, errlen, -EINVAL,
                      "kafka: both '%s' and '%s' are set; keep one (the file is the safer)", prop,
                      k);
    snprintf(what, sizeof(what), "kafka.%s", k);
    char *secret;
    size_t len;
    int rc = vg_secret_read(path, what, VG_SECRET_TRIM_NEWLINE, &secret, &len, err, errlen);
    if (rc == -EACCES && (flags & VG_KAFKA_CONF_SKIP_UNREADABLE)) {
        /* A SASL password or secret is only required to be set when the client is made: a
         * placeholder lets rd_kafka_new check the rest. Any other (a key's password, a PEM) is
         * used by rd_kafka_new itself, which a placeholder would make fail. */
        int placeholder =
            strncmp(prop, "sasl.", 5) == 0 && (strstr(prop, "password") || strstr(prop, "secret"));
        char q[VG_ERRLEN + 8];
        vg_warn("a file the Kafka config names cannot be read as this user, left to the next "
                "start to check",
                "property=%s producer_checked=%s reason=%s", what, placeholder ? "yes" : "no",
                vg_log_quote(q, sizeof q, err));
        *unread |=
            placeholder ? VG_KAFKA_UNREAD_FILE : VG_KAFKA_UNREAD_FILE | VG_KAFKA_UNREAD_UNSET;
        return placeholder ? set_prop(conf, prop, "unread-placeholder", err, errlen) : 0;
    }
    if (rc < 0)
        return rc;
    rc = vg_secret_register(secret);
    if (rc < 0)
        vg_err(err, errlen, rc, "kafka property '%s': cannot register the secret for log scrubbing",
               k);
    else
        rc = set_prop(conf, prop, secret, err, errlen);
    vg_secret_free(secret, len);
    return rc;
}

int vg_kafka_conf_new(rd_kafka_conf_t **out, const struct vg_kafka_prop *defaults,
                      const struct vg_kvlist *user, char *err, size_t errlen)
{
    return vg_kafka_conf_new_ex(out, defaults, user, 0, NULL, err, errlen);
}

int vg_kafka_conf_new_ex(rd_kafka_conf_t **out, const struct vg_kafka_prop *defaults,
                         const struct vg_kvlist *user, unsigned flags, int *unread, char *err,
                         size_t errlen)
{
    int unread_local = 0;
    if (!unread)
        unread = &unread_local;
    *unread = 0;
    static atomic_int inline_warned;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf)
        return -ENOMEM;
    rd_kafka_conf_set_log_cb(conf, log_cb);
    int rc = 0;
    for (const struct vg_kafka_prop *p = defaults; !rc && p && p->key; p++)
        rc = set_prop(conf, p->key, p->value, err, errlen);
    for (size_t i = 0; !rc && user && i < user->n; i++) {
        const char *k = user->items[i].key, *v = user->items[i].value;
        if (is_file_key(k)) {
            rc = set_from_file(conf, user, k, v, flags, unread, err, errlen);
            continue;
        }
        if (vg_kafka_prop_is_secret(k)) {
            if ((rc = vg_secret_register(v)) < 0) {
                vg_err(err, errlen, rc,
                       "kafka property '%s': cannot register the secret for log scrubbing", k);
                break;
            }
            if (!atomic_exchange(&inline_warned, 1))
                vg_warn("a Kafka secret is written in the config itself; put it in a file and set "
                        "<property>_file instead (docs/security.md)",
                        "property=kafka.%s", k);
        }
        rc = set_prop(conf, k, v, err, errlen);
    }
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    *out = conf;
    return 0;
}

/* The security.protocol (plaintext when unset) and SASL mechanism (GSSAPI when unset: librdkafka's
 * defaults) the client is made with; sasl.mechanism is an alias, the last one set wins. */
static void security_of(const struct vg_kvlist *user, const char **proto, const char **mech)
{
    *proto = vg_kvlist_get(user, "security.protocol");
    if (!*proto)
        *proto = "plaintext";
    *mech = "GSSAPI";
    for (size_t i = 0; i < user->n; i++)
        if (strcmp(user->items[i].key, "sasl.mechanism") == 0 ||
            strcmp(user->items[i].key, "sasl.mechanisms") == 0)
            *mech = user->items[i].value;
}

/* Whether librdkafka reads the file path property k (an ssl.* location or the keytab): the SSL
 * files only for security.protocol ssl or sasl_ssl (case-insensitive, as librdkafka takes it),
 * the keytab only for a SASL protocol with the GSSAPI mechanism (compared as written, as
 * librdkafka does). A path it does not read (a template's CA path on a plaintext cluster, a
 * keytab left over on a SCRAM agent) must not hold up the start. */
static int path_used(const struct vg_kvlist *user, const char *k)
{
    const char *proto, *mech;
    security_of(user, &proto, &mech);
    if (strncmp(k, "ssl.", 4) == 0)
        return strcasecmp(proto, "ssl") == 0 || strcasecmp(proto, "sasl_ssl") == 0;
    return (strcasecmp(proto, "sasl_plaintext") == 0 || strcasecmp(proto, "sasl_ssl") == 0) &&
           mech && strcmp(mech, "GSSAPI") == 0;
}

/* The first file the properties name that does not exist, among the ones librdkafka reads
 * (used) or among the ones it does not (!used). */
/* Whether property k, set to v, names a file: a secret file (a key ending in "_file") or a path
 * librdkafka opens itself; not an empty value, nor ssl.ca.location's "probe" (the system's CA
 * store). */
static int names_file(const char *k, const char *v)
{
    static const char *const paths[] = {"ssl.ca.location",
                                        "ssl.certificate.location",
                                        "ssl.key.location",
                                        "ssl.crl.location",
                                        "ssl.keystore.location",
                                        "sasl.kerberos.keytab",
                                        NULL};
    int named = is_file_key(k);
    for (size_t j = 0; !named && paths[j]; j++)
        named = strcmp(k, paths[j]) == 0;
    return named && v && *v && !(strcmp(k, "ssl.ca.location") == 0 && strcmp(v, "probe") == 0);
}

/* The first file a property names by a relative path, read with these properties or not: the
 * units run from /, so it names another file there than the one a check run from the operator's
 * directory found (the daemons' own path keys are refused so too: VG_CFG_F_ABS_PATH). */
static int relative_path(const struct vg_kvlist *user, char *err, size_t errlen)
{
    for (size_t i = 0; user && i < user->n; i++) {
        const char *k = user->items[i].key, *v = user->items[i].value;
        if (names_file(k, v) && *v != '/')
            return vg_err(err, errlen, -EINVAL,
                          "kafka.%s: '%.200s' must be an absolute path (the units run from /, not "
                          "from the directory a check runs in)",
                          k, v);
    }
    return 0;
}

static int missing_file(const struct vg_kvlist *user, int used, char *err, size_t errlen)
{
    for (size_t i = 0; user && i < user->n; i++) {
        const char *k = user->items[i].key, *v = user->items[i].value;
        int secret = is_file_key(k);
        if (!names_file(k, v))
            continue;
        /* A secret file is read by vg_kafka_conf_new whatever the protocol. */
        if ((secret || path_used(user, k)) != used)
            continue;
        struct stat st;
        if (stat(v, &st) != 0 && errno == ENOENT) {
            if (used)
                return vg_err(err, errlen, -ENOENT, "kafka.%s: %s: %s", k, v, strerror(ENOENT));
            const char *proto, *mech;
            security_of(user, &proto, &mech);
            if (strncmp(k, "ssl.", 4) == 0)
                return vg_err(err, errlen, -ENOENT,
                              "kafka.%s: %s: %s (not read with security.protocol %s)", k, v,
                              strerror(ENOENT), proto);
            return vg_err(err, errlen, -ENOENT,
                          "kafka.%s: %s: %s (not read with security.protocol %s, sasl.mechanism "
                          "%s)",
                          k, v, strerror(ENOENT), proto, mech ? mech : "");
        }
    }
    return 0;
}

int vg_kafka_missing_file(const struct vg_kvlist *user, char *err, size_t errlen)
{
    int rc = relative_path(user, err, errlen);
    return rc ? rc : missing_file(user, 1, err, errlen);
}

int vg_kafka_unused_missing_file(const struct vg_kvlist *user, char *err, size_t errlen)
{
    return missing_file(user, 0, err, errlen);
}

int vg_kafka_wait_files(const struct vg_kvlist *user, int wait_ms, volatile sig_atomic_t *stop,
                        char *err, size_t errlen)
{
    int64_t start = vg_mono_ms(), backoff = 1000;
    char q[VG_ERRLEN + 8];
    int rc, attempt = 1;
    for (; (rc = vg_kafka_missing_file(user, err, errlen)) == -ENOENT && !(stop && *stop);
         attempt++) {
        int64_t waited = vg_mono_ms() - start;
        if (waited >= wait_ms) {
            size_t n = strlen(err);
            snprintf(err + n, errlen - n, " (waited %lld s for it)", (long long)waited / 1000);
            return rc;
        }
        if (backoff > wait_ms - waited)
            backoff = wait_ms - waited;
        vg_warn("a file the Kafka config names is missing: waiting for it",
                "attempt=%d waited_ms=%lld retry_in_ms=%lld give_up_after_ms=%d reason=%s", attempt,
                (long long)waited, (long long)backoff, wait_ms, vg_log_quote(q, sizeof q, err));
        vg_sleep_ms(backoff, stop);
        backoff = backoff * 2 > 10000 ? 10000 : backoff * 2;
    }
    if (stop && *stop)
        return 0;
    if (attempt > 1)
        vg_info("the files the Kafka config names are there: starting",
                "attempts=%d waited_ms=%lld", attempt, (long long)(vg_mono_ms() - start));
    return rc;
}

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    (void)fac;
    (void)buf;
}

int vg_kafka_client_check(rd_kafka_type_t type, rd_kafka_conf_t *conf, const char *what, char *err,
                          size_t errlen)
{
    /* rd_kafka_new connects nothing itself, but its broker threads start connecting to the
     * bootstrap brokers at once, asynchronously: with none, the client has nowhere to go. Its
     * complaint about that, and the SSL library's lines, are no news to the check's reader. */
    char rkerr[512];
    if (rd_kafka_conf_set(conf, "bootstrap.servers", "", rkerr, sizeof rkerr) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return vg_err(err, errlen, -EINVAL, "%s: %s", what, rkerr);
    }
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    rd_kafka_t *rk = rd_kafka_new(type, conf, rkerr, sizeof rkerr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        vg_secret_scrub(rkerr);
        return vg_err(err, errlen, -EINVAL, "%s: %s", what, rkerr);
    }
    rd_kafka_destroy(rk);
    return 0;
}

rd_kafka_resp_err_t vg_kafka_create_topic(rd_kafka_t *rk, const char *topic, int partitions,
                                          const struct vg_kafka_prop *configs, int timeout_ms)
{
    char errstr[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, -1, errstr, sizeof(errstr));
    if (!nt)
        return RD_KAFKA_RESP_ERR__INVALID_ARG;
    for (const struct vg_kafka_prop *c = configs; c && c->key; c++)
        rd_kafka_NewTopic_set_config(nt, c->key, c->value);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_ANY);
    rd_kafka_AdminOptions_set_request_timeout(opt, timeout_ms, NULL, 0);
    rd_kafka_CreateTopics(rk, &nt, 1, opt, q);
    /* The request's own timeout answers first; the margin only covers handing that over. */
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 100);
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TIMED_OUT;
    if (ev) {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t n = 0;
        const rd_kafka_topic_result_t **tr =
            res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;
        e = n ? rd_kafka_topic_result_error(tr[0]) : rd_kafka_event_error(ev);
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return e;
}

int vg_kafka_topic_partitions(rd_kafka_t *rk, const char *topic, int all_topics, int timeout_ms,
                              rd_kafka_resp_err_t *why)
{
    rd_kafka_topic_t *t = all_topics ? NULL : rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = all_topics || t ? rd_kafka_metadata(rk, all_topics, t, &md, timeout_ms)
                                            : RD_KAFKA_RESP_ERR__INVALID_ARG;
    int n = e ? -EIO : 0;
    if (!e) {
        e = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        for (int i = 0; i < md->topic_cnt; i++) {
            if (strcmp(md->topics[i].topic, topic) != 0)
                continue;
            e = md->topics[i].err;
            n = e ? 0 : md->topics[i].partition_cnt;
            break;
        }
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    if (t)
        rd_kafka_topic_destroy(t);
    if (why)
        *why = e;
    return n;
}

int32_t vg_kafka_key_partition(const void *key, size_t len, int32_t n)
{
    /* librdkafka's own: consistent_random is this for a non-empty key; no topic handle is
     * read. */
    return rd_kafka_msg_partitioner_consistent(NULL, key, len, n, NULL, NULL);
}

/* An offset in librdkafka's text: a number, or a logical one by name (rd_kafka_offset2str). */
static const char *parse_offset(const char *p, int64_t *out)
{
    static const struct {
        const char *name;
        int64_t v;
    } logical[] = {{"BEGINNING", RD_KAFKA_OFFSET_BEGINNING},
                   {"END", RD_KAFKA_OFFSET_END},
                   {"STORED", RD_KAFKA_OFFSET_STORED},
                   {"INVALID", RD_KAFKA_OFFSET_INVALID}};
    if (*p >= '0' && *p <= '9') {
        char *end;
        *out = strtoll(p, &end, 10);
        return end;
    }
    for (size_t i = 0; i < sizeof(logical) / sizeof(logical[0]); i++) {
        size_t n = strlen(logical[i].name);
        if (strncmp(p, logical[i].name, n) == 0) {
            *out = logical[i].v;
            return p + n;
        }
    }
    return NULL;
}

static const char *skip(const char *p, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(p, prefix, n) == 0 ? p + n : p;
}

int vg_kafka_parse_offset_reset(const char *line, char *topic, size_t topic_len, int32_t *partition,
                                int64_t *at, int64_t *to)
{
    /* librdkafka 2.0: "T [P]: offset reset (at offset 6, broker 1) to END: <reason>"; 2.1 on:
     * "(at offset 6 (leader epoch 2), broker 1) to offset BEGINNING (leader epoch -1): ...";
     * from the cached log start: "to cached BEGINNING offset 40: ...". The thread prefix
     * "[thrd:main]: " comes first. */
    const char *p = skip(line, "[thrd:");
    if (p != line) {
        if (!(p = strstr(p, "]: ")))
            return -EINVAL;
        p += 3;
    }
    const char *open = strstr(p, " [");
    if (!open || (size_t)(open - p) >= topic_len || open == p)
        return -EINVAL;
    char *end;
    long part = strtol(open + 2, &end, 10);
    if (end == open + 2 || part < 0 || part > INT32_MAX)
        return -EINVAL;
    const char *q = skip(end, "]: offset reset (at ");
    if (q == end || !(q = parse_offset(skip(q, "offset "), at)))
        return -EINVAL;
    if (!(q = strstr(q, ") to ")))
        return -EINVAL;
    q = skip(skip(skip(q + 5, "cached BEGINNING offset "), "cached END offset "), "offset ");
    if (!parse_offset(q, to))
        return -EINVAL;
    memcpy(topic, p, (size_t)(open - p));
    topic[open - p] = '\0';
    *partition = (int32_t)part;
    return 0;
}

const char *vg_kafka_consume_error_kv(const rd_kafka_message_t *m, char *buf, size_t n)
{
    char q[512];
    int o = snprintf(buf, n, "code=%s reason=%s", rd_kafka_err2name(m->err),
                     vg_log_quote(q, sizeof(q), rd_kafka_message_errstr(m)));
    /* A partition's error (a fetch error, an offset reset) says where; a consumer's or the
     * group's error has no topic handle, or the partition unassigned (-1). */
    if (m->rkt && o >= 0 && (size_t)o < n) {
        o += snprintf(buf + o, n - (size_t)o, " topic=%s",
                      vg_log_quote(q, sizeof(q), rd_kafka_topic_name(m->rkt)));
        if (m->partition >= 0 && o >= 0 && (size_t)o < n)
            o += snprintf(buf + o, n - (size_t)o, " partition=%d", (int)m->partition);
        if (m->offset >= 0 && o >= 0 && (size_t)o < n)
            snprintf(buf + o, n - (size_t)o, " offset=%lld", (long long)m->offset);
    }
    return buf;
}

/* A partition the commit result says failed: its own error, or, when none has one, every
 * partition of a commit whose request failed as a whole. */
static int commit_failed(const rd_kafka_topic_partition_t *p, int any_own)
{
    return any_own ? p->err && p->err != RD_KAFKA_RESP_ERR__NO_OFFSET : 1;
}

const char *vg_kafka_commit_error_kv(rd_kafka_resp_err_t err,
                                     const rd_kafka_topic_partition_list_t *offsets, char *buf,
                                     size_t n)
{
    char q[512];
    size_t o = 0;
#define APPEND(...)                                                                                \
    do {                                                                                           \
        int w_ = o < n ? snprintf(buf + o, n - o, __VA_ARGS__) : 0;                                \
        o = w_ < 0 ? n : o + (size_t)w_;                                                           \
    } while (0)
    if (n)
        buf[0] = '\0';
    APPEND("code=%s reason=%s", rd_kafka_err2name(err),
           vg_log_quote(q, sizeof(q), rd_kafka_err2str(err)));
    int any_own = 0, failed = 0;
    const rd_kafka_topic_partition_t *first = NULL;
    for (int i = 0; offsets && i < offsets->cnt; i++)
        any_own |= offsets->elems[i].err && offsets->elems[i].err != RD_KAFKA_RESP_ERR__NO_OFFSET;
    for (int i = 0; offsets && i < offsets->cnt; i++)
        if (commit_failed(&offsets->elems[i], any_own) && !failed++)
            first = &offsets->elems[i];
    if (!first) /* no list (a commit of nothing), or an empty one */
        return buf;
    APPEND(" topic=%s", vg_log_quote(q, sizeof(q), first->topic));
    if (failed == 1) {
        APPEND(" partition=%d", (int)first->partition);
        if (first->offset >= 0)
            APPEND(" offset=%lld", (long long)first->offset);
        if (first->err && first->err != err)
            APPEND(" partition_code=%s", rd_kafka_err2name(first->err));
        return buf;
    }
    /* Several: the first one's topic (the analyzer consumes one) and its failed partitions, as a
     * comma list (one logfmt value); partitions of other topics are only counted. */
    int others = 0;
    const char *sep = " partitions=";
    for (int i = 0; i < offsets->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &offsets->elems[i];
        if (!commit_failed(p, any_own))
            continue;
        if (strcmp(p->topic, first->topic) != 0) {
            others++;
            continue;
        }
        APPEND("%s%d", sep, (int)p->partition);
        sep = ",";
    }
    if (others)
        APPEND(" other_topics_partitions=%d", others);
#undef APPEND
    return buf;
}

int vg_kafka_message_is_bad(const rd_kafka_message_t *m)
{
    if (!m->rkt || m->partition < 0 || m->offset < 0)
        return 0;
    return m->err == RD_KAFKA_RESP_ERR__BAD_MSG || m->err == RD_KAFKA_RESP_ERR__BAD_COMPRESSION ||
           m->err == RD_KAFKA_RESP_ERR_INVALID_MSG;
}

void vg_kafka_resets_line(struct vg_kafka_resets *q, int level, const char *fac, const char *buf)
{
    struct vg_kafka_reset r;
    if (level > 4 || !fac || strcmp(fac, "OFFSET") != 0 ||
        vg_kafka_parse_offset_reset(buf, r.topic, sizeof(r.topic), &r.partition, &r.at, &r.to))
        return;
    pthread_mutex_lock(&q->lock);
    r.gen = q->gen;
    if (q->n_queued < VG_KAFKA_RESETS_MAX)
        q->queued[q->n_queued++] = r;
    else
        q->lost++;
    pthread_mutex_unlock(&q->lock);
}

void vg_kafka_resets_forget(struct vg_kafka_resets *q)
{
    q->n_unread = 0;
    pthread_mutex_lock(&q->lock);
    q->gen++;
    pthread_mutex_unlock(&q->lock);
}

size_t vg_kafka_resets_take(struct vg_kafka_resets *q, struct vg_kafka_reset *out, uint64_t *lost)
{
    pthread_mutex_lock(&q->lock);
    uint64_t gen = q->gen;
    size_t n = q->n_queued;
    memcpy(out, q->queued, n * sizeof(out[0]));
    q->n_queued = 0;
    *lost = q->lost;
    q->lost = 0;
    pthread_mutex_unlock(&q->lock);
    for (size_t i = 0; i < n; i++) {
        /* Resets in a row are one episode, from where the first one was. */
        if (out[i].gen != gen || out[i].at < 0)
            continue;
        size_t k = 0;
        while (k < q->n_unread && (q->unread[k].partition != out[i].partition ||
                                   strcmp(q->unread[k].topic, out[i].topic) != 0))
            k++;
        if (k == q->n_unread && k < VG_KAFKA_RESETS_MAX)
            q->unread[q->n_unread++] = out[i];
    }
    return n;
}

int vg_kafka_resets_read(struct vg_kafka_resets *q, const char *topic, int32_t partition,
                         int64_t offset, int64_t *at)
{
    if (!q->n_unread || !topic || partition < 0 || offset < 0)
        return 0;
    for (size_t k = 0; k < q->n_unread; k++) {
        if (q->unread[k].partition != partition || strcmp(q->unread[k].topic, topic) != 0)
            continue;
        *at = q->unread[k].at;
        q->unread[k] = q->unread[--q->n_unread];
        return 1;
    }
    return 0;
}

static atomic_int g_destroys_abandoned;

int vg_kafka_destroys_abandoned(void)
{
    return atomic_load(&g_destroys_abandoned);
}

struct destroy_job {
    rd_kafka_t *rk;
    int flags;
    atomic_int done;
};

static void *destroy_main(void *arg)
{
    struct destroy_job *j = arg;
    rd_kafka_destroy_flags(j->rk, j->flags);
    atomic_store(&j->done, 1);
    return NULL;
}

int vg_kafka_destroy_by(rd_kafka_t *rk, int flags, int64_t by)
{
    struct destroy_job *j = calloc(1, sizeof(*j));
    pthread_t t;
    if (j) {
        j->rk = rk;
        j->flags = flags;
    }
    if (!j || pthread_create(&t, NULL, destroy_main, j) != 0) {
        free(j);
        rd_kafka_destroy_flags(rk, flags);
        return -EAGAIN;
    }
    while (!atomic_load(&j->done) && vg_mono_ms() < by)
        vg_sleep_ms(10, NULL);
    if (!atomic_load(&j->done)) {
        pthread_detach(t); /* j stays with it: it writes done when (if) it ends */
        atomic_fetch_add(&g_destroys_abandoned, 1);
        return -ETIMEDOUT;
    }
    pthread_join(t, NULL);
    free(j);
    return 0;
}
