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
 * refused at EXEC with Redis's OOM error. The server's own commands (PING, CLIENT, ...) are
 * not queued — they cannot run inside an entry — and are refused inside MULTI; WATCH is not
 * implemented yet.
 */
#include "server/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    MULTI_COUNT_TEXT_BYTES = 21,
};

static const char EXEC_ABORT[] = "EXECABORT Transaction discarded because of previous errors.";

void multi_reset(struct client *client)
{
    struct multi *multi = &client->multi;
    free(multi->bytes);
    free(multi->lengths);
    memset(multi, 0, sizeof *multi);
}

static int multi_append(struct multi *multi, const uint8_t *data, size_t data_bytes)
{
    if (multi->bytes_used + data_bytes > multi->bytes_capacity) {
        size_t capacity = multi->bytes_capacity * 2 + data_bytes + 256;
        uint8_t *bytes = realloc(multi->bytes, capacity);
        if (bytes == NULL) {
            return -1;
        }
        multi->bytes = bytes;
        multi->bytes_capacity = capacity;
    }
    if (multi->args == multi->args_capacity) {
        size_t capacity = multi->args_capacity * 2 + 16;
        size_t *lengths = realloc(multi->lengths, capacity * sizeof *lengths);
        if (lengths == NULL) {
            return -1;
        }
        multi->lengths = lengths;
        multi->args_capacity = capacity;
    }
    if (data_bytes > 0) {
        memcpy(multi->bytes + multi->bytes_used, data, data_bytes);
    }
    multi->bytes_used += data_bytes;
    multi->lengths[multi->args++] = data_bytes;
    return 0;
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
    uint64_t bytes = LIMITS_REQUEST_BYTES(multi->args + argc + 2, multi->bytes_used);
    for (size_t i = 0; i < argc; i++) {
        bytes += argv[i].data_bytes;
    }
    if (bytes > client->server->config.max_request_bytes) {
        multi_refuse(client, "ERR the transaction exceeds max-request-bytes; it will not be "
                             "executed");
        return;
    }
    char count[MULTI_COUNT_TEXT_BYTES];
    int length = snprintf(count, sizeof count, "%zu", argc);
    int rc = multi_append(multi, (const uint8_t *)count, (size_t)length);
    for (size_t i = 0; i < argc && rc == 0; i++) {
        rc = multi_append(multi, argv[i].data, argv[i].data_bytes);
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
    } else if (commands_is_server_command(&argv[0])) {
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
    multi_reset(client);
    client->multi.active = true;
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
    if (multi->commands == 0) {
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
    struct kv_arg *exec_argv = malloc((multi->args + 1) * sizeof *exec_argv);
    if (exec_argv == NULL) {
        multi_reset(client);
        commands_reply_immediate(client, "ERR not enough memory to run the transaction");
        return;
    }
    const char *name = multi->writes ? KV_EXEC_COMMAND : KV_EXEC_READ_COMMAND;
    exec_argv[0] = (struct kv_arg){.data = (const uint8_t *)name, .data_bytes = strlen(name)};
    size_t offset = 0;
    for (size_t i = 0; i < multi->args; i++) {
        exec_argv[i + 1] =
            (struct kv_arg){.data = multi->bytes + offset, .data_bytes = multi->lengths[i]};
        offset += multi->lengths[i];
    }
    const struct kv_command *command =
        kv_command_lookup(exec_argv[0].data, exec_argv[0].data_bytes);
    size_t exec_argc = multi->args + 1;
    /* The state is cleared first: the path below copies what it keeps (the encoding). */
    struct multi queued = *multi;
    memset(multi, 0, sizeof *multi);
    commands_execute_resolved(client, command, exec_argc, exec_argv);
    free(exec_argv);
    free(queued.bytes);
    free(queued.lengths);
}
