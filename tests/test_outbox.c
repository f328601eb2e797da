/* The persistent outbox: records survive a reopen and a SIGKILLed process, damage (a torn tail, a
 * flipped byte) is detected, logged with file and offset, and skipped, compaction keeps exactly
 * the pending records, and a full outbox refuses with -ENOBUFS and counts it. Also measures what
 * the fdatasync per submit costs on this machine (printed, not asserted).
 */
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vg_testproc.h"

#include "vg_action.h"
#include "vg_outbox.h"
#include "vg_util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RECEIVER_BIN VG_BIN_DIR "/tests/receiver/vigil-test-receiver"
#define WAIT_MS      15000 /* upper bound for things that normally take milliseconds */
#define HDR          16    /* file header */
#define RECHDR       24    /* record header */

struct fx {
    char dir[64];  /* the test's scratch directory */
    char obox[96]; /* outbox_dir inside it */
    char out[128];
    char port_file[128];
    char log[128];
    pid_t rx_pid;
    int port;
    int saved_stderr;
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

/* stderr goes to a file so that the tests can read the log lines; teardown copies it back. */
static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/vg-test-outbox-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->obox, sizeof(f->obox), "%s/outbox", f->dir);
    snprintf(f->out, sizeof(f->out), "%s/requests.jsonl", f->dir);
    snprintf(f->port_file, sizeof(f->port_file), "%s/port", f->dir);
    snprintf(f->log, sizeof(f->log), "%s/log", f->dir);
    f->rx_pid = -1;
    fflush(stderr);
    f->saved_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    assert_true(f->saved_stderr >= 0);
    int fd = open(f->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_true(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
    close(fd);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
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
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    return 0;
}

static char *log_text(struct fx *f)
{
    fflush(stderr);
    return slurp(f->log);
}

static struct vg_outbox *ob_open(struct fx *f, size_t max_records, size_t max_bytes,
                                 size_t compact_bytes)
{
    struct vg_outbox_cfg c = {.dir = f->obox,
                              .name = "rx",
                              .max_records = max_records,
                              .max_bytes = max_bytes,
                              .compact_bytes = compact_bytes};
    struct vg_outbox *ob = NULL;
    char err[VG_ERRLEN] = "";
    int rc = vg_outbox_open(&ob, &c, err, sizeof(err));
    if (rc != 0)
        fail_msg("vg_outbox_open: %d %s", rc, err);
    return ob;
}

static uint64_t append_text(struct vg_outbox *ob, const char *text)
{
    uint64_t seq = 0;
    assert_int_equal(vg_outbox_append(ob, text, strlen(text), &seq), 0);
    assert_true(seq > 0);
    return seq;
}

struct seen {
    char payload[64][64];
    uint64_t seq[64];
    size_t n;
};

static int collect(void *ud, uint64_t seq, const void *payload, size_t len)
{
    struct seen *s = ud;
    assert_true(s->n < 64 && len < 64);
    memcpy(s->payload[s->n], payload, len);
    s->payload[s->n][len] = '\0';
    s->seq[s->n++] = seq;
    return 0;
}

static struct seen replay_all(struct vg_outbox *ob)
{
    struct seen s;
    memset(&s, 0, sizeof(s));
    assert_int_equal(vg_outbox_replay(ob, collect, &s), 0);
    return s;
}

/* stat() of the outbox file in f. */
static struct stat outbox_stat(struct fx *f)
{
    char p[160];
    snprintf(p, sizeof(p), "%s/rx.outbox", f->obox);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    return st;
}

static off_t file_size(struct fx *f)
{
    return outbox_stat(f).st_size;
}

static void patch_file(struct fx *f, off_t off, unsigned char xor_mask)
{
    char p[160];
    snprintf(p, sizeof(p), "%s/rx.outbox", f->obox);
    int fd = open(p, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, off), 1);
    c ^= xor_mask;
    assert_int_equal(pwrite(fd, &c, 1, off), 1);
    close(fd);
}

/* ---- codec ---- */

static void test_codec_round_trips_every_field(void **state)
{
    const char *keys[] = {"env", NULL, "bad\xff"};
    const char *vals[] = {"prod", "orphan", NULL};
    const struct vg_top_metric top[] = {{"cpu.user_pct", 51.2, 0.62}, {NULL, NAN, -INFINITY}};
    const char *akeys[] = {"summary", "runbook"};
    const char *avals[] = {"web-1 is slow", ""};
    struct vg_notification n = {
        .status = "firing",
        .alertname = "anomaly",
        .host = "web-\xfe",
        .series = "cpu.user_pct",
        .fingerprint = "3f2a9c0d1e7b4a55",
        .severity = NULL,
        .score = NAN,
        .value = -0.0,
        .threshold = INFINITY,
        .starts_at_ms = -5,
        .ends_at_ms = INT64_MAX,
        .event_ts_ms = INT64_MIN,
        .accepted_ms = 1795438800128LL,
        .label_keys = keys,
        .label_values = vals,
        .n_labels = 3,
        .summary = "custom summary",
        .top_metrics = top,
        .n_top_metrics = 2,
        .annotation_keys = akeys,
        .annotation_values = avals,
        .n_annotations = 2,
        .repeat = 7,
    };
    unsigned char *buf;
    size_t len;
    assert_int_equal(vg_outbox_encode(&n, &buf, &len), 0);
    struct vg_notification d;
    void *arrays;
    assert_int_equal(vg_outbox_decode(buf, len, &d, &arrays), 0);
    assert_string_equal(d.status, "firing");
    assert_string_equal(d.alertname, "anomaly");
    assert_string_equal(d.host, "web-\xfe");
    assert_string_equal(d.series, "cpu.user_pct");
    assert_string_equal(d.fingerprint, "3f2a9c0d1e7b4a55");
    assert_null(d.severity);
    assert_string_equal(d.summary, "custom summary");
    assert_true(isnan(d.score));
    assert_true(d.value == 0 && signbit(d.value));
    assert_true(isinf(d.threshold) && d.threshold > 0);
    assert_true(d.starts_at_ms == -5);
    assert_true(d.ends_at_ms == INT64_MAX);
    assert_true(d.event_ts_ms == INT64_MIN);
    assert_true(d.accepted_ms == 1795438800128LL);
    assert_int_equal(d.n_labels, 3);
    assert_string_equal(d.label_keys[0], "env");
    assert_null(d.label_keys[1]);
    assert_string_equal(d.label_keys[2], "bad\xff");
    assert_string_equal(d.label_values[1], "orphan");
    assert_null(d.label_values[2]);
    assert_int_equal(d.n_top_metrics, 2);
    assert_string_equal(d.top_metrics[0].name, "cpu.user_pct");
    assert_true(d.top_metrics[0].value == 51.2 && d.top_metrics[0].contribution == 0.62);
    assert_null(d.top_metrics[1].name);
    assert_true(isnan(d.top_metrics[1].value) && isinf(d.top_metrics[1].contribution));
    assert_int_equal(d.n_annotations, 2);
    assert_string_equal(d.annotation_keys[0], "summary");
    assert_string_equal(d.annotation_values[0], "web-1 is slow");
    assert_string_equal(d.annotation_keys[1], "runbook");
    assert_string_equal(d.annotation_values[1], "");
    assert_int_equal(d.repeat, 7);
    free(arrays);

    /* Every truncation, trailing bytes and another version are refused, never misread. */
    for (size_t cut = 0; cut < len; cut++) {
        if (vg_outbox_decode(buf, cut, &d, &arrays) != -EINVAL)
            fail_msg("a payload cut to %zu of %zu bytes was accepted", cut, len);
    }
    unsigned char *longer = malloc(len + 1);
    assert_non_null(longer);
    memcpy(longer, buf, len);
    longer[len] = 0;
    assert_int_equal(vg_outbox_decode(longer, len + 1, &d, &arrays), -EINVAL);
    longer[0] = 99;
    assert_int_equal(vg_outbox_decode(longer, len, &d, &arrays), -EINVAL);
    free(longer);
    free(buf);
}

/* ---- the file ---- */

static void test_pending_records_survive_reopen_in_order(void **state)
{
    struct fx *f = *state;
    struct vg_outbox *ob = ob_open(f, 0, 0, 0);
    uint64_t s[5];
    char text[16];
    for (int i = 0; i < 5; i++) {
        snprintf(text, sizeof(text), "rec-%d", i);
        s[i] = append_text(ob, text);
    }
    assert_true(s[0] < s[1] && s[1] < s[2] && s[2] < s[3] && s[3] < s[4]);
    assert_int_equal(vg_outbox_ack(ob, s[0]), 0);
    assert_int_equal(vg_outbox_ack(ob, s[2]), 0); /* out of order is allowed */
    assert_int_equal(vg_outbox_ack(ob, s[2]), -ENOENT);
    struct vg_outbox_stats st;
    vg_outbox_get_stats(ob, &st);
    assert_int_equal(st.pending, 3);
    assert_int_equal(st.appended, 5);
    assert_int_equal(st.acked, 2);
    /* Every append and every ack was made durable before it returned. */
    assert_true(st.syncs >= 7);
    vg_outbox_close(ob);

    ob = ob_open(f, 0, 0, 0);
    struct seen seen = replay_all(ob);
    assert_int_equal(seen.n, 3);
    assert_string_equal(seen.payload[0], "rec-1");
    assert_string_equal(seen.payload[1], "rec-3");
    assert_string_equal(seen.payload[2], "rec-4");
    assert_true(seen.seq[0] == s[1] && seen.seq[1] == s[3] && seen.seq[2] == s[4]);
    /* The acked records were dropped by rewriting the file at open. */
    vg_outbox_get_stats(ob, &st);
    assert_int_equal(st.compactions, 1);
    assert_int_equal(file_size(f), HDR + 3 * (RECHDR + 5));
    /* New records get new seqs, after the old ones. */
    assert_true(append_text(ob, "rec-5") > s[4]);
    vg_outbox_close(ob);
    char *log = log_text(f);
    assert_null(strstr(log, "outbox record skipped"));
    free(log);
}

static void test_everything_acked_cuts_the_file_to_its_header(void **state)
{
    struct fx *f = *state;
    struct vg_outbox *ob = ob_open(f, 0, 0, 0);
    uint64_t a = append_text(ob, "one"), b = append_text(ob, "two");
    assert_true(file_size(f) > HDR);
    assert_int_equal(vg_outbox_ack(ob, a), 0);
    assert_true(file_size(f) > HDR);
    assert_int_equal(vg_outbox_ack(ob, b), 0);
    assert_int_equal(file_size(f), HDR);
    vg_outbox_close(ob);
    ob = ob_open(f, 0, 0, 0);
    assert_int_equal(replay_all(ob).n, 0);
    vg_outbox_close(ob);
}

static void test_torn_tail_is_detected_logged_and_skipped(void **state)
{
    struct fx *f = *state;
    struct vg_outbox *ob = ob_open(f, 0, 0, 0);
    for (int i = 0; i < 4; i++)
        append_text(ob, i == 3 ? "rec-3-is-torn" : "rec-x");
    vg_outbox_close(ob);
    /* A crash in the middle of writing the last record. */
    off_t last = HDR + 3 * (RECHDR + 5);
    char p[160];
    snprintf(p, sizeof(p), "%s/rx.outbox", f->obox);
    assert_int_equal(truncate(p, last + RECHDR + 4), 0);

    ob = ob_open(f, 0, 0, 0);
    struct seen seen = replay_all(ob);
    assert_int_equal(seen.n, 3);
    struct vg_outbox_stats st;
    vg_outbox_get_stats(ob, &st);
    assert_int_equal(st.corrupt, 1);
    vg_outbox_close(ob);
    char *log = log_text(f);
    const char *line = strstr(log, "outbox record skipped");
    assert_non_null(line);
    char want[256];
    snprintf(want, sizeof(want), "file=\"%s\" offset=%lld bytes=%d reason=\"torn: ", p,
             (long long)last, RECHDR + 4);
    if (!strstr(line, want))
        fail_msg("log line lacks %s:\n%s", want, line);
    free(log);

    /* The damage was rewritten away at that open: no second report. */
    ob = ob_open(f, 0, 0, 0);
    assert_int_equal(replay_all(ob).n, 3);
    vg_outbox_get_stats(ob, &st);
    assert_int_equal(st.corrupt, 0);
    vg_outbox_close(ob);
}

static void test_flipped_bytes_are_detected_and_reading_resumes(void **state)
{
    struct fx *f = *state;
    struct vg_outbox *ob = ob_open(f, 0, 0, 0);
    char text[16];
    for (int i = 0; i < 6; i++) {
        snprintf(text, sizeof(text), "rec-%d", i);
        append_text(ob, text);
    }
    vg_outbox_close(ob);
    off_t rec1 = HDR + 1 * (RECHDR + 5), rec3 = HDR + 3 * (RECHDR + 5);
    patch_file(f, rec1 + RECHDR + 2, 0x01); /* a payload bit of record 1 */
    patch_file(f, rec3 + 16, 0x40);         /* the length field of record 3 */

    ob = ob_open(f, 0, 0, 0);
    struct seen seen = replay_all(ob);
    assert_int_equal(seen.n, 4);
    assert_string_equal(seen.payload[0], "rec-0");
    assert_string_equal(seen.payload[1], "rec-2");
    assert_string_equal(seen.payload[2], "rec-4");
    assert_string_equal(seen.payload[3], "rec-5");
    vg_outbox_close(ob);
    char *log = log_text(f);
    char want[128];
    snprintf(want, sizeof(want), "offset=%lld bytes=%d reason=\"crc mismatch\"", (long long)rec1,
             RECHDR + 5);
    if (!strstr(log, want))
        fail_msg("no log line with %s in:\n%s", want, log);
    snprintf(want, sizeof(want), "offset=%lld bytes=%d reason=", (long long)rec3, RECHDR + 5);
    if (!strstr(log, want))
        fail_msg("no log line with %s in:\n%s", want, log);
    free(log);
}

static void test_compaction_keeps_exactly_the_pending_records(void **state)
{
    struct fx *f = *state;
    struct vg_outbox *ob = ob_open(f, 0, 0, 1024);
    uint64_t s[40];
    char text[64];
    for (int i = 0; i < 40; i++) {
        snprintf(text, sizeof(text), "record-%02d-%040d", i, i);
        s[i] = append_text(ob, text);
    }
    off_t full = file_size(f);
    /* Everything but 7 and 30..39 done, in order, as delivery does. */
    for (int i = 0; i < 30; i++) {
        if (i != 7)
            assert_int_equal(vg_outbox_ack(ob, s[i]), 0);
    }
    struct vg_outbox_stats st;
    vg_outbox_get_stats(ob, &st);
    assert_true(st.compactions >= 1);
    assert_int_equal(st.pending, 11);
    assert_true(file_size(f) < full);
    assert_true(st.file_bytes == (uint64_t)file_size(f));
    /* Still appendable and acknowledgeable after the file was swapped under it. */
    uint64_t extra = append_text(ob, "after-compaction");
    assert_int_equal(vg_outbox_ack(ob, s[30]), 0);
    vg_outbox_close(ob);

    ob = ob_open(f, 0, 0, 1024);
    struct seen seen = replay_all(ob);
    assert_int_equal(seen.n, 11);
    snprintf(text, sizeof(text), "record-%02d-%040d", 7, 7);
    assert_string_equal(seen.payload[0], text);
    assert_true(seen.seq[0] == s[7]);
    for (int i = 31; i < 40; i++) {
        snprintf(text, sizeof(text), "record-%02d-%040d", i, i);
        assert_string_equal(seen.payload[i - 30], text);
        assert_true(seen.seq[i - 30] == s[i]);
    }
    assert_string_equal(seen.payload[10], "after-compaction");
    assert_true(seen.seq[10] == extra);
    vg_outbox_close(ob);
    char *log = log_text(f);
    assert_null(strstr(log, "outbox record skipped"));
    free(log);
}

static void test_full_outbox_refuses_with_enobufs_and_counts(void **state)
{
    struct fx *f = *state;
    struct vg_outbox *ob = ob_open(f, 3, 100, 0);
    uint64_t a = append_text(ob, "a");
    uint64_t b = append_text(ob, "b");
    append_text(ob, "c");
    uint64_t seq;
    assert_int_equal(vg_outbox_append(ob, "d", 1, &seq), -ENOBUFS);
    assert_int_equal(vg_outbox_ack(ob, a), 0);
    append_text(ob, "d");
    char big[120];
    memset(big, 'x', sizeof(big));
    assert_int_equal(vg_outbox_ack(ob, b), 0);
    assert_int_equal(vg_outbox_append(ob, big, 99, &seq), -ENOBUFS); /* 2 + 99 > 100 */
    struct vg_outbox_stats st;
    vg_outbox_get_stats(ob, &st);
    assert_int_equal(st.full, 2);
    assert_int_equal(st.pending, 2);
    assert_int_equal(vg_outbox_append(ob, big, 98, &seq), 0); /* exactly full */
    vg_outbox_close(ob);
}

/* A record appended past the limits (a resolve about to let its firing's go) is taken, and the
 * limits apply again to the next one. */
static void test_an_append_over_the_limit_is_taken_when_asked_for(void **state)
{
    struct fx *f = *state;
    struct vg_outbox *ob = ob_open(f, 2, 100, 0);
    uint64_t a = append_text(ob, "a");
    append_text(ob, "b");
    uint64_t seq = 0;
    assert_int_equal(vg_outbox_append(ob, "c", 1, &seq), -ENOBUFS);
    assert_int_equal(vg_outbox_append_ex(ob, "c", 1, &seq, VG_OUTBOX_OVER_LIMIT), 0);
    assert_int_equal(vg_outbox_ack(ob, a), 0);
    assert_int_equal(vg_outbox_append(ob, "d", 1, &seq), -ENOBUFS); /* still 2 pending */
    struct vg_outbox_stats st;
    vg_outbox_get_stats(ob, &st);
    assert_int_equal(st.pending, 2);
    vg_outbox_close(ob);
}

/* Records appended with VG_OUTBOX_NO_SYNC wait for no fdatasync each: one vg_outbox_sync covers
 * them all, and a second, or one after an ack (whose fdatasync flushed them too), has nothing to
 * do. After a reopen they are pending as any others, in order. */
static void test_appends_without_sync_share_one_fdatasync(void **state)
{
    struct fx *f = *state;
    struct vg_outbox *ob = ob_open(f, 0, 0, 0);
    struct vg_outbox_stats st0, st;
    vg_outbox_get_stats(ob, &st0);
    uint64_t seq[6];
    for (int i = 0; i < 5; i++)
        assert_int_equal(vg_outbox_append_ex(ob, "batched", 7, &seq[i], VG_OUTBOX_NO_SYNC), 0);
    vg_outbox_get_stats(ob, &st);
    assert_int_equal(st.syncs, st0.syncs);
    assert_int_equal(st.pending, 5);
    assert_int_equal(vg_outbox_sync(ob), 0);
    assert_int_equal(vg_outbox_sync(ob), 0);
    vg_outbox_get_stats(ob, &st);
    assert_int_equal(st.syncs, st0.syncs + 1);
    assert_int_equal(vg_outbox_append_ex(ob, "last", 4, &seq[5], VG_OUTBOX_NO_SYNC), 0);
    assert_int_equal(vg_outbox_ack(ob, seq[1]), 0);
    assert_int_equal(vg_outbox_sync(ob), 0);
    vg_outbox_get_stats(ob, &st);
    assert_int_equal(st.syncs, st0.syncs + 2);
    vg_outbox_close(ob);

    ob = ob_open(f, 0, 0, 0);
    struct seen seen = replay_all(ob);
    assert_int_equal(seen.n, 5);
    assert_true(seen.seq[0] == seq[0]);
    for (int i = 1; i < 4; i++)
        assert_true(seen.seq[i] == seq[i + 1]);
    assert_string_equal(seen.payload[4], "last");
    vg_outbox_close(ob);
}

struct done_seen {
    int n;
    uint64_t seq[4];
    char text[4][8];
};

static void on_done(void *ud, uint64_t seq, const void *payload, size_t len)
{
    struct done_seen *d = ud;
    assert_true(d->n < 4 && len < 8);
    d->seq[d->n] = seq;
    memcpy(d->text[d->n], payload, len);
    d->text[d->n][len] = '\0';
    d->n++;
}

/* At open, the acked records still in the file are shown to done_fn (a receiver judges a pending
 * firing by its resolve's fate), and only those. */
static void test_open_shows_the_acked_records_still_in_the_file(void **state)
{
    struct fx *f = *state;
    struct vg_outbox *ob = ob_open(f, 0, 0, 0);
    append_text(ob, "fire");
    uint64_t r = append_text(ob, "resolve");
    append_text(ob, "other");
    assert_int_equal(vg_outbox_ack(ob, r), 0);
    vg_outbox_close(ob);
    struct done_seen d = {0};
    struct vg_outbox_cfg c = {.dir = f->obox, .name = "rx", .done_fn = on_done, .done_ud = &d};
    char err[VG_ERRLEN] = "";
    assert_int_equal(vg_outbox_open(&ob, &c, err, sizeof(err)), 0);
    assert_int_equal(d.n, 1);
    assert_true(d.seq[0] == r);
    assert_string_equal(d.text[0], "resolve");
    vg_outbox_close(ob);
}

static void test_one_outbox_file_has_one_owner(void **state)
{
    struct fx *f = *state;
    struct vg_outbox *ob = ob_open(f, 0, 0, 0);
    struct vg_outbox_cfg c = {.dir = f->obox, .name = "rx"};
    struct vg_outbox *two = NULL;
    char err[VG_ERRLEN];
    assert_int_equal(vg_outbox_open(&two, &c, err, sizeof(err)), -EBUSY);
    assert_null(two);
    assert_non_null(strstr(err, "rx.outbox is in use"));
    c.name = "../escape";
    assert_int_equal(vg_outbox_open(&two, &c, err, sizeof(err)), -EINVAL);
    c.name = "rx";
    c.dir = "/nonexistent-parent/outbox";
    assert_int_equal(vg_outbox_open(&two, &c, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "its parent must exist"));
    vg_outbox_close(ob);
}

/* ---- through the action, with a real receiver ---- */

static void receiver_start(struct fx *f, ...)
{
    const char *argv[32];
    size_t n = 0;
    argv[n++] = RECEIVER_BIN;
    argv[n++] = "--port-file";
    argv[n++] = f->port_file;
    argv[n++] = "--out";
    argv[n++] = f->out;
    va_list ap;
    va_start(ap, f);
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
    int64_t end = vg_mono_ms() + WAIT_MS;
    for (;;) {
        FILE *pf = fopen(f->port_file, "r");
        if (pf) {
            int ok = fscanf(pf, "%d", &f->port) == 1;
            fclose(pf);
            assert_true(ok);
            return;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            f->rx_pid = -1;
            fail_msg("receiver exited before listening; is %s built?", RECEIVER_BIN);
        }
        if (vg_mono_ms() > end)
            fail_msg("receiver did not write its port file within %d ms", WAIT_MS);
        nap();
    }
}

static void receiver_stop(struct fx *f)
{
    kill(f->rx_pid, SIGTERM);
    int status = 0;
    pid_t r;
    int64_t end = vg_mono_ms() + WAIT_MS;
    while ((r = waitpid(f->rx_pid, &status, WNOHANG)) == 0 && vg_mono_ms() < end)
        nap();
    if (r == 0) {
        kill(f->rx_pid, SIGKILL);
        waitpid(f->rx_pid, &status, 0);
    }
    f->rx_pid = -1;
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static json_t *requests(struct fx *f)
{
    json_t *arr = json_array();
    char *text = slurp(f->out), *line = text, *nl;
    while ((nl = strchr(line, '\n'))) {
        *nl = '\0';
        json_t *j = json_loads(line, 0, NULL);
        if (!j)
            fail_msg("receiver wrote an invalid JSON line: %s", line);
        json_array_append_new(arr, j);
        line = nl + 1;
    }
    free(text);
    return arr;
}

static void wait_requests(struct fx *f, size_t n)
{
    int64_t end = vg_mono_ms() + WAIT_MS;
    for (;;) {
        json_t *arr = requests(f);
        size_t have = json_array_size(arr);
        json_decref(arr);
        if (have >= n)
            return;
        if (vg_mono_ms() > end)
            fail_msg("receiver got %zu requests, expected %zu", have, n);
        nap();
    }
}

static struct vg_notification sample(const char *fp)
{
    struct vg_notification n = {
        .status = "firing",
        .alertname = "anomaly",
        .host = "web-1",
        .series = "cpu.user_pct",
        .fingerprint = fp,
        .severity = "warning",
        .score = 0.999,
        .value = 51.2,
        .threshold = 0.99,
        .starts_at_ms = 1795438800123LL,
        .event_ts_ms = 1795438800123LL,
        .accepted_ms = 1795438800128LL,
    };
    return n;
}

static const char *jstr(json_t *o, const char *k1, const char *k2)
{
    json_t *v = json_object_get(o, k1);
    return json_string_value(k2 ? json_object_get(v, k2) : v);
}

#define N_CRASH 10

/* A child accepts N_CRASH alerts while the receiver stalls on the first, and is SIGKILLed before
 * any is delivered. A new instance on the same outbox delivers every one of them, in order. */
static void test_alerts_accepted_before_sigkill_are_delivered_after_restart(void **state)
{
    struct fx *f = *state;
    receiver_start(f, "--stall-ms", "60000", NULL);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", f->port);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    fflush(NULL);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(ready[0]);
        struct vg_receiver_cfg cfg = {
            .url = url, .outbox_dir = f->obox, .name = "crash", .timeout_ms = 120000};
        const struct vg_action *act;
        void *inst;
        char err[VG_ERRLEN];
        if (vg_action_create(&cfg, &act, &inst, err, sizeof(err)) != 0)
            _exit(2);
        for (int i = 0; i < N_CRASH; i++) {
            char fp[16];
            snprintf(fp, sizeof(fp), "fp-%02d", i);
            struct vg_notification n = sample(fp);
            if (act->submit(inst, &n) != 0)
                _exit(3);
        }
        /* Every submit returned: each alert is now the outbox's responsibility. */
        if (write(ready[1], "k", 1) != 1)
            _exit(4);
        for (;;)
            pause();
    }
    close(ready[1]);
    char c = 0;
    ssize_t got = read(ready[0], &c, 1);
    close(ready[0]);
    if (got != 1) {
        int status;
        waitpid(child, &status, 0);
        fail_msg("child failed before accepting every alert (status %d)", status);
    }
    wait_requests(f, 1); /* the first is in flight, held by the receiver */
    assert_int_equal(kill(child, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    json_t *before = requests(f);
    assert_int_equal(json_array_size(before), 1);
    char first_key[128];
    snprintf(first_key, sizeof(first_key), "%s",
             jstr(json_array_get(before, 0), "headers", "idempotency-key"));
    json_decref(before);
    receiver_stop(f);

    receiver_start(f, NULL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", f->port);
    struct vg_receiver_cfg cfg = {.url = url, .outbox_dir = f->obox, .name = "crash"};
    const struct vg_action *act;
    void *inst;
    char err[VG_ERRLEN];
    int rc = vg_action_create(&cfg, &act, &inst, err, sizeof(err));
    if (rc != 0)
        fail_msg("create: %s", err);
    struct vg_action_stats st;
    int64_t end = vg_mono_ms() + WAIT_MS;
    do {
        act->stats(inst, &st);
        if (st.delivered == N_CRASH)
            break;
        nap();
    } while (vg_mono_ms() < end);
    assert_int_equal(st.replayed, N_CRASH);
    assert_int_equal(st.delivered, N_CRASH);
    assert_int_equal(st.dropped, 0);
    act->destroy(inst, WAIT_MS);

    /* At least once, in order: the stalled first one arrived twice, with the same key. */
    json_t *reqs = requests(f);
    assert_int_equal(json_array_size(reqs), N_CRASH + 1);
    for (int i = 0; i < N_CRASH; i++) {
        char fp[16];
        snprintf(fp, sizeof(fp), "fp-%02d", i);
        json_t *r = json_array_get(reqs, (size_t)i + 1);
        assert_string_equal(jstr(r, "body", "fingerprint"), fp);
    }
    assert_string_equal(jstr(json_array_get(reqs, 0), "body", "fingerprint"), "fp-00");
    assert_string_equal(jstr(json_array_get(reqs, 1), "headers", "idempotency-key"), first_key);
    json_decref(reqs);
    /* All acknowledged: the file is back to its bare header. */
    char p[160];
    snprintf(p, sizeof(p), "%s/crash.outbox", f->obox);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_size, HDR);
    char *log = log_text(f);
    assert_non_null(strstr(log, "outbox holds undelivered notifications, delivering them first"));
    assert_non_null(strstr(log, "count=10"));
    free(log);
    receiver_stop(f);
}

/* Through the action: a full outbox is -ENOBUFS from submit, counted in queue_full, logged
 * once; and notifications still queued at destroy() are kept, not dropped. */
static void test_full_outbox_refuses_submit_and_destroy_keeps_the_rest(void **state)
{
    struct fx *f = *state;
    /* Nobody listens, and the first retry is far away: nothing can be delivered. */
    struct vg_receiver_cfg cfg = {.url = "http://127.0.0.1:9/hook",
                                  .outbox_dir = f->obox,
                                  .outbox_max_bytes = 1000,
                                  .backoff_initial_ms = 600000,
                                  .backoff_max_ms = 600000};
    const struct vg_action *act;
    void *inst;
    char err[VG_ERRLEN];
    assert_int_equal(vg_action_create(&cfg, &act, &inst, err, sizeof(err)), 0);
    int accepted = 0, refused = 0;
    for (int i = 0; i < 20; i++) {
        struct vg_notification n = sample("fp-full");
        int rc = act->submit(inst, &n);
        if (rc == 0)
            accepted++;
        else if (rc == -ENOBUFS)
            refused++;
        else
            fail_msg("submit gave %d", rc);
    }
    assert_true(accepted > 0 && refused > 0);
    struct vg_action_stats st;
    act->stats(inst, &st);
    assert_int_equal(st.submitted, accepted);
    assert_int_equal(st.queue_full, refused);
    assert_true(st.outbox_syncs >= (uint64_t)accepted);
    act->destroy(inst, 0);
    char *log = log_text(f);
    assert_int_equal(strstr(log, "outbox full, refusing") != NULL, 1);
    assert_null(strstr(strstr(log, "outbox full, refusing") + 1, "outbox full, refusing"));
    assert_non_null(strstr(log, "stopped with undelivered notifications, kept in the outbox"));
    assert_null(strstr(log, "dropped at shutdown"));
    char want[64];
    snprintf(want, sizeof(want), "dropped=0 attempt_errors=");
    assert_non_null(strstr(log, want));
    snprintf(want, sizeof(want), "kept=%d ", accepted);
    assert_non_null(strstr(log, want));
    free(log);

    /* They are all still there for the next start. */
    assert_int_equal(vg_action_create(&cfg, &act, &inst, err, sizeof(err)), 0);
    act->stats(inst, &st);
    assert_int_equal(st.replayed, accepted);
    act->destroy(inst, 0);
}

/* A file size limit the outbox's file is at: appends fail with EFBIG, as on a full disk, and
 * even for root (permissions would not stop it). stderr goes to a pipe meanwhile, since the log
 * file is a file too; its lines are copied to the log afterwards. */
struct fsize_cap {
    struct rlimit old;
    int pipe[2];
    int saved_stderr;
};

static void fsize_cap_on(struct fsize_cap *c, off_t at)
{
    assert_int_equal(pipe(c->pipe), 0);
    fflush(stderr);
    c->saved_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    assert_true(c->saved_stderr >= 0);
    assert_true(dup2(c->pipe[1], STDERR_FILENO) == STDERR_FILENO);
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &c->old), 0);
    struct rlimit cap = {.rlim_cur = (rlim_t)at, .rlim_max = c->old.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &cap), 0);
}

static void fsize_cap_off(struct fsize_cap *c)
{
    setrlimit(RLIMIT_FSIZE, &c->old);
    signal(SIGXFSZ, SIG_DFL);
    fflush(stderr);
    dup2(c->saved_stderr, STDERR_FILENO);
    close(c->saved_stderr);
    close(c->pipe[1]);
    char buf[4096];
    ssize_t n;
    while ((n = read(c->pipe[0], buf, sizeof(buf))) > 0)
        fwrite(buf, 1, (size_t)n, stderr);
    close(c->pipe[0]);
    fflush(stderr);
}

/* Appends that fail (the disk is full) cost no alert: submit() still accepts and the
 * notification waits in memory; each failure is counted in outbox_errors, the episode is logged
 * once, and the count is in the "stopped" line, where an operator whose disk stayed broken sees
 * it (the "work again" line never comes then). */
static void test_failed_appends_are_counted_logged_once_and_reported_at_stop(void **state)
{
    struct fx *f = *state;
    struct vg_receiver_cfg cfg = {.url = "http://127.0.0.1:9/hook",
                                  .outbox_dir = f->obox,
                                  .backoff_initial_ms = 600000,
                                  .backoff_max_ms = 600000};
    const struct vg_action *act;
    void *inst;
    char err[VG_ERRLEN];
    assert_int_equal(vg_action_create(&cfg, &act, &inst, err, sizeof(err)), 0);
    struct vg_notification n = sample("fp-disk");
    assert_int_equal(act->submit(inst, &n), 0);
    char p[160];
    snprintf(p, sizeof(p), "%s/webhook.outbox", f->obox);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_true(sb.st_size > HDR);

    struct fsize_cap cap;
    fsize_cap_on(&cap, sb.st_size);
    int rcs[3];
    for (int i = 0; i < 3; i++)
        rcs[i] = act->submit(inst, &n);
    struct vg_action_stats st;
    act->stats(inst, &st);
    fsize_cap_off(&cap);

    for (int i = 0; i < 3; i++)
        assert_int_equal(rcs[i], 0);
    assert_int_equal(st.outbox_errors, 3);
    assert_int_equal(st.submitted, 4);
    assert_int_equal(st.queued, 4);
    assert_int_equal(st.queue_full, 0);
    act->destroy(inst, 0);

    char *log = log_text(f);
    const char *first = strstr(log, "outbox write failed");
    assert_non_null(first);
    assert_null(strstr(first + 1, "outbox write failed"));
    assert_non_null(strstr(first, "error=\"File too large\""));
    assert_null(strstr(log, "outbox writes work again"));
    /* The one appended before is kept for the next start; the three in memory only are lost. */
    const char *stopped = strstr(log, "msg=\"webhook stopped\"");
    assert_non_null(stopped);
    assert_non_null(strstr(stopped, " dropped=3 "));
    assert_non_null(strstr(stopped, " kept=1 "));
    assert_non_null(strstr(stopped, " outbox_errors=3"));
    free(log);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The real sync calls, counted by the linker's --wrap (tests/actions.cmake): the outbox's own
 * counter says it meant to sync, these that the kernel was asked to. */
static atomic_int g_fdatasyncs, g_fsyncs;
int __real_fdatasync(int fd);
int __real_fsync(int fd);
int __wrap_fdatasync(int fd);
int __wrap_fsync(int fd);

/* A compaction raced by submits: when armed, the first fdatasync of the compaction's temp file
 * (test_submits_racing_a_compaction_...) has another thread append and acknowledge, and waits
 * for it; the outbox file is copied at that instant and when the directory is synced after the
 * rename, as a crash then would leave it. */
static struct {
    struct vg_outbox *ob;
    atomic_int armed, dir_armed;
    uint64_t ack_seq, raced[2];
    int done, copies;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char src[160], copy[2][160];
} g_race = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void copy_outbox(const char *src, const char *dir)
{
    char dst[200];
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(dst, sizeof(dst), "%s/rx.outbox", dir);
    char *data = NULL;
    size_t len = 0;
    FILE *in = fopen(src, "rb");
    assert_non_null(in);
    FILE *mem = open_memstream(&data, &len);
    int c;
    while ((c = fgetc(in)) != EOF)
        fputc(c, mem);
    fclose(mem);
    fclose(in);
    FILE *out = fopen(dst, "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(data, 1, len, out), len);
    fclose(out);
    free(data);
}

static void *race_submits(void *arg)
{
    (void)arg;
    assert_int_equal(vg_outbox_append(g_race.ob, "raced-a", 7, &g_race.raced[0]), 0);
    assert_int_equal(vg_outbox_ack(g_race.ob, g_race.ack_seq), 0);
    assert_int_equal(vg_outbox_append(g_race.ob, "raced-b", 7, &g_race.raced[1]), 0);
    pthread_mutex_lock(&g_race.mu);
    g_race.done = 1;
    pthread_cond_signal(&g_race.cv);
    pthread_mutex_unlock(&g_race.mu);
    return NULL;
}

/* Whether the file open as fd has a path that ends with tail, after something more. */
static int fd_path_ends_with(int fd, const char *tail)
{
    char link[64], target[512];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n <= 0)
        return 0;
    target[n] = '\0';
    size_t t = strlen(tail);
    return (size_t)n > t && strcmp(target + n - t, tail) == 0;
}

static int fd_is_temp_outbox(int fd)
{
    return fd_path_ends_with(fd, ".outbox.tmp");
}

static pthread_t g_race_thread;

/* While > 0, an fdatasync of the outbox file itself (rx.outbox, not its temp file) fails with
 * EIO, as a writeback error reports it, and counts down. */
static atomic_int g_fail_outbox_syncs;

static int fd_is_outbox_file(int fd)
{
    return fd_path_ends_with(fd, "/rx.outbox");
}

int __wrap_fdatasync(int fd)
{
    atomic_fetch_add(&g_fdatasyncs, 1);
    if (atomic_load(&g_fail_outbox_syncs) > 0 && fd_is_outbox_file(fd)) {
        atomic_fetch_sub(&g_fail_outbox_syncs, 1);
        errno = EIO;
        return -1;
    }
    if (atomic_load(&g_race.armed) && fd_is_temp_outbox(fd)) {
        atomic_store(&g_race.armed, 0);
        assert_int_equal(pthread_create(&g_race_thread, NULL, race_submits, NULL), 0);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += WAIT_MS / 1000;
        pthread_mutex_lock(&g_race.mu);
        /* A bound for a deadlock, not a timing: the submits take a few fdatasyncs. */
        while (!g_race.done && pthread_cond_timedwait(&g_race.cv, &g_race.mu, &until) == 0)
            ;
        int done = g_race.done;
        pthread_mutex_unlock(&g_race.mu);
        if (done)
            copy_outbox(g_race.src, g_race.copy[g_race.copies++]);
        atomic_store(&g_race.dir_armed, 1);
    }
    return __real_fdatasync(fd);
}

int __wrap_fsync(int fd)
{
    atomic_fetch_add(&g_fsyncs, 1);
    struct stat st;
    if (atomic_load(&g_race.dir_armed) && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        atomic_store(&g_race.dir_armed, 0);
        copy_outbox(g_race.src, g_race.copy[g_race.copies++]);
    }
    return __real_fsync(fd);
}

/* What the outbox in dir replays must be exactly want (payloads, in order), nothing lost or
 * repeated. */
static void expect_replay(struct vg_outbox *ob, const char *const *want, size_t nwant)
{
    struct seen seen = replay_all(ob);
    for (size_t i = 0; i < seen.n && i < nwant; i++)
        assert_string_equal(seen.payload[i], want[i]);
    assert_int_equal(seen.n, nwant);
}

/* Closes ob; the outbox in f, opened again, must replay exactly want. */
static void expect_replay_after_reopen(struct fx *f, struct vg_outbox *ob, const char *const *want,
                                       size_t nwant)
{
    vg_outbox_close(ob);
    ob = ob_open(f, 0, 0, 0);
    expect_replay(ob, want, nwant);
    vg_outbox_close(ob);
}

/* Appends text without its own fdatasync (VG_OUTBOX_NO_SYNC); its sequence number. */
static uint64_t append_unsynced(struct vg_outbox *ob, const char *text)
{
    uint64_t seq = 0;
    assert_int_equal(vg_outbox_append_ex(ob, text, strlen(text), &seq, VG_OUTBOX_NO_SYNC), 0);
    return seq;
}

/* Since st0 and before were taken, ob made one compaction, into a new file (another inode). */
static void expect_rewritten_once(struct fx *f, struct vg_outbox *ob,
                                  const struct vg_outbox_stats *st0, ino_t before)
{
    struct vg_outbox_stats st;
    vg_outbox_get_stats(ob, &st);
    assert_int_equal(st.compactions, st0->compactions + 1);
    assert_true(outbox_stat(f).st_ino != before);
}

/* An fdatasync of the outbox that failed (EIO, as a writeback error gives) is not made good by the
 * next one: Linux reports such an error once, marks the pages clean, and answers the next
 * fdatasync 0, though what it failed to write never reaches the disk. So vg_outbox_sync rewrites
 * the pending records into a new file (a compaction, synced before its rename) before it says
 * they are durable. It retried with a plain fdatasync, and said so on its 0. */
static void
test_after_a_failed_sync_the_records_are_rewritten_before_they_count_as_durable(void **state)
{
    struct fx *f = *state;
    struct vg_outbox *ob = ob_open(f, 0, 0, 0);
    append_unsynced(ob, "a");
    append_unsynced(ob, "b");
    ino_t before = outbox_stat(f).st_ino;
    struct vg_outbox_stats st0, st;
    vg_outbox_get_stats(ob, &st0);
    atomic_store(&g_fail_outbox_syncs, 1);
    assert_int_equal(vg_outbox_sync(ob), -EIO);
    assert_int_equal(atomic_load(&g_fail_outbox_syncs), 0);
    assert_int_equal(vg_outbox_sync(ob), 0);
    expect_rewritten_once(f, ob, &st0, before);
    char *log = log_text(f);
    assert_non_null(strstr(log, "outbox: rewritten into a new file after a failed sync"));
    free(log);
    /* Durable now: nothing more to do, and a new record takes a plain fdatasync again. */
    assert_int_equal(vg_outbox_sync(ob), 0);
    append_unsynced(ob, "c");
    assert_int_equal(vg_outbox_sync(ob), 0);
    vg_outbox_get_stats(ob, &st);
    assert_int_equal(st.compactions, st0.compactions + 1);
    const char *const want[] = {"a", "b", "c"};
    expect_replay_after_reopen(f, ob, want, 3);
}

/* The failed fdatasync may be an acknowledgement's (the delivery thread's), made while records
 * appended without their own sync were not synced yet: the ack fails, and the next ack's
 * fdatasync answers 0. Those records are still not durable, and the next vg_outbox_sync rewrites
 * them. It made no fdatasync at all: the second ack had cleared the count of unsynced records. */
static void test_a_failed_ack_sync_leaves_the_unsynced_records_to_be_rewritten(void **state)
{
    struct fx *f = *state;
    struct vg_outbox *ob = ob_open(f, 0, 0, 0);
    uint64_t seq[3];
    seq[0] = append_unsynced(ob, "a");
    seq[1] = append_unsynced(ob, "b");
    seq[2] = append_unsynced(ob, "c");
    atomic_store(&g_fail_outbox_syncs, 1);
    assert_int_equal(vg_outbox_ack(ob, seq[0]), -EIO);
    assert_int_equal(vg_outbox_ack(ob, seq[1]), 0);
    ino_t before = outbox_stat(f).st_ino;
    struct vg_outbox_stats st0;
    vg_outbox_get_stats(ob, &st0);
    assert_int_equal(vg_outbox_sync(ob), 0);
    expect_rewritten_once(f, ob, &st0, before);
    /* The rewrite holds what was pending: c (a's ack failed, so a may come back after a restart
     * as documented; here the rewrite left it out, as it was no longer pending). */
    const char *const want[] = {"c"};
    expect_replay_after_reopen(f, ob, want, 1);
}

/* Compaction runs from an ack (the delivery thread) while the analyzer keeps submitting: a submit
 * must not wait for the whole rewrite (it held the outbox's lock, so a submit stalled ~2.8 ms
 * per MiB of pending records, bench/outbox-compaction). Here submits and an ack happen while the
 * temp file is being synced, and must complete then. Nothing is lost or repeated, in the live
 * outbox, after a reopen, and in the file as a crash would have left it mid-compaction and just
 * after the rename. */
static void test_submits_racing_a_compaction_complete_and_nothing_is_lost(void **state)
{
    struct fx *f = *state;
    struct vg_outbox *ob = ob_open(f, 0, 0, 1024);
    uint64_t s[40];
    char text[40][64];
    for (int i = 0; i < 40; i++) {
        snprintf(text[i], sizeof(text[i]), "record-%02d-%040d", i, i);
        s[i] = append_text(ob, text[i]);
    }
    /* 17 acks leave the file just short of twice its live size; the 18th compacts. */
    for (int i = 0; i < 17; i++)
        assert_int_equal(vg_outbox_ack(ob, s[i]), 0);
    struct vg_outbox_stats st;
    vg_outbox_get_stats(ob, &st);
    assert_int_equal(st.compactions, 0);

    g_race.ob = ob;
    g_race.ack_seq = s[20];
    g_race.done = 0;
    g_race.copies = 0;
    snprintf(g_race.src, sizeof(g_race.src), "%s/rx.outbox", f->obox);
    snprintf(g_race.copy[0], sizeof(g_race.copy[0]), "%s/mid", f->dir);
    snprintf(g_race.copy[1], sizeof(g_race.copy[1]), "%s/renamed", f->dir);
    atomic_store(&g_race.armed, 1);
    assert_int_equal(vg_outbox_ack(ob, s[17]), 0);
    pthread_mutex_lock(&g_race.mu);
    int done_in_time = g_race.done;
    pthread_mutex_unlock(&g_race.mu);
    pthread_join(g_race_thread, NULL);
    atomic_store(&g_race.dir_armed, 0);
    if (!done_in_time)
        fail_msg("submits waited for the compaction's rewrite (the outbox lock was held)");
    vg_outbox_get_stats(ob, &st);
    assert_int_equal(st.compactions, 1);
    assert_int_equal(g_race.copies, 2);

    const char *want[40];
    size_t nwant = 0;
    for (int i = 18; i < 40; i++) {
        if (i != 20)
            want[nwant++] = text[i];
    }
    want[nwant++] = "raced-a";
    want[nwant++] = "raced-b";
    expect_replay(ob, want, nwant);
    /* Still appendable and acknowledgeable at the offsets the compaction moved things to. */
    assert_int_equal(vg_outbox_ack(ob, s[18]), 0);
    assert_int_equal(vg_outbox_ack(ob, g_race.raced[0]), 0);
    uint64_t extra = append_text(ob, "after");
    vg_outbox_close(ob);

    ob = ob_open(f, 0, 0, 1024);
    const char *want2[40];
    size_t nwant2 = 0;
    for (size_t i = 1; i < nwant; i++) {
        if (strcmp(want[i], "raced-a") != 0)
            want2[nwant2++] = want[i];
    }
    want2[nwant2++] = "after";
    expect_replay(ob, want2, nwant2);
    assert_int_equal(vg_outbox_ack(ob, extra), 0);
    vg_outbox_close(ob);

    /* A crash at either instant: the file then replays the same records. */
    for (int c = 0; c < 2; c++) {
        struct vg_outbox_cfg cc = {.dir = g_race.copy[c], .name = "rx", .compact_bytes = 1024};
        char err[VG_ERRLEN];
        struct vg_outbox *ob2 = NULL;
        assert_int_equal(vg_outbox_open(&ob2, &cc, err, sizeof(err)), 0);
        expect_replay(ob2, want, nwant);
        vg_outbox_close(ob2);
    }
    char *log = log_text(f);
    assert_null(strstr(log, "outbox record skipped"));
    free(log);
}

/* What durability costs per submit here: printed for the record, not asserted (it depends on
 * the disk). The assertions check that every submit did sync: an fdatasync(2) really made
 * before submit returned, one for each accepted notification. */
static void test_measure_fsync_cost_per_submit(void **state)
{
    struct fx *f = *state;
    enum { N = 200 };
    struct vg_receiver_cfg cfg = {.url = "http://127.0.0.1:9/hook",
                                  .outbox_dir = f->obox,
                                  .queue_max = 1000,
                                  .backoff_initial_ms = 600000,
                                  .backoff_max_ms = 600000};
    const struct vg_action *act;
    void *inst;
    char err[VG_ERRLEN];
    assert_int_equal(vg_action_create(&cfg, &act, &inst, err, sizeof(err)), 0);
    static const char *const keys[] = {"env", "region", "rack", "service"};
    static const char *const vals[] = {"prod", "eu-1", "r12", "checkout"};
    int64_t us[N];
    struct vg_action_stats st0, st;
    act->stats(inst, &st0);
    int real0 = atomic_load(&g_fdatasyncs) + atomic_load(&g_fsyncs);
    for (int i = 0; i < N; i++) {
        struct vg_notification n = sample("fp-measure");
        n.label_keys = keys;
        n.label_values = vals;
        n.n_labels = 4;
        struct timespec a, b;
        int syncs = atomic_load(&g_fdatasyncs);
        clock_gettime(CLOCK_MONOTONIC, &a);
        assert_int_equal(act->submit(inst, &n), 0);
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (atomic_load(&g_fdatasyncs) - syncs < 1)
            fail_msg("submit %d returned without an fdatasync of the outbox", i);
        us[i] = (b.tv_sec - a.tv_sec) * 1000000 + (b.tv_nsec - a.tv_nsec) / 1000;
    }
    act->stats(inst, &st);
    int real = atomic_load(&g_fdatasyncs) + atomic_load(&g_fsyncs) - real0;
    act->destroy(inst, 0);
    assert_int_equal(st.outbox_syncs - st0.outbox_syncs, N);
    /* The counter counts calls made, not calls meant: nothing else here syncs. */
    assert_int_equal(real, N);
    qsort(us, N, sizeof(us[0]), cmp_i64);
    int64_t sum = 0;
    for (int i = 0; i < N; i++)
        sum += us[i];
    print_message("outbox submit on %s: mean %lld us, p50 %lld us, p99 %lld us, max %lld us; "
                  "fdatasync alone: mean %llu us\n",
                  f->obox, (long long)(sum / N), (long long)us[N / 2], (long long)us[N * 99 / 100],
                  (long long)us[N - 1],
                  (unsigned long long)((st.outbox_sync_us - st0.outbox_sync_us) / N));
}

/* An analyzer's receiver, as the analyzer configures it (docs/alerts.md): coalescing, retrying
 * until max_age, holding firings that may be stale. queue_max, max_age_ms: 0 for the defaults;
 * timeout_ms 0: 1 s. */
static void *analyzer_rx_with(const char *url, const char *obox, size_t queue_max,
                              int64_t max_age_ms, int64_t timeout_ms, const struct vg_action **act)
{
    struct vg_receiver_cfg cfg = {.url = url,
                                  .outbox_dir = obox,
                                  .name = "hook",
                                  .keep_retrying = 1,
                                  .coalesce = 1,
                                  .hold_firings = 1,
                                  .queue_max = queue_max,
                                  .max_age_ms = max_age_ms,
                                  .backoff_initial_ms = 50,
                                  .backoff_max_ms = 100,
                                  .connect_timeout_ms = 500,
                                  .timeout_ms = timeout_ms ? timeout_ms : 1000};
    void *inst;
    char err[VG_ERRLEN];
    if (vg_action_create(&cfg, act, &inst, err, sizeof(err)) != 0)
        fail_msg("create: %s", err);
    return inst;
}

static void *analyzer_rx(const char *url, const char *obox, const struct vg_action **act)
{
    return analyzer_rx_with(url, obox, 0, 0, 0, act);
}

static void wait_attempt_errors(const struct vg_action *act, void *inst, uint64_t n)
{
    struct vg_action_stats st;
    int64_t end = vg_mono_ms() + WAIT_MS;
    do {
        act->stats(inst, &st);
        if (st.attempt_errors >= n)
            return;
        nap();
    } while (vg_mono_ms() < end);
    fail_msg("%llu failed attempts, expected %llu", (unsigned long long)st.attempt_errors,
             (unsigned long long)n);
}

/* The status of the last request the receiver took (2xx) for fingerprint fp, NULL if none. */
static char *last_taken(struct fx *f, const char *fp, size_t *taken)
{
    json_t *reqs = requests(f);
    char *last = NULL;
    *taken = 0;
    for (size_t i = 0; i < json_array_size(reqs); i++) {
        json_t *r = json_array_get(reqs, i);
        json_int_t code = json_integer_value(json_object_get(r, "status"));
        const char *rfp = jstr(r, "body", "fingerprint");
        if (code < 200 || code >= 300 || !rfp || strcmp(rfp, fp) != 0)
            continue;
        free(last);
        last = strdup(jstr(r, "body", "status"));
        (*taken)++;
    }
    json_decref(reqs);
    return last;
}

static void wait_held(const struct vg_action *act, void *inst, uint64_t n)
{
    struct vg_action_stats st;
    int64_t end = vg_mono_ms() + WAIT_MS;
    do {
        act->stats(inst, &st);
        if (st.held == n)
            return;
        nap();
    } while (vg_mono_ms() < end);
    fail_msg("%llu firings held, expected %llu", (unsigned long long)st.held,
             (unsigned long long)n);
}

/* The receiver's last word on the alert fp was its resolve. */
static void expect_last_word_resolved(struct fx *f, const char *fp)
{
    size_t taken;
    char *last = last_taken(f, fp, &taken);
    if (!last || strcmp(last, "resolved") != 0)
        fail_msg("the receiver's last notification of %s is '%s' (%zu taken), after the new "
                 "owner's resolve",
                 fp, last ? last : "(none)", taken);
    free(last);
}

/* Analyzer A fires, its receiver unreachable, and stops: the firing is kept in A's outbox. The
 * host goes to analyzer B, which resolves the alert (another outbox). A starts again with the
 * receiver reachable. It replayed the firing first thing, so the receiver's last word on the
 * alert was a firing after its resolve (a PagerDuty incident nothing closes). The firing is now
 * held: the receiver's last word stays the resolve. Once A holds the alert as firing again
 * (adopt: its state restore), the held firing goes out. */
static void test_replayed_firing_is_held_until_its_alert_is_adopted(void **state)
{
    struct fx *f = *state;
    char oa[128], ob[128], url[64];
    snprintf(oa, sizeof(oa), "%s/a", f->obox);
    snprintf(ob, sizeof(ob), "%s/b", f->obox);
    assert_int_equal(mkdir(f->obox, 0700), 0);
    const struct vg_action *act;
    void *a = analyzer_rx("http://127.0.0.1:9/hook", oa, &act);
    struct vg_notification fire = sample("fp-stale");
    assert_int_equal(act->submit(a, &fire), 0);
    wait_attempt_errors(act, a, 1);
    act->destroy(a, 0);

    receiver_start(f, NULL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", f->port);
    void *b = analyzer_rx(url, ob, &act);
    struct vg_notification res = sample("fp-stale");
    res.status = "resolved";
    res.ends_at_ms = res.event_ts_ms = fire.starts_at_ms + 60000;
    assert_int_equal(act->submit(b, &res), 0);
    wait_requests(f, 1);
    act->destroy(b, WAIT_MS);

    a = analyzer_rx(url, oa, &act);
    act->destroy(a, WAIT_MS); /* drains what it would deliver */
    size_t taken;
    char *last = last_taken(f, "fp-stale", &taken);
    assert_non_null(last);
    if (strcmp(last, "resolved") != 0)
        fail_msg("the receiver's last notification of the alert is '%s' (%zu taken), after "
                 "another analyzer's resolve",
                 last, taken);
    free(last);
    char *log = log_text(f);
    assert_non_null(strstr(log, "outbox holds undelivered firings, held until the state restore"));
    assert_non_null(strstr(log, "stopped with held firings"));
    free(log);

    /* Started again, A restores the alert as firing: its held firing goes out then. */
    a = analyzer_rx(url, oa, &act);
    struct vg_action_stats st;
    act->stats(a, &st);
    assert_int_equal(st.replayed, 1);
    assert_int_equal(st.delivered, 0);
    struct vg_notification again = sample("fp-stale");
    again.adopted = 1;
    assert_int_equal(act->adopt(a, &again), 0);
    wait_requests(f, 2);
    act->destroy(a, WAIT_MS);
    last = last_taken(f, "fp-stale", &taken);
    assert_string_equal(last, "firing");
    assert_int_equal(taken, 2);
    free(last);
    /* Delivered and acknowledged: nothing is held at the next start. */
    a = analyzer_rx(url, oa, &act);
    act->stats(a, &st);
    assert_int_equal(st.replayed, 0);
    act->destroy(a, 0);
    receiver_stop(f);
}

/* A's firing fails (the receiver refuses what comes from A, as a network partition would), and
 * the host is handed over to B, which resolves the alert. A once kept retrying the firing and
 * delivered it once the receiver took A's requests again: after the resolve. Held at the
 * hand-over, it is not sent. */
static void
test_failing_firing_of_a_host_handed_over_is_not_sent_after_the_new_owners_resolve(void **state)
{
    struct fx *f = *state;
    char oa[128], ob[128], url[64], port[16];
    snprintf(oa, sizeof(oa), "%s/a", f->obox);
    snprintf(ob, sizeof(ob), "%s/b", f->obox);
    assert_int_equal(mkdir(f->obox, 0700), 0);
    receiver_start(f, "--fail-match", "from-analyzer-a", NULL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", f->port);
    snprintf(port, sizeof(port), "%d", f->port);
    const struct vg_action *act;
    void *a = analyzer_rx(url, oa, &act);
    struct vg_notification fire = sample("fp-moved");
    fire.summary = "from-analyzer-a";
    assert_int_equal(act->submit(a, &fire), 0);
    wait_attempt_errors(act, a, 1);
    /* Another firing of the host, queued behind the failing one: not attempted yet when the host
     * is handed over, it was once left to go out after the new owner's resolve. */
    struct vg_notification fire2 = sample("fp-moved-2");
    fire2.summary = "from-analyzer-a";
    assert_int_equal(act->submit(a, &fire2), 0);
    act->forget_host(a, "web-1");
    wait_held(act, a, 2);

    void *b = analyzer_rx(url, ob, &act);
    struct vg_notification res = sample("fp-moved"), res2 = sample("fp-moved-2");
    res.status = res2.status = "resolved";
    res.ends_at_ms = res.event_ts_ms = res2.ends_at_ms = res2.event_ts_ms =
        fire.starts_at_ms + 60000;
    assert_int_equal(act->submit(b, &res), 0);
    assert_int_equal(act->submit(b, &res2), 0);
    struct vg_action_stats st;
    int64_t end = vg_mono_ms() + WAIT_MS;
    do {
        act->stats(b, &st);
        nap();
    } while (st.delivered < 2 && vg_mono_ms() < end);
    assert_int_equal(st.delivered, 2);
    act->destroy(b, WAIT_MS);

    /* The receiver takes A's requests again. */
    receiver_stop(f);
    receiver_start(f, "--port", port, NULL);
    act->destroy(a, 3000); /* drains what it would deliver */
    expect_last_word_resolved(f, "fp-moved");
    expect_last_word_resolved(f, "fp-moved-2");
    char *log = log_text(f);
    assert_non_null(strstr(log, "firings of a host handed over held back"));
    free(log);
    receiver_stop(f);
}

/* The receiver hangs on A's firing: the attempt is under way when the host is handed over, and
 * times out. A once retried it, and delivered it after the new owner's resolve once the receiver
 * took A's requests again. Now the failed attempt holds it. */
static void
test_firing_in_flight_at_the_hand_over_is_not_sent_after_the_new_owners_resolve(void **state)
{
    struct fx *f = *state;
    char oa[128], ob[128], url[64], port[16];
    snprintf(oa, sizeof(oa), "%s/a", f->obox);
    snprintf(ob, sizeof(ob), "%s/b", f->obox);
    assert_int_equal(mkdir(f->obox, 0700), 0);
    receiver_start(f, "--stall-ms", "60000", NULL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", f->port);
    snprintf(port, sizeof(port), "%d", f->port);
    const struct vg_action *act;
    void *a = analyzer_rx_with(url, oa, 0, 0, 3000, &act);
    struct vg_notification fire = sample("fp-inflight");
    fire.summary = "from-analyzer-a";
    assert_int_equal(act->submit(a, &fire), 0);
    wait_requests(f, 1); /* the receiver has it, and holds its answer back */
    act->forget_host(a, "web-1");
    struct vg_action_stats st;
    act->stats(a, &st);
    if (st.attempt_errors != 0 || st.delivered != 0)
        fail_msg("the attempt ended before the hand-over (3 s timeout): nothing was checked");
    wait_attempt_errors(act, a, 1); /* timed out */
    wait_held(act, a, 1);
    /* Gone at once, answering nothing more; then up again, refusing what comes from A. */
    kill(f->rx_pid, SIGKILL);
    waitpid(f->rx_pid, NULL, 0);
    f->rx_pid = -1;
    receiver_start(f, "--port", port, "--fail-match", "from-analyzer-a", NULL);

    void *b = analyzer_rx(url, ob, &act);
    struct vg_notification res = sample("fp-inflight");
    res.status = "resolved";
    res.ends_at_ms = res.event_ts_ms = fire.starts_at_ms + 60000;
    assert_int_equal(act->submit(b, &res), 0);
    int64_t end = vg_mono_ms() + WAIT_MS;
    do {
        act->stats(b, &st);
        nap();
    } while (st.delivered < 1 && vg_mono_ms() < end);
    assert_int_equal(st.delivered, 1);
    act->destroy(b, WAIT_MS);

    /* The receiver takes A's requests again. */
    receiver_stop(f);
    receiver_start(f, "--port", port, NULL);
    act->destroy(a, 3000); /* drains what it would deliver */
    expect_last_word_resolved(f, "fp-inflight");
    char *log = log_text(f);
    assert_non_null(strstr(log, "firings of hosts handed over held back: an attempt failed"));
    free(log);
    receiver_stop(f);
}

/* sample(fp) of host, produced now (max_age counts from then). */
static struct vg_notification sample_on(const char *fp, const char *host)
{
    struct vg_notification n = sample(fp);
    n.host = host;
    n.accepted_ms = vg_now_ms(); /* max_age counts from here */
    return n;
}

/* Held at the hand-over of its host, a firing whose alert nothing takes over here is counted in
 * held, and dropped once max_age old while the receiver runs. It once stayed until a restart,
 * in no metric, its outbox record pending. */
static void test_held_firing_is_counted_and_expires_at_max_age_while_running(void **state)
{
    struct fx *f = *state;
    assert_int_equal(mkdir(f->obox, 0700), 0);
    const struct vg_action *act;
    void *a = analyzer_rx_with("http://127.0.0.1:9/hook", f->obox, 0, 1000, 0, &act);
    struct vg_notification fire = sample_on("fp-held", "web-1");
    assert_int_equal(act->submit(a, &fire), 0);
    wait_attempt_errors(act, a, 1);
    act->forget_host(a, "web-1");
    wait_held(act, a, 1);
    struct vg_action_stats st;
    act->stats(a, &st);
    assert_int_equal(st.queued, 0);
    int64_t end = vg_mono_ms() + WAIT_MS;
    do {
        act->stats(a, &st);
        nap();
    } while ((st.expired < 1 || st.held) && vg_mono_ms() < end);
    if (st.expired != 1 || st.held != 0)
        fail_msg("held firing not expired at max_age (1 s): held=%llu expired=%llu",
                 (unsigned long long)st.held, (unsigned long long)st.expired);
    assert_int_equal(st.dropped, 1);
    char *log = log_text(f);
    assert_non_null(strstr(log, "held firing older than max_age, dropped"));
    free(log);
    act->destroy(a, 0);
    /* Marked done in the outbox: nothing is held at the next start. */
    a = analyzer_rx_with("http://127.0.0.1:9/hook", f->obox, 0, 1000, 0, &act);
    act->stats(a, &st);
    assert_int_equal(st.replayed, 0);
    assert_int_equal(st.held, 0);
    act->destroy(a, 0);
}

/* queue_max 2, the receiver down. A held firing once took one of the two places in the outbox
 * for good: the second new firing was refused, and so was the held alert's own resolve, the one
 * notification that would have freed it; after a restart, every firing pending was held and the
 * outbox refused everything. Held firings have a queue_max of their own now, and a notification
 * of a held alert is taken past the limits. */
static void test_held_firings_leave_room_for_new_notifications_and_their_resolve(void **state)
{
    struct fx *f = *state;
    const char *url = "http://127.0.0.1:9/hook";
    assert_int_equal(mkdir(f->obox, 0700), 0);
    const struct vg_action *act;
    void *a = analyzer_rx_with(url, f->obox, 2, 0, 0, &act);
    struct vg_notification fa = sample_on("fp-a", "web-1");
    assert_int_equal(act->submit(a, &fa), 0);
    wait_attempt_errors(act, a, 1);
    act->forget_host(a, "web-1");
    wait_held(act, a, 1);
    struct vg_notification fb = sample_on("fp-b", "web-2"), fc = sample_on("fp-c", "web-3");
    assert_int_equal(act->submit(a, &fb), 0);
    assert_int_equal(act->submit(a, &fc), 0);
    struct vg_notification ra = fa;
    ra.status = "resolved";
    ra.ends_at_ms = ra.event_ts_ms = fa.starts_at_ms + 60000;
    assert_int_equal(act->submit(a, &ra), 0); /* the queue is full: it ends the held firing */
    struct vg_action_stats st;
    act->stats(a, &st);
    assert_int_equal(st.held, 0);
    assert_int_equal(st.coalesced, 1);
    assert_int_equal(st.queue_full, 0);
    act->destroy(a, 0);

    /* Started again: the pending firings are held, the resolve queued; a new firing is taken. */
    a = analyzer_rx_with(url, f->obox, 2, 0, 0, &act);
    act->stats(a, &st);
    assert_int_equal(st.held, 2);
    assert_int_equal(st.queued, 1);
    struct vg_notification fd = sample_on("fp-d", "web-4");
    assert_int_equal(act->submit(a, &fd), 0);
    act->destroy(a, 0);

    /* Three firings pending at the next start: past queue_max held, the oldest is dropped. */
    a = analyzer_rx_with(url, f->obox, 2, 0, 0, &act);
    act->stats(a, &st);
    assert_int_equal(st.held, 2);
    assert_int_equal(st.dropped, 1);
    char *log = log_text(f);
    assert_non_null(strstr(log, "held firings dropped: more than queue_max held"));
    free(log);
    struct vg_notification fe = sample_on("fp-e", "web-5");
    assert_int_equal(act->submit(a, &fe), 0);
    act->stats(a, &st);
    assert_int_equal(st.queue_full, 0);
    act->destroy(a, 0);
}

/* A receiver with held firings of large annotations: the outbox's record limit was doubled for
 * them, its byte limit not, so held ones filled outbox_max_bytes and new notifications were
 * refused with the queue empty. */
static void test_held_firings_leave_bytes_for_new_notifications(void **state)
{
    struct fx *f = *state;
    assert_int_equal(mkdir(f->obox, 0700), 0);
    char big[2048];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    struct vg_receiver_cfg cfg = {.url = "http://127.0.0.1:9/hook",
                                  .outbox_dir = f->obox,
                                  .name = "hook",
                                  .keep_retrying = 1,
                                  .coalesce = 1,
                                  .outbox_max_bytes = 16384,
                                  .backoff_initial_ms = 600000,
                                  .backoff_max_ms = 600000};
    const struct vg_action *act;
    void *a;
    char err[VG_ERRLEN];
    /* Without holding: firings until the bytes are full. */
    assert_int_equal(vg_action_create(&cfg, &act, &a, err, sizeof err), 0);
    char fps[64][24];
    int n = 0, rc = 0;
    while (n < 64 && rc == 0) {
        snprintf(fps[n], sizeof fps[n], "fp-big-%02d", n);
        struct vg_notification fire = sample_on(fps[n], "web-1");
        fire.summary = big;
        if ((rc = act->submit(a, &fire)) == 0)
            n++;
    }
    assert_int_equal(rc, -ENOBUFS);
    assert_true(n >= 2);
    act->destroy(a, 0);
    /* At the next start, holding: every one of them is held, and a new alert is still taken. */
    cfg.hold_firings = 1;
    assert_int_equal(vg_action_create(&cfg, &act, &a, err, sizeof err), 0);
    wait_held(act, a, (uint64_t)n);
    struct vg_notification fresh = sample_on("fp-new-00", "web-2");
    fresh.summary = big;
    rc = act->submit(a, &fresh);
    if (rc != 0)
        fail_msg("a new firing refused (%s) with %d firings held and nothing queued", strerror(-rc),
                 n);
    act->destroy(a, 0);
}

static int holds_web1(void *ud, const char *host)
{
    (void)ud;
    return strcmp(host, "web-1") == 0;
}

/* Replayed at start, firings of web-1 and web-2 are held. The state restore takes over web-1
 * and one of its alerts as firing: that firing goes out; web-1's other firing is of an alert that
 * does not fire here, and restored() drops it; web-2, held elsewhere, keeps its own held. */
static void test_restore_drops_held_firings_of_its_hosts_not_taken_over(void **state)
{
    struct fx *f = *state;
    const char *url = "http://127.0.0.1:9/hook";
    assert_int_equal(mkdir(f->obox, 0700), 0);
    const struct vg_action *act;
    void *a = analyzer_rx_with(url, f->obox, 0, 0, 0, &act);
    struct vg_notification here = sample_on("fp-here", "web-1");
    struct vg_notification there = sample_on("fp-there", "web-2");
    struct vg_notification fires = sample_on("fp-fires", "web-1");
    assert_int_equal(act->submit(a, &here), 0);
    assert_int_equal(act->submit(a, &there), 0);
    assert_int_equal(act->submit(a, &fires), 0);
    wait_attempt_errors(act, a, 1);
    act->destroy(a, 0);

    a = analyzer_rx_with(url, f->obox, 0, 0, 0, &act);
    assert_non_null(act->restored);
    struct vg_action_stats st;
    act->stats(a, &st);
    assert_int_equal(st.held, 3);
    fires.adopted = 1;
    assert_int_equal(act->adopt(a, &fires), 0);
    act->restored(a, holds_web1, NULL);
    act->stats(a, &st);
    assert_int_equal(st.held, 1);
    assert_int_equal(st.queued, 1);
    assert_int_equal(st.coalesced, 1);
    char *log = log_text(f);
    assert_non_null(strstr(log, "held firings dropped: this analyzer holds their hosts"));
    free(log);
    act->destroy(a, 0);
    /* fp-here is done in the outbox. */
    a = analyzer_rx_with(url, f->obox, 0, 0, 0, &act);
    act->stats(a, &st);
    assert_int_equal(st.replayed, 2);
    act->destroy(a, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_round_trips_every_field),
        cmocka_unit_test_setup_teardown(test_pending_records_survive_reopen_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_everything_acked_cuts_the_file_to_its_header, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_is_detected_logged_and_skipped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_flipped_bytes_are_detected_and_reading_resumes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_compaction_keeps_exactly_the_pending_records, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_full_outbox_refuses_with_enobufs_and_counts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_an_append_over_the_limit_is_taken_when_asked_for,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_appends_without_sync_share_one_fdatasync, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_after_a_failed_sync_the_records_are_rewritten_before_they_count_as_durable, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_a_failed_ack_sync_leaves_the_unsynced_records_to_be_rewritten, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_shows_the_acked_records_still_in_the_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_one_outbox_file_has_one_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_alerts_accepted_before_sigkill_are_delivered_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_outbox_refuses_submit_and_destroy_keeps_the_rest,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_failed_appends_are_counted_logged_once_and_reported_at_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_submits_racing_a_compaction_complete_and_nothing_is_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replayed_firing_is_held_until_its_alert_is_adopted,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_failing_firing_of_a_host_handed_over_is_not_sent_after_the_new_owners_resolve,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_firing_in_flight_at_the_hand_over_is_not_sent_after_the_new_owners_resolve, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_held_firing_is_counted_and_expires_at_max_age_while_running, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_held_firings_leave_room_for_new_notifications_and_their_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_held_firings_leave_bytes_for_new_notifications, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restore_drops_held_firings_of_its_hosts_not_taken_over,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_measure_fsync_cost_per_submit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
