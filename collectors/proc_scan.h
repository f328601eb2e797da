/* Scanning /proc text held in a byte range that may contain anything (a truncated file, an odd
 * kernel, a fuzzer's bytes): nothing here relies on NUL termination, reads past end, or
 * allocates. Numbers are parsed by hand because strtoull needs a terminator and accepts signs,
 * spaces and hex that no /proc field uses.
 */
#ifndef VG_PROC_SCAN_H
#define VG_PROC_SCAN_H

#include <stddef.h>
#include <stdint.h>

/* A view of bytes [p, end). */
struct vg_span {
    const char *p;
    const char *end;
};

struct vg_scan {
    const char *p;
    const char *end;
    unsigned line; /* 1-based number of the line last returned, for error messages */
};

void vg_scan_init(struct vg_scan *s, const char *buf, size_t len);

/* Sets *line to the next line without its '\n'. Returns 1, or 0 at the end of the buffer. */
int vg_scan_line(struct vg_scan *s, struct vg_span *line);

/* Sets *word to the next run of non-blank bytes in *line (blank: space, tab, CR) and advances past
 * it. Returns 1, or 0 when only blanks remain. */
int vg_span_word(struct vg_span *line, struct vg_span *word);

/* Parses the next word of *line as a decimal unsigned integer (digits only). Returns 0, -ENODATA
 * when no word is left, -EINVAL when the word is not a number or does not fit in 64 bits. */
int vg_span_u64(struct vg_span *line, uint64_t *v);

/* Parses word (whole) as a decimal unsigned integer; same codes as vg_span_u64 bar -ENODATA. */
int vg_word_u64(struct vg_span word, uint64_t *v);

/* Parses word (whole) as an unsigned decimal with an optional fraction ("0.42", "12"). Returns 0
 * or -EINVAL (also for more than 15 digits in all or 9 after the point). */
int vg_word_decimal(struct vg_span word, double *v);

/* 1 when word is exactly the NUL-terminated string s. */
int vg_word_is(struct vg_span word, const char *s);

#endif
