#!/bin/sh
# Install the library into a temporary prefix, then build and run a program
# against the *installed* copy using only `pkg-config --cflags --libs kvs`.
set -eu
src=$2
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
cat >"$tmp/app.c" <<'C'
#include <kvs.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv)
{
    kvs_t *db;
    if (argc < 2 || kvs_open(argv[1], NULL, &db) != KVS_OK) return 1;
    if (kvs_set(db, "answer", 6, "42", 2) != KVS_OK) return 2;
    void *v; size_t n;
    if (kvs_get(db, "answer", 6, &v, &n) != KVS_OK || n != 2 || strcmp(v, "42")) return 3;
    kvs_free(v);
    if (strcmp(kvs_version(), KVS_VERSION_STRING) != 0) return 4;
    printf("installed libkvs %s works\n", kvs_version());
    return kvs_close(db) == KVS_OK ? 0 : 5;
}
C
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
flags=$(pkg-config --cflags --libs kvs)
echo "pkg-config: $flags"
${CC:-cc} -std=c11 -Wall -Wextra -Werror "$tmp/app.c" -o "$tmp/app" $flags
LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/app" "$tmp/db"
# The binary must have picked the soname, not the unversioned link name.
readelf -d "$tmp/app" | grep -q 'NEEDED.*libkvs.so.1'
# And the static library links on its own.
${CC:-cc} -std=c11 "$tmp/app.c" -o "$tmp/app-static" $(pkg-config --cflags --static kvs) \
    "$tmp/prefix/lib/libkvs.a" -pthread
"$tmp/app-static" "$tmp/db-static"
