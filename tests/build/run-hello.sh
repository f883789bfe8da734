#!/bin/sh
# Run examples/hello in a fresh directory and check what it prints.
set -eu
hello=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
out=$("$hello" "$dir/db")
echo "$out"
echo "$out" | grep -qx 'greeting = hello, world (12 bytes)'
echo "$out" | grep -qx 'after remove: not found'
ls "$dir/db"/*.log >/dev/null
