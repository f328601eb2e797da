/* Little-endian binary records: a growing writer and a bounds-checked reader, shared by the
 * on-disk and on-Kafka state formats (host records, model blobs, the alert outbox), so that each
 * format only says what goes where.
 *
 * Both carry a sticky failure flag instead of returning codes from every call: a record is
 * written or read field by field, and checked once at the end. */
#ifndef VG_BYTES_H
#define VG_BYTES_H

#include <stddef.h>
#include <stdint.h>

/* Writer. Start from {0}, or from a malloc'd p with cap (and len = bytes reserved in front).
 * p is the caller's to free, also after a failure; bad is set when growing failed (or a format
 * refuses a field), and everything written after that is dropped. */
struct vg_bw {
    unsigned char *p;
    size_t len, cap;
    int bad;
};

void vg_bw_put(struct vg_bw *b, const void *src, size_t n);
/* The low `bytes` bytes of v (1..8), least significant first. */
void vg_bw_uint(struct vg_bw *b, uint64_t v, int bytes);
void vg_bw_f64(struct vg_bw *b, double d);
/* u16 length, then the bytes (no NUL); a string over 65535 bytes is cut there. */
void vg_bw_str16(struct vg_bw *b, const char *s);

/* Reader over len bytes at p (borrowed). bad is set by the first read past the end, and every
 * read after it returns NULL or 0. */
struct vg_br {
    const unsigned char *p;
    size_t len, off;
    int bad;
};

/* The next n bytes in place, or NULL. */
const unsigned char *vg_br_take(struct vg_br *r, size_t n);
uint64_t vg_br_uint(struct vg_br *r, int bytes);
double vg_br_f64(struct vg_br *r);

#endif
