/*
 * raft_fixture.h — a tiny hand-driven cluster for the core's unit tests.
 *
 * Unlike the simulator (tests/sim), nothing here is random: a test moves messages and ticks
 * by hand, so that it reads like the rule it pins down. fixture_drain() runs every node's
 * readies through the same driver the server runs (src/driver; persistence is instant, the
 * messages are queued) and fixture_deliver() hands queued messages to their targets, skipping
 * nodes a test has cut off.
 */
#ifndef RAFTKV_TEST_RAFT_FIXTURE_H
#define RAFTKV_TEST_RAFT_FIXTURE_H

#include "driver/driver.h"
#include "raft/raft.h"

#include <stdbool.h>
#include <stdint.h>

#define FIXTURE_MAX_NODES 7
#define FIXTURE_MAX_QUEUE 4096
#define FIXTURE_MAX_LOG   1024

struct fixture_message {
    struct raft_message message;
    struct raft_entry entries[64];
    uint8_t data[64][32];
};

struct fixture;

struct fixture_node {
    struct raft *raft;
    struct driver driver;
    struct fixture *fixture; /* the driver's hooks' context is the node */
    /* The simulated disk. */
    struct raft_hard_state hard_state;
    struct raft_entry log[FIXTURE_MAX_LOG];
    uint8_t log_data[FIXTURE_MAX_LOG][32];
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
    struct fixture_node nodes[FIXTURE_MAX_NODES];
    struct fixture_message *queue; /* heap ring, FIXTURE_MAX_QUEUE long */
    uint32_t queue_head;
    uint32_t queue_count;
    bool pre_vote;
    bool check_quorum;
};

/* Creates node_count nodes with ids 1..node_count. */
void fixture_init(struct fixture *fixture, uint32_t node_count, bool pre_vote, bool check_quorum);
void fixture_free(struct fixture *fixture);
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
