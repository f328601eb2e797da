/* Generated references must match the code: docs/configuration.md is the daemons'
 * --config-doc output, so a key added to a table without regenerating the doc fails here. The
 * Prometheus rules shipped for Vigil's own health (packaging/prometheus/vigil-alerts.yml) must
 * parse and name only metrics the analyzer exports, so a renamed counter fails here too, and be
 * as many as README says. docs/install.md's Upgrading section names what an upgrade changes on
 * the brokers' side. A `collectors` list the docs or the packaged configs show keeps the
 * default collectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <yaml.h>

#include "vg_stack.h"
#include "vg_testproc.h"

static void configuration_md_matches_the_config_tables(void **state)
{
    char out[256];
    snprintf(out, sizeof(out), "/tmp/vigil-confdoc-%d.md", (int)getpid());
    assert_int_equal(vg_tp_sh("(cat %s/docs/configuration.head.md; %s --config-doc; %s "
                              "--config-doc) > %s",
                              VG_SOURCE_DIR, VG_AGENT_BIN, VG_ANALYZER_BIN, out),
                     0);
    char *want = vg_tp_read(out), *have = vg_tp_read(VG_SOURCE_DIR "/docs/configuration.md");
    unlink(out);
    assert_non_null(want);
    assert_non_null(have);
    if (strcmp(want, have) != 0)
        fail_msg("docs/configuration.md is stale: regenerate it with scripts/gen-docs.sh");
    free(want);
    free(have);
}

/* docs/analyzer-metrics.md is --metrics-doc's output, and every metric the analyzer's writers
 * name (vg_api_counter, vg_api_gauge, vg_api_metric_head, histograms) is in that table: a
 * metric added to a writer but not to analyzer/api_metrics.c fails here, not in a scrape. */
static void analyzer_metrics_md_matches_the_table_and_the_writers(void **state)
{
    (void)state;
    char out[256];
    snprintf(out, sizeof(out), "/tmp/vigil-metricsdoc-%d.md", (int)getpid());
    assert_int_equal(vg_tp_sh("%s --metrics-doc > %s", VG_ANALYZER_BIN, out), 0);
    char *want = vg_tp_read(out), *have = vg_tp_read(VG_SOURCE_DIR "/docs/analyzer-metrics.md");
    unlink(out);
    assert_non_null(want);
    assert_non_null(have);
    if (strcmp(want, have) != 0)
        fail_msg("docs/analyzer-metrics.md is stale: regenerate it with scripts/gen-docs.sh");
    static const char *const files[] = {"analyzer/api.c", "analyzer/api_alerts.c",
                                        "analyzer/analyzer_models.c"};
    static const char *const calls[] = {"vg_api_counter(f, \"", "vg_api_gauge(f, \"",
                                        "vg_api_metric_head(f, \"", "vg_histo_write("};
    int names = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", VG_SOURCE_DIR, files[i]);
        char *src = vg_tp_read(path);
        assert_non_null(src);
        for (size_t c = 0; c < sizeof calls / sizeof calls[0]; c++) {
            for (const char *p = src; (p = strstr(p, calls[c])) != NULL;) {
                p += strlen(calls[c]);
                const char *q = strstr(p, "\"vigil_"); /* a histogram's name is its 2nd arg */
                if (c < 3)
                    q = p - 1;
                if (!q)
                    break;
                char name[128], cell[140];
                size_t n = strcspn(q + 1, "\"");
                assert_true(n < sizeof name);
                memcpy(name, q + 1, n);
                name[n] = '\0';
                snprintf(cell, sizeof cell, "| `%s` |", name);
                if (!strstr(have, cell))
                    fail_msg("%s writes %s, which analyzer/api_metrics.c does not declare",
                             files[i], name);
                names++;
            }
        }
        free(src);
    }
    printf("# %d metric writes, each declared in docs/analyzer-metrics.md\n", names);
    assert_true(names >= 70);
    free(want);
    free(have);
}

static int name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* Whether the binary holds name as a whole word (not as the start of a longer metric name). */
static int binary_names(const unsigned char *bin, size_t len, const char *name)
{
    size_t n = strlen(name);
    for (const unsigned char *p = bin; p && (size_t)(p - bin) + n <= len;) {
        p = memmem(p, len - (size_t)(p - bin), name, n);
        if (!p)
            return 0;
        if ((p == bin || !name_char(p[-1])) && ((size_t)(p - bin) + n == len || !name_char(p[n])))
            return 1;
        p++;
    }
    return 0;
}

/* The value of key in a mapping node, or NULL. */
static yaml_node_t *get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *kv = map->data.mapping.pairs.start; kv < map->data.mapping.pairs.top;
         kv++) {
        yaml_node_t *k = yaml_document_get_node(d, kv->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(d, kv->value);
    }
    return NULL;
}

static int is_text(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length > 0;
}

static void prometheus_rules_parse_and_name_exported_metrics(void **state)
{
    size_t ylen, blen;
    unsigned char *y = (unsigned char *)vg_tp_read_len(
        VG_SOURCE_DIR "/packaging/prometheus/vigil-alerts.yml", &ylen);
    unsigned char *bin = (unsigned char *)vg_tp_read_len(VG_ANALYZER_BIN, &blen);
    assert_non_null(y);
    assert_non_null(bin);
    yaml_parser_t ps;
    yaml_document_t doc;
    assert_true(yaml_parser_initialize(&ps));
    yaml_parser_set_input_string(&ps, y, ylen);
    if (!yaml_parser_load(&ps, &doc))
        fail_msg("vigil-alerts.yml:%zu:%zu: %s", ps.problem_mark.line + 1,
                 ps.problem_mark.column + 1, ps.problem ? ps.problem : "parse error");
    yaml_node_t *groups = get(&doc, yaml_document_get_root_node(&doc), "groups");
    assert_non_null(groups);
    assert_int_equal(groups->type, YAML_SEQUENCE_NODE);
    int rules = 0, names = 0;
    for (yaml_node_item_t *g = groups->data.sequence.items.start;
         g < groups->data.sequence.items.top; g++) {
        yaml_node_t *gn = yaml_document_get_node(&doc, *g);
        assert_true(is_text(get(&doc, gn, "name")));
        yaml_node_t *rs = get(&doc, gn, "rules");
        assert_non_null(rs);
        assert_int_equal(rs->type, YAML_SEQUENCE_NODE);
        for (yaml_node_item_t *r = rs->data.sequence.items.start; r < rs->data.sequence.items.top;
             r++) {
            yaml_node_t *rn = yaml_document_get_node(&doc, *r), *expr = get(&doc, rn, "expr");
            yaml_node_t *ann = get(&doc, rn, "annotations");
            assert_true(is_text(get(&doc, rn, "alert")));
            assert_true(is_text(expr));
            assert_true(is_text(get(&doc, get(&doc, rn, "labels"), "severity")));
            assert_true(is_text(get(&doc, ann, "summary")));
            assert_true(is_text(get(&doc, ann, "description")));
            rules++;
            /* Every vigil_* series the expression reads; a histogram's by its family's name. */
            const char *e = (const char *)expr->data.scalar.value;
            for (const char *p = strstr(e, "vigil_"); p; p = strstr(p + 1, "vigil_")) {
                if (p > e && name_char((unsigned char)p[-1]))
                    continue;
                char name[128];
                size_t n = 0;
                while (name_char((unsigned char)p[n]) && n + 1 < sizeof(name)) {
                    name[n] = p[n];
                    n++;
                }
                name[n] = '\0';
                char *suffix = strstr(name, "_bucket");
                if (suffix && suffix[7] == '\0')
                    *suffix = '\0';
                if (!binary_names(bin, blen, name))
                    fail_msg("vigil-alerts.yml: %s is not a metric vigil-analyzer exports", name);
                names++;
            }
        }
    }
    printf("  %d rules over %d metric references, all exported\n", rules, names);
    assert_true(rules >= 10);
    /* README's "Watching Vigil itself" says how many rules the file holds ("N rules", the first
     * count in that section, wrapped anywhere): it must be this. */
    char *readme = vg_tp_read(VG_SOURCE_DIR "/README.md");
    assert_non_null(readme);
    char *sec = strstr(readme, "### Watching Vigil itself");
    if (!sec)
        fail_msg("README.md has no section 'Watching Vigil itself'; update this test");
    char *end = strstr(sec + 1, "\n##");
    if (end)
        *end = '\0';
    int said = -1;
    for (char *p = sec; *p && said < 0; p++) {
        if (!(*p >= '0' && *p <= '9') || (p > sec && p[-1] >= '0' && p[-1] <= '9'))
            continue;
        char *q;
        long v = strtol(p, &q, 10);
        while (*q == ' ' || *q == '\n')
            q++;
        if (strncmp(q, "rules", 5) == 0)
            said = (int)v;
    }
    if (said != rules)
        fail_msg("README.md ('Watching Vigil itself') says %d Prometheus rules, vigil-alerts.yml "
                 "holds %d",
                 said, rules);
    free(readme);
    yaml_document_delete(&doc);
    yaml_parser_delete(&ps);
    free(y);
    free(bin);
}

/* 0 when the agent takes the config text as written, with client.id vigil-agent. */
static int agent_takes_client_id(const char *text, char *o_err, size_t o_len)
{
    char conf[256], out[256];
    snprintf(conf, sizeof conf, "/tmp/vigil-upgrade-%d.yaml", (int)getpid());
    snprintf(out, sizeof out, "/tmp/vigil-upgrade-%d.out", (int)getpid());
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "user: \"\"\n%s", text);
    fclose(f);
    int rc = vg_tp_sh("%s --config %s --check-config >%s 2>&1", VG_AGENT_BIN, conf, out);
    char *o = vg_tp_read(out);
    unlink(conf);
    unlink(out);
    assert_non_null(o);
    int ok = rc == 0 && strstr(o, "  client.id: vigil-agent\n");
    snprintf(o_err, o_len, "exit %d:\n%s", rc, o);
    free(o);
    return ok ? 0 : -1;
}

/* The agent's client.id became vigil-agent-HOST, no longer vigil-agent for every agent: broker
 * client quotas (exact client ids) and monitoring keyed on the old id stopped matching host by
 * host during a rolling upgrade, and no doc said so. The install guide's Upgrading section does,
 * with the setting that keeps the old id, which the agent takes as written:
 * followed in a config that already has a kafka: section (any SSL or SASL install), its example
 * puts the key under that section, since a second kafka: is refused and the agent exits 78. The
 * one-line form is for a config without one. */
static void the_upgrade_notes_say_how_to_keep_the_agents_old_client_id(void **state)
{
    (void)state;
    static const char snippet[] = "kafka: {client.id: vigil-agent}";
    char *t = vg_tp_read(VG_SOURCE_DIR "/docs/install.md");
    assert_non_null(t);
    char *up = strstr(t, "\n## Upgrading\n");
    if (!up)
        fail_msg("docs/install.md has no Upgrading section");
    char *end = strstr(up + 1, "\n## ");
    if (end)
        *end = '\0';
    assert_non_null(strstr(up, "vigil-agent-HOST"));
    assert_non_null(strstr(up, snippet));
    /* The block example, out of its list item's two-space indent. */
    char *b = strstr(up, "\n  ```yaml\n");
    if (!b)
        fail_msg("the Upgrading note has no yaml example");
    b += strlen("\n  ```yaml\n");
    char *e = strstr(b, "\n  ```");
    assert_non_null(e);
    char block[1024] = "";
    size_t n = 0;
    for (char *l = b; l < e && n + 2 < sizeof block;) {
        char *nl = strchr(l, '\n');
        if (!nl || nl > e)
            nl = e;
        const char *s = strncmp(l, "  ", 2) == 0 ? l + 2 : l;
        n += (size_t)snprintf(block + n, sizeof block - n, "%.*s\n", (int)(nl - s), s);
        l = nl + 1;
    }
    free(t);
    /* One kafka: section holding a key the user already had and client.id under it. */
    int keys = 0;
    for (const char *l = block; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
        keys += strncmp(l, "  ", 2) == 0 && l[2] != ' ' && l[2] != '#';
    if (strncmp(block, "kafka:\n", 7) != 0 || strstr(block + 1, "kafka:") ||
        !strstr(block, "\n  client.id: vigil-agent") || keys < 2)
        fail_msg("the example is not one kafka: section with another key and client.id under "
                 "it:\n%s",
                 block);
    char why[4096];
    if (agent_takes_client_id(block, why, sizeof why) < 0)
        fail_msg("the example is not taken as written (%s)", why);
    char one[128];
    snprintf(one, sizeof one, "%s\n", snippet);
    if (agent_takes_client_id(one, why, sizeof why) < 0)
        fail_msg("%s is not taken as written (%s)", snippet, why);
}

/* Whether the list (names split at commas and spaces, as the agent splits it) names `name`. */
static int list_has(const char *list, size_t len, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list, *end = list + len; p < end;) {
        p += strspn(p, ", ");
        size_t e = strcspn(p, ", ");
        if (e > (size_t)(end - p))
            e = (size_t)(end - p);
        if (e == n && strncmp(p, name, n) == 0)
            return 1;
        p += e;
    }
    return 0;
}

/* The value a doc gives `collectors` at v (just past the ':' or '='): its names in *list and
 * *len, unquoted. Returns how many names, 0 for the placeholder `...`, or -1 with *why set for
 * a value the agent refuses or this test cannot read, which is reported rather than skipped. */
static int collectors_value(const char *v, const char **list, size_t *len, const char **why)
{
    v += strspn(v, " ");
    *list = v;
    *len = 0;
    if (*v == '[' || (*v == '\n' && v[1 + strspn(v + 1, " ")] == '-')) {
        *why = "is a YAML list: the agent takes one string (a,b,c)";
        return -1;
    }
    if (strncmp(v, "...", 3) == 0)
        return 0;
    static const char chars[] = ", abcdefghijklmnopqrstuvwxyz0123456789_", *name = chars + 2;
    char q = *v == '"' || *v == '\'' ? *v : 0;
    if (q) {
        *list = ++v;
        *len = strcspn(v, q == '"' ? "\"\n" : "'\n");
        if (v[*len] != q || *len == 0 || strspn(v, chars) != *len) {
            *why = "cannot be read (names in quotes, split at commas and spaces)";
            return -1;
        }
    } else {
        /* Names joined by commas, with spaces after them, as the agent takes them: a space
         * without a comma ends the list, which may be followed by words. */
        for (size_t n; (n = strspn(v + *len, name)) > 0;) {
            *len += n;
            size_t sep = strspn(v + *len, " ");
            if (v[*len + sep] != ',')
                break;
            sep += 1 + strspn(v + *len + sep + 1, " ");
            if (!strspn(v + *len + sep, name))
                break;
            *len += sep;
        }
        if (*len == 0) {
            *why = "cannot be read (a,b,c expected)";
            return -1;
        }
    }
    int names = 0;
    for (size_t i = 0; i < *len; i++)
        names += !strchr(", ", (*list)[i]) && (i == 0 || strchr(", ", (*list)[i - 1]));
    return names;
}

/* `collectors` replaces the default list, so an example list that leaves a default collector
 * out turns it off when pasted, without a warning: docs/ebpf.md's example "to turn the eBPF
 * collectors on" once dropped six of them. Every value README.md, docs/ and the packaged
 * configs give it (`collectors: a,b` in backquotes or at the start of a YAML line, commented or
 * not, `collectors=a,b`, quoted or not, with spaces after the commas or not) names each
 * default collector, unless it is a single name or listed in small_sets, which are deliberately
 * small (docs/reliability.md's `collectors=load`). The defaults come from
 * docs/configuration.md, which the first test holds to the agent's table. */
static void collectors_examples_keep_the_default_collectors(void **state)
{
    (void)state;
    /* Lists shown short on purpose: the file below the source tree, the list as written, and
     * why it is short. */
    static const struct {
        const char *path, *list, *why;
    } small_sets[] = {
        /* {"docs/x.md", "cpu,mem,load", "the three collectors the package test runs"}, */
        {NULL, NULL, NULL},
    };
    char *conf = vg_tp_read(VG_SOURCE_DIR "/docs/configuration.md");
    assert_non_null(conf);
    static const char row[] = "| `collectors` | string | `";
    char *d = strstr(conf, row);
    assert_non_null(d);
    d += strlen(row);
    char defaults[512];
    size_t dn = strcspn(d, "`");
    assert_true(dn > 0 && dn < sizeof defaults);
    memcpy(defaults, d, dn);
    defaults[dn] = '\0';
    free(conf);

    static const char *const dirs[][2] = {
        {"", "README.md"}, {"docs/", ".md"}, {"packaging/config/", ".yaml"}};
    char paths[64][512];
    size_t np = 0;
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char dp[200];
        snprintf(dp, sizeof dp, "%s/%s", VG_SOURCE_DIR, dirs[i][0]);
        DIR *dir = opendir(dp);
        assert_non_null(dir);
        for (struct dirent *e; (e = readdir(dir)) != NULL && np < 64;) {
            size_t l = strlen(e->d_name), x = strlen(dirs[i][1]);
            if (l >= x && strcmp(e->d_name + l - x, dirs[i][1]) == 0)
                snprintf(paths[np++], sizeof paths[0], "%s%s", dp, e->d_name);
        }
        closedir(dir);
    }
    assert_true(np < 64);
    int lists = 0, bad = 0;
    for (size_t i = 0; i < np; i++) {
        const char *path = paths[i] + strlen(VG_SOURCE_DIR "/"); /* as small_sets has it */
        char *t = vg_tp_read(paths[i]);
        assert_non_null(t);
        for (char *w = t, *p; (p = strstr(w, "collectors")) != NULL; w = p + 1) {
            const char *v = p + strlen("collectors");
            /* `collectors:` in prose ("all 15 collectors: at ...") is no value: a value follows
             * a backquote or starts a line (a YAML one, maybe commented out). */
            const char *b = p;
            while (b > t && (b[-1] == ' ' || b[-1] == '#'))
                b--;
            int value = *v == '=' || (*v == ':' && (b == t || b[-1] == '\n' || p[-1] == '`'));
            if (!value || (p > t && strchr("abcdefghijklmnopqrstuvwxyz0123456789_-", p[-1])))
                continue;
            const char *l, *why = NULL;
            size_t len;
            int names = collectors_value(v + 1, &l, &len, &why);
            if (names < 0) {
                fprintf(stderr, "%s: `collectors%.*s` %s\n", path, (int)strcspn(v, "\n`"), v, why);
                bad++;
            }
            if (names < 2)
                continue;
            lists++;
            int small = 0;
            for (size_t s = 0; small_sets[s].path && !small; s++)
                small = strcmp(small_sets[s].path, path) == 0 &&
                        strlen(small_sets[s].list) == len &&
                        strncmp(small_sets[s].list, l, len) == 0;
            char buf[sizeof defaults], out[sizeof defaults] = "";
            memcpy(buf, defaults, sizeof buf);
            char *save = NULL;
            for (char *c = strtok_r(buf, ",", &save); c && !small; c = strtok_r(NULL, ",", &save))
                if (!list_has(l, len, c))
                    snprintf(out + strlen(out), sizeof out - strlen(out), " %s", c);
            if (*out) {
                fprintf(stderr,
                        "%s: `collectors%s%.*s` leaves out the defaults%s (one short on purpose "
                        "goes in small_sets)\n",
                        path, *v == ':' ? ": " : "=", (int)len, l, out);
                bad++;
            }
        }
        free(t);
    }
    printf("# %d collectors lists in the docs\n", lists);
    assert_int_equal(bad, 0);
    assert_true(lists >= 1); /* docs/ebpf.md's */
}

/* The paragraph of text holding needle (between blank lines), malloc'd; NULL if none. */
static char *paragraph_with(const char *t, const char *needle)
{
    const char *p = strstr(t, needle);
    if (!p)
        return NULL;
    const char *b = p, *e = strstr(p, "\n\n");
    while (b > t && !(b - t >= 2 && b[-1] == '\n' && b[-2] == '\n'))
        b--;
    return strndup(b, e ? (size_t)(e - b) : strlen(b));
}

/* How consume errors are logged is said once, in reliability.md's "Consumer faults": the
 * wire-format page kept its own "logged once per 100" after the code moved to the log's generic
 * rate limit (20 lines in 10 s). Its mention now points there and states no policy of its own. */
static void consume_errors_logging_is_described_in_one_place(void **state)
{
    (void)state;
    char *w = vg_tp_read(VG_SOURCE_DIR "/docs/wire-format.md");
    char *r = vg_tp_read(VG_SOURCE_DIR "/docs/reliability.md");
    assert_non_null(w);
    assert_non_null(r);
    char *para = paragraph_with(w, "(`consume_errors`");
    if (!para)
        fail_msg("docs/wire-format.md no longer mentions consume_errors: drop this test");
    if (!strstr(para, "(reliability.md#consumer-faults)") || strstr(para, "once per") ||
        strstr(para, " per 100"))
        fail_msg("docs/wire-format.md words its own consume error policy:\n%s", para);
    free(para);
    char *sec = strstr(r, "\n### Consumer faults\n");
    assert_non_null(sec);
    char *end = strstr(sec + 1, "\n#");
    if (end)
        *end = '\0';
    assert_non_null(strstr(sec, "vigil_consume_errors_total"));
    assert_non_null(strstr(sec, "(#logging-the-rate-limit)"));
    free(w);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(configuration_md_matches_the_config_tables),
        cmocka_unit_test(analyzer_metrics_md_matches_the_table_and_the_writers),
        cmocka_unit_test(prometheus_rules_parse_and_name_exported_metrics),
        cmocka_unit_test(the_upgrade_notes_say_how_to_keep_the_agents_old_client_id),
        cmocka_unit_test(collectors_examples_keep_the_default_collectors),
        cmocka_unit_test(consume_errors_logging_is_described_in_one_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
