/*
 * kvs, the admin tool: what the command files share. The parsed command
 * line, exit statuses, opening a store with clear messages, and reading
 * key arguments.
 */
#ifndef KVS_ADMIN_H
#define KVS_ADMIN_H

#include <kvs.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dump_format.h"

/* Exit statuses, as grep's: 0 yes, 1 no, 2 trouble. */
enum {
    EXIT_OK = 0,    /* done; check: no damage */
    EXIT_NO = 1,    /* get/rm: no such key; check: damage found; dump: damaged records left out */
    EXIT_ERROR = 2  /* usage error, store not opened, I/O error, bad load input */
};

/* Options, one bit each, so every command can list those it takes. */
enum {
    OPT_JSON = 1u << 0,
    OPT_PREFIX = 1u << 1,
    OPT_START = 1u << 2,
    OPT_END = 1u << 3,
    OPT_KEYS_ONLY = 1u << 4,
    OPT_LIMIT = 1u << 5,
    OPT_EXPIRE_AT = 1u << 6,
    OPT_TTL = 1u << 7,
    OPT_ESCAPED = 1u << 8,
    OPT_REPAIR = 1u << 9,
    OPT_BATCH = 1u << 10,
    OPT_STDIN = 1u << 11,
    OPT_VERBOSE = 1u << 12
};

/* The command line, parsed (kvs.c). Strings point into argv. */
struct args {
    const char *cmd;
    const char *dir;
    const char *pos[2]; /* arguments after DIR */
    int npos;
    unsigned given;     /* OPT_* bits seen */
    const char *prefix, *start, *end;
    uint64_t limit;
    uint64_t expire_at_ms, ttl_ms;
    uint64_t batch;
};

/* ---- opening a store (open.c) ---- */

enum open_mode {
    OPEN_READ,   /* read-only; the store must exist */
    OPEN_WRITE,  /* read-write; the store must exist */
    OPEN_CREATE  /* read-write; created when missing */
};

/* Called with each library message at level ERROR logged during kvs_open
 * (kvs check counts them as damage). */
typedef void (*open_damage_fn)(void *ctx, const char *msg);

struct open_req {
    const char *dir;
    enum open_mode mode;
    bool repair;
    bool verbose;         /* print the library's warnings and notes too */
    open_damage_fn damage; /* NULL: print ERROR messages on stderr */
    void *damage_ctx;
};

/*
 * Open the store, or print why not ("is a kvs-server running on it?" for
 * KVS_EBUSY) and return the status. A directory holding no store is
 * KVS_ENOENT unless mode is OPEN_CREATE: a read-only open would otherwise
 * leave a LOCK file in any directory named by mistake.
 */
int admin_open(const struct open_req *req, kvs_t **db);

/* Close, printing a failure. EXIT_OK or EXIT_ERROR. */
int admin_close(kvs_t *db, const char *dir);

/* ---- helpers (cli.c) ---- */

/* "kvs: CONTEXT: MESSAGE (KVS_NAME)" for a status; errno's text for KVS_EIO. */
void admin_status_error(const char *context, int rc);

/*
 * A key-like argument as bytes: argv text as is, or decoded from the dump
 * encoding with --escaped. out->p stays valid until freed. Prints why on
 * failure. 0 or -1.
 */
int arg_bytes(const struct args *a, const char *text, const char *what, size_t max,
              struct dump_bytes *out);

/* Strict decimal: digits only, no sign, fits in 64 bits. 0 or -1. */
int parse_u64(const char *text, uint64_t *out);

/* Milliseconds since the epoch, CLOCK_REALTIME (the clock expiry uses). */
uint64_t now_ms(void);

/* Flush stdout; a write error (full disk, closed pipe) is a failure of the
 * command, not something to lose silently. EXIT_OK or EXIT_ERROR. */
int admin_flush_stdout(void);

/* ---- the commands: each returns an exit status ---- */

int cmd_stats(const struct args *a);
int cmd_check(const struct args *a);
int cmd_dump(const struct args *a);
int cmd_scan(const struct args *a);
int cmd_load(const struct args *a);
int cmd_compact(const struct args *a);
int cmd_backup(const struct args *a);
int cmd_get(const struct args *a);
int cmd_set(const struct args *a);
int cmd_rm(const struct args *a);

#endif
