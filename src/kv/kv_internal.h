/*
 * kv_internal.h — what kv's own files share: the struct kv, the execution context handed to
 * command handlers, and the helpers through which handlers touch LMDB.
 *
 * Storage layout. One LMDB environment (a directory with data.mdb) holds two named databases:
 *   "data"  every user key, stored as 8-byte big-endian XXH3-64 hash of the key followed by
 *           the key itself, so that LMDB's order is hash order — the order SCAN walks, and
 *           the cursor SCAN returns is simply the hash of the next key to visit;
 *   "meta"  "applied" → applied index and term (2 × u64 little-endian), written in the same
 *           transaction as the data it describes; "format" → u32 storage format version.
 *
 * Handlers return 0 when they replied (an error reply included) and a negative enum kv_error
 * only when storage failed, in which case the caller aborts the transaction.
 */
#ifndef RAFTKV_KV_INTERNAL_H
#define RAFTKV_KV_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>

#include "kv/kv.h"

#define KV_KEY_HASH_BYTES         8
#define KV_STORED_KEY_MAX_BYTES   (KV_KEY_HASH_BYTES + KV_MAX_KEY_BYTES)
#define KV_STORAGE_FORMAT_VERSION 1
#define KV_ERROR_MESSAGE_BYTES    256
#define KV_PATH_BYTES             4096
#define KV_DATA_FILE_NAME         "data.mdb" /* LMDB's file in the database directory */
/* The scratch buffer is kept between batches up to this size, and freed above it, so one
 * large SETRANGE does not pin hundreds of megabytes. */
#define KV_SCRATCH_RETAIN_BYTES (1024 * 1024)
#define KV_INT64_TEXT_BYTES     21 /* "-9223372036854775808" plus a terminator */

/* A growable byte buffer reused across commands, so the hot path does not allocate. */
struct kv_buffer {
    uint8_t *data;
    size_t capacity_bytes;
};

struct kv {
    char *directory;
    struct kv_options options;
    MDB_env *env;
    MDB_dbi data_dbi;
    MDB_dbi meta_dbi;
    MDB_txn *read_txn; /* reset between reads, renewed for the next (MDB_NOTLS) */
    /* Held by kv_snapshot_export() while it copies, on its own thread: the map may be grown
     * (remapped) only when no other thread reads through it. */
    pthread_mutex_t map_lock;
    uint64_t map_bytes;
    uint64_t used_bytes;
    uint64_t applied_index;
    uint64_t applied_term;
    struct kv_arg *argv; /* decoded arguments of the entry being applied */
    size_t argv_capacity;
    struct kv_buffer scratch; /* APPEND / SETRANGE build their new value here */
    char error_message[KV_ERROR_MESSAGE_BYTES];
};

struct kv_exec {
    struct kv *kv;
    MDB_txn *txn;
    const struct kv_reply *reply;
    bool writable;
};

/* A user key as stored: hash prefix and key bytes. */
struct kv_stored_key {
    uint8_t bytes[KV_STORED_KEY_MAX_BYTES];
    size_t bytes_used;
};

/* Fills *stored; false when the key is longer than KV_MAX_KEY_BYTES. */
bool kv_key_encode(const struct kv_arg *key, struct kv_stored_key *stored);
uint64_t kv_key_hash(const uint8_t *key, size_t key_bytes);

/* Looks a key up. *found false (and result 0) for an absent or over-long key. The value
 * points into the map and stays valid until the next write in this transaction. */
int kv_value_get(struct kv_exec *exec, const struct kv_arg *key, MDB_val *value, bool *found);
/* Stores a value; the key must have passed kv_key_encode (callers check before writing). */
int kv_value_put(struct kv_exec *exec, const struct kv_arg *key, const uint8_t *data,
                 size_t data_bytes);
int kv_value_delete(struct kv_exec *exec, const struct kv_arg *key, bool *deleted);

/* Maps an LMDB result to an enum kv_error and records `what` in kv->error_message. */
int kv_storage_error(struct kv *kv, int mdb_result, const char *what);
int kv_buffer_reserve(struct kv_buffer *buffer, size_t bytes);

void kv_reply_text_error(struct kv_exec *exec, const char *text);
void kv_reply_ok(struct kv_exec *exec);
void kv_reply_value(struct kv_exec *exec, const MDB_val *value);
size_t kv_format_int64(int64_t value, char text[KV_INT64_TEXT_BYTES]);
bool kv_arg_equals_nocase(const struct kv_arg *arg, const char *word);

/* Storage internals shared by store.c, apply.c and snapshot.c. The meta functions return
 * LMDB codes (MDB_CORRUPTED for a malformed record; -1 from kv_meta_check_format for an
 * unknown version). */
int kv_env_open(struct kv *kv);
void kv_env_close(struct kv *kv);
int kv_map_mdb_error(int mdb_result);
int kv_meta_read_applied(MDB_txn *txn, MDB_dbi meta_dbi, uint64_t *index, uint64_t *term);
int kv_meta_write_applied(MDB_txn *txn, MDB_dbi meta_dbi, uint64_t index, uint64_t term);
/* Stores the data of the latest applied RAFT_ENTRY_CONFIG (kv_members reads it back). */
int kv_meta_write_members(MDB_txn *txn, MDB_dbi meta_dbi, const uint8_t *data, size_t data_bytes);
int kv_meta_check_format(MDB_txn *txn, MDB_dbi meta_dbi, bool writable);
/* Measures the pages in use as of txn into kv->used_bytes. */
int kv_measure_used(struct kv *kv, MDB_txn *txn);
/* Grows the map, if no export holds it, so that the file can take `batch_bytes` more. */
void kv_reserve_map(struct kv *kv, uint64_t batch_bytes);
/* A sink that drops every reply: for entries no client waits for. */
extern const struct kv_reply kv_discard_reply;

/* Runs one resolved command (unknown names and wrong arity are replied, not run). */
int kv_dispatch(struct kv_exec *exec, size_t argc, const struct kv_arg *argv);

/* The handlers, one per command; listed in command.c's table. */
#define KV_HANDLER(name) int name(struct kv_exec *exec, size_t argc, const struct kv_arg *argv)
KV_HANDLER(kv_command_get);
KV_HANDLER(kv_command_set);
KV_HANDLER(kv_command_setnx);
KV_HANDLER(kv_command_getset);
KV_HANDLER(kv_command_getdel);
KV_HANDLER(kv_command_mget);
KV_HANDLER(kv_command_mset);
KV_HANDLER(kv_command_msetnx);
KV_HANDLER(kv_command_del);
KV_HANDLER(kv_command_exists);
KV_HANDLER(kv_command_incr);
KV_HANDLER(kv_command_incrby);
KV_HANDLER(kv_command_decr);
KV_HANDLER(kv_command_decrby);
KV_HANDLER(kv_command_append);
KV_HANDLER(kv_command_strlen);
KV_HANDLER(kv_command_getrange);
KV_HANDLER(kv_command_setrange);
KV_HANDLER(kv_command_keys);
KV_HANDLER(kv_command_scan);
KV_HANDLER(kv_command_type);
KV_HANDLER(kv_command_dbsize);
KV_HANDLER(kv_command_flushall);
KV_HANDLER(kv_command_flushdb);

#endif
