#include "vg_testproc.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

int64_t vg_tp_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void vg_tp_pause_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

pid_t vg_tp_spawn(char *const argv[], const char *log_path)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* A test that fails between its spawn and its stop (cmocka jumps out of the test) would
     * otherwise leave the daemon running for good: it goes when the test process does. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    if (log_path) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
    }
    execv(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

int vg_tp_stop(pid_t pid, int sig, int64_t timeout_ms)
{
    int status;
    kill(pid, sig);
    int64_t end = vg_tp_mono_ms() + timeout_ms;
    while (vg_tp_mono_ms() < end) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0)
            return -1;
        vg_tp_pause_ms(20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

char *vg_tp_read_len(const char *path, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += r;
        if (cap - len < 2) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    if (out_len)
        *out_len = len;
    return buf;
}

char *vg_tp_read(const char *path)
{
    return vg_tp_read_len(path, NULL);
}

int vg_tp_count(const char *path, const char *needle)
{
    char *s = vg_tp_read(path);
    int n = 0;
    for (char *p = s; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(s);
    return n;
}

int vg_tp_wait_contains(const char *path, const char *needle, int64_t timeout_ms)
{
    int64_t end = vg_tp_mono_ms() + timeout_ms;
    do {
        char *s = vg_tp_read(path);
        int ok = s && (needle ? strstr(s, needle) != NULL : s[0] != '\0');
        free(s);
        if (ok)
            return 0;
        vg_tp_pause_ms(50);
    } while (vg_tp_mono_ms() < end);
    return -ETIMEDOUT;
}

int vg_tp_write_atomic(const char *path, const char *text)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -errno;
    fputs(text, f);
    if (fclose(f) != 0)
        return -EIO;
    return rename(tmp, path) == 0 ? 0 : -errno;
}

/* The directories this process made, for vg_tp_finish. */
static char **g_dirs;
static size_t g_ndirs;

char *vg_tp_tmpdir(const char *tag)
{
    char *p = malloc(256);
    snprintf(p, 256, "/tmp/vigil-%s-XXXXXX", tag);
    if (!mkdtemp(p)) {
        free(p);
        return NULL;
    }
    /* Out of memory here only leaves the folder behind. */
    char **grown = realloc(g_dirs, (g_ndirs + 1) * sizeof(*g_dirs));
    if (grown) {
        g_dirs = grown;
        g_dirs[g_ndirs++] = strdup(p);
    }
    return p;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        fprintf(stderr, "vg_tp_finish: cannot remove %s: %s\n", path, strerror(errno));
    return 0;
}

int vg_tp_finish(int failed)
{
    int keep = failed != 0 || getenv("VIGIL_TEST_KEEP") != NULL;
    for (size_t i = 0; i < g_ndirs; i++) {
        if (!g_dirs[i])
            continue;
        if (keep)
            fprintf(stderr, "kept for inspection: %s\n", g_dirs[i]);
        else /* Depth first and without following links: a test may have planted one. */
            nftw(g_dirs[i], remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(g_dirs[i]);
    }
    free(g_dirs);
    g_dirs = NULL;
    g_ndirs = 0;
    return failed;
}

/* In the child of vg_tp_run_tests that runs test: its output to path, and its exit status 0 when
 * it passed. */
static void run_one(const struct CMUnitTest *test, const char *path, pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    /* The parent's directories stay the parent's: vg_tp_finish here removes this test's. */
    for (size_t i = 0; i < g_ndirs; i++)
        free(g_dirs[i]);
    free(g_dirs);
    g_dirs = NULL;
    g_ndirs = 0;
    int failed = _cmocka_run_group_tests(test->name, test, 1, NULL, NULL);
    exit(vg_tp_finish(failed) ? 1 : 0);
}

/* Prints the file at path to stdout. */
static void print_file(const char *path)
{
    size_t len = 0;
    char *text = vg_tp_read_len(path, &len);
    if (text)
        fwrite(text, 1, len, stdout);
    free(text);
}

int vg_tp_run_tests(const struct CMUnitTest *tests, size_t n, int jobs)
{
    const char *env = getenv("VIGIL_TEST_JOBS");
    if (env && *env)
        jobs = atoi(env);
    char *dir = jobs > 1 && n > 1 ? vg_tp_tmpdir("test-output") : NULL;
    pid_t *pids = dir ? calloc(n, sizeof(*pids)) : NULL;
    if (!pids) {
        free(dir);
        return _cmocka_run_group_tests("tests", tests, n, NULL, NULL);
    }
    printf("[==========] Running %zu test(s), up to %d at a time, each in a process of its own.\n",
           n, jobs);
    fflush(stdout);
    int64_t t0 = vg_tp_mono_ms();
    size_t next = 0, running = 0, failed = 0;
    const char **failures = calloc(n, sizeof(*failures));
    while (next < n || running > 0) {
        char path[400];
        if (next < n && running < (size_t)jobs) {
            snprintf(path, sizeof(path), "%s/%zu.out", dir, next);
            printf("[ START    ] %s\n", tests[next].name);
            fflush(stdout);
            fflush(stderr);
            pid_t parent = getpid(), pid = fork();
            if (pid == 0)
                run_one(&tests[next], path, parent);
            if (pid < 0) {
                printf("[  FAILED  ] %s: fork: %s\n", tests[next].name, strerror(errno));
                if (failures)
                    failures[failed] = tests[next].name;
                failed++;
            } else {
                pids[next] = pid;
                running++;
            }
            next++;
            continue;
        }
        int st;
        pid_t pid = waitpid(-1, &st, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            break; /* no child left: none of ours either */
        }
        size_t i = 0;
        while (i < next && pids[i] != pid)
            i++;
        if (i == next)
            continue; /* not one of the tests */
        running--;
        snprintf(path, sizeof(path), "%s/%zu.out", dir, i);
        print_file(path);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            if (WIFSIGNALED(st))
                printf("[  FAILED  ] %s: killed by signal %d\n", tests[i].name, WTERMSIG(st));
            if (failures)
                failures[failed] = tests[i].name;
            failed++;
        }
        fflush(stdout);
    }
    printf("[==========] %zu test(s) run in %.1f s.\n", n, (double)(vg_tp_mono_ms() - t0) / 1000);
    printf("[  PASSED  ] %zu test(s).\n", n - failed);
    if (failed) {
        printf("[  FAILED  ] %zu test(s), listed below:\n", failed);
        for (size_t i = 0; failures && i < failed; i++)
            printf("[  FAILED  ] %s\n", failures[i]);
    }
    fflush(stdout);
    free(failures);
    free(pids);
    free(dir);
    return (int)failed;
}

int vg_tp_sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

long long vg_tp_wait_field(const char *path, const char *key, long long want, int64_t timeout_ms)
{
    int64_t deadline = vg_tp_mono_ms() + timeout_ms;
    long long v;
    while ((v = vg_tp_last_field(path, key)) < want && vg_tp_mono_ms() < deadline)
        vg_tp_pause_ms(100);
    return v;
}

long long vg_tp_last_field(const char *path, const char *key)
{
    char *t = vg_tp_read(path);
    long long v = -1;
    size_t kl = strlen(key);
    for (char *p = t; p && (p = strstr(p, key)) != NULL; p += kl)
        if ((p == t || p[-1] == ' ') && p[kl] == '=')
            v = atoll(p + kl + 1);
    free(t);
    return v;
}
