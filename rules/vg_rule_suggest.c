#include "vg_rule_suggest.h"

#include <string.h>

#include "vg_util.h"

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
        size_t d = vg_edit_distance(word, cands[i]);
        if (d < bestd) {
            bestd = d;
            best = cands[i];
        }
    }
    size_t limit = strlen(word) / 3 + 1;
    return best && bestd <= (limit < 3 ? limit : 3) ? best : NULL;
}
