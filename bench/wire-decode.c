/* bench/wire-decode: what the analyzer's wire decoder costs per sample, and what its number
 * parser costs per number next to glibc's strtod() in the same run (docs/bench.md).
 *
 *   wire-decode [--hosts N] [--metrics M] [--reps R] [--seed S] [--file F]
 *
 * Messages: N hosts' ticks of M metrics, encoded by vg_wire_encode() (the agent's encoder, so
 * values are written "%.17g"), with vigil-loadgen's simulated fleet (vg_fleetgen.h); or, with
 * --file, one message per
 * line (e.g. `vigil-agent --once` output, or `kcat -C -e` of a live topic).
 *
 * Figures are per-thread CPU time (CLOCK_THREAD_CPUTIME_ID), best of R repetitions, so that other
 * load on the machine shows less. Every value vg_num_parse reads is also checked against strtod;
 * a difference is printed and makes the exit status 1. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vg_fleetgen.h"
#include "vg_numparse.h"
#include "vg_util.h"
#include "vg_wire.h"

struct msgs {
    char **buf;
    size_t *len;
    size_t n, cap;
    size_t samples;
};

/* Written by the timed loops so that they are not optimised away; a global, since clang
 * warns about a local that is only ever written. */
static volatile double g_sink;

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int push(struct msgs *m, char *buf, size_t len)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        char **b = realloc(m->buf, cap * sizeof(*b));
        if (!b)
            return -ENOMEM;
        m->buf = b;
        size_t *l = realloc(m->len, cap * sizeof(*l));
        if (!l)
            return -ENOMEM;
        m->len = l;
        m->cap = cap;
    }
    m->buf[m->n] = buf;
    m->len[m->n++] = len;
    return 0;
}

/* One tick of each of hosts hosts, from vigil-loadgen's simulated fleet (vg_fleetgen.h). */
static int synthesize(struct msgs *out, unsigned hosts, unsigned metrics, uint64_t seed)
{
    struct vg_fleetgen g = {.hosts = hosts, .metrics = metrics, .day = 86400};
    struct vg_wire_msg m;
    char err[VG_ERRLEN] = "out of memory";
    vg_wire_msg_init(&m);
    int rc = vg_fleetgen_init(&g, seed);
    for (unsigned h = 0; h < hosts && !rc; h++) {
        rc = vg_fleetgen_fill(&g, &m, h, 1000, err, sizeof(err));
        snprintf(m.host, sizeof(m.host), "host-%05u", h);
        snprintf(m.boot, sizeof(m.boot), "bench-1");
        m.seq = 1000000000ull + h;
        m.ts_ms = 1763900000000ll + h;
        m.interval_ms = 1000;
        if (!rc)
            rc = vg_wire_msg_add_label(&m, "group", "web", err, sizeof(err));
        char *buf;
        size_t len;
        if (!rc)
            rc = vg_wire_encode(&m, &buf, &len, err, sizeof(err));
        if (!rc)
            rc = push(out, buf, len);
        out->samples += metrics;
    }
    if (rc)
        fprintf(stderr, "wire-decode: building messages: %s\n", err);
    vg_fleetgen_free(&g);
    vg_wire_msg_free(&m);
    return rc;
}

static int read_file(struct msgs *out, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "wire-decode: %s: %s\n", path, strerror(errno));
        return -errno;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    struct vg_wire_msg m;
    char err[VG_ERRLEN];
    vg_wire_msg_init(&m);
    int rc = 0;
    while (!rc && (n = getline(&line, &cap, f)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0)
            continue;
        if (vg_wire_decode(line, (size_t)n, 0, &m, err, sizeof(err))) {
            fprintf(stderr, "wire-decode: %s: skipping a message: %s\n", path, err);
            continue;
        }
        char *copy = malloc((size_t)n);
        if (!copy) {
            rc = -ENOMEM;
            break;
        }
        memcpy(copy, line, (size_t)n);
        out->samples += m.n_metrics;
        rc = push(out, copy, (size_t)n);
    }
    free(line);
    fclose(f);
    vg_wire_msg_free(&m);
    return rc;
}

/* The metric values' tokens of every message, each NUL-terminated for strtod. */
struct tokens {
    char **s;
    size_t *len;
    size_t n;
};

static const char *skip_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at a '"': just past the closing one, or NULL. */
static const char *skip_string(const char *p, const char *e)
{
    for (p++; p < e; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* Past one JSON value (any kind, nested ones whole), or NULL. */
static const char *skip_value(const char *p, const char *e)
{
    int depth = 0;
    while (p < e) {
        if (*p == '"') {
            if (!(p = skip_string(p, e)))
                return NULL;
        } else if (*p == '{' || *p == '[') {
            depth++;
            p++;
        } else if (*p == '}' || *p == ']') {
            if (depth == 0)
                return p;
            depth--;
            p++;
        } else if (*p == ',' && depth == 0) {
            return p;
        } else {
            p++;
        }
        if (depth == 0 && p < e && (*p == ',' || *p == '}' || *p == ']'))
            return p;
    }
    return depth ? NULL : p;
}

/* The tokens of the "metrics" object's number values of one message as written, found by
 * walking the JSON (a key may hold ':', whitespace may follow any separator). Returns how many
 * it added, or -ENOMEM. */
static long message_tokens(const char *b, const char *e, struct tokens *t, size_t cap)
{
    long added = 0;
    const char *p = skip_ws(b, e);
    if (p >= e || *p++ != '{')
        return 0;
    while ((p = skip_ws(p, e)) < e && *p == '"') {
        const char *k = p + 1, *ke = skip_string(p, e);
        if (!ke)
            return added;
        int is_metrics = ke - k == 8 && memcmp(k, "metrics\"", 8) == 0;
        p = skip_ws(ke, e);
        if (p >= e || *p++ != ':')
            return added;
        p = skip_ws(p, e);
        if (is_metrics && p < e && *p == '{') {
            for (p++; (p = skip_ws(p, e)) < e && *p == '"';) {
                if (!(p = skip_string(p, e)))
                    return added;
                p = skip_ws(p, e);
                if (p >= e || *p++ != ':')
                    return added;
                const char *s = p = skip_ws(p, e);
                while (p < e && *p != ',' && *p != '}' && *p != ' ' && *p != '\t' && *p != '\n' &&
                       *p != '\r')
                    p++;
                size_t len = (size_t)(p - s);
                if (len && *s != '"' && t->n < cap) {
                    char *c = malloc(len + 1);
                    if (!c)
                        return -ENOMEM;
                    memcpy(c, s, len);
                    c[len] = '\0';
                    t->s[t->n] = c;
                    t->len[t->n++] = len;
                    added++;
                }
                p = skip_ws(p, e);
                if (p < e && *p == ',')
                    p++;
            }
            if (p < e && *p == '}')
                p++;
        } else if (!(p = skip_value(p, e))) {
            return added;
        }
        p = skip_ws(p, e);
        if (p < e && *p == ',')
            p++;
    }
    return added;
}

/* Every message's tokens; a message whose token count is not its decoded number of metrics is
 * counted in *mismatched (the figures would not be of what the decoder read). */
static int collect_tokens(const struct msgs *in, struct tokens *t, size_t *mismatched)
{
    size_t cap = in->samples + 1;
    t->s = calloc(cap, sizeof(*t->s));
    t->len = calloc(cap, sizeof(*t->len));
    if (!t->s || !t->len)
        return -ENOMEM;
    struct vg_wire_msg m;
    char err[VG_ERRLEN];
    vg_wire_msg_init(&m);
    for (size_t i = 0; i < in->n; i++) {
        long got = message_tokens(in->buf[i], in->buf[i] + in->len[i], t, cap);
        if (got < 0) {
            vg_wire_msg_free(&m);
            return -ENOMEM;
        }
        if (vg_wire_decode(in->buf[i], in->len[i], 0, &m, err, sizeof(err)) ||
            (size_t)got != m.n_metrics)
            (*mismatched)++;
    }
    vg_wire_msg_free(&m);
    return 0;
}

int main(int argc, char **argv)
{
    unsigned hosts = 1000, metrics = 128, reps = 5;
    uint64_t seed = 88172645463325252ull;
    const char *file = NULL;
    static const struct option opts[] = {
        {"hosts", required_argument, NULL, 'h'}, {"metrics", required_argument, NULL, 'm'},
        {"reps", required_argument, NULL, 'r'},  {"seed", required_argument, NULL, 's'},
        {"file", required_argument, NULL, 'f'},  {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            hosts = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'm':
            metrics = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'r':
            reps = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 's':
            seed = strtoull(optarg, NULL, 10) | 1;
            break;
        case 'f':
            file = optarg;
            break;
        default:
            fprintf(stderr, "usage: wire-decode [--hosts N] [--metrics M] [--reps R] [--seed S] "
                            "[--file MESSAGES]\n");
            return 2;
        }
    }
    if (!hosts || !metrics || !reps) {
        fprintf(stderr, "wire-decode: --hosts, --metrics and --reps must be positive\n");
        return 2;
    }

    struct msgs in = {0};
    if ((file ? read_file(&in, file) : synthesize(&in, hosts, metrics, seed)) || in.n == 0) {
        fprintf(stderr, "wire-decode: no messages\n");
        return 1;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < in.n; i++)
        bytes += in.len[i];
    struct tokens tk = {0};
    size_t wrong = 0;
    if (collect_tokens(&in, &tk, &wrong)) {
        fprintf(stderr, "wire-decode: out of memory\n");
        return 1;
    }
    if (wrong)
        fprintf(stderr, "wire-decode: %zu messages whose values were not all found\n", wrong);

    /* Numbers: the same tokens through both parsers. */
    for (size_t i = 0; i < tk.n; i++) {
        struct vg_num n;
        const char *stop;
        double want = strtod(tk.s[i], NULL);
        if (vg_num_parse(tk.s[i], tk.s[i] + tk.len[i], &n, &stop) ||
            memcmp(&n.d, &want, sizeof(want)) != 0) {
            if (wrong++ < 5)
                fprintf(stderr, "wire-decode: '%s': vg_num %.17g, strtod %.17g\n", tk.s[i], n.d,
                        want);
        }
    }
    double best_num = INFINITY, best_strtod = INFINITY;
    for (unsigned r = 0; r < reps; r++) {
        double t0 = cpu_s();
        for (size_t i = 0; i < tk.n; i++) {
            struct vg_num n;
            const char *stop;
            vg_num_parse(tk.s[i], tk.s[i] + tk.len[i], &n, &stop);
            g_sink += n.d;
        }
        double t1 = cpu_s();
        for (size_t i = 0; i < tk.n; i++)
            g_sink += strtod(tk.s[i], NULL);
        double t2 = cpu_s();
        best_num = fmin(best_num, t1 - t0);
        best_strtod = fmin(best_strtod, t2 - t1);
    }

    /* Whole messages: the decoder the analyzer runs, and the jansson path it falls back to. */
    struct vg_wire_msg m;
    vg_wire_msg_init(&m);
    char err[VG_ERRLEN];
    double best_fast = INFINITY, best_ref = INFINITY;
    for (unsigned r = 0; r < reps; r++) {
        double t0 = cpu_s();
        for (size_t i = 0; i < in.n; i++)
            if (vg_wire_decode(in.buf[i], in.len[i], 0, &m, err, sizeof(err)))
                wrong++;
        double t1 = cpu_s();
        for (size_t i = 0; i < in.n; i++)
            if (vg_wire_decode_reference(in.buf[i], in.len[i], 0, &m, err, sizeof(err)))
                wrong++;
        double t2 = cpu_s();
        best_fast = fmin(best_fast, t1 - t0);
        best_ref = fmin(best_ref, t2 - t1);
    }
    vg_wire_msg_free(&m);

    /* No token, no per-number figure: it would be 0 / 0. */
    if (tk.n == 0) {
        printf("numbers: no metric value in the messages: no per-number figures\n");
    } else {
        printf("numbers: %zu metric values as %s, best of %u, CPU time\n", tk.n,
               file ? "written in the file" : "encoded (%.17g)", reps);
        printf("  vg_num_parse  %7.1f ns/number\n", best_num / (double)tk.n * 1e9);
        printf("  strtod        %7.1f ns/number  (%.1fx vg_num_parse)\n",
               best_strtod / (double)tk.n * 1e9, best_strtod / best_num);
    }
    printf("wire decode: %zu messages, %zu samples, %.0f bytes a message, best of %u, CPU time\n",
           in.n, in.samples, (double)bytes / (double)in.n, reps);
    printf("  vg_wire_decode            %6.3f us/sample  %7.1f us/message\n",
           best_fast / (double)in.samples * 1e6, best_fast / (double)in.n * 1e6);
    printf("  vg_wire_decode_reference  %6.3f us/sample  %7.1f us/message  (jansson path)\n",
           best_ref / (double)in.samples * 1e6, best_ref / (double)in.n * 1e6);
    if (wrong)
        printf("ERRORS: %zu values or messages differ or failed to decode\n", wrong);
    for (size_t i = 0; i < tk.n; i++)
        free(tk.s[i]);
    free(tk.s);
    free(tk.len);
    for (size_t i = 0; i < in.n; i++)
        free(in.buf[i]);
    free(in.buf);
    free(in.len);
    return wrong ? 1 : 0;
}
