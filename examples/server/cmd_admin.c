/*
 * Server-level commands: SHUTDOWN, CONFIG GET, COMMAND.
 *
 * CONFIG GET answers what tools ask (redis-benchmark reads "save" and
 * "appendonly" before it starts) from kvs-server's real settings;
 * CONFIG SET is refused because settings are fixed at start.
 */
#include <fnmatch.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"

void cmd_shutdown(struct session *s, size_t argc, const struct resp_arg *argv)
{
    bool save = false, nosave = false;
    for (size_t i = 1; i < argc; i++) {
        save = save || arg_is(&argv[i], "save");
        nosave = nosave || arg_is(&argv[i], "nosave");
        if (arg_is(&argv[i], "abort")) {
            resp_add_error(s->out, "ERR No shutdown in progress.");
            return;
        }
        if (!arg_is(&argv[i], "nosave") && !arg_is(&argv[i], "save") &&
            !arg_is(&argv[i], "now") && !arg_is(&argv[i], "force")) {
            resp_add_error(s->out, "ERR syntax error");
            return;
        }
    }
    if (save && nosave) { /* contradictory, as Redis says */
        resp_add_error(s->out, "ERR syntax error");
        return;
    }
    /* Like Redis: no reply, the connection closes as the server stops. */
    log_msg(LL_INFO, "SHUTDOWN requested by client %llu", (unsigned long long)s->id);
    s->close_after_reply = true;
    server_request_shutdown(s->srv);
}

/* ---- CONFIG ---- */

struct param {
    const char *name;
    char value[512];
};

static const char *fsync_name(kvs_sync_t mode)
{
    return mode == KVS_SYNC_ALWAYS ? "always" : mode == KVS_SYNC_NONE ? "no" : "everysec";
}

/* The parameters CONFIG GET knows, with their current values. */
static size_t config_params(const struct server *srv, struct param *p, size_t max)
{
    const struct server_config *cfg = srv->cfg;
    size_t n = 0;
#define PARAM(nm, ...)                                                   \
    do {                                                                 \
        if (n < max) {                                                   \
            p[n].name = nm;                                              \
            snprintf(p[n].value, sizeof(p[n].value), __VA_ARGS__);       \
            n++;                                                         \
        }                                                                \
    } while (0)
    PARAM("save", "%s", "");          /* no snapshots: every write goes to the log */
    PARAM("appendonly", "%s", "yes"); /* the store is an append-only log */
    PARAM("appendfsync", "%s", fsync_name(cfg->sync));
    PARAM("bind", "%s", cfg->addr.host);
    PARAM("port", "%u", (unsigned)srv->port);
    PARAM("dir", "%s", cfg->dir_abs ? cfg->dir_abs : cfg->dir);
    PARAM("databases", "%s", "1");
    PARAM("maxclients", "%u", cfg->max_clients);
    PARAM("proto-max-bulk-len", "%zu", cfg->max_bulk);
    PARAM("timeout", "%u", cfg->timeout);
    PARAM("maxmemory", "%s", "0");
    PARAM("loglevel", "%s", log_level_name(cfg->log_level));
#undef PARAM
    return n;
}

static bool glob_match(const struct resp_arg *pattern, const char *name)
{
    char pat[256];
    if (pattern->len >= sizeof(pat) || memchr(pattern->ptr, '\0', pattern->len))
        return false;
    memcpy(pat, pattern->ptr, pattern->len);
    pat[pattern->len] = '\0';
    return fnmatch(pat, name, FNM_CASEFOLD) == 0;
}

static void config_get(struct session *s, size_t argc, const struct resp_arg *argv)
{
    struct param params[16];
    size_t n = config_params(s->srv, params, sizeof(params) / sizeof(params[0]));
    bool hit[16] = {false};
    size_t matches = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 2; j < argc && !hit[i]; j++)
            hit[i] = glob_match(&argv[j], params[i].name);
        matches += hit[i];
    }
    resp_add_array(s->out, matches * 2);
    for (size_t i = 0; i < n; i++) {
        if (hit[i]) {
            resp_add_bulk_str(s->out, params[i].name);
            resp_add_bulk_str(s->out, params[i].value);
        }
    }
}

void cmd_config(struct session *s, size_t argc, const struct resp_arg *argv)
{
    const struct resp_arg *sub = &argv[1];
    if (arg_is(sub, "get")) {
        if (argc < 3)
            reply_arity(s, "config|get");
        else
            config_get(s, argc, argv);
    } else if (arg_is(sub, "set") || arg_is(sub, "resetstat") || arg_is(sub, "rewrite")) {
        resp_add_error(s->out, "ERR kvs-server settings are fixed at start; only CONFIG GET is "
                               "supported");
    } else if (arg_is(sub, "help") && argc == 2) {
        resp_add_array(s->out, 3);
        resp_add_simple(s->out, "CONFIG <subcommand> [<arg> ...]. Subcommands are:");
        resp_add_simple(s->out, "GET <pattern>");
        resp_add_simple(s->out, "    Return parameters matching the glob-like <pattern> and their values.");
    } else {
        reply_unknown_subcommand(s, sub, "CONFIG");
    }
}

/* ---- COMMAND ---- */

/* Redis 7's ten-field description of one command. */
static void add_command_info(struct session *s, const struct command *c)
{
    const char *flags[8];
    size_t nflags = commands_flag_names(c->flags, flags, 8);
    resp_add_array(s->out, 10);
    resp_add_bulk_str(s->out, c->name);
    resp_add_int(s->out, c->arity);
    resp_add_array(s->out, nflags);
    for (size_t i = 0; i < nflags; i++)
        resp_add_simple(s->out, flags[i]);
    resp_add_int(s->out, c->first_key);
    resp_add_int(s->out, c->last_key);
    resp_add_int(s->out, c->key_step);
    for (int i = 0; i < 4; i++) /* ACL categories, tips, key specs, subcommands */
        resp_add_array(s->out, 0);
}

static void command_info(struct session *s, size_t argc, const struct resp_arg *argv)
{
    size_t count;
    const struct command *all = commands_table(&count);
    if (argc <= 2) {
        resp_add_array(s->out, count);
        for (size_t i = 0; i < count; i++)
            add_command_info(s, &all[i]);
        return;
    }
    resp_add_array(s->out, argc - 2);
    for (size_t i = 2; i < argc; i++) {
        const struct command *c = commands_lookup(argv[i].ptr, argv[i].len);
        c ? add_command_info(s, c) : resp_add_null(s->out); /* as Redis in RESP2 */
    }
}

void cmd_command(struct session *s, size_t argc, const struct resp_arg *argv)
{
    size_t count;
    const struct command *all = commands_table(&count);
    if (argc == 1 || arg_is(&argv[1], "info")) {
        command_info(s, argc, argv);
    } else if (arg_is(&argv[1], "count") && argc == 2) {
        resp_add_int(s->out, (long long)count);
    } else if (arg_is(&argv[1], "docs")) {
        resp_add_array(s->out, 0); /* no docs: redis-cli falls back to its own help */
    } else if (arg_is(&argv[1], "list") && argc == 2) {
        resp_add_array(s->out, count);
        for (size_t i = 0; i < count; i++)
            resp_add_bulk_str(s->out, all[i].name);
    } else if (arg_is(&argv[1], "count") || arg_is(&argv[1], "list")) {
        resp_add_error(s->out, "ERR syntax error");
    } else {
        reply_unknown_subcommand(s, &argv[1], "COMMAND");
    }
}
