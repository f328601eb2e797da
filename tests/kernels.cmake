# Compute backends and the multivariate model. The CPU path is always tested; each program's CUDA
# comparisons are a test of their own (*_gpu), skipped with a SKIP line where no GPU is usable.
vg_add_test(test_kernels SOURCES test_kernels.c LIBS vg_kernels)
vg_add_gpu_test(test_kernels_gpu test_kernels)
vg_add_test(test_mv SOURCES test_mv.c LIBS vg_mv TIMEOUT 120)
vg_add_gpu_test(test_mv_gpu test_mv TIMEOUT 120)
# test_fleet also checks the mv host model's state blob (analyzer/vg_model_mv.c).
# With the analyzer's key table: model.* keys reach the mv model as the analyzer sets them.
vg_add_test(test_fleet SOURCES test_fleet.c ${CMAKE_SOURCE_DIR}/analyzer/analyzer_config.c
    LIBS vg_models)
vg_add_gpu_test(test_fleet_gpu test_fleet)
if(TARGET vigil-cuda)
    # Built before the tests so they find it (../kernels/libvigil-cuda.so) where a GPU is usable.
    add_dependencies(test_kernels vigil-cuda)
    add_dependencies(test_mv vigil-cuda)
    add_dependencies(test_fleet vigil-cuda)
    # test_kernels's CPU run opens it on a host without the driver, for the reason it gives.
    target_compile_definitions(test_kernels PRIVATE
        VG_CUDA_LIB_BUILT="$<TARGET_FILE:vigil-cuda>")
endif()
# A CUDA backend that is there but broken fails the GPU tests rather than skipping them as a
# missing GPU (tests/vg_testgpu.h): here a library without the entry point. Deterministic with or
# without a GPU, VIGIL_CUDA_LIB being looked at first.
list(GET JANSSON_LINK_LIBRARIES 0 VG_SOME_SHARED_LIB)
add_test(NAME test_kernels_gpu_fails_on_a_library_without_the_entry_point
    COMMAND test_kernels --gpu)
set_tests_properties(test_kernels_gpu_fails_on_a_library_without_the_entry_point PROPERTIES
    ENVIRONMENT "VIGIL_CUDA_LIB=${VG_SOME_SHARED_LIB}"
    PASS_REGULAR_EXPRESSION "FAIL: [^\n]*the CUDA backend is broken: [^\n]*no entry point"
    TIMEOUT 60)
# A GPU that is listed but fails its self-test fails the GPU tests: exit status neither 0 nor 77
# (checked as such; a pass regex alone would hide the status) and the FAIL line. No GPU needed:
# stubs of libvigil-cuda.so (vg_cuda_stub.c) whose open fails with the self-test's message, one
# with -EIO as kernels/vg_k_cuda.cu returns it, one with -ENODEV as it used to (and any library
# VIGIL_CUDA_LIB names must open). test_kernels's CPU tests use the -EIO one for auto and cuda.
foreach(stub_rc IN ITEMS EIO ENODEV)
    string(TOLOWER ${stub_rc} stub_lc)
    add_library(vg_cuda_stub_${stub_lc} MODULE vg_cuda_stub.c)
    target_include_directories(vg_cuda_stub_${stub_lc} PRIVATE ${CMAKE_SOURCE_DIR}/kernels)
    target_compile_definitions(vg_cuda_stub_${stub_lc} PRIVATE VG_STUB_${stub_rc})
    add_dependencies(test_kernels vg_cuda_stub_${stub_lc})
    add_test(NAME test_kernels_gpu_fails_on_a_failed_self_test_${stub_lc}
        COMMAND sh -c "out=$(VIGIL_CUDA_LIB=\"$1\" \"$0\" --gpu 2>&1); rc=$?; echo \"$out\"; \
echo \"exit status $rc\"; test $rc -ne 0 && test $rc -ne 77 && \
echo \"$out\" | grep -q 'the CUDA backend is broken: .*self-test'" $<TARGET_FILE:test_kernels>
            $<TARGET_FILE:vg_cuda_stub_${stub_lc}>)
    set_tests_properties(test_kernels_gpu_fails_on_a_failed_self_test_${stub_lc} PROPERTIES
        TIMEOUT 60)
endforeach()
target_compile_definitions(test_kernels PRIVATE
    VG_CUDA_STUB_EIO="$<TARGET_FILE:vg_cuda_stub_eio>")
# kernels/vg_k_math.h alone keeps clang, which contracts by default, from fusing the
# multiply-adds of the element-wise formulas that the GPU rounds unfused (--fmad=false): compiled
# to assembly by clang, without the build's -ffp-contract=off, with FMA instructions available,
# the formulas must have none. GCC does not contract in strict C17, so only clang can show it.
find_program(VG_TEST_CLANG clang)
if(VG_TEST_CLANG AND CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|aarch64|arm64")
    if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
        set(VG_FMA_ARCH -march=x86-64-v3)
    else()
        set(VG_FMA_ARCH "")
    endif()
    add_test(NAME test_kernels_math_has_no_fused_multiply_add_under_clang
        COMMAND sh -c "\"$0\" -std=c17 -O2 $2 -I\"$1/kernels\" -I\"$1/common\" -S -o - \
\"$1/tests/vg_k_contract_probe.c\" >\"$3\" || exit 1; n=$(grep -cE 'fn?m(add|sub)' \"$3\"); \
echo \"$n fused multiply-add instruction(s)\"; test \"$n\" -eq 0"
            ${VG_TEST_CLANG} ${CMAKE_SOURCE_DIR} "${VG_FMA_ARCH}"
            ${CMAKE_CURRENT_BINARY_DIR}/vg_k_contract_probe.s)
    set_tests_properties(test_kernels_math_has_no_fused_multiply_add_under_clang PROPERTIES
        TIMEOUT 60)
endif()
