/*
 * transport_handshake.c — the handshake of proto/peer.h that turns a TCP connection into an
 * authenticated link to one peer: HELLO, HELLO_REPLY, AUTH, and the timeout that bounds it.
 *
 * Happy path. The dialer, once TCP is connected, sends HELLO with a fresh challenge. The
 * acceptor checks the HELLO's cluster id, protocol version and node id, and answers
 * HELLO_REPLY: its MAC over the dialer's challenge and a challenge of its own. The dialer
 * verifies that MAC, answers AUTH with its MAC over the acceptor's challenge, and is
 * established; the acceptor is established once the AUTH verifies. An established connection
 * is attached to its peer; of two links to one peer, the one the lower id dialed is kept
 * (both sides may dial, transport.c), and of two alike the newer (the peer restarted).
 *
 * Failure modes. Each refusal closes the connection with its reason in the log: a frame of
 * the wrong type for the step, another cluster id, another protocol version, our own node id,
 * no room for another unlisted peer, a MAC that does not verify (wrong
 * secret), a challenge that cannot be drawn, and a handshake that does not complete within
 * handshake_timeout_ms.
 */
#include "replica/replica.h"
#include "server/tls.h"
#include "server/transport_internal.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

/* ---- the handshake timeout ---- */

void transport_on_handshake_timeout(uv_timer_t *timer)
{
    struct connection *connection = timer->data;
    transport_connection_close(connection, "handshake did not complete within %" PRIu32 " ms",
                               connection->transport->config.handshake_timeout_ms);
}

/* Queues and flushes a handshake frame; closes the connection if that fails. */
static bool connection_send_handshake(struct connection *connection, const struct peer_frame *frame)
{
    int rc = transport_connection_queue_frame(connection, frame);
    if (rc != PROTO_OK) {
        transport_connection_close(connection, "cannot queue %s: %s",
                                   peer_frame_type_string(frame->type), proto_error_string(rc));
        return false;
    }
    transport_connection_flush(connection);
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
        /* Two links to one peer: both sides dialed (the fallback direction, transport.c), or
         * the peer restarted. Keep one by a rule both sides apply alike: the link the lower id
         * dialed wins over one the higher id dialed; of two alike, the newer (a restart). */
        bool lower_dialed_new = connection->outbound == (transport->config.id < peer->address.id);
        bool lower_dialed_old =
            peer->connection->outbound == (transport->config.id < peer->address.id);
        if (lower_dialed_old && !lower_dialed_new) {
            transport_connection_close(connection, "a link to this peer exists already");
            return;
        }
        transport_connection_close(peer->connection,
                                   "replaced by a new connection (the peer restarted, or both "
                                   "sides dialed)");
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
    transport_log(transport, "connected to %s%s", connection->name,
                  connection->tls != NULL ? " over TLS" : "");
    if (transport->callbacks.on_peer_state != NULL) {
        transport->callbacks.on_peer_state(transport->callbacks.context, peer->address.id, true);
    }
}

/* Dialer, once TCP is connected: HELLO with a fresh challenge. */
/* The protocol version HELLO announces: Raft's as it always was, a foil mode in the upper 16
 * bits (transport.h). */
static uint32_t announced_version(const struct transport *transport)
{
    return PEER_PROTOCOL_VERSION | ((uint32_t)transport->config.replication_mode << 16);
}

void transport_handshake_begin(struct connection *connection)
{
    struct transport *transport = connection->transport;
    if (RAND_bytes(connection->challenge, PEER_CHALLENGE_BYTES) != 1) {
        transport_connection_close(connection, "RAND_bytes failed to draw a challenge");
        return;
    }
    struct peer_frame frame = {.type = PEER_FRAME_HELLO};
    memcpy(frame.hello.cluster_id, transport->config.cluster_id, PEER_CLUSTER_ID_BYTES);
    frame.hello.node_id = transport->config.id;
    memcpy(frame.hello.challenge, connection->challenge, PEER_CHALLENGE_BYTES);
    frame.hello.protocol_version = announced_version(transport);
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
        transport_connection_close(connection,
                                   "HELLO from node %" PRIu64 " of cluster %s, ours is %s",
                                   hello->node_id, theirs, ours);
        return NULL;
    }
    uint32_t their_mode = hello->protocol_version >> 16;
    if ((hello->protocol_version & 0xffffu) == PEER_PROTOCOL_VERSION &&
        their_mode != transport->config.replication_mode) {
        transport_connection_close(connection,
                                   "HELLO from node %" PRIu64
                                   " running replication mode %s, ours is %s: nodes of "
                                   "different modes never talk",
                                   hello->node_id, replica_mode_name((int)their_mode),
                                   replica_mode_name(transport->config.replication_mode));
        return NULL;
    }
    if (hello->protocol_version != announced_version(transport)) {
        transport_connection_close(connection,
                                   "HELLO with protocol version %" PRIu32 ", ours is %d",
                                   hello->protocol_version & 0xffffu, PEER_PROTOCOL_VERSION);
        return NULL;
    }
    if (hello->node_id == transport->config.id) {
        transport_connection_close(connection, "HELLO claims our own node id %" PRIu64,
                                   hello->node_id);
        return NULL;
    }
    struct transport_peer *peer = transport_find_peer(transport, hello->node_id);
    if (peer == NULL) {
        /* Not in our configuration: the leader of a cluster we wait to join, or a member we
         * have not heard of yet (we were down when it joined). It must still authenticate. */
        peer = transport_add_unlisted(transport, hello->node_id);
    }
    if (peer == NULL) {
        transport_connection_close(
            connection, "HELLO from unknown node id %" PRIu64 ": no room for it", hello->node_id);
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
    /* tls-verify-peer-name: the certificate must name the address of the node the HELLO claims
     * to be, checked before we prove ourselves to it. An unlisted peer's address is unknown:
     * not checked here (our dial to it, once it is listed, checks it). */
    char reason[160];
    if (connection->tls != NULL && transport->config.tls_verify_peer_name && peer->listed &&
        peer->address.host[0] != '\0' &&
        !tls_session_peer_names(connection->tls, peer->address.host, reason, sizeof reason)) {
        transport_connection_close(connection, "TLS: %s (tls-verify-peer-name)", reason);
        return;
    }
    if (RAND_bytes(connection->challenge, PEER_CHALLENGE_BYTES) != 1) {
        transport_connection_close(connection, "RAND_bytes failed to draw a challenge");
        return;
    }
    struct peer_frame frame = {.type = PEER_FRAME_HELLO_REPLY};
    frame.auth.node_id = transport->config.id;
    memcpy(frame.auth.challenge, connection->challenge, PEER_CHALLENGE_BYTES);
    int rc = compute_mac(transport, hello->challenge, transport->config.id, peer->address.id,
                         frame.auth.mac);
    if (rc != PROTO_OK) {
        transport_connection_close(connection, "cannot compute the HMAC: %s",
                                   proto_error_string(rc));
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
        transport_connection_close(connection,
                                   "HELLO_REPLY from node %" PRIu64 ", expected %" PRIu64,
                                   reply->node_id, peer->address.id);
        return;
    }
    int rc = verify_mac(transport, connection->challenge, peer->address.id, transport->config.id,
                        reply->mac);
    if (rc != PROTO_OK) {
        transport_connection_close(connection,
                                   "HELLO_REPLY's MAC does not verify (%s): wrong secret?",
                                   proto_error_string(rc));
        return;
    }
    struct peer_frame frame = {.type = PEER_FRAME_AUTH};
    frame.auth.node_id = transport->config.id;
    rc = compute_mac(transport, reply->challenge, transport->config.id, peer->address.id,
                     frame.auth.mac);
    if (rc != PROTO_OK) {
        transport_connection_close(connection, "cannot compute the HMAC: %s",
                                   proto_error_string(rc));
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
        transport_connection_close(connection, "AUTH from node %" PRIu64 ", expected %" PRIu64,
                                   auth->node_id, peer->address.id);
        return;
    }
    int rc = verify_mac(transport, connection->challenge, peer->address.id, transport->config.id,
                        auth->mac);
    if (rc != PROTO_OK) {
        transport_connection_close(connection, "AUTH's MAC does not verify (%s): wrong secret?",
                                   proto_error_string(rc));
        return;
    }
    connection_establish(connection);
}

void transport_handshake_frame(struct connection *connection, const struct peer_frame *frame)
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
        transport_connection_close(connection, "%s frame before authentication (expected %s)",
                                   peer_frame_type_string(frame->type),
                                   peer_frame_type_string(expected));
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
