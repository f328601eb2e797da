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
#include <sys/stat.h>
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

static char *metrics_text(const struct vg_stack *s)
{
    char *metrics = NULL, url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", s->http_port);
    assert_int_equal(vg_th_request("GET", url, NULL, NULL, 0, &metrics), 200);
    return metrics;
}

/* Starts an analyzer with the token, rules.dir (when rules is not NULL) and extra --set options. */
static void start_with_token(struct vg_stack *s, const char *rules, const char *extra)
{
    char token[700], set_rules[700], set_token[800];
    snprintf(token, sizeof(token), "%s/token", s->dir);
    write_text(token, TOKEN "\n");
    snprintf(set_rules, sizeof(set_rules), "rules.dir=%s", rules ? rules : "");
    snprintf(set_token, sizeof(set_token), "http.token_file=%s", token);
    vg_stack_start_receiver(s, NULL);
    const char *sets[] = {set_token, rules ? set_rules : extra, rules ? extra : NULL, NULL};
    vg_stack_start_analyzer(s, sets);
    assert_true(s->http_port > 0);
}

/* A rule without actions notifies every configured receiver (docs/rules.md), as /api/v1/alerts
 * lists its alerts; /api/v1/rules listed it as "actions": [], which reads as "nobody". */
static void a_rule_without_actions_is_listed_with_every_receiver(void **state)
{
    struct vg_stack s;
    vg_stack_init(&s, "noactions");
    char rules[600], file[700];
    snprintf(rules, sizeof(rules), "%s/rules", s.dir);
    assert_int_equal(vg_tp_sh("mkdir -p %s", rules), 0);
    snprintf(file, sizeof(file), "%s/a.yaml", rules);
    write_text(file, "rules:\n  - name: A\n    when: value(\"q.depth\") > 100\n"
                     "  - name: B\n    when: value(\"q.depth\") > 200\n    actions: [webhook]\n");
    start_with_token(&s, rules, NULL);
    json_t *rl = get_json(&s, "/api/v1/rules");
    json_t *st = get_json(&s, "/api/v1/status");
    json_t *recv = json_object_get(st, "receivers");
    json_t *acts = json_object_get(json_array_get(json_object_get(rl, "rules"), 0), "actions");
    assert_true(json_array_size(recv) > 0);
    assert_int_equal(json_array_size(acts), json_array_size(recv));
    for (size_t i = 0; i < json_array_size(recv); i++)
        assert_string_equal(json_string_value(json_array_get(acts, i)),
                            json_string_value(json_object_get(json_array_get(recv, i), "name")));
    acts = json_object_get(json_array_get(json_object_get(rl, "rules"), 1), "actions");
    assert_int_equal(json_array_size(acts), 1);
    assert_string_equal(json_string_value(json_array_get(acts, 0)), "webhook");
    json_decref(st);
    json_decref(rl);
    assert_int_equal(vg_stack_stop(&s), 0);
}

/* A rule file's name need not be UTF-8, and jansson refuses invalid UTF-8: the rules of such a
 * file went missing from /api/v1/rules and a reload answered 422 with "errors": []. */
static void a_rule_file_whose_name_is_not_utf8_keeps_its_rules_and_errors_in_the_api(void **state)
{
    struct vg_stack s;
    vg_stack_init(&s, "latin1");
    char rules[600], good[700], odd[700];
    snprintf(rules, sizeof(rules), "%s/rules", s.dir);
    assert_int_equal(vg_tp_sh("mkdir -p %s", rules), 0);
    snprintf(good, sizeof(good), "%s/10-a.yaml", rules);
    write_text(good, "rules:\n  - name: A\n    when: value(\"q.depth\") > 100\n");
    snprintf(odd, sizeof(odd), "%s/20-caf\xe9.yaml", rules);
    write_text(odd, "rules:\n  - name: B\n    when: value(\"q.depth\") > 200\n");
    start_with_token(&s, rules, NULL);

    json_t *rl = get_json(&s, "/api/v1/rules");
    json_t *list = json_object_get(rl, "rules");
    assert_int_equal(json_array_size(list), 2);
    json_t *b = json_array_get(list, 1);
    assert_string_equal(json_string_value(json_object_get(b, "name")), "B");
    assert_non_null(strstr(json_string_value(json_object_get(b, "where")), "20-caf?.yaml"));
    json_decref(rl);

    write_text(odd, "rules:\n  - name: B\n    when: avg(\"q.depth\") > 1\n");
    json_t *r = NULL;
    assert_int_equal(call(&s, "POST", "/api/v1/reload", TOKEN, NULL, &r), 422);
    const char *e0 = json_string_value(json_array_get(json_object_get(r, "errors"), 0));
    assert_non_null(e0);
    assert_non_null(strstr(e0, "20-caf?.yaml:3:11: unknown function 'avg'"));
    json_decref(r);
    rl = get_json(&s, "/api/v1/rules");
    e0 = json_string_value(
        json_array_get(json_object_get(json_object_get(rl, "last_reload"), "errors"), 0));
    assert_non_null(e0);
    assert_non_null(strstr(e0, "20-caf?.yaml"));
    json_decref(rl);
    assert_int_equal(vg_stack_stop(&s), 0);
}

/* 401, 413 and 429 left no trace: every response is counted by code in /metrics, and a wrong or
 * missing token is logged. */
static void refusals_are_counted_by_code_and_a_wrong_token_is_logged(void **state)
{
    struct vg_stack s;
    vg_stack_init(&s, "refusals");
    start_with_token(&s, NULL, NULL);
    assert_int_equal(call(&s, "POST", "/api/v1/reload", NULL, NULL, NULL), 401);
    assert_int_equal(call(&s, "POST", "/api/v1/reload", "wrong-token-wrong-token", NULL, NULL),
                     401);
    assert_int_equal(call(&s, "GET", "/api/v1/nope", NULL, NULL, NULL), 404);
    char *metrics = metrics_text(&s);
    assert_non_null(strstr(metrics, "\n# TYPE vigil_http_requests_total counter\n"));
    assert_non_null(strstr(metrics, "\nvigil_http_requests_total{code=\"401\"} 2\n"));
    assert_non_null(strstr(metrics, "\nvigil_http_requests_total{code=\"404\"} 1\n"));
    free(metrics);
    char *log = vg_tp_read(s.analyzer_log);
    assert_non_null(strstr(log, "http request refused: missing or wrong bearer token"));
    assert_non_null(strstr(log, "path=\"/api/v1/reload\""));
    free(log);
    assert_int_equal(vg_stack_stop(&s), 0);
}

/* A silence change the analyzer cannot write to silences.file would be lost by a restart: it is
 * refused with 503, counted, and not made, where it used to answer 201/200 with a log line. */
static void a_silence_change_that_cannot_be_saved_is_refused_and_undone(void **state)
{
    struct vg_stack s;
    vg_stack_init(&s, "silsave");
    char dir[600], gone[600], set_file[800];
    snprintf(dir, sizeof(dir), "%s/sil", s.dir);
    snprintf(gone, sizeof(gone), "%s/sil.gone", s.dir);
    assert_int_equal(vg_tp_sh("mkdir -p %s", dir), 0);
    snprintf(set_file, sizeof(set_file), "silences.file=%s/silences.json", dir);
    start_with_token(&s, NULL, set_file);

    const char *body = "{\"matchers\":[\"host=\\\"h1\\\"\"],\"duration\":\"1h\"}";
    json_t *sil = NULL;
    assert_int_equal(call(&s, "POST", "/api/v1/silences", TOKEN, body, &sil), 201);
    char id[32], path[128];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(sil, "id")));
    json_decref(sil);
    snprintf(path, sizeof(path), "/api/v1/silences/%s", id);

    /* The directory goes away under the running analyzer (root passes any mode check). */
    assert_int_equal(rename(dir, gone), 0);
    json_t *r = NULL;
    assert_int_equal(call(&s, "POST", "/api/v1/silences", TOKEN, body, &r), 503);
    assert_non_null(strstr(json_string_value(json_object_get(r, "error")), "silences.file"));
    json_decref(r);
    assert_int_equal(call(&s, "DELETE", path, TOKEN, NULL, NULL), 503);
    json_t *all = get_json(&s, "/api/v1/silences");
    json_t *list = json_object_get(all, "silences");
    assert_int_equal(json_array_size(list), 1); /* the refused one is not held */
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "state")),
                        "active"); /* nor the refused expiry */
    json_decref(all);
    char *metrics = metrics_text(&s);
    assert_non_null(strstr(metrics, "\nvigil_silences_save_errors_total 2\n"));
    assert_non_null(strstr(metrics, "\nvigil_silences_created_total 1\n"));
    assert_non_null(strstr(metrics, "\nvigil_silences_active 1\n"));
    free(metrics);

    /* Back in place, the same expiry goes through and is what the file holds: the silence,
     * expired (listed for an hour, across a restart too). */
    assert_int_equal(rename(gone, dir), 0);
    assert_int_equal(call(&s, "DELETE", path, TOKEN, NULL, NULL), 200);
    char file[700];
    snprintf(file, sizeof(file), "%s/silences.json", dir);
    char *saved = vg_tp_read(file);
    assert_non_null(saved);
    assert_non_null(strstr(saved, id));
    assert_non_null(strstr(saved, "\"expired\""));
    assert_null(strstr(saved, "\"active\""));
    free(saved);
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
    /* A new Kafka: nothing restores the host or fires the alert again, so this is the analyzer
     * without a state topic, whose outbox delivers a replayed firing at once. With one, the
     * firing is held until the restore takes the alert over (docs/alerts.md, outbox). */
    const char *sets2[] = {set_rules, set_outbox, "state.topic=", NULL};
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

/* A value of the analyzer's /metrics (a line "NAME VALUE"; name may carry its labels), -1 when
 * the line is missing or the API did not answer. */
static double metric(const struct vg_stack *s, const char *name)
{
    char *body = NULL, url[128], needle[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", s->http_port);
    snprintf(needle, sizeof(needle), "\n%s ", name);
    double v = -1;
    if (vg_th_request("GET", url, NULL, NULL, 0, &body) == 200 && body) {
        const char *p = strstr(body, needle);
        if (p)
            v = strtod(p + strlen(needle), NULL);
    }
    free(body);
    return v;
}

#define QF_HOSTS 8 /* below the log's 20 lines of one message per 10 s */
#define QF_QUEUE 2

/* The receiver fails every attempt and its queue holds QF_QUEUE: the first alerts are accepted,
 * each later one is refused, and the analyzer counts it (vigil_webhook_queue_full_total, next to
 * the notifications handed over and those still queued) and logs it with the alert's name and
 * host, so that an operator knows which alerts nobody was told about. */
static void full_receiver_queue_refusals_are_counted_and_logged_per_alert(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "queue-full");
    char rules[600], rfile[700], set_rules[700], set_outbox[700];
    snprintf(rules, sizeof(rules), "%s/rules", s.dir);
    assert_int_equal(vg_tp_sh("mkdir -p %s %s/outbox", rules, s.dir), 0);
    snprintf(rfile, sizeof(rfile), "%s/a.yaml", rules);
    write_text(rfile, "rules:\n"
                      "  - name: QueueDeep\n"
                      "    when: value(\"q.depth\") > 100\n"
                      "    severity: critical\n");
    snprintf(set_rules, sizeof(set_rules), "rules.dir=%s", rules);
    snprintf(set_outbox, sizeof(set_outbox), "outbox.dir=%s/outbox", s.dir);
    const char *fail[] = {"--fail", "1000000", NULL};
    vg_stack_start_receiver(&s, fail);
    /* One failed attempt, then a retry far away: the queue stays full and the log quiet. */
    const char *sets[] = {"kafka.auto.offset.reset=earliest",
                          "webhook.queue_max=2",
                          "webhook.backoff_initial=10m",
                          "webhook.backoff_max=10m",
                          "webhook.max_attempts=1000",
                          "drain_timeout=0s",
                          set_rules,
                          set_outbox,
                          NULL};
    vg_stack_start_analyzer(&s, sets);
    for (int i = 1; i <= QF_HOSTS; i++) {
        char host[16];
        snprintf(host, sizeof(host), "qf%d", i);
        produce(&s, host, 0, 1, 500);
    }
    int64_t end = vg_tp_mono_ms() + 30000;
    double sent, refused;
    while ((sent = metric(&s, "vigil_notifications_sent_total")) < QF_HOSTS ||
           (refused = metric(&s, "vigil_webhook_queue_full_total")) < QF_HOSTS - QF_QUEUE) {
        if (vg_tp_mono_ms() > end)
            fail_msg("sent=%g refused=%g after 30 s", sent,
                     metric(&s, "vigil_webhook_queue_full_total"));
        nap();
    }
    double queued = metric(&s, "vigil_webhook_queued");
    assert_true(sent == QF_HOSTS);
    assert_true(queued == QF_QUEUE);
    assert_true(refused == sent - queued);
    assert_true(metric(&s, "vigil_webhook_dropped_total") == 0);
    /* The outbox took what the queue took, without trouble. */
    assert_true(metric(&s, "vigil_webhook_outbox_errors_total{receiver=\"webhook\"}") == 0);

    /* Each refusal is one line naming its alert, and no alert is refused twice. */
    int logged = 0, per_host[QF_HOSTS + 1] = {0};
    char *log = vg_tp_read(s.analyzer_log);
    assert_non_null(log);
    for (char *line = log; *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (strstr(line, "msg=\"alert not queued\"")) {
            logged++;
            assert_non_null(strstr(line, " receiver=webhook "));
            assert_non_null(strstr(line, " alertname=QueueDeep "));
            assert_non_null(strstr(line, " reason=queue-or-outbox-full"));
            const char *h = strstr(line, " host=qf");
            assert_non_null(h);
            int i = atoi(h + strlen(" host=qf"));
            assert_true(i >= 1 && i <= QF_HOSTS);
            per_host[i]++;
        }
        line = nl ? nl + 1 : line + strlen(line);
    }
    free(log);
    assert_int_equal(logged, QF_HOSTS - QF_QUEUE);
    for (int i = 1; i <= QF_HOSTS; i++)
        assert_true(per_host[i] <= 1);
    assert_int_equal(vg_tp_count(s.analyzer_log, "msg=\"webhook queue full, refusing"), 1);

    assert_int_equal(vg_stack_stop(&s), 0);
    char want[64];
    snprintf(want, sizeof(want), " queue_full=%d ", QF_HOSTS - QF_QUEUE);
    assert_int_equal(vg_tp_count(s.analyzer_log, want), 1);
    assert_int_equal(vg_tp_count(s.analyzer_log, " outbox_errors=0"), 1); /* webhook stopped */
    assert_true(vg_tp_count(s.analyzer_log, " webhook_outbox_errors=0 ") >= 1); /* stats */
}

/* The audit's case, end to end: a receiver answering 503 for good. Past webhook.max_attempts
 * the analyzer keeps the alert (vigil_webhook_retrying, nothing dropped) instead of giving up on
 * it, and drops it only at webhook.max_age, logged and counted (vigil_webhook_expired_total). */
static void a_notification_failing_past_max_attempts_is_kept_until_max_age(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "max-age");
    char rules[600], rfile[700], set_rules[700], set_outbox[700];
    snprintf(rules, sizeof(rules), "%s/rules", s.dir);
    assert_int_equal(vg_tp_sh("mkdir -p %s %s/outbox", rules, s.dir), 0);
    snprintf(rfile, sizeof(rfile), "%s/a.yaml", rules);
    write_text(rfile, "rules:\n"
                      "  - name: QueueDeep\n"
                      "    when: value(\"q.depth\") > 100\n"
                      "    severity: critical\n");
    snprintf(set_rules, sizeof(set_rules), "rules.dir=%s", rules);
    snprintf(set_outbox, sizeof(set_outbox), "outbox.dir=%s/outbox", s.dir);
    const char *fail[] = {"--fail", "1000000", "--fail-status", "503", NULL};
    vg_stack_start_receiver(&s, fail);
    const char *sets[] = {"kafka.auto.offset.reset=earliest",
                          "webhook.max_attempts=3",
                          "webhook.backoff_initial=20ms",
                          "webhook.backoff_max=100ms",
                          "webhook.max_age=4s",
                          "drain_timeout=0s",
                          set_rules,
                          set_outbox,
                          NULL};
    vg_stack_start_analyzer(&s, sets);
    produce(&s, "ma1", 0, 1, 500);
    int64_t end = vg_tp_mono_ms() + 30000;
    while (metric(&s, "vigil_webhook_retrying") < 1) {
        if (vg_tp_mono_ms() > end)
            fail_msg("vigil_webhook_retrying never reached 1 (dropped=%g)",
                     metric(&s, "vigil_webhook_dropped_total"));
        nap();
    }
    assert_true(metric(&s, "vigil_webhook_dropped_total") == 0);
    assert_true(metric(&s, "vigil_webhook_queued") == 1);
    /* expired is counted before the notification leaves the queue */
    while (metric(&s, "vigil_webhook_expired_total") < 1 ||
           metric(&s, "vigil_webhook_queued") != 0) {
        if (vg_tp_mono_ms() > end)
            fail_msg("vigil_webhook_expired_total never reached 1");
        nap();
    }
    assert_true(metric(&s, "vigil_webhook_dropped_total") == 1);
    assert_true(metric(&s, "vigil_webhook_retrying") == 0);
    assert_true(metric(&s, "vigil_webhook_queued") == 0);
    assert_true(vg_tp_count(s.recv_out, "\"status\":503") > 3);
    assert_int_equal(vg_tp_count(s.analyzer_log, "still retrying until delivered or max_age"), 1);
    assert_int_equal(vg_tp_count(s.analyzer_log, "notification older than max_age, dropped"), 1);
    assert_int_equal(vg_tp_count(s.analyzer_log, "giving up"), 0);
    assert_int_equal(vg_stack_stop(&s), 0);
}

/* vigilctl rules check: the shipped examples pass, a broken directory fails with positions. */
#define DR_HOSTS   6
#define DR_DRAIN   3 /* s */
#define DR_DRAIN_S "3"

/* Every receiver (webhook, Alertmanager, PagerDuty, Slack) and the scaling webhook answer 503
 * and hold alerts queued at SIGTERM: they drain at once against one drain_timeout, so the stop
 * takes about one drain_timeout. Each of them once got its own drain_timeout in turn: 4 x 3 s
 * for the receivers, then up to 3 s more for the scaling webhook, at least 12 s where this allows
 * 9 (3 s of drain and 6 s for the rest of the stop), a margin no loaded machine closes. */
static void shutdown_drains_every_receiver_within_one_drain_timeout(void **state)
{
    (void)state;
    struct vg_stack s;
    vg_stack_init(&s, "drain");
    char rules[600], rfile[700], set_rules[700], keyfile[700], set_key[800];
    char set_am[128], set_pd[128], set_slack[128], set_dec[128];
    snprintf(rules, sizeof(rules), "%s/rules", s.dir);
    assert_int_equal(vg_tp_sh("mkdir -p %s", rules), 0);
    snprintf(rfile, sizeof(rfile), "%s/a.yaml", rules);
    write_text(rfile, "rules:\n"
                      "  - name: QueueDeep\n"
                      "    when: value(\"q.depth\") > 100\n"
                      "    severity: critical\n"
                      "scaling:\n"
                      "  - target: web\n"
                      "    metric: value(\"q.depth\")\n"
                      "    target_value: 50\n"
                      "    min: 1\n"
                      "    max: 100\n"
                      "    interval: 1s\n"
                      "    cooldown: 0s\n");
    snprintf(set_rules, sizeof(set_rules), "rules.dir=%s", rules);
    snprintf(keyfile, sizeof(keyfile), "%s/pd.key", s.dir);
    write_text(keyfile, "0123456789abcdef0123456789abcdef\n");
    assert_int_equal(chmod(keyfile, 0600), 0);
    snprintf(set_key, sizeof(set_key), "pagerduty.routing_key_file=%s", keyfile);
    const char *fail[] = {"--fail", "1000000", "--fail-status", "503", NULL};
    vg_stack_start_receiver(&s, fail);
    snprintf(set_am, sizeof(set_am), "alertmanager.url=http://127.0.0.1:%d", s.recv_port);
    snprintf(set_pd, sizeof(set_pd), "pagerduty.url=http://127.0.0.1:%d", s.recv_port);
    snprintf(set_slack, sizeof(set_slack), "slack.url=http://127.0.0.1:%d/slack", s.recv_port);
    snprintf(set_dec, sizeof(set_dec), "decisions.webhook_url=http://127.0.0.1:%d/scale",
             s.recv_port);
    const char *sets[] = {"kafka.auto.offset.reset=earliest",
                          "webhook.backoff_initial=100ms",
                          "webhook.backoff_max=200ms",
                          "webhook.max_attempts=1000",
                          "drain_timeout=" DR_DRAIN_S "s",
                          set_rules,
                          set_key,
                          set_am,
                          set_pd,
                          set_slack,
                          set_dec,
                          NULL};
    vg_stack_start_analyzer(&s, sets);
    for (int i = 1; i <= DR_HOSTS; i++) {
        char host[16];
        snprintf(host, sizeof(host), "dr%d", i);
        produce(&s, host, 0, 1, 500);
    }
    /* Every alert handed to the 4 receivers, and each receiver failing with some queued. */
    int64_t end = vg_tp_mono_ms() + 30000;
    while (metric(&s, "vigil_notifications_sent_total") < DR_HOSTS ||
           metric(&s, "vigil_webhook_queued") < 4 || vg_tp_count(s.recv_out, "/slack") < 1 ||
           vg_tp_count(s.recv_out, "/scale") < 1) {
        if (vg_tp_mono_ms() > end)
            fail_msg("alerts not queued at every receiver after 30 s: sent=%g queued=%g",
                     metric(&s, "vigil_notifications_sent_total"),
                     metric(&s, "vigil_webhook_queued"));
        nap();
    }
    int64_t t0 = vg_tp_mono_ms();
    int st = vg_tp_stop(s.analyzer, SIGTERM, 30000);
    int64_t took = vg_tp_mono_ms() - t0;
    s.analyzer = 0;
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (took >= 3 * DR_DRAIN * 1000)
        fail_msg("stop took %lld ms with drain_timeout %d s (log %s)", (long long)took, DR_DRAIN,
                 s.analyzer_log);
    assert_int_equal(vg_tp_count(s.analyzer_log, "msg=\"receivers stopped\" receivers=4 "
                                                 "drain_timeout_ms=" DR_DRAIN_S "000 "),
                     1);
    assert_int_equal(vg_stack_stop(&s), 0);
}

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
        cmocka_unit_test(a_rule_without_actions_is_listed_with_every_receiver),
        cmocka_unit_test(a_rule_file_whose_name_is_not_utf8_keeps_its_rules_and_errors_in_the_api),
        cmocka_unit_test(refusals_are_counted_by_code_and_a_wrong_token_is_logged),
        cmocka_unit_test(a_silence_change_that_cannot_be_saved_is_refused_and_undone),
        cmocka_unit_test(kill9_between_acceptance_and_delivery_loses_nothing),
        cmocka_unit_test(full_receiver_queue_refusals_are_counted_and_logged_per_alert),
        cmocka_unit_test(shutdown_drains_every_receiver_within_one_drain_timeout),
        cmocka_unit_test(a_notification_failing_past_max_attempts_is_kept_until_max_age),
        cmocka_unit_test(vigilctl_rules_check_validates_without_starting_anything),
    };
    return vg_tp_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
