/* The daemons' own config tables: every default loads (a default outside its choices or range
 * would stop every start), and the choices that mirror a list kept elsewhere (the detector
 * registry, the log levels) agree with it, so that the table neither refuses a name the code
 * has nor accepts one it lacks. A key a help text names exists (in either daemon), so that
 * --help, the man pages and docs/configuration.md (all made from these texts) send no reader to a
 * missing key. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "agent_config.h"
#include "analyzer_config.h"
#include "vg_config.h"
#include "vg_detector.h"
#include "vg_log.h"
#include "vg_util.h"

static const char *choices_of(const struct vg_config_table *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->keys[i].name, name) == 0)
            return t->keys[i].choices;
    fail_msg("no key %s", name);
    return NULL;
}

/* "a|b|c" from vg_detectors[], then `extra` if not NULL. */
static void registry_choices(const char *extra, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; vg_detectors[i]; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? "|" : "", vg_detectors[i]->name);
    if (extra)
        snprintf(buf + len, n - len, "|%s", extra);
}

static void every_default_of_both_daemons_loads(void **state)
{
    char err[VG_ERRLEN] = "";
    struct agent_cfg ag = {0};
    int rc = vg_config_defaults(&agent_config_table, &ag, err, sizeof(err));
    if (rc)
        fail_msg("agent: %s", err);
    vg_config_free(&agent_config_table, &ag);
    struct analyzer_cfg an = {0};
    rc = vg_config_defaults(&analyzer_config_table, &an, err, sizeof(err));
    if (rc)
        fail_msg("analyzer: %s", err);
    vg_config_free(&analyzer_config_table, &an);
    (void)state;
}

static void detector_choices_are_the_detector_registry(void **state)
{
    char want[256];
    registry_choices(NULL, want, sizeof want);
    assert_string_equal(choices_of(&analyzer_config_table, "detector.model"), want);
    registry_choices("off", want, sizeof want); /* the agent's local guard can be turned off */
    assert_string_equal(choices_of(&agent_config_table, "local.detector"), want);
    (void)state;
}

static void log_level_choices_are_the_levels_vg_log_parses(void **state)
{
    const char *tables[] = {choices_of(&agent_config_table, "log.level"),
                            choices_of(&analyzer_config_table, "log.level")};
    for (size_t t = 0; t < 2; t++) {
        assert_string_equal(tables[t], VG_LOG_LEVEL_CHOICES);
        /* Each choice parses, to the levels in order, and there is one per level. */
        char buf[64];
        snprintf(buf, sizeof buf, "%s", tables[t]);
        int want = VG_LOG_DEBUG;
        char *save = NULL;
        for (char *c = strtok_r(buf, "|", &save); c; c = strtok_r(NULL, "|", &save), want++) {
            enum vg_log_level lvl;
            assert_int_equal(vg_log_level_parse(c, &lvl), 0);
            assert_int_equal(lvl, want);
        }
        assert_int_equal(want, VG_LOG_ERROR + 1);
    }
    (void)state;
}

static const struct vg_cfg_key *key_of(const struct vg_config_table *t, const char *name,
                                       size_t len)
{
    for (size_t i = 0; i < t->n; i++)
        if (strlen(t->keys[i].name) == len && strncmp(t->keys[i].name, name, len) == 0)
            return &t->keys[i];
    return NULL;
}

static int some_key_starts_with(const struct vg_config_table *t, const char *p, size_t len)
{
    for (size_t i = 0; i < t->n; i++)
        if (strncmp(t->keys[i].name, p, len) == 0)
            return 1;
    return 0;
}

static int is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

/* Whether one of the table's keys offers the n characters at w as a choice ("a|b|c"). */
static int is_choice(const struct vg_config_table *t, const char *w, size_t n)
{
    for (size_t i = 0; i < t->n; i++)
        for (const char *c = t->keys[i].choices; c && *c;) {
            size_t l = strcspn(c, "|");
            if (l == n && strncmp(c, w, n) == 0)
                return 1;
            c += l + (c[l] == '|');
        }
    return 0;
}

/* Whether some key's name, past its section, is the n characters at s: `outbx.max_bytes` has
 * the name part of outbox.max_bytes, so it is a key with a mistyped section. */
static int some_key_ends_with(const struct vg_config_table *t, const char *s, size_t n)
{
    for (size_t i = 0; i < t->n; i++) {
        const char *d = strchr(t->keys[i].name, '.');
        if (d && strlen(d + 1) == n && strncmp(d + 1, s, n) == 0)
            return 1;
    }
    return 0;
}

/* Whether the word names a file (rules.yaml, silences.json) rather than a key. */
static int is_file_name(const char *w, size_t n)
{
    static const char *const ext[] = {".yaml",   ".yml",   ".json", ".md",  ".conf", ".service",
                                      ".socket", ".timer", ".pem",  ".crt", ".txt",  ".log"};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t l = strlen(ext[i]);
        if (n > l && strncmp(w + n - l, ext[i], l) == 0)
            return 1;
    }
    return 0;
}

/* The words shaped like a key (lower case, `section.name` or a lone `name` in backquotes) in
 * every help text of the table `t`, whose keys `other` (the other daemon's) may name too. A word
 * whose section is one of t's own sections or maps must be a key, a librdkafka property under
 * kafka, a prefix of keys when written as a pattern (`local.webhook.*`), or one of `not_keys`.
 * A word under a section of neither table must not look like a key: in backquotes, followed by
 * '=', or ending in the name part of a key (`outbx.max_bytes`). A lone word in backquotes must
 * be a key or a choice (`logfmt`). Words in paths and file names (docs/rules.md,
 * /x/silences.json, rules.yaml) are skipped. Returns the number of bad words, each printed;
 * *named counts the words that are keys, so that a scan that finds no word at all shows. */
static int bad_key_words(const struct vg_config_table *t, const struct vg_config_table *other,
                         const char *daemon, int *named)
{
    /* Words that look like keys but are none, and why. */
    static const char *const not_keys[] = {
        "cgroup.controllers", /* the cgroup v2 file that marks a hierarchy's root */
        "initial",            /* the state a scaling target starts in (docs/scaling-actions.md) */
    };
    rd_kafka_conf_t *rk = rd_kafka_conf_new();
    int bad = 0;
    for (size_t k = 0; k < t->n; k++) {
        const char *h = t->keys[k].help;
        for (const char *w = h; w && *w; w++) {
            if (!(*w >= 'a' && *w <= 'z') ||
                (w > h && (is_word_char(w[-1]) || w[-1] == '/' || w[-1] == '-' || w[-1] == '$' ||
                           (w[-1] >= 'A' && w[-1] <= 'Z'))))
                continue;
            size_t len = 0;
            while (is_word_char(w[len]))
                len++;
            char next = w[len];
            size_t n = len;
            while (n && w[n - 1] == '.') /* the end of a sentence */
                n--;
            int quoted = w > h && w[-1] == '`' && next == '`' && n == len;
            const char *dot = memchr(w, '.', n);
            const struct vg_cfg_key *sec = dot ? key_of(t, w, (size_t)(dot - w)) : NULL;
            int own = sec || (dot && some_key_starts_with(t, w, (size_t)(dot - w + 1)));
            size_t rest = dot ? n - (size_t)(dot - w) - 1 : 0; /* past the section */
            int keylike = dot ? own || quoted || next == '=' ||
                                    some_key_ends_with(t, dot + 1, rest) ||
                                    some_key_ends_with(other, dot + 1, rest)
                              : quoted;
            if (key_of(t, w, n) || key_of(other, w, n))
                *named += dot || quoted; /* not `user` or `interval` in a sentence */
            else if (keylike && !is_file_name(w, n) && !(!dot && is_choice(t, w, n))) {
                int ok = 0;
                if (own && (next == '*' || next == '<')) /* a pattern: `local.webhook.*` */
                    ok = some_key_starts_with(t, w, len);
                else if (sec && sec->type == VG_CFG_MAP) {
                    char prop[128];
                    snprintf(prop, sizeof prop, "%.*s", (int)rest, dot + 1);
                    /* Unknown names are told apart from bad values (aliases such as
                     * bootstrap.servers included, which rd_kafka_conf_get does not know). */
                    char e[256];
                    ok = strcmp(sec->name, "kafka") != 0 ||
                         rd_kafka_conf_set(rk, prop, "", e, sizeof e) != RD_KAFKA_CONF_UNKNOWN;
                }
                for (size_t i = 0; i < sizeof not_keys / sizeof not_keys[0] && !ok; i++)
                    ok = strlen(not_keys[i]) == n && strncmp(not_keys[i], w, n) == 0;
                if (!ok) {
                    fprintf(stderr, "%s: the help of %s names '%.*s', which is no key\n", daemon,
                            t->keys[k].name, (int)n, w);
                    bad++;
                }
            }
            w += len - 1;
        }
    }
    rd_kafka_conf_destroy(rk);
    return bad;
}

static void every_key_a_help_text_names_exists(void **state)
{
    int named = 0;
    int bad = bad_key_words(&agent_config_table, &analyzer_config_table, "vigil-agent", &named) +
              bad_key_words(&analyzer_config_table, &agent_config_table, "vigil-analyzer", &named);
    assert_int_equal(bad, 0);
    assert_true(named > 30); /* the help texts name keys by the dozen */
    (void)state;
}

/* A threshold of 0 makes every scored series anomalous from its first score on, and none can
 * resolve (a score is never below 0): it paged for every series of every host while
 * --check-config said OK. Both thresholds start at 0.5 (a value as rare as the median), and a
 * refused one is placed where it was written. */
static void thresholds_below_one_half_are_refused_where_written(void **state)
{
    static const struct {
        const struct vg_config_table *t;
        const char *section, *key;
    } keys[] = {{&analyzer_config_table, "alert", "alert.threshold"},
                {&agent_config_table, "local", "local.threshold"}};
    static const struct {
        const char *value;
        int ok;
    } values[] = {{"0", 0}, {"0.0", 0}, {"0.499", 0}, {"0.5", 1}, {"0.999", 1}, {"1", 1}};
    for (size_t k = 0; k < VG_ARRAY_LEN(keys); k++)
        for (size_t v = 0; v < VG_ARRAY_LEN(values); v++) {
            union { /* room for either daemon's config */
                struct agent_cfg ag;
                struct analyzer_cfg an;
            } cfg = {0};
            char err[VG_ERRLEN] = "", yaml[128];
            int rc = vg_config_defaults(keys[k].t, &cfg, err, sizeof err);
            assert_int_equal(rc, 0);
            snprintf(yaml, sizeof yaml, "# x\n%s:\n  threshold: %s\n", keys[k].section,
                     values[v].value);
            rc = vg_config_load_buffer(keys[k].t, &cfg, "t.yaml", yaml, strlen(yaml), err,
                                       sizeof err);
            char want[VG_ERRLEN];
            snprintf(want, sizeof want, "t.yaml:3:14: %s must be between 0.5 and 1", keys[k].key);
            if (values[v].ok ? rc != 0 : (rc != -ERANGE || strcmp(err, want) != 0))
                fail_msg("%s: %s: rc %d, %s", keys[k].key, values[v].value, rc, err);
            vg_config_free(keys[k].t, &cfg);
        }
    (void)state;
}

/* The keys naming a file or directory a daemon keeps its state in or reads. The units run from
 * /, so a relative path there named another place than the one --check-config, run from the
 * operator's directory, had judged (for the analyzer an /outbox that ProtectSystem=strict makes
 * read-only: exit 78; for the agent, `spool off`; a rules.dir or a secret file not found). Each
 * is refused where it was written, in a file and on --set; an absolute path and "" (none) are
 * taken, and so is a default that is a word (cgroup.root's auto). */
static const struct {
    int agent;
    const char *key;
} path_keys[] = {
    {1, "spool.dir"},
    {1, "bpf.btf_cache"},
    {1, "proc_root"},
    {1, "sys_root"},
    {1, "cgroup.root"},
    {1, "local.webhook.url_file"},
    {1, "local.webhook.secret_file"},
    {1, "local.webhook.tls_ca_file"},
    {0, "outbox.dir"},
    {0, "model.dir"},
    {0, "silences.file"},
    {0, "rules.dir"},
    {0, "http.token_file"},
    {0, "actions.tls_ca_file"},
    {0, "webhook.url_file"},
    {0, "webhook.secret_file"},
    {0, "alertmanager.url_file"},
    {0, "slack.url_file"},
    {0, "pagerduty.routing_key_file"},
    {0, "decisions.webhook_url_file"},
    {0, "decisions.webhook_secret_file"},
};

static void relative_paths_are_refused_where_they_are_written(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof path_keys / sizeof path_keys[0]; i++) {
        const char *key = path_keys[i].key;
        const struct vg_config_table *t =
            path_keys[i].agent ? &agent_config_table : &analyzer_config_table;
        struct agent_cfg ag;
        struct analyzer_cfg an;
        void *cfg = path_keys[i].agent ? (void *)&ag : (void *)&an;
        const char *dot = strchr(key, '.');
        int word = strcmp(key, "cgroup.root") == 0; /* its default, auto, is a word */
        static const char *const values[] = {"var/lib/vigil/x", "./x", "x",   "~/x",
                                             "/var/lib/x",      "",    "auto"};
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
            int relative =
                values[v][0] && values[v][0] != '/' && !(word && strcmp(values[v], "auto") == 0);
            char yaml[200], want[300], err[VG_ERRLEN] = "", arg[200];
            /* In a file: placed at the value, after "  LEAF: " on line 2 (a dotted key), or
             * after "KEY: " on line 1. */
            if (dot)
                snprintf(yaml, sizeof yaml, "%.*s:\n  %s: \"%s\"\n", (int)(dot - key), key, dot + 1,
                         values[v]);
            else
                snprintf(yaml, sizeof yaml, "%s: \"%s\"\n", key, values[v]);
            memset(cfg, 0, path_keys[i].agent ? sizeof ag : sizeof an);
            assert_int_equal(vg_config_defaults(t, cfg, err, sizeof err), 0);
            int rc = vg_config_load_buffer(t, cfg, "c.yaml", yaml, strlen(yaml), err, sizeof err);
            snprintf(want, sizeof want,
                     "c.yaml:%d:%zu: %s: '%s' must be an absolute path%s (the units run from /, "
                     "not from the directory a check runs in)",
                     dot ? 2 : 1, dot ? strlen(dot + 1) + 5 : strlen(key) + 3, key, values[v],
                     word ? " or auto" : "");
            if (relative ? rc != -EINVAL || strcmp(err, want) != 0 : rc != 0)
                fail_msg("%s: '%s' in a file: rc %d, err '%s'; want %s", key, values[v], rc, err,
                         relative ? want : "taken");
            vg_config_free(t, cfg);
            /* On the command line. */
            snprintf(arg, sizeof arg, "%s=%s", key, values[v]);
            memset(cfg, 0, path_keys[i].agent ? sizeof ag : sizeof an);
            assert_int_equal(vg_config_defaults(t, cfg, err, sizeof err), 0);
            rc = vg_config_set_arg(t, cfg, arg, err, sizeof err);
            if (relative ? rc != -EINVAL || !strstr(err, "must be an absolute path") ||
                               strncmp(err, "--set: ", 7) != 0
                         : rc != 0)
                fail_msg("%s: --set '%s': rc %d, err '%s'", key, values[v], rc, err);
            vg_config_free(t, cfg);
        }
    }
}

/* The keys above are all the keys flagged so, and every flagged key's default is absolute, a word
 * or none (the defaults go through the same check: every_default_of_both_daemons_loads). */
static void the_path_keys_are_the_ones_flagged(void **state)
{
    (void)state;
    const struct vg_config_table *tables[] = {&agent_config_table, &analyzer_config_table};
    size_t flagged = 0;
    for (size_t ti = 0; ti < 2; ti++)
        for (size_t k = 0; k < tables[ti]->n; k++) {
            const struct vg_cfg_key *key = &tables[ti]->keys[k];
            if (!(key->flags & VG_CFG_F_ABS_PATH))
                continue;
            flagged++;
            int listed = 0;
            for (size_t i = 0; i < sizeof path_keys / sizeof path_keys[0]; i++)
                listed |=
                    path_keys[i].agent == (ti == 0) && strcmp(path_keys[i].key, key->name) == 0;
            if (!listed)
                fail_msg("%s is flagged VG_CFG_F_ABS_PATH but not tested here", key->name);
        }
    assert_int_equal(flagged, sizeof path_keys / sizeof path_keys[0]);
}

/* Every key that names a file by its name (*_file, *.dir, *_root, .root) is flagged: a path key
 * added later without the flag fails here, not at a unit's start. */
static void every_key_named_as_a_path_is_flagged(void **state)
{
    (void)state;
    const struct vg_config_table *tables[] = {&agent_config_table, &analyzer_config_table};
    static const char *const endings[] = {"_file", ".file", ".dir", "_root", ".root", ".btf_cache"};
    for (size_t ti = 0; ti < 2; ti++)
        for (size_t k = 0; k < tables[ti]->n; k++) {
            const struct vg_cfg_key *key = &tables[ti]->keys[k];
            size_t n = strlen(key->name);
            for (size_t e = 0; e < sizeof endings / sizeof endings[0]; e++) {
                size_t m = strlen(endings[e]);
                if (n > m && strcmp(key->name + n - m, endings[e]) == 0 &&
                    !(key->flags & VG_CFG_F_ABS_PATH))
                    fail_msg("%s names a path but is not flagged VG_CFG_F_ABS_PATH", key->name);
            }
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_default_of_both_daemons_loads),
        cmocka_unit_test(detector_choices_are_the_detector_registry),
        cmocka_unit_test(log_level_choices_are_the_levels_vg_log_parses),
        cmocka_unit_test(every_key_a_help_text_names_exists),
        cmocka_unit_test(thresholds_below_one_half_are_refused_where_written),
        cmocka_unit_test(relative_paths_are_refused_where_they_are_written),
        cmocka_unit_test(the_path_keys_are_the_ones_flagged),
        cmocka_unit_test(every_key_named_as_a_path_is_flagged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
