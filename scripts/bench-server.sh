#!/bin/bash
# bench-server.sh: redis-benchmark against kvs-server, then against
# redis-server (AOF on, fsync every second), on 127.0.0.1, one after the
# other, and a markdown table of requests per second with the ratio.
#
#   scripts/bench-server.sh [-n REQUESTS] [-r ROUNDS] [-o OUT.md] [PATH/TO/kvs-server]
#
# The kvs-server binary comes from the argument, else $KVS_SERVER, else
# build/examples/server/kvs-server. Each server gets a free port and a
# temporary directory, is started in the foreground of a background job,
# waited for (bounded), benchmarked with
#   redis-benchmark -t set,get -n N -r N -d 100 -c 50 -P 1   and   -P 16
# and stopped by its PID. redis-server runs with
#   --appendonly yes --appendfsync everysec --save ''
# (RDB snapshots off, so a background save cannot slow Redis down mid-run).
# With -r R (default 1) the pair runs R times, alternating servers, each round
# on fresh data directories; each cell is the median of the R rounds, with
# the range, since a single -P 1 run on a shared 2-CPU machine varies ±20 %.
set -euo pipefail

requests=${REQUESTS:-1000000}
rounds=1
out=""
clients=50
value_size=100
start_timeout=15  # seconds to wait for a server to accept connections
bench_timeout=600 # seconds one redis-benchmark run may take

usage() {
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

while getopts "n:r:o:h" opt; do
    case $opt in
    n) requests=$OPTARG ;;
    r) rounds=$OPTARG ;;
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
case $rounds in '' | 0 | *[!0-9]*) die "-r takes a number above 0" ;; esac

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

# run_bench NAME PORT PIPELINE ROUND: appends "NAME,P,TEST,RPS,P50,P99" lines to results.csv.
run_bench() {
    local name=$1 port=$2 pipeline=$3 round=$4
    local csv="$work/$name-P$pipeline-r$round.csv"
    echo "bench-server: round $round/$rounds, $name -P $pipeline: redis-benchmark -t set,get -n $requests -r $requests -d $value_size -c $clients" >&2
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

# bench_server NAME ROUND COMMAND...: start (COMMAND gets PORT and DIR substituted), measure, stop.
bench_server() {
    local name=$1 round=$2 port dir
    shift 2
    port=$(free_port)
    dir="$work/$name-data-$round"
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
    run_bench "$name" "$port" 1 "$round"
    run_bench "$name" "$port" 16 "$round"
    stop_server
    rm -rf "$dir"
}

: > "$work/results.csv"
for round in $(seq "$rounds"); do
    bench_server kvs-server "$round" "$kvs_server" --addr 127.0.0.1:@PORT@ --dir @DIR@
    bench_server redis-server "$round" "$redis_server" --bind 127.0.0.1 --port @PORT@ \
        --dir @DIR@ --appendonly yes --appendfsync everysec --save '' --daemonize no
done

# The table: one row per (pipeline, command), kvs-server against redis-server.
report() {
    echo "# Server benchmark: kvs-server vs redis-server"
    echo
    echo "- $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr), $(nproc) CPUs; $("$redis_benchmark" --version | head -1)"
    echo "- Command: \`redis-benchmark -h 127.0.0.1 -p PORT -t set,get -n $requests -r $requests -d $value_size -c $clients -P {1,16}\`"
    echo "- kvs-server: \`$(basename "$kvs_server") --addr 127.0.0.1:PORT --dir TMPDIR\` (default --sync interval: fdatasync at least once a second, the counterpart of appendfsync everysec)"
    echo "- redis-server: \`--appendonly yes --appendfsync everysec --save ''\`, otherwise defaults"
    echo "- $rounds round(s), servers alternating; each cell is the median over the rounds (range in brackets when more than one)"
    echo
    echo "| test | pipeline | kvs-server req/s | redis-server req/s | kvs ÷ redis | kvs p50/p99 ms | redis p50/p99 ms |"
    echo "|---|---|---|---|---|---|---|"
    awk -F, '
        function median(arr, base, cnt,    i, j, t, v) {
            for (i = 1; i <= cnt; i++) v[i] = arr[base, i] + 0
            for (i = 2; i <= cnt; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
            lo = v[1]; hi = v[cnt]
            return cnt % 2 ? v[(cnt + 1) / 2] : (v[cnt / 2] + v[cnt / 2 + 1]) / 2
        }
        function cell(name, key,    m) {
            m = median(rps, name SUBSEP key, cnt[name, key])
            return cnt[name, key] > 1 ? sprintf("%.0f [%.0f–%.0f]", m, lo, hi) : sprintf("%.0f", m)
        }
        {
            key = $2 "," $3; c = ++cnt[$1, key]
            rps[$1, key, c] = $4; p50[$1, key, c] = $5; p99[$1, key, c] = $6
            if (!(key in seen)) { seen[key] = 1; order[++n] = key }
        }
        END {
            for (i = 1; i <= n; i++) {
                key = order[i]; split(key, k, ",")
                a = median(rps, "kvs-server" SUBSEP key, cnt["kvs-server", key])
                b = median(rps, "redis-server" SUBSEP key, cnt["redis-server", key])
                ka = cell("kvs-server", key); kb = cell("redis-server", key)
                kl = sprintf("%.3f / %.3f", median(p50, "kvs-server" SUBSEP key, cnt["kvs-server", key]),
                             median(p99, "kvs-server" SUBSEP key, cnt["kvs-server", key]))
                rl = sprintf("%.3f / %.3f", median(p50, "redis-server" SUBSEP key, cnt["redis-server", key]),
                             median(p99, "redis-server" SUBSEP key, cnt["redis-server", key]))
                printf "| %s | %s | %s | %s | %s | %s | %s |\n", k[2], k[1], ka, kb,
                    (b > 0 ? sprintf("%.2f×", a / b) : "—"), kl, rl
            }
        }' "$work/results.csv"
}

if [ -n "$out" ]; then
    report | tee "$out"
else
    report
fi
