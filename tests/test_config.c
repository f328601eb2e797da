/* The table-driven config: defaults, YAML, errors with file:line:column, --set, env, maps. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vg_config.h"
#include "vg_util.h"

struct cfg {
    char *name;
    int64_t count;
    double ratio;
    int enabled;
    int64_t timeout_ms;
    int64_t max_bytes;
    struct vg_kvlist kafka;
    char *hook_url;
    char *level;
};

#define OFF(f) offsetof(struct cfg, f)
VG_CFG_KEYS_BEGIN
static const struct vg_cfg_key keys[] = {
    {"name", VG_CFG_STRING, "vigil", OFF(name), 1, 0, "TEST_VG_NAME", "a name"},
    {"count", VG_CFG_INT, "3", OFF(count), 1, 10, NULL, "a count"},
    {"ratio", VG_CFG_DOUBLE, "0.5", OFF(ratio), 0, 1, NULL, "a ratio"},
    {"enabled", VG_CFG_BOOL, "false", OFF(enabled), 1, 0, NULL, "a switch"},
    {"timeout", VG_CFG_DURATION, "5s", OFF(timeout_ms), 0, 60000, NULL, "a timeout"},
    {"max_bytes", VG_CFG_SIZE, "1MiB", OFF(max_bytes), 1, 0, NULL, "a size"},
    {"kafka", VG_CFG_MAP, NULL, OFF(kafka), 1, 0, NULL, "properties"},
    {"webhook.url", VG_CFG_STRING, NULL, OFF(hook_url), 1, 0, NULL, "nested key"},
    {"log.level", VG_CFG_STRING, "info", OFF(level), 1, 0, "TEST_VG_LEVEL", "a level",
     "debug|info|warn|error"},
};
VG_CFG_KEYS_END
static const struct vg_config_table table = {keys, sizeof(keys) / sizeof(keys[0])};

static int load(struct cfg *c, const char *yaml, char *err)
{
    memset(c, 0, sizeof(*c));
    int rc = vg_config_defaults(&table, c, err, VG_ERRLEN);
    if (rc)
        return rc;
    return vg_config_load_buffer(&table, c, "t.yaml", yaml, strlen(yaml), err, VG_ERRLEN);
}

static void defaults_apply_when_file_is_empty(void **state)
{
    struct cfg c;
    char err[VG_ERRLEN];
    assert_int_equal(load(&c, "", err), 0);
    assert_string_equal(c.name, "vigil");
    assert_int_equal(c.count, 3);
    assert_true(c.ratio == 0.5);
    assert_int_equal(c.enabled, 0);
    assert_int_equal(c.timeout_ms, 5000);
    assert_int_equal(c.max_bytes, 1048576);
    assert_null(c.hook_url);
    vg_config_free(&table, &c);
}

static void yaml_values_nested_sections_and_maps_are_read(void **state)
{
    struct cfg c;
    char err[VG_ERRLEN] = "";
    const char *y = "name: web\ncount: 7\nratio: 0.25\nenabled: yes\ntimeout: 250ms\n"
                    "max_bytes: 64KiB\nwebhook:\n  url: http://x/y\n"
                    "kafka:\n  bootstrap.servers: a:9092\n  security:\n    protocol: SSL\n";
    assert_int_equal(load(&c, y, err), 0);
    assert_string_equal(c.name, "web");
    assert_int_equal(c.count, 7);
    assert_true(c.ratio == 0.25);
    assert_int_equal(c.enabled, 1);
    assert_int_equal(c.timeout_ms, 250);
    assert_int_equal(c.max_bytes, 65536);
    assert_string_equal(c.hook_url, "http://x/y");
    assert_string_equal(vg_kvlist_get(&c.kafka, "bootstrap.servers"), "a:9092");
    assert_string_equal(vg_kvlist_get(&c.kafka, "security.protocol"), "SSL");
    vg_config_free(&table, &c);
}

static void unknown_key_is_rejected_with_position_and_suggestion(void **state)
{
    struct cfg c;
    char err[VG_ERRLEN] = "";
    assert_int_equal(load(&c, "name: a\ncuont: 3\n", err), -EINVAL);
    assert_string_equal(err, "t.yaml:2:1: unknown key 'cuont' (did you mean 'count'?)");
    vg_config_free(&table, &c);
    assert_int_equal(load(&c, "webhook:\n  ulr: x\n", err), -EINVAL);
    assert_string_equal(err, "t.yaml:2:3: unknown key 'webhook.ulr' (did you mean 'webhook.url'?)");
    vg_config_free(&table, &c);
    assert_int_equal(load(&c, "zzzzzzzz: 1\n", err), -EINVAL);
    assert_string_equal(err,
                        "t.yaml:1:1: unknown key 'zzzzzzzz' (see --help for the list of keys)");
    vg_config_free(&table, &c);
    /* A program reading another's keys (vigilctl) names where they are listed, in files and in
     * --set alike; NULL is the default again. */
    vg_config_set_keys_hint("see 'other --help' for the list of keys");
    assert_int_equal(load(&c, "zzzzzzzz: 1\n", err), -EINVAL);
    assert_string_equal(
        err, "t.yaml:1:1: unknown key 'zzzzzzzz' (see 'other --help' for the list of keys)");
    vg_config_free(&table, &c);
    memset(&c, 0, sizeof c);
    assert_int_equal(vg_config_defaults(&table, &c, err, sizeof err), 0);
    assert_int_equal(vg_config_set_arg(&table, &c, "zzzzzzzz=1", err, sizeof err), -EINVAL);
    assert_string_equal(err,
                        "--set: unknown key 'zzzzzzzz' (see 'other --help' for the list of keys)");
    vg_config_free(&table, &c);
    vg_config_set_keys_hint(NULL);
    assert_int_equal(load(&c, "zzzzzzzz: 1\n", err), -EINVAL);
    assert_string_equal(err,
                        "t.yaml:1:1: unknown key 'zzzzzzzz' (see --help for the list of keys)");
    vg_config_free(&table, &c);
}

static void out_of_range_and_mistyped_values_name_the_key(void **state)
{
    struct cfg c;
    char err[VG_ERRLEN] = "";
    assert_int_equal(load(&c, "count: 11\n", err), -ERANGE);
    assert_string_equal(err, "t.yaml:1:8: count must be between 1 and 10");
    vg_config_free(&table, &c);
    assert_int_equal(load(&c, "count: many\n", err), -EINVAL);
    assert_string_equal(err, "t.yaml:1:8: count: 'many' is not an integer");
    vg_config_free(&table, &c);
    assert_int_equal(load(&c, "timeout: 5\n", err), -EINVAL);
    assert_string_equal(
        err, "t.yaml:1:10: timeout: '5' is not a duration (write e.g. 250ms, 5s, 2m, 1h)");
    vg_config_free(&table, &c);
    assert_int_equal(load(&c, "enabled: maybe\n", err), -EINVAL);
    assert_string_equal(err, "t.yaml:1:10: enabled: 'maybe' is not a boolean (true or false)");
    vg_config_free(&table, &c);
    assert_int_equal(load(&c, "ratio: nan\n", err), -EINVAL);
    assert_string_equal(err, "t.yaml:1:8: ratio: 'nan' is not a finite number");
    vg_config_free(&table, &c);
    assert_int_equal(load(&c, "count:\n  - 1\n", err), -EINVAL);
    assert_string_equal(err, "t.yaml:2:3: count must be an integer, not a list");
    vg_config_free(&table, &c);
}

/* A key written with no value: the daemons rely on a string with a default being set, so it is
 * refused where it is; one unset by default is cleared. */
static void key_without_value_is_refused_unless_unset_by_default(void **state)
{
    struct cfg c;
    char err[VG_ERRLEN] = "";
    assert_int_equal(load(&c, "name:\n", err), -EINVAL);
    assert_string_equal(err, "t.yaml:1:6: name has no value: write one, \"\" for an empty one, or "
                             "leave the key out for its default 'vigil'");
    vg_config_free(&table, &c);
    assert_int_equal(load(&c, "count: ~\n", err), -EINVAL);
    assert_string_equal(err, "t.yaml:1:8: count needs an integer value");
    vg_config_free(&table, &c);
    assert_int_equal(load(&c, "webhook:\n  url: https://a.example\nwebhook:\n  url:\n", err),
                     -EINVAL); /* written twice: refused as such */
    vg_config_free(&table, &c);
    assert_int_equal(load(&c, "webhook:\n  url:\nname: \"\"\n", err), 0);
    assert_null(c.hook_url);
    assert_string_equal(c.name, "");
    vg_config_free(&table, &c);
    (void)state;
}

static void duplicate_key_and_yaml_syntax_errors_are_reported(void **state)
{
    struct cfg c;
    char err[VG_ERRLEN] = "";
    assert_int_equal(load(&c, "count: 2\ncount: 3\n", err), -EINVAL);
    assert_string_equal(err, "t.yaml:2:1: key 'count' is set twice");
    vg_config_free(&table, &c);
    /* A section (or a map) written twice: its second block's keys were merged into the first's
     * without a word, while a key written twice was refused. */
    assert_int_equal(load(&c, "kafka:\n  acks: all\nkafka:\n  linger.ms: 5\n", err), -EINVAL);
    assert_string_equal(err, "t.yaml:3:1: 'kafka:' is written twice; put all its keys under one "
                             "'kafka:'");
    vg_config_free(&table, &c);
    assert_int_equal(
        load(&c, "log:\n  level: info\nwebhook:\n  url: https://a.example\nlog:\n  level: warn\n",
             err),
        -EINVAL);
    assert_string_equal(err, "t.yaml:5:1: 'log:' is written twice; put all its keys under one "
                             "'log:'");
    vg_config_free(&table, &c);
    assert_int_equal(load(&c, "name: a\n\tcount: 2\n", err), -EINVAL);
    assert_non_null(strstr(err, "t.yaml:2:1: YAML syntax error: found a tab character"));
    vg_config_free(&table, &c);
    /* libyaml gives bytes that are not UTF-8 as an offset: placed where they are, not at 1:1 */
    assert_int_equal(load(&c, "count: 2\nname: \"d\xc3\xa9j\xc3\xa0\" \xff\n", err), -EINVAL);
    assert_string_equal(err, "t.yaml:2:14: YAML syntax error: invalid leading UTF-8 octet");
    vg_config_free(&table, &c);
    /* A section's name with a value: say what to write instead of "unknown key". */
    assert_int_equal(load(&c, "webhook: https://a.example/x\n", err), -EINVAL);
    assert_string_equal(err, "t.yaml:1:10: 'webhook' is a section, not a value: write its keys "
                             "as a map under it (e.g. webhook.url as 'url:' indented under "
                             "'webhook:')");
    vg_config_free(&table, &c);
    assert_int_equal(load(&c, "- a\n- b\n", err), -EINVAL);
    assert_string_equal(err, "t.yaml:1:1: the config must be a map of key: value");
    vg_config_free(&table, &c);
}

/* A document cut short is a syntax error at its line:column, found before any key is checked:
 * not a type error of the value read so far, nor an unknown key that comes before it. */
static void truncated_yaml_is_a_syntax_error_before_any_key_check(void **state)
{
    (void)state;
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"webhook:\n  url: [\n",
         "t.yaml:3:1: YAML syntax error: did not find expected node content"},
        {"a: [\n", "t.yaml:2:1: YAML syntax error: did not find expected node content"},
        {"count: 2\nnope: 1\nname: {x: 1\n", "t.yaml:4:1: YAML syntax error: did not find "
                                             "expected ',' or '}' while parsing a flow mapping "
                                             "that started at 3:7"},
        /* the end of the file is where libyaml notices; the quote left open is named too */
        {"count: 2\nname: \"abc\nnope: 1\n", "t.yaml:4:1: YAML syntax error: found unexpected "
                                             "end of stream while scanning a quoted scalar that "
                                             "started at 2:7"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cfg c;
        char err[VG_ERRLEN] = "";
        int rc = load(&c, cases[i].yaml, err);
        if (rc != -EINVAL || strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("'%s': rc %d, err '%s', want '%s'", cases[i].yaml, rc, err, cases[i].want);
        vg_config_free(&table, &c);
    }
}

/* A value checked after loading (by the daemon, not the table) is still reported where it was
 * set: the file's line and column, the environment variable or --set. */
static void values_checked_after_loading_are_placed_where_they_were_set(void **state)
{
    struct cfg c = {0};
    char err[VG_ERRLEN];
    char path[] = "/tmp/vigil-where-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *yaml = "count: 2\nwebhook:\n  url: ftp://a.example\nkafka:\n  acks: 2\n";
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    setenv("TEST_VG_NAME", "from-env", 1);
    char set[] = "ratio=0.25";
    char *sets[] = {set};
    assert_int_equal(vg_config_load_all(&table, &c, path, sets, 1, err, sizeof err), 0);
    unsetenv("TEST_VG_NAME");
    char want[600];
    snprintf(want, sizeof want, "%s:3:8", path);
    assert_string_equal(vg_config_where("webhook.url"), want);
    snprintf(want, sizeof want, "%s:4:1", path);
    assert_string_equal(vg_config_where("kafka"), want);
    snprintf(want, sizeof want, "%s:5:9", path);
    assert_string_equal(vg_config_where("kafka.acks"), want);
    /* A map entry's key is placed too, for a message about its name rather than its value;
     * other keys are where their value is. */
    snprintf(want, sizeof want, "%s:5:3", path);
    assert_string_equal(vg_config_where_key("kafka.acks"), want);
    snprintf(want, sizeof want, "%s:3:8", path);
    assert_string_equal(vg_config_where_key("webhook.url"), want);
    assert_string_equal(vg_config_where_key("ratio"), "--set");
    assert_null(vg_config_where_key("timeout"));
    assert_string_equal(vg_config_where("name"), "environment TEST_VG_NAME");
    assert_string_equal(vg_config_where("ratio"), "--set");
    assert_null(vg_config_where("timeout")); /* its default */

    snprintf(err, sizeof err, "webhook.url: 'ftp://a.example' must be http(s)");
    vg_config_locate(err, sizeof err);
    snprintf(want, sizeof want, "%s:3:8: webhook.url: 'ftp://a.example' must be http(s)", path);
    assert_string_equal(err, want);
    snprintf(err, sizeof err, "kafka property 'acks': Invalid value");
    vg_config_locate(err, sizeof err);
    snprintf(want, sizeof want, "%s:5:9: kafka property 'acks': Invalid value", path);
    assert_string_equal(err, want);
    /* A property librdkafka does not know: the mistyped key is what the user must find. */
    snprintf(err, sizeof err, "kafka property 'acks': No such configuration property: \"acks\"");
    vg_config_locate(err, sizeof err);
    snprintf(want, sizeof want,
             "%s:5:3: kafka property 'acks': No such configuration property: \"acks\"", path);
    assert_string_equal(err, want);
    snprintf(err, sizeof err, "t.yaml:1:1: already placed");
    vg_config_locate(err, sizeof err);
    assert_string_equal(err, "t.yaml:1:1: already placed");
    /* An entry --set over the file's is the --set's, key and all. */
    assert_int_equal(vg_config_set_arg(&table, &c, "kafka.acks=1", err, sizeof err), 0);
    assert_string_equal(vg_config_where_key("kafka.acks"), "--set");
    vg_config_free(&table, &c);
    unlink(path);
    (void)state;
}

static void set_args_and_environment_override_the_file(void **state)
{
    struct cfg c;
    char err[VG_ERRLEN] = "";
    assert_int_equal(load(&c, "name: file\n", err), 0);
    setenv("TEST_VG_NAME", "env", 1);
    assert_int_equal(vg_config_apply_env(&table, &c, err, sizeof(err)), 0);
    unsetenv("TEST_VG_NAME");
    assert_string_equal(c.name, "env");
    assert_int_equal(vg_config_set_arg(&table, &c, "name=cli", err, sizeof(err)), 0);
    assert_string_equal(c.name, "cli");
    assert_int_equal(vg_config_set_arg(&table, &c, "kafka.linger.ms=5", err, sizeof(err)), 0);
    assert_string_equal(vg_kvlist_get(&c.kafka, "linger.ms"), "5");
    assert_int_equal(vg_config_set_arg(&table, &c, "count", err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "--set 'count': expected KEY=VALUE");
    assert_int_equal(vg_config_set_arg(&table, &c, "cont=1", err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "--set: unknown key 'cont' (did you mean 'count'?)");
    assert_int_equal(vg_config_set_arg(&table, &c, "kafka=x", err, sizeof(err)), -EINVAL);
    assert_string_equal(err,
                        "--set: 'kafka' is a map: set one entry at a time, as kafka.KEY=VALUE");
    vg_config_free(&table, &c);
}

/* A key with choices takes one of them, from the file as from anywhere else; any other value is
 * refused where it was written, naming the allowed ones and the likely one. */
static void value_outside_choices_is_refused_at_its_file_line_and_column(void **state)
{
    struct cfg c;
    char err[VG_ERRLEN] = "";
    assert_int_equal(load(&c, "log:\n  level: warn\n", err), 0);
    assert_string_equal(c.level, "warn");
    vg_config_free(&table, &c);
    assert_int_equal(load(&c, "count: 2\nlog:\n  level: loud\n", err), -EINVAL);
    assert_string_equal(err, "t.yaml:3:10: log.level: 'loud' is not one of debug, info, warn, "
                             "error");
    vg_config_free(&table, &c);
    assert_int_equal(load(&c, "log:\n  level: wran\n", err), -EINVAL);
    assert_string_equal(err, "t.yaml:2:10: log.level: 'wran' is not one of debug, info, warn, "
                             "error (did you mean 'warn'?)");
    vg_config_free(&table, &c);
    /* Compared exactly, as the daemons compare them. */
    assert_int_equal(load(&c, "log.level: INFO\n", err), -EINVAL);
    assert_string_equal(err, "t.yaml:1:12: log.level: 'INFO' is not one of debug, info, warn, "
                             "error (did you mean 'info'?)");
    vg_config_free(&table, &c);
    /* "" is a value like another; no value at all says what to write. */
    assert_int_equal(load(&c, "log.level: \"\"\n", err), -EINVAL);
    assert_string_equal(err, "t.yaml:1:12: log.level: '' is not one of debug, info, warn, error");
    vg_config_free(&table, &c);
    assert_int_equal(load(&c, "log.level:\n", err), -EINVAL);
    assert_string_equal(err, "t.yaml:1:11: log.level has no value: write one of debug, info, "
                             "warn, error, or leave the key out for its default 'info'");
    vg_config_free(&table, &c);
    (void)state;
}

static void value_outside_choices_from_environment_or_set_names_its_origin(void **state)
{
    struct cfg c;
    char err[VG_ERRLEN] = "";
    assert_int_equal(load(&c, "log.level: debug\n", err), 0);
    setenv("TEST_VG_LEVEL", "verbose", 1);
    assert_int_equal(vg_config_apply_env(&table, &c, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "environment TEST_VG_LEVEL: log.level: 'verbose' is not one of "
                             "debug, info, warn, error");
    setenv("TEST_VG_LEVEL", "error", 1);
    assert_int_equal(vg_config_apply_env(&table, &c, err, sizeof(err)), 0);
    unsetenv("TEST_VG_LEVEL");
    assert_string_equal(c.level, "error");
    assert_int_equal(vg_config_set_arg(&table, &c, "log.level=eror", err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "--set: log.level: 'eror' is not one of debug, info, warn, error "
                             "(did you mean 'error'?)");
    assert_string_equal(c.level, "error"); /* a refused value leaves the last good one */
    assert_int_equal(vg_config_set_arg(&table, &c, "log.level=warn", err, sizeof(err)), 0);
    assert_string_equal(c.level, "warn");
    vg_config_free(&table, &c);
    (void)state;
}

static void help_and_markdown_list_the_choices(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    vg_config_print_help(&table, f);
    fclose(f);
    assert_non_null(strstr(buf, "      a level\n      one of: debug, info, warn, error\n"));
    assert_null(strstr(buf, "a count\n      one of")); /* free values: no list */
    free(buf);
    f = open_memstream(&buf, &len);
    assert_non_null(f);
    vg_config_write_markdown(&table, "t", f);
    fclose(f);
    assert_non_null(strstr(buf, "| `log.level` | one of `debug`, `info`, `warn`, `error` | "
                                "`info` | `TEST_VG_LEVEL` | a level |\n"));
    assert_non_null(strstr(buf, "| `name` | string | `vigil` |"));
    free(buf);
    (void)state;
}

/* A table's default outside its own choices, or choices on a key that is not a string, is a
 * programming error: the daemon must not start on it. */
static void default_outside_its_choices_is_refused_by_defaults(void **state)
{
    struct colours {
        char *colour;
        int64_t n;
    } c = {0};
    char err[VG_ERRLEN] = "";
    const size_t colour = offsetof(struct colours, colour), n = offsetof(struct colours, n);
    const struct vg_cfg_key bad_default[] = {
        {"colour", VG_CFG_STRING, "purple", colour, 1, 0, NULL, "a colour", "red|green", 0},
    };
    const struct vg_cfg_key not_a_string[] = {
        {"n", VG_CFG_INT, "1", n, 1, 0, NULL, "a number", "1|2", 0},
    };
    const struct vg_cfg_key good[] = {
        {"colour", VG_CFG_STRING, "green", colour, 1, 0, NULL, "a colour", "red|green", 0},
    };
    const struct vg_config_table t1 = {bad_default, 1}, t2 = {not_a_string, 1}, t3 = {good, 1};
    assert_int_equal(vg_config_defaults(&t1, &c, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "colour: 'purple' is not one of red, green");
    assert_null(c.colour);
    assert_int_equal(vg_config_defaults(&t2, &c, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "n: choices are for string keys only");
    assert_int_equal(vg_config_defaults(&t3, &c, err, sizeof(err)), 0);
    assert_string_equal(c.colour, "green");
    vg_config_free(&t3, &c);
    (void)state;
}

static void missing_file_error_names_the_path(void **state)
{
    struct cfg c = {0};
    char err[VG_ERRLEN] = "";
    assert_int_equal(vg_config_load_file(&table, &c, "/nonexistent/vigil.yaml", err, sizeof(err)),
                     -ENOENT);
    assert_string_equal(err,
                        "/nonexistent/vigil.yaml: cannot open config: No such file or directory");
    /* fopen() opens a directory for reading; the read says what it is. */
    assert_int_equal(vg_config_load_file(&table, &c, "/", err, sizeof(err)), -EISDIR);
    assert_string_equal(err, "/: cannot read config: it is a directory (name the YAML file)");
}

/* The shown form of a URL (logs, --check-config): no userinfo, the query as "?...", the fragment
 * dropped, the path kept unless it is the credential; text that is no URL is refused. */
static void url_redaction_leaves_out_userinfo_query_and_a_secret_path(void **state)
{
    (void)state;
    static const struct {
        const char *url;
        int hide_path;
        const char *want; /* NULL: refused */
    } cases[] = {
        {"https://user:pass@alerts.example.com/x?token=S", 0, "https://alerts.example.com/x?..."},
        {"https://alerts.example.com:8443/a/b", 0, "https://alerts.example.com:8443/a/b"},
        {"https://events.pagerduty.com", 0, "https://events.pagerduty.com"},
        {"http://u@[::1]:9093/am#frag", 0, "http://[::1]:9093/am"},
        {"http://h?q=1", 0, "http://h?..."},
        {"http://a.example@b.example/p@q", 0, "http://b.example/p@q"},
        {"https://hooks.slack.com/services/T0/B0/XX", 1, "https://hooks.slack.com/..."},
        {"https://u:p@hooks.slack.com:444/services/T0?x", 1, "https://hooks.slack.com:444/..."},
        {"hooks.slack.com/services/T0/B0/XX", 0, NULL},
        {"://host/x", 0, NULL},
        {"https://user:pass@/x", 0, NULL},
        {"ht tp://h/x", 0, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[128];
        int rc = vg_url_redact(cases[i].url, cases[i].hide_path, out, sizeof out);
        if (cases[i].want) {
            assert_int_equal(rc, 0);
            assert_string_equal(out, cases[i].want);
        } else {
            assert_int_equal(rc, -EINVAL);
        }
    }
    char small[12];
    assert_int_equal(vg_url_redact("https://alerts.example.com/x", 0, small, sizeof small),
                     -ENOSPC);
}

/* The dump masks secrets by key name and shows the URL keys flagged VG_CFG_F_URL_CREDS redacted
 * (a map entry's by its name ending in "url"), a key flagged VG_CFG_F_SECRET_PATH without its
 * path; a URL value that does not parse is masked. A URL key without the flag (a template such
 * as alertmanager.generator_url) is shown whole, and an empty value as "" rather than "(set,
 * masked)", which read as if a receiver were configured. */
static void dump_masks_secrets_and_redacts_urls(void **state)
{
    (void)state;
    struct urls {
        char *hook_url, *slack_url, *plain, *token, *gen_url, *off_url;
        struct vg_kvlist kafka;
    } c = {0};
    VG_CFG_KEYS_BEGIN
    const struct vg_cfg_key k[] = {
        {"hook.url", VG_CFG_STRING, NULL, offsetof(struct urls, hook_url), 1, 0, NULL, "", NULL,
         VG_CFG_F_URL_CREDS},
        {"slack.url", VG_CFG_STRING, NULL, offsetof(struct urls, slack_url), 1, 0, NULL, "", NULL,
         VG_CFG_F_SECRET_PATH},
        {"plain", VG_CFG_STRING, NULL, offsetof(struct urls, plain), 1, 0, NULL, ""},
        {"api.token", VG_CFG_STRING, NULL, offsetof(struct urls, token), 1, 0, NULL, ""},
        {"am.generator_url", VG_CFG_STRING, NULL, offsetof(struct urls, gen_url), 1, 0, NULL, ""},
        {"off.url", VG_CFG_STRING, NULL, offsetof(struct urls, off_url), 1, 0, NULL, "", NULL,
         VG_CFG_F_URL_CREDS},
        {"kafka", VG_CFG_MAP, NULL, offsetof(struct urls, kafka), 1, 0, NULL, ""},
    };
    VG_CFG_KEYS_END
    const struct vg_config_table t = {k, sizeof(k) / sizeof(k[0])};
    char err[VG_ERRLEN];
    assert_int_equal(vg_config_defaults(&t, &c, err, sizeof err), 0);
    const char *sets[] = {"hook.url=https://u:Pw1@h.example/x?tok=Q1",
                          "slack.url=https://hooks.slack.com/services/T0/B0/S1",
                          "plain=https://u:p@kept.example/x?y",
                          "api.token=T1xyz",
                          "am.generator_url=https://grafana.example/d?var-host={host}&s={series}",
                          "off.url=",
                          "kafka.oidc_url=https://u:Pw2@idp.example/t?s=Q2",
                          "kafka.acks=all"};
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
        assert_int_equal(vg_config_set_arg(&t, &c, sets[i], err, sizeof err), 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    vg_config_dump(&t, &c, f);
    assert_int_equal(fclose(f), 0);
    assert_string_equal(text, "hook.url: https://h.example/x?...\n"
                              "slack.url: https://hooks.slack.com/...\n"
                              "plain: https://u:p@kept.example/x?y\n"
                              "api.token: (set, masked)\n"
                              "am.generator_url: "
                              "https://grafana.example/d?var-host={host}&s={series}\n"
                              "off.url: \"\"\n"
                              "kafka: \n"
                              "  oidc_url: https://idp.example/t?...\n"
                              "  acks: all\n");
    free(text);
    /* Not a URL (no scheme): nothing of it is shown. */
    assert_int_equal(vg_config_set_arg(&t, &c, "hook.url=h.example/S3cr3t", err, sizeof err), 0);
    f = open_memstream(&text, &len);
    vg_config_dump(&t, &c, f);
    fclose(f);
    assert_non_null(strstr(text, "hook.url: (set, masked)\n"));
    assert_null(strstr(text, "S3cr3t"));
    free(text);
    vg_config_free(&t, &c);
}

/* What a reload compares: every key, each map entry by name, values never written. */
static void diff_names_every_changed_key_and_never_a_value(void **state)
{
    struct cfg a, b;
    char err[VG_ERRLEN] = "", out[256];
    assert_int_equal(load(&a, "kafka:\n  sasl.password: hunter1\n  acks: all\n  gone: x\n", err),
                     0);
    assert_int_equal(load(&b, "kafka:\n  sasl.password: hunter1\n  acks: all\n  gone: x\n", err),
                     0);
    assert_int_equal(vg_config_diff(&table, &a, &b, NULL, out, sizeof out), 0);
    assert_string_equal(out, "");
    vg_config_free(&table, &b);

    assert_int_equal(load(&b,
                          "name: web\ncount: 4\nratio: 0.75\nenabled: true\ntimeout: 6s\n"
                          "max_bytes: 2MiB\nwebhook:\n  url: http://x/\nlog:\n  level: warn\n"
                          "kafka:\n  sasl.password: hunter2\n  acks: all\n  linger.ms: 5\n",
                          err),
                     0);
    /* Every type; in the map the changed, removed and added entries, the unchanged one not. */
    assert_int_equal(vg_config_diff(&table, &a, &b, NULL, out, sizeof out), 11);
    assert_string_equal(out, "name,count,ratio,enabled,timeout,max_bytes,kafka.sasl.password,"
                             "kafka.gone,kafka.linger.ms,webhook.url,log.level");
    assert_null(strstr(out, "hunter"));
    /* Keys the caller applies are left out, their map entries too. */
    const char *const skip[] = {"count", "kafka", "log.level", NULL};
    assert_int_equal(vg_config_diff(&table, &a, &b, skip, out, sizeof out), 6);
    assert_string_equal(out, "name,ratio,enabled,timeout,max_bytes,webhook.url");
    /* Too short a buffer: whole names, then "...", and the count of them all. */
    char small[24];
    assert_int_equal(vg_config_diff(&table, &a, &b, skip, small, sizeof small), 6);
    assert_string_equal(small, "name,ratio,enabled,...");
    char tiny[4];
    assert_int_equal(vg_config_diff(&table, &a, &b, skip, tiny, sizeof tiny), 6);
    assert_string_equal(tiny, "...");
    vg_config_free(&table, &a);
    vg_config_free(&table, &b);
}

/* A duration is decimal digits, an optional fraction and a unit right after them, with blanks
 * around it trimmed on both sides. strtod used to take 0x10s (16 s), 1e3s, "5 m" and " 5m", yet
 * refused "1s ". */
static void durations_are_a_decimal_number_and_a_unit_right_after_it(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t ms; /* -1: refused */
    } cases[] = {
        {"250ms", 250},
        {"30s", 30000},
        {"5m", 300000},
        {"1h", 3600000},
        {"1d", 86400000},
        {"1.5m", 90000},
        {"0.25s", 250},
        {"0", 0},
        {"0.0", 0},
        {"0s", 0},
        {"007s", 7000},
        {" 5m", 300000},
        {"5m ", 300000},
        {" 5m\t", 300000},
        {"1s ", 1000},
        {"0x10s", -1},
        {"1e3s", -1},
        {"1E3s", -1},
        {"5 m", -1},
        {"5\tm", -1},
        {".5s", -1},
        {"5.s", -1},
        {"5.", -1},
        {"+5s", -1},
        {"-1s", -1},
        {"5", -1},
        {"5M", -1},
        {"5ms5", -1},
        {"5mm", -1},
        {"", -1},
        {" ", -1},
        {"s", -1},
        {"inf s", -1},
        {"nans", -1},
        {"1 fortnight", -1},
        {"5m 5s", -1},
        {"99999999999999999999d", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t v = -7;
        int rc = vg_parse_duration_ms(cases[i].text, &v);
        if (cases[i].ms < 0 ? rc != -EINVAL : rc != 0 || v != cases[i].ms)
            fail_msg("'%s': rc %d, %lld ms; want %lld", cases[i].text, rc, (long long)v,
                     (long long)cases[i].ms);
    }
}

static void duration_and_size_parsers_accept_units(void **state)
{
    int64_t v;
    assert_int_equal(vg_parse_duration_ms("1.5s", &v), 0);
    assert_int_equal(v, 1500);
    assert_int_equal(vg_parse_duration_ms("2m", &v), 0);
    assert_int_equal(v, 120000);
    assert_int_equal(vg_parse_duration_ms("-1s", &v), -EINVAL);
    assert_int_equal(vg_parse_duration_ms("1 fortnight", &v), -EINVAL);
    /* A bare 0 is a duration (the docs write `0` for "off"); any other number needs a unit. */
    v = 7;
    assert_int_equal(vg_parse_duration_ms("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(vg_parse_duration_ms("0.0", &v), 0);
    assert_int_equal(vg_parse_duration_ms("1", &v), -EINVAL);
    assert_int_equal(vg_parse_size("2GiB", &v), 0);
    assert_int_equal(v, 2147483648LL);
    assert_int_equal(vg_parse_size("10", &v), 0);
    assert_int_equal(v, 10);
    assert_int_equal(vg_parse_size("10XB", &v), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_apply_when_file_is_empty),
        cmocka_unit_test(yaml_values_nested_sections_and_maps_are_read),
        cmocka_unit_test(unknown_key_is_rejected_with_position_and_suggestion),
        cmocka_unit_test(out_of_range_and_mistyped_values_name_the_key),
        cmocka_unit_test(key_without_value_is_refused_unless_unset_by_default),
        cmocka_unit_test(duplicate_key_and_yaml_syntax_errors_are_reported),
        cmocka_unit_test(truncated_yaml_is_a_syntax_error_before_any_key_check),
        cmocka_unit_test(set_args_and_environment_override_the_file),
        cmocka_unit_test(values_checked_after_loading_are_placed_where_they_were_set),
        cmocka_unit_test(value_outside_choices_is_refused_at_its_file_line_and_column),
        cmocka_unit_test(value_outside_choices_from_environment_or_set_names_its_origin),
        cmocka_unit_test(help_and_markdown_list_the_choices),
        cmocka_unit_test(default_outside_its_choices_is_refused_by_defaults),
        cmocka_unit_test(missing_file_error_names_the_path),
        cmocka_unit_test(duration_and_size_parsers_accept_units),
        cmocka_unit_test(durations_are_a_decimal_number_and_a_unit_right_after_it),
        cmocka_unit_test(url_redaction_leaves_out_userinfo_query_and_a_secret_path),
        cmocka_unit_test(dump_masks_secrets_and_redacts_urls),
        cmocka_unit_test(diff_names_every_changed_key_and_never_a_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
