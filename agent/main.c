/* vigil-agent: collects this host's metrics every interval and produces one wire message per
 * tick to Kafka, keyed by host. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sysexits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_config.h"
#include "vg_collector.h"
#include "vg_kafka.h"
#include "vg_local.h"
#include "vg_local_http.h"
#include "vg_local_state.h"
#include "vg_log.h"
#include "vg_notify.h"
#include "vg_outbox.h"
#include "vg_privdrop.h"
#include "vg_runas.h"
#include "vg_secret.h"
#include "vg_spool.h"
#include "vg_urlfile.h"
#include "vg_util.h"
#include "vg_wire.h"

#define MAX_SETS       64
#define MAX_COLLECTORS 32

static volatile sig_atomic_t g_stop, g_reload;
/* Whether the agent started as root, so becomes `user`: a reload, which runs as `user` by then,
 * still checks that `user` exists, as the next start (as root) does. */
static int g_started_root;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        g_reload = 1;
    else
        g_stop = 1;
}

struct running {
    const struct vg_collector *c;
    void *state;
    uint64_t errors;
    char last_err[VG_ERRLEN]; /* the reason last logged, as fault_shape has it */
};

/* A collector's reason with what moves from tick to tick taken out: digit runs become '#' and a
 * word's final 's' goes ("1 interface left out", "3 interfaces left out"). Reasons of one shape
 * are one fault, logged at its first failure and every 60th; only a new shape is news. */
static void fault_shape(char *out, size_t n, const char *reason)
{
    size_t o = 0;
    for (const char *p = reason; *p && o + 1 < n; p++) {
        if (isdigit((unsigned char)*p)) {
            while (isdigit((unsigned char)p[1]))
                p++;
            out[o++] = '#';
        } else if (!(*p == 's' && p > reason && isalpha((unsigned char)p[-1]) &&
                     !isalpha((unsigned char)p[1]))) {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

/* A collector whose collect does not return (a /proc read or a statfs stuck in the kernel, an NFS
 * server gone) holds the whole loop: no message is sent and, under systemd, the watchdog kills the
 * agent, whose log then said nothing about which collector it was in. A thread of its own watches
 * the one running and names it (`collector running long`) while it still runs, once it passes its
 * limit: COLLECT_LONG_MS after it began (a quarter of the watchdog's timeout when that is less),
 * or, under a watchdog, three quarters of the timeout after the last pet, whichever comes first.
 * The kill comes a whole timeout after the last pet (the loop pets only between ticks), so the
 * line comes a quarter of the timeout before it however long the collectors before this one in
 * the tick took: each under its own limit, they could together use up the margin that a limit
 * counted from the collector's own start leaves, and the one that then hangs was named after the
 * kill or never. The line is written at once and again every COLLECT_LONG_RELOG limits while the
 * run goes on, so that a hang without a watchdog to end it (the stats line stops too) is still
 * named; a collector logged less than that ago is counted, not logged again, so that a source
 * slow on every tick cannot flood. collect_long counts each run that took longer than the limit
 * (counted when it returns, if the thread has not counted it already) or that the thread named.
 * A collector slower than the interval that does return in time is `tick late`'s, not this. */
#define COLLECT_LONG_MS 10000
/* Lines per collector at most every this many limits: a minute at COLLECT_LONG_MS, less only
 * under a watchdog, which kills the agent (after 4 limits) before that. */
#define COLLECT_LONG_RELOG 6

struct coll_watch {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC; signalled only to stop the thread */
    pthread_t thread;
    int started, stop;
    int64_t limit_ms, watchdog_ms;
    /* The tick running (monotonic): when it began, the point three quarters of the watchdog's
     * timeout after the last pet (INT64_MAX without a watchdog), and the slowest collector that
     * has returned in it so far (NULL: none yet). */
    int64_t tick_ms, tick_deadline_ms;
    const char *slowest;
    int64_t slowest_ms;
    /* The collector running (a->coll index and its table's name, NULL between collectors),
     * since when and until when it is within its limit (monotonic), and runs numbered so that
     * each is counted once. */
    size_t index;
    const char *name;
    int64_t since_ms, deadline_ms;
    uint64_t run, noted_run;
    uint64_t long_runs;                /* collect_long */
    int64_t logged_ms[MAX_COLLECTORS]; /* monotonic; 0: never logged */
};

struct agent {
    struct agent_cfg cfg;
    char host[VG_WIRE_HOST_MAX + 1];
    char boot[VG_WIRE_BOOT_MAX + 1];
    uint64_t seq;
    struct running coll[MAX_COLLECTORS];
    size_t n_coll;
    struct coll_watch watch; /* started by run_loop only */
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    int wake_fd[2];         /* librdkafka writes to [1] when its main queue gets an event */
    struct vg_spool *spool; /* NULL: spool.dir empty or unusable */
    int stopping;           /* purged messages go to the spool instead of being counted lost */
    /* What the config came from, for SIGHUP. */
    const char *config_path;
    char **sets;
    size_t n_sets;
    /* Counters; the delivery ones are written from librdkafka's callback, which runs on this
     * thread inside rd_kafka_poll(). */
    uint64_t ticks, produced, delivered, delivery_failed, produce_failed, encode_failed;
    /* Grid points passed over because a tick ran past the next one (a slow collector, a
     * stall): no message is sent for them, so they are counted, and logged as `tick late` at
     * most once a minute (late_logged_ms, monotonic) with the slowest part of the tick. */
    uint64_t ticks_skipped;
    int64_t late_logged_ms;
    /* The most a message may take: the wire format's limit, or what the producer's
     * message.max.bytes leaves of a record (message_budget). Larger ones are counted here. */
    size_t max_bytes;
    uint64_t too_large;
    int64_t too_large_logged_ms; /* monotonic */
    /* produced: ticks handed to librdkafka directly; spool_replayed: spooled records handed to
     * it, each time (a tick spooled then replayed is in spooled and spool_replayed, not in
     * produced). Each delivery is of one hand-out, so delivered <= produced + spool_replayed. */
    uint64_t spooled, spool_failed, kept_at_exit, spool_replayed;
    /* The outage being spooled through, logged as it starts and once the spool is empty again;
     * spool_delivered counts the spooled records Kafka acknowledged since the spool was last
     * empty: not spool_replayed, which counts hand-outs (a rewind hands a record out again). */
    int spooling;
    int64_t spooling_since_ms; /* monotonic */
    uint64_t outage_spooled, spool_delivered;
    /* Spooled records given up on since the spool was last empty (a permanent error, too
     * large): a drain that delivered nothing must not read like the end of an outage. */
    uint64_t spool_lost;
    /* The last delivery, or when librdkafka's queue last went from empty to not (monotonic):
     * with messages queued and none delivered for KAFKA_STALL_MS, Kafka is not taking them. */
    int64_t progress_ms;
    /* A spooled record librdkafka refused as QUEUE_FULL: handed again, first, at the next feed. */
    void *held_buf;
    size_t held_len;
    uint64_t held_token;
    int spool_host_logged; /* logged a spooled record of another host name (spooled_key) once */
    /* After the idempotent producer's fatal error (a sequence desynchronization, say) it takes
     * nothing more, ever: a new one is made from this copy of the first one's config, as
     * recover_producer says. */
    rd_kafka_conf_t *conf_tmpl;
    uint64_t producer_recreated;
    int64_t recreate_at_ms; /* monotonic; 0: no fatal error seen on this producer */
    int64_t recreated_ms, recreate_backoff_ms;
    /* Kafka refusing this agent's messages as not authorised, or its topic missing
     * (refused_for_now): with a spool they are kept there and offered again after
     * refused_backoff_ms (1 s doubling to a minute); rewind_due: messages came back refused
     * (spooled records, or direct ones put in front of the spool), to be handed out again. */
    int refused;
    int rewind_due;
    int64_t refused_until_ms, refused_backoff_ms, refused_logged_ms; /* monotonic */
    uint64_t refused_kept;  /* in this refusal, for the line that ends it */
    uint64_t kafka_refused; /* every message that came back so and was kept: the stats line's */
    /* The spool's work in one turn of the wait (wait_until): feed_from_spool stops at
     * feed_until; spool_turn_ms is what the turn before the last tick spent on it, for a tick
     * that started late. */
    int64_t feed_until, spool_turn_ms;
    /* Local guard (vg_local.h); NULL when local.detector is off. Its receiver, when
     * local.webhook.url is set, is an actions/ webhook with its own delivery thread. */
    struct vg_local *local;
    const struct vg_local_http_ops *lhttp; /* the delivery module, loaded with the URL */
    const struct vg_action *lact;
    void *linst;
    /* local.outbox could not be opened at start: the queue is in memory only (counted in
     * local_state_errors). */
    int local_outbox_failed;
};

static void usage(FILE *f)
{
    fprintf(
        f, "Usage: vigil-agent [OPTIONS]\n"
           "\n"
           "Collects this host's metrics (/proc, /sys) every interval and produces one JSON\n"
           "message per tick to Kafka (topic vigil.metrics, key = host). See docs/wire-format.md.\n"
           "\n"
           "Options:\n"
           "  -c, --config PATH      YAML config file (default: none; built-in defaults)\n"
           "  -s, --set KEY=VALUE    override a config key, e.g. --set interval=5s or\n"
           "                         --set kafka.security.protocol=SSL (repeatable)\n"
           "      --once             collect one tick (two readings, so rates are filled),\n"
           "                         print its message on stdout and exit; no Kafka needed\n"
           "      --check-config     validate the config, print the effective values, exit\n"
           "      --list-collectors  list the collectors built in\n"
           "      --metrics-doc      print the metric reference (docs/metrics.md) and exit\n"
           "      --config-doc       print the config reference (Markdown) and exit\n"
           "      --log-format FMT   logfmt (default) or json; the same as --set log.format=FMT\n"
           "  -h, --help             this help\n"
           "  -V, --version          print the version\n"
           "\n"
           "Config keys (file, --set, or the environment variable shown):\n");
    vg_config_print_help(&agent_config_table, f);
    fprintf(f, "\nSignals: SIGTERM/SIGINT flush queued messages (flush_timeout) and exit 0;\n"
               "SIGHUP reads the config again: interval, stats_interval, labels and log.level\n"
               "change at once, other changes are logged as needing a restart; a config that\n"
               "does not load, or that the next start would refuse, leaves the running one\n"
               "in place.\n");
    fprintf(f, "\nExit status: 0 stopped, or --check-config found the config valid; 1 the start\n"
               "failed otherwise, or --check-config refused the config; 2 usage error; 78\n"
               "(EX_CONFIG) the start refused the config (\"config error: ...\"), which the\n"
               "packaged unit does not restart (RestartPreventExitStatus=78). A file a kafka.*\n"
               "property names that does not exist at the start (a *_file secret; an ssl.* path\n"
               "with security.protocol SSL or SASL_SSL; the keytab with GSSAPI) is waited for\n"
               "first, up to 60 s, each check logged; only then is it a config error, which\n"
               "--check-config reports at once. A path the protocol leaves unread is only\n"
               "warned about.\n");
    fprintf(f, "\nEnvironment: the VIGIL_* variables named above set their config keys (order,\n"
               "later wins: defaults, file, environment, --set). NOTIFY_SOCKET and WATCHDOG_USEC,\n"
               "set by systemd (Type=notify, WatchdogSec=), are answered with READY=1 and\n"
               "watchdog pings.\n");
    fprintf(f, "\nFiles: /etc/vigil/agent.yaml, the packaged unit's --config; under\n"
               "/var/lib/vigil: spool/ (spool.dir, messages waiting for Kafka) and btf/\n"
               "(bpf.btf_cache, minimal kernel BTF for the eBPF collectors). The documents\n"
               "under docs/ that this help names are in /usr/share/doc/vigil-agent/ once\n"
               "installed.\n");
}

/* A mistyped option: the error (getopt_long's, or the caller's) stays the last thing on the
 * screen; the whole help would scroll it away. Exit status 2, as for every usage error. */
static int usage_error(void)
{
    fputs("Try 'vigil-agent --help' for more information.\n", stderr);
    return 2;
}

static void make_boot_id(char *out, size_t n)
{
    unsigned char r[16];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        /* getrandom cannot fail for 16 bytes once the pool is up; this keeps ids distinct
         * anyway if it somehow does. */
        uint64_t t = (uint64_t)vg_now_ms() ^ ((uint64_t)getpid() << 32);
        memcpy(r, &t, sizeof(t));
        memcpy(r + 8, &t, sizeof(t));
    }
    snprintf(out, n, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0],
             r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
             r[14], r[15]);
}

/* After agent_config_check, which has checked a configured host. */
static void resolve_host(struct agent *a)
{
    if (a->cfg.host) {
        snprintf(a->host, sizeof(a->host), "%s", a->cfg.host);
        return;
    }
    char hn[VG_WIRE_HOST_MAX + 1] = "";
    if (gethostname(hn, sizeof(hn) - 1) < 0 || !hn[0])
        snprintf(hn, sizeof(hn), "localhost");
    for (char *p = hn; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            *p = '-';
    snprintf(a->host, sizeof(a->host), "%s", hn);
}

/* check (--check-config): the eBPF collectors are left out, as loading their programs is no
 * check; the others are opened as the start opens them, so that one that would be off is said. */
static int open_collectors(struct agent *a, int check, char *err, size_t errlen)
{
    char *list = strdup(a->cfg.collectors), *save = NULL;
    if (!list)
        return -ENOMEM;
    struct vg_collector_cfg ccfg = {
        .proc_root = a->cfg.proc_root,
        .sys_root = a->cfg.sys_root,
        .cpu_per_cpu = a->cfg.cpu_per_cpu,
        .cgroup_root = a->cfg.cgroup_root,
        .cgroup_select = a->cfg.cgroup_select,
        .cgroup_max = (int)a->cfg.cgroup_max,
        .fsspace_max = (int)a->cfg.fsspace_max,
        .bpf_btf_cache = a->cfg.bpf_btf_cache,
        .bpf_bpftool = a->cfg.bpf_bpftool,
        .max_message_bytes = a->max_bytes,
        .check = check,
    };
    int rc = 0;
    size_t skipped = 0;
    for (char *name = strtok_r(list, ", ", &save); name; name = strtok_r(NULL, ", ", &save)) {
        const struct vg_collector *c = vg_collector_find(name);
        if (!c) {
            rc = vg_err(err, errlen, -EINVAL,
                        "collectors: unknown collector '%s' (vigil-agent --list-collectors)", name);
            break;
        }
        if (a->n_coll == MAX_COLLECTORS) {
            rc = vg_err(err, errlen, -EINVAL, "collectors: more than %d", MAX_COLLECTORS);
            break;
        }
        if (check && strncmp(c->name, "bpf_", 4) == 0) {
            skipped++;
            continue;
        }
        char cerr[VG_ERRLEN] = "", q[VG_ERRLEN + 8];
        void *state = NULL;
        int crc = c->init(&state, &ccfg, cerr, sizeof(cerr));
        if (crc < 0) {
            /* One line per collector that cannot work here; the others go on. */
            vg_warn("collector off", "collector=%s reason=%s", c->name,
                    vg_log_quote(q, sizeof(q), cerr));
            continue;
        }
        a->coll[a->n_coll++] = (struct running){.c = c, .state = state};
    }
    free(list);
    if (!rc && a->n_coll == 0 && !skipped)
        rc = vg_err(err, errlen, -ENOENT, "no collector could start on this host");
    /* Those that keep the message within max_bytes run last, so that what the others sent
     * counts against it too; the others keep their order. */
    struct running later[MAX_COLLECTORS];
    size_t n = 0, k = 0;
    for (size_t i = 0; i < a->n_coll; i++) {
        if (a->coll[i].c->keeps_within)
            later[k++] = a->coll[i];
        else
            a->coll[n++] = a->coll[i];
    }
    memcpy(a->coll + n, later, k * sizeof *later);
    return rc;
}

/* Framing librdkafka counts against message.max.bytes besides the value and the key: 36 bytes
 * (librdkafka 2.0: a v2 record's varints at their longest), with room to spare. */
#define RECORD_OVERHEAD 64

/* The most a message may take: VG_WIRE_DEFAULT_MAX_BYTES, which the analyzer takes by default
 * (docs/wire-format.md), or less when the producer's message.max.bytes (the effective value in
 * conf: librdkafka's default of 1000000 or the user's kafka.message.max.bytes) leaves less once
 * the key (the host) and the record's framing are counted. Past it librdkafka refuses the
 * message outright (MSG_SIZE_TOO_LARGE). */
static int message_budget(struct agent *a, const rd_kafka_conf_t *conf, char *err, size_t errlen)
{
    char v[32];
    size_t vn = sizeof v;
    int64_t mmb;
    if (rd_kafka_conf_get(conf, "message.max.bytes", v, &vn) != RD_KAFKA_CONF_OK ||
        vg_parse_size(v, &mmb) < 0 || mmb <= 0)
        return vg_err(err, errlen, -EINVAL, "kafka: cannot read message.max.bytes back");
    size_t room = (size_t)mmb > strlen(a->host) + RECORD_OVERHEAD
                      ? (size_t)mmb - strlen(a->host) - RECORD_OVERHEAD
                      : 0;
    a->max_bytes = room < VG_WIRE_DEFAULT_MAX_BYTES ? room : VG_WIRE_DEFAULT_MAX_BYTES;
    return 0;
}

/* --once builds no producer: the budget comes from librdkafka's default and the user's
 * kafka.message.max.bytes alone, the one property it depends on, so that secret files are not
 * read for a message printed on stdout. */
static int once_budget(struct agent *a, char *err, size_t errlen)
{
    struct vg_kv mmb = {"message.max.bytes", NULL};
    struct vg_kvlist user = {&mmb, 0};
    if ((mmb.value = (char *)vg_kvlist_get(&a->cfg.kafka, "message.max.bytes")) != NULL)
        user.n = 1;
    rd_kafka_conf_t *conf = NULL;
    int rc = vg_kafka_conf_new(&conf, NULL, &user, err, errlen);
    if (rc == 0) {
        rc = message_budget(a, conf, err, errlen);
        rd_kafka_conf_destroy(conf);
    }
    return rc;
}

static void *watch_main(void *arg)
{
    struct coll_watch *w = arg;
    /* Looks four times per limit, and at the deadline of a run it has seen start: a run is named
     * at its deadline, or (one that began past the tick's) within a quarter limit of its start,
     * with no wakeup per collector per tick. */
    int64_t period = w->limit_ms / 4 > 0 ? w->limit_ms / 4 : 1;
    int64_t relog = w->limit_ms * COLLECT_LONG_RELOG;
    pthread_mutex_lock(&w->mu);
    int64_t now = vg_mono_ms();
    while (!w->stop) {
        int64_t wake = now + period;
        if (w->name && w->noted_run != w->run && w->deadline_ms > now && w->deadline_ms < wake)
            wake = w->deadline_ms;
        struct timespec ts = {.tv_sec = wake / 1000, .tv_nsec = (wake % 1000) * 1000000};
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        now = vg_mono_ms();
        if (w->stop || !w->name || now < w->deadline_ms)
            continue;
        if (w->noted_run != w->run) {
            w->noted_run = w->run;
            w->long_runs++;
        }
        int64_t *logged = &w->logged_ms[w->index];
        if (*logged && now - *logged < relog)
            continue;
        *logged = now;
        /* Copied under the lock; the names are the collector tables': they outlive the run. */
        const char *name = w->name, *slowest = w->slowest ? w->slowest : "none";
        int64_t ran = now - w->since_ms, tick = now - w->tick_ms, slowest_ms = w->slowest_ms;
        /* The kill: a whole timeout after the last pet, a quarter after the tick's deadline. */
        int64_t left = w->tick_deadline_ms - now + w->watchdog_ms / 4;
        uint64_t n = w->long_runs;
        pthread_mutex_unlock(&w->mu);
        char wd[48] = "";
        if (w->watchdog_ms)
            snprintf(wd, sizeof wd, " watchdog_left_ms=%lld", (long long)left);
        vg_warn("collector running long",
                "collector=%s running_ms=%lld tick_ms=%lld tick_slowest=%s tick_slowest_ms=%lld "
                "limit_ms=%lld watchdog_ms=%lld%s collect_long=%llu",
                name, (long long)ran, (long long)tick, slowest, (long long)slowest_ms,
                (long long)w->limit_ms, (long long)w->watchdog_ms, wd, (unsigned long long)n);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* After vg_notify_init, which reads the watchdog's timeout, and with the signals the loop waits
 * for blocked, so that the thread inherits their mask and they stay the loop's. A thread that
 * cannot start is logged: the agent runs on without the watch. */
static void watch_start(struct coll_watch *w)
{
    memset(w, 0, sizeof *w);
    w->watchdog_ms = vg_notify_watchdog_timeout_ms();
    w->limit_ms = COLLECT_LONG_MS;
    if (w->watchdog_ms && w->watchdog_ms / 4 < w->limit_ms)
        w->limit_ms = w->watchdog_ms / 4 > 0 ? w->watchdog_ms / 4 : 1;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&w->thread, NULL, watch_main, w);
    if (rc != 0) {
        char eb[128];
        vg_warn("collector watch off: a collector that hangs will not be named",
                "reason=\"cannot start its thread: %s\"", strerror_r(rc, eb, sizeof eb));
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        return;
    }
    /* Its own name, so that per-thread views (top -H, gdb, bench/agent-overhead) tell it from
     * the main thread; a name that cannot be set changes nothing else. */
    pthread_setname_np(w->thread, "vg-collwatch");
    w->started = 1;
}

static void watch_stop(struct coll_watch *w)
{
    if (!w->started)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    w->started = 0;
}

/* A tick begins at began (monotonic), on the loop's thread, which alone pets the watchdog: the
 * last pet stands until the tick ends. */
static void watch_tick(struct coll_watch *w, int64_t began)
{
    if (!w->started)
        return;
    int64_t deadline = INT64_MAX;
    if (w->watchdog_ms) /* the next pet is due half the timeout after the last */
        deadline = vg_notify_watchdog_due() + w->watchdog_ms / 4;
    pthread_mutex_lock(&w->mu);
    w->tick_ms = began;
    w->tick_deadline_ms = deadline;
    w->slowest = NULL;
    w->slowest_ms = -1;
    pthread_mutex_unlock(&w->mu);
}

/* Collector i (name, the table's) begins at t0 (monotonic). */
static void watch_begin(struct coll_watch *w, size_t i, const char *name, int64_t t0)
{
    if (!w->started)
        return;
    pthread_mutex_lock(&w->mu);
    w->index = i;
    w->name = name;
    w->since_ms = t0;
    w->deadline_ms =
        t0 + w->limit_ms < w->tick_deadline_ms ? t0 + w->limit_ms : w->tick_deadline_ms;
    w->run++;
    pthread_mutex_unlock(&w->mu);
}

/* The collector running has returned at end (monotonic). A run past the limit that the thread
 * did not see (it looks a quarter limit apart) is counted here, so that collect_long is exact. */
static void watch_end(struct coll_watch *w, int64_t end)
{
    if (!w->started)
        return;
    pthread_mutex_lock(&w->mu);
    int64_t took = end - w->since_ms;
    if (took >= w->limit_ms && w->noted_run != w->run) {
        w->noted_run = w->run;
        w->long_runs++;
    }
    if (took > w->slowest_ms) {
        w->slowest = w->name;
        w->slowest_ms = took;
    }
    w->name = NULL;
    pthread_mutex_unlock(&w->mu);
}

static uint64_t watch_long_runs(struct coll_watch *w)
{
    if (!w->started) /* never started, or stopped: no thread writes it */
        return w->long_runs;
    pthread_mutex_lock(&w->mu);
    uint64_t n = w->long_runs;
    pthread_mutex_unlock(&w->mu);
    return n;
}

/* The collector of a tick that took longest, and how long (ms). */
struct slowest {
    const char *name;
    int64_t ms;
};

/* Fills msg with one tick's metrics, and slow with the collector that took longest.
 * now_ms stamps the message (wall clock): the tick's start, taken before any collector reads, not
 * its end. Collectors run one after another, so every value was read at or after it: most within
 * a millisecond or so, those after a slow collector (named by `tick late`) later by its time.
 * Stamped at the end instead, every value read before the slow one would look newer than it is
 * by up to that time (seconds for a read stuck in the kernel), so the analyzer would take old
 * data for fresh (vigil_event_lag_seconds, stale and gap limits, which are whole intervals and
 * more anyway); stamped at the start, no value is newer than ts says, and ticks' ts stay on the
 * grid, an interval apart. Sending both times would take a new wire field: wire v2
 * (docs/wire-format.md, Compatibility). Collectors get the monotonic clock, since they only use
 * differences and a wall-clock step must not distort a rate. */
static void collect_tick(struct agent *a, struct vg_wire_msg *msg, int64_t now_ms,
                         struct slowest *slow)
{
    *slow = (struct slowest){.name = "none", .ms = -1};
    vg_wire_msg_reset(msg);
    msg->version = VG_WIRE_VERSION;
    snprintf(msg->host, sizeof(msg->host), "%s", a->host);
    snprintf(msg->boot, sizeof(msg->boot), "%s", a->boot);
    msg->ts_ms = now_ms;
    msg->interval_ms = a->cfg.interval_ms;
    for (size_t i = 0; i < a->cfg.labels.n; i++)
        vg_wire_msg_add_label(msg, a->cfg.labels.items[i].key, a->cfg.labels.items[i].value, NULL,
                              0);
    watch_tick(&a->watch, vg_mono_ms());
    for (size_t i = 0; i < a->n_coll; i++) {
        char cerr[VG_ERRLEN] = "", q[VG_ERRLEN + 8];
        struct running *r = &a->coll[i];
        int64_t t0 = vg_mono_ms();
        watch_begin(&a->watch, i, r->c->name, t0);
        int rc = r->c->collect(r->state, t0, msg, cerr, sizeof(cerr));
        int64_t end = vg_mono_ms(), took = end - t0;
        watch_end(&a->watch, end);
        if (took > slow->ms)
            *slow = (struct slowest){.name = r->c->name, .ms = took};
        if (rc < 0) {
            /* Log the first failure and then every 60th, so a broken source cannot flood; a
             * reason of another shape (fault_shape: not just its counts changed) at once, so a
             * second fault is not hidden behind the first. Every failure counts in the stats
             * line's collect_errors. */
            char shape[VG_ERRLEN];
            fault_shape(shape, sizeof shape, cerr);
            if (r->errors++ % 60 == 0 || strcmp(shape, r->last_err) != 0) {
                snprintf(r->last_err, sizeof r->last_err, "%s", shape);
                vg_warn("collect failed", "collector=%s errors=%llu reason=%s", r->c->name,
                        (unsigned long long)r->errors, vg_log_quote(q, sizeof(q), cerr));
            }
        }
    }
}

/* How long each phase of a tick took (ms): its collectors (all of them, and the slowest one),
 * the local guard's scoring, and the send (encoding, handing to librdkafka or writing to the
 * spool on disk). */
struct tick_phases {
    struct slowest coll;
    int64_t collect_ms, local_ms, send_ms;
};

/* A tick that ran past the next grid point: the points passed over get no message. Counted in
 * ticks_skipped; logged the first time and then at most once a minute, with the tick's own time
 * (took_ms), how late it started (started_late_ms: the loop itself was held up), each phase's
 * time, its slowest collector, and the slowest part of the tick (slowest=: that collector,
 * "local" or "send"), so that what has become slow is named: a slow spool write must not be
 * blamed on the collector that happened to take longest. When the late start outweighs every
 * phase, what held the loop is named instead: "spool" when the spool's work in the wait's last
 * turn (spool_ms: reading records to send, skipping expired ones) was most of it, else "wait"
 * (a stopped process, a starved CPU). A late start used to be blamed on a collector that took
 * 0 ms. */
static void note_late(struct agent *a, uint64_t skipped, int64_t took_ms, int64_t started_late_ms,
                      const struct tick_phases *ph)
{
    int64_t now = vg_mono_ms();
    int first = a->ticks_skipped == 0;
    a->ticks_skipped += skipped;
    if (first || now - a->late_logged_ms >= 60000) {
        a->late_logged_ms = now;
        const char *slowest = ph->coll.name;
        int64_t slowest_ms = ph->coll.ms;
        if (ph->local_ms > slowest_ms)
            slowest = "local", slowest_ms = ph->local_ms;
        if (ph->send_ms > slowest_ms)
            slowest = "send", slowest_ms = ph->send_ms;
        if (started_late_ms > slowest_ms) {
            if (a->spool_turn_ms * 2 >= started_late_ms)
                slowest = "spool", slowest_ms = a->spool_turn_ms;
            else
                slowest = "wait", slowest_ms = started_late_ms;
        }
        vg_warn("tick late",
                "took_ms=%lld started_late_ms=%lld interval_ms=%lld skipped=%llu "
                "ticks_skipped=%llu slowest=%s slowest_ms=%lld collector=%s collector_ms=%lld "
                "collect_ms=%lld local_ms=%lld send_ms=%lld spool_ms=%lld",
                (long long)took_ms, (long long)started_late_ms, (long long)a->cfg.interval_ms,
                (unsigned long long)skipped, (unsigned long long)a->ticks_skipped, slowest,
                (long long)slowest_ms, ph->coll.name, (long long)ph->coll.ms,
                (long long)ph->collect_ms, (long long)ph->local_ms, (long long)ph->send_ms,
                (long long)a->spool_turn_ms);
    }
}

/* A message the analyzer will never get, dropped rather than waiting anywhere: for the local
 * guard as much an outage as messages piling up in a queue. */
static void note_lost(struct agent *a)
{
    if (a->local)
        vg_local_kafka_lost(a->local, vg_mono_ms());
}

/* A message over max_bytes: librdkafka would refuse it (or the analyzer, past the wire format's
 * limit), so it is dropped, counted and logged with its size; so is one the broker refused as too
 * large (its own limit lower). Every tick may bring one: the
 * first is logged, then at most one a minute, each with the count so far. */
static void count_too_large(struct agent *a, const char *what, size_t len)
{
    int64_t now = vg_mono_ms();
    note_lost(a);
    if (a->too_large++ == 0 || now - a->too_large_logged_ms >= 60000) {
        a->too_large_logged_ms = now;
        vg_error("message too large, dropped", "%s bytes=%zu limit=%zu too_large=%llu", what, len,
                 a->max_bytes, (unsigned long long)a->too_large);
    }
}

static int purged(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR__PURGE_QUEUE || e == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT;
}

static int producer_fatal(rd_kafka_t *rk)
{
    return rd_kafka_fatal_error(rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* The topic is not on the cluster (not created yet on a new cluster whose topics come from a
 * separate step, or deleted and being recreated; production clusters seldom auto-create):
 * librdkafka holds the messages for topic.metadata.propagation.max.ms, then fails them
 * (UNKNOWN_TOPIC_OR_PART) and every later produce at once (_UNKNOWN_TOPIC), while it keeps asking
 * the brokers, every second, whether the topic exists yet. */
static int topic_missing(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
           e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
}

/* Errors librdkafka reports as permanent that an operator fixes without touching the agent: an
 * ACL not granted yet, or taken away by mistake; the topic not created yet. The messages are as
 * good as ever, so with a spool they wait there rather than being lost; docs/reliability.md says
 * why only these. */
static int refused_for_now(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
           e == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED || topic_missing(e);
}

/* A refusal (refused_for_now): nothing is offered to Kafka for a while, once per retry however
 * many messages come back refused from it. Logged when it begins and, while it lasts, at most
 * once a minute, with what the spool holds by then: a refusal never fixed ends as a long outage
 * does, in the spool's limits, and the operator must see it coming. */
static void note_refused(struct agent *a, rd_kafka_resp_err_t e)
{
    int64_t now = vg_mono_ms();
    a->refused_kept++;
    a->kafka_refused++;
    if (a->refused && now < a->refused_until_ms)
        return;
    a->refused_backoff_ms = a->refused_backoff_ms ? a->refused_backoff_ms * 2 : 1000;
    if (a->refused_backoff_ms > 60000)
        a->refused_backoff_ms = 60000;
    a->refused_until_ms = now + a->refused_backoff_ms;
    if (!a->refused || now - a->refused_logged_ms >= 60000) {
        struct vg_spool_stats ss = {0};
        vg_spool_get_stats(a->spool, &ss);
        a->refused_logged_ms = now;
        vg_error(
            topic_missing(e)
                ? "Kafka topic does not exist: messages kept in the spool, offered again "
                  "until the topic is created"
                : "Kafka refuses this agent's messages: kept in the spool, offered again until "
                  "it takes them",
            "topic=%s error=%s retry_in_ms=%lld refused_kept=%llu spool_records=%llu "
            "spool_bytes=%llu spool_max_bytes=%lld",
            a->cfg.topic, rd_kafka_err2name(e), (long long)a->refused_backoff_ms,
            (unsigned long long)a->refused_kept, (unsigned long long)ss.records,
            (unsigned long long)ss.bytes, (long long)a->cfg.spool_max_bytes);
    }
    a->refused = 1;
}

/* Whether nothing may be offered to Kafka now, after a refusal. Once the wait is over, the
 * spooled records that came back refused are handed out again, when every message offered
 * before has been reported on (a rewind hands out again whatever is not delivered, and one still
 * in flight would go twice). */
static int refused_wait(struct agent *a)
{
    if (a->refused && vg_mono_ms() < a->refused_until_ms)
        return 1;
    /* Also once a delivery has ended the refusal: the records refused before it still are. */
    if (a->rewind_due) {
        if (rd_kafka_outq_len(a->rk) > 0)
            return 1;
        free(a->held_buf); /* still in the spool, handed again after the rewind */
        a->held_buf = NULL;
        int rc = vg_spool_rewind(a->spool);
        if (rc < 0)
            vg_error("spool rewind failed", "reason=\"%s\"", strerror(-rc));
        a->rewind_due = 0;
    }
    return 0;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct agent *a = opaque;
    uint64_t token = (uint64_t)(uintptr_t)m->_private; /* nonzero: the record came from the spool */
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        a->delivered++;
        a->progress_ms = vg_mono_ms();
        if (a->refused) {
            vg_info("Kafka takes this agent's messages again", "refused_kept=%llu",
                    (unsigned long long)a->refused_kept);
            a->refused = 0;
            a->refused_backoff_ms = 0;
            a->refused_kept = 0;
        }
        if (a->local)
            vg_local_kafka_ok(a->local, vg_mono_ms());
        if (token) {
            vg_spool_delivered(a->spool, token);
            a->spool_delivered++;
        }
        return;
    }
    if (a->spool &&
        ((a->stopping && purged(m->err)) || producer_fatal(rk) || refused_for_now(m->err))) {
        /* Still queued when the flush at exit timed out, failed by a producer that hit a fatal
         * error (recover_producer), or refused as not authorised (refused_wait). A spooled
         * record is still in its file; one sent directly is older than everything spooled and
         * goes in front of it. */
        char err[VG_ERRLEN], q[VG_ERRLEN + 8];
        if (refused_for_now(m->err) && !a->stopping) {
            note_refused(a, m->err);
            /* A spooled record is behind the reader now; one sent directly goes into the
             * prepend segment, in front of it: either way only a rewind hands it out again. */
            a->rewind_due = 1;
        }
        if (token) {
            /* Unless the spool dropped its segment for room while it was in flight. */
            if (vg_spool_kept(a->spool, token))
                a->kept_at_exit += a->stopping;
        } else if (vg_spool_prepend(a->spool, vg_now_ms(), m->payload, m->len, err, sizeof err) ==
                   0)
            *(a->stopping ? &a->kept_at_exit : &a->spooled) += 1;
        else {
            a->delivery_failed++;
            note_lost(a);
            vg_error(a->stopping ? "message lost at exit" : "message lost: not kept in the spool",
                     "reason=%s", vg_log_quote(q, sizeof q, err));
        }
        return;
    }
    if (token) {
        vg_spool_delivered(a->spool, token); /* given up on: counted below, not retried forever */
        a->spool_lost++;
    }
    if (m->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        /* The broker's message.max.bytes (or the topic's max.message.bytes) is below the
         * producer's: not a delivery that may work later. */
        count_too_large(a, "refused_by=broker", m->len);
        return;
    }
    note_lost(a);
    if (a->delivery_failed++ % 100 == 0)
        vg_error("delivery failed", "topic=%s failed=%llu reason=%s", rd_kafka_topic_name(m->rkt),
                 (unsigned long long)a->delivery_failed, rd_kafka_err2name(m->err));
}

/* Built before the privilege drop, so that secret files (kafka.*_file) may be readable by root
 * only when the agent starts as root, and a bad property is reported before anything else. */
static int producer_conf(struct agent *a, rd_kafka_conf_t **out, unsigned flags, int *unread,
                         char *err, size_t errlen)
{
    /* librdkafka's defaults lose data quietly (no idempotence, 5 ms linger); these make a tick
     * count as sent only once every in-sync replica has it, in order, without duplicates. */
    /* The host in client.id, so that a broker's logs and quotas tell the agents apart. */
    char client_id[sizeof "vigil-agent-" + VG_WIRE_HOST_MAX];
    snprintf(client_id, sizeof client_id, "vigil-agent-%s", a->host);
    const struct vg_kafka_prop defaults[] = {
        {"client.id", client_id},
        {"bootstrap.servers", a->cfg.bootstrap_servers},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"compression.type", "lz4"},
        {"linger.ms", "50"},
        /* With a spool nothing times out in memory: what does not fit waits on disk (and
         * make_producer holds the topic to that while the spool is open). */
        {"message.timeout.ms", a->cfg.spool_dir && *a->cfg.spool_dir ? "0" : "300000"},
        {"queue.buffering.max.messages", "100000"},
        {NULL, NULL},
    };
    return vg_kafka_conf_new_ex(out, defaults, &a->cfg.kafka, flags, unread, err, errlen);
}

/* Takes conf (destroyed on failure too). */
static int make_producer(struct agent *a, rd_kafka_conf_t *conf, rd_kafka_t **rkp,
                         rd_kafka_topic_t **rktp, char *err, size_t errlen)
{
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, a);
    char rkerr[256];
    rd_kafka_t *rk = *rkp = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rkerr, sizeof(rkerr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        vg_secret_scrub(rkerr);
        return vg_err(err, errlen, -EINVAL, "kafka producer: %s", rkerr);
    }
    /* With the spool open, nothing times out in memory (message.timeout.ms 0): what does not fit
     * waits on disk, and a stop purges the rest into it. A user's kafka.message.timeout.ms (or
     * its alias delivery.timeout.ms), common in copied producer configs, timed messages out
     * during an outage instead: those sent directly were lost, and spooled ones handed to
     * librdkafka were given up on, spool.memory_messages per timeout, emptying the spool into
     * nothing. So the spool's 0 wins while it is open (agent_config_warn says so; spool.max_age
     * bounds what is sent). If the spool could not be opened, messages must time out after all
     * (and be counted as delivery_failed) rather than pile up in memory for ever: unless the user
     * chose a timeout, the topic gets the 5 minutes it would have had without a spool. */
    const char *timeout = NULL;
    if (a->spool)
        timeout = "0";
    else if (a->cfg.spool_dir && *a->cfg.spool_dir &&
             !vg_kvlist_get(&a->cfg.kafka, "message.timeout.ms") &&
             !vg_kvlist_get(&a->cfg.kafka, "delivery.timeout.ms"))
        timeout = "300000";
    rd_kafka_topic_conf_t *tconf = NULL;
    if (timeout) {
        char terr[256] = "out of memory";
        tconf = rd_kafka_default_topic_conf_dup(rk);
        if (!tconf || rd_kafka_topic_conf_set(tconf, "message.timeout.ms", timeout, terr,
                                              sizeof terr) != RD_KAFKA_CONF_OK) {
            if (tconf)
                rd_kafka_topic_conf_destroy(tconf);
            return vg_err(err, errlen, -EINVAL, "kafka topic '%s': message.timeout.ms: %s",
                          a->cfg.topic, terr);
        }
    }
    *rktp = rd_kafka_topic_new(rk, a->cfg.topic, tconf); /* takes tconf */
    if (!*rktp)
        return vg_err(err, errlen, -EINVAL, "kafka topic '%s': %s", a->cfg.topic,
                      rd_kafka_err2str(rd_kafka_last_error()));
    if (a->wake_fd[1] >= 0) {
        rd_kafka_queue_t *q = rd_kafka_queue_get_main(rk);
        rd_kafka_queue_io_event_enable(q, a->wake_fd[1], "1", 1);
        rd_kafka_queue_destroy(q);
    }
    return 0;
}

/* Takes conf (destroyed on failure too). */
static int open_producer(struct agent *a, rd_kafka_conf_t *conf, char *err, size_t errlen)
{
    /* Delivery reports wake the loop through a pipe, so between ticks it sleeps in one poll()
     * instead of waking every few milliseconds to ask librdkafka. */
    if (pipe2(a->wake_fd, O_CLOEXEC | O_NONBLOCK) != 0) {
        rd_kafka_conf_destroy(conf);
        return vg_err(err, errlen, -errno, "pipe: %s", strerror(errno));
    }
    a->conf_tmpl = rd_kafka_conf_dup(conf);
    return make_producer(a, conf, &a->rk, &a->rkt, err, errlen);
}

/* A fatal error of the idempotent producer (librdkafka's sequence desynchronization, say) ends
 * it: every produce fails from then on. Until it is replaced what comes is spooled (must_spool)
 * and nothing is fed from the spool; then whatever the old producer holds comes back through
 * dr_cb into the spool, and the spool hands its undelivered records again to a new producer.
 * The first replacement is at once; fatal errors again within a minute of the last replacement
 * wait 1 s, doubling to a minute, so a broker that keeps failing producers is not hammered. */
static void recover_producer(struct agent *a)
{
    char reason[512], q[600];
    rd_kafka_resp_err_t fe = rd_kafka_fatal_error(a->rk, reason, sizeof reason);
    if (!fe || a->stopping)
        return;
    int64_t now = vg_mono_ms();
    if (!a->recreate_at_ms) {
        if (now - a->recreated_ms > 60000)
            a->recreate_backoff_ms = 0;
        a->recreate_at_ms = now + a->recreate_backoff_ms;
        vg_error("Kafka producer failed for good: replacing it, messages kept in the spool",
                 "error=%s reason=%s replace_in_ms=%lld producer_recreated=%llu spool=%s",
                 rd_kafka_err2name(fe), vg_log_quote(q, sizeof q, reason),
                 (long long)a->recreate_backoff_ms, (unsigned long long)a->producer_recreated,
                 a->spool ? "on" : "off");
        a->recreate_backoff_ms = a->recreate_backoff_ms ? a->recreate_backoff_ms * 2 : 1000;
        if (a->recreate_backoff_ms > 60000)
            a->recreate_backoff_ms = 60000;
    }
    if (now < a->recreate_at_ms)
        return;
    char err[VG_ERRLEN];
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_t *rkt = NULL;
    rd_kafka_conf_t *conf = a->conf_tmpl ? rd_kafka_conf_dup(a->conf_tmpl) : NULL;
    if (!conf || make_producer(a, conf, &rk, &rkt, err, sizeof err) < 0) {
        if (rk)
            rd_kafka_destroy(rk);
        a->recreate_at_ms = now + a->recreate_backoff_ms;
        vg_error("Kafka producer not replaced, retrying", "reason=%s retry_in_ms=%lld",
                 vg_log_quote(q, sizeof q, conf ? err : "out of memory"),
                 (long long)a->recreate_backoff_ms);
        return;
    }
    /* Its messages come back through dr_cb, failed by the fatal error or purged: into the
     * spool. Without one they are counted there as delivery_failed. */
    rd_kafka_purge(a->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    int64_t deadline = now + 2000;
    while (rd_kafka_outq_len(a->rk) > 0 && vg_mono_ms() < deadline)
        rd_kafka_poll(a->rk, 50);
    int unreported = rd_kafka_outq_len(a->rk);
    free(a->held_buf); /* still in the spool, handed again after the rewind */
    a->held_buf = NULL;
    rd_kafka_topic_destroy(a->rkt);
    rd_kafka_destroy(a->rk);
    a->rk = rk;
    a->rkt = rkt;
    int rc = a->spool ? vg_spool_rewind(a->spool) : 0;
    a->producer_recreated++;
    a->recreated_ms = now;
    a->recreate_at_ms = 0;
    vg_warn("Kafka producer replaced", "producer_recreated=%llu unreported=%d spool_rewind=%s",
            (unsigned long long)a->producer_recreated, unreported, rc < 0 ? strerror(-rc) : "ok");
}

/* Once the eBPF programs are loaded (and the min-BTF files made), the agent keeps only what
 * reading their maps needs; before librdkafka starts its threads, as capabilities are per
 * thread. */
static int drop_privileges(struct agent *a, char *err, size_t errlen)
{
    int bpf = 0;
    for (size_t i = 0; i < a->n_coll; i++)
        bpf |= strncmp(a->coll[i].c->name, "bpf_", 4) == 0;
    /* The BTF cache too: made by this root process while loading, it must stay usable by the
     * unprivileged service that starts next (a root-owned 0700 directory makes it load with the
     * whole kernel BTF). */
    const char *dirs[] = {a->cfg.spool_dir ? a->cfg.spool_dir : "",
                          bpf && a->cfg.bpf_btf_cache ? a->cfg.bpf_btf_cache : "", NULL};
    struct vg_privdrop_cfg pc = {.user = a->cfg.user, .bpf_maps = bpf, .own_dirs = dirs};
    struct vg_privdrop_result r;
    int rc = vg_privdrop(&pc, &r, err, errlen);
    if (rc < 0)
        return rc;
    /* A change of user made the kernel reset it (to fs.suid_dumpable: 2 where systemd-coredump
     * is installed, which writes root-owned core files, Kafka password and all; 0 elsewhere, which
     * would leave core_dumps: true without a core file), so it is set again as asked. */
    if ((rc = vg_set_dumpable(a->cfg.core_dumps ? 1 : 0)) < 0)
        return vg_err(err, errlen, rc, "prctl(PR_SET_DUMPABLE): %s", strerror(-rc));
    char kept[256], bnd[256];
    vg_privdrop_caps_str(r.kept, kept, sizeof kept);
    if (r.bounding_dropped)
        vg_privdrop_caps_str(r.bounding, bnd, sizeof bnd);
    else
        snprintf(bnd, sizeof bnd, "unchanged");
    vg_info("privileges dropped",
            "uid=%u gid=%u switched=%d caps=%s bounding=%s no_new_privs=1 "
            "bpf_maps_need_cap=%s dumpable=%d",
            (unsigned)r.uid, (unsigned)r.gid, r.switched, kept, bnd,
            r.bpf_probe < 0 ? "n/a"
            : r.bpf_probe   ? "yes"
                            : "no",
            prctl(PR_GET_DUMPABLE, 0L, 0L, 0L, 0L));
    return 0;
}

static void feed_from_spool(struct agent *a);
static void note_spool_drained(struct agent *a);

/* The spool's start scan reads and checks every record an earlier run left, before READY: about
 * 3 s per GiB here, minutes for 16 GiB on a slow volume, past systemd's TimeoutStartSec (90 s by
 * default), and the unit restarted to read it all again. After a second of it, and every second
 * after, systemd is asked to wait SCAN_EXTEND_MS more (it extends, never shortens) and shown how
 * far it got. */
#define SCAN_EXTEND_MS 30000

struct scan_progress {
    int64_t began, sent; /* monotonic; sent 0: nothing sent yet */
};

/* Nothing once a stop is asked for (SIGTERM, SIGINT; the scan then ends, at g_stop): systemd
 * applies EXTEND_TIMEOUT_USEC to the stop's timeout too, so extending after it kept
 * TimeoutStopSec= from ever firing, and the stop waited for the whole scan (minutes). */
static void scan_progress(void *ud, uint64_t done, uint64_t total)
{
    struct scan_progress *p = ud;
    int64_t now = vg_mono_ms();
    if (g_stop || now - (p->sent ? p->sent : p->began) < 1000)
        return;
    if (!p->sent)
        vg_info("spool: reading what an earlier run left, the start waits for it", "segments=%llu",
                (unsigned long long)total);
    p->sent = now;
    char status[128];
    snprintf(status, sizeof status, "reading the spool: %llu of %llu segments",
             (unsigned long long)done, (unsigned long long)total);
    vg_notify_extend(SCAN_EXTEND_MS, status);
}

/* The spool's work in one turn of the wait, at most (and one record's read past it): then the
 * turn checks the time, the signals and the watchdog, and the next turn goes on at once. A turn
 * used to do all there was: with GiBs of records expired after a long outage, tens of seconds
 * without a tick or a watchdog ping (past the unit's WatchdogSec=30s). */
#define SPOOL_SLICE_MS 50

/* Sleeps until deadline (monotonic ms), serving librdkafka's events as they come, and returns
 * early on a signal. The caller blocks the signals that matter; ppoll() lets them in only while
 * it waits, so one that arrives between the check of g_stop and the wait still ends the wait. */
static void wait_until(struct agent *a, int64_t deadline, const sigset_t *wait_mask)
{
    for (;;) {
        rd_kafka_poll(a->rk, 0);
        recover_producer(a);
        int64_t t0 = vg_mono_ms();
        uint64_t yields = a->spool ? vg_spool_yields(a->spool) : 0;
        a->feed_until = t0 + SPOOL_SLICE_MS;
        feed_from_spool(a);
        note_spool_drained(a);
        int64_t now = vg_mono_ms();
        a->spool_turn_ms = now - t0;
        /* Stopped at its slice, or the spool at its share of expired records: more to do. */
        int more = a->spool && (now >= a->feed_until || vg_spool_yields(a->spool) != yields);
        vg_notify_watchdog(now);
        if (g_stop || g_reload || now >= deadline)
            return;
        int64_t until = more ? now : deadline;
        if (vg_notify_watchdog_due() < until)
            until = vg_notify_watchdog_due();
        int64_t left = until > now ? until - now : 0;
        struct timespec ts = {.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000};
        struct pollfd pfd = {.fd = a->wake_fd[0], .events = POLLIN};
        if (ppoll(&pfd, 1, &ts, wait_mask) > 0) {
            char drain[64];
            while (read(a->wake_fd[0], drain, sizeof drain) > 0)
                ;
        }
    }
}

/* Long enough for a broker's slow answer, short against an outage. */
#define KAFKA_STALL_MS 10000

static int kafka_stalled(struct agent *a)
{
    return rd_kafka_outq_len(a->rk) > 0 && vg_mono_ms() - a->progress_ms >= KAFKA_STALL_MS;
}

/* Before a message is handed to librdkafka: a queue that was empty starts the wait for its
 * delivery now, not at the last delivery, which may be long ago. */
static void note_handing(struct agent *a)
{
    if (rd_kafka_outq_len(a->rk) == 0)
        a->progress_ms = vg_mono_ms();
}

static int must_spool(struct agent *a)
{
    return a->spool && (vg_spool_busy(a->spool) || producer_fatal(a->rk) || a->refused ||
                        rd_kafka_outq_len(a->rk) >= (int)a->cfg.spool_memory_messages);
}

/* Takes buf (frees it). 0 when it is on disk. */
static int spool_message(struct agent *a, char *buf, size_t len)
{
    char err[VG_ERRLEN], q[VG_ERRLEN + 8];
    int backlog = vg_spool_busy(a->spool);
    int rc = vg_spool_append(a->spool, vg_now_ms(), buf, len, err, sizeof err);
    free(buf);
    if (rc < 0) {
        note_lost(a);
        if (a->spool_failed++ % 100 == 0)
            vg_error("spool write failed, message lost", "failed=%llu reason=%s",
                     (unsigned long long)a->spool_failed, vg_log_quote(q, sizeof q, err));
        return rc;
    }
    a->spooled++;
    a->outage_spooled++;
    /* Behind records still to replay (a previous run's, say) a tick waits its turn in the spool
     * while Kafka takes them: no outage unless their deliveries stall. */
    if (!a->spooling && (!backlog || kafka_stalled(a))) {
        a->spooling = 1;
        a->spooling_since_ms = vg_mono_ms();
        vg_warn("Kafka is not taking messages: spooling to disk", "queued=%d dir=%s",
                rd_kafka_outq_len(a->rk), a->cfg.spool_dir);
    }
    return 0;
}

/* The end of an outage: the spool is empty again, so the next one is logged as it starts. */
static void note_spool_drained(struct agent *a)
{
    if (!a->spool || vg_spool_busy(a->spool))
        return;
    /* spool_delivered alone: records a previous run left. Records given up on (lost=, each also
     * in delivery_failed, produce_failed or too_large) make it a warning. */
    if (a->spooling || a->spool_delivered || a->spool_lost)
        vg_log(a->spool_lost ? VG_LOG_WARN : VG_LOG_INFO, "spool drained",
               "spool_delivered=%llu lost=%llu outage_spooled=%llu outage_ms=%lld",
               (unsigned long long)a->spool_delivered, (unsigned long long)a->spool_lost,
               (unsigned long long)a->outage_spooled,
               (long long)(a->spooling ? vg_mono_ms() - a->spooling_since_ms : 0));
    a->spooling = 0;
    a->outage_spooled = 0;
    a->spool_delivered = 0;
    a->spool_lost = 0;
}

static void produce(struct agent *a, struct vg_wire_msg *msg)
{
    char *buf;
    size_t len;
    char eerr[VG_ERRLEN], q[VG_ERRLEN + 8];
    msg->seq = a->seq;
    if (vg_wire_encode(msg, &buf, &len, eerr, sizeof(eerr)) < 0) {
        a->encode_failed++;
        vg_error("encode failed", "seq=%llu reason=%s", (unsigned long long)msg->seq,
                 vg_log_quote(q, sizeof(q), eerr));
        return;
    }
    /* The sequence advances for every message encoded, so a message lost anywhere after this
     * point (the spool full or unwritable, librdkafka refusing it, a failed delivery) is a gap
     * the analyzer counts as well as a counter here. */
    a->seq++;
    if (len > a->max_bytes) {
        /* Before the spool: one that Kafka refuses must not wait there for ever. */
        char what[48];
        snprintf(what, sizeof what, "seq=%llu", (unsigned long long)msg->seq);
        count_too_large(a, what, len);
        free(buf);
        return;
    }
    if (must_spool(a)) {
        spool_message(a, buf, len);
        return;
    }
    note_handing(a);
    if (rd_kafka_produce(a->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_FREE, buf, len, a->host,
                         strlen(a->host), NULL) < 0) {
        rd_kafka_resp_err_t e = rd_kafka_last_error();
        if (a->spool && refused_for_now(e))
            note_refused(a, e);
        if (a->spool && (e == RD_KAFKA_RESP_ERR__QUEUE_FULL || e == RD_KAFKA_RESP_ERR__FATAL ||
                         refused_for_now(e))) {
            spool_message(a, buf, len);
            return;
        }
        free(buf);
        if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
            char what[48];
            snprintf(what, sizeof what, "seq=%llu", (unsigned long long)msg->seq);
            count_too_large(a, what, len);
            return;
        }
        note_lost(a);
        if (a->produce_failed++ % 100 == 0)
            vg_error("produce failed", "failed=%llu reason=%s",
                     (unsigned long long)a->produce_failed, rd_kafka_err2name(e));
        return;
    }
    a->produced++;
}

/* The Kafka key of a spooled record: the host its message names, copied into host. That is this
 * agent's own unless `host` changed since it was spooled (an edit, VIGIL_HOST, a new hostname
 * after a reboot); keyed by the new name, the old host's backlog went to the new name's partition,
 * whose analyzer took it for a host it never had while the old partition's owner still held it,
 * and counted the new name's key length against the record's size. */
static const char *spooled_key(struct agent *a, const void *buf, size_t len, char *host)
{
    if (vg_wire_peek_host(buf, len, host) < 0)
        return a->host; /* no v1 host: the analyzer refuses the message under any key */
    if (strcmp(host, a->host) != 0 && !a->spool_host_logged) {
        a->spool_host_logged = 1;
        vg_info("spooled records of another host name are sent under that name",
                "host=%s record_host=%s", a->host, host);
    }
    return host;
}

/* Hands spooled messages back to librdkafka, oldest first, while it has room for them. Its own
 * limits (queue.buffering.max.messages / .kbytes) may be lower than spool.memory_messages: a
 * record refused as QUEUE_FULL is held, still in the spool, and offered again next time. */
static void feed_from_spool(struct agent *a)
{
    while (a->spool && !a->stopping && !producer_fatal(a->rk) && !refused_wait(a) &&
           rd_kafka_outq_len(a->rk) < (int)a->cfg.spool_memory_messages &&
           vg_mono_ms() < a->feed_until) {
        if (!a->held_buf) {
            int rc =
                vg_spool_next(a->spool, vg_now_ms(), &a->held_buf, &a->held_len, &a->held_token);
            if (rc <= 0) {
                a->held_buf = NULL;
                if (rc < 0 && a->spool_failed++ % 100 == 0)
                    vg_error("spool read failed", "reason=\"%s\"", strerror(-rc));
                return;
            }
        }
        note_handing(a);
        char host[VG_WIRE_HOST_MAX + 1];
        const char *key = spooled_key(a, a->held_buf, a->held_len, host);
        if (rd_kafka_produce(a->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_FREE, a->held_buf,
                             a->held_len, key, strlen(key), (void *)(uintptr_t)a->held_token) < 0) {
            rd_kafka_resp_err_t e = rd_kafka_last_error();
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                return; /* held for the next feed, after deliveries have made room */
            if (e == RD_KAFKA_RESP_ERR__FATAL)
                return; /* held: still in the spool, for the producer that replaces this one */
            if (refused_for_now(e)) {
                note_refused(a, e);
                return; /* held, offered again after the wait */
            }
            free(a->held_buf);
            a->held_buf = NULL;
            vg_spool_delivered(a->spool, a->held_token);
            a->spool_lost++;
            if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
                /* Spooled before kafka.message.max.bytes was lowered, or by an older agent. */
                count_too_large(a, "spooled=1", a->held_len);
                continue;
            }
            note_lost(a);
            if (a->produce_failed++ % 100 == 0)
                vg_error("produce from spool failed, message lost", "failed=%llu reason=%s",
                         (unsigned long long)a->produce_failed, rd_kafka_err2name(e));
            continue;
        }
        a->held_buf = NULL; /* librdkafka's now */
        a->spool_replayed++;
    }
}

/* The local guard's counters, appended to the stats line ("" when it is off). */
static const char *local_stats(struct agent *a, char *buf, size_t n)
{
    buf[0] = '\0';
    if (!a->local)
        return buf;
    struct vg_local_stats ls;
    struct vg_action_stats as = {0};
    vg_local_get_stats(a->local, &ls);
    if (a->linst)
        a->lact->stats(a->linst, &as);
    snprintf(buf, n,
             " local_series=%llu local_scored=%llu local_fired=%llu local_resolved=%llu "
             "local_firing=%llu local_sent=%llu local_delivered=%llu local_failed=%llu "
             "local_queued=%llu local_not_sent=%llu local_refused=%llu local_outages=%llu "
             "local_stale_resolved=%llu local_expired=%llu local_restored=%llu "
             "local_state_errors=%llu local_kept=%llu local_replayed=%llu local_send_ms=%llu "
             "local_unsaved_sent=%llu",
             (unsigned long long)ls.series, (unsigned long long)ls.scored,
             (unsigned long long)ls.fired, (unsigned long long)ls.resolved,
             (unsigned long long)ls.firing, (unsigned long long)ls.sent,
             (unsigned long long)as.delivered, (unsigned long long)(as.dropped + ls.send_failed),
             (unsigned long long)as.queued, (unsigned long long)ls.not_sent,
             (unsigned long long)ls.refused, (unsigned long long)ls.outages,
             (unsigned long long)ls.stale_resolved, (unsigned long long)ls.expired,
             (unsigned long long)ls.restored,
             (unsigned long long)(ls.state_errors + (uint64_t)a->local_outbox_failed),
             (unsigned long long)as.kept, (unsigned long long)as.replayed,
             (unsigned long long)(ls.send_us / 1000), (unsigned long long)ls.unsaved_sent);
    return buf;
}

/* The lines vg_log's rate limit held back, the delivery module's included. */
static void flush_log(struct agent *a)
{
    vg_log_flush_suppressed();
    if (a->lhttp && a->lhttp->log_flush_suppressed)
        a->lhttp->log_flush_suppressed();
}

static void log_stats(struct agent *a)
{
    struct vg_spool_stats ss = {0};
    if (a->spool)
        vg_spool_get_stats(a->spool, &ss);
    char lt[768];
    uint64_t collect_errors = 0;
    for (size_t i = 0; i < a->n_coll; i++)
        collect_errors += a->coll[i].errors;
    vg_info("stats",
            "ticks=%llu collect_errors=%llu produced=%llu delivered=%llu delivery_failed=%llu "
            "produce_failed=%llu encode_failed=%llu "
            "too_large=%llu producer_recreated=%llu queued=%d spooled=%llu spool_replayed=%llu "
            "spool_records=%llu "
            "spool_bytes=%llu "
            "spool_dropped_full=%llu spool_dropped_age=%llu spool_corrupt=%llu "
            "spool_read_errors=%llu spool_failed=%llu "
            "spool_late_reports=%llu ticks_skipped=%llu collect_long=%llu kafka_refused=%llu%s",
            (unsigned long long)a->ticks, (unsigned long long)collect_errors,
            (unsigned long long)a->produced, (unsigned long long)a->delivered,
            (unsigned long long)a->delivery_failed, (unsigned long long)a->produce_failed,
            (unsigned long long)a->encode_failed, (unsigned long long)a->too_large,
            (unsigned long long)a->producer_recreated, a->rk ? rd_kafka_outq_len(a->rk) : 0,
            (unsigned long long)a->spooled, (unsigned long long)a->spool_replayed,
            (unsigned long long)ss.records, (unsigned long long)ss.bytes,
            (unsigned long long)ss.dropped_full, (unsigned long long)ss.dropped_age,
            (unsigned long long)ss.corrupt, (unsigned long long)ss.read_errors,
            (unsigned long long)a->spool_failed, (unsigned long long)ss.late_reports,
            (unsigned long long)a->ticks_skipped, (unsigned long long)watch_long_runs(&a->watch),
            (unsigned long long)a->kafka_refused, local_stats(a, lt, sizeof lt));
    flush_log(a);
}

static int local_send(void *ud, const struct vg_notification *n)
{
    struct agent *a = ud;
    return a->lact->submit(a->linst, n);
}

static int local_flush(void *ud)
{
    struct agent *a = ud;
    return a->lact->flush ? a->lact->flush(a->linst) : 0;
}

static void local_release(void *ud)
{
    struct agent *a = ud;
    if (a->lact->release)
        a->lact->release(a->linst);
}

/* The local guard's receiver: the agent's local.webhook.* keys, named as such in errors. A URL
 * read from local.webhook.url_file is shown as scheme://host:port/... only, and errors about it
 * name the file (kb holds that name). outbox_dir: where its queue is kept (NULL: memory only). */
static struct vg_receiver_cfg local_receiver_cfg(const struct agent_cfg *c, char *kb, size_t kn,
                                                 const char *outbox_dir)
{
    const char *file = c->local_webhook_url_file;
    return (struct vg_receiver_cfg){
        .type = "webhook",
        .name = "local",
        .url = c->local_webhook_url,
        .outbox_dir = outbox_dir,
        .url_hide_path = file && *file,
        .url_key = vg_urlfile_key("local.webhook.url", "local.webhook.url_file", file, kb, kn),
        .secret_file = c->local_webhook_secret_file,
        .allow_plain_http = c->local_webhook_allow_plain_http,
        .tls_ca_file = c->local_webhook_tls_ca_file,
        .key_prefix = "local.webhook",
        /* A firing is written to the outbox before its alert reaches local-alerts (at the end
         * of the tick): after a crash in between, the next start replays a firing whose alert
         * it does not hold, and no resolve would ever follow it. Replayed firings wait for
         * open_local to release those of the alerts taken over (adopt); the rest are dropped
         * (restored). */
        .hold_firings = outbox_dir != NULL,
        /* open_local does so right after create, from local-alerts: a replayed firing whose
         * episode local-alerts holds as firing goes out whatever its age (the alert is taken
         * over as sent, and never sent again), and one it does not hold is dropped. */
        .adopt_at_start = 1,
        /* The guard submits from the tick thread, the only one that pets the watchdog, and an
         * alert storm submits hundreds at once: their outbox writes share one fdatasync, at the
         * end of the tick (vg_local_set_flush), rather than one each. */
        .group_commit = 1,
        /* A firing older than spool.max_age is as stale as a spooled message of that age: one
         * that fails an attempt is not retried (logged, counted in local_failed). Not a replayed
         * firing adopted at the start (adopt_at_start: its age counts from then), and never a
         * resolve (the engine's rule without keep_retrying): it gets its 8 attempts whatever
         * its age, as its alert has left local-alerts and nothing would send it again. */
        .max_age_ms = c->spool_max_age_ms,
    };
}

static void adopt_local_alert(void *ud, const char *fingerprint, int64_t starts_at_ms)
{
    struct agent *a = ud;
    struct vg_notification n = {
        .status = "firing", .fingerprint = fingerprint, .starts_at_ms = starts_at_ms};
    if (a->lact->adopt)
        (void)a->lact->adopt(a->linst, &n);
}

/* Every replayed firing is this agent's: none went to another owner. */
static int owns_every_host(void *ud, const char *host)
{
    (void)ud;
    (void)host;
    return 1;
}

/* The local webhook's check, as create() runs it at a start: URL, policy, CA bundle, secret file.
 * The URL is already read from local.webhook.url_file (agent_read_url_file, as root in a check
 * run as root); the file is opened again here, as the user the start reads it as (in the child
 * check_start runs this in), only opened so that a mode warning is not said twice. */
static int check_local_webhook(const struct agent_cfg *c, char *err, size_t errlen)
{
    const char *file = c->local_webhook_url_file;
    if (file && *file) {
        int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
            return vg_err(err, errlen, -errno, "local.webhook.url_file: cannot open %s: %s", file,
                          strerror(errno));
        close(fd);
    }
    const struct vg_local_http_ops *ops;
    char aerr[VG_ERRLEN], kb[1024];
    if (vg_local_http_load(&ops, aerr, sizeof aerr) < 0)
        return vg_err(err, errlen, -ENOENT, "local.webhook.url needs %s", aerr);
    struct vg_receiver_cfg rc = local_receiver_cfg(c, kb, sizeof kb, NULL);
    rc.check_only = 1;
    const struct vg_action *act;
    void *inst;
    if (ops->create(&rc, &act, &inst, aerr, sizeof aerr) < 0)
        return vg_err(err, errlen, -EINVAL, "%s", aerr);
    return 0;
}

static int check_local_webhook_cb(void *ud, char *err, size_t errlen)
{
    return check_local_webhook(ud, err, errlen);
}

/* The local guard's settings from the agent's local.* keys. */
static struct vg_local_cfg local_cfg(const struct agent_cfg *c)
{
    return (struct vg_local_cfg){
        .detector = c->local_detector,
        .series = c->local_series,
        /* The analyzer's detector defaults (docs/detectors.md). */
        .dp = {.alpha = 0.05,
               .alpha_outlier = 0.005,
               .warmup = (uint32_t)c->local_warmup,
               .clip_k = 3,
               .min_std_abs = 0.01,
               .min_std_rel = 0.02},
        .ap = {.threshold = c->local_threshold,
               .for_ms = c->local_for_ms,
               .resolve_for_ms = c->local_resolve_for_ms},
        .when = strcmp(c->local_when, "always") == 0 ? VG_LOCAL_WHEN_ALWAYS : VG_LOCAL_WHEN_OUTAGE,
        .outage_after_ms = c->local_outage_after_ms,
        .max_series = (size_t)c->local_max_series,
        .stale_ms = c->local_stale_after_ms,
        .idle_ms = c->local_series_idle_ms,
    };
}

/* The service user, when started as root: *pw is it (NULL when the agent stays who it is), or
 * the error a start, --check-config and a reload give alike. At a reload the agent is `user`
 * already (geteuid() != 0); getpwnam works unprivileged, so the next start's refusal of a user
 * that does not exist is a reload's too. */
static int check_user(const struct agent_cfg *c, struct passwd **pw, char *err, size_t errlen)
{
    *pw = NULL;
    if ((geteuid() == 0 || g_started_root) && c->user && *c->user && !(*pw = getpwnam(c->user)))
        return vg_err(err, errlen, -ENOENT,
                      "user: no user '%s' on this host (create it, e.g. useradd --system "
                      "--no-create-home %s, or set user: \"\" to stay root with the capabilities "
                      "dropped)",
                      c->user, c->user);
    return 0;
}

/* Whether the spool can be made and written in dir, tried rather than judged from mode bits: a
 * file made and removed in it, or, when it does not exist, the directory made and removed (the
 * spool creates only its last component). A read-only mount, /proc, a missing parent or another
 * user's directory all fail here as they fail vg_spool_open. A running agent's spool is left
 * alone: its lock is not taken, and the probe's name is none the spool reads. */
static int check_spool_dir(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return vg_err(err, errlen, -ENOTDIR, "spool.dir: %s is not a directory", dir);
        char probe[4096];
        snprintf(probe, sizeof probe, "%s/.vigil-check-%ld", dir, (long)getpid());
        int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
            return vg_err(err, errlen, -errno, "spool.dir: cannot create files in %s: %s", dir,
                          strerror(errno));
        close(fd);
        unlink(probe);
        return 0;
    }
    if (errno != ENOENT && errno != ENOTDIR) /* those two, mkdir says */
        return vg_err(err, errlen, -errno, "spool.dir: %s: %s", dir, strerror(errno));
    if (mkdir(dir, 0700) != 0) {
        int e = errno;
        return vg_err(err, errlen, -e, "spool.dir: cannot create directory %s: %s%s", dir,
                      strerror(e), e == ENOENT ? " (its parent must exist)" : "");
    }
    rmdir(dir);
    return 0;
}

static int check_spool_dir_cb(void *ud, char *err, size_t errlen)
{
    return check_spool_dir(ud, err, errlen);
}

/* spool.dir as the agent will write it: as `user` when the check runs as root (the packaged unit
 * starts the agent as that user), else as this process (a reload runs as the agent). An unusable
 * spool does not stop a start, which runs without it and says so in one line (`spool off`),
 * leaving the host without outage protection for as long as it runs: a spool.dir the config sets
 * is refused here, so that the check does not say "config OK" to it. The built-in default
 * (/var/lib/vigil/spool, which the packages create) is only warned about: a host without the
 * packages has no /var/lib/vigil, and the agent runs there without a spool as before. */
static int check_spool(const struct agent_cfg *c, const struct passwd *pw, int reload, char *err,
                       size_t errlen)
{
    if (!c->spool_dir || !*c->spool_dir)
        return 0;
    char why[VG_ERRLEN], q[VG_ERRLEN + 8];
    int rc;
    if (pw && !reload) {
        char cerr[VG_ERRLEN];
        rc = vg_run_as_user(pw, check_spool_dir_cb, c->spool_dir, "spool.dir", cerr, sizeof cerr);
        if (rc < 0)
            vg_err(why, sizeof why, rc,
                   "%s (checked as user '%s', the agent's `user`: give it the directory, e.g. "
                   "install -d -o %s -m 0700 DIR)",
                   cerr, pw->pw_name, pw->pw_name);
    } else {
        rc = check_spool_dir(c->spool_dir, why, sizeof why);
    }
    if (rc == 0)
        return 0;
    if (vg_config_where("spool.dir"))
        return vg_err(err, errlen, rc, "%s", why);
    vg_warn(
        "spool off at a start: messages Kafka has not taken within kafka.message.timeout.ms "
        "(default 5 min) will be lost; the default spool.dir is not usable here (set spool.dir, "
        "or spool.dir: \"\" for no spool)",
        "reason=%s", vg_log_quote(q, sizeof q, why));
    return 0;
}

/* For --check-config: what the start refuses after the config load, checked without starting
 * anything: the service user (when started as root), the local guard as it is made at a start
 * (local.series), the collectors as they are opened at a start (the eBPF ones left out), a
 * collector that would be off logged as the start logs it, spool.dir (check_spool: what would
 * make the start run without a spool), and the local webhook's URL, CA bundle and secret file,
 * through the delivery module as the start loads it. The start reads those files after dropping
 * to the service user, so as root the check reads them as that user too, in a child process that
 * drops its privileges as the agent does; and the config file, which root read, and the agent
 * reads again as that user at every SIGHUP (and the unit, User=, at its start). */
static int check_start(struct agent *a, int reload, char *err, size_t errlen)
{
    const struct agent_cfg *c = &a->cfg;
    struct passwd *pw;
    if (check_user(c, &pw, err, errlen) < 0)
        return -ENOENT;
    if (pw && !reload && a->config_path && *a->config_path) {
        int rc = vg_runas_check_config(pw, a->config_path, err, errlen);
        if (rc < 0)
            return rc;
    }
    if (strcmp(c->local_detector, "off") != 0) {
        struct vg_local_cfg lc = local_cfg(c);
        struct vg_local *l = NULL;
        int rc = vg_local_new(&l, &lc, a->host, NULL, NULL, err, errlen);
        vg_local_free(l);
        if (rc < 0)
            return rc;
    }
    int rc = once_budget(a, err, errlen);
    if (rc == 0)
        rc = open_collectors(a, 1, err, errlen);
    for (size_t i = 0; i < a->n_coll; i++)
        a->coll[i].c->fini(a->coll[i].state);
    a->n_coll = 0;
    if (rc == 0)
        rc = check_spool(c, pw, reload, err, errlen);
    if (rc < 0)
        return rc;
    if (strcmp(c->local_detector, "off") == 0 || !c->local_webhook_url || !*c->local_webhook_url)
        return 0;
    /* At a reload the agent is `user` already (or root without the capabilities to become it):
     * it reads the files as the start would. */
    if (!pw || reload)
        return check_local_webhook(c, err, errlen);
    return vg_run_as_user(pw, check_local_webhook_cb, (void *)c, "the local webhook's files", err,
                          errlen);
}

/* What --check-config refuses, and a SIGHUP with it: the config loaded, then the file a start
 * would wait for (refused at once, in the words the start gives up with), the producer the start
 * makes (made and destroyed), and check_start. --once makes no producer (once_budget). At a
 * reload the agent runs as `user`: a kafka.*_file left readable by root only, which the start
 * reads before the drop, cannot be read, and is not held against the file (a warning names it);
 * the other properties are checked all the same, and the producer is made with a placeholder for
 * a SASL secret (with another secret left unset, rd_kafka_new would refuse what the start takes,
 * so it is not made then). */
static int check_config(struct agent *a, int once, int reload, char *err, size_t errlen)
{
    int rc = 0;
    if (!once)
        rc = vg_kafka_missing_file(&a->cfg.kafka, err, errlen);
    rd_kafka_conf_t *conf = NULL;
    int unread = 0;
    if (!rc && !once &&
        (rc = producer_conf(a, &conf, reload ? VG_KAFKA_CONF_SKIP_UNREADABLE : 0, &unread, err,
                            errlen)) == 0) {
        if (unread & VG_KAFKA_UNREAD_UNSET)
            rd_kafka_conf_destroy(conf);
        else
            rc = vg_kafka_client_check(RD_KAFKA_PRODUCER, conf, "kafka producer", err,
                                       errlen); /* as make_producer; takes conf */
    }
    if (!rc)
        rc = check_start(a, reload, err, errlen);
    return rc;
}

/* The local receiver's outbox in spool.dir (<name>.outbox, the receiver being named "local"). */
#define LOCAL_OUTBOX_FILE "local.outbox"

/* A start that will not deliver <spool.dir>/local.outbox (the guard off, no local.webhook.url,
 * the spool off or held by another agent) says so when the file holds notifications: a resolve in
 * it has left local-alerts already, so the note on that file says nothing of it, and the receiver
 * keeps its alert firing until a start that delivers the file. Only its size is looked at: without
 * the spool's lock the file may be another agent's, and reading its records takes the delivery
 * module. One longer than its header holds a record not delivered (one whose records are all
 * delivered is cut back to it). The file is left as it is, for that start. */
static void note_unread_local_outbox(const struct agent *a, const char *why)
{
    const struct agent_cfg *c = &a->cfg;
    if (!c->spool_dir || !*c->spool_dir)
        return;
    char path[4096], q[4104];
    snprintf(path, sizeof path, "%s/" LOCAL_OUTBOX_FILE, c->spool_dir);
    vg_log_quote(q, sizeof q, path);
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        if (e != ENOENT)
            vg_warn("local guard: notifications an earlier run queued for the local webhook may "
                    "wait in their file, not delivered by this start: it cannot be looked at",
                    "why=%s file=%s reason=\"%s\"", why, q, strerror(e));
        return;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size <= VG_OUTBOX_HEADER_BYTES)
        return;
    vg_warn("local guard: notifications an earlier run queued for the local webhook are not "
            "delivered by this start: they wait in their file for a start with the guard, "
            "local.webhook.url and the spool on (removing the file while no agent runs on "
            "spool.dir drops them)",
            "why=%s file=%s bytes=%lld", why, q, (long long)st.st_size);
}

/* After the privilege drop: the receiver's thread must not start with capabilities, so its
 * secret file is read as `user`. */
/* A start that will not read <spool.dir>/local-alerts (the guard off, or the spool off or held
 * by another agent) says so when the file is there: the alerts an earlier run sent in it stay
 * firing at the receiver until a start that reads it, and this used to say nothing. The file is
 * left as it is, for that start. So is local.outbox, which such a start does not deliver either
 * (note_unread_local_outbox). */
static void note_unread_local_alerts(const struct agent *a, const char *why)
{
    const struct agent_cfg *c = &a->cfg;
    if (!c->spool_dir || !*c->spool_dir)
        return;
    note_unread_local_outbox(a, why); /* the resolves it holds are no longer in local-alerts */
    char path[4096], q[4104], q2[VG_ERRLEN + 8], rerr[VG_ERRLEN];
    snprintf(path, sizeof path, "%s/" VG_LOCAL_STATE_FILE, c->spool_dir);
    struct vg_local_saved_set set = {0};
    int rc = 0;
    if (a->spool)
        rc = vg_local_state_read(path, &set, rerr, sizeof rerr);
    else if (access(path, F_OK) != 0) { /* no spool lock: maybe another agent's file, not read */
        int e = errno;
        rc = vg_err(rerr, sizeof rerr, -e, "%s", strerror(e));
    }
    if (rc == -ENOENT) {
        vg_local_state_free(&set);
        return;
    }
    if (rc < 0)
        vg_warn("local guard: alerts an earlier run sent may stay unresolved at the receiver: "
                "their file cannot be read",
                "why=%s file=%s reason=%s", why, vg_log_quote(q, sizeof q, path),
                vg_log_quote(q2, sizeof q2, rerr));
    else if (!a->spool)
        vg_warn("local guard: alerts an earlier run sent may stay unresolved at the receiver "
                "until a start that reads their file",
                "why=%s file=%s alerts=unknown", why, vg_log_quote(q, sizeof q, path));
    else if (set.n)
        vg_warn("local guard: alerts an earlier run sent stay unresolved at the receiver until "
                "a start that reads their file",
                "why=%s file=%s alerts=%zu", why, vg_log_quote(q, sizeof q, path), set.n);
    vg_local_state_free(&set);
}

/* A start whose local.outbox cannot be opened delivers from memory: what it sends is not in the
 * file, and a later start that opens the file again would replay the older notifications it
 * holds after the newer ones of the same alerts (an old resolve after a new firing resolves the
 * alert at the receiver while the agent holds it firing). So the file is set aside, as
 * local.outbox.stale (replacing one an earlier start set aside), and never replayed. Not when
 * another process holds it (busy: it is that one's queue), nor one that holds no record or is
 * no file. Logged with its size; a file that cannot be moved is logged and counted
 * (local_state_errors). */
static void set_aside_local_outbox(struct agent *a, int open_rc)
{
    char path[4096], stale[4104], qp[4112], qs[4120];
    snprintf(path, sizeof path, "%s/" LOCAL_OUTBOX_FILE, a->cfg.spool_dir);
    snprintf(stale, sizeof stale, "%s.stale", path);
    struct stat st, old;
    if (open_rc == -EBUSY || lstat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size <= VG_OUTBOX_HEADER_BYTES)
        return;
    vg_log_quote(qp, sizeof qp, path);
    vg_log_quote(qs, sizeof qs, stale);
    long long replaced = lstat(stale, &old) == 0 ? (long long)old.st_size : -1;
    if (rename(path, stale) != 0) {
        int e = errno;
        a->local_outbox_failed++;
        vg_error("local alerts: the outbox that cannot be used cannot be set aside either: a "
                 "later start that opens it replays its notifications, after the newer ones this "
                 "start sends of the same alerts",
                 "file=%s bytes=%lld reason=\"%s\"", qp, (long long)st.st_size, strerror(e));
        return;
    }
    /* Durable, or a crash could bring the file back for the next start to replay. */
    int dfd = open(a->cfg.spool_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    char rep[48] = "";
    if (replaced >= 0)
        snprintf(rep, sizeof rep, " replaced_bytes=%lld", replaced);
    vg_warn("local alerts: the outbox that cannot be used is set aside, its notifications not "
            "delivered: a later start would replay them after the newer ones of the same alerts "
            "this start sends (the file may be removed)",
            "file=%s to=%s bytes=%lld%s", qp, qs, (long long)st.st_size, rep);
}

static int open_local(struct agent *a, char *err, size_t errlen)
{
    const struct agent_cfg *c = &a->cfg;
    if (strcmp(c->local_detector, "off") == 0) {
        note_unread_local_alerts(a, a->spool ? "guard_off" : "guard_off_spool_off");
        return 0;
    }
    if (!a->spool)
        note_unread_local_alerts(a, "spool_off");
    /* As `user`, as --check-config and a reload read it. A file missing or unreadable is the
     * config's fault (exit 78). */
    if (agent_read_url_file(&a->cfg, err, errlen) < 0)
        return -EINVAL;
    int has_url = c->local_webhook_url && *c->local_webhook_url;
    if (!has_url && a->spool) /* local-alerts is read, the outbox is not */
        note_unread_local_outbox(a, "no_webhook");
    if (has_url) {
        char aerr[VG_ERRLEN], kb[1024];
        /* With a spool, the queue is kept in spool.dir (local.outbox, beside local-alerts, in
         * the directory the agent holds the lock of): a notification queued but not delivered
         * when the agent stops or crashes is sent at the next start. Without it, a firing
         * dropped at a stop was taken over as sent and never sent, and a resolve dropped at a
         * stop was already gone from local-alerts: the receiver kept the alert firing for good. */
        struct vg_receiver_cfg rc =
            local_receiver_cfg(c, kb, sizeof kb, a->spool ? c->spool_dir : NULL);
        enum vg_log_level lvl = VG_LOG_INFO;
        vg_log_level_parse(c->log_level, &lvl);
        if (vg_local_http_load(&a->lhttp, aerr, sizeof aerr) < 0)
            return vg_err(err, errlen, -ENOENT, "local.webhook.url needs %s", aerr);
        a->lhttp->log_init("agent", lvl, strcmp(c->log_format, "json") == 0);
        /* The module logs with a secret registry of its own. */
        if (c->local_webhook_url_file && *c->local_webhook_url_file &&
            a->lhttp->register_url(c->local_webhook_url) < 0)
            return vg_err(err, errlen, -ENOMEM, "local.webhook.url_file: cannot keep the URL");
        /* In the words of --check-config (check_local_webhook): the key is in them, for
         * vg_config_locate. */
        int crc = a->lhttp->create(&rc, &a->lact, &a->linst, aerr, sizeof aerr);
        if (crc < 0 && rc.outbox_dir) {
            /* The outbox cannot be used (an I/O error, a lock held): alerts are still worth
             * sending, from memory only; a refusal of local.webhook.* is refused again below. */
            char q[VG_ERRLEN + 8], e2[VG_ERRLEN];
            rc.outbox_dir = NULL;
            if (a->lhttp->create(&rc, &a->lact, &a->linst, e2, sizeof e2) == 0) {
                a->local_outbox_failed = 1;
                vg_error("local alerts: the outbox in spool.dir cannot be used, undelivered "
                         "local notifications are lost at a stop",
                         "reason=%s", vg_log_quote(q, sizeof q, aerr));
                set_aside_local_outbox(a, crc);
                crc = 0;
            }
        }
        /* A refusal of local.webhook.* (-EINVAL, a file it names missing or unreadable) is a
         * config error (exit 78); a receiver that cannot start (no memory, libcurl, a thread at
         * the limit) is not, and a restart may well succeed (exit 1). */
        if (crc == -ENOMEM || crc == -EAGAIN || crc == -EIO)
            return vg_err(err, errlen, crc, "%s", aerr);
        if (crc < 0)
            return vg_err(err, errlen, -EINVAL, "%s", aerr);
    }
    struct vg_local_cfg lc = local_cfg(c);
    /* The sent alerts are kept beside the spool, in the directory the agent holds the lock of:
     * two agents pointed at one spool.dir never write each other's. Without a spool they are
     * not kept (state=none below), and a restart forgets them. */
    char state[4096] = "";
    if (a->spool)
        snprintf(state, sizeof state, "%s/" VG_LOCAL_STATE_FILE, c->spool_dir);
    lc.state_path = state;
    int rc = vg_local_new(&a->local, &lc, a->host, has_url ? local_send : NULL, a, err, errlen);
    if (rc < 0)
        return rc;
    if (has_url)
        vg_local_set_flush(a->local, local_flush, local_release);
    if (a->linst) {
        /* The firings the outbox replayed are delivered only for alerts local-alerts had (taken
         * over just now, so their resolves follow); the others are dropped, logged and counted
         * by the receiver (held firings dropped). */
        vg_local_each_sent(a->local, adopt_local_alert, a);
        if (a->lact->restored)
            a->lact->restored(a->linst, owns_every_host, NULL);
    }
    char q[VG_ERRLEN + 8], q2[4104];
    vg_info("local guard on",
            "detector=%s series=%s when=%s threshold=%g webhook=%s state=%s outbox=%s",
            c->local_detector, vg_log_quote(q, sizeof q, *c->local_series ? c->local_series : "*"),
            c->local_when, c->local_threshold, has_url ? "yes" : "none",
            *state ? vg_log_quote(q2, sizeof q2, state) : "none",
            has_url && a->spool && !a->local_outbox_failed ? "on" : "none");
    return 0;
}

/* Messages Kafka has not acknowledged yet: librdkafka's queue, and the spool while it holds any.
 * While a read error holds the spool's reader (retried for up to 31 s, longer than the default
 * local.outage_after) and librdkafka holds nothing, nothing reaches Kafka: whether it is down
 * cannot be told, and the guard is told so (counted as waiting, it declared an outage while Kafka
 * was fine; counted as nothing waiting, it ended a real one and never declared one). */
static uint64_t waiting(struct agent *a)
{
    int q = rd_kafka_outq_len(a->rk);
    int spool = a->spool && vg_spool_busy(a->spool);
    if (spool && q <= 0 && vg_spool_read_held(a->spool))
        return VG_LOCAL_WAITING_UNKNOWN;
    return (uint64_t)(q > 0 ? q : 0) + (spool ? 1 : 0);
}

/* At exit, local notifications get a bounded time to be delivered, so that the last stats line
 * counts them; what is still queued after that is kept in local.outbox for the next start
 * (local_kept), or without a spool dropped, in the receiver's `webhook stopped` line and in the
 * last stats line's local_failed (the receiver is stopped first). The time runs
 * from stop_ms, the start of the stop: the receiver's thread delivers during the Kafka flush too,
 * and waiting 5 s more after a flush that took flush_timeout (an outage, just when local alerts are
 * sent) made the stop flush_timeout + 1 s + 5 s, close to the unit's TimeoutStopSec. */
static void drain_local(struct agent *a, int64_t stop_ms)
{
    if (!a->linst)
        return;
    int64_t drain = a->cfg.flush_timeout_ms < 5000 ? a->cfg.flush_timeout_ms : 5000;
    int64_t deadline = stop_ms + drain;
    struct vg_action_stats as;
    for (a->lact->stats(a->linst, &as); as.queued && vg_mono_ms() < deadline;
         a->lact->stats(a->linst, &as))
        vg_sleep_ms(20, NULL);
}

static void close_local(struct agent *a)
{
    if (a->linst) {
        a->lact->destroy(a->linst, 0);
        a->linst = NULL;
    }
    vg_local_free(a->local);
    a->local = NULL;
}

static int run_once(struct agent *a)
{
    struct vg_wire_msg msg;
    vg_wire_msg_init(&msg);
    struct slowest slow;
    collect_tick(a, &msg, vg_now_ms(), &slow);
    /* Rates need a second reading; a shorter gap than the interval keeps --once quick. */
    vg_sleep_ms(a->cfg.interval_ms < 1000 ? a->cfg.interval_ms : 1000, &g_stop);
    collect_tick(a, &msg, vg_now_ms(), &slow);
    char *buf, eerr[VG_ERRLEN];
    size_t len;
    int rc = vg_wire_encode(&msg, &buf, &len, eerr, sizeof(eerr));
    vg_wire_msg_free(&msg);
    if (rc < 0) {
        fprintf(stderr, "vigil-agent: %s\n", eerr);
        return 1;
    }
    if (len > a->max_bytes) /* printed all the same: --once is for looking at it */
        count_too_large(a, "once=1", len);
    printf("%s\n", buf);
    free(buf);
    return 0;
}

/* SIGHUP: the config file is read again. Settings the loop reads each tick take effect at once;
 * every other key was used at start (collectors, Kafka, spool, eBPF, the local guard, the user)
 * and is reported, by name, as needing a restart: the eBPF collectors were loaded with
 * privileges the agent no longer has, and the producer cannot take new properties. A config that
 * does not load is logged and the running one stays. */
static void reload(struct agent *a)
{
    /* What this function applies; vg_config_diff names the rest. */
    static const char *const applied[] = {"interval", "stats_interval", "labels", "log.level",
                                          NULL};
    struct agent_cfg next = {0};
    /* Room for a config error that names its path three times (vg_runas_config_error). */
    char err[1024], q[sizeof err + 8];
    enum vg_log_level lvl;
    /* The secrets the check registers for log scrubbing are not applied (only the keys above
     * are): forgotten once the reload is logged, so that a secret rotated at each reload does
     * not fill the registry (64 values) and make every later reload fail. */
    size_t secrets = vg_secret_mark();
    int rc = vg_config_load_all(&agent_config_table, &next, a->config_path, a->sets, a->n_sets, err,
                                sizeof(err));
    int loaded = rc == 0; /* a later error is about a value: where it was set is looked up */
    /* Not root any more (a start as root became `user`, or the unit's User=): a config only root
     * may read, which the start read as root, cannot be read now; said as --check-config run as
     * root says it (vg_runas_check_config), with the fix, not as a bare "Permission denied". */
    struct passwd *pw;
    if (rc == -EACCES && geteuid() != 0 && strstr(err, ": cannot open config: ") &&
        (pw = getpwuid(geteuid()))) {
        char group[64];
        rc = vg_runas_config_error(a->config_path, pw->pw_name,
                                   vg_runas_group_of_pw(pw, group, sizeof group),
                                   "the user the agent runs as", EACCES, err, sizeof err);
    }
    if (!rc && (rc = agent_config_check(&next, err, sizeof(err))) == 0 &&
        (rc = agent_read_url_file(&next, err, sizeof(err))) == 0) {
        /* What the next start would refuse (exit 78, not restarted by the unit) is refused here,
         * as --check-config refuses it: a reload that said "reloaded" told the operator the file
         * was good. A copy of the agent, so that nothing running is touched. */
        struct agent *t = calloc(1, sizeof *t);
        if (!t) {
            rc = vg_err(err, sizeof err, -ENOMEM, "out of memory");
        } else {
            t->cfg = next;
            resolve_host(t);
            rc = check_config(t, 0, 1, err, sizeof(err));
            free(t); /* its cfg is next's, freed below */
        }
    }
    if (rc < 0 && loaded)
        vg_config_locate(err, sizeof(err));
    if (rc) {
        vg_error("reload failed, running config kept", "reason=%s",
                 vg_log_quote(q, sizeof(q), err));
        vg_config_free(&agent_config_table, &next);
        vg_secret_forget_since(secrets);
        return;
    }
    vg_log_level_parse(next.log_level, &lvl); /* one of its choices, VG_LOG_LEVEL_CHOICES */
    agent_config_warn(&next);
    /* Compared with what runs, so a key changed back is no longer named. Values are never
     * logged: a rotated kafka.sasl.password shows as its name. */
    char changed[1024], cq[sizeof changed + 8];
    size_t n =
        vg_config_diff(&agent_config_table, &a->cfg, &next, applied, changed, sizeof changed);
    if (n)
        vg_warn("reload: changed settings need a restart to apply", "count=%zu keys=%s", n,
                vg_log_quote(cq, sizeof cq, changed));
    /* Swap in the per-tick settings, keep the rest as running. */
    int64_t t = a->cfg.interval_ms;
    a->cfg.interval_ms = next.interval_ms;
    next.interval_ms = t;
    t = a->cfg.stats_interval_ms;
    a->cfg.stats_interval_ms = next.stats_interval_ms;
    next.stats_interval_ms = t;
    struct vg_kvlist labels = a->cfg.labels;
    a->cfg.labels = next.labels;
    next.labels = labels;
    char *ll = a->cfg.log_level;
    a->cfg.log_level = next.log_level;
    next.log_level = ll;
    vg_log_init("agent", lvl, strcmp(a->cfg.log_format, "json") == 0);
    if (a->lhttp)
        a->lhttp->log_init("agent", lvl, strcmp(a->cfg.log_format, "json") == 0);
    vg_config_free(&agent_config_table, &next);
    vg_info("reloaded", "interval_ms=%lld labels=%zu log_level=%s", (long long)a->cfg.interval_ms,
            a->cfg.labels.n, a->cfg.log_level);
    vg_secret_forget_since(secrets);
}

static int run_loop(struct agent *a)
{
    sigset_t block, wait_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, &wait_mask);
    sigdelset(&wait_mask, SIGTERM);
    sigdelset(&wait_mask, SIGINT);
    sigdelset(&wait_mask, SIGHUP);
    struct vg_wire_msg msg;
    vg_wire_msg_init(&msg);
    int64_t start = vg_mono_ms(), next = start, next_stats = start + a->cfg.stats_interval_ms;
    vg_info("started", "host=%s boot=%s interval_ms=%lld topic=%s collectors=%zu", a->host, a->boot,
            (long long)a->cfg.interval_ms, a->cfg.topic, a->n_coll);
    vg_notify_init();
    watch_start(&a->watch);
    vg_notify_ready("collecting");
    /* The first pet as the loop begins, not after its first tick: the collector watch counts the
     * first tick's limit from it, as every later tick's from the pet before it. */
    vg_notify_watchdog(vg_mono_ms());
    while (!g_stop) {
        int64_t due = next; /* this tick's grid point */
        int64_t began = vg_mono_ms();
        struct tick_phases ph;
        collect_tick(a, &msg, vg_now_ms(), &ph.coll);
        a->ticks++;
        int64_t t = vg_mono_ms();
        ph.collect_ms = t - began;
        /* Scored before the message is queued, so `waiting` is what Kafka has not taken from
         * earlier ticks. */
        if (a->local)
            vg_local_tick(a->local, &msg, t, waiting(a));
        int64_t t2 = vg_mono_ms();
        ph.local_ms = t2 - t;
        produce(a, &msg);
        /* Ticks stay on a fixed grid; after a stall (suspend, overload) skip missed ticks
         * instead of bursting to catch up. */
        next += a->cfg.interval_ms;
        int64_t now = vg_mono_ms();
        ph.send_ms = now - t2;
        if (next <= now) {
            int64_t to = now + a->cfg.interval_ms - (now - start) % a->cfg.interval_ms;
            note_late(a, (uint64_t)((to - next) / a->cfg.interval_ms), now - began, began - due,
                      &ph);
            next = to;
        }
        /* A SIGHUP ends the wait only to reload; the tick still comes at its grid point, or
         * each SIGHUP would send a message of its own, within the interval. */
        for (wait_until(a, next, &wait_mask); g_reload && !g_stop;
             wait_until(a, next, &wait_mask)) {
            g_reload = 0;
            int64_t was = a->cfg.interval_ms, was_stats = a->cfg.stats_interval_ms;
            reload(a);
            /* A shorter stats_interval applies from now, not after the old one has run out. */
            if (a->cfg.stats_interval_ms != was_stats &&
                next_stats > vg_mono_ms() + a->cfg.stats_interval_ms)
                next_stats = vg_mono_ms() + a->cfg.stats_interval_ms;
            if (a->cfg.interval_ms != was) {
                /* A new grid from the last tick: the next one a new interval after it (an hour
                 * must not run out first), or the first grid point still ahead. */
                start = due;
                next = due + a->cfg.interval_ms;
                now = vg_mono_ms();
                if (next <= now)
                    next = now + a->cfg.interval_ms - (now - start) % a->cfg.interval_ms;
            }
        }
        now = vg_mono_ms();
        if (now >= next_stats) {
            log_stats(a);
            struct vg_local_stats ls = {0};
            if (a->local)
                vg_local_get_stats(a->local, &ls);
            vg_notify_status(
                "%llu ticks, %llu delivered, %llu failed, %d queued, %llu local alerts firing",
                (unsigned long long)a->ticks, (unsigned long long)a->delivered,
                (unsigned long long)(a->delivery_failed + a->produce_failed + a->too_large),
                rd_kafka_outq_len(a->rk), (unsigned long long)ls.firing);
            next_stats = now + a->cfg.stats_interval_ms;
        }
    }
    vg_wire_msg_free(&msg);
    watch_stop(&a->watch);
    vg_notify_stopping();
    vg_info("stopping, flushing", "queued=%d timeout_ms=%lld", rd_kafka_outq_len(a->rk),
            (long long)a->cfg.flush_timeout_ms);
    a->stopping = 1; /* nothing more is fed from the spool */
    int64_t stop_ms = vg_mono_ms();
    rd_kafka_flush(a->rk, (int)a->cfg.flush_timeout_ms);
    int left = rd_kafka_outq_len(a->rk);
    if (left > 0) {
        /* Purged messages come back through dr_cb: kept in the spool when there is one, else
         * counted as delivery_failed there. */
        uint64_t failed = a->delivery_failed;
        rd_kafka_purge(a->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(a->rk, 1000);
        if (a->spool)
            vg_info("undelivered messages kept in the spool for the next start",
                    "count=%llu dir=%s", (unsigned long long)a->kept_at_exit, a->cfg.spool_dir);
        if (a->delivery_failed > failed)
            vg_error("messages not delivered at exit, lost", "count=%llu spool=%s",
                     (unsigned long long)(a->delivery_failed - failed), a->spool ? "on" : "off");
        left = rd_kafka_outq_len(a->rk);
    }
    if (left > 0)
        vg_error("messages still in librdkafka at exit, lost", "count=%d", left);
    drain_local(a, stop_ms);
    /* The receiver stopped before the last stats line, so that what it drops then is counted
     * in local_failed there (README), not only in its own `webhook stopped` line. */
    if (a->linst && a->lact->stop)
        a->lact->stop(a->linst, 0);
    /* The series' latest detector states for the next start to go on from; before the last
     * stats line, which then counts a failure to write them. */
    vg_local_save(a->local);
    log_stats(a);
    close_local(a);
    return 0;
}

static void close_all(struct agent *a)
{
    close_local(a);
    for (size_t i = 0; i < a->n_coll; i++)
        a->coll[i].c->fini(a->coll[i].state);
    if (a->rkt)
        rd_kafka_topic_destroy(a->rkt);
    if (a->rk)
        rd_kafka_destroy(a->rk);
    if (a->conf_tmpl)
        rd_kafka_conf_destroy(a->conf_tmpl);
    free(a->held_buf); /* its record is still in the spool's file, sent at the next start */
    vg_spool_close(a->spool);
    for (int i = 0; i < 2; i++)
        if (a->wake_fd[i] >= 0)
            close(a->wake_fd[i]);
    vg_config_free(&agent_config_table, &a->cfg);
}

/* How long a start waits for a file its kafka: properties name: config management may write a
 * CA bundle or a secret a moment after the agent starts. Below systemd's start timeout (90 s). */
#define KAFKA_FILE_WAIT_MS 60000

/* A path the kafka: properties name that librdkafka does not read with them (a templated config's
 * CA path on a plaintext cluster) is not waited for; missing, it is worth a line, as it would be
 * once the protocol is switched. */
static void warn_unused_kafka_file(const struct agent_cfg *c)
{
    char why[VG_ERRLEN], q[VG_ERRLEN + 8];
    if (vg_kafka_unused_missing_file(&c->kafka, why, sizeof why) == -ENOENT)
        vg_warn("a file the Kafka config names is missing, but not used: not waiting for it",
                "reason=%s", vg_log_quote(q, sizeof q, why));
}

/* Memory settings that keep a small daemon small; both measured in bench/agent-overhead. */
static void trim_footprint(const struct agent_cfg *cfg)
{
    /* glibc raises its mmap threshold after each large free, so later large buffers (a
     * compression batch, a map snapshot) come from the heap and stay resident after release. A
     * fixed threshold hands them back to the kernel. 64 KiB rather than 128: librdkafka's lz4
     * compression takes a 64 KiB block buffer and an output buffer of about that size for every
     * message, on the broker thread; below the threshold they stayed in that thread's malloc
     * arena between messages (208 KiB of it for 16 KiB in use, 0.1 MiB of the agent's RSS).
     * Mapped and unmapped for each message instead, they cost two mmap and two munmap calls a
     * tick (strace: 40 calls, 0.3 ms in 10 s). */
    mallopt(M_MMAP_THRESHOLD, 64 * 1024);
    /* librdkafka initialises Cyrus SASL in every client, which loads every installed SASL
     * plugin (and Kerberos with GSSAPI's). Only GSSAPI uses Cyrus; PLAIN, SCRAM and OAUTHBEARER
     * are built in. An empty plugin path skips the loading unless the user set one. */
    int gssapi = 0;
    for (size_t i = 0; i < cfg->kafka.n; i++)
        if (strncmp(cfg->kafka.items[i].key, "sasl.mechanism", 14) == 0 &&
            strstr(cfg->kafka.items[i].value, "GSSAPI"))
            gssapi = 1;
    if (!gssapi)
        setenv("SASL_PATH", "", 0);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"once", no_argument, NULL, 'o'},
        {"check-config", no_argument, NULL, 'k'},
        {"list-collectors", no_argument, NULL, 'l'},
        {"metrics-doc", no_argument, NULL, 'm'},
        {"config-doc", no_argument, NULL, 'd'},
        {"log-format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    static char log_format_set[64];
    char *sets[MAX_SETS];
    size_t n_sets = 0;
    int once = 0, check = 0, opt;
    while ((opt = getopt_long(argc, argv, "c:s:hV", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 's':
            if (n_sets == MAX_SETS) {
                fprintf(stderr, "vigil-agent: too many --set options\n");
                return 2;
            }
            sets[n_sets++] = optarg;
            break;
        case 'o':
            once = 1;
            break;
        case 'f':
            /* The same as --set log.format=..., kept as a flag because operators expect one. */
            if (n_sets == MAX_SETS) {
                fprintf(stderr, "vigil-agent: too many --set options\n");
                return 2;
            }
            snprintf(log_format_set, sizeof(log_format_set), "log.format=%s", optarg);
            sets[n_sets++] = log_format_set;
            break;
        case 'k':
            check = 1;
            break;
        case 'l':
            for (size_t i = 0; vg_collectors[i]; i++)
                printf("%-10s %s\n", vg_collectors[i]->name, vg_collectors[i]->help);
            return 0;
        case 'm':
            return vg_collectors_write_markdown(stdout) < 0;
        case 'd':
            vg_config_write_markdown(&agent_config_table, "vigil-agent", stdout);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("vigil-agent %s\n", VIGIL_VERSION);
            return 0;
        default: /* getopt_long said what was wrong */
            return usage_error();
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vigil-agent: unexpected argument '%s'\n", argv[optind]);
        return usage_error();
    }

    /* Not dumpable before any secret is read (docs/security.md); core_dumps sets it back. */
    vg_set_dumpable(0);
    struct agent a = {0};
    a.wake_fd[0] = a.wake_fd[1] = -1;
    char err[VG_ERRLEN];
    int rc =
        vg_config_load_all(&agent_config_table, &a.cfg, config, sets, n_sets, err, sizeof(err));
    if (!rc && a.cfg.core_dumps)
        vg_set_dumpable(1);
    enum vg_log_level lvl = VG_LOG_INFO;
    if (!rc)
        rc = agent_config_check(&a.cfg, err, sizeof(err));
    if (!rc) {
        vg_log_level_parse(a.cfg.log_level, &lvl); /* one of its choices, VG_LOG_LEVEL_CHOICES */
        resolve_host(&a);
    }
    /* Started as root, the agent becomes `user`: a secret file readable by that user's group is
     * the packages' setup (root:vigil 0640), though read before the drop. */
    g_started_root = geteuid() == 0;
    struct passwd *pw;
    if (!rc && geteuid() == 0 && a.cfg.user && *a.cfg.user && (pw = getpwnam(a.cfg.user)))
        vg_secret_set_group(pw->pw_gid);
    /* --check-config makes the producer the start makes, and destroys it. A start does not:
     * librdkafka numbers a process's clients, and a throwaway one first made the real producer
     * `producer-2` in its log lines and statistics; the real one's refusal is the config error
     * there (open_producer). Not for --once, which makes no producer (once_budget). The URL
     * file is read first, as the caller (root in a check run as root), for the dump; check_start
     * opens it again as `user`. */
    a.config_path = config; /* check_start opens it as `user` */
    if (!rc && check)
        rc = agent_read_url_file(&a.cfg, err, sizeof(err));
    if (!rc && check)
        rc = check_config(&a, once, 0, err, sizeof(err));
    if (rc) {
        vg_config_locate(err, sizeof(err)); /* a value checked after loading: where it was set */
        fprintf(stderr, "vigil-agent: config error: %s\n", err);
        vg_config_free(&agent_config_table, &a.cfg);
        return check ? 1 : EX_CONFIG; /* not restarted by its unit (RestartPreventExitStatus) */
    }
    if (check) {
        agent_config_warn(&a.cfg);
        if (!once)
            warn_unused_kafka_file(&a.cfg);
        vg_config_dump(&agent_config_table, &a.cfg, stdout);
        printf("# config OK (host resolves to '%s')\n", a.host);
        vg_config_free(&agent_config_table, &a.cfg);
        return 0;
    }
    vg_log_init("agent", lvl, strcmp(a.cfg.log_format, "json") == 0);
    agent_config_warn(&a.cfg);
    trim_footprint(&a.cfg);
    make_boot_id(a.boot, sizeof(a.boot));

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    a.sets = sets;
    a.n_sets = n_sets;
    signal(SIGPIPE, SIG_IGN);
    if (!once)
        warn_unused_kafka_file(&a.cfg);
    if (!once && (rc = vg_kafka_wait_files(&a.cfg.kafka, KAFKA_FILE_WAIT_MS, &g_stop, err,
                                           sizeof(err))) < 0) {
        fprintf(stderr, "vigil-agent: config error: %s\n", err);
        vg_config_free(&agent_config_table, &a.cfg);
        return EX_CONFIG;
    }
    if (g_stop) { /* stopped while waiting */
        vg_config_free(&agent_config_table, &a.cfg);
        return 0;
    }

    /* The producer's config before the collectors: its message.max.bytes bounds the messages
     * they fill. */
    rd_kafka_conf_t *conf = NULL;
    if (once)
        rc = once_budget(&a, err, sizeof(err));
    else if ((rc = producer_conf(&a, &conf, 0, NULL, err, sizeof(err))) == 0)
        rc = message_budget(&a, conf, err, sizeof(err));
    int config_error = rc < 0 && !once; /* the Kafka properties, as --check-config refuses them */
    if (rc == 0)
        rc = open_collectors(&a, 0, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "vigil-agent: %s%s\n", config_error ? "config error: " : "", err);
        if (conf)
            rd_kafka_conf_destroy(conf);
        close_all(&a);
        return config_error ? EX_CONFIG : 1;
    }
    if (once) {
        rc = run_once(&a);
        /* --once keeps root, but what it added to the BTF cache (or the directory it created)
         * is handed to user, as the daemon does when it drops privileges; a user that does not
         * exist is the daemon's error to report, not this one's. */
        const char *dirs[] = {a.cfg.bpf_btf_cache ? a.cfg.bpf_btf_cache : "", NULL};
        err[0] = '\0';
        if (vg_privdrop_give_dirs(a.cfg.user, dirs, err, sizeof(err)) < 0 && err[0])
            fprintf(stderr, "vigil-agent: warning: %s\n", err);
        close_all(&a);
        return rc;
    }
    /* A user not on this host is a config error, in --check-config's words (check_start). */
    struct passwd *upw;
    if ((rc = check_user(&a.cfg, &upw, err, sizeof(err))) < 0) {
        vg_config_locate(err, sizeof(err));
        fprintf(stderr, "vigil-agent: config error: %s\n", err);
        rd_kafka_conf_destroy(conf);
        close_all(&a);
        return EX_CONFIG;
    }
    if ((rc = drop_privileges(&a, err, sizeof(err))) < 0) {
        fprintf(stderr, "vigil-agent: %s\n", err);
        rd_kafka_conf_destroy(conf);
        close_all(&a);
        return 1;
    }
    /* Before the producer: whether the spool opened decides how long messages wait in memory. */
    if (a.cfg.spool_dir && *a.cfg.spool_dir) {
        struct scan_progress sp = {.began = vg_mono_ms()};
        struct vg_spool_cfg sc = {.dir = a.cfg.spool_dir,
                                  .max_bytes = (uint64_t)a.cfg.spool_max_bytes,
                                  .max_age_ms = a.cfg.spool_max_age_ms,
                                  .progress = scan_progress,
                                  .progress_ud = &sp,
                                  .stop = &g_stop};
        char q[VG_ERRLEN + 8];
        /* A read-only file system is most often the packaged unit's ProtectSystem=strict, under
         * which only /var/lib/vigil is writable: a spool.dir moved elsewhere needs a drop-in. */
        int src = vg_spool_open(&a.spool, &sc, err, sizeof(err));
        if (src == -ECANCELED) {
            vg_info("stopped during the spool scan, it is read again at the next start",
                    "took_ms=%lld reason=%s", (long long)(vg_mono_ms() - sp.began),
                    vg_log_quote(q, sizeof(q), err));
            rd_kafka_conf_destroy(conf);
            close_all(&a);
            flush_log(&a);
            return 0;
        }
        if (src < 0)
            vg_warn("spool off: messages Kafka has not taken within kafka.message.timeout.ms "
                    "(default 5 min) will be lost, counted as delivery_failed",
                    "reason=%s%s", vg_log_quote(q, sizeof(q), err),
                    src == -EROFS ? " hint=\"read-only here: under the packaged unit a spool.dir "
                                    "outside /var/lib/vigil needs ReadWritePaths= in a drop-in "
                                    "(docs/install.md)\""
                                  : "");
        if (sp.sent)
            vg_info("spool: read at start", "took_ms=%lld", (long long)(vg_mono_ms() - sp.began));
    }
    if ((rc = open_producer(&a, conf, err, sizeof(err))) < 0) {
        /* -EINVAL: librdkafka refused the config, which a restart would only repeat. */
        fprintf(stderr, "vigil-agent: %s%s\n", rc == -EINVAL ? "config error: " : "", err);
        close_all(&a);
        return rc == -EINVAL ? EX_CONFIG : 1;
    }
    if ((rc = open_local(&a, err, sizeof(err))) < 0) {
        /* -EINVAL: local.series or local.webhook.* refused, as --check-config refuses them. */
        if (rc == -EINVAL)
            vg_config_locate(err, sizeof(err));
        fprintf(stderr, "vigil-agent: %s%s\n", rc == -EINVAL ? "config error: " : "", err);
        close_all(&a);
        return rc == -EINVAL ? EX_CONFIG : 1;
    }
    rc = run_loop(&a);
    close_all(&a);
    flush_log(&a); /* what the shutdown itself held back */
    return rc;
}
