/*
 * Segment files: NNNNNNNNNN.log, a 64-byte header then records. A segment is
 * memory-mapped for its whole life: readers copy values straight out of the
 * mapping, and the writer appends by copying records into the mapping of the
 * active segment (or, in write-through mode, with pwritev), whose blocks are
 * reserved ahead (fallocate) so that a full disk is an error return, never a
 * SIGBUS.
 *
 * Only the active segment grows. Sealing appends a SEAL record and trims the
 * file to its data; after that a segment never changes until it is deleted.
 */
#ifndef KVS_SEGMENT_H
#define KVS_SEGMENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io.h"

#include "record.h"

#define KVS_SEG_HEADER_SIZE 64u
/* Format of new segments; format 1 segments (no PUTX or BATCH records)
 * are read as they are. */
#define KVS_FORMAT_VERSION 2u
#define KVS_SEG_NAME_MAX 32
/* Growth step of the active segment's file (blocks reserved ahead), and the
 * boundary it grows to: 2 MiB, so that the page cache can hold each step as
 * one huge folio, mapped by one page-table entry (see kvs__io_map). */
#define KVS_SEG_GROW_BYTES (2u << 20)
/* How far ahead of the writer the grow-ahead thread is asked to keep the
 * file grown and faulted in: two steps, 4 MiB, some 30,000 small records,
 * so that a thread kept off both CPUs for a scheduler slice or two (by the
 * writer and a compaction) is still done before the writer gets there. */
#define KVS_SEG_AHEAD_LEAD (2 * (uint64_t)KVS_SEG_GROW_BYTES)
/* Header flag: the segment was written by compaction. */
#define KVS_SEG_FLAG_COMPACTED 1u
/* Writer segments are 2^32 epochs apart; compaction outputs fit in between. */
#define KVS_EPOCH_WRITER_STEP (UINT64_C(1) << 32)

struct kvs_segment {
    uint32_t id;    /* file number */
    uint32_t slot;  /* index in the store's slot table; 0 = none */
    uint64_t epoch; /* replay order: higher epochs hold newer records */
    uint32_t flags;
    /* The file, while something may still write or sync it: a segment found
     * at open has none (kvs__seg_open_fd gives one to recovery), and a sealed
     * one gives it back once synced (kvs__seg_close_fd), so that a store holds
     * descriptors for the few segments being written, not for all of them
     * (the process's limit, often 1,024, would bound the store's size). */
    int fd;
    /* Held by whoever uses fd once the segment is sealed (a sync, the hint
     * writer) and by its closing, so that it is never closed under them. */
    pthread_mutex_t fd_mutex;
    uint8_t *base;        /* mapping of the file */
    size_t map_bytes;     /* length of the mapping (the most the file may grow to) */
    uint64_t file_bytes;  /* file length the owner may write up to (owner thread only) */
    uint64_t tail;        /* end of the records written so far (owner thread only) */
    uint64_t ahead_asked; /* file length last asked of the grow-ahead thread (owner only) */
    pthread_mutex_t grow_mutex; /* the owner and the grow-ahead thread both grow the file */
    uint64_t grown_bytes; /* file length reserved (grow_mutex); faulted in after */
    bool grow_closed;     /* sealed or cut: never grown again (grow_mutex) */
    _Atomic bool sealed;  /* ends with a SEAL record and never changes */
    bool write_through;   /* appends use pwritev, not the mapping (see kvs__seg_create) */
    bool small_pages;     /* mapped for small pages only (KVS_SEG_MAPPED_SMALL) */
    bool damaged;         /* repair mode skipped bytes in it: rewrite it */
    bool hint_failed;     /* writing its hint failed once: do not retry (bg thread only) */
    _Atomic bool synced;  /* sealed and fdatasync'ed */
    _Atomic bool hinted;  /* has a valid hint file */
    _Atomic bool moved;   /* a compaction input: the key order looks up entries
                           * that point into it (run.h) */
    /* the store's slot table cell naming this segment: its slot is reused
     * only once the segment is freed, since runs name segments by slot */
    struct kvs_segment *_Atomic *slot_cell;
    _Atomic uint64_t min_expire; /* earliest expiry of a value in it (ms since
                                  * the epoch); 0 none, 1 unknown (see FORMAT.md) */
    _Atomic uint64_t live_bytes; /* records the index points at */
    _Atomic uint64_t dead_bytes; /* superseded records and tombstones */
    _Atomic int refs;
};

/* "0000000042.log" style names. */
void kvs__seg_name(char out[KVS_SEG_NAME_MAX], uint32_t id, const char *ext);

/* Parse a "NNNNNNNNNN.<ext>" name; 1 and *id on success. */
int kvs__seg_parse_name(const char *name, const char *ext, uint32_t *id);

/* How a new segment's records reach its file. */
enum kvs_seg_writes {
    /* copied into the mapping, whose pages may be huge (the default) */
    KVS_SEG_MAPPED = 0,
    /* copied into the mapping, small pages: syncing writes back a dirty
     * page whole, and a store that syncs often should not rewrite 2 MiB */
    KVS_SEG_MAPPED_SMALL,
    /* written with pwritev. Worth it when every write is followed by
     * fdatasync: syncing pages written through a mapping write-protects
     * them (a TLB flush on every CPU) and the next write faults again. */
    KVS_SEG_WRITE_THROUGH,
};

/*
 * Create a new, empty, writable segment: file, header, mapping of
 * capacity bytes (at least a header plus a seal). The file is not synced.
 */
int kvs__seg_create(int dirfd, uint32_t id, uint64_t epoch, uint32_t flags, uint64_t seed,
                    uint64_t capacity, enum kvs_seg_writes writes, struct kvs_segment **out);

/*
 * Open an existing segment and check its header. writable maps it read-write
 * (needed to seal a segment left unsealed by a crash). The segment keeps
 * its mapping, not its file descriptor (see fd above).
 * Returns KVS_OK, KVS_NOT_FOUND if the file is empty or its header is all
 * zeros (a crash right after creation), KVS_ECORRUPT, KVS_EVERSION, KVS_EIO.
 * *seed receives the store's hash seed from the header.
 */
int kvs__seg_open(int dirfd, uint32_t id, bool writable, struct kvs_segment **out,
                  uint64_t *seed);

/* Open the file of a segment kvs__seg_open found (for recovery, which cuts
 * and seals a segment a crash left unsealed); KVS_OK or KVS_EIO. */
int kvs__seg_open_fd(int dirfd, struct kvs_segment *s);

/* fdatasync the segment's file; 0, or -1 with errno. A segment whose file
 * was closed was synced already (kvs__seg_close_fd): 0. The I/O hooks see
 * the caller's site (io.h). */
int kvs__seg_datasync_at(KVS_IO_SITE, struct kvs_segment *s);
#define kvs__seg_datasync(...) kvs__seg_datasync_at(KVS_IO_HERE, __VA_ARGS__)

/* Close a sealed segment's file once it is synced (nothing writes or syncs
 * it any more); a no-op otherwise. */
void kvs__seg_close_fd(struct kvs_segment *s);

/* Make room for need more bytes after the tail (plus a seal), growing the
 * file by whole steps. KVS_ETOOBIG if the mapping is too small, KVS_EIO. */
int kvs__seg_reserve(struct kvs_segment *s, uint64_t need);

/*
 * Grow the file to len bytes (at most the mapping) and fault the new pages
 * in for writing. Any thread may call it: the grow-ahead thread does, so that
 * the writer finds its next step ready (see ahead.c). A sealed segment is
 * left alone. KVS_OK or KVS_EIO (errno set).
 */
int kvs__seg_grow(struct kvs_segment *s, uint64_t len);

/*
 * Owner only: the file length worth growing to ahead of the writer, once its
 * tail is within KVS_SEG_AHEAD_LEAD of what was grown or asked for; 0 when
 * nothing is due (asked already, the mapping is full, or the segment is
 * written with pwritev).
 */
uint64_t kvs__seg_ahead_due(struct kvs_segment *s);

/* Append a record (space reserved) and give its offset. KVS_OK, or KVS_EIO
 * when a write-through segment's write fails (the tail does not move). */
int kvs__seg_append(struct kvs_segment *s, enum kvs_rec_type type, const void *key, size_t klen,
                    const void *val, size_t vlen, uint64_t *off);
/* The same, with the expiry a PUTX record carries. */
int kvs__seg_append_x(struct kvs_segment *s, enum kvs_rec_type type, uint64_t expire,
                      const void *key, size_t klen, const void *val, size_t vlen, uint64_t *off);

/* Append the SEAL record and trim the file to it. */
int kvs__seg_seal(struct kvs_segment *s);

/* Cut the file back to len bytes of data (torn tail), zeroing the rest of the
 * mapping's file pages so that the next append starts on clean bytes. */
int kvs__seg_cut(struct kvs_segment *s, uint64_t len);

/* Offset of the first intact record at or after from (scanning byte by
 * byte past damage), or end if there is none. */
uint64_t kvs__seg_next_intact(const struct kvs_segment *s, uint64_t from, uint64_t end);

/*
 * The next intact record after the record at off, which does not verify, or
 * end. A batch that does not verify (cut short by a crash or a power cut,
 * or damaged) may hold intact records of its own: those are part of it,
 * applied with it or not at all, so the search starts after them (at the
 * end the batch's header claims, when the data reaches it). Anything intact
 * found is then really a record of its own.
 */
uint64_t kvs__seg_skip_bad(const struct kvs_segment *s, uint64_t off, uint64_t end);

static inline bool kvs__seg_has_room(const struct kvs_segment *s, uint64_t need)
{
    return s->tail + need + KVS_REC_HEADER_SIZE <= s->map_bytes;
}

/* A value that expires at expire was written to s. */
static inline void kvs__seg_note_expire(struct kvs_segment *s, uint64_t expire)
{
    uint64_t cur = atomic_load_explicit(&s->min_expire, memory_order_relaxed);
    while ((cur == 0 || expire < cur) &&
           !atomic_compare_exchange_weak_explicit(&s->min_expire, &cur, expire,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* Does s hold a value that had expired by now_ms (or may have: unknown)? */
static inline bool kvs__seg_expiry_due(struct kvs_segment *s, uint64_t now_ms)
{
    uint64_t e = atomic_load_explicit(&s->min_expire, memory_order_relaxed);
    return e != 0 && e <= now_ms;
}

void kvs__seg_ref(struct kvs_segment *s);
/* Drop a reference; the last one unmaps, closes and frees. */
void kvs__seg_unref(struct kvs_segment *s);

/* Header bytes for a segment (exposed for tests and the format docs). */
void kvs__seg_header_encode(uint8_t out[KVS_SEG_HEADER_SIZE], uint32_t id, uint64_t epoch,
                            uint32_t flags, uint64_t seed);

#endif
