/*
 * command.c — the command table, its lookup and arity rules, Redis's error texts for a
 * command that cannot run, and the versioned binary encoding of a command in a Raft entry.
 *
 * Happy path: kv_command_resolve() finds argv[0] in the table (case-insensitively) and checks
 * its arity; a write is encoded with kv_command_encode(); on every replica
 * kv_command_decode() turns the entry's bytes back into argv without copying.
 *
 * Failure modes: unknown names and wrong arity are replied with Redis's exact texts. The
 * decoder treats its input as hostile (it comes from disk and from peers): every length is
 * checked against the bytes that remain, the count against KV_MAX_COMMAND_ARGS, and trailing
 * bytes are an error, so malformed input returns KV_ERROR_CORRUPT and never reads past the end.
 */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv_internal.h"
#include "kv/types.h"

/* The table, declared once as Redis declares its own: name, arity, flags, the key positions
 * COMMAND reports (first, last, step; Redis's convention: last -1 is the last argument, 0 0 0
 * a keyless command), handler. Each type's file declares its own list in its header. */
#define KV_STRING_COMMANDS(X)                                                                      \
    X("get", 2, KV_COMMAND_READ, 1, 1, 1, kv_command_get)                                          \
    X("set", -3, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, 1, 1, kv_command_set)                  \
    X("setnx", 3, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, 1, 1, kv_command_setnx)               \
    X("getset", 3, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, 1, 1, kv_command_getset)             \
    X("getdel", 2, KV_COMMAND_WRITE, 1, 1, 1, kv_command_getdel)                                   \
    X("mget", -2, KV_COMMAND_READ, 1, -1, 1, kv_command_mget)                                      \
    X("mset", -3, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, -1, 2, kv_command_mset)               \
    X("msetnx", -3, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, -1, 2, kv_command_msetnx)           \
    X("incr", 2, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, 1, 1, kv_command_incr)                 \
    X("incrby", 3, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, 1, 1, kv_command_incrby)             \
    X("decr", 2, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, 1, 1, kv_command_decr)                 \
    X("decrby", 3, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, 1, 1, kv_command_decrby)             \
    X("append", 3, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, 1, 1, kv_command_append)             \
    X("strlen", 2, KV_COMMAND_READ, 1, 1, 1, kv_command_strlen)                                    \
    X("getrange", 4, KV_COMMAND_READ, 1, 1, 1, kv_command_getrange)                                \
    X("setrange", 4, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM | KV_COMMAND_EXTENDS, 1, 1, 1,         \
      kv_command_setrange)                                                                         \
    X("substr", 4, KV_COMMAND_READ, 1, 1, 1, kv_command_getrange)                                  \
    X("setex", 4, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, 1, 1, kv_command_setex)               \
    X("psetex", 4, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, 1, 1, kv_command_psetex)             \
    X("getex", -2, KV_COMMAND_WRITE, 1, 1, 1, kv_command_getex)

#define KV_GENERIC_COMMANDS(X)                                                                     \
    X("del", -2, KV_COMMAND_WRITE, 1, -1, 1, kv_command_del)                                       \
    X("exists", -2, KV_COMMAND_READ, 1, -1, 1, kv_command_exists)                                  \
    X("keys", 2, KV_COMMAND_READ, 0, 0, 0, kv_command_keys)                                        \
    X("scan", -2, KV_COMMAND_READ, 0, 0, 0, kv_command_scan)                                       \
    X("type", 2, KV_COMMAND_READ, 1, 1, 1, kv_command_type)                                        \
    X("unlink", -2, KV_COMMAND_WRITE, 1, -1, 1, kv_command_del)                                    \
    X("expire", -3, KV_COMMAND_WRITE, 1, 1, 1, kv_command_expire)                                  \
    X("pexpire", -3, KV_COMMAND_WRITE, 1, 1, 1, kv_command_pexpire)                                \
    X("expireat", -3, KV_COMMAND_WRITE, 1, 1, 1, kv_command_expireat)                              \
    X("pexpireat", -3, KV_COMMAND_WRITE, 1, 1, 1, kv_command_pexpireat)                            \
    X("ttl", 2, KV_COMMAND_READ, 1, 1, 1, kv_command_ttl)                                          \
    X("pttl", 2, KV_COMMAND_READ, 1, 1, 1, kv_command_pttl)                                        \
    X("expiretime", 2, KV_COMMAND_READ, 1, 1, 1, kv_command_expiretime)                            \
    X("pexpiretime", 2, KV_COMMAND_READ, 1, 1, 1, kv_command_pexpiretime)                          \
    X("persist", 2, KV_COMMAND_WRITE, 1, 1, 1, kv_command_persist)                                 \
    X(KV_EXPIRE_COMMAND, -3, KV_COMMAND_WRITE | KV_COMMAND_INTERNAL, 2, -1, 2,                     \
      kv_command_raft_expire)                                                                      \
    X(KV_LWW_PUT_COMMAND, 4, KV_COMMAND_WRITE | KV_COMMAND_INTERNAL, 1, 1, 1,                      \
      kv_command_raft_lww_put)                                                                     \
    X(KV_LWW_DELETE_COMMAND, 3, KV_COMMAND_WRITE | KV_COMMAND_INTERNAL, 1, 1, 1,                   \
      kv_command_raft_lww_del)

#define KV_SERVER_COMMANDS(X)                                                                      \
    X("dbsize", 1, KV_COMMAND_READ, 0, 0, 0, kv_command_dbsize)                                    \
    X("flushall", -1, KV_COMMAND_WRITE, 0, 0, 0, kv_command_flushall)                              \
    X("flushdb", -1, KV_COMMAND_WRITE, 0, 0, 0, kv_command_flushdb)

/* Each list's entries carry their group (Redis's COMMAND DOCS group, and the ACL category
 * COMMAND INFO derives from it). */
#define KV_COMMAND_ENTRY(group, name, arity, flags, first, last, step, handler)                    \
    {name, sizeof(name) - 1, arity, flags, first, last, step, handler, group},
#define KV_IN_STRING(...)        KV_COMMAND_ENTRY("string", __VA_ARGS__)
#define KV_IN_GENERIC(...)       KV_COMMAND_ENTRY("generic", __VA_ARGS__)
#define KV_IN_SERVER(...)        KV_COMMAND_ENTRY("server", __VA_ARGS__)
#define KV_IN_HASH(...)          KV_COMMAND_ENTRY("hash", __VA_ARGS__)
#define KV_IN_SET(...)           KV_COMMAND_ENTRY("set", __VA_ARGS__)
#define KV_IN_LIST(...)          KV_COMMAND_ENTRY("list", __VA_ARGS__)
#define KV_IN_ZSET(...)          KV_COMMAND_ENTRY("sorted-set", __VA_ARGS__)
#define KV_IN_KEYS(...)          KV_COMMAND_ENTRY("generic", __VA_ARGS__)
#define KV_IN_BITS(...)          KV_COMMAND_ENTRY("bitmap", __VA_ARGS__)
#define KV_IN_BLOCKING_LIST(...) KV_COMMAND_ENTRY("list", __VA_ARGS__)
#define KV_IN_CONNECTION(...)    KV_COMMAND_ENTRY("connection", __VA_ARGS__)
#define KV_IN_SCRIPTING(...)     KV_COMMAND_ENTRY("scripting", __VA_ARGS__)
#define KV_IN_PUBSUB(...)        KV_COMMAND_ENTRY("pubsub", __VA_ARGS__)

static const struct kv_command kv_commands[] = {
    KV_STRING_COMMANDS(KV_IN_STRING) KV_GENERIC_COMMANDS(KV_IN_GENERIC)
        KV_SERVER_COMMANDS(KV_IN_SERVER) KV_HASH_COMMANDS(KV_IN_HASH) KV_SET_COMMANDS(KV_IN_SET)
            KV_LIST_COMMANDS(KV_IN_LIST) KV_ZSET_COMMANDS(KV_IN_ZSET) KV_KEYS_COMMANDS(KV_IN_KEYS)
                KV_BITS_COMMANDS(KV_IN_BITS) KV_BLOCKING_COMMANDS(KV_IN_BLOCKING_LIST)
                    KV_TRANSACTION_COMMANDS(KV_IN_GENERIC) KV_QUEUED_ONLY_COMMANDS(KV_IN_CONNECTION)
                        KV_SESSION_COMMANDS(KV_IN_GENERIC) KV_ACL_COMMANDS(KV_IN_SERVER)
                            KV_SCRIPT_COMMANDS(KV_IN_SCRIPTING) KV_PUBSUB_COMMANDS(KV_IN_PUBSUB)};

#define KV_COMMAND_COUNT (sizeof kv_commands / sizeof kv_commands[0])

/* Redis's limits on how much of an unknown command it echoes back. */
#define KV_UNKNOWN_NAME_ECHO_BYTES 128
#define KV_UNKNOWN_ARGS_ECHO_BYTES 128
#define KV_ERROR_REPLY_BYTES       512

#define KV_FORMAT_HEADER_BYTES    13 /* version + stamp + argc */
#define KV_FORMAT_V1_HEADER_BYTES 5  /* version + argc */
#define KV_FORMAT_LENGTH_BYTES    4

static_assert(KV_FORMAT_HEADER_BYTES == LIMITS_COMMAND_HEADER_BYTES &&
                  KV_FORMAT_LENGTH_BYTES == LIMITS_ARGUMENT_HEADER_BYTES,
              "limits.h measures requests in this encoding");

const char *kv_error_string(int error)
{
    /* A switch rather than a table: two codes with one value fail to compile. */
    switch (error) {
#define KV_ERROR_CASE(name, value, text)                                                           \
    case name:                                                                                     \
        return text;
        KV_ERRORS(KV_ERROR_CASE)
#undef KV_ERROR_CASE
    }
    return "unknown error";
}

static uint8_t kv_lowercase(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c - 'A' + 'a') : c;
}

/* The table's entries sorted by name, for a binary search on every request; built once. */
static const struct kv_command *kv_sorted[KV_COMMAND_COUNT];
static pthread_once_t kv_sorted_once = PTHREAD_ONCE_INIT;

static int kv_command_compare(const void *a, const void *b)
{
    const struct kv_command *left = *(const struct kv_command *const *)a;
    const struct kv_command *right = *(const struct kv_command *const *)b;
    return strcmp(left->name, right->name);
}

static void kv_sorted_build(void)
{
    for (size_t i = 0; i < KV_COMMAND_COUNT; i++) {
        kv_sorted[i] = &kv_commands[i];
    }
    qsort(kv_sorted, KV_COMMAND_COUNT, sizeof kv_sorted[0], kv_command_compare);
    for (size_t i = 1; i < KV_COMMAND_COUNT; i++) {
        assert(strcmp(kv_sorted[i - 1]->name, kv_sorted[i]->name) < 0); /* names are unique */
    }
}

/* Compares a request's name, case-insensitively, with a table name (lowercase). */
static int kv_name_compare(const uint8_t *name, size_t name_bytes, const struct kv_command *command)
{
    size_t common = name_bytes < command->name_bytes ? name_bytes : command->name_bytes;
    for (size_t i = 0; i < common; i++) {
        int difference = (int)kv_lowercase(name[i]) - (int)(uint8_t)command->name[i];
        if (difference != 0) {
            return difference;
        }
    }
    return name_bytes < command->name_bytes ? -1 : name_bytes > command->name_bytes ? 1 : 0;
}

const struct kv_command *kv_command_lookup(const uint8_t *name, size_t name_bytes)
{
    pthread_once(&kv_sorted_once, kv_sorted_build);
    size_t low = 0;
    size_t high = KV_COMMAND_COUNT;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        int order = kv_name_compare(name, name_bytes, kv_sorted[middle]);
        if (order == 0) {
            return kv_sorted[middle];
        }
        if (order < 0) {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    return NULL;
}

static size_t kv_numkeys_position(const struct kv_command *command)
{
    return (command->flags & KV_COMMAND_NUMKEYS_1)   ? 1
           : (command->flags & KV_COMMAND_NUMKEYS_2) ? 2
                                                     : 0;
}

bool kv_command_movable_keys(const struct kv_command *command)
{
    return kv_numkeys_position(command) != 0;
}

int kv_command_key_positions(const struct kv_command *command, size_t argc,
                             const struct kv_arg *argv, size_t *positions, size_t capacity,
                             size_t *count)
{
    *count = 0;
    size_t numkeys_at = kv_numkeys_position(command);
    if (numkeys_at != 0) {
        int64_t keys;
        if (argc <= numkeys_at ||
            !kv_parse_int64(argv[numkeys_at].data, argv[numkeys_at].data_bytes, &keys) ||
            keys < 0 || (uint64_t)keys > argc - numkeys_at - 1) {
            return KV_ERROR_INVALID;
        }
        if (command->first_key == 1 && numkeys_at == 2 && *count < capacity) {
            positions[(*count)++] = 1; /* the STORE commands' destination */
        }
        for (size_t i = 0; i < (size_t)keys && *count < capacity; i++) {
            positions[(*count)++] = numkeys_at + 1 + i;
        }
        return 0;
    }
    if (command->first_key <= 0 || (size_t)command->first_key >= argc) {
        return command->first_key <= 0 ? 0 : KV_ERROR_INVALID;
    }
    size_t last =
        command->last_key >= 0 ? (size_t)command->last_key : argc - (size_t)(-command->last_key);
    size_t step = command->key_step > 0 ? (size_t)command->key_step : 1;
    for (size_t i = (size_t)command->first_key; i <= last && i < argc && *count < capacity;
         i += step) {
        positions[(*count)++] = i;
    }
    return 0;
}

/* The few commands whose file's list is not their Redis group. */
static const struct {
    const char *name;
    const char *group;
} kv_group_overrides[] = {
    {"time", "server"},         {"incrbyfloat", "string"},  {"lcs", "string"},
    {"bzpopmin", "sorted-set"}, {"bzpopmax", "sorted-set"}, {"bzmpop", "sorted-set"},
};

const char *kv_command_group(const struct kv_command *command)
{
    for (size_t i = 0; i < sizeof kv_group_overrides / sizeof kv_group_overrides[0]; i++) {
        if (strcmp(kv_group_overrides[i].name, command->name) == 0) {
            return kv_group_overrides[i].group;
        }
    }
    return command->group;
}

bool kv_command_listed(const struct kv_command *command)
{
    return !(command->flags & (KV_COMMAND_INTERNAL | KV_COMMAND_QUEUED_ONLY));
}

const struct kv_command *kv_command_table(size_t *count)
{
    *count = KV_COMMAND_COUNT;
    return kv_commands;
}

bool kv_command_arity_ok(const struct kv_command *command, size_t argc)
{
    if (command->arity >= 0) {
        return argc == (size_t)command->arity;
    }
    return argc >= (size_t)-command->arity;
}

/* Appends src to an error text, cutting at NUL as Redis's %s does and turning CR/LF into
 * spaces so the text stays one RESP line. Returns the new length. */
static size_t kv_error_append(char *out, size_t used, size_t limit, const uint8_t *src,
                              size_t src_bytes)
{
    for (size_t i = 0; i < src_bytes && used < limit; i++) {
        if (src[i] == '\0') {
            break;
        }
        out[used++] = (src[i] == '\r' || src[i] == '\n') ? ' ' : (char)src[i];
    }
    return used;
}

static size_t kv_error_append_text(char *out, size_t used, size_t limit, const char *text)
{
    return kv_error_append(out, used, limit, (const uint8_t *)text, strlen(text));
}

void kv_reply_unknown_command(const struct kv_reply *reply, size_t argc, const struct kv_arg *argv)
{
    assert(argc >= 1);
    char text[KV_ERROR_REPLY_BYTES];
    size_t used = kv_error_append_text(text, 0, sizeof text, "ERR unknown command '");
    size_t name_limit = used + KV_UNKNOWN_NAME_ECHO_BYTES;
    used = kv_error_append(text, used, name_limit, argv[0].data, argv[0].data_bytes);
    used = kv_error_append_text(text, used, sizeof text, "', with args beginning with: ");
    /* As Redis: whole quoted arguments while the echo is under 128 bytes, each cut so that
     * the echo stays within 128 bytes plus its quotes. */
    size_t args_start = used;
    for (size_t i = 1; i < argc && used - args_start < KV_UNKNOWN_ARGS_ECHO_BYTES; i++) {
        size_t room = KV_UNKNOWN_ARGS_ECHO_BYTES - (used - args_start);
        used = kv_error_append_text(text, used, sizeof text, "'");
        used = kv_error_append(text, used, used + room, argv[i].data, argv[i].data_bytes);
        used = kv_error_append_text(text, used, sizeof text, "' ");
    }
    assert(used <= sizeof text);
    reply->error(reply->context, text, used);
}

void kv_reply_wrong_arity(const struct kv_reply *reply, const struct kv_command *command)
{
    char text[KV_ERROR_REPLY_BYTES];
    int length = snprintf(text, sizeof text, "ERR wrong number of arguments for '%s' command",
                          command->name);
    assert(length > 0 && (size_t)length < sizeof text);
    reply->error(reply->context, text, (size_t)length);
}

const struct kv_command *kv_command_resolve(size_t argc, const struct kv_arg *argv,
                                            const struct kv_reply *reply)
{
    assert(argc >= 1);
    const struct kv_command *command = kv_command_lookup(argv[0].data, argv[0].data_bytes);
    if (command == NULL) {
        kv_reply_unknown_command(reply, argc, argv);
        return NULL;
    }
    if (!kv_command_arity_ok(command, argc)) {
        kv_reply_wrong_arity(reply, command);
        return NULL;
    }
    return command;
}

int kv_dispatch(struct kv_exec *exec, size_t argc, const struct kv_arg *argv)
{
    const struct kv_command *command = kv_command_resolve(argc, argv, exec->reply);
    if (command == NULL) {
        return 0;
    }
    assert(exec->writable || (command->flags & KV_COMMAND_READ));
    int result = command->handler(exec, argc, argv);
    /* A command that changed a collection's items wrote its record again (its version). */
    assert(result != 0 || exec->unsettled_count == 0);
    return result;
}

/* ---- the entry encoding -------------------------------------------------------------------- */

static void kv_put_u32(uint8_t *out, uint32_t value)
{
    out[0] = (uint8_t)value;
    out[1] = (uint8_t)(value >> 8);
    out[2] = (uint8_t)(value >> 16);
    out[3] = (uint8_t)(value >> 24);
}

static uint32_t kv_get_u32(const uint8_t *in)
{
    return (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16 | (uint32_t)in[3] << 24;
}

size_t kv_command_encoded_bytes(size_t argc, const struct kv_arg *argv)
{
    if (argc == 0 || argc > KV_MAX_COMMAND_ARGS) {
        return 0;
    }
    uint64_t total = KV_FORMAT_HEADER_BYTES;
    for (size_t i = 0; i < argc; i++) {
        if (argv[i].data_bytes > UINT32_MAX) {
            return 0;
        }
        total += KV_FORMAT_LENGTH_BYTES + (uint64_t)argv[i].data_bytes;
        if (total > UINT32_MAX) {
            return 0; /* a Raft entry's data_bytes is a u32 */
        }
    }
    return (size_t)total;
}

int kv_command_encode(size_t argc, const struct kv_arg *argv, uint64_t stamp_ms, uint8_t *out,
                      size_t capacity_bytes, size_t *written_bytes)
{
    size_t total = kv_command_encoded_bytes(argc, argv);
    if (total == 0 || total > capacity_bytes) {
        return KV_ERROR_TOO_BIG;
    }
    out[0] = KV_COMMAND_FORMAT_VERSION;
    kv_put_u32(out + 1, (uint32_t)stamp_ms);
    kv_put_u32(out + 5, (uint32_t)(stamp_ms >> 32));
    kv_put_u32(out + 9, (uint32_t)argc);
    size_t used = KV_FORMAT_HEADER_BYTES;
    for (size_t i = 0; i < argc; i++) {
        kv_put_u32(out + used, (uint32_t)argv[i].data_bytes);
        used += KV_FORMAT_LENGTH_BYTES;
        if (argv[i].data_bytes > 0) {
            memcpy(out + used, argv[i].data, argv[i].data_bytes);
        }
        used += argv[i].data_bytes;
    }
    assert(used == total);
    *written_bytes = used;
    return 0;
}

/* Both decoders: `prefix` fills the first argv_capacity arguments of a longer command too. */
static int command_decode(const uint8_t *data, size_t data_bytes, struct kv_arg *argv,
                          size_t argv_capacity, bool prefix, size_t *argc, uint64_t *stamp_ms)
{
    if (data == NULL || data_bytes < 1) {
        return KV_ERROR_CORRUPT;
    }
    /* Version 1 (entries written before the replicated clock) has no stamp: it reads as 0,
     * which never moves the clock. */
    size_t header_bytes = data[0] == 1 ? KV_FORMAT_V1_HEADER_BYTES : KV_FORMAT_HEADER_BYTES;
    if (data[0] != 1 && data[0] != KV_COMMAND_FORMAT_VERSION) {
        return KV_ERROR_UNSUPPORTED;
    }
    if (data_bytes < header_bytes) {
        return KV_ERROR_CORRUPT;
    }
    uint64_t stamp = 0;
    if (data[0] != 1) {
        stamp = (uint64_t)kv_get_u32(data + 1) | (uint64_t)kv_get_u32(data + 5) << 32;
    }
    uint32_t count = kv_get_u32(data + header_bytes - 4);
    if (count == 0 || count > KV_MAX_COMMAND_ARGS) {
        return KV_ERROR_CORRUPT;
    }
    /* Each argument needs at least its length field: a cheap bound before walking. */
    size_t remaining = data_bytes - header_bytes;
    if ((size_t)count > remaining / KV_FORMAT_LENGTH_BYTES) {
        return KV_ERROR_CORRUPT;
    }
    bool fill = argv != NULL && (prefix || argv_capacity >= count);
    size_t offset = header_bytes;
    for (uint32_t i = 0; i < count; i++) {
        if (data_bytes - offset < KV_FORMAT_LENGTH_BYTES) {
            return KV_ERROR_CORRUPT;
        }
        uint32_t length = kv_get_u32(data + offset);
        offset += KV_FORMAT_LENGTH_BYTES;
        if (length > data_bytes - offset) {
            return KV_ERROR_CORRUPT;
        }
        if (fill && i < argv_capacity) {
            argv[i].data = data + offset;
            argv[i].data_bytes = length;
        }
        offset += length;
    }
    if (offset != data_bytes) {
        return KV_ERROR_CORRUPT; /* trailing bytes */
    }
    *argc = count;
    if (stamp_ms != NULL) {
        *stamp_ms = stamp;
    }
    if (argv != NULL && !fill) {
        return KV_ERROR_TOO_BIG;
    }
    return 0;
}

int kv_command_decode(const uint8_t *data, size_t data_bytes, struct kv_arg *argv,
                      size_t argv_capacity, size_t *argc, uint64_t *stamp_ms)
{
    return command_decode(data, data_bytes, argv, argv_capacity, false, argc, stamp_ms);
}

int kv_command_decode_head(const uint8_t *data, size_t data_bytes, struct kv_arg *argv,
                           size_t argv_capacity, size_t *argc)
{
    return command_decode(data, data_bytes, argv, argv_capacity, true, argc, NULL);
}

/* ---- small helpers the handlers share -------------------------------------------------------- */

bool kv_parse_side(struct kv_exec *exec, const struct kv_arg *arg, const char *low,
                   const char *high, bool *is_low)
{
    if (kv_arg_equals_nocase(arg, low)) {
        *is_low = true;
    } else if (kv_arg_equals_nocase(arg, high)) {
        *is_low = false;
    } else {
        kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
        return false;
    }
    return true;
}

bool kv_mpop_parse(struct kv_exec *exec, size_t argc, const struct kv_arg *argv, size_t numkeys_at,
                   const char *low, const char *high, struct kv_mpop *mpop)
{
    int64_t keys;
    if (!kv_parse_int64(argv[numkeys_at].data, argv[numkeys_at].data_bytes, &keys) || keys < 1) {
        kv_reply_text_error(exec, "ERR numkeys should be greater than 0");
        return false;
    }
    if ((uint64_t)keys > argc - numkeys_at - 2) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX); /* no room left for the side */
        return false;
    }
    mpop->first_key = numkeys_at + 1;
    mpop->key_count = (size_t)keys;
    size_t where = mpop->first_key + mpop->key_count;
    if (!kv_parse_side(exec, &argv[where], low, high, &mpop->low)) {
        return false;
    }
    mpop->count = 0; /* not given yet: COUNT may come once */
    for (size_t i = where + 1; i < argc; i++) {
        int64_t count;
        if (mpop->count != 0 || !kv_arg_equals_nocase(&argv[i], "count") || i + 1 >= argc) {
            kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
            return false;
        }
        i++;
        if (!kv_parse_int64(argv[i].data, argv[i].data_bytes, &count) || count < 1) {
            kv_reply_text_error(exec, "ERR count should be greater than 0");
            return false;
        }
        mpop->count = (uint64_t)count;
    }
    if (mpop->count == 0) {
        mpop->count = 1;
    }
    return true;
}

bool kv_parse_int64(const uint8_t *text, size_t text_bytes, int64_t *value)
{
    if (text_bytes == 0 || text_bytes >= KV_INT64_TEXT_BYTES) {
        return false;
    }
    if (text_bytes == 1 && text[0] == '0') {
        *value = 0;
        return true;
    }
    size_t i = 0;
    bool negative = text[0] == '-';
    if (negative) {
        i = 1;
    }
    if (i >= text_bytes || text[i] < '1' || text[i] > '9') {
        return false; /* no digits, a leading zero, or a non-digit */
    }
    uint64_t magnitude = 0;
    for (; i < text_bytes; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return false;
        }
        uint64_t digit = (uint64_t)(text[i] - '0');
        if (magnitude > (UINT64_MAX - digit) / 10) {
            return false;
        }
        magnitude = magnitude * 10 + digit;
    }
    if (negative) {
        if (magnitude > (uint64_t)INT64_MAX + 1) {
            return false;
        }
        *value = magnitude == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)magnitude;
        return true;
    }
    if (magnitude > (uint64_t)INT64_MAX) {
        return false;
    }
    *value = (int64_t)magnitude;
    return true;
}

size_t kv_format_int64(int64_t value, char text[KV_INT64_TEXT_BYTES])
{
    char digits[KV_INT64_TEXT_BYTES];
    size_t count = 0;
    uint64_t magnitude = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
    do {
        digits[count++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude > 0);
    size_t used = 0;
    if (value < 0) {
        text[used++] = '-';
    }
    while (count > 0) {
        text[used++] = digits[--count];
    }
    assert(used < KV_INT64_TEXT_BYTES);
    text[used] = '\0';
    return used;
}

bool kv_arg_equals_nocase(const struct kv_arg *arg, const char *word)
{
    size_t word_bytes = strlen(word);
    if (arg->data_bytes != word_bytes) {
        return false;
    }
    for (size_t i = 0; i < word_bytes; i++) {
        if (kv_lowercase(arg->data[i]) != kv_lowercase((uint8_t)word[i])) {
            return false;
        }
    }
    return true;
}

void kv_reply_text_error(struct kv_exec *exec, const char *text)
{
    exec->reply->error(exec->reply->context, text, strlen(text));
}

void kv_reply_ok(struct kv_exec *exec)
{
    exec->reply->status(exec->reply->context, "OK", 2);
}

void kv_reply_value(struct kv_exec *exec, const MDB_val *value)
{
    exec->reply->bulk(exec->reply->context, value->mv_data, value->mv_size);
}
