/* libFuzzer target for the mv model's checkpoint files (model.dir/<group>.ckpt): the container
 * (detectors/vg_ckpt.c: magic, version, kind, sections, CRC), the model (vg_mv_load: parameters,
 * weights, Adam moments, hosts' windows and normalisers, ages) and the fleet's group file
 * (analyzer/vg_fleet.c: group name, metric and host lists, host calibrations), loaded the way an
 * analyzer resumes at start (vg_fleet_load over a directory). When a group was resumed, its
 * hosts take two ticks, since what a checkpoint gives must be a model that can go on.
 *
 * Input: one file. When it is long enough to hold a trailer, its CRC (the last 4 bytes) is
 * recomputed first, so that mutations reach the sections rather than stop at the checksum: a
 * file with a good checksum and bad contents (another version's, a bug's) is what the readers
 * must refuse. Nothing may crash, leak or touch memory it does not own, and no resumed group may
 * score NaN (the fleet would start it fresh: counted, and checked here).
 *
 * Seeds: VG_FUZZ_CKPT_SEEDS=DIR fuzz_ckpt writes the checkpoint of a small group into DIR and
 * exits; tests/fuzz/corpus/ckpt holds it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "vg_ckpt.h"
#include "vg_fleet.h"
#include "vg_fleet_ckpt.h"
#include "vg_k.h"
#include "vg_log.h"
#include "vg_util.h"

static struct vg_k g_k;
static char g_dir[256];
static const char *const NAMES[] = {"cpu.user_pct", "mem.used_pct", "load.1m"};
#define NM 3

static struct vg_fleet_params params(const char *dir)
{
    struct vg_fleet_params p = {
        .dir = dir, .max_metrics = 8, .max_hosts = 8, .max_groups = 2, .train = 1, .host_score = 1};
    vg_mv_params_default(&p.mv, 1);
    p.mv.window = 4;
    p.mv.hidden[0] = 8;
    p.mv.hidden[1] = 4;
    vg_hscore_defaults(&p.hs);
    return p;
}

static void put(struct vg_fleet *f, const char *host, uint64_t t)
{
    struct vg_metric m[NM];
    for (int j = 0; j < NM; j++) {
        m[j].name = NAMES[j];
        m[j].value = 10 * (j + 1) + (double)((t * 7 + (uint64_t)j) % 5);
    }
    char err[VG_ERRLEN];
    vg_fleet_put(f, "web", host, m, NM, err, sizeof(err));
}

static void remove_dir(void)
{
    rmdir(g_dir);
}

static void write_seeds(const char *dir)
{
    struct vg_fleet_params p = params(dir);
    struct vg_fleet *f;
    char err[VG_ERRLEN];
    if (vg_fleet_new(&f, &p, &g_k, NULL, NULL, err, sizeof(err)) != 0)
        abort();
    for (uint64_t t = 0; t < 300; t++) {
        put(f, "web-1", t);
        put(f, "web-2", t);
        vg_fleet_step(f, err, sizeof(err));
    }
    if (vg_fleet_save(f, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_ckpt seeds: %s\n", err);
        exit(1);
    }
    vg_fleet_free(f);
    exit(0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    vg_log_init("fuzz_ckpt", VG_LOG_ERROR, 0); /* refused checkpoints are logged by design */
    char err[VG_ERRLEN];
    vg_k_cpu_set_threads(1);
    if (vg_k_open(&g_k, "cpu", err, sizeof(err)) != 0)
        abort();
    const char *seeds = getenv("VG_FUZZ_CKPT_SEEDS");
    if (seeds)
        write_seeds(seeds);
    /* The fleet reads a directory; one in memory-backed /dev/shm when there is one. */
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(g_dir, sizeof(g_dir), "%s/vigil-fuzz-ckpt.%d", base, (int)getpid());
    if (mkdir(g_dir, 0700) != 0)
        abort();
    atexit(remove_dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *v = fz_copy(data, size);
    if (size >= 20) {
        uint32_t crc = vg_ckpt_crc32(0, v, size - 4);
        memcpy(v + size - 4, &crc, 4);
    }
    char path[512];
    snprintf(path, sizeof(path), "%s/web.ckpt", g_dir);
    fz_write(path, v, size);
    free(v);

    struct vg_fleet_params p = params(g_dir);
    struct vg_fleet *f;
    char err[VG_ERRLEN];
    if (vg_fleet_new(&f, &p, &g_k, NULL, NULL, err, sizeof(err)) != 0)
        abort();
    if (vg_fleet_load(f, err, sizeof(err)) > 0)
        for (uint64_t t = 0; t < 2; t++) {
            put(f, "web-1", t);
            put(f, "web-2", t);
            vg_fleet_step(f, err, sizeof(err));
        }
    /* A checkpoint that was taken must not make the group score NaN: the fleet would start it
     * fresh (vg_fleet.c, step_group), and a crash-free run would hide it. */
    struct vg_fleet_stats st;
    vg_fleet_get_stats(f, &st);
    if (st.model_resets) {
        fprintf(stderr, "fuzz_ckpt: a resumed group scored NaN\n");
        abort();
    }
    vg_fleet_free(f);
    unlink(path);
    return 0;
}
