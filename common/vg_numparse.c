/* Decimal to double, correctly rounded, without strtod() for the numbers agents write.
 *
 * The number is read as w * 10^q with w the first 19 significant digits (w < 10^19 < 2^64), then:
 * 1. Clinger's fast path (W. D. Clinger, "How to Read Floating Point Numbers Accurately", 1990):
 *    w <= 2^53 and |q| <= 22 make w and 10^|q| exact doubles, so one IEEE multiplication or
 *    division is the correctly rounded result.
 * 2. The Eisel-Lemire algorithm (D. Lemire, "Number Parsing at a Gigabyte per Second", Software:
 *    Practice and Experience, 2021; N. Tao's walk-through "The Eisel-Lemire ParseNumberF64
 *    Algorithm", 2020): w, normalised, times a 128-bit truncation of 5^q gives the leading bits of
 *    the exact product, and hence the double, unless the truncation leaves the rounding
 *    undecided; then we fall back. The fallback conditions here follow from this file's own table
 *    (every entry rounded down) rather than the paper's (see el_compute()).
 * 3. More than 19 significant digits: w and w + 1 bracket the value; if both round to the same
 *    double, that is it.
 * 4. Anything else goes to strtod() itself: roundings the truncated table cannot settle (ties
 *    with 1 to 4 decimals, e.g. 4503599627370497.5, and a 2^-73 chance otherwise) and long
 *    numbers whose dropped digits decide the rounding. */
#include "vg_numparse.h"

#include <errno.h>
#include <float.h>
#include <stdlib.h>
#include <string.h>

__extension__ typedef unsigned __int128 u128;

#define MAX_DIGITS 19 /* 10^19 - 1 < 2^64 */

static bool is_digit(unsigned char c)
{
    return (unsigned char)(c - '0') < 10;
}

static double bits_to_double(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

/* The correctly rounded bits of w * 10^q in *bits (no sign), or false when undecided.
 * Needs w != 0 and q within the table.
 *
 * Why the checks suffice. Let X be the exact w * 5^q scaled as P is, and P the 128-bit value
 * computed, floor(w * (hi:lo) / 2^64). Every table entry is rounded down, so P <= X < P + 2; where
 * the entry is exact (0 <= q <= 55: 5^q has at most 128 bits), P <= X < P + 1, and for
 * 0 <= q <= 27 (5^q in 64 bits, lo = 0) P = X. The double changes only where X crosses a halfway
 * point H between two doubles, an integer in P's units whose bits below the rounding bit are all
 * zero. So reading the rounding off P can only be wrong when
 *  - H = P + 1 <= X: P's rounding bit is 0 and the bits below it all ones (so are the low 9 bits
 *    of the high word and the whole low word); undecided unless the entry is exact. (With a
 *    rounding bit of 1 instead, P + 1 is a double, which all of [P, P + 2) rounds to: the exact
 *    decimal of a double, e.g. 2344696837708303.5, lands there.) Subnormals round at a higher
 *    bit; for them any such P is left undecided;
 *  - H = P: if the entry is exact and lo = 0 (q <= 27), X = H, a tie, rounded to even; otherwise
 *    the entry is short of 5^q, so X > P = H, and rounding up is right. (A tie with an inexact
 *    entry, possible for -4 <= q < 0, lands on P = H - 1: the case above, undecided.)
 * With only the first 64x64 product, P is short by less than 2^64, which moves its high word by at
 * most one and so changes nothing above its low 9 bits unless they are all ones: then the second
 * product is added. */
static bool el_compute(uint64_t w, int64_t q, uint64_t *bits)
{
    const struct vg_num_pow5 *t = &vg_num_pow5[q - VG_NUM_POW5_MIN];
    int lz = __builtin_clzll(w);
    w <<= lz;
    u128 p = (u128)w * t->hi;
    uint64_t hi = (uint64_t)(p >> 64), lo = (uint64_t)p;
    if ((hi & 0x1FF) == 0x1FF) {
        uint64_t add = (uint64_t)(((u128)w * t->lo) >> 64);
        lo += add;
        hi += lo < add;
    }
    /* P's low 73 bits all ones, and the entry not exact: P + 1 may be a halfway point */
    bool near = (hi & 0x1FF) == 0x1FF && lo == UINT64_MAX && !(q >= 0 && q <= 55);

    int upper = (int)(hi >> 63);
    int shift = 9 + upper; /* leaves 54 bits: 53 of mantissa and the rounding bit */
    uint64_t m = hi >> shift;
    /* w * 10^q ~ P * 2^(64 + q + e2 - lz), and the double's biased exponent follows from where P's
     * leading bit is: 1023 + 52 + 1 + 64 + 9 + 64 = 1213. */
    int64_t e = 1213 + upper + q + t->e2 - lz;

    if (e <= 0) {
        /* Subnormal: round at a higher bit. Ties are impossible this small (q < -300). */
        if (near)
            return false;
        int sh = (int)(1 - e);
        if (sh >= 64) {
            *bits = 0;
            return true;
        }
        m >>= sh;
        m += m & 1;
        m >>= 1;
        *bits = m; /* m == 2^52 is the smallest normal, exponent field 1 */
        return true;
    }
    /* All ones below a rounding bit of 0: P + 1 is a halfway point. (Below a rounding bit of 1,
     * P + 1 is the double P rounds to, and so is anything in [P, P + 2).) */
    uint64_t below = (UINT64_C(1) << shift) - 1;
    if (near && (hi & below) == below && !(m & 1))
        return false;
    if (q >= 0 && q <= 27 && lo == 0 && (hi & below) == 0 && (m & 3) == 1)
        m &= ~UINT64_C(1); /* an exact tie: to even, which is down here */
    m += m & 1;
    m >>= 1;
    if (m >> 53) { /* rounding carried into a new bit */
        m >>= 1;
        e++;
    }
    if (e >= 0x7FF) {
        *bits = UINT64_C(0x7FF) << 52;
        return true;
    }
    *bits = ((uint64_t)e << 52) | (m & ((UINT64_C(1) << 52) - 1));
    return true;
}

/* w * 10^q rounded, w < 2^64, or false when undecided. */
static bool to_bits(uint64_t w, int64_t q, uint64_t *bits)
{
    static const double exact10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    if (w == 0 || q < VG_NUM_POW5_MIN) {
        /* Below 10^-342, even 2^64 * 10^q is under half the smallest subnormal. */
        *bits = 0;
        return true;
    }
    if (q > VG_NUM_POW5_MAX) {
        *bits = UINT64_C(0x7FF) << 52;
        return true;
    }
#if FLT_EVAL_METHOD == 0 /* one rounding per operation, in double */
    if (w <= (UINT64_C(1) << 53) && q >= -22 && q <= 22) {
        double d = (double)w;
        d = q < 0 ? d / exact10[-q] : d * exact10[q];
        memcpy(bits, &d, sizeof(d));
        return true;
    }
#else
    (void)exact10;
#endif
    return el_compute(w, q, bits);
}

static int via_strtod(const char *p, size_t len, double *d)
{
    char small[128];
    char *c = len < sizeof(small) ? small : malloc(len + 1);
    if (!c)
        return -ENOMEM;
    memcpy(c, p, len);
    c[len] = '\0';
    char *stop;
    *d = strtod(c, &stop);
    /* Only a locale with another decimal point reads less than the token. */
    int rc = stop == c + len ? 0 : -EINVAL;
    if (c != small)
        free(c);
    return rc;
}

/* Eight digits at a time where eight are there and fit in w: most of a 17-digit value in two
 * steps instead of sixteen. The bytes are read little-endian, so byte 0 is the leading digit. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static bool take8(const char **sp, const char *end, uint64_t *w, int *nd)
{
    uint64_t v;
    if (end - *sp < 8 || *nd > MAX_DIGITS - 8)
        return false;
    memcpy(&v, *sp, 8);
    /* every byte 0x30..0x39: high nibble 3, and still 3 after adding 6 */
    if (((v & 0xF0F0F0F0F0F0F0F0u) | (((v + 0x0606060606060606u) & 0xF0F0F0F0F0F0F0F0u) >> 4)) !=
        0x3333333333333333u)
        return false;
    v -= 0x3030303030303030u;
    v = v * 10 + (v >> 8); /* bytes 0, 2, 4, 6: the pairs d0d1, d2d3, d4d5, d6d7 (each <= 99) */
    /* d0d1 * 10^6 + d4d5 * 10^2 and d2d3 * 10^4 + d6d7 land in bits 32..63 of the sums */
    uint64_t a = (v & 0x000000FF000000FFu) * (100 + (UINT64_C(1000000) << 32));
    uint64_t b = ((v >> 16) & 0x000000FF000000FFu) * (1 + (UINT64_C(10000) << 32));
    *w = *w * 100000000 + ((a + b) >> 32);
    *nd += 8;
    *sp += 8;
    return true;
}
#else
static bool take8(const char **sp, const char *end, uint64_t *w, int *nd)
{
    (void)sp, (void)end, (void)w, (void)nd;
    return false;
}
#endif

int vg_num_parse(const char *p, const char *end, struct vg_num *n, const char **stop)
{
    const char *s = p;
    bool neg = s < end && *s == '-';
    s += neg;
    if (s >= end || !is_digit((unsigned char)*s))
        return -EINVAL;

    uint64_t w = 0;
    int nd = 0;           /* significant digits in w */
    int64_t q = 0;        /* the value is w * 10^q, give or take the digits dropped */
    bool dropped = false; /* a non-zero digit did not fit in w */
    if (*s == '0') {
        s++;
    } else {
        /* No leading zeros here: every digit is significant. */
        while (take8(&s, end, &w, &nd))
            ;
        for (; s < end && is_digit((unsigned char)*s); s++) {
            if (nd < MAX_DIGITS) {
                w = w * 10 + (uint64_t)(*s - '0');
                nd++;
            } else {
                q++;
                dropped |= *s != '0';
            }
        }
    }
    n->is_int = true;
    if (end - s >= 2 && *s == '.' && is_digit((unsigned char)s[1])) {
        n->is_int = false;
        s++;
        if (w == 0)
            for (; s < end && *s == '0'; s++)
                q--;
        while (take8(&s, end, &w, &nd))
            q -= 8;
        for (; s < end && is_digit((unsigned char)*s); s++) {
            if (nd < MAX_DIGITS) {
                w = w * 10 + (uint64_t)(*s - '0');
                nd++;
                q--;
            } else {
                dropped |= *s != '0';
            }
        }
    }
    if (s < end && (*s == 'e' || *s == 'E')) {
        const char *x = s + 1;
        bool eneg = x < end && *x == '-';
        if (x < end && (*x == '-' || *x == '+'))
            x++;
        if (x < end && is_digit((unsigned char)*x)) {
            n->is_int = false;
            int64_t ev = 0;
            for (; x < end && is_digit((unsigned char)*x); x++)
                if (ev < 1000000000) /* far past any double; keeps q from overflowing */
                    ev = ev * 10 + (*x - '0');
            q += eneg ? -ev : ev;
            s = x;
        }
    }
    *stop = s;

    if (n->is_int) {
        /* JSON integers have no leading zeros, so more than 19 digits is past 2^63. */
        uint64_t lim = neg ? UINT64_C(1) << 63 : (UINT64_C(1) << 63) - 1;
        n->i_range = q == 0 && w <= lim;
        uint64_t v = n->i_range ? w : lim;
        n->i = neg ? (v == UINT64_C(1) << 63 ? INT64_MIN : -(long long)v) : (long long)v;
    } else {
        n->i = 0;
        n->i_range = false;
    }

    uint64_t bits, hi;
    if (!dropped ? to_bits(w, q, &bits)
                 : to_bits(w, q, &bits) && to_bits(w + 1, q, &hi) && bits == hi) {
        n->d = bits_to_double(bits | ((uint64_t)neg << 63));
        return 0;
    }
    return via_strtod(p, (size_t)(s - p), &n->d);
}
