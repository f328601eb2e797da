/* A catalogue of malformed inputs across every parser of outside input (wire decoder, rule
 * loader, config parser, HTTP request handling, /proc parsers), each with the exact message the
 * user gets. The message is the product: a change to one is a change to what operators and
 * producers read, so it has to show up here.
 *
 * Set VG_CATALOGUE_PRINT=1 to print every case's actual message instead of asserting. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analyzer_config.h"
#include "proc_parse.h"
#include "vg_config.h"
#include "vg_http.h"
#include "vg_rule_load.h"
#include "vg_util.h"
#include "vg_wire.h"

enum parser { P_WIRE, P_RULES, P_CONFIG, P_SET, P_HTTP, P_STAT, P_MEMINFO, P_LOADAVG, P_PSI };

struct entry {
    enum parser parser;
    const char *input; /* for P_HTTP: "METHOD PATH [AUTH]\nBODY" */
    int rc;            /* for P_HTTP: the status */
    const char *msg;
};

#define WIRE_OK_HEAD "{\"v\":1,\"host\":\"h1\",\"boot\":\"b1\",\"seq\":1,\"ts\":1700000000000,"

static const struct entry catalogue[] = {
    /* ---- wire decoder (common/vg_wire.c) ---- */
    {P_WIRE, "", -EBADMSG,
     "malformed JSON at line 1 column 0: the message is empty, expected one JSON object"},
    {P_WIRE, "{\"v\":1,", -EBADMSG,
     "malformed JSON at line 1 column 7: string or '}' expected near end of file"},
    {P_WIRE, "[1,2]", -EBADMSG, "top-level value is array, expected an object"},
    {P_WIRE, "{} {}", -EBADMSG,
     "trailing data after the JSON object at byte 4: one message per record"},
    {P_WIRE, "{\"v\":1,\"v\":1}", -EBADMSG,
     "duplicate key at line 1 column 10: duplicate object key near '\"v\"'"},
    {P_WIRE, "{\"host\":\"h1\"}", -EINVAL, "missing field 'v' (wire format version)"},
    {P_WIRE, "{\"v\":\"1\"}", -EINVAL, "field 'v' must be an integer, got string"},
    {P_WIRE, "{\"v\":2}", -EPROTONOSUPPORT, "unsupported version 2: this decoder reads v1"},
    {P_WIRE, WIRE_OK_HEAD "\"interval_ms\":1000,\"metrics\":{},\"extra\":1}", -EINVAL,
     "unknown field 'extra': v1 rejects fields it does not know"},
    {P_WIRE, "{\"v\":1,\"host\":\"bad host\"}", -EINVAL,
     "invalid host 'bad host': want 1..253 bytes of [A-Za-z0-9._-]"},
    {P_WIRE, "{\"v\":1,\"boot\":\"b_1\"}", -EINVAL,
     "invalid boot 'b_1': want 1..64 bytes of [A-Za-z0-9-]"},
    {P_WIRE, "{\"v\":1,\"seq\":-1}", -EINVAL,
     "field 'seq' out of range: -1 not in 0..9007199254740992"},
    {P_WIRE, "{\"v\":1,\"ts\":0}", -EINVAL,
     "field 'ts' out of range: 0, want a positive count of ms since the epoch"},
    {P_WIRE, "{\"v\":1,\"interval_ms\":0}", -EINVAL,
     "field 'interval_ms' out of range: 0 not in 1..86400000"},
    {P_WIRE, "{\"v\":1,\"seq\":1.5}", -EINVAL, "field 'seq' must be an integer, got real"},
    {P_WIRE, WIRE_OK_HEAD "\"interval_ms\":1000}", -EINVAL, "missing field 'metrics'"},
    {P_WIRE, WIRE_OK_HEAD "\"interval_ms\":1000,\"metrics\":{\"9cpu\":1}}", -EINVAL,
     "invalid metric name '9cpu': want [A-Za-z_] then [A-Za-z0-9_.:-], 1..200 bytes"},
    {P_WIRE, WIRE_OK_HEAD "\"interval_ms\":1000,\"metrics\":{\"cpu\":\"high\"}}", -EINVAL,
     "metric 'cpu' must be a number, got string"},
    {P_WIRE, WIRE_OK_HEAD "\"interval_ms\":1000,\"metrics\":{\"cpu\":NaN}}", -EINVAL,
     "non-finite number at line 1 column 97: NaN and Infinity are not JSON; leave the metric out"},
    {P_WIRE, WIRE_OK_HEAD "\"interval_ms\":1000,\"metrics\":{\"cpu\":1e999}}", -EINVAL,
     "number out of range at line 1 column 99: real number overflow near '1e999' (reals must fit a "
     "double, integers 64 bits; write large values with an exponent)"},
    {P_WIRE, WIRE_OK_HEAD "\"interval_ms\":1000,\"labels\":{\"env-x\":\"a\"},\"metrics\":{}}",
     -EINVAL, "invalid label key 'env-x': want [A-Za-z_] then [A-Za-z0-9_], 1..200 bytes"},
    {P_WIRE, WIRE_OK_HEAD "\"interval_ms\":1000,\"labels\":{\"env\":1},\"metrics\":{}}", -EINVAL,
     "label 'env' must be a string, got integer"},
    {P_WIRE, WIRE_OK_HEAD "\"interval_ms\":1000,\"labels\":[],\"metrics\":{}}", -EINVAL,
     "field 'labels' must be an object, got array"},
    {P_WIRE, "{\"v\":1,\"host\":\"a\\u0000b\"}", -EBADMSG,
     "malformed JSON at line 1 column 24: \\u0000 is not allowed in strings"},

    /* ---- rule loader (rules/) ---- */
    {P_RULES, "rules:\n  - name: A\n    when: top_score() >\n", -EINVAL,
     "r.yaml:3:24: expected a number, a function call or '(', found the end of the expression"},
    {P_RULES, "rules:\n  - name: A\n", -EINVAL, "r.yaml:2:5: missing 'when'"},
    {P_RULES, "rules:\n  - when: top_score() > 0.9\n", -EINVAL, "r.yaml:2:5: missing 'name'"},
    {P_RULES, "rules:\n  - name: A\n    when: top_score() > 0.9\n    for: soon\n", -EINVAL,
     "r.yaml:4:10: for: 'soon' is not a duration (write e.g. 30s, 5m)"},
    {P_RULES, "rules:\n  - name: A\n    when: top_score() > 0.9\n    severity: loud\n", -EINVAL,
     "r.yaml:4:15: severity 'loud' is not one of info, warning, critical"},
    {P_RULES, "rules: [\n", -EINVAL,
     "r.yaml:2:1: YAML syntax error: did not find expected node content while parsing a flow node"},
    {P_RULES,
     "rules:\n  - name: A\n    when: top_score() > 0.9\n  - name: A\n    when: top_score() > 0.5\n",
     -EINVAL, "r.yaml:4:5: rule 'A' is defined twice (first at r.yaml:2:5)"},
    {P_RULES, "rules:\n  - name: A\n    when: max(1)\n", -EINVAL,
     "r.yaml:3:11: unknown function 'max' (did you mean 'max_over'?)"},

    /* ---- config parser (common/vg_config.c, the analyzer's table) ---- */
    {P_CONFIG, "topic: [a, b]\n", -EINVAL, "c.yaml:1:8: topic must be a string, not a list"},
    {P_CONFIG, "commit_interval: 1 fortnight\n", -EINVAL,
     "c.yaml:1:18: commit_interval: '1 fortnight' is not a duration (write e.g. 250ms, 5s, 2m, "
     "1h)"},
    {P_CONFIG, "commit_interval: 1ms\n", -ERANGE,
     "c.yaml:1:18: commit_interval must be between 10ms and 10m"},
    {P_CONFIG, "alert.threshold: 1.5\n", -ERANGE,
     "c.yaml:1:18: alert.threshold must be between 0.5 and 1"},
    {P_CONFIG, "detector:\n  warmup: many\n", -EINVAL,
     "c.yaml:2:11: detector.warmup: 'many' is not an integer"},
    {P_CONFIG, "max_message_bytes: 12 parsecs\n", -EINVAL,
     "c.yaml:1:20: max_message_bytes: '12 parsecs' is not a size (write e.g. 4096, 64KiB, 1MiB)"},
    {P_CONFIG, "detectr:\n  model: ewma\n", -EINVAL,
     "c.yaml:1:1: unknown key 'detectr' (see --help for the list of keys)"},
    {P_CONFIG, "topic: a\ntopic: b\n", -EINVAL, "c.yaml:2:1: key 'topic' is set twice"},
    {P_CONFIG, "kafka: 3\n", -EINVAL, "c.yaml:1:8: kafka must be a map of NAME: value"},
    {P_CONFIG, "detector:\n  model: seasnal\n", -EINVAL,
     "c.yaml:2:10: detector.model: 'seasnal' is not one of ewma, seasonal (did you mean "
     "'seasonal'?)"},
    {P_CONFIG, "model:\n  backend: opencl\n", -EINVAL,
     "c.yaml:2:12: model.backend: 'opencl' is not one of auto, cpu, cuda"},
    {P_CONFIG, "topic: 'unterminated\n", -EINVAL,
     "c.yaml:2:1: YAML syntax error: found unexpected end of stream while scanning a quoted "
     "scalar that started at 1:8"},
    {P_SET, "alert.threshold", -EINVAL, "--set 'alert.threshold': expected KEY=VALUE"},
    {P_SET, "log.format=text", -EINVAL, "--set: log.format: 'text' is not one of logfmt, json"},
    {P_SET, "alert.treshold=0.9", -EINVAL,
     "--set: unknown key 'alert.treshold' (did you mean 'alert.threshold'?)"},

    /* ---- HTTP request handling (analyzer/vg_http.c) ---- */
    {P_HTTP, "GET /nope\n", 404, "not found\n"},
    {P_HTTP, "DELETE /hello\n", 405, "method not allowed\n"},
    {P_HTTP, "POST /change\nx", 401, "missing or wrong bearer token\n"},
    {P_HTTP, "POST /change Basic czNjcmV0\nx", 401, "missing or wrong bearer token\n"},
    {P_HTTP, "POST /change Bearer s3cret-token-0123456789x\nx", 401,
     "missing or wrong bearer token\n"},
    {P_HTTP, "POST /change Bearer s3cret-token-0123456789\n@big", 413, "request body too large\n"},

    /* ---- /proc parsers (collectors/) ---- */
    {P_STAT, "", -EINVAL, "/proc/stat: no aggregate \"cpu\" line"},
    {P_STAT, "cpu  1 2 3\n", -EINVAL,
     "/proc/stat:1: the \"cpu\" line has 3 columns, expected at least 4"},
    {P_STAT, "cpu  1 2 x 4\n", -EINVAL,
     "/proc/stat:1: column 3 of the \"cpu\" line is not a number"},
    {P_MEMINFO, "MemFree: 10 kB\n", -EINVAL, "/proc/meminfo: no MemTotal, or MemTotal is 0"},
    {P_MEMINFO, "MemTotal: lots kB\nMemFree: 1 kB\n", -EINVAL,
     "/proc/meminfo:1: MemTotal is not followed by a number"},
    {P_LOADAVG, "", -EINVAL, "/proc/loadavg: empty file"},
    {P_LOADAVG, "0.1 high 0.3 1/100 5\n", -EINVAL,
     "/proc/loadavg:1: field 2 is not a load average"},
    {P_LOADAVG, "0.1 0.2 0.3\n", -EINVAL, "/proc/loadavg:1: no runnable/total task counts"},
    {P_PSI, "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", -EINVAL,
     "/proc/pressure/cpu: no \"some\" line"},
    {P_PSI, "some avg10=x avg60=0.00 avg300=0.00 total=0\n", -EINVAL,
     "/proc/pressure/cpu:1: some avg10 is not a percentage"},
};

#define TOKEN "s3cret-token-0123456789"

static void ok_handler(void *ud, const struct vg_http_request *req, struct vg_http_response *resp)
{
    (void)ud;
    vg_http_replyf(resp, 200, NULL, "%s %zu\n", req->path, req->body_len);
}

static const struct vg_http_route routes[] = {
    {"GET", "/hello", 0, ok_handler},
    {"POST", "/change", 1, ok_handler},
};

/* Runs one entry; returns the code and fills msg. */
static int run_entry(const struct entry *e, char *msg, size_t msglen)
{
    char err[4096] = "";
    int rc = 0;
    size_t len = strlen(e->input);
    switch (e->parser) {
    case P_WIRE: {
        struct vg_wire_msg m;
        vg_wire_msg_init(&m);
        rc = vg_wire_decode(e->input, len, 0, &m, err, sizeof(err));
        vg_wire_msg_free(&m);
        break;
    }
    case P_RULES: {
        struct vg_rule_set *s = NULL;
        rc = vg_rule_set_load_buffer("r.yaml", e->input, len, &s, err, sizeof(err));
        vg_rule_set_free(s);
        break;
    }
    case P_CONFIG:
    case P_SET: {
        struct analyzer_cfg c;
        memset(&c, 0, sizeof(c));
        assert_int_equal(vg_config_defaults(&analyzer_config_table, &c, err, sizeof(err)), 0);
        if (e->parser == P_CONFIG)
            rc = vg_config_load_buffer(&analyzer_config_table, &c, "c.yaml", e->input, len, err,
                                       sizeof(err));
        else
            rc = vg_config_set_arg(&analyzer_config_table, &c, e->input, err, sizeof(err));
        vg_config_free(&analyzer_config_table, &c);
        break;
    }
    case P_HTTP: {
        char method[16], path[64], auth[128] = "";
        const char *nl = strchr(e->input, '\n');
        char line[256];
        snprintf(line, sizeof(line), "%.*s", (int)(nl - e->input), e->input);
        int n = sscanf(line, "%15s %63s %127[^\n]", method, path, auth);
        assert_true(n >= 2);
        const char *body = nl + 1;
        size_t blen = strlen(body);
        char big[2048];
        if (strcmp(body, "@big") == 0) {
            memset(big, 'a', sizeof(big) - 1);
            big[sizeof(big) - 1] = '\0';
            body = big;
            blen = sizeof(big) - 1;
        }
        struct vg_http_router rt = {routes, VG_ARRAY_LEN(routes), NULL, TOKEN, 1024};
        struct vg_http_response resp = {0};
        vg_http_dispatch(&rt, method, path, n == 3 ? auth : NULL, body, blen, &resp);
        rc = resp.status;
        snprintf(err, sizeof(err), "%.*s", (int)resp.len, resp.body ? resp.body : "");
        free(resp.body);
        break;
    }
    case P_STAT: {
        struct vg_stat_sample s;
        rc = vg_parse_stat(e->input, len, "/proc/stat", &s, err, sizeof(err));
        break;
    }
    case P_MEMINFO: {
        struct vg_meminfo_sample s;
        rc = vg_parse_meminfo(e->input, len, "/proc/meminfo", &s, err, sizeof(err));
        break;
    }
    case P_LOADAVG: {
        struct vg_loadavg_sample s;
        rc = vg_parse_loadavg(e->input, len, "/proc/loadavg", &s, err, sizeof(err));
        break;
    }
    case P_PSI: {
        struct vg_psi_sample s;
        rc = vg_parse_psi(e->input, len, "/proc/pressure/cpu", &s, err, sizeof(err));
        break;
    }
    }
    snprintf(msg, msglen, "%s", err);
    return rc;
}

static void each_malformed_input_gives_its_exact_message(void **state)
{
    (void)state;
    int print = getenv("VG_CATALOGUE_PRINT") != NULL, bad = 0;
    for (size_t i = 0; i < VG_ARRAY_LEN(catalogue); i++) {
        const struct entry *e = &catalogue[i];
        char msg[4096];
        int rc = run_entry(e, msg, sizeof(msg));
        if (print) {
            printf("[%zu] rc=%d msg=%s\n", i, rc, msg);
            continue;
        }
        if (rc != e->rc || strcmp(msg, e->msg) != 0) {
            fprintf(stderr, "case %zu (%.40s)\n  got:  %d %s\n  want: %d %s\n", i, e->input, rc,
                    msg, e->rc, e->msg);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* The brief of the catalogue: at least 40 cases, and every parser represented. */
static void catalogue_covers_every_parser(void **state)
{
    (void)state;
    unsigned seen = 0;
    for (size_t i = 0; i < VG_ARRAY_LEN(catalogue); i++)
        seen |= 1u << catalogue[i].parser;
    assert_true(VG_ARRAY_LEN(catalogue) >= 40);
    assert_int_equal(seen, (1u << (P_PSI + 1)) - 1);
}

/* A well-formed request still reaches its handler: the catalogue's refusals are not the
 * dispatcher refusing everything. */
static void well_formed_requests_pass(void **state)
{
    (void)state;
    struct vg_http_router rt = {routes, VG_ARRAY_LEN(routes), NULL, TOKEN, 1024};
    struct vg_http_response resp = {0};
    vg_http_dispatch(&rt, "POST", "/change", "Bearer " TOKEN, "abc", 3, &resp);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, "/change 3\n");
    free(resp.body);
    resp = (struct vg_http_response){0};
    rt.token = NULL;
    vg_http_dispatch(&rt, "POST", "/change", "Bearer " TOKEN, "abc", 3, &resp);
    assert_int_equal(resp.status, 403);
    assert_string_equal(resp.body,
                        "mutating endpoints are disabled: set http.token_file to enable them\n");
    free(resp.body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_malformed_input_gives_its_exact_message),
        cmocka_unit_test(catalogue_covers_every_parser),
        cmocka_unit_test(well_formed_requests_pass),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
