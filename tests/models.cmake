# Host models in the real analyzer (analyzer/vg_models, analyzer_models): the multivariate model
# fed by kcat, its API, rule and notification; its checkpoints, corrupt and resumed.
vg_add_test(test_mv_analyzer SOURCES test_mv_analyzer.c LIBS vg_teststack PkgConfig::JANSSON m
    TIMEOUT 240)
add_dependencies(test_mv_analyzer ${VG_DAEMONS})
