/*
 * Fuzz target: kvs-server's command layer against a real store.
 *
 * The input is a client's request stream. It is parsed as a connection of
 * kvs-server parses it (examples/server/conn.c: the limits of an
 * unauthenticated client until AUTH succeeds) and each request runs through
 * commands_execute(), the dispatcher kvs-server uses, on a session of a
 * server whose store is opened once per process in a temporary directory.
 * Every request must append exactly one well-formed RESP2 reply (SHUTDOWN
 * none), and the session must stay consistent. After each input the keys it
 * wrote are removed, so every input starts from an empty store; SCAN cursors
 * are per input too.
 *
 * Input layout (doc/FUZZING.md):
 *   byte 0    bit 0 a password ("secret") is configured, so the session
 *             starts unauthenticated; bit 1 a small bulk limit (1 KiB)
 *   the rest  the request stream (multibulk or inline)
 */
#include <kvs.h>
#include <string.h>

#include "commands.h"
#include "fuzz.h"
#include "saver.h"
#include "scan_cursors.h"
#include "server.h"
#include "write_gate.h"

/* kvs-server reopens nothing; here the store is replaced now and then so
 * that the files of removed keys do not pile up. */
#define RUNS_PER_STORE 4096
#define OUT_LIMIT ((size_t)16 << 20)

static char *dir;
static kvs_t *db;
static unsigned long runs;
static bool shutdown_requested;

/* kvs-server.c's: here it only notes the request. */
void server_request_shutdown(struct server *srv)
{
    (void)srv;
    shutdown_requested = true;
}

static void open_store(void)
{
    fuzz_clear_dir(dir);
    kvs_options_t *o = kvs_options_create();
    FUZZ_CHECK(o != NULL);
    kvs_options_set_sync(o, KVS_SYNC_NONE);
    kvs_options_set_segment_size(o, 1u << 20);
    FUZZ_CHECK(kvs_open(dir, o, &db) == KVS_OK);
    kvs_options_destroy(o);
}

static void close_store(void)
{
    FUZZ_CHECK(kvs_close(db) == KVS_OK);
    db = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LL_ERROR);
    dir = fuzz_tmpdir("commands");
    open_store();
    atexit(close_store);
    return 0;
}

/* Skip one RESP2 value at *pos; false if malformed or cut short. */
static bool reply_value(const char *p, size_t n, size_t *pos)
{
    if (*pos >= n)
        return false;
    const char *cr = memchr(p + *pos, '\r', n - *pos);
    if (!cr || (size_t)(cr - p) + 1 >= n || cr[1] != '\n')
        return false;
    char type = p[*pos];
    size_t line = *pos + 1, line_len = (size_t)(cr - p) - line;
    *pos = (size_t)(cr - p) + 2;
    if (memchr(p + line, '\n', line_len))
        return false;
    if (type == '+' || type == '-')
        return true;
    long long v;
    if (!resp_parse_ll(p + line, line_len, &v))
        return false;
    if (type == ':')
        return true;
    if (type == '$') {
        if (v == -1)
            return true;
        if (v < 0 || (unsigned long long)v > n - *pos || n - *pos - (size_t)v < 2 ||
            p[*pos + (size_t)v] != '\r' || p[*pos + (size_t)v + 1] != '\n')
            return false;
        *pos += (size_t)v + 2;
        return true;
    }
    if (type == '*') {
        if (v < -1)
            return false;
        for (long long i = 0; i < v; i++)
            if (!reply_value(p, n, pos))
                return false;
        return true;
    }
    return false;
}

/* Remove every key (so the next input starts from an empty store). */
static void remove_all(void)
{
    for (int round = 0; round < 4; round++) {
        kvs_iter_t *it;
        FUZZ_CHECK(kvs_iter_create(db, NULL, &it) == KVS_OK);
        int n = 0;
        for (int rc = kvs_iter_first(it); rc == KVS_OK; rc = kvs_iter_next(it)) {
            const void *k;
            size_t kl;
            if (kvs_iter_key(it, &k, &kl) == KVS_OK) {
                FUZZ_CHECK(kvs_remove(db, k, kl) == KVS_OK);
                n++;
            }
        }
        kvs_iter_destroy(it);
        if (n == 0)
            return;
    }
    FUZZ_CHECK(!"keys keep coming back");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (++runs % RUNS_PER_STORE == 0) {
        close_store();
        open_store();
    }
    struct server_config cfg = {
        .dir = dir,
        .threads = 1,
        .sync = KVS_SYNC_NONE,
        .requirepass = data[0] & 1 ? "secret" : NULL,
        .log_level = LL_ERROR,
        .max_clients = 100,
        .max_bulk = data[0] & 2 ? 1024 : RESP_DEFAULT_MAX_BULK,
    };
    snprintf(cfg.addr.host, sizeof(cfg.addr.host), "127.0.0.1");
    snprintf(cfg.addr_text, sizeof(cfg.addr_text), "127.0.0.1:6379");
    struct server srv = {.cfg = &cfg, .db = db, .port = 6379, .started = time(NULL),
                         .next_client_id = 1, .wake_fd = -1};
    srv.cursors = scan_cursors_create(64, 1u << 20, 1);
    FUZZ_CHECK(srv.cursors != NULL);
    /* the write gate (MSETNX, FLUSHALL) and the saver (no --backup-dir:
     * SAVE and BGSAVE answer an error), as kvs-server.c prepares them */
    srv.gate = write_gate_create(cfg.threads);
    srv.saver = saver_create(db, NULL, srv.started);
    FUZZ_CHECK(srv.gate != NULL && srv.saver != NULL);
    shutdown_requested = false;

    struct buf out;
    buf_init(&out, OUT_LIMIT);
    struct session s = {.srv = &srv, .out = &out, .id = 1, .fd = -1, .created = time(NULL),
                        .authed = cfg.requirepass == NULL};
    /* the parser's limits as a kvs-server worker sets them (worker.c) */
    struct resp_limits limits, limits_unauth;
    resp_limits_default(&limits);
    limits.max_bulk = cfg.max_bulk;
    limits_unauth = limits;
    limits_unauth.max_bulk = 16 * 1024;
    limits_unauth.max_args = 10;
    limits_unauth.unauthenticated = true;
    struct resp_parser parser;
    resp_parser_init(&parser, s.authed ? &limits : &limits_unauth);

    /* the stream in a buffer of exactly its size: reads past it are caught */
    size_t n = size - 1, pos = 0;
    char *in = malloc(n ? n : 1);
    FUZZ_CHECK(in != NULL);
    memcpy(in, data + 1, n);
    while (!s.close_after_reply && pos < n) {
        struct resp_request req;
        enum resp_status st = resp_parse(&parser, in + pos, n - pos, &req);
        if (st != RESP_DONE)
            break;
        pos += req.size;
        if (req.argc == 0)
            continue;
        bool was_authed = s.authed;
        size_t before = out.len;
        commands_execute(&s, &req);
        if (!was_authed && s.authed)
            resp_parser_set_limits(&parser, &limits);
        if (buf_failed(&out))
            break; /* kvs-server closes the connection */
        size_t at = before, replies = 0;
        while (at < out.len) {
            FUZZ_CHECK(reply_value(out.data, out.len, &at));
            replies++;
        }
        FUZZ_CHECK(replies == 1 || (replies == 0 && shutdown_requested));
        FUZZ_CHECK(!shutdown_requested || s.close_after_reply);
        if (cfg.requirepass && !s.authed)
            FUZZ_CHECK(!s.wrote);
        /* replies are sent and dropped from the buffer as a worker does */
        if (out.len > OUT_LIMIT / 2)
            buf_consume(&out, out.len);
    }
    free(in);
    resp_parser_free(&parser);
    buf_free(&out);
    free(s.name);
    free(s.lib_name);
    free(s.lib_ver);
    scan_cursors_destroy(srv.cursors);
    saver_destroy(srv.saver);
    write_gate_destroy(srv.gate);
    remove_all();
    return 0;
}
