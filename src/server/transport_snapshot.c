/*
 * transport_snapshot.c — snapshots streamed between peers: the sender reads the data file
 * piece by piece as the socket drains, the receiver writes the chunks to
 * <incoming_directory>/snapshot-from-<id>.tmp. Files are opened, written and closed only
 * through storage_stream_* (storage/storage.h).
 *
 * Happy path. transport_send_snapshot() opens the file and pumps SNAPSHOT_CHUNK frames, then
 * the RAFT frame with the RAFT_MSG_SNAPSHOT message; on_snapshot_sent(true) fires once its
 * last byte is written. The receiver checks that the chunks tile the file in order and, when
 * the message arrives after a complete file of the same index and term, passes it to
 * on_message() with the file's path.
 *
 * Failure modes. A file that cannot be opened fails the send with TRANSPORT_ERROR_IO, a
 * second send while one streams with TRANSPORT_ERROR_BUSY; a read or queue failure, or the
 * connection closing, ends the stream with on_snapshot_sent(false). On the receiving side a
 * chunk that does not continue the stream closes the connection, a local write failure skips
 * the rest, and a message whose data did not arrive whole is dropped (Raft sends again).
 */
#include "server/transport_internal.h"

#include "storage/storage.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

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
    rc = transport_connection_queue_frame(send->connection, &frame);
    if (rc != PROTO_OK) {
        transport_log(peer->transport, "snapshot to peer %" PRIu64 ": cannot queue a chunk: %s",
                      peer->address.id, proto_error_string(rc));
        return false;
    }
    peer->transport->snapshot_bytes_sent += data_bytes;
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
        if (transport_connection_buffered_bytes(connection) + data_bytes +
                TRANSPORT_CHUNK_OVERHEAD_BYTES >
            transport->config.max_send_buffer_bytes) {
            break; /* a write is in flight (config_valid guarantees room otherwise) */
        }
        if (!snapshot_send_chunk(peer, data_bytes)) {
            return false;
        }
    }
    if (send->chunks_done && !send->message_queued) {
        struct peer_frame frame = {.type = PEER_FRAME_RAFT, .raft = send->message};
        int rc = transport_connection_queue_frame(connection, &frame);
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
    transport_connection_flush(connection);
    return true;
}

void transport_snapshot_pump_after_write(struct connection *connection)
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
    int rc = storage_stream_open_read(NULL, data_path, &send->file, &send->total_bytes);
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
    struct transport_peer *peer = transport_find_peer(transport, message->to);
    if (peer == NULL) {
        return TRANSPORT_ERROR_INVALID;
    }
    if (peer->connection == NULL || transport->stopping ||
        (peer->faulty && !transport_fault_snapshot_allowed(peer))) {
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

void transport_snapshot_abort(struct transport_peer *peer)
{
    if (peer->send.active) {
        transport_log(peer->transport, "snapshot to peer %" PRIu64 " abandoned: the link is cut",
                      peer->address.id);
        snapshot_send_finish(peer, false);
    }
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
    int rc = storage_stream_create(NULL, peer->incoming_path, &receive->file);
    if (rc != 0) {
        receive->file = NULL;
        transport_log(peer->transport, "cannot create %s: %s", peer->incoming_path, strerror(-rc));
        receive->state = RECEIVE_FAILED;
        return;
    }
    receive->state = RECEIVE_WRITING;
}

void transport_snapshot_receive_chunk(struct connection *connection,
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
        transport_connection_close(connection,
                                   "snapshot chunk (index %" PRIu64 ", offset %" PRIu64
                                   " of %" PRIu64 ") does not continue the stream",
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
    peer->transport->snapshot_bytes_received += chunk->data_bytes;
    if (chunk->last && receive->state == RECEIVE_WRITING) {
        storage_stream_close(receive->file);
        receive->file = NULL;
        receive->state = RECEIVE_COMPLETE;
    }
}

void transport_snapshot_receive_lost(struct transport_peer *peer,
                                     const struct peer_snapshot_chunk *chunk)
{
    struct snapshot_receive *receive = &peer->receive;
    if (chunk->offset == 0) {
        snapshot_receive_reset(receive);
        receive->index = chunk->snapshot_index;
        receive->term = chunk->snapshot_term;
        receive->total_bytes = chunk->total_bytes;
    } else if ((receive->state != RECEIVE_WRITING && receive->state != RECEIVE_FAILED) ||
               receive->index != chunk->snapshot_index || receive->term != chunk->snapshot_term ||
               receive->received_bytes != chunk->offset) {
        return; /* not the stream we follow: nothing of ours is lost */
    }
    /* The rest of the stream is skipped as after a local write failure, and its message is
     * dropped when it comes: Raft sends the snapshot again. */
    storage_stream_close(receive->file);
    receive->file = NULL;
    receive->state = RECEIVE_FAILED;
    receive->received_bytes += chunk->data_bytes;
}

void transport_snapshot_receive_message(struct connection *connection,
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
void transport_snapshot_connection_closed(struct transport_peer *peer, struct connection *closed)
{
    if (peer->send.active && peer->send.connection == closed) {
        snapshot_send_finish(peer, false);
    }
    snapshot_receive_reset(&peer->receive);
}
