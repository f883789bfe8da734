"""Snapshots: reads of one moment, isolated from later writes; release."""

import threading

import pytest

import kvs


def test_isolated_from_later_writes(db):
    for i in range(50):
        db[b"k%02d" % i] = b"old%d" % i
    before = dict(db.items())
    snap = db.snapshot()
    db[b"k00"] = b"new"  # overwritten
    db.remove(b"k01")  # removed
    db[b"added"] = b"x"  # added
    with db.batch() as b:  # a batch
        b[b"k02"] = b"batched"
        del b[b"k03"]
    db.set(b"k04", b"ttl", ttl=3600)
    for i in range(10, 50):  # garbage for compaction to reclaim
        db[b"k%02d" % i] = b"again"
    db.compact()
    assert snap[b"k00"] == b"old0" and db[b"k00"] == b"new"
    assert snap.get(b"k01") == b"old1" and b"k01" in snap and b"k01" not in db
    assert b"added" not in snap and snap.get(b"added", b"dflt") == b"dflt"
    with pytest.raises(KeyError):
        snap[b"added"]
    assert snap[b"k02"] == b"old2" and b"k03" in snap
    assert snap[b"k45"] == b"old45"
    assert dict(snap.items()) == before
    assert list(snap) == sorted(before)
    assert list(snap.keys(prefix=b"k0")) == [b"k%02d" % i for i in range(10)]
    assert list(snap.values(start=b"k48")) == [b"old48", b"old49"]
    assert list(snap.iterator(reverse=True, include_value=False))[0] == b"k49"
    # the DB itself has moved on
    assert db[b"k02"] == b"batched" and b"k03" not in db and db[b"k45"] == b"again"
    snap.release()


def test_iterator_over_a_snapshot_outlives_it(db):
    db[b"a"] = b"1"
    db[b"b"] = b"2"
    snap = db.snapshot()
    db[b"a"] = b"changed"
    it = snap.iterator()
    assert next(it) == (b"a", b"1")
    snap.release()  # libkvs: iterators made over it stay usable
    assert next(it) == (b"b", b"2")
    assert it.prev() == (b"b", b"2")
    it.close()
    assert not db._children
    with pytest.raises(kvs.ClosedError, match="snapshot is closed"):
        snap.iterator()
    with pytest.raises(kvs.ClosedError):
        db.iterator(snapshot=snap)


def test_release_with_and_gc(db):
    db[b"k"] = b"v"
    with db.snapshot() as snap:
        assert snap[b"k"] == b"v"
        assert not snap.closed
    assert snap.closed and not db._children
    assert "released" in repr(snap)
    for call in (lambda: snap.get(b"k"), lambda: snap[b"k"], lambda: b"k" in snap,
                 lambda: list(snap)):
        with pytest.raises(kvs.ClosedError):
            call()
    snap.release()  # idempotent
    snap.close()
    s2 = db.snapshot()
    assert len(db._children) == 1
    del s2
    assert not db._children


def test_snapshot_arguments(db):
    with db.snapshot() as snap:
        with pytest.raises(TypeError):
            snap.get("k")
        with pytest.raises(kvs.InvalidArgumentError):
            snap.get(b"")
        with pytest.raises(kvs.TooBigError):
            snap.get(b"k" * (kvs.KEY_MAX + 1))
        with pytest.raises(kvs.TooBigError):
            b"k" * (kvs.KEY_MAX + 1) in snap


def test_threads_share_a_snapshot(db):
    for i in range(200):
        db[b"t%03d" % i] = b"%d" % i
    snap = db.snapshot()
    for i in range(200):
        db[b"t%03d" % i] = b"changed"
    errors = []

    def reader():
        try:
            for _ in range(5):
                for i in range(200):
                    assert snap[b"t%03d" % i] == b"%d" % i
                assert len(list(snap.keys())) == 200
        except Exception as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        assert not t.is_alive()
    assert errors == []
    snap.release()


def test_damaged_record_in_a_snapshot(corrupt_store):
    with kvs.open(corrupt_store) as db:
        with db.snapshot() as snap:
            assert snap[b"other"] == b"O" * 50
            assert b"victim" in snap  # exists does not read the record
            with pytest.raises(kvs.CorruptError):
                snap[b"victim"]
