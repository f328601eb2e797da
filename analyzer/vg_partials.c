#include "vg_partials.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_strmap.h"
#include "vg_util.h"

/* One target's partials, one per member: a handful (the analyzers of one group). */
struct list {
    struct vg_partial *v;
    size_t n, cap;
};

struct vg_partials {
    struct vg_strmap targets; /* target -> struct list */
};

char *vg_partial_json(const char *target, const struct vg_partial *p)
{
    json_t *parts = json_array();
    for (size_t i = 0; parts && i < p->n_parts; i++)
        json_array_append_new(parts, json_integer(p->parts[i]));
    json_t *o = json_pack("{s:s,s:s,s:I,s:f,s:I,s:I,s:I,s:I,s:o}", "target", target, "member",
                          p->member, "time_ms", (json_int_t)p->time_ms, "sum", p->agg.sum,
                          "n_values", (json_int_t)p->agg.n_values, "n_true",
                          (json_int_t)p->agg.n_true, "n_false", (json_int_t)p->agg.n_false,
                          "n_alerting", (json_int_t)p->agg.n_alerting, "partitions", parts);
    if (!o)
        return NULL;
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(o);
    return s;
}

int vg_time_cap(int64_t *t, int64_t wall_ms)
{
    if (*t <= wall_ms + VG_CLOCK_TOLERANCE_MS)
        return 0;
    *t = wall_ms + VG_CLOCK_TOLERANCE_MS;
    return 1;
}

size_t vg_partial_keep_below(struct vg_partial *p, int32_t n)
{
    if (n <= 0)
        return p->n_parts;
    size_t k = 0;
    for (size_t i = 0; i < p->n_parts; i++)
        if (p->parts[i] < n)
            p->parts[k++] = p->parts[i];
    p->n_parts = k;
    return k;
}

void vg_partial_clear(struct vg_partial *p)
{
    free(p->parts);
    p->parts = NULL;
    p->n_parts = 0;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Ascending without duplicates, as the merge's overlap test wants. */
static void normalise(struct vg_partial *p)
{
    if (!p->n_parts)
        return;
    qsort(p->parts, p->n_parts, sizeof(*p->parts), cmp_i32);
    size_t k = 0;
    for (size_t i = 0; i < p->n_parts; i++)
        if (!k || p->parts[k - 1] != p->parts[i])
            p->parts[k++] = p->parts[i];
    p->n_parts = k;
}

static int count_field(json_t *o, const char *k, uint64_t *out)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t)json_integer_value(v) > VG_PARTIAL_COUNT_MAX)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

int vg_partial_parse(const void *key, size_t key_len, const void *payload, size_t len, char *target,
                     size_t tlen, struct vg_partial *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    json_error_t je;
    json_t *o = payload ? json_loadb(payload, len, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (!o)
        return vg_err(err, errlen, -EINVAL, "not JSON: %s", payload ? je.text : "no value");
    const char *name = json_string_value(json_object_get(o, "target"));
    const char *member = json_string_value(json_object_get(o, "member"));
    json_t *tm = json_object_get(o, "time_ms"), *sum = json_object_get(o, "sum");
    json_t *parts = json_object_get(o, "partitions");
    struct vg_partial p = {0};
    int rc = 0;
    if (!json_is_object(o))
        rc = vg_err(err, errlen, -EINVAL, "not a JSON object");
    else if (!name || !*name || strlen(name) >= tlen)
        rc = vg_err(err, errlen, -EINVAL, "no \"target\" string");
    else if (!key || key_len != strlen(name) || memcmp(key, name, key_len) != 0)
        rc = vg_err(err, errlen, -EINVAL, "key is not the record's target");
    else if (!member || !*member || strlen(member) >= sizeof(p.member))
        rc = vg_err(err, errlen, -EINVAL, "no \"member\" string");
    else if (!json_is_integer(tm))
        rc = vg_err(err, errlen, -EINVAL, "\"time_ms\" is not an integer");
    else if (!json_is_number(sum) || !isfinite(json_number_value(sum)))
        rc = vg_err(err, errlen, -EINVAL, "\"sum\" is not a finite number");
    else if (count_field(o, "n_values", &p.agg.n_values) < 0 ||
             count_field(o, "n_true", &p.agg.n_true) < 0 ||
             count_field(o, "n_false", &p.agg.n_false) < 0 ||
             count_field(o, "n_alerting", &p.agg.n_alerting) < 0)
        rc = vg_err(err, errlen, -EINVAL,
                    "\"n_values\", \"n_true\", \"n_false\" or \"n_alerting\" is not a count");
    else if (!json_is_array(parts) || json_array_size(parts) > VG_PARTIAL_PARTS_MAX)
        rc = vg_err(err, errlen, -EINVAL, "\"partitions\" is not an array of partitions");
    /* A partial of no partition would never overlap another and always be added. */
    else if (!json_array_size(parts))
        rc = vg_err(err, errlen, -EINVAL, "\"partitions\" is empty");
    size_t n = rc ? 0 : json_array_size(parts);
    if (n && !(p.parts = malloc(n * sizeof(*p.parts))))
        rc = -ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        json_t *v = json_array_get(parts, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) >= VG_PARTIAL_PARTS_MAX)
            rc = vg_err(err, errlen, -EINVAL, "\"partitions\" is not an array of partitions");
        else
            p.parts[p.n_parts++] = (int32_t)json_integer_value(v);
    }
    if (!rc) {
        normalise(&p);
        snprintf(target, tlen, "%s", name);
        snprintf(p.member, sizeof(p.member), "%s", member);
        p.time_ms = json_integer_value(tm);
        p.agg.sum = json_number_value(sum);
        *out = p;
    } else {
        vg_partial_clear(&p);
    }
    json_decref(o);
    return rc;
}

int vg_partials_new(struct vg_partials **out)
{
    struct vg_partials *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    vg_strmap_init(&s->targets);
    *out = s;
    return 0;
}

static void free_list(void *v)
{
    struct list *l = v;
    for (size_t i = 0; i < l->n; i++)
        vg_partial_clear(&l->v[i]);
    free(l->v);
    free(l);
}

void vg_partials_free(struct vg_partials *s)
{
    if (!s)
        return;
    vg_strmap_free(&s->targets, free_list);
    free(s);
}

int vg_partials_put(struct vg_partials *s, const char *target, struct vg_partial *p)
{
    normalise(p);
    vg_time_cap(&p->time_ms, vg_now_ms());
    struct list *l = vg_strmap_get(&s->targets, target);
    if (!l) {
        if (!(l = calloc(1, sizeof(*l))) || vg_strmap_put(&s->targets, target, l) < 0) {
            free(l);
            vg_partial_clear(p);
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i].member, p->member) != 0)
            continue;
        if (l->v[i].time_ms >= p->time_ms) {
            vg_partial_clear(p);
            return 1;
        }
        vg_partial_clear(&l->v[i]);
        l->v[i] = *p;
        p->parts = NULL;
        p->n_parts = 0;
        return 0;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 4;
        struct vg_partial *v = realloc(l->v, cap * sizeof(*v));
        if (!v) {
            vg_partial_clear(p);
            return -ENOMEM;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *p;
    p->parts = NULL;
    p->n_parts = 0;
    return 0;
}

size_t vg_partials_expire(struct vg_partials *s, const char *target, int64_t cutoff_ms)
{
    struct list *l = vg_strmap_get(&s->targets, target);
    size_t k = 0, gone = 0;
    for (size_t i = 0; l && i < l->n; i++) {
        if (l->v[i].time_ms < cutoff_ms) {
            vg_partial_clear(&l->v[i]);
            gone++;
        } else {
            l->v[k++] = l->v[i];
        }
    }
    if (l)
        l->n = k;
    return gone;
}

size_t vg_partials_count(const struct vg_partials *s, const char *target)
{
    const struct list *l = vg_strmap_get(&s->targets, target);
    return l ? l->n : 0;
}

/* Newest first; equal times by member, so that every analyzer orders alike. */
static int newer_first(const void *a, const void *b)
{
    const struct vg_partial *x = *(const struct vg_partial *const *)a;
    const struct vg_partial *y = *(const struct vg_partial *const *)b;
    if (x->time_ms != y->time_ms)
        return x->time_ms > y->time_ms ? -1 : 1;
    return strcmp(x->member, y->member);
}

/* 1 when sorted a and b share a partition. */
static int overlap(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    size_t i = 0, j = 0;
    while (i < na && j < nb) {
        if (a[i] == b[j])
            return 1;
        if (a[i] < b[j])
            i++;
        else
            j++;
    }
    return 0;
}

static void add(struct vg_partial_agg *sum, const struct vg_partial_agg *a)
{
    sum->sum += a->sum;
    sum->n_values += a->n_values;
    sum->n_true += a->n_true;
    sum->n_false += a->n_false;
    sum->n_alerting += a->n_alerting;
}

/* Adds b's partitions to the sorted set *cov (n, cap): 0 or -ENOMEM. */
static int cover(int32_t **cov, size_t *n, size_t *cap, const int32_t *b, size_t nb)
{
    if (!nb)
        return 0; /* memcpy from a NULL b is undefined even for 0 bytes */
    if (*n + nb > *cap) {
        size_t c = (*n + nb) * 2;
        int32_t *v = realloc(*cov, c * sizeof(*v));
        if (!v)
            return -ENOMEM;
        *cov = v;
        *cap = c;
    }
    memcpy(*cov + *n, b, nb * sizeof(*b));
    *n += nb;
    qsort(*cov, *n, sizeof(**cov), cmp_i32);
    return 0;
}

size_t vg_partials_merge(struct vg_partials *s, const char *target, const struct vg_partial *own,
                         int64_t cutoff_ms, struct vg_partial_agg *sum, size_t *hidden,
                         size_t *covered)
{
    memset(sum, 0, sizeof(*sum));
    if (hidden)
        *hidden = 0;
    vg_partials_expire(s, target, cutoff_ms);
    struct list *l = vg_strmap_get(&s->targets, target);
    size_t n = l ? l->n : 0, counted = 0, cov_n = 0, cov_cap = 0;
    const struct vg_partial **order = n ? malloc(n * sizeof(*order)) : NULL;
    int32_t *cov = NULL;
    if (own) {
        add(sum, &own->agg);
        counted++;
        if (cover(&cov, &cov_n, &cov_cap, own->parts, own->n_parts) < 0)
            n = 0; /* out of memory: this analyzer's own hosts only, never a double count */
    }
    if (n && !order)
        n = 0;
    for (size_t i = 0; i < n; i++)
        order[i] = &l->v[i];
    if (n)
        qsort(order, n, sizeof(*order), newer_first);
    for (size_t i = 0; i < n; i++) {
        const struct vg_partial *p = order[i];
        if (own && strcmp(p->member, own->member) == 0)
            continue; /* its own latest measurement is `own` */
        if (overlap(cov, cov_n, p->parts, p->n_parts)) {
            if (hidden)
                (*hidden)++;
            continue;
        }
        if (cover(&cov, &cov_n, &cov_cap, p->parts, p->n_parts) < 0)
            break;
        add(sum, &p->agg);
        counted++;
    }
    if (covered) /* the partials' partitions are disjoint: each counted once */
        *covered = cov_n;
    free(order);
    free(cov);
    return counted;
}
