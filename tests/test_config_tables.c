/* The daemons' own config tables: every default loads (a default outside its choices or range
 * would stop every start), and the choices that mirror a list kept elsewhere (the detector
 * registry, the log levels) agree with it, so that the table neither refuses a name the code
 * has nor accepts one it lacks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent_config.h"
#include "analyzer_config.h"
#include "vg_config.h"
#include "vg_detector.h"
#include "vg_log.h"
#include "vg_util.h"

static const char *choices_of(const struct vg_config_table *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->keys[i].name, name) == 0)
            return t->keys[i].choices;
    fail_msg("no key %s", name);
    return NULL;
}

/* "a|b|c" from vg_detectors[], then `extra` if not NULL. */
static void registry_choices(const char *extra, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; vg_detectors[i]; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? "|" : "", vg_detectors[i]->name);
    if (extra)
        snprintf(buf + len, n - len, "|%s", extra);
}

static void every_default_of_both_daemons_loads(void **state)
{
    char err[VG_ERRLEN] = "";
    struct agent_cfg ag = {0};
    int rc = vg_config_defaults(&agent_config_table, &ag, err, sizeof(err));
    if (rc)
        fail_msg("agent: %s", err);
    vg_config_free(&agent_config_table, &ag);
    struct analyzer_cfg an = {0};
    rc = vg_config_defaults(&analyzer_config_table, &an, err, sizeof(err));
    if (rc)
        fail_msg("analyzer: %s", err);
    vg_config_free(&analyzer_config_table, &an);
    (void)state;
}

static void detector_choices_are_the_detector_registry(void **state)
{
    char want[256];
    registry_choices(NULL, want, sizeof want);
    assert_string_equal(choices_of(&analyzer_config_table, "detector.model"), want);
    registry_choices("off", want, sizeof want); /* the agent's local guard can be turned off */
    assert_string_equal(choices_of(&agent_config_table, "local.detector"), want);
    (void)state;
}

static void log_level_choices_are_the_levels_vg_log_parses(void **state)
{
    const char *tables[] = {choices_of(&agent_config_table, "log.level"),
                            choices_of(&analyzer_config_table, "log.level")};
    for (size_t t = 0; t < 2; t++) {
        assert_string_equal(tables[t], VG_LOG_LEVEL_CHOICES);
        /* Each choice parses, to the levels in order, and there is one per level. */
        char buf[64];
        snprintf(buf, sizeof buf, "%s", tables[t]);
        int want = VG_LOG_DEBUG;
        char *save = NULL;
        for (char *c = strtok_r(buf, "|", &save); c; c = strtok_r(NULL, "|", &save), want++) {
            enum vg_log_level lvl;
            assert_int_equal(vg_log_level_parse(c, &lvl), 0);
            assert_int_equal(lvl, want);
        }
        assert_int_equal(want, VG_LOG_ERROR + 1);
    }
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_default_of_both_daemons_loads),
        cmocka_unit_test(detector_choices_are_the_detector_registry),
        cmocka_unit_test(log_level_choices_are_the_levels_vg_log_parses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
