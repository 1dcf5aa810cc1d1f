/*
 * transport.c — the peer transport declared in transport.h: TCP connections between raftkv
 * nodes on the libuv loop, the authenticated handshake, Raft frames and snapshot streams.
 *
 * Happy path. transport_start() listens on (config.host, config.port) and arms, for every peer
 * with a higher id than ours, a reconnect timer that fires at once. A dial binds the socket
 * to (config.host, 0) and connects; the connection then sends HELLO, checks the HELLO_REPLY's
 * MAC over our challenge, answers with AUTH and is established. An accepted connection waits
 * for HELLO, checks cluster id, protocol version and node id, answers HELLO_REPLY and is
 * established once the AUTH's MAC over its own challenge verifies. An established connection
 * is attached to its peer (replacing an older one: the peer restarted) and carries RAFT and
 * SNAPSHOT_CHUNK frames both ways.
 *
 * Writing. Each connection has two byte buffers: `pending`, where transport_send() encodes
 * frames at once, and `writing`, the bytes of the single uv_write in flight. When a write
 * completes the buffers swap and everything that piled up goes out in the next write: frames
 * keep their order, each byte is copied once (by the encoder), and a busy peer's small
 * messages are batched. Bytes in both buffers count against max_send_buffer_bytes.
 *
 * Reading. Bytes accumulate in the connection's `input` buffer (sized by what the decoder
 * says the current frame needs) and peer_decode() runs until it needs more. Until the
 * handshake completes the decoder accepts only payloads of handshake size, so an
 * unauthenticated stranger cannot make us allocate a 64 MiB frame.
 *
 * Failure modes. Any I/O error, an undecodable frame, a handshake that is refused or that
 * does not finish within handshake_timeout_ms, and a RAFT frame whose from/to do not match
 * the connection close that connection (logged with the reason); a dialer re-dials after an
 * exponential backoff (50 ms doubling to 2 s, with jitter, reset once the peer has sent a frame
 * after the handshake, which is when a dialer knows the acceptor took its AUTH). Sockets use
 * TCP_NODELAY, keepalive and TCP_USER_TIMEOUT, so a partitioned link closes within seconds.
 * Messages to a peer without an established connection, or whose send buffer is full, are
 * dropped and reported through on_unreachable(). Snapshots fail over to on_snapshot_sent(false).
 *
 * Lifetime. Every libuv handle is closed with uv_close() and memory is released only in
 * close callbacks, so within any callback every structure stays valid even if a user
 * callback stops the transport. The transport is freed when its last handle has closed.
 */
#include "server/transport.h"

#include "storage/storage.h"

#include "server/log.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

/* ---- limits ---- */

#define TRANSPORT_DEFAULT_MAX_SEND_BUFFER_BYTES ((size_t)64 * 1024 * 1024)
#define TRANSPORT_DEFAULT_HANDSHAKE_TIMEOUT_MS  2000
#define TRANSPORT_DEFAULT_SNAPSHOT_CHUNK_BYTES  ((uint32_t)1024 * 1024)
/* The largest max_send_buffer_bytes accepted: a single uv_write takes an unsigned length. */
#define TRANSPORT_MAX_SEND_BUFFER_BYTES PROTO_BUFFER_DEFAULT_MAX_BYTES
/* A SNAPSHOT_CHUNK frame's bytes beyond its data: frame header and chunk fields. */
#define TRANSPORT_CHUNK_OVERHEAD_BYTES (PEER_HEADER_BYTES + 64)
#define TRANSPORT_BACKOFF_MIN_MS       50
#define TRANSPORT_BACKOFF_MAX_MS       2000
/* Bytes asked of the kernel per read when the decoder does not need more. */
#define TRANSPORT_READ_BYTES ((size_t)64 * 1024)
/* Handshake payloads are 60 and 72 bytes; before authentication nothing larger is read. */
#define TRANSPORT_HANDSHAKE_MAX_PAYLOAD_BYTES 128
/* Accepted connections that have not finished their handshake; more are closed at once. */
#define TRANSPORT_MAX_PENDING_CONNECTIONS 64
/* A buffer that grew beyond this (a burst, a snapshot chunk) is released once empty. */
#define TRANSPORT_RETAINED_BUFFER_BYTES ((size_t)4 * 1024 * 1024)
#define TRANSPORT_KEEPALIVE_DELAY_S     10
/* Sent bytes unacknowledged this long close the connection (Linux TCP_USER_TIMEOUT): a peer
 * cut off by a partition is re-dialed within seconds instead of after TCP's ~15 minutes of
 * retransmissions, and stale messages do not pile up for it. */
#define TRANSPORT_USER_TIMEOUT_MS 10000
#define TRANSPORT_LISTEN_BACKLOG  128
#define TRANSPORT_NAME_BYTES      96
#define TRANSPORT_LOG_LINE_BYTES  512
#define TRANSPORT_PATH_BYTES      1100

static const char *const error_strings[] = {
    [0] = "TRANSPORT_OK",
    [1] = "TRANSPORT_ERROR_INVALID",
    [2] = "TRANSPORT_ERROR_NO_MEMORY",
    [3] = "TRANSPORT_ERROR_LISTEN",
    [4] = "TRANSPORT_ERROR_NOT_CONNECTED",
    [5] = "TRANSPORT_ERROR_BUSY",
    [6] = "TRANSPORT_ERROR_IO",
};

const char *transport_error_string(int error)
{
    if (error > 0 || -error >= (int)(sizeof error_strings / sizeof error_strings[0])) {
        return "unknown";
    }
    return error_strings[-error];
}

/* ---- state ---- */

enum connection_state {
    CONNECTION_CONNECTING,        /* outbound: TCP connect in progress */
    CONNECTION_AWAIT_HELLO,       /* inbound: waiting for the dialer's HELLO */
    CONNECTION_AWAIT_HELLO_REPLY, /* outbound: HELLO sent */
    CONNECTION_AWAIT_AUTH,        /* inbound: HELLO_REPLY sent */
    CONNECTION_ESTABLISHED,       /* authenticated and attached to its peer */
    CONNECTION_CLOSING,           /* handles closing; freed by the last close callback */
};

struct transport_peer;

/* One TCP connection. Owned by the transport's list; freed when both handles have closed. */
struct connection {
    uv_tcp_t tcp;
    uv_timer_t handshake_timer;
    uv_connect_t connect_request;
    uv_write_t write_request;
    struct transport *transport;
    /* Outbound: the peer dialed. Inbound: NULL until HELLO names a peer; the peer's
     * `connection` points back only once the handshake is done. */
    struct transport_peer *peer;
    bool outbound;
    bool counted_pending; /* inbound and counted in transport->pending_inbound_count */
    enum connection_state state;
    int open_handles;
    uint8_t challenge[PEER_CHALLENGE_BYTES]; /* ours, sent in HELLO or HELLO_REPLY */
    struct peer_decoder decoder;
    struct proto_buffer input;
    struct proto_buffer pending;
    struct proto_buffer writing;
    bool write_in_flight;
    uint64_t queued_bytes_total;  /* bytes ever appended to pending */
    uint64_t written_bytes_total; /* bytes ever handed to the kernel */
    char name[TRANSPORT_NAME_BYTES];
    struct connection *previous;
    struct connection *next;
};

/* The snapshot streaming to a peer: file bytes first, then the RAFT_MSG_SNAPSHOT message. */
struct snapshot_send {
    bool active;
    struct connection *connection; /* the established connection it streams on */
    struct storage_stream *file;   /* the snapshot's data file, read in order (storage/) */
    uint8_t *chunk;                /* scratch of snapshot_chunk_bytes, owned */
    uint64_t offset;
    uint64_t total_bytes;
    bool chunks_done;
    bool message_queued;
    uint64_t end_mark; /* the connection's queued_bytes_total after the message */
    struct raft_message message;
};

enum snapshot_receive_state {
    RECEIVE_IDLE,
    RECEIVE_WRITING,  /* chunks arriving, file open */
    RECEIVE_FAILED,   /* a local write failed: the rest is skipped and the message dropped */
    RECEIVE_COMPLETE, /* every byte is in the file; waiting for the RAFT_MSG_SNAPSHOT */
};

struct snapshot_receive {
    enum snapshot_receive_state state;
    struct storage_stream *file; /* storage/ writes it back as it grows */
    uint64_t index;
    uint64_t term;
    uint64_t total_bytes;
    uint64_t received_bytes;
};

struct transport_peer {
    struct transport *transport;
    struct transport_peer_address address;
    struct sockaddr_storage sockaddr;
    bool dial;                     /* its id is above ours: we dial it */
    struct connection *connection; /* established, or NULL */
    struct connection *dialing;    /* outbound connection still in its handshake */
    uv_timer_t reconnect_timer;
    uint32_t backoff_ms;
    struct snapshot_send send;
    struct snapshot_receive receive;
    char incoming_path[TRANSPORT_PATH_BYTES];
};

struct transport {
    uv_loop_t *loop;
    struct transport_config config;
    struct transport_callbacks callbacks;
    uint8_t secret[PEER_MAX_SECRET_BYTES];
    struct sockaddr_storage listen_address;
    struct sockaddr_storage source_address; /* (host, port 0): where dials come from */
    uv_tcp_t listener;
    struct transport_peer peers[TRANSPORT_MAX_PEERS];
    struct connection *connections;
    uint32_t pending_inbound_count;
    uint32_t open_objects; /* listener, reconnect timers and connections not yet released */
    bool stopping;
    bool held; /* transport_hold: queue Raft frames, write them at transport_release */
};

static void connection_close(struct connection *connection, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
static int connection_queue_frame(struct connection *connection, const struct peer_frame *frame);
static void connection_flush(struct connection *connection);
static void snapshot_send_pump_after_write(struct connection *connection);
static void snapshot_connection_closed(struct transport_peer *peer, struct connection *closed);
static void snapshot_receive_chunk(struct connection *connection,
                                   const struct peer_snapshot_chunk *chunk);
static void snapshot_receive_message(struct connection *connection,
                                     const struct raft_message *message);

/* ---- logging: the one place that writes; the server will route it into its logger ---- */

__attribute__((format(printf, 2, 3))) static void transport_log(const struct transport *transport,
                                                                const char *format, ...)
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

static bool peers_valid(const struct transport_config *config)
{
    if (config->peer_count > TRANSPORT_MAX_PEERS) {
        return false;
    }
    for (uint32_t i = 0; i < config->peer_count; i++) {
        const struct transport_peer_address *peer = &config->peers[i];
        struct sockaddr_storage address;
        if (peer->id == RAFT_NODE_NONE || peer->id == config->id || peer->port == 0 ||
            !string_terminated(peer->host, sizeof peer->host) ||
            !parse_address(peer->host, peer->port, &address)) {
            return false;
        }
        for (uint32_t j = 0; j < i; j++) {
            if (config->peers[j].id == peer->id) {
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
    return peers_valid(config);
}

static struct transport_peer *find_peer(struct transport *transport, raft_node_id id)
{
    for (uint32_t i = 0; i < transport->config.peer_count; i++) {
        if (transport->peers[i].address.id == id) {
            return &transport->peers[i];
        }
    }
    return NULL;
}

static const struct transport_peer *find_peer_const(const struct transport *transport,
                                                    raft_node_id id)
{
    return find_peer((struct transport *)transport, id);
}

/* ---- object lifetime ---- */

/* One of the transport's objects is gone; the last one after transport_stop frees it. */
static void transport_release_object(struct transport *transport)
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
    transport_release_object(peer->transport);
}

static void connection_free(struct connection *connection)
{
    struct transport *transport = connection->transport;
    if (connection->previous != NULL) {
        connection->previous->next = connection->next;
    } else {
        transport->connections = connection->next;
    }
    if (connection->next != NULL) {
        connection->next->previous = connection->previous;
    }
    peer_decoder_free(&connection->decoder);
    proto_buffer_free(&connection->input);
    proto_buffer_free(&connection->pending);
    proto_buffer_free(&connection->writing);
    free(connection);
    transport_release_object(transport);
}

static void on_connection_handle_closed(uv_handle_t *handle)
{
    struct connection *connection = handle->data;
    assert(connection->open_handles > 0);
    connection->open_handles--;
    if (connection->open_handles == 0) {
        connection_free(connection);
    }
}

/* ---- reconnecting ---- */

static void dial_peer(struct transport_peer *peer);

static void on_reconnect_timer(uv_timer_t *timer)
{
    struct transport_peer *peer = timer->data;
    if (!peer->transport->stopping && peer->connection == NULL && peer->dialing == NULL) {
        dial_peer(peer);
    }
}

/* Arms the reconnect timer with the current backoff (jittered to half..full) and doubles it. */
static void schedule_reconnect(struct transport_peer *peer)
{
    struct transport *transport = peer->transport;
    if (transport->stopping || !peer->dial || peer->connection != NULL || peer->dialing != NULL) {
        return;
    }
    uint32_t random_value = 0;
    if (RAND_bytes((unsigned char *)&random_value, sizeof random_value) != 1) {
        random_value = 0; /* no jitter this once: still a bounded delay */
    }
    uint32_t half_ms = peer->backoff_ms / 2;
    uint32_t delay_ms = half_ms + random_value % (half_ms + 1);
    uv_timer_start(&peer->reconnect_timer, on_reconnect_timer, delay_ms, 0);
    peer->backoff_ms = peer->backoff_ms * 2 > TRANSPORT_BACKOFF_MAX_MS ? TRANSPORT_BACKOFF_MAX_MS
                                                                       : peer->backoff_ms * 2;
}

/* ---- connections ---- */

static void on_handshake_timeout(uv_timer_t *timer)
{
    struct connection *connection = timer->data;
    connection_close(connection, "handshake did not complete within %" PRIu32 " ms",
                     connection->transport->config.handshake_timeout_ms);
}

/* Allocates a connection with its TCP handle and handshake timer (already running). */
static struct connection *connection_new(struct transport *transport, struct transport_peer *peer,
                                         bool outbound)
{
    struct connection *connection = calloc(1, sizeof *connection);
    if (connection == NULL) {
        return NULL;
    }
    if (uv_tcp_init(transport->loop, &connection->tcp) != 0) {
        free(connection);
        return NULL;
    }
    int rc = uv_timer_init(transport->loop, &connection->handshake_timer);
    assert(rc == 0); /* uv_timer_init cannot fail */
    (void)rc;
    connection->tcp.data = connection;
    connection->handshake_timer.data = connection;
    connection->connect_request.data = connection;
    connection->write_request.data = connection;
    connection->open_handles = 2;
    connection->transport = transport;
    connection->peer = peer;
    connection->outbound = outbound;
    connection->state = outbound ? CONNECTION_CONNECTING : CONNECTION_AWAIT_HELLO;
    rc = peer_decoder_init(&connection->decoder, TRANSPORT_HANDSHAKE_MAX_PAYLOAD_BYTES);
    assert(rc == PROTO_OK);
    proto_buffer_init(&connection->input,
                      PEER_HEADER_BYTES + (size_t)PEER_MAX_PAYLOAD_BYTES + TRANSPORT_READ_BYTES);
    proto_buffer_init(&connection->pending, transport->config.max_send_buffer_bytes);
    proto_buffer_init(&connection->writing, transport->config.max_send_buffer_bytes);
    if (peer != NULL) {
        snprintf(connection->name, sizeof connection->name, "peer %" PRIu64 " (%s)",
                 peer->address.id, outbound ? "dialed" : "accepted");
    }
    connection->next = transport->connections;
    if (transport->connections != NULL) {
        transport->connections->previous = connection;
    }
    transport->connections = connection;
    transport->open_objects++;
    uv_timer_start(&connection->handshake_timer, on_handshake_timeout,
                   transport->config.handshake_timeout_ms, 0);
    return connection;
}

/* Detaches a closing connection from its peer and tells the user; may schedule a re-dial. */
static void connection_detach(struct connection *connection)
{
    struct transport *transport = connection->transport;
    struct transport_peer *peer = connection->peer;
    if (peer == NULL) {
        return;
    }
    bool was_attached = peer->connection == connection;
    if (peer->dialing == connection) {
        peer->dialing = NULL;
    }
    if (was_attached) {
        peer->connection = NULL;
        snapshot_connection_closed(peer, connection);
    }
    schedule_reconnect(peer);
    if (was_attached && !transport->stopping && transport->callbacks.on_peer_state != NULL) {
        transport->callbacks.on_peer_state(transport->callbacks.context, peer->address.id, false);
    }
}

static void connection_close(struct connection *connection, const char *format, ...)
{
    if (connection->state == CONNECTION_CLOSING) {
        return;
    }
    struct transport *transport = connection->transport;
    char reason[TRANSPORT_LOG_LINE_BYTES / 2];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(reason, sizeof reason, format, arguments);
    va_end(arguments);
    transport_log(transport, "closing connection with %s: %s", connection->name, reason);
    connection->state = CONNECTION_CLOSING;
    if (connection->counted_pending) {
        connection->counted_pending = false;
        transport->pending_inbound_count--;
    }
    uv_read_stop((uv_stream_t *)&connection->tcp);
    uv_timer_stop(&connection->handshake_timer);
    uv_close((uv_handle_t *)&connection->tcp, on_connection_handle_closed);
    uv_close((uv_handle_t *)&connection->handshake_timer, on_connection_handle_closed);
    connection_detach(connection);
}

static size_t connection_buffered_bytes(const struct connection *connection)
{
    return connection->pending.length + connection->writing.length;
}

/* Releases a buffer's memory once it is empty, if a burst made it large. */
static void buffer_trim(struct proto_buffer *buffer)
{
    if (buffer->length == 0 && buffer->capacity > TRANSPORT_RETAINED_BUFFER_BYTES) {
        proto_buffer_free(buffer);
    }
}

static void on_write(uv_write_t *request, int status)
{
    struct connection *connection = request->data;
    connection->write_in_flight = false;
    if (status < 0) {
        connection_close(connection, "write failed: %s", uv_strerror(status));
        return;
    }
    connection->written_bytes_total += connection->writing.length;
    proto_buffer_truncate(&connection->writing, 0);
    buffer_trim(&connection->writing);
    snapshot_send_pump_after_write(connection);
    connection_flush(connection);
}

/* Starts a write of everything pending, unless one is in flight (its callback comes back). */
static void connection_flush(struct connection *connection)
{
    if (connection->state == CONNECTION_CLOSING || connection->write_in_flight ||
        connection->pending.length == 0) {
        return;
    }
    assert(connection->writing.length == 0);
    /* Raft messages usually fit the socket's buffer: write them now, and queue with libuv only
     * what the kernel did not take (a queued uv_write costs an epoll registration per write).
     * A snapshot stream keeps to queued writes: their callbacks pace it. */
    struct transport_peer *peer = connection->peer;
    bool streaming = peer != NULL && peer->send.active && peer->send.connection == connection;
    if (!streaming) {
        uv_buf_t direct =
            uv_buf_init((char *)connection->pending.data, (unsigned int)connection->pending.length);
        int written = uv_try_write((uv_stream_t *)&connection->tcp, &direct, 1);
        if (written < 0 && written != UV_EAGAIN) {
            connection_close(connection, "write failed: %s", uv_strerror(written));
            return;
        }
        if (written > 0) {
            connection->written_bytes_total += (uint64_t)written;
            proto_buffer_consume(&connection->pending, (size_t)written);
        }
        if (connection->pending.length == 0) {
            return;
        }
    }
    struct proto_buffer swap = connection->writing;
    connection->writing = connection->pending;
    connection->pending = swap;
    uv_buf_t buffer =
        uv_buf_init((char *)connection->writing.data, (unsigned int)connection->writing.length);
    int rc =
        uv_write(&connection->write_request, (uv_stream_t *)&connection->tcp, &buffer, 1, on_write);
    if (rc < 0) {
        connection_close(connection, "write failed: %s", uv_strerror(rc));
        return;
    }
    connection->write_in_flight = true;
}

/* Encodes a frame into pending, whole or not at all, within max_send_buffer_bytes. Returns
 * PROTO_OK, PROTO_ERROR_TOO_BIG (buffer full), or another proto error. Does not flush. */
static int connection_queue_frame(struct connection *connection, const struct peer_frame *frame)
{
    size_t before = connection->pending.length;
    int rc = peer_encode(&connection->pending, frame);
    if (rc != PROTO_OK) {
        return rc;
    }
    if (connection_buffered_bytes(connection) >
        connection->transport->config.max_send_buffer_bytes) {
        proto_buffer_truncate(&connection->pending, before);
        return PROTO_ERROR_TOO_BIG;
    }
    connection->queued_bytes_total += connection->pending.length - before;
    return PROTO_OK;
}

/* Queues and flushes a handshake frame; closes the connection if that fails. */
static bool connection_send_handshake(struct connection *connection, const struct peer_frame *frame)
{
    int rc = connection_queue_frame(connection, frame);
    if (rc != PROTO_OK) {
        connection_close(connection, "cannot queue %s: %s", peer_frame_type_string(frame->type),
                         proto_error_string(rc));
        return false;
    }
    connection_flush(connection);
    return connection->state != CONNECTION_CLOSING;
}

/* ---- the handshake (proto/peer.h): HELLO, HELLO_REPLY, AUTH ---- */

/*
 * Without a secret there is no authentication: MACs are sent as zeros and not checked (the
 * HMAC in proto/ refuses an empty key). Cluster id, protocol version and node ids are checked
 * all the same, so a misconfigured node is still refused; only a malicious one is not.
 */
static bool have_secret(const struct transport *transport)
{
    return transport->config.secret_bytes > 0;
}

static int compute_mac(const struct transport *transport, const uint8_t *challenge,
                       raft_node_id prover, raft_node_id verifier, uint8_t mac[PEER_MAC_BYTES])
{
    memset(mac, 0, PEER_MAC_BYTES);
    if (!have_secret(transport)) {
        return PROTO_OK;
    }
    return peer_auth_compute(transport->secret, transport->config.secret_bytes, challenge, prover,
                             verifier, transport->config.cluster_id, mac);
}

static int verify_mac(const struct transport *transport, const uint8_t *challenge,
                      raft_node_id prover, raft_node_id verifier, const uint8_t *mac)
{
    if (!have_secret(transport)) {
        return PROTO_OK;
    }
    return peer_auth_verify(transport->secret, transport->config.secret_bytes, challenge, prover,
                            verifier, transport->config.cluster_id, mac);
}

static void format_hex(const uint8_t *bytes, size_t count, char *out, size_t out_bytes)
{
    assert(out_bytes >= 2 * count + 1);
    for (size_t i = 0; i < count; i++) {
        snprintf(out + 2 * i, 3, "%02x", bytes[i]);
    }
    out[2 * count] = '\0';
}

/* The handshake is done: attach the connection to its peer, replacing an older one. */
static void connection_establish(struct connection *connection)
{
    struct transport *transport = connection->transport;
    struct transport_peer *peer = connection->peer;
    assert(peer != NULL);
    uv_timer_stop(&connection->handshake_timer);
    if (connection->counted_pending) {
        connection->counted_pending = false;
        transport->pending_inbound_count--;
    }
    if (peer->connection != NULL) {
        connection_close(peer->connection, "replaced by a new connection (the peer restarted)");
    }
    if (peer->dialing == connection) {
        peer->dialing = NULL;
    }
    peer_decoder_free(&connection->decoder);
    int rc = peer_decoder_init(&connection->decoder, PEER_MAX_PAYLOAD_BYTES);
    assert(rc == PROTO_OK);
    (void)rc;
    peer->connection = connection;
    connection->state = CONNECTION_ESTABLISHED;
    transport_log(transport, "connected to %s", connection->name);
    if (transport->callbacks.on_peer_state != NULL) {
        transport->callbacks.on_peer_state(transport->callbacks.context, peer->address.id, true);
    }
}

/* Dialer, once TCP is connected: HELLO with a fresh challenge. */
static void handshake_begin(struct connection *connection)
{
    struct transport *transport = connection->transport;
    if (RAND_bytes(connection->challenge, PEER_CHALLENGE_BYTES) != 1) {
        connection_close(connection, "RAND_bytes failed to draw a challenge");
        return;
    }
    struct peer_frame frame = {.type = PEER_FRAME_HELLO};
    memcpy(frame.hello.cluster_id, transport->config.cluster_id, PEER_CLUSTER_ID_BYTES);
    frame.hello.node_id = transport->config.id;
    memcpy(frame.hello.challenge, connection->challenge, PEER_CHALLENGE_BYTES);
    frame.hello.protocol_version = PEER_PROTOCOL_VERSION;
    connection->state = CONNECTION_AWAIT_HELLO_REPLY;
    connection_send_handshake(connection, &frame);
}

/* Acceptor: who is calling, and may it? Returns the peer, or NULL after closing. */
static struct transport_peer *hello_check(struct connection *connection,
                                          const struct peer_hello *hello)
{
    struct transport *transport = connection->transport;
    if (memcmp(hello->cluster_id, transport->config.cluster_id, PEER_CLUSTER_ID_BYTES) != 0) {
        char theirs[2 * PEER_CLUSTER_ID_BYTES + 1];
        char ours[2 * PEER_CLUSTER_ID_BYTES + 1];
        format_hex(hello->cluster_id, PEER_CLUSTER_ID_BYTES, theirs, sizeof theirs);
        format_hex(transport->config.cluster_id, PEER_CLUSTER_ID_BYTES, ours, sizeof ours);
        connection_close(connection, "HELLO from node %" PRIu64 " of cluster %s, ours is %s",
                         hello->node_id, theirs, ours);
        return NULL;
    }
    if (hello->protocol_version != PEER_PROTOCOL_VERSION) {
        connection_close(connection, "HELLO with protocol version %" PRIu32 ", ours is %d",
                         hello->protocol_version, PEER_PROTOCOL_VERSION);
        return NULL;
    }
    if (hello->node_id == transport->config.id) {
        connection_close(connection, "HELLO claims our own node id %" PRIu64, hello->node_id);
        return NULL;
    }
    struct transport_peer *peer = find_peer(transport, hello->node_id);
    if (peer == NULL) {
        connection_close(connection, "HELLO from unknown node id %" PRIu64, hello->node_id);
        return NULL;
    }
    if (peer->dial) {
        connection_close(connection,
                         "HELLO from node %" PRIu64 ", which must not dial us (we dial it)",
                         hello->node_id);
        return NULL;
    }
    return peer;
}

/* Acceptor: HELLO checked, answer with our proof and our challenge. */
static void handshake_on_hello(struct connection *connection, const struct peer_hello *hello)
{
    struct transport *transport = connection->transport;
    struct transport_peer *peer = hello_check(connection, hello);
    if (peer == NULL) {
        return;
    }
    connection->peer = peer;
    snprintf(connection->name, sizeof connection->name, "peer %" PRIu64 " (accepted)",
             peer->address.id);
    if (RAND_bytes(connection->challenge, PEER_CHALLENGE_BYTES) != 1) {
        connection_close(connection, "RAND_bytes failed to draw a challenge");
        return;
    }
    struct peer_frame frame = {.type = PEER_FRAME_HELLO_REPLY};
    frame.auth.node_id = transport->config.id;
    memcpy(frame.auth.challenge, connection->challenge, PEER_CHALLENGE_BYTES);
    int rc = compute_mac(transport, hello->challenge, transport->config.id, peer->address.id,
                         frame.auth.mac);
    if (rc != PROTO_OK) {
        connection_close(connection, "cannot compute the HMAC: %s", proto_error_string(rc));
        return;
    }
    connection->state = CONNECTION_AWAIT_AUTH;
    connection_send_handshake(connection, &frame);
}

/* Dialer: the acceptor proved itself; prove ourselves and the connection is up. */
static void handshake_on_hello_reply(struct connection *connection, const struct peer_auth *reply)
{
    struct transport *transport = connection->transport;
    struct transport_peer *peer = connection->peer;
    if (reply->node_id != peer->address.id) {
        connection_close(connection, "HELLO_REPLY from node %" PRIu64 ", expected %" PRIu64,
                         reply->node_id, peer->address.id);
        return;
    }
    int rc = verify_mac(transport, connection->challenge, peer->address.id, transport->config.id,
                        reply->mac);
    if (rc != PROTO_OK) {
        connection_close(connection, "HELLO_REPLY's MAC does not verify (%s): wrong secret?",
                         proto_error_string(rc));
        return;
    }
    struct peer_frame frame = {.type = PEER_FRAME_AUTH};
    frame.auth.node_id = transport->config.id;
    rc = compute_mac(transport, reply->challenge, transport->config.id, peer->address.id,
                     frame.auth.mac);
    if (rc != PROTO_OK) {
        connection_close(connection, "cannot compute the HMAC: %s", proto_error_string(rc));
        return;
    }
    if (connection_send_handshake(connection, &frame)) {
        connection_establish(connection);
    }
}

/* Acceptor: the dialer's proof over our challenge. */
static void handshake_on_auth(struct connection *connection, const struct peer_auth *auth)
{
    struct transport *transport = connection->transport;
    struct transport_peer *peer = connection->peer;
    if (auth->node_id != peer->address.id) {
        connection_close(connection, "AUTH from node %" PRIu64 ", expected %" PRIu64, auth->node_id,
                         peer->address.id);
        return;
    }
    int rc = verify_mac(transport, connection->challenge, peer->address.id, transport->config.id,
                        auth->mac);
    if (rc != PROTO_OK) {
        connection_close(connection, "AUTH's MAC does not verify (%s): wrong secret?",
                         proto_error_string(rc));
        return;
    }
    connection_establish(connection);
}

static void handshake_frame(struct connection *connection, const struct peer_frame *frame)
{
    static const uint8_t expected_types[] = {
        [CONNECTION_AWAIT_HELLO] = PEER_FRAME_HELLO,
        [CONNECTION_AWAIT_HELLO_REPLY] = PEER_FRAME_HELLO_REPLY,
        [CONNECTION_AWAIT_AUTH] = PEER_FRAME_AUTH,
    };
    assert(connection->state == CONNECTION_AWAIT_HELLO ||
           connection->state == CONNECTION_AWAIT_HELLO_REPLY ||
           connection->state == CONNECTION_AWAIT_AUTH);
    uint8_t expected = expected_types[connection->state];
    if (frame->type != expected) {
        connection_close(connection, "%s frame before authentication (expected %s)",
                         peer_frame_type_string(frame->type), peer_frame_type_string(expected));
        return;
    }
    switch (frame->type) {
    case PEER_FRAME_HELLO:
        handshake_on_hello(connection, &frame->hello);
        break;
    case PEER_FRAME_HELLO_REPLY:
        handshake_on_hello_reply(connection, &frame->auth);
        break;
    default:
        handshake_on_auth(connection, &frame->auth);
        break;
    }
}

/* ---- reading ---- */

/* A RAFT frame from an established peer: it must be from that peer, to us. */
static void receive_raft(struct connection *connection, const struct raft_message *message)
{
    struct transport *transport = connection->transport;
    struct transport_peer *peer = connection->peer;
    if (message->from != peer->address.id || message->to != transport->config.id) {
        connection_close(connection, "%s from %" PRIu64 " to %" PRIu64 " on our link with %s",
                         raft_message_type_string(message->type), message->from, message->to,
                         connection->name);
        return;
    }
    if (message->type == RAFT_MSG_SNAPSHOT) {
        snapshot_receive_message(connection, message);
        return;
    }
    transport->callbacks.on_message(transport->callbacks.context, message, NULL);
}

static void receive_frame(struct connection *connection, const struct peer_frame *frame)
{
    if (connection->state != CONNECTION_ESTABLISHED) {
        handshake_frame(connection, frame);
        return;
    }
    /* The peer spoke after the handshake, so it accepted us too: only now is the backoff
     * reset. (A dialer learns that the acceptor refused its AUTH only from the close, and
     * resetting earlier would re-dial a refusing peer every 50 ms.) */
    connection->peer->backoff_ms = TRANSPORT_BACKOFF_MIN_MS;
    switch (frame->type) {
    case PEER_FRAME_RAFT:
        receive_raft(connection, &frame->raft);
        break;
    case PEER_FRAME_SNAPSHOT_CHUNK:
        snapshot_receive_chunk(connection, &frame->chunk);
        break;
    default:
        connection_close(connection, "unexpected %s frame after the handshake",
                         peer_frame_type_string(frame->type));
        break;
    }
}

/* Decodes and handles every complete frame in the input buffer. A frame borrows the input's
 * bytes, so they are dropped only after the loop; a handler may close the connection (even
 * stop the transport), which ends the loop but frees nothing until the close callbacks. */
static void process_input(struct connection *connection)
{
    struct proto_buffer *input = &connection->input;
    size_t offset = 0;
    while (connection->state != CONNECTION_CLOSING && offset < input->length) {
        struct peer_frame frame;
        size_t consumed = 0;
        int rc = peer_decode(&connection->decoder, input->data + offset, input->length - offset,
                             &consumed, &frame);
        if (rc == PEER_NEED_MORE) {
            break;
        }
        if (rc < 0) {
            connection_close(connection, "undecodable frame: %s (%s)",
                             peer_decoder_error(&connection->decoder), proto_error_string(rc));
            return;
        }
        offset += consumed;
        receive_frame(connection, &frame);
    }
    if (connection->state != CONNECTION_CLOSING) {
        proto_buffer_consume(input, offset);
        buffer_trim(input);
    }
}

static void on_alloc(uv_handle_t *handle, size_t suggested_bytes, uv_buf_t *buffer)
{
    struct connection *connection = handle->data;
    struct proto_buffer *input = &connection->input;
    size_t want = TRANSPORT_READ_BYTES;
    size_t needed = connection->decoder.needed_bytes;
    if (needed > input->length && needed - input->length > want) {
        want = needed - input->length; /* the rest of a large frame in one go */
    }
    if (proto_buffer_reserve(input, want) != PROTO_OK) {
        *buffer = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS */
        return;
    }
    *buffer = uv_buf_init((char *)input->data + input->length,
                          (unsigned int)(input->capacity - input->length));
}

static void on_read(uv_stream_t *stream, ssize_t read_bytes, const uv_buf_t *buffer)
{
    struct connection *connection = stream->data;
    if (read_bytes == 0 || connection->state == CONNECTION_CLOSING) {
        return;
    }
    if (read_bytes < 0) {
        connection_close(connection, "%s",
                         read_bytes == UV_EOF ? "closed by the peer"
                                              : uv_strerror((int)read_bytes));
        return;
    }
    assert((size_t)read_bytes <= connection->input.capacity - connection->input.length);
    connection->input.length += (size_t)read_bytes;
    process_input(connection);
}

/* Latency matters more than packet count; keepalive finds peers that vanished silently. */
static int connection_start_reading(struct connection *connection)
{
    uv_tcp_nodelay(&connection->tcp, 1);
    uv_tcp_keepalive(&connection->tcp, 1, TRANSPORT_KEEPALIVE_DELAY_S);
#ifdef TCP_USER_TIMEOUT
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&connection->tcp, &fd) == 0) {
        unsigned int timeout_ms = TRANSPORT_USER_TIMEOUT_MS;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout_ms, sizeof timeout_ms);
    }
#endif
    return uv_read_start((uv_stream_t *)&connection->tcp, on_alloc, on_read);
}

/* ---- dialing and accepting ---- */

static void on_connect(uv_connect_t *request, int status)
{
    struct connection *connection = request->data;
    if (connection->state == CONNECTION_CLOSING) {
        return; /* UV_ECANCELED from our own close */
    }
    if (status < 0) {
        connection_close(connection, "connect failed: %s", uv_strerror(status));
        return;
    }
    int rc = connection_start_reading(connection);
    if (rc < 0) {
        connection_close(connection, "cannot read: %s", uv_strerror(rc));
        return;
    }
    handshake_begin(connection);
}

static void dial_peer(struct transport_peer *peer)
{
    struct transport *transport = peer->transport;
    struct connection *connection = connection_new(transport, peer, true);
    if (connection == NULL) {
        transport_log(transport, "cannot allocate a connection to peer %" PRIu64, peer->address.id);
        schedule_reconnect(peer);
        return;
    }
    peer->dialing = connection;
    int rc = uv_tcp_bind(&connection->tcp, (const struct sockaddr *)&transport->source_address, 0);
    if (rc < 0) {
        connection_close(connection, "cannot bind to %s: %s", transport->config.host,
                         uv_strerror(rc));
        return;
    }
    rc = uv_tcp_connect(&connection->connect_request, &connection->tcp,
                        (const struct sockaddr *)&peer->sockaddr, on_connect);
    if (rc < 0) {
        connection_close(connection, "cannot connect to %s:%" PRIu16 ": %s", peer->address.host,
                         peer->address.port, uv_strerror(rc));
    }
}

static void name_accepted(struct connection *connection)
{
    struct sockaddr_storage address;
    int length = sizeof address;
    char host[64] = "?";
    uint16_t port = 0;
    if (uv_tcp_getpeername(&connection->tcp, (struct sockaddr *)&address, &length) == 0) {
        if (address.ss_family == AF_INET) {
            uv_ip4_name((struct sockaddr_in *)&address, host, sizeof host);
            port = ntohs(((struct sockaddr_in *)&address)->sin_port);
        } else {
            uv_ip6_name((struct sockaddr_in6 *)&address, host, sizeof host);
            port = ntohs(((struct sockaddr_in6 *)&address)->sin6_port);
        }
    }
    snprintf(connection->name, sizeof connection->name, "unauthenticated %s:%" PRIu16, host, port);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct transport *transport = listener->data;
    if (status < 0) {
        transport_log(transport, "accept failed: %s", uv_strerror(status));
        return;
    }
    struct connection *connection = connection_new(transport, NULL, false);
    if (connection == NULL) {
        transport_log(transport, "cannot allocate an accepted connection");
        return; /* libuv keeps the connection queued; the next one retries */
    }
    snprintf(connection->name, sizeof connection->name, "an accepted connection");
    int rc = uv_accept(listener, (uv_stream_t *)&connection->tcp);
    if (rc < 0) {
        connection_close(connection, "accept failed: %s", uv_strerror(rc));
        return;
    }
    name_accepted(connection);
    if (transport->pending_inbound_count >= TRANSPORT_MAX_PENDING_CONNECTIONS) {
        connection_close(connection, "%d connections already in their handshake",
                         TRANSPORT_MAX_PENDING_CONNECTIONS);
        return;
    }
    connection->counted_pending = true;
    transport->pending_inbound_count++;
    rc = connection_start_reading(connection);
    if (rc < 0) {
        connection_close(connection, "cannot read: %s", uv_strerror(rc));
    }
}

/* ---- start and stop ---- */

static int start_listening(struct transport *transport)
{
    int rc =
        uv_tcp_bind(&transport->listener, (const struct sockaddr *)&transport->listen_address, 0);
    if (rc == 0) {
        rc =
            uv_listen((uv_stream_t *)&transport->listener, TRANSPORT_LISTEN_BACKLOG, on_connection);
    }
    if (rc < 0) {
        transport_log(transport, "cannot listen on %s:%" PRIu16 ": %s", transport->config.host,
                      transport->config.port, uv_strerror(rc));
        return TRANSPORT_ERROR_LISTEN;
    }
    return TRANSPORT_OK;
}

static int peer_setup(struct transport *transport, struct transport_peer *peer,
                      const struct transport_peer_address *address)
{
    int length = snprintf(peer->incoming_path, sizeof peer->incoming_path,
                          "%s/snapshot-from-%" PRIu64 ".tmp", transport->config.incoming_directory,
                          address->id);
    if (length < 0 || (size_t)length >= sizeof peer->incoming_path) {
        return TRANSPORT_ERROR_INVALID;
    }
    peer->address = *address;
    bool parsed = parse_address(address->host, address->port, &peer->sockaddr);
    assert(parsed); /* config_valid checked it */
    (void)parsed;
    peer->dial = address->id > transport->config.id;
    peer->backoff_ms = TRANSPORT_BACKOFF_MIN_MS;
    /* Set last: transport_stop() closes the timers of peers that have a transport. */
    peer->transport = transport;
    int rc = uv_timer_init(transport->loop, &peer->reconnect_timer);
    assert(rc == 0); /* uv_timer_init cannot fail */
    (void)rc;
    peer->reconnect_timer.data = peer;
    transport->open_objects++;
    if (peer->dial) {
        uv_timer_start(&peer->reconnect_timer, on_reconnect_timer, 0, 0);
    }
    return TRANSPORT_OK;
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
    int rc = start_listening(transport);
    for (uint32_t i = 0; rc == TRANSPORT_OK && i < config->peer_count; i++) {
        rc = peer_setup(transport, &transport->peers[i], &config->peers[i]);
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
    for (uint32_t i = 0; i < transport->config.peer_count; i++) {
        struct transport_peer *peer = &transport->peers[i];
        if (peer->transport == NULL) {
            continue; /* start failed before this peer was set up */
        }
        uv_timer_stop(&peer->reconnect_timer);
        uv_close((uv_handle_t *)&peer->reconnect_timer, on_reconnect_timer_closed);
    }
    for (struct connection *connection = transport->connections; connection != NULL;
         connection = connection->next) {
        connection_close(connection, "the transport is stopping");
    }
}

/* ---- sending ---- */

static void report_unreachable(struct transport *transport, raft_node_id peer)
{
    if (!transport->stopping) {
        transport->callbacks.on_unreachable(transport->callbacks.context, peer);
    }
}

int transport_send(struct transport *transport, const struct raft_message *message)
{
    /* A snapshot message without its data would be dropped by the receiver: it goes through
     * transport_send_snapshot(). */
    if (transport == NULL || message == NULL || message->from != transport->config.id ||
        message->type == RAFT_MSG_SNAPSHOT) {
        return TRANSPORT_ERROR_INVALID;
    }
    struct transport_peer *peer = find_peer(transport, message->to);
    if (peer == NULL) {
        return TRANSPORT_ERROR_INVALID;
    }
    struct connection *connection = peer->connection;
    if (connection == NULL || transport->stopping ||
        connection_buffered_bytes(connection) >= transport->config.max_send_buffer_bytes) {
        report_unreachable(transport, peer->address.id);
        return TRANSPORT_ERROR_NOT_CONNECTED;
    }
    struct peer_frame frame = {.type = PEER_FRAME_RAFT, .raft = *message};
    int rc = connection_queue_frame(connection, &frame);
    if (rc == PROTO_ERROR_INVALID) {
        return TRANSPORT_ERROR_INVALID;
    }
    if (rc != PROTO_OK) {
        /* Full send buffer or no memory: a dropped message, which Raft retries. */
        report_unreachable(transport, peer->address.id);
        return TRANSPORT_ERROR_NOT_CONNECTED;
    }
    if (!transport->held) {
        connection_flush(connection);
    }
    return TRANSPORT_OK;
}

void transport_hold(struct transport *transport)
{
    transport->held = true;
}

void transport_release(struct transport *transport)
{
    transport->held = false;
    for (uint32_t i = 0; i < transport->config.peer_count; i++) {
        struct connection *connection = transport->peers[i].connection;
        if (connection != NULL && connection->pending.length > 0) {
            connection_flush(connection); /* may close it: touch nothing of it after */
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
    return connection_buffered_bytes(peer->connection);
}

/* ---- snapshots: sending ---- */

/*
 * A snapshot streams as SNAPSHOT_CHUNK frames read from the file piece by piece, then the
 * RAFT frame with the RAFT_MSG_SNAPSHOT message. The pump runs when the stream starts and
 * after every completed write, and queues chunks only while less than one chunk is pending
 * (the low-water mark): one chunk being written, one waiting, so that the socket never idles
 * and the file never sits in memory. Other messages interleave freely with the chunks.
 * on_snapshot_sent(true) fires when the write holding the message's last byte completes.
 */

static void snapshot_send_release(struct snapshot_send *send)
{
    storage_stream_close(send->file);
    free(send->chunk);
    memset(send, 0, sizeof *send);
}

static void snapshot_send_finish(struct transport_peer *peer, bool success)
{
    struct transport *transport = peer->transport;
    snapshot_send_release(&peer->send);
    if (!transport->stopping) {
        transport->callbacks.on_snapshot_sent(transport->callbacks.context, peer->address.id,
                                              success);
    }
}

/* Queues the next chunk; false on a read or encode failure (logged). */
static bool snapshot_send_chunk(struct transport_peer *peer, uint32_t data_bytes)
{
    struct snapshot_send *send = &peer->send;
    int rc = storage_stream_read(send->file, send->chunk, data_bytes);
    if (rc != 0) {
        transport_log(
            peer->transport, "snapshot to peer %" PRIu64 ": reading at %" PRIu64 " failed: %s",
            peer->address.id, send->offset, rc == -EIO ? "the file shrank" : strerror(-rc));
        return false;
    }
    struct peer_frame frame = {.type = PEER_FRAME_SNAPSHOT_CHUNK};
    frame.chunk.snapshot_index = send->message.snapshot.index;
    frame.chunk.snapshot_term = send->message.snapshot.term;
    frame.chunk.offset = send->offset;
    frame.chunk.total_bytes = send->total_bytes;
    frame.chunk.last = send->offset + data_bytes == send->total_bytes;
    frame.chunk.data_bytes = data_bytes;
    frame.chunk.data = data_bytes > 0 ? send->chunk : NULL;
    rc = connection_queue_frame(send->connection, &frame);
    if (rc != PROTO_OK) {
        transport_log(peer->transport, "snapshot to peer %" PRIu64 ": cannot queue a chunk: %s",
                      peer->address.id, proto_error_string(rc));
        return false;
    }
    send->offset += data_bytes;
    send->chunks_done = frame.chunk.last;
    return true;
}

/* Queues what the low-water mark allows, then flushes. False when the stream failed. */
static bool snapshot_send_pump(struct transport_peer *peer)
{
    struct transport *transport = peer->transport;
    struct snapshot_send *send = &peer->send;
    struct connection *connection = send->connection;
    uint64_t chunk_bytes = transport->config.snapshot_chunk_bytes;
    while (!send->chunks_done && connection->pending.length < chunk_bytes) {
        uint64_t remaining = send->total_bytes - send->offset;
        uint32_t data_bytes = (uint32_t)(remaining < chunk_bytes ? remaining : chunk_bytes);
        if (connection_buffered_bytes(connection) + data_bytes + TRANSPORT_CHUNK_OVERHEAD_BYTES >
            transport->config.max_send_buffer_bytes) {
            break; /* a write is in flight (config_valid guarantees room otherwise) */
        }
        if (!snapshot_send_chunk(peer, data_bytes)) {
            return false;
        }
    }
    if (send->chunks_done && !send->message_queued) {
        struct peer_frame frame = {.type = PEER_FRAME_RAFT, .raft = send->message};
        int rc = connection_queue_frame(connection, &frame);
        if (rc == PROTO_OK) {
            send->message_queued = true;
            send->end_mark = connection->queued_bytes_total;
        } else if (rc != PROTO_ERROR_TOO_BIG) {
            transport_log(transport, "snapshot to peer %" PRIu64 ": cannot queue its message: %s",
                          peer->address.id, proto_error_string(rc));
            return false;
        }
    }
    /* The flush may fail and close the connection, which finishes the stream: touch nothing
     * of it afterwards. */
    connection_flush(connection);
    return true;
}

static void snapshot_send_pump_after_write(struct connection *connection)
{
    struct transport_peer *peer = connection->peer;
    if (connection->state != CONNECTION_ESTABLISHED || peer == NULL) {
        return;
    }
    struct snapshot_send *send = &peer->send;
    if (!send->active || send->connection != connection) {
        return;
    }
    if (send->message_queued) {
        if (connection->written_bytes_total >= send->end_mark) {
            snapshot_send_finish(peer, true);
        }
        return;
    }
    if (!snapshot_send_pump(peer)) {
        snapshot_send_finish(peer, false);
    }
}

static int snapshot_send_open(struct transport *transport, struct snapshot_send *send,
                              const char *data_path)
{
    int rc = storage_stream_open_read(data_path, &send->file, &send->total_bytes);
    if (rc != 0) {
        transport_log(transport, "cannot open snapshot %s: %s", data_path,
                      rc == -EINVAL ? "not a regular file" : strerror(-rc));
        return TRANSPORT_ERROR_IO;
    }
    send->chunk = malloc(transport->config.snapshot_chunk_bytes);
    return send->chunk == NULL ? TRANSPORT_ERROR_NO_MEMORY : TRANSPORT_OK;
}

int transport_send_snapshot(struct transport *transport, const struct raft_message *message,
                            const char *data_path)
{
    if (transport == NULL || message == NULL || data_path == NULL ||
        message->type != RAFT_MSG_SNAPSHOT || message->from != transport->config.id ||
        message->entry_count != 0) {
        return TRANSPORT_ERROR_INVALID;
    }
    struct transport_peer *peer = find_peer(transport, message->to);
    if (peer == NULL) {
        return TRANSPORT_ERROR_INVALID;
    }
    if (peer->connection == NULL || transport->stopping) {
        return TRANSPORT_ERROR_NOT_CONNECTED;
    }
    struct snapshot_send *send = &peer->send;
    if (send->active) {
        return TRANSPORT_ERROR_BUSY;
    }
    int rc = snapshot_send_open(transport, send, data_path);
    if (rc != TRANSPORT_OK) {
        goto release_send;
    }
    send->active = true;
    send->connection = peer->connection;
    send->message = *message;
    send->message.entries = NULL;
    transport_log(transport,
                  "streaming snapshot %s (%" PRIu64 " bytes, index %" PRIu64 ") to peer %" PRIu64,
                  data_path, send->total_bytes, message->snapshot.index, peer->address.id);
    if (!snapshot_send_pump(peer)) {
        rc = TRANSPORT_ERROR_IO;
        goto release_send;
    }
    return TRANSPORT_OK;

release_send:
    snapshot_send_release(send);
    return rc;
}

/* ---- snapshots: receiving ---- */

static void snapshot_receive_reset(struct snapshot_receive *receive)
{
    storage_stream_close(receive->file);
    memset(receive, 0, sizeof *receive);
    receive->state = RECEIVE_IDLE;
}

/* Offset 0 starts a new file (dropping any earlier partial one). */
static void snapshot_receive_begin(struct transport_peer *peer,
                                   const struct peer_snapshot_chunk *chunk)
{
    struct snapshot_receive *receive = &peer->receive;
    snapshot_receive_reset(receive);
    receive->index = chunk->snapshot_index;
    receive->term = chunk->snapshot_term;
    receive->total_bytes = chunk->total_bytes;
    int rc = storage_stream_create(peer->incoming_path, &receive->file);
    if (rc != 0) {
        receive->file = NULL;
        transport_log(peer->transport, "cannot create %s: %s", peer->incoming_path, strerror(-rc));
        receive->state = RECEIVE_FAILED;
        return;
    }
    receive->state = RECEIVE_WRITING;
}

static void snapshot_receive_chunk(struct connection *connection,
                                   const struct peer_snapshot_chunk *chunk)
{
    struct transport_peer *peer = connection->peer;
    struct snapshot_receive *receive = &peer->receive;
    if (chunk->offset == 0) {
        snapshot_receive_begin(peer, chunk);
    } else if ((receive->state != RECEIVE_WRITING && receive->state != RECEIVE_FAILED) ||
               receive->index != chunk->snapshot_index || receive->term != chunk->snapshot_term ||
               receive->total_bytes != chunk->total_bytes ||
               receive->received_bytes != chunk->offset) {
        connection_close(connection,
                         "snapshot chunk (index %" PRIu64 ", offset %" PRIu64 " of %" PRIu64
                         ") does not continue the stream",
                         chunk->snapshot_index, chunk->offset, chunk->total_bytes);
        return;
    }
    int rc = 0;
    if (receive->state == RECEIVE_WRITING &&
        (rc = storage_stream_write(receive->file, chunk->data, chunk->data_bytes)) != 0) {
        transport_log(peer->transport, "writing %s failed: %s; the snapshot will be dropped",
                      peer->incoming_path, strerror(-rc));
        storage_stream_close(receive->file);
        receive->file = NULL;
        receive->state = RECEIVE_FAILED;
    }
    receive->received_bytes += chunk->data_bytes;
    if (chunk->last && receive->state == RECEIVE_WRITING) {
        storage_stream_close(receive->file);
        receive->file = NULL;
        receive->state = RECEIVE_COMPLETE;
    }
}

static void snapshot_receive_message(struct connection *connection,
                                     const struct raft_message *message)
{
    struct transport *transport = connection->transport;
    struct transport_peer *peer = connection->peer;
    struct snapshot_receive *receive = &peer->receive;
    if (receive->state == RECEIVE_COMPLETE && receive->index == message->snapshot.index &&
        receive->term == message->snapshot.term) {
        snapshot_receive_reset(receive);
        transport->callbacks.on_message(transport->callbacks.context, message, peer->incoming_path);
        return;
    }
    transport_log(transport,
                  "dropping the snapshot message (index %" PRIu64 ", term %" PRIu64
                  ") from peer %" PRIu64 ": its data did not arrive whole",
                  message->snapshot.index, message->snapshot.term, peer->address.id);
    if (receive->state != RECEIVE_WRITING) {
        snapshot_receive_reset(receive);
    }
}

/* The peer's connection closed: its outgoing stream fails, its incoming one is abandoned. */
static void snapshot_connection_closed(struct transport_peer *peer, struct connection *closed)
{
    if (peer->send.active && peer->send.connection == closed) {
        snapshot_send_finish(peer, false);
    }
    snapshot_receive_reset(&peer->receive);
}
