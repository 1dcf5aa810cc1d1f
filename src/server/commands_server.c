/*
 * commands_server.c — the server's own commands: connection (PING, ECHO, AUTH, HELLO, CLIENT,
 * SELECT, QUIT, READONLY/READWRITE), configuration and introspection (CONFIG GET, INFO,
 * CLUSTER), Raft administration (RAFT.INFO, RAFT.TRANSFER-LEADER), and the redirect a node
 * answers when it cannot take a request. They need server state that kv/ must not see; the
 * table that names them is commands.c's.
 *
 * Each handler writes exactly one reply to `out`, Redis's text for every error; arity was
 * checked by the caller.
 */
#include "server/server.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/log.h"

#define SERVER_VERSION "7.0.0"

enum {
    CLUSTER_SLOTS = 16384,
};

/* ---- cluster slots and redirects ---- */

/* CRC16-CCITT (XMODEM), the hash of Redis Cluster's key slots, computed bit by bit: it runs
 * only for redirects, which are rare. */
static uint16_t crc16(const uint8_t *data, size_t length)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < length; i++) {
        crc ^= (uint16_t)(data[i] << 8);
        for (int bit = 0; bit < 8; bit++) {
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
        }
    }
    return crc;
}

/* The key's slot, honouring a {hash tag} as Redis Cluster does. */
static unsigned key_slot(const struct kv_arg *key)
{
    const uint8_t *data = key->data;
    size_t length = key->data_bytes;
    const uint8_t *open = memchr(data, '{', length);
    if (open != NULL) {
        size_t rest = length - (size_t)(open - data) - 1;
        const uint8_t *close = memchr(open + 1, '}', rest);
        if (close != NULL && close > open + 1) {
            return crc16(open + 1, (size_t)(close - open - 1)) % CLUSTER_SLOTS;
        }
    }
    return crc16(data, length) % CLUSTER_SLOTS;
}

void commands_redirect(struct server *server, const struct client *client,
                       struct proto_buffer *buffer, const struct kv_arg *key)
{
    if (server->node.fatal) {
        reply_error(buffer,
                    "CLUSTERDOWN this node is recovering from a failure (%s); the command was "
                    "not executed, try another node",
                    server->node.failure_reason);
        return;
    }
    server->stats.redirects++;
    raft_node_id leader = raft_leader(server->node.raft);
    const struct config_member *member = leader != RAFT_NODE_NONE && leader != server->config.id
                                             ? members_address(server, leader)
                                             : NULL;
    if (member == NULL) {
        reply_error(buffer, "CLUSTERDOWN The cluster is down: no leader is known to this "
                            "node; the command was not executed");
        return;
    }
    unsigned slot = key != NULL ? key_slot(key) : 0;
    reply_error(buffer, "MOVED %u %s:%u", slot, member->client_host,
                client_port_for(client, member));
}

/* ---- connection commands ---- */

SERVER_HANDLER(command_ping)
{
    if (argc > 2) {
        reply_error(out, "ERR wrong number of arguments for 'ping' command");
    } else if (client->protocol == 2 && pubsub_subscription_count(client) > 0) {
        /* RESP2's subscribed mode: PING answers as a message would arrive. */
        reply_array(out, 2);
        reply_bulk_string(out, "pong");
        reply_bulk(out, argc == 2 ? argv[1].data : (const uint8_t *)"",
                   argc == 2 ? argv[1].data_bytes : 0);
    } else if (argc == 2) {
        reply_bulk(out, argv[1].data, argv[1].data_bytes);
    } else {
        reply_status(out, "PONG");
    }
}

SERVER_HANDLER(command_echo)
{
    (void)client;
    (void)argc;
    reply_bulk(out, argv[1].data, argv[1].data_bytes);
}

SERVER_HANDLER(command_quit)
{
    (void)argc;
    (void)argv;
    reply_status(out, "OK");
    client->close_after_reply = true;
}

SERVER_HANDLER(command_select)
{
    (void)client;
    (void)argc;
    int64_t index;
    if (!kv_parse_int64(argv[1].data, argv[1].data_bytes, &index)) {
        reply_error(out, "ERR value is not an integer or out of range");
    } else if (index != 0) {
        reply_error(out, "ERR DB index is out of range");
    } else {
        reply_status(out, "OK");
    }
}

/* AUTH password (the default user), or AUTH username password: an ACL user (acl.c). */
static bool authenticate(struct client *client, struct proto_buffer *out, size_t argc,
                         const struct kv_arg *argv)
{
    static const struct kv_arg default_user = {.data = (const uint8_t *)"default", .data_bytes = 7};
    if (argc == 2 && acl_default_nopass(client)) {
        reply_error(out, "ERR AUTH <password> called without any password configured for the "
                         "default user. Are you sure your configuration is correct?");
        return false;
    }
    return acl_authenticate(client, argc == 3 ? &argv[1] : &default_user, &argv[argc - 1], out);
}

SERVER_HANDLER(command_auth)
{
    if (argc > 3) {
        reply_error(out, "ERR syntax error");
        return;
    }
    if (authenticate(client, out, argc, argv)) {
        reply_status(out, "OK");
    }
}

/* Redis's rule for client names: printable, no spaces. */
static bool valid_client_name(const struct kv_arg *name)
{
    for (size_t i = 0; i < name->data_bytes; i++) {
        if (name->data[i] <= ' ' || name->data[i] > '~') {
            return false;
        }
    }
    return true;
}

static void set_client_name(struct client *client, const struct kv_arg *name)
{
    size_t length =
        name->data_bytes < sizeof client->name - 1 ? name->data_bytes : sizeof client->name - 1;
    memcpy(client->name, name->data, length);
    client->name[length] = '\0';
}

#define CLIENT_NAME_ERROR "ERR Client names cannot contain spaces, newlines or special characters."

static void hello_reply(struct client *client, struct proto_buffer *out)
{
    struct server *server = client->server;
    int protocol = client->protocol;
    reply_map(out, protocol, 7);
    reply_bulk_string(out, "server");
    reply_bulk_string(out, "redis");
    reply_bulk_string(out, "version");
    reply_bulk_string(out, SERVER_VERSION);
    reply_bulk_string(out, "proto");
    reply_integer(out, protocol);
    reply_bulk_string(out, "id");
    reply_integer(out, (int64_t)client->id);
    reply_bulk_string(out, "mode");
    reply_bulk_string(out, "cluster");
    reply_bulk_string(out, "role");
    /* A foil mode's node takes writes itself (replication.c): a master too. */
    reply_bulk_string(out,
                      node_is_leader(server) || server->replica != NULL ? "master" : "replica");
    reply_bulk_string(out, "modules");
    reply_array(out, 0);
}

/* HELLO [protover [AUTH username password] [SETNAME clientname]] */
SERVER_HANDLER(command_hello)
{
    int64_t version = client->protocol;
    if (argc >= 2 && !kv_parse_int64(argv[1].data, argv[1].data_bytes, &version)) {
        reply_error(out, "ERR Protocol version is not an integer or out of range");
        return;
    }
    if (version < 2 || version > 3) {
        reply_error(out, "NOPROTO unsupported protocol version");
        return;
    }
    const struct kv_arg *name = NULL;
    for (size_t i = 2; i < argc; i++) {
        if (argument_is(&argv[i], "AUTH") && i + 2 < argc) {
            struct kv_arg credentials[3] = {argv[i], argv[i + 1], argv[i + 2]};
            if (!authenticate(client, out, 3, credentials)) {
                return;
            }
            i += 2;
        } else if (argument_is(&argv[i], "SETNAME") && i + 1 < argc) {
            name = &argv[++i];
        } else {
            reply_error(out, "ERR Syntax error in HELLO option '%.*s'", (int)argv[i].data_bytes,
                        (const char *)argv[i].data);
            return;
        }
    }
    if (!client->authenticated) {
        reply_error(out, "NOAUTH HELLO must be called with the client already authenticated, "
                         "otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
                         "authenticate the client and select the RESP protocol version at the "
                         "same time");
        return;
    }
    if (name != NULL) {
        if (!valid_client_name(name)) {
            reply_error(out, CLIENT_NAME_ERROR);
            return;
        }
        set_client_name(client, name);
    }
    client->protocol = (int)version;
    hello_reply(client, out);
}

/* CLIENT SESSION <id> <next-seq> | CLIENT SESSION OFF: see struct client_session. */
static void client_session_command(struct client *client, struct proto_buffer *out, size_t argc,
                                   const struct kv_arg *argv)
{
    struct client_session *session = &client->session;
    if (argc == 3 && argument_is(&argv[2], "OFF")) {
        memset(session, 0, sizeof *session);
        reply_status(out, "OK");
        return;
    }
    if (argc != 4) {
        reply_error(out, "ERR wrong number of arguments for 'client|session' command");
        return;
    }
    int64_t next;
    if (argv[2].data_bytes == 0 || argv[2].data_bytes > KV_SESSION_ID_MAX_BYTES) {
        reply_error(out, "ERR the session id must be 1 to %d bytes", KV_SESSION_ID_MAX_BYTES);
    } else if (!kv_parse_int64(argv[3].data, argv[3].data_bytes, &next) || next < 1) {
        reply_error(out, "ERR the sequence number must be a positive integer");
    } else {
        session->active = true;
        memcpy(session->id, argv[2].data, argv[2].data_bytes);
        session->id_bytes = argv[2].data_bytes;
        session->next_seq = (uint64_t)next;
        session->acked = (uint64_t)next;
        reply_status(out, "OK");
    }
}

SERVER_HANDLER(command_client)
{
    const struct kv_arg *sub = &argv[1];
    struct {
        const char *name;
        size_t argc;
    } arities[] = {{"ID", 2}, {"GETNAME", 2}, {"SETNAME", 3}, {"SETINFO", 4}, {"INFO", 2}};
    if (argument_is(sub, "SESSION")) {
        client_session_command(client, out, argc, argv);
        return;
    }
    if (argument_is(sub, "LIST")) {
        client_list_command(client, out, argc, argv);
        return;
    }
    for (size_t i = 0; i < sizeof arities / sizeof arities[0]; i++) {
        if (argument_is(sub, arities[i].name) && argc != arities[i].argc) {
            char lower[16];
            size_t length = strlen(arities[i].name);
            for (size_t c = 0; c <= length; c++) {
                lower[c] = (char)tolower((unsigned char)arities[i].name[c]);
            }
            reply_error(out, "ERR wrong number of arguments for 'client|%s' command", lower);
            return;
        }
    }
    if (argument_is(sub, "ID")) {
        reply_integer(out, (int64_t)client->id);
    } else if (argument_is(sub, "GETNAME")) {
        if (client->name[0] == '\0') {
            reply_null(out, client->protocol);
        } else {
            reply_bulk_string(out, client->name);
        }
    } else if (argument_is(sub, "SETNAME")) {
        if (!valid_client_name(&argv[2])) {
            reply_error(out, CLIENT_NAME_ERROR);
            return;
        }
        set_client_name(client, &argv[2]);
        reply_status(out, "OK");
    } else if (argument_is(sub, "SETINFO")) {
        reply_status(out, "OK");
    } else if (argument_is(sub, "INFO")) {
        client_info_command(client, out);
    } else if (argument_is(sub, "KILL") && argc >= 3) {
        client_kill(client, out, argc, argv);
    } else if (argument_is(sub, "NO-EVICT") && argc == 3 &&
               (argument_is(&argv[2], "on") || argument_is(&argv[2], "off"))) {
        client->no_evict = argument_is(&argv[2], "on");
        reply_status(out, "OK");
    } else if (argument_is(sub, "KILL") || argument_is(sub, "NO-EVICT")) {
        char lower[16];
        size_t length = sub->data_bytes < sizeof lower - 1 ? sub->data_bytes : sizeof lower - 1;
        for (size_t c = 0; c < length; c++) {
            lower[c] = (char)tolower(sub->data[c]);
        }
        lower[length] = '\0';
        if (argument_is(sub, "NO-EVICT") && argc == 3) {
            reply_error(out, "ERR syntax error");
        } else {
            reply_error(out, "ERR wrong number of arguments for 'client|%s' command", lower);
        }
    } else {
        reply_error(out, "ERR unknown subcommand '%.*s'. Try CLIENT HELP.", (int)sub->data_bytes,
                    (const char *)sub->data);
    }
}

SERVER_HANDLER(command_readonly)
{
    (void)argc;
    (void)argv;
    client->readonly = true;
    reply_status(out, "OK");
}

SERVER_HANDLER(command_readwrite)
{
    (void)argc;
    (void)argv;
    client->readonly = false;
    reply_status(out, "OK");
}

/* RAFT.CONSISTENCY [LINEARIZABLE | LEASE | STALE]: how this connection's reads are served
 * (commands.c); without an argument, the current one. RESET and a new connection: linearizable. */
SERVER_HANDLER(command_raft_consistency)
{
    static const char *const names[] = {
        [READ_LINEARIZABLE] = "linearizable", [READ_LEASE] = "lease", [READ_STALE] = "stale"};
    if (argc == 1) {
        resp_append_bulk(out, names[client->consistency], strlen(names[client->consistency]));
        return;
    }
    if (argc == 2) {
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            if (argument_is(&argv[1], names[i])) {
                client->consistency = (enum read_consistency)i;
                reply_status(out, "OK");
                return;
            }
        }
        reply_error(out, "ERR RAFT.CONSISTENCY takes LINEARIZABLE, LEASE or STALE");
        return;
    }
    reply_error(out, "ERR wrong number of arguments for 'raft.consistency' command");
}

SERVER_HANDLER(command_info)
{
    char section[64] = "default";
    if (argc >= 2) {
        size_t length =
            argv[1].data_bytes < sizeof section - 1 ? argv[1].data_bytes : sizeof section - 1;
        for (size_t i = 0; i < length; i++) {
            section[i] = (char)tolower(argv[1].data[i]);
        }
        section[length] = '\0';
    }
    struct proto_buffer text;
    proto_buffer_init(&text, 1 << 20);
    info_generate(client->server, &text, section);
    reply_verbatim(out, client->protocol, (const char *)text.data, text.length);
    proto_buffer_free(&text);
}

SERVER_HANDLER(command_cluster)
{
    cluster_command(client, out, argc, argv);
}

SERVER_HANDLER(command_raft_info)
{
    (void)argc;
    (void)argv;
    raft_info_command(client, out);
}

SERVER_HANDLER(command_raft_transfer)
{
    struct server *server = client->server;
    int64_t target = 0;
    const struct raft_configuration *configuration = raft_configuration(server->node.raft);
    if (argc == 2 && (!kv_parse_int64(argv[1].data, argv[1].data_bytes, &target) || target <= 0 ||
                      !raft_configuration_is_voter(configuration, (raft_node_id)target))) {
        reply_error(out, "ERR unknown node id, or not a voter");
        return;
    }
    if (argc == 1) {
        /* No target: the most up-to-date other voter. */
        uint64_t best_match = 0;
        for (uint32_t i = 0; i < configuration->voter_count; i++) {
            raft_node_id id = configuration->voters[i];
            uint64_t match = 0;
            uint64_t next = 0;
            if (id != server->config.id && raft_progress(server->node.raft, id, &match, &next) &&
                (target == 0 || match > best_match)) {
                target = (int64_t)id;
                best_match = match;
            }
        }
    }
    int rc = raft_transfer_leadership(server->node.raft, (raft_node_id)target);
    if (rc == RAFT_ERROR_NOT_LEADER) {
        commands_redirect(server, client, out, NULL);
    } else if (rc != 0) {
        reply_error(out, "ERR cannot transfer leadership: %s", raft_error_string(rc));
    } else {
        log_info("leadership transfer to node %lld requested by client %llu", (long long)target,
                 (unsigned long long)client->id);
        reply_status(out, "OK");
    }
}
