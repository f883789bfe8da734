"""The exception classes, and damage on disk surfacing as CorruptError."""

import os
import pickle

import pytest

import kvs


@pytest.mark.parametrize("status, cls, name, builtin", [
    (kvs.EINVAL, kvs.InvalidArgumentError, "KVS_EINVAL", ValueError),
    (kvs.EIO, kvs.IOError, "KVS_EIO", OSError),
    (kvs.ECORRUPT, kvs.CorruptError, "KVS_ECORRUPT", None),
    (kvs.ENOMEM, kvs.NoMemoryError, "KVS_ENOMEM", MemoryError),
    (kvs.EBUSY, kvs.BusyError, "KVS_EBUSY", None),
    (kvs.ETOOBIG, kvs.TooBigError, "KVS_ETOOBIG", ValueError),
    (kvs.EREADONLY, kvs.ReadOnlyError, "KVS_EREADONLY", None),
    (kvs.EVERSION, kvs.VersionError, "KVS_EVERSION", None),
    (kvs.ENOENT, kvs.StoreNotFoundError, "KVS_ENOENT", FileNotFoundError),
    (kvs.EEXIST, kvs.ExistsError, "KVS_EEXIST", FileExistsError),
])
def test_error_classes(status, cls, name, builtin):
    assert kvs.status_name(status) == name
    err = kvs._error(status, "ctx")
    assert type(err) is cls
    assert isinstance(err, kvs.Error)
    if builtin:
        assert isinstance(err, builtin)
    assert err.status == status and err.name == name
    assert err.message == kvs.strerror(status) and err.message
    assert str(err).startswith("ctx: " + name + ": ")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cls and back.name == name and str(back) == str(err)


def test_unknown_status_is_base_error():
    err = kvs._error(-999)
    assert type(err) is kvs.Error
    assert err.name == "KVS_UNKNOWN"


def test_io_error_carries_errno():
    err = kvs.IOError(kvs.EIO, "set", 28)
    assert err.errno == 28
    assert err.strerror == os.strerror(28)
    assert "KVS_EIO" in str(err)


def test_corrupt_value(corrupt_store):
    path = corrupt_store
    # Hints let open skip reading values: the damage shows on the read.
    msgs = []
    with kvs.open(path, logger=lambda level, msg: msgs.append((level, msg))) as db:
        assert db[b"other"] == b"O" * 50
        with pytest.raises(kvs.CorruptError) as info:
            db[b"victim"]
        assert info.value.name == "KVS_ECORRUPT"
    assert any(level == kvs.LOG_ERROR for level, _ in msgs)

    # A full scan at open finds it and refuses the store...
    with pytest.raises(kvs.CorruptError):
        kvs.open(path, use_hints=False)
    # ...unless repairing: the damaged record is skipped and counted.
    msgs = []
    with kvs.open(path, use_hints=False, repair=True,
                  logger=lambda level, msg: msgs.append((level, msg))) as db:
        assert db.get(b"victim") is None
        assert db[b"other"] == b"O" * 50
        assert db.stats()["recovery_skipped_bytes"] > 0
    assert any(level == kvs.LOG_WARN and "damaged" in msg for level, msg in msgs), msgs
