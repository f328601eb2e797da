#!/usr/bin/env bash
# Sets up, builds and runs every test: the normal build, then the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer. `--quick` skips the sanitizer pass.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1

scripts/setup.sh

echo "== build (build/)"
BUILD_DIR=build scripts/build.sh
echo "== tests"
(cd build && ctest --output-on-failure -j2)

if [ $quick -eq 0 ]; then
    echo "== build with ASan+UBSan (build-asan/)"
    BUILD_DIR=build-asan BUILD_TYPE=Debug scripts/build.sh -DVIGIL_SANITIZE=address,undefined
    echo "== tests under ASan+UBSan"
    (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j2)
fi
