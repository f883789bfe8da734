#!/bin/sh
# kvs-cluster.sh: N kvs-servers behind one twemproxy (nutcracker), on one
# machine, on loopback ports. `kvs-cluster.sh --help` says how; doc/CLUSTER.md
# says why (the deployment, the nutcracker settings, the limits).
#
# Every process is started in the background with its output in a log file,
# its PID in a file, and stopped by that PID (the PID's start time is kept
# too, so a reused PID is never mistaken for ours). Linux only (/proc).
set -u

prog=${0##*/}
here=$(cd "$(dirname "$0")" && pwd)

usage() {
    cat <<EOF
Usage: $prog [options] start|stop|status|config

Runs N kvs-servers, each with its own data directory and 127.0.0.1 port,
behind one nutcracker (twemproxy) that shards the keys over them by
consistent hashing (ketama). Clients talk to the proxy's port only.

Commands:
  start    start whatever is not running: the servers, then the proxy. The
           first start creates the base directory and chooses free ports;
           later starts reuse them (and the data)
  stop     stop the proxy, then every server, by the PIDs in their pid files
           (SIGTERM; SIGKILL if still alive after 15 s). The data stays
  status   one line per process; exit status 0 if all run, 3 if not
  config   print the nutcracker configuration in use

Options:
  -d, --dir DIR          base directory (default: ./kvs-cluster)
  -n, --servers N        number of kvs-servers (default 3; fixed at the first
                         start, see --reshard)
  -p, --port PORT        the proxy's port on 127.0.0.1 (default: a free port
                         chosen at the first start, then kept)
      --requirepass PASS the servers require PASS; the proxy sends it to them
                         (redis_auth) and requires clients to AUTH with it
      --sync MODE        kvs-server --sync: none, interval (default), always
      --threads N        kvs-server --threads (default: its own, CPUs)
      --retry-timeout MS nutcracker server_retry_timeout (default 10000)
      --failure-limit N  nutcracker server_failure_limit (default 3)
      --timeout MS       nutcracker timeout for a server's reply (default 5000)
      --no-auto-eject    auto_eject_hosts: false: a dead server's keys get
                         errors instead of moving to the others
      --reshard          accept an -n that differs from the existing cluster's
                         (the proxy must be stopped). Keys move between
                         servers and nothing migrates them: see doc/CLUSTER.md
      --kvs-server PATH  kvs-server program (default: \$KVS_SERVER, else the
                         one next to this script, else kvs-server on PATH)
      --nutcracker PATH  nutcracker program (default: \$NUTCRACKER, else
                         nutcracker on PATH, else /usr/sbin/nutcracker)
  -h, --help             this help

Options given to a later start replace the stored ones; the proxy's settings
take effect when the proxy (re)starts.

Layout of DIR:
  cluster.env                  the settings and ports (mode 600)
  nutcracker.yml               generated proxy configuration, checked with
                               nutcracker -t before every proxy start
  nutcracker.pid, .log         the proxy's PID and log
  kvsI/data/                   data directory of server I (I = 1..N)
  kvsI/pid, kvsI/port, kvsI/log  its PID, its port, its log

Example:
  $prog -d /tmp/kc start
  redis-cli -p "\$(sed -n 's/^proxy_port=//p' /tmp/kc/cluster.env)" set greeting hello
  $prog -d /tmp/kc status
  $prog -d /tmp/kc stop
EOF
}

die() {
    echo "$prog: $*" >&2
    exit 1
}

usage_error() {
    echo "$prog: $*" >&2
    echo "Try '$prog --help'." >&2
    exit 2
}

is_uint() {
    case $1 in '' | *[!0-9]*) return 1 ;; esac
    return 0
}

# ---- options ----------------------------------------------------------------
base=./kvs-cluster
cmd=
opt_servers='' opt_port='' opt_pass='' opt_sync='' opt_threads='' opt_retry=''
opt_limit='' opt_timeout='' opt_eject='' reshard=0 kvs_server='' nutcracker=''

need_arg() {
    [ $# -ge 2 ] || usage_error "option $1 needs a value"
}

while [ $# -gt 0 ]; do
    case $1 in
        -h | --help) usage; exit 0 ;;
        -d | --dir) need_arg "$@"; base=$2; shift ;;
        -n | --servers) need_arg "$@"; opt_servers=$2; shift ;;
        -p | --port) need_arg "$@"; opt_port=$2; shift ;;
        --requirepass) need_arg "$@"; opt_pass=$2; shift ;;
        --sync) need_arg "$@"; opt_sync=$2; shift ;;
        --threads) need_arg "$@"; opt_threads=$2; shift ;;
        --retry-timeout) need_arg "$@"; opt_retry=$2; shift ;;
        --failure-limit) need_arg "$@"; opt_limit=$2; shift ;;
        --timeout) need_arg "$@"; opt_timeout=$2; shift ;;
        --no-auto-eject) opt_eject=false ;;
        --reshard) reshard=1 ;;
        --kvs-server) need_arg "$@"; kvs_server=$2; shift ;;
        --nutcracker) need_arg "$@"; nutcracker=$2; shift ;;
        --dir=* | --servers=* | --port=* | --requirepass=* | --sync=* | --threads=* | \
        --retry-timeout=* | --failure-limit=* | --timeout=* | --kvs-server=* | --nutcracker=*)
            name=${1%%=*}
            value=${1#*=}
            shift
            set -- "$name" "$value" "$@"
            continue ;;
        start | stop | status | config)
            [ -z "$cmd" ] || usage_error "one command at a time ($cmd, $1)"
            cmd=$1 ;;
        *) usage_error "unknown argument '$1'" ;;
    esac
    shift
done
[ -n "$cmd" ] || usage_error "no command (start, stop, status or config)"

if [ -n "$opt_servers" ]; then
    if ! is_uint "$opt_servers" || [ "$opt_servers" -lt 1 ] || [ "$opt_servers" -gt 64 ]; then
        usage_error "--servers must be 1 to 64"
    fi
fi
if [ -n "$opt_port" ]; then
    if ! is_uint "$opt_port" || [ "$opt_port" -lt 1 ] || [ "$opt_port" -gt 65535 ]; then
        usage_error "--port must be 1 to 65535"
    fi
fi
for v in "$opt_threads" "$opt_retry" "$opt_limit" "$opt_timeout"; do
    [ -z "$v" ] || is_uint "$v" || usage_error "'$v' is not a number"
done
case $opt_sync in '' | none | interval | always) ;; *) usage_error "--sync: none, interval or always" ;; esac
case $opt_pass in
    *[!A-Za-z0-9._~!@#%^*+=,:/-]*) usage_error "--requirepass: use letters, digits and ._~!@#%^*+=,:/- only" ;;
esac
[ "$opt_limit" != 0 ] || usage_error "--failure-limit must be at least 1"

# ---- processes ----------------------------------------------------------------

# start_time PID: the process's start time (field 22 of /proc/PID/stat), empty
# if there is no such process.
start_time() {
    sed 's/^.*) //' "/proc/$1/stat" 2> /dev/null | cut -d' ' -f20
}

# alive PIDFILE: the process recorded there runs (not a zombie, same start
# time as when it was recorded). Sets $pid.
alive() {
    pid=
    [ -f "$1" ] || return 1
    pid=$(cat "$1" 2> /dev/null)
    is_uint "$pid" || return 1
    kill -0 "$pid" 2> /dev/null || return 1
    state=$(sed 's/^.*) //' "/proc/$pid/stat" 2> /dev/null | cut -d' ' -f1)
    [ -n "$state" ] && [ "$state" != Z ] || return 1
    [ -f "$1.start" ] || return 0
    [ "$(start_time "$pid")" = "$(cat "$1.start" 2> /dev/null)" ]
}

# record PIDFILE PID
record() {
    echo "$2" > "$1"
    start_time "$2" > "$1.start"
}

# listening PID PORT: PID has a TCP socket listening on 127.0.0.1:PORT.
listening() {
    hex=$(printf '0100007F:%04X' "$2")
    inodes=$(awk -v a="$hex" '$2 == a && $4 == "0A" { print $10 }' /proc/net/tcp 2> /dev/null)
    [ -n "$inodes" ] || return 1
    for fd in "/proc/$1/fd"/*; do
        link=$(readlink "$fd" 2> /dev/null) || continue
        for inode in $inodes; do
            [ "$link" = "socket:[$inode]" ] && return 0
        done
    done
    return 1
}

# stop_pidfile PIDFILE NAME: SIGTERM, wait up to 15 s, then SIGKILL.
stop_pidfile() {
    if alive "$1"; then
        kill -TERM "$pid" 2> /dev/null
        n=0
        while alive "$1" && [ $n -lt 150 ]; do
            sleep 0.1
            n=$((n + 1))
        done
        if alive "$1"; then
            echo "$prog: $2 (pid $pid) still running 15 s after SIGTERM, sending SIGKILL" >&2
            kill -KILL "$pid" 2> /dev/null
            n=0
            while alive "$1" && [ $n -lt 50 ]; do
                sleep 0.1
                n=$((n + 1))
            done
            alive "$1" && die "$2 (pid $pid) does not die"
        fi
        echo "stopped $2 (pid $pid)"
    fi
    rm -f "$1" "$1.start"
}

# free_port: a port the kernel considers free right now (asked by binding
# port 0); without python3, a random one outside the ephemeral range. Either
# way the caller retries when the bind fails.
free_port() {
    for py in python3 /usr/bin/python3; do
        p=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2> /dev/null) &&
            is_uint "$p" && { echo "$p"; return; }
    done
    r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
    echo $((20000 + r % 12000))
}

# ---- settings -----------------------------------------------------------------
env_file=$base/cluster.env
servers=3 proxy_port='' stats_port='' pass='' sync=interval threads='' retry=10000 limit=3
timeout=5000 eject=true
# shellcheck disable=SC1090 # written by save_env below
[ ! -f "$env_file" ] || . "$env_file"
old_servers=$servers
existing=0
[ -f "$env_file" ] && existing=1

save_env() {
    q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
    {
        echo "# written by $prog; read by its next runs"
        echo "servers=$(q "$servers")"
        echo "proxy_port=$(q "$proxy_port")"
        echo "stats_port=$(q "$stats_port")"
        echo "pass=$(q "$pass")"
        echo "sync=$(q "$sync")"
        echo "threads=$(q "$threads")"
        echo "retry=$(q "$retry")"
        echo "limit=$(q "$limit")"
        echo "timeout=$(q "$timeout")"
        echo "eject=$(q "$eject")"
    } > "$env_file.tmp" && mv "$env_file.tmp" "$env_file"
}

server_dirs() {
    for d in "$base"/kvs*; do
        [ -d "$d" ] && echo "$d"
    done | sort -V
}

# ---- nutcracker configuration -------------------------------------------------
write_config() {
    {
        echo "# Generated by $prog at every proxy start; edit the options, not this"
        echo "# file. Each setting is explained in examples/cluster/nutcracker.yml."
        echo "kvs:"
        echo "  listen: 127.0.0.1:$proxy_port"
        echo "  redis: true                  # the Redis protocol"
        echo "  hash: murmur                 # mixes similar keys well (fnv1a_64 does not)"
        echo "  hash_tag: \"{}\"               # user:{42}:a and user:{42}:b share a server"
        echo "  distribution: ketama         # consistent hashing: N -> N+1 moves ~1/(N+1) of the keys"
        echo "  auto_eject_hosts: $eject"
        echo "  server_retry_timeout: $retry"
        echo "  server_failure_limit: $limit"
        echo "  timeout: $timeout"
        echo "  server_connections: 1        # one connection per server keeps each client's order"
        [ -z "$pass" ] || echo "  redis_auth: \"$pass\""
        echo "  servers:                     # keys hash on the names kvs1..kvsN, not the addresses"
        i=1
        while [ $i -le "$servers" ]; do
            echo "   - 127.0.0.1:$(cat "$base/kvs$i/port"):1 kvs$i"
            i=$((i + 1))
        done
    } > "$1"
    chmod 600 "$1"
    out=$("$nutcracker" -t -c "$1" 2>&1) || die "nutcracker rejects $1: $out"
}

# ---- start --------------------------------------------------------------------
find_programs() {
    if [ -z "$kvs_server" ]; then
        if [ -n "${KVS_SERVER:-}" ]; then
            kvs_server=$KVS_SERVER
        elif [ -x "$here/kvs-server" ]; then
            kvs_server=$here/kvs-server
        else
            kvs_server=$(command -v kvs-server) || die "kvs-server not found (build it, or give --kvs-server PATH)"
        fi
    fi
    [ -x "$kvs_server" ] || die "$kvs_server is not an executable"
    if [ -z "$nutcracker" ]; then
        if [ -n "${NUTCRACKER:-}" ]; then
            nutcracker=$NUTCRACKER
        else
            nutcracker=$(command -v nutcracker) || nutcracker=/usr/sbin/nutcracker
        fi
    fi
    [ -x "$nutcracker" ] || die "nutcracker not found (apt-get install nutcracker, or give --nutcracker PATH)"
}

# launch_server I PORT: start server I on PORT (0: any free port); 0 once it
# listens, 1 if it exited (its log says why).
launch_server() {
    d=$base/kvs$1
    rm -f "$d/port.live"
    echo "--- $(date '+%F %T') starting on 127.0.0.1:$2" >> "$d/log"
    # shellcheck disable=SC2086 # $extra is a list of words
    "$kvs_server" --addr "127.0.0.1:$2" --dir "$d/data" --port-file "$d/port.live" \
        $extra < /dev/null >> "$d/log" 2>&1 &
    pid=$!
    record "$d/pid" "$pid"
    n=0
    while [ $n -lt 300 ]; do # 30 s: opening a large store reads its index
        if [ -s "$d/port.live" ]; then
            cat "$d/port.live" > "$d/port"
            echo "started kvs$1 (pid $pid) on 127.0.0.1:$(cat "$d/port")"
            return 0
        fi
        alive "$d/pid" || { rm -f "$d/pid" "$d/pid.start"; return 1; }
        sleep 0.1
        n=$((n + 1))
    done
    stop_pidfile "$d/pid" "kvs$1"
    die "kvs$1 did not listen within 30 s; see $d/log"
}

start_server() {
    d=$base/kvs$1
    mkdir -p "$d/data" || die "cannot create $d/data"
    if alive "$d/pid"; then
        return 0
    fi
    port=0
    [ -s "$d/port" ] && port=$(cat "$d/port")
    launch_server "$1" "$port" && return 0
    if [ "$port" != 0 ] && ! alive "$base/nutcracker.pid"; then
        # Its old port is taken: the proxy is down and the ring hashes names,
        # not addresses, so a new port moves no key.
        echo "$prog: kvs$1 cannot use its port $port again; taking a new one" >&2
        launch_server "$1" 0 && return 0
    fi
    echo "$prog: kvs$1 did not start; the end of $d/log:" >&2
    tail -n 5 "$d/log" >&2
    exit 1
}

# launch_proxy: 0 when nutcracker listens on both its ports, 1 when it
# exited with one of them in use, exit otherwise.
launch_proxy() {
    conf=$base/nutcracker.yml
    log=$base/nutcracker.log
    write_config "$conf"
    lines=0
    [ ! -f "$log" ] || lines=$(wc -l < "$log")
    # shellcheck disable=SC2094 # nutcracker appends to its log; so do its stdout and stderr
    "$nutcracker" -c "$conf" -o "$log" -s "$stats_port" -a 127.0.0.1 -i 1000 \
        < /dev/null >> "$log" 2>&1 &
    pid=$!
    record "$base/nutcracker.pid" "$pid"
    n=0
    while [ $n -lt 100 ]; do
        if ! alive "$base/nutcracker.pid"; then
            rm -f "$base/nutcracker.pid" "$base/nutcracker.pid.start"
            tail -n "+$((lines + 1))" "$log" | grep -q 'Address already in use' && return 1
            echo "$prog: nutcracker exited; the end of $log:" >&2
            tail -n "+$((lines + 1))" "$log" | tail -n 5 >&2
            exit 1
        fi
        if listening "$pid" "$proxy_port" && listening "$pid" "$stats_port"; then
            echo "started nutcracker (pid $pid) on 127.0.0.1:$proxy_port (stats on 127.0.0.1:$stats_port)"
            return 0
        fi
        sleep 0.1
        n=$((n + 1))
    done
    stop_pidfile "$base/nutcracker.pid" nutcracker
    die "nutcracker did not listen within 10 s; see $log"
}

start_proxy() {
    if alive "$base/nutcracker.pid"; then
        write_config "$base/nutcracker.yml.new"
        if ! cmp -s "$base/nutcracker.yml.new" "$base/nutcracker.yml"; then
            echo "$prog: nutcracker (pid $pid) runs with the old configuration; 'stop' and 'start' to apply the new one ($base/nutcracker.yml.new)" >&2
        else
            rm -f "$base/nutcracker.yml.new"
        fi
        return 0
    fi
    rm -f "$base/nutcracker.yml.new"
    chosen=0
    if [ -z "$proxy_port" ]; then
        proxy_port=$(free_port)
        chosen=1
    fi
    tries=0
    while :; do
        [ -n "$stats_port" ] && [ "$stats_port" != "$proxy_port" ] || stats_port=$(free_port)
        [ "$stats_port" != "$proxy_port" ] || continue
        save_env
        launch_proxy && return 0
        tries=$((tries + 1))
        [ $tries -lt 10 ] || die "nutcracker found no free port in 10 tries; see $base/nutcracker.log"
        if tail -n 3 "$base/nutcracker.log" | grep -q "to addr '127.0.0.1:$proxy_port' failed"; then
            [ $chosen = 1 ] || die "the proxy's port $proxy_port is in use (give another with --port)"
            proxy_port=$(free_port)
        else
            stats_port=$(free_port) # the stats port was taken
        fi
    done
}

do_start() {
    find_programs
    umask 077
    mkdir -p "$base" || die "cannot create $base"
    [ -n "$opt_servers" ] && servers=$opt_servers
    if [ $existing = 1 ] && [ "$servers" != "$old_servers" ]; then
        [ $reshard = 1 ] || die "$base holds a cluster of $old_servers servers; changing it to $servers moves keys between servers without migrating them (see doc/CLUSTER.md); add --reshard if that is what you want"
        alive "$base/nutcracker.pid" && die "--reshard: stop the cluster first"
    fi
    [ -n "$opt_port" ] && proxy_port=$opt_port
    [ -n "$opt_pass" ] && pass=$opt_pass
    [ -n "$opt_sync" ] && sync=$opt_sync
    [ -n "$opt_threads" ] && threads=$opt_threads
    [ -n "$opt_retry" ] && retry=$opt_retry
    [ -n "$opt_limit" ] && limit=$opt_limit
    [ -n "$opt_timeout" ] && timeout=$opt_timeout
    [ -n "$opt_eject" ] && eject=$opt_eject
    save_env

    extra="--sync $sync"
    [ -z "$threads" ] || extra="$extra --threads $threads"
    [ -z "$pass" ] || extra="$extra --requirepass $pass"

    # Servers beyond N (after a --reshard to fewer) leave the ring.
    for d in $(server_dirs); do
        i=${d##*/kvs}
        is_uint "$i" && [ "$i" -gt "$servers" ] && stop_pidfile "$d/pid" "kvs$i"
    done
    i=1
    while [ $i -le "$servers" ]; do
        start_server $i
        i=$((i + 1))
    done
    start_proxy
    echo "clients connect to 127.0.0.1:$proxy_port"
}

# ---- stop, status, config ---------------------------------------------------------
do_stop() {
    [ -d "$base" ] || { echo "no cluster in $base"; return 0; }
    stop_pidfile "$base/nutcracker.pid" nutcracker
    for d in $(server_dirs); do
        stop_pidfile "$d/pid" "${d##*/}"
    done
}

do_status() {
    [ -f "$env_file" ] || { echo "no cluster in $base"; exit 3; }
    all=0
    i=1
    while [ $i -le "$servers" ]; do
        d=$base/kvs$i
        port=$(cat "$d/port" 2> /dev/null)
        if alive "$d/pid" && listening "$pid" "$port"; then
            printf '%-11s running  pid %-8s 127.0.0.1:%-6s data %s\n' "kvs$i" "$pid" "$port" "$d/data"
        else
            printf '%-11s stopped               127.0.0.1:%-6s data %s\n' "kvs$i" "$port" "$d/data"
            all=3
        fi
        i=$((i + 1))
    done
    if alive "$base/nutcracker.pid" && listening "$pid" "$proxy_port"; then
        printf '%-11s running  pid %-8s 127.0.0.1:%-6s stats 127.0.0.1:%s\n' nutcracker "$pid" "$proxy_port" "$stats_port"
    else
        printf '%-11s stopped               127.0.0.1:%s\n' nutcracker "$proxy_port"
        all=3
    fi
    exit $all
}

case $cmd in
    start) do_start ;;
    stop) do_stop ;;
    status) do_status ;;
    config)
        [ -f "$base/nutcracker.yml" ] || die "no configuration in $base (start the cluster first)"
        cat "$base/nutcracker.yml" ;;
esac
