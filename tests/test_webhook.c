/* The webhook action end to end: a real vigil-test-receiver process on a real TCP port, started,
 * failed, stalled and restarted from here. Every wait polls a condition against a deadline; the
 * deadlines are generous and only matter when something is broken.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vg_testproc.h"

#include "vg_action.h"
#include "vg_decisions.h"
#include "vg_engine.h"
#include "vg_ewma.h"
#include "vg_log.h"
#include "vg_outbox.h"
#include "vg_rule_load.h"
#include "vg_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RECEIVER_BIN VG_BIN_DIR "/tests/receiver/vigil-test-receiver"
#define WAIT_MS      15000 /* upper bound for things that normally take milliseconds */

/* 2026-11-23T13:00:00.123Z and 2026-11-23T13:05:00.456Z */
#define T_START 1795438800123LL
#define T_END   1795439100456LL

struct fx {
    char dir[64];
    char out[128];
    char port_file[128];
    char log[128];
    pid_t rx_pid;
    int port;
    int reserved_fd; /* reserve_port's socket, bound and not listening; -1: none */
    int saved_stderr;
    const struct vg_action *act;
    void *wh;
};

static void nap(void)
{
    vg_tp_pause_ms(5);
}

/* A missing file reads as empty, so callers can search the text straight away. */
static char *slurp(const char *path)
{
    char *s = vg_tp_read(path);
    return s ? s : strdup("");
}

/* Everything this process (and the receiver it starts) logs goes to a file so the tests can check
 * the log lines; teardown copies it back to the real stderr for ctest's output. */
static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    char *dir = vg_tp_tmpdir("test-webhook");
    assert_non_null(dir);
    snprintf(f->dir, sizeof(f->dir), "%s", dir);
    free(dir);
    snprintf(f->out, sizeof(f->out), "%s/requests.jsonl", f->dir);
    snprintf(f->port_file, sizeof(f->port_file), "%s/port", f->dir);
    snprintf(f->log, sizeof(f->log), "%s/log", f->dir);
    f->rx_pid = -1;
    f->reserved_fd = -1;
    fflush(stderr);
    f->saved_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    assert_true(f->saved_stderr >= 0);
    int fd = open(f->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_true(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
    close(fd);
    f->act = vg_action_find("webhook");
    assert_non_null(f->act);
    *state = f;
    return 0;
}

static void receiver_stop(struct fx *f)
{
    if (f->rx_pid <= 0)
        return;
    kill(f->rx_pid, SIGTERM);
    int status = 0;
    pid_t r = 0;
    int64_t end = vg_mono_ms() + WAIT_MS;
    while ((r = waitpid(f->rx_pid, &status, WNOHANG)) == 0 && vg_mono_ms() < end)
        nap();
    if (r == 0) {
        kill(f->rx_pid, SIGKILL);
        waitpid(f->rx_pid, &status, 0);
    }
    pid_t pid = f->rx_pid;
    f->rx_pid = -1;
    assert_int_equal(r, pid);
    /* A clean exit on SIGTERM is part of the receiver's contract. */
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->reserved_fd >= 0)
        close(f->reserved_fd);
    if (f->wh)
        f->act->destroy(f->wh, 0);
    if (f->rx_pid > 0) {
        kill(f->rx_pid, SIGKILL);
        waitpid(f->rx_pid, NULL, 0);
    }
    fflush(stderr);
    dup2(f->saved_stderr, STDERR_FILENO);
    close(f->saved_stderr);
    char *log = slurp(f->log);
    fputs(log, stderr);
    free(log);
    free(f);
    return 0;
}

/* Starts the receiver with extra options (NULL-terminated) and waits until it has written its
 * port file, i.e. is listening. port 0 lets it choose. */
static void receiver_start(struct fx *f, int port, ...)
{
    const char *argv[32];
    size_t n = 0;
    char portbuf[16];
    snprintf(portbuf, sizeof(portbuf), "%d", port);
    char fdbuf[16];
    argv[n++] = RECEIVER_BIN;
    if (f->reserved_fd >= 0 && port == f->port) {
        /* The port reserve_port holds: the receiver listens on that very socket. */
        snprintf(fdbuf, sizeof(fdbuf), "%d", f->reserved_fd);
        argv[n++] = "--listen-fd";
        argv[n++] = fdbuf;
    } else {
        argv[n++] = "--port";
        argv[n++] = portbuf;
    }
    argv[n++] = "--port-file";
    argv[n++] = f->port_file;
    argv[n++] = "--out";
    argv[n++] = f->out;
    va_list ap;
    va_start(ap, port);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < VG_ARRAY_LEN(argv) - 1)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;

    unlink(f->port_file);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execv(RECEIVER_BIN, (char *const *)argv);
        _exit(127);
    }
    f->rx_pid = pid;
    if (f->reserved_fd >= 0 && port == f->port) {
        close(f->reserved_fd); /* the receiver has it now */
        f->reserved_fd = -1;
    }
    int64_t end = vg_mono_ms() + WAIT_MS;
    for (;;) {
        FILE *pf = fopen(f->port_file, "r");
        if (pf) {
            int p = 0;
            int ok = fscanf(pf, "%d", &p) == 1;
            fclose(pf);
            assert_true(ok);
            assert_true(p > 0 && p < 65536);
            if (port)
                assert_int_equal(p, port);
            f->port = p;
            return;
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            f->rx_pid = -1;
            fail_msg("receiver exited before listening (status %d); is %s built?", status,
                     RECEIVER_BIN);
        }
        if (vg_mono_ms() > end)
            fail_msg("receiver did not write its port file within %d ms", WAIT_MS);
        nap();
    }
}

/* The receiver's records so far: only complete lines, as it may be writing the next one. */
static json_t *requests(struct fx *f)
{
    json_t *arr = json_array();
    char *text = slurp(f->out);
    char *line = text, *nl;
    while ((nl = strchr(line, '\n'))) {
        *nl = '\0';
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        if (!j)
            fail_msg("receiver wrote an invalid JSON line: %s (%s)", line, e.text);
        json_array_append_new(arr, j);
        line = nl + 1;
    }
    free(text);
    return arr;
}

static json_t *wait_requests(struct fx *f, size_t n)
{
    int64_t end = vg_mono_ms() + WAIT_MS;
    for (;;) {
        json_t *arr = requests(f);
        if (json_array_size(arr) >= n)
            return arr;
        if (vg_mono_ms() > end)
            fail_msg("receiver got %zu requests, expected %zu", json_array_size(arr), n);
        json_decref(arr);
        nap();
    }
}

#define WAIT_STATS(f, st, cond)                                                                    \
    do {                                                                                           \
        int64_t end_ = vg_mono_ms() + WAIT_MS;                                                     \
        for (;;) {                                                                                 \
            (f)->act->stats((f)->wh, &(st));                                                       \
            if (cond)                                                                              \
                break;                                                                             \
            if (vg_mono_ms() > end_)                                                               \
                fail_msg(                                                                          \
                    "timed out waiting for %s (submitted=%llu delivered=%llu "                     \
                    "attempt_errors=%llu dropped=%llu)",                                           \
                    #cond, (unsigned long long)(st).submitted, (unsigned long long)(st).delivered, \
                    (unsigned long long)(st).attempt_errors, (unsigned long long)(st).dropped);    \
            nap();                                                                                 \
        }                                                                                          \
    } while (0)

static char *log_text(struct fx *f)
{
    fflush(stderr);
    return slurp(f->log);
}

static void create_wh(struct fx *f, struct vg_webhook_cfg *cfg)
{
    char url[128], err[VG_ERRLEN] = "";
    if (!cfg->url) {
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", f->port);
        cfg->url = url;
    }
    int rc = f->act->create(&f->wh, cfg, err, sizeof(err));
    if (rc != 0)
        fail_msg("create failed: %d %s", rc, err);
    assert_non_null(f->wh);
}

static const char *const label_keys[] = {"env", "host", "region"};
static const char *const label_values[] = {"prod", "spoofed-by-label", "eu-1"};

static struct vg_notification sample(const char *status, const char *fingerprint)
{
    struct vg_notification n = {
        .status = status,
        .alertname = "anomaly",
        .host = "web-1",
        .series = "cpu.user_pct",
        .fingerprint = fingerprint,
        .severity = "warning",
        .score = 0.999,
        .value = 51.2,
        .threshold = 0.99,
        .starts_at_ms = T_START,
        .ends_at_ms = strcmp(status, "resolved") == 0 ? T_END : 0,
        .event_ts_ms = strcmp(status, "resolved") == 0 ? T_END : T_START,
        .accepted_ms = T_START + 5,
        .label_keys = label_keys,
        .label_values = label_values,
        .n_labels = VG_ARRAY_LEN(label_keys),
    };
    return n;
}

/* Parses an RFC 3339 UTC timestamp with exactly three fractional digits; INT64_MIN if not one. */
static int64_t rfc3339_ms(const char *s)
{
    if (!s || strlen(s) != 24 || s[10] != 'T' || s[19] != '.' || s[23] != 'Z')
        return INT64_MIN;
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p != s + 19)
        return INT64_MIN;
    int ms = 0;
    for (int i = 20; i < 23; i++) {
        if (s[i] < '0' || s[i] > '9')
            return INT64_MIN;
        ms = ms * 10 + (s[i] - '0');
    }
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static const char *jget_str(json_t *o, const char *path1, const char *path2)
{
    json_t *v = json_object_get(o, path1);
    if (path2)
        v = json_object_get(v, path2);
    return json_string_value(v);
}

static void assert_str(json_t *o, const char *k1, const char *k2, const char *want)
{
    const char *got = jget_str(o, k1, k2);
    if (!got || strcmp(got, want) != 0)
        fail_msg("%s%s%s: got %s, want %s", k1, k2 ? "." : "", k2 ? k2 : "", got ? got : "(none)",
                 want);
}

static void assert_real(json_t *o, const char *k, double want)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_number(v))
        fail_msg("%s is not a number", k);
    assert_true(fabs(json_number_value(v) - want) < 1e-12);
}

static void test_action_table_finds_the_four_receiver_types(void **state)
{
    const char *types[] = {"webhook", "alertmanager", "pagerduty", "slack"};
    for (size_t i = 0; i < VG_ARRAY_LEN(types); i++) {
        assert_non_null(vg_action_find(types[i]));
        assert_string_equal(vg_action_find(types[i])->name, types[i]);
    }
    assert_null(vg_action_find("opsgenie"));
    assert_null(vg_action_find(""));
    assert_null(vg_action_find(NULL));

    struct vg_receiver_cfg cfg = {.type = "opsgenie", .url = "http://127.0.0.1:9/x"};
    const struct vg_action *act = NULL;
    void *inst = NULL;
    char err[VG_ERRLEN];
    assert_int_equal(vg_action_create(&cfg, &act, &inst, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "known: webhook, alertmanager, pagerduty, slack"));
    /* A type's own options are refused elsewhere: a misplaced secret is a misconfiguration. */
    cfg.type = "slack";
    cfg.secret_file = "/dev/null";
    assert_int_equal(vg_action_create(&cfg, &act, &inst, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "secret_file"));
    cfg.type = "pagerduty";
    cfg.secret_file = NULL;
    assert_int_equal(vg_action_create(&cfg, &act, &inst, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "routing_key_file is required"));
    /* With no type, it is a generic webhook, as before receivers had types. */
    cfg.type = NULL;
    assert_int_equal(vg_action_create(&cfg, &act, &inst, err, sizeof(err)), 0);
    assert_string_equal(act->name, "webhook");
    act->destroy(inst, 0);
}

static void test_create_rejects_bad_urls_and_values(void **state)
{
    struct fx *f = *state;
    const char *bad[] = {"", "ftp://example.com/hook", "example.com/hook", "http://", "https://"};
    char err[VG_ERRLEN];
    void *wh = NULL;
    for (size_t i = 0; i < VG_ARRAY_LEN(bad); i++) {
        struct vg_webhook_cfg cfg = {.url = bad[i]};
        err[0] = '\0';
        int rc = f->act->create(&wh, &cfg, err, sizeof(err));
        if (rc != -EINVAL)
            fail_msg("url \"%s\" gave %d, want -EINVAL", bad[i], rc);
        assert_null(wh);
        assert_true(strncmp(err, "webhook.url ", 12) == 0); /* names the key */
    }
    struct vg_webhook_cfg cfg = {.url = "ftp://example.com/secret"};
    f->act->create(&wh, &cfg, err, sizeof(err));
    assert_true(strstr(err, "http:// or https://") != NULL);
    assert_true(strstr(err, "secret") == NULL);

    struct vg_webhook_cfg none = {0};
    assert_int_equal(f->act->create(&wh, &none, err, sizeof(err)), -EINVAL);
    assert_true(strstr(err, "webhook.url is required") != NULL);
    struct vg_webhook_cfg neg = {.url = "http://127.0.0.1:9/x", .timeout_ms = -1};
    assert_int_equal(f->act->create(&wh, &neg, err, sizeof(err)), -EINVAL);
    assert_true(strstr(err, "negative") != NULL);

    struct vg_webhook_cfg ok = {.url = "HTTPS://example.com:8443/hook?token=x"};
    assert_int_equal(f->act->create(&wh, &ok, err, sizeof(err)), 0);
    f->act->destroy(wh, 0);
}

/* (a) plus in-order delivery: a firing and its resolve arrive with every documented field. */
static void test_firing_and_resolved_arrive_with_documented_fields(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, NULL);
    struct vg_webhook_cfg cfg = {0};
    create_wh(f, &cfg);

    struct vg_notification fire = sample("firing", "3f2a9c0d1e7b4a55");
    struct vg_notification res = sample("resolved", "3f2a9c0d1e7b4a55");
    assert_int_equal(f->act->submit(f->wh, &fire), 0);
    assert_int_equal(f->act->submit(f->wh, &res), 0);
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.delivered == 2 && st.queued == 0);
    assert_int_equal(st.submitted, 2);
    assert_int_equal(st.attempt_errors, 0);
    assert_int_equal(st.retries, 0);
    assert_int_equal(st.dropped, 0);

    json_t *reqs = wait_requests(f, 2);
    assert_int_equal(json_array_size(reqs), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *r = json_array_get(reqs, i);
        const char *status = i == 0 ? "firing" : "resolved";
        assert_str(r, "method", NULL, "POST");
        assert_str(r, "path", NULL, "/hook");
        assert_str(r, "headers", "content-type", "application/json");
        assert_str(r, "headers", "user-agent", "vigil/" VIGIL_VERSION);
        char idem[128];
        snprintf(idem, sizeof(idem), "3f2a9c0d1e7b4a55-%s-%lld", status, T_START);
        assert_str(r, "headers", "idempotency-key", idem);

        json_t *b = json_object_get(r, "body");
        assert_true(json_is_object(b));
        /* Exactly the documented fields: a new one must be documented too. */
        assert_int_equal(json_object_size(b), 15);
        assert_str(b, "version", NULL, "1");
        assert_str(b, "status", NULL, status);
        assert_str(b, "alertname", NULL, "anomaly");
        assert_str(b, "fingerprint", NULL, "3f2a9c0d1e7b4a55");
        assert_str(b, "host", NULL, "web-1");
        assert_str(b, "series", NULL, "cpu.user_pct");
        assert_str(b, "severity", NULL, "warning");
        assert_real(b, "score", 0.999);
        assert_real(b, "value", 51.2);
        assert_real(b, "threshold", 0.99);
        assert_str(b, "starts_at", NULL, "2026-11-23T13:00:00.123Z");
        assert_true(rfc3339_ms(jget_str(b, "starts_at", NULL)) == T_START);
        if (i == 0) {
            assert_true(json_is_null(json_object_get(b, "ends_at")));
            assert_true(rfc3339_ms(jget_str(b, "event_ts", NULL)) == T_START);
            assert_str(b, "summary", NULL,
                       "web-1: cpu.user_pct anomalous (score 0.999, value 51.2)");
        } else {
            assert_str(b, "ends_at", NULL, "2026-11-23T13:05:00.456Z");
            assert_true(rfc3339_ms(jget_str(b, "ends_at", NULL)) == T_END);
            assert_true(rfc3339_ms(jget_str(b, "event_ts", NULL)) == T_END);
            assert_str(b, "summary", NULL,
                       "web-1: cpu.user_pct resolved (score 0.999, value 51.2)");
        }
        json_t *labels = json_object_get(b, "labels");
        assert_int_equal(json_object_size(labels), 6);
        assert_str(labels, "env", NULL, "prod");
        assert_str(labels, "region", NULL, "eu-1");
        /* Reserved keys win over a host label of the same name. */
        assert_str(labels, "host", NULL, "web-1");
        assert_str(labels, "series", NULL, "cpu.user_pct");
        assert_str(labels, "alertname", NULL, "anomaly");
        assert_str(labels, "severity", NULL, "warning");
    }
    json_decref(reqs);
    receiver_stop(f);
}

/* Parses "attempt=N ... next_delay_ms=D" from the webhook's retry lines; returns how many. */
static int retry_delays(const char *log, int64_t *delays, int max)
{
    int n = 0;
    for (const char *p = log; (p = strstr(p, "will retry")) && n < max; p++) {
        const char *eol = strchr(p, '\n');
        const char *a = strstr(p, " attempt="), *d = strstr(p, "next_delay_ms=");
        if (!a || !d || (eol && (a > eol || d > eol)))
            continue;
        int attempt = atoi(a + 9);
        if (attempt != n + 1)
            fail_msg("retry line for attempt %d, expected attempt %d", attempt, n + 1);
        delays[n++] = atoll(d + 14);
    }
    return n;
}

/* (b) 5xx is retried with doubling, jittered backoff until delivered, under one idempotency key. */
static void test_retries_5xx_until_delivered(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--fail", "3", NULL);
    struct vg_webhook_cfg cfg = {
        .max_attempts = 5, .backoff_initial_ms = 10, .backoff_max_ms = 1000};
    create_wh(f, &cfg);
    struct vg_notification n = sample("firing", "fp-retry");
    assert_int_equal(f->act->submit(f->wh, &n), 0);

    struct vg_action_stats st;
    WAIT_STATS(f, st, st.delivered == 1);
    assert_int_equal(st.attempt_errors, 3);
    assert_int_equal(st.retries, 3);
    assert_int_equal(st.dropped, 0);

    json_t *reqs = wait_requests(f, 4);
    assert_int_equal(json_array_size(reqs), 4);
    const int want_status[] = {500, 500, 500, 200};
    for (size_t i = 0; i < 4; i++) {
        json_t *r = json_array_get(reqs, i);
        assert_int_equal(json_integer_value(json_object_get(r, "status")), want_status[i]);
        char idem[64];
        snprintf(idem, sizeof(idem), "fp-retry-firing-%lld", T_START);
        assert_str(r, "headers", "idempotency-key", idem);
    }
    json_decref(reqs);

    char *log = log_text(f);
    int64_t d[8];
    assert_int_equal(retry_delays(log, d, 8), 3);
    /* 10, 20, 40 ms, each within +-20 %. */
    for (int i = 0; i < 3; i++) {
        int64_t base = 10LL << i;
        if (d[i] < base * 8 / 10 || d[i] > base * 12 / 10)
            fail_msg("delay after attempt %d is %lld ms, want %lld +-20 %%", i + 1, (long long)d[i],
                     (long long)base);
    }
    assert_non_null(strstr(log, "url=\"http://127.0.0.1:"));
    assert_non_null(strstr(log, "attempt=1 status=500"));
    free(log);
}

/* (c) a 400 is permanent: dropped at once, logged with the receiver's answer, never retried. */
static void test_permanent_400_is_dropped_without_retry(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--fail", "1", "--fail-status", "400", NULL);
    struct vg_webhook_cfg cfg = {.max_attempts = 5, .backoff_initial_ms = 10};
    create_wh(f, &cfg);
    struct vg_notification bad = sample("firing", "fp-rejected");
    struct vg_notification good = sample("firing", "fp-after");
    assert_int_equal(f->act->submit(f->wh, &bad), 0);
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.dropped == 1);
    /* Delivery is in order, so a retry of the first would reach the receiver before the second. */
    assert_int_equal(f->act->submit(f->wh, &good), 0);
    WAIT_STATS(f, st, st.delivered == 1);
    assert_int_equal(st.attempt_errors, 1);
    assert_int_equal(st.retries, 0);
    assert_int_equal(st.dropped, 1);

    json_t *reqs = wait_requests(f, 2);
    assert_int_equal(json_array_size(reqs), 2);
    assert_str(json_array_get(reqs, 0), "body", "fingerprint", "fp-rejected");
    assert_str(json_array_get(reqs, 1), "body", "fingerprint", "fp-after");
    json_decref(reqs);

    char *log = log_text(f);
    const char *line = strstr(log, "webhook rejected notification");
    assert_non_null(line);
    assert_non_null(strstr(line, "status=400"));
    assert_non_null(strstr(line, "injected failure"));
    assert_null(strstr(log, "will retry"));
    free(log);
}

/* (c2) a retryable failure (500) is logged with the receiver's answer too, on the retry line and
 * on the giving-up line: that answer is often the only hint of why. */
static void test_retryable_500_is_logged_with_the_receivers_answer(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--fail", "100", NULL);
    struct vg_webhook_cfg cfg = {.max_attempts = 2, .backoff_initial_ms = 10};
    create_wh(f, &cfg);
    struct vg_notification n = sample("firing", "fp-500-body");
    assert_int_equal(f->act->submit(f->wh, &n), 0);
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.dropped == 1);
    assert_int_equal(st.attempt_errors, 2);

    char *log = log_text(f);
    const char *retry = strstr(log, "webhook attempt failed, will retry");
    assert_non_null(retry);
    const char *eol = strchr(retry, '\n');
    const char *body = strstr(retry, "body=\"{\\\"error\\\":\\\"injected failure\\\"");
    assert_non_null(body);
    assert_true(!eol || body < eol);
    const char *gave_up = strstr(log, "webhook attempt failed, giving up");
    assert_non_null(gave_up);
    eol = strchr(gave_up, '\n');
    body = strstr(gave_up, "next_delay_ms=none body=\"{\\\"error\\\":\\\"injected failure\\\"");
    assert_non_null(body);
    assert_true(!eol || body < eol);
    free(log);
    receiver_stop(f);
}

/* A port for a receiver started later, refusing connections until then: the socket stays bound
 * (not listening, so connects are refused) and is handed to the receiver (--listen-fd), so no
 * other process can take the port in between. */
static int reserve_port(struct fx *f)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    if (f->reserved_fd >= 0)
        close(f->reserved_fd);
    f->reserved_fd = s;
    return ntohs(a.sin_port);
}

/* (d) nobody listening at first: connection errors are retried until the receiver comes up. */
static void test_receiver_started_late_still_gets_alert(void **state)
{
    struct fx *f = *state;
    f->port = reserve_port(f);
    struct vg_webhook_cfg cfg = {.max_attempts = 1000,
                                 .backoff_initial_ms = 10,
                                 .backoff_max_ms = 50,
                                 .connect_timeout_ms = 1000};
    create_wh(f, &cfg);
    struct vg_notification n = sample("firing", "fp-late");
    assert_int_equal(f->act->submit(f->wh, &n), 0);
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.attempt_errors >= 2);
    assert_int_equal(st.delivered, 0);

    receiver_start(f, f->port, NULL);
    WAIT_STATS(f, st, st.delivered == 1);
    assert_int_equal(st.dropped, 0);
    assert_true(st.retries >= 2);
    json_t *reqs = wait_requests(f, 1);
    assert_int_equal(json_array_size(reqs), 1);
    assert_str(json_array_get(reqs, 0), "body", "fingerprint", "fp-late");
    json_decref(reqs);

    char *log = log_text(f);
    assert_non_null(strstr(log, "curl_code=7 ")); /* CURLE_COULDNT_CONNECT */
    free(log);
    receiver_stop(f);
}

/* (e) queue_max counts the notification in flight: with the receiver stalling, the next is refused,
 * and destroy() interrupts the stalled request instead of waiting out its timeout. */
static void test_queue_full_counted_while_receiver_stalls(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--stall-ms", "30000", NULL);
    struct vg_webhook_cfg cfg = {.queue_max = 1, .timeout_ms = 60000};
    create_wh(f, &cfg);
    struct vg_notification n = sample("firing", "fp-queue");
    assert_int_equal(f->act->submit(f->wh, &n), 0);
    json_decref(wait_requests(f, 1)); /* in flight, held by the receiver */
    assert_int_equal(f->act->submit(f->wh, &n), -ENOBUFS);
    assert_int_equal(f->act->submit(f->wh, &n), -ENOBUFS);
    struct vg_action_stats st;
    f->act->stats(f->wh, &st);
    assert_int_equal(st.submitted, 1);
    assert_int_equal(st.queue_full, 2);
    assert_int_equal(st.queued, 1);
    assert_int_equal(st.delivered, 0);

    int64_t t0 = vg_mono_ms();
    f->act->destroy(f->wh, 0);
    f->wh = NULL;
    int64_t took = vg_mono_ms() - t0;
    if (took > 10000)
        fail_msg("destroy took %lld ms with a request stalled for 30 s", (long long)took);
    char *log = log_text(f);
    assert_non_null(strstr(log, "webhook queue full"));
    assert_non_null(strstr(log, "dropped at shutdown"));
    assert_non_null(strstr(log, "dropped=1 "));
    free(log);
}

/* (f) a receiver slower than timeout_ms is an attempt error, retried, then given up on. */
static void test_stall_beyond_timeout_is_attempt_error(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--stall-ms", "20000", NULL);
    struct vg_webhook_cfg cfg = {.timeout_ms = 200, .max_attempts = 2, .backoff_initial_ms = 10};
    create_wh(f, &cfg);
    struct vg_notification n = sample("firing", "fp-slow");
    assert_int_equal(f->act->submit(f->wh, &n), 0);
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.dropped == 1);
    assert_int_equal(st.attempt_errors, 2);
    assert_int_equal(st.retries, 1);
    assert_int_equal(st.delivered, 0);
    json_t *reqs = wait_requests(f, 2);
    assert_int_equal(json_array_size(reqs), 2);
    json_decref(reqs);
    char *log = log_text(f);
    assert_non_null(strstr(log, "curl_code=28 ")); /* CURLE_OPERATION_TIMEDOUT */
    assert_non_null(strstr(log, "giving up"));
    free(log);
    receiver_stop(f);
}

/* (g) JSON has no NaN or Infinity: they become null, and the summary says n/a. */
static void test_non_finite_numbers_encode_as_null(void **state)
{
    struct vg_notification n = sample("firing", "fp-nan");
    n.value = NAN;
    n.score = INFINITY;
    n.threshold = -INFINITY;
    char *s = vg_notification_to_json(&n);
    assert_non_null(s);
    json_error_t e;
    json_t *b = json_loads(s, 0, &e);
    if (!b)
        fail_msg("not JSON: %s: %s", e.text, s);
    assert_true(json_is_null(json_object_get(b, "value")));
    assert_true(json_is_null(json_object_get(b, "score")));
    assert_true(json_is_null(json_object_get(b, "threshold")));
    assert_str(b, "summary", NULL, "web-1: cpu.user_pct anomalous (score n/a, value n/a)");
    /* What printf-style encoders would emit instead; none of it is JSON. */
    assert_null(strcasestr(s, ":nan"));
    assert_null(strcasestr(s, ":inf"));
    assert_null(strcasestr(s, ":-inf"));
    json_decref(b);
    free(s);
}

/* Labels come off the wire unchecked: invalid UTF-8 must not make the body invalid or empty. */
static void test_invalid_utf8_labels_are_replaced(void **state)
{
    const char *keys[] = {"rack", "bad\xff"};
    const char *vals[] = {"r\xc3\xa9seau \xe2\x82\xac", "v\xc0\xaf"};
    struct vg_notification n = sample("firing", "fp-utf8");
    n.label_keys = keys;
    n.label_values = vals;
    n.n_labels = 2;
    n.host = "web-\xfe";
    char *s = vg_notification_to_json(&n);
    assert_non_null(s);
    json_t *b = json_loads(s, 0, NULL);
    assert_non_null(b);
    assert_str(b, "labels", "rack", "r\xc3\xa9seau \xe2\x82\xac");
    assert_str(b, "labels", "bad?", "v??");
    assert_str(b, "host", NULL, "web-?");
    json_decref(b);
    free(s);
}

/* Retry-After on 429/503 replaces the computed backoff, capped at backoff_max. */
static void test_retry_after_is_honoured_and_capped(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--fail", "1", "--fail-status", "503", "--retry-after", "1", NULL);
    struct vg_webhook_cfg cfg = {.backoff_initial_ms = 10, .backoff_max_ms = 400};
    create_wh(f, &cfg);
    struct vg_notification n = sample("firing", "fp-ra");
    assert_int_equal(f->act->submit(f->wh, &n), 0);
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.delivered == 1);
    assert_int_equal(st.attempt_errors, 1);
    json_t *reqs = wait_requests(f, 2);
    int64_t gap = json_integer_value(json_object_get(json_array_get(reqs, 1), "recv_ms")) -
                  json_integer_value(json_object_get(json_array_get(reqs, 0), "recv_ms"));
    json_decref(reqs);
    /* Without Retry-After the wait would be about 10 ms. */
    if (gap < 390)
        fail_msg("second attempt came %lld ms after the first, want >= 400", (long long)gap);
    char *log = log_text(f);
    assert_non_null(strstr(log, "status=503 fingerprint=\"fp-ra\" next_delay_ms=400"));
    free(log);
}

/* destroy() waits for the queue to drain; what is delivered by then arrives in submit order. */
static void test_destroy_drains_queue_in_order(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, NULL);
    struct vg_webhook_cfg cfg = {0};
    create_wh(f, &cfg);
    char fps[20][16];
    for (int i = 0; i < 20; i++) {
        snprintf(fps[i], sizeof(fps[i]), "fp-%02d", i);
        struct vg_notification n = sample("firing", fps[i]);
        assert_int_equal(f->act->submit(f->wh, &n), 0);
    }
    f->act->destroy(f->wh, WAIT_MS);
    f->wh = NULL;
    json_t *reqs = requests(f);
    assert_int_equal(json_array_size(reqs), 20);
    for (int i = 0; i < 20; i++)
        assert_str(json_array_get(reqs, (size_t)i), "body", "fingerprint", fps[i]);
    json_decref(reqs);
    char *log = log_text(f);
    assert_non_null(strstr(log, "submitted=20 delivered=20 dropped=0 "));
    free(log);
}

/* destroy() must not sit out a long backoff: it stops the wait and counts what is left. */
static void test_destroy_interrupts_backoff_and_drops_rest(void **state)
{
    struct fx *f = *state;
    f->port = reserve_port(f);
    struct vg_webhook_cfg cfg = {.backoff_initial_ms = 60000, .backoff_max_ms = 60000};
    create_wh(f, &cfg);
    for (int i = 0; i < 3; i++) {
        struct vg_notification n = sample("firing", "fp-stuck");
        assert_int_equal(f->act->submit(f->wh, &n), 0);
    }
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.attempt_errors == 1);
    int64_t t0 = vg_mono_ms();
    f->act->destroy(f->wh, 100);
    f->wh = NULL;
    int64_t took = vg_mono_ms() - t0;
    if (took > 10000)
        fail_msg("destroy(100) took %lld ms during a 48..60 s backoff", (long long)took);
    char *log = log_text(f);
    assert_non_null(strstr(log, "count=3 drain_ms=100"));
    assert_non_null(strstr(log, "delivered=0 dropped=3 "));
    free(log);
}

/* A large body reaches the receiver in many chunks and arrives whole; over --max-body it gets
 * 413, which is permanent. */
static void test_large_body_arrives_whole_and_413_is_permanent(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--max-body", "300000", NULL);
    enum { NL = 4000 };
    static char kbuf[NL][16], vbuf[NL][48];
    static const char *keys[NL], *vals[NL];
    for (int i = 0; i < NL; i++) {
        snprintf(kbuf[i], sizeof(kbuf[i]), "k%04d", i);
        snprintf(vbuf[i], sizeof(vbuf[i]), "value-%04d-padding-padding-padding", i);
        keys[i] = kbuf[i];
        vals[i] = vbuf[i];
    }
    struct vg_webhook_cfg cfg = {.backoff_initial_ms = 10};
    create_wh(f, &cfg);
    struct vg_notification n = sample("firing", "fp-big");
    n.label_keys = keys;
    n.label_values = vals;
    n.n_labels = NL; /* about 200 KB */
    assert_int_equal(f->act->submit(f->wh, &n), 0);
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.delivered == 1);
    /* The same labels plus as many again under other keys: about 400 KB. */
    static char kbuf2[NL][16];
    static const char *keys2[2 * NL], *vals2[2 * NL];
    for (int i = 0; i < NL; i++) {
        snprintf(kbuf2[i], sizeof(kbuf2[i]), "x%04d", i);
        keys2[i] = kbuf[i];
        vals2[i] = vbuf[i];
        keys2[NL + i] = kbuf2[i];
        vals2[NL + i] = vbuf[i];
    }
    n.label_keys = keys2;
    n.label_values = vals2;
    n.n_labels = 2 * NL;
    n.fingerprint = "fp-too-big";
    assert_int_equal(f->act->submit(f->wh, &n), 0);
    WAIT_STATS(f, st, st.dropped == 1);
    assert_int_equal(st.attempt_errors, 1);

    json_t *reqs = wait_requests(f, 2);
    json_t *first = json_array_get(reqs, 0);
    assert_true(json_integer_value(json_object_get(first, "body_bytes")) > 150000);
    json_t *labels = json_object_get(json_object_get(first, "body"), "labels");
    assert_int_equal(json_object_size(labels), NL + 4);
    assert_str(labels, "k0000", NULL, vbuf[0]);
    assert_str(labels, "k3999", NULL, vbuf[NL - 1]);
    json_t *second = json_array_get(reqs, 1);
    assert_int_equal(json_integer_value(json_object_get(second, "status")), 413);
    assert_true(json_is_null(json_object_get(second, "body")));
    json_decref(reqs);
    receiver_stop(f);
}

/* Creates any receiver type through vg_action_create; teardown destroys it. */
static void create_rx(struct fx *f, struct vg_receiver_cfg *cfg, const char *path)
{
    char url[160], err[VG_ERRLEN] = "";
    if (!cfg->url) {
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", f->port, path);
        cfg->url = url;
    }
    int rc = vg_action_create(cfg, &f->act, &f->wh, err, sizeof(err));
    if (rc != 0)
        fail_msg("create failed: %d %s", rc, err);
}

static void write_secret(struct fx *f, const char *name, const char *text, char *path, size_t n)
{
    snprintf(path, n, "%s/%s", f->dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* The receiver is down through several attempts; once it is up every alert arrives exactly
 * once (connection refused means nothing was received), in order. */
static void test_receiver_down_for_a_while_gets_every_alert_once(void **state)
{
    struct fx *f = *state;
    f->port = reserve_port(f);
    struct vg_webhook_cfg cfg = {.max_attempts = 1000,
                                 .backoff_initial_ms = 10,
                                 .backoff_max_ms = 50,
                                 .connect_timeout_ms = 1000};
    create_wh(f, &cfg);
    char fps[5][16];
    for (int i = 0; i < 5; i++) {
        snprintf(fps[i], sizeof(fps[i]), "fp-down-%d", i);
        struct vg_notification n = sample(i % 2 ? "resolved" : "firing", fps[i]);
        assert_int_equal(f->act->submit(f->wh, &n), 0);
    }
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.attempt_errors >= 4);
    assert_int_equal(st.delivered, 0);
    receiver_start(f, f->port, NULL);
    WAIT_STATS(f, st, st.delivered == 5);
    assert_int_equal(st.dropped, 0);
    f->act->destroy(f->wh, WAIT_MS);
    f->wh = NULL;
    json_t *reqs = requests(f);
    assert_int_equal(json_array_size(reqs), 5);
    for (int i = 0; i < 5; i++) {
        json_t *r = json_array_get(reqs, (size_t)i);
        assert_str(r, "body", "fingerprint", fps[i]);
        char idem[64];
        snprintf(idem, sizeof(idem), "%s-%s-%lld", fps[i], i % 2 ? "resolved" : "firing", T_START);
        assert_str(r, "headers", "idempotency-key", idem);
    }
    json_decref(reqs);
    receiver_stop(f);
}

/* 429 with Retry-After: the next attempt waits what the receiver asked, not the backoff. */
static void test_429_with_retry_after_is_honoured(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--fail", "1", "--fail-status", "429", "--retry-after", "1", NULL);
    struct vg_webhook_cfg cfg = {.backoff_initial_ms = 10, .backoff_max_ms = 5000};
    create_wh(f, &cfg);
    struct vg_notification n = sample("firing", "fp-429");
    assert_int_equal(f->act->submit(f->wh, &n), 0);
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.delivered == 1);
    assert_int_equal(st.attempt_errors, 1);
    assert_int_equal(st.dropped, 0);
    json_t *reqs = wait_requests(f, 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(reqs, 0), "status")), 429);
    int64_t gap = json_integer_value(json_object_get(json_array_get(reqs, 1), "recv_ms")) -
                  json_integer_value(json_object_get(json_array_get(reqs, 0), "recv_ms"));
    json_decref(reqs);
    /* Without Retry-After the wait would be 8..12 ms; only a lower bound, which slowness
     * cannot break. */
    if (gap < 990)
        fail_msg("second attempt came %lld ms after the 429, want >= 1000", (long long)gap);
    char *log = log_text(f);
    assert_non_null(strstr(log, "status=429 fingerprint=\"fp-429\" next_delay_ms=1000"));
    free(log);
}

/* A token bucket of 4/s with a burst of 2: nothing is dropped, order is kept, and no window of
 * the receiver's clock holds more requests than burst + rate * window (+1 for network jitter).
 * Slowness only makes windows longer, so this cannot fail on a slow machine; without the limit
 * all six arrive within milliseconds and it fails. */
static void test_rate_limit_spaces_requests_and_drops_nothing(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, NULL);
    const double rate = 4;
    const int burst = 2;
    struct vg_webhook_cfg cfg = {.rate_per_s = rate, .burst = burst};
    create_wh(f, &cfg);
    enum { N = 6 };
    char fps[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(fps[i], sizeof(fps[i]), "fp-rate-%d", i);
        struct vg_notification n = sample("firing", fps[i]);
        assert_int_equal(f->act->submit(f->wh, &n), 0);
    }
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.delivered == N);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.attempt_errors, 0);
    /* The burst went at once; the rest had to wait for tokens. */
    assert_true(st.rate_limited >= 1 && st.rate_limited <= (uint64_t)(N - burst));
    json_t *reqs = wait_requests(f, N);
    assert_int_equal(json_array_size(reqs), N);
    int64_t t[N];
    for (int i = 0; i < N; i++) {
        json_t *r = json_array_get(reqs, (size_t)i);
        assert_str(r, "body", "fingerprint", fps[i]);
        t[i] = json_integer_value(json_object_get(r, "recv_ms"));
    }
    json_decref(reqs);
    for (int i = 0; i < N; i++) {
        for (int j = i + 1; j < N; j++) {
            double allowed = burst + 1 + rate * (double)(t[j] - t[i]) / 1000.0;
            if (j - i + 1 > allowed)
                fail_msg("requests %d..%d arrived within %lld ms: %d requests, the limit allows "
                         "%.1f",
                         i, j, (long long)(t[j] - t[i]), j - i + 1, allowed);
        }
    }
}

/* HMAC-SHA256 of "<ts>.<raw>" under key, as "sha256=<hex>", computed here with libcrypto
 * directly rather than through vg_hmac. */
static void signature_of(const char *key, const char *ts, const char *raw, char want[80])
{
    size_t tl = strlen(ts), rl = strlen(raw);
    char *msg = malloc(tl + 1 + rl);
    assert_non_null(msg);
    memcpy(msg, ts, tl);
    msg[tl] = '.';
    memcpy(msg + tl + 1, raw, rl);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    assert_non_null(HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)msg,
                         tl + 1 + rl, md, &mdlen));
    free(msg);
    strcpy(want, "sha256=");
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(want + 7 + 2 * i, 3, "%02x", md[i]);
}

/* X-Vigil-Signature: the receiver (vigil-test-receiver --hmac-secret-file, constant-time compare)
 * accepts it, and recomputing HMAC-SHA256 here over the timestamp and the exact bytes received
 * gives the same. A receiver with another key answers 401, which is permanent. */
static void test_hmac_signature_header_verifies(void **state)
{
    struct fx *f = *state;
    const char *key = "shared-secret-for-signing-0123";
    char kfile[160], wrong[160];
    write_secret(f, "hmac.key", "shared-secret-for-signing-0123\n", kfile, sizeof(kfile));
    write_secret(f, "wrong.key", "another-key", wrong, sizeof(wrong));
    receiver_start(f, 0, "--hmac-secret-file", kfile, "--raw-body", NULL);
    struct vg_receiver_cfg cfg = {.type = "webhook", .secret_file = kfile};
    create_rx(f, &cfg, "/hook");
    int64_t before = vg_now_ms() / 1000;
    struct vg_notification n = sample("firing", "fp-signed");
    assert_int_equal(f->act->submit(f->wh, &n), 0);
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.delivered == 1);
    int64_t after = vg_now_ms() / 1000;
    json_t *reqs = wait_requests(f, 1);
    json_t *r = json_array_get(reqs, 0);
    assert_str(r, "signature", NULL, "valid");
    assert_int_equal(json_integer_value(json_object_get(r, "status")), 200);
    const char *raw = jget_str(r, "body_raw", NULL);
    assert_non_null(raw);
    const char *ts = jget_str(r, "headers", "x-vigil-timestamp");
    assert_non_null(ts);
    assert_true(atoll(ts) >= before && atoll(ts) <= after);
    char want[80];
    signature_of(key, ts, raw, want);
    assert_str(r, "headers", "x-vigil-signature", want);
    json_decref(reqs);
    receiver_stop(f);
    f->act->destroy(f->wh, 0);
    f->wh = NULL;

    unlink(f->out);
    receiver_start(f, 0, "--hmac-secret-file", wrong, NULL);
    cfg.url = NULL;
    create_rx(f, &cfg, "/hook");
    assert_int_equal(f->act->submit(f->wh, &n), 0);
    WAIT_STATS(f, st, st.dropped == 1);
    assert_int_equal(st.delivered, 0);
    reqs = wait_requests(f, 1);
    assert_str(json_array_get(reqs, 0), "signature", NULL, "invalid");
    json_decref(reqs);
    char *log = log_text(f);
    assert_non_null(strstr(log, "status=401"));
    assert_null(strstr(log, key));
    free(log);
    receiver_stop(f);
}

/* Each attempt is signed when it is sent: a retry a second or more later carries a later
 * X-Vigil-Timestamp and a signature that verifies under it, so a receiver that refuses requests
 * signed more than --max-age seconds ago (a replay window) still takes late retries. */
static void test_each_retry_is_signed_with_its_own_timestamp(void **state)
{
    struct fx *f = *state;
    const char *key = "per-attempt-signing-key-42";
    char kfile[160];
    write_secret(f, "hmac.key", key, kfile, sizeof(kfile));
    /* Retry-After: 1 makes the second attempt wait at least a second, so its timestamp (whole
     * seconds) must be later than the first's. */
    receiver_start(f, 0, "--hmac-secret-file", kfile, "--max-age", "30", "--raw-body", "--fail",
                   "1", "--fail-status", "503", "--retry-after", "1", NULL);
    struct vg_receiver_cfg cfg = {
        .type = "webhook", .secret_file = kfile, .backoff_initial_ms = 10, .backoff_max_ms = 2000};
    create_rx(f, &cfg, "/hook");
    struct vg_notification n = sample("firing", "fp-resigned");
    assert_int_equal(f->act->submit(f->wh, &n), 0);
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.delivered == 1);
    assert_int_equal(st.attempt_errors, 1);
    json_t *reqs = wait_requests(f, 2);
    const char *ts[2], *idem[2];
    for (int i = 0; i < 2; i++) {
        json_t *r = json_array_get(reqs, (size_t)i);
        assert_str(r, "signature", NULL, "valid");
        ts[i] = jget_str(r, "headers", "x-vigil-timestamp");
        idem[i] = jget_str(r, "headers", "idempotency-key");
        assert_non_null(ts[i]);
        assert_non_null(idem[i]);
        char want[80];
        signature_of(key, ts[i], jget_str(r, "body_raw", NULL), want);
        assert_str(r, "headers", "x-vigil-signature", want);
    }
    assert_int_equal(json_integer_value(json_object_get(json_array_get(reqs, 0), "status")), 503);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(reqs, 1), "status")), 200);
    if (atoll(ts[1]) <= atoll(ts[0]))
        fail_msg("retry signed at %s, the first attempt at %s: not signed afresh", ts[1], ts[0]);
    assert_string_equal(idem[0], idem[1]);
    json_decref(reqs);
}

/* PagerDuty: 202 is success, at /v2/enqueue; 400 is final and its logged answer never shows the
 * routing key, even when the service echoes the request back. */
static void test_pagerduty_202_delivers_and_400_is_final_without_leaking_the_key(void **state)
{
    struct fx *f = *state;
    const char *key = "R0utingKeyForTests0123456789abcd";
    char kfile[160];
    write_secret(f, "routing.key", "R0utingKeyForTests0123456789abcd\n", kfile, sizeof(kfile));
    receiver_start(f, 0, "--ok-status", "202", "--path", "/v2/enqueue", "--fail", "1",
                   "--fail-status", "400", "--echo-body", NULL);
    struct vg_receiver_cfg cfg = {.type = "pagerduty", .routing_key_file = kfile};
    create_rx(f, &cfg, "");
    struct vg_notification bad = sample("firing", "fp-pd-bad");
    assert_int_equal(f->act->submit(f->wh, &bad), 0);
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.dropped == 1);
    struct vg_notification fire = sample("firing", "fp-pd"), res = sample("resolved", "fp-pd");
    assert_int_equal(f->act->submit(f->wh, &fire), 0);
    assert_int_equal(f->act->submit(f->wh, &res), 0);
    WAIT_STATS(f, st, st.delivered == 2);
    assert_int_equal(st.attempt_errors, 1);
    assert_int_equal(st.retries, 0);
    json_t *reqs = wait_requests(f, 3);
    assert_int_equal(json_array_size(reqs), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *r = json_array_get(reqs, i);
        assert_str(r, "path", NULL, "/v2/enqueue");
        assert_int_equal(json_integer_value(json_object_get(r, "status")), i == 0 ? 400 : 202);
    }
    json_t *t = json_object_get(json_array_get(reqs, 1), "body");
    json_t *rs = json_object_get(json_array_get(reqs, 2), "body");
    assert_str(t, "event_action", NULL, "trigger");
    assert_str(rs, "event_action", NULL, "resolve");
    assert_str(t, "dedup_key", NULL, "fp-pd");
    assert_str(rs, "dedup_key", NULL, "fp-pd");
    assert_str(t, "routing_key", NULL, key);
    json_decref(reqs);
    char *log = log_text(f);
    const char *line = strstr(log, "pagerduty rejected notification");
    assert_non_null(line);
    /* The echo made it into the log, blanked. */
    assert_non_null(strstr(line, "routing_key\\\":\\\"****"));
    assert_null(strstr(log, key));
    assert_null(strstr(log, "R0utingKey"));
    free(log);
    receiver_stop(f);
}

/* The audit's case: PagerDuty took the trigger, then answers 503 for far longer than
 * max_attempts' worth of tries. With keep_retrying (the analyzer's setting) the resolve is not
 * dropped for its attempt count: it stays queued (and in the outbox), is counted in retrying,
 * and reaches PagerDuty once it answers again, so the incident closes. */
static void
test_a_resolve_failing_past_max_attempts_is_delivered_when_the_receiver_recovers(void **state)
{
    struct fx *f = *state;
    char kfile[160];
    write_secret(f, "routing.key", "R0utingKeyForTests0123456789abcd\n", kfile, sizeof(kfile));
    receiver_start(f, 0, "--ok-status", "202", "--path", "/v2/enqueue", NULL);
    struct vg_receiver_cfg cfg = {.type = "pagerduty",
                                  .routing_key_file = kfile,
                                  .max_attempts = 3,
                                  .backoff_initial_ms = 10,
                                  .backoff_max_ms = 50,
                                  .keep_retrying = 1,
                                  .outbox_dir = f->dir};
    create_rx(f, &cfg, "");
    struct vg_notification fire = sample("firing", "fp-pd-out"),
                           res = sample("resolved", "fp-pd-out");
    assert_int_equal(f->act->submit(f->wh, &fire), 0);
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.delivered == 1);

    /* PagerDuty goes bad: 503 to everything. */
    int port = f->port;
    receiver_stop(f);
    receiver_start(f, port, "--ok-status", "202", "--path", "/v2/enqueue", "--fail", "1000000",
                   "--fail-status", "503", NULL);
    assert_int_equal(f->act->submit(f->wh, &res), 0);
    WAIT_STATS(f, st, st.attempt_errors >= 3 * 3 || st.dropped > 0);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.retrying, 1);
    assert_int_equal(st.queued, 1);

    /* And recovers. */
    receiver_stop(f);
    receiver_start(f, port, "--ok-status", "202", "--path", "/v2/enqueue", NULL);
    /* delivered is counted before the item leaves the queue */
    WAIT_STATS(f, st, st.delivered == 2 && st.queued == 0);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.retrying, 0);
    assert_int_equal(st.queued, 0);

    json_t *reqs = requests(f);
    size_t nr = json_array_size(reqs);
    assert_true(nr >= 2 + 9);
    json_t *last = json_array_get(reqs, nr - 1);
    assert_int_equal(json_integer_value(json_object_get(last, "status")), 202);
    assert_str(json_object_get(last, "body"), "event_action", NULL, "resolve");
    assert_str(json_object_get(last, "body"), "dedup_key", NULL, "fp-pd-out");
    json_decref(reqs);
    char *log = log_text(f);
    assert_non_null(strstr(log, "pagerduty attempt failed, still retrying until delivered"));
    assert_null(strstr(log, "giving up"));
    free(log);

    /* Delivered means done in the outbox too: nothing comes back at the next start. */
    f->act->destroy(f->wh, WAIT_MS);
    f->wh = NULL;
    cfg.url = NULL; /* it pointed into create_rx()'s frame */
    create_rx(f, &cfg, "");
    f->act->stats(f->wh, &st);
    assert_int_equal(st.replayed, 0);
    receiver_stop(f);
}

/* max_age is the bound: a notification still failing at that age is dropped, logged with the
 * reason, counted in expired (and dropped), and marked done in the outbox. */
static void test_a_notification_still_failing_at_max_age_is_dropped_and_counted(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--fail", "1000000", "--fail-status", "503", NULL);
    struct vg_webhook_cfg cfg = {.max_attempts = 2,
                                 .backoff_initial_ms = 10,
                                 .backoff_max_ms = 50,
                                 .keep_retrying = 1,
                                 .max_age_ms = 400,
                                 .outbox_dir = f->dir};
    create_wh(f, &cfg);
    struct vg_notification n = sample("resolved", "fp-old");
    n.accepted_ms = vg_now_ms();
    assert_int_equal(f->act->submit(f->wh, &n), 0);
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.dropped == 1 && st.queued == 0);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.retrying, 0);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.delivered, 0);
    /* Past max_attempts (2) it was retried, not dropped. */
    assert_true(st.attempt_errors > 2);
    char *log = log_text(f);
    const char *line =
        strstr(log, "webhook attempt failed, notification older than max_age, dropped");
    assert_non_null(line);
    assert_non_null(strstr(line, "max_age_ms=400"));
    assert_non_null(strstr(line, "status=503"));
    assert_non_null(strstr(line, "fingerprint=\"fp-old\""));
    free(log);
    f->act->destroy(f->wh, 0);
    f->wh = NULL;
    cfg.url = NULL; /* it pointed into create_wh()'s frame */
    create_wh(f, &cfg);
    f->act->stats(f->wh, &st);
    assert_int_equal(st.replayed, 0);
    receiver_stop(f);
}

/* Head-of-line: an alert its receiver refuses with 503 for good holds back the others only for
 * its first max_attempts; then they go ahead, while it keeps being retried. Its own resolve stays
 * behind it: a receiver never gets a resolve before its firing. */
static void test_an_alert_failing_for_good_does_not_hold_back_other_alerts(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--fail-match", "fp-poison", "--fail-status", "503", NULL);
    struct vg_webhook_cfg cfg = {
        .max_attempts = 2, .backoff_initial_ms = 10, .backoff_max_ms = 50, .keep_retrying = 1};
    create_wh(f, &cfg);
    const char *fps[] = {"fp-poison", "fp-other-1", "fp-poison", "fp-other-2"};
    const char *sts[] = {"firing", "firing", "resolved", "resolved"};
    for (int i = 0; i < 4; i++) {
        struct vg_notification n = sample(sts[i], fps[i]);
        assert_int_equal(f->act->submit(f->wh, &n), 0);
    }
    struct vg_action_stats st;
    WAIT_STATS(f, st, (st.delivered == 2 && st.retrying == 1 && st.queued == 2) || st.dropped > 0);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.queued, 2);
    json_t *reqs = requests(f);
    int ok = 0;
    for (size_t i = 0; i < json_array_size(reqs); i++) {
        json_t *r = json_array_get(reqs, i);
        json_t *b = json_object_get(r, "body");
        const char *fp = json_string_value(json_object_get(b, "fingerprint"));
        const char *status = json_string_value(json_object_get(b, "status"));
        assert_non_null(fp);
        if (strcmp(fp, "fp-poison") == 0) {
            assert_string_equal(status, "firing"); /* its resolve waits behind it */
            assert_int_equal(json_integer_value(json_object_get(r, "status")), 503);
        } else {
            assert_int_equal(json_integer_value(json_object_get(r, "status")), 200);
            assert_string_equal(fp, ok++ ? "fp-other-2" : "fp-other-1");
        }
    }
    assert_int_equal(ok, 2);
    json_decref(reqs);
    receiver_stop(f);
}

static int count_requests(json_t *reqs, const char *fp, const char *status)
{
    int n = 0;
    for (size_t i = 0; i < json_array_size(reqs); i++) {
        json_t *b = json_object_get(json_array_get(reqs, i), "body");
        const char *f = json_string_value(json_object_get(b, "fingerprint"));
        const char *s = json_string_value(json_object_get(b, "status"));
        n += f && s && strcmp(f, fp) == 0 && strcmp(s, status) == 0;
    }
    return n;
}

/* An alert storm on a paced receiver (1 request a second, like Slack): a firing still queued
 * when its resolve arrives is not sent; the resolve goes alone, in its place, with the alert's
 * starts_at and ends_at. The firing being attempted at that moment is not touched. */
static void test_a_resolve_queued_behind_its_firing_is_sent_alone_in_its_place(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, NULL);
    struct vg_webhook_cfg cfg = {
        .rate_per_s = 1, .burst = 1, .coalesce = 1, .keep_retrying = 1, .outbox_dir = f->dir};
    create_wh(f, &cfg);
    const char *fps[] = {"fp-a", "fp-b", "fp-c", "fp-c", "fp-d"};
    const char *sts[] = {"firing", "firing", "firing", "resolved", "firing"};
    for (int i = 0; i < 5; i++) {
        struct vg_notification n = sample(sts[i], fps[i]);
        assert_int_equal(f->act->submit(f->wh, &n), 0);
    }
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.delivered == 4 && st.queued == 0);
    assert_int_equal(st.coalesced, 1);
    assert_int_equal(st.submitted, 5);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.queued, 0);
    json_t *reqs = requests(f);
    assert_int_equal(json_array_size(reqs), 4);
    const char *want_fp[] = {"fp-a", "fp-b", "fp-c", "fp-d"};
    const char *want_st[] = {"firing", "firing", "resolved", "firing"};
    for (size_t i = 0; i < 4; i++) {
        json_t *b = json_object_get(json_array_get(reqs, i), "body");
        assert_str(b, "fingerprint", NULL, want_fp[i]);
        assert_str(b, "status", NULL, want_st[i]);
    }
    json_t *res = json_object_get(json_array_get(reqs, 2), "body");
    assert_str(res, "starts_at", NULL, "2026-11-23T13:00:00.123Z");
    assert_str(res, "ends_at", NULL, "2026-11-23T13:05:00.456Z");
    json_decref(reqs);
    /* The firing is done in the outbox too: nothing comes back at the next start. */
    f->act->destroy(f->wh, WAIT_MS);
    f->wh = NULL;
    cfg.url = NULL; /* it pointed into create_wh()'s frame */
    create_wh(f, &cfg);
    f->act->stats(f->wh, &st);
    assert_int_equal(st.replayed, 0);
    receiver_stop(f);
}

/* Stopped before the resolve went out, the analyzer replays the resolve at its next start, never
 * the firing it replaced. */
static void test_a_coalesced_firing_is_not_replayed_from_the_outbox(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, NULL);
    struct vg_webhook_cfg cfg = {
        .rate_per_s = 1, .burst = 1, .coalesce = 1, .keep_retrying = 1, .outbox_dir = f->dir};
    create_wh(f, &cfg);
    const char *fps[] = {"fp-a", "fp-b", "fp-c", "fp-c"};
    const char *sts[] = {"firing", "firing", "firing", "resolved"};
    for (int i = 0; i < 4; i++) {
        struct vg_notification n = sample(sts[i], fps[i]);
        assert_int_equal(f->act->submit(f->wh, &n), 0);
    }
    struct vg_action_stats st;
    f->act->stats(f->wh, &st);
    assert_int_equal(st.coalesced, 1);
    f->act->destroy(f->wh, 0);
    f->wh = NULL;
    cfg.url = NULL;
    cfg.rate_per_s = -1;
    create_wh(f, &cfg);
    f->act->stats(f->wh, &st);
    assert_true(st.replayed >= 2); /* fp-b (and fp-a unless it went out) and the resolve */
    WAIT_STATS(f, st, st.queued == 0);
    assert_int_equal(st.dropped, 0);
    json_t *reqs = requests(f);
    assert_int_equal(count_requests(reqs, "fp-c", "firing"), 0);
    assert_int_equal(count_requests(reqs, "fp-c", "resolved"), 1);
    /* once, or twice had the stop cut its request short: what was in flight is sent again */
    assert_true(count_requests(reqs, "fp-b", "firing") >= 1);
    json_decref(reqs);
    receiver_stop(f);
}

/* Writes notifications into the outbox of the receiver called name in f->dir as an analyzer
 * stopped by a crash would have left it; done[i] marks the i-th one acknowledged. */
static void outbox_prepare_as(struct fx *f, const char *name, const struct vg_notification *ns,
                              const int *done, size_t k)
{
    struct vg_outbox *ob = NULL;
    struct vg_outbox_cfg oc = {.dir = f->dir, .name = name};
    char err[VG_ERRLEN];
    assert_int_equal(vg_outbox_open(&ob, &oc, err, sizeof(err)), 0);
    uint64_t seqs[8];
    assert_true(k <= 8);
    for (size_t i = 0; i < k; i++) {
        unsigned char *p = NULL;
        size_t len = 0;
        assert_int_equal(vg_outbox_encode(&ns[i], &p, &len), 0);
        assert_int_equal(vg_outbox_append(ob, p, len, &seqs[i]), 0);
        free(p);
    }
    for (size_t i = 0; i < k; i++)
        if (done[i])
            assert_int_equal(vg_outbox_ack(ob, seqs[i]), 0);
    vg_outbox_close(ob);
}

static void outbox_prepare(struct fx *f, const struct vg_notification *ns, const int *done,
                           size_t k)
{
    outbox_prepare_as(f, "webhook", ns, done, k);
}

/* A crash between a resolve's delivery and the mark of the firing it replaced (an older version
 * acknowledged the firing after the resolve could go) left the firing pending and its resolve
 * done: the next start must not send the firing, which would open an incident nothing resolves. */
static void test_a_pending_firing_whose_resolve_was_delivered_is_not_replayed(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, NULL);
    struct vg_notification ns[] = {sample("firing", "fp-c"), sample("resolved", "fp-c"),
                                   sample("firing", "fp-d")};
    const int done[] = {0, 1, 0};
    outbox_prepare(f, ns, done, 3);
    struct vg_webhook_cfg cfg = {.coalesce = 1, .keep_retrying = 1, .outbox_dir = f->dir};
    create_wh(f, &cfg);
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.delivered == 1 && st.queued == 0);
    assert_int_equal(st.coalesced, 1);
    assert_int_equal(st.dropped, 0);
    json_t *reqs = requests(f);
    assert_int_equal(count_requests(reqs, "fp-c", "firing"), 0);
    assert_int_equal(count_requests(reqs, "fp-c", "resolved"), 0);
    assert_int_equal(count_requests(reqs, "fp-d", "firing"), 1);
    json_decref(reqs);
    /* and it is done in the outbox now */
    f->act->destroy(f->wh, WAIT_MS);
    f->wh = NULL;
    cfg.url = NULL;
    create_wh(f, &cfg);
    f->act->stats(f->wh, &st);
    assert_int_equal(st.replayed, 0);
    receiver_stop(f);
}

/* A firing and its resolve both pending at start (the resolve was queued while the firing was in
 * flight): the resolve is replayed alone, in the firing's place. */
static void test_a_pending_firing_and_its_pending_resolve_replay_the_resolve_alone(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, NULL);
    struct vg_notification ns[] = {sample("firing", "fp-c"), sample("firing", "fp-d"),
                                   sample("resolved", "fp-c")};
    const int done[] = {0, 0, 0};
    outbox_prepare(f, ns, done, 3);
    struct vg_webhook_cfg cfg = {.coalesce = 1, .keep_retrying = 1, .outbox_dir = f->dir};
    create_wh(f, &cfg);
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.queued == 0);
    assert_int_equal(st.coalesced, 1);
    assert_int_equal(st.delivered, 2);
    json_t *reqs = requests(f);
    assert_int_equal(json_array_size(reqs), 2);
    json_t *b = json_object_get(json_array_get(reqs, 0), "body");
    assert_str(b, "fingerprint", NULL, "fp-c");
    assert_str(b, "status", NULL, "resolved");
    assert_int_equal(count_requests(reqs, "fp-d", "firing"), 1);
    json_decref(reqs);
    receiver_stop(f);
}

/* During an outage the queue is full; the resolve of a queued firing must still be taken (it
 * replaces the firing, adding nothing), or the firing would be delivered after the outage and
 * its resolve never. A new notification is still refused. */
static void test_a_full_queue_takes_a_resolve_that_replaces_its_firing(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--fail-match", "fp-", "--fail-status", "503", NULL);
    struct vg_webhook_cfg cfg = {.queue_max = 2,
                                 .max_attempts = 1000,
                                 .backoff_initial_ms = 60000,
                                 .backoff_max_ms = 60000,
                                 .coalesce = 1,
                                 .keep_retrying = 1,
                                 .outbox_dir = f->dir};
    create_wh(f, &cfg);
    struct vg_notification a = sample("firing", "fp-a"), b = sample("firing", "fp-b");
    assert_int_equal(f->act->submit(f->wh, &a), 0);
    assert_int_equal(f->act->submit(f->wh, &b), 0);
    struct vg_action_stats st;
    /* fp-a failed once and holds back fp-b for a minute */
    WAIT_STATS(f, st, st.attempt_errors >= 1);
    struct vg_notification c = sample("firing", "fp-c");
    assert_int_equal(f->act->submit(f->wh, &c), -ENOBUFS);
    struct vg_notification rb = sample("resolved", "fp-b");
    assert_int_equal(f->act->submit(f->wh, &rb), 0);
    f->act->stats(f->wh, &st);
    assert_int_equal(st.coalesced, 1);
    assert_int_equal(st.queued, 2);
    assert_int_equal(st.queue_full, 1);
    receiver_stop(f);
}

/* A resolve whose firing was delivered long ago is taken past queue_max (its headroom): a storm's
 * failing notifications filling the queue must not leave that alert's incident open for good.
 * Once the failing ones stop holding the queue back (overdue), the resolve is delivered. A new
 * firing is still refused. */
static void test_a_full_queue_takes_the_resolve_of_a_delivered_firing(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--fail-match", "fp-down", "--fail-status", "503", NULL);
    struct vg_webhook_cfg cfg = {.queue_max = 2,
                                 .max_attempts = 1,
                                 .backoff_initial_ms = 200,
                                 .backoff_max_ms = 200,
                                 .coalesce = 1,
                                 .keep_retrying = 1,
                                 .outbox_dir = f->dir};
    create_wh(f, &cfg);
    struct vg_notification a = sample("firing", "fp-a");
    assert_int_equal(f->act->submit(f->wh, &a), 0);
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.delivered == 1);
    struct vg_notification b = sample("firing", "fp-down-b"), c = sample("firing", "fp-down-c");
    assert_int_equal(f->act->submit(f->wh, &b), 0);
    assert_int_equal(f->act->submit(f->wh, &c), 0);
    struct vg_notification d = sample("firing", "fp-d");
    assert_int_equal(f->act->submit(f->wh, &d), -ENOBUFS);
    struct vg_notification ra = sample("resolved", "fp-a");
    assert_int_equal(f->act->submit(f->wh, &ra), 0);
    json_t *reqs = NULL;
    int64_t end = vg_mono_ms() + WAIT_MS;
    do {
        json_decref(reqs);
        nap();
        reqs = requests(f);
    } while (count_requests(reqs, "fp-a", "resolved") == 0 && vg_mono_ms() < end);
    assert_int_equal(count_requests(reqs, "fp-a", "resolved"), 1);
    json_decref(reqs);
    f->act->stats(f->wh, &st);
    assert_int_equal(st.queue_full, 1);
    receiver_stop(f);
}

/* The resolve submitted while its firing is being attempted queues behind it; when that attempt
 * fails, the resolve replaces the firing instead of waiting for it to be delivered (or to reach
 * max_age). */
static void test_a_resolve_behind_its_failing_firing_in_flight_replaces_it(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--fail-match", "host-poison", "--fail-status", "503", NULL);
    struct vg_webhook_cfg cfg = {.rate_per_s = 1,
                                 .burst = 1,
                                 .backoff_initial_ms = 60000,
                                 .backoff_max_ms = 60000,
                                 .coalesce = 1,
                                 .keep_retrying = 1,
                                 .outbox_dir = f->dir};
    create_wh(f, &cfg);
    struct vg_notification g = sample("firing", "fp-g"), a = sample("firing", "fp-a");
    a.host = "host-poison";
    assert_int_equal(f->act->submit(f->wh, &g), 0);
    assert_int_equal(f->act->submit(f->wh, &a), 0);
    struct vg_action_stats st;
    /* fp-g took the only token; fp-a is now in flight, waiting about a second for the next */
    WAIT_STATS(f, st, st.delivered == 1 && st.queued == 1);
    struct vg_notification ra = sample("resolved", "fp-a");
    assert_int_equal(f->act->submit(f->wh, &ra), 0);
    WAIT_STATS(f, st, st.queued == 0);
    assert_int_equal(st.coalesced, 1);
    assert_int_equal(st.dropped, 0);
    json_t *reqs = requests(f);
    assert_int_equal(count_requests(reqs, "fp-a", "resolved"), 1);
    json_decref(reqs);
    /* the firing is done in the outbox too */
    f->act->destroy(f->wh, WAIT_MS);
    f->wh = NULL;
    cfg.url = NULL;
    create_wh(f, &cfg);
    f->act->stats(f->wh, &st);
    assert_int_equal(st.replayed, 0);
    receiver_stop(f);
}

/* An overdue notification is retried every backoff_max even while a backlog of fresh ones
 * drains, not only once the backlog is gone. */
static void test_an_overdue_notification_is_retried_while_a_backlog_drains(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--fail-match", "fp-poison", "--fail-status", "503", NULL);
    struct vg_webhook_cfg cfg = {.rate_per_s = 20,
                                 .burst = 1,
                                 .max_attempts = 2,
                                 .backoff_initial_ms = 10,
                                 .backoff_max_ms = 100,
                                 .keep_retrying = 1};
    create_wh(f, &cfg);
    struct vg_notification p = sample("firing", "fp-poison");
    assert_int_equal(f->act->submit(f->wh, &p), 0);
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.retrying == 1);
    char fps[40][16];
    for (int i = 0; i < 40; i++) {
        snprintf(fps[i], sizeof(fps[i]), "fp-n%d", i);
        struct vg_notification n = sample("firing", fps[i]);
        assert_int_equal(f->act->submit(f->wh, &n), 0);
    }
    WAIT_STATS(f, st, st.delivered == 40);
    /* 40 requests at 20 a second take two seconds: the poison one is due every 100 ms */
    json_t *reqs = requests(f);
    int fresh = 0, between = 0;
    for (size_t i = 0; i < json_array_size(reqs); i++) {
        json_t *b = json_object_get(json_array_get(reqs, i), "body");
        const char *fp = json_string_value(json_object_get(b, "fingerprint"));
        if (strcmp(fp, "fp-poison") != 0)
            fresh++;
        else if (fresh > 0 && fresh < 40)
            between++;
    }
    json_decref(reqs);
    assert_true(between >= 2);
    receiver_stop(f);
}

/* Overdue notifications take turns with the fresh ones: however many of them are due, the fresh
 * head goes after one overdue attempt, so that a few notifications the receiver keeps refusing
 * (or keeps hanging on until the timeout) cannot hold back the others of their receiver for good.
 * Four overdue ones at 10 requests a second with a backoff_max of 100 ms are always due. */
static void test_overdue_retries_take_turns_with_fresh_notifications(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--fail-match", "fp-poison", "--fail-status", "503", NULL);
    struct vg_notification ns[] = {sample("firing", "fp-poison-1"), sample("firing", "fp-poison-2"),
                                   sample("firing", "fp-poison-3"),
                                   sample("firing", "fp-poison-4")};
    const int done[] = {0, 0, 0, 0};
    outbox_prepare(f, ns, done, 4); /* accepted days ago: overdue at once */
    struct vg_webhook_cfg cfg = {.rate_per_s = 10,
                                 .burst = 1,
                                 .max_attempts = 2,
                                 .backoff_initial_ms = 10,
                                 .backoff_max_ms = 100,
                                 .keep_retrying = 1,
                                 .outbox_dir = f->dir};
    create_wh(f, &cfg);
    struct vg_action_stats st;
    f->act->stats(f->wh, &st);
    assert_int_equal(st.retrying, 4);
    json_decref(wait_requests(f, 4)); /* the overdue ones are being retried */
    json_t *reqs = requests(f);
    size_t before = json_array_size(reqs);
    json_decref(reqs);
    struct vg_notification n = sample("firing", "fp-fresh");
    assert_int_equal(f->act->submit(f->wh, &n), 0);
    WAIT_STATS(f, st, st.delivered == 1);
    reqs = requests(f);
    size_t poison = 0, i = before;
    for (; i < json_array_size(reqs); i++) {
        json_t *b = json_object_get(json_array_get(reqs, i), "body");
        if (strcmp(json_string_value(json_object_get(b, "fingerprint")), "fp-fresh") == 0)
            break;
        poison++;
    }
    json_decref(reqs);
    /* The one on its way when it came, and one that may have gone between the count and the
     * submit. */
    if (poison > 2)
        fail_msg("%zu overdue attempts went before the fresh notification", poison);
    assert_int_equal(st.retrying, 4);
    receiver_stop(f);
}

/* Once overdue, a notification is retried every backoff_max (jittered down to 0.8 of it), not
 * after the delay of its next attempt number, which with a small max_attempts is far shorter. */
static void test_an_overdue_notification_is_retried_every_backoff_max(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--fail-match", "fp-poison", "--fail-status", "503", NULL);
    struct vg_webhook_cfg cfg = {
        .max_attempts = 2, .backoff_initial_ms = 10, .backoff_max_ms = 500, .keep_retrying = 1};
    create_wh(f, &cfg);
    struct vg_notification p = sample("firing", "fp-poison");
    assert_int_equal(f->act->submit(f->wh, &p), 0);
    /* The attempt that made it overdue, then the next one's "will retry". */
    char *log = NULL;
    for (int64_t end = vg_mono_ms() + WAIT_MS; !strstr(log = log_text(f), "attempt=3 status=503");
         free(log)) {
        if (vg_mono_ms() > end)
            fail_msg("no third attempt logged in:\n%s", log);
        nap();
    }
    const char *keys[] = {"still retrying until delivered", "attempt=3 status=503"};
    for (size_t i = 0; i < VG_ARRAY_LEN(keys); i++) {
        const char *line = strstr(log, keys[i]);
        if (!line)
            fail_msg("no log line with %s in:\n%s", keys[i], log);
        const char *d = strstr(line, "next_delay_ms=");
        assert_non_null(d);
        long long ms = atoll(d + strlen("next_delay_ms="));
        if (ms < 400 || ms > 500)
            fail_msg("overdue retry after %lld ms, want 400..500 (backoff_max 500)", ms);
    }
    free(log);
    receiver_stop(f);
}

/* Notifications replayed at start that are older than their max_attempts take are overdue again,
 * as before the restart, and counted in retrying at once. */
static void test_a_restart_keeps_old_notifications_overdue(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--fail-match", "fp-", "--fail-status", "503", NULL);
    struct vg_notification ns[] = {sample("firing", "fp-a"), sample("firing", "fp-b")};
    const int done[] = {0, 0};
    outbox_prepare(f, ns, done, 2); /* accepted days ago */
    struct vg_webhook_cfg cfg = {.keep_retrying = 1, .outbox_dir = f->dir};
    create_wh(f, &cfg);
    struct vg_action_stats st;
    f->act->stats(f->wh, &st);
    assert_int_equal(st.replayed, 2);
    assert_int_equal(st.retrying, 2);
    receiver_stop(f);
}

/* After an analyzer downtime longer than max_age, a replayed notification is not dropped on its
 * first transient failure: max_age drops only one that failed its max_attempts in this run. */
static void test_max_age_does_not_count_a_downtime_against_a_replayed_notification(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--fail", "1", "--fail-status", "503", NULL);
    struct vg_notification ns[] = {sample("resolved", "fp-a")};
    const int done[] = {0};
    outbox_prepare(f, ns, done, 1); /* accepted days ago */
    struct vg_webhook_cfg cfg = {.backoff_initial_ms = 10,
                                 .backoff_max_ms = 50,
                                 .max_age_ms = 3600000,
                                 .keep_retrying = 1,
                                 .outbox_dir = f->dir};
    create_wh(f, &cfg);
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.queued == 0);
    assert_int_equal(st.expired, 0);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.delivered, 1);
    receiver_stop(f);
}

/* Alertmanager: a firing alert given up on during an outage (its attempts spent) is still sent
 * again by the re-send rounds once Alertmanager answers: it fires, and Alertmanager would not
 * know of it until it resolved. */
static void test_alertmanager_resends_a_firing_it_gave_up_on(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--path", "/api/v2/alerts", "--fail", "2", NULL);
    struct vg_receiver_cfg cfg = {.type = "alertmanager",
                                  .resend_interval_ms = 50,
                                  .max_attempts = 2,
                                  .backoff_initial_ms = 10};
    create_rx(f, &cfg, "/");
    struct vg_notification a = sample("firing", "fp-am-out");
    assert_int_equal(f->act->submit(f->wh, &a), 0);
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.dropped == 1 && st.resent >= 1);
    json_t *reqs = wait_requests(f, 3);
    /* Two failed attempts, then a re-send round that Alertmanager took, holding the alert. */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(reqs, 0), "status")), 500);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(reqs, 1), "status")), 500);
    json_t *third = json_array_get(reqs, 2);
    assert_int_equal(json_integer_value(json_object_get(third, "status")), 200);
    json_t *al = json_array_get(json_object_get(third, "body"), 0);
    assert_string_equal(jget_str(json_object_get(al, "annotations"), "vigil_fingerprint", NULL),
                        "fp-am-out");
    json_decref(reqs);
    f->act->destroy(f->wh, 0);
    f->wh = NULL;
    receiver_stop(f);
}

/* Alertmanager: POSTs to /api/v2/alerts; a firing alert is re-sent (with a fresh future endsAt)
 * until its resolve is delivered, after which re-sends no longer include it. */
static void test_alertmanager_resends_firing_alerts_until_resolved(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--path", "/api/v2/alerts", NULL);
    struct vg_receiver_cfg cfg = {.type = "alertmanager", .resend_interval_ms = 50};
    create_rx(f, &cfg, "/");
    struct vg_notification a = sample("firing", "fp-am-a");
    assert_int_equal(f->act->submit(f->wh, &a), 0);
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.delivered == 1 && st.resent >= 2);
    struct vg_notification ra = sample("resolved", "fp-am-a");
    assert_int_equal(f->act->submit(f->wh, &ra), 0);
    WAIT_STATS(f, st, st.delivered == 2);
    struct vg_notification b = sample("firing", "fp-am-b");
    b.series = "mem.used_pct";
    assert_int_equal(f->act->submit(f->wh, &b), 0);
    uint64_t resent_before_b = st.resent;
    WAIT_STATS(f, st, st.delivered == 3 && st.resent >= resent_before_b + 2);
    f->act->destroy(f->wh, 0);
    f->wh = NULL;

    json_t *reqs = requests(f);
    size_t n = json_array_size(reqs);
    int seen_resolve = 0, resends_of_b = 0, resends_of_a = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(reqs, i);
        assert_str(r, "path", NULL, "/api/v2/alerts");
        assert_int_equal(json_integer_value(json_object_get(r, "status")), 200);
        json_t *alerts = json_object_get(r, "body");
        assert_true(json_is_array(alerts));
        int64_t recv = json_integer_value(json_object_get(r, "recv_ms"));
        size_t k;
        json_t *al;
        json_array_foreach(alerts, k, al)
        {
            const char *fp =
                jget_str(json_object_get(al, "annotations"), "vigil_fingerprint", NULL);
            int64_t ends = rfc3339_ms(jget_str(al, "endsAt", NULL));
            assert_true(rfc3339_ms(jget_str(al, "startsAt", NULL)) == T_START);
            if (ends == T_END) {
                assert_string_equal(fp, "fp-am-a");
                seen_resolve = 1;
                continue;
            }
            /* Firing: endsAt lies ahead, by four re-send intervals. */
            if (ends <= recv)
                fail_msg("firing alert %s sent with endsAt %lld <= receipt %lld", fp,
                         (long long)ends, (long long)recv);
            if (strcmp(fp, "fp-am-a") == 0) {
                if (seen_resolve)
                    fail_msg("fp-am-a was re-sent as firing after its resolve was delivered");
                resends_of_a++;
            } else {
                resends_of_b++;
            }
        }
    }
    json_decref(reqs);
    assert_true(seen_resolve);
    assert_true(resends_of_a >= 3); /* the first send and at least two re-sends */
    assert_true(resends_of_b >= 3);
    receiver_stop(f);
}

/* Whether request r of the receiver's record carries the alert with fingerprint fp. */
static int request_has(json_t *r, const char *fp)
{
    size_t k;
    json_t *al;
    json_array_foreach(json_object_get(r, "body"), k, al)
    {
        const char *got = jget_str(json_object_get(al, "annotations"), "vigil_fingerprint", NULL);
        if (got && strcmp(got, fp) == 0)
            return 1;
    }
    return 0;
}

/* Alertmanager: a host handed over to another analyzer (forget_host) is no longer re-sent from
 * here, or its alerts would stay firing in Alertmanager after the new owner resolved them; the
 * other hosts' alerts still are. A re-send already under way may still carry it, no later one. */
static void test_alertmanager_stops_resending_a_host_handed_over(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--path", "/api/v2/alerts", NULL);
    struct vg_receiver_cfg cfg = {.type = "alertmanager", .resend_interval_ms = 50};
    create_rx(f, &cfg, "/");
    assert_non_null(f->act->forget_host);
    struct vg_notification moved = sample("firing", "fp-am-moved");
    struct vg_notification kept = sample("firing", "fp-am-kept");
    kept.host = "db-1";
    assert_int_equal(f->act->submit(f->wh, &moved), 0);
    assert_int_equal(f->act->submit(f->wh, &kept), 0);
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.delivered == 2 && st.resent >= 4); /* both re-sent */

    f->act->forget_host(f->wh, "web-1");
    json_t *reqs = requests(f);
    size_t at_forget = json_array_size(reqs);
    json_decref(reqs);
    /* The one re-send that may have been under way, then at least three more. */
    reqs = wait_requests(f, at_forget + 4);
    for (size_t i = at_forget + 1; i < json_array_size(reqs); i++) {
        json_t *r = json_array_get(reqs, i);
        if (request_has(r, "fp-am-moved"))
            fail_msg("request %zu re-sent the alert of a host handed over", i);
        assert_true(request_has(r, "fp-am-kept"));
    }
    json_decref(reqs);
    f->act->destroy(f->wh, 0);
    f->wh = NULL;
    receiver_stop(f);
}

/* Alertmanager: a resolve refused because the queue is full (its firing still being retried) stops
 * the re-sends of its alert all the same, so that Alertmanager resolves it at the endsAt it last
 * got; another alert that fires afterwards is re-sent as usual. */
static void test_alertmanager_refused_resolve_stops_resends(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--path", "/api/v2/alerts", "--fail", "3", "--fail-status", "503", NULL);
    struct vg_receiver_cfg cfg = {.type = "alertmanager",
                                  .resend_interval_ms = 50,
                                  .queue_max = 1,
                                  .max_attempts = 3,
                                  .backoff_initial_ms = 10};
    create_rx(f, &cfg, "/");
    struct vg_notification fire = sample("firing", "fp-am-refused");
    struct vg_notification res = sample("resolved", "fp-am-refused");
    assert_int_equal(f->act->submit(f->wh, &fire), 0);
    /* The firing is the queue's head until its three attempts are spent; resolves of other
     * alerts fill the headroom resolves have past queue_max (16 here). */
    char fill_fp[16][32];
    for (int i = 0; i < 16; i++) {
        snprintf(fill_fp[i], sizeof(fill_fp[i]), "fp-am-fill-%d", i);
        struct vg_notification fill = sample("resolved", fill_fp[i]);
        assert_int_equal(f->act->submit(f->wh, &fill), 0);
    }
    assert_int_equal(f->act->submit(f->wh, &res), -ENOBUFS);
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.dropped == 1 && st.queued == 0);

    struct vg_notification other = sample("firing", "fp-am-other");
    other.series = "mem.used_pct";
    assert_int_equal(f->act->submit(f->wh, &other), 0);
    WAIT_STATS(f, st, st.delivered == 17 && st.resent >= 3);
    f->act->destroy(f->wh, 0);
    f->wh = NULL;

    json_t *reqs = requests(f);
    size_t n = json_array_size(reqs), resends_of_other = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(reqs, i);
        if (i < 3) { /* the firing's three attempts, refused */
            assert_int_equal(json_integer_value(json_object_get(r, "status")), 503);
            assert_true(request_has(r, "fp-am-refused"));
            continue;
        }
        if (request_has(r, "fp-am-refused"))
            fail_msg("request %zu re-sent an alert whose resolve was refused", i);
        resends_of_other += (size_t)request_has(r, "fp-am-other");
    }
    json_decref(reqs);
    assert_true(resends_of_other >= 4); /* its delivery and three re-sends */
    char *log = log_text(f);
    assert_non_null(strstr(log, "alertmanager queue full"));
    free(log);
    receiver_stop(f);
}

/* Alertmanager: a firing replayed from the outbox at start is delivered once but not re-sent: the
 * re-send list is not persisted, and only the analyzer knows whether the alert still fires (it
 * hands one that does over again, adopt). Re-sending it would keep firing for good an alert that
 * resolved before the restart (its resolve delivered, the firing's acknowledgement failed) or
 * that no analyzer holds any more. */
static void test_alertmanager_does_not_resend_a_firing_replayed_from_the_outbox(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--path", "/api/v2/alerts", NULL);
    struct vg_notification old = sample("firing", "fp-am-old");
    const int done[] = {0};
    outbox_prepare_as(f, "alertmanager", &old, done, 1);
    struct vg_receiver_cfg cfg = {
        .type = "alertmanager", .resend_interval_ms = 50, .outbox_dir = f->dir};
    create_rx(f, &cfg, "/");
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.replayed == 1 && st.delivered == 1);
    struct vg_notification b = sample("firing", "fp-am-new");
    b.series = "mem.used_pct";
    assert_int_equal(f->act->submit(f->wh, &b), 0);
    WAIT_STATS(f, st, st.delivered == 2 && st.resent >= 3);
    json_t *reqs = requests(f);
    size_t n = json_array_size(reqs), of_old = 0;
    for (size_t i = 0; i < n; i++)
        of_old += (size_t)request_has(json_array_get(reqs, i), "fp-am-old");
    json_decref(reqs);
    if (of_old != 1)
        fail_msg("the replayed firing was sent %zu times, want once", of_old);

    /* Handed over again by the analyzer, as it does for an alert that still fires: re-sent. */
    assert_int_equal(f->act->adopt(f->wh, &old), 0);
    uint64_t resent = st.resent;
    WAIT_STATS(f, st, st.delivered == 3 && st.resent >= resent + 4);
    f->act->destroy(f->wh, 0);
    f->wh = NULL;
    reqs = requests(f);
    of_old = 0;
    for (size_t i = 0; i < json_array_size(reqs); i++)
        of_old += (size_t)request_has(json_array_get(reqs, i), "fp-am-old");
    json_decref(reqs);
    assert_true(of_old >= 3); /* the replay, the adopt and at least one re-send */
    receiver_stop(f);
}

/* Alertmanager: a re-send batch it refuses for good (a 400: something in that batch it will not
 * take) does not end the round: the batches after it are still re-sent, or one bad alert would let
 * every alert behind it lapse at its endsAt. */
static void test_alertmanager_refused_resend_batch_does_not_stop_the_others(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--path", "/api/v2/alerts", "--fail-match", "fp-am-bad", "--fail-status",
                   "400", NULL);
    struct vg_receiver_cfg cfg = {
        .type = "alertmanager", .resend_interval_ms = 50, .rate_per_s = -1};
    create_rx(f, &cfg, "/");
    struct vg_notification bad = sample("firing", "fp-am-bad");
    assert_int_equal(f->act->submit(f->wh, &bad), 0);
    char fps[64][16];
    for (int i = 0; i < 64; i++) {
        snprintf(fps[i], sizeof(fps[i]), "fp-am-%d", i);
        struct vg_notification n = sample("firing", fps[i]);
        assert_int_equal(f->act->submit(f->wh, &n), 0);
    }
    struct vg_action_stats st;
    /* 65 tracked: the first batch of 64 holds the bad one and is refused; the second, the last
     * alert alone, is taken. */
    WAIT_STATS(f, st, st.dropped == 1 && st.delivered == 64 && st.resent >= 2);
    f->act->destroy(f->wh, 0);
    f->wh = NULL;
    char *log = log_text(f);
    assert_non_null(strstr(log, "re-send of firing alerts failed, the next round retries\" "
                                "receiver=\"alertmanager\""));
    assert_non_null(strstr(log, "alerts=64 status=400"));
    free(log);
    receiver_stop(f);
}

/* Alertmanager: a re-send answered with a redirect (alertmanager.url pointing at an old address)
 * is not a refusal of the alerts in that batch. Redirects are not followed; every batch would be
 * redirected alike, so the round ends there, as for a receiver down, and the alerts stay tracked:
 * once the redirect goes, the next round re-sends them all. It is logged with the location (its
 * query hidden, as the url's is) and counted. It used to be taken for a 4xx: the round went on
 * with the next batch, one more request to the same redirect each. */
static void test_alertmanager_redirected_resend_ends_the_round_and_keeps_the_alerts(void **state)
{
    struct fx *f = *state;
    /* 65 first sends and the first re-send batch redirected; then Alertmanager answers. */
    receiver_start(f, 0, "--path", "/api/v2/alerts", "--fail", "66", "--fail-status", "308",
                   "--location", "http://am-new.example:9093/api/v2/alerts?token=s3cret", NULL);
    struct vg_receiver_cfg cfg = {
        .type = "alertmanager", .resend_interval_ms = 1000, .rate_per_s = -1};
    create_rx(f, &cfg, "/");
    for (int i = 0; i < 65; i++) {
        char fp[16];
        snprintf(fp, sizeof(fp), "fp-am-%d", i);
        struct vg_notification n = sample("firing", fp);
        assert_int_equal(f->act->submit(f->wh, &n), 0);
    }
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.resent >= 65);
    assert_int_equal(st.redirects, 66);
    assert_int_equal(st.delivered, 0);
    json_t *reqs = wait_requests(f, 67);
    json_t *moved = json_array_get(reqs, 65), *next = json_array_get(reqs, 66);
    assert_int_equal(json_integer_value(json_object_get(moved, "status")), 308);
    assert_int_equal(json_array_size(json_object_get(moved, "body")), 64);
    /* The next request starts a new round (the first 64 again), not the batch after the
     * redirected one. */
    assert_int_equal(json_integer_value(json_object_get(next, "status")), 200);
    assert_int_equal(json_array_size(json_object_get(next, "body")), 64);
    json_decref(reqs);
    f->act->destroy(f->wh, 0);
    f->wh = NULL;
    char *log = log_text(f);
    assert_non_null(strstr(log, "re-send of firing alerts redirected: redirects are not followed, "
                                "fix the receiver's url; the next round retries\" "
                                "receiver=\"alertmanager\""));
    assert_non_null(strstr(log, "alerts=64 status=308 "
                                "location=\"http://am-new.example:9093/api/v2/alerts?...\""));
    assert_non_null(strstr(log, "msg=\"alertmanager redirected: redirects are not followed, fix "
                                "the receiver's url; notification dropped (not retried)\""));
    assert_null(strstr(log, "s3cret"));
    free(log);
    receiver_stop(f);
}

/* Slack: text and blocks reach the webhook; its URL is the credential and never logged whole. */
static void test_slack_message_arrives_and_its_url_is_not_logged(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--fail", "1", NULL);
    struct vg_receiver_cfg cfg = {.type = "slack", .backoff_initial_ms = 10};
    create_rx(f, &cfg, "/services/T000/B000/S3cr3tSl4ckP4th");
    struct vg_notification n = sample("firing", "fp-slack");
    assert_int_equal(f->act->submit(f->wh, &n), 0);
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.delivered == 1);
    json_t *reqs = wait_requests(f, 2);
    json_t *b = json_object_get(json_array_get(reqs, 1), "body");
    assert_str(json_array_get(reqs, 1), "path", NULL, "/services/T000/B000/S3cr3tSl4ckP4th");
    assert_non_null(strstr(jget_str(b, "text", NULL), "[FIRING] web-1: cpu.user_pct"));
    assert_true(json_array_size(json_object_get(b, "blocks")) >= 3);
    json_decref(reqs);
    char *log = log_text(f);
    assert_non_null(strstr(log, "slack attempt failed, will retry"));
    assert_null(strstr(log, "S3cr3tSl4ckP4th"));
    char want[64];
    snprintf(want, sizeof(want), "url=\"http://127.0.0.1:%d/...\"", f->port);
    assert_non_null(strstr(log, want));
    free(log);
}

/* A generic webhook's user:password and query are left out of its log lines; the path stays, so
 * that an operator can tell receivers apart (docs/alerts.md). --check-config shows the same form
 * (vg_url_redact). */
static void test_webhook_url_is_logged_without_userinfo_or_query(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--fail", "1", NULL);
    char url[160];
    snprintf(url, sizeof(url), "http://vigil:Us3rP4ss@127.0.0.1:%d/hook?token=Qu3ryT0k3n#frag",
             f->port);
    struct vg_receiver_cfg cfg = {.type = "webhook", .url = url, .backoff_initial_ms = 10};
    create_rx(f, &cfg, NULL);
    struct vg_notification n = sample("firing", "fp-redact");
    assert_int_equal(f->act->submit(f->wh, &n), 0);
    struct vg_action_stats st;
    WAIT_STATS(f, st, st.delivered == 1);
    char *log = log_text(f);
    assert_non_null(strstr(log, "webhook attempt failed, will retry"));
    char want[64];
    snprintf(want, sizeof(want), "url=\"http://127.0.0.1:%d/hook?...\"", f->port);
    assert_non_null(strstr(log, want));
    assert_null(strstr(log, "Us3rP4ss"));
    assert_null(strstr(log, "Qu3ryT0k3n"));
    assert_null(strstr(log, "frag"));
    free(log);
}

struct decided {
    struct vg_decisions *d;
    struct vg_engine *e;
    struct vg_rule_set *set; /* borrowed by d */
};

/* One scaling decision that changes the replica count (web: 1 -> 10), handed to vg_decisions'
 * webhook thread, which posts it to cfg's webhook_url. */
static struct decided decide_once(const struct vg_decisions_cfg *cfg)
{
    char err[2048];
    struct vg_rule_set *set = NULL;
    const char *y = "scaling:\n"
                    "  - target: web\n"
                    "    metric: value(\"q.depth\")\n"
                    "    target_value: 50\n"
                    "    min: 1\n"
                    "    max: 20\n"
                    "    initial: 1\n"
                    "    interval: 1s\n";
    if (vg_rule_set_load_buffer("t.yaml", y, strlen(y), &set, err, sizeof(err)))
        fail_msg("%s", err);
    struct vg_engine_params p = {
        .detector = &vg_detector_ewma,
        .dp =
            {.alpha = 0.05, .alpha_outlier = 0.005, .warmup = 10, .clip_k = 3, .min_std_abs = 0.1},
        .ap = {.threshold = 0.999},
        .max_hosts = 10,
        .max_series_per_host = 10,
    };
    struct vg_engine *e = NULL;
    assert_int_equal(vg_engine_new(&e, &p, err, sizeof(err)), 0);
    struct vg_wire_msg m;
    vg_wire_msg_init(&m);
    m.version = 1;
    snprintf(m.host, sizeof(m.host), "h1");
    snprintf(m.boot, sizeof(m.boot), "b");
    m.seq = 1;
    m.ts_ms = vg_now_ms() - 1000;
    m.interval_ms = 1000;
    assert_int_equal(vg_wire_msg_add_metric(&m, "q.depth", 500, NULL, 0), 0);
    assert_int_equal(vg_engine_process(e, &m, NULL, NULL), 0);
    vg_wire_msg_free(&m);

    struct vg_decisions *d = NULL;
    if (vg_decisions_new(&d, cfg, err, sizeof(err)))
        fail_msg("%s", err);
    assert_int_equal(vg_decisions_set_policies(d, set), 0);
    vg_decisions_tick(d, e);
    struct vg_decisions_stats st;
    vg_decisions_get_stats(d, &st);
    assert_int_equal(st.changes, 1);
    return (struct decided){.d = d, .e = e, .set = set};
}

static void decided_free(struct decided *k)
{
    vg_decisions_free(k->d);
    vg_engine_free(k->e);
    vg_rule_set_free(k->set);
}

/* decide_once, returning once the post succeeded or was given up. */
static void post_one_decision(const char *url, struct vg_decisions_stats *st)
{
    struct vg_decisions_cfg cfg = {
        .webhook_url = url, .webhook_timeout_ms = 5000, .drain_ms = WAIT_MS};
    struct decided k = decide_once(&cfg);
    int64_t end = vg_mono_ms() + WAIT_MS;
    do {
        nap();
        vg_decisions_get_stats(k.d, st);
    } while (st->webhook_sent + st->webhook_errors == 0 && vg_mono_ms() < end);
    assert_int_equal(st->changes, 1);
    decided_free(&k);
}

/* A post already in flight when the stop comes is cut short at the drain's deadline rather than
 * running for the whole webhook timeout: with a receiver that never answers, drain_timeout 300 ms
 * and a 20 s webhook timeout, the stop is over in well under 10 s (the post ran the full 20 s when
 * its timeout was only set as it started), and the log says the post was cut. */
static void test_scaling_webhook_post_in_flight_is_cut_at_the_drain_deadline(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--stall-ms", "60000", NULL);
    char url[160];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/scale", f->port);
    struct vg_decisions_cfg cfg = {
        .webhook_url = url, .webhook_timeout_ms = 20000, .drain_ms = 300};
    struct decided k = decide_once(&cfg);
    json_decref(wait_requests(f, 1)); /* in flight, held by the receiver */

    int64_t t0 = vg_mono_ms();
    vg_decisions_stop(k.d, vg_mono_ms() + 300);
    struct vg_decisions_stats st;
    do {
        nap();
        vg_decisions_get_stats(k.d, &st);
    } while (st.webhook_errors == 0 && vg_mono_ms() < t0 + WAIT_MS);
    int64_t took = vg_mono_ms() - t0;
    decided_free(&k);
    assert_int_equal(st.webhook_sent, 0);
    assert_int_equal(st.webhook_errors, 1);
    if (took > 10000)
        fail_msg("the post in flight ended %lld ms after the stop, drain_timeout 300 ms",
                 (long long)took);
    json_t *got = requests(f);
    assert_int_equal(json_array_size(got), 1); /* not retried past the deadline */
    json_decref(got);
    char *log = log_text(f);
    char want[256];
    snprintf(want, sizeof(want),
             "msg=\"scaling decision webhook post cut short at the drain deadline, decision not "
             "posted\" target=web url=\"http://127.0.0.1:%d/scale\" attempts=1",
             f->port);
    if (!strstr(log, want))
        fail_msg("no log line with %s in:\n%s", want, log);
    free(log);
}

/* A decision the scaling webhook could not post is logged with its target, the url as every
 * receiver's is shown (no user:password, no query), the last status and the attempts, and
 * counted. A 503 is retried (3 attempts); a 401 is not: it will not get better. */
static void test_scaling_webhook_failure_logs_target_url_status_and_attempts(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *status;
        int attempts;
        const char *msg;
    } cases[] = {
        {"503", 3, "scaling decision webhook failed, decision not posted"},
        {"401", 1, "scaling decision webhook refused the decision, not retried"},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        unlink(f->out);
        receiver_start(f, 0, "--fail", "100", "--fail-status", cases[i].status, NULL);
        char url[160];
        snprintf(url, sizeof(url), "http://vigil:Us3rP4ss@127.0.0.1:%d/scale?token=Qu3ryT0k3n",
                 f->port);
        struct vg_decisions_stats st;
        post_one_decision(url, &st);
        assert_int_equal(st.webhook_sent, 0);
        assert_int_equal(st.webhook_errors, 1);
        json_t *got = requests(f);
        assert_int_equal(json_array_size(got), cases[i].attempts);
        json_decref(got);
        receiver_stop(f);

        char *log = log_text(f);
        char want[512];
        snprintf(want, sizeof(want),
                 "msg=\"%s\" target=web url=\"http://127.0.0.1:%d/scale?...\" status=%s "
                 "attempts=%d",
                 cases[i].msg, f->port, cases[i].status, cases[i].attempts);
        if (!strstr(log, want))
            fail_msg("no log line with %s in:\n%s", want, log);
        assert_null(strstr(log, "Us3rP4ss"));
        assert_null(strstr(log, "Qu3ryT0k3n"));
        free(log);
    }
}

/* The decision webhook is the one that changes a cluster: with decisions.webhook_secret_file its
 * posts carry X-Vigil-Timestamp and X-Vigil-Signature over "<timestamp>.<body>", which a receiver
 * checking them (vigil-test-receiver --hmac-secret-file, constant-time, 30 s replay window) takes;
 * the same receiver refuses an unsigned post with 401. */
static void test_scaling_webhook_is_signed_with_its_secret_file(void **state)
{
    struct fx *f = *state;
    const char *key = "decision-signing-key-0123456789";
    char kfile[160];
    write_secret(f, "dec.key", "decision-signing-key-0123456789\n", kfile, sizeof(kfile));
    receiver_start(f, 0, "--hmac-secret-file", kfile, "--max-age", "30", "--raw-body", NULL);
    char url[160];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/scale", f->port);
    struct vg_decisions_cfg cfg = {.webhook_url = url,
                                   .webhook_timeout_ms = 5000,
                                   .drain_ms = WAIT_MS,
                                   .webhook_secret_file = kfile};
    int64_t before = vg_now_ms() / 1000;
    struct decided k = decide_once(&cfg);
    struct vg_decisions_stats st;
    int64_t end = vg_mono_ms() + WAIT_MS;
    do {
        nap();
        vg_decisions_get_stats(k.d, &st);
    } while (st.webhook_sent + st.webhook_errors == 0 && vg_mono_ms() < end);
    decided_free(&k);
    int64_t after = vg_now_ms() / 1000;
    assert_int_equal(st.webhook_errors, 0);
    assert_int_equal(st.webhook_sent, 1);
    json_t *reqs = wait_requests(f, 1);
    json_t *r = json_array_get(reqs, 0);
    assert_str(r, "signature", NULL, "valid");
    const char *ts = jget_str(r, "headers", "x-vigil-timestamp");
    assert_non_null(ts);
    assert_true(atoll(ts) >= before && atoll(ts) <= after);
    char want[80];
    signature_of(key, ts, jget_str(r, "body_raw", NULL), want);
    assert_str(r, "headers", "x-vigil-signature", want);
    json_decref(reqs);
    char *log = log_text(f);
    assert_null(strstr(log, key));
    free(log);

    /* Without the key file the post is unsigned, and the checking receiver refuses it. */
    receiver_stop(f);
    unlink(f->out);
    receiver_start(f, 0, "--hmac-secret-file", kfile, NULL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/scale", f->port);
    post_one_decision(url, &st);
    assert_int_equal(st.webhook_sent, 0);
    assert_int_equal(st.webhook_errors, 1);
    reqs = wait_requests(f, 1);
    assert_str(json_array_get(reqs, 0), "signature", NULL, "missing");
    json_decref(reqs);
    receiver_stop(f);
}

/* Nobody listening: the curl error is what the line states. */
static void test_scaling_webhook_unreachable_logs_the_transport_error(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, NULL);
    int port = f->port;
    receiver_stop(f);
    char url[160];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/scale", port);
    struct vg_decisions_stats st;
    post_one_decision(url, &st);
    assert_int_equal(st.webhook_errors, 1);
    char *log = log_text(f);
    char want[256];
    snprintf(want, sizeof(want),
             "msg=\"scaling decision webhook failed, decision not posted\" target=web "
             "url=\"http://127.0.0.1:%d/scale\" curl_code=7 error=\"",
             port);
    if (!strstr(log, want))
        fail_msg("no log line with %s in:\n%s", want, log);
    assert_non_null(strstr(log, "attempts=3"));
    free(log);
}

/* A 429 or 503 with Retry-After: the scaling webhook waits as told before its next attempt, as the
 * alert receivers do, rather than after its own 400 ms. */
static void test_scaling_webhook_honours_retry_after(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, "--fail", "1", "--fail-status", "429", "--retry-after", "2", NULL);
    char url[160];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/scale", f->port);
    struct vg_decisions_stats st;
    post_one_decision(url, &st);
    assert_int_equal(st.webhook_sent, 1);
    assert_int_equal(st.webhook_errors, 0);
    json_t *reqs = wait_requests(f, 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(reqs, 0), "status")), 429);
    int64_t gap = json_integer_value(json_object_get(json_array_get(reqs, 1), "recv_ms")) -
                  json_integer_value(json_object_get(json_array_get(reqs, 0), "recv_ms"));
    json_decref(reqs);
    /* Without Retry-After the wait is 400 ms; only a lower bound, which slowness cannot break. */
    if (gap < 1990)
        fail_msg("second attempt came %lld ms after the 429, want >= 2000", (long long)gap);
    receiver_stop(f);
}

/* The scheme of decisions.webhook_url is taken in any case, as --check-config and the alert
 * receivers take it: a url that passes the check must not fail the start. */
static void test_scaling_webhook_url_scheme_in_capitals_is_taken(void **state)
{
    struct fx *f = *state;
    receiver_start(f, 0, NULL);
    char url[160];
    snprintf(url, sizeof(url), "HTTP://127.0.0.1:%d/scale", f->port);
    struct vg_decisions_stats st;
    post_one_decision(url, &st);
    assert_int_equal(st.webhook_sent, 1);
    json_decref(wait_requests(f, 1));
    receiver_stop(f);
}

int main(void)
{
    /* The tests read the log lines of retries, and those of one test would use up another's
     * budget under the log's rate limit (tested in test_log). */
    vg_log_set_rate_limit(0, 10000);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_action_table_finds_the_four_receiver_types),
        cmocka_unit_test_setup_teardown(
            test_scaling_webhook_failure_logs_target_url_status_and_attempts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scaling_webhook_is_signed_with_its_secret_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scaling_webhook_honours_retry_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scaling_webhook_url_scheme_in_capitals_is_taken, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scaling_webhook_unreachable_logs_the_transport_error,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_scaling_webhook_post_in_flight_is_cut_at_the_drain_deadline, setup, teardown),
        cmocka_unit_test(test_non_finite_numbers_encode_as_null),
        cmocka_unit_test(test_invalid_utf8_labels_are_replaced),
        cmocka_unit_test_setup_teardown(test_create_rejects_bad_urls_and_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_firing_and_resolved_arrive_with_documented_fields,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_retries_5xx_until_delivered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retryable_500_is_logged_with_the_receivers_answer,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_permanent_400_is_dropped_without_retry, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_receiver_started_late_still_gets_alert, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_queue_full_counted_while_receiver_stalls, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stall_beyond_timeout_is_attempt_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_is_honoured_and_capped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_drains_queue_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_interrupts_backoff_and_drops_rest, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_large_body_arrives_whole_and_413_is_permanent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_receiver_down_for_a_while_gets_every_alert_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_a_resolve_failing_past_max_attempts_is_delivered_when_the_receiver_recovers, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_a_notification_still_failing_at_max_age_is_dropped_and_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_an_alert_failing_for_good_does_not_hold_back_other_alerts, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_resolve_queued_behind_its_firing_is_sent_alone_in_its_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_coalesced_firing_is_not_replayed_from_the_outbox,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_pending_firing_whose_resolve_was_delivered_is_not_replayed, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_pending_firing_and_its_pending_resolve_replay_the_resolve_alone, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_a_full_queue_takes_the_resolve_of_a_delivered_firing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_full_queue_takes_a_resolve_that_replaces_its_firing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_resolve_behind_its_failing_firing_in_flight_replaces_it, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_an_overdue_notification_is_retried_while_a_backlog_drains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overdue_retries_take_turns_with_fresh_notifications,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_overdue_notification_is_retried_every_backoff_max,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_restart_keeps_old_notifications_overdue, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_max_age_does_not_count_a_downtime_against_a_replayed_notification, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_429_with_retry_after_is_honoured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit_spaces_requests_and_drops_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hmac_signature_header_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_retry_is_signed_with_its_own_timestamp, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_pagerduty_202_delivers_and_400_is_final_without_leaking_the_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alertmanager_resends_a_firing_it_gave_up_on, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_alertmanager_resends_firing_alerts_until_resolved,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_alertmanager_stops_resending_a_host_handed_over, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_alertmanager_does_not_resend_a_firing_replayed_from_the_outbox, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_alertmanager_refused_resend_batch_does_not_stop_the_others, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_alertmanager_redirected_resend_ends_the_round_and_keeps_the_alerts, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_alertmanager_refused_resolve_stops_resends, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_slack_message_arrives_and_its_url_is_not_logged, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_webhook_url_is_logged_without_userinfo_or_query, setup,
                                        teardown),
    };
    return vg_tp_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
