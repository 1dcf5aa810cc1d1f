/*
 * raft.h — the consensus core's public interface.
 *
 * The core is a pure state machine: it performs no I/O, reads no clock, starts no thread and
 * keeps no global state. The host (the server, or the simulator in tests/sim) drives it:
 *
 *   raft_tick()           on a timer; time inside the core is counted in ticks.
 *   raft_step()           for every message that arrives from a peer.
 *   raft_propose()        to append a command (leader only).
 *   raft_read_index()     to ask for a linearizable read point (leader only).
 *   raft_ready()          to collect the work the core wants done; src/driver (the one ready
 *                         loop, used by the server, the simulator and the unit fixture) does,
 *                         in this order:
 *                           1. send ready.messages_immediate (no ordering constraint);
 *                           2. install ready.snapshot, if any;
 *                           3. persist ready.hard_state and ready.entries, and fsync;
 *                           4. send ready.messages;
 *                           5. apply ready.committed in order (those below entries[0].index,
 *                              or all when there are no entries, are durable already and may
 *                              be applied before step 3);
 *                           6. serve ready.reads once the state machine has applied up to
 *                              each read's index;
 *                         then call raft_advance(). Only one ready is outstanding at a time:
 *                         everything that happens between raft_ready() and raft_advance()
 *                         (proposals, messages) goes into the next one, which is how writes
 *                         that arrive during an fsync share the next fsync (group commit).
 *
 * Ownership: the core copies whatever it keeps (entry payloads from raft_propose and from
 * appended messages). Everything a ready points to is owned by the core. Two fields must be
 * consumed (sent, written, or copied) before the next call that changes the core (raft_step,
 * raft_tick, raft_propose, ...), because such a call may truncate the log they point into:
 * messages_immediate and entries. Everything else stays valid until raft_advance(); the
 * messages in `messages` never carry entries. Messages passed to raft_step() stay owned by
 * the caller.
 *
 * Errors: functions return 0 or a negative enum raft_error; raft_error_string() names them.
 * Assertions guard the core's own invariants and stay on in every build.
 */
#ifndef RAFTKV_RAFT_H
#define RAFTKV_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Node ids are nonzero; 0 means "none" (no vote, no known leader). */
typedef uint64_t raft_node_id;

#define RAFT_NODE_NONE ((raft_node_id)0)
/* The highest term raft_step accepts; a campaign never goes past it (a node at this term
 * stays a follower). Far above any term an election can reach. */
#define RAFT_MAX_TERM  (UINT64_MAX / 2)
#define RAFT_MAX_NODES 16

/* Every code the core returns, as X(name, value, text): enum raft_error and
 * raft_error_string() are both made from this one list, so a code cannot lack its text.
 * The values never change (hosts log and compare them); -7 is retired. */
#define RAFT_ERRORS(X)                                                                             \
    X(RAFT_OK, 0, "ok")                                                                            \
    /* only the leader proposes or serves read index */                                            \
    X(RAFT_ERROR_NOT_LEADER, -1, "not the leader")                                                 \
    /* leadership transfer in progress; retry later */                                             \
    X(RAFT_ERROR_TRANSFERRING, -2, "leadership transfer in progress")                              \
    X(RAFT_ERROR_NO_MEMORY, -3, "out of memory")                                                   \
    /* bad argument or malformed message */                                                        \
    X(RAFT_ERROR_INVALID, -4, "invalid argument or message")                                       \
    /* payload above config.max_entry_bytes */                                                     \
    X(RAFT_ERROR_TOO_BIG, -5, "entry too big")                                                     \
    /* too many uncommitted bytes or pending reads */                                              \
    X(RAFT_ERROR_BUSY, -6, "too much work pending")                                                \
    /* index already covered by a snapshot */                                                      \
    X(RAFT_ERROR_COMPACTED, -8, "index compacted")                                                 \
    /* index beyond the log */                                                                     \
    X(RAFT_ERROR_UNAVAILABLE, -9, "index unavailable")

enum raft_error {
#define RAFT_ERROR_ENUMERATOR(name, value, text) name = value,
    RAFT_ERRORS(RAFT_ERROR_ENUMERATOR)
#undef RAFT_ERROR_ENUMERATOR
};

/* The code's text from RAFT_ERRORS; "unknown error" for any other value. */
const char *raft_error_string(int error);

enum raft_role {
    RAFT_FOLLOWER = 0,
    RAFT_PRE_CANDIDATE = 1,
    RAFT_CANDIDATE = 2,
    RAFT_LEADER = 3,
};

const char *raft_role_string(enum raft_role role);

enum raft_entry_type {
    RAFT_ENTRY_COMMAND = 0, /* an opaque command for the state machine */
    RAFT_ENTRY_NOOP = 1,    /* appended by every new leader (§5.4.2, §8); never applied */
};

struct raft_entry {
    uint64_t term;
    uint64_t index;
    uint8_t type; /* enum raft_entry_type */
    uint32_t data_bytes;
    uint8_t *data; /* owned by whoever owns the entry; NULL when data_bytes is 0 */
};

/* What must be durable before messages that depend on it leave the node (§5.1, Figure 2). */
struct raft_hard_state {
    uint64_t term;
    raft_node_id vote;
    uint64_t commit;
};

/* The cluster configuration: voters decide elections and commits; learners only receive the
 * log. Learners are carried through snapshots now; membership changes come later. */
struct raft_configuration {
    uint32_t voter_count;
    raft_node_id voters[RAFT_MAX_NODES];
    uint32_t learner_count;
    raft_node_id learners[RAFT_MAX_NODES];
};

struct raft_snapshot_meta {
    uint64_t index; /* last entry the snapshot includes */
    uint64_t term;  /* that entry's term */
    struct raft_configuration configuration;
};

enum raft_message_type {
    RAFT_MSG_PRE_VOTE = 1,
    RAFT_MSG_PRE_VOTE_RESPONSE = 2,
    RAFT_MSG_VOTE = 3,
    RAFT_MSG_VOTE_RESPONSE = 4,
    RAFT_MSG_APPEND = 5,
    RAFT_MSG_APPEND_RESPONSE = 6,
    RAFT_MSG_HEARTBEAT = 7,
    RAFT_MSG_HEARTBEAT_RESPONSE = 8,
    RAFT_MSG_SNAPSHOT = 9,     /* the host streams the snapshot's data beside this */
    RAFT_MSG_TIMEOUT_NOW = 10, /* leadership transfer: campaign now (thesis §3.10) */
};

#define RAFT_MSG_TYPE_MAX 10

const char *raft_message_type_string(int type);

/*
 * One message between cores. Which fields matter depends on the type:
 *
 *   PRE_VOTE, VOTE          term (the candidate's, or the term it would take for PRE_VOTE),
 *                           index/log_term = the candidate's last entry; force = true when
 *                           sent because of TIMEOUT_NOW (bypasses the leader lease).
 *   *_VOTE_RESPONSE         term, reject.
 *   APPEND                  index/log_term = the entry before entries[0]; commit; entries.
 *   APPEND_RESPONSE         reject = false: index = last index now matching the leader's log.
 *                           reject = true: index = the rejected previous index, hint_index /
 *                           hint_term = where the leader should retry (fast backtracking).
 *   HEARTBEAT               commit; context = read-index round (0 = none).
 *   HEARTBEAT_RESPONSE      context echoed.
 *   SNAPSHOT                snapshot = the metadata of the snapshot to install.
 *   TIMEOUT_NOW             term.
 */
struct raft_message {
    uint8_t type;
    raft_node_id from;
    raft_node_id to;
    uint64_t term;
    uint64_t log_term;
    uint64_t index;
    uint64_t commit;
    uint64_t context;
    uint64_t hint_index;
    uint64_t hint_term;
    bool reject;
    bool force;
    uint32_t entry_count;
    struct raft_entry *entries;
    struct raft_snapshot_meta snapshot;
};

/* A read that may now be served: once the state machine has applied `index`, a read made at
 * that point is linearizable (§6.4 of the thesis). */
struct raft_read_state {
    uint64_t request_id; /* the id the host passed to raft_read_index */
    uint64_t index;
};

struct raft_config {
    raft_node_id id;
    /* Used when the node starts with no snapshot; a snapshot's configuration wins. */
    struct raft_configuration configuration;
    uint32_t election_timeout_ticks;   /* randomized per term in [t, 2t) (§5.2) */
    uint32_t heartbeat_interval_ticks; /* must be below election_timeout_ticks */
    uint32_t max_inflight_appends;     /* APPEND messages unacknowledged per follower */
    uint32_t max_append_bytes;         /* payload bytes per APPEND message (one entry above
                                        * this travels alone) */
    uint32_t max_append_entries;       /* entries per APPEND message */
    uint32_t max_entry_bytes;          /* largest payload raft_propose accepts */
    uint64_t max_uncommitted_bytes;    /* leader refuses proposals beyond this (0 = none) */
    uint32_t max_committed_per_ready;  /* entries handed to apply per ready */
    uint32_t max_pending_reads;        /* read-index requests waiting per leader */
    bool pre_vote;                     /* §9.6 of the thesis */
    bool check_quorum;                 /* §6.2 of the thesis: leader steps down, lease */
    uint64_t random_seed;              /* seeds the election-timeout PRNG */
    uint32_t sabotage;                 /* test switches; 0 outside tests (raft_sabotage.h) */
};

/* Fills a config with the defaults documented in raft.c. */
void raft_config_default(struct raft_config *config, raft_node_id id);

/* What a node recovers from its disk before it starts. Entries are borrowed: the core copies
 * them. entries[0].index must be snapshot.index + 1 (or 1 without a snapshot). */
struct raft_boot_state {
    struct raft_hard_state hard_state;
    bool has_snapshot;
    struct raft_snapshot_meta snapshot;
    const struct raft_entry *entries;
    size_t entry_count;
    uint64_t applied; /* the state machine's applied index; committed entries resume above it */
};

/* Volatile facts for the host: who leads, in which role this node is. */
struct raft_soft_state {
    raft_node_id leader;
    enum raft_role role;
};

struct raft_ready {
    /* Send in any order, at once. Only a leader's APPEND and HEARTBEAT messages land here:
     * they depend on nothing this ready persists, so the leader replicates while its own fsync
     * runs (thesis §10.2.1); the leader counts itself toward commit only after advance. */
    struct raft_message *messages_immediate;
    size_t messages_immediate_count;

    /* A snapshot received from the leader: replace the state machine with it and discard
     * the whole stored log before persisting the entries below (which then start after
     * snapshot->index). */
    const struct raft_snapshot_meta *snapshot;

    /* Persist when has_hard_state; before any of `messages` is sent. */
    bool has_hard_state;
    struct raft_hard_state hard_state;

    /* Append to the durable log. entries[0].index may be at or below the last stored index:
     * the host first truncates its log from entries[0].index (a conflicting suffix, §5.3). */
    struct raft_entry *entries;
    size_t entry_count;

    /* Send only after hard_state and entries are durable (votes, acks, campaign requests). */
    struct raft_message *messages;
    size_t message_count;

    /* Apply in order; every one is committed. The durability rule: those with an index below
     * entries[0].index (all of them, when the ready has no entries) are durable locally now and
     * may be applied at once; the others become durable locally with this ready's sync and are
     * applied after it (the driver makes that split). NOOP entries are included (they advance
     * the applied index) and carry no command. */
    struct raft_entry *committed;
    size_t committed_count;

    /* Reads confirmed by a quorum; serve each once applied >= its index. */
    struct raft_read_state *reads;
    size_t read_count;

    /* Read ids this node can no longer confirm (it lost leadership): answer with an error. */
    uint64_t *failed_reads;
    size_t failed_read_count;

    bool soft_state_changed;
    struct raft_soft_state soft_state;
};

/*
 * The part of the work that never waits for this node's fsync: a leader's APPENDs and
 * heartbeats, committed entries that are already durable locally, and reads confirmed by a
 * quorum. While a ready is outstanding (its fsync running) the host may take this part with
 * raft_early(), handle each field exactly as the same field of a ready (send, apply in order,
 * serve), and call raft_early_advance() before doing anything else with the core. So a leader
 * replicates and answers clients while its own fsync runs, instead of after it.
 * Ownership and lifetimes are those of the same fields of a ready.
 */
struct raft_early {
    struct raft_message *messages_immediate;
    size_t messages_immediate_count;
    struct raft_entry *committed;
    size_t committed_count;
    struct raft_read_state *reads;
    size_t read_count;
    uint64_t *failed_reads;
    size_t failed_read_count;
};

struct raft;

/* Creates a core from its durable state; *out is owned by the caller (raft_free). */
int raft_new(const struct raft_config *config, const struct raft_boot_state *boot,
             struct raft **out);
void raft_free(struct raft *raft);

void raft_tick(struct raft *raft);
int raft_step(struct raft *raft, const struct raft_message *message);

/* Appends a command. On success *index and *term say where it will sit: the host learns the
 * outcome when an entry at *index is applied — with *term it is this command, with another
 * term it is not and never will be. */
int raft_propose(struct raft *raft, const uint8_t *data, uint32_t data_bytes, uint64_t *index,
                 uint64_t *term);

/* Asks for a linearizable read point; the answer arrives in a later ready's reads (or
 * failed_reads). request_id is the host's and must be nonzero. */
int raft_read_index(struct raft *raft, uint64_t request_id);

/* Hands leadership to `target` (thesis §3.10). Proposals are refused until it completes or
 * an election timeout passes. */
int raft_transfer_leadership(struct raft *raft, raft_node_id target);

/* The host finished sending (or failed to send) a snapshot to `to`. */
void raft_report_snapshot(struct raft *raft, raft_node_id to, bool success);

/* The host could not reach `to`; the core goes back to probing it. */
void raft_report_unreachable(struct raft *raft, raft_node_id to);

bool raft_has_ready(const struct raft *raft);
/* Fills *ready (owned by the core until raft_advance). Returns false when there is nothing. */
bool raft_ready(struct raft *raft, struct raft_ready *ready);
void raft_advance(struct raft *raft, const struct raft_ready *ready);

/* Fills *early; false when there is nothing. Not while an early is outstanding; raft_ready()
 * is not called until it is advanced. */
bool raft_early(struct raft *raft, struct raft_early *early);
void raft_early_advance(struct raft *raft, const struct raft_early *early);

/* The host stored a snapshot covering the log up to `index` (<= applied); the core drops
 * those entries from memory. A follower further behind than this is sent the snapshot. */
int raft_compact(struct raft *raft, uint64_t index, const struct raft_configuration *config);

/* Read-only accessors for INFO, tests and the simulator. */
raft_node_id raft_id(const struct raft *raft);
enum raft_role raft_role(const struct raft *raft);
raft_node_id raft_leader(const struct raft *raft);
uint64_t raft_term(const struct raft *raft);
raft_node_id raft_vote(const struct raft *raft);
uint64_t raft_commit_index(const struct raft *raft);
uint64_t raft_applied_index(const struct raft *raft);
uint64_t raft_first_index(const struct raft *raft);
uint64_t raft_last_index(const struct raft *raft);
uint64_t raft_last_term(const struct raft *raft);
/* The term of the entry at index; 0 when the index is compacted (except the snapshot's own
 * index) or beyond the log. */
uint64_t raft_term_at(const struct raft *raft, uint64_t index);
/* The entry at index, or NULL; valid until the next call that changes the log. */
const struct raft_entry *raft_entry_at(const struct raft *raft, uint64_t index);
const struct raft_configuration *raft_configuration(const struct raft *raft);
/* Per-follower replication state, for INFO; returns false for an unknown id. */
bool raft_progress(const struct raft *raft, raft_node_id id, uint64_t *match, uint64_t *next);
uint64_t raft_election_count(const struct raft *raft);

#endif
