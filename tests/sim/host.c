/*
 * host.c — one simulated server around each core: its disk, its state machine, its ready loop.
 *
 * Happy path: host_process() drains the core's readies exactly as raft.h orders it — send
 * messages_immediate, install ready.snapshot, persist hard state and entries (the simulated
 * fsync is instant), send messages, apply committed entries, serve reads whose index has been
 * applied, then raft_advance(). Snapshot and unreachable reports produced while a ready is
 * open are queued and handed to the core after the advance. host_compact() stores a snapshot
 * of the state machine at its applied index, drops the log below it and calls raft_compact().
 *
 * Crashes: host_crash() frees the core and forgets everything volatile (state machine, pending
 * reads, a snapshot received but not installed). An armed crash point stops a ready half way:
 * before anything, after the immediate sends, in the middle of the write — a prefix of the
 * entries reaches the disk, the hard state record after them does not — after the fsync, after
 * the sends, or after applying (enum sim_crash_point). host_boot() rebuilds the core with
 * raft_new() from the disk; the state machine restarts from the stored snapshot (boot.applied =
 * snapshot index) and the core hands the committed entries above it to apply again.
 *
 * Failure modes: every departure from the contract (entries that leave a gap, an apply out of
 * order, a read id the host never asked for, a snapshot the host never received) is reported
 * as SIM_RULE_CONTRACT, never asserted, so that a core bug prints a replayable seed.
 */
#include "sim.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* ---- open readies (async fsync) --------------------------------------------------------- */

static void open_ready_free(struct sim_node *node)
{
    for (size_t i = 0; i < node->open_entry_count; i++) {
        free(node->open_entries[i].data);
    }
    free(node->open_entries);
    node->open_entries = NULL;
    node->open_entry_count = 0;
    node->ready_open = false;
}

bool host_fsync_due(const struct sim *sim, const struct sim_node *node)
{
    return node->up && node->ready_open && sim->now_ms >= node->open_fsync_at_ms;
}

/* ---- boot and crash -------------------------------------------------------------------- */

static void host_start_driver(struct sim *sim, struct sim_node *node);

/* The core's own account of its decisions, in the trace beside the simulator's. */
static void host_trace_core(void *context, const char *line)
{
    sim_trace(context, "core: %s", line);
}

int host_boot(struct sim *sim, struct sim_node *node)
{
    assert(!node->retired);
    struct raft_config config = sim->base_config;
    config.id = node->id;
    config.configuration = node->boot_configuration;
    uint64_t derive = sim->options.seed ^ (node->id << 40) ^ ((uint64_t)node->incarnation << 20);
    config.random_seed = sim_splitmix64(&derive);
    config.trace = host_trace_core;
    config.trace_context = sim;
    struct raft_boot_state boot;
    memset(&boot, 0, sizeof(boot));
    boot.hard_state = node->disk.hard_state;
    boot.has_snapshot = node->disk.has_snapshot;
    if (boot.has_snapshot) {
        boot.snapshot = node->disk.snapshot.meta;
    }
    boot.entries = node->disk.entries;
    boot.entry_count = node->disk.entry_count;
    boot.applied = disk_base(&node->disk);
    state_machine_load(node, node->disk.has_snapshot ? &node->disk.snapshot : NULL);
    int rc = raft_new(&config, &boot, &node->core);
    if (rc != 0) {
        sim_violation(sim, SIM_RULE_CONTRACT, "raft_new for node %llu failed: %s",
                      (unsigned long long)node->id, raft_error_string(rc));
        node->core = NULL;
        return rc;
    }
    node->up = true;
    host_start_driver(sim, node);
    node->last_commit_seen = boot.hard_state.commit;
    node->check_leader_term = 0;
    node->check_commit_recorded = boot.applied;
    node->check_completeness_term = 0;
    node->check_config_valid = false;
    node->check_change_term = 0;
    node->last_role = RAFT_FOLLOWER;
    sim_trace(sim, "host %llu: boot #%u term=%llu vote=%llu commit=%llu snapshot=%llu last=%llu",
              (unsigned long long)node->id, node->incarnation,
              (unsigned long long)boot.hard_state.term, (unsigned long long)boot.hard_state.vote,
              (unsigned long long)boot.hard_state.commit, (unsigned long long)boot.applied,
              (unsigned long long)host_disk_last_index(node));
    host_process(sim, node);
    return 0;
}

void host_crash(struct sim *sim, struct sim_node *node, uint64_t down_ms)
{
    assert(node->up);
    raft_free(node->core);
    node->core = NULL;
    node->up = false;
    node->incarnation++;
    node->restart_at_ms = sim->now_ms + down_ms;
    state_machine_load(node, NULL);
    node->read_count = 0;
    node->crash_point = SIM_CRASH_NONE;
    if (node->has_incoming_snapshot) {
        snapshot_free(&node->incoming_snapshot);
        node->has_incoming_snapshot = false;
    }
    open_ready_free(node); /* its fsync never finished: nothing of it reached the disk */
    client_on_crash(sim, node);
    sim_trace(sim, "fault: node %llu crashed, down for %llums", (unsigned long long)node->id,
              (unsigned long long)down_ms);
    sim_narrate(sim, "node %llu crashes (back in %llu ms)", (unsigned long long)node->id,
                (unsigned long long)down_ms);
}

void host_retire(struct sim *sim, struct sim_node *node)
{
    assert(!node->retired);
    if (node->up) {
        host_crash(sim, node, 0);
    }
    node->retired = true;
    sim_deactivate(sim, (uint32_t)(node->id - 1));
    sim_trace(sim, "operator: node %llu shut down for good", (unsigned long long)node->id);
    sim_narrate(sim, "node %llu leaves the cluster and shuts down", (unsigned long long)node->id);
}

void host_free(struct sim_node *node)
{
    if (node->core != NULL) {
        raft_free(node->core);
        node->core = NULL;
    }
    disk_truncate_from(&node->disk, disk_base(&node->disk) + 1);
    free(node->disk.entries);
    free(node->disk.prefix_hashes);
    if (node->disk.has_snapshot) {
        snapshot_free(&node->disk.snapshot);
    }
    if (node->has_incoming_snapshot) {
        snapshot_free(&node->incoming_snapshot);
    }
    free(node->applied_records);
    free(node->applied_at);
    open_ready_free(node);
    memset(node, 0, sizeof(*node));
}

/* ---- the ready loop: the driver (src/driver), with a simulated disk ----------------------
 *
 * The same ready loop as the server's (driver.c); this file only provides its effects. The
 * append hook keeps deep copies of the entries as written but not yet synced; the sync hook
 * either syncs at once or, with probability faults.async_ready_per_million, leaves the ready
 * open until open_fsync_at_ms (the server's thread-pool fsync), during which the core keeps
 * stepping and the driver hands out its early part. The crash points strike at the driver's
 * points (enum driver_point) and inside the sync (a torn write).
 */

static bool crash_here(struct sim *sim, struct sim_node *node, enum sim_crash_point point)
{
    if (node->crash_point != point) {
        return false;
    }
    sim_trace(sim, "fault: node %llu crashes inside a ready (point %d)",
              (unsigned long long)node->id, point);
    host_crash(sim, node, node->crash_down_ms);
    return true;
}

static bool install_snapshot(struct sim *sim, struct sim_node *node,
                             const struct raft_snapshot_meta *meta)
{
    struct sim_snapshot *incoming = &node->incoming_snapshot;
    if (!node->has_incoming_snapshot || incoming->meta.index != meta->index ||
        incoming->meta.term != meta->term || meta->index < node->applied) {
        sim_violation(sim, SIM_RULE_CONTRACT,
                      "node %llu: ready.snapshot %llu/%llu does not match the received one "
                      "(%s) or is below applied %llu",
                      (unsigned long long)node->id, (unsigned long long)meta->index,
                      (unsigned long long)meta->term,
                      node->has_incoming_snapshot ? "present" : "none",
                      (unsigned long long)node->applied);
        return false;
    }
    checker_on_snapshot(sim, node, incoming);
    /* §7: a log that holds the snapshot's last entry keeps what follows it. */
    struct sim_disk *disk = &node->disk;
    uint64_t base = disk_base(disk);
    uint64_t last = host_disk_last_index(node);
    bool keep_suffix = meta->index > base && meta->index <= last &&
                       disk->entries[meta->index - base - 1].term == meta->term;
    if (keep_suffix) {
        disk_drop_through(disk, meta->index);
    } else {
        disk_truncate_from(disk, base + 1);
    }
    disk_set_snapshot(disk, incoming);
    node->has_incoming_snapshot = false;
    state_machine_load(node, &disk->snapshot);
    sim_trace(sim, "host %llu: installed snapshot %llu/%llu (log suffix %s)",
              (unsigned long long)node->id, (unsigned long long)meta->index,
              (unsigned long long)meta->term, keep_suffix ? "kept" : "dropped");
    sim_narrate(sim, "node %llu catches up by installing a snapshot at index %llu",
                (unsigned long long)node->id, (unsigned long long)meta->index);
    return true;
}

static bool persist_entries(struct sim *sim, struct sim_node *node,
                            const struct raft_entry *entries, size_t keep)
{
    uint64_t first = entries[0].index;
    uint64_t base = disk_base(&node->disk);
    uint64_t last = host_disk_last_index(node);
    if (first <= base || first > last + 1) {
        sim_violation(sim, SIM_RULE_CONTRACT,
                      "node %llu: ready.entries start at %llu, disk "
                      "holds (%llu, %llu]",
                      (unsigned long long)node->id, (unsigned long long)first,
                      (unsigned long long)base, (unsigned long long)last);
        return false;
    }
    if (first <= last) {
        if (raft_role(node->core) == RAFT_LEADER) {
            sim_violation(sim, SIM_RULE_LEADER_APPEND_ONLY,
                          "leader %llu (term %llu) truncates "
                          "its log from %llu (last %llu)",
                          (unsigned long long)node->id, (unsigned long long)raft_term(node->core),
                          (unsigned long long)first, (unsigned long long)last);
            return false;
        }
        sim_trace(sim, "host %llu: truncate log from %llu (last was %llu)",
                  (unsigned long long)node->id, (unsigned long long)first,
                  (unsigned long long)last);
        disk_truncate_from(&node->disk, first);
    }
    for (size_t k = 0; k < keep; k++) {
        const struct raft_entry *entry = &entries[k];
        uint64_t previous = 0;
        if (entry->index != first + k ||
            !host_disk_prefix_hash(node, entry->index - 1, &previous)) {
            sim_violation(sim, SIM_RULE_CONTRACT,
                          "node %llu: ready.entries not contiguous at "
                          "%llu",
                          (unsigned long long)node->id, (unsigned long long)entry->index);
            return false;
        }
        uint64_t prefix = sim_chain_hash(previous, sim_entry_hash(entry));
        disk_append(&node->disk, entry, prefix);
        checker_on_persist(sim, node, entry->index, entry->term, prefix);
    }
    return true;
}

/* The fsync: the written entries reach the disk, then the hard state record. A torn write
 * (crash point 3) keeps only a prefix of the entries and loses the hard state; the caller
 * then crashes the node. */
static bool persist_open(struct sim *sim, struct sim_node *node, bool torn)
{
    size_t keep = node->open_entry_count;
    if (torn) {
        keep = keep > 0 ? (size_t)sim_prng_below(&sim->prng, keep) : 0;
    }
    if (keep > 0 && !persist_entries(sim, node, node->open_entries, keep)) {
        return false;
    }
    if (!torn && node->open_save_hard_state) {
        node->disk.hard_state = node->open_hard_state;
    }
    if (keep > 0 || (!torn && node->open_save_hard_state)) {
        sim_trace(sim,
                  "host %llu: persist term=%llu vote=%llu commit=%llu +%zu entries%s "
                  "(last %llu)",
                  (unsigned long long)node->id, (unsigned long long)node->disk.hard_state.term,
                  (unsigned long long)node->disk.hard_state.vote,
                  (unsigned long long)node->disk.hard_state.commit, keep, torn ? " TORN" : "",
                  (unsigned long long)host_disk_last_index(node));
    }
    return true;
}

static void serve_reads(struct sim *sim, struct sim_node *node)
{
    size_t kept = 0;
    for (size_t i = 0; i < node->read_count; i++) {
        struct sim_read *read = &node->reads[i];
        if (read->served_index != 0 && read->served_index <= node->applied) {
            client_on_read(sim, node, read);
            continue;
        }
        node->reads[kept++] = *read;
    }
    node->read_count = kept;
}

/* The state machine takes commands; NOOP and CONFIG entries only advance it (a CONFIG
 * entry's configuration was in force since it was appended, and the checker follows that),
 * but each must be well formed. */
static bool entry_well_formed(const struct raft_entry *entry)
{
    struct raft_configuration configuration;
    switch (entry->type) {
    case RAFT_ENTRY_COMMAND:
        return entry->data_bytes >= SIM_COMMAND_HEADER_BYTES;
    case RAFT_ENTRY_NOOP:
        return entry->data_bytes == 0;
    case RAFT_ENTRY_CONFIG:
        return raft_configuration_decode(entry->data, entry->data_bytes, &configuration, NULL,
                                         NULL) == 0;
    }
    return false;
}

static bool apply_one(struct sim *sim, struct sim_node *node, const struct raft_entry *entry)
{
    if (entry->index != node->applied + 1 || !entry_well_formed(entry)) {
        sim_violation(sim, SIM_RULE_CONTRACT,
                      "node %llu: committed entry %llu (type %d, %u "
                      "bytes) is malformed or does not follow applied %llu",
                      (unsigned long long)node->id, (unsigned long long)entry->index, entry->type,
                      entry->data_bytes, (unsigned long long)node->applied);
        return false;
    }
    struct sim_record record;
    record.term = entry->term;
    record.command = sim_command_of(entry);
    record.entry_hash = sim_entry_hash(entry);
    uint64_t previous = node->applied ? node->applied_records[node->applied - 1].prefix_hash : 0;
    record.prefix_hash = sim_chain_hash(previous, record.entry_hash);
    checker_on_apply(sim, node, entry->index, &record);
    if (record.command != 0) {
        host_ensure_applied_at(node, record.command);
        if (node->applied_at[record.command] != 0) {
            sim_violation(sim, SIM_RULE_EXACTLY_ONCE,
                          "node %llu applies command %llu at index "
                          "%llu, already applied at %llu",
                          (unsigned long long)node->id, (unsigned long long)record.command,
                          (unsigned long long)entry->index,
                          (unsigned long long)node->applied_at[record.command]);
            return false;
        }
        node->applied_at[record.command] = entry->index;
    }
    state_machine_reserve(node, node->applied + 1);
    node->applied_records[node->applied++] = record;
    client_on_apply(sim, node, entry->index, &record);
    return true;
}

static bool take_read_states(struct sim *sim, struct sim_node *node,
                             const struct raft_read_state *reads, size_t read_count,
                             const uint64_t *failed_reads, size_t failed_read_count)
{
    for (size_t i = 0; i < read_count; i++) {
        size_t k = 0;
        while (k < node->read_count && node->reads[k].request_id != reads[i].request_id) {
            k++;
        }
        if (k == node->read_count || node->reads[k].served_index != 0) {
            sim_violation(sim, SIM_RULE_CONTRACT,
                          "node %llu: ready.reads has id %llu the host "
                          "is not waiting for",
                          (unsigned long long)node->id, (unsigned long long)reads[i].request_id);
            return false;
        }
        node->reads[k].served_index = reads[i].index;
    }
    for (size_t i = 0; i < failed_read_count; i++) {
        for (size_t k = 0; k < node->read_count; k++) {
            if (node->reads[k].request_id == failed_reads[i]) {
                node->reads[k] = node->reads[--node->read_count];
                break;
            }
        }
    }
    serve_reads(sim, node);
    return true;
}

/* Leader churn: a leader whose commit index just moved may die before the APPENDs that the
 * same step produced leave it — the moment Figure 8 of the Raft paper turns on. */
static void maybe_crash_on_commit(struct sim *sim, struct sim_node *node)
{
    uint64_t commit = raft_commit_index(node->core);
    bool moved = commit > node->last_commit_seen;
    node->last_commit_seen = commit;
    if (moved && sim->faults.enabled && node->crash_point == SIM_CRASH_NONE &&
        raft_role(node->core) == RAFT_LEADER &&
        sim_prng_chance(&sim->prng, sim->faults.commit_crash_per_million)) {
        node->crash_point = SIM_CRASH_BEFORE_SENDING;
        node->crash_down_ms =
            1 + sim_prng_below(&sim->prng, 3 * SIM_ELECTION_TIMEOUT_TICKS * SIM_TICK_MS);
    }
}

static struct sim *host_sim(void *context, struct sim_node **node)
{
    struct sim_host_context *host = context;
    *node = host->node;
    return host->sim;
}

static bool hook_send(void *context, const struct raft_message *message)
{
    struct sim_node *node;
    struct sim *sim = host_sim(context, &node);
    net_send(sim, node, message);
    /* A voter may die right after granting its vote (only messages that waited for the
     * sync carry votes). */
    if (message->type == RAFT_MSG_VOTE_RESPONSE && !message->reject && sim->faults.enabled &&
        node->crash_point == SIM_CRASH_NONE &&
        sim_prng_chance(&sim->prng, sim->faults.vote_crash_per_million)) {
        node->crash_point = SIM_CRASH_AFTER_SEND;
        node->crash_down_ms = 1 + sim_prng_below(&sim->prng, sim->faults.vote_crash_max_down_ms);
    }
    return true;
}

static bool hook_install_snapshot(void *context, const struct raft_snapshot_meta *meta)
{
    struct sim_node *node;
    struct sim *sim = host_sim(context, &node);
    return install_snapshot(sim, node, meta);
}

/* Written, not durable: deep copies, since the core may truncate its log before the sync. */
static bool hook_append(void *context, const struct raft_entry *entries, size_t count)
{
    struct sim_node *node;
    host_sim(context, &node);
    assert(node->open_entry_count == 0);
    node->open_entries = calloc(count, sizeof(*node->open_entries));
    assert(node->open_entries != NULL);
    for (size_t i = 0; i < count; i++) {
        node->open_entries[i] = entries[i];
        node->open_entries[i].data = NULL;
        if (entries[i].data_bytes > 0) {
            node->open_entries[i].data = malloc(entries[i].data_bytes);
            assert(node->open_entries[i].data != NULL);
            memcpy(node->open_entries[i].data, entries[i].data, entries[i].data_bytes);
        }
    }
    node->open_entry_count = count;
    return true;
}

static bool hook_sync(void *context, bool save_hard_state, const struct raft_hard_state *hard)
{
    struct sim_node *node;
    struct sim *sim = host_sim(context, &node);
    node->open_save_hard_state = save_hard_state;
    node->open_hard_state = *hard;
    if (sim_prng_chance(&sim->prng, sim->faults.async_ready_per_million)) {
        node->ready_open = true;
        node->open_fsync_at_ms =
            sim->now_ms + 1 + sim_prng_below(&sim->prng, sim->faults.max_fsync_ms);
        return true; /* host_process finishes it when the fsync is due */
    }
    bool torn = node->crash_point == SIM_CRASH_TORN_WRITE;
    if (!persist_open(sim, node, torn) || crash_here(sim, node, SIM_CRASH_TORN_WRITE)) {
        return false;
    }
    open_ready_free(node);
    driver_synced(&node->driver, 0);
    return true;
}

static bool hook_apply(void *context, const struct raft_entry *entries, size_t count)
{
    struct sim_node *node;
    struct sim *sim = host_sim(context, &node);
    for (size_t i = 0; i < count; i++) {
        if (!apply_one(sim, node, &entries[i])) {
            return false;
        }
    }
    serve_reads(sim, node);
    return sim->violation == SIM_RULE_NONE;
}

static void hook_reads(void *context, const struct raft_read_state *reads, size_t read_count,
                       const uint64_t *failed_reads, size_t failed_read_count)
{
    struct sim_node *node;
    struct sim *sim = host_sim(context, &node);
    take_read_states(sim, node, reads, read_count, failed_reads, failed_read_count);
}

static void hook_soft_state(void *context, const struct raft_soft_state *soft_state)
{
    struct sim_node *node;
    struct sim *sim = host_sim(context, &node);
    sim_trace(sim, "host %llu: %s, leader=%llu, term=%llu", (unsigned long long)node->id,
              raft_role_string(soft_state->role), (unsigned long long)soft_state->leader,
              (unsigned long long)raft_term(node->core));
    if (soft_state->role == RAFT_LEADER) {
        sim_narrate(sim, "node %llu is elected leader for term %llu", (unsigned long long)node->id,
                    (unsigned long long)raft_term(node->core));
    } else if (node->last_role == RAFT_LEADER) {
        sim_narrate(sim, "node %llu steps down (now %s in term %llu)", (unsigned long long)node->id,
                    raft_role_string(soft_state->role), (unsigned long long)raft_term(node->core));
    }
    node->last_role = soft_state->role;
}

/* The crash points that fall between the driver's steps. */
static bool hook_at(void *context, enum driver_point point)
{
    struct sim_node *node;
    struct sim *sim = host_sim(context, &node);
    switch (point) {
    case DRIVER_POINT_BEGIN:
        maybe_crash_on_commit(sim, node);
        return !crash_here(sim, node, SIM_CRASH_BEFORE_SENDING);
    case DRIVER_POINT_SENT_IMMEDIATE:
        return !crash_here(sim, node, SIM_CRASH_AFTER_IMMEDIATE);
    case DRIVER_POINT_SYNCED:
        return !crash_here(sim, node, SIM_CRASH_AFTER_PERSIST);
    case DRIVER_POINT_SENT:
        return !crash_here(sim, node, SIM_CRASH_AFTER_SEND);
    case DRIVER_POINT_APPLIED:
        return !crash_here(sim, node, SIM_CRASH_AFTER_APPLY) && sim->violation == SIM_RULE_NONE;
    }
    return true;
}

static void host_start_driver(struct sim *sim, struct sim_node *node)
{
    node->host_context.sim = sim;
    node->host_context.node = node;
    struct driver_host host = {
        .context = &node->host_context,
        .send = hook_send,
        .install_snapshot = hook_install_snapshot,
        .append = hook_append,
        .sync = hook_sync,
        .apply = hook_apply,
        .reads = hook_reads,
        .soft_state = hook_soft_state,
        .at = hook_at,
    };
    driver_init(&node->driver, node->core, &host, &node->disk.hard_state);
#ifdef DRIVER_SABOTAGE
    node->driver.sabotage_ack_before_sync =
        sim->base_config.sabotage == RAFT_SABOTAGE_ACK_BEFORE_SYNC;
#endif
}

/* The open ready's fsync is due: it reaches the disk (or tears), then the driver goes on. */
static void finish_open_ready(struct sim *sim, struct sim_node *node)
{
    bool torn = node->crash_point == SIM_CRASH_TORN_WRITE;
    if (!persist_open(sim, node, torn) || crash_here(sim, node, SIM_CRASH_TORN_WRITE)) {
        return;
    }
    open_ready_free(node);
    driver_synced(&node->driver, 0);
}

void host_process(struct sim *sim, struct sim_node *node)
{
    sim->touched |= 1u << (node->id - 1);
    if (!node->up) {
        return;
    }
    if (node->ready_open) {
        if (sim->now_ms < node->open_fsync_at_ms) {
            /* The fsync is still running; the core keeps stepping meanwhile. */
            if (sim_prng_chance(&sim->prng, sim->faults.early_per_million)) {
                driver_process(&node->driver);
            }
            return;
        }
        finish_open_ready(sim, node);
    }
    for (int round = 0; node->up && !node->ready_open && sim->violation == SIM_RULE_NONE; round++) {
        if (round == SIM_MAX_READY_ROUNDS) {
            sim_violation(sim, SIM_RULE_CONTRACT, "node %llu: still has a ready after %d rounds",
                          (unsigned long long)node->id, SIM_MAX_READY_ROUNDS);
            return;
        }
        if (!raft_has_ready(node->core)) {
            return;
        }
        driver_process(&node->driver);
    }
}

void host_compact(struct sim *sim, struct sim_node *node)
{
    uint64_t index = node->applied;
    /* Like the server, compact only between readies: entries applied early (before an open
     * ready's fsync) are not yet advanced in the core, which compacts only what it knows to
     * be applied. */
    if (!node->up || node->ready_open || index <= disk_base(&node->disk)) {
        return;
    }
    if (host_disk_last_index(node) < index) {
        sim_violation(sim, SIM_RULE_CONTRACT,
                      "node %llu applied %llu beyond its durable log "
                      "(last %llu)",
                      (unsigned long long)node->id, (unsigned long long)index,
                      (unsigned long long)host_disk_last_index(node));
        return;
    }
    struct sim_snapshot snapshot;
    struct sim_snapshot view = {.records = node->applied_records};
    view.meta.index = index;
    view.meta.term = node->applied_records[index - 1].term;
    struct raft_configuration expected;
    bool known = disk_configuration_at(node, index, &expected);
    int rc = raft_configuration_at(node->core, index, &view.meta.configuration);
    if (known && expected.voter_count == 0 && rc == RAFT_ERROR_UNAVAILABLE) {
        /* A node that joined empty, below its first CONFIG entry: no snapshot there, as the
         * server takes none when raft_configuration_at fails. */
        sim_trace(sim, "host %llu: no snapshot at %llu (configuration unknown there)",
                  (unsigned long long)node->id, (unsigned long long)index);
        return;
    }
    if (rc != 0) {
        sim_violation(sim, SIM_RULE_CONTRACT, "raft_configuration_at(%llu) on node %llu: %s",
                      (unsigned long long)index, (unsigned long long)node->id,
                      raft_error_string(rc));
        return;
    }
    /* The snapshot carries the configuration in force at its index: the disk's own log says
     * which that is. */
    if (!known || !sim_configuration_equal(&expected, &view.meta.configuration)) {
        sim_violation(sim, SIM_RULE_CONFIGURATION,
                      "node %llu: raft_configuration_at(%llu) gives %u voters and %u learners, "
                      "its durable log says %u and %u",
                      (unsigned long long)node->id, (unsigned long long)index,
                      view.meta.configuration.voter_count, view.meta.configuration.learner_count,
                      expected.voter_count, expected.learner_count);
        return;
    }
    snapshot_copy(&snapshot, &view);
    disk_drop_through(&node->disk, index);
    disk_set_snapshot(&node->disk, &snapshot);
    rc = raft_compact(node->core, index);
    sim_trace(sim, "host %llu: compact through %llu: %s", (unsigned long long)node->id,
              (unsigned long long)index, raft_error_string(rc));
    if (rc != 0) {
        sim_violation(sim, SIM_RULE_CONTRACT, "raft_compact(%llu) on node %llu: %s",
                      (unsigned long long)index, (unsigned long long)node->id,
                      raft_error_string(rc));
        return;
    }
    host_process(sim, node);
}
