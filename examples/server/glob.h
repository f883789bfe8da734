/*
 * Glob patterns with Redis's semantics, for KEYS and SCAN ... MATCH.
 *
 *   *        any run of bytes, also none
 *   ?        any one byte
 *   [abc]    one byte of the set; [^abc] one byte not in it; [a-z] a range
 *            (ends given in either order); \x inside the brackets is x itself;
 *            a missing ] ends the set at the end of the pattern; [] matches
 *            nothing and [^] any byte
 *   \x       the byte x itself; a \ at the very end is a \
 *   other    itself; matching is bytewise and case-sensitive
 *
 * A pattern is compiled once (glob_compile) and then matched against many
 * subjects. Matching never recurses: it walks the pattern and the subject
 * together and, on a mismatch, goes back only to the last '*' seen, so it
 * takes at most (pattern tokens) x (subject bytes) steps, never more.
 *
 * Memory is bounded whatever the pattern's size: the caller says how long
 * subjects can be (max_len; keys are at most KVS_KEY_MAX bytes), and a
 * pattern that needs more bytes than that can match nothing, so compiling
 * stops there. Runs of '*' are kept as one.
 */
#ifndef KVS_SERVER_GLOB_H
#define KVS_SERVER_GLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct glob_tok {
    uint8_t kind; /* enum glob_kind (glob.c) */
    uint8_t byte; /* the literal byte */
    uint32_t set; /* index into sets[] for a [...] */
};

struct glob {
    struct glob_tok *tok;
    size_t ntok, tok_cap;
    uint8_t (*sets)[32]; /* one bit per byte value */
    size_t nsets, sets_cap;
    size_t min_len;      /* bytes any match has at least */
    size_t max_len;      /* longest subject considered */
    bool has_star;
    bool never;          /* min_len > max_len: matches nothing */
    size_t prefix_len;   /* leading literal tokens: every match starts with them */
    uint8_t *prefix;
};

/* Compile pat[0 .. len). Returns 0, or -1 when out of memory (g is then empty). */
int glob_compile(struct glob *g, const void *pat, size_t len, size_t max_len);

/* Release what glob_compile allocated. */
void glob_free(struct glob *g);

/* Whether s[0 .. n) matches; subjects longer than max_len never match. */
bool glob_match(const struct glob *g, const void *s, size_t n);

/* Every subject (up to max_len) matches: the pattern is only '*'s. */
bool glob_matches_all(const struct glob *g);

/* Every match starts with these bytes (the literal head of the pattern; may be empty). */
static inline const uint8_t *glob_prefix(const struct glob *g, size_t *len)
{
    *len = g->prefix_len;
    return g->prefix;
}

#endif
