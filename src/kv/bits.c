/*
 * bits.c — strings as arrays of bits: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP.
 *
 * Bit n of a string is bit 7 - n % 8 of byte n / 8 (the most significant bit first), as in
 * Redis; a string is as if followed by zero bits for ever. SETBIT grows the string with zero
 * bytes to reach its bit and keeps the key's time to live; BITOP stores its result without one
 * (Redis's SET semantics) and deletes the destination when every source is empty or absent.
 *
 * Offsets: SETBIT and GETBIT take bit offsets below 8 × max_value_bytes (Redis: 8 ×
 * proto-max-bulk-len, 2^32 with the default 512 MiB), so no string SETBIT makes is longer
 * than a string may be. BITCOUNT and BITPOS take byte or bit ranges with negative indexes
 * counting from the end, clamped into the string, in Redis 7.0's exact order of checks: the
 * key is looked up (WRONGTYPE) before the range is parsed, so a missing key answers 0 (-1 for
 * BITPOS of a 1) whatever follows.
 *
 * Failure modes: Redis's errors, all found before the first write. BITOP looks every source
 * up once before reading any (a lookup in a write may delete an expired key, and that write
 * would invalidate the map pointers of sources already read), then again to combine them.
 */
#include <assert.h>
#include <string.h>

#include "kv/bits.h"

#define KV_ERROR_TEXT_BIT_OFFSET   "ERR bit offset is not an integer or out of range"
#define KV_ERROR_TEXT_BIT_VALUE    "ERR bit is not an integer or out of range"
#define KV_ERROR_TEXT_BIT_ARGUMENT "ERR The bit argument must be 1 or 0."
#define KV_ERROR_TEXT_BITOP_NOT    "ERR BITOP NOT must be called with a single source key."
#define KV_WORD_BYTES              8

static bool kv_parse_int64_arg(const struct kv_arg *arg, int64_t *value)
{
    return kv_parse_int64(arg->data, arg->data_bytes, value);
}

/* A bit offset for SETBIT and GETBIT: not negative, and within a string's maximum size. */
static bool kv_bit_offset_parse(struct kv_exec *exec, const struct kv_arg *arg, uint64_t *offset)
{
    int64_t value;
    if (!kv_parse_int64_arg(arg, &value) || value < 0 ||
        ((uint64_t)value >> 3) >= exec->kv->options.max_value_bytes) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_BIT_OFFSET);
        return false;
    }
    *offset = (uint64_t)value;
    return true;
}

static unsigned kv_bit_at(const uint8_t *data, uint64_t offset)
{
    return (data[offset >> 3] >> (7 - (offset & 7))) & 1u;
}

/* ---- SETBIT, GETBIT ------------------------------------------------------------------------ */

KV_HANDLER(kv_command_setbit)
{
    (void)argc;
    uint64_t offset;
    if (!kv_bit_offset_parse(exec, &argv[2], &offset)) {
        return 0;
    }
    int64_t bit;
    if (!kv_parse_int64_arg(&argv[3], &bit) || (bit != 0 && bit != 1)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_BIT_VALUE);
        return 0;
    }
    if (!kv_key_writable(exec, &argv[1])) {
        return 0;
    }
    struct kv_record old;
    int found = kv_string_lookup(exec, &argv[1], &old);
    if (found != KV_LOOKUP_FOUND && found != KV_LOOKUP_ABSENT) {
        return found < 0 ? found : 0;
    }
    size_t old_bytes = found == KV_LOOKUP_FOUND ? old.value_bytes : 0;
    size_t byte = (size_t)(offset >> 3);
    size_t new_bytes = byte + 1 > old_bytes ? byte + 1 : old_bytes;
    assert(byte < new_bytes);
    unsigned previous = byte < old_bytes ? kv_bit_at(old.value, offset) : 0;
    if (new_bytes == old_bytes && previous == (unsigned)bit) {
        exec->reply->integer(exec->reply->context, previous); /* nothing changes, no event */
        return 0;
    }
    /* The new value is built in scratch: the old one lives in the map, which the put may
     * rewrite under it. */
    int result = kv_buffer_reserve(&exec->kv->scratch, new_bytes);
    if (result != 0) {
        return result;
    }
    uint8_t *value = exec->kv->scratch.data;
    if (old_bytes > 0) {
        memcpy(value, old.value, old_bytes);
    }
    memset(value + old_bytes, 0, new_bytes - old_bytes);
    uint8_t mask = (uint8_t)(1u << (7 - (offset & 7)));
    value[byte] = bit ? (uint8_t)(value[byte] | mask) : (uint8_t)(value[byte] & ~mask);
    result = kv_string_store(exec, &argv[1], value, new_bytes,
                             found == KV_LOOKUP_FOUND ? old.deadline_ms : 0);
    if (result == 0) {
        kv_notify(exec, KV_NOTIFY_STRING, "setbit", &argv[1]);
        exec->reply->integer(exec->reply->context, previous);
    }
    return result;
}

KV_HANDLER(kv_command_getbit)
{
    (void)argc;
    uint64_t offset;
    if (!kv_bit_offset_parse(exec, &argv[2], &offset)) {
        return 0;
    }
    struct kv_record record;
    int found = kv_string_lookup(exec, &argv[1], &record);
    if (found != KV_LOOKUP_FOUND && found != KV_LOOKUP_ABSENT) {
        return found < 0 ? found : 0;
    }
    unsigned bit = 0;
    if (found == KV_LOOKUP_FOUND && (offset >> 3) < record.value_bytes) {
        bit = kv_bit_at(record.value, offset);
    }
    exec->reply->integer(exec->reply->context, bit);
    return 0;
}

/* ---- ranges -------------------------------------------------------------------------------- */

/* An inclusive range of bits, from a BITCOUNT or BITPOS range in bytes or bits. */
struct kv_bit_range {
    bool empty;
    uint64_t first_bit;
    uint64_t last_bit;
};

/* Redis's index rules over a string of `length` units (bytes, or bits when in_bits): negative
 * indexes count from the end, then both are clamped into the string. */
static struct kv_bit_range kv_bit_range_make(int64_t start, int64_t end, int64_t length,
                                             bool in_bits)
{
    assert(length >= 0 && length <= INT64_MAX / 8);
    int64_t total = in_bits ? length * 8 : length;
    start = start < 0 ? total + start : start;
    end = end < 0 ? total + end : end;
    start = start < 0 ? 0 : start;
    end = end < 0 ? 0 : end;
    end = end >= total ? total - 1 : end;
    struct kv_bit_range range = {.empty = start > end};
    if (!range.empty) {
        assert(start >= 0 && end < total);
        range.first_bit = in_bits ? (uint64_t)start : (uint64_t)start * 8;
        range.last_bit = in_bits ? (uint64_t)end : (uint64_t)end * 8 + 7;
    }
    return range;
}

/* The bits of byte `index` that lie within the range, as a mask. */
static uint8_t kv_range_mask(const struct kv_bit_range *range, uint64_t index)
{
    unsigned mask = 0xffu;
    if (index == range->first_bit >> 3) {
        mask &= 0xffu >> (range->first_bit & 7);
    }
    if (index == range->last_bit >> 3) {
        mask &= 0xffu << (7 - (range->last_bit & 7));
    }
    return (uint8_t)mask;
}

static uint64_t kv_count_ones(const uint8_t *data, const struct kv_bit_range *range)
{
    assert(!range->empty);
    assert(range->first_bit <= range->last_bit);
    uint64_t first = range->first_bit >> 3;
    uint64_t last = range->last_bit >> 3;
    uint64_t count = (uint64_t)__builtin_popcount(data[first] & kv_range_mask(range, first));
    if (last == first) {
        return count;
    }
    uint64_t i = first + 1;
    for (; i + KV_WORD_BYTES <= last; i += KV_WORD_BYTES) {
        uint64_t word;
        memcpy(&word, data + i, sizeof word);
        count += (uint64_t)__builtin_popcountll(word);
    }
    for (; i < last; i++) {
        count += (uint64_t)__builtin_popcount(data[i]);
    }
    return count + (uint64_t)__builtin_popcount(data[last] & kv_range_mask(range, last));
}

/* The first bit equal to `bit` within the range, or -1. */
static int64_t kv_find_bit(const uint8_t *data, const struct kv_bit_range *range, unsigned bit)
{
    assert(!range->empty);
    assert(bit <= 1);
    uint64_t first = range->first_bit >> 3;
    uint64_t last = range->last_bit >> 3;
    uint64_t word_skip = bit ? 0 : UINT64_MAX; /* eight bytes holding no bit of interest */
    for (uint64_t i = first; i <= last; i++) {
        if (i > first) {
            /* Whole words of uninteresting bytes are skipped, stopping short of the last. */
            while (i + KV_WORD_BYTES <= last) {
                uint64_t word;
                memcpy(&word, data + i, sizeof word);
                if (word != word_skip) {
                    break;
                }
                i += KV_WORD_BYTES;
            }
        }
        uint8_t wanted = bit ? data[i] : (uint8_t)~data[i];
        wanted &= kv_range_mask(range, i);
        if (wanted != 0) {
            unsigned position = 0;
            while (!(wanted & (0x80u >> position))) {
                position++;
            }
            return (int64_t)(i * 8 + position);
        }
    }
    return -1;
}

/* BITCOUNT's and BITPOS's optional BYTE | BIT; false (and a syntax error replied) else. */
static bool kv_unit_parse(struct kv_exec *exec, const struct kv_arg *arg, bool *in_bits)
{
    if (kv_arg_equals_nocase(arg, "bit")) {
        *in_bits = true;
    } else if (kv_arg_equals_nocase(arg, "byte")) {
        *in_bits = false;
    } else {
        kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
        return false;
    }
    return true;
}

/* ---- BITCOUNT, BITPOS ----------------------------------------------------------------------- */

/* BITCOUNT key [start end [BYTE | BIT]]. The range's parse after the key's lookup, and two
 * negative indexes out of order answering 0 before BYTE | BIT is looked at, are Redis 7.0's. */
KV_HANDLER(kv_command_bitcount)
{
    struct kv_record record;
    int found = kv_string_lookup(exec, &argv[1], &record);
    if (found != KV_LOOKUP_FOUND) {
        if (found == KV_LOOKUP_ABSENT) {
            exec->reply->integer(exec->reply->context, 0);
        }
        return found < 0 ? found : 0;
    }
    int64_t length = (int64_t)record.value_bytes;
    struct kv_bit_range range;
    if (argc == 4 || argc == 5) {
        int64_t start;
        int64_t end;
        bool in_bits = false;
        if (!kv_parse_int64_arg(&argv[2], &start) || !kv_parse_int64_arg(&argv[3], &end)) {
            kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_INTEGER);
            return 0;
        }
        if (start < 0 && end < 0 && start > end) {
            exec->reply->integer(exec->reply->context, 0);
            return 0;
        }
        if (argc == 5 && !kv_unit_parse(exec, &argv[4], &in_bits)) {
            return 0;
        }
        range = kv_bit_range_make(start, end, length, in_bits);
    } else if (argc == 2) {
        range = kv_bit_range_make(0, -1, length, false);
    } else {
        kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
        return 0;
    }
    uint64_t count = range.empty ? 0 : kv_count_ones(record.value, &range);
    exec->reply->integer(exec->reply->context, (int64_t)count);
    return 0;
}

/* BITPOS's range after the bit: start [end [BYTE | BIT]]. Replies the error and returns false
 * when it does not parse; *end_given says whether the range has an end. */
static bool kv_bitpos_range(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                            int64_t length, struct kv_bit_range *range, bool *end_given)
{
    int64_t start = 0;
    int64_t end = length - 1;
    bool in_bits = false;
    *end_given = false;
    if (argc >= 4 && argc <= 6) {
        if (!kv_parse_int64_arg(&argv[3], &start)) {
            kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_INTEGER);
            return false;
        }
        if (argc == 6 && !kv_unit_parse(exec, &argv[5], &in_bits)) {
            return false;
        }
        if (argc >= 5) {
            if (!kv_parse_int64_arg(&argv[4], &end)) {
                kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_INTEGER);
                return false;
            }
            *end_given = true;
        }
    } else if (argc != 3) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
        return false;
    }
    *range = kv_bit_range_make(start, end, length, in_bits);
    return true;
}

/* BITPOS key bit [start [end [BYTE | BIT]]]. Past the end of the string every bit is 0, so a
 * clear bit searched without an end is found just after the string when none is in it; with
 * an end given, the search stays within it (-1). */
KV_HANDLER(kv_command_bitpos)
{
    int64_t bit;
    if (!kv_parse_int64_arg(&argv[2], &bit)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_INTEGER);
        return 0;
    }
    if (bit != 0 && bit != 1) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_BIT_ARGUMENT);
        return 0;
    }
    struct kv_record record;
    int found = kv_string_lookup(exec, &argv[1], &record);
    if (found != KV_LOOKUP_FOUND) {
        if (found == KV_LOOKUP_ABSENT) {
            exec->reply->integer(exec->reply->context, bit ? -1 : 0);
        }
        return found < 0 ? found : 0;
    }
    struct kv_bit_range range;
    bool end_given;
    if (!kv_bitpos_range(exec, argc, argv, (int64_t)record.value_bytes, &range, &end_given)) {
        return 0;
    }
    int64_t position = -1;
    if (!range.empty) {
        position = kv_find_bit(record.value, &range, (unsigned)bit);
        if (position < 0 && bit == 0 && !end_given) {
            position = (int64_t)range.last_bit + 1;
        }
    }
    exec->reply->integer(exec->reply->context, position);
    return 0;
}

/* ---- BITOP --------------------------------------------------------------------------------- */

enum kv_bitop { KV_BITOP_AND, KV_BITOP_OR, KV_BITOP_XOR, KV_BITOP_NOT };

static bool kv_bitop_parse(const struct kv_arg *arg, enum kv_bitop *op)
{
    static const char *const names[] = {[KV_BITOP_AND] = "and",
                                        [KV_BITOP_OR] = "or",
                                        [KV_BITOP_XOR] = "xor",
                                        [KV_BITOP_NOT] = "not"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (kv_arg_equals_nocase(arg, names[i])) {
            *op = (enum kv_bitop)i;
            return true;
        }
    }
    return false;
}

/* Folds one source into result[0 .. result_bytes); a source shorter than the result counts as
 * zero bytes past its end. The first source initialises the result. */
static void kv_bitop_fold(enum kv_bitop op, uint8_t *result, size_t result_bytes,
                          const uint8_t *source, size_t source_bytes, bool first)
{
    assert(source_bytes <= result_bytes);
    if (first) {
        if (source_bytes > 0) {
            memcpy(result, source, source_bytes);
        }
        memset(result + source_bytes, 0, result_bytes - source_bytes);
        if (op == KV_BITOP_NOT) {
            for (size_t i = 0; i < result_bytes; i++) {
                result[i] = (uint8_t)~result[i];
            }
        }
        return;
    }
    assert(op != KV_BITOP_NOT);
    for (size_t i = 0; i < source_bytes; i++) {
        if (op == KV_BITOP_AND) {
            result[i] &= source[i];
        } else if (op == KV_BITOP_OR) {
            result[i] |= source[i];
        } else {
            result[i] ^= source[i];
        }
    }
    if (op == KV_BITOP_AND) {
        memset(result + source_bytes, 0, result_bytes - source_bytes);
    }
}

/* Combines the sources argv[3 ..] into the scratch buffer, result_bytes long. The sources were
 * looked up once already, so these lookups delete nothing and their bytes stay valid. */
static int kv_bitop_combine(struct kv_exec *exec, enum kv_bitop op, size_t argc,
                            const struct kv_arg *argv, size_t result_bytes)
{
    int result = kv_buffer_reserve(&exec->kv->scratch, result_bytes);
    if (result != 0) {
        return result;
    }
    for (size_t i = 3; i < argc; i++) {
        struct kv_record record;
        int found = kv_lookup(exec, &argv[i], KV_TYPE_STRING, &record);
        if (found < 0) {
            return found;
        }
        assert(found != KV_LOOKUP_WRONG_TYPE);
        bool exists = found == KV_LOOKUP_FOUND;
        kv_bitop_fold(op, exec->kv->scratch.data, result_bytes, exists ? record.value : NULL,
                      exists ? record.value_bytes : 0, i == 3);
    }
    return 0;
}

KV_HANDLER(kv_command_bitop)
{
    enum kv_bitop op;
    if (!kv_bitop_parse(&argv[1], &op)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
        return 0;
    }
    if (op == KV_BITOP_NOT && argc != 4) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_BITOP_NOT);
        return 0;
    }
    const struct kv_arg *target = &argv[2];
    if (!kv_key_writable(exec, target)) {
        return 0;
    }
    size_t result_bytes = 0;
    for (size_t i = 3; i < argc; i++) {
        struct kv_record record;
        int found = kv_string_lookup(exec, &argv[i], &record);
        if (found != KV_LOOKUP_FOUND && found != KV_LOOKUP_ABSENT) {
            return found < 0 ? found : 0;
        }
        if (found == KV_LOOKUP_FOUND && record.value_bytes > result_bytes) {
            result_bytes = record.value_bytes;
        }
    }
    int result;
    if (result_bytes == 0) {
        bool deleted;
        result = kv_key_delete(exec, target, &deleted);
        if (result == 0 && deleted) {
            kv_notify(exec, KV_NOTIFY_GENERIC, "del", target);
        }
    } else {
        result = kv_bitop_combine(exec, op, argc, argv, result_bytes);
        if (result == 0) {
            result = kv_string_store(exec, target, exec->kv->scratch.data, result_bytes, 0);
        }
        if (result == 0) {
            kv_notify(exec, KV_NOTIFY_STRING, "set", target);
        }
    }
    if (result == 0) {
        exec->reply->integer(exec->reply->context, (int64_t)result_bytes);
    }
    return result;
}
