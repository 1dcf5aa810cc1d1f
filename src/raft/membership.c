/*
 * membership.c — configurations in the log and single-server membership changes (thesis
 * §4.1-4.4).
 *
 * A configuration travels as a RAFT_ENTRY_CONFIG entry holding the whole new member list, and
 * each node uses the latest one in its log from the moment it is appended — committed or not.
 * A truncated CONFIG entry takes its configuration with it: the node falls back to the one
 * before (raft_membership_reload). The log's first configuration, below every entry, is the
 * base: the snapshot's, or the boot configuration (snapshot_meta.configuration either way).
 *
 * Changes add or remove one voter at a time, so any majority of the old voters overlaps any
 * majority of the new ones. That holds only if changes never overlap: a leader proposes one
 * only after the previous one committed, and only after it committed an entry of its own term
 * — without that rule a new leader's change and an uncommitted change of an earlier leader can
 * produce two disjoint majorities (Ongaro, raft-dev, 2015). New members join as learners,
 * which receive the log but neither vote nor count, and are promoted once they have caught up,
 * so that a fresh voter cannot stall commits while it copies the log.
 *
 * Entry data: u8 format 1, u8 voter count, u8 learner count, u8 0, u64 highest_id, the voters
 * and the learners (u64 each), u32 context bytes, the host's context; little-endian.
 */
#include "raft/raft_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum {
    CONFIG_FORMAT = 1,
    CONFIG_HEADER_BYTES = 12,
};

static void put_le(uint8_t *out, uint64_t value, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        out[i] = (uint8_t)(value >> (8 * i));
    }
}

static uint64_t get_le(const uint8_t *in, int bytes)
{
    uint64_t value = 0;
    for (int i = 0; i < bytes; i++) {
        value |= (uint64_t)in[i] << (8 * i);
    }
    return value;
}

static bool contains(const raft_node_id *ids, uint32_t count, raft_node_id id)
{
    assert(count <= RAFT_MAX_NODES);
    for (uint32_t i = 0; i < count; i++) {
        if (ids[i] == id) {
            return true;
        }
    }
    return false;
}

bool raft_configuration_is_voter(const struct raft_configuration *configuration, raft_node_id id)
{
    return contains(configuration->voters, configuration->voter_count, id);
}

bool raft_configuration_is_learner(const struct raft_configuration *configuration, raft_node_id id)
{
    return contains(configuration->learners, configuration->learner_count, id);
}

uint32_t raft_configuration_member_count(const struct raft_configuration *configuration)
{
    assert(configuration->voter_count <= RAFT_MAX_NODES);
    assert(configuration->learner_count <= RAFT_MAX_NODES);
    return configuration->voter_count + configuration->learner_count;
}

raft_node_id raft_configuration_member_at(const struct raft_configuration *configuration,
                                          uint32_t i)
{
    assert(i < raft_configuration_member_count(configuration));
    return i < configuration->voter_count ? configuration->voters[i]
                                          : configuration->learners[i - configuration->voter_count];
}

bool raft_configuration_has(const struct raft_configuration *configuration, raft_node_id id)
{
    return raft_configuration_is_voter(configuration, id) ||
           raft_configuration_is_learner(configuration, id);
}

bool raft_membership_valid(const struct raft_configuration *configuration, bool allow_empty)
{
    if (configuration->voter_count > RAFT_MAX_NODES ||
        configuration->learner_count > RAFT_MAX_NODES) {
        return false;
    }
    if (configuration->voter_count == 0) {
        return allow_empty && configuration->learner_count == 0;
    }
    for (uint32_t i = 0; i < configuration->voter_count + configuration->learner_count; i++) {
        bool voter = i < configuration->voter_count;
        raft_node_id id = voter ? configuration->voters[i]
                                : configuration->learners[i - configuration->voter_count];
        if (id == RAFT_NODE_NONE || id > configuration->highest_id) {
            return false;
        }
        /* Distinct: no id earlier in either list. */
        uint32_t earlier_voters = voter ? i : configuration->voter_count;
        uint32_t earlier_learners = voter ? 0 : i - configuration->voter_count;
        if (contains(configuration->voters, earlier_voters, id) ||
            contains(configuration->learners, earlier_learners, id)) {
            return false;
        }
    }
    return true;
}

static uint32_t encoded_bytes(const struct raft_configuration *configuration,
                              uint32_t context_bytes)
{
    return CONFIG_HEADER_BYTES + 8 * (configuration->voter_count + configuration->learner_count) +
           4 + context_bytes;
}

static void encode(const struct raft_configuration *configuration, const uint8_t *context,
                   uint32_t context_bytes, uint8_t *out)
{
    assert(raft_membership_valid(configuration, false));
    uint8_t *cursor = out;
    cursor[0] = CONFIG_FORMAT;
    cursor[1] = (uint8_t)configuration->voter_count;
    cursor[2] = (uint8_t)configuration->learner_count;
    cursor[3] = 0;
    put_le(cursor + 4, configuration->highest_id, 8);
    cursor += CONFIG_HEADER_BYTES;
    for (uint32_t i = 0; i < configuration->voter_count; i++, cursor += 8) {
        put_le(cursor, configuration->voters[i], 8);
    }
    for (uint32_t i = 0; i < configuration->learner_count; i++, cursor += 8) {
        put_le(cursor, configuration->learners[i], 8);
    }
    put_le(cursor, context_bytes, 4);
    cursor += 4;
    if (context_bytes > 0) {
        memcpy(cursor, context, context_bytes);
    }
    assert(cursor + context_bytes == out + encoded_bytes(configuration, context_bytes));
}

int raft_configuration_decode(const uint8_t *data, uint32_t data_bytes,
                              struct raft_configuration *out, const uint8_t **context,
                              uint32_t *context_bytes)
{
    if (data == NULL || data_bytes < CONFIG_HEADER_BYTES + 4 || data[0] != CONFIG_FORMAT ||
        data[3] != 0 || data[1] > RAFT_MAX_NODES || data[2] > RAFT_MAX_NODES) {
        return RAFT_ERROR_INVALID;
    }
    struct raft_configuration configuration;
    memset(&configuration, 0, sizeof configuration);
    configuration.voter_count = data[1];
    configuration.learner_count = data[2];
    configuration.highest_id = get_le(data + 4, 8);
    uint64_t fixed = encoded_bytes(&configuration, 0);
    if (data_bytes < fixed) {
        return RAFT_ERROR_INVALID;
    }
    const uint8_t *cursor = data + CONFIG_HEADER_BYTES;
    for (uint32_t i = 0; i < configuration.voter_count; i++, cursor += 8) {
        configuration.voters[i] = get_le(cursor, 8);
    }
    for (uint32_t i = 0; i < configuration.learner_count; i++, cursor += 8) {
        configuration.learners[i] = get_le(cursor, 8);
    }
    uint32_t carried = (uint32_t)get_le(cursor, 4);
    if (carried != data_bytes - fixed || carried > RAFT_MAX_CONTEXT_BYTES ||
        !raft_membership_valid(&configuration, false)) {
        return RAFT_ERROR_INVALID;
    }
    *out = configuration;
    if (context != NULL) {
        *context = carried > 0 ? cursor + 4 : NULL;
    }
    if (context_bytes != NULL) {
        *context_bytes = carried;
    }
    return 0;
}

bool raft_membership_entry_valid(const struct raft_entry *entry)
{
    switch (entry->type) {
    case RAFT_ENTRY_COMMAND:
    case RAFT_ENTRY_NOOP:
        return true;
    case RAFT_ENTRY_CONFIG: {
        struct raft_configuration configuration;
        return raft_configuration_decode(entry->data, entry->data_bytes, &configuration, NULL,
                                         NULL) == 0;
    }
    default:
        return false;
    }
}

/* ---- the configuration in force ---- */

void raft_membership_set(struct raft *raft, const struct raft_configuration *next, uint64_t index)
{
    assert(raft_membership_valid(next, index == 0));
    assert(index == 0 || raft_log_entry_at(&raft->log, index) != NULL);
    assert(raft->role == RAFT_LEADER || raft->role == RAFT_FOLLOWER);
    raft->configuration = *next;
    raft->configuration_index = index;
    raft_trace(raft, "configuration of entry %" PRIu64 " in force: %u voters, %u learners", index,
               next->voter_count, next->learner_count);
    /* Members that stay keep their progress; new ones start fresh (a leader probes them from
     * its log's end); the others' is freed — except a leader's own, which it needs while it
     * leads a configuration that no longer holds it (it does not count itself then). */
    struct raft_progress kept[2 * RAFT_MAX_NODES];
    uint32_t count = 0;
    uint32_t members = next->voter_count + next->learner_count;
    for (uint32_t i = 0; i < members; i++) {
        bool voter = i < next->voter_count;
        raft_node_id id = voter ? next->voters[i] : next->learners[i - next->voter_count];
        struct raft_progress *existing = raft_progress_of(raft, id);
        if (existing != NULL) {
            kept[count] = *existing;
            existing->id = RAFT_NODE_NONE; /* moved */
        } else {
            int rc = raft_progress_init(&kept[count], id, voter, raft->config.max_inflight_appends);
            if (rc != 0) {
                abort(); /* memory exhaustion aborts, as everywhere in the core */
            }
            raft_progress_reset(&kept[count], raft_log_last_index(&raft->log) + 1);
            kept[count].silent_ticks = raft->config.election_timeout_ticks;
        }
        kept[count].voter = voter;
        count++;
    }
    for (uint32_t i = 0; i < raft->progress_count; i++) {
        struct raft_progress *old = &raft->progress[i];
        if (old->id == RAFT_NODE_NONE) {
            continue;
        }
        if (old->id == raft->id && raft->role == RAFT_LEADER) {
            kept[count] = *old;
            kept[count].voter = false;
            count++;
        } else {
            raft_progress_free(old);
        }
    }
    assert(count <= 2 * RAFT_MAX_NODES);
    memcpy(raft->progress, kept, count * sizeof kept[0]);
    raft->progress_count = count;
    /* Vote tallies are kept by position among the voters, which may have moved. */
    memset(raft->votes_granted, 0, sizeof raft->votes_granted);
    memset(raft->votes_answered, 0, sizeof raft->votes_answered);
    if (raft->transfer_target != RAFT_NODE_NONE &&
        !raft_configuration_is_voter(next, raft->transfer_target)) {
        raft->transfer_target = RAFT_NODE_NONE;
    }
}

/* The latest CONFIG entry at or below `index`, or 0. */
static uint64_t config_entry_at_or_below(const struct raft *raft, uint64_t index)
{
    for (uint64_t i = index; i > raft->log.snapshot_index; i--) {
        const struct raft_entry *entry = raft_log_entry_at(&raft->log, i);
        assert(entry != NULL);
        if (entry->type == RAFT_ENTRY_CONFIG) {
            return i;
        }
    }
    return 0;
}

static void decode_entry(const struct raft *raft, uint64_t index, struct raft_configuration *out)
{
    const struct raft_entry *entry = raft_log_entry_at(&raft->log, index);
    assert(entry != NULL && entry->type == RAFT_ENTRY_CONFIG);
    int rc = raft_configuration_decode(entry->data, entry->data_bytes, out, NULL, NULL);
    assert(rc == 0); /* every CONFIG entry was validated before it entered the log */
    (void)rc;
}

void raft_membership_reload(struct raft *raft)
{
    uint64_t index = config_entry_at_or_below(raft, raft_log_last_index(&raft->log));
    if (index == 0) {
        raft_membership_set(raft, &raft->snapshot_meta.configuration, 0);
        return;
    }
    struct raft_configuration configuration;
    decode_entry(raft, index, &configuration);
    raft_membership_set(raft, &configuration, index);
}

int raft_configuration_at(const struct raft *raft, uint64_t index, struct raft_configuration *out)
{
    if (index < raft->log.snapshot_index) {
        return RAFT_ERROR_COMPACTED;
    }
    if (index > raft_log_last_index(&raft->log)) {
        return RAFT_ERROR_UNAVAILABLE;
    }
    if (index >= raft->configuration_index) {
        *out = raft->configuration;
    } else {
        uint64_t at = config_entry_at_or_below(raft, index);
        if (at == 0) {
            *out = raft->snapshot_meta.configuration;
        } else {
            decode_entry(raft, at, out);
        }
    }
    /* A node that joined with an empty configuration receives the log from its start, but the
     * initial configuration is no entry of it: below the first CONFIG entry it cannot know the
     * configuration. A snapshot there would carry none, and the node could no longer boot
     * from it (found by the simulator, seed 603 of the membership schedule: a learner that
     * compacted before applying its own addition). */
    if (out->voter_count == 0) {
        return RAFT_ERROR_UNAVAILABLE;
    }
    return 0;
}

uint64_t raft_configuration_index(const struct raft *raft)
{
    return raft->configuration_index;
}

/* ---- changes ---- */

static bool is_live(const struct raft *raft, raft_node_id id)
{
    if (id == raft->id) {
        return true;
    }
    for (uint32_t i = 0; i < raft->progress_count; i++) {
        if (raft->progress[i].id == id) {
            return raft->progress[i].silent_ticks < raft->config.election_timeout_ticks;
        }
    }
    return false;
}

static void remove_id(raft_node_id *ids, uint32_t *count, raft_node_id id)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < *count; i++) {
        if (ids[i] != id) {
            ids[kept++] = ids[i];
        }
    }
    assert(kept + 1 == *count);
    *count = kept;
}

/* The configuration after `change`, or the reason it cannot be made. */
static int next_configuration(struct raft *raft, const struct raft_change *change,
                              struct raft_configuration *next)
{
    *next = raft->configuration;
    bool voter = raft_configuration_is_voter(next, change->id);
    bool learner = raft_configuration_is_learner(next, change->id);
    switch (change->type) {
    case RAFT_CHANGE_ADD_LEARNER:
        if (change->id == RAFT_NODE_NONE || change->id <= next->highest_id) {
            return RAFT_ERROR_ID_USED;
        }
        if (next->learner_count == RAFT_MAX_NODES) {
            return RAFT_ERROR_TOO_MANY;
        }
        next->learners[next->learner_count++] = change->id;
        next->highest_id = change->id;
        return 0;
    case RAFT_CHANGE_PROMOTE: {
        if (!learner) {
            return RAFT_ERROR_NOT_MEMBER;
        }
        if (next->voter_count == RAFT_MAX_NODES) {
            return RAFT_ERROR_TOO_MANY;
        }
        const struct raft_progress *progress = raft_progress_of(raft, change->id);
        assert(progress != NULL); /* the leader tracks every member */
        uint64_t last = raft_log_last_index(&raft->log);
        if (progress->state == PROGRESS_SNAPSHOT || !is_live(raft, change->id) ||
            progress->match + raft->config.max_promote_lag < last) {
            return RAFT_ERROR_NOT_CAUGHT_UP;
        }
        remove_id(next->learners, &next->learner_count, change->id);
        next->voters[next->voter_count++] = change->id;
        return 0;
    }
    case RAFT_CHANGE_DEMOTE:
        if (!voter) {
            return RAFT_ERROR_NOT_MEMBER;
        }
        if (next->learner_count == RAFT_MAX_NODES) {
            return RAFT_ERROR_TOO_MANY;
        }
        remove_id(next->voters, &next->voter_count, change->id);
        next->learners[next->learner_count++] = change->id;
        return 0;
    case RAFT_CHANGE_REMOVE:
        if (voter) {
            remove_id(next->voters, &next->voter_count, change->id);
        } else if (learner) {
            remove_id(next->learners, &next->learner_count, change->id);
        } else {
            return RAFT_ERROR_NOT_MEMBER;
        }
        return 0;
    default:
        return RAFT_ERROR_INVALID;
    }
}

/* Would the voters of `next` include a live majority? The leader is live; a follower is if it
 * answered within an election timeout. */
static bool keeps_live_majority(const struct raft *raft, const struct raft_configuration *next)
{
    uint32_t live = 0;
    for (uint32_t i = 0; i < next->voter_count; i++) {
        live += is_live(raft, next->voters[i]) ? 1 : 0;
    }
    return live >= next->voter_count / 2 + 1;
}

int raft_propose_change(struct raft *raft, const struct raft_change *change, const uint8_t *context,
                        uint32_t context_bytes, uint64_t *index, uint64_t *term)
{
    if (raft->role != RAFT_LEADER) {
        return RAFT_ERROR_NOT_LEADER;
    }
    if (raft->transfer_target != RAFT_NODE_NONE) {
        return RAFT_ERROR_TRANSFERRING;
    }
    if (context_bytes > RAFT_MAX_CONTEXT_BYTES || (context_bytes > 0 && context == NULL)) {
        return RAFT_ERROR_INVALID;
    }
    if (raft->configuration_index > raft->commit &&
        !raft_sabotaged(raft, RAFT_SABOTAGE_CONCURRENT_CHANGES)) {
        return RAFT_ERROR_CHANGE_PENDING;
    }
    if (raft_log_term_at(&raft->log, raft->commit) != raft->term &&
        !raft_sabotaged(raft, RAFT_SABOTAGE_CHANGE_BEFORE_TERM_COMMIT)) {
        return RAFT_ERROR_NOT_READY;
    }
    struct raft_configuration next;
    int rc = next_configuration(raft, change, &next);
    if (rc != 0) {
        return rc;
    }
    if (next.voter_count == 0) {
        return RAFT_ERROR_NO_QUORUM; /* even forced: a cluster without voters cannot recover */
    }
    bool voters_change = change->type != RAFT_CHANGE_ADD_LEARNER &&
                         !(change->type == RAFT_CHANGE_REMOVE &&
                           raft_configuration_is_learner(&raft->configuration, change->id));
    if (voters_change && !change->force && !keeps_live_majority(raft, &next)) {
        return RAFT_ERROR_NO_QUORUM;
    }
    uint32_t bytes = encoded_bytes(&next, context_bytes);
    if (bytes > raft->config.max_entry_bytes) {
        return RAFT_ERROR_TOO_BIG;
    }
    uint8_t *data = malloc(bytes);
    if (data == NULL) {
        return RAFT_ERROR_NO_MEMORY;
    }
    encode(&next, context, context_bytes, data);
    raft_replication_append_new(raft, RAFT_ENTRY_CONFIG, data, bytes);
    free(data);
    *index = raft_log_last_index(&raft->log);
    *term = raft->term;
    raft_membership_set(raft, &next, *index);
    assert(raft->configuration_index == *index);
    assert(raft_log_term_at(&raft->log, *index) == raft->term);
    return 0;
}

void raft_membership_on_commit(struct raft *raft)
{
    if (raft->role != RAFT_LEADER || raft->commit < raft->configuration_index ||
        raft_configuration_is_voter(&raft->configuration, raft->id)) {
        return;
    }
    /* Thesis §4.2.2: the configuration without this leader is committed, so the others can
     * elect a leader among themselves. Hand over to the most up-to-date voter, as a leadership
     * transfer does (§3.10): no new proposals, catch it up, TIMEOUT_NOW, step down — so that
     * the cluster does not wait out an election timeout. A hand-over that does not finish
     * within an election timeout gives up and steps down all the same (election.c). */
    struct raft_progress *best = NULL;
    for (uint32_t i = 0; i < raft->progress_count; i++) {
        struct raft_progress *progress = &raft->progress[i];
        if (progress->voter && progress->id != raft->id &&
            (best == NULL || progress->match > best->match)) {
            best = progress;
        }
    }
    assert(best != NULL); /* raft_propose_change never leaves a configuration without voters */
    if (!raft->handing_over) {
        raft->handing_over = true;
        raft->transfer_target = best->id;
        raft->election_elapsed = 0;
    }
    struct raft_progress *target = raft_progress_of(raft, raft->transfer_target);
    if (target == NULL || !target->voter) {
        target = best; /* the target left the configuration meanwhile */
        raft->transfer_target = best->id;
    }
    if (target->match < raft_log_last_index(&raft->log)) {
        raft_replication_send_append(raft, target, false);
        return;
    }
    struct raft_message message = raft_message_to(raft, RAFT_MSG_TIMEOUT_NOW, target->id);
    raft_send(raft, &message);
    raft_trace(raft, "no voter any more: hands leadership to node %" PRIu64, target->id);
    raft_become_follower(raft, raft->term, RAFT_NODE_NONE);
    assert(raft->role == RAFT_FOLLOWER);
}

uint32_t raft_configuration_encode(const struct raft_configuration *configuration,
                                   const uint8_t *context, uint32_t context_bytes, uint8_t *out,
                                   uint32_t out_bytes)
{
    if (!raft_membership_valid(configuration, false) || context_bytes > RAFT_MAX_CONTEXT_BYTES ||
        (context_bytes > 0 && context == NULL)) {
        return 0;
    }
    uint32_t bytes = encoded_bytes(configuration, context_bytes);
    if (out != NULL && out_bytes >= bytes) {
        encode(configuration, context, context_bytes, out);
    }
    return bytes;
}
