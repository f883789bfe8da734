"""db.backup(dest) and db.verify()."""

import errno
import os
import threading

import pytest

import kvs


def fill(db, n=500, tag=b"v"):
    for i in range(n):
        db[b"b%04d" % i] = tag * (i % 50)


def test_backup_and_reopen(path, tmp_path):
    dest = tmp_path / "copy"
    with kvs.open(path, segment_size=4096) as db:  # several segments
        fill(db)
        db.remove(b"b0007")
        db.set(b"ttl", b"x", expire_at_ms=kvs._now_ms() + 3600_000)
        expected = dict(db.items())
        db.backup(dest)  # a pathlib.Path
        db[b"after"] = b"not in the copy"
        db[b"b0001"] = b"changed after"
        assert db.stats()["segments"] > 1
    with kvs.open(dest) as copy:
        assert dict(copy.items()) == expected
        assert b"after" not in copy
        assert copy.get_expire(b"ttl") is not None
        copy.verify()
        copy[b"new"] = b"the copy is a store of its own"
    with kvs.open(path) as db:
        assert b"new" not in db and db[b"after"] == b"not in the copy"


def test_backup_destinations(db, tmp_path):
    db[b"k"] = b"v"
    empty = tmp_path / "empty"
    empty.mkdir()
    db.backup(str(empty))  # an empty directory will do
    db.backup(os.fsencode(str(tmp_path / "bytes-path")))
    with pytest.raises(kvs.ExistsError) as info:
        db.backup(empty)  # now it is a store
    assert isinstance(info.value, FileExistsError)
    assert info.value.name == "KVS_EEXIST"
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "file").write_bytes(b"x")
    with pytest.raises(FileExistsError):
        db.backup(occupied)
    assert sorted(os.listdir(occupied)) == ["file"]
    with pytest.raises(kvs.IOError) as info:
        db.backup(tmp_path / "no" / "parent")
    assert isinstance(info.value, OSError)
    assert info.value.errno == errno.ENOENT
    with pytest.raises(ValueError):
        db.backup("")
    with pytest.raises(TypeError):
        db.backup(5)
    for d in (empty, tmp_path / "bytes-path"):
        with kvs.open(d) as copy:
            assert copy[b"k"] == b"v"


def test_backup_while_writing(path, tmp_path):
    # Online: a copy taken while another thread writes opens as a store, and
    # holds each key the writer had finished before the backup started.
    with kvs.open(path, segment_size=64 * 1024) as db:
        fill(db, 200, b"a")
        started = threading.Event()
        done = threading.Event()
        errors = []

        def writer():
            try:
                i = 0
                while not done.is_set() and i < 200000:
                    db[b"w%06d" % i] = b"x" * 100
                    i += 1
                    if i == 500:
                        started.set()
            except Exception as e:  # pragma: no cover
                errors.append(e)

        t = threading.Thread(target=writer)
        t.start()
        try:
            assert started.wait(60)
            for n in range(3):
                db.backup(tmp_path / ("copy%d" % n))
        finally:
            done.set()
            t.join(60)
        assert not t.is_alive() and errors == []
    for n in range(3):
        with kvs.open(tmp_path / ("copy%d" % n)) as copy:
            assert b"w%06d" % 499 in copy
            copy.verify()
            assert copy[b"b0199"] == b"a" * 49
            written = [k for k in copy.keys(prefix=b"w")]
            # a prefix of the writer's sequence: nothing missing in between
            assert written == [b"w%06d" % i for i in range(len(written))]


def test_verify_a_sound_store(db):
    fill(db)
    db.compact()
    assert db.verify() is None


def test_verify_finds_damage(corrupt_store):
    with kvs.open(corrupt_store) as db:  # hints: open does not read the value
        with pytest.raises(kvs.CorruptError) as info:
            db.verify()
        problems = info.value.problems
        assert problems, "no problem listed"
        assert all(isinstance(p, kvs.VerifyProblem) for p in problems)
        files = {p.file for p in problems}
        assert any(f.endswith(".log") for f in files), problems
        for p in problems:
            assert type(p.offset) is int and p.offset >= 0
            assert p.problem
            if p.file.endswith(".log"):
                assert p.offset < os.path.getsize(os.path.join(corrupt_store, p.file))
        assert info.value.name == "KVS_ECORRUPT"
        assert "%d problem" % len(problems) in str(info.value)
        assert problems[0].file in str(info.value)
        assert db[b"other"] == b"O" * 50  # the store still works


def test_verify_and_backup_on_a_closed_db(path, tmp_path):
    db = kvs.open(path)
    db.close()
    with pytest.raises(kvs.ClosedError):
        db.verify()
    with pytest.raises(kvs.ClosedError):
        db.backup(tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_problems_default_to_empty():
    assert kvs.CorruptError(kvs.ECORRUPT).problems == ()
