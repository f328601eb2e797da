#include "vg_rule_select.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vg_util.h"

static int ident_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int ident_char(char c)
{
    return ident_start(c) || (c >= '0' && c <= '9');
}

#define SYNTAX_HINT "write e.g. env=\"prod\", role!=\"batch\", host=~\"web-.*\", zone!~\"eu-.*\""

static int fail(size_t *err_off, size_t off, char *err, size_t errlen, const char *text,
                const char *msg)
{
    *err_off = off;
    return vg_err(err, errlen, -EINVAL, "select '%.100s': %s", text, msg);
}

/* The ']' that closes the bracket expression opening at p (a '['), or the string's end: a ']'
 * right after '[' or '[^' is a member, and so is one inside [:class:], [.coll.] or [=equiv=]. */
static const char *bracket_end(const char *p)
{
    p++;
    if (*p == '^')
        p++;
    if (*p == ']')
        p++;
    while (*p && *p != ']') {
        if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
            const char *close = strchr(p + 2, p[1]);
            p = close && close[1] == ']' ? close + 1 : p + 1;
        }
        if (*p)
            p++;
    }
    return p;
}

/* glibc's regcomp builds `x+` as `xx*` and `x{m,n}` as m..n copies of x, so stacked or nested
 * repetitions multiply: "a++++..." with 60 pluses, "()+++..." with 23 or "((a{99}){99}){99}"
 * exhaust memory at load time (all found by fuzz_rules). This walks the pattern and bounds the
 * number of parse-tree nodes the expansion would hold, without compiling it. The count is an
 * over-estimate on purpose: every atom, group, star, option and branch is a node, and an empty
 * group still is one, so a repetition of nothing cannot hide a doubling. Host selectors in real
 * rule files come to a few hundred nodes. */
#define REGEX_MAX_NODES 4000.0

static double regex_expanded_nodes(const char *re)
{
    double stack[64];
    int depth = 0;
    double cur = 0, last = 0; /* size of this group so far, of the item a repetition applies to */
    for (const char *p = re; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            cur += (last = 2);
        } else if (*p == '[') {
            /* A bracket expression is one atom. */
            p = bracket_end(p);
            if (!*p)
                break;
            cur += (last = 2);
        } else if (*p == '(') {
            if (depth == (int)(sizeof(stack) / sizeof(stack[0])))
                return 1e300;
            stack[depth++] = cur;
            cur = last = 0;
        } else if (*p == ')' && depth > 0) {
            last = cur + 2;
            cur = stack[--depth] + last;
        } else if (*p == '+') {
            /* x+ becomes x x*: a copy of x plus a star and a concatenation. */
            cur += last + 2;
            last = 2 * last + 2;
        } else if (*p == '{') {
            char *end;
            unsigned long lo = strtoul(p + 1, &end, 10), hi = lo;
            if (*end == ',')
                hi = end[1] == '}' ? lo + 1 : strtoul(end + 1, &end, 10);
            double copies = (double)(hi > lo ? hi : lo) + 1;
            cur += (last + 2) * copies - last;
            last = (last + 2) * copies;
            const char *close = strchr(p, '}');
            if (!close)
                break;
            p = close;
        } else if (*p == '*' || *p == '?') {
            cur += 1;
            last += 1;
        } else if (*p == '|') {
            cur += 1;
        } else {
            cur += (last = 2);
        }
        if (cur > REGEX_MAX_NODES)
            return cur;
    }
    while (depth > 0)
        cur += stack[--depth];
    return cur;
}

/* glibc's ERE takes \1..\9 as backreferences, whose matching is exponential in the value's
 * length: "(.*)(.*)(.*)(.*)(.*)\5\4\3\2\1x" against a 50-character host took seconds a
 * message, with the analyzer's lock held. PromQL (RE2) has no backreferences either, so they are
 * refused. The offset in re of the first one, or -1; inside a bracket expression a backslash is
 * an ordinary character. */
static long regex_backref_at(const char *re)
{
    for (const char *p = re; *p; p++) {
        if (*p == '\\' && p[1]) {
            if (p[1] >= '0' && p[1] <= '9')
                return (long)(p - re);
            p++;
        } else if (*p == '[') {
            p = bracket_end(p);
            if (!*p)
                break;
        }
    }
    return -1;
}

/* The offset in the select text of byte `at` of the value quoted from `start`, undoing the \"
 * and \\ escapes the value was read with. */
static size_t text_off(const char *text, const char *start, size_t at)
{
    const char *p = start;
    for (size_t v = 0; v < at && *p; v++) {
        if (p[0] == '\\' && (p[1] == '"' || p[1] == '\\'))
            p++;
        p++;
    }
    return (size_t)(p - text);
}

int vg_rule_select_parse(const char *text, struct vg_rule_select *m, size_t *err_off, char *err,
                         size_t errlen)
{
    memset(m, 0, sizeof(*m));
    const char *p = text;
    while (*p == ' ')
        p++;
    const char *name = p;
    if (!ident_start(*p))
        return fail(err_off, (size_t)(p - text), err, errlen, text,
                    "expected a label name (" SYNTAX_HINT ")");
    while (ident_char(*p))
        p++;
    size_t name_len = (size_t)(p - name);
    while (*p == ' ')
        p++;
    size_t op_off = (size_t)(p - text);
    if (p[0] == '=' && p[1] == '~') {
        m->op = VG_RULE_SEL_RE;
        p += 2;
    } else if (p[0] == '!' && p[1] == '~') {
        m->op = VG_RULE_SEL_NRE;
        p += 2;
    } else if (p[0] == '!' && p[1] == '=') {
        m->op = VG_RULE_SEL_NE;
        p += 2;
    } else if (p[0] == '=' && p[1] == '=') {
        return fail(err_off, op_off, err, errlen, text, "equality is written '=', not '=='");
    } else if (p[0] == '=') {
        m->op = VG_RULE_SEL_EQ;
        p += 1;
    } else {
        return fail(err_off, op_off, err, errlen, text,
                    "expected =, !=, =~ or !~ after the label name (" SYNTAX_HINT ")");
    }
    while (*p == ' ')
        p++;
    if (*p != '"')
        return fail(err_off, (size_t)(p - text), err, errlen, text,
                    "the value must be in double quotes (" SYNTAX_HINT ")");
    const char *open = p++;
    size_t cap = strlen(p) + 1, n = 0;
    char *val = malloc(cap);
    if (!val)
        return -ENOMEM;
    /* \" and \\ are the only escapes; any other backslash is kept, so a regex like "a\.b"
     * reads as it would in PromQL's raw strings. */
    while (*p && *p != '"') {
        if (p[0] == '\\' && (p[1] == '"' || p[1] == '\\'))
            p++;
        val[n++] = *p++;
    }
    val[n] = '\0';
    if (*p != '"') {
        free(val);
        return fail(err_off, (size_t)(open - text), err, errlen, text,
                    "the value's quote is not closed");
    }
    p++;
    while (*p == ' ')
        p++;
    if (*p) {
        free(val);
        return fail(err_off, (size_t)(p - text), err, errlen, text,
                    "unexpected text after the quoted value (one matcher per list item)");
    }
    if (!(m->label = strndup(name, name_len))) {
        free(val);
        return -ENOMEM;
    }
    m->value = val;
    if ((m->op == VG_RULE_SEL_RE || m->op == VG_RULE_SEL_NRE) &&
        regex_expanded_nodes(val) > REGEX_MAX_NODES) {
        free(m->label);
        free(m->value);
        memset(m, 0, sizeof(*m));
        *err_off = (size_t)(open + 1 - text);
        return vg_err(err, errlen, -EINVAL,
                      "regex in select '%.100s' is too complex: its repetitions ({m,n}, +) "
                      "expand to more than %.0f parse-tree nodes; write fewer or smaller nested "
                      "repetitions",
                      text, REGEX_MAX_NODES);
    }
    long backref = m->op == VG_RULE_SEL_RE || m->op == VG_RULE_SEL_NRE ? regex_backref_at(val) : -1;
    if (backref >= 0) {
        *err_off = text_off(text, open + 1, (size_t)backref);
        int rc = vg_err(err, errlen, -EINVAL,
                        "regex in select '%.100s': backreferences (\\%c) are not supported, as in "
                        "PromQL: matching them can take exponential time",
                        text, val[backref + 1]);
        free(m->label);
        free(m->value);
        memset(m, 0, sizeof(*m));
        return rc;
    }
    if (m->op == VG_RULE_SEL_RE || m->op == VG_RULE_SEL_NRE) {
        int rc = regcomp(&m->re, val, REG_EXTENDED);
        if (rc) {
            char msg[VG_ERRLEN];
            regerror(rc, &m->re, msg, sizeof(msg));
            free(m->label);
            free(m->value);
            memset(m, 0, sizeof(*m));
            *err_off = (size_t)(open + 1 - text);
            return vg_err(err, errlen, -EINVAL, "bad regex in select '%.100s': %s", text, msg);
        }
    }
    return 0;
}

void vg_rule_select_free(struct vg_rule_select *m)
{
    if (m->op == VG_RULE_SEL_RE || m->op == VG_RULE_SEL_NRE) {
        if (m->value)
            regfree(&m->re);
    }
    free(m->label);
    free(m->value);
    memset(m, 0, sizeof(*m));
}

/* POSIX matching is leftmost-longest, so a match that starts at 0 and spans the whole value
 * exists exactly when the longest match at 0 does: anchoring without rewriting the pattern
 * (wrapping it in ^(...)$ would change what an unbalanced ')' means). */
static int full_match(const regex_t *re, const char *s)
{
    regmatch_t pm[1];
    return regexec(re, s, 1, pm, 0) == 0 && pm[0].rm_so == 0 && s[pm[0].rm_eo] == '\0';
}

int vg_rule_select_match(const struct vg_rule_select *m, vg_rule_label_fn lookup, const void *ud)
{
    const char *v = lookup(ud, m->label);
    if (!v)
        v = "";
    switch (m->op) {
    case VG_RULE_SEL_EQ:
        return strcmp(v, m->value) == 0;
    case VG_RULE_SEL_NE:
        return strcmp(v, m->value) != 0;
    case VG_RULE_SEL_RE:
        return full_match(&m->re, v);
    case VG_RULE_SEL_NRE:
        return !full_match(&m->re, v);
    }
    return 0;
}
