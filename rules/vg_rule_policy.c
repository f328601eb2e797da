#include "vg_rule_policy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vg_rule_impl.h"

void vg_rule_policy_free(struct vg_rule_policy *p)
{
    if (!p)
        return;
    free(p->target);
    free(p->where);
    for (size_t i = 0; i < p->n_select; i++)
        vg_rule_select_free(&p->select[i]);
    free(p->select);
    free(p->expr_text);
    vg_expr_free(p->expr);
    free(p);
}

size_t vg_rule_set_policy_count(const struct vg_rule_set *s)
{
    return s->n_policies;
}

const struct vg_rule_policy *vg_rule_set_policy(const struct vg_rule_set *s, size_t i)
{
    return i < s->n_policies ? s->policies[i] : NULL;
}

const char *vg_rule_policy_target(const struct vg_rule_policy *p)
{
    return p->target;
}

const char *vg_rule_policy_where(const struct vg_rule_policy *p)
{
    return p->where;
}

const char *vg_rule_policy_expr(const struct vg_rule_policy *p)
{
    return p->expr_text;
}

const struct vg_scale_params *vg_rule_policy_params(const struct vg_rule_policy *p)
{
    return &p->params;
}

int vg_rule_policy_initial(const struct vg_rule_policy *p)
{
    return p->initial;
}

int vg_rule_policy_hold_severity(const struct vg_rule_policy *p)
{
    return p->hold_severity;
}

int64_t vg_rule_policy_interval_ms(const struct vg_rule_policy *p)
{
    return p->interval_ms;
}

struct host_labels {
    const char *host;
    const struct vg_label *labels;
    size_t n;
};

static const char *host_label(const void *ud, const char *name)
{
    const struct host_labels *h = ud;
    if (strcmp(name, "host") == 0)
        return h->host;
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->labels[i].key, name) == 0)
            return h->labels[i].value;
    return NULL;
}

int vg_rule_policy_matches_host(const struct vg_rule_policy *p, const char *host,
                                const struct vg_label *labels, size_t n)
{
    struct host_labels h = {host, labels, n};
    for (size_t i = 0; i < p->n_select; i++)
        if (!vg_rule_select_match(&p->select[i], host_label, &h))
            return 0;
    return 1;
}

int vg_rule_policy_eval(const struct vg_rule_policy *p, const struct vg_expr_env *env,
                        double *value, int *cond)
{
    *value = NAN;
    *cond = -1;
    if (p->params.mode == VG_SCALE_TARGET)
        return vg_expr_eval_number(p->expr, env, NULL, 0, value);
    struct vg_expr_result r;
    int rc = vg_expr_eval(p->expr, env, NULL, 0, &r);
    if (rc)
        return rc;
    /* Unknown (missing data decided it) is no vote: a host that cannot say whether the condition
     * holds must not count as false, which would vote for scaling in. */
    *cond = r.matched ? 1 : r.unknown ? -1 : 0;
    return 0;
}
