#include "ctl_input.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "vg_util.h"

#define MAX_BAD_REPORTED 20

/* The end of year 9999 in Unix ms: later times are not times a recording holds, and their ms would
 * not fit the arithmetic below. */
#define MAX_MS 253402300799999.0

int vg_ctl_parse_time(const char *s, int64_t *ms)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end;
    double d = strtod(s, &end);
    if (end != s && (*end == '\0' || isspace((unsigned char)*end))) {
        if (!isfinite(d) || d < 0 || d > MAX_MS)
            return -EINVAL;
        *ms = d > 1e11 ? (int64_t)d : (int64_t)llround(d * 1000.0);
        return 0;
    }
    /* The shared parser takes the whole string: trailing blanks of a cell are cut here. */
    char buf[128];
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    int64_t t;
    if (vg_parse_rfc3339_ms(buf, VG_RFC3339_LENIENT, &t) < 0 || t < 0 || t > (int64_t)MAX_MS)
        return -EINVAL;
    *ms = t;
    return 0;
}

static void bad_line(struct vg_ctl_input *in, const char *why)
{
    FILE *out = in->report ? in->report : stderr;
    if (in->bad++ < MAX_BAD_REPORTED)
        fprintf(out, "%s:%llu: skipped: %s\n", in->path, (unsigned long long)in->line_no, why);
    else if (in->bad == MAX_BAD_REPORTED + 1)
        fprintf(out, "%s: more bad lines are only counted\n", in->path);
}

/* Reads the next line that is not blank or a comment; strips the newline. 0 at the end. */
static int read_line(struct vg_ctl_input *in)
{
    if (in->pending) {
        in->pending = 0;
        return 1;
    }
    ssize_t n;
    while ((n = getline(&in->line, &in->cap, in->f)) >= 0) {
        in->line_no++;
        while (n && (in->line[n - 1] == '\n' || in->line[n - 1] == '\r'))
            in->line[--n] = '\0';
        const char *p = in->line;
        while (isspace((unsigned char)*p))
            p++;
        if (*p && *p != '#')
            return 1;
    }
    return 0;
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    size_t k = 0;
    while (isspace((unsigned char)s[k]))
        k++;
    memmove(s, s + k, n - k + 1);
}

static int read_header(struct vg_ctl_input *in, char *err, size_t errlen)
{
    size_t cap = 8;
    in->cols = calloc(cap, sizeof(char *));
    if (!in->cols)
        return -ENOMEM;
    /* Split as the rows are (next_csv): strtok_r would collapse an empty cell or a trailing
     * comma, and every row would then be one cell longer than the header. */
    for (char *tok = in->line, *next; tok; tok = next) {
        char *comma = strchr(tok, ',');
        next = comma ? comma + 1 : NULL;
        if (comma)
            *comma = '\0';
        if (in->n_cols == cap) {
            char **nc = realloc(in->cols, cap * 2 * sizeof(char *));
            if (!nc)
                return -ENOMEM;
            in->cols = nc;
            cap *= 2;
        }
        trim(tok);
        if (!*tok)
            return vg_err(err, errlen, -EINVAL,
                          "%s:%llu: column %zu has no name: every column of the header needs "
                          "one (a trailing comma adds an empty column)",
                          in->path, (unsigned long long)in->line_no, in->n_cols + 1);
        if (in->n_cols && vg_wire_name_valid(tok) != 0)
            return vg_err(err, errlen, -EINVAL,
                          "%s:%llu: column '%s' is not a metric name ([A-Za-z_] then "
                          "[A-Za-z0-9_.:-])",
                          in->path, (unsigned long long)in->line_no, tok);
        /* Refused here, once, rather than every row (vg_wire_msg_add_metric) or every value
         * (the engine): the file's author can rename the column. */
        if (in->n_cols && vg_wire_name_reserved(tok))
            return vg_err(err, errlen, -EINVAL,
                          "%s:%llu: column '%s' is a reserved name: names starting with "
                          "'" VG_WIRE_RESERVED_PREFIX "' are host models' scores to rules "
                          "(value(\"" VG_WIRE_RESERVED_PREFIX "NAME\")); rename the column",
                          in->path, (unsigned long long)in->line_no, tok);
        /* Two columns of one name would be one series fed both, interleaved (a wire message
         * with a repeated key is refused too). */
        for (size_t k = 1; in->n_cols && k < in->n_cols; k++)
            if (strcmp(in->cols[k], tok) == 0)
                return vg_err(err, errlen, -EINVAL, "%s:%llu: column %zu '%s' repeats column %zu",
                              in->path, (unsigned long long)in->line_no, in->n_cols + 1, tok,
                              k + 1);
        if (!(in->cols[in->n_cols++] = strdup(tok)))
            return -ENOMEM;
    }
    if (in->n_cols < 2)
        return vg_err(err, errlen, -EINVAL,
                      "%s:%llu: a CSV needs a header 'timestamp,metric1,...' with at least one "
                      "metric",
                      in->path, (unsigned long long)in->line_no);
    return 0;
}

int vg_ctl_input_open(struct vg_ctl_input *in, const char *path, const char *host, char *err,
                      size_t errlen)
{
    memset(in, 0, sizeof(*in));
    in->path = path;
    in->host = host ? host : "csv";
    if (vg_wire_host_valid(in->host) != 0)
        return vg_err(err, errlen, -EINVAL, "host '%s': only letters, digits, '.', '_' and '-'",
                      in->host);
    in->f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!in->f)
        return vg_err(err, errlen, -errno, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(in->f), &st) == 0 && S_ISDIR(st.st_mode))
        return vg_err(err, errlen, -EISDIR,
                      "%s: a directory: name a file of wire messages or a CSV (or - for stdin)",
                      path);
    if (fstat(fileno(in->f), &st) == 0 && S_ISREG(st.st_mode))
        in->size = (long long)st.st_size;
    if (!read_line(in))
        return vg_err(err, errlen, -EINVAL, "%s: empty: no messages and no CSV header", path);
    const char *p = in->line;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '{') {
        in->pending = 1; /* the first message is already in in->line */
        return 0;
    }
    in->csv = 1;
    return read_header(in, err, errlen);
}

static int next_json(struct vg_ctl_input *in, struct vg_wire_msg *m)
{
    char err[VG_ERRLEN];
    while (read_line(in)) {
        const char *buf = in->line;
        size_t len = strlen(buf);
        json_t *env = NULL;
        /* kcat -J wraps each message: {"topic":...,"payload":"..."}. */
        if (strstr(buf, "\"payload\"") && strstr(buf, "\"topic\"")) {
            env = json_loads(buf, 0, NULL);
            const char *pl = json_string_value(json_object_get(env, "payload"));
            if (pl) {
                buf = pl;
                len = strlen(pl);
            }
        }
        int rc = vg_wire_decode(buf, len, 0, m, err, sizeof(err));
        json_decref(env);
        if (rc == 0)
            return 1;
        bad_line(in, err);
    }
    return 0;
}

static int next_csv(struct vg_ctl_input *in, struct vg_wire_msg *m)
{
    char err[VG_ERRLEN];
    while (read_line(in)) {
        vg_wire_msg_reset(m);
        snprintf(m->host, sizeof(m->host), "%s", in->host);
        snprintf(m->boot, sizeof(m->boot), "replay");
        char *p = in->line;
        size_t col = 0;
        int ok = 1;
        while (ok) {
            char *comma = strchr(p, ',');
            if (comma)
                *comma = '\0';
            if (col == 0) {
                if (vg_ctl_parse_time(p, &m->ts_ms) < 0) {
                    snprintf(err, sizeof(err), "timestamp '%s' is not Unix time or RFC 3339", p);
                    ok = 0;
                }
            } else if (col >= in->n_cols) {
                snprintf(err, sizeof(err), "more cells than the header's %zu columns", in->n_cols);
                ok = 0;
            } else {
                trim(p);
                if (*p) {
                    char *end;
                    double v = strtod(p, &end);
                    if (*end || !isfinite(v)) {
                        snprintf(err, sizeof(err), "column %s: '%s' is not a number", in->cols[col],
                                 p);
                        ok = 0;
                    } else if (vg_wire_msg_add_metric(m, in->cols[col], v, err, sizeof(err)) < 0) {
                        ok = 0;
                    }
                }
            }
            col++;
            if (!comma)
                break;
            p = comma + 1;
        }
        /* A short row is as likely a cut or misaligned line as a long one: its cells could
         * belong to other columns than the header says, so it is not scored with the rest
         * missing. A missing value is an empty cell ("3,,5"), which keeps the count. */
        if (ok && col < in->n_cols) {
            snprintf(err, sizeof(err), "fewer cells than the header's %zu columns", in->n_cols);
            ok = 0;
        }
        if (!ok) {
            bad_line(in, err);
            continue;
        }
        m->seq = ++in->seq;
        /* A CSV states no interval: the typical step between its rows stands in for the
         * agent's (vg_ctl_step_next). A gap does not lengthen it, so the engine still tells a
         * gap from a tick, and rows further apart than alert.stale_after (hourly data) are not
         * each taken for one, which would restart every alert's `for` at every row. */
        m->interval_ms = vg_ctl_step_next(&in->step, m->ts_ms);
        return 1;
    }
    return 0;
}

int64_t vg_ctl_step_next(struct vg_ctl_step *s, int64_t ts_ms)
{
    int64_t step = s->prev_ts_ms ? ts_ms - s->prev_ts_ms : 0;
    s->prev_ts_ms = ts_ms;
    if (step > 0) {
        s->ring[s->pos] = step;
        s->pos = (s->pos + 1) % VG_CTL_STEP_WINDOW;
        if (s->n < VG_CTL_STEP_WINDOW)
            s->n++;
    }
    if (!s->n)
        return 0;
    /* A copy sorted by insertion: 31 values per row cost nothing beside parsing the row. */
    int64_t v[VG_CTL_STEP_WINDOW];
    for (size_t i = 0; i < s->n; i++) {
        size_t j = i;
        for (; j > 0 && v[j - 1] > s->ring[i]; j--)
            v[j] = v[j - 1];
        v[j] = s->ring[i];
    }
    return v[s->n / 2];
}

int vg_ctl_input_next(struct vg_ctl_input *in, struct vg_wire_msg *m)
{
    return in->csv ? next_csv(in, m) : next_json(in, m);
}

long long vg_ctl_input_pos(const struct vg_ctl_input *in)
{
    long p = in->f ? ftell(in->f) : -1;
    return p < 0 ? 0 : (long long)p;
}

void vg_ctl_input_close(struct vg_ctl_input *in)
{
    if (in->f && in->f != stdin)
        fclose(in->f);
    for (size_t i = 0; i < in->n_cols; i++)
        free(in->cols[i]);
    free(in->cols);
    free(in->line);
    memset(in, 0, sizeof(*in));
}
