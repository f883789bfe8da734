# Shared by the quick-start scripts: install what is missing, configure a build.
# Sourced, not run.

# Debian packages: to build and test (Check, Doxygen, hiredis for the client,
# redis-tools/redis-server as real protocol peers) and the benchmark peers.
KVS_BUILD_PACKAGES="gcc g++ meson ninja-build pkg-config libxxhash-dev check doxygen \
libhiredis-dev redis-tools redis-server"
KVS_BENCH_PACKAGES="liblmdb-dev libleveldb-dev librocksdb-dev libsqlite3-dev libtkrzw-dev gnuplot-nox"

# ensure_packages PKG...: apt-get install the ones dpkg does not know as installed.
ensure_packages() {
    missing=""
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "installing:$missing" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# configure_build DIR OPTION...: set up DIR, or re-apply the options to it.
configure_build() {
    dir=$1
    shift
    if [ -f "$dir/meson-private/coredata.dat" ]; then
        meson configure "$dir" "$@" >/dev/null
    else
        meson setup "$dir" "$@" >/dev/null
    fi
}
