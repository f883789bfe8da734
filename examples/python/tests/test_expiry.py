"""Expiry: set with expire_at_ms / ttl / keep_expiry, expire, persist, get_expire.

Short expiries are awaited by polling with a bound (conftest.wait_until),
and a value is only required to be there when a read finished before its
expiry time: nothing depends on how fast the machine is.
"""

import pytest

import kvs
from conftest import wait_until

HOUR_MS = 3600 * 1000


def now():
    return kvs._now_ms()


def seen_while_alive(read, expected, gone, expire_at):
    """read() gives `expected` if it finished before expire_at, else that or `gone`."""
    value = read()
    if now() < expire_at:
        assert value == expected
    else:
        assert value in (expected, gone)


def test_ttl_expires(db):
    before = now()
    db.set(b"short", b"v", ttl=0.3)
    after = now()
    at = db.get_expire(b"short")
    assert before + 300 <= at <= after + 300
    seen_while_alive(lambda: db.get(b"short"), b"v", None, at)
    seen_while_alive(lambda: b"short" in db, True, False, at)
    assert wait_until(lambda: db.get(b"short") is None)
    assert now() >= at  # not before its time
    assert b"short" not in db
    assert list(db) == []
    with pytest.raises(KeyError):
        db.get_expire(b"short")
    assert db.remove(b"short") is False


def test_expire_at_ms(db):
    t = now()
    db.set(b"later", b"v", expire_at_ms=t + HOUR_MS)
    assert db.get_expire(b"later") == t + HOUR_MS
    assert db[b"later"] == b"v"
    db.set(b"past", b"v", expire_at_ms=t - 1000)  # written already gone (Redis PXAT)
    assert b"past" not in db
    db.set(b"epoch", b"v", expire_at_ms=1)
    assert db.get(b"epoch") is None
    db.set(b"plain", b"v")
    assert db.get_expire(b"plain") is None
    with pytest.raises(KeyError):
        db.get_expire(b"absent")


def test_set_clears_expiry_unless_kept(db):
    t = now()
    db.set(b"k", b"1", expire_at_ms=t + HOUR_MS)
    db.set(b"k", b"2", keep_expiry=True)
    assert db[b"k"] == b"2" and db.get_expire(b"k") == t + HOUR_MS
    db[b"k"] = b"3"  # a plain set makes it permanent, as Redis's SET
    assert db.get_expire(b"k") is None
    db.set(b"k", b"4", keep_expiry=True)  # keeping "no expiry"
    assert db.get_expire(b"k") is None
    assert db.set(b"k", b"5", if_present=True, ttl=100, keep_expiry=False) is True
    assert db.get_expire(b"k") > t
    assert db.set(b"k", b"6", if_absent=True, ttl=100) is False
    assert db.set(b"absent", b"x", if_present=True, keep_expiry=True) is False
    assert b"absent" not in db


def test_an_expired_key_does_not_exist_for_conditions(db):
    db.set(b"k", b"old", expire_at_ms=1)
    assert db.set(b"k", b"new", if_present=True) is False
    assert db.set(b"k", b"new", if_absent=True) is True
    assert db[b"k"] == b"new"


def test_expire_and_persist(db):
    t = now()
    assert db.expire(b"absent", t + HOUR_MS) is False
    assert db.persist(b"absent") is False
    assert b"absent" not in db
    db[b"k"] = b"v"
    assert db.expire(b"k", t + HOUR_MS) is True
    assert db.get_expire(b"k") == t + HOUR_MS
    assert db.expire(b"k", ttl=60) is True
    assert t < db.get_expire(b"k") <= now() + 60_000
    assert db.persist(b"k") is True
    assert db.get_expire(b"k") is None
    assert db[b"k"] == b"v"
    db.expire(b"k", ttl=0.2)
    at = db.get_expire(b"k")
    assert wait_until(lambda: b"k" not in db)
    assert now() >= at
    assert db.persist(b"k") is False  # expired: gone


def test_expiry_survives_reopen_and_compaction(path):
    t = now()
    with kvs.open(path) as db:
        db.set(b"later", b"v", expire_at_ms=t + HOUR_MS)
        db.set(b"soon", b"v", ttl=0.2)
    with kvs.open(path) as db:
        assert db.get_expire(b"later") == t + HOUR_MS
        assert wait_until(lambda: b"soon" not in db)
        db.compact()
        assert db.get(b"soon") is None
        assert list(db) == [b"later"]


def test_iterators_skip_expired_and_snapshots_judge_by_their_time(db):
    db[b"a"] = b"1"
    db.set(b"b", b"2", expire_at_ms=1)
    db.set(b"c", b"3", ttl=0.3)
    at = db.get_expire(b"c")
    snap = db.snapshot()
    made_before_expiry = now() < at
    seen_while_alive(lambda: list(db), [b"a", b"c"], [b"a"], at)
    assert wait_until(lambda: list(db) == [b"a"])
    if made_before_expiry:  # a snapshot sees what was there when it was taken
        assert snap[b"c"] == b"3" and b"c" in snap
        assert list(snap) == [b"a", b"c"]
    assert b"b" not in snap
    snap.release()
    with db.snapshot() as later:
        assert list(later) == [b"a"] and b"c" not in later


@pytest.mark.parametrize("kwargs, error", [
    ({"ttl": 0}, ValueError),
    ({"ttl": -1}, ValueError),
    ({"ttl": float("nan")}, ValueError),
    ({"ttl": float("inf")}, ValueError),
    ({"ttl": 1e300}, ValueError),
    ({"ttl": "10"}, TypeError),
    ({"ttl": True}, TypeError),
    ({"expire_at_ms": 0}, ValueError),  # 0 is libkvs's "never": None says that
    ({"expire_at_ms": -5}, ValueError),
    ({"expire_at_ms": 1 << 64}, ValueError),
    ({"expire_at_ms": 1.5e12}, TypeError),
    ({"expire_at_ms": True}, TypeError),
    ({"expire_at_ms": 10**13, "ttl": 5}, ValueError),
    ({"ttl": 5, "keep_expiry": True}, ValueError),
    ({"keep_expiry": 1}, TypeError),
])
def test_bad_expiry_arguments(db, kwargs, error):
    with pytest.raises(error):
        db.set(b"k", b"v", **kwargs)
    assert b"k" not in db


def test_bad_expire_arguments(db):
    db[b"k"] = b"v"
    with pytest.raises(TypeError):
        db.expire(b"k")  # persist() is the way to remove an expiry
    with pytest.raises(ValueError):
        db.expire(b"k", 0)
    with pytest.raises(ValueError):
        db.expire(b"k", 10**13, ttl=1)
    assert db.get_expire(b"k") is None
    with pytest.raises(TypeError):
        db.get_expire("k")
    with pytest.raises(kvs.InvalidArgumentError):
        db.get_expire(b"")


def test_read_only(path):
    with kvs.open(path) as db:
        db[b"k"] = b"v"
    with kvs.open(path, read_only=True) as db:
        with pytest.raises(kvs.ReadOnlyError):
            db.expire(b"k", ttl=10)
        with pytest.raises(kvs.ReadOnlyError):
            db.persist(b"k")
        with pytest.raises(kvs.ReadOnlyError):
            db.set(b"k", b"v", ttl=10)
        assert db.get_expire(b"k") is None
