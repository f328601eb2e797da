# Actions: the HTTP actions are tested end to end against vigil-test-receiver in its own process;
# the formats as pure functions; the outbox against real files and a killed child process.

# The receiver verifies X-Vigil-Signature the way a user's receiver would, with libcrypto.
target_link_libraries(vigil-test-receiver PRIVATE PkgConfig::CRYPTO)

# The scaling-decision webhook (analyzer/vg_decisions) against the same receiver.
vg_add_test(test_webhook SOURCES test_webhook.c LIBS vg_actions vg_analyzer vg_teststack PkgConfig::CRYPTO TIMEOUT 120
    LABELS actions)
add_dependencies(test_webhook vigil-test-receiver)
vg_add_test(test_formats SOURCES test_formats.c LIBS vg_actions PkgConfig::CRYPTO TIMEOUT 60
    LABELS actions)
vg_add_test(test_outbox SOURCES test_outbox.c LIBS vg_actions vg_teststack TIMEOUT 120 LABELS actions)
add_dependencies(test_outbox vigil-test-receiver)
# test_outbox counts the outbox's real fdatasync and fsync calls (power-loss durability).
target_link_options(test_outbox PRIVATE -Wl,--wrap=fdatasync -Wl,--wrap=fsync)
