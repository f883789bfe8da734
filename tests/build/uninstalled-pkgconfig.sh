#!/bin/sh
# Build and run a program against the build tree through meson's
# kvs-uninstalled.pc, as a project that uses libkvs from a build directory
# does; pkg-config sees nothing but that file (PKG_CONFIG_LIBDIR).
set -eu
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export PKG_CONFIG_LIBDIR="$build/meson-uninstalled"
unset PKG_CONFIG_PATH
test -f "$PKG_CONFIG_LIBDIR/kvs-uninstalled.pc"
# pkg-config prefers kvs-uninstalled.pc when asked for kvs.
flags=$(pkg-config --cflags --libs kvs)
echo "pkg-config (uninstalled): $flags"
# A build with sanitizers: the program needs their runtime too.
san=""
[ "${KVS_SANITIZE:-none}" = none ] || san="-fsanitize=$KVS_SANITIZE"
${CC:-cc} -std=c11 -Wall -Wextra -Werror $san "$src/tests/build/consumer/app.c" -o "$tmp/app" $flags
LD_LIBRARY_PATH="$build/lib" "$tmp/app" "$tmp/db"
