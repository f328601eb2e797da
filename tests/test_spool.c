/* The agent's spool on a real directory: order, bounds, restarts and damage. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vg_log.h"
#include "vg_spool.h"
#include "vg_util.h"

static char dir[64];
static char err[VG_ERRLEN];

/* pread is wrapped (-Wl,--wrap=pread, tests/core.cmake): while eio_to > eio_from, a read that
 * touches [eio_from, eio_to) fails with EIO, as a bad sector does; with eio_ino set, only in that
 * file. */
static uint64_t eio_from, eio_to;
static ino_t eio_ino;
ssize_t __real_pread(int fd, void *buf, size_t n, off_t off);
ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off);
ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off)
{
    struct stat sb;
    if (eio_to > eio_from && (uint64_t)off < eio_to && (uint64_t)off + n > eio_from &&
        (!eio_ino || (fstat(fd, &sb) == 0 && sb.st_ino == eio_ino))) {
        errno = EIO;
        return -1;
    }
    return __real_pread(fd, buf, n, off);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/vigil-test-spool.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int log_restore(void);

static int teardown(void **state)
{
    (void)state;
    /* A test that failed while its log lines were captured: they are shown here. */
    log_restore();
    eio_from = eio_to = 0; /* nor does its bad sector stay for the next test */
    eio_ino = 0;
    char cmd[400];
    snprintf(cmd, sizeof cmd,
             "if [ -f '%s.log' ]; then cat '%s.log' >&2; rm '%s.log'; fi; rm -rf '%s'", dir, dir,
             dir, dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct vg_spool *open_spool(uint64_t max_bytes, int64_t max_age_ms, uint64_t seg_bytes)
{
    struct vg_spool_cfg cfg = {
        .dir = dir, .max_bytes = max_bytes, .max_age_ms = max_age_ms, .segment_bytes = seg_bytes};
    struct vg_spool *s = NULL;
    if (vg_spool_open(&s, &cfg, err, sizeof err) != 0)
        fail_msg("vg_spool_open: %s", err);
    return s;
}

static void append_n(struct vg_spool *s, int from, int to, int64_t ts)
{
    for (int i = from; i < to; i++) {
        char msg[64];
        int n = snprintf(msg, sizeof msg, "message %04d", i);
        assert_int_equal(vg_spool_append(s, ts, msg, (size_t)n, err, sizeof err), 0);
    }
}

/* Reads the next record and checks it is message i; returns its token. */
static uint64_t expect_next(struct vg_spool *s, int64_t now, int i)
{
    void *buf;
    size_t len;
    uint64_t token;
    char want[64];
    int n = snprintf(want, sizeof want, "message %04d", i);
    assert_int_equal(vg_spool_next(s, now, &buf, &len, &token), 1);
    assert_int_equal(len, (size_t)n);
    assert_memory_equal(buf, want, len);
    free(buf);
    return token;
}

static void expect_empty(struct vg_spool *s)
{
    void *buf;
    size_t len;
    uint64_t token;
    assert_int_equal(vg_spool_next(s, 0, &buf, &len, &token), 0);
}

/* Log lines go to a file from log_capture() to log_lines(), which counts those with `text` and
 * keeps the last in `last`. The generic rate limit is off meanwhile: it would hide how many lines
 * the spool asks for. */
static char log_path[128];
static int log_saved = -1;

static void log_capture(void)
{
    snprintf(log_path, sizeof log_path, "%s.log", dir);
    vg_log_set_rate_limit(0, 0);
    fflush(stderr);
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    log_saved = dup(2);
    assert_true(log_saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
}

/* Back to the test's stderr; 0 when there was no capture. */
static int log_restore(void)
{
    if (log_saved < 0)
        return 0;
    fflush(stderr);
    dup2(log_saved, 2);
    close(log_saved);
    log_saved = -1;
    vg_log_set_rate_limit(20, 10000);
    return 1;
}

static int log_lines(const char *text, char *last, size_t n)
{
    log_restore();
    FILE *f = fopen(log_path, "r");
    assert_non_null(f);
    char line[2048];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        fputs(line, stderr); /* still shown with the test's output */
        if (strstr(line, text)) {
            lines++;
            if (last)
                snprintf(last, n, "%s", line);
        }
    }
    fclose(f);
    unlink(log_path);
    return lines;
}

static int segment_files(void)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strstr(e->d_name, ".spool") != NULL;
    closedir(d);
    return n;
}

static void records_come_back_in_order_and_leave_when_delivered(void **state)
{
    (void)state;
    struct vg_spool *s = open_spool(0, 0, 200); /* 7 records of 32 bytes per segment */
    assert_false(vg_spool_busy(s));
    append_n(s, 0, 20, 1000);
    assert_true(vg_spool_busy(s));
    assert_int_equal(segment_files(), 3);
    uint64_t tokens[20];
    for (int i = 0; i < 20; i++)
        tokens[i] = expect_next(s, 1000, i);
    expect_empty(s);
    assert_true(vg_spool_busy(s)); /* handed out, not yet delivered */
    for (int i = 0; i < 20; i++)
        vg_spool_delivered(s, tokens[i]);
    assert_false(vg_spool_busy(s));
    assert_int_equal(segment_files(), 0);
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.appended, 20);
    assert_int_equal(st.delivered, 20);
    assert_int_equal(st.bytes, 0);
    vg_spool_close(s);
}

static void undelivered_records_survive_a_restart_in_order(void **state)
{
    (void)state;
    struct vg_spool *s = open_spool(0, 0, 200);
    append_n(s, 0, 12, 1000);
    int files = segment_files();
    assert_true(files >= 2);
    uint64_t tokens[12];
    for (int i = 0; i < 12; i++)
        tokens[i] = expect_next(s, 1000, i);
    /* Records are confirmed in order until the first segment's file goes; the rest are handed
     * out but never confirmed. */
    int confirmed = 0;
    while (segment_files() == files && confirmed < 12)
        vg_spool_delivered(s, tokens[confirmed++]);
    assert_int_equal(segment_files(), files - 1);
    assert_true(confirmed < 12);
    vg_spool_close(s);

    s = open_spool(0, 0, 200);
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    /* Exactly the unconfirmed records are back, oldest first. */
    assert_int_equal(st.records, 12 - confirmed);
    int start = confirmed;
    for (int i = start; i < 12; i++)
        expect_next(s, 1000, i);
    append_n(s, 12, 14, 1000); /* new ones queue behind */
    expect_next(s, 1000, 12);
    expect_next(s, 1000, 13);
    expect_empty(s);
    vg_spool_close(s);
}

static void second_open_of_one_directory_is_refused(void **state)
{
    (void)state;
    struct vg_spool *s = open_spool(0, 0, 0), *t = NULL;
    struct vg_spool_cfg cfg = {.dir = dir};
    assert_int_equal(vg_spool_open(&t, &cfg, err, sizeof err), -EBUSY);
    assert_non_null(strstr(err, "in use by another process"));
    vg_spool_close(s);
}

/* The spool locks its directory with vg_dir_lock: the refusal names the holder's pid. */
static void second_open_names_the_pid_holding_the_spool(void **state)
{
    (void)state;
    struct vg_spool *s = open_spool(0, 0, 0), *t = NULL;
    struct vg_spool_cfg cfg = {.dir = dir};
    assert_int_equal(vg_spool_open(&t, &cfg, err, sizeof err), -EBUSY);
    char want[64];
    snprintf(want, sizeof want, "(pid %ld holds ", (long)getpid());
    assert_non_null(strstr(err, want));
    assert_int_equal(strncmp(err, "spool: ", 7), 0);
    vg_spool_close(s);
}

static void full_spool_drops_its_oldest_records_and_counts_them(void **state)
{
    (void)state;
    /* Records are 12 + 20 header bytes; 64-byte segments hold 2, the spool 6 (3 segments). */
    struct vg_spool *s = open_spool(6 * 32, 0, 64);
    append_n(s, 0, 10, 1000);
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    assert_true(st.bytes <= 6 * 32);
    assert_int_equal(st.dropped_full + st.records, 10);
    assert_true(st.dropped_full >= 4);
    /* What is left is the newest, still in order. */
    for (int i = (int)st.dropped_full; i < 10; i++)
        expect_next(s, 1000, i);
    expect_empty(s);
    vg_spool_close(s);
}

/* "spool full: oldest segment dropped" was logged for every segment dropped: with records the
 * size of a segment, a line a tick. It is now logged as expired records are, for the first drop
 * and then once each further 1000 records dropped; spool_dropped_full has them all. */
static void spool_full_is_logged_for_the_first_drop_and_every_1000_records(void **state)
{
    (void)state;
    log_capture();
    struct vg_spool *s = open_spool(6 * 32, 0, 64); /* 2 records a segment, 6 in the spool */
    append_n(s, 0, 3000, 1000);
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    vg_spool_close(s);
    int lines = log_lines("msg=\"spool full: oldest segment dropped\"", NULL, 0);
    assert_true(st.dropped_full >= 2990);
    assert_int_equal(st.dropped_full + st.records, 3000);
    /* The first drop, then past 1000 and 2000. */
    assert_int_equal(lines, 3);
}

static void expired_records_are_skipped_and_counted(void **state)
{
    (void)state;
    struct vg_spool *s = open_spool(0, 60000, 0);
    append_n(s, 0, 3, 1000);   /* old */
    append_n(s, 3, 5, 100000); /* recent */
    expect_next(s, 100000, 3);
    expect_next(s, 100000, 4);
    expect_empty(s);
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.dropped_age, 3);
    assert_int_equal(st.records, 2);
    vg_spool_close(s);
}

/* After an outage longer than spool.max_age the whole spool is expired. One vg_spool_next call
 * skips at most VG_SPOOL_SKIP_MAX of those records and returns 0, counted in vg_spool_yields, so
 * that the agent's loop ticks and pings its watchdog between the slices; the next calls go on
 * where it stopped, none skipped twice or lost, and the first recent record comes after them all.
 * One call used to skip the lot: some 40 s with GiBs, past the unit's WatchdogSec=30s. */
static void expired_records_are_skipped_in_slices(void **state)
{
    (void)state;
    enum { N = 20000 };
    struct vg_spool *s = open_spool(64u << 20, 60000, 0);
    append_n(s, 0, N, 1000);       /* old */
    append_n(s, N, N + 1, 100000); /* recent */
    void *buf = NULL;
    size_t len;
    uint64_t token;
    assert_int_equal(vg_spool_next(s, 100000, &buf, &len, &token), 0);
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.dropped_age, VG_SPOOL_SKIP_MAX);
    assert_int_equal(vg_spool_yields(s), 1);
    int zeros = 1;
    while (vg_spool_next(s, 100000, &buf, &len, &token) == 0)
        assert_true(++zeros < N);
    /* 20000 = 78 slices of 256 and 32 more, skipped by the call that returns the record. */
    assert_int_equal(zeros, N / VG_SPOOL_SKIP_MAX);
    assert_int_equal(vg_spool_yields(s), N / VG_SPOOL_SKIP_MAX);
    char want[32];
    int n = snprintf(want, sizeof want, "message %04d", N);
    assert_int_equal(len, (size_t)n);
    assert_memory_equal(buf, want, len);
    free(buf);
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.dropped_age, N);
    assert_int_equal(st.records, 1);
    /* Nothing left to skip: caught up, no slice counted. */
    vg_spool_delivered(s, token);
    expect_empty(s);
    assert_int_equal(vg_spool_yields(s), N / VG_SPOOL_SKIP_MAX);
    vg_spool_close(s);
}

struct progress {
    uint64_t calls, done, total;
    int backwards;
    uint64_t stop_at;           /* 0: never; else the call (1-based) that sets *stop, as a signal */
    volatile sig_atomic_t stop; /* the agent's g_stop */
};

static void on_progress(void *ud, uint64_t done, uint64_t total)
{
    struct progress *p = ud;
    if (p->calls && done < p->done)
        p->backwards = 1;
    p->calls++;
    p->done = done;
    p->total = total;
    if (p->stop_at && p->calls >= p->stop_at)
        p->stop = 1;
}

/* The start's scan reports its progress segment by segment, so that the agent can tell systemd it
 * is still reading (EXTEND_TIMEOUT_USEC) rather than be killed at TimeoutStartSec. */
static void the_start_scan_reports_its_progress_per_segment(void **state)
{
    (void)state;
    struct vg_spool *s = open_spool(0, 0, 1024);
    append_n(s, 0, 400, 1000);
    vg_spool_close(s);
    int files = segment_files();
    assert_true(files > 5);
    struct progress p = {0};
    struct vg_spool_cfg cfg = {.dir = dir, .progress = on_progress, .progress_ud = &p};
    assert_int_equal(vg_spool_open(&s, &cfg, err, sizeof err), 0);
    /* Before each segment (0 to files - 1 read so far) and once at the end. */
    assert_int_equal(p.calls, (uint64_t)files + 1);
    assert_int_equal(p.done, (uint64_t)files);
    assert_int_equal(p.total, (uint64_t)files);
    assert_false(p.backwards);
    vg_spool_close(s);
}

/* A stop asked for during the start's scan (SIGTERM, setting the flag cfg.stop points to) ends it
 * there: the agent's stop used to wait for the whole scan, minutes for GiBs. The open fails with
 * -ECANCELED, every segment file stays as it was, and the lock is released, so that the next open
 * reads them all. */
static void a_stop_during_the_start_scan_ends_it_and_leaves_the_spool(void **state)
{
    (void)state;
    struct vg_spool *s = open_spool(0, 0, 1024);
    append_n(s, 0, 400, 1000);
    vg_spool_close(s);
    int files = segment_files();
    assert_true(files > 5);
    struct progress p = {.stop_at = 3};
    struct vg_spool_cfg cfg = {
        .dir = dir, .progress = on_progress, .progress_ud = &p, .stop = &p.stop};
    s = NULL;
    assert_int_equal(vg_spool_open(&s, &cfg, err, sizeof err), -ECANCELED);
    assert_null(s);
    assert_non_null(strstr(err, "stopped in segment 3 of"));
    assert_int_equal(p.calls, 3); /* nothing read after the stop */
    assert_int_equal(segment_files(), files);
    p = (struct progress){0};
    assert_int_equal(vg_spool_open(&s, &cfg, err, sizeof err), 0);
    assert_int_equal(p.calls, (uint64_t)files + 1);
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.records, 400);
    vg_spool_close(s);
}

/* The path of the oldest (lowest id) segment file. */
static void first_segment(char *path, size_t n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char first[300] = "";
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".spool") && (!first[0] || strcmp(e->d_name, first) < 0))
            snprintf(first, sizeof first, "%s", e->d_name);
    closedir(d);
    snprintf(path, n, "%s/%s", dir, first);
}

/* Records 0..n-1 (ts 1000) written to segments of seg_bytes and the spool closed: they are then
 * in `segments` segment files. */
static void write_in_segments(int n, uint64_t seg_bytes, int segments)
{
    struct vg_spool *s = open_spool(0, 0, seg_bytes);
    append_n(s, 0, n, 1000);
    vg_spool_close(s);
    assert_int_equal(segment_files(), segments);
}

static void expect_corrupt_and_records(struct vg_spool *s, uint64_t corrupt, uint64_t records)
{
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.corrupt, corrupt);
    assert_int_equal(st.records, records);
}

/* Records 0..n-1 (ts 1000) come in order, each delivered, and then none. */
static void deliver_in_order(struct vg_spool *s, int n)
{
    for (int i = 0; i < n; i++)
        vg_spool_delivered(s, expect_next(s, 1000, i));
    expect_empty(s);
}

/* A damaged record used to cost the rest of its segment (up to 4 MiB of intact records); the
 * scan now finds the next valid record after the damage, and only the damaged one is lost. A
 * rewind hands the same records again, jumping the same gap. */
static void damaged_record_is_skipped_and_the_records_after_it_kept(void **state)
{
    (void)state;
    write_in_segments(21, 200, 3); /* 7 records of 32 bytes per segment */
    /* Flip a payload byte of the fourth record of the first (oldest: lowest id) segment. */
    char path[600];
    first_segment(path, sizeof path);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    char c;
    assert_int_equal(pread(fd, &c, 1, 3 * 32 + 25), 1);
    c ^= 0x40;
    assert_int_equal(pwrite(fd, &c, 1, 3 * 32 + 25), 1);
    close(fd);

    /* Record 3 goes with the damage; 4-6 after it, and the other segments, come back. */
    struct vg_spool *s = open_spool(0, 0, 200);
    expect_corrupt_and_records(s, 1, 20);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 21; i++)
            if (i != 3)
                expect_next(s, 1000, i);
        expect_empty(s);
        assert_int_equal(vg_spool_rewind(s), 0);
    }
    vg_spool_close(s);
}

/* A read error (a bad sector) was taken for damage: the rest of the segment was cut off, and at
 * offset 0 the segment, "without a valid record", was deleted. docs/reliability.md says an I/O
 * error leaves the segment untouched: it is now left in place whole, counted in corrupt, and the
 * next start (the sector readable again) gets every record of it. */
static void a_read_error_leaves_the_segment_in_place_whole(void **state)
{
    (void)state;
    const uint64_t ranges[][2] = {{64, 96}, {0, 32}}; /* record 2; record 0 */
    for (int c = 0; c < 2; c++) {
        write_in_segments(10, 1000, 1); /* one segment of 10 records of 32 bytes */
        eio_from = ranges[c][0];
        eio_to = ranges[c][1];
        struct vg_spool *s = open_spool(0, 0, 1000);
        eio_from = eio_to = 0;
        expect_corrupt_and_records(s, 1, 0); /* none handed out of a segment left in place */
        vg_spool_close(s);
        assert_int_equal(segment_files(), 1);
        s = open_spool(0, 0, 1000);
        expect_corrupt_and_records(s, 0, 10);
        deliver_in_order(s, 10);
        vg_spool_close(s);
        assert_int_equal(segment_files(), 0);
    }
}

/* Garbage written into a segment (not over a record: between two) and a segment cut in the middle
 * of a record: the records around the garbage are kept, and a cut tail costs only what was cut. */
static void garbage_between_records_and_a_cut_tail_lose_only_the_damage(void **state)
{
    (void)state;
    struct vg_spool *s = open_spool(0, 0, 1000);
    append_n(s, 0, 10, 1000); /* one segment of 10 records of 32 bytes */
    vg_spool_close(s);
    char path[600];
    first_segment(path, sizeof path);
    char *orig = malloc(320), junk[100];
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, orig, 320, 0), 320);
    for (size_t i = 0; i < sizeof junk; i++) /* with a magic in it, that is no record */
        junk[i] = (char)(i % 7 == 0 ? 'V' : "PSGV"[i % 4]);
    /* records 0-4, 100 bytes of junk, records 5-9 cut in the middle of record 9 */
    assert_int_equal(pwrite(fd, junk, sizeof junk, 5 * 32), (ssize_t)sizeof junk);
    assert_int_equal(pwrite(fd, orig + 5 * 32, 5 * 32 - 10, 5 * 32 + sizeof junk), 5 * 32 - 10);
    assert_int_equal(ftruncate(fd, 5 * 32 + sizeof junk + 5 * 32 - 10), 0);
    close(fd);
    free(orig);
    s = open_spool(0, 0, 1000);
    expect_corrupt_and_records(s, 2, 9);
    deliver_in_order(s, 9);
    vg_spool_close(s);
    assert_int_equal(segment_files(), 0); /* all delivered: removed */
}

/* One segment the agent cannot read used to turn the whole spool off, its readable segments
 * never sent; a FIFO named like a segment held the start in open(). Each is now skipped, left in
 * place, logged and counted in spool_corrupt, and the others are read. (A chmod 000 file would not
 * do: the tests run as root. A dangling symlink fails the open as EACCES or EIO would.) */
static void unreadable_or_odd_segments_are_skipped_and_the_others_kept(void **state)
{
    (void)state;
    write_in_segments(14, 200, 2); /* 7 records of 32 bytes per segment */
    char path[600];
    snprintf(path, sizeof path, "%s/%020llu.spool", dir, 1000ull);
    assert_int_equal(symlink("/nonexistent/segment", path), 0);
    snprintf(path, sizeof path, "%s/%020llu.spool", dir, 1001ull);
    assert_int_equal(mkfifo(path, 0600), 0);
    snprintf(path, sizeof path, "%s/%020llu.spool", dir, 1002ull);
    assert_int_equal(mkdir(path, 0700), 0);
    /* The old code waited in open() on the FIFO for ever: end the test instead. */
    alarm(20);
    struct vg_spool *s = open_spool(0, 0, 200);
    alarm(0);
    expect_corrupt_and_records(s, 3, 14);
    deliver_in_order(s, 14);
    /* New records get ids of their own, and the odd files stay untouched. */
    append_n(s, 14, 15, 1000);
    expect_next(s, 1000, 14);
    vg_spool_close(s);
    struct stat sb;
    snprintf(path, sizeof path, "%s/%020llu.spool", dir, 1000ull);
    assert_int_equal(lstat(path, &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
    snprintf(path, sizeof path, "%s/%020llu.spool", dir, 1001ull);
    assert_int_equal(lstat(path, &sb), 0);
    assert_true(S_ISFIFO(sb.st_mode));
    snprintf(path, sizeof path, "%s/%020llu.spool", dir, 1002ull);
    assert_int_equal(lstat(path, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
}

static void prepended_records_come_before_the_spooled_ones(void **state)
{
    (void)state;
    struct vg_spool *s = open_spool(0, 0, 0);
    append_n(s, 10, 12, 1000);
    for (int i = 8; i < 10; i++) {
        char msg[64];
        int n = snprintf(msg, sizeof msg, "message %04d", i);
        assert_int_equal(vg_spool_prepend(s, 1000, msg, (size_t)n, err, sizeof err), 0);
    }
    vg_spool_close(s);
    s = open_spool(0, 0, 0);
    for (int i = 8; i < 12; i++)
        expect_next(s, 1000, i);
    expect_empty(s);
    vg_spool_close(s);
}

/* The agent replaces a producer that hit a fatal error: what it had been handed and not
 * delivered is handed again, from the first undelivered record, with what was prepended (the
 * replaced producer's own queue) first, and nothing delivered comes twice. */
static void rewind_hands_the_undelivered_records_again_in_order(void **state)
{
    (void)state;
    struct vg_spool *s = open_spool(0, 0, 200); /* 7 records per segment */
    append_n(s, 10, 30, 1000);
    uint64_t tokens[20];
    for (int i = 0; i < 15; i++)
        tokens[i] = expect_next(s, 1000, 10 + i);
    for (int i = 0; i < 9; i++) /* into the second segment */
        vg_spool_delivered(s, tokens[i]);
    for (int i = 8; i < 10; i++) {
        char msg[64];
        int n = snprintf(msg, sizeof msg, "message %04d", i);
        assert_int_equal(vg_spool_prepend(s, 1000, msg, (size_t)n, err, sizeof err), 0);
    }
    assert_int_equal(vg_spool_rewind(s), 0);
    expect_next(s, 1000, 8);
    expect_next(s, 1000, 9);
    for (int i = 19; i < 30; i++)
        expect_next(s, 1000, i);
    expect_empty(s);
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.records, 13);
    vg_spool_close(s);
}

/* Records finished out of order while older ones were in flight (expired, given up on, lost to
 * damage) are not handed again by a rewind, and the older ones are. */
static void rewind_hands_again_the_record_in_flight_before_an_expired_one(void **state)
{
    (void)state;
    struct vg_spool *s = open_spool(0, 1000, 0);
    append_n(s, 0, 1, 1000);
    append_n(s, 1, 2, 900); /* the wall clock stepped back */
    append_n(s, 2, 3, 2000);
    expect_next(s, 2000, 0); /* at its age limit, still sent */
    expect_next(s, 2000, 2); /* 1 expired */
    assert_int_equal(vg_spool_rewind(s), 0);
    expect_next(s, 2000, 0);
    expect_next(s, 2000, 2);
    expect_empty(s);
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.dropped_age, 1);
    assert_int_equal(st.records, 2);
    vg_spool_close(s);
}

static void rewind_hands_again_the_record_in_flight_before_one_given_up_on(void **state)
{
    (void)state;
    struct vg_spool *s = open_spool(0, 0, 0);
    append_n(s, 0, 3, 1000);
    expect_next(s, 1000, 0);
    vg_spool_delivered(s, expect_next(s, 1000, 1)); /* refused by rd_kafka_produce */
    expect_next(s, 1000, 2);
    assert_int_equal(vg_spool_rewind(s), 0);
    uint64_t t0 = expect_next(s, 1000, 0);
    uint64_t t2 = expect_next(s, 1000, 2);
    expect_empty(s);
    vg_spool_delivered(s, t2);
    vg_spool_delivered(s, t0);
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.records, 0);
    assert_int_equal(st.delivered, 3);
    vg_spool_close(s);
}

/* Damage found while sending used to cost the rest of the segment (records 5-9 here); now only
 * the damaged record goes, and a rewind hands again the records in flight on both sides of it,
 * jumping the damage as the reader did. */
static void rewind_hands_again_the_records_in_flight_around_a_damaged_one(void **state)
{
    (void)state;
    struct vg_spool *s = open_spool(0, 0, 0);
    append_n(s, 0, 10, 1000); /* 32 bytes each, one segment */
    uint64_t tokens[5];
    for (int i = 0; i < 5; i++)
        tokens[i] = expect_next(s, 1000, i);
    for (int i = 0; i < 3; i++)
        vg_spool_delivered(s, tokens[i]);
    /* Damage the magic of record 5 behind the spool's back. */
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[600] = "";
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".spool"))
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    closedir(d);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "XXXX", 4, 5 * 32), 4);
    close(fd);
    for (int i = 6; i < 10; i++) /* record 5 lost */
        expect_next(s, 1000, i);
    expect_empty(s);
    assert_int_equal(vg_spool_rewind(s), 0);
    uint64_t again[10];
    for (int i = 3; i < 10; i++)
        if (i != 5)
            again[i] = expect_next(s, 1000, i);
    expect_empty(s);
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.records, 6);
    assert_int_equal(st.corrupt, 1);
    for (int i = 3; i < 10; i++)
        if (i != 5)
            vg_spool_delivered(s, again[i]);
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.records, 0);
    assert_int_equal(segment_files(), 0);
    vg_spool_close(s);
}

/* The path of segment file number k (0: the oldest) and its inode. */
static ino_t nth_segment(int k, char *path, size_t n)
{
    struct dirent **names;
    int m = scandir(dir, &names, NULL, alphasort), seen = 0;
    assert_true(m >= 0);
    path[0] = '\0';
    for (int i = 0; i < m; i++) {
        if (strstr(names[i]->d_name, ".spool") && seen++ == k)
            snprintf(path, n, "%s/%s", dir, names[i]->d_name);
        free(names[i]);
    }
    free(names);
    assert_true(path[0] != '\0');
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return sb.st_ino;
}

/* Damage found while sending (not at the start) used to give up on the rest of its segment, and
 * the segment was deleted once the records before the damage were delivered: the intact records
 * after it were lost with a single "rest of it skipped" line. Now, as at the start, the reader
 * goes on at the next intact record, logging the file and offset; only a segment cut short loses
 * its tail. A rewind jumps the damage the same way. */
static void damage_found_while_sending_costs_only_the_damaged_records(void **state)
{
    (void)state;
    write_in_segments(21, 200, 3); /* 7 records of 32 bytes per segment */
    struct vg_spool *s = open_spool(0, 0, 200);
    uint64_t t0 = expect_next(s, 1000, 0), t1 = expect_next(s, 1000, 1);
    /* A payload byte of record 3 flipped, and the second segment cut inside its record 3 (10). */
    char a[600], b[600];
    nth_segment(0, a, sizeof a);
    nth_segment(1, b, sizeof b);
    int fd = open(a, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "#", 1, 3 * 32 + 25), 1);
    close(fd);
    assert_int_equal(truncate(b, 3 * 32 + 10), 0);
    log_capture();
    uint64_t tokens[21] = {t0, t1};
    for (int i = 2; i < 21; i++)
        if (i != 3 && !(i >= 10 && i < 14))
            tokens[i] = expect_next(s, 1000, i);
    expect_empty(s);
    char line[2048];
    int skipped = log_lines("spool: damaged record while sending, skipped to the next valid record",
                            line, sizeof line);
    assert_int_equal(skipped, 1);
    char want[700];
    snprintf(want, sizeof want, "file=%s offset=96 bytes_skipped=32 resumed_at=128 records_lost=1",
             a);
    assert_non_null(strstr(line, want));
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.corrupt, 2);
    assert_int_equal(st.records, 21 - 5);
    /* The same records again, and no more, after a rewind. */
    assert_int_equal(vg_spool_rewind(s), 0);
    for (int i = 0; i < 21; i++)
        if (i != 3 && !(i >= 10 && i < 14))
            tokens[i] = expect_next(s, 1000, i);
    expect_empty(s);
    for (int i = 0; i < 21; i++)
        if (i != 3 && !(i >= 10 && i < 14))
            vg_spool_delivered(s, tokens[i]);
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.records, 0);
    assert_int_equal(st.delivered, 16);
    assert_int_equal(segment_files(), 0);
    vg_spool_close(s);
}

/* Records 0..2 of two segments of 7 read and delivered, then record 3 of the first segment
 * unreadable (EIO) until the test clears it. */
static struct vg_spool *open_with_a_bad_sector_at_record_3(void)
{
    write_in_segments(14, 200, 2);
    char path[600];
    eio_ino = nth_segment(0, path, sizeof path);
    struct vg_spool *s = open_spool(0, 0, 200);
    for (int i = 0; i < 3; i++)
        vg_spool_delivered(s, expect_next(s, 1000, i));
    eio_from = 3 * 32;
    eio_to = 4 * 32;
    return s;
}

static void expect_nothing_at(struct vg_spool *s, int64_t now, uint64_t read_errors)
{
    void *buf;
    size_t len;
    uint64_t token;
    assert_int_equal(vg_spool_next(s, now, &buf, &len, &token), 0);
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.read_errors, read_errors);
}

/* A read error while sending gave up on the rest of the segment at once. It says nothing of the
 * bytes, and a bad sector or a disk resetting may read again: the reader now waits at the record,
 * tries again after 1 s, then 2 s, ..., handing nothing out meanwhile (the order is kept), and
 * once the read succeeds everything is sent. */
static void a_read_error_while_sending_is_tried_again_losing_nothing(void **state)
{
    (void)state;
    struct vg_spool *s = open_with_a_bad_sector_at_record_3();
    expect_nothing_at(s, 1000, 1);
    /* Held by the read error, not by Kafka: the agent's local guard leaves these out. */
    assert_true(vg_spool_read_held(s));
    expect_nothing_at(s, 1999, 1); /* not tried before its time */
    expect_nothing_at(s, 2000, 2);
    eio_from = eio_to = 0;
    eio_ino = 0;
    expect_nothing_at(s, 3999, 2);
    assert_true(vg_spool_read_held(s));
    uint64_t tokens[14];
    for (int i = 3; i < 14; i++)
        tokens[i] = expect_next(s, 4000, i);
    assert_false(vg_spool_read_held(s));
    expect_empty(s);
    for (int i = 3; i < 14; i++)
        vg_spool_delivered(s, tokens[i]);
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.corrupt, 0);
    assert_int_equal(st.read_errors, 2);
    assert_int_equal(st.records, 0);
    assert_int_equal(segment_files(), 0);
    vg_spool_close(s);
}

/* A bad sector that stays bad: after 6 attempts (31 s) the segment is set aside, so that it does
 * not hold the spool for ever. Its records from the bad one on are not sent in this run, and its
 * file stays whole on disk (the old code deleted it once the records before were delivered); the
 * next start, the sector readable again, sends all of it. */
static void a_segment_unreadable_while_sending_is_set_aside_whole_for_the_next_start(void **state)
{
    (void)state;
    struct vg_spool *s = open_with_a_bad_sector_at_record_3();
    int64_t at[] = {1000, 2000, 4000, 8000, 16000};
    for (int k = 0; k < 5; k++)
        expect_nothing_at(s, at[k], (uint64_t)k + 1);
    expect_nothing_at(s, 31999, 5);
    log_capture();
    uint64_t tokens[14];
    assert_true(vg_spool_read_held(s));
    for (int i = 7; i < 14; i++) /* the 6th attempt fails: set aside, the next segment sent */
        tokens[i] = expect_next(s, 32000, i);
    assert_false(vg_spool_read_held(s));
    expect_empty(s);
    assert_int_equal(log_lines("spool: segment unreadable while sending, set aside", NULL, 0), 1);
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.read_errors, 6);
    assert_int_equal(st.corrupt, 1);
    assert_int_equal(st.records, 7);
    for (int i = 7; i < 14; i++)
        vg_spool_delivered(s, tokens[i]);
    assert_false(vg_spool_busy(s));
    vg_spool_close(s);
    char path[600];
    nth_segment(0, path, sizeof path);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, 7 * 32);
    assert_int_equal(segment_files(), 1);
    eio_from = eio_to = 0;
    eio_ino = 0;
    s = open_spool(0, 0, 200);
    expect_corrupt_and_records(s, 0, 7);
    deliver_in_order(s, 7); /* 0-2 a second time: the analyzer drops duplicates */
    vg_spool_close(s);
    assert_int_equal(segment_files(), 0);
}

/* A segment that could no longer be opened while sending (removed behind the agent's back here;
 * a permission changed, a file replaced) made vg_spool_next fail at every call: nothing spooled
 * after it was ever sent. It is now tried again as a read error is, then set aside. */
static void a_segment_removed_while_sending_does_not_hold_the_spool(void **state)
{
    (void)state;
    write_in_segments(14, 200, 2);
    struct vg_spool *s = open_spool(0, 0, 200);
    for (int i = 0; i < 7; i++)
        vg_spool_delivered(s, expect_next(s, 1000, i));
    char path[600];
    nth_segment(0, path, sizeof path);
    assert_int_equal(unlink(path), 0);
    append_n(s, 14, 15, 1000);
    int64_t at[] = {1000, 2000, 4000, 8000, 16000};
    for (int k = 0; k < 5; k++)
        expect_nothing_at(s, at[k], (uint64_t)k + 1);
    vg_spool_delivered(s, expect_next(s, 32000, 14));
    expect_empty(s);
    assert_false(vg_spool_busy(s));
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.corrupt, 1);
    assert_int_equal(st.read_errors, 6);
    vg_spool_close(s);
}

/* spool.max_bytes lowered across a restart: the spool dropped the surplus only at the first
 * record spooled, with a line per 1000 records that named neither the whole nor the cause. The
 * oldest segments now go at the start, counted in dropped_full and logged once with the
 * segments, records and bytes. */
static void a_lowered_max_bytes_drops_the_oldest_segments_at_start_logged_once(void **state)
{
    (void)state;
    write_in_segments(21, 200, 3); /* 3 segments of 7 records, 224 bytes each */
    log_capture();
    struct vg_spool *s = open_spool(8 * 32, 0, 200);
    char line[2048];
    int lines = log_lines("spool: more spooled than spool.max_bytes at start, oldest segments "
                          "dropped",
                          line, sizeof line);
    assert_int_equal(lines, 1);
    assert_non_null(strstr(line, "segments=2 records=14 bytes=448 max_bytes=256 dropped_full=14"));
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.dropped_full, 14);
    assert_int_equal(st.records, 7);
    assert_int_equal(st.bytes, 224);
    assert_int_equal(segment_files(), 1);
    for (int i = 14; i < 21; i++)
        expect_next(s, 1000, i);
    expect_empty(s);
    vg_spool_close(s);
}

/* Segments of one record each (segment_bytes 1) stand for what restarts through an outage leave,
 * each run beginning a segment. Past VG_SPOOL_MAX_SEGS the spool went on making them, and the
 * next start refused the whole spool ("too many segments"): nothing of it was sent, and the agent
 * ran without one. The oldest segment now goes at the limit, as at max_bytes. */
static void at_the_segment_file_limit_the_oldest_goes_and_a_restart_reads_the_rest(void **state)
{
    (void)state;
    struct vg_spool *s = open_spool(0, 0, 1);
    append_n(s, 0, VG_SPOOL_MAX_SEGS + 3, 1000);
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.dropped_full, 3);
    assert_int_equal(st.records, VG_SPOOL_MAX_SEGS);
    vg_spool_close(s);
    assert_int_equal(segment_files(), VG_SPOOL_MAX_SEGS);
    s = open_spool(0, 0, 1);
    expect_corrupt_and_records(s, 0, VG_SPOOL_MAX_SEGS);
    for (int i = 3; i < 6; i++)
        expect_next(s, 1000, i);
    vg_spool_close(s);
}

/* A directory with more segment files than the limit (left by an agent from before it was kept)
 * made the start refuse the spool. The oldest beyond the limit are now dropped, counted and
 * logged once, and the rest taken over. */
static void
a_directory_with_more_segment_files_than_the_limit_opens_without_the_oldest(void **state)
{
    (void)state;
    write_in_segments(1, 200, 1);
    char first[600], path[600];
    snprintf(first, sizeof first, "%s/%020llu.spool", dir, 1ull << 40);
    for (int i = 1; i < VG_SPOOL_MAX_SEGS + 3; i++) {
        snprintf(path, sizeof path, "%s/%020llu.spool", dir, (1ull << 40) + (unsigned)i);
        assert_int_equal(link(first, path), 0);
    }
    log_capture();
    struct vg_spool *s = open_spool(0, 0, 200);
    int lines =
        log_lines("spool: more segment files than the spool keeps, oldest dropped", NULL, 0);
    assert_int_equal(lines, 1);
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.dropped_full, 3);
    assert_int_equal(st.records, VG_SPOOL_MAX_SEGS);
    assert_int_equal(segment_files(), VG_SPOOL_MAX_SEGS);
    assert_int_not_equal(access(first, F_OK), 0); /* the oldest went */
    assert_int_equal(access(path, F_OK), 0);      /* the newest stayed */
    expect_next(s, 1000, 0);
    vg_spool_close(s);
}

/* An agent restarted with a backlog hands out its oldest record, then a message as large as the
 * spool pushes out every segment of the earlier run, the last one included. The new segment must
 * not take a dropped one's id: the late delivery report of the record in flight would then mark
 * the new message delivered and it would never be sent. */
static void late_report_after_the_last_segment_is_dropped_leaves_the_new_record_alone(void **state)
{
    (void)state;
    struct vg_spool *s = open_spool(6 * 32, 0, 64); /* 2 records per segment, 3 segments */
    append_n(s, 0, 6, 1000);
    vg_spool_close(s);
    s = open_spool(6 * 32, 0, 64);
    uint64_t late = expect_next(s, 1000, 0);
    char big[150];
    memset(big, 'b', sizeof big);
    assert_int_equal(vg_spool_append(s, 1000, big, sizeof big, err, sizeof err), 0);
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.dropped_full, 5); /* record 0 is in flight: its report counts it */
    assert_int_equal(st.records, 1);
    vg_spool_delivered(s, late);
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(st.late_reports, 1);
    assert_int_equal(st.records, 1);
    void *buf;
    size_t len;
    uint64_t token;
    assert_int_equal(vg_spool_next(s, 1000, &buf, &len, &token), 1);
    assert_int_equal(len, sizeof big);
    assert_memory_equal(buf, big, len);
    free(buf);
    assert_int_not_equal(token, late);
    vg_spool_close(s);
}

/* A producer hitting a fatal error sends its direct messages back to be prepended, while reports
 * of spooled records it delivered before still come. The prepend segment must not take the id of
 * the oldest segment, dropped for room while one of its records was in flight. */
static void late_report_after_a_drop_leaves_a_prepended_record_alone(void **state)
{
    (void)state;
    struct vg_spool *s = open_spool(4 * 32, 0, 64); /* 2 records per segment, 2 segments */
    append_n(s, 0, 4, 1000);
    uint64_t late = expect_next(s, 1000, 0);
    append_n(s, 4, 5, 1000); /* the oldest segment goes, record 0 in flight */
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.dropped_full, 1);
    char msg[64];
    int n = snprintf(msg, sizeof msg, "message %04d", 99);
    assert_int_equal(vg_spool_prepend(s, 1000, msg, (size_t)n, err, sizeof err), 0);
    vg_spool_delivered(s, late);
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(st.late_reports, 1);
    assert_int_equal(st.records, 4);
    assert_int_equal(vg_spool_rewind(s), 0); /* the replacement producer starts over */
    expect_next(s, 1000, 99);
    for (int i = 2; i < 5; i++)
        expect_next(s, 1000, i);
    expect_empty(s);
    vg_spool_close(s);
}

/* A token holds a segment id below 2^41: a file named above that (not written by the spool)
 * would hand out tokens that name another segment's records, and push new segment ids past what
 * tokens hold. It is left alone. */
static void segment_file_with_an_id_tokens_cannot_hold_is_left_alone(void **state)
{
    (void)state;
    struct vg_spool *s = open_spool(0, 0, 0);
    append_n(s, 0, 1, 1000);
    vg_spool_close(s);
    char from[600], to[600];
    snprintf(from, sizeof from, "%s/%020llu.spool", dir, 1ull << 40);
    snprintf(to, sizeof to, "%s/%020llu.spool", dir, (1ull << 41) + (1ull << 40));
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    assert_int_equal(system(cmd), 0);
    s = open_spool(0, 0, 0);
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.records, 1);
    vg_spool_delivered(s, expect_next(s, 1000, 0));
    expect_empty(s);
    assert_false(vg_spool_busy(s));
    append_n(s, 1, 2, 1000);
    expect_next(s, 1000, 1);
    vg_spool_close(s);
    assert_int_equal(access(to, F_OK), 0);
}

/* Records in flight when their segment is dropped for room are counted by their delivery report,
 * which never comes once the producer holding them is replaced: the rewind counts them as
 * dropped, and those reported before it are not counted twice. */
static void rewind_counts_the_records_in_flight_when_their_segment_was_dropped(void **state)
{
    (void)state;
    struct vg_spool *s = open_spool(4 * 32, 0, 64); /* 2 records per segment, 2 segments */
    append_n(s, 0, 4, 1000);
    uint64_t t0 = expect_next(s, 1000, 0);
    expect_next(s, 1000, 1);
    append_n(s, 4, 5, 1000); /* the oldest segment goes, both its records in flight */
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.dropped_full, 0);
    vg_spool_delivered(s, t0); /* reported; record 1 never is */
    assert_int_equal(vg_spool_rewind(s), 0);
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.late_reports, 1);
    assert_int_equal(st.dropped_full, 1);
    assert_int_equal(st.records, 3);
    for (int i = 2; i < 5; i++)
        expect_next(s, 1000, i);
    expect_empty(s);
    assert_int_equal(vg_spool_rewind(s), 0); /* nothing more to count */
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.dropped_full, 1);
    vg_spool_close(s);
}

/* A record given back unsent (purged at exit, or by a producer being replaced) whose segment
 * the spool dropped while it was in flight is lost: counted in dropped_full then, once, and not
 * called kept. At exit no rewind follows, so it was counted nowhere and the agent's "kept in the
 * spool" line counted it. */
static void a_record_given_back_after_its_segment_was_dropped_is_counted_once(void **state)
{
    (void)state;
    struct vg_spool *s = open_spool(4 * 32, 0, 64); /* 2 records per segment, 2 segments */
    append_n(s, 0, 4, 1000);
    uint64_t t0 = expect_next(s, 1000, 0);
    expect_next(s, 1000, 1);
    append_n(s, 4, 5, 1000); /* the oldest segment goes, both its records in flight */
    uint64_t t2 = expect_next(s, 1000, 2);
    assert_int_equal(vg_spool_kept(s, t0), 0);
    assert_int_equal(vg_spool_kept(s, t2), 1);
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.dropped_full, 1);
    assert_int_equal(vg_spool_rewind(s), 0); /* record 1 never came back: counted here */
    vg_spool_get_stats(s, &st);
    assert_int_equal(st.dropped_full, 2);
    for (int i = 2; i < 5; i++)
        expect_next(s, 1000, i);
    expect_empty(s);
    vg_spool_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(records_come_back_in_order_and_leave_when_delivered, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(undelivered_records_survive_a_restart_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(second_open_of_one_directory_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(second_open_names_the_pid_holding_the_spool, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(full_spool_drops_its_oldest_records_and_counts_them, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            spool_full_is_logged_for_the_first_drop_and_every_1000_records, setup, teardown),
        cmocka_unit_test_setup_teardown(expired_records_are_skipped_and_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(expired_records_are_skipped_in_slices, setup, teardown),
        cmocka_unit_test_setup_teardown(the_start_scan_reports_its_progress_per_segment, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_stop_during_the_start_scan_ends_it_and_leaves_the_spool,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(damaged_record_is_skipped_and_the_records_after_it_kept,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(garbage_between_records_and_a_cut_tail_lose_only_the_damage,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_read_error_leaves_the_segment_in_place_whole, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(unreadable_or_odd_segments_are_skipped_and_the_others_kept,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(prepended_records_come_before_the_spooled_ones, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(rewind_hands_the_undelivered_records_again_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            rewind_hands_again_the_record_in_flight_before_an_expired_one, setup, teardown),
        cmocka_unit_test_setup_teardown(
            rewind_hands_again_the_record_in_flight_before_one_given_up_on, setup, teardown),
        cmocka_unit_test_setup_teardown(
            rewind_hands_again_the_records_in_flight_around_a_damaged_one, setup, teardown),
        cmocka_unit_test_setup_teardown(damage_found_while_sending_costs_only_the_damaged_records,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_read_error_while_sending_is_tried_again_losing_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_segment_unreadable_while_sending_is_set_aside_whole_for_the_next_start, setup,
            teardown),
        cmocka_unit_test_setup_teardown(a_segment_removed_while_sending_does_not_hold_the_spool,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_lowered_max_bytes_drops_the_oldest_segments_at_start_logged_once, setup, teardown),
        cmocka_unit_test_setup_teardown(
            at_the_segment_file_limit_the_oldest_goes_and_a_restart_reads_the_rest, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_directory_with_more_segment_files_than_the_limit_opens_without_the_oldest, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            late_report_after_the_last_segment_is_dropped_leaves_the_new_record_alone, setup,
            teardown),
        cmocka_unit_test_setup_teardown(late_report_after_a_drop_leaves_a_prepended_record_alone,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(segment_file_with_an_id_tokens_cannot_hold_is_left_alone,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            rewind_counts_the_records_in_flight_when_their_segment_was_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_record_given_back_after_its_segment_was_dropped_is_counted_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
