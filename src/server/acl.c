/*
 * acl.c — ACL users on a connection: who it is (AUTH), what it may run (checked before every
 * command), and the ACL command. The users themselves are replicated state (kv/acl.c): ACL
 * SETUSER and DELUSER go through the log as raft.acl.setuser / raft.acl.deluser, so every
 * node enforces the same rules, across failover and snapshots; the other subcommands read
 * this node's applied state.
 *
 * A password never reaches the log in clear: SETUSER's >password and <password become
 * #sha256 and !sha256 here, before the entry is built. The "default" user, until an ACL
 * SETUSER default changes it, is `on nopass ~* &* +@all`, or with --requirepass the same
 * with that password instead of nopass — so --requirepass keeps working as before.
 *
 * A connection caches its compiled user and compiles it again when kv's ACL generation moves
 * (an ACL entry applied, a snapshot installed). A connection whose user was deleted is closed
 * at its next command, one whose user was switched off keeps running (as in Redis).
 * Failure modes: a denied command gets Redis's NOPERM text and runs nothing (inside MULTI it
 * also aborts the EXEC, as in Redis); a node that cannot read its users (a failed state
 * machine) refuses with an error rather than guess.
 */
#include "server/server.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACL_DEFAULT_USER    "default"
#define ACL_DEFAULT_RULES   "on nopass ~* &* +@all"
#define ACL_HEX_BYTES       (2 * KV_ACL_HASH_BYTES + 1)
#define ACL_RULES_MAX_BYTES 256

static void acl_default_rules(const struct server *server, char *out, size_t out_bytes)
{
    const char *password = server->config.requirepass;
    if (password[0] == '\0') {
        snprintf(out, out_bytes, "%s", ACL_DEFAULT_RULES);
        return;
    }
    uint8_t hash[KV_ACL_HASH_BYTES];
    kv_acl_password_hash((const uint8_t *)password, strlen(password), hash);
    char hex[ACL_HEX_BYTES];
    for (size_t i = 0; i < KV_ACL_HASH_BYTES; i++) {
        snprintf(hex + 2 * i, 3, "%02x", hash[i]);
    }
    snprintf(out, out_bytes, "on #%s ~* &* +@all", hex);
}

static bool acl_is_default(const struct kv_arg *name)
{
    return name->data_bytes == 7 && memcmp(name->data, ACL_DEFAULT_USER, 7) == 0;
}

/* The user as the node's state machine has it. While the state machine is closed (the node
 * recovers from a storage failure), only the default user can be known: its rules from the
 * flags, so that INFO and RAFT.INFO still answer an operator. */
static int acl_load(struct server *server, const struct kv_arg *name, struct kv_acl_user **user)
{
    *user = NULL;
    char rules[ACL_RULES_MAX_BYTES];
    acl_default_rules(server, rules, sizeof rules);
    if (server->node.kv == NULL) {
        return acl_is_default(name) ? kv_acl_user_compile(name, rules, user) : -1;
    }
    return kv_acl_user_get(server->node.kv, name, rules, user);
}

void acl_client_init(struct client *client)
{
    snprintf(client->user, sizeof client->user, ACL_DEFAULT_USER);
    struct kv_arg name = {.data = (const uint8_t *)client->user, .data_bytes = 7};
    struct kv_acl_user *user;
    if (acl_load(client->server, &name, &user) == 0 && user != NULL) {
        client->authenticated = kv_acl_user_on(user) && kv_acl_user_nopass(user);
        client->acl = user;
        client->acl_generation =
            client->server->node.kv != NULL ? kv_acl_generation(client->server->node.kv) : 0;
    } else {
        client->authenticated = client->server->config.requirepass[0] == '\0';
    }
}

void acl_client_free(struct client *client)
{
    kv_acl_user_free(client->acl);
    client->acl = NULL;
}

/* The connection's user, compiled again if the users changed; NULL when it is gone. */
static const struct kv_acl_user *acl_client_user(struct client *client, bool *unavailable)
{
    struct kv *kv = client->server->node.kv;
    *unavailable = false;
    if (kv == NULL && client->acl != NULL) {
        return client->acl; /* recovering: the user as it was last known */
    }
    if (kv != NULL && client->acl != NULL && client->acl_generation == kv_acl_generation(kv)) {
        return client->acl;
    }
    acl_client_free(client);
    struct kv_arg name = {.data = (const uint8_t *)client->user,
                          .data_bytes = strlen(client->user)};
    struct kv_acl_user *user;
    if (acl_load(client->server, &name, &user) != 0) {
        *unavailable = true;
        return NULL;
    }
    if (user == NULL && kv == NULL) {
        *unavailable = true; /* not the default user, and nothing known of it yet */
    }
    client->acl = user;
    client->acl_generation = kv != NULL ? kv_acl_generation(kv) : 0;
    return user;
}

bool acl_authenticate(struct client *client, const struct kv_arg *name,
                      const struct kv_arg *password, struct proto_buffer *out)
{
    struct kv_acl_user *user;
    if (name->data_bytes > KV_ACL_NAME_MAX_BYTES || acl_load(client->server, name, &user) != 0) {
        reply_error(out, "ERR cannot read the ACL users on this node now; try another node");
        return false;
    }
    bool ok = user != NULL && kv_acl_user_on(user) &&
              kv_acl_password_matches(user, password->data, password->data_bytes);
    if (!ok) {
        kv_acl_user_free(user);
        reply_error(out, "WRONGPASS invalid username-password pair or user is disabled.");
        return false;
    }
    acl_client_free(client);
    memcpy(client->user, name->data, name->data_bytes);
    client->user[name->data_bytes] = '\0';
    client->acl = user;
    client->acl_generation =
        client->server->node.kv != NULL ? kv_acl_generation(client->server->node.kv) : 0;
    client->authenticated = true;
    return true;
}

bool acl_default_nopass(struct client *client)
{
    return acl_server_default_nopass(client->server);
}

bool acl_server_default_nopass(struct server *server)
{
    struct kv_arg name = {.data = (const uint8_t *)ACL_DEFAULT_USER, .data_bytes = 7};
    struct kv_acl_user *user;
    if (acl_load(server, &name, &user) != 0 || user == NULL) {
        return server->config.requirepass[0] == '\0';
    }
    bool nopass = kv_acl_user_nopass(user);
    kv_acl_user_free(user);
    return nopass;
}

/* ---- checking a command ---------------------------------------------------------------------- */

static void acl_command_name(const struct kv_arg *name, const struct kv_arg *sub, bool container,
                             char *out, size_t out_bytes)
{
    size_t used = 0;
    for (size_t i = 0; i < name->data_bytes && used + 1 < out_bytes; i++) {
        char c = (char)name->data[i];
        out[used++] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
    }
    if (container && sub != NULL && used + 2 < out_bytes) {
        out[used++] = '|';
        for (size_t i = 0; i < sub->data_bytes && used + 1 < out_bytes; i++) {
            char c = (char)sub->data[i];
            out[used++] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
        }
    }
    out[used] = '\0';
}

/* SUBSCRIBE and PUBLISH name channels, PSUBSCRIBE patterns (UNSUBSCRIBE needs nothing). */
static bool acl_channels_permitted(const struct kv_acl_user *user, size_t argc,
                                   const struct kv_arg *argv, char *error, size_t error_bytes)
{
    bool literal = argument_is(&argv[0], "psubscribe");
    bool publish = argument_is(&argv[0], "publish");
    if (!literal && !publish && !argument_is(&argv[0], "subscribe")) {
        return true;
    }
    size_t last = publish ? 2 : argc;
    for (size_t i = 1; i < last && i < argc; i++) {
        if (!kv_acl_channel_allowed(user, &argv[i], literal)) {
            snprintf(error, error_bytes,
                     "NOPERM this user has no permissions to access one of the channels used as "
                     "arguments");
            return false;
        }
    }
    return true;
}

bool acl_permits(struct client *client, size_t argc, const struct kv_arg *argv,
                 const struct kv_command *data, int server_first_key, char *error,
                 size_t error_bytes)
{
    bool unavailable;
    const struct kv_acl_user *user = acl_client_user(client, &unavailable);
    if (user == NULL) {
        if (unavailable) {
            snprintf(error, error_bytes,
                     "ERR cannot read the ACL users on this node now; try another node");
        } else {
            snprintf(error, error_bytes, "NOPERM the user of this connection was deleted");
            client->close_after_reply = true;
        }
        return false;
    }
    if (kv_acl_user_unrestricted(user)) {
        return true;
    }
    const struct kv_arg *sub = argc > 1 ? &argv[1] : NULL;
    if (!kv_acl_command_allowed(user, &argv[0], sub)) {
        char name[160];
        acl_command_name(&argv[0], sub, kv_acl_is_container(&argv[0]), name, sizeof name);
        snprintf(error, error_bytes, "NOPERM this user has no permissions to run the '%s' command",
                 name);
        return false;
    }
    size_t positions[256];
    size_t count = 0;
    if (data != NULL) {
        if (kv_command_key_positions(data, argc, argv, positions, 256, &count) != 0) {
            count = 0; /* a malformed numkeys: the command itself will say so */
        }
    } else if (server_first_key > 0) {
        for (size_t i = (size_t)server_first_key; i < argc && count < 256; i++) {
            positions[count++] = i;
        }
    }
    for (size_t i = 0; i < count; i++) {
        if (!kv_acl_key_allowed(user, &argv[positions[i]])) {
            snprintf(error, error_bytes,
                     "NOPERM this user has no permissions to access one of the keys used as "
                     "arguments");
            return false;
        }
    }
    return acl_channels_permitted(user, argc, argv, error, error_bytes);
}

/* ---- ACL --------------------------------------------------------------------------------------
 */

struct acl_list_state {
    struct proto_buffer *out;
    bool names_only;
    bool counting;
    size_t count;
    bool default_pending; /* "default" was never stored: shown in its place by name */
    char default_rules[ACL_RULES_MAX_BYTES];
};

static void acl_list_one(struct acl_list_state *state, const char *name, size_t name_bytes,
                         const char *rules, size_t rules_bytes)
{
    if (state->counting) {
        state->count++;
    } else if (state->names_only) {
        reply_bulk(state->out, name, name_bytes);
    } else {
        char line[16384];
        int length = snprintf(line, sizeof line, "user %.*s %.*s", (int)name_bytes, name,
                              (int)rules_bytes, rules);
        reply_bulk(state->out, line, length < (int)sizeof line ? (size_t)length : sizeof line - 1);
    }
}

static void acl_list_visit(void *context, const char *name, size_t name_bytes, const char *rules,
                           size_t rules_bytes)
{
    struct acl_list_state *state = context;
    size_t shorter = name_bytes < 7 ? name_bytes : 7;
    int order = memcmp(name, ACL_DEFAULT_USER, shorter);
    if (state->default_pending && (order > 0 || (order == 0 && name_bytes > 7))) {
        state->default_pending = false;
        acl_list_one(state, ACL_DEFAULT_USER, 7, state->default_rules,
                     strlen(state->default_rules));
    }
    if (name_bytes == 7 && order == 0) {
        state->default_pending = false;
    }
    acl_list_one(state, name, name_bytes, rules, rules_bytes);
}

/* LIST and USERS: the stored users by name, "default" among them even when never stored. */
static void acl_list(struct server *server, struct proto_buffer *out, bool names_only)
{
    if (server->node.kv == NULL) {
        reply_error(out, "ERR cannot read the ACL users on this node now");
        return;
    }
    struct acl_list_state state = {.out = out, .names_only = names_only, .counting = true};
    for (int pass = 0; pass < 2; pass++) {
        state.default_pending = true;
        acl_default_rules(server, state.default_rules, sizeof state.default_rules);
        if (kv_acl_users(server->node.kv, acl_list_visit, &state) != 0) {
            reply_error(out, "ERR cannot read the ACL users on this node now");
            return;
        }
        if (state.default_pending) {
            acl_list_one(&state, ACL_DEFAULT_USER, 7, state.default_rules,
                         strlen(state.default_rules));
        }
        if (pass == 0) {
            reply_array(out, state.count);
            state.counting = false;
        }
    }
}

static void acl_getuser(struct client *client, struct proto_buffer *out, const struct kv_arg *name)
{
    struct kv_acl_user *user;
    if (acl_load(client->server, name, &user) != 0) {
        reply_error(out, "ERR cannot read the ACL users on this node now");
        return;
    }
    if (user == NULL) {
        reply_null(out, client->protocol);
        return;
    }
    struct kv_acl_description *description = malloc(sizeof *description);
    if (description == NULL) {
        kv_acl_user_free(user);
        reply_error(out, "ERR out of memory");
        return;
    }
    kv_acl_user_describe(user, description);
    reply_map(out, client->protocol, 6);
    reply_bulk_string(out, "flags");
    reply_array(out, 1 + (description->nopass ? 1 : 0));
    reply_bulk_string(out, description->on ? "on" : "off");
    if (description->nopass) {
        reply_bulk_string(out, "nopass");
    }
    reply_bulk_string(out, "passwords");
    reply_array(out, description->password_count);
    for (size_t i = 0; i < description->password_count; i++) {
        reply_bulk_string(out, description->passwords[i]);
    }
    reply_bulk_string(out, "commands");
    reply_bulk_string(out, description->commands);
    reply_bulk_string(out, "keys");
    reply_bulk_string(out, description->keys);
    reply_bulk_string(out, "channels");
    reply_bulk_string(out, description->channels);
    reply_bulk_string(out, "selectors");
    reply_array(out, 0);
    free(description);
    kv_acl_user_free(user);
}

struct acl_cat_state {
    struct proto_buffer *out;
    size_t count;
    bool counting;
};

static void acl_cat_command(void *context, const char *name)
{
    struct acl_cat_state *state = context;
    /* Only what this build has: the container's name is known to the server or to kv. */
    size_t base = strcspn(name, "|");
    struct kv_arg command = {.data = (const uint8_t *)name, .data_bytes = base};
    const struct kv_command *data = kv_command_lookup(command.data, command.data_bytes);
    bool known = (data != NULL && kv_command_listed(data)) || commands_is_server_command(&command);
    if (!known) {
        return;
    }
    if (state->counting) {
        state->count++;
    } else {
        reply_bulk_string(state->out, name);
    }
}

static void acl_cat(struct proto_buffer *out, size_t argc, const struct kv_arg *argv)
{
    size_t categories = kv_acl_category_count();
    if (argc == 2) {
        reply_array(out, categories);
        for (size_t i = 0; i < categories; i++) {
            reply_bulk_string(out, kv_acl_category_name(i));
        }
        return;
    }
    for (size_t i = 0; i < categories; i++) {
        if (argument_is(&argv[2], kv_acl_category_name(i))) {
            struct acl_cat_state state = {.out = out, .counting = true};
            kv_acl_category_commands(i, acl_cat_command, &state);
            reply_array(out, state.count);
            state.counting = false;
            kv_acl_category_commands(i, acl_cat_command, &state);
            return;
        }
    }
    reply_error(out, "ERR Unknown category '%.*s'", (int)argv[2].data_bytes,
                (const char *)argv[2].data);
}

static void acl_genpass(struct proto_buffer *out, size_t argc, const struct kv_arg *argv)
{
    int64_t bits = 256;
    if (argc == 3 &&
        (!kv_parse_int64(argv[2].data, argv[2].data_bytes, &bits) || bits <= 0 || bits > 4096)) {
        reply_error(out, "ERR ACL GENPASS argument must be the number of bits for the output "
                         "password, a positive number up to 4096");
        return;
    }
    size_t chars = (size_t)(bits + 3) / 4;
    uint8_t random[512];
    char text[1025];
    if (RAND_bytes(random, (int)((chars + 1) / 2)) != 1) {
        reply_error(out, "ERR no random bytes available");
        return;
    }
    for (size_t i = 0; i < chars; i++) {
        uint8_t byte = random[i / 2];
        text[i] = "0123456789abcdef"[i % 2 == 0 ? byte >> 4 : byte & 15];
    }
    text[chars] = '\0';
    reply_bulk_string(out, text);
}

/* SETUSER and DELUSER: an entry, with passwords hashed first. */
static void acl_propose(struct client *client, size_t argc, const struct kv_arg *argv, bool setuser)
{
    struct kv_arg *entry = malloc((argc - 1) * sizeof *entry);
    char(*hashed)[ACL_HEX_BYTES + 1] = malloc((argc + 1) * sizeof *hashed);
    if (entry == NULL || hashed == NULL) {
        free(entry);
        free(hashed);
        commands_reply_immediate(client, "ERR out of memory");
        return;
    }
    const char *name = setuser ? KV_ACL_SETUSER_COMMAND : KV_ACL_DELUSER_COMMAND;
    entry[0] = (struct kv_arg){.data = (const uint8_t *)name, .data_bytes = strlen(name)};
    for (size_t i = 2; i < argc; i++) {
        entry[i - 1] = argv[i];
        const uint8_t *rule = argv[i].data;
        if (setuser && i > 2 && argv[i].data_bytes > 0 && (rule[0] == '>' || rule[0] == '<')) {
            uint8_t hash[KV_ACL_HASH_BYTES];
            kv_acl_password_hash(rule + 1, argv[i].data_bytes - 1, hash);
            hashed[i][0] = rule[0] == '>' ? '#' : '!';
            for (size_t b = 0; b < KV_ACL_HASH_BYTES; b++) {
                snprintf(hashed[i] + 1 + 2 * b, 3, "%02x", hash[b]);
            }
            entry[i - 1] = (struct kv_arg){.data = (const uint8_t *)hashed[i],
                                           .data_bytes = 1 + 2 * KV_ACL_HASH_BYTES};
        }
    }
    const struct kv_command *command = kv_command_lookup(entry[0].data, entry[0].data_bytes);
    commands_execute_resolved(client, command, argc - 1, entry);
    free(entry);
    free(hashed);
}

void acl_command(struct client *client, size_t argc, const struct kv_arg *argv)
{
    static const struct {
        const char *name;
        int arity; /* of the whole command, Redis's convention */
    } subcommands[] = {{"setuser", -3}, {"deluser", -3}, {"getuser", 3}, {"list", 2},
                       {"users", 2},    {"whoami", 2},   {"cat", -2},    {"genpass", -2}};
    const struct kv_arg *sub = &argv[1];
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++) {
        if (!argument_is(sub, subcommands[i].name)) {
            continue;
        }
        int arity = subcommands[i].arity;
        if ((arity > 0 && argc != (size_t)arity) || (arity < 0 && argc < (size_t)-arity) ||
            (i >= 6 && argc > 3)) {
            char text[96];
            snprintf(text, sizeof text, "ERR wrong number of arguments for 'acl|%s' command",
                     subcommands[i].name);
            commands_reply_immediate(client, text);
            return;
        }
        if (i <= 1) {
            acl_propose(client, argc, argv, i == 0);
            return;
        }
        struct request *request;
        struct proto_buffer *out = commands_immediate_begin(client, &request);
        if (out == NULL) {
            return;
        }
        if (i == 2) {
            acl_getuser(client, out, &argv[2]);
        } else if (i == 3 || i == 4) {
            acl_list(client->server, out, i == 4);
        } else if (i == 5) {
            reply_bulk_string(out, client->user);
        } else if (i == 6) {
            acl_cat(out, argc, argv);
        } else {
            acl_genpass(out, argc, argv);
        }
        commands_immediate_end(request);
        return;
    }
    char text[200];
    snprintf(text, sizeof text, "ERR unknown subcommand '%.*s'. Try ACL HELP.",
             (int)(sub->data_bytes < 100 ? sub->data_bytes : 100), (const char *)sub->data);
    commands_reply_immediate(client, text);
}
