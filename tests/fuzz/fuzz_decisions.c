/* libFuzzer target for the scaling-decision records read from the decisions topic
 * (analyzer/vg_decision_record.c: what vg_decisions follows live and reads back at a restart).
 * The records are anyone's bytes; whatever vg_decision_record_parse accepts must be a record a
 * follower can use as it is: its target the record's key, every count within [0, INT32_MAX]
 * (or -1 for an optional one left out), every string terminated within its field.
 *
 * The input is one record: a byte giving the key's length, the key, then the payload. Seeds:
 * VG_FUZZ_DECISIONS_SEEDS=DIR fuzz_decisions writes a few into DIR and exits;
 * tests/fuzz/corpus/decisions holds them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "vg_decision_record.h"
#include "vg_util.h"

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_decisions: %s\n", what);
    abort();
}

static void write_seed(const char *dir, const char *name, const char *key, const char *payload)
{
    size_t kl = strlen(key), pl = strlen(payload);
    unsigned char *buf = malloc(1 + kl + pl);
    buf[0] = (unsigned char)kl;
    memcpy(buf + 1, key, kl);
    memcpy(buf + 1 + kl, payload, pl);
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fz_write(path, buf, 1 + kl + pl);
    free(buf);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("VG_FUZZ_DECISIONS_SEEDS");
    if (!dir)
        return 0;
    write_seed(dir, "followed", "web",
               "{\"target\":\"web\",\"desired\":4,\"current\":3,\"min\":1,\"max\":20,"
               "\"metric\":63.5,\"hosts\":10,\"changed\":true,\"reason\":\"metric 63.5 above "
               "target 60 on 10 hosts\",\"time\":\"2023-11-14T22:13:20Z\",\"time_ms\":"
               "1700000000000,\"changed_at_ms\":1699999990000,\"recommended\":5,"
               "\"decided_by\":\"analyzer-1/4242\",\"fleet\":true}");
    write_seed(dir, "not-evaluated", "db",
               "{\"target\":\"db\",\"desired\":2,\"current\":2,\"min\":1,\"max\":4,\"metric\":null,"
               "\"hosts\":0,\"changed\":false,\"reason\":\"not evaluated yet: no data\","
               "\"time\":null,\"time_ms\":null,\"changed_at_ms\":null,\"recommended\":null,"
               "\"decided_by\":null,\"fleet\":false}");
    write_seed(dir, "out-of-range", "web",
               "{\"target\":\"web\",\"desired\":1,\"time_ms\":5,\"recommended\":4294967297,"
               "\"current\":-1,\"hosts\":1e30}");
    exit(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || (size_t)data[0] + 1 > size)
        return 0;
    size_t kl = data[0];
    unsigned char *key = fz_copy(data + 1, kl);
    unsigned char *payload = fz_copy(data + 1 + kl, size - 1 - kl);
    struct vg_decision_record r;
    char err[VG_ERRLEN];
    int rc =
        vg_decision_record_parse(kl ? key : NULL, kl, payload, size - 1 - kl, &r, err, sizeof(err));
    if (rc == 0) {
        if (strnlen(r.target, sizeof(r.target)) != kl || memcmp(r.target, key, kl) != 0)
            fail("accepted a record whose target is not its key");
        if (r.desired < 0 || r.recommended < -1 || r.current < -1 || r.hosts < -1 ||
            r.hosts > INT32_MAX)
            fail("accepted a count out of range");
        if (strnlen(r.reason, sizeof(r.reason)) == sizeof(r.reason) ||
            strnlen(r.decided_by, sizeof(r.decided_by)) == sizeof(r.decided_by))
            fail("a string not terminated within its field");
    } else if (rc != -22 /* EINVAL */ || !err[0]) {
        fail("refused without a reason");
    }
    free(key);
    free(payload);
    return 0;
}
