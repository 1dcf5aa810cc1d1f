/*
 * expire.c — time to live: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (NX, XX, GT, LT), TTL, PTTL,
 * EXPIRETIME, PEXPIRETIME, PERSIST, SETEX, PSETEX, GETEX, the internal command active expiry
 * proposes, and the walk that finds what it should propose.
 *
 * Every time here is the replicated clock (exec->now_ms): an entry's relative time becomes an
 * absolute deadline from the stamp the leader gave the entry, so every replica computes the
 * same deadline and, at the same index, hides and deletes the same keys. Reads compare with
 * the reader's clock, never below the replicated one. Redis's arithmetic and error texts
 * throughout (expire.c of Redis 7.0: a deadline in the past deletes the key; overflow is
 * "invalid expire time"; TTL rounds to the nearest second).
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "kv/kv_internal.h"

#define KV_EXPIRE_ERROR_BYTES 96

static void kv_reply_invalid_expire(struct kv_exec *exec, const char *command)
{
    char text[KV_EXPIRE_ERROR_BYTES];
    int length = snprintf(text, sizeof text, "ERR invalid expire time in '%s' command", command);
    exec->reply->error(exec->reply->context, text, (size_t)length);
}

bool kv_expiry_unit_parse(const struct kv_arg *word, enum kv_expiry_unit *unit)
{
    static const struct {
        const char *name;
        enum kv_expiry_unit unit;
    } units[] = {
        {"ex", KV_EXPIRY_SECONDS},
        {"px", KV_EXPIRY_MS},
        {"exat", KV_EXPIRY_AT_SECONDS},
        {"pxat", KV_EXPIRY_AT_MS},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (kv_arg_equals_nocase(word, units[i].name)) {
            *unit = units[i].unit;
            return true;
        }
    }
    return false;
}

static bool kv_unit_in_seconds(enum kv_expiry_unit unit)
{
    return unit == KV_EXPIRY_SECONDS || unit == KV_EXPIRY_AT_SECONDS;
}

static bool kv_unit_relative(enum kv_expiry_unit unit)
{
    return unit == KV_EXPIRY_SECONDS || unit == KV_EXPIRY_MS;
}

/* when (in unit) → absolute ms; false on overflow. May be zero or negative (EXPIRE allows a
 * time in the past). */
static bool kv_expiry_absolute(const struct kv_exec *exec, enum kv_expiry_unit unit, int64_t when,
                               int64_t *absolute_ms)
{
    if (kv_unit_in_seconds(unit)) {
        if (when > INT64_MAX / 1000 || when < INT64_MIN / 1000) {
            return false;
        }
        when *= 1000;
    }
    if (kv_unit_relative(unit)) {
        int64_t base = (int64_t)exec->now_ms;
        if (when > INT64_MAX - base) {
            return false;
        }
        when += base;
    }
    *absolute_ms = when;
    return true;
}

bool kv_expiry_deadline(struct kv_exec *exec, const char *command, enum kv_expiry_unit unit,
                        const struct kv_arg *value, uint64_t *deadline_ms)
{
    int64_t when;
    if (!kv_parse_int64(value->data, value->data_bytes, &when)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_INTEGER);
        return false;
    }
    int64_t absolute;
    if (when <= 0 || !kv_expiry_absolute(exec, unit, when, &absolute) || absolute <= 0) {
        kv_reply_invalid_expire(exec, command);
        return false;
    }
    *deadline_ms = (uint64_t)absolute;
    return true;
}

/* ---- EXPIRE and friends ------------------------------------------------------------------ */

enum kv_expire_condition {
    KV_EXPIRE_NX = 1u << 0,
    KV_EXPIRE_XX = 1u << 1,
    KV_EXPIRE_GT = 1u << 2,
    KV_EXPIRE_LT = 1u << 3,
};

static bool kv_expire_parse_conditions(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                                       unsigned *conditions)
{
    static const struct {
        const char *name;
        unsigned flag;
    } names[] = {
        {"nx", KV_EXPIRE_NX},
        {"xx", KV_EXPIRE_XX},
        {"gt", KV_EXPIRE_GT},
        {"lt", KV_EXPIRE_LT},
    };
    for (size_t i = 3; i < argc; i++) {
        size_t j = 0;
        while (j < sizeof names / sizeof names[0] &&
               !kv_arg_equals_nocase(&argv[i], names[j].name)) {
            j++;
        }
        if (j == sizeof names / sizeof names[0]) {
            char text[KV_EXPIRE_ERROR_BYTES];
            int length = snprintf(text, sizeof text, "ERR Unsupported option %.*s",
                                  (int)(argv[i].data_bytes > 64 ? 64 : argv[i].data_bytes),
                                  (const char *)argv[i].data);
            exec->reply->error(exec->reply->context, text, (size_t)length);
            return false;
        }
        *conditions |= names[j].flag;
    }
    if ((*conditions & KV_EXPIRE_NX) && (*conditions & ~KV_EXPIRE_NX)) {
        kv_reply_text_error(exec, "ERR NX and XX, GT or LT options at the same time are not "
                                  "compatible");
        return false;
    }
    if ((*conditions & KV_EXPIRE_GT) && (*conditions & KV_EXPIRE_LT)) {
        kv_reply_text_error(exec, "ERR GT and LT options at the same time are not compatible");
        return false;
    }
    return true;
}

/* Whether the conditions let `deadline` replace the key's current one (0: none, which GT
 * and LT treat as an infinite time to live). */
static bool kv_expire_condition_holds(unsigned conditions, uint64_t current, int64_t deadline)
{
    if ((conditions & KV_EXPIRE_NX) && current != 0) {
        return false;
    }
    if ((conditions & KV_EXPIRE_XX) && current == 0) {
        return false;
    }
    if ((conditions & KV_EXPIRE_GT) && (current == 0 || deadline <= (int64_t)current)) {
        return false;
    }
    if ((conditions & KV_EXPIRE_LT) && current != 0 && deadline >= (int64_t)current) {
        return false;
    }
    return true;
}

static int kv_expire_generic(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                             enum kv_expiry_unit unit, const char *command)
{
    int64_t when;
    if (!kv_parse_int64(argv[2].data, argv[2].data_bytes, &when)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_INTEGER);
        return 0;
    }
    unsigned conditions = 0;
    if (!kv_expire_parse_conditions(exec, argc, argv, &conditions)) {
        return 0;
    }
    int64_t deadline;
    if (!kv_expiry_absolute(exec, unit, when, &deadline)) {
        kv_reply_invalid_expire(exec, command);
        return 0;
    }
    assert(exec->writable); /* EXPIRE and friends are writes: the entry's clock decides */
    struct kv_record record;
    int found = kv_lookup(exec, &argv[1], -1, &record);
    if (found < 0) {
        return found;
    }
    if (found == KV_LOOKUP_ABSENT ||
        !kv_expire_condition_holds(conditions, record.deadline_ms, deadline)) {
        exec->reply->integer(exec->reply->context, 0);
        return 0;
    }
    int result;
    bool deletes = deadline <= (int64_t)exec->now_ms;
    if (deletes) {
        bool deleted; /* a time already passed deletes the key, as in Redis */
        result = kv_key_delete(exec, &argv[1], &deleted);
    } else {
        result = kv_record_set_deadline(exec, &argv[1], &record, (uint64_t)deadline);
    }
    if (result == 0) {
        kv_notify(exec, KV_NOTIFY_GENERIC, deletes ? "del" : "expire", &argv[1]);
        exec->reply->integer(exec->reply->context, 1);
    }
    return result;
}

KV_HANDLER(kv_command_expire)
{
    return kv_expire_generic(exec, argc, argv, KV_EXPIRY_SECONDS, "expire");
}

KV_HANDLER(kv_command_pexpire)
{
    return kv_expire_generic(exec, argc, argv, KV_EXPIRY_MS, "pexpire");
}

KV_HANDLER(kv_command_expireat)
{
    return kv_expire_generic(exec, argc, argv, KV_EXPIRY_AT_SECONDS, "expireat");
}

KV_HANDLER(kv_command_pexpireat)
{
    return kv_expire_generic(exec, argc, argv, KV_EXPIRY_AT_MS, "pexpireat");
}

enum kv_ttl_form { KV_TTL_SECONDS, KV_TTL_MS, KV_TTL_AT_SECONDS, KV_TTL_AT_MS };

static int kv_ttl_generic(struct kv_exec *exec, const struct kv_arg *key, enum kv_ttl_form form)
{
    struct kv_record record;
    int found = kv_lookup(exec, key, -1, &record);
    if (found < 0) {
        return found;
    }
    int64_t reply;
    if (found == KV_LOOKUP_ABSENT) {
        reply = -2;
    } else if (record.deadline_ms == 0) {
        reply = -1;
    } else if (form == KV_TTL_AT_MS) {
        reply = (int64_t)record.deadline_ms;
    } else if (form == KV_TTL_AT_SECONDS) {
        reply = (int64_t)((record.deadline_ms + 500) / 1000); /* rounded, as Redis */
    } else {
        uint64_t left = record.deadline_ms > exec->now_ms ? record.deadline_ms - exec->now_ms : 0;
        reply = form == KV_TTL_MS ? (int64_t)left : (int64_t)((left + 500) / 1000);
    }
    exec->reply->integer(exec->reply->context, reply);
    return 0;
}

KV_HANDLER(kv_command_ttl)
{
    (void)argc;
    return kv_ttl_generic(exec, &argv[1], KV_TTL_SECONDS);
}

KV_HANDLER(kv_command_pttl)
{
    (void)argc;
    return kv_ttl_generic(exec, &argv[1], KV_TTL_MS);
}

KV_HANDLER(kv_command_expiretime)
{
    (void)argc;
    return kv_ttl_generic(exec, &argv[1], KV_TTL_AT_SECONDS);
}

KV_HANDLER(kv_command_pexpiretime)
{
    (void)argc;
    return kv_ttl_generic(exec, &argv[1], KV_TTL_AT_MS);
}

KV_HANDLER(kv_command_persist)
{
    (void)argc;
    struct kv_record record;
    int found = kv_lookup(exec, &argv[1], -1, &record);
    if (found < 0) {
        return found;
    }
    if (found == KV_LOOKUP_ABSENT || record.deadline_ms == 0) {
        exec->reply->integer(exec->reply->context, 0);
        return 0;
    }
    int result = kv_record_set_deadline(exec, &argv[1], &record, 0);
    if (result == 0) {
        kv_notify(exec, KV_NOTIFY_GENERIC, "persist", &argv[1]);
        exec->reply->integer(exec->reply->context, 1);
    }
    return result;
}

/* ---- SETEX, PSETEX, GETEX ------------------------------------------------------------------ */

static int kv_setex_generic(struct kv_exec *exec, const struct kv_arg *argv,
                            enum kv_expiry_unit unit, const char *command)
{
    if (!kv_key_writable(exec, &argv[1])) {
        return 0;
    }
    if (argv[3].data_bytes > exec->kv->options.max_value_bytes) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_STRING_TOO_LONG);
        return 0;
    }
    uint64_t deadline;
    if (!kv_expiry_deadline(exec, command, unit, &argv[2], &deadline)) {
        return 0;
    }
    assert(exec->writable);
    assert(deadline > 0);
    int result = kv_string_store_until(exec, &argv[1], argv[3].data, argv[3].data_bytes, deadline);
    if (result == 0) {
        kv_notify(exec, KV_NOTIFY_STRING, "set", &argv[1]);
        kv_notify(exec, KV_NOTIFY_GENERIC, "expire", &argv[1]);
        kv_reply_ok(exec);
    }
    return result;
}

KV_HANDLER(kv_command_setex)
{
    (void)argc;
    return kv_setex_generic(exec, argv, KV_EXPIRY_SECONDS, "setex");
}

KV_HANDLER(kv_command_psetex)
{
    (void)argc;
    return kv_setex_generic(exec, argv, KV_EXPIRY_MS, "psetex");
}

/* GETEX key [EX|PX|EXAT|PXAT time | PERSIST], in Redis 7.0's order: the options' syntax (the
 * same option again replaces the earlier one; two different ones are a syntax error), then the
 * key (absent: nil), its type, and only then the time's value. */
KV_HANDLER(kv_command_getex)
{
    bool persist = false;
    bool has_expiry = false;
    enum kv_expiry_unit unit = KV_EXPIRY_SECONDS;
    const struct kv_arg *when = NULL;
    for (size_t i = 2; i < argc; i++) {
        enum kv_expiry_unit parsed;
        if (kv_arg_equals_nocase(&argv[i], "persist") && !has_expiry) {
            persist = true;
        } else if (i + 1 < argc && kv_expiry_unit_parse(&argv[i], &parsed) && !persist &&
                   (!has_expiry || parsed == unit)) {
            has_expiry = true;
            unit = parsed;
            when = &argv[++i];
        } else {
            kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
            return 0;
        }
    }
    struct kv_record record;
    int found = kv_string_lookup(exec, &argv[1], &record);
    if (found != KV_LOOKUP_FOUND) {
        if (found == KV_LOOKUP_ABSENT) {
            exec->reply->null(exec->reply->context);
        }
        return found < 0 ? found : 0;
    }
    uint64_t deadline = 0;
    if (has_expiry && !kv_expiry_deadline(exec, "getex", unit, when, &deadline)) {
        return 0;
    }
    /* The value is replied before the write, which may move the page it lives on. */
    exec->reply->bulk(exec->reply->context, record.value, record.value_bytes);
    int result = 0;
    const char *event = NULL;
    if (has_expiry && deadline <= exec->now_ms) {
        bool deleted;
        result = kv_key_delete(exec, &argv[1], &deleted);
        event = "del";
    } else if (has_expiry || (persist && record.deadline_ms != 0)) {
        result = kv_record_set_deadline(exec, &argv[1], &record, has_expiry ? deadline : 0);
        event = has_expiry ? "expire" : "persist";
    }
    if (result == 0 && event != NULL) {
        kv_notify(exec, KV_NOTIFY_GENERIC, event, &argv[1]);
    }
    return result;
}

/* ---- active expiry ------------------------------------------------------------------------- */

/* raft.expire (deadline key)...: deletes each key whose deadline is still that one and has
 * passed by this entry's clock. Replies the number deleted (nobody waits for it). */
KV_HANDLER(kv_command_raft_expire)
{
    if (argc % 2 != 1) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
        return 0;
    }
    assert(exec->writable); /* proposed by the leader, applied on every replica */
    int64_t deleted_count = 0;
    for (size_t i = 1; i + 1 < argc; i += 2) {
        int64_t deadline;
        if (!kv_parse_int64(argv[i].data, argv[i].data_bytes, &deadline) || deadline <= 0) {
            continue;
        }
        struct kv_record record;
        /* kv_lookup deletes the key itself when it finds it expired by the entry's clock. */
        int found = kv_lookup(exec, &argv[i + 1], -1, &record);
        if (found < 0) {
            return found;
        }
        if (found != KV_LOOKUP_ABSENT && record.deadline_ms == (uint64_t)deadline) {
            continue; /* not due by this entry's clock: a later entry deletes it */
        }
        /* Gone now, or its deadline changed: no index entry may still name this deadline
         * (one left would be proposed again and again). */
        int result = kv_expires_forget(exec, &argv[i + 1], (uint64_t)deadline);
        if (result != 0) {
            return result;
        }
        deleted_count += found == KV_LOOKUP_ABSENT ? 1 : 0;
    }
    exec->reply->integer(exec->reply->context, deleted_count);
    return 0;
}

int kv_expired_keys(struct kv *kv, uint64_t now_ms, size_t max, kv_expired_fn found, void *context)
{
    if (kv->env == NULL) {
        return KV_ERROR_CLOSED;
    }
    int rc = mdb_txn_renew(kv->read_txn);
    if (rc != 0) {
        return kv_storage_error(kv, rc, "mdb_txn_renew");
    }
    MDB_cursor *cursor;
    rc = mdb_cursor_open(kv->read_txn, kv->expires_dbi, &cursor);
    if (rc != 0) {
        mdb_txn_reset(kv->read_txn);
        return kv_storage_error(kv, rc, "mdb_cursor_open (expires)");
    }
    MDB_val key, user_key;
    size_t reported = 0;
    rc = mdb_cursor_get(cursor, &key, &user_key, MDB_FIRST);
    while (rc == 0 && reported < max && key.mv_size >= 8) {
        uint64_t deadline = kv_get_be64(key.mv_data);
        if (deadline > now_ms) {
            break;
        }
        found(context, user_key.mv_data, user_key.mv_size, deadline);
        reported++;
        rc = mdb_cursor_get(cursor, &key, &user_key, MDB_NEXT);
    }
    int result = 0;
    if (rc != 0 && rc != MDB_NOTFOUND) {
        result = kv_storage_error(kv, rc, "mdb_cursor_get (expires)");
    }
    mdb_cursor_close(cursor);
    mdb_txn_reset(kv->read_txn);
    return result;
}

int kv_key_counts(struct kv *kv, uint64_t *keys, uint64_t *expires)
{
    *keys = 0;
    *expires = 0;
    if (kv->env == NULL) {
        return KV_ERROR_CLOSED;
    }
    int rc = mdb_txn_renew(kv->read_txn);
    if (rc != 0) {
        return kv_storage_error(kv, rc, "mdb_txn_renew");
    }
    MDB_stat data, index;
    rc = mdb_stat(kv->read_txn, kv->data_dbi, &data);
    if (rc == 0) {
        rc = mdb_stat(kv->read_txn, kv->expires_dbi, &index);
    }
    mdb_txn_reset(kv->read_txn);
    if (rc != 0) {
        return kv_storage_error(kv, rc, "mdb_stat");
    }
    *keys = data.ms_entries;
    *expires = index.ms_entries;
    return 0;
}
