/* libFuzzer target for silences.file (analyzer/vg_silence.c, vg_silences_load), which the
 * analyzer reads back at every start: written by it, but a hand may have edited or merged it
 * (docs/api.md), and an older version may have written what this one refuses.
 *
 * The input is the file. Then:
 * - the load neither crashes nor leaks, and whatever it accepted is within range: an id of 16
 *   characters, met by no other, at least one matcher, times within 1970..9999 with the end not
 *   before the start, nothing ended longer than VG_SILENCE_KEEP_MS ago;
 * - the accepted silences' matchers run against a label set (vg_silences_match);
 * - the store saves to a file that loads back the same (vg_silences_save, vg_silences_load): a
 *   silence the analyzer kept must survive its next restart.
 *
 * Seeds: VG_FUZZ_SILENCES_SEEDS=DIR fuzz_silences writes files the store itself saved, and the
 * hand-edited cases the loader takes apart, into DIR and exits; tests/fuzz/corpus/silences holds
 * them. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "vg_log.h"
#include "vg_silence.h"
#include "vg_util.h"

#define T0          1795438800000LL /* "now" of every load: 2026-11-23T13:00:00Z */
#define TIME_MAX_MS 253402300799999LL
#define MAX_N       (1u << 20) /* inputs past this are no more interesting, only slower */

static const char *g_path, *g_copy; /* in fz_scratch_make's directory */

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_silences: %s\n", what);
    abort();
}

static const char *labels(const void *ud, const char *name)
{
    (void)ud;
    static const char *const kv[][2] = {
        {"host", "web-1"}, {"alertname", "cpu.user_pct"}, {"env", "prod"}, {"severity", "page"}};
    for (size_t i = 0; i < VG_ARRAY_LEN(kv); i++)
        if (strcmp(name, kv[i][0]) == 0)
            return kv[i][1];
    return NULL;
}

/* One seed: a store given bodies through the API's parser (expiring the ids' silence at index
 * expire, -1: none), saved as the analyzer saves it. */
static void write_seed(const char *out_dir, const char *name, const char *const *bodies, size_t n,
                       int expire)
{
    struct vg_silences *s;
    char err[VG_ERRLEN], id[VG_SILENCE_ID_LEN], path[4096];
    if (vg_silences_new(&s) != 0)
        fail("out of memory");
    for (size_t i = 0; i < n; i++) {
        if (vg_silences_add_json(s, bodies[i], strlen(bodies[i]), T0 - 600000, id, err,
                                 sizeof err) != 0)
            fail(err);
        if ((int)i == expire && vg_silences_expire(s, id, T0 - 300000) != 0)
            fail("the seed's expiry failed");
    }
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    if (vg_silences_save(s, path, T0 - 300000, err, sizeof err) != 0)
        fail(err);
    vg_silences_free(s);
}

/* Files by hand, as an operator or a merge may leave them. */
static void write_text_seed(const char *out_dir, const char *name, const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    fz_write(path, text, strlen(text));
}

static void write_seeds(const char *dir)
{
    static const char *const one[] = {
        "{\"matchers\":[\"host=~\\\"web-.*\\\"\",\"alertname!=\\\"x\\\"\"],\"duration\":\"2h\","
        "\"created_by\":\"ops\",\"comment\":\"deploy\"}"};
    static const char *const three[] = {
        "{\"matchers\":[\"env=\\\"prod\\\"\"],\"starts_at\":\"2026-11-23T15:00:00Z\","
        "\"ends_at\":\"2026-11-23T17:00:00.250+01:00\"}",
        "{\"matchers\":[\"severity!~\\\"info|warn\\\"\",\"host=\\\"\\\"\"],\"duration\":\"1d\"}",
        "{\"matchers\":[\"alertname=\\\"cpu.user_pct\\\"\"],\"ends_at\":1795450000000,"
        "\"created_by\":null,\"comment\":\"ends in ms\"}"};
    write_seed(dir, "one-active", one, 1, -1);
    write_seed(dir, "pending-active-expired", three, 3, 2);
    write_text_seed(dir, "empty", "");
    write_text_seed(dir, "none", "[]\n");
    write_text_seed(dir, "duplicate-id",
                    "[{\"id\":\"00000000000000aa\",\"matchers\":[\"host=\\\"a\\\"\"],"
                    "\"starts_at\":\"2026-11-23T12:00:00Z\",\"ends_at\":\"2026-11-23T14:00:00Z\"},"
                    "{\"id\":\"00000000000000aa\",\"matchers\":[\"host=\\\"b\\\"\"],"
                    "\"starts_at\":\"2026-11-23T12:00:00Z\",\"ends_at\":\"2026-11-24T10:00:00Z\","
                    "\"state\":\"active\",\"starts_at_ms\":1,\"ends_at_ms\":2}]\n");
    write_text_seed(dir, "refused-and-kept",
                    "[{\"id\":\"0123456789abcdef\",\"matchers\":[\"host=~\\\"(a)\\\\1\\\"\"],"
                    "\"ends_at\":\"2026-11-23T14:00:00Z\"},"
                    "{\"id\":\"short\",\"matchers\":[\"env!=\\\"dev\\\"\"],\"duration\":\"30m\","
                    "\"unknown\":1},"
                    "{\"matchers\":[\"env!=\\\"dev\\\"\"],\"starts_at\":0,\"duration\":\"30m\"},"
                    "{\"matchers\":[\"zone!~\\\"eu-.*\\\"\"],\"starts_at\":null,"
                    "\"ends_at\":\"9999-12-31T23:59:59.999Z\",\"duration\":null}]\n");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    vg_log_init("fuzz_silences", (enum vg_log_level)(VG_LOG_ERROR + 1),
                0); /* refused silences are logged by design */
    /* Each input saves a file (fsync'd with its directory). */
    fz_scratch_make("silences");
    g_path = fz_scratch_file("silences.json");
    g_copy = fz_scratch_file("copy.json");
    fz_scratch_file("copy.json.tmp");
    const char *dir = getenv("VG_FUZZ_SILENCES_SEEDS");
    if (dir) {
        write_seeds(dir);
        exit(0);
    }
    return 0;
}

static int64_t int_field(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail("a listed silence without its times");
    return (int64_t)json_integer_value(v);
}

/* What the load accepted is within range (the listing shows every field the store holds). */
static void check(json_t *list)
{
    json_t *a = json_object_get(list, "silences");
    size_t i;
    json_t *o;
    json_array_foreach(a, i, o)
    {
        const char *id = json_string_value(json_object_get(o, "id"));
        if (!id || strlen(id) != VG_SILENCE_ID_LEN - 1)
            fail("a silence with an id not of 16 characters accepted");
        for (size_t k = 0; k < i; k++)
            if (strcmp(json_string_value(json_object_get(json_array_get(a, k), "id")), id) == 0)
                fail("two silences with one id accepted");
        if (json_array_size(json_object_get(o, "matchers")) == 0)
            fail("a silence without matchers accepted");
        int64_t starts = int_field(o, "starts_at_ms"), ends = int_field(o, "ends_at_ms");
        if (starts < 0 || ends > TIME_MAX_MS || ends < starts)
            fail("a silence with times out of range accepted");
        if (ends + VG_SILENCE_KEEP_MS < T0)
            fail("a silence that ended long ago kept");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_N)
        return 0;
    fz_scratch_clear();
    fz_write(g_path, data, size);
    struct vg_silences *s;
    char err[VG_ERRLEN];
    uint64_t skipped = 0;
    if (vg_silences_new(&s) != 0)
        fail("out of memory");
    if (vg_silences_load(s, g_path, T0, &skipped, err, sizeof err) != 0) {
        vg_silences_free(s);
        return 0;
    }
    json_t *list = vg_silences_json(s, NULL, T0);
    if (!list)
        fail("out of memory");
    check(list);
    const char *ids[4];
    if (vg_silences_match(s, labels, NULL, T0, ids, VG_ARRAY_LEN(ids)) > vg_silences_active(s, T0))
        fail("more silences matched than are active");

    /* Saved and loaded back: the same silences, skipping none. */
    if (vg_silences_save(s, g_copy, T0, err, sizeof err) != 0)
        fail(err);
    struct vg_silences *again;
    uint64_t skipped_again = 0;
    if (vg_silences_new(&again) != 0)
        fail("out of memory");
    if (vg_silences_load(again, g_copy, T0, &skipped_again, err, sizeof err) != 0)
        fail("a file the store saved is refused");
    json_t *list_again = vg_silences_json(again, NULL, T0);
    if (skipped_again || !json_equal(list, list_again))
        fail("the round trip changed the silences");
    json_decref(list_again);
    json_decref(list);
    vg_silences_free(again);
    vg_silences_free(s);
    return 0;
}
