/*
 * ready.c — the hand-over between the core and its host: raft_ready() and raft_advance().
 *
 * The core collects its outputs (messages, hard-state changes, new entries, committed
 * entries, confirmed reads) as it steps. raft_ready() moves them into a batch that the host
 * works through in the order raft.h states (persist, then send what depended on it, then
 * apply), and raft_advance() records that it did: the entries are now durable (so a leader
 * may count itself toward a commit, thesis §10.2.1), the committed ones are applied.
 *
 * One ready is outstanding at a time. The core keeps stepping meanwhile; what it produces
 * waits for the next ready, which is how proposals made during an fsync share the next one.
 * A conflicting suffix truncated while a ready is outstanding is handed out again.
 */
#include "raft/raft_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct raft_hard_state current_hard_state(const struct raft *raft)
{
    struct raft_hard_state state = {
        .term = raft->term,
        .vote = raft->vote,
        .commit = raft->commit,
    };
    if (raft_sabotaged(raft, RAFT_SABOTAGE_VOLATILE_VOTE)) {
        state.vote = RAFT_NODE_NONE; /* sabotage: the vote never reaches the disk */
    }
    return state;
}

static bool hard_state_differs(const struct raft_hard_state *a, const struct raft_hard_state *b)
{
    return a->term != b->term || a->vote != b->vote || a->commit != b->commit;
}

/* The last of the entries after `applying`, up to `limit`, that fit in
 * max_committed_bytes_per_ready together (the first always does). */
static uint64_t bytes_limit(const struct raft *raft, uint64_t limit)
{
    uint64_t budget = raft->config.max_committed_bytes_per_ready;
    if (budget == 0 || limit <= raft->applying) {
        return limit;
    }
    uint64_t bytes = 0;
    for (uint64_t index = raft->applying + 1; index <= limit; index++) {
        const struct raft_entry *entry = raft_log_entry_at(&raft->log, index);
        assert(entry != NULL);
        bytes += entry->data_bytes;
        if (bytes > budget && index > raft->applying + 1) {
            return index - 1;
        }
    }
    return limit;
}

/* Committed entries that will be durable locally once this ready is persisted. */
static uint64_t committed_limit(const struct raft *raft)
{
    uint64_t limit = raft->commit;
    if (limit > raft_log_last_index(&raft->log)) {
        limit = raft_log_last_index(&raft->log);
    }
    uint64_t most = raft->applying + raft->config.max_committed_per_ready;
    return bytes_limit(raft, limit < most ? limit : most);
}

static bool append_broadcast_due(const struct raft *raft)
{
    return raft->append_broadcast_needed && raft->role == RAFT_LEADER;
}

/* Reads wait for the leader's first commit of its term (read.c); until then they are no
 * work for the host, or a host looping on raft_ready() would spin. */
static bool read_broadcast_due(const struct raft *raft)
{
    return raft->read_broadcast_needed && raft->role == RAFT_LEADER &&
           raft_log_term_at(&raft->log, raft->commit) == raft->term;
}

bool raft_has_ready(const struct raft *raft)
{
    if (raft->ready_outstanding) {
        return false;
    }
    struct raft_hard_state state = current_hard_state(raft);
    return raft->out_immediate.count > 0 || raft->out_after_persist.count > 0 ||
           raft->out_reads.count > 0 || raft->out_failed_reads.count > 0 ||
           raft->snapshot_to_install || read_broadcast_due(raft) || append_broadcast_due(raft) ||
           raft_read_forward_due(raft) || hard_state_differs(&state, &raft->persisted_hard_state) ||
           raft->log.handed < raft_log_last_index(&raft->log) ||
           committed_limit(raft) > raft->applying ||
           raft->reported_soft_state.leader != raft->leader ||
           raft->reported_soft_state.role != raft->role;
}

static struct raft_entry *reserve_entries(struct raft_entry **items, size_t *capacity, size_t count)
{
    if (count > *capacity) {
        size_t next = *capacity > 0 ? *capacity : 64;
        while (next < count) {
            next *= 2;
        }
        struct raft_entry *grown = realloc(*items, next * sizeof *grown);
        if (grown == NULL) {
            fprintf(stderr, "raft: out of memory building a ready batch\n");
            abort();
        }
        *items = grown;
        *capacity = next;
    }
    assert(*capacity >= count);
    return *items;
}

/* Shallow copies: data stays owned by the log, which retires instead of frees what a
 * truncation or an installed snapshot drops while a batch is out (log.c), so the data
 * outlives the batch. */
static size_t copy_entries(const struct raft *raft, struct raft_entry **items, size_t *capacity,
                           uint64_t from, uint64_t to)
{
    if (to < from) {
        return 0;
    }
    size_t count = (size_t)(to - from + 1);
    struct raft_entry *entries = reserve_entries(items, capacity, count);
    for (size_t i = 0; i < count; i++) {
        const struct raft_entry *entry = raft_log_entry_at(&raft->log, from + i);
        assert(entry != NULL);
        entries[i] = *entry;
    }
    return count;
}

static void swap_messages(struct message_list *a, struct message_list *b)
{
    /* The batch's list was emptied when the previous batch was advanced: nothing is lost. */
    assert(a->count == 0);
    struct message_list swap = *a;
    *a = *b;
    *b = swap;
    b->count = 0;
}

/* Points each APPEND at its entries in the log, now that the log will not move until the
 * host has sent them; drops an APPEND whose entries were truncated or compacted since it was
 * made (as if the network lost it). */
static void attach_entries(struct raft *raft, struct message_list *list)
{
    size_t kept = 0;
    for (size_t i = 0; i < list->count; i++) {
        struct raft_message *message = &list->items[i];
        if (message->type == RAFT_MSG_APPEND && message->entry_count > 0) {
            uint64_t last = message->index + message->entry_count;
            struct raft_entry *first = raft_log_entry_at(&raft->log, message->index + 1);
            if (first == NULL || raft_log_term_at(&raft->log, last) != message->hint_term) {
                continue;
            }
            assert(message->entries == NULL); /* attached once, here */
            message->entries = first;
            message->hint_term = 0;
        }
        list->items[kept++] = *message;
    }
    assert(kept <= list->count);
    list->count = kept;
}

/* Moves the confirmed and the failed reads into a batch's lists (emptied at its advance). */
static void hand_out_reads(struct raft *raft, struct read_list *reads, struct id_list *failed)
{
    /* Emptied when the previous batch was advanced. */
    assert(reads->count == 0);
    assert(failed->count == 0);
    struct read_list spare_reads = *reads;
    *reads = raft->out_reads;
    raft->out_reads = spare_reads;
    raft->out_reads.count = 0;
    struct id_list spare_failed = *failed;
    *failed = raft->out_failed_reads;
    raft->out_failed_reads = spare_failed;
    raft->out_failed_reads.count = 0;
}

static void fill_entries(struct raft *raft, struct raft_ready *ready)
{
    uint64_t last = raft_log_last_index(&raft->log);
    assert(raft->log.handed <= last);
    ready->entry_count = copy_entries(raft, &raft->ready_entries, &raft->ready_entries_capacity,
                                      raft->log.handed + 1, last);
    ready->entries = ready->entry_count > 0 ? raft->ready_entries : NULL;
    raft->ready_last_index = last;
    raft->ready_last_term = raft_log_last_term(&raft->log);
    raft->log.handed = last;

    uint64_t limit = committed_limit(raft);
    ready->committed_count = copy_entries(
        raft, &raft->ready_committed, &raft->ready_committed_capacity, raft->applying + 1, limit);
    ready->committed = ready->committed_count > 0 ? raft->ready_committed : NULL;
    if (limit > raft->applying) {
        raft->applying = limit;
    }
    /* Durable now: below the first entry this ready persists (all, when it persists none). */
    size_t durable = ready->committed_count;
    if (ready->entry_count > 0) {
        durable = 0;
        while (durable < ready->committed_count &&
               ready->committed[durable].index < ready->entries[0].index) {
            durable++;
        }
    }
    ready->committed_durable_count = durable;
    assert(durable <= ready->committed_count);
    assert(raft->applied <= raft->applying);
    assert(raft->applying <= raft->commit);
}

bool raft_ready(struct raft *raft, struct raft_ready *ready)
{
    assert(!raft->ready_outstanding);
    assert(!raft->early_outstanding);
    raft_replication_flush_broadcast(raft);
    raft_read_flush_broadcast(raft);
    raft_read_flush_forward(raft);
    if (!raft_has_ready(raft)) {
        return false;
    }
    memset(ready, 0, sizeof *ready);
    raft->ready_outstanding = true;
    raft->log.retain_data = true;

    swap_messages(&raft->ready_immediate, &raft->out_immediate);
    attach_entries(raft, &raft->ready_immediate);
    ready->messages_immediate = raft->ready_immediate.items;
    ready->messages_immediate_count = raft->ready_immediate.count;

    if (raft->snapshot_to_install) {
        raft->ready_snapshot = raft->snapshot_meta;
        ready->snapshot = &raft->ready_snapshot;
        raft->snapshot_to_install = false;
    }

    struct raft_hard_state state = current_hard_state(raft);
    if (hard_state_differs(&state, &raft->persisted_hard_state)) {
        ready->has_hard_state = true;
        ready->hard_state = state;
    }

    fill_entries(raft, ready);
    /* The sync rule (raft.h): entries, or a changed term or vote. */
    ready->sync_hard_state =
        ready->has_hard_state && (state.term != raft->persisted_hard_state.term ||
                                  state.vote != raft->persisted_hard_state.vote);
    ready->must_sync = ready->entry_count > 0 || ready->sync_hard_state;
    assert(!ready->has_hard_state || state.term >= raft->persisted_hard_state.term);

    swap_messages(&raft->ready_after_persist, &raft->out_after_persist);
    ready->messages = raft->ready_after_persist.items;
    ready->message_count = raft->ready_after_persist.count;

    hand_out_reads(raft, &raft->ready_reads, &raft->ready_failed_reads);
    ready->reads = raft->ready_reads.items;
    ready->read_count = raft->ready_reads.count;
    ready->failed_reads = raft->ready_failed_reads.items;
    ready->failed_read_count = raft->ready_failed_reads.count;

    if (raft->reported_soft_state.leader != raft->leader ||
        raft->reported_soft_state.role != raft->role) {
        ready->soft_state_changed = true;
        raft->reported_soft_state.leader = raft->leader;
        raft->reported_soft_state.role = raft->role;
    }
    ready->soft_state.leader = raft->leader;
    ready->soft_state.role = raft->role;
    assert(raft->out_immediate.count == 0);
    assert(raft->out_after_persist.count == 0);
    return true;
}

void raft_advance(struct raft *raft, const struct raft_ready *ready)
{
    assert(raft->ready_outstanding);
    assert(!raft->early_outstanding);
    raft->ready_outstanding = false;
    raft->log.retain_data = false;
    raft_log_release_retired(&raft->log);
    if (ready->has_hard_state) {
        raft->persisted_hard_state = ready->hard_state;
    }
    /* The entries are durable unless a conflicting suffix replaced them meanwhile; by Log
     * Matching, an unchanged term at the last index means the whole batch is unchanged. */
    if (raft->ready_last_index > raft->log.stable &&
        raft_log_term_at(&raft->log, raft->ready_last_index) == raft->ready_last_term) {
        raft->log.stable = raft->ready_last_index;
    }
    if (ready->committed_count > 0) {
        uint64_t last_applied = ready->committed[ready->committed_count - 1].index;
        if (last_applied > raft->applied) {
            raft->applied = last_applied;
        }
    }
    if (ready->snapshot != NULL && ready->snapshot->index > raft->applied) {
        raft->applied = ready->snapshot->index;
    }
    raft->ready_immediate.count = 0;
    raft->ready_after_persist.count = 0;
    raft->ready_reads.count = 0;
    raft->ready_failed_reads.count = 0;
    assert(raft->applied <= raft->applying);
    assert(raft->applying <= raft->commit);
    if (raft->role == RAFT_LEADER) {
        raft_replication_self_persisted(raft);
        raft_membership_on_commit(raft);
    }
}

/* ---- the early batch ---- */

/* Committed entries durable locally (advanced), not yet handed out. While a ready holds
 * committed entries that are not durable yet, `applying` is past `stable`, so nothing here
 * can overtake them: entries are always applied in order. */
static uint64_t early_committed_limit(const struct raft *raft)
{
    uint64_t limit = raft->commit < raft->log.stable ? raft->commit : raft->log.stable;
    uint64_t most = raft->applying + raft->config.max_committed_per_ready;
    return bytes_limit(raft, limit < most ? limit : most);
}

static bool has_early(const struct raft *raft)
{
    return raft->out_immediate.count > 0 || raft->out_reads.count > 0 ||
           raft->out_failed_reads.count > 0 || read_broadcast_due(raft) ||
           append_broadcast_due(raft) || raft_read_forward_due(raft) ||
           early_committed_limit(raft) > raft->applying;
}

bool raft_early(struct raft *raft, struct raft_ready *early)
{
    assert(!raft->early_outstanding);
    raft_replication_flush_broadcast(raft);
    raft_read_flush_broadcast(raft);
    raft_read_flush_forward(raft);
    if (!has_early(raft)) {
        return false;
    }
    memset(early, 0, sizeof *early);
    raft->early_outstanding = true;
    raft->log.retain_data = true;

    swap_messages(&raft->early_immediate, &raft->out_immediate);
    attach_entries(raft, &raft->early_immediate);
    early->messages_immediate = raft->early_immediate.items;
    early->messages_immediate_count = raft->early_immediate.count;

    uint64_t limit = early_committed_limit(raft);
    early->committed_count = copy_entries(
        raft, &raft->early_committed, &raft->early_committed_capacity, raft->applying + 1, limit);
    early->committed = early->committed_count > 0 ? raft->early_committed : NULL;
    early->committed_durable_count = early->committed_count;
    if (limit > raft->applying) {
        raft->applying = limit;
    }
    assert(raft->applying <= raft->commit);

    hand_out_reads(raft, &raft->early_reads, &raft->early_failed_reads);
    early->reads = raft->early_reads.items;
    early->read_count = raft->early_reads.count;
    early->failed_reads = raft->early_failed_reads.items;
    early->failed_read_count = raft->early_failed_reads.count;
    return true;
}

void raft_early_advance(struct raft *raft, const struct raft_ready *early)
{
    assert(raft->early_outstanding);
    raft->early_outstanding = false;
    if (early->committed_count > 0) {
        uint64_t last_applied = early->committed[early->committed_count - 1].index;
        if (last_applied > raft->applied) {
            raft->applied = last_applied;
        }
    }
    raft->early_immediate.count = 0;
    raft->early_reads.count = 0;
    raft->early_failed_reads.count = 0;
    assert(raft->applied <= raft->applying);
    if (!raft->ready_outstanding) {
        raft->log.retain_data = false;
        raft_log_release_retired(&raft->log);
    }
}
