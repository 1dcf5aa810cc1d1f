/*
 * members_command.c — RAFT.NODE ADD|PROMOTE|DEMOTE|REMOVE|LIST: the operator's side of the
 * membership (members.c keeps the book of addresses and the transport's peers).
 *
 * Happy path. A change is parsed, proposed on the leader with the new configuration's address
 * book as the CONFIG entry's context (raft_propose_change), and answered +OK once the entry is
 * applied (node.c settles it like a write); followers answer MOVED. LIST answers from this
 * node's view of the configuration in force.
 *
 * Failure modes. Every refusal of the core is answered with why (docs/errors.md) and changes
 * nothing; an ADD of a member already committed with the same addresses answers OK again (a
 * joining node retries), one still pending TRYAGAIN.
 */
#include "server/server.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/log.h"

/* ---- RAFT.NODE ---- */

static bool parse_id(const struct kv_arg *argument, raft_node_id *id)
{
    int64_t value;
    if (!kv_parse_int64(argument->data, argument->data_bytes, &value) || value <= 0 ||
        value > UINT32_MAX) {
        return false;
    }
    *id = (raft_node_id)value;
    return true;
}

static bool parse_address_argument(const struct kv_arg *argument, char *host, uint16_t *port)
{
    char text[CONFIG_HOST_BYTES + 16];
    if (argument->data_bytes == 0 || argument->data_bytes >= sizeof text) {
        return false;
    }
    memcpy(text, argument->data, argument->data_bytes);
    text[argument->data_bytes] = '\0';
    return config_parse_address(text, host, CONFIG_HOST_BYTES, port) == 0;
}

static void reply_change_error(struct server *server, const struct client *client,
                               struct proto_buffer *out, int rc, const struct raft_change *change)
{
    const struct raft_configuration *configuration = raft_configuration(server->node.raft);
    unsigned long long id = (unsigned long long)change->id;
    switch (rc) {
    case RAFT_ERROR_NOT_LEADER:
        commands_redirect(server, client, out, NULL);
        break;
    case RAFT_ERROR_TRANSFERRING:
        reply_error(out, "TRYAGAIN a leadership transfer is in progress; nothing was changed");
        break;
    case RAFT_ERROR_CHANGE_PENDING:
        reply_error(out, "TRYAGAIN another configuration change is not committed yet (one "
                         "change at a time); nothing was changed, retry once it commits");
        break;
    case RAFT_ERROR_NOT_READY:
        reply_error(out, "TRYAGAIN the new leader has not committed an entry of its term yet; "
                         "nothing was changed, retry shortly");
        break;
    case RAFT_ERROR_NOT_CAUGHT_UP: {
        uint64_t match = 0;
        uint64_t next = 0;
        raft_progress(server->node.raft, change->id, &match, &next);
        reply_error(out,
                    "ERR node %llu has not caught up with the leader (it has %llu of %llu "
                    "entries; promote-max-lag is %llu) or is not answering; retry later",
                    id, (unsigned long long)match,
                    (unsigned long long)raft_last_index(server->node.raft),
                    (unsigned long long)server->config.promote_max_lag);
        break;
    }
    case RAFT_ERROR_NO_QUORUM:
        reply_error(out, "ERR the change would leave the cluster without a live majority of voters "
                         "(or without voters); nothing was changed (FORCE overrides the first)");
        break;
    case RAFT_ERROR_ID_USED:
        reply_error(out,
                    "ERR node id %llu is or was used in this cluster and ids are never reused: "
                    "choose an id above %llu",
                    id, (unsigned long long)configuration->highest_id);
        break;
    case RAFT_ERROR_NOT_MEMBER:
        reply_error(out, "ERR node %llu is not a %s of this cluster", id,
                    change->type == RAFT_CHANGE_PROMOTE  ? "learner"
                    : change->type == RAFT_CHANGE_DEMOTE ? "voter"
                                                         : "member");
        break;
    case RAFT_ERROR_TOO_MANY:
        reply_error(out, "ERR the cluster already has %d %s", RAFT_MAX_NODES,
                    change->type == RAFT_CHANGE_PROMOTE ? "voters" : "learners");
        break;
    default:
        reply_error(out, "ERR the change was refused: %s", raft_error_string(rc));
        break;
    }
}

static void list_members(struct server *server, struct proto_buffer *out)
{
    struct raft *raft = server->node.raft;
    const struct raft_configuration *configuration = raft_configuration(raft);
    reply_array(out, raft_configuration_member_count(configuration));
    for (uint32_t i = 0; i < raft_configuration_member_count(configuration); i++) {
        raft_node_id id = raft_configuration_member_at(configuration, i);
        const struct config_member *member = members_address(server, id);
        char client_address[CONFIG_HOST_BYTES + 16] = "?";
        char peer_address[CONFIG_HOST_BYTES + 16] = "?";
        if (member != NULL) {
            snprintf(client_address, sizeof client_address, "%s:%u", member->client_host,
                     (unsigned)member->client_port);
            snprintf(peer_address, sizeof peer_address, "%s:%u", member->peer_host,
                     (unsigned)member->peer_port);
        }
        uint64_t match = 0;
        uint64_t next = 0;
        bool known = raft_progress(raft, id, &match, &next);
        if (id == server->config.id) {
            known = true;
            match = raft_last_index(raft);
        }
        const char *state = id == server->config.id                           ? "self"
                            : transport_peer_connected(server->transport, id) ? "connected"
                                                                              : "disconnected";
        reply_array(out, 14);
        reply_bulk_string(out, "id");
        reply_integer(out, (int64_t)id);
        reply_bulk_string(out, "client");
        reply_bulk_string(out, client_address);
        reply_bulk_string(out, "peer");
        reply_bulk_string(out, peer_address);
        reply_bulk_string(out, "role");
        reply_bulk_string(out, i < configuration->voter_count ? "voter" : "learner");
        reply_bulk_string(out, "leader");
        reply_integer(out, raft_leader(raft) == id ? 1 : 0);
        reply_bulk_string(out, "match_index");
        if (known) {
            reply_integer(out, (int64_t)match);
        } else {
            reply_integer(out, -1); /* only the leader tracks the others' logs */
        }
        reply_bulk_string(out, "connection");
        reply_bulk_string(out, state);
    }
}

enum add_state {
    ADD_NEW,     /* not a member with these addresses: the core decides */
    ADD_PENDING, /* in the configuration in force, not in the committed one */
    ADD_DONE,    /* a member of the committed configuration */
};

/* ADD of a member that is already there with the same addresses succeeds again: a node that
 * joins retries until it hears OK, and its first OK may have been lost. But only once that
 * ADD is committed, since OK says so: an ADD still pending may yet be lost (a new leader
 * whose log lacks it truncates it), and a joining node told OK then would stop asking and
 * wait forever for a leader that does not know it. */
static enum add_state add_state(const struct server *server, const struct config_member *candidate)
{
    struct raft *raft = server->node.raft;
    if (!raft_configuration_has(raft_configuration(raft), candidate->id)) {
        return ADD_NEW;
    }
    const struct config_member *known = members_address(server, candidate->id);
    if (known == NULL || known->client_port != candidate->client_port ||
        known->peer_port != candidate->peer_port ||
        strcmp(known->client_host, candidate->client_host) != 0 ||
        strcmp(known->peer_host, candidate->peer_host) != 0) {
        return ADD_NEW;
    }
    struct raft_configuration committed;
    if (raft_configuration_at(raft, raft_commit_index(raft), &committed) != 0) {
        return ADD_PENDING; /* a leader's commit is never below its snapshot; be safe */
    }
    return raft_configuration_has(&committed, candidate->id) ? ADD_DONE : ADD_PENDING;
}

/* Parses a change; false with an error in out. */
static bool parse_change(size_t argc, const struct kv_arg *argv, struct raft_change *change,
                         struct config_member *added, struct proto_buffer *out)
{
    memset(change, 0, sizeof *change);
    memset(added, 0, sizeof *added);
    const struct kv_arg *sub = &argv[1];
    bool add = argument_is(sub, "add");
    size_t fixed = add ? 5 : 3;
    bool may_force = argument_is(sub, "remove") || argument_is(sub, "demote");
    if (argc < fixed || argc > fixed + (may_force ? 1 : 0) ||
        (argc == fixed + 1 && !argument_is(&argv[fixed], "force"))) {
        reply_error(out, "ERR syntax error: RAFT.NODE ADD <id> <client-host:port> "
                         "<peer-host:port> | PROMOTE <id> | DEMOTE <id> [FORCE] | REMOVE <id> "
                         "[FORCE] | LIST");
        return false;
    }
    if (!parse_id(&argv[2], &change->id)) {
        reply_error(out, "ERR node id must be an integer from 1 to 4294967295");
        return false;
    }
    change->force = argc == fixed + 1;
    if (add) {
        change->type = RAFT_CHANGE_ADD_LEARNER;
        added->id = change->id;
        if (!parse_address_argument(&argv[3], added->client_host, &added->client_port) ||
            !parse_address_argument(&argv[4], added->peer_host, &added->peer_port)) {
            reply_error(out, "ERR addresses must be HOST:PORT with a numeric host");
            return false;
        }
    } else if (argument_is(sub, "promote")) {
        change->type = RAFT_CHANGE_PROMOTE;
    } else if (argument_is(sub, "demote")) {
        change->type = RAFT_CHANGE_DEMOTE;
    } else {
        change->type = RAFT_CHANGE_REMOVE;
    }
    return true;
}

static void propose_change(struct server *server, struct request *request, size_t argc,
                           const struct kv_arg *argv)
{
    struct raft_change change;
    struct config_member added;
    if (!parse_change(argc, argv, &change, &added, &request->reply)) {
        return;
    }
    if (server->node.fatal || !node_is_leader(server)) {
        commands_redirect(server, request->client, &request->reply, NULL);
        return;
    }
    enum add_state state =
        change.type == RAFT_CHANGE_ADD_LEARNER ? add_state(server, &added) : ADD_NEW;
    if (state == ADD_DONE) {
        reply_status(&request->reply, "OK");
        return;
    }
    if (state == ADD_PENDING) {
        reply_error(&request->reply, "TRYAGAIN node %llu's ADD is not committed yet; retry shortly",
                    (unsigned long long)change.id);
        return;
    }
    char *context = malloc(MEMBERS_CONTEXT_MAX_BYTES);
    if (context == NULL) {
        reply_error(&request->reply, "ERR out of memory; nothing was changed");
        return;
    }
    size_t context_bytes =
        members_build_context(server, change.type == RAFT_CHANGE_ADD_LEARNER ? &added : NULL,
                              change.type == RAFT_CHANGE_REMOVE ? change.id : RAFT_NODE_NONE,
                              context, MEMBERS_CONTEXT_MAX_BYTES);
    uint64_t index = 0;
    uint64_t term = 0;
    int rc = raft_propose_change(server->node.raft, &change, (const uint8_t *)context,
                                 (uint32_t)context_bytes, &index, &term);
    free(context);
    if (rc != 0) {
        reply_change_error(server, request->client, &request->reply, rc, &change);
        return;
    }
    log_info("proposed RAFT.NODE %.*s %" PRIu64 "%s at index %" PRIu64, (int)argv[1].data_bytes,
             (const char *)argv[1].data, change.id, change.force ? " FORCE" : "", index);
    node_track_write(server, request, index, term);
    members_refresh(server); /* a new learner gets its peer connection before the APPENDs */
}

void members_command(struct client *client, size_t argc, const struct kv_arg *argv)
{
    struct server *server = client->server;
    struct request *request = client_request_new(client, REQUEST_WRITE);
    if (request == NULL) {
        client->closing = true;
        return;
    }
    if (argc == 2 && argument_is(&argv[1], "list")) {
        list_members(server, &request->reply);
    } else if (argc >= 3 && (argument_is(&argv[1], "add") || argument_is(&argv[1], "promote") ||
                             argument_is(&argv[1], "demote") || argument_is(&argv[1], "remove"))) {
        propose_change(server, request, argc, argv);
        if (request->pending) {
            return; /* answered when the entry is applied (node.c) */
        }
    } else {
        reply_error(&request->reply,
                    "ERR unknown subcommand or wrong number of arguments for 'RAFT.NODE': try "
                    "ADD, PROMOTE, DEMOTE, REMOVE or LIST");
    }
    client_request_finish(request);
}
