/*
 * zset.h — the sorted set commands' entries in the command table (command.c) and their
 * handlers, the pop the blocking commands build on, and what zset.c, zset_walk.c,
 * zset_range.c, zset_store.c and zset_scan.c share.
 *
 * X(name, arity, flags, first key, last key, key step, handler), as in command.c. The key
 * positions are Redis 7.0's COMMAND INFO: the commands with a numkeys argument (ZMPOP, ZUNION,
 * ZINTER, ZDIFF, ZINTERCARD) are "movablekeys" there and report 0 0 0; the *STORE ones report
 * their destination only.
 *
 * Ownership: every function here borrows its arguments for the call; an element's member
 * (struct kv_zset_element) points into the LMDB map and is valid only until the next write
 * in the transaction; a struct kv_zset_result owns its memory until kv_zset_result_free.
 */
#ifndef RAFTKV_KV_ZSET_H
#define RAFTKV_KV_ZSET_H

#include "kv/kv_internal.h"

#define KV_ZSET_WRITE (KV_COMMAND_WRITE)
#define KV_ZSET_GROW  (KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM)

#define KV_ZSET_COMMANDS(X)                                                                        \
    X("zadd", -4, KV_ZSET_GROW, 1, 1, 1, kv_command_zadd)                                          \
    X("zincrby", 4, KV_ZSET_GROW, 1, 1, 1, kv_command_zincrby)                                     \
    X("zrem", -3, KV_ZSET_WRITE, 1, 1, 1, kv_command_zrem)                                         \
    X("zscore", 3, KV_COMMAND_READ, 1, 1, 1, kv_command_zscore)                                    \
    X("zmscore", -3, KV_COMMAND_READ, 1, 1, 1, kv_command_zmscore)                                 \
    X("zcard", 2, KV_COMMAND_READ, 1, 1, 1, kv_command_zcard)                                      \
    X("zrank", 3, KV_COMMAND_READ, 1, 1, 1, kv_command_zrank)                                      \
    X("zrevrank", 3, KV_COMMAND_READ, 1, 1, 1, kv_command_zrevrank)                                \
    X("zpopmin", -2, KV_ZSET_WRITE, 1, 1, 1, kv_command_zpopmin)                                   \
    X("zpopmax", -2, KV_ZSET_WRITE, 1, 1, 1, kv_command_zpopmax)                                   \
    X("zmpop", -4, KV_ZSET_WRITE | KV_COMMAND_NUMKEYS_1, 0, 0, 0, kv_command_zmpop)                \
    X("zcount", 4, KV_COMMAND_READ, 1, 1, 1, kv_command_zcount)                                    \
    X("zlexcount", 4, KV_COMMAND_READ, 1, 1, 1, kv_command_zlexcount)                              \
    X("zrange", -4, KV_COMMAND_READ, 1, 1, 1, kv_command_zrange)                                   \
    X("zrangestore", -5, KV_ZSET_GROW | KV_COMMAND_COPIES, 1, 2, 1, kv_command_zrangestore)        \
    X("zrevrange", -4, KV_COMMAND_READ, 1, 1, 1, kv_command_zrevrange)                             \
    X("zrangebyscore", -4, KV_COMMAND_READ, 1, 1, 1, kv_command_zrangebyscore)                     \
    X("zrevrangebyscore", -4, KV_COMMAND_READ, 1, 1, 1, kv_command_zrevrangebyscore)               \
    X("zrangebylex", -4, KV_COMMAND_READ, 1, 1, 1, kv_command_zrangebylex)                         \
    X("zrevrangebylex", -4, KV_COMMAND_READ, 1, 1, 1, kv_command_zrevrangebylex)                   \
    X("zremrangebyrank", 4, KV_ZSET_WRITE, 1, 1, 1, kv_command_zremrangebyrank)                    \
    X("zremrangebyscore", 4, KV_ZSET_WRITE, 1, 1, 1, kv_command_zremrangebyscore)                  \
    X("zremrangebylex", 4, KV_ZSET_WRITE, 1, 1, 1, kv_command_zremrangebylex)                      \
    X("zunionstore", -4, KV_ZSET_GROW | KV_COMMAND_COPIES | KV_COMMAND_NUMKEYS_2, 1, 1, 1,         \
      kv_command_zunionstore)                                                                      \
    X("zinterstore", -4, KV_ZSET_GROW | KV_COMMAND_COPIES | KV_COMMAND_NUMKEYS_2, 1, 1, 1,         \
      kv_command_zinterstore)                                                                      \
    X("zdiffstore", -4, KV_ZSET_GROW | KV_COMMAND_COPIES | KV_COMMAND_NUMKEYS_2, 1, 1, 1,          \
      kv_command_zdiffstore)                                                                       \
    X("zunion", -3, KV_COMMAND_READ | KV_COMMAND_NUMKEYS_1, 0, 0, 0, kv_command_zunion)            \
    X("zinter", -3, KV_COMMAND_READ | KV_COMMAND_NUMKEYS_1, 0, 0, 0, kv_command_zinter)            \
    X("zdiff", -3, KV_COMMAND_READ | KV_COMMAND_NUMKEYS_1, 0, 0, 0, kv_command_zdiff)              \
    X("zintercard", -3, KV_COMMAND_READ | KV_COMMAND_NUMKEYS_1, 0, 0, 0, kv_command_zintercard)    \
    X("zrandmember", -2, KV_COMMAND_READ, 1, 1, 1, kv_command_zrandmember)                         \
    X("zscan", -3, KV_COMMAND_READ, 1, 1, 1, kv_command_zscan)

KV_HANDLER(kv_command_zadd);
KV_HANDLER(kv_command_zincrby);
KV_HANDLER(kv_command_zrem);
KV_HANDLER(kv_command_zscore);
KV_HANDLER(kv_command_zmscore);
KV_HANDLER(kv_command_zcard);
KV_HANDLER(kv_command_zrank);
KV_HANDLER(kv_command_zrevrank);
KV_HANDLER(kv_command_zpopmin);
KV_HANDLER(kv_command_zpopmax);
KV_HANDLER(kv_command_zmpop);
KV_HANDLER(kv_command_zcount);
KV_HANDLER(kv_command_zlexcount);
KV_HANDLER(kv_command_zrange);
KV_HANDLER(kv_command_zrangestore);
KV_HANDLER(kv_command_zrevrange);
KV_HANDLER(kv_command_zrangebyscore);
KV_HANDLER(kv_command_zrevrangebyscore);
KV_HANDLER(kv_command_zrangebylex);
KV_HANDLER(kv_command_zrevrangebylex);
KV_HANDLER(kv_command_zremrangebyrank);
KV_HANDLER(kv_command_zremrangebyscore);
KV_HANDLER(kv_command_zremrangebylex);
KV_HANDLER(kv_command_zunionstore);
KV_HANDLER(kv_command_zinterstore);
KV_HANDLER(kv_command_zdiffstore);
KV_HANDLER(kv_command_zunion);
KV_HANDLER(kv_command_zinter);
KV_HANDLER(kv_command_zdiff);
KV_HANDLER(kv_command_zintercard);
KV_HANDLER(kv_command_zrandmember);
KV_HANDLER(kv_command_zscan);

/* ---- the pop the blocking commands build on ------------------------------------------------ */

enum kv_zset_end {
    KV_ZSET_MIN = 0, /* the lowest scores first (ZPOPMIN, BZPOPMIN, ZMPOP ... MIN) */
    KV_ZSET_MAX = 1, /* the highest scores first */
};

/* The number of members kv_zset_pop(..., count, ...) takes from `record`: min(count, size). */
uint64_t kv_zset_pop_count(const struct kv_record *record, uint64_t count);

/*
 * Inside a write (exec->writable): removes the kv_zset_pop_count(record, count) lowest or
 * highest members of the sorted set `record` (as kv_lookup(exec, key, KV_TYPE_ZSET, record)
 * just found it under `key`), replying each as it goes — with `nested` false as two replies
 * (member, then its score as double_text: ZPOPMIN's and BZPOPMIN's flat arrays), with
 * `nested` true as a two-element array [member, score] (ZMPOP's and BZMPOP's). The caller
 * replies what comes before: the array header(s), the key. Then it stores the record (an
 * emptied set deletes the key, as Redis does) and updates record->count. Ties pop in member
 * order, as Redis's. Returns 0, or a negative kv error when storage failed (the transaction
 * must then be aborted).
 *
 * BZPOPMIN key... timeout: array(3), bulk(key), kv_zset_pop(..., 1, false).
 * BZMPOP: array(2), bulk(key), array(kv_zset_pop_count(record, count)), kv_zset_pop(..., true).
 */
enum kv_zset_pop_shape {
    KV_ZSET_POP_FLAT = 0,   /* member, score, member, score ... (ZPOPMIN key, BZPOPMIN) */
    KV_ZSET_POP_NESTED = 1, /* [member, score] arrays (ZMPOP, BZMPOP) */
    KV_ZSET_POP_PAIRED = 2, /* flat in RESP2, [member, score] in RESP3 (ZPOPMIN key count) */
};
int kv_zset_pop(struct kv_exec *exec, const struct kv_arg *key, struct kv_record *record,
                enum kv_zset_end end, uint64_t count, enum kv_zset_pop_shape shape);

/* ---- shared by zset.c, zset_range.c and zset_store.c ----------------------------------------- */

#define KV_ZSET_TAG_MEMBERS    0x00 /* id, 0x00, member hash, member -> score (f64 LE) */
#define KV_ZSET_TAG_SCORES     0x01 /* id, 0x01, ordered score, member -> empty */
#define KV_ZSET_SCORE_BYTES    8
#define KV_ZSET_PREFIX_BYTES   (KV_ID_BYTES + 1) /* id, tag */
#define KV_ZSET_SCORE_KEY_HEAD (KV_ZSET_PREFIX_BYTES + KV_ZSET_SCORE_BYTES)

/* One element as a walk or a lookup found it; member points into the map. */
struct kv_zset_element {
    double score;
    const uint8_t *member;
    size_t member_bytes;
};

/* A cursor over one sorted set's score index, in Redis's order (score, then member bytes).
 * `valid` is false once a move left the set (or found it empty). */
struct kv_zset_walk {
    struct kv_exec *exec;
    MDB_cursor *cursor;
    uint64_t id;
    bool valid;
    struct kv_zset_element element;
};

/* A cursor over a member index in hash order — a sorted set's (id, 0x00, hash, member ->
 * score) or a set's (id, hash, member -> empty; docs/storage.md), whose members score 1 —
 * for ZSCAN, ZRANDMEMBER and the inputs of ZUNION and friends. */
struct kv_zset_member_walk {
    struct kv_exec *exec;
    MDB_cursor *cursor;
    uint64_t id;
    bool is_set;
    bool valid;
    uint64_t hash; /* the current member's */
    struct kv_zset_element element;
};

int kv_zset_member_walk_open(struct kv_exec *exec, uint64_t id, bool is_set,
                             struct kv_zset_member_walk *walk);
void kv_zset_member_walk_close(struct kv_zset_member_walk *walk);
/* To the first member whose hash is at least `hash`. */
int kv_zset_member_walk_seek(struct kv_zset_member_walk *walk, uint64_t hash);
int kv_zset_member_walk_next(struct kv_zset_member_walk *walk);
/* The member index key of a member whose hash is known (a set's when is_set). */
void kv_zset_hashed_member_key(struct kv_item_key *key, uint64_t id, bool is_set, uint64_t hash,
                               const uint8_t *member, size_t member_bytes);
/* A score as the member index stores it (8 bytes, IEEE little-endian). */
double kv_zset_score_decode(const uint8_t *in);

/* kv_lookup for a sorted set; replies WRONGTYPE itself when the key holds another type. */
int kv_zset_lookup(struct kv_exec *exec, const struct kv_arg *key, struct kv_record *record);
/* The score index key of a member (member NULL, 0: where a score's members start). */
void kv_zset_score_key(struct kv_item_key *key, uint64_t id, uint64_t order, const uint8_t *member,
                       size_t member_bytes);
/* The 8-byte order-preserving form of a score (-0.0 as 0.0), and back. */
uint64_t kv_zset_score_order(double score);
double kv_zset_score_from_order(uint64_t order);
/* A member's score; *found false when absent (or longer than any member can be). */
int kv_zset_score_get(struct kv_exec *exec, uint64_t id, const uint8_t *member, size_t member_bytes,
                      double *score, bool *found);
/* Adds a member that is not in the set (both indexes); `member` must not point into the map.
 * The caller counts it in record->count. */
int kv_zset_element_insert(struct kv_exec *exec, uint64_t id, double score, const uint8_t *member,
                           size_t member_bytes);
/* Removes a member known to be in the set with this score (both indexes); `member` may point
 * into the map. The caller uncounts it. */
int kv_zset_element_remove(struct kv_exec *exec, uint64_t id, double score, const uint8_t *member,
                           size_t member_bytes);
void kv_zset_reply_score(struct kv_exec *exec, double score);
void kv_zset_reply_element(struct kv_exec *exec, const struct kv_zset_element *element,
                           bool with_score);
/* The array a reply of `count` elements starts with: pairs when with_scores (flat in RESP2,
 * [member, score] pairs in RESP3, which kv_zset_reply_element opens). */
void kv_zset_reply_header(struct kv_exec *exec, uint64_t count, bool with_scores);
/* The storage error for a sorted set whose indexes disagree with its record. */
int kv_zset_corrupt(struct kv_exec *exec, const char *what);

int kv_zset_walk_open(struct kv_exec *exec, uint64_t id, struct kv_zset_walk *walk);
void kv_zset_walk_close(struct kv_zset_walk *walk);
int kv_zset_walk_first(struct kv_zset_walk *walk);
int kv_zset_walk_last(struct kv_zset_walk *walk);
int kv_zset_walk_next(struct kv_zset_walk *walk);
int kv_zset_walk_prev(struct kv_zset_walk *walk);
/* Moves forward (reverse false) or backward. */
int kv_zset_walk_step(struct kv_zset_walk *walk, bool reverse);
/* To the first element at or after (ordered score, member) — member NULL: the first with a
 * score at or above — or to the last element before it (kv_zset_walk_seek_before). */
int kv_zset_walk_seek(struct kv_zset_walk *walk, uint64_t order, const uint8_t *member,
                      size_t member_bytes);
int kv_zset_walk_seek_before(struct kv_zset_walk *walk, uint64_t order, const uint8_t *member,
                             size_t member_bytes);
/* To the element of this rank (0-based, rank < count, the set's size), from the nearer end. */
int kv_zset_walk_rank(struct kv_zset_walk *walk, uint64_t rank, uint64_t count);

/* Elements gathered in memory: a *STORE's result before it replaces the destination, the
 * result of ZUNION/ZINTER/ZDIFF before it is sorted, ZRANDMEMBER's picks. Members are copied
 * into the result's own arena, so nothing points into the map. With `indexed` (set before the
 * first add) a hash table finds members again (kv_zset_result_find). */
struct kv_zset_entry {
    double score;
    uint64_t hash; /* kv_key_hash of the member */
    size_t offset; /* into bytes */
    size_t member_bytes;
};

struct kv_zset_result {
    struct kv_zset_entry *entries;
    size_t count;
    size_t capacity;
    uint8_t *bytes;
    size_t bytes_used;
    size_t bytes_capacity;
    bool indexed;
    size_t *slots; /* entry index + 1, 0 empty; slot_count is a power of two */
    size_t slot_count;
};

void kv_zset_result_init(struct kv_zset_result *result, bool indexed);
void kv_zset_result_free(struct kv_zset_result *result);
/* Appends a member (not checked for duplicates unless indexed, where the caller finds
 * first); KV_ERROR_NO_MEMORY when memory ran out. */
int kv_zset_result_add(struct kv_zset_result *result, uint64_t hash, const uint8_t *member,
                       size_t member_bytes, double score);
/* The entry holding this member, or NULL (indexed results only). */
struct kv_zset_entry *kv_zset_result_find(struct kv_zset_result *result, uint64_t hash,
                                          const uint8_t *member, size_t member_bytes);
const uint8_t *kv_zset_result_member(const struct kv_zset_result *result,
                                     const struct kv_zset_entry *entry);
/* Sorts by score, then member bytes (Redis's order); the index is dropped. */
void kv_zset_result_sort(struct kv_zset_result *result);
/* Replies the entries as an array: member (and score) each. */
void kv_zset_result_reply(struct kv_exec *exec, const struct kv_zset_result *result,
                          bool with_scores);
/* Replaces whatever `destination` holds with a sorted set of the result's members (deletes it
 * when the result is empty, and drops its time to live as Redis's SET does) and replies the
 * size, notifying `event` (zunionstore, zrangestore, ...), or "del" when it deleted a key.
 * The destination was checked with kv_key_writable. */
int kv_zset_result_store(struct kv_exec *exec, const struct kv_arg *destination,
                         const struct kv_zset_result *result, const char *event);

#endif
