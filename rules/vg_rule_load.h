/* Loading rule sets from YAML (docs/rules.md).
 *
 * Loading is all or nothing: on success *out is a complete new set, on any error there is no
 * set and err says what is wrong. The set the caller is running with is never touched, which
 * is what makes a reload safe: keep the old set until the new one loaded, then swap.
 *
 * err receives one line per mistake found, "FILE:LINE:COL: message", separated by newlines, in
 * file order; every file is checked and every mistake reported until err is full (pass a few
 * KiB to see them all; the first line is always complete when err holds VG_ERRLEN bytes). A
 * YAML syntax error ends the checking of its file.
 */
#ifndef VG_RULE_LOAD_H
#define VG_RULE_LOAD_H

#include <stddef.h>

#include "vg_rule.h"

/* Loads every *.yaml and *.yml file of dir (not its subdirectories, and not files whose name
 * starts with '.'), in byte order of their names. Rule names must be unique across all of them.
 * An empty directory gives an empty set. On success the caller owns *out and frees it with
 * vg_rule_set_free(). Returns 0, -EINVAL (mistakes in the rules), -ENOENT/-EACCES/... (the
 * directory or a file cannot be read), -EFBIG (a file over 4 MiB) or -ENOMEM. */
int vg_rule_set_load_dir(const char *dir, struct vg_rule_set **out, char *err, size_t errlen);

/* The same for one file's text buf[0..len), which may hold any bytes; origin names it in
 * errors. */
int vg_rule_set_load_buffer(const char *origin, const char *buf, size_t len,
                            struct vg_rule_set **out, char *err, size_t errlen);

#endif
