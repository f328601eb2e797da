/* vigil-analyzer: a Kafka consumer-group member that decodes the agents' messages, scores every
 * series, turns scores into alerts and hands alert transitions to the configured receivers
 * (generic webhook, Alertmanager, PagerDuty, Slack). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <sysexits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "analyzer.h"
#include "analyzer_config.h"
#include "analyzer_models.h"
#include "analyzer_rules.h"
#include "api_metrics.h"
#include "api_ops.h"
#include "vg_action.h"
#include "vg_atomicfile.h"
#include "vg_colsel.h"
#include "vg_decisions.h"
#include "vg_dispatch.h"
#include "vg_embedded_kafka.h"
#include "vg_state_topic.h"
#include "vg_engine.h"
#include "vg_http.h"
#include "vg_httpsec.h"
#include "vg_kafka.h"
#include "vg_log.h"
#include "vg_models.h"
#include "vg_notify.h"
#include "vg_outbox.h"
#include "vg_rule_load.h"
#include "vg_rule_policy.h"
#include "vg_runas.h"
#include "vg_secret.h"
#include "vg_urlfile.h"
#include "vg_util.h"
#include "vg_wire.h"

#define MAX_SETS 64
/* Bad messages logged per stats interval before the rest are only counted. */
#define BAD_LOG_BUDGET 100

/* The longest the consumer loop waits on the broker in one call outside the restore (a
 * checkpoint, the committed offsets): below half of the packaged WatchdogSec=30s. A checkpoint
 * waits state.checkpoint_timeout, which the config table bounds by this. */
#define BROKER_WAIT_MS 10000

/* Detector state checkpoints (state.topic); NULL when off. */
static struct vg_state_topic *g_state;

/* The stop's budget, from the first SIGTERM, so that it ends inside the packaged unit's
 * TimeoutStopSec=30s with a margin: the final checkpoint and offset commit by STOP_OFFSETS_MS,
 * the consumer's close and the producers' by STOP_KAFKA_MS, then the receivers' drain_timeout
 * (5 s) and the scaling producer's flush and destroys (6 s at most, only with scaling decisions
 * on): about 18 s in all when the broker is gone (24 s with scaling decisions). A broker
 * outage used to make it wait 10 s per checkpoint three times over, or for the group coordinator
 * until the session timeout, and a close during a group re-join never returned. */
#define STOP_OFFSETS_MS 8000
#define STOP_KAFKA_MS   11000

static volatile sig_atomic_t g_stop, g_reload;

/* vg_mono_ms() of the first SIGTERM/SIGINT, and when a checkpoint waiting for the broker then
 * gives up (vg_state_topic_set_stop_by): both set by the handler (lock-free atomics). */
static _Atomic int64_t g_stop_at, g_ckpt_stop_by;

/* Set once the stop's own checkpoint and commit are done: the revoke that the consumer's close
 * runs has nothing new to write or commit, and must not wait for the broker again. */
static atomic_int g_stopping;

static void on_signal(int sig)
{
    (void)sig;
    int64_t zero = 0, now = vg_mono_ms(); /* clock_gettime: async-signal-safe */
    if (atomic_compare_exchange_strong(&g_stop_at, &zero, now))
        atomic_store(&g_ckpt_stop_by, now + STOP_OFFSETS_MS);
    g_stop = 1;
}

static void on_sighup(int sig)
{
    (void)sig;
    g_reload = 1;
}

static void usage(FILE *f)
{
    fprintf(
        f, "Usage: vigil-analyzer [OPTIONS]\n"
           "\n"
           "Consumes the agents' metrics from Kafka as a consumer-group member, scores every\n"
           "series with a streaming detector and every host with the batched multivariate\n"
           "model (GPU or CPU), evaluates the rules of rules.dir, and acts: alerts (firing and\n"
           "resolved) to webhook, Alertmanager, PagerDuty or Slack receivers through an on-disk\n"
           "outbox, and scaling decisions to an HTTP endpoint, a Kafka topic or a webhook. It\n"
           "serves its state, silences and /metrics on http.listen. Offsets are committed only\n"
           "after a message has been processed.\n"
           "\n"
           "Options:\n"
           "  -c, --config PATH        YAML config file (default: built-in defaults)\n"
           "  -s, --set KEY=VALUE      override a config key (repeatable), e.g.\n"
           "                           --set webhook.url=http://127.0.0.1:9000/alerts\n"
           "      --embedded-kafka     start an embedded Kafka broker (librdkafka's mock\n"
           "                           cluster) on loopback and consume from it; its address\n"
           "                           is printed, e.g. for kcat -b ADDR -t vigil.metrics -C\n"
           "      --bootstrap-file PATH  with --embedded-kafka: also write the address there\n"
           "      --check-config       validate the config, print the effective values, exit\n"
           "      --config-doc         print the config reference (Markdown) and exit\n"
           "      --metrics-doc        print the reference of the analyzer's own /metrics "
           "(Markdown) and exit\n"
           "      --log-format FMT     logfmt (default) or json; the same as --set log.format=FMT\n"
           "  -h, --help               this help\n"
           "  -V, --version            print the version\n"
           "\n"
           "Config keys (file, --set, or the environment variable shown):\n");
    vg_config_print_help(&analyzer_config_table, f);
    fprintf(f, "\nSignals: SIGTERM/SIGINT commit offsets, deliver queued alerts (drain_timeout, "
               "for all receivers together) "
               "and exit 0; SIGHUP reloads rules.dir (a rule set with errors is refused and the "
               "running rules stay; other config changes need a restart).\n");
    fprintf(f, "\nExit status: 0 stopped, or --check-config found the config valid; 1 the start "
               "failed otherwise, or --check-config refused the config; 2 usage error; 78 "
               "(EX_CONFIG) the start refused the config (\"config error: ...\"), which the "
               "packaged unit does not restart (RestartPreventExitStatus=78). A file a kafka.* "
               "property names that does not exist at the start (a *_file secret; an ssl.* path "
               "with security.protocol SSL or SASL_SSL; the keytab with GSSAPI) is waited for "
               "first, up to 60 s, each check logged; only then is it a config error, which "
               "--check-config reports at once. A path the protocol leaves unread is only "
               "warned about.\n");
    fprintf(f, "\nEnvironment: the VIGIL_* variables named above set their config keys (order, "
               "later wins: defaults, file, environment, --set). NOTIFY_SOCKET and WATCHDOG_USEC, "
               "set by systemd (Type=notify, WatchdogSec=), are answered with READY=1 and "
               "watchdog pings. VIGIL_CUDA_LIB names the GPU backend library to load instead of "
               "the installed libvigil-cuda.so; OPENBLAS_NUM_THREADS and OPENBLAS_CORETYPE are "
               "OpenBLAS's own, for the CPU backend.\n");
    fprintf(f, "\nFiles: /etc/vigil/analyzer.yaml, the packaged unit's --config; under "
               "/var/lib/vigil, as the packaged config sets them: outbox/ (outbox.dir, alerts "
               "waiting for their receivers), models/ (model.dir, the mv model's checkpoints), "
               "silences.json (silences.file, where set), bootstrap (the embedded-broker "
               "drop-in's --bootstrap-file). The documents under docs/ that this help names are "
               "in /usr/share/doc/vigil-analyzer/ once installed.\n");
}

/* A mistyped option: the error (getopt_long's, or the caller's) stays the last thing on the
 * screen; the whole help would scroll it away. Exit status 2, as for every usage error. */
static int usage_error(void)
{
    fputs("Try 'vigil-analyzer --help' for more information.\n", stderr);
    return 2;
}

void analyzer_receiver_stats(struct analyzer *a, struct vg_action_stats *sum, uint64_t *refused)
{
    memset(sum, 0, sizeof(*sum));
    *refused = 0;
    for (size_t i = 0; i < a->n_receivers; i++) {
        struct vg_action_stats st;
        a->receivers[i].act->stats(a->receivers[i].inst, &st);
        sum->submitted += st.submitted;
        sum->delivered += st.delivered;
        sum->attempt_errors += st.attempt_errors;
        sum->retries += st.retries;
        sum->dropped += st.dropped;
        sum->queue_full += st.queue_full;
        sum->outbox_errors += st.outbox_errors;
        sum->tls_errors += st.tls_errors;
        sum->redirects += st.redirects;
        sum->queued += st.queued;
        sum->retrying += st.retrying;
        sum->held += st.held;
        sum->expired += st.expired;
        sum->coalesced += st.coalesced;
        *refused += a->receivers[i].refused;
    }
}

static const double processing_bounds[] = {1e-5,   5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3,
                                           2.5e-3, 5e-3, 1e-2, 5e-2,   0.1,  1};
/* Fine below 2 s, where the end-to-end latency of a healthy pipeline lies (bench/fleet reads its
 * p50/p99 from these buckets). */
static const double lag_bounds[] = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5,
                                    0.75, 1,     1.5,  2,     3,   5,    10,  30,   60,  300, 3600};

/* A bad message's key, the host its agent named (the payload may not say): its first
 * BAD_KEY_MAX bytes, "..." after when there are more, a NUL byte as '?'; quoted by the caller. */
#define BAD_KEY_MAX 64
static const char *bad_key(char *buf, const rd_kafka_message_t *m)
{
    size_t n = m->key ? (m->key_len < BAD_KEY_MAX ? m->key_len : BAD_KEY_MAX) : 0;
    for (size_t i = 0; i < n; i++) {
        char c = ((const char *)m->key)[i];
        buf[i] = c ? c : '?';
    }
    strcpy(buf + n, m->key && m->key_len > BAD_KEY_MAX ? "..." : "");
    return buf;
}

/* The record at offset of m's partition skipped as bad: m itself, one that does not decode, or,
 * when m is librdkafka's error about a batch it could not read (starting at m->offset), one
 * record of that batch, which has no key or size to tell. Called with a->lock held. */
static void note_bad_message(struct analyzer *a, const rd_kafka_message_t *m, int64_t offset,
                             const char *reason)
{
    char q[VG_ERRLEN + 8], key[BAD_KEY_MAX + 4], qk[2 * sizeof(key) + 3];
    a->bad_messages++;
    if (a->bad_logged < BAD_LOG_BUDGET) {
        a->bad_logged++;
        /* Past vg_log's generic limit too: bad_suppressed counts exactly the ones not logged
         * here. */
        if (m->err)
            vg_log_unlimited(VG_LOG_WARN, "bad message skipped",
                             "topic=%s partition=%d offset=%lld batch_offset=%lld reason=%s",
                             rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)offset,
                             (long long)m->offset, vg_log_quote(q, sizeof(q), reason));
        else
            vg_log_unlimited(VG_LOG_WARN, "bad message skipped",
                             "topic=%s partition=%d offset=%lld key=%s bytes=%zu reason=%s",
                             rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)offset,
                             vg_log_quote(qk, sizeof(qk), bad_key(key, m)), m->len,
                             vg_log_quote(q, sizeof(q), reason));
    } else {
        a->bad_suppressed++;
    }
}

/* Where the consumer goes on in a partition after a batch librdkafka could not read (one that
 * does not decompress, or fails its CRC). librdkafka reports such a batch as an error at its
 * first offset, whatever offset inside it was fetched, and fetches it again every
 * fetch.error.backoff.ms without ever moving past it; the report does not say where the batch
 * ends. So the analyzer finds the end itself, by seeking the partition (a probe) and looking at
 * what the fetch from there brings first (a seek bumps the partition's op version, so librdkafka
 * drops whatever earlier fetches had queued). A broker serves a fetch from o with the batch that
 * holds o (or, o being in a gap, the next one), so a report of the same batch proves o inside
 * it, and anything else (a record, another batch's report) proves o past it. With the batch
 * holding [batch, end], a cursor keeps:
 *   lo: every offset in [batch, lo) is proven in the batch, so skipped (each counted and logged
 *       once, when proven); nothing at or past lo has been processed, so lo is the partition's
 *       commit position (bad_cursors_apply);
 *   hi: an offset past the batch (end < hi): one a probe proved past it, or the partition's high
 *       watermark (the report came in a fetch whose watermark was past the batch), INT64_MAX
 *       when neither is known;
 * so lo <= end + 1 <= hi. A probe goes to lo + step - 1, step starting at 1 and doubling at
 * each report of the batch (so each report proves twice as many records as the one before), but
 * never past the middle of [lo, hi), which halves once probes land past the batch: about
 * 2 log2(N) probes for a batch of N records, instead of one per record, each costing about
 * max(fetch.wait.max.ms, fetch.error.backoff.ms) (500 ms by default: the error's backoff and the
 * fetch request in flight both hold it). Probes stay below hi, so never past the log's end, where
 * a fetch would answer OFFSET_OUT_OF_RANGE and move the partition by auto.offset.reset; with hi
 * not known the probe is lo (one record per report). A probe into an open transaction (the
 * consumer reads committed records only) waits for it to end; Vigil's producers use none.
 * The records a probe past the batch reads are dropped (not processed nor counted, and the
 * position they leave is never committed) until lo = hi, when the partition is fetched from lo
 * and what that fetch brings is read on. Nothing is ever read on from anywhere but lo, so no
 * record after the batch is skipped. A seek librdkafka does not take leaves the fetch's offset
 * unknown (from -1): nothing is learned from what comes until a probe is taken. Kept per
 * partition of the current assignment, on the run loop's thread only (rebalance_cb runs in its
 * poll); an entry goes when the fetch from lo brings a record, or with the assignment. A new
 * entry starts where the partition was fetched from (bad_batch_from), which is inside the batch
 * after a restart or a rebalance in the middle of one: the skip goes on from there, not from the
 * batch's first offset, which would skip (and count) those records again and move the commit
 * back. */
struct bad_cursor {
    int32_t partition;
    /* Where the partition was committed could not be read when the entry started: lo may be
     * below it, so the partition is not committed while the entry lasts (bad_cursors_apply). */
    int no_commit;
    int64_t batch; /* the batch's first offset, as librdkafka reports it */
    int64_t lo, hi;
    int64_t from; /* the offset the partition is fetched from (the last probe); -1 not known */
    int64_t step;
};
static struct bad_cursor *g_bad_cursors;
static size_t g_n_bad_cursors;

/* The step's cap: far past any batch (1 MB of records of at least a few bytes each). */
#define BAD_STEP_MAX ((int64_t)1 << 40)

static struct bad_cursor *bad_cursor_find(int32_t partition)
{
    for (size_t i = 0; i < g_n_bad_cursors; i++)
        if (g_bad_cursors[i].partition == partition)
            return &g_bad_cursors[i];
    return NULL;
}

/* A new entry for partition (its fields the caller's), NULL out of memory. */
static struct bad_cursor *bad_cursor_new(int32_t partition)
{
    struct bad_cursor *grown =
        realloc(g_bad_cursors, (g_n_bad_cursors + 1) * sizeof(*g_bad_cursors));
    if (!grown)
        return NULL;
    g_bad_cursors = grown;
    struct bad_cursor *c = &g_bad_cursors[g_n_bad_cursors++];
    *c = (struct bad_cursor){.partition = partition};
    return c;
}

/* c's partition is read on from lo: past the batch. c is not valid afterwards. */
static void bad_cursor_drop(struct bad_cursor *c)
{
    *c = g_bad_cursors[--g_n_bad_cursors];
}

/* The assignment changed: each partition is read from its committed offset again. */
static void forget_bad_cursors(void)
{
    free(g_bad_cursors);
    g_bad_cursors = NULL;
    g_n_bad_cursors = 0;
}

/* Positions of the topic's partitions (l, from rd_kafka_position) set to their cursors' lo: a
 * partition whose last step was a seek has no position (librdkafka resets it at a seek) until
 * its next record is read, and would otherwise never be committed past a bad batch at its end;
 * and one a probe past the batch read a record from is past records not read yet. */
static void bad_cursors_apply(const struct analyzer *a, rd_kafka_topic_partition_list_t *l)
{
    for (int i = 0; g_n_bad_cursors && l && i < l->cnt; i++) {
        struct bad_cursor *c = bad_cursor_find(l->elems[i].partition);
        if (c && strcmp(l->elems[i].topic, a->cfg.topic) == 0)
            l->elems[i].offset = c->no_commit ? RD_KAFKA_OFFSET_INVALID : c->lo;
    }
}

/* The high watermark of m's partition in the last fetch response librdkafka had for it (no
 * broker asked), -1 when not known. */
static int64_t partition_high(struct analyzer *a, const rd_kafka_message_t *m)
{
    int64_t low, high;
    if (rd_kafka_get_watermark_offsets(a->rk, rd_kafka_topic_name(m->rkt), m->partition, &low,
                                       &high))
        return -1;
    return high;
}

/* The offset m's partition was fetched from, m being librdkafka's report of a batch it could not
 * read and no bad_cursor being kept for that partition: the report is at the batch's first
 * offset, whatever offset inside the batch was asked for. After a record of the partition was
 * read (rd_kafka_position valid), the next one, so the batch's first. Before any (librdkafka
 * resets the position at every assignment: a start, a rebalance), the partition's committed
 * offset, which is inside the batch when a run or owner before stopped in the middle of skipping
 * it; read from the group coordinator, at most BROKER_WAIT_MS, only here (a bad batch just
 * met). A committed offset outside the batch (below it, or not below the high watermark high:
 * an offset reset moved the fetch elsewhere) says nothing: the batch's first. *known is 0 when
 * the committed offset could not be read: the batch's first then too. Called without a->lock. */
static int64_t bad_batch_from(struct analyzer *a, const rd_kafka_message_t *m, int64_t high,
                              int *known, rd_kafka_resp_err_t *err)
{
    *known = 1;
    *err = RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    if (!l) {
        *known = 0;
        *err = RD_KAFKA_RESP_ERR__CRIT_SYS_RESOURCE;
        return m->offset;
    }
    rd_kafka_topic_partition_t *p =
        rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition);
    int64_t from = m->offset;
    if (rd_kafka_position(a->rk, l) || p->err || p->offset < 0) {
        vg_notify_watchdog_ahead(vg_mono_ms(), BROKER_WAIT_MS);
        p->offset = RD_KAFKA_OFFSET_INVALID;
        rd_kafka_resp_err_t e = rd_kafka_committed(a->rk, l, BROKER_WAIT_MS);
        if (e || p->err) {
            *known = 0;
            *err = e ? e : p->err;
        } else if (p->offset > m->offset && p->offset < high) {
            from = p->offset;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return from;
}

/* c starts on batch, fetched from from (inside it, as a report of it just said), high the
 * partition's high watermark. */
static void bad_cursor_start(struct bad_cursor *c, int64_t batch, int64_t from, int64_t high)
{
    c->batch = batch;
    c->lo = c->from = from;
    c->hi = high > from ? high : INT64_MAX;
    c->step = 1;
}

/* Where c's next probe goes (struct bad_cursor): lo once hi is reached, or while hi is not
 * known; high, the partition's high watermark now, bounds a hi not known (yet). */
static int64_t bad_cursor_target(struct bad_cursor *c, int64_t high)
{
    if (c->hi == INT64_MAX && high > c->lo)
        c->hi = high;
    if (c->hi == INT64_MAX || c->lo >= c->hi)
        return c->lo;
    int64_t mid = c->lo + (c->hi - c->lo) / 2, gallop = c->lo + c->step - 1;
    return gallop < mid ? gallop : mid;
}

/* Waits this long for librdkafka to take a seek: its own thread's work, no broker's. */
#define SEEK_WAIT_MS 5000

/* Seeks c's partition (m's) to to; c->from is to when the seek was taken, else not known. */
static rd_kafka_resp_err_t bad_cursor_seek(struct analyzer *a, const rd_kafka_message_t *m,
                                           struct bad_cursor *c, int64_t to)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__CRIT_SYS_RESOURCE;
    if (l) {
        rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)->offset =
            to;
        rd_kafka_error_t *e = rd_kafka_seek_partitions(a->rk, l, SEEK_WAIT_MS);
        err = e ? rd_kafka_error_code(e) : l->elems[0].err;
        if (e)
            rd_kafka_error_destroy(e);
        rd_kafka_topic_partition_list_destroy(l);
    }
    /* A seek that timed out may still be taken later: from either offset. */
    c->from = err ? -1 : to;
    return err;
}

/* What bad_batch_step did with a message, for note_bad_step. */
struct bad_step {
    int64_t first, end;           /* the batch's offsets [first, end) newly proven: skipped */
    int drop;                     /* a record a probe read past the batch: not processed */
    int64_t seek_to;              /* the probe sought, -1 none */
    rd_kafka_resp_err_t seek_err; /* that seek not taken */
    rd_kafka_resp_err_t from_err; /* the committed offset not read (bad_batch_from) */
};

/* m, librdkafka's report of a batch it could not read (bad: vg_kafka_message_is_bad), or a record
 * of a partition with a bad_cursor: what the fetch it came first from proves (struct
 * bad_cursor), then the next probe sought, or the record let through when the fetch was from lo.
 * Called without a->lock: the seek and the committed offset's read wait for librdkafka and the
 * broker. */
static void bad_batch_step(struct analyzer *a, const rd_kafka_message_t *m, int bad,
                           struct bad_step *st)
{
    *st = (struct bad_step){.seek_to = -1};
    struct bad_cursor *c = bad_cursor_find(m->partition);
    if (!bad && !c)
        return;
    int64_t high = partition_high(a, m);
    if (!bad) {
        if (c->from >= 0 && m->offset >= c->from) {
            if (c->from == c->lo) { /* read on from lo: past the batch */
                bad_cursor_drop(c);
                return;
            }
            if (c->from < c->hi)
                c->hi = c->from;
        } else if (m->offset >= c->lo && m->offset < c->hi) {
            c->hi = m->offset; /* whichever fetch brought it: no record is in the batch */
        }
        st->drop = 1;
    } else {
        if (!c) {
            int known;
            int64_t from = bad_batch_from(a, m, high, &known, &st->from_err);
            if (!(c = bad_cursor_new(m->partition))) {
                st->seek_err = RD_KAFKA_RESP_ERR__CRIT_SYS_RESOURCE; /* the next report tries */
                return;
            }
            c->no_commit = !known;
            bad_cursor_start(c, m->offset, from, high);
        } else if (m->offset > c->batch && c->from >= 0 && c->from == c->lo) {
            /* Fetched from lo, past the batch, into another one that cannot be read: the skip
             * goes on with it. Its lo is past what was committed before the first one. */
            c->no_commit = 0;
            bad_cursor_start(c, m->offset, c->from > m->offset ? c->from : m->offset, high);
        }
        if (m->offset == c->batch && c->from >= c->lo) {
            st->first = c->lo;
            st->end = c->lo = c->from + 1;
            if (c->step < BAD_STEP_MAX)
                c->step *= 2;
            if (c->lo > c->hi) /* a watermark that was not past the batch: one per report */
                c->hi = INT64_MAX;
        } else if (m->offset > c->batch && c->from >= 0 && c->from < c->hi) {
            c->hi = c->from; /* another batch after this one's end */
        } /* else the fetch's offset is not known (a seek not taken): nothing proven */
    }
    st->seek_to = bad_cursor_target(c, high);
    st->seek_err = bad_cursor_seek(a, m, c, st->seek_to);
    vg_debug("bad batch probe", "partition=%d batch_offset=%lld lo=%lld hi=%lld probe=%lld by=%s",
             (int)m->partition, (long long)c->batch, (long long)c->lo, (long long)c->hi,
             (long long)st->seek_to, bad ? "report" : "record");
}

/* Counts and logs what bad_batch_step did with m. Each record it proved in the batch is a record
 * of the partition, consumed once and bad once like one that does not decode (librdkafka's
 * reports of the batch are not records), logged with its offset and the batch's. A record it
 * dropped is neither: it is read again once the batch's end is found. A seek not taken (the
 * partition being revoked, say, or no memory) is a consume error, and the partition's next
 * report or record tries again; so is a committed offset that could not be read (from_err,
 * bad_batch_from): the skip starts at the batch's first offset, and may skip again what a run
 * before skipped. Called with a->lock held. */
static void note_bad_step(struct analyzer *a, const rd_kafka_message_t *m,
                          const struct bad_step *st)
{
    char why[VG_ERRLEN], q[520];
    if (st->end > st->first)
        snprintf(why, sizeof(why), "librdkafka: %s (%s)", rd_kafka_message_errstr(m),
                 rd_kafka_err2name(m->err));
    for (int64_t o = st->first; o < st->end; o++) {
        a->consumed++;
        note_bad_message(a, m, o, why);
    }
    if (st->from_err) {
        a->consume_errors++;
        vg_warn("bad batch: committed offset not read, skipped from its first record",
                "errors=%llu topic=%s partition=%d batch_offset=%lld code=%s "
                "note=\"records a run before skipped may be counted again; the partition is not "
                "committed until past the batch\"",
                (unsigned long long)a->consume_errors,
                vg_log_quote(q, sizeof(q), rd_kafka_topic_name(m->rkt)), (int)m->partition,
                (long long)m->offset, rd_kafka_err2name(st->from_err));
    }
    if (st->seek_err) {
        a->consume_errors++;
        vg_warn("bad batch: seek failed", "errors=%llu topic=%s partition=%d offset=%lld code=%s",
                (unsigned long long)a->consume_errors,
                vg_log_quote(q, sizeof(q), rd_kafka_topic_name(m->rkt)), (int)m->partition,
                (long long)st->seek_to, rd_kafka_err2name(st->seek_err));
    }
}

/* The partition count under which m's key, its host's name, maps to m's partition by
 * librdkafka's default partitioner (the agent's): the current count or the one before it
 * changed (an agent sends by the old count until its producer's metadata refreshes); 0 when
 * neither (another partitioner, a key that is not the host, a count not known). Called with
 * a->lock held, a->msg decoded. */
static int32_t key_parts(const struct analyzer *a, const rd_kafka_message_t *m)
{
    size_t len = strlen(a->msg.host);
    if (!len || !m->key || m->key_len != len || memcmp(m->key, a->msg.host, len) != 0)
        return 0;
    const int32_t counts[] = {a->metrics_parts, a->metrics_parts_before};
    for (size_t i = 0; i < 2; i++)
        if (counts[i] > 0 && vg_kafka_key_partition(m->key, len, counts[i]) == m->partition)
            return counts[i];
    return 0;
}

/* Called with a->lock held. */
static void handle_message(struct analyzer *a, const rd_kafka_message_t *m)
{
    char err[VG_ERRLEN];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    a->consumed++;
    int rc = vg_wire_decode(m->payload, m->len, (size_t)a->cfg.max_message_bytes, &a->msg, err,
                            sizeof(err));
    if (rc < 0) {
        note_bad_message(a, m, m->offset, err);
        return;
    }
    /* Host models before the rules read their scores (not a redelivery after a rebalance or a
     * restart, which they would learn twice: the engine skips and counts it). */
    analyzer_models_feed(a, &a->msg);
    int done = vg_engine_process(a->engine, &a->msg, analyzer_on_event, a); /* analyzer_rules.c */
    /* A redelivery (1) changed nothing: not recorded among newer points, nor checkpointed. */
    if (done != 1)
        vg_history_record(a->history, a->engine, &a->msg); /* api_ops.c: vigilctl report */
    /* Which hosts leave with a partition on a rebalance (release_hosts), and whether its key put
     * it there (host_moved). */
    vg_engine_host_partition_keyed(a->engine, a->msg.host, m->partition, key_parts(a, m));
    /* Marked for the next checkpoint (vg_state_topic.c), with the partition it came from. */
    if (done != 1 && g_state && vg_state_topic_touch(g_state, a->msg.host, m->partition) < 0)
        vg_error("host not marked for checkpoint: out of memory", "host=%s", a->msg.host);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    vg_histo_observe(&a->processing_s,
                     (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    vg_api_observe_lag(a, vg_now_ms(), a->msg.ts_ms); /* api_ops.c */
}

/* Messages consumed when the last commit was sent, and when the last one acknowledged (commit_cb)
 * was: the stop says how many it leaves to be consumed again. Both on the loop's thread. */
static uint64_t g_consumed_at_commit, g_consumed_committed;

/* The consumer's positions when a checkpoint's records were made (ckpt_start), i.e. exactly what
 * that checkpoint covers, to be committed once it is acknowledged: the loop goes on consuming
 * meanwhile, and the positions it reaches are not in that checkpoint. */
struct positions {
    rd_kafka_topic_partition_list_t *l; /* NULL: nothing assigned, or not known */
    uint64_t consumed;                  /* messages consumed by then */
};

static void take_positions(struct analyzer *a, struct positions *p)
{
    p->consumed = a->consumed;
    p->l = NULL;
    if (rd_kafka_assignment(a->rk, &p->l) || !p->l) {
        p->l = NULL;
    } else if (!p->l->cnt || rd_kafka_position(a->rk, p->l)) {
        rd_kafka_topic_partition_list_destroy(p->l);
        p->l = NULL;
    } else {
        bad_cursors_apply(a, p->l);
    }
}

static void free_positions(struct positions *p)
{
    if (p->l)
        rd_kafka_topic_partition_list_destroy(p->l);
    p->l = NULL;
}

/* Commits at (NULL: the positions as they are now, i.e. exactly what has been processed and
 * checkpointed: rd_kafka_commit(NULL) would take them later, on librdkafka's thread, by when
 * more messages may have been processed past the checkpoint). */
static void commit_positions(rd_kafka_t *rk, int async, const struct positions *at)
{
    struct analyzer *a = rd_kafka_opaque(rk);
    if (at) {
        if (!at->l)
            return;
        g_consumed_at_commit = at->consumed;
        rd_kafka_resp_err_t e = rd_kafka_commit(rk, at->l, async);
        if (!async && (!e || e == RD_KAFKA_RESP_ERR__NO_OFFSET))
            g_consumed_committed = at->consumed;
        return;
    }
    uint64_t consumed = g_consumed_at_commit = a->consumed;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__NO_OFFSET;
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(rk, &l) || !l) {
        e = rd_kafka_commit(rk, NULL, async);
    } else {
        if (l->cnt && !rd_kafka_position(rk, l)) {
            bad_cursors_apply(a, l);
            e = rd_kafka_commit(rk, l, async);
        }
        rd_kafka_topic_partition_list_destroy(l);
    }
    if (!async && (!e || e == RD_KAFKA_RESP_ERR__NO_OFFSET))
        g_consumed_committed = consumed;
}

/* Never called: the stop's commit is served with the event API, which hands the result over as
 * an event and ignores cb. It is passed all the same because a commit without a cb also sends its
 * result to the consumer's offset_commit_cb (commit_cb), which would count a failure twice. */
static void commit_wait_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    (void)err;
    (void)offsets;
    (void)opaque;
}

/* The stop's commit: as commit_positions, but waiting until by (vg_mono_ms()) at most, where a
 * synchronous rd_kafka_commit waits for the group coordinator until the session timeout (45 s by
 * default) when the broker is down. 0 committed (or nothing to commit), -ETIMEDOUT not answered
 * in time (it may still happen later), -EIO refused (counted and logged as commit_cb does). */
static int commit_positions_by(struct analyzer *a, rd_kafka_t *rk, int64_t by,
                               const struct positions *at)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    uint64_t consumed = a->consumed;
    if (at) {
        if (!at->l || !(l = rd_kafka_topic_partition_list_copy(at->l)))
            return 0;
        consumed = at->consumed;
    } else if (rd_kafka_assignment(rk, &l) || !l) {
        l = NULL; /* the current offsets, as commit_positions does */
    } else if (!l->cnt || rd_kafka_position(rk, l)) {
        rd_kafka_topic_partition_list_destroy(l);
        return 0;
    } else {
        bad_cursors_apply(a, l);
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    /* No opaque: one left with a commit that timed out was freed with the consumer's destroy and
     * reported as a leak at exit (LeakSanitizer, the CI's abort_on_error). */
    rd_kafka_resp_err_t e =
        q ? rd_kafka_commit_queue(rk, l, q, commit_wait_cb, NULL) : RD_KAFKA_RESP_ERR__FAIL;
    if (!e) {
        e = RD_KAFKA_RESP_ERR__TIMED_OUT;
        for (int64_t left; (left = by - vg_mono_ms()) > 0;) {
            rd_kafka_event_t *ev = rd_kafka_queue_poll(q, left > 100 ? 100 : (int)left);
            int done = ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT;
            if (done)
                e = rd_kafka_event_error(ev);
            if (ev)
                rd_kafka_event_destroy(ev);
            if (done)
                break;
        }
    }
    if (q)
        rd_kafka_queue_destroy(q); /* a late result finds it refcounted, not freed */
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    if (!e || e == RD_KAFKA_RESP_ERR__NO_OFFSET) {
        g_consumed_committed = consumed;
        return 0;
    }
    if (e == RD_KAFKA_RESP_ERR__TIMED_OUT)
        return -ETIMEDOUT;
    /* As commit_cb: every failure counted, the line under the generic rate limit. */
    char kv[1024];
    a->commit_errors++;
    vg_warn("offset commit failed", "errors=%llu %s", (unsigned long long)a->commit_errors,
            vg_kafka_commit_error_kv(e, NULL, kv, sizeof(kv)));
    return -EIO;
}

/* /readyz: not ready from the second failure in a row until a checkpoint is acknowledged
 * (vg_api_ready). A failure is tried again at the next interval even when no message comes: one
 * in a revoke (rebalance_cb) left nothing to make the loop try again, and an idle analyzer
 * stayed not ready for good. Called with a->lock held, rc a checkpoint's outcome (not 1). */
static void note_checkpoint(struct analyzer *a, int rc, const char *err)
{
    if (rc < 0) {
        if (!a->ckpt_failing++)
            a->ckpt_failing_since_ms = vg_now_ms();
        snprintf(a->ckpt_error, sizeof(a->ckpt_error), "%s", err);
        a->state_touched = 1;
    } else {
        a->ckpt_failing = 0;
    }
}

/* One step of a checkpoint: CKPT_PRODUCE queues the changed hosts' records, CKPT_SETTLE takes
 * the broker's answer (and may queue a next step). rc as vg_state_topic_ckpt_produce's; when it
 * is not 1 (still waiting for the broker) the outcome is noted for /readyz. Holds a->lock for
 * the step and the note only: the step reads the engine and host models and changes the state
 * topic's marks, which the API's threads use under that lock (vg_state_topic.h), and
 * note_checkpoint's fields are read by /readyz under it. The wait for the broker between steps
 * (rc 1) is the caller's, without the lock, so that the API answers meanwhile. */
enum ckpt_op { CKPT_PRODUCE, CKPT_SETTLE };

static int ckpt_step(struct analyzer *a, enum ckpt_op step, char *err, size_t errlen)
{
    pthread_mutex_lock(&a->lock);
    int rc = step == CKPT_PRODUCE
                 ? vg_state_topic_ckpt_produce(g_state, a->engine, a->hm.models,
                                               (int)a->cfg.state_checkpoint_timeout_ms, err, errlen)
                 : vg_state_topic_ckpt_settle(g_state, a->engine, a->hm.models, err, errlen);
    if (rc != 1)
        note_checkpoint(a, rc, err);
    pthread_mutex_unlock(&a->lock);
    return rc;
}

/* The run loop's checkpoint under way (ckpt_start, then ckpt_poll at every turn of the loop): at
 * most one. Its wait for the broker (up to state.checkpoint_timeout, at every checkpoint of a state
 * topic outage) used to hold the loop: nothing consumed, and the 100 ms tick (group waits, repeats,
 * silences, host_silent, scaling policies) ran once per 10 s. A revoke and the stop settle it
 * first (ckpt_finish), or drop it when the partitions are lost (ckpt_abandon), so that the
 * positions it noted are never committed after their partitions went. */
static struct {
    int active;
    struct positions at; /* committed once it is acknowledged */
} g_ckpt;

/* Starts the loop's checkpoint: the changed hosts' records are queued (their state now) and the
 * positions they cover noted. 1 when there was nothing to wait for (no state topic, nothing
 * changed): the current positions may be committed; 0 failed at once; 2 under way. */
static int ckpt_start(struct analyzer *a)
{
    if (!g_state)
        return 1;
    char err[VG_ERRLEN];
    int rc = ckpt_step(a, CKPT_PRODUCE, err, sizeof(err));
    if (rc == 1) {
        /* No message is processed in between: the loop's thread does both. */
        take_positions(a, &g_ckpt.at);
        g_ckpt.active = 1;
        return 2;
    }
    if (rc < 0)
        vg_warn("checkpoint failed: offsets not committed", "reason=\"%s\"", err);
    return rc == 0;
}

/* The loop's checkpoint is over (rc not 1; a->lock not held): once acknowledged, the positions
 * it noted are committed, not the later ones. 1 acknowledged, 0 failed. */
static int ckpt_done(struct analyzer *a, int rc, const char *err, int commit)
{
    g_ckpt.active = 0;
    if (rc < 0)
        vg_warn("checkpoint failed: offsets not committed", "reason=\"%s\"", err);
    else if (commit)
        commit_positions(a->rk, 1, &g_ckpt.at);
    if (rc < 0 || commit)
        free_positions(&g_ckpt.at);
    return rc == 0;
}

/* At every turn of the run loop: settles the checkpoint under way once the broker has answered
 * or its deadline has passed, without waiting. -1 when it failed (its hosts stay marked, and the
 * loop tries again at the next interval), else 0. */
static int ckpt_poll(struct analyzer *a)
{
    if (!g_ckpt.active || vg_state_topic_ckpt_poll(g_state))
        return 0;
    char err[VG_ERRLEN];
    int rc = ckpt_step(a, CKPT_SETTLE, err, sizeof(err));
    if (rc == 1)
        return 0; /* its next step is queued: a trial, or its records after the topic's check */
    return ckpt_done(a, rc, err, 1) ? 0 : -1;
}

/* Waits for the loop's checkpoint under way, as checkpoint() waits for its own: a revoke and the
 * stop settle it before they write theirs. 1 acknowledged, its positions moved to *at (the
 * caller commits them, while their partitions are still assigned, or frees them); 0 none under
 * way, or failed (*at empty). The wait ends by the stop's deadline too
 * (vg_state_topic_set_stop_by). */
static int ckpt_finish(struct analyzer *a, struct positions *at)
{
    *at = (struct positions){0};
    if (!g_ckpt.active)
        return 0;
    char err[VG_ERRLEN];
    int rc = 1;
    while (rc == 1) {
        if (vg_state_topic_ckpt_poll(g_state))
            vg_state_topic_ckpt_wait(g_state);
        rc = ckpt_step(a, CKPT_SETTLE, err, sizeof(err));
    }
    if (!ckpt_done(a, rc, err, 0))
        return 0;
    *at = g_ckpt.at;
    g_ckpt.at = (struct positions){0};
    return 1;
}

/* The partitions were lost (another member may own them already): the checkpoint under way is
 * dropped unsettled, its hosts still marked, its positions never committed. */
static void ckpt_abandon(struct analyzer *a)
{
    if (!g_ckpt.active)
        return;
    pthread_mutex_lock(&a->lock);
    vg_state_topic_ckpt_abandon(g_state);
    pthread_mutex_unlock(&a->lock);
    g_ckpt.active = 0;
    free_positions(&g_ckpt.at);
    vg_info("checkpoint under way dropped: partitions lost", NULL);
}

/* Writes the changed hosts' state and waits for the broker: 1 when the offsets may be committed
 * (or there is no state topic), 0 when not, so a commit never runs ahead of the state. For a
 * revoke and the stop, after ckpt_finish; the run loop does not wait (ckpt_start). The wait (up
 * to state.checkpoint_timeout) holds no lock: the API, probes included, answered only after it.
 * Meanwhile nothing changes what was written: only this thread touches the state topic's hosts, and
 * it is waiting here. */
static int checkpoint(struct analyzer *a)
{
    if (!g_state)
        return 1;
    char err[VG_ERRLEN];
    int rc = ckpt_step(a, CKPT_PRODUCE, err, sizeof(err));
    while (rc == 1) {
        vg_state_topic_ckpt_wait(g_state);
        rc = ckpt_step(a, CKPT_SETTLE, err, sizeof(err));
    }
    if (rc < 0)
        vg_warn("checkpoint failed: offsets not committed", "reason=\"%s\"", err);
    return rc == 0;
}

/* A restore in a thread of its own, so that the loop's thread, which waits for it, keeps the
 * watchdog and sees SIGTERM: state.restore_timeout may be 10 minutes, WatchdogSec is 30 s, and a
 * restore from a slow broker used to starve the watchdog (systemd killed the analyzer, which
 * restarted into the same restore) and hold off a stop. */
struct restore_job {
    struct analyzer *a;
    const int32_t *ids;
    size_t n;
    int rc;
    char err[VG_ERRLEN];
    atomic_int done;
};

/* Set on SIGTERM while a restore runs: the restore ends (vg_state_topic_set_stop). */
static atomic_int g_restore_stop;

static void *restore_main(void *arg)
{
    struct restore_job *j = arg;
    j->rc =
        vg_state_topic_restore(g_state, j->a->engine, j->a->hm.models, &j->a->lock, j->ids, j->n,
                               (int)j->a->cfg.state_restore_timeout_ms, j->err, sizeof(j->err));
    atomic_store(&j->done, 1);
    return NULL;
}

/* How long past state.restore_timeout the watchdog is still kept while the restore runs: the
 * read ends at its deadline, give or take the request in flight (5 s at most) and closing its
 * consumer. A restore that overruns this is stuck, and the watchdog is left to say so. */
#define RESTORE_GRACE_MS 15000

/* Runs the restore (which takes a->lock itself, only to import each host: called without it) and
 * waits for it, petting the watchdog and passing a stop on. */
static int run_restore(struct analyzer *a, const int32_t *ids, size_t n, char *err, size_t errlen)
{
    struct restore_job j = {.a = a, .ids = ids, .n = n};
    int64_t keep_until = vg_mono_ms() + a->cfg.state_restore_timeout_ms + RESTORE_GRACE_MS;
    atomic_store(&g_restore_stop, g_stop);
    pthread_t t;
    if (pthread_create(&t, NULL, restore_main, &j) != 0) {
        restore_main(&j); /* no thread: as before, without the watchdog meanwhile */
    } else {
        while (!atomic_load(&j.done)) {
            int64_t now = vg_mono_ms();
            if (now < keep_until)
                vg_notify_watchdog(now);
            if (g_stop)
                atomic_store(&g_restore_stop, 1);
            vg_sleep_ms(50, NULL);
        }
        pthread_join(t, NULL);
    }
    snprintf(err, errlen, "%s", j.err);
    return j.rc;
}

/* For the receivers' restored(): whether the host is held here. Called with a->lock held. */
static int engine_holds_host(void *ud, const char *host)
{
    const struct analyzer *a = ud;
    struct vg_engine_host h;
    return vg_engine_describe_host(a->engine, host, &h, NULL, NULL) == 0;
}

/* Before consuming newly assigned partitions, continue their hosts from the state topic. */
static void restore_state(struct analyzer *a, const int32_t *ids, size_t n)
{
    if (!g_state || !n)
        return;
    char err[VG_ERRLEN];
    /* Without the lock: holding it for the read (up to state.restore_timeout, 10 minutes at
     * most) held up the whole API, /readyz and /metrics included, so that probes timed out. The
     * restore takes it to import each host. Nothing else changes these hosts meanwhile: this
     * thread, which consumes them, waits for the restore, their partitions are consumed only
     * after it, and the API only reads the engine (a reload, which sets the rules of every host,
     * comes before or after each host's import, as it would before or after the restore). */
    pthread_mutex_lock(&a->lock);
    a->restoring = (int)n;
    a->restoring_since_ms = vg_now_ms();
    pthread_mutex_unlock(&a->lock);
    int rc = run_restore(a, ids, n, err, sizeof(err));
    pthread_mutex_lock(&a->lock);
    a->restoring = 0;
    pthread_mutex_unlock(&a->lock);
    vg_notify_watchdog_ahead(vg_mono_ms(), BROKER_WAIT_MS);
    if (rc == -ECANCELED)
        vg_info("state restore stopped: the analyzer stops", NULL);
    else if (rc < 0)
        vg_warn("state not restored: hosts without a restored record warm up again",
                "reason=\"%s\"", err);
    /* Alerts of rules this analyzer's files do not have (removed while the host was elsewhere or
     * this analyzer was down) would otherwise stay open at the receivers: resolved here as a
     * reload that removes the rule resolves them, through the dispatcher and the outbox. */
    pthread_mutex_lock(&a->lock);
    size_t resolved = vg_engine_resolve_orphans(a->engine, analyzer_on_event, a);
    pthread_mutex_unlock(&a->lock);
    if (resolved)
        vg_info("alerts of rules not loaded here resolved", "alerts=%zu", resolved);
    /* Alerts that fire on the restored hosts were notified by the process that checkpointed
     * them: listed, repeated and kept alive at Alertmanager from here on. Hosts already held
     * here are known to the dispatcher and left as they are. */
    if (!a->dispatch)
        return;
    pthread_mutex_lock(&a->lock);
    struct vg_dispatch_stats before, after;
    vg_dispatch_get_stats(a->dispatch, &before);
    size_t firing = vg_engine_each_firing(a->engine, analyzer_on_adopted, a);
    vg_dispatch_get_stats(a->dispatch, &after);
    /* Every firing alert of the restored hosts is handed to the receivers now, and those of hosts
     * held before went out from here: a receiver's held firing of a host held here is of an
     * alert that does not fire here, and would otherwise wait for max_age. Not after a restore
     * that failed or timed out: hosts without their record start cold, and may fire still. */
    for (size_t i = 0; rc == 0 && i < a->n_receivers; i++)
        if (a->receivers[i].act->restored)
            a->receivers[i].act->restored(a->receivers[i].inst, engine_holds_host, a);
    pthread_mutex_unlock(&a->lock);
    if (after.adopted > before.adopted)
        vg_info("firing alerts taken over", "alerts=%llu firing=%zu",
                (unsigned long long)(after.adopted - before.adopted), firing);
}

/* A host_silent transition changes a host that sends nothing: it goes into the next checkpoint,
 * so that the alert moves with the host (docs/reliability.md). */
static void on_silent_event(void *ud, const struct vg_notification *n)
{
    struct analyzer *a = ud;
    analyzer_on_event(ud, n);
    if (g_state && n->host && vg_state_topic_touch(g_state, n->host, -1) == -ENOMEM)
        vg_error("host not marked for checkpoint: out of memory", "host=%s", n->host);
    a->state_touched = 1; /* checkpointed even if no message comes */
}

/* Its alert's firing was notified (send_to_receivers): its state record says so from the next
 * checkpoint on. */
static void host_changed(struct analyzer *a, const char *host)
{
    if (g_state && vg_state_topic_touch(g_state, host, -1) == -ENOMEM)
        vg_error("host not marked for checkpoint: out of memory", "host=%s", host);
    a->state_touched = 1; /* checkpointed even if no message comes */
}

static void forget_host(void *ud, const char *host)
{
    struct analyzer *a = ud;
    vg_models_host_drop(a->hm.models, host);
    vg_history_forget_host(a->history, host);
    if (a->dispatch)
        vg_dispatch_forget_host(a->dispatch, host, vg_now_ms());
    /* After the dispatcher, whose held firings of the host may be kept behind a resolve. */
    analyzer_owed_forget_host(a, host);
    /* After the dispatcher, which may still send a held notification of the host: the receivers
     * deliver it (it has not failed here), but stop re-sending the host's alerts, which are the
     * new owner's now, and hold back its firings that failed here, which could reach the
     * receiver after the new owner's resolve. */
    for (size_t i = 0; i < a->n_receivers; i++)
        if (a->receivers[i].act->forget_host)
            a->receivers[i].act->forget_host(a->receivers[i].inst, host);
    if (g_state)
        vg_state_topic_forget(g_state, host);
}

/* A host forgotten after limits.host_idle (vg_engine_expire_hosts): its alerts were resolved
 * through analyzer_on_event; what the analyzer keeps of it besides the engine goes too, and its
 * state record is deleted at the next checkpoint so that no restart or new owner revives it. */
static void expire_host(void *ud, const char *host)
{
    struct analyzer *a = ud;
    vg_models_host_drop(a->hm.models, host);
    vg_history_forget_host(a->history, host);
    if (g_state) {
        vg_state_topic_drop(g_state, host);
        a->state_touched = 1;
    }
}

/* Partitions of the metrics topic in l. Returns how many, into a malloc'd *out (NULL: none or
 * out of memory). */
static size_t topic_partitions(const struct analyzer *a, const rd_kafka_topic_partition_list_t *l,
                               int32_t **out)
{
    *out = l->cnt ? calloc((size_t)l->cnt, sizeof(**out)) : NULL;
    size_t n = 0;
    for (int i = 0; *out && i < l->cnt; i++)
        if (strcmp(l->elems[i].topic, a->cfg.topic) == 0)
            (*out)[n++] = l->elems[i].partition;
    return n;
}

/* Drops the hosts of partitions that went to another member: their new owner continues them
 * from the state topic, and a copy left here would hold memory, show stale scores and alerts in
 * the API, and be checkpointed over the new owner's state if this member processed the host
 * again. */
static void release_hosts(struct analyzer *a, const int32_t *ids, size_t n)
{
    if (!n)
        return;
    pthread_mutex_lock(&a->lock);
    size_t k = vg_engine_release(a->engine, ids, n, forget_host, a);
    pthread_mutex_unlock(&a->lock);
    vg_info("hosts released", "partitions=%zu hosts_released=%zu", n, k);
}

/* The metrics topic's partition count (0 when the broker does not say): which analyzer decides
 * each scaling target follows from it (vg_decisions_decider_partition), and which partition a
 * host's key maps to (host_moved). */
static int metrics_partition_count(const struct analyzer *a, rd_kafka_t *rk)
{
    int n = vg_kafka_topic_partitions(rk, a->cfg.topic, 0, 5000, NULL);
    return n > 0 ? n : 0;
}

/* The metrics topic's partition count as the cluster says now (n > 0). Called with a->lock
 * held. */
static void note_partition_count(struct analyzer *a, int32_t n)
{
    if (n <= 0 || n == a->metrics_parts)
        return;
    if (a->metrics_parts > 0)
        vg_info("metrics topic partition count changed: hosts whose key maps to another "
                "analyzer's partition now are released when they stop arriving here",
                "topic=%s from=%d to=%d", a->cfg.topic, (int)a->metrics_parts, (int)n);
    a->metrics_parts_before = a->metrics_parts;
    a->metrics_parts = n;
}

/* Partitions revoked cleanly (checkpointed and committed), kept in memory until the next
 * assignment says which of them stay: with the eager protocol every rebalance revokes them all,
 * and those assigned again continue from memory instead of being dropped and read back from the
 * state topic. Only when no other member processed them in between: a member whose membership
 * expired after the revoke (stopped, or paused longer than session.timeout.ms) rejoins later,
 * and meanwhile another member may have owned, advanced and committed them. Each revoked
 * partition keeps the committed offset this member left it with; a partition whose committed
 * offset is another on its return is restored from the state topic like a new one. */
struct revoked {
    int32_t partition;
    int64_t offset; /* the group's committed offset after the revoke's commit */
};
static struct revoked *g_revoked;
static size_t g_n_revoked;

static const struct revoked *find_revoked(int32_t p)
{
    for (size_t i = 0; i < g_n_revoked; i++)
        if (g_revoked[i].partition == p)
            return &g_revoked[i];
    return NULL;
}

/* The group's committed offsets of the metrics topic's partitions in parts (revoked cleanly,
 * after this member's commit), for the next assignment. Not this member's positions: the
 * revoke's commit may be refused while the group rebalances, and then the committed offset is
 * this member's previous one, still its own. An offset that cannot be read matches none: that
 * partition is restored if it comes back. -ENOMEM when nothing could be noted. */
static int remember_revoked(struct analyzer *a, rd_kafka_t *rk,
                            const rd_kafka_topic_partition_list_t *parts)
{
    g_revoked = parts->cnt ? calloc((size_t)parts->cnt, sizeof(*g_revoked)) : NULL;
    if (parts->cnt && !g_revoked)
        return -ENOMEM;
    rd_kafka_topic_partition_list_t *pos = rd_kafka_topic_partition_list_copy(parts);
    int known = pos && !rd_kafka_committed(rk, pos, BROKER_WAIT_MS);
    for (int i = 0; i < parts->cnt; i++)
        if (strcmp(parts->elems[i].topic, a->cfg.topic) == 0)
            g_revoked[g_n_revoked++] =
                (struct revoked){parts->elems[i].partition,
                                 known && !pos->elems[i].err ? pos->elems[i].offset : INT64_MIN};
    if (pos)
        rd_kafka_topic_partition_list_destroy(pos);
    return 0;
}

/* Of the partitions in ids that this member revoked cleanly, those whose committed offset is
 * still the one it left: 1 for each in *kept (calloc'd, n entries). A partition whose committed
 * offset cannot be read counts as moved on: restoring it again costs a read of the state topic,
 * continuing a stale copy costs sequence gaps and a checkpoint over the newer state. */
static unsigned char *kept_partitions(struct analyzer *a, rd_kafka_t *rk, const int32_t *ids,
                                      size_t n)
{
    unsigned char *kept = n ? calloc(n, 1) : NULL;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; kept && l && i < n; i++)
        if (find_revoked(ids[i]))
            rd_kafka_topic_partition_list_add(l, a->cfg.topic, ids[i]);
    if (!kept || !l || !l->cnt) {
        if (l)
            rd_kafka_topic_partition_list_destroy(l);
        return kept;
    }
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, l, BROKER_WAIT_MS);
    size_t moved = 0;
    for (int i = 0; i < l->cnt; i++) {
        const struct revoked *r = find_revoked(l->elems[i].partition);
        int same = !e && !l->elems[i].err && r && l->elems[i].offset == r->offset;
        for (size_t j = 0; same && j < n; j++)
            if (ids[j] == l->elems[i].partition)
                kept[j] = 1;
        moved += !same;
    }
    if (moved)
        vg_info("partitions moved on while revoked: their hosts are restored again",
                "partitions=%zu reason=%s", moved,
                e ? rd_kafka_err2name(e) : "committed offset is not this member's");
    rd_kafka_topic_partition_list_destroy(l);
    return kept;
}

static void forget_offset_resets(void);

/* The firings group_wait holds, sent before a checkpoint that hands their hosts on (a stop's, a
 * revoke's), so that it records them notified. */
static void send_held(struct analyzer *a, const char *why)
{
    if (!a->dispatch)
        return;
    pthread_mutex_lock(&a->lock);
    vg_dispatch_send_held(a->dispatch, vg_now_ms(), why);
    pthread_mutex_unlock(&a->lock);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct analyzer *a = opaque;
    /* An assignment still queued when the run loop stopped is served by the stop's close
     * (close_consumer_by): its committed-offset, partition-count and restore waits (up to 10 s
     * and 5 s each) would overrun the stop's deadline, for partitions the close gives up at
     * once. Only acknowledged (check_assignment_strategy allows the eager protocol alone). */
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS && atomic_load(&g_stopping)) {
        vg_info("partitions assigned during the stop: not restored", "count=%d", parts->cnt);
        rd_kafka_assign(rk, parts);
        return;
    }
    /* The loop that pets the watchdog waits for this callback, whose steps each wait for the
     * broker up to BROKER_WAIT_MS: petted before each that it would fall due in. */
    vg_notify_watchdog_ahead(vg_mono_ms(), BROKER_WAIT_MS);
    int32_t *ids;
    size_t n = topic_partitions(a, parts, &ids);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        vg_info("partitions assigned", "count=%d", parts->cnt);
        /* A checkpoint the loop started since the revoke (which settled the one before) covers
         * no partition, but it writes hosts that are released or restored below: settled
         * first, as the loop's wait used to be over before this ran. */
        struct positions none;
        ckpt_finish(a, &none);
        free_positions(&none);
        vg_notify_watchdog_ahead(vg_mono_ms(), BROKER_WAIT_MS);
        /* Kept: revoked here and assigned again with nothing committed since. Gone: revoked and
         * not kept (assigned elsewhere, or advanced by another member meanwhile). New: those
         * not kept, restored from the state topic. */
        unsigned char *kept = kept_partitions(a, rk, ids, n);
        size_t n_gone = 0, n_new = 0;
        int32_t *gone = g_n_revoked ? calloc(g_n_revoked, sizeof(*gone)) : NULL;
        for (size_t i = 0; gone && i < g_n_revoked; i++) {
            int32_t p = g_revoked[i].partition;
            int stays = 0;
            for (size_t j = 0; kept && j < n; j++)
                stays |= ids[j] == p && kept[j];
            if (!stays)
                gone[n_gone++] = p;
        }
        release_hosts(a, gone, n_gone);
        free(gone);
        for (size_t i = 0; ids && i < n; i++)
            if (!kept || !kept[i])
                ids[n_new++] = ids[i];
        free(kept);
        free(g_revoked);
        g_revoked = NULL;
        g_n_revoked = 0;
        /* For the restore, which refuses a record naming a partition past the count. Asked
         * apart from the lookup below, which follows the restore as it always did. */
        if (g_state && n_new) {
            vg_notify_watchdog_ahead(vg_mono_ms(), BROKER_WAIT_MS);
            vg_state_topic_set_metrics_partitions(g_state, metrics_partition_count(a, rk));
        }
        restore_state(a, ids, n_new);
        free(ids);
        forget_offset_resets(); /* read from the committed offsets again */
        forget_bad_cursors();
        rd_kafka_assign(rk, parts);
        vg_notify_watchdog_ahead(vg_mono_ms(), BROKER_WAIT_MS);
        int32_t *owned;
        size_t n_owned = topic_partitions(a, parts, &owned);
        int count = metrics_partition_count(a, rk);
        pthread_mutex_lock(&a->lock);
        a->assigned = parts->cnt;
        note_partition_count(a, count);
        if (a->decisions && vg_decisions_set_partitions(a->decisions, owned, n_owned, count) < 0)
            vg_error("scaling: partitions not noted (out of memory): this analyzer decides "
                     "nothing until the next assignment",
                     NULL);
        pthread_mutex_unlock(&a->lock);
        free(owned);
        return;
    }
    /* Messages are processed synchronously, so the consumer's positions are exactly what has
     * been processed: checkpoint and commit them before another member takes the partitions
     * over. Not when the assignment was lost (session timeout): another member may own them
     * already, and this state, older than its own, must not overwrite it; its hosts go now. */
    int lost = rd_kafka_assignment_lost(rk);
    vg_info("partitions revoked", "count=%d lost=%d", parts->cnt, lost);
    /* Stopping, the stop's own checkpoint and commit came right before and nothing has been
     * processed since: a second try would only wait for a broker that just did not answer.
     * The loop's checkpoint under way is settled first, and the positions it noted committed
     * only if this revoke's own checkpoint fails, and only here, while the partitions are still
     * this member's; lost, it is dropped. */
    if (lost || atomic_load(&g_stopping)) {
        ckpt_abandon(a);
    } else {
        struct positions at;
        int at_ok = ckpt_finish(a, &at);
        vg_notify_watchdog_ahead(vg_mono_ms(), BROKER_WAIT_MS);
        /* Every partition is revoked (the eager protocol), and whether one comes back is known
         * only at the assignment, by when a new owner may have restored its hosts: their held
         * firings go now, a little before their group_wait ends, so that this checkpoint says
         * they were notified and no new owner sends them again. */
        send_held(a, "rebalance");
        if (checkpoint(a))
            commit_positions(rk, 0, NULL);
        else if (at_ok)
            commit_positions(rk, 0, &at);
        free_positions(&at);
    }
    vg_notify_watchdog_ahead(vg_mono_ms(), BROKER_WAIT_MS);
    free(g_revoked);
    g_revoked = NULL;
    g_n_revoked = 0;
    if (lost && !g_stop)
        release_hosts(a, ids, n);
    else if (!g_stop && remember_revoked(a, rk, parts) < 0) /* at shutdown nothing lingers */
        release_hosts(a, ids, n);
    free(ids);
    rd_kafka_assign(rk, NULL);
    forget_offset_resets(); /* nothing is read until the next assignment */
    forget_bad_cursors();
    pthread_mutex_lock(&a->lock);
    a->assigned = 0;
    if (a->decisions) /* its hosts are no longer this analyzer's to measure */
        vg_decisions_set_partitions(a->decisions, NULL, 0, 0);
    pthread_mutex_unlock(&a->lock);
}

static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    struct analyzer *a = opaque;
    (void)rk;
    if (!err || err == RD_KAFKA_RESP_ERR__NO_OFFSET) {
        g_consumed_committed = g_consumed_at_commit;
        return;
    }
    /* The generic rate limit, not one line per 100: it says how many it held back
     * (repeats_suppressed, "log lines suppressed"). */
    char kv[1024];
    a->commit_errors++;
    vg_warn("offset commit failed", "errors=%llu %s", (unsigned long long)a->commit_errors,
            vg_kafka_commit_error_kv(err, offsets, kv, sizeof(kv)));
}

/* Offset resets librdkafka logged (consumer_log_cb, on its threads) and the run loop has not
 * reported yet (note_offset_resets), and the partitions reset and not read from since. */
static struct vg_kafka_resets g_resets = VG_KAFKA_RESETS_INIT;

/* librdkafka resets a partition's position by auto.offset.reset after OFFSET_OUT_OF_RANGE
 * (retention deleted it, the topic was recreated or truncated) and tells the application only
 * in its log; auto.offset.reset=error would tell it but also stop the partition, which librdkafka
 * 2.0 does not let a seek restart. So the consumer's OFFSET lines are read here, and the run
 * loop logs and counts the records skipped. */
static void consumer_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    vg_kafka_log(rd_kafka_name(rk), level, fac, buf);
    vg_kafka_resets_line(&g_resets, level, fac, buf);
}

/* A new assignment reads each partition from its committed offset, and a revocation reads none:
 * a reset before it skipped nothing that will not be read (or was read by another member
 * meanwhile), including one logged before it and reported after it (the poll that ran the
 * rebalance). */
static void forget_offset_resets(void)
{
    vg_kafka_resets_forget(&g_resets);
}

/* Logs and counts the resets consumer_log_cb saw. Called without a->lock. The offset a reset
 * went to is known only when the next record of the partition arrives (librdkafka resolves END
 * and BEGINNING with the broker; resets in a row each start where the one before went), so the
 * records skipped are counted then (note_read_after_reset). */
static void note_offset_resets(struct analyzer *a)
{
    struct vg_kafka_reset r[VG_KAFKA_RESETS_MAX];
    uint64_t lost;
    size_t n = vg_kafka_resets_take(&g_resets, r, &lost);
    if (!n && !lost)
        return;
    pthread_mutex_lock(&a->lock);
    a->offset_resets += n + lost;
    pthread_mutex_unlock(&a->lock);
    for (size_t i = 0; i < n; i++) {
        char q[520], tos[32];
        if (r[i].to >= 0)
            snprintf(tos, sizeof(tos), "%lld", (long long)r[i].to);
        else
            snprintf(tos, sizeof(tos), "%s",
                     r[i].to == RD_KAFKA_OFFSET_BEGINNING ? "beginning" : "end");
        vg_warn("partition offset reset", "topic=%s partition=%d offset=%lld reset_to=%s",
                vg_log_quote(q, sizeof(q), r[i].topic), (int)r[i].partition, (long long)r[i].at,
                tos);
    }
    if (lost)
        vg_warn("partition offset resets not logged", "count=%llu", (unsigned long long)lost);
}

/* m, a record of a partition reset since its last one: the offsets between where the reset was
 * and m were skipped (none when the reset went back, to records read again). Called with
 * a->lock held. */
static void note_read_after_reset(struct analyzer *a, const rd_kafka_message_t *m)
{
    int64_t at;
    if (!m->rkt ||
        !vg_kafka_resets_read(&g_resets, rd_kafka_topic_name(m->rkt), m->partition, m->offset, &at))
        return;
    if (m->offset > at) {
        uint64_t n = (uint64_t)(m->offset - at);
        char q[520];
        a->offset_reset_skipped += n;
        vg_warn("records skipped by an offset reset",
                "topic=%s partition=%d offset=%lld reset_to=%lld skipped=%llu",
                vg_log_quote(q, sizeof(q), rd_kafka_topic_name(m->rkt)), (int)m->partition,
                (long long)at, (long long)m->offset, (unsigned long long)n);
    }
}

/* The group consumer's config; for open_consumer and --check-config. */
static int consumer_conf(const struct analyzer_cfg *c, const char *bootstrap, rd_kafka_conf_t **out,
                         char *err, size_t errlen)
{
    const struct vg_kafka_prop defaults[] = {
        {"client.id", "vigil-analyzer"},
        {"bootstrap.servers", bootstrap},
        {"group.id", c->group_id},
        /* Commits are explicit, after processing: at-least-once, and the engine drops
         * redelivered sequence numbers. */
        {"enable.auto.commit", "false"},
        {"auto.offset.reset", "latest"},
        {"enable.partition.eof", "false"},
        /* librdkafka's default is false: a batch damaged after the broker checked it (a disk,
         * a copy) would be read, and a flipped digit could decode as a valid value. A CRC-32C
         * per fetched batch costs little; a failure is a bad message, skipped like one that
         * does not decompress (struct bad_cursor). */
        {"check.crcs", "true"},
        {NULL, NULL},
    };
    return vg_kafka_conf_new(out, defaults, &c->kafka, err, errlen);
}

/* --check-config: the Kafka clients the start creates, each created and destroyed once without a
 * broker (vg_kafka_client_check), as their names appear in the start's errors. The restore
 * readers are consumers with nothing more to judge than the group consumer's properties; the
 * decisions producer adds only client.id and linger.ms to the user's. */
static int check_kafka_clients(const struct analyzer_cfg *c, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = NULL;
    /* The file a start would wait for (vg_kafka_wait_files), refused at once, in the words the
     * start gives up with, before librdkafka's own "ssl.ca.location failed". */
    int rc = vg_kafka_missing_file(&c->kafka, err, errlen);
    if (!rc)
        rc = consumer_conf(c, c->bootstrap_servers, &conf, err, errlen);
    if (!rc)
        rc = vg_kafka_client_check(RD_KAFKA_CONSUMER, conf, "kafka consumer", err, errlen);
    if (!rc && c->state_topic && *c->state_topic)
        rc = vg_state_topic_check_kafka(&c->kafka, err, errlen);
    if (!rc && c->decisions_topic && *c->decisions_topic &&
        (rc = vg_kafka_conf_new(&conf, NULL, &c->kafka, err, errlen)) == 0)
        rc = vg_kafka_client_check(RD_KAFKA_PRODUCER, conf, "decisions producer", err, errlen);
    return rc;
}

static int open_consumer(struct analyzer *a, const char *bootstrap, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf;
    int rc = consumer_conf(&a->cfg, bootstrap, &conf, err, errlen);
    if (rc)
        return rc;
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(conf, commit_cb);
    rd_kafka_conf_set_log_cb(conf, consumer_log_cb);
    rd_kafka_conf_set_opaque(conf, a);
    char rkerr[256];
    a->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rkerr, sizeof(rkerr));
    if (!a->rk) {
        rd_kafka_conf_destroy(conf);
        return vg_err(err, errlen, -EINVAL, "kafka consumer: %s", rkerr);
    }
    rd_kafka_poll_set_consumer(a->rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, a->cfg.topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(a->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e)
        return vg_err(err, errlen, -EINVAL, "subscribe to %s: %s", a->cfg.topic,
                      rd_kafka_err2str(e));
    return 0;
}

struct wanted_rx {
    const char *type, *url, *key_file;
    double rate;
};

/* The receivers to run, one per type whose destination is configured (a type with no url is
 * not wanted); for open_receivers() and, for what they need, check_start(). */
static void wanted_receivers(const struct analyzer_cfg *c, struct wanted_rx want[4])
{
    want[0] = (struct wanted_rx){"webhook", c->webhook_url, NULL, c->webhook_rate};
    want[1] = (struct wanted_rx){"alertmanager", c->alertmanager_url, NULL, c->alertmanager_rate};
    want[2] =
        (struct wanted_rx){"pagerduty", c->pagerduty_routing_key_file ? c->pagerduty_url : NULL,
                           c->pagerduty_routing_key_file, c->pagerduty_rate};
    want[3] = (struct wanted_rx){"slack", c->slack_url, NULL, c->slack_rate};
}

/* One receiver per type whose destination is configured; each shares the delivery settings
 * (webhook.timeout, .max_attempts, .max_age, .backoff_*, .queue_max) and the outbox directory. */
static int open_receivers(struct analyzer *a, char *err, size_t errlen)
{
    const struct analyzer_cfg *c = &a->cfg;
    struct wanted_rx want[4];
    wanted_receivers(c, want);
    const char *url_files[4] = {c->webhook_url_file, c->alertmanager_url_file, NULL,
                                c->slack_url_file};
    for (size_t i = 0; i < VG_ARRAY_LEN(want); i++) {
        if (!want[i].url || !*want[i].url)
            continue;
        char key[96], file_key[96], kb[1024];
        snprintf(key, sizeof key, "%s.url", want[i].type);
        snprintf(file_key, sizeof file_key, "%s.url_file", want[i].type);
        struct vg_receiver_cfg rc = {
            .type = want[i].type,
            .url = want[i].url,
            .url_hide_path = url_files[i] && *url_files[i],
            .url_key = vg_urlfile_key(key, file_key, url_files[i], kb, sizeof kb),
            .timeout_ms = c->webhook_timeout_ms,
            .connect_timeout_ms = c->webhook_connect_timeout_ms,
            .max_attempts = (int)c->webhook_max_attempts,
            /* A resolve given up on leaves an incident open for good: only the stated bounds
             * (max_age, queue_max, outbox.max_bytes) may cost a notification. */
            .keep_retrying = 1,
            /* An alert storm must not leave a paced receiver posting firings of alerts that
             * resolved minutes ago. */
            .coalesce = 1,
            /* A firing left in the outbox, or failing here when its host is handed over, waits
             * until this analyzer holds its alert as firing: another may have resolved it. Only
             * with a state topic, whose restore hands a firing alert back (adopt), and whose
             * re-read from the committed offsets fires again one the checkpoint missed; without
             * one nothing could, and the outbox delivers as before. */
            .hold_firings = c->state_topic && *c->state_topic,
            .max_age_ms = c->webhook_max_age_ms,
            .backoff_initial_ms = c->webhook_backoff_initial_ms,
            .backoff_max_ms = c->webhook_backoff_max_ms,
            .queue_max = (size_t)c->webhook_queue_max,
            .secret_file = i == 0 ? c->webhook_secret_file : NULL,
            .routing_key_file = want[i].key_file,
            .rate_per_s = want[i].rate,
            .outbox_dir = c->outbox_dir && *c->outbox_dir ? c->outbox_dir : NULL,
            .outbox_max_bytes = (size_t)c->outbox_max_bytes,
            .generator_url = c->alertmanager_generator_url,
            .resend_interval_ms = c->alertmanager_resend_ms,
            .allowed_urls = c->allowed_urls,
            .allow_plain_http = c->allow_plain_http,
            .tls_ca_file = c->tls_ca_file,
        };
        struct receiver *r = &a->receivers[a->n_receivers];
        char rerr[VG_ERRLEN];
        if (vg_action_create(&rc, &r->act, &r->inst, rerr, sizeof(rerr)) < 0)
            return vg_err(err, errlen, -EINVAL, "%s", rerr); /* it names the receiver's keys */
        r->name = want[i].type;
        a->n_receivers++;
        vg_info("receiver ready", "receiver=%s outbox=%s", r->name,
                rc.outbox_dir ? rc.outbox_dir : "none (memory only)");
    }
    if (!a->n_receivers)
        vg_warn("no receiver configured (webhook.url, alertmanager.url, "
                "pagerduty.routing_key_file, slack.url): alerts are only logged",
                NULL);
    return 0;
}

/* The directories the analyzer writes: each receiver opens its outbox in outbox.dir (creating
 * only the directory itself), the host models write model.dir (likewise), and silences.file is
 * rewritten beside itself. As this process's
 * real user (access(2)). */
static int check_writable(const struct analyzer_cfg *c, char *err, size_t errlen)
{
    struct wanted_rx want[4];
    wanted_receivers(c, want);
    int receivers = 0;
    for (size_t i = 0; i < VG_ARRAY_LEN(want); i++)
        receivers += want[i].url && *want[i].url;
    int rc = 0;
    if (receivers && c->outbox_dir && *c->outbox_dir) {
        char why[VG_ERRLEN];
        if ((rc = vg_outbox_dir_check(c->outbox_dir, why, sizeof why)) < 0)
            vg_err(err, errlen, rc, "outbox.dir: %s", why);
    }
    /* The host models' checkpoints: model.dir is created at start like outbox.dir, its last
     * component only. A start used to warn and go on, losing every checkpoint, while the check
     * said "config OK". */
    if (!rc && c->model_set && *c->model_set && c->model_dir && *c->model_dir) {
        char why[VG_ERRLEN];
        if ((rc = vg_outbox_dir_check(c->model_dir, why, sizeof why)) < 0)
            vg_err(err, errlen, rc, "model.dir: %s", why);
    }
    if (!rc && c->silences_file && *c->silences_file)
        rc = vg_silences_file_check(c->silences_file, err, errlen);
    return rc;
}

/* The files the analyzer reads at start besides its secrets: the rule files and the silences
 * file, read as the start will read them. Only what keeps a file from being read is reported
 * here; mistakes in the rules are the rule load's to report, with their positions. */
static int check_readable(const struct analyzer_cfg *c, char *err, size_t errlen)
{
    if (c->rules_dir && *c->rules_dir) {
        struct vg_rule_set *set = NULL;
        char why[VG_ERRLEN];
        int rc = vg_rule_set_load_dir(c->rules_dir, &set, why, sizeof why);
        vg_rule_set_free(set);
        if (rc < 0 && rc != -EINVAL)
            return vg_err(err, errlen, rc, "rules.dir: %s", why);
    }
    if (c->silences_file && *c->silences_file) {
        FILE *f = fopen(c->silences_file, "r");
        if (!f && errno != ENOENT) /* a missing file is a first start */
            return vg_err(err, errlen, -errno, "silences.file: cannot read %s: %s",
                          c->silences_file, strerror(errno));
        if (f)
            fclose(f);
    }
    return 0;
}

/* The files the analyzer reads (its secrets, the receivers' CA file) and writes, read as the
 * start reads them, by this process's user. check (--check-config): also the kafka.*_file
 * secrets, which a start reads when it opens the consumer, and the CA file, which
 * analyzer_check_urls read before, but as root in a check run as root. */
struct files_check {
    const struct analyzer_cfg *c;
    int check;
};

static int check_files(const struct files_check *fc, char *err, size_t errlen)
{
    const struct analyzer_cfg *c = fc->c;
    /* At a start too: a Kafka client the start could not make is a config error (exit 78). */
    int rc = check_kafka_clients(c, err, errlen);
    const struct {
        const char *path, *what;
    } secrets[] = {
        {c->webhook_url && *c->webhook_url ? c->webhook_secret_file : NULL, "webhook.secret_file"},
        {c->decisions_webhook_url && *c->decisions_webhook_url ? c->decisions_webhook_secret_file
                                                               : NULL,
         "decisions.webhook_secret_file"},
        {c->pagerduty_routing_key_file, "pagerduty.routing_key_file"}};
    for (size_t i = 0; !rc && i < VG_ARRAY_LEN(secrets); i++) {
        char *v = NULL;
        size_t len = 0;
        if (secrets[i].path && *secrets[i].path &&
            (rc = vg_action_read_secret(secrets[i].path, secrets[i].what, &v, &len, err, errlen)) ==
                0)
            vg_action_secret_free(v, len);
    }
    /* The *.url_file: read for their values before this check, by the caller (root in a check
     * run as root); opened again here, as the user a start reads them as. Only opened, so that a
     * mode warning is not said twice. */
    const struct {
        const char *path, *what;
    } url_files[] = {{c->webhook_url_file, "webhook.url_file"},
                     {c->alertmanager_url_file, "alertmanager.url_file"},
                     {c->slack_url_file, "slack.url_file"},
                     {c->decisions_webhook_url_file, "decisions.webhook_url_file"}};
    for (size_t i = 0; !rc && fc->check && i < VG_ARRAY_LEN(url_files); i++) {
        if (!url_files[i].path || !*url_files[i].path)
            continue;
        int fd = open(url_files[i].path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
            rc = vg_err(err, errlen, -errno, "%s: cannot open %s: %s", url_files[i].what,
                        url_files[i].path, strerror(errno));
        else
            close(fd);
    }
    if (!rc && c->http_listen && *c->http_listen) {
        struct vg_http_cfg hc = {.listen = c->http_listen, .token_file = c->http_token_file};
        rc = vg_http_check_cfg(&hc, err, errlen);
    }
    if (!rc && fc->check)
        rc = vg_http_ca_file_check(c->tls_ca_file, "actions.tls_ca_file", err, errlen);
    if (!rc)
        rc = check_writable(c, err, errlen);
    if (!rc && fc->check)
        rc = check_readable(c, err, errlen);
    return rc;
}

static int check_files_cb(void *ud, char *err, size_t errlen)
{
    return check_files(ud, err, errlen);
}

/* The user a start as root became (become_user), named in the errors of what it then cannot
 * open; NULL when it stayed who it was. */
static const char *g_became;

/* After a start as root became `user`: an access refused (EACCES, EPERM: a file, a directory, a
 * port) says it was refused to that user, since the root shell it was started from shows root,
 * which would have been let in. Other errors are not about who the analyzer runs as, and say
 * nothing of it (an "as user" there sent operators looking for a permission problem). */
static void say_became_user(int rc, char *err, size_t errlen)
{
    size_t n = strlen(err);
    if (g_became && (rc == -EACCES || rc == -EPERM) && n < errlen)
        snprintf(err + n, errlen - n,
                 " (as user '%s', the analyzer's `user`, which it became when started as root)",
                 g_became);
}

/* check_files() for --check-config started as root: the packaged unit starts the analyzer as
 * `user` (the check changes no user itself), and root may read and write anywhere, so the check
 * runs in a child that becomes that user (its groups too) as the agent's check does; open(2) and
 * access(2) then judge as the unit will, ACLs included. At a start, and for a caller that is not
 * root, the caller's own access is the answer (a start as root has become `user` by then). The
 * config file itself (config, NULL when none) too: root read it, the unit reads it as `user`. */
static int check_files_as_user(const struct analyzer_cfg *c, const char *config, int check,
                               char *err, size_t errlen)
{
    struct files_check fc = {c, check};
    struct passwd *pw = NULL;
    if (!check || geteuid() != 0 || !c->user || !*c->user || !(pw = getpwnam(c->user)) ||
        pw->pw_uid == 0) {
        return check_files(&fc, err, errlen); /* main says whom a start is (say_became_user) */
    }
    if (config && *config) {
        int rc = vg_runas_check_config(pw, config, err, errlen);
        if (rc < 0)
            return rc;
    }
    char cerr[VG_ERRLEN];
    int rc = vg_run_as_user(pw, check_files_cb, &fc, "its access", cerr, sizeof cerr);
    if (rc == 0)
        return 0;
    /* The error starts with the key, which vg_config_locate() places; the user comes after. */
    return vg_err(err, errlen, rc, "%s (checked as user '%s', the analyzer's `user`)", cerr,
                  c->user);
}

/* The consumer's rebalance callback assigns with rd_kafka_assign(), the eager protocol's call:
 * under cooperative-sticky librdkafka wants rd_kafka_incremental_assign() instead, and the
 * analyzer joined its group and consumed nothing while /readyz said ready. */
static int check_assignment_strategy(const struct analyzer_cfg *c, char *err, size_t errlen)
{
    const char *v = vg_kvlist_get(&c->kafka, "partition.assignment.strategy");
    for (const char *p = v; p && *p;) {
        p += strspn(p, " ,");
        size_t n = strcspn(p, " ,");
        if (n && !((n == 5 && strncmp(p, "range", 5) == 0) ||
                   (n == 10 && strncmp(p, "roundrobin", 10) == 0)))
            return vg_err(err, errlen, -EINVAL,
                          "kafka.partition.assignment.strategy: '%.*s' is not supported: the "
                          "analyzer assigns partitions eagerly; use range, roundrobin or both",
                          (int)n, p);
        p += n;
    }
    return 0;
}

/* How long a start waits for a file its kafka: properties name: config management may write a
 * CA bundle or a secret a moment after the start. Below systemd's start timeout (90 s). */
#define KAFKA_FILE_WAIT_MS 60000

/* A path the kafka: properties name that librdkafka does not read with them (a templated config's
 * CA path on a plaintext cluster) is not waited for; missing, it is worth a line, as it would be
 * once the protocol is switched: a log line at a start, a "# warning:" of --check-config. */
static void warn_unused_kafka_file(const struct analyzer_cfg *c, int check)
{
    char why[VG_ERRLEN], q[VG_ERRLEN + 8];
    if (vg_kafka_unused_missing_file(&c->kafka, why, sizeof why) != -ENOENT)
        return;
    if (check)
        printf("# warning: a file the Kafka config names is missing, but not used: not waiting "
               "for it: %s\n",
               why);
    else
        vg_warn("a file the Kafka config names is missing, but not used: not waiting for it",
                "reason=%s", vg_log_quote(q, sizeof q, why));
}

/* What the start would refuse later than the config load, when it opens the consumer, the
 * receivers, the models and the HTTP API (or not at all: topics that must differ), checked
 * before anything is opened, by --check-config (check) and the start alike. */
static int check_start(const struct analyzer_cfg *c, const char *config, int check, char *err,
                       size_t errlen)
{
    if (!*c->topic)
        return vg_err(err, errlen, -EINVAL, "topic: empty (the metrics topic to consume)");
    /* A name the brokers refuse: the analyzer would never be ready, or its checkpoints,
     * decisions and partials would all fail, at run time and with no word of a typo (the
     * embedded broker takes any name, so only a real cluster would show it). Empty
     * state.topic and decisions.* mean off. */
    const struct {
        const char *key, *topic;
    } topics[] = {{"topic", c->topic},
                  {"state.topic", c->state_topic},
                  {"decisions.topic", c->decisions_topic},
                  {"decisions.partials_topic", c->decisions_partials_topic}};
    for (size_t i = 0; i < VG_ARRAY_LEN(topics); i++) {
        int rc = topics[i].topic && *topics[i].topic
                     ? vg_kafka_topic_check(topics[i].key, topics[i].topic, err, errlen)
                     : 0;
        if (rc)
            return rc;
    }
    if (!*c->group_id)
        return vg_err(err, errlen, -EINVAL, "group_id: empty (the consumer group to join)");
    if (c->state_topic && strcmp(c->state_topic, c->topic) == 0)
        return vg_err(err, errlen, -EINVAL,
                      "state.topic '%s' is the metrics topic: checkpoints need a topic of their "
                      "own (compacted)",
                      c->topic);
    if (c->decisions_topic && *c->decisions_topic && strcmp(c->decisions_topic, c->topic) == 0)
        return vg_err(err, errlen, -EINVAL,
                      "decisions.topic '%s' is the metrics topic: decisions need a topic of their "
                      "own",
                      c->topic);
    if (c->decisions_partials_topic && *c->decisions_partials_topic &&
        (strcmp(c->decisions_partials_topic, c->topic) == 0 ||
         (c->decisions_topic && strcmp(c->decisions_partials_topic, c->decisions_topic) == 0)))
        return vg_err(
            err, errlen, -EINVAL,
            "decisions.partials_topic '%s' is the metrics or the decisions topic: partial "
            "measurements need a topic of their own",
            c->decisions_partials_topic);
    int rc = check_assignment_strategy(c, err, errlen);
    if (!rc)
        rc = vg_models_check_set(c->model_set, err, errlen);
    /* A start waits for a missing file its Kafka clients read after the cheap checks (a config
     * they refuse is refused at once) and before check_files makes the clients, which would refuse
     * it: exit 78, never restarted. */
    if (!rc && !check) {
        warn_unused_kafka_file(c, 0);
        /* The consumer, the state topic's producer and readers, the decisions and partials
         * clients are all built from the one kafka: map, so one wait covers them. */
        rc = vg_kafka_wait_files(&c->kafka, KAFKA_FILE_WAIT_MS, &g_stop, err, errlen);
        if (!rc && g_stop) /* stopped while waiting: the caller exits 0 */
            return 0;
    }
    if (!rc)
        rc = check_files_as_user(c, config, check, err, errlen);
    /* The receivers restrict libcurl to http and https (CURLOPT_PROTOCOLS_STR, libcurl 7.85 or
     * later): asked of the running libcurl here, so that --check-config, which opens no receiver,
     * refuses an older one as the start does, in the same words. */
    struct wanted_rx want[4];
    wanted_receivers(c, want);
    const char *rx = NULL; /* the first receiver configured, named in the error */
    for (size_t i = 0; i < VG_ARRAY_LEN(want) && !rx; i++)
        if (want[i].url && *want[i].url)
            rx = want[i].type;
    if (!rx && c->decisions_webhook_url && *c->decisions_webhook_url)
        rx = "decisions.webhook_url";
    if (!rc && rx) {
        char perr[VG_ERRLEN];
        if ((rc = vg_http_protocols_probe(perr, sizeof perr)) < 0)
            vg_err(err, errlen, rc, "%s: %s", rx, perr);
    }
    return rc;
}

/* Whether rk is assigned partition p of the metrics topic. */
static int owns_partition(const struct analyzer *a, int32_t p)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    int owned = 0;
    if (a->rk && !rd_kafka_assignment(a->rk, &l) && l)
        for (int i = 0; i < l->cnt && !owned; i++)
            owned = l->elems[i].partition == p && strcmp(l->elems[i].topic, a->cfg.topic) == 0;
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    return owned;
}

/* A host that stopped arriving here (vg_engine_set_moved): moved, when its key mapped to its
 * partition by the agent's partitioner under an earlier partition count (key_parts) and maps to
 * a partition of another member under the current one (partitions were added to the metrics
 * topic: docs/reliability.md). The partition it moved to, or -1: it is silent. A host whose
 * producer partitions otherwise was never found keyed and is not asked about; key_parts 0 is a
 * restored host no message of which came since, whose record names no count (the engine passes
 * the count a record names, which may be one from before this analyzer started). */
static int32_t host_moved(void *ud, const char *host, int32_t partition, int32_t key_parts)
{
    struct analyzer *a = ud;
    int32_t n = a->metrics_parts;
    if (n <= 0 || !*host)
        return -1;
    /* Restored with the partition its record names and silent since (the engine asks with 0): as
     * key_parts() would have found on its messages. Its agent may have moved before this member
     * took the partition over (every rebalance after partitions are added hands some over). */
    if (key_parts == 0) {
        const int32_t counts[] = {n, a->metrics_parts_before};
        size_t len = strlen(host);
        for (size_t i = 0; i < 2 && !key_parts; i++)
            if (counts[i] > 0 && vg_kafka_key_partition(host, len, counts[i]) == partition)
                key_parts = counts[i];
    }
    if (key_parts <= 0 || n == key_parts)
        return -1;
    int32_t p = vg_kafka_key_partition(host, strlen(host), n);
    return p == partition || owns_partition(a, p) ? -1 : p;
}

static int open_engine(struct analyzer *a, char *err, size_t errlen)
{
    struct vg_engine_params p;
    int rc = analyzer_engine_params(&a->cfg, a->cfg.rules_dir && *a->cfg.rules_dir, &p, err,
                                    errlen); /* rule files replace the built-in rule */
    if (!rc)
        rc = vg_engine_new(&a->engine, &p, err, errlen);
    if (!rc) /* released as on a revoke: no tombstone of the new owner's record */
        vg_engine_set_moved(a->engine, host_moved, forget_host, a);
    return rc;
}

static void log_stats(struct analyzer *a)
{
    struct vg_engine_stats es;
    struct vg_action_stats as;
    uint64_t refused;
    vg_engine_get_stats(a->engine, &es);
    analyzer_receiver_stats(a, &as, &refused);
    char hostf[256];
    vg_engine_stats_fields(&es, hostf, sizeof(hostf));
    vg_info("stats",
            "consumed=%llu bad_messages=%llu bad_suppressed=%llu duplicates=%llu seq_gaps=%llu "
            "hosts=%llu series=%llu scored=%llu warming=%llu alerts_fired=%llu "
            "alerts_resolved=%llu firing=%llu webhook_delivered=%llu webhook_attempt_errors=%llu "
            "webhook_dropped=%llu webhook_queued=%llu webhook_queue_full=%llu "
            "webhook_outbox_errors=%llu consume_errors=%llu commit_errors=%llu %s",
            (unsigned long long)a->consumed, (unsigned long long)a->bad_messages,
            (unsigned long long)a->bad_suppressed, (unsigned long long)es.duplicates,
            (unsigned long long)es.seq_gaps, (unsigned long long)es.hosts,
            (unsigned long long)es.series, (unsigned long long)es.samples_scored,
            (unsigned long long)es.samples_warming, (unsigned long long)es.alerts_fired,
            (unsigned long long)es.alerts_resolved, (unsigned long long)es.firing,
            (unsigned long long)as.delivered, (unsigned long long)as.attempt_errors,
            (unsigned long long)as.dropped, (unsigned long long)as.queued,
            (unsigned long long)as.queue_full, (unsigned long long)as.outbox_errors,
            (unsigned long long)a->consume_errors, (unsigned long long)a->commit_errors, hostf);
    a->bad_logged = 0;
    vg_log_flush_suppressed();
}

/* SIGHUP (systemctl reload): loads rules.dir again. It always logs one line of what it did, as
 * an operator sends it blind: analyzer_reload says "rules loaded" or, keeping the running rules,
 * why they were not; without rules.dir, the packaged default, there is nothing to load, and
 * saying nothing read as if an edited config file had been taken. */
static void reload_rules(struct analyzer *a)
{
    if (!a->cfg.rules_dir || !*a->cfg.rules_dir) {
        vg_warn("SIGHUP: nothing reloaded",
                "reason=\"no rules.dir configured: the built-in rule runs\" "
                "note=\"SIGHUP reloads rules.dir only; config file changes need a restart\"");
        return;
    }
    char err[VG_ERRLEN];
    pthread_mutex_lock(&a->lock);
    analyzer_reload(a, err, sizeof(err)); /* logs its outcome; a failure keeps the rules */
    pthread_mutex_unlock(&a->lock);
}

/* How often the metrics topic's partition count is asked (run_loop). */
#define PARTS_CHECK_MS 30000

/* The stop's checkpoint and offset commit, one bounded wait each, both over by STOP_OFFSETS_MS
 * after the signal (the handler set that deadline for a checkpoint already waiting, too): 1 when
 * the offsets were committed. Then the revoke in the consumer's close does neither again. The
 * loop's checkpoint under way is settled first, within the same deadline; when the stop's own
 * fails, the positions that one noted are committed if it was acknowledged. */
static int stop_offsets(struct analyzer *a, int64_t stop_at, int *unanswered)
{
    int64_t by = stop_at + STOP_OFFSETS_MS;
    vg_info("stopping: committing offsets", "wait_ms=%lld",
            (long long)(by > vg_mono_ms() ? by - vg_mono_ms() : 0));
    atomic_store(&g_ckpt_stop_by, by); /* also when the stop did not come from a signal */
    struct positions at;
    int at_ok = ckpt_finish(a, &at);
    int rc = -ETIMEDOUT, checkpointed = checkpoint(a);
    if (checkpointed || at_ok) {
        /* A checkpoint acknowledged just in time: the broker answers, a second is enough. */
        int64_t commit_by = vg_mono_ms() + 1000;
        rc = commit_positions_by(a, a->rk, by > commit_by ? by : commit_by,
                                 checkpointed ? NULL : &at);
        checkpointed = 1;
    }
    free_positions(&at);
    atomic_store(&g_stopping, 1);
    *unanswered = rc == -ETIMEDOUT && checkpointed;
    return rc == 0;
}

/* The consumer's close (leaving the group: its partitions move at once rather than after the
 * session timeout) served here until by, then its destroy until destroy_by: 1 closed and
 * destroyed; 0 not closed in time, destroyed without the close; -1 not even destroyed in time,
 * left to librdkafka's threads (librdkafka 2.0.2 may never finish a close or destroy during a
 * group re-join with the broker gone). Nothing may use rk afterwards. */
static int close_consumer_by(rd_kafka_t *rk, int64_t by, int64_t destroy_by)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_error_t *e = q ? rd_kafka_consumer_close_queue(rk, q) : NULL;
    if (e) {
        vg_warn("kafka consumer close not started", "reason=\"%s\"", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    /* The close forwards the group's queue, messages and errors included, to q: served with the
     * event API, as rd_kafka_queue_poll_callback asserts on a message (no consume_cb), with
     * the revoke and late commit results handed to their callbacks on this thread, as the
     * synchronous close does; messages fetched meanwhile are dropped, read again from the
     * committed offsets at the next start. */
    struct analyzer *a = rd_kafka_opaque(rk);
    while (q && !e && !rd_kafka_consumer_closed(rk) && vg_mono_ms() < by) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
        if (!ev)
            continue;
        if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
            rebalance_cb(rk, rd_kafka_event_error(ev), rd_kafka_event_topic_partition_list(ev), a);
        else if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT)
            commit_cb(rk, rd_kafka_event_error(ev), rd_kafka_event_topic_partition_list(ev), a);
        rd_kafka_event_destroy(ev);
    }
    int closed = q && !e && rd_kafka_consumer_closed(rk);
    if (q)
        rd_kafka_queue_destroy(q);
    /* Never a close inside the destroy: it would run the callbacks on the destroy's thread. */
    int rc = vg_kafka_destroy_by(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE, destroy_by);
    return rc == -ETIMEDOUT ? -1 : closed;
}

static void run_loop(struct analyzer *a)
{
    int64_t now = vg_mono_ms();
    int64_t next_commit = now + a->cfg.commit_interval_ms;
    int64_t next_stats = now + a->cfg.stats_interval_ms;
    int64_t next_tick = now;
    int64_t next_parts = now + PARTS_CHECK_MS;
    int dirty = 0;
    while (!g_stop) {
        if (g_reload) {
            g_reload = 0;
            reload_rules(a);
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(a->rk, 100);
        note_offset_resets(a);
        if (m) {
            struct bad_step st = {.seek_to = -1};
            int bad = vg_kafka_message_is_bad(m);
            if (bad || (!m->err && g_n_bad_cursors))
                bad_batch_step(a, m, bad, &st);
            pthread_mutex_lock(&a->lock);
            if ((!m->err || bad) && !st.drop)
                note_read_after_reset(a, m);
            if (bad || st.drop) {
                /* A batch that librdkafka could not check or decompress: bad messages at their
                 * offsets, not a consumer error to be seen without where it was; or a record a
                 * probe read past it, read again once its end is found. */
                note_bad_step(a, m, &st);
                dirty |= st.end > st.first; /* the commit goes past them */
            } else if (m->err) {
                /* The generic rate limit, not one line per 100: it says how many it held back
                 * (repeats_suppressed, "log lines suppressed"). */
                char kv[1024];
                a->consume_errors++;
                vg_warn("consume error", "errors=%llu %s", (unsigned long long)a->consume_errors,
                        vg_kafka_consume_error_kv(m, kv, sizeof(kv)));
            } else {
                handle_message(a, m);
                dirty = 1;
            }
            pthread_mutex_unlock(&a->lock);
            rd_kafka_message_destroy(m);
        }
        now = vg_mono_ms();
        if (a->state_touched) {
            a->state_touched = 0;
            dirty = 1;
        }
        /* The checkpoint under way, if any, settled without waiting: the loop goes on
         * consuming and ticking while the broker takes its time (ckpt_start). */
        if (ckpt_poll(a) < 0)
            dirty = 1;
        if (dirty && now >= next_commit && !g_ckpt.active) {
            /* With a state topic, the checkpoint sets the pace of commits; a failed one is
             * tried again at the next interval, whether or not messages come meanwhile. Hosts
             * changed while one is under way stay marked for the next. */
            dirty = 0;
            vg_notify_watchdog_ahead(now, BROKER_WAIT_MS); /* building the records */
            int rc = ckpt_start(a);
            if (rc == 1)
                commit_positions(a->rk, 1, NULL);
            else if (rc == 0)
                dirty = 1;
            next_commit = now + (g_state ? a->cfg.state_checkpoint_ms : a->cfg.commit_interval_ms);
        }
        vg_notify_watchdog(now);
        if (now >= next_tick) { /* group waits, silences, repeats, scaling policies */
            pthread_mutex_lock(&a->lock);
            analyzer_tick(a);
            vg_engine_check_silent(a->engine, on_silent_event, a);
            vg_engine_expire_hosts(a->engine, analyzer_on_event, expire_host, a);
            analyzer_models_tick(a, now); /* model checkpoints */
            pthread_mutex_unlock(&a->lock);
            next_tick = now + 100;
        }
        if (now >= next_parts) {
            /* Partitions added to the metrics topic: the consumer group rebalances when its
             * metadata shows them, an agent sends by them when its producer's does (each every
             * topic.metadata.refresh.interval.ms, 5 min): the count is asked here too, so that a
             * host that moved is known before it would go silent. Outside the lock: a metadata
             * request waits for the cluster. */
            int n = a->assigned ? vg_kafka_topic_partitions(a->rk, a->cfg.topic, 0, 2000, NULL) : 0;
            if (n > 0) {
                pthread_mutex_lock(&a->lock);
                note_partition_count(a, n);
                pthread_mutex_unlock(&a->lock);
            }
            next_parts = now + PARTS_CHECK_MS;
        }
        if (now >= next_stats) {
            pthread_mutex_lock(&a->lock);
            log_stats(a);
            struct vg_engine_stats es;
            vg_engine_get_stats(a->engine, &es);
            vg_notify_status("consuming: %llu messages, %llu hosts, %llu alerts firing",
                             (unsigned long long)a->consumed, (unsigned long long)es.hosts,
                             (unsigned long long)es.firing);
            pthread_mutex_unlock(&a->lock);
            next_stats = now + a->cfg.stats_interval_ms;
        }
    }
}

/* The embedded broker's address, for the scripts and tests that wait for the file: replaced
 * whole (vg_atomicfile), so that a reader never sees half of it. Nothing reads it after a crash
 * (the broker is gone with the process), so the directory's sync need not succeed. */
static int write_bootstrap_file(const char *path, const char *bootstrap, char *err, size_t errlen)
{
    size_t n = strlen(bootstrap);
    char *text = malloc(n + 2);
    if (!text)
        return vg_err(err, errlen, -ENOMEM, "%s: out of memory", path);
    memcpy(text, bootstrap, n);
    text[n] = '\n';
    /* 0666 less the umask: the mode the fopen() this replaced gave it. */
    int rc = vg_atomicfile_write(path, text, n + 1, 0666, VG_ATOMICFILE_DIRSYNC_BEST_EFFORT, err,
                                 errlen);
    free(text);
    return rc;
}

/* Started as root with `user` naming another user of this host, the analyzer becomes that user
 * before it reads or writes anything else, as the packaged unit (User=) starts it and as the agent
 * does: a start in a root shell (README's first command) wrote outbox.dir, model.dir, the lock
 * files and the bootstrap file as root, and the unit, which cannot open them, then exited 78 for
 * good. What such a run left in those paths, and silences.file, is handed over first. A user not
 * on this host leaves it root (the unit could not start as it either; the check warns), said in
 * one line. The analyzer needs no privilege of root's. */
static int become_user(const struct analyzer_cfg *c, const char *bootstrap_file, char *err,
                       size_t errlen)
{
    if (geteuid() != 0 || !c->user || !*c->user)
        return 0;
    errno = 0;
    struct passwd *pw = getpwnam(c->user);
    if (!pw) {
        vg_warn("user: no such user on this host: running as root; files written now belong to "
                "root (set user to the unit's User=, or \"\" to run as root)",
                "user=%s", c->user);
        return 0;
    }
    if (pw->pw_uid == 0)
        return 0;
    const struct {
        const char *path, *key;
    } paths[] = {{c->outbox_dir, "outbox.dir"},
                 {c->model_dir, "model.dir"},
                 {c->silences_file, "silences.file"},
                 {bootstrap_file, "--bootstrap-file"}};
    char why[VG_ERRLEN];
    for (size_t i = 0; i < VG_ARRAY_LEN(paths); i++) {
        int rc = paths[i].path && *paths[i].path
                     ? vg_runas_give(paths[i].path, pw->pw_uid, pw->pw_gid, 0, why, sizeof why)
                     : 0;
        if (rc < 0)
            return vg_err(err, errlen, rc, "%s: %s (for user '%s', the analyzer's `user`)",
                          paths[i].key, why, c->user);
    }
    int rc = vg_runas_become(pw, why, sizeof why);
    if (rc < 0)
        return vg_err(err, errlen, rc, "user: cannot become '%s': %s", c->user, why);
    g_became = c->user;
    /* A change of uid resets the dumpable flag to fs.suid_dumpable: set again, as core_dumps
     * says (docs/security.md). */
    vg_set_dumpable(c->core_dumps);
    vg_info("started as root: running as user", "user=%s uid=%u gid=%u", c->user,
            (unsigned)pw->pw_uid, (unsigned)pw->pw_gid);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"embedded-kafka", no_argument, NULL, 'e'},
        {"bootstrap-file", required_argument, NULL, 'b'},
        {"check-config", no_argument, NULL, 'k'},
        {"config-doc", no_argument, NULL, 'd'},
        {"metrics-doc", no_argument, NULL, 'm'},
        {"log-format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *bootstrap_file = NULL;
    static char log_format_set[64];
    char *sets[MAX_SETS];
    size_t n_sets = 0;
    int embedded = 0, check = 0, opt;
    while ((opt = getopt_long(argc, argv, "c:s:hV", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 's':
            if (n_sets == MAX_SETS) {
                fprintf(stderr, "vigil-analyzer: too many --set options\n");
                return 2;
            }
            sets[n_sets++] = optarg;
            break;
        case 'e':
            embedded = 1;
            break;
        case 'f':
            /* The same as --set log.format=..., kept as a flag because operators expect one. */
            if (n_sets == MAX_SETS) {
                fprintf(stderr, "vigil-analyzer: too many --set options\n");
                return 2;
            }
            snprintf(log_format_set, sizeof(log_format_set), "log.format=%s", optarg);
            sets[n_sets++] = log_format_set;
            break;
        case 'b':
            bootstrap_file = optarg;
            break;
        case 'k':
            check = 1;
            break;
        case 'd':
            vg_config_write_markdown(&analyzer_config_table, "vigil-analyzer", stdout);
            return 0;
        case 'm':
            vg_api_metrics_doc(stdout);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("vigil-analyzer %s\n", VIGIL_VERSION);
            return 0;
        default: /* getopt_long said what was wrong */
            return usage_error();
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vigil-analyzer: unexpected argument '%s'\n", argv[optind]);
        return usage_error();
    }

    /* Not dumpable before any secret is read (docs/security.md); core_dumps sets it back. */
    vg_set_dumpable(0);
    struct analyzer a = {0};
    pthread_mutex_init(&a.lock, NULL);
    pthread_mutex_init(&a.silences_save_lock, NULL);
    a.started_ms = vg_mono_ms();
    vg_histo_init(&a.processing_s, processing_bounds, VG_ARRAY_LEN(processing_bounds));
    vg_histo_init(&a.lag_s, lag_bounds, VG_ARRAY_LEN(lag_bounds));
    /* Large enough for a rules directory's list of mistakes (analyzer_rules_load), which a start
     * reports as a whole (docs/rules.md), not only its first lines. */
    char err[16384];
    int rc =
        vg_config_load_all(&analyzer_config_table, &a.cfg, config, sets, n_sets, err, sizeof(err));
    enum vg_log_level lvl = VG_LOG_INFO;
    if (!rc && a.cfg.core_dumps)
        vg_set_dumpable(1);
    if (!rc)
        vg_log_level_parse(a.cfg.log_level, &lvl); /* one of its choices, VG_LOG_LEVEL_CHOICES */
    if (!rc && a.cfg.webhook_backoff_initial_ms > a.cfg.webhook_backoff_max_ms)
        rc = vg_err(err, sizeof(err), -EINVAL,
                    "webhook.backoff_initial (%.3gs) is larger than webhook.backoff_max (%.3gs)",
                    (double)a.cfg.webhook_backoff_initial_ms / 1000.0,
                    (double)a.cfg.webhook_backoff_max_ms / 1000.0);
    if (!rc && a.cfg.decisions_rejoin_initial_ms > a.cfg.decisions_rejoin_max_ms)
        rc = vg_err(err, sizeof(err), -EINVAL,
                    "decisions.rejoin_backoff_initial (%.3gs) is larger than "
                    "decisions.rejoin_backoff_max (%.3gs)",
                    (double)a.cfg.decisions_rejoin_initial_ms / 1000.0,
                    (double)a.cfg.decisions_rejoin_max_ms / 1000.0);
    /* At a start, the warnings about the receiver URLs below and check_start's wait for a file
     * the Kafka properties name are log lines, in log.format (they came out as logfmt in a JSON
     * log when this came later), and SIGTERM ends the wait with exit 0, as it ends a run. */
    if (!rc && !check) {
        vg_log_init("analyzer", lvl, strcmp(a.cfg.log_format, "json") == 0);
        struct sigaction stop = {.sa_handler = on_signal};
        sigemptyset(&stop.sa_mask);
        sigaction(SIGTERM, &stop, NULL);
        sigaction(SIGINT, &stop, NULL);
    }
    if (!rc && !check)
        rc = become_user(&a.cfg, embedded ? bootstrap_file : NULL, err, sizeof(err));
    /* --check-config as root for a unit with User=: a secret file readable by that user's group
     * is the packages' setup (root:vigil 0640), not a warning. */
    struct passwd *pw;
    if (!rc && check && geteuid() == 0 && a.cfg.user && *a.cfg.user &&
        (pw = getpwnam(a.cfg.user)) && pw->pw_uid != 0)
        vg_secret_set_group(pw->pw_gid);
    if (!rc)
        rc = analyzer_read_url_files(&a.cfg, err, sizeof(err)); /* *.url_file */
    if (!rc)
        rc = analyzer_check_urls(&a.cfg, err, sizeof(err)); /* docs/security.md */
    if (!rc)
        analyzer_warn_inline_urls(&a.cfg);
    if (!rc) /* at a start too: it refuses these later otherwise, or not at all */
        rc = check_start(&a.cfg, config, check, err, sizeof(err));
    if (!rc && !check && g_stop) { /* stopped while waiting for a Kafka file */
        vg_config_free(&analyzer_config_table, &a.cfg);
        return 0;
    }
    /* At a start, opening the models says it, in the same words. After the cheap checks: with
     * model.backend=cuda it opens a CUDA context. */
    if (!rc && check) {
        struct vg_model_run_params mp;
        analyzer_model_params(&a.cfg, &mp);
        rc = vg_model_run_check(&mp, err, sizeof(err));
    }
    if (!rc) {
        struct vg_colsel *sel = NULL;
        rc = vg_colsel_new(&sel, a.cfg.model_metrics, err, sizeof(err));
        vg_colsel_free(sel);
    }
    /* Build the engine now so that a bad detector or pattern is a config error. */
    if (!rc)
        rc = open_engine(&a, err, sizeof(err));
    if (!rc)
        rc = vg_api_ops_init(&a, err, sizeof(err)); /* history for vigilctl report */
    if (!rc)
        rc = analyzer_rules_load(&a, err, sizeof(err)); /* rules.dir, silences.file */
    if (rc) {
        vg_config_locate(err, sizeof(err)); /* a value checked after loading: where it was set */
        say_became_user(rc, err, sizeof(err));
        fprintf(stderr, "vigil-analyzer: config error: %s\n", err);
        vg_engine_free(a.engine);
        a.engine = NULL;
        analyzer_rules_free(&a);
        vg_history_free(a.history);
        vg_config_free(&analyzer_config_table, &a.cfg);
        return check ? 1 : EX_CONFIG; /* not restarted by its unit (RestartPreventExitStatus) */
    }
    if (check) {
        vg_config_dump(&analyzer_config_table, &a.cfg, stdout);
        warn_unused_kafka_file(&a.cfg, 1);
        /* An unknown `user` stops nothing at a start (become_user stays root); but a
         * check that silently judged the files as root would pass what the unit then refuses. */
        if (geteuid() == 0 && a.cfg.user && *a.cfg.user && !getpwnam(a.cfg.user))
            printf("# warning: user: no user '%s' on this host, so the files were checked as "
                   "root; set user to the unit's User= (vigil when packaged), or \"\" if it "
                   "runs as root\n",
                   a.cfg.user);
        if (a.rules && vg_rule_set_count(a.rules) == 0 && vg_rule_set_policy_count(a.rules) == 0)
            printf("# warning: rules.dir: %s holds no rules and no scaling policies, so no alert "
                   "will fire (rule files, which end in .yaml or .yml, replace the built-in rule; "
                   "unset rules.dir to run it)\n",
                   a.cfg.rules_dir);
        printf("# config OK\n");
        vg_engine_free(a.engine);
        a.engine = NULL;
        analyzer_rules_free(&a);
        vg_history_free(a.history);
        vg_config_free(&analyzer_config_table, &a.cfg);
        return 0;
    }
    vg_log_init("analyzer", lvl, strcmp(a.cfg.log_format, "json") == 0);

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct sigaction hup = {.sa_handler = on_sighup};
    sigemptyset(&hup.sa_mask);
    sigaction(SIGHUP, &hup, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct vg_embedded_kafka *ek = NULL;
    const char *bootstrap = a.cfg.bootstrap_servers;
    if (embedded) {
        rc = vg_embedded_kafka_start(&ek, (int)a.cfg.embedded_brokers, a.cfg.topic,
                                     (int)a.cfg.embedded_partitions, err, sizeof(err));
        if (!rc) {
            bootstrap = vg_embedded_kafka_bootstraps(ek);
            printf("embedded kafka: bootstrap.servers=%s topic=%s partitions=%lld\n", bootstrap,
                   a.cfg.topic, (long long)a.cfg.embedded_partitions);
            fflush(stdout);
            vg_info("embedded kafka started", "bootstrap=%s topic=%s partitions=%lld", bootstrap,
                    a.cfg.topic, (long long)a.cfg.embedded_partitions);
            if (a.cfg.decisions_topic && *a.cfg.decisions_topic)
                rc = vg_embedded_kafka_create_topic(ek, a.cfg.decisions_topic, 1, err, sizeof(err));
            if (!rc && a.cfg.decisions_partials_topic && *a.cfg.decisions_partials_topic)
                rc = vg_embedded_kafka_create_topic(ek, a.cfg.decisions_partials_topic, 1, err,
                                                    sizeof(err));
            /* The mock cluster does not answer CreateTopics: the state topic is made here,
             * with as many partitions as the metrics topic (compaction is not modelled). */
            if (!rc && a.cfg.state_topic && *a.cfg.state_topic)
                rc = vg_embedded_kafka_create_topic(
                    ek, a.cfg.state_topic, (int)a.cfg.embedded_partitions, err, sizeof(err));
            if (!rc && bootstrap_file)
                rc = write_bootstrap_file(bootstrap_file, bootstrap, err, sizeof(err));
        }
    }
    a.bootstrap = bootstrap; /* for vigilctl status */
    a.embedded = embedded;
    vg_wire_msg_init(&a.msg);
    struct vg_http *http = NULL;
    if (!rc)
        rc = open_receivers(&a, err, sizeof(err));
    if (!rc)
        rc = analyzer_models_open(&a, err, sizeof(err)); /* model.*: backend, checkpoints */
    if (!rc)
        rc = analyzer_decisions_open(&a, bootstrap, err, sizeof(err));
    if (!rc && a.cfg.http_listen && *a.cfg.http_listen) {
        struct vg_http_cfg hc = {
            .listen = a.cfg.http_listen,
            .token_file = a.cfg.http_token_file,
            .max_body = (size_t)a.cfg.http_max_body,
            .max_conns = (unsigned)a.cfg.http_max_conns,
            .rate_per_s = a.cfg.http_rate,
            .counts = &a.http_counts,
        };
        rc = vg_http_start(&http, &hc, vg_api_routes, vg_api_n_routes, &a, err, sizeof(err));
        if (!rc)
            vg_info("http api listening", "address=%s port=%d", a.cfg.http_listen,
                    vg_http_port(http));
    }
    if (!rc && a.cfg.state_topic && *a.cfg.state_topic &&
        (rc = vg_state_topic_open(&g_state, bootstrap, a.cfg.state_topic, &a.cfg.kafka,
                                  (int)a.cfg.state_checkpoint_timeout_ms, err, sizeof(err))) == 0)
        vg_state_topic_set_stop(g_state, &g_restore_stop);
    if (g_state)
        vg_state_topic_set_stop_by(g_state, &g_ckpt_stop_by);
    pthread_mutex_lock(&a.lock);
    a.state = g_state; /* for /metrics */
    a.host_changed = g_state ? host_changed : NULL;
    pthread_mutex_unlock(&a.lock);
    if (!rc)
        rc = open_consumer(&a, bootstrap, err, sizeof(err));
    if (rc) {
        say_became_user(rc, err, sizeof(err));
        fprintf(stderr, "vigil-analyzer: %s\n", err);
    } else {
        vg_info("started", "topic=%s group=%s model=%s threshold=%g receivers=%zu dumpable=%d",
                a.cfg.topic, a.cfg.group_id, a.cfg.detector_model, a.cfg.alert_threshold,
                a.n_receivers, prctl(PR_GET_DUMPABLE, 0L, 0L, 0L, 0L));
        vg_notify_init();
        vg_notify_ready("consuming");
        run_loop(&a);
        vg_notify_stopping();
    }
    /* The stop, in this order, bounded as STOP_OFFSETS_MS and STOP_KAFKA_MS say: the offsets,
     * the consumer's close, the state producer, then the receivers' drain. */
    int64_t stop_at = atomic_load(&g_stop_at);
    if (!stop_at)
        stop_at = vg_mono_ms();
    int offsets_committed = 0, consumer = 1, state_left = 0, unanswered = 0;
    size_t state_unsent = 0;
    uint64_t uncommitted = 0;
    if (!rc) {
        /* Before the last checkpoint, so that it says they were notified: after it, the next
         * owner of their hosts sent each again (a duplicate where the receiver has no dedupe,
         * Slack's, at every restart). */
        send_held(&a, "stopping");
        offsets_committed = stop_offsets(&a, stop_at, &unanswered);
    }
    /* The API reads the engine: stop it before anything it reads goes away. */
    vg_http_stop(http);
    /* Also after the assignment was lost (no commit possible): those are read again too. */
    if (!rc && a.consumed > g_consumed_committed) {
        uncommitted = a.consumed - g_consumed_committed;
        /* A commit sent and not answered in time may still land: then they are not. */
        if (unanswered)
            vg_warn("stopping: offsets not committed: the messages since the last commit may be "
                    "consumed again at the next start (the commit got no answer in time and may "
                    "still land; the engine drops the repeats by boot and sequence)",
                    "messages_since_last_commit=%llu waited_ms=%lld",
                    (unsigned long long)uncommitted, (long long)(vg_mono_ms() - stop_at));
        else
            vg_warn("stopping: offsets not committed: the messages since the last commit are "
                    "consumed again at the next start (the engine drops the repeats by boot and "
                    "sequence)",
                    "messages_since_last_commit=%llu waited_ms=%lld",
                    (unsigned long long)uncommitted, (long long)(vg_mono_ms() - stop_at));
    }
    int64_t kafka_by = stop_at + STOP_KAFKA_MS, now = vg_mono_ms();
    if (a.rk) {
        consumer =
            close_consumer_by(a.rk, kafka_by - 2000 > now + 1000 ? kafka_by - 2000 : now + 1000,
                              kafka_by - 1000 > now + 1500 ? kafka_by - 1000 : now + 1500);
        if (consumer < 1)
            vg_warn("kafka consumer did not close in time: abandoned",
                    "destroyed=%d detail=\"it did not leave its group: its partitions move to "
                    "another member after the session timeout\"",
                    consumer == 0);
        a.rk = NULL;
    }
    analyzer_models_close(&a); /* last model checkpoints */
    if (g_state) {
        struct vg_state_topic_stats ss;
        vg_state_topic_get_stats(g_state, &ss);
        vg_info("state topic",
                "checkpoints=%llu checkpoint_errors=%llu hosts_written=%llu "
                "hosts_restored=%llu restore_errors=%llu models_restored=%llu model_errors=%llu "
                "records_trimmed=%llu records_dropped=%llu trials=%llu trials_refused=%llu",
                (unsigned long long)ss.checkpoints, (unsigned long long)ss.checkpoint_errors,
                (unsigned long long)ss.hosts_written, (unsigned long long)ss.hosts_restored,
                (unsigned long long)ss.restore_errors, (unsigned long long)ss.models_restored,
                (unsigned long long)ss.model_errors, (unsigned long long)ss.records_trimmed,
                (unsigned long long)ss.records_dropped, (unsigned long long)ss.trials,
                (unsigned long long)ss.trials_refused);
        a.state = NULL;
        now = vg_mono_ms();
        if (vg_state_topic_close(g_state, kafka_by > now + 1000 ? kafka_by : now + 1000,
                                 &state_unsent) < 0)
            state_left = 1;
        if (state_unsent || state_left)
            vg_warn("state topic: records not written at the stop",
                    "records=%zu producer_abandoned=%d detail=\"their hosts continue from their "
                    "last written checkpoint; the offsets after it were not committed, so their "
                    "messages are consumed again at the next start\"",
                    state_unsent, state_left);
        g_state = NULL;
    }
    if (a.engine)
        log_stats(&a);
    /* One deadline for the whole drain, as drain_timeout and the unit file promise: the
     * receivers and the scaling webhook all deliver at once until it, rather than each getting
     * drain_timeout in turn (5 x 5 s with all of them failing, past TimeoutStopSec). */
    int64_t drain_start = vg_mono_ms(), drain_by = drain_start + a.cfg.drain_timeout_ms;
    vg_decisions_stop(a.decisions, drain_by); /* freed with the rules, below, by then done */
    if (a.dispatch) /* held since (a failed start, a silence's change): delivered or kept too */
        vg_dispatch_send_held(a.dispatch, vg_now_ms(), "stopping");
    analyzer_owed_flush(&a); /* likewise: a last try of the resolves the receivers refused */
    struct vg_action_running rx[VG_ARRAY_LEN(a.receivers)];
    for (size_t i = 0; i < a.n_receivers; i++)
        rx[i] = (struct vg_action_running){.act = a.receivers[i].act, .inst = a.receivers[i].inst};
    vg_action_destroy_all(rx, a.n_receivers, drain_by);
    if (a.n_receivers)
        vg_info("receivers stopped", "receivers=%zu drain_timeout_ms=%lld took_ms=%lld",
                a.n_receivers, (long long)a.cfg.drain_timeout_ms,
                (long long)(vg_mono_ms() - drain_start));
    vg_engine_free(a.engine);
    a.engine = NULL;         /* analyzer_rules_free would hand a freed engine its silences */
    analyzer_rules_free(&a); /* after the engine, which borrows the rules */
    vg_wire_msg_free(&a.msg);
    vg_history_free(a.history);
    free(g_revoked);
    vg_embedded_kafka_stop(ek);
    if (!rc)
        vg_info("stopped",
                "took_ms=%lld offsets_committed=%d messages_since_last_commit=%llu "
                "consumer_closed=%d state_records_unsent=%zu",
                (long long)(vg_mono_ms() - stop_at), offsets_committed,
                (unsigned long long)uncommitted, consumer, state_unsent);
    vg_config_free(&analyzer_config_table, &a.cfg);
    pthread_mutex_destroy(&a.lock);
    pthread_mutex_destroy(&a.silences_save_lock);
    vg_log_flush_suppressed(); /* what the shutdown itself held back */
    if (vg_kafka_destroys_abandoned()) {
        /* A librdkafka handle was left to its threads: exit()'s handlers (OpenSSL's cleanup
         * among them) would run while they may still do TLS or free their SSL_CTX, a crash
         * that systemd would record as the stop's failure. _exit() skips them, and with them
         * LeakSanitizer's check at exit, which has nothing useful to say here: what those
         * threads hold is still in use. */
        fflush(NULL);
        _exit(rc ? 1 : 0);
    }
    return rc ? 1 : 0;
}
