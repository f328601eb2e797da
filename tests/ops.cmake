# Operations: vigilctl against a live analyzer, a real receiver and recorded input; man pages.
vg_add_test(test_vigilctl SOURCES test_vigilctl.c LIBS vg_teststack PkgConfig::JANSSON TIMEOUT 180)
add_dependencies(test_vigilctl vigilctl vigil-agent vigil-analyzer vigil-test-receiver man)
# vigilctl replay with the analyzer's host models: a recorded multivariate anomaly through a rule
# reading value("host:mv").
vg_add_test(test_replay_models SOURCES test_replay_models.c LIBS vg_teststack PkgConfig::JANSSON m
    TIMEOUT 60)
add_dependencies(test_replay_models vigilctl)
