#!/usr/bin/python3
"""kvs-server behind twemproxy (nutcracker), through examples/cluster/kvs-cluster.sh.

Run by run.sh (which skips when nutcracker or redis-py is missing) with
KVS_CLUSTER (the script), KVS_SERVER and NUTCRACKER set. Stages:

 1. the script: --help, usage errors, start of 3 servers + proxy, status,
    the generated and the sample configuration pass `nutcracker -t`, every
    process listens on 127.0.0.1;
 2. every command kvs-server supports that twemproxy forwards gives through
    the proxy byte for byte the reply one kvs-server gives directly (one at a
    time and 2000 pipelined); what twemproxy does not forward closes the
    connection (documented in doc/CLUSTER.md); hash tags keep keys together;
 3. 100,000 keys written through the proxy are all read back through it; each
    lives on exactly one server, and each server holds a share, none all;
 4. one server killed (kill -9), auto_eject_hosts on: the proxy keeps serving
    the other servers' keys, ejects the dead one (its keys then read as nil
    and a write of one lands on another server);
 5. all servers restarted (the proxy keeps running): every key back, the key
    written during the ejection shows its old value again, as documented;
 6. the whole cluster stopped and started: same ports, every key back;
 7. a 2-server cluster with --requirepass (redis_auth) and --no-auto-eject:
    AUTH through the proxy; a dead server's keys get errors, never nil; an
    MSET across servers is not atomic;
 8. stop: every process gone, by the PIDs the script recorded.

Every wait is a bounded poll; every process is stopped at exit, also on
failure or SIGTERM (meson's timeout).
"""
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import redis

SCRIPT = os.environ["KVS_CLUSTER"]
SERVER = os.environ["KVS_SERVER"]
NUTCRACKER = os.environ["NUTCRACKER"]
NKEYS = 100_000
T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:6.2f}s] {msg}", flush=True)


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def wait_until(what, fn, timeout=30.0, interval=0.05):
    """Poll fn() until it returns a true value; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TestFailure(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# ---- processes ----------------------------------------------------------------

def proc_state(pid):
    """(state, start time) of a process, None when there is none."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[0], fields[19]
    except (OSError, IndexError):
        return None


def running(pid, start=None):
    st = proc_state(pid)
    return st is not None and st[0] != "Z" and (start is None or st[1] == start)


def read_pidfile(path):
    """(pid, start time) recorded by the script, None when absent."""
    try:
        with open(path) as f:
            pid = int(f.read().strip())
        with open(path + ".start") as f:
            start = f.read().strip()
        return pid, start
    except (OSError, ValueError):
        return None


def kill_and_wait(pid, start, sig, timeout=20.0):
    if running(pid, start):
        os.kill(pid, sig)
    wait_until(f"pid {pid} to exit", lambda: not running(pid, start), timeout)


class Cluster:
    """One base directory of kvs-cluster.sh."""

    def __init__(self, base):
        self.base = base

    def run(self, *args, expect=0, timeout=90):
        cmd = ["sh", SCRIPT, "-d", self.base, *args]
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout)
        if expect is not None and p.returncode != expect:
            raise TestFailure(f"{' '.join(cmd)}: exit {p.returncode}, expected {expect}\n"
                              f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        return p

    def env(self):
        out = {}
        with open(os.path.join(self.base, "cluster.env")) as f:
            for line in f:
                if "=" in line and not line.startswith("#"):
                    k, v = line.rstrip("\n").split("=", 1)
                    out[k] = v.strip("'")
        return out

    def proxy_port(self):
        return int(self.env()["proxy_port"])

    def server_ports(self):
        n = int(self.env()["servers"])
        ports = []
        for i in range(1, n + 1):
            with open(os.path.join(self.base, f"kvs{i}", "port")) as f:
                ports.append(int(f.read()))
        return ports

    def pidfiles(self):
        files = [os.path.join(self.base, "nutcracker.pid")]
        for name in sorted(os.listdir(self.base)):
            if name.startswith("kvs"):
                files.append(os.path.join(self.base, name, "pid"))
        return files

    def pids(self):
        return {f: read_pidfile(f) for f in self.pidfiles() if read_pidfile(f)}

    def kill_all(self):
        """Last-resort cleanup: SIGKILL whatever the pid files name."""
        for rec in self.pids().values():
            if running(*rec):
                try:
                    os.kill(rec[0], signal.SIGKILL)
                except OSError:
                    pass


clusters = []
reference = {}  # the single kvs-server the proxy's replies are compared with
tmp = tempfile.mkdtemp(prefix="kvs-cluster-test-")


def cleanup():
    for c in clusters:
        try:
            c.run("stop", expect=None, timeout=60)
        except Exception as e:  # noqa: BLE001 - keep cleaning up
            log(f"cleanup: stop failed: {e}")
        c.kill_all()
    if reference.get("pid") and running(reference["pid"], reference["start"]):
        os.kill(reference["pid"], signal.SIGKILL)
    if reference.get("proc"):
        reference["proc"].wait(timeout=10)
    if os.environ.get("KVS_TEST_KEEP"):
        log(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def on_signal(signum, frame):
    raise SystemExit(f"killed by signal {signum}")


# ---- raw RESP -----------------------------------------------------------------

def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Raw:
    """A connection that returns each reply as its exact bytes, None when the
    peer closed the connection instead of replying."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise EOFError
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n") + 2
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def reply(self):
        line = self._line()
        kind = line[:1]
        if kind in (b"+", b"-", b":"):
            return line
        n = int(line[1:-2])
        if kind == b"$":
            return line if n < 0 else line + self._exact(n + 2)
        if kind == b"*":
            return line + b"".join(self.reply() for _ in range(max(n, 0)))
        raise TestFailure(f"bad reply line {line!r}")

    def send(self, data):
        self.sock.sendall(data)

    def cmd(self, *args):
        try:
            self.send(encode(args))
            return self.reply()
        except (EOFError, ConnectionResetError, BrokenPipeError):
            return None


def short(b, n=120):
    return repr(b if b is None or len(b) <= n else b[:n] + b"...")


# ---- stages ---------------------------------------------------------------------

def stage_script(c):
    log("1. script: --help, usage errors, start, status, configuration")
    p = subprocess.run(["sh", SCRIPT, "--help"], capture_output=True, text=True, timeout=30)
    check(p.returncode == 0, f"--help: exit {p.returncode}")
    for word in ("start", "stop", "status", "--servers", "--dir", "ketama"):
        check(word in p.stdout, f"--help does not mention {word}")
    c.run(expect=2)
    c.run("--bogus", "start", expect=2)
    c.run("-n", "zero", "start", expect=2)
    p = c.run("status", expect=3)
    check("no cluster" in p.stdout, f"status without a cluster: {p.stdout!r}")

    p = c.run("-n", "3", "--retry-timeout", "2000", "start")
    log(p.stdout.strip())
    proxy = c.proxy_port()
    ports = c.server_ports()
    check(len(set(ports + [proxy])) == 4, f"ports not distinct: {ports} {proxy}")
    p = c.run("status", expect=0)
    check(p.stdout.count("running") == 4, f"status:\n{p.stdout}")
    # start again: everything runs, nothing is started twice
    before = c.pids()
    p = c.run("start")
    check("started" not in p.stdout and c.pids() == before, f"second start restarted:\n{p.stdout}")

    conf = os.path.join(c.base, "nutcracker.yml")
    text = open(conf).read()
    for line in ("distribution: ketama", "redis: true", "auto_eject_hosts: true",
                 "server_retry_timeout: 2000", "server_failure_limit: 3",
                 f"listen: 127.0.0.1:{proxy}"):
        check(line in text, f"{conf} lacks {line!r}:\n{text}")
    sample = os.path.join(os.path.dirname(SCRIPT), "nutcracker.yml")
    for f in (conf, sample):
        p = subprocess.run([NUTCRACKER, "-t", "-c", f], capture_output=True, text=True, timeout=30)
        check(p.returncode == 0, f"nutcracker -t -c {f}: {p.stderr}")
    for port in ports:
        r = redis.Redis(port=port, socket_timeout=10)
        check(r.config_get("bind") == {"bind": "127.0.0.1"}, f"server on {port} not on 127.0.0.1")
        r.close()
    # nutcracker's listening sockets (client and stats port) are on 127.0.0.1
    env = c.env()
    nc_pid = c.pids()[os.path.join(c.base, "nutcracker.pid")][0]
    inodes = {os.readlink(f"/proc/{nc_pid}/fd/{fd}") for fd in os.listdir(f"/proc/{nc_pid}/fd")}
    listening = []
    with open("/proc/net/tcp") as f:
        for line in list(f)[1:]:
            fields = line.split()
            if fields[3] == "0A" and f"socket:[{fields[9]}]" in inodes:
                listening.append(fields[1])
    want = sorted(f"0100007F:{int(env[k]):04X}" for k in ("proxy_port", "stats_port"))
    check(sorted(listening) == want, f"nutcracker listens on {listening}, expected {want}")


def start_reference():
    d = os.path.join(tmp, "reference")
    os.mkdir(d)
    port_file = os.path.join(d, "port")
    proc = subprocess.Popen([SERVER, "--addr", "127.0.0.1:0", "--dir", os.path.join(d, "data"),
                             "--port-file", port_file],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(d, "log"), "w"))
    reference.update(proc=proc, pid=proc.pid, start=proc_state(proc.pid)[1])

    def port():
        check(proc.poll() is None, "the reference kvs-server exited")
        try:
            with open(port_file) as f:
                return int(f.read())
        except (OSError, ValueError):
            return None
    reference["port"] = wait_until("the reference kvs-server's port file", port, 30)


def owners(ports, keys):
    """For each key, the indexes of the servers (asked directly) holding it."""
    out = {k: [] for k in keys}
    for idx, port in enumerate(ports):
        r = redis.Redis(port=port, socket_timeout=30)
        for i in range(0, len(keys), 1000):
            chunk = keys[i:i + 1000]
            for k, v in zip(chunk, r.mget(chunk)):
                if v is not None:
                    out[k].append(idx)
        r.close()
    return out


def stage_commands(c):
    log("2. replies through the proxy == replies of one kvs-server")
    proxy, ref = Raw(c.proxy_port()), Raw(reference["port"])
    ks = [f"k{i}" for i in range(30)]
    tags = [f"{{t}}:{i}" for i in range(6)]  # hash tag: all on one server
    pairs = [x for i, k in enumerate(ks) for x in (k, f"value-{i}")]
    binkey, binval = b"bin\x00\r\n\xff key", b"\x00\x01\r\n\xfe value"
    longkey = "K" * 15000  # under twemproxy's key limit (16336 with 16 KiB mbufs)
    cmds = [
        ["PING"],
        ["SET", "k1", "v1"], ["GET", "k1"], ["GET", "nokey"],
        ["SET", "k1", "v2", "NX"], ["SET", "k1", "v3", "XX"], ["SET", "k2", "v", "NX"],
        ["SET", "k3", "v", "XX"], ["SET", "k1", "v4", "KEEPTTL"], ["GET", "k1"],
        ["SET", "k1", "v", "EX", "10"], ["SET", "k1", "v", "GET"], ["SET", "k1", "v", "NX", "XX"],
        ["SET", "k1"], ["SET", "", "v"], ["GET", ""],
        ["STRLEN", "k1"], ["STRLEN", "nokey"],
        ["MSET", *pairs], ["MGET", *ks, "nokey", "k3", "k0"],
        ["MSET", "k1", "a", "k1", "b"], ["GET", "k1"],
        ["EXISTS", "k0"], ["EXISTS", "nokey"],
        # EXISTS of several keys only when they share a server (see below)
        ["MSET", *[x for t in tags[:4] for x in (t, t)]],
        ["EXISTS", *tags, "{t}:nokey", tags[0]],
        ["DEL", "k0", "k0", "nokey", "k5", "k7"], ["DEL", "k1"], ["DEL", "k1"],
        ["EXISTS", "k0"], ["EXISTS", "k5"], ["EXISTS", "k6"], ["MGET", *ks],
        ["SET", binkey, binval], ["GET", binkey], ["STRLEN", binkey], ["MGET", binkey, "k2"],
        ["SET", "big", b"x" * (1 << 20)], ["GET", "big"], ["STRLEN", "big"],
        ["MGET", "big", "k2", "big"],
        ["SET", longkey, "long key"], ["GET", longkey], ["DEL", longkey, "k2"],
        ["get", "k3"], ["gEt", "k3"], ["mset", "k3", "lower"], ["MGET", "k3"],
        ["COMMAND"],
        # forwarded by twemproxy, not supported by kvs-server: the same error
        ["INCR", "k2"], ["APPEND", "k2", "x"], ["SETNX", "k2", "x"], ["GETSET", "k2", "x"],
        ["SETEX", "k2", "10", "x"], ["TTL", "k2"], ["TYPE", "k2"], ["GETDEL", "k2"],
        ["MSET", *pairs], ["GET", "k11"],
    ]
    for cmd in cmds:
        a, b = proxy.cmd(*cmd), ref.cmd(*cmd)
        check(a is not None and a == b,
              f"{short(encode(cmd[:3]))}: proxy {short(a)} != server {short(b)}")
    log(f"   {len(cmds)} commands: same replies")

    # pipelined: 2000 random commands in one write, replies compared in order
    seed = int(os.environ.get("KVS_TEST_SEED", random.randrange(1 << 30)))
    log(f"   pipelined commands, KVS_TEST_SEED={seed}")
    rnd = random.Random(seed)
    keys = [f"p{i}" for i in range(60)]
    tagged = [f"{{p}}{i}" for i in range(10)]
    batch = []
    for _ in range(2000):
        op = rnd.choice(["SET", "GET", "DEL", "EXISTS", "MGET", "MSET", "STRLEN", "SETNX"])
        k = rnd.choice(keys + tagged)
        if op == "SET":
            batch.append(["SET", k, "x" * rnd.randrange(0, 300)] + rnd.choice([[], ["NX"], ["XX"]]))
        elif op == "SETNX":
            batch.append(["SET", k, str(rnd.random()), "NX"])
        elif op in ("GET", "STRLEN"):
            batch.append([op, k])
        elif op == "EXISTS":
            batch.append(["EXISTS", *rnd.choice([[k], rnd.sample(tagged, rnd.randrange(1, 8))])])
        elif op in ("DEL", "MGET"):
            batch.append([op, *rnd.sample(keys + tagged, rnd.randrange(1, 8))])
        else:
            batch.append(["MSET", *[x for k2 in rnd.sample(keys + tagged, rnd.randrange(1, 8))
                                    for x in (k2, str(rnd.random()))]])
    data = b"".join(encode(x) for x in batch)
    for conn in (proxy, ref):
        conn.send(data)
    for i, cmd in enumerate(batch):
        a, b = proxy.reply(), ref.reply()
        check(a == b, f"pipelined #{i} {cmd[:3]}: proxy {short(a)} != server {short(b)}")
    log("   2000 pipelined commands: same replies")
    proxy.close()
    ref.close()

    # the multi-key commands above really spanned servers
    own = owners(c.server_ports(), ks)
    check(all(len(v) == 1 for v in own.values()), f"k0..k29 not each on one server: {own}")
    spread = {v[0] for v in own.values()}
    check(len(spread) == 3, f"k0..k29 are on servers {spread} only")

    # EXISTS of keys on different servers: twemproxy 0.5.0 does not split it
    # but sends it whole to the first key's server, which counts only the
    # keys it holds (doc/CLUSTER.md). A twemproxy that splits it sums.
    r = redis.Redis(port=c.proxy_port(), socket_timeout=10)
    first = own["k0"][0]
    on_first = sum(1 for k in ks if own[k] == [first])
    got = r.exists(*ks)
    check(on_first < len(ks), "k0..k29 all on one server")
    check(got in (on_first, len(ks)), f"EXISTS k0..k29 through the proxy: {got}, neither "
          f"{len(ks)} nor {on_first} (the keys on k0's server)")
    log(f"   EXISTS k0..k29 through the proxy: {got} (all {len(ks)} exist; {on_first} on k0's server)")

    # hash tags: keys sharing {tag} share a server
    tagged = [f"user:{{42}}:{f}" for f in ("name", "mail", "city", "zip", "phone", "age")]
    r.mset({k: k for k in tagged})
    own = owners(c.server_ports(), tagged)
    check(len({tuple(v) for v in own.values()}) == 1 and all(len(v) == 1 for v in own.values()),
          f"hash-tagged keys on different servers: {own}")

    # What twemproxy does not forward (or cannot route) closes the connection
    # without a reply; the proxy carries on. doc/CLUSTER.md says so.
    for cmd in (["DBSIZE"], ["INFO"], ["ECHO", "x"], ["SELECT", "0"], ["CONFIG", "GET", "port"],
                ["CLIENT", "ID"], ["PING", "x"], ["MGET"], ["STRLEN", "a", "b"]):
        p, s = Raw(c.proxy_port()), Raw(reference["port"])
        a, b = p.cmd(*cmd), s.cmd(*cmd)
        p.close()
        s.close()
        check(b is not None, f"{cmd}: the server closed the connection")
        check(a is None, f"{cmd}: the proxy answered {short(a)} (doc/CLUSTER.md says it closes)")
    # inline commands (what `redis-cli --pipe` gets from a text file): the
    # proxy speaks only the multi-bulk form and closes the connection
    p, s = Raw(c.proxy_port()), Raw(reference["port"])
    for conn in (p, s):
        conn.send(b"GET k3\r\n")
    check(s.reply() == b"$7\r\nvalue-3\r\n", "inline GET to the server")
    try:
        got = p.reply()
    except (EOFError, ConnectionResetError):
        got = None
    check(got is None, f"inline GET through the proxy answered {short(got)}")
    p.close()
    s.close()
    check(r.ping(), "proxy does not answer PING after closing connections")
    r.close()

    # kvs-client (hiredis: SET, GET, DEL) through the proxy
    client = os.environ.get("KVS_CLIENT")
    if client:
        addr = ["--addr", f"127.0.0.1:{c.proxy_port()}"]

        def kc(*args):
            return subprocess.run([client, *addr, *args], capture_output=True, text=True,
                                  timeout=30, stdin=subprocess.DEVNULL)
        check(kc("set", "greeting", "hello").returncode == 0, "kvs-client set")
        got = kc("get", "greeting")
        check((got.returncode, got.stdout) == (0, "hello\n"), f"kvs-client get: {got}")
        check(kc("rm", "greeting").returncode == 0, "kvs-client rm")
        got = kc("rm", "greeting")
        check(got.returncode == 1 and "Key not found" in got.stderr, f"kvs-client rm again: {got}")
        got = kc("get", "greeting")
        check((got.returncode, got.stdout) == (0, "Key not found\n"), f"kvs-client get: {got}")
        log("   kvs-client set/get/rm through the proxy")


def key(i):
    return f"key:{i:06d}"


def value(i):
    return f"value-{i}-{'v' * (i % 50)}".encode()


def stage_write_and_spread(c):
    log(f"3. {NKEYS} keys through the proxy")
    ports = c.server_ports()
    base = [redis.Redis(port=p, socket_timeout=10).dbsize() for p in ports]
    r = redis.Redis(port=c.proxy_port(), socket_timeout=30)
    for i in range(0, NKEYS, 1000):
        pipe = r.pipeline(transaction=False)
        for j in range(i, min(i + 1000, NKEYS)):
            pipe.set(key(j), value(j))
        res = pipe.execute()
        check(all(x is True for x in res), f"SET through the proxy failed at {i}: {res[:3]}")
    log("   written")
    bad = read_through(r, range(NKEYS))
    check(not bad, f"read through the proxy: {summary(bad)}")
    log("   all read back through the proxy")
    keys = [key(i) for i in range(NKEYS)]
    own = owners(ports, keys)
    multi = [k for k, v in own.items() if len(v) != 1]
    check(not multi, f"{len(multi)} keys not on exactly one server, e.g. {multi[:3]}: "
          f"{[own[k] for k in multi[:3]]}")
    owner = [own[key(i)][0] for i in range(NKEYS)]
    counts = [owner.count(s) for s in range(len(ports))]
    log(f"   keys per server: {counts}")
    for s, n in enumerate(counts):
        check(NKEYS // 10 <= n < NKEYS, f"server kvs{s + 1} holds {n} of {NKEYS} keys")
    for s, p in enumerate(ports):
        d = redis.Redis(port=p, socket_timeout=10)
        check(d.dbsize() == base[s] + counts[s], f"kvs{s + 1}: DBSIZE {d.dbsize()}, expected "
              f"{base[s]} + {counts[s]}")
        # the values are right where they are (directly, not only through the proxy)
        sample = [i for i in range(0, NKEYS, 97) if owner[i] == s]
        got = d.mget([key(i) for i in sample])
        check(got == [value(i) for i in sample], f"kvs{s + 1} holds wrong values")
        d.close()
    r.close()
    return owner


def summary(bad):
    return f"{len(bad)} keys wrong, e.g. " + ", ".join(f"{k}: {v!r}" for k, v in bad[:3])


def read_through(r, indexes, expect=None):
    """Read keys through client r with MGET (100 keys per request, pipelined);
    return [(key, problem)] for those that are not value(i) (or expect[i])."""
    indexes = list(indexes)
    bad = []
    for i in range(0, len(indexes), 5000):
        part = indexes[i:i + 5000]
        pipe = r.pipeline(transaction=False)
        for j in range(0, len(part), 100):
            pipe.mget([key(x) for x in part[j:j + 100]])
        try:
            res = pipe.execute(raise_on_error=False)
        except redis.RedisError as e:
            return [(key(part[0]), e)]
        for j, got in zip(range(0, len(part), 100), res):
            chunk = part[j:j + 100]
            if isinstance(got, Exception):
                bad.extend((key(x), got) for x in chunk)
                continue
            for x, v in zip(chunk, got):
                want = expect.get(x, value(x)) if expect else value(x)
                if v != want:
                    bad.append((key(x), v))
    return bad


def stage_kill_one(c, owner):
    victim = 1  # kvs2
    log("4. kill -9 kvs2; the proxy keeps serving kvs1's and kvs3's keys")
    pid, start = c.pids()[os.path.join(c.base, "kvs2", "pid")]
    kill_and_wait(pid, start, signal.SIGKILL)
    others = [i for i in range(NKEYS) if owner[i] != victim]
    victims = [i for i in range(NKEYS) if owner[i] == victim]
    r = redis.Redis(port=c.proxy_port(), socket_timeout=30)
    bad = read_through(r, others)
    check(not bad, f"other servers' keys, kvs2 dead: {summary(bad)}")
    log(f"   {len(others)} keys of kvs1 and kvs3 read through the proxy")

    # Requests for kvs2's keys fail until server_failure_limit of them have;
    # then kvs2 is ejected and its keys hash to kvs1/kvs3, where they are absent.
    def ejected():
        try:
            return r.get(key(victims[0])) is None
        except redis.RedisError:
            return False
    wait_until("the proxy to eject kvs2 (a GET of its key answered nil)", ejected, 30)
    log("   kvs2 ejected: its keys read as nil")
    bad = read_through(r, others)
    check(not bad, f"other servers' keys, kvs2 ejected: {summary(bad)}")
    log("   kvs1's and kvs3's keys still all there")

    # A write of kvs2's key now lands on kvs1 or kvs3 (retried: when the retry
    # timeout passes, kvs2 is back in the ring until it fails again).
    k = key(victims[0])

    def write():
        try:
            return r.set(k, b"written while kvs2 was out")
        except redis.RedisError:
            return False
    wait_until(f"SET {k} through the proxy with kvs2 ejected", write, 30)
    ports = c.server_ports()
    holders = [s for s, p in enumerate(ports) if s != victim and
               redis.Redis(port=p, socket_timeout=10).get(k) == b"written while kvs2 was out"]
    check(len(holders) == 1, f"the write with kvs2 ejected is on servers {holders}")
    r.close()
    return victims[0], holders[0]


def stage_restart_servers(c, moved, orphan_at):
    log("5. SIGTERM and restart of every server (the proxy keeps running)")
    ports = c.server_ports()
    for i in range(1, 4):
        rec = read_pidfile(os.path.join(c.base, f"kvs{i}", "pid"))
        if rec and running(*rec):
            kill_and_wait(rec[0], rec[1], signal.SIGTERM)
    nc = c.pids()[os.path.join(c.base, "nutcracker.pid")]
    p = c.run("start")
    check(p.stdout.count("started kvs") == 3 and "started nutcracker" not in p.stdout,
          f"start after the servers stopped:\n{p.stdout}")
    check(c.server_ports() == ports, f"servers came back on {c.server_ports()}, not {ports}")
    check(running(*nc), "nutcracker died")
    r = redis.Redis(port=c.proxy_port(), socket_timeout=30)
    # kvs2 rejoins the ring once the retry timeout has passed: then the key
    # written during its ejection shows kvs2's old value again.
    expect = {moved: value(moved)}
    last = []

    def all_back():
        last[:] = read_through(r, range(NKEYS), expect)
        return not last
    try:
        wait_until("every key through the proxy", all_back, 60, interval=0.2)
    except TestFailure as e:
        raise TestFailure(f"{e}: {summary(last)}") from None
    log(f"   all {NKEYS} keys back; {key(moved)} shows its old value again")
    d = redis.Redis(port=ports[orphan_at], socket_timeout=10)
    check(d.get(key(moved)) == b"written while kvs2 was out",
          "the write made during the ejection is gone from the server it landed on")
    d.close()
    r.close()


def stage_full_restart(c, moved):
    log("6. stop and start the whole cluster")
    ports, proxy, recs = c.server_ports(), c.proxy_port(), c.pids()
    p = c.run("stop")
    check(p.stdout.count("stopped") == 4, f"stop:\n{p.stdout}")
    for f, rec in recs.items():
        check(not running(*rec), f"{f}: pid {rec[0]} still runs after stop")
        check(not os.path.exists(f), f"{f} still there after stop")
    c.run("status", expect=3)
    c.run("start")
    check(c.server_ports() == ports and c.proxy_port() == proxy, "ports changed over a restart")
    c.run("status", expect=0)
    r = redis.Redis(port=proxy, socket_timeout=30)
    bad = read_through(r, range(NKEYS), {moved: value(moved)})
    check(not bad, f"after a full restart: {summary(bad)}")
    log(f"   all {NKEYS} keys back")
    r.close()


def stage_auth_no_eject(c):
    log("7. 2 servers, --requirepass (redis_auth), --no-auto-eject")
    c.run("-n", "2", "--requirepass", "s3cret", "--no-auto-eject", "start")
    text = open(os.path.join(c.base, "nutcracker.yml")).read()
    check("auto_eject_hosts: false" in text and 'redis_auth: "s3cret"' in text, text)
    proxy, ports = c.proxy_port(), c.server_ports()
    p = Raw(proxy)
    check((p.cmd("GET", "a") or b"").startswith(b"-NOAUTH"), "GET before AUTH through the proxy")
    check((p.cmd("AUTH", "wrong") or b"").startswith(b"-ERR"), "AUTH with a wrong password")
    check(p.cmd("AUTH", "s3cret") == b"+OK\r\n", "AUTH through the proxy")
    check(p.cmd("SET", "a", "1") == b"+OK\r\n", "SET after AUTH")
    p.close()
    d = Raw(ports[0])
    check((d.cmd("GET", "a") or b"").startswith(b"-NOAUTH"), "a server without AUTH")
    d.close()
    r = redis.Redis(port=proxy, password="s3cret", socket_timeout=10)
    keys = [f"a{i}" for i in range(200)]
    r.mset({k: "old" for k in keys})
    own = owners_auth(ports, keys)
    on1 = [k for k in keys if own[k] == [0]]
    on2 = [k for k in keys if own[k] == [1]]
    check(on1 and on2 and len(on1) + len(on2) == len(keys), f"keys per server: {len(on1)}, {len(on2)}")
    pid, start = c.pids()[os.path.join(c.base, "kvs2", "pid")]
    kill_and_wait(pid, start, signal.SIGKILL)
    # without ejection, kvs2's keys get errors every time, never a wrong nil
    for k in on2[:20]:
        try:
            got = r.get(k)
        except redis.RedisError:
            continue
        raise TestFailure(f"GET {k} of the dead kvs2 answered {got!r}, not an error")
    check(r.mget(on1) == [b"old"] * len(on1), "kvs1's keys with kvs2 dead")
    # MSET over both servers: an error, yet kvs1's part is written
    try:
        r.mset({on1[0]: "new", on2[0]: "new"})
        raise TestFailure("MSET across a dead server succeeded")
    except redis.RedisError:
        pass
    check(r.get(on1[0]) == b"new", "MSET across servers: the live server's part not written")
    r.close()
    c.run("stop")


def owners_auth(ports, keys):
    out = {k: [] for k in keys}
    for idx, port in enumerate(ports):
        d = redis.Redis(port=port, password="s3cret", socket_timeout=10)
        for k, v in zip(keys, d.mget(keys)):
            if v is not None:
                out[k].append(idx)
        d.close()
    return out


def stage_stop(c):
    log("8. stop")
    recs = c.pids()
    c.run("stop")
    for f, rec in recs.items():
        check(not running(*rec), f"{f}: pid {rec[0]} still runs after stop")
    c.run("stop")  # stopping a stopped cluster is fine
    c.run("status", expect=3)


def main():
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        main_cluster = Cluster(os.path.join(tmp, "main"))
        clusters.append(main_cluster)
        stage_script(main_cluster)
        start_reference()
        stage_commands(main_cluster)
        owner = stage_write_and_spread(main_cluster)
        moved, orphan_at = stage_kill_one(main_cluster, owner)
        stage_restart_servers(main_cluster, moved, orphan_at)
        stage_full_restart(main_cluster, moved)
        auth = Cluster(os.path.join(tmp, "auth"))
        clusters.append(auth)
        stage_auth_no_eject(auth)
        stage_stop(main_cluster)
    except TestFailure as e:
        log(f"FAIL: {e}")
        for c in clusters:
            for name in ["nutcracker.log"] + [f"kvs{i}/log" for i in range(1, 4)]:
                path = os.path.join(c.base, name)
                if os.path.exists(path):
                    with open(path, errors="replace") as f:
                        tail = f.readlines()[-5:]
                    log(f"--- {path}:\n" + "".join(tail))
        return 1
    finally:
        cleanup()
    log("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
