/* libFuzzer target for the YAML config parser: any bytes must give 0 or an error message of the
 * form "origin:line:col: ..." (or a plain message for a read failure), never a crash or a leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_config.h"
#include "vg_util.h"

struct cfg {
    char *s;
    int64_t i;
    double d;
    int b;
    int64_t dur;
    int64_t size;
    struct vg_kvlist map;
    char *nested;
};

#define OFF(f) offsetof(struct cfg, f)
static const struct vg_cfg_key keys[] = {
    {"s", VG_CFG_STRING, "x", OFF(s), 1, 0, NULL, ""},
    {"i", VG_CFG_INT, "1", OFF(i), 0, 100, NULL, ""},
    {"d", VG_CFG_DOUBLE, "0.5", OFF(d), 0, 1, NULL, ""},
    {"b", VG_CFG_BOOL, "true", OFF(b), 1, 0, NULL, ""},
    {"dur", VG_CFG_DURATION, "1s", OFF(dur), 0, 3600000, NULL, ""},
    {"size", VG_CFG_SIZE, "1MiB", OFF(size), 1, 0, NULL, ""},
    {"kafka", VG_CFG_MAP, NULL, OFF(map), 1, 0, NULL, ""},
    {"a.b.c", VG_CFG_STRING, NULL, OFF(nested), 1, 0, NULL, ""},
};
static const struct vg_config_table table = {keys, sizeof(keys) / sizeof(keys[0])};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cfg c = {0};
    char err[VG_ERRLEN] = "";
    if (vg_config_defaults(&table, &c, err, sizeof(err)) != 0)
        abort();
    int rc =
        vg_config_load_buffer(&table, &c, "f.yaml", (const char *)data, size, err, sizeof(err));
    if (rc != 0 && rc != -12 /* ENOMEM */ && strncmp(err, "f.yaml:", 7) != 0) {
        fprintf(stderr, "error without position: %s\n", err);
        abort();
    }
    vg_config_free(&table, &c);
    return 0;
}
