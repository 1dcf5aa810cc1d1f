/*
 * raft_internal.h — the core's private state and the functions its files share.
 *
 * struct raft is one node's whole consensus state. Its files split the rules by concern:
 * raft.c (creation, the step dispatcher, terms, tick, ready/advance), election.c (votes,
 * PreVote, CheckQuorum, transfer), replication.c (append, commit, backtracking), read.c
 * (ReadIndex), snapshot.c (sending and installing snapshots, compaction), log.c (the
 * in-memory log), progress.c (per-follower state), membership.c (configurations in the log,
 * single-server changes), prng.c (the seeded PRNG), sabotage.c (the test switches of
 * raft_sabotage.h).
 *
 * Nothing here is visible to the host; it sees only raft.h.
 *
 * Names: a function shared between the core's files is raft_<file>_<verb>
 * (raft_log_append_copy in log.c, raft_election_tick in election.c), and raft.c's own are
 * raft_<verb>; a function only one file uses is static there and declared nowhere else. So
 * every symbol the library exports starts with raft_. The raft_progress_* functions work on
 * one struct raft_progress (progress.c); raft_progress() in raft.h is the host's read-only
 * accessor and not one of them.
 */
#ifndef RAFTKV_RAFT_INTERNAL_H
#define RAFTKV_RAFT_INTERNAL_H

#include "raft/raft.h"
#include "raft/raft_sabotage.h"

#include <assert.h>

/* ---- prng.c: splitmix64, so that a seed replays the same election timeouts. ---- */

struct raft_prng {
    uint64_t state;
};

void raft_prng_seed(struct raft_prng *prng, uint64_t seed);
/* Uniform in [0, bound); bound > 0. */
uint64_t raft_prng_below(struct raft_prng *prng, uint64_t bound);

/* ---- log.c: the entries not yet compacted, and the indexes that walk along them. ----
 *
 * Invariants, in index order:
 *   snapshot_index <= applied <= commit <= last
 *   snapshot_index <= stable <= handed <= last
 * `stable` is what the host has made durable (advanced); `handed` is what has been handed
 * to the host for persisting (in a ready not yet advanced). Entries own their data. */
struct raft_log {
    struct raft_entry *entries; /* entries[i].index == snapshot_index + 1 + i */
    size_t count;
    size_t capacity;
    uint64_t snapshot_index;
    uint64_t snapshot_term;
    uint64_t stable;
    uint64_t handed;
    /* While a ready is outstanding its committed entries point into entry data that a
     * truncation or an installed snapshot may drop: such data is retired here instead of
     * freed, and freed when the ready is advanced. */
    bool retain_data;
    uint8_t **retired;
    size_t retired_count;
    size_t retired_capacity;
};

void raft_log_init(struct raft_log *log, uint64_t snapshot_index, uint64_t snapshot_term);
void raft_log_free(struct raft_log *log);
uint64_t raft_log_last_index(const struct raft_log *log);
uint64_t raft_log_last_term(const struct raft_log *log);
uint64_t raft_log_first_index(const struct raft_log *log);
/* Term at index: the snapshot's term at its index, 0 outside [snapshot_index, last]. */
uint64_t raft_log_term_at(const struct raft_log *log, uint64_t index);
struct raft_entry *raft_log_entry_at(const struct raft_log *log, uint64_t index);
/* Appends a copy of entry (whose index must be last + 1). */
int raft_log_append_copy(struct raft_log *log, const struct raft_entry *entry);
/* Drops every entry at or above index (> snapshot_index). */
void raft_log_truncate_from(struct raft_log *log, uint64_t index);
/* Drops every entry at or below index; the entry at index becomes the snapshot point. */
void raft_log_compact_to(struct raft_log *log, uint64_t index, uint64_t term);
/* Frees the data retired while a ready was outstanding. */
void raft_log_release_retired(struct raft_log *log);
/* Replaces the whole log by a snapshot point. */
void raft_log_reset(struct raft_log *log, uint64_t snapshot_index, uint64_t snapshot_term);
/* §5.4.1: is a log ending at (last_term, last_index) at least as up-to-date as ours? */
bool raft_log_is_up_to_date(const struct raft_log *log, uint64_t last_index, uint64_t last_term);
/* The first index of the run of entries with the same term as `index`, going backward. */
uint64_t raft_log_first_index_of_term_run(const struct raft_log *log, uint64_t index);
/* The last index whose entry has `term`, or 0. */
uint64_t raft_log_last_index_of_term(const struct raft_log *log, uint64_t term);

/* ---- progress.c: what a leader knows of each follower (thesis §3.5, etcd's Progress). ---- */

enum progress_state {
    PROGRESS_PROBE,     /* one APPEND at a time until the follower's log matches */
    PROGRESS_REPLICATE, /* pipelined APPENDs, at most max_inflight_appends unacknowledged */
    PROGRESS_SNAPSHOT,  /* a snapshot is being sent; no APPENDs until it lands */
};

struct raft_progress {
    raft_node_id id;
    bool voter;
    enum progress_state state;
    uint64_t match;
    uint64_t next;
    bool probe_sent;           /* in PROBE: an APPEND is out; wait for a reply or heartbeat */
    uint64_t pending_snapshot; /* in SNAPSHOT: the index being sent */
    bool recent_active;        /* heard from since the last CheckQuorum round */
    uint32_t silent_ticks;     /* ticks since the last answer (membership's liveness) */
    uint64_t read_round_acked; /* highest read round this follower confirmed */
    uint64_t heartbeat_match;  /* match when the previous heartbeat answer came */
    uint64_t heartbeat_sent;   /* last index sent by then */
    uint64_t commit_sent;      /* commit index carried by the last APPEND sent */
    /* Ring of the last index of each unacknowledged APPEND, oldest first. */
    uint64_t *inflight;
    uint32_t inflight_start;
    uint32_t inflight_count;
    uint32_t inflight_capacity;
};

int raft_progress_init(struct raft_progress *progress, raft_node_id id, bool voter,
                       uint32_t inflight_capacity);
void raft_progress_free(struct raft_progress *progress);
void raft_progress_reset(struct raft_progress *progress, uint64_t next);
void raft_progress_become_probe(struct raft_progress *progress);
void raft_progress_become_replicate(struct raft_progress *progress);
void raft_progress_become_snapshot(struct raft_progress *progress, uint64_t snapshot_index);
bool raft_progress_is_paused(const struct raft_progress *progress);
void raft_progress_inflight_add(struct raft_progress *progress, uint64_t last_index);
/* Frees every in-flight APPEND whose last index is <= index. */
void raft_progress_inflight_free_to(struct raft_progress *progress, uint64_t index);
void raft_progress_inflight_free_first(struct raft_progress *progress);
bool raft_progress_inflight_full(const struct raft_progress *progress);

/* ---- read.c: pending ReadIndex requests (thesis §6.4). ---- */

/* A read waiting on a leader: its host's (from = RAFT_NODE_NONE, request_id) or a
 * follower's batch (from, context = the batch, answered with one READ_INDEX_RESPONSE). */
struct raft_pending_read {
    uint64_t request_id;
    raft_node_id from;
    uint64_t context;
    uint64_t index; /* the commit index when the read was accepted */
    uint64_t round; /* the heartbeat round that confirms it; 0 = not broadcast yet */
};

/* A read waiting on a follower for its leader's answer. */
struct raft_forwarded_read {
    uint64_t request_id;
    uint64_t batch;  /* the READ_INDEX that carries it; 0 = not sent yet */
    uint32_t waited; /* ticks since it was first sent */
    bool lease;
};

/* The tick each recent heartbeat round was sent at, for the lease (read.c). */
enum { RAFT_ROUND_TICKS = 32 };

/* ---- one growable array type for the outputs, by element type (raft.c) ---- */

#define RAFT_LIST(name, type)                                                                      \
    struct name {                                                                                  \
        type *items;                                                                               \
        size_t count;                                                                              \
        size_t capacity;                                                                           \
    }

RAFT_LIST(message_list, struct raft_message);
RAFT_LIST(read_list, struct raft_read_state);
RAFT_LIST(id_list, uint64_t);

/* Room for one more item: items, regrown (doubling) when count == *capacity. Memory
 * exhaustion aborts, as everywhere in the core. */
void *raft_list_grow(void *items, size_t count, size_t *capacity, size_t item_bytes);

/* Appends `item` to any RAFT_LIST. */
#define raft_list_push(list, item)                                                                 \
    do {                                                                                           \
        (list)->items = raft_list_grow((list)->items, (list)->count, &(list)->capacity,            \
                                       sizeof *(list)->items);                                     \
        (list)->items[(list)->count++] = (item);                                                   \
    } while (0)

struct raft {
    struct raft_config config;
    raft_node_id id;
    enum raft_role role;
    uint64_t term;
    raft_node_id vote;
    raft_node_id leader;
    uint64_t commit;
    uint64_t applied;  /* advanced by the host through raft_advance */
    uint64_t applying; /* handed out for applying, not yet advanced */
    struct raft_log log;
    struct raft_configuration configuration; /* in force (membership.c) */
    uint64_t configuration_index;            /* its entry; 0 = snapshot_meta's (the base) */
    struct raft_prng prng;

    /* Timers, in ticks. */
    uint32_t election_elapsed;
    uint32_t heartbeat_elapsed;
    uint32_t randomized_election_timeout;

    /* Elections. */
    bool votes_granted[RAFT_MAX_NODES]; /* by position in configuration.voters */
    bool votes_answered[RAFT_MAX_NODES];
    uint64_t election_count;

    /* Leader state. */
    struct raft_progress progress[2 * RAFT_MAX_NODES];
    uint32_t progress_count;
    raft_node_id transfer_target;
    uint32_t transfer_elapsed;
    bool handing_over; /* a leader its committed configuration dropped (membership.c) */
    uint64_t uncommitted_bytes;
    struct raft_pending_read *reads;
    uint32_t read_count;
    uint64_t read_round; /* the latest round broadcast */
    bool read_broadcast_needed;
    uint64_t round_sent_round[RAFT_ROUND_TICKS]; /* by round % RAFT_ROUND_TICKS */
    uint64_t round_sent_tick[RAFT_ROUND_TICKS];
    uint64_t lease_until; /* tick; lease reads are served at once before it */
    bool lease_forfeited; /* this term sent TIMEOUT_NOW: its lease no longer holds */

    /* Follower state: reads waiting for the leader's READ_INDEX_RESPONSE. */
    struct raft_forwarded_read *forwarded;
    uint32_t forwarded_count;
    uint64_t forward_batch; /* the latest batch sent */
    bool forward_needed;    /* some read has batch 0 */
    uint64_t ticks;         /* raft_tick calls since raft_new */
    /* The lease's clock, in ticks: raft_tick advances it, unless the host keeps it itself
     * (raft_set_clock) from a clock that runs on while the host stalls. */
    uint64_t clock;
    bool host_clock;
    uint64_t lease_reads;         /* served from the lease (raft_lease_read_count) */
    uint64_t forwarded_reads;     /* asked of the leader (raft_forwarded_read_count) */
    uint64_t lease_start;         /* the clock when the round behind lease_until was sent */
    bool append_broadcast_needed; /* new entries or commit index to send (replication.c) */

    /* Outputs collected since the last ready. */
    struct message_list out_immediate;
    struct message_list out_after_persist;
    struct read_list out_reads;
    struct id_list out_failed_reads;
    bool snapshot_to_install;
    struct raft_snapshot_meta snapshot_meta; /* the latest snapshot, installed or taken */
    struct raft_hard_state persisted_hard_state;
    struct raft_soft_state reported_soft_state;

    /* The ready handed out and not yet advanced; its arrays are owned here. */
    bool ready_outstanding;
    struct message_list ready_immediate;
    struct message_list ready_after_persist;
    struct read_list ready_reads;
    struct id_list ready_failed_reads;
    struct raft_entry *ready_entries;
    size_t ready_entries_capacity;
    struct raft_entry *ready_committed;
    size_t ready_committed_capacity;
    struct raft_snapshot_meta ready_snapshot;
    uint64_t ready_last_index;
    uint64_t ready_last_term;

    /* The early batch handed out and not yet advanced (raft_early). */
    bool early_outstanding;
    struct message_list early_immediate;
    struct read_list early_reads;
    struct id_list early_failed_reads;
    struct raft_entry *early_committed;
    size_t early_committed_capacity;
};

/* raft.c */
/* config.trace, printf-style; nothing when no hook is set. */
void raft_trace(const struct raft *raft, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
void raft_become_follower(struct raft *raft, uint64_t term, raft_node_id leader);
void raft_reset_term(struct raft *raft, uint64_t term);
void raft_send(struct raft *raft, struct raft_message *message);
struct raft_message raft_message_to(const struct raft *raft, int type, raft_node_id to);
struct raft_progress *raft_progress_of(struct raft *raft, raft_node_id id);
bool raft_is_voter(const struct raft *raft, raft_node_id id);
uint32_t raft_quorum(const struct raft *raft);

/* election.c */
void raft_election_tick(struct raft *raft);
void raft_election_handle_vote_request(struct raft *raft, const struct raft_message *message);
void raft_election_handle_vote_response(struct raft *raft, const struct raft_message *message);
void raft_election_handle_timeout_now(struct raft *raft, const struct raft_message *message);
void raft_election_maybe_finish_transfer(struct raft *raft, struct raft_progress *progress);
bool raft_election_in_lease(const struct raft *raft);

/* replication.c */
void raft_replication_send_append(struct raft *raft, struct raft_progress *progress,
                                  bool send_if_empty);
void raft_replication_flush_broadcast(struct raft *raft);
void raft_replication_broadcast_heartbeat(struct raft *raft);
void raft_replication_handle_append(struct raft *raft, const struct raft_message *message);
void raft_replication_handle_append_response(struct raft *raft, const struct raft_message *message);
void raft_replication_handle_heartbeat(struct raft *raft, const struct raft_message *message);
void raft_replication_handle_heartbeat_response(struct raft *raft,
                                                const struct raft_message *message);
void raft_replication_self_persisted(struct raft *raft);
void raft_replication_append_new(struct raft *raft, uint8_t type, const uint8_t *data,
                                 uint32_t data_bytes);

/* read.c */
void raft_read_on_commit_in_term(struct raft *raft);
void raft_read_on_ack(struct raft *raft);
void raft_read_fail_all(struct raft *raft);
void raft_read_flush_broadcast(struct raft *raft);
void raft_read_free(struct raft *raft);
/* A follower's side (thesis §6.4, follower reads). */
void raft_read_fail_forwarded(struct raft *raft);
void raft_read_tick(struct raft *raft);
void raft_read_handle_request(struct raft *raft, const struct raft_message *message);
void raft_read_handle_response(struct raft *raft, const struct raft_message *message);
bool raft_read_forward_due(const struct raft *raft);
void raft_read_flush_forward(struct raft *raft);
void raft_read_round_sent(struct raft *raft);

/* snapshot.c */
void raft_snapshot_send(struct raft *raft, struct raft_progress *progress);
void raft_snapshot_handle(struct raft *raft, const struct raft_message *message);

/* membership.c */
/* Puts the configuration of the log's latest RAFT_ENTRY_CONFIG in force (or the base one in
 * snapshot_meta when the log holds none), after entries were appended or truncated. */
void raft_membership_reload(struct raft *raft);
/* Puts `next`, carried by the entry at `index` (0 = the base), in force and brings the
 * leader's progress in line with it: members that stay keep theirs. */
void raft_membership_set(struct raft *raft, const struct raft_configuration *next, uint64_t index);
/* The leader's commit index moved: a leader the settled configuration no longer counts as a
 * voter hands over and steps down. */
void raft_membership_on_commit(struct raft *raft);
/* Is this entry's payload valid for its type (a CONFIG entry must decode)? */
bool raft_membership_entry_valid(const struct raft_entry *entry);
/* A configuration fit for the log or a snapshot: 1..RAFT_MAX_NODES voters, at most
 * RAFT_MAX_NODES learners, nonzero distinct ids, none above highest_id. allow_empty admits
 * the empty configuration of a node waiting to join. */
bool raft_membership_valid(const struct raft_configuration *configuration, bool allow_empty);

/* sabotage.c: is this rule switched off? Always false outside the raft_sabotage library. */
bool raft_sabotaged(const struct raft *raft, enum raft_sabotage rule);

#endif
