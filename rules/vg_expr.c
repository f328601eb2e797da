#include "vg_expr.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vg_config.h"
#include "vg_rule_suggest.h"
#include "vg_util.h"

/* Parentheses, `not` and unary minus nest by recursion, each one level (docs/rules.md: 100);
 * that is far beyond any rule a person writes and far below what the stack holds (about ten
 * small parser frames a level). The same bound on the tree's depth, not counting `not` and
 * unary minus (bounded already), keeps evaluation and freeing (also recursive) safe from
 * "1+1+1+...". */
#define MAX_DEPTH 100

/* ---- the tree ------------------------------------------------------------------------------ */

enum type { T_NUM, T_BOOL, T_STRING, T_DURATION };

enum kind { K_NUM, K_STR, K_DUR, K_CALL, K_NEG, K_ARITH, K_CMP, K_AND, K_OR, K_NOT };

enum fn { F_SCORE, F_TOP_SCORE, F_VALUE, F_AVG_OVER, F_MAX_OVER, F_MIN_OVER, F_RATE };

struct node {
    enum kind kind;
    enum type type;
    size_t off;   /* where the node's text starts in the source */
    size_t end;   /* K_CMP: where its text ends, to quote it in a message */
    char op;      /* K_ARITH: + - * /; K_CMP: < l(<=) > g(>=) = (==) ! (!=) */
    size_t depth; /* of the subtree, for MAX_DEPTH; K_NOT and K_NEG add nothing */
    double num;
    int64_t dur_ms;
    char *str;
    enum fn fn;
    struct node *a, *b; /* operands; for calls, the arguments */
};

struct vg_expr {
    struct node *root;
    const struct node *first_cmp; /* whose left side is vg_expr_result.value */
};

static const struct fninfo {
    const char *name;
    size_t nargs;
    enum type args[2];
    const char *usage; /* for arity errors */
} fns[] = {
    [F_SCORE] = {"score", 1, {T_STRING}, "a series pattern"},
    [F_TOP_SCORE] = {"top_score", 0, {0}, ""},
    [F_VALUE] = {"value", 1, {T_STRING}, "a series name"},
    [F_AVG_OVER] = {"avg_over", 2, {T_STRING, T_DURATION}, "series name, window"},
    [F_MAX_OVER] = {"max_over", 2, {T_STRING, T_DURATION}, "series name, window"},
    [F_MIN_OVER] = {"min_over", 2, {T_STRING, T_DURATION}, "series name, window"},
    [F_RATE] = {"rate", 2, {T_STRING, T_DURATION}, "series name, window"},
};

static void free_node(struct node *n)
{
    if (!n)
        return;
    free_node(n->a);
    free_node(n->b);
    free(n->str);
    free(n);
}

void vg_expr_free(struct vg_expr *e)
{
    if (!e)
        return;
    free_node(e->root);
    free(e);
}

/* ---- lexer --------------------------------------------------------------------------------- */

enum tok {
    TK_END,
    TK_NUM,
    TK_DUR,
    TK_STR,
    TK_IDENT,
    TK_LP,
    TK_RP,
    TK_COMMA,
    TK_ARITH, /* + - * / */
    TK_CMP,
    TK_AND,
    TK_OR,
    TK_NOT,
};

struct token {
    enum tok t;
    size_t off, len; /* source text of the token */
    char op;         /* TK_ARITH, TK_CMP: as in struct node */
    double num;
    int64_t dur_ms;
};

struct parser {
    const char *src;
    size_t pos;
    struct token tok; /* the current (next unconsumed) token */
    size_t prev_end;  /* where the token before tok ends: the end of what was parsed */
    size_t depth;     /* recursion */
    char *err;
    size_t errlen;
    size_t err_off;
};

static int perr(struct parser *p, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int perr(struct parser *p, size_t off, const char *fmt, ...)
{
    if (p->err && p->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err, p->errlen, fmt, ap);
        va_end(ap);
    }
    p->err_off = off;
    return -EINVAL;
}

/* Entered, at the current token, by each construct the parser recurses into: '(' , `not`,
 * unary minus and a call's argument list. Each is one level; limit is MAX_DEPTH, or one more for
 * a call's arguments (below). The caller leaves with p->depth-- whatever this returned. */
static int enter(struct parser *p, size_t limit)
{
    if (++p->depth > limit)
        return perr(p, p->tok.off, "expression nested too deeply (more than %d levels)", MAX_DEPTH);
    return 0;
}

static int is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int lex_number(struct parser *p, struct token *t)
{
    const char *s = p->src + t->off, *q = s;
    while (is_digit(*q))
        q++;
    if (*q == '.') {
        q++;
        while (is_digit(*q))
            q++;
    }
    if ((*q == 'e' || *q == 'E') &&
        (is_digit(q[1]) || ((q[1] == '+' || q[1] == '-') && is_digit(q[2])))) {
        q += 2;
        while (is_digit(*q))
            q++;
    }
    const char *num_end = q;
    while (is_alpha(*q) || is_digit(*q))
        q++;
    t->len = (size_t)(q - s);
    char text[64];
    if (t->len >= sizeof(text))
        return perr(p, t->off, "number too long");
    memcpy(text, s, t->len);
    text[t->len] = '\0';
    if (q != num_end) {
        if (vg_parse_duration_ms(text, &t->dur_ms) < 0)
            return perr(p, t->off,
                        "'%s' is not a number or a duration (durations are written 250ms, 30s, "
                        "5m, 1h, 1d)",
                        text);
        t->t = TK_DUR;
        return 0;
    }
    t->num = strtod(text, NULL);
    if (!isfinite(t->num))
        return perr(p, t->off, "number '%s' is out of range", text);
    t->t = TK_NUM;
    return 0;
}

/* Reads the token at p->pos into p->tok. */
static int lex(struct parser *p)
{
    const char *s = p->src;
    p->prev_end = p->tok.off + p->tok.len;
    while (s[p->pos] == ' ' || s[p->pos] == '\t' || s[p->pos] == '\n' || s[p->pos] == '\r')
        p->pos++;
    struct token *t = &p->tok;
    memset(t, 0, sizeof(*t));
    t->off = p->pos;
    const char *c = s + p->pos;
    t->len = 1;
    switch (*c) {
    case '\0':
        t->t = TK_END;
        t->len = 0;
        /* The end is placed just after the expression's last character: trailing whitespace,
         * such as the final line break a block scalar (`when: |`) keeps, would otherwise put
         * it on the line after the expression, the next rule's. */
        while (t->off > 0 && (s[t->off - 1] == ' ' || s[t->off - 1] == '\t' ||
                              s[t->off - 1] == '\n' || s[t->off - 1] == '\r'))
            t->off--;
        return 0;
    case '(':
        t->t = TK_LP;
        break;
    case ')':
        t->t = TK_RP;
        break;
    case ',':
        t->t = TK_COMMA;
        break;
    case '+':
    case '-':
    case '*':
    case '/':
        t->t = TK_ARITH;
        t->op = *c;
        break;
    case '<':
    case '>':
        t->t = TK_CMP;
        t->op = *c;
        if (c[1] == '=') {
            t->op = *c == '<' ? 'l' : 'g';
            t->len = 2;
        }
        break;
    case '=':
        /* `=>` is a reversed `>=`, not a misspelt `==`. */
        if (c[1] == '>' || c[1] == '<')
            return perr(p, t->off, "'=%c' is written '%c='", c[1], c[1]);
        if (c[1] != '=')
            return perr(p, t->off, "comparison for equality is written '==', not '='");
        t->t = TK_CMP;
        t->op = '=';
        t->len = 2;
        break;
    case '!':
        if (c[1] != '=')
            return perr(p, t->off, "'!' is written 'not'");
        t->t = TK_CMP;
        t->op = '!';
        t->len = 2;
        break;
    case '&':
        return perr(p, t->off, "'%s' is written 'and'", c[1] == '&' ? "&&" : "&");
    case '|':
        return perr(p, t->off, "'%s' is written 'or'", c[1] == '|' ? "||" : "|");
    case '"':
    case '\'': {
        const char *q = c + 1;
        while (*q && *q != *c)
            q += (q[0] == '\\' && q[1]) ? 2 : 1;
        if (!*q)
            return perr(p, t->off, "string is not closed (missing %c)", *c);
        t->t = TK_STR;
        t->len = (size_t)(q + 1 - c);
        break;
    }
    default:
        if (is_digit(*c) || (*c == '.' && is_digit(c[1]))) {
            int rc = lex_number(p, t);
            if (rc)
                return rc;
            break;
        }
        if (is_alpha(*c)) {
            const char *q = c;
            while (is_alpha(*q) || is_digit(*q) || *q == '.')
                q++;
            t->len = (size_t)(q - c);
            t->t = TK_IDENT;
            if (t->len == 3 && strncmp(c, "and", 3) == 0)
                t->t = TK_AND;
            else if (t->len == 2 && strncmp(c, "or", 2) == 0)
                t->t = TK_OR;
            else if (t->len == 3 && strncmp(c, "not", 3) == 0)
                t->t = TK_NOT;
            break;
        }
        if ((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f)
            return perr(p, t->off, "unexpected character '%c'", *c);
        return perr(p, t->off, "unexpected character (byte 0x%02x)", (unsigned char)*c);
    }
    p->pos = t->off + t->len;
    return 0;
}

/* How a token reads in a message: its text, or "the end of the expression". */
static const char *tok_desc(const struct parser *p, char *buf, size_t n)
{
    if (p->tok.t == TK_END)
        return "the end of the expression";
    size_t len = p->tok.len < 40 ? p->tok.len : 40;
    snprintf(buf, n, "'%.*s'", (int)len, p->src + p->tok.off);
    return buf;
}

/* Appends src[from, to) to buf (n bytes, holding a string), each run of whitespace as one space
 * (a block scalar's line breaks), at most max bytes of it, then "...". Leaves out the first
 * drop_rp ')' that close nothing opened in the text: the one a call's hint moves, or those of
 * parentheses around a comparison's left side. */
static void quote_src(char *buf, size_t n, const char *src, size_t from, size_t to, size_t drop_rp,
                      size_t max)
{
    size_t len = strlen(buf), added = 0;
    int depth = 0;
    char quote = 0;
    for (size_t i = from; i < to && src[i] && len + 4 < n; i++) {
        char c = src[i];
        if (quote) {
            if (c == quote)
                quote = 0;
        } else if (c == '"' || c == '\'') {
            quote = c;
        } else if (c == '(') {
            depth++;
        } else if (c == ')' && --depth < 0 && drop_rp) {
            drop_rp--;
            depth = 0;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            if (len && buf[len - 1] == ' ')
                continue;
            c = ' ';
        }
        if (added++ == max) {
            strcpy(buf + len, "...");
            return;
        }
        buf[len++] = c;
        buf[len] = '\0';
    }
    while (len && buf[len - 1] == ' ')
        buf[--len] = '\0';
}

/* ---- parser -------------------------------------------------------------------------------- */

static struct node *mk(enum kind k, enum type ty, size_t off)
{
    struct node *n = calloc(1, sizeof(*n));
    if (n) {
        n->kind = k;
        n->type = ty;
        n->off = off;
        n->depth = 1;
    }
    return n;
}

static int set_children(struct parser *p, struct node *n, struct node *a, struct node *b)
{
    n->a = a;
    n->b = b;
    size_t da = a ? a->depth : 0, db = b ? b->depth : 0;
    /* `not` and unary minus count against the nesting limit as they are parsed; counting them
     * here too would make 100 of them around a comparison "too complex". */
    n->depth = (n->kind == K_NOT || n->kind == K_NEG ? 0 : 1) + (da > db ? da : db);
    if (n->depth > MAX_DEPTH)
        return perr(p, n->off, "expression too complex (more than %d nested operations)",
                    MAX_DEPTH);
    return 0;
}

static const char *type_noun(enum type t)
{
    switch (t) {
    case T_NUM:
        return "a number";
    case T_BOOL:
        return "a condition";
    case T_STRING:
        return "a string";
    case T_DURATION:
        return "a duration";
    }
    return "?";
}

/* Strings and durations exist only as function arguments; say so where one turns up. */
static int misplaced(struct parser *p, const struct node *n)
{
    if (n->type == T_STRING)
        return perr(p, n->off,
                    "a string can only be a function argument, e.g. value(\"cpu.user_pct\")");
    return perr(p, n->off, "a duration can only be a window argument, e.g. avg_over(\"x\", 5m)");
}

static int want_num(struct parser *p, const struct node *n, const char *ctx)
{
    if (n->type == T_NUM)
        return 0;
    if (n->type != T_BOOL)
        return misplaced(p, n);
    return perr(p, n->off,
                "%s needs a number here, not a condition (combine conditions with "
                "'and' and 'or')",
                ctx);
}

static int want_bool(struct parser *p, const struct node *n, const char *ctx)
{
    if (n->type == T_BOOL)
        return 0;
    if (n->type != T_NUM)
        return misplaced(p, n);
    return perr(p, n->off, "%s needs a condition here, not a number (compare it: ... > 0.9)", ctx);
}

static int advance(struct parser *p)
{
    return lex(p);
}

static int parse_or(struct parser *p, struct node **out);

/* Turns a string token's text into its value: \x stands for x. */
static char *unquote(const char *s, size_t len)
{
    char *v = malloc(len);
    if (!v)
        return NULL;
    size_t n = 0;
    for (size_t i = 1; i + 1 < len; i++) {
        if (s[i] == '\\' && i + 2 < len)
            i++;
        v[n++] = s[i];
    }
    v[n] = '\0';
    return v;
}

static int unknown_ident(struct parser *p, const struct token *t)
{
    char name[80];
    size_t len = t->len < sizeof(name) - 1 ? t->len : sizeof(name) - 1;
    memcpy(name, p->src + t->off, len);
    name[len] = '\0';
    const char *names[VG_ARRAY_LEN(fns)];
    for (size_t i = 0; i < VG_ARRAY_LEN(fns); i++) {
        names[i] = fns[i].name;
        if (strcmp(name, fns[i].name) == 0)
            return perr(p, t->off, "'%s' is a function: write %s(%s)", name, name,
                        fns[i].nargs ? "..." : "");
    }
    static const char *const kw[] = {"and", "or", "not"};
    for (size_t i = 0; i < VG_ARRAY_LEN(kw); i++)
        if (strcasecmp(name, kw[i]) == 0)
            return perr(p, t->off, "unknown identifier '%s' (write '%s' in lower case)", name,
                        kw[i]);
    if (strchr(name, '.'))
        return perr(p, t->off,
                    "unknown identifier '%s' (a series name goes in quotes inside a function, "
                    "e.g. value(\"%s\"))",
                    name, name);
    const char *s = vg_rule_suggest(name, names, VG_ARRAY_LEN(names));
    if (s)
        return perr(p, t->off, "unknown identifier '%s' (did you mean '%s(...)'?)", name, s);
    return perr(p, t->off, "unknown identifier '%s'", name);
}

static int check_arg(struct parser *p, const struct fninfo *f, size_t i, const struct node *arg)
{
    enum type want = f->args[i];
    if (arg->type == want && (arg->kind == K_STR || arg->kind == K_DUR))
        return 0;
    if (want == T_DURATION) {
        int64_t ms;
        if (arg->kind == K_STR && vg_parse_duration_ms(arg->str, &ms) == 0)
            return perr(p, arg->off,
                        "%s() argument %zu must be a duration: write %s without quotes", f->name,
                        i + 1, arg->str);
        return perr(p, arg->off, "%s() argument %zu must be a duration such as 5m, not %s", f->name,
                    i + 1, type_noun(arg->type));
    }
    const char *what = f->usage;
    const char *eg = strcmp(what, "a series pattern") == 0 ? "\"cpu.*\"" : "\"cpu.user_pct\"";
    return perr(p, arg->off, "%s() argument %zu must be %s in quotes such as %s, not %s", f->name,
                i + 1, i == 0 && f->nargs == 2 ? "a series name" : what, eg,
                arg->kind == K_NUM                         ? "a number"
                : arg->kind == K_STR || arg->kind == K_DUR ? type_noun(arg->type)
                                                           : "an expression");
}

#define HM VG_EXPR_HOST_MODEL_PREFIX

/* "host:NAME" is a host model's score, which only value() reads (the engine answers it from the
 * model, not from a series): anywhere else it would match nothing and hold never. */
static int check_host_model(struct parser *p, const struct fninfo *f, enum fn fn,
                            const struct node *arg)
{
    const char *model = arg->str + strlen(HM);
    if (fn == F_VALUE && !*model)
        return perr(p, arg->off,
                    "value(\"" HM "\") names no host model (e.g. value(\"" HM "mv\"))");
    if (fn == F_SCORE)
        return perr(p, arg->off,
                    "score() reads the host's series, not its models: a host model's score is "
                    "value(\"" HM "%s\")",
                    model);
    if (fn != F_VALUE)
        return perr(p, arg->off,
                    "%s() reads a series' samples, and host models keep none: compare "
                    "value(\"" HM "%s\") instead",
                    f->name, model);
    return 0;
}

/* An operator right after a string or a duration argument: a string or a duration is never an
 * operand, so the call's ')' is missing, as in `value("x" > 1`. Without this the argument read
 * on as `"x" > 1` and the message said a string can only be a function argument, which it is. */
static int missing_rp(struct parser *p, const struct token *name, const struct fninfo *f,
                      size_t argno)
{
    char hint[200] = "";
    quote_src(hint, sizeof(hint), p->src, name->off, p->prev_end, 0, 100);
    strcat(hint, ")");
    quote_src(hint, sizeof(hint), p->src, p->prev_end, strlen(p->src), 1, 40);
    return perr(p, p->tok.off, "missing ')' after %s()'s argument %zu (write %s)", f->name, argno,
                hint);
}

static int parse_primary(struct parser *p, struct node **out);

static int parse_call(struct parser *p, const struct token *name, struct node **out)
{
    char fname[80];
    size_t len = name->len < sizeof(fname) - 1 ? name->len : sizeof(fname) - 1;
    memcpy(fname, p->src + name->off, len);
    fname[len] = '\0';
    const struct fninfo *f = NULL;
    const char *names[VG_ARRAY_LEN(fns)];
    for (size_t i = 0; i < VG_ARRAY_LEN(fns); i++) {
        names[i] = fns[i].name;
        if (strcmp(fname, fns[i].name) == 0)
            f = &fns[i];
    }
    if (!f) {
        const char *s = vg_rule_suggest(fname, names, VG_ARRAY_LEN(names));
        if (s)
            return perr(p, name->off, "unknown function '%s' (did you mean '%s'?)", fname, s);
        return perr(p, name->off,
                    "unknown function '%s' (the functions are score, top_score, value, avg_over, "
                    "max_over, min_over, rate)",
                    fname);
    }
    struct node *n = mk(K_CALL, T_NUM, name->off);
    if (!n)
        return -ENOMEM;
    n->fn = (enum fn)(f - fns);
    struct node *args[3] = {NULL, NULL, NULL};
    size_t nargs = 0;
    /* The arguments are a level of their own, so that a call in a call's arguments (refused,
     * but only once parsed) cannot recurse without bound. A valid argument is a string or a
     * duration and nests nothing, so they may go one past the limit: a function call inside
     * 100 parentheses is as valid as a number there. */
    int rc = enter(p, MAX_DEPTH + 1);
    if (!rc)
        rc = advance(p); /* past '(' */
    if (!rc && p->tok.t != TK_RP) {
        for (;;) {
            struct node *arg = NULL;
            if (p->tok.t == TK_STR || p->tok.t == TK_DUR) {
                rc = parse_primary(p, &arg);
                enum tok t = p->tok.t;
                if (!rc && (t == TK_ARITH || t == TK_CMP || t == TK_AND || t == TK_OR))
                    rc = missing_rp(p, name, f, nargs + 1);
            } else {
                rc = parse_or(p, &arg);
            }
            if (rc) {
                free_node(arg);
                break;
            }
            if (nargs < VG_ARRAY_LEN(args))
                args[nargs] = arg;
            else
                free_node(arg);
            nargs++;
            if (p->tok.t != TK_COMMA)
                break;
            if ((rc = advance(p)))
                break;
        }
    }
    if (!rc && p->tok.t != TK_RP) {
        char buf[64];
        rc = perr(p, p->tok.off, "expected ',' or ')' in the arguments of %s(), found %s", f->name,
                  tok_desc(p, buf, sizeof(buf)));
    }
    p->depth--;
    if (!rc && nargs != f->nargs) {
        if (f->nargs == 0)
            rc = perr(p, name->off, "%s() takes no arguments, not %zu", f->name, nargs);
        else
            rc = perr(p, name->off, "%s() takes %zu argument%s (%s), not %zu", f->name, f->nargs,
                      f->nargs == 1 ? "" : "s", f->usage, nargs);
    }
    for (size_t i = 0; !rc && i < nargs; i++)
        rc = check_arg(p, f, i, args[i]);
    if (!rc && f->nargs >= 1 && (n->fn == F_VALUE || f->nargs == 2) && strpbrk(args[0]->str, "*?["))
        rc = perr(p, args[0]->off,
                  "%s() takes one series name, not the pattern \"%s\" (score() takes patterns)",
                  f->name, args[0]->str);
    if (!rc && f->nargs >= 1 && !args[0]->str[0])
        rc = perr(p, args[0]->off, "%s() argument 1 is empty", f->name);
    if (!rc && f->nargs >= 1 && strncmp(args[0]->str, HM, strlen(HM)) == 0)
        rc = check_host_model(p, f, n->fn, args[0]);
    if (!rc && f->nargs == 2 && args[1]->dur_ms <= 0)
        rc = perr(p, args[1]->off, "%s() window must be longer than 0s", f->name);
    if (!rc && f->nargs == 2 && args[1]->dur_ms > VG_EXPR_MAX_WINDOW_MS)
        rc = perr(p, args[1]->off,
                  "%s() window must be at most 1d: the analyzer keeps each series' samples of "
                  "the longest window, for every host",
                  f->name);
    if (!rc)
        rc = set_children(p, n, args[0], args[1]);
    if (rc) {
        for (size_t i = 0; i < VG_ARRAY_LEN(args); i++)
            free_node(args[i]);
        n->a = n->b = NULL;
        free_node(n);
        return rc;
    }
    for (size_t i = 2; i < VG_ARRAY_LEN(args); i++)
        free_node(args[i]);
    *out = n;
    return advance(p); /* past ')' */
}

static int parse_primary(struct parser *p, struct node **out)
{
    struct token t = p->tok;
    struct node *n = NULL;
    int rc;
    switch (t.t) {
    case TK_NUM:
    case TK_DUR:
        if (!(n = mk(t.t == TK_NUM ? K_NUM : K_DUR, t.t == TK_NUM ? T_NUM : T_DURATION, t.off)))
            return -ENOMEM;
        n->num = t.num;
        n->dur_ms = t.dur_ms;
        break;
    case TK_STR:
        if (!(n = mk(K_STR, T_STRING, t.off)))
            return -ENOMEM;
        if (!(n->str = unquote(p->src + t.off, t.len))) {
            free_node(n);
            return -ENOMEM;
        }
        break;
    case TK_LP: {
        if (!(rc = enter(p, MAX_DEPTH)) && !(rc = advance(p)) && !(rc = parse_or(p, &n)) &&
            p->tok.t != TK_RP) {
            char buf[64];
            free_node(n);
            rc = perr(p, p->tok.off, "missing ')' to close a '(', found %s",
                      tok_desc(p, buf, sizeof(buf)));
        }
        p->depth--;
        if (rc)
            return rc;
        *out = n;
        return advance(p);
    }
    case TK_IDENT:
        if ((rc = advance(p)))
            return rc;
        if (p->tok.t != TK_LP)
            return unknown_ident(p, &t);
        return parse_call(p, &t, out);
    default: {
        char buf[64];
        return perr(p, t.off, "expected a number, a function call or '(', found %s",
                    tok_desc(p, buf, sizeof(buf)));
    }
    }
    *out = n;
    return advance(p);
}

static int parse_unary(struct parser *p, struct node **out)
{
    if (p->tok.t != TK_ARITH || p->tok.op != '-')
        return parse_primary(p, out);
    size_t off = p->tok.off;
    struct node *a = NULL, *n;
    int rc = enter(p, MAX_DEPTH);
    if (rc || (rc = advance(p)) || (rc = parse_unary(p, &a)) || (rc = want_num(p, a, "'-'"))) {
        free_node(a);
    } else if (!(n = mk(K_NEG, T_NUM, off))) {
        free_node(a);
        rc = -ENOMEM;
    } else if ((rc = set_children(p, n, a, NULL))) {
        free_node(n);
    } else {
        *out = n;
    }
    p->depth--;
    return rc;
}

/* Left-associative binary levels: + - over * /. */
static int parse_binary(struct parser *p, int level, struct node **out)
{
    struct node *l = NULL;
    int rc = level ? parse_unary(p, &l) : parse_binary(p, 1, &l);
    while (!rc && p->tok.t == TK_ARITH &&
           ((level == 0) == (p->tok.op == '+' || p->tok.op == '-'))) {
        char op = p->tok.op, ctx[8];
        snprintf(ctx, sizeof(ctx), "'%c'", op);
        struct node *r = NULL, *n;
        if ((rc = want_num(p, l, ctx)) || (rc = advance(p)) ||
            (rc = level ? parse_unary(p, &r) : parse_binary(p, 1, &r)) ||
            (rc = want_num(p, r, ctx))) {
            free_node(r);
            break;
        }
        if (!(n = mk(K_ARITH, T_NUM, l->off))) {
            free_node(r);
            rc = -ENOMEM;
            break;
        }
        n->op = op;
        rc = set_children(p, n, l, r);
        l = n;
    }
    if (rc) {
        free_node(l);
        return rc;
    }
    *out = l;
    return 0;
}

static const char *cmp_text(char op)
{
    switch (op) {
    case '<':
        return "<";
    case 'l':
        return "<=";
    case '>':
        return ">";
    case 'g':
        return ">=";
    case '=':
        return "==";
    default:
        return "!=";
    }
}

static int parse_cmp(struct parser *p, struct node **out)
{
    struct node *l = NULL, *r = NULL, *n;
    int rc = parse_binary(p, 0, &l);
    if (rc || p->tok.t != TK_CMP) {
        if (rc)
            free_node(l);
        else
            *out = l;
        return rc;
    }
    char op = p->tok.op, ctx[8];
    snprintf(ctx, sizeof(ctx), "'%s'", cmp_text(op));
    if ((rc = want_num(p, l, ctx)) || (rc = advance(p)) || (rc = parse_binary(p, 0, &r)) ||
        (rc = want_num(p, r, ctx))) {
        free_node(l);
        free_node(r);
        return rc;
    }
    if (p->tok.t == TK_CMP) {
        free_node(l);
        free_node(r);
        return perr(p, p->tok.off,
                    "comparisons cannot be chained: write 'a < b and b < c', not 'a < b < c'");
    }
    if (!(n = mk(K_CMP, T_BOOL, l->off))) {
        free_node(l);
        free_node(r);
        return -ENOMEM;
    }
    n->op = op;
    n->end = p->prev_end;
    if ((rc = set_children(p, n, l, r))) {
        free_node(n);
        return rc;
    }
    *out = n;
    return 0;
}

static int parse_not(struct parser *p, struct node **out)
{
    if (p->tok.t != TK_NOT)
        return parse_cmp(p, out);
    size_t off = p->tok.off;
    struct node *a = NULL, *n;
    int rc = enter(p, MAX_DEPTH);
    if (!rc && !(rc = advance(p)) && !(rc = parse_not(p, &a)) && !(rc = want_bool(p, a, "'not'"))) {
        if (!(n = mk(K_NOT, T_BOOL, off))) {
            rc = -ENOMEM;
        } else {
            rc = set_children(p, n, a, NULL);
            a = NULL; /* n owns it now */
            if (rc)
                free_node(n);
            else
                *out = n;
        }
    }
    free_node(a);
    p->depth--;
    return rc;
}

/* level 0: or, level 1: and */
static int parse_logic(struct parser *p, int level, struct node **out)
{
    enum tok optok = level ? TK_AND : TK_OR;
    const char *ctx = level ? "'and'" : "'or'";
    struct node *l = NULL;
    int rc = level ? parse_not(p, &l) : parse_logic(p, 1, &l);
    while (!rc && p->tok.t == optok) {
        struct node *r = NULL, *n;
        if ((rc = want_bool(p, l, ctx)) || (rc = advance(p)) ||
            (rc = level ? parse_not(p, &r) : parse_logic(p, 1, &r)) ||
            (rc = want_bool(p, r, ctx))) {
            free_node(r);
            break;
        }
        if (!(n = mk(level ? K_AND : K_OR, T_BOOL, l->off))) {
            free_node(r);
            rc = -ENOMEM;
            break;
        }
        rc = set_children(p, n, l, r);
        l = n;
    }
    if (rc) {
        free_node(l);
        return rc;
    }
    *out = l;
    return 0;
}

static int parse_or(struct parser *p, struct node **out)
{
    return parse_logic(p, 0, out);
}

/* score(), top_score() and value("host:NAME") are scores, in [0,1] (docs/rules.md). */
static int is_score(const struct node *n)
{
    return n->kind == K_CALL && (n->fn == F_SCORE || n->fn == F_TOP_SCORE ||
                                 (n->fn == F_VALUE && strncmp(n->a->str, HM, strlen(HM)) == 0));
}

static int num_literal(const struct node *n, double *v)
{
    if (n->kind == K_NUM)
        *v = n->num;
    else if (n->kind == K_NEG && n->a->kind == K_NUM)
        *v = -n->a->num;
    else
        return 0;
    return 1;
}

/* A score compared with a constant it can never reach, `score("cpu.*") > 99` from someone
 * thinking in percent, is a rule that never fires and passes every check: refused, as a rule
 * reading a host model that does not run is. `>= 1` and `<= 0` can hold (a score of exactly 1
 * or 0) and are kept. Run on the parsed tree so that syntax errors are reported first. */
static int check_score_ranges(struct parser *p, const struct node *n)
{
    if (!n)
        return 0;
    if (n->kind != K_CMP) {
        int rc = check_score_ranges(p, n->a);
        return rc ? rc : check_score_ranges(p, n->b);
    }
    const struct node *s = n->a, *c = n->b;
    char op = n->op;
    if (!is_score(s)) { /* 99 < score("x") reads as score("x") > 99 */
        s = n->b;
        c = n->a;
        op = op == '<' ? '>' : op == 'l' ? 'g' : op == '>' ? '<' : op == 'g' ? 'l' : op;
    }
    double v;
    if (!is_score(s) || !num_literal(c, &v))
        return 0;
    int never = (op == '>' && v >= 1) || (op == 'g' && v > 1) || (op == '<' && v <= 0) ||
                (op == 'l' && v < 0) || (op == '=' && (v < 0 || v > 1));
    if (!never)
        return 0;
    char text[200] = "", hint[48] = "";
    quote_src(text, sizeof(text), p->src, n->off, n->end, SIZE_MAX, 120);
    /* 10 to 100 reads as a percentage; 1.5 or 1000 as nothing we could guess. */
    if ((op == '>' || op == 'g') && v >= 10 && v <= 100)
        snprintf(hint, sizeof(hint), " (did you mean %g?)", v / 100);
    return perr(p, c->off, "scores are in [0,1]: %s can never hold%s", text, hint);
}

static int parse_kind(const char *src, int want_number, struct vg_expr **out, size_t *err_off,
                      char *err, size_t errlen)
{
    *out = NULL;
    *err_off = 0;
    struct parser p = {.src = src, .err = err, .errlen = errlen};
    struct node *root = NULL;
    int rc = lex(&p);
    if (!rc && p.tok.t == TK_END)
        rc = perr(&p, 0, "the expression is empty (write e.g. top_score() > 0.99)");
    if (!rc)
        rc = parse_or(&p, &root);
    if (!rc && p.tok.t != TK_END) {
        char buf[64];
        rc = perr(&p, p.tok.off, "unexpected %s after a complete expression%s",
                  tok_desc(&p, buf, sizeof(buf)),
                  p.tok.t == TK_RP ? " (more ')' than '(')" : " (missing 'and' or 'or'?)");
    }
    if (!rc && want_number && root->type != T_NUM) {
        if (root->type == T_BOOL)
            rc = perr(&p, 0,
                      "a metric computes a number, not a condition: leave the comparison out "
                      "(e.g. avg_over(\"cpu.user_pct\", 1m))");
        else
            rc = misplaced(&p, root);
    } else if (!rc && !want_number && root->type != T_BOOL) {
        if (root->type == T_NUM)
            rc = perr(&p, 0,
                      "the expression computes a number but compares nothing: write a condition "
                      "such as top_score() > 0.99");
        else
            rc = misplaced(&p, root);
    }
    if (!rc)
        rc = check_score_ranges(&p, root);
    if (rc) {
        free_node(root);
        *err_off = p.err_off;
        return rc;
    }
    struct vg_expr *e = calloc(1, sizeof(*e));
    if (!e) {
        free_node(root);
        return -ENOMEM;
    }
    e->root = root;
    const struct node *n = root;
    while (n->kind == K_AND || n->kind == K_OR || n->kind == K_NOT)
        n = n->a;
    e->first_cmp = n;
    *out = e;
    return 0;
}

int vg_expr_parse(const char *src, struct vg_expr **out, size_t *err_off, char *err, size_t errlen)
{
    return parse_kind(src, 0, out, err_off, err, errlen);
}

int vg_expr_parse_number(const char *src, struct vg_expr **out, size_t *err_off, char *err,
                         size_t errlen)
{
    return parse_kind(src, 1, out, err_off, err, errlen);
}

static int64_t max_window(const struct node *n)
{
    if (!n)
        return 0;
    int64_t m = n->kind == K_DUR ? n->dur_ms : 0, a = max_window(n->a), b = max_window(n->b);
    if (a > m)
        m = a;
    return b > m ? b : m;
}

int64_t vg_expr_max_window_ms(const struct vg_expr *e)
{
    return max_window(e->root);
}

static int reads_window(const struct node *n, const char *name)
{
    if (!n)
        return 0;
    if (n->kind == K_CALL &&
        (n->fn == F_AVG_OVER || n->fn == F_MAX_OVER || n->fn == F_MIN_OVER || n->fn == F_RATE) &&
        n->a && n->a->str && strcmp(n->a->str, name) == 0)
        return 1;
    return reads_window(n->a, name) || reads_window(n->b, name);
}

static void each_host_model(const struct node *n, vg_expr_host_model_fn fn, void *ud)
{
    if (!n)
        return;
    if (n->kind == K_CALL && n->fn == F_VALUE && strncmp(n->a->str, HM, strlen(HM)) == 0) {
        fn(ud, n->a->str + strlen(HM), n->a->off);
        return;
    }
    each_host_model(n->a, fn, ud);
    each_host_model(n->b, fn, ud);
}

void vg_expr_each_host_model(const struct vg_expr *e, vg_expr_host_model_fn fn, void *ud)
{
    if (e)
        each_host_model(e->root, fn, ud);
}

int vg_expr_reads_window_of(const struct vg_expr *e, const char *name)
{
    return e && reads_window(e->root, name);
}

/* ---- evaluation ---------------------------------------------------------------------------- */

enum tv { FALSE = 0, TRUE = 1, UNKNOWN = 2 };

struct eval {
    const struct vg_expr_env *env;
    char *const *series;
    size_t n_series;
    const struct vg_expr *e;
    struct vg_expr_result *res;
};

int vg_expr_series_selected(const char *name, char *const *series, size_t n_series)
{
    if (n_series == 0)
        return 1;
    for (size_t i = 0; i < n_series; i++)
        if (fnmatch(series[i], name, 0) == 0)
            return 1;
    return 0;
}

struct score_walk {
    const char *glob; /* NULL: every selected series */
    char *const *series;
    size_t n_series;
    double max;
    int found;
};

static int score_one(void *ud, const char *series, double score)
{
    struct score_walk *w = ud;
    if (!isfinite(score) || (w->glob && fnmatch(w->glob, series, 0) != 0) ||
        !vg_expr_series_selected(series, w->series, w->n_series))
        return 0;
    if (!w->found || score > w->max)
        w->max = score;
    w->found = 1;
    return 0;
}

/* 0 with *have = 1 and *v set, 0 with *have = 0 when missing, or a callback's error. */
static int call(struct eval *ev, const struct node *n, double *v, int *have)
{
    const struct vg_expr_env *env = ev->env;
    int rc;
    switch (n->fn) {
    case F_SCORE:
    case F_TOP_SCORE: {
        struct score_walk w = {n->fn == F_SCORE ? n->a->str : NULL, ev->series, ev->n_series, 0, 0};
        rc = env->scores ? env->scores(env->ud, score_one, &w) : 0;
        if (rc < 0)
            return rc;
        *v = w.max;
        *have = w.found;
        return 0;
    }
    case F_VALUE:
        rc = env->value ? env->value(env->ud, n->a->str, v) : -ENOENT;
        break;
    default: {
        static const enum vg_expr_window_fn wf[] = {[F_AVG_OVER] = VG_EXPR_AVG_OVER,
                                                    [F_MAX_OVER] = VG_EXPR_MAX_OVER,
                                                    [F_MIN_OVER] = VG_EXPR_MIN_OVER,
                                                    [F_RATE] = VG_EXPR_RATE};
        rc = env->window ? env->window(env->ud, n->a->str, n->b->dur_ms, wf[n->fn], v) : -ENOENT;
        break;
    }
    }
    if (rc == -ENOENT) {
        *have = 0;
        return 0;
    }
    if (rc < 0)
        return rc;
    *have = isfinite(*v);
    return 0;
}

static int eval_num(struct eval *ev, const struct node *n, double *v, int *have)
{
    double a, b;
    int ha, hb, rc;
    switch (n->kind) {
    case K_NUM:
        *v = n->num;
        *have = 1;
        return 0;
    case K_CALL:
        return call(ev, n, v, have);
    case K_NEG:
        if ((rc = eval_num(ev, n->a, &a, &ha)))
            return rc;
        *v = -a;
        *have = ha;
        return 0;
    case K_ARITH:
        if ((rc = eval_num(ev, n->a, &a, &ha)) || (rc = eval_num(ev, n->b, &b, &hb)))
            return rc;
        *have = ha && hb;
        switch (n->op) {
        case '+':
            *v = a + b;
            break;
        case '-':
            *v = a - b;
            break;
        case '*':
            *v = a * b;
            break;
        default:
            *have = *have && b != 0;
            *v = *have ? a / b : 0;
            break;
        }
        /* Overflow to infinity is as useless to compare as a missing value. */
        *have = *have && isfinite(*v);
        return 0;
    default:
        *have = 0; /* the parser lets no other kind reach here */
        return 0;
    }
}

static int eval_bool(struct eval *ev, const struct node *n, enum tv *out)
{
    enum tv a, b;
    int rc;
    switch (n->kind) {
    case K_AND:
        if ((rc = eval_bool(ev, n->a, &a)))
            return rc;
        if (a == FALSE) {
            *out = FALSE;
            return 0;
        }
        if ((rc = eval_bool(ev, n->b, &b)))
            return rc;
        *out = b == FALSE ? FALSE : (a == TRUE && b == TRUE) ? TRUE : UNKNOWN;
        return 0;
    case K_OR:
        if ((rc = eval_bool(ev, n->a, &a)))
            return rc;
        if (a == TRUE) {
            *out = TRUE;
            return 0;
        }
        if ((rc = eval_bool(ev, n->b, &b)))
            return rc;
        *out = b == TRUE ? TRUE : (a == FALSE && b == FALSE) ? FALSE : UNKNOWN;
        return 0;
    case K_NOT:
        if ((rc = eval_bool(ev, n->a, &a)))
            return rc;
        *out = a == UNKNOWN ? UNKNOWN : a == TRUE ? FALSE : TRUE;
        return 0;
    case K_CMP: {
        double l, r;
        int hl, hr;
        if ((rc = eval_num(ev, n->a, &l, &hl)) || (rc = eval_num(ev, n->b, &r, &hr)))
            return rc;
        if (n == ev->e->first_cmp)
            ev->res->value = hl ? l : NAN;
        if (!hl || !hr) {
            *out = UNKNOWN;
            return 0;
        }
        int t;
        switch (n->op) {
        case '<':
            t = l < r;
            break;
        case 'l':
            t = l <= r;
            break;
        case '>':
            t = l > r;
            break;
        case 'g':
            t = l >= r;
            break;
        case '=':
            t = l == r;
            break;
        default:
            t = l != r;
            break;
        }
        *out = t ? TRUE : FALSE;
        return 0;
    }
    default:
        *out = UNKNOWN;
        return 0;
    }
}

int vg_expr_eval(const struct vg_expr *e, const struct vg_expr_env *env, char *const *series,
                 size_t n_series, struct vg_expr_result *res)
{
    res->matched = 0;
    res->value = NAN;
    res->unknown = 0;
    struct eval ev = {env, series, n_series, e, res};
    enum tv t;
    int rc = eval_bool(&ev, e->root, &t);
    if (rc)
        return rc;
    res->matched = t == TRUE;
    res->unknown = t == UNKNOWN;
    return 0;
}

int vg_expr_eval_number(const struct vg_expr *e, const struct vg_expr_env *env, char *const *series,
                        size_t n_series, double *out)
{
    struct vg_expr_result res = {0, NAN, 0};
    struct eval ev = {env, series, n_series, e, &res};
    int have = 0;
    *out = NAN;
    int rc = eval_num(&ev, e->root, out, &have);
    if (rc)
        return rc;
    if (!have)
        *out = NAN;
    return 0;
}
