#!/bin/bash
# bench-server.sh: redis-benchmark against kvs-server, then against
# redis-server (AOF on, fsync every second), on 127.0.0.1, one after the
# other, and a markdown table of requests per second with the ratio.
#
#   scripts/bench-server.sh [-n REQUESTS] [-o OUT.md] [PATH/TO/kvs-server]
#
# The kvs-server binary comes from the argument, else $KVS_SERVER, else
# build/examples/server/kvs-server. Each server gets a free port and a
# temporary directory, is started in the foreground of a background job,
# waited for (bounded), benchmarked with
#   redis-benchmark -t set,get -n N -r N -d 100 -c 50 -P 1   and   -P 16
# and stopped by its PID. redis-server runs with
#   --appendonly yes --appendfsync everysec --save ''
# (RDB snapshots off, so a background save cannot slow Redis down mid-run).
set -euo pipefail

requests=${REQUESTS:-1000000}
out=""
clients=50
value_size=100
start_timeout=15  # seconds to wait for a server to accept connections
bench_timeout=600 # seconds one redis-benchmark run may take

usage() {
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

while getopts "n:o:h" opt; do
    case $opt in
    n) requests=$OPTARG ;;
    o) out=$OPTARG ;;
    h) usage 0 ;;
    *) usage 2 ;;
    esac
done
shift $((OPTIND - 1))

here=$(cd "$(dirname "$0")/.." && pwd)
kvs_server=${1:-${KVS_SERVER:-$here/build/examples/server/kvs-server}}
redis_server=${REDIS_SERVER:-redis-server}
redis_benchmark=${REDIS_BENCHMARK:-redis-benchmark}

die() {
    echo "bench-server: $*" >&2
    exit 1
}

[ -x "$kvs_server" ] || die "kvs-server not found or not executable at '$kvs_server' (build it, or pass its path as the argument or in \$KVS_SERVER)"
command -v "$redis_server" > /dev/null || die "redis-server not found (apt-get install redis-server)"
command -v "$redis_benchmark" > /dev/null || die "redis-benchmark not found (apt-get install redis-tools)"
case $requests in '' | *[!0-9]*) die "-n takes a number" ;; esac

work=$(mktemp -d "${TMPDIR:-/tmp}/kvs-bench-server.XXXXXX")
server_pid=""

stop_server() {
    [ -n "$server_pid" ] || return 0
    kill "$server_pid" 2> /dev/null || true
    for _ in $(seq 50); do # up to 5 s for a clean exit, then SIGKILL
        kill -0 "$server_pid" 2> /dev/null || break
        sleep 0.1
    done
    kill -9 "$server_pid" 2> /dev/null || true
    wait "$server_pid" 2> /dev/null || true
    server_pid=""
}

cleanup() {
    stop_server
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port nobody listens on: bind port 0 and read what the kernel gave.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT: until a TCP connect succeeds, at most $start_timeout s,
# and only while the server process is alive.
wait_port() {
    local port=$1
    for _ in $(seq $((start_timeout * 10))); do
        kill -0 "$server_pid" 2> /dev/null || return 1
        if (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# run_bench NAME PORT PIPELINE: appends "NAME,P,TEST,RPS,P50,P99" lines to results.csv.
run_bench() {
    local name=$1 port=$2 pipeline=$3
    local csv="$work/$name-P$pipeline.csv"
    echo "bench-server: $name -P $pipeline: redis-benchmark -t set,get -n $requests -r $requests -d $value_size -c $clients" >&2
    if ! timeout "$bench_timeout" "$redis_benchmark" -h 127.0.0.1 -p "$port" -t set,get \
        -n "$requests" -r "$requests" -d "$value_size" -c "$clients" -P "$pipeline" --csv \
        > "$csv" 2> "$work/$name-P$pipeline.err"; then
        cat "$work/$name-P$pipeline.err" >&2
        die "redis-benchmark against $name failed (or took over $bench_timeout s)"
    fi
    # redis-benchmark 7 CSV: "test","rps","avg_latency_ms","min_latency_ms",
    # "p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    tr -d '"' < "$csv" | awk -F, -v n="$name" -v p="$pipeline" \
        '$1 == "SET" || $1 == "GET" { print n "," p "," $1 "," $2 "," $5 "," $7 }' >> "$work/results.csv"
}

# bench_server NAME COMMAND...: start (COMMAND gets PORT and DIR substituted), measure, stop.
bench_server() {
    local name=$1 port dir
    shift
    port=$(free_port)
    dir="$work/$name-data"
    mkdir -p "$dir"
    local args=("${@//@PORT@/$port}")
    args=("${args[@]//@DIR@/$dir}")
    echo "bench-server: starting ${args[*]}" >&2
    "${args[@]}" > "$work/$name.log" 2>&1 &
    server_pid=$!
    if ! wait_port "$port"; then
        cat "$work/$name.log" >&2
        die "$name did not accept connections on 127.0.0.1:$port within $start_timeout s"
    fi
    run_bench "$name" "$port" 1
    run_bench "$name" "$port" 16
    stop_server
}

: > "$work/results.csv"
bench_server kvs-server "$kvs_server" --addr 127.0.0.1:@PORT@ --dir @DIR@
bench_server redis-server "$redis_server" --bind 127.0.0.1 --port @PORT@ --dir @DIR@ \
    --appendonly yes --appendfsync everysec --save '' --daemonize no

# The table: one row per (pipeline, command), kvs-server against redis-server.
report() {
    echo "# Server benchmark: kvs-server vs redis-server"
    echo
    echo "- $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr), $(nproc) CPUs; $("$redis_benchmark" --version | head -1)"
    echo "- Command: \`redis-benchmark -h 127.0.0.1 -p PORT -t set,get -n $requests -r $requests -d $value_size -c $clients -P {1,16}\`"
    echo "- kvs-server: \`$(basename "$kvs_server") --addr 127.0.0.1:PORT --dir TMPDIR\` (default --sync interval: fdatasync at least once a second, the counterpart of appendfsync everysec)"
    echo "- redis-server: \`--appendonly yes --appendfsync everysec --save ''\`, otherwise defaults"
    echo
    echo "| test | pipeline | kvs-server req/s | redis-server req/s | kvs ÷ redis | kvs p50/p99 ms | redis p50/p99 ms |"
    echo "|---|---|---|---|---|---|---|"
    awk -F, '
        { key = $2 "," $3; rps[$1, key] = $4; lat[$1, key] = $5 " / " $6; if (!(key in seen)) { seen[key] = 1; order[++n] = key } }
        END {
            for (i = 1; i <= n; i++) {
                split(order[i], k, ",")
                a = rps["kvs-server", order[i]]; b = rps["redis-server", order[i]]
                printf "| %s | %s | %.0f | %.0f | %s | %s | %s |\n", k[2], k[1], a, b,
                    (b > 0 ? sprintf("%.2f×", a / b) : "—"), lat["kvs-server", order[i]], lat["redis-server", order[i]]
            }
        }' "$work/results.csv"
}

if [ -n "$out" ]; then
    report | tee "$out"
else
    report
fi
