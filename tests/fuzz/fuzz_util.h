/* Helpers the fuzz targets share: a private copy of an input, writing bytes to a file (seeds,
 * or an input that the code under test reads from a path), and a scratch directory for such
 * files. Header-only, so each target stays one translation unit with the code it instruments. */
#ifndef VG_FUZZ_UTIL_H
#define VG_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A malloc'd copy of exactly size bytes (the caller frees it), so that ASan sees any read past
 * the input and the target may patch it (a checksum) without touching libFuzzer's buffer. */
static inline unsigned char *fz_copy(const uint8_t *data, size_t size)
{
    unsigned char *v = malloc(size ? size : 1);
    if (!v)
        abort();
    memcpy(v, data, size);
    return v;
}

/* Writes len bytes to path, replacing it; exits with the reason on failure. */
static inline void fz_write(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* A target's scratch directory and the files in it that fz_scratch_clear removes. */
struct fz_scratch {
    char dir[64];
    char files[8][200];
    size_t n;
};

/* The one scratch directory of the run (a function's static, so that a target without one
 * carries no unused variable). */
static inline struct fz_scratch *fz_scratch(void)
{
    static struct fz_scratch s;
    return &s;
}

/* Removes every file fz_scratch_file named, so that an input starts from none of them. */
static inline void fz_scratch_clear(void)
{
    struct fz_scratch *s = fz_scratch();
    for (size_t i = 0; i < s->n; i++)
        unlink(s->files[i]);
}

static inline void fz_scratch_remove(void)
{
    fz_scratch_clear();
    rmdir(fz_scratch()->dir);
}

/* Makes the scratch directory vigil-fuzz-<name>.XXXXXX, removed with its files at exit; aborts
 * when it cannot. In /dev/shm where it can: the code under test fsyncs what it writes, and on
 * tmpfs a sync is a no-op, so that a run is bounded by the code rather than the disk; else in
 * /tmp. */
static inline void fz_scratch_make(const char *name)
{
    struct fz_scratch *s = fz_scratch();
    snprintf(s->dir, sizeof s->dir, "%s/vigil-fuzz-%s.XXXXXX",
             access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp", name);
    if (!mkdtemp(s->dir)) {
        perror("mkdtemp");
        abort();
    }
    atexit(fz_scratch_remove);
}

/* The path of name in the scratch directory (valid to the end of the run), a file that
 * fz_scratch_clear removes. */
static inline const char *fz_scratch_file(const char *name)
{
    struct fz_scratch *s = fz_scratch();
    if (s->n == sizeof s->files / sizeof s->files[0])
        abort();
    snprintf(s->files[s->n], sizeof s->files[0], "%s/%s", s->dir, name);
    return s->files[s->n++];
}

#endif
