/*
 * kvs-client: set, get and remove one key on a kvs-server (or any Redis).
 *
 *   kvs-client [--addr IP:PORT] set KEY VALUE | get KEY | rm KEY
 *
 * Exit status: 0 on success (also "get" of an absent key, which prints
 * "Key not found"); 1 when "rm" finds no key, the server cannot be reached or
 * answers an error; 2 for a usage error. Connecting and every reply are
 * bounded by a timeout, so the client never hangs.
 *
 * Options may stand anywhere on the line; "--" ends them. Words starting with
 * a single '-' (other than -V and -h) are taken as arguments, so values such
 * as "-1" need no quoting.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <kvs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

#define DEFAULT_ADDR "127.0.0.1:4000"
#define DEFAULT_TIMEOUT_S 5

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct cli {
    const char *addr_text;
    long timeout_s;
    const char *words[4]; /* command and its arguments */
    int nwords;
};

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: kvs-client [OPTION]... set KEY VALUE\n"
            "       kvs-client [OPTION]... get KEY\n"
            "       kvs-client [OPTION]... rm KEY\n"
            "Set, print or remove a key on a kvs-server (or any Redis server).\n"
            "\n"
            "  --addr IP:PORT     server address (default " DEFAULT_ADDR ", [IPv6]:PORT for IPv6)\n"
            "  --timeout SECONDS  limit for connecting and for each reply (default %d)\n"
            "  -V, --version      print the version and exit\n"
            "  -h, --help         print this help and exit\n"
            "\n"
            "The KVS_PASSWORD environment variable, if set, is sent with AUTH first.\n"
            "Exit status: 0 success, 1 failure (rm of an absent key, server error,\n"
            "server unreachable), 2 usage error.\n",
            DEFAULT_TIMEOUT_S);
}

/* The value of an option: "--opt=value" or "--opt value". */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "kvs-client: %s needs a value\n", name);
        exit(EXIT_USAGE);
    }
    return argv[++*i];
}

/* One option at argv[*i]; returns 1 if it was one, 0 if it is a word. */
static int parse_option(struct cli *cli, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
        usage(stdout);
        exit(EXIT_OK);
    }
    if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
        printf("kvs-client %s\n", KVS_VERSION_STRING);
        exit(EXIT_OK);
    }
    if ((v = option_value(argc, argv, i, "--addr")) != NULL) {
        cli->addr_text = v;
    } else if ((v = option_value(argc, argv, i, "--timeout")) != NULL) {
        char *end;
        cli->timeout_s = strtol(v, &end, 10);
        if (*v == '\0' || *end || cli->timeout_s < 1 || cli->timeout_s > 3600) {
            fprintf(stderr, "kvs-client: --timeout: '%s' is not a number of seconds (1-3600)\n", v);
            exit(EXIT_USAGE);
        }
    } else if (strncmp(a, "--", 2) == 0 && a[2] != '\0') {
        fprintf(stderr, "kvs-client: unknown option '%s'\n", a);
        usage(stderr);
        exit(EXIT_USAGE);
    } else {
        return 0;
    }
    return 1;
}

static void parse_args(struct cli *cli, int argc, char **argv)
{
    bool options = true;
    for (int i = 1; i < argc; i++) {
        if (options && strcmp(argv[i], "--") == 0) {
            options = false;
            continue;
        }
        if (options && parse_option(cli, argc, argv, &i))
            continue;
        if (cli->nwords == 4) {
            fprintf(stderr, "kvs-client: too many arguments\n");
            usage(stderr);
            exit(EXIT_USAGE);
        }
        cli->words[cli->nwords++] = argv[i];
    }
}

/* The command and its argument count must agree. */
static void check_command(const struct cli *cli)
{
    static const struct {
        const char *name;
        int nwords;
    } cmds[] = {{"set", 3}, {"get", 2}, {"rm", 2}};
    if (cli->nwords == 0) {
        fprintf(stderr, "kvs-client: missing command (set, get or rm)\n");
        usage(stderr);
        exit(EXIT_USAGE);
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(cli->words[0], cmds[i].name) != 0)
            continue;
        if (cli->nwords == cmds[i].nwords)
            return;
        fprintf(stderr, "kvs-client: %s takes %s\n", cmds[i].name,
                cmds[i].nwords == 3 ? "KEY VALUE" : "KEY");
        usage(stderr);
        exit(EXIT_USAGE);
    }
    fprintf(stderr, "kvs-client: unknown command '%s' (set, get or rm)\n", cli->words[0]);
    usage(stderr);
    exit(EXIT_USAGE);
}

static redisContext *connect_server(const struct cli *cli, const char *addr_text)
{
    struct addr a;
    char err[160];
    if (addr_parse(addr_text, &a, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvs-client: address %s\n", err);
        exit(EXIT_USAGE);
    }
    if (a.port == 0) {
        fprintf(stderr, "kvs-client: address '%s': port 0 is not a server port\n", addr_text);
        exit(EXIT_USAGE);
    }
    struct timeval tv = {.tv_sec = cli->timeout_s};
    redisContext *c = redisConnectWithTimeout(a.host, a.port, tv);
    if (!c || c->err) {
        fprintf(stderr, "kvs-client: cannot connect to %s: %s\n", addr_text,
                c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        fprintf(stderr, "kvs-client: %s: cannot set a timeout: %s\n", addr_text, c->errstr);
        redisFree(c);
        return NULL;
    }
    return c;
}

/* Send one command; NULL after printing why (connection error or error reply). */
static redisReply *call(redisContext *c, const char *addr_text, int argc, const char **argv,
                        const size_t *lens)
{
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    if (!r) {
        fprintf(stderr, "kvs-client: %s: %s\n", addr_text,
                c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)
                    ? "timed out waiting for the reply"
                    : c->errstr);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "kvs-client: server error: %s\n", r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static int authenticate(redisContext *c, const char *addr_text)
{
    const char *pass = getenv("KVS_PASSWORD");
    if (!pass || !*pass)
        return 0;
    const char *argv[] = {"AUTH", pass};
    const size_t lens[] = {4, strlen(pass)};
    redisReply *r = call(c, addr_text, 2, argv, lens);
    if (!r)
        return -1;
    freeReplyObject(r);
    return 0;
}

/* Turn the reply into output and an exit status. */
static int report(const struct cli *cli, const redisReply *r)
{
    const char *cmd = cli->words[0];
    if (strcmp(cmd, "set") == 0 && r->type == REDIS_REPLY_STATUS)
        return EXIT_OK;
    if (strcmp(cmd, "get") == 0 && r->type == REDIS_REPLY_NIL) {
        printf("Key not found\n");
        return EXIT_OK;
    }
    if (strcmp(cmd, "get") == 0 && r->type == REDIS_REPLY_STRING) {
        fwrite(r->str, 1, r->len, stdout);
        putchar('\n');
        return EXIT_OK;
    }
    if (strcmp(cmd, "rm") == 0 && r->type == REDIS_REPLY_INTEGER) {
        if (r->integer > 0)
            return EXIT_OK;
        fprintf(stderr, "Key not found\n");
        return EXIT_FAIL;
    }
    fprintf(stderr, "kvs-client: unexpected reply of type %d to %s\n", r->type, cmd);
    return EXIT_FAIL;
}

int main(int argc, char **argv)
{
    struct cli cli = {.addr_text = DEFAULT_ADDR, .timeout_s = DEFAULT_TIMEOUT_S};
    parse_args(&cli, argc, argv);
    check_command(&cli);

    redisContext *c = connect_server(&cli, cli.addr_text);
    if (!c || authenticate(c, cli.addr_text) != 0) {
        redisFree(c);
        return EXIT_FAIL;
    }
    const char *rargv[3] = {strcmp(cli.words[0], "rm") == 0 ? "DEL" : cli.words[0],
                            cli.words[1], cli.words[2]};
    size_t lens[3];
    for (int i = 0; i < cli.nwords; i++)
        lens[i] = strlen(rargv[i]);
    redisReply *r = call(c, cli.addr_text, cli.nwords, rargv, lens);
    int status = EXIT_FAIL;
    if (r) {
        status = report(&cli, r);
        freeReplyObject(r);
    }
    redisFree(c);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "kvs-client: writing the output: %s\n", strerror(errno));
        return EXIT_FAIL;
    }
    return status;
}
