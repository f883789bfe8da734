"""One DB shared by threads; close() racing with other threads' calls."""

import threading
import time

import pytest

import kvs

THREADS = 4
PER_THREAD = 500


def _run(threads):
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive()


def test_threads_write_disjoint_keys(db):
    errors = []

    def writer(n):
        try:
            for i in range(PER_THREAD):
                db[b"t%d-%d" % (n, i)] = b"%d" % (n * PER_THREAD + i)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    _run([threading.Thread(target=writer, args=(n,)) for n in range(THREADS)])
    assert errors == []
    for n in range(THREADS):
        for i in range(PER_THREAD):
            assert db[b"t%d-%d" % (n, i)] == b"%d" % (n * PER_THREAD + i)
    assert db.stats()["keys"] == THREADS * PER_THREAD


def test_readers_and_writers_together(db):
    for i in range(100):
        db[b"r%d" % i] = b"%d" % i
    errors = []

    def reader():
        try:
            for _ in range(5):
                for i in range(100):
                    assert db[b"r%d" % i] == b"%d" % i
        except Exception as e:  # pragma: no cover
            errors.append(e)

    def writer(n):
        try:
            for i in range(300):
                db[b"w%d-%d" % (n, i)] = b"x"
                if i % 3 == 0:
                    assert db.remove(b"w%d-%d" % (n, i)) is True
        except Exception as e:  # pragma: no cover
            errors.append(e)

    _run([threading.Thread(target=reader) for _ in range(2)]
         + [threading.Thread(target=writer, args=(n,)) for n in range(2)])
    assert errors == []
    assert db.stats()["keys"] == 100 + 2 * 200


def test_close_while_other_threads_use_it(path):
    db = kvs.open(path)
    started = threading.Barrier(THREADS + 1, timeout=60)
    outcomes = []

    def worker(n):
        started.wait()
        i = 0
        try:
            while True:  # ends when close() makes the next call raise
                db[b"c%d-%d" % (n, i)] = b"v"
                db.get(b"c%d-%d" % (n, i))
                i += 1
        except kvs.ClosedError:
            outcomes.append(("closed", i))
        except Exception as e:  # pragma: no cover
            outcomes.append(("error", e))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    started.wait()
    db.close()  # waits for the calls in progress, never frees the handle under them
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive()
    assert len(outcomes) == THREADS
    assert all(kind == "closed" for kind, _ in outcomes), outcomes
    written = sum(i for _, i in outcomes)
    with kvs.open(path) as db2:  # every acknowledged write is there
        assert db2.stats()["keys"] >= written


def test_close_waits_for_a_call_in_progress(corrupt_store):
    """close() must not free the handle under a call another thread is in.

    A get of the damaged record makes libkvs call the logger from inside
    kvs_get, in the reading thread: the callback holds that thread inside
    the C call while another thread calls close().
    """
    inside = threading.Event()
    closing = threading.Event()
    closed = threading.Event()
    seen = {}

    def on_log(level, msg):
        if threading.current_thread() is not reader:
            return
        inside.set()
        closing.wait(30)
        deadline = time.monotonic() + 30
        while not db.closed and time.monotonic() < deadline:  # close() has begun
            closed.wait(0.001)
        # close() has begun but must be waiting for this call. This waits for
        # something that must not happen, so it can only be bounded by time.
        seen["closed_under_call"] = closed.wait(0.1)

    db = kvs.open(corrupt_store, logger=on_log)
    result = []

    def read():
        try:
            db[b"victim"]
        except kvs.Error as e:
            result.append(e.name)

    def close():
        db.close()
        closed.set()

    reader = threading.Thread(target=read)
    closer = threading.Thread(target=close)
    reader.start()
    assert inside.wait(30)
    closing.set()
    closer.start()
    for t in (reader, closer):
        t.join(timeout=60)
        assert not t.is_alive()
    assert seen == {"closed_under_call": False}
    assert result == ["KVS_ECORRUPT"]  # the call finished normally
    assert closed.is_set()
    with pytest.raises(kvs.ClosedError):
        db.get(b"other")
