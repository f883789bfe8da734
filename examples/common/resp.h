/*
 * RESP2 for the server side: an incremental request parser and a reply encoder.
 *
 * The parser is pure (no I/O, like hiredis's reader) and resumable (like
 * Redis's processMultibulkBuffer): the caller keeps the bytes of the request
 * being received in its own buffer, starting at the request's first byte, and
 * calls resp_parse() again whenever more bytes have arrived. Bytes already
 * looked at are not scanned again, and the buffer may move between calls
 * (realloc, memmove) because the parser remembers offsets, not pointers.
 *
 * Both request forms are accepted:
 *  - multibulk: "*<argc>\r\n" then argc times "$<len>\r\n<len bytes>\r\n";
 *  - inline: one line of words separated by blanks, with "double" (C-like
 *    escapes) and 'single' quotes, as typed into telnet or redis-cli.
 *
 * Everything is untrusted. Limits are checked before memory is committed:
 * a claimed argument count only sizes the argument array as arguments arrive,
 * and a claimed bulk length is checked against the limit before any payload.
 */
#ifndef KVS_EXAMPLES_RESP_H
#define KVS_EXAMPLES_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/** Default largest bulk string (one argument): 512 MiB, as Redis. */
#define RESP_DEFAULT_MAX_BULK (512u * 1024u * 1024u)
/** Default largest argument count of one request (Redis allows INT_MAX). */
#define RESP_DEFAULT_MAX_ARGS (1024u * 1024u)
/** Longest inline request and longest "*<n>" / "$<n>" header line (64 KiB, as Redis). */
#define RESP_DEFAULT_MAX_INLINE (64u * 1024u)

struct resp_limits {
    size_t max_bulk;   /* largest "$<len>" accepted */
    size_t max_args;   /* largest "*<argc>" accepted */
    size_t max_inline; /* longest inline line or header line */
    bool unauthenticated; /* word limit errors as Redis does before AUTH */
};

/* One argument of a complete request. ptr points into the caller's buffer. */
struct resp_arg {
    const char *ptr;
    size_t len;
    size_t off; /* offset of the bytes from the request's start (internal) */
};

/* Outcome of resp_parse(). */
enum resp_status {
    RESP_ERROR = -1,    /* protocol error; resp_parser_error() says which */
    RESP_NEED_MORE = 0, /* call again with the same bytes plus more */
    RESP_DONE = 1       /* a request is complete */
};

/* The parser's state; treat as opaque. */
struct resp_parser {
    struct resp_limits lim;
    int state;
    size_t pos;          /* bytes of the current request consumed so far */
    size_t scan;         /* how far a line end has been searched for */
    int64_t argc_want;   /* multibulk: arguments announced */
    size_t bulk_len;     /* multibulk: length of the argument being read */
    size_t argc;         /* arguments complete so far */
    struct resp_arg *argv;
    size_t argv_cap;
    struct resp_arg argv_small[8]; /* avoids a malloc for typical requests */
    char err[96];
};

/* A complete request, valid until the caller changes its buffer or parses again. */
struct resp_request {
    size_t argc;                /* 0 for an empty request (blank line, "*0"), to be skipped */
    const struct resp_arg *argv;
    size_t size;                /* bytes of the buffer the request occupied */
};

/* Fill lim with the defaults above. */
void resp_limits_default(struct resp_limits *lim);

/* Prepare a parser; lim is copied. */
void resp_parser_init(struct resp_parser *p, const struct resp_limits *lim);

/* Release memory the parser holds. */
void resp_parser_free(struct resp_parser *p);

/* Change the limits, e.g. once a client has authenticated (applies to the next header read). */
void resp_parser_set_limits(struct resp_parser *p, const struct resp_limits *lim);

/*
 * Parse one request from buf[0 .. len), buf holding the request's first byte.
 *  RESP_DONE: req describes the request (req->size bytes to drop from the
 *             buffer); the parser is reset for the next one.
 *  RESP_NEED_MORE: nothing to do until more bytes arrive; buf[0 .. len) must be
 *             passed again, extended. resp_parser_wanted() hints how many.
 *  RESP_ERROR: the stream cannot be resynchronised; reply
 *             "-ERR Protocol error: <resp_parser_error()>" and close.
 * An inline request is unescaped in place, hence buf is not const.
 */
enum resp_status resp_parse(struct resp_parser *p, char *buf, size_t len,
                            struct resp_request *req);

/*
 * Forget any partial request: the next resp_parse() starts from a request's
 * first byte, for a caller that moves back to parse again requests it had
 * parsed but chose not to execute yet. Only multibulk requests can be parsed
 * twice: an inline one was unescaped in place.
 */
void resp_parser_restart(struct resp_parser *p);
/* After RESP_NEED_MORE: the total length buf must reach before the parser can progress. */
size_t resp_parser_wanted(const struct resp_parser *p, size_t len);

/* After RESP_ERROR: what went wrong, e.g. "invalid bulk length". */
const char *resp_parser_error(const struct resp_parser *p);

/* True between requests (no partial request pending). */
bool resp_parser_idle(const struct resp_parser *p);

/*
 * Reply encoder. Each call appends one RESP2 value to out; a failed append
 * marks out failed (see buf.h). Simple strings and errors must not hold CR or
 * LF: resp_add_error() replaces them with blanks, as Redis does.
 */
void resp_add_simple(struct buf *out, const char *s);                   /* +s */
void resp_add_error(struct buf *out, const char *msg);                  /* -msg */
void resp_add_errorf(struct buf *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void resp_add_int(struct buf *out, long long v);                        /* :v */
void resp_add_bulk(struct buf *out, const void *p, size_t n);           /* $n p */
void resp_add_bulk_str(struct buf *out, const char *s);
void resp_add_null(struct buf *out);                                    /* $-1 */
void resp_add_array(struct buf *out, size_t n);                         /* *n */
void resp_add_null_array(struct buf *out);                              /* *-1 */

/* Helpers for strings bound for error messages and logs. */
/* Copy at most max bytes of p (stopping at NUL) into dst, CR/LF as blanks. */
size_t resp_sanitize(char *dst, size_t dstlen, const char *p, size_t n);

/* Strict decimal parse of a whole argument, like Redis's string2ll. */
bool resp_parse_ll(const char *p, size_t n, long long *out);

#endif
