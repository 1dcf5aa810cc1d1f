/*
 * read.c — ReadIndex: linearizable reads without writing to the log (thesis §6.4).
 *
 * A read is linearizable if it observes every write committed before it began. The leader
 * records its commit index as the read's index, then confirms it is still the leader by a
 * round of heartbeats acknowledged by a quorum: no other leader can have committed anything
 * newer at that moment. Once the state machine has applied up to the index, the read may run.
 *
 * Reads are batched: every read accepted before a round is broadcast waits for that one
 * round, so a thousand concurrent GETs cost one heartbeat per follower. A new leader first
 * commits its no-op (§6.4 step 1): until then its commit index may lag, so reads wait.
 * A leader that loses its role fails every pending read; the host answers them with an error.
 *
 * Followers serve reads too (§6.4, "reads from followers"): a follower sends the reads of a
 * ready to its leader as one READ_INDEX; the leader treats the batch as one read of its own
 * and answers with the read point, which the follower serves once it has applied that far.
 * The follower fails its reads when its term or leader changes or it leaves the follower
 * role (the answer may never come), and when two election timeouts pass unanswered; it asks
 * again after one, in case the request or its answer was lost.
 *
 * The lease (§6.4.1): a quorum that acknowledged a heartbeat round sent at tick t heard from
 * this leader at t or later, and each of its members ignores campaigns for an election
 * timeout after that (election.c, raft_election_in_lease; after a restart too, since it may
 * have acknowledged a round before it crashed). No other leader can be elected before
 * t + election_timeout on their clocks, so until t + lease_ticks on ours this leader's commit
 * index is a linearizable read point without a new round, if the clocks drift apart by less
 * than the difference. "Ours" is the lease clock (raft_set_clock), which the server keeps
 * from the monotonic clock: ticks stop while the process is stopped, time does not. A leader that
 * sent TIMEOUT_NOW forfeits its lease for the term: a forced campaign overrides the followers'
 * lease.
 */
#include "raft/raft_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool committed_in_current_term(const struct raft *raft)
{
    return raft_log_term_at(&raft->log, raft->commit) == raft->term;
}

/* Serves one read at `index`: the host's, or a follower's batch with a message. */
static void answer(struct raft *raft, raft_node_id from, uint64_t request_id, uint64_t context,
                   uint64_t index)
{
    if (from == RAFT_NODE_NONE) {
        struct raft_read_state state = {.request_id = request_id, .index = index};
        raft_list_push(&raft->out_reads, state);
        return;
    }
    struct raft_message reply = raft_message_to(raft, RAFT_MSG_READ_INDEX_RESPONSE, from);
    reply.context = context;
    reply.index = index;
    raft_send(raft, &reply);
}

static void refuse(struct raft *raft, const struct raft_message *request)
{
    struct raft_message reply = raft_message_to(raft, RAFT_MSG_READ_INDEX_RESPONSE, request->from);
    reply.context = request->context;
    reply.reject = true;
    raft_send(raft, &reply);
}

static bool lease_holds(const struct raft *raft)
{
    if (raft->config.lease_ticks == 0 || raft->lease_forfeited ||
        raft->transfer_target != RAFT_NODE_NONE || raft->handing_over ||
        !committed_in_current_term(raft)) {
        return false;
    }
    if (raft_sabotaged(raft, RAFT_SABOTAGE_LEASE_FOREVER)) {
        return raft->lease_until > 0; /* sabotage: a lease, once held, never lapses */
    }
    return raft->clock < raft->lease_until;
}

/* The lease runs from the send of the newest round a quorum acknowledged. */
static void extend_lease(struct raft *raft, uint64_t round)
{
    uint32_t slot = (uint32_t)(round % RAFT_ROUND_TICKS);
    if (raft->config.lease_ticks == 0 || round == 0 || raft->round_sent_round[slot] != round) {
        return; /* too old to know when it was sent */
    }
    uint64_t until = raft->round_sent_tick[slot] + raft->config.lease_ticks;
    if (until > raft->lease_until) {
        raft->lease_until = until;
    }
}

static void serve_confirmed(struct raft *raft, uint64_t confirmed_round)
{
    assert(raft->role == RAFT_LEADER);
    assert(raft->read_count <= raft->config.max_pending_reads);
    uint32_t kept = 0;
    for (uint32_t i = 0; i < raft->read_count; i++) {
        struct raft_pending_read *read = &raft->reads[i];
        if (read->round != 0 && read->round <= confirmed_round) {
            answer(raft, read->from, read->request_id, read->context, read->index);
        } else {
            raft->reads[kept++] = *read;
        }
    }
    raft->read_count = kept;
}

/* The highest round that a quorum of voters (the leader included) has acknowledged. */
static uint64_t quorum_round(const struct raft *raft)
{
    uint64_t rounds[RAFT_MAX_NODES];
    uint32_t count = 0;
    for (uint32_t i = 0; i < raft->progress_count; i++) {
        const struct raft_progress *progress = &raft->progress[i];
        if (!progress->voter) {
            continue;
        }
        rounds[count++] = progress->id == raft->id ? raft->read_round : progress->read_round_acked;
    }
    /* The quorum-th largest must exist (a changed configuration would need rebuilt progress). */
    assert(raft_quorum(raft) <= count);
    /* Sort descending; the quorum-th largest is acknowledged by a quorum. */
    for (uint32_t i = 1; i < count; i++) {
        for (uint32_t j = i; j > 0 && rounds[j] > rounds[j - 1]; j--) {
            uint64_t swap = rounds[j];
            rounds[j] = rounds[j - 1];
            rounds[j - 1] = swap;
        }
    }
    return rounds[raft_quorum(raft) - 1];
}

void raft_read_on_ack(struct raft *raft)
{
    if (raft->role != RAFT_LEADER) {
        return;
    }
    uint64_t round = quorum_round(raft);
    extend_lease(raft, round);
    if (raft->read_count > 0) {
        serve_confirmed(raft, round);
    }
}

void raft_read_round_sent(struct raft *raft)
{
    uint32_t slot = (uint32_t)(raft->read_round % RAFT_ROUND_TICKS);
    raft->round_sent_round[slot] = raft->read_round;
    raft->round_sent_tick[slot] = raft->clock;
}

/* Starts a heartbeat round for every read not yet in one. Called when a ready is built, so
 * all reads of one event-loop turn share a round. */
void raft_read_flush_broadcast(struct raft *raft)
{
    if (!raft->read_broadcast_needed || raft->role != RAFT_LEADER ||
        !committed_in_current_term(raft)) {
        return;
    }
    raft->read_broadcast_needed = false;
    raft->read_round++;
    assert(raft->read_round > 0);
    raft_read_round_sent(raft);
    for (uint32_t i = 0; i < raft->read_count; i++) {
        struct raft_pending_read *read = &raft->reads[i];
        if (read->round == 0) {
            read->round = raft->read_round;
            read->index = raft->commit;
        }
    }
    /* The only voter confirms itself; a leader that a change removed is no voter at all. */
    if (raft->configuration.voter_count == 1 && raft_is_voter(raft, raft->id)) {
        extend_lease(raft, raft->read_round);
        serve_confirmed(raft, raft->read_round);
        return;
    }
    raft->heartbeat_elapsed = 0;
    raft_replication_broadcast_heartbeat(raft);
}

void raft_read_on_commit_in_term(struct raft *raft)
{
    assert(raft->role == RAFT_LEADER);
    assert(raft_log_term_at(&raft->log, raft->commit) == raft->term);
    if (raft->read_count > 0) {
        raft->read_broadcast_needed = true;
    }
}

void raft_read_fail_all(struct raft *raft)
{
    assert(raft->role == RAFT_LEADER); /* called as it steps down */
    assert(raft->read_count <= raft->config.max_pending_reads);
    for (uint32_t i = 0; i < raft->read_count; i++) {
        if (raft->reads[i].from == RAFT_NODE_NONE) {
            raft_list_push(&raft->out_failed_reads, raft->reads[i].request_id);
        } /* a follower's batch fails there, when it learns of the new term or times out */
    }
    raft->read_count = 0;
    raft->read_broadcast_needed = false;
    raft->lease_until = 0;
    raft->lease_forfeited = false;
}

void raft_read_free(struct raft *raft)
{
    free(raft->reads);
    raft->reads = NULL;
    raft->read_count = 0;
    free(raft->forwarded);
    raft->forwarded = NULL;
    raft->forwarded_count = 0;
}

/* Queues a read on the leader: the host's (from = NONE) or a follower's batch. */
static int leader_accept(struct raft *raft, raft_node_id from, uint64_t request_id,
                         uint64_t context, bool lease)
{
    assert(raft->role == RAFT_LEADER);
    if (lease && lease_holds(raft)) {
        raft->lease_reads++;
        answer(raft, from, request_id, context, raft->commit);
        return 0;
    }
    if (raft->read_count >= raft->config.max_pending_reads) {
        return RAFT_ERROR_BUSY;
    }
    if (raft->reads == NULL) {
        raft->reads = calloc(raft->config.max_pending_reads, sizeof *raft->reads);
        if (raft->reads == NULL) {
            return RAFT_ERROR_NO_MEMORY;
        }
    }
    assert(raft->read_count < raft->config.max_pending_reads);
    raft->reads[raft->read_count++] =
        (struct raft_pending_read){.request_id = request_id, .from = from, .context = context};
    raft->read_broadcast_needed = true;
    return 0;
}

static int follower_accept(struct raft *raft, uint64_t request_id, bool lease)
{
    assert(raft->role == RAFT_FOLLOWER);
    if (raft_sabotaged(raft, RAFT_SABOTAGE_FOLLOWER_READ_LOCAL)) {
        /* sabotage: serve at this follower's own commit index, asking nobody */
        answer(raft, RAFT_NODE_NONE, request_id, 0, raft->commit);
        return 0;
    }
    if (raft->forwarded_count >= raft->config.max_pending_reads) {
        return RAFT_ERROR_BUSY;
    }
    if (raft->forwarded == NULL) {
        raft->forwarded = calloc(raft->config.max_pending_reads, sizeof *raft->forwarded);
        if (raft->forwarded == NULL) {
            return RAFT_ERROR_NO_MEMORY;
        }
    }
    raft->forwarded[raft->forwarded_count++] =
        (struct raft_forwarded_read){.request_id = request_id, .lease = lease};
    raft->forwarded_reads++;
    raft->forward_needed = true;
    return 0;
}

static int read_accept(struct raft *raft, uint64_t request_id, bool lease)
{
    if (request_id == 0) {
        return RAFT_ERROR_INVALID;
    }
    if (raft->role == RAFT_LEADER) {
        return leader_accept(raft, RAFT_NODE_NONE, request_id, 0, lease);
    }
    if (raft->role != RAFT_FOLLOWER || raft->leader == RAFT_NODE_NONE) {
        return RAFT_ERROR_NOT_LEADER;
    }
    return follower_accept(raft, request_id, lease);
}

int raft_read_index(struct raft *raft, uint64_t request_id)
{
    return read_accept(raft, request_id, false);
}

int raft_read_lease(struct raft *raft, uint64_t request_id)
{
    return read_accept(raft, request_id, true);
}

/* ---- a follower's reads ---- */

bool raft_read_forward_due(const struct raft *raft)
{
    return raft->forward_needed && raft->role == RAFT_FOLLOWER && raft->leader != RAFT_NODE_NONE;
}

/* Sends every read not yet sent as one READ_INDEX, or two: lease reads may be served from
 * the leader's lease, the others wait for its round. Called when a ready is built. */
void raft_read_flush_forward(struct raft *raft)
{
    if (!raft_read_forward_due(raft)) {
        return;
    }
    raft->forward_needed = false;
    for (int lease = 0; lease <= 1; lease++) {
        uint64_t batch = 0;
        for (uint32_t i = 0; i < raft->forwarded_count; i++) {
            struct raft_forwarded_read *read = &raft->forwarded[i];
            if (read->batch != 0 || read->lease != (lease == 1)) {
                continue;
            }
            if (batch == 0) {
                batch = ++raft->forward_batch;
                struct raft_message request =
                    raft_message_to(raft, RAFT_MSG_READ_INDEX, raft->leader);
                request.context = batch;
                request.force = lease == 1;
                raft_send(raft, &request);
            }
            read->batch = batch;
        }
    }
}

void raft_read_fail_forwarded(struct raft *raft)
{
    for (uint32_t i = 0; i < raft->forwarded_count; i++) {
        raft_list_push(&raft->out_failed_reads, raft->forwarded[i].request_id);
    }
    raft->forwarded_count = 0;
    raft->forward_needed = false;
}

/* Reads unanswered for an election timeout are asked for again (the request or its answer
 * may have been lost); two election timeouts after they were made they fail. */
void raft_set_clock(struct raft *raft, uint64_t ticks)
{
    raft->host_clock = true;
    if (ticks > raft->clock) {
        raft->clock = ticks;
    }
}

void raft_read_tick(struct raft *raft)
{
    raft->ticks++;
    if (!raft->host_clock) {
        raft->clock++;
    }
    uint32_t timeout = raft->config.election_timeout_ticks;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < raft->forwarded_count; i++) {
        struct raft_forwarded_read *read = &raft->forwarded[i];
        read->waited++;
        if (read->waited >= 2 * timeout) {
            raft_list_push(&raft->out_failed_reads, read->request_id);
            continue;
        }
        if (read->batch != 0 && read->waited % timeout == 0) {
            read->batch = 0;
            raft->forward_needed = true;
        }
        raft->forwarded[kept++] = *read;
    }
    raft->forwarded_count = kept;
}

void raft_read_handle_response(struct raft *raft, const struct raft_message *message)
{
    assert(raft->role == RAFT_FOLLOWER);
    if (message->from != raft->leader || message->context == 0) {
        return;
    }
    uint32_t kept = 0;
    for (uint32_t i = 0; i < raft->forwarded_count; i++) {
        struct raft_forwarded_read *read = &raft->forwarded[i];
        if (read->batch != message->context) {
            raft->forwarded[kept++] = *read;
        } else if (message->reject) {
            raft_list_push(&raft->out_failed_reads, read->request_id);
        } else {
            answer(raft, RAFT_NODE_NONE, read->request_id, 0, message->index);
        }
    }
    raft->forwarded_count = kept;
}

/* ---- a leader's side of a follower's reads ---- */

void raft_read_handle_request(struct raft *raft, const struct raft_message *message)
{
    if (raft->role != RAFT_LEADER || message->context == 0 ||
        leader_accept(raft, message->from, 0, message->context, message->force) != 0) {
        refuse(raft, message);
    }
}
