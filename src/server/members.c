/*
 * members.c — the cluster's membership as the server sees it: who the members are (the Raft
 * core's configuration), where they listen (an address book carried in the log), the peers the
 * transport talks to. The RAFT.NODE commands that change it are members_command.c's.
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
 * a connection. Until a change commits, the peers of the committed configuration stay too:
 * a removed leader leads until then.
 *
 * Failure modes. A member whose address is unknown (a malformed line in a context) is logged
 * and left without a peer connection rather than guessed.
 */
#include "server/server.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/log.h"

/* members->index when the book could not be read yet; no configuration has this index. */
#define MEMBERS_BOOK_UNREAD UINT64_MAX

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
    for (uint32_t i = 0; i < raft_configuration_member_count(configuration); i++) {
        const struct config_member *member =
            members_address(server, raft_configuration_member_at(configuration, i));
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
        char line[MEMBERS_LINE_BYTES];
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
        if (raft_configuration_has(&members->configuration, id) ||
            raft_configuration_has(&members->committed, id)) {
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
        bool member = raft_configuration_has(configuration, flag->id);
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
    for (uint32_t i = 0; i < raft_configuration_member_count(configuration); i++) {
        raft_node_id id = raft_configuration_member_at(configuration, i);
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
    uint32_t in_force = raft_configuration_member_count(configuration);
    for (uint32_t i = 0; i < in_force + raft_configuration_member_count(committed); i++) {
        raft_node_id id = i < in_force ? raft_configuration_member_at(configuration, i)
                                       : raft_configuration_member_at(committed, i - in_force);
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
    bool was_member =
        members->loaded && (raft_configuration_has(&members->configuration, server->config.id));
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
    bool member = raft_configuration_has(configuration, server->config.id);
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
size_t members_build_context(const struct server *server, const struct config_member *added,
                             raft_node_id removed, char *out, size_t out_bytes)
{
    const struct raft_configuration *configuration = raft_configuration(server->node.raft);
    size_t used = 0;
    for (uint32_t i = 0; i <= raft_configuration_member_count(configuration); i++) {
        const struct config_member *member = NULL;
        if (i < raft_configuration_member_count(configuration)) {
            raft_node_id id = raft_configuration_member_at(configuration, i);
            member = id != removed ? members_address(server, id) : NULL;
        } else {
            member = added;
        }
        if (member == NULL) {
            continue;
        }
        char line[MEMBERS_LINE_BYTES];
        config_format_member(member, line, sizeof line);
        int n = snprintf(out + used, out_bytes - used, "%s\n", line);
        if (n < 0 || (size_t)n >= out_bytes - used) {
            break;
        }
        used += (size_t)n;
    }
    return used;
}
