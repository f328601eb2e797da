#include "ctl_engine.h"

#include <errno.h>
#include <string.h>

#include "vg_rule.h"
#include "vg_rule_load.h"
#include "vg_util.h"

int vg_ctl_load_config(struct analyzer_cfg *cfg, const char *path, char *const *sets, size_t n,
                       char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    return vg_config_load_all(&analyzer_config_table, cfg, path, sets, n, err, errlen);
}

int vg_ctl_engine_new(const struct analyzer_cfg *c, const char *rules_dir, struct vg_engine **out,
                      struct vg_rule_set **rules, char *err, size_t errlen)
{
    *out = NULL;
    *rules = NULL;
    if (!rules_dir)
        rules_dir = c->rules_dir;
    if (rules_dir && !*rules_dir)
        rules_dir = NULL;
    struct vg_engine_params p;
    int rc = analyzer_engine_params(c, rules_dir != NULL, &p, err, errlen);
    if (rc)
        return rc;
    rc = vg_engine_new(out, &p, err, errlen);
    if (rc || !rules_dir)
        return rc;
    if ((rc = vg_rule_set_load_dir(rules_dir, rules, err, errlen)) < 0 ||
        (rc = vg_engine_set_rules(*out, *rules, NULL, NULL)) < 0) {
        if (rc == -ENOMEM)
            vg_err(err, errlen, rc, "out of memory");
        vg_engine_free(*out);
        vg_rule_set_free(*rules);
        *out = NULL;
        *rules = NULL;
    }
    return rc;
}
