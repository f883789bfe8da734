/*
 * INFO: Redis-style "field:value" sections. Redis field names are used where
 * the meaning is the same (clients parse connected_clients, loading,
 * redis_version...); the store's own statistics follow, named
 * kvs_<kvs_stat_name()>, discovered at run time so that statistics a newer
 * libkvs adds show up without a change here.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "commands.h"
#include "saver.h"
#include "scan_cursors.h"
#include "worker.h"

static void line(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void line(struct buf *b, const char *fmt, ...)
{
    char tmp[PATH_MAX + 128]; /* room for a path */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp) - 2, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(tmp) - 2 ? (size_t)n : sizeof(tmp) - 3;
    tmp[len++] = '\r';
    tmp[len++] = '\n';
    buf_append(b, tmp, len);
}

static void section_server(struct buf *b, const struct server *srv)
{
    struct utsname u;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    if (uname(&u) != 0)
        memset(&u, 0, sizeof(u));
    time_t up = time(NULL) - srv->started;
    line(b, "# Server");
    line(b, "redis_version:%s", COMPAT_REDIS_VERSION);
    line(b, "kvs_server_version:%s", KVS_VERSION_STRING);
    line(b, "libkvs_version:%s", kvs_version());
    line(b, "redis_mode:standalone");
    line(b, "os:%s %s %s", u.sysname, u.release, u.machine);
    line(b, "arch_bits:%zu", sizeof(void *) * 8);
    line(b, "multiplexing_api:epoll");
    line(b, "process_id:%ld", (long)getpid());
    line(b, "tcp_port:%u", (unsigned)srv->port);
    line(b, "server_time_usec:%lld", (long long)tv.tv_sec * 1000000 + tv.tv_usec);
    line(b, "uptime_in_seconds:%lld", (long long)up);
    line(b, "uptime_in_days:%lld", (long long)up / 86400);
    line(b, "worker_threads:%u", srv->nworkers);
}

static void section_clients(struct buf *b, const struct server *srv)
{
    line(b, "# Clients");
    line(b, "connected_clients:%u", atomic_load(&srv->clients));
    line(b, "maxclients:%u", srv->cfg->max_clients);
    line(b, "blocked_clients:0");
}

/* Redis's rdb_* fields describe the backups (SAVE, BGSAVE), which stand in for RDB files. */
static void section_persistence(struct buf *b, const struct server *srv)
{
    static const char *const modes[] = {"none", "interval", "always"};
    struct saver_status st;
    saver_status(srv->saver, &st);
    line(b, "# Persistence");
    line(b, "loading:0");
    line(b, "rdb_bgsave_in_progress:%d", st.in_progress);
    line(b, "rdb_last_save_time:%lld", (long long)st.last_save);
    line(b, "rdb_last_bgsave_status:%s", st.last_ok ? "ok" : "err");
    line(b, "rdb_last_bgsave_time_sec:%lld", st.last_secs);
    line(b, "rdb_current_bgsave_time_sec:%lld", st.current_secs);
    line(b, "rdb_saves:%llu", (unsigned long long)st.saves);
    line(b, "kvs_dir:%s", srv->cfg->dir_abs ? srv->cfg->dir_abs : srv->cfg->dir);
    line(b, "kvs_sync:%s", modes[srv->cfg->sync]);
    line(b, "kvs_backup_dir:%s", srv->cfg->backup_dir_abs ? srv->cfg->backup_dir_abs : "");
    line(b, "kvs_last_backup:%s", st.last_path);
}

static void section_stats(struct buf *b, const struct server *srv)
{
    uint64_t conns = 0, cmds = 0, in = 0, out = 0, perr = 0, idle = 0, over = 0;
    for (unsigned i = 0; i < srv->nworkers; i++) {
        struct worker_stats *st = &srv->workers[i]->stats;
        conns += stat_get(&st->connections);
        cmds += stat_get(&st->commands);
        in += stat_get(&st->net_in);
        out += stat_get(&st->net_out);
        perr += stat_get(&st->protocol_errors);
        idle += stat_get(&st->idle_closed);
        over += stat_get(&st->output_closed);
    }
    line(b, "# Stats");
    line(b, "total_connections_received:%llu", (unsigned long long)conns);
    line(b, "total_commands_processed:%llu", (unsigned long long)cmds);
    line(b, "total_net_input_bytes:%llu", (unsigned long long)in);
    line(b, "total_net_output_bytes:%llu", (unsigned long long)out);
    line(b, "rejected_connections:%llu", (unsigned long long)atomic_load(&srv->rejected));
    line(b, "total_error_replies_protocol:%llu", (unsigned long long)perr);
    line(b, "kvs_clients_closed_idle:%llu", (unsigned long long)idle);
    line(b, "client_output_buffer_limit_disconnections:%llu", (unsigned long long)over);
    struct scan_cursors_stats sc;
    scan_cursors_stats(srv->cursors, &sc);
    line(b, "scan_cursors:%llu", (unsigned long long)sc.live);
    line(b, "scan_cursor_bytes:%llu", (unsigned long long)sc.bytes);
    line(b, "scan_cursors_issued:%llu", (unsigned long long)sc.issued);
    line(b, "scan_cursors_unknown:%llu", (unsigned long long)sc.unknown);
    line(b, "keys_examined:%llu", (unsigned long long)atomic_load(&srv->keys_examined));
    for (int i = 0;; i++) {
        const char *name = kvs_stat_name((kvs_stat_t)i);
        uint64_t v;
        if (!name)
            break;
        if (kvs_stat(srv->db, (kvs_stat_t)i, &v) == KVS_OK)
            line(b, "kvs_%s:%llu", name, (unsigned long long)v);
    }
}

static void section_keyspace(struct buf *b, const struct server *srv)
{
    uint64_t keys = 0;
    line(b, "# Keyspace");
    if (kvs_stat(srv->db, KVS_STAT_KEYS, &keys) == KVS_OK && keys > 0)
        line(b, "db0:keys=%llu,expires=0,avg_ttl=0", (unsigned long long)keys);
}

static const struct {
    const char *name;
    void (*fn)(struct buf *, const struct server *);
} sections[] = {
    {"server", section_server},           {"clients", section_clients},
    {"persistence", section_persistence}, {"stats", section_stats},
    {"keyspace", section_keyspace},
};
#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

void cmd_info(struct session *s, size_t argc, const struct resp_arg *argv)
{
    bool want[NSECTIONS] = {false};
    bool all = argc == 1;
    for (size_t i = 1; i < argc; i++) {
        if (arg_is(&argv[i], "all") || arg_is(&argv[i], "default") ||
            arg_is(&argv[i], "everything"))
            all = true;
        for (size_t j = 0; j < NSECTIONS; j++)
            want[j] |= arg_is(&argv[i], sections[j].name);
    }
    struct buf text;
    buf_init(&text, 0);
    for (size_t j = 0; j < NSECTIONS; j++) {
        if (!all && !want[j])
            continue;
        if (text.len)
            line(&text, "%s", "");
        sections[j].fn(&text, s->srv);
    }
    if (buf_failed(&text))
        resp_add_error(s->out, "ERR out of memory");
    else
        resp_add_bulk(s->out, text.data, text.len);
    buf_free(&text);
}
