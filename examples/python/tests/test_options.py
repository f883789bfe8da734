"""kvs.open options: every one accepted, bad values rejected, and effects."""

import logging
import sys

import pytest

import kvs


@pytest.mark.parametrize("mode", ["none", "interval", "always"])
def test_sync_modes(path, mode):
    with kvs.open(path, sync=mode) as db:
        for i in range(10):
            db[b"k%d" % i] = mode.encode()
        synced = db.stats()["synced_writes"]
        if mode == "always":
            assert synced == 10  # every write waited for fdatasync
        elif mode == "none":
            assert synced == 0  # no write did
    with kvs.open(path) as db:
        assert db[b"k9"] == mode.encode()


def test_all_options_at_once(path):
    msgs = []
    with kvs.open(path, sync="always", sync_interval_ms=50, segment_size=1 << 20,
                  compaction_trigger=50, create_if_missing=True, read_only=False, repair=True,
                  use_hints=False, write_through=True, logger=lambda lvl, m: msgs.append(m)) as db:
        db[b"k"] = b"v"
        assert db.stats()["synced_writes"] == 1  # sync="always" synced the write
    with kvs.open(path, write_through=False) as db:
        assert db[b"k"] == b"v"


@pytest.mark.parametrize("name, good, bad_range, bad_type", [
    ("sync_interval_ms", [1, 60000], [0, 60001, -1, 1 << 32], ["1000", 1.0, True]),
    ("segment_size", [4096, 1 << 30], [4095, (1 << 30) + 1, -1, 1 << 64], ["4096", 4096.0, False]),
    ("compaction_trigger", [1, 100], [0, 101, -5], ["20", 20.5, True]),
])
def test_numeric_options(tmp_path, name, good, bad_range, bad_type):
    for i, value in enumerate(good):
        with kvs.open(str(tmp_path / ("ok%d" % i)), **{name: value}) as db:
            db[b"k"] = b"v"
    for value in bad_range:
        with pytest.raises(ValueError) as info:
            kvs.open(str(tmp_path / "bad"), **{name: value})
        assert name in str(info.value)
    for value in bad_type:
        with pytest.raises(TypeError):
            kvs.open(str(tmp_path / "bad"), **{name: value})
    # a value libkvs refuses is its KVS_EINVAL, raised as InvalidArgumentError
    with pytest.raises(kvs.InvalidArgumentError) as info:
        kvs.open(str(tmp_path / "bad"), **{name: bad_range[0]})
    assert info.value.name == "KVS_EINVAL"


@pytest.mark.parametrize("name", ["create_if_missing", "read_only", "repair", "use_hints"])
def test_bool_options_want_bools(path, name):
    with pytest.raises(TypeError):
        kvs.open(path, **{name: 1})
    with pytest.raises(TypeError):
        kvs.open(path, **{name: "yes"})


def test_bad_sync_and_unknown_options(path):
    with pytest.raises(ValueError):
        kvs.open(path, sync="ALWAYS")
    with pytest.raises(ValueError):
        kvs.open(path, sync="fsync")
    with pytest.raises(TypeError):
        kvs.open(path, sync=2)
    with pytest.raises(TypeError):
        kvs.open(path, write_through=1)
    with pytest.raises(TypeError):
        kvs.open(path, no_such_option=True)
    with pytest.raises(TypeError):
        kvs.open(path, logger="stderr")
    with pytest.raises(ValueError):
        kvs.open("")
    with pytest.raises(ValueError):
        kvs.open(path + "\0x")


def test_segment_size_takes_effect(path):
    with kvs.open(path, segment_size=4096) as db:
        for i in range(100):
            db[b"k%03d" % i] = b"v" * 200  # 20 KB of records: several 4 KiB segments
        assert db.stats()["segments"] >= 5
    with kvs.open(path) as db:
        assert db[b"k099"] == b"v" * 200


def test_create_if_missing_false(path):
    with pytest.raises(kvs.StoreNotFoundError) as info:
        kvs.open(path, create_if_missing=False)
    assert info.value.name == "KVS_ENOENT"
    assert isinstance(info.value, FileNotFoundError)
    with kvs.open(path) as db:
        db[b"k"] = b"v"
    with kvs.open(path, create_if_missing=False) as db:
        assert db[b"k"] == b"v"


def test_read_only_refuses_writes(path):
    with kvs.open(path) as db:
        db[b"k"] = b"v"
    with kvs.open(path, read_only=True) as db:
        assert db.read_only
        assert db[b"k"] == b"v"
        for call in (lambda: db.set(b"k", b"w"), lambda: db.__setitem__(b"n", b"w"),
                     lambda: db.remove(b"k"), lambda: db.set(b"k", b"w", if_present=True),
                     db.compact):
            with pytest.raises(kvs.ReadOnlyError) as info:
                call()
            assert info.value.name == "KVS_EREADONLY"
            assert info.value.status == kvs.EREADONLY
        assert db[b"k"] == b"v"


def test_second_open_is_busy(path):
    with kvs.open(path) as db:
        for kwargs in ({}, {"read_only": True}):
            with pytest.raises(kvs.BusyError) as info:
                kvs.open(path, **kwargs)
            err = info.value
            assert err.name == "KVS_EBUSY"
            assert err.status == kvs.EBUSY == -5
            assert "KVS_EBUSY" in str(err) and path in str(err)
        db[b"still"] = b"usable"
    with kvs.open(path) as db:
        assert db[b"still"] == b"usable"


def test_use_hints_false_scans(path):
    with kvs.open(path, segment_size=4096) as db:
        for i in range(50):
            db[b"k%d" % i] = b"v" * 200
    with kvs.open(path) as db:
        assert db.stats()["hint_segments"] > 0
    with kvs.open(path, use_hints=False) as db:
        assert db.stats()["hint_segments"] == 0
        assert db[b"k49"] == b"v" * 200


def _make_garbage(db):
    for i in range(200):
        db[b"k%d" % i] = b"a" * 100
    for i in range(200):
        db[b"k%d" % i] = b"b" * 100


def test_logger_callable_gets_messages(path):
    msgs = []
    with kvs.open(path, compaction_trigger=100,
                  logger=lambda level, msg: msgs.append((level, msg))) as db:
        _make_garbage(db)
        db.compact()
    assert any(level == kvs.LOG_INFO and "compaction" in msg for level, msg in msgs), msgs
    assert all(type(msg) is str for _, msg in msgs)


def test_logger_accepts_logging_logger(path, caplog):
    log = logging.getLogger("kvs-test")
    with caplog.at_level(logging.INFO, logger="kvs-test"):
        with kvs.open(path, logger=log) as db:
            _make_garbage(db)
            db.compact()
    assert any("compaction" in r.getMessage() and r.levelno == logging.INFO
               for r in caplog.records)


def test_logger_exception_does_not_break_the_store(path, monkeypatch):
    reported = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: reported.append(u.exc_type))

    def bad(level, msg):
        raise RuntimeError("logger failed")

    with kvs.open(path, logger=bad) as db:
        _make_garbage(db)
        db.compact()  # the callback raises; libkvs carries on
        assert db[b"k1"] == b"b" * 100
    assert RuntimeError in reported
