/* The command table and dispatcher; see commands.h. */
#include "commands.h"

#include <kvs.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "write_gate.h"

#define RO (CMD_READONLY | CMD_FAST)
#define ANYTIME (CMD_LOADING | CMD_STALE)
#define W (CMD_WRITE | CMD_DENYOOM)
#define WF (CMD_WRITE | CMD_DENYOOM | CMD_FAST)
#define WFAST (CMD_WRITE | CMD_FAST)

/* Most frequent commands first: lookup is a short linear scan. */
static const struct command table[] = {
    {"get", 2, RO, 1, 1, 1, cmd_get},
    {"set", -3, W, 1, 1, 1, cmd_set},
    {"mget", -2, RO, 1, -1, 1, cmd_mget},
    {"mset", -3, W, 1, -1, 2, cmd_mset},
    {"incr", 2, WF, 1, 1, 1, cmd_incr},
    {"del", -2, CMD_WRITE, 1, -1, 1, cmd_del},
    {"exists", -2, RO, 1, -1, 1, cmd_exists},
    {"expire", -3, WFAST, 1, 1, 1, cmd_expire},
    {"ttl", 2, RO, 1, 1, 1, cmd_ttl},
    {"pexpire", -3, WFAST, 1, 1, 1, cmd_pexpire},
    {"pttl", 2, RO, 1, 1, 1, cmd_pttl},
    {"decr", 2, WF, 1, 1, 1, cmd_decr},
    {"incrby", 3, WF, 1, 1, 1, cmd_incrby},
    {"decrby", 3, WF, 1, 1, 1, cmd_decrby},
    {"incrbyfloat", 3, WF, 1, 1, 1, cmd_incrbyfloat},
    {"append", 3, WF, 1, 1, 1, cmd_append},
    {"setex", 4, W, 1, 1, 1, cmd_setex},
    {"psetex", 4, W, 1, 1, 1, cmd_psetex},
    {"setnx", 3, WF, 1, 1, 1, cmd_setnx},
    {"getset", 3, WF, 1, 1, 1, cmd_getset},
    {"getdel", 2, WFAST, 1, 1, 1, cmd_getdel},
    {"getex", -2, WFAST, 1, 1, 1, cmd_getex},
    {"msetnx", -3, W | CMD_EXCLUSIVE, 1, -1, 2, cmd_msetnx},
    {"expireat", -3, WFAST, 1, 1, 1, cmd_expireat},
    {"pexpireat", -3, WFAST, 1, 1, 1, cmd_pexpireat},
    {"expiretime", 2, RO, 1, 1, 1, cmd_expiretime},
    {"pexpiretime", 2, RO, 1, 1, 1, cmd_pexpiretime},
    {"persist", 2, WFAST, 1, 1, 1, cmd_persist},
    {"strlen", 2, RO, 1, 1, 1, cmd_strlen},
    {"ping", -1, CMD_FAST, 0, 0, 0, cmd_ping},
    {"echo", 2, CMD_FAST, 0, 0, 0, cmd_echo},
    {"dbsize", 1, RO, 0, 0, 0, cmd_dbsize},
    {"select", 2, CMD_FAST | ANYTIME, 0, 0, 0, cmd_select},
    {"auth", -2, CMD_NOAUTH | CMD_FAST | ANYTIME, 0, 0, 0, cmd_auth},
    {"quit", -1, CMD_NOAUTH | CMD_FAST | ANYTIME, 0, 0, 0, cmd_quit},
    {"scan", -2, CMD_READONLY, 0, 0, 0, cmd_scan},
    {"keys", 2, CMD_READONLY, 0, 0, 0, cmd_keys},
    {"hello", -1, CMD_NOAUTH | CMD_FAST | ANYTIME, 0, 0, 0, cmd_hello},
    {"client", -2, ANYTIME, 0, 0, 0, cmd_client},
    {"info", -1, ANYTIME, 0, 0, 0, cmd_info},
    {"command", -1, ANYTIME, 0, 0, 0, cmd_command},
    {"config", -2, CMD_ADMIN | ANYTIME, 0, 0, 0, cmd_config},
    {"flushdb", -1, CMD_WRITE | CMD_EXCLUSIVE, 0, 0, 0, cmd_flushdb},
    {"flushall", -1, CMD_WRITE | CMD_EXCLUSIVE, 0, 0, 0, cmd_flushall},
    {"bgsave", -1, CMD_ADMIN, 0, 0, 0, cmd_bgsave},
    {"save", 1, CMD_ADMIN, 0, 0, 0, cmd_save},
    {"lastsave", 1, CMD_FAST | ANYTIME, 0, 0, 0, cmd_lastsave},
    {"shutdown", -1, CMD_ADMIN | ANYTIME, 0, 0, 0, cmd_shutdown},
};

const struct command *commands_table(size_t *count)
{
    *count = sizeof(table) / sizeof(table[0]);
    return table;
}

const struct command *commands_lookup(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strlen(table[i].name) == len && strncasecmp(table[i].name, name, len) == 0)
            return &table[i];
    return NULL;
}

size_t commands_flag_names(unsigned flags, const char **out, size_t max)
{
    static const char *const names[] = {"write", "readonly", "denyoom", "admin",
                                        "fast",  "no-auth",  "loading", "stale"};
    size_t n = 0;
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]) && n < max; i++)
        if (flags & (1u << i))
            out[n++] = names[i];
    return n;
}

bool arg_is(const struct resp_arg *a, const char *lit)
{
    return a->len == strlen(lit) && strncasecmp(a->ptr, lit, a->len) == 0;
}

void reply_arity(struct session *s, const char *name)
{
    resp_add_errorf(s->out, "ERR wrong number of arguments for '%s' command", name);
}

void reply_unknown_subcommand(struct session *s, const struct resp_arg *sub, const char *cmd)
{
    char name[129];
    resp_sanitize(name, sizeof(name), sub->ptr, sub->len);
    resp_add_errorf(s->out, "ERR unknown subcommand '%s'. Try %s HELP.", name, cmd);
}

void reply_storage_error(struct session *s, int rc)
{
    resp_add_errorf(s->out, "ERR storage error: %s", kvs_strerror(rc));
}

void reply_syntax_error(struct session *s)
{
    resp_add_error(s->out, "ERR syntax error");
}

void reply_not_integer(struct session *s)
{
    resp_add_error(s->out, "ERR value is not an integer or out of range");
}

void reply_read(struct session *s, int rc, void *val, size_t len)
{
    if (rc == KVS_OK) {
        resp_add_bulk(s->out, val, len);
        kvs_free(val);
    } else if (rc == KVS_NOT_FOUND) {
        resp_add_null(s->out);
    } else {
        reply_storage_error(s, rc);
    }
}

size_t reply_budget(const struct buf *out)
{
    if (out->limit == 0)
        return 0;
    return out->limit > out->len ? out->limit - out->len : 1;
}

bool key_storable(const struct resp_arg *key)
{
    return key->len >= 1 && key->len <= KVS_KEY_MAX;
}

bool key_check(struct session *s, const struct resp_arg *key)
{
    if (key->len == 0)
        resp_add_error(s->out, "ERR empty keys are not supported by kvs-server");
    else if (key->len > KVS_KEY_MAX)
        resp_add_errorf(s->out, "ERR key too long: kvs-server keys are at most %u bytes",
                        KVS_KEY_MAX);
    return key_storable(key);
}

/* Redis's text: the name, then up to 128 bytes of quoted arguments. */
void reply_unknown_command(struct session *s, size_t argc, const struct resp_arg *argv)
{
    char name[129], args[160] = "";
    size_t used = 0;
    resp_sanitize(name, sizeof(name), argv[0].ptr, argv[0].len);
    for (size_t i = 1; i < argc && used < 128; i++) {
        char word[129];
        resp_sanitize(word, 128 - used + 1, argv[i].ptr, argv[i].len);
        used += (size_t)snprintf(args + used, sizeof(args) - used, "'%s' ", word);
    }
    resp_add_errorf(s->out, "ERR unknown command '%s', with args beginning with: %s", name, args);
}

/* Writes pass the write gate (write_gate.h); CMD_EXCLUSIVE handlers close it themselves. */
static void run(const struct command *cmd, struct session *s, size_t argc,
                const struct resp_arg *argv)
{
    struct write_gate *gate = s->srv->gate;
    if ((cmd->flags & (CMD_WRITE | CMD_EXCLUSIVE)) == CMD_WRITE) {
        write_gate_enter(gate, s->worker);
        cmd->fn(s, argc, argv);
        write_gate_leave(gate, s->worker);
    } else {
        cmd->fn(s, argc, argv);
    }
}

void commands_execute(struct session *s, const struct resp_request *req)
{
    const struct resp_arg *argv = req->argv;
    const struct command *cmd = commands_lookup(argv[0].ptr, argv[0].len);
    if (!cmd) {
        reply_unknown_command(s, req->argc, argv);
        return;
    }
    if ((cmd->arity > 0 && req->argc != (size_t)cmd->arity) ||
        (cmd->arity < 0 && req->argc < (size_t)-cmd->arity)) {
        reply_arity(s, cmd->name);
        return;
    }
    if (!s->authed && !(cmd->flags & CMD_NOAUTH)) {
        resp_add_error(s->out, "NOAUTH Authentication required.");
        return;
    }
    run(cmd, s, req->argc, argv);
}
