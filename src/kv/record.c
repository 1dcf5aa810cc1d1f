/*
 * record.c — what a user key holds: the record's encoding, lookups that hide expired keys,
 * writes that keep the deadline index and the collections' items consistent, and the items
 * database the collection types (hash.c, list.c, set.c, zset.c) build on.
 *
 * A record, as the value of a key in the "data" database (integers little-endian):
 *
 *     u8  type                 enum kv_type
 *     u8  flags                bit 0: a deadline follows; bit 1: a version follows; the
 *                              other bits are zero
 *     [u64 deadline_ms]        when flag 0 is set: the Unix time in ms the key expires at
 *     [u64 version]            when flag 1 is set: the index of the entry that last wrote
 *                              the record (what WATCH compares; absent: 0, written before
 *                              format 3)
 *     then, for a string:      its bytes, to the end of the value
 *     or, for a collection:    u64 id, u64 count, and for a list u64 head
 *
 * Invariants, kept by every write here: a key with a deadline has exactly one entry in the
 * "expires" index (deadline + key hash → key) and a key without one has none; a collection's
 * record exists exactly while it has members (count > 0); the items of a deleted collection
 * are listed in "trash" until kv_trash_collect has freed them, and ids are never reused, so
 * no new collection can see them.
 *
 * Expiry: a key whose deadline is at or before exec->now_ms is absent to every command. In a
 * write (a committed entry) finding such a key also deletes it — the entry's effect, decided
 * by the replicated clock, so every replica deletes the same keys at the same index.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "kv/kv_internal.h"

#define KV_RECORD_HAS_DEADLINE 0x01u
#define KV_RECORD_HAS_VERSION  0x02u
#define KV_RECORD_HEADER_BYTES 2
#define KV_RECORD_MAX_HEADER   (KV_RECORD_HEADER_BYTES + 8 + 8 + 3 * 8)
#define KV_EXPIRES_KEY_BYTES   (8 + KV_KEY_HASH_BYTES)

void kv_put_be64(uint8_t *out, uint64_t value)
{
    for (size_t i = 0; i < 8; i++) {
        out[i] = (uint8_t)(value >> (8 * (7 - i)));
    }
}

uint64_t kv_get_be64(const uint8_t *in)
{
    uint64_t value = 0;
    for (size_t i = 0; i < 8; i++) {
        value = value << 8 | in[i];
    }
    return value;
}

static void kv_put_le64(uint8_t *out, uint64_t value)
{
    for (size_t i = 0; i < 8; i++) {
        out[i] = (uint8_t)(value >> (8 * i));
    }
}

static uint64_t kv_get_le64(const uint8_t *in)
{
    uint64_t value = 0;
    for (size_t i = 0; i < 8; i++) {
        value |= (uint64_t)in[i] << (8 * i);
    }
    return value;
}

static bool kv_type_is_collection(enum kv_type type)
{
    return type != KV_TYPE_STRING;
}

/* ---- the record's bytes ---------------------------------------------------------------------- */

static size_t kv_record_header_bytes(const struct kv_record *record)
{
    size_t bytes = KV_RECORD_HEADER_BYTES + (record->deadline_ms != 0 ? 8 : 0) +
                   (record->version != 0 ? 8 : 0);
    if (kv_type_is_collection(record->type)) {
        bytes += 16 + (record->type == KV_TYPE_LIST ? 8 : 0);
    }
    return bytes;
}

static size_t kv_record_encode_header(const struct kv_record *record, uint8_t *out)
{
    size_t used = 0;
    out[used++] = (uint8_t)record->type;
    out[used++] = (uint8_t)((record->deadline_ms != 0 ? KV_RECORD_HAS_DEADLINE : 0) |
                            (record->version != 0 ? KV_RECORD_HAS_VERSION : 0));
    if (record->deadline_ms != 0) {
        kv_put_le64(out + used, record->deadline_ms);
        used += 8;
    }
    if (record->version != 0) {
        kv_put_le64(out + used, record->version);
        used += 8;
    }
    if (kv_type_is_collection(record->type)) {
        kv_put_le64(out + used, record->id);
        kv_put_le64(out + used + 8, record->count);
        used += 16;
        if (record->type == KV_TYPE_LIST) {
            kv_put_le64(out + used, record->head);
            used += 8;
        }
    }
    assert(used == kv_record_header_bytes(record));
    return used;
}

int kv_record_decode(struct kv *kv, const MDB_val *value, struct kv_record *record)
{
    const uint8_t *bytes = value->mv_data;
    size_t size = value->mv_size;
    memset(record, 0, sizeof *record);
    if (size < KV_RECORD_HEADER_BYTES || bytes[0] >= KV_TYPE_COUNT ||
        (bytes[1] & ~(KV_RECORD_HAS_DEADLINE | KV_RECORD_HAS_VERSION)) != 0) {
        goto corrupt;
    }
    record->type = (enum kv_type)bytes[0];
    size_t used = KV_RECORD_HEADER_BYTES;
    if (bytes[1] & KV_RECORD_HAS_DEADLINE) {
        if (size < used + 8) {
            goto corrupt;
        }
        record->deadline_ms = kv_get_le64(bytes + used);
        used += 8;
        if (record->deadline_ms == 0) {
            goto corrupt;
        }
    }
    if (bytes[1] & KV_RECORD_HAS_VERSION) {
        if (size < used + 8) {
            goto corrupt;
        }
        record->version = kv_get_le64(bytes + used);
        used += 8;
        if (record->version == 0) {
            goto corrupt;
        }
    }
    if (!kv_type_is_collection(record->type)) {
        record->value = bytes + used;
        record->value_bytes = size - used;
        return 0;
    }
    size_t fields = record->type == KV_TYPE_LIST ? 3 : 2;
    if (size != used + 8 * fields) {
        goto corrupt;
    }
    record->id = kv_get_le64(bytes + used);
    record->count = kv_get_le64(bytes + used + 8);
    record->head = fields == 3 ? kv_get_le64(bytes + used + 16) : 0;
    if (record->count == 0) {
        goto corrupt;
    }
    return 0;

corrupt:
    snprintf(kv->error_message, KV_ERROR_MESSAGE_BYTES, "a stored record is malformed");
    return KV_ERROR_CORRUPT;
}

/* ---- the deadline index ---------------------------------------------------------------------- */

static void kv_expires_key(uint8_t out[KV_EXPIRES_KEY_BYTES], uint64_t deadline_ms,
                           const struct kv_stored_key *stored)
{
    kv_put_be64(out, deadline_ms);
    memcpy(out + 8, stored->bytes, KV_KEY_HASH_BYTES);
}

static int kv_expires_change(struct kv_exec *exec, const struct kv_stored_key *stored,
                             uint64_t deadline_ms, bool add)
{
    uint8_t index_key[KV_EXPIRES_KEY_BYTES];
    kv_expires_key(index_key, deadline_ms, stored);
    MDB_val key = {.mv_size = sizeof index_key, .mv_data = index_key};
    MDB_val user_key = {.mv_size = stored->bytes_used - KV_KEY_HASH_BYTES,
                        .mv_data = (void *)(stored->bytes + KV_KEY_HASH_BYTES)};
    int rc = add ? mdb_put(exec->txn, exec->kv->expires_dbi, &key, &user_key, 0)
                 : mdb_del(exec->txn, exec->kv->expires_dbi, &key, &user_key);
    if (rc != 0 && !(rc == MDB_NOTFOUND && !add)) {
        return kv_storage_error(exec->kv, rc,
                                add ? "indexing a deadline" : "unindexing a deadline");
    }
    return 0;
}

/* ---- raw access by stored key ---------------------------------------------------------------- */

static int kv_raw_get(struct kv_exec *exec, const struct kv_stored_key *stored,
                      struct kv_record *record, bool *found)
{
    MDB_val key = {.mv_size = stored->bytes_used, .mv_data = (void *)stored->bytes};
    MDB_val value;
    *found = false;
    int rc = mdb_get(exec->txn, exec->kv->data_dbi, &key, &value);
    if (rc == MDB_NOTFOUND) {
        return 0;
    }
    if (rc != 0) {
        return kv_storage_error(exec->kv, rc, "mdb_get");
    }
    int result = kv_record_decode(exec->kv, &value, record);
    *found = result == 0;
    return result;
}

/* Undoes what a stored record owns besides its own bytes: its deadline's index entry (unless
 * the new record keeps that deadline) and a collection's items (unless it keeps the id). */
static int kv_record_release(struct kv_exec *exec, const struct kv_stored_key *stored,
                             const struct kv_record *old, const struct kv_record *next)
{
    bool keeps_deadline = next != NULL && next->deadline_ms == old->deadline_ms;
    if (old->deadline_ms != 0 && !keeps_deadline) {
        int result = kv_expires_change(exec, stored, old->deadline_ms, false);
        if (result != 0) {
            return result;
        }
    }
    bool keeps_items = next != NULL && kv_type_is_collection(next->type) && next->id == old->id;
    if (kv_type_is_collection(old->type) && !keeps_items) {
        uint8_t id[KV_ID_BYTES];
        kv_put_be64(id, old->id);
        MDB_val key = {.mv_size = sizeof id, .mv_data = id};
        MDB_val empty = {.mv_size = 0, .mv_data = NULL};
        int rc = mdb_put(exec->txn, exec->kv->trash_dbi, &key, &empty, 0);
        if (rc != 0) {
            return kv_storage_error(exec->kv, rc, "listing a deleted collection");
        }
    }
    return 0;
}

/* Items changed under collection `id` (an item put or deleted): its record must be written
 * again before the command ends, so that the key's version moves (kv_items_settled). */
void kv_items_changed(struct kv_exec *exec, uint64_t id)
{
    for (size_t i = 0; i < exec->unsettled_count; i++) {
        if (exec->unsettled_ids[i] == id) {
            return;
        }
    }
    assert(exec->unsettled_count < KV_UNSETTLED_MAX);
    exec->unsettled_ids[exec->unsettled_count++] = id;
}

static void kv_items_settle(struct kv_exec *exec, const struct kv_record *record)
{
    if (record == NULL || !kv_type_is_collection(record->type)) {
        return;
    }
    for (size_t i = 0; i < exec->unsettled_count; i++) {
        if (exec->unsettled_ids[i] == record->id) {
            exec->unsettled_ids[i] = exec->unsettled_ids[--exec->unsettled_count];
            return;
        }
    }
}

static int kv_raw_delete(struct kv_exec *exec, const struct kv_stored_key *stored,
                         const struct kv_record *old)
{
    kv_items_settle(exec, old);
    int result = kv_record_release(exec, stored, old, NULL);
    if (result != 0) {
        return result;
    }
    MDB_val key = {.mv_size = stored->bytes_used, .mv_data = (void *)stored->bytes};
    int rc = mdb_del(exec->txn, exec->kv->data_dbi, &key, NULL);
    if (rc != 0) {
        return kv_storage_error(exec->kv, rc, "mdb_del");
    }
    return 0;
}

/* Notes that a list or sorted set under this key has members (kv_take_signals). */
static void kv_signal(struct kv *kv, const struct kv_stored_key *stored)
{
    size_t key_bytes = stored->bytes_used - KV_KEY_HASH_BYTES;
    size_t needed = kv->signals_used + 4 + key_bytes;
    if (kv->signals_overflow || needed > KV_SIGNALS_MAX_BYTES ||
        kv_buffer_reserve(&kv->signals, needed) != 0) {
        kv->signals_overflow = true;
        return;
    }
    uint8_t *out = kv->signals.data + kv->signals_used;
    for (size_t i = 0; i < 4; i++) {
        out[i] = (uint8_t)(key_bytes >> (8 * i));
    }
    memcpy(out + 4, stored->bytes + KV_KEY_HASH_BYTES, key_bytes);
    kv->signals_used = needed;
}

void kv_take_signals(struct kv *kv, kv_signal_fn signaled, void *context)
{
    if (signaled == NULL) {
        /* only forget them */
    } else if (kv->signals_overflow) {
        signaled(context, NULL, 0);
    } else {
        size_t offset = 0;
        while (offset < kv->signals_used) {
            const uint8_t *in = kv->signals.data + offset;
            size_t key_bytes =
                (size_t)in[0] | (size_t)in[1] << 8 | (size_t)in[2] << 16 | (size_t)in[3] << 24;
            signaled(context, in + 4, key_bytes);
            offset += 4 + key_bytes;
        }
    }
    kv->signals_used = 0;
    kv->signals_overflow = false;
}

/*
 * Bytes read from LMDB (a record's value, an item) are valid only until the next write in the
 * transaction: a put may rewrite the page they are on — in the map, or, once the transaction
 * has dirtied it, in LMDB's heap copy of it (which is why this showed only when entries shared
 * a batch: the replica test caught a value overwritten by its own PERSIST). So every put here
 * takes its bytes through this guard: bytes of the entry being applied and of the scratch
 * buffer are stable; anything else is copied aside first.
 */
static const uint8_t *kv_stable_bytes(struct kv_exec *exec, const uint8_t *data, size_t data_bytes,
                                      int *result)
{
    *result = 0;
    struct kv *kv = exec->kv;
    bool in_entry = exec->entry_data != NULL && data >= exec->entry_data &&
                    data + data_bytes <= exec->entry_data + exec->entry_bytes;
    bool in_scratch = kv->scratch.data != NULL && data >= kv->scratch.data &&
                      data + data_bytes <= kv->scratch.data + kv->scratch.capacity_bytes;
    if (data_bytes == 0 || in_entry || in_scratch) {
        return data;
    }
    *result = kv_buffer_reserve(&kv->map_copy, data_bytes);
    if (*result != 0) {
        return NULL;
    }
    memcpy(kv->map_copy.data, data, data_bytes);
    return kv->map_copy.data;
}

/* Writes `record` (and a string's bytes) under the stored key; `old` is what was there. */
/* The user key a stored key holds, for a notification. */
static struct kv_arg kv_stored_user_key(const struct kv_stored_key *stored)
{
    assert(stored->bytes_used >= KV_KEY_HASH_BYTES);
    return (struct kv_arg){.data = stored->bytes + KV_KEY_HASH_BYTES,
                           .data_bytes = stored->bytes_used - KV_KEY_HASH_BYTES};
}

static int kv_raw_write(struct kv_exec *exec, const struct kv_stored_key *stored,
                        const struct kv_record *old, const struct kv_record *record)
{
    assert(exec->writable);
    /* Replacing an expired key: Redis's lookup deletes it first ("expired"), and any key the
     * write brings into being is "new" (both before the command's own event). */
    struct kv_arg user_key = kv_stored_user_key(stored);
    if (old != NULL && kv_record_expired(exec, old)) {
        kv_notify(exec, KV_NOTIFY_EXPIRED, "expired", &user_key);
    }
    if (old == NULL || kv_record_expired(exec, old)) {
        kv_notify(exec, KV_NOTIFY_NEW, "new", &user_key);
    }
    /* Before any write: the value may live on a page the writes below change. */
    size_t value_bytes = kv_type_is_collection(record->type) ? 0 : record->value_bytes;
    int copied;
    const uint8_t *value_data = kv_stable_bytes(exec, record->value, value_bytes, &copied);
    if (copied != 0) {
        return copied;
    }
    if (old != NULL) {
        int result = kv_record_release(exec, stored, old, record);
        if (result != 0) {
            return result;
        }
    }
    kv_items_settle(exec, record);
    struct kv_record versioned = *record;
    versioned.version = exec->index; /* 0 only in tests that write outside an entry */
    uint8_t header[KV_RECORD_MAX_HEADER];
    size_t header_bytes = kv_record_encode_header(&versioned, header);
    MDB_val key = {.mv_size = stored->bytes_used, .mv_data = (void *)stored->bytes};
    MDB_val value = {.mv_size = header_bytes + value_bytes, .mv_data = NULL};
    int rc = mdb_put(exec->txn, exec->kv->data_dbi, &key, &value, MDB_RESERVE);
    if (rc != 0) {
        return kv_storage_error(exec->kv, rc, "mdb_put");
    }
    memcpy(value.mv_data, header, header_bytes);
    if (value_bytes > 0) {
        memcpy((uint8_t *)value.mv_data + header_bytes, value_data, value_bytes);
    }
    if (record->type == KV_TYPE_LIST || record->type == KV_TYPE_ZSET) {
        kv_signal(exec->kv, stored);
    }
    bool indexed = old != NULL && old->deadline_ms == record->deadline_ms;
    if (record->deadline_ms != 0 && !indexed) {
        return kv_expires_change(exec, stored, record->deadline_ms, true);
    }
    return 0;
}

bool kv_record_expired(const struct kv_exec *exec, const struct kv_record *record)
{
    return record->deadline_ms != 0 && record->deadline_ms <= exec->now_ms;
}

/* ---- what handlers use ----------------------------------------------------------------------- */

int kv_lookup(struct kv_exec *exec, const struct kv_arg *key, int type, struct kv_record *record)
{
    struct kv_stored_key stored;
    if (!kv_key_encode(key, &stored)) {
        return KV_LOOKUP_ABSENT; /* no key this long can have been written */
    }
    bool found;
    int result = kv_raw_get(exec, &stored, record, &found);
    if (result != 0 || !found) {
        return result;
    }
    if (kv_record_expired(exec, record)) {
        if (exec->writable) {
            result = kv_raw_delete(exec, &stored, record);
            if (result == 0) {
                kv_notify(exec, KV_NOTIFY_EXPIRED, "expired", key);
            }
        }
        return result != 0 ? result : KV_LOOKUP_ABSENT;
    }
    if (type >= 0 && record->type != (enum kv_type)type) {
        return KV_LOOKUP_WRONG_TYPE;
    }
    return KV_LOOKUP_FOUND;
}

int kv_raw_lookup(struct kv_exec *exec, const struct kv_arg *key, struct kv_record *record,
                  bool *found)
{
    struct kv_stored_key stored;
    *found = false;
    if (!kv_key_encode(key, &stored)) {
        return 0;
    }
    return kv_raw_get(exec, &stored, record, found);
}

/* The record under a key as stored, expired or not: what a write replaces. */
static int kv_old_record(struct kv_exec *exec, const struct kv_arg *key,
                         struct kv_stored_key *stored, struct kv_record *old, bool *found)
{
    bool encoded = kv_key_encode(key, stored);
    assert(encoded); /* handlers check the key's length (kv_key_writable) before writing */
    (void)encoded;
    return kv_raw_get(exec, stored, old, found);
}

int kv_record_store(struct kv_exec *exec, const struct kv_arg *key, const struct kv_record *record)
{
    struct kv_stored_key stored;
    struct kv_record old;
    bool found;
    int result = kv_old_record(exec, key, &stored, &old, &found);
    if (result != 0) {
        return result;
    }
    return kv_raw_write(exec, &stored, found ? &old : NULL, record);
}

int kv_string_store(struct kv_exec *exec, const struct kv_arg *key, const uint8_t *data,
                    size_t data_bytes, uint64_t deadline_ms)
{
    struct kv_record record = {
        .type = KV_TYPE_STRING,
        .deadline_ms = deadline_ms,
        .value = data,
        .value_bytes = data_bytes,
    };
    return kv_record_store(exec, key, &record);
}

void kv_collection_new(struct kv_exec *exec, enum kv_type type, struct kv_record *record)
{
    assert(exec->writable && kv_type_is_collection(type));
    memset(record, 0, sizeof *record);
    record->type = type;
    record->id = exec->kv->next_id++;
    record->head = KV_LIST_MIDDLE;
}

int kv_collection_store(struct kv_exec *exec, const struct kv_arg *key,
                        const struct kv_record *record)
{
    assert(kv_type_is_collection(record->type));
    if (record->count == 0) {
        bool deleted;
        return kv_key_delete(exec, key, &deleted);
    }
    return kv_record_store(exec, key, record);
}

int kv_collection_settle(struct kv_exec *exec, const struct kv_arg *key,
                         const struct kv_record *record)
{
    for (size_t i = 0; i < exec->unsettled_count; i++) {
        if (exec->unsettled_ids[i] == record->id) {
            return kv_collection_store(exec, key, record);
        }
    }
    return 0;
}

int kv_key_delete(struct kv_exec *exec, const struct kv_arg *key, bool *deleted)
{
    assert(exec->writable);
    *deleted = false;
    struct kv_stored_key stored;
    if (!kv_key_encode(key, &stored)) {
        return 0;
    }
    struct kv_record old;
    bool found;
    int result = kv_raw_get(exec, &stored, &old, &found);
    if (result != 0 || !found) {
        return result;
    }
    *deleted = !kv_record_expired(exec, &old); /* an expired key was already gone */
    result = kv_raw_delete(exec, &stored, &old);
    if (result == 0 && !*deleted) {
        kv_notify(exec, KV_NOTIFY_EXPIRED, "expired", key);
    }
    return result;
}

int kv_record_set_deadline(struct kv_exec *exec, const struct kv_arg *key, struct kv_record *record,
                           uint64_t deadline_ms)
{
    struct kv_record next = *record;
    next.deadline_ms = deadline_ms;
    int result = kv_record_store(exec, key, &next);
    if (result == 0) {
        record->deadline_ms = deadline_ms;
    }
    return result;
}

int kv_expires_forget(struct kv_exec *exec, const struct kv_arg *key, uint64_t deadline_ms)
{
    struct kv_stored_key stored;
    if (!kv_key_encode(key, &stored)) {
        return 0;
    }
    return kv_expires_change(exec, &stored, deadline_ms, false);
}

int kv_trash_collect(struct kv_exec *exec, size_t budget)
{
    MDB_cursor *trash;
    int rc = mdb_cursor_open(exec->txn, exec->kv->trash_dbi, &trash);
    if (rc != 0) {
        return kv_storage_error(exec->kv, rc, "mdb_cursor_open");
    }
    MDB_cursor *items = NULL;
    int result = 0;
    MDB_val id_key, empty;
    rc = mdb_cursor_get(trash, &id_key, &empty, MDB_FIRST);
    while (rc == 0 && budget > 0) {
        if (id_key.mv_size != KV_ID_BYTES) {
            snprintf(exec->kv->error_message, KV_ERROR_MESSAGE_BYTES, "a trash entry is malformed");
            result = KV_ERROR_CORRUPT;
            goto close;
        }
        uint8_t prefix[KV_ID_BYTES];
        memcpy(prefix, id_key.mv_data, sizeof prefix);
        if (items == NULL && (rc = mdb_cursor_open(exec->txn, exec->kv->items_dbi, &items)) != 0) {
            result = kv_storage_error(exec->kv, rc, "mdb_cursor_open");
            goto close;
        }
        MDB_val item = {.mv_size = sizeof prefix, .mv_data = prefix};
        MDB_val data;
        rc = mdb_cursor_get(items, &item, &data, MDB_SET_RANGE);
        while (rc == 0 && budget > 0 && item.mv_size >= KV_ID_BYTES &&
               memcmp(item.mv_data, prefix, KV_ID_BYTES) == 0) {
            if ((rc = mdb_cursor_del(items, 0)) != 0) {
                break;
            }
            budget--;
            item.mv_size = sizeof prefix;
            item.mv_data = prefix;
            rc = mdb_cursor_get(items, &item, &data, MDB_SET_RANGE);
        }
        if (rc != 0 && rc != MDB_NOTFOUND) {
            result = kv_storage_error(exec->kv, rc, "freeing a deleted collection");
            goto close;
        }
        if (budget == 0) {
            break; /* maybe items left: the id stays listed */
        }
        MDB_val done = {.mv_size = sizeof prefix, .mv_data = prefix};
        if ((rc = mdb_del(exec->txn, exec->kv->trash_dbi, &done, NULL)) != 0) {
            result = kv_storage_error(exec->kv, rc, "mdb_del (trash)");
            goto close;
        }
        id_key.mv_size = sizeof prefix;
        id_key.mv_data = prefix;
        rc = mdb_cursor_get(trash, &id_key, &empty, MDB_SET_RANGE);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        result = kv_storage_error(exec->kv, rc, "mdb_cursor_get (trash)");
    }
close:
    if (items != NULL) {
        mdb_cursor_close(items);
    }
    mdb_cursor_close(trash);
    return result;
}

const char *kv_type_name(enum kv_type type)
{
    static const char *const names[KV_TYPE_COUNT] = {"string", "hash", "list", "set", "zset"};
    return names[type];
}

int kv_type_from_name(const struct kv_arg *name)
{
    for (int type = 0; type < KV_TYPE_COUNT; type++) {
        if (kv_arg_equals_nocase(name, kv_type_name((enum kv_type)type))) {
            return type;
        }
    }
    return -1;
}

void kv_reply_wrong_type(struct kv_exec *exec)
{
    kv_reply_text_error(exec, KV_ERROR_TEXT_WRONG_TYPE);
}

bool kv_key_writable(struct kv_exec *exec, const struct kv_arg *key)
{
    if (key->data_bytes > KV_MAX_KEY_BYTES) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_KEY_TOO_LONG);
        return false;
    }
    return true;
}

bool kv_member_writable(struct kv_exec *exec, const struct kv_arg *member)
{
    if (member->data_bytes > KV_MAX_MEMBER_BYTES) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_MEMBER_TOO_LONG);
        return false;
    }
    return true;
}

/* ---- items ----------------------------------------------------------------------------------- */

void kv_item_key(struct kv_item_key *out, uint64_t id, const uint8_t *suffix, size_t suffix_bytes)
{
    kv_put_be64(out->bytes, id);
    out->bytes_used = KV_ID_BYTES;
    kv_item_key_append(out, suffix, suffix_bytes);
}

void kv_item_key_append(struct kv_item_key *key, const uint8_t *bytes, size_t bytes_count)
{
    assert(key->bytes_used + bytes_count <= KV_ITEM_KEY_MAX_BYTES);
    if (bytes_count > 0) {
        memcpy(key->bytes + key->bytes_used, bytes, bytes_count);
    }
    key->bytes_used += bytes_count;
}

int kv_item_get(struct kv_exec *exec, const struct kv_item_key *key, MDB_val *value, bool *found)
{
    MDB_val stored = {.mv_size = key->bytes_used, .mv_data = (void *)key->bytes};
    *found = false;
    int rc = mdb_get(exec->txn, exec->kv->items_dbi, &stored, value);
    if (rc == MDB_NOTFOUND) {
        return 0;
    }
    if (rc != 0) {
        return kv_storage_error(exec->kv, rc, "mdb_get (item)");
    }
    *found = true;
    return 0;
}

int kv_item_put(struct kv_exec *exec, const struct kv_item_key *key, const uint8_t *data,
                size_t data_bytes)
{
    assert(exec->writable);
    int copied;
    data = kv_stable_bytes(exec, data, data_bytes, &copied);
    if (copied != 0) {
        return copied;
    }
    MDB_val stored = {.mv_size = key->bytes_used, .mv_data = (void *)key->bytes};
    MDB_val value = {.mv_size = data_bytes, .mv_data = (void *)data};
    int rc = mdb_put(exec->txn, exec->kv->items_dbi, &stored, &value, 0);
    if (rc != 0) {
        return kv_storage_error(exec->kv, rc, "mdb_put (item)");
    }
    kv_items_changed(exec, kv_get_be64(key->bytes));
    return 0;
}

int kv_item_delete(struct kv_exec *exec, const struct kv_item_key *key, bool *deleted)
{
    assert(exec->writable);
    MDB_val stored = {.mv_size = key->bytes_used, .mv_data = (void *)key->bytes};
    *deleted = false;
    int rc = mdb_del(exec->txn, exec->kv->items_dbi, &stored, NULL);
    if (rc == MDB_NOTFOUND) {
        return 0;
    }
    if (rc != 0) {
        return kv_storage_error(exec->kv, rc, "mdb_del (item)");
    }
    kv_items_changed(exec, kv_get_be64(key->bytes));
    *deleted = true;
    return 0;
}

int kv_item_cursor(struct kv_exec *exec, MDB_cursor **cursor)
{
    int rc = mdb_cursor_open(exec->txn, exec->kv->items_dbi, cursor);
    if (rc != 0) {
        return kv_storage_error(exec->kv, rc, "mdb_cursor_open (items)");
    }
    return 0;
}

uint64_t kv_item_id(const MDB_val *item_key)
{
    assert(item_key->mv_size >= KV_ID_BYTES);
    return kv_get_be64(item_key->mv_data);
}

uint64_t kv_random(struct kv_exec *exec)
{
    uint64_t z = (exec->random_state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}
