"""kvs: Python binding of libkvs, an embeddable persistent key/value store.

    import kvs
    with kvs.open("/tmp/db", sync="always") as db:
        db[b"lang"] = b"C"
        print(db[b"lang"], db.get(b"nope"), b"lang" in db)   # b'C' None True
        db.remove(b"lang")                                  # True: it existed

How it talks to C: cffi in ABI mode (``ffi.cdef`` of the calls in _ffi.py,
copied from kvs.h, and ``ffi.dlopen`` of libkvs.so.1). Nothing is compiled:
no C compiler or kvs.h is needed to install or import the package (API mode
would need both). Over ctypes, cffi takes the declarations as C rather than
argtypes lists and passes any buffer to C without a copy, read-only ones
(bytes, a memoryview of bytes) included. The GIL is released around every
call, so threads really read in parallel. The library is found through
``KVS_LIBRARY`` (a path to libkvs.so.1), then the libdir ``meson install``
put it in, then the dynamic loader (``libkvs.so.1``,
``ctypes.util.find_library("kvs")``); a libkvs of another major version is
refused at import.

Keys and values are bytes. Any bytes-like object is accepted (bytes,
bytearray, memoryview, array.array, mmap, ...); reads return ``bytes``.
``str`` is rejected with TypeError, as in plyvel: pick the encoding
yourself (``key.encode()``). Keys are 1 to KEY_MAX (65,535) bytes, values 0
to VALUE_MAX (512 MiB).

Errors are ``kvs.Error`` with ``.status`` (the C status, e.g. -5), ``.name``
("KVS_EBUSY"), ``.message`` (kvs_strerror) and ``.errno`` (for KVS_EIO);
each status has a subclass (BusyError, CorruptError, ...); those about
arguments (InvalidArgumentError, TooBigError, ClosedError) are also
ValueError, IOError (KVS_EIO) is also OSError, NoMemoryError MemoryError
and StoreNotFoundError (KVS_ENOENT) FileNotFoundError. An absent key is
not an error: ``get`` returns the default, ``db[key]`` and ``del db[key]``
raise KeyError, ``remove`` returns False.

Threads: a DB may be shared by any number of threads; every call releases
the GIL while in C. ``close()`` waits for calls other threads have in
progress, and later calls raise ClosedError (the handle is never used after
it is freed). A DB still open at interpreter exit is closed then. Do not
use a DB in a child process after ``fork()``.

Ordered iteration (libkvs 1.1): ``db.iterator(start=, stop=, prefix=,
reverse=, ...)`` walks keys in bytewise order as they were when it was
created, like plyvel's iterators (``next()``, ``prev()``, ``seek()``,
``seek_to_start()``, ``seek_to_stop()``); ``iter(db)`` gives the keys.
``db.snapshot()`` reads the store as it was at one moment. ``with
db.batch() as b:`` writes atomically when the block ends without an
exception and writes nothing otherwise. ``db.set(..., ttl=seconds)`` or
``expire_at_ms=`` give values an expiry; ``db.update(key, fn)`` changes a
value atomically through a Python function; ``db.backup(dest)`` and
``db.verify()`` copy and check the store. ``db.close()`` first closes the
DB's open iterators and snapshots (their later use raises ClosedError).
"""

import atexit
import collections
import logging
import math
import os
import threading
import time
import weakref

from ._ffi import ffi, has_symbol, lib

# kvs.open and kvs.IOError are left out: `from kvs import *` must not shadow builtins.
__all__ = [
    "DB", "Error", "InvalidArgumentError", "ClosedError", "CorruptError", "NoMemoryError",
    "BusyError", "TooBigError", "ReadOnlyError", "VersionError", "StoreNotFoundError",
    "ExistsError", "Iterator", "Snapshot", "Batch", "VerifyProblem", "KEEP", "KEY_MAX",
    "VALUE_MAX", "BATCH_MAX_BYTES", "LOG_ERROR", "LOG_WARN", "LOG_INFO", "library_version",
    "library_version_number", "status_name", "strerror",
]

__version__ = "1.4.3"

#: Version of the libkvs actually loaded, e.g. "1.0.0", and as a number (10000).
library_version = ffi.string(lib.kvs_version()).decode("ascii")
library_version_number = lib.kvs_version_number()
_HAS_MULTI_GET = has_symbol(lib, "kvs_multi_get")  # libkvs 1.2

KEY_MAX = 65535
VALUE_MAX = 512 * 1024 * 1024
#: Most bytes a batch may hold: 11 per entry plus its key and value (19 with an expiry).
BATCH_MAX_BYTES = 768 * 1024 * 1024

# Status codes (kvs.h).
OK = 0
NOT_FOUND = 1
EXISTS = 2
EINVAL = -1
EIO = -2
ECORRUPT = -3
ENOMEM = -4
EBUSY = -5
ETOOBIG = -6
EREADONLY = -7
EVERSION = -8
ENOENT = -9
EEXIST = -10

LOG_ERROR = lib.KVS_LOG_ERROR
LOG_WARN = lib.KVS_LOG_WARN
LOG_INFO = lib.KVS_LOG_INFO

_SET_IF_ABSENT = 1
_SET_IF_PRESENT = 2
_SET_KEEP_EXPIRY = 4

_SYNC_MODES = {
    "none": lib.KVS_SYNC_NONE,
    "interval": lib.KVS_SYNC_INTERVAL,
    "always": lib.KVS_SYNC_ALWAYS,
}


# --------------------------------------------------------------------------
# Errors


def status_name(status):
    """The symbolic name of a libkvs status, e.g. "KVS_EBUSY" ("KVS_UNKNOWN" if unknown)."""
    return ffi.string(lib.kvs_status_name(status)).decode("ascii", "replace")


def strerror(status):
    """libkvs's short English description of a status."""
    return ffi.string(lib.kvs_strerror(status)).decode("utf-8", "replace")


class Error(Exception):
    """A libkvs call failed.

    Attributes: ``status`` (the negative C status), ``name`` ("KVS_EIO"),
    ``message`` (kvs_strerror), ``context`` (what was being done, or None),
    ``errno`` (the system error for KVS_EIO, else None).
    """

    def __init__(self, status, context=None, errno=None, message=None):
        self.status = status
        self.name = status_name(status)
        self.message = message or strerror(status)
        self.context = context
        text = "%s: %s" % (self.name, self.message)
        if errno:
            text += " (%s)" % os.strerror(errno)
        if context:
            text = "%s: %s" % (context, text)
        super().__init__(text)
        # Set after Exception.__init__: OSError (IOError's base) has these as slots.
        self.errno = errno or None

    def __str__(self):
        return self.args[0]

    def __reduce__(self):
        return (type(self), (self.status, self.context, self.errno, self.message))


class InvalidArgumentError(Error, ValueError):
    """KVS_EINVAL: an argument (an empty key, an option out of range) was refused."""


class ClosedError(InvalidArgumentError):
    """The DB is closed (status KVS_EINVAL, as a C call on a NULL handle)."""

    def __init__(self, status=EINVAL, context=None, errno=None, message="the database is closed"):
        super().__init__(status, context, errno, message)


class IOError(Error, OSError):  # noqa: A001 - the name mirrors KVS_EIO
    """KVS_EIO: a system call failed (``errno`` says why; ENOSPC for a full disk)."""

    def __init__(self, status=EIO, context=None, errno=None, message=None):
        super().__init__(status, context, errno, message)
        if self.errno:
            self.strerror = os.strerror(self.errno)


class CorruptError(Error):
    """KVS_ECORRUPT: data on disk failed a checksum or format check.

    From DB.verify(), ``problems`` lists what was found, as VerifyProblem
    tuples (file, offset, problem); empty otherwise.
    """

    problems = ()


class NoMemoryError(Error, MemoryError):
    """KVS_ENOMEM."""


class BusyError(Error):
    """KVS_EBUSY: the directory is open elsewhere, in this or another process."""


class TooBigError(Error, ValueError):
    """KVS_ETOOBIG: a key over KEY_MAX or a value over VALUE_MAX; nothing was written."""


class ReadOnlyError(Error):
    """KVS_EREADONLY: a write on a DB opened with read_only=True."""


class VersionError(Error):
    """KVS_EVERSION: the store's on-disk format is newer than this libkvs."""


class StoreNotFoundError(Error, FileNotFoundError):
    """KVS_ENOENT: no store in the directory and create_if_missing=False."""

    def __init__(self, status=ENOENT, context=None, errno=None, message=None):
        super().__init__(status, context, errno, message)


class ExistsError(Error, FileExistsError):
    """KVS_EEXIST: the destination of DB.backup() exists and is not an empty directory."""

    def __init__(self, status=EEXIST, context=None, errno=None, message=None):
        super().__init__(status, context, errno, message)


_ERRORS = {
    EINVAL: InvalidArgumentError,
    EIO: IOError,
    ECORRUPT: CorruptError,
    ENOMEM: NoMemoryError,
    EBUSY: BusyError,
    ETOOBIG: TooBigError,
    EREADONLY: ReadOnlyError,
    EVERSION: VersionError,
    ENOENT: StoreNotFoundError,
    EEXIST: ExistsError,
}


def _error(status, context=None):
    """The exception for a failed call; reads errno right after it (cffi keeps it per thread)."""
    errno = ffi.errno if status == EIO else None
    return _ERRORS.get(status, Error)(status, context, errno)


# --------------------------------------------------------------------------
# Argument conversion


def _bytes_arg(obj, what):
    """(pointer-compatible object, length) for a key or value."""
    if isinstance(obj, bytes):
        return obj, len(obj)
    if isinstance(obj, str):
        raise TypeError("%s must be bytes-like, not str (encode it: %s.encode())" % (what, what))
    try:
        view = memoryview(obj)
    except TypeError:
        raise TypeError("%s must be bytes-like, not %s" % (what, type(obj).__name__)) from None
    if not view.c_contiguous:
        data = view.tobytes()
        return data, len(data)
    return ffi.from_buffer(view), view.nbytes


def _bound_arg(obj, what):
    """A key bound (start, stop, prefix, seek target) as bytes; may be empty."""
    data, n = _bytes_arg(obj, what)
    return data if isinstance(data, bytes) else ffi.buffer(data, n)[:]


def _key_after(key):
    """The smallest key sorting after `key` (keys are at most KEY_MAX bytes), or None."""
    if len(key) < KEY_MAX:
        return key + b"\0"
    # Nothing starts with a longest key but the key itself: its successor is
    # the first key past every key with it as a prefix.
    head = key.rstrip(b"\xff")
    return head[:-1] + bytes([head[-1] + 1]) if head else None


class _Keep:
    """The type of kvs.KEEP."""

    __slots__ = ()

    def __repr__(self):
        return "kvs.KEEP"

    def __reduce__(self):
        return "KEEP"


#: Returned by a DB.update() function: write nothing. As ``expire_at_ms``
#: of DB.update(): keep the key's current expiry.
KEEP = _Keep()


def _now_ms():
    """Now as libkvs counts expiry: milliseconds since the epoch (CLOCK_REALTIME)."""
    return time.time_ns() // 1000000


def _expiry_arg(expire_at_ms, ttl):
    """libkvs's expiry (ms since the epoch, 0 for none) from ``expire_at_ms`` or ``ttl``."""
    if ttl is not None:
        if expire_at_ms is not None:
            raise ValueError("give expire_at_ms or ttl, not both")
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
            raise TypeError("ttl must be a number of seconds, not %s" % type(ttl).__name__)
        if not (ttl > 0 and math.isfinite(ttl)):  # also refuses NaN
            raise ValueError("ttl must be a positive number of seconds, not %r" % (ttl,))
        # Rounded up, so that a value never expires before `ttl` is over (the
        # 1e-6 keeps 0.1 s from becoming 101 ms through 100.00000000000001).
        expire_at_ms = _now_ms() + max(1, math.ceil(ttl * 1000 - 1e-6))
        if expire_at_ms >= 1 << 64:
            raise ValueError("ttl out of range: %r" % (ttl,))
        return expire_at_ms
    if expire_at_ms is None:
        return 0
    if isinstance(expire_at_ms, bool) or not isinstance(expire_at_ms, int):
        raise TypeError("expire_at_ms must be an int (milliseconds since the epoch), not %s"
                        % type(expire_at_ms).__name__)
    if expire_at_ms <= 0 or expire_at_ms >= 1 << 64:
        raise ValueError("expire_at_ms out of range: %d (None means no expiry)" % expire_at_ms)
    return expire_at_ms


def _check_bool(name, value):
    if not isinstance(value, bool):
        raise TypeError("%s must be True or False, not %r" % (name, value))
    return int(value)


def _check_uint(name, value, bits):
    """Type and C-representability only: the ranges are libkvs's to check (one place)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s must be an int, not %s" % (name, type(value).__name__))
    if value < 0 or value >= 1 << bits:
        raise ValueError("%s out of range: %d" % (name, value))
    return value


_PY_LOG_LEVELS = {LOG_ERROR: logging.ERROR, LOG_WARN: logging.WARNING, LOG_INFO: logging.INFO}


def _log_callback(logger):
    """A cffi callback delivering libkvs's messages to `logger`."""
    if isinstance(logger, logging.Logger):
        target = logger

        def deliver(level, message):
            target.log(_PY_LOG_LEVELS.get(level, logging.INFO), "%s", message)

    elif callable(logger):
        deliver = logger
    else:
        raise TypeError("logger must be a callable(level, message) or a logging.Logger")

    # Called from any of libkvs's threads; cffi takes the GIL. An exception
    # raised here is printed by cffi and otherwise ignored.
    def on_log(_ctx, level, msg):
        deliver(int(level), ffi.string(msg).decode("utf-8", "replace"))

    return ffi.callback("kvs_log_fn", on_log)


def _build_options(sync, sync_interval_ms, segment_size, compaction_trigger, create_if_missing,
                   read_only, repair, use_hints, write_through, log_cb):
    """A kvs_options_t (freed by ffi.gc) after checking every value's type."""
    if not isinstance(sync, str):
        raise TypeError("sync must be a str: 'none', 'interval' or 'always'")
    if sync not in _SYNC_MODES:
        raise ValueError("sync must be 'none', 'interval' or 'always', not %r" % sync)
    sync_interval_ms = _check_uint("sync_interval_ms", sync_interval_ms, 32)
    segment_size = _check_uint("segment_size", segment_size, 64)
    compaction_trigger = _check_uint("compaction_trigger", compaction_trigger, 32)
    flags = [
        (lib.kvs_options_set_create_if_missing,
         _check_bool("create_if_missing", create_if_missing)),
        (lib.kvs_options_set_read_only, _check_bool("read_only", read_only)),
        (lib.kvs_options_set_repair, _check_bool("repair", repair)),
        (lib.kvs_options_set_use_hints, _check_bool("use_hints", use_hints)),
    ]
    if write_through is None:
        wt = -1
    else:
        wt = _check_bool("write_through", write_through)

    opts = lib.kvs_options_create()
    if opts == ffi.NULL:
        raise NoMemoryError(ENOMEM, "kvs_options_create")
    opts = ffi.gc(opts, lib.kvs_options_destroy)
    lib.kvs_options_set_sync(opts, _SYNC_MODES[sync])
    for setter, name, value in (
        (lib.kvs_options_set_sync_interval_ms, "sync_interval_ms", sync_interval_ms),
        (lib.kvs_options_set_segment_size, "segment_size", segment_size),
        (lib.kvs_options_set_compaction_trigger, "compaction_trigger", compaction_trigger),
    ):
        if value is not None:
            rc = setter(opts, value)
            if rc != OK:
                raise _error(rc, "%s=%d" % (name, value))
    for setter, on in flags:
        setter(opts, on)
    lib.kvs_options_set_write_through(opts, wt)
    if log_cb is not None:
        lib.kvs_options_set_logger(opts, log_cb, ffi.NULL)
    return opts


def _get_value(c, getter, key, default, what):
    """kvs_get or kvs_snapshot_get through c (a handle guard): bytes, or `default`."""
    k, klen = _bytes_arg(key, "key")
    # This thread's output cells, taken out while in use (a signal
    # handler calling get() in between gets fresh ones).
    out = _tls.__dict__.pop("get_out", None) or (ffi.new("void **"), ffi.new("size_t *"))
    pval, plen = out
    rc = c(getter, k, klen, pval, plen)
    try:
        if rc == OK:
            try:
                return ffi.unpack(ffi.cast("char *", pval[0]), plen[0])
            finally:
                lib.kvs_free(pval[0])
        if rc == NOT_FOUND:
            return default
        raise _error(rc, what)
    finally:
        _tls.get_out = out


# --------------------------------------------------------------------------
# The database

_open_dbs = weakref.WeakSet()
_tls = threading.local()  # per-thread cdata for output parameters (ffi.new costs ~0.7 us)
_get_ident = threading.get_ident


def _reentry_error():
    return RuntimeError("a DB.update() function called into the same DB: it runs under the "
                        "store's write lock, so that call would deadlock")


class _Handle:
    """A C iterator or snapshot of a DB, closed by its owner or by DB.close().

    The DB holds these (not the Python objects, which may be in reference
    cycles the garbage collector finalizes in any order) and destroys each
    before kvs_close, which refuses to close while any is open.
    ``enter()``/``leave()`` count the calls in progress, and close() waits for
    them, as for the DB's handle; with ``exclusive`` one call at a time holds
    the handle (a libkvs iterator is used by one thread at a time).
    """

    __slots__ = ("ptr", "_destroy", "_lock", "_idle", "_users", "_excl", "__weakref__")

    def __init__(self, ptr, destroy, exclusive):
        self.ptr = ptr
        self._destroy = destroy
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._users = 0
        self._excl = threading.Lock() if exclusive else None

    def enter(self, what):
        if self._excl is not None:
            self._excl.acquire()
        with self._lock:
            ptr = self.ptr
            if ptr is None:
                if self._excl is not None:
                    self._excl.release()
                raise ClosedError(message="the %s is closed" % what)
            self._users += 1
            return ptr

    def leave(self):
        with self._lock:
            self._users -= 1
            if not self._users and self.ptr is None:
                self._idle.notify_all()
        if self._excl is not None:
            self._excl.release()

    def close(self, blocking=True):
        """Destroy the C object once no call uses it; False if already closed.

        ``blocking=False`` is for __del__: the collector may run it in a
        thread holding the lock (in this close(), called by DB.close), where
        waiting would never end; whoever holds the lock then is closing the
        handle or using it through a live reference.
        """
        if not self._lock.acquire(blocking):
            return False
        try:
            ptr = self.ptr
            if ptr is None:
                return False
            self.ptr = None
            try:
                while self._users:
                    self._idle.wait()
            except BaseException:  # e.g. KeyboardInterrupt: still open
                self.ptr = ptr
                raise
        finally:
            self._lock.release()
        self._destroy(ptr)
        return True


class DB:
    """An open store. Create it with kvs.open() (or DB(path, ...), the same).

    Mapping-like: ``db[key]``, ``db[key] = value``, ``del db[key]``,
    ``key in db``, ``iter(db)`` (the keys, in order).
    """

    def __init__(self, path, *, sync="interval", sync_interval_ms=None, segment_size=None,
                 compaction_trigger=None, create_if_missing=True, read_only=False, repair=False,
                 use_hints=True, write_through=None, logger=None):
        self._handle = None
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._users = 0
        self._log_cb = None
        self._children = set()  # _Handle of every open iterator and snapshot
        self._updating = None  # thread running an update() function, if any
        self.path = os.fspath(path)
        self.read_only = read_only
        path_bytes = os.fsencode(self.path)
        if not path_bytes or b"\0" in path_bytes:
            raise ValueError("path must be a non-empty path without NUL bytes")
        log_cb = _log_callback(logger) if logger is not None else None
        opts = _build_options(sync, sync_interval_ms, segment_size, compaction_trigger,
                              create_if_missing, read_only, repair, use_hints, write_through,
                              log_cb)
        out = ffi.new("kvs_t **")
        # The logger may be called during kvs_open already (recovery): keep
        # the callback alive from here until kvs_close has returned.
        self._log_cb = log_cb
        rc = lib.kvs_open(path_bytes, opts, out)
        if rc != OK:
            self._log_cb = None
            raise _error(rc, "open %r" % self.path)
        self._handle = out[0]
        _open_dbs.add(self)

    # -- handle guard: no call uses the handle after kvs_close frees it.

    def _c(self, fn, *args):
        """fn(handle, *args), counted as in progress so that close() waits for it."""
        if self._updating is not None and self._updating == _get_ident():
            raise _reentry_error()
        lock = self._lock
        with lock:
            handle = self._handle
            if handle is None:
                raise ClosedError()
            self._users += 1
        try:
            return fn(handle, *args)
        finally:
            with lock:
                self._users -= 1
                if not self._users and self._handle is None:
                    self._idle.notify_all()

    def _enter(self):
        """The handle, counted as in use until _leave() (as _c, over several calls)."""
        if self._updating is not None and self._updating == _get_ident():
            raise _reentry_error()
        with self._lock:
            handle = self._handle
            if handle is None:
                raise ClosedError()
            self._users += 1
            return handle

    def _leave(self):
        with self._lock:
            self._users -= 1
            if not self._users and self._handle is None:
                self._idle.notify_all()

    def _open_child(self, create, out_type, destroy, exclusive, what, snapshot=None,
                    takes_snapshot=False):
        """A _Handle over create(handle, [snapshot or NULL,] out), registered for close()."""
        out = ffi.new(out_type)
        handle = self._enter()
        try:
            if not takes_snapshot:
                rc = create(handle, out)
            elif snapshot is None:
                rc = create(handle, ffi.NULL, out)
            else:
                snap = snapshot._h.enter("snapshot")
                try:
                    rc = create(handle, snap, out)
                finally:
                    snapshot._h.leave()
            if rc != OK:
                raise _error(rc, what)
            child = _Handle(out[0], destroy, exclusive)
            # Registered before the handle is left: close() cannot miss it.
            self._children.add(child)
            return child
        finally:
            self._leave()

    @property
    def closed(self):
        """True once close() has been called."""
        return self._handle is None

    def close(self):
        """Flush, sync and close. Idempotent; waits for other threads' calls in progress.

        The DB's open iterators and snapshots are closed first (they then
        raise ClosedError). Raises IOError if the final sync failed (the
        handle is closed anyway).
        """
        if self._updating is not None and self._updating == _get_ident():
            raise _reentry_error()
        with self._lock:
            handle = self._handle
            if handle is None:
                return
            self._handle = None
            try:
                while self._users:
                    self._idle.wait()
            except BaseException:  # e.g. KeyboardInterrupt: still open, close() may be retried
                self._handle = handle
                raise
        try:
            # No new ones can come (the handle is gone); each waits for its
            # call in progress, if any.
            for child in list(self._children):
                child.close()
                self._children.discard(child)
        except BaseException:
            with self._lock:
                self._handle = handle
            raise
        _open_dbs.discard(self)
        rc = lib.kvs_close(handle)
        if rc == EBUSY:  # an iterator or snapshot this object does not know: still open
            with self._lock:
                self._handle = handle
            _open_dbs.add(self)
            raise _error(rc, "close %r" % self.path)
        self._log_cb = None
        if rc != OK:
            raise _error(rc, "close %r" % self.path)

    def __enter__(self):
        if self._handle is None:
            raise ClosedError()
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            if getattr(self, "_handle", None) is not None:
                self.close()
        except Exception:  # nothing to report to at garbage collection
            pass

    def __repr__(self):
        return "<kvs.DB %r %s>" % (self.path, "closed" if self.closed else "open")

    # -- reads

    def get(self, key, default=None):
        """The value of `key` as bytes, or `default` if it is absent."""
        return _get_value(self._c, lib.kvs_get, key, default, "get")

    def __getitem__(self, key):
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def get_many(self, keys, default=None):
        """The values of `keys` as a list of bytes (`default` for absent ones).

        One kvs_multi_get (libkvs 1.2): the values are those of one moment,
        no write or batch falls between two of them, and reading many keys
        this way is faster than as many get() calls.
        """
        if not _HAS_MULTI_GET:
            raise NotImplementedError("get_many needs libkvs 1.2 (kvs_multi_get); loaded: %s"
                                      % library_version)
        keys = list(keys)
        if not keys:
            return []
        items = ffi.new("kvs_get_item_t[]", len(keys))
        keep = []  # the key buffers, alive until the call returns
        for i, key in enumerate(keys):
            k, klen = _bytes_arg(key, "key")
            ptr = ffi.from_buffer(k) if isinstance(k, bytes) else k
            keep.append(ptr)
            items[i].key = ptr
            items[i].klen = klen
        self._c(lib.kvs_multi_get, items, len(keys), 0)
        values, failed = [], None
        for i in range(len(keys)):
            item = items[i]
            try:
                if item.status == OK:
                    values.append(ffi.unpack(ffi.cast("char *", item.val), item.vlen))
                elif item.status == NOT_FOUND:
                    values.append(default)
                elif failed is None:
                    failed = _error(item.status, "get_many: key %d" % i)
            finally:
                lib.kvs_free(item.val)
        if failed is not None:
            raise failed
        return values

    def __contains__(self, key):
        k, klen = _bytes_arg(key, "key")
        rc = self._c(lib.kvs_exists, k, klen)
        if rc == OK:
            return True
        if rc == NOT_FOUND:
            return False
        raise _error(rc, "exists")

    # -- writes

    def set(self, key, value, *, if_absent=False, if_present=False, expire_at_ms=None,
            ttl=None, keep_expiry=False):
        """Store `value` under `key`. Returns True if it was written.

        ``if_absent=True`` writes only if the key does not exist (Redis NX),
        ``if_present=True`` only if it does (XX); when the condition fails
        nothing is written and False is returned. Without them, always True.
        A key whose value expired does not exist.

        Expiry (as Redis SET): the value expires at ``expire_at_ms``
        (milliseconds since the Unix epoch, an int; a past time writes a value
        that is already gone) or ``ttl`` seconds from now (int or float, > 0);
        ``keep_expiry=True`` keeps the key's current expiry (KEEPTTL).
        Without any of them the value never expires, whatever the old one did.
        """
        k, klen = _bytes_arg(key, "key")
        v, vlen = _bytes_arg(value, "value")
        flags = (_SET_IF_ABSENT if _check_bool("if_absent", if_absent) else 0) | (
            _SET_IF_PRESENT if _check_bool("if_present", if_present) else 0)
        if flags == _SET_IF_ABSENT | _SET_IF_PRESENT:
            raise ValueError("if_absent and if_present cannot both be True")
        expire = _expiry_arg(expire_at_ms, ttl)
        if _check_bool("keep_expiry", keep_expiry):
            if expire:
                raise ValueError("keep_expiry cannot be combined with expire_at_ms or ttl")
            flags |= _SET_KEEP_EXPIRY
        if expire:
            rc = self._c(lib.kvs_set_expire, k, klen, v, vlen, expire, flags)
        elif flags:
            rc = self._c(lib.kvs_set_ex, k, klen, v, vlen, flags)
        else:
            rc = self._c(lib.kvs_set, k, klen, v, vlen)
        if rc == OK:
            return True
        if rc in (EXISTS, NOT_FOUND) and flags & (_SET_IF_ABSENT | _SET_IF_PRESENT):
            return False
        raise _error(rc, "set")

    def __setitem__(self, key, value):
        self.set(key, value)

    def remove(self, key):
        """Remove `key`. Returns True if it existed, False if not (nothing written then)."""
        k, klen = _bytes_arg(key, "key")
        rc = self._c(lib.kvs_remove, k, klen)
        if rc == OK:
            return True
        if rc == NOT_FOUND:
            return False
        raise _error(rc, "remove")

    def __delitem__(self, key):
        if not self.remove(key):
            raise KeyError(key)

    # -- maintenance

    def _maintain(self, fn, what):
        rc = self._c(fn)
        if rc != OK:
            raise _error(rc, what)

    def sync(self):
        """Make every write acknowledged so far durable (fdatasync), whatever the sync mode."""
        self._maintain(lib.kvs_sync, "sync")

    def compact(self):
        """Compact now, in this thread, and wait for it (other threads keep working)."""
        self._maintain(lib.kvs_compact, "compact")

    def stats(self):
        """Every statistic libkvs reports, as {name: int}, e.g. {"keys": 3, "segments": 1, ...}."""
        value = ffi.new("uint64_t *")
        result = {}
        which = 0
        while True:
            name = lib.kvs_stat_name(which)
            if name == ffi.NULL:
                return result
            rc = self._c(lib.kvs_stat, which, value)
            if rc != OK:
                raise _error(rc, "stat %d" % which)
            result[ffi.string(name).decode("ascii")] = value[0]
            which += 1

    # -- expiry

    def _expire(self, key, expire, what):
        k, klen = _bytes_arg(key, "key")
        rc = self._c(lib.kvs_expire, k, klen, expire)
        if rc == OK:
            return True
        if rc == NOT_FOUND:
            return False
        raise _error(rc, what)

    def expire(self, key, expire_at_ms=None, *, ttl=None):
        """Make `key`'s value expire at ``expire_at_ms`` (ms since the epoch) or in ``ttl`` s.

        Returns True, or False if the key does not exist (nothing written).
        The value is written again with the new expiry (a write of its size).
        """
        if expire_at_ms is None and ttl is None:
            raise TypeError("expire() needs expire_at_ms or ttl (persist() removes an expiry)")
        return self._expire(key, _expiry_arg(expire_at_ms, ttl), "expire")

    def persist(self, key):
        """Remove `key`'s expiry. True, or False if the key does not exist (nothing written).

        Like expire(), this writes the value again, expiry or not.
        """
        return self._expire(key, 0, "persist")

    def get_expire(self, key):
        """When `key`'s value expires, in ms since the epoch; None if it never does.

        Raises KeyError if the key does not exist (or its value has expired).
        """
        k, klen = _bytes_arg(key, "key")
        at = ffi.new("uint64_t *")
        rc = self._c(lib.kvs_get_expire, k, klen, at)
        if rc == OK:
            return at[0] or None
        if rc == NOT_FOUND:
            raise KeyError(key)
        raise _error(rc, "get_expire")

    # -- read-modify-write

    def update(self, key, fn, *, expire_at_ms=KEEP, ttl=None):
        """Change `key`'s value atomically: ``fn(old)`` returns what to do.

        ``fn`` gets the current value as bytes, or None when the key does not
        exist (or its value expired), and returns the new value (bytes-like),
        None to remove the key, or ``kvs.KEEP`` to write nothing. No other
        write, of any key, comes between the read and the write. Returns the
        key's value afterwards (bytes, or None).

        The new value keeps the key's current expiry (as Redis's INCR) unless
        ``expire_at_ms`` (an int, or None for none) or ``ttl`` says otherwise.

        ``fn`` runs once, in the calling thread, under the store's write
        lock: every writer of the store waits while it runs (readers do not),
        so keep it short. It must not call into this DB (its iterators and
        snapshots made before aside): such a call would deadlock, so it
        raises RuntimeError instead (waiting in ``fn`` for another thread
        that calls into the DB would deadlock all the same). An exception raised by ``fn``
        aborts the update (nothing is written) and is raised here.
        """
        k, klen = _bytes_arg(key, "key")
        if not callable(fn):
            raise TypeError("fn must be callable, not %s" % type(fn).__name__)
        if ttl is not None:
            if expire_at_ms is not KEEP:
                raise ValueError("give expire_at_ms or ttl, not both")
            expire = _expiry_arg(None, ttl)
        elif expire_at_ms is KEEP:
            expire = KEEP
        else:
            expire = _expiry_arg(expire_at_ms, None)
        call = _UpdateCall(self, fn, expire)
        rc = self._c(lib.kvs_update, k, klen, _update_trampoline, ffi.new_handle(call))
        exc = call.exc
        if exc is not None:
            call.exc = None
            try:
                raise exc
            finally:
                exc = None
        if rc == OK:
            result = call.result
            return result if result is None or isinstance(result, bytes) else result[:]
        if rc == NOT_FOUND:  # removal of an absent key
            return None
        raise _error(rc, "update")

    # -- batches, iteration, snapshots

    def batch(self):
        """A new Batch for this DB: ``with db.batch() as b: b[k] = v; del b[k2]``.

        The block's writes are applied as one unit when it ends without an
        exception, and dropped when it raises.
        """
        return Batch(self)

    def iterator(self, *, start=None, stop=None, prefix=None, include_start=True,
                 include_stop=False, reverse=False, include_key=True, include_value=True,
                 snapshot=None):
        """An Iterator over the keys in bytewise order, as they are now.

        The range is [start, stop) (``include_start``/``include_stop`` change
        either end), or the keys beginning with ``prefix``. It yields (key,
        value) tuples, keys alone (``include_value=False``: the values are not
        read), values alone (``include_key=False``) or None for neither.
        ``reverse=True`` walks from the last key down. ``snapshot`` (of this
        DB): iterate the store as it was when the snapshot was taken. See
        Iterator for moving it (prev, seek, ...) and closing it.
        """
        return Iterator(self, snapshot, start, stop, prefix, include_start, include_stop,
                        reverse, include_key, include_value)

    def __iter__(self):
        """The keys in order (an Iterator)."""
        return self.iterator(include_value=False)

    def keys(self, **options):
        """db.iterator(include_value=False, **options): the keys."""
        return self.iterator(include_value=False, **options)

    def values(self, **options):
        """db.iterator(include_key=False, **options): the values, in key order."""
        return self.iterator(include_key=False, **options)

    def items(self, **options):
        """db.iterator(**options): (key, value) tuples."""
        return self.iterator(**options)

    def snapshot(self):
        """A Snapshot: reads through it see the store as it is now."""
        return Snapshot(self)

    # -- backup and verification

    def backup(self, dest):
        """Copy the store, as it is now, into directory `dest` (online; writers go on).

        `dest` must not exist, or be an empty directory (else ExistsError, a
        FileExistsError); its parent must exist. The copy opens as a store.
        """
        dest_bytes = os.fsencode(os.fspath(dest))
        if not dest_bytes or b"\0" in dest_bytes:
            raise ValueError("dest must be a non-empty path without NUL bytes")
        rc = self._c(lib.kvs_backup, dest_bytes)
        if rc != OK:
            raise _error(rc, "backup to %r" % os.fsdecode(dest_bytes))

    def verify(self):
        """Check every record of every segment, and the index against them.

        Returns None when all is well; raises CorruptError when problems were
        found, with ``problems``: a list of VerifyProblem(file, offset,
        problem). Reads the whole store; readers and writers go on meanwhile.
        """
        problems = []

        def on_problem(_ctx, name, offset, problem):
            problems.append(VerifyProblem(ffi.string(name).decode("utf-8", "replace"), offset,
                                          ffi.string(problem).decode("utf-8", "replace")))

        callback = ffi.callback("kvs_verify_fn", on_problem)
        rc = self._c(lib.kvs_verify, callback, ffi.NULL)
        if rc == OK:
            return
        context = "verify"
        if problems:
            first = problems[0]
            context = "verify: %d problem%s; the first: %s at %d: %s" % (
                len(problems), "" if len(problems) == 1 else "s", first.file, first.offset,
                first.problem)
        err = _error(rc, context)
        if rc == ECORRUPT:
            err.problems = problems
        raise err


#: One problem DB.verify() found: the file ("0000000007.log", or "index"),
#: the byte offset in it, and what is wrong.
VerifyProblem = collections.namedtuple("VerifyProblem", "file offset problem")


# --------------------------------------------------------------------------
# Read-modify-write: one C callback for every update() call, the call's
# state passed through ctx (ffi.callback makes a new closure, which is slow).

_UPDATE_ABORTED = -1000  # the callback's status when fn raised (no libkvs status)


class _UpdateCall:
    __slots__ = ("db", "fn", "expire", "result", "exc", "buf")

    def __init__(self, db, fn, expire):
        self.db = db
        self.fn = fn
        self.expire = expire
        self.result = None
        self.exc = None
        self.buf = None


def _on_update(ctx, old, oldlen, found, out):
    call = ffi.from_handle(ctx)
    try:
        current = ffi.unpack(ffi.cast("char *", old), oldlen) if found else None
        db = call.db
        db._updating = _get_ident()  # this thread's calls into db now raise
        try:
            new = call.fn(current)
        finally:
            db._updating = None
        if new is KEEP:
            call.result = current
            return lib.KVS_UPDATE_KEEP
        if call.expire is not KEEP:
            out.expire_at_ms = call.expire
        if new is None:
            return lib.KVS_UPDATE_REMOVE
        if isinstance(new, str):
            raise TypeError("the update function returned a str: return bytes (encode it)")
        try:
            data, n = _bytes_arg(new, "value")
        except TypeError:
            raise TypeError("the update function must return bytes-like, None or kvs.KEEP, "
                            "not %s" % type(new).__name__) from None
        # The value must stay valid until kvs_update returns: call.buf keeps
        # it (and update() copies a buffer that is not bytes once written).
        call.buf = ffi.from_buffer(data) if isinstance(data, bytes) else data
        out.val = call.buf
        out.vlen = n
        call.result = data if isinstance(data, bytes) else ffi.buffer(call.buf, n)
        return lib.KVS_UPDATE_SET
    except BaseException as e:  # KeyboardInterrupt too: abort, raise it in update()
        call.exc = e
        return _UPDATE_ABORTED


_update_trampoline = ffi.callback("kvs_update_fn", _on_update, error=_UPDATE_ABORTED)


# --------------------------------------------------------------------------
# Iterators and snapshots

# Where an Iterator stands, in key order: before the first key, after the
# last, or just before / just after the key the C iterator is on.
_START, _STOP, _BEFORE, _AFTER = range(4)


class Iterator:
    """Walks keys in bytewise order, seeing the store as it was when it was made.

    Made by DB.iterator() (and iter(db), db.keys(), Snapshot.iterator(), ...).
    As plyvel's: it stands between two keys; ``next(it)`` returns the entry
    after it (before it when reverse) and steps over it, ``it.prev()`` the
    one the other way; ``seek_to_start()`` and ``seek_to_stop()`` go before
    the first and after the last key of the range, ``seek(key)`` just before
    the first key >= key (in key order, whatever the direction). Entries
    are copied into bytes.

    Closing: ``close()``, ``with``, garbage collection, DB.close(), or
    running off the end with next() if it was never moved otherwise (an
    iterator moved with prev() or seek*() stays open at either end, so that
    it can move back). Once exhausted next() keeps raising StopIteration;
    any other call on a closed iterator raises ClosedError. Until closed it
    keeps the records it may read on disk. A damaged record raises
    CorruptError; the next call moves past it. Usable from any thread, one
    call at a time.
    """

    def __init__(self, db, snapshot, start, stop, prefix, include_start, include_stop,
                 reverse, include_key, include_value):
        self._db = db
        reverse = bool(_check_bool("reverse", reverse))
        include_start = _check_bool("include_start", include_start)
        include_stop = _check_bool("include_stop", include_stop)
        self._shape = (_check_bool("include_key", include_key),
                       _check_bool("include_value", include_value))
        if snapshot is not None:
            if not isinstance(snapshot, Snapshot):
                raise TypeError("snapshot must be a kvs.Snapshot, not %s"
                                % type(snapshot).__name__)
            if snapshot._db is not db:
                raise ValueError("the snapshot is of another DB")
        if prefix is not None:
            if start is not None or stop is not None:
                raise TypeError("prefix cannot be combined with start or stop")
            bounds = (_bound_arg(prefix, "prefix"),)
        else:
            # libkvs's range is [lo, hi): an excluded start or an included
            # stop becomes the key right after it.
            lo = hi = None
            if stop is not None:
                hi = _bound_arg(stop, "stop")
                if include_stop:
                    hi = _key_after(hi)  # None: no key sorts after it, no bound
            if start is not None:
                lo = _bound_arg(start, "start")
                if not include_start:
                    after = _key_after(lo)
                    # None: nothing sorts after it, so the range is empty: [lo, lo)
                    lo, hi = (lo, lo) if after is None else (after, hi)
            bounds = (lo, hi)
        self._reverse = reverse
        self._state = _STOP if reverse else _START
        self._moved = False
        self._exhausted = False
        self._key = ffi.new("const void **")
        self._len = ffi.new("size_t *")
        self._h = db._open_child(lib.kvs_iter_create, "kvs_iter_t **", lib.kvs_iter_destroy,
                                 True, "iterator", snapshot, True)
        ptr = self._h.enter("iterator")
        try:
            if len(bounds) == 1:
                rc = lib.kvs_iter_set_prefix(ptr, bounds[0], len(bounds[0]))
            elif bounds != (None, None):
                lo, hi = bounds
                rc = lib.kvs_iter_set_range(ptr, ffi.NULL if lo is None else lo,
                                            0 if lo is None else len(lo),
                                            ffi.NULL if hi is None else hi,
                                            0 if hi is None else len(hi))
            else:
                rc = OK
        finally:
            self._h.leave()
        if rc != OK:
            self.close()
            raise _error(rc, "iterator range")

    def __iter__(self):
        return self

    def __next__(self):
        """The next entry (the previous key's when reverse); StopIteration at the end."""
        return self._step(not self._reverse, True)

    def prev(self):
        """The entry the other way (the same as the last next() returned, first)."""
        return self._step(self._reverse, False)

    def _step(self, forward, by_next):
        h = self._h
        try:
            ptr = h.enter("iterator")
        except ClosedError:
            # Exhausted (maybe by another thread while this one waited): stays so.
            if by_next and self._exhausted:
                raise StopIteration from None
            raise
        try:
            if not by_next:
                self._moved = True
            state = self._state
            if forward:
                if state == _AFTER:
                    rc = lib.kvs_iter_next(ptr)
                elif state == _BEFORE:
                    rc = OK
                elif state == _START:
                    rc = lib.kvs_iter_first(ptr)
                else:
                    rc = NOT_FOUND
                if rc == OK:
                    self._state = _AFTER
                elif rc == NOT_FOUND:
                    self._state = _STOP
            else:
                if state == _BEFORE:
                    rc = lib.kvs_iter_prev(ptr)
                elif state == _AFTER:
                    rc = OK
                elif state == _STOP:
                    rc = lib.kvs_iter_last(ptr)
                else:
                    rc = NOT_FOUND
                if rc == OK:
                    self._state = _BEFORE
                elif rc == NOT_FOUND:
                    self._state = _START
            if rc == OK:
                return self._current(ptr)
            if rc != NOT_FOUND:
                raise _error(rc, "iterator")
        finally:
            h.leave()
        if by_next and not self._moved:
            self._exhausted = True
            self.close()
        raise StopIteration

    def _current(self, ptr):
        """The entry under the C iterator, copied (its pointers last until it moves)."""
        with_key, with_value = self._shape
        key = value = None
        if with_key:
            rc = lib.kvs_iter_key(ptr, self._key, self._len)
            if rc != OK:
                raise _error(rc, "iterator key")
            key = ffi.unpack(ffi.cast("char *", self._key[0]), self._len[0])
            if not with_value:
                return key
        if with_value:
            rc = lib.kvs_iter_value(ptr, self._key, self._len)
            if rc != OK:
                raise _error(rc, "iterator value")
            value = ffi.unpack(ffi.cast("char *", self._key[0]), self._len[0])
            return (key, value) if with_key else value
        return None

    def _place(self, state):
        self._h.enter("iterator")
        try:
            self._moved = True
            self._state = state
        finally:
            self._h.leave()

    def seek_to_start(self):
        """Go before the first key of the range (in key order: a forward iterator restarts)."""
        self._place(_START)

    def seek_to_stop(self):
        """Go after the last key of the range (in key order: a reverse iterator restarts)."""
        self._place(_STOP)

    def seek(self, target):
        """Go just before the first key >= target, within the range (after it if none)."""
        t = _bound_arg(target, "target")
        ptr = self._h.enter("iterator")
        try:
            self._moved = True
            rc = lib.kvs_iter_seek(ptr, t, len(t))
            if rc == OK:
                self._state = _BEFORE
            elif rc == NOT_FOUND:
                self._state = _STOP
            else:
                raise _error(rc, "iterator seek")
        finally:
            self._h.leave()

    @property
    def closed(self):
        """True once closed (by close(), exhaustion, or DB.close())."""
        return self._h.ptr is None

    def close(self):
        """Destroy the C iterator now. Idempotent."""
        self._close(True)

    def _close(self, blocking):
        h = self.__dict__.get("_h")
        if h is not None and (h.close(blocking) or h.ptr is None):
            self._db._children.discard(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self._close(False)
        except Exception:  # nothing to report to at garbage collection
            pass

    def __repr__(self):
        return "<kvs.Iterator of %r %s>" % (self._db.path, "closed" if self.closed else "open")


class Snapshot:
    """The store as it was at one moment (made by DB.snapshot()).

    ``get``, ``snap[key]``, ``key in snap``, ``iterator()``, ``iter(snap)``,
    ``keys()``/``values()``/``items()`` read what was there then; values that
    had expired by then are absent. Release it when done (``release()``,
    ``with``, garbage collection, DB.close()): until then the records it may
    read stay on disk, and overwriting can so pin up to the store's size
    again. Iterators made from it stay usable after it is released. A
    snapshot may be used by any number of threads at once.
    """

    def __init__(self, db):
        self._db = db
        self._h = db._open_child(lib.kvs_snapshot_create, "kvs_snapshot_t **",
                                 lib.kvs_snapshot_release, False, "snapshot")

    def _c(self, fn, *args):
        ptr = self._h.enter("snapshot")
        try:
            return fn(ptr, *args)
        finally:
            self._h.leave()

    def get(self, key, default=None):
        """The value `key` had, as bytes, or `default` if it was absent."""
        return _get_value(self._c, lib.kvs_snapshot_get, key, default, "snapshot get")

    def __getitem__(self, key):
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key):
        k, klen = _bytes_arg(key, "key")
        rc = self._c(lib.kvs_snapshot_exists, k, klen)
        if rc == OK:
            return True
        if rc == NOT_FOUND:
            return False
        raise _error(rc, "snapshot exists")

    def iterator(self, **options):
        """db.iterator(snapshot=this, **options)."""
        return self._db.iterator(snapshot=self, **options)

    def __iter__(self):
        return self.iterator(include_value=False)

    def keys(self, **options):
        return self.iterator(include_value=False, **options)

    def values(self, **options):
        return self.iterator(include_key=False, **options)

    def items(self, **options):
        return self.iterator(**options)

    @property
    def closed(self):
        """True once released."""
        return self._h.ptr is None

    def release(self):
        """Release the snapshot now (waits for reads in progress). Idempotent."""
        self._release(True)

    close = release

    def _release(self, blocking):
        h = self.__dict__.get("_h")
        if h is not None and (h.close(blocking) or h.ptr is None):
            self._db._children.discard(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    def __del__(self):
        try:
            self._release(False)
        except Exception:
            pass

    def __repr__(self):
        return "<kvs.Snapshot of %r %s>" % (self._db.path, "released" if self.closed else "open")


# --------------------------------------------------------------------------
# Batches


class Batch:
    """Writes applied to a DB as one unit (made by DB.batch()).

    ``b.set(key, value)`` / ``b[key] = value`` and ``b.remove(key)`` / ``del
    b[key]`` add entries (copied; a later entry of a key wins); nothing is
    written until write(). In ``with db.batch() as b:`` the batch is written
    when the block ends normally and dropped if it raises (plyvel's
    ``transaction=True``). Readers see all of a written batch or none of it,
    also after a crash. ``len(b)`` counts the entries, ``b.nbytes`` their size
    against BATCH_MAX_BYTES. An entry over the limits raises TooBigError
    from set() and the batch then refuses to be written (TooBigError) until
    clear(): half of what was meant is never written by accident.
    """

    def __init__(self, db):
        if db.closed:
            raise ClosedError()
        out = ffi.new("kvs_batch_t **")
        rc = lib.kvs_batch_create(out)
        if rc != OK:
            raise _error(rc, "batch")
        self._db = db
        self._ptr = ffi.gc(out[0], lib.kvs_batch_destroy)
        self._lock = threading.Lock()

    def _use(self):
        ptr = self._ptr
        if ptr is None:
            raise ClosedError(message="the batch is closed")
        return ptr

    def set(self, key, value, *, expire_at_ms=None, ttl=None):
        """Add a put; ``expire_at_ms``/``ttl`` as for DB.set (``ttl`` counts from now)."""
        k, klen = _bytes_arg(key, "key")
        v, vlen = _bytes_arg(value, "value")
        expire = _expiry_arg(expire_at_ms, ttl)
        with self._lock:
            ptr = self._use()
            if expire:
                rc = lib.kvs_batch_set_expire(ptr, k, klen, v, vlen, expire)
            else:
                rc = lib.kvs_batch_set(ptr, k, klen, v, vlen)
        if rc != OK:
            raise _error(rc, "batch set")

    def __setitem__(self, key, value):
        self.set(key, value)

    def remove(self, key):
        """Add a removal (of a key that may or may not exist)."""
        k, klen = _bytes_arg(key, "key")
        with self._lock:
            rc = lib.kvs_batch_remove(self._use(), k, klen)
        if rc != OK:
            raise _error(rc, "batch remove")

    def __delitem__(self, key):
        self.remove(key)

    def clear(self):
        """Drop every entry (and an earlier set()'s error)."""
        with self._lock:
            lib.kvs_batch_clear(self._use())

    def __len__(self):
        with self._lock:
            return lib.kvs_batch_count(self._use())

    @property
    def nbytes(self):
        """Bytes the entries take, counted against BATCH_MAX_BYTES."""
        with self._lock:
            return lib.kvs_batch_bytes(self._use())

    def write(self):
        """Apply the entries to the DB as one unit, then empty the batch.

        On an error nothing is written and the entries are kept.
        """
        with self._lock:
            ptr = self._use()
            rc = self._db._c(lib.kvs_batch_apply, ptr)
            if rc == OK:
                lib.kvs_batch_clear(ptr)
        if rc != OK:
            raise _error(rc, "batch write")

    @property
    def closed(self):
        return self._ptr is None

    def close(self):
        """Free the batch without writing it. Idempotent."""
        with self._lock:
            ptr, self._ptr = self._ptr, None
            if ptr is not None:
                ffi.release(ptr)

    def __enter__(self):
        self._use()
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.write()
        finally:
            self.close()

    def __repr__(self):
        if self.closed:
            return "<kvs.Batch closed>"
        return "<kvs.Batch of %d entries>" % len(self)


_MISSING = object()


def open(path, **options):  # noqa: A001 - kvs.open, like lmdb.open
    """Open (by default create) the store in directory `path`; returns a DB.

    Options (keyword-only, defaults are libkvs's):
      sync: 'interval' (fdatasync every sync_interval_ms), 'none' or 'always'
      sync_interval_ms: 1..60000 (1000)
      segment_size: bytes, 4096..1 GiB (64 MiB)
      compaction_trigger: percent of garbage, 1..100 (20; 100 = never in background)
      create_if_missing: True; False raises StoreNotFoundError if there is no store
      read_only: False; True makes writes raise ReadOnlyError
      repair: False; True skips damaged records instead of raising CorruptError
      use_hints: True; False verifies every record at open
      write_through: None (chosen from sync), True (write(2)) or False (mapping)
      logger: a logging.Logger or a callable(level, message) for libkvs's
        messages; called from libkvs's threads; must not call into the DB.

    A wrong type raises TypeError and an unknown sync mode ValueError before
    libkvs is called; numeric ranges are checked by libkvs
    (InvalidArgumentError, a ValueError).
    """
    return DB(path, **options)


@atexit.register
def _close_all():
    # Close what is still open before the interpreter goes away (a logger
    # callback must not run during finalization; close also saves the index).
    for db in list(_open_dbs):
        try:
            db.close()
        except Exception:
            pass
