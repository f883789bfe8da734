# Shared by the quick-start scripts: install what is missing, configure a
# build, and say in one line which stage failed. Sourced, not run.

# Debian packages, by what needs them.
# To build the library and the example programs (what the demo needs):
# (gcc only recommends libc6-dev, and installs run without recommends.)
KVS_BUILD_PACKAGES="gcc libc6-dev meson ninja-build pkg-config libxxhash-dev libhiredis-dev"
# To run the whole test suite: Check, Doxygen, a C++ compiler (the header is
# compiled as C++), Redis tools and a Python client as real protocol peers,
# twemproxy for the cluster test, cffi and pytest for the Python binding.
KVS_TEST_PACKAGES="g++ check doxygen redis-tools redis-server nutcracker \
python3 python3-cffi python3-pytest python3-redis"
# The fuzz targets (scripts/fuzz.sh): clang, and the runtimes of
# -fsanitize=fuzzer,address,undefined (only recommended by clang).
KVS_FUZZ_PACKAGES="clang libclang-rt-dev"
# The benchmark peers. tkrzw's pkg-config file links -llzma, which
# libtkrzw-dev does not pull in.
KVS_BENCH_PACKAGES="liblmdb-dev libleveldb-dev librocksdb-dev libsqlite3-dev libtkrzw-dev \
liblzma-dev gnuplot-nox"
# valgrind, for the memcheck step of .ci/run (scripts/valgrind.sh).
KVS_TEST_PACKAGES="$KVS_TEST_PACKAGES valgrind"

# stage TEXT: say what happens next, one line.
stage() {
    echo "==> $*" >&2
}

# fail TEXT: say what failed, one line, and stop.
fail() {
    echo "FAILED: $*" >&2
    exit 1
}

# ensure_packages PKG...: apt-get install the ones dpkg does not know as installed.
ensure_packages() {
    missing=""
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing="$missing $p"
    done
    if [ -z "$missing" ]; then
        stage "packages: all $# present"
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 ||
        fail "no apt-get here: install these packages (Debian names):$missing"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 ||
            fail "not root and no sudo: as root, run apt-get install$missing"
        sudo="sudo"
    fi
    stage "installing packages:$missing"
    $sudo apt-get update -qq >/dev/null ||
        fail "apt-get update (check the network and /etc/apt/sources.list), then apt-get install$missing"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        $missing >/dev/null ||
        fail "apt-get install$missing (run it by hand to see why)"
}

# configure_build DIR OPTION...: set up DIR, or re-apply the options to it.
configure_build() {
    dir=$1
    shift
    stage "configuring $dir"
    if [ -f "$dir/meson-private/coredata.dat" ]; then
        meson configure "$dir" "$@" >/dev/null ||
            fail "meson configure $dir (see $dir/meson-logs/meson-log.txt)"
    else
        log=$(mktemp)
        meson setup "$dir" "$@" >"$log" 2>&1 || {
            grep -E 'ERROR|error:' "$log" | tail -n 3 >&2
            rm -f "$log"
            fail "meson setup $dir (see $dir/meson-logs/meson-log.txt)"
        }
        rm -f "$log"
    fi
}

# compile_build DIR: build everything in DIR; on failure show the first
# compiler or linker error, then one line naming the failed stage.
compile_build() {
    dir=$1
    stage "compiling in $dir"
    log=$(mktemp)
    if ! meson compile -C "$dir" >"$log" 2>&1; then
        grep -E 'error|cannot find|undefined reference|FAILED' "$log" | head -n 5 >&2
        rm -f "$log"
        fail "build in $dir (full output: meson compile -C $dir)"
    fi
    rm -f "$log"
}
