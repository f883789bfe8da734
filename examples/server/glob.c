/* Glob patterns with Redis's semantics; see glob.h. */
#include "glob.h"

#include <stdlib.h>
#include <string.h>

enum glob_kind { GLOB_BYTE, GLOB_ANY, GLOB_SET, GLOB_STAR };

/* Grow an array to hold one more element of size sz. Returns 0 or -1. */
static int grow(void **arr, size_t *cap, size_t used, size_t sz)
{
    if (used < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, ncap * sz);
    if (!p)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

static int push(struct glob *g, enum glob_kind kind, uint8_t byte, uint32_t set)
{
    if (grow((void **)&g->tok, &g->tok_cap, g->ntok, sizeof(*g->tok)) != 0)
        return -1;
    g->tok[g->ntok++] = (struct glob_tok){.kind = (uint8_t)kind, .byte = byte, .set = set};
    return 0;
}

/* Add the bytes lo..hi (either order) to a set. */
static void set_add(uint8_t *set, uint8_t lo, uint8_t hi)
{
    if (lo > hi) {
        uint8_t t = lo;
        lo = hi;
        hi = t;
    }
    for (unsigned c = lo; c <= hi; c++)
        set[c >> 3] |= (uint8_t)(1u << (c & 7));
}

/*
 * Read a bracket expression whose '[' is at p[i - 1] into set; returns the
 * index just past it. Inside: "\x" is x; ']' closes; "a-z" is a range when a
 * byte follows the '-' (even a ']': as in Redis, "[a-]" is the range ']'..'a'
 * and leaves the set open); the end of the pattern closes an open set.
 */
static size_t parse_set(const uint8_t *p, size_t len, size_t i, uint8_t *set)
{
    bool negate = i < len && p[i] == '^';
    i += negate;
    while (i < len) {
        if (p[i] == '\\' && i + 1 < len) {
            set_add(set, p[i + 1], p[i + 1]);
            i += 2;
        } else if (p[i] == ']') {
            i++;
            break;
        } else if (i + 2 < len && p[i + 1] == '-') {
            set_add(set, p[i], p[i + 2]);
            i += 3;
        } else {
            set_add(set, p[i], p[i]);
            i++;
        }
    }
    if (negate)
        for (int k = 0; k < 32; k++)
            set[k] = (uint8_t)~set[k];
    return i;
}

/* Compile the bracket expression after p[i - 1] == '['; returns the next index, or 0 on ENOMEM. */
static size_t compile_set(struct glob *g, const uint8_t *p, size_t len, size_t i)
{
    if (grow((void **)&g->sets, &g->sets_cap, g->nsets, sizeof(*g->sets)) != 0)
        return 0;
    uint8_t *set = g->sets[g->nsets];
    memset(set, 0, 32);
    size_t next = parse_set(p, len, i, set);
    if (push(g, GLOB_SET, 0, (uint32_t)g->nsets) != 0)
        return 0;
    g->nsets++;
    return next;
}

/* Compile the token at p[i] (not a '*'); returns the next index, or 0 on ENOMEM. */
static size_t compile_one(struct glob *g, const uint8_t *p, size_t len, size_t i)
{
    switch (p[i]) {
    case '?':
        return push(g, GLOB_ANY, 0, 0) == 0 ? i + 1 : 0;
    case '[':
        return compile_set(g, p, len, i + 1);
    case '\\':
        if (i + 1 < len)
            return push(g, GLOB_BYTE, p[i + 1], 0) == 0 ? i + 2 : 0;
        /* a lone '\' at the end is itself */
        return push(g, GLOB_BYTE, p[i], 0) == 0 ? i + 1 : 0;
    default:
        return push(g, GLOB_BYTE, p[i], 0) == 0 ? i + 1 : 0;
    }
}

static int compile_prefix(struct glob *g)
{
    size_t n = 0;
    while (n < g->ntok && g->tok[n].kind == GLOB_BYTE)
        n++;
    if (n == 0)
        return 0;
    g->prefix = malloc(n);
    if (!g->prefix)
        return -1;
    for (size_t i = 0; i < n; i++)
        g->prefix[i] = g->tok[i].byte;
    g->prefix_len = n;
    return 0;
}

int glob_compile(struct glob *g, const void *pattern, size_t len, size_t max_len)
{
    const uint8_t *p = pattern;
    memset(g, 0, sizeof(*g));
    g->max_len = max_len;
    for (size_t i = 0; i < len;) {
        if (p[i] == '*') {
            if (!g->has_star || g->tok[g->ntok - 1].kind != GLOB_STAR)
                if (push(g, GLOB_STAR, 0, 0) != 0)
                    goto nomem;
            g->has_star = true;
            i++;
            continue;
        }
        if (g->min_len == max_len) { /* one byte more than any subject has */
            g->never = true;
            return 0;
        }
        i = compile_one(g, p, len, i);
        if (i == 0)
            goto nomem;
        g->min_len++;
    }
    if (compile_prefix(g) == 0)
        return 0;
nomem:
    glob_free(g);
    return -1;
}

void glob_free(struct glob *g)
{
    free(g->tok);
    free(g->sets);
    free(g->prefix);
    memset(g, 0, sizeof(*g));
}

bool glob_matches_all(const struct glob *g)
{
    return !g->never && g->ntok == 1 && g->tok[0].kind == GLOB_STAR;
}

static bool tok_matches(const struct glob *g, const struct glob_tok *t, uint8_t c)
{
    switch (t->kind) {
    case GLOB_BYTE:
        return c == t->byte;
    case GLOB_ANY:
        return true;
    case GLOB_SET:
        return (g->sets[t->set][c >> 3] >> (c & 7)) & 1u;
    default:
        return false;
    }
}

bool glob_match(const struct glob *g, const void *subject, size_t n)
{
    const uint8_t *s = subject;
    if (g->never || n > g->max_len || n < g->min_len || (!g->has_star && n != g->min_len))
        return false;
    /* p, i: positions in the pattern and the subject. star: the last '*'
     * passed, and from: where in the subject its current run ends. */
    size_t p = 0, i = 0, star = SIZE_MAX, from = 0;
    while (i < n) {
        if (p < g->ntok && g->tok[p].kind == GLOB_STAR) {
            star = p++;
            from = i;
        } else if (p < g->ntok && tok_matches(g, &g->tok[p], s[i])) {
            p++;
            i++;
        } else if (star != SIZE_MAX) {
            p = star + 1; /* let that '*' take one byte more, and retry */
            i = ++from;
        } else {
            return false;
        }
    }
    while (p < g->ntok && g->tok[p].kind == GLOB_STAR)
        p++;
    return p == g->ntok;
}
