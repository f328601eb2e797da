/* libFuzzer target for the agent's spool reader (agent/vg_spool.c): the segment files an earlier
 * run left in spool.dir, which a crash, a full disk or a bad disk may have cut or damaged.
 * vg_spool_open must take them over without reading past a record, count what it keeps, and
 * vg_spool_next must then hand out exactly that many records, each within the limits, before
 * saying the spool is empty.
 *
 * The input is up to four segment files, each a little-endian u16 length and that many bytes
 * (the last one takes whatever is left). Seeds: VG_FUZZ_SPOOL_SEEDS=DIR fuzz_spool writes a few
 * spools of real segments into DIR and exits; tests/fuzz/corpus/spool holds them. */
#include <dirent.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "vg_log.h"
#include "vg_spool.h"
#include "vg_util.h"

#define MAX_SEGS    4
#define FIRST_ID    (1ull << 40) /* the spool's own first segment id */
#define MAX_PAYLOAD (16u << 20)

static char g_dir[64];

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_spool: %s\n", what);
    abort();
}

/* Removes every file of dir (segments, and the spool's .lock). */
static void empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        fail("cannot open the spool directory");
    struct dirent *e;
    char path[600];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
}

/* One seed: the spool in g_dir after appending n records of the given sizes to segments of
 * seg_bytes, as the input format (length-prefixed segment files, oldest first). */
static void write_seed(const char *out_dir, const char *name, int n, size_t size,
                       uint64_t seg_bytes)
{
    empty_dir(g_dir);
    struct vg_spool_cfg cfg = {.dir = g_dir, .segment_bytes = seg_bytes};
    struct vg_spool *s;
    char err[VG_ERRLEN];
    if (vg_spool_open(&s, &cfg, err, sizeof(err)) != 0)
        fail(err);
    char *msg = malloc(size + 1);
    for (int i = 0; i < n; i++) {
        for (size_t k = 0; k < size; k++)
            msg[k] = (char)('a' + (i + k) % 26);
        if (vg_spool_append(s, 1700000000000LL + i, msg, size, err, sizeof(err)) != 0)
            fail(err);
    }
    free(msg);
    vg_spool_close(s);
    unsigned char *buf = NULL;
    size_t len = 0;
    for (int i = 0; i < MAX_SEGS; i++) {
        char path[600];
        snprintf(path, sizeof(path), "%s/%020" PRIu64 ".spool", g_dir, (uint64_t)(FIRST_ID + i));
        FILE *f = fopen(path, "rb");
        if (!f)
            break;
        unsigned char seg[65535];
        size_t got = fread(seg, 1, sizeof(seg), f);
        fclose(f);
        buf = realloc(buf, len + 2 + got);
        buf[len] = (unsigned char)(got & 0xff);
        buf[len + 1] = (unsigned char)(got >> 8);
        memcpy(buf + len + 2, seg, got);
        len += 2 + got;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", out_dir, name);
    fz_write(path, buf, len);
    free(buf);
}

static void remove_dir(void)
{
    empty_dir(g_dir);
    rmdir(g_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    vg_log_init("fuzz_spool", VG_LOG_ERROR, 0); /* damaged segments are logged by design */
    snprintf(g_dir, sizeof(g_dir), "/tmp/vigil-fuzz-spool.XXXXXX");
    if (!mkdtemp(g_dir))
        fail("mkdtemp");
    atexit(remove_dir);
    const char *dir = getenv("VG_FUZZ_SPOOL_SEEDS");
    if (dir) {
        write_seed(dir, "one-segment", 5, 12, 1 << 20);
        write_seed(dir, "three-segments", 21, 12, 200);
        write_seed(dir, "empty-and-large", 3, 300, 256);
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    empty_dir(g_dir);
    size_t off = 0;
    for (int i = 0; i < MAX_SEGS && off + 2 <= size; i++) {
        size_t n = (size_t)data[off] | (size_t)data[off + 1] << 8;
        off += 2;
        if (n > size - off || i == MAX_SEGS - 1)
            n = size - off;
        char path[600];
        snprintf(path, sizeof(path), "%s/%020" PRIu64 ".spool", g_dir, (uint64_t)(FIRST_ID + i));
        fz_write(path, data + off, n);
        off += n;
    }

    struct vg_spool_cfg cfg = {.dir = g_dir, .segment_bytes = 4096};
    struct vg_spool *s;
    char err[VG_ERRLEN];
    if (vg_spool_open(&s, &cfg, err, sizeof(err)) != 0)
        return 0; /* refused as a whole: nothing handed out */
    struct vg_spool_stats st;
    vg_spool_get_stats(s, &st);
    if (st.bytes > size)
        fail("the spool counts more bytes than its files hold");
    uint64_t got = 0, bytes = 0;
    void *buf;
    size_t len;
    uint64_t token;
    while (vg_spool_next(s, 0, &buf, &len, &token) == 1) {
        if (len > MAX_PAYLOAD || len > size)
            fail("a record longer than its segment");
        /* Every byte handed out must be readable (ASan). */
        volatile unsigned char sum = 0;
        for (size_t k = 0; k < len; k++)
            sum ^= ((unsigned char *)buf)[k];
        (void)sum;
        free(buf);
        vg_spool_delivered(s, token);
        got++;
        bytes += len;
        if (got > st.records)
            fail("more records handed out than the spool counted");
    }
    if (got != st.records)
        fail("fewer records handed out than the spool counted");
    if (bytes > st.bytes)
        fail("more payload handed out than the spool's bytes");
    vg_spool_close(s);
    return 0;
}
