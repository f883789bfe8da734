#!/bin/sh
# Install the library into a temporary prefix, then build and run a program
# against the *installed* copy using only `pkg-config --cflags --libs kvs`,
# with pkg-config limited to that prefix (PKG_CONFIG_LIBDIR), so that kvs.pc
# must not need any other .pc file (xxHash is used header-only inside).
set -eu
build=$1
src=$2
app=$src/tests/build/consumer/app.c
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
meson setup "$tmp/build" "$src" --prefix="$tmp/prefix" --libdir=lib \
    -Dtests=disabled -Ddocs=disabled -Dexamples=false >"$tmp/setup.log" 2>&1 ||
    { cat "$tmp/setup.log"; exit 1; }
meson install -C "$tmp/build" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; exit 1; }
test -f "$tmp/prefix/include/kvs.h"
test -L "$tmp/prefix/lib/libkvs.so"
test -e "$tmp/prefix/lib/libkvs.so.1"
test -f "$tmp/prefix/lib/libkvs.a"
export PKG_CONFIG_LIBDIR="$tmp/prefix/lib/pkgconfig"
unset PKG_CONFIG_PATH
pkg-config --print-requires --print-requires-private kvs >"$tmp/requires"
if [ -s "$tmp/requires" ]; then
    echo "kvs.pc requires other packages:"; cat "$tmp/requires"; exit 1
fi
url=$(pkg-config --variable=prefix kvs >/dev/null && sed -n 's/^URL: //p' "$PKG_CONFIG_LIBDIR/kvs.pc")
case "$url" in *example.invalid*|"") echo "kvs.pc has a placeholder URL: '$url'"; exit 1 ;; esac
flags=$(pkg-config --cflags --libs kvs)
echo "pkg-config: $flags"
${CC:-cc} -std=c11 -Wall -Wextra -Werror "$app" -o "$tmp/app" $flags
LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/app" "$tmp/db"
# The binary must have picked the soname, not the unversioned link name.
readelf -d "$tmp/app" | grep -q 'NEEDED.*libkvs.so.1'
# And the static library links on its own, with the flags pkg-config gives.
${CC:-cc} -std=c11 "$app" -o "$tmp/app-static" $(pkg-config --cflags kvs) \
    "$tmp/prefix/lib/libkvs.a" $(pkg-config --libs --static kvs | sed 's/-lkvs//')
"$tmp/app-static" "$tmp/db-static"
# The installed tree moved (as a --destdir install or a relocated package
# is): kvs.pc names its directories relative to itself, so it still works.
mv "$tmp/prefix" "$tmp/moved"
export PKG_CONFIG_LIBDIR="$tmp/moved/lib/pkgconfig"
flags=$(pkg-config --cflags --libs kvs)
case "$flags" in
*"$tmp/moved/"*) ;;
*) echo "kvs.pc does not follow the moved tree: $flags"; exit 1 ;;
esac
${CC:-cc} -std=c11 -Wall -Wextra -Werror "$app" -o "$tmp/app-moved" $flags
LD_LIBRARY_PATH="$tmp/moved/lib" "$tmp/app-moved" "$tmp/db-moved"
