/*
 * transport_fault.c — the transport's fault point (transport.h, "Fault injection"): cut, delay,
 * loss and reordering per peer and direction, for tests and demos that cannot use nftables.
 * It exists only when the transport was started with config.fault_injection; otherwise every
 * call here fails with TRANSPORT_ERROR_DISABLED and the send and receive paths only test
 * peer->faulty, which stays false.
 *
 * Happy path. transport_send (out) and the reader (in) hand a frame to
 * transport_fault_outgoing / transport_fault_incoming when the peer is faulty. A cut or a lost
 * message is dropped and counted. A delayed one is encoded into a held copy (the caller's
 * frame borrows its entries) and queued by the time it is due; the transport's one fault timer
 * is armed for the earliest, and when it fires the frames that are due go on: out, their bytes
 * into the connection's pending buffer, whole frames, so the stream's framing never breaks;
 * in, decoded again and delivered as if just read. Messages held in order are never due
 * before the ones held before them; reordered ones are, which is how they overtake.
 *
 * Why a cut keeps the connection: a partition leaves both TCP ends open, and Raft must see
 * what it sees then — silence, not a closed link that reconnects at once (the handshake is not
 * a fault's business, and would succeed). A snapshot streaming out when the link is cut is
 * abandoned (on_snapshot_sent(false)) and new streams are refused while it stays cut; chunks
 * coming in through a cut are dropped and their stream is marked lost, so its final message
 * is dropped too and Raft sends the snapshot again once the link heals.
 *
 * Failure modes. Held messages are bounded per direction by max_send_buffer_bytes (beyond, a
 * message is dropped, as a full send buffer drops it); a held message whose connection closed
 * is lost with it (transport_fault_drop_held). Nothing here can fail the transport.
 */
#include "server/transport_internal.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "server/log.h"

/* ---- the PRNG: splitmix64, seeded by the configuration or transport_fault_seed ---- */

static uint64_t random_next(struct transport *transport)
{
    uint64_t z = (transport->fault_random_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, bound); bound > 0. The modulo's bias is below 2^-50 for our bounds. */
static uint64_t random_below(struct transport *transport, uint64_t bound)
{
    assert(bound > 0);
    return random_next(transport) % bound;
}

/* ---- held messages ---- */

static void queue_free(struct fault_queue *queue)
{
    struct fault_held *held = queue->head;
    while (held != NULL) {
        struct fault_held *next = held->next;
        free(held);
        held = next;
    }
    memset(queue, 0, sizeof *queue);
}

static bool link_active(const struct fault_link *link)
{
    const struct transport_link_faults *faults = &link->faults;
    return faults->cut || faults->delay_ms > 0 || faults->loss_percent > 0 ||
           faults->reorder_ms > 0 || link->held.count > 0;
}

static void peer_update_faulty(struct transport_peer *peer)
{
    peer->faulty = link_active(&peer->fault_in) || link_active(&peer->fault_out);
}

/* Inserts in due order, after every message due at the same time (so equal dues keep their
 * arrival order). Scans from the tail: messages held in order always land there. */
static void queue_insert(struct fault_queue *queue, struct fault_held *held)
{
    struct fault_held *after = queue->tail;
    while (after != NULL && after->due_ms > held->due_ms) {
        after = after->previous;
    }
    held->previous = after;
    held->next = after != NULL ? after->next : queue->head;
    if (held->next != NULL) {
        held->next->previous = held;
    } else {
        queue->tail = held;
    }
    if (after != NULL) {
        after->next = held;
    } else {
        queue->head = held;
    }
    queue->count++;
    queue->bytes += held->bytes;
}

static struct fault_held *queue_pop(struct fault_queue *queue)
{
    struct fault_held *held = queue->head;
    assert(held != NULL);
    queue->head = held->next;
    if (queue->head != NULL) {
        queue->head->previous = NULL;
    } else {
        queue->tail = NULL;
    }
    assert(queue->count > 0);
    assert(queue->bytes >= held->bytes);
    queue->count--;
    queue->bytes -= held->bytes;
    return held;
}

static void timer_arm(struct transport *transport);

/* Encodes the frame into a held copy due at due_ms; false (nothing held) when it does not fit
 * the bound or memory. */
static bool hold(struct transport_peer *peer, struct fault_link *link,
                 const struct peer_frame *frame, uint64_t due_ms)
{
    struct transport *transport = peer->transport;
    struct proto_buffer encoded;
    proto_buffer_init(&encoded, transport->config.max_send_buffer_bytes);
    bool held_it = false;
    if (peer_encode(&encoded, frame) == PROTO_OK &&
        link->held.bytes + encoded.length <= transport->config.max_send_buffer_bytes) {
        struct fault_held *held = malloc(sizeof *held + encoded.length);
        if (held != NULL) {
            held->due_ms = due_ms;
            held->bytes = encoded.length;
            memcpy(held->data, encoded.data, encoded.length);
            queue_insert(&link->held, held);
            held_it = true;
        }
    }
    proto_buffer_free(&encoded);
    return held_it;
}

/*
 * The decision for one Raft message in one direction: drop it (cut, loss), hold it (delay,
 * reorder), or let it pass now. A message that is not reordered is due no earlier than the
 * last one held in order, so a delay keeps the stream's order even when the delay shrinks;
 * one that is reordered (a fair coin, when reorder_ms is set) is held a further 1..reorder_ms
 * and may be overtaken. Returns true when the message was taken.
 */
static bool link_take(struct transport_peer *peer, struct fault_link *link,
                      const struct peer_frame *frame)
{
    struct transport *transport = peer->transport;
    const struct transport_link_faults *faults = &link->faults;
    if (faults->cut ||
        (faults->loss_percent > 0 && random_below(transport, 100) < faults->loss_percent)) {
        link->dropped++;
        return true;
    }
    uint64_t now_ms = uv_now(transport->loop);
    uint64_t due_ms = now_ms + faults->delay_ms;
    bool reordered = faults->reorder_ms > 0 && random_below(transport, 2) == 0;
    if (reordered) {
        due_ms += 1 + random_below(transport, faults->reorder_ms);
    } else if (due_ms < link->held.in_order_due_ms) {
        due_ms = link->held.in_order_due_ms;
    }
    if (due_ms <= now_ms && link->held.count == 0) {
        return false;
    }
    if (!hold(peer, link, frame, due_ms)) {
        link->dropped++; /* over the bound: lost, as from a full send buffer */
        return true;
    }
    if (!reordered) {
        link->held.in_order_due_ms = due_ms;
    }
    timer_arm(transport);
    return true;
}

bool transport_fault_outgoing(struct transport_peer *peer, const struct peer_frame *frame)
{
    assert(peer->transport->config.fault_injection);
    assert(frame->type == PEER_FRAME_RAFT || frame->type == PEER_FRAME_REPLICA);
    return link_take(peer, &peer->fault_out, frame);
}

bool transport_fault_incoming(struct transport_peer *peer, const struct peer_frame *frame)
{
    assert(peer->transport->config.fault_injection);
    if (frame->type == PEER_FRAME_SNAPSHOT_CHUNK) {
        if (!peer->fault_in.faults.cut) {
            return false; /* chunks are only cut: the stream is one TCP stream */
        }
        peer->fault_in.dropped++;
        transport_snapshot_receive_lost(peer, &frame->chunk);
        return true;
    }
    assert(frame->type == PEER_FRAME_RAFT || frame->type == PEER_FRAME_REPLICA);
    return link_take(peer, &peer->fault_in, frame);
}

bool transport_fault_snapshot_allowed(const struct transport_peer *peer)
{
    return !peer->fault_out.faults.cut;
}

void transport_fault_drop_held(struct transport_peer *peer)
{
    peer->fault_in.dropped += peer->fault_in.held.count;
    peer->fault_out.dropped += peer->fault_out.held.count;
    queue_free(&peer->fault_in.held);
    queue_free(&peer->fault_out.held);
    peer_update_faulty(peer);
}

/* ---- releasing held messages ---- */

/* A held message of ours goes out now, behind whatever is pending on the connection. */
static void release_out(struct transport_peer *peer, const struct fault_held *held)
{
    struct transport *transport = peer->transport;
    struct connection *connection = peer->connection;
    assert(connection != NULL); /* the queue is emptied when the connection closes */
    if (transport_connection_queue_bytes(connection, held->data, held->bytes) != PROTO_OK) {
        peer->fault_out.dropped++;
        if (!transport->stopping) {
            transport->callbacks.on_unreachable(transport->callbacks.context, peer->address.id);
        }
        return;
    }
    if (!transport->held) {
        transport_connection_flush(connection); /* may close it, which empties the queues */
    }
}

/* A held message from the peer arrives now: decoded again and delivered as if just read. */
static void release_in(struct transport_peer *peer, const struct fault_held *held)
{
    struct connection *connection = peer->connection;
    assert(connection != NULL);
    struct peer_decoder decoder;
    int rc = peer_decoder_init(&decoder, PEER_MAX_PAYLOAD_BYTES);
    assert(rc == PROTO_OK);
    struct peer_frame frame;
    size_t consumed = 0;
    rc = peer_decode(&decoder, held->data, held->bytes, &consumed, &frame);
    /* We encoded it from a frame the decoder had accepted. */
    assert(rc == PEER_FRAME);
    assert(consumed == held->bytes);
    assert(frame.type == PEER_FRAME_RAFT || frame.type == PEER_FRAME_REPLICA);
    if (frame.type == PEER_FRAME_REPLICA) {
        transport_connection_deliver_replica(connection, &frame.replica); /* the foil modes */
    } else {
        transport_connection_deliver(connection, &frame.raft);
    }
    peer_decoder_free(&decoder);
}

/* Releases the peer's messages due by now_ms, out first; stops early if a delivery closed the
 * connection (which drops the rest) or stopped the transport. */
static void release_due(struct transport_peer *peer, uint64_t now_ms)
{
    struct transport *transport = peer->transport;
    struct fault_link *links[2] = {&peer->fault_out, &peer->fault_in};
    for (int i = 0; i < 2; i++) {
        struct fault_queue *queue = &links[i]->held;
        while (!transport->stopping && queue->head != NULL && queue->head->due_ms <= now_ms &&
               peer->connection != NULL) {
            struct fault_held *held = queue_pop(queue);
            if (links[i] == &peer->fault_out) {
                release_out(peer, held);
            } else {
                release_in(peer, held);
            }
            free(held);
        }
    }
    peer_update_faulty(peer);
}

static void on_fault_timer(uv_timer_t *timer)
{
    struct transport *transport = timer->data;
    uint64_t now_ms = uv_now(transport->loop);
    for (uint32_t i = 0; i < TRANSPORT_PEER_SLOTS && !transport->stopping; i++) {
        struct transport_peer *peer = &transport->peers[i];
        if (peer->transport != NULL && !peer->removed && peer->faulty) {
            release_due(peer, now_ms);
        }
    }
    if (!transport->stopping) {
        timer_arm(transport);
    }
}

/* Arms the timer for the earliest held message of any peer, or stops it when none is held. */
static void timer_arm(struct transport *transport)
{
    uint64_t earliest_ms = UINT64_MAX;
    for (uint32_t i = 0; i < TRANSPORT_PEER_SLOTS; i++) {
        const struct transport_peer *peer = &transport->peers[i];
        if (peer->transport == NULL || !peer->faulty) {
            continue;
        }
        const struct fault_held *heads[2] = {peer->fault_out.held.head, peer->fault_in.held.head};
        for (int j = 0; j < 2; j++) {
            if (heads[j] != NULL && heads[j]->due_ms < earliest_ms) {
                earliest_ms = heads[j]->due_ms;
            }
        }
    }
    if (earliest_ms == UINT64_MAX) {
        uv_timer_stop(&transport->fault_timer);
        return;
    }
    uint64_t now_ms = uv_now(transport->loop);
    uv_timer_start(&transport->fault_timer, on_fault_timer,
                   earliest_ms > now_ms ? earliest_ms - now_ms : 0, 0);
}

/* ---- start and stop ---- */

static void on_fault_timer_closed(uv_handle_t *handle)
{
    transport_release_object(handle->data);
}

void transport_fault_start(struct transport *transport)
{
    assert(transport->config.fault_injection);
    int rc = uv_timer_init(transport->loop, &transport->fault_timer);
    assert(rc == 0); /* uv_timer_init cannot fail */
    (void)rc;
    transport->fault_timer.data = transport;
    transport->open_objects++;
    transport->fault_random_state = transport->config.fault_seed;
    log_warning("FAULT INJECTION IS ENABLED on the peer transport (--enable-fault-injection): "
                "RAFT.FAULT and POST /api/fault can cut, delay and drop this node's messages. "
                "For tests and demos only, never in production. PRNG seed %" PRIu64,
                transport->config.fault_seed);
}

void transport_fault_stop(struct transport *transport)
{
    for (uint32_t i = 0; i < TRANSPORT_PEER_SLOTS; i++) {
        struct transport_peer *peer = &transport->peers[i];
        if (peer->transport != NULL) {
            transport_fault_drop_held(peer);
        }
    }
    uv_timer_stop(&transport->fault_timer);
    uv_close((uv_handle_t *)&transport->fault_timer, on_fault_timer_closed);
}

/* ---- the API ---- */

bool transport_fault_enabled(const struct transport *transport)
{
    return transport != NULL && transport->config.fault_injection;
}

static bool value_valid(enum transport_fault_kind kind, uint32_t value)
{
    switch (kind) {
    case TRANSPORT_FAULT_CUT:
        return value <= 1;
    case TRANSPORT_FAULT_DELAY:
    case TRANSPORT_FAULT_REORDER:
        return value <= TRANSPORT_FAULT_MAX_MS;
    case TRANSPORT_FAULT_LOSS:
        return value <= TRANSPORT_FAULT_MAX_PERCENT;
    }
    return false;
}

static void link_set(struct transport_link_faults *faults, enum transport_fault_kind kind,
                     uint32_t value)
{
    switch (kind) {
    case TRANSPORT_FAULT_CUT:
        faults->cut = value != 0;
        break;
    case TRANSPORT_FAULT_DELAY:
        faults->delay_ms = value;
        break;
    case TRANSPORT_FAULT_LOSS:
        faults->loss_percent = value;
        break;
    case TRANSPORT_FAULT_REORDER:
        faults->reorder_ms = value;
        break;
    }
}

static void peer_set(struct transport_peer *peer, unsigned directions,
                     enum transport_fault_kind kind, uint32_t value)
{
    if (directions & TRANSPORT_FAULT_IN) {
        link_set(&peer->fault_in.faults, kind, value);
    }
    if (directions & TRANSPORT_FAULT_OUT) {
        link_set(&peer->fault_out.faults, kind, value);
    }
    peer_update_faulty(peer);
    static const char *const kind_names[] = {"cut", "delay", "loss", "reorder"};
    transport_log(peer->transport, "fault injection: peer %" PRIu64 " %s %s = %" PRIu32,
                  peer->address.id, kind_names[kind],
                  directions == TRANSPORT_FAULT_BOTH ? "both"
                  : directions == TRANSPORT_FAULT_IN ? "in"
                                                     : "out",
                  value);
    if (kind == TRANSPORT_FAULT_CUT && value != 0 && (directions & TRANSPORT_FAULT_OUT)) {
        transport_snapshot_abort(peer); /* it would never arrive */
    }
}

static bool peer_in_use(const struct transport_peer *peer)
{
    return peer->transport != NULL && !peer->removed;
}

int transport_fault_set(struct transport *transport, raft_node_id peer_id, unsigned directions,
                        enum transport_fault_kind kind, uint32_t value)
{
    if (!transport_fault_enabled(transport)) {
        return TRANSPORT_ERROR_DISABLED;
    }
    if (directions == 0 || (directions & ~TRANSPORT_FAULT_BOTH) != 0 || !value_valid(kind, value)) {
        return TRANSPORT_ERROR_INVALID;
    }
    if (peer_id != RAFT_NODE_NONE) {
        struct transport_peer *peer = transport_find_peer(transport, peer_id);
        if (peer == NULL) {
            return TRANSPORT_ERROR_UNKNOWN_PEER;
        }
        peer_set(peer, directions, kind, value);
        return TRANSPORT_OK;
    }
    for (uint32_t i = 0; i < TRANSPORT_PEER_SLOTS; i++) {
        if (peer_in_use(&transport->peers[i])) {
            peer_set(&transport->peers[i], directions, kind, value);
        }
    }
    return TRANSPORT_OK;
}

/* Every held message becomes due now (the queue stays in order) and goes on the next loop
 * iteration: not from inside the caller, which may be a command handler. */
static void peer_heal(struct transport_peer *peer, uint64_t now_ms)
{
    memset(&peer->fault_in.faults, 0, sizeof peer->fault_in.faults);
    memset(&peer->fault_out.faults, 0, sizeof peer->fault_out.faults);
    struct fault_queue *queues[2] = {&peer->fault_in.held, &peer->fault_out.held};
    for (int i = 0; i < 2; i++) {
        for (struct fault_held *held = queues[i]->head; held != NULL; held = held->next) {
            held->due_ms = held->due_ms < now_ms ? held->due_ms : now_ms;
        }
        queues[i]->in_order_due_ms = 0;
    }
    peer_update_faulty(peer);
}

int transport_fault_heal(struct transport *transport, raft_node_id peer_id)
{
    if (!transport_fault_enabled(transport)) {
        return TRANSPORT_ERROR_DISABLED;
    }
    uint64_t now_ms = uv_now(transport->loop);
    if (peer_id != RAFT_NODE_NONE) {
        struct transport_peer *peer = transport_find_peer(transport, peer_id);
        if (peer == NULL) {
            return TRANSPORT_ERROR_UNKNOWN_PEER;
        }
        peer_heal(peer, now_ms);
    } else {
        for (uint32_t i = 0; i < TRANSPORT_PEER_SLOTS; i++) {
            if (peer_in_use(&transport->peers[i])) {
                peer_heal(&transport->peers[i], now_ms);
            }
        }
    }
    if (peer_id == RAFT_NODE_NONE) {
        transport_log(transport, "fault injection: healed every peer");
    } else {
        transport_log(transport, "fault injection: healed peer %" PRIu64, peer_id);
    }
    timer_arm(transport);
    return TRANSPORT_OK;
}

int transport_fault_seed(struct transport *transport, uint64_t seed)
{
    if (!transport_fault_enabled(transport)) {
        return TRANSPORT_ERROR_DISABLED;
    }
    transport->fault_random_state = seed;
    return TRANSPORT_OK;
}

static bool faults_set(const struct transport_link_faults *faults)
{
    return faults->cut || faults->delay_ms > 0 || faults->loss_percent > 0 ||
           faults->reorder_ms > 0;
}

uint32_t transport_fault_list(const struct transport *transport, struct transport_peer_faults *out,
                              uint32_t capacity)
{
    if (!transport_fault_enabled(transport)) {
        return 0;
    }
    uint32_t count = 0;
    /* By id: at most TRANSPORT_PEER_SLOTS passes of the table, each taking the next id. */
    raft_node_id last = RAFT_NODE_NONE;
    while (count < capacity) {
        const struct transport_peer *next = NULL;
        for (uint32_t i = 0; i < TRANSPORT_PEER_SLOTS; i++) {
            const struct transport_peer *peer = &transport->peers[i];
            if (peer_in_use(peer) && peer->address.id > last &&
                (next == NULL || peer->address.id < next->address.id) &&
                (faults_set(&peer->fault_in.faults) || faults_set(&peer->fault_out.faults))) {
                next = peer;
            }
        }
        if (next == NULL) {
            break;
        }
        last = next->address.id;
        out[count++] = (struct transport_peer_faults){
            .peer = next->address.id,
            .in = next->fault_in.faults,
            .out = next->fault_out.faults,
            .held_in = next->fault_in.held.count,
            .held_out = next->fault_out.held.count,
            .dropped_in = next->fault_in.dropped,
            .dropped_out = next->fault_out.dropped,
        };
    }
    return count;
}
