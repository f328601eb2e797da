/* Generated references must match the code: docs/configuration.md is the daemons'
 * --config-doc output, so a key added to a table without regenerating the doc fails here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vg_stack.h"
#include "vg_testproc.h"

static void configuration_md_matches_the_config_tables(void **state)
{
    char out[256];
    snprintf(out, sizeof(out), "/tmp/vigil-confdoc-%d.md", (int)getpid());
    assert_int_equal(vg_tp_sh("(cat %s/docs/configuration.head.md; %s --config-doc; %s "
                              "--config-doc) > %s",
                              VG_SOURCE_DIR, VG_AGENT_BIN, VG_ANALYZER_BIN, out),
                     0);
    char *want = vg_tp_read(out), *have = vg_tp_read(VG_SOURCE_DIR "/docs/configuration.md");
    unlink(out);
    assert_non_null(want);
    assert_non_null(have);
    if (strcmp(want, have) != 0)
        fail_msg("docs/configuration.md is stale: regenerate it with scripts/gen-docs.sh");
    free(want);
    free(have);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(configuration_md_matches_the_config_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
