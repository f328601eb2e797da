/* The insides of rules and rule sets, shared by vg_rule.c (using them) and vg_rule_load.c
 * (building them) only. */
#ifndef VG_RULE_IMPL_H
#define VG_RULE_IMPL_H

#include "vg_expr.h"
#include "vg_rule.h"
#include "vg_rule_policy.h"
#include "vg_rule_select.h"
#include "vg_tmpl.h"

struct vg_rule_tmpl_kv {
    char *key;
    struct vg_tmpl *tmpl;
};

struct vg_rule {
    char *name;
    char *where;
    struct vg_rule_select *select;
    size_t n_select;
    char *when_text;
    struct vg_expr *when;
    int64_t for_ms;
    int64_t keep_firing_for_ms;
    enum vg_rule_severity severity;
    struct vg_rule_tmpl_kv *labels;
    size_t n_labels;
    struct vg_rule_tmpl_kv *annotations;
    size_t n_annotations;
    char **actions;
    char **action_where;
    size_t n_actions;
    char **series;
    size_t n_series;
};

struct vg_rule_policy {
    char *target;
    char *where;
    struct vg_rule_select *select;
    size_t n_select;
    char *expr_text;
    struct vg_expr *expr; /* a number (target tracking) or a condition (step) */
    struct vg_scale_params params;
    int initial;
    int64_t interval_ms;
    int hold_severity; /* vg_rule_policy_hold_severity() */
};

struct vg_rule_set {
    struct vg_rule **rules;
    size_t n;
    struct vg_rule_policy **policies;
    size_t n_policies;
    char **skipped; /* vg_rule_set_skipped() */
    size_t n_skipped;
    char **host_models; /* vg_rule_set_host_model(): name, where, name, where, ... */
    size_t n_host_models;
};

/* Frees a rule and everything it holds (NULL is fine). */
void vg_rule_free(struct vg_rule *r);
void vg_rule_policy_free(struct vg_rule_policy *p);

#endif
