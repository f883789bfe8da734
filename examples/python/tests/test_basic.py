"""Reads, writes, removal, bytes handling, the mapping protocol, close."""

import array
import mmap
import os
import subprocess
import sys

import pytest

import kvs


def test_library_version_is_checked():
    assert kvs.library_version_number // 10000 == 1
    assert kvs.library_version_number >= kvs._ffi.MIN_VERSION_NUMBER >= 10100
    assert kvs.library_version.count(".") == 2
    assert kvs.library_version.startswith("1.")


def test_round_trip_binary_keys_and_values(db):
    pairs = {
        b"k": b"v",
        b"\0": b"\0\0\0",
        b"a\0b": b"x\0y\xff",
        bytes(range(256)): bytes(range(255, -1, -1)) * 10,
        b"empty": b"",
    }
    for k, v in pairs.items():
        db[k] = v
    for k, v in pairs.items():
        got = db[k]
        assert type(got) is bytes
        assert got == v
        assert db.get(k) == v
    assert db[b"empty"] == b""
    assert b"empty" in db


def test_overwrite_returns_latest(db):
    db[b"k"] = b"one"
    db[b"k"] = b"two"
    assert db[b"k"] == b"two"


def test_absent_key(db):
    assert db.get(b"nope") is None
    assert db.get(b"nope", b"dflt") == b"dflt"
    assert b"nope" not in db
    with pytest.raises(KeyError):
        db[b"nope"]
    assert db.remove(b"nope") is False
    with pytest.raises(KeyError):
        del db[b"nope"]


def test_remove_and_del(db):
    db[b"a"] = b"1"
    db[b"b"] = b"2"
    assert db.remove(b"a") is True
    assert db.get(b"a") is None
    assert db.remove(b"a") is False
    del db[b"b"]
    assert b"b" not in db
    assert db.stats()["keys"] == 0


def test_set_conditions(db):
    assert db.set(b"k", b"1") is True
    assert db.set(b"k", b"2", if_absent=True) is False
    assert db[b"k"] == b"1"
    assert db.set(b"new", b"x", if_absent=True) is True
    assert db[b"new"] == b"x"
    assert db.set(b"missing", b"x", if_present=True) is False
    assert b"missing" not in db
    assert db.set(b"k", b"3", if_present=True) is True
    assert db[b"k"] == b"3"
    with pytest.raises(ValueError, match="if_absent and if_present"):
        db.set(b"k", b"4", if_absent=True, if_present=True)
    with pytest.raises(TypeError):
        db.set(b"k", b"4", if_absent=1)
    assert db[b"k"] == b"3"


def test_bytes_like_arguments(db):
    db[bytearray(b"ba")] = memoryview(b"mv")
    assert db[b"ba"] == b"mv"
    assert db[memoryview(b"ba")] == b"mv"
    db[b"arr"] = array.array("B", [1, 2, 3])
    assert db[b"arr"] == b"\x01\x02\x03"
    db[b"wide"] = array.array("H", [0x0102])
    assert len(db[b"wide"]) == 2
    db[b"strided"] = memoryview(b"a-b-c")[::2]  # not contiguous: copied
    assert db[b"strided"] == b"abc"
    key = bytearray(b"mut")
    db[key] = b"1"
    key[0] = ord(b"c")
    assert db[b"mut"] == b"1" and b"cut" not in db


@pytest.mark.parametrize("bad", ["str", 1, None, 1.5, object()])
def test_non_bytes_rejected(db, bad):
    with pytest.raises(TypeError):
        db.set(bad, b"v")
    with pytest.raises(TypeError):
        db.set(b"k", bad)
    with pytest.raises(TypeError):
        db.get(bad)
    with pytest.raises(TypeError):
        bad in db
    with pytest.raises(TypeError):
        db.remove(bad)
    assert b"k" not in db


def test_str_error_says_encode(db):
    with pytest.raises(TypeError, match="encode"):
        db["key"] = b"v"


def test_empty_key_is_einval(db):
    for call in (lambda: db.set(b"", b"v"), lambda: db.get(b""),
                 lambda: db.remove(b""), lambda: b"" in db):
        with pytest.raises(kvs.InvalidArgumentError) as info:
            call()
        assert info.value.name == "KVS_EINVAL"
        assert info.value.status == kvs.EINVAL
        assert isinstance(info.value, ValueError)


def test_key_size_limits(db):
    biggest = b"k" * kvs.KEY_MAX
    db[biggest] = b"v"
    assert db[biggest] == b"v"
    too_big = b"k" * (kvs.KEY_MAX + 1)
    with pytest.raises(kvs.TooBigError) as info:
        db[too_big] = b"v"
    assert info.value.name == "KVS_ETOOBIG"
    with pytest.raises(kvs.TooBigError):
        db.get(too_big)


def test_value_too_big(db):
    # An anonymous mapping: its pages are never touched, libkvs checks the
    # length first, so this costs no memory.
    with mmap.mmap(-1, kvs.VALUE_MAX + 1) as m:
        with pytest.raises(kvs.TooBigError):
            db.set(b"k", memoryview(m))
    assert b"k" not in db


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_get_frees_the_c_buffer(db):
    # Each get copies the value out of a malloc'ed buffer that must be
    # released (kvs_free): 200 gets of 1 MiB would leak 200 MiB.
    value = os.urandom(1 << 20)
    db[b"big"] = value
    assert db[b"big"] == value
    before = _rss_bytes()
    for _ in range(200):
        assert len(db[b"big"]) == len(value)
    assert _rss_bytes() - before < 50 << 20


def test_stats(db):
    for i in range(10):
        db[b"k%d" % i] = b"v"
    db.remove(b"k0")
    st = db.stats()
    assert st["keys"] == 9
    assert st["sets"] == 10
    assert st["removes"] == 1
    assert st["segments"] >= 1
    assert all(type(v) is int for v in st.values())
    assert {"disk_bytes", "live_bytes", "dead_bytes", "compactions"} <= set(st)


def test_sync_and_compact(db):
    for i in range(100):
        db[b"k%d" % i] = b"x" * 100
    for i in range(100):
        db[b"k%d" % i] = b"y" * 100
    db.remove(b"k0")
    db.sync()
    before = db.stats()
    assert before["dead_bytes"] > 0
    db.compact()
    after = db.stats()
    assert after["compactions"] == before["compactions"] + 1
    assert after["dead_bytes"] == 0
    assert after["live_bytes"] == before["live_bytes"]
    assert db[b"k5"] == b"y" * 100
    assert b"k0" not in db


def test_persistence_across_reopen(path):
    data = {os.urandom(8) + bytes([i]): os.urandom(i) for i in range(200)}
    with kvs.open(path) as db:
        for k, v in data.items():
            db[k] = v
        db[b"gone"] = b"soon"
        db.remove(b"gone")
    with kvs.open(path) as db:
        for k, v in data.items():
            assert db[k] == v
        assert b"gone" not in db
        assert db.stats()["keys"] == len(data)


def test_path_types(tmp_path):
    import pathlib

    for p in (str(tmp_path / "s"), os.fsencode(str(tmp_path / "b")), pathlib.Path(tmp_path / "p")):
        with kvs.open(p) as db:
            db[b"k"] = b"v"
        with kvs.open(p) as db:
            assert db[b"k"] == b"v"


def test_context_manager_closes(path):
    with kvs.open(path) as db:
        db[b"k"] = b"v"
        assert not db.closed
    assert db.closed
    with pytest.raises(RuntimeError):
        with kvs.open(path) as db2:
            raise RuntimeError("boom")
    assert db2.closed
    with kvs.open(path) as db3:  # the lock was released both times
        assert db3[b"k"] == b"v"


def test_use_after_close(path):
    db = kvs.open(path)
    db[b"k"] = b"v"
    db.close()
    db.close()  # idempotent
    assert db.closed
    assert "closed" in repr(db)
    for call in (lambda: db[b"k"], lambda: db.get(b"k"), lambda: db.set(b"k", b"v"),
                 lambda: db.remove(b"k"), lambda: b"k" in db, db.stats, db.sync, db.compact):
        with pytest.raises(kvs.ClosedError) as info:
            call()
        assert info.value.name == "KVS_EINVAL"
        assert "closed" in str(info.value)
    with pytest.raises(kvs.ClosedError):
        with db:
            pass


def test_garbage_collection_closes(path):
    db = kvs.open(path)
    db[b"k"] = b"v"
    del db  # CPython frees it at once: __del__ closes and releases the lock
    with kvs.open(path) as db:
        assert db[b"k"] == b"v"


def test_iterating_a_db_gives_its_keys(db):
    # libkvs 1.0 had no iterators and iter(db) raised TypeError; now it walks the keys.
    db[b"k"] = b"v"
    db[b"a"] = b"w"
    assert list(db) == [b"a", b"k"]


def test_process_exit_closes_an_open_db(path):
    # A script that never calls close(): the DB is closed at exit (atexit or
    # garbage collection), so the store is sealed with its hint file, even
    # with a logger callback registered and a reference cycle keeping it alive.
    script = (
        "import sys, kvs\n"
        "db = kvs.open(sys.argv[1], logger=lambda level, msg: None)\n"
        "db.cycle = db\n"
        "for i in range(100):\n"
        "    db[b'k%d' % i] = b'v'\n"
    )
    done = subprocess.run([sys.executable, "-c", script, path], timeout=120,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert done.returncode == 0, done.stdout
    assert done.stdout == b""
    assert any(name.endswith(".hint") for name in os.listdir(path))
    with kvs.open(path) as db:
        assert db.stats()["keys"] == 100
        assert db.stats()["hint_segments"] >= 1


def test_kvs_library_names_the_library(tmp_path):
    # KVS_LIBRARY is used alone: a wrong path is an ImportError naming it,
    # not a silent fallback to another libkvs.
    env = dict(os.environ, KVS_LIBRARY=str(tmp_path / "libkvs.so.1"))
    done = subprocess.run([sys.executable, "-c", "import kvs"], env=env, timeout=120,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert done.returncode != 0
    assert b"ImportError" in done.stdout and b"KVS_LIBRARY" in done.stdout
    assert str(tmp_path).encode() in done.stdout


def test_get_many_reads_like_get(db):
    for i in range(100):
        db[b"k%d" % i] = b"v%d" % i
    db[b"empty"] = b""
    keys = [b"k5", b"nope", b"k5", bytearray(b"k99"), memoryview(b"empty"), b"k0"]
    assert db.get_many(keys) == [b"v5", None, b"v5", b"v99", b"", b"v0"]
    assert db.get_many(keys, default=b"?")[1] == b"?"
    assert db.get_many([]) == []
    assert db.get_many(b"k%d" % i for i in range(100)) == [b"v%d" % i for i in range(100)]


def test_get_many_refuses_bad_keys(db):
    db[b"a"] = b"1"
    with pytest.raises(kvs.InvalidArgumentError):
        db.get_many([b"a", b""])
    with pytest.raises(TypeError):
        db.get_many([b"a", "text"])
