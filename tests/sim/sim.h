/*
 * sim.h — the deterministic cluster simulator's shared types.
 *
 * One struct sim holds a whole run: the raft cores (struct sim_node, each with its simulated
 * disk and state machine), the simulated network (messages in flight, partitions), the client
 * (proposals and reads), the operator (membership changes, the node processes they start and
 * stop), the fault schedule and the checker's global knowledge (leaders per term, committed
 * entries, acknowledged commands). Everything random comes from the run's one
 * xoshiro256** generator, seeded from the run's seed; nothing reads a clock, so one seed
 * replays the same run byte for byte.
 *
 * Ownership: struct sim owns everything below it. Messages in flight own deep copies of their
 * entries and of any snapshot attached to them; a node's disk owns its log and snapshot; the
 * core's ready memory is never kept past raft_advance.
 *
 * Failure modes: a broken Raft rule or host/core contract is recorded with sim_violation();
 * the run stops at the first one and main.c prints it with the seed that replays it.
 */
#ifndef RAFTKV_SIM_H
#define RAFTKV_SIM_H

#include "driver/driver.h"
#include "raft/raft.h"
#include "raft/raft_sabotage.h" /* private to the core and this simulator */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits and rates. The comment above each says what it bounds. */
/* Node processes one run may start: the initial cluster and every node added later (ids are
 * never reused, so slot k holds id k + 1 for the whole run). */
#define SIM_MAX_NODES 16
/* The operator keeps the cluster within these sizes (the initial cluster has at most
 * SIM_MAX_VOTERS voters and no learners). */
#define SIM_MAX_VOTERS                 7
#define SIM_MAX_LEARNERS               3
#define SIM_MAX_PENDING_CHANGES        8  /* changes the operator awaits the outcome of */
#define SIM_MAX_CONTEXT_BYTES          24 /* the operator's context per change ("addresses") */
#define SIM_TICK_MS                    10 /* simulated milliseconds per core tick */
#define SIM_ELECTION_TIMEOUT_TICKS     10
#define SIM_HEARTBEAT_TICKS            2
#define SIM_TRACE_LINES                64 /* lines kept for the report of a violation */
#define SIM_TRACE_LINE_BYTES           200
#define SIM_REPORT_TRACE_LINES         50
#define SIM_MAX_PENDING_PROPOSALS      16
#define SIM_MAX_PENDING_READS          16
#define SIM_FOLLOWER_READS_PER_MILLION 300000 /* reads sent to a node picked at random */
/* Beyond this many messages in flight, the network drops what is sent. */
#define SIM_MAX_FLIGHT_MESSAGES 100000
/* Snapshot and unreachable reports queued per node while a ready is open. */
/* Readies in a row, without other input, before the core counts as spinning. */
#define SIM_MAX_READY_ROUNDS 1000
/* Election timeouts the healed cluster gets to recover (plus the backlog's shipping time). */
#define SIM_LIVENESS_TIMEOUTS    20
#define SIM_COMMAND_HEADER_BYTES 8 /* every command payload starts with its 64-bit id */
#define SIM_MAX_PAD_BYTES        40
/* Requests made by "other clients" to a random node instead of the believed leader. */
#define SIM_STRANGER_PROPOSALS_PER_MILLION 200000
#define SIM_STRANGER_READS_PER_MILLION     500000
/* How long the client waits on one proposal in the liveness phase before trying another. */
#define SIM_CLIENT_PATIENCE_MS (2 * SIM_ELECTION_TIMEOUT_TICKS * SIM_TICK_MS)

/* The rules the checker enforces; the string table is in checker.c. */
enum sim_rule {
    SIM_RULE_NONE = 0,
    SIM_RULE_ELECTION_SAFETY,
    SIM_RULE_LEADER_APPEND_ONLY,
    SIM_RULE_LOG_MATCHING,
    SIM_RULE_LEADER_COMPLETENESS,
    SIM_RULE_STATE_MACHINE_SAFETY,
    SIM_RULE_EXACTLY_ONCE,
    SIM_RULE_READ_SAFETY,
    SIM_RULE_LIVENESS,
    SIM_RULE_CONTRACT,      /* the core broke raft.h's contract with its host */
    SIM_RULE_CONFIGURATION, /* the configuration in force is not the log's latest */
    SIM_RULE_SINGLE_CHANGE, /* a leader began a change before the previous one committed */
};

const char *sim_rule_string(enum sim_rule rule);

/* xoshiro256**, seeded through splitmix64. */
struct sim_prng {
    uint64_t s[4];
};

uint64_t sim_splitmix64(uint64_t *state);
void sim_prng_seed(struct sim_prng *prng, uint64_t seed);
uint64_t sim_prng_next(struct sim_prng *prng);
uint64_t sim_prng_below(struct sim_prng *prng, uint64_t bound); /* [0, bound) */
bool sim_prng_chance(struct sim_prng *prng, uint32_t per_million);

/* One applied (or snapshotted) log position, as the state machine remembers it. */
struct sim_record {
    uint64_t term;
    uint64_t command; /* 0 for a NOOP */
    uint64_t entry_hash;
    uint64_t prefix_hash; /* hash of every entry from index 1 up to this one */
};

/* A snapshot's data: the state machine (the applied records 1..meta.index). */
struct sim_snapshot {
    struct raft_snapshot_meta meta;
    struct sim_record *records; /* meta.index of them, owned */
};

struct sim_disk {
    struct raft_hard_state hard_state;
    bool has_snapshot;
    struct sim_snapshot snapshot;
    struct raft_entry *entries; /* entries[k].index == snapshot index + 1 + k; data owned */
    uint64_t *prefix_hashes;    /* parallel to entries */
    size_t entry_count;
    size_t entry_capacity;
};

/* Where in a ready an armed crash strikes (host.c, process_ready). */
enum sim_crash_point {
    SIM_CRASH_NONE = 0,
    SIM_CRASH_BEFORE_SENDING = 1,  /* nothing of the ready happened */
    SIM_CRASH_AFTER_IMMEDIATE = 2, /* messages_immediate sent, nothing written */
    SIM_CRASH_TORN_WRITE = 3,      /* a prefix of the entries written, hard state not */
    SIM_CRASH_AFTER_PERSIST = 4,   /* written and synced, nothing that depends on it sent */
    SIM_CRASH_AFTER_SEND = 5,      /* messages sent, nothing applied */
    SIM_CRASH_AFTER_APPLY = 6,     /* applied, raft_advance not called */
    SIM_CRASH_POINTS = 6,
};

struct sim;
struct sim_node;

/* What the driver's hooks get as their context (host.c). */
struct sim_host_context {
    struct sim *sim;
    struct sim_node *node;
};

struct sim_read {
    uint64_t request_id;
    uint64_t required_index; /* highest index acknowledged before the request was made */
    uint64_t served_index;   /* from ready.reads; 0 until then */
};

struct sim_node {
    raft_node_id id;
    bool up;
    /* Shut down for good (removed from the cluster, or added by a change that was lost): the
     * node never restarts and messages to it are lost. */
    bool retired;
    uint64_t retire_at_ms; /* 0 = not scheduled */
    /* What the node boots with when its disk has no snapshot: the initial cluster's, or the
     * empty configuration of a node that waits to be added. */
    struct raft_configuration boot_configuration;
    uint32_t incarnation;
    uint64_t restart_at_ms;
    struct raft *core;
    struct sim_disk disk;
    /* Volatile state machine: records 1..applied. */
    struct sim_record *applied_records;
    uint64_t applied;
    size_t applied_capacity;
    uint64_t *applied_at; /* command id -> index it was applied at (0 = never) */
    size_t applied_at_capacity;
    struct sim_read reads[SIM_MAX_PENDING_READS];
    size_t read_count;
    bool has_incoming_snapshot;
    struct sim_snapshot incoming_snapshot;
    enum sim_crash_point crash_point; /* armed for the next ready */
    uint64_t last_commit_seen;        /* leader churn: crash as the commit index moves */
    uint64_t crash_down_ms;
    /* Checker state for this incarnation. */
    uint64_t check_leader_term;
    uint64_t check_leader_last;
    uint64_t check_leader_hash;
    uint64_t check_commit_recorded;
    uint64_t check_completeness_term;
    uint64_t check_completeness_version;
    /* The configuration in force, as last verified (checker.c, check_configuration). */
    bool check_config_valid;
    uint64_t check_config_index;
    uint64_t check_config_first;
    uint64_t check_config_upto;
    uint64_t check_config_upto_term;
    /* One change at a time: the leader term scanned, how far, and its latest CONFIG entry. */
    uint64_t check_change_term;
    uint64_t check_change_scanned;
    uint64_t check_change_previous;
    enum raft_role last_role;
    /* The ready loop, shared with the server (src/driver), and its hooks' context. */
    struct driver driver;
    struct sim_host_context host_context;
    /* What the driver wrote but has not synced yet: deep copies of the entries (the core may
     * truncate the originals) and the hard state to save. With ready_open the ready waits for
     * its fsync until open_fsync_at_ms — as the server's does while the thread pool syncs —
     * and the core keeps stepping meanwhile. */
    bool ready_open;
    struct raft_entry *open_entries;
    size_t open_entry_count;
    bool open_save_hard_state;
    struct raft_hard_state open_hard_state;
    uint64_t open_fsync_at_ms;
};

struct sim_message {
    struct raft_message message; /* entries deep-copied */
    uint64_t deliver_at_ms;
    uint64_t sequence;
    uint32_t sender_incarnation;
    bool report_snapshot; /* the copy whose fate is reported back to the sender */
    bool has_snapshot;
    struct sim_snapshot snapshot;
};

struct sim_network {
    struct sim_message *flight;
    size_t flight_count;
    size_t flight_capacity;
    uint64_t next_sequence;
    uint64_t earliest_due_ms;               /* no message in flight is due before (0: unknown) */
    bool cut[SIM_MAX_NODES][SIM_MAX_NODES]; /* cut[a][b]: a's messages to b are lost */
    bool partitioned;
    uint64_t heal_at_ms;
    uint32_t drop_per_million;
    uint32_t duplicate_per_million;
    uint32_t long_delay_per_million;
    uint32_t max_delay_ms;
    uint32_t max_long_delay_ms;
};

struct sim_committed {
    bool known;
    uint64_t term;
    uint64_t entry_hash;
    uint64_t prefix_hash;
};

struct sim_checker {
    raft_node_id *leader_of_term; /* indexed by term */
    size_t leader_of_term_capacity;
    uint64_t *max_commit_of_term; /* highest commit index seen at the leader of each term */
    size_t max_commit_of_term_capacity;
    uint64_t commit_version;         /* bumped when max_commit_of_term changes */
    struct sim_committed *committed; /* indexed by log index */
    size_t committed_capacity;
    /* Log Matching: (index, term) -> prefix hash, first writer wins. */
    struct sim_match_slot *match_slots;
    size_t match_capacity;
    size_t match_count;
};

struct sim_match_slot {
    uint64_t index;
    uint64_t term;
    uint64_t prefix_hash;
};

struct sim_proposal {
    uint64_t command;
    int node; /* index into nodes */
    uint32_t incarnation;
    uint64_t index;
    uint64_t term;
    uint64_t proposed_at_ms;
};

struct sim_client {
    uint64_t next_command;
    int believed_leader;
    struct sim_proposal pending[SIM_MAX_PENDING_PROPOSALS];
    size_t pending_count;
    uint64_t *acked_index; /* command id -> index it was acknowledged at (0 = not acked) */
    size_t acked_capacity;
    uint64_t max_acked_index;
    uint64_t acked_count;
    uint64_t next_read_id;
    uint64_t reads_served;
    uint64_t liveness_first_command; /* 0 outside the liveness phase */
    uint64_t liveness_command;       /* first command acknowledged in the liveness phase */
};

/* Fault rates for one seed, drawn from its PRNG (or fixed by the demo). */
struct sim_faults {
    bool enabled;
    const char *profile;
    bool leader_churn;                       /* partitions mostly isolate the leader alone */
    uint32_t stranger_proposals_per_million; /* requests to a random node (client.c) */
    uint32_t stranger_reads_per_million;
    uint32_t vote_crash_max_down_ms; /* how fast a node that crashed after voting is back */
    uint32_t partition_per_million;  /* per tick round */
    uint32_t crash_per_million;
    uint32_t vote_crash_per_million;   /* crash right after granting a vote */
    uint32_t commit_crash_per_million; /* crash a leader as its commit index moves */
    uint32_t compact_per_million;      /* per node per tick round */
    uint32_t propose_per_million;
    uint32_t read_per_million;
    uint32_t transfer_per_million;
    uint32_t async_ready_per_million;       /* a ready stays open across events (async fsync) */
    uint32_t max_fsync_ms;                  /* how long an open ready's fsync takes, at most */
    uint32_t early_per_million;             /* raft_early taken while a ready is open */
    uint32_t change_per_million;            /* the operator proposes a membership change */
    uint32_t force_per_million;             /* ... skipping the live-majority guard */
    bool change_after_election;             /* ... and one at once whenever a new leader appears */
    uint32_t target_voters;                 /* ... steering toward this many voters (0 = any) */
    uint32_t isolate_on_change_per_million; /* ... cutting the leader off just before */
    uint32_t max_retire_delay_ms;           /* a node that left runs on this long at most */
};

/* One membership change the operator proposed, until its entry's fate is known. */
struct sim_change {
    struct raft_change change;
    uint64_t index;
    uint64_t term;
};

/* The cluster's operator (operator.c): proposes membership changes, starts the node process
 * of each added id, and shuts down the nodes that left. */
struct sim_operator {
    struct sim_change pending[SIM_MAX_PENDING_CHANGES];
    size_t pending_count;
    raft_node_id promote_wanted; /* a learner whose promotion waits for it to catch up */
    uint64_t last_leader_term;   /* the newest leader's term the operator has seen */
    uint64_t proposed;
    uint64_t committed;
    uint64_t lost;
};

/* The fault profiles (schedule.c, configure_profile); SIM_PROFILE_BY_SEED lets the seed draw. */
enum sim_profile {
    SIM_PROFILE_BY_SEED = 0,
    SIM_PROFILE_MIXED,
    SIM_PROFILE_LEADER_CHURN,
    SIM_PROFILE_ELECTION_STORM,
    SIM_PROFILE_RECONFIGURATION,
    SIM_PROFILE_LEASE, /* only when asked for: --profile lease */
};

/* The --profile spelling of each ("leader-churn"), and its parse; -1 for an unknown name. */
const char *sim_profile_string(enum sim_profile profile);
int sim_profile_parse(const char *name, enum sim_profile *out);

struct sim_options {
    uint64_t seed;
    uint32_t nodes; /* 0 = by seed */
    enum sim_profile profile;
    /* Leave the one-change-at-a-time rule unchecked, to see what two changes at once lead to
     * (--skip-rule one-change-at-a-time). */
    bool skip_single_change;
    uint64_t events; /* budget of events before the liveness phase */
    enum raft_sabotage sabotage;
    bool verbose;
    bool trace; /* keep the trace ring (single runs and replays of failures) */
    bool demo;
    uint64_t stop_after_event; /* replaying a failure: 0 = run to the end */
    const char *program;
};

struct sim {
    struct sim_options options;
    struct sim_prng prng;
    uint64_t now_ms;
    uint64_t event_count;
    uint32_t node_count; /* slots started so far */
    struct sim_node nodes[SIM_MAX_NODES];
    /* The slots of the nodes not retired, in slot order: the loops that run every event or
     * millisecond walk these (a retired node has nothing left to do). */
    uint32_t active[SIM_MAX_NODES];
    uint32_t active_count;
    /* Bit k: the core of slot k was handed input since the checker last looked (host_process
     * follows every input), so only those nodes can have changed. */
    uint32_t touched;
    struct raft_config base_config;
    struct sim_network network;
    struct sim_checker checker;
    struct sim_client client;
    struct sim_operator operator_state;
    struct sim_faults faults;
    bool liveness_phase;
    /* The first violation, if any. */
    enum sim_rule violation;
    char violation_detail[1024];
    uint64_t violation_event;
    /* Trace ring. */
    char trace_lines[SIM_TRACE_LINES][SIM_TRACE_LINE_BYTES];
    uint64_t trace_count;
};

/* main.c */
void sim_trace(struct sim *sim, const char *format, ...) __attribute__((format(printf, 2, 3)));
void sim_violation(struct sim *sim, enum sim_rule rule, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
void sim_narrate(struct sim *sim, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* schedule.c */
struct sim *sim_create(const struct sim_options *options); /* owned: sim_destroy() */
void sim_activate(struct sim *sim, uint32_t slot);         /* a node process starts */
void sim_deactivate(struct sim *sim, uint32_t slot);       /* ... and is retired */
void sim_run(struct sim *sim);
void sim_destroy(struct sim *sim);

/* network.c */
void net_init(struct sim_network *network);
void net_free(struct sim_network *network);
void net_send(struct sim *sim, struct sim_node *from, const struct raft_message *message);
bool net_deliver_next(struct sim *sim); /* delivers one due message; false when none is due */
void net_heal(struct sim *sim);
void net_partition_random(struct sim *sim, uint64_t duration_ms);
void net_isolate(struct sim *sim, int node);
void snapshot_copy(struct sim_snapshot *to, const struct sim_snapshot *from);
void snapshot_free(struct sim_snapshot *snapshot);

/* host.c */
int host_boot(struct sim *sim, struct sim_node *node);
void host_crash(struct sim *sim, struct sim_node *node, uint64_t down_ms);
void host_retire(struct sim *sim, struct sim_node *node); /* shut down for good */
void host_process(struct sim *sim, struct sim_node *node);
/* True when the node holds an open ready whose fsync is due. */
bool host_fsync_due(const struct sim *sim, const struct sim_node *node);
void host_compact(struct sim *sim, struct sim_node *node);
void host_free(struct sim_node *node);

/* disk.c */
uint64_t sim_entry_hash(const struct raft_entry *entry);
uint64_t sim_chain_hash(uint64_t previous, uint64_t entry_hash);
uint64_t sim_command_of(const struct raft_entry *entry); /* 0 for a NOOP */
uint64_t disk_base(const struct sim_disk *disk);         /* the snapshot's index, or 0 */
uint64_t host_disk_last_index(const struct sim_node *node);
bool host_disk_prefix_hash(const struct sim_node *node, uint64_t index, uint64_t *hash);
void disk_truncate_from(struct sim_disk *disk, uint64_t index); /* index > disk_base */
void disk_drop_through(struct sim_disk *disk, uint64_t index);
void disk_append(struct sim_disk *disk, const struct raft_entry *entry, uint64_t prefix_hash);
void disk_set_snapshot(struct sim_disk *disk, struct sim_snapshot *snapshot); /* takes it */
void sim_boot_configuration(const struct sim_node *node, struct raft_configuration *out);
/* The configuration in force at index by the disk alone: its latest CONFIG entry at or below
 * index, else its snapshot's, else the boot configuration. False outside the disk's log. */
bool disk_configuration_at(const struct sim_node *node, uint64_t index,
                           struct raft_configuration *out);
void host_ensure_applied_at(struct sim_node *node, uint64_t command);
void state_machine_reserve(struct sim_node *node, uint64_t count);
void state_machine_load(struct sim_node *node, const struct sim_snapshot *snapshot);

/* checker.c */
void checker_init(struct sim_checker *checker);
void checker_free(struct sim_checker *checker);
void checker_after_event(struct sim *sim);
void checker_on_persist(struct sim *sim, struct sim_node *node, uint64_t index, uint64_t term,
                        uint64_t prefix_hash);
void checker_on_apply(struct sim *sim, struct sim_node *node, uint64_t index,
                      const struct sim_record *record);
void checker_on_snapshot(struct sim *sim, struct sim_node *node,
                         const struct sim_snapshot *snapshot);
void checker_final(struct sim *sim);

/* operator.c */
void operator_act(struct sim *sim); /* every tick round */
/* Every millisecond: a change right after an election; true when it proposed one. */
bool operator_watch(struct sim *sim);
void operator_on_liveness(struct sim *sim);
/* Marks the members of the newest leader's configuration (never a retired node); false when
 * no leader is up. */
bool operator_members(const struct sim *sim, bool members[SIM_MAX_NODES]);
bool sim_configuration_equal(const struct raft_configuration *a,
                             const struct raft_configuration *b);

/* client.c */
void client_init(struct sim_client *client);
void client_free(struct sim_client *client);
void client_act(struct sim *sim);
void client_on_apply(struct sim *sim, struct sim_node *node, uint64_t index,
                     const struct sim_record *record);
void client_on_crash(struct sim *sim, struct sim_node *node);
void client_on_read(struct sim *sim, struct sim_node *node, struct sim_read *read);
bool client_liveness_done(struct sim *sim);

#endif
