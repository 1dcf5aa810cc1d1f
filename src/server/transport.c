/*
 * transport.c — the peer transport declared in transport.h: its configuration, the table of
 * peers, start and stop, and the public API. One connection's life is in
 * transport_connection.c, the handshake in transport_handshake.c, snapshot streams in
 * transport_snapshot.c; the structures they share are in transport_internal.h.
 *
 * Happy path. transport_start() checks the configuration, listens on (config.host,
 * config.port) and arms, for every peer, a reconnect timer that fires at once for a higher id
 * and after TRANSPORT_FALLBACK_DIAL_MS for a lower one (transport_connection.c dials).
 * transport_send() encodes a message into the pending buffer of the peer's established connection
 * at once and flushes it, unless transport_hold() asked to batch until transport_release().
 *
 * Failure modes. A configuration that does not validate fails transport_start() with
 * TRANSPORT_ERROR_INVALID, an address we cannot listen on with TRANSPORT_ERROR_LISTEN.
 * Messages to a peer without an established connection, or whose send buffer is full, are
 * dropped and reported through on_unreachable().
 *
 * Lifetime. Every libuv handle is closed with uv_close() and memory is released only in
 * close callbacks, so within any callback every structure stays valid even if a user
 * callback stops the transport. The transport is freed when its last handle has closed.
 */
#include "server/transport_internal.h"

#include "server/log.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *transport_error_string(int error)
{
    /* A switch rather than a table: two codes with one value fail to compile. */
    switch (error) {
#define TRANSPORT_ERROR_CASE(name, value, text)                                                    \
    case name:                                                                                     \
        return text;
        TRANSPORT_ERRORS(TRANSPORT_ERROR_CASE)
#undef TRANSPORT_ERROR_CASE
    }
    return "unknown";
}

/* ---- logging: the one place that writes; the server will route it into its logger ---- */

void transport_log(const struct transport *transport, const char *format, ...)
{
    char line[TRANSPORT_LOG_LINE_BYTES];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(line, sizeof line, format, arguments);
    va_end(arguments);
    (void)transport;
    log_info("transport: %s", line);
}

/* ---- configuration ---- */

void transport_config_default(struct transport_config *config)
{
    memset(config, 0, sizeof *config);
    snprintf(config->host, sizeof config->host, "127.0.0.1");
    config->max_send_buffer_bytes = TRANSPORT_DEFAULT_MAX_SEND_BUFFER_BYTES;
    config->handshake_timeout_ms = TRANSPORT_DEFAULT_HANDSHAKE_TIMEOUT_MS;
    config->snapshot_chunk_bytes = TRANSPORT_DEFAULT_SNAPSHOT_CHUNK_BYTES;
    snprintf(config->incoming_directory, sizeof config->incoming_directory, ".");
}

/* Parses a numeric IPv4 or IPv6 address; false for anything else. */
static bool parse_address(const char *host, uint16_t port, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof *out);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)out) == 0) {
        return true;
    }
    return uv_ip6_addr(host, port, (struct sockaddr_in6 *)out) == 0;
}

static bool string_terminated(const char *string, size_t size)
{
    return memchr(string, '\0', size) != NULL && string[0] != '\0';
}

static bool peers_valid(raft_node_id self, const struct transport_peer_address *peers,
                        uint32_t count)
{
    if (count > TRANSPORT_MAX_PEERS) {
        return false;
    }
    for (uint32_t i = 0; i < count; i++) {
        const struct transport_peer_address *peer = &peers[i];
        struct sockaddr_storage address;
        if (peer->id == RAFT_NODE_NONE || peer->id == self || peer->port == 0 ||
            !string_terminated(peer->host, sizeof peer->host) ||
            !parse_address(peer->host, peer->port, &address)) {
            return false;
        }
        for (uint32_t j = 0; j < i; j++) {
            if (peers[j].id == peer->id) {
                return false;
            }
        }
    }
    return true;
}

static bool config_valid(const struct transport_config *config)
{
    struct sockaddr_storage address;
    if (config->id == RAFT_NODE_NONE || !string_terminated(config->host, sizeof config->host) ||
        !parse_address(config->host, config->port, &address) ||
        !string_terminated(config->incoming_directory, sizeof config->incoming_directory)) {
        return false;
    }
    if (config->secret_bytes > PEER_MAX_SECRET_BYTES ||
        (config->secret == NULL && config->secret_bytes > 0)) {
        return false;
    }
    uint64_t chunk_bytes = config->snapshot_chunk_bytes;
    if (chunk_bytes == 0 || chunk_bytes > PEER_MAX_PAYLOAD_BYTES - 64 ||
        config->handshake_timeout_ms == 0) {
        return false;
    }
    /* Room for two chunks keeps a snapshot stream moving whatever else is queued. */
    if (config->max_send_buffer_bytes < 2 * (chunk_bytes + TRANSPORT_CHUNK_OVERHEAD_BYTES) ||
        config->max_send_buffer_bytes > TRANSPORT_MAX_SEND_BUFFER_BYTES) {
        return false;
    }
    return peers_valid(config->id, config->peers, config->peer_count);
}

struct transport_peer *transport_find_peer(struct transport *transport, raft_node_id id)
{
    for (uint32_t i = 0; i < TRANSPORT_PEER_SLOTS; i++) {
        struct transport_peer *peer = &transport->peers[i];
        if (peer->transport != NULL && !peer->removed && peer->address.id == id) {
            return peer;
        }
    }
    return NULL;
}

static const struct transport_peer *find_peer_const(const struct transport *transport,
                                                    raft_node_id id)
{
    return transport_find_peer((struct transport *)transport, id);
}

/* ---- object lifetime ---- */

/* One of the transport's objects is gone; the last one after transport_stop frees it. */
void transport_release_object(struct transport *transport)
{
    assert(transport->open_objects > 0);
    transport->open_objects--;
    if (transport->stopping && transport->open_objects == 0) {
        free(transport);
    }
}

static void on_transport_handle_closed(uv_handle_t *handle)
{
    struct transport *transport = handle->data;
    transport_release_object(transport);
}

static void on_reconnect_timer_closed(uv_handle_t *handle)
{
    struct transport_peer *peer = handle->data;
    struct transport *transport = peer->transport;
    if (peer->removed) {
        memset(peer, 0, sizeof *peer); /* the slot is free again */
    }
    transport_release_object(transport);
}

/* ---- start and stop ---- */

static int start_listening(struct transport *transport)
{
    int rc =
        uv_tcp_bind(&transport->listener, (const struct sockaddr *)&transport->listen_address, 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&transport->listener, TRANSPORT_LISTEN_BACKLOG,
                       transport_on_connection);
    }
    if (rc < 0) {
        transport_log(transport, "cannot listen on %s:%" PRIu16 ": %s", transport->config.host,
                      transport->config.port, uv_strerror(rc));
        return TRANSPORT_ERROR_LISTEN;
    }
    return TRANSPORT_OK;
}

/* Gives a listed peer its (new) address; dials it if that is our part. */
static void peer_set_address(struct transport_peer *peer,
                             const struct transport_peer_address *address)
{
    struct transport *transport = peer->transport;
    assert(peer->address.id == address->id);
    peer->address = *address;
    peer->listed = true;
    bool parsed = parse_address(address->host, address->port, &peer->sockaddr);
    assert(parsed); /* peers_valid checked it */
    (void)parsed;
    peer->dial = true;
    peer->fallback = address->id < transport->config.id;
    if (peer->connection == NULL && peer->dialing == NULL) {
        uv_timer_start(&peer->reconnect_timer, transport_on_reconnect_timer,
                       peer->fallback ? TRANSPORT_FALLBACK_DIAL_MS : 0, 0);
    }
}

/* Sets up a free slot for `id`; a listed peer gets its address (and is dialed) after. */
static int peer_setup(struct transport *transport, struct transport_peer *peer, raft_node_id id)
{
    assert(peer->transport == NULL);
    memset(peer, 0, sizeof *peer);
    int length =
        snprintf(peer->incoming_path, sizeof peer->incoming_path,
                 "%s/snapshot-from-%" PRIu64 ".tmp", transport->config.incoming_directory, id);
    if (length < 0 || (size_t)length >= sizeof peer->incoming_path) {
        return TRANSPORT_ERROR_INVALID;
    }
    peer->address.id = id;
    peer->backoff_ms = TRANSPORT_BACKOFF_MIN_MS;
    /* Set last: transport_stop() closes the timers of peers that have a transport. */
    peer->transport = transport;
    int rc = uv_timer_init(transport->loop, &peer->reconnect_timer);
    assert(rc == 0); /* uv_timer_init cannot fail */
    (void)rc;
    peer->reconnect_timer.data = peer;
    transport->open_objects++;
    return TRANSPORT_OK;
}

static struct transport_peer *free_slot(struct transport *transport)
{
    for (uint32_t i = 0; i < TRANSPORT_PEER_SLOTS; i++) {
        if (transport->peers[i].transport == NULL) {
            return &transport->peers[i];
        }
    }
    return NULL;
}

static int add_listed(struct transport *transport, const struct transport_peer_address *address)
{
    struct transport_peer *peer = free_slot(transport);
    if (peer == NULL) {
        return TRANSPORT_ERROR_NO_MEMORY;
    }
    int rc = peer_setup(transport, peer, address->id);
    if (rc == TRANSPORT_OK) {
        peer_set_address(peer, address);
    }
    return rc;
}

struct transport_peer *transport_add_unlisted(struct transport *transport, raft_node_id id)
{
    assert(id != transport->config.id);
    assert(transport_find_peer(transport, id) == NULL);
    uint32_t unlisted = 0;
    for (uint32_t i = 0; i < TRANSPORT_PEER_SLOTS; i++) {
        const struct transport_peer *peer = &transport->peers[i];
        unlisted += peer->transport != NULL && !peer->listed ? 1 : 0;
    }
    struct transport_peer *peer = free_slot(transport);
    if (peer == NULL || unlisted >= TRANSPORT_MAX_PEERS / 2 ||
        peer_setup(transport, peer, id) != TRANSPORT_OK) {
        return NULL;
    }
    transport_log(transport, "node %" PRIu64 " dialed us and is not in our configuration (yet)",
                  id);
    return peer;
}

void transport_remove_peer(struct transport_peer *peer)
{
    if (peer->removed) {
        return;
    }
    peer->removed = true; /* first: closing its connections must not schedule a re-dial */
    if (peer->dialing != NULL) {
        transport_connection_close(peer->dialing, "node %" PRIu64 " left the configuration",
                                   peer->address.id);
    }
    if (peer->connection != NULL) {
        transport_connection_close(peer->connection, "node %" PRIu64 " left the configuration",
                                   peer->address.id);
    }
    /* Connections still in their handshake may point at the peer: they forget it. */
    for (struct connection *connection = peer->transport->connections; connection != NULL;
         connection = connection->next) {
        if (connection->peer == peer) {
            transport_connection_close(connection, "its node left the configuration");
        }
    }
    if (peer->faulty) {
        transport_fault_drop_held(peer);
    }
    uv_timer_stop(&peer->reconnect_timer);
    uv_close((uv_handle_t *)&peer->reconnect_timer, on_reconnect_timer_closed);
}

int transport_set_peers(struct transport *transport, const struct transport_peer_address *peers,
                        uint32_t count)
{
    if (transport == NULL || transport->stopping || (count > 0 && peers == NULL) ||
        !peers_valid(transport->config.id, peers, count)) {
        return TRANSPORT_ERROR_INVALID;
    }
    for (uint32_t i = 0; i < TRANSPORT_PEER_SLOTS; i++) {
        struct transport_peer *peer = &transport->peers[i];
        if (peer->transport == NULL || peer->removed || !peer->listed) {
            continue;
        }
        bool kept = false;
        for (uint32_t j = 0; j < count && !kept; j++) {
            kept = peers[j].id == peer->address.id;
        }
        if (!kept) {
            transport_log(transport, "node %" PRIu64 " left the configuration", peer->address.id);
            transport_remove_peer(peer);
        }
    }
    int result = TRANSPORT_OK;
    for (uint32_t j = 0; j < count; j++) {
        struct transport_peer *peer = transport_find_peer(transport, peers[j].id);
        if (peer == NULL) {
            int rc = add_listed(transport, &peers[j]);
            result = rc != TRANSPORT_OK ? rc : result;
            continue;
        }
        bool moved = !peer->listed || peer->address.port != peers[j].port ||
                     strcmp(peer->address.host, peers[j].host) != 0;
        if (moved) {
            peer_set_address(peer, &peers[j]);
        }
    }
    transport->config.peer_count = count;
    return result;
}

static struct transport *transport_allocate(uv_loop_t *loop, const struct transport_config *config,
                                            const struct transport_callbacks *callbacks)
{
    struct transport *transport = calloc(1, sizeof *transport);
    if (transport == NULL) {
        return NULL;
    }
    transport->loop = loop;
    transport->config = *config;
    transport->callbacks = *callbacks;
    if (config->secret_bytes > 0) {
        memcpy(transport->secret, config->secret, config->secret_bytes);
    }
    transport->config.secret = transport->secret;
    bool parsed = parse_address(config->host, config->port, &transport->listen_address) &&
                  parse_address(config->host, 0, &transport->source_address);
    assert(parsed);
    (void)parsed;
    return transport;
}

int transport_start(uv_loop_t *loop, const struct transport_config *config,
                    const struct transport_callbacks *callbacks, struct transport **out)
{
    *out = NULL;
    if (loop == NULL || config == NULL || callbacks == NULL || callbacks->on_message == NULL ||
        callbacks->on_unreachable == NULL || callbacks->on_snapshot_sent == NULL ||
        !config_valid(config)) {
        return TRANSPORT_ERROR_INVALID;
    }
    struct transport *transport = transport_allocate(loop, config, callbacks);
    if (transport == NULL) {
        return TRANSPORT_ERROR_NO_MEMORY;
    }
    if (uv_tcp_init(loop, &transport->listener) != 0) {
        free(transport);
        return TRANSPORT_ERROR_LISTEN;
    }
    transport->listener.data = transport;
    transport->open_objects = 1;
    if (config->fault_injection) {
        transport_fault_start(transport);
    }
    int rc = start_listening(transport);
    for (uint32_t i = 0; rc == TRANSPORT_OK && i < config->peer_count; i++) {
        rc = add_listed(transport, &config->peers[i]);
    }
    if (rc != TRANSPORT_OK) {
        /* Handles exist already: they close, and free the transport, as the loop runs. */
        transport_stop(transport);
        return rc;
    }
    transport_log(transport, "listening on %s:%" PRIu16 " with %" PRIu32 " peers", config->host,
                  config->port, config->peer_count);
    *out = transport;
    return TRANSPORT_OK;
}

void transport_stop(struct transport *transport)
{
    if (transport == NULL || transport->stopping) {
        return;
    }
    transport->stopping = true;
    uv_close((uv_handle_t *)&transport->listener, on_transport_handle_closed);
    if (transport->config.fault_injection) {
        transport_fault_stop(transport);
    }
    for (uint32_t i = 0; i < TRANSPORT_PEER_SLOTS; i++) {
        struct transport_peer *peer = &transport->peers[i];
        if (peer->transport == NULL || peer->removed) {
            continue; /* a free slot, or a timer closing already */
        }
        uv_timer_stop(&peer->reconnect_timer);
        uv_close((uv_handle_t *)&peer->reconnect_timer, on_reconnect_timer_closed);
    }
    for (struct connection *connection = transport->connections; connection != NULL;
         connection = connection->next) {
        transport_connection_close(connection, "the transport is stopping");
    }
}

/* ---- sending ---- */

static void report_unreachable(struct transport *transport, raft_node_id peer)
{
    if (!transport->stopping) {
        transport->callbacks.on_unreachable(transport->callbacks.context, peer);
    }
}

/* Queues one frame for a peer: through the fault point, if the peer has faults, then into
 * its connection. A Raft message that cannot go is reported unreachable (Raft retries it,
 * and the core probes the peer); a foil's REPLICA frame is simply lost. */
static int send_frame(struct transport *transport, struct transport_peer *peer,
                      struct peer_frame *frame, bool report)
{
    struct connection *connection = peer->connection;
    if (connection == NULL || transport->stopping ||
        transport_connection_buffered_bytes(connection) >=
            transport->config.max_send_buffer_bytes) {
        if (report) {
            report_unreachable(transport, peer->address.id);
        }
        return TRANSPORT_ERROR_NOT_CONNECTED;
    }
    if (peer->faulty && transport_fault_outgoing(peer, frame)) {
        return TRANSPORT_OK; /* dropped or held, as the network would */
    }
    int rc = transport_connection_queue_frame(connection, frame);
    if (rc == PROTO_ERROR_INVALID) {
        return TRANSPORT_ERROR_INVALID;
    }
    if (rc != PROTO_OK) {
        /* Full send buffer or no memory: a dropped message. */
        if (report) {
            report_unreachable(transport, peer->address.id);
        }
        return TRANSPORT_ERROR_NOT_CONNECTED;
    }
    if (!transport->held) {
        transport_connection_flush(connection);
    }
    return TRANSPORT_OK;
}

int transport_send(struct transport *transport, const struct raft_message *message)
{
    /* A snapshot message without its data would be dropped by the receiver: it goes through
     * transport_send_snapshot(). */
    if (transport == NULL || message == NULL || message->from != transport->config.id ||
        message->type == RAFT_MSG_SNAPSHOT) {
        return TRANSPORT_ERROR_INVALID;
    }
    struct transport_peer *peer = transport_find_peer(transport, message->to);
    if (peer == NULL) {
        return TRANSPORT_ERROR_INVALID;
    }
    struct peer_frame frame = {.type = PEER_FRAME_RAFT, .raft = *message};
    return send_frame(transport, peer, &frame, true);
}

int transport_send_replica(struct transport *transport, const struct peer_replica *message)
{
    if (transport == NULL || message == NULL || message->from != transport->config.id) {
        return TRANSPORT_ERROR_INVALID;
    }
    struct transport_peer *peer = transport_find_peer(transport, message->to);
    if (peer == NULL) {
        return TRANSPORT_ERROR_INVALID;
    }
    struct peer_frame frame = {.type = PEER_FRAME_REPLICA, .replica = *message};
    return send_frame(transport, peer, &frame, false);
}

void transport_hold(struct transport *transport)
{
    transport->held = true;
}

void transport_release(struct transport *transport)
{
    transport->held = false;
    for (uint32_t i = 0; i < TRANSPORT_PEER_SLOTS; i++) {
        struct connection *connection = transport->peers[i].connection;
        if (connection != NULL && connection->pending.length > 0) {
            transport_connection_flush(connection); /* may close it: touch nothing of it after */
        }
    }
}

bool transport_peer_connected(const struct transport *transport, raft_node_id peer_id)
{
    const struct transport_peer *peer = find_peer_const(transport, peer_id);
    return peer != NULL && peer->connection != NULL;
}

size_t transport_peer_send_buffer_bytes(const struct transport *transport, raft_node_id peer_id)
{
    const struct transport_peer *peer = find_peer_const(transport, peer_id);
    if (peer == NULL || peer->connection == NULL) {
        return 0;
    }
    return transport_connection_buffered_bytes(peer->connection);
}

void transport_snapshot_bytes(const struct transport *transport, uint64_t *sent, uint64_t *received)
{
    *sent = transport != NULL ? transport->snapshot_bytes_sent : 0;
    *received = transport != NULL ? transport->snapshot_bytes_received : 0;
}
