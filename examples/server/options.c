/* The kvs-server command line: getopt_long, defaults, range checks. */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "resp.h"

/* Hardening limits: numbered apart from the other options (see apply_limit). */
enum { OPT_TIMEOUT = 512, OPT_OUTPUT_LIMIT };
/* client_output_limit until resolved: 64m, or room for one --max-bulk value. */
#define OUTPUT_LIMIT_AUTO SIZE_MAX
#define OUTPUT_LIMIT_MIN (64ull << 10)
#define OUTPUT_LIMIT_FLOOR ((size_t)64 << 20)
#define TIMEOUT_MAX 31536000ull /* a year */

#define DEFAULT_ADDR "127.0.0.1:4000"
#define DEFAULT_MAX_CLIENTS 10000u
#define MAX_THREADS 1024u

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: kvs-server [OPTION]... [IP:PORT]\n"
            "A Redis-protocol (RESP2) server storing its data with libkvs.\n"
            "\n"
            "  --addr IP:PORT         listen here (default " DEFAULT_ADDR "; [IPv6]:PORT for IPv6;\n"
            "                         port 0 picks a free port, see --port-file)\n"
            "  --dir PATH             data directory, created if missing (default: .)\n"
            "  --threads N            worker threads (default: half the CPUs, at least 1)\n"
            "  --sync MODE            none, interval (default) or always: when a write is\n"
            "                         on stable storage before it is acknowledged\n"
            "  --requirepass PASS     clients must AUTH with PASS first\n"
            "  --unsafe-no-auth       allow a non-loopback address without --requirepass\n"
            "  --log-level LEVEL      error, warn, info (default) or debug\n"
            "  --max-clients N        most simultaneous connections (default %u)\n"
            "  --max-bulk SIZE        largest string argument, e.g. 64k, 1m (default 512m)\n"
            "  --timeout SECONDS      close a client idle that long (default 0: never)\n"
            "  --client-output-limit SIZE\n"
            "                         most unsent replies per client; past it the client\n"
            "                         is disconnected (default 64m, or --max-bulk + 1m if\n"
            "                         larger; 0: no limit)\n"
            "  --port-file PATH       write the bound port number to PATH once listening\n"
            "  --repair               open a damaged store anyway, skipping damaged records\n"
            "  --backup-dir PATH      SAVE and BGSAVE make backups in PATH (created if missing)\n"
            "  -V, --version          print the version and exit\n"
            "  -h, --help             print this help and exit\n",
            DEFAULT_MAX_CLIENTS);
}

/* Unsigned decimal with an optional k/m/g suffix (powers of 1024), e.g. "512m". */
static int parse_size(const char *text, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)text[0]))
        return -1;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno)
        return -1;
    unsigned shift = 0;
    if (*end) {
        switch (tolower((unsigned char)*end)) {
        case 'k': shift = 10; break;
        case 'm': shift = 20; break;
        case 'g': shift = 30; break;
        default: return -1;
        }
        end++;
        if (tolower((unsigned char)*end) == 'b')
            end++;
        if (*end)
            return -1;
    }
    if (v > (~0ull >> shift))
        return -1;
    *out = v << shift;
    return 0;
}

static int parse_range(const char *opt, const char *text, unsigned long long lo,
                       unsigned long long hi, unsigned long long *out)
{
    if (parse_size(text, out) != 0 || *out < lo || *out > hi) {
        fprintf(stderr, "kvs-server: %s: '%s' is not a number from %llu to %llu\n", opt, text,
                lo, hi);
        return -1;
    }
    return 0;
}

static int parse_sync(const char *text, kvs_sync_t *out)
{
    if (strcmp(text, "none") == 0)
        *out = KVS_SYNC_NONE;
    else if (strcmp(text, "interval") == 0)
        *out = KVS_SYNC_INTERVAL;
    else if (strcmp(text, "always") == 0)
        *out = KVS_SYNC_ALWAYS;
    else {
        fprintf(stderr, "kvs-server: --sync: '%s' is not none, interval or always\n", text);
        return -1;
    }
    return 0;
}

static int set_addr(struct server_config *cfg, const char *text)
{
    char err[160];
    if (addr_parse(text, &cfg->addr, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvs-server: address %s\n", err);
        return -1;
    }
    addr_format(&cfg->addr, cfg->addr_text, sizeof(cfg->addr_text));
    return 0;
}

static void set_defaults(struct server_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    set_addr(cfg, DEFAULT_ADDR);
    cfg->dir = ".";
    /* Half the CPUs: the other half is left to the kernel's network stack,
     * libkvs's background threads and, often, clients on the same machine.
     * On 2 CPUs one worker beat two in every redis-benchmark test (SERVER.md). */
    long n = sysconf(_SC_NPROCESSORS_ONLN) / 2;
    cfg->threads = n < 1 ? 1u : n > (long)MAX_THREADS ? MAX_THREADS : (unsigned)n;
    cfg->sync = KVS_SYNC_INTERVAL;
    cfg->log_level = LL_INFO;
    cfg->max_clients = DEFAULT_MAX_CLIENTS;
    cfg->max_bulk = RESP_DEFAULT_MAX_BULK;
    cfg->timeout = 0;
    cfg->client_output_limit = OUTPUT_LIMIT_AUTO;
}

enum { OPT_ADDR = 256, OPT_DIR, OPT_THREADS, OPT_SYNC, OPT_PASS, OPT_UNSAFE, OPT_LOG,
       OPT_MAXCLIENTS, OPT_MAXBULK, OPT_PORTFILE, OPT_REPAIR, OPT_BACKUPDIR };

static const struct option long_opts[] = {
    {"addr", required_argument, NULL, OPT_ADDR},
    {"dir", required_argument, NULL, OPT_DIR},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"sync", required_argument, NULL, OPT_SYNC},
    {"requirepass", required_argument, NULL, OPT_PASS},
    {"unsafe-no-auth", no_argument, NULL, OPT_UNSAFE},
    {"log-level", required_argument, NULL, OPT_LOG},
    {"max-clients", required_argument, NULL, OPT_MAXCLIENTS},
    {"max-bulk", required_argument, NULL, OPT_MAXBULK},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"client-output-limit", required_argument, NULL, OPT_OUTPUT_LIMIT},
    {"port-file", required_argument, NULL, OPT_PORTFILE},
    {"repair", no_argument, NULL, OPT_REPAIR},
    {"backup-dir", required_argument, NULL, OPT_BACKUPDIR},
    {"version", no_argument, NULL, 'V'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* One option; returns 0, OPTIONS_EXIT or OPTIONS_USAGE. */
static int apply(int opt, const char *arg, struct server_config *cfg)
{
    unsigned long long v;
    switch (opt) {
    case OPT_ADDR: return set_addr(cfg, arg) ? OPTIONS_USAGE : 0;
    case OPT_DIR: cfg->dir = arg; return 0;
    case OPT_THREADS:
        if (parse_range("--threads", arg, 1, MAX_THREADS, &v))
            return OPTIONS_USAGE;
        cfg->threads = (unsigned)v;
        return 0;
    case OPT_SYNC: return parse_sync(arg, &cfg->sync) ? OPTIONS_USAGE : 0;
    case OPT_PASS:
        if (!*arg) {
            fprintf(stderr, "kvs-server: --requirepass: the password must not be empty\n");
            return OPTIONS_USAGE;
        }
        cfg->requirepass = arg;
        return 0;
    case OPT_UNSAFE: cfg->unsafe_no_auth = true; return 0;
    case OPT_LOG:
        if (log_parse_level(arg, &cfg->log_level) == 0)
            return 0;
        fprintf(stderr, "kvs-server: --log-level: '%s' is not error, warn, info or debug\n", arg);
        return OPTIONS_USAGE;
    case OPT_MAXCLIENTS:
        if (parse_range("--max-clients", arg, 1, 1000000, &v))
            return OPTIONS_USAGE;
        cfg->max_clients = (unsigned)v;
        return 0;
    case OPT_MAXBULK:
        if (parse_range("--max-bulk", arg, 1024, KVS_VALUE_MAX, &v))
            return OPTIONS_USAGE;
        cfg->max_bulk = (size_t)v;
        return 0;
    case OPT_PORTFILE: cfg->port_file = arg; return 0;
    case OPT_REPAIR: cfg->repair = true; return 0;
    case OPT_BACKUPDIR:
        if (!*arg) {
            fprintf(stderr, "kvs-server: --backup-dir: the path must not be empty\n");
            return OPTIONS_USAGE;
        }
        cfg->backup_dir = arg;
        return 0;
    case 'V': printf("kvs-server %s (libkvs %s)\n", KVS_VERSION_STRING, kvs_version()); return OPTIONS_EXIT;
    case 'h': usage(stdout); return OPTIONS_EXIT;
    default: usage(stderr); return OPTIONS_USAGE;
    }
}

/* --timeout and --client-output-limit; returns 0 or OPTIONS_USAGE. */
static int apply_limit(int opt, const char *arg, struct server_config *cfg)
{
    unsigned long long v;
    if (opt == OPT_TIMEOUT) {
        if (arg[strspn(arg, "0123456789")] != '\0' ||
            parse_range("--timeout", arg, 0, TIMEOUT_MAX, &v))
            return OPTIONS_USAGE;
        cfg->timeout = (unsigned)v;
        return 0;
    }
    if (parse_size(arg, &v) != 0 || (v != 0 && v < OUTPUT_LIMIT_MIN) || v >= SIZE_MAX) {
        fprintf(stderr, "kvs-server: --client-output-limit: '%s' is not 0 or a size of at "
                        "least 64k\n", arg);
        return OPTIONS_USAGE;
    }
    cfg->client_output_limit = (size_t)v;
    return 0;
}

/* The default output limit depends on --max-bulk, known only at the end. */
static void resolve_limits(struct server_config *cfg)
{
    if (cfg->client_output_limit != OUTPUT_LIMIT_AUTO)
        return;
    size_t room = cfg->max_bulk + ((size_t)1 << 20);
    cfg->client_output_limit = room > OUTPUT_LIMIT_FLOOR ? room : OUTPUT_LIMIT_FLOOR;
}

enum options_result options_parse(int argc, char **argv, struct server_config *cfg)
{
    set_defaults(cfg);
    int opt;
    while ((opt = getopt_long(argc, argv, "Vh", long_opts, NULL)) != -1) {
        int r = opt >= OPT_TIMEOUT ? apply_limit(opt, optarg, cfg) : apply(opt, optarg, cfg);
        if (r)
            return (enum options_result)r;
    }
    resolve_limits(cfg);
    if (optind < argc && set_addr(cfg, argv[optind++]) != 0)
        return OPTIONS_USAGE;
    if (optind < argc) {
        fprintf(stderr, "kvs-server: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return OPTIONS_USAGE;
    }
    return OPTIONS_RUN;
}
