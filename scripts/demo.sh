#!/bin/sh
# Install what is missing, build, then show a round trip: start kvs-server on
# a data directory, set/get/rm a key with kvs-client, stop the server, start
# it again and read the key back from disk.
set -eu
cd "$(dirname "$0")/.."
. scripts/common.sh
ensure_packages $KVS_BUILD_PACKAGES
configure_build build -Dexamples=true
compile_build build

server=build/examples/server/kvs-server
client=build/examples/client/kvs-client
data=${KVS_DEMO_DIR:-demo-data}
addr=127.0.0.1:${KVS_DEMO_PORT:-4000}
mkdir -p "$data"

start_server() {
    "$server" --addr "$addr" --dir "$data" 2>>"$data/server.log" &
    pid=$!
    # wait (bounded) until it answers
    i=0
    until "$client" --addr "$addr" get __ping__ >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "kvs-server did not start; see $data/server.log"; exit 1; }
        kill -0 "$pid" 2>/dev/null || { cat "$data/server.log"; exit 1; }
        sleep 0.05
    done
}
stop_server() {
    kill -TERM "$pid"
    wait "$pid" || true
}

stage "starting kvs-server on $addr, data in $data"
start_server
echo "\$ kvs-client set greeting 'hello, world'"
"$client" --addr "$addr" set greeting 'hello, world'
echo "\$ kvs-client get greeting"
"$client" --addr "$addr" get greeting
stop_server
echo "(server restarted on the same data directory: $data)"
start_server
echo "\$ kvs-client get greeting"
"$client" --addr "$addr" get greeting
echo "\$ kvs-client rm greeting"
"$client" --addr "$addr" rm greeting
echo "\$ kvs-client get greeting"
"$client" --addr "$addr" get greeting
stop_server
echo "demo done: data in $data, server log in $data/server.log"
