/* Helpers the fuzz targets share: a private copy of an input, and writing bytes to a file (seeds,
 * or an input that the code under test reads from a path). Header-only, so each target stays one
 * translation unit with the code it instruments. */
#ifndef VG_FUZZ_UTIL_H
#define VG_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

#endif
