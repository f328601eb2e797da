# Operations: vigilctl against a live analyzer, a real receiver and recorded input; man pages.
vg_add_test(test_vigilctl SOURCES test_vigilctl.c LIBS vg_teststack PkgConfig::JANSSON TIMEOUT 180)
add_dependencies(test_vigilctl vigilctl vigil-agent vigil-analyzer vigil-test-receiver man)
# vigilctl replay with the analyzer's host models: a recorded multivariate anomaly through a rule
# reading value("host:mv").
# vg_kernels: whether a GPU is usable here, which decides what model.backend=cuda must do.
vg_add_test(test_replay_models SOURCES test_replay_models.c LIBS vg_teststack vg_kernels
    PkgConfig::JANSSON m TIMEOUT 60)
add_dependencies(test_replay_models vigilctl)
# What the .deb packages hold (each component installed into a temporary tree as cpack does) and
# what their postinst scripts do (against stub commands).
vg_add_test(test_packaging SOURCES test_packaging.c LIBS vg_teststack TIMEOUT 120)
target_compile_definitions(test_packaging PRIVATE VG_CMAKE="${CMAKE_COMMAND}"
    VG_VERSION="${PROJECT_VERSION}")
add_dependencies(test_packaging vigil-agent vigil-agent-webhook vigil-analyzer vigilctl man
    debian-doc)
if(TARGET vigil-cuda)
    add_dependencies(test_packaging vigil-cuda)
endif()
# The bench/ programs' argument checks (usage errors only: nothing is measured).
vg_add_test(test_bench_cli SOURCES test_bench_cli.c LIBS vg_teststack TIMEOUT 60)
add_dependencies(test_bench_cli alert-latency detector-throughput wire-decode outbox-compaction
    collector-cost)
