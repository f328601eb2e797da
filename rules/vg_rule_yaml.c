#include "vg_rule_yaml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "vg_strmap.h"
#include "vg_util.h"
#include "vg_yamlmark.h"

/* Rule files need four levels; the limit only keeps hostile input off the stack. */
#define MAX_DEPTH 64

struct vg_rule_yaml_doc {
    const char *buf;
    size_t len;
    struct vg_rule_yaml_node **all; /* every node, for freeing (aliases share nodes) */
    size_t n_all, cap_all;
    struct vg_rule_yaml_node **roots;
    size_t n_roots;
};

struct builder {
    struct vg_rule_yaml_doc *d;
    const char *origin;
    const char *buf; /* the parser's input, to place a reader error */
    size_t len;
    yaml_parser_t parser;
    /* anchor name -> malloc'd slot holding the node; a slot, because a later anchor of the same
     * name replaces the node and vg_strmap has no replace */
    struct vg_strmap anchors;
    char *err;
    size_t errlen;
};

static int syntax_err(struct builder *b, const yaml_mark_t *m, const char *what)
{
    return vg_err(b->err, b->errlen, -EINVAL, "%s:%zu:%zu: %s", b->origin, m->line + 1,
                  m->column + 1, what);
}

static int next_event(struct builder *b, yaml_event_t *ev)
{
    if (yaml_parser_parse(&b->parser, ev))
        return 0;
    if (b->parser.error == YAML_MEMORY_ERROR)
        return -ENOMEM;
    size_t line, col;
    vg_yaml_error_at(&b->parser, b->buf, b->len, &line, &col);
    char ctx[256];
    return vg_err(b->err, b->errlen, -EINVAL, "%s:%zu:%zu: YAML syntax error: %s%s", b->origin,
                  line, col, b->parser.problem ? b->parser.problem : "unknown problem",
                  vg_yaml_error_context(&b->parser, ctx, sizeof(ctx)));
}

static struct vg_rule_yaml_node *new_node(struct builder *b, enum vg_rule_yaml_kind kind,
                                          const yaml_mark_t *m)
{
    struct vg_rule_yaml_doc *d = b->d;
    if (d->n_all == d->cap_all) {
        size_t cap = d->cap_all ? d->cap_all * 2 : 64;
        struct vg_rule_yaml_node **all = realloc(d->all, cap * sizeof(*all));
        if (!all)
            return NULL;
        d->all = all;
        d->cap_all = cap;
    }
    struct vg_rule_yaml_node *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->kind = kind;
    n->line = m->line + 1;
    n->col = m->column + 1;
    d->all[d->n_all++] = n;
    return n;
}

static int push_item(struct vg_rule_yaml_node *n, struct vg_rule_yaml_node *item, size_t *cap)
{
    if (n->n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        struct vg_rule_yaml_node **items = realloc(n->items, c * sizeof(*items));
        if (!items)
            return -ENOMEM;
        n->items = items;
        *cap = c;
    }
    n->items[n->n++] = item;
    return 0;
}

/* Anchors are registered when their node is complete, so an alias can never point into the
 * node that contains it: the tree stays acyclic. */
static int add_anchor(struct builder *b, const unsigned char *name, struct vg_rule_yaml_node *n)
{
    if (!name)
        return 0;
    struct vg_rule_yaml_node **slot = vg_strmap_get(&b->anchors, (const char *)name);
    if (slot) {
        *slot = n;
        return 0;
    }
    if (!(slot = malloc(sizeof(*slot))))
        return -ENOMEM;
    *slot = n;
    if (vg_strmap_put(&b->anchors, (const char *)name, slot) < 0) {
        free(slot);
        return -ENOMEM;
    }
    return 0;
}

static void clear_anchors(struct builder *b)
{
    vg_strmap_free(&b->anchors, free);
    vg_strmap_init(&b->anchors);
}

static struct vg_rule_yaml_node *find_anchor(struct builder *b, const char *name)
{
    struct vg_rule_yaml_node **slot = vg_strmap_get(&b->anchors, name);
    return slot ? *slot : NULL;
}

static int build(struct builder *b, yaml_event_t *ev, int depth, struct vg_rule_yaml_node **out);

static int build_collection(struct builder *b, struct vg_rule_yaml_node *n, yaml_event_type_t end,
                            int depth)
{
    size_t cap = 0;
    for (;;) {
        yaml_event_t ev;
        int rc = next_event(b, &ev);
        if (rc)
            return rc;
        if (ev.type == end) {
            yaml_event_delete(&ev);
            return 0;
        }
        struct vg_rule_yaml_node *item = NULL;
        rc = build(b, &ev, depth + 1, &item);
        yaml_event_delete(&ev);
        if (!rc)
            rc = push_item(n, item, &cap);
        if (rc)
            return rc;
    }
}

static int build(struct builder *b, yaml_event_t *ev, int depth, struct vg_rule_yaml_node **out)
{
    if (depth > MAX_DEPTH)
        return syntax_err(b, &ev->start_mark, "nesting deeper than 64 levels");
    struct vg_rule_yaml_node *n;
    int rc;
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        n = find_anchor(b, (const char *)ev->data.alias.anchor);
        if (!n)
            return syntax_err(b, &ev->start_mark,
                              "alias refers to an anchor that is not defined before it");
        *out = n;
        return 0;
    case YAML_SCALAR_EVENT:
        if (!(n = new_node(b, VG_RULE_YAML_SCALAR, &ev->start_mark)))
            return -ENOMEM;
        n->len = ev->data.scalar.length;
        if (!(n->text = malloc(n->len + 1)))
            return -ENOMEM;
        memcpy(n->text, ev->data.scalar.value, n->len);
        n->text[n->len] = '\0';
        switch (ev->data.scalar.style) {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE:
            n->style = VG_RULE_YAML_SINGLE;
            break;
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
            n->style = VG_RULE_YAML_DOUBLE;
            break;
        case YAML_LITERAL_SCALAR_STYLE:
        case YAML_FOLDED_SCALAR_STYLE:
            n->style = VG_RULE_YAML_BLOCK;
            break;
        default:
            n->style = VG_RULE_YAML_PLAIN;
            break;
        }
        *out = n;
        return add_anchor(b, ev->data.scalar.anchor, n);
    case YAML_SEQUENCE_START_EVENT:
        if (!(n = new_node(b, VG_RULE_YAML_SEQ, &ev->start_mark)))
            return -ENOMEM;
        if ((rc = build_collection(b, n, YAML_SEQUENCE_END_EVENT, depth)))
            return rc;
        *out = n;
        return add_anchor(b, ev->data.sequence_start.anchor, n);
    case YAML_MAPPING_START_EVENT:
        if (!(n = new_node(b, VG_RULE_YAML_MAP, &ev->start_mark)))
            return -ENOMEM;
        if ((rc = build_collection(b, n, YAML_MAPPING_END_EVENT, depth)))
            return rc;
        n->n /= 2; /* libyaml always pairs keys with values */
        *out = n;
        return add_anchor(b, ev->data.mapping_start.anchor, n);
    default:
        return syntax_err(b, &ev->start_mark, "unexpected YAML event");
    }
}

void vg_rule_yaml_free(struct vg_rule_yaml_doc *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n_all; i++) {
        free(d->all[i]->text);
        free(d->all[i]->items);
        free(d->all[i]);
    }
    free(d->all);
    free(d->roots);
    free(d);
}

int vg_rule_yaml_parse(const char *origin, const char *buf, size_t len,
                       struct vg_rule_yaml_doc **out, char *err, size_t errlen)
{
    *out = NULL;
    struct vg_rule_yaml_doc *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->buf = buf;
    d->len = len;
    struct builder b = {
        .d = d, .origin = origin, .buf = buf, .len = len, .err = err, .errlen = errlen};
    vg_strmap_init(&b.anchors);
    if (!yaml_parser_initialize(&b.parser)) {
        free(d);
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)buf, len);
    int rc = 0, done = 0;
    while (!rc && !done) {
        yaml_event_t ev;
        if ((rc = next_event(&b, &ev)))
            break;
        switch (ev.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            break;
        case YAML_DOCUMENT_START_EVENT:
            clear_anchors(&b); /* anchors do not cross documents */
            break;
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        default: {
            struct vg_rule_yaml_node *root = NULL;
            rc = build(&b, &ev, 0, &root);
            if (!rc) {
                struct vg_rule_yaml_node **r = realloc(d->roots, (d->n_roots + 1) * sizeof(*r));
                if (!r) {
                    rc = -ENOMEM;
                } else {
                    d->roots = r;
                    d->roots[d->n_roots++] = root;
                }
            }
            break;
        }
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&b.parser);
    clear_anchors(&b);
    if (rc) {
        vg_rule_yaml_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

size_t vg_rule_yaml_count(const struct vg_rule_yaml_doc *d)
{
    return d->n_roots;
}

const struct vg_rule_yaml_node *vg_rule_yaml_root(const struct vg_rule_yaml_doc *d, size_t i)
{
    return i < d->n_roots ? d->roots[i] : NULL;
}

int vg_rule_yaml_is_null(const struct vg_rule_yaml_node *n)
{
    return n->kind == VG_RULE_YAML_SCALAR && n->style == VG_RULE_YAML_PLAIN &&
           (n->len == 0 || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0);
}

/* ---- positions inside scalars -------------------------------------------------------------- */

/* A cursor over the file text that keeps libyaml's idea of line and column: columns count
 * characters, not bytes, and "\r\n" is one line break. */
struct cursor {
    const char *buf;
    size_t len, off, line, col; /* line and col 0-based here */
};

static void cur_advance(struct cursor *c)
{
    unsigned char ch = (unsigned char)c->buf[c->off++];
    if (ch == '\n' || (ch == '\r' && (c->off >= c->len || c->buf[c->off] != '\n'))) {
        c->line++;
        c->col = 0;
    } else if (ch != '\r' && (ch & 0xC0) != 0x80) {
        c->col++;
    }
}

/* Moves to the byte at 0-based (line, col); 0 when found. */
static int cur_seek(struct cursor *c, size_t line, size_t col)
{
    c->off = c->line = c->col = 0;
    if (c->len >= 3 && memcmp(c->buf, "\xEF\xBB\xBF", 3) == 0)
        c->off = 3; /* libyaml does not count the byte order mark */
    while (c->off < c->len && (c->line < line || (c->line == line && c->col < col)))
        cur_advance(c);
    /* Skip the continuation bytes of the last character passed. */
    while (c->off < c->len && ((unsigned char)c->buf[c->off] & 0xC0) == 0x80)
        c->off++;
    return c->line == line && c->col == col ? 0 : -1;
}

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static size_t utf8_len(unsigned long cp)
{
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/* Length in the file and in the value of the escape at c->off (a backslash). */
static void escape_size(const struct cursor *c, size_t *src, size_t *val)
{
    const char *p = c->buf + c->off + 1;
    size_t left = c->len - c->off - 1;
    *src = 2;
    *val = 1;
    if (!left) {
        *src = 1;
        return;
    }
    size_t digits = *p == 'x' ? 2 : *p == 'u' ? 4 : *p == 'U' ? 8 : 0;
    if (digits && digits < left) {
        char hex[9] = {0};
        memcpy(hex, p + 1, digits);
        unsigned long cp = strtoul(hex, NULL, 16);
        *src = 2 + digits;
        *val = utf8_len(cp);
    } else if (*p == 'N' || *p == '_') {
        *val = 2; /* U+0085, U+00A0 */
    } else if (*p == 'L' || *p == 'P') {
        *val = 3; /* U+2028, U+2029 */
    } else if (*p == '\n' || *p == '\r') {
        *src = 1; /* an escaped line break adds nothing; the break is skipped as space */
        *val = 0;
    }
}

/* In a double-quoted scalar, a backslash ending a line joins it to the next: the backslash, the
 * line break and the next line's leading blanks are nothing in the value. Skips them at c and
 * says whether there were any. */
static int skip_escaped_break(struct cursor *c, const struct vg_rule_yaml_node *n)
{
    if (n->style != VG_RULE_YAML_DOUBLE || c->off + 1 >= c->len || c->buf[c->off] != '\\' ||
        (c->buf[c->off + 1] != '\n' && c->buf[c->off + 1] != '\r'))
        return 0;
    cur_advance(c);
    if (c->buf[c->off] == '\r')
        cur_advance(c);
    if (c->off < c->len && c->buf[c->off] == '\n')
        cur_advance(c);
    while (c->off < c->len && (c->buf[c->off] == ' ' || c->buf[c->off] == '\t'))
        cur_advance(c);
    return 1;
}

/* Walks the file text and the value side by side: equal bytes advance both, quoting and
 * escapes are accounted for, and the whitespace that YAML folds or strips (indentation, line
 * breaks turned into spaces) is skipped on whichever side has it. */
static int align(struct cursor *c, const struct vg_rule_yaml_node *n, size_t off)
{
    size_t v = 0;
    while (v < off) {
        if (c->off >= c->len)
            return -1;
        if (skip_escaped_break(c, n))
            continue;
        char ch = c->buf[c->off];
        if (n->style == VG_RULE_YAML_DOUBLE && ch == '\\') {
            size_t src, val;
            escape_size(c, &src, &val);
            if (v + val > off)
                return 0; /* inside an escape: point at its backslash */
            for (size_t i = 0; i < src && c->off < c->len; i++)
                cur_advance(c);
            v += val;
        } else if (n->style == VG_RULE_YAML_SINGLE && ch == '\'' && c->off + 1 < c->len &&
                   c->buf[c->off + 1] == '\'') {
            cur_advance(c);
            cur_advance(c);
            v++;
        } else if (ch == n->text[v]) {
            cur_advance(c);
            v++;
        } else if (is_space(ch)) {
            cur_advance(c);
        } else if (is_space(n->text[v])) {
            v++;
        } else {
            return -1;
        }
    }
    /* The character at `off` may follow indentation, a folded or an escaped line break. */
    while (off < n->len && c->off < c->len && c->buf[c->off] != n->text[off]) {
        if (is_space(c->buf[c->off]))
            cur_advance(c);
        else if (!skip_escaped_break(c, n))
            break;
    }
    return 0;
}

/* libyaml's start mark of a node is at its properties, an anchor (&a) or a tag (!!str, !t,
 * !<...>), when it has any: they come before the value, in either order, separated from it by
 * blanks, line breaks or a comment. No value starts with '&' or '!' (both are indicators), so
 * skipping them puts the cursor on the value's first character. */
static void skip_properties(struct cursor *c)
{
    while (c->off < c->len && (c->buf[c->off] == '&' || c->buf[c->off] == '!')) {
        int verbatim = c->buf[c->off] == '!' && c->off + 1 < c->len && c->buf[c->off + 1] == '<';
        while (c->off < c->len && !is_space(c->buf[c->off])) {
            char ch = c->buf[c->off];
            cur_advance(c);
            if (verbatim && ch == '>')
                break;
        }
        for (;;) {
            if (c->off < c->len && is_space(c->buf[c->off])) {
                cur_advance(c);
            } else if (c->off < c->len && c->buf[c->off] == '#') {
                while (c->off < c->len && c->buf[c->off] != '\n')
                    cur_advance(c);
            } else {
                break;
            }
        }
    }
}

void vg_rule_yaml_locate(const struct vg_rule_yaml_doc *d, const struct vg_rule_yaml_node *n,
                         size_t off, size_t *line, size_t *col)
{
    *line = n->line;
    *col = n->col;
    if (n->kind != VG_RULE_YAML_SCALAR)
        return;
    if (off > n->len)
        off = n->len;
    struct cursor c = {.buf = d->buf, .len = d->len};
    if (cur_seek(&c, n->line - 1, n->col - 1) < 0)
        return;
    skip_properties(&c);
    if (n->style == VG_RULE_YAML_SINGLE || n->style == VG_RULE_YAML_DOUBLE) {
        if (c.off < c.len)
            cur_advance(&c); /* the opening quote */
    } else if (n->style == VG_RULE_YAML_BLOCK) {
        /* The header line ("|", ">-", "|2 # comment") holds none of the value. */
        size_t start = c.line;
        while (c.off < c.len && c.line == start)
            cur_advance(&c);
    }
    if (align(&c, n, off) < 0)
        return;
    *line = c.line + 1;
    *col = c.col + 1;
}
