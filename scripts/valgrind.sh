#!/bin/sh
# valgrind memcheck on the example programs and one kvs-server session:
#  - hello, on a fresh directory;
#  - kvs-server under valgrind (--timeout and a small --client-output-limit,
#    so that the idle sweep and the output-limit disconnect run too), serving
#    kvs-client (itself under valgrind: set, get, rm), redis-cli (a few
#    commands, a pipeline), a malformed request, an idle client and a reply
#    past the limit, then SHUTDOWN.
# Any memcheck error or definite/indirect leak fails (valgrind exits 3).
# Usage: scripts/valgrind.sh [BUILD_DIR]   (default: build; needs valgrind,
# redis-cli and python3, which scripts/common.sh's test packages install)
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
server=$build/examples/server/kvs-server
client=$build/examples/client/kvs-client
vg="valgrind -q --error-exitcode=3 --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect"

for tool in valgrind redis-cli python3; do
    command -v $tool >/dev/null || { echo "valgrind.sh: $tool is missing" >&2; exit 1; }
done
tmp=$(mktemp -d)
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

run() {
    echo "--- $*" >&2
    "$@"
}

# shellcheck disable=SC2086
run $vg "$build/examples/hello" "$tmp/hello-db" >/dev/null

echo "--- kvs-server under valgrind"
# shellcheck disable=SC2086
$vg "$server" --addr 127.0.0.1:0 --port-file "$tmp/port" --dir "$tmp/data" --threads 2 \
    --timeout 2 --client-output-limit 64k 2>"$tmp/server.log" &
server_pid=$!
i=0
while [ ! -s "$tmp/port" ]; do
    i=$((i + 1))
    if [ $i -gt 600 ] || ! kill -0 "$server_pid" 2>/dev/null; then
        cat "$tmp/server.log" >&2
        echo "valgrind.sh: kvs-server did not start" >&2
        exit 1
    fi
    sleep 0.1
done
port=$(cat "$tmp/port")
addr=127.0.0.1:$port

# shellcheck disable=SC2086
{
    run $vg "$client" --addr "$addr" --timeout 30 set greeting hello
    got=$($vg "$client" --addr "$addr" --timeout 30 get greeting) # an error here stops the script
    test "$got" = hello
    run $vg "$client" --addr "$addr" --timeout 30 rm greeting
}
cli() {
    redis-cli -p "$port" "$@"
}
run cli mset a 1 b 2 c 3 >/dev/null
test "$(cli mget a b nokey | tr '\n' ' ')" = "1 2  "
run cli del a >/dev/null
run cli scan 0 match '*' count 100 >/dev/null
run cli keys '*' >/dev/null
run cli info >/dev/null
run cli config get '*' >/dev/null
run cli client setname vg >/dev/null
printf 'SET k%d v%d\r\n' $(seq 1 400 | sed 's/.*/& &/') | cli --pipe >/dev/null
echo "--- a malformed request, an idle client, a reply past the output limit"
python3 - "$port" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
def conn():
    return socket.create_connection(("127.0.0.1", port), timeout=30)
s = conn()
s.sendall(b"*1\r\n$x\r\n")
assert s.recv(100).startswith(b"-ERR Protocol error"), "no protocol error"
idle = conn()                                # closed by --timeout 2
assert idle.recv(10) == b"", "idle client not closed"
big = conn()
big.sendall(b"SET big " + b"x" * 60000 + b"\r\nMGET big big\r\n")
data = b""
while True:                  # +OK, then closed: the MGET's 120 KB is past 64k
    chunk = big.recv(65536)
    if not chunk:
        break
    data += chunk
assert data == b"+OK\r\n", data[:40]
PY
run cli shutdown >/dev/null 2>&1 || true
status=0
wait "$server_pid" || status=$?
server_pid=""
if [ "$status" -ne 0 ]; then
    cat "$tmp/server.log" >&2
    echo "valgrind.sh: kvs-server exited with status $status under valgrind" >&2
    exit 1
fi
grep -E '^==[0-9]+==' "$tmp/server.log" >&2 && exit 1
echo "valgrind: hello, kvs-client and a kvs-server session clean"
