"""Ordered iteration: order, bounds, prefixes, direction and moves against a
sorted model; point in time; closing (explicitly, by exhaustion, by the DB)."""

import bisect
import gc
import random
import threading

import pytest

import kvs

# Few distinct bytes and short lengths: many keys are prefixes of others,
# and 0x00 / 0xff exercise the edges of bytewise order and of prefix bounds.
ALPHABET = b"\x00\x01a\x7f\x80\xfe\xff"


def random_key(rng, max_len=5):
    return bytes(rng.choice(ALPHABET) for _ in range(rng.randint(1, max_len)))


def random_bound(rng):
    return None if rng.random() < 0.2 else bytes(rng.choice(ALPHABET)
                                                  for _ in range(rng.randint(0, 4)))


@pytest.fixture
def filled(db):
    """The db with ~600 random binary keys (overwritten and removed some), and its model."""
    rng = random.Random(1234)
    model = {}
    for i in range(900):
        k = random_key(rng)
        if model and rng.random() < 0.15:
            victim = rng.choice(sorted(model))
            assert db.remove(victim) is True
            del model[victim]
        v = rng.randbytes(rng.randint(0, 40))
        db[k] = v
        model[k] = v
    return db, model


def in_range(k, start, stop, include_start, include_stop):
    if start is not None and (k < start or (k == start and not include_start)):
        return False
    if stop is not None and (k > stop or (k == stop and not include_stop)):
        return False
    return True


def test_order_matches_a_sorted_model(filled):
    db, model = filled
    expected = sorted(model.items())
    assert list(db.iterator()) == expected
    assert list(db.items()) == expected
    assert list(db) == [k for k, _ in expected]
    assert list(db.keys()) == [k for k, _ in expected]
    assert list(db.values()) == [v for _, v in expected]
    assert list(db.iterator(reverse=True)) == expected[::-1]
    assert all(type(k) is bytes and type(v) is bytes for k, v in db.items())
    db.compact()  # the order is rebuilt over the compacted segments
    assert list(db.items()) == expected


def test_order_survives_reopen(path):
    rng = random.Random(7)
    model = {random_key(rng, 8): rng.randbytes(10) for _ in range(300)}
    with kvs.open(path) as db:
        for k, v in model.items():
            db[k] = v
    with kvs.open(path) as db:
        assert list(db.items()) == sorted(model.items())


def test_ranges_against_the_model(filled):
    db, model = filled
    keys = sorted(model)
    rng = random.Random(99)
    for _ in range(300):
        start, stop = random_bound(rng), random_bound(rng)
        inc_start, inc_stop = rng.random() < 0.7, rng.random() < 0.3
        reverse = rng.random() < 0.5
        want = [k for k in keys if in_range(k, start, stop, inc_start, inc_stop)]
        got = list(db.iterator(start=start, stop=stop, include_start=inc_start,
                               include_stop=inc_stop, reverse=reverse, include_value=False))
        assert got == (want[::-1] if reverse else want), (start, stop, inc_start, inc_stop)


def test_an_existing_key_as_bound(filled):
    db, model = filled
    keys = sorted(model)
    a, b = keys[10], keys[40]
    assert list(db.keys(start=a, stop=b)) == keys[10:40]
    assert list(db.keys(start=a, stop=b, include_stop=True)) == keys[10:41]
    assert list(db.keys(start=a, stop=b, include_start=False)) == keys[11:40]
    assert list(db.keys(start=a, stop=b, include_start=False, include_stop=True,
                        reverse=True)) == keys[11:41][::-1]
    assert list(db.keys(start=b, stop=a)) == []  # an empty range
    assert list(db.keys(start=a, stop=a)) == []
    assert list(db.keys(start=a, stop=a, include_stop=True)) == [a]


def test_prefixes_against_the_model(filled):
    db, model = filled
    keys = sorted(model)
    prefixes = [b"", b"a", b"\x00", b"\xff", b"\xff\xff", b"a\xff", b"\x7f\x80", b"zz"]
    rng = random.Random(5)
    prefixes += [random_key(rng, 3) for _ in range(40)]
    for p in prefixes:
        want = [k for k in keys if k.startswith(p)]
        assert list(db.keys(prefix=p)) == want, p
        assert list(db.keys(prefix=p, reverse=True)) == want[::-1], p
        assert list(db.items(prefix=bytearray(p))) == [(k, model[k]) for k in want]


def test_longest_keys_as_bounds(db):
    # Excluding a start (including a stop) of KEY_MAX bytes cannot append a
    # byte: the bound becomes the first key past every key with it as prefix.
    top = b"\xff" * kvs.KEY_MAX
    a = b"a" * kvs.KEY_MAX
    after_a = b"a" * (kvs.KEY_MAX - 1) + b"b"
    for k in (a, after_a, top, b"a", b"b"):
        db[k] = b"v"
    assert list(db.keys(start=a, include_start=False)) == [after_a, b"b", top]
    assert list(db.keys(stop=a, include_stop=True)) == [b"a", a]
    assert list(db.keys(start=top, include_start=False)) == []
    assert list(db.keys(start=top)) == [top]
    assert list(db.keys(stop=top, include_stop=True))[-1] == top
    assert list(db.keys(prefix=b"\xff")) == [top]


def test_shapes(filled):
    db, model = filled
    first_key = min(model)
    assert next(db.iterator()) == (first_key, model[first_key])
    assert next(db.iterator(include_value=False)) == first_key
    assert next(db.iterator(include_key=False)) == model[first_key]
    assert list(db.iterator(include_key=False, include_value=False)) == [None] * len(model)


def test_empty_db_and_empty_values(db):
    assert list(db) == []
    assert list(db.iterator(reverse=True)) == []
    it = db.iterator()
    it.seek_to_stop()
    with pytest.raises(StopIteration):
        it.prev()
    db[b"e"] = b""
    assert list(db.items()) == [(b"e", b"")]


class GapModel:
    """plyvel's iterator semantics over a sorted list: a position between keys."""

    def __init__(self, keys, reverse):
        self.keys = keys
        self.reverse = reverse
        self.pos = len(keys) if reverse else 0

    def _forward(self):
        if self.pos >= len(self.keys):
            raise StopIteration
        self.pos += 1
        return self.keys[self.pos - 1]

    def _backward(self):
        if self.pos == 0:
            raise StopIteration
        self.pos -= 1
        return self.keys[self.pos]

    def next(self):
        return self._backward() if self.reverse else self._forward()

    def prev(self):
        return self._forward() if self.reverse else self._backward()

    def seek(self, target):
        self.pos = bisect.bisect_left(self.keys, target)

    def seek_to_start(self):
        self.pos = 0

    def seek_to_stop(self):
        self.pos = len(self.keys)


def outcome(fn, *args):
    try:
        return fn(*args)
    except StopIteration:
        return StopIteration


def test_moves_against_a_model(filled):
    db, model = filled
    keys = sorted(model)
    rng = random.Random(2024)
    for trial in range(60):
        start, stop = random_bound(rng), random_bound(rng)
        options = {}
        if trial % 3 == 1:
            options = {"prefix": random_key(rng, 2)}
            want = [k for k in keys if k.startswith(options["prefix"])]
        else:
            options = {"start": start, "stop": stop}
            want = [k for k in keys if in_range(k, start, stop, True, False)]
        reverse = trial % 2 == 1
        ref = GapModel(want, reverse)
        with db.iterator(reverse=reverse, include_value=False, **options) as it:
            it.seek_to_start() if not reverse else it.seek_to_stop()  # moved: stays open
            for step in range(150):
                op = rng.random()
                if op < 0.4:
                    assert outcome(next, it) == outcome(ref.next), (trial, step)
                elif op < 0.75:
                    assert outcome(it.prev) == outcome(ref.prev), (trial, step)
                elif op < 0.9:
                    target = random_key(rng, 3) if rng.random() < 0.9 else b""
                    it.seek(target)
                    ref.seek(target)
                elif op < 0.95:
                    it.seek_to_start()
                    ref.seek_to_start()
                else:
                    it.seek_to_stop()
                    ref.seek_to_stop()
            assert not it.closed


def test_prev_returns_what_next_returned(db):
    for k in (b"a", b"b", b"c"):
        db[k] = k.upper()
    it = db.iterator()
    assert next(it) == (b"a", b"A")
    assert next(it) == (b"b", b"B")
    assert it.prev() == (b"b", b"B")
    assert it.prev() == (b"a", b"A")
    with pytest.raises(StopIteration):
        it.prev()
    assert next(it) == (b"a", b"A")
    it.seek(b"bb")
    assert next(it) == (b"c", b"C")
    it.seek(b"b")
    assert it.prev() == (b"a", b"A")
    it.close()

    rev = db.iterator(reverse=True, include_value=False)
    assert [next(rev), next(rev)] == [b"c", b"b"]
    assert rev.prev() == b"b"
    rev.seek(b"b")  # just before b, in key order: a reverse next() gives a
    assert next(rev) == b"a"
    rev.seek_to_start()  # before the first key: nothing left going down
    with pytest.raises(StopIteration):
        next(rev)
    assert rev.prev() == b"a"
    rev.close()


def test_iterator_sees_its_moment(db):
    for i in range(100):
        db[b"k%03d" % i] = b"old"
    it = db.iterator()
    rev = db.iterator(reverse=True, include_value=False)
    assert next(it) == (b"k000", b"old")
    db[b"k050"] = b"new"  # overwritten,
    db.remove(b"k051")  # removed,
    db[b"k050a"] = b"added"  # added,
    db[b"k000"] = b"new"  # and a key already returned: none of it is seen
    with db.batch() as b:
        b[b"k099"] = b"batched"
    db.compact()
    rest = list(it)
    assert len(rest) == 99
    assert all(v == b"old" for _, v in rest)
    assert b"k051" in [k for k, _ in rest] and b"k050a" not in [k for k, _ in rest]
    assert len(list(rev)) == 100
    # a new iterator sees the writes
    now = dict(db.items())
    assert now[b"k050"] == b"new" and b"k051" not in now and now[b"k050a"] == b"added"
    assert now[b"k099"] == b"batched"


def test_iterating_while_another_thread_writes(db):
    # The walk is of the store as it was at creation, whatever happens during it.
    for i in range(2000):
        db[b"w%05d" % i] = b"0"
    it = db.iterator()
    stop = threading.Event()
    errors = []

    def writer():
        i = 0
        try:
            while not stop.is_set() and i < 200000:
                db[b"w%05d" % (i % 3000)] = b"1"
                if i % 7 == 0:
                    db.remove(b"w%05d" % (i % 2000))
                i += 1
        except Exception as e:  # pragma: no cover
            errors.append(e)

    t = threading.Thread(target=writer)
    t.start()
    try:
        got = list(it)
    finally:
        stop.set()
        t.join(60)
    assert not t.is_alive() and errors == []
    assert got == [(b"w%05d" % i, b"0") for i in range(2000)]


# -- closing


def test_with_closes(db):
    db[b"k"] = b"v"
    with db.iterator() as it:
        assert next(it) == (b"k", b"v")
    assert it.closed
    assert not db._children
    with pytest.raises(kvs.ClosedError, match="iterator is closed"):
        it.prev()
    for call in (it.seek_to_start, it.seek_to_stop, lambda: it.seek(b"k"), lambda: next(it)):
        with pytest.raises(kvs.ClosedError):
            call()
    it.close()  # idempotent


def test_exhaustion_closes_a_plain_walk(db):
    for k in (b"a", b"b"):
        db[k] = b"v"
    it = db.iterator()
    assert list(it) == [(b"a", b"v"), (b"b", b"v")]
    assert it.closed and not db._children
    for _ in range(3):  # an exhausted iterator stays exhausted
        with pytest.raises(StopIteration):
            next(it)
    with pytest.raises(kvs.ClosedError):
        it.prev()
    # one moved with prev() or seek*() stays open at the end, so it can go back
    it = db.iterator(include_value=False)
    it.seek_to_start()
    assert list(it) == [b"a", b"b"]
    assert not it.closed
    assert it.prev() == b"b"
    it.close()
    assert not db._children


def test_garbage_collection_closes(db):
    db[b"k"] = b"v"
    it = db.iterator()
    next(it)
    assert len(db._children) == 1
    del it
    gc.collect()
    assert not db._children
    # in a reference cycle too
    it = db.iterator()
    it.cycle = it
    del it
    gc.collect()
    assert not db._children


def test_collecting_a_cycle_with_the_db_closes_everything(path):
    # The collector finalizes a cycle's objects in any order, and clears weak
    # references first: the DB must still find its iterators and snapshots
    # (it holds their C handles), or kvs_close would refuse and the store
    # would stay locked.
    for db_first in (True, False):
        db = kvs.open(path)
        db[b"k"] = b"v"
        it, snap = db.iterator(), db.snapshot()
        snap_it = snap.iterator()
        next(it)
        db.cycle = [it, snap, snap_it] if db_first else None
        it.cycle = snap.cycle = snap_it.cycle = db
        del db, it, snap, snap_it
        gc.collect()
        with kvs.open(path) as again:  # BusyError if the first were still open
            assert again[b"k"] == b"v"


def test_finalizer_never_waits_for_the_handle_lock(db):
    # __del__ may run, through the collector, in a thread that holds the
    # handle's lock (inside DB.close); it must not wait for it then.
    it = db.iterator()
    h = it._h
    h._lock.acquire()
    try:
        t = threading.Thread(target=it.__del__)
        t.start()
        t.join(30)
        finished = not t.is_alive()
    finally:
        h._lock.release()
    assert finished
    assert not it.closed and h in db._children  # left for close() or DB.close()
    it.close()
    assert it.closed and not db._children


def test_db_close_closes_open_iterators_and_snapshots(path):
    db = kvs.open(path)
    for i in range(10):
        db[b"k%d" % i] = b"v"
    its = [db.iterator() for _ in range(3)]
    next(its[0])
    snap = db.snapshot()
    snap_it = snap.iterator()
    db.close()  # kvs_close would be KVS_EBUSY with any of them open
    for it in its + [snap_it]:
        assert it.closed
        with pytest.raises(kvs.ClosedError):
            next(it)
    assert snap.closed
    with pytest.raises(kvs.ClosedError):
        snap.get(b"k1")
    with pytest.raises(kvs.ClosedError):
        db.iterator()
    with pytest.raises(kvs.ClosedError):
        db.snapshot()
    for it in its:
        it.close()  # still idempotent
    snap.release()
    with kvs.open(path) as db2:  # really closed: the lock is free
        assert len(list(db2)) == 10


def test_db_closed_while_a_thread_iterates(path):
    db = kvs.open(path)
    for i in range(3000):
        db[b"k%05d" % i] = b"x" * 50
    started = threading.Event()
    outcomes = []

    def walker():
        walks = 0
        try:
            while walks < 2000:  # ends at close(); bounded all the same
                for n, _ in enumerate(db.iterator()):
                    if n == 100:
                        started.set()
                walks += 1
            outcomes.append("never closed")
        except kvs.ClosedError:
            outcomes.append("closed")
        except Exception as e:  # pragma: no cover
            outcomes.append(e)

    threads = [threading.Thread(target=walker) for _ in range(3)]
    for t in threads:
        t.start()
    assert started.wait(60)
    db.close()
    for t in threads:
        t.join(60)
        assert not t.is_alive()
    assert outcomes == ["closed"] * 3


def test_one_iterator_shared_by_threads(db):
    # libkvs's iterators are for one thread at a time: the binding serializes
    # the calls, so threads sharing one get every key exactly once.
    n = 5000
    for i in range(n):
        db[b"s%05d" % i] = b"v"
    it = db.iterator(include_value=False)
    seen = [[] for _ in range(4)]
    errors = []

    def take(mine):
        try:
            for k in it:
                mine.append(k)
            next(it)  # exhausted by whichever thread: StopIteration for all
        except StopIteration:
            pass
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=take, args=(seen[i],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        assert not t.is_alive()
    assert errors == []
    got = sorted(k for mine in seen for k in mine)
    assert got == [b"s%05d" % i for i in range(n)]
    assert it.closed


# -- errors


def test_damaged_record_raises_and_the_walk_goes_on(corrupt_store):
    with kvs.open(corrupt_store) as db:
        it = db.iterator()
        assert next(it) == (b"other", b"O" * 50)
        with pytest.raises(kvs.CorruptError):
            next(it)  # b"victim"
        with pytest.raises(StopIteration):
            next(it)
        with pytest.raises(kvs.CorruptError):
            list(db.keys())  # a small record is checked with its key
        with pytest.raises(kvs.CorruptError):
            db.iterator(reverse=True).__next__()


def test_bad_arguments(db, tmp_path):
    with pytest.raises(TypeError):
        db.iterator(start="a")
    with pytest.raises(TypeError):
        db.iterator(prefix=1)
    with pytest.raises(TypeError, match="prefix"):
        db.iterator(prefix=b"a", start=b"a")
    with pytest.raises(TypeError):
        db.iterator(reverse=1)
    with pytest.raises(TypeError):
        db.iterator(include_key=None)
    with pytest.raises(TypeError):
        db.iterator(snapshot=object())
    with pytest.raises(TypeError):
        db.iterator(bogus=True)
    with pytest.raises(kvs.InvalidArgumentError):
        db.iterator(start=b"k" * (kvs.KEY_MAX + 1))
    with kvs.open(str(tmp_path / "other")) as other:
        with other.snapshot() as snap:
            with pytest.raises(ValueError, match="another DB"):
                db.iterator(snapshot=snap)
    it = db.iterator()
    with pytest.raises(TypeError):
        it.seek("a")
    it.close()
    assert not db._children  # nothing leaked by the failed calls
