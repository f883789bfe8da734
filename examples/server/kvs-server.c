/*
 * kvs-server: a Redis-protocol (RESP2) server on libkvs.
 *
 * main() sets the server up in order (options, security check, store,
 * listening socket, workers), runs the accept loop on the main thread until
 * SIGINT/SIGTERM/SHUTDOWN, then shuts down in reverse: stop accepting, let
 * the workers finish in-flight requests, close the store (which syncs).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "acceptor.h"
#include "options.h"
#include "saver.h"
#include "scan_cursors.h"
#include "server.h"
#include "worker.h"
#include "write_gate.h"

/* Descriptors beyond the clients': store segments, epoll and event fds, stdio. */
#define FD_RESERVE 128u

/* SCAN cursors remembered: a cursor is forgotten after this many later SCAN
 * calls (of all clients), or sooner if their keys pass the byte budget. */
#define SCAN_CURSOR_SLOTS 16384u
#define SCAN_CURSOR_BYTES ((size_t)16 << 20)

/* How long shutdown waits for a running backup (it cannot be interrupted). */
#define BACKUP_SHUTDOWN_WAIT_MS 60000

void server_request_shutdown(struct server *srv)
{
    atomic_store(&srv->shutdown_requested, true);
    uint64_t one = 1;
    if (write(srv->wake_fd, &one, sizeof(one)) < 0)
        log_msg(LL_ERROR, "cannot wake the main thread: %s", strerror(errno));
}

size_t server_query_limit(const struct server_config *cfg)
{
    /* Like Redis's client-query-buffer-limit (1 GiB), but always room for one
     * maximal argument plus the rest of its request. */
    size_t floor = (size_t)1 << 30;
    size_t need = cfg->max_bulk + 1024u * 1024u;
    return need > floor ? need : floor;
}

/* No password and a non-loopback address: refuse unless told it is wanted. */
static int check_exposure(const struct server_config *cfg)
{
    if (cfg->requirepass || addr_is_loopback(&cfg->addr))
        return 0;
    if (cfg->unsafe_no_auth) {
        log_msg(LL_WARN, "listening on %s without a password (--unsafe-no-auth): anyone who "
                         "can reach it can read and change every key", cfg->addr_text);
        return 0;
    }
    fprintf(stderr,
            "kvs-server: refusing to listen on %s, which is not a loopback address, without a "
            "password.\nUse --requirepass PASS, or --unsafe-no-auth if unauthenticated access "
            "from the network is really intended.\n",
            cfg->addr_text);
    return -1;
}

/*
 * Each client needs a descriptor: raise the soft limit to the hard limit (as
 * far as the kernel lets us), then lower max clients to what fits, and say so.
 */
static void fit_fd_limit(struct server_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t need = (rlim_t)cfg->max_clients + FD_RESERVE;
    /* An infinite hard limit is refused past fs.nr_open: then ask for what we need. */
    rlim_t targets[2] = {rl.rlim_max, need < rl.rlim_max ? need : rl.rlim_max};
    for (int i = 0; i < 2 && rl.rlim_cur < targets[i]; i++) {
        struct rlimit want = {.rlim_cur = targets[i], .rlim_max = rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            rl = want;
    }
    if (rl.rlim_cur >= need) {
        log_msg(LL_INFO, "file descriptor limit %llu: room for %u clients",
                (unsigned long long)rl.rlim_cur, cfg->max_clients);
        return;
    }
    unsigned fit = rl.rlim_cur > FD_RESERVE * 2 ? (unsigned)(rl.rlim_cur - FD_RESERVE) : 16u;
    log_msg(LL_WARN, "file descriptor limit is %llu (hard %llu): max clients lowered from %u to %u",
            (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, cfg->max_clients,
            fit);
    cfg->max_clients = fit;
}

static int open_store(struct server_config *cfg, kvs_t **db)
{
    kvs_options_t *opts = kvs_options_create();
    if (!opts) {
        log_msg(LL_ERROR, "out of memory");
        return -1;
    }
    /* --sync always: the store does not sync per write; the workers call
     * kvs_sync() once per loop iteration before replying (see worker.h). */
    kvs_options_set_sync(opts, cfg->sync == KVS_SYNC_ALWAYS ? KVS_SYNC_NONE : cfg->sync);
    /* with a sync per loop iteration, pwritev beats writing through a mapping */
    if (cfg->sync == KVS_SYNC_ALWAYS)
        kvs_options_set_write_through(opts, 1);
    kvs_options_set_logger(opts, log_from_kvs, NULL);
    kvs_options_set_repair(opts, cfg->repair);
    int rc = kvs_open(cfg->dir, opts, db);
    kvs_options_destroy(opts);
    if (rc != KVS_OK) {
        log_msg(LL_ERROR, "cannot open the store in '%s': %s%s%s", cfg->dir, kvs_strerror(rc),
                rc == KVS_EIO ? ": " : "", rc == KVS_EIO ? strerror(errno) : "");
        if (rc == KVS_EBUSY)
            log_msg(LL_ERROR, "is another kvs-server using that directory?");
        if (rc == KVS_ECORRUPT)
            log_msg(LL_ERROR, "start with --repair to skip the damaged records (they are lost)");
        return -1;
    }
    cfg->dir_abs = realpath(cfg->dir, NULL);
    return 0;
}

/* Write the port atomically (temporary file + rename): readers never see half a number. */
static int write_port_file(const char *path, uint16_t port)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return -1;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int ok = fprintf(f, "%u\n", (unsigned)port) > 0;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int start_workers(struct server *srv)
{
    srv->workers = calloc(srv->cfg->threads, sizeof(*srv->workers));
    if (!srv->workers)
        return -1;
    for (unsigned i = 0; i < srv->cfg->threads; i++) {
        srv->workers[i] = malloc(sizeof(struct worker));
        if (!srv->workers[i] || worker_start(srv->workers[i], srv, i) != 0) {
            log_msg(LL_ERROR, "cannot start worker thread %u: %s", i, strerror(errno));
            free(srv->workers[i]);
            return -1;
        }
        srv->nworkers++;
    }
    return 0;
}

static void stop_workers(struct server *srv)
{
    for (unsigned i = 0; i < srv->nworkers; i++)
        worker_stop(srv->workers[i]);
    for (unsigned i = 0; i < srv->nworkers; i++) {
        worker_join(srv->workers[i]);
        free(srv->workers[i]);
    }
    free(srv->workers);
    srv->workers = NULL;
    srv->nworkers = 0;
}

/* The per-client limits in force, once at start. */
static void log_limits(const struct server_config *cfg)
{
    char timeout[32] = "off", output[48] = "no limit";
    if (cfg->timeout)
        snprintf(timeout, sizeof(timeout), "%u s", cfg->timeout);
    if (cfg->client_output_limit)
        snprintf(output, sizeof(output), "%zu bytes", cfg->client_output_limit);
    log_msg(LL_INFO, "limits: request %zu bytes, argument %zu bytes, unsent replies %s per "
                     "client, idle timeout %s",
            server_query_limit(cfg), cfg->max_bulk, output, timeout);
}

/* Listen, run the workers and the accept loop; returns when it is time to stop. */
static int serve(struct server *srv, const sigset_t *sigs)
{
    const struct server_config *cfg = srv->cfg;
    struct addr bound;
    int lfd = acceptor_listen(&cfg->addr, &bound);
    if (lfd < 0)
        return -1;
    char text[ADDR_STR_MAX];
    srv->port = bound.port;
    addr_format(&bound, text, sizeof(text));
    if (cfg->port_file && write_port_file(cfg->port_file, srv->port) != 0)
        log_msg(LL_ERROR, "cannot write the port file '%s': %s", cfg->port_file, strerror(errno));
    log_msg(LL_ALWAYS, "listening on %s", text);
    int rc = start_workers(srv);
    if (rc == 0) {
        log_msg(LL_INFO, "ready: %u worker threads, sync %s, max %u clients%s", srv->nworkers,
                cfg->sync == KVS_SYNC_ALWAYS ? "always" : cfg->sync == KVS_SYNC_NONE ? "none"
                                                                                     : "interval",
                cfg->max_clients, cfg->requirepass ? ", password required" : "");
        log_limits(cfg);
        rc = acceptor_run(srv, lfd, sigs);
    }
    close(lfd); /* stop accepting before the workers wind down */
    saver_interrupt(srv->saver); /* no new backup; a SAVE stops waiting */
    stop_workers(srv);
    return rc;
}

/* The gate and the saver, once the store is open. */
static int prepare(struct server *srv, struct server_config *cfg)
{
    if (cfg->backup_dir) {
        cfg->backup_dir_abs = saver_prepare_dir(cfg->backup_dir, cfg->dir_abs);
        if (!cfg->backup_dir_abs)
            return -1;
    }
    srv->gate = write_gate_create(cfg->threads);
    srv->saver = saver_create(srv->db, cfg->backup_dir_abs, srv->started);
    if (!srv->gate || !srv->saver) {
        log_msg(LL_ERROR, "out of memory");
        return -1;
    }
    if (cfg->backup_dir_abs)
        log_msg(LL_ALWAYS, "backups (SAVE, BGSAVE) go to: %s", cfg->backup_dir_abs);
    return 0;
}

/*
 * Wait (bounded) for a running backup, then close the store. If the backup
 * is still running, the store cannot be closed under it: sync it and leave
 * at once (every acknowledged write is then on disk, as after a kill -9
 * without the torn tail); the backup's temporary directory stays behind.
 */
static int finish(struct server *srv)
{
    if (!saver_finish(srv->saver, BACKUP_SHUTDOWN_WAIT_MS)) {
        int rc = kvs_sync(srv->db);
        log_msg(LL_ERROR, "a backup is still running after %d s: exiting without closing the "
                          "store (sync: %s); its temporary directory in %s is left behind",
                BACKUP_SHUTDOWN_WAIT_MS / 1000, kvs_strerror(rc), srv->cfg->backup_dir_abs);
        if (srv->cfg->port_file)
            unlink(srv->cfg->port_file);
        _exit(1);
    }
    saver_destroy(srv->saver);
    write_gate_destroy(srv->gate);
    int crc = kvs_close(srv->db);
    if (crc != KVS_OK)
        log_msg(LL_ERROR, "closing the store: %s", kvs_strerror(crc));
    return crc;
}

/* What main set up before a start that failed (a leak checker run over a
 * failed start then reports nothing). */
static void release_at_failure(struct server *srv, struct server_config *cfg)
{
    if (srv->wake_fd >= 0)
        close(srv->wake_fd);
    scan_cursors_destroy(srv->cursors);
    free(cfg->dir_abs);
    free(cfg->backup_dir_abs);
}

int main(int argc, char **argv)
{
    struct server_config cfg;
    enum options_result r = options_parse(argc, argv, &cfg);
    if (r != OPTIONS_RUN)
        return r == OPTIONS_EXIT ? 0 : 2;
    log_set_level(cfg.log_level);
    if (check_exposure(&cfg) != 0)
        return 1;

    /* Signals are taken synchronously by the acceptor (signalfd): block them
     * before any thread starts so that no worker receives them. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    log_msg(LL_ALWAYS, "kvs-server %s (libkvs %s), pid %ld", KVS_VERSION_STRING, kvs_version(),
            (long)getpid());
    fit_fd_limit(&cfg);
    struct server srv = {.cfg = &cfg, .started = time(NULL), .next_client_id = 1};
    srv.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    srv.cursors = scan_cursors_create(SCAN_CURSOR_SLOTS, SCAN_CURSOR_BYTES, 0);
    if (!srv.cursors)
        log_msg(LL_ERROR, "out of memory");
    if (srv.wake_fd < 0 || !srv.cursors || open_store(&cfg, &srv.db) != 0) {
        release_at_failure(&srv, &cfg);
        return 1;
    }
    log_msg(LL_ALWAYS, "data directory: %s", cfg.dir_abs ? cfg.dir_abs : cfg.dir);
    if (prepare(&srv, &cfg) != 0) {
        saver_destroy(srv.saver);
        write_gate_destroy(srv.gate);
        kvs_close(srv.db);
        release_at_failure(&srv, &cfg);
        return 1;
    }

    int rc = serve(&srv, &sigs);
    int crc = finish(&srv);
    if (cfg.port_file)
        unlink(cfg.port_file);
    close(srv.wake_fd);
    scan_cursors_destroy(srv.cursors);
    free(cfg.dir_abs);
    free(cfg.backup_dir_abs);
    log_msg(LL_INFO, "stopped");
    return rc == 0 && crc == KVS_OK ? 0 : 1;
}
