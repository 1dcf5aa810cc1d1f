/*
 * multi.c — MULTI / EXEC / DISCARD on a connection.
 *
 * Happy path: MULTI starts queueing; every data command after it is checked as it would be
 * run (unknown name, arity, authentication) and queued with +QUEUED; EXEC turns the queue
 * into one kv command, `raft.exec` (kv/transaction.c: each command's argument count, then its
 * arguments), and sends it down the ordinary path: a write is proposed as one entry and
 * applied atomically in one LMDB transaction on every replica, its reply Redis's EXEC array;
 * a transaction of reads only becomes `raft.exec.ro` and is served after one read index (or
 * from local state on a READONLY connection), with no log write.
 *
 * Failure modes, as Redis 7.0's: a command refused while queueing replies its error and marks
 * the transaction, whose EXEC then answers EXECABORT and runs nothing; EXEC and DISCARD
 * without MULTI, and a nested MULTI, are errors; a transaction larger than max-request-bytes
 * is refused when queued, with the same EXECABORT at EXEC; one above the space quota is
 * refused at EXEC with Redis's OOM error. The server's own commands (CLIENT, UNWATCH, ...) are
 * not queued — they cannot run inside an entry — and are refused inside MULTI, except PING
 * and ECHO, which kv can answer inside one (KV_COMMAND_QUEUED_ONLY).
 *
 * WATCH takes, for each key, a token from the node's applied state (kv_watch_token: absent,
 * or the version of the key's record) and keeps it on the connection until EXEC, DISCARD or
 * UNWATCH; EXEC puts the keys and tokens in the entry, and its apply (or read) runs nothing,
 * replying a null array, if one of the keys changed since — decided on replicated state, so
 * the same on every replica. A token from a node behind the leader is only older: the key
 * then looks changed and EXEC aborts, which the client retries; it never looks unchanged
 * when it changed. The list is bounded by max-request-bytes, since it goes into the entry.
 */
#include "server/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    MULTI_COUNT_TEXT_BYTES = 21,
};

static const char EXEC_ABORT[] = "EXECABORT Transaction discarded because of previous errors.";

static void multi_args_free(struct multi_args *args)
{
    free(args->bytes);
    free(args->lengths);
    memset(args, 0, sizeof *args);
}

static void multi_queue_clear(struct multi *multi)
{
    multi_args_free(&multi->queue);
    multi->active = multi->dirty = multi->writes = multi->grows = false;
    multi->commands = 0;
}

void multi_reset(struct client *client)
{
    multi_queue_clear(&client->multi);
    multi_args_free(&client->multi.watched);
}

static int multi_append(struct multi_args *args, const uint8_t *data, size_t data_bytes)
{
    if (args->bytes_used + data_bytes > args->bytes_capacity) {
        size_t capacity = args->bytes_capacity * 2 + data_bytes + 256;
        uint8_t *bytes = realloc(args->bytes, capacity);
        if (bytes == NULL) {
            return -1;
        }
        args->bytes = bytes;
        args->bytes_capacity = capacity;
    }
    if (args->count == args->capacity) {
        size_t capacity = args->capacity * 2 + 16;
        size_t *lengths = realloc(args->lengths, capacity * sizeof *lengths);
        if (lengths == NULL) {
            return -1;
        }
        args->lengths = lengths;
        args->capacity = capacity;
    }
    if (data_bytes > 0) {
        memcpy(args->bytes + args->bytes_used, data, data_bytes);
    }
    args->bytes_used += data_bytes;
    args->lengths[args->count++] = data_bytes;
    return 0;
}

/* What the arguments of both lists would weigh in one entry, with `argc` more of `bytes`. */
static uint64_t multi_entry_bytes(const struct multi *multi, size_t argc, uint64_t bytes)
{
    return LIMITS_REQUEST_BYTES(multi->queue.count + multi->watched.count + argc + 4,
                                multi->queue.bytes_used + multi->watched.bytes_used + bytes);
}

static void multi_refuse(struct client *client, const char *text)
{
    client->multi.dirty = true;
    commands_reply_immediate(client, text);
}

/* A data command inside MULTI: checked, then queued. */
static void multi_queue(struct client *client, size_t argc, const struct kv_arg *argv)
{
    struct multi *multi = &client->multi;
    const struct kv_command *command = kv_command_lookup(argv[0].data, argv[0].data_bytes);
    if (command == NULL || (command->flags & KV_COMMAND_INTERNAL) ||
        !kv_command_arity_ok(command, argc)) {
        multi->dirty = true;
        commands_reply_resolve_error(client, argc, argv);
        return;
    }
    uint64_t argument_bytes = 0;
    for (size_t i = 0; i < argc; i++) {
        argument_bytes += argv[i].data_bytes;
    }
    if (multi_entry_bytes(multi, argc + 1, argument_bytes) >
        client->server->config.max_request_bytes) {
        multi_refuse(client, "ERR the transaction exceeds max-request-bytes; it will not be "
                             "executed");
        return;
    }
    char count[MULTI_COUNT_TEXT_BYTES];
    int length = snprintf(count, sizeof count, "%zu", argc);
    int rc = multi_append(&multi->queue, (const uint8_t *)count, (size_t)length);
    for (size_t i = 0; i < argc && rc == 0; i++) {
        rc = multi_append(&multi->queue, argv[i].data, argv[i].data_bytes);
    }
    if (rc != 0) {
        multi_refuse(client, "ERR not enough memory to queue the command");
        return;
    }
    multi->commands++;
    multi->writes = multi->writes || !(command->flags & KV_COMMAND_READ);
    multi->grows = multi->grows || (command->flags & KV_COMMAND_DENY_OOM);
    commands_reply_status_immediate(client, "QUEUED");
}

bool multi_intercept(struct client *client, size_t argc, const struct kv_arg *argv)
{
    if (!client->multi.active) {
        return false;
    }
    static const char *const passing[] = {"exec", "discard", "multi", "watch", "quit"};
    for (size_t i = 0; i < sizeof passing / sizeof passing[0]; i++) {
        if (argument_is(&argv[0], passing[i])) {
            return false; /* run now, as in Redis */
        }
    }
    if (!client->authenticated) {
        multi_refuse(client, "NOAUTH Authentication required.");
    } else if (commands_is_server_command(&argv[0]) &&
               kv_command_lookup(argv[0].data, argv[0].data_bytes) == NULL) {
        multi_refuse(client, "ERR this command cannot be queued in a raftkv transaction (only "
                             "data commands can)");
    } else {
        multi_queue(client, argc, argv);
    }
    return true;
}

SERVER_HANDLER(command_multi)
{
    (void)argc, (void)argv;
    if (client->multi.active) {
        reply_error(out, "ERR MULTI calls can not be nested");
        return;
    }
    multi_queue_clear(&client->multi);
    client->multi.active = true;
    reply_status(out, "OK");
}

SERVER_HANDLER(command_watch)
{
    struct multi *multi = &client->multi;
    if (multi->active) {
        reply_error(out, "ERR WATCH inside MULTI is not allowed");
        return;
    }
    uint64_t argument_bytes = 0;
    for (size_t i = 1; i < argc; i++) {
        argument_bytes += argv[i].data_bytes + KV_WATCH_TOKEN_BYTES;
    }
    if (multi_entry_bytes(multi, 2 * (argc - 1), argument_bytes) >
        client->server->config.max_request_bytes) {
        reply_error(out, "ERR too many watched keys: the transaction would exceed "
                         "max-request-bytes (UNWATCH, or EXEC, first)");
        return;
    }
    /* A key watched twice keeps both tokens: the older one is the stricter check. */
    uint64_t now_ms = node_clock_read(client->server);
    for (size_t i = 1; i < argc; i++) {
        char token[KV_WATCH_TOKEN_BYTES];
        size_t token_bytes;
        int rc = kv_watch_token(client->server->node.kv, &argv[i], now_ms, token, &token_bytes);
        if (rc != 0) {
            multi_args_free(&multi->watched); /* the keys before it would be watched alone */
            reply_error(out, "ERR cannot read the key's version (storage); nothing is watched");
            return;
        }
        if (multi_append(&multi->watched, argv[i].data, argv[i].data_bytes) != 0 ||
            multi_append(&multi->watched, (const uint8_t *)token, token_bytes) != 0) {
            multi_args_free(&multi->watched);
            reply_error(out, "ERR not enough memory to watch the keys; nothing is watched");
            return;
        }
    }
    reply_status(out, "OK");
}

SERVER_HANDLER(command_unwatch)
{
    (void)argc, (void)argv;
    multi_args_free(&client->multi.watched);
    reply_status(out, "OK");
}

SERVER_HANDLER(command_discard)
{
    (void)argc, (void)argv;
    if (!client->multi.active) {
        reply_error(out, "ERR DISCARD without MULTI");
        return;
    }
    multi_reset(client);
    reply_status(out, "OK");
}

/* EXEC: answers through the ordinary data path (its own request), hence a deferred handler. */
void multi_exec(struct client *client, size_t argc, const struct kv_arg *argv)
{
    (void)argc, (void)argv;
    struct multi *multi = &client->multi;
    if (!multi->active) {
        commands_reply_immediate(client, "ERR EXEC without MULTI");
        return;
    }
    if (multi->dirty) {
        multi_reset(client);
        commands_reply_immediate(client, EXEC_ABORT);
        return;
    }
    if (multi->commands == 0 && multi->watched.count == 0) {
        multi_reset(client);
        commands_reply_empty_array(client);
        return;
    }
    if (multi->writes && multi->grows && node_over_quota(client->server)) {
        multi_reset(client);
        commands_reply_immediate(client, "OOM command not allowed when used memory > "
                                         "'maxmemory'.");
        return;
    }
    size_t watch_header = multi->watched.count > 0 ? 2 : 0;
    size_t exec_argc = 1 + watch_header + multi->watched.count + multi->queue.count;
    struct kv_arg *exec_argv = malloc(exec_argc * sizeof *exec_argv);
    if (exec_argv == NULL) {
        multi_reset(client);
        commands_reply_immediate(client, "ERR not enough memory to run the transaction");
        return;
    }
    const char *name = multi->writes ? KV_EXEC_COMMAND : KV_EXEC_READ_COMMAND;
    size_t at = 0;
    exec_argv[at++] = (struct kv_arg){.data = (const uint8_t *)name, .data_bytes = strlen(name)};
    char watched[MULTI_COUNT_TEXT_BYTES];
    if (watch_header > 0) {
        int length = snprintf(watched, sizeof watched, "%zu", multi->watched.count / 2);
        exec_argv[at++] = (struct kv_arg){.data = (const uint8_t *)"watch", .data_bytes = 5};
        exec_argv[at++] =
            (struct kv_arg){.data = (const uint8_t *)watched, .data_bytes = (size_t)length};
    }
    const struct multi_args *lists[] = {&multi->watched, &multi->queue};
    for (size_t list = 0; list < 2; list++) {
        size_t offset = 0;
        for (size_t i = 0; i < lists[list]->count; i++) {
            exec_argv[at++] = (struct kv_arg){.data = lists[list]->bytes + offset,
                                              .data_bytes = lists[list]->lengths[i]};
            offset += lists[list]->lengths[i];
        }
    }
    const struct kv_command *command =
        kv_command_lookup(exec_argv[0].data, exec_argv[0].data_bytes);
    /* The state is cleared first: the path below copies what it keeps (the encoding). */
    struct multi queued = *multi;
    memset(multi, 0, sizeof *multi);
    commands_execute_resolved(client, command, exec_argc, exec_argv);
    free(exec_argv);
    multi_args_free(&queued.queue);
    multi_args_free(&queued.watched);
}
