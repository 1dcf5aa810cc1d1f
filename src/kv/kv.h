/*
 * kv.h — raftkv's data model: the command table and the replicated state machine over LMDB.
 *
 * Happy path. The server parses a client's request into argv, resolves it against the command
 * table (kv_command_resolve: unknown names and wrong arity are answered here, with Redis's
 * exact error texts), and then either
 *   - for a KV_COMMAND_WRITE command: encodes argv into the bytes of one Raft entry
 *     (kv_command_encode), proposes it, and, once the entry is committed, hands it to
 *     kv_apply_batch() together with the other committed entries of the same ready: the whole
 *     batch runs in ONE LMDB write transaction that also stores the applied index and term;
 *   - for a KV_COMMAND_READ command: waits for the read index, then calls kv_read(), which runs
 *     the command in an LMDB read-only transaction.
 * Replies go to a struct kv_reply sink that the server implements with RESP; kv knows nothing
 * of the wire format.
 *
 * Failure modes. A command that fails (INCR on a non-integer, a syntax error) replies its error
 * and changes nothing; in a batch it still advances the applied index, so every replica makes
 * the same decision. Entry bytes that do not decode are corruption (KV_ERROR_CORRUPT): the
 * batch is refused as a whole and nothing of it is applied. A full LMDB map
 * (KV_ERROR_MAP_FULL, which the map's growth makes unreachable unless a remap is held off
 * for longer than map.c waits) or a failed write (KV_ERROR_STORAGE: a full disk) also refuses the
 * whole batch; the host must not skip it, since that would make the replica diverge: it stops
 * applying, reopens the database and applies the same entries again later.
 *
 * Threading. One thread uses a struct kv at a time, except kv_snapshot_export(), which may
 * run on another thread while that one keeps applying and reading (LMDB's MVCC lets a
 * reader copy a consistent view while a writer commits) — but never at the same time as
 * kv_close(), which closes the environment it copies (kv_snapshot_import() waits for it).
 * kv_sync() may run on another thread the same way. kv also runs a thread of its own that
 * allocates the data file ahead of its map (map.c); closing the environment joins it.
 *
 * Ownership. kv_open() allocates the struct kv; kv_close() frees it. Arguments (struct kv_arg)
 * are borrowed for the duration of a call. Bytes passed to a reply sink are valid only during
 * that callback: the sink copies what it keeps.
 */
#ifndef RAFTKV_KV_H
#define RAFTKV_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"
#include "raft/raft.h"

/* X(name, value, text) per code: enum kv_error and kv_error_string() are both expanded from
 * this list, so a code cannot lack its text. */
#define KV_ERRORS(X)                                                                               \
    X(KV_OK, 0, "ok")                                                                              \
    X(KV_ERROR_NO_MEMORY, -1, "out of memory")                                                     \
    /* a bad argument from the caller (a programming error) */                                     \
    X(KV_ERROR_INVALID, -2, "invalid argument")                                                    \
    /* entry or snapshot bytes are malformed */                                                    \
    X(KV_ERROR_CORRUPT, -3, "corrupt entry or snapshot")                                           \
    /* a format version or command this build cannot apply */                                      \
    X(KV_ERROR_UNSUPPORTED, -4, "unsupported format version or command")                           \
    /* the LMDB map is full: raise map_size_bytes and restart */                                   \
    X(KV_ERROR_MAP_FULL, -5, "database map is full (raise map_size_bytes)")                        \
    /* one batch dirtied more pages than LMDB allows: split it */                                  \
    X(KV_ERROR_TXN_FULL, -6, "transaction too large (split the batch)")                            \
    /* any other LMDB or file system failure; see kv_last_error */                                 \
    X(KV_ERROR_STORAGE, -7, "storage failure")                                                     \
    /* a batch does not continue at applied index + 1 */                                           \
    X(KV_ERROR_OUT_OF_ORDER, -8, "entries do not continue at the applied index")                   \
    /* an encoding does not fit its limit or the caller's buffer */                                \
    X(KV_ERROR_TOO_BIG, -9, "too big")                                                             \
    /* a failed snapshot import left no open database */                                           \
    X(KV_ERROR_CLOSED, -10, "database is closed after a failed snapshot import")

enum kv_error {
#define KV_ERROR_ENUMERATOR(name, value, text) name = value,
    KV_ERRORS(KV_ERROR_ENUMERATOR)
#undef KV_ERROR_ENUMERATOR
};

/* The code's text from KV_ERRORS; "unknown error" for any other value. */
const char *kv_error_string(int error);

/* ---- limits ---------------------------------------------------------------------------- */

/* LMDB's default maximum key is 511 bytes; kv prefixes every key with its 8-byte hash (the
 * SCAN order), which leaves 503 bytes for the user's key. Writes with a longer key fail with
 * KV_ERROR_TEXT_KEY_TOO_LONG; reads simply do not find such a key. docs/storage.md has the
 * whole layout. */
#define KV_MAX_KEY_BYTES           LIMITS_MAX_KEY_BYTES
#define KV_MAX_COMMAND_ARGS        LIMITS_MAX_ARGUMENTS /* arguments in one encoded command */
#define KV_DEFAULT_MAP_SIZE_BYTES  (16ull << 20)
#define KV_DEFAULT_MAX_VALUE_BYTES LIMITS_MAX_BULK_BYTES /* Redis's proto-max-bulk-len */

/* ---- replies ----------------------------------------------------------------------------- */

/* Error texts exactly as Redis writes them (without RESP's leading '-'). */
#define KV_ERROR_TEXT_SYNTAX             "ERR syntax error"
#define KV_ERROR_TEXT_NOT_INTEGER        "ERR value is not an integer or out of range"
#define KV_ERROR_TEXT_OVERFLOW           "ERR increment or decrement would overflow"
#define KV_ERROR_TEXT_DECREMENT_OVERFLOW "ERR decrement would overflow"
#define KV_ERROR_TEXT_STRING_TOO_LONG    "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
#define KV_ERROR_TEXT_OFFSET_RANGE       "ERR offset is out of range"
#define KV_ERROR_TEXT_INVALID_CURSOR     "ERR invalid cursor"
/* raftkv's own, where Redis has no equivalent. */
#define KV_ERROR_TEXT_KEY_TOO_LONG "ERR key exceeds the maximum length of 503 bytes"

/* Where a command's reply goes. Every callback is required. `error` receives texts such as
 * "ERR syntax error"; `null` is the null bulk string (also inside arrays, as MGET needs);
 * `null_array` the null array (RESP2's *-1: LPOP with a count on a missing key, a blocking
 * pop's timeout); `array` announces that `count` replies follow; `double_text` a double as
 * kv formatted it ("1.5", "inf": a bulk string in RESP2, a double in RESP3); `blocked` says
 * that a blocking command found nothing to take and nothing was replied: the host parks the
 * client and proposes the command again when a key it waits on changes (kv_take_signals).
 * Bytes are valid only during the call. */
struct kv_reply {
    void (*status)(void *context, const char *text, size_t text_bytes);
    void (*error)(void *context, const char *text, size_t text_bytes);
    void (*integer)(void *context, int64_t value);
    void (*bulk)(void *context, const uint8_t *data, size_t data_bytes);
    void (*null)(void *context);
    void (*null_array)(void *context);
    void (*array)(void *context, size_t count);
    void (*double_text)(void *context, const char *text, size_t text_bytes);
    void (*blocked)(void *context);
    /* The shapes RESP3 has and RESP2 flattens: a map of `pairs` field/value pairs (HGETALL),
     * a set (SMEMBERS), and an array of `count` pairs (ZRANGE WITHSCORES), each of which
     * starts with pair() (RESP3: a 2-element array; RESP2: nothing, the pairs are flat). */
    void (*map)(void *context, size_t pairs);
    void (*set)(void *context, size_t count);
    void (*pairs)(void *context, size_t count);
    void (*pair)(void *context);
    /* Optional (NULL: never needed). Forget every reply this sink received from this batch:
     * kv_apply_batch() runs the batch again from its start (see there). */
    void (*rewind)(void *context);
    void *context;
};

/* ---- the command table ------------------------------------------------------------------- */

/* One argument: a binary-safe byte string, borrowed from the caller. */
struct kv_arg {
    const uint8_t *data;
    size_t data_bytes;
};

enum kv_command_flags {
    KV_COMMAND_WRITE = 1u << 0, /* goes through the Raft log; runs in kv_apply_batch */
    KV_COMMAND_READ = 1u << 1,  /* served after a read index; runs in kv_read */
    /* May grow the data (Redis's "denyoom"): refused while the database is above its quota,
     * unless kv_write_may_grow() knows it replaces a value with one no larger. */
    KV_COMMAND_DENY_OOM = 1u << 2,
    /* Proposed by the server itself (active expiry), never accepted from a client. */
    KV_COMMAND_INTERNAL = 1u << 3,
    /* May reply `blocked` and wait (BLPOP...): see kv_blocking_wait. */
    KV_COMMAND_BLOCKING = 1u << 4,
    /* For a batch's page bound (apply.c): may write a copy of stored data as large as
     * everything stored (COPY, the STORE commands, LTRIM's copy, BITOP)... */
    KV_COMMAND_COPIES = 1u << 5,
    /* ...or grow a value to max_value_bytes from an entry of a few bytes (an offset). */
    KV_COMMAND_EXTENDS = 1u << 6,
    /* The keys follow a numkeys argument at argv[1] (LMPOP, ZUNION, ...) or at argv[2]
     * (BLMPOP after its timeout, ZUNIONSTORE after its destination): Redis's movablekeys. */
    KV_COMMAND_NUMKEYS_1 = 1u << 7,
    KV_COMMAND_NUMKEYS_2 = 1u << 8,
    /* The server answers this name itself (PING, ECHO): kv runs it only inside a
     * transaction, and COMMAND lists the server's entry, not this one. */
    KV_COMMAND_QUEUED_ONLY = 1u << 9,
};

struct kv_exec; /* a command's execution context, private to kv */

struct kv_command {
    const char *name; /* lowercase, as Redis prints it in errors */
    size_t name_bytes;
    int arity;      /* Redis's convention: n > 0 exactly n arguments, n < 0 at least -n */
    unsigned flags; /* enum kv_command_flags */
    /* Where the keys are, as COMMAND reports them: first (0: no key), last (-1: the last
     * argument, -2 the one before), step between keys. */
    int first_key;
    int last_key;
    int key_step;
    int (*handler)(struct kv_exec *exec, size_t argc, const struct kv_arg *argv);
    const char *group; /* the list it comes from; kv_command_group() gives Redis's group */
};

/* Case-insensitive lookup; NULL when no command has this name. */
const struct kv_command *kv_command_lookup(const uint8_t *name, size_t name_bytes);
/* Whether COMMAND lists it: not the server's own entries, nor the queued-only doubles. */
bool kv_command_listed(const struct kv_command *command);
/* All commands, for COMMAND COUNT / INFO; *count receives how many. */
const struct kv_command *kv_command_table(size_t *count);
bool kv_command_arity_ok(const struct kv_command *command, size_t argc);
/* Whether the keys follow a numkeys argument (Redis's "movablekeys" flag: LMPOP, ZUNIONSTORE,
 * ...), so that first/last/step cannot say where they are. */
bool kv_command_movable_keys(const struct kv_command *command);
/* The positions in argv of the command's keys (COMMAND GETKEYS, redirects), at most capacity
 * of them; *count 0 for a keyless command. KV_ERROR_INVALID when argv cannot hold the keys
 * its numkeys announces. */
int kv_command_key_positions(const struct kv_command *command, size_t argc,
                             const struct kv_arg *argv, size_t *positions, size_t capacity,
                             size_t *count);
/* Redis's COMMAND DOCS group: "string", "generic", "server", "hash", "list", "set",
 * "sorted-set", "bitmap", "scripting", "pubsub". */
const char *kv_command_group(const struct kv_command *command);

/* Looks argv[0] up and checks arity. On success returns the command; otherwise replies
 * Redis's error ("ERR unknown command ..." or "ERR wrong number of arguments ...") to `reply`
 * and returns NULL. argc must be at least 1. */
const struct kv_command *kv_command_resolve(size_t argc, const struct kv_arg *argv,
                                            const struct kv_reply *reply);
void kv_reply_unknown_command(const struct kv_reply *reply, size_t argc, const struct kv_arg *argv);
void kv_reply_wrong_arity(const struct kv_reply *reply, const struct kv_command *command);

/*
 * The command's bytes in a Raft entry, format version 2 (all integers little-endian):
 *
 *     u8  version            KV_COMMAND_FORMAT_VERSION
 *     u64 stamp_ms           the leader's clock when it proposed the entry (Unix ms); the
 *                            replicated clock (kv_clock_ms) is the largest stamp applied
 *     u32 argc               1 .. KV_MAX_COMMAND_ARGS
 *     argc times:
 *         u32 length         bytes of this argument
 *         length bytes
 *
 * and nothing after. Version 1 (the same without the stamp) still decodes, with stamp 0; an
 * unknown version is refused (KV_ERROR_UNSUPPORTED) rather than guessed at.
 */
#define KV_COMMAND_FORMAT_VERSION 2

/* The exact size kv_command_encode writes, or 0 when argv cannot be encoded (no arguments,
 * too many, or more than UINT32_MAX bytes in total). */
size_t kv_command_encoded_bytes(size_t argc, const struct kv_arg *argv);
/* Writes the encoding into out (capacity_bytes, caller-owned); *written_bytes receives its
 * size. KV_ERROR_TOO_BIG when it does not fit or cannot be encoded. */
int kv_command_encode(size_t argc, const struct kv_arg *argv, uint64_t stamp_ms, uint8_t *out,
                      size_t capacity_bytes, size_t *written_bytes);
/* Parses bytes that came from disk or a peer. On success fills argv[0..*argc) with pointers
 * into `data` (no copy) and *stamp_ms (when not NULL). With argv NULL (or capacity too small)
 * it only validates and counts: *argc receives the count and the result is 0 (argv NULL) or
 * KV_ERROR_TOO_BIG (too small). Any malformed input returns KV_ERROR_CORRUPT, or
 * KV_ERROR_UNSUPPORTED for an unknown version; nothing is read outside data[0..data_bytes). */
int kv_command_decode(const uint8_t *data, size_t data_bytes, struct kv_arg *argv,
                      size_t argv_capacity, size_t *argc, uint64_t *stamp_ms);
/* The same checks, but fills only argv[0 .. min(argv_capacity, *argc)): the first arguments of
 * a command of any length (the dashboard shows a command by its first words). */
int kv_command_decode_head(const uint8_t *data, size_t data_bytes, struct kv_arg *argv,
                           size_t argv_capacity, size_t *argc);

/* ---- the state machine -------------------------------------------------------------------- */

struct kv_options {
    /* LMDB's map, and the data file's allocated size, at least, at open. Both grow together
     * as the data does (map.c): before a batch by a bound on what it adds, and again when
     * it meets the map's end, so that a replica whose file grew larger than its peers'
     * (free pages held by a snapshot's reader) never fails an entry they applied. Only a
     * full disk stops the growth. */
    uint64_t map_size_bytes;
    uint64_t max_value_bytes; /* largest string value; must be equal on every replica */
    /* false: LMDB commits without fsync (MDB_NOSYNC); the WAL is the durability source and
     * the host calls kv_sync() before compacting the log. true: every batch is fsynced. */
    bool sync_each_commit;
    /* The lecture's lww mode (src/replica): keep per-key stamps in the "lww" database, for
     * KV_LWW_PUT_COMMAND and KV_LWW_DELETE_COMMAND. Off for Raft, whose file is unchanged. */
    bool lww_stamps;
};

void kv_options_default(struct kv_options *options);

struct kv;

/* Opens (creating when absent) the database in directory `directory` (created too when
 * absent). options may be NULL for the defaults. *out is owned by the caller: kv_close(). */
int kv_open(const char *directory, const struct kv_options *options, struct kv **out);
void kv_close(struct kv *kv);
/* Deletes the database files in `directory` (not open), so that the next kv_open starts
 * empty: for a state machine that cannot be trusted and is rebuilt from the log. *removed
 * says whether there was a database to delete. */
int kv_discard(const char *directory, bool *removed);

/* Context for the last error a call on kv returned (never NULL). */
const char *kv_last_error(const struct kv *kv);

uint64_t kv_applied_index(const struct kv *kv);
uint64_t kv_applied_term(const struct kv *kv);
/* The replicated clock: the largest entry stamp applied (Unix ms; 0 before any). Deadlines
 * are compared with it when entries apply, so every replica expires the same keys at the
 * same index; it is stored with the applied index and carried by snapshots. */
uint64_t kv_clock_ms(const struct kv *kv);
/* Keys and keys with a deadline, as of the last applied batch (INFO keyspace). */
int kv_key_counts(struct kv *kv, uint64_t *keys, uint64_t *expires);

/* The bytes of the pages that hold data (free pages, which LMDB reuses, not counted), as of
 * the last applied batch: what the space quota compares. */
uint64_t kv_used_bytes(const struct kv *kv);
/* The size of the data file and of LMDB's map, for INFO. */
uint64_t kv_file_bytes(const struct kv *kv);
uint64_t kv_map_bytes(const struct kv *kv);

/* For the leader's quota check before proposing: false when a KV_COMMAND_DENY_OOM write
 * only replaces existing string values with ones no larger (SET, GETSET, MSET), judged on
 * the state applied so far; true otherwise. Never affects how an entry applies. */
bool kv_write_may_grow(struct kv *kv, const struct kv_command *command, size_t argc,
                       const struct kv_arg *argv);

/* Returns the sink for the reply of the entry at (index, term), or NULL when no client waits
 * for it (a follower, a replay): the reply is then discarded. It is asked once per entry per
 * run of the batch, and must hand out the same sink each time. */
typedef const struct kv_reply *(*kv_reply_provider)(void *context, uint64_t index, uint64_t term);

/* Applies committed entries in order in one write transaction that also stores the last
 * entry's index and term as the applied point. Entries at or below the applied index are
 * skipped (a replay after restart); the first one above it must be applied index + 1 and the
 * rest contiguous (else KV_ERROR_OUT_OF_ORDER). NOOP entries only advance the applied index;
 * CONFIG entries store their data for kv_members().
 * Every entry is decoded before any runs, so KV_ERROR_CORRUPT / KV_ERROR_UNSUPPORTED leave
 * no reply sent and nothing applied. A batch that meets the map's end is aborted, the map
 * grown (map.c) and the batch run again from its start, after every sink it was handed has
 * been rewound (kv_reply.rewind; a sink without one must tolerate the replies twice). On
 * KV_ERROR_MAP_FULL, TXN_FULL or STORAGE nothing is applied either, but sinks may already
 * have received replies for earlier entries of the batch: the host must not send them (these
 * errors are fatal for the node). */
int kv_apply_batch(struct kv *kv, const struct raft_entry *entries, size_t count,
                   kv_reply_provider provider, void *provider_context);

/* The data of the latest RAFT_ENTRY_CONFIG entry applied (the cluster's configuration and the
 * host's context, opaque here), kept with the applied index and so carried by snapshots.
 * *data (malloc'd, the caller frees) is NULL when no such entry was ever applied. */
int kv_members(struct kv *kv, uint8_t **data, size_t *data_bytes);

/* Runs a READ command in a read-only transaction and replies to `reply`. Unknown commands and
 * wrong arity are answered with their errors (result 0); a WRITE command is refused with
 * KV_ERROR_INVALID and no reply. Deadlines are compared with the larger of now_ms (the
 * leader's clock; 0 on a follower) and the replicated clock. */
int kv_read(struct kv *kv, size_t argc, const struct kv_arg *argv, uint64_t now_ms,
            const struct kv_reply *reply);

/* ---- blocking commands ------------------------------------------------------------------- */

/* Calls signaled() once for each key whose list or sorted set got members (a push, an add, a
 * rename onto it) since the last call, then forgets them; with key NULL once instead when too
 * many keys changed to list (every waiter should try again). A key may be named twice.
 * signaled NULL only forgets them. */
typedef void (*kv_signal_fn)(void *context, const uint8_t *key, size_t key_bytes);
void kv_take_signals(struct kv *kv, kv_signal_fn signaled, void *context);
/* For a blocking command's argv that replied `blocked`: the keys it waits on are
 * argv[*first_key .. *first_key + *key_count), and *timeout_ms its timeout (0: for ever).
 * false for any other command or a malformed one. */
bool kv_blocking_wait(size_t argc, const struct kv_arg *argv, size_t *first_key, size_t *key_count,
                      uint64_t *timeout_ms);
/* What a blocked command replies when its timeout passes (Redis: a null array, or a null bulk
 * for BLMOVE and BRPOPLPUSH). */
void kv_reply_blocking_timeout(size_t argc, const struct kv_arg *argv,
                               const struct kv_reply *reply);

/* ---- pub/sub and keyspace notifications ------------------------------------------------ */

/*
 * PUBLISH is a write: its entry applies on every replica, and each replica hands the message
 * to its own host, which delivers it to the subscribers connected there — in log order, the
 * same order on every node. Keyspace notifications (notify-keyspace-events) are messages
 * too, emitted by the writes that change keys, through the same hand-over.
 *
 * The hand-over follows kv_take_signals: while a batch applies, kv asks the host how many of
 * its subscribers a message would reach (receivers()), keeps a copy of each message that
 * reaches at least one, and the host drains them with kv_take_messages() after
 * kv_apply_batch returned. A batch that fails keeps none of its messages. What kv stores
 * never depends on the host: PUBLISH's reply (the receivers on the node that answers) is a
 * reply only, and a caller whose replies feed back into state (a script) sets
 * exec->hide_receivers so PUBLISH replies 0 there (docs/design-notes.md, note 18).
 */

/* How many subscribers on this node a message on `channel` reaches (channel subscribers plus
 * matching patterns). Called while an entry applies; must not call back into kv. */
typedef uint64_t (*kv_receivers_fn)(void *context, const uint8_t *channel, size_t channel_bytes);
/* Installs the host's count (NULL: no subscribers anywhere, no message is kept). */
void kv_set_receivers(struct kv *kv, kv_receivers_fn receivers, void *context);
/* Calls published() for each message the batches applied since the last call published, in
 * log order, then forgets them (published NULL only forgets them). Bytes are valid during
 * the call only. */
typedef void (*kv_message_fn)(void *context, const uint8_t *channel, size_t channel_bytes,
                              const uint8_t *message, size_t message_bytes);
void kv_take_messages(struct kv *kv, kv_message_fn published, void *context);

/* notify-keyspace-events, Redis 7.0's classes as bits. */
enum kv_notify_class {
    KV_NOTIFY_KEYSPACE = 1u << 0,  /* K: __keyspace@0__:<key> -> event */
    KV_NOTIFY_KEYEVENT = 1u << 1,  /* E: __keyevent@0__:<event> -> key */
    KV_NOTIFY_GENERIC = 1u << 2,   /* g: del, expire, rename_from, rename_to, persist, ... */
    KV_NOTIFY_STRING = 1u << 3,    /* $ */
    KV_NOTIFY_LIST = 1u << 4,      /* l */
    KV_NOTIFY_SET = 1u << 5,       /* s */
    KV_NOTIFY_HASH = 1u << 6,      /* h */
    KV_NOTIFY_ZSET = 1u << 7,      /* z */
    KV_NOTIFY_EXPIRED = 1u << 8,   /* x: a key deleted because its deadline passed */
    KV_NOTIFY_EVICTED = 1u << 9,   /* e: accepted, never emitted (raftkv does not evict) */
    KV_NOTIFY_STREAM = 1u << 10,   /* t: accepted, never emitted (no streams) */
    KV_NOTIFY_KEY_MISS = 1u << 11, /* m: accepted, never emitted (reads are not in the log) */
    KV_NOTIFY_MODULE = 1u << 12,   /* d: accepted, never emitted (no modules) */
    KV_NOTIFY_NEW = 1u << 13,      /* n: a key created (record.c) */
};
/* A: every class but m and n, as Redis's NOTIFY_ALL. */
#define KV_NOTIFY_ALL                                                                              \
    (KV_NOTIFY_GENERIC | KV_NOTIFY_STRING | KV_NOTIFY_LIST | KV_NOTIFY_SET | KV_NOTIFY_HASH |      \
     KV_NOTIFY_ZSET | KV_NOTIFY_EXPIRED | KV_NOTIFY_EVICTED | KV_NOTIFY_STREAM | KV_NOTIFY_MODULE)
#define KV_NOTIFY_FLAGS_TEXT_BYTES 24 /* the longest format, "g$lshzxetdnKEm", and a NUL */
#define KV_ERROR_TEXT_NOTIFY_FLAGS                                                                 \
    "ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid "     \
    "event class character. Use 'Ag$lshzxeKEtmdn'."

/* Redis's keyspaceEventsStringToFlags: false for a character that is no class. */
bool kv_notify_flags_parse(const uint8_t *text, size_t text_bytes, unsigned *flags);
/* Redis's keyspaceEventsFlagsToString (CONFIG GET): "AKE", "g$K", ... Returns the length. */
size_t kv_notify_flags_format(unsigned flags, char text[KV_NOTIFY_FLAGS_TEXT_BYTES]);
/* The setting as of the last applied batch: the same on every replica at the same index. */
unsigned kv_notify_flags(const struct kv *kv);

/* The internal command CONFIG SET notify-keyspace-events is proposed as: argv[1] is the flags'
 * text. Applied, it stores the setting in the state machine (meta "notify"), so that every
 * replica emits the same events from the same index on, and it survives restarts and
 * travels in snapshots. */
#define KV_NOTIFY_CONFIG_COMMAND "raft.config.notify"

/* ---- active expiry ------------------------------------------------------------------------ */

/* The internal command the leader proposes to delete expired keys: argv is
 * KV_EXPIRE_COMMAND, then pairs of (deadline in ms as decimal text, key). Each key is deleted
 * only if its deadline is still that one and has passed by the entry's clock, so a PERSIST or
 * a new TTL that lands first wins. */
#define KV_EXPIRE_COMMAND "raft.expire"

/* ---- last writer wins (lww.c), for the lecture's foil mode only ------------------------- */

/* The internal commands of --replication lww: KV_LWW_PUT_COMMAND key stamp value and
 * KV_LWW_DELETE_COMMAND key stamp apply only if stamp (KV_LWW_STAMP_BYTES, compared as bytes)
 * is newer than the key's stored one, and reply 1 (applied) or 0 (ignored). */
#define KV_LWW_PUT_COMMAND    "raft.lww.put"
#define KV_LWW_DELETE_COMMAND "raft.lww.del"
#define KV_LWW_STAMP_BYTES    20
/* Calls visit() for the stamped keys in key order from from_key (the first of all when
 * from_key_bytes is 0; from_key itself only when inclusive), at most max of them, until visit
 * returns false. Bytes are valid during the call. KV_ERROR_INVALID without lww_stamps. */
typedef bool (*kv_lww_fn)(void *context, const uint8_t *key, size_t key_bytes, const uint8_t *stamp,
                          bool tombstone);
int kv_lww_walk(struct kv *kv, const uint8_t *from_key, size_t from_key_bytes, bool inclusive,
                size_t max, kv_lww_fn visit, void *context);
/* One key's stamp (*found false when it has none). */
int kv_lww_stamp(struct kv *kv, const uint8_t *key, size_t key_bytes,
                 uint8_t stamp[KV_LWW_STAMP_BYTES], bool *tombstone, bool *found);

/* MULTI/EXEC as one entry (transaction.c): the command name, then for each queued command its
 * argument count in decimal and its arguments. The read-only form runs as a read. */
#define KV_EXEC_COMMAND      "raft.exec"
#define KV_EXEC_READ_COMMAND "raft.exec.ro"
/* Exactly-once writes (session.c): a write of a connection that declared a session is
 * proposed as KV_SESSION_COMMAND, the session's id (1 to KV_SESSION_ID_MAX_BYTES bytes), the
 * write's sequence number in the session (from 1), the lowest number whose reply the client
 * may still ask for again (every one below it was answered), then the write's own arguments.
 * It applies once per (id, number): a retry answers the first reply, kept for the last
 * KV_SESSION_WINDOW writes of a session, KV_SESSION_REPLY_MAX_BYTES at most each, and for
 * KV_SESSION_IDLE_MS of the replicated clock after the session's last write. */
#define KV_SESSION_COMMAND         "raft.session"
#define KV_SESSION_HEADER_ARGS     4
#define KV_SESSION_ID_MAX_BYTES    64
#define KV_SESSION_WINDOW          128
#define KV_SESSION_REPLY_MAX_BYTES (64 * 1024)
#define KV_SESSION_IDLE_MS         (UINT64_C(3600) * 1000)
/* When argv is a session's write, points it at the write itself and returns true. */
bool kv_session_unwrap(size_t *argc, const struct kv_arg **argv);
/* ACL users (acl.c), replicated: the server proposes KV_ACL_SETUSER_COMMAND <name> <rule>...
 * (passwords already hashed: >password and <password become #sha256 and !sha256) and
 * KV_ACL_DELUSER_COMMAND <name>...; it enforces what kv_acl_user_get compiles. */
#define KV_ACL_SETUSER_COMMAND "raft.acl.setuser"
#define KV_ACL_DELUSER_COMMAND "raft.acl.deluser"
#define KV_ACL_NAME_MAX_BYTES  128
#define KV_ACL_MAX_PASSWORDS   16
#define KV_ACL_HASH_BYTES      32 /* SHA-256 */
struct kv_acl_user;
/* The user `name` as of the last applied batch, compiled (*user NULL when there is none);
 * "default", when never set, is compiled from default_rules. The caller frees it. */
int kv_acl_user_get(struct kv *kv, const struct kv_arg *name, const char *default_rules,
                    struct kv_acl_user **user);
void kv_acl_user_free(struct kv_acl_user *user);
/* A user compiled from rules alone, without the database (the default user of a node whose
 * state machine is closed while it recovers). KV_ERROR_INVALID for rules that do not parse. */
int kv_acl_user_compile(const struct kv_arg *name, const char *rules, struct kv_acl_user **user);
/* Moves whenever an ACL entry applies or a snapshot replaces the state: compiled users older
 * than it may be stale. */
uint64_t kv_acl_generation(const struct kv *kv);
typedef void (*kv_acl_user_fn)(void *context, const char *name, size_t name_bytes,
                               const char *rules, size_t rules_bytes);
/* Every stored user in name order, with its canonical rules (ACL LIST). */
int kv_acl_users(struct kv *kv, kv_acl_user_fn visit, void *context);
bool kv_acl_user_on(const struct kv_acl_user *user);
bool kv_acl_user_nopass(const struct kv_acl_user *user);
bool kv_acl_password_matches(const struct kv_acl_user *user, const uint8_t *password, size_t bytes);
/* Every command, every key and every channel: nothing to check. */
bool kv_acl_user_unrestricted(const struct kv_acl_user *user);
/* Whether the user may run the command (subcommand: argv[1] of a container, or NULL). */
bool kv_acl_command_allowed(const struct kv_acl_user *user, const struct kv_arg *name,
                            const struct kv_arg *subcommand);
bool kv_acl_key_allowed(const struct kv_acl_user *user, const struct kv_arg *key);
/* A Pub/Sub channel (literal: a PSUBSCRIBE pattern, which must be one of the user's). */
bool kv_acl_channel_allowed(const struct kv_acl_user *user, const struct kv_arg *channel,
                            bool literal);
void kv_acl_password_hash(const uint8_t *password, size_t bytes, uint8_t hash[KV_ACL_HASH_BYTES]);
/* What ACL GETUSER shows; the strings live as long as the user. */
struct kv_acl_description {
    bool on;
    bool nopass;
    size_t password_count;
    char passwords[KV_ACL_MAX_PASSWORDS][2 * KV_ACL_HASH_BYTES + 1];
    const char *keys;     /* "~a* ~b*", "~*", or "" */
    const char *channels; /* "&*", "&a", or "" */
    const char *commands; /* "-@all +get" */
};
void kv_acl_user_describe(const struct kv_acl_user *user, struct kv_acl_description *out);
/* Whether ACL rules name this command's subcommands ("client|kill"). */
bool kv_acl_is_container(const struct kv_arg *name);
/* ACL CAT: the categories, and the commands (and "container|subcommand"s) of one. */
size_t kv_acl_category_count(void);
const char *kv_acl_category_name(size_t category);
typedef void (*kv_acl_name_fn)(void *context, const char *name);
void kv_acl_category_commands(size_t category, kv_acl_name_fn visit, void *context);
/* WATCH: a short text that says what `key` holds as of the last applied batch (absent, or its
 * record's version and whether it had expired by now_ms); a transaction's entry carries it,
 * after the word "watch" and the number of keys, as a key and its token (transaction.c), and
 * runs nothing, replying a null array, if the key changed since. */
#define KV_WATCH_TOKEN_BYTES 24
int kv_watch_token(struct kv *kv, const struct kv_arg *key, uint64_t now_ms,
                   char token[KV_WATCH_TOKEN_BYTES], size_t *token_bytes);

/* Calls found() for up to `max` keys whose deadline is at or before now_ms, earliest first
 * (keys longer than max_key_bytes skipped). Reads the last applied state. */
typedef void (*kv_expired_fn)(void *context, const uint8_t *key, size_t key_bytes,
                              uint64_t deadline_ms);
int kv_expired_keys(struct kv *kv, uint64_t now_ms, size_t max, kv_expired_fn found, void *context);

/* Flushes LMDB to disk (fdatasync of its file); afterwards the applied index is durable. May run on
 * another thread while this one applies and reads (like kv_snapshot_export); an import waits
 * for it. */
int kv_sync(struct kv *kv);

/* Writes a compacted, consistent copy of the database to the file `path` (written to
 * path.tmp, fsynced, renamed), while writes may continue, and reports the applied index and
 * term the copy contains. */
int kv_snapshot_export(struct kv *kv, const char *path, uint64_t *index, uint64_t *term);
/* Reads the applied index and term stored in a snapshot file, validating that it is one. */
int kv_snapshot_read_meta(const char *path, uint64_t *index, uint64_t *term);
/* Replaces the whole database with the snapshot file at `path` (which is consumed: renamed
 * into place) and reports the applied index and term it holds. The file is validated first;
 * a snapshot that is not one leaves the database untouched. */
int kv_snapshot_import(struct kv *kv, const char *path, uint64_t *index, uint64_t *term);
/* The same, from a file that stays where it is (a snapshot storage keeps): kv copies it into
 * its own directory first, writing it back as it goes (base/writeback.h). */
int kv_snapshot_import_copy(struct kv *kv, const char *path, uint64_t *index, uint64_t *term);

/* ---- helpers shared with the server -------------------------------------------------------- */

/* Redis's strict integer syntax (string2ll): optional '-', no '+', no spaces, no leading
 * zeros, within int64. */
bool kv_parse_int64(const uint8_t *text, size_t text_bytes, int64_t *value);
/* Redis's glob-style matching as KEYS and SCAN MATCH use it: * ? [abc] [^a] [a-z] \x. */
bool kv_glob_match(const uint8_t *pattern, size_t pattern_bytes, const uint8_t *text,
                   size_t text_bytes);

#endif
