/* vigilctl fire-test RECEIVER: sends one test alert (and its resolve) through a receiver
 * configured in the analyzer's config, with the analyzer's own action code, and says whether
 * the receiver took it. */
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_engine.h"
#include "vg_action.h"
#include "vg_format.h"
#include "vg_config.h"
#include "vg_log.h"
#include "vg_secret.h"
#include "vg_urlfile.h"
#include "vg_util.h"
#include "vigilctl.h"

#define DEFAULT_CONFIG VG_CTL_ANALYZER_CONFIG

static void help(FILE *f)
{
    vg_ctl_usage(f, "fire-test");
    fprintf(f, "\nRECEIVER is webhook, alertmanager, pagerduty or slack, configured in the\n"
               "analyzer's config (webhook.url, alertmanager.url, pagerduty.routing_key_file,\n"
               "slack.url, or the URL's file: webhook.url_file, ...) with its secret files,\n"
               "timeouts and rate limits. A test alert\n"
               "(alertname VigilFireTest, series vigil.fire_test, severity info, label\n"
               "vigil_test=true) is sent firing, then resolved, exactly as the analyzer would\n"
               "send it, but never through the outbox. Failed attempts are logged on stderr with\n"
               "the HTTP status or network error and the receiver's answer.\n"
               "\n"
               "Options:\n"
               "  -c, --config PATH     the analyzer's config (default " DEFAULT_CONFIG ";\n"
               "                        '' for built-in defaults and --set only; replay and\n"
               "                        report --input default to the built-in ones)\n"
               "  -s, --set KEY=VALUE   override a config key, e.g. --set webhook.url=http://...\n"
               "      --host NAME       host of the test alert (default: this host's name)\n"
               "      --attempts N      delivery attempts per notification (default 1)\n"
               "      --no-resolve      send only the firing notification. The test alert then\n"
               "                        stays open: in PagerDuty until it is resolved there\n"
               "                        (PagerDuty incidents do not expire, unless the service\n"
               "                        auto-resolves), in Alertmanager until its endsAt\n"
               "                        (4 x alertmanager.resend_interval after it was sent).\n"
               "                        The dedup key (PagerDuty), or the labels and endsAt\n"
               "                        (Alertmanager), are printed to find and resolve it.\n"
               "  -h, --help            this help\n"
               "\n"
               "Exit status: 0 the receiver answered 2xx to each notification, 1 it did not\n"
               "(refused, unreachable or timed out), 2 usage or config error.\n");
}

struct want {
    const char *url, *key_file, *secret_file;
    double rate;
    int hide_path; /* the url's path is the credential (Slack): shown as scheme://host/... */
};

static int receiver_of(const struct analyzer_cfg *c, const char *type, struct want *w)
{
    memset(w, 0, sizeof(*w));
    if (strcmp(type, "webhook") == 0)
        *w = (struct want){c->webhook_url, NULL, c->webhook_secret_file, c->webhook_rate, 0};
    else if (strcmp(type, "alertmanager") == 0)
        *w = (struct want){c->alertmanager_url, NULL, NULL, c->alertmanager_rate, 0};
    else if (strcmp(type, "pagerduty") == 0)
        *w = (struct want){c->pagerduty_routing_key_file ? c->pagerduty_url : NULL,
                           c->pagerduty_routing_key_file, NULL, c->pagerduty_rate, 0};
    else if (strcmp(type, "slack") == 0)
        *w = (struct want){c->slack_url, NULL, NULL, c->slack_rate, 1};
    else
        return -1;
    return 0;
}

static const char *needs(const char *type)
{
    return strcmp(type, "webhook") == 0        ? "webhook.url (or webhook.url_file)"
           : strcmp(type, "alertmanager") == 0 ? "alertmanager.url (or alertmanager.url_file)"
           : strcmp(type, "pagerduty") == 0    ? "pagerduty.routing_key_file"
                                               : "slack.url (or slack.url_file)";
}

/* Waits until the action has settled every notification submitted so far (delivered or
 * dropped) or the deadline passes. */
static void wait_settled(const struct vg_action *act, void *inst, uint64_t submitted,
                         int64_t deadline, struct vg_action_stats *st)
{
    for (;;) {
        act->stats(inst, st);
        if (st->delivered + st->dropped >= submitted || vg_mono_ms() >= deadline)
            return;
        vg_sleep_ms(20, NULL);
    }
}

/* After --no-resolve: what stays open where, and how to find it. A PagerDuty incident never
 * expires by itself (only a service's auto-resolve, if set, closes it), so its dedup key is what
 * the user needs to resolve it; an Alertmanager alert ends at its endsAt, and its labels are what
 * Alertmanager identifies it by (a later fire-test with the same --host and no --no-resolve
 * resolves it). */
static void print_left_open(const char *type, const struct vg_notification *n, int64_t resend_ms)
{
    if (strcmp(type, "pagerduty") == 0) {
        printf("pagerduty: no resolve sent (--no-resolve): the test incident stays open until it "
               "is resolved in PagerDuty (incidents do not expire, unless the service "
               "auto-resolves): dedup_key %s\n",
               n->fingerprint);
    } else if (strcmp(type, "alertmanager") == 0) {
        char ends[40];
        /* The receiver set endsAt when it sent the alert, a moment before now. */
        vg_fmt_rfc3339(vg_now_ms() + 4 * resend_ms, ends, sizeof(ends));
        printf("alertmanager: no resolve sent (--no-resolve): the test alert stays active until "
               "its endsAt, about %s (4 x alertmanager.resend_interval), unless resolved "
               "sooner (vigilctl fire-test --host %s alertmanager resolves it); labels "
               "alertname=\"%s\" host=\"%s\" series=\"%s\" severity=\"%s\" %s=\"%s\"\n",
               ends, n->host, n->alertname, n->host, n->series, n->severity, n->label_keys[0],
               n->label_values[0]);
    }
}

int vg_ctl_fire_test(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"host", required_argument, NULL, 'H'},
        {"attempts", required_argument, NULL, 'n'},
        {"no-resolve", no_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = DEFAULT_CONFIG, *host = NULL;
    char *sets[VG_CTL_MAX_SETS];
    size_t n_sets = 0;
    int attempts = 1, resolve = 1, opt;
    while ((opt = getopt_long(argc, argv, "c:s:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 's':
            if (vg_ctl_add_set("fire-test", sets, &n_sets, optarg) < 0)
                return 2;
            break;
        case 'H':
            host = optarg;
            break;
        case 'n': {
            char *end;
            long n = strtol(optarg, &end, 10);
            attempts = (end == optarg || *end || n < 1 || n > 100) ? 0 : (int)n;
            if (attempts == 0) {
                fprintf(stderr, "vigilctl fire-test: --attempts '%s': 1 to 100\n", optarg);
                return 2;
            }
            break;
        }
        case 'R':
            resolve = 0;
            break;
        case 'h':
            help(stdout);
            return 0;
        default:
            help(stderr);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "vigilctl fire-test: one RECEIVER expected: webhook, alertmanager, "
                        "pagerduty or slack\n");
        return 2;
    }
    const char *type = argv[optind];
    if (!*config)
        config = NULL; /* -c '': built-in defaults and --set only */
    vg_log_init("vigilctl", VG_LOG_INFO, 0);
    char err[VG_ERRLEN];
    struct analyzer_cfg cfg;
    int lrc = vg_ctl_load_config(&cfg, config, sets, n_sets, err, sizeof(err));
    /* Run as root (sudo), the secret files are judged against the daemon's group, as the
     * analyzer's check does: the packages' root:vigil 0640 drew a warning naming group vigil. */
    struct passwd *pw;
    if (lrc == 0 && geteuid() == 0 && cfg.user && *cfg.user && (pw = getpwnam(cfg.user)) &&
        pw->pw_uid != 0)
        vg_secret_set_group(pw->pw_gid);
    if (lrc < 0 || analyzer_read_url_files(&cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "vigilctl fire-test: config error: %s\n", err);
        vg_config_free(&analyzer_config_table, &cfg);
        return 2;
    }
    struct want w;
    if (receiver_of(&cfg, type, &w) < 0) {
        fprintf(stderr,
                "vigilctl fire-test: unknown receiver '%s' (webhook, alertmanager, "
                "pagerduty or slack)\n",
                type);
        vg_config_free(&analyzer_config_table, &cfg);
        return 2;
    }
    if (!w.url || !*w.url) {
        fprintf(stderr, "vigilctl fire-test: receiver %s is not configured in %s: set %s\n", type,
                config ? config : "the built-in defaults", needs(type));
        vg_config_free(&analyzer_config_table, &cfg);
        return 2;
    }
    /* A URL read from its *.url_file is a credential as a whole, as the analyzer logs it. */
    const char *url_file = strcmp(type, "webhook") == 0        ? cfg.webhook_url_file
                           : strcmp(type, "alertmanager") == 0 ? cfg.alertmanager_url_file
                           : strcmp(type, "slack") == 0        ? cfg.slack_url_file
                                                               : NULL;
    if (url_file && *url_file)
        w.hide_path = 1;
    /* Errors about a URL from a file name the file: "webhook.url: ..." sent the operator to an
     * inline key that is not set. */
    char key[64], file_key[64], kb[1024];
    snprintf(key, sizeof key, "%s.url", type);
    snprintf(file_key, sizeof file_key, "%s.url_file", type);
    struct vg_receiver_cfg rc = {
        .type = type,
        .url = w.url,
        .url_hide_path = w.hide_path,
        .url_key = vg_urlfile_key(key, file_key, url_file, kb, sizeof kb),
        .timeout_ms = cfg.webhook_timeout_ms,
        .connect_timeout_ms = cfg.webhook_connect_timeout_ms,
        .max_attempts = attempts,
        .backoff_initial_ms = cfg.webhook_backoff_initial_ms,
        .backoff_max_ms = cfg.webhook_backoff_max_ms,
        .secret_file = w.secret_file,
        .routing_key_file = w.key_file,
        .rate_per_s = w.rate,
        .generator_url = cfg.alertmanager_generator_url,
        .resend_interval_ms = cfg.alertmanager_resend_ms, /* endsAt, as the analyzer sends it */
        .allowed_urls = cfg.allowed_urls,
        .allow_plain_http = cfg.allow_plain_http,
        .tls_ca_file = cfg.tls_ca_file,
    };
    /* stdout ends up in terminals, tickets and CI logs: the url as the receiver's log lines show
     * it (docs/security.md), never its user:password, query or, for Slack, its path. */
    char shown[2048];
    if (vg_url_redact(w.url, w.hide_path, shown, sizeof(shown)) < 0)
        snprintf(shown, sizeof(shown), "the %s url (not shown)", type);
    const struct vg_action *act;
    void *inst;
    if (vg_action_create(&rc, &act, &inst, err, sizeof(err)) < 0) {
        fprintf(stderr, "vigilctl fire-test: %s receiver: %s\n", type, err);
        vg_config_free(&analyzer_config_table, &cfg);
        return 2;
    }
    char hn[256] = "";
    if (!host) {
        if (gethostname(hn, sizeof(hn) - 1) < 0 || !hn[0])
            snprintf(hn, sizeof(hn), "localhost");
        host = hn;
    }
    char fp[64], summary[512];
    snprintf(fp, sizeof(fp), "vigilfiretest%04x", (unsigned)getpid() & 0xffff);
    snprintf(summary, sizeof(summary),
             "Test alert from 'vigilctl fire-test %s' on %s: the %s receiver works; no action "
             "needed.",
             type, host, type);
    const char *lk[] = {"vigil_test"}, *lv[] = {"true"};
    int64_t now = vg_now_ms();
    struct vg_notification n = {
        .status = "firing",
        .alertname = "VigilFireTest",
        .host = host,
        .series = "vigil.fire_test",
        .fingerprint = fp,
        .severity = "info",
        .score = 1,
        .value = 1,
        .threshold = cfg.alert_threshold,
        .starts_at_ms = now,
        .event_ts_ms = now,
        .accepted_ms = now,
        .label_keys = lk,
        .label_values = lv,
        .n_labels = 1,
        .summary = summary,
    };
    /* Each notification may take every attempt at the full timeout plus the backoff between. */
    int64_t budget =
        (int64_t)attempts * (cfg.webhook_timeout_ms + cfg.webhook_backoff_max_ms) + 2000;
    struct vg_action_stats st = {0};
    uint64_t submitted = 0;
    int ok = 1;
    const char *steps[] = {"firing", "resolved"};
    for (int i = 0; i < (resolve ? 2 : 1) && ok; i++) {
        n.status = steps[i];
        if (i == 1) {
            n.ends_at_ms = vg_now_ms();
            n.event_ts_ms = n.ends_at_ms;
            n.accepted_ms = n.ends_at_ms;
        }
        int64_t t0 = vg_mono_ms();
        if (act->submit(inst, &n) < 0) {
            fprintf(stderr, "vigilctl fire-test: could not queue the notification\n");
            ok = 0;
            break;
        }
        submitted++;
        uint64_t before = st.delivered;
        wait_settled(act, inst, submitted, vg_mono_ms() + budget, &st);
        if (st.delivered > before) {
            printf("%s: %s test notification delivered to %s (HTTP 2xx) in %lld ms\n", type,
                   steps[i], shown, (long long)(vg_mono_ms() - t0));
        } else {
            /* A URL to fix is in its file, when it came from one. */
            char from[1200] = "";
            if (url_file && *url_file)
                snprintf(from, sizeof from, "; the URL is read from %s.url_file %s", type,
                         url_file);
            printf("%s: %s test notification NOT delivered to %s: %s (see the log lines "
                   "above%s)\n",
                   type, steps[i], shown,
                   st.delivered + st.dropped >= submitted ? "refused or failed"
                                                          : "no answer in time",
                   from);
            ok = 0;
        }
    }
    act->destroy(inst, 0);
    if (ok && !resolve)
        print_left_open(type, &n, cfg.alertmanager_resend_ms);
    vg_config_free(&analyzer_config_table, &cfg);
    return ok ? 0 : 1;
}
