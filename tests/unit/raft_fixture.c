/*
 * raft_fixture.c — the hand-driven cluster of raft_fixture.h. Persistence is instant and
 * perfect here; the simulator is where disks lose data.
 */
#include "raft_fixture.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct raft_config node_config(const struct fixture *fixture, raft_node_id id)
{
    struct raft_config config;
    raft_config_default(&config, id);
    config.election_timeout_ticks = 10;
    config.heartbeat_interval_ticks = 1;
    config.max_inflight_appends = 4;
    config.max_append_entries = FIXTURE_MAX_MESSAGE_ENTRIES;
    config.max_append_bytes = FIXTURE_MAX_MESSAGE_BYTES;
    config.max_promote_lag = FIXTURE_MAX_PROMOTE_LAG;
    config.pre_vote = fixture->pre_vote;
    config.check_quorum = fixture->check_quorum;
    config.lease_ticks = fixture->lease_ticks;
    if (fixture->max_committed_per_ready > 0) {
        config.max_committed_per_ready = fixture->max_committed_per_ready;
    }
    config.random_seed = id * 7919;
    if (fixture->nodes[id - 1].joining) {
        return config; /* an empty configuration: the node waits to be added */
    }
    config.configuration.voter_count = fixture->boot_voter_count;
    for (uint32_t i = 0; i < fixture->boot_voter_count; i++) {
        config.configuration.voters[i] = i + 1;
    }
    return config;
}

/* Is there a running node with this id? Others are named by a configuration only. */
static bool is_running(const struct fixture *fixture, raft_node_id id)
{
    return id >= 1 && id <= fixture->node_count;
}

static void start_driver(struct fixture *fixture, struct fixture_node *node);

static void start_node(struct fixture *fixture, raft_node_id id)
{
    struct fixture_node *node = &fixture->nodes[id - 1];
    if (node->log == NULL) {
        node->log = calloc(FIXTURE_MAX_LOG, sizeof *node->log);
        node->log_data = calloc(FIXTURE_MAX_LOG, sizeof *node->log_data);
        assert(node->log != NULL && node->log_data != NULL);
    }
    struct raft_config config = node_config(fixture, id);
    struct raft_boot_state boot;
    memset(&boot, 0, sizeof boot);
    boot.hard_state = node->hard_state;
    boot.entries = node->log;
    boot.entry_count = node->log_last;
    boot.applied = 0;
    node->applied = 0;
    node->applied_commands = 0;
    int rc = raft_new(&config, &boot, &node->raft);
    assert(rc == 0);
    (void)rc;
    start_driver(fixture, node);
}

void fixture_init(struct fixture *fixture, uint32_t node_count, bool pre_vote, bool check_quorum)
{
    assert(node_count <= FIXTURE_MAX_NODES);
    memset(fixture, 0, sizeof *fixture);
    fixture->node_count = node_count;
    fixture->boot_voter_count = node_count;
    fixture->pre_vote = pre_vote;
    fixture->check_quorum = check_quorum;
    fixture->queue = calloc(FIXTURE_MAX_QUEUE, sizeof *fixture->queue);
    assert(fixture->queue != NULL);
    for (uint32_t i = 0; i < node_count; i++) {
        start_node(fixture, i + 1);
    }
}

raft_node_id fixture_add_node(struct fixture *fixture)
{
    assert(fixture->node_count < FIXTURE_MAX_NODES);
    raft_node_id id = ++fixture->node_count;
    fixture->nodes[id - 1].joining = true;
    start_node(fixture, id);
    return id;
}

void fixture_free(struct fixture *fixture)
{
    for (uint32_t i = 0; i < fixture->node_count; i++) {
        raft_free(fixture->nodes[i].raft);
        free(fixture->nodes[i].log);
        free(fixture->nodes[i].log_data);
    }
    free(fixture->queue);
}

struct raft *fixture_raft(struct fixture *fixture, raft_node_id id)
{
    assert(is_running(fixture, id));
    return fixture->nodes[id - 1].raft;
}

static struct fixture_message *queue_slot(const struct fixture *fixture, uint32_t position)
{
    return &fixture->queue[(fixture->queue_head + position) % FIXTURE_MAX_QUEUE];
}

static void enqueue(struct fixture *fixture, const struct raft_message *message)
{
    if (!is_running(fixture, message->from) || !is_running(fixture, message->to)) {
        return; /* a member named by a configuration, with no node running */
    }
    if (fixture->nodes[message->from - 1].cut_off || fixture->nodes[message->to - 1].cut_off) {
        return;
    }
    assert(fixture->queue_count < FIXTURE_MAX_QUEUE);
    struct fixture_message *slot = queue_slot(fixture, fixture->queue_count++);
    slot->message = *message;
    slot->message.entries = NULL; /* re-pointed at delivery: slots are copied around */
    assert(message->entry_count <= FIXTURE_MAX_MESSAGE_ENTRIES);
    uint32_t used = 0;
    for (uint32_t i = 0; i < message->entry_count; i++) {
        const struct raft_entry *entry = &message->entries[i];
        slot->entries[i] = *entry;
        slot->entries[i].data = NULL;
        assert(entry->data_bytes <= FIXTURE_MAX_ENTRY_BYTES);
        assert(used + entry->data_bytes <= FIXTURE_MAX_MESSAGE_BYTES);
        if (entry->data_bytes > 0) {
            memcpy(slot->data + used, entry->data, entry->data_bytes);
        }
        used += entry->data_bytes;
    }
}

/* Points a delivered message's entries at their payloads (enqueue packed them back to back). */
static void attach_entries(struct fixture_message *delivery)
{
    struct raft_message *message = &delivery->message;
    uint32_t used = 0;
    for (uint32_t i = 0; i < message->entry_count; i++) {
        struct raft_entry *entry = &delivery->entries[i];
        entry->data = entry->data_bytes > 0 ? delivery->data + used : NULL;
        used += entry->data_bytes;
    }
    message->entries = message->entry_count > 0 ? delivery->entries : NULL;
}

/* The driver's hooks: an instant, perfect disk and the fixture's message queue. */
static bool hook_send(void *context, const struct raft_message *message)
{
    struct fixture_node *node = context;
    enqueue(node->fixture, message);
    return true;
}

static bool hook_install_snapshot(void *context, const struct raft_snapshot_meta *meta)
{
    struct fixture_node *node = context;
    node->log_last = 0; /* the fixture keeps no snapshot data; tests check metadata */
    node->applied = meta->index;
    return true;
}

static bool hook_append(void *context, const struct raft_entry *entries, size_t count)
{
    struct fixture_node *node = context;
    for (size_t i = 0; i < count; i++) {
        const struct raft_entry *entry = &entries[i];
        assert(entry->index >= 1 && entry->index <= FIXTURE_MAX_LOG);
        assert(entry->data_bytes <= FIXTURE_MAX_ENTRY_BYTES);
        node->log[entry->index - 1] = *entry;
        if (entry->data_bytes > 0) {
            memcpy(node->log_data[entry->index - 1], entry->data, entry->data_bytes);
        }
        node->log[entry->index - 1].data = node->log_data[entry->index - 1];
        node->log_last = entry->index;
    }
    return true;
}

static bool hook_sync(void *context, bool save_hard_state, const struct raft_hard_state *hard)
{
    struct fixture_node *node = context;
    if (save_hard_state) {
        node->hard_state = *hard;
    }
    driver_synced(&node->driver, 0);
    return true;
}

static bool hook_apply(void *context, const struct raft_entry *entries, size_t count)
{
    struct fixture_node *node = context;
    for (size_t i = 0; i < count; i++) {
        assert(entries[i].index == node->applied + 1);
        node->applied = entries[i].index;
        if (entries[i].type == RAFT_ENTRY_COMMAND) {
            node->applied_commands++;
        }
    }
    return true;
}

static void hook_reads(void *context, const struct raft_read_state *reads, size_t read_count,
                       const uint64_t *failed_reads, size_t failed_read_count)
{
    struct fixture_node *node = context;
    for (size_t i = 0; i < read_count && node->reads_served_count < 64; i++) {
        node->reads_served[node->reads_served_count++] = reads[i].request_id;
    }
    for (size_t i = 0; i < failed_read_count && node->reads_failed_count < 64; i++) {
        node->reads_failed[node->reads_failed_count++] = failed_reads[i];
    }
}

static void hook_soft_state(void *context, const struct raft_soft_state *soft_state)
{
    (void)context;
    (void)soft_state;
}

static void start_driver(struct fixture *fixture, struct fixture_node *node)
{
    struct driver_host host = {
        .context = node,
        .send = hook_send,
        .install_snapshot = hook_install_snapshot,
        .append = hook_append,
        .sync = hook_sync,
        .apply = hook_apply,
        .reads = hook_reads,
        .soft_state = hook_soft_state,
    };
    node->fixture = fixture;
    driver_init(&node->driver, node->raft, &host, &node->hard_state);
}

static bool drain_node(struct fixture_node *node)
{
    if (!raft_has_ready(node->raft)) {
        return false;
    }
    driver_process(&node->driver);
    return true;
}

void fixture_drain(struct fixture *fixture)
{
    bool progress = true;
    for (int rounds = 0; progress && rounds < 1000; rounds++) {
        progress = false;
        for (uint32_t i = 0; i < fixture->node_count; i++) {
            progress |= drain_node(&fixture->nodes[i]);
        }
    }
}

int fixture_step(struct fixture *fixture, const struct raft_message *message)
{
    assert(is_running(fixture, message->to));
    return raft_step(fixture->nodes[message->to - 1].raft, message);
}

/* Delivers the oldest message; its target's answers join the end of the queue. */
static bool deliver_oldest(struct fixture *fixture, struct fixture_message *delivery)
{
    if (fixture->queue_count == 0) {
        return false;
    }
    *delivery = *queue_slot(fixture, 0);
    fixture->queue_head = (fixture->queue_head + 1) % FIXTURE_MAX_QUEUE;
    fixture->queue_count--;
    attach_entries(delivery);
    if (!fixture->nodes[delivery->message.to - 1].cut_off) {
        fixture_step(fixture, &delivery->message);
    }
    fixture_drain(fixture);
    return true;
}

bool fixture_deliver_one(struct fixture *fixture)
{
    struct fixture_message *delivery = malloc(sizeof *delivery);
    assert(delivery != NULL);
    bool delivered = deliver_oldest(fixture, delivery);
    free(delivery);
    return delivered;
}

void fixture_settle(struct fixture *fixture)
{
    fixture_drain(fixture);
    struct fixture_message *delivery = malloc(sizeof *delivery);
    assert(delivery != NULL);
    for (int rounds = 0; rounds < 100000 && deliver_oldest(fixture, delivery); rounds++) {
    }
    free(delivery);
}

void fixture_elect(struct fixture *fixture, raft_node_id id)
{
    struct raft *raft = fixture_raft(fixture, id);
    for (int i = 0; i < 100 && raft_role(raft) == RAFT_FOLLOWER; i++) {
        raft_tick(raft);
    }
    fixture_settle(fixture);
}

void fixture_tick_all(struct fixture *fixture, uint32_t ticks)
{
    for (uint32_t t = 0; t < ticks; t++) {
        for (uint32_t i = 0; i < fixture->node_count; i++) {
            if (!fixture->nodes[i].cut_off) {
                raft_tick(fixture->nodes[i].raft);
            }
        }
        fixture_settle(fixture);
    }
}

int fixture_propose(struct fixture *fixture, raft_node_id id, const char *command)
{
    uint64_t index;
    uint64_t term;
    int rc = raft_propose(fixture_raft(fixture, id), (const uint8_t *)command,
                          (uint32_t)strlen(command), &index, &term);
    fixture_drain(fixture);
    return rc;
}

int fixture_change(struct fixture *fixture, raft_node_id leader, uint8_t type, raft_node_id id,
                   bool force)
{
    struct raft_change change = {.type = type, .id = id, .force = force};
    uint64_t index;
    uint64_t term;
    int rc = raft_propose_change(fixture_raft(fixture, leader), &change, NULL, 0, &index, &term);
    fixture_drain(fixture);
    return rc;
}

void fixture_restart(struct fixture *fixture, raft_node_id id)
{
    raft_free(fixture->nodes[id - 1].raft);
    start_node(fixture, id);
}

void fixture_clear_queue(struct fixture *fixture)
{
    fixture->queue_count = 0;
    fixture->queue_head = 0;
}

uint32_t fixture_count_queued(const struct fixture *fixture, int type, raft_node_id from)
{
    uint32_t count = 0;
    for (uint32_t i = 0; i < fixture->queue_count; i++) {
        const struct raft_message *message = &queue_slot(fixture, i)->message;
        if ((type == 0 || message->type == type) && (from == 0 || message->from == from)) {
            count++;
        }
    }
    return count;
}

const struct raft_message *fixture_queued(const struct fixture *fixture, uint32_t position)
{
    assert(position < fixture->queue_count);
    return &queue_slot(fixture, position)->message;
}
