/*
 * inspect.c — read-only views of a core, for INFO, RAFT.INFO, tests and the simulator.
 * Nothing here changes state.
 */
#include "raft/raft_internal.h"

raft_node_id raft_id(const struct raft *raft)
{
    return raft->id;
}

enum raft_role raft_role(const struct raft *raft)
{
    return raft->role;
}

raft_node_id raft_leader(const struct raft *raft)
{
    return raft->leader;
}

uint64_t raft_term(const struct raft *raft)
{
    return raft->term;
}

raft_node_id raft_vote(const struct raft *raft)
{
    return raft->vote;
}

uint64_t raft_commit_index(const struct raft *raft)
{
    return raft->commit;
}

uint64_t raft_applied_index(const struct raft *raft)
{
    return raft->applied;
}

uint64_t raft_first_index(const struct raft *raft)
{
    return raft_log_first_index(&raft->log);
}

uint64_t raft_last_index(const struct raft *raft)
{
    return raft_log_last_index(&raft->log);
}

uint64_t raft_last_term(const struct raft *raft)
{
    return raft_log_last_term(&raft->log);
}

uint64_t raft_term_at(const struct raft *raft, uint64_t index)
{
    return raft_log_term_at(&raft->log, index);
}

const struct raft_entry *raft_entry_at(const struct raft *raft, uint64_t index)
{
    return raft_log_entry_at(&raft->log, index);
}

const struct raft_configuration *raft_configuration(const struct raft *raft)
{
    return &raft->configuration;
}

bool raft_progress(const struct raft *raft, raft_node_id id, uint64_t *match, uint64_t *next)
{
    if (raft->role != RAFT_LEADER) {
        return false;
    }
    for (uint32_t i = 0; i < raft->progress_count; i++) {
        if (raft->progress[i].id == id) {
            *match = raft->progress[i].match;
            *next = raft->progress[i].next;
            return true;
        }
    }
    return false;
}

uint64_t raft_election_count(const struct raft *raft)
{
    return raft->election_count;
}

uint64_t raft_lease_read_count(const struct raft *raft)
{
    return raft->lease_reads;
}

uint64_t raft_forwarded_read_count(const struct raft *raft)
{
    return raft->forwarded_reads;
}
