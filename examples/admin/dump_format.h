/*
 * The kvs dump format (doc/DUMP.md): a line-oriented text that carries any
 * bytes. Writing and strict, streaming reading; no store access here, so
 * tests/admin links this file alone and feeds it hostile input.
 *
 *   KVS-DUMP 1
 *   "key" "value"
 *   "key\x00with\x0anul" "" 1767225600000
 *   END 2
 */
#ifndef KVS_ADMIN_DUMP_FORMAT_H
#define KVS_ADMIN_DUMP_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The first line of every dump, and the only version this code reads. */
#define DUMP_MAGIC "KVS-DUMP"
#define DUMP_VERSION 1

/* A growable byte buffer holding one decoded string. */
struct dump_bytes {
    unsigned char *p;
    size_t len, cap;
};

void dump_bytes_free(struct dump_bytes *b);

/* ---- writing: each returns 0, or -1 when the stream reports an error ---- */

int dump_write_header(FILE *out);
/* A string: '"', printable ASCII as is (but '"' and '\' escaped), every
 * other byte as \xHH, '"'. No newline. */
int dump_write_string(FILE *out, const void *p, size_t len);
/* One entry line: key, value, and the expiry when it is not 0. */
int dump_write_entry(FILE *out, const void *key, size_t klen, const void *val, size_t vlen,
                     uint64_t expire_at_ms);
int dump_write_trailer(FILE *out, uint64_t entries);

/* ---- reading ---- */

struct dump_reader {
    FILE *in;
    uint64_t line;        /* line being read, from 1 */
    uint64_t column;      /* byte in that line last read, from 1 */
    uint64_t entries;     /* entry lines read so far */
    size_t key_max;       /* longest key accepted (KVS_KEY_MAX) */
    size_t value_max;     /* longest value accepted (KVS_VALUE_MAX) */
    struct dump_bytes key, val;
    uint64_t expire_at_ms; /* of the last entry; 0: none */
    char err[256];         /* why the last call failed, without the position */
};

enum dump_next {
    DUMP_ENTRY, /* key, val and expire_at_ms hold an entry */
    DUMP_END,   /* the END line, matching the count, then the end of input */
    DUMP_ERROR  /* err says what is wrong at line/column */
};

void dump_reader_init(struct dump_reader *r, FILE *in, size_t key_max, size_t value_max);
void dump_reader_free(struct dump_reader *r);

/* The first line. 0, or -1 with r->err set. */
int dump_read_header(struct dump_reader *r);

/* The next entry line, or the END line. Reads no further than the error
 * on bad input, and never holds more than one key and one value. */
enum dump_next dump_read_next(struct dump_reader *r);

/*
 * Decode one whole string in the dump encoding held in memory ("\"a\\x00b\"",
 * as kvs scan prints it) into out, at most max bytes. 0, or -1 with a
 * message in err.
 */
int dump_decode_text(const char *text, size_t max, struct dump_bytes *out, char *err,
                     size_t errlen);

#endif
