/* Templates for alert labels and annotations: text with {{ VARIABLE }} placeholders.
 *
 *   {{ host }}         the host the alert is about
 *   {{ rule }}         the rule's name
 *   {{ severity }}     info, warning or critical
 *   {{ value }}        the value that made `when` true (see vg_expr_result.value)
 *   {{ score }}        the highest anomaly score among the series the rule considers
 *   {{ top_metrics }}  those series with the highest scores, "name=score, ..."
 *   {{ labels.NAME }}  the label NAME (empty when there is none)
 *
 * Templates are checked when rules are loaded, so a misspelt variable is a load error with its
 * position rather than a strange notification at 3 a.m.
 */
#ifndef VG_TMPL_H
#define VG_TMPL_H

#include <stddef.h>

/* Parse flags. */
enum {
    /* Refuse the variables that change between evaluations (value, score, top_metrics): a
     * label must stay the same for the life of an alert, or every evaluation makes a new one. */
    VG_TMPL_STABLE = 1,
};

struct vg_tmpl_ctx {
    const char *rule;
    const char *host;
    const char *severity;
    double value; /* NAN renders as "n/a" */
    double score;
    const char *top_metrics; /* NULL renders as "n/a" */
    /* Returns the value of label `name`, or NULL. */
    const char *(*label)(const void *ud, const char *name);
    const void *label_ud;
};

struct vg_tmpl;

/* Parses src. On success *out is a new template the caller frees with vg_tmpl_free(). On error
 * returns -EINVAL (or -ENOMEM) with the message in err and the byte offset in src it concerns in
 * *err_off. */
int vg_tmpl_parse(const char *src, unsigned flags, struct vg_tmpl **out, size_t *err_off, char *err,
                  size_t errlen);

void vg_tmpl_free(struct vg_tmpl *t);

/* Renders t into buf[0..len), always NUL-terminated when len > 0. Returns the length the whole
 * text needs, without the NUL; when that is >= len the text was cut, never inside a UTF-8
 * character. */
size_t vg_tmpl_render(const struct vg_tmpl *t, const struct vg_tmpl_ctx *c, char *buf, size_t len);

/* True when t uses no variable at all (its text is fixed). */
int vg_tmpl_is_constant(const struct vg_tmpl *t);

#endif
