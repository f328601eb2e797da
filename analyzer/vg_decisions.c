#include "vg_decisions.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "vg_decision_record.h"
#include "vg_action.h"
#include "vg_format.h"
#include "vg_hmac.h"
#include "vg_httpsec.h"
#include "vg_kafka.h"
#include "vg_kafka_read.h"
#include "vg_log.h"
#include "vg_partials.h"
#include "vg_rule_policy.h"
#include "vg_scale.h"
#include "vg_strmap.h"
#include "vg_util.h"

#define WEBHOOK_QUEUE_MAX 1000
#define WEBHOOK_ATTEMPTS  3
/* The longest Retry-After the webhook waits for, as webhook.backoff_max's default caps it for the
 * alert receivers: one receiver must not hold every later decision for hours. */
#define WEBHOOK_RETRY_AFTER_MAX_MS 30000
/* A partial older than this many of its target's intervals is left out of the merge: its member
 * stopped or lost its partitions and publishes nothing newer. */
#define PARTIAL_MAX_AGE_INTERVALS 3
/* While the metrics topic's partition count is unknown (its lookup failed at the assignment),
 * owns() is false for every target and nothing is decided: it is looked up again from the tick
 * this often, each lookup waiting this long at most (under the analyzer's lock). */
#define COUNT_RETRY_MS   10000
#define COUNT_TIMEOUT_MS 500
/* Records of the exchange read per tick at most: the consumer loop must not stall on a backlog. */
#define FOLLOW_BATCH 1000
/* The delivery report's opaque of a partial, to count it apart from decisions. */
#define PARTIAL_OPAQUE ((void *)1)
/* A retry of the exchange runs in vg_decisions_tick, under the analyzer's lock: an unreachable
 * broker must not stall the consumer loop and the API for the whole restore_timeout each time. */
#define REJOIN_TIMEOUT_MS 1000
#define REJOIN_INITIAL_MS 30000
#define REJOIN_MAX_MS     300000
/* "scaling count and reporting hosts differ" repeats this often while it lasts. */
#define DIVERGED_LOG_MS 600000
/* At the stop (vg_decisions_free): the producer's flush, then each destroy, waited for at most
 * (6 s in all). */
#define FLUSH_MS   2000
#define DESTROY_MS 2000

struct target {
    char *name;
    const struct vg_rule_policy *p;
    struct vg_scale_state *st;
    int evaluated;
    int64_t last_eval_ms;
    struct vg_scale_decision last;
    int changed;
    int restored; /* its count came from the decisions topic at start */
    size_t hosts; /* selected hosts with data at the last evaluation */
    int measured;
    int64_t last_measure_ms;        /* paces measuring (and partials) at the interval */
    int followed;                   /* `last` is another analyzer's decision */
    int fleet;                      /* `last` was made over every analyzer's partials */
    char by[VG_PARTIAL_MEMBER_MAX]; /* who made `last` */
    /* note_divergence: whether the count and the reporting hosts differ, since when, whether
     * that was logged and when last (event time). */
    int diverging;
    int64_t diverged_since_ms;
    int diverged_logged;
    int64_t diverged_log_ms;
};

struct vg_decisions {
    struct target *t;
    size_t n;
    rd_kafka_t *rk;
    char *topic;
    char *bootstrap;               /* for the read-back at start */
    const struct vg_kvlist *kafka; /* borrowed: the analyzer's kafka: map */
    /* The fleet-wide exchange (vg_decisions_join): `fleet` once joined. */
    char member[VG_PARTIAL_MEMBER_MAX];
    char *partials_topic;
    rd_kafka_t *follow; /* reads the partials and decisions topics */
    int join_tried, fleet;
    /* The partials topic was seen on the cluster (or created): only then are partials published,
     * since a publish to a missing topic has the cluster auto-create it with its defaults. */
    int partials_seen;
    /* Retries of a failed join, while local-only (not when the exchange is off on purpose). */
    int rejoining;
    int64_t rejoin_initial_ms, rejoin_max_ms;
    int64_t rejoin_delay_ms; /* the wait before the next retry, doubling up to rejoin_max_ms */
    int64_t rejoin_at;       /* mono ms of the next retry */
    uint64_t rejoin_tries;   /* retries since the exchange failed */
    struct vg_partials *partials;
    int32_t *owned; /* metrics-topic partitions owned now, ascending */
    size_t n_owned;
    int metrics_parts; /* the metrics topic's partition count; 0 unknown */
    char *metrics_topic;
    int64_t count_retry_at;    /* mono ms of the next lookup of an unknown metrics_parts */
    int count_warned;          /* its first failure is logged, once until it is known again */
    int64_t latest_partial_ms; /* newest event time among the partials received */
    uint64_t follow_errors;    /* consume errors of the reader, for rate-limited logs */
    uint64_t create_refused;   /* the partials topic could not be created: logged once */
    struct vg_decisions_stats st;
    pthread_mutex_t stat_lock; /* st.published/publish_errors come from librdkafka's callback,
                                  webhook counters from the webhook thread */
    /* Webhook: a queue of JSON bodies and one thread posting them. */
    char *url;
    char *shown_url; /* url as logs show it (vg_url_redact): its query often holds a token */
    char *ca_file;   /* actions.tls_ca_file */
    char *key;       /* decisions.webhook_secret_file's HMAC key; NULL: not signed */
    size_t key_len;
    int64_t timeout_ms;
    pthread_t thr;
    int thr_started;
    pthread_mutex_t q_lock;
    pthread_cond_t q_cond;
    struct queued {
        char *body;
        char *target;
    } queue[WEBHOOK_QUEUE_MAX];
    size_t q_head, q_n;
    int stop;
    int64_t drain_ms;       /* at stop, how long the queue may still be posted */
    int64_t stop_by;        /* mono ms past which nothing more is posted once stopping */
    uint64_t queue_refused; /* decisions the full queue refused (also in webhook_errors) */
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct vg_decisions *d = opaque;
    (void)rk;
    int partial = m->_private == PARTIAL_OPAQUE;
    pthread_mutex_lock(&d->stat_lock);
    uint64_t *ok = partial ? &d->st.partials_published : &d->st.published;
    uint64_t *bad = partial ? &d->st.partials_errors : &d->st.publish_errors;
    if (m->err)
        (*bad)++;
    else
        (*ok)++;
    uint64_t errs = *bad;
    pthread_mutex_unlock(&d->stat_lock);
    char q[VG_ERRLEN + 8];
    if (m->err && errs % 100 == 1)
        vg_warn(partial ? "scaling partial not published: the decider counts this analyzer's hosts "
                          "out until one is"
                        : "scaling decision not published",
                "errors=%llu reason=%s", (unsigned long long)errs,
                vg_log_quote(q, sizeof q, rd_kafka_err2str(m->err)));
}

static size_t discard(char *p, size_t s, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return s * n;
}

/* How one post ended, for the log line of a decision not posted. */
struct post_result {
    CURLcode cc;
    long status;
    curl_off_t retry_after; /* seconds, from a Retry-After of the answer; 0: none */
    int cut; /* aborted by the drain's deadline (vg_decisions_stop), not by the receiver */
    char curl_err[CURL_ERROR_SIZE];
};

/* Stopping, and `in_ms` from now is past the drain's deadline. vg_decisions_stop sets the two
 * from another thread: read under the lock. */
static int past_stop(struct vg_decisions *d, int64_t in_ms)
{
    pthread_mutex_lock(&d->q_lock);
    int past = d->stop && vg_mono_ms() + in_ms > d->stop_by;
    pthread_mutex_unlock(&d->q_lock);
    return past;
}

struct post_progress {
    struct vg_decisions *d;
    struct post_result *r;
};

/* libcurl's progress callback, called during the post (about once a second while the receiver
 * says nothing): a post's timeout is set when it starts, so one in flight when
 * vg_decisions_stop comes would otherwise run for the whole webhook timeout past drain_timeout,
 * and vg_decisions_free, which joins this thread, with it. Non-zero aborts the transfer. */
static int post_progress_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                            curl_off_t ulnow)
{
    struct post_progress *pp = ud;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    if (!past_stop(pp->d, 0))
        return 0;
    pp->r->cut = 1;
    return 1;
}

/* The headers the alert webhook signs with (vg_format.c): the receiver that applies decisions to
 * the cluster can then refuse one it did not get from Vigil, or one captured and replayed later.
 * Each attempt is signed when it is made, so a retry carries its own time. */
static int sign(const struct vg_decisions *d, const char *body, struct curl_slist **h)
{
    char sig[VG_HMAC_SIG_LEN + 1], ts[24], line[VG_HMAC_SIG_LEN + 32];
    snprintf(ts, sizeof(ts), "%lld", (long long)(vg_now_ms() / 1000));
    int rc = vg_hmac_sign(d->key, d->key_len, ts, body, strlen(body), sig);
    if (rc < 0)
        return rc;
    struct curl_slist *n;
    snprintf(line, sizeof(line), "X-Vigil-Timestamp: %s", ts);
    if (!(n = curl_slist_append(*h, line)))
        return -ENOMEM;
    *h = n;
    snprintf(line, sizeof(line), "X-Vigil-Signature: %s", sig);
    if (!(n = curl_slist_append(*h, line)))
        return -ENOMEM;
    *h = n;
    return 0;
}

/* 0: posted (2xx). -EAGAIN: worth another attempt, as the alert receivers retry (docs/alerts.md):
 * a transport error, 408, 429 or 5xx. -EIO: any other answer (a 401 or 400 will not get better).
 * -EINVAL: the TLS settings could not be applied. */
static int post(struct vg_decisions *d, CURL *c, const char *body, struct post_result *r)
{
    *r = (struct post_result){.cc = CURLE_OK};
    struct post_progress pp = {.d = d, .r = r};
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (h && d->key && sign(d, body, &h) < 0) {
        curl_slist_free_all(h);
        snprintf(r->curl_err, sizeof(r->curl_err), "HMAC-SHA256 signing failed");
        r->cc = CURLE_OUT_OF_MEMORY;
        return -EAGAIN;
    }
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, d->url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    /* Stopping, a post may not outlast drain_timeout either: it is the whole drain's. */
    int64_t timeout = d->timeout_ms;
    pthread_mutex_lock(&d->q_lock);
    if (d->stop) {
        int64_t left = d->stop_by - vg_mono_ms();
        if (left < timeout)
            timeout = left > 1 ? left : 1;
    }
    pthread_mutex_unlock(&d->q_lock);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "vigil/" VIGIL_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->curl_err);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, post_progress_cb);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &pp);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    if (vg_http_protocols_apply(c, r->curl_err, sizeof(r->curl_err)) < 0) {
        curl_slist_free_all(h);
        r->cc = CURLE_UNSUPPORTED_PROTOCOL;
        return -ENOTSUP;
    }
    if (vg_http_tls_apply(c, d->ca_file) < 0) {
        curl_slist_free_all(h);
        snprintf(r->curl_err, sizeof(r->curl_err), "TLS settings (actions.tls_ca_file) refused");
        r->cc = CURLE_SSL_CACERT_BADFILE;
        return -EINVAL;
    }
    r->cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &r->retry_after);
    curl_slist_free_all(h);
    /* The buffer and pp belong to this call: the handle must not use them after we return. */
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 1L);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, NULL);
    if (r->cc != CURLE_OK)
        return -EAGAIN;
    if (r->status >= 200 && r->status < 300)
        return 0;
    if (r->status == 408 || r->status == 429 || (r->status >= 500 && r->status < 600))
        return -EAGAIN;
    return -EIO;
}

/* Logs a decision the webhook did not take: target, url (redacted), the last answer or transport
 * error, and the attempts made. */
static void log_not_posted(const struct vg_decisions *d, const char *target, int rc,
                           const struct post_result *r, int attempts)
{
    char qu[512], qe[2 * CURL_ERROR_SIZE + 3], what[2 * CURL_ERROR_SIZE + 64];
    if (r->cut) {
        vg_warn("scaling decision webhook post cut short at the drain deadline, decision not "
                "posted",
                "target=%s url=%s attempts=%d", target, vg_log_quote(qu, sizeof(qu), d->shown_url),
                attempts);
        return;
    }
    if (r->cc != CURLE_OK) {
        snprintf(
            what, sizeof(what), "curl_code=%d error=%s", (int)r->cc,
            vg_log_quote(qe, sizeof(qe), r->curl_err[0] ? r->curl_err : curl_easy_strerror(r->cc)));
    } else {
        snprintf(what, sizeof(what), "status=%ld", r->status);
    }
    vg_warn(rc == -EAGAIN ? "scaling decision webhook failed, decision not posted"
            : rc == -EIO  ? "scaling decision webhook refused the decision, not retried"
                          : "scaling decision webhook TLS setup failed, decision not posted",
            "target=%s url=%s %s attempts=%d", target, vg_log_quote(qu, sizeof(qu), d->shown_url),
            what, attempts);
}

static void *webhook_main(void *arg)
{
    struct vg_decisions *d = arg;
    CURL *c = curl_easy_init();
    pthread_mutex_lock(&d->q_lock);
    for (;;) {
        while (!d->q_n && !d->stop)
            pthread_cond_wait(&d->q_cond, &d->q_lock);
        if (!d->q_n)
            break;
        struct queued q = d->queue[d->q_head];
        d->q_head = (d->q_head + 1) % WEBHOOK_QUEUE_MAX;
        d->q_n--;
        pthread_mutex_unlock(&d->q_lock);
        int rc = -EAGAIN, a = 0;
        struct post_result r = {.cc = CURLE_FAILED_INIT};
        if (!c)
            snprintf(r.curl_err, sizeof(r.curl_err), "no curl handle (out of memory)");
        for (; c && a < WEBHOOK_ATTEMPTS && rc == -EAGAIN; a++) {
            if (a) {
                /* A 429 or 503 may say when to come back, as at the alert receivers. */
                int64_t wait = 200 << a;
                if ((r.status == 429 || r.status == 503) && r.retry_after > 0)
                    wait = r.retry_after < WEBHOOK_RETRY_AFTER_MAX_MS / 1000
                               ? (int64_t)r.retry_after * 1000
                               : WEBHOOK_RETRY_AFTER_MAX_MS;
                /* In slices, so that a stop coming during a long wait does not sit it out. */
                int64_t until = vg_mono_ms() + wait, left;
                int stopping = 0;
                while (!stopping && (left = until - vg_mono_ms()) > 0) {
                    stopping = past_stop(d, left);
                    if (!stopping)
                        vg_sleep_ms(left < 100 ? left : 100, NULL);
                }
                if (stopping)
                    break; /* stopping: no retry past drain_timeout */
            }
            rc = post(d, c, q.body, &r);
        }
        pthread_mutex_lock(&d->stat_lock);
        if (rc == 0)
            d->st.webhook_sent++;
        else
            d->st.webhook_errors++;
        pthread_mutex_unlock(&d->stat_lock);
        if (rc != 0)
            log_not_posted(d, q.target, rc, &r, a);
        free(q.body);
        free(q.target);
        pthread_mutex_lock(&d->q_lock);
        if (d->stop && vg_mono_ms() >= d->stop_by)
            break; /* drain_timeout spent: vg_decisions_free counts what is left */
    }
    pthread_mutex_unlock(&d->q_lock);
    curl_easy_cleanup(c);
    return NULL;
}

int vg_decisions_new(struct vg_decisions **out, const struct vg_decisions_cfg *cfg, char *err,
                     size_t errlen)
{
    struct vg_decisions *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    pthread_mutex_init(&d->stat_lock, NULL);
    pthread_mutex_init(&d->q_lock, NULL);
    pthread_cond_init(&d->q_cond, NULL);
    d->timeout_ms = cfg->webhook_timeout_ms > 0 ? cfg->webhook_timeout_ms : 5000;
    d->rejoin_initial_ms = cfg->rejoin_initial_ms > 0 ? cfg->rejoin_initial_ms : REJOIN_INITIAL_MS;
    d->rejoin_max_ms = cfg->rejoin_max_ms > 0 ? cfg->rejoin_max_ms : REJOIN_MAX_MS;
    if (d->rejoin_max_ms < d->rejoin_initial_ms)
        d->rejoin_max_ms = d->rejoin_initial_ms;
    char host[64] = "analyzer";
    gethostname(host, sizeof(host));
    host[sizeof(host) - 1] = '\0';
    snprintf(d->member, sizeof(d->member), "%s-%d-%llx", host, (int)getpid(),
             (unsigned long long)vg_now_ms());
    if (vg_partials_new(&d->partials) < 0) {
        vg_decisions_free(d);
        return -ENOMEM;
    }
    if ((cfg->partials_topic && *cfg->partials_topic &&
         !(d->partials_topic = strdup(cfg->partials_topic))) ||
        (cfg->metrics_topic && !(d->metrics_topic = strdup(cfg->metrics_topic)))) {
        vg_decisions_free(d);
        return -ENOMEM;
    }
    if (cfg->topic && *cfg->topic && cfg->bootstrap) {
        const struct vg_kafka_prop defaults[] = {
            {"client.id", "vigil-analyzer-decisions"},
            {"bootstrap.servers", cfg->bootstrap},
            {"linger.ms", "5"},
            {NULL, NULL},
        };
        rd_kafka_conf_t *conf;
        int rc = vg_kafka_conf_new(&conf, defaults, cfg->kafka, err, errlen);
        if (rc) {
            vg_decisions_free(d);
            return rc;
        }
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
        rd_kafka_conf_set_opaque(conf, d);
        char rkerr[256];
        d->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rkerr, sizeof(rkerr));
        if (!d->rk) {
            rd_kafka_conf_destroy(conf);
            vg_decisions_free(d);
            return vg_err(err, errlen, -EINVAL, "decisions producer: %s", rkerr);
        }
        d->kafka = cfg->kafka;
        if (!(d->topic = strdup(cfg->topic)) || !(d->bootstrap = strdup(cfg->bootstrap))) {
            vg_decisions_free(d);
            return -ENOMEM;
        }
    }
    if (cfg->webhook_url && *cfg->webhook_url) {
        const char *u = cfg->webhook_url;
        /* In any case, as --check-config (vg_url_policy_check) and the alert receivers take it:
         * a url the check passed must not fail the start. */
        if (strncasecmp(u, "http://", 7) != 0 && strncasecmp(u, "https://", 8) != 0) {
            vg_decisions_free(d);
            /* Only the scheme is echoed: the rest of a webhook url is often a secret. */
            const char *colon = strstr(u, "://");
            int n = colon && colon - u <= 16 ? (int)(colon - u) : 0;
            return vg_err(err, errlen, -EINVAL,
                          "decisions.webhook_url: must start with http:// or https:// (got "
                          "%.*s%s)",
                          n, u, n ? "://" : "no scheme");
        }
        d->drain_ms = cfg->drain_ms;
        size_t sn = strlen(u) + 16; /* ":port", "?..." or "/..." may add to it */
        if (!(d->url = strdup(u)) || !(d->shown_url = malloc(sn)) ||
            (cfg->tls_ca_file && !(d->ca_file = strdup(cfg->tls_ca_file)))) {
            vg_decisions_free(d);
            return -ENOMEM;
        }
        if (vg_url_redact(u, cfg->webhook_url_hide_path, d->shown_url, sn) < 0) {
            vg_decisions_free(d);
            return vg_err(err, errlen, -EINVAL, "decisions.webhook_url: no host after the scheme");
        }
        if (cfg->webhook_secret_file && *cfg->webhook_secret_file) {
            int rc =
                vg_action_read_secret(cfg->webhook_secret_file, "decisions.webhook_secret_file",
                                      &d->key, &d->key_len, err, errlen);
            if (rc < 0) {
                vg_decisions_free(d);
                return rc;
            }
        }
        /* At the start, not at the first post: a libcurl that cannot restrict the protocols is
         * refused before any decision is made. */
        char perr[256];
        int prc = vg_http_protocols_probe(perr, sizeof perr);
        if (prc < 0) {
            vg_err(err, errlen, prc, "decisions.webhook_url: %s", perr);
            vg_decisions_free(d);
            return prc;
        }
        if (pthread_create(&d->thr, NULL, webhook_main, d) != 0) {
            vg_decisions_free(d);
            return -ENOMEM;
        }
        d->thr_started = 1;
    }
    *out = d;
    return 0;
}

static void free_targets(struct target *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(t[i].name);
        free(t[i].st);
    }
    free(t);
}

void vg_decisions_stop(struct vg_decisions *d, int64_t deadline_ms)
{
    if (!d || !d->thr_started)
        return;
    pthread_mutex_lock(&d->q_lock);
    if (!d->stop) {
        d->stop_by = deadline_ms;
        d->stop = 1;
        pthread_cond_signal(&d->q_cond);
    }
    pthread_mutex_unlock(&d->q_lock);
}

void vg_decisions_free(struct vg_decisions *d)
{
    if (!d)
        return;
    if (d->thr_started) {
        vg_decisions_stop(d, vg_mono_ms() + d->drain_ms); /* unless stopped already */
        pthread_join(d->thr, NULL);
    }
    if (d->q_n) {
        char qu[512];
        vg_warn("scaling decisions not posted at stop (drain_timeout spent)", "count=%zu url=%s",
                d->q_n, vg_log_quote(qu, sizeof(qu), d->shown_url ? d->shown_url : ""));
    }
    for (size_t i = 0; i < d->q_n; i++) {
        free(d->queue[(d->q_head + i) % WEBHOOK_QUEUE_MAX].body);
        free(d->queue[(d->q_head + i) % WEBHOOK_QUEUE_MAX].target);
    }
    /* Each destroy bounded (librdkafka 2.0.2's may never return with the broker gone, issue
     * 3470), as the rest of the stop: the reader without a close, which only waited for the
     * coordinator, as it never joined its group (assign only) and commits nothing. A producer
     * left to its threads keeps d, which its delivery callback is given. */
    if (d->follow && vg_kafka_destroy_by(d->follow, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE,
                                         vg_mono_ms() + DESTROY_MS) == -ETIMEDOUT)
        vg_warn("scaling exchange reader did not close in time: abandoned", NULL);
    d->follow = NULL;
    if (d->rk) {
        rd_kafka_flush(d->rk, FLUSH_MS);
        if (vg_kafka_destroy_by(d->rk, 0, vg_mono_ms() + DESTROY_MS) == -ETIMEDOUT) {
            vg_warn("scaling producer did not close in time: abandoned", NULL);
            return;
        }
    }
    free_targets(d->t, d->n);
    vg_partials_free(d->partials);
    free(d->owned);
    free(d->partials_topic);
    free(d->metrics_topic);
    free(d->topic);
    free(d->bootstrap);
    if (d->url) /* it may be a credential (read from decisions.webhook_url_file) */
        explicit_bzero(d->url, strlen(d->url));
    free(d->url);
    free(d->shown_url);
    free(d->ca_file);
    vg_action_secret_free(d->key, d->key_len);
    pthread_mutex_destroy(&d->stat_lock);
    pthread_mutex_destroy(&d->q_lock);
    pthread_cond_destroy(&d->q_cond);
    free(d);
}

static size_t find_target(const struct vg_decisions *d, const char *name)
{
    size_t k;
    for (k = 0; k < d->n; k++)
        if (strcmp(d->t[k].name, name) == 0)
            break;
    return k;
}

struct vg_decisions_plan {
    struct target *t;
    size_t n;
};

int vg_decisions_prepare(const struct vg_decisions *d, const struct vg_rule_set *set,
                         struct vg_decisions_plan **out)
{
    struct vg_decisions_plan *plan = calloc(1, sizeof(*plan));
    size_t n = set ? vg_rule_set_policy_count(set) : 0;
    struct target *t = n ? calloc(n, sizeof(*t)) : NULL;
    if (!plan || (n && !t)) {
        free(plan);
        free(t);
        return -ENOMEM;
    }
    /* The rule set's loader has refused two policies for one target. */
    for (size_t i = 0; i < n; i++) {
        const struct vg_rule_policy *p = vg_rule_set_policy(set, i);
        t[i].p = p;
        if (!(t[i].name = strdup(vg_rule_policy_target(p)))) {
            free_targets(t, n);
            free(plan);
            return -ENOMEM;
        }
        if (find_target(d, t[i].name) < d->n)
            continue; /* takes over the running target's state at the commit */
        if (!(t[i].st = malloc(sizeof(*t[i].st)))) {
            free_targets(t, n);
            free(plan);
            return -ENOMEM;
        }
        vg_scale_init(t[i].st, vg_rule_policy_params(p), vg_rule_policy_initial(p));
    }
    plan->t = t;
    plan->n = n;
    *out = plan;
    return 0;
}

void vg_decisions_commit(struct vg_decisions *d, struct vg_decisions_plan *plan)
{
    struct target *t = plan->t;
    for (size_t i = 0; i < plan->n; i++) {
        size_t k = find_target(d, t[i].name);
        if (t[i].st || k == d->n)
            continue;
        /* Same target: keep what it learnt, with the new limits applied at the next step. */
        t[i].st = d->t[k].st;
        d->t[k].st = NULL;
        t[i].evaluated = d->t[k].evaluated;
        t[i].last_eval_ms = d->t[k].last_eval_ms;
        t[i].last = d->t[k].last;
        t[i].changed = d->t[k].changed;
        t[i].restored = d->t[k].restored;
        t[i].hosts = d->t[k].hosts;
        t[i].measured = d->t[k].measured;
        t[i].last_measure_ms = d->t[k].last_measure_ms;
        t[i].followed = d->t[k].followed;
        t[i].fleet = d->t[k].fleet;
        memcpy(t[i].by, d->t[k].by, sizeof(t[i].by));
        t[i].diverging = d->t[k].diverging;
        t[i].diverged_since_ms = d->t[k].diverged_since_ms;
        t[i].diverged_logged = d->t[k].diverged_logged;
        t[i].diverged_log_ms = d->t[k].diverged_log_ms;
    }
    free_targets(d->t, d->n);
    d->t = t;
    d->n = plan->n;
    free(plan);
}

void vg_decisions_plan_free(struct vg_decisions_plan *plan)
{
    if (!plan)
        return;
    free_targets(plan->t, plan->n);
    free(plan);
}

int vg_decisions_set_policies(struct vg_decisions *d, const struct vg_rule_set *set)
{
    struct vg_decisions_plan *plan;
    int rc = vg_decisions_prepare(d, set, &plan);
    if (rc == 0)
        vg_decisions_commit(d, plan);
    return rc;
}

struct agg {
    const struct vg_rule_policy *p;
    const int32_t *owned; /* the partitions owned now (NULL: none) */
    size_t n_owned;
    int only_owned; /* fleet-wide: the hosts of owned partitions only, not every host */
    /* The hosts of owned partitions only: the partial, also published while local-only. */
    struct vg_partial_agg mine;
    double sum;
    size_t n_values, n_true, n_false;
    /* Selected hosts with an alert firing that holds the scale-in (of hold_scale_in_severity or
     * above, and no active silence matching it): no scale-in meanwhile. */
    size_t n_alerting;
};

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int has_part(const int32_t *ids, size_t n, int32_t p)
{
    return n && bsearch(&p, ids, n, sizeof(*ids), cmp_i32) != NULL;
}

static void measure(void *ud, const char *host, const struct vg_label *labels, size_t n_labels,
                    const struct vg_expr_env *env, int alerting, int32_t partition)
{
    struct agg *a = ud;
    /* A host of a partition this analyzer no longer owns (kept until the next assignment says
     * whether it stays) is its new owner's to count. */
    int mine = has_part(a->owned, a->n_owned, partition);
    if (a->only_owned && !mine)
        return;
    if (!vg_rule_policy_matches_host(a->p, host, labels, n_labels))
        return;
    /* Only an alert of the policy's hold_scale_in_severity or above holds its scale-in. */
    int holds = alerting > vg_rule_policy_hold_severity(a->p);
    a->n_alerting += holds;
    double v;
    int cond;
    if (vg_rule_policy_eval(a->p, env, &v, &cond) < 0)
        return;
    if (isfinite(v)) {
        a->sum += v;
        a->n_values++;
    }
    if (cond > 0)
        a->n_true++;
    else if (cond == 0)
        a->n_false++;
    if (!mine)
        return;
    a->mine.n_alerting += holds;
    if (isfinite(v)) {
        a->mine.sum += v;
        a->mine.n_values++;
    }
    a->mine.n_true += cond > 0;
    a->mine.n_false += cond == 0;
}

static json_t *decision_json(const struct target *t)
{
    const struct vg_scale_params *p = vg_rule_policy_params(t->p);
    const struct vg_scale_decision *x = &t->last;
    json_t *o = json_object();
    json_object_set_new(o, "target", json_string(t->name));
    json_object_set_new(o, "desired", json_integer(t->evaluated ? x->desired : t->st->current));
    json_object_set_new(o, "current", json_integer(t->evaluated ? x->current : t->st->current));
    json_object_set_new(o, "min", json_integer(p->min));
    json_object_set_new(o, "max", json_integer(p->max));
    json_object_set_new(o, "metric", t->evaluated ? vg_fmt_num(x->metric) : json_null());
    json_object_set_new(o, "hosts", json_integer((json_int_t)t->hosts));
    json_object_set_new(o, "changed", json_boolean(t->evaluated && t->changed));
    json_object_set_new(o, "reason",
                        json_string(t->evaluated  ? x->reason
                                    : t->restored ? "restored from the decisions topic: not "
                                                    "evaluated yet"
                                                  : "not evaluated yet: no data"));
    json_object_set_new(o, "time", t->evaluated ? vg_fmt_time(x->time_ms) : json_null());
    json_object_set_new(o, "time_ms", t->evaluated ? json_integer(x->time_ms) : json_null());
    /* What a restarted analyzer reads back to keep the cooldown (vg_decisions_restore). */
    json_object_set_new(o, "changed_at_ms",
                        t->st->last_change_ms == INT64_MIN ? json_null()
                                                           : json_integer(t->st->last_change_ms));
    /* What an analyzer following the decision needs to continue it as its decider would. */
    json_object_set_new(o, "recommended",
                        t->evaluated ? json_integer(x->recommended) : json_null());
    json_object_set_new(o, "decided_by",
                        t->evaluated && t->by[0] ? json_string(t->by) : json_null());
    json_object_set_new(o, "fleet", json_boolean(t->fleet));
    return o;
}

static void publish(struct vg_decisions *d, const struct target *t)
{
    if (!d->rk && !d->url)
        return;
    json_t *o = decision_json(t);
    char *body = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(o);
    if (!body)
        return;
    if (d->rk) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            d->rk, RD_KAFKA_V_TOPIC(d->topic), RD_KAFKA_V_KEY(t->name, strlen(t->name)),
            RD_KAFKA_V_VALUE(body, strlen(body)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_END);
        if (e) {
            pthread_mutex_lock(&d->stat_lock);
            uint64_t errs = ++d->st.publish_errors;
            pthread_mutex_unlock(&d->stat_lock);
            char q[VG_ERRLEN + 8];
            if (errs % 100 == 1)
                vg_warn("scaling decision not published", "target=%s errors=%llu reason=%s",
                        t->name, (unsigned long long)errs,
                        vg_log_quote(q, sizeof q, rd_kafka_err2str(e)));
        }
    }
    if (d->url && t->changed) {
        pthread_mutex_lock(&d->q_lock);
        char *target = strdup(t->name);
        if (target && d->q_n < WEBHOOK_QUEUE_MAX) {
            d->queue[(d->q_head + d->q_n) % WEBHOOK_QUEUE_MAX] = (struct queued){body, target};
            d->q_n++;
            body = NULL;
            target = NULL;
            pthread_cond_signal(&d->q_cond);
        }
        pthread_mutex_unlock(&d->q_lock);
        if (body && !target) {
            pthread_mutex_lock(&d->stat_lock);
            d->st.webhook_errors++;
            pthread_mutex_unlock(&d->stat_lock);
            vg_warn("scaling decision webhook: out of memory, decision not posted", "target=%s",
                    t->name);
        } else if (body) {
            free(target);
            pthread_mutex_lock(&d->stat_lock);
            d->st.webhook_errors++;
            pthread_mutex_unlock(&d->stat_lock);
            if (d->queue_refused++ % 100 == 0)
                vg_warn("scaling decision webhook queue full: decision not posted",
                        "target=%s refused=%llu queue_max=%d", t->name,
                        (unsigned long long)d->queue_refused, WEBHOOK_QUEUE_MAX);
        }
    }
    free(body);
}

/* A target's latest decision read back from one partition of the decisions topic (records of
 * other partitions are chained on `next`). */
struct saved {
    int desired;
    int64_t time_ms, changed_ms;
    int32_t partition;
    int64_t offset;
    struct saved *next;
};

static void publish_partial(struct vg_decisions *d, const struct target *t,
                            const struct vg_partial *own)
{
    char *body = vg_partial_json(t->name, own);
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__FAIL;
    if (body)
        e = rd_kafka_producev(
            d->rk, RD_KAFKA_V_TOPIC(d->partials_topic), RD_KAFKA_V_KEY(t->name, strlen(t->name)),
            RD_KAFKA_V_VALUE(body, strlen(body)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE(PARTIAL_OPAQUE), RD_KAFKA_V_END);
    free(body);
    if (!e)
        return;
    pthread_mutex_lock(&d->stat_lock);
    uint64_t errs = ++d->st.partials_errors;
    pthread_mutex_unlock(&d->stat_lock);
    char q[VG_ERRLEN + 8];
    if (errs % 100 == 1)
        vg_warn("scaling partial not published: the decider counts this analyzer's hosts out "
                "until one is",
                "target=%s errors=%llu reason=%s", t->name, (unsigned long long)errs,
                vg_log_quote(q, sizeof q, rd_kafka_err2str(e)));
}

static int owns(const struct vg_decisions *d, const char *target)
{
    int32_t p = vg_decisions_decider_partition(target, d->metrics_parts);
    return p >= 0 && has_part(d->owned, d->n_owned, p);
}

static void refused(uint64_t *count, const char *what, const rd_kafka_message_t *m, const char *why)
{
    char qwhy[VG_ERRLEN + 8];
    /* The first ten, then one in a thousand: someone else's records on the topic, or a broken
     * producer, must not flood the log. */
    uint64_t n = ++*count;
    if (n <= 10 || n % 1000 == 0)
        vg_warn(what, "topic=%s topic_partition=%d offset=%lld refused=%llu reason=%s",
                rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset,
                (unsigned long long)n, vg_log_quote(qwhy, sizeof(qwhy), why));
}

/* Caps another analyzer's time at the local wall clock (vg_time_cap), counting and logging
 * (rate-limited) the capped ones. */
static void cap_time(struct vg_decisions *d, int64_t *t, const char *what)
{
    int64_t was = *t;
    if (*t == INT64_MIN || !vg_time_cap(t, vg_now_ms()))
        return;
    pthread_mutex_lock(&d->stat_lock);
    uint64_t n = ++d->st.times_capped;
    pthread_mutex_unlock(&d->stat_lock);
    if (n <= 10 || n % 1000 == 0)
        vg_warn("scaling: another analyzer's time is ahead of the wall clock: capped (its clock "
                "is fast)",
                "what=\"%s\" ahead_ms=%lld capped=%llu", what,
                (long long)(was - *t + VG_CLOCK_TOLERANCE_MS), (unsigned long long)n);
}

/* Event time behind the target's last change: the cooldown held (vg_scale_step_why). Counted,
 * and logged the first ten times, then one in a thousand: a replay after a restart gives one per
 * evaluation until it catches up, agents' clocks behind the previous decider's as many. */
static void note_behind(struct vg_decisions *d, const struct target *t)
{
    uint64_t n = ++d->st.clock_behind;
    if (n <= 10 || n % 1000 == 0)
        vg_warn("scaling: event time behind the target's last change: held by the cooldown "
                "(a replay, or clocks behind the previous decider's)",
                "target=%s behind_ms=%lld clock_behind=%llu", t->name, (long long)t->last.behind_ms,
                (unsigned long long)n);
}

static void on_partial(struct vg_decisions *d, const rd_kafka_message_t *m)
{
    char target[256], why[VG_ERRLEN];
    struct vg_partial p;
    int rc = vg_partial_parse(m->key, m->key_len, m->payload, m->len, target, sizeof(target), &p,
                              why, sizeof(why));
    if (rc == -ENOMEM)
        return;
    if (rc < 0) {
        refused(&d->st.partials_refused, "scaling partial refused", m, why);
        return;
    }
    /* Our own, read back: the merge uses the measurement itself. A target of another rule set
     * (a reload not rolled out everywhere yet) is not ours to decide. */
    if (strcmp(p.member, d->member) == 0 || find_target(d, target) == d->n) {
        vg_partial_clear(&p);
        return;
    }
    cap_time(d, &p.time_ms, "partial");
    /* Partitions beyond the metrics topic's (while known) would count as measured ones. */
    if (!vg_partial_keep_below(&p, d->metrics_parts)) {
        refused(&d->st.partials_refused, "scaling partial refused", m,
                "no partition of the metrics topic");
        vg_partial_clear(&p);
        return;
    }
    if (p.time_ms > d->latest_partial_ms)
        d->latest_partial_ms = p.time_ms;
    if (vg_partials_put(d->partials, target, &p) == 0)
        d->st.partials_received++;
}

/* A decision record of another analyzer: served from now on, and continued from should this
 * analyzer become the target's decider. */
static void on_decision(struct vg_decisions *d, const rd_kafka_message_t *m)
{
    char why[VG_ERRLEN];
    struct vg_decision_record r;
    if (vg_decision_record_parse(m->key, m->key_len, m->payload, m->len, &r, why, sizeof(why)) <
        0) {
        refused(&d->st.follow_refused, "scaling decision record refused", m, why);
        return;
    }
    const char *by = r.decided_by;
    size_t k = find_target(d, r.target);
    if (!r.fleet || !*by || strcmp(by, d->member) == 0 || k == d->n || r.time_ms == INT64_MIN) {
        /* An analyzer deciding from its own hosts only (local-only, or a version without the
         * exchange): its decision is not the fleet's. Our own, read back. Not evaluated. */
        return;
    }
    cap_time(d, &r.time_ms, "decision");
    cap_time(d, &r.changed_ms, "decision change");
    struct target *t = &d->t[k];
    if (t->evaluated && r.time_ms < t->last.time_ms)
        return; /* older than the one served: a decider that lost the target late */
    const struct vg_scale_params *p = vg_rule_policy_params(t->p);
    int recommended = r.recommended >= 0 ? r.recommended : r.desired;
    vg_scale_follow(t->st, p, r.desired, recommended, r.changed_ms, r.time_ms);
    t->last.current = r.current >= 0 ? r.current : t->st->current;
    t->last.desired = t->st->current;
    t->last.recommended = recommended;
    t->last.metric = r.metric;
    t->last.time_ms = r.time_ms;
    snprintf(t->last.reason, sizeof(t->last.reason), "%s", r.reason);
    t->hosts = r.hosts >= 0 ? (size_t)r.hosts : 0;
    t->changed = r.changed;
    t->evaluated = 1;
    t->followed = 1;
    t->fleet = 1;
    snprintf(t->by, sizeof(t->by), "%s", by);
    d->st.followed++;
}

/* Retries a failed join of the exchange when due (below, with the join). */
static void rejoin(struct vg_decisions *d);

static void set_count(struct vg_decisions *d, int n)
{
    d->metrics_parts = n;
    pthread_mutex_lock(&d->stat_lock);
    d->st.metrics_partitions = n;
    pthread_mutex_unlock(&d->stat_lock);
}

/* Fleet-wide with partitions owned but the metrics topic's partition count unknown: no target
 * would be decided, silently, until the next rebalance. Looked up again, rate-limited, with an
 * all-topics request so that nothing is auto-created. */
static void retry_count(struct vg_decisions *d)
{
    if (!d->fleet || !d->n_owned || d->metrics_parts > 0 || !d->rk || !d->metrics_topic)
        return;
    int64_t mono = vg_mono_ms();
    if (mono < d->count_retry_at)
        return;
    d->count_retry_at = mono + COUNT_RETRY_MS;
    rd_kafka_resp_err_t e;
    int n = vg_kafka_topic_partitions(d->rk, d->metrics_topic, 1, COUNT_TIMEOUT_MS, &e);
    if (n > 0) {
        set_count(d, n);
        vg_info("scaling: metrics topic's partition count known", "topic=%s partitions=%d",
                d->metrics_topic, n);
        d->count_warned = 0;
        return;
    }
    char q[VG_ERRLEN + 8];
    if (!d->count_warned++)
        vg_warn("scaling: the metrics topic's partition count is unknown: no target is decided "
                "until it is (looked up again every 10 s)",
                "topic=%s reason=%s", d->metrics_topic,
                vg_log_quote(q, sizeof q,
                             e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART
                                 ? "topic not in the metadata"
                                 : rd_kafka_err2str(e)));
}

static void follow_poll(struct vg_decisions *d)
{
    for (int i = 0; d->follow && i < FOLLOW_BATCH; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(d->follow, 0);
        if (!m)
            break;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && d->follow_errors++ % 100 == 0)
                vg_warn("scaling exchange not read", "errors=%llu reason=%s",
                        (unsigned long long)d->follow_errors, rd_kafka_message_errstr(m));
        } else if (m->rkt && strcmp(rd_kafka_topic_name(m->rkt), d->partials_topic) == 0) {
            on_partial(d, m);
        } else {
            on_decision(d, m);
        }
        rd_kafka_message_destroy(m);
    }
}

/* The count decided and the selected hosts that report differ for longer than a cooldown: new
 * replicas that do not come up (pending pods: no capacity, an image that does not pull), an
 * orchestrator that does not follow `desired`, or a selector that misses some replicas. Target
 * tracking then holds at what the reporting hosts need rather than asking for more, so without
 * this line the shortfall would go unnoticed. Logged when it has lasted a cooldown (boot time is
 * normal), again every DIVERGED_LOG_MS of event time while it lasts, and once when it ends. */
static void note_divergence(struct target *t, const struct vg_scale_params *p, int64_t now)
{
    if (p->mode != VG_SCALE_TARGET)
        return; /* step scaling counts votes, not replicas: its hosts need not be the target's */
    int count = t->st->current;
    int differ = t->hosts && (size_t)count != t->hosts;
    if (!differ || t->changed) {
        /* A change restarts the clock: the replicas it asks for need their boot time. */
        if (t->diverged_logged && t->hosts == (size_t)count)
            vg_info("scaling count and reporting hosts agree again",
                    "target=%s desired=%d hosts=%zu", t->name, count, t->hosts);
        t->diverged_logged = 0;
        t->diverging = differ;
        t->diverged_since_ms = now;
        return;
    }
    if (!t->diverging || now < t->diverged_since_ms) {
        t->diverging = 1;
        t->diverged_since_ms = now;
        return;
    }
    int64_t lasted = now - t->diverged_since_ms, iv = vg_rule_policy_interval_ms(t->p);
    if (lasted < (p->cooldown_ms > iv ? p->cooldown_ms : iv))
        return;
    if (t->diverged_logged && now - t->diverged_log_ms < DIVERGED_LOG_MS &&
        now >= t->diverged_log_ms)
        return;
    vg_warn("scaling count and reporting hosts differ",
            "target=%s desired=%d hosts=%zu for_s=%lld hint=\"replicas pending or not following "
            "desired, or the selector misses some: target tracking holds at what the reporting "
            "hosts need\"",
            t->name, count, t->hosts, (long long)(lasted / 1000));
    t->diverged_logged = 1;
    t->diverged_log_ms = now;
}

void vg_decisions_tick(struct vg_decisions *d, struct vg_engine *e)
{
    if (d->rk)
        rd_kafka_poll(d->rk, 0);
    if (!d->join_tried && d->n) { /* a reload brought the first policies */
        char err[VG_ERRLEN], q[2 * VG_ERRLEN + 3];
        /* Under the analyzer's lock, like the retries: their deadline, not the start's. */
        if (vg_decisions_join(d, REJOIN_TIMEOUT_MS, err, sizeof(err)) < 0)
            vg_warn("scaling decisions local-only: each analyzer decides from its own hosts",
                    "reason=%s", vg_log_quote(q, sizeof(q), err));
    }
    rejoin(d);
    retry_count(d);
    follow_poll(d);
    int64_t now = vg_engine_latest_ts(e);
    /* Fleet-wide, the decider's own partitions may be idle while others' are not. */
    if (d->fleet && d->latest_partial_ms > now)
        now = d->latest_partial_ms;
    if (!now)
        return;
    /* The newest event time of any host: one host with its clock a day ahead must not freeze
     * every decision for a day. */
    int64_t wall = vg_now_ms();
    if (now > wall)
        now = wall;
    for (size_t i = 0; i < d->n; i++) {
        struct target *t = &d->t[i];
        int64_t iv = vg_rule_policy_interval_ms(t->p);
        if (t->measured && now - t->last_measure_ms < iv && now >= t->last_measure_ms)
            continue;
        /* Fleet-wide and owning no partition (between a revoke and the next assignment, or more
         * analyzers than partitions): nothing to measure, nothing to decide. */
        if (d->fleet && !d->n_owned)
            continue;
        t->measured = 1;
        t->last_measure_ms = now;
        struct agg a = {
            .p = t->p, .owned = d->owned, .n_owned = d->n_owned, .only_owned = d->fleet};
        int incomplete = -1; /* fleet-wide: partitions measured, when not all */
        vg_engine_each_host_env(e, measure, &a);
        struct vg_partial own = {
            .time_ms = now, .agg = a.mine, .parts = d->owned, .n_parts = d->n_owned};
        memcpy(own.member, d->member, sizeof(own.member));
        /* Local-only after a failed join too, whenever the producer works: the deciders that did
         * join count this analyzer's partitions then, instead of holding every target for the
         * whole fleet because it is missing. Not while the topic is missing (its creation
         * failed): the publish would have it auto-created with the broker's defaults. */
        if (d->n_owned && d->rk && d->partials_topic && d->partials_seen)
            publish_partial(d, t, &own);
        if (d->fleet) {
            int64_t cutoff = now - PARTIAL_MAX_AGE_INTERVALS * iv;
            if (!owns(d, t->name)) {
                vg_partials_expire(d->partials, t->name, cutoff);
                continue;
            }
            /* Just became the decider, behind the decision followed: deciding now would run
             * the cooldown and the window backwards. */
            if (t->followed && now < t->last.time_ms)
                continue;
            struct vg_partial_agg sum;
            size_t hidden, covered;
            vg_partials_merge(d->partials, t->name, &own, cutoff, &sum, &hidden, &covered);
            d->st.partials_overlapped += hidden;
            a.sum = sum.sum;
            a.n_values = (size_t)sum.n_values;
            a.n_true = (size_t)sum.n_true;
            a.n_false = (size_t)sum.n_false;
            a.n_alerting = (size_t)sum.n_alerting;
            /* Some partitions' hosts are not measured (an analyzer's partial missing: it just
             * joined, stopped without a rebalance yet, or cannot publish). What was measured
             * is a lower bound of the fleet's need, not its estimate: a `when` true on a
             * measured host is true for the fleet, and a recommendation above the count stays
             * one with more hosts; a lower one may come from the sample. So the count may go
             * up, never down, until every partition is measured again. */
            if (covered < (size_t)d->metrics_parts)
                incomplete = (int)covered;
        }
        double metric = a.n_values ? a.sum / (double)a.n_values : NAN;
        int cond = a.n_true ? 1 : a.n_false ? 0 : -1;
        char held[96];
        const char *hold_in = a.n_alerting ? "an alert fires on the target's hosts" : NULL;
        if (incomplete >= 0) {
            snprintf(held, sizeof(held), "%d of %d partitions measured", incomplete,
                     d->metrics_parts);
            hold_in = held;
        }
        const struct vg_scale_params *p = vg_rule_policy_params(t->p);
        /* Target tracking counts the replicas that report, not its own previous decision: see
         * vg_scale_step_why. */
        long reporting = a.n_values ? (long)a.n_values : -1;
        t->changed = vg_scale_step_why(p, t->st, metric, reporting, cond, now, hold_in, &t->last);
        if (incomplete >= 0 && t->last.recommended < t->last.current &&
            !strstr(t->last.reason, held)) {
            /* Held by the window or the cooldown first: still say the measurement is partial. */
            size_t l = strlen(t->last.reason);
            snprintf(t->last.reason + l, sizeof(t->last.reason) - l, "; %s: scale-in held", held);
        }
        if (t->last.behind_ms)
            note_behind(d, t);
        t->hosts = p->mode == VG_SCALE_TARGET ? a.n_values : a.n_true + a.n_false;
        note_divergence(t, p, now);
        t->evaluated = 1;
        t->last_eval_ms = now;
        t->followed = 0;
        t->fleet = d->fleet;
        memcpy(t->by, d->member, sizeof(t->by));
        d->st.evaluations++;
        if (t->changed) {
            d->st.changes++;
            vg_info("scaling decision", "target=%s current=%d desired=%d reason=\"%s\"", t->name,
                    t->last.current, t->last.desired, t->last.reason);
        }
        publish(d, t);
    }
}

struct readback {
    struct vg_strmap latest; /* target -> struct saved */
    size_t records, refused;
    int oom;
    /* whole[p]: partition p was read to the end it had when the read began (on_end). Only a
     * target whose partitions were all read whole is restored: after a timeout, the latest
     * record read so far may be far older than the partition's real latest. */
    unsigned char *whole;
    size_t n_whole;
};

/* A decision record, as decision_json() writes it (vg_decision_record_parse); 0 or -EINVAL with
 * the reason in err. */
static int parse_saved(const rd_kafka_message_t *m, char *target, size_t tlen, struct saved *sv,
                       char *err, size_t errlen)
{
    struct vg_decision_record r;
    int rc = vg_decision_record_parse(m->key, m->key_len, m->payload, m->len, &r, err, errlen);
    if (rc)
        return rc;
    if (strlen(r.target) >= tlen)
        return vg_err(err, errlen, -EINVAL, "no \"target\" string");
    snprintf(target, tlen, "%s", r.target);
    sv->desired = r.desired;
    sv->time_ms = r.time_ms;
    sv->changed_ms = r.changed_ms;
    sv->partition = m->partition;
    sv->offset = m->offset;
    sv->next = NULL;
    return 0;
}

static void saved_free(void *v)
{
    for (struct saved *sv = v, *next; sv; sv = next) {
        next = sv->next;
        free(sv);
    }
}

static void readback_record(void *ud, const rd_kafka_message_t *m)
{
    struct readback *rb = ud;
    char target[256], why[VG_ERRLEN], qwhy[VG_ERRLEN + 8];
    struct saved sv;
    if (parse_saved(m, target, sizeof(target), &sv, why, sizeof(why)) < 0) {
        /* Someone else's records, or a damaged one: the target then starts from `initial`. */
        if (rb->refused++ < 10)
            vg_warn("scaling decision record refused", "topic_partition=%d offset=%lld reason=%s",
                    (int)m->partition, (long long)m->offset, vg_log_quote(qwhy, sizeof(qwhy), why));
        return;
    }
    rb->records++;
    /* One target's records are on one partition, where the latest is the last written, whatever
     * times it carries: a record stamped an hour ahead by a fast clock must not outlive the
     * decisions after it. Only across partitions (the topic's partition count was changed) do
     * times decide, in vg_decisions_restore. */
    struct saved *first = vg_strmap_get(&rb->latest, target);
    for (struct saved *have = first; have; have = have->next)
        if (have->partition == sv.partition) {
            if (sv.offset >= have->offset) {
                sv.next = have->next;
                *have = sv;
            }
            return;
        }
    struct saved *n = malloc(sizeof(*n));
    if (!n) {
        rb->oom = 1;
        return;
    }
    *n = sv;
    if (first) {
        n->next = first->next;
        first->next = n;
    } else if (vg_strmap_put(&rb->latest, target, n) < 0) {
        free(n);
        rb->oom = 1;
    }
}

static void readback_end(void *ud, int32_t partition)
{
    struct readback *rb = ud;
    if (partition < 0)
        return;
    if ((size_t)partition >= rb->n_whole) {
        size_t n = (size_t)partition + 1;
        unsigned char *w = realloc(rb->whole, n);
        if (!w) { /* the partition then counts as not read whole: its targets start from initial */
            rb->oom = 1;
            return;
        }
        memset(w + rb->n_whole, 0, n - rb->n_whole);
        rb->whole = w;
        rb->n_whole = n;
    }
    rb->whole[partition] = 1;
}

/* 1 when every partition holding a record of the target was read whole. */
static int read_whole(const struct readback *rb, const struct saved *first)
{
    for (const struct saved *sv = first; sv; sv = sv->next)
        if (sv->partition < 0 || (size_t)sv->partition >= rb->n_whole || !rb->whole[sv->partition])
            return 0;
    return 1;
}

/* The decision a target continues from: the latest of each partition, then the newest in event
 * time, times capped at the wall clock as for decisions followed live (cap_time). */
static struct saved pick_saved(struct vg_decisions *d, const struct saved *first, int64_t wall)
{
    const struct saved *best = first;
    int64_t best_t = first->time_ms;
    vg_time_cap(&best_t, wall);
    for (const struct saved *sv = first->next; sv; sv = sv->next) {
        int64_t t = sv->time_ms;
        vg_time_cap(&t, wall);
        if (t > best_t) {
            best = sv;
            best_t = t;
        }
    }
    struct saved out = *best;
    cap_time(d, &out.time_ms, "restored decision");
    cap_time(d, &out.changed_ms, "restored decision change");
    return out;
}

int vg_decisions_restore(struct vg_decisions *d, int timeout_ms, char *err, size_t errlen)
{
    if (!d->rk)
        return 0;
    struct readback rb = {0};
    vg_strmap_init(&rb.latest);
    char rerr[VG_ERRLEN];
    int rc = vg_kafka_read_topic(d->bootstrap, d->kafka, "vigil-analyzer-decisions-restore",
                                 d->topic, timeout_ms, readback_record, readback_end, &rb, NULL,
                                 rerr, sizeof(rerr));
    size_t restored = 0, initial = 0;
    /* The targets left at `initial`, named in the error (the first few, then a count). */
    char names[512] = "";
    size_t nl = 0;
    for (size_t i = 0; i < d->n; i++) {
        struct target *t = &d->t[i];
        if (t->evaluated)
            continue;
        const struct saved *first = vg_strmap_get(&rb.latest, t->name);
        if (!first || !read_whole(&rb, first)) {
            /* Not read, or read only in part: starting from `initial` is what the log says,
             * and what a fresh target does; a record read so far may be hours older than the
             * partition's latest, and serving it would scale to a count nobody decided now. */
            if (rc || rb.oom) {
                initial++;
                if (nl < sizeof(names) - 1)
                    nl += (size_t)snprintf(names + nl, sizeof(names) - nl, "%s%s",
                                           initial > 1 ? ", " : "", t->name);
            }
            continue;
        }
        struct saved sv = pick_saved(d, first, vg_now_ms());
        const struct vg_scale_params *p = vg_rule_policy_params(t->p);
        vg_scale_restore(t->st, p, sv.desired, sv.changed_ms, sv.time_ms);
        t->restored = 1;
        restored++;
        vg_info("scaling decision restored", "target=%s current=%d saved_desired=%d", t->name,
                t->st->current, sv.desired);
    }
    if (nl >= sizeof(names) - 1) /* cut: say so rather than end on half a name */
        snprintf(names + sizeof(names) - 5, 5, "...");
    d->st.restored += restored;
    d->st.restore_refused += rb.refused;
    d->st.restore_incomplete += initial;
    vg_strmap_free(&rb.latest, saved_free);
    free(rb.whole);
    if (rc == 0 || rc == -ETIMEDOUT)
        vg_info("scaling decisions read back", "topic=%s records=%zu refused=%zu targets=%zu",
                d->topic, rb.records, rb.refused, restored);
    if (rc)
        return vg_err(err, errlen, rc,
                      "decisions restore: %s; %zu target(s) restored, %zu start from `initial`: "
                      "%s",
                      rerr, restored, initial, initial ? names : "none");
    if (rb.oom)
        return vg_err(err, errlen, -ENOMEM, "decisions restore: out of memory");
    return 0;
}

/* The partition count of topic on rk's cluster; 0 or -EIO with err. */
static int topic_parts(rd_kafka_t *rk, const char *topic, int timeout_ms, int *n, char *err,
                       size_t errlen)
{
    rd_kafka_resp_err_t why;
    *n = vg_kafka_topic_partitions(rk, topic, 0, timeout_ms, &why);
    if (*n > 0)
        return 0;
    *n = 0;
    return vg_err(err, errlen, -EIO, "topic %s: %s", topic,
                  why ? rd_kafka_err2str(why) : "no partitions");
}

/* 1 when topic is on rk's cluster, 0 when not, -EIO when the cluster does not answer. All
 * topics are asked for: a request naming the topic would have a producer auto-create it with
 * the broker's defaults (a retention of days) where the cluster allows it. */
static int topic_exists(rd_kafka_t *rk, const char *topic, int timeout_ms)
{
    int n = vg_kafka_topic_partitions(rk, topic, 1, timeout_ms, NULL);
    return n < 0 ? n : n > 0;
}

/* Creates the partials topic when it is missing, as vg_state_topic.c does the state topic: the
 * exchange's reader never auto-creates a topic (consumers default to
 * allow.auto.create.topics=false), so without this a cluster without the topic would stay
 * local-only forever. One partition (every analyzer reads them all), an hour's retention (a
 * partial is stale after PARTIAL_MAX_AGE_INTERVALS intervals). 0 (also: it exists, or another
 * analyzer created it meanwhile), or -EIO with err saying what to do. */
static int create_partials_topic(struct vg_decisions *d, int timeout_ms, char *err, size_t errlen)
{
    int64_t deadline = vg_mono_ms() + timeout_ms;
    int have = topic_exists(d->rk, d->partials_topic, timeout_ms);
    if (have > 0) {
        d->partials_seen = 1;
        return 0;
    }
    if (have < 0)
        return vg_err(err, errlen, -EIO, "topic %s: the cluster did not answer", d->partials_topic);
    int left = (int)(deadline - vg_mono_ms());
    if (left < 100)
        left = 100;
    const struct vg_kafka_prop cfg[] = {
        {"retention.ms", "3600000"}, {"cleanup.policy", "delete"}, {NULL, NULL}};
    rd_kafka_resp_err_t e = vg_kafka_create_topic(d->rk, d->partials_topic, 1, cfg, left);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
        vg_info("scaling partials topic created",
                "topic=%s partitions=1 retention.ms=3600000 cleanup.policy=delete",
                d->partials_topic);
        d->partials_seen = 1;
        return 0;
    }
    if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        d->partials_seen = 1;
        return 0;
    }
    /* Said once per process: the retries repeat it in their own (rate-limited) warning. */
    if (!d->create_refused++)
        vg_warn("could not create the scaling partials topic: create it with 1 partition, "
                "retention.ms=3600000 and cleanup.policy=delete, or set "
                "decisions.partials_topic: \"\" (local-only)",
                "topic=%s reason=\"%s\"", d->partials_topic, rd_kafka_err2str(e));
    return vg_err(err, errlen, -EIO,
                  "topic %s missing and not created (%s): create topic %s with 1 partition, "
                  "retention.ms=3600000, cleanup.policy=delete or set "
                  "decisions.partials_topic: \"\"",
                  d->partials_topic, rd_kafka_err2str(e), d->partials_topic);
}

static int join(struct vg_decisions *d, int timeout_ms, char *err, size_t errlen)
{
    char group[VG_PARTIAL_MEMBER_MAX + 40];
    /* A group name only because librdkafka's assign() consumer wants one: it never joins (no
     * subscribe) and commits nothing. */
    snprintf(group, sizeof(group), "vigil-analyzer-decisions-follow-%s", d->member);
    const struct vg_kafka_prop defaults[] = {
        {"client.id", "vigil-analyzer-decisions-follow"},
        {"bootstrap.servers", d->bootstrap},
        {"group.id", group},
        {"enable.auto.commit", "false"},
        {"enable.partition.eof", "false"},
        /* Partials and decisions are small and few: fetched as they come, not in batches. */
        {"fetch.wait.max.ms", "100"},
        {NULL, NULL},
    };
    rd_kafka_conf_t *conf;
    int rc = vg_kafka_conf_new(&conf, defaults, d->kafka, err, errlen);
    if (rc)
        return rc;
    char rkerr[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rkerr, sizeof(rkerr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return vg_err(err, errlen, -EINVAL, "exchange reader: %s", rkerr);
    }
    rd_kafka_poll_set_consumer(rk);
    int64_t deadline = vg_mono_ms() + timeout_ms;
    int np = 0, nd = 0;
    rc = create_partials_topic(d, timeout_ms, err, errlen);
    if (!rc) {
        int left = (int)(deadline - vg_mono_ms());
        rc = topic_parts(rk, d->partials_topic, left > 100 ? left : 100, &np, err, errlen);
    }
    if (!rc) {
        int left = (int)(deadline - vg_mono_ms());
        rc = topic_parts(rk, d->topic, left > 100 ? left : 100, &nd, err, errlen);
    }
    rd_kafka_topic_partition_list_t *l = rc ? NULL : rd_kafka_topic_partition_list_new(np + nd);
    if (!rc && !l)
        rc = vg_err(err, errlen, -ENOMEM, "exchange reader: out of memory");
    for (int p = 0; l && p < np; p++) /* partials come every interval: the next ones will do */
        rd_kafka_topic_partition_list_add(l, d->partials_topic, p)->offset = RD_KAFKA_OFFSET_END;
    for (int p = 0; l && p < nd; p++) {
        /* Decisions from where the read-back (after this) starts at the latest, so none
         * published in between is missed; one read twice is followed twice, harmlessly. */
        int64_t lo = 0, hi = RD_KAFKA_OFFSET_END;
        int left = (int)(deadline - vg_mono_ms());
        /* One deadline for the whole attempt: past it, the partitions left start at their end
         * (a decision in between is missed by the reader, not by the read-back). */
        if (left <= 0 || rd_kafka_query_watermark_offsets(rk, d->topic, p, &lo, &hi, left))
            hi = RD_KAFKA_OFFSET_END;
        rd_kafka_topic_partition_list_add(l, d->topic, p)->offset = hi;
    }
    if (l) {
        rd_kafka_resp_err_t e = rd_kafka_assign(rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (e)
            rc = vg_err(err, errlen, -EIO, "exchange reader: %s", rd_kafka_err2str(e));
    }
    if (rc) {
        /* Never subscribed: a consumer close would only wait on a coordinator that may be the
         * unreachable broker this attempt failed on. */
        rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        return rc;
    }
    d->follow = rk;
    return 0;
}

static void count_join_failure(struct vg_decisions *d, int retry)
{
    pthread_mutex_lock(&d->stat_lock);
    d->st.partials_errors++;
    d->st.join_retries += retry != 0;
    pthread_mutex_unlock(&d->stat_lock);
}

static void joined(struct vg_decisions *d)
{
    d->fleet = 1;
    d->rejoining = 0;
    pthread_mutex_lock(&d->stat_lock);
    d->st.local_only = 0;
    pthread_mutex_unlock(&d->stat_lock);
    if (d->rejoin_tries)
        vg_info("scaling decisions fleet-wide",
                "member=%s partials_topic=%s decisions_topic=%s rejoined_after_retries=%llu",
                d->member, d->partials_topic, d->topic, (unsigned long long)d->rejoin_tries);
    else
        vg_info("scaling decisions fleet-wide", "member=%s partials_topic=%s decisions_topic=%s",
                d->member, d->partials_topic, d->topic);
}

int vg_decisions_join(struct vg_decisions *d, int timeout_ms, char *err, size_t errlen)
{
    if (d->join_tried)
        return d->fleet || !d->rk || !d->partials_topic
                   ? 0
                   : vg_err(err, errlen, -EIO, "the exchange failed before");
    d->join_tried = 1;
    d->st.local_only = 1; /* until the exchange is up */
    if (!d->rk || !d->partials_topic) {
        vg_info("scaling decisions local-only", "reason=\"%s\"",
                !d->rk ? "decisions.topic is empty" : "decisions.partials_topic is empty");
        return 0;
    }
    int rc = join(d, timeout_ms, err, errlen);
    if (rc < 0) {
        count_join_failure(d, 0);
        /* An unreachable broker or a topic created late is retried, not given up on. */
        d->rejoining = 1;
        d->rejoin_delay_ms = d->rejoin_initial_ms;
        d->rejoin_at = vg_mono_ms() + d->rejoin_delay_ms;
        return rc;
    }
    joined(d);
    return 0;
}

/* One retry of a failed join, when it is due: the targets keep their state, and from the next
 * evaluation on decide (as decider, from that state) or follow fleet-wide. */
static void rejoin(struct vg_decisions *d)
{
    if (!d->rejoining || d->fleet || !d->n || vg_mono_ms() < d->rejoin_at)
        return;
    char err[VG_ERRLEN], q[2 * VG_ERRLEN + 3];
    d->rejoin_tries++;
    if (join(d, REJOIN_TIMEOUT_MS, err, sizeof(err)) == 0) {
        pthread_mutex_lock(&d->stat_lock);
        d->st.join_retries++;
        pthread_mutex_unlock(&d->stat_lock);
        joined(d);
        return;
    }
    count_join_failure(d, 1);
    d->rejoin_delay_ms =
        d->rejoin_delay_ms * 2 < d->rejoin_max_ms ? d->rejoin_delay_ms * 2 : d->rejoin_max_ms;
    d->rejoin_at = vg_mono_ms() + d->rejoin_delay_ms;
    /* The first few, then about one an hour at the default 5 min. */
    if (d->rejoin_tries <= 5 || d->rejoin_tries % 12 == 0)
        vg_warn("scaling exchange not joined: still local-only, retrying",
                "retries=%llu next_retry_s=%.3g reason=%s", (unsigned long long)d->rejoin_tries,
                (double)d->rejoin_delay_ms / 1000.0, vg_log_quote(q, sizeof(q), err));
}

int vg_decisions_set_partitions(struct vg_decisions *d, const int32_t *ids, size_t n,
                                int partition_count)
{
    if (partition_count > 0)
        set_count(d, partition_count);
    d->count_retry_at = 0; /* unknown still: looked up again at the next tick */
    int32_t *c = n ? malloc(n * sizeof(*c)) : NULL;
    free(d->owned);
    d->owned = c;
    d->n_owned = c ? n : 0;
    if (!n)
        return 0;
    if (!c)
        return -ENOMEM;
    memcpy(c, ids, n * sizeof(*ids));
    qsort(c, n, sizeof(*c), cmp_i32);
    return 0;
}

const char *vg_decisions_member(const struct vg_decisions *d)
{
    return d->member;
}

int32_t vg_decisions_decider_partition(const char *target, int partition_count)
{
    if (partition_count <= 0)
        return -1;
    uint32_t h = 2166136261u; /* FNV-1a: fixed, so that every analyzer picks alike */
    for (const unsigned char *p = (const unsigned char *)target; *p; p++)
        h = (h ^ *p) * 16777619u;
    return (int32_t)(h % (uint32_t)partition_count);
}

json_t *vg_decisions_json(const struct vg_decisions *d, const char *target)
{
    if (target) {
        for (size_t i = 0; i < d->n; i++)
            if (strcmp(d->t[i].name, target) == 0)
                return decision_json(&d->t[i]);
        return NULL;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < d->n; i++)
        json_array_append_new(a, decision_json(&d->t[i]));
    json_t *o = json_object();
    json_object_set_new(o, "decisions", a);
    return o;
}

void vg_decisions_get_stats(struct vg_decisions *d, struct vg_decisions_stats *out)
{
    pthread_mutex_lock(&d->stat_lock);
    *out = d->st;
    pthread_mutex_unlock(&d->stat_lock);
}
