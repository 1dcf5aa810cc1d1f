/*
 * raft_fixture.h — a tiny hand-driven cluster for the core's unit tests.
 *
 * Unlike the simulator (tests/sim), nothing here is random: a test moves messages and ticks
 * by hand, so that it reads like the rule it pins down. fixture_drain() runs every node's
 * readies through the same driver the server runs (src/driver; persistence is instant, the
 * messages are queued) and fixture_settle() hands queued messages to their targets, skipping
 * nodes a test has cut off.
 *
 * Membership: fixture_init() boots nodes 1..N with the configuration "voters 1..N";
 * fixture_add_node() starts one more node with an empty configuration, the way a host starts a
 * node that waits to be added. A configuration may name ids that no running node has (a test
 * that fills a configuration up to RAFT_MAX_NODES): messages to or from them are dropped, as
 * if those nodes were down.
 *
 * Memory: the fixture itself lives on the caller's stack; each node's simulated disk and the
 * message queue are on the heap, allocated by fixture_init/fixture_add_node and freed by
 * fixture_free.
 */
#ifndef RAFTKV_TEST_RAFT_FIXTURE_H
#define RAFTKV_TEST_RAFT_FIXTURE_H

#include "driver/driver.h"
#include "raft/raft.h"

#include <stdbool.h>
#include <stdint.h>

/* A full configuration of RAFT_MAX_NODES voters, and one node more to try to add. */
#define FIXTURE_MAX_NODES (RAFT_MAX_NODES + 1)
#define FIXTURE_MAX_QUEUE 4096
#define FIXTURE_MAX_LOG   1024
/* The largest entry payload (a CONFIG entry naming 3 voters and 16 learners takes 168). */
#define FIXTURE_MAX_ENTRY_BYTES 256
/* Every node's max_append_entries and max_append_bytes, so that one queued message holds any
 * APPEND (a single larger entry travels alone, and no entry exceeds MAX_ENTRY_BYTES). */
#define FIXTURE_MAX_MESSAGE_ENTRIES 64
#define FIXTURE_MAX_MESSAGE_BYTES   2048
/* Every node's max_promote_lag: small, so that a test can reach it. */
#define FIXTURE_MAX_PROMOTE_LAG 5

struct fixture_message {
    struct raft_message message;
    struct raft_entry entries[FIXTURE_MAX_MESSAGE_ENTRIES];
    uint8_t data[FIXTURE_MAX_MESSAGE_BYTES]; /* the entries' payloads, back to back */
};

struct fixture;

struct fixture_node {
    struct raft *raft;
    struct driver driver;
    struct fixture *fixture; /* the driver's hooks' context is the node */
    /* Booted with an empty configuration (fixture_add_node), also when restarted. */
    bool joining;
    /* The simulated disk; log[i] is the entry at index i + 1 (heap arrays of FIXTURE_MAX_LOG). */
    struct raft_hard_state hard_state;
    struct raft_entry *log;
    uint8_t (*log_data)[FIXTURE_MAX_ENTRY_BYTES];
    uint64_t log_last;
    uint64_t applied;
    uint64_t applied_commands;
    bool cut_off;
    uint64_t reads_served[64];
    uint32_t reads_served_count;
    uint64_t reads_failed[64];
    uint32_t reads_failed_count;
};

struct fixture {
    uint32_t node_count;
    uint32_t boot_voter_count; /* nodes 1..this boot as the voters */
    struct fixture_node nodes[FIXTURE_MAX_NODES];
    struct fixture_message *queue; /* heap ring, FIXTURE_MAX_QUEUE long */
    uint32_t queue_head;
    uint32_t queue_count;
    bool pre_vote;
    bool check_quorum;
    uint32_t lease_ticks;             /* for nodes started (or restarted) after it is set */
    uint32_t max_committed_per_ready; /* likewise; 0 keeps the core's default */
};

/* Creates node_count nodes with ids 1..node_count, all voters. */
void fixture_init(struct fixture *fixture, uint32_t node_count, bool pre_vote, bool check_quorum);
void fixture_free(struct fixture *fixture);
/* Starts node node_count + 1 with an empty configuration (it waits to be added); returns its
 * id. */
raft_node_id fixture_add_node(struct fixture *fixture);
struct raft *fixture_raft(struct fixture *fixture, raft_node_id id);
/* Processes every node's ready until none is left; messages go to the queue. */
void fixture_drain(struct fixture *fixture);
/* Delivers every queued message (repeatedly, with draining) until the queue is empty. */
void fixture_settle(struct fixture *fixture);
/* Ticks node `id` until its election timer fires, then settles. */
void fixture_elect(struct fixture *fixture, raft_node_id id);
/* Ticks every node `ticks` times, settling after each tick. */
void fixture_tick_all(struct fixture *fixture, uint32_t ticks);
/* Proposes a small command on `id`; returns the raft error. */
int fixture_propose(struct fixture *fixture, raft_node_id id, const char *command);
/* Proposes a membership change (no context) on `leader`, then drains; returns the raft
 * error. */
int fixture_change(struct fixture *fixture, raft_node_id leader, uint8_t type, raft_node_id id,
                   bool force);
/* Delivers the oldest queued message (to a node not cut off) and drains; false when the queue
 * is empty. */
bool fixture_deliver_one(struct fixture *fixture);
/* Restarts node `id` from its simulated disk. */
void fixture_restart(struct fixture *fixture, raft_node_id id);
/* Drops queued messages; a cut-off node neither sends nor receives. */
void fixture_clear_queue(struct fixture *fixture);
/* Returns queued message `position` (0 = oldest); its entries are not attached. */
const struct raft_message *fixture_queued(const struct fixture *fixture, uint32_t position);
/* Counts queued messages of a type from `from` (0 = any). */
uint32_t fixture_count_queued(const struct fixture *fixture, int type, raft_node_id from);
/* Steps one message into its target, bypassing the queue. */
int fixture_step(struct fixture *fixture, const struct raft_message *message);

#endif
