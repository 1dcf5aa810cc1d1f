/*
 * operator.c — the cluster's operator: random membership changes, and the node processes
 * they start and stop.
 *
 * Happy path: every tick round, with probability faults.change_per_million, the operator asks
 * a leader for one change (raft_propose_change) drawn from what its configuration allows
 * within SIM_MAX_VOTERS voters and SIM_MAX_LEARNERS learners: add a learner, promote a
 * learner (retried while the core answers NOT_CAUGHT_UP), demote a voter, or remove a voter
 * or a learner — the leader itself too. An added learner gets the next unused id, above every
 * id any configuration ever held, and the operator starts its node process at once on an
 * empty disk with an EMPTY configuration, as a new machine joins: it waits until the leader's
 * APPENDs (or a snapshot) bring it the log. With faults.change_after_election the operator
 * also proposes a change of the voters, forced, the moment it sees a leader of a new term,
 * before that leader can have committed anything (the window the change-before-term-commit
 * sabotage needs).
 *
 * Outcomes: a change is settled once the checker knows which entry is committed at its index
 * (sim_checker.committed): with the change's term the change took effect, with another it was
 * lost. A node whose removal took effect is shut down for good a little later (a removed
 * machine runs on until its operator stops it; meanwhile it may campaign in vain); so is the
 * node of an added learner whose addition was lost. Crashes, partitions and message faults go
 * on throughout: changes are proposed to leaders that are about to be cut off, and new nodes
 * crash and restart like any other.
 *
 * Failure modes: none of its own. What the core refuses is traced; the checker judges the
 * rest.
 */
#include "sim.h"

#include <assert.h>
#include <string.h>

#define SIM_ELECTION_MS (SIM_ELECTION_TIMEOUT_TICKS * SIM_TICK_MS)

static const char *change_name(uint8_t type)
{
    switch (type) {
    case RAFT_CHANGE_ADD_LEARNER:
        return "add-learner";
    case RAFT_CHANGE_PROMOTE:
        return "promote";
    case RAFT_CHANGE_DEMOTE:
        return "demote";
    case RAFT_CHANGE_REMOVE:
        return "remove";
    }
    return "unknown";
}

bool sim_configuration_equal(const struct raft_configuration *a, const struct raft_configuration *b)
{
    if (a->voter_count != b->voter_count || a->learner_count != b->learner_count ||
        a->highest_id != b->highest_id) {
        return false;
    }
    assert(a->voter_count <= RAFT_MAX_NODES);
    assert(a->learner_count <= RAFT_MAX_NODES);
    return memcmp(a->voters, b->voters, a->voter_count * sizeof(a->voters[0])) == 0 &&
           memcmp(a->learners, b->learners, a->learner_count * sizeof(a->learners[0])) == 0;
}

static struct sim_node *node_of(struct sim *sim, raft_node_id id)
{
    if (id == RAFT_NODE_NONE || id > sim->node_count) {
        return NULL;
    }
    struct sim_node *node = &sim->nodes[id - 1];
    assert(node->id == id);
    return node;
}

/* ---- outcomes and retirement ------------------------------------------------------------ */

static void schedule_retire(struct sim *sim, raft_node_id id, const char *why)
{
    struct sim_node *node = node_of(sim, id);
    if (node == NULL || node->retired || node->retire_at_ms != 0) {
        return;
    }
    uint32_t max_delay_ms = sim->liveness_phase ? 0 : sim->faults.max_retire_delay_ms;
    uint64_t delay_ms = max_delay_ms == 0 ? 0 : sim_prng_below(&sim->prng, max_delay_ms);
    node->retire_at_ms = sim->now_ms + delay_ms + 1;
    sim_trace(sim, "operator: node %llu will shut down in %llu ms (%s)", (unsigned long long)id,
              (unsigned long long)delay_ms + 1, why);
}

/* Settles each pending change whose index the checker knows to be committed. */
static void settle_changes(struct sim *sim)
{
    struct sim_operator *operator_state = &sim->operator_state;
    const struct sim_checker *checker = &sim->checker;
    size_t kept = 0;
    for (size_t i = 0; i < operator_state->pending_count; i++) {
        struct sim_change *pending = &operator_state->pending[i];
        bool known = pending->index < checker->committed_capacity &&
                     checker->committed[pending->index].known;
        if (!known) {
            operator_state->pending[kept++] = *pending;
            continue;
        }
        bool took_effect = checker->committed[pending->index].term == pending->term;
        sim_trace(sim, "operator: %s %llu (index %llu term %llu) %s",
                  change_name(pending->change.type), (unsigned long long)pending->change.id,
                  (unsigned long long)pending->index, (unsigned long long)pending->term,
                  took_effect ? "took effect" : "was lost");
        if (took_effect) {
            operator_state->committed++;
            if (pending->change.type == RAFT_CHANGE_REMOVE) {
                schedule_retire(sim, pending->change.id, "removed");
            }
        } else {
            operator_state->lost++;
            if (pending->change.type == RAFT_CHANGE_ADD_LEARNER) {
                schedule_retire(sim, pending->change.id, "its addition was lost");
            }
        }
    }
    operator_state->pending_count = kept;
}

static void retire_due(struct sim *sim)
{
    for (uint32_t i = 0; i < sim->node_count && sim->violation == SIM_RULE_NONE; i++) {
        struct sim_node *node = &sim->nodes[i];
        if (!node->retired && node->retire_at_ms != 0 && node->retire_at_ms <= sim->now_ms) {
            host_retire(sim, node);
        }
    }
}

/* ---- choosing a change ------------------------------------------------------------------ */

static raft_node_id pick_id(struct sim *sim, const raft_node_id *ids, uint32_t count)
{
    assert(count > 0);
    return ids[sim_prng_below(&sim->prng, count)];
}

/* A voter other than the leader whose node is down, or none: the one an operator replacing a
 * dead machine removes (forced — a dead voter cannot answer). */
static raft_node_id down_voter(struct sim *sim, const struct sim_node *leader,
                               const struct raft_configuration *configuration)
{
    raft_node_id down[RAFT_MAX_NODES];
    uint32_t count = 0;
    for (uint32_t i = 0; i < configuration->voter_count; i++) {
        raft_node_id id = configuration->voters[i];
        const struct sim_node *node = node_of(sim, id);
        if (id != leader->id && node != NULL && !node->up) {
            down[count++] = id;
        }
    }
    return count == 0 ? RAFT_NODE_NONE : pick_id(sim, down, count);
}

/* Right after an election: a forced change of the voters (no follower has answered the new
 * leader yet, so the live-majority guard would refuse any other, and no learner can be shown
 * caught up): the removal of a voter that is down, else a follower's removal or demotion. */
static bool choose_voter_change(struct sim *sim, const struct sim_node *leader,
                                const struct raft_configuration *configuration,
                                struct raft_change *change)
{
    raft_node_id followers[RAFT_MAX_NODES];
    uint32_t follower_count = 0;
    for (uint32_t i = 0; i < configuration->voter_count; i++) {
        if (configuration->voters[i] != leader->id) {
            followers[follower_count++] = configuration->voters[i];
        }
    }
    if (follower_count == 0 || configuration->voter_count < sim->faults.target_voters) {
        return false; /* none to spare */
    }
    memset(change, 0, sizeof(*change));
    change->force = true;
    change->type = RAFT_CHANGE_REMOVE;
    change->id = down_voter(sim, leader, configuration);
    if (change->id != RAFT_NODE_NONE && sim_prng_chance(&sim->prng, 700000)) {
        return true;
    }
    bool demote =
        configuration->learner_count < SIM_MAX_LEARNERS && sim_prng_chance(&sim->prng, 500000);
    change->type = demote ? RAFT_CHANGE_DEMOTE : RAFT_CHANGE_REMOVE;
    change->id = pick_id(sim, followers, follower_count);
    return true;
}

/* Weights of add, promote, demote and remove: toward faults.target_voters when it is set,
 * else add 3, promote 3, demote 1, remove 2. */
static void change_weights(const struct sim *sim, uint32_t voters, uint32_t weights[4])
{
    uint32_t target = sim->faults.target_voters;
    static const uint32_t free_walk[4] = {3, 3, 1, 2};
    static const uint32_t grow[4] = {2, 4, 0, 1};
    static const uint32_t shrink[4] = {1, 0, 2, 3};
    static const uint32_t stay[4] = {1, 2, 2, 2};
    const uint32_t *chosen = target == 0       ? free_walk
                             : voters < target ? grow
                             : voters > target ? shrink
                                               : stay;
    memcpy(weights, chosen, 4 * sizeof(weights[0]));
}

/* Draws a change the configuration allows, within the operator's size limits; false when
 * none fits. */
static bool choose_change(struct sim *sim, const struct sim_node *leader,
                          const struct raft_configuration *configuration,
                          struct raft_change *change)
{
    struct sim_operator *operator_state = &sim->operator_state;
    uint32_t voters = configuration->voter_count;
    uint32_t learners = configuration->learner_count;
    bool can_add = learners < SIM_MAX_LEARNERS && sim->node_count < SIM_MAX_NODES;
    bool can_promote = learners > 0 && voters < SIM_MAX_VOTERS;
    bool can_demote = voters > 1 && learners < SIM_MAX_LEARNERS;
    bool can_remove = voters > 1 || learners > 0;
    memset(change, 0, sizeof(*change));
    change->force = sim_prng_chance(&sim->prng, sim->faults.force_per_million);
    raft_node_id wanted = operator_state->promote_wanted;
    if (can_promote && wanted != RAFT_NODE_NONE &&
        raft_configuration_is_learner(configuration, wanted) &&
        sim_prng_chance(&sim->prng, 700000)) {
        change->type = RAFT_CHANGE_PROMOTE;
        change->id = wanted;
        return true;
    }
    raft_node_id dead = voters > 1 ? down_voter(sim, leader, configuration) : RAFT_NODE_NONE;
    if (dead != RAFT_NODE_NONE && sim_prng_chance(&sim->prng, 200000)) {
        change->type = RAFT_CHANGE_REMOVE;
        change->id = dead;
        change->force = true;
        return true;
    }
    uint32_t weights[4];
    change_weights(sim, voters, weights);
    weights[0] = can_add ? weights[0] : 0;
    weights[1] = can_promote ? weights[1] : 0;
    weights[2] = can_demote ? weights[2] : 0;
    weights[3] = can_remove ? weights[3] : 0;
    uint32_t total = weights[0] + weights[1] + weights[2] + weights[3];
    if (total == 0) {
        return false;
    }
    uint64_t roll = sim_prng_below(&sim->prng, total);
    uint32_t type = 0;
    while (roll >= weights[type]) {
        roll -= weights[type];
        type++;
    }
    assert(type < 4);
    change->type = (uint8_t)(RAFT_CHANGE_ADD_LEARNER + type);
    /* The leader is the target of a demotion or removal a third of the time. */
    bool leader_votes = raft_configuration_is_voter(configuration, leader->id);
    bool target_leader = leader_votes && sim_prng_chance(&sim->prng, 333333);
    switch (change->type) {
    case RAFT_CHANGE_ADD_LEARNER:
        change->id = sim->node_count + 1; /* above every id any configuration held */
        break;
    case RAFT_CHANGE_PROMOTE:
        change->id = pick_id(sim, configuration->learners, learners);
        break;
    case RAFT_CHANGE_DEMOTE:
        change->id = target_leader ? leader->id : pick_id(sim, configuration->voters, voters);
        break;
    case RAFT_CHANGE_REMOVE: {
        bool voter = voters > 1 && (learners == 0 || sim_prng_chance(&sim->prng, 600000));
        change->id = !voter          ? pick_id(sim, configuration->learners, learners)
                     : target_leader ? leader->id
                                     : pick_id(sim, configuration->voters, voters);
        break;
    }
    }
    return true;
}

/* ---- proposing -------------------------------------------------------------------------- */

/* A leader that changes the voters of a configuration of faults.target_voters may lose its
 * network just then (faults.isolate_on_change_per_million), so that the change stays in its
 * log alone while the others elect a leader of their own: the first half of Ongaro's 2015
 * scenario. */
static void maybe_isolate(struct sim *sim, const struct sim_node *leader,
                          const struct raft_configuration *configuration,
                          const struct raft_change *change)
{
    bool voters_change = change->type != RAFT_CHANGE_ADD_LEARNER &&
                         !raft_configuration_is_learner(configuration, change->id);
    if (sim->network.partitioned || !voters_change ||
        configuration->voter_count != sim->faults.target_voters ||
        !sim_prng_chance(&sim->prng, sim->faults.isolate_on_change_per_million)) {
        return;
    }
    uint64_t duration_ms = SIM_ELECTION_MS * (3 + sim_prng_below(&sim->prng, 6));
    net_isolate(sim, (int)leader->id - 1);
    sim->network.heal_at_ms = sim->now_ms + duration_ms;
    sim_trace(sim,
              "fault: partition (leader isolated as it changes the voters) side={%llu} for "
              "%llums",
              (unsigned long long)leader->id, (unsigned long long)duration_ms);
}

/* A new machine: the next slot, an empty disk, an empty configuration. */
static void start_joining_node(struct sim *sim, raft_node_id id)
{
    assert(id == sim->node_count + 1);
    assert(sim->node_count < SIM_MAX_NODES);
    sim_activate(sim, sim->node_count);
    struct sim_node *node = &sim->nodes[sim->node_count++];
    assert(node->id == RAFT_NODE_NONE);
    node->id = id;
    memset(&node->boot_configuration, 0, sizeof(node->boot_configuration));
    sim_trace(sim, "operator: starts node %llu, empty configuration", (unsigned long long)id);
    host_boot(sim, node);
}

static void remember(struct sim *sim, const struct raft_change *change, uint64_t index,
                     uint64_t term)
{
    struct sim_operator *operator_state = &sim->operator_state;
    if (operator_state->pending_count == SIM_MAX_PENDING_CHANGES) {
        /* Forget the oldest: its outcome no longer matters to anything but retirement. */
        memmove(operator_state->pending, operator_state->pending + 1,
                (SIM_MAX_PENDING_CHANGES - 1) * sizeof(operator_state->pending[0]));
        operator_state->pending_count--;
    }
    struct sim_change *pending = &operator_state->pending[operator_state->pending_count++];
    pending->change = *change;
    pending->index = index;
    pending->term = term;
    operator_state->proposed++;
}

static void propose_change(struct sim *sim, struct sim_node *leader, bool after_election)
{
    assert(leader->up);
    assert(raft_role(leader->core) == RAFT_LEADER);
    struct raft_change change;
    const struct raft_configuration *configuration = raft_configuration(leader->core);
    bool chosen = after_election ? choose_voter_change(sim, leader, configuration, &change)
                                 : choose_change(sim, leader, configuration, &change);
    if (!chosen) {
        return;
    }
    maybe_isolate(sim, leader, configuration, &change);
    /* The context the server would fill with addresses: some bytes the core must carry. */
    uint8_t context[SIM_MAX_CONTEXT_BYTES];
    uint32_t context_bytes = (uint32_t)sim_prng_below(&sim->prng, SIM_MAX_CONTEXT_BYTES + 1);
    for (uint32_t i = 0; i < context_bytes; i++) {
        context[i] = (uint8_t)sim_prng_next(&sim->prng);
    }
    uint64_t index = 0;
    uint64_t term = 0;
    uint64_t commit = raft_commit_index(leader->core);
    bool term_committed = raft_term_at(leader->core, commit) == raft_term(leader->core);
    int rc = raft_propose_change(leader->core, &change, context, context_bytes, &index, &term);
    sim_trace(
        sim, "operator: %s %llu%s at leader %llu (term %llu, commit %llu%s): %s -> index %llu",
        change_name(change.type), (unsigned long long)change.id, change.force ? " (forced)" : "",
        (unsigned long long)leader->id, (unsigned long long)raft_term(leader->core),
        (unsigned long long)commit, term_committed ? "" : " not of its term", raft_error_string(rc),
        (unsigned long long)index);
    if (rc == RAFT_ERROR_NOT_CAUGHT_UP) {
        sim->operator_state.promote_wanted = change.id;
    }
    if (rc != 0) {
        return;
    }
    if (change.id == sim->operator_state.promote_wanted) {
        sim->operator_state.promote_wanted = RAFT_NODE_NONE;
    }
    remember(sim, &change, index, term);
    if (change.type == RAFT_CHANGE_ADD_LEARNER) {
        start_joining_node(sim, change.id);
    }
    host_process(sim, leader);
}

/* A random leader among those up (a stale one cut off from the others is as good a target:
 * its change will be lost). */
static struct sim_node *random_leader(struct sim *sim)
{
    struct sim_node *leaders[SIM_MAX_NODES];
    uint32_t count = 0;
    for (uint32_t i = 0; i < sim->node_count; i++) {
        struct sim_node *node = &sim->nodes[i];
        if (node->up && raft_role(node->core) == RAFT_LEADER) {
            leaders[count++] = node;
        }
    }
    return count == 0 ? NULL : leaders[sim_prng_below(&sim->prng, count)];
}

void operator_act(struct sim *sim)
{
    settle_changes(sim);
    retire_due(sim);
    if (sim->violation != SIM_RULE_NONE || sim->liveness_phase || !sim->faults.enabled ||
        !sim_prng_chance(&sim->prng, sim->faults.change_per_million)) {
        return;
    }
    struct sim_node *leader = random_leader(sim);
    if (leader != NULL) {
        propose_change(sim, leader, false);
    }
}

bool operator_watch(struct sim *sim)
{
    if (!sim->faults.change_after_election || !sim->faults.enabled || sim->liveness_phase) {
        return false;
    }
    bool acted = false;
    for (uint32_t k = 0; k < sim->active_count && sim->violation == SIM_RULE_NONE; k++) {
        struct sim_node *node = &sim->nodes[sim->active[k]];
        if (!node->up || raft_role(node->core) != RAFT_LEADER ||
            raft_term(node->core) <= sim->operator_state.last_leader_term) {
            continue;
        }
        sim->operator_state.last_leader_term = raft_term(node->core);
        propose_change(sim, node, true);
        acted = true;
    }
    return acted;
}

void operator_on_liveness(struct sim *sim)
{
    /* The faults stop: whoever is leaving leaves now, so that the healed cluster is judged by
     * its members alone. */
    for (uint32_t i = 0; i < sim->node_count; i++) {
        struct sim_node *node = &sim->nodes[i];
        if (node->retire_at_ms > sim->now_ms) {
            node->retire_at_ms = sim->now_ms;
        }
    }
    settle_changes(sim);
    retire_due(sim);
}

bool operator_members(const struct sim *sim, bool members[SIM_MAX_NODES])
{
    const struct sim_node *leader = NULL;
    for (uint32_t i = 0; i < sim->node_count; i++) {
        const struct sim_node *node = &sim->nodes[i];
        if (node->up && raft_role(node->core) == RAFT_LEADER &&
            (leader == NULL || raft_term(node->core) > raft_term(leader->core))) {
            leader = node;
        }
    }
    memset(members, 0, SIM_MAX_NODES * sizeof(members[0]));
    if (leader == NULL) {
        return false;
    }
    const struct raft_configuration *configuration = raft_configuration(leader->core);
    for (uint32_t i = 0; i < sim->node_count; i++) {
        const struct sim_node *node = &sim->nodes[i];
        members[i] = !node->retired && (raft_configuration_is_voter(configuration, node->id) ||
                                        raft_configuration_is_learner(configuration, node->id));
    }
    return true;
}
