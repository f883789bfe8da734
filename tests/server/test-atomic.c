/*
 * What must hold with many clients at once: INCR never loses an increment,
 * MGET never sees half of an MSET, MSETNX is all-or-nothing against a
 * racing SET NX and other MSETNX, FLUSHALL empties the store.
 *
 * Each client is its own hiredis connection on its own thread; loops are
 * bounded by counts, never by time.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"
#include "harness.h"

static struct server_proc srv;
static redisContext *ctx;

static void setup(void)
{
    srv = (struct server_proc){0};
    /* several workers, so that clients really run in parallel */
    ck_assert_int_eq(server_start(&srv, harness_tmpdir(), (const char *[]){"--threads", "4", NULL}),
                     0);
    ctx = ex_connect(srv.port);
}

static void teardown(void)
{
    redisFree(ctx);
    ctx = NULL;
    ck_assert_int_eq(server_stop(&srv, SIGTERM, 10000), 0);
}

#define CMD(...) ex_cmd(ctx, __VA_ARGS__, NULL)

/* ---- INCR from 8 clients ---- */

#define INCR_CLIENTS 8
#define INCR_EACH 1000

struct incr_client {
    pthread_t th;
    long long *seen; /* every value INCR returned, INCR_EACH of them */
    char error[128];
};

static void *incr_main(void *arg)
{
    struct incr_client *ic = arg;
    struct timeval tv = {.tv_sec = 20};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", srv.port, tv);
    if (!c || c->err) {
        snprintf(ic->error, sizeof(ic->error), "connect failed");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    for (int i = 0; i < INCR_EACH; i++) {
        redisReply *r = redisCommand(c, "INCR counter");
        if (!r || r->type != REDIS_REPLY_INTEGER) {
            snprintf(ic->error, sizeof(ic->error), "INCR %d: %.100s", i, r ? r->str : c->errstr);
            freeReplyObject(r);
            break;
        }
        ic->seen[i] = r->integer;
        freeReplyObject(r);
    }
    redisFree(c);
    return NULL;
}

/* 8 clients x 1000 INCR: the counter ends at 8000 and each value 1..8000 was returned once. */
START_TEST(incr_many_clients)
{
    struct incr_client cl[INCR_CLIENTS];
    long long *all = calloc(INCR_CLIENTS * INCR_EACH, sizeof(*all));
    ck_assert_ptr_nonnull(all);
    for (int i = 0; i < INCR_CLIENTS; i++) {
        cl[i] = (struct incr_client){.seen = all + i * INCR_EACH};
        ck_assert_int_eq(pthread_create(&cl[i].th, NULL, incr_main, &cl[i]), 0);
    }
    for (int i = 0; i < INCR_CLIENTS; i++) {
        pthread_join(cl[i].th, NULL);
        ck_assert_msg(cl[i].error[0] == '\0', "client %d: %s", i, cl[i].error);
    }
    ex_str(CMD("GET", "counter"), "8000");
    unsigned char *hit = calloc(INCR_CLIENTS * INCR_EACH + 1, 1);
    ck_assert_ptr_nonnull(hit);
    for (int i = 0; i < INCR_CLIENTS * INCR_EACH; i++) {
        ck_assert(all[i] >= 1 && all[i] <= INCR_CLIENTS * INCR_EACH);
        ck_assert_msg(hit[all[i]]++ == 0, "INCR returned %lld twice", all[i]);
    }
    free(hit);
    free(all);
}
END_TEST

/* ---- MSET / MGET ---- */

#define MSET_KEYS 16
#define MSET_ROUNDS 10000

struct mset_writer {
    atomic_bool done;
    char error[128];
};

/* MSET k0 v k1 v ... k15 v, v alternating between "1" and "2". */
static void *mset_main(void *arg)
{
    struct mset_writer *w = arg;
    redisContext *c = redisConnect("127.0.0.1", srv.port);
    const char *argv[1 + 2 * MSET_KEYS];
    char names[MSET_KEYS][8];
    argv[0] = "MSET";
    for (int k = 0; k < MSET_KEYS; k++) {
        snprintf(names[k], sizeof(names[k]), "k%d", k);
        argv[1 + 2 * k] = names[k];
    }
    for (int round = 0; c && !c->err && round < MSET_ROUNDS; round++) {
        for (int k = 0; k < MSET_KEYS; k++)
            argv[2 + 2 * k] = round % 2 ? "2" : "1";
        redisReply *r = redisCommandArgv(c, 1 + 2 * MSET_KEYS, argv, NULL);
        if (!r || r->type != REDIS_REPLY_STATUS) {
            snprintf(w->error, sizeof(w->error), "MSET: %.100s", r ? r->str : c->errstr);
            freeReplyObject(r);
            break;
        }
        freeReplyObject(r);
    }
    if (!c || c->err)
        snprintf(w->error, sizeof(w->error), "connection failed");
    redisFree(c);
    atomic_store(&w->done, true);
    return NULL;
}

/* A reader's MGET of all the keys always sees one MSET whole: all "1" or all "2". */
START_TEST(mget_never_sees_half_an_mset)
{
    struct mset_writer w = {0};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, mset_main, &w), 0);
    const char *argv[1 + MSET_KEYS];
    char names[MSET_KEYS][8];
    argv[0] = "MGET";
    for (int k = 0; k < MSET_KEYS; k++) {
        snprintf(names[k], sizeof(names[k]), "k%d", k);
        argv[1 + k] = names[k];
    }
    long reads = 0, ones = 0, twos = 0;
    for (; !atomic_load(&w.done) && reads < 1000000; reads++) {
        redisReply *r = redisCommandArgv(ctx, 1 + MSET_KEYS, argv, NULL);
        ck_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == MSET_KEYS);
        int first = r->element[0]->type == REDIS_REPLY_NIL ? 0 : r->element[0]->str[0];
        for (int k = 1; k < MSET_KEYS; k++) {
            int v = r->element[k]->type == REDIS_REPLY_NIL ? 0 : r->element[k]->str[0];
            ck_assert_msg(v == first, "MGET saw k0=%c and k%d=%c after %ld reads",
                          first ? first : '-', k, v ? v : '-', reads);
        }
        ones += first == '1';
        twos += first == '2';
        freeReplyObject(r);
    }
    pthread_join(th, NULL);
    ck_assert_msg(w.error[0] == '\0', "writer: %s", w.error);
    fprintf(stderr, "mget: %ld reads (%ld of 1s, %ld of 2s) during %d MSETs\n", reads, ones, twos,
            MSET_ROUNDS);
}
END_TEST

/* ---- MSETNX ---- */

#define RACE_ROUNDS 500
#define RACERS 4

struct racer {
    pthread_t th;
    int id;
    pthread_barrier_t *start, *end;
    long long won[RACE_ROUNDS]; /* the integer reply of each round */
    char error[128];
};

/* Each round: racer 0 sends SET b <id> NX; the others MSETNX a <id> b <id>. */
static void *racer_main(void *arg)
{
    struct racer *r = arg;
    redisContext *c = redisConnect("127.0.0.1", srv.port);
    char id[16];
    snprintf(id, sizeof(id), "%d", r->id);
    for (int round = 0; round < RACE_ROUNDS; round++) {
        pthread_barrier_wait(r->start);
        redisReply *rep = NULL;
        if (c && !c->err)
            rep = r->id == 0 ? redisCommand(c, "SET b %s NX", id)
                             : redisCommand(c, "MSETNX a %s b %s", id, id);
        if (!rep || rep->type == REDIS_REPLY_ERROR)
            snprintf(r->error, sizeof(r->error), "round %d: %.100s", round, rep ? rep->str : "no reply");
        else
            r->won[round] = rep->type == REDIS_REPLY_INTEGER ? rep->integer
                                                             : rep->type == REDIS_REPLY_STATUS;
        freeReplyObject(rep);
        pthread_barrier_wait(r->end);
        pthread_barrier_wait(r->start); /* the checker looks and clears meanwhile */
    }
    redisFree(c);
    return NULL;
}

/* Exactly one racer wins each round, and a and b hold what the winner wrote. */
static void check_round(struct racer *rs, int round)
{
    int winner = -1;
    for (int i = 0; i < RACERS; i++) {
        ck_assert_msg(rs[i].error[0] == '\0', "racer %d: %s", i, rs[i].error);
        if (rs[i].won[round]) {
            ck_assert_msg(winner < 0, "round %d: racers %d and %d both won", round, winner, i);
            winner = i;
        }
    }
    ck_assert_msg(winner >= 0, "round %d: nobody won", round);
    char id[16];
    snprintf(id, sizeof(id), "%d", winner);
    ex_str(CMD("GET", "b"), id);
    if (winner == 0)
        ex_int(CMD("EXISTS", "a"), 0);
    else
        ex_str(CMD("GET", "a"), id);
}

START_TEST(msetnx_all_or_nothing)
{
    pthread_barrier_t start, end;
    pthread_barrier_init(&start, NULL, RACERS + 1);
    pthread_barrier_init(&end, NULL, RACERS + 1);
    struct racer *rs = calloc(RACERS, sizeof(*rs));
    ck_assert_ptr_nonnull(rs);
    for (int i = 0; i < RACERS; i++) {
        rs[i] = (struct racer){.id = i, .start = &start, .end = &end};
        ck_assert_int_eq(pthread_create(&rs[i].th, NULL, racer_main, &rs[i]), 0);
    }
    for (int round = 0; round < RACE_ROUNDS; round++) {
        pthread_barrier_wait(&start); /* go */
        pthread_barrier_wait(&end);   /* all replied */
        check_round(rs, round);
        redisReply *r = CMD("DEL", "a", "b");
        freeReplyObject(r);
        pthread_barrier_wait(&start); /* cleared */
    }
    long msetnx_wins = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(rs[i].th, NULL);
        for (int round = 0; i > 0 && round < RACE_ROUNDS; round++)
            msetnx_wins += rs[i].won[round];
    }
    fprintf(stderr, "msetnx: %ld of %d rounds won by an MSETNX, the rest by SET NX\n",
            msetnx_wins, RACE_ROUNDS);
    free(rs);
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&end);
}
END_TEST

/* ---- FLUSHALL ---- */

START_TEST(flushall_empties)
{
    for (int batch = 0; batch < 20; batch++) {
        for (int i = 0; i < 1000; i++)
            redisAppendCommand(ctx, "SET key:%d:%d value", batch, i);
        for (int i = 0; i < 1000; i++) {
            redisReply *r;
            ck_assert_int_eq(redisGetReply(ctx, (void **)&r), REDIS_OK);
            freeReplyObject(r);
        }
    }
    ex_status(CMD("SET", "t", "v", "EX", "3600"), "OK");
    ex_status(CMD("SET", "gone", "v", "PXAT", "1"), "OK"); /* expired: DBSIZE counts it */
    ex_int(CMD("DBSIZE"), 20002);
    long long live = ex_info_ll(ctx, "stats", "kvs_live_bytes");
    ex_status(CMD("FLUSHALL"), "OK");
    ex_int(CMD("DBSIZE"), 0); /* the compaction of FLUSHALL [SYNC] dropped "gone" too */
    /* and gave the space back: nothing live, and less garbage than there was data */
    ck_assert_int_eq(ex_info_ll(ctx, "stats", "kvs_live_bytes"), 0);
    long long dead = ex_info_ll(ctx, "stats", "kvs_dead_bytes");
    ck_assert_msg(dead < live / 2, "%lld live bytes before FLUSHALL, %lld dead after", live, dead);
    fprintf(stderr, "flushall: %lld live bytes before, %lld dead after\n", live, dead);
    ex_nil(CMD("GET", "key:7:7"));
    ex_int(CMD("TTL", "t"), -2);
    redisReply *r = CMD("SCAN", "0", "COUNT", "100000");
    ck_assert_str_eq(r->element[0]->str, "0");
    ck_assert_uint_eq(r->element[1]->elements, 0);
    freeReplyObject(r);
    ex_status(CMD("SET", "a", "1"), "OK");
    ex_status(CMD("FLUSHDB"), "OK");
    ex_int(CMD("DBSIZE"), 0);
    ex_status(CMD("FLUSHALL", "ASYNC"), "OK"); /* nothing left: still fine */
    ex_status(CMD("FLUSHDB", "sync"), "OK");
    ex_error(CMD("FLUSHALL", "NOW"), "ERR syntax error");
    ex_error(CMD("FLUSHDB", "SYNC", "ASYNC"), "ERR syntax error");
    ex_status(CMD("SET", "a", "1"), "OK"); /* the store works on */
    ex_str(CMD("GET", "a"), "1");
}
END_TEST

struct pair_writer {
    atomic_bool stop;
    atomic_long pairs;
    char error[128];
};

/* MSET p:<i> v q:<i> v for i = 0, 1, ... until told to stop. */
static void *pair_main(void *arg)
{
    struct pair_writer *w = arg;
    redisContext *c = redisConnect("127.0.0.1", srv.port);
    for (long i = 0; c && !c->err && !atomic_load(&w->stop) && i < 1000000; i++) {
        redisReply *r = redisCommand(c, "MSET p:%ld v q:%ld v", i, i);
        if (!r || r->type != REDIS_REPLY_STATUS) {
            snprintf(w->error, sizeof(w->error), "MSET: %.100s", r ? r->str : c->errstr);
            freeReplyObject(r);
            break;
        }
        freeReplyObject(r);
        atomic_store(&w->pairs, i + 1);
    }
    redisFree(c);
    return NULL;
}

/* FLUSHALL while another client writes pairs: it never splits a pair. */
START_TEST(flushall_beside_writer)
{
    struct pair_writer w = {0};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, pair_main, &w), 0);
    /* FLUSHALL again and again until the writer has written 3000 pairs meanwhile */
    for (long i = 0; i < 1000000 && atomic_load(&w.pairs) < 3000 && !w.error[0]; i++)
        ex_status(CMD("FLUSHALL"), "OK");
    atomic_store(&w.stop, true);
    pthread_join(th, NULL);
    ck_assert_msg(w.error[0] == '\0', "writer: %s", w.error);
    long left = 0, pairs = atomic_load(&w.pairs);
    for (long i = 0; i < pairs; i++) {
        redisAppendCommand(ctx, "EXISTS p:%ld q:%ld", i, i);
        if (i % 1000 == 999 || i == pairs - 1) {
            for (long j = i - i % 1000; j <= i; j++) {
                redisReply *r;
                ck_assert_int_eq(redisGetReply(ctx, (void **)&r), REDIS_OK);
                ck_assert_msg(r->integer != 1, "pair %ld split", j);
                left += r->integer == 2;
                freeReplyObject(r);
            }
        }
    }
    ex_int(CMD("DBSIZE"), 2 * left);
    fprintf(stderr, "flushall: %ld pairs written, %ld left after the last FLUSHALL\n", pairs, left);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("atomic");
    TCase *tc = tcase_create("atomic");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, incr_many_clients);
    tcase_add_test(tc, mget_never_sees_half_an_mset);
    tcase_add_test(tc, msetnx_all_or_nothing);
    tcase_add_test(tc, flushall_empties);
    tcase_add_test(tc, flushall_beside_writer);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
