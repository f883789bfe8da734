/**
 * @file kvs.h
 * @brief libkvs: an embeddable, persistent, thread-safe key/value store.
 *
 * libkvs keeps byte-string keys and values in a directory of numbered,
 * append-only, checksummed segment files, with an in-memory hash index that
 * points at the latest value of each key. Stale records are reclaimed by a
 * background compaction. This header is the whole public interface: anything
 * not declared here is internal and may change.
 *
 * ## Tutorial
 *
 * @code
 * #include <kvs.h>
 * #include <stdio.h>
 * #include <string.h>
 *
 * int main(void)
 * {
 *     kvs_t *db;
 *     int rc = kvs_open("/tmp/demo-db", NULL, &db);   // NULL options = defaults
 *     if (rc != KVS_OK) {
 *         fprintf(stderr, "open: %s\n", kvs_strerror(rc));
 *         return 1;
 *     }
 *     rc = kvs_set(db, "greeting", 8, "hello", 5);
 *     if (rc != KVS_OK)
 *         fprintf(stderr, "set: %s\n", kvs_strerror(rc));
 *
 *     void *val;
 *     size_t vlen;
 *     rc = kvs_get(db, "greeting", 8, &val, &vlen);
 *     if (rc == KVS_OK) {
 *         printf("%s\n", (char *)val);   // the buffer is NUL-terminated
 *         kvs_free(val);
 *     } else if (rc == KVS_NOT_FOUND) {
 *         printf("no greeting\n");
 *     }
 *     kvs_remove(db, "greeting", 8);
 *     return kvs_close(db) == KVS_OK ? 0 : 1;
 * }
 * @endcode
 *
 * Build it with `cc demo.c $(pkg-config --cflags --libs kvs)`.
 *
 * ## Conventions
 * - Every call returns an `int` status: #KVS_OK (0), a positive
 *   informational code (#KVS_NOT_FOUND, #KVS_EXISTS), or a negative error.
 *   Treat any negative value you do not know as an error: new codes may be
 *   added in minor releases. kvs_strerror() names every code.
 * - Output parameters are written on every path, also on failure (`NULL` / 0).
 * - Memory returned to the caller comes from `malloc` and is released with
 *   kvs_free().
 * - Destructors accept `NULL`.
 *
 * ## Caveats
 * - Do not use a handle in a child after `fork()`: the child has none of the
 *   library's background threads and shares the directory lock.
 * - Do not put a store on a network file system (NFS, SMB): the directory lock
 *   (`flock`) and the shared file mappings are not reliable there.
 * - Do not truncate or overwrite segment files while a store is open: the
 *   library reads them through memory mappings, and a file shrunk underneath
 *   a mapping makes the process receive `SIGBUS`.
 * - A 64-bit platform is required (segments are memory-mapped).
 */
#ifndef KVS_H
#define KVS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @cond INTERNAL */
#if defined(KVS_BUILDING_LIBRARY) && defined(__GNUC__)
#define KVS_API __attribute__((visibility("default")))
#else
#define KVS_API
#endif
/** @endcond */

/**
 * @defgroup version Version
 * @brief Compile-time and run-time version of the library.
 *
 * The soname follows the major version: within one major version the ABI
 * only grows (new functions, new status codes, new options), it never breaks.
 * @{
 */
/** Major version: bumped on an incompatible ABI change. */
#define KVS_VERSION_MAJOR 1
/** Minor version: bumped when functions or options are added. */
#define KVS_VERSION_MINOR 4
/** Patch version: bumped for fixes only. */
#define KVS_VERSION_PATCH 3
/** The version as a string, "MAJOR.MINOR.PATCH". */
#define KVS_VERSION_STRING "1.4.3"
/** The version as one number, `MAJOR * 10000 + MINOR * 100 + PATCH`. */
#define KVS_VERSION_NUMBER \
    (KVS_VERSION_MAJOR * 10000 + KVS_VERSION_MINOR * 100 + KVS_VERSION_PATCH)

/**
 * @brief Version of the library actually linked, as a string.
 * @return A static string such as "1.0.0"; compare it with
 *         #KVS_VERSION_STRING to detect a header/library mismatch.
 */
KVS_API const char *kvs_version(void);

/**
 * @brief Version of the library actually linked, as a number.
 * @return The linked library's #KVS_VERSION_NUMBER.
 */
KVS_API int kvs_version_number(void);
/** @} */

/**
 * @defgroup status Status codes
 * @brief Values returned by every call.
 *
 * #KVS_OK is 0; informational outcomes are positive; errors are negative.
 * @{
 */
/** Success. */
#define KVS_OK 0
/** The key does not exist (kvs_get(), kvs_remove(), kvs_exists()). Not an error. */
#define KVS_NOT_FOUND 1
/** The key exists, so a kvs_set_ex() with #KVS_SET_IF_ABSENT wrote nothing. Not an error. */
#define KVS_EXISTS 2
/** An argument is invalid (NULL pointer, empty key, value out of range). */
#define KVS_EINVAL (-1)
/** A system call on a file failed; `errno` holds its reason (`ENOSPC` for a full disk). */
#define KVS_EIO (-2)
/** Data on disk failed a checksum or format check and cannot be used. */
#define KVS_ECORRUPT (-3)
/** Memory could not be allocated. */
#define KVS_ENOMEM (-4)
/** The directory is locked by another open handle, in this or another process. */
#define KVS_EBUSY (-5)
/** A key or value is larger than #KVS_KEY_MAX or #KVS_VALUE_MAX. */
#define KVS_ETOOBIG (-6)
/** A write was attempted on a handle opened read-only. */
#define KVS_EREADONLY (-7)
/** The directory holds segments of an on-disk format this library does not know. */
#define KVS_EVERSION (-8)
/** The directory does not hold a store and the options forbid creating one. */
#define KVS_ENOENT (-9)
/** The destination of kvs_backup() exists and is not an empty directory. */
#define KVS_EEXIST (-10)

/**
 * Every status code with its value and message, for tables and tests:
 * `X(name, value, message)`. kvs_strerror() and kvs_status_name() are built
 * from it (libuv's `UV_ERRNO_MAP`).
 */
#define KVS_STATUS_MAP(X)                                                   \
    X(KVS_OK, 0, "success")                                                 \
    X(KVS_NOT_FOUND, 1, "key not found")                                    \
    X(KVS_EXISTS, 2, "key already exists")                                  \
    X(KVS_EINVAL, -1, "invalid argument")                                   \
    X(KVS_EIO, -2, "I/O error")                                             \
    X(KVS_ECORRUPT, -3, "data on disk is corrupt")                          \
    X(KVS_ENOMEM, -4, "out of memory")                                      \
    X(KVS_EBUSY, -5, "store is locked by another handle, or has open iterators") \
    X(KVS_ETOOBIG, -6, "key, value or batch too large")                     \
    X(KVS_EREADONLY, -7, "store is open read-only")                         \
    X(KVS_EVERSION, -8, "unsupported on-disk format version")               \
    X(KVS_ENOENT, -9, "no store in this directory")                         \
    X(KVS_EEXIST, -10, "destination exists and is not empty")

/**
 * @brief A short English description of a status code.
 * @param[in] status Any value returned by a kvs_* call (unknown values allowed).
 * @return A static, NUL-terminated string; never `NULL`.
 */
KVS_API const char *kvs_strerror(int status);

/**
 * @brief The symbolic name of a status code, e.g. "KVS_EIO".
 * @param[in] status Any value returned by a kvs_* call (unknown values allowed).
 * @return A static string; "KVS_UNKNOWN" for a value this version does not know.
 */
KVS_API const char *kvs_status_name(int status);
/** @} */

/**
 * @defgroup limits Limits
 * @brief The largest key and value a store accepts.
 * @{
 */
/** Largest key, in bytes (keys must also be at least one byte long). */
#define KVS_KEY_MAX 65535u
/** Largest value, in bytes (512 MiB, the same bound Redis puts on a string). */
#define KVS_VALUE_MAX (512u * 1024u * 1024u)
/** @} */

/**
 * @defgroup options Options
 * @brief Settings for kvs_open(), in an opaque object so that they can grow.
 *
 * Create one with kvs_options_create(), change what you need, pass it to
 * kvs_open() and destroy it: kvs_open() copies the options, so they may be
 * destroyed right after. Setters that can reject a value return a status.
 * @{
 */

/** Opaque set of options for kvs_open(). */
typedef struct kvs_options kvs_options_t;

/** How durable an acknowledged write is. */
typedef enum {
    /** A write has been handed to the operating system when the call returns:
     *  it survives a crash of the process (`kill -9`), not a power cut. */
    KVS_SYNC_NONE = 0,
    /** As #KVS_SYNC_NONE, plus a background `fdatasync` at least once every
     *  sync interval (default one second): a power cut loses at most about
     *  that much. The default. */
    KVS_SYNC_INTERVAL = 1,
    /** A write returns only once it is on stable storage. Writers calling at
     *  the same time share one `fdatasync` (group commit). */
    KVS_SYNC_ALWAYS = 2
} kvs_sync_t;

/** Severity of a message passed to a #kvs_log_fn. */
typedef enum {
    KVS_LOG_ERROR = 0, /**< Something failed; data may be unavailable. */
    KVS_LOG_WARN = 1,  /**< Something was repaired or skipped (e.g. a torn tail). */
    KVS_LOG_INFO = 2   /**< Normal but noteworthy events (compaction, recovery). */
} kvs_log_level_t;

/**
 * @brief A callback receiving the library's diagnostic messages.
 *
 * The library never writes to stdout or stderr itself. The callback may be
 * called from any of the library's threads, at any time between kvs_open()
 * and the return of kvs_close(); it must not call back into the library.
 * @param ctx The pointer given to kvs_options_set_logger().
 * @param level How severe the message is.
 * @param msg A NUL-terminated message without a trailing newline.
 */
typedef void (*kvs_log_fn)(void *ctx, kvs_log_level_t level, const char *msg);

/**
 * @brief Allocate a set of options holding the defaults.
 * @return The new options, or `NULL` if memory ran out.
 */
KVS_API kvs_options_t *kvs_options_create(void);

/**
 * @brief Release options. `NULL` is a no-op.
 * @param[in] opts Options from kvs_options_create(), or `NULL`.
 */
KVS_API void kvs_options_destroy(kvs_options_t *opts);

/**
 * @brief Choose the durability of writes. Default #KVS_SYNC_INTERVAL.
 * @param[in,out] opts The options to change (`NULL` is ignored).
 * @param[in] mode One of #kvs_sync_t; kvs_open() rejects any other value with #KVS_EINVAL.
 */
KVS_API void kvs_options_set_sync(kvs_options_t *opts, kvs_sync_t mode);

/**
 * @brief Set the period of the background sync of #KVS_SYNC_INTERVAL.
 * @param[in,out] opts The options to change.
 * @param[in] interval_ms Milliseconds between two syncs, 1 to 60000. Default 1000.
 * @return #KVS_OK, or #KVS_EINVAL for a `NULL` @p opts or a value out of range.
 */
KVS_API int kvs_options_set_sync_interval_ms(kvs_options_t *opts, unsigned interval_ms);

/**
 * @brief Set the size at which the active segment is sealed and a new one started.
 *
 * A record larger than this gets a segment of its own. Compaction writes
 * segments of at most this size too, and of at most 131,072 records (which
 * bounds the memory a compaction holds).
 * @param[in,out] opts The options to change.
 * @param[in] bytes 4096 to 1 GiB. Default 64 MiB.
 * @return #KVS_OK, or #KVS_EINVAL for a `NULL` @p opts or a value out of range.
 */
KVS_API int kvs_options_set_segment_size(kvs_options_t *opts, size_t bytes);

/**
 * @brief Set how much garbage triggers a background compaction.
 *
 * Compaction starts when stale bytes (overwritten or removed records) reach
 * this fraction of the bytes in sealed segments, and at least one segment's
 * worth of them exists (or 1 MiB, whichever is smaller). It then rewrites the
 * segments holding the most garbage until the fraction is at most half the
 * trigger. When nothing was written for a second, and fewer than 10,000
 * gets a second were made, it uses a tenth of the trigger instead, so a
 * store at rest settles with less garbage (by default under 1 %) than a
 * busy one, without taking CPU time from a read-heavy load for what only
 * saves space; ten seconds after the last write it does so whatever the
 * reads. kvs_close() compacts too, within a budget, down to that
 * idle level.
 * @param[in,out] opts The options to change.
 * @param[in] percent 1 to 100; 100 never compacts in the background or at close
 *            (kvs_compact() still works). Default 20.
 * @return #KVS_OK, or #KVS_EINVAL for a `NULL` @p opts or a value out of range.
 */
KVS_API int kvs_options_set_compaction_trigger(kvs_options_t *opts, unsigned percent);

/**
 * @brief Create the directory and an empty store if there is none. Default on.
 * @param[in,out] opts The options to change (`NULL` is ignored).
 * @param[in] on Non-zero to create, zero to fail with #KVS_ENOENT instead.
 */
KVS_API void kvs_options_set_create_if_missing(kvs_options_t *opts, int on);

/**
 * @brief Open the store read-only. Default off.
 *
 * A read-only handle never changes the directory: writes return
 * #KVS_EREADONLY, a torn tail left by a crash is ignored in memory rather
 * than cut off, and no compaction runs. It still takes the directory lock
 * (without creating the `LOCK` file where a copy of a store has none: it
 * then locks the directory itself, which writers lock too).
 * @param[in,out] opts The options to change (`NULL` is ignored).
 * @param[in] on Non-zero for read-only.
 */
KVS_API void kvs_options_set_read_only(kvs_options_t *opts, int on);

/**
 * @brief Skip damaged records at open instead of failing. Default off.
 *
 * By default kvs_open() returns #KVS_ECORRUPT when a segment is damaged
 * anywhere but at the torn tail a crash can leave. With repair on, the
 * damaged bytes are skipped, the loss is counted in #KVS_STAT_RECOVERY_SKIPPED_BYTES
 * and reported to the logger, and the damaged segments are rewritten by the
 * next compaction. Keys whose latest record was lost fall back to an older
 * intact record or disappear.
 * @param[in,out] opts The options to change (`NULL` is ignored).
 * @param[in] on Non-zero to repair.
 */
KVS_API void kvs_options_set_repair(kvs_options_t *opts, int on);

/**
 * @brief Read hint files at open. Default on.
 *
 * Hint files let kvs_open() rebuild the index without reading the values.
 * Turning this off makes open scan and verify every record of every segment
 * (slower, but it checks every checksum).
 * @param[in,out] opts The options to change (`NULL` is ignored).
 * @param[in] on Non-zero to use hint files.
 */
KVS_API void kvs_options_set_use_hints(kvs_options_t *opts, int on);

/**
 * @brief Write records with a system call rather than through a file mapping.
 *
 * By default records are copied into a shared mapping of the active segment
 * (no system call per write: the fastest way to hand a write to the
 * operating system), except under #KVS_SYNC_ALWAYS, where each write is
 * synced at once. Syncing pages written through a mapping costs extra (the
 * kernel write-protects them, interrupting every CPU that runs the process),
 * so an application that calls kvs_sync() after every few writes is better
 * served by write-through. Durability is the same either way.
 * @param[in,out] opts The options to change (`NULL` is ignored).
 * @param[in] mode 1 for write-through, 0 for the mapping, -1 (the default)
 *            to choose from the sync mode; other values are treated as -1.
 */
KVS_API void kvs_options_set_write_through(kvs_options_t *opts, int mode);

/**
 * @brief Receive diagnostic messages. Default: none are delivered.
 * @param[in,out] opts The options to change (`NULL` is ignored).
 * @param[in] fn The callback, or `NULL` to turn logging off.
 * @param[in] ctx Passed back to @p fn as its first argument.
 */
KVS_API void kvs_options_set_logger(kvs_options_t *opts, kvs_log_fn fn, void *ctx);
/** @} */

/**
 * @defgroup core Core calls
 * @brief Open, read, write, close.
 * @{
 */

/** Opaque handle on an open store; safe to use from any number of threads at once. */
typedef struct kvs kvs_t;

/**
 * @brief Open (and by default create) the store in a directory.
 *
 * Rebuilds the index from the segments (from their hint files where those are
 * intact), cuts off a torn record a crash left at the end of a segment, and
 * starts the background threads (interval sync, compaction).
 *
 * An open store holds a few file descriptors (the directory, its lock, the
 * segment being written and those sealed but not yet synced), not one per
 * segment: sealed segments are read through their memory mappings. When the
 * process has none left, a write that needs a new segment fails with
 * #KVS_EIO and `errno` `EMFILE`.
 * @param[in] dir Path of the store's directory.
 * @param[in] opts Options, or `NULL` for the defaults. Copied; may be destroyed afterwards.
 * @param[out] out Receives the handle; `NULL` on failure.
 * @return #KVS_OK;
 *         #KVS_EINVAL (`NULL` @p dir or @p out, invalid option values);
 *         #KVS_ENOENT (no store and create-if-missing is off);
 *         #KVS_EBUSY (the directory is open in this or another process);
 *         #KVS_ECORRUPT (a damaged segment, and repair is off);
 *         #KVS_EVERSION (an unknown format version);
 *         #KVS_EIO (a system call failed; `errno` says why);
 *         #KVS_ENOMEM.
 */
KVS_API int kvs_open(const char *dir, const kvs_options_t *opts, kvs_t **out);

/**
 * @brief Flush, sync and close a store, and free the handle.
 *
 * Waits for a running compaction to stop at a safe point, seals the active
 * segment, writes its hint file and syncs everything. If the garbage is
 * above a tenth of the compaction trigger (what the background thread
 * leaves once the store is idle), it first compacts as that thread would,
 * the segments with the most garbage first (the one just sealed included),
 * for at most about a second: after a million keys were written and then a
 * million random overwrites (kvs-bench), the directory holds 1.28 times the
 * data instead of 2.3 to 2.4, and close took 0.2 to 0.4 s with its final
 * sync (nothing is compacted for a read-only handle or a store whose
 * trigger is 100). The handle is freed
 * even when an error is returned, except for #KVS_EBUSY. No other thread may
 * use the handle during or after this call.
 * @param[in] db The handle, or `NULL` (a no-op returning #KVS_OK).
 * @return #KVS_OK;
 *         #KVS_EIO if the final sync failed (writes acknowledged under
 *         #KVS_SYNC_NONE or #KVS_SYNC_INTERVAL may then not be durable);
 *         #KVS_EBUSY if iterators or snapshots of the store are still open:
 *         nothing was closed and the handle stays valid; destroy them
 *         (kvs_iter_destroy(), kvs_snapshot_release()) and call again.
 */
KVS_API int kvs_close(kvs_t *db);

/**
 * @brief Store a value under a key, replacing any previous value.
 * @param[in] db The handle.
 * @param[in] key The key bytes (any bytes, NUL allowed).
 * @param[in] klen Key length, 1 to #KVS_KEY_MAX.
 * @param[in] val The value bytes; may be `NULL` when @p vlen is 0.
 * @param[in] vlen Value length, 0 to #KVS_VALUE_MAX.
 * @return #KVS_OK;
 *         #KVS_EINVAL (`NULL` @p db or @p key, empty key, `NULL` @p val with @p vlen > 0);
 *         #KVS_ETOOBIG (key or value over the limits; nothing is written);
 *         #KVS_EREADONLY (read-only handle);
 *         #KVS_EIO (the disk is full or a sync failed; see the note);
 *         #KVS_ENOMEM.
 * @note Under #KVS_SYNC_ALWAYS this call waits for `fdatasync`. Another
 *       thread may read the new value slightly before the call returns.
 * @note After a failed sync the handle refuses every further write with
 *       #KVS_EIO (the operating system may have dropped the unsynced pages):
 *       close and reopen it. Everything acknowledged before stays readable.
 */
KVS_API int kvs_set(kvs_t *db, const void *key, size_t klen, const void *val, size_t vlen);

/** Flags for kvs_set_ex(). */
typedef enum {
    KVS_SET_IF_ABSENT = 1u << 0, /**< Write only if the key does not exist (Redis `NX`). */
    KVS_SET_IF_PRESENT = 1u << 1, /**< Write only if the key exists (Redis `XX`). */
    KVS_SET_KEEP_EXPIRY = 1u << 2 /**< Keep the key's current expiry (Redis `KEEPTTL`). */
} kvs_set_flags_t;

/**
 * @brief kvs_set() with conditions, checked and applied atomically.
 * @param[in] db The handle.
 * @param[in] key The key bytes.
 * @param[in] klen Key length, 1 to #KVS_KEY_MAX.
 * @param[in] val The value bytes; may be `NULL` when @p vlen is 0.
 * @param[in] vlen Value length, 0 to #KVS_VALUE_MAX.
 * @param[in] flags 0 or any of #kvs_set_flags_t, except both
 *            #KVS_SET_IF_ABSENT and #KVS_SET_IF_PRESENT (#KVS_EINVAL).
 * @return As kvs_set(), plus #KVS_EXISTS (#KVS_SET_IF_ABSENT and the key
 *         exists) and #KVS_NOT_FOUND (#KVS_SET_IF_PRESENT and it does not);
 *         in both cases nothing is written. A key whose value expired does
 *         not exist.
 * @note Without #KVS_SET_KEEP_EXPIRY the value never expires, whatever the
 *       old one did (as Redis's SET).
 */
KVS_API int kvs_set_ex(kvs_t *db, const void *key, size_t klen, const void *val, size_t vlen,
                       unsigned flags);

/**
 * @brief Read the latest value of a key.
 * @param[in] db The handle.
 * @param[in] key The key bytes.
 * @param[in] klen Key length, 1 to #KVS_KEY_MAX.
 * @param[out] val Receives a `malloc`ed copy of the value followed by one NUL
 *             byte not counted in @p vlen (so string values are C strings);
 *             never `NULL` on #KVS_OK, even for an empty value; `NULL` otherwise.
 *             Release it with kvs_free().
 * @param[out] vlen Receives the value's length; 0 when not #KVS_OK.
 * @return #KVS_OK; #KVS_NOT_FOUND;
 *         #KVS_EINVAL (`NULL` argument, empty key);
 *         #KVS_ETOOBIG (key longer than #KVS_KEY_MAX: it cannot exist);
 *         #KVS_ECORRUPT (the stored record fails its checksum; no data is returned);
 *         #KVS_ENOMEM.
 * @note Never waits for compaction or for `fdatasync`.
 */
KVS_API int kvs_get(kvs_t *db, const void *key, size_t klen, void **val, size_t *vlen);

/**
 * @brief Read the latest value of a key into the caller's buffer (since 1.4.0).
 *
 * The same read as kvs_get(), without its allocation: for callers that
 * have room for the value at hand (a fixed-size record, a reply buffer)
 * and read often. No NUL byte is added.
 * @param[in] db The handle.
 * @param[in] key The key bytes.
 * @param[in] klen Key length, 1 to #KVS_KEY_MAX.
 * @param[out] buf Receives the value on #KVS_OK; may be `NULL` only if
 *             @p cap is 0. Its contents are unspecified on any other status.
 * @param[in] cap Bytes @p buf can take.
 * @param[out] vlen Receives the value's length on #KVS_OK, and on
 *             #KVS_ETOOBIG when the value is longer than @p cap (so the
 *             caller can make room and read again); 0 otherwise.
 * @return #KVS_OK; #KVS_NOT_FOUND;
 *         #KVS_ETOOBIG (the value is longer than @p cap: @p vlen says how
 *         long, nothing is copied; or the key is longer than #KVS_KEY_MAX:
 *         @p vlen is 0);
 *         #KVS_EINVAL (`NULL` @p db, @p key or @p vlen, empty key, `NULL`
 *         @p buf with a non-zero @p cap);
 *         #KVS_ECORRUPT (the stored record fails its checksum).
 * @note Never waits for compaction or for `fdatasync`, never allocates.
 */
KVS_API int kvs_get_into(kvs_t *db, const void *key, size_t klen, void *buf, size_t cap,
                         size_t *vlen);

/** One key of a kvs_multi_get(): the key going in, its value and status coming out. */
typedef struct kvs_get_item {
    const void *key; /**< [in] The key bytes. */
    size_t klen;     /**< [in] Key length, 1 to #KVS_KEY_MAX. */
    void *val;       /**< [out] As kvs_get()'s @p val: a copy to release with kvs_free(), or `NULL`. */
    size_t vlen;     /**< [out] The value's length; 0 when `status` is neither #KVS_OK
                          nor the #KVS_ETOOBIG of a value past the call's byte limit. */
    int status;      /**< [out] What kvs_get() would have returned for this key. */
} kvs_get_item_t;

/**
 * @brief Read many keys in one call, faster than as many kvs_get() calls.
 *
 * Each key is read as kvs_get() reads it, but the keys are taken in groups
 * whose memory loads (the index slot, then the record) overlap, where
 * separate gets wait for each in turn: on a store larger than the CPU's
 * caches this is most of a get's time (kvs-bench's `multiget` row).
 * kvs-server's `MGET` uses it.
 *
 * The values are those of one moment, as Redis's `MGET` gives: no write,
 * removal or batch falls between the reads of two keys. The reads are made
 * again when one did (checked with two counters, as a seqlock), and after
 * two such tries they are made with writes held off, which then wait for
 * them (about 0.15 µs a key: keep very large calls for quiet moments).
 * @param[in] db The handle.
 * @param[in,out] items The keys (`key`, `klen` of each #kvs_get_item_t);
 *                each gets its `val`, `vlen` and `status`. The same key may
 *                appear more than once.
 * @param[in] n Number of items; 0 does nothing.
 * @param[in] max_bytes Most value bytes to copy in all (0: no limit), so
 *            that a server can bound what one request makes it hold. An item
 *            whose value would take the total past it gets #KVS_ETOOBIG and,
 *            in `vlen`, its value's length (nothing is copied); the items
 *            after it are still read.
 * @return #KVS_OK when every item was looked up (its status tells the
 *         outcome: #KVS_OK, #KVS_NOT_FOUND, or an error as kvs_get()'s);
 *         #KVS_EINVAL (`NULL` @p db, or `NULL` @p items with @p n > 0;
 *         no item is touched).
 * @note Never waits for compaction or for `fdatasync`. On an item's error
 *       the others are still read.
 */
KVS_API int kvs_multi_get(kvs_t *db, kvs_get_item_t *items, size_t n, size_t max_bytes);

/**
 * @brief kvs_multi_get_ex() flag: read the keys one after another, each at
 *        a moment of its own, as that many kvs_get() calls in a row would.
 *
 * Each key is read after the one before it, so a value never goes back in
 * time from one item to the next, but a write may fall between two reads.
 * The memory loads still overlap, and the call never waits for writers nor
 * makes them wait: what a server needs to answer a pipeline of separate
 * `GET`s at once (kvs-server does).
 */
#define KVS_MULTI_GET_EACH 1u

/**
 * @brief kvs_multi_get() with flags (since 1.3.0).
 * @param[in] db As kvs_multi_get()'s.
 * @param[in,out] items As kvs_multi_get()'s.
 * @param[in] n As kvs_multi_get()'s.
 * @param[in] max_bytes As kvs_multi_get()'s.
 * @param[in] flags 0 (exactly kvs_multi_get()), or #KVS_MULTI_GET_EACH.
 * @return As kvs_multi_get(); #KVS_EINVAL also for an unknown flag (no item
 *         is touched).
 */
KVS_API int kvs_multi_get_ex(kvs_t *db, kvs_get_item_t *items, size_t n, size_t max_bytes,
                             unsigned flags);

/**
 * @brief Tell whether a key exists, without copying its value.
 * @param[in] db The handle.
 * @param[in] key The key bytes.
 * @param[in] klen Key length, 1 to #KVS_KEY_MAX.
 * @return #KVS_OK (it exists), #KVS_NOT_FOUND (absent, or its value expired),
 *         #KVS_EINVAL, #KVS_ETOOBIG.
 * @note The record's checksum is not read: kvs_get() reports damage.
 */
KVS_API int kvs_exists(kvs_t *db, const void *key, size_t klen);

/**
 * @brief Remove a key.
 *
 * Writes a tombstone record, so the removal survives a restart like a write.
 * @param[in] db The handle.
 * @param[in] key The key bytes.
 * @param[in] klen Key length, 1 to #KVS_KEY_MAX.
 * @return #KVS_OK (removed); #KVS_NOT_FOUND (there was no such key, or its
 *         value expired; nothing is written); #KVS_EINVAL; #KVS_ETOOBIG; #KVS_EREADONLY; #KVS_EIO; #KVS_ENOMEM.
 * @note Durability and waiting as for kvs_set().
 */
KVS_API int kvs_remove(kvs_t *db, const void *key, size_t klen);

/**
 * @brief Release memory returned by the library. `NULL` is a no-op.
 * @param[in] ptr A buffer from kvs_get(), or `NULL`.
 */
KVS_API void kvs_free(void *ptr);
/** @} */

/**
 * @defgroup expiry Expiry (TTL)
 * @brief Values that disappear at a given time.
 *
 * An expiry is an absolute time in milliseconds since the Unix epoch
 * (`CLOCK_REALTIME`); 0 means never. From that moment the key reads as
 * absent everywhere: kvs_get(), kvs_exists(), iterators and snapshots
 * (which judge by the time they were created), and conditional writes. The
 * space is reclaimed by compaction, which replaces an expired value by a
 * tombstone. Until then the key still counts in #KVS_STAT_KEYS. Moving the
 * system clock moves expiry with it.
 * @{
 */

/**
 * @brief kvs_set_ex() with an expiry.
 * @param[in] db The handle.
 * @param[in] key The key bytes.
 * @param[in] klen Key length, 1 to #KVS_KEY_MAX.
 * @param[in] val The value bytes; may be `NULL` when @p vlen is 0.
 * @param[in] vlen Value length, 0 to #KVS_VALUE_MAX.
 * @param[in] expire_at_ms When the value expires (ms since the epoch), or 0
 *            for never. A time in the past writes a value that is already
 *            gone (as Redis's `SET ... PXAT` with a past time).
 * @param[in] flags As for kvs_set_ex(); #KVS_SET_KEEP_EXPIRY needs
 *            @p expire_at_ms 0 (else #KVS_EINVAL).
 * @return As kvs_set_ex().
 */
KVS_API int kvs_set_expire(kvs_t *db, const void *key, size_t klen, const void *val,
                           size_t vlen, uint64_t expire_at_ms, unsigned flags);

/**
 * @brief Set or clear the expiry of an existing key.
 *
 * The value is written again with the new expiry (records never change in
 * place), so this costs a write of the value's size.
 * @param[in] db The handle.
 * @param[in] key The key bytes.
 * @param[in] klen Key length, 1 to #KVS_KEY_MAX.
 * @param[in] expire_at_ms The new expiry (ms since the epoch), or 0 to make
 *            the value permanent.
 * @return #KVS_OK; #KVS_NOT_FOUND (no such key; nothing written);
 *         #KVS_ECORRUPT (its record fails its checksum); as kvs_set() otherwise.
 */
KVS_API int kvs_expire(kvs_t *db, const void *key, size_t klen, uint64_t expire_at_ms);

/**
 * @brief Read the expiry of a key.
 * @param[in] db The handle.
 * @param[in] key The key bytes.
 * @param[in] klen Key length, 1 to #KVS_KEY_MAX.
 * @param[out] expire_at_ms Receives the expiry (ms since the epoch), or 0
 *             when the value never expires (also on error).
 * @return #KVS_OK; #KVS_NOT_FOUND (no such key); #KVS_EINVAL; #KVS_ETOOBIG.
 */
KVS_API int kvs_get_expire(kvs_t *db, const void *key, size_t klen, uint64_t *expire_at_ms);
/** @} */

/**
 * @defgroup update Read-modify-write
 * @brief Change a value based on the current one, atomically.
 * @{
 */

/** What a kvs_update() callback asks for. */
typedef enum {
    KVS_UPDATE_KEEP = 0,  /**< Write nothing. */
    KVS_UPDATE_SET = 1,   /**< Write the value the callback gave. */
    KVS_UPDATE_REMOVE = 2 /**< Remove the key. */
} kvs_update_action_t;

/** The new value a kvs_update() callback gives. */
typedef struct kvs_update_value {
    const void *val;       /**< The new value; must stay valid until kvs_update() returns. */
    size_t vlen;           /**< Its length, 0 to #KVS_VALUE_MAX. */
    uint64_t expire_at_ms; /**< On entry the current expiry (0: none); the one to write. */
} kvs_update_value_t;

/**
 * @brief A kvs_update() callback.
 * @param ctx The context given to kvs_update().
 * @param old The current value, or `NULL` when the key does not exist; valid
 *        during the call only (not NUL-terminated).
 * @param oldlen Its length.
 * @param found 1 if the key exists, 0 if not (or its value expired).
 * @param out Where to put the new value and its expiry for #KVS_UPDATE_SET.
 * @return A #kvs_update_action_t, or a negative status to abort: kvs_update()
 *         then writes nothing and returns that status.
 */
typedef int (*kvs_update_fn)(void *ctx, const void *old, size_t oldlen, int found,
                             kvs_update_value_t *out);

/**
 * @brief Read-modify-write one key atomically (FASTER's RMW).
 *
 * The callback gets the current value and decides: a new value, removal, or
 * nothing. No other write of any key can come between the read and the
 * write: the callback runs under the store's write lock, so it must be
 * short and must not call into the store (that would deadlock). Readers are
 * not blocked. Redis's INCR, APPEND, GETSET and friends are built on it in
 * kvs-server.
 * @param[in] db The handle.
 * @param[in] key The key bytes.
 * @param[in] klen Key length, 1 to #KVS_KEY_MAX.
 * @param[in] fn The callback.
 * @param[in] ctx Passed to @p fn.
 * @return #KVS_OK (done as asked, also #KVS_UPDATE_KEEP); #KVS_NOT_FOUND
 *         (#KVS_UPDATE_REMOVE of an absent key); the callback's negative
 *         status; #KVS_ECORRUPT (the current record fails its checksum; the
 *         callback is not called); #KVS_ETOOBIG; #KVS_EINVAL (`NULL` @p fn,
 *         an unknown action); as kvs_set() otherwise.
 */
KVS_API int kvs_update(kvs_t *db, const void *key, size_t klen, kvs_update_fn fn, void *ctx);
/** @} */

/**
 * @defgroup batch Atomic batches
 * @brief Many puts and removes, applied as one unit (LevelDB's WriteBatch).
 *
 * After a crash at any moment, either every entry of an applied batch is on
 * disk or none is; readers (gets, iterators, snapshots) see none of it or
 * all of it. The sync mode applies to the batch as to one write: under
 * #KVS_SYNC_ALWAYS one `fdatasync` covers it, shared with concurrent
 * writers. Entries apply in the order they were added (a later entry of the
 * same key wins). A batch is independent of any store and can be applied
 * again; it is not thread-safe.
 * @note While a batch is applied, gets of the keys in the shards it
 *       touches wait (about 0.1 µs per entry: 10 ms for 100,000 entries).
 * @{
 */

/** Most bytes a batch may hold: each entry costs 11 bytes plus its key and
 * value (19 with an expiry). */
#define KVS_BATCH_MAX_BYTES (768u * 1024u * 1024u)

/** A list of writes to apply atomically. */
typedef struct kvs_batch kvs_batch_t;

/**
 * @brief Create an empty batch.
 * @param[out] out Receives the batch.
 * @return #KVS_OK, #KVS_EINVAL, #KVS_ENOMEM.
 */
KVS_API int kvs_batch_create(kvs_batch_t **out);

/**
 * @brief Destroy a batch.
 * @param[in] b The batch, or `NULL` (a no-op).
 */
KVS_API void kvs_batch_destroy(kvs_batch_t *b);

/**
 * @brief Add a put (the key and value are copied).
 * @param[in] b The batch.
 * @param[in] key The key bytes.
 * @param[in] klen Key length, 1 to #KVS_KEY_MAX.
 * @param[in] val The value bytes; may be `NULL` when @p vlen is 0.
 * @param[in] vlen Value length, 0 to #KVS_VALUE_MAX.
 * @return #KVS_OK; #KVS_EINVAL; #KVS_ETOOBIG (the entry is over the limits or
 *         the batch would exceed #KVS_BATCH_MAX_BYTES); #KVS_ENOMEM. After an
 *         error the batch refuses to be applied (kvs_batch_apply() returns
 *         that error) until kvs_batch_clear(): half of what was meant must not
 *         be written by accident.
 */
KVS_API int kvs_batch_set(kvs_batch_t *b, const void *key, size_t klen, const void *val,
                          size_t vlen);

/**
 * @brief Add a put with an expiry (see @ref expiry).
 * @param[in] b The batch.
 * @param[in] key The key bytes.
 * @param[in] klen Key length.
 * @param[in] val The value bytes.
 * @param[in] vlen Value length.
 * @param[in] expire_at_ms When the value expires (ms since the epoch), 0 for never.
 * @return As kvs_batch_set().
 */
KVS_API int kvs_batch_set_expire(kvs_batch_t *b, const void *key, size_t klen, const void *val,
                                 size_t vlen, uint64_t expire_at_ms);

/**
 * @brief Add a removal. Removing an absent key is not an error.
 * @param[in] b The batch.
 * @param[in] key The key bytes.
 * @param[in] klen Key length, 1 to #KVS_KEY_MAX.
 * @return As kvs_batch_set().
 */
KVS_API int kvs_batch_remove(kvs_batch_t *b, const void *key, size_t klen);

/**
 * @brief Empty a batch (and forget an earlier error), keeping its memory.
 * @param[in] b The batch, or `NULL` (a no-op).
 */
KVS_API void kvs_batch_clear(kvs_batch_t *b);

/**
 * @brief Entries in a batch.
 * @param[in] b The batch.
 * @return The number of puts and removes added since creation or clearing.
 */
KVS_API size_t kvs_batch_count(const kvs_batch_t *b);

/**
 * @brief Bytes a batch holds (what counts against #KVS_BATCH_MAX_BYTES).
 * @param[in] b The batch.
 * @return The encoded size of its entries.
 */
KVS_API size_t kvs_batch_bytes(const kvs_batch_t *b);

/**
 * @brief Apply a batch to a store, as one unit.
 * @param[in] db The handle.
 * @param[in] b The batch (unchanged: it may be applied again or cleared).
 * @return #KVS_OK (an empty batch too); #KVS_ETOOBIG or another status an
 *         earlier kvs_batch_set() returned (nothing is written);
 *         #KVS_EINVAL; #KVS_EREADONLY; #KVS_EIO; #KVS_ENOMEM. On any error
 *         nothing of the batch is written.
 */
KVS_API int kvs_batch_apply(kvs_t *db, kvs_batch_t *b);
/** @} */

/**
 * @defgroup iter Ordered iteration and snapshots
 * @brief Walk keys in order, and read the store as it was at one moment.
 *
 * Keys are ordered bytewise (`memcmp`), a shorter key first when it is a
 * prefix of a longer one. An iterator and a snapshot each see the store at
 * one point in time, the moment they were created: every write acknowledged
 * before, nothing written, overwritten or removed after. Neither blocks
 * writers, readers or compaction, and any number may be open at once, in any
 * threads (one iterator is used by one thread at a time).
 *
 * @code
 * kvs_iter_t *it;
 * if (kvs_iter_create(db, NULL, &it) == KVS_OK) {
 *     kvs_iter_set_prefix(it, "user:", 5);
 *     int rc;
 *     for (rc = kvs_iter_first(it); rc == KVS_OK; rc = kvs_iter_next(it)) {
 *         const void *k, *v;
 *         size_t klen, vlen;
 *         if (kvs_iter_key(it, &k, &klen) == KVS_OK &&
 *             kvs_iter_value(it, &v, &vlen) == KVS_OK)
 *             printf("%.*s = %.*s\n", (int)klen, (const char *)k, (int)vlen, (const char *)v);
 *     }
 *     // rc is KVS_NOT_FOUND at the end, or an error
 *     kvs_iter_destroy(it);
 * }
 * @endcode
 *
 * @note **Disk space and memory.** What an iterator or snapshot may read stays
 *       where it is until it is destroyed: segment files that compaction
 *       replaces meanwhile are deleted from the directory but keep their
 *       disk space (and their part of the key order, 8 bytes per key) until
 *       the last handle that saw them is gone. A snapshot held across heavy
 *       overwriting can so pin up to the store's whole size again. Release
 *       them when done; kvs_close() refuses (#KVS_EBUSY) while any is open.
 * @note The key order is built when first needed: the first iterator or
 *       snapshot of a handle waits until it is ready (about a second per
 *       million keys), unless the last clean close of a store that was
 *       iterated saved it (then kvs_open() loads it in the background, in
 *       milliseconds). Until then it costs no memory and no work on writes;
 *       from then on, 8 bytes per key and a background thread that sorts
 *       the writes.
 * @{
 */

/** A point-in-time view of a store (LevelDB's `GetSnapshot`). */
typedef struct kvs_snapshot kvs_snapshot_t;

/** A cursor over the keys of a store, or of a snapshot, in key order. */
typedef struct kvs_iter kvs_iter_t;

/**
 * @brief Take a snapshot: reads through it see the store as it is now.
 * @param[in] db The handle.
 * @param[out] out Receives the snapshot; `NULL` on failure.
 * @return #KVS_OK, #KVS_EINVAL, #KVS_ENOMEM.
 */
KVS_API int kvs_snapshot_create(kvs_t *db, kvs_snapshot_t **out);

/**
 * @brief Release a snapshot. Iterators made over it stay usable.
 * @param[in] snap The snapshot, or `NULL` (a no-op).
 */
KVS_API void kvs_snapshot_release(kvs_snapshot_t *snap);

/**
 * @brief kvs_get() as of the snapshot's moment.
 * @param[in] snap The snapshot.
 * @param[in] key The key bytes.
 * @param[in] klen Key length, 1 to #KVS_KEY_MAX.
 * @param[out] val Receives a `malloc`'ed, NUL-terminated copy of the value
 *             (release it with kvs_free()); `NULL` if not found or on error.
 * @param[out] vlen Receives the value length (0 if not found or on error).
 * @return #KVS_OK; #KVS_NOT_FOUND (the key did not exist then);
 *         #KVS_EINVAL; #KVS_ETOOBIG; #KVS_ECORRUPT (the record fails its
 *         checksum); #KVS_ENOMEM.
 * @note A lookup through a snapshot searches the sorted key order (a few
 *       dozen key comparisons), so it is slower than kvs_get().
 */
KVS_API int kvs_snapshot_get(kvs_snapshot_t *snap, const void *key, size_t klen, void **val,
                             size_t *vlen);

/**
 * @brief kvs_exists() as of the snapshot's moment.
 * @param[in] snap The snapshot.
 * @param[in] key The key bytes.
 * @param[in] klen Key length, 1 to #KVS_KEY_MAX.
 * @return #KVS_OK (it existed), #KVS_NOT_FOUND, #KVS_EINVAL, #KVS_ETOOBIG.
 */
KVS_API int kvs_snapshot_exists(kvs_snapshot_t *snap, const void *key, size_t klen);

/**
 * @brief Create an iterator, not yet positioned.
 * @param[in] db The handle.
 * @param[in] snap A snapshot of @p db to iterate, or `NULL` for the store as
 *            it is now.
 * @param[out] out Receives the iterator; `NULL` on failure.
 * @return #KVS_OK, #KVS_EINVAL (`NULL` arguments, a snapshot of another
 *         store), #KVS_ENOMEM.
 */
KVS_API int kvs_iter_create(kvs_t *db, kvs_snapshot_t *snap, kvs_iter_t **out);

/**
 * @brief Destroy an iterator.
 * @param[in] it The iterator, or `NULL` (a no-op).
 */
KVS_API void kvs_iter_destroy(kvs_iter_t *it);

/**
 * @brief Limit the iterator to the keys in [@p start, @p end).
 *
 * Positioning calls then stay inside the range. Unpositions the iterator.
 * @param[in] it The iterator.
 * @param[in] start The first key included, or `NULL` for no lower bound.
 * @param[in] start_len Its length.
 * @param[in] end The first key excluded, or `NULL` for no upper bound.
 * @param[in] end_len Its length.
 * @return #KVS_OK, #KVS_EINVAL, #KVS_ENOMEM.
 */
KVS_API int kvs_iter_set_range(kvs_iter_t *it, const void *start, size_t start_len,
                               const void *end, size_t end_len);

/**
 * @brief Limit the iterator to the keys that start with @p prefix.
 * @param[in] it The iterator.
 * @param[in] prefix The prefix; an empty one removes the bounds.
 * @param[in] plen Its length.
 * @return #KVS_OK, #KVS_EINVAL, #KVS_ENOMEM.
 */
KVS_API int kvs_iter_set_prefix(kvs_iter_t *it, const void *prefix, size_t plen);

/**
 * @brief Position at the first key (of the range).
 * @param[in] it The iterator.
 * @return #KVS_OK (positioned), #KVS_NOT_FOUND (no key), #KVS_EINVAL.
 */
KVS_API int kvs_iter_first(kvs_iter_t *it);

/**
 * @brief Position at the last key (of the range).
 * @param[in] it The iterator.
 * @return #KVS_OK, #KVS_NOT_FOUND, #KVS_EINVAL.
 */
KVS_API int kvs_iter_last(kvs_iter_t *it);

/**
 * @brief Position at the first key >= @p key.
 * @param[in] it The iterator.
 * @param[in] key The key to seek; may be empty.
 * @param[in] klen Its length.
 * @return #KVS_OK, #KVS_NOT_FOUND (no such key in the range), #KVS_EINVAL.
 */
KVS_API int kvs_iter_seek(kvs_iter_t *it, const void *key, size_t klen);

/**
 * @brief Position at the last key <= @p key.
 * @param[in] it The iterator.
 * @param[in] key The key to seek; may be empty.
 * @param[in] klen Its length.
 * @return #KVS_OK, #KVS_NOT_FOUND, #KVS_EINVAL.
 */
KVS_API int kvs_iter_seek_prev(kvs_iter_t *it, const void *key, size_t klen);

/**
 * @brief Move to the next key.
 * @param[in] it The iterator.
 * @return #KVS_OK, #KVS_NOT_FOUND (past the last key; the iterator is no
 *         longer positioned), #KVS_EINVAL.
 */
KVS_API int kvs_iter_next(kvs_iter_t *it);

/**
 * @brief Move to the previous key.
 * @param[in] it The iterator.
 * @return #KVS_OK, #KVS_NOT_FOUND (before the first key), #KVS_EINVAL.
 */
KVS_API int kvs_iter_prev(kvs_iter_t *it);

/**
 * @brief Whether the iterator is positioned on a key.
 * @param[in] it The iterator (`NULL` gives 0).
 * @return 1 or 0.
 */
KVS_API int kvs_iter_valid(const kvs_iter_t *it);

/**
 * @brief The current key, without copying.
 * @param[in] it The iterator.
 * @param[out] key Receives a pointer to the key bytes, valid until the
 *             iterator moves or is destroyed (not NUL-terminated).
 * @param[out] klen Receives the key length.
 * @return #KVS_OK; #KVS_EINVAL (not positioned); #KVS_ECORRUPT (the record
 *         fails its checksum: skip it with kvs_iter_next()).
 * @note Records of up to 4 KiB are verified here; larger ones are verified
 *       by kvs_iter_value(), so that a walk over keys does not read large
 *       values.
 */
KVS_API int kvs_iter_key(kvs_iter_t *it, const void **key, size_t *klen);

/**
 * @brief The expiry of the current entry (see @ref expiry).
 * @param[in] it The iterator.
 * @param[out] expire_at_ms Receives the expiry (ms since the epoch), or 0
 *             when the value never expires (also on error). The iterator
 *             skips entries expired at its moment.
 * @return #KVS_OK; #KVS_EINVAL (not positioned).
 */
KVS_API int kvs_iter_expire(kvs_iter_t *it, uint64_t *expire_at_ms);

/**
 * @brief The current value, without copying; read only when asked for.
 * @param[in] it The iterator.
 * @param[out] val Receives a pointer to the value bytes, valid until the
 *             iterator moves or is destroyed (not NUL-terminated).
 * @param[out] vlen Receives the value length.
 * @return #KVS_OK; #KVS_EINVAL (not positioned); #KVS_ECORRUPT.
 */
KVS_API int kvs_iter_value(kvs_iter_t *it, const void **val, size_t *vlen);
/** @} */

/**
 * @defgroup maintenance Maintenance
 * @brief Explicit sync and compaction.
 * @{
 */

/**
 * @brief Make every write acknowledged so far durable (`fdatasync`), whatever the sync mode.
 *
 * In #KVS_SYNC_NONE the store writes its segments through huge pages, which a
 * sync would write back 2 MiB at a time; the first call therefore starts a new
 * segment file on small pages, so that later calls write about what changed.
 * @param[in] db The handle.
 * @return #KVS_OK, #KVS_EINVAL, #KVS_EIO.
 */
KVS_API int kvs_sync(kvs_t *db);

/**
 * @brief Compact now, in the calling thread, and wait for it to finish.
 *
 * Seals the active segment, then rewrites every sealed segment that holds
 * any stale or damaged bytes and deletes the old files. Readers and writers
 * keep working meanwhile. If a background compaction is running, waits for
 * it first. The copies are written before the old files are deleted: when
 * the free space cannot hold them all at once, it works in rounds, the
 * segments holding the most garbage first, each round freeing space for the
 * next.
 * @param[in] db The handle.
 * @return #KVS_OK, #KVS_EINVAL, #KVS_EREADONLY, #KVS_ENOMEM, #KVS_EIO (nothing
 *         is lost; with `errno` `ENOSPC` when the free space did not allow
 *         rewriting every such segment, those it allowed were).
 */
KVS_API int kvs_compact(kvs_t *db);

/**
 * @brief Copy the store, as it is at one moment, into another directory.
 *
 * Online: readers and writers go on (compaction waits until the copy is
 * made). Sealed segment files never change, so they are hard-linked where
 * the file system allows (no extra space) and copied otherwise; the records
 * of the segment being written are copied up to the moment of the backup.
 * The copy is built in a temporary directory beside @p dest, synced, and
 * renamed onto @p dest, so a failed backup leaves nothing that looks like a
 * store. The copy opens as an ordinary store (as after a crash: its last
 * segment is sealed at the first open).
 * @param[in] db The handle.
 * @param[in] dest The directory to create; it must not exist, or be empty.
 *            Its parent must exist.
 * @return #KVS_OK; #KVS_EEXIST (@p dest exists and is not an empty
 *         directory); #KVS_EINVAL; #KVS_EIO (`errno` says why); #KVS_ENOMEM.
 */
KVS_API int kvs_backup(kvs_t *db, const char *dest);

/**
 * @brief Called by kvs_verify() once per problem found.
 * @param ctx The context given to kvs_verify().
 * @param file The file the problem is in ("0000000007.log"), or "index".
 * @param offset The byte offset of the problem in that file.
 * @param problem What is wrong, in English.
 */
typedef void (*kvs_verify_fn)(void *ctx, const char *file, uint64_t offset, const char *problem);

/**
 * @brief Check every record of every segment and the index against them.
 *
 * Reads the whole store: every record's checksum and format, every batch's
 * records, and for every key in the index that it points at an intact
 * value of that key. Compaction waits meanwhile; readers and writers go on
 * (readers of one index shard wait while it is checked).
 * @param[in] db The handle.
 * @param[in] fn Called for each problem (may be `NULL`).
 * @param[in] ctx Passed to @p fn.
 * @return #KVS_OK (nothing wrong); #KVS_ECORRUPT (problems were reported);
 *         #KVS_EINVAL; #KVS_ENOMEM.
 */
KVS_API int kvs_verify(kvs_t *db, kvs_verify_fn fn, void *ctx);
/** @} */

/**
 * @defgroup stats Statistics
 * @brief Counters and gauges describing an open store.
 * @{
 */

/** What kvs_stat() can report. New values may be added at the end. */
typedef enum {
    KVS_STAT_KEYS = 0,              /**< Live keys. */
    KVS_STAT_SEGMENTS,              /**< Segment files. */
    KVS_STAT_DISK_BYTES,            /**< Bytes of segment and hint files. */
    KVS_STAT_LIVE_BYTES,            /**< Bytes of the records that hold live values. */
    KVS_STAT_DEAD_BYTES,            /**< Bytes of stale records (overwritten, removed, tombstones). */
    KVS_STAT_INDEX_BYTES,           /**< Memory held by the index. */
    KVS_STAT_SETS,                  /**< kvs_set() calls that wrote, since open. */
    KVS_STAT_GETS,                  /**< kvs_get() and kvs_get_into() calls, and keys read by kvs_multi_get(), since open. */
    KVS_STAT_REMOVES,               /**< kvs_remove() calls that wrote, since open. */
    KVS_STAT_SYNCS,                 /**< `fdatasync` calls on segments, since open. */
    KVS_STAT_SYNCED_WRITES,         /**< Writes made durable by group commit, since open. */
    KVS_STAT_COMPACTIONS,           /**< Compactions finished, since open. */
    KVS_STAT_COMPACTED_BYTES,       /**< Bytes of segments reclaimed by compaction, since open. */
    KVS_STAT_RECOVERY_TORN_BYTES,   /**< Bytes of torn tails cut off at open. */
    KVS_STAT_RECOVERY_SKIPPED_BYTES,/**< Bytes of damaged records skipped at open (repair mode). */
    KVS_STAT_OPEN_MICROS,           /**< How long kvs_open() took, in microseconds. */
    KVS_STAT_HINT_SEGMENTS,         /**< Segments whose index came from a hint file at open. */
    KVS_STAT_WRITE_FAILED,          /**< 1 if a failed sync made the handle refuse writes. */
    KVS_STAT_INDEX_SNAPSHOT_LOADED, /**< 1 if open loaded the index saved by the last close. */
    KVS_STAT_ORDER_BYTES,           /**< Memory held by the key order (sorted runs, see @ref iter). */
    KVS_STAT_ORDER_RUNS,            /**< Sorted runs the key order is made of now. */
    KVS_STAT_ORDER_LOADED,          /**< 1 if the key order saved by the last close was used (once built). */
    KVS_STAT_COUNT_                 /**< Number of statistics; not a statistic. */
} kvs_stat_t;

/**
 * @brief Read one statistic.
 * @param[in] db The handle.
 * @param[in] which The statistic.
 * @param[out] value Receives its value (0 on error).
 * @return #KVS_OK, or #KVS_EINVAL for a `NULL` argument or an unknown @p which.
 */
KVS_API int kvs_stat(kvs_t *db, kvs_stat_t which, uint64_t *value);

/**
 * @brief The name of a statistic, in snake case (e.g. "keys", "dead_bytes").
 * @param[in] which The statistic.
 * @return A static string, or `NULL` for an unknown @p which.
 */
KVS_API const char *kvs_stat_name(kvs_stat_t which);
/** @} */

#ifdef __cplusplus
}
#endif

#endif /* KVS_H */
