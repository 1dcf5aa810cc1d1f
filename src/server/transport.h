/*
 * transport.h — the connections between raftkv nodes: one TCP connection per pair of nodes,
 * a handshake that checks the cluster id and authenticates the peer, Raft messages framed by
 * proto/peer.h, and snapshots streamed in chunks.
 *
 * Happy path: transport_start() listens on this node's peer address and dials every peer with
 * a higher id than ours at once (a peer with a lower id dials us), so each pair shares exactly
 * one connection, used in both directions. A peer with a lower id that has not dialed within a
 * second is dialed too (it may not know us: it was down when we joined); of two links to one
 * peer, both sides keep the one the lower id dialed. The dialer binds the connection's source
 * address to our own peer host, so that per-address firewall rules (tests/cluster) cut exactly one
 * link. After the handshake (HELLO, HELLO_REPLY, AUTH, see proto/peer.h) the connection carries
 * RAFT and SNAPSHOT_CHUNK frames. transport_send() encodes a message into the peer's send
 * buffer at once (the caller's message may die right after) and the loop writes it out.
 *
 * Failure modes: a peer that is down, unreachable or slow costs nothing but dropped
 * messages, which Raft tolerates: a message to a peer that is not connected, or whose send
 * buffer is over max_send_buffer_bytes, is dropped and on_unreachable() is called. A
 * connection is closed (and re-dialed with exponential backoff, from 50 ms to 2 s, with
 * jitter) on any I/O error, on a frame that fails to decode, on a handshake from another
 * cluster id, another protocol version, an unknown node id, or a MAC that does not verify,
 * and when a handshake does not complete within handshake_timeout_ms, and — with config.tls —
 * on a TLS failure (a plaintext peer, a certificate that does not verify). Each refusal is logged
 * with its reason. Nothing a peer sends can crash the node.
 *
 * Snapshots: transport_send_snapshot() streams the file at data_path in SNAPSHOT_CHUNK frames
 * (reading it piece by piece as the socket drains, so a large snapshot never sits in memory)
 * followed by the RAFT frame carrying the RAFT_MSG_SNAPSHOT message; on_snapshot_sent()
 * reports whether everything was handed to the kernel (true) or the connection failed
 * (false). The receiver writes chunks to <incoming_directory>/snapshot-from-<id>.tmp,
 * checking that they tile the file in order; when the RAFT_MSG_SNAPSHOT message arrives after
 * a complete file of the same index and term, on_message() gets the message with the path of
 * that file; else the message is dropped. At most one snapshot per peer is in flight in each
 * direction; a second send while one streams fails with TRANSPORT_ERROR_BUSY.
 *
 * Threads: everything runs on the libuv loop thread that started the transport.
 * Ownership: transport_start() allocates the transport; transport_stop() closes every handle
 * and frees it once the loop has run the close callbacks (keep running the loop until then).
 * Configuration strings are copied.
 */
#ifndef RAFTKV_SERVER_TRANSPORT_H
#define RAFTKV_SERVER_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "proto/peer.h"
#include "raft/raft.h"

#define TRANSPORT_MAX_PEERS  (2 * RAFT_MAX_NODES) /* voters and learners */
#define TRANSPORT_HOST_BYTES 256

/* X(name, value, text) per code: enum transport_error and transport_error_string() are both
 * expanded from this list, so a code cannot lack its text. The text is the code's name. */
#define TRANSPORT_ERRORS(X)                                                                        \
    X(TRANSPORT_OK, 0, "TRANSPORT_OK")                                                             \
    /* bad configuration or argument */                                                            \
    X(TRANSPORT_ERROR_INVALID, -1, "TRANSPORT_ERROR_INVALID")                                      \
    X(TRANSPORT_ERROR_NO_MEMORY, -2, "TRANSPORT_ERROR_NO_MEMORY")                                  \
    /* could not bind or listen on the peer address */                                             \
    X(TRANSPORT_ERROR_LISTEN, -3, "TRANSPORT_ERROR_LISTEN")                                        \
    X(TRANSPORT_ERROR_NOT_CONNECTED, -4, "TRANSPORT_ERROR_NOT_CONNECTED")                          \
    /* a snapshot is already streaming to that peer */                                             \
    X(TRANSPORT_ERROR_BUSY, -5, "TRANSPORT_ERROR_BUSY")                                            \
    /* the snapshot file could not be opened */                                                    \
    X(TRANSPORT_ERROR_IO, -6, "TRANSPORT_ERROR_IO")                                                \
    /* fault injection was not enabled in the configuration */                                     \
    X(TRANSPORT_ERROR_DISABLED, -7, "TRANSPORT_ERROR_DISABLED")                                    \
    /* no peer with that id in the table */                                                        \
    X(TRANSPORT_ERROR_UNKNOWN_PEER, -8, "TRANSPORT_ERROR_UNKNOWN_PEER")

enum transport_error {
#define TRANSPORT_ERROR_ENUMERATOR(name, value, text) name = value,
    TRANSPORT_ERRORS(TRANSPORT_ERROR_ENUMERATOR)
#undef TRANSPORT_ERROR_ENUMERATOR
};

/* The code's text from TRANSPORT_ERRORS ("TRANSPORT_ERROR_BUSY"); "unknown" for any other
 * value. */
const char *transport_error_string(int error);

struct transport_peer_address {
    raft_node_id id;
    char host[TRANSPORT_HOST_BYTES]; /* numeric IPv4 or IPv6 address */
    uint16_t port;
};

struct tls_context; /* server/tls.h */

struct transport_config {
    raft_node_id id;
    char host[TRANSPORT_HOST_BYTES]; /* our peer address: listen here, dial from here */
    uint16_t port;
    uint8_t cluster_id[PEER_CLUSTER_ID_BYTES];
    const uint8_t *secret; /* NULL or empty: no authentication (MACs are zero and unchecked;
                            * the cluster id, version and node ids still are) */
    size_t secret_bytes;
    uint32_t peer_count; /* the other nodes, not us */
    struct transport_peer_address peers[TRANSPORT_MAX_PEERS];
    size_t max_send_buffer_bytes;  /* per peer; default 64 MiB */
    uint32_t handshake_timeout_ms; /* default 2000 */
    uint32_t snapshot_chunk_bytes; /* default 1 MiB */
    char incoming_directory[1024]; /* where received snapshots are assembled */
    /* NULL: plaintext links. Else every link is TLS from its first byte (both sides present
     * certificates the context verifies) and the handshake above runs inside it; a plaintext
     * peer is refused. Borrowed: it must outlive the transport; a reload of it (tls.h) is seen
     * by the next connection. */
    struct tls_context *tls;
    /* With tls: a peer's certificate must also name the peer's address (the host of its
     * transport_peer_address). The dialer checks while verifying the acceptor's chain; the
     * acceptor checks the dialer's certificate against the node its HELLO names, before
     * answering it (a peer not in our configuration, whose address we do not know, is not
     * checked there). */
    bool tls_verify_peer_name;
    /* Tests and demos only: the fault point below (transport_fault_*) exists. Off, every
     * transport_fault_* call but transport_fault_enabled fails with TRANSPORT_ERROR_DISABLED,
     * and the send and receive paths pay one branch on a flag that is never set. */
    bool fault_injection;
    uint64_t fault_seed; /* seeds the PRNG of loss and reordering */
    /* The replication mode (replica/replica.h's enum; 0 is Raft's). HELLO announces it in the
     * protocol version's upper 16 bits (Raft's HELLO is unchanged), and a peer of another
     * mode is refused with a log line that names both: the lecture's foils never mix with
     * each other or with Raft. */
    uint16_t replication_mode;
};

void transport_config_default(struct transport_config *config);

struct transport_callbacks {
    void *context;
    /* A Raft message from an authenticated peer. snapshot_data_path is NULL except for a
     * RAFT_MSG_SNAPSHOT, where it names the complete received file (the callee may rename
     * it away; otherwise the next snapshot from that peer overwrites it). Both are valid only
     * during the call. */
    void (*on_message)(void *context, const struct raft_message *message,
                       const char *snapshot_data_path);
    /* A message to `peer` was dropped (not connected, or its send buffer is full). */
    void (*on_unreachable)(void *context, raft_node_id peer);
    void (*on_snapshot_sent)(void *context, raft_node_id peer, bool success);
    /* Optional: the connection to `peer` went up (true) or down (false). */
    void (*on_peer_state)(void *context, raft_node_id peer, bool connected);
    /* Optional: a REPLICA message (the foil modes) from an authenticated peer, to us; valid
     * during the call. NULL: such a frame closes the connection, as any unexpected one. */
    void (*on_replica)(void *context, const struct peer_replica *message);
};

struct transport;

int transport_start(uv_loop_t *loop, const struct transport_config *config,
                    const struct transport_callbacks *callbacks, struct transport **out);
/* Closes everything; the memory is released from the loop's close callbacks. */
void transport_stop(struct transport *transport);

/* Replaces the configuration's peers (not us) by `peers`: new ones are dialed (those above our
 * id), departed ones are disconnected and forgotten, moved ones are dialed at their new
 * address next time. A node below our id that is not listed may still dial us (a cluster's
 * leader reaching a node that waits to join it); its connection is accepted once it
 * authenticates. TRANSPORT_ERROR_INVALID (changing nothing) for a list that would not pass
 * transport_start's checks. */
int transport_set_peers(struct transport *transport, const struct transport_peer_address *peers,
                        uint32_t count);

/* Encodes and queues one message for message->to. Never blocks. */
int transport_send(struct transport *transport, const struct raft_message *message);
/* Encodes and queues one REPLICA message for message->to, fire and forget: a peer that is
 * not connected, or whose send buffer is full, simply misses it (TRANSPORT_ERROR_NOT_CONNECTED;
 * on_unreachable is not called, as no Raft progress depends on it). */
int transport_send_replica(struct transport *transport, const struct peer_replica *message);
/* Batching: between transport_hold() and transport_release(), transport_send() only queues;
 * the release writes each peer's queued frames at once, so the messages of one ready leave in
 * one write per peer instead of one per message. */
void transport_hold(struct transport *transport);
void transport_release(struct transport *transport);

/* Streams data_path's bytes, then the RAFT_MSG_SNAPSHOT message, to message->to. */
int transport_send_snapshot(struct transport *transport, const struct raft_message *message,
                            const char *data_path);

/* For INFO: whether the connection to `peer` is up, and bytes waiting in its send buffer. */
bool transport_peer_connected(const struct transport *transport, raft_node_id peer);
size_t transport_peer_send_buffer_bytes(const struct transport *transport, raft_node_id peer);

/* Snapshot data this transport sent and received since it started (metrics). */
void transport_snapshot_bytes(const struct transport *transport, uint64_t *sent,
                              uint64_t *received);

/*
 * Fault injection (config.fault_injection): per peer and direction — out, the messages this
 * node sends to the peer; in, those it receives from it — the transport can
 *
 *   cut      drop every Raft message and snapshot chunk (the connection stays up, as a
 *            partition leaves it; a snapshot streaming out is abandoned and new ones are
 *            refused, one streaming in is lost),
 *   delay    hold each Raft message delay_ms on a timer, delivered in order,
 *   loss     drop each Raft message with probability loss_percent (a seeded PRNG),
 *   reorder  hold a random half of the Raft messages up to reorder_ms more, so later ones
 *            overtake them.
 *
 * Held messages travel with their connection: when it closes they are lost, as bytes in a
 * dead TCP connection are. Handshake frames are never touched, so a cut link reconnects
 * after a restart and still carries nothing. Snapshot chunks are only cut (delay, loss and
 * reorder act on Raft messages; a snapshot's final message coming in is one of them).
 * Faults belong to the peer's slot: a peer that leaves the table loses its faults.
 */
#define TRANSPORT_FAULT_MAX_MS      60000 /* largest delay and reorder */
#define TRANSPORT_FAULT_IN          1u
#define TRANSPORT_FAULT_OUT         2u
#define TRANSPORT_FAULT_BOTH        (TRANSPORT_FAULT_IN | TRANSPORT_FAULT_OUT)
#define TRANSPORT_FAULT_MAX_PERCENT 100

enum transport_fault_kind {
    TRANSPORT_FAULT_CUT,     /* value: 1 cut, 0 not */
    TRANSPORT_FAULT_DELAY,   /* value: ms, 0 none */
    TRANSPORT_FAULT_LOSS,    /* value: percent, 0 none */
    TRANSPORT_FAULT_REORDER, /* value: ms, 0 none */
};

struct transport_link_faults {
    bool cut;
    uint32_t delay_ms;
    uint32_t loss_percent;
    uint32_t reorder_ms;
};

struct transport_peer_faults {
    raft_node_id peer;
    struct transport_link_faults in;
    struct transport_link_faults out;
    uint32_t held_in; /* messages waiting on the timer */
    uint32_t held_out;
    uint64_t dropped_in; /* messages the faults dropped since the transport started */
    uint64_t dropped_out;
};

bool transport_fault_enabled(const struct transport *transport);
/* Sets one fault on `directions` (TRANSPORT_FAULT_IN, _OUT or _BOTH) of the link to `peer`,
 * or of every peer in the table for RAFT_NODE_NONE. TRANSPORT_ERROR_DISABLED,
 * TRANSPORT_ERROR_UNKNOWN_PEER, or TRANSPORT_ERROR_INVALID for a value out of range (cut: 0
 * or 1; delay, reorder: at most TRANSPORT_FAULT_MAX_MS; loss: at most 100). */
int transport_fault_set(struct transport *transport, raft_node_id peer, unsigned directions,
                        enum transport_fault_kind kind, uint32_t value);
/* Removes every fault of `peer` (RAFT_NODE_NONE: of every peer); held messages are released
 * on the next loop iteration, in the order they were due. */
int transport_fault_heal(struct transport *transport, raft_node_id peer);
/* Reseeds the PRNG (loss, reorder). */
int transport_fault_seed(struct transport *transport, uint64_t seed);
/* The peers with a fault, by id, at most `capacity`; returns how many were written. */
uint32_t transport_fault_list(const struct transport *transport, struct transport_peer_faults *out,
                              uint32_t capacity);

#endif
