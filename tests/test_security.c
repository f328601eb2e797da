/* Security (docs/security.md): secret files and log scrubbing, Kafka secrets through librdkafka,
 * the receiver URL policy, HTTPS verification against a real TLS receiver in its own process, and
 * the agent's privilege drop checked in /proc of the running agent.
 *
 * librdkafka 2.0.2's mock cluster has no SASL handler (no SaslHandshake/SaslAuthenticate in its
 * request table) and plain TCP listeners only, so no authenticated round trip is possible here.
 * What is tested instead: the properties reach librdkafka (it asks the broker for the SCRAM
 * handshake, and its debug dump lists sasl.password), and the secret is in no line of the log. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/capability.h>

#include "vg_action.h"
#include "vg_analyzerproc.h"
#include "vg_httpsec.h"
#include "vg_kafka.h"
#include "vg_privdrop.h"
#include "vg_runas.h"
#include "vg_secret.h"
#include "vg_stack.h"
#include "vg_testproc.h"
#include "vg_urlfile.h"
#include "vg_util.h"

#define SECRET "Pa55-w0rd-XYZZY-7731"

static char *tmp_file(const char *dir, const char *name, const char *text, mode_t mode)
{
    static char paths[8][300];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", dir, name);
    assert_int_equal(vg_tp_write_atomic(p, text), 0);
    assert_int_equal(chmod(p, mode), 0);
    return p;
}

/* --- secret files --------------------------------------------------------------------------- */

static void secret_file_trims_as_asked_and_refuses_bad_files(void **state)
{
    (void)state;
    char *dir = vg_tp_tmpdir("secret");
    char err[VG_ERRLEN], *s;
    size_t n;
    const char *f = tmp_file(dir, "a", "  key-123  \n", 0600);
    assert_int_equal(vg_secret_read(f, "x", VG_SECRET_TRIM_SPACE, &s, &n, err, sizeof err), 0);
    assert_string_equal(s, "key-123");
    vg_secret_free(s, n);
    /* A password keeps its spaces; only the line ending goes. */
    assert_int_equal(vg_secret_read(f, "x", VG_SECRET_TRIM_NEWLINE, &s, &n, err, sizeof err), 0);
    assert_string_equal(s, "  key-123  ");
    vg_secret_free(s, n);
    f = tmp_file(dir, "crlf", "pw\r\n", 0600);
    assert_int_equal(vg_secret_read(f, "x", VG_SECRET_TRIM_NEWLINE, &s, &n, err, sizeof err), 0);
    assert_string_equal(s, "pw");
    vg_secret_free(s, n);

    f = tmp_file(dir, "empty", "\n", 0600);
    assert_int_equal(vg_secret_read(f, "kafka.sasl.password_file", VG_SECRET_TRIM_NEWLINE, &s, &n,
                                    err, sizeof err),
                     -EINVAL);
    assert_non_null(strstr(err, "kafka.sasl.password_file"));
    assert_non_null(strstr(err, "is empty"));
    f = tmp_file(dir, "two", "line1\nline2\n", 0600);
    assert_int_equal(vg_secret_read(f, "x", VG_SECRET_TRIM_NEWLINE, &s, &n, err, sizeof err),
                     -EINVAL);
    assert_non_null(strstr(err, "single line"));
    assert_null(strstr(err, "line1"));
    assert_int_equal(vg_secret_read(dir, "x", VG_SECRET_TRIM_NEWLINE, &s, &n, err, sizeof err),
                     -EINVAL);
    assert_non_null(strstr(err, "not a regular file"));
    assert_int_equal(vg_secret_read("/nonexistent/pw", "kafka.sasl.password_file",
                                    VG_SECRET_TRIM_NEWLINE, &s, &n, err, sizeof err),
                     -ENOENT);
    assert_non_null(strstr(err, "kafka.sasl.password_file: cannot open /nonexistent/pw"));
    free(dir);
}

/* A pipe's read end as a path (/dev/fd/N, as bash's <(...) gives it), holding text; -1 on error. */
static int pipe_holding(const char *text, char *path, size_t n)
{
    int p[2];
    if (pipe(p) < 0)
        return -1;
    ssize_t len = (ssize_t)strlen(text);
    int ok = write(p[1], text, (size_t)len) == len;
    close(p[1]);
    if (!ok) {
        close(p[0]);
        return -1;
    }
    snprintf(path, n, "/dev/fd/%d", p[0]);
    return p[0];
}

/* vigilctl's token may come from a pipe (-t <(pass show ...), /dev/stdin), read to its end with
 * the same bound as a file; the daemons' secret files stay regular files. */
static void a_secret_from_a_pipe_is_read_only_where_asked_and_bounded(void **state)
{
    (void)state;
    char err[VG_ERRLEN], path[64], *s = NULL;
    size_t n = 0;
    int fd = pipe_holding("  pipe-token-0123  \n", path, sizeof path);
    assert_true(fd >= 0);
    assert_int_equal(
        vg_secret_read(path, "http.token_file", VG_SECRET_TRIM_SPACE, &s, &n, err, sizeof err),
        -EINVAL);
    assert_non_null(strstr(err, "is not a regular file"));
    assert_int_equal(
        vg_secret_read_stream(path, "--token-file", VG_SECRET_TRIM_SPACE, &s, &n, err, sizeof err),
        0);
    assert_string_equal(s, "pipe-token-0123");
    vg_secret_free(s, n);
    close(fd);
    /* More than VG_SECRET_MAX bytes: refused, never cut short. */
    static char big[VG_SECRET_MAX + 100];
    memset(big, 'A', sizeof big - 1);
    fd = pipe_holding(big, path, sizeof path);
    assert_true(fd >= 0);
    assert_int_equal(
        vg_secret_read_stream(path, "--token-file", VG_SECRET_TRIM_SPACE, &s, &n, err, sizeof err),
        -EINVAL);
    assert_non_null(strstr(err, "holds more than 4096 bytes"));
    assert_null(s);
    close(fd);
    /* Exactly VG_SECRET_MAX bytes is a secret. */
    big[VG_SECRET_MAX] = '\0';
    fd = pipe_holding(big, path, sizeof path);
    assert_true(fd >= 0);
    assert_int_equal(
        vg_secret_read_stream(path, "--token-file", VG_SECRET_TRIM_SPACE, &s, &n, err, sizeof err),
        0);
    assert_int_equal(n, VG_SECRET_MAX);
    vg_secret_free(s, n);
    close(fd);
    /* A directory is still no secret. */
    assert_int_equal(
        vg_secret_read_stream("/", "--token-file", VG_SECRET_TRIM_SPACE, &s, &n, err, sizeof err),
        -EINVAL);
    assert_non_null(strstr(err, "not a regular file, a pipe or a character device"));
}

/* A named pipe at a daemon's secret path with nobody writing to it: the open blocked until a
 * writer came, hanging the analyzer's start or reload. It is refused at once. The read runs in a
 * child with an alarm, so that the old hang fails the test rather than stalling it. */
static void a_named_pipe_at_a_secret_path_is_refused_without_waiting(void **state)
{
    (void)state;
    char *dir = vg_tp_tmpdir("secret-fifo"), path[300];
    snprintf(path, sizeof path, "%s/token", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(10);
        char err[VG_ERRLEN], *s = NULL;
        size_t n = 0;
        int rc =
            vg_secret_read(path, "http.token_file", VG_SECRET_TRIM_SPACE, &s, &n, err, sizeof err);
        _exit(rc == -EINVAL && strstr(err, "is not a regular file") ? 0 : 1);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (WIFSIGNALED(st))
        fail_msg("vg_secret_read on a named pipe did not return (signal %d)", WTERMSIG(st));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    unlink(path);
    free(dir);
}

/* stderr into a file while fn reads a secret file; returns what was logged (free it). */
static char *logged_reading(const char *path)
{
    char out[300], err[VG_ERRLEN], *s = NULL;
    size_t n = 0;
    snprintf(out, sizeof out, "%s.log", path);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    FILE *f = fopen(out, "w");
    assert_non_null(f);
    dup2(fileno(f), STDERR_FILENO);
    fclose(f);
    int rc =
        vg_secret_read(path, "webhook.secret_file", VG_SECRET_TRIM_SPACE, &s, &n, err, sizeof err);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    assert_int_equal(rc, 0);
    vg_secret_free(s, n);
    char *t = vg_tp_read(out);
    unlink(out);
    return t;
}

/* docs/install.md sets secret files up as root:vigil 0640 (the units run as User=vigil): that
 * must not draw a warning whose advice, chmod 600 on a root-owned file, would lock the service
 * out of its own secret. Read by others, or writable by anyone but the owner, is warned about;
 * so is read by a group other than the daemon's (root:adm 0640 used to pass in silence). */
static void secret_file_warns_only_when_others_may_read_it_or_others_may_write_it(void **state)
{
    (void)state;
    char *dir = vg_tp_tmpdir("secret-mode");
    static const struct {
        mode_t mode;
        int warns;
    } cases[] = {
        {0600, 0}, {0640, 0}, {0440, 0}, {0400, 0}, {0650, 0}, {0644, 1},
        {0604, 1}, {0620, 1}, {0660, 1}, {0602, 1}, {0601, 1},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        char name[32];
        snprintf(name, sizeof name, "k%o", (unsigned)cases[i].mode);
        const char *f = tmp_file(dir, name, "key-123\n", cases[i].mode);
        char *t = logged_reading(f);
        int warned = strstr(t, "level=warn") != NULL;
        if (warned != cases[i].warns)
            fail_msg("mode %o: %s", (unsigned)cases[i].mode, *t ? t : "(nothing logged)");
        if (warned) {
            assert_non_null(strstr(t, "what=webhook.secret_file"));
            assert_non_null(strstr(t, f));
            assert_non_null(strstr(t, "chmod o-rwx,g-w"));
            assert_non_null(strstr(t, "0640 root:vigil"));
            assert_null(strstr(t, "chmod 600"));
        }
        free(t);
    }
    /* Group read is the daemon's own way in only when the group is the daemon's: root:adm 0640
     * lets adm read it, and is warned about, naming the group. */
    struct group *other = getgrnam("nogroup");
    if (!other)
        other = getgrnam("nobody");
    if (geteuid() != 0 || !other) {
        print_message(
            "[  SKIP    ] the group cases: needs root and a group 'nogroup' or 'nobody'\n");
        free(dir);
        skip();
    }
    char want[128];
    snprintf(want, sizeof want, "group=%s daemon_group=", other->gr_name);
    const char *f = tmp_file(dir, "kgroup", "key-123\n", 0640);
    assert_int_equal(chown(f, 0, other->gr_gid), 0);
    char *t = logged_reading(f);
    if (!strstr(t, "level=warn") || !strstr(t, want) || !strstr(t, "chown root:") ||
        !strstr(t, "chmod 0640") || !strstr(t, "root:vigil"))
        fail_msg("0640 of group %s, read as gid %u: %s", other->gr_name, (unsigned)getegid(),
                 *t ? t : "(nothing logged)");
    free(t);
    assert_int_equal(chmod(f, 0600), 0); /* its group cannot read it: nothing to say */
    t = logged_reading(f);
    assert_null(strstr(t, "level=warn"));
    free(t);
    /* The daemon's group (a root-started agent's `user`): that group's 0640 is the setup, and
     * root's group is now the other one. */
    assert_int_equal(chmod(f, 0640), 0);
    vg_secret_set_group(other->gr_gid);
    t = logged_reading(f);
    assert_null(strstr(t, "level=warn"));
    free(t);
    f = tmp_file(dir, "kroot", "key-123\n", 0640);
    t = logged_reading(f);
    assert_non_null(strstr(t, "level=warn"));
    assert_non_null(strstr(t, "group=root"));
    free(t);
    vg_secret_set_group(getegid());
    free(dir);
}

static void scrub_masks_every_registered_secret(void **state)
{
    (void)state;
    assert_int_equal(vg_secret_register("s3cr3t-value"), 0);
    assert_int_equal(vg_secret_register("abc"), 0); /* too short to scrub: ignored */
    char line[128] = "a=s3cr3t-value b=\"xs3cr3t-valuex\" c=abc";
    assert_int_equal(vg_secret_scrub(line), 2);
    assert_string_equal(line, "a=*** b=\"x***x\" c=abc");
}

/* A URL read from a *.url_file is scrubbed from logs by the parts that may be its credential, not
 * by its whole path as one string: https://host/vigil masked every "vigil" in the logs (topic
 * vigil.metrics became ***.metrics), and a log quoting a Slack URL's token alone, or its path
 * without the query, kept it. */
static void url_file_scrubbing_masks_credentials_not_ordinary_words(void **state)
{
    (void)state;
    size_t mark = vg_secret_mark();
    assert_int_equal(vg_urlfile_register("https://alerts.example.com/vigil"), 0);
    char words[128] = "topic=vigil.metrics client=vigil-agent-vm dir=/var/lib/vigil/spool";
    assert_int_equal(vg_secret_scrub(words), 0);
    assert_string_equal(words,
                        "topic=vigil.metrics client=vigil-agent-vm dir=/var/lib/vigil/spool");

    assert_int_equal(
        vg_urlfile_register("https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX"),
        0);
    char whole[200] = "url=https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX";
    vg_secret_scrub(whole);
    assert_string_equal(whole, "url=https://hooks.slack.com/***");
    char path[200] = "body=\"no such hook /services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX\"";
    vg_secret_scrub(path);
    assert_string_equal(path, "body=\"no such hook /***\"");
    char token[100] = "token XXXXXXXXXXXXXXXXXXXXXXXX refused; services ok";
    vg_secret_scrub(token);
    assert_string_equal(token, "token *** refused; services ok");

    /* A path quoted without its query, and a credential-named query value whatever its form. */
    assert_int_equal(
        vg_urlfile_register("https://u:pw12@h.example/hooks/ID42/Tok3nValue9?src=vigil&"
                            "token=abcd#frag"),
        0);
    char q[200] = "echo /hooks/ID42/Tok3nValue9 token=abcd src=vigil u:pw12@h";
    vg_secret_scrub(q);
    assert_string_equal(q, "echo /hooks/ID42/*** token=*** src=vigil ***@h");
    vg_secret_forget_since(mark);
}

/* --- Kafka properties ----------------------------------------------------------------------- */

static void kv(struct vg_kvlist *l, const char *k, const char *v)
{
    assert_int_equal(vg_kvlist_set(l, k, v), 0);
}

static void kafka_file_key_sets_the_property_and_errors_hide_the_secret(void **state)
{
    (void)state;
    char *dir = vg_tp_tmpdir("kafka-secret");
    const char *pw = tmp_file(dir, "pw", SECRET "\n", 0600);
    char err[VG_ERRLEN], val[256];
    size_t vl = sizeof val;
    rd_kafka_conf_t *conf = NULL;

    struct vg_kvlist l = {0};
    kv(&l, "sasl.password_file", pw);
    kv(&l, "sasl.username", "vigil");
    assert_int_equal(vg_kafka_conf_new(&conf, NULL, &l, err, sizeof err), 0);
    assert_int_equal(rd_kafka_conf_get(conf, "sasl.password", val, &vl), RD_KAFKA_CONF_OK);
    assert_string_equal(val, SECRET);
    rd_kafka_conf_destroy(conf);

    /* The password pasted into the wrong key: librdkafka quotes the value it refuses; the error
     * names the key and masks the value. */
    kv(&l, "security.protocol", SECRET);
    assert_int_equal(vg_kafka_conf_new(&conf, NULL, &l, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "kafka property 'security.protocol'"));
    assert_null(strstr(err, SECRET));
    assert_non_null(strstr(err, "***"));
    vg_kvlist_free(&l);

    struct vg_kvlist both = {0};
    kv(&both, "sasl.password", "inline-pw");
    kv(&both, "sasl.password_file", pw);
    assert_int_equal(vg_kafka_conf_new(&conf, NULL, &both, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "both 'sasl.password' and 'sasl.password_file'"));
    vg_kvlist_free(&both);

    struct vg_kvlist missing = {0};
    kv(&missing, "ssl.key.password_file", "/nonexistent/key-pw");
    assert_int_equal(vg_kafka_conf_new(&conf, NULL, &missing, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "kafka.ssl.key.password_file: cannot open /nonexistent/key-pw"));
    vg_kvlist_free(&missing);

    /* Any property works the same way, e.g. the TLS key's passphrase. */
    struct vg_kvlist tlskey = {0};
    kv(&tlskey, "ssl.key.password_file", pw);
    vl = sizeof val;
    if (vg_kafka_conf_new(&conf, NULL, &tlskey, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(rd_kafka_conf_get(conf, "ssl.key.password", val, &vl), RD_KAFKA_CONF_OK);
    assert_string_equal(val, SECRET);
    rd_kafka_conf_destroy(conf);
    vg_kvlist_free(&tlskey);
    assert_true(vg_kafka_prop_is_secret("ssl.keystore.password"));
    assert_false(vg_kafka_prop_is_secret("sasl.username"));
    free(dir);
}

static char *broker_up(const char *dir, pid_t *pid)
{
    char bsfile[300], log[300];
    snprintf(bsfile, sizeof bsfile, "%s/bootstrap", dir);
    snprintf(log, sizeof log, "%s/broker.log", dir);
    const char *argv[] = {VG_MOCKBROKER_BIN, "--bootstrap-file", bsfile, NULL};
    *pid = vg_tp_spawn((char *const *)argv, log);
    assert_int_equal(vg_tp_wait_contains(bsfile, "\n", 15000), 0);
    char *b = vg_tp_read(bsfile);
    b[strcspn(b, "\n")] = '\0';
    return b;
}

/* Real agents, SASL over plaintext to the mock broker, librdkafka's debug output on: the
 * password is in no line of their logs, and --check-config shows the file, not the secret. */
static void agent_with_sasl_never_logs_the_password(void **state)
{
    (void)state;
    char *dir = vg_tp_tmpdir("sasl");
    const char *pw = tmp_file(dir, "kafka-password", SECRET "\n", 0600);
    pid_t broker;
    char *bs = broker_up(dir, &broker);
    const char *mech[] = {"SCRAM-SHA-512", "PLAIN"};
    /* The log keeps 20 lines of one message per 10 s, and librdkafka's are all one message: the
     * SCRAM agent runs without debug output so that its handshake error is among them; the PLAIN
     * one with the security and configuration debug output, its dump of the SASL settings. */
    const char *debug[] = {"kafka.log.connection.close=true", "kafka.debug=security,conf"};
    /* What each writes once librdkafka has the SASL settings. */
    const char *proof[] = {"SASL Handshake not supported by broker (required by mechanism "
                           "SCRAM-SHA-512)",
                           "Selected provider PLAIN (builtin) for SASL mechanism PLAIN"};
    for (size_t i = 0; i < 2; i++) {
        char log[300], bset[300], mset[64], pset[400];
        snprintf(log, sizeof log, "%s/agent-%zu.log", dir, i);
        snprintf(bset, sizeof bset, "bootstrap_servers=%s", bs);
        snprintf(mset, sizeof mset, "kafka.sasl.mechanism=%s", mech[i]);
        snprintf(pset, sizeof pset, "kafka.sasl.password_file=%s", pw);
        const char *argv[] = {VG_AGENT_BIN,
                              "--set",
                              "user=",
                              "--set",
                              bset,
                              "--set",
                              "collectors=cpu",
                              "--set",
                              "interval=200ms",
                              "--set",
                              "spool.dir=",
                              "--set",
                              "log.level=debug",
                              "--set",
                              "kafka.security.protocol=SASL_PLAINTEXT",
                              "--set",
                              mset,
                              "--set",
                              "kafka.sasl.username=vigil",
                              "--set",
                              pset,
                              "--set",
                              debug[i],
                              "--set",
                              "flush_timeout=0s",
                              NULL};
        pid_t agent = vg_tp_spawn((char *const *)argv, log);
        if (vg_tp_wait_contains(log, proof[i], 20000) != 0)
            fail_msg("%s: librdkafka never used the SASL settings (%s)", mech[i], log);
        if (i == 1)
            assert_int_equal(vg_tp_wait_contains(log, "sasl.password = [redacted]", 10000), 0);
        vg_tp_stop(agent, SIGTERM, 20000);
        char *text = vg_tp_read(log);
        if (strstr(text, SECRET))
            fail_msg("%s: the password is in %s", mech[i], log);
        printf("# %s: %d log lines, password in none\n", mech[i], vg_tp_count(log, "\n"));
        free(text);
    }

    /* --check-config: the file's path is shown, an inline secret masked. */
    char out[300];
    snprintf(out, sizeof out, "%s/check.out", dir);
    /* user: this host need not have the package's vigil user, which the check (as root) asks
     * for as the start does. */
    assert_int_equal(vg_tp_sh("%s --set user= --set kafka.sasl.password_file=%s --set "
                              "kafka.ssl.key.password=%s --check-config > %s 2>&1",
                              VG_AGENT_BIN, pw, SECRET, out),
                     0);
    char *o = vg_tp_read(out);
    assert_non_null(strstr(o, "sasl.password_file: "));
    assert_non_null(strstr(o, pw));
    assert_non_null(strstr(o, "ssl.key.password: (set, masked)"));
    assert_null(strstr(o, SECRET));
    free(o);

    vg_tp_stop(broker, SIGTERM, 10000);
    free(bs);
    free(dir);
}

/* --- receiver URL policy -------------------------------------------------------------------- */

static int check(const char *allowed, int plain, const char *url, char *err)
{
    struct vg_url_policy p = {allowed, plain, NULL};
    return vg_url_policy_check(&p, "webhook.url", url, 0, err, VG_ERRLEN);
}

/* https:///x: libcurl skips the empty authority's slashes and takes "x" for the host, so the
 * check passed it and a fire-test posted to host x. No host written, no URL. */
static void url_with_an_empty_host_is_refused(void **state)
{
    (void)state;
    char err[VG_ERRLEN];
    const char *bad[] = {"https:///x", "http:///",        "https://",
                         "https://?q", "https://user@/x", "https://:443/x"};
    for (size_t i = 0; i < VG_ARRAY_LEN(bad); i++) {
        if (check(NULL, 1, bad[i], err) != -EINVAL)
            fail_msg("%s passed", bad[i]);
        if (!strstr(err, "webhook.url: no host"))
            fail_msg("%s: %s", bad[i], err);
    }
    assert_int_equal(check(NULL, 1, "https://h.example/x", err), 0);
    assert_int_equal(check(NULL, 1, "http://127.0.0.1:9/", err), 0);
}

static void url_allow_list_matches_scheme_host_port_exactly_and_path_by_prefix(void **state)
{
    (void)state;
    char err[VG_ERRLEN];
    const char *hooks = "https://hooks.example.com";
    const char *ok[] = {
        "https://hooks.example.com/x",       "https://hooks.example.com",
        "https://HOOKS.Example.com/x",       /* host names are case-insensitive */
        "https://hooks.example.com:443/x",   /* the default port, written out */
        "https://hooks.example.com/x?y=1#z", /* the query is not part of the match */
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(ok); i++)
        if (check(hooks, 0, ok[i], err) != 0)
            fail_msg("%s refused: %s", ok[i], err);
    const char *refused[] = {
        "https://hooks.example.com.evil.net/x",             /* a longer host */
        "https://hooks.example.com@evil.net/x",             /* userinfo: the host is evil.net */
        "https://evil.net/?next=https://hooks.example.com", /* in the query */
        "https://evil.net/hooks.example.com",               /* in the path */
        "https://hooks.example.com:8443/x",                 /* another port */
        "https://xhooks.example.com/",                      /* a suffix match would pass it */
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(refused); i++) {
        if (check(hooks, 0, refused[i], err) != -EACCES)
            fail_msg("%s passed", refused[i]);
        assert_non_null(strstr(err, "webhook.url: "));
        assert_non_null(strstr(err, "not in actions.allowed_urls"));
    }
    /* Scheme: an http entry does not admit https, nor the reverse. */
    assert_int_equal(check("http://hooks.example.com", 1, "https://hooks.example.com/", err),
                     -EACCES);
    assert_int_equal(check(hooks, 1, "http://hooks.example.com/", err), -EACCES);

    /* Paths: by prefix on a '/' boundary, after dot segments are resolved as libcurl sends. */
    const char *p = "https://h.example/hooks";
    assert_int_equal(check(p, 0, "https://h.example/hooks", err), 0);
    assert_int_equal(check(p, 0, "https://h.example/hooks/a", err), 0);
    assert_int_equal(check(p, 0, "https://h.example/hooks-evil", err), -EACCES);
    assert_int_equal(check(p, 0, "https://h.example/hooks/../admin", err), -EACCES);
    assert_non_null(strstr(err, "https://h.example:443/admin"));
    assert_int_equal(check(p, 0, "https://h.example/", err), -EACCES);
    assert_int_equal(
        check("https://am.internal:9093/api/", 0, "https://am.internal:9093/api/v2/alerts", err),
        0);
    assert_int_equal(
        check("https://am.internal:9093/api/", 0, "https://am.internal:9093/apix", err), -EACCES);

    /* Several entries, spaces allowed; IPv6 literals. */
    const char *many = "https://a.example/x, https://b.example:8443 ,https://[fd00::1]:9/";
    assert_int_equal(check(many, 0, "https://b.example:8443/any", err), 0);
    assert_int_equal(check(many, 0, "https://[fd00::1]:9/p", err), 0);
    assert_int_equal(check(many, 0, "https://a.example/y", err), -EACCES);

    /* Bad entries are config errors naming the entry. */
    struct vg_url_policy bad = {"https://ok.example, ftp://files.example", 0, NULL};
    assert_int_equal(vg_url_policy_validate(&bad, "actions.allowed_urls", err, sizeof err),
                     -EINVAL);
    assert_non_null(strstr(err, "actions.allowed_urls: entry 'ftp://files.example'"));
    struct vg_url_policy user = {"https://u:p@ok.example", 0, NULL};
    assert_int_equal(vg_url_policy_validate(&user, "actions.allowed_urls", err, sizeof err),
                     -EINVAL);

    /* Credentials in a refused URL do not reach the message; a Slack path neither. */
    assert_int_equal(check(hooks, 0, "https://evil.net/x?token=SECRETTOKEN", err), -EACCES);
    assert_null(strstr(err, "SECRETTOKEN"));
    struct vg_url_policy pol = {hooks, 0, NULL};
    assert_int_equal(vg_url_policy_check(&pol, "slack.url", "https://hooks.slack.com/T0/B0/XyZ", 1,
                                         err, sizeof err),
                     -EACCES);
    assert_null(strstr(err, "XyZ"));
    assert_non_null(strstr(err, "slack.url: https://hooks.slack.com:443/..."));
}

/* An allow-list entry with user:password or a query is refused, and the refusal (a config error
 * at start, in the journal, in --check-config) shows the entry without them, as receiver URLs are
 * shown; text that is not a URL at all is named by its place in the list. */
static void allow_list_errors_do_not_show_an_entrys_credentials(void **state)
{
    (void)state;
    char err[VG_ERRLEN];
    static const char *const lists[] = {
        "https://ok.example, https://svc:Pa55w0rdX@hooks.example/b",
        "https://hooks.example/b?token=T0kenQueryX",
        "https://ok.example,svc:Pa55w0rdX@hooks.example",
    };
    static const char *const want[] = {
        "actions.allowed_urls: entry 'https://hooks.example/b': an entry has no user",
        "actions.allowed_urls: entry 'https://hooks.example/b?...': an entry has no user",
        "actions.allowed_urls: entry 2: not an http:// or https:// URL",
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(lists); i++) {
        struct vg_url_policy p = {lists[i], 0, NULL};
        assert_int_equal(vg_url_policy_validate(&p, "actions.allowed_urls", err, sizeof err),
                         -EINVAL);
        if (strstr(err, "Pa55w0rdX") || strstr(err, "T0kenQueryX") || !strstr(err, want[i]))
            fail_msg("list %zu: %s", i, err);
    }
}

static void plain_http_only_to_loopback_unless_allowed(void **state)
{
    (void)state;
    char err[VG_ERRLEN];
    const char *loop[] = {"http://127.0.0.1:9/x", "http://127.1.2.3/x", "http://localhost:8/x",
                          "http://[::1]:8/x"};
    for (size_t i = 0; i < VG_ARRAY_LEN(loop); i++)
        if (check(NULL, 0, loop[i], err) != 0)
            fail_msg("%s refused: %s", loop[i], err);
    const char *far[] = {"http://10.0.0.1/x", "http://alertmanager:9093/",
                         "http://127.0.0.1.evil.net/x", "http://[fd00::1]/"};
    for (size_t i = 0; i < VG_ARRAY_LEN(far); i++) {
        if (check(NULL, 0, far[i], err) != -EACCES)
            fail_msg("%s passed", far[i]);
        assert_non_null(strstr(err, "actions.allow_plain_http"));
        assert_int_equal(check(NULL, 1, far[i], err), 0);
    }
    assert_int_equal(check(NULL, 0, "https://10.0.0.1/x", err), 0);
}

/* The analyzer refuses the config at start (and in --check-config) with the key and the URL. */
static void analyzer_refuses_receiver_urls_outside_the_policy(void **state)
{
    (void)state;
    char *dir = vg_tp_tmpdir("urlpolicy");
    char out[300];
    snprintf(out, sizeof out, "%s/out", dir);
    assert_int_equal(vg_tp_sh("%s --set user= --set actions.allowed_urls=https://hooks.example.com "
                              "--set webhook.url=https://hooks.example.com.evil.net/x "
                              "--check-config > %s 2>&1",
                              VG_ANALYZER_BIN, out) != 0,
                     1);
    char *o = vg_tp_read(out);
    /* Set with --set: the message says so, as for a value from the file's line. */
    assert_non_null(strstr(o, "vigil-analyzer: config error: --set: webhook.url: "
                              "https://hooks.example.com.evil.net:443/x: not in "
                              "actions.allowed_urls"));
    free(o);
    assert_int_equal(vg_tp_sh("%s --set user= --set decisions.webhook_url=http://scaler.internal/x "
                              "--check-config > %s 2>&1",
                              VG_ANALYZER_BIN, out) != 0,
                     1);
    o = vg_tp_read(out);
    assert_non_null(strstr(o, "decisions.webhook_url: http://scaler.internal:80/x: plain http"));
    free(o);
    assert_int_equal(
        vg_tp_sh("%s --set user= --set actions.allowed_urls=https://hooks.example.com/vigil/ "
                 "--set webhook.url=https://hooks.example.com/vigil/a "
                 "--set actions.tls_ca_file=%s/none.pem --check-config > %s 2>&1",
                 VG_ANALYZER_BIN, dir, out) != 0,
        1);
    o = vg_tp_read(out);
    assert_non_null(strstr(o, "actions.tls_ca_file: cannot open"));
    free(o);
    assert_int_equal(
        vg_tp_sh("%s --set user= --set actions.allowed_urls=https://hooks.example.com/vigil/ "
                 "--set webhook.url=https://hooks.example.com/vigil/a "
                 "--check-config > %s 2>&1",
                 VG_ANALYZER_BIN, out),
        0);
    free(dir);
}

/* A receiver URL that carries its credential can come from a file (*.url_file), read as a secret
 * file: trimmed, never shown, a missing file a config error naming the key and the path. */
static void analyzer_reads_receiver_urls_from_url_files(void **state)
{
    (void)state;
    char *dir = vg_tp_tmpdir("urlfile");
    char out[300];
    snprintf(out, sizeof out, "%s/out", dir);
    const char *wh = tmp_file(dir, "webhook-url",
                              "  https://hooks.example.com/vigil/a?token=" SECRET " \n", 0600);
    const char *sl =
        tmp_file(dir, "slack-url", "https://hooks.slack.com/services/T0/B0/" SECRET "\n", 0600);
    assert_int_equal(vg_tp_sh("%s --set user= --set actions.allowed_urls=https://hooks.example.com/"
                              "vigil/,https://hooks.slack.com/ --set webhook.url_file=%s --set "
                              "slack.url_file=%s --check-config > %s 2>&1",
                              VG_ANALYZER_BIN, wh, sl, out),
                     0);
    char *o = vg_tp_read(out);
    /* Read from a file, a URL's path is hidden as the logs hide it: it may be the credential. */
    assert_non_null(strstr(o, "\nwebhook.url: https://hooks.example.com/...\n"));
    assert_non_null(strstr(o, "slack.url: https://hooks.slack.com/..."));
    assert_non_null(strstr(o, "slack.url_file: "));
    assert_null(strstr(o, SECRET));
    assert_null(strstr(o, "level=warn")); /* 0600 files, no inline URL */
    free(o);

    /* A token in the path is no credential vg_url_has_credential sees, nor one that looks like
     * one (short, lower case): hidden all the same, in every receiver read from its file. */
    const char *gen =
        tmp_file(dir, "generic-url", "https://hooks.example.com/vigil/hooks/ID/zqxtok\n", 0600);
    assert_int_equal(vg_tp_sh("%s --set user= --set webhook.url_file=%s --set "
                              "alertmanager.url_file=%s --set decisions.webhook_url_file=%s "
                              "--check-config > %s 2>&1",
                              VG_ANALYZER_BIN, gen, gen, gen, out),
                     0);
    o = vg_tp_read(out);
    if (strstr(o, "zqxtok") || !strstr(o, "\nwebhook.url: https://hooks.example.com/...\n") ||
        !strstr(o, "\nalertmanager.url: https://hooks.example.com/...\n") ||
        !strstr(o, "\ndecisions.webhook_url: https://hooks.example.com/...\n"))
        fail_msg("want every URL read from a file shown without its path: %s", o);
    free(o);
    /* Inline, a path segment that looks like a credential is hidden; ordinary words are shown. */
    assert_int_equal(
        vg_tp_sh("%s --set user= --set "
                 "webhook.url=https://hooks.example.com/hooks/ID123/S3cretTokenX --set "
                 "alertmanager.url=https://am.example.com/api/v2/alerts "
                 "--check-config > %s 2>&1",
                 VG_ANALYZER_BIN, out),
        0);
    o = vg_tp_read(out);
    if (strstr(o, "S3cretTokenX") || !strstr(o, "\nwebhook.url: https://hooks.example.com/...\n") ||
        !strstr(o, "\nalertmanager.url: https://am.example.com/api/v2/alerts\n"))
        fail_msg("want a credential-looking path hidden, a plain one shown: %s", o);
    free(o);

    char missing[300];
    snprintf(missing, sizeof missing, "%s/no-such-url", dir);
    assert_int_not_equal(vg_tp_sh("%s --set user= --set slack.url_file=%s --check-config > %s 2>&1",
                                  VG_ANALYZER_BIN, missing, out),
                         0);
    o = vg_tp_read(out);
    char want[400];
    snprintf(want, sizeof want, "slack.url_file: cannot open %s", missing);
    if (!strstr(o, want))
        fail_msg("no '%s' in: %s", want, o);
    free(o);

    assert_int_not_equal(vg_tp_sh("%s --set user= --set webhook.url=https://hooks.example.com/x "
                                  "--set webhook.url_file=%s --check-config > %s 2>&1",
                                  VG_ANALYZER_BIN, wh, out),
                         0);
    o = vg_tp_read(out);
    assert_non_null(strstr(o, "both webhook.url and webhook.url_file are set"));
    free(o);
    free(dir);
}

struct url_warn_case {
    const char *yaml;
    mode_t mode;
    int warns;
};

/* Checks each case's config with `cmd` (a printf format taking the config path and the output
 * path): the credential-URL warning stands exactly where the case wants it, names the file key
 * (key_a or key_b in the output) and group, the group of the `user` cmd sets, and the secret is
 * never shown. */
static void check_url_warn_cases(const char *dir, const char *cmd, const char *name_fmt,
                                 const struct url_warn_case *cases, size_t n, const char *key_a,
                                 const char *key_b, const char *group)
{
    char out[300];
    snprintf(out, sizeof out, "%s/out", dir);
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, name_fmt, i);
        const char *cfg = tmp_file(dir, name, cases[i].yaml, cases[i].mode);
        assert_int_equal(vg_tp_sh(cmd, cfg, out), 0);
        char *o = vg_tp_read(out);
        int warned = strstr(o, "a receiver URL that carries a credential is written in a config "
                               "file others can read") != NULL;
        if (warned != cases[i].warns)
            fail_msg("case %zu (%s, mode %o): warned %d, want %d: %s", i, cases[i].yaml,
                     (unsigned)cases[i].mode, warned, cases[i].warns, o);
        if (warned && !strstr(o, key_a) && !strstr(o, key_b))
            fail_msg("case %zu: the warning names no *_file key: %s", i, o);
        /* The way out that keeps the config working under the unit (User=vigil), which a bare
         * `chmod 600` to silence it would break: the group of the daemon's `user`. */
        char want[128];
        snprintf(want, sizeof want, "chown root:%s CONFIG; chmod 0640 CONFIG", group);
        if (warned && !strstr(o, want))
            fail_msg("case %zu: the warning does not say '%s': %s", i, want, o);
        assert_null(strstr(o, SECRET));
        free(o);
    }
}

/* --check-config (and a start) warns about a credential-carrying receiver URL written in a
 * config file others may read, as it does about an inline Kafka password; not about one in a
 * file only its group reads, nor about a URL without a credential. */
static void analyzer_warns_about_a_credential_url_in_a_config_others_can_read(void **state)
{
    (void)state;
    char *dir = vg_tp_tmpdir("urlwarn");
    const struct url_warn_case cases[] = {
        {"slack: {url: https://hooks.slack.com/services/T0/B0/" SECRET "}\n", 0644, 1},
        {"slack: {url: https://hooks.slack.com/services/T0/B0/" SECRET "}\n", 0640, 0},
        {"webhook: {url: https://hooks.example.com/a?token=" SECRET "}\n", 0644, 1},
        {"alertmanager: {url: 'https://vigil:" SECRET "@am.example.com'}\n", 0644, 1},
        {"decisions: {webhook_url: 'https://scaler.example.com/x?api_key=" SECRET "'}\n", 0644, 1},
        {"webhook: {url: https://hooks.example.com/a?team=ops}\n", 0644, 0},
        /* Whole parameter names: these hold "key", "pass", "auth" but name no credential. */
        {"webhook: {url: https://hooks.example.com/a?keyword=cpu}\n", 0644, 0},
        {"webhook: {url: 'https://hooks.example.com/a?format=json&passive=1'}\n", 0644, 0},
        {"webhook: {url: https://hooks.example.com/a?author=ops}\n", 0644, 0},
        {"webhook: {url: 'https://hooks.example.com/a?Access_Token=" SECRET "&x=1'}\n", 0644, 1},
        {"webhook: {url: 'https://hooks.example.com/a?x=1&Sig=" SECRET "'}\n", 0644, 1},
        /* A '?' in the fragment (never sent) starts no query. */
        {"webhook: {url: 'https://hooks.example.com/a#x?token=1'}\n", 0644, 0},
        {"webhook: {url: 'https://hooks.example.com/a?team=ops#token=1'}\n", 0644, 0},
    };
    /* user: "" (root): the group is root's. */
    check_url_warn_cases(dir, VG_ANALYZER_BIN " --set user= -c %s --check-config > %s 2>&1",
                         "analyzer-%zu.yaml", cases, sizeof cases / sizeof cases[0], "_url_file",
                         ".url_file", "root");
    /* A site's own user: its group, not the packages' vigil (whose advice, followed, kept that
     * user from its config). Read as that user by a check as root: the directory must let it. */
    struct passwd *pw = getpwnam("nobody");
    struct group *gr = pw ? getgrgid(pw->pw_gid) : NULL;
    if (pw && gr) {
        assert_int_equal(chmod(dir, 0755), 0);
        check_url_warn_cases(dir,
                             VG_ANALYZER_BIN " --set user=nobody -c %s --check-config > %s 2>&1",
                             "nobody-%zu.yaml", cases, 1, "_url_file", ".url_file", gr->gr_name);
    }
    free(dir);
}

/* The credential-URL warning and a url_file's mode warning were written before the log was set
 * up: logfmt with comp=vigil in a log.format: json stream, which a JSON pipeline drops. At a start
 * they are log lines like the rest (the start then stops at a silences.file it cannot make). */
static void analyzer_start_logs_the_url_warnings_in_the_log_format(void **state)
{
    (void)state;
    char *dir = vg_tp_tmpdir("urlwarnjson");
    char out[300];
    snprintf(out, sizeof out, "%s/out", dir);
    const char *url = tmp_file(dir, "url", "https://hooks.example.com/" SECRET "\n", 0644);
    char yaml[600];
    snprintf(yaml, sizeof yaml,
             "slack: {url: https://hooks.slack.com/services/T0/B0/" SECRET "}\n"
             "webhook: {url_file: %s}\nlog: {format: json}\n",
             url);
    const char *cfg = tmp_file(dir, "analyzer.yaml", yaml, 0644);
    assert_int_not_equal(
        vg_tp_sh("timeout 60 %s --set user= -c %s --set bootstrap_servers=127.0.0.1:1 "
                 "--set silences.file=/nonexistent/s.json > %s 2>&1",
                 VG_ANALYZER_BIN, cfg, out),
        0);
    char *o = vg_tp_read(out);
    assert_non_null(o);
    const char *want[] = {"a receiver URL that carries a credential", "secret file is accessible"};
    for (size_t i = 0; i < 2; i++) {
        const char *w = strstr(o, want[i]);
        if (!w)
            fail_msg("no '%s' in: %s", want[i], o);
        const char *bol = w;
        while (bol > o && bol[-1] != '\n')
            bol--;
        if (strncmp(bol, "{", 1) != 0 || !strstr(bol, "\"comp\":\"analyzer\"") ||
            strstr(bol, "\n") < strstr(bol, "\"comp\":\"analyzer\""))
            fail_msg("'%s' is not a JSON line of the analyzer's: %s", want[i], o);
    }
    assert_null(strstr(o, SECRET));
    free(o);
    free(dir);
}

/* A URL read from its file that the policy refuses was named by the inline key, which is not set
 * ("webhook.url: ..."), with its path, which may be the credential, in the error. The error names
 * the file key and the file now, and shows the URL as the logs do: scheme://host:port/... */
static void analyzer_names_the_url_file_when_its_url_is_refused(void **state)
{
    (void)state;
    char *dir = vg_tp_tmpdir("urlfilerefused");
    char out[300];
    snprintf(out, sizeof out, "%s/out", dir);
    const char *url = tmp_file(dir, "url", "http://alerts.example.com/hook/" SECRET "\n", 0600);
    assert_int_equal(vg_tp_sh("%s --set user= --set webhook.url_file=%s --check-config > %s 2>&1",
                              VG_ANALYZER_BIN, url, out),
                     1);
    char *o = vg_tp_read(out);
    char want[600];
    snprintf(want, sizeof want,
             "config error: --set: webhook.url_file (%s): http://alerts.example.com:80/...: plain "
             "http:// to a host other than loopback",
             url);
    if (!strstr(o, want) || strstr(o, SECRET))
        fail_msg("want '%s' and no path in: %s", want, o);
    free(o);
    free(dir);
}

/* The agent's local webhook URL comes from local.webhook.url_file as the analyzer's receiver URLs
 * come from theirs: read as a secret file and shown as the analyzer shows it; a missing file, one
 * set with the inline key, and a URL in it the policy refuses are config errors naming the file
 * key (and the path), never the URL's path or query. With the local guard off it is not read. */
static void agent_reads_the_local_webhook_url_from_its_url_file(void **state)
{
    (void)state;
    char *dir = vg_tp_tmpdir("agenturlfile");
    char out[300];
    snprintf(out, sizeof out, "%s/out", dir);
    const char *url =
        tmp_file(dir, "local-url", "  https://alerts.example.com/hook?token=" SECRET " \n", 0600);
    /* No spool: the default spool.dir is warned about where /var/lib/vigil is missing. */
    assert_int_equal(vg_tp_sh("%s --set user= --set collectors=cpu --set spool.dir= --set "
                              "local.webhook.url_file=%s --check-config > %s 2>&1",
                              VG_AGENT_BIN, url, out),
                     0);
    char *o = vg_tp_read(out);
    char want[600];
    snprintf(want, sizeof want, "\nlocal.webhook.url_file: %s\n", url);
    if (!strstr(o, "\nlocal.webhook.url: https://alerts.example.com/...\n") || !strstr(o, want) ||
        strstr(o, SECRET) || strstr(o, "level=warn"))
        fail_msg("want the URL shown without its path, the file named, no warning: %s", o);
    free(o);
    /* The path of a URL read from the file is hidden, even one that does not look secret. */
    const char *gen =
        tmp_file(dir, "generic-url", "https://alerts.example.com/hooks/ID/zqxtok\n", 0600);
    assert_int_equal(vg_tp_sh("%s --set user= --set collectors=cpu --set local.webhook.url_file=%s "
                              "--check-config > %s 2>&1",
                              VG_AGENT_BIN, gen, out),
                     0);
    o = vg_tp_read(out);
    if (strstr(o, "zqxtok") || !strstr(o, "\nlocal.webhook.url: https://alerts.example.com/...\n"))
        fail_msg("want the URL read from the file shown without its path: %s", o);
    free(o);

    char missing[300];
    snprintf(missing, sizeof missing, "%s/no-such-url", dir);
    assert_int_equal(vg_tp_sh("%s --set user= --set collectors=cpu --set local.webhook.url_file=%s "
                              "--check-config > %s 2>&1",
                              VG_AGENT_BIN, missing, out),
                     1);
    o = vg_tp_read(out);
    snprintf(want, sizeof want,
             "config error: --set: local.webhook.url_file: cannot open %s: No such file", missing);
    if (!strstr(o, want))
        fail_msg("no '%s' in: %s", want, o);
    free(o);
    /* The local guard off uses no URL, so reads no file. */
    assert_int_equal(vg_tp_sh("%s --set user= --set collectors=cpu --set local.detector=off --set "
                              "local.webhook.url_file=%s --check-config > %s 2>&1",
                              VG_AGENT_BIN, missing, out),
                     0);

    assert_int_equal(vg_tp_sh("%s --set user= --set collectors=cpu --set "
                              "local.webhook.url=https://alerts.example.com/x --set "
                              "local.webhook.url_file=%s --check-config > %s 2>&1",
                              VG_AGENT_BIN, url, out),
                     1);
    o = vg_tp_read(out);
    assert_non_null(strstr(o, "both local.webhook.url and local.webhook.url_file are set"));
    free(o);

    const char *plain = tmp_file(dir, "plain-url", "http://alerts.example.com/" SECRET "\n", 0600);
    assert_int_equal(vg_tp_sh("%s --set user= --set collectors=cpu --set local.webhook.url_file=%s "
                              "--check-config > %s 2>&1",
                              VG_AGENT_BIN, plain, out),
                     1);
    o = vg_tp_read(out);
    snprintf(want, sizeof want,
             "config error: --set: local.webhook.url_file (%s): http://alerts.example.com:80/...: "
             "plain http:// to a host other than loopback",
             plain);
    if (!strstr(o, want) || strstr(o, SECRET))
        fail_msg("want '%s' and no path in: %s", want, o);
    free(o);
    free(dir);
}

/* The agent reads local.webhook.url_file after its privilege drop, as `user`: --check-config run as
 * root opens it as that user too, so a file only root can read is refused before a start is. */
static void agent_check_opens_the_url_file_as_its_user(void **state)
{
    (void)state;
    if (geteuid() != 0 || !getpwnam("nobody")) {
        print_message("[  SKIP    ] needs root and the user 'nobody' to drop to\n");
        skip();
    }
    char *dir = vg_tp_tmpdir("agenturluser");
    assert_int_equal(chmod(dir, 0755), 0);
    char out[300];
    snprintf(out, sizeof out, "%s/out", dir);
    const char *url = tmp_file(dir, "local-url", "https://alerts.example.com/hook\n", 0600);
    assert_int_equal(vg_tp_sh("%s --set user=nobody --set collectors=cpu --set "
                              "local.webhook.url_file=%s --check-config > %s 2>&1",
                              VG_AGENT_BIN, url, out),
                     1);
    char *o = vg_tp_read(out);
    if (!strstr(o, "local.webhook.url_file: cannot open") || !strstr(o, "Permission denied"))
        fail_msg("a root-only url file passed the check as nobody: %s", o);
    free(o);
    assert_int_equal(chmod(url, 0644), 0); /* readable by nobody: the same check passes */
    assert_int_equal(vg_tp_sh("%s --set user=nobody --set collectors=cpu --set "
                              "local.webhook.url_file=%s --check-config > %s 2>&1",
                              VG_AGENT_BIN, url, out),
                     0);
    free(dir);
}

/* As the analyzer's: the agent's local.webhook.url carrying a credential, written in a config file
 * others may read, draws a warning naming local.webhook.url_file; not in a file only its group
 * reads, nor without a credential. */
static void agent_warns_about_a_credential_url_in_a_config_others_can_read(void **state)
{
    (void)state;
    char *dir = vg_tp_tmpdir("agenturlwarn");
    const struct url_warn_case cases[] = {
        {"local: {webhook: {url: 'https://alerts.example.com/a?token=" SECRET "'}}\n", 0644, 1},
        {"local: {webhook: {url: 'https://vigil:" SECRET "@alerts.example.com/a'}}\n", 0644, 1},
        {"local: {webhook: {url: 'https://alerts.example.com/a?token=" SECRET "'}}\n", 0640, 0},
        {"local: {webhook: {url: 'https://alerts.example.com/a?team=ops'}}\n", 0644, 0},
    };
    check_url_warn_cases(dir,
                         VG_AGENT_BIN " --set user= --set collectors=cpu -c %s --check-config > %s "
                                      "2>&1",
                         "agent-%zu.yaml", cases, sizeof cases / sizeof cases[0],
                         "key=local.webhook.url file_key=local.webhook.url_file",
                         "key=local.webhook.url file_key=local.webhook.url_file", "root");
    free(dir);
}

/* Receivers speak http and https only: a file:// URL is refused by libcurl itself once the
 * restriction is applied, and applying it reports 0 (its refusal, on a libcurl before 7.85, is a
 * start error rather than every protocol left on). */
static void receivers_are_restricted_to_http_and_https(void **state)
{
    (void)state;
    CURL *e = curl_easy_init();
    assert_non_null(e);
    char err[VG_ERRLEN] = "";
    assert_int_equal(vg_http_protocols_apply(e, err, sizeof err), 0);
    curl_easy_setopt(e, CURLOPT_URL, "file:///etc/hostname");
    assert_int_equal(curl_easy_perform(e), CURLE_UNSUPPORTED_PROTOCOL);
    curl_easy_cleanup(e);
}

/* The probe the start and --check-config ask libcurl with (vg_http_protocols_probe) succeeds with
 * this machine's libcurl (7.85 or later, as CMakeLists.txt requires). */
static void protocols_probe_succeeds_with_this_libcurl(void **state)
{
    (void)state;
    char err[VG_ERRLEN] = "";
    if (vg_http_protocols_probe(err, sizeof err) != 0)
        fail_msg("libcurl %s: %s", curl_version(), err);
}

/* A libcurl before 7.85 refuses CURLOPT_PROTOCOLS_STR, and the receivers would then have every
 * protocol on: the start refused it when a receiver opened, but --check-config, which opens none,
 * said "config OK". tests/curl_old_shim.c, preloaded, makes this libcurl answer as an old one:
 * both daemons' checks refuse it now, naming the running libcurl and the version needed. */
static void check_config_refuses_a_libcurl_without_protocols_str(void **state)
{
    (void)state;
    char *dir = vg_tp_tmpdir("oldcurl");
    char out[300];
    snprintf(out, sizeof out, "%s/out", dir);
    static const struct {
        const char *bin, *args, *who;
    } cases[] = {
        {VG_ANALYZER_BIN, "--set webhook.url=http://127.0.0.1:1/x", "webhook: "},
        {VG_ANALYZER_BIN, "--set decisions.webhook_url=http://127.0.0.1:1/x",
         "decisions.webhook_url: "},
        {VG_AGENT_BIN, "--set collectors=cpu --set local.webhook.url=http://127.0.0.1:1/x",
         "local.webhook: "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* An ASan build wants its runtime first among preloaded libraries; the shim is not
         * instrumented and needs no such order. */
        int rc = vg_tp_sh("ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 "
                          "LD_PRELOAD=%s %s --set user= %s --check-config > %s 2>&1",
                          VG_CURL_OLD_SHIM, cases[i].bin, cases[i].args, out);
        char *o = vg_tp_read(out);
        char want[128];
        snprintf(want, sizeof want, "%slibcurl %s refused CURLOPT_PROTOCOLS_STR", cases[i].who,
                 curl_version_info(CURLVERSION_NOW)->version);
        if (rc != 1 || !strstr(o, want) || !strstr(o, "it needs libcurl 7.85.0 or later") ||
            strstr(o, "config OK"))
            fail_msg("case %zu: exit %d, want 1 and '%s': %s", i, rc, want, o);
        free(o);
    }
    free(dir);
}

/* --- HTTPS to a real TLS receiver ----------------------------------------------------------- */

struct tls_rig {
    char dir[256], ca[300], cert[300], key[300], wrong_cert[300], wrong_key[300];
};

/* A private CA, a server certificate it signs for 127.0.0.1/localhost, and one for another name,
 * made with the openssl command line at test time. */
static void make_pki(struct tls_rig *r)
{
    char *d = vg_tp_tmpdir("pki");
    snprintf(r->dir, sizeof r->dir, "%s", d);
    free(d);
    snprintf(r->ca, sizeof r->ca, "%s/ca.pem", r->dir);
    snprintf(r->cert, sizeof r->cert, "%s/server.pem", r->dir);
    snprintf(r->key, sizeof r->key, "%s/server.key", r->dir);
    snprintf(r->wrong_cert, sizeof r->wrong_cert, "%s/wrong.pem", r->dir);
    snprintf(r->wrong_key, sizeof r->wrong_key, "%s/wrong.key", r->dir);
    int rc = vg_tp_sh(
        "cd %s && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=vigil-test-ca "
        "-keyout ca.key -out ca.pem >/dev/null 2>&1 && "
        "for n in server:IP:127.0.0.1,DNS:localhost wrong:DNS:wrong.example; do "
        "f=${n%%%%:*}; san=${n#*:}; "
        "openssl req -newkey rsa:2048 -nodes -subj /CN=$f -keyout $f.key -out $f.csr "
        ">/dev/null 2>&1 && printf 'subjectAltName=%%s\\n' \"$san\" > $f.ext && "
        "openssl x509 -req -in $f.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
        "-extfile $f.ext -out $f.pem >/dev/null 2>&1 || exit 1; done",
        r->dir);
    if (rc != 0)
        fail_msg("openssl could not make the test certificates in %s", r->dir);
}

static pid_t https_receiver(const struct tls_rig *r, const char *cert, const char *key,
                            const char *tag, char *out, int *port)
{
    char pf[300], log[300];
    snprintf(pf, sizeof pf, "%s/%s.port", r->dir, tag);
    snprintf(out, 300, "%s/%s.jsonl", r->dir, tag);
    snprintf(log, sizeof log, "%s/%s.log", r->dir, tag);
    const char *argv[] = {VG_RECEIVER_BIN, "--port-file", pf,          "--out", out,
                          "--tls-cert",    cert,          "--tls-key", key,     NULL};
    pid_t pid = vg_tp_spawn((char *const *)argv, log);
    assert_int_equal(vg_tp_wait_contains(pf, "\n", 10000), 0);
    char *p = vg_tp_read(pf);
    *port = atoi(p);
    free(p);
    return pid;
}

static struct vg_notification note(void)
{
    struct vg_notification n = {
        .status = "firing",
        .alertname = "anomaly",
        .host = "web-1",
        .series = "cpu.user_pct",
        .fingerprint = "5ec0000000000001",
        .severity = "warning",
        .score = 0.999,
        .value = 97,
        .threshold = 0.99,
        .starts_at_ms = 1700000000000,
        .event_ts_ms = 1700000000000,
        .accepted_ms = 1700000000005,
    };
    return n;
}

/* Waits until the receiver's stats satisfy the predicate; the stats at that point in *st. */
static int wait_stats(const struct vg_action *act, void *inst, struct vg_action_stats *st,
                      int (*done)(const struct vg_action_stats *))
{
    int64_t end = vg_mono_ms() + 20000;
    do {
        act->stats(inst, st);
        if (done(st))
            return 0;
        vg_sleep_ms(20, NULL);
    } while (vg_mono_ms() < end);
    return -1;
}

static int two_tls_failures(const struct vg_action_stats *st)
{
    return st->tls_errors >= 2 && st->retries >= 1;
}

static int delivered(const struct vg_action_stats *st)
{
    return st->delivered >= 1;
}

static void https_receiver_is_verified_and_a_private_ca_can_be_trusted(void **state)
{
    (void)state;
    struct tls_rig r;
    make_pki(&r);
    char out[300], wout[300], url[128], wurl[128], err[VG_ERRLEN];
    int port, wport;
    pid_t rx = https_receiver(&r, r.cert, r.key, "good", out, &port);
    pid_t wrx = https_receiver(&r, r.wrong_cert, r.wrong_key, "wrong", wout, &wport);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/hook", port);
    snprintf(wurl, sizeof wurl, "https://127.0.0.1:%d/hook", wport);
    struct vg_notification n = note();
    const struct vg_action *act;
    void *inst;
    struct vg_action_stats st;

    /* 1. The system's CAs do not know the private CA: every attempt fails TLS verification,
     *    counted, and is retried per the retry policy; nothing reaches the receiver. */
    struct vg_receiver_cfg c = {.url = url,
                                .max_attempts = 3,
                                .backoff_initial_ms = 50,
                                .backoff_max_ms = 100,
                                .connect_timeout_ms = 2000};
    assert_int_equal(vg_action_create(&c, &act, &inst, err, sizeof err), 0);
    assert_int_equal(act->submit(inst, &n), 0);
    if (wait_stats(act, inst, &st, two_tls_failures) != 0)
        fail_msg("no TLS failures counted: tls_errors=%llu attempt_errors=%llu",
                 (unsigned long long)st.tls_errors, (unsigned long long)st.attempt_errors);
    assert_int_equal(st.delivered, 0);
    assert_true(st.attempt_errors >= st.tls_errors);
    act->destroy(inst, 0);
    assert_int_equal(vg_tp_count(out, "\"method\""), 0);

    /* 2. Trusting the private CA (actions.tls_ca_file): delivered. */
    c.tls_ca_file = r.ca;
    assert_int_equal(vg_action_create(&c, &act, &inst, err, sizeof err), 0);
    assert_int_equal(act->submit(inst, &n), 0);
    if (wait_stats(act, inst, &st, delivered) != 0)
        fail_msg("not delivered with the CA file: tls_errors=%llu attempt_errors=%llu",
                 (unsigned long long)st.tls_errors, (unsigned long long)st.attempt_errors);
    assert_int_equal(st.tls_errors, 0);
    act->destroy(inst, 1000);
    assert_int_equal(vg_tp_wait_contains(out, "\"fingerprint\":\"5ec0000000000001\"", 5000), 0);

    /* 3. A certificate from the trusted CA for another host name: refused all the same. */
    c.url = wurl;
    assert_int_equal(vg_action_create(&c, &act, &inst, err, sizeof err), 0);
    assert_int_equal(act->submit(inst, &n), 0);
    if (wait_stats(act, inst, &st, two_tls_failures) != 0)
        fail_msg("host-name mismatch not refused: tls_errors=%llu delivered=%llu",
                 (unsigned long long)st.tls_errors, (unsigned long long)st.delivered);
    assert_int_equal(st.delivered, 0);
    act->destroy(inst, 0);
    assert_int_equal(vg_tp_count(wout, "\"method\""), 0);

    /* A CA file that is not there is refused at create, naming the key. */
    c.tls_ca_file = "/nonexistent/ca.pem";
    assert_int_equal(vg_action_create(&c, &act, &inst, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "actions.tls_ca_file: cannot open /nonexistent/ca.pem"));

    vg_tp_stop(rx, SIGTERM, 5000);
    vg_tp_stop(wrx, SIGTERM, 5000);
}

/* --- the agent's privilege drop ------------------------------------------------------------- */

static void caps_are_named(void **state)
{
    (void)state;
    char b[256];
    vg_privdrop_caps_str(0, b, sizeof b);
    assert_string_equal(b, "none");
    vg_privdrop_caps_str((1ULL << CAP_BPF) | (1ULL << CAP_PERFMON), b, sizeof b);
    assert_string_equal(b, "cap_perfmon,cap_bpf");
}

static unsigned long long status_hex(const char *status, const char *field)
{
    const char *p = strstr(status, field);
    assert_non_null(p);
    return strtoull(p + strlen(field), NULL, 16);
}

/* Starts an agent as root with user=nobody (preload: a library to LD_PRELOAD into it, or NULL),
 * checks what it kept against the kernel's view of it and that its metrics, the eBPF ones
 * included, keep arriving. want_bpf: 1 = must keep CAP_BPF, 0 = must keep nothing, -1 = either,
 * as the log says this kernel needs. */
static void run_privdrop(const char *name, const char *preload, int want_bpf)
{
    if (geteuid() != 0) {
        print_message("[  SKIP    ] not root: the agent cannot switch users (CI runs as root)\n");
        skip();
    }
    char *dir = vg_tp_tmpdir(name);
    assert_int_equal(chmod(dir, 0711), 0); /* nobody must reach its spool below */
    pid_t broker;
    char *bs = broker_up(dir, &broker);
    char log[300], bset[300], spool[320], btf[320];
    snprintf(log, sizeof log, "%s/agent.log", dir);
    snprintf(bset, sizeof bset, "bootstrap_servers=%s", bs);
    snprintf(spool, sizeof spool, "spool.dir=%s/spool", dir);
    snprintf(btf, sizeof btf, "bpf.btf_cache=%s/btf", dir);
#ifdef VIGIL_HAVE_BPF
    const char *collectors = "collectors=cpu,load,bpf_runqlat,bpf_proc_events";
#else
    const char *collectors = "collectors=cpu,load";
#endif
    const char *argv[] = {VG_AGENT_BIN, "--set", "user=nobody",        "--set", bset,  "--set",
                          collectors,   "--set", "interval=200ms",     "--set", spool, "--set",
                          btf,          "--set", "host=privdrop-host", NULL};
    /* Only the agent gets the preload: kcat and the broker below must see the real kernel. */
    char *asan_was = getenv("ASAN_OPTIONS") ? strdup(getenv("ASAN_OPTIONS")) : NULL;
    if (preload) {
        char opts[512];
        /* An ASan build wants its runtime first among preloaded libraries; the shim is not
         * instrumented and needs no such order. */
        snprintf(opts, sizeof opts, "%s%sverify_asan_link_order=0", asan_was ? asan_was : "",
                 asan_was ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
        setenv("LD_PRELOAD", preload, 1);
    }
    pid_t agent = vg_tp_spawn((char *const *)argv, log);
    if (preload) {
        unsetenv("LD_PRELOAD");
        if (asan_was)
            setenv("ASAN_OPTIONS", asan_was, 1);
        else
            unsetenv("ASAN_OPTIONS");
    }
    free(asan_was);
    if (vg_tp_wait_contains(log, "msg=\"privileges dropped\" uid=65534 gid=65534 switched=1",
                            60000) != 0)
        fail_msg("no privilege drop line in %s", log);
    assert_int_equal(vg_tp_wait_contains(log, "msg=\"started\"", 10000), 0);

    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)agent);
    char *st = vg_tp_read(path);
    assert_non_null(strstr(st, "Uid:\t65534\t65534\t65534\t65534"));
    assert_non_null(strstr(st, "Gid:\t65534\t65534\t65534\t65534"));
    assert_non_null(strstr(st, "NoNewPrivs:\t1"));
    unsigned long long eff = status_hex(st, "CapEff:\t"), prm = status_hex(st, "CapPrm:\t");
    unsigned long long bnd = status_hex(st, "CapBnd:\t"), amb = status_hex(st, "CapAmb:\t");
    unsigned long long inh = status_hex(st, "CapInh:\t");
    /* What the log says was kept is what the kernel shows, and it is CAP_BPF at most. */
    char *text = vg_tp_read(log);
    int kept_bpf = strstr(text, "caps=cap_bpf ") != NULL;
    assert_true(kept_bpf || strstr(text, "caps=none ") != NULL);
    if (want_bpf >= 0 && kept_bpf != want_bpf)
        fail_msg("the agent kept %s, expected %s (%s)", kept_bpf ? "CAP_BPF" : "nothing",
                 want_bpf ? "CAP_BPF" : "nothing", log);
    unsigned long long want = kept_bpf ? 1ULL << CAP_BPF : 0;
    assert_true(eff == want && prm == want && bnd == want);
    assert_int_equal(amb, 0);
    assert_int_equal(inh, 0);
    printf("# after the drop: CapEff=%llx CapBnd=%llx (%s)\n", eff, bnd,
           kept_bpf ? "this kernel needs CAP_BPF for map reads" : "map reads need nothing");
    free(text);
    free(st);

    /* The spool directory was given to the user. */
    char sdir[320];
    snprintf(sdir, sizeof sdir, "%s/spool", dir);
    struct stat sst;
    assert_int_equal(stat(sdir, &sst), 0);
    assert_int_equal(sst.st_uid, 65534);
#ifdef VIGIL_HAVE_BPF
    /* So was the BTF cache this root process made while loading: the unprivileged service that
     * starts next must be able to use it. */
    snprintf(sdir, sizeof sdir, "%s/btf", dir);
    assert_int_equal(stat(sdir, &sst), 0);
    assert_int_equal(sst.st_uid, 65534);
#endif

    /* Metrics keep arriving after the drop, the eBPF ones included (their maps are read every
     * tick by the unprivileged process). */
    char out[300];
    snprintf(out, sizeof out, "%s/kcat.out", dir);
#ifdef VIGIL_HAVE_BPF
    const char *want_metric = "\"bpf.runqlat.";
#else
    const char *want_metric = "\"cpu.";
#endif
    int64_t end = vg_mono_ms() + 60000;
    int got = 0;
    while (!got && vg_mono_ms() < end) {
        vg_tp_sh("kcat -b %s -t vigil.metrics -C -o beginning -e -q > %s 2>/dev/null", bs, out);
        char *m = vg_tp_read(out);
        got = m && strstr(m, want_metric) && strstr(m, "\"seq\":5");
        free(m);
        if (!got)
            vg_sleep_ms(300, NULL);
    }
    if (!got)
        fail_msg("no %s metrics at the broker after the drop (%s)", want_metric, out);
    assert_int_equal(vg_tp_count(log, "collect failed"), 0);
    assert_int_equal(vg_tp_stop(agent, SIGTERM, 20000), 0);
    vg_tp_stop(broker, SIGTERM, 10000);
    free(bs);
    free(dir);
}

static void agent_started_as_root_runs_as_nobody_with_only_map_reads(void **state)
{
    (void)state;
    run_privdrop("privdrop", NULL, -1);
}

/* The branch this kernel never takes by itself: with bpf() denied to a thread without CAP_BPF (as
 * before 6.5 with kernel.unprivileged_bpf_disabled; tests/bpf_cap_shim.c), the agent must keep
 * exactly CAP_BPF, and with it still read its maps every tick. */
static void agent_keeps_cap_bpf_where_the_kernel_checks_it_on_every_bpf_call(void **state)
{
    (void)state;
#ifdef VIGIL_HAVE_BPF
    run_privdrop("privdrop-capbpf", VG_BPF_CAP_SHIM, 1);
#else
    print_message("[  SKIP    ] built without eBPF collectors: no maps to keep reading\n");
    skip();
#endif
}

/* README's `vigil-agent --once`, run as root: it keeps root, but a BTF cache directory left
 * root-owned 0700 (by this run or an earlier one) would make the service, as its user, load with
 * the whole kernel BTF. The directory and the files in it are handed to user. */
static void agent_once_as_root_gives_the_btf_cache_to_its_user(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        print_message("[  SKIP    ] not root: nothing to hand over\n");
        skip();
    }
    char *dir = vg_tp_tmpdir("once-btf");
    char btf[300], file[360], out[320];
    snprintf(btf, sizeof btf, "%s/btf", dir);
    snprintf(file, sizeof file, "%s/runqlat-0123456789abcdef.btf", btf);
    snprintf(out, sizeof out, "%s/out", dir);
    assert_int_equal(mkdir(btf, 0700), 0);
    int fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
    /* A hard link planted in the cache to a file of root's outside it stays root's. */
    char victim[320], planted[360];
    snprintf(victim, sizeof victim, "%s", tmp_file(dir, "victim", "root-secret\n", 0600));
    snprintf(planted, sizeof planted, "%s/planted.btf", btf);
    assert_int_equal(link(victim, planted), 0);
    int rc = vg_tp_sh("%s --once --set user=nobody --set collectors=cpu,load --set spool.dir= "
                      "--set bpf.btf_cache=%s --set bootstrap_servers=127.0.0.1:1 > %s 2>&1",
                      VG_AGENT_BIN, btf, out);
    char *o = vg_tp_read(out);
    if (rc != 0)
        fail_msg("vigil-agent --once failed: %s", o);
    assert_null(strstr(o, "vigil-agent: warning"));
    free(o);
    struct stat st;
    assert_int_equal(stat(btf, &st), 0);
    assert_int_equal(st.st_uid, 65534);
    assert_int_equal(st.st_gid, 65534);
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_uid, 65534);
    assert_int_equal(stat(victim, &st), 0);
    assert_int_equal(st.st_uid, 0);
    assert_int_equal(st.st_gid, 0);

    /* user: "" keeps everything root's, as the daemon does. */
    assert_int_equal(chown(btf, 0, 0), 0);
    assert_int_equal(vg_tp_sh("%s --once --set user= --set collectors=cpu --set spool.dir= "
                              "--set bpf.btf_cache=%s > %s 2>&1",
                              VG_AGENT_BIN, btf, out),
                     0);
    assert_int_equal(stat(btf, &st), 0);
    assert_int_equal(st.st_uid, 0);
    free(dir);
}

/* owner:group of path, not following a symbolic link; fails the test when it is not there. */
static void owner_of(const char *path, uid_t *uid, gid_t *gid)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        fail_msg("%s: %s", path, strerror(errno));
    *uid = st.st_uid;
    *gid = st.st_gid;
}

#define assert_owner(path, u, g)                                                                   \
    do {                                                                                           \
        uid_t u_;                                                                                  \
        gid_t g_;                                                                                  \
        owner_of(path, &u_, &g_);                                                                  \
        if (u_ != (uid_t)(u) || g_ != (gid_t)(g))                                                  \
            fail_msg("%s belongs to %u:%u, not %u:%u", path, (unsigned)u_, (unsigned)g_,           \
                     (unsigned)(u), (unsigned)(g));                                                \
    } while (0)

/* The hand-over at a root start (vg_runas_give) gives what a root run left in the state
 * directories, which the service user may write: a hard link planted there names a file that may
 * be anywhere (/etc/shadow where fs.protected_hardlinks is 0), and root chowned it to the user. It
 * gives root's directories and root's regular files with no other name only; it leaves, saying
 * so, a hard link, a symbolic link and a FIFO, and leaves what another user owns as it is. */
static void hand_over_gives_only_what_a_root_run_left(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        print_message("[  SKIP    ] not root: nothing can be handed over\n");
        skip();
    }
    const uid_t uid = 65534, other = 4242;
    const gid_t gid = 65534, ogrp = 4343;
    char *dir = vg_tp_tmpdir("handover");
    char state_dir[300], p[8][360];
    snprintf(state_dir, sizeof state_dir, "%s/state", dir);
    assert_int_equal(mkdir(state_dir, 0700), 0);
    const char *victim = tmp_file(dir, "victim", "root-secret\n", 0600); /* outside, root's */
    const char *names[] = {"left", "sub", "hardlink", "symlink", "fifo", "others", "gone-file"};
    for (size_t i = 0; i < 7; i++)
        snprintf(p[i], sizeof p[i], "%s/%s", state_dir, names[i]);
    tmp_file(state_dir, "left", "x", 0600); /* what a root run wrote: given */
    assert_int_equal(mkdir(p[1], 0700), 0); /* root's directory: given */
    assert_int_equal(link(victim, p[2]), 0);
    assert_int_equal(symlink(victim, p[3]), 0);
    assert_int_equal(mkfifo(p[4], 0600), 0);
    tmp_file(state_dir, "others", "x", 0640);
    assert_int_equal(chown(p[5], other, ogrp), 0); /* an operator's choice: kept */

    char err[VG_ERRLEN] = "";
    int rc = vg_runas_give(state_dir, uid, gid, 0, err, sizeof err);
    if (rc < 0)
        fail_msg("vg_runas_give: %s", err);
    assert_int_equal(rc, 3); /* the hard link, the symbolic link and the FIFO, each said */
    assert_owner(state_dir, uid, gid);
    assert_owner(p[0], uid, gid);
    assert_owner(p[1], uid, gid);
    assert_owner(victim, 0, 0);
    assert_owner(p[3], 0, 0);
    assert_owner(p[4], 0, 0);
    assert_owner(p[5], other, ogrp);

    /* A single file (silences.file, the bootstrap file): a hard link is left too, and a
     * missing one is nothing to do. */
    assert_int_equal(vg_runas_give(p[2], uid, gid, 0, err, sizeof err), 1);
    assert_owner(victim, 0, 0);
    assert_int_equal(vg_runas_give(p[6], uid, gid, 0, err, sizeof err), 0);
    assert_int_equal(unlink(p[2]), 0);
    assert_int_equal(vg_runas_give(victim, uid, gid, 0, err, sizeof err), 0);
    assert_owner(victim, uid, gid); /* its only name now: what a root run could have left */
    free(dir);
}

/* Started as root (README's first command, in a root shell) with `user` naming another user, the
 * analyzer wrote outbox.dir, model.dir, their lock files and the bootstrap file as root; the unit
 * (User=) then could not open them and exited 78 for good. Now it becomes `user` before it writes
 * anything, as the agent does, and hands over what such an earlier run left (here an outbox file
 * and a silences file only root could read). */
static void analyzer_started_as_root_leaves_its_files_to_its_user(void **state)
{
    (void)state;
    struct passwd *pw = getpwnam("nobody");
    if (geteuid() != 0 || !pw || pw->pw_uid == 0) {
        print_message("[  SKIP    ] needs root and the user 'nobody' to become\n");
        skip();
    }
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    char *dir = vg_tp_tmpdir("analyzer-asuser");
    assert_int_equal(chmod(dir, 0755), 0);
    /* The state directory is the user's, as /var/lib/vigil is vigil's under the packages. */
    char sdir[300], outbox[320], left[360], models[320], sil[320], boot[320], log[300];
    snprintf(sdir, sizeof sdir, "%s/state", dir);
    snprintf(outbox, sizeof outbox, "%s/outbox", sdir);
    snprintf(left, sizeof left, "%s/webhook.lock", outbox);
    snprintf(models, sizeof models, "%s/models", sdir);
    snprintf(sil, sizeof sil, "%s/silences.json", sdir);
    snprintf(boot, sizeof boot, "%s/bootstrap", sdir);
    snprintf(log, sizeof log, "%s/analyzer.log", dir);
    assert_int_equal(mkdir(sdir, 0750), 0);
    assert_int_equal(chown(sdir, uid, gid), 0);
    assert_int_equal(mkdir(outbox, 0700), 0); /* what an earlier root run left, root's */
    tmp_file(outbox, "webhook.lock", "", 0600);
    tmp_file(sdir, "silences.json", "[]\n", 0600);
    /* What the user could have planted there for root to give it: a hard link to a file of
     * root's outside (here made by root: fs.protected_hardlinks lets a user link only what it may
     * write), and a symbolic link; and a file another user owns, with a group of its choice. */
    char victim[320], planted[360], sym[360], others[360];
    snprintf(victim, sizeof victim, "%s", tmp_file(dir, "victim", "root-secret\n", 0600));
    snprintf(planted, sizeof planted, "%s/planted", outbox);
    snprintf(sym, sizeof sym, "%s/sym", outbox);
    assert_int_equal(link(victim, planted), 0);
    assert_int_equal(symlink(victim, sym), 0);
    snprintf(others, sizeof others, "%s", tmp_file(outbox, "others", "x", 0640));
    assert_int_equal(chown(others, 4242, 4343), 0);

    char s_outbox[400], s_models[400], s_sil[400];
    snprintf(s_outbox, sizeof s_outbox, "outbox.dir=%s", outbox);
    snprintf(s_models, sizeof s_models, "model.dir=%s", models);
    snprintf(s_sil, sizeof s_sil, "silences.file=%s", sil);
    const char *argv[] = {VG_ANALYZER_BIN,
                          "--embedded-kafka",
                          "--bootstrap-file",
                          boot,
                          "--set",
                          "user=nobody",
                          "--set",
                          "http.listen=127.0.0.1:0",
                          "--set",
                          "webhook.url=http://127.0.0.1:1/x",
                          "--set",
                          s_outbox,
                          "--set",
                          s_models,
                          "--set",
                          s_sil,
                          NULL};
    pid_t pid = vg_tp_spawn((char *const *)argv, log);
    if (vg_tp_wait_contains(log, "msg=\"started\"", 30000) != 0) {
        char *t = vg_tp_read(log);
        fail_msg("the analyzer did not start:\n%s", t ? t : "");
    }
    assert_int_equal(vg_tp_stop(pid, SIGTERM, 20000), 0);

    /* Every file it wrote or was handed, in the state directory and the two below it. */
    const char *dirs[] = {sdir, outbox, models};
    size_t seen = 0;
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        DIR *d = opendir(dirs[i]);
        assert_non_null(d);
        for (struct dirent *de; (de = readdir(d));) {
            if (strcmp(de->d_name, "..") == 0 || strcmp(de->d_name, "planted") == 0 ||
                strcmp(de->d_name, "sym") == 0 || strcmp(de->d_name, "others") == 0)
                continue;
            char p[700];
            snprintf(p, sizeof p, "%s/%s", dirs[i], de->d_name);
            struct stat st;
            assert_int_equal(lstat(p, &st), 0);
            if (st.st_uid != uid || st.st_gid != gid)
                fail_msg("%s belongs to %u:%u, not to nobody (%u:%u)", p, (unsigned)st.st_uid,
                         (unsigned)st.st_gid, (unsigned)uid, (unsigned)gid);
            seen++;
        }
        closedir(d);
    }
    /* state: . outbox models silences.json bootstrap; outbox: . and two files or more; models:
     * . and its lock. */
    struct stat st;
    assert_int_equal(stat(boot, &st), 0);
    assert_int_equal(stat(left, &st), 0);
    assert_true(seen >= 10);
    assert_owner(victim, 0, 0);
    assert_owner(sym, 0, 0);
    assert_owner(others, 4242, 4343);
    char *t = vg_tp_read(log);
    if (!strstr(t, "msg=\"started as root: running as user\" user=nobody"))
        fail_msg("no line saying it runs as nobody in:\n%s", t);
    if (!strstr(t, "/outbox/planted\" reason=\"a regular file with other hard links"))
        fail_msg("no line saying the hard link was left root's in:\n%s", t);
    free(t);
    free(dir);
}

/* A change of user resets the dumpable flag to fs.suid_dumpable (0 on Debian without
 * systemd-coredump): the agent sets it again after its privilege drop, 1 with core_dumps: true,
 * which promises a core file, else 0. */
static void agent_started_as_root_keeps_core_dumps_after_switching_user(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        print_message("[  SKIP    ] not root: the agent cannot switch users (CI runs as root)\n");
        skip();
    }
    char *dir = vg_tp_tmpdir("coredumps-root");
    assert_int_equal(chmod(dir, 0711), 0); /* nobody must reach its spool below */
    for (int core = 0; core < 2; core++) {
        char log[300], spool[340], cd[40];
        snprintf(log, sizeof log, "%s/agent-%d.log", dir, core);
        snprintf(spool, sizeof spool, "spool.dir=%s/spool-%d", dir, core);
        snprintf(cd, sizeof cd, "core_dumps=%s", core ? "true" : "false");
        const char *argv[] = {VG_AGENT_BIN,
                              "--set",
                              "user=nobody",
                              "--set",
                              "bootstrap_servers=127.0.0.1:1",
                              "--set",
                              "collectors=cpu,load",
                              "--set",
                              spool,
                              "--set",
                              cd,
                              NULL};
        pid_t agent = vg_tp_spawn((char *const *)argv, log);
        if (vg_tp_wait_contains(log, "msg=\"privileges dropped\" uid=65534", 60000) != 0)
            fail_msg("no privilege drop line in %s", log);
        char *text = vg_tp_read(log);
        if (!strstr(text, core ? " dumpable=1" : " dumpable=0"))
            fail_msg("core_dumps=%d: want dumpable=%d in: %s", core, core, text);
        free(text);
        vg_tp_stop(agent, SIGTERM, 10000);
    }
    free(dir);
}
/* Started as a user other than root (nobody, by setpriv, when the test is root), a daemon is
 * dumpable unless it says otherwise, and any process of that user could read its memory: the
 * receivers' keys and URLs, the Kafka password. Both daemons make themselves non-dumpable now
 * (docs/security.md): /proc/PID/ is root's, and the same user cannot open /proc/PID/environ (nor
 * mem, nor attach). core_dumps: true sets them back, for debugging. */
static int same_user_reads_environ(pid_t pid, uid_t uid, gid_t gid)
{
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0))
            _exit(2);
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
        _exit(open(path, O_RDONLY | O_CLOEXEC) >= 0 ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(c, &st, 0), c);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) != 2);
    return WEXITSTATUS(st) == 0;
}

static void daemons_are_not_dumpable_unless_core_dumps_is_set(void **state)
{
    (void)state;
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("nobody");
        if (!pw || pw->pw_uid == 0 || access("/usr/bin/setpriv", X_OK) != 0) {
            print_message("[  SKIP    ] root: needs the user 'nobody' and setpriv to run the "
                          "daemons as another user\n");
            skip();
        }
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }
    char *dir = vg_tp_tmpdir("dumpable");
    assert_int_equal(chmod(dir, 0755), 0);
    char reuid[32], regid[32];
    snprintf(reuid, sizeof reuid, "--reuid=%u", (unsigned)uid);
    snprintf(regid, sizeof regid, "--regid=%u", (unsigned)gid);
    for (int daemon = 0; daemon < 2; daemon++) {
        for (int dumps = 0; dumps < 2; dumps++) {
            char log[300];
            snprintf(log, sizeof log, "%s/%s-%d.log", dir, daemon ? "analyzer" : "agent", dumps);
            /* The default is what is tested first: no core_dumps key at all. */
            const char *cd = dumps ? "core_dumps=true" : "log.level=info";
            const char *agent[] = {VG_AGENT_BIN,
                                   "--set",
                                   "user=",
                                   "--set",
                                   "collectors=cpu",
                                   "--set",
                                   "bootstrap_servers=127.0.0.1:1",
                                   "--set",
                                   "spool.dir=",
                                   "--set",
                                   "flush_timeout=0s",
                                   "--set",
                                   cd,
                                   NULL};
            const char *analyzer[] = {VG_ANALYZER_BIN,
                                      "--embedded-kafka",
                                      "--set",
                                      "user=",
                                      "--set",
                                      "http.listen=127.0.0.1:0",
                                      "--set",
                                      cd,
                                      NULL};
            const char *const *cmd = daemon ? analyzer : agent;
            const char *argv[24];
            size_t n = 0;
            if (geteuid() == 0) {
                argv[n++] = "/usr/bin/setpriv";
                argv[n++] = reuid;
                argv[n++] = regid;
                argv[n++] = "--clear-groups";
            }
            for (size_t i = 0; cmd[i]; i++)
                argv[n++] = cmd[i];
            argv[n] = NULL;
            pid_t pid = vg_tp_spawn((char *const *)argv, log);
            /* The agent's line comes after its privilege drop, the analyzer's once it runs. */
            const char *ready = daemon ? "msg=\"started\"" : "msg=\"privileges dropped\"";
            if (vg_tp_wait_contains(log, ready, 30000) != 0) {
                char *t = vg_tp_read(log);
                fail_msg("no '%s' in %s:\n%s", ready, log, t ? t : "");
            }
            char path[64];
            snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
            struct stat st;
            assert_int_equal(stat(path, &st), 0);
            int readable = same_user_reads_environ(pid, uid, gid);
            char want[32];
            snprintf(want, sizeof want, "dumpable=%d", dumps);
            int logged = vg_tp_wait_contains(log, want, 1000) == 0;
            vg_tp_stop(pid, SIGTERM, 20000);
            if (st.st_uid != (dumps ? uid : 0) || readable != dumps || !logged)
                fail_msg("%s with %s: /proc/%d/ owned by %u, environ %s to uid %u, '%s' %s", cmd[0],
                         cd, (int)pid, (unsigned)st.st_uid, readable ? "readable" : "unreadable",
                         (unsigned)uid, want, logged ? "logged" : "not logged");
        }
    }
    free(dir);
}

static void agent_refuses_a_user_that_does_not_exist(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        print_message("[  SKIP    ] not root: the user is only looked up when switching\n");
        skip();
    }
    char *dir = vg_tp_tmpdir("nouser");
    char out[300];
    snprintf(out, sizeof out, "%s/out", dir);
    int rc = vg_tp_sh("%s --set user=vigil-no-such-user --set collectors=cpu --set spool.dir= "
                      "--set bootstrap_servers=127.0.0.1:1 > %s 2>&1",
                      VG_AGENT_BIN, out);
    /* A config error, in --check-config's words, which the unit does not restart (it exited 1,
     * restarted every 5 s for ever). */
    assert_int_equal(rc, 78);
    char *o = vg_tp_read(out);
    assert_non_null(strstr(o, "vigil-agent: config error: --set: user: no user "
                              "'vigil-no-such-user' on this host"));
    free(o);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(secret_file_trims_as_asked_and_refuses_bad_files),
        cmocka_unit_test(a_secret_from_a_pipe_is_read_only_where_asked_and_bounded),
        cmocka_unit_test(a_named_pipe_at_a_secret_path_is_refused_without_waiting),
        cmocka_unit_test(secret_file_warns_only_when_others_may_read_it_or_others_may_write_it),
        cmocka_unit_test(scrub_masks_every_registered_secret),
        cmocka_unit_test(url_file_scrubbing_masks_credentials_not_ordinary_words),
        cmocka_unit_test(kafka_file_key_sets_the_property_and_errors_hide_the_secret),
        cmocka_unit_test(agent_with_sasl_never_logs_the_password),
        cmocka_unit_test(url_allow_list_matches_scheme_host_port_exactly_and_path_by_prefix),
        cmocka_unit_test(url_with_an_empty_host_is_refused),
        cmocka_unit_test(allow_list_errors_do_not_show_an_entrys_credentials),
        cmocka_unit_test(plain_http_only_to_loopback_unless_allowed),
        cmocka_unit_test(analyzer_refuses_receiver_urls_outside_the_policy),
        cmocka_unit_test(analyzer_reads_receiver_urls_from_url_files),
        cmocka_unit_test(analyzer_names_the_url_file_when_its_url_is_refused),
        cmocka_unit_test(agent_reads_the_local_webhook_url_from_its_url_file),
        cmocka_unit_test(agent_check_opens_the_url_file_as_its_user),
        cmocka_unit_test(agent_warns_about_a_credential_url_in_a_config_others_can_read),
        cmocka_unit_test(receivers_are_restricted_to_http_and_https),
        cmocka_unit_test(protocols_probe_succeeds_with_this_libcurl),
        cmocka_unit_test(check_config_refuses_a_libcurl_without_protocols_str),
        cmocka_unit_test(analyzer_warns_about_a_credential_url_in_a_config_others_can_read),
        cmocka_unit_test(analyzer_start_logs_the_url_warnings_in_the_log_format),
        cmocka_unit_test(https_receiver_is_verified_and_a_private_ca_can_be_trusted),
        cmocka_unit_test(caps_are_named),
        cmocka_unit_test(agent_started_as_root_runs_as_nobody_with_only_map_reads),
        cmocka_unit_test(agent_keeps_cap_bpf_where_the_kernel_checks_it_on_every_bpf_call),
        cmocka_unit_test(agent_once_as_root_gives_the_btf_cache_to_its_user),
        cmocka_unit_test(agent_refuses_a_user_that_does_not_exist),
        cmocka_unit_test(hand_over_gives_only_what_a_root_run_left),
        cmocka_unit_test(analyzer_started_as_root_leaves_its_files_to_its_user),
        cmocka_unit_test(daemons_are_not_dumpable_unless_core_dumps_is_set),
        cmocka_unit_test(agent_started_as_root_keeps_core_dumps_after_switching_user),
    };
    return vg_tp_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
