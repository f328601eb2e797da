#include "vg_config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "vg_urlfile.h"
#include "vg_util.h"
#include "vg_yamlmark.h"

#define FIELD(cfg, k) ((char *)(cfg) + (k)->offset)

/* Where each key's value came from in the last load, so that a value checked after loading
 * (a collector name, a log level) is still reported at its file, line and column. Fixed-size
 * and process-wide: configs are loaded on one thread, one at a time. */
#define WHERE_MAX 256
static struct {
    char key[96];
    char where[160];
    char key_at[160]; /* a map entry read from a file: where its key is; else empty */
} g_where[WHERE_MAX];
static size_t g_n_where;

static void where_reset(void)
{
    g_n_where = 0;
}

static void where_set(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void where_set(const char *key, const char *fmt, ...)
{
    size_t i;
    for (i = 0; i < g_n_where; i++)
        if (strcmp(g_where[i].key, key) == 0)
            break;
    if (i == g_n_where) {
        if (g_n_where == WHERE_MAX || strlen(key) >= sizeof g_where[0].key)
            return;
        g_n_where++;
        snprintf(g_where[i].key, sizeof g_where[i].key, "%s", key);
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_where[i].where, sizeof g_where[i].where, fmt, ap);
    va_end(ap);
    g_where[i].key_at[0] = '\0'; /* a later --set replaces the file's entry, key and all */
}

/* After where_set(key, ...) of a map entry read from a file: where the entry's key is, for a
 * message about the key rather than the value (a label name the wire format refuses). */
static void where_set_key(const char *key, const char *origin, const yaml_mark_t *m)
{
    for (size_t i = 0; i < g_n_where; i++)
        if (strcmp(g_where[i].key, key) == 0)
            snprintf(g_where[i].key_at, sizeof g_where[i].key_at, "%s:%zu:%zu", origin, m->line + 1,
                     m->column + 1);
}

const char *vg_config_where(const char *key)
{
    for (size_t i = 0; i < g_n_where; i++)
        if (strcmp(g_where[i].key, key) == 0)
            return g_where[i].where;
    return NULL;
}

const char *vg_config_where_key(const char *key)
{
    for (size_t i = 0; i < g_n_where; i++)
        if (strcmp(g_where[i].key, key) == 0)
            return g_where[i].key_at[0] ? g_where[i].key_at : g_where[i].where;
    return NULL;
}

void vg_config_locate(char *err, size_t errlen)
{
    char key[96];
    size_t n = strspn(err, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
    if (n == 0 || n >= sizeof key || (err[n] != ':' && err[n] != ' '))
        return;
    memcpy(key, err, n);
    key[n] = '\0';
    /* "kafka property 'acks': ..." is about the map entry kafka.acks: its value, unless
     * librdkafka does not know the name, where the user looks for the mistyped key. */
    static const char prop[] = " property '", unknown[] = "': No such configuration property";
    int at_key = 0;
    if (strncmp(err + n, prop, sizeof prop - 1) == 0) {
        const char *e = err + n + sizeof prop - 1;
        size_t el = strcspn(e, "'");
        if (e[el] == '\'' && n + 1 + el < sizeof key) {
            key[n] = '.';
            memcpy(key + n + 1, e, el);
            key[n + 1 + el] = '\0';
            at_key = strncmp(e + el, unknown, sizeof unknown - 1) == 0;
        }
    }
    const char *w = at_key ? vg_config_where_key(key) : vg_config_where(key);
    if (!w)
        return;
    char msg[VG_ERRLEN];
    snprintf(msg, sizeof msg, "%s", err);
    snprintf(err, errlen, "%s: %s", w, msg);
}

static const char *type_name(enum vg_cfg_type t)
{
    switch (t) {
    case VG_CFG_STRING:
        return "string";
    case VG_CFG_INT:
        return "integer";
    case VG_CFG_DOUBLE:
        return "number";
    case VG_CFG_BOOL:
        return "boolean";
    case VG_CFG_DURATION:
        return "duration";
    case VG_CFG_SIZE:
        return "size";
    case VG_CFG_MAP:
        return "map";
    }
    return "?";
}

/* ---- maps ---------------------------------------------------------------------------------- */

const char *vg_kvlist_get(const struct vg_kvlist *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i].key, key) == 0)
            return l->items[i].value;
    return NULL;
}

int vg_kvlist_set(struct vg_kvlist *l, const char *key, const char *value)
{
    char *v = strdup(value);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->items[i].key, key) == 0) {
            free(l->items[i].value);
            l->items[i].value = v;
            return 0;
        }
    }
    struct vg_kv *items = realloc(l->items, (l->n + 1) * sizeof(*items));
    char *k = strdup(key);
    if (!items || !k) {
        free(v);
        free(k);
        if (items)
            l->items = items;
        return -ENOMEM;
    }
    l->items = items;
    l->items[l->n].key = k;
    l->items[l->n].value = v;
    l->n++;
    return 0;
}

void vg_kvlist_free(struct vg_kvlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].key);
        free(l->items[i].value);
    }
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* ---- scalar parsing ------------------------------------------------------------------------ */

static int parse_number_suffix(const char *s, double *num, const char **suffix)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno == ERANGE || !isfinite(v))
        return -EINVAL;
    while (*end == ' ')
        end++;
    *num = v;
    *suffix = end;
    return 0;
}

/* A duration is decimal digits, an optional fraction and a unit right after them (1.5m): strtod
 * took 0x10s for 16 s, 1e3s and "5 m" too, none of which the docs write. Blanks around it are
 * trimmed, as YAML trims a plain value and a quoted one may keep them; none inside. */
int vg_parse_duration_ms(const char *s, int64_t *out)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    size_t k = 0;
    while (k < n && s[k] >= '0' && s[k] <= '9')
        k++;
    if (k == 0)
        return -EINVAL;
    if (k < n && s[k] == '.') {
        size_t f = ++k;
        while (k < n && s[k] >= '0' && s[k] <= '9')
            k++;
        if (k == f)
            return -EINVAL; /* "1." or "1.s" */
    }
    char num[64];
    if (k >= sizeof(num))
        return -EINVAL;
    memcpy(num, s, k);
    num[k] = '\0';
    double v = strtod(num, NULL);
    const char *unit = s + k;
    size_t unit_len = n - k;
    if (unit_len == 0) {
        if (v != 0) /* "0" needs no unit: the docs write `0` for "off" */
            return -EINVAL;
        *out = 0;
        return 0;
    }
    for (size_t i = 0; i < VG_ARRAY_LEN(units); i++) {
        if (strlen(units[i].unit) == unit_len && memcmp(unit, units[i].unit, unit_len) == 0) {
            double ms = v * units[i].ms;
            if (!isfinite(ms) || ms > 9.2e15)
                return -EINVAL;
            *out = (int64_t)llround(ms);
            return 0;
        }
    }
    return -EINVAL;
}

int vg_parse_size(const char *s, int64_t *out)
{
    static const struct {
        const char *unit;
        double mult;
    } units[] = {
        {"", 1},        {"B", 1},    {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0},
        {"KB", 1000.0}, {"MB", 1e6}, {"GB", 1e9}};
    double v;
    const char *suf;
    if (parse_number_suffix(s, &v, &suf) < 0 || v < 0)
        return -EINVAL;
    for (size_t i = 0; i < VG_ARRAY_LEN(units); i++) {
        if (strcmp(suf, units[i].unit) == 0) {
            double b = v * units[i].mult;
            if (b > 9.2e18)
                return -EINVAL;
            *out = (int64_t)llround(b);
            return 0;
        }
    }
    return -EINVAL;
}

/* A bound as the user writes the key's values: 1h rather than 3.6e+06ms, 16GiB rather than
 * 1.71799e+10. */
static void fmt_bound(const struct vg_cfg_key *k, double v, char *buf, size_t n)
{
    struct unit {
        const char *unit;
        double mult;
    };
    static const struct unit dur[] = {{"h", 3600000.0}, {"m", 60000.0}, {"s", 1000.0}, {"ms", 1.0}},
                             size[] = {{"GiB", 1073741824.0},
                                       {"MiB", 1048576.0},
                                       {"KiB", 1024.0},
                                       {"", 1.0}};
    if (k->type == VG_CFG_DURATION || k->type == VG_CFG_SIZE) {
        const struct unit *u = k->type == VG_CFG_DURATION ? dur : size;
        for (size_t i = 0; i < 4; i++) {
            if (v == 0 || (v >= u[i].mult && fmod(v, u[i].mult) == 0) || i == 3) {
                snprintf(buf, n, "%.0f%s", v / u[i].mult, v == 0 ? u[3].unit : u[i].unit);
                return;
            }
        }
    }
    if (k->type == VG_CFG_INT)
        snprintf(buf, n, "%.0f", v);
    else
        snprintf(buf, n, "%g", v);
}

static int check_bounds(const struct vg_cfg_key *k, double v, char *err, size_t errlen)
{
    if (k->min > k->max)
        return 0;
    if (v < k->min || v > k->max) {
        char lo[32], hi[32];
        fmt_bound(k, k->min, lo, sizeof lo);
        fmt_bound(k, k->max, hi, sizeof hi);
        return vg_err(err, errlen, -ERANGE, "%s must be between %s and %s", k->name, lo, hi);
    }
    return 0;
}

/* The "did you mean" rule for keys and choices alike: within a third of the word's length in
 * edits, and never more than 3, or the suggestion is a guess. */
static int close_enough(const char *word, size_t distance)
{
    size_t limit = strlen(word) / 3 + 1;
    return distance <= (limit < 3 ? limit : 3);
}

/* Steps through "a|b|c": sets *c and *n to the next choice; returns 0 once past the last.
 * Start with *p = the choices. */
static int next_choice(const char **p, const char **c, size_t *n)
{
    if (!*p)
        return 0;
    *c = *p;
    *n = strcspn(*p, "|");
    *p = (*p)[*n] ? *p + *n + 1 : NULL;
    return 1;
}

/* "a, b, c" (each within quote) from "a|b|c". */
static void fmt_choices(const char *choices, const char *quote, char *buf, size_t n)
{
    size_t len = 0;
    const char *p = choices, *c;
    size_t cn;
    buf[0] = '\0';
    while (len < n && next_choice(&p, &c, &cn)) {
        int w =
            snprintf(buf + len, n - len, "%s%s%.*s%s", len ? ", " : "", quote, (int)cn, c, quote);
        len += w > 0 ? (size_t)w : 0;
    }
}

static int check_choice(const struct vg_cfg_key *k, const char *text, char *err, size_t errlen)
{
    if (!k->choices)
        return 0;
    const char *p = k->choices, *c;
    size_t n, bestd = 99;
    char best[64] = "";
    while (next_choice(&p, &c, &n)) {
        if (strlen(text) == n && strncmp(text, c, n) == 0)
            return 0;
        char cand[64];
        if (n >= sizeof cand)
            continue;
        memcpy(cand, c, n);
        cand[n] = '\0';
        /* INFO for info: only the case is wrong, however many letters that is. */
        size_t d = strcasecmp(text, cand) == 0 ? 0 : vg_edit_distance(text, cand);
        if (d < bestd) {
            bestd = d;
            memcpy(best, cand, n + 1);
        }
    }
    char list[160], hint[96] = "";
    fmt_choices(k->choices, "", list, sizeof list);
    if (*best && close_enough(text, bestd))
        snprintf(hint, sizeof hint, " (did you mean '%s'?)", best);
    /* %.80s: a long value is cut so that the allowed values still fit the error buffer. */
    return vg_err(err, errlen, -EINVAL, "%s: '%.80s' is not one of %s%s", k->name, text, list,
                  hint);
}

/* Sets a non-map key from its text form. NULL text (a key written with no value) clears a string
 * that is unset by default; one with a default must be given a value, since the daemons rely on
 * it being set (an empty value is written ""). */
static int set_value(const struct vg_cfg_key *k, void *cfg, const char *text, char *err,
                     size_t errlen)
{
    void *f = FIELD(cfg, k);
    if (!text) {
        if (k->type == VG_CFG_STRING && k->def && k->choices) {
            char list[160];
            fmt_choices(k->choices, "", list, sizeof list);
            return vg_err(err, errlen, -EINVAL,
                          "%s has no value: write one of %s, or leave the key out for its "
                          "default '%s'",
                          k->name, list, k->def);
        }
        if (k->type == VG_CFG_STRING && k->def)
            return vg_err(err, errlen, -EINVAL,
                          "%s has no value: write one, \"\" for an empty one, or leave the key out "
                          "for its default '%s'",
                          k->name, k->def);
        if (k->type == VG_CFG_STRING) {
            free(*(char **)f);
            *(char **)f = NULL;
            return 0;
        }
        return vg_err(err, errlen, -EINVAL, "%s needs %s %s value", k->name,
                      k->type == VG_CFG_INT ? "an" : "a", type_name(k->type));
    }
    switch (k->type) {
    case VG_CFG_STRING: {
        int rc = check_choice(k, text, err, errlen);
        if (rc)
            return rc;
        /* A default that is a word, not a path (cgroup.root's auto), may be written too. */
        int word = k->def && *k->def && *k->def != '/';
        if ((k->flags & VG_CFG_F_ABS_PATH) && *text && *text != '/' &&
            !(word && strcmp(text, k->def) == 0))
            return vg_err(err, errlen, -EINVAL,
                          "%s: '%.200s' must be an absolute path%s%s (the units run from /, not "
                          "from the directory a check runs in)",
                          k->name, text, word ? " or " : "", word ? k->def : "");
        char *s = strdup(text);
        if (!s)
            return -ENOMEM;
        free(*(char **)f);
        *(char **)f = s;
        return 0;
    }
    case VG_CFG_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (end == text || *end || errno)
            return vg_err(err, errlen, -EINVAL, "%s: '%s' is not an integer", k->name, text);
        int rc = check_bounds(k, (double)v, err, errlen);
        if (rc)
            return rc;
        *(int64_t *)f = v;
        return 0;
    }
    case VG_CFG_DOUBLE: {
        char *end;
        errno = 0;
        double v = strtod(text, &end);
        if (end == text || *end || errno || !isfinite(v))
            return vg_err(err, errlen, -EINVAL, "%s: '%s' is not a finite number", k->name, text);
        int rc = check_bounds(k, v, err, errlen);
        if (rc)
            return rc;
        *(double *)f = v;
        return 0;
    }
    case VG_CFG_BOOL: {
        static const char *const yes[] = {"true", "yes", "on", "1"};
        static const char *const no[] = {"false", "no", "off", "0"};
        for (size_t i = 0; i < 4; i++) {
            if (strcasecmp(text, yes[i]) == 0) {
                *(int *)f = 1;
                return 0;
            }
            if (strcasecmp(text, no[i]) == 0) {
                *(int *)f = 0;
                return 0;
            }
        }
        return vg_err(err, errlen, -EINVAL, "%s: '%s' is not a boolean (true or false)", k->name,
                      text);
    }
    case VG_CFG_DURATION: {
        int64_t v;
        if (vg_parse_duration_ms(text, &v) < 0)
            return vg_err(err, errlen, -EINVAL,
                          "%s: '%s' is not a duration (write e.g. 250ms, 5s, 2m, 1h)", k->name,
                          text);
        int rc = check_bounds(k, (double)v, err, errlen);
        if (rc)
            return rc;
        *(int64_t *)f = v;
        return 0;
    }
    case VG_CFG_SIZE: {
        int64_t v;
        if (vg_parse_size(text, &v) < 0)
            return vg_err(err, errlen, -EINVAL,
                          "%s: '%s' is not a size (write e.g. 4096, 64KiB, 1MiB)", k->name, text);
        int rc = check_bounds(k, (double)v, err, errlen);
        if (rc)
            return rc;
        *(int64_t *)f = v;
        return 0;
    }
    case VG_CFG_MAP:
        return vg_err(err, errlen, -EINVAL, "%s is a map: set its entries as %s.NAME", k->name,
                      k->name);
    }
    return -EINVAL;
}

/* ---- lookup and suggestions ---------------------------------------------------------------- */

static const struct vg_cfg_key *find_key(const struct vg_config_table *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->keys[i].name, name) == 0)
            return &t->keys[i];
    return NULL;
}

/* A map key owning `name`, i.e. name = "<mapkey>.<rest>". */
static const struct vg_cfg_key *find_map_owner(const struct vg_config_table *t, const char *name,
                                               const char **rest)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct vg_cfg_key *k = &t->keys[i];
        size_t kl = strlen(k->name);
        if (k->type == VG_CFG_MAP && strncmp(name, k->name, kl) == 0 && name[kl] == '.' &&
            name[kl + 1]) {
            *rest = name + kl + 1;
            return k;
        }
    }
    return NULL;
}

/* True when some key lives below `prefix.` (so a YAML mapping under it is a section). */
static int is_section(const struct vg_config_table *t, const char *prefix)
{
    size_t pl = strlen(prefix);
    for (size_t i = 0; i < t->n; i++)
        if (strncmp(t->keys[i].name, prefix, pl) == 0 && t->keys[i].name[pl] == '.')
            return 1;
    return 0;
}

/* Where an unknown key's message sends the reader for the list of keys. */
static const char *g_keys_hint = "see --help for the list of keys";

void vg_config_set_keys_hint(const char *hint)
{
    g_keys_hint = hint ? hint : "see --help for the list of keys";
}

static void unknown_key_msg(const struct vg_config_table *t, const char *name, char *buf, size_t n)
{
    const char *best = NULL;
    size_t bestd = 99;
    for (size_t i = 0; i < t->n; i++) {
        size_t d = vg_edit_distance(name, t->keys[i].name);
        if (d < bestd) {
            bestd = d;
            best = t->keys[i].name;
        }
    }
    /* %.100s: a key longer than that is cut in the message, which keeps it within an error
     * buffer together with the suggestion. */
    if (best && close_enough(name, bestd))
        snprintf(buf, n, "unknown key '%.100s' (did you mean '%.100s'?)", name, best);
    else
        snprintf(buf, n, "unknown key '%.100s' (%s)", name, g_keys_hint);
}

/* ---- YAML walking -------------------------------------------------------------------------- */

struct walk {
    const struct vg_config_table *t;
    void *cfg;
    const char *origin;
    const char *buf; /* the parser's input, to place a reader error */
    size_t len;
    yaml_parser_t parser;
    char *err;
    size_t errlen;
    char **seen; /* full names set by this file, to refuse duplicates */
    size_t n_seen;
};

static int walk_err(struct walk *w, const yaml_mark_t *m, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int walk_err(struct walk *w, const yaml_mark_t *m, int rc, const char *fmt, ...)
{
    char msg[VG_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return vg_err(w->err, w->errlen, rc, "%s:%zu:%zu: %s", w->origin, m->line + 1, m->column + 1,
                  msg);
}

static int next_event(struct walk *w, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&w->parser, ev)) {
        yaml_mark_t at = {0};
        vg_yaml_error_at(&w->parser, w->buf, w->len, &at.line, &at.column);
        at.line--; /* walk_err counts from 0, as libyaml's marks do */
        at.column--;
        char ctx[256];
        return walk_err(w, &at, -EINVAL, "YAML syntax error: %s%s",
                        w->parser.problem ? w->parser.problem : "unknown problem",
                        vg_yaml_error_context(&w->parser, ctx, sizeof(ctx)));
    }
    return 0;
}

/* section: name is a section or a map (alert:, kafka:), whose second block libyaml hands over
 * like the first: its keys used to be merged into the first's without a word. */
static int mark_seen(struct walk *w, const char *name, const yaml_mark_t *m, int section)
{
    for (size_t i = 0; i < w->n_seen; i++)
        if (strcmp(w->seen[i], name) == 0)
            return section ? walk_err(w, m, -EINVAL,
                                      "'%s:' is written twice; put all its keys under one '%s:'",
                                      name, name)
                           : walk_err(w, m, -EINVAL, "key '%s' is set twice", name);
    char **s = realloc(w->seen, (w->n_seen + 1) * sizeof(*s));
    if (!s)
        return -ENOMEM;
    w->seen = s;
    if (!(w->seen[w->n_seen] = strdup(name)))
        return -ENOMEM;
    w->n_seen++;
    return 0;
}

static int is_null_scalar(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    return ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0);
}

static int join(char *out, size_t n, const char *prefix, const char *key)
{
    int len = prefix[0] ? snprintf(out, n, "%s.%s", prefix, key) : snprintf(out, n, "%s", key);
    return (len < 0 || (size_t)len >= n) ? -ENAMETOOLONG : 0;
}

/* Reads a free-form map (after its MAPPING_START) into l; nested maps join with dots. */
static int walk_kv(struct walk *w, struct vg_kvlist *l, const char *prefix, const char *owner)
{
    for (;;) {
        yaml_event_t kev;
        int rc = next_event(w, &kev);
        if (rc)
            return rc;
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            return 0;
        }
        if (kev.type != YAML_SCALAR_EVENT) {
            rc = walk_err(w, &kev.start_mark, -EINVAL, "%s: expected a key", owner);
            yaml_event_delete(&kev);
            return rc;
        }
        char name[512];
        if (join(name, sizeof(name), prefix, (const char *)kev.data.scalar.value) < 0) {
            rc = walk_err(w, &kev.start_mark, -EINVAL, "%s: key too long", owner);
            yaml_event_delete(&kev);
            return rc;
        }
        yaml_mark_t kmark = kev.start_mark;
        yaml_event_delete(&kev);
        yaml_event_t vev;
        if ((rc = next_event(w, &vev)))
            return rc;
        if (vev.type == YAML_SCALAR_EVENT) {
            if (vg_kvlist_get(l, name))
                rc = walk_err(w, &kmark, -EINVAL, "%s: '%s' is set twice", owner, name);
            else
                rc = vg_kvlist_set(l, name, (const char *)vev.data.scalar.value);
            if (!rc) { /* each entry is placed on its own: "kafka.acks" */
                char full[600];
                snprintf(full, sizeof full, "%s.%s", owner, name);
                where_set(full, "%s:%zu:%zu", w->origin, vev.start_mark.line + 1,
                          vev.start_mark.column + 1);
                where_set_key(full, w->origin, &kmark);
            }
        } else if (vev.type == YAML_MAPPING_START_EVENT) {
            rc = walk_kv(w, l, name, owner);
        } else {
            rc = walk_err(w, &vev.start_mark, -EINVAL, "%s.%s: lists are not accepted here", owner,
                          name);
        }
        yaml_event_delete(&vev);
        if (rc)
            return rc;
    }
}

static int walk_mapping(struct walk *w, const char *prefix)
{
    for (;;) {
        yaml_event_t kev;
        int rc = next_event(w, &kev);
        if (rc)
            return rc;
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            return 0;
        }
        if (kev.type != YAML_SCALAR_EVENT) {
            rc = walk_err(w, &kev.start_mark, -EINVAL, "expected a key here");
            yaml_event_delete(&kev);
            return rc;
        }
        char name[512];
        yaml_mark_t kmark = kev.start_mark;
        rc = join(name, sizeof(name), prefix, (const char *)kev.data.scalar.value);
        yaml_event_delete(&kev);
        if (rc)
            return walk_err(w, &kmark, -EINVAL, "key too long");

        const struct vg_cfg_key *k = find_key(w->t, name);
        const char *rest = NULL;
        const struct vg_cfg_key *owner = k ? NULL : find_map_owner(w->t, name, &rest);
        yaml_event_t vev;
        if ((rc = next_event(w, &vev)))
            return rc;

        if (k && k->type == VG_CFG_MAP) {
            where_set(name, "%s:%zu:%zu", w->origin, kmark.line + 1, kmark.column + 1);
            if (vev.type == YAML_MAPPING_START_EVENT) {
                if (!(rc = mark_seen(w, name, &kmark, 1)))
                    rc = walk_kv(w, (struct vg_kvlist *)FIELD(w->cfg, k), "", k->name);
            } else if (vev.type == YAML_SCALAR_EVENT && is_null_scalar(&vev))
                rc = 0;
            else
                rc = walk_err(w, &vev.start_mark, -EINVAL, "%s must be a map of NAME: value", name);
        } else if (k) {
            if (vev.type != YAML_SCALAR_EVENT) {
                rc = walk_err(w, &vev.start_mark, -EINVAL, "%s must be %s %s, not a %s", name,
                              k->type == VG_CFG_INT ? "an" : "a", type_name(k->type),
                              vev.type == YAML_MAPPING_START_EVENT ? "map" : "list");
            } else if (!(rc = mark_seen(w, name, &kmark, 0))) {
                char msg[VG_ERRLEN];
                rc = set_value(k, w->cfg,
                               is_null_scalar(&vev) ? NULL : (const char *)vev.data.scalar.value,
                               msg, sizeof(msg));
                if (rc)
                    rc = walk_err(w, &vev.start_mark, rc, "%s", msg);
                else
                    where_set(name, "%s:%zu:%zu", w->origin, vev.start_mark.line + 1,
                              vev.start_mark.column + 1);
            }
        } else if (owner && vev.type == YAML_SCALAR_EVENT) {
            /* `kafka.bootstrap.servers: x` written flat at the top level. */
            where_set(name, "%s:%zu:%zu", w->origin, vev.start_mark.line + 1,
                      vev.start_mark.column + 1);
            where_set_key(name, w->origin, &kmark);
            rc = vg_kvlist_set((struct vg_kvlist *)FIELD(w->cfg, owner), rest,
                               (const char *)vev.data.scalar.value);
        } else if (vev.type == YAML_MAPPING_START_EVENT && is_section(w->t, name)) {
            if (!(rc = mark_seen(w, name, &kmark, 1)))
                rc = walk_mapping(w, name);
        } else if (is_section(w->t, name)) {
            /* `webhook: https://...`: the section's name where one of its keys was meant. */
            const char *eg = NULL;
            for (size_t i = 0; i < w->t->n && !eg; i++)
                if (strncmp(w->t->keys[i].name, name, strlen(name)) == 0 &&
                    w->t->keys[i].name[strlen(name)] == '.')
                    eg = w->t->keys[i].name;
            rc = walk_err(w, &vev.start_mark, -EINVAL,
                          "'%s' is a section, not a value: write its keys as a map under it "
                          "(e.g. %s as '%s:' indented under '%s:')",
                          name, eg, eg + strlen(name) + 1, name);
        } else {
            char msg[VG_ERRLEN];
            unknown_key_msg(w->t, name, msg, sizeof(msg));
            rc = walk_err(w, &kmark, -EINVAL, "%s", msg);
        }
        yaml_event_delete(&vev);
        if (rc)
            return rc;
    }
}

/* Parses all of w's input without looking at it: the walk checks keys and types as events come,
 * so a document cut short ("url: [" at the end) would otherwise be reported by what was read
 * of it ("webhook.url must be a string, not a list", "unknown key 'a'") rather than as the
 * syntax error it is. Configs are small (4 MiB at most), so reading twice costs little. */
static int check_syntax(struct walk *w)
{
    if (!yaml_parser_initialize(&w->parser))
        return -ENOMEM;
    yaml_parser_set_input_string(&w->parser, (const unsigned char *)w->buf, w->len);
    int rc = 0, done = 0;
    while (!rc && !done) {
        yaml_event_t ev;
        if ((rc = next_event(w, &ev)))
            break;
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&w->parser);
    return rc;
}

int vg_config_load_buffer(const struct vg_config_table *t, void *cfg, const char *origin,
                          const char *buf, size_t len, char *err, size_t errlen)
{
    struct walk w = {
        .t = t, .cfg = cfg, .origin = origin, .buf = buf, .len = len, .err = err, .errlen = errlen};
    int rc = check_syntax(&w);
    if (rc)
        return rc;
    if (!yaml_parser_initialize(&w.parser))
        return -ENOMEM;
    yaml_parser_set_input_string(&w.parser, (const unsigned char *)buf, len);
    int done = 0;
    while (!rc && !done) {
        yaml_event_t ev;
        if ((rc = next_event(&w, &ev)))
            break;
        switch (ev.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            break;
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_MAPPING_START_EVENT:
            rc = walk_mapping(&w, "");
            break;
        case YAML_SCALAR_EVENT:
            /* An empty document is a valid, empty config. */
            if (!is_null_scalar(&ev))
                rc =
                    walk_err(&w, &ev.start_mark, -EINVAL, "the config must be a map of key: value");
            break;
        default:
            rc = walk_err(&w, &ev.start_mark, -EINVAL, "the config must be a map of key: value");
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&w.parser);
    for (size_t i = 0; i < w.n_seen; i++)
        free(w.seen[i]);
    free(w.seen);
    return rc;
}

int vg_config_load_file(const struct vg_config_table *t, void *cfg, const char *path, char *err,
                        size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return vg_err(err, errlen, -errno, "%s: cannot open config: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            if (cap > (size_t)4 << 20) {
                fclose(f);
                free(buf);
                return vg_err(err, errlen, -EFBIG, "%s: config larger than 4 MiB", path);
            }
            char *nb = realloc(buf, cap ? cap * 2 : 8192);
            if (!nb) {
                fclose(f);
                free(buf);
                return -ENOMEM;
            }
            buf = nb;
            cap = cap ? cap * 2 : 8192;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0)
            break;
    }
    int rderr = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (rderr) {
        free(buf);
        return vg_err(err, errlen, -rderr, "%s: cannot read config: %s", path,
                      rderr == EISDIR ? "it is a directory (name the YAML file)" : strerror(rderr));
    }
    int rc = vg_config_load_buffer(t, cfg, path, buf, len, err, errlen);
    free(buf);
    return rc;
}

int vg_config_set_arg(const struct vg_config_table *t, void *cfg, const char *arg, char *err,
                      size_t errlen)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return vg_err(err, errlen, -EINVAL, "--set '%s': expected KEY=VALUE", arg);
    char name[512];
    size_t nl = (size_t)(eq - arg);
    if (nl >= sizeof(name))
        return vg_err(err, errlen, -EINVAL, "--set: key too long");
    memcpy(name, arg, nl);
    name[nl] = '\0';
    const struct vg_cfg_key *k = find_key(t, name);
    const char *rest;
    if (k && k->type != VG_CFG_MAP) {
        char msg[VG_ERRLEN];
        int rc = set_value(k, cfg, eq + 1, msg, sizeof(msg));
        if (rc)
            return vg_err(err, errlen, rc, "--set: %s", msg);
        where_set(k->name, "--set");
        return 0;
    }
    if (k) /* a map as a whole: the suggestion would have been its own name */
        return vg_err(err, errlen, -EINVAL,
                      "--set: '%s' is a map: set one entry at a time, as %s.KEY=VALUE", k->name,
                      k->name);
    const struct vg_cfg_key *owner = find_map_owner(t, name, &rest);
    if (owner) {
        where_set(name, "--set");
        return vg_kvlist_set((struct vg_kvlist *)FIELD(cfg, owner), rest, eq + 1);
    }
    char msg[VG_ERRLEN];
    unknown_key_msg(t, name, msg, sizeof(msg));
    return vg_err(err, errlen, -EINVAL, "--set: %s", msg);
}

int vg_config_apply_env(const struct vg_config_table *t, void *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct vg_cfg_key *k = &t->keys[i];
        const char *v = k->env ? getenv(k->env) : NULL;
        if (!v || !*v)
            continue;
        char msg[VG_ERRLEN];
        int rc = set_value(k, cfg, v, msg, sizeof(msg));
        if (rc)
            return vg_err(err, errlen, rc, "environment %s: %s", k->env, msg);
        where_set(k->name, "environment %s", k->env);
    }
    return 0;
}

int vg_config_defaults(const struct vg_config_table *t, void *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct vg_cfg_key *k = &t->keys[i];
        if (k->choices && k->type != VG_CFG_STRING)
            return vg_err(err, errlen, -EINVAL, "%s: choices are for string keys only", k->name);
        if ((k->flags & VG_CFG_F_ABS_PATH) && k->type != VG_CFG_STRING)
            return vg_err(err, errlen, -EINVAL, "%s: a path key must be a string key", k->name);
        if (k->type == VG_CFG_MAP || !k->def)
            continue;
        /* set_value holds the default to its choices too. */
        int rc = set_value(k, cfg, k->def, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

void vg_config_free(const struct vg_config_table *t, void *cfg)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct vg_cfg_key *k = &t->keys[i];
        if (k->type == VG_CFG_STRING) {
            /* Wiped first: a receiver URL read from its *.url_file is a credential. */
            char *v = *(char **)FIELD(cfg, k);
            if (v)
                explicit_bzero(v, strlen(v));
            free(v);
            *(char **)FIELD(cfg, k) = NULL;
        } else if (k->type == VG_CFG_MAP) {
            vg_kvlist_free((struct vg_kvlist *)FIELD(cfg, k));
        }
    }
}

/* ---- output -------------------------------------------------------------------------------- */

void vg_config_print_help(const struct vg_config_table *t, FILE *f)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct vg_cfg_key *k = &t->keys[i];
        fprintf(f, "  %-28s %-9s default %s%s%s\n      %s\n", k->name,
                k->flags & VG_CFG_F_ABS_PATH ? "absolute path" : type_name(k->type),
                k->def ? k->def : "(none)", k->env ? ", env " : "", k->env ? k->env : "", k->help);
        if (k->choices) {
            char list[256];
            fmt_choices(k->choices, "", list, sizeof list);
            fprintf(f, "      one of: %s\n", list);
        }
    }
}

void vg_config_write_markdown(const struct vg_config_table *t, const char *title, FILE *f)
{
    fprintf(f, "## %s\n\n| key | type | default | environment | description |\n", title);
    fprintf(f, "|---|---|---|---|---|\n");
    for (size_t i = 0; i < t->n; i++) {
        const struct vg_cfg_key *k = &t->keys[i];
        char type[256];
        if (k->choices) { /* the type column: what a reader looks for when writing the value */
            char list[224];
            fmt_choices(k->choices, "`", list, sizeof list);
            snprintf(type, sizeof type, "one of %s", list);
        } else {
            snprintf(type, sizeof type, "%s",
                     k->flags & VG_CFG_F_ABS_PATH ? "absolute path" : type_name(k->type));
        }
        fprintf(f, "| `%s` | %s | %s%s%s | %s%s%s | %s |\n", k->name, type, k->def ? "`" : "",
                k->def ? k->def : "(none)", k->def ? "`" : "", k->env ? "`" : "",
                k->env ? k->env : "", k->env ? "`" : "", k->help);
    }
    fputc('\n', f);
}

/* Masked in dumps. A *_file key holds a path, which the operator needs to see. */
static int is_secret(const char *name)
{
    size_t n = strlen(name);
    if (n > 5 && strcmp(name + n - 5, "_file") == 0)
        return 0;
    return strstr(name, "password") || strstr(name, "secret") || strstr(name, "token") ||
           strstr(name, "ssl.key.pem") || strstr(name, "oauthbearer.config");
}

/* A map entry (a librdkafka property) holding a URL, shown redacted in dumps: such URLs may
 * carry credentials in their userinfo or query. A map entry has no flags, so its name decides;
 * the table's keys say it with VG_CFG_F_URL_CREDS. */
static int is_url(const char *name)
{
    size_t n = strlen(name);
    return n >= 3 && strcmp(name + n - 3, "url") == 0 &&
           (n == 3 || name[n - 4] == '.' || name[n - 4] == '_');
}

/* How a string value is dumped: masked, redacted (into buf) or as it is. url: whether it holds
 * a URL that may carry credentials; from_file: whether it was read from its "<name>_file", whose
 * path is then hidden as the logs and errors hide it (the operator put it in a file because it
 * may be the credential). A path with a segment that looks like a credential
 * (vg_url_path_has_credential: /hooks/ID123/SECRETTOKEN) is hidden too, wherever it came from.
 * An empty value hides nothing, and "(set, masked)" would read as if a receiver were configured:
 * it is written "" as YAML would. */
static const char *dump_value(const char *name, const char *v, int url, unsigned flags,
                              int from_file, char *buf, size_t n)
{
    if (!*v)
        return "\"\"";
    if (is_secret(name))
        return "(set, masked)";
    if (!url && !(flags & (VG_CFG_F_URL_CREDS | VG_CFG_F_SECRET_PATH)))
        return v;
    int hide_path = (flags & VG_CFG_F_SECRET_PATH) || from_file || vg_url_path_has_credential(v);
    return vg_url_redact(v, hide_path, buf, n) == 0 ? buf : "(set, masked)";
}

/* Whether key k's "<name>_file" companion is in table t and set: its value was read from there. */
static int set_from_file(const struct vg_config_table *t, const void *cfg,
                         const struct vg_cfg_key *k)
{
    char fname[256];
    if (snprintf(fname, sizeof fname, "%s_file", k->name) >= (int)sizeof fname)
        return 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->keys[i].type == VG_CFG_STRING && strcmp(t->keys[i].name, fname) == 0) {
            const char *f = *(char *const *)((const char *)cfg + t->keys[i].offset);
            return f && *f;
        }
    return 0;
}

void vg_config_dump(const struct vg_config_table *t, const void *cfg, FILE *f)
{
    char buf[4096];
    for (size_t i = 0; i < t->n; i++) {
        const struct vg_cfg_key *k = &t->keys[i];
        const char *p = (const char *)cfg + k->offset;
        fprintf(f, "%s: ", k->name);
        switch (k->type) {
        case VG_CFG_STRING: {
            const char *s = *(char *const *)p;
            fprintf(f, "%s\n",
                    !s ? "(unset)"
                       : dump_value(k->name, s, 0, k->flags,
                                    (k->flags & VG_CFG_F_URL_CREDS) && set_from_file(t, cfg, k),
                                    buf, sizeof buf));
            break;
        }
        case VG_CFG_INT:
            fprintf(f, "%lld\n", (long long)*(const int64_t *)p);
            break;
        case VG_CFG_DURATION:
            fprintf(f, "%lldms\n", (long long)*(const int64_t *)p);
            break;
        case VG_CFG_SIZE:
            fprintf(f, "%lld\n", (long long)*(const int64_t *)p);
            break;
        case VG_CFG_DOUBLE:
            fprintf(f, "%g\n", *(const double *)p);
            break;
        case VG_CFG_BOOL:
            fprintf(f, "%s\n", *(const int *)p ? "true" : "false");
            break;
        case VG_CFG_MAP: {
            const struct vg_kvlist *l = (const struct vg_kvlist *)p;
            fprintf(f, "%s\n", l->n ? "" : "{}");
            for (size_t j = 0; j < l->n; j++)
                fprintf(f, "  %s: %s\n", l->items[j].key,
                        dump_value(l->items[j].key, l->items[j].value, is_url(l->items[j].key), 0,
                                   0, buf, sizeof buf));
            break;
        }
        }
    }
}

/* The list vg_config_diff writes. */
struct diff_list {
    char *out;
    size_t outlen, used;
    int full; /* a name did not fit: the list ends in "..." */
};

/* Appends name (and ".sub" when sub is set) to the comma-separated list. Each name leaves room
 * for a ",..." after it, so that a list cut short still says so. */
static void diff_put(struct diff_list *d, const char *name, const char *sub)
{
    if (d->full || !d->outlen)
        return;
    const char *sep = d->used ? "," : "";
    size_t need = strlen(sep) + strlen(name) + (sub ? 1 + strlen(sub) : 0);
    if (d->used + need + sizeof ",..." <= d->outlen) {
        snprintf(d->out + d->used, d->outlen - d->used, "%s%s%s%s", sep, name, sub ? "." : "",
                 sub ? sub : "");
        d->used += need;
        return;
    }
    d->full = 1;
    snprintf(d->out + d->used, d->outlen - d->used, "%s...", sep);
}

static int str_differ(const char *x, const char *y)
{
    return (x == NULL) != (y == NULL) || (x && strcmp(x, y) != 0);
}

size_t vg_config_diff(const struct vg_config_table *t, const void *a, const void *b,
                      const char *const *skip, char *out, size_t outlen)
{
    size_t n = 0;
    struct diff_list d = {out, outlen, 0, 0};
    if (outlen)
        out[0] = '\0';
    for (size_t i = 0; i < t->n; i++) {
        const struct vg_cfg_key *k = &t->keys[i];
        int skipped = 0;
        for (const char *const *s = skip; s && *s && !skipped; s++)
            skipped = strcmp(*s, k->name) == 0;
        if (skipped)
            continue;
        const char *pa = (const char *)a + k->offset, *pb = (const char *)b + k->offset;
        int differ = 0;
        switch (k->type) {
        case VG_CFG_STRING:
            differ = str_differ(*(char *const *)pa, *(char *const *)pb);
            break;
        case VG_CFG_INT:
        case VG_CFG_DURATION:
        case VG_CFG_SIZE:
            differ = *(const int64_t *)pa != *(const int64_t *)pb;
            break;
        case VG_CFG_DOUBLE:
            differ = *(const double *)pa != *(const double *)pb;
            break;
        case VG_CFG_BOOL:
            differ = !*(const int *)pa != !*(const int *)pb;
            break;
        case VG_CFG_MAP: {
            /* Entry by entry, so that the name says which property changed. */
            const struct vg_kvlist *la = (const struct vg_kvlist *)pa;
            const struct vg_kvlist *lb = (const struct vg_kvlist *)pb;
            for (size_t j = 0; j < la->n; j++)
                if (str_differ(la->items[j].value, vg_kvlist_get(lb, la->items[j].key))) {
                    diff_put(&d, k->name, la->items[j].key);
                    n++;
                }
            for (size_t j = 0; j < lb->n; j++)
                if (!vg_kvlist_get(la, lb->items[j].key)) {
                    diff_put(&d, k->name, lb->items[j].key);
                    n++;
                }
            continue;
        }
        }
        if (differ) {
            diff_put(&d, k->name, NULL);
            n++;
        }
    }
    return n;
}

int vg_config_load_all(const struct vg_config_table *t, void *cfg, const char *path,
                       char *const *sets, size_t n_sets, char *err, size_t errlen)
{
    where_reset();
    int rc = vg_config_defaults(t, cfg, err, errlen);
    if (!rc && path)
        rc = vg_config_load_file(t, cfg, path, err, errlen);
    if (!rc)
        rc = vg_config_apply_env(t, cfg, err, errlen);
    for (size_t i = 0; !rc && i < n_sets; i++)
        rc = vg_config_set_arg(t, cfg, sets[i], err, errlen);
    return rc;
}
