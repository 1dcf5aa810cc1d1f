/*
 * transport_connection.c — one peer connection's life: allocation and release, its buffers,
 * reads and writes, frames in and out, dialing and accepting, and the dialer's backoff.
 *
 * Happy path. A dialer's reconnect timer fires and dial_peer() binds the socket to
 * (config.host, 0) and connects; transport_on_connection() accepts the other side. Both start
 * reading and hand every frame to the handshake (transport_handshake.c) until it establishes the
 * connection; then RAFT frames go to on_message() and SNAPSHOT_CHUNK frames to
 * transport_snapshot.c.
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
 * A connection is freed only when both its handles have closed.
 */
#include "server/transport_internal.h"

#include <assert.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "server/tls.h"

/* TLS links read their ciphertext here: libuv calls on_alloc and on_read back to back on the
 * loop thread, so one buffer serves every connection. */
static char tls_read_buffer[TRANSPORT_READ_BYTES];
/* Plaintext encrypted per step: its ciphertext must fit the writing buffer. */
#define TRANSPORT_TLS_WRITE_SLICE_BYTES ((size_t)4 * 1024 * 1024)
#define TLS_RECORD_HANDSHAKE            0x16 /* the first byte of a TLS ClientHello */

/* ---- object lifetime ---- */

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
    tls_session_free(connection->tls);
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

void transport_on_reconnect_timer(uv_timer_t *timer)
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
    if (transport->stopping || peer->removed || !peer->dial || peer->connection != NULL ||
        peer->dialing != NULL) {
        return;
    }
    uint32_t random_value = 0;
    if (RAND_bytes((unsigned char *)&random_value, sizeof random_value) != 1) {
        random_value = 0; /* no jitter this once: still a bounded delay */
    }
    uint32_t half_ms = peer->backoff_ms / 2;
    uint32_t delay_ms = half_ms + random_value % (half_ms + 1);
    if (peer->fallback && delay_ms < TRANSPORT_FALLBACK_DIAL_MS) {
        delay_ms = TRANSPORT_FALLBACK_DIAL_MS; /* the peer's own dial comes first */
    }
    uv_timer_start(&peer->reconnect_timer, transport_on_reconnect_timer, delay_ms, 0);
    peer->backoff_ms = peer->backoff_ms * 2 > TRANSPORT_BACKOFF_MAX_MS ? TRANSPORT_BACKOFF_MAX_MS
                                                                       : peer->backoff_ms * 2;
}

/* ---- connections ---- */

/* Allocates a connection with its TCP handle and handshake timer (already running). */
static struct connection *connection_new(struct transport *transport, struct transport_peer *peer,
                                         bool outbound)
{
    struct connection *connection = calloc(1, sizeof *connection);
    if (connection == NULL) {
        return NULL;
    }
    /* With TLS the acceptor is the TLS server, the dialer the TLS client. */
    if (transport->config.tls != NULL &&
        tls_session_new(transport->config.tls, !outbound, &connection->tls) != TLS_OK) {
        free(connection);
        return NULL;
    }
    if (connection->tls != NULL && outbound && peer != NULL &&
        transport->config.tls_verify_peer_name &&
        tls_session_expect_peer_name(connection->tls, peer->address.host) != TLS_OK) {
        tls_session_free(connection->tls);
        free(connection);
        return NULL;
    }
    if (uv_tcp_init(transport->loop, &connection->tcp) != 0) {
        tls_session_free(connection->tls);
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
    uv_timer_start(&connection->handshake_timer, transport_on_handshake_timeout,
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
        transport_snapshot_connection_closed(peer, connection);
        if (peer->faulty) {
            transport_fault_drop_held(peer);
        }
    }
    schedule_reconnect(peer);
    if (was_attached && !transport->stopping && transport->callbacks.on_peer_state != NULL) {
        transport->callbacks.on_peer_state(transport->callbacks.context, peer->address.id, false);
    }
    if (!peer->listed && !peer->removed && !transport->stopping && peer->connection == NULL &&
        peer->dialing == NULL) {
        transport_remove_peer(peer); /* it came unannounced; it may dial again */
    }
}

void transport_connection_close(struct connection *connection, const char *format, ...)
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

size_t transport_connection_buffered_bytes(const struct connection *connection)
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
        transport_connection_close(connection, "write failed: %s", uv_strerror(status));
        return;
    }
    connection->written_bytes_total +=
        connection->tls != NULL ? connection->writing_plain_bytes : connection->writing.length;
    connection->writing_plain_bytes = 0;
    proto_buffer_truncate(&connection->writing, 0);
    buffer_trim(&connection->writing);
    transport_snapshot_pump_after_write(connection);
    transport_connection_flush(connection);
}

static bool connection_streaming(const struct connection *connection)
{
    const struct transport_peer *peer = connection->peer;
    return peer != NULL && peer->send.active && peer->send.connection == connection;
}

/* TLS: encrypts pending (once the TLS handshake is done) slice by slice into writing, with any
 * handshake records, and writes as transport_connection_flush does for plaintext. */
static void connection_flush_tls(struct connection *connection)
{
    while (!connection->write_in_flight && connection->state != CONNECTION_CLOSING) {
        assert(connection->writing.length == 0);
        size_t slice = connection->pending.length < TRANSPORT_TLS_WRITE_SLICE_BYTES
                           ? connection->pending.length
                           : TRANSPORT_TLS_WRITE_SLICE_BYTES;
        size_t consumed = 0;
        int rc = tls_session_write(connection->tls, connection->pending.data, slice, &consumed);
        if (rc == TLS_OK) {
            proto_buffer_consume(&connection->pending, consumed);
            rc = tls_session_take_output(connection->tls, &connection->writing);
        }
        if (rc != TLS_OK) {
            transport_connection_close(connection, "TLS: %s",
                                       rc == TLS_ERROR_PROTOCOL ? tls_session_error(connection->tls)
                                                                : tls_error_string(rc));
            return;
        }
        if (connection->writing.length == 0) {
            return;
        }
        connection->writing_plain_bytes = consumed;
        if (!connection_streaming(connection)) {
            uv_buf_t direct = uv_buf_init((char *)connection->writing.data,
                                          (unsigned int)connection->writing.length);
            int written = uv_try_write((uv_stream_t *)&connection->tcp, &direct, 1);
            if (written < 0 && written != UV_EAGAIN) {
                transport_connection_close(connection, "write failed: %s", uv_strerror(written));
                return;
            }
            if (written > 0) {
                proto_buffer_consume(&connection->writing, (size_t)written);
            }
            if (connection->writing.length == 0) {
                connection->written_bytes_total += connection->writing_plain_bytes;
                connection->writing_plain_bytes = 0;
                continue;
            }
        }
        uv_buf_t buffer =
            uv_buf_init((char *)connection->writing.data, (unsigned int)connection->writing.length);
        rc = uv_write(&connection->write_request, (uv_stream_t *)&connection->tcp, &buffer, 1,
                      on_write);
        if (rc < 0) {
            transport_connection_close(connection, "write failed: %s", uv_strerror(rc));
            return;
        }
        connection->write_in_flight = true;
    }
}

/* Starts a write of everything pending, unless one is in flight (its callback comes back). */
void transport_connection_flush(struct connection *connection)
{
    if (connection->state == CONNECTION_CLOSING || connection->write_in_flight) {
        return;
    }
    if (connection->tls != NULL) {
        connection_flush_tls(connection);
        return;
    }
    if (connection->pending.length == 0) {
        return;
    }
    assert(connection->writing.length == 0);
    /* Raft messages usually fit the socket's buffer: write them now, and queue with libuv only
     * what the kernel did not take (a queued uv_write costs an epoll registration per write).
     * A snapshot stream keeps to queued writes: their callbacks pace it. */
    if (!connection_streaming(connection)) {
        uv_buf_t direct =
            uv_buf_init((char *)connection->pending.data, (unsigned int)connection->pending.length);
        int written = uv_try_write((uv_stream_t *)&connection->tcp, &direct, 1);
        if (written < 0 && written != UV_EAGAIN) {
            transport_connection_close(connection, "write failed: %s", uv_strerror(written));
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
        transport_connection_close(connection, "write failed: %s", uv_strerror(rc));
        return;
    }
    connection->write_in_flight = true;
}

/* Encodes a frame into pending, whole or not at all, within max_send_buffer_bytes. Returns
 * PROTO_OK, PROTO_ERROR_TOO_BIG (buffer full), or another proto error. Does not flush. */
int transport_connection_queue_frame(struct connection *connection, const struct peer_frame *frame)
{
    size_t before = connection->pending.length;
    int rc = peer_encode(&connection->pending, frame);
    if (rc != PROTO_OK) {
        return rc;
    }
    if (transport_connection_buffered_bytes(connection) >
        connection->transport->config.max_send_buffer_bytes) {
        proto_buffer_truncate(&connection->pending, before);
        return PROTO_ERROR_TOO_BIG;
    }
    connection->queued_bytes_total += connection->pending.length - before;
    return PROTO_OK;
}

int transport_connection_queue_bytes(struct connection *connection, const uint8_t *bytes,
                                     size_t count)
{
    if (transport_connection_buffered_bytes(connection) + count >
        connection->transport->config.max_send_buffer_bytes) {
        return PROTO_ERROR_TOO_BIG;
    }
    int rc = proto_buffer_append(&connection->pending, bytes, count);
    if (rc == PROTO_OK) {
        connection->queued_bytes_total += count;
    }
    return rc;
}

/* ---- reading ---- */

void transport_connection_deliver(struct connection *connection, const struct raft_message *message)
{
    struct transport *transport = connection->transport;
    if (message->type == RAFT_MSG_SNAPSHOT) {
        transport_snapshot_receive_message(connection, message);
        return;
    }
    transport->callbacks.on_message(transport->callbacks.context, message, NULL);
}

/* A RAFT frame from an established peer: it must be from that peer, to us. */
static void receive_raft(struct connection *connection, const struct peer_frame *frame)
{
    const struct raft_message *message = &frame->raft;
    struct transport_peer *peer = connection->peer;
    if (message->from != peer->address.id || message->to != connection->transport->config.id) {
        transport_connection_close(
            connection, "%s from %" PRIu64 " to %" PRIu64 " on our link with %s",
            raft_message_type_string(message->type), message->from, message->to, connection->name);
        return;
    }
    if (peer->faulty && transport_fault_incoming(peer, frame)) {
        return;
    }
    transport_connection_deliver(connection, message);
}

/* A REPLICA frame (the foil modes): only where the host takes them, from that peer, to us;
 * through the fault point as a RAFT frame goes. */
static void receive_replica(struct connection *connection, const struct peer_frame *frame)
{
    const struct peer_replica *message = &frame->replica;
    struct transport *transport = connection->transport;
    struct transport_peer *peer = connection->peer;
    if (transport->callbacks.on_replica == NULL || message->from != peer->address.id ||
        message->to != transport->config.id) {
        transport_connection_close(connection,
                                   "REPLICA frame from %" PRIu64 " to %" PRIu64
                                   " on our link with %s (replication mode %u)",
                                   message->from, message->to, connection->name,
                                   (unsigned)transport->config.replication_mode);
        return;
    }
    if (peer->faulty && transport_fault_incoming(peer, frame)) {
        return;
    }
    transport_connection_deliver_replica(connection, message);
}

void transport_connection_deliver_replica(struct connection *connection,
                                          const struct peer_replica *message)
{
    struct transport *transport = connection->transport;
    if (transport->callbacks.on_replica != NULL) {
        transport->callbacks.on_replica(transport->callbacks.context, message);
    }
}

static void receive_frame(struct connection *connection, const struct peer_frame *frame)
{
    if (connection->state != CONNECTION_ESTABLISHED) {
        transport_handshake_frame(connection, frame);
        return;
    }
    /* The peer spoke after the handshake, so it accepted us too: only now is the backoff
     * reset. (A dialer learns that the acceptor refused its AUTH only from the close, and
     * resetting earlier would re-dial a refusing peer every 50 ms.) */
    connection->peer->backoff_ms = TRANSPORT_BACKOFF_MIN_MS;
    switch (frame->type) {
    case PEER_FRAME_RAFT:
        receive_raft(connection, frame);
        break;
    case PEER_FRAME_SNAPSHOT_CHUNK:
        if (connection->peer->faulty && transport_fault_incoming(connection->peer, frame)) {
            break;
        }
        transport_snapshot_receive_chunk(connection, &frame->chunk);
        break;
    case PEER_FRAME_REPLICA:
        receive_replica(connection, frame);
        break;
    default:
        transport_connection_close(connection, "unexpected %s frame after the handshake",
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
        if (rc < 0 && connection->tls == NULL && connection->state == CONNECTION_AWAIT_HELLO &&
            offset == 0 && input->data[0] == TLS_RECORD_HANDSHAKE) {
            transport_connection_close(connection, "a TLS handshake: the peer uses "
                                                   "tls-replication and this node does not");
            return;
        }
        if (rc < 0) {
            transport_connection_close(connection, "undecodable frame: %s (%s)",
                                       peer_decoder_error(&connection->decoder),
                                       proto_error_string(rc));
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
    if (connection->tls != NULL) {
        *buffer = uv_buf_init(tls_read_buffer, sizeof tls_read_buffer);
        return;
    }
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

/* TLS: ciphertext in, every byte of plaintext into the input, frames out; then whatever the
 * TLS handshake or the frames' handlers queued goes out. */
static void receive_tls(struct connection *connection, const char *bytes, size_t count)
{
    int rc = tls_session_receive(connection->tls, bytes, count);
    while (rc == TLS_OK) {
        /* One record's plaintext at a time (at most 16 KiB); the input's slack beyond the
         * largest frame holds what one read of ciphertext decrypts to. */
        struct proto_buffer *input = &connection->input;
        size_t room = input->max_bytes - input->length;
        size_t want = room < 16384 ? room : 16384;
        if (want == 0 || proto_buffer_reserve(input, want) != PROTO_OK) {
            transport_connection_close(connection, "input buffer full");
            return;
        }
        size_t read_bytes = 0;
        rc = tls_session_read(connection->tls, input->data + input->length,
                              input->capacity - input->length, &read_bytes);
        if (rc == TLS_OK && read_bytes == 0) {
            break;
        }
        input->length += read_bytes;
    }
    if (rc != TLS_OK) {
        const char *reason =
            rc == TLS_ERROR_PROTOCOL ? tls_session_error(connection->tls) : tls_error_string(rc);
        transport_connection_close(connection, "TLS: %s%s", reason,
                                   connection->outbound ? ""
                                                        : " (tls-replication is on: plaintext "
                                                          "peers and foreign certificates are "
                                                          "refused)");
        return;
    }
    process_input(connection);
    transport_connection_flush(connection);
}

static void on_read(uv_stream_t *stream, ssize_t read_bytes, const uv_buf_t *buffer)
{
    struct connection *connection = stream->data;
    if (read_bytes == 0 || connection->state == CONNECTION_CLOSING) {
        return;
    }
    if (read_bytes < 0 && connection->tls != NULL && !tls_session_established(connection->tls)) {
        transport_connection_close(connection,
                                   "%s during the TLS handshake (a peer without tls-replication, "
                                   "or one that refused our certificate?)",
                                   read_bytes == UV_EOF ? "closed by the peer"
                                                        : uv_strerror((int)read_bytes));
        return;
    }
    if (read_bytes < 0) {
        transport_connection_close(connection, "%s",
                                   read_bytes == UV_EOF ? "closed by the peer"
                                                        : uv_strerror((int)read_bytes));
        return;
    }
    if (connection->tls != NULL) {
        receive_tls(connection, buffer->base, (size_t)read_bytes);
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
        transport_connection_close(connection, "connect failed: %s", uv_strerror(status));
        return;
    }
    int rc = connection_start_reading(connection);
    if (rc < 0) {
        transport_connection_close(connection, "cannot read: %s", uv_strerror(rc));
        return;
    }
    if (connection->tls != NULL) {
        /* The ClientHello goes first; HELLO waits in pending until TLS is up. */
        rc = tls_session_handshake(connection->tls);
        if (rc != TLS_OK) {
            transport_connection_close(connection, "TLS: %s", tls_session_error(connection->tls));
            return;
        }
        transport_connection_flush(connection);
        if (connection->state == CONNECTION_CLOSING) {
            return;
        }
    }
    transport_handshake_begin(connection);
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
        transport_connection_close(connection, "cannot bind to %s: %s", transport->config.host,
                                   uv_strerror(rc));
        return;
    }
    rc = uv_tcp_connect(&connection->connect_request, &connection->tcp,
                        (const struct sockaddr *)&peer->sockaddr, on_connect);
    if (rc < 0) {
        transport_connection_close(connection, "cannot connect to %s:%" PRIu16 ": %s",
                                   peer->address.host, peer->address.port, uv_strerror(rc));
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

void transport_on_connection(uv_stream_t *listener, int status)
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
        transport_connection_close(connection, "accept failed: %s", uv_strerror(rc));
        return;
    }
    name_accepted(connection);
    if (transport->pending_inbound_count >= TRANSPORT_MAX_PENDING_CONNECTIONS) {
        transport_connection_close(connection, "%d connections already in their handshake",
                                   TRANSPORT_MAX_PENDING_CONNECTIONS);
        return;
    }
    connection->counted_pending = true;
    transport->pending_inbound_count++;
    rc = connection_start_reading(connection);
    if (rc < 0) {
        transport_connection_close(connection, "cannot read: %s", uv_strerror(rc));
    }
}
