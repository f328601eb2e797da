/* The daemons' start-stop cycle under valgrind: started, made to do real work for a few ticks,
 * stopped with SIGTERM, they must exit 0 with no definite leak and no memory error.
 *
 *   vigil-analyzer --embedded-kafka: consumes and scores a few kcat-produced messages, serves
 *     one /metrics request, then stops.
 *   vigil-agent: only the cheap collectors (cpu, mem, load) at a 200 ms interval, producing to
 *     a vigil-test-mockbroker until three of its messages are readable with kcat.
 *
 * Exits 77 (ctest: skipped) with the reason when valgrind or kcat is missing. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "vg_stack.h"
#include "vg_testhttp.h"
#include "vg_testproc.h"

#define MOCKBROKER_BIN VG_BIN_DIR "/tests/vigil-test-mockbroker"
/* valgrind's exit code for errors and definite leaks: tells them from the daemon's own codes. */
#define VG_ERROR_EXIT "--error-exitcode=97"
/* Known false positives outside Vigil (see the file). */
#define VG_SUPP "--suppressions=" VG_SOURCE_DIR "/tests/valgrind.supp"

static void dump(const char *path)
{
    char *t = vg_tp_read(path);
    fprintf(stderr, "---- %s ----\n%s\n", path, t ? t : "(missing)");
    free(t);
}

/* SIGTERM, then the exit status must be 0: valgrind's own code (97) means a leak or error. */
static void stop_clean(pid_t pid, const char *log)
{
    int st = vg_tp_stop(pid, SIGTERM, 60000);
    if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        dump(log);
        fail_msg("exit status %d%s",
                 st < 0          ? -1
                 : WIFEXITED(st) ? WEXITSTATUS(st)
                                 : 128,
                 st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 97
                     ? " (valgrind: definite leak or memory error, see above)"
                     : "");
    }
    /* The summary line proves valgrind ran and checked leaks at all. */
    assert_true(vg_tp_count(log, "definitely lost: 0 bytes") == 1 ||
                vg_tp_count(log, "All heap blocks were freed") == 1);
}

static void analyzer_start_stop_has_no_definite_leak(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "valgrind-analyzer");
    char bsfile[600];
    snprintf(bsfile, sizeof(bsfile), "%s/bootstrap", s.dir);
    const char *argv[] = {"/usr/bin/valgrind",
                          "--leak-check=full",
                          "--errors-for-leak-kinds=definite",
                          VG_ERROR_EXIT,
                          VG_SUPP,
                          "--show-leak-kinds=definite",
                          VG_ANALYZER_BIN,
                          "--embedded-kafka",
                          "--bootstrap-file",
                          bsfile,
                          "--set",
                          "http.listen=127.0.0.1:0",
                          "--set",
                          "user=",
                          "--set",
                          "detector.warmup=2",
                          "--set",
                          "kafka.auto.offset.reset=earliest",
                          "--set",
                          "drain_timeout=1s",
                          NULL};
    pid_t pid = vg_tp_spawn((char *const *)argv, s.analyzer_log);
    if (vg_tp_wait_contains(bsfile, "\n", 60000) != 0) {
        dump(s.analyzer_log);
        fail_msg("analyzer under valgrind did not start its broker");
    }
    char *b = vg_tp_read(bsfile);
    b[strcspn(b, "\n")] = '\0';
    snprintf(s.bootstrap, sizeof(s.bootstrap), "%s", b);
    free(b);

    char input[700];
    snprintf(input, sizeof(input), "%s/in", s.dir);
    FILE *f = fopen(input, "w");
    assert_non_null(f);
    for (int i = 1; i <= 5; i++)
        fprintf(f,
                "vg-1|{\"v\":1,\"host\":\"vg-1\",\"boot\":\"b\",\"seq\":%d,\"ts\":%lld,"
                "\"interval_ms\":1000,\"metrics\":{\"a\":%d,\"b\":2}}\n",
                i, 1700000000000LL + i * 1000LL, i);
    fprintf(f, "vg-1|not json\n");
    fclose(f);
    /* The broker runs inside valgrind (tens of times slower) beside other tests on a loaded
     * machine, so kcat gets librdkafka's socket and ApiVersion timeouts raised from 10 s; a retry
     * covers a connection lost anyway (a duplicate batch is harmless: the analyzer drops seqs it
     * has seen). */
    int rc = -1;
    for (int attempt = 0; attempt < 3 && rc != 0; attempt++)
        rc =
            vg_tp_sh("kcat -P -b %s -t vigil.metrics -K '|' -X api.version.request.timeout.ms=60000"
                     " -X socket.timeout.ms=60000 -X message.timeout.ms=120000 -l %s",
                     s.bootstrap, input);
    assert_int_equal(rc, 0);
    if (vg_tp_wait_contains(s.analyzer_log, "host warmed up, scoring", 60000) != 0) {
        dump(s.analyzer_log);
        fail_msg("analyzer under valgrind did not score");
    }
    assert_int_equal(vg_tp_wait_contains(s.analyzer_log, "msg=\"http api listening\"", 10000), 0);
    char *log = vg_tp_read(s.analyzer_log);
    char *p = strstr(strstr(log, "msg=\"http api listening\""), " port=");
    int port = p ? atoi(p + 6) : 0;
    free(log);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
    assert_int_equal(vg_th_request("GET", url, NULL, NULL, 0, NULL), 200);
    stop_clean(pid, s.analyzer_log);
}

static void agent_start_stop_has_no_definite_leak(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "valgrind-agent");
    char bsfile[600], brokerlog[600];
    snprintf(bsfile, sizeof(bsfile), "%s/bootstrap", s.dir);
    snprintf(brokerlog, sizeof(brokerlog), "%s/broker.log", s.dir);
    const char *bargv[] = {MOCKBROKER_BIN, "--bootstrap-file", bsfile, NULL};
    pid_t broker = vg_tp_spawn((char *const *)bargv, brokerlog);
    assert_int_equal(vg_tp_wait_contains(bsfile, "\n", 15000), 0);
    char *b = vg_tp_read(bsfile);
    b[strcspn(b, "\n")] = '\0';
    char bs[300], spool[700];
    snprintf(bs, sizeof(bs), "bootstrap_servers=%s", b);
    snprintf(s.bootstrap, sizeof(s.bootstrap), "%s", b);
    free(b);
    /* Not the default /var/lib/vigil/spool, which an installed agent may be using. */
    snprintf(spool, sizeof(spool), "spool.dir=%s/spool", s.dir);
    const char *argv[] = {"/usr/bin/valgrind",
                          "--leak-check=full",
                          "--errors-for-leak-kinds=definite",
                          VG_ERROR_EXIT,
                          VG_SUPP,
                          "--show-leak-kinds=definite",
                          VG_AGENT_BIN,
                          "--set",
                          "user=",
                          "--set",
                          bs,
                          "--set",
                          "collectors=cpu,mem,load",
                          "--set",
                          "interval=200ms",
                          "--set",
                          "host=vg-agent",
                          "--set",
                          spool,
                          NULL};
    pid_t pid = vg_tp_spawn((char *const *)argv, s.agent_log);
    char out[600];
    snprintf(out, sizeof(out), "%s/kcat.out", s.dir);
    int64_t end = vg_tp_mono_ms() + 60000;
    int got = 0;
    while (vg_tp_mono_ms() < end && got < 3) {
        vg_tp_sh("kcat -b %s -t vigil.metrics -C -o beginning -e -q -f '%%k\\n' > %s 2>/dev/null",
                 s.bootstrap, out);
        got = vg_tp_count(out, "vg-agent");
    }
    if (got < 3) {
        dump(s.agent_log);
        fail_msg("agent under valgrind produced %d messages in 60 s", got);
    }
    stop_clean(pid, s.agent_log);
    assert_int_equal(vg_tp_stop(broker, SIGTERM, 10000), 0);
}

int main(void)
{
    if (vg_tp_sh("test -x /usr/bin/valgrind") != 0) {
        printf("SKIPPED: valgrind is not installed (scripts/setup.sh installs it)\n");
        return 77;
    }
    if (vg_tp_sh("command -v kcat >/dev/null 2>&1") != 0) {
        printf("SKIPPED: kcat is not installed (scripts/setup.sh installs it)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(analyzer_start_stop_has_no_definite_leak),
        cmocka_unit_test(agent_start_stop_has_no_definite_leak),
    };
    return vg_tp_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
