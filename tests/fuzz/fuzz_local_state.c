/* libFuzzer target for the agent's file of sent local alerts (agent/vg_local_state.c), which an
 * earlier run left in <spool.dir>/local-alerts and which a bad disk, another version or a hand
 * may have changed, and for the local guard's take-over of it (agent/vg_local.c, restore).
 *
 * The input's first byte picks the detector the guard runs (bit 0: ewma or seasonal) and its
 * local.max_series (bits 1-2: 1, 2, 4 or 1000); the rest is the file's body. The header (magic,
 * CRC-32, length) is made right here, so that every input reaches the body's checks rather than
 * stopping at the CRC. Then:
 * - vg_local_state_read: an accepted set keeps every field within range (fingerprint, times,
 *   score, value, count), and writes back to a file that reads back the same;
 * - vg_local_new takes the file over, four ticks run (the value high, then low, with a series of
 *   the file and one not in it), vg_local_save writes it again: no crash, leak or UB.
 *
 * Seeds: VG_FUZZ_LOCAL_STATE_SEEDS=DIR fuzz_local_state writes files the guard itself saved into
 * DIR and exits; tests/fuzz/corpus/local_state holds them. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "vg_crc32.h"
#include "vg_local.h"
#include "vg_local_state.h"
#include "vg_log.h"
#include "vg_util.h"
#include "vg_wire.h"

#define HDR   16 /* magic, CRC-32, body length */
#define HOST  "web-1"
#define T0    1795438800000LL
#define MAX_N (1u << 20) /* inputs past this are no more interesting, only slower */

static const char *g_path, *g_copy; /* in fz_scratch_make's directory */

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_local_state: %s\n", what);
    abort();
}

static int accept_all(void *ud, const struct vg_notification *n)
{
    (void)ud;
    (void)n;
    return 0;
}

static struct vg_local_cfg guard_cfg(const char *detector, size_t max_series)
{
    return (struct vg_local_cfg){.detector = detector,
                                 .series = "",
                                 .dp = {.alpha = 0.05,
                                        .alpha_outlier = 0.005,
                                        .warmup = 3,
                                        .clip_k = 3,
                                        .min_std_abs = 0.01,
                                        .min_std_rel = 0.02,
                                        .calib_init = 32},
                                 .ap = {.threshold = 0.9999, .for_ms = 0, .resolve_for_ms = 1000},
                                 .when = VG_LOCAL_WHEN_ALWAYS,
                                 .outage_after_ms = 30000,
                                 .max_series = max_series,
                                 .stale_ms = 5000,
                                 .idle_ms = 60000,
                                 .state_path = g_path};
}

static void tick(struct vg_local *l, int t, double load)
{
    struct vg_wire_msg m;
    vg_wire_msg_init(&m);
    snprintf(m.host, sizeof m.host, "%s", HOST);
    m.ts_ms = T0 + t * 1000LL;
    m.interval_ms = 1000;
    vg_wire_msg_add_metric(&m, "load.1m", load, NULL, 0);
    vg_wire_msg_add_metric(&m, "cpu.user_pct", 1.0 + t % 3, NULL, 0);
    vg_local_tick(l, &m, t * 1000LL, 0);
    vg_wire_msg_free(&m);
}

/* One seed: the file a guard with the given detector saved after firing on its series (n
 * series, the first n of load.1m, cpu.user_pct, mem.used_pct), host host. */
static void write_seed(const char *out_dir, const char *name, const char *detector, int n,
                       const char *host)
{
    static const char *const names[] = {"load.1m", "cpu.user_pct", "mem.used_pct"};
    fz_scratch_clear();
    struct vg_local_cfg c = guard_cfg(detector, 1000);
    struct vg_local *l;
    char err[VG_ERRLEN];
    if (vg_local_new(&l, &c, host, accept_all, NULL, err, sizeof err) != 0)
        fail(err);
    /* Until the file is there: noise (for the calibration), then at t = 300 a step up, which
     * fires within some ticks. */
    for (int t = 0; t < 600 && (t < 301 || access(g_path, F_OK) != 0); t++) {
        struct vg_wire_msg m;
        vg_wire_msg_init(&m);
        snprintf(m.host, sizeof m.host, "%s", host);
        m.ts_ms = T0 + t * 1000LL;
        m.interval_ms = 1000;
        for (int k = 0; k < n; k++)
            vg_wire_msg_add_metric(
                &m, names[k], t < 300 ? 0.5 + 0.01 * ((t * 7919) % 13) : 50.0 + t + k, NULL, 0);
        vg_local_tick(l, &m, t * 1000LL, 0);
        vg_wire_msg_free(&m);
    }
    if (vg_local_save(l) != 0)
        fail("the seed's guard wrote no file");
    vg_local_free(l);
    FILE *f = fopen(g_path, "rb");
    if (!f)
        fail("the seed's guard wrote no file");
    unsigned char *buf = malloc(VG_LOCAL_STATE_MAX_BYTES);
    if (!buf)
        fail("out of memory");
    size_t len = fread(buf, 1, VG_LOCAL_STATE_MAX_BYTES, f);
    fclose(f);
    if (len <= HDR)
        fail("the seed's file is too short");
    /* The selector byte (detector, max_series 1000), then the body. */
    buf[HDR - 1] = (unsigned char)((strcmp(detector, "seasonal") == 0) | 3 << 1);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    fz_write(path, buf + HDR - 1, len - HDR + 1);
    free(buf);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    vg_log_init("fuzz_local_state", (enum vg_log_level)(VG_LOG_ERROR + 1),
                0); /* refusals are logged by design */
    /* Each input writes the file three times, every write fsync'd with its directory: on a disk
     * that bounds a run by the disk's sync rate (60-800 exec/s measured), not by the code. On
     * tmpfs a sync is a no-op, and nothing else the target checks changes. */
    fz_scratch_make("local");
    g_path = fz_scratch_file(VG_LOCAL_STATE_FILE);
    g_copy = fz_scratch_file("copy");
    fz_scratch_file(VG_LOCAL_STATE_FILE ".bad");
    fz_scratch_file(VG_LOCAL_STATE_FILE ".tmp");
    fz_scratch_file("copy.tmp");
    const char *dir = getenv("VG_FUZZ_LOCAL_STATE_SEEDS");
    if (dir) {
        write_seed(dir, "ewma-one", "ewma", 1, HOST);
        write_seed(dir, "ewma-three", "ewma", 3, HOST);
        write_seed(dir, "seasonal-two", "seasonal", 2, HOST);
        write_seed(dir, "other-host", "ewma", 2, "db-7");
        exit(0);
    }
    return 0;
}

static void check_set(const struct vg_local_saved_set *set)
{
    if (set->n > VG_LOCAL_STATE_MAX_ALERTS || set->det_size > VG_LOCAL_STATE_MAX_BYTES)
        fail("a count or size past its bound accepted");
    for (size_t i = 0; i < set->n; i++) {
        const struct vg_local_saved *e = &set->v[i];
        if (!e->series[0] || strlen(e->fingerprint) != 16 ||
            strspn(e->fingerprint, "0123456789abcdef") != 16 || e->starts_at_ms <= 0 ||
            e->seen_ms <= 0 || !(e->score >= 0 && e->score <= 1) || !isfinite(e->value) ||
            (e->det && !set->det_size))
            fail("an alert with a field out of range accepted");
    }
}

/* What was accepted writes back whole, and reads back the same. */
static void round_trip(const struct vg_local_saved_set *set)
{
    char err[VG_ERRLEN];
    size_t left = 0;
    if (vg_local_state_write(g_copy, set, &left, err, sizeof err) != 0)
        fail(err);
    struct vg_local_saved_set again;
    if (vg_local_state_read(g_copy, &again, err, sizeof err) != 0)
        fail("a file the writer wrote is refused");
    if (left || again.n != set->n || again.det_size != set->det_size ||
        strcmp(again.host, set->host) != 0 || strcmp(again.detector, set->detector) != 0)
        fail("the round trip changed the set");
    for (size_t i = 0; i < set->n; i++) {
        const struct vg_local_saved *a = &set->v[i], *b = &again.v[i];
        if (strcmp(a->series, b->series) != 0 || strcmp(a->fingerprint, b->fingerprint) != 0 ||
            a->starts_at_ms != b->starts_at_ms || a->seen_ms != b->seen_ms ||
            memcmp(&a->score, &b->score, sizeof a->score) != 0 ||
            memcmp(&a->value, &b->value, sizeof a->value) != 0 || !a->det != !b->det ||
            (a->det && memcmp(a->det, b->det, set->det_size) != 0))
            fail("the round trip changed an alert");
    }
    vg_local_state_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size - 1 > MAX_N)
        return 0;
    static const size_t max_series[] = {1, 2, 4, 1000};
    const char *detector = data[0] & 1 ? "seasonal" : "ewma";
    size_t max = max_series[(data[0] >> 1) & 3];
    size_t body = size - 1;
    unsigned char *p = malloc(HDR + body);
    if (!p)
        fail("out of memory");
    memcpy(p, "VGLOCAL1", 8);
    memcpy(p + HDR, data + 1, body);
    uint32_t crc = vg_crc32(0, p + HDR, body);
    for (int i = 0; i < 4; i++) {
        p[8 + i] = (unsigned char)(crc >> (8 * i));
        p[12 + i] = (unsigned char)((uint32_t)body >> (8 * i));
    }
    fz_scratch_clear();
    fz_write(g_path, p, HDR + body);
    free(p);

    struct vg_local_saved_set set;
    char err[VG_ERRLEN];
    if (vg_local_state_read(g_path, &set, err, sizeof err) == 0) {
        check_set(&set);
        round_trip(&set);
    }
    vg_local_state_free(&set);

    struct vg_local_cfg c = guard_cfg(detector, max);
    struct vg_local *l;
    if (vg_local_new(&l, &c, HOST, accept_all, NULL, err, sizeof err) != 0)
        fail(err);
    for (int t = 0; t < 4; t++)
        tick(l, t, t == 3 ? 0.5 : 50.0);
    vg_local_save(l);
    vg_local_free(l);
    return 0;
}
