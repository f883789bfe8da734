/*
 * A run of pipelined GETs answered together.
 *
 * A client that pipelines GETs (redis-benchmark -P 16, a Redis client's
 * pipeline) leaves many of them in the input buffer at once. Read one by
 * one, each GET waits for two cache misses of its own (the key's index slot,
 * then its record); one kvs_multi_get over the run overlaps those of all the
 * keys. The replies are those of the GETs executed in order: every key is
 * read after the one before it, each at a moment of its own, as separate GETs
 * are (KVS_MULTI_GET_EACH), so a run never waits for writers.
 *
 * A run reads at most `budget` value bytes (what the connection may still
 * buffer before it stops executing requests). A GET whose value would go past
 * it is left unanswered, with those after it, for the caller to parse again
 * once the replies before it are sent; only the first GET of a run is
 * answered whatever its size, as it would be on its own.
 */
#ifndef KVS_SERVER_GET_RUN_H
#define KVS_SERVER_GET_RUN_H

#include <kvs.h>
#include <stdbool.h>
#include <stddef.h>

#include "resp.h"
#include "session.h"

/* GETs answered by one read at most (two of kvs_multi_get's groups). */
#define GET_RUN_MAX 32

struct get_run {
    size_t n;                          /* GETs gathered */
    size_t start[GET_RUN_MAX];         /* where each request begins in the input */
    kvs_get_item_t items[GET_RUN_MAX]; /* their keys point into the input buffer */
};

/* Is req a GET that a run may answer: two arguments, client authenticated?
 * Anything else goes through commands_execute for its reply. */
bool get_run_accepts(const struct session *s, const struct resp_request *req);

/* Gather req, which begins at offset start of the input; the run must not
 * be full. Returns true once it is. */
bool get_run_add(struct get_run *r, const struct resp_request *req, size_t start);

/* Read every gathered key (one kvs_multi_get), copying at most budget value
 * bytes (at least 1); then reply with get_run_reply and empty the run with
 * get_run_clear. */
void get_run_read(struct session *s, struct get_run *r, size_t budget);

/* Append the reply to the i-th GET, as cmd_get would. False, with nothing
 * appended, when its value did not fit in the budget and i > 0: that GET and
 * the ones after it are to be executed later. */
bool get_run_reply(struct session *s, struct get_run *r, size_t i);

/* Free the values not replied with, and empty the run. */
void get_run_clear(struct get_run *r);

#endif
