/*
 * raft.h — the consensus core's public interface.
 *
 * The core is a pure state machine: it performs no I/O, reads no clock, starts no thread and
 * keeps no global state. The host (the server, or the simulator in tests/sim) drives it:
 *
 *   raft_tick()           on a timer; time inside the core is counted in ticks.
 *   raft_step()           for every message that arrives from a peer.
 *   raft_propose()        to append a command (leader only).
 *   raft_read_index()     to ask for a linearizable read point (a leader confirms it with a
 *                         heartbeat round, a follower asks its leader); raft_read_lease()
 *                         for one a leader may serve from its lease, without the round.
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
    X(RAFT_ERROR_UNAVAILABLE, -9, "index unavailable")                                             \
    /* membership changes (raft_propose_change): one at a time */                                  \
    X(RAFT_ERROR_CHANGE_PENDING, -10, "a configuration change is still in progress")               \
    /* the leader has not yet committed an entry of its own term */                                \
    X(RAFT_ERROR_NOT_READY, -11, "the leader has not committed an entry of its term yet")          \
    X(RAFT_ERROR_NOT_CAUGHT_UP, -12, "the learner has not caught up with the leader")              \
    X(RAFT_ERROR_NO_QUORUM, -13, "the change would leave no live majority of voters")              \
    X(RAFT_ERROR_ID_USED, -14, "the node id is or was used by a member")                           \
    X(RAFT_ERROR_NOT_MEMBER, -15, "no member with that id in that role")                           \
    X(RAFT_ERROR_TOO_MANY, -16, "the configuration is full")

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
    RAFT_ENTRY_CONFIG = 2,  /* a whole new configuration, in force once appended (thesis §4.1);
                             * data: raft_configuration_decode() reads it */
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
 * log and snapshots. highest_id is the highest id any member of this configuration's history
 * has had: a new member takes a higher one, so an id is never reused (a removed node that
 * comes back cannot pass for the new one). A node that waits to be added (started to join a
 * cluster) boots with an empty configuration; every configuration in the log or in a snapshot
 * has at least one voter. */
struct raft_configuration {
    uint32_t voter_count;
    raft_node_id voters[RAFT_MAX_NODES];
    uint32_t learner_count;
    raft_node_id learners[RAFT_MAX_NODES];
    raft_node_id highest_id;
};

/* One single-server membership change (thesis §4.2-4.4), proposed by the leader. */
enum raft_change_type {
    RAFT_CHANGE_ADD_LEARNER = 1, /* a new id (above highest_id) joins as a learner */
    RAFT_CHANGE_PROMOTE = 2,     /* a caught-up learner becomes a voter */
    RAFT_CHANGE_DEMOTE = 3,      /* a voter becomes a learner */
    RAFT_CHANGE_REMOVE = 4,      /* a member leaves */
};

struct raft_change {
    uint8_t type; /* enum raft_change_type */
    raft_node_id id;
    bool force; /* skip only the live-majority guard (a dead voter cannot answer) */
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
    RAFT_MSG_READ_INDEX = 11,  /* a follower asks its leader for a read point (§6.4) */
    RAFT_MSG_READ_INDEX_RESPONSE = 12,
};

#define RAFT_MSG_TYPE_MAX 12

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
 *   READ_INDEX              context = the follower's batch of reads; force = the reads may
 *                           be served from the leader's lease.
 *   READ_INDEX_RESPONSE     context echoed; reject = false: index = the read point;
 *                           reject = true: no read point (not the leader, or too busy).
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
    uint32_t election_timeout_ticks;        /* randomized per term in [t, 2t) (§5.2) */
    uint32_t heartbeat_interval_ticks;      /* must be below election_timeout_ticks */
    uint32_t max_inflight_appends;          /* APPEND messages unacknowledged per follower */
    uint32_t max_append_bytes;              /* payload bytes per APPEND message (one entry above
                                             * this travels alone) */
    uint32_t max_append_entries;            /* entries per APPEND message */
    uint32_t max_entry_bytes;               /* largest payload raft_propose accepts */
    uint64_t max_uncommitted_bytes;         /* leader refuses proposals beyond this (0 = none) */
    uint32_t max_committed_per_ready;       /* entries handed to apply per ready */
    uint64_t max_committed_bytes_per_ready; /* ...and their payload bytes (0 = no limit; one
                                             * entry above it goes alone), so that one apply
                                             * keeps the host's loop busy for a bounded time */
    uint32_t max_pending_reads;             /* read-index requests waiting per node */
    /* Lease reads (raft_read_lease): a leader whose heartbeat round sent at tick t a quorum
     * acknowledged serves reads without a new round until tick t + lease_ticks. Followers
     * ignore campaigns for election_timeout_ticks after they hear from the leader (and after
     * they start, while this is nonzero), so lease_ticks must stay below that by the clock
     * drift the host allows; it needs check_quorum. 0: no lease; raft_read_lease is then
     * raft_read_index. */
    uint32_t lease_ticks;
    uint64_t max_promote_lag; /* a learner is promoted only this close to the leader's
                               * last index (entries) */
    bool pre_vote;            /* §9.6 of the thesis */
    bool check_quorum;        /* §6.2 of the thesis: leader steps down, lease */
    uint64_t random_seed;     /* seeds the election-timeout PRNG; must differ between starts
                               * of a node (follower reads number their batches from it) */
    /* Optional: told, in one line each, what the core decided — a campaign, a new leader or
     * term, a configuration put in force, a snapshot installed, a hand-over. For logs and the
     * simulator's traces; called synchronously from inside the core's calls (the line is valid
     * during the call only), and must not call back into the core. */
    void (*trace)(void *context, const char *line);
    void *trace_context;
    uint32_t sabotage; /* test switches; 0 outside tests (raft_sabotage.h) */
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

    /* The hard state changed since the last ready (term, vote or commit). */
    bool has_hard_state;
    struct raft_hard_state hard_state;
    /* The sync rule, in one place: must_sync when entries are to be persisted or
     * sync_hard_state; sync_hard_state when the term or vote changed (Figure 2: they must be
     * durable before any of `messages` leaves). A change of the commit index alone need not
     * be synced: after a restart it is relearnt from the leader and the applied index. */
    bool must_sync;
    bool sync_hard_state;

    /* Append to the durable log. entries[0].index may be at or below the last stored index:
     * the host first truncates its log from entries[0].index (a conflicting suffix, §5.3). */
    struct raft_entry *entries;
    size_t entry_count;

    /* Send only after hard_state and entries are durable (votes, acks, campaign requests). */
    struct raft_message *messages;
    size_t message_count;

    /* Apply in order; every one is committed. committed[0, committed_durable_count) are
     * durable locally now (below entries[0].index, or all when the ready has no entries) and
     * may be applied at once; the rest become durable with this ready's sync and are applied
     * after it. NOOP and CONFIG entries are included (they advance the applied index). */
    struct raft_entry *committed;
    size_t committed_count;
    size_t committed_durable_count;

    /* Reads confirmed by a quorum; serve each once applied >= its index. */
    struct raft_read_state *reads;
    size_t read_count;

    /* Read ids this node can no longer confirm (it lost leadership): answer with an error. */
    uint64_t *failed_reads;
    size_t failed_read_count;

    bool soft_state_changed;
    struct raft_soft_state soft_state;
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
 * failed_reads). request_id is the host's and must be nonzero. A leader confirms its
 * leadership with one heartbeat round for all the reads of a ready (thesis §6.4); a follower
 * sends its reads of a ready to the leader as one READ_INDEX and serves them at the index the
 * leader answers. A follower's reads fail when its term or leader changes, when it stops
 * being a follower, and when the leader has not answered within two election timeouts (it
 * asks again after one). NOT_LEADER: no leader is known. */
int raft_read_index(struct raft *raft, uint64_t request_id);
/* The same, but a leader within its lease (config.lease_ticks) serves it at its commit index
 * at once, and a follower's leader does so for it. Safe while the nodes' clocks drift apart
 * by less than election_timeout_ticks - lease_ticks per lease. */
int raft_read_lease(struct raft *raft, uint64_t request_id);
/* The lease is measured on a clock of its own, in ticks. raft_tick advances it by one, which
 * is right while ticks keep time; a host whose ticks can fall behind (a stalled loop, a
 * stopped process: the timer fires once for all it missed) sets it instead, from a monotonic
 * clock, before each raft_step and raft_read_lease: then raft_tick leaves it alone, and a
 * leader that wakes from a pause sees its lease as old as it is. It never goes backwards. The
 * election timers keep counting raft_tick calls, so a stall delays elections (which is
 * safe) rather than firing them on a follower that has not yet read the heartbeats waiting
 * in its sockets. */
void raft_set_clock(struct raft *raft, uint64_t ticks);

/* Hands leadership to `target` (thesis §3.10). Proposals are refused until it completes or
 * an election timeout passes. */
int raft_transfer_leadership(struct raft *raft, raft_node_id target);

/*
 * Proposes one membership change (leader only). The new configuration is in force on each node
 * from the moment the entry is appended there; the host learns it is settled when the entry at
 * *index is applied (with *term, as for raft_propose). `context` (at most
 * RAFT_MAX_CONTEXT_BYTES) is the host's, carried in the entry beside the configuration: the
 * server stores there every member's addresses. Refused, changing nothing, with:
 *   NOT_LEADER, TRANSFERRING;
 *   CHANGE_PENDING   an earlier change is not committed yet (one at a time);
 *   NOT_READY        no entry of the leader's term is committed yet (the fix Ongaro posted
 *                    in 2015 to the single-server change algorithm);
 *   ID_USED          ADD_LEARNER of an id at or below highest_id;
 *   NOT_MEMBER       PROMOTE of a non-learner, DEMOTE of a non-voter, REMOVE of a stranger;
 *   NOT_CAUGHT_UP    PROMOTE of a learner more than max_promote_lag entries behind, or silent;
 *   NO_QUORUM        the voters left would not include a live majority (unless change->force),
 *                    or the change would leave no voter at all (even forced);
 *   TOO_MANY         RAFT_MAX_NODES voters or learners already.
 * A leader that the change removes or demotes keeps leading until the entry commits (without
 * counting itself), then hands leadership to the most up-to-date voter and steps down.
 */
#define RAFT_MAX_CONTEXT_BYTES (64 * 1024)
int raft_propose_change(struct raft *raft, const struct raft_change *change, const uint8_t *context,
                        uint32_t context_bytes, uint64_t *index, uint64_t *term);

/* Writes the data of a RAFT_ENTRY_CONFIG entry for `configuration` and `context` into out
 * (out_bytes large enough, else nothing is written) and returns its size; 0 when the
 * configuration is not valid for the log (raft_configuration_decode would refuse it). For
 * hosts that write a configuration themselves: a backup, a cluster forced anew. */
uint32_t raft_configuration_encode(const struct raft_configuration *configuration,
                                   const uint8_t *context, uint32_t context_bytes, uint8_t *out,
                                   uint32_t out_bytes);

/* Reads a RAFT_ENTRY_CONFIG entry's data: the configuration, and the host's context (pointing
 * into data). RAFT_ERROR_INVALID for bytes that are no valid configuration. */
int raft_configuration_decode(const uint8_t *data, uint32_t data_bytes,
                              struct raft_configuration *out, const uint8_t **context,
                              uint32_t *context_bytes);

/* The host finished sending (or failed to send) a snapshot to `to`. */
void raft_report_snapshot(struct raft *raft, raft_node_id to, bool success);

/* The host could not reach `to`; the core goes back to probing it. */
void raft_report_unreachable(struct raft *raft, raft_node_id to);

bool raft_has_ready(const struct raft *raft);
/* Fills *ready (owned by the core until raft_advance). Returns false when there is nothing. */
bool raft_ready(struct raft *raft, struct raft_ready *ready);
void raft_advance(struct raft *raft, const struct raft_ready *ready);

/*
 * The part of the work that never waits for this node's fsync, as a view of a ready: a
 * leader's APPENDs and heartbeats (messages_immediate), committed entries that are durable
 * locally already (all of committed; committed_durable_count == committed_count), and reads
 * confirmed by a quorum; every other field is empty and must_sync false. While a ready is
 * outstanding (its fsync running) the host may take this with raft_early(), handle those
 * fields as in a ready, and call raft_early_advance() before doing anything else with the
 * core. So a leader replicates and answers clients while its own fsync runs. False when there
 * is nothing; not while an early batch is outstanding.
 */
bool raft_early(struct raft *raft, struct raft_ready *early);
void raft_early_advance(struct raft *raft, const struct raft_ready *early);

/* The host stored a snapshot covering the log up to `index` (<= applied); the core drops
 * those entries from memory. A follower further behind than this is sent the snapshot. The
 * snapshot's configuration is the one in force at `index` (raft_configuration_at); where that
 * is unknown, RAFT_ERROR_UNAVAILABLE and nothing changes. */
int raft_compact(struct raft *raft, uint64_t index);

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
/* The configuration in force: the latest RAFT_ENTRY_CONFIG in the log, else the snapshot's,
 * else the boot configuration. */
const struct raft_configuration *raft_configuration(const struct raft *raft);
/* The index of the entry that carries it; 0 when it comes from the snapshot or the boot. */
uint64_t raft_configuration_index(const struct raft *raft);
/* The configuration in force at `index` (>= the first index - 1, <= the last): 0, or
 * RAFT_ERROR_COMPACTED / RAFT_ERROR_UNAVAILABLE. UNAVAILABLE too on a node that joined with an
 * empty configuration, below the first CONFIG entry it holds: it does not know the
 * configuration there, and raft_compact refuses that index the same way. */
int raft_configuration_at(const struct raft *raft, uint64_t index, struct raft_configuration *out);
/* Its members, voters first: count, and the i-th (i < count). */
uint32_t raft_configuration_member_count(const struct raft_configuration *configuration);
raft_node_id raft_configuration_member_at(const struct raft_configuration *configuration,
                                          uint32_t i);
/* Is id a member (voter or learner) of this configuration? */
bool raft_configuration_has(const struct raft_configuration *configuration, raft_node_id id);
/* Is id a voter (a learner) of this configuration? */
bool raft_configuration_is_voter(const struct raft_configuration *configuration, raft_node_id id);
bool raft_configuration_is_learner(const struct raft_configuration *configuration, raft_node_id id);
/* Per-follower replication state, for INFO; returns false for an unknown id. */
bool raft_progress(const struct raft *raft, raft_node_id id, uint64_t *match, uint64_t *next);
uint64_t raft_election_count(const struct raft *raft);
/* Reads this leader served from its lease without a round, and follower reads this node
 * asked its leader for (batches count each read), since raft_new. */
uint64_t raft_lease_read_count(const struct raft *raft);
uint64_t raft_forwarded_read_count(const struct raft *raft);

#endif
