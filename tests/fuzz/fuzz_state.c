/* libFuzzer target for the host records an analyzer restores from the state topic at start and
 * after a rebalance (analyzer/vg_state_topic.c): the record's header and checksum
 * (vg_state_record_parse), the engine's host record (vg_engine_host_import: the series, their
 * alert states and detector states, the rule alert states, the engine's host part: labels,
 * host_silent, what firing rule alerts fired with) and the host models' blobs
 * (vg_models_host_load: the mv model's normaliser, window, queued ticks and calibration).
 *
 * Input: one record value. When it starts with the version-2 header its checksum is recomputed
 * first, so that mutations reach the engine record rather than stop at the CRC: a record with a
 * good checksum and bad contents (an older or newer writer, a bug, anyone with produce rights on
 * the topic) is what the parsers must refuse. Each record is imported into two engines, one per
 * detector model (ewma, seasonal), and into the mv model; the host then takes a few more ticks,
 * since a state that was accepted must be one the detectors, the rules and the model can go on
 * from. Nothing may crash, leak or touch memory it does not own, and nothing accepted may make
 * the mv model score NaN (its group would be started fresh: counted, and checked here).
 *
 * Seeds: VG_FUZZ_STATE_SEEDS=DIR fuzz_state writes records of a live host (both engines, with a
 * firing rule alert and the mv model's blob) into DIR and exits; tests/fuzz/corpus/state holds
 * them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_ckpt.h"
#include "fuzz_util.h"
#include "vg_engine.h"
#include "vg_engine_state.h"
#include "vg_fleet.h"
#include "vg_ewma.h"
#include "vg_k.h"
#include "vg_log.h"
#include "vg_model.h"
#include "vg_models.h"
#include "vg_rule_load.h"
#include "vg_seasonal.h"
#include "vg_state_topic.h"
#include "vg_util.h"

#define HOST      "web-1"
#define MAX_BLOBS 8

struct side {
    struct vg_engine *e;
    struct vg_rule_set *rules;
};

static struct side g_side[2];
static struct vg_models *g_ms;
static struct vg_k g_k;
static uint64_t g_seq = 1000000;

static const char *const RULES = "rules:\n"
                                 "  - name: Busy\n"
                                 "    when: value(\"cpu.user_pct\") > 90\n"
                                 "  - name: SlowBusy\n"
                                 "    when: value(\"cpu.user_pct\") > 90\n"
                                 "    for: 5s\n"
                                 "  - name: Sustained\n"
                                 "    when: avg_over(\"cpu.user_pct\", 10s) > 90\n";

static void make_side(struct side *s, const struct vg_detector *d)
{
    struct vg_engine_params p = {
        .detector = d,
        .dp = {.alpha = 0.05,
               .alpha_outlier = 0.05,
               .warmup = 5,
               .clip_k = 3,
               .min_std_abs = 0.01,
               .min_std_rel = 0.02,
               .calib_init = 16,
               .lik_short = 8,
               .lik_mode = 1,
               .prof = 1,
               .weekly = 1,
               .cusum = 2},
        .ap = {.threshold = 0.999},
        .max_hosts = 8,
        .max_series_per_host = 8,
    };
    char err[VG_ERRLEN];
    if (vg_engine_new(&s->e, &p, err, sizeof(err)) != 0 ||
        vg_rule_set_load_buffer("fuzz.yaml", RULES, strlen(RULES), &s->rules, err, sizeof(err)) !=
            0 ||
        vg_engine_set_rules(s->e, s->rules, NULL, NULL) != 0) {
        fprintf(stderr, "fuzz_state setup: %s\n", err);
        abort();
    }
}

static void setup(void)
{
    vg_log_init("fuzz_state", VG_LOG_ERROR, 0); /* alerts fire and records are refused by design */
    make_side(&g_side[0], &vg_detector_ewma);
    make_side(&g_side[1], &vg_detector_seasonal);
    char err[VG_ERRLEN];
    vg_k_cpu_set_threads(1);
    struct vg_model_env env = {
        .engine = g_side[0].e,
        .k = &g_k,
        .window = 4,
        .max_metrics = 8,
        .max_hosts = 8,
        .max_groups = 4,
        .top_k = 2,
        .calib_init = 16,
        .state_weight = 1,
        .queue_ticks = 2,
        .train = 1,
        .seed = 1,
    };
    if (vg_k_open(&g_k, "cpu", err, sizeof(err)) != 0 ||
        vg_models_new(&g_ms, "mv", &env, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_state setup: %s\n", err);
        abort();
    }
}

/* One tick of the host: both engines and the mv model. */
static void tick(uint64_t seq, double cpu)
{
    struct vg_wire_msg m;
    vg_wire_msg_init(&m);
    snprintf(m.host, sizeof(m.host), HOST);
    snprintf(m.boot, sizeof(m.boot), "b1");
    m.seq = seq;
    m.ts_ms = 1700000000000LL + (int64_t)seq * 60000;
    m.interval_ms = 60000;
    vg_wire_msg_add_metric(&m, "cpu.user_pct", cpu, NULL, 0);
    vg_wire_msg_add_metric(&m, "mem.used_pct", 40 + (double)(seq % 7), NULL, 0);
    vg_wire_msg_add_metric(&m, "load.1m", 1 + (double)(seq % 3) / 10, NULL, 0);
    for (int i = 0; i < 2; i++)
        vg_engine_process(g_side[i].e, &m, NULL, NULL);
    struct vg_model_tick t = {m.host, NULL, m.ts_ms, m.metrics, m.n_metrics};
    char err[VG_ERRLEN];
    vg_models_update(g_ms, &t, err, sizeof(err));
    vg_wire_msg_free(&m);
}

static void on_blob(void *ud, const char *host, const struct vg_engine_blob *b)
{
    (void)ud;
    char err[VG_ERRLEN];
    vg_models_host_load(g_ms, host, b, err, sizeof(err));
}

/* Writes the host's record in side s as the state topic does (version-2 header); flags as
 * vg_engine_host_export's (the smaller record of a host too large for the topic). */
static void write_seed(const char *dir, int s, const char *name, unsigned flags)
{
    struct vg_engine_blob blobs[MAX_BLOBS];
    int nb = vg_models_host_save(g_ms, HOST, blobs, MAX_BLOBS);
    unsigned char *val = NULL;
    size_t len = 0;
    if (nb < 0 ||
        vg_engine_host_export(g_side[s].e, HOST, blobs, (size_t)nb, 16, flags, &val, &len) < 0)
        abort();
    vg_models_host_blobs_free(blobs, (size_t)nb);
    uint32_t h[3] = {2, 0, vg_ckpt_crc32(0, val + 16, len - 16)};
    memcpy(val, "VGST", 4);
    memcpy(val + 4, h, sizeof(h)); /* little-endian hosts, as the analyzer's */
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fz_write(path, val, len);
    free(val);
}

static void write_seeds(const char *dir)
{
    for (uint64_t q = 1; q <= 400; q++)
        tick(q, 20 + (double)(q % 5));
    write_seed(dir, 0, "ewma-quiet", 0);
    write_seed(dir, 1, "seasonal-quiet", 0);
    tick(401, 99); /* Busy fires, SlowBusy waits */
    write_seed(dir, 0, "ewma-firing", 0);
    write_seed(dir, 1, "seasonal-firing", 0);
    write_seed(dir, 1, "seasonal-firing-no-detector", VG_ENGINE_EXPORT_NO_DETECTOR);
    exit(0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setup();
    const char *dir = getenv("VG_FUZZ_STATE_SEEDS");
    if (dir)
        write_seeds(dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *v = fz_copy(data, size);
    if (size >= 16 && memcmp(v, "VGST", 4) == 0) {
        uint32_t crc = vg_ckpt_crc32(0, v + 16, size - 16);
        memcpy(v + 12, &crc, 4);
    }
    char err[VG_ERRLEN];
    struct vg_state_record r;
    if (vg_state_record_parse(v, size, &r, err, sizeof(err)) == 0) {
        int took = 0;
        for (int i = 0; i < 2; i++)
            took |= vg_engine_host_import(g_side[i].e, HOST, r.data, r.len, i ? NULL : on_blob,
                                          NULL, err, sizeof(err)) == 0;
        if (took) {
            /* Continue from what was accepted; sequence numbers stay ahead of any record's so
             * the ticks are not skipped as redeliveries (the boot may differ anyway). */
            tick(g_seq++, 20);
            tick(g_seq++, 95);
            tick(g_seq++, 20);
            /* A host state the mv model took must not make it score NaN: the fleet would start
             * the group fresh (vg_fleet.c, step_group), and a crash-free run would hide it. */
            struct vg_fleet_stats st;
            vg_model_mv_stats(vg_models_find(g_ms, "mv"), &st);
            if (st.model_resets) {
                fprintf(stderr, "fuzz_state: an accepted record made the mv model score NaN\n");
                abort();
            }
        }
    }
    free(v);
    return 0;
}
