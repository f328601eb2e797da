/* libFuzzer target for the partial scaling measurements other analyzers publish
 * (analyzer/vg_partials.c): records from the partials topic are anyone's bytes. The input is
 * records separated by NUL bytes, each "KEY|VALUE". Every record vg_partial_parse accepts must
 * survive its own round trip (vg_partial_json, then parsed again to the same fields), and the
 * accepted ones of each target are kept and merged as a decider would, whose result must stay
 * within what was put in. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "vg_partials.h"

#define MAX_TARGETS 4

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_partials: %s\n", what);
    abort();
}

/* What parsing p's own JSON gives back must be p, field for field. */
static void check_round_trip(const char *target, const struct vg_partial *p)
{
    char *s = vg_partial_json(target, p);
    if (!s)
        return; /* out of memory */
    char t2[256], err[256];
    struct vg_partial q;
    int rc = vg_partial_parse(target, strlen(target), s, strlen(s), t2, sizeof(t2), &q, err,
                              sizeof(err));
    if (rc == 0) {
        if (strcmp(t2, target) != 0 || strcmp(q.member, p->member) != 0 ||
            q.time_ms != p->time_ms || q.agg.n_values != p->agg.n_values ||
            q.agg.n_true != p->agg.n_true || q.agg.n_false != p->agg.n_false ||
            q.agg.n_alerting != p->agg.n_alerting || q.n_parts != p->n_parts ||
            (q.n_parts && memcmp(q.parts, p->parts, q.n_parts * sizeof(*q.parts)) != 0) ||
            (q.agg.sum != p->agg.sum && !(isnan(q.agg.sum) && isnan(p->agg.sum))))
            fail("a partial differs from its own JSON read back");
        vg_partial_clear(&q);
    } else if (rc != -12 /* ENOMEM */) {
        fprintf(stderr, "fuzz_partials: %s\n%s\n", err, s);
        fail("a partial's own JSON is refused");
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *in = fz_copy(data, size);
    struct vg_partials *store;
    if (vg_partials_new(&store) < 0) {
        free(in);
        return 0;
    }
    char targets[MAX_TARGETS][256];
    size_t n_targets = 0, put = 0;
    size_t start = 0;
    while (start < size) {
        const unsigned char *rec = in + start;
        const unsigned char *end = memchr(rec, '\0', size - start);
        size_t len = end ? (size_t)(end - rec) : size - start;
        start += len + 1;
        const unsigned char *bar = memchr(rec, '|', len);
        if (!bar)
            continue;
        size_t klen = (size_t)(bar - rec);
        char target[256], err[256];
        struct vg_partial p;
        /* Exactly the record's bytes, as librdkafka hands them over: not NUL-terminated. */
        int rc = vg_partial_parse(rec, klen, bar + 1, len - klen - 1, target, sizeof(target), &p,
                                  err, sizeof(err));
        if (rc < 0)
            continue;
        check_round_trip(target, &p);
        size_t t = 0;
        while (t < n_targets && strcmp(targets[t], target) != 0)
            t++;
        if (t == n_targets && n_targets < MAX_TARGETS)
            snprintf(targets[n_targets++], sizeof(targets[0]), "%s", target);
        if (vg_partials_put(store, target, &p) == 0)
            put++;
        if (p.parts)
            fail("vg_partials_put left the partitions with the caller");
    }
    size_t kept = 0;
    for (size_t t = 0; t < n_targets; t++) {
        kept += vg_partials_count(store, targets[t]);
        struct vg_partial_agg sum;
        size_t hidden = 0, covered = 0;
        size_t counted =
            vg_partials_merge(store, targets[t], NULL, INT64_MIN, &sum, &hidden, &covered);
        if (counted + hidden > vg_partials_count(store, targets[t]))
            fail("the merge counted more partials than were kept");
        if (counted == 0 && (sum.n_values || sum.n_true || sum.n_false || covered))
            fail("an empty merge measured something");
    }
    if (kept > put)
        fail("more partials kept than were put");
    vg_partials_free(store);
    free(in);
    return 0;
}
