/*
 * snapshot.c — snapshots: sending one to a follower behind the compacted log, installing one
 * from the leader, and compacting the log behind one (§7, thesis chapter 5).
 *
 * The core deals only in a snapshot's metadata (last index, term, configuration). The host
 * owns the data: it takes snapshots of its state machine, calls raft_compact() so the core
 * drops the covered entries, streams the data beside a RAFT_MSG_SNAPSHOT in chunks, and on
 * the receiving side installs the data when a ready carries `snapshot`.
 *
 * A follower accepts a snapshot only if it is newer than its commit index; if its log already
 * holds the snapshot's last entry, it keeps its log and only moves its commit index forward.
 */
#include "raft/raft_internal.h"

#include <inttypes.h>
#include <string.h>

void raft_snapshot_send(struct raft *raft, struct raft_progress *progress)
{
    assert(raft->role == RAFT_LEADER);
    /* The snapshot the host holds is the one the log was compacted to. */
    assert(raft->snapshot_meta.index == raft->log.snapshot_index);
    if (raft->log.snapshot_index == 0) {
        return; /* nothing compacted: the follower can always be probed */
    }
    struct raft_message message = raft_message_to(raft, RAFT_MSG_SNAPSHOT, progress->id);
    message.snapshot = raft->snapshot_meta;
    message.commit = raft->commit;
    raft_progress_become_snapshot(progress, raft->snapshot_meta.index);
    raft_send(raft, &message);
}

void raft_snapshot_handle(struct raft *raft, const struct raft_message *message)
{
    assert(raft->role == RAFT_FOLLOWER);
    raft->election_elapsed = 0;
    raft->leader = message->from;
    const struct raft_snapshot_meta *meta = &message->snapshot;
    struct raft_message reply = raft_message_to(raft, RAFT_MSG_APPEND_RESPONSE, message->from);
    if (meta->index <= raft->commit) {
        reply.index = raft->commit;
        raft_send(raft, &reply);
        return;
    }
    if (raft_log_term_at(&raft->log, meta->index) == meta->term) {
        raft->commit = meta->index;
        reply.index = meta->index;
        raft_send(raft, &reply);
        return;
    }
    raft_trace(raft, "installs the snapshot of node %" PRIu64 " at index %" PRIu64, message->from,
               meta->index);
    raft_log_reset(&raft->log, meta->index, meta->term);
    raft->snapshot_meta = *meta;
    /* The log is gone: the snapshot's configuration is in force. */
    raft_membership_set(raft, &meta->configuration, 0);
    raft->commit = meta->index;
    raft->applying = meta->index;
    raft->snapshot_to_install = true;
    assert(raft->log.snapshot_index == meta->index);
    assert(raft->applied <= raft->applying);
    reply.index = meta->index;
    raft_send(raft, &reply);
}

void raft_report_snapshot(struct raft *raft, raft_node_id to, bool success)
{
    struct raft_progress *progress = raft_progress_of(raft, to);
    if (raft->role != RAFT_LEADER || progress == NULL || progress->state != PROGRESS_SNAPSHOT) {
        return;
    }
    if (!success) {
        progress->pending_snapshot = 0;
    }
    raft_progress_become_probe(progress);
    /* Wait for the follower's answer (or the next heartbeat) before probing again. */
    progress->probe_sent = true;
}

void raft_report_unreachable(struct raft *raft, raft_node_id to)
{
    struct raft_progress *progress = raft_progress_of(raft, to);
    if (raft->role != RAFT_LEADER || progress == NULL) {
        return;
    }
    if (progress->state == PROGRESS_REPLICATE) {
        raft_progress_become_probe(progress);
    }
}

int raft_compact(struct raft *raft, uint64_t index)
{
    if (index <= raft->log.snapshot_index) {
        return RAFT_ERROR_COMPACTED;
    }
    if (index > raft->applied || index > raft->log.stable) {
        return RAFT_ERROR_UNAVAILABLE;
    }
    uint64_t term = raft_log_term_at(&raft->log, index);
    struct raft_configuration configuration;
    int rc = raft_configuration_at(raft, index, &configuration);
    if (rc != 0) {
        assert(rc == RAFT_ERROR_UNAVAILABLE); /* index is within the log: checked above */
        return rc; /* no configuration known there (a node that joined empty) */
    }
    raft_log_compact_to(&raft->log, index, term);
    raft->snapshot_meta.index = index;
    raft->snapshot_meta.term = term;
    raft->snapshot_meta.configuration = configuration;
    if (raft->configuration_index <= index) {
        raft->configuration_index = 0; /* its entry is compacted; the base holds it now */
    }
    assert(raft->log.snapshot_index == index);
    assert(raft->log.snapshot_index <= raft->applied);
    return 0;
}
