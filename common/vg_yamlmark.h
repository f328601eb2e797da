/* Where libyaml's parser failed, as the user counts: 1-based line and column. */
#ifndef VG_YAMLMARK_H
#define VG_YAMLMARK_H

#include <stddef.h>
#include <yaml.h>

/* libyaml reports a reader error (bytes that are not UTF-8, a control character) as a byte
 * offset only, leaving problem_mark at the start; this finds that offset's line and column in
 * buf (the parser's whole input, len bytes). Other errors use problem_mark. */
void vg_yaml_error_at(const yaml_parser_t *p, const char *buf, size_t len, size_t *line,
                      size_t *col);

/* What libyaml was reading when it failed, with a leading space, and where that began when
 * elsewhere: " while scanning a quoted scalar that started at 3:11". The problem's own position
 * is the end of the file for an unclosed quote or bracket; this names the one left open. ""
 * without a context. Returns buf. */
const char *vg_yaml_error_context(const yaml_parser_t *p, char *buf, size_t n);

#endif
