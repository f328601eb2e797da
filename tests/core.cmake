vg_add_test(test_config SOURCES test_config.c LIBS vg_common)
# The daemons' key tables themselves: defaults, and choices against the lists they mirror.
vg_add_test(test_config_tables SOURCES test_config_tables.c ${CMAKE_SOURCE_DIR}/agent/agent_config.c
    ${CMAKE_SOURCE_DIR}/analyzer/analyzer_config.c
    LIBS vg_analyzer vg_collectors vg_detectors vg_common)
target_include_directories(test_config_tables PRIVATE ${CMAKE_SOURCE_DIR}/agent
    ${CMAKE_SOURCE_DIR}/analyzer)
vg_add_test(test_kafka SOURCES test_kafka.c LIBS vg_common)
# common/vg_atomicfile: write, fsync, close and rename wrapped so that each step can be made to
# fail (tests run as root, which no permission stops), unlink so that the temp file can come back.
vg_add_test(test_atomicfile SOURCES test_atomicfile.c LIBS vg_common)
target_link_options(test_atomicfile PRIVATE
    -Wl,--wrap=write,--wrap=fsync,--wrap=close,--wrap=rename,--wrap=unlink)
vg_add_test(test_notify SOURCES test_notify.c LIBS vg_common)
vg_add_test(test_log SOURCES test_log.c LIBS vg_common vg_teststack)
vg_add_test(test_detector SOURCES test_detector.c LIBS vg_analyzer)
vg_add_test(test_engine SOURCES test_engine.c LIBS vg_analyzer)

# Integration: real binaries, the embedded broker over loopback, a receiver in its own process.
add_library(vg_teststack STATIC vg_testproc.c vg_stack.c vg_testhttp.c)
target_compile_definitions(vg_teststack PUBLIC VG_BIN_DIR="${CMAKE_BINARY_DIR}")
target_include_directories(vg_teststack PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(vg_teststack PUBLIC PkgConfig::CMOCKA PkgConfig::CURL PkgConfig::JANSSON)
set(VG_DAEMONS vigil-agent vigil-analyzer vigil-test-receiver)
# vg_tp_run_tests, which runs the long integration tests several at a time: a test that fails or
# dies there fails the program.
vg_add_test(test_testproc SOURCES test_testproc.c LIBS vg_teststack)

vg_add_test(test_pipeline SOURCES test_pipeline.c LIBS vg_teststack PkgConfig::JANSSON TIMEOUT 180)
add_dependencies(test_pipeline ${VG_DAEMONS})

vg_add_test(test_kcat SOURCES test_kcat.c LIBS vg_analyzerproc vg_common TIMEOUT 180)
add_dependencies(test_kcat ${VG_DAEMONS})

vg_add_test(test_docs SOURCES test_docs.c LIBS vg_teststack PkgConfig::YAML)
add_dependencies(test_docs vigil-agent vigil-analyzer)

# vg_kernels: whether a GPU is usable here, which decides what model.backend=cuda's check says.
# 150 s: its 53 tests take about 60 s alone, well past that on a machine shared with other builds.
vg_add_test(test_cli SOURCES test_cli.c LIBS vg_teststack vg_kernels TIMEOUT 150)
add_dependencies(test_cli vigil-agent vigil-analyzer)
# tests/thread_fail_shim.c, preloaded into one agent: the local webhook's thread cannot start.
vg_add_preload_shim(test_cli vg_thread_fail_shim thread_fail_shim.c VG_THREAD_FAIL_SHIM)
# tests/slow_produce_shim.c, preloaded into one agent: each send takes 500 ms.
vg_add_preload_shim(test_cli vg_slow_produce_shim slow_produce_shim.c VG_SLOW_PRODUCE_SHIM)
# tests/slow_spool_read_shim.c, preloaded into one agent: each read of a spool segment is slow.
vg_add_preload_shim(test_cli vg_slow_spool_read_shim slow_spool_read_shim.c
    VG_SLOW_SPOOL_READ_SHIM)

vg_add_test(test_http SOURCES test_http.c LIBS vg_analyzer vg_teststack)

vg_add_test(test_spool SOURCES test_spool.c ${CMAKE_SOURCE_DIR}/agent/vg_spool.c LIBS vg_common)
target_include_directories(test_spool PRIVATE ${CMAKE_SOURCE_DIR}/agent)
# A read error (EIO) at a chosen offset, as a bad sector gives (test_spool.c, __wrap_pread).
target_link_options(test_spool PRIVATE -Wl,--wrap=pread)

# The agent's local guard (agent/vg_local): selection, alert timing, the outage gate, its sent
# alerts kept across restarts (agent/vg_local_state).
vg_add_test(test_local SOURCES test_local.c ${CMAKE_SOURCE_DIR}/agent/vg_local.c
    ${CMAKE_SOURCE_DIR}/agent/vg_local_state.c
    LIBS vg_detectors vg_actions vg_common)
target_include_directories(test_local PRIVATE ${CMAKE_SOURCE_DIR}/agent)
# The outbox's fdatasync calls counted, and their order against local-alerts' rename (test_local.c,
# __wrap_fdatasync, __wrap_rename).
target_link_options(test_local PRIVATE -Wl,--wrap=fdatasync -Wl,--wrap=rename)
