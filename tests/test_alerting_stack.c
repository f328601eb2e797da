/* Alerting end to end on real processes: rule files, silences and reloads over the API, scaling
 * decisions on HTTP and Kafka, and a kill -9 of the analyzer between accepting an alert and
 * delivering it. Messages go in with kcat, so their timestamps and values are exact. */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vg_stack.h"
#include "vg_testhttp.h"
#include "vg_testproc.h"

#define TOKEN "0123456789abcdef-test-token"

/* Lines of the file that contain needle (a request body names its host twice). */
static int lines_with(const char *path, const char *needle)
{
    char *t = vg_tp_read(path);
    int n = 0;
    for (char *line = t; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        n += strstr(line, needle) != NULL;
        line = nl ? nl + 1 : line + strlen(line);
    }
    free(t);
    return n;
}

/* Between polls of a condition (the API limits requests per second). */
static void nap(void)
{
    vg_tp_pause_ms(50);
}

static void write_text(const char *path, const char *text)
{
    assert_int_equal(vg_tp_write_atomic(path, text), 0);
}

/* seq from..to of host with q.depth = v, through kcat. */
static void produce(const struct vg_stack *s, const char *host, int from, int to, double v)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/in-%s-%d.txt", s->dir, host, from);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = from; i < to; i++)
        fprintf(f,
                "%s|{\"v\":1,\"host\":\"%s\",\"boot\":\"b\",\"seq\":%d,\"ts\":%lld,"
                "\"interval_ms\":1000,\"labels\":{\"env\":\"prod\"},"
                "\"metrics\":{\"q.depth\":%g}}\n",
                host, host, i, 1700000000000LL + i * 1000LL, v);
    fclose(f);
    assert_int_equal(vg_tp_sh("kcat -P -b %s -t vigil.metrics -K '|' -l %s", s->bootstrap, path),
                     0);
}

static json_t *get_json(const struct vg_stack *s, const char *path)
{
    return vg_th_get_json(s->http_port, path);
}

static int call(const struct vg_stack *s, const char *method, const char *path, const char *token,
                const char *req, json_t **out)
{
    char url[256], *body = NULL;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->http_port, path);
    int st = vg_th_request(method, url, token, req, req ? strlen(req) : 0, &body);
    if (out)
        *out = body ? json_loads(body, 0, NULL) : NULL;
    free(body);
    return st;
}

static json_t *find_alert(json_t *alerts, const char *host)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(alerts, "alerts"), i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "host")), host) == 0)
            return a;
    }
    return NULL;
}

static const char *rules_yaml = "rules:\n"
                                "  - name: QueueDeep\n"
                                "    when: value(\"q.depth\") > 100\n"
                                "    severity: critical\n"
                                "    labels: {team: ops}\n"
                                "    annotations:\n"
                                "      summary: \"{{ host }}: queue {{ value }} deep\"\n"
                                "scaling:\n"
                                "  - target: web\n"
                                "    metric: value(\"q.depth\")\n"
                                "    target_value: 50\n"
                                "    min: 1\n"
                                "    max: 10\n"
                                "    interval: 1s\n"
                                "    cooldown: 0s\n";

static void rules_silences_reload_and_scaling_over_the_api(void **state)
{
    struct vg_stack s;
    vg_stack_init(&s, "alerting");
    char rules[600], rfile[700], token[700], set_rules[700], set_token[800];
    snprintf(rules, sizeof(rules), "%s/rules", s.dir);
    assert_int_equal(vg_tp_sh("mkdir -p %s", rules), 0);
    snprintf(rfile, sizeof(rfile), "%s/a.yaml", rules);
    write_text(rfile, rules_yaml);
    snprintf(token, sizeof(token), "%s/token", s.dir);
    write_text(token, TOKEN "\n");
    snprintf(set_rules, sizeof(set_rules), "rules.dir=%s", rules);
    snprintf(set_token, sizeof(set_token), "http.token_file=%s", token);
    vg_stack_start_receiver(&s, NULL);
    const char *sets[] = {"kafka.auto.offset.reset=earliest", "detector.warmup=5", set_rules,
                          set_token, NULL};
    vg_stack_start_analyzer(&s, sets);
    assert_true(s.http_port > 0);

    /* Mutating endpoints need the token. */
    const char *silence = "{\"matchers\":[\"host=\\\"h2\\\"\",\"alertname=\\\"QueueDeep\\\"\"],"
                          "\"duration\":\"1h\",\"created_by\":\"test\"}";
    assert_int_equal(call(&s, "POST", "/api/v1/silences", NULL, silence, NULL), 401);
    assert_int_equal(call(&s, "POST", "/api/v1/silences", "wrong-token-wrong-token", silence, NULL),
                     401);
    json_t *sil = NULL;
    assert_int_equal(call(&s, "POST", "/api/v1/silences", TOKEN, silence, &sil), 201);
    char id[32];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(sil, "id")));
    assert_string_equal(json_string_value(json_object_get(sil, "state")), "active");
    json_decref(sil);
    assert_int_equal(call(&s, "POST", "/api/v1/silences", TOKEN, "{\"matchers\":[\"x\"]}", NULL),
                     400);

    produce(&s, "h1", 0, 6, 10);
    produce(&s, "h2", 0, 6, 10);
    produce(&s, "h1", 6, 9, 500);
    produce(&s, "h2", 6, 9, 500);
    assert_int_equal(vg_tp_wait_contains(s.recv_out, "\"host\":\"h1\"", 30000), 0);
    char *got = vg_tp_read(s.recv_out);
    assert_non_null(strstr(got, "\"alertname\":\"QueueDeep\""));
    assert_non_null(strstr(got, "\"summary\":\"h1: queue 500 deep\""));
    assert_non_null(strstr(got, "\"annotations\":{\"summary\":\"h1: queue 500 deep\"}"));
    assert_non_null(strstr(got, "\"team\":\"ops\""));
    free(got);

    /* h2 fires too, but silenced: listed, not notified. */
    int64_t end = vg_tp_mono_ms() + 20000;
    json_t *al = NULL, *h2 = NULL;
    while (vg_tp_mono_ms() < end) {
        json_decref(al);
        al = get_json(&s, "/api/v1/alerts");
        if ((h2 = find_alert(al, "h2")))
            break;
        nap();
    }
    assert_non_null(h2);
    assert_false(json_is_true(json_object_get(h2, "notified")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(h2, "silenced_by"), 0)),
                        id);
    assert_true(json_is_true(json_object_get(find_alert(al, "h1"), "notified")));
    json_decref(al);
    assert_int_equal(vg_tp_count(s.recv_out, "\"host\":\"h2\""), 0);

    /* Expiring the silence releases h2's firing notification. */
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/silences/%s", id);
    assert_int_equal(call(&s, "DELETE", path, NULL, NULL, NULL), 401);
    assert_int_equal(call(&s, "DELETE", path, TOKEN, NULL, NULL), 200);
    assert_int_equal(call(&s, "DELETE", "/api/v1/silences/ffffffffffffffff", TOKEN, NULL, NULL),
                     404);
    assert_int_equal(vg_tp_wait_contains(s.recv_out, "\"host\":\"h2\"", 10000), 0);

    /* Scaling: q.depth 500 per host against a target of 50 per replica. */
    end = vg_tp_mono_ms() + 10000;
    json_t *dec = NULL;
    while (vg_tp_mono_ms() < end) {
        json_decref(dec);
        dec = get_json(&s, "/api/v1/scale/web");
        if (json_integer_value(json_object_get(dec, "desired")) > 1)
            break;
        nap();
    }
    assert_int_equal(json_integer_value(json_object_get(dec, "desired")), 10);
    assert_string_equal(json_string_value(json_object_get(dec, "target")), "web");
    json_decref(dec);
    assert_int_equal(call(&s, "GET", "/api/v1/scale/nope", NULL, NULL, NULL), 404);
    char cmd[900];
    snprintf(
        cmd, sizeof(cmd),
        "kcat -C -b %s -t vigil.decisions -e -q | grep -q '\"target\":\"web\".*\"desired\":10'",
        s.bootstrap);
    end = vg_tp_mono_ms() + 10000;
    int rc = -1;
    while (vg_tp_mono_ms() < end && (rc = vg_tp_sh("%s", cmd)) != 0)
        nap();
    assert_int_equal(rc, 0);

    /* A broken file: the reload is refused with the mistake's place, the old rules stay. */
    char bad[700];
    snprintf(bad, sizeof(bad), "%s/b.yaml", rules);
    write_text(bad, "rules:\n  - name: Broken\n    when: avg(\"q.depth\") > 1\n");
    json_t *r = NULL;
    assert_int_equal(call(&s, "POST", "/api/v1/reload", NULL, NULL, NULL), 401);
    assert_int_equal(call(&s, "POST", "/api/v1/reload", TOKEN, NULL, &r), 422);
    const char *e0 = json_string_value(json_array_get(json_object_get(r, "errors"), 0));
    assert_non_null(e0);
    assert_non_null(strstr(e0, "b.yaml:3:11: unknown function 'avg'"));
    assert_int_equal(json_integer_value(json_object_get(r, "rules")), 1);
    json_decref(r);
    json_t *rl = get_json(&s, "/api/v1/rules");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(rl, "rules"), 0), "name")),
        "QueueDeep");
    assert_false(json_is_true(json_object_get(json_object_get(rl, "last_reload"), "ok")));
    json_decref(rl);
    /* Still evaluating the old rules: a third host fires. */
    produce(&s, "h3", 0, 6, 10);
    produce(&s, "h3", 6, 8, 500);
    assert_int_equal(vg_tp_wait_contains(s.recv_out, "\"host\":\"h3\"", 20000), 0);

    /* Fixed, and reloaded by SIGHUP. */
    write_text(bad, "rules:\n  - name: Fixed\n    when: avg_over(\"q.depth\", 1m) > 1e9\n");
    kill(s.analyzer, SIGHUP);
    end = vg_tp_mono_ms() + 10000;
    size_t n = 0;
    while (vg_tp_mono_ms() < end && n != 2) {
        rl = get_json(&s, "/api/v1/rules");
        n = json_array_size(json_object_get(rl, "rules"));
        json_decref(rl);
        if (n != 2)
            nap();
    }
    assert_int_equal(n, 2);
    /* Alerts firing before the reload did not fire again. */
    assert_int_equal(lines_with(s.recv_out, "\"host\":\"h1\""), 1);

    char *metrics = NULL, url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", s.http_port);
    assert_int_equal(vg_th_request("GET", url, NULL, NULL, 0, &metrics), 200);
    assert_non_null(strstr(metrics, "\nvigil_rule_reloads_total 1\n"));
    assert_non_null(strstr(metrics, "\nvigil_rule_reload_failures_total 1\n"));
    assert_non_null(strstr(metrics, "\nvigil_notifications_silenced_total 1\n"));
    assert_non_null(strstr(metrics, "vigil_scale_desired_replicas{target=\"web\"} 10\n"));
    assert_non_null(strstr(metrics, "vigil_host_score{host=\"h1\"}"));
    free(metrics);
    assert_int_equal(vg_stack_stop(&s), 0);
}

/* The analyzer accepted the alert (it is in the outbox; the receiver answered 500 to it) and is
 * killed with SIGKILL. Restarted on the same outbox with a working receiver, it delivers it. */
static void kill9_between_acceptance_and_delivery_loses_nothing(void **state)
{
    struct vg_stack s;
    vg_stack_init(&s, "kill9");
    char rules[600], rfile[700], set_rules[700], set_outbox[700];
    snprintf(rules, sizeof(rules), "%s/rules", s.dir);
    assert_int_equal(vg_tp_sh("mkdir -p %s %s/outbox", rules, s.dir), 0);
    snprintf(rfile, sizeof(rfile), "%s/a.yaml", rules);
    write_text(rfile, rules_yaml);
    snprintf(set_rules, sizeof(set_rules), "rules.dir=%s", rules);
    snprintf(set_outbox, sizeof(set_outbox), "outbox.dir=%s/outbox", s.dir);
    const char *fail[] = {"--fail", "1000000", NULL};
    vg_stack_start_receiver(&s, fail);
    const char *sets[] = {"kafka.auto.offset.reset=earliest",
                          "detector.warmup=5",
                          "webhook.backoff_initial=50ms",
                          "webhook.backoff_max=200ms",
                          "webhook.max_attempts=1000",
                          set_rules,
                          set_outbox,
                          NULL};
    vg_stack_start_analyzer(&s, sets);
    produce(&s, "k1", 0, 6, 10);
    produce(&s, "k1", 6, 8, 500);
    assert_int_equal(vg_tp_wait_contains(s.recv_out, "\"status\":500", 30000), 0);
    assert_int_equal(vg_tp_count(s.recv_out, "\"status\":200"), 0);
    kill(s.analyzer, SIGKILL);
    waitpid(s.analyzer, NULL, 0);
    s.analyzer = 0;
    assert_int_equal(vg_stack_stop(&s), 0); /* the failing receiver */

    struct vg_stack s2;
    vg_stack_init(&s2, "kill9-after");
    vg_stack_start_receiver(&s2, NULL);
    const char *sets2[] = {set_rules, set_outbox, NULL};
    vg_stack_start_analyzer(&s2, sets2);
    assert_int_equal(vg_tp_wait_contains(s2.recv_out, "\"host\":\"k1\"", 30000), 0);
    char *got = vg_tp_read(s2.recv_out);
    assert_non_null(strstr(got, "\"alertname\":\"QueueDeep\""));
    assert_non_null(strstr(got, "\"status\":\"firing\""));
    assert_non_null(strstr(got, "\"summary\":\"k1: queue 500 deep\""));
    assert_non_null(strstr(got, "\"annotations\":{\"summary\":\"k1: queue 500 deep\"}"));
    free(got);
    assert_int_equal(lines_with(s2.recv_out, "\"host\":\"k1\""), 1);
    assert_int_equal(vg_stack_stop(&s2), 0);
}

/* vigilctl rules check: the shipped examples pass, a broken directory fails with positions. */
static void vigilctl_rules_check_validates_without_starting_anything(void **state)
{
    char *dir = vg_tp_tmpdir("rules-check");
    assert_non_null(dir);
    const char *ctl = VG_BIN_DIR "/analyzer/vigilctl/vigilctl";
    assert_int_equal(vg_tp_sh("%s rules check -r webhook %s/rules/examples > %s/ok.txt", ctl,
                              VG_SOURCE_DIR, dir),
                     0);
    char path[600];
    snprintf(path, sizeof(path), "%s/ok.txt", dir);
    assert_int_equal(vg_tp_wait_contains(path, " scaling policies: OK", 0), 0);
    assert_int_equal(
        vg_tp_sh("%s rules check -r slack %s/rules/examples 2>/dev/null", ctl, VG_SOURCE_DIR), 1);
    snprintf(path, sizeof(path), "%s/bad.yaml", dir);
    write_text(path, "rules:\n  - name: X\n    when: avg(\"a\") > 1\n    sevrity: info\n");
    assert_int_equal(vg_tp_sh("%s rules check %s 2> %s/err.txt", ctl, dir, dir), 1);
    snprintf(path, sizeof(path), "%s/err.txt", dir);
    assert_int_equal(vg_tp_wait_contains(path, "bad.yaml:3:11: unknown function 'avg'", 0), 0);
    assert_int_equal(vg_tp_wait_contains(path, "bad.yaml:4:5: unknown key 'sevrity'", 0), 0);
    assert_int_equal(vg_tp_sh("%s rules 2>/dev/null", ctl), 2);
    free(dir);
}

int main(void)
{
    if (vg_tp_sh("command -v kcat >/dev/null 2>&1") != 0) {
        fprintf(stderr, "kcat is not installed (scripts/setup.sh installs it)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rules_silences_reload_and_scaling_over_the_api),
        cmocka_unit_test(kill9_between_acceptance_and_delivery_loses_nothing),
        cmocka_unit_test(vigilctl_rules_check_validates_without_starting_anything),
    };
    return vg_tp_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
