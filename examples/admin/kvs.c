/*
 * kvs: look after a libkvs store from the shell (after LMDB's mdb_stat,
 * mdb_dump, mdb_load and RocksDB's ldb).
 *
 *   kvs [OPTION]... COMMAND DIR [ARG]...
 *
 * It opens the store itself, through <kvs.h> only: it is a tool of the
 * embedded library, not a client of kvs-server, so a store a server holds
 * is refused (KVS_EBUSY). Commands that only read open the store read-only.
 * This file parses the command line and dispatches; each command lives in
 * a cmd_*.c file. Exit statuses: admin.h and kvs(1).
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"

/* Most entries per batch kvs load accepts for --batch. */
#define BATCH_MAX 1000000u

struct command {
    const char *name;
    int (*run)(const struct args *a);
    int min_args, max_args; /* after DIR */
    unsigned opts;          /* OPT_* it takes, beyond --verbose */
};

#define RANGE_OPTS (OPT_PREFIX | OPT_START | OPT_END | OPT_ESCAPED)

static const struct command commands[] = {
    {"stats", cmd_stats, 0, 0, OPT_JSON | OPT_REPAIR},
    {"check", cmd_check, 0, 0, 0},
    {"dump", cmd_dump, 0, 0, RANGE_OPTS | OPT_REPAIR},
    {"load", cmd_load, 0, 0, OPT_BATCH},
    {"compact", cmd_compact, 0, 0, OPT_REPAIR},
    {"backup", cmd_backup, 1, 1, 0},
    {"get", cmd_get, 1, 1, OPT_ESCAPED | OPT_REPAIR},
    {"set", cmd_set, 1, 2, OPT_ESCAPED | OPT_EXPIRE_AT | OPT_TTL | OPT_STDIN},
    {"rm", cmd_rm, 1, 1, OPT_ESCAPED},
    {"scan", cmd_scan, 0, 0, RANGE_OPTS | OPT_KEYS_ONLY | OPT_LIMIT | OPT_REPAIR},
};

/* getopt_long values of the options that have no short form. */
enum {
    LONG_JSON = 256,
    LONG_START,
    LONG_END,
    LONG_EXPIRE_AT,
    LONG_TTL,
    LONG_REPAIR,
    LONG_BATCH,
    LONG_STDIN
};

static const struct option long_options[] = {
    {"json", no_argument, NULL, LONG_JSON},
    {"prefix", required_argument, NULL, 'p'},
    {"start", required_argument, NULL, LONG_START},
    {"end", required_argument, NULL, LONG_END},
    {"keys-only", no_argument, NULL, 'k'},
    {"limit", required_argument, NULL, 'n'},
    {"expire-at", required_argument, NULL, LONG_EXPIRE_AT},
    {"ttl", required_argument, NULL, LONG_TTL},
    {"escaped", no_argument, NULL, 'x'},
    {"repair", no_argument, NULL, LONG_REPAIR},
    {"batch", required_argument, NULL, LONG_BATCH},
    {"stdin", no_argument, NULL, LONG_STDIN},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
    fputs("Usage: kvs [OPTION]... COMMAND DIR [ARG]...\n"
          "Inspect, check, dump, load and edit the libkvs store in directory DIR.\n"
          "\n"
          "Commands:\n"
          "  stats DIR [--json]          every statistic, one \"name value\" line each\n"
          "  check DIR                   verify every record; one \"FILE OFFSET PROBLEM\" line\n"
          "                              per damage\n"
          "  dump DIR [RANGE]            write the store in the dump format (doc/DUMP.md)\n"
          "  load DIR < DUMP             add a dump's entries (replacing those keys)\n"
          "  compact DIR                 rewrite the segments holding stale data\n"
          "  backup DIR DEST             copy the store into the new directory DEST\n"
          "  get DIR KEY                 print the value, raw, without a newline\n"
          "  set DIR KEY VALUE           store a value (--stdin: VALUE is standard input)\n"
          "  rm DIR KEY                  remove a key\n"
          "  scan DIR [RANGE]            one line per key: key, value, expiry (dump encoding)\n"
          "\n"
          "Options:\n"
          "  -p, --prefix P              RANGE: keys starting with P\n"
          "      --start K, --end K      RANGE: keys from K (included) to K (excluded)\n"
          "  -k, --keys-only             scan: print the keys only\n"
          "  -n, --limit N               scan: print at most N keys\n"
          "      --expire-at MS          set: expire at MS milliseconds since the epoch\n"
          "      --ttl MS                set: expire MS milliseconds from now\n"
          "      --stdin                 set: read the value from standard input\n"
          "  -x, --escaped               KEY, VALUE, P and K are in the dump encoding\n"
          "                              (\"a\\x00b\", as scan prints them)\n"
          "      --batch N               load: entries per atomic batch (default 1000)\n"
          "      --repair                stats, dump, get, scan: skip damaged records;\n"
          "                              compact: drop them from the store for good\n"
          "      --json                  stats: one JSON object\n"
          "  -v, --verbose               print the library's warnings and notes\n"
          "  -V, --version               print the version and exit\n"
          "  -h, --help                  print this help and exit\n"
          "\n"
          "Options may follow the arguments; \"--\" ends them (for a KEY or VALUE\n"
          "starting with '-'). stats, check, dump, get, scan and backup open the store\n"
          "read-only. A store held by a running kvs-server cannot be opened.\n"
          "Exit status: 0 success; 1 no such key (get, rm), damage found (check),\n"
          "damaged records left out (dump, scan); 2 usage or other error.\n",
          f);
}

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2), noreturn))
#endif
static void usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("kvs: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'kvs --help'.\n", stderr);
    exit(EXIT_ERROR);
}

/* The numeric value of an option, or a usage error. */
static uint64_t option_number(const char *name, const char *text, uint64_t min, uint64_t max)
{
    uint64_t v;
    if (parse_u64(text, &v) != 0 || v < min || v > max) {
        fprintf(stderr, "kvs: --%s: '%s' is not a number from %llu to %llu\n", name, text,
                (unsigned long long)min, (unsigned long long)max);
        exit(EXIT_ERROR);
    }
    return v;
}

/* Record one option and return its OPT_* bit; --help, --version and errors exit here. */
static unsigned take_option(struct args *a, int c, const char *arg)
{
    switch (c) {
    case LONG_JSON: return OPT_JSON;
    case 'p': a->prefix = arg; return OPT_PREFIX;
    case LONG_START: a->start = arg; return OPT_START;
    case LONG_END: a->end = arg; return OPT_END;
    case 'k': return OPT_KEYS_ONLY;
    case 'n': a->limit = option_number("limit", arg, 0, UINT64_MAX); return OPT_LIMIT;
    case LONG_EXPIRE_AT:
        a->expire_at_ms = option_number("expire-at", arg, 0, UINT64_MAX);
        return OPT_EXPIRE_AT;
    case LONG_TTL: a->ttl_ms = option_number("ttl", arg, 1, UINT64_MAX / 2); return OPT_TTL;
    case 'x': return OPT_ESCAPED;
    case LONG_REPAIR: return OPT_REPAIR;
    case LONG_BATCH: a->batch = option_number("batch", arg, 1, BATCH_MAX); return OPT_BATCH;
    case LONG_STDIN: return OPT_STDIN;
    case 'v': return OPT_VERBOSE;
    case 'h': usage(stdout); exit(EXIT_OK);
    case 'V': printf("kvs %s (libkvs %s)\n", KVS_VERSION_STRING, kvs_version()); exit(EXIT_OK);
    default: /* getopt_long has printed what is wrong */
        fputs("Try 'kvs --help'.\n", stderr);
        exit(EXIT_ERROR);
    }
}

static void parse_options(struct args *a, int argc, char **argv)
{
    /* getopt prints its complaints with argv[0]: name the tool, not its path */
    argv[0] = (char *)"kvs";
    int c;
    while ((c = getopt_long(argc, argv, "p:kn:xvhV", long_options, NULL)) != -1)
        a->given |= take_option(a, c, optarg);
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    usage_error("unknown command '%s'", name);
}

/* The name of the lowest OPT_* bit set in bits, for messages. */
static const char *option_name(unsigned bits)
{
    /* in the order of the OPT_* bits in admin.h */
    static const char *const names[] = {"--json", "--prefix", "--start", "--end",
                                        "--keys-only", "--limit", "--expire-at", "--ttl",
                                        "--escaped", "--repair", "--batch", "--stdin",
                                        "--verbose"};
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (bits & (1u << i))
            return names[i];
    return "?";
}

/* Arguments and options must suit the command. */
static void check_command(const struct command *cmd, const struct args *a, int nargs)
{
    unsigned stray = a->given & ~(cmd->opts | OPT_VERBOSE);
    if (stray)
        usage_error("%s does not apply to %s", option_name(stray), cmd->name);
    if (nargs < 1)
        usage_error("%s: missing DIR", cmd->name);
    if (nargs - 1 < cmd->min_args)
        usage_error("%s: missing arguments", cmd->name);
    if (nargs - 1 > cmd->max_args)
        usage_error("%s: too many arguments", cmd->name);
    if ((a->given & OPT_PREFIX) && (a->given & (OPT_START | OPT_END)))
        usage_error("--prefix cannot be combined with --start or --end");
    if ((a->given & OPT_TTL) && (a->given & OPT_EXPIRE_AT))
        usage_error("--ttl cannot be combined with --expire-at");
}

int main(int argc, char **argv)
{
    struct args a = {0};
    parse_options(&a, argc, argv);
    if (optind >= argc)
        usage_error("missing COMMAND");
    const struct command *cmd = find_command(argv[optind]);
    int nargs = argc - optind - 1;
    check_command(cmd, &a, nargs);
    a.cmd = cmd->name;
    a.dir = argv[optind + 1];
    for (int i = optind + 2; i < argc; i++)
        a.pos[a.npos++] = argv[i];
    return cmd->run(&a);
}
