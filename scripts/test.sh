#!/bin/sh
# Install what is missing, build everything (library, examples, benchmark,
# docs) with warnings as errors, and run the whole test suite.
# Extra arguments go to `meson test` (e.g. a suite name).
set -eu
cd "$(dirname "$0")/.."
. scripts/common.sh
ensure_packages $KVS_BUILD_PACKAGES $KVS_BENCH_PACKAGES
configure_build build -Dtests=enabled -Ddocs=enabled -Dexamples=true -Dbenchmarks=true \
    -Dwerror=true
meson compile -C build
meson test -C build --print-errorlogs "$@"
