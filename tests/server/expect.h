/*
 * hiredis helpers for kvs-server tests: send a command given as C strings
 * and check its reply, with messages that say what came instead. Every
 * check is a Check assertion (the test fails, it does not print and go on).
 */
#ifndef KVS_TESTS_SERVER_EXPECT_H
#define KVS_TESTS_SERVER_EXPECT_H

#include <hiredis/hiredis.h>
#include <stdint.h>

/* A connection to 127.0.0.1:port with 10 s timeouts (asserts it worked). */
redisContext *ex_connect(uint16_t port);

/* Send the NULL-terminated list of C-string arguments; asserts a reply came. */
redisReply *ex_cmd(redisContext *c, const char *first, ...);

/* Each checks the reply's type and value, then frees it. */
void ex_status(redisReply *r, const char *status);
void ex_error(redisReply *r, const char *error);
void ex_int(redisReply *r, long long v);
void ex_str(redisReply *r, const char *s);
void ex_nil(redisReply *r);

/* An integer reply within [lo, hi]; returns it (the reply is freed). */
long long ex_int_in(redisReply *r, long long lo, long long hi);

/* A numeric field of INFO <section> ("rdb_saves"); asserts it is there. */
long long ex_info_ll(redisContext *c, const char *section, const char *field);

/* A text field of INFO <section> into out (n bytes); asserts it is there. */
void ex_info_str(redisContext *c, const char *section, const char *field, char *out, size_t n);

/* Milliseconds since the Unix epoch (the clock expiry is judged by). */
long long ex_unix_ms(void);

#endif
