#include "vg_rule_suggest.h"

#include <string.h>

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    size_t prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof(size_t));
    }
    return prev[lb];
}

/* "avg" is a word-prefix of "avg_over": what PromQL users and the forgetful type. */
static int word_prefix(const char *shorter, const char *longer)
{
    size_t n = strlen(shorter);
    return n >= 3 && strncmp(shorter, longer, n) == 0 && (longer[n] == '_' || longer[n] == '.');
}

const char *vg_rule_suggest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t bestd = 99;
    for (size_t i = 0; i < n; i++) {
        if (word_prefix(word, cands[i]) || word_prefix(cands[i], word))
            return cands[i];
        size_t d = edit_distance(word, cands[i]);
        if (d < bestd) {
            bestd = d;
            best = cands[i];
        }
    }
    size_t limit = strlen(word) / 3 + 1;
    return best && bestd <= (limit < 3 ? limit : 3) ? best : NULL;
}
