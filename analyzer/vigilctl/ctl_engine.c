#include "ctl_engine.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vg_model_run.h"
#include "vg_models.h"
#include "vg_rule.h"
#include "vg_rule_load.h"
#include "vg_util.h"

int vg_ctl_load_config(struct analyzer_cfg *cfg, const char *path, char *const *sets, size_t n,
                       char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    return vg_config_load_all(&analyzer_config_table, cfg, path, sets, n, err, errlen);
}

/* The analyzer refuses rules reading a host model it does not run (analyzer_rules.c); so does
 * an offline run with its config. */
static int check_host_models(const struct analyzer_cfg *c, const struct vg_rule_set *rules,
                             char *err, size_t errlen)
{
    struct vg_rule_errlist el = {err, errlen, 0, 0};
    if (err && errlen)
        err[0] = '\0';
    size_t bad = vg_models_check_rules(rules, c->model_set ? c->model_set : "", &el);
    vg_rule_errlist_finish(&el);
    return bad ? -EINVAL : 0;
}

/* Rules with mistakes: the host models they read are checked too, from what parsed, so that one
 * run of replay reports every mistake as `rules check` and the analyzer do (docs/rules.md)
 * rather than the model names only once the rest is fixed. err holds the loader's list. */
static void add_host_model_mistakes(const struct analyzer_cfg *c, const char *dir, char *err,
                                    size_t errlen)
{
    struct vg_rule_set *partial = NULL;
    /* The same load again, keeping what parsed; it writes the same list into err. */
    if (vg_rule_set_check_dir(dir, &partial, err, errlen) != -EINVAL || !partial) {
        vg_rule_set_free(partial);
        return;
    }
    struct vg_rule_errlist el;
    vg_rule_errlist_resume(&el, err, errlen);
    vg_models_check_rules(partial, c->model_set ? c->model_set : "", &el);
    vg_rule_errlist_finish(&el);
    vg_rule_set_free(partial);
}

int vg_ctl_models_open(const struct analyzer_cfg *cfg, const struct vg_rule_set *rules,
                       struct vg_engine *e, struct vg_model_run *r, char *err, size_t errlen)
{
    *r = (struct vg_model_run){0};
    if (!rules || !vg_rule_set_host_model_count(rules))
        return 0;
    struct vg_model_run_params p;
    analyzer_model_params(cfg, &p);
    p.env.dir = NULL;
    if (!vg_config_where("model.backend"))
        p.backend = "cpu";
    int rc = vg_model_run_open(r, e, &p, err, errlen);
    if (rc < 0)
        vg_config_locate(err, errlen); /* "model.backend: ..." from where it was set */
    return rc;
}

void vg_ctl_warn_host_models(const char *cmd, const struct vg_rule_set *rules)
{
    size_t n = rules ? vg_rule_set_host_model_count(rules) : 0;
    if (!n)
        return;
    const char *where = "", *model = vg_rule_set_host_model(rules, 0, &where);
    fprintf(stderr,
            "vigilctl %s: warning: %s: value(\"host:%s\")%s reads a host model, which %s does "
            "not run: the read is missing data here, so a condition that needs it never holds "
            "(docs/vigilctl.md)\n",
            cmd, where, model, n > 1 ? " (and other reads)" : "", cmd);
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
    if ((rc = vg_rule_set_load_dir(rules_dir, rules, err, errlen)) == -EINVAL)
        add_host_model_mistakes(c, rules_dir, err, errlen);
    if (rc < 0 || (rc = check_host_models(c, *rules, err, errlen)) < 0 ||
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
