/*
 * members.c — the cluster's membership as the server sees it: who the members are (the Raft
 * core's configuration), where they listen (an address book carried in the log), the peers the
 * transport talks to, and the RAFT.NODE commands that change it.
 *
 * Addresses travel with the configuration: a CONFIG entry's context (raft.h) holds one line
 * per member, "ID=CLIENT_HOST:PORT,PEER_HOST:PORT" (the --member syntax), so every node —
 * a new one that copied the log, one that installed a snapshot (kv keeps the latest applied
 * CONFIG entry, kv_members) — knows every member's addresses. The --member flags are only
 * the bootstrap: a cluster that never changed its membership has no CONFIG entry, and its
 * addresses are the flags'. This node's own line always comes from its flags.
 *
 * Happy path. members_refresh() runs before each ready is processed: when the configuration
 * in force changed (an entry appended or truncated, a snapshot installed), it reloads the
 * book and hands the transport the new list of peers, so that messages to a new learner find
 * a connection. RAFT.NODE ADD/PROMOTE/DEMOTE/REMOVE propose a change on the leader and reply
 * once it is applied (node.c settles it like a write); followers answer MOVED.
 *
 * Failure modes. A change the core refuses is answered with why (docs/errors.md) and changes
 * nothing. A member whose address is unknown (a malformed line in a context) is logged and
 * left without a peer connection rather than guessed.
 */
#include "server/server.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/log.h"

#define MEMBER_LINE_BYTES (2 * CONFIG_HOST_BYTES + 64)
/* members->index when the book could not be read yet; no configuration has this index. */
#define MEMBERS_BOOK_UNREAD UINT64_MAX
#define CONTEXT_MAX_BYTES   (2 * RAFT_MAX_NODES * MEMBER_LINE_BYTES)

static bool configuration_equal(const struct raft_configuration *a,
                                const struct raft_configuration *b)
{
    if (a->voter_count != b->voter_count || a->learner_count != b->learner_count ||
        a->highest_id != b->highest_id) {
        return false;
    }
    for (uint32_t i = 0; i < a->voter_count; i++) {
        if (a->voters[i] != b->voters[i]) {
            return false;
        }
    }
    for (uint32_t i = 0; i < a->learner_count; i++) {
        if (a->learners[i] != b->learners[i]) {
            return false;
        }
    }
    return true;
}

static raft_node_id member_at(const struct raft_configuration *configuration, uint32_t i)
{
    assert(i < configuration->voter_count + configuration->learner_count);
    return i < configuration->voter_count ? configuration->voters[i]
                                          : configuration->learners[i - configuration->voter_count];
}

static uint32_t member_count(const struct raft_configuration *configuration)
{
    return configuration->voter_count + configuration->learner_count;
}

const struct config_member *members_address(const struct server *server, raft_node_id id)
{
    if (id == server->config.id) {
        return config_member(&server->config, id);
    }
    for (uint32_t i = 0; i < server->members.count; i++) {
        if (server->members.book[i].id == id) {
            return &server->members.book[i];
        }
    }
    return config_member(&server->config, id);
}

uint32_t members_list(const struct server *server, const struct config_member **out)
{
    const struct raft_configuration *configuration = raft_configuration(server->node.raft);
    uint32_t count = 0;
    for (uint32_t i = 0; i < member_count(configuration); i++) {
        const struct config_member *member = members_address(server, member_at(configuration, i));
        if (member != NULL) {
            out[count++] = member;
        }
    }
    return count;
}

/* Puts a member's addresses in the book, replacing what it had for that id. */
static void book_put(struct members *members, const struct config_member *member)
{
    for (uint32_t i = 0; i < members->count; i++) {
        if (members->book[i].id == member->id) {
            members->book[i] = *member;
            return;
        }
    }
    if (members->count < sizeof members->book / sizeof members->book[0]) {
        members->book[members->count++] = *member;
    }
}

/* Reads a context's lines into the book; a malformed line is logged and skipped. */
static void parse_context(struct members *members, const uint8_t *context, uint32_t bytes)
{
    uint32_t at = 0;
    while (at < bytes) {
        const uint8_t *newline = memchr(context + at, '\n', bytes - at);
        uint32_t length = newline != NULL ? (uint32_t)(newline - (context + at)) : bytes - at;
        char line[MEMBER_LINE_BYTES];
        struct config_member member;
        if (length < sizeof line) {
            memcpy(line, context + at, length);
            line[length] = '\0';
        }
        if (length >= sizeof line || config_parse_member(line, &member) != 0) {
            log_warning("the configuration carries a malformed member address (%u bytes); "
                        "ignored",
                        (unsigned)length);
        } else {
            book_put(members, &member);
        }
        at += length + 1;
    }
}

/* Forgets the addresses of nodes that are members neither in force nor committed. */
static void book_prune(struct members *members)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < members->count; i++) {
        raft_node_id id = members->book[i].id;
        if (raft_configuration_is_voter(&members->configuration, id) ||
            raft_configuration_is_learner(&members->configuration, id) ||
            raft_configuration_is_voter(&members->committed, id) ||
            raft_configuration_is_learner(&members->committed, id)) {
            members->book[kept++] = members->book[i];
        }
    }
    members->count = kept;
}

/* The book of the configuration in force: the context of its CONFIG entry (in the log, or
 * applied into kv when the entry is compacted), else nothing (the flags then). Returns false
 * when kv does not hold the configuration in force yet: a snapshot from the leader is in
 * force in the core as soon as it arrives (raft_snapshot_handle), but the driver installs its
 * data into kv only afterwards, and until then kv_members() is the old state's. */
static bool load_book(struct server *server)
{
    struct members *members = &server->members;
    uint64_t index = raft_configuration_index(server->node.raft);
    struct raft_configuration configuration;
    const uint8_t *context = NULL;
    uint32_t context_bytes = 0;
    if (index > 0) {
        const struct raft_entry *entry = raft_entry_at(server->node.raft, index);
        assert(entry != NULL && entry->type == RAFT_ENTRY_CONFIG);
        if (raft_configuration_decode(entry->data, entry->data_bytes, &configuration, &context,
                                      &context_bytes) == 0) {
            parse_context(members, context, context_bytes);
        }
        members->from_log = true;
        return true;
    }
    assert(raft_first_index(server->node.raft) >= 1);
    if (server->node.kv == NULL ||
        kv_applied_index(server->node.kv) < raft_first_index(server->node.raft) - 1) {
        return false; /* the snapshot is not installed yet */
    }
    uint8_t *stored = NULL;
    size_t stored_bytes = 0;
    if (kv_members(server->node.kv, &stored, &stored_bytes) == 0 && stored != NULL &&
        stored_bytes <= UINT32_MAX &&
        raft_configuration_decode(stored, (uint32_t)stored_bytes, &configuration, &context,
                                  &context_bytes) == 0) {
        parse_context(members, context, context_bytes);
        members->from_log = true;
    }
    free(stored);
    return true;
}

static void format_ids(char *out, size_t out_bytes, const raft_node_id *ids, uint32_t count)
{
    size_t used = 0;
    out[0] = '\0';
    for (uint32_t i = 0; i < count && used < out_bytes; i++) {
        int n = snprintf(out + used, out_bytes - used, "%s%" PRIu64, i > 0 ? "," : "", ids[i]);
        used += n > 0 ? (size_t)n : 0;
    }
    if (count == 0) {
        snprintf(out, out_bytes, "none");
    }
}

/* On the first load from the log: flags that disagree are only a bootstrap, and say so. */
static void warn_stale_flags(const struct server *server)
{
    const struct raft_configuration *configuration = raft_configuration(server->node.raft);
    const struct server_config *config = &server->config;
    for (uint32_t i = 0; i < config->member_count; i++) {
        const struct config_member *flag = &config->members[i];
        bool member = raft_configuration_is_voter(configuration, flag->id) ||
                      raft_configuration_is_learner(configuration, flag->id);
        const struct config_member *known = members_address(server, flag->id);
        if (!member) {
            log_warning("--member %" PRIu64 " is not in the cluster's configuration any more; "
                        "the log's configuration is used (flags only bootstrap a cluster)",
                        flag->id);
        } else if (known != flag && (known->client_port != flag->client_port ||
                                     known->peer_port != flag->peer_port ||
                                     strcmp(known->client_host, flag->client_host) != 0 ||
                                     strcmp(known->peer_host, flag->peer_host) != 0)) {
            log_warning("--member %" PRIu64 " gives other addresses than the cluster's "
                        "configuration; the configuration's are used",
                        flag->id);
        }
    }
    for (uint32_t i = 0; i < member_count(configuration); i++) {
        raft_node_id id = member_at(configuration, i);
        if (config_member(config, id) == NULL) {
            log_warning("node %" PRIu64 " is a member but has no --member flag here; its "
                        "address comes from the log",
                        id);
        }
    }
}

/* The peers: the members of the configuration in force and of the last committed one. Until
 * a change commits, the nodes it removes still take part (a removed leader leads until then,
 * thesis §4.2.2): their connections stay. */
static void sync_transport(struct server *server)
{
    const struct raft_configuration *configuration = raft_configuration(server->node.raft);
    const struct raft_configuration *committed = &server->members.committed;
    struct transport_peer_address peers[TRANSPORT_MAX_PEERS];
    uint32_t count = 0;
    uint32_t in_force = member_count(configuration);
    for (uint32_t i = 0; i < in_force + member_count(committed); i++) {
        raft_node_id id =
            i < in_force ? member_at(configuration, i) : member_at(committed, i - in_force);
        bool listed = false;
        for (uint32_t j = 0; j < count && !listed; j++) {
            listed = peers[j].id == id;
        }
        if (id == server->config.id || listed || count == TRANSPORT_MAX_PEERS) {
            continue;
        }
        const struct config_member *member = members_address(server, id);
        if (member == NULL) {
            log_warning("node %" PRIu64 " is a member but its address is unknown here", id);
            continue;
        }
        struct transport_peer_address *peer = &peers[count++];
        peer->id = id;
        snprintf(peer->host, sizeof peer->host, "%s", member->peer_host);
        peer->port = member->peer_port;
    }
    int rc = transport_set_peers(server->transport, peers, count);
    if (rc != 0) {
        log_warning("cannot hand the transport the new peers: %s", transport_error_string(rc));
    }
}

void members_refresh(struct server *server)
{
    struct members *members = &server->members;
    struct raft *raft = server->node.raft;
    const struct raft_configuration *configuration = raft_configuration(raft);
    uint64_t index = raft_configuration_index(raft);
    bool pending = index > raft_commit_index(raft);
    if (members->loaded && members->index == index && members->pending == pending &&
        configuration_equal(&members->configuration, configuration)) {
        return;
    }
    members->pending = pending;
    if (raft_configuration_at(raft, raft_commit_index(raft), &members->committed) != 0) {
        members->committed = *configuration;
    }
    if (members->loaded && members->index == index &&
        configuration_equal(&members->configuration, configuration)) {
        book_prune(members);
        if (server->transport != NULL) {
            sync_transport(server); /* the change committed: the nodes it removed go */
        }
        return;
    }
    bool first = !members->loaded;
    bool was_member = members->loaded &&
                      (raft_configuration_is_voter(&members->configuration, server->config.id) ||
                       raft_configuration_is_learner(&members->configuration, server->config.id));
    members->loaded = true;
    members->index = index;
    members->configuration = *configuration;
    members->from_log = false;
    book_prune(members);
    if (!load_book(server)) {
        /* Read it at the next refresh, after the install; the transport keeps its peers. */
        members->index = MEMBERS_BOOK_UNREAD;
        return;
    }
    char voters[RAFT_MAX_NODES * 24];
    char learners[RAFT_MAX_NODES * 24];
    format_ids(voters, sizeof voters, configuration->voters, configuration->voter_count);
    format_ids(learners, sizeof learners, configuration->learners, configuration->learner_count);
    if (index > 0) {
        log_info("configuration of entry %" PRIu64 ": voters %s, learners %s", index, voters,
                 learners);
    } else {
        log_info("configuration (of the snapshot, or the flags): voters %s, learners %s", voters,
                 learners);
    }
    if (first && members->from_log) {
        warn_stale_flags(server);
    }
    bool member = raft_configuration_is_voter(configuration, server->config.id) ||
                  raft_configuration_is_learner(configuration, server->config.id);
    if (was_member && !member) {
        log_warning("this node was removed from the cluster's configuration; it takes no "
                    "further part (its data stays on disk)");
    }
    if (server->transport != NULL) {
        sync_transport(server);
    }
}

/* The context of the configuration a change makes: a line for every member but `removed`,
 * and one for `added`. */
static size_t build_context(const struct server *server, const struct config_member *added,
                            raft_node_id removed, char *out, size_t out_bytes)
{
    const struct raft_configuration *configuration = raft_configuration(server->node.raft);
    size_t used = 0;
    for (uint32_t i = 0; i <= member_count(configuration); i++) {
        const struct config_member *member = NULL;
        if (i < member_count(configuration)) {
            raft_node_id id = member_at(configuration, i);
            member = id != removed ? members_address(server, id) : NULL;
        } else {
            member = added;
        }
        if (member == NULL) {
            continue;
        }
        char line[MEMBER_LINE_BYTES];
        config_format_member(member, line, sizeof line);
        int n = snprintf(out + used, out_bytes - used, "%s\n", line);
        if (n < 0 || (size_t)n >= out_bytes - used) {
            break;
        }
        used += (size_t)n;
    }
    return used;
}

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

static void reply_change_error(struct server *server, struct proto_buffer *out, int rc,
                               const struct raft_change *change)
{
    const struct raft_configuration *configuration = raft_configuration(server->node.raft);
    unsigned long long id = (unsigned long long)change->id;
    switch (rc) {
    case RAFT_ERROR_NOT_LEADER:
        commands_redirect(server, out, NULL);
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
    reply_array(out, member_count(configuration));
    for (uint32_t i = 0; i < member_count(configuration); i++) {
        raft_node_id id = member_at(configuration, i);
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

static bool is_member_of(const struct raft_configuration *configuration, raft_node_id id)
{
    return raft_configuration_is_voter(configuration, id) ||
           raft_configuration_is_learner(configuration, id);
}

/* ADD of a member that is already there with the same addresses succeeds again: a node that
 * joins retries until it hears OK, and its first OK may have been lost. But only once that
 * ADD is committed, since OK says so: an ADD still pending may yet be lost (a new leader
 * whose log lacks it truncates it), and a joining node told OK then would stop asking and
 * wait forever for a leader that does not know it. */
static enum add_state add_state(const struct server *server, const struct config_member *candidate)
{
    struct raft *raft = server->node.raft;
    if (!is_member_of(raft_configuration(raft), candidate->id)) {
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
    return is_member_of(&committed, candidate->id) ? ADD_DONE : ADD_PENDING;
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
        commands_redirect(server, &request->reply, NULL);
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
    char *context = malloc(CONTEXT_MAX_BYTES);
    if (context == NULL) {
        reply_error(&request->reply, "ERR out of memory; nothing was changed");
        return;
    }
    size_t context_bytes = build_context(
        server, change.type == RAFT_CHANGE_ADD_LEARNER ? &added : NULL,
        change.type == RAFT_CHANGE_REMOVE ? change.id : RAFT_NODE_NONE, context, CONTEXT_MAX_BYTES);
    uint64_t index = 0;
    uint64_t term = 0;
    int rc = raft_propose_change(server->node.raft, &change, (const uint8_t *)context,
                                 (uint32_t)context_bytes, &index, &term);
    free(context);
    if (rc != 0) {
        reply_change_error(server, &request->reply, rc, &change);
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
