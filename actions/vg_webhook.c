/* Generic webhook: POSTs vg_notification_to_json() to one URL from a single delivery thread.
 *
 * The queue is a FIFO of deep copies; its head stays in the queue while it is being delivered
 * (including its backoff waits), so queue_max bounds everything held in memory and a notification
 * interrupted by destroy() is still there to be counted as dropped. Delivery is strictly in order:
 * a failing head blocks the ones behind it until it is delivered or given up on.
 */
#include "vg_webhook.h"

#include "vg_log.h"
#include "vg_util.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define WH_DEFAULT_TIMEOUT_MS         5000
#define WH_DEFAULT_CONNECT_TIMEOUT_MS 2000
#define WH_DEFAULT_MAX_ATTEMPTS       8
#define WH_DEFAULT_BACKOFF_INITIAL_MS 500
#define WH_DEFAULT_BACKOFF_MAX_MS     30000
#define WH_DEFAULT_QUEUE_MAX          10000
#define WH_RESP_KEEP                  200 /* bytes of a rejecting response body worth logging */
#define WH_DROP_LOG_MAX               20  /* per-notification lines when destroy() drops many */

struct wh_item {
    struct wh_item *next;
    /* Its strings and label arrays live in the same allocation, right after the struct. */
    struct vg_notification n;
};

struct wh_resp {
    char buf[WH_RESP_KEEP + 1];
    size_t len;
};

struct webhook {
    char *url;
    char *log_url; /* url without credentials or query string: those often hold secrets */
    int64_t timeout_ms;
    int64_t connect_timeout_ms;
    int64_t backoff_initial_ms;
    int64_t backoff_max_ms;
    int max_attempts;
    size_t queue_max;

    pthread_mutex_t mu;
    pthread_cond_t wake; /* to the thread: an item arrived, or stop */
    pthread_cond_t idle; /* to destroy(): the queue became empty */
    struct wh_item *head, *tail;
    size_t count; /* includes the head while it is being delivered */
    struct vg_action_stats st;
    int stop;
    int full_logged;
    uint64_t rng;

    /* Read by the transfer loop without the mutex; set together with curl_multi_wakeup(). */
    atomic_int abort_xfer;
    CURLM *multi; /* owns the connection cache, so keep-alive connections are reused */
    CURL *easy;
    struct wh_resp resp;
    char curl_err[CURL_ERROR_SIZE];
    pthread_t thread;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

/* curl_global_init is not thread-safe and must run once per process; curl_global_cleanup is never
 * called because other code in the process may still be using libcurl at exit. */
static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void lock(struct webhook *w)
{
    pthread_mutex_lock(&w->mu);
}

static void unlock(struct webhook *w)
{
    pthread_mutex_unlock(&w->mu);
}

static struct timespec mono_deadline(int64_t ms_from_now)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms_from_now / 1000;
    ts.tv_nsec += (ms_from_now % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

/* xorshift64*: jitter only needs to spread retries of many instances apart, not be secure. */
static double rnd01(struct webhook *w)
{
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return (double)((x * 0x2545f4914f6cdd1dULL) >> 11) / (double)(1ULL << 53);
}

static size_t slen(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static const char *scopy(char **p, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = *p;
    memcpy(d, s, n);
    *p += n;
    return d;
}

/* One malloc holding the item, its label arrays and every string, so a queued notification is
 * freed with a single free() and never points into the caller's memory. */
static struct wh_item *item_copy(const struct vg_notification *n)
{
    size_t nl = n->n_labels;
    size_t strs = slen(n->status) + slen(n->alertname) + slen(n->host) + slen(n->series) +
                  slen(n->fingerprint) + slen(n->severity);
    for (size_t i = 0; i < nl; i++) {
        strs += slen(n->label_keys ? n->label_keys[i] : NULL);
        strs += slen(n->label_values ? n->label_values[i] : NULL);
    }
    if (nl > (SIZE_MAX / 2 - strs - sizeof(struct wh_item)) / (2 * sizeof(char *)))
        return NULL;
    struct wh_item *it = malloc(sizeof(*it) + 2 * nl * sizeof(char *) + strs);
    if (!it)
        return NULL;
    const char **keys = (const char **)(it + 1);
    const char **vals = keys + nl;
    char *p = (char *)(vals + nl);

    it->next = NULL;
    it->n = *n;
    it->n.status = scopy(&p, n->status);
    it->n.alertname = scopy(&p, n->alertname);
    it->n.host = scopy(&p, n->host);
    it->n.series = scopy(&p, n->series);
    it->n.fingerprint = scopy(&p, n->fingerprint);
    it->n.severity = scopy(&p, n->severity);
    for (size_t i = 0; i < nl; i++) {
        keys[i] = scopy(&p, n->label_keys ? n->label_keys[i] : NULL);
        vals[i] = scopy(&p, n->label_values ? n->label_values[i] : NULL);
    }
    it->n.label_keys = nl ? keys : NULL;
    it->n.label_values = nl ? vals : NULL;
    return it;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct wh_resp *r = ud;
    size_t n = size * nmemb;
    size_t room = WH_RESP_KEEP - r->len;
    size_t take = n < room ? n : room;
    memcpy(r->buf + r->len, data, take);
    r->len += take;
    r->buf[r->len] = '\0';
    /* The rest is read and discarded: answering less than n would abort the transfer. */
    return n;
}

/* Runs one transfer on the multi handle so that destroy() can interrupt it at once through
 * curl_multi_wakeup() instead of waiting out the request timeout. Returns 1 if aborted. */
static int perform(struct webhook *w, CURLcode *res)
{
    *res = CURLE_OK;
    if (curl_multi_add_handle(w->multi, w->easy) != CURLM_OK) {
        *res = CURLE_OUT_OF_MEMORY;
        return 0;
    }
    int aborted = 0, running = 1;
    for (;;) {
        if (atomic_load(&w->abort_xfer)) {
            aborted = 1;
            break;
        }
        CURLMcode mc = curl_multi_perform(w->multi, &running);
        if (mc != CURLM_OK) {
            snprintf(w->curl_err, sizeof(w->curl_err), "%s", curl_multi_strerror(mc));
            *res = CURLE_FAILED_INIT;
            break;
        }
        if (!running)
            break;
        mc = curl_multi_poll(w->multi, NULL, 0, 1000, NULL);
        if (mc != CURLM_OK) {
            snprintf(w->curl_err, sizeof(w->curl_err), "%s", curl_multi_strerror(mc));
            *res = CURLE_FAILED_INIT;
            break;
        }
    }
    if (!aborted && *res == CURLE_OK) {
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(w->multi, &left))) {
            if (m->msg == CURLMSG_DONE && m->easy_handle == w->easy)
                *res = m->data.result;
        }
    }
    curl_multi_remove_handle(w->multi, w->easy);
    return aborted;
}

static int64_t next_delay_ms(struct webhook *w, int attempt, long http, curl_off_t retry_after_s)
{
    int64_t max = w->backoff_max_ms;
    /* 429 and 503 may say when to come back; we listen, but never wait longer than the cap so one
     * receiver cannot stall the queue for hours. */
    if ((http == 429 || http == 503) && retry_after_s > 0) {
        if (retry_after_s >= max / 1000 + 1)
            return max;
        int64_t d = (int64_t)retry_after_s * 1000;
        return d < max ? d : max;
    }
    int64_t d = w->backoff_initial_ms;
    for (int i = 1; i < attempt && d < max; i++)
        d *= 2;
    if (d > max)
        d = max;
    d = (int64_t)((double)d * (0.8 + 0.4 * rnd01(w)));
    if (d > max)
        d = max;
    return d > 0 ? d : 1;
}

/* Backoff wait that returns early (1) when destroy() says stop. */
static int wait_or_stop(struct webhook *w, int64_t ms)
{
    struct timespec until = mono_deadline(ms);
    lock(w);
    while (!w->stop) {
        if (pthread_cond_timedwait(&w->wake, &w->mu, &until) == ETIMEDOUT)
            break;
    }
    int stopped = w->stop;
    unlock(w);
    return stopped;
}

static void bump(struct webhook *w, uint64_t *field)
{
    lock(w);
    (*field)++;
    unlock(w);
}

/* Header values must be a single line of visible ASCII; the fingerprint is not ours to trust. */
static void header_safe(char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            *s = '_';
    }
}

/* Delivers the head item, retrying as configured. Returns 0 when it is finished with (delivered
 * or given up on) and 1 when destroy() interrupted it, in which case it stays queued. */
static int deliver(struct webhook *w, const struct wh_item *it)
{
    const struct vg_notification *n = &it->n;
    char qurl[512], qfp[256];
    vg_log_quote(qurl, sizeof(qurl), w->log_url);
    vg_log_quote(qfp, sizeof(qfp), n->fingerprint ? n->fingerprint : "");

    char *body = vg_notification_to_json(n);
    if (!body) {
        bump(w, &w->st.dropped);
        vg_error("webhook notification could not be encoded, dropped", "url=%s fingerprint=%s",
                 qurl, qfp);
        return 0;
    }
    char idem[512];
    snprintf(idem, sizeof(idem), "Idempotency-Key: %s-%s-%lld",
             n->fingerprint ? n->fingerprint : "", n->status ? n->status : "",
             (long long)n->starts_at_ms);
    header_safe(idem + strlen("Idempotency-Key: "));
    struct curl_slist *hdrs = NULL, *h;
    /* "Expect:" turns off 100-continue, which only costs a round trip for bodies this small. */
    const char *fixed[] = {"Content-Type: application/json", "Expect:", idem};
    for (size_t i = 0; i < VG_ARRAY_LEN(fixed); i++) {
        h = curl_slist_append(hdrs, fixed[i]);
        if (!h) {
            curl_slist_free_all(hdrs);
            free(body);
            bump(w, &w->st.dropped);
            vg_error("webhook out of memory, notification dropped", "url=%s fingerprint=%s", qurl,
                     qfp);
            return 0;
        }
        hdrs = h;
    }
    curl_easy_setopt(w->easy, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(w->easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(w->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));

    int interrupted = 0;
    for (int attempt = 1;; attempt++) {
        if (attempt > 1)
            bump(w, &w->st.retries);
        w->resp.len = 0;
        w->resp.buf[0] = '\0';
        w->curl_err[0] = '\0';
        CURLcode cc;
        if (perform(w, &cc)) {
            interrupted = 1;
            break;
        }
        long http = 0;
        curl_off_t retry_after = 0;
        if (cc == CURLE_OK) {
            curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &http);
            curl_easy_getinfo(w->easy, CURLINFO_RETRY_AFTER, &retry_after);
            if (http >= 200 && http < 300) {
                bump(w, &w->st.delivered);
                if (attempt > 1)
                    vg_info("webhook delivered after retries", "url=%s attempt=%d fingerprint=%s",
                            qurl, attempt, qfp);
                break;
            }
        }
        bump(w, &w->st.attempt_errors);

        char what[CURL_ERROR_SIZE + 64];
        if (cc != CURLE_OK) {
            char qe[CURL_ERROR_SIZE + 16];
            vg_log_quote(qe, sizeof(qe), w->curl_err[0] ? w->curl_err : curl_easy_strerror(cc));
            snprintf(what, sizeof(what), "curl_code=%d error=%s", (int)cc, qe);
        } else {
            snprintf(what, sizeof(what), "status=%ld", http);
        }
        int retryable = cc != CURLE_OK || http == 408 || http == 429 || (http >= 500 && http < 600);
        if (!retryable) {
            char qbody[2 * WH_RESP_KEEP + 8];
            vg_log_quote(qbody, sizeof(qbody), w->resp.buf);
            vg_error("webhook rejected notification, dropped (not retried)",
                     "url=%s attempt=%d %s fingerprint=%s body=%s", qurl, attempt, what, qfp,
                     qbody);
            bump(w, &w->st.dropped);
            break;
        }
        if (attempt >= w->max_attempts) {
            vg_error("webhook attempt failed, giving up, notification dropped",
                     "url=%s attempt=%d %s fingerprint=%s next_delay_ms=none", qurl, attempt, what,
                     qfp);
            bump(w, &w->st.dropped);
            break;
        }
        int64_t delay = next_delay_ms(w, attempt, http, retry_after);
        vg_warn("webhook attempt failed, will retry",
                "url=%s attempt=%d %s fingerprint=%s next_delay_ms=%lld", qurl, attempt, what, qfp,
                (long long)delay);
        if (wait_or_stop(w, delay)) {
            interrupted = 1;
            break;
        }
    }
    curl_easy_setopt(w->easy, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(w->easy, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(hdrs);
    free(body);
    return interrupted;
}

static void *run(void *arg)
{
    struct webhook *w = arg;
    lock(w);
    for (;;) {
        while (!w->stop && !w->head)
            pthread_cond_wait(&w->wake, &w->mu);
        if (w->stop)
            break;
        struct wh_item *it = w->head;
        unlock(w);
        int interrupted = deliver(w, it);
        lock(w);
        if (interrupted)
            break;
        w->head = it->next;
        if (!w->head)
            w->tail = NULL;
        w->count--;
        free(it);
        if (w->count == 0)
            pthread_cond_broadcast(&w->idle);
    }
    unlock(w);
    return NULL;
}

/* The log form of the url: scheme://host[:port]/path, plus "?..." when there was a query. */
static char *redact_url(CURLU *u)
{
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL, *out = NULL;
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    curl_url_get(u, CURLUPART_HOST, &host, 0);
    curl_url_get(u, CURLUPART_PORT, &port, 0);
    curl_url_get(u, CURLUPART_PATH, &path, 0);
    curl_url_get(u, CURLUPART_QUERY, &query, 0);
    if (asprintf(&out, "%s://%s%s%s%s%s", scheme ? scheme : "", host ? host : "", port ? ":" : "",
                 port ? port : "", path ? path : "", query ? "?..." : "") < 0)
        out = NULL;
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(query);
    return out;
}

static int parse_url(struct webhook *w, const char *url, char *err, size_t errlen)
{
    if (!url || !*url)
        return vg_err(err, errlen, -EINVAL, "webhook: url is required");
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
        /* Only the scheme is echoed: the rest of a webhook url is often a secret. */
        const char *colon = strstr(url, "://");
        int n = colon ? (int)(colon - url) : 0;
        if (n > 16)
            n = 16;
        if (colon)
            return vg_err(err, errlen, -EINVAL,
                          "webhook: url must start with http:// or https:// (got %.*s://)", n, url);
        return vg_err(err, errlen, -EINVAL,
                      "webhook: url must start with http:// or https:// (it has no scheme)");
    }
    CURLU *u = curl_url();
    if (!u)
        return vg_err(err, errlen, -ENOMEM, "webhook: out of memory");
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
    char *host = NULL;
    if (uc == CURLUE_OK)
        uc = curl_url_get(u, CURLUPART_HOST, &host, 0);
    if (uc != CURLUE_OK || !host || !*host) {
        curl_free(host);
        curl_url_cleanup(u);
        return vg_err(err, errlen, -EINVAL, "webhook: url is not valid: %s",
                      uc != CURLUE_OK ? curl_url_strerror(uc) : "no host");
    }
    curl_free(host);
    w->url = strdup(url);
    w->log_url = redact_url(u);
    curl_url_cleanup(u);
    if (!w->url || !w->log_url)
        return vg_err(err, errlen, -ENOMEM, "webhook: out of memory");
    return 0;
}

static void free_webhook(struct webhook *w)
{
    if (w->easy)
        curl_easy_cleanup(w->easy);
    if (w->multi)
        curl_multi_cleanup(w->multi);
    free(w->url);
    free(w->log_url);
    free(w);
}

static int wh_create(void **inst, const struct vg_webhook_cfg *cfg, char *err, size_t errlen)
{
    *inst = NULL;
    if (!cfg)
        return vg_err(err, errlen, -EINVAL, "webhook: no configuration");
    if (cfg->timeout_ms < 0 || cfg->connect_timeout_ms < 0 || cfg->max_attempts < 0 ||
        cfg->backoff_initial_ms < 0 || cfg->backoff_max_ms < 0)
        return vg_err(err, errlen, -EINVAL,
                      "webhook: timeouts, max_attempts and backoff must not be negative");
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return vg_err(err, errlen, -EIO, "webhook: curl_global_init failed: %s",
                      curl_easy_strerror(curl_init_rc));

    struct webhook *w = calloc(1, sizeof(*w));
    if (!w)
        return vg_err(err, errlen, -ENOMEM, "webhook: out of memory");
    int rc = parse_url(w, cfg->url, err, errlen);
    if (rc < 0) {
        free_webhook(w);
        return rc;
    }
    w->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : WH_DEFAULT_TIMEOUT_MS;
    w->connect_timeout_ms =
        cfg->connect_timeout_ms ? cfg->connect_timeout_ms : WH_DEFAULT_CONNECT_TIMEOUT_MS;
    w->max_attempts = cfg->max_attempts ? cfg->max_attempts : WH_DEFAULT_MAX_ATTEMPTS;
    w->backoff_initial_ms =
        cfg->backoff_initial_ms ? cfg->backoff_initial_ms : WH_DEFAULT_BACKOFF_INITIAL_MS;
    w->backoff_max_ms = cfg->backoff_max_ms ? cfg->backoff_max_ms : WH_DEFAULT_BACKOFF_MAX_MS;
    w->queue_max = cfg->queue_max ? cfg->queue_max : WH_DEFAULT_QUEUE_MAX;
    w->rng = ((uint64_t)vg_now_ms() << 20) ^ (uint64_t)(uintptr_t)w ^ 0x9e3779b97f4a7c15ULL;
    if (!w->rng)
        w->rng = 1;

    w->multi = curl_multi_init();
    w->easy = curl_easy_init();
    if (!w->multi || !w->easy) {
        free_webhook(w);
        return vg_err(err, errlen, -ENOMEM, "webhook: cannot initialise libcurl handles");
    }
    CURL *e = w->easy;
    curl_easy_setopt(e, CURLOPT_URL, w->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)w->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)w->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "vigil/" VIGIL_VERSION);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &w->resp);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, w->curl_err);

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->wake, &ca);
    pthread_cond_init(&w->idle, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&w->abort_xfer, 0);

    /* The delivery thread blocks all signals so that the process's handlers (or sigwait) run on
     * the threads that expect them, never in the middle of a transfer here. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&w->thread, NULL, run, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&w->wake);
        pthread_cond_destroy(&w->idle);
        pthread_mutex_destroy(&w->mu);
        free_webhook(w);
        return vg_err(err, errlen, -rc, "webhook: cannot start delivery thread: %s", strerror(rc));
    }
    *inst = w;
    return 0;
}

static int wh_submit(void *inst, const struct vg_notification *n)
{
    struct webhook *w = inst;
    if (!w || !n)
        return -EINVAL;
    struct wh_item *it = item_copy(n);
    if (!it)
        return -ENOMEM;
    lock(w);
    if (w->count >= w->queue_max) {
        w->st.queue_full++;
        int first = !w->full_logged;
        w->full_logged = 1;
        unlock(w);
        free(it);
        /* Once per episode: the analyzer may submit thousands per second while the receiver is
         * down, and the counter carries the rest. */
        if (first) {
            char qurl[512];
            vg_warn("webhook queue full, refusing notifications until it drains",
                    "url=%s queue_max=%zu", vg_log_quote(qurl, sizeof(qurl), w->log_url),
                    w->queue_max);
        }
        return -ENOBUFS;
    }
    w->full_logged = 0;
    if (w->tail)
        w->tail->next = it;
    else
        w->head = it;
    w->tail = it;
    w->count++;
    w->st.submitted++;
    pthread_cond_signal(&w->wake);
    unlock(w);
    return 0;
}

static void wh_stats(void *inst, struct vg_action_stats *out)
{
    struct webhook *w = inst;
    lock(w);
    *out = w->st;
    out->queued = w->count;
    unlock(w);
}

static void wh_destroy(void *inst, int64_t drain_ms)
{
    struct webhook *w = inst;
    if (!w)
        return;
    struct timespec until = mono_deadline(drain_ms > 0 ? drain_ms : 0);
    lock(w);
    while (w->count > 0 && drain_ms > 0) {
        if (pthread_cond_timedwait(&w->idle, &w->mu, &until) == ETIMEDOUT)
            break;
    }
    w->stop = 1;
    pthread_cond_broadcast(&w->wake);
    unlock(w);
    atomic_store(&w->abort_xfer, 1);
    curl_multi_wakeup(w->multi);
    pthread_join(w->thread, NULL);

    char qurl[512];
    vg_log_quote(qurl, sizeof(qurl), w->log_url);
    if (w->count > 0)
        vg_warn("webhook stopped with undelivered notifications, dropping them",
                "url=%s count=%zu drain_ms=%lld", qurl, w->count, (long long)drain_ms);
    w->st.dropped += w->count;
    size_t i = 0;
    for (struct wh_item *it = w->head, *next; it; it = next, i++) {
        next = it->next;
        if (i < WH_DROP_LOG_MAX) {
            char qfp[256], qa[128], qh[256], qs[32];
            vg_warn("webhook notification dropped at shutdown",
                    "url=%s alertname=%s host=%s status=%s fingerprint=%s", qurl,
                    vg_log_quote(qa, sizeof(qa), it->n.alertname ? it->n.alertname : ""),
                    vg_log_quote(qh, sizeof(qh), it->n.host ? it->n.host : ""),
                    vg_log_quote(qs, sizeof(qs), it->n.status ? it->n.status : ""),
                    vg_log_quote(qfp, sizeof(qfp), it->n.fingerprint ? it->n.fingerprint : ""));
        }
        free(it);
    }
    vg_info("webhook stopped",
            "url=%s submitted=%llu delivered=%llu dropped=%llu attempt_errors=%llu retries=%llu "
            "queue_full=%llu",
            qurl, (unsigned long long)w->st.submitted, (unsigned long long)w->st.delivered,
            (unsigned long long)w->st.dropped, (unsigned long long)w->st.attempt_errors,
            (unsigned long long)w->st.retries, (unsigned long long)w->st.queue_full);
    pthread_cond_destroy(&w->wake);
    pthread_cond_destroy(&w->idle);
    pthread_mutex_destroy(&w->mu);
    free_webhook(w);
}

const struct vg_action vg_webhook_action = {
    .name = "webhook",
    .help = "POST a JSON document per alert transition to an http(s) URL, with retries",
    .create = wh_create,
    .submit = wh_submit,
    .stats = wh_stats,
    .destroy = wh_destroy,
};
