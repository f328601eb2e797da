/* libFuzzer target for the YAML config parser: any bytes must give 0 or an error message of the
 * form "origin:line:col: ..." (or a plain message for a read failure), never a crash or a leak.
 * Each line of the input is then also a --set argument (vg_config_set_arg), and the record of
 * where each value came from (vg_config_where, vg_config_locate) is checked, and that a key with
 * choices never holds another value. */
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
    char *e;
};

#define OFF(f) offsetof(struct cfg, f)
VG_CFG_KEYS_BEGIN
static const struct vg_cfg_key keys[] = {
    {"s", VG_CFG_STRING, "x", OFF(s), 1, 0, NULL, ""},
    {"i", VG_CFG_INT, "1", OFF(i), 0, 100, NULL, ""},
    {"d", VG_CFG_DOUBLE, "0.5", OFF(d), 0, 1, NULL, ""},
    {"b", VG_CFG_BOOL, "true", OFF(b), 1, 0, NULL, ""},
    {"dur", VG_CFG_DURATION, "1s", OFF(dur), 0, 3600000, NULL, ""},
    {"size", VG_CFG_SIZE, "1MiB", OFF(size), 1, 0, NULL, ""},
    {"kafka", VG_CFG_MAP, NULL, OFF(map), 1, 0, NULL, ""},
    {"a.b.c", VG_CFG_STRING, NULL, OFF(nested), 1, 0, NULL, ""},
    {"e", VG_CFG_STRING, "one", OFF(e), 1, 0, NULL, "", "one|two|three"},
};
VG_CFG_KEYS_END
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
    /* Where each key came from: the file (placed), --set, or its default. */
    for (size_t i = 0; i < table.n; i++) {
        const char *w = vg_config_where(keys[i].name);
        if (w && strncmp(w, "f.yaml:", 7) != 0 && strcmp(w, "--set") != 0) {
            fprintf(stderr, "%s placed at '%s'\n", keys[i].name, w);
            abort();
        }
    }
    /* The same bytes, line by line, as --set arguments: 0 or an error that says --set. */
    const char *p = (const char *)data, *end = p + size;
    for (int n = 0; p < end && n < 8; n++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char arg[256];
        if (l < sizeof arg && !memchr(p, '\0', l)) {
            memcpy(arg, p, l);
            arg[l] = '\0';
            rc = vg_config_set_arg(&table, &c, arg, err, sizeof(err));
            if (rc != 0 && rc != -12 && strncmp(err, "--set", 5) != 0) {
                fprintf(stderr, "--set error without its origin: %s\n", err);
                abort();
            }
            if (rc != 0)
                vg_config_locate(err, sizeof(err));
        }
        p += l + 1;
    }
    /* Whatever was refused, a key with choices holds one of them. */
    if (strcmp(c.e, "one") != 0 && strcmp(c.e, "two") != 0 && strcmp(c.e, "three") != 0) {
        fprintf(stderr, "e holds '%s', not one of its choices\n", c.e);
        abort();
    }
    vg_config_free(&table, &c);
    return 0;
}
