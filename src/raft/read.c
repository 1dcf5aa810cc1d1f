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
 */
#include "raft/raft_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool committed_in_current_term(const struct raft *raft)
{
    return raft_log_term_at(&raft->log, raft->commit) == raft->term;
}

static void serve_confirmed(struct raft *raft, uint64_t confirmed_round)
{
    assert(raft->role == RAFT_LEADER);
    assert(raft->read_count <= raft->config.max_pending_reads);
    uint32_t kept = 0;
    for (uint32_t i = 0; i < raft->read_count; i++) {
        struct raft_pending_read *read = &raft->reads[i];
        if (read->round != 0 && read->round <= confirmed_round) {
            struct raft_read_state state = {.request_id = read->request_id, .index = read->index};
            raft_list_push(&raft->out_reads, state);
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
    if (raft->role == RAFT_LEADER && raft->read_count > 0) {
        serve_confirmed(raft, quorum_round(raft));
    }
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
    for (uint32_t i = 0; i < raft->read_count; i++) {
        struct raft_pending_read *read = &raft->reads[i];
        if (read->round == 0) {
            read->round = raft->read_round;
            read->index = raft->commit;
        }
    }
    /* The only voter confirms itself; a leader that a change removed is no voter at all. */
    if (raft->configuration.voter_count == 1 && raft_is_voter(raft, raft->id)) {
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
        raft_list_push(&raft->out_failed_reads, raft->reads[i].request_id);
    }
    raft->read_count = 0;
    raft->read_broadcast_needed = false;
}

void raft_read_free(struct raft *raft)
{
    free(raft->reads);
    raft->reads = NULL;
    raft->read_count = 0;
}

int raft_read_index(struct raft *raft, uint64_t request_id)
{
    if (raft->role != RAFT_LEADER) {
        return RAFT_ERROR_NOT_LEADER;
    }
    if (request_id == 0) {
        return RAFT_ERROR_INVALID;
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
    raft->reads[raft->read_count++] = (struct raft_pending_read){.request_id = request_id};
    raft->read_broadcast_needed = true;
    return 0;
}
