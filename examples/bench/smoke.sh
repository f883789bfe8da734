#!/bin/sh
# bench-smoke: runs kvs-bench (first argument) with the remaining arguments
# in a temporary directory and checks that it succeeded and wrote its
# outputs. Timing is never checked. The chart is required only when
# gnuplot is installed.
set -eu
bench=$1
shift
work=$(mktemp -d "${TMPDIR:-/tmp}/kvs-bench-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

"$bench" "$@" --dir "$work/data" --out "$work/out" > "$work/stdout"

for ext in md csv; do
    if [ ! -s "$work/out.$ext" ]; then
        echo "bench-smoke: $work/out.$ext is missing or empty" >&2
        exit 1
    fi
done
if command -v gnuplot > /dev/null 2>&1 && [ ! -s "$work/out.png" ]; then
    echo "bench-smoke: gnuplot is installed but out.png was not written" >&2
    exit 1
fi
grep -q '^| fillrandom |' "$work/out.md" || { echo "bench-smoke: no fillrandom row" >&2; exit 1; }
if grep -q 'FAILED' "$work/out.md"; then
    echo "bench-smoke: a workload failed:" >&2
    grep 'FAILED' "$work/out.md" >&2
    exit 1
fi
echo "bench-smoke: ok ($(grep -c '' "$work/out.csv") CSV lines)"
