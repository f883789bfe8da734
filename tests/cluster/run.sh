#!/bin/sh
# The cluster test's entry point: exit 77 (meson's "skipped") when a tool it
# needs is missing, else run test_cluster.py with Debian's python3 (which has
# the redis module; a python3 earlier on PATH may not).
py=/usr/bin/python3
if ! [ -x "$py" ] || ! "$py" -c 'import redis' 2> /dev/null; then
    echo "SKIP: needs /usr/bin/python3 with the redis module (apt-get install python3-redis)"
    exit 77
fi
if [ -z "${NUTCRACKER:-}" ]; then
    NUTCRACKER=$(command -v nutcracker) || NUTCRACKER=/usr/sbin/nutcracker
fi
if ! [ -x "$NUTCRACKER" ]; then
    echo "SKIP: needs nutcracker (apt-get install nutcracker)"
    exit 77
fi
export NUTCRACKER
exec "$py" "$(dirname "$0")/test_cluster.py" "$@"
