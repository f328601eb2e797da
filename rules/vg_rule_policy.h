/* Scaling policies, declared next to the rules in rule files (`scaling:`, docs/scaling-actions.md)
 * and loaded with them, so one reload replaces both and one check validates both.
 *
 * A policy selects hosts like a rule does and measures them: either a number (`metric:`, for
 * target tracking, averaged over the selected hosts that have data) or a condition (`when:`, for
 * step scaling: true on any host scales out, false on every host with data scales in). The
 * replica maths is actions/vg_scale.h.
 */
#ifndef VG_RULE_POLICY_H
#define VG_RULE_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "vg_expr.h"
#include "vg_rule.h"
#include "vg_scale.h"

struct vg_rule_policy;

/* Policies in load order; strings live as long as the set. */
size_t vg_rule_set_policy_count(const struct vg_rule_set *s);
const struct vg_rule_policy *vg_rule_set_policy(const struct vg_rule_set *s, size_t i);

const char *vg_rule_policy_target(const struct vg_rule_policy *p);
const char *vg_rule_policy_where(const struct vg_rule_policy *p);
const char *vg_rule_policy_expr(const struct vg_rule_policy *p); /* as written */
const struct vg_scale_params *vg_rule_policy_params(const struct vg_rule_policy *p);
int vg_rule_policy_initial(const struct vg_rule_policy *p);
int64_t vg_rule_policy_interval_ms(const struct vg_rule_policy *p);

/* No alert holds the policy's scale-in (hold_scale_in_severity: none): above every severity. */
#define VG_RULE_POLICY_HOLD_NONE (VG_RULE_CRITICAL + 1)
/* The least severity (an enum vg_rule_severity, or VG_RULE_POLICY_HOLD_NONE) of a firing alert,
 * matched by no active silence, on a selected host that holds the target's scale-in
 * (hold_scale_in_severity, default warning: an info alert holds nothing). */
int vg_rule_policy_hold_severity(const struct vg_rule_policy *p);

int vg_rule_policy_matches_host(const struct vg_rule_policy *p, const char *host,
                                const struct vg_label *labels, size_t n);

/* Measures one host: target tracking sets *value (NAN when missing), step mode sets *cond
 * (1 true, 0 false, -1 unknown). 0 or a callback's negative errno. */
int vg_rule_policy_eval(const struct vg_rule_policy *p, const struct vg_expr_env *env,
                        double *value, int *cond);

#endif
