/* Alert rules: loading and its messages, expressions, matchers, templates, alert state. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
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

#include "vg_expr.h"
#include "vg_rule.h"
#include "vg_rule_load.h"
#include "vg_rule_policy.h"
#include "vg_rule_select.h"
#include "vg_rule_state.h"
#include "vg_tmpl.h"
#include "vg_util.h"

#define RULES_DATA VG_TEST_DATA "/rules"

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    char *buf = malloc(1 << 17);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 17) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static int load_str(const char *yaml, struct vg_rule_set **out, char *err, size_t errlen)
{
    return vg_rule_set_load_buffer("t.yaml", yaml, strlen(yaml), out, err, errlen);
}

/* ---- a host's data, as the analyzer would hand it over ------------------------------------ */

struct series {
    const char *name;
    double value;
    double score; /* NAN: no score yet */
};

struct window {
    const char *name;
    int64_t dur_ms;
    enum vg_expr_window_fn fn;
    double out;
};

struct host {
    const struct series *series;
    size_t n;
    const struct window *windows;
    size_t n_windows;
    int fail; /* value() returns this when non-zero */
    int value_calls;
};

static const struct series host_series[] = {
    {"cpu.user_pct", 95, 0.5},     {"disk.sda.await_ms", 120, 0.995},
    {"disk.sdb.await_ms", 5, 0.2}, {"psi.io.some_avg10", 12, NAN},
    {"load.1m", 4, 0.3},           {"zero", 0, NAN},
};

static const struct window host_windows[] = {
    {"cpu.user_pct", 300000, VG_EXPR_AVG_OVER, 80},
    {"cpu.user_pct", 300000, VG_EXPR_MAX_OVER, 99},
    {"cpu.user_pct", 300000, VG_EXPR_MIN_OVER, 60},
    {"tcp.retrans_segs_ps", 60000, VG_EXPR_RATE, 7.5},
};

static int h_scores(void *ud, vg_expr_series_fn fn, void *fnud)
{
    struct host *h = ud;
    for (size_t i = 0; i < h->n; i++) {
        if (isnan(h->series[i].score))
            continue;
        int rc = fn(fnud, h->series[i].name, h->series[i].score);
        if (rc)
            return rc;
    }
    return 0;
}

static int h_value(void *ud, const char *name, double *out)
{
    struct host *h = ud;
    h->value_calls++;
    if (h->fail)
        return h->fail;
    for (size_t i = 0; i < h->n; i++) {
        if (strcmp(h->series[i].name, name) == 0) {
            *out = h->series[i].value;
            return 0;
        }
    }
    return -ENOENT;
}

static int h_window(void *ud, const char *name, int64_t dur_ms, enum vg_expr_window_fn fn,
                    double *out)
{
    struct host *h = ud;
    for (size_t i = 0; i < h->n_windows; i++) {
        const struct window *w = &h->windows[i];
        if (strcmp(w->name, name) == 0 && w->dur_ms == dur_ms && w->fn == fn) {
            *out = w->out;
            return 0;
        }
    }
    return -ENOENT;
}

static struct host test_host(void)
{
    struct host h = {
        host_series, VG_ARRAY_LEN(host_series), host_windows, VG_ARRAY_LEN(host_windows), 0, 0};
    return h;
}

static struct vg_expr_env env_of(struct host *h)
{
    struct vg_expr_env env = {h, h_scores, h_value, h_window};
    return env;
}

/* ---- error messages, one fixture each ----------------------------------------------------- */

static const struct {
    const char *file;
    const char *msg;
} error_cases[] = {
    {"actions-empty.yaml",
     "actions-empty.yaml:4:14: actions: an empty list would notify every configured receiver, "
     "as a rule without 'actions' does: omit the key for all receivers, or name the ones to "
     "notify (e.g. actions: [webhook]); to mute a rule, remove it or silence its alerts"},
    {"actions-not-list.yaml",
     "actions-not-list.yaml:4:14: actions must be a list, e.g. actions: [webhook]"},
    {"alertname-label.yaml",
     "alertname-label.yaml:6:7: labels: 'alertname' is the rule's 'name', which replaces it in "
     "every notification: rename the rule instead"},
    {"bad-duration.yaml",
     "bad-duration.yaml:4:10: for: '5 minutes' is not a duration (write e.g. 30s, 5m)"},
    {"bad-name.yaml", "bad-name.yaml:2:11: rule name 'host-anomaly' is not valid: use letters, "
                      "digits and '_', not starting with a digit (e.g. host_anomaly)"},
    {"bad-regex.yaml", NULL /* built from regerror() in the test */},
    {"bad-severity.yaml",
     "bad-severity.yaml:4:15: severity 'fatal' is not one of info, warning, critical"},
    {"c-operators.yaml", "c-operators.yaml:3:33: '&&' is written 'and'"},
    {"call-missing-paren.yaml", "call-missing-paren.yaml:3:39: missing ')' after avg_over()'s "
                                "argument 2 (write avg_over(\"cpu.user_pct\", 5m) > 90)"},
    {"chained-comparison.yaml", "chained-comparison.yaml:3:38: comparisons cannot be chained: "
                                "write 'a < b and b < c', not 'a < b < c'"},
    {"duplicate-key.yaml",
     "duplicate-key.yaml:5:5: key 'when' is set twice in this rule (first at line 3)"},
    {"duplicate-rule.yaml", "duplicate-rule.yaml:4:5: rule 'HostAnomaly' is defined twice (first "
                            "at duplicate-rule.yaml:2:5)"},
    {"escaped-double-quoted.yaml",
     "escaped-double-quoted.yaml:3:40: unknown function 'vaule' (did you mean 'value'?)"},
    {"folded-block.yaml",
     "folded-block.yaml:5:39: expected a number, a function call or '(', found '>'"},
    {"folded-block-end.yaml", "folded-block-end.yaml:5:19: expected a number, a function call or "
                              "'(', found the end of the expression"},
    {"host-label.yaml",
     "host-label.yaml:5:7: labels: 'host' comes from the agent and cannot be set by a rule"},
    {"literal-block.yaml", "literal-block.yaml:5:41: rate() window must be longer than 0s"},
    {"literal-block-end.yaml", "literal-block-end.yaml:5:19: expected a number, a function call "
                               "or '(', found the end of the expression"},
    {"missing-name.yaml", "missing-name.yaml:2:5: missing 'name'"},
    {"missing-paren.yaml",
     "missing-paren.yaml:3:57: missing ')' to close a '(', found the end of the expression"},
    {"missing-when.yaml", "missing-when.yaml:2:5: missing 'when'"},
    {"not-a-condition.yaml",
     "not-a-condition.yaml:3:11: the expression computes a number but compares nothing: write a "
     "condition such as top_score() > 0.99"},
    {"quoted-duration.yaml", "quoted-duration.yaml:3:31: max_over() argument 2 must be a "
                             "duration: write 5m without quotes"},
    {"reversed-ge.yaml", "reversed-ge.yaml:3:28: '=>' is written '>='"},
    {"rules-not-list.yaml",
     "rules-not-list.yaml:2:3: rules must be a list: start each rule with '- name: ...'"},
    {"score-percent.yaml", "score-percent.yaml:3:28: scores are in [0,1]: score(\"cpu.*\") > 99 "
                           "can never hold (did you mean 0.99?)"},
    {"select-map.yaml",
     "select-map.yaml:3:13: select must be a list of matchers such as ['host=~\"web-.*\"', "
     "'env=\"prod\"'] (a map would not say whether a value is a name or a regex)"},
    {"select-unquoted.yaml",
     "select-unquoted.yaml:3:19: select 'env=prod': the value must be in double quotes (write "
     "e.g. env=\"prod\", role!=\"batch\", host=~\"web-.*\", zone!~\"eu-.*\")"},
    {"severity-label.yaml",
     "severity-label.yaml:5:7: labels: 'severity' comes from the rule's 'severity' key, which "
     "replaces it in every notification: write severity: critical in the rule instead"},
    {"single-equals.yaml",
     "single-equals.yaml:3:33: comparison for equality is written '==', not '='"},
    {"top-level-key.yaml", "top-level-key.yaml:1:1: unknown key 'rule' (did you mean 'rules'?)"},
    {"unclosed-template.yaml", "unclosed-template.yaml:5:17: '{{' is not closed with '}}'"},
    {"unknown-function.yaml",
     "unknown-function.yaml:3:11: unknown function 'avg' (did you mean 'avg_over'?)"},
    {"unknown-identifier.yaml",
     "unknown-identifier.yaml:3:11: unknown identifier 'cpu.user_pct' (a series name goes in "
     "quotes inside a function, e.g. value(\"cpu.user_pct\"))"},
    {"unknown-key.yaml", "unknown-key.yaml:4:5: unknown key 'sevrity' (did you mean 'severity'?)"},
    {"unknown-template-variable.yaml",
     "unknown-template-variable.yaml:5:20: unknown template variable 'hots' (did you mean "
     "'host'?)"},
    {"unstable-label.yaml",
     "unstable-label.yaml:5:25: {{ value }} changes at every evaluation, so a label cannot use it "
     "(each change would start a new alert); use it in annotations"},
    {"value-pattern.yaml", "value-pattern.yaml:3:17: value() takes one series name, not the "
                           "pattern \"disk.*.await_ms\" (score() takes patterns)"},
    {"window-not-duration.yaml", "window-not-duration.yaml:3:31: avg_over() argument 2 must be a "
                                 "duration such as 5m, not a number"},
    {"wrong-arity.yaml",
     "wrong-arity.yaml:3:11: avg_over() takes 2 arguments (series name, window), not 1"},
    {"yaml-syntax.yaml", "yaml-syntax.yaml:4:1: YAML syntax error: did not find expected ',' or "
                         "']' while parsing a flow sequence that started at 3:11"},
    /* scaling policies (docs/scaling-actions.md) */
    {"policy-bad-hold-severity.yaml",
     "policy-bad-hold-severity.yaml:6:29: hold_scale_in_severity 'page' is not one of info, "
     "warning, critical, none (the least severity of a firing alert that holds the scale-in)"},
    {"policy-bad-number.yaml",
     "policy-bad-number.yaml:4:19: target_value: 'sixty' is not a number from 1e-9 to 1e300"},
    {"policy-bad-target.yaml",
     "policy-bad-target.yaml:2:13: target 'web/tier' is not valid: use letters, digits, '.', '_' "
     "and '-' (it is part of the URL /api/v1/scale/TARGET)"},
    {"policy-duplicate-key.yaml",
     "policy-duplicate-key.yaml:6:5: key 'max' is set twice in this policy (first at line 5)"},
    {"policy-duplicate-target.yaml", "policy-duplicate-target.yaml:6:5: target 'web' has two "
                                     "policies (first at policy-duplicate-target.yaml:2:13)"},
    {"policy-fractional-count.yaml",
     "policy-fractional-count.yaml:5:10: max: '2.5' is not a whole number of replicas"},
    {"policy-initial-above-max.yaml",
     "policy-initial-above-max.yaml:5:5: initial (9) is not between min (1) and max (5)"},
    {"policy-initial-below-min.yaml",
     "policy-initial-below-min.yaml:6:5: initial (1) is not between min (2) and max (5)"},
    {"policy-max-below-min.yaml", "policy-max-below-min.yaml:6:5: max (3) is less than min (5)"},
    {"policy-metric-and-when.yaml", "policy-metric-and-when.yaml:4:5: a policy has either 'metric' "
                                    "(target tracking) or 'when' (step scaling), not both"},
    {"policy-metric-condition.yaml",
     "policy-metric-condition.yaml:3:13: a metric computes a number, not a condition: leave the "
     "comparison out (e.g. avg_over(\"cpu.user_pct\", 1m))"},
    {"policy-missing-max.yaml",
     "policy-missing-max.yaml:2:5: missing 'max' (the most replicas this policy may ask for)"},
    {"policy-missing-measure.yaml", "policy-missing-measure.yaml:2:5: missing 'metric' (target "
                                    "tracking, with target_value) or 'when' (step scaling)"},
    {"policy-missing-target-value.yaml",
     "policy-missing-target-value.yaml:2:5: missing 'target_value': target tracking needs the "
     "metric's value per replica"},
    {"policy-missing-target.yaml", "policy-missing-target.yaml:2:5: missing 'target' (the name "
                                   "KEDA and the decisions use, e.g. target: web)"},
    {"policy-not-map.yaml", "policy-not-map.yaml:2:5: each scaling policy must be a map (target: "
                            "..., metric: ...), not text"},
    {"policy-short-interval.yaml",
     "policy-short-interval.yaml:6:15: interval: must be at least 100ms"},
    {"policy-step-in-zero.yaml", "policy-step-in-zero.yaml:5:14: step_in: 0 would never scale "
                                 "in: write at least 1 (the default)"},
    {"policy-step-out-zero.yaml", "policy-step-out-zero.yaml:4:15: step_out: 0 would never scale "
                                  "out: write at least 1 (the default)"},
    {"policy-target-value-out-of-range.yaml",
     "policy-target-value-out-of-range.yaml:4:19: target_value: '1e308' is not a number from "
     "1e-9 to 1e300"},
    {"policy-target-value-with-when.yaml",
     "policy-target-value-with-when.yaml:4:5: target_value only applies to 'metric' (target "
     "tracking), not to 'when'"},
    {"policy-unknown-key.yaml",
     "policy-unknown-key.yaml:6:5: unknown key 'cooldwn' (did you mean 'cooldown'?)"},
    {"regex-too-complex.yaml",
     "regex-too-complex.yaml:3:22: regex in select 'host=~\"((web-[0-9]{1,99}){1,99}){1,9}\"' is "
     "too complex: its repetitions ({m,n}, +) expand to more than 4000 parse-tree nodes; write "
     "fewer or smaller nested repetitions"},
    {"scaling-not-list.yaml",
     "scaling-not-list.yaml:2:3: scaling must be a list: start each policy with '- target: ...'"},
    {"top-level-key-twice.yaml",
     "top-level-key-twice.yaml:3:1: key 'scaling' is set twice (first at line 1)"},
    {"top-level-unknown.yaml", "top-level-unknown.yaml:1:1: unknown key 'alerts' (a rule file has "
                               "only 'rules' and 'scaling')"},
};

static void each_error_fixture_gives_its_exact_message(void **state)
{
    char regex_msg[VG_ERRLEN];
    regex_t re;
    int rrc = regcomp(&re, "web-(", REG_EXTENDED);
    assert_int_not_equal(rrc, 0);
    char why[128];
    regerror(rrc, &re, why, sizeof(why));
    snprintf(regex_msg, sizeof(regex_msg),
             "bad-regex.yaml:3:22: bad regex in select 'host=~\"web-(\"': %s", why);
    unsigned wrong = 0;

    for (size_t i = 0; i < VG_ARRAY_LEN(error_cases); i++) {
        char path[512], err[4096] = "";
        snprintf(path, sizeof(path), RULES_DATA "/errors/%s", error_cases[i].file);
        size_t len;
        char *buf = read_all(path, &len);
        struct vg_rule_set *s = (struct vg_rule_set *)1;
        int rc = vg_rule_set_load_buffer(error_cases[i].file, buf, len, &s, err, sizeof(err));
        free(buf);
        const char *want = error_cases[i].msg ? error_cases[i].msg : regex_msg;
        /* Every mismatch is printed before failing, so one run shows all the cases a change
         * broke rather than the first. */
        if (rc != -EINVAL || strcmp(err, want) != 0) {
            print_message("%s: rc %d\n got: %s\nwant: %s\n", error_cases[i].file, rc, err, want);
            wrong++;
        }
        if (rc == 0)
            vg_rule_set_free(s);
        else
            assert_null(s);
    }
    assert_int_equal(wrong, 0);
}

static void every_error_fixture_has_an_expected_message(void **state)
{
    DIR *d = opendir(RULES_DATA "/errors");
    assert_non_null(d);
    struct dirent *de;
    size_t n = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        size_t i;
        for (i = 0; i < VG_ARRAY_LEN(error_cases); i++)
            if (strcmp(de->d_name, error_cases[i].file) == 0)
                break;
        if (i == VG_ARRAY_LEN(error_cases))
            fail_msg("errors/%s has no entry in error_cases", de->d_name);
        n++;
    }
    closedir(d);
    assert_int_equal(n, VG_ARRAY_LEN(error_cases));
}

static void duplicate_names_across_files_name_both_places(void **state)
{
    struct vg_rule_set *s;
    char err[1024], want[1024];
    assert_int_equal(vg_rule_set_load_dir(RULES_DATA "/dup", &s, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want),
             "%s/dup/b.yaml:3:5: rule 'HostAnomaly' is defined twice (first at %s/dup/a.yaml:2:5)",
             RULES_DATA, RULES_DATA);
    assert_string_equal(err, want);
    /* A trailing slash does not double up in the paths. */
    assert_int_equal(vg_rule_set_load_dir(RULES_DATA "/dup/", &s, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, want);
}

static void every_mistake_of_a_file_is_reported(void **state)
{
    const char *y = "rules:\n"
                    "  - name: A\n"
                    "    when: value(\"x\") > 1\n"
                    "    for: soon\n"
                    "  - name: B\n"
                    "    when: avg(\"x\") > 1\n"
                    "  - name: C\n"
                    "    severity: high\n";
    struct vg_rule_set *s;
    char err[2048];
    assert_int_equal(load_str(y, &s, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "t.yaml:4:10: for: 'soon' is not a duration (write e.g. 30s, 5m)\n"
                             "t.yaml:6:11: unknown function 'avg' (did you mean 'avg_over'?)\n"
                             "t.yaml:8:15: severity 'high' is not one of info, warning, critical\n"
                             "t.yaml:7:5: missing 'when'");
    /* A small buffer still gets the first message whole. */
    char small[VG_ERRLEN];
    assert_int_equal(load_str(y, &s, small, sizeof(small)), -EINVAL);
    assert_true(strncmp(small, "t.yaml:4:10: for: 'soon' is not a duration", 42) == 0);
}

static void a_severity_label_that_is_no_severity_points_at_the_key_not_a_value(void **state)
{
    /* Suggesting `severity: page` would only trade one error for another. */
    const char *y = "rules:\n"
                    "  - name: A\n"
                    "    when: value(\"x\") > 1\n"
                    "    labels: {team: web, severity: page}\n";
    struct vg_rule_set *s;
    char err[1024];
    assert_int_equal(load_str(y, &s, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "t.yaml:4:25: labels: 'severity' comes from the rule's 'severity' "
                             "key, which replaces it in every notification: set that key (info, "
                             "warning or critical) instead");
    /* Annotations are not labels: a summary may well be called severity. */
    const char *a = "rules:\n"
                    "  - name: A\n"
                    "    when: value(\"x\") > 1\n"
                    "    annotations: {severity: \"{{ severity }}\", alertname: x}\n";
    assert_int_equal(load_str(a, &s, err, sizeof(err)), 0);
    vg_rule_set_free(s);
}

/* A quote or bracket left open is reported by libyaml at the end of the file, lines below the
 * mistake: the message also says where what it was reading started. */
static void a_yaml_syntax_error_names_where_the_unclosed_quote_or_bracket_started(void **state)
{
    (void)state;
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"rules:\n  - name: Y1\n    when: \"top_score() > 0.9\n  - name: Y2\n",
         "t.yaml:5:1: YAML syntax error: found unexpected end of stream while scanning a quoted "
         "scalar that started at 3:11"},
        {"rules:\n  - name: Y1\n    when: top_score() > 0.9\n    labels: {team: sre\n"
         "  - name: Y2\n",
         "t.yaml:5:9: YAML syntax error: did not find expected ',' or '}' while parsing a flow "
         "mapping that started at 4:13"},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        struct vg_rule_set *s = NULL;
        char err[512] = "";
        assert_int_equal(load_str(cases[i].yaml, &s, err, sizeof(err)), -EINVAL);
        if (strcmp(err, cases[i].want) != 0)
            fail_msg("case %zu:\n got: %s\nwant: %s", i, err, cases[i].want);
    }
}

/* `for:` takes a duration as the config does: blanks around it trimmed (a quoted value keeps
 * them), none between the number and the unit, no hexadecimal or exponent. */
static void a_rules_for_is_a_strict_duration(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        int ok;
    } cases[] = {
        {"5m", 1},      {"\" 5m \"", 1}, {"1.5m", 1}, {"0", 1},
        {"\"5 m\"", 0}, {"0x10s", 0},    {"1e3s", 0}, {"5", 0},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        char yaml[256], err[512] = "";
        snprintf(yaml, sizeof(yaml),
                 "rules:\n  - name: A\n    when: top_score() > 0.9\n    for: %s\n", cases[i].value);
        struct vg_rule_set *s = NULL;
        int rc = load_str(yaml, &s, err, sizeof(err));
        if (cases[i].ok ? rc != 0 : rc != -EINVAL || !strstr(err, "t.yaml:4:10: for: '"))
            fail_msg("for: %s: rc %d %s", cases[i].value, rc, err);
        vg_rule_set_free(s);
    }
}

static void errors_inside_scalars_are_placed_at_their_line_and_column(void **state)
{
    static const struct {
        const char *yaml;
        const char *where;
    } cases[] = {
        /* a plain scalar continued on the next line */
        {"rules:\n  - name: A\n    when: score(\"x\") > 0.9\n      and avg(\"y\") > 1\n",
         "t.yaml:4:11:"},
        /* '' stands for one quote in single-quoted YAML */
        {"rules:\n  - name: A\n    when: 'value(''x'') > 1 and avg(''y'') > 1'\n", "t.yaml:3:33:"},
        /* CRLF line ends */
        {"rules:\r\n  - name: A\r\n    when: value(\"x\") > 1 and avg(\"y\") > 1\r\n",
         "t.yaml:3:30:"},
        /* columns count characters, as libyaml's do, not bytes */
        {"rules:\n  - name: A\n    when: value(\"\xc3\xa9\") > 1 and avg(\"y\") > 1\n",
         "t.yaml:3:30:"},
        /* \u escapes are one character in the value and six in the file */
        {"rules:\n  - name: A\n    when: \"value('\\u00e9') > 1 and avg('y') > 1\"\n",
         "t.yaml:3:36:"},
        /* an escaped line break joins the lines, dropping the next one's indentation: the
         * position used to be the backslash's, at the end of line 3 */
        {"rules:\n  - name: A\n    when: \"value(\\\"x\\\") > 1 and \\\n      avg(\\\"y\\\") > "
         "1\"\n",
         "t.yaml:4:7:"},
        /* ... and an escaped space after it (\ ) is a character of the value */
        {"rules:\n  - name: A\n    when: \"value(\\\"x\\\") > 1 and\\\n      \\ avg(\\\"y\\\") > "
         "1\"\n",
         "t.yaml:4:9:"},
        /* a block scalar with an indentation indicator and a comment on its header */
        {"rules:\n  - name: A\n    when: |2 # avg here is no match\n        value(\"x\") > 1\n"
         "        or avg(\"y\") > 1\n",
         "t.yaml:5:12:"},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        struct vg_rule_set *s;
        char err[512] = "";
        assert_int_equal(load_str(cases[i].yaml, &s, err, sizeof(err)), -EINVAL);
        if (strncmp(err, cases[i].where, strlen(cases[i].where)) != 0 ||
            !strstr(err, "unknown function 'avg'"))
            fail_msg("case %zu: got %s, want %s ...", i, err, cases[i].where);
    }
}

/* libyaml places a node with an anchor or a tag at its '&' or '!': the error's column is the
 * offending character's all the same, as without them. */
static void error_column_is_exact_after_anchor_and_tag(void **state)
{
    (void)state;
    static const struct {
        const char *yaml, *want, *what;
    } cases[] = {
        {"rules:\n  - name: N\n    when: value(\"x\") > 1 and valu(\"y\") > 2\n",
         "t.yaml:3:30:", "unknown function 'valu'"},
        {"rules:\n  - name: N\n    when: &anchor value(\"x\") > 1 and valu(\"y\") > 2\n",
         "t.yaml:3:38:", "unknown function 'valu'"},
        {"rules:\n  - name: N\n    when: !!str value(\"x\") > 1 and valu(\"y\") > 2\n",
         "t.yaml:3:36:", "unknown function 'valu'"},
        {"rules:\n  - name: N\n    when: &a !!str value(\"x\") > 1 and valu(\"y\") > 2\n",
         "t.yaml:3:39:", "unknown function 'valu'"},
        {"rules:\n  - name: N\n    when: &a \"value(\\\"x\\\") > 1 and valu(\\\"y\\\") > 2\"\n",
         "t.yaml:3:36:", "unknown function 'valu'"},
        /* the property on its own line, the value below it */
        {"rules:\n  - name: N\n    when: &a # why\n      value(\"x\") > 1 and valu(\"y\") > 2\n",
         "t.yaml:4:26:", "unknown function 'valu'"},
        {"rules:\n  - name: N\n    when: value(\"x\") > 1\n    select: [&s "
         "\"host=~\\\"web-(\\\"\"]\n",
         "t.yaml:4:26:", "bad regex"},
        {"rules:\n  - name: N\n    when: value(\"x\") > 1\n"
         "    annotations: {summary: &t \"{{ host }} {{ nope }}\"}\n",
         "t.yaml:4:46:", "nope"},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        struct vg_rule_set *s = NULL;
        char err[512] = "";
        assert_int_equal(load_str(cases[i].yaml, &s, err, sizeof(err)), -EINVAL);
        if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0 || !strstr(err, cases[i].what))
            fail_msg("case %zu: got %s, want %s ... %s", i, err, cases[i].want, cases[i].what);
    }
}

/* docs/rules.md: names in labels and annotations follow the rule names' rule, whose limit is 200
 * characters. A 1000-character label name loaded and went out with every notification. */
static void label_name_longer_than_200_is_refused(void **state)
{
    (void)state;
    char name[202], yaml[512], err[512];
    for (int len = 200; len <= 201; len++) {
        for (const char *key = "labels"; key;
             key = strcmp(key, "labels") == 0 ? "annotations" : NULL) {
            memset(name, 'k', (size_t)len);
            name[len] = '\0';
            snprintf(yaml, sizeof(yaml),
                     "rules:\n  - name: A\n    when: value(\"x\") > 1\n    %s: {%s: v}\n", key,
                     name);
            struct vg_rule_set *s = NULL;
            err[0] = '\0';
            int rc = load_str(yaml, &s, err, sizeof(err));
            if (len == 200) {
                if (rc != 0)
                    fail_msg("%s, 200 characters: %s", key, err);
                vg_rule_set_free(s);
                continue;
            }
            char want[128];
            /* at the key: column 6 + strlen(key) + 3 */
            snprintf(want, sizeof(want), "t.yaml:4:%zu: %s: name 'kkkk", strlen(key) + 8, key);
            if (rc != -EINVAL || strncmp(err, want, strlen(want)) != 0 ||
                !strstr(err, "is longer than 200 characters"))
                fail_msg("%s, 201 characters: rc %d %s", key, rc, err);
        }
    }
}

/* actions: [] is refused since it reads as "nobody" but means everyone; series: [] and
 * select: [] loaded as every series and every host. */
static void empty_series_list_is_refused(void **state)
{
    (void)state;
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"rules:\n  - name: E\n    when: value(\"x\") > 1\n    series: []\n",
         "t.yaml:4:13: series: an empty list would consider every series, as no 'series' does"},
        {"rules:\n  - name: E\n    when: value(\"x\") > 1\n    select: []\n",
         "t.yaml:4:13: select: an empty list would select every host, as no 'select' does"},
        {"rules: [{name: E, when: 'value(\"x\") > 1', series: [ ]}]\n",
         "t.yaml:1:51: series: an empty list"},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        struct vg_rule_set *s = NULL;
        char err[512] = "";
        assert_int_equal(load_str(cases[i].yaml, &s, err, sizeof(err)), -EINVAL);
        if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("case %zu:\n got: %s\nwant: %s ...", i, err, cases[i].want);
    }
    /* Absent or null still means every one. */
    struct vg_rule_set *s = NULL;
    char err[512] = "";
    assert_int_equal(load_str("rules:\n  - name: E\n    when: value(\"x\") > 1\n    series:\n"
                              "    select: ~\n",
                              &s, err, sizeof(err)),
                     0);
    vg_rule_set_free(s);
}

static void a_missing_directory_is_an_error(void **state)
{
    struct vg_rule_set *s;
    char err[512];
    assert_int_equal(vg_rule_set_load_dir(RULES_DATA "/no-such-dir", &s, err, sizeof(err)),
                     -ENOENT);
    assert_string_equal(err, RULES_DATA
                        "/no-such-dir: cannot open rules directory: No such file or directory");
    assert_null(s);
}

/* Checks that list is made of whole lines "t.yaml:L:5: unknown key 'sevrity' ..." and, when
 * not all of the `total` fit, ends with "... and N more errors" so that they add up. */
static void check_whole_lines(const char *list, int total, int want_cut)
{
    int lines = 0, more = 0;
    for (const char *p = list; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char line[512];
        snprintf(line, sizeof(line), "%.*s", (int)n, p);
        if (!nl && sscanf(line, "... and %d more error", &more) == 1) {
            char want[64];
            snprintf(want, sizeof(want), "... and %d more error%s", more, more == 1 ? "" : "s");
            assert_string_equal(line, want);
        } else {
            int l;
            char tail[256];
            if (sscanf(line, "t.yaml:%d:5: %255[^\n]", &l, tail) != 2 ||
                strcmp(tail, "unknown key 'sevrity' (did you mean 'severity'?)") != 0)
                fail_msg("line %d is not a whole error: '%s'", lines + 1, line);
            lines++;
        }
        p = nl ? nl + 1 : p + n;
    }
    assert_int_equal(lines + more, total);
    assert_int_equal(more > 0, want_cut);
}

/* The analyzer's and vigilctl's buffers hold a few hundred errors: past that the list stops at a
 * whole line and says how many more there are. */
static void a_long_error_list_ends_at_a_whole_line_with_the_count_left_out(void **state)
{
    (void)state;
    enum { N = 60 };
    char *y = malloc(N * 80 + 16);
    assert_non_null(y);
    size_t at = (size_t)sprintf(y, "rules:\n");
    for (int i = 0; i < N; i++)
        at += (size_t)sprintf(y + at, "  - name: R%d\n    sevrity: info\n    when: 1 > 0\n", i);
    struct vg_rule_set *s = NULL;
    static char big[16384];
    char err[1000];
    assert_int_equal(load_str(y, &s, big, sizeof(big)), -EINVAL);
    check_whole_lines(big, N, 0);
    assert_int_equal(load_str(y, &s, err, sizeof(err)), -EINVAL);
    check_whole_lines(err, N, 1);
    assert_true(strlen(err) < sizeof(err) - 1);

    /* Copied on into a smaller buffer (the analyzer's reply to a reload), the same holds, and
     * the count includes what the first cut left out. */
    char small[VG_ERRLEN];
    vg_rule_errors_copy(small, sizeof(small), big);
    check_whole_lines(small, N, 1);
    vg_rule_errors_copy(small, sizeof(small), err);
    check_whole_lines(small, N, 1);
    char all[20000];
    vg_rule_errors_copy(all, sizeof(all), big);
    assert_string_equal(all, big);
    free(y);
}

/* A check load (vigilctl rules check, the analyzer) hands out what parsed even when there are
 * mistakes, for the receiver and host-model checks; its list, even one cut, can be continued
 * with their lines, and the count of those left out stays last and counts them too. */
static void a_check_load_keeps_what_parsed_and_its_list_can_be_continued(void **state)
{
    (void)state;
    static const char y[] = "rules:\n  - name: A\n    when: value(\"host:mv\") > 0.9\n"
                            "    actions: [webhok]\n  - name: B\n    when: 1 > 0\n    fro: 1m\n";
    struct vg_rule_set *s = (struct vg_rule_set *)&s;
    char err[1024];
    assert_int_equal(load_str(y, &s, err, sizeof(err)), -EINVAL);
    assert_null(s); /* a load to run: all or nothing */
    assert_int_equal(vg_rule_set_check_buffer("t.yaml", y, strlen(y), &s, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(s);
    assert_string_equal(err, "t.yaml:7:5: unknown key 'fro' (did you mean 'for'?)");
    assert_int_equal(vg_rule_set_count(s), 2);
    const struct vg_rule *a = vg_rule_set_find(s, "A");
    assert_non_null(a);
    assert_int_equal(vg_rule_action_count(a), 1);
    assert_string_equal(vg_rule_action(a, 0), "webhok");
    assert_string_equal(vg_rule_action_where(a, 0), "t.yaml:4:15");
    assert_int_equal(vg_rule_set_host_model_count(s), 1);
    struct vg_rule_errlist el;
    vg_rule_errlist_resume(&el, err, sizeof(err));
    vg_rule_errlist_add(&el, "t.yaml:4:15: action 'webhok' ...");
    vg_rule_errlist_finish(&el);
    assert_string_equal(err, "t.yaml:7:5: unknown key 'fro' (did you mean 'for'?)\n"
                             "t.yaml:4:15: action 'webhok' ...");
    vg_rule_set_free(s);

    /* A list already cut: the trailer moves to the end and counts the line added after it. */
    char cut[200] = "t.yaml:1:1: one\n... and 3 more errors";
    vg_rule_errlist_resume(&el, cut, sizeof(cut));
    vg_rule_errlist_add(&el, "t.yaml:9:9: later");
    vg_rule_errlist_finish(&el);
    assert_string_equal(cut, "t.yaml:1:1: one\n... and 4 more errors");
}

/* ---- loading what is valid ---------------------------------------------------------------- */

static void a_directory_loads_yaml_and_yml_files_in_name_order(void **state)
{
    struct vg_rule_set *s;
    char err[1024] = "";
    assert_int_equal(vg_rule_set_load_dir(RULES_DATA "/good", &s, err, sizeof(err)), 0);
    assert_int_equal(vg_rule_set_count(s), 2); /* not .hidden.yaml, not README.txt */
    const struct vg_rule *r = vg_rule_set_rule(s, 0);
    assert_string_equal(vg_rule_name(r), "WebLatency");
    assert_string_equal(vg_rule_name(vg_rule_set_rule(s, 1)), "CpuBusy");
    assert_null(vg_rule_set_rule(s, 2));
    assert_ptr_equal(vg_rule_set_find(s, "CpuBusy"), vg_rule_set_rule(s, 1));
    assert_null(vg_rule_set_find(s, "Nope"));

    char where[512];
    snprintf(where, sizeof(where), "%s/good/10-web.yaml:2:5", RULES_DATA);
    assert_string_equal(vg_rule_where(r), where);
    assert_string_equal(vg_rule_when(r),
                        "score(\"disk.*.await_ms\") > 0.99 and value(\"psi.io.some_avg10\") > 10");
    assert_int_equal(vg_rule_for_ms(r), 120000);
    assert_int_equal(vg_rule_keep_firing_for_ms(r), 300000);
    assert_int_equal(vg_rule_severity(r), VG_RULE_CRITICAL);
    assert_string_equal(vg_rule_severity_name(vg_rule_severity(r)), "critical");
    assert_int_equal(vg_rule_action_count(r), 2);
    assert_string_equal(vg_rule_action(r, 0), "webhook");
    assert_string_equal(vg_rule_action(r, 1), "pagerduty");
    snprintf(where, sizeof(where), "%s/good/10-web.yaml:15:15", RULES_DATA);
    assert_string_equal(vg_rule_action_where(r, 0), where);
    assert_null(vg_rule_action(r, 2));
    assert_int_equal(vg_rule_annotation_count(r), 3);
    assert_string_equal(vg_rule_annotation_name(r, 0), "summary");

    /* Defaults. */
    const struct vg_rule *c = vg_rule_set_rule(s, 1);
    assert_int_equal(vg_rule_for_ms(c), 0);
    assert_int_equal(vg_rule_keep_firing_for_ms(c), 0);
    assert_int_equal(vg_rule_severity(c), VG_RULE_WARNING);
    assert_int_equal(vg_rule_action_count(c), 0);
    assert_int_equal(vg_rule_set_max_window_ms(s), 300000);
    vg_rule_set_free(s);
}

static void the_shipped_examples_load_without_errors(void **state)
{
    struct vg_rule_set *s;
    char err[4096] = "";
    int rc = vg_rule_set_load_dir(VG_SOURCE_DIR "/rules/examples", &s, err, sizeof(err));
    if (rc)
        fail_msg("rules/examples: %s", err);
    assert_int_equal(vg_rule_set_count(s), 5);
    assert_non_null(vg_rule_set_find(s, "HostMetricsDiverge")); /* host-anomaly-mv.yaml */
    const struct vg_rule *r = vg_rule_set_find(s, "ScaleOutWebCpu");
    assert_non_null(r);
    assert_int_equal(vg_rule_for_ms(r), 300000);
    assert_int_equal(vg_rule_action_count(r), 1);
    assert_string_equal(vg_rule_action(r, 0), "webhook");
    assert_int_equal(vg_rule_set_policy_count(s), 1);
    assert_string_equal(vg_rule_policy_target(vg_rule_set_policy(s, 0)), "web");
    assert_non_null(vg_rule_set_find(s, "HostAnomaly"));
    assert_non_null(vg_rule_set_find(s, "DiskLatencyAnomaly"));
    assert_non_null(vg_rule_set_find(s, "TcpRetransmitStorm"));
    vg_rule_set_free(s);
}

/* {{ value }} is the left side of the first comparison: the examples put the quantity their
 * message names first, so that "user CPU 85%" is the CPU and not the anomaly score. */
static void the_examples_say_what_they_measure(void **state)
{
    (void)state;
    struct vg_rule_set *s;
    char err[4096] = "";
    assert_int_equal(vg_rule_set_load_dir(VG_SOURCE_DIR "/rules/examples", &s, err, sizeof(err)),
                     0);
    static const struct series web[] = {{"cpu.user_pct", 90, 0.995}, {"cpu.system_pct", 5, 0.4}};
    static const struct window web_w[] = {{"cpu.user_pct", 300000, VG_EXPR_AVG_OVER, 85},
                                          {"tcp.retrans_segs_ps", 60000, VG_EXPR_AVG_OVER, 120}};
    static const struct series net[] = {{"tcp.retrans_segs_ps", 130, 0.97}};
    static const struct {
        const char *rule;
        const struct series *series;
        size_t n;
        const char *summary;
    } cases[] = {
        {"ScaleOutWebCpu", web, VG_ARRAY_LEN(web),
         "web-1: user CPU 85% over 5m, anomalous (score 0.995); web scales out"},
        {"TcpRetransmitStorm", net, VG_ARRAY_LEN(net),
         "web-1: 120 TCP retransmits/s over the last minute"},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        const struct vg_rule *r = vg_rule_set_find(s, cases[i].rule);
        assert_non_null(r);
        struct host h = {cases[i].series, cases[i].n, web_w, VG_ARRAY_LEN(web_w), 0, 0};
        struct vg_expr_env env = env_of(&h);
        struct vg_rule_result res;
        assert_int_equal(vg_rule_eval(r, &env, &res), 0);
        assert_true(res.matched);
        struct vg_kvlist labels = {0};
        assert_int_equal(vg_rule_alert_labels(r, "web-1", NULL, 0, &labels), 0);
        char buf[512];
        vg_rule_render_annotation(r, 0, "web-1", &labels, &res, buf, sizeof(buf));
        assert_string_equal(vg_rule_annotation_name(r, 0), "summary");
        assert_string_equal(buf, cases[i].summary);
        vg_kvlist_free(&labels);
    }
    vg_rule_set_free(s);
}

/* Every complete rule file shown in docs/rules.md (a ```yaml block starting with "rules:")
 * must load, so the documentation cannot drift from the language. */
static void the_examples_in_the_documentation_load(void **state)
{
    size_t len;
    char *doc = read_all(VG_SOURCE_DIR "/docs/rules.md", &len);
    size_t n = 0;
    for (char *p = doc; (p = strstr(p, "```yaml\nrules:\n"));) {
        char *body = p + 8, *end = strstr(body, "```");
        assert_non_null(end);
        struct vg_rule_set *s;
        char err[1024] = "";
        if (vg_rule_set_load_buffer("docs/rules.md", body, (size_t)(end - body), &s, err,
                                    sizeof(err)) != 0)
            fail_msg("example %zu in docs/rules.md: %s", n + 1, err);
        assert_true(vg_rule_set_count(s) > 0);
        vg_rule_set_free(s);
        n++;
        p = end + 3;
    }
    assert_true(n >= 2);
    free(doc);
}

static void empty_files_documents_and_lists_are_valid(void **state)
{
    static const char *const ok[] = {"", "# nothing\n", "rules:\n", "rules: []\n",
                                     "---\nrules: []\n---\n"};
    for (size_t i = 0; i < VG_ARRAY_LEN(ok); i++) {
        struct vg_rule_set *s;
        char err[512] = "";
        assert_int_equal(load_str(ok[i], &s, err, sizeof(err)), 0);
        assert_int_equal(vg_rule_set_count(s), 0);
        vg_rule_set_free(s);
    }
}

static void anchors_and_aliases_share_values(void **state)
{
    const char *y = "rules:\n"
                    "  - name: A\n"
                    "    when: top_score() > 0.99\n"
                    "    labels: &team {team: infra}\n"
                    "    actions: &acts [webhook, slack]\n"
                    "  - name: B\n"
                    "    when: top_score() > 0.999\n"
                    "    labels: *team\n"
                    "    actions: *acts\n";
    struct vg_rule_set *s;
    char err[512] = "";
    assert_int_equal(load_str(y, &s, err, sizeof(err)), 0);
    const struct vg_rule *b = vg_rule_set_find(s, "B");
    assert_int_equal(vg_rule_action_count(b), 2);
    assert_string_equal(vg_rule_action(b, 1), "slack");
    struct vg_kvlist l = {0};
    assert_int_equal(vg_rule_alert_labels(b, "h", NULL, 0, &l), 0);
    assert_string_equal(vg_kvlist_get(&l, "team"), "infra");
    vg_kvlist_free(&l);
    vg_rule_set_free(s);
}

/* ---- reloading ---------------------------------------------------------------------------- */

/* What the analyzer does on SIGHUP: load a whole new set; swap only when that worked. */
static int reload(struct vg_rule_set **current, const char *dir, char *err, size_t errlen)
{
    struct vg_rule_set *next;
    int rc = vg_rule_set_load_dir(dir, &next, err, errlen);
    if (rc)
        return rc;
    vg_rule_set_free(*current);
    *current = next;
    return 0;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void a_failed_reload_leaves_the_running_set_usable(void **state)
{
    char dir[] = "/tmp/vg-rules-XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, "a.yaml", "rules:\n  - name: Busy\n    when: value(\"cpu.user_pct\") > 90\n");
    struct vg_rule_set *cur = NULL;
    char err[1024] = "";
    assert_int_equal(reload(&cur, dir, err, sizeof(err)), 0);
    const struct vg_rule_set *before = cur;

    /* Someone saves a broken edit. */
    write_file(dir, "a.yaml", "rules:\n  - name: Busy\n    when: value(\"cpu.user_pct\") >> 90\n");
    char path[600];
    snprintf(path, sizeof(path), "%s/a.yaml", dir);
    assert_int_equal(reload(&cur, dir, err, sizeof(err)), -EINVAL);
    char want[700];
    snprintf(want, sizeof(want), "%s:3:34: expected a number, a function call or '(', found '>'",
             path);
    assert_string_equal(err, want);

    /* The old set is untouched and still evaluates. */
    assert_ptr_equal(cur, before);
    const struct vg_rule *r = vg_rule_set_find(cur, "Busy");
    assert_non_null(r);
    struct host h = test_host();
    struct vg_expr_env env = env_of(&h);
    struct vg_rule_result res;
    assert_int_equal(vg_rule_eval(r, &env, &res), 0);
    assert_true(res.matched);

    /* The fix is picked up. */
    write_file(dir, "a.yaml", "rules:\n  - name: Busy\n    when: value(\"cpu.user_pct\") > 99\n");
    assert_int_equal(reload(&cur, dir, err, sizeof(err)), 0);
    assert_int_equal(vg_rule_eval(vg_rule_set_find(cur, "Busy"), &env, &res), 0);
    assert_false(res.matched);

    vg_rule_set_free(cur);
    unlink(path);
    rmdir(dir);
}

/* A file of exactly `size` bytes holding no rules: "rules: []" and comment lines. */
static void write_sized(const char *path, size_t size)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    size_t n = (size_t)fprintf(f, "rules: []\n");
    while (n < size) {
        size_t line = size - n > 80 ? 80 : size - n;
        for (size_t i = 0; i + 1 < line; i++)
            fputc(i ? 'x' : '#', f);
        fputc('\n', f);
        n += line;
    }
    assert_int_equal(fclose(f), 0);
}

/* 4 MiB is the limit on the file, the same from a directory as for `vigilctl rules check FILE`
 * (vg_rule_file_read), whatever the reading buffer has grown to. */
static void a_rule_file_of_more_than_4_mib_is_refused_to_the_byte(void **state)
{
    (void)state;
    char dir[] = "/tmp/vg-rules-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[600], err[2048] = "";
    snprintf(path, sizeof(path), "%s/big.yaml", dir);
    struct vg_rule_set *s = NULL;

    write_sized(path, (size_t)4 << 20);
    assert_int_equal(vg_rule_set_load_dir(dir, &s, err, sizeof(err)), 0);
    vg_rule_set_free(s);
    char *buf;
    size_t len;
    assert_int_equal(vg_rule_file_read(path, &buf, &len, err, sizeof(err)), 0);
    assert_int_equal(len, (size_t)4 << 20);
    free(buf);

    char want[700];
    snprintf(want, sizeof(want), "%s: rule file larger than 4 MiB", path);
    const size_t sizes[] = {((size_t)4 << 20) + 1, (size_t)6 << 20};
    for (size_t i = 0; i < VG_ARRAY_LEN(sizes); i++) {
        write_sized(path, sizes[i]);
        s = NULL;
        assert_int_equal(vg_rule_set_load_dir(dir, &s, err, sizeof(err)), -EFBIG);
        assert_null(s);
        assert_string_equal(err, want);
        assert_int_equal(vg_rule_file_read(path, &buf, &len, err, sizeof(err)), -EFBIG);
        assert_string_equal(err, want);
    }
    unlink(path);
    rmdir(dir);
}

/* A file whose name is not a rule file's (alerts.YAML, x.yaml.bak) is not read, and was passed
 * over in silence: a directory of only those turned off alerting with no word. It is listed as
 * skipped; hidden files and subdirectories without a rule file's name are not. */
static void files_without_a_rule_files_name_are_listed_as_skipped(void **state)
{
    (void)state;
    char dir[] = "/tmp/vg-rules-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sub[600];
    snprintf(sub, sizeof(sub), "%s/old", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    const char *rule = "rules:\n  - name: Busy\n    when: value(\"cpu.user_pct\") > 90\n";
    write_file(dir, "x.yaml.bak", rule);
    write_file(dir, "alerts.YAML", rule);
    write_file(dir, ".a.yaml.swp", rule);
    struct vg_rule_set *s = NULL;
    char err[2048] = "";
    assert_int_equal(vg_rule_set_load_dir(dir, &s, err, sizeof(err)), 0);
    assert_int_equal(vg_rule_set_count(s), 0);
    assert_int_equal(vg_rule_set_skipped_count(s), 2);
    char want[2048];
    snprintf(want, sizeof(want),
             "%s/alerts.YAML: skipped, not a rule file's name (rule files end in .yaml or .yml)",
             dir);
    assert_string_equal(vg_rule_set_skipped(s, 0), want);
    snprintf(want, sizeof(want),
             "%s/x.yaml.bak: skipped, not a rule file's name (rule files end in .yaml or .yml)",
             dir);
    assert_string_equal(vg_rule_set_skipped(s, 1), want);
    vg_rule_set_free(s);
    char path[700];
    const char *names[] = {"x.yaml.bak", "alerts.YAML", ".a.yaml.swp"};
    for (size_t i = 0; i < VG_ARRAY_LEN(names); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(sub);
    rmdir(dir);
}

/* A subdirectory named like a rule file is not read (docs/rules.md), only listed as skipped; a
 * file that cannot be read is one error among the others, not the only one reported. */
static void a_subdirectory_is_skipped_and_an_unreadable_file_is_listed_with_the_rest(void **state)
{
    (void)state;
    char dir[] = "/tmp/vg-rules-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sub[600], link[600], path[600];
    snprintf(sub, sizeof(sub), "%s/z.yaml", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    write_file(dir, "a.yaml", "rules:\n  - name: Busy\n    when: value(\"cpu.user_pct\") > 90\n");
    struct vg_rule_set *s = NULL;
    char err[2048] = "";
    assert_int_equal(vg_rule_set_load_dir(dir, &s, err, sizeof(err)), 0);
    assert_int_equal(vg_rule_set_count(s), 1);
    assert_int_equal(vg_rule_set_skipped_count(s), 1);
    char want[2048];
    snprintf(want, sizeof(want), "%s: skipped, a directory (subdirectories are not read)", sub);
    assert_string_equal(vg_rule_set_skipped(s, 0), want);
    assert_null(vg_rule_set_skipped(s, 1));
    vg_rule_set_free(s);

    /* A link to nothing between two files with mistakes: all three are reported, in order. */
    write_file(dir, "a.yaml", "rules:\n  - name: A\n    when: avg(1) > 2\n");
    snprintf(link, sizeof(link), "%s/b.yaml", dir);
    assert_int_equal(symlink("no-such-file.yaml", link), 0);
    write_file(dir, "c.yaml", "rules:\n  - name: C\n    sevrity: info\n    when: 1 > 0\n");
    s = NULL;
    assert_int_equal(vg_rule_set_load_dir(dir, &s, err, sizeof(err)), -ENOENT);
    assert_null(s);
    snprintf(want, sizeof(want),
             "%s/a.yaml:3:11: unknown function 'avg' (did you mean 'avg_over'?)\n"
             "%s: cannot open rule file: a symbolic link to a missing file\n"
             "%s/c.yaml:3:5: unknown key 'sevrity' (did you mean 'severity'?)",
             dir, link, dir);
    assert_string_equal(err, want);

    unlink(link);
    snprintf(path, sizeof(path), "%s/a.yaml", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/c.yaml", dir);
    unlink(path);
    rmdir(sub);
    rmdir(dir);
}

/* ---- expressions -------------------------------------------------------------------------- */

static void check_expr(const char *src, int matched, double value)
{
    struct vg_expr *e;
    char err[VG_ERRLEN] = "";
    size_t off;
    if (vg_expr_parse(src, &e, &off, err, sizeof(err)) != 0)
        fail_msg("%s: %s (offset %zu)", src, err, off);
    struct host h = test_host();
    struct vg_expr_env env = env_of(&h);
    struct vg_expr_result res;
    assert_int_equal(vg_expr_eval(e, &env, NULL, 0, &res), 0);
    if (res.matched != matched)
        fail_msg("%s: matched %d, want %d", src, res.matched, matched);
    if (isnan(value) ? !isnan(res.value) : fabs(res.value - value) > 1e-9)
        fail_msg("%s: value %g, want %g", src, res.value, value);
    vg_expr_free(e);
}

static void arithmetic_and_logic_follow_precedence(void **state)
{
    check_expr("1 + 2 * 3 == 7", 1, 7);
    check_expr("(1 + 2) * 3 == 9", 1, 9);
    check_expr("10 - 4 - 3 == 3", 1, 3);
    check_expr("12 / 2 / 3 == 2", 1, 2);
    check_expr("-2 * -3 == 6", 1, 6);
    check_expr("2 - -2 >= 4", 1, 4);
    check_expr("1.5e1 < 16", 1, 15);
    check_expr(".5 <= 0.5", 1, 0.5);
    check_expr("3 != 3", 0, 3);
    /* and binds tighter than or: true or (false and false) */
    check_expr("2 > 1 or 1 > 2 and 3 > 4", 1, 2);
    /* not binds tighter than or, looser than comparison */
    check_expr("not 2 > 1 or 1 == 1", 1, 2);
    check_expr("not (2 > 1 or 1 == 1)", 0, 2);
    check_expr("not not 1 > 0", 1, 1);
}

static void functions_read_the_hosts_series(void **state)
{
    check_expr("score(\"disk.*.await_ms\") > 0.99", 1, 0.995);
    check_expr("score(\"disk.sdb.*\") > 0.99", 0, 0.2);
    check_expr("top_score() == 0.995", 1, 0.995);
    check_expr("value(\"cpu.user_pct\") >= 95", 1, 95);
    check_expr("avg_over(\"cpu.user_pct\", 5m) == 80", 1, 80);
    check_expr("max_over('cpu.user_pct', 300s) == 99", 1, 99);
    check_expr("min_over(\"cpu.user_pct\", 5m) == 60", 1, 60);
    check_expr("rate(\"tcp.retrans_segs_ps\", 1m) > 5", 1, 7.5);
    /* {{ value }} is the left side of the first comparison, wherever the match came from. */
    check_expr("value(\"psi.io.some_avg10\") > 10 and score(\"disk.*\") > 0.99", 1, 12);
    check_expr("(value(\"load.1m\") * 2 > 100 or top_score() > 0.9)", 1, 8);
}

static void missing_data_never_makes_a_condition_true(void **state)
{
    check_expr("value(\"nope\") > 1", 0, NAN);
    check_expr("value(\"nope\") < 1", 0, NAN);
    /* Unknown, not false: `not` of it is no more true. */
    check_expr("not value(\"nope\") > 1", 0, NAN);
    check_expr("not (value(\"nope\") > 1) and 1 > 0", 0, NAN);
    check_expr("value(\"nope\") + 1 > 0", 0, NAN);
    check_expr("value(\"nope\") > 1 or value(\"cpu.user_pct\") > 90", 1, NAN);
    check_expr("value(\"nope\") > 1 and 1 > 2", 0, NAN);
    check_expr("score(\"mem.*\") > 0", 0, NAN);               /* no series matches */
    check_expr("score(\"psi.*\") >= 0", 0, NAN);              /* series without a score yet */
    check_expr("avg_over(\"cpu.user_pct\", 1h) > 0", 0, NAN); /* no samples in that window */
}

static void division_by_zero_and_overflow_match_nothing(void **state)
{
    check_expr("value(\"cpu.user_pct\") / value(\"zero\") > 0", 0, NAN);
    check_expr("value(\"cpu.user_pct\") / 0 < 1", 0, NAN);
    check_expr("not (1 / 0 > 1)", 0, NAN);
    check_expr("1e308 * 10 > 0", 0, NAN);
    check_expr("0 / 1 == 0", 1, 0);
}

static void and_or_stop_at_the_first_deciding_side(void **state)
{
    static const struct {
        const char *src;
        int value_calls;
    } cases[] = {
        {"1 > 2 and value(\"cpu.user_pct\") > 0", 0},
        {"1 < 2 or value(\"cpu.user_pct\") > 0", 0},
        {"1 < 2 and value(\"cpu.user_pct\") > 0", 1},
        {"1 > 2 or value(\"cpu.user_pct\") > 0", 1},
        {"value(\"nope\") > 0 and value(\"cpu.user_pct\") > 0", 2}, /* unknown decides nothing */
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        struct vg_expr *e;
        char err[VG_ERRLEN];
        size_t off;
        assert_int_equal(vg_expr_parse(cases[i].src, &e, &off, err, sizeof(err)), 0);
        struct host h = test_host();
        struct vg_expr_env env = env_of(&h);
        struct vg_expr_result res;
        assert_int_equal(vg_expr_eval(e, &env, NULL, 0, &res), 0);
        if (h.value_calls != cases[i].value_calls)
            fail_msg("%s: %d value() calls, want %d", cases[i].src, h.value_calls,
                     cases[i].value_calls);
        vg_expr_free(e);
    }
}

static void a_failing_callback_aborts_the_evaluation(void **state)
{
    struct vg_expr *e;
    char err[VG_ERRLEN];
    size_t off;
    assert_int_equal(vg_expr_parse("value(\"cpu.user_pct\") > 0", &e, &off, err, sizeof(err)), 0);
    struct host h = test_host();
    h.fail = -EIO;
    struct vg_expr_env env = env_of(&h);
    struct vg_expr_result res;
    assert_int_equal(vg_expr_eval(e, &env, NULL, 0, &res), -EIO);
    assert_false(res.matched);
    vg_expr_free(e);
}

static void the_series_list_restricts_score_and_top_score(void **state)
{
    struct vg_expr *e;
    char err[VG_ERRLEN];
    size_t off;
    assert_int_equal(vg_expr_parse("top_score() > 0.9", &e, &off, err, sizeof(err)), 0);
    struct host h = test_host();
    struct vg_expr_env env = env_of(&h);
    struct vg_expr_result res;
    char *cpu[] = {"cpu.*", "load.*"};
    assert_int_equal(vg_expr_eval(e, &env, cpu, 2, &res), 0);
    assert_false(res.matched);
    assert_true(res.value == 0.5);
    char *disk[] = {"disk.*"};
    assert_int_equal(vg_expr_eval(e, &env, disk, 1, &res), 0);
    assert_true(res.matched);
    vg_expr_free(e);
}

static void expression_errors_point_at_the_offending_token(void **state)
{
    static const struct {
        const char *src;
        size_t off;
        const char *msg;
    } cases[] = {
        {"", 0, "the expression is empty (write e.g. top_score() > 0.99)"},
        {"score(\"x\") >", 12,
         "expected a number, a function call or '(', found the end of the "
         "expression"},
        /* The end is after the last character, not after trailing whitespace: a block
         * scalar keeps its final line break. */
        {"score(\"x\") >  \n\n", 12,
         "expected a number, a function call or '(', found the end of the "
         "expression"},
        {"(score(\"x\") > 1\n", 15, "missing ')' to close a '(', found the end of the expression"},
        {"1 > 0)", 5, "unexpected ')' after a complete expression (more ')' than '(')"},
        {"1 > 0 value(\"x\") > 1", 6,
         "unexpected 'value' after a complete expression (missing 'and' or 'or'?)"},
        {"value(\"x) > 1", 6, "string is not closed (missing \")"},
        {"avg_over(\"x\", 5min) > 1", 14,
         "'5min' is not a number or a duration (durations are written 250ms, 30s, 5m, 1h, 1d)"},
        /* strtod read these as 16 s and 1000 s */
        {"avg_over(\"x\", 0x10s) > 1", 14,
         "'0x10s' is not a number or a duration (durations are written 250ms, 30s, 5m, 1h, 1d)"},
        {"avg_over(\"x\", 1e3s) > 1", 14,
         "'1e3s' is not a number or a duration (durations are written 250ms, 30s, 5m, 1h, 1d)"},
        {"top_score(1) > 0", 0, "top_score() takes no arguments, not 1"},
        {"score(\"a\" \"b\") > 0", 10,
         "expected ',' or ')' in the arguments of score(), found '\"b\"'"},
        {"score > 1", 0, "'score' is a function: write score(...)"},
        {"valeu(\"x\") > 1", 0, "unknown function 'valeu' (did you mean 'value'?)"},
        {"frobnicate(\"x\") > 1", 0,
         "unknown function 'frobnicate' (the functions are score, "
         "top_score, value, avg_over, max_over, min_over, rate)"},
        {"1 > 0 AND 2 > 1", 6,
         "unexpected 'AND' after a complete expression (missing 'and' or "
         "'or'?)"},
        {"AND > 1", 0, "unknown identifier 'AND' (write 'and' in lower case)"},
        {"1 > 0 and 2", 10, "'and' needs a condition here, not a number (compare it: ... > 0.9)"},
        {"(1 > 0) + 1 > 0", 1,
         "'+' needs a number here, not a condition (combine conditions with "
         "'and' and 'or')"},
        {"\"x\" > 1", 0, "a string can only be a function argument, e.g. value(\"cpu.user_pct\")"},
        {"5m > 1", 0, "a duration can only be a window argument, e.g. avg_over(\"x\", 5m)"},
        {"value(5) > 1", 6,
         "value() argument 1 must be a series name in quotes such as "
         "\"cpu.user_pct\", not a number"},
        {"score(top_score()) > 1", 6,
         "score() argument 1 must be a series pattern in quotes "
         "such as \"cpu.*\", not an expression"},
        {"score(\"\") > 1", 6, "score() argument 1 is empty"},
        {"score(\"host:mv\") > 0.9", 6,
         "score() reads the host's series, not its models: a host model's score is "
         "value(\"host:mv\")"},
        {"avg_over(\"host:mv\", 5m) > 0.9", 9,
         "avg_over() reads a series' samples, and host models keep none: compare "
         "value(\"host:mv\") instead"},
        {"value(\"host:\") > 0.9", 6,
         "value(\"host:\") names no host model (e.g. "
         "value(\"host:mv\"))"},
        {"avg_over(\"x\", 3650d) > 1", 14,
         "avg_over() window must be at most 1d: the analyzer keeps each series' samples of the "
         "longest window, for every host"},
        {"1 > 0 || 2 > 1", 6, "'||' is written 'or'"},
        {"!(1 > 0)", 0, "'!' is written 'not'"},
        {"1 > 0 # x", 6, "unexpected character '#'"},
        /* `=>` is a reversed `>=`, not a misspelt `==`. */
        {"value(\"x\") => 1", 11, "'=>' is written '>='"},
        {"value(\"x\") =< 1", 11, "'=<' is written '<='"},
        /* A missing ')' after a string or a duration argument: the message said "a string can
         * only be a function argument", of a function argument. */
        {"value(\"x\" > 1", 10, "missing ')' after value()'s argument 1 (write value(\"x\") > 1)"},
        {"score(\"cpu.*\" > 0.9", 14,
         "missing ')' after score()'s argument 1 (write score(\"cpu.*\") > 0.9)"},
        {"avg_over(\"x\", 5m > 1", 17,
         "missing ')' after avg_over()'s argument 2 (write avg_over(\"x\", 5m) > 1)"},
        {"value(\"x\" > 1) and\n  top_score() > 0.9", 10,
         "missing ')' after value()'s argument 1 (write value(\"x\") > 1 and top_score() > 0.9)"},
        /* Scores are in [0,1]: a comparison no score can satisfy is a rule that never fires. */
        {"score(\"cpu.*\") > 99", 17,
         "scores are in [0,1]: score(\"cpu.*\") > 99 can never hold (did you mean 0.99?)"},
        {"1 > 0 and 99.9 <= score(\"cpu.*\")", 10,
         "scores are in [0,1]: 99.9 <= score(\"cpu.*\") can never hold (did you mean 0.999?)"},
        {"(top_score()) > 1", 16, "scores are in [0,1]: top_score() > 1 can never hold"},
        {"value(\"host:mv\") >= 1.5", 20,
         "scores are in [0,1]: value(\"host:mv\") >= 1.5 can never hold"},
        {"top_score() < 0", 14, "scores are in [0,1]: top_score() < 0 can never hold"},
        {"score(\"x\") <= -0.5", 14, "scores are in [0,1]: score(\"x\") <= -0.5 can never hold"},
        {"score(\"x\") == 2", 14, "scores are in [0,1]: score(\"x\") == 2 can never hold"},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        struct vg_expr *e = (struct vg_expr *)1;
        char err[VG_ERRLEN] = "";
        size_t off = 99;
        int rc = vg_expr_parse(cases[i].src, &e, &off, err, sizeof(err));
        if (rc != -EINVAL || strcmp(err, cases[i].msg) != 0 || off != cases[i].off)
            fail_msg("'%s': rc %d off %zu\n got: %s\nwant: off %zu %s", cases[i].src, rc, off, err,
                     cases[i].off, cases[i].msg);
        assert_null(e);
    }
}

/* The score range check refuses only what can never hold: a score can be exactly 1 or 0, and
 * values, arithmetic on scores and comparisons that always hold are not its business. */
static void score_comparisons_that_can_hold_still_load(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "score(\"cpu.*\") > 0.99",
        "score(\"cpu.*\") >= 1",
        "top_score() <= 0",
        "value(\"host:mv\") >= 1",
        "1 >= top_score()",
        "0 < score(\"x\")",
        "value(\"cpu.user_pct\") > 99",
        "score(\"x\") * 100 > 99",
        "score(\"x\") > -1",
        "score(\"x\") == 1",
        "score(\"x\") != 5",
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(ok); i++) {
        struct vg_expr *e = NULL;
        char err[VG_ERRLEN] = "";
        size_t off;
        if (vg_expr_parse(ok[i], &e, &off, err, sizeof(err)) != 0)
            fail_msg("'%s': %s", ok[i], err);
        vg_expr_free(e);
    }
}

static void deep_nesting_is_refused_not_overflowed(void **state)
{
    char src[4096];
    size_t n = 0;
    for (int i = 0; i < 1000; i++)
        src[n++] = '(';
    strcpy(src + n, "1 > 0");
    struct vg_expr *e;
    char err[VG_ERRLEN];
    size_t off;
    assert_int_equal(vg_expr_parse(src, &e, &off, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "expression nested too deeply (more than 100 levels)");

    /* A long flat chain builds a deep tree without nesting in the text. */
    n = 0;
    for (int i = 0; i < 500; i++)
        n += (size_t)snprintf(src + n, sizeof(src) - n, "1 + ");
    strcpy(src + n, "1 > 0");
    assert_int_equal(vg_expr_parse(src, &e, &off, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "expression too complex (more than 100 nested operations)");

    n = 0;
    for (int i = 0; i < 500; i++)
        n += (size_t)snprintf(src + n, sizeof(src) - n, "not ");
    strcpy(src + n, "1 > 0");
    assert_int_equal(vg_expr_parse(src, &e, &off, err, sizeof(err)), -EINVAL);
}

/* `when:` of a rule file made of `n` times `open`, then `mid`, then `n` times `close`. */
static char *nested_rule(int n, const char *open, const char *mid, const char *close)
{
    size_t cap = 64 + (size_t)n * (strlen(open) + strlen(close)) + strlen(mid);
    char *y = malloc(cap);
    assert_non_null(y);
    size_t at = (size_t)snprintf(y, cap, "rules:\n  - name: Deep\n    when: ");
    for (int i = 0; i < n; i++)
        at += (size_t)snprintf(y + at, cap - at, "%s", open);
    at += (size_t)snprintf(y + at, cap - at, "%s", mid);
    for (int i = 0; i < n; i++)
        at += (size_t)snprintf(y + at, cap - at, "%s", close);
    snprintf(y + at, cap - at, "\n");
    return y;
}

/* docs/rules.md: nesting is limited to 100 levels of parentheses, `not` and unary minus, each
 * one level; the 101st is refused where it stands. */
static void nesting_is_limited_to_100_levels_of_parentheses_not_and_minus(void **state)
{
    (void)state;
    static const struct {
        const char *open, *mid, *close;
    } kinds[] = {
        {"(", "value(\"cpu.user_pct\") > 1", ")"},
        {"not ", "not value(\"cpu.user_pct\") > 1", ""}, /* 100 + 1 `not`: 101 */
        {"-", "1 < 0", ""},
    };
    for (size_t k = 0; k < VG_ARRAY_LEN(kinds); k++) {
        /* The third kind: 100 minus signs; the second writes one `not` in mid. */
        int at_limit = k == 1 ? 99 : 100;
        char err[1024] = "";
        struct vg_rule_set *s = NULL;
        char *y = nested_rule(at_limit, kinds[k].open, kinds[k].mid, kinds[k].close);
        if (load_str(y, &s, err, sizeof(err)) != 0)
            fail_msg("%s x100: %s", kinds[k].open, err);
        struct host h = test_host();
        struct vg_expr_env env = env_of(&h);
        struct vg_rule_result res;
        assert_int_equal(vg_rule_eval(vg_rule_set_rule(s, 0), &env, &res), 0);
        assert_int_equal(res.matched, k != 2); /* 100 `not`s, 100 minus signs cancel out */
        vg_rule_set_free(s);
        free(y);

        y = nested_rule(at_limit + 1, kinds[k].open, kinds[k].mid, kinds[k].close);
        assert_int_equal(load_str(y, &s, err, sizeof(err)), -EINVAL);
        assert_null(s);
        /* The 101st opening sits 100 openings after column 11. */
        char want[256];
        snprintf(want, sizeof(want),
                 "t.yaml:3:%zu: expression nested too deeply (more than 100 levels)",
                 11 + 100 * strlen(kinds[k].open));
        if (strcmp(err, want) != 0)
            fail_msg("%s x101:\n got: %s\nwant: %s", kinds[k].open, err, want);
        free(y);
    }
    /* Mixed, 100 in all (40 `not`, 40 parentheses, 20 minus signs): fine. */
    char err[1024] = "";
    struct vg_rule_set *s = NULL;
    char *y = nested_rule(40, "not (", "--------------------value(\"cpu.user_pct\") > 1", ")");
    if (load_str(y, &s, err, sizeof(err)) != 0)
        fail_msg("mixed: %s", err);
    vg_rule_set_free(s);
    free(y);
}

struct deep_parse {
    const char *src;
    int rc;
};

static void *parse_on_thread(void *arg)
{
    struct deep_parse *d = arg;
    struct vg_expr *e = NULL;
    char err[VG_ERRLEN];
    size_t off;
    d->rc = vg_expr_parse(d->src, &e, &off, err, sizeof(err));
    vg_expr_free(e);
    return NULL;
}

/* The limit is what keeps hostile nesting off the C stack: parsing the deepest valid expression,
 * and refusing far deeper ones (parentheses, `not`, minus, calls in calls' arguments), fits in
 * 1 MiB of stack, an eighth of a thread's usual. */
static void deep_nesting_fits_a_small_stack(void **state)
{
    (void)state;
    static const struct {
        const char *open, *mid, *close;
        int n, rc;
    } cases[] = {
        {"(", "value(\"x\") > 1", ")", 100, 0},    {"(not ", "value(\"x\") > 1", ")", 50, 0},
        {"-", "value(\"x\") > 1", "", 100, 0},     {"(", "1 > 0", ")", 100000, -EINVAL},
        {"not ", "1 > 0", "", 100000, -EINVAL},    {"-", "1 > 0", "", 100000, -EINVAL},
        {"score(", "\"x\"", ")", 100000, -EINVAL}, {"value(-(", "1", "))", 50000, -EINVAL},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        char *y = nested_rule(cases[i].n, cases[i].open, cases[i].mid, cases[i].close);
        struct deep_parse d = {strstr(y, "when: ") + 6, 1};
        pthread_attr_t attr;
        pthread_t t;
        assert_int_equal(pthread_attr_init(&attr), 0);
        assert_int_equal(pthread_attr_setstacksize(&attr, (size_t)1 << 20), 0);
        assert_int_equal(pthread_create(&t, &attr, parse_on_thread, &d), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        pthread_attr_destroy(&attr);
        if (d.rc != cases[i].rc)
            fail_msg("%s x%d: rc %d, want %d", cases[i].open, cases[i].n, d.rc, cases[i].rc);
        free(y);
    }
}

/* History is kept per series and host for the longest window: a day at most, which the state
 * importer's 2^20 samples per series hold at the agents' shortest interval (100ms). */
static void windows_longer_than_a_day_are_refused_where_they_are_written(void **state)
{
    (void)state;
    static const char *const ok[] = {"1d", "24h", "1440m", "86400s", "86400000ms"};
    char yaml[512], err[1024];
    struct vg_rule_set *s;
    for (size_t i = 0; i < VG_ARRAY_LEN(ok); i++) {
        snprintf(yaml, sizeof(yaml), "rules:\n  - name: W\n    when: rate(\"net.rx\", %s) > 1\n",
                 ok[i]);
        s = NULL;
        if (load_str(yaml, &s, err, sizeof(err)) != 0)
            fail_msg("%s: %s", ok[i], err);
        assert_int_equal(vg_rule_set_max_window_ms(s), VG_EXPR_MAX_WINDOW_MS);
        vg_rule_set_free(s);
    }
    static const char *const bad[] = {"86400001ms", "25h", "2d", "3650d"};
    for (size_t i = 0; i < VG_ARRAY_LEN(bad); i++) {
        snprintf(yaml, sizeof(yaml),
                 "rules:\n  - name: W\n    when: value(\"x\") > 1 and avg_over(\"x\", %s) > 1\n"
                 "scaling:\n  - target: web\n    metric: max_over('cpu.user_pct', %s)\n"
                 "    target_value: 60\n    max: 4\n",
                 bad[i], bad[i]);
        s = NULL;
        assert_int_equal(load_str(yaml, &s, err, sizeof(err)), -EINVAL);
        assert_null(s);
        const char *why = "window must be at most 1d: the analyzer keeps each series' samples "
                          "of the longest window, for every host";
        char want[1024];
        snprintf(want, sizeof(want), "t.yaml:3:44: avg_over() %s\nt.yaml:6:38: max_over() %s", why,
                 why);
        assert_string_equal(err, want);
    }
}

/* Which host models exist is the analyzer's to say (vg_models_check_rules); the set lists every
 * value("host:NAME") of its rules and policies with its place for that. */
static void a_set_lists_the_host_models_it_reads_with_their_places(void **state)
{
    (void)state;
    struct vg_rule_set *s = NULL;
    char err[1024] = "";
    assert_int_equal(load_str("rules:\n"
                              "  - name: A\n"
                              "    when: value(\"host:mvv\") > 0.99 or value(\"x\") > 1\n"
                              "  - name: B\n"
                              "    when: >\n"
                              "      top_score() > 0.9\n"
                              "      and value('host:series') > 0.9\n"
                              "scaling:\n"
                              "  - target: web\n"
                              "    metric: value(\"host:mv\") * 10\n"
                              "    target_value: 5\n"
                              "    max: 4\n",
                              &s, err, sizeof(err)),
                     0);
    static const char *const want[][2] = {
        {"mvv", "t.yaml:3:17"}, {"series", "t.yaml:7:17"}, {"mv", "t.yaml:10:19"}};
    assert_int_equal(vg_rule_set_host_model_count(s), VG_ARRAY_LEN(want));
    for (size_t i = 0; i < VG_ARRAY_LEN(want); i++) {
        const char *where = NULL;
        assert_string_equal(vg_rule_set_host_model(s, i, &where), want[i][0]);
        assert_string_equal(where, want[i][1]);
    }
    assert_null(vg_rule_set_host_model(s, 3, NULL));
    vg_rule_set_free(s);
}

static void the_longest_window_is_reported(void **state)
{
    struct vg_expr *e;
    char err[VG_ERRLEN];
    size_t off;
    assert_int_equal(vg_expr_parse("avg_over(\"a\", 5m) > 1 or rate(\"b\", 1h) > 0 or "
                                   "value(\"c\") > 0",
                                   &e, &off, err, sizeof(err)),
                     0);
    assert_int_equal(vg_expr_max_window_ms(e), 3600000);
    vg_expr_free(e);
}

/* ---- select ------------------------------------------------------------------------------- */

static const char *test_labels(const void *ud, const char *name)
{
    static const char *const kv[][2] = {
        {"host", "web-1"}, {"env", "prod"}, {"role", "api"}, {"zone", "us-east"}, {"path", "a.b"}};
    (void)ud;
    for (size_t i = 0; i < VG_ARRAY_LEN(kv); i++)
        if (strcmp(kv[i][0], name) == 0)
            return kv[i][1];
    return NULL;
}

static void matchers_compare_regex_anchored_and_absent_as_empty(void **state)
{
    static const struct {
        const char *m;
        int want;
    } cases[] = {
        {"host=~\"web-.*\"", 1},
        {"host=~\"web\"", 0}, /* anchored: a prefix is not a match */
        {"host=~\"eb-1\"", 0},
        {"host=~\"web|web-1\"", 1}, /* the longer alternative covers the whole value */
        {"host =~ \"web-[0-9]+\"", 1},
        {"env=\"prod\"", 1},
        {"env!=\"prod\"", 0},
        {"env=\"PROD\"", 0},
        {"role!=\"batch\"", 1},
        {"zone!~\"eu-.*\"", 1},
        {"zone!~\"us-.*\"", 0},
        {"team=\"\"", 1}, /* no team label reads as empty */
        {"team!=\"\"", 0},
        {"team=~\".*\"", 1},
        {"team=~\".+\"", 0},
        {"team!=\"infra\"", 1},
        {"path=~\"a\\.b\"", 1},
        {"path=~\"a\\.c\"", 0},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        struct vg_rule_select m;
        char err[VG_ERRLEN];
        size_t off;
        if (vg_rule_select_parse(cases[i].m, &m, &off, err, sizeof(err)) != 0)
            fail_msg("%s: %s", cases[i].m, err);
        if (vg_rule_select_match(&m, test_labels, NULL) != cases[i].want)
            fail_msg("%s: want %d", cases[i].m, cases[i].want);
        vg_rule_select_free(&m);
    }
}

static void matcher_values_undo_escaped_quotes(void **state)
{
    struct vg_rule_select m;
    char err[VG_ERRLEN];
    size_t off;
    assert_int_equal(vg_rule_select_parse("path=\"C:\\\\x \\\"y\\\"\"", &m, &off, err, sizeof(err)),
                     0);
    assert_string_equal(m.label, "path");
    assert_string_equal(m.value, "C:\\x \"y\"");
    vg_rule_select_free(&m);
}

static void bad_matchers_are_refused_with_a_position(void **state)
{
    static const struct {
        const char *m;
        size_t off;
        const char *msg;
    } cases[] = {
        {"env==\"prod\"", 3, "select 'env==\"prod\"': equality is written '=', not '=='"},
        {"1env=\"x\"", 0,
         "select '1env=\"x\"': expected a label name (write e.g. env=\"prod\", role!=\"batch\", "
         "host=~\"web-.*\", zone!~\"eu-.*\")"},
        {"env", 3,
         "select 'env': expected =, !=, =~ or !~ after the label name (write e.g. "
         "env=\"prod\", role!=\"batch\", host=~\"web-.*\", zone!~\"eu-.*\")"},
        {"env=\"prod", 4, "select 'env=\"prod': the value's quote is not closed"},
        {"env=\"prod\", role=\"x\"", 10,
         "select 'env=\"prod\", role=\"x\"': unexpected text "
         "after the quoted value (one matcher per list item)"},
        /* Backreferences: exponential matching, which stalled the analyzer on one host. The
         * offset is the backslash's in the text, past the \" before it; in brackets, \1 is
         * two ordinary characters and passes (below). */
        {"host=~\"(.*)(.*)\\2\\1x\"", 15,
         "regex in select 'host=~\"(.*)(.*)\\2\\1x\"': backreferences (\\2) are not "
         "supported, as in PromQL: matching them can take exponential time"},
        {"path!~\"\\\"(a)\\\\1\"", 12,
         "regex in select 'path!~\"\\\"(a)\\\\1\"': backreferences (\\1) are not "
         "supported, as in PromQL: matching them can take exponential time"},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        struct vg_rule_select m;
        char err[VG_ERRLEN] = "";
        size_t off = 99;
        int rc = vg_rule_select_parse(cases[i].m, &m, &off, err, sizeof(err));
        if (rc != -EINVAL || strcmp(err, cases[i].msg) != 0 || off != cases[i].off)
            fail_msg("'%s': rc %d off %zu\n got: %s\nwant: off %zu %s", cases[i].m, rc, off, err,
                     cases[i].off, cases[i].msg);
    }
}

/* A backslash and a digit in a bracket expression, or an escaped backslash before a digit,
 * is no backreference: those still load. */
static void bracketed_or_escaped_backslash_digits_are_not_backreferences(void **state)
{
    (void)state;
    static const char *const ok[] = {"host=~\"web-[\\1]\"", "host=~\"a\\\\\\\\1\"",
                                     "host=~\"[[:digit:]\\9]+\"", "host=\"\\1\""};
    for (size_t i = 0; i < VG_ARRAY_LEN(ok); i++) {
        struct vg_rule_select m;
        char err[VG_ERRLEN] = "";
        size_t off;
        if (vg_rule_select_parse(ok[i], &m, &off, err, sizeof(err)) != 0)
            fail_msg("'%s' refused: %s", ok[i], err);
        vg_rule_select_free(&m);
    }
}

static void a_rule_applies_to_hosts_matching_all_its_matchers(void **state)
{
    struct vg_rule_set *s;
    char err[1024];
    assert_int_equal(vg_rule_set_load_dir(RULES_DATA "/good", &s, err, sizeof(err)), 0);
    const struct vg_rule *web = vg_rule_set_find(s, "WebLatency");
    const struct vg_rule *cpu = vg_rule_set_find(s, "CpuBusy");
    struct vg_label prod[] = {{"env", "prod"}, {"role", "api"}, {"zone", "us-east"}};
    struct vg_label eu[] = {{"env", "prod"}, {"zone", "eu-west"}};
    struct vg_label batch[] = {{"env", "prod"}, {"role", "batch"}};
    /* A "host" label from the agent does not override the host name. */
    struct vg_label fake_host[] = {{"host", "web-9"}, {"env", "prod"}};
    assert_true(vg_rule_matches_host(web, "web-1", prod, 3));
    assert_false(vg_rule_matches_host(web, "web-1", eu, 2));
    assert_false(vg_rule_matches_host(web, "web-1", batch, 2));
    assert_false(vg_rule_matches_host(web, "db-1", prod, 3));
    assert_false(vg_rule_matches_host(web, "web-1", NULL, 0)); /* env="prod" needs env */
    assert_false(vg_rule_matches_host(web, "db-1", fake_host, 2));
    assert_true(vg_rule_matches_host(cpu, "anything", NULL, 0)); /* no select: every host */
    vg_rule_set_free(s);
}

/* ---- templates ---------------------------------------------------------------------------- */

static const char *label_env_prod(const void *ud, const char *name)
{
    (void)ud;
    return strcmp(name, "env") == 0 ? "prod" : NULL;
}

static void render(const char *src, const struct vg_tmpl_ctx *c, const char *want)
{
    struct vg_tmpl *t;
    char err[VG_ERRLEN], buf[512];
    size_t off;
    if (vg_tmpl_parse(src, 0, &t, &off, err, sizeof(err)) != 0)
        fail_msg("%s: %s", src, err);
    size_t need = vg_tmpl_render(t, c, buf, sizeof(buf));
    assert_string_equal(buf, want);
    assert_int_equal(need, strlen(want));
    vg_tmpl_free(t);
}

static void templates_substitute_every_variable(void **state)
{
    struct vg_tmpl_ctx c = {.rule = "DiskSlow",
                            .host = "web-1",
                            .severity = "critical",
                            .value = 12.5,
                            .score = 0.995,
                            .top_metrics = "disk.sda.await_ms=0.995",
                            .label = label_env_prod};
    render("{{ host }}: {{rule}} ({{ severity }})", &c, "web-1: DiskSlow (critical)");
    render("value {{ value }}, score {{ score }}", &c, "value 12.5, score 0.995");
    render("top: {{  top_metrics  }}", &c, "top: disk.sda.await_ms=0.995");
    render("[{{ labels.env }}][{{ labels.team }}]", &c, "[prod][]");
    render("no variables, { single } braces }}", &c, "no variables, { single } braces }}");
    render("", &c, "");
    c.value = NAN;
    c.score = NAN;
    c.top_metrics = NULL;
    c.label = NULL;
    render("{{ value }} {{ score }} {{ top_metrics }} [{{ labels.env }}]", &c, "n/a n/a n/a []");
}

static void rendering_truncates_at_a_character_boundary(void **state)
{
    struct vg_tmpl *t;
    char err[VG_ERRLEN];
    size_t off;
    assert_int_equal(vg_tmpl_parse("ab{{ host }}cd", 0, &t, &off, err, sizeof(err)), 0);
    struct vg_tmpl_ctx c = {.host = "\xc3\xa9t\xc3\xa9"}; /* "été" */
    char buf[16];
    memset(buf, 'X', sizeof(buf));
    /* "ab" + "é" needs 4 bytes and the NUL a fifth: é is left out whole, and so is the rest. */
    assert_int_equal(vg_tmpl_render(t, &c, buf, 4), 9);
    assert_string_equal(buf, "ab");
    assert_int_equal(vg_tmpl_render(t, &c, buf, 5), 9);
    assert_string_equal(buf, "ab\xc3\xa9");
    assert_int_equal(vg_tmpl_render(t, &c, buf, 10), 9);
    assert_string_equal(buf, "ab\xc3\xa9t\xc3\xa9"
                             "cd");
    buf[0] = 'X';
    assert_int_equal(vg_tmpl_render(t, &c, buf, 1), 9);
    assert_string_equal(buf, "");
    assert_int_equal(vg_tmpl_render(t, &c, NULL, 0), 9);
    vg_tmpl_free(t);
}

static void template_errors_point_at_the_variable(void **state)
{
    static const struct {
        const char *src;
        unsigned flags;
        size_t off;
        const char *msg;
    } cases[] = {
        {"x {{ nope }}", 0, 5,
         "unknown template variable 'nope' (the variables are host, rule, severity, value, "
         "score, top_metrics, labels.NAME)"},
        {"{{ label }}", 0, 3,
         "unknown template variable 'label' (write labels.NAME, e.g. {{ labels.env }})"},
        {"{{ top_metric }}", 0, 3,
         "unknown template variable 'top_metric' (did you mean "
         "'top_metrics'?)"},
        {"{{}}", 0, 0, "empty '{{ }}' (write e.g. {{ host }})"},
        {"{{ labels. }}", 0, 10, "'labels.' needs a label name, e.g. {{ labels.env }}"},
        {"{{ host rule }}", 0, 8,
         "unexpected 'r' in '{{ }}': one variable per '{{ }}', e.g. {{ host }}"},
        {"ok {{ host", 0, 3, "'{{' is not closed with '}}'"},
        {"{{ score }}", VG_TMPL_STABLE, 3,
         "{{ score }} changes at every evaluation, so a label cannot use it (each change would "
         "start a new alert); use it in annotations"},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        struct vg_tmpl *t = (struct vg_tmpl *)1;
        char err[VG_ERRLEN] = "";
        size_t off = 99;
        int rc = vg_tmpl_parse(cases[i].src, cases[i].flags, &t, &off, err, sizeof(err));
        if (rc != -EINVAL || strcmp(err, cases[i].msg) != 0 || off != cases[i].off)
            fail_msg("'%s': rc %d off %zu\n got: %s\nwant: off %zu %s", cases[i].src, rc, off, err,
                     cases[i].off, cases[i].msg);
        assert_null(t);
    }
}

static void a_rules_alert_carries_rendered_labels_and_annotations(void **state)
{
    struct vg_rule_set *s;
    char err[1024];
    assert_int_equal(vg_rule_set_load_dir(RULES_DATA "/good", &s, err, sizeof(err)), 0);
    const struct vg_rule *r = vg_rule_set_find(s, "WebLatency");
    struct host h = test_host();
    struct vg_expr_env env = env_of(&h);
    struct vg_rule_result res;
    assert_int_equal(vg_rule_eval(r, &env, &res), 0);
    assert_true(res.matched);
    assert_true(res.value == 0.995);
    assert_true(res.score == 0.995); /* series: ["disk.*"] leaves cpu and load out */
    assert_string_equal(res.top_metrics, "disk.sda.await_ms=0.995, disk.sdb.await_ms=0.2");

    struct vg_label hl[] = {{"env", "prod"}, {"team", "web"}};
    struct vg_kvlist l = {0};
    assert_int_equal(vg_rule_alert_labels(r, "web-1", hl, 2, &l), 0);
    assert_int_equal(l.n, 4);
    assert_string_equal(vg_kvlist_get(&l, "env"), "prod");
    assert_string_equal(vg_kvlist_get(&l, "host"), "web-1");
    assert_string_equal(vg_kvlist_get(&l, "team"), "storage"); /* the rule's label wins */
    assert_string_equal(vg_kvlist_get(&l, "where"), "prod/web-1");

    char buf[256];
    vg_rule_render_annotation(r, 0, "web-1", &l, &res, buf, sizeof(buf));
    assert_string_equal(buf, "web-1: disk latency anomaly (score 0.995, value 0.995)");
    vg_rule_render_annotation(r, 1, "web-1", &l, &res, buf, sizeof(buf));
    assert_string_equal(buf, "disk.sda.await_ms=0.995, disk.sdb.await_ms=0.2");
    vg_rule_render_annotation(r, 2, "web-1", &l, &res, buf, sizeof(buf));
    assert_string_equal(buf, "WebLatency (critical) for storage");
    assert_int_equal(vg_rule_render_annotation(r, 3, "web-1", &l, &res, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    vg_kvlist_free(&l);
    vg_rule_set_free(s);
}

static void top_metrics_keep_the_three_highest_scores_in_a_stable_order(void **state)
{
    static const struct series many[] = {
        {"b", 0, 0.5}, {"a", 0, 0.9}, {"c", 0, 0.5}, {"d", 0, 0.1}, {"e", 0, 0.95}, {"f", 0, 0.5},
    };
    struct vg_rule_set *s;
    char err[512];
    assert_int_equal(
        load_str("rules:\n  - name: X\n    when: top_score() > 0.9\n", &s, err, sizeof(err)), 0);
    struct host h = {many, VG_ARRAY_LEN(many), NULL, 0, 0, 0};
    struct vg_expr_env env = env_of(&h);
    struct vg_rule_result res;
    assert_int_equal(vg_rule_eval(vg_rule_set_rule(s, 0), &env, &res), 0);
    assert_true(res.matched);
    assert_string_equal(res.top_metrics, "e=0.95, a=0.9, b=0.5");
    /* No scores at all. */
    h.n = 0;
    assert_int_equal(vg_rule_eval(vg_rule_set_rule(s, 0), &env, &res), 0);
    assert_false(res.matched);
    assert_true(isnan(res.score));
    assert_string_equal(res.top_metrics, "");
    vg_rule_set_free(s);
}

/* ---- alert state -------------------------------------------------------------------------- */

#define S 1000

static void without_waits_a_rule_fires_and_resolves_at_once(void **state)
{
    struct vg_rule_state st = {0};
    assert_int_equal(vg_rule_state_step(&st, 0, 0, 0, 0, 10 * S), VG_RULE_EV_NONE);
    assert_int_equal(st.state, VG_RULE_STATE_INACTIVE);
    assert_int_equal(vg_rule_state_step(&st, 0, 0, 0, 1, 20 * S), VG_RULE_EV_FIRED);
    assert_int_equal(st.fired_at, 20 * S);
    assert_int_equal(vg_rule_state_step(&st, 0, 0, 0, 1, 30 * S), VG_RULE_EV_NONE);
    assert_int_equal(vg_rule_state_step(&st, 0, 0, 0, 0, 40 * S), VG_RULE_EV_RESOLVED);
    assert_int_equal(st.state, VG_RULE_STATE_RESOLVED);
    assert_int_equal(st.resolved_at, 40 * S);
    assert_string_equal(vg_rule_state_name(st.state), "resolved");
    assert_int_equal(vg_rule_state_step(&st, 0, 0, 0, 0, 50 * S), VG_RULE_EV_NONE);
    /* A new firing after a resolve is a new alert. */
    assert_int_equal(vg_rule_state_step(&st, 0, 0, 0, 1, 60 * S), VG_RULE_EV_FIRED);
    assert_int_equal(st.fired_at, 60 * S);
    assert_int_equal(st.resolved_at, 0);
}

static void for_waits_and_a_false_step_restarts_the_wait(void **state)
{
    const int64_t for_ms = 120 * S;
    struct vg_rule_state st = {0};
    assert_int_equal(vg_rule_state_step(&st, for_ms, 0, 0, 1, 0), VG_RULE_EV_PENDING);
    assert_int_equal(vg_rule_state_step(&st, for_ms, 0, 0, 1, 60 * S), VG_RULE_EV_NONE);
    assert_int_equal(st.state, VG_RULE_STATE_PENDING);
    /* Pending never fired: dropping back sends nothing. */
    assert_int_equal(vg_rule_state_step(&st, for_ms, 0, 0, 0, 90 * S), VG_RULE_EV_NONE);
    assert_int_equal(st.state, VG_RULE_STATE_INACTIVE);
    assert_int_equal(vg_rule_state_step(&st, for_ms, 0, 0, 1, 100 * S), VG_RULE_EV_PENDING);
    assert_int_equal(vg_rule_state_step(&st, for_ms, 0, 0, 1, 219 * S), VG_RULE_EV_NONE);
    assert_int_equal(vg_rule_state_step(&st, for_ms, 0, 0, 1, 220 * S), VG_RULE_EV_FIRED);
    assert_int_equal(st.fired_at, 220 * S);
    assert_int_equal(st.active_since, 100 * S);
}

static void keep_firing_for_holds_through_short_dropouts(void **state)
{
    const int64_t keep = 30 * S;
    struct vg_rule_state st = {0};
    assert_int_equal(vg_rule_state_step(&st, 0, keep, 0, 1, 0), VG_RULE_EV_FIRED);
    assert_int_equal(vg_rule_state_step(&st, 0, keep, 0, 0, 10 * S), VG_RULE_EV_NONE);
    assert_int_equal(st.state, VG_RULE_STATE_FIRING);
    assert_int_equal(vg_rule_state_step(&st, 0, keep, 0, 1, 20 * S), VG_RULE_EV_NONE); /* back */
    assert_int_equal(vg_rule_state_step(&st, 0, keep, 0, 0, 30 * S), VG_RULE_EV_NONE);
    assert_int_equal(vg_rule_state_step(&st, 0, keep, 0, 0, 49 * S), VG_RULE_EV_NONE);
    /* 30 s after it was last true. */
    assert_int_equal(vg_rule_state_step(&st, 0, keep, 0, 0, 50 * S), VG_RULE_EV_RESOLVED);
    assert_int_equal(st.fired_at, 0);
}

static void a_clock_stepping_back_restarts_the_wait(void **state)
{
    const int64_t for_ms = 120 * S;
    struct vg_rule_state st = {0};
    assert_int_equal(vg_rule_state_step(&st, for_ms, 0, 0, 1, 1000 * S), VG_RULE_EV_PENDING);
    /* The host's clock jumps back 500 s: the wait counts from there, not from 1000 s. */
    assert_int_equal(vg_rule_state_step(&st, for_ms, 0, 0, 1, 500 * S), VG_RULE_EV_NONE);
    assert_int_equal(vg_rule_state_step(&st, for_ms, 0, 0, 1, 619 * S), VG_RULE_EV_NONE);
    assert_int_equal(vg_rule_state_step(&st, for_ms, 0, 0, 1, 620 * S), VG_RULE_EV_FIRED);
}

/* Waits count observed time only: a step of more than gap_ms between two evaluations (a reboot,
 * a stopped agent, one message stamped a day ahead) restarts a running `for` and a running
 * keep_firing_for at the later one; steps up to gap_ms are counted as before. */
static void a_gap_longer_than_gap_ms_restarts_the_wait(void **state)
{
    const int64_t for_ms = 300 * S, keep = 120 * S, gap = 300 * S;
    struct vg_rule_state st = {0};
    assert_int_equal(vg_rule_state_step(&st, for_ms, keep, gap, 1, 40 * S), VG_RULE_EV_PENDING);
    assert_int_equal(vg_rule_state_step(&st, for_ms, keep, gap, 1, 640 * S), VG_RULE_EV_NONE);
    assert_int_equal(st.active_since, 640 * S);
    assert_int_equal(vg_rule_state_step(&st, for_ms, keep, gap, 1, 940 * S), VG_RULE_EV_FIRED);
    assert_int_equal(vg_rule_state_step(&st, for_ms, keep, gap, 0, 950 * S), VG_RULE_EV_NONE);
    assert_int_equal(vg_rule_state_step(&st, for_ms, keep, gap, 0, 1550 * S), VG_RULE_EV_NONE);
    assert_int_equal(vg_rule_state_step(&st, for_ms, keep, gap, 0, 1669 * S), VG_RULE_EV_NONE);
    assert_int_equal(vg_rule_state_step(&st, for_ms, keep, gap, 0, 1670 * S), VG_RULE_EV_RESOLVED);

    /* One true evaluation stamped a day ahead, then the right time: nothing fires. */
    struct vg_rule_state f = {0};
    assert_int_equal(vg_rule_state_step(&f, for_ms, keep, gap, 1, 40 * S), VG_RULE_EV_PENDING);
    assert_int_equal(vg_rule_state_step(&f, for_ms, keep, gap, 1, 86440 * S), VG_RULE_EV_NONE);
    assert_int_equal(vg_rule_state_step(&f, for_ms, keep, gap, 0, 42 * S), VG_RULE_EV_NONE);
    assert_int_equal(f.state, VG_RULE_STATE_INACTIVE);
}

/* Fired on a message stamped ahead, resolved after the host's clock came back: the resolve is
 * not stamped before the fire (a receiver would get an alert that ended before it started). */
static void a_resolve_is_never_stamped_before_its_fire(void **state)
{
    struct vg_rule_state st = {0};
    assert_int_equal(vg_rule_state_step(&st, 0, 0, 300 * S, 1, 86440 * S), VG_RULE_EV_FIRED);
    assert_int_equal(vg_rule_state_step(&st, 0, 0, 300 * S, 0, 42 * S), VG_RULE_EV_RESOLVED);
    assert_int_equal(st.resolved_at, 86440 * S);
}

/* ---- fingerprints ------------------------------------------------------------------------- */

static void fingerprints_depend_on_rule_and_label_set_only(void **state)
{
    struct vg_kv a[] = {{"host", "web-1"}, {"env", "prod"}, {"team", "infra"}};
    struct vg_kv b[] = {{"team", "infra"}, {"host", "web-1"}, {"env", "prod"}};
    char fa[VG_RULE_FINGERPRINT_LEN], fb[VG_RULE_FINGERPRINT_LEN], fc[VG_RULE_FINGERPRINT_LEN];
    vg_rule_fingerprint("HostAnomaly", a, 3, fa);
    vg_rule_fingerprint("HostAnomaly", b, 3, fb);
    assert_string_equal(fa, fb); /* order of the labels does not matter */
    assert_int_equal(strlen(fa), 16);
    /* Receivers store fingerprints: this value must never change between versions. It is
     * FNV-1a 64 over "HostAnomaly\xff" then "env\xffprod\xffhost\xffweb-1\xffteam\xffinfra\xff". */
    assert_string_equal(fa, "89b364a9b4ea1bdc");
    assert_string_equal(b[0].key, "team"); /* the caller's array is left as it was */

    vg_rule_fingerprint("HostAnomaly2", a, 3, fc);
    assert_string_not_equal(fa, fc);
    struct vg_kv c[] = {{"host", "web-2"}, {"env", "prod"}, {"team", "infra"}};
    vg_rule_fingerprint("HostAnomaly", c, 3, fc);
    assert_string_not_equal(fa, fc);
    /* Where one string ends and the next begins matters. */
    struct vg_kv d1[] = {{"ab", "c"}}, d2[] = {{"a", "bc"}};
    vg_rule_fingerprint("R", d1, 1, fb);
    vg_rule_fingerprint("R", d2, 1, fc);
    assert_string_not_equal(fb, fc);
    vg_rule_fingerprint("R", NULL, 0, fc);
    assert_int_equal(strlen(fc), 16);
}

static void an_alert_has_the_same_fingerprint_at_fire_and_resolve(void **state)
{
    struct vg_rule_set *s;
    char err[1024];
    assert_int_equal(vg_rule_set_load_dir(RULES_DATA "/good", &s, err, sizeof(err)), 0);
    const struct vg_rule *r = vg_rule_set_find(s, "WebLatency");
    struct vg_label hl[] = {{"zone", "us-east"}, {"env", "prod"}};
    struct vg_label hl_reordered[] = {{"env", "prod"}, {"zone", "us-east"}};
    char at_fire[VG_RULE_FINGERPRINT_LEN], at_resolve[VG_RULE_FINGERPRINT_LEN];
    struct vg_kvlist l = {0};
    assert_int_equal(vg_rule_alert_labels(r, "web-1", hl, 2, &l), 0);
    vg_rule_fingerprint(vg_rule_name(r), l.items, l.n, at_fire);
    vg_kvlist_free(&l);
    /* Later message, labels listed in another order, the rule reloaded from disk. */
    vg_rule_set_free(s);
    assert_int_equal(vg_rule_set_load_dir(RULES_DATA "/good", &s, err, sizeof(err)), 0);
    r = vg_rule_set_find(s, "WebLatency");
    assert_int_equal(vg_rule_alert_labels(r, "web-1", hl_reordered, 2, &l), 0);
    vg_rule_fingerprint(vg_rule_name(r), l.items, l.n, at_resolve);
    vg_kvlist_free(&l);
    assert_string_equal(at_fire, at_resolve);
    vg_rule_set_free(s);
}

/* The analyzer keeps samples only of the series a window function reads, in a rule's
 * condition or a scaling policy's metric; value() and score() need none. */
static void only_series_read_by_a_window_function_need_samples(void **state)
{
    (void)state;
    struct vg_rule_set *s = NULL;
    char err[1024];
    assert_int_equal(
        load_str("rules:\n"
                 "  - name: A\n"
                 "    when: avg_over(\"disk.util\", 1m) > 50 and value(\"load.1\") > 2\n"
                 "  - name: B\n"
                 "    when: score(\"cpu.*\") > 0.99 or rate(\"net.rx\", 30s) > 1000\n"
                 "scaling:\n"
                 "  - target: web\n"
                 "    metric: max_over(\"cpu.user_pct\", 5m)\n"
                 "    target_value: 60\n"
                 "    min: 1\n"
                 "    max: 4\n",
                 &s, err, sizeof(err)),
        0);
    assert_true(vg_rule_set_reads_window_of(s, "disk.util"));
    assert_true(vg_rule_set_reads_window_of(s, "net.rx"));
    assert_true(vg_rule_set_reads_window_of(s, "cpu.user_pct"));
    assert_false(vg_rule_set_reads_window_of(s, "load.1"));
    assert_false(vg_rule_set_reads_window_of(s, "cpu.sys_pct")); /* score()'s pattern: no */
    assert_false(vg_rule_set_reads_window_of(s, "disk"));
    assert_false(vg_rule_set_reads_window_of(NULL, "disk.util"));
    vg_rule_set_free(s);
}

/* A step policy's vote on one host: 1 scale out, 0 false (may scale in), -1 unknown (no vote). */
static int step_vote(const char *when)
{
    char yaml[1024];
    snprintf(yaml, sizeof(yaml), "scaling:\n  - target: web\n    when: '%s'\n    max: 4\n", when);
    struct vg_rule_set *s = NULL;
    char err[1024] = "";
    if (load_str(yaml, &s, err, sizeof(err)) != 0)
        fail_msg("%s: %s", when, err);
    struct host h = test_host();
    struct vg_expr_env env = env_of(&h);
    double v;
    int cond = 99;
    assert_int_equal(vg_rule_policy_eval(vg_rule_set_policy(s, 0), &env, &v, &cond), 0);
    vg_rule_set_free(s);
    return cond;
}

/* The vote is the three-valued result of the whole condition, whatever the order of its operands:
 * a host whose condition missing data left undecided must not vote for scaling in. */
static void a_step_policy_votes_unknown_when_missing_data_decides(void **state)
{
    (void)state;
    static const struct {
        const char *when;
        int cond;
    } cases[] = {
        {"value(\"cpu.user_pct\") > 1 and value(\"nope\") > 1", -1},
        {"value(\"nope\") > 1 and value(\"cpu.user_pct\") > 1", -1},
        {"value(\"cpu.user_pct\") > 100 or value(\"nope\") > 1", -1},
        {"value(\"nope\") > 1 or value(\"cpu.user_pct\") > 100", -1},
        {"not (value(\"cpu.user_pct\") > 1 and value(\"nope\") > 1)", -1},
        /* A false side decides `and`, a true side `or`, missing data or not. */
        {"value(\"cpu.user_pct\") > 100 and value(\"nope\") > 1", 0},
        {"value(\"nope\") > 1 and value(\"cpu.user_pct\") > 100", 0},
        {"value(\"nope\") > 1 or value(\"cpu.user_pct\") > 90", 1},
        {"value(\"cpu.user_pct\") > 100", 0},
        {"value(\"cpu.user_pct\") > 90", 1},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        int cond = step_vote(cases[i].when);
        if (cond != cases[i].cond)
            fail_msg("%s: vote %d, want %d", cases[i].when, cond, cases[i].cond);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_error_fixture_gives_its_exact_message),
        cmocka_unit_test(only_series_read_by_a_window_function_need_samples),
        cmocka_unit_test(every_error_fixture_has_an_expected_message),
        cmocka_unit_test(duplicate_names_across_files_name_both_places),
        cmocka_unit_test(every_mistake_of_a_file_is_reported),
        cmocka_unit_test(a_severity_label_that_is_no_severity_points_at_the_key_not_a_value),
        cmocka_unit_test(a_long_error_list_ends_at_a_whole_line_with_the_count_left_out),
        cmocka_unit_test(a_check_load_keeps_what_parsed_and_its_list_can_be_continued),
        cmocka_unit_test(errors_inside_scalars_are_placed_at_their_line_and_column),
        cmocka_unit_test(error_column_is_exact_after_anchor_and_tag),
        cmocka_unit_test(label_name_longer_than_200_is_refused),
        cmocka_unit_test(empty_series_list_is_refused),
        cmocka_unit_test(a_rules_for_is_a_strict_duration),
        cmocka_unit_test(a_yaml_syntax_error_names_where_the_unclosed_quote_or_bracket_started),
        cmocka_unit_test(a_missing_directory_is_an_error),
        cmocka_unit_test(a_directory_loads_yaml_and_yml_files_in_name_order),
        cmocka_unit_test(the_shipped_examples_load_without_errors),
        cmocka_unit_test(the_examples_say_what_they_measure),
        cmocka_unit_test(the_examples_in_the_documentation_load),
        cmocka_unit_test(empty_files_documents_and_lists_are_valid),
        cmocka_unit_test(anchors_and_aliases_share_values),
        cmocka_unit_test(a_failed_reload_leaves_the_running_set_usable),
        cmocka_unit_test(a_rule_file_of_more_than_4_mib_is_refused_to_the_byte),
        cmocka_unit_test(a_subdirectory_is_skipped_and_an_unreadable_file_is_listed_with_the_rest),
        cmocka_unit_test(files_without_a_rule_files_name_are_listed_as_skipped),
        cmocka_unit_test(arithmetic_and_logic_follow_precedence),
        cmocka_unit_test(functions_read_the_hosts_series),
        cmocka_unit_test(missing_data_never_makes_a_condition_true),
        cmocka_unit_test(division_by_zero_and_overflow_match_nothing),
        cmocka_unit_test(and_or_stop_at_the_first_deciding_side),
        cmocka_unit_test(a_failing_callback_aborts_the_evaluation),
        cmocka_unit_test(the_series_list_restricts_score_and_top_score),
        cmocka_unit_test(expression_errors_point_at_the_offending_token),
        cmocka_unit_test(score_comparisons_that_can_hold_still_load),
        cmocka_unit_test(deep_nesting_is_refused_not_overflowed),
        cmocka_unit_test(nesting_is_limited_to_100_levels_of_parentheses_not_and_minus),
        cmocka_unit_test(deep_nesting_fits_a_small_stack),
        cmocka_unit_test(the_longest_window_is_reported),
        cmocka_unit_test(a_set_lists_the_host_models_it_reads_with_their_places),
        cmocka_unit_test(windows_longer_than_a_day_are_refused_where_they_are_written),
        cmocka_unit_test(matchers_compare_regex_anchored_and_absent_as_empty),
        cmocka_unit_test(matcher_values_undo_escaped_quotes),
        cmocka_unit_test(bad_matchers_are_refused_with_a_position),
        cmocka_unit_test(bracketed_or_escaped_backslash_digits_are_not_backreferences),
        cmocka_unit_test(a_rule_applies_to_hosts_matching_all_its_matchers),
        cmocka_unit_test(templates_substitute_every_variable),
        cmocka_unit_test(rendering_truncates_at_a_character_boundary),
        cmocka_unit_test(template_errors_point_at_the_variable),
        cmocka_unit_test(a_rules_alert_carries_rendered_labels_and_annotations),
        cmocka_unit_test(top_metrics_keep_the_three_highest_scores_in_a_stable_order),
        cmocka_unit_test(without_waits_a_rule_fires_and_resolves_at_once),
        cmocka_unit_test(for_waits_and_a_false_step_restarts_the_wait),
        cmocka_unit_test(keep_firing_for_holds_through_short_dropouts),
        cmocka_unit_test(a_clock_stepping_back_restarts_the_wait),
        cmocka_unit_test(a_gap_longer_than_gap_ms_restarts_the_wait),
        cmocka_unit_test(a_resolve_is_never_stamped_before_its_fire),
        cmocka_unit_test(fingerprints_depend_on_rule_and_label_set_only),
        cmocka_unit_test(an_alert_has_the_same_fingerprint_at_fire_and_resolve),
        cmocka_unit_test(a_step_policy_votes_unknown_when_missing_data_decides),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
