/*
 * crashloop: kill -9 a writer at random moments, reopen the store, and check
 * every acknowledged operation against a model.
 *
 * Each cycle forks a child that opens the store (random sync mode, small
 * segments, a low compaction trigger, sometimes write-through) and performs
 * random operations on a small key space: sets (plain, NX, XX, keeping the
 * expiry, with an expiry), removes, kvs_expire, kvs_update, batches of 1-50
 * entries, gets, now and then kvs_compact, kvs_sync or a close and reopen.
 * Before each operation it sends the parent an "intent" record, after it an
 * "ack" with the result, over a pipe (one write per operation: the ack of
 * the previous operation and the intent of the next one). The parent keeps
 * the model (the latest acknowledged state of every key), SIGKILLs the child
 * after a random number of acks or a random delay, reads what was sent
 * before the kill, reaps the child (it must have died of SIGKILL), reopens
 * the store and checks:
 *
 *  - every key holds its latest acknowledged value (or is absent when it
 *    was removed or its value expired), or, for the keys of the operation
 *    that was in flight at the kill (intent sent, no ack), the value that
 *    operation meant to write;
 *  - the in-flight operation happened as a whole or not at all (a batch:
 *    all of its keys or none);
 *  - an iterator over the whole store yields exactly those keys, in order,
 *    and nothing else (nothing that was never written);
 *  - kvs_verify finds nothing wrong.
 *
 * Values are a function of (key, version, length, counter), so that a value
 * is recognised byte for byte. Expiry is judged with the real clock around
 * each read: a value whose expiry lies within MARGIN_MS of the read may be
 * present or absent. The store is reused across cycles (each crash leaves
 * state for the next), with a fresh start now and then. Acks are checked
 * against the model as they arrive too (conditional writes, update
 * callbacks and gets see what the model says they should). One cycle in
 * three runs two writer threads, each owning half of the keys; one fresh
 * store in six is a big one (55,000 keys), whose clean close saves the INDEX
 * file.
 *
 * Usage: crashloop [--cycles N] [--seconds S] [--seed N] [--dir PATH] [--keys N]
 *                  [--no-copy] [--verbose]
 * KVS_TEST_SEED replays a seed (the operations and options; the kill moments
 * depend on timing). See doc/RELIABILITY.md.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kvs.h"

/* ---- parameters ---- */

enum {
    MAX_KEYS = 60000,        /* largest key space (a big store) */
    BIG_KEYS = 55000,        /* keys a big store starts with: over the 50,000 that make
                                kvs_close save the INDEX file */
    BATCH_MAX = 50,          /* entries per batch */
    VHDR = 24,               /* value header (when the value is long enough) */
    LARGE_MAX = 200 * 1024,  /* largest value: over 64 KiB for the large-value read path */
    CHILD_OP_CAP = 2000000,  /* the child stops here if never killed */
    STALL_SECONDS = 60,      /* no record from the child for this long: it hangs */
    MAX_KILL_DELAY_US = 600000,
    HIST = 8,                /* events remembered per key, for failure reports */
    NEW_MAX = 2,             /* states the in-flight op may have left a key in */
};

/* A value whose expiry is this close to the moment of a read may be present or
 * absent (it protects against clock adjustments, not against slowness). */
#define MARGIN_MS 1000u

/* ---- small helpers ---- */

static uint64_t rnd(uint64_t *st)
{
    uint64_t z = (*st += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t below(uint64_t *st, uint64_t n)
{
    return n ? rnd(st) % n : 0;
}

/* Roughly log-uniform in [lo, hi] (lo >= 1): a random power of two in the
 * range, then uniform within it. */
static uint64_t logrnd(uint64_t *st, uint64_t lo, uint64_t hi)
{
    int a = 63 - __builtin_clzll(lo), b = 63 - __builtin_clzll(hi);
    int e = a + (int)below(st, (uint64_t)(b - a + 1));
    uint64_t base = 1ull << e;
    uint64_t r = base + below(st, base);
    return r < lo ? lo : r > hi ? hi : r;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t hash_bytes(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 0x243F6A8885A308D3ull ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * 0x100000001B3ull;
        h ^= h >> 29;
    }
    for (; i < n; i++)
        h = (h ^ b[i]) * 0x100000001B3ull;
    return h ^ (h >> 31);
}

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* ---- keys and values ---- */

/* Key i: "ck" and five digits, then 0-4 bytes that may be NUL. */
static size_t make_key(uint32_t i, char *buf)
{
    int n = snprintf(buf, 16, "ck%05u", (unsigned)i);
    size_t extra = i % 5;
    for (size_t j = 0; j < extra; j++)
        buf[(size_t)n + j] = (char)((i * 31u + (uint32_t)j * 7u) & 0xFFu);
    return (size_t)n + extra;
}

/* The key index of a key, or -1 if it is not one of the first nkeys keys. */
static long parse_key(const void *k, size_t kl, uint32_t nkeys)
{
    const char *s = k;
    if (kl < 7 || s[0] != 'c' || s[1] != 'k')
        return -1;
    uint32_t i = 0;
    for (int j = 2; j < 7; j++) {
        if (s[j] < '0' || s[j] > '9')
            return -1;
        i = i * 10 + (uint32_t)(s[j] - '0');
    }
    char want[16];
    if (i >= nkeys || make_key(i, want) != kl || memcmp(want, k, kl) != 0)
        return -1;
    return (long)i;
}

/* Value bytes as a function of (key, version, length, counter): filler from
 * a generator seeded with key and version, and, when the value is long
 * enough, a header "KVcl", key, version, counter, length. */
static void gen_value(uint32_t key, uint64_t version, uint32_t len, uint32_t counter,
                      uint8_t *buf)
{
    uint64_t st = version * 0xD1342543DE82EF95ull ^ ((uint64_t)key << 40) ^ len;
    uint32_t i = 0;
    for (; i + 8 <= len; i += 8)
        put64(buf + i, rnd(&st));
    if (i < len) {
        uint64_t r = rnd(&st);
        memcpy(buf + i, &r, len - i);
    }
    if (len >= VHDR) {
        memcpy(buf, "KVcl", 4);
        put32(buf + 4, key);
        put64(buf + 8, version);
        put32(buf + 16, counter);
        put32(buf + 20, len);
    }
}

/* What a value's header says (0s when it has none). */
static void value_header(const void *v, size_t len, uint64_t *version, uint32_t *counter)
{
    const uint8_t *b = v;
    *version = 0;
    *counter = 0;
    if (len >= VHDR && memcmp(b, "KVcl", 4) == 0) {
        *version = get64(b + 8);
        *counter = get32(b + 16);
    }
}

/* ---- the model ---- */

/* What a key holds: absent, or one value with its expiry (0: none). */
struct vstate {
    uint8_t present;
    uint32_t len;
    uint32_t counter;
    uint64_t version;
    uint64_t expire;
};

enum op {
    OP_SET = 1, /* flags: F_NX, F_XX, F_KEEP; aux: which call */
    OP_REMOVE,
    OP_EXPIRE,
    OP_UPDATE,  /* flags: U_KEEP; counter: remove at; aux: set expire */
    OP_BATCH,
    OP_GET,
    OP_COMPACT,
    OP_SYNC,
    OP_REOPEN,
    OP_COUNT_
};

static const char *const op_names[OP_COUNT_] = {
    "?", "set", "remove", "expire", "update", "batch", "get", "compact", "sync", "reopen",
};

enum { F_NX = 1, F_XX = 2, F_KEEP = 4 };
enum { U_KEEP = 1 };

enum rtype { R_OPENED = 1, R_INTENT, R_ENTRY, R_ACK, R_DONE };

/* The type byte carries the writer thread in its high nibble. */
#define RTYPE(r) ((r)->type & 15u)
#define RTHREAD(r) ((unsigned)(r)->type >> 4)
enum { MAX_THREADS = 2 };

/* One record on the pipe. Intents of a batch are followed by its entries
 * (R_ENTRY, op OP_SET or OP_REMOVE); everything one operation sends is one
 * write() of less than PIPE_BUF bytes, so it arrives whole or not at all,
 * also when two writer threads share the pipe. */
struct wrec {
    uint8_t type, op, flags, aux;
    uint32_t key;
    uint32_t len;
    int32_t rc;
    uint32_t counter;
    uint32_t n;       /* batch: entries; ack: compactions finished since the open */
    uint64_t version;
    uint64_t expire;
    uint64_t t0, t1; /* the child's clock around the call (ms) */
    uint64_t hash;
};

_Static_assert(sizeof(struct wrec) == 64, "wire record layout");
_Static_assert((BATCH_MAX + 2) * sizeof(struct wrec) <= 4096, "an operation fits PIPE_BUF");

struct hist {
    uint32_t cycle, seq;
    uint8_t op, flags, kind; /* kind: 'A' acked, 'F' in flight at a kill */
    int32_t rc;
    uint64_t version, expire;
    uint32_t len;
};

struct keymodel {
    struct vstate cur;             /* after the last acknowledged op */
    struct vstate nw[NEW_MAX];     /* states the in-flight op may have written */
    uint8_t nnew;
    uint8_t in_flight;             /* touched by the in-flight op of thread in_flight - 1 */
    struct hist h[HIST];
    uint32_t nh;
};

/* ---- run state (parent) ---- */

struct conf {
    kvs_sync_t sync;
    unsigned threads;     /* writer threads; each owns the keys k % threads == its number */
    size_t seg;
    unsigned trigger;
    int write_through;
    unsigned interval_ms;
    bool kill_early;      /* kill kill_us after the fork (maybe while it opens) */
    uint64_t kill_acks;   /* else kill after this many acks (0: by time only) */
    uint64_t kill_us;     /* or this long after the open */
    uint64_t child_seed;
    uint64_t vbase;
};

static struct {
    uint64_t seed;
    uint64_t cycles_max;
    uint64_t seconds_max;
    const char *base;
    bool copy_crash;
    bool verbose;
    uint32_t keys_opt; /* --keys: every store has this many keys */
    pid_t child;      /* the running child, killed if the parent fails */
    char dir[4096];   /* the store */
    char crash[4096]; /* a copy of the store as the last kill left it */
    char work[2048];
    char shm[64];     /* a directory in /dev/shm for the copy, if any */
    uint32_t nkeys;
    struct keymodel *km;
    uint32_t cycle;
    struct conf cf;
    /* each thread's in-flight op: its intent and entries */
    struct wrec pend[MAX_THREADS];
    struct wrec pend_e[MAX_THREADS][BATCH_MAX];
    uint32_t pend_n[MAX_THREADS];
    bool pend_valid[MAX_THREADS];
    uint32_t pend_seq[MAX_THREADS];
    uint32_t seq_now; /* number of the op being applied, for the history */
    bool opened;
    bool recovered; /* the last check opened the store normally (not only read-only) */
    uint32_t seq;
    /* scratch */
    uint8_t *vbuf;
    /* totals */
    uint64_t acked, acked_op[OP_COUNT_], batch_entries;
    uint64_t kills[3], kills_threaded, kills_big, big, index_loads;
    uint64_t inflight_kills, inflight_batches, before_open, fresh;
    uint64_t new_seen, old_seen;
    uint32_t cycle_compactions; /* compactions the child finished (as last acked) */
    uint64_t compactions;
    uint64_t start_us, opened_us;
    uint64_t us_open, us_run, us_check; /* time spent, for the summary */
} G;

static void print_conf(FILE *f)
{
    static const char *const sync_names[] = {"none", "interval", "always"};
    fprintf(f,
            "  cycle %u: %u thread%s, sync %s, segment %zu bytes, trigger %u%%, write-through %d, "
            "interval %u ms, keys %u, kill after %" PRIu64 " acks or %" PRIu64 " us %s\n",
            G.cycle, G.cf.threads, G.cf.threads > 1 ? "s" : "", sync_names[G.cf.sync], G.cf.seg,
            G.cf.trigger, G.cf.write_through, G.cf.interval_ms, G.nkeys, G.cf.kill_acks, G.cf.kill_us,
            G.cf.kill_early ? "after the fork" : "after the open");
}

static void print_state(FILE *f, const char *what, const struct vstate *s)
{
    if (!s->present)
        fprintf(f, "    %s: absent\n", what);
    else
        fprintf(f, "    %s: version %#" PRIx64 " len %u counter %u expire %" PRIu64 "\n", what,
                s->version, s->len, s->counter, s->expire);
}

static void print_history(FILE *f, uint32_t k)
{
    struct keymodel *m = &G.km[k];
    fprintf(f, "  key %u history (oldest first):\n", k);
    uint32_t n = m->nh < HIST ? m->nh : HIST;
    for (uint32_t i = m->nh - n; i < m->nh; i++) {
        const struct hist *h = &m->h[i % HIST];
        fprintf(f,
                "    cycle %u op #%u %c %s flags %u rc %s version %#" PRIx64
                " len %u expire %" PRIu64 "\n",
                h->cycle, h->seq, h->kind, op_names[h->op < OP_COUNT_ ? h->op : 0], h->flags,
                kvs_status_name(h->rc), h->version, h->len, h->expire);
    }
}

static void add_hist(uint32_t k, const struct wrec *in, int32_t rc, char kind,
                     const struct vstate *result)
{
    struct keymodel *m = &G.km[k];
    struct hist *h = &m->h[m->nh++ % HIST];
    *h = (struct hist){.cycle = G.cycle, .seq = G.seq_now, .op = in->op, .flags = in->flags,
                       .kind = (uint8_t)kind, .rc = rc, .version = result->version,
                       .expire = result->expire, .len = result->len};
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...)
{
    fflush(stdout);
    if (G.child > 0) {
        kill(G.child, SIGKILL);
        waitpid(G.child, NULL, 0);
        G.child = 0;
    }
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "crashloop: FAILED: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    print_conf(stderr);
    fprintf(stderr, "  store kept in %s", G.dir);
    if (G.copy_crash)
        fprintf(stderr, ", as the kill left it in %s", G.crash);
    fprintf(stderr, "\ncrashloop: replay with KVS_TEST_SEED=%" PRIu64
                    " (the kill moments depend on timing)\n",
            G.seed);
    exit(1);
}

/* ---- judging a value against a state, with the clock ---- */

/* Whether a state is visible to a read made between t0 and t1 (ms):
 * definitely (1), definitely not (0), or either (-1). */
static int visible(const struct vstate *s, uint64_t t0, uint64_t t1)
{
    if (!s->present)
        return 0;
    if (s->expire == 0 || s->expire > t1 + MARGIN_MS)
        return 1;
    if (s->expire + MARGIN_MS <= t0)
        return 0;
    return -1;
}

/* An observation: absent, or a value (with its expiry when known). */
struct obs {
    bool present;
    const void *val;
    size_t len;
    bool expire_known;
    uint64_t expire;
    uint64_t t0, t1;
};

static bool value_is(uint32_t k, const struct vstate *s, const void *val, size_t len)
{
    if (len != s->len)
        return false;
    gen_value(k, s->version, s->len, s->counter, G.vbuf);
    return memcmp(val, G.vbuf, len) == 0;
}

static uint64_t state_hash(uint32_t k, const struct vstate *s)
{
    gen_value(k, s->version, s->len, s->counter, G.vbuf);
    return hash_bytes(G.vbuf, s->len);
}

static bool state_matches(uint32_t k, const struct vstate *s, const struct obs *o)
{
    int vis = visible(s, o->t0, o->t1);
    if (!o->present)
        return vis != 1;
    if (vis == 0 || !value_is(k, s, o->val, o->len))
        return false;
    if (o->expire_known)
        return o->expire == s->expire;
    return true;
}

/* Bit 0: the acknowledged state; bit 1+i: the in-flight op's state i. */
static unsigned match_mask(uint32_t k, const struct obs *o)
{
    const struct keymodel *m = &G.km[k];
    unsigned mask = state_matches(k, &m->cur, o) ? 1u : 0u;
    for (unsigned i = 0; i < m->nnew; i++)
        if (state_matches(k, &m->nw[i], o))
            mask |= 2u << i;
    return mask;
}

static void describe_obs(FILE *f, uint32_t k, const struct obs *o)
{
    if (!o->present) {
        fprintf(f, "    found: absent (read between %" PRIu64 " and %" PRIu64 " ms)\n", o->t0,
                o->t1);
        return;
    }
    uint64_t v;
    uint32_t c;
    value_header(o->val, o->len, &v, &c);
    fprintf(f, "    found: len %zu, header version %#" PRIx64 " counter %u, expire %s%" PRIu64
               " (read between %" PRIu64 " and %" PRIu64 " ms)\n",
            o->len, v, c, o->expire_known ? "" : "unknown ", o->expire, o->t0, o->t1);
    (void)k;
}

static void mismatch(uint32_t k, const char *where, const struct obs *o) __attribute__((noreturn));

static void mismatch(uint32_t k, const char *where, const struct obs *o)
{
    const struct keymodel *m = &G.km[k];
    fprintf(stderr, "crashloop: key %u (%s) does not hold what the model allows:\n", k, where);
    describe_obs(stderr, k, o);
    print_state(stderr, "acknowledged", &m->cur);
    for (unsigned i = 0; i < m->nnew; i++)
        print_state(stderr, "in flight", &m->nw[i]);
    print_history(stderr, k);
    fail("cycle %u: key %u: %s", G.cycle, k, where);
}

/* ---- operations, shared by child (doing) and parent (modelling) ---- */

/* What kvs_update's callback does, given the current state: the action and
 * the state it leaves. Must agree with update_cb. */
static int update_result(const struct vstate *cur, bool found, const struct wrec *in,
                         struct vstate *out)
{
    uint32_t oldc = found ? cur->counter : 0;
    if (in->flags & U_KEEP) {
        *out = *cur;
        return KVS_UPDATE_KEEP;
    }
    if (found && in->counter && oldc + 1 >= in->counter) {
        *out = (struct vstate){0};
        return KVS_UPDATE_REMOVE;
    }
    *out = (struct vstate){.present = 1, .len = in->len, .counter = oldc + 1,
                           .version = in->version,
                           .expire = in->aux ? in->expire : (found ? cur->expire : 0)};
    return KVS_UPDATE_SET;
}

/* ---- the child ---- */

struct child {
    kvs_t *db;
    kvs_options_t *opts;
    int fd;
    unsigned thread, threads;
    uint32_t nkeys;
    const char *dir;
    uint8_t sendbuf[(BATCH_MAX + 5) * sizeof(struct wrec)];
    struct wrec out[BATCH_MAX + 4];
    uint32_t nout;
    struct wrec ack;
    bool ack_pending;
    uint32_t compactions; /* finished by handles closed before this one */
    uint64_t st;
    uint64_t version;
    uint8_t *val;
    kvs_batch_t *batch;
    /* update callback */
    const struct wrec *uin;
    struct wrec *uack;
};

static void child_die(const char *what, int rc) __attribute__((noreturn));

static void child_die(const char *what, int rc)
{
    fprintf(stderr, "crashloop child: %s: %s (%s), errno %d\n", what, kvs_status_name(rc),
            kvs_strerror(rc), errno);
    _exit(3);
}

/* Send the ack of the last operation (if any) and the records pushed since,
 * in one write. The intent pushed stays valid until the next push. */
static void child_flush(struct child *c)
{
    uint8_t *buf = c->sendbuf;
    _Static_assert(sizeof(c->sendbuf) >= sizeof(c->out) + sizeof(c->ack), "send buffer");
    size_t n = 0;
    if (c->ack_pending) {
        memcpy(buf, &c->ack, sizeof(c->ack));
        n = sizeof(c->ack);
        c->ack_pending = false;
    }
    memcpy(buf + n, c->out, c->nout * sizeof(struct wrec));
    n += c->nout * sizeof(struct wrec);
    c->nout = 0;
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t w = write(c->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            _exit(4);
        p += w;
        n -= (size_t)w;
    }
}

static struct wrec *child_push(struct child *c, uint8_t type, uint8_t op)
{
    struct wrec *r = &c->out[c->nout++];
    memset(r, 0, sizeof(*r));
    r->type = (uint8_t)(type | c->thread << 4);
    r->op = op;
    return r;
}

/* The ack of the operation just done: sent with the next flush, that is
 * before the next operation starts. */
static struct wrec *child_ack(struct child *c, uint8_t op)
{
    memset(&c->ack, 0, sizeof(c->ack));
    c->ack.type = (uint8_t)(R_ACK | c->thread << 4);
    c->ack.op = op;
    c->ack_pending = true;
    uint64_t n = 0;
    if (c->db)
        kvs_stat(c->db, KVS_STAT_COMPACTIONS, &n);
    c->ack.n = c->compactions + (uint32_t)n;
    return &c->ack;
}

static uint32_t pick_len(uint64_t *st)
{
    uint64_t r = below(st, 100);
    if (r < 35)
        return (uint32_t)below(st, 33);
    if (r < 75)
        return (uint32_t)(33 + below(st, 1024 - 32));
    if (r < 93)
        return (uint32_t)(1024 + below(st, 7 * 1024));
    if (r < 99)
        return (uint32_t)(8 * 1024 + below(st, 56 * 1024));
    return (uint32_t)(64 * 1024 + below(st, LARGE_MAX - 64 * 1024 + 1));
}

/* An expiry: none, far future, clearly past, or soon (expires during the
 * cycle or around the check). */
static uint64_t pick_expiry(uint64_t *st, bool allow_zero)
{
    uint64_t now = now_ms(), r = below(st, 10);
    if (r == 0 && allow_zero)
        return 0;
    if (r <= 3)
        return now + 3600000u + below(st, 30ull * 86400000u);
    if (r <= 5)
        return below(st, 2) ? 1 + below(st, 1000) : now - 3600000u - below(st, 86400000u);
    return now + 1 + below(st, 3000);
}

static int update_cb(void *ctx, const void *old, size_t oldlen, int found, kvs_update_value_t *out)
{
    struct child *c = ctx;
    const struct wrec *in = c->uin;
    struct vstate cur = {0};
    if (found) {
        cur.present = 1;
        cur.len = (uint32_t)oldlen;
        value_header(old, oldlen, &cur.version, &cur.counter);
        cur.expire = out->expire_at_ms;
    }
    c->uack->aux = (uint8_t)(found != 0);
    c->uack->len = (uint32_t)oldlen;
    c->uack->version = cur.version;
    c->uack->counter = cur.counter;
    c->uack->expire = out->expire_at_ms;
    c->uack->hash = found ? hash_bytes(old, oldlen) : 0;
    struct vstate res;
    int action = update_result(&cur, found != 0, in, &res);
    if (action == KVS_UPDATE_SET) {
        gen_value(in->key, res.version, res.len, res.counter, c->val);
        out->val = c->val;
        out->vlen = res.len;
        out->expire_at_ms = res.expire;
    }
    return action;
}

static void child_open(struct child *c, const char *dir)
{
    int rc = kvs_open(dir, c->opts, &c->db);
    if (rc != KVS_OK)
        child_die("kvs_open", rc);
}

static void expect_rc(const char *what, int rc, int a, int b)
{
    if (rc != a && rc != b)
        child_die(what, rc);
}

/* A key of this thread's share: k % threads == thread. */
static uint32_t pick_key(struct child *c)
{
    uint32_t share = (c->nkeys - c->thread + c->threads - 1) / c->threads;
    return c->thread + c->threads * (uint32_t)below(&c->st, share);
}

static void child_op(struct child *c)
{
    uint64_t *st = &c->st;
    uint64_t r = below(st, 1000);
    uint32_t k = pick_key(c);
    char key[16];
    size_t kl = make_key(k, key);
    struct wrec *in;
    int rc;

    if (r < 700) { /* sets in all their forms */
        in = child_push(c, R_INTENT, OP_SET);
        in->key = k;
        in->len = pick_len(st);
        in->version = c->version++;
        uint64_t f = below(st, 100);
        if (r < 300)
            in->aux = 0; /* kvs_set */
        else if (r < 500)
            in->aux = 1; /* kvs_set_ex */
        else
            in->aux = 2; /* kvs_set_expire */
        if (in->aux >= 1) {
            in->flags = f < 30 ? F_NX : f < 60 ? F_XX : 0;
            if (below(st, 5) == 0)
                in->flags |= F_KEEP;
        }
        if (in->aux == 2 && !(in->flags & F_KEEP))
            in->expire = pick_expiry(st, true);
        child_flush(c);
        gen_value(k, in->version, in->len, 0, c->val);
        struct wrec *ack = child_ack(c, OP_SET);
        ack->t0 = now_ms();
        if (in->aux == 0)
            rc = kvs_set(c->db, key, kl, c->val, in->len);
        else if (in->aux == 1)
            rc = kvs_set_ex(c->db, key, kl, c->val, in->len, in->flags);
        else
            rc = kvs_set_expire(c->db, key, kl, c->val, in->len, in->expire, in->flags);
        ack->t1 = now_ms();
        ack->rc = rc;
        expect_rc("set", rc, KVS_OK,
                  (in->flags & F_NX) ? KVS_EXISTS : (in->flags & F_XX) ? KVS_NOT_FOUND : KVS_OK);
        if (rc == KVS_OK && (in->flags & F_KEEP)) {
            /* which expiry was kept depends on the clock: ask */
            uint64_t e;
            int erc = kvs_get_expire(c->db, key, kl, &e);
            expect_rc("get_expire", erc, KVS_OK, KVS_NOT_FOUND);
            ack->aux = erc == KVS_OK ? 1 : 2;
            ack->expire = e;
        }
    } else if (r < 790) {
        in = child_push(c, R_INTENT, OP_REMOVE);
        in->key = k;
        child_flush(c);
        struct wrec *ack = child_ack(c, OP_REMOVE);
        ack->t0 = now_ms();
        rc = kvs_remove(c->db, key, kl);
        ack->t1 = now_ms();
        ack->rc = rc;
        expect_rc("remove", rc, KVS_OK, KVS_NOT_FOUND);
    } else if (r < 820) {
        in = child_push(c, R_INTENT, OP_EXPIRE);
        in->key = k;
        in->expire = below(st, 4) == 0 ? 0 : pick_expiry(st, false);
        child_flush(c);
        struct wrec *ack = child_ack(c, OP_EXPIRE);
        ack->t0 = now_ms();
        rc = kvs_expire(c->db, key, kl, in->expire);
        ack->t1 = now_ms();
        ack->rc = rc;
        expect_rc("expire", rc, KVS_OK, KVS_NOT_FOUND);
    } else if (r < 880) {
        in = child_push(c, R_INTENT, OP_UPDATE);
        in->key = k;
        in->len = VHDR + (uint32_t)below(st, 200);
        in->version = c->version++;
        in->flags = below(st, 10) == 0 ? U_KEEP : 0;
        in->counter = below(st, 3) == 0 ? 0 : 2 + (uint32_t)below(st, 6);
        in->aux = below(st, 5) == 0;
        if (in->aux)
            in->expire = pick_expiry(st, true);
        child_flush(c);
        struct wrec *ack = child_ack(c, OP_UPDATE);
        c->uin = in;
        c->uack = ack;
        ack->t0 = now_ms();
        rc = kvs_update(c->db, key, kl, update_cb, c);
        ack->t1 = now_ms();
        ack->rc = rc;
        expect_rc("update", rc, KVS_OK, KVS_OK);
    } else if (r < 940) {
        uint32_t n = 1 + (uint32_t)(below(st, 4) == 0 ? below(st, BATCH_MAX) : below(st, 8));
        in = child_push(c, R_INTENT, OP_BATCH);
        in->n = n;
        kvs_batch_clear(c->batch);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t ek = pick_key(c);
            char ekey[16];
            size_t ekl = make_key(ek, ekey);
            bool del = below(st, 4) == 0;
            struct wrec *e = child_push(c, R_ENTRY, del ? OP_REMOVE : OP_SET);
            e->key = ek;
            if (del) {
                rc = kvs_batch_remove(c->batch, ekey, ekl);
            } else {
                e->version = c->version++;
                e->len = pick_len(st);
                if (e->len > 16 * 1024)
                    e->len /= 8; /* keep batches moderate */
                e->expire = below(st, 5) == 0 ? pick_expiry(st, true) : 0;
                gen_value(ek, e->version, e->len, 0, c->val);
                rc = e->expire ? kvs_batch_set_expire(c->batch, ekey, ekl, c->val, e->len,
                                                      e->expire)
                               : kvs_batch_set(c->batch, ekey, ekl, c->val, e->len);
            }
            if (rc != KVS_OK)
                child_die("batch add", rc);
        }
        child_flush(c);
        struct wrec *ack = child_ack(c, OP_BATCH);
        ack->t0 = now_ms();
        rc = kvs_batch_apply(c->db, c->batch);
        ack->t1 = now_ms();
        ack->rc = rc;
        expect_rc("batch apply", rc, KVS_OK, KVS_OK);
    } else if (r < 990) {
        in = child_push(c, R_INTENT, OP_GET);
        in->key = k;
        child_flush(c);
        struct wrec *ack = child_ack(c, OP_GET);
        void *v;
        size_t vl;
        ack->t0 = now_ms();
        rc = kvs_get(c->db, key, kl, &v, &vl);
        ack->t1 = now_ms();
        ack->rc = rc;
        expect_rc("get", rc, KVS_OK, KVS_NOT_FOUND);
        if (rc == KVS_OK) {
            ack->len = (uint32_t)vl;
            ack->hash = hash_bytes(v, vl);
            value_header(v, vl, &ack->version, &ack->counter);
            kvs_free(v);
        }
    } else {
        uint8_t op = r < 994 ? OP_COMPACT : r < 998 ? OP_SYNC : OP_REOPEN;
        if (op == OP_REOPEN && c->threads > 1)
            op = OP_SYNC; /* a close needs the other thread out of the store */
        child_push(c, R_INTENT, op);
        child_flush(c);
        if (op == OP_COMPACT) {
            rc = kvs_compact(c->db);
        } else if (op == OP_SYNC) {
            rc = kvs_sync(c->db);
        } else {
            uint64_t n = 0;
            kvs_stat(c->db, KVS_STAT_COMPACTIONS, &n);
            c->compactions += (uint32_t)n;
            rc = kvs_close(c->db);
            c->db = NULL;
            if (rc == KVS_OK)
                child_open(c, c->dir);
        }
        if (rc != KVS_OK)
            child_die(op_names[op], rc);
        struct wrec *ack = child_ack(c, op);
        ack->rc = rc;
    }
}

static void *child_thread(void *arg)
{
    struct child *c = arg;
    for (uint32_t i = 0; i < CHILD_OP_CAP; i++)
        child_op(c);
    child_push(c, R_DONE, 0);
    child_flush(c);
    return NULL;
}

static void child_main(const char *dir, uint32_t nkeys, const struct conf *cf, int fd)
{
    static struct child cs[MAX_THREADS];
    struct child *c = &cs[0];
    for (unsigned t = 0; t < cf->threads; t++) {
        cs[t].fd = fd;
        cs[t].thread = t;
        cs[t].threads = cf->threads;
        cs[t].nkeys = nkeys;
        cs[t].dir = dir;
        cs[t].st = cf->child_seed + t * 0x5851F42D4C957F2Dull;
        cs[t].version = cf->vbase + ((uint64_t)t << 31);
        cs[t].val = malloc(LARGE_MAX);
        if (!cs[t].val || kvs_batch_create(&cs[t].batch) != KVS_OK)
            child_die("allocation", KVS_ENOMEM);
    }
    c->opts = kvs_options_create();
    if (!c->opts)
        child_die("allocation", KVS_ENOMEM);
    kvs_options_set_sync(c->opts, cf->sync);
    kvs_options_set_segment_size(c->opts, cf->seg);
    kvs_options_set_compaction_trigger(c->opts, cf->trigger);
    kvs_options_set_write_through(c->opts, cf->write_through);
    kvs_options_set_sync_interval_ms(c->opts, cf->interval_ms);
    child_open(c, dir);
    uint64_t loaded = 0;
    kvs_stat(c->db, KVS_STAT_INDEX_SNAPSHOT_LOADED, &loaded);
    child_push(c, R_OPENED, 0)->n = (uint32_t)loaded;
    child_flush(c);
    for (unsigned t = 1; t < cf->threads; t++) {
        cs[t].db = c->db; /* no reopen with more than one thread */
        pthread_t th;
        if (pthread_create(&th, NULL, child_thread, &cs[t]) != 0)
            child_die("pthread_create", KVS_ENOMEM);
    }
    child_thread(c);
    alarm(STALL_SECONDS); /* the parent kills it long before */
    for (int i = 0; i < STALL_SECONDS; i++)
        sleep(1);
    _exit(5);
}

/* ---- the parent: applying acknowledgements ---- */

static void ack_check(bool ok, uint32_t k, const char *what, const struct wrec *ack)
{
    if (ok)
        return;
    fprintf(stderr,
            "crashloop: acknowledgement of op #%u (%s) on key %u contradicts the model: %s "
            "(rc %s, call between %" PRIu64 " and %" PRIu64 " ms)\n",
            G.seq_now, op_names[ack->op < OP_COUNT_ ? ack->op : 0], k, what,
            kvs_status_name(ack->rc), ack->t0, ack->t1);
    print_state(stderr, "model", &G.km[k].cur);
    print_history(stderr, k);
    fail("cycle %u: in-process check of op #%u failed", G.cycle, G.seq_now);
}

static void set_state(uint32_t k, const struct wrec *in, int32_t rc, const struct vstate *s)
{
    G.km[k].cur = *s;
    add_hist(k, in, rc, 'A', s);
}

static void apply_ack(const struct wrec *in, const struct wrec *e, const struct wrec *ack)
{
    uint32_t k = in->key;
    struct keymodel *m = in->op <= OP_GET ? &G.km[k] : NULL;
    int vis = m ? visible(&m->cur, ack->t0, ack->t1) : 0;
    G.acked++;
    G.acked_op[in->op]++;
    switch (in->op) {
    case OP_SET: {
        if (in->flags & F_NX)
            ack_check(ack->rc == KVS_OK ? vis != 1 : vis != 0, k, "NX outcome", ack);
        if (in->flags & F_XX)
            ack_check(ack->rc == KVS_OK ? vis != 0 : vis != 1, k, "XX outcome", ack);
        if (ack->rc != KVS_OK)
            return;
        struct vstate s = {.present = 1, .len = in->len, .version = in->version,
                           .expire = in->expire};
        if (in->flags & F_KEEP) {
            if (ack->aux == 1) {
                bool ok = vis == 1   ? ack->expire == m->cur.expire
                          : vis == 0 ? ack->expire == 0
                                     : ack->expire == 0 || ack->expire == m->cur.expire;
                ack_check(ok, k, "kept expiry", ack);
                s.expire = ack->expire;
            } else {
                ack_check(vis != 0 && m->cur.expire != 0, k, "kept expiry (expired)", ack);
                s.expire = m->cur.expire;
            }
        }
        set_state(k, in, ack->rc, &s);
        return;
    }
    case OP_REMOVE:
        ack_check(ack->rc == KVS_OK ? vis != 0 : vis != 1, k, "remove outcome", ack);
        if (ack->rc == KVS_OK)
            set_state(k, in, ack->rc, &(struct vstate){0});
        return;
    case OP_EXPIRE:
        ack_check(ack->rc == KVS_OK ? vis != 0 : vis != 1, k, "expire outcome", ack);
        if (ack->rc == KVS_OK) {
            struct vstate s = m->cur;
            s.expire = in->expire;
            set_state(k, in, ack->rc, &s);
        }
        return;
    case OP_UPDATE: {
        bool found = ack->aux;
        ack_check(found ? vis != 0 : vis != 1, k, "update found", ack);
        if (found)
            ack_check(ack->len == m->cur.len && ack->counter == m->cur.counter &&
                          ack->expire == m->cur.expire && ack->hash == state_hash(k, &m->cur),
                      k, "update callback's old value", ack);
        struct vstate s;
        int action = update_result(&m->cur, found, in, &s);
        if (action != KVS_UPDATE_KEEP)
            set_state(k, in, ack->rc, &s);
        return;
    }
    case OP_BATCH:
        G.batch_entries += in->n;
        for (uint32_t i = 0; i < in->n; i++) {
            struct vstate s = {0};
            if (e[i].op == OP_SET)
                s = (struct vstate){.present = 1, .len = e[i].len, .version = e[i].version,
                                    .expire = e[i].expire};
            set_state(e[i].key, &e[i], ack->rc, &s);
        }
        return;
    case OP_GET:
        if (ack->rc == KVS_NOT_FOUND) {
            ack_check(vis != 1, k, "get found nothing", ack);
        } else {
            ack_check(vis != 0, k, "get found a value", ack);
            ack_check(ack->len == m->cur.len && ack->hash == state_hash(k, &m->cur), k,
                      "get returned another value", ack);
        }
        return;
    default:
        return;
    }
}

static void add_new(unsigned t, uint32_t k, const struct vstate *s)
{
    struct keymodel *m = &G.km[k];
    m->in_flight = (uint8_t)(t + 1);
    if (m->nnew < NEW_MAX)
        m->nw[m->nnew++] = *s;
    add_hist(k, &G.pend[t], 0, 'F', s);
}

/* The states thread t's in-flight op may have left its keys in (besides the
 * acknowledged one). */
static void model_in_flight(unsigned t)
{
    const struct wrec *in = &G.pend[t];
    uint32_t k = in->key;
    struct vstate *cur = in->op <= OP_GET ? &G.km[k].cur : NULL;
    G.inflight_kills++;
    switch (in->op) {
    case OP_SET: {
        struct vstate s = {.present = 1, .len = in->len, .version = in->version,
                           .expire = in->expire};
        if ((in->flags & F_KEEP) && cur->present && cur->expire) {
            s.expire = cur->expire;
            add_new(t, k, &s);
            s.expire = 0;
        }
        add_new(t, k, &s);
        return;
    }
    case OP_REMOVE:
        add_new(t, k, &(struct vstate){0});
        return;
    case OP_EXPIRE:
        if (cur->present) {
            struct vstate s = *cur;
            s.expire = in->expire;
            add_new(t, k, &s);
        }
        return;
    case OP_UPDATE: {
        struct vstate s;
        if (cur->present) {
            update_result(cur, true, in, &s);
            add_new(t, k, &s);
        }
        if (!cur->present || cur->expire) {
            update_result(cur, false, in, &s);
            add_new(t, k, &s);
        }
        return;
    }
    case OP_BATCH: {
        G.inflight_batches++;
        /* the final state of each key: later entries win */
        for (uint32_t i = 0; i < G.pend_n[t]; i++) {
            const struct wrec *e = &G.pend_e[t][i];
            struct vstate s = {0};
            if (e->op == OP_SET)
                s = (struct vstate){.present = 1, .len = e->len, .version = e->version,
                                    .expire = e->expire};
            struct keymodel *m = &G.km[e->key];
            if (m->in_flight) {
                m->nw[0] = s;
                add_hist(e->key, e, 0, 'F', &s);
            } else {
                add_new(t, e->key, &s);
            }
        }
        return;
    }
    default:
        G.inflight_kills--;
        return;
    }
}

/* ---- the parent: running a child ---- */

static void consume(const struct wrec *r)
{
    unsigned t = RTHREAD(r);
    if (t >= G.cf.threads)
        fail("cycle %u: record of thread %u from the child", G.cycle, t);
    switch (RTYPE(r)) {
    case R_OPENED:
        G.opened = true;
        G.opened_us = mono_us();
        G.index_loads += r->n;
        return;
    case R_INTENT:
        if (G.pend_valid[t])
            fail("cycle %u: intent of op #%u without an ack of the one before", G.cycle, G.seq);
        G.pend[t] = *r;
        G.pend_n[t] = 0;
        G.pend_valid[t] = true;
        G.pend_seq[t] = G.seq++;
        return;
    case R_ENTRY:
        if (!G.pend_valid[t] || G.pend[t].op != OP_BATCH || G.pend_n[t] >= G.pend[t].n)
            fail("cycle %u: stray batch entry", G.cycle);
        G.pend_e[t][G.pend_n[t]++] = *r;
        return;
    case R_ACK:
        if (!G.pend_valid[t] || r->op != G.pend[t].op || G.pend_n[t] != G.pend[t].n)
            fail("cycle %u: ack without its intent", G.cycle);
        if (r->n > G.cycle_compactions)
            G.cycle_compactions = r->n;
        G.seq_now = G.pend_seq[t];
        apply_ack(&G.pend[t], G.pend_e[t], r);
        G.pend_valid[t] = false;
        return;
    case R_DONE:
        return;
    default:
        fail("cycle %u: unknown record type %u from the child", G.cycle, r->type);
    }
}

/* Run one child until the kill; leaves the model with the acknowledged
 * operations applied and the in-flight one in pend. */
static void run_child(void)
{
    int p[2];
    if (pipe(p) != 0)
        fail("pipe: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        fail("fork: %s", strerror(errno));
    if (pid == 0) {
        close(p[0]);
        child_main(G.dir, G.nkeys, &G.cf, p[1]);
    }
    close(p[1]);
    G.child = pid;
    uint64_t t_start = mono_us(), last_data = t_start, acks = 0;
    G.opened = false;
    G.cycle_compactions = 0;
    memset(G.pend_valid, 0, sizeof(G.pend_valid));
    G.seq = 0;
    bool killed = false, done = false;
    static uint8_t buf[1 << 16];
    size_t fill = 0;
    for (;;) {
        uint64_t now = mono_us();
        bool due = done;
        uint64_t kill_at = 0; /* when a timed kill is due, if known */
        if (G.cf.kill_early)
            kill_at = t_start + G.cf.kill_us;
        else if (G.opened)
            kill_at = G.opened_us + G.cf.kill_us;
        if (kill_at && now >= kill_at)
            due = true;
        if (G.opened && !G.cf.kill_early && G.cf.kill_acks && acks >= G.cf.kill_acks)
            due = true;
        if (!killed && due) {
            kill(pid, SIGKILL);
            killed = true;
            G.us_open += (G.opened ? G.opened_us : now) - t_start;
            G.us_run += G.opened ? now - G.opened_us : 0;
        }
        if (now - last_data > (uint64_t)STALL_SECONDS * 1000000u) {
            fail("cycle %u: the child sent nothing for %d s (hung?)", G.cycle, STALL_SECONDS);
        }
        int timeout = 100;
        if (!killed && kill_at) {
            uint64_t left = kill_at > now ? kill_at - now : 0;
            timeout = (int)(left / 1000u) + 1;
            if (timeout > 100)
                timeout = 100;
        }
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        int pr = poll(&pfd, 1, timeout);
        if (pr < 0 && errno != EINTR)
            fail("poll: %s", strerror(errno));
        if (pr <= 0)
            continue;
        ssize_t n = read(p[0], buf + fill, sizeof(buf) - fill);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fail("read from the child: %s", strerror(errno));
        if (n == 0)
            break; /* the child is gone */
        last_data = mono_us();
        fill += (size_t)n;
        size_t off = 0;
        for (; fill - off >= sizeof(struct wrec); off += sizeof(struct wrec)) {
            struct wrec r;
            memcpy(&r, buf + off, sizeof(r));
            if (RTYPE(&r) == R_ACK)
                acks++;
            if (RTYPE(&r) == R_DONE)
                done = true;
            consume(&r);
        }
        memmove(buf, buf + off, fill - off);
        fill -= off;
    }
    close(p[0]);
    int status;
    if (waitpid(pid, &status, 0) != pid)
        fail("waitpid: %s", strerror(errno));
    G.child = 0;
    if (!killed || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
        if (WIFEXITED(status))
            fail("cycle %u: the child stopped by itself (exit status %d) after %" PRIu64
                 " acks: see its message above",
                 G.cycle, WEXITSTATUS(status), acks);
        fail("cycle %u: the child died of signal %d after %" PRIu64 " acks", G.cycle,
             WIFSIGNALED(status) ? WTERMSIG(status) : -1, acks);
    }
    G.kills[G.cf.sync]++;
    G.kills_threaded += G.cf.threads > 1;
    G.kills_big += G.nkeys == MAX_KEYS;
    G.compactions += G.cycle_compactions;
    if (!G.opened)
        G.before_open++;
    /* an intent with only part of its batch entries was never acted on */
    for (unsigned t = 0; t < G.cf.threads; t++)
        if (G.pend_valid[t] && G.pend_n[t] == G.pend[t].n) {
            G.seq_now = G.pend_seq[t];
            model_in_flight(t);
        }
}

/* ---- the parent: checking the store ---- */

static void copy_dir(const char *from, const char *to)
{
    mkdir(to, 0755);
    DIR *d = opendir(to);
    struct dirent *de;
    char p[8192], q[8192];
    if (d) {
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            snprintf(p, sizeof(p), "%s/%s", to, de->d_name);
            unlink(p);
        }
        closedir(d);
    }
    d = opendir(from);
    if (!d)
        return;
    static uint8_t buf[1 << 16];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", from, de->d_name);
        snprintf(q, sizeof(q), "%s/%s", to, de->d_name);
        int in = open(p, O_RDONLY), out = open(q, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ssize_t n;
        while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
            if (write(out, buf, (size_t)n) != n)
                break;
        if (in >= 0)
            close(in);
        if (out >= 0)
            close(out);
    }
    closedir(d);
}

struct verify_ctx {
    int problems;
};

static void verify_cb(void *ctx, const char *file, uint64_t offset, const char *problem)
{
    struct verify_ctx *v = ctx;
    if (v->problems++ < 10)
        fprintf(stderr, "crashloop: kvs_verify: %s at %" PRIu64 ": %s\n", file, offset, problem);
}

/* One open of the store and every check; mask[k] is narrowed to the
 * candidates every observation so far agrees with. */
static void check_open(bool read_only, bool use_hints, unsigned *mask, struct vstate *seen)
{
    const char *how = read_only ? "read-only open" : "open";
    kvs_options_t *o = kvs_options_create();
    kvs_options_set_sync(o, (kvs_sync_t)(G.cycle % 3));
    kvs_options_set_segment_size(o, G.cf.seg);
    kvs_options_set_compaction_trigger(o, G.cf.trigger);
    kvs_options_set_read_only(o, read_only);
    kvs_options_set_use_hints(o, use_hints);
    kvs_options_set_create_if_missing(o, 0);
    kvs_t *db = NULL;
    int rc = kvs_open(G.dir, o, &db);
    kvs_options_destroy(o);
    if (rc == KVS_ENOENT && !G.opened) {
        /* killed before the first open made the store: nothing to check */
        for (uint32_t k = 0; k < G.nkeys; k++)
            if (G.km[k].cur.present)
                fail("cycle %u: no store, but key %u was acknowledged", G.cycle, k);
        return;
    }
    if (rc != KVS_OK)
        fail("cycle %u: %s after kill -9: %s", G.cycle, how, kvs_status_name(rc));

    /* an iterator over everything, in key order */
    static uint8_t *seen_it;
    if (!seen_it)
        seen_it = malloc(MAX_KEYS);
    memset(seen_it, 0, MAX_KEYS);
    kvs_iter_t *it;
    struct obs io = {.t0 = now_ms()};
    uint64_t loaded = 0;
    kvs_stat(db, KVS_STAT_INDEX_SNAPSHOT_LOADED, &loaded);
    G.index_loads += loaded;
    rc = kvs_iter_create(db, NULL, &it);
    io.t1 = now_ms();
    if (rc != KVS_OK)
        fail("cycle %u: kvs_iter_create: %s", G.cycle, kvs_status_name(rc));
    long prev = -1;
    uint32_t walked = 0;
    for (rc = kvs_iter_first(it); rc == KVS_OK; rc = kvs_iter_next(it)) {
        const void *kp, *vp;
        size_t kl, vl;
        int krc = kvs_iter_key(it, &kp, &kl), vrc = kvs_iter_value(it, &vp, &vl);
        if (krc != KVS_OK || vrc != KVS_OK)
            fail("cycle %u: iterator key/value: %s/%s", G.cycle, kvs_status_name(krc),
                 kvs_status_name(vrc));
        long k = parse_key(kp, kl, G.nkeys);
        if (k < 0)
            fail("cycle %u: %s: the iterator found a key that was never written (%zu bytes, "
                 "\"%.*s\")",
                 G.cycle, how, kl, (int)(kl < 40 ? kl : 40), (const char *)kp);
        if (k <= prev)
            fail("cycle %u: iterator out of order: key %ld after %ld", G.cycle, k, prev);
        if (++walked > G.nkeys)
            fail("cycle %u: iterator yields more keys than exist", G.cycle);
        prev = k;
        seen_it[k] = 1;
        io.present = true;
        io.val = vp;
        io.len = vl;
        io.expire_known = false;
        unsigned mm = match_mask((uint32_t)k, &io);
        if (!(mask[k] & mm))
            mismatch((uint32_t)k, "iterator", &io);
        mask[k] &= mm;
    }
    if (rc != KVS_NOT_FOUND)
        fail("cycle %u: iterator stopped with %s", G.cycle, kvs_status_name(rc));
    kvs_iter_destroy(it);
    io.present = false;
    for (uint32_t k = 0; k < G.nkeys; k++) {
        if (seen_it[k])
            continue;
        unsigned mm = match_mask(k, &io);
        if (!(mask[k] & mm))
            mismatch(k, "iterator (absent)", &io);
        mask[k] &= mm;
    }

    /* every key by kvs_get and kvs_get_expire */
    for (uint32_t k = 0; k < G.nkeys; k++) {
        char key[16];
        size_t kl = make_key(k, key);
        void *v = NULL;
        size_t vl = 0;
        struct obs go = {.t0 = now_ms()};
        rc = kvs_get(db, key, kl, &v, &vl);
        uint64_t e = 0;
        int erc = rc == KVS_OK ? kvs_get_expire(db, key, kl, &e) : KVS_NOT_FOUND;
        go.t1 = now_ms();
        if (rc != KVS_OK && rc != KVS_NOT_FOUND)
            fail("cycle %u: %s: kvs_get of key %u: %s", G.cycle, how, k, kvs_status_name(rc));
        if (erc != KVS_OK && erc != KVS_NOT_FOUND)
            fail("cycle %u: kvs_get_expire of key %u: %s", G.cycle, k, kvs_status_name(erc));
        go.present = rc == KVS_OK;
        go.val = v;
        go.len = vl;
        go.expire_known = erc == KVS_OK;
        go.expire = e;
        unsigned mm = match_mask(k, &go);
        if (!(mask[k] & mm))
            mismatch(k, read_only ? "kvs_get, read-only" : "kvs_get", &go);
        mask[k] &= mm;
        /* what the store holds, for the next cycle's model (every open of
         * the check agrees on it, or mask would be empty) */
        seen[k] = (struct vstate){0};
        if (go.present) {
            const struct keymodel *m = &G.km[k];
            unsigned bit = mask[k] & (0u - mask[k]);
            seen[k] = bit == 1 ? m->cur : m->nw[__builtin_ctz(bit) - 1];
        }
        kvs_free(v);
    }

    struct verify_ctx vc = {0};
    rc = kvs_verify(db, verify_cb, &vc);
    if (rc != KVS_OK)
        fail("cycle %u: %s: kvs_verify: %s (%d problems)", G.cycle, how, kvs_status_name(rc),
             vc.problems);
    rc = kvs_close(db);
    if (rc != KVS_OK)
        fail("cycle %u: kvs_close after the check: %s", G.cycle, kvs_status_name(rc));
}

static void check_store(uint64_t *st)
{
    static unsigned mask[MAX_KEYS];
    static struct vstate seen[MAX_KEYS];
    for (uint32_t k = 0; k < G.nkeys; k++) {
        mask[k] = (1u << (1 + G.km[k].nnew)) - 1;
        seen[k] = G.km[k].cur;
    }
    if (G.copy_crash)
        copy_dir(G.dir, G.crash);
    /* Usually a normal open, which recovers the store. Sometimes a read-only
     * open first, which must see the same; sometimes a second normal open
     * (the recovered store must recover to the same state again). And
     * sometimes only a read-only open, which changes nothing: the next
     * child then opens the store as the kill left it, and is itself killed
     * while it recovers it now and then. */
    bool hints = below(st, 5) != 0;
    uint64_t how = below(st, 10);
    G.recovered = how >= 3;
    if (how <= 3)
        check_open(true, hints, mask, seen);
    if (how >= 3)
        check_open(false, hints, mask, seen);
    if (how == 4)
        check_open(false, !hints, mask, seen);

    /* each in-flight op: all of it or none of it */
    for (unsigned t = 0; t < G.cf.threads; t++) {
        bool all_old = true, all_new = true;
        uint32_t touched = 0;
        for (uint32_t k = 0; k < G.nkeys; k++) {
            if (G.km[k].in_flight != t + 1)
                continue;
            touched++;
            all_old &= (mask[k] & 1u) != 0;
            all_new &= (mask[k] & ~1u) != 0;
        }
        if (touched && !all_old && !all_new) {
            fprintf(stderr, "crashloop: the operation in flight at the kill (%s) left part of "
                            "its keys:\n",
                    op_names[G.pend[t].op]);
            for (uint32_t k = 0; k < G.nkeys; k++)
                if (G.km[k].in_flight == t + 1)
                    fprintf(stderr, "  key %u: %s\n", k,
                            (mask[k] & 1u) && (mask[k] & ~1u) ? "either"
                            : (mask[k] & 1u)                   ? "old"
                                                               : "new");
            fail("cycle %u: the in-flight %s was applied in part", G.cycle,
                 op_names[G.pend[t].op]);
        }
        if (touched && all_new && !all_old)
            G.new_seen++;
        if (touched && all_old && !all_new)
            G.old_seen++;
    }

    /* the model follows what the store holds */
    for (uint32_t k = 0; k < G.nkeys; k++) {
        struct keymodel *m = &G.km[k];
        m->cur = seen[k];
        m->nnew = 0;
        m->in_flight = 0;
    }
}

/* ---- the loop ---- */

static void rm_store(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char p[8192];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* A big store: BIG_KEYS of the MAX_KEYS keys written in batches, then a
 * close that saves the INDEX file, which the next open loads (and the one
 * after must not, once the store changed). */
static void fill_big_store(uint64_t *st)
{
    kvs_options_t *o = kvs_options_create();
    kvs_options_set_segment_size(o, 64 * 1024);
    kvs_options_set_sync(o, KVS_SYNC_NONE);
    kvs_t *db = NULL;
    kvs_batch_t *b = NULL;
    int rc = kvs_open(G.dir, o, &db);
    kvs_options_destroy(o);
    if (rc != KVS_OK || kvs_batch_create(&b) != KVS_OK)
        fail("creating a big store: %s", kvs_status_name(rc));
    uint64_t version = (1ull << 63) | ((uint64_t)G.fresh << 32);
    for (uint32_t k = 0; k < MAX_KEYS; k++) {
        if (below(st, MAX_KEYS) >= BIG_KEYS)
            continue;
        struct vstate v = {.present = 1, .len = 8 + (uint32_t)below(st, 40),
                           .version = version++};
        char key[16];
        size_t kl = make_key(k, key);
        gen_value(k, v.version, v.len, 0, G.vbuf);
        if (kvs_batch_set(b, key, kl, G.vbuf, v.len) != KVS_OK)
            fail("kvs_batch_set");
        G.km[k].cur = v;
        if (kvs_batch_count(b) == 1000) {
            if ((rc = kvs_batch_apply(db, b)) != KVS_OK)
                fail("filling a big store: %s", kvs_status_name(rc));
            kvs_batch_clear(b);
        }
    }
    if ((rc = kvs_batch_apply(db, b)) != KVS_OK)
        fail("filling a big store: %s", kvs_status_name(rc));
    kvs_batch_destroy(b);
    if ((rc = kvs_close(db)) != KVS_OK)
        fail("closing the big store: %s", kvs_status_name(rc));
}

static void fresh_store(uint64_t *st)
{
    rm_store(G.dir);
    static const uint32_t sizes[] = {64, 200, 500, 1000, 2000, MAX_KEYS};
    G.nkeys = sizes[below(st, sizeof(sizes) / sizeof(sizes[0]))];
    if (G.keys_opt)
        G.nkeys = G.keys_opt;
    memset(G.km, 0, sizeof(*G.km) * MAX_KEYS);
    G.fresh++;
    if (G.nkeys == MAX_KEYS) {
        G.big++;
        fill_big_store(st);
    }
}

static void pick_conf(uint64_t *st)
{
    struct conf *c = &G.cf;
    c->sync = (kvs_sync_t)below(st, 3);
    c->threads = below(st, 3) == 0 ? 2 : 1;
    c->seg = (size_t)logrnd(st, 4096, 64 * 1024);
    c->trigger = 5 + (unsigned)below(st, 16);
    uint64_t w = below(st, 20);
    c->write_through = w < 12 ? -1 : w < 17 ? 1 : 0;
    c->interval_ms = (unsigned)logrnd(st, 2, 500);
    /* Early, maybe while the child opens the store: more often when that
     * open is the one that recovers it from the last kill. */
    uint64_t how = below(st, 20);
    c->kill_early = how < (G.recovered ? 2 : 6);
    c->kill_acks = 0;
    if (c->kill_early) {
        c->kill_us = below(st, 30000);
    } else if (how < 12) {
        c->kill_acks = logrnd(st, 1, c->sync == KVS_SYNC_ALWAYS ? 400 : 4000);
        c->kill_us = MAX_KILL_DELAY_US;
    } else {
        c->kill_us = logrnd(st, 100, MAX_KILL_DELAY_US);
    }
    c->child_seed = rnd(st);
    c->vbase = ((uint64_t)G.cycle + 1) << 32;
}

static void usage(void)
{
    fprintf(stderr, "usage: crashloop [--cycles N] [--seconds S] [--seed N] [--dir PATH] "
                    "[--keys N] [--no-copy] [--verbose]\n"
                    "  stops after N cycles or S seconds, whichever comes first (0: no limit;\n"
                    "  default 200 cycles); KVS_TEST_SEED=N is --seed N; --keys N: every store\n"
                    "  has N keys (2 to %d; %d: a big store, which saves its INDEX file)\n",
            MAX_KEYS, MAX_KEYS);
    exit(2);
}

static void summary(FILE *f)
{
    double secs = (double)(mono_us() - G.start_us) / 1e6;
    fprintf(f, "crashloop: %u cycles in %.1f s, %" PRIu64 " operations acknowledged (sets %" PRIu64
               ", removes %" PRIu64 ", expires %" PRIu64 ", updates %" PRIu64 ", batches %" PRIu64
               " of %" PRIu64 " entries, gets %" PRIu64 ", compactions %" PRIu64 ", syncs %" PRIu64
               ", reopens %" PRIu64 "); ",
            G.cycle, secs, G.acked, G.acked_op[OP_SET], G.acked_op[OP_REMOVE],
            G.acked_op[OP_EXPIRE], G.acked_op[OP_UPDATE], G.acked_op[OP_BATCH], G.batch_entries,
            G.acked_op[OP_GET], G.acked_op[OP_COMPACT], G.acked_op[OP_SYNC],
            G.acked_op[OP_REOPEN]);
    fprintf(f, "compactions finished by the children %" PRIu64 "; kills: none %" PRIu64
               ", interval %" PRIu64 ", always %" PRIu64 " (with two writer threads %" PRIu64
               ", of big stores %" PRIu64 "); ",
            G.compactions, G.kills[0], G.kills[1], G.kills[2], G.kills_threaded, G.kills_big);
    fprintf(f, "op in flight %" PRIu64 " (batches %" PRIu64 "; found done %" PRIu64
               ", not done %" PRIu64 "), before open finished %" PRIu64 "; fresh stores %" PRIu64
               " (big %" PRIu64 "), opens from a saved INDEX %" PRIu64 "; ",
            G.inflight_kills, G.inflight_batches, G.new_seen, G.old_seen, G.before_open, G.fresh,
            G.big, G.index_loads);
    fprintf(f, "time in child opens %.1f s, child runs %.1f s, checks %.1f s; seed %" PRIu64 "\n",
            (double)G.us_open / 1e6, (double)G.us_run / 1e6, (double)G.us_check / 1e6, G.seed);
}

int main(int argc, char **argv)
{
    G.cycles_max = 0;
    G.seconds_max = 0;
    G.copy_crash = true;
    bool limits = false;
    const char *env = getenv("KVS_TEST_SEED");
    G.seed = env ? strtoull(env, NULL, 0) : 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--cycles") == 0 && v) {
            G.cycles_max = strtoull(v, NULL, 0);
            limits = true;
            i++;
        } else if (strcmp(a, "--seconds") == 0 && v) {
            G.seconds_max = strtoull(v, NULL, 0);
            limits = true;
            i++;
        } else if (strcmp(a, "--seed") == 0 && v) {
            G.seed = strtoull(v, NULL, 0);
            i++;
        } else if (strcmp(a, "--dir") == 0 && v) {
            G.base = v;
            i++;
        } else if (strcmp(a, "--keys") == 0 && v) {
            unsigned long n = strtoul(v, NULL, 0);
            if (n < 2 || n > MAX_KEYS)
                usage();
            G.keys_opt = (uint32_t)n;
            i++;
        } else if (strcmp(a, "--no-copy") == 0) {
            G.copy_crash = false;
        } else if (strcmp(a, "--verbose") == 0) {
            G.verbose = true;
        } else {
            usage();
        }
    }
    if (!limits)
        G.cycles_max = 200;
    if (!G.seed)
        G.seed = ((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32)) | 1;
    printf("crashloop: seed %" PRIu64 " (replay: KVS_TEST_SEED=%" PRIu64 ")\n", G.seed, G.seed);
    fflush(stdout);

    /* children are killed on purpose: no core files */
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    signal(SIGPIPE, SIG_IGN);

    if (!G.base) {
        const char *t = getenv("TMPDIR");
        G.base = t && *t ? t : "/tmp";
    }
    snprintf(G.work, sizeof(G.work), "%s/kvs-crashloop-XXXXXX", G.base);
    if (!mkdtemp(G.work))
        fail("mkdtemp %s: %s", G.work, strerror(errno));
    snprintf(G.dir, sizeof(G.dir), "%s/store", G.work);
    /* The copy of each killed store goes to memory when there is a tmpfs
     * (copying on the store's own file system costs as much as the rest of
     * the cycle). */
    snprintf(G.crash, sizeof(G.crash), "%s/store-as-killed", G.work);
    struct stat sb;
    if (G.copy_crash && stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode)) {
        snprintf(G.shm, sizeof(G.shm), "/dev/shm/kvs-crashloop-XXXXXX");
        if (mkdtemp(G.shm))
            snprintf(G.crash, sizeof(G.crash), "%s/store-as-killed", G.shm);
        else
            G.shm[0] = '\0';
    }
    G.km = calloc(MAX_KEYS, sizeof(*G.km));
    G.vbuf = malloc(LARGE_MAX);
    if (!G.km || !G.vbuf)
        fail("out of memory");

    uint64_t st = G.seed;
    G.start_us = mono_us();
    uint64_t last_report = G.start_us;
    for (G.cycle = 0;; G.cycle++) {
        uint64_t now = mono_us();
        if (G.cycles_max && G.cycle >= G.cycles_max)
            break;
        if (G.seconds_max && now - G.start_us >= G.seconds_max * 1000000u)
            break;
        /* A big store's cycles take several times longer (its checks
         * read 55,000 keys): it is replaced sooner, so that it gets about a
         * fifth of a long run's time, not most of it. */
        if (G.cycle == 0 || below(&st, G.nkeys == MAX_KEYS ? 25 : 150) == 0)
            fresh_store(&st);
        pick_conf(&st);
        if (G.verbose)
            print_conf(stdout);
        uint64_t acked = G.acked, t0 = mono_us();
        run_child();
        uint64_t t1 = mono_us();
        if (G.verbose) {
            printf("    %" PRIu64 " acks, %s, child %.1f ms; in flight:", G.acked - acked,
                   G.opened ? "opened" : "killed before the open finished",
                   (double)(t1 - t0) / 1e3);
            for (unsigned t = 0; t < G.cf.threads; t++)
                printf(" %s", G.pend_valid[t] ? op_names[G.pend[t].op] : "nothing");
            printf("\n");
            fflush(stdout);
        }
        check_store(&st);
        uint64_t t2 = mono_us();
        G.us_check += t2 - t1;
        if (G.verbose)
            printf("    check %.1f ms\n", (double)(t2 - t1) / 1e3);
        if (now - last_report >= 60u * 1000000u) {
            last_report = now;
            summary(stdout);
            fflush(stdout);
        }
    }
    summary(stdout);
    rm_store(G.dir);
    rm_store(G.crash);
    rmdir(G.work);
    if (G.shm[0])
        rmdir(G.shm);
    free(G.km);
    free(G.vbuf);
    return 0;
}
