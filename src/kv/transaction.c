/*
 * transaction.c — a MULTI/EXEC transaction as one entry: `raft.exec` (or `raft.exec.ro`, when
 * every queued command reads), then, when the client WATCHed keys, `watch`, their number and
 * for each a key and the token kv_watch_token gave for it, then, for each queued command, its
 * argument count in decimal and its arguments. Applied, it first compares every watched key
 * with its token: if one changed, nothing runs and the reply is a null array (Redis's aborted
 * EXEC) — the same decision on every replica, made on replicated state. Otherwise it runs
 * every command in order in the entry's transaction — one LMDB transaction, so the whole is
 * atomic on every replica — and replies Redis's EXEC array: each command's own reply, errors
 * included (an error in one command neither stops nor undoes the others, as in Redis). Read,
 * it runs the check and the reads in one read transaction: one consistent view, served after
 * a read index like any read.
 *
 * WATCH's versions: every write of a key's record stores the index of the entry that wrote
 * it (record.c), and every change of a collection's items writes its record again, so a
 * key's version moves exactly when the key changes. A token is "a" (no record), or "l" (live)
 * or "e" (expired by the reader's clock) followed by the record's version in decimal. A key
 * changed when: it was absent and now has a record; it was live and its record is gone, has
 * another version, or has expired since; it had expired and its record was replaced (its
 * deletion changes nothing: it was already gone, as Redis 7.0 judges stale keys).
 *
 * Inside a transaction a blocking command does not wait: it takes what there is or answers
 * its timeout reply, as Redis's blocking commands do inside MULTI.
 *
 * Failure modes: entry bytes that do not parse as this shape (a count past the end, a count
 * of 0, a malformed watch list) reply a syntax error for the whole EXEC — they can only come
 * from a broken server, since the server builds them; an internal command inside is refused
 * as unknown; a WRITE inside `raft.exec.ro` is refused. Storage failures abort the batch as
 * for any command.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "kv/transaction.h"

#define KV_WATCH_WORD "watch"

/* ---- WATCH ------------------------------------------------------------------------------------
 */

static size_t kv_watch_token_format(const struct kv_exec *exec, const struct kv_record *record,
                                    bool found, char token[KV_WATCH_TOKEN_BYTES])
{
    if (!found) {
        token[0] = 'a';
        return 1;
    }
    int written =
        snprintf(token, KV_WATCH_TOKEN_BYTES, "%c%llu", kv_record_expired(exec, record) ? 'e' : 'l',
                 (unsigned long long)record->version);
    assert(written > 0 && written < KV_WATCH_TOKEN_BYTES);
    return (size_t)written;
}

int kv_watch_token(struct kv *kv, const struct kv_arg *key, uint64_t now_ms,
                   char token[KV_WATCH_TOKEN_BYTES], size_t *token_bytes)
{
    if (kv->env == NULL) {
        return KV_ERROR_CLOSED;
    }
    int rc = mdb_txn_renew(kv->read_txn);
    if (rc != 0) {
        return kv_storage_error(kv, rc, "mdb_txn_renew");
    }
    struct kv_exec exec = {
        .kv = kv,
        .txn = kv->read_txn,
        .reply = &kv_discard_reply,
        .now_ms = now_ms > kv->clock_ms ? now_ms : kv->clock_ms,
    };
    struct kv_record record;
    bool found;
    int result = kv_raw_lookup(&exec, key, &record, &found);
    if (result == 0) {
        *token_bytes = kv_watch_token_format(&exec, &record, found, token);
    }
    mdb_txn_reset(kv->read_txn);
    return result;
}

/* Whether the key changed since `token` was taken; false with *valid false for a token that
 * is not one. */
static int kv_watch_changed(struct kv_exec *exec, const struct kv_arg *key,
                            const struct kv_arg *token, bool *valid, bool *changed)
{
    *valid = false;
    *changed = false;
    const uint8_t *text = token->data;
    int64_t version = 0;
    if (token->data_bytes == 1 && text[0] == 'a') {
        version = -1;
    } else if (token->data_bytes < 2 || (text[0] != 'l' && text[0] != 'e') ||
               !kv_parse_int64(text + 1, token->data_bytes - 1, &version) || version < 0) {
        return 0;
    }
    *valid = true;
    struct kv_record record;
    bool found;
    int result = kv_raw_lookup(exec, key, &record, &found);
    if (result != 0) {
        return result;
    }
    if (version < 0) {
        *changed = found;
    } else if (!found) {
        *changed = text[0] == 'l';
    } else {
        *changed = record.version != (uint64_t)version ||
                   (text[0] == 'l' && kv_record_expired(exec, &record));
    }
    return 0;
}

/* Reads the watch list at argv[1] if there is one: *first receives where the command groups
 * start, *aborted whether a watched key changed. False when the list is malformed. */
static int kv_exec_watches(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                           size_t *first, bool *aborted, bool *valid)
{
    *first = 1;
    *aborted = false;
    *valid = true;
    if (argc < 2 || argv[1].data_bytes != strlen(KV_WATCH_WORD) ||
        memcmp(argv[1].data, KV_WATCH_WORD, argv[1].data_bytes) != 0) {
        return 0;
    }
    int64_t watched;
    if (argc < 3 || !kv_parse_int64(argv[2].data, argv[2].data_bytes, &watched) || watched < 1 ||
        (uint64_t)watched > (argc - 3) / 2) {
        *valid = false;
        return 0;
    }
    *first = 3 + 2 * (size_t)watched;
    for (size_t i = 3; i < *first; i += 2) {
        bool changed;
        int result = kv_watch_changed(exec, &argv[i], &argv[i + 1], valid, &changed);
        if (result != 0 || !*valid) {
            return result;
        }
        *aborted = *aborted || changed;
    }
    return 0;
}

/* ---- EXEC -------------------------------------------------------------------------------------
 */

/* Walks the (count, arguments...) groups from argv[first]; false if they do not tile argv. */
static bool kv_exec_shape_ok(size_t argc, const struct kv_arg *argv, size_t first, size_t *commands)
{
    size_t position = first;
    *commands = 0;
    while (position < argc) {
        int64_t count;
        if (!kv_parse_int64(argv[position].data, argv[position].data_bytes, &count) || count < 1 ||
            (uint64_t)count > argc - position - 1) {
            return false;
        }
        position += 1 + (size_t)count;
        (*commands)++;
    }
    return position == argc && (*commands > 0 || first > 1);
}

KV_HANDLER(kv_command_raft_exec)
{
    size_t first;
    bool aborted, valid;
    int checked = kv_exec_watches(exec, argc, argv, &first, &aborted, &valid);
    if (checked != 0) {
        return checked;
    }
    size_t commands;
    if (!valid || !kv_exec_shape_ok(argc, argv, first, &commands)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
        return 0;
    }
    if (aborted) {
        exec->reply->null_array(exec->reply->context);
        return 0;
    }
    bool read_only = !exec->writable;
    exec->reply->array(exec->reply->context, commands);
    bool was_in_transaction = exec->in_transaction;
    exec->in_transaction = true;
    int result = 0;
    size_t position = first;
    for (size_t i = 0; i < commands && result == 0; i++) {
        int64_t count;
        bool parsed = kv_parse_int64(argv[position].data, argv[position].data_bytes, &count);
        assert(parsed && count >= 1);
        (void)parsed;
        const struct kv_arg *sub = &argv[position + 1];
        size_t sub_argc = (size_t)count;
        position += 1 + sub_argc;
        const struct kv_command *command = kv_command_resolve(sub_argc, sub, exec->reply);
        if (command == NULL) {
            continue; /* unknown or wrong arity: its error is its reply */
        }
        if (command->flags & KV_COMMAND_INTERNAL) {
            kv_reply_unknown_command(exec->reply, sub_argc, sub);
        } else if (read_only && !(command->flags & KV_COMMAND_READ)) {
            kv_reply_text_error(exec, "ERR a write inside a read-only transaction");
        } else {
            result = command->handler(exec, sub_argc, sub);
            assert(result != 0 || exec->unsettled_count == 0);
        }
    }
    exec->in_transaction = was_in_transaction;
    return result;
}

/* ---- what the server answers outside a transaction ---------------------------------------------
 */

KV_HANDLER(kv_command_ping)
{
    if (argc > 2) {
        kv_reply_text_error(exec, "ERR wrong number of arguments for 'ping' command");
    } else if (argc == 2) {
        exec->reply->bulk(exec->reply->context, argv[1].data, argv[1].data_bytes);
    } else {
        exec->reply->status(exec->reply->context, "PONG", 4);
    }
    return 0;
}

KV_HANDLER(kv_command_echo)
{
    (void)argc;
    exec->reply->bulk(exec->reply->context, argv[1].data, argv[1].data_bytes);
    return 0;
}
