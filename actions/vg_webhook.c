/* The delivery engine of the HTTP actions: a format callback turns each notification into a
 * request, and everything else (queue, outbox, rate limit, retries) is shared.
 *
 * The queue is a FIFO of deep copies; an item stays in the queue while it is being delivered
 * (including its backoff waits), so queue_max bounds the queue and a notification interrupted by
 * destroy() is still there to be counted (or kept in the outbox). With hold_firings, firings that
 * may be stale are held apart from the queue (w->held, bounded by queue_max of their own, and
 * twice queue_max records in the outbox, so that they never take the queue's room). Delivery is in
 * order: a failing notification holds back the ones behind it until it is delivered, given up
 * on, or (keep_retrying) has failed max_attempts times; from then on it is "overdue", retried
 * every backoff_max where it stands while the queue behind it moves on. A notification is never
 * attempted while an earlier one of the same alert (fingerprint) is queued, so a resolve never
 * overtakes its firing; with coalesce, a resolve submitted while its firing waits takes the
 * firing's place instead (or, the firing being in flight, once that attempt fails), and the
 * firing is not sent; the firing is marked done in the outbox before the resolve may go. With
 * an outbox, submit() appends each notification to it before queueing, and the thread
 * acknowledges it there once the receiver has answered 2xx or a permanent error (or it was given
 * up on); what the outbox still holds at start is queued ahead of anything new. With
 * group_commit, what submit() queued is staged: not attempted, and holding back what is behind it,
 * until release() (vg_receiver_cfg).
 */
#include "vg_webhook.h"

#include "vg_fmt_alertmanager.h"
#include "vg_fmt_pagerduty.h"
#include "vg_fmt_slack.h"
#include "vg_format.h"
#include "vg_httpsec.h"
#include "vg_log.h"
#include "vg_outbox.h"
#include "vg_util.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
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
#define WH_DEFAULT_RESEND_MS          60000
#define WH_RESP_KEEP                  200 /* bytes of a rejecting response body worth logging */
#define WH_DROP_LOG_MAX               20  /* per-notification lines when destroy() drops many */
#define WH_RESEND_BATCH               64  /* alerts per alertmanager re-send request */

/* Resolves are taken this far past queue_max (a tenth of it, at least WH_RESOLVE_HEADROOM_MIN;
 * the queue's bound is thus queue_max plus this for resolves): each ends an incident that a full
 * queue would otherwise leave open, and a storm's firings must not crowd out the resolves of alerts
 * already delivered (docs/alerts.md, "Bounds"). */
#define WH_RESOLVE_HEADROOM_DIV 10
#define WH_RESOLVE_HEADROOM_MIN 16

struct rx_type {
    const char *name;
    vg_format_fn format;
    const char *default_url; /* NULL: url is required */
    double rate_per_s;       /* defaults: what the service documents, or a polite 10/s */
    int burst;
    int url_is_secret; /* the whole path is the credential (Slack): log scheme://host/... only */
    int resends;       /* alertmanager: keep firing alerts alive by re-sending them */
};

static const struct rx_type T_WEBHOOK = {"webhook", vg_fmt_webhook, NULL, 10, 20, 0, 0};
static const struct rx_type T_AM = {"alertmanager", vg_am_format, NULL, 10, 20, 0, 1};
/* PagerDuty allows about 120 events a minute per routing key and answers 429 beyond. */
static const struct rx_type T_PD = {"pagerduty", vg_pd_format, VG_PD_DEFAULT_URL, 2, 20, 0, 0};
/* Slack allows one message a second per incoming webhook, with short bursts. */
static const struct rx_type T_SLACK = {"slack", vg_slack_format, NULL, 1, 5, 1, 0};

struct wh_item {
    struct wh_item *next;
    uint64_t seq; /* its record in the outbox; 0 when it has none */
    /* Alertmanager: not to enter the re-send table once delivered (its host was handed over, its
     * resolve refused, or it was replayed from the outbox). Under mu: set by other threads while
     * the thread may deliver it. */
    int untrack;
    /* Delivery state, the thread's own (overdue is also read under mu). */
    uint64_t fph;    /* hash of the fingerprint, for the per-alert order; never 0 */
    int64_t born_ms; /* wall clock when the analyzer produced it: its age, for max_age */
    int attempts;    /* failed attempts so far */
    int64_t next_ms; /* monotonic time of its next attempt; 0: at once */
    int overdue;     /* failed max_attempts times (keep_retrying): no longer holds others back */
    int tries;       /* failed attempts in this process: max_age needs max_attempts of them */
    /* Under mu. A resolve whose replaced firings are being acknowledged in the outbox: it is not
     * attempted before they are, or a crash in between could leave it done and a firing pending,
     * replayed alone at the next start with nothing to resolve it. */
    int hold;
    /* Such an acknowledgement failed: the resolve is never acknowledged itself in this run, so
     * that the next start finds both pending and replays the resolve alone. Under mu. */
    int keep;
    /* Under mu. group_commit: submitted since the last release(), not attempted before it (the
     * caller's own record of it is not durable yet); holds back what is behind it, as hold. */
    int staged;
    /* During replay only: the firings it replaced, to acknowledge once the walk is over. */
    struct wh_item *replaced;
    /* Under mu. hold_firings: a firing whose host was handed over while it was queued, the
     * receiver working then: held as soon as an attempt (its own or another's) fails, rather than
     * retried (wh_forget_host). */
    int forgotten;
    /* Its strings and arrays live in the same allocation, right after the struct. */
    struct vg_notification n;
};

/* Alertmanager: firing alerts to drop from the re-send table, by host or by fingerprint, recorded
 * by other threads and applied by the delivery thread, which alone owns the table. */
struct wh_forget {
    struct wh_forget *next;
    int by_host; /* key is a host; else a fingerprint */
    char key[];
};

struct wh_resp {
    char buf[WH_RESP_KEEP + 1];
    size_t len;
};

/* OUT_RETRY: the attempt failed and the item stays queued; its next_ms says when to try again. */
enum outcome { OUT_DELIVERED, OUT_DROPPED, OUT_RETRY, OUT_INTERRUPTED };

struct webhook {
    const struct rx_type *t;
    char *name;
    char *url;
    char *log_url; /* url without credentials or query string: those often hold secrets */
    int hide_path; /* log scheme://host[:port]/... only: Slack's path, a URL read from a file */
    char qname[80], qurl[600]; /* quoted for log lines */
    int64_t timeout_ms;
    int64_t connect_timeout_ms;
    int64_t backoff_initial_ms;
    int64_t backoff_max_ms;
    int max_attempts;
    int keep_retrying;  /* retryable failures never drop a notification, max_age_ms may */
    int coalesce;       /* a resolve replaces its firing while that is queued, not in flight */
    int hold_firings;   /* firings that may be stale wait for adopt() (vg_receiver_cfg) */
    int adopt_at_start; /* held firings are settled by adopt() and restored(), not by their age */
    int group_commit;   /* submit() does not fdatasync the outbox; flush() does (vg_receiver_cfg) */
    /* group_commit: notifications written to the outbox since the last flush(); under
     * submit_mu. */
    size_t unflushed;
    size_t n_staged; /* group_commit: queued items still staged (wh_item.staged); under mu */
    int stopped;     /* wh_stop has run: the thread is gone, the counts are final */
    int64_t max_age_ms;
    size_t queue_max;
    char *secret; /* webhook: HMAC key; pagerduty: routing key */
    size_t secret_len;
    char *generator_url;
    int64_t resend_ms;
    struct vg_outbox *ob;

    /* The thread's last attempt was at an overdue item: a fresh one that is due goes next. */
    int last_overdue;

    /* Token bucket; used by the delivery thread only. */
    double rate, burst, tokens;
    int64_t tokens_ms;

    /* Alertmanager: firing alerts that were delivered and not yet resolved. Thread only. */
    struct wh_item **firing;
    size_t n_firing, cap_firing;
    int64_t next_resend;
    int firing_full_logged;

    /* Serialises submitters, so that the outbox and the queue hold the same order. */
    pthread_mutex_t submit_mu;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* to the thread: an item arrived, or stop */
    pthread_cond_t idle; /* to destroy(): the queue became empty */
    struct wh_item *head, *tail;
    struct wh_item *inflight;  /* the item the thread is attempting: not to be coalesced */
    size_t count;              /* includes the head while it is being delivered */
    struct wh_forget *forgets; /* for the thread: what to drop from the firing table */
    /* hold_firings: firings not sent until adopt() names their alert, oldest first; not in
     * count, their outbox records still pending; at most queue_max. */
    struct wh_item *held, *held_last;
    size_t n_held;
    int any_forgotten; /* an item in the queue may be forgotten; under mu */
    /* Wall clock before which no held firing is max_age_ms old (0: none can be): the thread
     * looks for expired ones from then on. Never later than the true time. */
    int64_t held_due_ms;
    struct vg_action_stats st;
    int stop;
    int full_logged;
    int outbox_err_logged;
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

/* Every line names the receiver type in its message ("pagerduty attempt failed, will retry") and
 * starts with receiver= and url=, so that one grep finds one receiver's story. */
__attribute__((format(printf, 4, 5))) static void rlog(struct webhook *w, enum vg_log_level lvl,
                                                       const char *what, const char *fmt, ...)
{
    char msg[160], kv[1400];
    snprintf(msg, sizeof(msg), "%s %s", w->t->name, what);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(kv, sizeof(kv), fmt, ap);
    va_end(ap);
    vg_log(lvl, msg, "receiver=%s url=%s%s%s", w->qname, w->qurl, kv[0] ? " " : "", kv);
}

static struct timespec mono_deadline(int64_t ms_from_now)
{
    struct timespec ts;
    if (ms_from_now < 0)
        ms_from_now = 0;
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

/* One malloc holding the item, its arrays and every string, so a queued notification is freed
 * with a single free() and never points into the caller's memory. */
static struct wh_item *item_copy(const struct vg_notification *n)
{
    size_t nl = n->n_labels;
    size_t nt = n->top_metrics ? n->n_top_metrics : 0;
    size_t na = n->annotation_keys && n->annotation_values ? n->n_annotations : 0;
    size_t strs = slen(n->status) + slen(n->alertname) + slen(n->host) + slen(n->series) +
                  slen(n->fingerprint) + slen(n->severity) + slen(n->summary);
    for (size_t i = 0; i < nl; i++) {
        strs += slen(n->label_keys ? n->label_keys[i] : NULL);
        strs += slen(n->label_values ? n->label_values[i] : NULL);
    }
    for (size_t i = 0; i < nt; i++)
        strs += slen(n->top_metrics[i].name);
    for (size_t i = 0; i < na; i++)
        strs += slen(n->annotation_keys[i]) + slen(n->annotation_values[i]);
    if (nl > (SIZE_MAX / 4 - strs - sizeof(struct wh_item)) / (2 * sizeof(char *)) ||
        nt > (SIZE_MAX / 4) / sizeof(struct vg_top_metric) ||
        na > (SIZE_MAX / 4) / (2 * sizeof(char *)))
        return NULL;
    /* The top metrics first: their doubles want the alignment the item gives. */
    size_t arrays =
        nt * sizeof(struct vg_top_metric) + 2 * nl * sizeof(char *) + 2 * na * sizeof(char *);
    struct wh_item *it = malloc(sizeof(*it) + arrays + strs);
    if (!it)
        return NULL;
    struct vg_top_metric *top = (struct vg_top_metric *)(it + 1);
    const char **keys = (const char **)(top + nt);
    const char **vals = keys + nl;
    const char **akeys = vals + nl;
    const char **avals = akeys + na;
    char *p = (char *)(avals + na);

    it->next = NULL;
    it->seq = 0;
    it->untrack = 0;
    it->attempts = 0;
    it->next_ms = 0;
    it->overdue = 0;
    it->tries = 0;
    it->hold = 0;
    it->keep = 0;
    it->replaced = NULL;
    it->forgotten = 0;
    it->staged = 0;
    it->born_ms = n->accepted_ms > 0 ? n->accepted_ms : vg_now_ms();
    /* FNV-1a: two alerts that collide only wait for each other, which is safe. */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const char *c = n->fingerprint ? n->fingerprint : ""; *c; c++)
        h = (h ^ (unsigned char)*c) * 0x100000001b3ULL;
    it->fph = h ? h : 1;
    it->n = *n;
    it->n.status = scopy(&p, n->status);
    it->n.alertname = scopy(&p, n->alertname);
    it->n.host = scopy(&p, n->host);
    it->n.series = scopy(&p, n->series);
    it->n.fingerprint = scopy(&p, n->fingerprint);
    it->n.severity = scopy(&p, n->severity);
    it->n.summary = scopy(&p, n->summary);
    for (size_t i = 0; i < nl; i++) {
        keys[i] = scopy(&p, n->label_keys ? n->label_keys[i] : NULL);
        vals[i] = scopy(&p, n->label_values ? n->label_values[i] : NULL);
    }
    for (size_t i = 0; i < nt; i++) {
        top[i] = n->top_metrics[i];
        top[i].name = scopy(&p, n->top_metrics[i].name);
    }
    it->n.label_keys = nl ? keys : NULL;
    it->n.label_values = nl ? vals : NULL;
    it->n.top_metrics = nt ? top : NULL;
    it->n.n_top_metrics = nt;
    for (size_t i = 0; i < na; i++) {
        akeys[i] = scopy(&p, n->annotation_keys[i]);
        avals[i] = scopy(&p, n->annotation_values[i]);
    }
    it->n.annotation_keys = na ? akeys : NULL;
    it->n.annotation_values = na ? avals : NULL;
    it->n.n_annotations = na;
    /* Routing is the analyzer's business and its arrays are only borrowed. */
    it->n.receivers = NULL;
    it->n.n_receivers = 0;
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

/* Some receivers echo the request in their error answer, and a PagerDuty request holds the
 * routing key: blank it out of the logged answer, also where the 200-byte cut left only its
 * beginning. */
static void redact(char *buf, const char *secret, size_t slen_)
{
    if (!secret || slen_ < 4)
        return;
    size_t n = strlen(buf);
    for (size_t i = 0; i < n; i++) {
        size_t m = n - i < slen_ ? n - i : slen_;
        if (m >= 4 && memcmp(buf + i, secret, m) == 0) {
            memset(buf + i, '*', m);
            i += m - 1;
        }
    }
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

/* A wait that returns early (1) when destroy() says stop. */
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

/* Token bucket: waits (it never drops) until the receiver's rate allows one more request.
 * Returns 1 when destroy() interrupted the wait. */
static int take_token(struct webhook *w)
{
    if (w->rate <= 0)
        return 0;
    int waited = 0;
    for (;;) {
        int64_t now = vg_mono_ms();
        w->tokens += (double)(now - w->tokens_ms) * w->rate / 1000.0;
        if (w->tokens > w->burst)
            w->tokens = w->burst;
        w->tokens_ms = now;
        if (w->tokens >= 1.0) {
            w->tokens -= 1.0;
            if (waited)
                bump(w, &w->st.rate_limited);
            return 0;
        }
        int64_t ms = (int64_t)ceil((1.0 - w->tokens) * 1000.0 / w->rate);
        waited = 1;
        if (wait_or_stop(w, ms > 0 ? ms : 1))
            return 1;
    }
}

static struct vg_fmt_ctx fmt_ctx(const struct webhook *w)
{
    struct vg_fmt_ctx c = {
        .url = w->url,
        .generator_url = w->generator_url,
        .now_ms = vg_now_ms(),
        .am_active_ms = 4 * w->resend_ms,
    };
    if (w->t == &T_PD) {
        c.routing_key = w->secret;
    } else if (w->secret) {
        c.secret = (const unsigned char *)w->secret;
        c.secret_len = w->secret_len;
    }
    return c;
}

/* Points the easy handle at req; *hdrs is for unprepare(). 0 or -ENOMEM. */
static int prepare(struct webhook *w, const struct vg_http_req *req, struct curl_slist **hdrs)
{
    struct curl_slist *l = NULL, *h;
    for (size_t i = 0; i <= req->n_headers; i++) {
        /* "Expect:" turns off 100-continue, which only costs a round trip for bodies this
         * small. */
        h = curl_slist_append(l, i < req->n_headers ? req->headers[i] : "Expect:");
        if (!h) {
            curl_slist_free_all(l);
            return -ENOMEM;
        }
        l = h;
    }
    curl_easy_setopt(w->easy, CURLOPT_URL, req->url);
    curl_easy_setopt(w->easy, CURLOPT_HTTPHEADER, l);
    curl_easy_setopt(w->easy, CURLOPT_POSTFIELDS, req->body);
    curl_easy_setopt(w->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    *hdrs = l;
    return 0;
}

static void unprepare(struct webhook *w, struct curl_slist *hdrs)
{
    curl_easy_setopt(w->easy, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(w->easy, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(hdrs);
}

/* One attempt. Returns 1 if destroy() aborted it; else *cc, *http and *retry_after say how it
 * went. */
static int attempt_once(struct webhook *w, CURLcode *cc, long *http, curl_off_t *retry_after)
{
    w->resp.len = 0;
    w->resp.buf[0] = '\0';
    w->curl_err[0] = '\0';
    *http = 0;
    *retry_after = 0;
    if (perform(w, cc))
        return 1;
    if (*cc == CURLE_OK) {
        curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, http);
        curl_easy_getinfo(w->easy, CURLINFO_RETRY_AFTER, retry_after);
    }
    return 0;
}

static void describe(struct webhook *w, CURLcode cc, long http, char *what, size_t n)
{
    if (cc != CURLE_OK) {
        char qe[CURL_ERROR_SIZE + 16];
        vg_log_quote(qe, sizeof(qe), w->curl_err[0] ? w->curl_err : curl_easy_strerror(cc));
        snprintf(what, n, "curl_code=%d error=%s%s", (int)cc, qe,
                 vg_http_is_tls_error(cc) ? " tls_error=1" : "");
    } else if (http >= 300 && http < 400) {
        /* Redirects are not followed (a receiver URL that moved is to be fixed in the config, not
         * chased to wherever an answer points), so say where it points. Shown as the url= is:
         * its query may hold a token. */
        char *loc = NULL, shown[512], q[600];
        curl_easy_getinfo(w->easy, CURLINFO_REDIRECT_URL, &loc);
        if (!loc)
            snprintf(shown, sizeof(shown), "(none)");
        else if (vg_url_redact(loc, w->hide_path, shown, sizeof(shown)) < 0)
            snprintf(shown, sizeof(shown), "(not shown)");
        snprintf(what, n, "status=%ld location=%s redirect_not_followed=1", http,
                 vg_log_quote(q, sizeof(q), shown));
    } else {
        snprintf(what, n, "status=%ld", http);
    }
}

static int is_resolve(const struct vg_notification *n);

/* One attempt at it, the next of its attempts. On a retryable failure it stays queued: OUT_RETRY
 * with it->next_ms set, unless the attempts or max_age say it is given up on (OUT_DROPPED). */
static enum outcome attempt_item(struct webhook *w, struct wh_item *it)
{
    const struct vg_notification *n = &it->n;
    char qfp[256], ferr[VG_ERRLEN], qerr[VG_ERRLEN + 8];
    vg_log_quote(qfp, sizeof(qfp), n->fingerprint ? n->fingerprint : "");

    int attempt = it->attempts + 1;
    if (attempt > 1)
        bump(w, &w->st.retries);
    if (take_token(w))
        return OUT_INTERRUPTED;
    /* Built for each attempt, after any wait: the signature covers the time of sending
     * (X-Vigil-Timestamp), and Alertmanager's endsAt counts from it. */
    struct vg_http_req req = {0};
    struct vg_fmt_ctx ctx = fmt_ctx(w);
    if (w->t->format(n, &ctx, &req, ferr, sizeof(ferr)) < 0) {
        bump(w, &w->st.dropped);
        rlog(w, VG_LOG_ERROR, "notification could not be encoded, dropped",
             "fingerprint=%s reason=%s", qfp, vg_log_quote(qerr, sizeof(qerr), ferr));
        return OUT_DROPPED;
    }
    struct curl_slist *hdrs = NULL;
    if (prepare(w, &req, &hdrs) < 0) {
        vg_http_req_free(&req);
        bump(w, &w->st.dropped);
        rlog(w, VG_LOG_ERROR, "out of memory, notification dropped", "fingerprint=%s", qfp);
        return OUT_DROPPED;
    }
    CURLcode cc;
    long http;
    curl_off_t retry_after;
    int stopped = attempt_once(w, &cc, &http, &retry_after);
    unprepare(w, hdrs);
    vg_http_req_free(&req);
    if (stopped)
        return OUT_INTERRUPTED;
    if (cc == CURLE_OK && http >= 200 && http < 300) {
        bump(w, &w->st.delivered);
        if (attempt > 1)
            rlog(w, VG_LOG_INFO, "delivered after retries", "attempt=%d fingerprint=%s", attempt,
                 qfp);
        return OUT_DELIVERED;
    }
    it->attempts = attempt;
    it->tries++;
    bump(w, &w->st.attempt_errors);
    if (vg_http_is_tls_error(cc))
        bump(w, &w->st.tls_errors);
    if (cc == CURLE_OK && http >= 300 && http < 400)
        bump(w, &w->st.redirects);

    char what[CURL_ERROR_SIZE + 640]; /* a 3xx's location too */
    describe(w, cc, http, what, sizeof(what));
    /* What the receiver answered, on every line about an answer (a 500's body often says
     * why): cut to WH_RESP_KEEP bytes, any echoed secret blanked, quoted. A network error
     * has no answer, hence no body=. */
    char qbody[2 * WH_RESP_KEEP + 16] = "";
    if (cc == CURLE_OK) {
        redact(w->resp.buf, w->secret, w->secret_len);
        memcpy(qbody, " body=", 7);
        vg_log_quote(qbody + 6, sizeof(qbody) - 6, w->resp.buf);
    }
    int retryable = cc != CURLE_OK || http == 408 || http == 429 || (http >= 500 && http < 600);
    if (!retryable) {
        /* A redirect is permanent too (docs/alerts.md): the next attempt would go to the same
         * url. Alertmanager's firing is still re-sent with the others (firing_track). */
        rlog(w, VG_LOG_ERROR,
             http >= 300 && http < 400
                 ? "redirected: redirects are not followed, fix the receiver's url; notification "
                   "dropped (not retried)"
                 : "rejected notification, dropped (not retried)",
             "attempt=%d %s fingerprint=%s%s", attempt, what, qfp, qbody);
        bump(w, &w->st.dropped);
        return OUT_DROPPED;
    }
    if (!w->keep_retrying && attempt >= w->max_attempts) {
        rlog(w, VG_LOG_ERROR, "attempt failed, giving up, notification dropped",
             "attempt=%d %s fingerprint=%s next_delay_ms=none%s", attempt, what, qfp, qbody);
        bump(w, &w->st.dropped);
        return OUT_DROPPED;
    }
    int64_t age = vg_now_ms() - it->born_ms;
    /* With keep_retrying, only one that failed its max_attempts in this process: after a long
     * downtime of the analyzer every replayed notification is past max_age, and one transient
     * failure must not drop them all (a resolve dropped leaves its incident open). Without it
     * (the agent's local alerts) max_attempts gives every notification up above, and max_age
     * gives up a firing at its first failed attempt, never a resolve: a resolve kept in the
     * outbox across a stop longer than max_age, dropped at one 503 after the restart, left its
     * alert firing at the receiver for good (its alert had left the caller's records). */
    if (w->max_age_ms > 0 && age >= w->max_age_ms &&
        (w->keep_retrying ? it->tries >= w->max_attempts : !is_resolve(&it->n))) {
        rlog(w, VG_LOG_ERROR, "attempt failed, notification older than max_age, dropped",
             "attempt=%d %s fingerprint=%s age_ms=%lld max_age_ms=%lld%s", attempt, what, qfp,
             (long long)age, (long long)w->max_age_ms, qbody);
        lock(w);
        w->st.dropped++;
        w->st.expired++;
        unlock(w);
        return OUT_DROPPED;
    }
    /* Overdue, it is retried every backoff_max, as documented: with a small max_attempts its
     * attempt number's own delay would be far shorter, and it would take more than its share of
     * the receiver's attempts and tokens. */
    int od = w->keep_retrying && attempt >= w->max_attempts;
    int64_t delay = next_delay_ms(w, od ? INT_MAX : attempt, http, retry_after);
    if (od && !it->overdue) {
        /* Once, when it stops holding back the others: an operator alerting on
         * vigil_webhook_retrying finds the notification here. */
        lock(w);
        it->overdue = 1;
        w->st.retrying++;
        unlock(w);
        rlog(w, VG_LOG_ERROR,
             "attempt failed, still retrying until delivered or max_age; the notifications "
             "behind it go ahead",
             "attempt=%d %s fingerprint=%s next_delay_ms=%lld max_age_ms=%lld%s", attempt, what,
             qfp, (long long)delay, (long long)w->max_age_ms, qbody);
    } else {
        rlog(w, VG_LOG_WARN, "attempt failed, will retry",
             "attempt=%d %s fingerprint=%s next_delay_ms=%lld%s", attempt, what, qfp,
             (long long)delay, qbody);
    }
    it->next_ms = vg_mono_ms() + delay;
    return OUT_RETRY;
}

/* With mu held: the next item to attempt, or NULL with *due the monotonic time the next one is
 * due (0: none is, until submit() wakes the thread). Items are tried in queue order: the first
 * that is not overdue holds back the rest, while the overdue ones (wherever they stand) are each
 * tried when due, the earliest first, and they take turns with the one holding back the rest.
 * That one is fresh work (next_ms 0) all through a backlog, and always letting it win would leave
 * an overdue item (and the resolve behind it) waiting until the backlog drained, not backoff_max;
 * always letting the overdue ones win would, with enough of them failing slowly or at a low rate
 * limit, keep them due all the time and never let the fresh work go. So after an overdue attempt
 * a due fresh one goes first. An item with an earlier one of its alert still queued is skipped:
 * it goes after that one. A held resolve (hold) or a staged item is not attempted, and still
 * holds back the rest. */
static struct wh_item *pick_locked(struct webhook *w, int64_t now, int64_t *due)
{
    *due = 0;
    struct wh_item *fresh = w->head, *od = NULL;
    uint64_t *seen = NULL;
    size_t cap = 16;
    if (fresh && w->st.retrying) {
        /* Open addressing on the fingerprint hashes walked past. Without memory, strict order
         * is the safe fallback. */
        while (cap < 2 * w->count)
            cap *= 2;
        seen = calloc(cap, sizeof(*seen));
    }
    if (seen) {
        fresh = NULL;
        int held = 0;
        uint64_t overdue = 0;
        for (struct wh_item *it = w->head; it; it = it->next) {
            if (held && overdue >= w->st.retrying)
                break; /* nothing further can go */
            size_t i = (size_t)(it->fph ^ (it->fph >> 29)) & (cap - 1);
            while (seen[i] && seen[i] != it->fph)
                i = (i + 1) & (cap - 1);
            if (seen[i])
                continue; /* an earlier one of its alert goes first */
            seen[i] = it->fph;
            if (it->overdue) {
                overdue++;
                if (!od || it->next_ms < od->next_ms)
                    od = it;
                continue;
            }
            if (!held && !it->hold && !it->staged)
                fresh = it;
            held = 1;
        }
        free(seen);
    } else if (fresh && (fresh->hold || fresh->staged)) {
        fresh = NULL;
    }
    int fresh_due = fresh && fresh->next_ms <= now;
    if (od && od->next_ms <= now && !(fresh_due && w->last_overdue))
        return od;
    if (fresh_due)
        return fresh;
    if (od)
        *due = od->next_ms;
    if (fresh && (!*due || fresh->next_ms < *due))
        *due = fresh->next_ms;
    return NULL;
}

/* With mu held: takes it out of the queue. */
static void unlink_locked(struct webhook *w, struct wh_item *it)
{
    struct wh_item *prev = NULL;
    for (struct wh_item *p = w->head; p && p != it; p = p->next)
        prev = p;
    if (prev)
        prev->next = it->next;
    else
        w->head = it->next;
    if (w->tail == it)
        w->tail = prev;
    it->next = NULL;
    w->count--;
    if (it->overdue)
        w->st.retrying--;
}

/* Alertmanager: remembers what fires (told or not yet told: the outcome of the send does not
 * matter), so that it can be told again before the endsAt we sent passes. Returns 1 when the
 * table took ownership of it. */
static int firing_track(struct webhook *w, struct wh_item *it)
{
    if (!w->t->resends || !it->n.fingerprint)
        return 0;
    size_t i = 0;
    while (i < w->n_firing && strcmp(w->firing[i]->n.fingerprint, it->n.fingerprint) != 0)
        i++;
    int firing = !it->n.status || strcmp(it->n.status, "resolved") != 0;
    if (!firing) {
        if (i < w->n_firing) {
            free(w->firing[i]);
            w->firing[i] = w->firing[--w->n_firing];
        }
        return 0;
    }
    if (i < w->n_firing) {
        free(w->firing[i]);
        w->firing[i] = it;
        return 1;
    }
    if (w->n_firing >= w->queue_max) {
        if (!w->firing_full_logged)
            rlog(w, VG_LOG_WARN,
                 "too many firing alerts to re-send; Alertmanager will resolve the others at "
                 "their endsAt",
                 "limit=%zu", w->queue_max);
        w->firing_full_logged = 1;
        return 0;
    }
    if (w->n_firing == w->cap_firing) {
        size_t nc = w->cap_firing ? 2 * w->cap_firing : 16;
        struct wh_item **f = realloc(w->firing, nc * sizeof(*f));
        if (!f)
            return 0;
        w->firing = f;
        w->cap_firing = nc;
    }
    if (w->n_firing == 0)
        w->next_resend = vg_mono_ms() + w->resend_ms;
    it->next = NULL;
    w->firing[w->n_firing++] = it;
    return 1;
}

static int forget_matches(const struct wh_forget *f, const struct vg_notification *n)
{
    const char *v = f->by_host ? n->host : n->fingerprint;
    return v && strcmp(v, f->key) == 0;
}

/* With mu held: what is queued of f's key is delivered but not tracked, and the thread drops
 * what it tracks of it before its next re-send. f NULL (out of memory): returns -ENOMEM. */
static int forget_locked(struct webhook *w, struct wh_forget *f)
{
    if (!f)
        return -ENOMEM;
    for (struct wh_item *it = w->head; it; it = it->next)
        if (forget_matches(f, &it->n))
            it->untrack = 1;
    f->next = w->forgets;
    w->forgets = f;
    return 0;
}

static struct wh_forget *forget_new(int by_host, const char *key)
{
    size_t n = strlen(key) + 1;
    struct wh_forget *f = malloc(sizeof(*f) + n);
    if (f) {
        f->next = NULL;
        f->by_host = by_host;
        memcpy(f->key, key, n);
    }
    return f;
}

/* Drops from the firing table what forget_locked() recorded since the last call. With mu held:
 * the table is the thread's own, the list is not. */
static void apply_forgets_locked(struct webhook *w)
{
    while (w->forgets) {
        struct wh_forget *f = w->forgets;
        w->forgets = f->next;
        for (size_t i = 0; i < w->n_firing;) {
            if (forget_matches(f, &w->firing[i]->n)) {
                free(w->firing[i]);
                w->firing[i] = w->firing[--w->n_firing];
            } else {
                i++;
            }
        }
        free(f);
    }
}

/* Re-sends every tracked firing alert, WH_RESEND_BATCH per request, one attempt each: the next
 * round is the retry, and endsAt leaves room for several. A batch refused for what is in it (a
 * 4xx other than 408 and 429) does not end the round, or one alert Alertmanager will not take
 * would let every alert in the batches after it lapse; a failure of the receiver itself (transport
 * error, 408, 429, 5xx) or a redirect (its url) does, as the rest would fail alike, each after its
 * timeout. Returns 1 when destroy() interrupted. */
static int resend_firing(struct webhook *w)
{
    for (size_t i = 0; i < w->n_firing; i += WH_RESEND_BATCH) {
        size_t k = w->n_firing - i < WH_RESEND_BATCH ? w->n_firing - i : WH_RESEND_BATCH;
        const struct vg_notification *ns[WH_RESEND_BATCH];
        for (size_t j = 0; j < k; j++)
            ns[j] = &w->firing[i + j]->n;
        struct vg_http_req req = {0};
        struct vg_fmt_ctx ctx = fmt_ctx(w);
        char ferr[VG_ERRLEN];
        struct curl_slist *hdrs = NULL;
        if (vg_am_format_batch(ns, k, &ctx, &req, ferr, sizeof(ferr)) < 0 ||
            prepare(w, &req, &hdrs) < 0) {
            vg_http_req_free(&req);
            rlog(w, VG_LOG_ERROR, "re-send of firing alerts could not be built", "alerts=%zu", k);
            continue;
        }
        int stopped = take_token(w);
        CURLcode cc = CURLE_OK;
        long http = 0;
        curl_off_t ra;
        if (!stopped)
            stopped = attempt_once(w, &cc, &http, &ra);
        unprepare(w, hdrs);
        vg_http_req_free(&req);
        if (stopped)
            return 1;
        if (cc == CURLE_OK && http >= 200 && http < 300) {
            lock(w);
            w->st.resent += k;
            unlock(w);
            continue;
        }
        bump(w, &w->st.attempt_errors);
        if (vg_http_is_tls_error(cc))
            bump(w, &w->st.tls_errors);
        char what[CURL_ERROR_SIZE + 640]; /* a 3xx's location too */
        describe(w, cc, http, what, sizeof(what));
        /* A redirect says alertmanager.url points elsewhere, not that Alertmanager refused
         * these alerts: every batch would be redirected alike, so the round ends as for a
         * receiver down, and the alerts stay tracked for the next round until the url is fixed
         * or the redirect goes. */
        int moved = cc == CURLE_OK && http >= 300 && http < 400;
        if (moved) {
            bump(w, &w->st.redirects);
            rlog(w, VG_LOG_ERROR,
                 "re-send of firing alerts redirected: redirects are not followed, fix the "
                 "receiver's url; the next round retries",
                 "alerts=%zu %s next_round_ms=%lld", k, what, (long long)w->resend_ms);
        } else {
            rlog(w, VG_LOG_WARN, "re-send of firing alerts failed, the next round retries",
                 "alerts=%zu %s next_round_ms=%lld", k, what, (long long)w->resend_ms);
        }
        if (moved || cc != CURLE_OK || http == 408 || http == 429 || http >= 500)
            break;
    }
    return 0;
}

/* Marks it done in the outbox, if it has a record there. 0, or the failed ack's -errno (logged:
 * it may then be sent again after a restart). Not under mu. */
static int ack_item(struct webhook *w, const struct wh_item *it)
{
    if (!it->seq)
        return 0;
    int rc = vg_outbox_ack(w->ob, it->seq);
    if (rc < 0) {
        char q[512], qe[128];
        rlog(w, VG_LOG_WARN,
             "outbox acknowledgement failed; the notification may be sent again after a restart",
             "file=%s seq=%llu error=%s", vg_log_quote(q, sizeof(q), vg_outbox_path(w->ob)),
             (unsigned long long)it->seq, vg_log_quote(qe, sizeof(qe), strerror(-rc)));
    }
    return rc;
}

static void log_coalesced(struct webhook *w, const struct wh_item *q)
{
    char qfp[256], qh[256];
    rlog(w, VG_LOG_DEBUG, "firing not sent: its resolve arrived while it was queued",
         "fingerprint=%s host=%s repeat=%u", vg_log_quote(qfp, sizeof(qfp), q->n.fingerprint),
         vg_log_quote(qh, sizeof(qh), q->n.host ? q->n.host : ""), (unsigned)q->n.repeat);
}

static int is_resolve(const struct vg_notification *n)
{
    return n->status && strcmp(n->status, "resolved") == 0;
}

static size_t wh_resolve_headroom(size_t queue_max)
{
    size_t h = queue_max / WH_RESOLVE_HEADROOM_DIV;
    return h > WH_RESOLVE_HEADROOM_MIN ? h : WH_RESOLVE_HEADROOM_MIN;
}

/* Whether q is a firing of res's alert episode (same fingerprint and starts_at). */
static int same_episode(const struct wh_item *q, const struct wh_item *res)
{
    return !is_resolve(&q->n) && q->n.fingerprint && res->n.fingerprint &&
           strcmp(q->n.fingerprint, res->n.fingerprint) == 0 &&
           q->n.starts_at_ms == res->n.starts_at_ms;
}

/* With mu held: a queued resolve that may replace the firing it (same episode, behind it), or
 * NULL. Not one in memory only (its outbox write failed): acknowledging the firing would then
 * leave a crash nothing of the alert. */
static struct wh_item *resolve_behind_locked(struct webhook *w, struct wh_item *it)
{
    if (is_resolve(&it->n) || !it->n.fingerprint)
        return NULL;
    for (struct wh_item *q = it->next; q; q = q->next)
        if (is_resolve(&q->n) && same_episode(it, q) && (!w->ob || q->seq))
            return q;
    return NULL;
}

/* With mu held: appends it to the held firings. Past queue_max of them the oldest leaves (counted
 * in dropped) onto *over, for held_over() once mu is released: held firings are bounded apart from
 * the queue, so that neither takes the other's room. */
static void hold_locked(struct webhook *w, struct wh_item *it, struct wh_item **over)
{
    it->next = NULL;
    it->forgotten = 0;
    if (it->staged) { /* held now, until adopt() says whether it goes at all */
        it->staged = 0;
        w->n_staged--;
    }
    if (w->held_last)
        w->held_last->next = it;
    else
        w->held = it;
    w->held_last = it;
    w->n_held++;
    if (w->max_age_ms > 0 && !w->adopt_at_start) {
        int64_t due = it->born_ms + w->max_age_ms;
        if (!w->held_due_ms || due < w->held_due_ms)
            w->held_due_ms = due;
    }
    if (w->n_held <= w->queue_max)
        return;
    struct wh_item *old = w->held;
    w->held = old->next;
    if (!w->held)
        w->held_last = NULL;
    w->n_held--;
    w->st.dropped++;
    old->next = *over;
    *over = old;
}

/* The held firings hold_locked() pushed out: logged, marked done in the outbox, freed. Not under
 * mu. */
static void held_over(struct webhook *w, struct wh_item *list)
{
    size_t k = 0;
    char qfp[256] = "\"\"";
    for (struct wh_item *q = list; q; q = q->next)
        if (!k++)
            vg_log_quote(qfp, sizeof(qfp), q->n.fingerprint);
    if (k)
        rlog(w, VG_LOG_WARN,
             "held firings dropped: more than queue_max held, the oldest go (their alerts were "
             "not taken over here)",
             "count=%zu queue_max=%zu fingerprint=%s", k, w->queue_max, qfp);
    for (struct wh_item *q = list, *next; q; q = next) {
        next = q->next;
        ack_item(w, q);
        free(q);
    }
}

/* With mu held: takes out the held firings max_age_ms old at now (wall clock), counted in dropped
 * and expired, for held_expired() once mu is released. Looks only once held_due_ms has come, and
 * sets it again. */
static struct wh_item *held_expire_locked(struct webhook *w, int64_t now)
{
    if (!w->held_due_ms || now < w->held_due_ms)
        return NULL;
    struct wh_item *out = NULL, **tail = &out;
    int64_t due = 0;
    w->held_last = NULL;
    for (struct wh_item **p = &w->held; *p;) {
        struct wh_item *it = *p;
        int64_t d = it->born_ms + w->max_age_ms;
        if (now >= d) {
            *p = it->next;
            it->next = NULL;
            *tail = it;
            tail = &it->next;
            w->n_held--;
            w->st.dropped++;
            w->st.expired++;
        } else {
            if (!due || d < due)
                due = d;
            w->held_last = it;
            p = &it->next;
        }
    }
    w->held_due_ms = due;
    return out;
}

/* Held firings past max_age: nothing will adopt them in time to matter, and they would keep their
 * outbox records pending until a restart. Logged, marked done, freed. Not under mu. */
static void held_expired(struct webhook *w, struct wh_item *list, int64_t now)
{
    for (struct wh_item *q = list, *next; q; q = next) {
        next = q->next;
        char qfp[256], qh[256];
        rlog(w, VG_LOG_WARN, "held firing older than max_age, dropped",
             "fingerprint=%s host=%s age_ms=%lld max_age_ms=%lld",
             vg_log_quote(qfp, sizeof(qfp), q->n.fingerprint),
             vg_log_quote(qh, sizeof(qh), q->n.host ? q->n.host : ""),
             (long long)(now - q->born_ms), (long long)w->max_age_ms);
        ack_item(w, q);
        free(q);
    }
}

/* With mu held: whether a queued firing is held back behind a held one of its alert. */
static int behind_held_locked(const struct webhook *w, const struct wh_item *it)
{
    for (const struct wh_item *h = w->held; h; h = h->next)
        if (strcmp(h->n.fingerprint, it->n.fingerprint) == 0)
            return 1;
    return 0;
}

/* With mu held: holds the queued firings of hosts handed over (forgotten), all of them when
 * failing (the receiver is not taking this analyzer's requests: they would go through after the
 * new owner's resolve, once it takes them again), else those behind a held one of their alert,
 * which must not overtake it. Not the one in flight, which OUT_RETRY holds if it fails. Returns
 * how many. */
static size_t hold_forgotten_locked(struct webhook *w, int failing, struct wh_item **over)
{
    size_t k = 0, left = 0;
    if (!w->any_forgotten)
        return 0;
    for (struct wh_item *it = w->head, *next; it; it = next) {
        next = it->next;
        if (!it->forgotten)
            continue;
        if (it == w->inflight || (!failing && !behind_held_locked(w, it))) {
            left++;
            continue;
        }
        unlink_locked(w, it);
        hold_locked(w, it, over);
        k++;
    }
    w->any_forgotten = left > 0;
    if (k && w->count == 0)
        pthread_cond_broadcast(&w->idle);
    return k;
}

static void *run(void *arg)
{
    struct webhook *w = arg;
    lock(w);
    for (;;) {
        if (w->stop)
            break;
        apply_forgets_locked(w); /* before a re-send, so that it leaves out hosts handed over */
        int64_t wall = vg_now_ms();
        struct wh_item *expired = held_expire_locked(w, wall);
        if (expired) {
            unlock(w);
            held_expired(w, expired, wall);
            lock(w);
            continue;
        }
        if (w->n_firing && vg_mono_ms() >= w->next_resend) {
            unlock(w);
            int stopped = resend_firing(w);
            w->next_resend = vg_mono_ms() + w->resend_ms;
            lock(w);
            if (stopped)
                break;
            continue;
        }
        int64_t now = vg_mono_ms(), due = 0;
        struct wh_item *it = pick_locked(w, now, &due);
        if (!it) {
            /* Nothing due: sleep until the next retry or re-send, or until submit() or
             * destroy() wakes us. */
            if (w->n_firing && (!due || w->next_resend < due))
                due = w->next_resend;
            if (w->held_due_ms) { /* on the wall clock, which max_age counts on */
                int64_t until = now + (w->held_due_ms > wall ? w->held_due_ms - wall : 1);
                if (!due || until < due)
                    due = until;
            }
            if (due) {
                struct timespec until = mono_deadline(due - now);
                pthread_cond_timedwait(&w->wake, &w->mu, &until);
            } else {
                pthread_cond_wait(&w->wake, &w->mu);
            }
            continue;
        }
        w->inflight = it;
        w->last_overdue = it->overdue;
        unlock(w);
        enum outcome out = attempt_item(w, it);
        if (out == OUT_INTERRUPTED) {
            lock(w);
            w->inflight = NULL;
            break;
        }
        if (out == OUT_RETRY) {
            lock(w);
            struct wh_item *res = w->coalesce ? resolve_behind_locked(w, it) : NULL;
            if (res) {
                /* Its resolve was submitted while it was in flight, so it queued behind it; the
                 * firing failed, and waiting for it would hold the resolve back until the
                 * receiver takes the firing, or until max_age. The resolve goes alone, as it
                 * would have had the firing still been queued. Acknowledged first, while it
                 * still holds the resolve back, so that a crash cannot leave the resolve done
                 * and the firing pending. */
                unlock(w);
                int keep = ack_item(w, it) < 0;
                lock(w);
                res->keep |= keep;
                unlink_locked(w, it);
                w->st.coalesced++;
                w->inflight = NULL;
                unlock(w);
                log_coalesced(w, it);
                free(it);
                lock(w);
                continue;
            }
            w->inflight = NULL;
            /* The receiver is failing now: firings of hosts handed over while it worked (this
             * one, in flight then, among them) would go through after their new owner's
             * resolve once it takes them again. Held. */
            struct wh_item *over = NULL;
            size_t k = hold_forgotten_locked(w, 1, &over);
            if (k) {
                unlock(w);
                rlog(w, VG_LOG_WARN,
                     "firings of hosts handed over held back: an attempt failed, and their new "
                     "owners take the alerts over (sent if a host comes back still firing)",
                     "count=%zu", k);
                held_over(w, over);
                lock(w);
            }
            continue;
        }
        lock(w);
        int keep = it->keep;
        unlock(w);
        if (keep) {
            char q[512];
            rlog(w, VG_LOG_WARN,
                 "resolve kept in the outbox: a firing it replaced could not be marked done "
                 "there, and the next start must find both to replay the resolve alone",
                 "file=%s seq=%llu", vg_log_quote(q, sizeof(q), vg_outbox_path(w->ob)),
                 (unsigned long long)it->seq);
        } else {
            ack_item(w, it);
        }
        lock(w);
        w->inflight = NULL;
        unlink_locked(w, it);
        if (w->count == 0)
            pthread_cond_broadcast(&w->idle);
        int untrack = it->untrack;
        apply_forgets_locked(w); /* before tracking anything submitted after the forget */
        unlock(w);
        /* Whatever the outcome, as Prometheus does: a firing the receiver did not take (an
         * outage longer than the retries) is re-sent with the others once it answers again,
         * and a resolve that did not get through still stops the re-sends, so Alertmanager
         * resolves the alert at the endsAt it last got rather than being kept firing. */
        (void)out;
        if (untrack || !firing_track(w, it))
            free(it);
        lock(w);
    }
    unlock(w);
    return NULL;
}

/* The log form of the url (vg_url_redact, which --check-config shows too), from libcurl's own
 * rendering of it, so that what is shown is the host libcurl connects to. */
static char *redact_url(CURLU *u, int hide_path)
{
    char *full = NULL, *out = NULL;
    if (curl_url_get(u, CURLUPART_URL, &full, 0) == CURLUE_OK) {
        size_t n = strlen(full) + 8; /* "/..." or "?..." may replace less */
        if ((out = malloc(n)) && vg_url_redact(full, hide_path, out, n) < 0) {
            free(out);
            out = NULL;
        }
    }
    curl_free(full);
    return out;
}

/* key: the url's config key, named in errors. */
static int parse_url(struct webhook *w, const char *key, const char *url, char *err, size_t errlen)
{
    const char *tn = key;
    if (!url || !*url)
        return vg_err(err, errlen, -EINVAL, "%s is required", tn);
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
        /* Only the scheme is echoed: the rest of a webhook url is often a secret. */
        const char *colon = strstr(url, "://");
        int n = colon ? (int)(colon - url) : 0;
        if (n > 16)
            n = 16;
        if (colon)
            return vg_err(err, errlen, -EINVAL,
                          "%s must start with http:// or https:// (got %.*s://)", tn, n, url);
        return vg_err(err, errlen, -EINVAL,
                      "%s must start with http:// or https:// (it has no scheme)", tn);
    }
    CURLU *u = curl_url();
    if (!u)
        return vg_err(err, errlen, -ENOMEM, "%s: out of memory", tn);
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
    char *host = NULL;
    if (uc == CURLUE_OK)
        uc = curl_url_get(u, CURLUPART_HOST, &host, 0);
    if (uc != CURLUE_OK || !host || !*host) {
        curl_free(host);
        curl_url_cleanup(u);
        return vg_err(err, errlen, -EINVAL, "%s is not a valid URL: %s", tn,
                      uc != CURLUE_OK ? curl_url_strerror(uc) : "no host");
    }
    curl_free(host);
    w->url = strdup(url);
    w->log_url = redact_url(u, w->hide_path);
    curl_url_cleanup(u);
    if (!w->url || !w->log_url)
        return vg_err(err, errlen, -ENOMEM, "%s: out of memory", tn);
    return 0;
}

static void free_webhook(struct webhook *w)
{
    if (w->easy)
        curl_easy_cleanup(w->easy);
    if (w->multi)
        curl_multi_cleanup(w->multi);
    for (struct wh_item *it = w->head, *next; it; it = next) {
        next = it->next;
        free(it);
    }
    for (struct wh_item *it = w->held, *next; it; it = next) {
        next = it->next;
        free(it);
    }
    for (size_t i = 0; i < w->n_firing; i++)
        free(w->firing[i]);
    free(w->firing);
    for (struct wh_forget *f = w->forgets, *next; f; f = next) {
        next = f->next;
        free(f);
    }
    vg_outbox_close(w->ob);
    vg_action_secret_free(w->secret, w->secret_len);
    free(w->generator_url);
    free(w->name);
    if (w->url) /* it may be a credential (a Slack URL, one read from a *.url_file) */
        explicit_bzero(w->url, strlen(w->url));
    free(w->url);
    free(w->log_url);
    free(w);
}

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static void enqueue_locked(struct webhook *w, struct wh_item *it)
{
    if (w->tail)
        w->tail->next = it;
    else
        w->head = it;
    w->tail = it;
    w->count++;
}

/* With mu held: takes the held firings of fp out, in order; with starts_at_ms >= 0 only those of
 * that episode. Returns the list. */
static struct wh_item *held_take_locked(struct webhook *w, const char *fp, int64_t starts_at_ms)
{
    struct wh_item *out = NULL, **tail = &out;
    if (!fp)
        return NULL;
    w->held_last = NULL;
    for (struct wh_item **p = &w->held; *p;) {
        struct wh_item *it = *p;
        if (strcmp(it->n.fingerprint, fp) == 0 &&
            (starts_at_ms < 0 || it->n.starts_at_ms == starts_at_ms)) {
            *p = it->next;
            it->next = NULL;
            *tail = it;
            tail = &it->next;
            w->n_held--;
        } else {
            w->held_last = it;
            p = &it->next;
        }
    }
    return out;
}

/* Held firings that a later notification of their alert made needless: marked done in the outbox
 * (its record is durable already) and freed; counted in coalesced. Not under mu. Returns
 * whether an acknowledgement failed. */
static int held_drop(struct webhook *w, struct wh_item *list)
{
    int failed = 0;
    for (struct wh_item *q = list, *next; q; q = next) {
        next = q->next;
        lock(w);
        w->st.coalesced++;
        unlock(w);
        log_coalesced(w, q);
        failed |= ack_item(w, q) < 0;
        free(q);
    }
    return failed;
}

/* The resolves the outbox holds as done when it is opened: a firing of theirs still pending
 * there (left so by a crash of an older version between the resolve's ack and the firing's) must
 * not be replayed, or it would open an incident nothing resolves. */
struct done_res {
    char *fp;
    int64_t starts_at_ms;
};

struct replay_ctx {
    struct webhook *w;
    int oom;
    struct wh_item *over; /* held firings past queue_max, to drop once the walk is over */
    struct done_res *done;
    size_t n_done, cap_done;
};

static void replay_done(void *ud, uint64_t seq, const void *payload, size_t len)
{
    struct replay_ctx *rc = ud;
    struct vg_notification n;
    void *arrays = NULL;
    (void)seq;
    if (vg_outbox_decode(payload, len, &n, &arrays) < 0)
        return; /* damaged: it cannot be matched, and it is done anyway */
    if (is_resolve(&n) && n.fingerprint) {
        if (rc->n_done == rc->cap_done) {
            size_t nc = rc->cap_done ? 2 * rc->cap_done : 16;
            struct done_res *d = realloc(rc->done, nc * sizeof(*d));
            if (d) {
                rc->done = d;
                rc->cap_done = nc;
            }
        }
        char *fp = rc->n_done < rc->cap_done ? strdup(n.fingerprint) : NULL;
        if (fp)
            rc->done[rc->n_done++] = (struct done_res){fp, n.starts_at_ms};
        else
            rc->oom = 1;
    }
    free(arrays);
}

static int resolve_was_done(const struct replay_ctx *rc, const struct wh_item *it)
{
    if (is_resolve(&it->n) || !it->n.fingerprint)
        return 0;
    for (size_t i = 0; i < rc->n_done; i++)
        if (rc->done[i].starts_at_ms == it->n.starts_at_ms &&
            strcmp(rc->done[i].fp, it->n.fingerprint) == 0)
            return 1;
    return 0;
}

/* Attempts are not kept in the outbox, and a restart must not forget which notifications were
 * overdue: each would hold back the queue for max_attempts again, and vigil_webhook_retrying
 * would read 0. One accepted longer ago than its max_attempts take (their backoff delays) is
 * taken as having spent them. */
static void replay_overdue(struct webhook *w, struct wh_item *it)
{
    if (!w->keep_retrying)
        return;
    int64_t d = w->backoff_initial_ms, total = 0;
    for (int i = 1; i < w->max_attempts; i++) {
        total += d;
        d = 2 * d < w->backoff_max_ms ? 2 * d : w->backoff_max_ms;
    }
    if (vg_now_ms() - it->born_ms <= total)
        return;
    it->attempts = w->max_attempts;
    it->overdue = 1;
    w->st.retrying++;
}

static struct wh_item *coalesce_locked(struct webhook *w, struct wh_item *res, int *placed);

static int replay_one(void *ud, uint64_t seq, const void *payload, size_t len)
{
    struct replay_ctx *rc = ud;
    struct webhook *w = rc->w;
    struct vg_notification n;
    void *arrays = NULL;
    int r = vg_outbox_decode(payload, len, &n, &arrays);
    if (r == -ENOMEM) {
        rc->oom = 1;
        return 0;
    }
    if (r < 0) {
        char q[512];
        w->st.dropped++;
        rlog(w, VG_LOG_ERROR, "outbox record cannot be decoded, dropped",
             "file=%s seq=%llu bytes=%zu", vg_log_quote(q, sizeof(q), vg_outbox_path(w->ob)),
             (unsigned long long)seq, len);
        return 1;
    }
    struct wh_item *it = item_copy(&n);
    free(arrays);
    if (!it) {
        rc->oom = 1;
        return 0;
    }
    it->seq = seq;
    if (resolve_was_done(rc, it)) {
        char qfp[256];
        rlog(w, VG_LOG_INFO, "outbox firing not replayed: its resolve was already delivered",
             "fingerprint=%s seq=%llu", vg_log_quote(qfp, sizeof(qfp), it->n.fingerprint),
             (unsigned long long)seq);
        w->st.coalesced++;
        free(it);
        return 1;
    }
    if (w->hold_firings && !is_resolve(&it->n) && it->n.fingerprint) {
        /* Not sent blindly: while this analyzer was down its host may have gone to another,
         * which resolved the alert; delivered now, the firing would open an incident after its
         * resolve. Held until the state restore hands the alert back here as firing (adopt),
         * which a restored firing alert does; its record stays pending meanwhile. With
         * adopt_at_start whatever its age: adopt() decides right away, and an old firing of the
         * episode the caller still holds as firing is the one page its ongoing alert gets
         * (dropped here, the alert was taken over as sent, and never paged). */
        int64_t age = vg_now_ms() - it->born_ms;
        if (w->max_age_ms > 0 && age >= w->max_age_ms && !w->adopt_at_start) {
            char qfp[256];
            rlog(w, VG_LOG_WARN, "outbox firing older than max_age not replayed, dropped",
                 "fingerprint=%s seq=%llu age_ms=%lld max_age_ms=%lld",
                 vg_log_quote(qfp, sizeof(qfp), it->n.fingerprint), (unsigned long long)seq,
                 (long long)age, (long long)w->max_age_ms);
            w->st.dropped++;
            w->st.expired++;
            free(it);
            return 1;
        }
        hold_locked(w, it, &rc->over);
        w->st.replayed++;
        return 0;
    }
    replay_overdue(w, it);
    /* Alertmanager: delivered once, never re-sent from here. The re-send table is not persisted,
     * and whether the alert still fires is the analyzer's to say (it hands one over again through
     * adopt, which tracks it); tracked, a firing whose resolve went out before the restart (its
     * acknowledgement failed), or whose host no analyzer holds now, would be kept firing for
     * good. */
    if (w->t->resends && !is_resolve(&it->n))
        it->untrack = 1;
    /* Both pending (the resolve was queued while the firing was in flight, or the firing's ack
     * had failed): the resolve goes alone, as it would have before the restart. */
    int placed = 0;
    if (w->coalesce && is_resolve(&it->n) && it->n.fingerprint) {
        it->replaced = coalesce_locked(w, it, &placed);
        /* Held firings of its alert: the resolve says they are over. */
        struct wh_item *h = held_take_locked(w, it->n.fingerprint, -1), **t = &it->replaced;
        while (*t)
            t = &(*t)->next;
        *t = h;
        for (; h; h = h->next)
            w->st.coalesced++;
    }
    if (!placed)
        enqueue_locked(w, it);
    w->st.replayed++;
    return 0;
}

static int rx_create(const struct rx_type *t, void **inst, const struct vg_receiver_cfg *cfg,
                     char *err, size_t errlen)
{
    const char *tn = t->name;
    *inst = NULL;
    if (!cfg)
        return vg_err(err, errlen, -EINVAL, "%s: no configuration", tn);
    if (cfg->type && strcmp(cfg->type, tn) != 0)
        return vg_err(err, errlen, -EINVAL, "%s: configuration is for type %.32s", tn, cfg->type);
    if (cfg->timeout_ms < 0 || cfg->connect_timeout_ms < 0 || cfg->max_attempts < 0 ||
        cfg->backoff_initial_ms < 0 || cfg->backoff_max_ms < 0 || cfg->resend_interval_ms < 0 ||
        cfg->max_age_ms < 0)
        return vg_err(err, errlen, -EINVAL,
                      "%s: timeouts, max_attempts, backoff, resend_interval and max_age must not "
                      "be negative",
                      tn);
    if (cfg->burst < 0 || isnan(cfg->rate_per_s))
        return vg_err(err, errlen, -EINVAL, "%s: burst must not be negative", tn);
    if (cfg->name && !name_ok(cfg->name))
        return vg_err(err, errlen, -EINVAL,
                      "%s: receiver name must be 1..64 of [A-Za-z0-9._-], not starting with '.'",
                      tn);
    if (cfg->secret_file && t != &T_WEBHOOK)
        return vg_err(err, errlen, -EINVAL,
                      "%s: secret_file signs generic webhook requests; this type has no use for "
                      "it",
                      tn);
    if (cfg->routing_key_file && t != &T_PD)
        return vg_err(err, errlen, -EINVAL, "%s: routing_key_file is for pagerduty receivers", tn);
    if (t == &T_PD && !cfg->routing_key_file)
        return vg_err(err, errlen, -EINVAL,
                      "pagerduty: routing_key_file is required (the integration key, one line)");
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return vg_err(err, errlen, -EIO, "%s: curl_global_init failed: %s", tn,
                      curl_easy_strerror(curl_init_rc));

    struct webhook *w = calloc(1, sizeof(*w));
    if (!w)
        return vg_err(err, errlen, -ENOMEM, "%s: out of memory", tn);
    w->t = t;
    w->hide_path = t->url_is_secret || cfg->url_hide_path;
    char key[1024], plain[96], cakey[96];
    const char *pre = cfg->key_prefix;
    if (cfg->url_key)
        snprintf(key, sizeof key, "%s", cfg->url_key);
    else
        snprintf(key, sizeof key, "%s.url", pre ? pre : tn);
    int rc = parse_url(w, key, cfg->url ? cfg->url : t->default_url, err, errlen);
    if (rc == 0) {
        /* The same checks as the analyzer's config check, so that no path skips them. */
        snprintf(plain, sizeof plain, "%s.allow_plain_http", pre ? pre : "actions");
        snprintf(cakey, sizeof cakey, "%s.tls_ca_file", pre ? pre : "actions");
        const struct vg_url_policy pol = {cfg->allowed_urls, cfg->allow_plain_http, plain};
        rc = vg_url_policy_check(&pol, key, w->url, w->hide_path, err, errlen);
        if (rc == 0)
            rc = vg_http_ca_file_check(cfg->tls_ca_file, cakey, err, errlen);
    }
    if (rc < 0) {
        free_webhook(w);
        return rc;
    }
    w->name = strdup(cfg->name ? cfg->name : tn);
    w->generator_url = cfg->generator_url ? strdup(cfg->generator_url) : NULL;
    if (!w->name || (cfg->generator_url && !w->generator_url)) {
        free_webhook(w);
        return vg_err(err, errlen, -ENOMEM, "%s: out of memory", tn);
    }
    vg_log_quote(w->qname, sizeof(w->qname), w->name);
    vg_log_quote(w->qurl, sizeof(w->qurl), w->log_url);
    if (cfg->secret_file || cfg->routing_key_file) {
        char what[96];
        snprintf(what, sizeof what, "%s%s", cfg->key_prefix ? cfg->key_prefix : tn,
                 t == &T_PD ? ".routing_key_file" : ".secret_file");
        rc = vg_action_read_secret(t == &T_PD ? cfg->routing_key_file : cfg->secret_file, what,
                                   &w->secret, &w->secret_len, err, errlen);
        if (rc < 0) {
            free_webhook(w);
            return rc;
        }
        for (size_t i = 0; t == &T_PD && i < w->secret_len; i++) {
            if ((unsigned char)w->secret[i] <= 0x20 || (unsigned char)w->secret[i] >= 0x7f) {
                free_webhook(w);
                return vg_err(err, errlen, -EINVAL,
                              "pagerduty: the routing key in %s has characters a key never has "
                              "(byte %zu)",
                              cfg->routing_key_file, i + 1);
            }
        }
    }
    if (cfg->check_only) {
        /* The start applies CURLOPT_PROTOCOLS_STR to its handle below; a check makes none, so it
         * asks libcurl the same on one of its own: a libcurl before 7.85 was "config OK". */
        char perr[256];
        rc = vg_http_protocols_probe(perr, sizeof perr);
        if (rc < 0)
            vg_err(err, errlen, rc, "%s: %s", pre ? pre : tn, perr);
        free_webhook(w);
        return rc;
    }
    w->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : WH_DEFAULT_TIMEOUT_MS;
    w->connect_timeout_ms =
        cfg->connect_timeout_ms ? cfg->connect_timeout_ms : WH_DEFAULT_CONNECT_TIMEOUT_MS;
    w->max_attempts = cfg->max_attempts ? cfg->max_attempts : WH_DEFAULT_MAX_ATTEMPTS;
    /* Alertmanager keeps its own promise without it: a firing given up on is re-sent with the
     * others, and a resolve given up on lapses at the endsAt sent last. */
    w->keep_retrying = cfg->keep_retrying && !t->resends;
    w->max_age_ms = cfg->max_age_ms > 0 ? cfg->max_age_ms : 0;
    /* Alertmanager is told of firing alerts in batches and keeps them by its labels: a firing
     * and its resolve cost it nothing worth saving. */
    w->coalesce = cfg->coalesce && !t->resends;
    w->hold_firings = cfg->hold_firings && !t->resends;
    w->adopt_at_start = w->hold_firings && cfg->adopt_at_start;
    w->group_commit = cfg->group_commit;
    w->backoff_initial_ms =
        cfg->backoff_initial_ms ? cfg->backoff_initial_ms : WH_DEFAULT_BACKOFF_INITIAL_MS;
    w->backoff_max_ms = cfg->backoff_max_ms ? cfg->backoff_max_ms : WH_DEFAULT_BACKOFF_MAX_MS;
    w->queue_max = cfg->queue_max ? cfg->queue_max : WH_DEFAULT_QUEUE_MAX;
    w->resend_ms = cfg->resend_interval_ms ? cfg->resend_interval_ms : WH_DEFAULT_RESEND_MS;
    w->rate = cfg->rate_per_s == 0 ? t->rate_per_s : cfg->rate_per_s > 0 ? cfg->rate_per_s : 0;
    w->burst = cfg->burst ? cfg->burst : t->burst;
    w->tokens = w->burst;
    w->tokens_ms = vg_mono_ms();
    w->rng = ((uint64_t)vg_now_ms() << 20) ^ (uint64_t)(uintptr_t)w ^ 0x9e3779b97f4a7c15ULL;
    if (!w->rng)
        w->rng = 1;

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&w->mu, NULL);
    pthread_mutex_init(&w->submit_mu, NULL);
    pthread_cond_init(&w->wake, &ca);
    pthread_cond_init(&w->idle, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&w->abort_xfer, 0);

    if (cfg->outbox_dir) {
        struct replay_ctx rctx = {.w = w};
        size_t max_bytes =
            cfg->outbox_max_bytes ? cfg->outbox_max_bytes : VG_OUTBOX_DEFAULT_MAX_BYTES;
        struct vg_outbox_cfg oc = {
            .dir = cfg->outbox_dir,
            .name = w->name,
            /* Held firings have a queue_max of their own, and as many bytes: held ones of large
             * annotations took the bytes of new notifications, refused with the queue short of
             * queue_max. */
            .max_records = w->hold_firings ? 2 * w->queue_max : w->queue_max,
            .max_bytes = w->hold_firings && max_bytes <= SIZE_MAX / 2 ? 2 * max_bytes : max_bytes,
            .compact_bytes = cfg->outbox_compact_bytes,
            .done_fn = w->coalesce ? replay_done : NULL,
            .done_ud = &rctx,
        };
        char oerr[VG_ERRLEN];
        rc = vg_outbox_open(&w->ob, &oc, oerr, sizeof(oerr));
        if (rc == 0)
            rc = vg_outbox_replay(w->ob, replay_one, &rctx);
        for (size_t i = 0; i < rctx.n_done; i++)
            free(rctx.done[i].fp);
        free(rctx.done);
        held_over(w, rctx.over);
        /* The resolve's record is on disk before the firings it replaced are marked done; a
         * failed mark keeps the resolve pending too (keep), so the next start coalesces again. */
        for (struct wh_item *q = w->head; q; q = q->next) {
            for (struct wh_item *g = q->replaced, *next; g; g = next) {
                next = g->next;
                log_coalesced(w, g);
                q->keep |= ack_item(w, g) < 0;
                free(g);
            }
            q->replaced = NULL;
        }
        if (rc == 0 && rctx.oom)
            rc = -ENOMEM;
        if (rc < 0) {
            /* The name only where it is not the type's own. */
            vg_err(err, errlen, rc, "%s%s%s: %s", tn, strcmp(w->name, tn) ? " " : "",
                   strcmp(w->name, tn) ? w->name : "", w->ob ? "cannot load the outbox" : oerr);
            goto fail;
        }
        if (w->count) {
            char q[512];
            rlog(w, VG_LOG_INFO, "outbox holds undelivered notifications, delivering them first",
                 "file=%s count=%zu", vg_log_quote(q, sizeof(q), vg_outbox_path(w->ob)), w->count);
        }
        if (w->n_held) {
            char q[512];
            rlog(w, VG_LOG_INFO,
                 "outbox holds undelivered firings, held until the state restore says this "
                 "analyzer still holds their alerts as firing (another may have resolved them)",
                 "file=%s count=%zu", vg_log_quote(q, sizeof(q), vg_outbox_path(w->ob)), w->n_held);
        }
    }

    w->multi = curl_multi_init();
    w->easy = curl_easy_init();
    if (!w->multi || !w->easy) {
        rc = vg_err(err, errlen, -ENOMEM, "%s: cannot initialise libcurl handles", tn);
        goto fail;
    }
    CURL *e = w->easy;
    char perr[256];
    if ((rc = vg_http_protocols_apply(e, perr, sizeof(perr))) < 0) {
        vg_err(err, errlen, rc, "%s: %s", cfg->key_prefix ? cfg->key_prefix : tn, perr);
        goto fail;
    }
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)w->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)w->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "vigil/" VIGIL_VERSION);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &w->resp);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, w->curl_err);
    if (vg_http_tls_apply(e, cfg->tls_ca_file) < 0) {
        rc = vg_err(err, errlen, -EINVAL, "%s: libcurl refused the TLS settings", tn);
        goto fail;
    }

    /* The delivery thread blocks all signals so that the process's handlers (or sigwait) run on
     * the threads that expect them, never in the middle of a transfer here. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&w->thread, NULL, run, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        rc = vg_err(err, errlen, -rc, "%s: cannot start delivery thread: %s", tn, strerror(rc));
        goto fail;
    }
    *inst = w;
    return 0;
fail:
    pthread_cond_destroy(&w->wake);
    pthread_cond_destroy(&w->idle);
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->submit_mu);
    free_webhook(w);
    return rc;
}

static int wh_create(void **inst, const struct vg_receiver_cfg *cfg, char *err, size_t errlen)
{
    return rx_create(&T_WEBHOOK, inst, cfg, err, errlen);
}

static int am_create(void **inst, const struct vg_receiver_cfg *cfg, char *err, size_t errlen)
{
    return rx_create(&T_AM, inst, cfg, err, errlen);
}

static int pd_create(void **inst, const struct vg_receiver_cfg *cfg, char *err, size_t errlen)
{
    return rx_create(&T_PD, inst, cfg, err, errlen);
}

static int slack_create(void **inst, const struct vg_receiver_cfg *cfg, char *err, size_t errlen)
{
    return rx_create(&T_SLACK, inst, cfg, err, errlen);
}

/* Alertmanager: a resolve refused (queue or outbox full, out of memory) must still stop the
 * re-sends of its alert, or they would keep it firing for good; Alertmanager then resolves it at
 * the endsAt it last got (docs/alerts.md). With mu held; -ENOMEM when that failed too. */
static int resolve_refused_locked(struct webhook *w, const struct vg_notification *n)
{
    if (!w->t->resends || !n->fingerprint || !n->status || strcmp(n->status, "resolved") != 0)
        return 0;
    return forget_locked(w, forget_new(0, n->fingerprint));
}

static void log_resolve_lost(struct webhook *w, const struct vg_notification *n)
{
    char qfp[256];
    rlog(w, VG_LOG_ERROR,
         "out of memory: a refused resolve's alert is still re-sent as firing until a restart",
         "fingerprint=%s", vg_log_quote(qfp, sizeof(qfp), n->fingerprint));
}

/* Refusals come in floods while a receiver is down; one line per episode, the counter has the
 * rest. Called with mu held; returns whether this one should be logged. */
static int refuse_locked(struct webhook *w)
{
    w->st.queue_full++;
    int first = !w->full_logged;
    w->full_logged = 1;
    return first;
}

/* With mu held: res, a resolve about to be queued, takes the place of the first queued firing of
 * its alert episode (same fingerprint and starts_at; not the one in flight, which is on its way),
 * and every other such firing (repeats) leaves the queue. Returns them, for the caller to
 * acknowledge in the outbox and free; *placed says whether res is now queued. In an alert storm
 * a paced receiver (Slack: 1/s) thus gets one message per short alert instead of a [FIRING]
 * minutes after it resolved, then its [RESOLVED]. */
static struct wh_item *coalesce_locked(struct webhook *w, struct wh_item *res, int *placed)
{
    struct wh_item *gone = NULL, **gone_tail = &gone, *prev = NULL;
    *placed = 0;
    for (struct wh_item *q = w->head, *next; q; q = next) {
        next = q->next;
        if (q == w->inflight || !same_episode(q, res)) {
            prev = q;
            continue;
        }
        if (!*placed) {
            /* In its place: the firing was due to go there, so the resolve goes no later. */
            res->next = next;
            if (prev)
                prev->next = res;
            else
                w->head = res;
            if (w->tail == q)
                w->tail = res;
            prev = res;
            *placed = 1;
        } else {
            prev->next = next; /* prev is at least res */
            if (w->tail == q)
                w->tail = prev;
            w->count--;
        }
        if (q->overdue)
            w->st.retrying--;
        if (q->staged)
            w->n_staged--;
        w->st.coalesced++;
        q->next = NULL;
        *gone_tail = q;
        gone_tail = &q->next;
    }
    return gone;
}

static int wh_submit(void *inst, const struct vg_notification *n)
{
    struct webhook *w = inst;
    if (!w || !n)
        return -EINVAL;
    struct wh_item *it = item_copy(n);
    if (!it) {
        lock(w);
        int lost = resolve_refused_locked(w, n) < 0;
        unlock(w);
        if (lost)
            log_resolve_lost(w, n);
        return -ENOMEM;
    }
    pthread_mutex_lock(&w->submit_mu);
    lock(w);
    /* A resolve that will take its firing's place adds nothing to the queue, and its outbox
     * record lets the firing's go right after: refusing it when full would deliver the firing
     * after the outage and never its resolve. (Should the firing go in flight meanwhile, the
     * queue is over queue_max by this one notification until it drains.) */
    int replaces = 0;
    if (w->coalesce && is_resolve(n) && n->fingerprint) {
        for (struct wh_item *q = w->head; q && !replaces; q = q->next)
            replaces = q != w->inflight && same_episode(q, it);
    }
    /* So does any notification of an alert whose firings are held: it supersedes them (below),
     * and refused it would leave them holding their room, the resolve that ends them refused
     * for good. */
    for (struct wh_item *h = n->fingerprint ? w->held : NULL; h && !replaces; h = h->next)
        replaces = strcmp(h->n.fingerprint, n->fingerprint) == 0;
    /* Only this (serialised) path adds to count, so the check stays true until we enqueue. A
     * resolve has headroom past queue_max (wh_resolve_headroom), so that it is not refused
     * because other alerts' notifications filled the queue while the receiver was down. */
    int resolve = is_resolve(n);
    size_t limit = w->queue_max + (resolve ? wh_resolve_headroom(w->queue_max) : 0);
    if (w->count >= limit && !replaces) {
        int first = refuse_locked(w);
        int lost = resolve_refused_locked(w, n) < 0;
        unlock(w);
        pthread_mutex_unlock(&w->submit_mu);
        free(it);
        if (lost)
            log_resolve_lost(w, n);
        if (first)
            rlog(w, VG_LOG_WARN, "queue full, refusing notifications until it drains",
                 "queue_max=%zu", w->queue_max);
        return -ENOBUFS;
    }
    unlock(w);
    if (w->ob) {
        unsigned char *p = NULL;
        size_t len = 0;
        int rc = vg_outbox_encode(n, &p, &len);
        if (rc == 0)
            /* A resolve within the headroom goes past the outbox's bounds too (its records are
             * small, and the queue's limit above bounds how many). */
            rc = vg_outbox_append_ex(
                w->ob, p, len, &it->seq,
                (replaces || (resolve && w->count >= w->queue_max) ? VG_OUTBOX_OVER_LIMIT : 0) |
                    (w->group_commit ? VG_OUTBOX_NO_SYNC : 0));
        free(p);
        if (rc == -ENOBUFS) {
            lock(w);
            int first = refuse_locked(w);
            int lost = resolve_refused_locked(w, n) < 0;
            unlock(w);
            pthread_mutex_unlock(&w->submit_mu);
            free(it);
            if (lost)
                log_resolve_lost(w, n);
            if (first)
                rlog(w, VG_LOG_WARN, "outbox full, refusing notifications until it drains",
                     "queue_max=%zu", w->queue_max);
            return -ENOBUFS;
        }
        if (rc < 0) {
            /* A full or failing disk must not cost the alert: it is still delivered from memory,
             * only without surviving a restart. */
            it->seq = 0;
            lock(w);
            w->st.outbox_errors++;
            int first = !w->outbox_err_logged;
            w->outbox_err_logged = 1;
            unlock(w);
            if (first) {
                char q[512], qe[128];
                rlog(w, VG_LOG_ERROR,
                     "outbox write failed, notifications are kept in memory only until it works "
                     "again",
                     "file=%s error=%s", vg_log_quote(q, sizeof(q), vg_outbox_path(w->ob)),
                     vg_log_quote(qe, sizeof(qe), strerror(-rc)));
            }
        } else if (w->group_commit) {
            w->unflushed++; /* whether the outbox works again is for flush() to say */
        } else {
            lock(w);
            int was = w->outbox_err_logged;
            unsigned long long errs = (unsigned long long)w->st.outbox_errors;
            w->outbox_err_logged = 0;
            unlock(w);
            if (was)
                rlog(w, VG_LOG_INFO, "outbox writes work again", "outbox_errors=%llu", errs);
        }
    }
    lock(w);
    w->full_logged = 0;
    int placed = 0;
    struct wh_item *gone = NULL;
    /* Not when the resolve is in memory only (an outbox write failed): acknowledging the firing
     * would then leave a crash nothing of the alert. */
    if (w->coalesce && is_resolve(n) && n->fingerprint && (!w->ob || it->seq))
        gone = coalesce_locked(w, it, &placed);
    if (!placed) /* placed: it took a firing's place in the queue and in count */
        enqueue_locked(w, it);
    if (w->group_commit) { /* attempted once release() says the caller's record is durable */
        it->staged = 1;
        w->n_staged++;
    }
    /* Held firings of its alert: this one, durable already (or none kept at all), supersedes
     * them, a resolve as a later firing. */
    struct wh_item *stale = w->n_held && n->fingerprint && (!w->ob || it->seq)
                                ? held_take_locked(w, n->fingerprint, -1)
                                : NULL;
    /* Not attempted until the firings it replaced are done in the outbox (below). */
    it->hold = gone != NULL;
    w->st.submitted++;
    pthread_cond_signal(&w->wake);
    unlock(w);
    /* After the resolve's own record is durable, so that a crash in between replays both
     * rather than neither, and before the resolve can be delivered and acknowledged, so that a
     * crash never leaves the resolve done and a firing pending. Under submit_mu, which keeps the
     * outbox in queue order. (With group_commit the resolve's record is not synced yet, but it
     * comes before the ack in the file, and the ack's fdatasync flushes both.) */
    int keep = 0;
    for (struct wh_item *q = gone, *next; q; q = next) {
        next = q->next;
        log_coalesced(w, q);
        keep |= ack_item(w, q) < 0;
        free(q);
    }
    (void)held_drop(w, stale); /* a failed ack: held again at the next start, and dropped then */
    if (gone) {
        lock(w);
        it->hold = 0;
        it->keep |= keep;
        pthread_cond_signal(&w->wake);
        unlock(w);
    }
    pthread_mutex_unlock(&w->submit_mu);
    return 0;
}

static int wh_flush(void *inst)
{
    struct webhook *w = inst;
    if (!w || !w->ob || !w->group_commit)
        return 0;
    pthread_mutex_lock(&w->submit_mu);
    if (!w->unflushed) {
        pthread_mutex_unlock(&w->submit_mu);
        return 0;
    }
    size_t n = w->unflushed;
    int rc = vg_outbox_sync(w->ob);
    if (rc == 0)
        w->unflushed = 0;
    pthread_mutex_unlock(&w->submit_mu);
    char q[512], qe[128];
    lock(w);
    int was = w->outbox_err_logged;
    unsigned long long errs = (unsigned long long)(w->st.outbox_errors + (rc < 0));
    if (rc < 0)
        w->st.outbox_errors++;
    w->outbox_err_logged = rc < 0;
    unlock(w);
    /* After a failed sync the outbox answers 0 only once it has rewritten the records into a
     * new file (vg_outbox_sync): a second fdatasync of the same file would answer 0 for pages it
     * never wrote. */
    if (rc < 0 && !was)
        rlog(w, VG_LOG_ERROR,
             "outbox sync failed: notifications are delivered from memory, but may not survive a "
             "power loss until the outbox is rewritten; tried at the next flush",
             "file=%s notifications=%zu error=%s",
             vg_log_quote(q, sizeof(q), vg_outbox_path(w->ob)), n,
             vg_log_quote(qe, sizeof(qe), strerror(-rc)));
    else if (rc == 0 && was)
        rlog(w, VG_LOG_INFO, "outbox writes work again", "outbox_errors=%llu", errs);
    return rc;
}

/* group_commit: what submit() staged goes, in queue order. */
static void wh_release(void *inst)
{
    struct webhook *w = inst;
    if (!w || !w->group_commit)
        return;
    lock(w);
    if (w->n_staged) {
        for (struct wh_item *it = w->head; it; it = it->next)
            it->staged = 0;
        w->n_staged = 0;
        pthread_cond_signal(&w->wake);
    }
    unlock(w);
}

/* The host's partition moved to another analyzer, which takes its firing alerts over and resolves
 * them: re-sending them from here would keep them firing in Alertmanager for good. What is
 * tracked is dropped by the thread before its next re-send; what is still queued is delivered
 * (the new owner repeats it anyway) but not tracked. */
static void am_forget_host(void *inst, const char *host)
{
    struct webhook *w = inst;
    if (!w || !host)
        return;
    struct wh_forget *f = forget_new(1, host);
    lock(w);
    int rc = forget_locked(w, f);
    unlock(w);
    if (rc < 0) {
        char qh[256];
        rlog(w, VG_LOG_ERROR,
             "out of memory: firing alerts of a host handed over are still re-sent until a "
             "restart",
             "host=%s", vg_log_quote(qh, sizeof(qh), host));
    }
}

/* hold_firings: the alert fires here (restored with its host): its held firings of this episode
 * are queued again, behind what is queued, and those of an older episode are done. */
static int wh_adopt(void *inst, const struct vg_notification *n)
{
    struct webhook *w = inst;
    if (!w || !n)
        return -EINVAL;
    if (!w->hold_firings || !n->fingerprint)
        return 0;
    pthread_mutex_lock(&w->submit_mu);
    lock(w);
    struct wh_item *mine = w->n_held ? held_take_locked(w, n->fingerprint, n->starts_at_ms) : NULL;
    struct wh_item *old = w->n_held ? held_take_locked(w, n->fingerprint, -1) : NULL;
    /* Its host is back: a failed attempt of its queued firings no longer holds them. */
    for (struct wh_item *q = w->head; q; q = q->next)
        if (q->forgotten && strcmp(q->n.fingerprint, n->fingerprint) == 0)
            q->forgotten = 0;
    size_t k = 0;
    for (struct wh_item *it = mine, *next; it; it = next) {
        next = it->next;
        it->next = NULL;
        /* The caller holds this alert as firing now: its firing is as new as that (max_age
         * would otherwise give an old one up at its first failed attempt, the page lost). */
        if (w->adopt_at_start)
            it->born_ms = vg_now_ms();
        if (it->overdue)
            w->st.retrying++;
        else
            replay_overdue(w, it);
        enqueue_locked(w, it);
        k++;
    }
    if (k)
        pthread_cond_signal(&w->wake);
    unlock(w);
    (void)held_drop(w, old);
    pthread_mutex_unlock(&w->submit_mu);
    if (k) {
        char qfp[256];
        rlog(w, VG_LOG_INFO, "held firing queued: this analyzer holds its alert as firing",
             "fingerprint=%s count=%zu", vg_log_quote(qfp, sizeof(qfp), n->fingerprint), k);
    }
    return 0;
}

/* hold_firings: the host went to another analyzer, which takes its alerts over as notified and
 * resolves them. While the receiver is failing (one notification retried, or overdue), its
 * queued firings are held, not sent: delivered in order behind a failing one, most have not been
 * attempted yet, and once the receiver takes this analyzer's requests again they would go
 * through after that resolve, possibly hours later. With the receiver working they go on (a
 * group_wait firing the dispatcher sent at the hand-over among them), marked: once an attempt
 * fails (the one in flight now included), they are held then (OUT_RETRY). Those of an alert
 * already held are held in any case, behind it. Resolves stay: one after its firing never
 * harms. */
static void wh_forget_host(void *inst, const char *host)
{
    struct webhook *w = inst;
    if (!w || !host || !w->hold_firings)
        return;
    struct wh_item *over = NULL;
    lock(w);
    int failing = w->st.retrying > 0;
    for (struct wh_item *it = w->head; it; it = it->next) {
        /* Not the one in flight's attempts, which its thread writes: should it fail, OUT_RETRY
         * holds the lot. */
        failing |= it != w->inflight && it->attempts > 0;
        if (!is_resolve(&it->n) && it->n.fingerprint && it->n.host && strcmp(it->n.host, host) == 0)
            it->forgotten = w->any_forgotten = 1;
    }
    size_t k = hold_forgotten_locked(w, failing, &over);
    if (k)
        pthread_cond_signal(&w->wake); /* to look at their max_age */
    unlock(w);
    if (k) {
        char qh[256];
        rlog(w, VG_LOG_WARN,
             "firings of a host handed over held back: the receiver is failing, and its new "
             "owner takes the alerts over (sent if the host comes back still firing)",
             "host=%s count=%zu", vg_log_quote(qh, sizeof(qh), host), k);
    }
    held_over(w, over);
}

/* hold_firings: a state restore has finished. The held firings of hosts this process holds now
 * that no adopt() released are of alerts that do not fire here: the restore found them resolved
 * (by the analyzer that held the host meanwhile, or before the restart) or gone. Kept, they
 * would wait for max_age and hold their outbox records; dropped, counted in coalesced. Should the
 * alert fire again here (messages read again after the last commit), a new firing goes out. */
static void wh_restored(void *inst, int (*owns)(void *ud, const char *host), void *ud)
{
    struct webhook *w = inst;
    if (!w || !owns || !w->hold_firings)
        return;
    struct wh_item *out = NULL, **tail = &out;
    size_t k = 0;
    lock(w);
    w->held_last = NULL;
    for (struct wh_item **p = &w->held; *p;) {
        struct wh_item *it = *p;
        if (it->n.host && owns(ud, it->n.host)) {
            *p = it->next;
            it->next = NULL;
            *tail = it;
            tail = &it->next;
            w->n_held--;
            w->st.coalesced++;
            k++;
        } else {
            w->held_last = it;
            p = &it->next;
        }
    }
    unlock(w);
    if (k)
        rlog(w, VG_LOG_INFO,
             "held firings dropped: this analyzer holds their hosts, and the state restore did "
             "not find their alerts firing",
             "count=%zu", k);
    for (struct wh_item *q = out, *next; q; q = next) {
        next = q->next;
        ack_item(w, q);
        free(q);
    }
}

static void wh_stats(void *inst, struct vg_action_stats *out)
{
    struct webhook *w = inst;
    lock(w);
    *out = w->st;
    out->queued = w->stopped ? 0 : w->count; /* once stopped, counted as dropped or kept */
    out->held = w->stopped ? 0 : w->n_held;
    unlock(w);
    if (w->ob) {
        struct vg_outbox_stats os;
        vg_outbox_get_stats(w->ob, &os);
        out->outbox_syncs = os.syncs;
        out->outbox_sync_us = os.sync_us;
    }
}

/* The stop half of destroy: the counts it leaves (what was dropped or kept) are read by stats()
 * before destroy frees them, so that a caller's last stats include what the stop dropped. */
static void wh_stop(void *inst, int64_t drain_ms)
{
    struct webhook *w = inst;
    if (!w || w->stopped)
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

    size_t in_outbox = 0, i = 0;
    for (struct wh_item *it = w->head; it; it = it->next)
        in_outbox += it->seq != 0;
    if (w->count > 0 && in_outbox) {
        char q[512];
        rlog(w, VG_LOG_WARN, "stopped with undelivered notifications, kept in the outbox",
             "count=%zu drain_ms=%lld file=%s", in_outbox, (long long)drain_ms,
             vg_log_quote(q, sizeof(q), vg_outbox_path(w->ob)));
    }
    if (w->count > in_outbox)
        rlog(w, VG_LOG_WARN, "stopped with undelivered notifications, dropping them",
             "count=%zu drain_ms=%lld", w->count - in_outbox, (long long)drain_ms);
    w->st.kept += in_outbox;
    w->st.dropped += w->count - in_outbox;
    size_t held_kept = 0, held_lost = 0;
    for (struct wh_item *it = w->held; it; it = it->next)
        *(it->seq ? &held_kept : &held_lost) += 1;
    if (w->n_held) {
        char q[512];
        rlog(w, VG_LOG_WARN,
             "stopped with held firings: their alerts were not held here as firing; kept in the "
             "outbox (dropped when in memory only)",
             "kept=%zu dropped=%zu file=%s", held_kept, held_lost,
             vg_log_quote(q, sizeof(q), w->ob ? vg_outbox_path(w->ob) : ""));
    }
    w->st.kept += held_kept;
    w->st.dropped += held_lost;
    for (struct wh_item *it = w->head; it; it = it->next) {
        if (it->seq || i++ >= WH_DROP_LOG_MAX)
            continue;
        char qfp[256], qa[128], qh[256], qs[32];
        rlog(w, VG_LOG_WARN, "notification dropped at shutdown",
             "alertname=%s host=%s status=%s fingerprint=%s",
             vg_log_quote(qa, sizeof(qa), it->n.alertname ? it->n.alertname : ""),
             vg_log_quote(qh, sizeof(qh), it->n.host ? it->n.host : ""),
             vg_log_quote(qs, sizeof(qs), it->n.status ? it->n.status : ""),
             vg_log_quote(qfp, sizeof(qfp), it->n.fingerprint ? it->n.fingerprint : ""));
    }
    rlog(w, VG_LOG_INFO, "stopped",
         "submitted=%llu delivered=%llu dropped=%llu attempt_errors=%llu retries=%llu "
         "queue_full=%llu kept=%llu replayed=%llu rate_limited=%llu tls_errors=%llu "
         "outbox_errors=%llu redirects=%llu",
         (unsigned long long)w->st.submitted, (unsigned long long)w->st.delivered,
         (unsigned long long)w->st.dropped, (unsigned long long)w->st.attempt_errors,
         (unsigned long long)w->st.retries, (unsigned long long)w->st.queue_full,
         (unsigned long long)w->st.kept, (unsigned long long)w->st.replayed,
         (unsigned long long)w->st.rate_limited, (unsigned long long)w->st.tls_errors,
         (unsigned long long)w->st.outbox_errors, (unsigned long long)w->st.redirects);
    lock(w);
    w->stopped = 1;
    unlock(w);
}

static void wh_destroy(void *inst, int64_t drain_ms)
{
    struct webhook *w = inst;
    if (!w)
        return;
    wh_stop(w, drain_ms);
    pthread_cond_destroy(&w->wake);
    pthread_cond_destroy(&w->idle);
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->submit_mu);
    free_webhook(w);
}

const struct vg_action vg_webhook_action = {
    .name = "webhook",
    .help = "POST a JSON document per alert transition to an http(s) URL, optionally HMAC-signed",
    .create = wh_create,
    .submit = wh_submit,
    .adopt = wh_adopt,
    .forget_host = wh_forget_host,
    .restored = wh_restored,
    .flush = wh_flush,
    .release = wh_release,
    .stats = wh_stats,
    .stop = wh_stop,
    .destroy = wh_destroy,
};

const struct vg_action vg_alertmanager_action = {
    .name = "alertmanager",
    .help = "POST alerts to a Prometheus Alertmanager (API v2), re-sending firing ones",
    .create = am_create,
    .submit = wh_submit,
    /* Told again, it is active again, and re-sent from then on (firing_track). */
    .adopt = wh_submit,
    .forget_host = am_forget_host,
    .flush = wh_flush,
    .release = wh_release,
    .stats = wh_stats,
    .stop = wh_stop,
    .destroy = wh_destroy,
};

const struct vg_action vg_pagerduty_action = {
    .name = "pagerduty",
    .help = "trigger and resolve PagerDuty incidents (Events API v2), one per alert",
    .create = pd_create,
    .submit = wh_submit,
    .adopt = wh_adopt,
    .forget_host = wh_forget_host,
    .restored = wh_restored,
    .flush = wh_flush,
    .release = wh_release,
    .stats = wh_stats,
    .stop = wh_stop,
    .destroy = wh_destroy,
};

const struct vg_action vg_slack_action = {
    .name = "slack",
    .help = "post alert messages to a Slack incoming webhook",
    .create = slack_create,
    .submit = wh_submit,
    .adopt = wh_adopt,
    .forget_host = wh_forget_host,
    .restored = wh_restored,
    .flush = wh_flush,
    .release = wh_release,
    .stats = wh_stats,
    .stop = wh_stop,
    .destroy = wh_destroy,
};
