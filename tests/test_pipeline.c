/* End to end on real parts: vigil-agent -> embedded Kafka (mock cluster over loopback TCP) ->
 * vigil-analyzer -> vigil-test-receiver (HTTP, another process). The agent reads a /proc
 * fixture tree whose load average the test changes, so the anomaly is exact and the test does
 * not depend on how busy the machine is. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vg_stack.h"
#include "vg_testhttp.h"
#include "vg_testproc.h"

#define BASE_LOAD "0.50 0.40 0.30 1/120 4242\n"
#define HIGH_LOAD "9.50 0.40 0.30 9/120 4242\n"

/* Returns the parsed body of the n-th (0-based) request whose body.status == status. */
static json_t *find_alert(const char *path, const char *status, int n)
{
    char *text = vg_tp_read(path);
    json_t *found = NULL;
    for (char *line = text ? strtok(text, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        json_t *req = json_loads(line, 0, NULL);
        json_t *body = json_object_get(req, "body");
        const char *st = json_string_value(json_object_get(body, "status"));
        if (st && strcmp(st, status) == 0 && n-- == 0) {
            found = json_incref(body);
            json_decref(req);
            break;
        }
        json_decref(req);
    }
    free(text);
    return found;
}

/* The analyzer's HTTP API shows the same state the webhook saw. */
static void check_api_while_firing(const struct vg_stack *s)
{
    assert_true(s->http_port > 0);
    char url[128], *body = NULL;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", s->http_port);
    assert_int_equal(vg_th_request("GET", url, NULL, NULL, 0, NULL), 200);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/hosts/itest-1", s->http_port);
    assert_int_equal(vg_th_request("GET", url, NULL, NULL, 0, &body), 200);
    json_t *o = json_loads(body, 0, NULL);
    free(body);
    assert_non_null(o);
    json_t *load = json_object_get(json_object_get(o, "series"), "load.1m");
    assert_string_equal(json_string_value(json_object_get(load, "state")), "firing");
    assert_true(json_number_value(json_object_get(load, "value")) == 9.5);
    assert_true(json_number_value(json_object_get(o, "max_score")) >= 0.999);
    json_decref(o);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/hosts/nobody", s->http_port);
    assert_int_equal(vg_th_request("GET", url, NULL, NULL, 0, NULL), 404);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", s->http_port);
    assert_int_equal(vg_th_request("GET", url, NULL, NULL, 0, &body), 200);
    assert_non_null(strstr(body, "\nvigil_alerts_firing 1\n"));
    assert_non_null(strstr(body, "\nvigil_alerts_fired_total 1\n"));
    assert_non_null(strstr(body, "vigil_host_score{host=\"itest-1\"} 1.000000\n"));
    assert_non_null(strstr(body, "vigil_processing_seconds_bucket{le=\"+Inf\"}"));
    assert_non_null(strstr(body, "# TYPE vigil_event_lag_seconds histogram"));
    free(body);
}

static void agent_anomaly_reaches_webhook_as_firing_then_resolved(void **state)
{
    struct vg_stack s;
    vg_stack_init(&s, "pipeline");
    char proc[600], loadavg[700];
    snprintf(proc, sizeof(proc), "%s/proc", s.dir);
    vg_tp_sh("mkdir -p %s", proc);
    snprintf(loadavg, sizeof(loadavg), "%s/loadavg", proc);
    assert_int_equal(vg_tp_write_atomic(loadavg, BASE_LOAD), 0);

    vg_stack_start_receiver(&s, NULL);
    const char *asets[] = {"kafka.auto.offset.reset=earliest",
                           "detector.warmup=10",
                           "alert.for=1s",
                           "alert.resolve_for=1s",
                           "alert.series=load.1m",
                           "alert.severity=critical",
                           "stats_interval=1s",
                           NULL};
    vg_stack_start_analyzer(&s, asets);
    char procset[700];
    snprintf(procset, sizeof(procset), "proc_root=%s", proc);
    const char *gsets[] = {
        "collectors=load", procset, "interval=200ms", "host=itest-1", "labels.env=ci",
        "labels.team=sre", NULL};
    vg_stack_start_agent(&s, gsets);

    assert_int_equal(vg_tp_wait_contains(s.analyzer_log, "host warmed up", 30000), 0);
    assert_int_equal(vg_tp_write_atomic(loadavg, HIGH_LOAD), 0);
    assert_int_equal(vg_tp_wait_contains(s.recv_out, "\"firing\"", 30000), 0);
    check_api_while_firing(&s);
    assert_int_equal(vg_tp_write_atomic(loadavg, BASE_LOAD), 0);
    assert_int_equal(vg_tp_wait_contains(s.recv_out, "\"resolved\"", 30000), 0);
    assert_int_equal(vg_stack_stop(&s), 0);

    json_t *fire = find_alert(s.recv_out, "firing", 0);
    json_t *res = find_alert(s.recv_out, "resolved", 0);
    assert_non_null(fire);
    assert_non_null(res);
    assert_string_equal(json_string_value(json_object_get(fire, "host")), "itest-1");
    assert_string_equal(json_string_value(json_object_get(fire, "series")), "load.1m");
    assert_string_equal(json_string_value(json_object_get(fire, "alertname")), "anomaly");
    assert_string_equal(json_string_value(json_object_get(fire, "severity")), "critical");
    assert_true(json_number_value(json_object_get(fire, "score")) >= 0.999);
    assert_true(json_number_value(json_object_get(fire, "value")) == 9.5);
    json_t *labels = json_object_get(fire, "labels");
    assert_string_equal(json_string_value(json_object_get(labels, "env")), "ci");
    assert_string_equal(json_string_value(json_object_get(labels, "team")), "sre");
    assert_true(json_is_null(json_object_get(fire, "ends_at")));
    assert_string_equal(json_string_value(json_object_get(fire, "fingerprint")),
                        json_string_value(json_object_get(res, "fingerprint")));
    assert_true(json_number_value(json_object_get(res, "value")) == 0.5);
    assert_true(json_is_string(json_object_get(res, "ends_at")));
    /* Exactly one alert of each kind: the steady baseline and the other series stayed quiet. */
    assert_null(find_alert(s.recv_out, "firing", 1));
    assert_null(find_alert(s.recv_out, "resolved", 1));
    json_decref(fire);
    json_decref(res);
}

static void agent_sigterm_flushes_and_exits_zero_with_no_loss(void **state)
{
    struct vg_stack s;
    vg_stack_init(&s, "flush");
    const char *asets[] = {"kafka.auto.offset.reset=earliest", NULL};
    vg_stack_start_analyzer(&s, asets);
    const char *gsets[] = {"collectors=load,mem", "interval=100ms", "host=flush-1",
                           "stats_interval=1s", NULL};
    vg_stack_start_agent(&s, gsets);
    assert_int_equal(vg_tp_wait_contains(s.agent_log, "delivered=", 20000), 0);
    assert_int_equal(vg_stack_stop(&s), 0);
    /* The last stats line, written after the flush, shows every produced message delivered. */
    char *log = vg_tp_read(s.agent_log);
    char *last = NULL;
    for (char *p = log; (p = strstr(p, "msg=\"stats\"")); p++)
        last = p;
    assert_non_null(last);
    unsigned long long produced = 0, delivered = 0, failed = 1;
    sscanf(strstr(last, "produced="), "produced=%llu", &produced);
    sscanf(strstr(last, "delivered="), "delivered=%llu", &delivered);
    sscanf(strstr(last, "delivery_failed="), "delivery_failed=%llu", &failed);
    assert_true(produced > 0);
    assert_int_equal(delivered, produced);
    assert_int_equal(failed, 0);
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(agent_anomaly_reaches_webhook_as_firing_then_resolved),
        cmocka_unit_test(agent_sigterm_flushes_and_exits_zero_with_no_loss),
    };
    return vg_tp_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
