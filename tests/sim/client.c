/*
 * client.c — the simulated client: unique commands, linearizable reads, their outcomes.
 *
 * Happy path: every tick round the client may propose a new command (a unique 64-bit id and
 * some padding) to the node it believes leads, and may ask it for a read index. It follows the
 * raft_leader() hint when told NOT_LEADER. A proposal is acknowledged when the proposing node
 * applies an entry at the index raft_propose returned with the term it returned (raft.h);
 * another term there means the command was lost, which is allowed for an unacknowledged one.
 * A read remembers the highest index acknowledged before it was asked; when the core serves it
 * at index r (and the state machine has applied r), Read Safety requires r >= that index.
 *
 * Failure modes: a crash forgets the node's pending proposals and reads (never acknowledged);
 * a full pending list forgets the oldest proposal. Ids are never retried, so a command applied
 * twice can only come from the core.
 */
#include "sim.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void client_init(struct sim_client *client)
{
    memset(client, 0, sizeof(*client));
    client->next_command = 1;
    client->next_read_id = 1;
}

void client_free(struct sim_client *client)
{
    free(client->acked_index);
    memset(client, 0, sizeof(*client));
}

/* The node the client will talk to, or NULL when it picked a node that is down. */
static struct sim_node *client_target(struct sim *sim, uint32_t stranger_per_million)
{
    struct sim_client *client = &sim->client;
    /* Sometimes another client, with its own idea of the leader, makes the request: a node
     * cut off from the cluster that still believes it leads must then refuse or stall it. */
    if (sim_prng_chance(&sim->prng, stranger_per_million)) {
        struct sim_node *stranger = &sim->nodes[sim_prng_below(&sim->prng, sim->node_count)];
        return stranger->up ? stranger : NULL;
    }
    struct sim_node *node = &sim->nodes[client->believed_leader];
    if (!node->up) {
        client->believed_leader = (int)sim_prng_below(&sim->prng, sim->node_count);
        return NULL;
    }
    return node;
}

static void follow_hint(struct sim *sim, struct sim_node *node)
{
    raft_node_id leader = raft_leader(node->core);
    if (leader != RAFT_NODE_NONE && leader != node->id && leader <= sim->node_count) {
        sim->client.believed_leader = (int)leader - 1;
    } else {
        sim->client.believed_leader = (int)sim_prng_below(&sim->prng, sim->node_count);
    }
}

static void propose(struct sim *sim)
{
    struct sim_client *client = &sim->client;
    struct sim_node *node = client_target(sim, sim->faults.stranger_proposals_per_million);
    if (node == NULL) {
        return;
    }
    uint8_t data[SIM_COMMAND_HEADER_BYTES + SIM_MAX_PAD_BYTES];
    uint64_t command = client->next_command;
    for (int i = 0; i < SIM_COMMAND_HEADER_BYTES; i++) {
        data[i] = (uint8_t)(command >> (8 * i));
    }
    uint32_t pad = (uint32_t)sim_prng_below(&sim->prng, SIM_MAX_PAD_BYTES + 1);
    for (uint32_t i = 0; i < pad; i++) {
        data[SIM_COMMAND_HEADER_BYTES + i] = (uint8_t)sim_prng_next(&sim->prng);
    }
    uint64_t index = 0;
    uint64_t term = 0;
    int rc = raft_propose(node->core, data, SIM_COMMAND_HEADER_BYTES + pad, &index, &term);
    if (rc != 0) {
        sim_trace(sim, "client: propose cmd %llu to %llu: %s", (unsigned long long)command,
                  (unsigned long long)node->id, raft_error_string(rc));
        if (rc == RAFT_ERROR_NOT_LEADER) {
            follow_hint(sim, node);
        }
        return;
    }
    client->next_command++;
    if (client->pending_count == SIM_MAX_PENDING_PROPOSALS) {
        memmove(client->pending, client->pending + 1,
                (SIM_MAX_PENDING_PROPOSALS - 1) * sizeof(client->pending[0]));
        client->pending_count--;
    }
    struct sim_proposal *proposal = &client->pending[client->pending_count++];
    proposal->command = command;
    proposal->node = (int)node->id - 1;
    proposal->incarnation = node->incarnation;
    proposal->index = index;
    proposal->term = term;
    proposal->proposed_at_ms = sim->now_ms;
    sim_trace(sim, "client: cmd %llu proposed at %llu -> index %llu term %llu",
              (unsigned long long)command, (unsigned long long)node->id, (unsigned long long)index,
              (unsigned long long)term);
    host_process(sim, node);
}

static void request_read(struct sim *sim)
{
    struct sim_client *client = &sim->client;
    struct sim_node *node = client_target(sim, sim->faults.stranger_reads_per_million);
    /* Followers serve reads too, through their leader's read index (§6.4). */
    if (sim_prng_chance(&sim->prng, SIM_FOLLOWER_READS_PER_MILLION)) {
        struct sim_node *any = &sim->nodes[sim_prng_below(&sim->prng, sim->node_count)];
        node = any->up ? any : NULL;
    }
    if (node == NULL || node->read_count == SIM_MAX_PENDING_READS) {
        return;
    }
    uint64_t id = client->next_read_id++;
    bool lease = sim_prng_chance(&sim->prng, 500000);
    int rc = lease ? raft_read_lease(node->core, id) : raft_read_index(node->core, id);
    if (rc != 0) {
        sim_trace(sim, "client: read %llu at %llu: %s", (unsigned long long)id,
                  (unsigned long long)node->id, raft_error_string(rc));
        if (rc == RAFT_ERROR_NOT_LEADER) {
            follow_hint(sim, node);
        }
        return;
    }
    struct sim_read *read = &node->reads[node->read_count++];
    read->request_id = id;
    read->required_index = client->max_acked_index;
    read->served_index = 0;
    sim_trace(sim, "client: %sread %llu at %llu (must see index %llu)", lease ? "lease " : "",
              (unsigned long long)id, (unsigned long long)node->id,
              (unsigned long long)read->required_index);
    host_process(sim, node);
}

static void transfer(struct sim *sim)
{
    for (uint32_t i = 0; i < sim->node_count; i++) {
        struct sim_node *node = &sim->nodes[i];
        if (!node->up || raft_role(node->core) != RAFT_LEADER) {
            continue;
        }
        raft_node_id target = 1 + sim_prng_below(&sim->prng, sim->node_count);
        if (target == node->id) {
            return;
        }
        int rc = raft_transfer_leadership(node->core, target);
        sim_trace(sim, "client: transfer leadership %llu -> %llu: %s", (unsigned long long)node->id,
                  (unsigned long long)target, raft_error_string(rc));
        host_process(sim, node);
        return;
    }
}

static bool awaiting_proposal(const struct sim *sim)
{
    for (size_t i = 0; i < sim->client.pending_count; i++) {
        if (sim->client.pending[i].proposed_at_ms + SIM_CLIENT_PATIENCE_MS > sim->now_ms) {
            return true;
        }
    }
    return false;
}

void client_act(struct sim *sim)
{
    /* In the liveness phase one proposal is awaited at a time (the client gives up on one
     * after SIM_CLIENT_PATIENCE_MS: it may sit at an index of a deposed leader's log that the
     * cluster reaches only later), and proposals stop once one has been acknowledged: the
     * phase measures recovery, not throughput. */
    bool may_propose =
        !sim->liveness_phase || (sim->client.liveness_command == 0 && !awaiting_proposal(sim));
    if (may_propose && sim_prng_chance(&sim->prng, sim->faults.propose_per_million)) {
        propose(sim);
    }
    if (sim->violation == SIM_RULE_NONE &&
        sim_prng_chance(&sim->prng, sim->faults.read_per_million)) {
        request_read(sim);
    }
    if (sim->violation == SIM_RULE_NONE && sim->faults.enabled &&
        sim_prng_chance(&sim->prng, sim->faults.transfer_per_million)) {
        transfer(sim);
    }
}

static void acknowledge(struct sim *sim, const struct sim_proposal *proposal)
{
    struct sim_client *client = &sim->client;
    uint64_t command = proposal->command;
    if (command >= client->acked_capacity) {
        size_t capacity = client->acked_capacity ? client->acked_capacity : 256;
        while (capacity <= command) {
            capacity *= 2;
        }
        client->acked_index = realloc(client->acked_index, capacity * sizeof(uint64_t));
        assert(client->acked_index != NULL);
        memset(client->acked_index + client->acked_capacity, 0,
               (capacity - client->acked_capacity) * sizeof(uint64_t));
        client->acked_capacity = capacity;
    }
    client->acked_index[command] = proposal->index;
    client->acked_count++;
    if (proposal->index > client->max_acked_index) {
        client->max_acked_index = proposal->index;
    }
    if (client->liveness_first_command != 0 && command >= client->liveness_first_command &&
        client->liveness_command == 0) {
        client->liveness_command = command;
    }
    sim_trace(sim, "client: cmd %llu acknowledged at index %llu", (unsigned long long)command,
              (unsigned long long)proposal->index);
}

/* Resolves one pending proposal against the entry applied at its index. */
static void resolve(struct sim *sim, const struct sim_proposal *proposal,
                    const struct sim_node *node, const struct sim_record *record)
{
    if (record->term == proposal->term && record->command != proposal->command) {
        sim_violation(sim, SIM_RULE_STATE_MACHINE_SAFETY,
                      "raft_propose placed cmd %llu at index %llu term %llu, but node %llu "
                      "applied cmd %llu there",
                      (unsigned long long)proposal->command, (unsigned long long)proposal->index,
                      (unsigned long long)proposal->term, (unsigned long long)node->id,
                      (unsigned long long)record->command);
        return;
    }
    if (record->term == proposal->term) {
        acknowledge(sim, proposal);
        return;
    }
    sim_trace(sim, "client: cmd %llu lost (index %llu has term %llu, not %llu)",
              (unsigned long long)proposal->command, (unsigned long long)proposal->index,
              (unsigned long long)record->term, (unsigned long long)proposal->term);
}

void client_on_apply(struct sim *sim, struct sim_node *node, uint64_t index,
                     const struct sim_record *record)
{
    struct sim_client *client = &sim->client;
    size_t kept = 0;
    /* A node may hold several proposals for one index, made in different terms. */
    for (size_t i = 0; i < client->pending_count; i++) {
        struct sim_proposal *proposal = &client->pending[i];
        if (proposal->node == (int)node->id - 1 && proposal->incarnation == node->incarnation &&
            proposal->index == index) {
            resolve(sim, proposal, node, record);
            continue;
        }
        client->pending[kept++] = *proposal;
    }
    client->pending_count = kept;
}

void client_on_crash(struct sim *sim, struct sim_node *node)
{
    struct sim_client *client = &sim->client;
    size_t kept = 0;
    for (size_t i = 0; i < client->pending_count; i++) {
        if (client->pending[i].node != (int)node->id - 1) {
            client->pending[kept++] = client->pending[i];
        }
    }
    client->pending_count = kept;
}

void client_on_read(struct sim *sim, struct sim_node *node, struct sim_read *read)
{
    sim->client.reads_served++;
    sim_trace(sim, "client: read %llu served by %llu at index %llu (needs %llu)",
              (unsigned long long)read->request_id, (unsigned long long)node->id,
              (unsigned long long)read->served_index, (unsigned long long)read->required_index);
    if (read->served_index < read->required_index) {
        sim_violation(sim, SIM_RULE_READ_SAFETY,
                      "node %llu served read %llu at index %llu, but "
                      "index %llu was acknowledged before the read was asked",
                      (unsigned long long)node->id, (unsigned long long)read->request_id,
                      (unsigned long long)read->served_index,
                      (unsigned long long)read->required_index);
    }
}

/* Done when the liveness command is applied on every member of the newest leader's
 * configuration, and everything acknowledged with it. */
bool client_liveness_done(struct sim *sim)
{
    uint64_t command = sim->client.liveness_command;
    bool members[SIM_MAX_NODES];
    if (command == 0 || !operator_members(sim, members)) {
        return false;
    }
    for (uint32_t i = 0; i < sim->node_count; i++) {
        const struct sim_node *node = &sim->nodes[i];
        if (!members[i]) {
            continue;
        }
        if (!node->up || command >= node->applied_at_capacity || node->applied_at[command] == 0 ||
            node->applied < sim->client.max_acked_index) {
            return false;
        }
    }
    return true;
}
