# Alerting (analyzer/vg_dispatch, vg_silence, actions/vg_scale, rules in the engine) as library
# code, and end to end against the real analyzer, receiver and kcat.
# The silence handlers (api_alerts.c, analyzer_rules.c) are driven directly, as the HTTP server
# calls them, so the analyzer's files they need are built in.
vg_add_test(test_alerting SOURCES test_alerting.c ${CMAKE_SOURCE_DIR}/analyzer/api_alerts.c
    ${CMAKE_SOURCE_DIR}/analyzer/api_metrics.c ${CMAKE_SOURCE_DIR}/analyzer/analyzer_rules.c
    ${CMAKE_SOURCE_DIR}/analyzer/analyzer_config.c LIBS vg_models)
# A write of silences.file held half-way and then failed (test_alerting.c, __wrap_write).
target_link_options(test_alerting PRIVATE -Wl,--wrap=write)
# Partial scaling measurements of several analyzers: the record and the merge (vg_partials).
vg_add_test(test_partials SOURCES test_partials.c LIBS vg_analyzer)
vg_add_test(test_alerting_stack SOURCES test_alerting_stack.c LIBS vg_teststack
    PkgConfig::JANSSON TIMEOUT 240)
add_dependencies(test_alerting_stack ${VG_DAEMONS} vigilctl)
