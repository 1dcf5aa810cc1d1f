/*
 * config_command.c — CONFIG GET, SET, REWRITE, RESETSTAT and HELP.
 *
 * CONFIG GET matches its glob patterns against every setting (config.c's, by raftkv's names)
 * and against the names Redis clients and tools ask for (maxclients, loglevel, save,
 * appendonly, ...), each answered with raftkv's true value or, for what raftkv does not have,
 * the value that describes it (appendonly no: the Raft log is the durability). CONFIG SET
 * changes the settings marked runtime below, all or none of a command's pairs; the others
 * are refused with Redis's "can't set immutable config" and stay as the command line gave
 * them. notify-keyspace-events is replicated state and goes through the log (commands.c).
 * CONFIG REWRITE writes the runtime settings' current values into the file of --config.
 */
#include "server/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct config_name {
    const char *name;    /* as CONFIG GET / SET names it */
    const char *setting; /* raftkv's setting (config.c), or NULL: fixed */
    const char *fixed;   /* the value of a fixed one */
    bool runtime;        /* CONFIG SET may change it */
};

/* Redis's names; raftkv's own settings follow from config.c under their own names. */
static const struct config_name redis_names[] = {
    {"maxclients", "max-clients", NULL, true},
    {"loglevel", "log-level", NULL, true},
    {"slowlog-log-slower-than", "slowlog-log-slower-than", NULL, true},
    {"slowlog-max-len", "slowlog-max-len", NULL, true},
    {"latency-monitor-threshold", "latency-monitor-threshold", NULL, true},
    {"maxmemory", "max-db-bytes", NULL, false},
    {"proto-max-bulk-len", "max-bulk-bytes", NULL, false},
    {"client-query-buffer-limit", "max-query-buffer-bytes", NULL, true},
    {"dir", "data-dir", NULL, false},
    {"requirepass", "requirepass", NULL, false},
    {"save", NULL, "", false},
    {"appendonly", NULL, "no", false},
    {"appendfsync", NULL, "always", false},
    {"databases", NULL, "1", false},
    {"cluster-enabled", NULL, "yes", false},
    {"maxmemory-policy", NULL, "noeviction", false},
    {"timeout", NULL, "0", false},
    {"io-threads", NULL, "1", false},
    {"daemonize", NULL, "no", false},
    {"port", NULL, NULL, false}, /* the member's client port and host: CONFIG GET below */
    {"bind", NULL, NULL, false},
};

/* raftkv's settings CONFIG SET may change, and what changing them needs. */
static const char *const runtime_settings[] = {
    "max-clients",
    "log-level",
    "slowlog-log-slower-than",
    "slowlog-max-len",
    "latency-monitor-threshold",
    "request-timeout-ms",
    "max-pipeline-requests",
    "max-query-buffer-bytes",
    "max-output-buffer-bytes",
    "snapshot-entries",
    "snapshot-log-bytes",
    "promote-max-lag",
    "pubsub-hard-limit-bytes",
    "pubsub-soft-limit-bytes",
    "pubsub-soft-limit-seconds",
};

#define RUNTIME_COUNT (sizeof runtime_settings / sizeof runtime_settings[0])
#define REDIS_COUNT   (sizeof redis_names / sizeof redis_names[0])

static bool is_runtime(const char *setting)
{
    for (size_t i = 0; i < RUNTIME_COUNT; i++) {
        if (strcmp(runtime_settings[i], setting) == 0) {
            return true;
        }
    }
    return false;
}

/* The setting behind a name CONFIG was given (case-insensitive, as Redis), or NULL. */
static const char *resolve(const struct kv_arg *name, const struct config_name **redis_name,
                           char *own, size_t own_bytes)
{
    *redis_name = NULL;
    for (size_t i = 0; i < REDIS_COUNT; i++) {
        if (argument_is(name, redis_names[i].name)) {
            *redis_name = &redis_names[i];
            return redis_names[i].setting;
        }
    }
    if (name->data_bytes == 0 || name->data_bytes >= own_bytes) {
        return NULL;
    }
    for (size_t i = 0; i < name->data_bytes; i++) {
        char c = (char)name->data[i];
        own[i] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
    }
    own[name->data_bytes] = '\0';
    static struct server_config probe; /* only asks whether the name is a setting */
    char value[4096];
    return config_format_value(&probe, own, value, sizeof value) == 0 ? own : NULL;
}

struct get_state {
    struct server *server;
    struct proto_buffer *out;
    size_t argc;
    const struct kv_arg *argv;
    bool counting;
    size_t count;
};

static bool matches_any(const struct get_state *state, const char *name)
{
    for (size_t a = 2; a < state->argc; a++) {
        char lower[128];
        size_t length = state->argv[a].data_bytes < sizeof lower ? state->argv[a].data_bytes : 0;
        for (size_t i = 0; i < length; i++) {
            char c = (char)state->argv[a].data[i];
            lower[i] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
        }
        if (kv_glob_match((const uint8_t *)lower, length, (const uint8_t *)name, strlen(name))) {
            return true;
        }
    }
    return false;
}

static void get_one(struct get_state *state, const char *name, const char *value)
{
    if (!matches_any(state, name)) {
        return;
    }
    if (state->counting) {
        state->count++;
        return;
    }
    reply_bulk_string(state->out, name);
    reply_bulk_string(state->out, value);
}

static void get_setting(void *context, const char *name)
{
    struct get_state *state = context;
    for (size_t i = 0; i < REDIS_COUNT; i++) {
        if (redis_names[i].setting != NULL && strcmp(redis_names[i].name, name) == 0) {
            return; /* the same name as Redis's: listed once, below */
        }
    }
    char value[4096];
    if (config_format_value(&state->server->config, name, value, sizeof value) == 0) {
        get_one(state, name, value);
    }
}

static void config_get(struct client *client, struct proto_buffer *out, size_t argc,
                       const struct kv_arg *argv)
{
    struct server *server = client->server;
    char notify[KV_NOTIFY_FLAGS_TEXT_BYTES];
    kv_notify_flags_format(server->node.kv != NULL ? kv_notify_flags(server->node.kv) : 0, notify);
    const struct config_member *self = config_member(&server->config, server->config.id);
    char port[16];
    snprintf(port, sizeof port, "%u", self != NULL ? self->client_port : 0);
    struct get_state state = {.server = server, .out = out, .argc = argc, .argv = argv};
    for (int pass = 0; pass < 2; pass++) {
        state.counting = pass == 0;
        for (size_t i = 0; i < REDIS_COUNT; i++) {
            char value[4096];
            if (redis_names[i].setting == NULL && redis_names[i].fixed == NULL) {
                continue;
            } else if (redis_names[i].setting == NULL) {
                get_one(&state, redis_names[i].name, redis_names[i].fixed);
            } else if (config_format_value(&server->config, redis_names[i].setting, value,
                                           sizeof value) == 0) {
                get_one(&state, redis_names[i].name, value);
            }
        }
        get_one(&state, "notify-keyspace-events", notify);
        get_one(&state, "port", port);
        get_one(&state, "bind", self != NULL ? self->client_host : "");
        config_for_each_setting(get_setting, &state);
        if (pass == 0) {
            reply_map(out, client->protocol, state.count);
        }
    }
}

/* After a change: what a setting's new value must reach besides the struct. */
static void config_applied(struct server *server, const char *setting)
{
    if (strcmp(setting, "log-level") == 0) {
        log_configure(server->config.log_level, server->config.id);
    }
}

static void config_set(struct client *client, struct proto_buffer *out, size_t argc,
                       const struct kv_arg *argv)
{
    struct server *server = client->server;
    if (argc < 4 || argc % 2 != 0) {
        reply_error(out, "ERR wrong number of arguments for 'config|set' command");
        return;
    }
    /* All or none: checked on a copy first. */
    struct server_config *copy = malloc(sizeof *copy);
    if (copy == NULL) {
        reply_error(out, "ERR out of memory");
        return;
    }
    *copy = server->config;
    for (size_t a = 2; a < argc; a += 2) {
        const struct config_name *redis_name;
        char own[128];
        const char *setting = resolve(&argv[a], &redis_name, own, sizeof own);
        int length = (int)(argv[a].data_bytes < 100 ? argv[a].data_bytes : 100);
        if (setting == NULL && redis_name == NULL) {
            reply_error(out, "ERR Unknown option or number of arguments for CONFIG SET - '%.*s'",
                        length, (const char *)argv[a].data);
            free(copy);
            return;
        }
        if (setting == NULL || !is_runtime(setting)) {
            reply_error(out,
                        "ERR CONFIG SET failed (possibly related to argument '%.*s') - can't "
                        "set immutable config",
                        length, (const char *)argv[a].data);
            free(copy);
            return;
        }
        char value[1024];
        char reason[512];
        size_t value_bytes =
            argv[a + 1].data_bytes < sizeof value - 1 ? argv[a + 1].data_bytes : sizeof value - 1;
        memcpy(value, argv[a + 1].data, value_bytes);
        value[value_bytes] = '\0';
        if (config_set_value(copy, setting, value, reason, sizeof reason) != 0) {
            reply_error(out, "ERR CONFIG SET failed (possibly related to argument '%.*s') - %s",
                        length, (const char *)argv[a].data, reason);
            free(copy);
            return;
        }
    }
    server->config = *copy;
    free(copy);
    for (size_t a = 2; a < argc; a += 2) {
        const struct config_name *redis_name;
        char own[128];
        config_applied(server, resolve(&argv[a], &redis_name, own, sizeof own));
    }
    reply_status(out, "OK");
}

SERVER_HANDLER(command_config)
{
    const struct kv_arg *sub = &argv[1];
    if (argument_is(sub, "GET")) {
        if (argc < 3) {
            reply_error(out, "ERR wrong number of arguments for 'config|get' command");
        } else {
            config_get(client, out, argc, argv);
        }
    } else if (argument_is(sub, "SET")) {
        config_set(client, out, argc, argv);
    } else if (argument_is(sub, "REWRITE")) {
        char error[512];
        if (argc != 2) {
            reply_error(out, "ERR wrong number of arguments for 'config|rewrite' command");
        } else if (config_rewrite(&client->server->config, runtime_settings, RUNTIME_COUNT, error,
                                  sizeof error) != 0) {
            reply_error(out, "ERR %s", error);
        } else {
            reply_status(out, "OK");
        }
    } else if (argument_is(sub, "RESETSTAT")) {
        stats_reset(client->server);
        reply_status(out, "OK");
    } else if (argument_is(sub, "HELP")) {
        static const char *const lines[] = {
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
            "HELP",
            "    Print this help."};
        reply_help(out, lines, sizeof lines / sizeof lines[0]);
    } else {
        reply_error(out, "ERR unknown subcommand '%.*s'. Try CONFIG HELP.",
                    (int)(sub->data_bytes < 100 ? sub->data_bytes : 100), (const char *)sub->data);
    }
}
