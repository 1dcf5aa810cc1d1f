/*
 * session.c — exactly-once writes (the Raft thesis, §6.3): `raft.session <id> <seq> <acked>
 * <command...>`, which the server proposes instead of a write of a connection that declared a
 * session (CLIENT SESSION). Applied, it runs the command once per (session, sequence number):
 *
 *   - seq above the session's last applied one: the command runs, its reply is sent and kept
 *     under (id, seq), and seq becomes the last applied;
 *   - seq at or below it: a retry of a write that was applied already — it does not run
 *     again, and the kept reply is sent instead (or, when the reply is no longer kept, an
 *     error that says the write was applied).
 *
 * The decision uses nothing but replicated state, so every replica makes the same one, and a
 * write proposed twice (a client that retried through a new leader while its first attempt
 * was still in the log) applies once. A command that blocks (BLPOP on an empty list) is not
 * applied: its sequence number stays free for the proposal that serves it.
 *
 * What is kept, and for how long: the replies of the last KV_SESSION_WINDOW writes of a
 * session, fewer when the client acknowledged them (`acked`: every seq below it has been
 * answered, so its reply can go); a reply larger than KV_SESSION_REPLY_MAX_BYTES is kept as a
 * marker only. A session no write has used for KV_SESSION_IDLE_MS of the replicated clock is
 * forgotten, a few per session entry, so sessions cost nothing once their clients are gone.
 *
 * Storage (docs/storage.md): "sessions" id → u64 last seq, u64 touched ms (little-endian);
 * "session_replies" u8 id length + id + u64 big-endian seq → u8 kept (1) or too large (0),
 * then the reply's encoding (below); "session_times" u64 big-endian touched ms + id → empty,
 * the idle order.
 *
 * A reply's encoding is the calls the command made on its struct kv_reply, in order, each a
 * tag byte and its operands (u32 lengths, u64 counts and integers, little-endian), replayed
 * through the same callbacks — so a retried write gets, byte for byte, the reply it had,
 * in whichever protocol its connection speaks now.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "kv/session.h"

#define KV_SESSION_PRUNE_PER_ENTRY 4 /* idle sessions forgotten per session entry */
#define KV_SESSION_REPLY_KEY_BYTES (1 + KV_SESSION_ID_MAX_BYTES + 8)
#define KV_SESSION_TIME_KEY_BYTES  (8 + KV_SESSION_ID_MAX_BYTES)

static const char KV_SESSION_MALFORMED[] = "ERR a kept session reply is malformed";

/* ---- recording a reply ---------------------------------------------------------------------- */

struct kv_session_recorder {
    struct kv_reply tee;         /* what the command replies to */
    const struct kv_reply *real; /* where every call goes on to */
    struct kv_buffer *buffer;
    size_t used;
    bool overflow; /* the reply outgrew KV_SESSION_REPLY_MAX_BYTES: not kept */
    bool blocked;  /* the command waits: not applied */
};

static void kv_record_bytes(struct kv_session_recorder *recorder, const void *bytes, size_t count)
{
    if (recorder->overflow) {
        return;
    }
    if (recorder->used + count > KV_SESSION_REPLY_MAX_BYTES ||
        kv_buffer_reserve(recorder->buffer, recorder->used + count) != 0) {
        recorder->overflow = true;
        return;
    }
    memcpy(recorder->buffer->data + recorder->used, bytes, count);
    recorder->used += count;
}

static void kv_record_u64(struct kv_session_recorder *recorder, char tag, uint64_t value)
{
    uint8_t bytes[9] = {(uint8_t)tag};
    for (size_t i = 0; i < 8; i++) {
        bytes[1 + i] = (uint8_t)(value >> (8 * i));
    }
    kv_record_bytes(recorder, bytes, sizeof bytes);
}

static void kv_record_text(struct kv_session_recorder *recorder, char tag, const void *data,
                           size_t bytes)
{
    if (bytes > UINT32_MAX) {
        recorder->overflow = true;
        return;
    }
    uint8_t header[5] = {(uint8_t)tag, (uint8_t)bytes, (uint8_t)(bytes >> 8),
                         (uint8_t)(bytes >> 16), (uint8_t)(bytes >> 24)};
    kv_record_bytes(recorder, header, sizeof header);
    kv_record_bytes(recorder, data, bytes);
}

static void kv_record_tag(struct kv_session_recorder *recorder, char tag)
{
    uint8_t byte = (uint8_t)tag;
    kv_record_bytes(recorder, &byte, 1);
}

static void tee_status(void *context, const char *text, size_t bytes)
{
    struct kv_session_recorder *r = context;
    kv_record_text(r, 'S', text, bytes);
    r->real->status(r->real->context, text, bytes);
}

static void tee_error(void *context, const char *text, size_t bytes)
{
    struct kv_session_recorder *r = context;
    kv_record_text(r, 'E', text, bytes);
    r->real->error(r->real->context, text, bytes);
}

static void tee_integer(void *context, int64_t value)
{
    struct kv_session_recorder *r = context;
    kv_record_u64(r, 'I', (uint64_t)value);
    r->real->integer(r->real->context, value);
}

static void tee_bulk(void *context, const uint8_t *data, size_t bytes)
{
    struct kv_session_recorder *r = context;
    kv_record_text(r, 'B', data, bytes);
    r->real->bulk(r->real->context, data, bytes);
}

static void tee_null(void *context)
{
    struct kv_session_recorder *r = context;
    kv_record_tag(r, 'N');
    r->real->null(r->real->context);
}

static void tee_null_array(void *context)
{
    struct kv_session_recorder *r = context;
    kv_record_tag(r, 'n');
    r->real->null_array(r->real->context);
}

static void tee_array(void *context, size_t count)
{
    struct kv_session_recorder *r = context;
    kv_record_u64(r, 'A', count);
    r->real->array(r->real->context, count);
}

static void tee_double_text(void *context, const char *text, size_t bytes)
{
    struct kv_session_recorder *r = context;
    kv_record_text(r, 'D', text, bytes);
    r->real->double_text(r->real->context, text, bytes);
}

static void tee_blocked(void *context)
{
    struct kv_session_recorder *r = context;
    r->blocked = true;
    r->real->blocked(r->real->context);
}

static void tee_map(void *context, size_t pairs)
{
    struct kv_session_recorder *r = context;
    kv_record_u64(r, 'M', pairs);
    r->real->map(r->real->context, pairs);
}

static void tee_set(void *context, size_t count)
{
    struct kv_session_recorder *r = context;
    kv_record_u64(r, 'T', count);
    r->real->set(r->real->context, count);
}

static void tee_pairs(void *context, size_t count)
{
    struct kv_session_recorder *r = context;
    kv_record_u64(r, 'P', count);
    r->real->pairs(r->real->context, count);
}

static void tee_pair(void *context)
{
    struct kv_session_recorder *r = context;
    kv_record_tag(r, 'p');
    r->real->pair(r->real->context);
}

static void kv_recorder_init(struct kv_session_recorder *recorder, const struct kv_reply *real,
                             struct kv_buffer *buffer)
{
    *recorder = (struct kv_session_recorder){
        .tee =
            {
                .status = tee_status,
                .error = tee_error,
                .integer = tee_integer,
                .bulk = tee_bulk,
                .null = tee_null,
                .null_array = tee_null_array,
                .array = tee_array,
                .double_text = tee_double_text,
                .blocked = tee_blocked,
                .map = tee_map,
                .set = tee_set,
                .pairs = tee_pairs,
                .pair = tee_pair,
                .context = recorder,
            },
        .real = real,
        .buffer = buffer,
        .used = 1, /* the kept / too-large byte goes first */
    };
    if (kv_buffer_reserve(buffer, 1) != 0) {
        recorder->overflow = true;
    }
}

/* ---- replaying one ----------------------------------------------------------------------------
 */

static uint64_t kv_le(const uint8_t *in, size_t bytes)
{
    uint64_t value = 0;
    for (size_t i = 0; i < bytes; i++) {
        value |= (uint64_t)in[i] << (8 * i);
    }
    return value;
}

/* Checks the whole encoding first, so that a malformed one sends nothing but its error. */
static bool kv_reply_walk(const uint8_t *data, size_t bytes, const struct kv_reply *reply)
{
    size_t at = 0;
    while (at < bytes) {
        char tag = (char)data[at++];
        size_t operand = strchr("SEBD", tag) != NULL ? 4 : strchr("IAMTP", tag) != NULL ? 8 : 0;
        if (strchr("SEBDIAMTPNnp", tag) == NULL || tag == '\0' || bytes - at < operand) {
            return false;
        }
        uint64_t value = kv_le(data + at, operand);
        at += operand;
        if (operand == 4 && bytes - at < value) {
            return false;
        }
        if (reply == NULL) {
            at += operand == 4 ? (size_t)value : 0;
            continue;
        }
        const char *text = (const char *)data + at;
        switch (tag) {
        case 'S':
            reply->status(reply->context, text, (size_t)value);
            break;
        case 'E':
            reply->error(reply->context, text, (size_t)value);
            break;
        case 'B':
            reply->bulk(reply->context, data + at, (size_t)value);
            break;
        case 'D':
            reply->double_text(reply->context, text, (size_t)value);
            break;
        case 'I':
            reply->integer(reply->context, (int64_t)value);
            break;
        case 'A':
            reply->array(reply->context, (size_t)value);
            break;
        case 'M':
            reply->map(reply->context, (size_t)value);
            break;
        case 'T':
            reply->set(reply->context, (size_t)value);
            break;
        case 'P':
            reply->pairs(reply->context, (size_t)value);
            break;
        case 'N':
            reply->null(reply->context);
            break;
        case 'n':
            reply->null_array(reply->context);
            break;
        default:
            reply->pair(reply->context);
            break;
        }
        at += operand == 4 ? (size_t)value : 0;
    }
    return true;
}

bool kv_session_reply_replay(const uint8_t *data, size_t bytes, const struct kv_reply *reply)
{
    if (!kv_reply_walk(data, bytes, NULL)) {
        return false;
    }
    kv_reply_walk(data, bytes, reply);
    return true;
}

static void kv_reply_replay(struct kv_exec *exec, const MDB_val *kept, uint64_t seq)
{
    const uint8_t *data = kept->mv_data;
    if (kept->mv_size >= 1 && data[0] == 1 && kv_reply_walk(data + 1, kept->mv_size - 1, NULL)) {
        kv_reply_walk(data + 1, kept->mv_size - 1, exec->reply);
        return;
    }
    if (kept->mv_size >= 1 && data[0] == 0) {
        char text[160];
        snprintf(text, sizeof text,
                 "ERR session write %llu was applied already; its reply was too large to keep",
                 (unsigned long long)seq);
        kv_reply_text_error(exec, text);
        return;
    }
    kv_reply_text_error(exec, KV_SESSION_MALFORMED);
}

/* ---- the session's state ----------------------------------------------------------------------
 */

struct kv_session_id {
    const uint8_t *data;
    size_t bytes;
};

static void kv_reply_key(uint8_t out[KV_SESSION_REPLY_KEY_BYTES], size_t *used,
                         const struct kv_session_id *id, uint64_t seq)
{
    out[0] = (uint8_t)id->bytes;
    memcpy(out + 1, id->data, id->bytes);
    kv_put_be64(out + 1 + id->bytes, seq);
    *used = 1 + id->bytes + 8;
}

static int kv_time_index(struct kv_exec *exec, const struct kv_session_id *id, uint64_t touched_ms,
                         bool add)
{
    uint8_t key_bytes[KV_SESSION_TIME_KEY_BYTES];
    kv_put_be64(key_bytes, touched_ms);
    memcpy(key_bytes + 8, id->data, id->bytes);
    MDB_val key = {.mv_size = 8 + id->bytes, .mv_data = key_bytes};
    MDB_val empty = {.mv_size = 0, .mv_data = NULL};
    int rc = add ? mdb_put(exec->txn, exec->kv->session_times_dbi, &key, &empty, 0)
                 : mdb_del(exec->txn, exec->kv->session_times_dbi, &key, NULL);
    if (rc != 0 && !(rc == MDB_NOTFOUND && !add)) {
        return kv_storage_error(exec->kv, rc, "indexing a session");
    }
    return 0;
}

/* Deletes the session's kept replies with a sequence number below `below`. */
static int kv_replies_prune(struct kv_exec *exec, const struct kv_session_id *id, uint64_t below)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(exec->txn, exec->kv->session_replies_dbi, &cursor);
    if (rc != 0) {
        return kv_storage_error(exec->kv, rc, "mdb_cursor_open (session replies)");
    }
    uint8_t start[KV_SESSION_REPLY_KEY_BYTES];
    size_t start_bytes;
    kv_reply_key(start, &start_bytes, id, 0);
    MDB_val key = {.mv_size = start_bytes, .mv_data = start};
    MDB_val value;
    rc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
    while (rc == 0 && key.mv_size == start_bytes &&
           memcmp(key.mv_data, start, start_bytes - 8) == 0 &&
           kv_get_be64((const uint8_t *)key.mv_data + start_bytes - 8) < below) {
        rc = mdb_cursor_del(cursor, 0);
        if (rc == 0) {
            key = (MDB_val){.mv_size = start_bytes, .mv_data = start};
            rc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
        }
    }
    mdb_cursor_close(cursor);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        return kv_storage_error(exec->kv, rc, "pruning session replies");
    }
    return 0;
}

struct kv_session_state {
    uint64_t last_seq;
    uint64_t touched_ms;
};

static int kv_session_get(struct kv_exec *exec, const struct kv_session_id *id,
                          struct kv_session_state *state, bool *found)
{
    MDB_val key = {.mv_size = id->bytes, .mv_data = (void *)id->data};
    MDB_val value;
    *found = false;
    int rc = mdb_get(exec->txn, exec->kv->sessions_dbi, &key, &value);
    if (rc == MDB_NOTFOUND) {
        return 0;
    }
    if (rc != 0) {
        return kv_storage_error(exec->kv, rc, "mdb_get (session)");
    }
    if (value.mv_size != 16) {
        snprintf(exec->kv->error_message, KV_ERROR_MESSAGE_BYTES, "a session record is malformed");
        return KV_ERROR_CORRUPT;
    }
    state->last_seq = kv_le(value.mv_data, 8);
    state->touched_ms = kv_le((const uint8_t *)value.mv_data + 8, 8);
    *found = true;
    return 0;
}

/* Stores the session as touched now (moving it in the idle order). */
static int kv_session_touch(struct kv_exec *exec, const struct kv_session_id *id,
                            const struct kv_session_state *old, bool found, uint64_t last_seq)
{
    if (found && old->touched_ms == exec->now_ms && old->last_seq == last_seq) {
        return 0;
    }
    int result = found ? kv_time_index(exec, id, old->touched_ms, false) : 0;
    if (result == 0) {
        result = kv_time_index(exec, id, exec->now_ms, true);
    }
    if (result != 0) {
        return result;
    }
    uint8_t bytes[16];
    for (size_t i = 0; i < 8; i++) {
        bytes[i] = (uint8_t)(last_seq >> (8 * i));
        bytes[8 + i] = (uint8_t)(exec->now_ms >> (8 * i));
    }
    MDB_val key = {.mv_size = id->bytes, .mv_data = (void *)id->data};
    MDB_val value = {.mv_size = sizeof bytes, .mv_data = bytes};
    int rc = mdb_put(exec->txn, exec->kv->sessions_dbi, &key, &value, 0);
    return rc == 0 ? 0 : kv_storage_error(exec->kv, rc, "mdb_put (session)");
}

/* Forgets up to KV_SESSION_PRUNE_PER_ENTRY sessions idle for KV_SESSION_IDLE_MS. */
static int kv_sessions_expire(struct kv_exec *exec)
{
    for (size_t n = 0; n < KV_SESSION_PRUNE_PER_ENTRY; n++) {
        MDB_cursor *cursor;
        int rc = mdb_cursor_open(exec->txn, exec->kv->session_times_dbi, &cursor);
        if (rc != 0) {
            return kv_storage_error(exec->kv, rc, "mdb_cursor_open (session times)");
        }
        MDB_val key, value;
        rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST);
        uint8_t id_bytes[KV_SESSION_ID_MAX_BYTES];
        struct kv_session_id id = {.data = id_bytes, .bytes = 0};
        uint64_t touched_ms = 0;
        bool idle = false;
        if (rc == 0 && key.mv_size > 8 && key.mv_size <= KV_SESSION_TIME_KEY_BYTES) {
            touched_ms = kv_get_be64(key.mv_data);
            idle = touched_ms <= exec->now_ms && exec->now_ms - touched_ms >= KV_SESSION_IDLE_MS;
            id.bytes = key.mv_size - 8;
            memcpy(id_bytes, (const uint8_t *)key.mv_data + 8, id.bytes);
        }
        mdb_cursor_close(cursor);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            return kv_storage_error(exec->kv, rc, "mdb_cursor_get (session times)");
        }
        if (!idle) {
            return 0;
        }
        int result = kv_replies_prune(exec, &id, UINT64_MAX);
        if (result == 0) {
            result = kv_time_index(exec, &id, touched_ms, false);
        }
        if (result != 0) {
            return result;
        }
        MDB_val session = {.mv_size = id.bytes, .mv_data = id_bytes};
        rc = mdb_del(exec->txn, exec->kv->sessions_dbi, &session, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            return kv_storage_error(exec->kv, rc, "mdb_del (session)");
        }
    }
    return 0;
}

/* ---- the command ------------------------------------------------------------------------------
 */

static bool kv_parse_u64(const struct kv_arg *arg, uint64_t *value)
{
    int64_t parsed;
    if (!kv_parse_int64(arg->data, arg->data_bytes, &parsed) || parsed < 0) {
        return false;
    }
    *value = (uint64_t)parsed;
    return true;
}

static int kv_session_keep(struct kv_exec *exec, const struct kv_session_id *id, uint64_t seq,
                           struct kv_session_recorder *recorder)
{
    uint8_t key_bytes[KV_SESSION_REPLY_KEY_BYTES];
    size_t key_used;
    kv_reply_key(key_bytes, &key_used, id, seq);
    MDB_val key = {.mv_size = key_used, .mv_data = key_bytes};
    uint8_t too_large = 0;
    MDB_val value = {.mv_size = 1, .mv_data = &too_large};
    if (!recorder->overflow) {
        recorder->buffer->data[0] = 1;
        value = (MDB_val){.mv_size = recorder->used, .mv_data = recorder->buffer->data};
    }
    int rc = mdb_put(exec->txn, exec->kv->session_replies_dbi, &key, &value, 0);
    return rc == 0 ? 0 : kv_storage_error(exec->kv, rc, "keeping a session reply");
}

KV_HANDLER(kv_command_raft_session)
{
    uint64_t seq, acked;
    struct kv_session_id id = {.data = argv[1].data, .bytes = argv[1].data_bytes};
    if (id.bytes == 0 || id.bytes > KV_SESSION_ID_MAX_BYTES || !kv_parse_u64(&argv[2], &seq) ||
        seq == 0 || !kv_parse_u64(&argv[3], &acked)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX); /* the server builds these */
        return 0;
    }
    int result = kv_sessions_expire(exec);
    struct kv_session_state state = {0};
    bool found = false;
    if (result == 0) {
        result = kv_session_get(exec, &id, &state, &found);
    }
    if (result != 0) {
        return result;
    }
    if (found && seq <= state.last_seq) {
        /* A retry of a write applied already: its kept reply, and nothing runs. */
        uint8_t key_bytes[KV_SESSION_REPLY_KEY_BYTES];
        size_t key_used;
        kv_reply_key(key_bytes, &key_used, &id, seq);
        MDB_val key = {.mv_size = key_used, .mv_data = key_bytes};
        MDB_val kept;
        int rc = mdb_get(exec->txn, exec->kv->session_replies_dbi, &key, &kept);
        if (rc == 0) {
            kv_reply_replay(exec, &kept, seq);
        } else if (rc == MDB_NOTFOUND) {
            char text[160];
            snprintf(text, sizeof text,
                     "ERR session write %llu was applied already; its reply is no longer kept",
                     (unsigned long long)seq);
            kv_reply_text_error(exec, text);
        } else {
            return kv_storage_error(exec->kv, rc, "mdb_get (session reply)");
        }
        return kv_session_touch(exec, &id, &state, found, state.last_seq);
    }
    struct kv_session_recorder recorder;
    kv_recorder_init(&recorder, exec->reply, &exec->kv->session_reply);
    exec->reply = &recorder.tee;
    /* The kept reply is state, the same on every replica: PUBLISH's count (this node's
     * receivers) must not be in it (pubsub.c, design note 18). */
    bool hidden = exec->hide_receivers;
    exec->hide_receivers = true;
    result = kv_dispatch(exec, argc - KV_SESSION_HEADER_ARGS, argv + KV_SESSION_HEADER_ARGS);
    exec->hide_receivers = hidden;
    exec->reply = recorder.real;
    if (result != 0 || recorder.blocked) {
        return result; /* a blocked command did not apply: seq stays free */
    }
    result = kv_session_keep(exec, &id, seq, &recorder);
    uint64_t window_start = seq >= KV_SESSION_WINDOW ? seq - KV_SESSION_WINDOW + 1 : 0;
    if (result == 0) {
        result = kv_replies_prune(exec, &id, acked > window_start ? acked : window_start);
    }
    if (result == 0) {
        result = kv_session_touch(exec, &id, &state, found, seq);
    }
    return result;
}

bool kv_session_unwrap(size_t *argc, const struct kv_arg **argv)
{
    static const char name[] = KV_SESSION_COMMAND;
    if (*argc <= KV_SESSION_HEADER_ARGS || (*argv)[0].data_bytes != sizeof name - 1 ||
        memcmp((*argv)[0].data, name, sizeof name - 1) != 0) {
        return false;
    }
    *argc -= KV_SESSION_HEADER_ARGS;
    *argv += KV_SESSION_HEADER_ARGS;
    return true;
}
