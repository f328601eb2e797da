/* Label matchers that choose the hosts a rule applies to, written as in PromQL selectors:
 *
 *   env="prod"   equal          role!="batch"   not equal
 *   host=~"web-.*"  regex match   zone!~"eu-.*"   regex non-match
 *
 * Regexes are POSIX extended (regcomp) and anchored: they must match the whole value. A label the
 * host does not have reads as the empty string, so role!="batch" holds for a host without a
 * role, and env="" selects the hosts without an env.
 */
#ifndef VG_RULE_SELECT_H
#define VG_RULE_SELECT_H

#include <regex.h>
#include <stddef.h>

enum vg_rule_select_op { VG_RULE_SEL_EQ, VG_RULE_SEL_NE, VG_RULE_SEL_RE, VG_RULE_SEL_NRE };

struct vg_rule_select {
    char *label;
    enum vg_rule_select_op op;
    char *value; /* the text between the quotes, escapes undone */
    regex_t re;  /* compiled for RE and NRE */
};

/* Parses one matcher into m. On error returns -EINVAL (or -ENOMEM) with a whole message in err
 * ("select 'TEXT': reason", "bad regex in select 'TEXT': regerror's text") and in *err_off the
 * byte offset in text it concerns. Release a parsed matcher with vg_rule_select_free(). */
int vg_rule_select_parse(const char *text, struct vg_rule_select *m, size_t *err_off, char *err,
                         size_t errlen);

void vg_rule_select_free(struct vg_rule_select *m);

/* Looks a label up by name; returns its value or NULL when the host has none. */
typedef const char *(*vg_rule_label_fn)(const void *ud, const char *name);

/* True when the label that lookup(ud, m->label) gives satisfies m. */
int vg_rule_select_match(const struct vg_rule_select *m, vg_rule_label_fn lookup, const void *ud);

#endif
