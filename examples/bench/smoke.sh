#!/bin/sh
# bench-smoke: runs kvs-bench (first argument) with the arguments after the
# second in a temporary directory and checks that it succeeded and wrote its
# outputs. The second argument lists, separated by ';' (labels contain
# commas), the labels of rows the report must have, and with a leading '!'
# rows it must not have (so a --benchmarks selection is checked both ways).
# Timing is never checked.
# The chart is required only when gnuplot is installed.
set -eu
bench=$1
rows=$2
shift 2
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
# A row of the results table starts its line with "| label |"; compared as
# plain text (labels have parentheses and '+').
has_row() {
    awk -v r="| $1 |" 'index($0, r) == 1 { found = 1 } END { exit !found }' "$work/out.md"
}
old_ifs=$IFS
IFS=';'
for row in $rows; do
    case $row in
    !*) if has_row "${row#!}"; then
            echo "bench-smoke: row '${row#!}' was not asked for but is there" >&2
            exit 1
        fi ;;
    *) if ! has_row "$row"; then
            echo "bench-smoke: no '$row' row" >&2
            exit 1
        fi ;;
    esac
done
IFS=$old_ifs
if grep -q 'FAILED' "$work/out.md"; then
    echo "bench-smoke: a workload failed:" >&2
    grep 'FAILED' "$work/out.md" >&2
    exit 1
fi
echo "bench-smoke: ok ($(grep -c '' "$work/out.csv") CSV lines)"
