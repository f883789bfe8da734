"""Atomic batches: all or nothing, on success and on an exception."""

import mmap
import threading

import pytest

import kvs


def test_with_block_writes_on_success(db):
    db[b"gone"] = b"x"
    with db.batch() as b:
        b.set(b"a", b"1")
        b[b"b"] = bytearray(b"2")
        b.remove(b"gone")
        del b[b"never-existed"]  # removing an absent key is not an error
        b[memoryview(b"a")] = b"1 again"  # a later entry of a key wins
        assert len(b) == 5
        assert b.nbytes > 0
        assert b"a" not in db  # nothing written before the block ends
    assert b.closed
    assert db[b"a"] == b"1 again" and db[b"b"] == b"2"
    assert b"gone" not in db
    assert db.stats()["keys"] == 2


def test_exception_in_the_block_writes_nothing(db):
    db[b"keep"] = b"old"
    with pytest.raises(RuntimeError, match="boom"):
        with db.batch() as b:
            for i in range(100):
                b[b"k%d" % i] = b"v"
            b[b"keep"] = b"new"
            b.remove(b"keep")
            raise RuntimeError("boom")
    assert b.closed
    assert db[b"keep"] == b"old"
    assert list(db) == [b"keep"]
    assert db.stats()["sets"] == 1


def test_batch_survives_reopen(path):
    with kvs.open(path) as db:
        with db.batch() as b:
            for i in range(1000):
                b[b"r%04d" % i] = b"%d" % i
    with kvs.open(path) as db:
        assert db.stats()["keys"] == 1000
        assert db[b"r0999"] == b"999"


def test_write_and_reuse_without_with(db):
    b = db.batch()
    b[b"x"] = b"1"
    b.write()
    assert db[b"x"] == b"1"
    assert len(b) == 0  # written and emptied
    b[b"y"] = b"2"
    b.clear()
    b.write()  # an empty batch writes nothing
    assert b"y" not in db
    b[b"z"] = b"3"
    b.close()  # dropped without writing
    assert b"z" not in db
    for call in (lambda: b.set(b"k", b"v"), lambda: b.remove(b"k"), b.write, b.clear,
                 lambda: len(b)):
        with pytest.raises(kvs.ClosedError, match="batch is closed"):
            call()
    with pytest.raises(kvs.ClosedError):
        with b:
            pass
    b.close()  # idempotent


def test_too_big_entry(db):
    with pytest.raises(kvs.TooBigError):
        with db.batch() as b:
            b[b"ok"] = b"v"
            b[b"k" * (kvs.KEY_MAX + 1)] = b"v"
    assert b"ok" not in db
    # An error swallowed inside the block: the batch refuses to be written.
    with pytest.raises(kvs.TooBigError):
        with db.batch() as b:
            b[b"ok"] = b"v"
            with mmap.mmap(-1, kvs.VALUE_MAX + 1) as m:  # untouched pages: no memory
                try:
                    b.set(b"big", memoryview(m))
                except kvs.TooBigError:
                    pass
            b[b"after"] = b"v"
    assert b"ok" not in db and b"after" not in db
    b = db.batch()
    with pytest.raises(kvs.TooBigError):
        b.remove(b"k" * (kvs.KEY_MAX + 1))
    with pytest.raises(kvs.TooBigError):
        b.write()
    b.clear()  # forgets the error
    b[b"ok"] = b"v"
    b.write()
    assert db[b"ok"] == b"v"
    b.close()


def test_bad_arguments(db):
    with db.batch() as b:
        with pytest.raises(TypeError):
            b.set("k", b"v")
        with pytest.raises(TypeError):
            b.set(b"k", None)
        with pytest.raises(TypeError):
            b.remove(1)
        with pytest.raises(kvs.InvalidArgumentError):
            b.set(b"", b"v")
        b.clear()  # the empty key made libkvs's batch refuse to apply
        b[b"fine"] = b"v"
    assert db[b"fine"] == b"v"


def test_read_only_and_closed(path):
    with kvs.open(path) as db:
        db[b"k"] = b"v"
    with kvs.open(path, read_only=True) as db:
        with pytest.raises(kvs.ReadOnlyError):
            with db.batch() as b:
                b[b"k"] = b"other"
        assert db[b"k"] == b"v"
    db = kvs.open(path)
    b = db.batch()
    b[b"k"] = b"w"
    db.close()
    with pytest.raises(kvs.ClosedError):
        b.write()
    b.close()
    with pytest.raises(kvs.ClosedError):
        db.batch()
    with kvs.open(path) as db:
        assert db[b"k"] == b"v"


def test_readers_see_all_of_a_batch_or_none(db):
    # A writer sets 20 keys to the same round number in each batch; readers
    # take snapshots and iterators: every view must hold one round only.
    n = 20
    with db.batch() as b:
        for i in range(n):
            b[b"c%02d" % i] = b"0"
    rounds = 400
    done = threading.Event()
    errors = []
    views = [0]

    def writer():
        try:
            for r in range(1, rounds + 1):
                with db.batch() as b:
                    for i in range(n):
                        b[b"c%02d" % i] = b"%d" % r
        except Exception as e:  # pragma: no cover
            errors.append(e)
        finally:
            done.set()

    def reader():
        try:
            while not done.is_set() or views[0] < 50:
                with db.snapshot() as snap:
                    seen = {snap[b"c%02d" % i] for i in range(n)}
                assert len(seen) == 1, seen
                seen = set(db.values(prefix=b"c"))
                assert len(seen) == 1, seen
                views[0] += 1
                if views[0] > 100000:  # pragma: no cover - bound
                    break
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader)
                                                   for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
        assert not t.is_alive()
    assert errors == []
    assert db[b"c00"] == b"%d" % rounds


def test_batch_with_expiry(db):
    with db.batch() as b:
        b.set(b"past", b"v", expire_at_ms=1)  # already expired
        b.set(b"later", b"v", ttl=3600)
        b.set(b"at", b"v", expire_at_ms=kvs._now_ms() + 10**7)
        b.set(b"plain", b"v")
    assert b"past" not in db
    now = kvs._now_ms()
    assert now + 3500_000 < db.get_expire(b"later") <= now + 3600_000
    assert db.get_expire(b"at") > now
    assert db.get_expire(b"plain") is None
    with db.batch() as b:
        with pytest.raises(ValueError):
            b.set(b"k", b"v", ttl=0)
        with pytest.raises(TypeError):
            b.set(b"k", b"v", expire_at_ms=1.5)
