#!/bin/sh
# bench-floor-smoke: a tiny run of kvs-bench-floor (first argument) must
# report a time for each mode, reads and updates, and reject a bad argument.
set -eu
floor=$1
out=$("$floor" --records 5000 --reads 20000)
for mode in serialized overlapped; do
    echo "$out" | grep -Eq "^$mode: [0-9]+\.[0-9] ns per read$" || {
        echo "bench-floor-smoke: no '$mode' line in:" >&2
        echo "$out" >&2
        exit 1
    }
done
echo "$out" | grep -Eq "^update: [0-9]+\.[0-9] ns per update$" || {
    echo "bench-floor-smoke: no 'update' line in:" >&2
    echo "$out" >&2
    exit 1
}
if "$floor" --records 0 > /dev/null 2>&1; then
    echo "bench-floor-smoke: --records 0 was accepted" >&2
    exit 1
fi
