/*
 * The command table and dispatcher, and what the handlers share.
 *
 * Dispatch follows Redis's processCommand order: unknown command, then
 * arity, then authentication, each with Redis's error text, so clients and
 * tools that match on those messages behave as with Redis.
 */
#ifndef KVS_SERVER_COMMANDS_H
#define KVS_SERVER_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>

#include "resp.h"
#include "session.h"

/* Flags, reported by COMMAND as Redis names them. */
enum command_flags {
    CMD_WRITE = 1u << 0,
    CMD_READONLY = 1u << 1,
    CMD_DENYOOM = 1u << 2,
    CMD_ADMIN = 1u << 3,
    CMD_FAST = 1u << 4,
    CMD_NOAUTH = 1u << 5, /* allowed before AUTH */
    CMD_LOADING = 1u << 6,
    CMD_STALE = 1u << 7,
    /* Not reported by COMMAND: the handler closes the write gate itself
     * (write_gate.h) for the part that must not see other writes. */
    CMD_EXCLUSIVE = 1u << 8,
};

typedef void command_fn(struct session *s, size_t argc, const struct resp_arg *argv);

struct command {
    const char *name;   /* lower case */
    int arity;          /* > 0: exactly; < 0: at least -arity (name included) */
    unsigned flags;
    int first_key, last_key, key_step; /* as COMMAND reports them */
    command_fn *fn;
};

/* Execute one request (argc >= 1) and append its reply to s->out. */
void commands_execute(struct session *s, const struct resp_request *req);

/* The table, for COMMAND. */
const struct command *commands_table(size_t *count);

/* Find a command by name, ignoring case; NULL if unknown. */
const struct command *commands_lookup(const char *name, size_t len);

/* Names of command flags, for COMMAND; returns how many were written to out. */
size_t commands_flag_names(unsigned flags, const char **out, size_t max);

/* ---- helpers for handlers ---- */

/* Case-insensitive comparison of an argument with a literal. */
bool arg_is(const struct resp_arg *a, const char *lit);

/* "-ERR wrong number of arguments for '<name>' command". */
void reply_arity(struct session *s, const char *name);

/* "-ERR unknown subcommand '<sub>'. Try <CMD> HELP." */
void reply_unknown_subcommand(struct session *s, const struct resp_arg *sub, const char *cmd);

/* "-ERR unknown command '<name>', with args beginning with: '<arg>' ..." for argv[0 .. argc). */
void reply_unknown_command(struct session *s, size_t argc, const struct resp_arg *argv);

/* A libkvs error as an error reply. */
void reply_storage_error(struct session *s, int rc);

/* "-ERR syntax error" and "-ERR value is not an integer or out of range". */
void reply_syntax_error(struct session *s);
void reply_not_integer(struct session *s);

/* The reply to a read that returned rc: the value as a bulk string (and
 * kvs_free'd), nil for KVS_NOT_FOUND, else an error reply. */
void reply_read(struct session *s, int rc, void *val, size_t len);

/* Value bytes a read of many keys may still copy: what the reply buffer can
 * take (0: no limit), so that a request for many big values holds no more
 * memory than its reply would; the max_bytes of kvs_multi_get. */
size_t reply_budget(const struct buf *out);

/* A key libkvs can hold: 1 to KVS_KEY_MAX bytes. Reads treat others as absent. */
bool key_storable(const struct resp_arg *key);

/* key_storable(), or append the error reply for writing such a key and return false. */
bool key_check(struct session *s, const struct resp_arg *key);

/* ---- handlers (cmd_*.c) ---- */
command_fn cmd_get, cmd_del, cmd_exists, cmd_mget, cmd_strlen, cmd_dbsize;
command_fn cmd_set, cmd_setnx, cmd_setex, cmd_psetex, cmd_getset;
command_fn cmd_append, cmd_getdel, cmd_getex;
command_fn cmd_mset, cmd_msetnx;
command_fn cmd_incr, cmd_decr, cmd_incrby, cmd_decrby, cmd_incrbyfloat;
command_fn cmd_expire, cmd_pexpire, cmd_expireat, cmd_pexpireat, cmd_persist;
command_fn cmd_ttl, cmd_pttl, cmd_expiretime, cmd_pexpiretime;
command_fn cmd_save, cmd_bgsave, cmd_lastsave, cmd_flushdb, cmd_flushall;
command_fn cmd_ping, cmd_echo, cmd_select, cmd_auth, cmd_quit, cmd_client;
command_fn cmd_shutdown, cmd_config, cmd_command, cmd_info;
command_fn cmd_scan, cmd_keys, cmd_hello;

#endif
