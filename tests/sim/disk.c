/*
 * disk.c — a node's simulated disk and volatile state machine, and the hashes that the checker
 * compares them by.
 *
 * The disk holds what survives a crash: the hard state, the log after the snapshot (with, for
 * each entry, the hash of the whole log prefix it ends, so Log Matching is an O(1) comparison)
 * and the snapshot, whose data is the state machine it was taken from — the applied records
 * 1..index. The state machine is those records plus a table command id -> index applied at;
 * it is volatile and restarts from the snapshot.
 *
 * Writes are instant and atomic per call; host.c decides what reaches the disk before a crash.
 * Failure modes: none; callers check indexes first (host.c reports contract violations), and
 * assertions guard the arithmetic.
 */
#include "sim.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define SIM_FNV_OFFSET 1469598103934665603ULL
#define SIM_FNV_PRIME  1099511628211ULL

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t fnv_bytes(uint64_t hash, const void *data, size_t bytes)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < bytes; i++) {
        hash ^= p[i];
        hash *= SIM_FNV_PRIME;
    }
    return hash;
}

uint64_t sim_entry_hash(const struct raft_entry *entry)
{
    uint64_t hash = SIM_FNV_OFFSET;
    hash = fnv_bytes(hash, &entry->term, sizeof(entry->term));
    hash = fnv_bytes(hash, &entry->type, sizeof(entry->type));
    hash = fnv_bytes(hash, &entry->data_bytes, sizeof(entry->data_bytes));
    if (entry->data_bytes > 0) {
        hash = fnv_bytes(hash, entry->data, entry->data_bytes);
    }
    return mix64(hash);
}

uint64_t sim_chain_hash(uint64_t previous, uint64_t entry_hash)
{
    return mix64(previous * 0x9e3779b97f4a7c15ULL ^ entry_hash);
}

uint64_t sim_command_of(const struct raft_entry *entry)
{
    if (entry->type != RAFT_ENTRY_COMMAND || entry->data_bytes < SIM_COMMAND_HEADER_BYTES) {
        return 0;
    }
    uint64_t command = 0;
    for (int i = 0; i < SIM_COMMAND_HEADER_BYTES; i++) {
        command |= (uint64_t)entry->data[i] << (8 * i);
    }
    return command;
}

/* ---- the simulated disk ---------------------------------------------------------------- */

uint64_t disk_base(const struct sim_disk *disk)
{
    return disk->has_snapshot ? disk->snapshot.meta.index : 0;
}

uint64_t host_disk_last_index(const struct sim_node *node)
{
    return disk_base(&node->disk) + node->disk.entry_count;
}

bool host_disk_prefix_hash(const struct sim_node *node, uint64_t index, uint64_t *hash)
{
    const struct sim_disk *disk = &node->disk;
    uint64_t base = disk_base(disk);
    if (index == 0) {
        *hash = 0;
        return true;
    }
    if (index < base || index > base + disk->entry_count) {
        return false;
    }
    *hash = index == base ? disk->snapshot.records[base - 1].prefix_hash
                          : disk->prefix_hashes[index - base - 1];
    return true;
}

/* Removes the entries at index and above. */
void disk_truncate_from(struct sim_disk *disk, uint64_t index)
{
    uint64_t base = disk_base(disk);
    assert(index > base);
    size_t keep = (size_t)(index - base - 1);
    for (size_t k = keep; k < disk->entry_count; k++) {
        free(disk->entries[k].data);
    }
    if (keep < disk->entry_count) {
        disk->entry_count = keep;
    }
}

/* Removes the entries at index and below (they are in the snapshot now). */
void disk_drop_through(struct sim_disk *disk, uint64_t index)
{
    uint64_t base = disk_base(disk);
    size_t drop = index <= base ? 0 : (size_t)(index - base);
    if (drop > disk->entry_count) {
        drop = disk->entry_count;
    }
    for (size_t k = 0; k < drop; k++) {
        free(disk->entries[k].data);
    }
    size_t rest = disk->entry_count - drop;
    memmove(disk->entries, disk->entries + drop, rest * sizeof(*disk->entries));
    memmove(disk->prefix_hashes, disk->prefix_hashes + drop, rest * sizeof(uint64_t));
    disk->entry_count = rest;
}

void disk_append(struct sim_disk *disk, const struct raft_entry *entry, uint64_t prefix)
{
    if (disk->entry_count == disk->entry_capacity) {
        size_t capacity = disk->entry_capacity ? disk->entry_capacity * 2 : 64;
        disk->entries = realloc(disk->entries, capacity * sizeof(*disk->entries));
        disk->prefix_hashes = realloc(disk->prefix_hashes, capacity * sizeof(uint64_t));
        assert(disk->entries != NULL && disk->prefix_hashes != NULL);
        disk->entry_capacity = capacity;
    }
    struct raft_entry *copy = &disk->entries[disk->entry_count];
    *copy = *entry;
    copy->data = NULL;
    if (entry->data_bytes > 0) {
        copy->data = malloc(entry->data_bytes);
        assert(copy->data != NULL);
        memcpy(copy->data, entry->data, entry->data_bytes);
    }
    disk->prefix_hashes[disk->entry_count] = prefix;
    disk->entry_count++;
}

void disk_set_snapshot(struct sim_disk *disk, struct sim_snapshot *snapshot)
{
    if (disk->has_snapshot) {
        snapshot_free(&disk->snapshot);
    }
    disk->snapshot = *snapshot; /* ownership moves to the disk */
    disk->has_snapshot = true;
}

/* The configuration a node boots with when it has no snapshot, as raft_new reads it: the
 * highest id is at least its members'. */
void sim_boot_configuration(const struct sim_node *node, struct raft_configuration *out)
{
    *out = node->boot_configuration;
    for (uint32_t i = 0; i < out->voter_count; i++) {
        out->highest_id = out->voters[i] > out->highest_id ? out->voters[i] : out->highest_id;
    }
    for (uint32_t i = 0; i < out->learner_count; i++) {
        out->highest_id = out->learners[i] > out->highest_id ? out->learners[i] : out->highest_id;
    }
}

bool disk_configuration_at(const struct sim_node *node, uint64_t index,
                           struct raft_configuration *out)
{
    const struct sim_disk *disk = &node->disk;
    uint64_t base = disk_base(disk);
    if (index < base || index > base + disk->entry_count) {
        return false;
    }
    for (uint64_t i = index; i > base; i--) {
        const struct raft_entry *entry = &disk->entries[i - base - 1];
        if (entry->type == RAFT_ENTRY_CONFIG) {
            return raft_configuration_decode(entry->data, entry->data_bytes, out, NULL, NULL) == 0;
        }
    }
    if (disk->has_snapshot) {
        *out = disk->snapshot.meta.configuration;
    } else {
        sim_boot_configuration(node, out);
    }
    return true;
}

/* ---- the state machine ----------------------------------------------------------------- */

void host_ensure_applied_at(struct sim_node *node, uint64_t command)
{
    if (command < node->applied_at_capacity) {
        return;
    }
    size_t capacity = node->applied_at_capacity ? node->applied_at_capacity : 256;
    while (capacity <= command) {
        capacity *= 2;
    }
    node->applied_at = realloc(node->applied_at, capacity * sizeof(uint64_t));
    assert(node->applied_at != NULL);
    memset(node->applied_at + node->applied_at_capacity, 0,
           (capacity - node->applied_at_capacity) * sizeof(uint64_t));
    node->applied_at_capacity = capacity;
}

void state_machine_reserve(struct sim_node *node, uint64_t count)
{
    if (count <= node->applied_capacity) {
        return;
    }
    size_t capacity = node->applied_capacity ? node->applied_capacity : 64;
    while (capacity < count) {
        capacity *= 2;
    }
    node->applied_records = realloc(node->applied_records, capacity * sizeof(struct sim_record));
    assert(node->applied_records != NULL);
    node->applied_capacity = capacity;
}

/* Replaces the state machine with a snapshot's records (or empties it). */
void state_machine_load(struct sim_node *node, const struct sim_snapshot *snapshot)
{
    if (node->applied_at_capacity > 0) {
        memset(node->applied_at, 0, node->applied_at_capacity * sizeof(uint64_t));
    }
    node->applied = 0;
    if (snapshot == NULL) {
        return;
    }
    state_machine_reserve(node, snapshot->meta.index);
    for (uint64_t i = 0; i < snapshot->meta.index; i++) {
        const struct sim_record *record = &snapshot->records[i];
        node->applied_records[i] = *record;
        if (record->command != 0) {
            host_ensure_applied_at(node, record->command);
            node->applied_at[record->command] = i + 1;
        }
    }
    node->applied = snapshot->meta.index;
}
