/* vg_num_parse against glibc's strtod()/strtoll(), bit for bit: random doubles in the forms
 * printf writes, random decimal strings, exact halfway points between doubles and their
 * neighbours, the ends of the double range, long digit strings, and the token grammar. */
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vg_numparse.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    /* splitmix64: a fixed sequence, so a failure reproduces. */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double from_bits(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof(d));
    return d;
}

static uint64_t to_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof(b));
    return b;
}

/* Any finite double, all bit patterns equally likely. */
static double rnd_double(void)
{
    for (;;) {
        double d = from_bits(rnd());
        if (isfinite(d))
            return d;
    }
}

static long checked;

/* s is a whole JSON number: vg_num_parse reads all of it, with strtod's bits and, for integers,
 * strtoll's value and range. */
static void expect_like_libc(const char *s)
{
    size_t len = strlen(s);
    struct vg_num n;
    const char *stop = NULL;
    int rc = vg_num_parse(s, s + len, &n, &stop);
    if (rc != 0 || stop != s + len)
        fail_msg("'%s': rc %d, read %td of %zu bytes", s, rc, stop ? stop - s : -1, len);
    char *end;
    double want = strtod(s, &end);
    assert_ptr_equal(end, s + len);
    if (to_bits(n.d) != to_bits(want))
        fail_msg("'%s': got %a (%016llx), strtod %a (%016llx)", s, n.d,
                 (unsigned long long)to_bits(n.d), want, (unsigned long long)to_bits(want));
    bool is_int = strpbrk(s, ".eE") == NULL;
    assert_int_equal(n.is_int, is_int);
    if (is_int) {
        errno = 0;
        long long i = strtoll(s, &end, 10);
        bool range = errno != ERANGE;
        if (n.i != i || n.i_range != range)
            fail_msg("'%s': got %lld (in range %d), strtoll %lld (in range %d)", s, n.i, n.i_range,
                     i, range);
    }
    checked++;
}

static void random_doubles_in_printf_forms_match_strtod(void **state)
{
    (void)state;
    char buf[64];
    /* %.17g is what the agent writes (jansson's real format). */
    for (int i = 0; i < 1000000; i++) {
        double d = (i & 1) ? rnd_double() : (double)(rnd() >> 11) * 0x1p-53 * pow(10, i % 14 - 4);
        snprintf(buf, sizeof(buf), "%.17g", d);
        expect_like_libc(buf);
    }
    static const char *const fmts[] = {"%.15g", "%.6g", "%.16g", "%.19e", "%.3f", "%.25g"};
    for (size_t f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++)
        for (int i = 0; i < 150000; i++) {
            double d = (i & 1) ? rnd_double() : (double)(rnd() >> 11) * 0x1p-40;
            if (strcmp(fmts[f], "%.3f") == 0 && fabs(d) > 1e30)
                continue;
            snprintf(buf, sizeof(buf), fmts[f], d);
            expect_like_libc(buf);
        }
}

/* Decimal strings no printf would write: 1..40 random digits (the first non-zero), a point
 * anywhere or none, an exponent of any sign and size or none. */
static void random_decimal_strings_match_strtod(void **state)
{
    (void)state;
    char buf[128];
    for (int i = 0; i < 600000; i++) {
        uint64_t r = rnd();
        size_t o = 0;
        if (r & 1)
            buf[o++] = '-';
        int nd = 1 + (int)((r >> 1) % 40);
        int point = (int)((r >> 8) % (unsigned)(nd + 1)); /* digits before the point */
        if (point == 0)
            buf[o++] = '0';
        for (int k = 0; k < nd; k++) {
            if (k == point && point > 0)
                buf[o++] = '.';
            if (k == 0 && point == 0)
                buf[o++] = '.';
            unsigned digit = (unsigned)(rnd() % 10);
            if (k == 0 && point > 0 && digit == 0)
                digit = 1; /* no leading zeros in JSON */
            /* runs of zeros and nines, where roundings are close */
            if ((r >> 16) % 4 == 0 && k > 2)
                digit = (r >> 20) & 1 ? 0 : 9;
            buf[o++] = (char)('0' + digit);
        }
        if ((r >> 24) % 3) {
            buf[o++] = (r >> 26) & 1 ? 'e' : 'E';
            if ((r >> 27) % 3 == 1)
                buf[o++] = '-';
            else if ((r >> 27) % 3 == 2)
                buf[o++] = '+';
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%d", (int)((r >> 32) % 700));
        }
        buf[o] = '\0';
        expect_like_libc(buf);
    }
}

/* The exact decimal of the point halfway between d and the next double up, written with %Le
 * from a long double (64-bit mantissa: the midpoint is exact there), trailing zeros dropped. */
static size_t midpoint_digits(double d, char *buf, size_t cap)
{
    long double mid = ((long double)d + (long double)nextafter(d, INFINITY)) / 2;
    int len = snprintf(buf, cap, "%.*Le", 800, mid);
    assert_true(len > 0 && (size_t)len < cap);
    char *e = strchr(buf, 'e');
    char exp[16];
    snprintf(exp, sizeof(exp), "%s", e);
    char *z = e;
    while (z[-1] == '0')
        z--;
    if (z[-1] == '.')
        z--;
    return (size_t)(z - buf) + (size_t)sprintf(z, "%s", exp);
}

/* Adds delta (+1 or -1) to the last mantissa digit of a %e string, borrowing/carrying. */
static void nudge_last_digit(char *s, int delta)
{
    char *p = strchr(s, 'e') - 1;
    for (; p >= s; p--) {
        if (*p == '.')
            continue;
        if (delta > 0 && *p == '9') {
            *p = '0';
            continue;
        }
        if (delta < 0 && *p == '0') {
            *p = '9';
            continue;
        }
        *p = (char)(*p + delta);
        return;
    }
}

static void halfway_points_and_their_neighbours_match_strtod(void **state)
{
    (void)state;
#if LDBL_MANT_DIG < 64
    skip(); /* needs a long double that holds the midpoint of two doubles exactly */
#endif
    char buf[1024], v[1024];
    for (int i = 0; i < 30000; i++) {
        double d;
        switch (i % 4) {
        case 0: /* anywhere, subnormals included */
            d = fabs(rnd_double());
            break;
        case 1: /* integers from 2^53 to 2^64: midpoints with up to 20 digits, ties in range */
            d = ldexp((double)(rnd() >> 11), 1 + (int)(rnd() % 12));
            break;
        case 2: /* up to four decimals: the ties the fast algorithm must round to even */
            d = ldexp((double)((rnd() >> 11) | (1ull << 52)), -(int)(rnd() % 5));
            break;
        default: /* near the ends of the range */
            d = (rnd() & 1) ? nextafter(DBL_MAX, 0) : DBL_MIN;
            for (int k = (int)(rnd() % 200); k > 0; k--)
                d = nextafter(d, (rnd() & 1) ? 0 : DBL_MAX);
            break;
        }
        if (d == DBL_MAX || !isfinite(d))
            continue;
        midpoint_digits(d, buf, sizeof(buf));
        expect_like_libc(buf);
        strcpy(v, buf);
        nudge_last_digit(v, +1);
        expect_like_libc(v);
        strcpy(v, buf);
        nudge_last_digit(v, -1);
        expect_like_libc(v);
        /* cut to 17, 19 and 20 significant digits, and one more digit 1 past the midpoint */
        for (int keep = 17; keep <= 20; keep++) {
            char *e = strchr(buf, 'e');
            int mant = (int)(e - buf) - 2; /* digits after "d." */
            if (mant <= keep - 1)
                continue;
            snprintf(v, sizeof(v), "%.*s%s", keep + 1, buf, e);
            expect_like_libc(v);
        }
        char *e = strchr(buf, 'e');
        snprintf(v, sizeof(v), "%.*s%s1%s", (int)(e - buf), buf, strchr(buf, '.') ? "" : ".", e);
        expect_like_libc(v);
    }
}

static void range_ends_and_special_forms_match_strtod(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "0",
        "-0",
        "0.0",
        "-0.0",
        "0e0",
        "-0e-0",
        "0.000000000000000000000000000000e999",
        "0e-99999999999999999999",
        "1e-400",
        "-1e-400",
        "1e400",
        "-1e400",
        "1e308",
        "1e309",
        "1e-324",
        "1e-323",
        "2.4703282292062327e-324",
        "2.4703282292062328e-324",
        "4.9406564584124654e-324",
        "2.2250738585072011e-308",
        "2.2250738585072012e-308",
        "2.2250738585072014e-308",
        "2.2250738585072009e-308",
        "1.7976931348623157e308",
        "1.7976931348623158e308",
        "1.7976931348623159e308",
        "-1.7976931348623159e308",
        "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649"
        "017977587207096330286416692887910946555547851940402630657488671505820681908902000708383"
        "676273854845817711531764475730270069855571366959622842914819860834936475292719074168444"
        "365510704342711559699508093042880177904174497791", /* halfway from DBL_MAX to 2^1024 */
        "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649"
        "017977587207096330286416692887910946555547851940402630657488671505820681908902000708383"
        "676273854845817711531764475730270069855571366959622842914819860834936475292719074168444"
        "365510704342711559699508093042880177904174497790.999", /* just below it */
        "9007199254740992",
        "9007199254740993",
        "9007199254740994",
        "9007199254740995",
        "9007199254740993.0000000000000000000001",
        "9007199254740992.9999999999999999999",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "12345678901234567890",
        "1234567890123456789012345",
        "-99999999999999999999999999999",
        "10000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "123456789012345678901234567890e-10",
        "0.1234567890123456789012345678901234567890",
        "7.2057594037927933e16",
        "72057594037927933",
        "0.30000000000000004",
        "0.1",
        "0.2",
        "0.3",
        "1.1",
        "2.5",
        "0.5",
        "0.25",
        "0.125",
        "1.0000000000000002",
        "1.0000000000000001",
        "1.00000000000000011102230246251565404236316680908203125",
        "1.00000000000000011102230246251565404236316680908203124",
        "1.00000000000000011102230246251565404236316680908203126",
        "1e22",
        "1e23",
        "9007199254740993e-1",
        "9007199254740993e-4",
        "4503599627370497.5",
        "1e0",
        "1E+0",
        "5e-324",
        "3e-324",
        "2e-324",
        "0.0000000000000000000000000000000000000001e40",
        "123.456e-310",
        "1.5e-320",
        "-2.5e-318"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_like_libc(cases[i]);

    /* long runs of zeros, with and without a digit at the far end */
    static char buf[4096];
    for (int zeros = 1; zeros < 1200; zeros += 37) {
        snprintf(buf, sizeof(buf), "0.%0*d1", zeros, 0);
        expect_like_libc(buf);
        snprintf(buf, sizeof(buf), "1%0*d", zeros, 0);
        expect_like_libc(buf);
        snprintf(buf, sizeof(buf), "1%0*de-%d", zeros, 0, zeros + 300);
        expect_like_libc(buf);
        snprintf(buf, sizeof(buf), "4.9406564584124654%0*d1e-324", zeros, 0);
        expect_like_libc(buf);
        snprintf(buf, sizeof(buf), "2.4703282292062327%0*d1e-324", zeros, 0);
        expect_like_libc(buf);
        snprintf(buf, sizeof(buf), "9007199254740993%0*d1", zeros, 0);
        expect_like_libc(buf);
    }
    /* the neighbours of DBL_MIN, DBL_MAX, the smallest subnormal and powers of ten */
    char s[64];
    double ends[] = {DBL_MIN, DBL_MAX, DBL_TRUE_MIN, 1.0, 1e22, 1e23, 1e-22, 1e300, 1e-300};
    for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
        double up = ends[i], down = ends[i];
        for (int k = 0; k < 20; k++) {
            for (int p = 15; p <= 19; p++) {
                snprintf(s, sizeof(s), "%.*g", p, up);
                expect_like_libc(s);
                snprintf(s, sizeof(s), "%.*g", p, down);
                expect_like_libc(s);
            }
            if (up < DBL_MAX)
                up = nextafter(up, INFINITY);
            down = nextafter(down, 0);
        }
    }
    /* powers of ten and of two across the range */
    for (int e = -400; e <= 400; e++) {
        snprintf(s, sizeof(s), "1e%d", e);
        expect_like_libc(s);
        snprintf(s, sizeof(s), "%.17g", ldexp(1, e * 2 + e / 2)); /* 2^-1000 .. 2^1000 */
        expect_like_libc(s);
    }
}

/* What the grammar reads: the longest JSON number at p, nothing past end, nothing else. */
static void reads_the_longest_json_number_and_no_more(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        int len;
    } cases[] = {
        {"01", 0, 1},       {"-01", 0, 2},       {"1.", 0, 1},        {"1.e5", 0, 1},
        {"1e", 0, 1},       {"1e+", 0, 1},       {"1E-2x", 0, 4},     {"0x10", 0, 1},
        {"12,", 0, 2},      {"1.5}", 0, 3},      {"-", -EINVAL, 0},   {"+1", -EINVAL, 0},
        {".5", -EINVAL, 0}, {"inf", -EINVAL, 0}, {"nan", -EINVAL, 0}, {"-Infinity", -EINVAL, 0},
        {"", -EINVAL, 0},   {" 1", -EINVAL, 0},  {"-.5", -EINVAL, 0}, {"1e5.5", 0, 3},
        {"00", 0, 1},       {"1ee5", 0, 1},      {"1e+-5", 0, 1},     {"2.5E+03", 0, 7},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *s = cases[i].in, *stop = NULL;
        struct vg_num n;
        int rc = vg_num_parse(s, s + strlen(s), &n, &stop);
        if (rc != cases[i].rc || (rc == 0 && stop - s != cases[i].len))
            fail_msg("'%s': rc %d read %td, want rc %d read %d", s, rc, rc ? 0 : stop - s,
                     cases[i].rc, cases[i].len);
    }
    /* end bounds the read: no NUL needed, nothing past it looked at */
    static const char digits[] = "123456789.5e7";
    struct vg_num n;
    const char *stop;
    assert_int_equal(vg_num_parse(digits, digits + 3, &n, &stop), 0);
    assert_ptr_equal(stop, digits + 3);
    assert_true(n.d == 123 && n.is_int && n.i == 123);
    assert_int_equal(vg_num_parse(digits, digits + 10, &n, &stop), 0); /* "123456789." */
    assert_ptr_equal(stop, digits + 9);
    assert_int_equal(vg_num_parse(digits, digits + 12, &n, &stop), 0); /* "123456789.5e" */
    assert_ptr_equal(stop, digits + 11);
    assert_true(n.d == 123456789.5 && !n.is_int);
    assert_int_equal(vg_num_parse(digits, digits, &n, &stop), -EINVAL);
}

/* Random strings over the number alphabet: the length read is the longest match of the JSON
 * number regex (POSIX regexec matches the longest), and its value is strtod's. */
static void random_strings_read_as_the_regex_and_strtod_do(void **state)
{
    (void)state;
    static const char alphabet[] = "0123456789000.eE+-x";
    regex_t re;
    assert_int_equal(regcomp(&re, "^-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?", REG_EXTENDED),
                     0);
    char buf[40], tok[40];
    for (int i = 0; i < 200000; i++) {
        size_t len = 1 + rnd() % 30;
        for (size_t k = 0; k < len; k++)
            buf[k] = alphabet[rnd() % (sizeof(alphabet) - 1)];
        buf[len] = '\0';
        regmatch_t m;
        int matched = regexec(&re, buf, 1, &m, 0) == 0;
        struct vg_num n;
        const char *stop;
        int rc = vg_num_parse(buf, buf + len, &n, &stop);
        if (!matched) {
            if (rc != -EINVAL)
                fail_msg("'%s': read, but the regex does not match", buf);
            continue;
        }
        if (rc != 0 || stop - buf != m.rm_eo)
            fail_msg("'%s': rc %d read %td, regex matched %d bytes", buf, rc, rc ? 0 : stop - buf,
                     (int)m.rm_eo);
        memcpy(tok, buf, (size_t)m.rm_eo);
        tok[m.rm_eo] = '\0';
        expect_like_libc(tok);
    }
    regfree(&re);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_doubles_in_printf_forms_match_strtod),
        cmocka_unit_test(random_decimal_strings_match_strtod),
        cmocka_unit_test(halfway_points_and_their_neighbours_match_strtod),
        cmocka_unit_test(range_ends_and_special_forms_match_strtod),
        cmocka_unit_test(reads_the_longest_json_number_and_no_more),
        cmocka_unit_test(random_strings_read_as_the_regex_and_strtod_do),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fprintf(stderr, "test_numparse: %ld numbers compared with strtod\n", checked);
    return rc;
}
