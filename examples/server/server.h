/*
 * The running server as every part of kvs-server sees it: its configuration,
 * the open store, the worker threads and a few process-wide counters.
 */
#ifndef KVS_SERVER_SERVER_H
#define KVS_SERVER_SERVER_H

#include <kvs.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "addr.h"
#include "log.h"

#define KVS_SERVER_NAME "kvs-server"

/* The Redis version whose protocol and replies kvs-server follows (INFO, HELLO). */
#define COMPAT_REDIS_VERSION "7.0.0"

/* What the command line chose; read-only once the server runs. */
struct server_config {
    struct addr addr;        /* where to listen (port 0: any free port) */
    char addr_text[ADDR_STR_MAX];
    const char *dir;         /* data directory */
    char *dir_abs;           /* dir made absolute, for INFO and logs (allocated) */
    unsigned threads;        /* worker threads */
    kvs_sync_t sync;         /* durability of acknowledged writes */
    const char *requirepass; /* NULL: no AUTH */
    bool unsafe_no_auth;     /* allow a non-loopback address without a password */
    enum log_level log_level;
    unsigned max_clients;
    size_t max_bulk;         /* largest bulk string in a request */
    const char *port_file;   /* write the bound port here once listening */
    bool repair;             /* open a damaged store, skipping damaged records */
    const char *backup_dir;  /* --backup-dir: where SAVE and BGSAVE put backups; NULL: none */
    char *backup_dir_abs;    /* backup_dir made absolute (allocated) */
    /* Hardening limits (options.c: apply_limit). */
    unsigned timeout;        /* close clients idle this many seconds; 0: never */
    size_t client_output_limit; /* most unsent reply bytes per client; 0: no limit */
};

struct worker;
struct scan_cursors;
struct write_gate;
struct saver;

struct server {
    const struct server_config *cfg;
    kvs_t *db;
    uint16_t port;                  /* the port actually bound */
    time_t started;
    struct worker **workers;
    unsigned nworkers;
    atomic_uint clients;            /* connections open now */
    atomic_ullong next_client_id;
    atomic_ullong rejected;         /* connections refused: max clients reached */
    int wake_fd;                    /* eventfd: wakes the main thread to shut down */
    atomic_bool shutdown_requested;
    struct scan_cursors *cursors;   /* where SCANs go on (scan_cursors.h) */
    atomic_ullong keys_examined;    /* by SCAN and KEYS */
    struct write_gate *gate;        /* writes pass it; MSETNX and FLUSHALL close it */
    struct saver *saver;            /* SAVE and BGSAVE (saver.h) */
};

/* Ask the main thread to shut the server down (SHUTDOWN command; any thread). */
void server_request_shutdown(struct server *srv);

/* Largest unparsed request a connection may buffer, given the bulk limit. */
size_t server_query_limit(const struct server_config *cfg);

#endif
