/*
 * strings.c — the string commands: GET, SET (NX, XX, IFEQ, GET), SETNX, GETSET, GETDEL, MGET,
 * MSET, MSETNX, DEL, EXISTS, INCR, INCRBY, DECR, DECRBY, APPEND, STRLEN, GETRANGE, SETRANGE.
 *
 * Happy path: each handler parses its arguments, reads what it needs, and writes, replying
 * exactly what Redis replies. Handlers run unchanged in a write transaction (a committed
 * entry) and in a read transaction (a READ command), and are deterministic: the same state
 * and argv give the same writes and the same reply on every replica.
 *
 * Failure modes: every error a client can cause is found before the first write, so a failed
 * command replies its error and changes nothing. A negative result means storage failed and
 * the caller aborts the whole transaction.
 */
#include <assert.h>
#include <string.h>

#include "kv/kv_internal.h"

KV_HANDLER(kv_command_get)
{
    MDB_val value;
    bool found;
    int result = kv_value_get(exec, &argv[1], &value, &found);
    if (result != 0) {
        return result;
    }
    if (found) {
        kv_reply_value(exec, &value);
    } else {
        exec->reply->null(exec->reply->context);
    }
    return 0;
}

/* The checks every write of `value` under `key` makes before touching anything. */
static bool kv_write_allowed(struct kv_exec *exec, const struct kv_arg *key, size_t value_bytes)
{
    if (key->data_bytes > KV_MAX_KEY_BYTES) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_KEY_TOO_LONG);
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
};

/* Parses SET's options from argv[3]; replies the error and returns false on bad syntax. The
 * conditions NX, XX and IFEQ exclude one another, as in Redis and Valkey. */
static bool kv_set_parse(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                         unsigned *flags, const struct kv_arg **expected)
{
    const unsigned conditions = KV_SET_NX | KV_SET_XX | KV_SET_IFEQ;
    for (size_t i = 3; i < argc; i++) {
        const struct kv_arg *option = &argv[i];
        bool has_next = i + 1 < argc;
        if (kv_arg_equals_nocase(option, "nx") && !(*flags & (conditions & ~KV_SET_NX))) {
            *flags |= KV_SET_NX;
        } else if (kv_arg_equals_nocase(option, "xx") && !(*flags & (conditions & ~KV_SET_XX))) {
            *flags |= KV_SET_XX;
        } else if (kv_arg_equals_nocase(option, "ifeq") && has_next &&
                   !(*flags & (conditions & ~KV_SET_IFEQ))) {
            *flags |= KV_SET_IFEQ;
            *expected = &argv[++i];
        } else if (kv_arg_equals_nocase(option, "get")) {
            *flags |= KV_SET_GET;
        } else if (kv_arg_equals_nocase(option, "keepttl")) {
            /* No key ever has a time to live, so keeping it is what already happens. */
        } else if (has_next &&
                   (kv_arg_equals_nocase(option, "ex") || kv_arg_equals_nocase(option, "px") ||
                    kv_arg_equals_nocase(option, "exat") || kv_arg_equals_nocase(option, "pxat"))) {
            kv_reply_text_error(exec, KV_ERROR_TEXT_NO_EXPIRY);
            return false;
        } else {
            kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
            return false;
        }
    }
    return true;
}

static bool kv_set_condition_holds(unsigned flags, bool found, const MDB_val *old,
                                   const struct kv_arg *expected)
{
    if (flags & KV_SET_NX) {
        return !found;
    }
    if (flags & KV_SET_XX) {
        return found;
    }
    if (flags & KV_SET_IFEQ) {
        return found && old->mv_size == expected->data_bytes &&
               (expected->data_bytes == 0 ||
                memcmp(old->mv_data, expected->data, expected->data_bytes) == 0);
    }
    return true;
}

/* SET's core, shared with GETSET: the reply is the old value with GET, else OK or null. */
static int kv_set_generic(struct kv_exec *exec, const struct kv_arg *key,
                          const struct kv_arg *value, unsigned flags, const struct kv_arg *expected)
{
    if (!kv_write_allowed(exec, key, value->data_bytes)) {
        return 0;
    }
    MDB_val old;
    bool found;
    int result = kv_value_get(exec, key, &old, &found);
    if (result != 0) {
        return result;
    }
    bool perform = kv_set_condition_holds(flags, found, &old, expected);
    /* The old value must be replied before the write: the put may reuse its page. */
    if (flags & KV_SET_GET) {
        if (found) {
            kv_reply_value(exec, &old);
        } else {
            exec->reply->null(exec->reply->context);
        }
    }
    if (perform) {
        result = kv_value_put(exec, key, value->data, value->data_bytes);
        if (result != 0) {
            return result;
        }
    }
    if (!(flags & KV_SET_GET)) {
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
    unsigned flags = 0;
    const struct kv_arg *expected = NULL;
    if (!kv_set_parse(exec, argc, argv, &flags, &expected)) {
        return 0;
    }
    return kv_set_generic(exec, &argv[1], &argv[2], flags, expected);
}

KV_HANDLER(kv_command_getset)
{
    return kv_set_generic(exec, &argv[1], &argv[2], KV_SET_GET, NULL);
}

KV_HANDLER(kv_command_setnx)
{
    if (!kv_write_allowed(exec, &argv[1], argv[2].data_bytes)) {
        return 0;
    }
    MDB_val old;
    bool found;
    int result = kv_value_get(exec, &argv[1], &old, &found);
    if (result != 0) {
        return result;
    }
    if (!found) {
        result = kv_value_put(exec, &argv[1], argv[2].data, argv[2].data_bytes);
        if (result != 0) {
            return result;
        }
    }
    exec->reply->integer(exec->reply->context, found ? 0 : 1);
    return 0;
}

KV_HANDLER(kv_command_getdel)
{
    MDB_val value;
    bool found;
    int result = kv_value_get(exec, &argv[1], &value, &found);
    if (result != 0) {
        return result;
    }
    if (!found) {
        exec->reply->null(exec->reply->context);
        return 0;
    }
    kv_reply_value(exec, &value);
    bool deleted;
    return kv_value_delete(exec, &argv[1], &deleted);
}

KV_HANDLER(kv_command_mget)
{
    exec->reply->array(exec->reply->context, argc - 1);
    for (size_t i = 1; i < argc; i++) {
        MDB_val value;
        bool found;
        int result = kv_value_get(exec, &argv[i], &value, &found);
        if (result != 0) {
            return result;
        }
        if (found) {
            kv_reply_value(exec, &value);
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
        int result = kv_value_put(exec, &argv[i], argv[i + 1].data, argv[i + 1].data_bytes);
        if (result != 0) {
            return result;
        }
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
        MDB_val value;
        bool found;
        int result = kv_value_get(exec, &argv[i], &value, &found);
        if (result != 0) {
            return result;
        }
        if (found) {
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
        int result = kv_value_delete(exec, &argv[i], &deleted);
        if (result != 0) {
            return result;
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
        MDB_val value;
        bool found;
        int result = kv_value_get(exec, &argv[i], &value, &found);
        if (result != 0) {
            return result;
        }
        found_count += found ? 1 : 0;
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
    MDB_val old;
    bool found;
    int result = kv_value_get(exec, key, &old, &found);
    if (result != 0) {
        return result;
    }
    int64_t current = 0;
    if (found && !kv_parse_int64(old.mv_data, old.mv_size, &current)) {
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
    result = kv_value_put(exec, key, (const uint8_t *)text, text_bytes);
    if (result != 0) {
        return result;
    }
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
static int kv_splice_put(struct kv_exec *exec, const struct kv_arg *key, const MDB_val *old,
                         size_t offset, const struct kv_arg *data)
{
    size_t old_bytes = old != NULL ? old->mv_size : 0;
    size_t end = offset + data->data_bytes;
    size_t new_bytes = end > old_bytes ? end : old_bytes;
    int result = kv_buffer_reserve(&exec->kv->scratch, new_bytes);
    if (result != 0) {
        return result;
    }
    uint8_t *buffer = exec->kv->scratch.data;
    if (old_bytes > 0) {
        memcpy(buffer, old->mv_data, old_bytes);
    }
    if (offset > old_bytes) {
        memset(buffer + old_bytes, 0, offset - old_bytes);
    }
    if (data->data_bytes > 0) {
        memcpy(buffer + offset, data->data, data->data_bytes);
    }
    return kv_value_put(exec, key, buffer, new_bytes);
}

KV_HANDLER(kv_command_append)
{
    if (!kv_write_allowed(exec, &argv[1], 0)) {
        return 0;
    }
    MDB_val old;
    bool found;
    int result = kv_value_get(exec, &argv[1], &old, &found);
    if (result != 0) {
        return result;
    }
    size_t old_bytes = found ? old.mv_size : 0;
    uint64_t total = (uint64_t)old_bytes + argv[2].data_bytes;
    if (total > exec->kv->options.max_value_bytes) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_STRING_TOO_LONG);
        return 0;
    }
    result = kv_splice_put(exec, &argv[1], found ? &old : NULL, old_bytes, &argv[2]);
    if (result != 0) {
        return result;
    }
    exec->reply->integer(exec->reply->context, (int64_t)total);
    return 0;
}

KV_HANDLER(kv_command_strlen)
{
    MDB_val value;
    bool found;
    int result = kv_value_get(exec, &argv[1], &value, &found);
    if (result != 0) {
        return result;
    }
    exec->reply->integer(exec->reply->context, found ? (int64_t)value.mv_size : 0);
    return 0;
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
    MDB_val value;
    bool found;
    int result = kv_value_get(exec, &argv[1], &value, &found);
    if (result != 0) {
        return result;
    }
    int64_t length = found ? (int64_t)value.mv_size : 0;
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
    const uint8_t *bytes = value.mv_data;
    exec->reply->bulk(exec->reply->context, bytes + start, (size_t)(end - start + 1));
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
    MDB_val old;
    bool found;
    int result = kv_value_get(exec, &argv[1], &old, &found);
    if (result != 0) {
        return result;
    }
    if (argv[3].data_bytes == 0) {
        /* Writing nothing changes nothing, and creates no key. */
        exec->reply->integer(exec->reply->context, found ? (int64_t)old.mv_size : 0);
        return 0;
    }
    if ((uint64_t)offset + argv[3].data_bytes > exec->kv->options.max_value_bytes) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_STRING_TOO_LONG);
        return 0;
    }
    result = kv_splice_put(exec, &argv[1], found ? &old : NULL, (size_t)offset, &argv[3]);
    if (result != 0) {
        return result;
    }
    size_t old_bytes = found ? old.mv_size : 0;
    size_t end = (size_t)offset + argv[3].data_bytes;
    exec->reply->integer(exec->reply->context, (int64_t)(end > old_bytes ? end : old_bytes));
    return 0;
}

/* Does storing `value` at `key` add bytes? Not when it replaces a string at least as long. */
static int kv_replacement_grows(struct kv_exec *exec, const struct kv_arg *key,
                                const struct kv_arg *value, bool *grows)
{
    MDB_val old;
    bool found = false;
    int result = kv_value_get(exec, key, &old, &found);
    *grows = result != 0 || !found || old.mv_size < value->data_bytes;
    return result;
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
    struct kv_exec exec = {.kv = kv, .txn = kv->read_txn, .reply = NULL, .writable = false};
    bool grows = false;
    for (size_t i = first; i < last && !grows; i += 2) {
        kv_replacement_grows(&exec, &argv[i], &argv[i + 1], &grows);
    }
    mdb_txn_reset(kv->read_txn);
    return grows;
}
