# Alerting (analyzer/vg_dispatch, vg_silence, actions/vg_scale, rules in the engine) as library
# code, and end to end against the real analyzer, receiver and kcat.
vg_add_test(test_alerting SOURCES test_alerting.c LIBS vg_analyzer)
# Partial scaling measurements of several analyzers: the record and the merge (vg_partials).
vg_add_test(test_partials SOURCES test_partials.c LIBS vg_analyzer)
vg_add_test(test_alerting_stack SOURCES test_alerting_stack.c LIBS vg_teststack
    PkgConfig::JANSSON TIMEOUT 240)
add_dependencies(test_alerting_stack ${VG_DAEMONS} vigilctl)
