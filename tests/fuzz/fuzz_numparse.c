/* libFuzzer target for vg_num_parse (common/vg_numparse.c): on arbitrary bytes it reads exactly
 * the longest match of the JSON number grammar (checked with POSIX regexec, which matches the
 * longest), and that token's value is strtod()'s bit for bit (and strtoll()'s for integers). */
#include <errno.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_numparse.h"

static void fail(const char *what, const char *token)
{
    fprintf(stderr, "fuzz_numparse: %s: '%s'\n", what, token);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static regex_t re;
    static int ready;
    if (!ready) {
        if (regcomp(&re, "^-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?", REG_EXTENDED))
            fail("regcomp", "");
        ready = 1;
    }
    /* The parser gets the bytes as they are (no NUL: it must not read past size); regexec and
     * strtod get a NUL-terminated copy, cut at the first NUL, which no number contains. */
    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    struct vg_num n;
    const char *stop = NULL;
    int rc = vg_num_parse((const char *)data, (const char *)data + size, &n, &stop);
    regmatch_t m;
    if (regexec(&re, copy, 1, &m, 0) != 0) {
        if (rc != -EINVAL)
            fail("read a number where the grammar has none", copy);
        free(copy);
        return 0;
    }
    if (rc != 0)
        fail("refused a number", copy);
    if (stop - (const char *)data != m.rm_eo)
        fail("read a different length than the grammar's longest match", copy);
    copy[m.rm_eo] = '\0';
    char *end;
    double want = strtod(copy, &end);
    if (end != copy + m.rm_eo)
        fail("strtod reads the token differently", copy);
    if (memcmp(&want, &n.d, sizeof(want)) != 0)
        fail("value differs from strtod's", copy);
    if (n.is_int != (strpbrk(copy, ".eE") == NULL))
        fail("integer or not, wrongly", copy);
    if (n.is_int) {
        errno = 0;
        long long i = strtoll(copy, &end, 10);
        if (i != n.i || (errno == ERANGE) == n.i_range)
            fail("integer differs from strtoll's", copy);
    }
    free(copy);
    return 0;
}
