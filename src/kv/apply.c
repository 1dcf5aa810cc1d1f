/*
 * apply.c — committed entries into the state machine (kv_apply_batch) and reads out of it
 * (kv_read).
 *
 * Happy path: skip the entries already applied (a replay after a restart), check that the rest
 * continue at applied + 1, decode every one of them, and only then open ONE write transaction,
 * run each command with its reply sink, store the last entry's index and term as the applied
 * point, and commit. A command's own error (a syntax error, INCR on text) is its reply and
 * still advances the applied index, because every replica makes the same decision.
 *
 * Failure modes: an entry that does not decode is corruption and an entry this build cannot
 * apply (unknown entry type, command or format version) is refused — both before anything
 * runs, so no reply is sent and nothing changes. A storage failure while running aborts the
 * transaction: nothing of the batch is applied, though earlier entries' sinks were written
 * (see kv.h). Skipping a bad entry is never an option: replicas would diverge.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include "kv/kv_internal.h"

static int kv_argv_reserve(struct kv *kv, size_t count)
{
    assert(count <= KV_MAX_COMMAND_ARGS);
    if (kv->argv_capacity >= count) {
        return 0;
    }
    size_t capacity = kv->argv_capacity * 2;
    capacity = capacity > count ? capacity : count;
    struct kv_arg *argv = realloc(kv->argv, capacity * sizeof *argv);
    if (argv == NULL) {
        return KV_ERROR_NO_MEMORY;
    }
    kv->argv = argv;
    kv->argv_capacity = capacity;
    return 0;
}

/* Decodes one COMMAND entry into kv->argv. */
static int kv_entry_decode(struct kv *kv, const struct raft_entry *entry, size_t *argc,
                           uint64_t *stamp_ms)
{
    int result = kv_command_decode(entry->data, entry->data_bytes, NULL, 0, argc, NULL);
    if (result == 0) {
        result = kv_argv_reserve(kv, *argc);
    }
    if (result == 0) {
        result = kv_command_decode(entry->data, entry->data_bytes, kv->argv, kv->argv_capacity,
                                   argc, stamp_ms);
    }
    if (result != 0) {
        snprintf(kv->error_message, sizeof kv->error_message,
                 "entry %llu (term %llu) does not decode: %s", (unsigned long long)entry->index,
                 (unsigned long long)entry->term, kv_error_string(result));
    }
    return result;
}

/* A bound on the bytes of the pages one command dirties beyond what it rewrites of the data
 * already stored: its payload plus a few pages of tree. */
static uint64_t kv_command_page_bound(uint32_t data_bytes)
{
    enum { PAGES_PER_COMMAND = 8, PAGE_BYTES = 4096 };
    return (uint64_t)data_bytes + PAGES_PER_COMMAND * PAGE_BYTES;
}

/* Checks order, types and encodings of the entries to apply, before any of them runs, and
 * adds up what they are likely to allocate (kv_reserve_map). */
static int kv_batch_validate(struct kv *kv, const struct raft_entry *entries, size_t count,
                             uint64_t *page_bound)
{
    *page_bound = 0;
    uint64_t expected = kv->applied_index + 1;
    for (size_t i = 0; i < count; i++, expected++) {
        const struct raft_entry *entry = &entries[i];
        if (entry->index != expected) {
            snprintf(kv->error_message, sizeof kv->error_message,
                     "entry %llu where %llu was expected", (unsigned long long)entry->index,
                     (unsigned long long)expected);
            return KV_ERROR_OUT_OF_ORDER;
        }
        if (entry->type == RAFT_ENTRY_NOOP) {
            continue;
        }
        if (entry->type == RAFT_ENTRY_CONFIG) {
            *page_bound += 4 + entry->data_bytes / 2048; /* the stored copy, and its B-tree path */
            continue;
        }
        if (entry->type != RAFT_ENTRY_COMMAND) {
            snprintf(kv->error_message, sizeof kv->error_message, "entry %llu has unknown type %u",
                     (unsigned long long)entry->index, (unsigned)entry->type);
            return KV_ERROR_UNSUPPORTED;
        }
        size_t argc;
        int result = kv_entry_decode(kv, entry, &argc, NULL);
        if (result != 0) {
            return result;
        }
        /* A session's write is judged by the write it holds, plus the reply it keeps. */
        size_t inner_argc = argc;
        const struct kv_arg *inner = kv->argv;
        if (kv_session_unwrap(&inner_argc, &inner)) {
            *page_bound += KV_SESSION_REPLY_MAX_BYTES + kv_command_page_bound(0);
        }
        const struct kv_command *command = kv_command_lookup(inner[0].data, inner[0].data_bytes);
        if (command == NULL) {
            snprintf(kv->error_message, sizeof kv->error_message,
                     "entry %llu holds a command this build does not know",
                     (unsigned long long)entry->index);
            return KV_ERROR_UNSUPPORTED;
        }
        /* What the entry carries, not what it may rewrite or copy (APPEND, COPY, the STORE
         * commands): a bound on those would be the whole database, and the map is allocated
         * disk. A batch that needs more meets the map's end and runs again (map.c). */
        *page_bound += kv_command_page_bound(entry->data_bytes);
    }
    return 0;
}

/* Items of deleted collections freed after each entry: a big key's delete costs a few entries'
 * worth of work each, never one long stall. */
#define KV_TRASH_BUDGET_PER_ENTRY 256

/* Runs of one batch at most: each after MDB_MAP_FULL grew the map, by twice the growth before
 * the last (map.c): 16 runs grow it by at least 1 TiB. */
#define KV_MAP_FULL_RUNS 16

/* Runs the validated entries inside txn. */
static int kv_batch_run(struct kv *kv, MDB_txn *txn, const struct raft_entry *entries, size_t count,
                        kv_reply_provider provider, void *provider_context)
{
    struct kv_exec exec = {.kv = kv, .txn = txn, .reply = NULL, .writable = true};
    for (size_t i = 0; i < count; i++) {
        const struct raft_entry *entry = &entries[i];
        if (entry->type == RAFT_ENTRY_NOOP) {
            continue;
        }
        if (entry->type == RAFT_ENTRY_CONFIG) {
            int rc = kv_meta_write_members(txn, kv->meta_dbi, entry->data, entry->data_bytes);
            if (rc != 0) {
                return kv_storage_error(kv, rc, "storing the configuration");
            }
            continue;
        }
        size_t argc;
        uint64_t stamp_ms = 0;
        int result = kv_entry_decode(kv, entry, &argc, &stamp_ms);
        assert(result == 0); /* kv_batch_validate decoded it already */
        const struct kv_reply *reply = NULL;
        if (provider != NULL) {
            reply = provider(provider_context, entry->index, entry->term);
        }
        /* The replicated clock never goes backwards, whatever a leader's stamp says. */
        if (stamp_ms > kv->clock_ms) {
            kv->clock_ms = stamp_ms;
        }
        exec.now_ms = kv->clock_ms;
        exec.index = entry->index;
        exec.entry_data = entry->data;
        exec.entry_bytes = entry->data_bytes;
        exec.random_state = entry->index * UINT64_C(0x9E3779B97F4A7C15) ^ entry->term;
        exec.reply = reply != NULL ? reply : &kv_discard_reply;
        result = kv_dispatch(&exec, argc, kv->argv);
        if (result == 0) {
            result = kv_trash_collect(&exec, KV_TRASH_BUDGET_PER_ENTRY);
        }
        if (result != 0) {
            return result;
        }
    }
    return 0;
}

static void kv_buffer_trim(struct kv_buffer *buffer)
{
    if (buffer->capacity_bytes > KV_SCRATCH_RETAIN_BYTES) {
        free(buffer->data);
        buffer->data = NULL;
        buffer->capacity_bytes = 0;
    }
}

static void kv_scratch_trim(struct kv *kv)
{
    kv_buffer_trim(&kv->scratch);
    kv_buffer_trim(&kv->map_copy);
    kv_buffer_trim(&kv->session_reply);
}

/* One run of the validated entries in one write transaction, committed or undone whole. */
static int kv_batch_commit(struct kv *kv, const struct raft_entry *entries, size_t count,
                           kv_reply_provider provider, void *provider_context)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(kv->env, NULL, 0, &txn);
    if (rc != 0) {
        return kv_storage_error(kv, rc, "mdb_txn_begin");
    }
    /* What the batch changes in struct kv is undone if the transaction is. */
    uint64_t clock_before = kv->clock_ms;
    uint64_t next_id_before = kv->next_id;
    unsigned notify_before = kv->notify_flags;
    size_t messages_before = kv->messages_used;
    int result = kv_batch_run(kv, txn, entries, count, provider, provider_context);
    if (result != 0) {
        goto abort_txn;
    }
    const struct raft_entry *last = &entries[count - 1];
    rc = kv_meta_write_state(txn, kv->meta_dbi, kv->clock_ms, kv->next_id);
    if (rc == 0) {
        rc = kv_meta_write_applied(txn, kv->meta_dbi, last->index, last->term);
    }
    if (rc != 0) {
        result = kv_storage_error(kv, rc, "storing the applied index");
        goto abort_txn;
    }
    result = kv_measure_used(kv, txn);
    if (result != 0) {
        goto abort_txn;
    }
    rc = mdb_txn_commit(txn); /* frees txn, also when it fails */
    if (rc != 0) {
        result = kv_storage_error(kv, rc, "mdb_txn_commit");
        goto restore_state;
    }
    kv->applied_index = last->index;
    kv->applied_term = last->term;
    return 0;

abort_txn:
    mdb_txn_abort(txn);
restore_state:
    kv->clock_ms = clock_before;
    kv->next_id = next_id_before;
    kv->notify_flags = notify_before;
    kv_messages_truncate(kv, messages_before); /* applied again later, delivered then */
    return result;
}

/* Before a batch runs again: every sink of its entries forgets what the aborted run said. */
static void kv_batch_rewind(const struct raft_entry *entries, size_t count,
                            kv_reply_provider provider, void *provider_context)
{
    for (size_t i = 0; provider != NULL && i < count; i++) {
        if (entries[i].type != RAFT_ENTRY_COMMAND) {
            continue;
        }
        const struct kv_reply *reply =
            provider(provider_context, entries[i].index, entries[i].term);
        if (reply != NULL && reply->rewind != NULL) {
            reply->rewind(reply->context);
        }
    }
}

int kv_apply_batch(struct kv *kv, const struct raft_entry *entries, size_t count,
                   kv_reply_provider provider, void *provider_context)
{
    if (kv->env == NULL) {
        return KV_ERROR_CLOSED;
    }
    if (count > 0 && entries == NULL) {
        return KV_ERROR_INVALID;
    }
    size_t first = 0;
    while (first < count && entries[first].index <= kv->applied_index) {
        first++; /* applied before a restart: the WAL replays from below the applied index */
    }
    if (first == count) {
        return 0;
    }
    entries += first;
    count -= first;
    uint64_t page_bound = 0;
    int result = kv_batch_validate(kv, entries, count, &page_bound);
    if (result != 0) {
        return result;
    }
    kv_reserve_map(kv, page_bound);
    for (unsigned run = 1;; run++) {
        result = kv_batch_commit(kv, entries, count, provider, provider_context);
        if (result != KV_ERROR_MAP_FULL || run == KV_MAP_FULL_RUNS) {
            break;
        }
        result = kv_grow_full_map(kv, run);
        if (result != 0) {
            break;
        }
        kv_batch_rewind(entries, count, provider, provider_context);
    }
    kv_scratch_trim(kv);
    return result;
}

int kv_read(struct kv *kv, size_t argc, const struct kv_arg *argv, uint64_t now_ms,
            const struct kv_reply *reply)
{
    if (kv->env == NULL) {
        return KV_ERROR_CLOSED;
    }
    if (argc == 0 || argv == NULL || reply == NULL) {
        return KV_ERROR_INVALID;
    }
    const struct kv_command *command = kv_command_resolve(argc, argv, reply);
    if (command == NULL) {
        return 0;
    }
    if (!(command->flags & KV_COMMAND_READ)) {
        snprintf(kv->error_message, sizeof kv->error_message,
                 "'%s' is a write command: propose it through the log", command->name);
        return KV_ERROR_INVALID;
    }
    int rc = mdb_txn_renew(kv->read_txn);
    if (rc != 0) {
        return kv_storage_error(kv, rc, "mdb_txn_renew");
    }
    struct kv_exec exec = {
        .kv = kv,
        .txn = kv->read_txn,
        .reply = reply,
        .writable = false,
        .now_ms = now_ms > kv->clock_ms ? now_ms : kv->clock_ms,
        .random_state = ++kv->read_draws * UINT64_C(0xD1B54A32D192ED03) ^ now_ms, /* variety only */
    };
    int result = command->handler(&exec, argc, argv);
    mdb_txn_reset(kv->read_txn);
    return result;
}
