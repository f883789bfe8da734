#!/bin/sh
# Install what is missing, build everything (library, examples, benchmark,
# docs) with warnings as errors, and run the whole test suite.
# Extra arguments go to `meson test` (e.g. a suite name).
set -eu
cd "$(dirname "$0")/.."
. scripts/common.sh
ensure_packages $KVS_BUILD_PACKAGES $KVS_TEST_PACKAGES $KVS_BENCH_PACKAGES
configure_build build -Dtests=enabled -Ddocs=enabled -Dexamples=true -Dbenchmarks=true \
    -Dwerror=true
compile_build build
stage "running the test suite (meson test -C build)"
meson test -C build --print-errorlogs "$@" || fail "tests (logs: build/meson-logs/testlog.txt)"
