/* Partial scaling measurements (analyzer/vg_partials.c): the record format and the merge that
 * makes one fleet-wide measurement of several analyzers' partials, each host counted once. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vg_partials.h"
#include "vg_util.h"

/* A partial of member m at time t over partitions parts (-1 terminated), with n hosts whose
 * values sum to sum, `t_` of them with the condition true. */
static struct vg_partial mk(const char *m, int64_t t, double sum, uint64_t n, uint64_t t_,
                            const int32_t *parts)
{
    struct vg_partial p = {.time_ms = t,
                           .agg = {.sum = sum, .n_values = n, .n_true = t_, .n_false = n - t_}};
    snprintf(p.member, sizeof(p.member), "%s", m);
    size_t k = 0;
    while (parts[k] >= 0)
        k++;
    p.parts = malloc((k ? k : 1) * sizeof(*p.parts));
    memcpy(p.parts, parts, k * sizeof(*parts));
    p.n_parts = k;
    return p;
}

static void put(struct vg_partials *s, const char *target, struct vg_partial p)
{
    assert_true(vg_partials_put(s, target, &p) >= 0);
    assert_null(p.parts);
}

/* Two analyzers, two partitions each: the merge adds them up. */
static void disjoint_partials_add_up(void **state)
{
    (void)state;
    struct vg_partials *s;
    assert_int_equal(vg_partials_new(&s), 0);
    struct vg_partial own = mk("a", 1000, 90, 4, 0, (const int32_t[]){0, 1, -1});
    put(s, "web", mk("b", 900, 270, 4, 1, (const int32_t[]){2, 3, -1}));
    put(s, "api", mk("b", 900, 1, 1, 1, (const int32_t[]){2, 3, -1})); /* another target */
    struct vg_partial_agg sum;
    size_t hidden, covered;
    assert_int_equal(vg_partials_merge(s, "web", &own, 0, &sum, &hidden, &covered), 2);
    assert_int_equal(hidden, 0);
    assert_int_equal(covered, 4);
    assert_true(sum.sum == 360);
    assert_int_equal(sum.n_values, 8);
    assert_int_equal(sum.n_true, 1);
    assert_int_equal(sum.n_false, 7);
    /* Without a measurement of its own (an analyzer that only relays): the kept ones. */
    assert_int_equal(vg_partials_merge(s, "web", NULL, 0, &sum, NULL, NULL), 1);
    assert_int_equal(sum.n_values, 4);
    vg_partial_clear(&own);
    vg_partials_free(s);
}

/* A rebalance moved partition 1 from b to c: b's partial from before it still claims it. The
 * newer partial counts, the older one overlapping it does not, at all (its partition 2 hosts are
 * then uncounted until b's next partial: an undercount for one interval, never a double count). */
static void an_older_partial_overlapping_a_newer_one_is_skipped(void **state)
{
    (void)state;
    struct vg_partials *s;
    assert_int_equal(vg_partials_new(&s), 0);
    struct vg_partial own = mk("a", 3000, 10, 1, 0, (const int32_t[]){0, -1});
    put(s, "web", mk("b", 1000, 20, 2, 0, (const int32_t[]){2, 1, -1})); /* unsorted on input */
    put(s, "web", mk("c", 2000, 30, 3, 0, (const int32_t[]){1, 3, -1}));
    struct vg_partial_agg sum;
    size_t hidden, covered;
    assert_int_equal(vg_partials_merge(s, "web", &own, 0, &sum, &hidden, &covered), 2);
    assert_int_equal(hidden, 1);
    assert_int_equal(covered, 3); /* 0, 1, 3: partition 2 is b's, whose partial is stale */
    assert_int_equal(sum.n_values, 4);
    assert_true(sum.sum == 40);
    /* b's next partial, after the rebalance, no longer claims 1: it counts again. */
    put(s, "web", mk("b", 2500, 5, 1, 0, (const int32_t[]){2, -1}));
    assert_int_equal(vg_partials_merge(s, "web", &own, 0, &sum, &hidden, NULL), 3);
    assert_int_equal(hidden, 0);
    assert_int_equal(sum.n_values, 5);
    /* This analyzer took every partition (the others stopped): their last partials, newer or
     * not, all overlap its own measurement, which alone counts. */
    vg_partial_clear(&own);
    own = mk("a", 2400, 80, 8, 0, (const int32_t[]){0, 1, 2, 3, -1});
    assert_int_equal(vg_partials_merge(s, "web", &own, 0, &sum, &hidden, NULL), 1);
    assert_int_equal(hidden, 2);
    assert_int_equal(sum.n_values, 8);
    vg_partial_clear(&own);
    vg_partials_free(s);
}

/* The latest partial of each member is kept; older ones from it are dropped; partials older
 * than the cutoff are forgotten; this analyzer's own partial read back is not counted twice. */
static void latest_per_member_and_expiry(void **state)
{
    (void)state;
    struct vg_partials *s;
    assert_int_equal(vg_partials_new(&s), 0);
    put(s, "web", mk("b", 2000, 20, 2, 0, (const int32_t[]){1, -1}));
    struct vg_partial old = mk("b", 1000, 99, 9, 0, (const int32_t[]){1, -1});
    assert_int_equal(vg_partials_put(s, "web", &old), 1); /* older than the one kept */
    assert_null(old.parts);
    put(s, "web", mk("c", 500, 30, 3, 0, (const int32_t[]){2, -1}));
    put(s, "web", mk("a", 2500, 7, 7, 0, (const int32_t[]){0, -1})); /* our own, read back */
    assert_int_equal(vg_partials_count(s, "web"), 3);
    struct vg_partial own = mk("a", 3000, 10, 1, 0, (const int32_t[]){0, -1});
    struct vg_partial_agg sum;
    assert_int_equal(vg_partials_merge(s, "web", &own, 1000, &sum, NULL, NULL), 2); /* c expired */
    assert_int_equal(sum.n_values, 3);
    assert_int_equal(vg_partials_count(s, "web"), 2);
    assert_int_equal(vg_partials_expire(s, "web", 2600), 2);
    assert_int_equal(vg_partials_count(s, "web"), 0);
    assert_int_equal(vg_partials_expire(s, "nothing", 2600), 0);
    vg_partial_clear(&own);
    vg_partials_free(s);
}

/* Equal times: the order is by member name, on every analyzer alike. */
static void equal_times_merge_in_member_order(void **state)
{
    (void)state;
    struct vg_partials *s;
    assert_int_equal(vg_partials_new(&s), 0);
    put(s, "web", mk("z", 1000, 1, 1, 0, (const int32_t[]){1, -1}));
    put(s, "web", mk("m", 1000, 2, 2, 0, (const int32_t[]){1, 2, -1}));
    struct vg_partial_agg sum;
    assert_int_equal(vg_partials_merge(s, "web", NULL, 0, &sum, NULL, NULL), 1);
    assert_int_equal(sum.n_values, 2); /* m before z */
    vg_partials_free(s);
}

static int parse(const char *key, const char *v, char *why, size_t wlen)
{
    char target[64];
    struct vg_partial p;
    int rc = vg_partial_parse(key, key ? strlen(key) : 0, v, v ? strlen(v) : 0, target,
                              sizeof(target), &p, why, wlen);
    if (rc == 0)
        vg_partial_clear(&p);
    else
        assert_null(p.parts);
    return rc;
}

/* What vg_partial_json writes reads back the same; what is not a partial is refused with a
 * reason, never half taken. */
static void records_round_trip_and_malformed_ones_are_refused(void **state)
{
    (void)state;
    struct vg_partial p = mk("an-1-x", 1795438805000, 0.1 + 0.2, 3, 1, (const int32_t[]){3, 0, -1});
    p.agg.n_alerting = 2;
    char *j = vg_partial_json("web", &p);
    assert_non_null(j);
    char target[64], why[256];
    struct vg_partial q;
    assert_int_equal(
        vg_partial_parse("web", 3, j, strlen(j), target, sizeof(target), &q, why, sizeof(why)), 0);
    assert_string_equal(target, "web");
    assert_string_equal(q.member, "an-1-x");
    assert_true(q.time_ms == 1795438805000);
    assert_true(q.agg.sum == 0.1 + 0.2); /* exactly: sums must add up alike everywhere */
    assert_int_equal(q.agg.n_values, 3);
    assert_int_equal(q.agg.n_true, 1);
    assert_int_equal(q.agg.n_false, 2);
    assert_int_equal(q.agg.n_alerting, 2);
    assert_int_equal(q.n_parts, 2);
    assert_int_equal(q.parts[0], 0); /* sorted */
    assert_int_equal(q.parts[1], 3);
    vg_partial_clear(&q);
    vg_partial_clear(&p);
    free(j);

    static const struct {
        const char *key, *value, *why;
    } bad[] = {
        {"web", "not json", "not JSON"},
        {"web", NULL, "not JSON"},
        {"web", "[1]", "not a JSON object"},
        {"web", "{\"member\":\"a\",\"time_ms\":1}", "no \"target\""},
        {"api", "{\"target\":\"web\",\"member\":\"a\",\"time_ms\":1}", "key is not"},
        {NULL, "{\"target\":\"web\",\"member\":\"a\",\"time_ms\":1}", "key is not"},
        {"web", "{\"target\":\"web\",\"time_ms\":1}", "no \"member\""},
        {"web", "{\"target\":\"web\",\"member\":\"a\",\"time_ms\":\"now\"}", "\"time_ms\""},
        {"web", "{\"target\":\"web\",\"member\":\"a\",\"time_ms\":1,\"sum\":null}", "\"sum\""},
        {"web",
         "{\"target\":\"web\",\"member\":\"a\",\"time_ms\":1,\"sum\":1,\"n_values\":-1,"
         "\"n_true\":0,\"n_false\":0,\"n_alerting\":0,\"partitions\":[]}",
         "is not a count"},
        {"web",
         "{\"target\":\"web\",\"member\":\"a\",\"time_ms\":1,\"sum\":1,\"n_values\":1,"
         "\"n_true\":0,\"n_false\":0,\"n_alerting\":0}",
         "\"partitions\""},
        {"web",
         "{\"target\":\"web\",\"member\":\"a\",\"time_ms\":1,\"sum\":1,\"n_values\":1,"
         "\"n_true\":0,\"n_false\":0,\"n_alerting\":0,\"partitions\":[0,-2]}",
         "\"partitions\""},
        {"web",
         "{\"target\":\"web\",\"member\":\"a\",\"time_ms\":1,\"sum\":1,\"n_values\":1,"
         "\"n_true\":0,\"n_false\":0,\"n_alerting\":0,\"partitions\":[0,\"1\"]}",
         "\"partitions\""},
        {"web",
         "{\"target\":\"web\",\"target\":\"web\",\"member\":\"a\",\"time_ms\":1,\"sum\":1,"
         "\"n_values\":1,\"n_true\":0,\"n_false\":0,\"n_alerting\":0,\"partitions\":[0]}",
         "not JSON"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        if (parse(bad[i].key, bad[i].value, why, sizeof(why)) != -EINVAL ||
            !strstr(why, bad[i].why))
            fail_msg("record %zu (%s): '%s', expected '%s'", i, bad[i].value ? bad[i].value : "",
                     why, bad[i].why);
    }
    /* A partial with duplicate partitions counts each once. */
    assert_int_equal(parse("web",
                           "{\"target\":\"web\",\"member\":\"a\",\"time_ms\":1,\"sum\":1,"
                           "\"n_values\":1,\"n_true\":0,\"n_false\":0,\"n_alerting\":0,"
                           "\"partitions\":[2,2,1]}",
                           why, sizeof(why)),
                     0);
}

/* Review item 6: an empty partition list, ids past VG_PARTIAL_PARTS_MAX, counts that would wrap
 * when summed are refused; ids past the metrics topic's partition count are dropped. */
static void empty_or_absurd_partials_are_refused(void **state)
{
    (void)state;
    char why[256];
    static const char *const bad[] = {
        "{\"target\":\"web\",\"member\":\"a\",\"time_ms\":1,\"sum\":1,\"n_values\":1,"
        "\"n_true\":0,\"n_false\":0,\"n_alerting\":0,\"partitions\":[]}",
        "{\"target\":\"web\",\"member\":\"a\",\"time_ms\":1,\"sum\":1,\"n_values\":1,"
        "\"n_true\":0,\"n_false\":0,\"n_alerting\":0,\"partitions\":[100000]}",
        "{\"target\":\"web\",\"member\":\"a\",\"time_ms\":1,\"sum\":1,"
        "\"n_values\":1099511627777,\"n_true\":0,\"n_false\":0,\"n_alerting\":0,"
        "\"partitions\":[0]}",
        "{\"target\":\"web\",\"member\":\"a\",\"time_ms\":1,\"sum\":1,\"n_values\":1,"
        "\"n_true\":9223372036854775807,\"n_false\":0,\"n_alerting\":0,\"partitions\":[0]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parse("web", bad[i], why, sizeof(why)) != -EINVAL)
            fail_msg("record %zu taken: %s", i, bad[i]);
    /* At the limits: taken. */
    assert_int_equal(parse("web",
                           "{\"target\":\"web\",\"member\":\"a\",\"time_ms\":1,\"sum\":1,"
                           "\"n_values\":1099511627776,\"n_true\":0,\"n_false\":0,"
                           "\"n_alerting\":0,\"partitions\":[99999]}",
                           why, sizeof(why)),
                     0);
    struct vg_partial p = mk("b", 1, 1, 1, 0, (const int32_t[]){1, 3, 7, -1});
    assert_int_equal(vg_partial_keep_below(&p, 0), 3); /* count unknown: all kept */
    assert_int_equal(vg_partial_keep_below(&p, 4), 2);
    assert_int_equal(p.parts[0], 1);
    assert_int_equal(p.parts[1], 3);
    assert_int_equal(vg_partial_keep_below(&p, 1), 0);
    vg_partial_clear(&p);
}

/* Review item 4: a partial from an analyzer whose clock is 2 h fast is kept at the wall clock
 * + VG_CLOCK_TOLERANCE_MS, so it expires as others do. */
static void future_times_are_capped(void **state)
{
    (void)state;
    int64_t now = vg_now_ms(), t = now + 7200000;
    assert_int_equal(vg_time_cap(&t, now), 1);
    assert_true(t == now + VG_CLOCK_TOLERANCE_MS);
    t = now + 1000;
    assert_int_equal(vg_time_cap(&t, now), 0);
    assert_true(t == now + 1000);
    struct vg_partials *s;
    assert_int_equal(vg_partials_new(&s), 0);
    put(s, "web", mk("fast", now + 7200000, 1, 1, 0, (const int32_t[]){0, -1}));
    /* 3 intervals of 10 s past now + the tolerance: gone, as a partial of now would be. */
    assert_int_equal(vg_partials_expire(s, "web", now + VG_CLOCK_TOLERANCE_MS + 30000), 1);
    vg_partials_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(disjoint_partials_add_up),
        cmocka_unit_test(an_older_partial_overlapping_a_newer_one_is_skipped),
        cmocka_unit_test(latest_per_member_and_expiry),
        cmocka_unit_test(equal_times_merge_in_member_order),
        cmocka_unit_test(records_round_trip_and_malformed_ones_are_refused),
        cmocka_unit_test(empty_or_absurd_partials_are_refused),
        cmocka_unit_test(future_times_are_capped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
