/*
 * replication.c — the server's side of the lecture's foil modes (--replication naive|lww,
 * src/replica): never the default, never for real data.
 *
 * In a foil mode the Raft core is still created (its configuration is the --member book that
 * members.c, INFO and CLUSTER read) but never ticked and never stepped: it elects no one and
 * commits nothing. Instead commands.c hands every data command here: a read runs on the local
 * state at once; a write goes to replica_write(), which applies it locally, answers, and
 * sends it to every sibling over the peer transport's REPLICA frames. Every node claims to be
 * a master, so clients write anywhere. The state machine is the only copy of the data (there
 * is no log to rebuild it from), so it is opened with an fsync per commit and trusted after a
 * crash (LMDB with its syncs is crash-safe); and the mode is written into the data directory
 * on its first start, so that no mode ever reads another's data (storage/replication_mode.c).
 *
 * The unsafe modes say so loudly: a multi-line WARNING at start, and replication_mode and
 * replication_warning lines in every INFO section and in RAFT.INFO.
 */
#include "server/server.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/log.h"

const char *server_replication_name(const struct server *server)
{
    return replica_mode_name(server->replication_mode);
}

bool server_replication_unsafe(const struct server *server)
{
    return server->replication_mode != REPLICA_MODE_RAFT;
}

static uint64_t wall_clock_ms(void *context)
{
    (void)context;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
}

static void send_replica(void *context, const struct peer_replica *message)
{
    struct server *server = context;
    if (server->transport != NULL) {
        (void)transport_send_replica(server->transport, message); /* errors ignored: the mode */
    }
}

/* The siblings: every member of the configuration but us. */
static size_t sibling_ids(const struct server *server, raft_node_id *out)
{
    const struct config_member *members[TRANSPORT_MAX_PEERS];
    uint32_t count = members_list(server, members);
    size_t siblings = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (members[i]->id != server->config.id) {
            out[siblings++] = members[i]->id;
        }
    }
    return siblings;
}

void replication_warn(const struct server *server)
{
    const char *warning = replica_mode_warning(server->replication_mode);
    if (warning == NULL) {
        return;
    }
    log_warning("********************************************************************");
    log_warning("WARNING: --replication %s is one of the lecture's UNSAFE foils.",
                server_replication_name(server));
    log_warning("%s.", warning);
    log_warning("It exists to show split brain, stale reads and lost updates on real");
    log_warning("processes (make lecture). Raft, the default, is the only mode for data.");
    log_warning("********************************************************************");
}

int replication_start(struct server *server, char *error, size_t error_bytes)
{
    if (!server_replication_unsafe(server)) {
        return 0;
    }
    struct replica_host host = {
        .context = server, .send = send_replica, .wall_clock_ms = wall_clock_ms};
    int rc = replica_new(server->replication_mode, server->config.id, server->node.kv, &host,
                         &server->replica);
    if (rc != 0) {
        snprintf(error, error_bytes, "cannot start replication mode %s: %s",
                 server_replication_name(server), kv_error_string(rc));
        return -1;
    }
    return 0;
}

void replication_stop(struct server *server)
{
    replica_free(server->replica);
    server->replica = NULL;
}

static void replication_failed(struct server *server, int rc)
{
    char reason[256];
    snprintf(reason, sizeof reason, "the state machine failed in replication mode %s: %s (%s)",
             server_replication_name(server), kv_error_string(rc),
             server->node.kv != NULL ? kv_last_error(server->node.kv) : "closed");
    server->node.kv_suspect = false; /* it is the only copy: reopened, never discarded */
    node_fail(server, reason);
}

void replication_execute(struct client *client, const struct kv_command *command, size_t argc,
                         const struct kv_arg *argv)
{
    struct server *server = client->server;
    bool read = command->flags & KV_COMMAND_READ;
    const char *refusal = read ? NULL : replica_refuses(server->replica, command, argc, argv);
    if (refusal != NULL) {
        commands_reply_immediate(client, refusal);
        return;
    }
    size_t encoded_bytes = kv_command_encoded_bytes(argc, argv);
    if (!read && (encoded_bytes == 0 || encoded_bytes > server->config.max_request_bytes)) {
        char text[160]; /* the edge of the limits chain, as commands.c's write_admitted */
        snprintf(text, sizeof text,
                 "ERR request of %zu bytes exceeds max-request-bytes (%llu); the command was "
                 "not executed",
                 encoded_bytes, (unsigned long long)server->config.max_request_bytes);
        server->stats.writes_refused_size++;
        commands_reply_immediate(client, text);
        return;
    }
    struct request *request;
    struct reply_target target = {.protocol = client->protocol};
    target.buffer = commands_immediate_begin(client, &request);
    if (target.buffer == NULL) {
        return;
    }
    struct kv_reply sink;
    reply_sink_init(&sink, &target);
    if (read) {
        server->stats.reads_stale++;
        /* Deadlines against this node's wall clock: no leader's clock exists here. */
        kv_read(server->node.kv, argc, argv, wall_clock_ms(NULL), &sink);
    } else {
        size_t before = target.buffer->length;
        raft_node_id siblings[TRANSPORT_MAX_PEERS];
        size_t count = sibling_ids(server, siblings);
        transport_hold(server->transport);
        int rc = replica_write(server->replica, argc, argv, &sink, siblings, count);
        transport_release(server->transport);
        if (rc != 0) {
            proto_buffer_truncate(target.buffer, before);
            /* kv refused the batch as a whole: nothing applied, nothing sent. */
            reply_error(target.buffer,
                        "CLUSTERDOWN this node failed to apply the write (%s); it was not "
                        "executed",
                        kv_error_string(rc));
            replication_failed(server, rc);
        } else {
            server->stats.writes_committed++;
        }
    }
    commands_immediate_end(request);
}

void replication_receive(struct server *server, const struct peer_replica *message)
{
    if (server->replica == NULL || server->node.fatal) {
        return; /* dropped, as the mode drops what it cannot take */
    }
    transport_hold(server->transport);
    int rc = replica_receive(server->replica, message);
    transport_release(server->transport);
    if (rc != 0) {
        replication_failed(server, rc);
    }
}

void replication_sweep(struct server *server)
{
    uint64_t now_ms = server_now_ms(server);
    if (server->replica == NULL || server->node.fatal || now_ms < server->anti_entropy_due_ms) {
        return;
    }
    server->anti_entropy_due_ms = now_ms + REPLICA_ANTI_ENTROPY_MS;
    raft_node_id siblings[TRANSPORT_MAX_PEERS];
    size_t count = sibling_ids(server, siblings);
    transport_hold(server->transport);
    int rc = replica_anti_entropy(server->replica, siblings, count);
    transport_release(server->transport);
    if (rc != 0) {
        replication_failed(server, rc);
    }
}
