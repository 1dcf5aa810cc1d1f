/*
 * strings_more.c — the string commands beyond strings.c: INCRBYFLOAT and LCS.
 *
 * INCRBYFLOAT adds in long double and stores the sum as Redis 7.0 writes it ("%.17Lf", the
 * trailing zeros cut: number.c), keeping the key's time to live; the same bytes on every
 * replica, since glibc's conversions are exact. The stored text is what a replica applies:
 * the increment is parsed from the entry, never recomputed from a float of another width.
 *
 * LCS is Redis's dynamic programme, step for step, so that among several longest common
 * subsequences it answers the same one, and the same match ranges for IDX: a table of
 * (len(a) + 1) × (len(b) + 1) u32 lengths, then a walk back from its corner. The table is
 * the memory to bound: Redis refuses one larger than proto-max-bulk-len, and so does raftkv
 * with max_value_bytes, before allocating anything (a 12 000-byte pair is already 576 MB).
 *
 * Failure modes: Redis's errors, found before the write (INCRBYFLOAT) or before the table is
 * allocated (LCS); a failed allocation answers Redis's error too, and changes nothing.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "kv/bits.h"

#define KV_ERROR_TEXT_LCS_TYPES "ERR The specified keys must contain string values"
#define KV_ERROR_TEXT_LCS_BOTH  "ERR If you want both the length and indexes, please just use IDX."
#define KV_ERROR_TEXT_LCS_LONG  "ERR String too long for LCS"
#define KV_ERROR_TEXT_LCS_LIMIT                                                                    \
    "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
#define KV_ERROR_TEXT_LCS_MEMORY                                                                   \
    "ERR Insufficient memory, failed allocating transient memory for LCS"

/* ---- INCRBYFLOAT --------------------------------------------------------------------------- */

/* Redis's order: the key's type, then its value, then the increment. */
KV_HANDLER(kv_command_incrbyfloat)
{
    (void)argc;
    if (!kv_key_writable(exec, &argv[1])) {
        return 0;
    }
    struct kv_record old;
    int found = kv_string_lookup(exec, &argv[1], &old);
    if (found != KV_LOOKUP_FOUND && found != KV_LOOKUP_ABSENT) {
        return found < 0 ? found : 0;
    }
    bool exists = found == KV_LOOKUP_FOUND;
    long double value = 0;
    long double increment;
    struct kv_arg current = {.data = exists ? old.value : NULL,
                             .data_bytes = exists ? old.value_bytes : 0};
    if ((exists && !kv_parse_long_double(&current, &value)) ||
        !kv_parse_long_double(&argv[2], &increment)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_FLOAT);
        return 0;
    }
    char text[KV_LONG_DOUBLE_TEXT_BYTES];
    size_t text_bytes;
    if (!kv_long_double_add(value, increment, text, &text_bytes)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_NAN);
        return 0;
    }
    int result = kv_string_store(exec, &argv[1], (const uint8_t *)text, text_bytes,
                                 exists ? old.deadline_ms : 0);
    if (result == 0) {
        kv_notify(exec, KV_NOTIFY_STRING, "incrbyfloat", &argv[1]);
        exec->reply->bulk(exec->reply->context, (const uint8_t *)text, text_bytes);
    }
    return result;
}

/* ---- LCS ----------------------------------------------------------------------------------- */

struct kv_lcs_options {
    bool length_only;   /* LEN */
    bool ranges;        /* IDX */
    bool with_lengths;  /* WITHMATCHLEN */
    int64_t min_length; /* MINMATCHLEN, 0: every match */
};

static bool kv_lcs_parse(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                         struct kv_lcs_options *options)
{
    for (size_t i = 3; i < argc; i++) {
        if (kv_arg_equals_nocase(&argv[i], "idx")) {
            options->ranges = true;
        } else if (kv_arg_equals_nocase(&argv[i], "len")) {
            options->length_only = true;
        } else if (kv_arg_equals_nocase(&argv[i], "withmatchlen")) {
            options->with_lengths = true;
        } else if (kv_arg_equals_nocase(&argv[i], "minmatchlen") && i + 1 < argc) {
            i++;
            if (!kv_parse_int64(argv[i].data, argv[i].data_bytes, &options->min_length)) {
                kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_INTEGER);
                return false;
            }
            options->min_length = options->min_length < 0 ? 0 : options->min_length;
        } else {
            kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
            return false;
        }
    }
    if (options->ranges && options->length_only) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_LCS_BOTH);
        return false;
    }
    return true;
}

/* The two strings and their table: cell (i, j) holds the length of the LCS of a[0 .. i) and
 * b[0 .. j). */
struct kv_lcs {
    const uint8_t *a;
    uint32_t a_bytes;
    const uint8_t *b;
    uint32_t b_bytes;
    uint32_t *table;
};

static uint32_t *kv_lcs_cell(const struct kv_lcs *lcs, uint32_t i, uint32_t j)
{
    return &lcs->table[(size_t)i * ((size_t)lcs->b_bytes + 1) + j];
}

static void kv_lcs_fill(struct kv_lcs *lcs)
{
    assert(lcs->table != NULL);
    assert(lcs->a != NULL && lcs->b != NULL);
    for (uint32_t i = 0; i <= lcs->a_bytes; i++) {
        for (uint32_t j = 0; j <= lcs->b_bytes; j++) {
            uint32_t length = 0;
            if (i > 0 && j > 0 && lcs->a[i - 1] == lcs->b[j - 1]) {
                length = *kv_lcs_cell(lcs, i - 1, j - 1) + 1;
            } else if (i > 0 && j > 0) {
                uint32_t up = *kv_lcs_cell(lcs, i - 1, j);
                uint32_t left = *kv_lcs_cell(lcs, i, j - 1);
                length = up > left ? up : left;
            }
            *kv_lcs_cell(lcs, i, j) = length;
        }
    }
}

static void kv_lcs_emit_range(struct kv_exec *exec, uint32_t a_start, uint32_t a_end,
                              uint32_t b_start, uint32_t b_end, bool with_length)
{
    const struct kv_reply *reply = exec->reply;
    reply->array(reply->context, with_length ? 3 : 2);
    reply->array(reply->context, 2);
    reply->integer(reply->context, a_start);
    reply->integer(reply->context, a_end);
    reply->array(reply->context, 2);
    reply->integer(reply->context, b_start);
    reply->integer(reply->context, b_end);
    if (with_length) {
        reply->integer(reply->context, (int64_t)a_end - a_start + 1);
    }
}

/*
 * The walk back from the table's corner, as Redis walks it: on equal bytes the byte is part
 * of the LCS (written into `text` when not NULL) and the current match range grows backwards;
 * otherwise the walk moves towards the larger neighbour (j first on a tie) and the range, if
 * any, ends. A range is reported (emitted when `emit`, counted always) when it ends, or when
 * it reaches the start of either string, if it is at least options->min_length long. Ranges
 * come out from the ends of the strings towards their starts.
 */
static size_t kv_lcs_walk(struct kv_exec *exec, const struct kv_lcs *lcs,
                          const struct kv_lcs_options *options, uint8_t *text, bool emit)
{
    const uint32_t none = lcs->a_bytes; /* no range open: no range starts at a_bytes */
    uint32_t a_start = none, a_end = 0, b_start = 0, b_end = 0;
    uint32_t i = lcs->a_bytes, j = lcs->b_bytes;
    uint32_t remaining = *kv_lcs_cell(lcs, i, j);
    size_t reported = 0;
    while (i > 0 && j > 0) {
        bool range_ends = false;
        if (lcs->a[i - 1] == lcs->b[j - 1]) {
            if (text != NULL) {
                text[remaining - 1] = lcs->a[i - 1];
            }
            if (a_start == none) {
                a_start = a_end = i - 1;
                b_start = b_end = j - 1;
            } else if (a_start == i && b_start == j) {
                a_start--;
                b_start--;
            } else {
                range_ends = true;
            }
            range_ends = range_ends || a_start == 0 || b_start == 0;
            remaining--;
            i--;
            j--;
        } else {
            if (*kv_lcs_cell(lcs, i - 1, j) > *kv_lcs_cell(lcs, i, j - 1)) {
                i--;
            } else {
                j--;
            }
            range_ends = a_start != none;
        }
        if (range_ends) {
            uint32_t length = a_end - a_start + 1;
            if (options->min_length == 0 || (int64_t)length >= options->min_length) {
                if (emit) {
                    kv_lcs_emit_range(exec, a_start, a_end, b_start, b_end, options->with_lengths);
                }
                reported++;
            }
            a_start = none;
        }
    }
    assert(remaining == 0);  /* the walk met every byte of the LCS */
    assert(a_start == none); /* every range was reported or dropped */
    return reported;
}

static int kv_lcs_reply(struct kv_exec *exec, const struct kv_lcs *lcs,
                        const struct kv_lcs_options *options)
{
    const struct kv_reply *reply = exec->reply;
    uint32_t length = *kv_lcs_cell(lcs, lcs->a_bytes, lcs->b_bytes);
    if (options->length_only) {
        reply->integer(reply->context, length);
        return 0;
    }
    if (options->ranges) {
        reply->array(reply->context, 4);
        reply->bulk(reply->context, (const uint8_t *)"matches", 7);
        reply->array(reply->context, kv_lcs_walk(exec, lcs, options, NULL, false));
        kv_lcs_walk(exec, lcs, options, NULL, true);
        reply->bulk(reply->context, (const uint8_t *)"len", 3);
        reply->integer(reply->context, length);
        return 0;
    }
    int result = kv_buffer_reserve(&exec->kv->scratch, length);
    if (result != 0) {
        return result;
    }
    kv_lcs_walk(exec, lcs, options, exec->kv->scratch.data, false);
    reply->bulk(reply->context, exec->kv->scratch.data, length);
    return 0;
}

/* Looks both keys up: absent reads as "", another type is LCS's own error. */
static int kv_lcs_lookup(struct kv_exec *exec, const struct kv_arg *argv, struct kv_lcs *lcs,
                         bool *strings)
{
    struct kv_record records[2];
    int found[2];
    for (size_t k = 0; k < 2; k++) {
        found[k] = kv_lookup(exec, &argv[1 + k], KV_TYPE_STRING, &records[k]);
        if (found[k] < 0) {
            return found[k];
        }
    }
    *strings = found[0] != KV_LOOKUP_WRONG_TYPE && found[1] != KV_LOOKUP_WRONG_TYPE;
    if (!*strings) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_LCS_TYPES);
        return 0;
    }
    static const uint8_t empty[1];
    size_t a_bytes = found[0] == KV_LOOKUP_FOUND ? records[0].value_bytes : 0;
    size_t b_bytes = found[1] == KV_LOOKUP_FOUND ? records[1].value_bytes : 0;
    lcs->a = found[0] == KV_LOOKUP_FOUND ? records[0].value : empty;
    lcs->b = found[1] == KV_LOOKUP_FOUND ? records[1].value : empty;
    if (a_bytes >= UINT32_MAX - 1 || b_bytes >= UINT32_MAX - 1) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_LCS_LONG);
        *strings = false;
        return 0;
    }
    lcs->a_bytes = (uint32_t)a_bytes;
    lcs->b_bytes = (uint32_t)b_bytes;
    return 0;
}

KV_HANDLER(kv_command_lcs)
{
    struct kv_lcs lcs = {0};
    bool strings;
    int result = kv_lcs_lookup(exec, argv, &lcs, &strings);
    if (result != 0 || !strings) {
        return result;
    }
    struct kv_lcs_options options = {0};
    if (!kv_lcs_parse(exec, argc, argv, &options)) {
        return 0;
    }
    /* At most (2^32 - 1)^2 cells of 4 bytes: no overflow in 64 bits. */
    uint64_t cells = ((uint64_t)lcs.a_bytes + 1) * ((uint64_t)lcs.b_bytes + 1);
    uint64_t table_bytes = cells * sizeof(uint32_t);
    if (table_bytes > exec->kv->options.max_value_bytes) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_LCS_LIMIT);
        return 0;
    }
    lcs.table = table_bytes <= SIZE_MAX ? malloc((size_t)table_bytes) : NULL;
    if (lcs.table == NULL) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_LCS_MEMORY);
        return 0;
    }
    kv_lcs_fill(&lcs);
    result = kv_lcs_reply(exec, &lcs, &options);
    free(lcs.table);
    return result;
}
