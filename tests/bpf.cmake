# eBPF collectors against the live kernel (root, as in CI). Serial: the run-queue test measures
# CPU contention it creates. (What collect() costs is bench/collector-cost's.) Without eBPF support built in, it
# checks that the collectors say so and then exits 77: skipped, since no collector ran. It exits
# 77 too when it skipped any case (not root, say) and none failed; VIGIL_REQUIRE_BPF=1
# (scripts/test.sh, as root) makes a missing privilege or eBPF support a failure instead.
vg_add_test(test_bpf SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_bpf.c LIBS vg_bpf_collectors
            TIMEOUT 180 LABELS bpf)
if(VIGIL_BPF_ENABLED)
    target_compile_definitions(test_bpf PRIVATE VIGIL_HAVE_BPF=1)
    add_dependencies(test_bpf vg_bpf_test_skeletons)
    target_include_directories(test_bpf PRIVATE ${VG_BPF_TEST_SKEL_DIR})
endif()
set_tests_properties(test_bpf PROPERTIES RUN_SERIAL TRUE SKIP_RETURN_CODE 77)
