/*
 * schedule.c — one seed's run: its configuration, the fault schedule, the main loop.
 *
 * Happy path: sim_create() draws the seed's cluster size, core configuration and fault profile
 * from the run's PRNG and boots every node on an empty disk. sim_run() advances simulated time
 * one millisecond at a time: deliver the messages that are due, restart nodes whose downtime
 * is over, tick the cores whose tick is due (every SIM_TICK_MS, phase-shifted per node), and
 * every tick round let the schedule start or heal a partition, crash a node (at once, or half
 * way through its next ready), let the operator change the membership (operator.c), let the
 * client act and let nodes compact. Every one of these is an event, and the checker runs after
 * each. After the event budget comes the liveness phase: heal everything, shut down the nodes
 * that left the cluster, restart every other node, stop all faults and changes; a new command
 * must then be applied on every member within SIM_LIVENESS_TIMEOUTS election timeouts, and
 * every acknowledged command must be applied on every member (checker_final).
 *
 * Failure modes: a run stops at its first violation (sim->violation); nothing here exits.
 */
#include "sim.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIM_DEMO_DURATION_MS 6000
#define SIM_ELECTION_MS      (SIM_ELECTION_TIMEOUT_TICKS * SIM_TICK_MS)

/* ---- the PRNG -------------------------------------------------------------------------- */

uint64_t sim_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void sim_prng_seed(struct sim_prng *prng, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        prng->s[i] = sim_splitmix64(&seed);
    }
}

static uint64_t rotate_left(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t sim_prng_next(struct sim_prng *prng)
{
    uint64_t *s = prng->s;
    uint64_t result = rotate_left(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotate_left(s[3], 45);
    return result;
}

uint64_t sim_prng_below(struct sim_prng *prng, uint64_t bound)
{
    assert(bound > 0);
    return sim_prng_next(prng) % bound;
}

bool sim_prng_chance(struct sim_prng *prng, uint32_t per_million)
{
    return sim_prng_below(prng, 1000000) < per_million;
}

/* ---- setup ----------------------------------------------------------------------------- */

static uint32_t pick(struct sim *sim, const uint32_t *choices, size_t count)
{
    return choices[sim_prng_below(&sim->prng, count)];
}

#define PICK(sim, ...)                                                                             \
    pick((sim), (const uint32_t[]){__VA_ARGS__},                                                   \
         sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t))

static void configure_core(struct sim *sim)
{
    struct raft_config *config = &sim->base_config;
    raft_config_default(config, 1);
    config->election_timeout_ticks = SIM_ELECTION_TIMEOUT_TICKS;
    config->heartbeat_interval_ticks = SIM_HEARTBEAT_TICKS;
    config->pre_vote = sim_prng_chance(&sim->prng, 500000);
    config->check_quorum = sim_prng_chance(&sim->prng, 500000);
    /* Lease reads need CheckQuorum. Nodes tick in step here, up to 3 ms apart: a margin of
     * three ticks covers that and a tick's rounding on either side. */
    config->lease_ticks = config->check_quorum && sim_prng_chance(&sim->prng, 700000)
                              ? SIM_ELECTION_TIMEOUT_TICKS - 3
                              : 0;
    config->max_inflight_appends = 1 + (uint32_t)sim_prng_below(&sim->prng, 8);
    config->max_append_bytes = PICK(sim, 64, 256, 4096);
    config->max_committed_per_ready = PICK(sim, 1, 4, 64);
    config->max_committed_bytes_per_ready = PICK(sim, 0, 0, 64);
    config->max_uncommitted_bytes = PICK(sim, 0, 0, 2048);
    config->sabotage = sim->options.sabotage;
    /* A learner is promoted only this close to the leader's log: small enough that the
     * operator's promotions sometimes wait for one to catch up. */
    config->max_promote_lag = PICK(sim, 4, 16, 1000);
}

/* The initial cluster: voters 1..node_count, each booting with that configuration. */
static void configure_members(struct sim *sim)
{
    struct raft_configuration *configuration = &sim->base_config.configuration;
    memset(configuration, 0, sizeof(*configuration));
    configuration->voter_count = sim->node_count;
    for (uint32_t i = 0; i < sim->node_count; i++) {
        configuration->voters[i] = i + 1;
    }
    configuration->highest_id = sim->node_count;
    for (uint32_t i = 0; i < sim->node_count; i++) {
        sim->nodes[i].id = i + 1;
        sim->nodes[i].boot_configuration = *configuration;
    }
}

/*
 * Fault profiles. "mixed" draws every rate at random. The others aim at the interleavings that
 * the sabotaged rules need (see the sim_catches_* tests): "leader churn" cuts off and crashes
 * leaders again and again with one entry per APPEND, so that entries of several terms pile up
 * on minorities and are later re-replicated one by one (Figure 8 of the Raft paper);
 * "election storm" has slow, reordering links (concurrent candidates in one term) and crashes
 * voters right after they vote, bringing them back within a message delay.
 *
 * "reconfiguration" replays, at random, the interleaving of Ongaro's 2015 report on single-
 * server changes. It keeps four voters (an even count: there a configuration with one voter
 * fewer and one with another voter fewer, or one more, can have disjoint majorities) and
 * three steps are likely: a leader changing the voters is cut off just then, so its change
 * stays in its log alone; the others elect a leader, one of its voters crashing right after
 * its vote, and the new leader at once removes that dead voter (forced), before it has
 * committed anything of its term — which the core must refuse; the dead voter comes back, is
 * shut down only much later (a removed machine runs on until its operator stops it), and,
 * lacking the new leader's entries, can vote the old leader back in under the old leader's
 * configuration. PreVote is off, so the old leader's term runs ahead while it is cut off.
 */
static void configure_reconfiguration(struct sim *sim)
{
    struct sim_network *network = &sim->network;
    struct sim_faults *faults = &sim->faults;
    faults->profile = "reconfiguration";
    if (sim->options.nodes == 0) {
        sim->node_count = 4;
    }
    sim->base_config.pre_vote = false;
    sim->base_config.max_promote_lag = 1000;
    faults->leader_churn = true;
    faults->change_per_million = 100000;
    faults->change_after_election = true;
    faults->target_voters = 4;
    faults->isolate_on_change_per_million = 800000;
    faults->max_retire_delay_ms = 20 * SIM_ELECTION_MS;
    faults->force_per_million = 200000;
    faults->partition_per_million = 30000;
    faults->crash_per_million = 10000;
    faults->vote_crash_per_million = 500000;
    faults->vote_crash_max_down_ms = 2 * SIM_TICK_MS;
    faults->propose_per_million = 300000;
    network->drop_per_million = PICK(sim, 0, 20000, 100000);
    network->max_delay_ms = PICK(sim, 2, 8);
}

/*
 * "lease" (never drawn by a seed) aims at a leader's lease (read.c): lease reads always on,
 * leaders cut off alone again and again, and clients that write to and read from any node,
 * so that a write acknowledged by a new leader is often followed by a read at the old one
 * while it still believes it leads.
 */
static void configure_lease(struct sim *sim)
{
    struct sim_faults *faults = &sim->faults;
    faults->profile = "lease";
    sim->base_config.check_quorum = true;
    sim->base_config.lease_ticks = SIM_ELECTION_TIMEOUT_TICKS - 3;
    faults->leader_churn = true;
    faults->partition_per_million = 100000;
    faults->crash_per_million = 40000;
    faults->vote_crash_per_million = 0;
    faults->change_per_million = 0;
    faults->stranger_proposals_per_million = 600000;
    faults->stranger_reads_per_million = 800000;
    faults->propose_per_million = 1000000;
    faults->read_per_million = 1000000;
    sim->network.drop_per_million = 0;
    sim->network.max_delay_ms = 2;
    sim->network.long_delay_per_million = 0;
}

static const char *const profile_names[] = {
    [SIM_PROFILE_BY_SEED] = "by-seed",
    [SIM_PROFILE_MIXED] = "mixed",
    [SIM_PROFILE_LEADER_CHURN] = "leader-churn",
    [SIM_PROFILE_ELECTION_STORM] = "election-storm",
    [SIM_PROFILE_RECONFIGURATION] = "reconfiguration",
    [SIM_PROFILE_LEASE] = "lease",
};

#define SIM_PROFILE_COUNT (sizeof(profile_names) / sizeof(profile_names[0]))

const char *sim_profile_string(enum sim_profile profile)
{
    return (size_t)profile < SIM_PROFILE_COUNT ? profile_names[profile] : "unknown";
}

int sim_profile_parse(const char *name, enum sim_profile *out)
{
    for (size_t i = 1; i < SIM_PROFILE_COUNT; i++) {
        if (strcmp(name, profile_names[i]) == 0) {
            *out = (enum sim_profile)i;
            return 0;
        }
    }
    return -1;
}

static void configure_profile(struct sim *sim)
{
    struct sim_network *network = &sim->network;
    struct sim_faults *faults = &sim->faults;
    uint64_t roll = sim_prng_below(&sim->prng, 10);
    /* --profile: the same draw, then the profile asked for (the rest of the seed unchanged). */
    static const uint64_t roll_of[] = {
        [SIM_PROFILE_MIXED] = 0,
        [SIM_PROFILE_LEADER_CHURN] = 4,
        [SIM_PROFILE_ELECTION_STORM] = 6,
        [SIM_PROFILE_RECONFIGURATION] = 8,
    };
    if (sim->options.profile == SIM_PROFILE_LEASE) {
        configure_lease(sim);
        return;
    }
    if (sim->options.profile != SIM_PROFILE_BY_SEED) {
        assert((size_t)sim->options.profile < sizeof(roll_of) / sizeof(roll_of[0]));
        roll = roll_of[sim->options.profile];
    }
    if (roll < 4) {
        faults->profile = "mixed";
        return;
    }
    if (roll >= 8) {
        configure_reconfiguration(sim);
        return;
    }
    if (roll < 6) {
        faults->profile = "leader churn";
        faults->leader_churn = true;
        faults->partition_per_million = 150000;
        faults->crash_per_million = 60000;
        sim->base_config.max_append_bytes = 64;
        sim->base_config.max_inflight_appends = 1;
        faults->propose_per_million = 1000000;
        faults->commit_crash_per_million = 300000;
        network->drop_per_million = PICK(sim, 0, 20000);
        return;
    }
    faults->profile = "election storm";
    network->max_delay_ms = 3 * SIM_TICK_MS;
    network->drop_per_million = PICK(sim, 0, 20000);
    faults->partition_per_million = PICK(sim, 0, 10000);
    faults->crash_per_million = 40000;
    faults->vote_crash_per_million = 500000;
    faults->vote_crash_max_down_ms = 5;
}

static void configure_faults(struct sim *sim)
{
    struct sim_network *network = &sim->network;
    network->drop_per_million = PICK(sim, 0, 10000, 50000, 150000);
    network->duplicate_per_million = PICK(sim, 0, 20000, 50000);
    network->max_delay_ms = PICK(sim, 2, 8, 20);
    network->long_delay_per_million = PICK(sim, 0, 20000);
    network->max_long_delay_ms = 2 * SIM_ELECTION_MS;
    struct sim_faults *faults = &sim->faults;
    faults->enabled = true;
    faults->partition_per_million = PICK(sim, 0, 10000, 30000);
    faults->crash_per_million = PICK(sim, 0, 5000, 20000, 40000);
    faults->vote_crash_per_million = PICK(sim, 0, 0, 300000);
    faults->vote_crash_max_down_ms = 2 * SIM_TICK_MS;
    faults->compact_per_million = PICK(sim, 5000, 30000);
    faults->propose_per_million = PICK(sim, 300000, 700000);
    faults->read_per_million = PICK(sim, 100000, 300000);
    faults->transfer_per_million = PICK(sim, 0, 3000);
    faults->change_per_million = PICK(sim, 0, 5000, 20000, 50000);
    faults->force_per_million = PICK(sim, 0, 100000);
    faults->max_retire_delay_ms = 3 * SIM_ELECTION_MS;
    faults->stranger_proposals_per_million = SIM_STRANGER_PROPOSALS_PER_MILLION;
    faults->stranger_reads_per_million = SIM_STRANGER_READS_PER_MILLION;
    configure_profile(sim);
    faults->async_ready_per_million = PICK(sim, 0, 300000, 800000);
    faults->max_fsync_ms = PICK(sim, 1, 4);
    faults->early_per_million = PICK(sim, 0, 500000, 1000000);
}

static void configure_demo(struct sim *sim)
{
    sim->base_config.pre_vote = true;
    sim->base_config.check_quorum = true;
    sim->network.drop_per_million = 10000;
    sim->network.duplicate_per_million = 10000;
    sim->network.max_delay_ms = 5;
    sim->network.long_delay_per_million = 0;
    memset(&sim->faults, 0, sizeof(sim->faults));
    sim->faults.stranger_proposals_per_million = SIM_STRANGER_PROPOSALS_PER_MILLION;
    sim->faults.stranger_reads_per_million = SIM_STRANGER_READS_PER_MILLION;
    sim->faults.compact_per_million = 20000;
    sim->faults.propose_per_million = 500000;
    sim->faults.read_per_million = 200000;
}

struct sim *sim_create(const struct sim_options *options)
{
    struct sim *sim = calloc(1, sizeof(*sim));
    assert(sim != NULL);
    sim->options = *options;
    sim_prng_seed(&sim->prng, options->seed);
    static const uint32_t sizes[] = {3, 5, 7};
    sim->node_count = options->nodes ? options->nodes : sizes[options->seed % 3];
    net_init(&sim->network);
    checker_init(&sim->checker);
    client_init(&sim->client);
    configure_core(sim);
    configure_faults(sim);
    if (options->demo) {
        configure_demo(sim);
    }
    configure_members(sim);
    sim->client.believed_leader = (int)sim_prng_below(&sim->prng, sim->node_count);
    sim_trace(sim,
              "seed %llu (%s): %u nodes, pre_vote=%d check_quorum=%d lease=%u inflight=%u "
              "append_bytes=%u drop=%u dup=%u delay<=%u partition=%u crash=%u vote_crash=%u "
              "change=%u",
              (unsigned long long)options->seed, sim->faults.profile, sim->node_count,
              sim->base_config.pre_vote, sim->base_config.check_quorum,
              sim->base_config.lease_ticks, sim->base_config.max_inflight_appends,
              sim->base_config.max_append_bytes, sim->network.drop_per_million,
              sim->network.duplicate_per_million, sim->network.max_delay_ms,
              sim->faults.partition_per_million, sim->faults.crash_per_million,
              sim->faults.vote_crash_per_million, sim->faults.change_per_million);
    for (uint32_t i = 0; i < sim->node_count && sim->violation == SIM_RULE_NONE; i++) {
        sim_activate(sim, i);
        host_boot(sim, &sim->nodes[i]);
    }
    return sim;
}

void sim_activate(struct sim *sim, uint32_t slot)
{
    assert(sim->active_count < SIM_MAX_NODES);
    assert(sim->active_count == 0 || sim->active[sim->active_count - 1] < slot);
    sim->active[sim->active_count++] = slot;
}

void sim_deactivate(struct sim *sim, uint32_t slot)
{
    uint32_t kept = 0;
    for (uint32_t k = 0; k < sim->active_count; k++) {
        if (sim->active[k] != slot) {
            sim->active[kept++] = sim->active[k];
        }
    }
    assert(kept + 1 == sim->active_count);
    sim->active_count = kept;
}

void sim_destroy(struct sim *sim)
{
    for (uint32_t i = 0; i < sim->node_count; i++) {
        host_free(&sim->nodes[i]);
    }
    net_free(&sim->network);
    checker_free(&sim->checker);
    client_free(&sim->client);
    free(sim);
}

/* ---- the schedule ---------------------------------------------------------------------- */

static void event_done(struct sim *sim)
{
    sim->event_count++;
    if (sim->violation == SIM_RULE_NONE) {
        checker_after_event(sim);
    }
}

static int leader_index(const struct sim *sim)
{
    for (uint32_t i = 0; i < sim->node_count; i++) {
        if (sim->nodes[i].up && raft_role(sim->nodes[i].core) == RAFT_LEADER) {
            return (int)i;
        }
    }
    return -1;
}

static void crash_someone(struct sim *sim)
{
    int victim = leader_index(sim);
    if (victim < 0 || sim_prng_chance(&sim->prng, 500000)) {
        victim = (int)sim_prng_below(&sim->prng, sim->node_count);
    }
    struct sim_node *node = &sim->nodes[victim];
    if (!node->up || node->crash_point != SIM_CRASH_NONE) {
        return;
    }
    uint64_t down_ms = sim_prng_chance(&sim->prng, 700000)
                           ? 1 + sim_prng_below(&sim->prng, 2 * SIM_ELECTION_MS)
                           : SIM_ELECTION_MS * (3 + sim_prng_below(&sim->prng, 6));
    if (sim_prng_chance(&sim->prng, 500000)) {
        host_crash(sim, node, down_ms);
        return;
    }
    node->crash_point = (enum sim_crash_point)(1 + sim_prng_below(&sim->prng, SIM_CRASH_POINTS));
    node->crash_down_ms = down_ms;
    sim_trace(sim, "fault: node %llu will crash at point %d of its next ready",
              (unsigned long long)node->id, node->crash_point);
}

static void random_faults(struct sim *sim)
{
    struct sim_network *network = &sim->network;
    if (network->partitioned && sim->now_ms >= network->heal_at_ms) {
        net_heal(sim);
    }
    if (!network->partitioned && sim_prng_chance(&sim->prng, sim->faults.partition_per_million)) {
        uint64_t duration_ms =
            sim_prng_chance(&sim->prng, 500000)
                ? SIM_ELECTION_MS / 2 + sim_prng_below(&sim->prng, 3 * SIM_ELECTION_MS)
                : SIM_ELECTION_MS * (3 + sim_prng_below(&sim->prng, 10));
        net_partition_random(sim, duration_ms);
    }
    if (sim_prng_chance(&sim->prng, sim->faults.crash_per_million)) {
        crash_someone(sim);
    }
}

/* The demo's script: an election, the leader cut off, a follower crash, recovery. */
static void demo_script(struct sim *sim)
{
    if (sim->now_ms == 1500) {
        int leader = leader_index(sim);
        if (leader >= 0) {
            sim_narrate(sim, "partition: leader %d is cut off from everyone", leader + 1);
            net_isolate(sim, leader);
            sim->network.heal_at_ms = 3000;
        }
    }
    if (sim->network.partitioned && sim->now_ms >= sim->network.heal_at_ms) {
        net_heal(sim);
    }
    if (sim->now_ms == 3500) {
        int leader = leader_index(sim);
        int victim = (leader + 2) % (int)sim->node_count;
        if (sim->nodes[victim].up) {
            host_crash(sim, &sim->nodes[victim], 1500);
        }
    }
    if (sim->now_ms % 1000 == 0) {
        char line[256];
        size_t used = 0;
        for (uint32_t i = 0; i < sim->node_count; i++) {
            const struct sim_node *node = &sim->nodes[i];
            used += (size_t)snprintf(line + used, sizeof(line) - used, " n%u=%s", i + 1,
                                     node->up ? "" : "down");
            if (node->up) {
                used += (size_t)snprintf(line + used, sizeof(line) - used, "%llu",
                                         (unsigned long long)node->applied);
            }
        }
        sim_narrate(sim, "applied index:%s (%llu commands acknowledged)", line,
                    (unsigned long long)sim->client.acked_count);
    }
}

static void tick_round(struct sim *sim)
{
    if (sim->options.demo && !sim->liveness_phase) {
        demo_script(sim);
    } else if (sim->faults.enabled) {
        random_faults(sim);
    }
    if (sim->violation != SIM_RULE_NONE) {
        return;
    }
    operator_act(sim);
    if (sim->violation == SIM_RULE_NONE) {
        client_act(sim);
    }
    event_done(sim);
    for (uint32_t k = 0; k < sim->active_count && sim->violation == SIM_RULE_NONE; k++) {
        struct sim_node *node = &sim->nodes[sim->active[k]];
        uint64_t base = node->disk.has_snapshot ? node->disk.snapshot.meta.index : 0;
        if (node->up && node->applied >= base + 8 &&
            sim_prng_chance(&sim->prng, sim->faults.compact_per_million)) {
            host_compact(sim, node);
            event_done(sim);
        }
    }
}

static void run_millisecond(struct sim *sim)
{
    sim->now_ms++;
    while (sim->violation == SIM_RULE_NONE && net_deliver_next(sim)) {
        event_done(sim);
    }
    for (uint32_t k = 0; k < sim->active_count && sim->violation == SIM_RULE_NONE; k++) {
        struct sim_node *node = &sim->nodes[sim->active[k]];
        if (!node->up && sim->now_ms >= node->restart_at_ms) {
            assert(!node->retired);
            sim_narrate(sim, "node %llu restarts from its disk", (unsigned long long)node->id);
            host_boot(sim, node);
            event_done(sim);
        }
    }
    if (sim->violation == SIM_RULE_NONE && operator_watch(sim)) {
        event_done(sim);
    }
    for (uint32_t k = 0; k < sim->active_count && sim->violation == SIM_RULE_NONE; k++) {
        struct sim_node *node = &sim->nodes[sim->active[k]];
        if (host_fsync_due(sim, node)) {
            host_process(sim, node);
            event_done(sim);
        }
    }
    for (uint32_t k = 0; k < sim->active_count && sim->violation == SIM_RULE_NONE; k++) {
        uint32_t i = sim->active[k];
        struct sim_node *node = &sim->nodes[i];
        if (node->up && (sim->now_ms + 3 * i) % SIM_TICK_MS == 0) {
            raft_tick(node->core);
            host_process(sim, node);
            event_done(sim);
        }
    }
    if (sim->violation == SIM_RULE_NONE && sim->now_ms % SIM_TICK_MS == 0) {
        tick_round(sim);
    }
}

static size_t describe_ids(char *out, size_t size, const raft_node_id *ids, uint32_t count)
{
    size_t used = 0;
    for (uint32_t i = 0; i < count && used < size; i++) {
        used += (size_t)snprintf(out + used, size - used, "%s%llu", i ? " " : "",
                                 (unsigned long long)ids[i]);
    }
    return used < size ? used : size;
}

/* Retired nodes are left out; an up node shows its role, term, commit, applied index and the
 * configuration in force (voters | learners, @ its entry's index). */
static void describe_nodes(struct sim *sim, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (uint32_t i = 0; i < sim->node_count && used < size; i++) {
        const struct sim_node *node = &sim->nodes[i];
        if (node->retired) {
            continue;
        }
        if (!node->up) {
            used += (size_t)snprintf(out + used, size - used, " n%u:down/a%llu", i + 1,
                                     (unsigned long long)node->applied);
            continue;
        }
        const struct raft_configuration *configuration = raft_configuration(node->core);
        used += (size_t)snprintf(
            out + used, size - used, " n%u:%s/t%llu/c%llu/a%llu{", i + 1,
            raft_role_string(raft_role(node->core)), (unsigned long long)raft_term(node->core),
            (unsigned long long)raft_commit_index(node->core), (unsigned long long)node->applied);
        if (used >= size) {
            break;
        }
        used += describe_ids(out + used, size - used, configuration->voters,
                             configuration->voter_count);
        if (used < size) {
            used += (size_t)snprintf(out + used, size - used, "|");
        }
        if (used < size) {
            used += describe_ids(out + used, size - used, configuration->learners,
                                 configuration->learner_count);
        }
        if (used < size) {
            used += (size_t)snprintf(out + used, size - used, "@%llu}",
                                     (unsigned long long)raft_configuration_index(node->core));
        }
    }
}

/*
 * The healed cluster gets SIM_LIVENESS_TIMEOUTS election timeouts, plus the time a correct
 * core needs to ship the backlog at the seed's own limits: leader churn allows one entry per
 * APPEND and one APPEND in flight, so a follower 300 entries behind needs 300 round trips.
 *
 * Twice the timeouts when some node runs a configuration of two voters: there the voter whose
 * log is behind can never win, and the up-to-date one wins only when its request reaches the
 * other before the other's own timer fires — while each campaign of the one behind restarts
 * the up-to-date one's timer (the core restarts it on any higher term, not only on granting a
 * vote as Figure 2 has it). With links up to 30 ms slow, seed 15357 lost that race in all of
 * the 11 campaigns the up-to-date voter made in 20 election timeouts.
 */
static uint64_t liveness_budget_ms(const struct sim *sim)
{
    uint64_t highest_last = 0;
    uint64_t lowest_applied = UINT64_MAX;
    bool two_voters = false;
    for (uint32_t i = 0; i < sim->node_count; i++) {
        const struct sim_node *node = &sim->nodes[i];
        if (node->retired) {
            continue;
        }
        uint64_t last = host_disk_last_index(node);
        highest_last = last > highest_last ? last : highest_last;
        lowest_applied = node->applied < lowest_applied ? node->applied : lowest_applied;
        two_voters = two_voters || (node->up && raft_configuration(node->core)->voter_count == 2);
    }
    uint64_t backlog = highest_last > lowest_applied ? highest_last - lowest_applied : 0;
    uint64_t round_trip_ms = 2 * (uint64_t)sim->network.max_delay_ms + 1;
    uint64_t timeouts = two_voters ? 2 * SIM_LIVENESS_TIMEOUTS : SIM_LIVENESS_TIMEOUTS;
    return timeouts * SIM_ELECTION_MS + backlog * round_trip_ms;
}

static void run_liveness(struct sim *sim)
{
    sim->liveness_phase = true;
    sim->faults.enabled = false;
    sim->faults.propose_per_million = 1000000;
    sim->network.drop_per_million = 0;
    sim->network.duplicate_per_million = 0;
    sim->network.long_delay_per_million = 0;
    sim_trace(sim, "liveness: healing everything, restarting every node");
    sim_narrate(sim, "faults stop: the network heals and every node is running again");
    net_heal(sim);
    operator_on_liveness(sim);
    for (uint32_t i = 0; i < sim->node_count && sim->violation == SIM_RULE_NONE; i++) {
        struct sim_node *node = &sim->nodes[i];
        node->crash_point = SIM_CRASH_NONE;
        if (!node->up && !node->retired) {
            host_boot(sim, node);
            event_done(sim);
        }
    }
    sim->client.liveness_first_command = sim->client.next_command;
    uint64_t budget_ms = liveness_budget_ms(sim);
    uint64_t deadline_ms = sim->now_ms + budget_ms;
    while (sim->violation == SIM_RULE_NONE && sim->now_ms < deadline_ms) {
        run_millisecond(sim);
        if (sim->now_ms % SIM_TICK_MS == 0 && client_liveness_done(sim)) {
            sim_trace(sim, "liveness: cmd %llu applied on every node",
                      (unsigned long long)sim->client.liveness_command);
            return;
        }
    }
    if (sim->violation == SIM_RULE_NONE) {
        char nodes[1024];
        describe_nodes(sim, nodes, sizeof(nodes));
        sim_violation(sim, SIM_RULE_LIVENESS,
                      "no new command applied on every member (and every acknowledged one on "
                      "each) within %llu ms of healing:%s",
                      (unsigned long long)budget_ms, nodes);
    }
}

void sim_run(struct sim *sim)
{
    uint64_t end_ms = sim->options.demo ? SIM_DEMO_DURATION_MS : UINT64_MAX;
    while (sim->violation == SIM_RULE_NONE && sim->event_count < sim->options.events &&
           sim->now_ms < end_ms) {
        run_millisecond(sim);
    }
    if (sim->violation == SIM_RULE_NONE) {
        run_liveness(sim);
    }
    if (sim->violation == SIM_RULE_NONE) {
        checker_final(sim);
    }
}
