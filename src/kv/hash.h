/*
 * hash.h — the hash commands' entries in the command table (command.c) and their handlers.
 * X(name, arity, flags, first key, last key, key step, handler), as in command.c.
 *
 * It also declares the hashed-member layout that hashes and sets share (hash.c implements it,
 * set.c builds on it): an item's key is the collection's 8-byte big-endian id, the 8-byte
 * big-endian XXH3-64 hash of the member (kv_key_hash), then the member's bytes; a hash item's
 * value is the field's value, a set item's value is empty. Items of one collection are thus in
 * hash order, which gives HSCAN and SSCAN SCAN's stateless cursor and lets a random member be
 * found with one seek.
 *
 * Ownership: a struct kv_member_cursor owns its LMDB cursor (kv_member_cursor_close frees it);
 * the MDB_vals it exposes point into the map and are valid until the next write in the
 * transaction.
 */
#ifndef RAFTKV_KV_HASH_H
#define RAFTKV_KV_HASH_H

#include "kv/kv_internal.h"

#define KV_HASH_COMMANDS(X)                                                                        \
    X("hset", -4, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, 1, 1, kv_command_hset)                \
    X("hsetnx", 4, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, 1, 1, kv_command_hsetnx)             \
    X("hget", 3, KV_COMMAND_READ, 1, 1, 1, kv_command_hget)                                        \
    X("hmget", -3, KV_COMMAND_READ, 1, 1, 1, kv_command_hmget)                                     \
    X("hmset", -4, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, 1, 1, kv_command_hmset)              \
    X("hgetall", 2, KV_COMMAND_READ, 1, 1, 1, kv_command_hgetall)                                  \
    X("hdel", -3, KV_COMMAND_WRITE, 1, 1, 1, kv_command_hdel)                                      \
    X("hexists", 3, KV_COMMAND_READ, 1, 1, 1, kv_command_hexists)                                  \
    X("hlen", 2, KV_COMMAND_READ, 1, 1, 1, kv_command_hlen)                                        \
    X("hkeys", 2, KV_COMMAND_READ, 1, 1, 1, kv_command_hkeys)                                      \
    X("hvals", 2, KV_COMMAND_READ, 1, 1, 1, kv_command_hvals)                                      \
    X("hincrby", 4, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, 1, 1, kv_command_hincrby)           \
    X("hincrbyfloat", 4, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, 1, 1, kv_command_hincrbyfloat) \
    X("hstrlen", 3, KV_COMMAND_READ, 1, 1, 1, kv_command_hstrlen)                                  \
    X("hrandfield", -2, KV_COMMAND_READ, 1, 1, 1, kv_command_hrandfield)                           \
    X("hscan", -3, KV_COMMAND_READ, 1, 1, 1, kv_command_hscan)

KV_HANDLER(kv_command_hset);
KV_HANDLER(kv_command_hsetnx);
KV_HANDLER(kv_command_hget);
KV_HANDLER(kv_command_hmget);
KV_HANDLER(kv_command_hmset);
KV_HANDLER(kv_command_hgetall);
KV_HANDLER(kv_command_hdel);
KV_HANDLER(kv_command_hexists);
KV_HANDLER(kv_command_hlen);
KV_HANDLER(kv_command_hkeys);
KV_HANDLER(kv_command_hvals);
KV_HANDLER(kv_command_hincrby);
KV_HANDLER(kv_command_hincrbyfloat);
KV_HANDLER(kv_command_hstrlen);
KV_HANDLER(kv_command_hrandfield);
KV_HANDLER(kv_command_hscan);

/* ---- hashed members, shared with set.c ------------------------------------------------------ */

#define KV_MEMBER_PREFIX_BYTES (KV_ID_BYTES + KV_KEY_HASH_BYTES) /* id, then the member's hash */

/* The item key of `member` in collection `id`. False when the member is longer than
 * KV_MAX_MEMBER_BYTES: no such member can have been stored (readers answer "absent"). */
bool kv_member_key(struct kv_item_key *out, uint64_t id, const struct kv_arg *member);
/* The same member's key in another collection: `item` is an item key read from the map. */
void kv_member_key_rebase(struct kv_item_key *out, uint64_t id, const MDB_val *item);
/* Whether collection `id` holds `member`. */
int kv_member_contains(struct kv_exec *exec, uint64_t id, const struct kv_arg *member, bool *found);
/* The member's bytes in an item key (after the id and the hash). */
struct kv_arg kv_member_of(const MDB_val *item);

/* A walk over one collection's items in hash order. */
struct kv_member_cursor {
    MDB_cursor *cursor;
    uint64_t id;
    MDB_val key;   /* the current item's key: valid until the next write */
    MDB_val value; /* its value (a hash field's value; empty in a set) */
};

int kv_member_cursor_open(struct kv_exec *exec, uint64_t id, struct kv_member_cursor *walk);
void kv_member_cursor_close(struct kv_member_cursor *walk);
/* These return 1 when positioned on an item of the collection, 0 when past its last item,
 * or a negative enum kv_error. Seek: the first item whose member hash is >= hash. */
int kv_member_seek(struct kv_exec *exec, struct kv_member_cursor *walk, uint64_t hash);
int kv_member_next(struct kv_exec *exec, struct kv_member_cursor *walk);
/* The first item after `last` (a copy of an item key): continues a walk after a write. */
int kv_member_resume(struct kv_exec *exec, struct kv_member_cursor *walk,
                     const struct kv_item_key *last);
/* The current item's member hash. */
uint64_t kv_member_hash(const struct kv_member_cursor *walk);
/* One item drawn with kv_random (see hash.c for the distribution); the collection must not
 * be empty. Returns 1 or a negative enum kv_error. */
int kv_member_random(struct kv_exec *exec, struct kv_member_cursor *walk);
/* Replies the current item: its member, and with_value its value after it. */
void kv_member_reply(struct kv_exec *exec, const struct kv_member_cursor *walk, bool with_value);
/* How a whole collection is replied: an array, a set (SMEMBERS), a map (HGETALL) or an array
 * of [field, value] pairs (HRANDFIELD WITHVALUES) — one shape in RESP2, four in RESP3. */
enum kv_member_shape {
    KV_SHAPE_ARRAY,
    KV_SHAPE_SET,
    KV_SHAPE_MAP,
    KV_SHAPE_PAIRS,
};
/* The header of a reply of `count` items in `shape` (per_item elements each in an array). */
void kv_member_shape_header(struct kv_exec *exec, enum kv_member_shape shape, size_t count,
                            size_t per_item);
int kv_member_reply_all(struct kv_exec *exec, const struct kv_record *record,
                        enum kv_member_shape shape, bool members, bool values);
/* Replies every item of a live collection in `shape`: [member (value)...], record->count of
 * them. */

/* Redis's text for a count of -2^63, which it reads as a long in [-LONG_MAX, LONG_MAX]. */
#define KV_ERROR_TEXT_LONG_RANGE                                                                   \
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"

/* HSCAN and SSCAN: `type` KV_TYPE_HASH replies fields and values, KV_TYPE_SET members. */
int kv_member_scan(struct kv_exec *exec, size_t argc, const struct kv_arg *argv, enum kv_type type);
/* HDEL and SREM: key member...; replies how many members it removed (an emptied collection is
 * deleted). */
int kv_member_remove(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                     enum kv_type type);
/* HRANDFIELD and SRANDMEMBER with a count, on a live collection (count != 0): distinct
 * members for a positive count (all of them when count >= the size), |count| members that may
 * repeat for a negative one. */
int kv_member_random_reply(struct kv_exec *exec, const struct kv_record *record, int64_t count,
                           bool with_values);

#endif
