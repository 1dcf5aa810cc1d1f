/*
 * network.c — the simulated network between the cores.
 *
 * Happy path: net_send() deep-copies a message the core wants sent (entries, and for
 * RAFT_MSG_SNAPSHOT a copy of the sender's stored snapshot) into the in-flight set with a
 * delivery time a random delay ahead; net_deliver_next() hands due messages, oldest sequence
 * first, to the receiving node's core and lets its host process the ready that results.
 *
 * Faults: messages are dropped (at random, or because a link is cut when they are sent or when
 * they arrive), duplicated, delayed long enough to be reordered, and lost when the receiver is
 * down. Partitions cut links: a symmetric split into majority and minority, a one-way cut, an
 * isolated node (often the leader), and a bridge (two halves that only one node reaches).
 * The fate of a snapshot message is reported back to its sender (raft_report_snapshot), and a
 * message refused by a cut link is reported as unreachable, as a failed connection would be.
 */
#include "sim.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void net_init(struct sim_network *network)
{
    memset(network, 0, sizeof(*network));
    network->next_sequence = 1;
}

static void message_free(struct sim_message *message)
{
    for (uint32_t i = 0; i < message->message.entry_count; i++) {
        free(message->message.entries[i].data);
    }
    free(message->message.entries);
    message->message.entries = NULL;
    if (message->has_snapshot) {
        snapshot_free(&message->snapshot);
    }
}

void net_free(struct sim_network *network)
{
    for (size_t i = 0; i < network->flight_count; i++) {
        message_free(&network->flight[i]);
    }
    free(network->flight);
    network->flight = NULL;
    network->flight_count = 0;
}

void snapshot_copy(struct sim_snapshot *to, const struct sim_snapshot *from)
{
    to->meta = from->meta;
    size_t bytes = (size_t)from->meta.index * sizeof(struct sim_record);
    to->records = malloc(bytes > 0 ? bytes : 1);
    assert(to->records != NULL);
    if (bytes > 0) {
        memcpy(to->records, from->records, bytes);
    }
}

void snapshot_free(struct sim_snapshot *snapshot)
{
    free(snapshot->records);
    snapshot->records = NULL;
}

static void message_copy(struct raft_message *to, const struct raft_message *from)
{
    *to = *from;
    to->entries = NULL;
    if (from->entry_count == 0) {
        return;
    }
    to->entries = calloc(from->entry_count, sizeof(*to->entries));
    assert(to->entries != NULL);
    for (uint32_t i = 0; i < from->entry_count; i++) {
        to->entries[i] = from->entries[i];
        to->entries[i].data = NULL;
        if (from->entries[i].data_bytes > 0) {
            to->entries[i].data = malloc(from->entries[i].data_bytes);
            assert(to->entries[i].data != NULL);
            memcpy(to->entries[i].data, from->entries[i].data, from->entries[i].data_bytes);
        }
    }
}

/* Through the driver, as the server's transport reports: held while a ready is open. */
static void defer_report(struct sim *sim, struct sim_node *node, bool is_snapshot, raft_node_id to,
                         bool success)
{
    (void)sim;
    if (is_snapshot) {
        driver_report_snapshot(&node->driver, to, success);
    } else {
        driver_report_unreachable(&node->driver, to);
    }
}

static uint64_t pick_delay_ms(struct sim *sim)
{
    struct sim_network *network = &sim->network;
    if (sim_prng_chance(&sim->prng, network->long_delay_per_million)) {
        return 1 + sim_prng_below(&sim->prng, network->max_long_delay_ms);
    }
    return 1 + sim_prng_below(&sim->prng, network->max_delay_ms);
}

static struct sim_message *flight_push(struct sim_network *network)
{
    if (network->flight_count == network->flight_capacity) {
        size_t capacity = network->flight_capacity ? network->flight_capacity * 2 : 64;
        network->flight = realloc(network->flight, capacity * sizeof(*network->flight));
        assert(network->flight != NULL);
        network->flight_capacity = capacity;
    }
    struct sim_message *slot = &network->flight[network->flight_count++];
    memset(slot, 0, sizeof(*slot));
    slot->sequence = network->next_sequence++;
    return slot;
}

static bool attach_snapshot(struct sim *sim, struct sim_node *from, struct sim_message *slot)
{
    const struct raft_message *message = &slot->message;
    if (!from->disk.has_snapshot || from->disk.snapshot.meta.index != message->snapshot.index ||
        from->disk.snapshot.meta.term != message->snapshot.term) {
        sim_violation(sim, SIM_RULE_CONTRACT,
                      "node %llu sent SNAPSHOT %llu/%llu but its stored snapshot is %llu/%llu",
                      (unsigned long long)from->id, (unsigned long long)message->snapshot.index,
                      (unsigned long long)message->snapshot.term,
                      (unsigned long long)from->disk.snapshot.meta.index,
                      (unsigned long long)from->disk.snapshot.meta.term);
        return false;
    }
    snapshot_copy(&slot->snapshot, &from->disk.snapshot);
    slot->has_snapshot = true;
    return true;
}

void net_send(struct sim *sim, struct sim_node *from, const struct raft_message *message)
{
    int to = (int)message->to - 1;
    if (message->from != from->id || to < 0 || to >= (int)sim->node_count ||
        message->to == from->id || message->type == 0 || message->type > RAFT_MSG_TYPE_MAX) {
        sim_violation(sim, SIM_RULE_CONTRACT,
                      "node %llu emitted a malformed message type=%d "
                      "from=%llu to=%llu",
                      (unsigned long long)from->id, message->type,
                      (unsigned long long)message->from, (unsigned long long)message->to);
        return;
    }
    int from_index = (int)from->id - 1;
    bool is_snapshot = message->type == RAFT_MSG_SNAPSHOT;
    if (sim->network.cut[from_index][to]) {
        sim_trace(sim, "net: %llu->%llu %s refused (link cut)", (unsigned long long)from->id,
                  (unsigned long long)message->to, raft_message_type_string(message->type));
        defer_report(sim, from, false, message->to, false);
        if (is_snapshot) {
            defer_report(sim, from, true, message->to, false);
        }
        return;
    }
    bool full = sim->network.flight_count >= SIM_MAX_FLIGHT_MESSAGES;
    if (sim_prng_chance(&sim->prng, sim->network.drop_per_million) || full) {
        sim_trace(sim, "net: %llu->%llu %s dropped", (unsigned long long)from->id,
                  (unsigned long long)message->to, raft_message_type_string(message->type));
        if (is_snapshot) {
            defer_report(sim, from, true, message->to, false);
        }
        return;
    }
    int copies = sim_prng_chance(&sim->prng, sim->network.duplicate_per_million) ? 2 : 1;
    for (int copy = 0; copy < copies; copy++) {
        struct sim_message *slot = flight_push(&sim->network);
        message_copy(&slot->message, message);
        slot->deliver_at_ms = sim->now_ms + pick_delay_ms(sim);
        if (slot->deliver_at_ms < sim->network.earliest_due_ms) {
            sim->network.earliest_due_ms = slot->deliver_at_ms;
        }
        slot->sender_incarnation = from->incarnation;
        slot->report_snapshot = is_snapshot && copy == 0;
        if (is_snapshot && !attach_snapshot(sim, from, slot)) {
            return;
        }
    }
}

static void report_snapshot_fate(struct sim *sim, const struct sim_message *slot, bool success)
{
    if (!slot->report_snapshot) {
        return;
    }
    struct sim_node *sender = &sim->nodes[slot->message.from - 1];
    if (!sender->up || sender->incarnation != slot->sender_incarnation) {
        return;
    }
    driver_report_snapshot(&sender->driver, slot->message.to, success);
    sim_trace(sim, "host %llu: report_snapshot(to=%llu, %s)", (unsigned long long)sender->id,
              (unsigned long long)slot->message.to, success ? "done" : "failed");
    host_process(sim, sender);
}

static void trace_delivery(struct sim *sim, const struct raft_message *m)
{
    sim_trace(sim, "net: %llu->%llu %s term=%llu idx=%llu lterm=%llu commit=%llu n=%u%s%s",
              (unsigned long long)m->from, (unsigned long long)m->to,
              raft_message_type_string(m->type), (unsigned long long)m->term,
              (unsigned long long)m->index, (unsigned long long)m->log_term,
              (unsigned long long)m->commit, m->entry_count, m->reject ? " reject" : "",
              m->type == RAFT_MSG_SNAPSHOT ? " (snapshot)" : "");
}

static void deliver(struct sim *sim, struct sim_message *slot)
{
    struct raft_message *message = &slot->message;
    struct sim_node *receiver = &sim->nodes[message->to - 1];
    bool cut = sim->network.cut[message->from - 1][message->to - 1];
    if (cut || !receiver->up) {
        sim_trace(sim, "net: %llu->%llu %s lost (%s)", (unsigned long long)message->from,
                  (unsigned long long)message->to, raft_message_type_string(message->type),
                  cut ? "link cut" : "receiver down");
        report_snapshot_fate(sim, slot, false);
        return;
    }
    trace_delivery(sim, message);
    if (slot->has_snapshot) {
        if (receiver->has_incoming_snapshot) {
            snapshot_free(&receiver->incoming_snapshot);
        }
        receiver->incoming_snapshot = slot->snapshot;
        receiver->has_incoming_snapshot = true;
        slot->has_snapshot = false; /* ownership moved to the receiver */
    }
    int rc = raft_step(receiver->core, message);
    if (rc != 0) {
        sim_trace(sim, "host %llu: raft_step: %s", (unsigned long long)receiver->id,
                  raft_error_string(rc));
    }
    host_process(sim, receiver);
    report_snapshot_fate(sim, slot, true);
}

bool net_deliver_next(struct sim *sim)
{
    struct sim_network *network = &sim->network;
    if (sim->now_ms < network->earliest_due_ms) {
        return false; /* nothing in flight is due yet: no need to look */
    }
    size_t best = network->flight_count;
    uint64_t earliest_other = UINT64_MAX;
    for (size_t i = 0; i < network->flight_count; i++) {
        const struct sim_message *slot = &network->flight[i];
        if (slot->deliver_at_ms > sim->now_ms) {
            earliest_other =
                slot->deliver_at_ms < earliest_other ? slot->deliver_at_ms : earliest_other;
            continue;
        }
        if (best == network->flight_count || slot->sequence < network->flight[best].sequence) {
            if (best != network->flight_count) {
                earliest_other = sim->now_ms; /* the one passed over is due too */
            }
            best = i;
        } else {
            earliest_other = sim->now_ms;
        }
    }
    network->earliest_due_ms = earliest_other;
    if (best == network->flight_count) {
        return false;
    }
    /* Take it out first: delivering may send (and so grow the array). */
    struct sim_message slot = network->flight[best];
    network->flight[best] = network->flight[network->flight_count - 1];
    network->flight_count--;
    deliver(sim, &slot);
    message_free(&slot);
    return true;
}

void net_heal(struct sim *sim)
{
    if (sim->network.partitioned) {
        sim_trace(sim, "fault: partition healed");
        sim_narrate(sim, "the network heals");
    }
    memset(sim->network.cut, 0, sizeof(sim->network.cut));
    sim->network.partitioned = false;
}

static void cut_between(struct sim *sim, const bool *side, bool both_ways)
{
    for (uint32_t a = 0; a < sim->node_count; a++) {
        for (uint32_t b = 0; b < sim->node_count; b++) {
            if (side[a] && !side[b]) {
                sim->network.cut[a][b] = true;
                sim->network.cut[b][a] = both_ways;
            }
        }
    }
}

void net_isolate(struct sim *sim, int node)
{
    bool side[SIM_MAX_NODES] = {false};
    side[node] = true;
    cut_between(sim, side, true);
    sim->network.partitioned = true;
}

static int current_leader(struct sim *sim)
{
    for (uint32_t i = 0; i < sim->node_count; i++) {
        if (sim->nodes[i].up && raft_role(sim->nodes[i].core) == RAFT_LEADER) {
            return (int)i;
        }
    }
    return -1;
}

/* The nodes a partition may cut off: every node still running or due back (not retired). */
struct sim_active {
    uint32_t slots[SIM_MAX_NODES];
    uint32_t count;
};

static void active_nodes(const struct sim *sim, struct sim_active *active)
{
    active->count = 0;
    for (uint32_t i = 0; i < sim->node_count; i++) {
        if (!sim->nodes[i].retired) {
            active->slots[active->count++] = i;
        }
    }
}

/* Marks `count` distinct random active nodes in side[], starting with `first` when it is
 * >= 0. */
static void pick_side(struct sim *sim, const struct sim_active *active, bool *side, uint32_t count,
                      int first)
{
    assert(count <= active->count);
    uint32_t chosen = 0;
    if (first >= 0) {
        side[first] = true;
        chosen++;
    }
    while (chosen < count) {
        uint32_t candidate = active->slots[sim_prng_below(&sim->prng, active->count)];
        if (!side[candidate]) {
            side[candidate] = true;
            chosen++;
        }
    }
}

void net_partition_random(struct sim *sim, uint64_t duration_ms)
{
    bool side[SIM_MAX_NODES] = {false};
    struct sim_active active;
    active_nodes(sim, &active);
    uint32_t n = active.count;
    if (n == 0) {
        return;
    }
    uint32_t minority = n > 2 ? (n - 1) / 2 : 1; /* a lone node, in clusters of 1 or 2 */
    int leader = current_leader(sim);
    const char *kind = "";
    uint64_t roll = sim_prng_below(&sim->prng, 5);
    if (sim->faults.leader_churn && leader >= 0 && sim_prng_chance(&sim->prng, 600000)) {
        roll = 5; /* the leader alone, so that its newest entries stay local (Figure 8) */
    }
    switch (roll) {
    case 0: /* majority | minority, both ways */
        pick_side(sim, &active, side, 1 + (uint32_t)sim_prng_below(&sim->prng, minority), -1);
        cut_between(sim, side, true);
        kind = "symmetric split";
        break;
    case 1: /* the leader (with perhaps a minority of followers) cut off */
        pick_side(sim, &active, side, 1 + (uint32_t)sim_prng_below(&sim->prng, minority), leader);
        cut_between(sim, side, true);
        kind = leader >= 0 ? "leader isolated in a minority" : "minority isolated";
        break;
    case 2: /* one-way: a node's messages out are lost, its inbox still works */
        pick_side(sim, &active, side, 1, sim_prng_chance(&sim->prng, 500000) ? leader : -1);
        cut_between(sim, side, false);
        kind = "one-way cut";
        break;
    case 3: { /* bridge: halves A and B see only the bridge node, which sees both */
        uint32_t bridge = active.slots[sim_prng_below(&sim->prng, n)];
        pick_side(sim, &active, side, 1, (int)bridge);
        pick_side(sim, &active, side, 1 + (n - 1) / 2, (int)bridge);
        side[bridge] = false;
        cut_between(sim, side, true);
        for (uint32_t i = 0; i < sim->node_count; i++) {
            sim->network.cut[i][bridge] = false;
            sim->network.cut[bridge][i] = false;
        }
        kind = "bridge";
        break;
    }
    default: /* one node alone, both ways */
        pick_side(sim, &active, side, 1,
                  roll == 5 || sim_prng_chance(&sim->prng, 500000) ? leader : -1);
        cut_between(sim, side, true);
        kind = "node isolated";
        break;
    }
    char members[64] = {0};
    size_t used = 0;
    for (uint32_t i = 0; i < sim->node_count && used + 4 < sizeof(members); i++) {
        if (side[i]) {
            used += (size_t)snprintf(members + used, sizeof(members) - used, "%s%u",
                                     used ? "," : "", i + 1);
        }
    }
    sim->network.partitioned = true;
    sim->network.heal_at_ms = sim->now_ms + duration_ms;
    sim_trace(sim, "fault: partition (%s) side={%s} for %llums", kind, members,
              (unsigned long long)duration_ms);
    sim_narrate(sim, "partition: %s, nodes {%s} cut off for %llu ms", kind, members,
                (unsigned long long)duration_ms);
}
