"""cffi declarations of the libkvs calls the binding uses, and the library loader.

ABI mode: the declarations below are parsed by cffi at import time and the
shared library is opened with ``ffi.dlopen``; nothing is compiled, so the
package needs neither a C compiler nor kvs.h on the machine that imports it.
The price is that cffi cannot check these declarations against kvs.h: keep
them in step with include/kvs.h by hand (same names, same argument order,
same integer widths).

Key and value parameters are declared ``const char *`` where kvs.h says
``const void *`` (the same pointer to the C ABI): cffi then passes a bytes
object by address, without copying it.
"""

import ctypes.util
import os

from cffi import FFI

#: Major version of libkvs this binding is written for (the soname's number).
EXPECTED_MAJOR = 1
#: Oldest libkvs.so.1 with every call declared below (1.1.0: iterators,
#: snapshots, batches, expiry, kvs_update, kvs_backup, kvs_verify).
MIN_VERSION_NUMBER = 10100

CDEF = """
const char *kvs_version(void);
int kvs_version_number(void);

const char *kvs_strerror(int status);
const char *kvs_status_name(int status);

typedef struct kvs_options kvs_options_t;
typedef struct kvs kvs_t;

typedef enum {
    KVS_SYNC_NONE = 0,
    KVS_SYNC_INTERVAL = 1,
    KVS_SYNC_ALWAYS = 2
} kvs_sync_t;

typedef enum {
    KVS_LOG_ERROR = 0,
    KVS_LOG_WARN = 1,
    KVS_LOG_INFO = 2
} kvs_log_level_t;

typedef void (*kvs_log_fn)(void *ctx, kvs_log_level_t level, const char *msg);

kvs_options_t *kvs_options_create(void);
void kvs_options_destroy(kvs_options_t *opts);
void kvs_options_set_sync(kvs_options_t *opts, kvs_sync_t mode);
int kvs_options_set_sync_interval_ms(kvs_options_t *opts, unsigned interval_ms);
int kvs_options_set_segment_size(kvs_options_t *opts, size_t bytes);
int kvs_options_set_compaction_trigger(kvs_options_t *opts, unsigned percent);
void kvs_options_set_create_if_missing(kvs_options_t *opts, int on);
void kvs_options_set_read_only(kvs_options_t *opts, int on);
void kvs_options_set_repair(kvs_options_t *opts, int on);
void kvs_options_set_use_hints(kvs_options_t *opts, int on);
void kvs_options_set_write_through(kvs_options_t *opts, int mode);
void kvs_options_set_logger(kvs_options_t *opts, kvs_log_fn fn, void *ctx);

int kvs_open(const char *dir, const kvs_options_t *opts, kvs_t **out);
int kvs_close(kvs_t *db);
int kvs_set(kvs_t *db, const char *key, size_t klen, const char *val, size_t vlen);
int kvs_set_ex(kvs_t *db, const char *key, size_t klen, const char *val, size_t vlen,
               unsigned flags);
int kvs_get(kvs_t *db, const char *key, size_t klen, void **val, size_t *vlen);
int kvs_exists(kvs_t *db, const char *key, size_t klen);
int kvs_remove(kvs_t *db, const char *key, size_t klen);
void kvs_free(void *ptr);

int kvs_sync(kvs_t *db);
int kvs_compact(kvs_t *db);

int kvs_stat(kvs_t *db, int which, uint64_t *value);
const char *kvs_stat_name(int which);

/* libkvs 1.1: expiry */
int kvs_set_expire(kvs_t *db, const char *key, size_t klen, const char *val, size_t vlen,
                   uint64_t expire_at_ms, unsigned flags);
int kvs_expire(kvs_t *db, const char *key, size_t klen, uint64_t expire_at_ms);
int kvs_get_expire(kvs_t *db, const char *key, size_t klen, uint64_t *expire_at_ms);

/* libkvs 1.1: read-modify-write */
typedef enum {
    KVS_UPDATE_KEEP = 0,
    KVS_UPDATE_SET = 1,
    KVS_UPDATE_REMOVE = 2
} kvs_update_action_t;

typedef struct kvs_update_value {
    const void *val;
    size_t vlen;
    uint64_t expire_at_ms;
} kvs_update_value_t;

typedef int (*kvs_update_fn)(void *ctx, const void *old, size_t oldlen, int found,
                             kvs_update_value_t *out);
int kvs_update(kvs_t *db, const char *key, size_t klen, kvs_update_fn fn, void *ctx);

/* libkvs 1.1: atomic batches */
typedef struct kvs_batch kvs_batch_t;
int kvs_batch_create(kvs_batch_t **out);
void kvs_batch_destroy(kvs_batch_t *b);
int kvs_batch_set(kvs_batch_t *b, const char *key, size_t klen, const char *val, size_t vlen);
int kvs_batch_set_expire(kvs_batch_t *b, const char *key, size_t klen, const char *val,
                         size_t vlen, uint64_t expire_at_ms);
int kvs_batch_remove(kvs_batch_t *b, const char *key, size_t klen);
void kvs_batch_clear(kvs_batch_t *b);
size_t kvs_batch_count(const kvs_batch_t *b);
size_t kvs_batch_bytes(const kvs_batch_t *b);
int kvs_batch_apply(kvs_t *db, kvs_batch_t *b);

/* libkvs 1.1: ordered iteration and snapshots */
typedef struct kvs_snapshot kvs_snapshot_t;
typedef struct kvs_iter kvs_iter_t;
int kvs_snapshot_create(kvs_t *db, kvs_snapshot_t **out);
void kvs_snapshot_release(kvs_snapshot_t *snap);
int kvs_snapshot_get(kvs_snapshot_t *snap, const char *key, size_t klen, void **val,
                     size_t *vlen);
int kvs_snapshot_exists(kvs_snapshot_t *snap, const char *key, size_t klen);
int kvs_iter_create(kvs_t *db, kvs_snapshot_t *snap, kvs_iter_t **out);
void kvs_iter_destroy(kvs_iter_t *it);
int kvs_iter_set_range(kvs_iter_t *it, const char *start, size_t start_len,
                       const char *end, size_t end_len);
int kvs_iter_set_prefix(kvs_iter_t *it, const char *prefix, size_t plen);
int kvs_iter_first(kvs_iter_t *it);
int kvs_iter_last(kvs_iter_t *it);
int kvs_iter_seek(kvs_iter_t *it, const char *key, size_t klen);
int kvs_iter_seek_prev(kvs_iter_t *it, const char *key, size_t klen);
int kvs_iter_next(kvs_iter_t *it);
int kvs_iter_prev(kvs_iter_t *it);
int kvs_iter_valid(const kvs_iter_t *it);
int kvs_iter_key(kvs_iter_t *it, const void **key, size_t *klen);
int kvs_iter_value(kvs_iter_t *it, const void **val, size_t *vlen);

/* libkvs 1.1: backup and verification */
int kvs_backup(kvs_t *db, const char *dest);
typedef void (*kvs_verify_fn)(void *ctx, const char *file, uint64_t offset,
                              const char *problem);
int kvs_verify(kvs_t *db, kvs_verify_fn fn, void *ctx);
"""

# A later API generation can be declared in a CDEF string of its own and
# probed with has_symbol(), so that the package keeps importing against an
# older libkvs.so.1 and only what needs the new calls refuses to work. The
# calls of 1.1 are used throughout (iteration, batches, expiry), so they
# are required instead: MIN_VERSION_NUMBER.

#: libkvs 1.2: optional (DB.get_many needs it; has_symbol tells).
CDEF_1_2 = """
typedef struct kvs_get_item {
    const void *key;
    size_t klen;
    void *val;
    size_t vlen;
    int status;
} kvs_get_item_t;
int kvs_multi_get(kvs_t *db, kvs_get_item_t *items, size_t n, size_t max_bytes);
"""

ffi = FFI()
ffi.cdef(CDEF)
ffi.cdef(CDEF_1_2)


def _candidates():
    """Where to look for the library, most specific first."""
    env = os.environ.get("KVS_LIBRARY")
    if env:
        # Explicit: use exactly this file, and fail loudly if it does not load.
        return [env]
    names = []
    try:
        # Written by `meson install` next to the installed package: the
        # libdir the matching libkvs.so.1 was installed to.
        from . import _install  # type: ignore[attr-defined]

        names.append(os.path.join(_install.LIBDIR, "libkvs.so.%d" % EXPECTED_MAJOR))
    except ImportError:
        pass
    # The soname through the dynamic loader (LD_LIBRARY_PATH, ld.so.cache).
    names.append("libkvs.so.%d" % EXPECTED_MAJOR)
    found = ctypes.util.find_library("kvs")
    if found and found not in names:
        names.append(found)
    return names


def load():
    """Open libkvs and check its version; raise ImportError if that fails."""
    errors = []
    lib = None
    for name in _candidates():
        try:
            lib = ffi.dlopen(name)
            break
        except OSError as e:
            errors.append("%s: %s" % (name, e))
    if lib is None:
        raise ImportError(
            "kvs: cannot load libkvs (set KVS_LIBRARY to the path of libkvs.so.%d); tried: %s"
            % (EXPECTED_MAJOR, "; ".join(errors))
        )
    number = lib.kvs_version_number()
    if number // 10000 != EXPECTED_MAJOR or number < MIN_VERSION_NUMBER:
        raise ImportError(
            "kvs: libkvs %s (%d) loaded, but this binding needs %d.x, at least %d"
            % (ffi.string(lib.kvs_version()).decode(), number, EXPECTED_MAJOR, MIN_VERSION_NUMBER)
        )
    return lib


def has_symbol(lib, name):
    """True if the loaded library exports `name` (for optional, newer calls)."""
    try:
        getattr(lib, name)
    except AttributeError:
        return False
    return True


lib = load()
