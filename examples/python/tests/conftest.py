"""Fixtures for the kvs binding tests. The package is imported from
PYTHONPATH and libkvs from KVS_LIBRARY, both set by `meson test`."""

import glob
import os
import time

import pytest

import kvs


@pytest.fixture
def path(tmp_path):
    """A directory for a store (not created yet: kvs.open creates it)."""
    return str(tmp_path / "db")


@pytest.fixture
def db(path):
    """An open store with the default options, closed after the test."""
    handle = kvs.open(path)
    yield handle
    handle.close()


VICTIM = b"V" * 100
OTHER = b"O" * 50


@pytest.fixture
def corrupt_store(path):
    """A closed store whose record of b"victim" has one byte flipped in its value.

    doc/FORMAT.md: a record is an 11-byte header, the key, the value, and a
    CRC32C over all but its first 4 bytes, checked on every read. b"other"
    is intact. Returns the path.
    """
    with kvs.open(path) as db:
        db[b"victim"] = VICTIM
        db[b"other"] = OTHER
    for name in glob.glob(os.path.join(path, "*.log")):
        with open(name, "r+b") as f:
            data = f.read()
            at = data.find(VICTIM)
            if at >= 0:
                f.seek(at + 50)
                f.write(bytes([data[at + 50] ^ 0xFF]))
                return path
    raise AssertionError("the value was not found in any segment")


def wait_until(predicate, timeout=20.0, interval=0.005):
    """Poll `predicate` until it is true; False if `timeout` seconds pass first.

    For what must happen within a bound (an expiry): the caller asserts the
    result, so a wait that never ends fails instead of hanging.
    """
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
