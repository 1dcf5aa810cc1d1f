/*
 * lww.c — per-key stamps for the lecture's last-writer-wins mode (src/replica), and the two
 * internal commands that apply a key's state only if its stamp is newer.
 *
 * Only a kv opened with options.lww_stamps has the "lww" database: user key bytes → the
 * KV_LWW_STAMP_BYTES stamp of the write that made the key's current state, then one byte
 * (1: a tombstone, the key was deleted). Stamps compare as bytes (memcmp): the replica
 * module writes them big-endian, physical time first, then the logical counter, then the
 * node id. The stamp and the value change in the same LMDB transaction (the entry's), so a
 * crash never separates them. Tombstones are kept for ever: a deleted key whose tombstone
 * was forgotten would come back from a replica that missed the delete.
 *
 *   raft.lww.put key stamp value   stores value (a string, no deadline) if stamp is newer
 *                                  than the key's; replies 1 (applied) or 0 (older: ignored)
 *   raft.lww.del key stamp         deletes the key and leaves a tombstone, the same way
 *
 * A Raft node never opens the database and never proposes these commands; a kv without it
 * refuses them with an error reply (no effect).
 */
#include <assert.h>
#include <string.h>

#include "kv/kv_internal.h"

#define KV_LWW_DB_NAME     "lww"
#define KV_LWW_VALUE_BYTES (KV_LWW_STAMP_BYTES + 1)

static const char *const NO_STAMPS =
    "ERR this node keeps no last-writer-wins stamps (only --replication lww does)";

/* The key's stored stamp: *found false when it has none. */
static int stamp_get(MDB_txn *txn, struct kv *kv, const struct kv_arg *key,
                     uint8_t stamp[KV_LWW_STAMP_BYTES], bool *tombstone, bool *found)
{
    MDB_val name = {.mv_size = key->data_bytes, .mv_data = (void *)key->data};
    MDB_val value;
    *found = false;
    int rc = mdb_get(txn, kv->lww_dbi, &name, &value);
    if (rc == MDB_NOTFOUND) {
        return 0;
    }
    if (rc != 0) {
        return kv_storage_error(kv, rc, "mdb_get (lww)");
    }
    if (value.mv_size != KV_LWW_VALUE_BYTES) {
        return kv_storage_error(kv, MDB_CORRUPTED, "lww stamp of the wrong size");
    }
    memcpy(stamp, value.mv_data, KV_LWW_STAMP_BYTES);
    *tombstone = ((const uint8_t *)value.mv_data)[KV_LWW_STAMP_BYTES] == 1;
    *found = true;
    return 0;
}

/* Whether the entry's stamp wins over the key's; replies the error when it cannot run. */
static int lww_newer(struct kv_exec *exec, const struct kv_arg *key, const struct kv_arg *stamp,
                     bool *newer)
{
    *newer = false;
    if (!exec->kv->options.lww_stamps) {
        kv_reply_text_error(exec, NO_STAMPS);
        return 0;
    }
    if (stamp->data_bytes != KV_LWW_STAMP_BYTES || key->data_bytes == 0) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
        return 0;
    }
    if (!kv_key_writable(exec, key)) {
        return 0; /* replied */
    }
    uint8_t stored[KV_LWW_STAMP_BYTES];
    bool tombstone = false;
    bool found = false;
    int rc = stamp_get(exec->txn, exec->kv, key, stored, &tombstone, &found);
    if (rc != 0) {
        return rc;
    }
    *newer = !found || memcmp(stamp->data, stored, KV_LWW_STAMP_BYTES) > 0;
    if (!*newer) {
        exec->reply->integer(exec->reply->context, 0);
    }
    return 0;
}

static int stamp_put(struct kv_exec *exec, const struct kv_arg *key, const struct kv_arg *stamp,
                     bool tombstone)
{
    uint8_t bytes[KV_LWW_VALUE_BYTES];
    memcpy(bytes, stamp->data, KV_LWW_STAMP_BYTES);
    bytes[KV_LWW_STAMP_BYTES] = tombstone ? 1 : 0;
    MDB_val name = {.mv_size = key->data_bytes, .mv_data = (void *)key->data};
    MDB_val value = {.mv_size = sizeof bytes, .mv_data = bytes};
    int rc = mdb_put(exec->txn, exec->kv->lww_dbi, &name, &value, 0);
    return rc == 0 ? 0 : kv_storage_error(exec->kv, rc, "mdb_put (lww)");
}

KV_HANDLER(kv_command_raft_lww_put)
{
    assert(argc == 4);
    assert(exec->writable);
    if (argv[3].data_bytes > exec->kv->options.max_value_bytes) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_STRING_TOO_LONG);
        return 0;
    }
    bool newer = false;
    int rc = lww_newer(exec, &argv[1], &argv[2], &newer);
    if (rc != 0 || !newer) {
        return rc;
    }
    rc = kv_string_store(exec, &argv[1], argv[3].data, argv[3].data_bytes, 0);
    if (rc == 0) {
        rc = stamp_put(exec, &argv[1], &argv[2], false);
    }
    if (rc == 0) {
        exec->reply->integer(exec->reply->context, 1);
    }
    return rc;
}

KV_HANDLER(kv_command_raft_lww_del)
{
    assert(argc == 3);
    assert(exec->writable);
    bool newer = false;
    int rc = lww_newer(exec, &argv[1], &argv[2], &newer);
    if (rc != 0 || !newer) {
        return rc;
    }
    bool deleted = false;
    rc = kv_key_delete(exec, &argv[1], &deleted);
    if (rc == 0) {
        rc = stamp_put(exec, &argv[1], &argv[2], true);
    }
    if (rc == 0) {
        exec->reply->integer(exec->reply->context, 1);
    }
    return rc;
}

int kv_lww_open(MDB_txn *txn, struct kv *kv, unsigned flags)
{
    return kv->options.lww_stamps ? mdb_dbi_open(txn, KV_LWW_DB_NAME, flags, &kv->lww_dbi) : 0;
}

int kv_lww_walk(struct kv *kv, const uint8_t *from_key, size_t from_key_bytes, bool inclusive,
                size_t max, kv_lww_fn visit, void *context)
{
    assert(visit != NULL);
    if (kv->env == NULL) {
        return KV_ERROR_CLOSED;
    }
    if (!kv->options.lww_stamps) {
        return KV_ERROR_INVALID;
    }
    int rc = mdb_txn_renew(kv->read_txn);
    if (rc != 0) {
        return kv_storage_error(kv, rc, "mdb_txn_renew");
    }
    MDB_cursor *cursor;
    rc = mdb_cursor_open(kv->read_txn, kv->lww_dbi, &cursor);
    if (rc != 0) {
        mdb_txn_reset(kv->read_txn);
        return kv_storage_error(kv, rc, "mdb_cursor_open (lww)");
    }
    MDB_val key = {.mv_size = from_key_bytes, .mv_data = (void *)from_key};
    MDB_val value;
    rc = mdb_cursor_get(cursor, &key, &value, from_key_bytes > 0 ? MDB_SET_RANGE : MDB_FIRST);
    if (rc == 0 && !inclusive && from_key_bytes > 0 && key.mv_size == from_key_bytes &&
        memcmp(key.mv_data, from_key, from_key_bytes) == 0) {
        rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT);
    }
    size_t visited = 0;
    int result = 0;
    while (rc == 0 && visited < max) {
        if (value.mv_size != KV_LWW_VALUE_BYTES) {
            result = kv_storage_error(kv, MDB_CORRUPTED, "lww stamp of the wrong size");
            break;
        }
        const uint8_t *bytes = value.mv_data;
        if (!visit(context, key.mv_data, key.mv_size, bytes, bytes[KV_LWW_STAMP_BYTES] == 1)) {
            break;
        }
        visited++;
        rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT);
    }
    if (result == 0 && rc != 0 && rc != MDB_NOTFOUND) {
        result = kv_storage_error(kv, rc, "mdb_cursor_get (lww)");
    }
    mdb_cursor_close(cursor);
    mdb_txn_reset(kv->read_txn);
    return result;
}

int kv_lww_stamp(struct kv *kv, const uint8_t *key, size_t key_bytes,
                 uint8_t stamp[KV_LWW_STAMP_BYTES], bool *tombstone, bool *found)
{
    *found = false;
    if (kv->env == NULL) {
        return KV_ERROR_CLOSED;
    }
    if (!kv->options.lww_stamps) {
        return KV_ERROR_INVALID;
    }
    int rc = mdb_txn_renew(kv->read_txn);
    if (rc != 0) {
        return kv_storage_error(kv, rc, "mdb_txn_renew");
    }
    struct kv_arg name = {.data = key, .data_bytes = key_bytes};
    rc = stamp_get(kv->read_txn, kv, &name, stamp, tombstone, found);
    mdb_txn_reset(kv->read_txn);
    return rc;
}
