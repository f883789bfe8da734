/*
 * Connection-level commands: PING ECHO SELECT AUTH QUIT CLIENT HELLO.
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

/* The user is "default" (or not given) and the password is right; without a
 * password the default user takes any (Redis's "nopass"). */
static bool credentials_ok(const char *secret, const struct resp_arg *user,
                           const struct resp_arg *pass)
{
    bool user_ok = !user || (user->len == 7 && memcmp(user->ptr, "default", 7) == 0);
    bool pass_ok = !secret || secret_equal(pass, secret);
    return user_ok && pass_ok;
}

static void reply_wrongpass(struct session *s)
{
    log_msg(LL_WARN, "client %llu: AUTH failed", (unsigned long long)s->id);
    resp_add_error(s->out, "WRONGPASS invalid username-password pair or user is disabled.");
}

/* AUTH password, or AUTH default password (Redis 6 form; without a
 * configured password the default user takes any, as Redis's nopass). */
void cmd_auth(struct session *s, size_t argc, const struct resp_arg *argv)
{
    const char *secret = s->srv->cfg->requirepass;
    if (argc > 3) {
        resp_add_error(s->out, "ERR syntax error");
        return;
    }
    if (!secret && argc == 2) { /* Redis refuses only the one-argument form */
        resp_add_error(s->out, "ERR AUTH <password> called without any password configured "
                               "for the default user. Are you sure your configuration is correct?");
        return;
    }
    if (credentials_ok(secret, argc == 3 ? &argv[1] : NULL, &argv[argc - 1])) {
        s->authed = true;
        resp_add_simple(s->out, "OK");
    } else {
        reply_wrongpass(s);
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

/*
 * Every field of Redis 7.0's line, in its order, then 7.2's lib-name and
 * lib-ver: client libraries parse it (redis-py 4.3 fails without "obl").
 * Fields kvs-server does not track (idle time, buffer sizes) read 0.
 */
static void client_info(struct session *s)
{
    char paddr[ADDR_STR_MAX], laddr[ADDR_STR_MAX];
    socket_name(s->fd, true, paddr, sizeof(paddr));
    socket_name(s->fd, false, laddr, sizeof(laddr));
    static const char fmt[] =
        "id=%llu addr=%s laddr=%s fd=%d name=%s age=%lld idle=0 flags=N db=0 sub=0 psub=0 "
        "ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 "
        "omem=0 tot-mem=0 events=r cmd=client|info user=default redir=-1 resp=2 lib-name=%s "
        "lib-ver=%s\n";
    const char *name = s->name ? s->name : "", *lib = s->lib_name ? s->lib_name : "",
               *ver = s->lib_ver ? s->lib_ver : "";
    long long age = (long long)(time(NULL) - s->created);
    int n = snprintf(NULL, 0, fmt, (unsigned long long)s->id, paddr, laddr, s->fd, name, age, lib,
                     ver);
    char *line = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (!line) {
        resp_add_error(s->out, "ERR out of memory");
        return;
    }
    snprintf(line, (size_t)n + 1, fmt, (unsigned long long)s->id, paddr, laddr, s->fd, name, age,
             lib, ver);
    resp_add_bulk(s->out, line, (size_t)n);
    free(line);
}

/* Redis allows names (and library names) of printable characters without blanks. */
static bool printable_word(const struct resp_arg *a)
{
    for (size_t i = 0; i < a->len; i++)
        if (a->ptr[i] < '!' || a->ptr[i] > '~')
            return false;
    return true;
}

/* Replace *field with a copy of value (NULL if empty); false when out of memory. */
static bool set_string(char **field, const struct resp_arg *value)
{
    char *copy = value->len ? strndup(value->ptr, value->len) : NULL;
    if (value->len && !copy)
        return false;
    free(*field);
    *field = copy;
    return true;
}

/* Set the client's name; on failure reply with the error and return false. */
static bool set_client_name(struct session *s, const struct resp_arg *name)
{
    if (!printable_word(name)) {
        resp_add_error(s->out, "ERR Client names cannot contain spaces, newlines or special "
                               "characters.");
        return false;
    }
    if (!set_string(&s->name, name)) {
        resp_add_error(s->out, "ERR out of memory");
        return false;
    }
    return true;
}

static void client_setname(struct session *s, const struct resp_arg *name)
{
    if (set_client_name(s, name))
        resp_add_simple(s->out, "OK");
}

/* CLIENT SETINFO LIB-NAME|LIB-VER value (Redis 7.2): kept for CLIENT INFO. */
static void client_setinfo(struct session *s, const struct resp_arg *attr,
                           const struct resp_arg *value)
{
    bool name = arg_is(attr, "lib-name");
    if (!name && !arg_is(attr, "lib-ver")) {
        char what[129];
        resp_sanitize(what, sizeof(what), attr->ptr, attr->len);
        resp_add_errorf(s->out, "ERR Unrecognized option '%s'", what);
    } else if (!printable_word(value)) {
        resp_add_errorf(s->out, "ERR %s cannot contain spaces, newlines or special characters.",
                        name ? "lib-name" : "lib-ver");
    } else if (!set_string(name ? &s->lib_name : &s->lib_ver, value)) {
        resp_add_error(s->out, "ERR out of memory");
    } else {
        resp_add_simple(s->out, "OK");
    }
}

static void client_help(struct session *s)
{
    static const char *const lines[] = {
        "CLIENT <subcommand> [<arg> ...]. Subcommands are:",
        "ID", "    Return the ID of the current connection.",
        "INFO", "    Return information about the current client connection.",
        "GETNAME", "    Return the name of the current connection.",
        "SETNAME <name>", "    Assign the name <name> to the current connection.",
        "SETINFO <LIB-NAME|LIB-VER> <value>", "    Set client library info, shown by CLIENT INFO.",
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
    if ((arg_is(sub, "no-evict") || arg_is(sub, "no-touch")) && argc == 3 &&
        (arg_is(&argv[2], "on") || arg_is(&argv[2], "off"))) {
        resp_add_simple(s->out, "OK");
    } else if (arg_is(sub, "reply") && argc == 3 && arg_is(&argv[2], "on")) {
        resp_add_simple(s->out, "OK");
    } else if (arg_is(sub, "no-evict") || arg_is(sub, "no-touch") || arg_is(sub, "reply")) {
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
    } else if (arg_is(sub, "setinfo")) {
        if (argc != 4)
            reply_arity(s, "client|setinfo");
        else
            client_setinfo(s, &argv[2], &argv[3]);
    } else if (!client_harmless(s, argc, argv)) {
        reply_unknown_subcommand(s, sub, "CLIENT");
    }
}

/* ---- HELLO [protover [AUTH user pass] [SETNAME name]] ---- */

struct hello_opts {
    const struct resp_arg *user, *pass, *name;
};

static bool parse_hello(struct session *s, size_t argc, const struct resp_arg *argv,
                        struct hello_opts *o)
{
    *o = (struct hello_opts){0};
    for (size_t i = 2; i < argc; i++) {
        size_t more = argc - 1 - i;
        if (arg_is(&argv[i], "auth") && more >= 2) {
            o->user = &argv[i + 1];
            o->pass = &argv[i + 2];
            i += 2;
        } else if (arg_is(&argv[i], "setname") && more >= 1) {
            o->name = &argv[++i];
        } else {
            char opt[129];
            resp_sanitize(opt, sizeof(opt), argv[i].ptr, argv[i].len);
            resp_add_errorf(s->out, "ERR Syntax error in HELLO option '%s'", opt);
            return false;
        }
    }
    return true;
}

/* Redis's reply with RESP2: the map as a flat array of field, value pairs. */
static void hello_reply(struct session *s)
{
    resp_add_array(s->out, 14);
    resp_add_bulk_str(s->out, "server");
    resp_add_bulk_str(s->out, "redis");
    resp_add_bulk_str(s->out, "version");
    resp_add_bulk_str(s->out, COMPAT_REDIS_VERSION);
    resp_add_bulk_str(s->out, "proto");
    resp_add_int(s->out, 2);
    resp_add_bulk_str(s->out, "id");
    resp_add_int(s->out, (long long)s->id);
    resp_add_bulk_str(s->out, "mode");
    resp_add_bulk_str(s->out, "standalone");
    resp_add_bulk_str(s->out, "role");
    resp_add_bulk_str(s->out, "master");
    resp_add_bulk_str(s->out, "modules");
    resp_add_array(s->out, 0);
}

/*
 * kvs-server speaks RESP2 only. HELLO and HELLO 2 get Redis's reply; HELLO 3
 * gets what Redis 5, which had no HELLO, answered: "unknown command" is the
 * reply every client that falls back to RESP2 recognises, where -NOPROTO is
 * not (doc/SERVER.md). Its arguments are quoted only up to AUTH, so that the
 * password does not travel back into client error logs.
 */
static void hello_resp3(struct session *s, size_t argc, const struct resp_arg *argv)
{
    size_t shown = argc;
    for (size_t i = 2; i < argc && shown == argc; i++)
        if (arg_is(&argv[i], "auth"))
            shown = i;
    reply_unknown_command(s, shown, argv);
}

void cmd_hello(struct session *s, size_t argc, const struct resp_arg *argv)
{
    long long ver = 2;
    struct hello_opts o;
    if (argc >= 2 && !resp_parse_ll(argv[1].ptr, argv[1].len, &ver)) {
        resp_add_error(s->out, "ERR Protocol version is not an integer or out of range");
        return;
    }
    if (ver == 3) {
        hello_resp3(s, argc, argv);
        return;
    }
    if (ver != 2) {
        resp_add_error(s->out, "NOPROTO unsupported protocol version");
        return;
    }
    if (!parse_hello(s, argc, argv, &o))
        return;
    if (o.user) {
        if (!credentials_ok(s->srv->cfg->requirepass, o.user, o.pass)) {
            reply_wrongpass(s);
            return;
        }
        s->authed = true;
    }
    if (!s->authed) {
        resp_add_error(s->out, "NOAUTH HELLO must be called with the client already "
                               "authenticated, otherwise the HELLO <proto> AUTH <user> <pass> "
                               "option can be used to authenticate the client and select the "
                               "RESP protocol version at the same time");
        return;
    }
    if (o.name && !set_client_name(s, o.name))
        return;
    hello_reply(s);
}
