/* common/vg_atomicfile: a file's content replaced whole or not at all, with the step that failed
 * named, and no temp file left behind. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vg_atomicfile.h"
#include "vg_util.h"

/* write, fsync, close and rename are wrapped (-Wl,--wrap=..., tests/core.cmake), so that each step
 * can fail as a full or failing disk makes it fail; tests run as root, which no permission stops.
 * fail_fsync_at: the Nth fsync from now fails with EIO (1: the temp file's, 2: the directory's).
 * fail_close_errno: the next close fails so (the file is closed all the same, as close(2) does).
 * write_max: each write takes at most that many bytes (a short count, as a signal or a full pipe
 * gives); write_eintr_n: the next writes, that many, fail with EINTR having written nothing;
 * write_zero: every write returns 0.
 * unlink is wrapped too: replant_n more times, what it removed is at once created again, as a
 * racing writer or someone planting the temp file would. */
static int fail_write_errno, fail_rename_errno, fail_fsync_at, fail_close_errno, replant_n;
static int write_eintr_n, write_zero, writes;
static size_t write_max;
/* Set: the next write puts a file of this content at PATH.tmp in place of the one being
 * written, as a second writer of the same path does (it removes the first one's and creates its
 * own). */
static const char *replace_tmp_with;
static char tmp[160];

ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
    if (replace_tmp_with) {
        const char *text = replace_tmp_with;
        replace_tmp_with = NULL;
        assert_int_equal(unlink(tmp), 0);
        int other = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
        assert_true(other >= 0);
        assert_int_equal(__real_write(other, text, strlen(text)), (ssize_t)strlen(text));
        close(other);
    }
    writes++;
    if (fail_write_errno) {
        errno = fail_write_errno;
        return -1;
    }
    if (write_eintr_n > 0) {
        write_eintr_n--;
        errno = EINTR;
        return -1;
    }
    if (write_zero)
        return 0;
    return __real_write(fd, buf, write_max && n > write_max ? write_max : n);
}

int __real_close(int fd);
int __wrap_close(int fd);
int __wrap_close(int fd)
{
    int rc = __real_close(fd);
    if (fail_close_errno) {
        errno = fail_close_errno;
        fail_close_errno = 0;
        return -1;
    }
    return rc;
}

int __real_fsync(int fd);
int __wrap_fsync(int fd);
int __wrap_fsync(int fd)
{
    if (fail_fsync_at > 0 && --fail_fsync_at == 0) {
        errno = EIO;
        return -1;
    }
    return __real_fsync(fd);
}

int __real_rename(const char *from, const char *to);
int __wrap_rename(const char *from, const char *to);
int __wrap_rename(const char *from, const char *to)
{
    if (fail_rename_errno) {
        errno = fail_rename_errno;
        return -1;
    }
    return __real_rename(from, to);
}

int __real_unlink(const char *p);
int __wrap_unlink(const char *p);
int __wrap_unlink(const char *p)
{
    int rc = __real_unlink(p);
    if (replant_n > 0) {
        replant_n--;
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
        assert_true(fd >= 0);
        close(fd);
    }
    return rc;
}

static char dir[64], path[128];
static char err[VG_ERRLEN];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/vigil-test-atomicfile.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/state", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    err[0] = '\0';
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fail_write_errno = fail_rename_errno = fail_fsync_at = fail_close_errno = replant_n = 0;
    write_eintr_n = write_zero = writes = 0;
    write_max = 0;
    replace_tmp_with = NULL;
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* path's whole content, or "<missing>". */
static const char *content(const char *p)
{
    static char buf[256];
    int fd = open(p, O_RDONLY);
    if (fd < 0)
        return "<missing>";
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void put(const char *text, unsigned flags, int want)
{
    int rc = vg_atomicfile_write(path, text, strlen(text), 0600, flags, err, sizeof err);
    if (rc != want)
        fail_msg("vg_atomicfile_write: %d, wanted %d (%s)", rc, want, err);
}

static void assert_contains(const char *s, const char *part)
{
    if (!strstr(s, part))
        fail_msg("\"%s\" does not contain \"%s\"", s, part);
}

static void a_new_file_is_created_with_its_mode_and_then_replaced_whole(void **state)
{
    (void)state;
    put("first version\n", 0, 0);
    assert_string_equal(content(path), "first version\n");
    put("second\n", 0, 0);
    assert_string_equal(content(path), "second\n");
    assert_int_equal(access(tmp, F_OK), -1); /* no temp file left */
    assert_string_equal(err, "");
}

static mode_t mode_of(const char *p)
{
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    return st.st_mode & 07777;
}

/* The file gets the mode asked for, less the umask (umask 0: the mode itself, so that a mode
 * ignored or replaced by a default shows), as the header says; 0666 under 027 is what the
 * bootstrap file gets under a strict umask. */
static void the_file_gets_the_mode_asked_for_less_the_umask(void **state)
{
    (void)state;
    mode_t old = umask(0);
    int rc = vg_atomicfile_write(path, "a", 1, 0640, 0, err, sizeof err);
    mode_t got0 = rc ? 0 : mode_of(path);
    umask(027);
    int rc2 = vg_atomicfile_write(path, "b", 1, 0666, 0, err, sizeof err);
    mode_t got027 = rc2 ? 0 : mode_of(path);
    umask(old);
    assert_int_equal(rc, 0);
    assert_int_equal(rc2, 0);
    assert_int_equal(got0, 0640);
    assert_int_equal(got027, 0640);
}

/* write() taking part of what it is given, or interrupted by a signal before writing anything,
 * is not a failure: the rest is written, the file whole. */
static void short_and_interrupted_writes_are_continued(void **state)
{
    (void)state;
    const char *text = "hello world, in short writes";
    write_max = 3;
    write_eintr_n = 3;
    put(text, 0, 0);
    assert_string_equal(content(path), text);
    assert_int_equal(writes, 3 + (int)(strlen(text) + 2) / 3); /* 3 EINTRs, then 3 bytes each */
}

/* A write() that writes nothing and says no error would be retried for ever: it is a failure. */
static void a_write_that_writes_nothing_fails_with_eio(void **state)
{
    (void)state;
    put("old content", 0, 0);
    writes = 0;
    write_zero = 1;
    put("new content", 0, -EIO);
    assert_int_equal(writes, 1);
    assert_string_equal(content(path), "old content");
    assert_int_equal(access(tmp, F_OK), -1);
    char want[400];
    snprintf(want, sizeof want, "%s: writing state.tmp: Input/output error", path);
    assert_string_equal(err, want);
}

/* An empty content is a file of 0 bytes, not a failed write. */
static void an_empty_content_makes_an_empty_file(void **state)
{
    (void)state;
    put("old", 0, 0);
    assert_int_equal(vg_atomicfile_write(path, NULL, 0, 0600, 0, err, sizeof err), 0);
    assert_string_equal(content(path), "");
}

/* A temp file a crash left (longer than what comes now) is replaced, not appended to; its mode
 * and owner (one someone else put there: 0666, another user's) are not PATH's: PATH is a new file
 * with the mode asked for. umask 0, so that the mode is the one asked for and no mask hides a
 * wider one. */
static void a_temp_file_left_by_a_crash_is_replaced_with_the_asked_mode(void **state)
{
    (void)state;
    mode_t old = umask(0);
    int fd = open(tmp, O_WRONLY | O_CREAT, 0666);
    assert_true(fd >= 0);
    assert_int_equal(__real_write(fd, "half of a much longer earlier write", 35), 35);
    int chowned = geteuid() == 0 && fchown(fd, 65534, 65534) == 0;
    close(fd);
    int rc = vg_atomicfile_write(path, "new", 3, 0640, 0, err, sizeof err);
    umask(old);
    if (rc)
        fail_msg("vg_atomicfile_write: %d (%s)", rc, err);
    assert_string_equal(content(path), "new");
    assert_int_equal(access(tmp, F_OK), -1);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    if (chowned)
        assert_int_equal(st.st_uid, geteuid());
}

/* A symlink at PATH.tmp (someone who can write to the directory put it there) is removed, not
 * written through: its target keeps its content, and PATH is a regular file, not the symlink. */
static void a_symlink_at_the_temp_name_is_not_written_through(void **state)
{
    (void)state;
    char victim[160];
    snprintf(victim, sizeof victim, "%s/victim", dir);
    int fd = open(victim, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(__real_write(fd, "precious", 8), 8);
    close(fd);
    assert_int_equal(symlink(victim, tmp), 0);
    put("new", 0, 0);
    assert_string_equal(content(victim), "precious");
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_string_equal(content(path), "new");
    assert_int_equal(lstat(tmp, &st), -1);
}

static void on_alarm(int sig)
{
    (void)sig;
}

/* A FIFO at PATH.tmp is removed, not opened: open(O_WRONLY) of a FIFO waits for a reader, which
 * would hang the daemon's start (the bootstrap file) or a silence change. The alarm only ends a
 * write that hangs (open() then fails with EINTR), so that this test fails instead of hanging. */
static void a_fifo_at_the_temp_name_does_not_block_the_write(void **state)
{
    (void)state;
    assert_int_equal(mkfifo(tmp, 0600), 0);
    struct sigaction sa = {.sa_handler = on_alarm}, was; /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGALRM, &sa, &was), 0);
    alarm(10);
    int rc = vg_atomicfile_write(path, "new", 3, 0600, 0, err, sizeof err);
    alarm(0);
    sigaction(SIGALRM, &was, NULL);
    if (rc)
        fail_msg("vg_atomicfile_write: %d (%s)", rc, err);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_string_equal(content(path), "new");
}

/* What cannot be removed from PATH.tmp (a directory: unlink() fails with EISDIR) stops the write
 * with the step and cause named; PATH keeps its content and the directory stays. */
static void a_directory_at_the_temp_name_is_named_and_left(void **state)
{
    (void)state;
    put("old content", 0, 0);
    assert_int_equal(mkdir(tmp, 0700), 0);
    put("new content", 0, -EISDIR);
    assert_string_equal(content(path), "old content");
    char want[400];
    snprintf(want, sizeof want, "%s: removing the leftover state.tmp: Is a directory", path);
    assert_string_equal(err, want);
    struct stat st;
    assert_int_equal(lstat(tmp, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
}

/* Something re-creating PATH.tmp each time it is removed: tried again a few times, then refused
 * with -EEXIST and a message saying so, PATH untouched; re-created fewer times, the write goes
 * through. */
static void a_temp_file_re_created_each_time_is_refused_after_a_few_tries(void **state)
{
    (void)state;
    put("old content", 0, 0);
    replant_n = 100;
    put("new content", 0, -EEXIST);
    assert_true(replant_n >= 95); /* a few tries, not a loop */
    assert_string_equal(content(path), "old content");
    assert_contains(err, "creating state.tmp: it was re-created each time it was removed");
    replant_n = 2;
    put("new content", 0, 0);
    assert_string_equal(content(path), "new content");
}

/* A second writer of the same path (which the callers must not run) removes the first one's
 * PATH.tmp and creates its own: the first one then neither renames the other's unfinished file
 * over PATH nor removes it, and fails saying why. */
static void a_temp_file_replaced_by_another_writer_is_neither_renamed_nor_removed(void **state)
{
    (void)state;
    put("old content", 0, 0);
    replace_tmp_with = "the other's, unfinished";
    put("new content", 0, -EBUSY);
    assert_string_equal(content(path), "old content");
    assert_string_equal(content(tmp), "the other's, unfinished");
    char want[400];
    snprintf(want, sizeof want,
             "%s: state.tmp was removed or replaced while it was written (another writer of this "
             "path?)",
             path);
    assert_string_equal(err, want);
    /* Failing itself meanwhile, it leaves the other's file alone too. */
    replace_tmp_with = "the other's, again";
    fail_write_errno = EIO;
    put("new content", 0, -EIO);
    assert_string_equal(content(path), "old content");
    assert_string_equal(content(tmp), "the other's, again");
}

static void a_missing_directory_is_named_with_the_step(void **state)
{
    (void)state;
    char gone[160];
    snprintf(gone, sizeof gone, "%s/gone/state", dir);
    assert_int_equal(vg_atomicfile_write(gone, "x", 1, 0600, 0, err, sizeof err), -ENOENT);
    char want[400];
    snprintf(want, sizeof want, "%s: creating state.tmp: No such file or directory", gone);
    assert_string_equal(err, want);
}

/* A path under a regular file: ENOTDIR, which no permission check (root passes them) decides. */
static void a_path_under_a_regular_file_fails_with_enotdir(void **state)
{
    (void)state;
    put("a file", 0, 0);
    char under[160];
    snprintf(under, sizeof under, "%s/inside", path);
    assert_int_equal(vg_atomicfile_write(under, "x", 1, 0600, 0, err, sizeof err), -ENOTDIR);
    char want[400];
    snprintf(want, sizeof want, "%s: creating inside.tmp: Not a directory", under);
    assert_string_equal(err, want);
    assert_string_equal(content(path), "a file");
}

/* Each step before the rename failing: the old content stays, the temp file goes, and the
 * message names the path, the step and the cause. */
static void a_failed_write_leaves_the_old_file_and_no_temp(void **state)
{
    (void)state;
    put("old content", 0, 0);
    fail_write_errno = ENOSPC;
    put("new content", 0, -ENOSPC);
    fail_write_errno = 0;
    assert_string_equal(content(path), "old content");
    assert_int_equal(access(tmp, F_OK), -1);
    char want[400];
    snprintf(want, sizeof want, "%s: writing state.tmp: No space left on device", path);
    assert_string_equal(err, want);
}

static void a_failed_sync_leaves_the_old_file_and_no_temp(void **state)
{
    (void)state;
    put("old content", 0, 0);
    fail_fsync_at = 1;
    put("new content", 0, -EIO);
    assert_string_equal(content(path), "old content");
    assert_int_equal(access(tmp, F_OK), -1);
    char want[400];
    snprintf(want, sizeof want, "%s: syncing state.tmp: Input/output error", path);
    assert_string_equal(err, want);
}

/* A close error can be a write-back error fsync did not see (NFS): no rename. */
static void a_failed_close_leaves_the_old_file_and_no_temp(void **state)
{
    (void)state;
    put("old content", 0, 0);
    fail_close_errno = EIO;
    put("new content", 0, -EIO);
    assert_string_equal(content(path), "old content");
    assert_int_equal(access(tmp, F_OK), -1);
    char want[400];
    snprintf(want, sizeof want, "%s: closing state.tmp: Input/output error", path);
    assert_string_equal(err, want);
}

static void a_failed_rename_leaves_the_old_file_and_no_temp(void **state)
{
    (void)state;
    put("old content", 0, 0);
    fail_rename_errno = EXDEV;
    put("new content", 0, -EXDEV);
    fail_rename_errno = 0;
    assert_string_equal(content(path), "old content");
    assert_int_equal(access(tmp, F_OK), -1);
    char want[400];
    snprintf(want, sizeof want, "%s: renaming state.tmp over it: Invalid cross-device link", path);
    assert_string_equal(err, want);
}

/* The directory's sync failing comes after the rename: the new content is in place. Reported
 * (saying so) unless the caller asked for it to be best effort. */
static void a_failed_directory_sync_is_reported_unless_best_effort(void **state)
{
    (void)state;
    put("old content", 0, 0);
    fail_fsync_at = 2;
    put("new content", 0, -EIO);
    assert_string_equal(content(path), "new content");
    assert_int_equal(access(tmp, F_OK), -1);
    assert_contains(err, "replaced, but syncing its directory failed");
    assert_contains(err, path);

    err[0] = '\0';
    fail_fsync_at = 2;
    put("newer content", VG_ATOMICFILE_DIRSYNC_BEST_EFFORT, 0);
    assert_int_equal(fail_fsync_at, 0); /* the directory's sync was tried, and failed */
    assert_string_equal(content(path), "newer content");
    assert_string_equal(err, "");
}

static void assert_ends_with(const char *s, const char *end)
{
    size_t n = strlen(s), e = strlen(end);
    if (n < e || strcmp(s + n - e, end) != 0)
        fail_msg("\"%s\" does not end in \"%s\"", s, end);
}

/* A path whose message would not fit in the error buffer (a long file name, e.g. a checkpoint's
 * named after a long group, inside a long directory): the path and then the temp file's name are
 * cut in their middle, and the step and the cause are kept whole. */
static void a_long_path_is_cut_in_the_message_so_that_step_and_cause_stay(void **state)
{
    (void)state;
    char longp[600];
    int n = snprintf(longp, sizeof longp, "%s/gone-%0100d/", dir, 0);
    memset(longp + n, 'b', 250); /* with ".tmp", 254 bytes: a name that fits */
    longp[n + 250] = '\0';
    char small[VG_ERRLEN];
    assert_int_equal(vg_atomicfile_write(longp, "x", 1, 0600, 0, small, sizeof small), -ENOENT);
    assert_true(strlen(small) == sizeof small - 1); /* it did not fit whole */
    assert_true(strncmp(small, "/tmp/vigil-test-", 16) == 0);
    assert_contains(small, ": creating bbbb");
    assert_ends_with(small, "bbbb.tmp: No such file or directory");
    assert_contains(small, "...");
    /* Room for the whole message: nothing cut. */
    char big[1024], want[1024];
    assert_int_equal(vg_atomicfile_write(longp, "x", 1, 0600, 0, big, sizeof big), -ENOENT);
    snprintf(want, sizeof want, "%s: creating %s.tmp: No such file or directory", longp,
             strrchr(longp, '/') + 1);
    assert_string_equal(big, want);
    /* A buffer too small for even the step and cause: cut at its end, never overrun. */
    char tiny[24];
    memset(tiny, 'z', sizeof tiny);
    assert_int_equal(vg_atomicfile_write(longp, "x", 1, 0600, 0, tiny, 16), -ENOENT);
    assert_int_equal(strlen(tiny), 15);
    assert_int_equal(tiny[16], 'z');
}

static void a_path_too_long_for_its_temp_name_is_refused_untouched(void **state)
{
    (void)state;
    char *longp = malloc(4100);
    assert_non_null(longp);
    memset(longp, 'a', 4099);
    longp[4099] = '\0';
    memcpy(longp, dir, strlen(dir));
    longp[strlen(dir)] = '/';
    assert_int_equal(vg_atomicfile_write(longp, "x", 1, 0600, 0, err, sizeof err), -ENAMETOOLONG);
    assert_contains(err, "path too long (4099 bytes): /tmp/vigil-test-atomicfile.");
    free(longp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(a_new_file_is_created_with_its_mode_and_then_replaced_whole),
        T(the_file_gets_the_mode_asked_for_less_the_umask),
        T(short_and_interrupted_writes_are_continued),
        T(a_write_that_writes_nothing_fails_with_eio),
        T(an_empty_content_makes_an_empty_file),
        T(a_temp_file_left_by_a_crash_is_replaced_with_the_asked_mode),
        T(a_symlink_at_the_temp_name_is_not_written_through),
        T(a_fifo_at_the_temp_name_does_not_block_the_write),
        T(a_directory_at_the_temp_name_is_named_and_left),
        T(a_temp_file_re_created_each_time_is_refused_after_a_few_tries),
        T(a_temp_file_replaced_by_another_writer_is_neither_renamed_nor_removed),
        T(a_missing_directory_is_named_with_the_step),
        T(a_path_under_a_regular_file_fails_with_enotdir),
        T(a_failed_write_leaves_the_old_file_and_no_temp),
        T(a_failed_sync_leaves_the_old_file_and_no_temp),
        T(a_failed_close_leaves_the_old_file_and_no_temp),
        T(a_failed_rename_leaves_the_old_file_and_no_temp),
        T(a_failed_directory_sync_is_reported_unless_best_effort),
        T(a_long_path_is_cut_in_the_message_so_that_step_and_cause_stay),
        T(a_path_too_long_for_its_temp_name_is_refused_untouched),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
