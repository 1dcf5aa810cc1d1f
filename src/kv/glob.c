/*
 * glob.c — Redis's glob-style pattern matching, for KEYS and SCAN MATCH.
 *
 *   *        any run of bytes, including none
 *   ?        exactly one byte
 *   [abc]    one byte of the set; [^abc] one byte not in it; [a-z] a range (either order);
 *            \x inside a set is x itself; a set left open runs to the end of the pattern
 *   \x       x itself
 *
 * Happy path: one pass over text and pattern. A '*' records where to resume; on a mismatch
 * the match restarts one byte further after the last '*'. Every other token consumes exactly
 * one byte, which is what makes this backtracking complete, and it bounds the work by
 * pattern_bytes × text_bytes — no recursion, so no pattern can exhaust the stack or take
 * exponential time. The empty string matches only the empty pattern, as in Redis. Failure
 * modes: none; any bytes are a valid pattern.
 */
#include <assert.h>

#include "kv/kv.h"

/* Matches byte c against the set that starts at pattern[*position] == '['. Leaves
 * *position on the set's closing ']' (or at the pattern's end when the set is open). */
static bool kv_glob_set(const uint8_t *pattern, size_t pattern_bytes, size_t *position, uint8_t c)
{
    size_t i = *position + 1;
    bool negate = i < pattern_bytes && pattern[i] == '^';
    if (negate) {
        i++;
    }
    bool matched = false;
    while (i < pattern_bytes && pattern[i] != ']') {
        if (pattern[i] == '\\' && i + 1 < pattern_bytes) {
            matched |= pattern[i + 1] == c;
            i += 2;
        } else if (i + 2 < pattern_bytes && pattern[i + 1] == '-') {
            uint8_t low = pattern[i];
            uint8_t high = pattern[i + 2];
            if (low > high) {
                uint8_t swap = low;
                low = high;
                high = swap;
            }
            matched |= c >= low && c <= high;
            i += 3;
        } else {
            matched |= pattern[i] == c;
            i++;
        }
    }
    *position = i;
    return negate ? !matched : matched;
}

/* Does the single-byte token at pattern[*position] match c? Advances *position past it. */
static bool kv_glob_token(const uint8_t *pattern, size_t pattern_bytes, size_t *position, uint8_t c)
{
    size_t i = *position;
    assert(i < pattern_bytes);
    bool matched;
    if (pattern[i] == '?') {
        matched = true;
    } else if (pattern[i] == '[') {
        matched = kv_glob_set(pattern, pattern_bytes, &i, c);
    } else if (pattern[i] == '\\' && i + 1 < pattern_bytes) {
        i++;
        matched = pattern[i] == c;
    } else {
        matched = pattern[i] == c;
    }
    /* A set left open ends the pattern; anything else is followed by the next token. */
    *position = i < pattern_bytes ? i + 1 : pattern_bytes;
    return matched;
}

bool kv_glob_match(const uint8_t *pattern, size_t pattern_bytes, const uint8_t *text,
                   size_t text_bytes)
{
    if (text_bytes == 0) {
        /* Redis's matcher never enters its loop for an empty string: only the empty pattern
         * matches it (KEYS and SCAN treat a lone "*" as "everything" before matching). */
        return pattern_bytes == 0;
    }
    size_t p = 0;
    size_t t = 0;
    bool have_star = false;
    size_t star_pattern = 0; /* the position just after the last '*' */
    size_t star_text = 0;    /* the text position that '*' currently stops before */
    while (t < text_bytes) {
        if (p < pattern_bytes && pattern[p] == '*') {
            while (p < pattern_bytes && pattern[p] == '*') {
                p++;
            }
            have_star = true;
            star_pattern = p;
            star_text = t;
            continue;
        }
        size_t next = p;
        if (p < pattern_bytes && kv_glob_token(pattern, pattern_bytes, &next, text[t])) {
            p = next;
            t++;
            continue;
        }
        if (!have_star) {
            return false;
        }
        /* Let the last '*' swallow one more byte and retry from there. */
        star_text++;
        t = star_text;
        p = star_pattern;
    }
    while (p < pattern_bytes && pattern[p] == '*') {
        p++;
    }
    return p == pattern_bytes;
}
