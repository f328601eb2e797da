/* "Did you mean" suggestions for misspelt keys, functions and template variables. */
#ifndef VG_RULE_SUGGEST_H
#define VG_RULE_SUGGEST_H

#include <stddef.h>

/* Returns the candidate a person most likely meant by `word`, or NULL when none is close. A
 * candidate is close when one is a prefix of the other at a word boundary ("avg" for
 * "avg_over", "avg_over_time" for "avg_over") or when it is a few edits away. The result points
 * into cands. */
const char *vg_rule_suggest(const char *word, const char *const *cands, size_t n);

#endif
