/*
 * election.c — choosing a leader: timeouts, PreVote, votes, CheckQuorum and leadership
 * transfer.
 *
 * A follower that hears from no leader for its randomized election timeout (§5.2) first runs
 * a PreVote round (thesis §9.6): it asks whether it could win at term+1 without changing any
 * state, so a node that rejoins after a partition does not disrupt a healthy leader by
 * bumping terms. Only with a quorum of pre-votes does it become a candidate, increment its
 * term, vote for itself and ask for real votes. Each node grants one vote per term (§5.2),
 * and only to a candidate whose log is at least as up-to-date as its own (the election
 * restriction, §5.4.1).
 *
 * CheckQuorum (thesis §6.2): a leader that has not heard from a quorum within an election
 * timeout steps down, so a leader cut off in a minority stops accepting work; and a follower
 * that heard from its leader within that time ignores campaigns (the lease, §4.2.3).
 */
#include "raft/raft_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void election_become_leader(struct raft *raft);
static void election_check_quorum(struct raft *raft);

/* With lease reads a node that just started counts as in the lease too: before it crashed it
 * may have acknowledged a leader's round moments ago, which that leader's lease relies on
 * (read.c). */
bool raft_election_in_lease(const struct raft *raft)
{
    uint32_t timeout = raft->config.election_timeout_ticks;
    bool booting = raft->config.lease_ticks > 0 && raft->ticks < timeout;
    return raft->config.check_quorum && (raft->leader != RAFT_NODE_NONE || booting) &&
           raft->election_elapsed < timeout;
}

static int voter_position(const struct raft *raft, raft_node_id id)
{
    assert(raft->configuration.voter_count <= RAFT_MAX_NODES);
    for (uint32_t i = 0; i < raft->configuration.voter_count; i++) {
        if (raft->configuration.voters[i] == id) {
            return (int)i;
        }
    }
    return -1;
}

/* Records a vote; returns +1 when a quorum granted, -1 when a quorum refused, else 0. */
static int tally(struct raft *raft, raft_node_id from, bool granted)
{
    int position = voter_position(raft, from);
    if (position < 0) {
        return 0;
    }
    if (!raft->votes_answered[position]) {
        raft->votes_answered[position] = true;
        raft->votes_granted[position] = granted;
    }
    uint32_t granted_count = 0;
    uint32_t refused_count = 0;
    for (uint32_t i = 0; i < raft->configuration.voter_count; i++) {
        if (raft->votes_answered[i]) {
            granted_count += raft->votes_granted[i] ? 1 : 0;
            refused_count += raft->votes_granted[i] ? 0 : 1;
        }
    }
    assert(granted_count + refused_count <= raft->configuration.voter_count);
    if (granted_count >= raft_quorum(raft)) {
        return 1;
    }
    if (refused_count >= raft_quorum(raft)) {
        return -1;
    }
    return 0;
}

/*
 * Thesis §4.2.2: a node that its latest configuration removes or demotes, while that entry is
 * not committed, "should still start new elections, as it might still be needed". A leader
 * that proposed its own removal and then lost office (crashed, or was cut off) may hold
 * entries the remaining voters lack; if they still run the old configuration, which counts
 * this node, none of them can win without its vote, and the election restriction (§5.4.1)
 * denies it to them — the cluster would wait forever (found by the simulator, seeds 167 and
 * 197 of the membership schedule). So such a node campaigns, counting only the votes of its
 * latest configuration's voters, never its own (tally ignores non-voters), and, elected,
 * leads only until that configuration commits (raft_membership_on_commit). Learners of a
 * settled configuration, and nodes waiting to join, never campaign.
 */
static bool election_may_campaign(const struct raft *raft)
{
    if (raft_is_voter(raft, raft->id)) {
        return true;
    }
    if (raft->configuration_index <= raft->commit || raft->progress_count == 2 * RAFT_MAX_NODES) {
        return false; /* settled (or no room to track itself as a leader) */
    }
    struct raft_configuration previous;
    int rc = raft_configuration_at(raft, raft->configuration_index - 1, &previous);
    /* configuration_index - 1 >= commit >= the snapshot's index, so the only failure is an
     * unknown configuration: a node that joined empty, which was never a voter before. */
    assert(rc == 0 || rc == RAFT_ERROR_UNAVAILABLE);
    return rc == 0 && raft_configuration_is_voter(&previous, raft->id);
}

static void election_campaign(struct raft *raft, bool pre_vote, bool force)
{
    assert(raft->role != RAFT_LEADER);
    assert(raft->read_count == 0); /* reads are a leader's, failed when it stepped down */
    if (!election_may_campaign(raft)) {
        return;
    }
    if (raft->term >= RAFT_MAX_TERM) {
        return; /* raft_step refuses higher terms: such a campaign could never end */
    }
    uint64_t campaign_term;
    if (pre_vote) {
        raft_reset_term(raft, raft->term);
        raft->role = RAFT_PRE_CANDIDATE;
        campaign_term = raft->term + 1;
    } else {
        raft_reset_term(raft, raft->term + 1);
        raft->role = RAFT_CANDIDATE;
        raft->vote = raft->id;
        raft->election_count++;
        campaign_term = raft->term;
    }
    assert(campaign_term <= RAFT_MAX_TERM);
    raft_trace(raft, "%s for term %" PRIu64 "%s", pre_vote ? "pre-vote" : "campaign", campaign_term,
               force ? " (leadership transfer)" : "");
    if (tally(raft, raft->id, true) > 0) {
        /* A single-voter cluster wins at once. */
        if (pre_vote) {
            election_campaign(raft, false, force);
        } else {
            election_become_leader(raft);
        }
        return;
    }
    int type = pre_vote ? RAFT_MSG_PRE_VOTE : RAFT_MSG_VOTE;
    for (uint32_t i = 0; i < raft->configuration.voter_count; i++) {
        raft_node_id voter = raft->configuration.voters[i];
        if (voter == raft->id) {
            continue;
        }
        struct raft_message message = raft_message_to(raft, type, voter);
        message.term = campaign_term;
        message.index = raft_log_last_index(&raft->log);
        message.log_term = raft_log_last_term(&raft->log);
        message.force = force;
        raft_send(raft, &message);
    }
}

void raft_election_tick(struct raft *raft)
{
    raft->election_elapsed++;
    if (raft->role == RAFT_LEADER) {
        raft->heartbeat_elapsed++;
        if (raft->election_elapsed >= raft->config.election_timeout_ticks) {
            raft->election_elapsed = 0;
            if (raft->config.check_quorum) {
                election_check_quorum(raft);
                if (raft->role != RAFT_LEADER) {
                    return;
                }
            }
            /* Thesis §3.10: a transfer that has not finished in an election timeout is
             * abandoned, and the leader accepts proposals again — unless it is the hand-over
             * of a leader that is no voter any more: that one steps down now. */
            raft->transfer_target = RAFT_NODE_NONE;
            if (raft->handing_over) {
                raft_become_follower(raft, raft->term, RAFT_NODE_NONE);
                return;
            }
        }
        if (raft->heartbeat_elapsed >= raft->config.heartbeat_interval_ticks) {
            raft->heartbeat_elapsed = 0;
            raft_replication_broadcast_heartbeat(raft);
        }
        return;
    }
    if (raft->election_elapsed >= raft->randomized_election_timeout) {
        raft->election_elapsed = 0;
        if (!election_may_campaign(raft)) {
            /* The leader was silent for an election timeout: its lease lapses here too. A
             * node that may not campaign used to keep `leader` while its timer restarted, so
             * it stayed in the lease (§4.2.3) and ignored every campaign — for good when its
             * randomized timeout equals the election timeout: a learner that the only other
             * voter needed for a quorum never heard a vote request again (found by the
             * simulator, seed 691 of the membership schedule). */
            raft->leader = RAFT_NODE_NONE;
            raft_read_fail_forwarded(raft);
            return;
        }
        election_campaign(raft, raft->config.pre_vote, false);
    }
}

static void election_check_quorum(struct raft *raft)
{
    assert(raft->role == RAFT_LEADER);
    assert(raft->config.check_quorum);
    uint32_t active = 0;
    for (uint32_t i = 0; i < raft->progress_count; i++) {
        struct raft_progress *progress = &raft->progress[i];
        if (progress->voter && (progress->id == raft->id || progress->recent_active)) {
            active++;
        }
        progress->recent_active = false;
    }
    if (active < raft_quorum(raft)) {
        raft_become_follower(raft, raft->term, RAFT_NODE_NONE);
    }
}

static bool can_grant(const struct raft *raft, const struct raft_message *message)
{
    if (raft_sabotaged(raft, RAFT_SABOTAGE_DOUBLE_VOTE) && message->type == RAFT_MSG_VOTE) {
        return true; /* sabotage: any number of votes per term */
    }
    if (raft->vote == message->from) {
        return true; /* a repeated request, e.g. after a lost response */
    }
    if (raft->vote == RAFT_NODE_NONE && raft->leader == RAFT_NODE_NONE) {
        return true;
    }
    return message->type == RAFT_MSG_PRE_VOTE && message->term > raft->term;
}

void raft_election_handle_vote_request(struct raft *raft, const struct raft_message *message)
{
    assert(message->term >= raft->term); /* raft_step answered or dropped a stale one */
    bool pre_vote = message->type == RAFT_MSG_PRE_VOTE;
    bool up_to_date = raft_log_is_up_to_date(&raft->log, message->index, message->log_term) ||
                      raft_sabotaged(raft, RAFT_SABOTAGE_ELECTION_RESTRICTION);
    int type = pre_vote ? RAFT_MSG_PRE_VOTE_RESPONSE : RAFT_MSG_VOTE_RESPONSE;
    struct raft_message reply = raft_message_to(raft, type, message->from);
    /* Thesis §4.1: a node grants its vote without consulting its own configuration — the
     * candidate counts votes by its configuration, and ours may lag or lead it. Refusing
     * candidates that are no voters here deadlocked the cluster when this node lacked the
     * entry that promoted the candidate, and the only other voter lacked entries this one had
     * (found by the simulator, seed 124 of the membership schedule). Safety holds regardless:
     * one vote per term, and the election restriction. */
    if (can_grant(raft, message) && up_to_date) {
        /* A granted pre-vote answers at the candidate's future term, so the candidate
         * counts it instead of taking it for a newer term. */
        reply.term = message->term;
        if (!pre_vote) {
            assert(message->term == raft->term); /* a higher term was taken in raft_step */
            raft->election_elapsed = 0;
            raft->vote = message->from;
        }
    } else {
        reply.reject = true;
    }
    raft_send(raft, &reply);
}

void raft_election_handle_vote_response(struct raft *raft, const struct raft_message *message)
{
    assert(raft->role != RAFT_LEADER);
    assert(raft->role != RAFT_FOLLOWER);
    bool pre_vote_round = raft->role == RAFT_PRE_CANDIDATE;
    int expected = pre_vote_round ? RAFT_MSG_PRE_VOTE_RESPONSE : RAFT_MSG_VOTE_RESPONSE;
    if (message->type != expected) {
        return;
    }
    int outcome = tally(raft, message->from, !message->reject);
    if (outcome > 0) {
        if (pre_vote_round) {
            election_campaign(raft, false, false);
        } else {
            election_become_leader(raft);
        }
    } else if (outcome < 0) {
        raft_become_follower(raft, raft->term, RAFT_NODE_NONE);
    }
}

static void election_become_leader(struct raft *raft)
{
    assert(raft->role == RAFT_CANDIDATE);
    assert(election_may_campaign(raft));
    raft_reset_term(raft, raft->term);
    raft->role = RAFT_LEADER;
    raft->leader = raft->id;
    raft->lease_until = 0;
    raft->lease_forfeited = false;
    raft_trace(raft, "leader, log ends at %" PRIu64, raft_log_last_index(&raft->log));
    raft->uncommitted_bytes = 0;
    uint64_t next = raft_log_last_index(&raft->log) + 1;
    if (raft_progress_of(raft, raft->id) == NULL) {
        /* Elected without a vote of its own (election_may_campaign): a leader tracks its own
         * log like a member's, without counting it. */
        assert(raft->progress_count < 2 * RAFT_MAX_NODES);
        int rc = raft_progress_init(&raft->progress[raft->progress_count], raft->id, false,
                                    raft->config.max_inflight_appends);
        if (rc != 0) {
            abort(); /* memory exhaustion aborts, as everywhere in the core */
        }
        raft->progress_count++;
    }
    for (uint32_t i = 0; i < raft->progress_count; i++) {
        struct raft_progress *progress = &raft->progress[i];
        raft_progress_reset(progress, next);
        progress->silent_ticks = raft->config.election_timeout_ticks; /* not heard from yet */
        if (progress->id == raft->id) {
            progress->match = raft->log.stable;
            raft_progress_become_replicate(progress);
        }
    }
    /* §5.4.2 and §8: the new leader commits an entry of its own term before it can know
     * what is committed, and before it can serve reads. */
    raft_replication_append_new(raft, RAFT_ENTRY_NOOP, NULL, 0);
}

void raft_election_handle_timeout_now(struct raft *raft, const struct raft_message *message)
{
    assert(raft->role == RAFT_FOLLOWER);
    if (raft->leader != message->from) {
        return;
    }
    /* Thesis §3.10: the transfer target campaigns at once, skipping PreVote, and its vote
     * requests override the lease of nodes that heard from the old leader moments ago. */
    election_campaign(raft, false, true);
}

void raft_election_maybe_finish_transfer(struct raft *raft, struct raft_progress *progress)
{
    assert(raft->role == RAFT_LEADER);
    assert(progress->id != raft->id);
    if (raft->transfer_target != progress->id || raft->handing_over) {
        return; /* a hand-over sends its own TIMEOUT_NOW as it steps down (membership.c) */
    }
    if (progress->match == raft_log_last_index(&raft->log)) {
        struct raft_message message = raft_message_to(raft, RAFT_MSG_TIMEOUT_NOW, progress->id);
        raft_send(raft, &message);
        raft->lease_forfeited = true; /* its campaign overrides the followers' lease */
    }
}

int raft_transfer_leadership(struct raft *raft, raft_node_id target)
{
    if (raft->role != RAFT_LEADER) {
        return RAFT_ERROR_NOT_LEADER;
    }
    if (target == raft->id || !raft_is_voter(raft, target)) {
        return RAFT_ERROR_INVALID;
    }
    raft->transfer_target = target;
    raft->election_elapsed = 0;
    struct raft_progress *progress = raft_progress_of(raft, target);
    assert(progress != NULL);
    if (progress->match == raft_log_last_index(&raft->log)) {
        raft_election_maybe_finish_transfer(raft, progress);
    } else {
        raft_replication_send_append(raft, progress, false);
    }
    return 0;
}
