"""kvs-server through redis-py (Debian's python3-redis), end to end.

Starts kvs-server (KVS_SERVER) on a free 127.0.0.1 port in a temporary
directory, runs the checks below, stops it by PID. Exit status 77 (meson's
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
         "--port-file", port_file],
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


def main():
    tmp = tempfile.mkdtemp(prefix="kvs-redis-py-")
    proc, port = start_server(tmp)
    passed = failed = 0
    try:
        checks = [("scan_iter", lambda r: check_scan_iter(r)), ("keys", lambda r: check_keys(r)),
                  ("hello", lambda r: check_hello(r, port)), ("client", lambda r: check_client(r)),
                  ("info_config", lambda r: check_info_config(r))]
        for name, fn in checks:
            r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=20)
            try:
                for key in list(r.scan_iter(count=1000)):  # no FLUSHDB: start empty
                    r.delete(key)
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
