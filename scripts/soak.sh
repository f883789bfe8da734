#!/bin/sh
# Run the long forms of the reliability tests (doc/RELIABILITY.md) for as
# long as asked.
#
#   scripts/soak.sh [--minutes M] [--seed N] [--build DIR] [--asan] [--no-build]
#                   [TEST...] [-- ARGS...]
#
#   TEST        which tests to run, in order (default: all of them): crash,
#               load (1,000 server connections), fuzz (the four libFuzzer
#               targets; scripts/fuzz.sh, its own clang build in build-fuzz)
#   --minutes   total time, shared equally by the tests (default 60)
#   --seed      seed for every test (default: each picks one and prints it)
#   --build     build directory (default build-soak, or build-soak-asan)
#   --asan      build with AddressSanitizer and UndefinedBehaviorSanitizer
#   --no-build  use the build directory as it is
#   -- ARGS     passed to every test program after the script's own arguments
#               (so they override them), e.g. -- --cycles 10000 --seconds 0
#
# Each test writes its whole output to DIR/soak-logs/TEST.log and one
# summary line here. The script stops at the first failure, shows the end of
# that test's log (which names the seed to replay it), and exits 1.
#
# Adding a test: write a function soak_NAME that is called with the seconds
# it may run and then the extra arguments, runs the test in the foreground
# and returns non-zero on failure (the programs are in $build, the seed
# option in $seed_args), and add NAME to SOAK_TESTS.
set -eu
cd "$(dirname "$0")/.."
. scripts/common.sh

SOAK_TESTS="crash load fuzz"

# ---- the tests ----

# Crash loop: kill -9 a writer at random moments, reopen, check the model.
# Runs cycles until the time is up (about 3 cycles a second here).
soak_crash() {
    secs=$1
    shift
    # shellcheck disable=SC2086 # $seed_args is empty or two words
    "$build/tests/reliability/crashloop" --seconds "$secs" --cycles 0 $seed_args "$@"
}

# Server load: 1,000 connections doing mixed commands, every reply checked,
# a fresh client's PING latency measured (tests/server/test-load.c). Check
# gives the test the load time plus 180 s; leave those for it.
soak_load() {
    secs=$(($1 > 240 ? $1 - 180 : 60))
    shift
    KVS_SERVER="$build/examples/server/kvs-server" \
        "$build/tests/server/test-load" --seconds "$secs" "$@"
}

# Fuzzing: each libFuzzer target for a quarter of the time (a clang build of
# its own, so --asan and --build do not apply; libFuzzer always runs with
# ASan and UBSan).
soak_fuzz() {
    secs=$(($1 / 4 > 10 ? $1 / 4 : 10))
    shift
    scripts/fuzz.sh --seconds "$secs" "$@"
}

# ---- the driver ----

usage() {
    sed -n '2,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

minutes=60
seed_args=""
build=""
asan=0
do_build=1
tests=""
while [ $# -gt 0 ]; do
    case $1 in
    --minutes) [ $# -ge 2 ] || usage; minutes=$2; shift 2 ;;
    --seed) [ $# -ge 2 ] || usage; seed_args="--seed $2"; shift 2 ;;
    --build) [ $# -ge 2 ] || usage; build=$2; shift 2 ;;
    --asan) asan=1; shift ;;
    --no-build) do_build=0; shift ;;
    -h | --help) usage ;;
    --) shift; break ;;
    -*) usage ;;
    *)
        case " $SOAK_TESTS " in
        *" $1 "*) tests="$tests $1" ;;
        *) echo "unknown test '$1' (known: $SOAK_TESTS)" >&2; exit 2 ;;
        esac
        shift
        ;;
    esac
done
case $minutes in
'' | *[!0-9]*) echo "--minutes takes a whole number" >&2; exit 2 ;;
esac
[ "$minutes" -gt 0 ] || { echo "--minutes must be at least 1" >&2; exit 2; }
tests=${tests# }
[ -n "$tests" ] || tests=$SOAK_TESTS
if [ -z "$build" ]; then
    build="build-soak"
    [ $asan -eq 0 ] || build="build-soak-asan"
fi

if [ $do_build -eq 1 ]; then
    # shellcheck disable=SC2086 # a list of package names
    ensure_packages $KVS_BUILD_PACKAGES check
    if [ $asan -eq 1 ]; then
        configure_build "$build" -Dtests=enabled -Ddocs=disabled -Dexamples=true \
            -Dbenchmarks=false -Db_sanitize=address,undefined -Db_lundef=false
        export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
        export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
    else
        configure_build "$build" -Dtests=enabled -Ddocs=disabled -Dexamples=true \
            -Dbenchmarks=false
    fi
    compile_build "$build"
fi

count=0
for t in $tests; do count=$((count + 1)); done
share=$((minutes * 60 / count))
logs=$build/soak-logs
mkdir -p "$logs"
stage "soak: $tests, $share s each, logs in $logs"
for t in $tests; do
    log=$logs/$t.log
    start=$(date +%s)
    if "soak_$t" "$share" "$@" >"$log" 2>&1; then
        echo "soak $t: ok in $(($(date +%s) - start)) s: $(tail -n 1 "$log")"
    else
        echo "soak $t: FAILED after $(($(date +%s) - start)) s; end of $log:" >&2
        tail -n 40 "$log" >&2
        exit 1
    fi
done
