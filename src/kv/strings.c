/*
 * strings.c — the string commands: GET, SET (NX, XX, IFEQ, GET, EX, PX, EXAT, PXAT, KEEPTTL),
 * SETNX, GETSET, GETDEL, MGET, MSET, MSETNX, DEL, UNLINK, EXISTS, INCR, INCRBY, DECR, DECRBY,
 * APPEND, STRLEN, GETRANGE, SUBSTR, SETRANGE.
 *
 * Happy path: each handler parses its arguments, reads what it needs, and writes, replying
 * exactly what Redis replies. Handlers run unchanged in a write transaction (a committed
 * entry) and in a read transaction (a READ command), and are deterministic: the same state,
 * argv and clock give the same writes and the same reply on every replica.
 *
 * Failure modes: every error a client can cause is found before the first write, so a failed
 * command replies its error and changes nothing. A key of another type gets WRONGTYPE. A
 * negative result means storage failed and the caller aborts the whole transaction.
 */
#include <assert.h>
#include <string.h>

#include "kv/kv_internal.h"

int kv_string_lookup(struct kv_exec *exec, const struct kv_arg *key, struct kv_record *record)
{
    int found = kv_lookup(exec, key, KV_TYPE_STRING, record);
    if (found == KV_LOOKUP_WRONG_TYPE) {
        kv_reply_wrong_type(exec);
    }
    return found;
}

static void kv_reply_string(struct kv_exec *exec, const struct kv_record *record)
{
    exec->reply->bulk(exec->reply->context, record->value, record->value_bytes);
}

KV_HANDLER(kv_command_get)
{
    struct kv_record record;
    int found = kv_string_lookup(exec, &argv[1], &record);
    if (found == KV_LOOKUP_FOUND) {
        kv_reply_string(exec, &record);
    } else if (found == KV_LOOKUP_ABSENT) {
        exec->reply->null(exec->reply->context);
    }
    return found < 0 ? found : 0;
}

/* The checks every write of `value` under `key` makes before touching anything. */
static bool kv_write_allowed(struct kv_exec *exec, const struct kv_arg *key, size_t value_bytes)
{
    if (!kv_key_writable(exec, key)) {
        return false;
    }
    if (value_bytes > exec->kv->options.max_value_bytes) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_STRING_TOO_LONG);
        return false;
    }
    return true;
}

enum kv_set_flags {
    KV_SET_NX = 1u << 0,
    KV_SET_XX = 1u << 1,
    KV_SET_IFEQ = 1u << 2,
    KV_SET_GET = 1u << 3,
    KV_SET_KEEPTTL = 1u << 4,
    KV_SET_EXPIRY = 1u << 5, /* one of EX, PX, EXAT, PXAT */
};

struct kv_set_options {
    unsigned flags;
    const struct kv_arg *expected;    /* IFEQ's value */
    enum kv_expiry_unit unit;         /* with KV_SET_EXPIRY */
    const struct kv_arg *expiry_time; /* with KV_SET_EXPIRY */
};

/* Parses SET's options from argv[3]; replies the error and returns false on bad syntax. The
 * conditions NX, XX and IFEQ exclude one another, as in Redis and Valkey, and so do the
 * expiry options and KEEPTTL. */
static bool kv_set_parse(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                         struct kv_set_options *options)
{
    const unsigned conditions = KV_SET_NX | KV_SET_XX | KV_SET_IFEQ;
    unsigned *flags = &options->flags;
    for (size_t i = 3; i < argc; i++) {
        const struct kv_arg *option = &argv[i];
        bool has_next = i + 1 < argc;
        enum kv_expiry_unit unit;
        if (kv_arg_equals_nocase(option, "nx") && !(*flags & (conditions & ~KV_SET_NX))) {
            *flags |= KV_SET_NX;
        } else if (kv_arg_equals_nocase(option, "xx") && !(*flags & (conditions & ~KV_SET_XX))) {
            *flags |= KV_SET_XX;
        } else if (kv_arg_equals_nocase(option, "ifeq") && has_next &&
                   !(*flags & (conditions & ~KV_SET_IFEQ))) {
            *flags |= KV_SET_IFEQ;
            options->expected = &argv[++i];
        } else if (kv_arg_equals_nocase(option, "get")) {
            *flags |= KV_SET_GET;
        } else if (kv_arg_equals_nocase(option, "keepttl") && !(*flags & KV_SET_EXPIRY)) {
            *flags |= KV_SET_KEEPTTL;
        } else if (has_next && kv_expiry_unit_parse(option, &unit) && !(*flags & KV_SET_KEEPTTL) &&
                   (!(*flags & KV_SET_EXPIRY) || unit == options->unit)) {
            /* The same option again replaces the earlier one, as in Redis 7.0 (whose value is
             * then never parsed); a different one is a syntax error. */
            *flags |= KV_SET_EXPIRY;
            options->unit = unit;
            options->expiry_time = &argv[++i];
        } else {
            kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
            return false;
        }
    }
    return true;
}

static bool kv_set_condition_holds(const struct kv_set_options *options, bool found,
                                   const struct kv_record *old)
{
    if (options->flags & KV_SET_NX) {
        return !found;
    }
    if (options->flags & KV_SET_XX) {
        return found;
    }
    if (options->flags & KV_SET_IFEQ) {
        const struct kv_arg *expected = options->expected;
        return found && old->value_bytes == expected->data_bytes &&
               (expected->data_bytes == 0 ||
                memcmp(old->value, expected->data, expected->data_bytes) == 0);
    }
    return true;
}

/* Stores a string with a deadline already resolved; a deadline already passed deletes the
 * key instead (Redis does the same with a time in the past). */
int kv_string_store_until(struct kv_exec *exec, const struct kv_arg *key, const uint8_t *data,
                          size_t data_bytes, uint64_t deadline_ms)
{
    if (deadline_ms != 0 && deadline_ms <= exec->now_ms) {
        bool deleted;
        return kv_key_delete(exec, key, &deleted);
    }
    return kv_string_store(exec, key, data, data_bytes, deadline_ms);
}

/* SET's core, shared with GETSET: the reply is the old value with GET, else OK or null. */
static int kv_set_generic(struct kv_exec *exec, const struct kv_arg *key,
                          const struct kv_arg *value, const struct kv_set_options *options)
{
    if (!kv_write_allowed(exec, key, value->data_bytes)) {
        return 0;
    }
    uint64_t deadline = 0;
    if ((options->flags & KV_SET_EXPIRY) &&
        !kv_expiry_deadline(exec, "set", options->unit, options->expiry_time, &deadline)) {
        return 0;
    }
    struct kv_record old;
    /* GET and IFEQ read the old value, so another type is an error; otherwise SET replaces
     * whatever the key holds. */
    bool reads_old = options->flags & (KV_SET_GET | KV_SET_IFEQ);
    int found = kv_lookup(exec, key, reads_old ? KV_TYPE_STRING : -1, &old);
    if (found < 0) {
        return found;
    }
    if (found == KV_LOOKUP_WRONG_TYPE) {
        kv_reply_wrong_type(exec);
        return 0;
    }
    bool exists = found == KV_LOOKUP_FOUND;
    assert(exec->writable);
    bool perform = kv_set_condition_holds(options, exists, &old);
    if (options->flags & KV_SET_KEEPTTL && exists) {
        deadline = old.deadline_ms;
    }
    /* The old value must be replied before the write: the put may reuse its page. */
    if (options->flags & KV_SET_GET) {
        if (exists) {
            kv_reply_string(exec, &old);
        } else {
            exec->reply->null(exec->reply->context);
        }
    }
    if (perform) {
        int result = kv_string_store_until(exec, key, value->data, value->data_bytes, deadline);
        if (result != 0) {
            return result;
        }
        kv_notify(exec, KV_NOTIFY_STRING, "set", key);
        if (options->flags & KV_SET_EXPIRY) {
            kv_notify(exec, KV_NOTIFY_GENERIC, "expire", key);
        }
    }
    if (!(options->flags & KV_SET_GET)) {
        if (perform) {
            kv_reply_ok(exec);
        } else {
            exec->reply->null(exec->reply->context);
        }
    }
    return 0;
}

KV_HANDLER(kv_command_set)
{
    struct kv_set_options options = {0};
    if (!kv_set_parse(exec, argc, argv, &options)) {
        return 0;
    }
    return kv_set_generic(exec, &argv[1], &argv[2], &options);
}

KV_HANDLER(kv_command_getset)
{
    struct kv_set_options options = {.flags = KV_SET_GET};
    return kv_set_generic(exec, &argv[1], &argv[2], &options);
}

KV_HANDLER(kv_command_setnx)
{
    if (!kv_write_allowed(exec, &argv[1], argv[2].data_bytes)) {
        return 0;
    }
    struct kv_record old;
    int found = kv_lookup(exec, &argv[1], -1, &old);
    if (found < 0) {
        return found;
    }
    if (found == KV_LOOKUP_ABSENT) {
        int result = kv_string_store(exec, &argv[1], argv[2].data, argv[2].data_bytes, 0);
        if (result != 0) {
            return result;
        }
        kv_notify(exec, KV_NOTIFY_STRING, "set", &argv[1]);
    }
    exec->reply->integer(exec->reply->context, found == KV_LOOKUP_ABSENT ? 1 : 0);
    return 0;
}

KV_HANDLER(kv_command_getdel)
{
    struct kv_record record;
    int found = kv_string_lookup(exec, &argv[1], &record);
    if (found != KV_LOOKUP_FOUND) {
        if (found == KV_LOOKUP_ABSENT) {
            exec->reply->null(exec->reply->context);
        }
        return found < 0 ? found : 0;
    }
    kv_reply_string(exec, &record);
    bool deleted;
    int result = kv_key_delete(exec, &argv[1], &deleted);
    if (result == 0) {
        kv_notify(exec, KV_NOTIFY_GENERIC, "del", &argv[1]);
    }
    return result;
}

KV_HANDLER(kv_command_mget)
{
    exec->reply->array(exec->reply->context, argc - 1);
    for (size_t i = 1; i < argc; i++) {
        struct kv_record record;
        /* MGET answers nil for a key of another type, never an error. */
        int found = kv_lookup(exec, &argv[i], KV_TYPE_STRING, &record);
        if (found < 0) {
            return found;
        }
        if (found == KV_LOOKUP_FOUND) {
            kv_reply_string(exec, &record);
        } else {
            exec->reply->null(exec->reply->context);
        }
    }
    return 0;
}

/* MSET and MSETNX take key/value pairs; a missing value is an arity error, as in Redis. */
static bool kv_pairs_allowed(struct kv_exec *exec, size_t argc, const struct kv_arg *argv)
{
    if (argc % 2 == 0) {
        kv_reply_wrong_arity(exec->reply, kv_command_lookup(argv[0].data, argv[0].data_bytes));
        return false;
    }
    for (size_t i = 1; i < argc; i += 2) {
        if (!kv_write_allowed(exec, &argv[i], argv[i + 1].data_bytes)) {
            return false;
        }
    }
    return true;
}

static int kv_put_pairs(struct kv_exec *exec, size_t argc, const struct kv_arg *argv)
{
    for (size_t i = 1; i < argc; i += 2) {
        int result = kv_string_store(exec, &argv[i], argv[i + 1].data, argv[i + 1].data_bytes, 0);
        if (result != 0) {
            return result;
        }
        kv_notify(exec, KV_NOTIFY_STRING, "set", &argv[i]);
    }
    return 0;
}

KV_HANDLER(kv_command_mset)
{
    if (!kv_pairs_allowed(exec, argc, argv)) {
        return 0;
    }
    int result = kv_put_pairs(exec, argc, argv);
    if (result == 0) {
        kv_reply_ok(exec);
    }
    return result;
}

KV_HANDLER(kv_command_msetnx)
{
    if (!kv_pairs_allowed(exec, argc, argv)) {
        return 0;
    }
    for (size_t i = 1; i < argc; i += 2) {
        struct kv_record record;
        int found = kv_lookup(exec, &argv[i], -1, &record);
        if (found < 0) {
            return found;
        }
        if (found != KV_LOOKUP_ABSENT) {
            exec->reply->integer(exec->reply->context, 0);
            return 0;
        }
    }
    int result = kv_put_pairs(exec, argc, argv);
    if (result == 0) {
        exec->reply->integer(exec->reply->context, 1);
    }
    return result;
}

KV_HANDLER(kv_command_del)
{
    int64_t deleted_count = 0;
    for (size_t i = 1; i < argc; i++) {
        bool deleted;
        int result = kv_key_delete(exec, &argv[i], &deleted);
        if (result != 0) {
            return result;
        }
        if (deleted) {
            kv_notify(exec, KV_NOTIFY_GENERIC, "del", &argv[i]);
        }
        deleted_count += deleted ? 1 : 0;
    }
    exec->reply->integer(exec->reply->context, deleted_count);
    return 0;
}

KV_HANDLER(kv_command_exists)
{
    int64_t found_count = 0;
    for (size_t i = 1; i < argc; i++) {
        struct kv_record record;
        int found = kv_lookup(exec, &argv[i], -1, &record);
        if (found < 0) {
            return found;
        }
        found_count += found != KV_LOOKUP_ABSENT ? 1 : 0;
    }
    exec->reply->integer(exec->reply->context, found_count);
    return 0;
}

/* INCR, INCRBY, DECR and DECRBY: the value must be a Redis integer and stay within int64. */
static int kv_increment(struct kv_exec *exec, const struct kv_arg *key, int64_t increment)
{
    if (!kv_write_allowed(exec, key, 0)) {
        return 0;
    }
    struct kv_record old;
    int found = kv_string_lookup(exec, key, &old);
    if (found != KV_LOOKUP_FOUND && found != KV_LOOKUP_ABSENT) {
        return found < 0 ? found : 0;
    }
    int64_t current = 0;
    if (found == KV_LOOKUP_FOUND && !kv_parse_int64(old.value, old.value_bytes, &current)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_INTEGER);
        return 0;
    }
    if ((increment < 0 && current < 0 && increment < INT64_MIN - current) ||
        (increment > 0 && current > 0 && increment > INT64_MAX - current)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_OVERFLOW);
        return 0;
    }
    int64_t updated = current + increment;
    char text[KV_INT64_TEXT_BYTES];
    size_t text_bytes = kv_format_int64(updated, text);
    /* INCR keeps the key's time to live, as Redis does. */
    int result = kv_string_store(exec, key, (const uint8_t *)text, text_bytes,
                                 found == KV_LOOKUP_FOUND ? old.deadline_ms : 0);
    if (result != 0) {
        return result;
    }
    kv_notify(exec, KV_NOTIFY_STRING, "incrby", key);
    exec->reply->integer(exec->reply->context, updated);
    return 0;
}

KV_HANDLER(kv_command_incr)
{
    return kv_increment(exec, &argv[1], 1);
}

KV_HANDLER(kv_command_decr)
{
    return kv_increment(exec, &argv[1], -1);
}

KV_HANDLER(kv_command_incrby)
{
    int64_t increment;
    if (!kv_parse_int64(argv[2].data, argv[2].data_bytes, &increment)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_INTEGER);
        return 0;
    }
    return kv_increment(exec, &argv[1], increment);
}

KV_HANDLER(kv_command_decrby)
{
    int64_t decrement;
    if (!kv_parse_int64(argv[2].data, argv[2].data_bytes, &decrement)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_INTEGER);
        return 0;
    }
    if (decrement == INT64_MIN) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_DECREMENT_OVERFLOW);
        return 0;
    }
    return kv_increment(exec, &argv[1], -decrement);
}

/* Builds old[0..old_bytes) with `data` written at `offset` (zero-padding any gap) in the
 * scratch buffer and stores it. The old value is copied first because the put may reuse the
 * page it lives on. */
static int kv_splice_put(struct kv_exec *exec, const struct kv_arg *key,
                         const struct kv_record *old, size_t offset, const struct kv_arg *data)
{
    size_t old_bytes = old != NULL ? old->value_bytes : 0;
    size_t end = offset + data->data_bytes;
    size_t new_bytes = end > old_bytes ? end : old_bytes;
    assert(new_bytes >= offset && new_bytes >= old_bytes);
    int result = kv_buffer_reserve(&exec->kv->scratch, new_bytes);
    if (result != 0) {
        return result;
    }
    uint8_t *buffer = exec->kv->scratch.data;
    if (old_bytes > 0) {
        memcpy(buffer, old->value, old_bytes);
    }
    if (offset > old_bytes) {
        memset(buffer + old_bytes, 0, offset - old_bytes);
    }
    if (data->data_bytes > 0) {
        memcpy(buffer + offset, data->data, data->data_bytes);
    }
    return kv_string_store(exec, key, buffer, new_bytes, old != NULL ? old->deadline_ms : 0);
}

KV_HANDLER(kv_command_append)
{
    if (!kv_write_allowed(exec, &argv[1], 0)) {
        return 0;
    }
    struct kv_record old;
    int found = kv_string_lookup(exec, &argv[1], &old);
    if (found != KV_LOOKUP_FOUND && found != KV_LOOKUP_ABSENT) {
        return found < 0 ? found : 0;
    }
    bool exists = found == KV_LOOKUP_FOUND;
    size_t old_bytes = exists ? old.value_bytes : 0;
    uint64_t total = (uint64_t)old_bytes + argv[2].data_bytes;
    if (total > exec->kv->options.max_value_bytes) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_STRING_TOO_LONG);
        return 0;
    }
    int result = kv_splice_put(exec, &argv[1], exists ? &old : NULL, old_bytes, &argv[2]);
    if (result != 0) {
        return result;
    }
    kv_notify(exec, KV_NOTIFY_STRING, "append", &argv[1]);
    exec->reply->integer(exec->reply->context, (int64_t)total);
    return 0;
}

KV_HANDLER(kv_command_strlen)
{
    struct kv_record record;
    int found = kv_string_lookup(exec, &argv[1], &record);
    if (found == KV_LOOKUP_FOUND || found == KV_LOOKUP_ABSENT) {
        exec->reply->integer(exec->reply->context,
                             found == KV_LOOKUP_FOUND ? (int64_t)record.value_bytes : 0);
    }
    return found < 0 ? found : 0;
}

KV_HANDLER(kv_command_getrange)
{
    int64_t start;
    int64_t end;
    if (!kv_parse_int64(argv[2].data, argv[2].data_bytes, &start) ||
        !kv_parse_int64(argv[3].data, argv[3].data_bytes, &end)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_INTEGER);
        return 0;
    }
    struct kv_record record;
    int lookup = kv_string_lookup(exec, &argv[1], &record);
    if (lookup != KV_LOOKUP_FOUND && lookup != KV_LOOKUP_ABSENT) {
        return lookup < 0 ? lookup : 0;
    }
    bool found = lookup == KV_LOOKUP_FOUND;
    int64_t length = found ? (int64_t)record.value_bytes : 0;
    /* Redis's rules: negative indexes count from the end, both are clamped into the string,
     * and an empty range (or two negative indexes out of order) gives an empty string. */
    bool empty = !found || length == 0 || (start < 0 && end < 0 && start > end);
    if (!empty) {
        start = start < 0 ? (start < -length ? 0 : length + start) : start;
        end = end < 0 ? (end < -length ? 0 : length + end) : end;
        end = end >= length ? length - 1 : end;
        empty = start > end;
    }
    if (empty) {
        exec->reply->bulk(exec->reply->context, (const uint8_t *)"", 0);
        return 0;
    }
    exec->reply->bulk(exec->reply->context, record.value + start, (size_t)(end - start + 1));
    return 0;
}

KV_HANDLER(kv_command_setrange)
{
    int64_t offset;
    if (!kv_parse_int64(argv[2].data, argv[2].data_bytes, &offset)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_INTEGER);
        return 0;
    }
    if (offset < 0) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_OFFSET_RANGE);
        return 0;
    }
    if (!kv_write_allowed(exec, &argv[1], 0)) {
        return 0;
    }
    struct kv_record old;
    int lookup = kv_string_lookup(exec, &argv[1], &old);
    if (lookup != KV_LOOKUP_FOUND && lookup != KV_LOOKUP_ABSENT) {
        return lookup < 0 ? lookup : 0;
    }
    bool found = lookup == KV_LOOKUP_FOUND;
    if (argv[3].data_bytes == 0) {
        /* Writing nothing changes nothing, and creates no key. */
        exec->reply->integer(exec->reply->context, found ? (int64_t)old.value_bytes : 0);
        return 0;
    }
    if ((uint64_t)offset + argv[3].data_bytes > exec->kv->options.max_value_bytes) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_STRING_TOO_LONG);
        return 0;
    }
    size_t old_bytes = found ? old.value_bytes : 0;
    int result = kv_splice_put(exec, &argv[1], found ? &old : NULL, (size_t)offset, &argv[3]);
    if (result != 0) {
        return result;
    }
    kv_notify(exec, KV_NOTIFY_STRING, "setrange", &argv[1]);
    size_t end = (size_t)offset + argv[3].data_bytes;
    exec->reply->integer(exec->reply->context, (int64_t)(end > old_bytes ? end : old_bytes));
    return 0;
}

/* Does storing `value` at `key` add bytes? Not when it replaces a string at least as long. */
static int kv_replacement_grows(struct kv_exec *exec, const struct kv_arg *key,
                                const struct kv_arg *value, bool *grows)
{
    struct kv_record old;
    int found = kv_lookup(exec, key, KV_TYPE_STRING, &old);
    *grows = found != KV_LOOKUP_FOUND || old.value_bytes < value->data_bytes;
    return found < 0 ? found : 0;
}

bool kv_write_may_grow(struct kv *kv, const struct kv_command *command, size_t argc,
                       const struct kv_arg *argv)
{
    if (!(command->flags & KV_COMMAND_DENY_OOM)) {
        return false;
    }
    size_t first = 1;
    size_t last = 2; /* SET key value [options], GETSET key value */
    if (command->handler == kv_command_mset && argc % 2 == 1) {
        last = argc - 1;
    } else if (command->handler != kv_command_set && command->handler != kv_command_getset) {
        return true;
    }
    if (argc <= last || kv->env == NULL || mdb_txn_renew(kv->read_txn) != 0) {
        return true;
    }
    struct kv_exec exec = {
        .kv = kv, .txn = kv->read_txn, .reply = NULL, .writable = false, .now_ms = kv->clock_ms};
    bool grows = false;
    for (size_t i = first; i < last && !grows; i += 2) {
        kv_replacement_grows(&exec, &argv[i], &argv[i + 1], &grows);
    }
    mdb_txn_reset(kv->read_txn);
    return grows;
}
