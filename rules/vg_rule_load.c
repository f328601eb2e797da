#include "vg_rule_load.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vg_rule_impl.h"
#include "vg_rule_suggest.h"
#include "vg_rule_yaml.h"
#include "vg_strmap.h"
#include "vg_util.h"

#define MAX_FILE_BYTES ((size_t)4 << 20)
#define MAX_NAME_LEN   200 /* rule names travel as alertname; the wire's name limit */
#define MAX_MAP_ITEMS  VG_RULE_LABELS_MAX /* labels or annotations of one rule */

enum key {
    K_NAME,
    K_SELECT,
    K_WHEN,
    K_FOR,
    K_KEEP_FIRING_FOR,
    K_SEVERITY,
    K_LABELS,
    K_ANNOTATIONS,
    K_ACTIONS,
    K_SERIES,
    K_COUNT
};

static const char *const key_names[K_COUNT] = {
    "name",     "select", "when",        "for",     "keep_firing_for",
    "severity", "labels", "annotations", "actions", "series",
};

/* Everything one load (a directory or a buffer) accumulates: the rules, the names seen (for
 * duplicates across files) and the error text. */
struct load {
    struct vg_rule_set *set;
    struct vg_strmap names; /* rule name -> rule, in set */
    struct vg_rule_errlist el;
    unsigned n_errors;
    int read_rc; /* the first file that could not be read: what the load returns */
    int keep;    /* a check: hand out what loaded even when there were mistakes */
};

/* Where one file is being checked. */
struct file {
    struct load *l;
    const char *origin;
    const struct vg_rule_yaml_doc *doc;
};

/* Room kept at the end of a list for "\n... and 4294967295 more errors". */
#define TRAILER_ROOM 40

void vg_rule_errlist_add(struct vg_rule_errlist *el, const char *line)
{
    if (!el->buf || !el->len)
        return;
    size_t n = line ? strlen(line) : 0, sep = el->used ? 1 : 0;
    if (line && !el->dropped && el->used + sep + n + TRAILER_ROOM < el->len) {
        memcpy(el->buf + el->used, "\n", sep);
        memcpy(el->buf + el->used + sep, line, n + 1);
        el->used += sep + n;
        return;
    }
    if (line && el->used == 0) {
        /* A first line too long for the buffer is shown cut rather than not at all. */
        size_t room = el->len > 2 * TRAILER_ROOM ? el->len - TRAILER_ROOM : el->len;
        snprintf(el->buf, room, "%s", line);
        el->used = strlen(el->buf);
        return;
    }
    /* Once one line is left out, so are all after it: the list stays a prefix of the whole. */
    el->dropped++;
}

void vg_rule_errlist_finish(struct vg_rule_errlist *el)
{
    if (!el->buf || !el->len || !el->dropped)
        return;
    snprintf(el->buf + el->used, el->len - el->used, "%s... and %u more error%s",
             el->used ? "\n" : "", el->dropped, el->dropped == 1 ? "" : "s");
    el->used += strlen(el->buf + el->used);
    el->dropped = 0;
}

void vg_rule_errlist_resume(struct vg_rule_errlist *el, char *buf, size_t len)
{
    *el = (struct vg_rule_errlist){buf, len, 0, 0};
    if (!buf || !len)
        return;
    el->used = strlen(buf);
    /* A trailer of a list already cut is taken off and counted again, so that finish() puts it
     * back at the end, after the lines added since (which it then counts too). */
    const char *last = strrchr(buf, '\n');
    last = last ? last + 1 : buf;
    unsigned more;
    if (sscanf(last, "... and %u more error", &more) == 1) {
        el->used = last > buf ? (size_t)(last - buf - 1) : 0;
        buf[el->used] = '\0';
        el->dropped = more;
    }
}

void vg_rule_errors_copy(char *dst, size_t dstlen, const char *src)
{
    struct vg_rule_errlist el = {dst, dstlen, 0, 0};
    if (dst && dstlen)
        dst[0] = '\0';
    unsigned more = 0;
    for (const char *p = src; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        /* The trailer of a list already cut: its count carries over. */
        if (!nl && sscanf(p, "... and %u more error", &more) == 1)
            break;
        char line[PATH_MAX + VG_ERRLEN + 640];
        snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) ? n : sizeof(line) - 1), p);
        vg_rule_errlist_add(&el, line);
        p = nl ? nl + 1 : p + n;
    }
    el.dropped += more;
    vg_rule_errlist_finish(&el);
}

/* Appends one complete error line to the list, or counts it. */
static void add_line(struct load *l, const char *text)
{
    l->n_errors++;
    vg_rule_errlist_add(&l->el, text);
}

/* Whether the next error would be left out of the list: then only count it. */
static int err_full(const struct load *l)
{
    return !l->el.buf || !l->el.len || l->el.dropped;
}

static void add_error(struct load *l, const char *origin, size_t line, size_t col, const char *msg)
{
    if (err_full(l)) {
        add_line(l, NULL);
        return;
    }
    char text[PATH_MAX + VG_ERRLEN + 640];
    snprintf(text, sizeof(text), "%s:%zu:%zu: %s", origin, line, col, msg);
    add_line(l, text);
}

static void ferr_at(struct file *f, size_t line, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void ferr_at(struct file *f, size_t line, size_t col, const char *fmt, ...)
{
    char msg[VG_ERRLEN + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    add_error(f->l, f->origin, line, col, msg);
}

#define ferr(f, node, ...) ferr_at((f), (node)->line, (node)->col, __VA_ARGS__)

/* An error at byte `off` of a scalar's value, placed in the file. */
static void ferr_in(struct file *f, const struct vg_rule_yaml_node *n, size_t off, const char *msg)
{
    size_t line, col;
    if (err_full(f->l)) {
        add_line(f->l, NULL); /* placing it rereads the file: not for a message nobody sees */
        return;
    }
    vg_rule_yaml_locate(f->doc, n, off, &line, &col);
    add_error(f->l, f->origin, line, col, msg);
}

static const char *kind_noun(const struct vg_rule_yaml_node *n)
{
    return n->kind == VG_RULE_YAML_MAP ? "a map" : n->kind == VG_RULE_YAML_SEQ ? "a list" : "text";
}

static char *where_str(const struct file *f, const struct vg_rule_yaml_node *n)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s:%zu:%zu", f->origin, n->line, n->col);
    return strdup(buf);
}

/* The text of a scalar, or NULL after reporting why the node is not usable text. */
static const char *text_of(struct file *f, const struct vg_rule_yaml_node *n, const char *what)
{
    if (n->kind != VG_RULE_YAML_SCALAR) {
        ferr(f, n, "%s must be text, not %s", what, kind_noun(n));
        return NULL;
    }
    if (strlen(n->text) != n->len) {
        ferr(f, n, "%s contains a NUL character", what);
        return NULL;
    }
    return vg_rule_yaml_is_null(n) ? "" : n->text;
}

static int is_ident(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_' ||
              (*s >= '0' && *s <= '9')))
            return 0;
    return 1;
}

/* ---- the fields of a rule ------------------------------------------------------------------ */

static int check_name(struct file *f, struct vg_rule *r, const struct vg_rule_yaml_node *v)
{
    const char *s = text_of(f, v, "name");
    if (!s)
        return 0;
    if (!*s) {
        ferr(f, v, "name is empty");
        return 0;
    }
    if (strlen(s) > MAX_NAME_LEN) {
        ferr(f, v, "name is longer than %d characters", MAX_NAME_LEN);
        return 0;
    }
    if (!is_ident(s)) {
        char fix[MAX_NAME_LEN + 2];
        size_t n = 0;
        if (*s >= '0' && *s <= '9')
            fix[n++] = '_';
        for (const char *p = s; *p; p++) {
            char c = *p;
            fix[n++] = ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
                           ? c
                           : '_';
        }
        fix[n] = '\0';
        ferr(f, v,
             "rule name '%.100s' is not valid: use letters, digits and '_', not starting with a "
             "digit (e.g. %.100s)",
             s, fix);
        return 0;
    }
    return (r->name = strdup(s)) ? 0 : -ENOMEM;
}

static int check_duration(struct file *f, const char *key, const struct vg_rule_yaml_node *v,
                          int64_t *out)
{
    const char *s = text_of(f, v, key);
    if (!s)
        return 0;
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    if (vg_parse_duration_ms(s, out) < 0)
        ferr(f, v, "%s: '%.100s' is not a duration (write e.g. 30s, 5m)", key, s);
    return 0;
}

static int check_severity(struct file *f, struct vg_rule *r, const struct vg_rule_yaml_node *v)
{
    const char *s = text_of(f, v, "severity");
    if (!s)
        return 0;
    for (int i = VG_RULE_INFO; i <= VG_RULE_CRITICAL; i++) {
        if (strcmp(s, vg_rule_severity_name((enum vg_rule_severity)i)) == 0) {
            r->severity = (enum vg_rule_severity)i;
            return 0;
        }
    }
    ferr(f, v, "severity '%.100s' is not one of info, warning, critical", s);
    return 0;
}

struct model_refs {
    struct file *f;
    const struct vg_rule_yaml_node *v;
    int rc;
};

static void add_model_ref(void *ud, const char *model, size_t off)
{
    struct model_refs *m = ud;
    struct vg_rule_set *s = m->f->l->set;
    size_t line, col;
    char where[PATH_MAX + 64];
    vg_rule_yaml_locate(m->f->doc, m->v, off, &line, &col);
    snprintf(where, sizeof(where), "%s:%zu:%zu", m->f->origin, line, col);
    char **nm = m->rc ? NULL : realloc(s->host_models, 2 * (s->n_host_models + 1) * sizeof(*nm));
    if (!nm) {
        m->rc = -ENOMEM;
        return;
    }
    s->host_models = nm;
    nm[2 * s->n_host_models] = strdup(model);
    nm[2 * s->n_host_models + 1] = strdup(where);
    s->n_host_models++; /* freed with the set, NULL or not */
    if (!nm[2 * s->n_host_models - 2] || !nm[2 * s->n_host_models - 1])
        m->rc = -ENOMEM;
}

/* Records the host models e reads, with their places, for vg_rule_set_host_model(). */
static int note_host_models(struct file *f, const struct vg_rule_yaml_node *v,
                            const struct vg_expr *e)
{
    struct model_refs m = {f, v, 0};
    vg_expr_each_host_model(e, add_model_ref, &m);
    return m.rc;
}

static int check_when(struct file *f, struct vg_rule *r, const struct vg_rule_yaml_node *v)
{
    const char *s = text_of(f, v, "when");
    if (!s)
        return 0;
    char msg[VG_ERRLEN];
    size_t off;
    int rc = vg_expr_parse(s, &r->when, &off, msg, sizeof(msg));
    if (rc == -ENOMEM)
        return rc;
    if (rc) {
        ferr_in(f, v, off, msg);
        return 0;
    }
    if ((rc = note_host_models(f, v, r->when)))
        return rc;
    return (r->when_text = strdup(s)) ? 0 : -ENOMEM;
}

/* A list of text items; a lone string is refused rather than taken as a one-item list, since
 * `select: 'a="b", c="d"'` would otherwise fail in a far stranger way. */
static int check_list(struct file *f, const char *key, const struct vg_rule_yaml_node *v,
                      const char *example)
{
    if (vg_rule_yaml_is_null(v))
        return 0;
    if (v->kind == VG_RULE_YAML_SEQ)
        return 1;
    ferr(f, v, "%s must be a list, e.g. %s: %s", key, key, example);
    return 0;
}

static int check_select(struct file *f, struct vg_rule *r, const struct vg_rule_yaml_node *v)
{
    if (v->kind == VG_RULE_YAML_MAP) {
        ferr(f, v,
             "select must be a list of matchers such as ['host=~\"web-.*\"', 'env=\"prod\"'] "
             "(a map would not say whether a value is a name or a regex)");
        return 0;
    }
    /* No select means every host, so an empty list written to mean "no host" would read
     * every host instead: refused, as actions: [] is. */
    if (v->kind == VG_RULE_YAML_SEQ && v->n == 0) {
        ferr(f, v,
             "select: an empty list would select every host, as no 'select' does: omit the key "
             "for every host, or write the matchers (e.g. select: ['env=\"prod\"'])");
        return 0;
    }
    if (!check_list(f, "select", v, "['env=\"prod\"']"))
        return 0;
    if (!(r->select = calloc(v->n ? v->n : 1, sizeof(*r->select))))
        return -ENOMEM;
    for (size_t i = 0; i < v->n; i++) {
        const struct vg_rule_yaml_node *it = v->items[i];
        const char *s = text_of(f, it, "a select matcher");
        if (!s)
            continue;
        char msg[VG_ERRLEN];
        size_t off;
        int rc = vg_rule_select_parse(s, &r->select[r->n_select], &off, msg, sizeof(msg));
        if (rc == -ENOMEM)
            return rc;
        if (rc)
            ferr_in(f, it, off, msg);
        else
            r->n_select++;
    }
    return 0;
}

static int check_strings(struct file *f, const char *key, const struct vg_rule_yaml_node *v,
                         const char *example, char ***out, char ***where, size_t *n)
{
    if (!check_list(f, key, v, example))
        return 0;
    size_t cap = v->n ? v->n : 1;
    if (!(*out = calloc(cap, sizeof(char *))) || (where && !(*where = calloc(cap, sizeof(char *)))))
        return -ENOMEM;
    for (size_t i = 0; i < v->n; i++) {
        const struct vg_rule_yaml_node *it = v->items[i];
        const char *s = text_of(f, it, key);
        if (!s)
            continue;
        if (!*s) {
            ferr(f, it, "%s: empty item", key);
            continue;
        }
        if (!((*out)[*n] = strdup(s)))
            return -ENOMEM;
        if (where && !((*where)[*n] = where_str(f, it))) {
            free((*out)[*n]);
            return -ENOMEM;
        }
        (*n)++;
    }
    return 0;
}

static int check_templates(struct file *f, const char *key, const struct vg_rule_yaml_node *v,
                           unsigned flags, struct vg_rule_tmpl_kv **out, size_t *n)
{
    if (vg_rule_yaml_is_null(v))
        return 0;
    if (v->kind != VG_RULE_YAML_MAP) {
        ferr(f, v, "%s must be a map of NAME: text, e.g. %s: {%s}", key, key,
             flags & VG_TMPL_STABLE ? "team: infra" : "summary: \"{{ host }} is slow\"");
        return 0;
    }
    if (v->n > MAX_MAP_ITEMS) {
        ferr(f, v, "%s: more than %d entries", key, MAX_MAP_ITEMS);
        return 0;
    }
    if (!(*out = calloc(v->n ? v->n : 1, sizeof(**out))))
        return -ENOMEM;
    for (size_t i = 0; i < v->n; i++) {
        const struct vg_rule_yaml_node *k = v->items[2 * i], *val = v->items[2 * i + 1];
        const char *name = text_of(f, k, "a name");
        if (!name)
            continue;
        if (!is_ident(name)) {
            ferr(f, k,
                 "%s: '%.100s' is not a valid name (letters, digits and '_', not starting "
                 "with a digit)",
                 key, name);
            continue;
        }
        /* docs/rules.md: these names follow the rule name's rule, length included. */
        if (strlen(name) > MAX_NAME_LEN) {
            ferr(f, k, "%s: name '%.40s...' is longer than %d characters", key, name, MAX_NAME_LEN);
            continue;
        }
        if ((flags & VG_TMPL_STABLE) && strcmp(name, "host") == 0) {
            ferr(f, k, "labels: 'host' comes from the agent and cannot be set by a rule");
            continue;
        }
        /* The receivers' payloads set these two from the rule after its labels, so a label of
         * either name would be loaded only to be replaced in every notification. */
        if ((flags & VG_TMPL_STABLE) && strcmp(name, "severity") == 0) {
            const char *sv = val->kind == VG_RULE_YAML_SCALAR ? val->text : "";
            int known = 0;
            for (int sev = VG_RULE_INFO; sev <= VG_RULE_CRITICAL; sev++)
                known |= strcmp(sv, vg_rule_severity_name((enum vg_rule_severity)sev)) == 0;
            if (known)
                ferr(f, k,
                     "labels: 'severity' comes from the rule's 'severity' key, which replaces it "
                     "in every notification: write severity: %s in the rule instead",
                     sv);
            else
                ferr(f, k,
                     "labels: 'severity' comes from the rule's 'severity' key, which replaces it "
                     "in every notification: set that key (info, warning or critical) instead");
            continue;
        }
        if ((flags & VG_TMPL_STABLE) && strcmp(name, "alertname") == 0) {
            ferr(f, k,
                 "labels: 'alertname' is the rule's 'name', which replaces it in every "
                 "notification: rename the rule instead");
            continue;
        }
        size_t j;
        for (j = 0; j < i; j++)
            if (v->items[2 * j]->kind == VG_RULE_YAML_SCALAR &&
                strcmp(v->items[2 * j]->text, name) == 0)
                break;
        if (j < i) {
            ferr(f, k, "%s: '%s' is set twice (first at line %zu)", key, name,
                 v->items[2 * j]->line);
            continue;
        }
        const char *text = text_of(f, val, name);
        if (!text)
            continue;
        char msg[VG_ERRLEN];
        size_t off;
        struct vg_tmpl *t;
        int rc = vg_tmpl_parse(text, flags, &t, &off, msg, sizeof(msg));
        if (rc == -ENOMEM)
            return rc;
        if (rc) {
            ferr_in(f, val, off, msg);
            continue;
        }
        if (!((*out)[*n].key = strdup(name))) {
            vg_tmpl_free(t);
            return -ENOMEM;
        }
        (*out)[(*n)++].tmpl = t;
    }
    return 0;
}

/* ---- rules --------------------------------------------------------------------------------- */

static int add_rule(struct load *l, struct vg_rule *r)
{
    struct vg_rule_set *s = l->set;
    struct vg_rule **rules = realloc(s->rules, (s->n + 1) * sizeof(*rules));
    if (!rules)
        return -ENOMEM;
    s->rules = rules;
    if (vg_strmap_put(&l->names, r->name, r) < 0)
        return -ENOMEM;
    s->rules[s->n++] = r;
    return 0;
}

static int check_field(struct file *f, struct vg_rule *r, enum key k,
                       const struct vg_rule_yaml_node *v)
{
    switch (k) {
    case K_NAME:
        return check_name(f, r, v);
    case K_SELECT:
        return check_select(f, r, v);
    case K_WHEN:
        return check_when(f, r, v);
    case K_FOR:
        return check_duration(f, "for", v, &r->for_ms);
    case K_KEEP_FIRING_FOR:
        return check_duration(f, "keep_firing_for", v, &r->keep_firing_for_ms);
    case K_SEVERITY:
        return check_severity(f, r, v);
    case K_LABELS:
        return check_templates(f, "labels", v, VG_TMPL_STABLE, &r->labels, &r->n_labels);
    case K_ANNOTATIONS:
        return check_templates(f, "annotations", v, 0, &r->annotations, &r->n_annotations);
    case K_ACTIONS:
        /* No actions means every receiver (the engine hands on no receiver list), so an empty
         * list written to mute a rule would page everyone instead. */
        if (v->kind == VG_RULE_YAML_SEQ && v->n == 0) {
            ferr(f, v,
                 "actions: an empty list would notify every configured receiver, as a rule "
                 "without 'actions' does: omit the key for all receivers, or name the ones to "
                 "notify (e.g. actions: [webhook]); to mute a rule, remove it or silence its "
                 "alerts");
            return 0;
        }
        return check_strings(f, "actions", v, "[webhook]", &r->actions, &r->action_where,
                             &r->n_actions);
    case K_SERIES:
        /* As for actions and select: no series means every series. */
        if (v->kind == VG_RULE_YAML_SEQ && v->n == 0) {
            ferr(f, v,
                 "series: an empty list would consider every series, as no 'series' does: omit "
                 "the key for every series, or name the ones to consider (e.g. series: "
                 "['cpu.*'])");
            return 0;
        }
        return check_strings(f, "series", v, "['cpu.*', 'mem.*']", &r->series, NULL, &r->n_series);
    case K_COUNT:
        break;
    }
    return 0;
}

static int check_rule(struct file *f, const struct vg_rule_yaml_node *m)
{
    if (m->kind != VG_RULE_YAML_MAP) {
        ferr(f, m, "each rule must be a map (name: ..., when: ...), not %s", kind_noun(m));
        return 0;
    }
    struct vg_rule *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->severity = VG_RULE_WARNING;
    const struct vg_rule_yaml_node *seen[K_COUNT] = {0};
    int rc = 0;
    for (size_t i = 0; !rc && i < m->n; i++) {
        const struct vg_rule_yaml_node *k = m->items[2 * i], *v = m->items[2 * i + 1];
        const char *key = text_of(f, k, "a key");
        if (!key)
            continue;
        size_t ki;
        for (ki = 0; ki < K_COUNT; ki++)
            if (strcmp(key, key_names[ki]) == 0)
                break;
        if (ki == K_COUNT) {
            const char *s = vg_rule_suggest(key, key_names, K_COUNT);
            if (s)
                ferr(f, k, "unknown key '%.100s' (did you mean '%s'?)", key, s);
            else
                ferr(f, k,
                     "unknown key '%.100s' (a rule has name, select, when, for, keep_firing_for, "
                     "severity, labels, annotations, actions, series)",
                     key);
            continue;
        }
        if (seen[ki]) {
            ferr(f, k, "key '%s' is set twice in this rule (first at line %zu)", key,
                 seen[ki]->line);
            continue;
        }
        seen[ki] = k;
        rc = check_field(f, r, (enum key)ki, v);
    }
    if (!rc && !seen[K_NAME])
        ferr(f, m, "missing 'name'");
    if (!rc && !seen[K_WHEN])
        ferr(f, m, "missing 'when'");
    if (!rc && r->name) {
        if (!(r->where = where_str(f, seen[K_NAME])))
            rc = -ENOMEM;
        const struct vg_rule *first = rc ? NULL : vg_strmap_get(&f->l->names, r->name);
        if (first) {
            ferr(f, seen[K_NAME], "rule '%s' is defined twice (first at %s)", r->name,
                 first->where);
        } else if (!rc) {
            /* Broken rules join the set too, so a later rule of the same name is still called
             * a duplicate; the set is thrown away anyway when there was any error. */
            if (!(rc = add_rule(f->l, r)))
                return 0;
        }
    }
    vg_rule_free(r);
    return rc;
}

/* ---- scaling policies ---------------------------------------------------------------------- */

enum pkey {
    P_TARGET,
    P_SELECT,
    P_METRIC,
    P_WHEN,
    P_TARGET_VALUE,
    P_TOLERANCE,
    P_STEP_OUT,
    P_STEP_IN,
    P_MIN,
    P_MAX,
    P_INITIAL,
    P_COOLDOWN,
    P_STABILIZATION,
    P_INTERVAL,
    P_HOLD_SEVERITY,
    P_COUNT
};

static const char *const pkey_names[P_COUNT] = {
    [P_TARGET] = "target",
    [P_SELECT] = "select",
    [P_METRIC] = "metric",
    [P_WHEN] = "when",
    [P_TARGET_VALUE] = "target_value",
    [P_TOLERANCE] = "tolerance",
    [P_STEP_OUT] = "step_out",
    [P_STEP_IN] = "step_in",
    [P_MIN] = "min",
    [P_MAX] = "max",
    [P_INITIAL] = "initial",
    [P_COOLDOWN] = "cooldown",
    [P_STABILIZATION] = "scale_in_stabilization",
    [P_INTERVAL] = "interval",
    [P_HOLD_SEVERITY] = "hold_scale_in_severity",
};

static int check_number(struct file *f, const char *key, const struct vg_rule_yaml_node *v,
                        double lo, double hi, const char *range, double *out)
{
    const char *s = text_of(f, v, key);
    if (!s)
        return 0;
    char *end;
    double d = strtod(s, &end);
    if (!*s || *end || !(d >= lo && d <= hi)) {
        ferr(f, v, "%s: '%.100s' is not %s", key, s, range);
        return 0;
    }
    *out = d;
    return 1;
}

static int check_count(struct file *f, const char *key, const struct vg_rule_yaml_node *v, int *out)
{
    double d;
    /* The bound is also what sizes the scale state's stabilisation deque (actions/vg_scale.h). */
    if (!check_number(f, key, v, 0, VG_SCALE_MAX_REPLICAS, "a replica count (0 to 100000)", &d))
        return 0;
    if (d != floor(d)) {
        ferr(f, v, "%s: '%s' is not a whole number of replicas", key, v->text);
        return 0;
    }
    *out = (int)d;
    return 1;
}

/* hold_scale_in_severity: a rule severity, or none (no alert holds the scale-in). */
static void check_hold_severity(struct file *f, const struct vg_rule_yaml_node *v, int *out)
{
    const char *s = text_of(f, v, "hold_scale_in_severity");
    if (!s)
        return;
    for (int i = VG_RULE_INFO; i <= VG_RULE_CRITICAL; i++) {
        if (strcmp(s, vg_rule_severity_name((enum vg_rule_severity)i)) == 0) {
            *out = i;
            return;
        }
    }
    if (strcmp(s, "none") == 0) {
        *out = VG_RULE_POLICY_HOLD_NONE;
        return;
    }
    ferr(f, v,
         "hold_scale_in_severity '%.100s' is not one of info, warning, critical, none (the least "
         "severity of a firing alert that holds the scale-in)",
         s);
}

static int valid_target(const char *s)
{
    if (!*s || strlen(s) > 128 || *s == '.')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return 0;
    return 1;
}

static int policy_expr(struct file *f, struct vg_rule_policy *p, const struct vg_rule_yaml_node *v,
                       int number)
{
    const char *s = text_of(f, v, number ? "metric" : "when");
    if (!s)
        return 0;
    char msg[VG_ERRLEN];
    size_t off;
    int rc = number ? vg_expr_parse_number(s, &p->expr, &off, msg, sizeof(msg))
                    : vg_expr_parse(s, &p->expr, &off, msg, sizeof(msg));
    if (rc == -ENOMEM)
        return rc;
    if (rc) {
        ferr_in(f, v, off, msg);
        return 0;
    }
    p->params.mode = number ? VG_SCALE_TARGET : VG_SCALE_STEP;
    if ((rc = note_host_models(f, v, p->expr)))
        return rc;
    return (p->expr_text = strdup(s)) ? 0 : -ENOMEM;
}

static int policy_select(struct file *f, struct vg_rule_policy *p,
                         const struct vg_rule_yaml_node *v)
{
    /* The same checks and messages as a rule's select, on a scratch rule. */
    struct vg_rule tmp = {0};
    int rc = check_select(f, &tmp, v);
    p->select = tmp.select;
    p->n_select = tmp.n_select;
    return rc;
}

static int check_policy(struct file *f, const struct vg_rule_yaml_node *m)
{
    if (m->kind != VG_RULE_YAML_MAP) {
        ferr(f, m, "each scaling policy must be a map (target: ..., metric: ...), not %s",
             kind_noun(m));
        return 0;
    }
    struct vg_rule_policy *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->params.tolerance = 0.1;
    p->params.step_out = 1;
    p->params.step_in = 1;
    p->params.min = 1;
    p->params.cooldown_ms = 60000;
    p->params.stabilization_ms = 300000;
    p->interval_ms = 15000;
    p->initial = -1;
    p->hold_severity = VG_RULE_WARNING;
    const struct vg_rule_yaml_node *seen[P_COUNT] = {0};
    int rc = 0;
    unsigned errors_before = f->l->n_errors;
    for (size_t i = 0; !rc && i < m->n; i++) {
        const struct vg_rule_yaml_node *k = m->items[2 * i], *v = m->items[2 * i + 1];
        const char *key = text_of(f, k, "a key");
        if (!key)
            continue;
        size_t ki;
        for (ki = 0; ki < P_COUNT; ki++)
            if (strcmp(key, pkey_names[ki]) == 0)
                break;
        if (ki == P_COUNT) {
            const char *sug = vg_rule_suggest(key, pkey_names, P_COUNT);
            if (sug)
                ferr(f, k, "unknown key '%.100s' (did you mean '%s'?)", key, sug);
            else
                ferr(f, k,
                     "unknown key '%.100s' (a scaling policy has target, select, metric or "
                     "when, target_value, tolerance, step_out, step_in, min, max, initial, "
                     "cooldown, scale_in_stabilization, interval, hold_scale_in_severity)",
                     key);
            continue;
        }
        if (seen[ki]) {
            ferr(f, k, "key '%s' is set twice in this policy (first at line %zu)", key,
                 seen[ki]->line);
            continue;
        }
        seen[ki] = k;
        double d;
        switch ((enum pkey)ki) {
        case P_TARGET: {
            const char *t = text_of(f, v, "target");
            if (!t)
                break;
            if (!valid_target(t)) {
                ferr(f, v,
                     "target '%.100s' is not valid: use letters, digits, '.', '_' and '-' "
                     "(it is part of the URL /api/v1/scale/TARGET)",
                     t);
                break;
            }
            if (!(p->target = strdup(t)) || !(p->where = where_str(f, v)))
                rc = -ENOMEM;
            break;
        }
        case P_SELECT:
            rc = policy_select(f, p, v);
            break;
        case P_METRIC:
        case P_WHEN:
            if (seen[P_METRIC] && seen[P_WHEN]) {
                ferr(f, k,
                     "a policy has either 'metric' (target tracking) or 'when' (step "
                     "scaling), not both");
                break;
            }
            rc = policy_expr(f, p, v, ki == P_METRIC);
            break;
        case P_TARGET_VALUE:
            if (check_number(f, "target_value", v, 1e-9, 1e300, "a number from 1e-9 to 1e300", &d))
                p->params.target = d;
            break;
        case P_TOLERANCE:
            if (check_number(f, "tolerance", v, 0, 10, "a fraction such as 0.1 (0 to 10)", &d))
                p->params.tolerance = d;
            break;
        case P_STEP_OUT:
        case P_STEP_IN: {
            /* A step of 0 would load a policy that can never move in that direction. */
            int out = ki == P_STEP_OUT, *step = out ? &p->params.step_out : &p->params.step_in;
            if (check_count(f, key, v, step) && *step < 1)
                ferr(f, v, "%s: 0 would never scale %s: write at least 1 (the default)", key,
                     out ? "out" : "in");
            break;
        }
        case P_MIN:
            check_count(f, "min", v, &p->params.min);
            break;
        case P_MAX:
            check_count(f, "max", v, &p->params.max);
            break;
        case P_INITIAL:
            check_count(f, "initial", v, &p->initial);
            break;
        case P_COOLDOWN:
            check_duration(f, "cooldown", v, &p->params.cooldown_ms);
            break;
        case P_STABILIZATION:
            check_duration(f, "scale_in_stabilization", v, &p->params.stabilization_ms);
            break;
        case P_INTERVAL: {
            unsigned before = f->l->n_errors;
            check_duration(f, "interval", v, &p->interval_ms);
            if (p->interval_ms < 100 && f->l->n_errors == before)
                ferr(f, v, "interval: must be at least 100ms");
            break;
        }
        case P_HOLD_SEVERITY:
            check_hold_severity(f, v, &p->hold_severity);
            break;
        case P_COUNT:
            break;
        }
    }
    if (!rc && !seen[P_TARGET])
        ferr(f, m, "missing 'target' (the name KEDA and the decisions use, e.g. target: web)");
    if (!rc && !seen[P_METRIC] && !seen[P_WHEN])
        ferr(f, m,
             "missing 'metric' (target tracking, with target_value) or 'when' (step scaling)");
    if (!rc && seen[P_METRIC] && !seen[P_TARGET_VALUE])
        ferr(f, m, "missing 'target_value': target tracking needs the metric's value per replica");
    if (!rc && seen[P_WHEN] && !seen[P_METRIC] && seen[P_TARGET_VALUE])
        ferr(f, seen[P_TARGET_VALUE],
             "target_value only applies to 'metric' (target tracking), not to 'when'");
    if (!rc && !seen[P_MAX])
        ferr(f, m, "missing 'max' (the most replicas this policy may ask for)");
    if (!rc && seen[P_MAX] && f->l->n_errors == errors_before && p->params.max < p->params.min)
        ferr(f, seen[P_MAX], "max (%d) is less than min (%d)", p->params.max, p->params.min);
    /* An initial count outside [min, max] would be clamped by the first decision: the file
     * would say one thing and the policy do another. */
    if (!rc && seen[P_INITIAL] && f->l->n_errors == errors_before && p->initial >= 0 &&
        (p->initial < p->params.min || p->initial > p->params.max))
        ferr(f, seen[P_INITIAL], "initial (%d) is not between min (%d) and max (%d)", p->initial,
             p->params.min, p->params.max);
    if (!rc && p->initial < 0)
        p->initial = p->params.min;
    if (!rc && p->target && f->l->n_errors == errors_before) {
        struct vg_rule_set *s = f->l->set;
        for (size_t i = 0; i < s->n_policies; i++) {
            if (strcmp(s->policies[i]->target, p->target) == 0) {
                ferr(f, seen[P_TARGET], "target '%s' has two policies (first at %s)", p->target,
                     s->policies[i]->where);
                vg_rule_policy_free(p);
                return 0;
            }
        }
        struct vg_rule_policy **np =
            realloc(s->policies, (s->n_policies + 1) * sizeof(*s->policies));
        if (!np) {
            vg_rule_policy_free(p);
            return -ENOMEM;
        }
        s->policies = np;
        s->policies[s->n_policies++] = p;
        return 0;
    }
    vg_rule_policy_free(p);
    return rc;
}

static int check_root(struct file *f, const struct vg_rule_yaml_node *root)
{
    if (vg_rule_yaml_is_null(root))
        return 0; /* an empty file or document holds no rules */
    if (root->kind != VG_RULE_YAML_MAP) {
        ferr(f, root, "a rule file is a map with the key 'rules' (a list of rules), not %s",
             kind_noun(root));
        return 0;
    }
    const struct vg_rule_yaml_node *rules = NULL, *scaling = NULL;
    static const char *const cand[] = {"rules", "scaling"};
    for (size_t i = 0; i < root->n; i++) {
        const struct vg_rule_yaml_node *k = root->items[2 * i], *v = root->items[2 * i + 1];
        const char *key = text_of(f, k, "a key");
        if (!key)
            continue;
        int is_rules = strcmp(key, "rules") == 0, is_scaling = strcmp(key, "scaling") == 0;
        if (!is_rules && !is_scaling) {
            const char *sug = vg_rule_suggest(key, cand, 2);
            if (sug)
                ferr(f, k, "unknown key '%.100s' (did you mean '%s'?)", key, sug);
            else
                ferr(f, k, "unknown key '%.100s' (a rule file has only 'rules' and 'scaling')",
                     key);
            continue;
        }
        const struct vg_rule_yaml_node **slot = is_rules ? &rules : &scaling;
        if (*slot) {
            ferr(f, k, "key '%s' is set twice (first at line %zu)", key, (*slot)->line);
            continue;
        }
        *slot = k;
        if (vg_rule_yaml_is_null(v))
            continue;
        if (v->kind != VG_RULE_YAML_SEQ) {
            if (is_rules)
                ferr(f, v, "rules must be a list: start each rule with '- name: ...'");
            else
                ferr(f, v, "scaling must be a list: start each policy with '- target: ...'");
            continue;
        }
        for (size_t j = 0; j < v->n; j++) {
            int rc = is_rules ? check_rule(f, v->items[j]) : check_policy(f, v->items[j]);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int load_text(struct load *l, const char *origin, const char *buf, size_t len)
{
    char msg[VG_ERRLEN + 512];
    struct vg_rule_yaml_doc *doc;
    int rc = vg_rule_yaml_parse(origin, buf, len, &doc, msg, sizeof(msg));
    if (rc == -ENOMEM)
        return rc;
    if (rc) {
        add_line(l, msg); /* the YAML layer already wrote "origin:line:col: ..." */
        return 0;
    }
    struct file f = {l, origin, doc};
    for (size_t i = 0; !rc && i < vg_rule_yaml_count(doc); i++)
        rc = check_root(&f, vg_rule_yaml_root(doc, i));
    vg_rule_yaml_free(doc);
    return rc;
}

static int load_begin(struct load *l, char *err, size_t errlen)
{
    memset(l, 0, sizeof(*l));
    vg_strmap_init(&l->names);
    l->el.buf = err;
    l->el.len = errlen;
    if (err && errlen)
        err[0] = '\0';
    return (l->set = calloc(1, sizeof(*l->set))) ? 0 : -ENOMEM;
}

static int load_end(struct load *l, int rc, struct vg_rule_set **out)
{
    vg_strmap_free(&l->names, NULL); /* the rules belong to the set */
    if (!rc && l->n_errors)
        rc = l->read_rc ? l->read_rc : -EINVAL;
    if (rc) {
        if (rc == -ENOMEM && !l->n_errors)
            vg_err(l->el.buf, l->el.len, rc, "out of memory loading rules");
        vg_rule_errlist_finish(&l->el);
        if (l->keep && rc != -ENOMEM)
            *out = l->set;
        else
            vg_rule_set_free(l->set);
        return rc;
    }
    *out = l->set;
    return 0;
}

static int load_buffer(const char *origin, const char *buf, size_t len, int keep,
                       struct vg_rule_set **out, char *err, size_t errlen)
{
    *out = NULL;
    struct load l;
    int rc = load_begin(&l, err, errlen);
    l.keep = keep;
    if (!rc)
        rc = load_text(&l, origin, buf, len);
    return load_end(&l, rc, out);
}

int vg_rule_set_load_buffer(const char *origin, const char *buf, size_t len,
                            struct vg_rule_set **out, char *err, size_t errlen)
{
    return load_buffer(origin, buf, len, 0, out, err, errlen);
}

int vg_rule_set_check_buffer(const char *origin, const char *buf, size_t len,
                             struct vg_rule_set **out, char *err, size_t errlen)
{
    return load_buffer(origin, buf, len, 1, out, err, errlen);
}

/* ---- directories --------------------------------------------------------------------------- */

int vg_rule_file_read(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
    *buf = NULL;
    *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return vg_err(err, errlen, -errno, "%s: cannot open rule file: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) == 0 && !S_ISREG(st.st_mode)) {
        fclose(fp);
        return vg_err(err, errlen, -EINVAL, "%s: not a regular file", path);
    }
    /* The limit is on the bytes read, not on the buffer: reading one byte more than allowed
     * tells a file of exactly MAX_FILE_BYTES from a larger one. */
    size_t cap = 0;
    char *b = NULL;
    for (;;) {
        if (*len == cap) {
            if (cap > MAX_FILE_BYTES) {
                fclose(fp);
                free(b);
                return vg_err(err, errlen, -EFBIG, "%s: rule file larger than 4 MiB", path);
            }
            size_t ncap = cap ? cap * 2 : 16384;
            if (ncap > MAX_FILE_BYTES + 1)
                ncap = MAX_FILE_BYTES + 1;
            char *nb = realloc(b, ncap);
            if (!nb) {
                fclose(fp);
                free(b);
                return vg_err(err, errlen, -ENOMEM, "%s: out of memory reading it", path);
            }
            b = nb;
            cap = ncap;
        }
        size_t r = fread(b + *len, 1, cap - *len, fp);
        *len += r;
        if (r == 0)
            break;
    }
    int bad = ferror(fp);
    fclose(fp);
    if (bad) {
        free(b);
        *len = 0;
        return vg_err(err, errlen, -EIO, "%s: read error", path);
    }
    *buf = b;
    return 0;
}

static int wanted(const char *name)
{
    size_t n = strlen(name);
    if (name[0] == '.')
        return 0; /* editor droppings, Kubernetes' ..data links */
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static int add_name(char ***names, size_t *n, const char *name)
{
    char **nn = realloc(*names, (*n + 1) * sizeof(*nn));
    if (!nn)
        return -ENOMEM;
    *names = nn;
    if (!(nn[*n] = strdup(name)))
        return -ENOMEM;
    (*n)++;
    return 0;
}

/* The rule files of dir in *names, and in *other the names passed over that are not hidden
 * (alerts.YAML, x.yaml.bak): a directory of only those loads no rule at all, which turns off
 * alerting, so they are named rather than ignored in silence. */
static int list_dir(const char *dir, char ***names, size_t *n, char ***other, size_t *n_other,
                    char *err, size_t errlen)
{
    *names = *other = NULL;
    *n = *n_other = 0;
    DIR *d = opendir(dir);
    if (!d)
        return vg_err(err, errlen, -errno, "%s: cannot open rules directory: %s", dir,
                      strerror(errno));
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        if (wanted(de->d_name))
            rc = add_name(names, n, de->d_name);
        else if (de->d_name[0] != '.')
            rc = add_name(other, n_other, de->d_name);
    }
    closedir(d);
    /* qsort's array may not be NULL, even for no element (UBSan holds it to that). */
    if (!rc && *n)
        qsort(*names, *n, sizeof(**names), by_name);
    if (!rc && *n_other)
        qsort(*other, *n_other, sizeof(**other), by_name);
    return rc;
}

size_t vg_rule_set_skipped_count(const struct vg_rule_set *s)
{
    return s->n_skipped;
}

const char *vg_rule_set_skipped(const struct vg_rule_set *s, size_t i)
{
    return i < s->n_skipped ? s->skipped[i] : NULL;
}

static int add_skipped(struct vg_rule_set *s, const char *path, const char *why)
{
    char text[PATH_MAX + 128];
    snprintf(text, sizeof(text), "%s: skipped, %s", path, why);
    char **ns = realloc(s->skipped, (s->n_skipped + 1) * sizeof(*ns));
    if (!ns)
        return -ENOMEM;
    s->skipped = ns;
    if (!(ns[s->n_skipped] = strdup(text)))
        return -ENOMEM;
    s->n_skipped++;
    return 0;
}

static int load_dir(const char *dir, int keep, struct vg_rule_set **out, char *err, size_t errlen)
{
    *out = NULL;
    char **names, **other;
    size_t n, n_other;
    int rc = list_dir(dir, &names, &n, &other, &n_other, err, errlen);
    if (rc) {
        free_names(names, n);
        free_names(other, n_other);
        return rc;
    }
    struct load l;
    rc = load_begin(&l, err, errlen);
    l.keep = keep;
    size_t dl = strlen(dir);
    const char *sep = dl && dir[dl - 1] == '/' ? "" : "/";
    /* Only files: a subdirectory without a rule file's name is no mistake to point out. */
    for (size_t i = 0; !rc && i < n_other; i++) {
        char path[PATH_MAX];
        struct stat st;
        if (snprintf(path, sizeof(path), "%s%s%s", dir, sep, other[i]) < (int)sizeof(path) &&
            stat(path, &st) == 0 && S_ISREG(st.st_mode))
            rc = add_skipped(l.set, path,
                             "not a rule file's name (rule files end in .yaml or .yml)");
    }
    free_names(other, n_other);
    for (size_t i = 0; !rc && i < n; i++) {
        char path[4096];
        if (snprintf(path, sizeof(path), "%s%s%s", dir, sep, names[i]) >= (int)sizeof(path)) {
            char msg[PATH_MAX + 64];
            snprintf(msg, sizeof(msg), "%s/%.255s: path too long", dir, names[i]);
            add_line(&l, msg);
            if (!l.read_rc)
                l.read_rc = -ENAMETOOLONG;
            continue;
        }
        struct stat st;
        if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
            /* Only files are rule files: a subdirectory (or a FIFO, which would block the
             * open) is passed over, and listed for the caller to mention. */
            if ((rc = add_skipped(l.set, path,
                                  S_ISDIR(st.st_mode) ? "a directory (subdirectories are not read)"
                                                      : "not a regular file")))
                break;
            continue;
        }
        char *buf, msg[PATH_MAX + VG_ERRLEN];
        size_t len;
        int frc = vg_rule_file_read(path, &buf, &len, msg, sizeof(msg));
        if (frc == -ENOENT && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
            snprintf(msg, sizeof(msg),
                     "%s: cannot open rule file: a symbolic link to a missing file", path);
        if (frc == -ENOMEM) {
            rc = frc;
            break;
        }
        if (frc) {
            /* One file that cannot be read fails the load like a mistake in it would, listed
             * with the others rather than hiding them. */
            add_line(&l, msg);
            if (!l.read_rc)
                l.read_rc = frc;
            continue;
        }
        rc = load_text(&l, path, buf, len);
        free(buf);
    }
    free_names(names, n);
    return load_end(&l, rc, out);
}

int vg_rule_set_load_dir(const char *dir, struct vg_rule_set **out, char *err, size_t errlen)
{
    return load_dir(dir, 0, out, err, errlen);
}

int vg_rule_set_check_dir(const char *dir, struct vg_rule_set **out, char *err, size_t errlen)
{
    return load_dir(dir, 1, out, err, errlen);
}
