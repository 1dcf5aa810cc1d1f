/*
 * kv_internal.h — what kv's own files share: the struct kv, the execution context handed to
 * command handlers, and the helpers through which handlers touch LMDB.
 *
 * Storage layout (docs/storage.md has the whole of it). One LMDB environment (a directory
 * with data.mdb) holds these named databases:
 *   "data"    every user key, stored as the 8-byte big-endian XXH3-64 hash of the key followed
 *             by the key itself, so that LMDB's order is hash order — the order SCAN walks,
 *             and the cursor SCAN returns is simply the hash of the next key to visit. The
 *             value is a record (record.c): type, flags, an optional deadline, then a string's
 *             bytes or a collection's header (its id, member count, list head);
 *   "items"   the members of every collection, under the collection's 8-byte big-endian id
 *             then the type's own suffix (hash: field; set: member; list: position; sorted
 *             set: member, and score then member);
 *   "expires" the deadline index: 8-byte big-endian deadline + the key's 8-byte hash, with
 *             the user keys as sorted duplicates — what active expiry walks in time order;
 *   "trash"   ids of deleted collections whose items are still being freed, a few per entry;
 *   "scripts" a script's SHA1 (40 lowercase hex digits) -> its body (SCRIPT LOAD, EVAL);
 *   "functions" 'l' + a library's lowercase name -> its code, 'f' + a function's lowercase
 *             name -> its library's lowercase name (FUNCTION LOAD; script.c);
 *   "lww"     only with options.lww_stamps (the lecture's lww mode): user key → the stamp
 *             of its latest write and a tombstone flag (lww.c);
 *   "meta"    "applied" → applied index and term (2 × u64 little-endian), "clock" → the
 *             replicated clock (u64 ms), "next_id" → the next collection id, all written in the
 *             same transaction as the data they describe; "format" → u32 storage format;
 *             "notify" → notify-keyspace-events (pubsub.c), written by its own entry.
 *
 * Handlers return 0 when they replied (an error reply included) and a negative enum kv_error
 * only when storage failed, in which case the caller aborts the transaction.
 */
#ifndef RAFTKV_KV_INTERNAL_H
#define RAFTKV_KV_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "kv/kv.h"

#define KV_KEY_HASH_BYTES         8
#define KV_STORED_KEY_MAX_BYTES   (KV_KEY_HASH_BYTES + KV_MAX_KEY_BYTES)
#define KV_STORAGE_FORMAT_VERSION 3
#define KV_ERROR_MESSAGE_BYTES    256
#define KV_PATH_BYTES             4096
#define KV_DATA_FILE_NAME         "data.mdb" /* LMDB's file in the database directory */
#define KV_LOCK_FILE_NAME         "lock.mdb" /* LMDB's reader table */
/* LMDB's reader table for its default 126 readers is about 8 KiB; a larger file only gives
 * room for more readers (LMDB sizes the table from the file it finds). */
#define KV_LOCK_FILE_BYTES (64 * 1024)
#define KV_FILE_MODE       0644
/* The scratch buffer is kept between batches up to this size, and freed above it, so one
 * large SETRANGE does not pin hundreds of megabytes. */
#define KV_SCRATCH_RETAIN_BYTES (1024 * 1024)
#define KV_INT64_TEXT_BYTES     21 /* "-9223372036854775808" plus a terminator */
#define KV_SIGNALS_MAX_BYTES    (64 * 1024)

#define KV_MAX_DBS       16 /* LMDB's named databases: the layout's, with room to grow */
#define KV_UNSETTLED_MAX 4  /* collections one command changes: SMOVE and LMOVE touch two */

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
    MDB_dbi items_dbi;
    MDB_dbi expires_dbi;
    MDB_dbi trash_dbi;
    MDB_dbi sessions_dbi; /* exactly-once writes (session.c) */
    MDB_dbi session_replies_dbi;
    MDB_dbi session_times_dbi;
    MDB_dbi acl_dbi;         /* ACL users: name → canonical rules (acl.c) */
    uint64_t acl_generation; /* see kv_acl_generation */
    MDB_dbi scripts_dbi;     /* SCRIPT LOAD's and EVAL's scripts by SHA1 (script.c) */
    MDB_dbi functions_dbi;   /* FUNCTION LOAD's libraries and their functions' index */
    MDB_dbi lww_dbi;         /* options.lww_stamps only: key → stamp, tombstone (lww.c) */
    MDB_txn *read_txn;       /* reset between reads, renewed for the next (MDB_NOTLS) */
    /* Read-held by kv_snapshot_export() and kv_sync() for their whole length, on their own
     * threads (they may overlap); write-held by kv_snapshot_import(), which closes and
     * reopens the environment. */
    pthread_rwlock_t env_lock;
    /* Held while the map is grown (remapped), and by anything on another thread that must not
     * meet a remap: the export's start of its read transaction. */
    pthread_mutex_t map_lock;
    uint64_t map_bytes;
    /* map.c's allocator: a thread that allocates data.mdb ahead of the map, so that the
     * applying thread only remaps (allocated_bytes ≥ map_bytes: the file's allocated blocks). */
    uint64_t allocated_bytes;
    struct {
        pthread_t thread;
        bool running; /* started and not yet joined */
        _Atomic bool done;
        int fd;
        uint64_t from;
        uint64_t to;
        int result;
        uint64_t retry_ms; /* after a failed allocation: not before this (monotonic) */
    } allocator;
    uint64_t used_bytes;
    uint64_t applied_index;
    uint64_t applied_term;
    uint64_t clock_ms;   /* the replicated clock: the largest entry stamp applied */
    uint64_t next_id;    /* the next collection id (as of the last applied batch) */
    uint64_t read_draws; /* seeds reads' random draws, which need variety, not agreement */
    /* Keys whose list or sorted set got members since kv_take_signals last ran: what wakes
     * blocked pops. Entries are u32 length + key bytes; past KV_SIGNALS_MAX_BYTES only
     * `signals_overflow` is set (every waiter is then worth a try). */
    struct kv_buffer signals;
    size_t signals_used;
    bool signals_overflow;
    /* Messages published by the batches applied since kv_take_messages last ran (pubsub.c):
     * entries of u32 channel length, u32 message length, channel, message — only those with
     * receivers on this node when they were published. */
    struct kv_buffer messages;
    size_t messages_used;
    kv_receivers_fn receivers; /* the host's count of its subscribers (NULL: none) */
    void *receivers_context;
    unsigned notify_flags; /* notify-keyspace-events (enum kv_notify_class), meta "notify" */
    struct kv_arg *argv;   /* decoded arguments of the entry being applied */
    size_t argv_capacity;
    struct kv_buffer scratch;       /* APPEND / SETRANGE build their new value here */
    struct kv_buffer map_copy;      /* bytes from the map copied aside before a put (record.c) */
    struct kv_buffer session_reply; /* a session write's reply, as it is kept (session.c) */
    char error_message[KV_ERROR_MESSAGE_BYTES];
};

struct kv_exec {
    struct kv *kv;
    MDB_txn *txn;
    const struct kv_reply *reply;
    bool writable;
    /* The time every deadline is compared with: the replicated clock after this entry's
     * stamp (a write), or the reader's clock, never below the replicated one (a read). */
    uint64_t now_ms;
    uint64_t random_state;     /* kv_random(): seeded by the entry's index and term */
    uint64_t index;            /* the entry being applied (0 for a read) */
    const uint8_t *entry_data; /* its bytes, which argv points into (stable while it runs) */
    bool in_transaction;       /* inside MULTI/EXEC: blocking commands do not wait */
    /* Set by a caller whose replies feed back into state (a script's redis.call): PUBLISH then
     * replies 0, not this node's receivers, which differ between replicas (design note 18). */
    bool hide_receivers;
    size_t entry_bytes;
    /* Collections whose items changed and whose record has not been written since: empty
     * again when each command ends (kv_dispatch checks), so every change moves a version. */
    uint64_t unsettled_ids[KV_UNSETTLED_MAX];
    size_t unsettled_count;
};

/* A user key as stored: hash prefix and key bytes. */
struct kv_stored_key {
    uint8_t bytes[KV_STORED_KEY_MAX_BYTES];
    size_t bytes_used;
};

/* Fills *stored; false when the key is longer than KV_MAX_KEY_BYTES. */
bool kv_key_encode(const struct kv_arg *key, struct kv_stored_key *stored);
uint64_t kv_key_hash(const uint8_t *key, size_t key_bytes);

/* ---- records: what a user key holds (record.c) ---- */

enum kv_type {
    KV_TYPE_STRING = 0,
    KV_TYPE_HASH = 1,
    KV_TYPE_LIST = 2,
    KV_TYPE_SET = 3,
    KV_TYPE_ZSET = 4,
};
#define KV_TYPE_COUNT 5

#define KV_ERROR_TEXT_WRONG_TYPE "WRONGTYPE Operation against a key holding the wrong kind of value"
/* Members, fields and list elements are LMDB keys behind an 8-byte id (and, for a sorted
 * set's score index, a tag and the score). */
#define KV_ID_BYTES                   8
#define KV_MAX_MEMBER_BYTES           494
#define KV_ITEM_KEY_MAX_BYTES         (KV_ID_BYTES + 1 + 8 + KV_MAX_MEMBER_BYTES)
#define KV_ERROR_TEXT_MEMBER_TOO_LONG "ERR member exceeds the maximum length of 494 bytes"
/* Where a new list's first element goes: positions grow both ways from the middle. */
#define KV_LIST_MIDDLE (UINT64_C(1) << 63)

/* A live key's record. For a string, value points into the map (valid until the next write
 * in the transaction); for a collection, its items are under `id` in the items database. */
struct kv_record {
    enum kv_type type;
    uint64_t deadline_ms; /* 0: no time to live */
    const uint8_t *value;
    size_t value_bytes;
    uint64_t id;    /* collections: the items' prefix */
    uint64_t count; /* collections: members, fields or elements (never 0 when stored) */
    uint64_t head;  /* lists: the position of the first element */
    /* The index of the entry that last wrote the record (0: before format 3). Writes set it
     * themselves; what a caller puts here is ignored. */
    uint64_t version;
};

enum kv_lookup {
    KV_LOOKUP_ABSENT = 0,     /* absent, expired, or a key too long to exist */
    KV_LOOKUP_FOUND = 1,      /* *record filled */
    KV_LOOKUP_WRONG_TYPE = 2, /* present, of another type than asked (record filled) */
};

/* Looks a key up. `type` is the type the caller wants, or -1 for any. Returns an enum
 * kv_lookup, or a negative enum kv_error when storage failed. A key past its deadline is
 * absent; in a write it is also deleted there and then (an effect of the entry, the same on
 * every replica). */
int kv_lookup(struct kv_exec *exec, const struct kv_arg *key, int type, struct kv_record *record);
/* The record under a key as stored, expired or not, and deleting nothing (WATCH's check). */
int kv_raw_lookup(struct kv_exec *exec, const struct kv_arg *key, struct kv_record *record,
                  bool *found);
/* Writes a string under key, replacing whatever the key held, with this deadline (0: none). */
int kv_string_store(struct kv_exec *exec, const struct kv_arg *key, const uint8_t *data,
                    size_t data_bytes, uint64_t deadline_ms);
/* Fills *record for a new, empty collection of `type` under an absent key, with a fresh id.
 * Nothing is written until kv_collection_store. */
void kv_collection_new(struct kv_exec *exec, enum kv_type type, struct kv_record *record);
/* Writes a collection's record after its members changed; a count of 0 deletes the key, as
 * Redis removes an emptied collection. Every command that changes a collection's items must
 * call it before it ends, even when the count stayed: the write moves the key's version, which
 * WATCH compares (kv_dispatch asserts it). */
int kv_collection_store(struct kv_exec *exec, const struct kv_arg *key,
                        const struct kv_record *record);
/* kv_collection_store when the record's items changed in this command, else nothing: for a
 * command that may or may not have changed them (HSET over equal fields, ZADD of known
 * scores). */
int kv_collection_settle(struct kv_exec *exec, const struct kv_arg *key,
                         const struct kv_record *record);
/* Deletes a key whatever it holds; a collection's items are freed a few per entry later. */
int kv_key_delete(struct kv_exec *exec, const struct kv_arg *key, bool *deleted);
/* Changes the deadline (0: persist) of a live key whose record was just looked up. */
int kv_record_set_deadline(struct kv_exec *exec, const struct kv_arg *key, struct kv_record *record,
                           uint64_t deadline_ms);
/* Stores a record under key as is (COPY, RENAME): the caller gives it its own id. */
int kv_record_store(struct kv_exec *exec, const struct kv_arg *key, const struct kv_record *record);
/* Decodes a stored record (KV_ERROR_CORRUPT when malformed), for walks over "data". */
int kv_record_decode(struct kv *kv, const MDB_val *value, struct kv_record *record);
bool kv_record_expired(const struct kv_exec *exec, const struct kv_record *record);
/* "string", "hash", "list", "set", "zset" (TYPE's answers); -1 for another name. */
const char *kv_type_name(enum kv_type type);
int kv_type_from_name(const struct kv_arg *name);
/* Removes the index entry (deadline, key) if there is one (a stale hint active expiry met). */
int kv_expires_forget(struct kv_exec *exec, const struct kv_arg *key, uint64_t deadline_ms);
/* Frees up to `budget` items of deleted collections (apply.c calls it after each entry). */
int kv_trash_collect(struct kv_exec *exec, size_t budget);
void kv_reply_wrong_type(struct kv_exec *exec);
/* Whether a key of this length may be written; replies the error when not. */
bool kv_key_writable(struct kv_exec *exec, const struct kv_arg *key);
/* Whether a member of this length may be written; replies the error when not. */
bool kv_member_writable(struct kv_exec *exec, const struct kv_arg *member);

/* An item's LMDB key: the collection's id, big-endian, then `suffix`. */
struct kv_item_key {
    uint8_t bytes[KV_ITEM_KEY_MAX_BYTES];
    size_t bytes_used;
};
void kv_item_key(struct kv_item_key *out, uint64_t id, const uint8_t *suffix, size_t suffix_bytes);
/* Appends to an item key (a tag, a score); the total stays within KV_ITEM_KEY_MAX_BYTES. */
void kv_item_key_append(struct kv_item_key *key, const uint8_t *bytes, size_t bytes_count);
int kv_item_get(struct kv_exec *exec, const struct kv_item_key *key, MDB_val *value, bool *found);
int kv_item_put(struct kv_exec *exec, const struct kv_item_key *key, const uint8_t *data,
                size_t data_bytes);
int kv_item_delete(struct kv_exec *exec, const struct kv_item_key *key, bool *deleted);
/* For a caller that deletes items through its own cursor: what kv_item_put/delete note. */
void kv_items_changed(struct kv_exec *exec, uint64_t id);
/* A cursor on the items database for this transaction (the caller closes it). */
int kv_item_cursor(struct kv_exec *exec, MDB_cursor **cursor);
/* The id of an item key (its first 8 bytes). */
uint64_t kv_item_id(const MDB_val *item_key);
void kv_put_be64(uint8_t *out, uint64_t value);
uint64_t kv_get_be64(const uint8_t *in);

/* One of two words (LEFT|RIGHT, MIN|MAX, any case): *is_low says which; otherwise replies a
 * syntax error and returns false. */
bool kv_parse_side(struct kv_exec *exec, const struct kv_arg *arg, const char *low,
                   const char *high, bool *is_low);

/* LMPOP, ZMPOP and their blocking forms: numkeys (at argv[numkeys_at]) key... LOW|HIGH
 * [COUNT count], in Redis 7.0's order of checks and with its errors. */
struct kv_mpop {
    size_t first_key;
    size_t key_count;
    bool low;       /* LEFT, or MIN */
    uint64_t count; /* COUNT, 1 when not given */
};
bool kv_mpop_parse(struct kv_exec *exec, size_t argc, const struct kv_arg *argv, size_t numkeys_at,
                   const char *low, const char *high, struct kv_mpop *mpop);

/* ---- SCAN-style iteration (keyspace.c), shared by HSCAN, SSCAN and ZSCAN ---- */

#define KV_SCAN_DEFAULT_COUNT 10

struct kv_scan_options {
    uint64_t count;             /* COUNT (default KV_SCAN_DEFAULT_COUNT) */
    const struct kv_arg *match; /* MATCH, or NULL for every element ("*" too) */
    int type;                   /* SCAN's TYPE: -1 any, else an enum kv_type */
    bool type_matches;          /* false: TYPE named a type no key has */
};

/* A cursor as Redis reads it (strtoul); false for an invalid cursor. */
bool kv_scan_cursor_parse(const struct kv_arg *arg, uint64_t *cursor);
/* COUNT and MATCH (and TYPE when allow_type) from argv[first], each with a value, any order,
 * the last one wins; replies Redis's error and returns false otherwise. */
bool kv_scan_options_parse(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                           size_t first, bool allow_type, struct kv_scan_options *options);
/* The cursor as SCAN replies it: a bulk string of decimal digits. */
void kv_reply_scan_cursor(struct kv_exec *exec, uint64_t cursor);

/* ---- strings and expiry (strings.c, expire.c) ---- */

/* kv_lookup for a string; replies WRONGTYPE itself when the key holds another type. */
int kv_string_lookup(struct kv_exec *exec, const struct kv_arg *key, struct kv_record *record);
/* kv_string_store, except that a deadline already passed deletes the key instead. */
int kv_string_store_until(struct kv_exec *exec, const struct kv_arg *key, const uint8_t *data,
                          size_t data_bytes, uint64_t deadline_ms);

enum kv_expiry_unit {
    KV_EXPIRY_SECONDS,    /* EX: relative */
    KV_EXPIRY_MS,         /* PX: relative */
    KV_EXPIRY_AT_SECONDS, /* EXAT: Unix time */
    KV_EXPIRY_AT_MS,      /* PXAT: Unix time */
};
/* EX, PX, EXAT or PXAT (any case). */
bool kv_expiry_unit_parse(const struct kv_arg *word, enum kv_expiry_unit *unit);
/* Turns a time in `unit` into an absolute deadline (relative ones from exec->now_ms). Replies
 * Redis's error naming `command` ("ERR invalid expire time in 'set' command") and returns
 * false for a value that is not an integer, not positive, or overflows. */
bool kv_expiry_deadline(struct kv_exec *exec, const char *command, enum kv_expiry_unit unit,
                        const struct kv_arg *value, uint64_t *deadline_ms);

/* ---- blocking commands (blocking.c) ---- */

/* A blocking command's timeout argument (float seconds) in ms, 0 for ever; replies Redis's
 * error and returns -1 when it is not valid (exec NULL: no reply). */
int kv_blocking_timeout_parse(struct kv_exec *exec, const struct kv_arg *arg, uint64_t *timeout_ms);

/* ---- keyspace notifications (pubsub.c) ---- */

/* Emits Redis's keyspace notification `event` of `class` (enum kv_notify_class) for key, if
 * notify-keyspace-events enables it: "__keyspace@0__:<key>" -> event and
 * "__keyevent@0__:<event>" -> key, handed to the host with the published messages. Writes
 * only; one call per event, after the change it reports. */
void kv_notify(struct kv_exec *exec, unsigned class, const char *event, const struct kv_arg *key);
/* A removal's event (hdel, srem, lpop, ...), then "del" when it emptied the key, which Redis
 * then deletes. */
void kv_notify_removal(struct kv_exec *exec, unsigned class, const char *event,
                       const struct kv_arg *key, bool emptied);
/* Forgets the messages kept since `used` (a batch that failed keeps none). */
void kv_messages_truncate(struct kv *kv, size_t used);

/* ---- numbers (number.c): Redis 7.0's float syntax and formatting ---- */

#define KV_ERROR_TEXT_NOT_FLOAT   "ERR value is not a valid float"
#define KV_ERROR_TEXT_NAN         "ERR increment would produce NaN or Infinity"
#define KV_DOUBLE_TEXT_BYTES      32
#define KV_LONG_DOUBLE_TEXT_BYTES 5200 /* "%.17Lf" of the largest long double, with room */
/* strtod/strtold under Redis's rules: the whole argument, no leading space, not NaN, not out
 * of range. */
bool kv_parse_double(const struct kv_arg *arg, double *value);
bool kv_parse_long_double(const struct kv_arg *arg, long double *value);
/* "%.17g", and "inf"/"-inf", as Redis 7.0 replies a double (ZSCORE). Returns the length. */
size_t kv_format_double(double value, char text[KV_DOUBLE_TEXT_BYTES]);
/* "%.17Lf" with trailing zeros (and a trailing '.') cut, "-0" as "0": INCRBYFLOAT's value.
 * Returns the length, 0 when it does not fit. */
size_t kv_format_long_double(long double value, char *text, size_t capacity);
/* INCRBYFLOAT's and HINCRBYFLOAT's step: value + increment, formatted into text; false (reply
 * KV_ERROR_TEXT_NAN) when the sum is NaN or infinite. */
bool kv_long_double_add(long double value, long double increment,
                        char text[KV_LONG_DOUBLE_TEXT_BYTES], size_t *text_bytes);

/* The entry's deterministic generator (splitmix64): the same draws on every replica. */
uint64_t kv_random(struct kv_exec *exec);

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
int kv_meta_check_format(MDB_txn *txn, MDB_dbi meta_dbi, bool writable, uint32_t *version);
int kv_meta_write_format(MDB_txn *txn, MDB_dbi meta_dbi);
/* The replicated clock and the next collection id, stored with the applied index. */
int kv_meta_write_state(MDB_txn *txn, MDB_dbi meta_dbi, uint64_t clock_ms, uint64_t next_id);
int kv_meta_read_state(MDB_txn *txn, MDB_dbi meta_dbi, uint64_t *clock_ms, uint64_t *next_id);
/* notify-keyspace-events as stored (0 when never set). */
int kv_meta_write_notify(MDB_txn *txn, MDB_dbi meta_dbi, unsigned flags);
int kv_meta_read_notify(MDB_txn *txn, MDB_dbi meta_dbi, unsigned *flags);
/* Opens every named database of kv's layout in txn (flags: MDB_CREATE or 0). */
int kv_dbis_open(MDB_txn *txn, struct kv *kv, unsigned flags);
/* Measures the pages in use as of txn into kv->used_bytes. */
int kv_measure_used(struct kv *kv, MDB_txn *txn);
/* map.c: the data file's blocks and LMDB's map, one size. kv_map_prepare() allocates the
 * lock file before LMDB opens the environment and says the map to open it with;
 * kv_map_allocate() allocates the data file as far as the opened map; kv_reserve_map() grows both
 * ahead of a batch that adds up to `batch_bytes`, when nothing reads through the map and the disk
 * has room (else the batch runs in what there is); kv_grow_full_map() grows them after a batch met
 * MDB_MAP_FULL (KV_ERROR_STORAGE: the disk is full; KV_ERROR_MAP_FULL: map_lock stayed held). */
int kv_map_prepare(struct kv *kv, uint64_t *map_bytes);
int kv_map_allocate(struct kv *kv);
void kv_reserve_map(struct kv *kv, uint64_t batch_bytes);
void kv_map_allocator_join(struct kv *kv);
int kv_grow_full_map(struct kv *kv, unsigned run);
/* A sink that drops every reply: for entries no client waits for. */
extern const struct kv_reply kv_discard_reply;

/* Runs one resolved command (unknown names and wrong arity are replied, not run). */
int kv_dispatch(struct kv_exec *exec, size_t argc, const struct kv_arg *argv);

/* For the fuzzers (tests/fuzz): an ACL user's rules in canonical form, or KV_ERROR_INVALID
 * when one is invalid (acl.c); a kept session reply checked whole, then replayed into reply,
 * or false when it is malformed (session.c). */
int kv_acl_canonical(const char *rules, size_t rules_bytes, char *out, size_t out_bytes);
bool kv_session_reply_replay(const uint8_t *data, size_t bytes, const struct kv_reply *reply);

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
KV_HANDLER(kv_command_expire);
KV_HANDLER(kv_command_pexpire);
KV_HANDLER(kv_command_expireat);
KV_HANDLER(kv_command_pexpireat);
KV_HANDLER(kv_command_ttl);
KV_HANDLER(kv_command_pttl);
KV_HANDLER(kv_command_expiretime);
KV_HANDLER(kv_command_pexpiretime);
KV_HANDLER(kv_command_persist);
KV_HANDLER(kv_command_setex);
KV_HANDLER(kv_command_psetex);
KV_HANDLER(kv_command_getex);
KV_HANDLER(kv_command_raft_expire);
KV_HANDLER(kv_command_raft_lww_put);
KV_HANDLER(kv_command_raft_lww_del);
/* Opens the "lww" database when options.lww_stamps asks for it (lww.c), else nothing. */
int kv_lww_open(MDB_txn *txn, struct kv *kv, unsigned flags);

#endif
