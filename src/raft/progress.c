/*
 * progress.c — the leader's view of one follower: how much of its log matches (match), what
 * to send next (next), and how fast to send it.
 *
 * A follower starts in PROBE: one APPEND at a time, backing `next` off on each rejection until
 * the logs match. Then REPLICATE: APPENDs are pipelined optimistically, at most
 * max_inflight_appends unacknowledged, tracked in a ring of their last indexes. A follower
 * behind the compacted log goes to SNAPSHOT until the snapshot is installed. (Thesis §3.5
 * and §10.2; the state names follow etcd's raft.)
 */
#include "raft/raft_internal.h"

#include <stdlib.h>
#include <string.h>

int raft_progress_init(struct raft_progress *progress, raft_node_id id, bool voter,
                       uint32_t inflight_capacity)
{
    assert(inflight_capacity > 0);
    memset(progress, 0, sizeof *progress);
    progress->id = id;
    progress->voter = voter;
    progress->inflight = calloc(inflight_capacity, sizeof *progress->inflight);
    if (progress->inflight == NULL) {
        return RAFT_ERROR_NO_MEMORY;
    }
    progress->inflight_capacity = inflight_capacity;
    progress->state = PROGRESS_PROBE;
    progress->next = 1;
    return 0;
}

void raft_progress_free(struct raft_progress *progress)
{
    free(progress->inflight);
    progress->inflight = NULL;
}

void raft_progress_reset(struct raft_progress *progress, uint64_t next)
{
    assert(next >= 1);
    assert(progress->inflight_capacity > 0);
    progress->state = PROGRESS_PROBE;
    progress->match = 0;
    progress->next = next;
    progress->probe_sent = false;
    progress->pending_snapshot = 0;
    progress->recent_active = false;
    progress->read_round_acked = 0;
    progress->heartbeat_match = 0;
    progress->heartbeat_sent = 0;
    progress->commit_sent = 0;
    progress->inflight_start = 0;
    progress->inflight_count = 0;
}

void raft_progress_become_probe(struct raft_progress *progress)
{
    /* After a snapshot, resume right after it: the follower either installed it or will
     * reject, and then `next` backs off from there. */
    if (progress->state == PROGRESS_SNAPSHOT) {
        uint64_t after = progress->pending_snapshot + 1;
        progress->next = progress->match + 1 > after ? progress->match + 1 : after;
    } else {
        progress->next = progress->match + 1;
    }
    progress->state = PROGRESS_PROBE;
    progress->probe_sent = false;
    progress->pending_snapshot = 0;
    progress->inflight_start = 0;
    progress->inflight_count = 0;
    assert(progress->next > progress->match);
}

void raft_progress_become_replicate(struct raft_progress *progress)
{
    /* Only a probe that matched turns into a pipeline (a snapshot goes through probe). */
    assert(progress->state == PROGRESS_PROBE);
    progress->state = PROGRESS_REPLICATE;
    progress->next = progress->match + 1;
    progress->probe_sent = false;
    progress->pending_snapshot = 0;
    progress->inflight_start = 0;
    progress->inflight_count = 0;
}

void raft_progress_become_snapshot(struct raft_progress *progress, uint64_t snapshot_index)
{
    assert(snapshot_index > 0);
    assert(progress->state != PROGRESS_SNAPSHOT); /* a follower in SNAPSHOT is paused */
    progress->state = PROGRESS_SNAPSHOT;
    progress->pending_snapshot = snapshot_index;
    progress->probe_sent = false;
    progress->inflight_start = 0;
    progress->inflight_count = 0;
}

bool raft_progress_inflight_full(const struct raft_progress *progress)
{
    assert(progress->inflight_count <= progress->inflight_capacity);
    return progress->inflight_count == progress->inflight_capacity;
}

bool raft_progress_is_paused(const struct raft_progress *progress)
{
    switch (progress->state) {
    case PROGRESS_PROBE:
        return progress->probe_sent;
    case PROGRESS_REPLICATE:
        return raft_progress_inflight_full(progress);
    case PROGRESS_SNAPSHOT:
        return true;
    }
    return true;
}

void raft_progress_inflight_add(struct raft_progress *progress, uint64_t last_index)
{
    assert(progress->state == PROGRESS_REPLICATE);
    assert(!raft_progress_inflight_full(progress));
    /* The ring is in sending order, which free_to relies on: each APPEND ends further on. */
    if (progress->inflight_count > 0) {
        uint32_t newest =
            (progress->inflight_start + progress->inflight_count - 1) % progress->inflight_capacity;
        assert(last_index > progress->inflight[newest]);
    }
    uint32_t slot =
        (progress->inflight_start + progress->inflight_count) % progress->inflight_capacity;
    progress->inflight[slot] = last_index;
    progress->inflight_count++;
}

void raft_progress_inflight_free_to(struct raft_progress *progress, uint64_t index)
{
    while (progress->inflight_count > 0 && progress->inflight[progress->inflight_start] <= index) {
        progress->inflight_start = (progress->inflight_start + 1) % progress->inflight_capacity;
        progress->inflight_count--;
    }
    assert(progress->inflight_start < progress->inflight_capacity);
}

void raft_progress_inflight_free_first(struct raft_progress *progress)
{
    if (progress->inflight_count == 0) {
        return;
    }
    assert(progress->state == PROGRESS_REPLICATE);
    progress->inflight_start = (progress->inflight_start + 1) % progress->inflight_capacity;
    progress->inflight_count--;
}
