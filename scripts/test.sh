#!/usr/bin/env bash
# Sets up, builds and runs every test: the normal build, then the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer, then each libFuzzer target for a fixed number of
# mutations from a fixed seed (FUZZ_RUNS, default 150000; FUZZ_SEED, default 1). `--quick` runs
# only the normal build's suite and the package test.
#
# The fuzz step here is a bounded regression check: a fixed seed and count (not a timer, which
# gives a slow machine fewer inputs) make runs of one commit nearly alike (libFuzzer still keeps
# a few timing-dependent choices). Open-ended exploration, which does find new bugs, is
# bench/fuzz-long; whatever it finds goes into tests/fuzz/corpus/ and is replayed here and by
# ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1

scripts/setup.sh

# Root on a kernel with BTF (as CI is) can load and test the eBPF collectors: require them
# there, so a missing clang or bpftool fails the build rather than leaving test_bpf skipped, and
# a collector refused for want of privilege (EPERM, no root) fails test_bpf rather than skipping
# its cases (VIGIL_REQUIRE_BPF, tests/test_bpf.c).
bpf=()
if [ "$(id -u)" -eq 0 ] && [ -e /sys/kernel/btf/vmlinux ]; then
    bpf=(-DVIGIL_BPF=ON)
    export VIGIL_REQUIRE_BPF=1
fi

# A runner with a GPU must test it: a driver or library problem then fails the *_gpu tests
# instead of skipping them as a missing GPU (tests/vg_testgpu.h).
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
    export VIGIL_REQUIRE_GPU=1
fi

echo "== build (build/)"
BUILD_DIR=build scripts/build.sh ${bpf[@]+"${bpf[@]}"}
echo "== tests"
(cd build && ctest --output-on-failure -j2)
echo "== packages: build, install, check, purge"
BUILD_DIR=build scripts/test-packages.sh

if [ $quick -eq 0 ]; then
    echo "== build with ASan+UBSan (build-asan/)"
    BUILD_DIR=build-asan BUILD_TYPE=Debug scripts/build.sh -DVIGIL_SANITIZE=address,undefined \
        ${bpf[@]+"${bpf[@]}"}
    echo "== tests under ASan+UBSan"
    (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j2)
fi

if [ $quick -eq 0 ]; then
    echo "== fuzz targets, ${FUZZ_RUNS:-150000} runs each from seed ${FUZZ_SEED:-1} (build-fuzz/)"
    BUILD_DIR=build-fuzz scripts/build.sh -DCMAKE_C_COMPILER=clang -DVIGIL_FUZZ=ON
    for f in build-fuzz/tests/fuzz/fuzz_*; do
        [ -x "$f" ] || continue
        name=$(basename "$f")
        corpus=tests/fuzz/corpus/${name#fuzz_}
        scratch=$(mktemp -d)
        dict=()
        [ -f "tests/fuzz/${name#fuzz_}.dict" ] && dict=(-dict="tests/fuzz/${name#fuzz_}.dict")
        if ! "$f" "${dict[@]}" -seed="${FUZZ_SEED:-1}" -runs="${FUZZ_RUNS:-150000}" -print_final_stats=1 \
            "$scratch" "$corpus" >"build-fuzz/$name.log" 2>&1; then
            tail -40 "build-fuzz/$name.log"
            echo "$name: FAILED (crash input saved by libFuzzer, see above)"
            exit 1
        fi
        echo "$name: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "build-fuzz/$name.log" | grep -o '[0-9]*$') executions, no crash"
        rm -rf "$scratch"
    done
fi
