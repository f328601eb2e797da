/* A YAML document as a tree of scalars, lists and maps that remembers where each node is.
 *
 * Rule files are checked after parsing rather than while walking libyaml's events, so that one
 * file can report every mistake in it, and so that a position inside a scalar (the column of a
 * bad token in an expression) can be turned into the file's line and column afterwards.
 * Anchors and aliases are resolved: an alias is the anchored node itself (shared, never copied).
 */
#ifndef VG_RULE_YAML_H
#define VG_RULE_YAML_H

#include <stddef.h>

enum vg_rule_yaml_kind { VG_RULE_YAML_SCALAR, VG_RULE_YAML_SEQ, VG_RULE_YAML_MAP };

/* How a scalar was written; positions inside it are mapped back to the file accordingly. */
enum vg_rule_yaml_style {
    VG_RULE_YAML_PLAIN,
    VG_RULE_YAML_SINGLE, /* 'text' */
    VG_RULE_YAML_DOUBLE, /* "text" */
    VG_RULE_YAML_BLOCK,  /* | or > */
};

struct vg_rule_yaml_node {
    enum vg_rule_yaml_kind kind;
    size_t line, col; /* 1-based position of the node's first character */
    /* Scalars: the value, NUL-terminated; len counts bytes without the NUL and differs from
     * strlen(text) when the value holds a NUL (written "\0"). */
    char *text;
    size_t len;
    enum vg_rule_yaml_style style;
    /* Lists: items[0..n). Maps: n pairs, keys at items[2i], values at items[2i+1]. */
    struct vg_rule_yaml_node **items;
    size_t n;
};

struct vg_rule_yaml_doc;

/* Parses buf[0..len) into documents. On success *out owns every node; release it with
 * vg_rule_yaml_free(). The buffer is not copied and must outlive the doc (positions inside
 * scalars are found by reading it again). A syntax error gives -EINVAL and
 * "ORIGIN:LINE:COL: YAML syntax error: ..." in err. */
int vg_rule_yaml_parse(const char *origin, const char *buf, size_t len,
                       struct vg_rule_yaml_doc **out, char *err, size_t errlen);

void vg_rule_yaml_free(struct vg_rule_yaml_doc *d);

/* Documents in the stream ("---" separates them); an empty stream has none. */
size_t vg_rule_yaml_count(const struct vg_rule_yaml_doc *d);
const struct vg_rule_yaml_node *vg_rule_yaml_root(const struct vg_rule_yaml_doc *d, size_t i);

/* True for an empty value: nothing, "~" or "null" written plain. */
int vg_rule_yaml_is_null(const struct vg_rule_yaml_node *n);

/* The 1-based line and column in the file of byte `off` of a scalar's value. Exact for scalars
 * on one line (plain or quoted, escapes accounted for) and, by matching the value against the
 * file text, for block and multi-line scalars; where the two cannot be matched (an exotic escape
 * in a multi-line string) it gives the scalar's own position. */
void vg_rule_yaml_locate(const struct vg_rule_yaml_doc *d, const struct vg_rule_yaml_node *n,
                         size_t off, size_t *line, size_t *col);

#endif
