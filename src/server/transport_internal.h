/*
 * transport_internal.h — what the files of the peer transport share, and nobody else may
 * include: its limits, its structures, and the functions one file calls in another.
 *
 * transport.c holds the configuration, the table of peers, start/stop and the public API;
 * transport_connection.c one connection's life (buffers, reads, writes, frames, dial and
 * accept, backoff); transport_handshake.c HELLO, HELLO_REPLY and AUTH; transport_snapshot.c
 * snapshot streams. Ownership: the transport owns its peers (an array inside it) and its
 * connections (a list); each is freed from libuv close callbacks only, see transport.c.
 */
#ifndef RAFTKV_SERVER_TRANSPORT_INTERNAL_H
#define RAFTKV_SERVER_TRANSPORT_INTERNAL_H

#include "server/transport.h"

#include <stdbool.h>
#include <stdint.h>

#include <netinet/in.h>

struct storage_stream; /* storage/storage.h */
struct tls_session;    /* server/tls.h */

/* ---- limits ---- */

#define TRANSPORT_DEFAULT_MAX_SEND_BUFFER_BYTES ((size_t)64 * 1024 * 1024)
#define TRANSPORT_DEFAULT_HANDSHAKE_TIMEOUT_MS  2000
#define TRANSPORT_DEFAULT_SNAPSHOT_CHUNK_BYTES  ((uint32_t)1024 * 1024)
/* The largest max_send_buffer_bytes accepted: a single uv_write takes an unsigned length. */
#define TRANSPORT_MAX_SEND_BUFFER_BYTES PROTO_BUFFER_DEFAULT_MAX_BYTES
/* A SNAPSHOT_CHUNK frame's bytes beyond its data: frame header and chunk fields. */
#define TRANSPORT_CHUNK_OVERHEAD_BYTES (PEER_HEADER_BYTES + 64)
#define TRANSPORT_BACKOFF_MIN_MS       50
#define TRANSPORT_FALLBACK_DIAL_MS     1000
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

/* Listed peers, and room beside them for unlisted ones and for removed ones whose timers are
 * still closing. */
#define TRANSPORT_PEER_SLOTS (2 * TRANSPORT_MAX_PEERS)

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
    uint64_t written_bytes_total; /* bytes ever handed to the kernel (plaintext, with TLS) */
    struct tls_session *tls;      /* NULL: plaintext (config.tls) */
    size_t writing_plain_bytes;   /* TLS: the plaintext whose ciphertext `writing` holds */
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

/* Fault injection (transport_fault.c): one encoded frame held back, in a queue ordered by the
 * time it is due. */
struct fault_held {
    struct fault_held *previous;
    struct fault_held *next;
    uint64_t due_ms; /* uv_now() time to deliver it */
    size_t bytes;
    uint8_t data[]; /* the frame, as peer_encode wrote it */
};

struct fault_queue {
    struct fault_held *head; /* the earliest due */
    struct fault_held *tail;
    uint32_t count;
    size_t bytes;
    uint64_t in_order_due_ms; /* the latest due of a message held in order (delay) */
};

/* One direction of the link with a peer. */
struct fault_link {
    struct transport_link_faults faults;
    struct fault_queue held;
    uint64_t dropped;
};

/* A slot of the table of peers. In use from peer_setup until its reconnect timer has closed;
 * `listed` peers are the configuration's (transport_set_peers: we know their address and dial
 * them, see `dial`); an unlisted one dialed us unannounced — the leader of a cluster this
 * node is joining — and leaves the table when its connection closes. */
struct transport_peer {
    struct transport *transport; /* NULL: the slot is free */
    bool listed;
    bool removed; /* its timer is closing; the slot frees in the close callback */
    struct transport_peer_address address;
    struct sockaddr_storage sockaddr;
    /* We dial every listed peer. Its id above ours: at once (the primary direction, one
     * connection per pair); below ours: only after TRANSPORT_FALLBACK_DIAL_MS without a link —
     * a node that was down while a higher id joined does not know it, so that higher id (a
     * new leader, say) must be able to reach it first. */
    bool dial;
    bool fallback;                 /* dial only as the fallback (its id is below ours) */
    struct connection *connection; /* established, or NULL */
    struct connection *dialing;    /* outbound connection still in its handshake */
    uv_timer_t reconnect_timer;
    uint32_t backoff_ms;
    struct snapshot_send send;
    struct snapshot_receive receive;
    char incoming_path[TRANSPORT_PATH_BYTES];
    /* Fault injection: true while either direction has a fault or holds messages; the only
     * thing the send and receive paths look at (never set unless config.fault_injection). */
    bool faulty;
    struct fault_link fault_in;
    struct fault_link fault_out;
};

struct transport {
    uv_loop_t *loop;
    struct transport_config config;
    struct transport_callbacks callbacks;
    uint8_t secret[PEER_MAX_SECRET_BYTES];
    struct sockaddr_storage listen_address;
    struct sockaddr_storage source_address; /* (host, port 0): where dials come from */
    uv_tcp_t listener;
    struct transport_peer peers[TRANSPORT_PEER_SLOTS];
    struct connection *connections;
    uint32_t pending_inbound_count;
    uint32_t open_objects; /* listener, reconnect timers and connections not yet released */
    bool stopping;
    bool held; /* transport_hold: queue Raft frames, write them at transport_release */
    uint64_t snapshot_bytes_sent;     /* snapshot data queued to peers (metrics) */
    uint64_t snapshot_bytes_received; /* snapshot data received from peers */
    /* Fault injection (config.fault_injection only): the timer that releases held messages,
     * armed for the earliest one, and the PRNG of loss and reordering. */
    uv_timer_t fault_timer;
    uint64_t fault_random_state;
};

/* ---- calls between the files ---- */

/* transport.c */
void transport_log(const struct transport *transport, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
/* The peer with this id in the table (listed or not, not removed), or NULL. */
struct transport_peer *transport_find_peer(struct transport *transport, raft_node_id id);
/* A node that is not in the table dialed us: gives it an unlisted slot (NULL when the table is
 * full). */
struct transport_peer *transport_add_unlisted(struct transport *transport, raft_node_id id);
/* Takes a peer out of the table: closes its connections and its timer. */
void transport_remove_peer(struct transport_peer *peer);
void transport_release_object(struct transport *transport);

/* transport_connection.c */
void transport_on_reconnect_timer(uv_timer_t *timer);
void transport_on_connection(uv_stream_t *listener, int status);
void transport_connection_close(struct connection *connection, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
size_t transport_connection_buffered_bytes(const struct connection *connection);
int transport_connection_queue_frame(struct connection *connection, const struct peer_frame *frame);
void transport_connection_flush(struct connection *connection);

/* transport_handshake.c */
void transport_on_handshake_timeout(uv_timer_t *timer);
void transport_handshake_begin(struct connection *connection);
void transport_handshake_frame(struct connection *connection, const struct peer_frame *frame);

/* transport_connection.c: appends one frame encoded already, within max_send_buffer_bytes
 * (PROTO_ERROR_TOO_BIG when it does not fit); does not flush. */
/* A RAFT message checked already (from the peer, to us): to on_message, or to the snapshot it
 * completes. */
void transport_connection_deliver(struct connection *connection,
                                  const struct raft_message *message);
/* A REPLICA message (the foil modes) to the host's on_replica, if it takes them. */
void transport_connection_deliver_replica(struct connection *connection,
                                          const struct peer_replica *message);
int transport_connection_queue_bytes(struct connection *connection, const uint8_t *bytes,
                                     size_t count);

/* transport_fault.c: the fault point. Each returns true when it took the frame (dropped it or
 * holds it), false when the frame goes on as usual. Called only when peer->faulty. A new kind
 * of frame sent after the handshake must pass through them too, or a cut will not cut it. */
bool transport_fault_outgoing(struct transport_peer *peer, const struct peer_frame *frame);
bool transport_fault_incoming(struct transport_peer *peer, const struct peer_frame *frame);
/* May a snapshot stream start to this peer (false while its out direction is cut)? */
bool transport_fault_snapshot_allowed(const struct transport_peer *peer);
/* Set up at start when config.fault_injection; closed by transport_stop. */
void transport_fault_start(struct transport *transport);
void transport_fault_stop(struct transport *transport);
/* The peer's established connection closed, or the peer leaves: its held messages are lost. */
void transport_fault_drop_held(struct transport_peer *peer);

/* transport_snapshot.c */
/* Ends the stream to this peer as failed (on_snapshot_sent(false)), if one is active. */
void transport_snapshot_abort(struct transport_peer *peer);
/* A chunk coming in was cut: the stream it belongs to is lost (its message will be dropped). */
void transport_snapshot_receive_lost(struct transport_peer *peer,
                                     const struct peer_snapshot_chunk *chunk);
void transport_snapshot_pump_after_write(struct connection *connection);
void transport_snapshot_connection_closed(struct transport_peer *peer, struct connection *closed);
void transport_snapshot_receive_chunk(struct connection *connection,
                                      const struct peer_snapshot_chunk *chunk);
void transport_snapshot_receive_message(struct connection *connection,
                                        const struct raft_message *message);

#endif
