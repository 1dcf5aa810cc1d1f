/*
 * log.c — the in-memory view of the Raft log: the entries not yet compacted into a snapshot.
 *
 * The log is an array of entries starting just after the snapshot point
 * (snapshot_index, snapshot_term). The host persists entries through ready batches; the log
 * tracks how far that has gone (`handed` to the host, `stable` once advanced) so that a
 * conflicting suffix truncated while a ready is outstanding is handed out again. Each entry
 * owns its data buffer; truncation and compaction free them.
 *
 * Memory exhaustion aborts, as in Redis: a core that cannot grow its log cannot go on.
 */
#include "raft/raft_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *log_allocate(size_t bytes)
{
    void *memory = malloc(bytes > 0 ? bytes : 1);
    if (memory == NULL) {
        fprintf(stderr, "raft: out of memory allocating %zu bytes\n", bytes);
        abort();
    }
    return memory;
}

void raft_log_init(struct raft_log *log, uint64_t snapshot_index, uint64_t snapshot_term)
{
    memset(log, 0, sizeof *log);
    log->snapshot_index = snapshot_index;
    log->snapshot_term = snapshot_term;
    log->stable = snapshot_index;
    log->handed = snapshot_index;
}

static void log_retire(struct raft_log *log, uint8_t *data)
{
    assert(log->retain_data);
    assert(data != NULL);
    if (log->retired_count == log->retired_capacity) {
        size_t capacity = log->retired_capacity > 0 ? log->retired_capacity * 2 : 64;
        uint8_t **grown = realloc(log->retired, capacity * sizeof *grown);
        if (grown == NULL) {
            fprintf(stderr, "raft: out of memory retiring entry data\n");
            abort();
        }
        log->retired = grown;
        log->retired_capacity = capacity;
    }
    assert(log->retired_count < log->retired_capacity);
    log->retired[log->retired_count++] = data;
}

static void log_free_entries(struct raft_log *log, size_t from, size_t to)
{
    assert(from <= to);
    assert(to <= log->count);
    for (size_t i = from; i < to; i++) {
        if (log->retain_data && log->entries[i].data != NULL) {
            log_retire(log, log->entries[i].data);
        } else {
            free(log->entries[i].data);
        }
        log->entries[i].data = NULL;
    }
}

void raft_log_release_retired(struct raft_log *log)
{
    /* Only once no batch points into entry data any more. */
    assert(!log->retain_data);
    assert(log->retired_count <= log->retired_capacity);
    for (size_t i = 0; i < log->retired_count; i++) {
        free(log->retired[i]);
    }
    log->retired_count = 0;
}

void raft_log_free(struct raft_log *log)
{
    log->retain_data = false;
    log_free_entries(log, 0, log->count);
    raft_log_release_retired(log);
    free(log->retired);
    free(log->entries);
    memset(log, 0, sizeof *log);
}

uint64_t raft_log_first_index(const struct raft_log *log)
{
    return log->snapshot_index + 1;
}

uint64_t raft_log_last_index(const struct raft_log *log)
{
    return log->snapshot_index + log->count;
}

uint64_t raft_log_last_term(const struct raft_log *log)
{
    if (log->count == 0) {
        return log->snapshot_term;
    }
    return log->entries[log->count - 1].term;
}

uint64_t raft_log_term_at(const struct raft_log *log, uint64_t index)
{
    if (index == log->snapshot_index) {
        return log->snapshot_term;
    }
    if (index < log->snapshot_index || index > raft_log_last_index(log)) {
        return 0;
    }
    const struct raft_entry *entry = &log->entries[index - log->snapshot_index - 1];
    assert(entry->index == index);
    return entry->term;
}

struct raft_entry *raft_log_entry_at(const struct raft_log *log, uint64_t index)
{
    if (index <= log->snapshot_index || index > raft_log_last_index(log)) {
        return NULL;
    }
    struct raft_entry *entry = &log->entries[index - log->snapshot_index - 1];
    assert(entry->index == index);
    return entry;
}

static void log_reserve(struct raft_log *log, size_t count)
{
    if (count <= log->capacity) {
        return;
    }
    size_t capacity = log->capacity > 0 ? log->capacity * 2 : 64;
    while (capacity < count) {
        capacity *= 2;
    }
    struct raft_entry *entries = realloc(log->entries, capacity * sizeof *entries);
    if (entries == NULL) {
        fprintf(stderr, "raft: out of memory growing the log to %zu entries\n", capacity);
        abort();
    }
    log->entries = entries;
    log->capacity = capacity;
    assert(log->capacity >= count);
}

/* Appends an entry whose data the log takes over. */
static int log_append_owned(struct raft_log *log, struct raft_entry *entry)
{
    assert(entry->index == raft_log_last_index(log) + 1);
    assert(entry->term >= raft_log_last_term(log));
    assert(entry->data_bytes == 0 || entry->data != NULL);
    log_reserve(log, log->count + 1);
    log->entries[log->count++] = *entry;
    return 0;
}

int raft_log_append_copy(struct raft_log *log, const struct raft_entry *entry)
{
    struct raft_entry copy = *entry;
    copy.data = NULL;
    if (entry->data_bytes > 0) {
        copy.data = log_allocate(entry->data_bytes);
        memcpy(copy.data, entry->data, entry->data_bytes);
    }
    return log_append_owned(log, &copy);
}

void raft_log_truncate_from(struct raft_log *log, uint64_t index)
{
    assert(index > log->snapshot_index);
    if (index > raft_log_last_index(log)) {
        return;
    }
    size_t keep = (size_t)(index - log->snapshot_index - 1);
    log_free_entries(log, keep, log->count);
    log->count = keep;
    if (log->stable >= index) {
        log->stable = index - 1;
    }
    if (log->handed >= index) {
        log->handed = index - 1;
    }
    assert(log->stable <= raft_log_last_index(log));
    assert(log->handed <= raft_log_last_index(log));
}

void raft_log_compact_to(struct raft_log *log, uint64_t index, uint64_t term)
{
    assert(index > log->snapshot_index);
    assert(index <= log->stable);
    assert(raft_log_term_at(log, index) == term);
    size_t drop = (size_t)(index - log->snapshot_index);
    log_free_entries(log, 0, drop);
    memmove(log->entries, log->entries + drop, (log->count - drop) * sizeof *log->entries);
    log->count -= drop;
    log->snapshot_index = index;
    log->snapshot_term = term;
    assert(log->count == 0 || log->entries[0].index == index + 1);
}

void raft_log_reset(struct raft_log *log, uint64_t snapshot_index, uint64_t snapshot_term)
{
    /* A snapshot replaces the log only when it is newer than the commit index, so never
     * with an older snapshot point. */
    assert(snapshot_index >= log->snapshot_index);
    log_free_entries(log, 0, log->count);
    log->count = 0;
    log->snapshot_index = snapshot_index;
    log->snapshot_term = snapshot_term;
    log->stable = snapshot_index;
    log->handed = snapshot_index;
}

bool raft_log_is_up_to_date(const struct raft_log *log, uint64_t last_index, uint64_t last_term)
{
    uint64_t our_term = raft_log_last_term(log);
    if (last_term != our_term) {
        return last_term > our_term;
    }
    return last_index >= raft_log_last_index(log);
}

uint64_t raft_log_first_index_of_term_run(const struct raft_log *log, uint64_t index)
{
    uint64_t term = raft_log_term_at(log, index);
    assert(term > 0);
    while (index > raft_log_first_index(log) && raft_log_term_at(log, index - 1) == term) {
        index--;
    }
    assert(index >= log->snapshot_index);
    return index;
}

uint64_t raft_log_last_index_of_term(const struct raft_log *log, uint64_t term)
{
    for (uint64_t index = raft_log_last_index(log); index > log->snapshot_index; index--) {
        uint64_t entry_term = raft_log_term_at(log, index);
        if (entry_term == term) {
            return index;
        }
        if (entry_term < term) {
            return 0;
        }
    }
    return log->snapshot_term == term ? log->snapshot_index : 0;
}
