#!/bin/sh
# An outside meson project (tests/build/consumer) that uses libkvs as a
# subproject through a wrap file: `dependency('kvs')` must build and link.
set -eu
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$src/tests/build/consumer/meson.build" "$src/tests/build/consumer/app.c" "$tmp/"
mkdir "$tmp/subprojects"
cp "$src/tests/build/consumer/libkvs.wrap" "$tmp/subprojects/"
# The subproject's sources, as a user's checkout of them would be (no build dirs).
mkdir "$tmp/subprojects/libkvs"
(cd "$src" && tar cf - meson.build meson_options.txt include lib doc) |
    (cd "$tmp/subprojects/libkvs" && tar xf -)
meson setup "$tmp/build" "$tmp" >"$tmp/setup.log" 2>&1 || { cat "$tmp/setup.log"; exit 1; }
grep -q "Subproject libkvs finished" "$tmp/setup.log" || { cat "$tmp/setup.log"; exit 1; }
meson compile -C "$tmp/build" >"$tmp/compile.log" 2>&1 || { cat "$tmp/compile.log"; exit 1; }
"$tmp/build/app" "$tmp/db"
