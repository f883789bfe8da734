#!/bin/sh
# Run the libFuzzer targets (tests/fuzz, doc/FUZZING.md) for a while each.
#
#   scripts/fuzz.sh [--seconds S] [--build DIR] [TARGET...]
#
# Installs clang if missing, builds the targets with -Dfuzzing=true in
# build-fuzz (or DIR), then runs each TARGET (default: all of recovery,
# crash, resp, commands) for S seconds (default 60), one after the other,
# starting from the seed corpus (tests/fuzz/corpus/TARGET) plus what earlier
# runs in the same build directory found (DIR/fuzz/corpus/TARGET). Prints
# executions per target. Exits non-zero if any target crashed, leaked, hung
# or ran out of memory; the input that did it is in DIR/fuzz/artifacts/TARGET/
# (replay it with DIR/tests/fuzz/fuzz-TARGET FILE; see doc/FUZZING.md for
# turning it into a regression input).
set -eu
cd "$(dirname "$0")/.."
. scripts/common.sh

seconds=60
dir=build-fuzz
while [ $# -gt 0 ]; do
    case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --build) dir=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    --) shift; break ;;
    -*) fail "unknown option $1 (see $0 --help)" ;;
    *) break ;;
    esac
done
targets=${*:-recovery crash resp commands}
case $seconds in
'' | *[!0-9]*) fail "--seconds wants a whole number, got '$seconds'" ;;
esac

ensure_packages $KVS_BUILD_PACKAGES $KVS_FUZZ_PACKAGES
CC=clang
export CC
# tests=auto: the fuzz targets need no Check
configure_build "$dir" -Dfuzzing=true -Dtests=auto -Ddocs=disabled -Dbenchmarks=false
for t in $targets; do
    stage "compiling fuzz-$t"
    meson compile -C "$dir" "tests/fuzz/fuzz-$t" >"$dir/fuzz-build-$t.log" 2>&1 ||
        fail "building fuzz-$t (see $dir/fuzz-build-$t.log)"
done

# Leaks are reported by libFuzzer itself at the end of each input.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS UBSAN_OPTIONS

summary=""
failed=""
for t in $targets; do
    work="$dir/fuzz/corpus/$t"
    art="$dir/fuzz/artifacts/$t"
    log="$dir/fuzz/fuzz-$t.log"
    mkdir -p "$work" "$art"
    stage "fuzzing $t for $seconds s (log: $log)"
    status=0
    "$dir/tests/fuzz/fuzz-$t" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$art/" "$work" "tests/fuzz/corpus/$t" \
        >"$log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    corpus=$(find "$work" -type f | wc -l)
    line="fuzz-$t: ${execs:-?} executions in $seconds s (${rate:-?}/s), corpus $corpus inputs"
    if [ "$status" -ne 0 ]; then
        grep -E 'ERROR|runtime error|invariant violated|SUMMARY' "$log" | head -n 5 >&2 || true
        grep 'Test unit written to' "$log" | tail -n 1 >&2 || true
        line="$line: FAILED (exit $status)"
        failed="$failed $t"
    fi
    echo "$line"
    summary="$summary$line
"
done

echo "== executions per target"
printf '%s' "$summary"
[ -z "$failed" ] || fail "fuzz targets failed:$failed (inputs in $dir/fuzz/artifacts/)"
