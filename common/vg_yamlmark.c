#include "vg_yamlmark.h"

#include <stdio.h>

void vg_yaml_error_at(const yaml_parser_t *p, const char *buf, size_t len, size_t *line,
                      size_t *col)
{
    if (p->error != YAML_READER_ERROR) {
        *line = p->problem_mark.line + 1;
        *col = p->problem_mark.column + 1;
        return;
    }
    size_t end = p->problem_offset < len ? p->problem_offset : len;
    size_t l = 1, c = 1;
    for (size_t i = 0; i < end; i++) {
        if (buf[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)buf[i] & 0xC0) != 0x80) {
            c++; /* a column per character, as libyaml counts them, not per byte */
        }
    }
    *line = l;
    *col = c;
}

const char *vg_yaml_error_context(const yaml_parser_t *p, char *buf, size_t n)
{
    if (!n)
        return buf;
    buf[0] = '\0';
    if (!p->context)
        return buf;
    if (p->error != YAML_READER_ERROR && (p->context_mark.line != p->problem_mark.line ||
                                          p->context_mark.column != p->problem_mark.column))
        snprintf(buf, n, " %s that started at %zu:%zu", p->context, p->context_mark.line + 1,
                 p->context_mark.column + 1);
    else
        snprintf(buf, n, " %s", p->context);
    return buf;
}
