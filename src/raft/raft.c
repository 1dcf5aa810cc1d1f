/*
 * raft.c — a node's lifecycle, the step dispatcher, terms, ticks, and the ready batch.
 *
 * Every input reaches the core through this file: raft_step() checks a message's term
 * against ours (§5.1: a higher term makes us a follower, a lower one is answered or dropped)
 * and hands it to the file that owns its rule; raft_tick() advances the timers; raft_ready()
 * gathers the outputs the host must act on and raft_advance() records that it did. The order
 * the host must follow is stated in raft.h, at struct raft_ready.
 *
 * Failure modes: malformed messages and unknown senders are refused with RAFT_ERROR_INVALID
 * and change nothing; memory exhaustion aborts.
 */
#include "raft/raft_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Defaults, in ticks of the host's choosing (the server ticks every 10 ms). */
enum {
    DEFAULT_ELECTION_TIMEOUT_TICKS = 10,
    DEFAULT_HEARTBEAT_INTERVAL_TICKS = 1,
    DEFAULT_MAX_INFLIGHT_APPENDS = 64,
    DEFAULT_MAX_APPEND_BYTES = 1024 * 1024,
    DEFAULT_MAX_APPEND_ENTRIES = 64 * 1024,
    DEFAULT_MAX_ENTRY_BYTES = 512 * 1024 * 1024 + 64 * 1024,
    DEFAULT_MAX_COMMITTED_PER_READY = 4096,
    DEFAULT_MAX_PENDING_READS = 65536,
    DEFAULT_MAX_PROMOTE_LAG = 1000,
    MAX_INFLIGHT_APPENDS_LIMIT = 4096,
};

void raft_config_default(struct raft_config *config, raft_node_id id)
{
    memset(config, 0, sizeof *config);
    config->id = id;
    config->election_timeout_ticks = DEFAULT_ELECTION_TIMEOUT_TICKS;
    config->heartbeat_interval_ticks = DEFAULT_HEARTBEAT_INTERVAL_TICKS;
    config->max_inflight_appends = DEFAULT_MAX_INFLIGHT_APPENDS;
    config->max_append_bytes = DEFAULT_MAX_APPEND_BYTES;
    config->max_append_entries = DEFAULT_MAX_APPEND_ENTRIES;
    config->max_entry_bytes = DEFAULT_MAX_ENTRY_BYTES;
    config->max_uncommitted_bytes = 0;
    config->max_committed_per_ready = DEFAULT_MAX_COMMITTED_PER_READY;
    config->max_pending_reads = DEFAULT_MAX_PENDING_READS;
    config->max_promote_lag = DEFAULT_MAX_PROMOTE_LAG;
    config->pre_vote = true;
    config->check_quorum = true;
    config->random_seed = id;
    config->sabotage = RAFT_SABOTAGE_NONE;
}

const char *raft_error_string(int error)
{
    /* A switch rather than a table: two codes with one value fail to compile. */
    switch (error) {
#define RAFT_ERROR_CASE(name, value, text)                                                         \
    case name:                                                                                     \
        return text;
        RAFT_ERRORS(RAFT_ERROR_CASE)
#undef RAFT_ERROR_CASE
    }
    return "unknown error";
}

const char *raft_role_string(enum raft_role role)
{
    switch (role) {
    case RAFT_FOLLOWER:
        return "follower";
    case RAFT_PRE_CANDIDATE:
        return "pre-candidate";
    case RAFT_CANDIDATE:
        return "candidate";
    case RAFT_LEADER:
        return "leader";
    }
    return "unknown";
}

const char *raft_message_type_string(int type)
{
    static const char *const names[] = {
        [RAFT_MSG_PRE_VOTE] = "PreVote",
        [RAFT_MSG_PRE_VOTE_RESPONSE] = "PreVoteResponse",
        [RAFT_MSG_VOTE] = "Vote",
        [RAFT_MSG_VOTE_RESPONSE] = "VoteResponse",
        [RAFT_MSG_APPEND] = "Append",
        [RAFT_MSG_APPEND_RESPONSE] = "AppendResponse",
        [RAFT_MSG_HEARTBEAT] = "Heartbeat",
        [RAFT_MSG_HEARTBEAT_RESPONSE] = "HeartbeatResponse",
        [RAFT_MSG_SNAPSHOT] = "Snapshot",
        [RAFT_MSG_TIMEOUT_NOW] = "TimeoutNow",
        [RAFT_MSG_READ_INDEX] = "ReadIndex",
        [RAFT_MSG_READ_INDEX_RESPONSE] = "ReadIndexResponse",
    };
    if (type < 1 || type > RAFT_MSG_TYPE_MAX) {
        return "Unknown";
    }
    return names[type];
}

/* ---- output lists ---- */

void *raft_list_grow(void *items, size_t count, size_t *capacity, size_t item_bytes)
{
    assert(count <= *capacity);
    if (count < *capacity) {
        return items;
    }
    size_t next = *capacity > 0 ? *capacity * 2 : 16;
    assert(next > *capacity);
    void *grown = realloc(items, next * item_bytes);
    if (grown == NULL) {
        fprintf(stderr, "raft: out of memory growing an output list\n");
        abort();
    }
    *capacity = next;
    return grown;
}

void raft_trace(const struct raft *raft, const char *format, ...)
{
    if (raft->config.trace == NULL) {
        return;
    }
    char line[256];
    int used =
        snprintf(line, sizeof line, "node %" PRIu64 " term %" PRIu64 ": ", raft->id, raft->term);
    assert(used > 0 && (size_t)used < sizeof line);
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(line + used, sizeof line - (size_t)used, format, arguments);
    va_end(arguments);
    raft->config.trace(raft->config.trace_context, line);
}

/* ---- membership and messages ---- */

bool raft_is_voter(const struct raft *raft, raft_node_id id)
{
    return raft_configuration_is_voter(&raft->configuration, id);
}

uint32_t raft_quorum(const struct raft *raft)
{
    assert(raft->configuration.voter_count > 0);
    assert(raft->configuration.voter_count <= RAFT_MAX_NODES);
    return raft->configuration.voter_count / 2 + 1;
}

struct raft_progress *raft_progress_of(struct raft *raft, raft_node_id id)
{
    assert(raft->progress_count <= 2 * RAFT_MAX_NODES);
    for (uint32_t i = 0; i < raft->progress_count; i++) {
        if (raft->progress[i].id == id) {
            return &raft->progress[i];
        }
    }
    return NULL;
}

struct raft_message raft_message_to(const struct raft *raft, int type, raft_node_id to)
{
    assert(type >= RAFT_MSG_PRE_VOTE);
    assert(type <= RAFT_MSG_TYPE_MAX);
    struct raft_message message;
    memset(&message, 0, sizeof message);
    message.type = (uint8_t)type;
    message.from = raft->id;
    message.to = to;
    message.term = raft->term;
    return message;
}

/* Only a leader's messages go out before the ready's persistence: they depend on nothing it
 * persists (the leader's term was durable before it could win the election). */
void raft_send(struct raft *raft, struct raft_message *message)
{
    assert(message->to != raft->id);
    bool from_leader = message->type == RAFT_MSG_APPEND || message->type == RAFT_MSG_HEARTBEAT ||
                       message->type == RAFT_MSG_SNAPSHOT || message->type == RAFT_MSG_TIMEOUT_NOW;
    /* A read point is the leader's commit index, durable on a quorum; asking for one depends
     * on nothing at all. A heartbeat's answer depends only on the term, once that is durable:
     * held behind the fsync of a large batch of entries it used to arrive late enough for the
     * leader's CheckQuorum to step down (a pipelined MSET load did that), and it is what
     * confirms every read index round. */
    bool read =
        message->type == RAFT_MSG_READ_INDEX || message->type == RAFT_MSG_READ_INDEX_RESPONSE;
    bool settled = message->type == RAFT_MSG_HEARTBEAT_RESPONSE &&
                   raft->persisted_hard_state.term == raft->term;
    if (from_leader || read || settled) {
        assert(raft->role == RAFT_LEADER || !from_leader);
        raft_list_push(&raft->out_immediate, *message);
    } else {
        assert(message->entry_count == 0);
        raft_list_push(&raft->out_after_persist, *message);
    }
}

/* ---- terms and roles ---- */

static void reset_election_timer(struct raft *raft)
{
    raft->election_elapsed = 0;
    raft->heartbeat_elapsed = 0;
    uint32_t timeout = raft->config.election_timeout_ticks;
    raft->randomized_election_timeout = timeout + (uint32_t)raft_prng_below(&raft->prng, timeout);
}

void raft_reset_term(struct raft *raft, uint64_t term)
{
    if (raft->term != term) {
        assert(term > raft->term);
        assert(term <= RAFT_MAX_TERM); /* raft_step refuses higher, campaigns stop below */
        raft->term = term;
        raft->vote = RAFT_NODE_NONE;
    }
    raft->leader = RAFT_NODE_NONE;
    reset_election_timer(raft);
    raft->transfer_target = RAFT_NODE_NONE;
    raft_read_fail_forwarded(raft); /* their answer may never come */
    memset(raft->votes_granted, 0, sizeof raft->votes_granted);
    memset(raft->votes_answered, 0, sizeof raft->votes_answered);
}

void raft_become_follower(struct raft *raft, uint64_t term, raft_node_id leader)
{
    if (raft->role != RAFT_FOLLOWER || term != raft->term) {
        raft_trace(raft, "follower at term %" PRIu64 " (was %s)", term,
                   raft_role_string(raft->role));
    }
    if (raft->role == RAFT_LEADER) {
        raft_read_fail_all(raft);
        raft->uncommitted_bytes = 0;
    }
    raft_reset_term(raft, term);
    raft->role = RAFT_FOLLOWER;
    raft->leader = leader;
    raft->handing_over = false;
    assert(raft->read_count == 0); /* only a leader holds reads */
}

/* ---- creation ---- */

static int validate_config(const struct raft_config *config)
{
    if (config->id == RAFT_NODE_NONE || config->election_timeout_ticks < 2 ||
        config->heartbeat_interval_ticks == 0 ||
        config->heartbeat_interval_ticks >= config->election_timeout_ticks ||
        config->max_inflight_appends == 0 ||
        config->max_inflight_appends > MAX_INFLIGHT_APPENDS_LIMIT ||
        config->max_append_bytes == 0 || config->max_append_entries == 0 ||
        config->max_committed_per_ready == 0 || config->max_pending_reads == 0 ||
        config->lease_ticks >= config->election_timeout_ticks ||
        (config->lease_ticks > 0 && !config->check_quorum)) {
        return RAFT_ERROR_INVALID;
    }
#ifndef RAFT_SABOTAGE
    if (config->sabotage != RAFT_SABOTAGE_NONE) {
        return RAFT_ERROR_INVALID; /* test switches exist only in raft_sabotage */
    }
#endif
    return 0;
}

static int load_boot_entries(struct raft *raft, const struct raft_boot_state *boot)
{
    for (size_t i = 0; i < boot->entry_count; i++) {
        const struct raft_entry *entry = &boot->entries[i];
        if (entry->index != raft_log_last_index(&raft->log) + 1 ||
            entry->term < raft_log_last_term(&raft->log) || entry->term > boot->hard_state.term ||
            (entry->data_bytes > 0 && entry->data == NULL) || !raft_membership_entry_valid(entry)) {
            return RAFT_ERROR_INVALID;
        }
        raft_log_append_copy(&raft->log, entry);
    }
    raft->log.stable = raft_log_last_index(&raft->log);
    raft->log.handed = raft->log.stable;
    return 0;
}

int raft_new(const struct raft_config *config, const struct raft_boot_state *boot,
             struct raft **out)
{
    int rc = validate_config(config);
    if (rc != 0) {
        return rc;
    }
    /* The base configuration, below every entry; a node waiting to join has none yet. A boot
     * configuration's highest id is at least its members' (hosts may leave it 0). */
    struct raft_configuration base =
        boot->has_snapshot ? boot->snapshot.configuration : config->configuration;
    for (uint32_t i = 0; !boot->has_snapshot && i < RAFT_MAX_NODES; i++) {
        raft_node_id voter = i < base.voter_count ? base.voters[i] : 0;
        raft_node_id learner = i < base.learner_count ? base.learners[i] : 0;
        base.highest_id = voter > base.highest_id ? voter : base.highest_id;
        base.highest_id = learner > base.highest_id ? learner : base.highest_id;
    }
    const struct raft_configuration *configuration = &base;
    if (base.voter_count > RAFT_MAX_NODES || base.learner_count > RAFT_MAX_NODES ||
        !raft_membership_valid(configuration, !boot->has_snapshot)) {
        return RAFT_ERROR_INVALID;
    }
    struct raft *raft = calloc(1, sizeof *raft);
    if (raft == NULL) {
        return RAFT_ERROR_NO_MEMORY;
    }
    raft->config = *config;
    raft->id = config->id;
    raft_prng_seed(&raft->prng, config->random_seed);
    /* A follower's read batches are numbered from a point of their own per start: an answer
     * to a batch of an earlier start of this node, still pending on the leader, must not
     * match a new batch (found by the simulator, seed 654: a restarted follower served a
     * read at the index its previous incarnation had asked for). The host's seed differs
     * per start (the server's mixes in the time and the pid); the boot state is mixed in
     * too, for hosts that keep one seed. */
    struct raft_prng batches;
    raft_prng_seed(&batches, config->random_seed ^ UINT64_C(0x6a09e667f3bcc908) ^
                                 (boot->hard_state.term << 24) ^ boot->entry_count);
    raft->forward_batch = raft_prng_below(&batches, UINT64_MAX / 2);
    uint64_t snapshot_index = boot->has_snapshot ? boot->snapshot.index : 0;
    uint64_t snapshot_term = boot->has_snapshot ? boot->snapshot.term : 0;
    raft_log_init(&raft->log, snapshot_index, snapshot_term);
    if (boot->has_snapshot) {
        raft->snapshot_meta = boot->snapshot;
    } else {
        raft->snapshot_meta.configuration = *configuration;
    }
    rc = load_boot_entries(raft, boot);
    if (rc != 0) {
        goto undo_log;
    }
    raft->role = RAFT_FOLLOWER;
    raft_membership_reload(raft);
    raft->term = boot->hard_state.term;
    raft->vote = boot->hard_state.vote;
    uint64_t last = raft_log_last_index(&raft->log);
    raft->commit = boot->hard_state.commit < last ? boot->hard_state.commit : last;
    if (raft->commit < snapshot_index) {
        raft->commit = snapshot_index;
    }
    raft->applied = boot->applied > snapshot_index ? boot->applied : snapshot_index;
    if (raft->applied > raft->commit) {
        raft->commit = raft->applied; /* the state machine proves it was committed */
    }
    if (raft->commit > last) {
        rc = RAFT_ERROR_INVALID; /* applied beyond the log: the log lost entries */
        goto undo_progress;
    }
    raft->applying = raft->applied;
    raft->persisted_hard_state = boot->hard_state;
    reset_election_timer(raft);
    assert(raft->log.snapshot_index <= raft->applied);
    assert(raft->applied <= raft->commit);
    *out = raft;
    return 0;

undo_progress:
    for (uint32_t i = 0; i < raft->progress_count; i++) {
        raft_progress_free(&raft->progress[i]);
    }
undo_log:
    raft_log_free(&raft->log);
    free(raft);
    return rc;
}

void raft_free(struct raft *raft)
{
    if (raft == NULL) {
        return;
    }
    raft_log_free(&raft->log);
    for (uint32_t i = 0; i < raft->progress_count; i++) {
        raft_progress_free(&raft->progress[i]);
    }
    raft_read_free(raft);
    free(raft->out_immediate.items);
    free(raft->out_after_persist.items);
    free(raft->out_reads.items);
    free(raft->out_failed_reads.items);
    free(raft->ready_immediate.items);
    free(raft->ready_after_persist.items);
    free(raft->ready_reads.items);
    free(raft->ready_failed_reads.items);
    free(raft->ready_entries);
    free(raft->ready_committed);
    free(raft->early_immediate.items);
    free(raft->early_reads.items);
    free(raft->early_failed_reads.items);
    free(raft->early_committed);
    free(raft);
}

/* ---- inputs ---- */

void raft_tick(struct raft *raft)
{
    raft_read_tick(raft);
    if (raft->role == RAFT_LEADER) {
        for (uint32_t i = 0; i < raft->progress_count; i++) {
            struct raft_progress *progress = &raft->progress[i];
            progress->silent_ticks += progress->silent_ticks < UINT32_MAX ? 1 : 0;
        }
    }
    raft_election_tick(raft);
}

static int validate_entries(const struct raft_message *message)
{
    if (message->entry_count > 0 && message->entries == NULL) {
        return RAFT_ERROR_INVALID;
    }
    uint64_t previous_term = message->log_term;
    for (uint32_t i = 0; i < message->entry_count; i++) {
        const struct raft_entry *entry = &message->entries[i];
        if (entry->index != message->index + 1 + i || entry->term == 0 ||
            entry->term < previous_term || entry->term > message->term ||
            (entry->data_bytes > 0 && entry->data == NULL) || !raft_membership_entry_valid(entry)) {
            return RAFT_ERROR_INVALID;
        }
        previous_term = entry->term;
    }
    return 0;
}

static int validate_message(const struct raft *raft, const struct raft_message *message)
{
    if (message->type < 1 || message->type > RAFT_MSG_TYPE_MAX || message->to != raft->id ||
        message->from == raft->id || message->from == RAFT_NODE_NONE) {
        return RAFT_ERROR_INVALID;
    }
    if (message->type != RAFT_MSG_APPEND && message->entry_count != 0) {
        return RAFT_ERROR_INVALID;
    }
    /* Terms grow by one per election: a term this high is forged or corrupt, and taking it
     * would let the next campaign wrap the term around to 0. */
    if (message->term > RAFT_MAX_TERM || message->log_term > RAFT_MAX_TERM ||
        message->hint_term > RAFT_MAX_TERM || message->snapshot.term > RAFT_MAX_TERM) {
        return RAFT_ERROR_INVALID;
    }
    if (message->type == RAFT_MSG_APPEND &&
        (message->index > UINT64_MAX / 2 || message->log_term > message->term)) {
        return RAFT_ERROR_INVALID;
    }
    /* Every entry has a term of at least 1, and index 0 (before the log) has term 0: an APPEND
     * that pairs them otherwise is forged. (A log_term of 0 at index 100 used to "match" the
     * empty log beyond a fresh follower's end and move its commit index past its log.) */
    if (message->type == RAFT_MSG_APPEND && (message->index == 0) != (message->log_term == 0)) {
        return RAFT_ERROR_INVALID;
    }
    if (message->type == RAFT_MSG_SNAPSHOT &&
        (message->snapshot.index == 0 || message->snapshot.term > message->term ||
         !raft_membership_valid(&message->snapshot.configuration, false))) {
        return RAFT_ERROR_INVALID;
    }
    return validate_entries(message);
}

/* §5.1: a message from a lower term is stale. Requests are answered (responses are dropped),
 * so that the stale node learns the current term, as Figure 2's RPCs do: a stale leader or
 * candidate may hear from nobody else. Once this core answered stale APPENDs only under
 * PreVote/CheckQuorum and stale VOTEs never, trusting that a node of the higher term would
 * contact the stale one in turn — not so once configurations differ: a stale candidate that
 * the other's configuration does not hold never hears from it, and each waited for the other
 * forever (found by the simulator, seeds 449 and 2688 of the membership schedule). */
static void answer_stale_term(struct raft *raft, const struct raft_message *message)
{
    assert(message->term < raft->term);
    if (message->type == RAFT_MSG_APPEND || message->type == RAFT_MSG_HEARTBEAT) {
        struct raft_message reply = raft_message_to(raft, RAFT_MSG_APPEND_RESPONSE, message->from);
        raft_send(raft, &reply);
    } else if (message->type == RAFT_MSG_PRE_VOTE || message->type == RAFT_MSG_VOTE) {
        int type = message->type == RAFT_MSG_PRE_VOTE ? RAFT_MSG_PRE_VOTE_RESPONSE
                                                      : RAFT_MSG_VOTE_RESPONSE;
        struct raft_message reply = raft_message_to(raft, type, message->from);
        reply.reject = true;
        raft_send(raft, &reply);
    }
}

/* Returns false when the message must go no further. */
static bool step_term(struct raft *raft, const struct raft_message *message)
{
    if (message->term < raft->term) {
        answer_stale_term(raft, message);
        return false;
    }
    if (message->term == raft->term) {
        return true;
    }
    bool vote_request = message->type == RAFT_MSG_VOTE || message->type == RAFT_MSG_PRE_VOTE;
    if (vote_request && !message->force && raft_election_in_lease(raft)) {
        return false; /* thesis §4.2.3: a node that hears from a leader ignores campaigns */
    }
    if (message->type == RAFT_MSG_PRE_VOTE) {
        return true; /* a pre-vote's term is hypothetical; ours does not change */
    }
    if (message->type == RAFT_MSG_PRE_VOTE_RESPONSE && !message->reject) {
        return true; /* granted at our future term; we take it when we campaign */
    }
    bool from_leader = message->type == RAFT_MSG_APPEND || message->type == RAFT_MSG_HEARTBEAT ||
                       message->type == RAFT_MSG_SNAPSHOT;
    raft_become_follower(raft, message->term, from_leader ? message->from : RAFT_NODE_NONE);
    return true;
}

static void step_follower(struct raft *raft, const struct raft_message *message)
{
    assert(raft->role == RAFT_FOLLOWER);
    switch (message->type) {
    case RAFT_MSG_APPEND:
        raft_replication_handle_append(raft, message);
        break;
    case RAFT_MSG_HEARTBEAT:
        raft_replication_handle_heartbeat(raft, message);
        break;
    case RAFT_MSG_SNAPSHOT:
        raft_snapshot_handle(raft, message);
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        raft_election_handle_timeout_now(raft, message);
        break;
    case RAFT_MSG_READ_INDEX_RESPONSE:
        raft_read_handle_response(raft, message);
        break;
    default:
        break; /* stale responses to a role we no longer hold */
    }
}

static void step_candidate(struct raft *raft, const struct raft_message *message)
{
    assert(raft->role != RAFT_LEADER);
    assert(raft->role != RAFT_FOLLOWER);
    switch (message->type) {
    case RAFT_MSG_APPEND:
    case RAFT_MSG_HEARTBEAT:
    case RAFT_MSG_SNAPSHOT:
        /* §5.2: a leader of our term exists; a (pre-)candidate returns to follower. */
        raft_become_follower(raft, message->term, message->from);
        step_follower(raft, message);
        break;
    case RAFT_MSG_PRE_VOTE_RESPONSE:
    case RAFT_MSG_VOTE_RESPONSE:
        raft_election_handle_vote_response(raft, message);
        break;
    default:
        break;
    }
}

static void step_leader(struct raft *raft, const struct raft_message *message)
{
    assert(raft->role == RAFT_LEADER);
    assert(raft->leader == raft->id);
    switch (message->type) {
    case RAFT_MSG_APPEND_RESPONSE:
        raft_replication_handle_append_response(raft, message);
        break;
    case RAFT_MSG_HEARTBEAT_RESPONSE:
        raft_replication_handle_heartbeat_response(raft, message);
        break;
    default:
        break; /* a second leader of our term cannot exist (§5.2) */
    }
}

int raft_step(struct raft *raft, const struct raft_message *message)
{
    int rc = validate_message(raft, message);
    if (rc != 0) {
        return rc;
    }
    if (!step_term(raft, message)) {
        return 0;
    }
    if (message->type == RAFT_MSG_PRE_VOTE || message->type == RAFT_MSG_VOTE) {
        raft_election_handle_vote_request(raft, message);
        return 0;
    }
    if (message->type == RAFT_MSG_READ_INDEX) {
        raft_read_handle_request(raft, message); /* refused by any node but the leader */
        return 0;
    }
    switch (raft->role) {
    case RAFT_FOLLOWER:
        step_follower(raft, message);
        break;
    case RAFT_PRE_CANDIDATE:
    case RAFT_CANDIDATE:
        step_candidate(raft, message);
        break;
    case RAFT_LEADER:
        step_leader(raft, message);
        break;
    }
    raft_membership_on_commit(raft);
    return 0;
}

int raft_propose(struct raft *raft, const uint8_t *data, uint32_t data_bytes, uint64_t *index,
                 uint64_t *term)
{
    if (raft->role != RAFT_LEADER) {
        return RAFT_ERROR_NOT_LEADER;
    }
    if (raft->transfer_target != RAFT_NODE_NONE) {
        return RAFT_ERROR_TRANSFERRING;
    }
    if (data_bytes > raft->config.max_entry_bytes || (data_bytes > 0 && data == NULL)) {
        return data_bytes > raft->config.max_entry_bytes ? RAFT_ERROR_TOO_BIG : RAFT_ERROR_INVALID;
    }
    uint64_t limit = raft->config.max_uncommitted_bytes;
    if (limit > 0 && raft->uncommitted_bytes > 0 && raft->uncommitted_bytes + data_bytes > limit) {
        return RAFT_ERROR_BUSY;
    }
    raft_replication_append_new(raft, RAFT_ENTRY_COMMAND, data, data_bytes);
    *index = raft_log_last_index(&raft->log);
    *term = raft->term;
    assert(raft_log_term_at(&raft->log, *index) == raft->term);
    assert(raft->uncommitted_bytes >= data_bytes);
    return 0;
}
