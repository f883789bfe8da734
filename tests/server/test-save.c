/*
 * Backups: BGSAVE, SAVE, LASTSAVE and INFO persistence with --backup-dir;
 * a backup opened by a second kvs-server; the errors without the flag, for
 * a second BGSAVE while one runs, for a bad --backup-dir; and shutting down
 * while a backup runs.
 */
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "expect.h"
#include "harness.h"

#define DEADLINE_MS 60000

static struct server_proc srv;
static redisContext *ctx;
static char backups[PATH_MAX];

static void start(bool with_backups)
{
    const char *dir = harness_tmpdir();
    snprintf(backups, sizeof(backups), "%s/backups", harness_tmpdir());
    srv = (struct server_proc){0};
    const char *extra[] = {"--backup-dir", backups, NULL};
    ck_assert_int_eq(server_start(&srv, dir, with_backups ? extra : NULL), 0);
    ctx = ex_connect(srv.port);
}

static void setup(void)
{
    start(true);
}

static void teardown(void)
{
    redisFree(ctx);
    ctx = NULL;
    if (srv.pid > 0)
        ck_assert_int_eq(server_stop(&srv, SIGTERM, DEADLINE_MS + 10000), 0);
}

#define CMD(...) ex_cmd(ctx, __VA_ARGS__, NULL)

/* Names of the entries of backups, sorted; returns how many (at most max). */
static int list_backups(char names[][128], int max)
{
    DIR *d = opendir(backups);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        ck_assert_int_lt(n, max);
        snprintf(names[n++], 128, "%.120s", e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, 128, (int (*)(const void *, const void *))strcmp);
    return n;
}

/* Poll INFO until no backup runs (bounded); then the last one succeeded. */
static void wait_backup_done(void)
{
    long long end = now_ms() + DEADLINE_MS;
    while (ex_info_ll(ctx, "persistence", "rdb_bgsave_in_progress") != 0) {
        ck_assert_msg(now_ms() < end, "backup still running after %d ms", DEADLINE_MS);
        usleep(10000);
    }
    char status[16];
    ex_info_str(ctx, "persistence", "rdb_last_bgsave_status", status, sizeof(status));
    ck_assert_str_eq(status, "ok");
}

/* Start a kvs-server on a backup and check what it holds. */
static void check_backup(const char *path, long long keys)
{
    struct server_proc b = {0};
    ck_assert_int_eq(server_start(&b, path, NULL), 0);
    redisContext *c = ex_connect(b.port);
    ex_int(ex_cmd(c, "DBSIZE", NULL), keys);
    ex_str(ex_cmd(c, "GET", "greeting", NULL), "hello");
    ex_str(ex_cmd(c, "GET", "key:999", NULL), "value:999");
    ex_int_in(ex_cmd(c, "TTL", "expiring", NULL), 3000, 3600); /* the expiry is copied too */
    redisFree(c);
    ck_assert_int_eq(server_stop(&b, SIGTERM, 10000), 0);
}

static void fill(void)
{
    ex_status(CMD("SET", "greeting", "hello"), "OK");
    ex_status(CMD("SET", "expiring", "v", "EX", "3600"), "OK");
    for (int i = 0; i < 1000; i++)
        redisAppendCommand(ctx, "SET key:%d value:%d", i, i);
    for (int i = 0; i < 1000; i++) {
        redisReply *r;
        ck_assert_int_eq(redisGetReply(ctx, (void **)&r), REDIS_OK);
        freeReplyObject(r);
    }
}

START_TEST(bgsave_makes_a_backup)
{
    fill();
    ck_assert_int_eq(ex_info_ll(ctx, "persistence", "rdb_saves"), 0);
    ex_status(CMD("BGSAVE"), "Background saving started");
    wait_backup_done();
    ck_assert_int_eq(ex_info_ll(ctx, "persistence", "rdb_saves"), 1);
    char names[4][128], path[PATH_MAX + 200], last[PATH_MAX];
    ck_assert_int_eq(list_backups(names, 4), 1);
    ck_assert_msg(strncmp(names[0], "backup-", 7) == 0 && strchr(names[0], 'Z'), "%s", names[0]);
    snprintf(path, sizeof(path), "%s/%s", backups, names[0]);
    ex_info_str(ctx, "persistence", "kvs_last_backup", last, sizeof(last));
    char real[PATH_MAX];
    ck_assert_ptr_nonnull(realpath(path, real));
    ck_assert_str_eq(last, real);
    ex_status(CMD("SET", "after", "the backup"), "OK");
    check_backup(path, 1002); /* not "after" */
    ex_status(CMD("BGSAVE", "SCHEDULE"), "Background saving started");
    wait_backup_done();
    ck_assert_int_eq(list_backups(names, 4), 2);
    ex_error(CMD("BGSAVE", "x"), "ERR syntax error");
    ex_error(CMD("BGSAVE", "SCHEDULE", "x"), "ERR syntax error");
}
END_TEST

START_TEST(save_and_lastsave)
{
    fill();
    redisReply *r = CMD("LASTSAVE");
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    long long before = r->integer; /* the start time, until the first backup */
    freeReplyObject(r);
    ck_assert_int_le(before, (long long)time(NULL));
    ck_assert_int_eq(ex_info_ll(ctx, "persistence", "rdb_last_save_time"), before);
    /* LASTSAVE counts seconds: wait (bounded) for the next one so that it must change */
    for (long long end = now_ms() + 5000; (long long)time(NULL) <= before && now_ms() < end;)
        usleep(10000);
    ck_assert_int_gt((long long)time(NULL), before);
    ex_status(CMD("SAVE"), "OK");
    long long after = ex_int_in(CMD("LASTSAVE"), before + 1, (long long)time(NULL));
    ck_assert_int_eq(ex_info_ll(ctx, "persistence", "rdb_last_save_time"), after);
    ck_assert_int_eq(ex_info_ll(ctx, "persistence", "rdb_saves"), 1);
    ck_assert_int_ge(ex_info_ll(ctx, "persistence", "rdb_last_bgsave_time_sec"), 0);
    ck_assert_int_eq(ex_info_ll(ctx, "persistence", "rdb_current_bgsave_time_sec"), -1);
    ex_status(CMD("SAVE"), "OK");
    char names[4][128], path[PATH_MAX + 200];
    ck_assert_int_eq(list_backups(names, 4), 2); /* each backup has its own name */
    snprintf(path, sizeof(path), "%s/%s", backups, names[1]);
    check_backup(path, 1002);
    ex_error(CMD("SAVE", "x"), "ERR wrong number of arguments for 'save' command");
    ex_error(CMD("LASTSAVE", "x"), "ERR wrong number of arguments for 'lastsave' command");
}
END_TEST

/* 40 MiB in the segment being written: libkvs copies it (and syncs the copy). */
static void fill_big(void)
{
    size_t n = 1 << 20;
    char *v = malloc(n);
    ck_assert_ptr_nonnull(v);
    memset(v, 'x', n);
    for (int i = 0; i < 40; i++)
        redisAppendCommand(ctx, "SET big:%d %b", i, v, n);
    for (int i = 0; i < 40; i++) {
        redisReply *r;
        ck_assert_int_eq(redisGetReply(ctx, (void **)&r), REDIS_OK);
        freeReplyObject(r);
    }
    free(v);
    fill();
}

/*
 * A BGSAVE, SAVE or second BGSAVE sent in the same packet as a BGSAVE gets
 * Redis's error: they are executed microseconds after it, while the backup
 * copies 40 MiB and syncs it.
 */
START_TEST(one_backup_at_a_time)
{
    fill_big();
    redisAppendCommand(ctx, "BGSAVE");
    redisAppendCommand(ctx, "BGSAVE");
    redisAppendCommand(ctx, "SAVE");
    redisReply *r[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(redisGetReply(ctx, (void **)&r[i]), REDIS_OK);
    ex_status(r[0], "Background saving started");
    ex_error(r[1], "ERR Background save already in progress");
    ex_error(r[2], "ERR Background save already in progress");
    wait_backup_done();
    ck_assert_int_eq(ex_info_ll(ctx, "persistence", "rdb_saves"), 1);
    ex_status(CMD("BGSAVE"), "Background saving started"); /* the next one may start */
    wait_backup_done();
}
END_TEST

/* SIGTERM during a BGSAVE: the server waits for it, exits 0, the backup is whole. */
START_TEST(shutdown_waits_for_backup)
{
    fill_big();
    ex_status(CMD("BGSAVE"), "Background saving started");
    redisFree(ctx);
    ctx = NULL;
    ck_assert_int_eq(server_stop(&srv, SIGTERM, DEADLINE_MS + 10000), 0);
    char names[4][128], path[PATH_MAX + 200];
    ck_assert_int_eq(list_backups(names, 4), 1); /* no temporary directory left */
    snprintf(path, sizeof(path), "%s/%s", backups, names[0]);
    check_backup(path, 1042);
}
END_TEST

/* SIGTERM while a client waits in SAVE: that client gets an answer, the server stops. */
START_TEST(shutdown_during_save)
{
    fill_big();
    redisContext *saver = ex_connect(srv.port);
    redisAppendCommand(saver, "SAVE");
    int done = 0;
    while (!done)
        ck_assert_int_eq(redisBufferWrite(saver, &done), REDIS_OK);
    /* wait (bounded) until the SAVE has started its backup, or finished it */
    long long end = now_ms() + DEADLINE_MS;
    while (ex_info_ll(ctx, "persistence", "rdb_bgsave_in_progress") == 0 &&
           ex_info_ll(ctx, "persistence", "rdb_saves") == 0) {
        ck_assert(now_ms() < end);
        usleep(1000);
    }
    ck_assert_int_eq(kill(srv.pid, SIGTERM), 0);
    redisReply *r;
    ck_assert_int_eq(redisGetReply(saver, (void **)&r), REDIS_OK);
    ck_assert_msg((r->type == REDIS_REPLY_STATUS && !strcmp(r->str, "OK")) ||
                      (r->type == REDIS_REPLY_ERROR &&
                       !strcmp(r->str, "ERR kvs-server is shutting down; the backup is still running")),
                  "SAVE: %d %s", r->type, r->str ? r->str : "");
    freeReplyObject(r);
    redisFree(saver);
    ck_assert_int_eq(server_stop(&srv, 0, DEADLINE_MS + 10000), 0);
    char names[4][128], path[PATH_MAX + 200];
    ck_assert_int_eq(list_backups(names, 4), 1); /* finished during the shutdown */
    snprintf(path, sizeof(path), "%s/%s", backups, names[0]);
    check_backup(path, 1042);
}
END_TEST

START_TEST(without_backup_dir)
{
    teardown();
    time_t t0 = time(NULL);
    start(false);
    fill();
    static const char msg[] = "ERR no backup directory: start kvs-server with --backup-dir PATH "
                              "to enable SAVE and BGSAVE";
    ex_error(CMD("BGSAVE"), msg);
    ex_error(CMD("SAVE"), msg);
    ex_int_in(CMD("LASTSAVE"), (long long)t0, (long long)time(NULL));
    ck_assert_int_eq(ex_info_ll(ctx, "persistence", "rdb_bgsave_in_progress"), 0);
    char text[16];
    ex_info_str(ctx, "persistence", "rdb_last_bgsave_status", text, sizeof(text));
    ck_assert_str_eq(text, "ok");
    ex_info_str(ctx, "persistence", "kvs_backup_dir", text, sizeof(text));
    ck_assert_str_eq(text, "");
}
END_TEST

/* A backup directory inside the data directory, or a file, is refused at start. */
START_TEST(bad_backup_dir)
{
    const char *data = harness_tmpdir();
    char inside[PATH_MAX], file[PATH_MAX];
    snprintf(inside, sizeof(inside), "%s/sub", data);
    snprintf(file, sizeof(file), "%s/file", harness_tmpdir());
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    const char *const cases[][2] = {{data, "inside the data directory"},
                                    {inside, "inside the data directory"},
                                    {file, "is not a directory"}};
    for (size_t i = 0; i < 3; i++) {
        const char *argv[] = {harness_env("KVS_SERVER"), "--addr", "127.0.0.1:0", "--dir", data,
                              "--backup-dir", cases[i][0], NULL};
        struct run_result r;
        ck_assert_int_eq(run_prog(argv, NULL, 0, 10000, &r), 0);
        ck_assert_msg(r.status == 1 && strstr(r.err, cases[i][1]), "%s: status %d, %s",
                      cases[i][0], r.status, r.err);
        run_result_free(&r);
    }
    const char *argv[] = {harness_env("KVS_SERVER"), "--backup-dir", "", NULL};
    struct run_result r;
    ck_assert_int_eq(run_prog(argv, NULL, 0, 10000, &r), 0);
    ck_assert_int_eq(r.status, 2);
    run_result_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("save");
    TCase *tc = tcase_create("save");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, bgsave_makes_a_backup);
    tcase_add_test(tc, save_and_lastsave);
    tcase_add_test(tc, one_backup_at_a_time);
    tcase_add_test(tc, shutdown_waits_for_backup);
    tcase_add_test(tc, shutdown_during_save);
    tcase_add_test(tc, without_backup_dir);
    tcase_add_test(tc, bad_backup_dir);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
