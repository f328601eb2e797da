#!/usr/bin/env bash
# Configures and builds Vigil into BUILD_DIR (default build/). Extra arguments go to cmake.
# Quiet on success; prints the build log on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
mkdir -p "$BUILD_DIR"
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ] || [ $# -gt 0 ]; then
    if ! cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" "$@" \
        >"$BUILD_DIR/configure.log" 2>&1; then
        cat "$BUILD_DIR/configure.log"
        exit 1
    fi
fi
if ! cmake --build "$BUILD_DIR" -j"$(nproc)" >"$BUILD_DIR/build.log" 2>&1; then
    cat "$BUILD_DIR/build.log"
    exit 1
fi
