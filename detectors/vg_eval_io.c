#include "vg_eval_io.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_util.h"

int vg_eval_slurp(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return vg_err(err, errlen, -errno, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    if (!b) {
        fclose(f);
        return vg_err(err, errlen, -ENOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (cap - n < 4096) {
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                fclose(f);
                return vg_err(err, errlen, -ENOMEM, "%s: out of memory", path);
            }
            b = nb;
            cap *= 2;
        }
        size_t got = fread(b + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return vg_err(err, errlen, -EIO, "%s: read error", path);
    }
    b[n] = 0;
    *buf = b;
    *len = n;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's civil algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, size_t n, int *v)
{
    int x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 0;
}

int vg_eval_parse_time(const char *s, size_t len, int64_t *us)
{
    int Y, M, D, h, m, sec;
    if (len < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' ||
        s[16] != ':')
        return -EINVAL;
    if (digits(s, 4, &Y) || digits(s + 5, 2, &M) || digits(s + 8, 2, &D) || digits(s + 11, 2, &h) ||
        digits(s + 14, 2, &m) || digits(s + 17, 2, &sec))
        return -EINVAL;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return -EINVAL;
    int64_t frac = 0;
    size_t i = 19;
    if (i < len && s[i] == '.') {
        i++;
        int64_t scale = 100000;
        size_t start = i;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            frac += (s[i] - '0') * scale;
            scale /= 10;
        }
        if (i == start)
            return -EINVAL;
    }
    if (i != len)
        return -EINVAL;
    int64_t days = days_from_civil(Y, (unsigned)M, (unsigned)D);
    *us = ((days * 86400 + h * 3600 + m * 60 + sec) * 1000000) + frac;
    return 0;
}

void vg_eval_series_free(struct vg_eval_series *s)
{
    if (s->ts_text)
        for (size_t i = 0; i < s->n; i++)
            free(s->ts_text[i]);
    free(s->ts_text);
    free(s->val_text);
    free(s->ts_us);
    free(s->value);
    memset(s, 0, sizeof(*s));
}

/* One line [b, e) without its CR. */
static void trim_cr(const char *b, const char **e)
{
    while (*e > b && ((*e)[-1] == '\r'))
        (*e)--;
}

static int parse_double(const char *b, const char *e, double *v)
{
    char tmp[64];
    size_t n = (size_t)(e - b);
    while (n && (*b == ' ' || *b == '\t')) {
        b++;
        n--;
    }
    while (n && (b[n - 1] == ' ' || b[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof(tmp))
        return -EINVAL;
    memcpy(tmp, b, n);
    tmp[n] = 0;
    char *end;
    errno = 0;
    double x = strtod(tmp, &end);
    if (*end || errno == ERANGE || !isfinite(x))
        return -EINVAL;
    *v = x;
    return 0;
}

int vg_eval_series_parse(const char *buf, size_t len, const char *origin,
                         struct vg_eval_series *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    size_t cap = 0, line = 0;
    const char *p = buf, *end = buf + len;
    int rc = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *b = p;
        p = nl ? nl + 1 : end;
        line++;
        trim_cr(b, &le);
        if (line == 1) {
            /* The header names the columns; anything else means this is not a NAB file. */
            if ((size_t)(le - b) < 15 || strncmp(b, "timestamp,value", 15) != 0) {
                rc =
                    vg_err(err, errlen, -EINVAL, "%s:1: expected header 'timestamp,value'", origin);
                goto fail;
            }
            continue;
        }
        if (le == b)
            continue; /* blank line (e.g. a trailing one) */
        const char *comma = memchr(b, ',', (size_t)(le - b));
        if (!comma) {
            rc = vg_err(err, errlen, -EINVAL, "%s:%zu: expected 'timestamp,value'", origin, line);
            goto fail;
        }
        int64_t us;
        double v;
        if (vg_eval_parse_time(b, (size_t)(comma - b), &us) != 0) {
            rc = vg_err(err, errlen, -EINVAL, "%s:%zu: bad timestamp '%.*s'", origin, line,
                        (int)((comma - b) > 40 ? 40 : (comma - b)), b);
            goto fail;
        }
        if (parse_double(comma + 1, le, &v) != 0) {
            rc = vg_err(err, errlen, -EINVAL, "%s:%zu: bad value '%.*s'", origin, line,
                        (int)((le - comma - 1) > 40 ? 40 : (le - comma - 1)), comma + 1);
            goto fail;
        }
        if (out->n == cap) {
            size_t nc = cap ? cap * 2 : 1024;
            int64_t *t = realloc(out->ts_us, nc * sizeof(*t));
            if (t)
                out->ts_us = t;
            double *vv = realloc(out->value, nc * sizeof(*vv));
            if (vv)
                out->value = vv;
            char **tt = realloc(out->ts_text, nc * sizeof(*tt));
            if (tt)
                out->ts_text = tt;
            char **vt = realloc(out->val_text, nc * sizeof(*vt));
            if (vt)
                out->val_text = vt;
            if (!t || !vv || !tt || !vt) {
                rc = vg_err(err, errlen, -ENOMEM, "%s: out of memory", origin);
                goto fail;
            }
            cap = nc;
        }
        /* One allocation holds both texts; val_text points into it. */
        size_t tl = (size_t)(comma - b), vl = (size_t)(le - comma - 1);
        char *txt = malloc(tl + vl + 2);
        if (!txt) {
            rc = vg_err(err, errlen, -ENOMEM, "%s: out of memory", origin);
            goto fail;
        }
        memcpy(txt, b, tl);
        txt[tl] = 0;
        memcpy(txt + tl + 1, comma + 1, vl);
        txt[tl + 1 + vl] = 0;
        out->ts_us[out->n] = us;
        out->value[out->n] = v;
        out->ts_text[out->n] = txt;
        out->val_text[out->n] = txt + tl + 1;
        out->n++;
    }
    if (line == 0) {
        rc = vg_err(err, errlen, -EINVAL, "%s: empty file", origin);
        goto fail;
    }
    return 0;
fail:
    vg_eval_series_free(out);
    return rc;
}

int vg_eval_series_read(const char *path, struct vg_eval_series *out, char *err, size_t errlen)
{
    char *buf;
    size_t len;
    memset(out, 0, sizeof(*out));
    int rc = vg_eval_slurp(path, &buf, &len, err, errlen);
    if (rc)
        return rc;
    rc = vg_eval_series_parse(buf, len, path, out, err, errlen);
    free(buf);
    return rc;
}

int vg_eval_nab_windows(const char *json_path, const char *key, struct vg_eval_window **out,
                        size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    /* Opened here: jansson's own open failure reads "PATH:-1: unable to open PATH: ...", a
     * line that is not one. */
    FILE *f = fopen(json_path, "rb");
    if (!f)
        return vg_err(err, errlen, -errno, "%s: %s", json_path, strerror(errno));
    json_error_t je;
    json_t *root = json_loadf(f, 0, &je);
    fclose(f);
    if (!root && je.line < 1)
        return vg_err(err, errlen, -EINVAL, "%s: %s", json_path, je.text);
    if (!root)
        return vg_err(err, errlen, -EINVAL, "%s:%d: %s", json_path, je.line, je.text);
    int rc = 0;
    json_t *arr = json_is_object(root) ? json_object_get(root, key) : NULL;
    if (!json_is_object(root)) {
        rc = vg_err(err, errlen, -EINVAL, "%s: expected an object", json_path);
        goto out;
    }
    if (!arr) {
        rc = vg_err(err, errlen, -ENOENT, "%s: no windows for '%s'", json_path, key);
        goto out;
    }
    if (!json_is_array(arr)) {
        rc = vg_err(err, errlen, -EINVAL, "%s: '%s' is not a list", json_path, key);
        goto out;
    }
    size_t k = json_array_size(arr);
    if (k == 0)
        goto out;
    struct vg_eval_window *w = calloc(k, sizeof(*w));
    if (!w) {
        rc = vg_err(err, errlen, -ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < k; i++) {
        json_t *pair = json_array_get(arr, i);
        json_t *a = json_array_get(pair, 0), *b = json_array_get(pair, 1);
        if (!json_is_array(pair) || json_array_size(pair) != 2 || !json_is_string(a) ||
            !json_is_string(b) ||
            vg_eval_parse_time(json_string_value(a), json_string_length(a), &w[i].start_us) ||
            vg_eval_parse_time(json_string_value(b), json_string_length(b), &w[i].end_us)) {
            free(w);
            rc = vg_err(err, errlen, -EINVAL, "%s: '%s' window %zu: expected [start, end] times",
                        json_path, key, i);
            goto out;
        }
    }
    *out = w;
    *n = k;
out:
    json_decref(root);
    return rc;
}

int vg_eval_matrix_parse(const char *buf, size_t len, const char *origin, double **data,
                         size_t *rows, size_t *cols, char *err, size_t errlen)
{
    *data = NULL;
    *rows = *cols = 0;
    size_t cap = 0, n = 0, nc = 0, line = 0;
    double *d = NULL;
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *b = p;
        p = nl ? nl + 1 : end;
        line++;
        trim_cr(b, &le);
        if (le == b)
            continue;
        size_t c = 0;
        const char *f = b;
        for (;;) {
            const char *comma = memchr(f, ',', (size_t)(le - f));
            const char *fe = comma ? comma : le;
            double v;
            if (parse_double(f, fe, &v) != 0) {
                free(d);
                return vg_err(err, errlen, -EINVAL, "%s:%zu: field %zu is not a number", origin,
                              line, c + 1);
            }
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 4096;
                double *nd = realloc(d, ncap * sizeof(*d));
                if (!nd) {
                    free(d);
                    return vg_err(err, errlen, -ENOMEM, "%s: out of memory", origin);
                }
                d = nd;
                cap = ncap;
            }
            d[n++] = v;
            c++;
            if (!comma)
                break;
            f = comma + 1;
        }
        if (nc == 0)
            nc = c;
        else if (c != nc) {
            free(d);
            return vg_err(err, errlen, -EINVAL, "%s:%zu: %zu fields, expected %zu", origin, line, c,
                          nc);
        }
    }
    if (n == 0) {
        free(d);
        return vg_err(err, errlen, -EINVAL, "%s: no data", origin);
    }
    *data = d;
    *cols = nc;
    *rows = n / nc;
    return 0;
}

int vg_eval_matrix_read(const char *path, double **data, size_t *rows, size_t *cols, char *err,
                        size_t errlen)
{
    char *buf;
    size_t len;
    *data = NULL;
    int rc = vg_eval_slurp(path, &buf, &len, err, errlen);
    if (rc)
        return rc;
    rc = vg_eval_matrix_parse(buf, len, path, data, rows, cols, err, errlen);
    free(buf);
    return rc;
}

int vg_eval_labels_read(const char *path, uint8_t **labels, size_t *n, char *err, size_t errlen)
{
    double *d;
    size_t rows, cols;
    *labels = NULL;
    int rc = vg_eval_matrix_read(path, &d, &rows, &cols, err, errlen);
    if (rc)
        return rc;
    if (cols != 1) {
        free(d);
        return vg_err(err, errlen, -EINVAL, "%s: expected one label per line", path);
    }
    uint8_t *l = malloc(rows);
    if (!l) {
        free(d);
        return vg_err(err, errlen, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < rows; i++) {
        if (d[i] != 0 && d[i] != 1) {
            free(d);
            free(l);
            return vg_err(err, errlen, -EINVAL, "%s:%zu: label must be 0 or 1", path, i + 1);
        }
        l[i] = (uint8_t)d[i];
    }
    free(d);
    *labels = l;
    *n = rows;
    return 0;
}

static int parse_size(const char **p, const char *e, size_t *v)
{
    size_t x = 0;
    const char *s = *p;
    while (*p < e && **p >= '0' && **p <= '9') {
        if (x > (SIZE_MAX - 9) / 10)
            return -1;
        x = x * 10 + (size_t)(**p - '0');
        (*p)++;
    }
    if (*p == s)
        return -1;
    *v = x;
    return 0;
}

int vg_eval_interp_parse(const char *buf, size_t len, const char *origin, size_t n_rows,
                         uint64_t **masks, char *err, size_t errlen)
{
    *masks = calloc(n_rows ? n_rows : 1, sizeof(uint64_t));
    if (!*masks)
        return vg_err(err, errlen, -ENOMEM, "out of memory");
    const char *p = buf, *end = buf + len;
    size_t line = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *b = p;
        p = nl ? nl + 1 : end;
        line++;
        trim_cr(b, &le);
        if (le == b)
            continue;
        size_t s, e2, dim;
        uint64_t m = 0;
        const char *q = b;
        if (parse_size(&q, le, &s) || q >= le || *q++ != '-' || parse_size(&q, le, &e2) ||
            q >= le || *q++ != ':')
            goto bad;
        if (e2 < s || e2 > n_rows) {
            free(*masks);
            *masks = NULL;
            return vg_err(err, errlen, -EINVAL, "%s:%zu: rows %zu-%zu outside 0-%zu", origin, line,
                          s, e2, n_rows);
        }
        for (;;) {
            if (parse_size(&q, le, &dim))
                goto bad;
            if (dim < 1 || dim > 64) {
                free(*masks);
                *masks = NULL;
                return vg_err(err, errlen, -EINVAL, "%s:%zu: dimension %zu outside 1-64", origin,
                              line, dim);
            }
            m |= 1ull << (dim - 1);
            if (q == le)
                break;
            if (*q++ != ',')
                goto bad;
        }
        for (size_t r = s; r < e2; r++)
            (*masks)[r] |= m;
        continue;
    bad:
        free(*masks);
        *masks = NULL;
        return vg_err(err, errlen, -EINVAL, "%s:%zu: expected 'start-end:d1,d2,...'", origin, line);
    }
    return 0;
}

int vg_eval_interp_read(const char *path, size_t n_rows, uint64_t **masks, char *err, size_t errlen)
{
    char *buf;
    size_t len;
    *masks = NULL;
    int rc = vg_eval_slurp(path, &buf, &len, err, errlen);
    if (rc)
        return rc;
    rc = vg_eval_interp_parse(buf, len, path, n_rows, masks, err, errlen);
    free(buf);
    return rc;
}
