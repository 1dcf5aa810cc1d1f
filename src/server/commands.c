/*
 * commands.c — where each request goes: the server's own commands (connection, cluster,
 * admin) answered here, and data commands routed by their kv/ flags.
 *
 * Routing of a data command (kv/ knows what it does; the server knows only its flags):
 *   READ  on the leader, or on a follower for a READONLY connection: at the connection's
 *         RAFT.CONSISTENCY — linearizable (the default: a ReadIndex, which a follower asks
 *         of its leader), lease (the leader's lease, no round while it holds) or stale (this
 *         node's state machine at once: the lecture's eventual consistency, opted into).
 *   READ  on a follower otherwise: MOVED, or CLUSTERDOWN with no leader known.
 *   WRITE on the leader: encoded into one log entry and proposed; elsewhere MOVED or
 *         CLUSTERDOWN. A refusal here always means the command had no effect.
 *
 * The server's commands are one declarative table (name, arity, flags, handler), like kv's
 * and Redis's, their handlers in commands_server.c; `COMMAND` describes both tables so
 * cluster-aware clients learn key positions.
 */
#include "server/server.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/log.h"

enum {
    MAX_STACK_ARGUMENTS = 32,
    SESSION_NUMBER_BYTES = 21, /* a u64 in decimal, and its terminator */
};

enum server_command_flags {
    SERVER_NO_AUTH = 1u << 0, /* allowed before AUTH */
};

/* A command answered later (it creates its own request): RAFT.NODE. */
typedef void (*server_deferred_handler)(struct client *client, size_t argc,
                                        const struct kv_arg *argv);

typedef void (*server_handler)(struct client *client, struct proto_buffer *out, size_t argc,
                               const struct kv_arg *argv);

struct server_command {
    const char *name;
    int arity;
    unsigned flags;
    server_handler handler;
    const char *command_flags;        /* for COMMAND's reply, space-separated */
    server_deferred_handler deferred; /* instead of handler */
    int first_key;                    /* the keys run from here to the end (WATCH); 0: none */
};

/* The key a redirect names the slot of: the first argument, except for keyless commands
 * (MOVED then says slot 0, as Redis Cluster clients expect). */
static const struct kv_arg *redirect_key(size_t argc, const struct kv_arg *argv)
{
    const struct kv_command *command = kv_command_lookup(argv[0].data, argv[0].data_bytes);
    if (command != NULL) {
        size_t position = 0;
        size_t count = 0;
        return kv_command_key_positions(command, argc, argv, &position, 1, &count) == 0 &&
                       count == 1
                   ? &argv[position]
                   : NULL;
    }
    return argc > 1 ? &argv[1] : NULL;
}

bool argument_is(const struct kv_arg *argument, const char *text)
{
    size_t length = strlen(text);
    return argument->data_bytes == length &&
           strncasecmp((const char *)argument->data, text, length) == 0;
}

static void command_command(struct client *client, struct proto_buffer *out, size_t argc,
                            const struct kv_arg *argv);
static void config_deferred(struct client *client, size_t argc, const struct kv_arg *argv);

static const struct server_command server_commands[] = {
    {"ping", -1, 0, command_ping, "fast stale", NULL, 0},
    {"echo", 2, 0, command_echo, "fast stale", NULL, 0},
    {"quit", -1, SERVER_NO_AUTH, command_quit, "fast noscript stale", NULL, 0},
    {"select", 2, 0, command_select, "loading stale fast", NULL, 0},
    {"auth", -2, SERVER_NO_AUTH, command_auth, "noscript loading stale fast no_auth", NULL, 0},
    {"hello", -1, SERVER_NO_AUTH, command_hello, "noscript loading stale fast no_auth", NULL, 0},
    {"client", -2, 0, command_client, "noscript loading stale", NULL, 0},
    {"readonly", 1, 0, command_readonly, "fast loading stale", NULL, 0},
    {"readwrite", 1, 0, command_readwrite, "fast loading stale", NULL, 0},
    {"raft.consistency", -1, 0, command_raft_consistency, "fast loading stale", NULL, 0},
    {"config", -2, 0, command_config, "admin noscript loading stale", config_deferred, 0},
    {"info", -1, 0, command_info, "loading stale", NULL, 0},
    {"cluster", -2, 0, command_cluster, "stale", NULL, 0},
    {"command", -1, 0, command_command, "loading stale", NULL, 0},
    {"raft.info", 1, 0, command_raft_info, "admin stale", NULL, 0},
    {"raft.transfer-leader", -1, 0, command_raft_transfer, "admin stale", NULL, 0},
    {"raft.tls", 2, 0, command_raft_tls, "admin stale", NULL, 0},
    {"raft.node", -2, 0, NULL, "admin stale", members_command, 0},
    {"raft.backup", -1, 0, NULL, "admin stale", backup_command, 0},
    {"raft.fault", -2, 0, command_raft_fault, "admin stale", NULL, 0},
    {"multi", 1, 0, command_multi, "noscript loading stale fast allow_busy", NULL, 0},
    {"exec", 1, 0, NULL, "noscript loading stale skip_slowlog", multi_exec, 0},
    {"discard", 1, 0, command_discard, "noscript loading stale fast allow_busy", NULL, 0},
    {"slowlog", -2, 0, command_slowlog, "admin random loading stale", NULL, 0},
    {"latency", -2, 0, command_latency, "admin noscript loading stale", NULL, 0},
    {"acl", -2, 0, NULL, "admin noscript loading stale", acl_command, 0},
    {"watch", -2, 0, command_watch, "noscript loading stale fast allow_busy", NULL, 1},
    {"unwatch", 1, 0, command_unwatch, "noscript loading stale fast allow_busy", NULL, 0},
    {"subscribe", -2, 0, command_subscribe, "pubsub noscript loading stale", NULL, 0},
    {"unsubscribe", -1, 0, command_unsubscribe, "pubsub noscript loading stale", NULL, 0},
    {"psubscribe", -2, 0, command_psubscribe, "pubsub noscript loading stale", NULL, 0},
    {"punsubscribe", -1, 0, command_punsubscribe, "pubsub noscript loading stale", NULL, 0},
    {"pubsub", -2, 0, command_pubsub, "pubsub loading stale", NULL, 0},
    {"reset", 1, SERVER_NO_AUTH, command_reset, "noscript loading stale fast no_auth allow_busy",
     NULL, 0},
};

#define SERVER_COMMAND_COUNT (sizeof server_commands / sizeof server_commands[0])

static const struct server_command *server_command_lookup(const struct kv_arg *name)
{
    for (size_t i = 0; i < SERVER_COMMAND_COUNT; i++) {
        if (argument_is(name, server_commands[i].name)) {
            return &server_commands[i];
        }
    }
    return NULL;
}

static void describe_flags(struct proto_buffer *out, const char *flags)
{
    size_t count = 0;
    for (const char *p = flags; *p != '\0'; p += strcspn(p, " "), p += strspn(p, " ")) {
        count++;
    }
    reply_array(out, count);
    for (const char *p = flags; *p != '\0';) {
        size_t length = strcspn(p, " ");
        resp_append_simple(out, p, length);
        p += length;
        p += strspn(p, " ");
    }
}

/* The ACL category of a group, as Redis names them. */
static const char *group_category(const char *group)
{
    static const struct {
        const char *group;
        const char *category;
    } categories[] = {
        {"string", "@string"},
        {"generic", "@keyspace"},
        {"server", "@keyspace"},
        {"hash", "@hash"},
        {"list", "@list"},
        {"set", "@set"},
        {"sorted-set", "@sortedset"},
        {"bitmap", "@bitmap"},
        {"scripting", "@scripting"},
        {"pubsub", "@pubsub"},
    };
    for (size_t i = 0; i < sizeof categories / sizeof categories[0]; i++) {
        if (strcmp(categories[i].group, group) == 0) {
            return categories[i].category;
        }
    }
    return "@keyspace";
}

/*
 * COMMAND INFO's ten fields as Redis 7 gives them: name, arity, flags, first key, last key,
 * step, ACL categories, tips, key specifications, subcommands. Tips, key specifications and
 * subcommands are empty arrays (clients fall back on the first/last/step positions).
 */
static void describe_data_command(struct proto_buffer *out, const struct kv_command *command)
{
    bool write = command->flags & KV_COMMAND_WRITE;
    bool blocking = command->flags & KV_COMMAND_BLOCKING;
    bool deny_oom = command->flags & KV_COMMAND_DENY_OOM;
    reply_array(out, 10);
    reply_bulk_string(out, command->name);
    reply_integer(out, command->arity);
    bool movable = kv_command_movable_keys(command);
    reply_array(out, (write ? 1 : 2) + (deny_oom ? 1 : 0) + (blocking ? 1 : 0) + (movable ? 1 : 0));
    if (write) {
        resp_append_simple(out, "write", 5);
    } else {
        resp_append_simple(out, "readonly", 8);
        resp_append_simple(out, "fast", 4);
    }
    if (deny_oom) {
        resp_append_simple(out, "denyoom", 7);
    }
    if (blocking) {
        resp_append_simple(out, "blocking", 8);
    }
    if (movable) {
        resp_append_simple(out, "movablekeys", 11);
    }
    reply_integer(out, command->first_key);
    reply_integer(out, command->last_key);
    reply_integer(out, command->key_step);
    const char *category = group_category(kv_command_group(command));
    reply_array(out, 2 + (blocking ? 1 : 0));
    resp_append_simple(out, write ? "@write" : "@read", write ? 6 : 5);
    resp_append_simple(out, category, strlen(category));
    if (blocking) {
        resp_append_simple(out, "@blocking", 9);
    }
    reply_array(out, 0);
    reply_array(out, 0);
    reply_array(out, 0);
}

static void describe_server_command(struct proto_buffer *out, const struct server_command *c)
{
    reply_array(out, 10);
    reply_bulk_string(out, c->name);
    reply_integer(out, c->arity);
    describe_flags(out, c->command_flags);
    reply_integer(out, c->first_key);
    reply_integer(out, c->first_key != 0 ? -1 : 0);
    reply_integer(out, c->first_key != 0 ? 1 : 0);
    reply_array(out, 1);
    resp_append_simple(out, "@connection", 11);
    reply_array(out, 0);
    reply_array(out, 0);
    reply_array(out, 0);
}

/* COMMAND GETKEYS command arg...: the keys, as Redis answers it (cluster clients ask for the
 * commands whose keys follow a numkeys argument). */
static void command_getkeys(struct proto_buffer *out, size_t argc, const struct kv_arg *argv)
{
    const struct kv_command *command =
        argc >= 4 ? kv_command_lookup(argv[2].data, argv[2].data_bytes) : NULL;
    if (argc < 4) {
        reply_error(out, "ERR wrong number of arguments for 'command|getkeys' command");
        return;
    }
    if (command == NULL || (command->flags & KV_COMMAND_INTERNAL)) {
        /* The server's own commands (PING, CLUSTER, ...) take no keys. */
        const struct server_command *own = server_command_lookup(&argv[2]);
        if (own == NULL || (command != NULL && (command->flags & KV_COMMAND_INTERNAL))) {
            reply_error(out, "ERR Invalid command specified");
        } else if ((own->arity > 0 && argc - 2 != (size_t)own->arity) ||
                   (own->arity < 0 && argc - 2 < (size_t)-own->arity)) {
            reply_error(out, "ERR Invalid number of arguments specified for command");
        } else if (own->first_key != 0) {
            reply_array(out, argc - 2 - (size_t)own->first_key);
            for (size_t i = 2 + (size_t)own->first_key; i < argc; i++) {
                reply_bulk(out, argv[i].data, argv[i].data_bytes);
            }
        } else {
            reply_error(out, "ERR The command has no key arguments");
        }
        return;
    }
    size_t positions[256];
    size_t count = 0;
    if (!kv_command_arity_ok(command, argc - 2)) {
        reply_error(out, "ERR Invalid number of arguments specified for command");
        return;
    }
    if (kv_command_key_positions(command, argc - 2, argv + 2, positions, 256, &count) != 0) {
        reply_error(out, "ERR Invalid arguments specified for command");
        return;
    }
    if (count == 0 && strcmp(kv_command_group(command), "scripting") == 0) {
        reply_array(out, 0); /* EVAL and FCALL take numkeys 0 (Redis's no_mandatory_keys) */
        return;
    }
    if (count == 0) {
        reply_error(out, "ERR The command has no key arguments");
        return;
    }
    reply_array(out, count);
    for (size_t i = 0; i < count; i++) {
        reply_bulk(out, argv[2 + positions[i]].data, argv[2 + positions[i]].data_bytes);
    }
}

/* COMMAND DOCS [name...]: each command's group (summaries and argument lists are not kept:
 * clients that read them, such as redis-cli's hints, show none). */
static void describe_docs(struct proto_buffer *out, int protocol, const char *name,
                          const char *group)
{
    reply_bulk_string(out, name);
    reply_map(out, protocol, 1);
    reply_bulk_string(out, "group");
    reply_bulk_string(out, group);
}

static void command_command(struct client *client, struct proto_buffer *out, size_t argc,
                            const struct kv_arg *argv)
{
    size_t table_count = 0;
    const struct kv_command *data = kv_command_table(&table_count);
    size_t data_count = 0; /* the server's own entries (active expiry) are no client command */
    for (size_t i = 0; i < table_count; i++) {
        data_count += kv_command_listed(&data[i]) ? 1 : 0;
    }
    if (argc == 1) {
        reply_array(out, data_count + SERVER_COMMAND_COUNT);
        for (size_t i = 0; i < table_count; i++) {
            if (kv_command_listed(&data[i])) {
                describe_data_command(out, &data[i]);
            }
        }
        for (size_t i = 0; i < SERVER_COMMAND_COUNT; i++) {
            describe_server_command(out, &server_commands[i]);
        }
    } else if (argument_is(&argv[1], "COUNT")) {
        if (argc != 2) {
            reply_error(out, "ERR wrong number of arguments for 'command|count' command");
            return;
        }
        reply_integer(out, (int64_t)(data_count + SERVER_COMMAND_COUNT));
    } else if (argument_is(&argv[1], "INFO")) {
        reply_array(out, argc - 2);
        for (size_t a = 2; a < argc; a++) {
            const struct kv_command *found = kv_command_lookup(argv[a].data, argv[a].data_bytes);
            const struct server_command *own = server_command_lookup(&argv[a]);
            if (found != NULL && kv_command_listed(found)) {
                describe_data_command(out, found);
            } else if (own != NULL) {
                describe_server_command(out, own);
            } else {
                reply_null(out, client->protocol);
            }
        }
    } else if (argument_is(&argv[1], "GETKEYS")) {
        command_getkeys(out, argc, argv);
    } else if (argument_is(&argv[1], "DOCS")) {
        size_t docs = 0;
        for (size_t i = 0; i < table_count && argc == 2; i++) {
            docs += kv_command_listed(&data[i]) ? 1 : 0;
        }
        for (size_t a = 2; a < argc; a++) {
            const struct kv_command *found = kv_command_lookup(argv[a].data, argv[a].data_bytes);
            docs += found != NULL && kv_command_listed(found) ? 1 : 0;
        }
        reply_map(out, client->protocol, docs);
        for (size_t i = 0; i < table_count && argc == 2; i++) {
            if (kv_command_listed(&data[i])) {
                describe_docs(out, client->protocol, data[i].name, kv_command_group(&data[i]));
            }
        }
        for (size_t a = 2; a < argc; a++) {
            const struct kv_command *found = kv_command_lookup(argv[a].data, argv[a].data_bytes);
            if (found != NULL && kv_command_listed(found)) {
                describe_docs(out, client->protocol, found->name, kv_command_group(found));
            }
        }
    } else {
        reply_error(out, "ERR unknown subcommand '%.*s'. Try COMMAND HELP.",
                    (int)argv[1].data_bytes, (const char *)argv[1].data);
    }
}

/* ---- routing ---- */

/* Where an answer known at once goes: straight to the output when nothing is waiting ahead
 * of it, else into a request queued behind the others (replies leave in request order).
 * Returns NULL when memory runs out (the client is then closed). */
static struct proto_buffer *immediate_output(struct client *client, struct request **request)
{
    *request = NULL;
    if (client->fifo_count == 0) {
        return &client->output;
    }
    *request = client_request_new(client, REQUEST_IMMEDIATE);
    if (*request == NULL) {
        client->closing = true;
        return NULL;
    }
    return &(*request)->reply;
}

static void finish_immediate(struct request *request)
{
    if (request != NULL) {
        client_request_finish(request);
    }
}

static void execute_immediate(struct client *client, const struct server_command *command,
                              size_t argc, const struct kv_arg *argv)
{
    bool arity_ok = (command->arity > 0 && argc == (size_t)command->arity) ||
                    (command->arity < 0 && argc >= (size_t)-command->arity);
    if (command->deferred != NULL && arity_ok &&
        (client->authenticated || (command->flags & SERVER_NO_AUTH))) {
        command->deferred(client, argc, argv); /* answers through a request of its own */
        return;
    }
    struct request *request;
    struct proto_buffer *out = immediate_output(client, &request);
    if (out == NULL) {
        return;
    }
    if (!client->authenticated && !(command->flags & SERVER_NO_AUTH)) {
        reply_error(out, "NOAUTH Authentication required.");
    } else if ((command->arity > 0 && argc != (size_t)command->arity) ||
               (command->arity < 0 && argc < (size_t)-command->arity)) {
        reply_error(out, "ERR wrong number of arguments for '%s' command", command->name);
    } else {
        command->handler(client, out, argc, argv);
    }
    finish_immediate(request);
}

/* Runs a kv command whose answer is known at once (errors, redirects, stale reads). */
static void execute_data_immediate(struct client *client, const struct kv_command *command,
                                   size_t argc, const struct kv_arg *argv, bool redirect)
{
    struct request *request;
    struct reply_target target = {.protocol = client->protocol};
    target.buffer = immediate_output(client, &request);
    if (target.buffer == NULL) {
        return;
    }
    struct kv_reply sink;
    reply_sink_init(&sink, &target);
    const struct kv_command *known = kv_command_lookup(argv[0].data, argv[0].data_bytes);
    if (command == NULL && known != NULL && (known->flags & KV_COMMAND_INTERNAL)) {
        kv_reply_unknown_command(&sink, argc, argv); /* the server's own, never a client's */
    } else if (command == NULL) {
        kv_command_resolve(argc, argv, &sink); /* answers the unknown command or arity */
    } else if (!client->authenticated) {
        reply_error(target.buffer, "NOAUTH Authentication required.");
    } else if (redirect) {
        size_t before = target.buffer->length;
        commands_redirect(client->server, client, target.buffer, redirect_key(argc, argv));
        dashboard_trace_redirected(client->server, argc, argv, target.buffer->data + before,
                                   target.buffer->length - before);
    } else {
        client->server->stats.reads_stale++;
        kv_read(client->server->node.kv, argc, argv, node_clock_read(client->server), &sink);
    }
    finish_immediate(request);
}

/*
 * CONFIG SET notify-keyspace-events goes through the log: the setting decides which events
 * every replica emits, so it is replicated state (kv's raft.config.notify), applied at the
 * same index everywhere, kept across restarts and carried by snapshots. It is a write like
 * any other: the leader proposes it (a follower redirects) and answers once it applied.
 * Every other CONFIG form is answered at once by command_config.
 */
static void config_deferred(struct client *client, size_t argc, const struct kv_arg *argv)
{
    unsigned flags;
    if (!(argc == 4 && argument_is(&argv[1], "SET") &&
          argument_is(&argv[2], "notify-keyspace-events"))) {
        struct request *request;
        struct proto_buffer *out = immediate_output(client, &request);
        if (out != NULL) {
            command_config(client, out, argc, argv);
            finish_immediate(request);
        }
        return;
    }
    if (!kv_notify_flags_parse(argv[3].data, argv[3].data_bytes, &flags)) {
        commands_reply_immediate(client, KV_ERROR_TEXT_NOTIFY_FLAGS);
        return;
    }
    char text[KV_NOTIFY_FLAGS_TEXT_BYTES];
    size_t text_bytes = kv_notify_flags_format(flags, text);
    /* Stored as parsed: the entry carries the canonical letters, not the client's. */
    unsigned canonical = 0;
    bool parsed = kv_notify_flags_parse((const uint8_t *)text, text_bytes, &canonical);
    if (!parsed || canonical != flags) {
        /* "An" prints as "A" (Redis's format drops n under A): keep the client's text. */
        text_bytes = 0;
    }
    struct kv_arg entry[2] = {
        {.data = (const uint8_t *)KV_NOTIFY_CONFIG_COMMAND,
         .data_bytes = strlen(KV_NOTIFY_CONFIG_COMMAND)},
        text_bytes > 0 ? (struct kv_arg){.data = (const uint8_t *)text, .data_bytes = text_bytes}
                       : argv[3],
    };
    const struct kv_command *command = kv_command_lookup(entry[0].data, entry[0].data_bytes);
    commands_execute_resolved(client, command, 2, entry);
}

bool commands_is_server_command(const struct kv_arg *name)
{
    return server_command_lookup(name) != NULL;
}

void commands_reply_immediate(struct client *client, const char *error_text)
{
    struct request *request;
    struct proto_buffer *out = immediate_output(client, &request);
    if (out != NULL) {
        reply_error(out, "%s", error_text);
        finish_immediate(request);
    }
}

void commands_reply_status_immediate(struct client *client, const char *status)
{
    struct request *request;
    struct proto_buffer *out = immediate_output(client, &request);
    if (out != NULL) {
        reply_status(out, status);
        finish_immediate(request);
    }
}

void commands_reply_empty_array(struct client *client)
{
    struct request *request;
    struct proto_buffer *out = immediate_output(client, &request);
    if (out != NULL) {
        reply_array(out, 0);
        finish_immediate(request);
    }
}

void commands_reply_resolve_error(struct client *client, size_t argc, const struct kv_arg *argv)
{
    execute_data_immediate(client, NULL, argc, argv, false);
}

/*
 * The edge of the limits chain (base/limits.h): a write is proposed only if every node can
 * store and apply it. Its size is checked against max-request-bytes, which lies below every
 * layer under it; and while the state machine is above its space quota, a write that can grow
 * the data is refused with Redis's maxmemory error, before it costs a log entry. Nothing
 * here is decided again when the entry applies: a write that passed applies on every replica.
 */
static bool write_admitted(struct client *client, const struct kv_command *command, size_t argc,
                           const struct kv_arg *argv, size_t encoded_bytes)
{
    struct server *server = client->server;
    if (encoded_bytes == 0 || encoded_bytes > server->config.max_request_bytes) {
        char text[160];
        snprintf(text, sizeof text,
                 "ERR request of %llu bytes exceeds max-request-bytes (%llu); the command was "
                 "not executed",
                 (unsigned long long)encoded_bytes,
                 (unsigned long long)server->config.max_request_bytes);
        server->stats.writes_refused_size++;
        commands_reply_immediate(client, text);
        return false;
    }
    if (node_over_quota(server) && kv_write_may_grow(server->node.kv, command, argc, argv)) {
        server->stats.writes_refused_quota++;
        commands_reply_immediate(client, "OOM command not allowed when used memory > 'maxmemory'.");
        return false;
    }
    return true;
}

/* A session's write goes into the log as raft.session id seq acked, then the write itself
 * (kv/session.c); *wrapped is then a malloc'd argv the caller frees. */
static int session_wrap(struct client *client, size_t *argc, const struct kv_arg **argv,
                        struct kv_arg **wrapped, char numbers[2][SESSION_NUMBER_BYTES])
{
    const struct client_session *session = &client->session;
    *wrapped = NULL;
    if (session->current_seq == 0) {
        return 0;
    }
    *wrapped = malloc((*argc + KV_SESSION_HEADER_ARGS) * sizeof **wrapped);
    if (*wrapped == NULL) {
        return -1;
    }
    int seq = snprintf(numbers[0], SESSION_NUMBER_BYTES, "%llu",
                       (unsigned long long)session->current_seq);
    int acked =
        snprintf(numbers[1], SESSION_NUMBER_BYTES, "%llu", (unsigned long long)session->acked);
    (*wrapped)[0] = (struct kv_arg){.data = (const uint8_t *)KV_SESSION_COMMAND,
                                    .data_bytes = strlen(KV_SESSION_COMMAND)};
    (*wrapped)[1] = (struct kv_arg){.data = session->id, .data_bytes = session->id_bytes};
    (*wrapped)[2] = (struct kv_arg){.data = (const uint8_t *)numbers[0], .data_bytes = (size_t)seq};
    (*wrapped)[3] =
        (struct kv_arg){.data = (const uint8_t *)numbers[1], .data_bytes = (size_t)acked};
    memcpy(*wrapped + KV_SESSION_HEADER_ARGS, *argv, *argc * sizeof **argv);
    *argc += KV_SESSION_HEADER_ARGS;
    *argv = *wrapped;
    return 0;
}

static void execute_write(struct client *client, const struct kv_command *command, size_t argc,
                          const struct kv_arg *argv)
{
    struct server *server = client->server;
    size_t entry_argc = argc;
    const struct kv_arg *entry_argv = argv;
    struct kv_arg *wrapped;
    char numbers[2][SESSION_NUMBER_BYTES];
    if (session_wrap(client, &entry_argc, &entry_argv, &wrapped, numbers) != 0) {
        commands_reply_immediate(client,
                                 "ERR not enough memory to take the command; it was not executed");
        return;
    }
    size_t bytes = kv_command_encoded_bytes(entry_argc, entry_argv);
    if (!write_admitted(client, command, argc, argv, bytes)) {
        free(wrapped);
        return;
    }
    uint8_t *encoded = malloc(bytes);
    size_t written = 0;
    int encoding = encoded == NULL
                       ? -1
                       : kv_command_encode(entry_argc, entry_argv, node_clock_stamp(server),
                                           encoded, bytes, &written);
    free(wrapped);
    if (encoding != 0) {
        free(encoded);
        commands_reply_immediate(client,
                                 "ERR not enough memory to take the command; it was not executed");
        return;
    }
    struct request *request = client_request_new(client, REQUEST_WRITE);
    if (request == NULL) {
        free(encoded);
        client->closing = true;
        return;
    }
    request->trace_id = dashboard_trace_begin(server, argc, argv);
    int rc = node_propose(server, request, encoded, written);
    dashboard_trace_proposed(server, request->trace_id, rc, request->index, request->term);
    if (command->flags & KV_COMMAND_BLOCKING) {
        request->command = encoded; /* proposed again if it blocks (blocking.c) */
        request->command_bytes = written;
    } else {
        free(encoded);
    }
    if (rc == 0 && request->index > client->last_write_index) {
        client->last_write_index = request->index;
    }
#ifdef RAFTKV_BROKEN_ACK_BEFORE_COMMIT
    /* Deliberately broken build for tests/cluster: acknowledge on proposal, before the entry
     * is durable on a majority. The fault suite must catch the lost writes this causes. */
    if (rc == 0) {
        request_list_remove(&server->pending_writes, request);
        reply_status(&request->reply, "OK");
        client_request_finish(request);
        return;
    }
#endif
    if (rc != 0) {
        /* Not proposed: no effect, whatever the reason. */
        if (rc == RAFT_ERROR_NOT_LEADER) {
            commands_redirect(server, request->client, &request->reply, redirect_key(argc, argv));
        } else if (rc == RAFT_ERROR_TOO_BIG) {
            reply_error(&request->reply, "ERR string exceeds maximum allowed size "
                                         "(proto-max-bulk-len)");
        } else {
            reply_error(&request->reply,
                        "TRYAGAIN the leader cannot take writes right now "
                        "(%s); the command was not executed",
                        raft_error_string(rc));
        }
        client_request_finish(request);
    }
}

static void execute_read_point(struct client *client, size_t argc, const struct kv_arg *argv)
{
    struct server *server = client->server;
    struct request *request = client_request_new(client, REQUEST_READ);
    if (request == NULL) {
        client->closing = true;
        return;
    }
    size_t bytes = kv_command_encoded_bytes(argc, argv);
    request->command = bytes > 0 ? malloc(bytes) : NULL;
    if (request->command == NULL ||
        kv_command_encode(argc, argv, 0, request->command, bytes, &request->command_bytes) != 0) {
        reply_error(&request->reply, "ERR the command is too large");
        client_request_finish(request);
        return;
    }
    /* A pipelined read after a write of the same connection must see it, as in Redis, even
     * though the write has not been answered yet: it waits for that write's index too. */
    request->min_index = client->last_write_index;
    int rc = client->consistency == READ_LEASE ? node_read_lease(server, request)
                                               : node_read_index(server, request);
    if (rc == RAFT_ERROR_NOT_LEADER) {
        /* no leader known (on a follower), or this node campaigns */
        commands_redirect(server, request->client, &request->reply, redirect_key(argc, argv));
        client_request_finish(request);
    } else if (rc != 0) {
        reply_error(&request->reply, "TRYAGAIN this node cannot serve reads right now (%s)",
                    raft_error_string(rc));
        client_request_finish(request);
    }
}

static void execute_data(struct client *client, size_t argc, const struct kv_arg *argv)
{
    const struct kv_command *command = kv_command_lookup(argv[0].data, argv[0].data_bytes);
    /* The server's own entries (active expiry, MULTI's) are no command a client can send. */
    if (command == NULL || (command->flags & KV_COMMAND_INTERNAL) ||
        !kv_command_arity_ok(command, argc)) {
        execute_data_immediate(client, NULL, argc, argv, false);
        return;
    }
    commands_execute_resolved(client, command, argc, argv);
}

void commands_execute_resolved(struct client *client, const struct kv_command *command, size_t argc,
                               const struct kv_arg *argv)
{
    struct server *server = client->server;
    if (!client->authenticated) {
        execute_data_immediate(client, command, argc, argv, false); /* answers NOAUTH */
        return;
    }
    if (server->node.fatal) {
        execute_data_immediate(client, command, argc, argv, true); /* answers CLUSTERDOWN */
        return;
    }
    if (server->replica != NULL) {
        replication_execute(client, command, argc, argv); /* the lecture's unsafe foils */
        return;
    }
    bool leader = node_is_leader(server);
#ifdef RAFTKV_BROKEN_LOCAL_READS
    /* Deliberately broken build for tests/cluster: a node that believes it leads answers reads
     * from its own state, without confirming its leadership (no ReadIndex). The fault suite
     * must catch the stale reads of a deposed leader. */
    if ((command->flags & KV_COMMAND_READ) && leader) {
        execute_data_immediate(client, command, argc, argv, false);
        return;
    }
#endif
    if (command->flags & KV_COMMAND_READ) {
        if (!leader && !client->readonly) {
            execute_data_immediate(client, command, argc, argv, true);
        } else if (client->consistency == READ_STALE) {
            execute_data_immediate(client, command, argc, argv, false);
        } else {
            execute_read_point(client, argc, argv);
        }
        return;
    }
    if (!leader) {
        execute_data_immediate(client, command, argc, argv, true);
        return;
    }
    execute_write(client, command, argc, argv);
}

/* ACL: a known command of an authenticated connection runs only if its user may run it (on
 * those keys); AUTH, HELLO and QUIT always may. A refusal inside MULTI aborts the EXEC. */
static bool acl_checked(struct client *client, size_t argc, const struct kv_arg *argv,
                        const struct kv_command *data, const struct server_command *own)
{
    if (!client->authenticated || (own == NULL && data == NULL) ||
        (own != NULL && (own->flags & SERVER_NO_AUTH)) ||
        (data != NULL && (data->flags & KV_COMMAND_INTERNAL))) {
        return true;
    }
    char error[256];
    if (acl_permits(client, argc, argv, data, own != NULL ? own->first_key : 0, error,
                    sizeof error)) {
        return true;
    }
    if (own != NULL && argument_is(&argv[0], "exec")) { /* as Redis: EXEC aborts, always */
        char text[300];
        snprintf(text, sizeof text, "EXECABORT Transaction discarded because of: %s", error);
        multi_reset(client);
        commands_reply_immediate(client, text);
        return false;
    }
    client->multi.dirty = client->multi.dirty || client->multi.active;
    commands_reply_immediate(client, error);
    return false;
}

struct proto_buffer *commands_immediate_begin(struct client *client, struct request **request)
{
    return immediate_output(client, request);
}

void commands_immediate_end(struct request *request)
{
    finish_immediate(request);
}

/* A command's place among stats.c's slots: data commands first, in kv's table order. */
static size_t command_slot(const struct kv_command *data, const struct server_command *own)
{
    size_t table_count;
    const struct kv_command *table = kv_command_table(&table_count);
    return data != NULL  ? (size_t)(data - table)
           : own != NULL ? table_count + (size_t)(own - server_commands)
                         : STATS_NO_COMMAND;
}

void commands_for_each_call(struct server *server, commands_call_fn visit, void *context)
{
    size_t table_count;
    const struct kv_command *table = kv_command_table(&table_count);
    for (size_t slot = 0; slot < table_count + SERVER_COMMAND_COUNT; slot++) {
        const struct command_stat *stat =
            slot < STATS_COMMAND_SLOTS ? &server->stats.commands[slot] : NULL;
        if (stat == NULL || (stat->calls == 0 && stat->rejected == 0)) {
            continue;
        }
        visit(context,
              slot < table_count ? table[slot].name : server_commands[slot - table_count].name,
              stat);
    }
}

static const struct server_command *exec_command(void)
{
    static const struct kv_arg name = {.data = (const uint8_t *)"exec", .data_bytes = 4};
    return server_command_lookup(&name);
}

/* A write (or EXEC) of a session's connection takes the session's next number. */
static void session_number(struct client *client, bool numbered)
{
    struct client_session *session = &client->session;
    if (session->active && numbered) {
        session->current_seq = session->next_seq++;
    }
}

/* The commands Redis runs for a RESP2 connection in subscribed mode (SSUBSCRIBE and
 * SUNSUBSCRIBE would be there too; raftkv has no shard channels). */
static const char *const SUBSCRIBED_MODE_COMMANDS[] = {
    "subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ping", "quit", "reset",
};

/* Redis's container commands, whose full name names the subcommand too ("client|id"). */
static const char *const CONTAINER_COMMANDS[] = {
    "acl", "client", "cluster", "command", "config", "function", "object", "pubsub", "script",
};

static void append_lowercase(char *out, size_t *used, size_t capacity, const struct kv_arg *word)
{
    for (size_t i = 0; i < word->data_bytes && *used + 1 < capacity; i++) {
        out[(*used)++] = (char)tolower(word->data[i]);
    }
    out[*used] = '\0';
}

void commands_full_name(size_t argc, const struct kv_arg *argv, char *out, size_t capacity)
{
    assert(argc >= 1);
    assert(capacity >= 2);
    size_t used = 0;
    append_lowercase(out, &used, capacity / 2, &argv[0]);
    for (size_t i = 0; i < sizeof CONTAINER_COMMANDS / sizeof CONTAINER_COMMANDS[0]; i++) {
        if (argc >= 2 && argument_is(&argv[0], CONTAINER_COMMANDS[i])) {
            out[used++] = '|';
            append_lowercase(out, &used, capacity, &argv[1]);
            return;
        }
    }
}

/*
 * RESP2's subscribed mode, as Redis 7.0: with any subscription, only the commands above run;
 * any other known command, with a valid arity, is refused with Redis's error, which names it
 * as COMMAND does ("get", "client|id"). Unknown commands and wrong arities are answered
 * their own errors first, as in Redis. RESP3 connections run everything.
 */
static bool refused_in_subscribed_mode(struct client *client, const struct server_command *own,
                                       size_t argc, const struct kv_arg *argv)
{
    if (client->protocol != 2 || pubsub_subscription_count(client) == 0) {
        return false;
    }
    for (size_t i = 0; i < sizeof SUBSCRIBED_MODE_COMMANDS / sizeof SUBSCRIBED_MODE_COMMANDS[0];
         i++) {
        if (argument_is(&argv[0], SUBSCRIBED_MODE_COMMANDS[i])) {
            return false;
        }
    }
    const struct kv_command *data = kv_command_lookup(argv[0].data, argv[0].data_bytes);
    bool known = own != NULL || (data != NULL && !(data->flags & KV_COMMAND_INTERNAL));
    bool arity_ok =
        own != NULL ? (own->arity > 0 ? argc == (size_t)own->arity : argc >= (size_t)-own->arity)
                    : data != NULL && kv_command_arity_ok(data, argc);
    if (!known || !arity_ok) {
        return false;
    }
    char name[160];
    commands_full_name(argc, argv, name, sizeof name);
    char text[320];
    snprintf(text, sizeof text,
             "ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
             "RESET are allowed in this context",
             name);
    commands_reply_immediate(client, text);
    return true;
}

void commands_execute(struct client *client, size_t argc, const struct resp_argument *argv)
{
    if (argc == 0) {
        return; /* an empty request ("*0"): nothing to run, as Redis */
    }
    struct kv_arg stack_arguments[MAX_STACK_ARGUMENTS];
    struct kv_arg *arguments = stack_arguments;
    if (argc > MAX_STACK_ARGUMENTS) {
        arguments = malloc(argc * sizeof *arguments);
        if (arguments == NULL) {
            client->closing = true;
            return;
        }
    }
    for (size_t i = 0; i < argc; i++) {
        arguments[i].data = (const uint8_t *)argv[i].data;
        arguments[i].data_bytes = argv[i].length;
    }
    const struct server_command *command = server_command_lookup(&arguments[0]);
    const struct kv_command *data =
        command == NULL ? kv_command_lookup(arguments[0].data, arguments[0].data_bytes) : NULL;
    size_t slot = command_slot(data, command);
    stats_command_begin(client, slot, argc, arguments);
    if (command != NULL || data != NULL) {
        client_note_command(client, argc, arguments); /* CLIENT LIST's cmd: known ones only */
    }
    uint64_t requests_before = client->requests_created;
    size_t output_before = client->output.length;
    if (!acl_checked(client, argc, arguments, data, command)) {
        stats_command_rejected(client->server, slot); /* refused: NOPERM */
        client->stat.slot = STATS_NO_COMMAND;
    } else if (refused_in_subscribed_mode(client, command, argc, arguments)) {
        /* answered Redis's error (after the ACL check, as Redis) */
    } else if (multi_intercept(client, argc, arguments)) {
        /* queued, or refused, inside MULTI */
    } else if (command != NULL) {
        session_number(client, command == exec_command());
        execute_immediate(client, command, argc, arguments);
    } else {
        session_number(client, data != NULL && (data->flags & KV_COMMAND_WRITE) &&
                                   !(data->flags & KV_COMMAND_INTERNAL));
        execute_data(client, argc, arguments);
    }
    client->session.current_seq = 0;
    /* Answered at once, straight into the output: its statistics now (a request's when it
     * is answered, client_request_finish). */
    if (client->stat.slot != STATS_NO_COMMAND && client->requests_created == requests_before &&
        client->output.length > output_before) {
        stats_command_done(client, &client->stat, client->output.data[output_before] == '-');
    }
    client->stat.slot = STATS_NO_COMMAND;
    if (arguments != stack_arguments) {
        free(arguments);
    }
}
