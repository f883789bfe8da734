/*
 * Expiry arguments as Redis 7.0 reads them: the options of SET and GETEX
 * (parseExtendedStringArgumentsOrReply) and the time they give
 * (getExpireMillisecondsOrReply), with Redis's error replies.
 *
 * Times are milliseconds since the Unix epoch on CLOCK_REALTIME, the clock
 * libkvs judges expiry by (as Redis's mstime()).
 */
#ifndef KVS_SERVER_EXPIRY_H
#define KVS_SERVER_EXPIRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "resp.h"
#include "session.h"

/* Option flags, as Redis's OBJ_SET_* / OBJ_* bits. */
enum string_opt {
    SO_NX = 1u << 0,
    SO_XX = 1u << 1,
    SO_EX = 1u << 2,
    SO_PX = 1u << 3,
    SO_KEEPTTL = 1u << 4,
    SO_GET = 1u << 5,
    SO_EXAT = 1u << 6,
    SO_PXAT = 1u << 7,
    SO_PERSIST = 1u << 8,
};
#define SO_ANY_EXPIRY (SO_EX | SO_PX | SO_EXAT | SO_PXAT)

struct string_opts {
    unsigned flags;
    const struct resp_arg *expire; /* the argument after the last EX/PX/EXAT/PXAT */
};

/* Options of SET (from argv[3]; set true) or GETEX (from argv[2]); false on a
 * syntax error. A repeated option is allowed, as in Redis (the last time wins). */
bool string_opts_parse(size_t argc, const struct resp_arg *argv, bool set, struct string_opts *o);

enum expiry_status {
    EXPIRY_OK,
    EXPIRY_NOT_INTEGER, /* "ERR value is not an integer or out of range" */
    EXPIRY_INVALID      /* "ERR invalid expire time in '<cmd>' command" */
};

/*
 * The absolute expiry (ms since the epoch) an EX/PX/EXAT/PXAT argument
 * gives, relative ones counted from now_ms: positive numbers only, and no
 * overflow of a signed 64-bit millisecond time.
 */
enum expiry_status expiry_from_arg(unsigned flags, const struct resp_arg *a, long long now_ms,
                                   uint64_t *at_ms);

/* The error reply for a status other than EXPIRY_OK; cmd is the lower-case name. */
void reply_expiry_error(struct session *s, enum expiry_status st, const char *cmd);

/* Now, in milliseconds since the epoch (CLOCK_REALTIME). */
long long expiry_now_ms(void);

#endif
