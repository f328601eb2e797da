/* Helpers for integration tests that run the real binaries: spawn, wait on files with a deadline
 * (never a fixed sleep), stop. */
#ifndef VG_TESTPROC_H
#define VG_TESTPROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Milliseconds of CLOCK_MONOTONIC: for the deadlines of polling loops, never for asserts. */
int64_t vg_tp_mono_ms(void);

/* Waits ms between two polls of a condition that has its own deadline. */
void vg_tp_pause_ms(long ms);

/* Starts argv[0] with stdout and stderr appended to log_path (NULL: inherited). Returns pid. */
pid_t vg_tp_spawn(char *const argv[], const char *log_path);

/* Sends sig and waits up to timeout_ms; then SIGKILL. Returns the exit status as waitpid gives it,
 * or -1 when it had to be killed. */
int vg_tp_stop(pid_t pid, int sig, int64_t timeout_ms);

/* Polls until the file exists and contains needle (or is non-empty when needle is NULL), or the
 * deadline passes. Returns 0 or -ETIMEDOUT. */
int vg_tp_wait_contains(const char *path, const char *needle, int64_t timeout_ms);

/* Counts occurrences of needle in the file (0 when missing). */
int vg_tp_count(const char *path, const char *needle);

/* The value of key=N in the last line of the log at path that has it (N read as an integer),
 * -1 if none. For the daemons' logfmt counters (ticks=, produced=, ...). */
long long vg_tp_last_field(const char *path, const char *key);

/* Waits up to timeout_ms for vg_tp_last_field(path, key) to reach want; returns its last value
 * (below want on a timeout, for the caller's message). */
long long vg_tp_wait_field(const char *path, const char *key, long long want, int64_t timeout_ms);

/* Reads a whole file into a malloc'd NUL-terminated buffer the caller frees; NULL if missing. */
char *vg_tp_read(const char *path);
/* The same, with its length in *len (it may hold NUL bytes: a binary). */
char *vg_tp_read_len(const char *path, size_t *len);

/* Writes text to path atomically (temp file + rename), so a reader never sees half a file. */
int vg_tp_write_atomic(const char *path, const char *text);

/* Makes a fresh temporary directory /tmp/vigil-TAG-XXXXXX; returns its path, malloc'd, which the
 * caller frees. The directory itself belongs to the test process: vg_tp_finish removes it. */
char *vg_tp_tmpdir(const char *tag);

/* Call with cmocka_run_group_tests's result as main's last step; returns it. When every test
 * passed it removes the directories vg_tp_tmpdir made (a CI host runs the suite many times, and
 * each run used to leave some 30 behind); when one failed, or VIGIL_TEST_KEEP is set, it keeps them
 * for their logs and names them on stderr. */
int vg_tp_finish(int failed);

struct CMUnitTest;

/* Runs cmocka's tests (each with its own setup and teardown, as cmocka_unit_test_setup_teardown
 * gives) each in a child process of its own, up to jobs at a time, and returns how many failed,
 * for vg_tp_finish. For integration tests that mostly wait (group joins, timeouts, intervals) on
 * daemons of their own, in directories of their own, on ports the system picks: one after the
 * other, their waits only add up. Each test's output comes whole once it has ended, and its name
 * when it starts, so that a run that ctest's timeout kills shows which tests were under way (they
 * die with it). VIGIL_TEST_JOBS=N overrides jobs; 1 runs them one after the other in this
 * process, as cmocka_run_group_tests does. */
int vg_tp_run_tests(const struct CMUnitTest *tests, size_t n, int jobs);

/* Runs a shell command and returns its exit status (like system()). */
int vg_tp_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
