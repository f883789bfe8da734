/*
 * Connection-level commands: PING ECHO SELECT AUTH QUIT CLIENT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "commands.h"

void cmd_ping(struct session *s, size_t argc, const struct resp_arg *argv)
{
    if (argc > 2)
        reply_arity(s, "ping");
    else if (argc == 2)
        resp_add_bulk(s->out, argv[1].ptr, argv[1].len);
    else
        resp_add_simple(s->out, "PONG");
}

void cmd_echo(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    resp_add_bulk(s->out, argv[1].ptr, argv[1].len);
}

void cmd_select(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    long long db;
    if (!resp_parse_ll(argv[1].ptr, argv[1].len, &db))
        resp_add_error(s->out, "ERR value is not an integer or out of range");
    else if (db != 0)
        resp_add_error(s->out, "ERR DB index is out of range"); /* one keyspace only */
    else
        resp_add_simple(s->out, "OK");
}

/* Compare in time that depends only on the configured secret's length. */
static bool secret_equal(const struct resp_arg *given, const char *secret)
{
    size_t n = strlen(secret);
    unsigned char diff = given->len != n;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(secret[i] ^ (i < given->len ? given->ptr[i] : 0));
    return diff == 0;
}

/* AUTH password, or AUTH default password (Redis 6 form). */
void cmd_auth(struct session *s, size_t argc, const struct resp_arg *argv)
{
    const char *secret = s->srv->cfg->requirepass;
    if (argc > 3) {
        resp_add_error(s->out, "ERR syntax error");
        return;
    }
    if (!secret) {
        resp_add_error(s->out, "ERR AUTH <password> called without any password configured "
                               "for the default user. Are you sure your configuration is correct?");
        return;
    }
    bool user_ok = argc == 2 || (argv[1].len == 7 && memcmp(argv[1].ptr, "default", 7) == 0);
    bool pass_ok = secret_equal(&argv[argc - 1], secret);
    if (user_ok && pass_ok) {
        s->authed = true;
        resp_add_simple(s->out, "OK");
    } else {
        log_msg(LL_WARN, "client %llu: AUTH failed", (unsigned long long)s->id);
        resp_add_error(s->out, "WRONGPASS invalid username-password pair or user is disabled.");
    }
}

void cmd_quit(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    (void)argv;
    resp_add_simple(s->out, "OK");
    s->close_after_reply = true;
}

/* "ip:port" of a socket, from getpeername or getsockname; "?" if unknown. */
static void socket_name(int fd, bool peer, char *out, size_t n)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    struct addr a;
    int rc = peer ? getpeername(fd, (struct sockaddr *)&ss, &len)
                  : getsockname(fd, (struct sockaddr *)&ss, &len);
    if (rc == 0 && addr_from_sockaddr(&a, &ss, len) == 0)
        addr_format(&a, out, n);
    else
        snprintf(out, n, "?");
}

static void client_info(struct session *s)
{
    char paddr[ADDR_STR_MAX], laddr[ADDR_STR_MAX], line[512];
    socket_name(s->fd, true, paddr, sizeof(paddr));
    socket_name(s->fd, false, laddr, sizeof(laddr));
    int n = snprintf(line, sizeof(line),
                     "id=%llu addr=%s laddr=%s fd=%d name=%s age=%lld db=0 user=default resp=2\n",
                     (unsigned long long)s->id, paddr, laddr, s->fd, s->name ? s->name : "",
                     (long long)(time(NULL) - s->created));
    resp_add_bulk(s->out, line, n < 0 ? 0 : (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* Redis allows names of printable characters without blanks. */
static void client_setname(struct session *s, const struct resp_arg *name)
{
    for (size_t i = 0; i < name->len; i++) {
        if (name->ptr[i] < '!' || name->ptr[i] > '~') {
            resp_add_error(s->out, "ERR Client names cannot contain spaces, newlines or special "
                                   "characters.");
            return;
        }
    }
    char *copy = name->len ? strndup(name->ptr, name->len) : NULL;
    if (name->len && !copy) {
        resp_add_error(s->out, "ERR out of memory");
        return;
    }
    free(s->name);
    s->name = copy;
    resp_add_simple(s->out, "OK");
}

static void client_help(struct session *s)
{
    static const char *const lines[] = {
        "CLIENT <subcommand> [<arg> ...]. Subcommands are:",
        "ID", "    Return the ID of the current connection.",
        "INFO", "    Return information about the current client connection.",
        "GETNAME", "    Return the name of the current connection.",
        "SETNAME <name>", "    Assign the name <name> to the current connection.",
        "SETINFO <LIB-NAME|LIB-VER> <value>", "    Accepted and ignored.",
        "NO-EVICT|NO-TOUCH <ON|OFF>", "    Accepted and ignored (kvs-server never evicts).",
        "REPLY ON", "    Accepted; OFF and SKIP are not supported.",
    };
    resp_add_array(s->out, sizeof(lines) / sizeof(lines[0]));
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        resp_add_simple(s->out, lines[i]);
}

/* Subcommands whose only effect is a reply: accepted for client libraries' sake. */
static bool client_harmless(struct session *s, size_t argc, const struct resp_arg *argv)
{
    const struct resp_arg *sub = &argv[1];
    if (arg_is(sub, "setinfo") && argc == 4 &&
        (arg_is(&argv[2], "lib-name") || arg_is(&argv[2], "lib-ver"))) {
        resp_add_simple(s->out, "OK");
    } else if ((arg_is(sub, "no-evict") || arg_is(sub, "no-touch")) && argc == 3 &&
               (arg_is(&argv[2], "on") || arg_is(&argv[2], "off"))) {
        resp_add_simple(s->out, "OK");
    } else if (arg_is(sub, "reply") && argc == 3 && arg_is(&argv[2], "on")) {
        resp_add_simple(s->out, "OK");
    } else if (arg_is(sub, "setinfo") || arg_is(sub, "no-evict") || arg_is(sub, "no-touch") ||
               arg_is(sub, "reply")) {
        resp_add_error(s->out, "ERR syntax error");
    } else {
        return false;
    }
    return true;
}

/* Subcommands that take no argument: check the count the Redis way. */
static bool no_args(struct session *s, size_t argc, const char *sub)
{
    if (argc == 2)
        return true;
    resp_add_errorf(s->out, "ERR wrong number of arguments for 'client|%s' command", sub);
    return false;
}

void cmd_client(struct session *s, size_t argc, const struct resp_arg *argv)
{
    const struct resp_arg *sub = &argv[1];
    if (arg_is(sub, "id")) {
        if (no_args(s, argc, "id"))
            resp_add_int(s->out, (long long)s->id);
    } else if (arg_is(sub, "getname")) {
        if (no_args(s, argc, "getname"))
            s->name ? resp_add_bulk_str(s->out, s->name) : resp_add_null(s->out);
    } else if (arg_is(sub, "info")) {
        if (no_args(s, argc, "info"))
            client_info(s);
    } else if (arg_is(sub, "help")) {
        if (no_args(s, argc, "help"))
            client_help(s);
    } else if (arg_is(sub, "setname")) {
        if (argc != 3)
            reply_arity(s, "client|setname");
        else
            client_setname(s, &argv[2]);
    } else if (!client_harmless(s, argc, argv)) {
        reply_unknown_subcommand(s, sub, "CLIENT");
    }
}
