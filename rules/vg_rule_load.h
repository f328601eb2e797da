/* Loading rule sets from YAML (docs/rules.md).
 *
 * Loading is all or nothing: on success *out is a complete new set, on any error there is no
 * set and err says what is wrong. The set the caller is running with is never touched, which
 * is what makes a reload safe: keep the old set until the new one loaded, then swap.
 *
 * err receives one line per mistake found, "FILE:LINE:COL: message", separated by newlines, in
 * file order; every file is checked and every mistake counted. Lines are never cut: when the
 * next one does not fit, the list ends with "... and N more errors" (N counting every mistake
 * left out; pass a few KiB to see them all). Only a first line longer than err is shown cut. A
 * YAML syntax error ends the checking of its file.
 */
#ifndef VG_RULE_LOAD_H
#define VG_RULE_LOAD_H

#include <stddef.h>

#include "vg_rule.h"

/* Loads every *.yaml and *.yml file of dir (not its subdirectories, and not files whose name
 * starts with '.'), in byte order of their names. Rule names must be unique across all of them.
 * An empty directory gives an empty set. Entries with such a name that are not regular files
 * (or links to one), e.g. a subdirectory `old.yaml`, are skipped and listed by
 * vg_rule_set_skipped(), as are the regular files whose name is not a rule file's
 * (`alerts.YAML`, `x.yaml.bak`) and does not start with '.'. A file that cannot be read (a link to
 * a missing file, no permission, over 4 MiB) is an error listed with the others. On success the
 * caller owns *out and frees it with vg_rule_set_free(). Returns 0, -EINVAL (mistakes in the
 * rules), -ENOENT/-EACCES/... (the directory cannot be read, or a file, when that is the first
 * error: -EFBIG for one over 4 MiB) or -ENOMEM. */
int vg_rule_set_load_dir(const char *dir, struct vg_rule_set **out, char *err, size_t errlen);

/* The directory entries vg_rule_set_load_dir() passed over, each as "PATH: skipped, why". */
size_t vg_rule_set_skipped_count(const struct vg_rule_set *s);
const char *vg_rule_set_skipped(const struct vg_rule_set *s, size_t i);

/* Reads one rule file as the directory load does: at most 4 MiB (4194304 bytes), a regular
 * file. 0 with *buf malloc'ed (not NUL-terminated) and *len set, or a negative errno with the
 * reason, naming path, in err. */
int vg_rule_file_read(const char *path, char **buf, size_t *len, char *err, size_t errlen);

/* The same for one file's text buf[0..len), which may hold any bytes; origin names it in
 * errors. */
int vg_rule_set_load_buffer(const char *origin, const char *buf, size_t len,
                            struct vg_rule_set **out, char *err, size_t errlen);

/* For checking rather than running (vigilctl rules check, the analyzer's load): as
 * vg_rule_set_load_dir() and vg_rule_set_load_buffer(), but when the rules have mistakes (-EINVAL,
 * or a file that could not be read) *out still receives what was loaded: the rules and policies
 * that parsed far enough to be kept, some of them incomplete. The checks made on a loaded set (the
 * receivers `actions` name, the host models value("host:NAME") reads) then report their mistakes
 * together with the loader's rather than after those are fixed. Such a set is for those checks
 * only, never to run; the caller frees it. *out is NULL on -ENOMEM and when dir cannot be
 * listed. */
int vg_rule_set_check_dir(const char *dir, struct vg_rule_set **out, char *err, size_t errlen);
int vg_rule_set_check_buffer(const char *origin, const char *buf, size_t len,
                             struct vg_rule_set **out, char *err, size_t errlen);

/* An error list as the loaders write it, for callers that add lines of their own (the analyzer's
 * receiver check): whole lines only, and once one is left out, every later one too; finish()
 * then ends the list with "... and N more errors". buf[0..len) is always a string. */
struct vg_rule_errlist {
    char *buf;
    size_t len;
    size_t used;      /* strlen(buf) */
    unsigned dropped; /* lines left out so far */
};
void vg_rule_errlist_add(struct vg_rule_errlist *el, const char *line);
void vg_rule_errlist_finish(struct vg_rule_errlist *el);

/* Sets el to go on with a list a load has finished in buf (len bytes, a string): its "... and N
 * more errors" trailer, if any, is taken off and counted again, so that finish() writes it after
 * the lines added since. */
void vg_rule_errlist_resume(struct vg_rule_errlist *el, char *buf, size_t len);

/* Copies an error list into a smaller dst[0..dstlen) the same way: whole lines, then "... and N
 * more errors" (N including those an earlier cut of src had left out). */
void vg_rule_errors_copy(char *dst, size_t dstlen, const char *src);

#endif
