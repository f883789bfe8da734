#!/bin/sh
# The shared library must export kvs_* functions only (and no kvs__ internals).
set -eu
nm_bin=$1
lib=$2
exported=$("$nm_bin" -D --defined-only "$lib" | awk '$2 ~ /^[TDBRV]$/ {print $3}' | sed 's/@.*//' | sort -u)
[ -n "$exported" ] || { echo "no exported symbols found in $lib"; exit 1; }
bad=$(echo "$exported" | grep -v '^kvs_' | grep -v '^KVS_1$' || true)
internal=$(echo "$exported" | grep '^kvs__' || true)
if [ -n "$bad$internal" ]; then
    echo "unexpected exported symbols:"; echo "$bad"; echo "$internal"
    exit 1
fi
count=$(echo "$exported" | grep -c '^kvs_')
echo "ok: $count kvs_* symbols exported, nothing else"
for want in kvs_open kvs_close kvs_get kvs_set kvs_remove kvs_free kvs_strerror \
            kvs_options_create kvs_options_destroy kvs_options_set_sync; do
    echo "$exported" | grep -qx "$want" || { echo "missing $want"; exit 1; }
done

# The static archive may hold internals, but every global name must carry the
# kvs_ prefix (kvs__ for internals) so that it cannot clash in a program.
static_lib=${3:-}
if [ -n "$static_lib" ]; then
    leaked=$("$nm_bin" -g --defined-only "$static_lib" | awk 'NF == 3 {print $3}' | grep -v '^kvs_' || true)
    if [ -n "$leaked" ]; then
        echo "global symbols without the kvs_ prefix in $static_lib:"; echo "$leaked"
        exit 1
    fi
    echo "ok: every global symbol of $(basename "$static_lib") is kvs_-prefixed"
fi
