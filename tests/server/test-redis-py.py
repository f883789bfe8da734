"""kvs-server through redis-py (Debian's python3-redis), end to end.

Starts kvs-server (KVS_SERVER) on a free 127.0.0.1 port in a temporary
directory (with --backup-dir), runs the checks below, stops it by PID. Exit status 77 (meson's
"skipped") when the redis module is missing. Works with redis-py 4.3
(Debian 12) and later: HELLO and CLIENT SETINFO go through their own API
where the installed version has it, else through execute_command.
"""
import inspect
import os
import shutil
import subprocess
import sys
import tempfile
import time

try:
    import redis
except ImportError:
    print("SKIP: the Python redis module (python3-redis) is not installed", file=sys.stderr)
    sys.exit(77)

CURSOR_MAX = 2**53 - 1


def start_server(tmp):
    """kvs-server on port 0; its port from --port-file, waited for at most 10 s."""
    port_file = os.path.join(tmp, "port")
    log = open(os.path.join(tmp, "stderr"), "w")
    proc = subprocess.Popen(
        [os.environ["KVS_SERVER"], "--addr", "127.0.0.1:0", "--dir", os.path.join(tmp, "data"),
         "--port-file", port_file, "--backup-dir", os.path.join(tmp, "backups")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("kvs-server exited with status %d" % proc.returncode)
        try:
            with open(port_file) as f:
                return proc, int(f.read())
        except (FileNotFoundError, ValueError):
            time.sleep(0.01)
    proc.kill()
    proc.wait()
    raise RuntimeError("kvs-server did not start within 10 s")


def stop_server(proc):
    proc.terminate()
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return -1


def fill(r, n):
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        pipe.set("user:%d" % i, i)
        pipe.set("other:%d" % i, i)
    pipe.execute()


def check_scan_iter(r):
    fill(r, 3000)
    everything = list(r.scan_iter())
    assert len(everything) == 6000, len(everything)
    assert len(set(everything)) == 6000, "duplicates"
    users = list(r.scan_iter(match="user:*", count=100))
    assert sorted(users) == sorted(b"user:%d" % i for i in range(3000))
    few = list(r.scan_iter(match="other:2?", count=7))
    assert sorted(few) == sorted(b"other:%d" % i for i in range(20, 30)), few
    cursor, keys = r.scan(cursor=0, count=10)
    assert isinstance(cursor, int) and 0 < cursor <= CURSOR_MAX, cursor
    assert len(keys) == 10
    assert list(r.scan_iter(match="user:*", _type="string", count=1000)) == users
    assert list(r.scan_iter(_type="list")) == []


def check_keys(r):
    fill(r, 50)
    assert sorted(r.keys("user:*")) == sorted(b"user:%d" % i for i in range(50))
    assert r.keys("user:4[0-4]") == [b"user:40", b"user:41", b"user:42", b"user:43", b"user:44"]
    assert r.keys("nothing*") == []


def check_hello(r, port):
    if "protocol" in inspect.signature(redis.Redis.__init__).parameters:  # redis-py >= 5
        assert redis.Redis(port=port, protocol=2).ping()
        try:
            redis.Redis(port=port, protocol=3).ping()
            raise AssertionError("RESP3 accepted")
        except redis.exceptions.RedisError as e:
            assert "unknown command" in str(e).lower(), e
    reply = r.execute_command("HELLO", 2)
    fields = dict(zip(reply[0::2], reply[1::2])) if isinstance(reply, list) else reply
    fields = {k.decode() if isinstance(k, bytes) else k: v for k, v in fields.items()}
    assert fields["proto"] == 2 and fields["id"] == r.client_id(), fields
    try:
        r.execute_command("HELLO", 3)
        raise AssertionError("HELLO 3 accepted")
    except redis.exceptions.ResponseError as e:
        assert str(e).startswith("unknown command 'HELLO'"), e


def check_client(r):
    if hasattr(r, "client_setinfo"):
        assert r.client_setinfo("LIB-NAME", "kvs-test")
        assert r.client_setinfo("LIB-VER", "1.2.3")
    else:
        assert r.execute_command("CLIENT", "SETINFO", "LIB-NAME", "kvs-test")
        assert r.execute_command("CLIENT", "SETINFO", "LIB-VER", "1.2.3")
    info = r.client_info()
    assert info["lib-name"] == "kvs-test" and info["lib-ver"].strip() == "1.2.3", info
    assert r.client_setname("py-test")
    assert r.client_getname() in ("py-test", b"py-test")
    assert r.client_id() == info["id"]


def check_info_config(r):
    assert r.info()["redis_version"] == "7.0.0"
    assert r.info("persistence")["loading"] == 0
    assert r.config_get("no-such-parameter") == {}
    assert r.config_get("appendonly") == {"appendonly": "yes"}


def wait_until(cond, what, limit=10):
    """Poll cond every 10 ms until it holds or limit seconds pass; then assert it."""
    deadline = time.monotonic() + limit
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cond(), "%s: not within %d s" % (what, limit)


def has_param(method, name):
    return name in inspect.signature(method).parameters


def check_strings(r):
    assert r.set("k", "v", ex=3600)
    assert 3540 <= r.ttl("k") <= 3600
    assert r.set("k", "v2", keepttl=True) and 3540 <= r.ttl("k") <= 3600
    assert r.set("k", "v3", get=True) == b"v2"
    assert r.ttl("k") == -1
    assert r.set("k", "x", nx=True) is None and r.get("k") == b"v3"
    assert r.set("k", "x", xx=True, px=3600000) and 3540000 <= r.pttl("k") <= 3600000
    assert r.set("k", "y", exat=4102444800) and r.execute_command("EXPIRETIME", "k") == 4102444800
    assert r.getset("k", "z") == b"y" and r.ttl("k") == -1
    assert r.getdel("k") == b"z" and r.getdel("k") is None
    assert r.set("g", "v")
    assert r.getex("g", ex=3600) == b"v" and 3540 <= r.ttl("g") <= 3600
    assert r.getex("g", persist=True) == b"v" and r.ttl("g") == -1
    assert r.getex("nokey") is None
    assert r.append("a", "hello") == 5 and r.append("a", " world") == 11
    assert r.get("a") == b"hello world"
    assert r.setnx("n", 1) and not r.setnx("n", 2)
    assert r.setex("e", 3600, "v") and 3540 <= r.ttl("e") <= 3600
    assert r.psetex("p", 3600000, "v") and 3540000 <= r.pttl("p") <= 3600000
    assert r.incr("c") == 1 and r.incr("c", 10) == 11 and r.decr("c") == 10
    assert r.incrby("c", 5) == 15 and r.decrby("c", 20) == -5
    assert r.incrbyfloat("f", 1.5) == 1.5 and r.incrbyfloat("f", -0.25) == 1.25
    try:
        r.incr("a")
        raise AssertionError("INCR of a string accepted")
    except redis.exceptions.ResponseError as e:
        assert str(e) == "value is not an integer or out of range", e
    assert r.mset({"m1": "1", "m2": "2"})
    assert r.msetnx({"m3": "3", "m4": "4"}) and not r.msetnx({"m4": "x", "m5": "y"})
    assert r.mget("m1", "m2", "m3", "m4", "m5") == [b"1", b"2", b"3", b"4", None]
    pipe = r.pipeline(transaction=False)
    for _ in range(100):
        pipe.incr("piped")
    assert pipe.execute() == list(range(1, 101))


def check_expiry(r):
    assert r.set("t", "v")
    assert r.pexpire("t", 150)
    assert r.pttl("t") <= 150
    wait_until(lambda: r.exists("t") == 0, "PEXPIRE 150 ms")
    assert r.get("t") is None and r.ttl("t") == -2 and r.pttl("t") == -2
    assert r.set("t", "v", px=120)
    wait_until(lambda: r.get("t") is None, "SET PX 120")
    assert r.set("k", "v") and r.ttl("k") == -1
    assert r.expire("k", 3600) and 3540 <= r.ttl("k") <= 3600
    assert r.persist("k") and not r.persist("k") and r.ttl("k") == -1
    assert r.expireat("k", 4102444800) and r.execute_command("EXPIRETIME", "k") == 4102444800
    assert r.pexpireat("k", 4102444800123)
    assert r.execute_command("PEXPIRETIME", "k") == 4102444800123
    if has_param(r.expire, "nx"):  # redis-py >= 4.2
        assert not r.expire("k", 100, nx=True)
        assert r.expire("k", 100, lt=True) and 40 <= r.ttl("k") <= 100
        assert not r.expire("k", 50, gt=True)
    assert not r.expire("nokey", 10)


def check_flush_save(r, tmp):
    for i in range(1000):
        r.set("key:%d" % i, i)
    assert r.dbsize() == 1000
    before = r.lastsave()
    assert r.bgsave()
    wait_until(lambda: r.info("persistence")["rdb_bgsave_in_progress"] == 0, "BGSAVE", 60)
    info = r.info("persistence")
    assert info["rdb_last_bgsave_status"] == "ok" and info["rdb_saves"] == 1, info
    assert r.save()
    assert r.lastsave() >= before
    assert len(os.listdir(os.path.join(tmp, "backups"))) == 2
    assert r.flushdb() and r.dbsize() == 0
    r.set("a", 1)
    assert r.flushall(asynchronous=True) and r.dbsize() == 0


def main():
    tmp = tempfile.mkdtemp(prefix="kvs-redis-py-")
    proc, port = start_server(tmp)
    passed = failed = 0
    try:
        checks = [("scan_iter", lambda r: check_scan_iter(r)), ("keys", lambda r: check_keys(r)),
                  ("hello", lambda r: check_hello(r, port)), ("client", lambda r: check_client(r)),
                  ("info_config", lambda r: check_info_config(r)),
                  ("strings", lambda r: check_strings(r)), ("expiry", lambda r: check_expiry(r)),
                  ("flush_save", lambda r: check_flush_save(r, tmp))]
        for name, fn in checks:
            r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=20)
            try:
                r.flushdb()  # start empty
                fn(r)
                passed += 1
                print("ok %s" % name)
            except Exception as e:  # report every check, then fail
                failed += 1
                print("FAIL %s: %r" % (name, e))
            finally:
                r.close()
    finally:
        status = stop_server(proc)
        if status != 0:
            failed += 1
            with open(os.path.join(tmp, "stderr")) as f:
                print("FAIL kvs-server exited with %d:\n%s" % (status, f.read()))
        shutil.rmtree(tmp, ignore_errors=True)
    print("with redis-py %s" % redis.__version__)
    print("redis-py: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
