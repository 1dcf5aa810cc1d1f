/*
 * checker.c — Raft's safety properties, checked after every simulated event on every node the
 * event touched (handed input).
 *
 * The checker keeps global knowledge no single node has, and compares each node against it:
 *
 *   Election Safety       leader_of_term[t]: the first node seen leading term t; a second one
 *                         in the same term, at any time, is a violation (§5.2).
 *   Leader Append-Only    while a node leads term t, its last index never shrinks and the
 *                         prefix hash at the last index it had never changes (§5.3).
 *   Log Matching          every entry written to any disk is keyed by (index, term) with the
 *                         hash of the whole log prefix it ends; a second write of the same key
 *                         with another prefix hash is a violation (§5.3). Prefix hashes make
 *                         "same entry and same prefix" an O(1) comparison.
 *   State Machine Safety  committed[i]: the first entry seen committed (a node's commit index
 *                         covers it) or applied at index i; every later commit, apply or
 *                         installed snapshot at i must carry the same entry and prefix (§5.4.3).
 *   Leader Completeness   max_commit_of_term[t]: the highest commit index a leader of term t
 *                         reached. A leader of term T must hold, in its log or its snapshot,
 *                         the committed prefix up to the highest such index of any term < T
 *                         (§5.4). Entries committed only in later terms are not required, so a
 *                         stale leader is not blamed for what a newer leader committed.
 *   Exactly once and durability: at the end of a seed, every acknowledged command is applied
 *                         on every member, at the index where it was acknowledged.
 *
 * And the rules of membership changes (thesis §4.1), which single-server changes rely on:
 *
 *   Configuration in force  a node uses the configuration of the latest CONFIG entry in its
 *                         log, committed or not — or, with none there, its snapshot's (or
 *                         the boot one): raft_configuration() and raft_configuration_index()
 *                         must say exactly that, after every event, on every node.
 *   One change at a time  when a leader appends a CONFIG entry, the CONFIG entry before it in
 *                         its log is committed (within the leader's commit index, or known to
 *                         the checker as committed): two uncommitted changes at once can give
 *                         the old and the new configurations disjoint majorities.
 *
 * Read Safety and duplicate applies are checked where they happen (client.c, host.c).
 * Failure modes: none of its own; a violation stops the run through sim_violation().
 */
#include "sim.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static const char *const rule_names[] = {
    [SIM_RULE_NONE] = "none",
    [SIM_RULE_ELECTION_SAFETY] = "election-safety",
    [SIM_RULE_LEADER_APPEND_ONLY] = "leader-append-only",
    [SIM_RULE_LOG_MATCHING] = "log-matching",
    [SIM_RULE_LEADER_COMPLETENESS] = "leader-completeness",
    [SIM_RULE_STATE_MACHINE_SAFETY] = "state-machine-safety",
    [SIM_RULE_EXACTLY_ONCE] = "exactly-once",
    [SIM_RULE_READ_SAFETY] = "read-safety",
    [SIM_RULE_LIVENESS] = "liveness",
    [SIM_RULE_CONTRACT] = "host-contract",
    [SIM_RULE_CONFIGURATION] = "configuration-in-force",
    [SIM_RULE_SINGLE_CHANGE] = "one-change-at-a-time",
};

const char *sim_rule_string(enum sim_rule rule)
{
    if ((size_t)rule >= sizeof(rule_names) / sizeof(rule_names[0])) {
        return "unknown";
    }
    return rule_names[rule];
}

void checker_init(struct sim_checker *checker)
{
    memset(checker, 0, sizeof(*checker));
}

void checker_free(struct sim_checker *checker)
{
    free(checker->leader_of_term);
    free(checker->max_commit_of_term);
    free(checker->committed);
    free(checker->match_slots);
    memset(checker, 0, sizeof(*checker));
}

/* Grows a zero-filled array so that index `need` is valid. */
static void *grow_zeroed(void *array, size_t *capacity, size_t need, size_t item_bytes)
{
    if (need < *capacity) {
        return array;
    }
    size_t grown = *capacity ? *capacity : 64;
    while (grown <= need) {
        grown *= 2;
    }
    array = realloc(array, grown * item_bytes);
    assert(array != NULL);
    memset((char *)array + *capacity * item_bytes, 0, (grown - *capacity) * item_bytes);
    *capacity = grown;
    return array;
}

/* ---- Log Matching ---------------------------------------------------------------------- */

static uint64_t slot_of(uint64_t index, uint64_t term, size_t capacity)
{
    uint64_t x = index * 0x9e3779b97f4a7c15ULL ^ term * 0xc2b2ae3d27d4eb4fULL;
    x ^= x >> 29;
    return x & (capacity - 1);
}

static void match_grow(struct sim_checker *checker)
{
    size_t old_capacity = checker->match_capacity;
    struct sim_match_slot *old = checker->match_slots;
    checker->match_capacity = old_capacity ? old_capacity * 2 : 1024;
    checker->match_slots = calloc(checker->match_capacity, sizeof(*old));
    assert(checker->match_slots != NULL);
    for (size_t i = 0; i < old_capacity; i++) {
        if (old[i].index == 0) {
            continue;
        }
        uint64_t at = slot_of(old[i].index, old[i].term, checker->match_capacity);
        while (checker->match_slots[at].index != 0) {
            at = (at + 1) & (checker->match_capacity - 1);
        }
        checker->match_slots[at] = old[i];
    }
    free(old);
}

void checker_on_persist(struct sim *sim, struct sim_node *node, uint64_t index, uint64_t term,
                        uint64_t prefix_hash)
{
    struct sim_checker *checker = &sim->checker;
    if (2 * (checker->match_count + 1) > checker->match_capacity) {
        match_grow(checker);
    }
    uint64_t at = slot_of(index, term, checker->match_capacity);
    while (checker->match_slots[at].index != 0) {
        struct sim_match_slot *slot = &checker->match_slots[at];
        if (slot->index == index && slot->term == term) {
            if (slot->prefix_hash != prefix_hash) {
                sim_violation(sim, SIM_RULE_LOG_MATCHING,
                              "node %llu wrote index %llu term %llu "
                              "with a log prefix that differs from another node's entry at "
                              "the same index and term",
                              (unsigned long long)node->id, (unsigned long long)index,
                              (unsigned long long)term);
            }
            return;
        }
        at = (at + 1) & (checker->match_capacity - 1);
    }
    checker->match_slots[at].index = index;
    checker->match_slots[at].term = term;
    checker->match_slots[at].prefix_hash = prefix_hash;
    checker->match_count++;
}

/* ---- State Machine Safety -------------------------------------------------------------- */

static void check_committed(struct sim *sim, struct sim_node *node, uint64_t index,
                            const struct sim_record *record, const char *how)
{
    struct sim_checker *checker = &sim->checker;
    checker->committed = grow_zeroed(checker->committed, &checker->committed_capacity, index,
                                     sizeof(*checker->committed));
    struct sim_committed *known = &checker->committed[index];
    if (!known->known) {
        known->known = true;
        known->term = record->term;
        known->entry_hash = record->entry_hash;
        known->prefix_hash = record->prefix_hash;
        return;
    }
    if (known->term != record->term || known->entry_hash != record->entry_hash ||
        known->prefix_hash != record->prefix_hash) {
        sim_violation(sim, SIM_RULE_STATE_MACHINE_SAFETY,
                      "node %llu %s index %llu with term "
                      "%llu, but index %llu was committed with term %llu%s",
                      (unsigned long long)node->id, how, (unsigned long long)index,
                      (unsigned long long)record->term, (unsigned long long)index,
                      (unsigned long long)known->term,
                      known->term == record->term ? " (different entry or prefix)" : "");
    }
}

void checker_on_apply(struct sim *sim, struct sim_node *node, uint64_t index,
                      const struct sim_record *record)
{
    check_committed(sim, node, index, record, "applies");
}

void checker_on_snapshot(struct sim *sim, struct sim_node *node,
                         const struct sim_snapshot *snapshot)
{
    uint64_t index = snapshot->meta.index;
    if (index == 0) {
        return;
    }
    check_committed(sim, node, index, &snapshot->records[index - 1], "installs a snapshot at");
}

/* Everything at or below a node's commit index is committed: it must match what is known. */
static void record_commits(struct sim *sim, struct sim_node *node)
{
    uint64_t commit = raft_commit_index(node->core);
    uint64_t base = node->disk.has_snapshot ? node->disk.snapshot.meta.index : 0;
    uint64_t last = host_disk_last_index(node);
    for (uint64_t i = node->check_commit_recorded + 1; i <= commit; i++) {
        if (i <= base) {
            continue; /* covered by the snapshot, checked when it was taken or installed */
        }
        /* With a ready open (its fsync running) the core's log runs ahead of the disk and may
         * have replaced a conflicting suffix there: what is not durable yet is checked once
         * the ready finishes (same term at an index means the same entry, by Log Matching). */
        bool durable =
            i <= last && node->disk.entries[i - base - 1].term == raft_term_at(node->core, i);
        if (!durable && node->ready_open) {
            return;
        }
        if (i > last) {
            sim_violation(sim, SIM_RULE_CONTRACT,
                          "node %llu: commit index %llu beyond its "
                          "durable log (last %llu)",
                          (unsigned long long)node->id, (unsigned long long)commit,
                          (unsigned long long)last);
            return;
        }
        const struct raft_entry *entry = &node->disk.entries[i - base - 1];
        struct sim_record record = {
            .term = entry->term,
            .command = sim_command_of(entry),
            .entry_hash = sim_entry_hash(entry),
            .prefix_hash = node->disk.prefix_hashes[i - base - 1],
        };
        check_committed(sim, node, i, &record, "holds committed");
        if (sim->violation != SIM_RULE_NONE) {
            return;
        }
    }
    if (commit > node->check_commit_recorded) {
        node->check_commit_recorded = commit;
    }
}

/* ---- the configuration in force --------------------------------------------------------- */

static void decode_config_entry(const struct raft_entry *entry, struct raft_configuration *out)
{
    assert(entry->type == RAFT_ENTRY_CONFIG);
    int rc = raft_configuration_decode(entry->data, entry->data_bytes, out, NULL, NULL);
    assert(rc == 0); /* the core validates every CONFIG entry before it enters the log */
    (void)rc;
}

/* The latest CONFIG entry of the core's log at or below index, or 0. */
static uint64_t latest_config_entry(const struct raft *core, uint64_t index)
{
    uint64_t first = raft_first_index(core);
    for (uint64_t i = index; i >= first && i > 0; i--) {
        const struct raft_entry *entry = raft_entry_at(core, i);
        assert(entry != NULL);
        if (entry->type == RAFT_ENTRY_CONFIG) {
            return i;
        }
    }
    return 0;
}

/* The configuration below the core's first entry: the snapshot's it was compacted to or
 * received (on disk, or received and not installed yet), or the boot one. False when the
 * host cannot tell. */
static bool base_configuration(const struct sim_node *node, struct raft_configuration *out)
{
    uint64_t snapshot_index = raft_first_index(node->core) - 1;
    if (snapshot_index == 0) {
        sim_boot_configuration(node, out);
        return true;
    }
    if (node->disk.has_snapshot && node->disk.snapshot.meta.index == snapshot_index) {
        *out = node->disk.snapshot.meta.configuration;
        return true;
    }
    if (node->has_incoming_snapshot && node->incoming_snapshot.meta.index == snapshot_index) {
        *out = node->incoming_snapshot.meta.configuration;
        return true;
    }
    return false;
}

/* The full check: find the log's latest CONFIG entry and compare. */
static void check_configuration_full(struct sim *sim, struct sim_node *node)
{
    const struct raft *core = node->core;
    uint64_t last = raft_last_index(core);
    uint64_t latest = latest_config_entry(core, last);
    uint64_t in_force = raft_configuration_index(core);
    struct raft_configuration expected;
    bool known = true;
    if (latest != 0) {
        decode_config_entry(raft_entry_at(core, latest), &expected);
    } else {
        known = base_configuration(node, &expected);
    }
    const struct raft_configuration *actual = raft_configuration(core);
    if (in_force != latest || (known && !sim_configuration_equal(actual, &expected))) {
        sim_violation(sim, SIM_RULE_CONFIGURATION,
                      "node %llu uses the configuration of index %llu (%u voters, %u learners), "
                      "but the latest in its log (%llu..%llu) is at %llu (%u voters, %u "
                      "learners)",
                      (unsigned long long)node->id, (unsigned long long)in_force,
                      actual->voter_count, actual->learner_count,
                      (unsigned long long)raft_first_index(core), (unsigned long long)last,
                      (unsigned long long)latest, known ? expected.voter_count : 0,
                      known ? expected.learner_count : 0);
        return;
    }
    node->check_config_valid = true;
    node->check_config_index = in_force;
    node->check_config_first = raft_first_index(core);
    node->check_config_upto = last;
    node->check_config_upto_term = raft_term_at(core, last);
}

/*
 * Incremental: a full check runs when the configuration's index, the log's start or the entry
 * last checked changed (a truncation or a snapshot); otherwise only the entries appended since
 * are looked at — none of them may be a CONFIG entry, since one would be in force.
 */
static void check_configuration(struct sim *sim, struct sim_node *node)
{
    const struct raft *core = node->core;
    uint64_t last = raft_last_index(core);
    uint64_t first = raft_first_index(core);
    bool same = node->check_config_valid &&
                node->check_config_index == raft_configuration_index(core) &&
                node->check_config_first == first && node->check_config_upto <= last &&
                node->check_config_upto + 1 >= first &&
                raft_term_at(core, node->check_config_upto) == node->check_config_upto_term;
    if (!same) {
        check_configuration_full(sim, node);
        return;
    }
    for (uint64_t i = node->check_config_upto + 1; i <= last; i++) {
        const struct raft_entry *entry = raft_entry_at(core, i);
        assert(entry != NULL);
        if (entry->type == RAFT_ENTRY_CONFIG) {
            sim_violation(sim, SIM_RULE_CONFIGURATION,
                          "node %llu appended a CONFIG entry at %llu but still uses the "
                          "configuration of index %llu",
                          (unsigned long long)node->id, (unsigned long long)i,
                          (unsigned long long)raft_configuration_index(core));
            return;
        }
    }
    node->check_config_upto = last;
    node->check_config_upto_term = raft_term_at(core, last);
}

/* ---- one change at a time --------------------------------------------------------------- */

static bool config_entry_committed(const struct sim *sim, const struct sim_node *node,
                                   uint64_t index)
{
    const struct sim_checker *checker = &sim->checker;
    if (index == 0 || index <= raft_commit_index(node->core)) {
        return true; /* the base configuration, or within the leader's own commit index */
    }
    return index < checker->committed_capacity && checker->committed[index].known &&
           checker->committed[index].term == raft_term_at(node->core, index);
}

/* Scans what the leader appended in its term since the last event: every CONFIG entry among
 * it needs the previous CONFIG entry of the log committed. */
static void check_single_change(struct sim *sim, struct sim_node *node, uint64_t term)
{
    const struct raft *core = node->core;
    uint64_t last = raft_last_index(core);
    if (node->check_change_term != term) {
        /* A new leadership: its own entries start after the last one of an earlier term. */
        uint64_t before = last;
        while (before >= raft_first_index(core) && raft_term_at(core, before) == term) {
            before--;
        }
        node->check_change_term = term;
        node->check_change_scanned = before;
        node->check_change_previous = latest_config_entry(core, before);
    }
    for (uint64_t i = node->check_change_scanned + 1; i <= last; i++) {
        const struct raft_entry *entry = raft_entry_at(core, i);
        assert(entry != NULL);
        if (entry->term != term) {
            sim_violation(sim, SIM_RULE_LEADER_APPEND_ONLY,
                          "leader %llu of term %llu holds an entry of term %llu at %llu, "
                          "after entries of its own term",
                          (unsigned long long)node->id, (unsigned long long)term,
                          (unsigned long long)entry->term, (unsigned long long)i);
            return;
        }
        if (entry->type != RAFT_ENTRY_CONFIG) {
            continue;
        }
        uint64_t previous = node->check_change_previous;
        if (!config_entry_committed(sim, node, previous)) {
            sim_violation(sim, SIM_RULE_SINGLE_CHANGE,
                          "leader %llu of term %llu appended a configuration change at %llu "
                          "while the change at %llu was not committed (its commit index %llu)",
                          (unsigned long long)node->id, (unsigned long long)term,
                          (unsigned long long)i, (unsigned long long)previous,
                          (unsigned long long)raft_commit_index(core));
            return;
        }
        node->check_change_previous = i;
    }
    node->check_change_scanned = last;
}

/* ---- leaders --------------------------------------------------------------------------- */

static void check_election_safety(struct sim *sim, struct sim_node *node, uint64_t term)
{
    struct sim_checker *checker = &sim->checker;
    checker->leader_of_term = grow_zeroed(
        checker->leader_of_term, &checker->leader_of_term_capacity, term, sizeof(raft_node_id));
    raft_node_id *leader = &checker->leader_of_term[term];
    if (*leader == RAFT_NODE_NONE) {
        *leader = node->id;
        sim_trace(sim, "check: node %llu leads term %llu", (unsigned long long)node->id,
                  (unsigned long long)term);
    } else if (*leader != node->id) {
        sim_violation(sim, SIM_RULE_ELECTION_SAFETY, "nodes %llu and %llu both led term %llu",
                      (unsigned long long)*leader, (unsigned long long)node->id,
                      (unsigned long long)term);
    }
}

static void check_append_only(struct sim *sim, struct sim_node *node, uint64_t term)
{
    uint64_t last = host_disk_last_index(node);
    uint64_t hash = 0;
    if (node->check_leader_term == term) {
        if (last < node->check_leader_last) {
            sim_violation(sim, SIM_RULE_LEADER_APPEND_ONLY,
                          "leader %llu of term %llu shrank "
                          "its log from %llu to %llu",
                          (unsigned long long)node->id, (unsigned long long)term,
                          (unsigned long long)node->check_leader_last, (unsigned long long)last);
            return;
        }
        if (host_disk_prefix_hash(node, node->check_leader_last, &hash) &&
            hash != node->check_leader_hash) {
            sim_violation(sim, SIM_RULE_LEADER_APPEND_ONLY,
                          "leader %llu of term %llu rewrote "
                          "entries at or below %llu",
                          (unsigned long long)node->id, (unsigned long long)term,
                          (unsigned long long)node->check_leader_last);
            return;
        }
    }
    node->check_leader_term = term;
    node->check_leader_last = last;
    bool known = host_disk_prefix_hash(node, last, &hash);
    assert(known);
    node->check_leader_hash = hash;
}

static uint64_t committed_before_term(const struct sim_checker *checker, uint64_t term)
{
    uint64_t highest = 0;
    for (uint64_t t = 0; t < term && t < checker->max_commit_of_term_capacity; t++) {
        if (checker->max_commit_of_term[t] > highest) {
            highest = checker->max_commit_of_term[t];
        }
    }
    return highest;
}

static void check_completeness(struct sim *sim, struct sim_node *node, uint64_t term)
{
    struct sim_checker *checker = &sim->checker;
    if (node->check_completeness_term == term &&
        node->check_completeness_version == checker->commit_version) {
        return; /* nothing new was committed, and append-only keeps the log's prefix */
    }
    node->check_completeness_term = term;
    node->check_completeness_version = checker->commit_version;
    uint64_t required = committed_before_term(checker, term);
    if (required == 0) {
        return;
    }
    uint64_t base = node->disk.has_snapshot ? node->disk.snapshot.meta.index : 0;
    uint64_t at = required <= base ? base : required;
    uint64_t hash = 0;
    bool held = host_disk_prefix_hash(node, at, &hash);
    bool known = at < checker->committed_capacity && checker->committed[at].known;
    if (!held || (known && hash != checker->committed[at].prefix_hash)) {
        sim_violation(sim, SIM_RULE_LEADER_COMPLETENESS,
                      "leader %llu of term %llu lacks "
                      "entries committed in earlier terms (committed through %llu, its log "
                      "ends at %llu%s)",
                      (unsigned long long)node->id, (unsigned long long)term,
                      (unsigned long long)required, (unsigned long long)host_disk_last_index(node),
                      held ? " and differs" : "");
    }
}

static void track_leader_commit(struct sim *sim, struct sim_node *node, uint64_t term)
{
    struct sim_checker *checker = &sim->checker;
    checker->max_commit_of_term = grow_zeroed(
        checker->max_commit_of_term, &checker->max_commit_of_term_capacity, term, sizeof(uint64_t));
    uint64_t commit = raft_commit_index(node->core);
    uint64_t before = checker->max_commit_of_term[term];
    if (before != 0 && commit > before && raft_term_at(node->core, commit) != term &&
        raft_term_at(node->core, commit) != 0) {
        /* Not a violation by itself (the consequences are what the checks catch), but the
         * trace should show it: §5.4.2 says a leader commits only entries of its own term.
         * (The first commit index seen at a new leader is inherited, hence before != 0.) */
        sim_trace(sim,
                  "check: leader %llu of term %llu moved its commit index to %llu, an "
                  "entry of term %llu",
                  (unsigned long long)node->id, (unsigned long long)term,
                  (unsigned long long)commit, (unsigned long long)raft_term_at(node->core, commit));
    }
    if (commit > checker->max_commit_of_term[term]) {
        checker->max_commit_of_term[term] = commit;
        checker->commit_version++;
    }
}

/* The next touched slot at or after bit 0 of `mask`, removed from it; false when none. */
static bool next_touched(struct sim *sim, uint32_t *mask, struct sim_node **node)
{
    if (*mask == 0) {
        return false;
    }
    uint32_t slot = (uint32_t)__builtin_ctz(*mask);
    *mask &= *mask - 1;
    assert(slot < sim->node_count);
    *node = &sim->nodes[slot];
    return true;
}

/*
 * Only the nodes whose core had input since the last check (sim->touched) are looked at, in
 * slot order: no other node's state changed. What the others learnt meanwhile (a new commit
 * elsewhere) bears on an untouched node only through checks that its next input — a tick at
 * the latest — repeats.
 */
void checker_after_event(struct sim *sim)
{
    static_assert(SIM_MAX_NODES <= 32, "sim->touched holds one bit per slot");
    struct sim_node *node;
    uint32_t mask = sim->touched;
    while (sim->violation == SIM_RULE_NONE && next_touched(sim, &mask, &node)) {
        if (node->up && raft_role(node->core) == RAFT_LEADER) {
            check_election_safety(sim, node, raft_term(node->core));
        }
    }
    mask = sim->touched;
    while (sim->violation == SIM_RULE_NONE && next_touched(sim, &mask, &node)) {
        if (node->up) {
            record_commits(sim, node);
        }
        if (node->up && sim->violation == SIM_RULE_NONE) {
            check_configuration(sim, node);
        }
    }
    mask = sim->touched;
    while (sim->violation == SIM_RULE_NONE && next_touched(sim, &mask, &node)) {
        if (!node->up || raft_role(node->core) != RAFT_LEADER) {
            continue;
        }
        uint64_t term = raft_term(node->core);
        check_append_only(sim, node, term);
        if (sim->violation == SIM_RULE_NONE) {
            track_leader_commit(sim, node, term);
            check_completeness(sim, node, term);
        }
        if (sim->violation == SIM_RULE_NONE && !sim->options.skip_single_change) {
            check_single_change(sim, node, term);
        }
    }
    sim->touched = 0;
}

void checker_final(struct sim *sim)
{
    const struct sim_client *client = &sim->client;
    bool members[SIM_MAX_NODES];
    if (!operator_members(sim, members)) {
        for (uint32_t i = 0; i < sim->node_count; i++) {
            members[i] = !sim->nodes[i].retired;
        }
    }
    for (uint64_t command = 1; command < client->next_command; command++) {
        if (command >= client->acked_capacity || client->acked_index[command] == 0) {
            continue;
        }
        for (uint32_t i = 0; i < sim->node_count; i++) {
            struct sim_node *node = &sim->nodes[i];
            if (!members[i]) {
                continue;
            }
            uint64_t at = command < node->applied_at_capacity ? node->applied_at[command] : 0;
            if (at != client->acked_index[command]) {
                sim_violation(
                    sim, SIM_RULE_EXACTLY_ONCE,
                    "acknowledged command %llu (index "
                    "%llu) is %s on node %llu",
                    (unsigned long long)command, (unsigned long long)client->acked_index[command],
                    at == 0 ? "missing" : "at another index", (unsigned long long)node->id);
                return;
            }
        }
    }
}
