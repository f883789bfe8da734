"""db.update(key, fn): read-modify-write through a Python function (a cffi callback)."""

import threading

import pytest

import kvs

HOUR_MS = 3600 * 1000


def incr(old):
    return b"%d" % (int(old or b"0") + 1)


def test_create_change_remove_keep(db):
    seen = []

    def record(value):
        def fn(old):
            seen.append(old)
            return value
        return fn

    assert db.update(b"k", record(b"1")) == b"1"  # absent: fn(None)
    assert db.update(b"k", record(bytearray(b"2"))) == b"2"
    assert db.update(b"k", record(kvs.KEEP)) == b"2"  # nothing written
    assert db.update(b"k", record(b"")) == b""  # an empty value is not removal
    assert db[b"k"] == b""
    assert db.update(b"k", record(None)) is None  # removed
    assert b"k" not in db
    assert db.update(b"k", record(None)) is None  # removing an absent key
    assert db.update(b"k", record(kvs.KEEP)) is None
    assert b"k" not in db
    assert seen == [None, b"1", b"2", b"2", b"", None, None]
    assert all(old is None or type(old) is bytes for old in seen)
    st = db.stats()
    assert (st["sets"], st["removes"]) == (3, 1)


def test_counter(db):
    for _ in range(10):
        db.update(b"n", incr)
    assert db[b"n"] == b"10"
    assert db.update(b"n", lambda old: old + b"0") == b"100"
    assert db.update(b"n", lambda old: memoryview(old)[:2]) == b"10"


def test_exception_aborts_and_is_raised(db):
    db[b"k"] = b"old"

    class Boom(Exception):
        pass

    err = Boom("no")
    with pytest.raises(Boom) as info:
        db.update(b"k", lambda old: (_ for _ in ()).throw(err))
    assert info.value is err
    assert db[b"k"] == b"old"
    with pytest.raises(ZeroDivisionError):
        db.update(b"new", lambda old: 1 / 0)
    assert b"new" not in db
    with pytest.raises(KeyboardInterrupt):  # not only Exception
        db.update(b"k", lambda old: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert db[b"k"] == b"old"
    assert db.stats()["sets"] == 1
    assert db.update(b"k", lambda old: old + b"!") == b"old!"  # the store works on


@pytest.mark.parametrize("bad", ["str", 5, 1.5, [b"a"], object()])
def test_wrong_return_type_aborts(db, bad):
    db[b"k"] = b"old"
    with pytest.raises(TypeError, match="bytes"):
        db.update(b"k", lambda old: bad)
    assert db[b"k"] == b"old"


def test_value_too_big_aborts(db):
    import mmap

    with mmap.mmap(-1, kvs.VALUE_MAX + 1) as m:
        with pytest.raises(kvs.TooBigError):
            db.update(b"k", lambda old: memoryview(m))
    assert b"k" not in db


def test_calls_into_the_same_db_raise_instead_of_deadlocking(db, tmp_path):
    db[b"k"] = b"v"
    calls = [
        lambda: db.get(b"k"), lambda: db.set(b"x", b"y"), lambda: b"k" in db,
        lambda: db.update(b"x", incr), lambda: db.iterator(), lambda: db.snapshot(),
        db.close, db.stats, lambda: db.batch().write(),
    ]
    for call in calls:
        def fn(old):
            call()
            return b"changed"
        with pytest.raises(RuntimeError, match="same DB"):
            db.update(b"k", fn)
        assert db[b"k"] == b"v"
    assert not db.closed
    # other DBs are fine, and a snapshot of this one taken before (it does
    # not take the write lock)
    with kvs.open(str(tmp_path / "other")) as other:
        with db.snapshot() as snap:
            def copy(old):
                other[b"copy"] = old
                return snap[b"k"] + b"2"
            assert db.update(b"k", copy) == b"v2"
        assert other[b"copy"] == b"v"
    # and the guard is lifted afterwards, also after an exception
    assert db[b"k"] == b"v2"


def test_expiry(db):
    t = kvs._now_ms()
    db.set(b"k", b"1", expire_at_ms=t + HOUR_MS)
    db.update(b"k", incr)  # keeps the expiry by default, as Redis's INCR
    assert db[b"k"] == b"2" and db.get_expire(b"k") == t + HOUR_MS
    db.update(b"k", incr, expire_at_ms=t + 2 * HOUR_MS)
    assert db.get_expire(b"k") == t + 2 * HOUR_MS
    db.update(b"k", incr, expire_at_ms=None)
    assert db[b"k"] == b"4" and db.get_expire(b"k") is None
    db.update(b"k", incr, ttl=60)
    assert t < db.get_expire(b"k") <= kvs._now_ms() + 60_000
    db.update(b"k", incr, expire_at_ms=1)  # written expired
    assert b"k" not in db
    assert db.update(b"k", lambda old: b"fresh" if old is None else b"stale") == b"fresh"
    with pytest.raises(ValueError):
        db.update(b"k", incr, expire_at_ms=t, ttl=1)
    with pytest.raises(TypeError):
        db.update(b"k", incr, expire_at_ms="soon")


def test_bad_arguments(db, path):
    with pytest.raises(TypeError):
        db.update(b"k", None)
    with pytest.raises(TypeError):
        db.update("k", incr)
    with pytest.raises(kvs.InvalidArgumentError):
        db.update(b"", incr)
    with pytest.raises(kvs.TooBigError):
        db.update(b"k" * (kvs.KEY_MAX + 1), incr)
    db.close()
    with pytest.raises(kvs.ClosedError):
        db.update(b"k", incr)
    with kvs.open(path, read_only=True) as ro:
        with pytest.raises(kvs.ReadOnlyError):
            ro.update(b"k", incr)


def test_damaged_value_is_not_given_to_fn(corrupt_store):
    called = []
    with kvs.open(corrupt_store) as db:
        with pytest.raises(kvs.CorruptError):
            db.update(b"victim", lambda old: called.append(old) or b"x")
        assert called == []
        assert db.update(b"other", lambda old: old[:1]) == b"O"


def test_threads_increment_without_losing_any(db):
    threads, per_thread = 8, 500
    errors = []
    start = threading.Barrier(threads, timeout=60)

    def worker(n):
        try:
            start.wait()
            for i in range(per_thread):
                db.update(b"counter", incr)
                if i % 50 == 0:  # and other writers in between
                    db[b"t%d" % n] = b"%d" % i
        except Exception as e:  # pragma: no cover
            errors.append(e)

    ts = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
        assert not t.is_alive()
    assert errors == []
    assert db[b"counter"] == b"%d" % (threads * per_thread)  # 4000


def test_non_atomic_increments_do_lose_some(db):
    # The control for the test above: a get-then-set increment from 8
    # threads loses increments when the threads interleave. Here they are
    # made to (all read, then all write, each round), so the loss is certain.
    threads, rounds = 8, 20
    db[b"counter"] = b"0"
    between = threading.Barrier(threads, timeout=60)

    def worker():
        for _ in range(rounds):
            old = db[b"counter"]
            between.wait()
            db[b"counter"] = incr(old)
            between.wait()

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
        assert not t.is_alive()
    assert db[b"counter"] == b"%d" % rounds  # not threads * rounds
