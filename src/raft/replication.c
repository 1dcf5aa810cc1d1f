/*
 * replication.c — log replication (§5.3) and the commit rule (§5.4.2).
 *
 * The leader appends proposals to its log and sends them to each follower according to the
 * follower's progress: one probe at a time until the logs match, then pipelined APPENDs up to
 * max_inflight_appends. A follower accepts an APPEND only if its log holds the entry before
 * the new ones with the same term (the consistency check); on a mismatch it answers with a
 * hint — the first index of its conflicting term, or its log's end — so the leader skips a
 * whole term per round trip instead of one entry (§5.3, "fast backtracking").
 *
 * The leader commits an index once a quorum of voters stores it — itself counted only after
 * its own fsync — and only if the entry there is of its current term; earlier entries are
 * committed indirectly (§5.4.2, Figure 8).
 */
#include "raft/raft_internal.h"

#include <stdlib.h>
#include <string.h>

static void replication_broadcast_append(struct raft *raft);

void raft_replication_append_new(struct raft *raft, uint8_t type, const uint8_t *data,
                                 uint32_t data_bytes)
{
    assert(raft->role == RAFT_LEADER);
    struct raft_entry entry = {
        .term = raft->term,
        .index = raft_log_last_index(&raft->log) + 1,
        .type = type,
        .data_bytes = data_bytes,
        .data = (uint8_t *)data,
    };
    raft_log_append_copy(&raft->log, &entry);
    assert(raft_log_last_index(&raft->log) == entry.index);
    raft->uncommitted_bytes += data_bytes;
    replication_broadcast_append(raft);
}

/* How many entries from `next` fit in one APPEND (at least one). */
static uint32_t entries_to_send(const struct raft *raft, uint64_t next)
{
    uint64_t last = raft_log_last_index(&raft->log);
    uint32_t count = 0;
    uint64_t bytes = 0;
    for (uint64_t index = next; index <= last; index++) {
        const struct raft_entry *entry = raft_log_entry_at(&raft->log, index);
        assert(entry != NULL); /* next is past the snapshot, or a snapshot was sent */
        bytes += entry->data_bytes;
        if (count > 0 && bytes > raft->config.max_append_bytes) {
            break;
        }
        count++;
        if (count == raft->config.max_append_entries) {
            break;
        }
    }
    assert(count <= raft->config.max_append_entries);
    return count;
}

void raft_replication_send_append(struct raft *raft, struct raft_progress *progress,
                                  bool send_if_empty)
{
    assert(raft->role == RAFT_LEADER);
    assert(progress->id != raft->id);
    assert(progress->next >= 1);
    if (raft_progress_is_paused(progress)) {
        return;
    }
    uint64_t previous = progress->next - 1;
    uint64_t previous_term = raft_log_term_at(&raft->log, previous);
    if (previous < raft->log.snapshot_index || (previous_term == 0 && previous > 0)) {
        raft_snapshot_send(raft, progress);
        return;
    }
    uint32_t count = entries_to_send(raft, progress->next);
    if (count == 0 && !send_if_empty) {
        return;
    }
    struct raft_message message = raft_message_to(raft, RAFT_MSG_APPEND, progress->id);
    message.index = previous;
    message.log_term = previous_term;
    message.commit = raft->commit;
    message.entry_count = count;
    /* The entries are attached when the ready is built (ready.c, attach_entries): the log's
     * array may move before then. Until that moment hint_term remembers the last entry's
     * term, so that an APPEND whose entries were truncated meanwhile is dropped. */
    message.entries = NULL;
    message.hint_term = count > 0 ? raft_log_term_at(&raft->log, previous + count) : 0;
    raft_send(raft, &message);
    progress->commit_sent = raft->commit;
    if (count == 0) {
        if (progress->state == PROGRESS_PROBE) {
            progress->probe_sent = true;
        }
        return;
    }
    uint64_t last_sent = previous + count;
    switch (progress->state) {
    case PROGRESS_REPLICATE:
        progress->next = last_sent + 1;
        raft_progress_inflight_add(progress, last_sent);
        break;
    case PROGRESS_PROBE:
        progress->probe_sent = true;
        break;
    case PROGRESS_SNAPSHOT:
        assert(false);
        break;
    }
}

/* New entries or a new commit index are sent once per ready, not once per proposal or per
 * acknowledgement: a burst of fifty proposals in one event-loop turn becomes one APPEND per
 * follower (raft_replication_flush_broadcast, called when the ready is built). */
static void replication_broadcast_append(struct raft *raft)
{
    raft->append_broadcast_needed = true;
}

/* Sends each follower what it lacks, up to its in-flight window; a follower already in step
 * whose last APPEND carried an older commit index gets an empty one that carries it. */
void raft_replication_flush_broadcast(struct raft *raft)
{
    if (!raft->append_broadcast_needed || raft->role != RAFT_LEADER) {
        return;
    }
    raft->append_broadcast_needed = false;
    uint64_t last = raft_log_last_index(&raft->log);
    for (uint32_t i = 0; i < raft->progress_count; i++) {
        struct raft_progress *progress = &raft->progress[i];
        if (progress->id == raft->id) {
            continue;
        }
        bool sent = false;
        while (progress->next <= last && !raft_progress_is_paused(progress)) {
            uint64_t before = progress->next;
            raft_replication_send_append(raft, progress, false);
            sent = true;
            if (progress->next == before) {
                break; /* probing: one at a time */
            }
        }
        if (!sent && progress->commit_sent < raft->commit) {
            raft_replication_send_append(raft, progress, true);
        }
    }
}

void raft_replication_broadcast_heartbeat(struct raft *raft)
{
    assert(raft->role == RAFT_LEADER);
    for (uint32_t i = 0; i < raft->progress_count; i++) {
        struct raft_progress *progress = &raft->progress[i];
        if (progress->id == raft->id) {
            continue;
        }
        struct raft_message message = raft_message_to(raft, RAFT_MSG_HEARTBEAT, progress->id);
        /* Never tell a follower to commit beyond what it is known to store. */
        message.commit = progress->match < raft->commit ? progress->match : raft->commit;
        message.context = raft->read_round;
        raft_send(raft, &message);
    }
}

static int compare_indexes(const void *a, const void *b)
{
    uint64_t left = *(const uint64_t *)a;
    uint64_t right = *(const uint64_t *)b;
    return left < right ? 1 : (left > right ? -1 : 0);
}

static void commit_to(struct raft *raft, uint64_t index)
{
    assert(raft->role == RAFT_LEADER);
    assert(index > raft->commit);
    for (uint64_t i = raft->commit + 1; i <= index; i++) {
        const struct raft_entry *entry = raft_log_entry_at(&raft->log, i);
        assert(entry != NULL); /* a quorum stores it, the leader too: it is in our log */
        uint32_t bytes = entry->data_bytes;
        raft->uncommitted_bytes -=
            bytes < raft->uncommitted_bytes ? bytes : raft->uncommitted_bytes;
    }
    raft->commit = index;
}

static bool replication_maybe_commit(struct raft *raft)
{
    uint64_t matches[RAFT_MAX_NODES];
    uint32_t count = 0;
    for (uint32_t i = 0; i < raft->progress_count; i++) {
        if (raft->progress[i].voter) {
            matches[count++] = raft->progress[i].match;
        }
    }
    /* The quorum-th largest must exist (a changed configuration would need rebuilt progress). */
    assert(raft_quorum(raft) <= count);
    qsort(matches, count, sizeof matches[0], compare_indexes);
    uint64_t candidate = matches[raft_quorum(raft) - 1];
    if (candidate <= raft->commit) {
        return false;
    }
    bool current_term = raft_log_term_at(&raft->log, candidate) == raft->term;
    if (!current_term && !raft_sabotaged(raft, RAFT_SABOTAGE_COMMIT_OLD_TERM)) {
        return false; /* §5.4.2: never commit an earlier term's entry by counting */
    }
    bool first_in_term = raft_log_term_at(&raft->log, raft->commit) != raft->term;
    commit_to(raft, candidate);
    if (first_in_term && current_term) {
        raft_read_on_commit_in_term(raft);
    }
    return true;
}

void raft_replication_self_persisted(struct raft *raft)
{
    assert(raft->role == RAFT_LEADER);
    struct raft_progress *self = raft_progress_of(raft, raft->id);
    assert(self != NULL);
    if (raft->log.stable > self->match) {
        self->match = raft->log.stable;
        self->next = self->match + 1;
        if (replication_maybe_commit(raft)) {
            replication_broadcast_append(raft);
        }
    }
}

/* Follower side. */

static void reply_append(struct raft *raft, raft_node_id to, uint64_t index)
{
    struct raft_message reply = raft_message_to(raft, RAFT_MSG_APPEND_RESPONSE, to);
    reply.index = index;
    raft_send(raft, &reply);
}

static void reject_append(struct raft *raft, const struct raft_message *message)
{
    assert(message->index >= raft->commit); /* below it, handle_append answered already */
    struct raft_message reply = raft_message_to(raft, RAFT_MSG_APPEND_RESPONSE, message->from);
    reply.reject = true;
    reply.index = message->index;
    uint64_t last = raft_log_last_index(&raft->log);
    if (message->index > last) {
        reply.hint_index = last + 1;
        reply.hint_term = 0;
    } else {
        uint64_t conflict_term = raft_log_term_at(&raft->log, message->index);
        reply.hint_term = conflict_term;
        reply.hint_index = raft_log_first_index_of_term_run(&raft->log, message->index);
    }
    raft_send(raft, &reply);
}

/* Appends the entries that are new, truncating a conflicting suffix first (§5.3). The latest
 * configuration in the log is in force, so a CONFIG entry appended or truncated changes it. */
static void append_entries(struct raft *raft, const struct raft_message *message)
{
    uint64_t appended_config = 0;
    bool lost_config = false;
    for (uint32_t i = 0; i < message->entry_count; i++) {
        const struct raft_entry *entry = &message->entries[i];
        if (entry->index <= raft->log.snapshot_index) {
            continue;
        }
        uint64_t existing_term = raft_log_term_at(&raft->log, entry->index);
        if (existing_term == entry->term) {
            continue;
        }
        if (existing_term != 0) {
            /* Committed entries never conflict (Leader Completeness, §5.4). */
            assert(entry->index > raft->commit);
            lost_config = lost_config || entry->index <= raft->configuration_index;
            raft_log_truncate_from(&raft->log, entry->index);
        }
        raft_log_append_copy(&raft->log, entry);
        if (entry->type == RAFT_ENTRY_CONFIG) {
            appended_config = entry->index;
        }
    }
    /* Whatever was appended ends the log, so the last CONFIG appended is the latest. */
    if (appended_config != 0) {
        struct raft_configuration configuration;
        const struct raft_entry *entry = raft_log_entry_at(&raft->log, appended_config);
        int rc =
            raft_configuration_decode(entry->data, entry->data_bytes, &configuration, NULL, NULL);
        assert(rc == 0); /* validate_message decoded it */
        (void)rc;
        raft_membership_set(raft, &configuration, appended_config);
    } else if (lost_config) {
        raft_membership_reload(raft);
    }
}

void raft_replication_handle_append(struct raft *raft, const struct raft_message *message)
{
    assert(raft->role == RAFT_FOLLOWER);
    assert(message->term == raft->term); /* raft_step took a higher term, dropped a lower */
    raft->election_elapsed = 0;
    raft->leader = message->from;
    if (message->index < raft->commit) {
        /* Everything up to our commit index is already settled; say where we stand. */
        reply_append(raft, message->from, raft->commit);
        return;
    }
    if (raft_log_term_at(&raft->log, message->index) != message->log_term) {
        reject_append(raft, message);
        return;
    }
    append_entries(raft, message);
    uint64_t last_new = message->index + message->entry_count;
    uint64_t commit = message->commit < last_new ? message->commit : last_new;
    if (commit > raft->commit) {
        raft->commit = commit;
    }
    reply_append(raft, message->from, last_new);
}

void raft_replication_handle_heartbeat(struct raft *raft, const struct raft_message *message)
{
    assert(raft->role == RAFT_FOLLOWER);
    assert(message->term == raft->term);
    raft->election_elapsed = 0;
    raft->leader = message->from;
    uint64_t commit = message->commit;
    if (commit > raft_log_last_index(&raft->log)) {
        commit = raft_log_last_index(&raft->log);
    }
    if (commit > raft->commit) {
        raft->commit = commit;
    }
    struct raft_message reply = raft_message_to(raft, RAFT_MSG_HEARTBEAT_RESPONSE, message->from);
    reply.context = message->context;
    raft_send(raft, &reply);
}

/* Leader side. */

/* Where to retry after a rejection, from the follower's hint (thesis §5.3's optimization):
 * past our last entry of the follower's conflicting term if we have that term, else to the
 * first index of that term on the follower. */
static uint64_t next_after_reject(const struct raft *raft, const struct raft_message *message)
{
    if (message->hint_term == 0) {
        return message->hint_index;
    }
    uint64_t ours = raft_log_last_index_of_term(&raft->log, message->hint_term);
    if (ours >= message->hint_index) {
        return ours + 1;
    }
    return message->hint_index;
}

static void handle_reject(struct raft *raft, struct raft_progress *progress,
                          const struct raft_message *message)
{
    /* Stale: a position we know matches. A rejection exactly at `match` is not stale: an
     * APPEND that followed `match` was refused before the follower caught up (reordering),
     * so what it carried must be sent again. */
    if (message->index < progress->match) {
        return;
    }
    if (progress->state == PROGRESS_PROBE && message->index != progress->next - 1) {
        return; /* stale: an answer to an earlier probe */
    }
    if (progress->state == PROGRESS_SNAPSHOT) {
        return;
    }
    uint64_t next = next_after_reject(raft, message);
    if (next > message->index) {
        next = message->index; /* the rejected previous index does not match */
    }
    if (next < progress->match + 1) {
        next = progress->match + 1;
    }
    if (next < 1) {
        next = 1;
    }
    raft_progress_become_probe(progress);
    progress->next = next;
    assert(progress->next > progress->match);
    raft_replication_send_append(raft, progress, true);
}

void raft_replication_handle_append_response(struct raft *raft, const struct raft_message *message)
{
    assert(raft->role == RAFT_LEADER);
    struct raft_progress *progress = raft_progress_of(raft, message->from);
    if (progress == NULL) {
        return;
    }
    progress->recent_active = true;
    progress->silent_ticks = 0;
    if (message->reject) {
        handle_reject(raft, progress, message);
        return;
    }
    if (message->index > raft_log_last_index(&raft->log)) {
        return; /* cannot match beyond our log; a confused or stale answer */
    }
    bool advanced = message->index > progress->match;
    if (advanced) {
        progress->match = message->index;
    }
    if (progress->next < message->index + 1) {
        progress->next = message->index + 1;
    }
    assert(progress->match <= raft_log_last_index(&raft->log));
    switch (progress->state) {
    case PROGRESS_PROBE:
        raft_progress_become_replicate(progress);
        break;
    case PROGRESS_SNAPSHOT:
        if (progress->match >= progress->pending_snapshot) {
            raft_progress_become_probe(progress);
            raft_progress_become_replicate(progress);
        }
        break;
    case PROGRESS_REPLICATE:
        raft_progress_inflight_free_to(progress, message->index);
        break;
    }
    if (advanced) {
        replication_maybe_commit(raft);
    }
    /* Keep the pipeline full (and carry a new commit index): sent with the next ready. */
    replication_broadcast_append(raft);
    raft_election_maybe_finish_transfer(raft, progress);
}

void raft_replication_handle_heartbeat_response(struct raft *raft,
                                                const struct raft_message *message)
{
    assert(raft->role == RAFT_LEADER);
    struct raft_progress *progress = raft_progress_of(raft, message->from);
    if (progress == NULL) {
        return;
    }
    progress->recent_active = true;
    progress->silent_ticks = 0;
    progress->probe_sent = false;
    /* A lost APPEND would stall replication: nothing is re-sent while no new entry is
     * proposed. A heartbeat answer proves the link works; if entries sent before the previous
     * answer are still unacknowledged a whole heartbeat interval later, they were lost, so
     * replication starts again from `match`. A full window also gets one slot back. */
    if (progress->state == PROGRESS_REPLICATE) {
        if (progress->match == progress->heartbeat_match &&
            progress->heartbeat_sent > progress->match) {
            raft_progress_become_probe(progress);
        } else if (raft_progress_inflight_full(progress)) {
            raft_progress_inflight_free_first(progress);
        }
    }
    progress->heartbeat_match = progress->match;
    progress->heartbeat_sent = progress->next - 1;
    if (progress->match < raft_log_last_index(&raft->log)) {
        /* A probe goes out even when `next` is past our log (an empty one that asks where
         * the follower stands): a new member starts there, and its first probe may have been
         * lost before its connection existed. */
        raft_replication_send_append(raft, progress, progress->state == PROGRESS_PROBE);
    }
    if (message->context > progress->read_round_acked) {
        progress->read_round_acked = message->context;
        raft_read_on_ack(raft);
    }
}
