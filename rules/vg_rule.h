/* Alert rules: which hosts a rule applies to, the condition that makes it fire, and what an
 * alert it raises carries (labels, annotations, actions). docs/rules.md describes the language.
 *
 * A rule set is immutable once loaded (vg_rule_load.h), so the analyzer can evaluate it from
 * any number of threads and replace it as a whole: load the new set, and only when that
 * succeeded swap the pointer and free the old one. A failed reload leaves nothing half-applied.
 *
 * Per host and message the analyzer calls, for every rule of the set:
 *   vg_rule_matches_host()  does the rule apply to this host at all?
 *   vg_rule_eval()          is its condition true now? (with value, score, top_metrics)
 *   vg_rule_state_step()    (vg_rule_state.h) did an alert fire or resolve?
 * and on a transition:
 *   vg_rule_alert_labels() + vg_rule_fingerprint()  the alert's label set and identity
 *   vg_rule_render_annotation()                      its annotations
 */
#ifndef VG_RULE_H
#define VG_RULE_H

#include <stddef.h>
#include <stdint.h>

#include "vg_config.h"
#include "vg_expr.h"
#include "vg_wire.h"

enum vg_rule_severity { VG_RULE_INFO, VG_RULE_WARNING, VG_RULE_CRITICAL };

/* The most `labels:` (and `annotations:`) one rule may have: the loader refuses more. */
#define VG_RULE_LABELS_MAX 64
/* The most labels an alert of a rule can carry (vg_rule_alert_labels): all a host's labels,
 * "host", and every label of the rule. Whatever holds an alert's labels is sized for this, so
 * that none is cut; a stored alert with more is damage. */
#define VG_RULE_ALERT_LABELS_MAX (VG_WIRE_LABELS_MAX + 1 + VG_RULE_LABELS_MAX)

struct vg_rule_set;
struct vg_rule;

void vg_rule_set_free(struct vg_rule_set *s);

/* Rules in load order: files sorted by name, rules in file order. */
size_t vg_rule_set_count(const struct vg_rule_set *s);
const struct vg_rule *vg_rule_set_rule(const struct vg_rule_set *s, size_t i);
const struct vg_rule *vg_rule_set_find(const struct vg_rule_set *s, const char *name);

/* The longest window any rule's avg_over/max_over/min_over/rate looks at: how much history of
 * each series the analyzer has to keep for this set. */
int64_t vg_rule_set_max_window_ms(const struct vg_rule_set *s);

/* 1 when a window function of any rule or policy of s reads series `name`. */
int vg_rule_set_reads_window_of(const struct vg_rule_set *s, const char *name);

/* The host models the set's rules and policies read (value("host:NAME"), docs/rules.md), every
 * read in load order: i-th model name, and in *where "FILE:LINE:COL" of its argument. The
 * loader cannot tell which models exist (analyzer/vg_models.h does): vg_models_check_rules(). */
size_t vg_rule_set_host_model_count(const struct vg_rule_set *s);
const char *vg_rule_set_host_model(const struct vg_rule_set *s, size_t i, const char **where);

/* Strings returned by these accessors live as long as the set. */
const char *vg_rule_name(const struct vg_rule *r);
const char *vg_rule_where(const struct vg_rule *r); /* "FILE:LINE:COL" of its name */
const char *vg_rule_when(const struct vg_rule *r);  /* the condition as written */
enum vg_rule_severity vg_rule_severity(const struct vg_rule *r);
const char *vg_rule_severity_name(enum vg_rule_severity s);
int64_t vg_rule_for_ms(const struct vg_rule *r);
int64_t vg_rule_keep_firing_for_ms(const struct vg_rule *r);

/* Receiver names from `actions:`; the analyzer checks them against its configuration and can
 * name the place of a bad one with vg_rule_action_where() ("FILE:LINE:COL"). */
size_t vg_rule_action_count(const struct vg_rule *r);
const char *vg_rule_action(const struct vg_rule *r, size_t i);
const char *vg_rule_action_where(const struct vg_rule *r, size_t i);

size_t vg_rule_annotation_count(const struct vg_rule *r);
const char *vg_rule_annotation_name(const struct vg_rule *r, size_t i);

/* True when the host satisfies every matcher of the rule's `select:` (a rule without one
 * applies to every host). `host` is the host name, which the matchers see as the label
 * "host"; labels[0..n) are the host's other labels as the agent sent them. */
int vg_rule_matches_host(const struct vg_rule *r, const char *host, const struct vg_label *labels,
                         size_t n);

#define VG_RULE_TOP_METRICS 3

struct vg_rule_result {
    int matched;  /* the condition is true */
    double value; /* {{ value }}: see vg_expr_result.value; NAN when missing */
    double score; /* {{ score }}: the highest score among the series the rule considers (its
                   * `series:` list, or all); NAN when none has a score */
    /* {{ top_metrics }}: up to VG_RULE_TOP_METRICS of those series, highest score first,
     * as "name=score, name=score"; empty when none has a score. */
    char top_metrics[VG_RULE_TOP_METRICS * (VG_WIRE_NAME_MAX + 16)];
};

/* Evaluates the rule's condition for one host. Returns 0 with *res filled, or the negative errno
 * of a failed callback (other than -ENOENT, which means missing data, see vg_expr.h). */
int vg_rule_eval(const struct vg_rule *r, const struct vg_expr_env *env,
                 struct vg_rule_result *res);

/* The label set of the rule's alert on a host: the host's labels, "host", then the rule's
 * `labels:` rendered (a rule label replaces a host label of the same name). *out must be empty
 * ({0}); on success and on failure the caller releases it with vg_kvlist_free(). Label
 * templates can only use stable variables (host, rule, severity, labels.NAME), so this is the
 * same at fire and at resolve while the host's labels stay the same; the analyzer should still
 * keep the fingerprint computed at fire time for the resolve. Returns 0 or -ENOMEM. */
int vg_rule_alert_labels(const struct vg_rule *r, const char *host, const struct vg_label *labels,
                         size_t n, struct vg_kvlist *out);

/* Renders annotation i into buf[0..len) (see vg_tmpl_render for the return value and
 * truncation); {{ labels.NAME }} reads alert_labels, the set vg_rule_alert_labels() gave. */
size_t vg_rule_render_annotation(const struct vg_rule *r, size_t i, const char *host,
                                 const struct vg_kvlist *alert_labels,
                                 const struct vg_rule_result *res, char *buf, size_t len);

#endif
