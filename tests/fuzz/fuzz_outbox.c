/* libFuzzer target for the outbox's notification payloads (actions/vg_outbox.c): what a receiver
 * reads back from its <name>.outbox file after a restart, a record whose CRC matched but whose
 * contents another version, a bug or a bad disk wrote. vg_outbox_decode must refuse what is not
 * a payload and never read past it; what it accepts in the current version must encode back to
 * the very same bytes (the codec keeps every field exactly), so nothing is lost or changed in a
 * round trip.
 *
 * Seeds: VG_FUZZ_OUTBOX_SEEDS=DIR fuzz_outbox writes a few encoded notifications into DIR and
 * exits; tests/fuzz/corpus/outbox holds them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "vg_outbox.h"

static void write_seed(const char *dir, const char *name, const struct vg_notification *n)
{
    unsigned char *p = NULL;
    size_t len = 0;
    if (vg_outbox_encode(n, &p, &len) != 0)
        abort();
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fz_write(path, p, len);
    free(p);
}

static void write_seeds(const char *dir)
{
    static const char *const lk[] = {"env", "team"}, *const lv[] = {"prod", "db"};
    static const char *const ak[] = {"summary"}, *const av[] = {"disk full on db-1"};
    const struct vg_top_metric top[] = {{"disk.used_pct", 99.5, 0.7}, {"load.1m", 12, 0.2}};
    struct vg_notification n = {.status = "firing",
                                .alertname = "DiskFull",
                                .host = "db-1",
                                .series = "disk.used_pct",
                                .fingerprint = "0123456789abcdef",
                                .severity = "critical",
                                .score = 0.9995,
                                .value = 99.5,
                                .threshold = 0.999,
                                .starts_at_ms = 1700000000000LL,
                                .event_ts_ms = 1700000000000LL,
                                .accepted_ms = 1700000000123LL,
                                .label_keys = lk,
                                .label_values = lv,
                                .n_labels = 2,
                                .top_metrics = top,
                                .n_top_metrics = 2,
                                .annotation_keys = ak,
                                .annotation_values = av,
                                .n_annotations = 1,
                                .repeat = 3};
    write_seed(dir, "firing-full", &n);
    struct vg_notification r = {.status = "resolved", .host = "web-1", .series = "cpu.user_pct"};
    write_seed(dir, "resolved-sparse", &r);
    exit(0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("VG_FUZZ_OUTBOX_SEEDS");
    if (dir)
        write_seeds(dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *buf = fz_copy(data, size);
    struct vg_notification n;
    void *arrays = NULL;
    if (vg_outbox_decode(buf, size, &n, &arrays) == 0 && size && buf[0] == 2) {
        unsigned char *again = NULL;
        size_t len = 0;
        if (vg_outbox_encode(&n, &again, &len) != 0)
            abort();
        if (len != size || memcmp(again, buf, size) != 0)
            abort(); /* a payload of this version did not survive its round trip */
        free(again);
    }
    free(arrays);
    free(buf);
    return 0;
}
