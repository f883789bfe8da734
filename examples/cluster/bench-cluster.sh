#!/bin/bash
# bench-cluster.sh: redis-benchmark through nutcracker in front of N
# kvs-servers (kvs-cluster.sh) against one kvs-server directly, alternating,
# and a markdown table of the medians with the ratio.
#
#   examples/cluster/bench-cluster.sh [-n REQUESTS] [-k KEYSPACE] [-s SERVERS] [-r ROUNDS] [-o OUT.md]
#
# Defaults: -n 200000 -k 100000 -s 3 -r 3. Each round starts a fresh cluster
# and a fresh single server (own temporary data directories, free 127.0.0.1
# ports), runs against each, in turn (the order alternates between rounds):
#   redis-benchmark -h 127.0.0.1 -p PORT -t set,get -n N -r K -d 100 -c 50 -P 1   and   -P 16
# and stops everything by PID. Each cell of the table is the median of the
# rounds (with the range). kvs-server comes from $KVS_SERVER, else
# build/examples/server/kvs-server; nutcracker from $NUTCRACKER or PATH.
set -euo pipefail

requests=200000
keyspace=100000
servers=3
rounds=3
out=""
bench_timeout=600

usage() {
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

while getopts "n:k:s:r:o:h" opt; do
    case $opt in
    n) requests=$OPTARG ;;
    k) keyspace=$OPTARG ;;
    s) servers=$OPTARG ;;
    r) rounds=$OPTARG ;;
    o) out=$OPTARG ;;
    h) usage 0 ;;
    *) usage 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage 2
for v in "$requests" "$keyspace" "$servers" "$rounds"; do
    case $v in '' | 0 | *[!0-9]*) echo "bench-cluster: numbers above 0 only" >&2; exit 2 ;; esac
done

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export KVS_SERVER=${KVS_SERVER:-$root/build/examples/server/kvs-server}
cluster=$here/kvs-cluster.sh
[ -x "$KVS_SERVER" ] || { echo "bench-cluster: no kvs-server at $KVS_SERVER (build it or set KVS_SERVER)" >&2; exit 1; }
command -v redis-benchmark > /dev/null || { echo "bench-cluster: redis-benchmark missing (apt-get install redis-tools)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/kvs-bench-cluster.XXXXXX")
single_pid=""

stop_single() {
    [ -n "$single_pid" ] || return 0
    kill "$single_pid" 2> /dev/null || true
    for _ in $(seq 100); do
        kill -0 "$single_pid" 2> /dev/null || break
        sleep 0.1
    done
    kill -9 "$single_pid" 2> /dev/null || true
    wait "$single_pid" 2> /dev/null || true
    single_pid=""
}

cleanup() {
    stop_single
    [ ! -d "$work/cluster" ] || sh "$cluster" -d "$work/cluster" stop > /dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run_bench NAME PORT PIPELINE: appends "NAME,P,TEST,RPS,P50,P99" to results.csv
run_bench() {
    local name=$1 port=$2 pipeline=$3 csv="$work/run.csv"
    echo "bench-cluster: $name -P $pipeline" >&2
    # through the proxy redis-benchmark cannot read CONFIG (twemproxy does not
    # forward it) and says so on stderr; that is expected
    if ! timeout "$bench_timeout" redis-benchmark -h 127.0.0.1 -p "$port" -t set,get \
        -n "$requests" -r "$keyspace" -d 100 -c 50 -P "$pipeline" --csv > "$csv" 2> "$work/err"; then
        cat "$work/err" >&2
        echo "bench-cluster: redis-benchmark against $name failed" >&2
        exit 1
    fi
    tr -d '"' < "$csv" | awk -F, -v n="$name" -v p="$pipeline" \
        '$1 == "SET" || $1 == "GET" { print n "," p "," $1 "," $2 "," $5 "," $7 }' >> "$work/results.csv"
}

bench_proxy() {
    rm -rf "$work/cluster"
    sh "$cluster" -d "$work/cluster" -n "$servers" start > /dev/null
    local port
    port=$(sed -n "s/^proxy_port='\(.*\)'$/\1/p" "$work/cluster/cluster.env")
    run_bench proxy "$port" 1
    run_bench proxy "$port" 16
    sh "$cluster" -d "$work/cluster" stop > /dev/null
    rm -rf "$work/cluster"
}

bench_single() {
    rm -rf "$work/single"
    mkdir -p "$work/single"
    "$KVS_SERVER" --addr 127.0.0.1:0 --dir "$work/single/data" --port-file "$work/single/port" \
        < /dev/null > "$work/single/log" 2>&1 &
    single_pid=$!
    for _ in $(seq 300); do
        [ -s "$work/single/port" ] && break
        kill -0 "$single_pid" 2> /dev/null || { cat "$work/single/log" >&2; exit 1; }
        sleep 0.1
    done
    [ -s "$work/single/port" ] || { echo "bench-cluster: kvs-server did not start" >&2; exit 1; }
    run_bench single "$(cat "$work/single/port")" 1
    run_bench single "$(cat "$work/single/port")" 16
    stop_single
    rm -rf "$work/single"
}

for round in $(seq "$rounds"); do
    echo "bench-cluster: round $round/$rounds" >&2
    if [ $((round % 2)) = 1 ]; then
        bench_proxy
        bench_single
    else
        bench_single
        bench_proxy
    fi
done

{
    echo "- $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr), $(nproc) CPUs, $(redis-benchmark --version | head -1), $("${NUTCRACKER:-$(command -v nutcracker || echo /usr/sbin/nutcracker)}" --version 2>&1 | head -1 || true)"
    echo "- \`redis-benchmark -h 127.0.0.1 -p PORT -t set,get -n $requests -r $keyspace -d 100 -c 50 -P {1,16}\`, $rounds rounds alternating; median [min–max]"
    echo "- proxy: nutcracker in front of $servers kvs-servers (\`kvs-cluster.sh -n $servers start\`, defaults); single: one kvs-server (defaults)"
    echo
    echo "| test | pipeline | proxy, $servers servers req/s | 1 server direct req/s | proxy ÷ direct | proxy p50/p99 ms | direct p50/p99 ms |"
    echo "|---|---|---|---|---|---|---|"
    awk -F, '
        { k = $2 SUBSEP $3; rps[$1, k, ++n[$1, k]] = $4; p50[$1, k, n[$1, k]] = $5; p99[$1, k, n[$1, k]] = $6 }
        function median(arr, name, key, cnt,    i, j, t, v) {
            for (i = 1; i <= cnt; i++) v[i] = arr[name, key, i] + 0
            for (i = 1; i <= cnt; i++) for (j = i + 1; j <= cnt; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
            lo = v[1]; hi = v[cnt]
            return cnt % 2 ? v[(cnt + 1) / 2] : (v[cnt / 2] + v[cnt / 2 + 1]) / 2
        }
        END {
            split("1,16", ps, ","); split("SET,GET", ts, ",")
            for (pi = 1; pi <= 2; pi++) for (ti = 1; ti <= 2; ti++) {
                k = ps[pi] SUBSEP ts[ti]
                a = median(rps, "proxy", k, n["proxy", k]); alo = lo; ahi = hi
                b = median(rps, "single", k, n["single", k]); blo = lo; bhi = hi
                printf "| %s | %s | %.0f [%.0f–%.0f] | %.0f [%.0f–%.0f] | %.2f× | %.3f / %.3f | %.3f / %.3f |\n",
                    ts[ti], ps[pi], a, alo, ahi, b, blo, bhi, a / b,
                    median(p50, "proxy", k, n["proxy", k]), median(p99, "proxy", k, n["proxy", k]),
                    median(p50, "single", k, n["single", k]), median(p99, "single", k, n["single", k])
            }
        }' "$work/results.csv"
} > "$work/table.md"
cat "$work/table.md"
[ -z "$out" ] || cp "$work/table.md" "$out"
