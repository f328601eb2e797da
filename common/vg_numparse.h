/* JSON numbers to doubles, bit for bit what strtod() returns, without strtod() in the common case.
 *
 * The wire decoder reads 17-significant-digit values (the agent writes "%.17g"), on which glibc's
 * strtod() is slow. vg_num_parse() converts them with Clinger's fast path or the Eisel-Lemire
 * algorithm (docs/dependencies.md, "Written by hand"), and hands strtod() whatever it cannot prove
 * correctly rounded, so the result never differs from strtod()'s.
 *
 * Assumes what the daemons run with: round-to-nearest (the default; nothing changes it) and the C
 * locale (nothing calls setlocale()), under which strtod() reads '.' as the decimal point. */
#ifndef VG_NUMPARSE_H
#define VG_NUMPARSE_H

#include <stdbool.h>
#include <stdint.h>

struct vg_num {
    double d;     /* the token's value as strtod() reads it: same bits, ±HUGE_VAL on overflow,
                     ±0 or a subnormal on underflow, -0.0 for "-0" */
    long long i;  /* is_int only: the value as strtoll() reads it, clamped to LLONG_MIN/MAX */
    bool is_int;  /* no fraction and no exponent: an integer to JSON parsers such as jansson */
    bool i_range; /* is_int and the value fits a long long (strtoll() would not set ERANGE) */
};

/* Reads the longest prefix of [p, end) that is a JSON number,
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, into *n and points *stop just past it; what
 * follows is the caller's to check (e.g. that "01" or "1." is not a number of its grammar).
 * Needs no NUL terminator. Returns 0, -EINVAL when p does not start with a JSON number, or -ENOMEM
 * when a token too long for the stack could not be copied for strtod(). */
int vg_num_parse(const char *p, const char *end, struct vg_num *n, const char **stop);

/* The table of 128-bit powers of five, 5^q for VG_NUM_POW5_MIN <= q <= VG_NUM_POW5_MAX, generated
 * at build time by vg_numparse_gen.c; internal to vg_numparse.c, declared here so both agree on it.
 * hi:lo is 5^q scaled by 2^-e2 into [2^127, 2^128), truncated (rounded down): 5^q ~ hi:lo * 2^e2.
 */
struct vg_num_pow5 {
    uint64_t hi, lo;
    int32_t e2;
};

#define VG_NUM_POW5_MIN (-342)
#define VG_NUM_POW5_MAX 308

extern const struct vg_num_pow5 vg_num_pow5[VG_NUM_POW5_MAX - VG_NUM_POW5_MIN + 1];

#endif
