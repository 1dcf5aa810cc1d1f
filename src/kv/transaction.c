/*
 * transaction.c — a MULTI/EXEC transaction as one entry: `raft.exec` (or `raft.exec.ro`, when
 * every queued command reads) followed, for each queued command, by its argument count in
 * decimal and then its arguments. Applied, it runs every command in order in the entry's
 * transaction — one LMDB transaction, so the whole is atomic on every replica — and replies
 * Redis's EXEC array: each command's own reply, errors included (an error in one command
 * neither stops nor undoes the others, as in Redis). Read, it runs the reads in one read
 * transaction: one consistent view, served after a read index like any read.
 *
 * Inside a transaction a blocking command does not wait: it takes what there is or answers
 * its timeout reply, as Redis's blocking commands do inside MULTI.
 *
 * Failure modes: entry bytes that do not parse as this shape (a count past the end, a count
 * of 0) reply a syntax error for the whole EXEC — they can only come from a broken server,
 * since the server builds them; an internal command inside is refused as unknown; a WRITE
 * inside `raft.exec.ro` is refused. Storage failures abort the batch as for any command.
 */
#include <assert.h>

#include "kv/transaction.h"

/* Walks the (count, arguments...) groups from argv[1]; false if they do not tile argv. */
static bool kv_exec_shape_ok(size_t argc, const struct kv_arg *argv, size_t *commands)
{
    size_t position = 1;
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
    return position == argc && *commands > 0;
}

KV_HANDLER(kv_command_raft_exec)
{
    size_t commands;
    if (!kv_exec_shape_ok(argc, argv, &commands)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
        return 0;
    }
    bool read_only = !exec->writable;
    exec->reply->array(exec->reply->context, commands);
    bool was_in_transaction = exec->in_transaction;
    exec->in_transaction = true;
    int result = 0;
    size_t position = 1;
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
        }
    }
    exec->in_transaction = was_in_transaction;
    return result;
}
