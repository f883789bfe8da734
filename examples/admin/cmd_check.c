/*
 * kvs check: every record of every segment and the index, through
 * kvs_verify(), one line per problem on stdout: "FILE OFFSET PROBLEM".
 *
 * The store is opened read-only *with repair*: without it, one damaged
 * record in a segment that open has to scan makes kvs_open fail, and the
 * check could report nothing but that. With it, open steps over the damage
 * (in memory only: read-only changes nothing) and kvs_verify then finds it
 * with its file and offset. Damage that open itself gives up on (a segment
 * header, the OBSOLETE file) reaches the tool only as a library log
 * message: those lines have FILE "-" and OFFSET 0, and the message says
 * where. A store that does not open even so is damage too.
 */
#include <inttypes.h>
#include <stdio.h>

#include "admin.h"

struct check {
    uint64_t problems;
};

static void open_damage(void *ctx, const char *msg)
{
    struct check *c = ctx;
    c->problems++;
    printf("- 0 %s\n", msg);
}

static void verify_damage(void *ctx, const char *file, uint64_t offset, const char *problem)
{
    struct check *c = ctx;
    c->problems++;
    printf("%s %" PRIu64 " %s\n", file, offset, problem);
}

static int verify(kvs_t *db, const char *dir, struct check *c)
{
    int rc = kvs_verify(db, verify_damage, c);
    if (rc == KVS_OK || rc == KVS_ECORRUPT)
        return EXIT_OK;
    admin_status_error(dir, rc);
    return EXIT_ERROR;
}

int cmd_check(const struct args *a)
{
    struct check c = {0};
    struct open_req req = {.dir = a->dir,
                           .mode = OPEN_READ,
                           .repair = true,
                           .verbose = (a->given & OPT_VERBOSE) != 0,
                           .damage = open_damage,
                           .damage_ctx = &c};
    kvs_t *db;
    int rc = admin_open(&req, &db);
    int status = EXIT_OK;
    if (rc == KVS_ECORRUPT) {
        c.problems++;
        printf("- 0 the store does not open, even skipping damaged records: %s; "
               "nothing else was checked\n",
               kvs_strerror(rc));
    } else if (rc != KVS_OK) {
        return EXIT_ERROR;
    } else {
        status = verify(db, a->dir, &c);
        if (admin_close(db, a->dir) != EXIT_OK)
            status = EXIT_ERROR;
    }
    if (admin_flush_stdout() != EXIT_OK || status != EXIT_OK)
        return EXIT_ERROR;
    if (c.problems == 0)
        return EXIT_OK;
    fprintf(stderr, "kvs: %s: %" PRIu64 " problem%s found\n", a->dir, c.problems,
            c.problems == 1 ? "" : "s");
    return EXIT_NO;
}
