# Security (docs/security.md): secret files and log scrubbing, Kafka secrets through librdkafka
# and real agents, the receiver URL policy, HTTPS verification against vigil-test-receiver serving
# TLS with certificates openssl makes at test time, and the agent's privilege drop (root, as in
# CI; skipped with the reason otherwise). agent/vg_privdrop.c is compiled in
# directly: agent/ is no library.
vg_add_test(test_security
    SOURCES test_security.c ${PROJECT_SOURCE_DIR}/agent/vg_privdrop.c
    LIBS vg_actions vg_analyzerproc vg_common TIMEOUT 240 LABELS security)
target_include_directories(test_security PRIVATE ${PROJECT_SOURCE_DIR}/agent)
if(VIGIL_BPF_ENABLED)
    target_compile_definitions(test_security PRIVATE VIGIL_HAVE_BPF=1)
    # bpf() as a kernel before 6.5 checks it (tests/bpf_cap_shim.c), preloaded into one agent so
    # the privilege drop's keep-CAP_BPF branch runs here too.
    vg_add_preload_shim(test_security vg_bpf_cap_shim bpf_cap_shim.c VG_BPF_CAP_SHIM)
endif()
# libcurl as before 7.85, without CURLOPT_PROTOCOLS_STR (tests/curl_old_shim.c), preloaded into
# the daemons' --check-config.
vg_add_preload_shim(test_security vg_curl_old_shim curl_old_shim.c VG_CURL_OLD_SHIM
    LIBS PkgConfig::CURL)
# Serial: the privilege-drop case loads eBPF programs, like test_bpf.
set_tests_properties(test_security PROPERTIES RUN_SERIAL TRUE)
add_dependencies(test_security vigil-agent vigil-analyzer vigil-test-receiver
    vigil-test-mockbroker)
