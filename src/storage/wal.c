/*
 * wal.c — the write-ahead log: segment files of checksummed records (record.h).
 *
 * Layout. <dir>/wal/ holds segments named "<sequence>-<first index>.wal" (both 20-digit
 * decimal). Segments are append-only: a record is never overwritten in place. Replacing a
 * conflicting suffix (Raft §5.3) starts a NEW segment named by the first replaced index;
 * during recovery, a segment whose first index is at or below the log's last index cuts the
 * log there before its own records are added. The sequence number orders segments; the first
 * index says where each one joins the log. A segment that could be full rolls over to a new
 * one at segment_max_bytes.
 *
 * Commit order. wal_append only writes. wal_sync first fsyncs the directory (so a segment
 * created since the last sync exists), then fdatasyncs every written segment in sequence
 * order. Hence a segment holds synced records only if every older segment's records are
 * synced too; and a crash leaves, per segment, its synced records plus possibly part of what
 * was written after them.
 *
 * Recovery (reading the segments back after a restart) is wal_recover.c's.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/internal.h"
#include "storage/record.h"

#define SEGMENT_NAME_DIGITS 20
#define SEGMENT_NAME_BYTES  (2 * SEGMENT_NAME_DIGITS + 6) /* digits, '-', ".wal", NUL */

static void segment_name(char *out, uint64_t sequence, uint64_t first_index)
{
    assert(out != NULL);
    snprintf(out, SEGMENT_NAME_BYTES, "%020" PRIu64 "-%020" PRIu64 ".wal", sequence, first_index);
}

static bool parse_digits(const char *text, uint64_t *out)
{
    assert(text != NULL);
    assert(out != NULL);
    uint64_t value = 0;
    for (int i = 0; i < SEGMENT_NAME_DIGITS; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return false;
        }
        uint64_t digit = (uint64_t)(text[i] - '0');
        if (value > (UINT64_MAX - digit) / 10) {
            return false;
        }
        value = value * 10 + digit;
    }
    *out = value;
    return true;
}

bool wal_parse_segment_name(const char *name, uint64_t *sequence, uint64_t *first_index)
{
    assert(name != NULL);
    assert(sequence != NULL);
    assert(first_index != NULL);
    if (strlen(name) != SEGMENT_NAME_BYTES - 1 || name[SEGMENT_NAME_DIGITS] != '-' ||
        strcmp(name + 2 * SEGMENT_NAME_DIGITS + 1, ".wal") != 0) {
        return false;
    }
    return parse_digits(name, sequence) &&
           parse_digits(name + SEGMENT_NAME_DIGITS + 1, first_index);
}

int wal_segment_path(struct storage *storage, char *out, const struct wal_segment *segment)
{
    assert(out != NULL);
    assert(segment != NULL);
    char name[SEGMENT_NAME_BYTES];
    segment_name(name, segment->sequence, segment->first_index);
    return storage_join_path(storage, out, storage->wal_dir, name);
}

struct wal_segment *wal_current_segment(struct storage *storage)
{
    assert(storage != NULL);
    assert(storage->segment_count <= storage->segment_capacity);
    if (storage->segment_count == 0) {
        return NULL;
    }
    return &storage->segments[storage->segment_count - 1];
}

int wal_reserve_segment(struct storage *storage)
{
    assert(storage->segment_count <= storage->segment_capacity);
    if (storage->segment_count < storage->segment_capacity) {
        return 0;
    }
    size_t capacity = storage->segment_capacity == 0 ? 16 : storage->segment_capacity * 2;
    struct wal_segment *grown = realloc(storage->segments, capacity * sizeof *grown);
    if (grown == NULL) {
        return storage_fail(storage, STORAGE_ERROR_NO_MEMORY, "growing the segment list");
    }
    storage->segments = grown;
    storage->segment_capacity = capacity;
    assert(storage->segment_count < storage->segment_capacity);
    return 0;
}

void wal_close_segment(struct storage *storage, struct wal_segment *segment)
{
    assert(storage != NULL);
    assert(segment != NULL);
    if (segment->fd >= 0) {
        storage->io->close(storage->io->context, segment->fd);
        segment->fd = -1;
    }
}

void wal_close_all(struct storage *storage)
{
    assert(storage->segment_count <= storage->segment_capacity);
    for (size_t i = 0; i < storage->segment_count; i++) {
        wal_close_segment(storage, &storage->segments[i]);
    }
    free(storage->segments);
    storage->segments = NULL;
    storage->segment_count = 0;
    storage->segment_capacity = 0;
}

/* ---------------------------------------------------------------------------------------
 * Appending, syncing, compacting
 * --------------------------------------------------------------------------------------- */

static int refuse_if_failed(struct storage *storage)
{
    assert(storage != NULL);
    if (storage->failed) {
        return storage_fail(storage, STORAGE_ERROR_FAILED,
                            "an earlier write or sync failed; restart the node");
    }
    return 0;
}

/* Starts segments[count] at first_index; the previous one stays open until it is synced. */
static int start_segment(struct storage *storage, uint64_t first_index)
{
    assert(first_index > 0);
    const struct storage_io *io = storage->io;
    int rc = wal_reserve_segment(storage);
    if (rc != 0) {
        return rc;
    }
    assert(storage->segment_count < storage->segment_capacity);
    struct wal_segment *previous = wal_current_segment(storage);
    /* Segments stay sorted by sequence: the new one is the latest. */
    assert(previous == NULL || previous->sequence < storage->next_sequence);
    if (previous != NULL && !previous->dirty) {
        wal_close_segment(storage, previous);
    }
    struct wal_segment segment = {
        .sequence = storage->next_sequence,
        .first_index = first_index,
        .last_index = first_index - 1,
        .live_last_index = first_index - 1,
        .fd = -1,
    };
    char path[STORAGE_MAX_PATH_BYTES];
    rc = wal_segment_path(storage, path, &segment);
    if (rc != 0) {
        return rc;
    }
    segment.fd = storage_spare_take(storage, path);
    bool allocated = segment.fd >= 0;
    if (!allocated) {
        segment.fd = io->open(io->context, path, O_RDWR | O_CREAT | O_EXCL, 0644);
    }
    if (segment.fd < 0) {
        return storage_fail_io(storage, segment.fd, "create", path);
    }
    if (storage->options.preallocate && !allocated) {
        rc = io->fallocate(io->context, segment.fd, 0, storage->options.segment_max_bytes);
        if (rc < 0) {
            io->close(io->context, segment.fd);
            return storage_fail_io(storage, rc, "preallocate", path);
        }
    }
    storage->next_sequence++;
    storage->wal_dir_dirty = true;
    storage->segments[storage->segment_count++] = segment;
    return 0;
}

/* Entries above index - 1 are replaced: segments keep them in the file but not in the log. */
static void cut_live_log(struct storage *storage, uint64_t index)
{
    assert(index > 0);
    for (size_t i = 0; i < storage->segment_count; i++) {
        struct wal_segment *segment = &storage->segments[i];
        assert(segment->live_last_index <= segment->last_index);
        if (segment->live_last_index >= index) {
            segment->live_last_index = index - 1;
        }
    }
}

static int validate_batch(struct storage *storage, const struct raft_entry *entries, size_t count)
{
    assert(entries != NULL);
    assert(count > 0);
    for (size_t i = 0; i < count; i++) {
        const struct raft_entry *entry = &entries[i];
        if (entry->data_bytes > storage->options.max_entry_bytes) {
            return storage_fail(storage, STORAGE_ERROR_TOO_BIG,
                                "entry %" PRIu64 " has %u bytes, above the limit of %u",
                                entry->index, entry->data_bytes, storage->options.max_entry_bytes);
        }
        if (entry->data_bytes > 0 && entry->data == NULL) {
            return storage_fail(storage, STORAGE_ERROR_INVALID, "entry %" PRIu64 " has no data",
                                entry->index);
        }
        if (i > 0 && entry->index != entries[i - 1].index + 1) {
            return storage_fail(storage, STORAGE_ERROR_INVALID,
                                "entries not contiguous at index %" PRIu64, entry->index);
        }
        if (i > 0 && entry->term < entries[i - 1].term) {
            return storage_fail(storage, STORAGE_ERROR_INVALID,
                                "term goes backwards at index %" PRIu64, entry->index);
        }
    }
    return 0;
}

/* Where the batch joins the log; cuts a replaced suffix. */
static int place_batch(struct storage *storage, const struct raft_entry *first)
{
    assert(first != NULL);
    uint64_t snapshot_index = storage->has_snapshot ? storage->snapshot.index : 0;
    if (first->index == 0 || first->index <= snapshot_index) {
        return storage_fail(storage, STORAGE_ERROR_INVALID,
                            "entry %" PRIu64 " is at or below the snapshot (%" PRIu64 ")",
                            first->index, snapshot_index);
    }
    if (first->index > storage->last_index + 1 && first->index != snapshot_index + 1) {
        return storage_fail(storage, STORAGE_ERROR_INVALID,
                            "entry %" PRIu64 " leaves a gap after the last index %" PRIu64,
                            first->index, storage->last_index);
    }
    if (first->index == storage->last_index + 1 && first->term < storage->last_term) {
        return storage_fail(storage, STORAGE_ERROR_INVALID,
                            "entry %" PRIu64 " has term %" PRIu64 ", below the last term %" PRIu64,
                            first->index, first->term, storage->last_term);
    }
    if (first->index <= storage->last_index) {
        cut_live_log(storage, first->index);
    }
    return 0;
}

static int flush_buffer(struct storage *storage, size_t *buffered)
{
    struct wal_segment *segment = wal_current_segment(storage);
    if (*buffered == 0) {
        return 0;
    }
    assert(segment != NULL);
    assert(segment->fd >= 0); /* the segment being written stays open */
    assert(*buffered <= storage->write_buffer_bytes);
    char path[STORAGE_MAX_PATH_BYTES];
    int rc = wal_segment_path(storage, path, segment);
    if (rc == 0) {
        rc = storage_write_all(storage, segment->fd, storage->write_buffer, *buffered,
                               segment->size_bytes, path);
    }
    if (rc == 0) {
        segment->size_bytes += *buffered;
        segment->dirty = true;
    }
    *buffered = 0;
    return rc;
}

/* A record bigger than the buffer is encoded into its own allocation and written at once. */
static int write_large_record(struct storage *storage, const struct raft_entry *entry,
                              uint64_t record_bytes)
{
    assert(record_bytes > STORAGE_WRITE_BUFFER_BYTES);
    assert(record_bytes == wal_record_bytes(entry->data_bytes));
    struct wal_segment *segment = wal_current_segment(storage);
    assert(segment != NULL);
    assert(segment->fd >= 0);
    uint8_t *record = malloc(record_bytes);
    if (record == NULL) {
        return storage_fail(storage, STORAGE_ERROR_NO_MEMORY, "encoding entry %" PRIu64,
                            entry->index);
    }
    wal_record_encode(entry, record);
    char path[STORAGE_MAX_PATH_BYTES];
    int rc = wal_segment_path(storage, path, segment);
    if (rc == 0) {
        rc = storage_write_all(storage, segment->fd, record, record_bytes, segment->size_bytes,
                               path);
    }
    free(record);
    if (rc == 0) {
        segment->size_bytes += record_bytes;
        segment->dirty = true;
    }
    return rc;
}

/* The buffer grows with the batches it meets, up to STORAGE_WRITE_BUFFER_BYTES. */
static int reserve_write_buffer(struct storage *storage, uint64_t bytes)
{
    assert(bytes <= STORAGE_WRITE_BUFFER_BYTES);
    if (bytes <= storage->write_buffer_bytes) {
        return 0;
    }
    uint64_t capacity = storage->write_buffer_bytes == 0 ? 16384 : storage->write_buffer_bytes;
    while (capacity < bytes) {
        capacity *= 2;
    }
    if (capacity > STORAGE_WRITE_BUFFER_BYTES) {
        capacity = STORAGE_WRITE_BUFFER_BYTES;
    }
    uint8_t *grown = realloc(storage->write_buffer, capacity);
    if (grown == NULL) {
        return storage_fail(storage, STORAGE_ERROR_NO_MEMORY, "growing the write buffer");
    }
    storage->write_buffer = grown;
    storage->write_buffer_bytes = capacity;
    assert(storage->write_buffer_bytes >= bytes);
    return 0;
}

/* Does entry continue the current segment, and fit in it? */
static bool fits_current_segment(struct storage *storage, const struct raft_entry *entry,
                                 uint64_t record_bytes, size_t buffered)
{
    assert(buffered <= STORAGE_WRITE_BUFFER_BYTES);
    struct wal_segment *segment = wal_current_segment(storage);
    if (segment == NULL || segment->last_index + 1 != entry->index ||
        segment->live_last_index != segment->last_index) {
        return false;
    }
    uint64_t used = segment->size_bytes + buffered;
    return used == 0 || used + record_bytes <= storage->options.segment_max_bytes;
}

static int append_one(struct storage *storage, const struct raft_entry *entry, size_t *buffered)
{
    /* validate_batch refused bigger entries; the options are within the format's limit. */
    assert(entry->data_bytes <= storage->options.max_entry_bytes);
    assert(storage->options.max_entry_bytes <= STORAGE_MAX_ENTRY_BYTES);
    uint64_t record_bytes = wal_record_bytes(entry->data_bytes);
    assert(record_bytes <= LIMITS_MAX_WAL_RECORD_BYTES);
    int rc = 0;
    if (!fits_current_segment(storage, entry, record_bytes, *buffered)) {
        rc = flush_buffer(storage, buffered);
        if (rc == 0) {
            rc = start_segment(storage, entry->index);
        }
        if (rc != 0) {
            return rc;
        }
    }
    if (*buffered + record_bytes > STORAGE_WRITE_BUFFER_BYTES) {
        rc = flush_buffer(storage, buffered);
        if (rc == 0 && record_bytes > STORAGE_WRITE_BUFFER_BYTES) {
            rc = write_large_record(storage, entry, record_bytes);
        }
    }
    if (rc == 0 && record_bytes <= STORAGE_WRITE_BUFFER_BYTES) {
        rc = reserve_write_buffer(storage, *buffered + record_bytes);
    }
    if (rc == 0 && record_bytes <= STORAGE_WRITE_BUFFER_BYTES) {
        wal_record_encode(entry, storage->write_buffer + *buffered);
        *buffered += record_bytes;
    }
    if (rc == 0) {
        struct wal_segment *segment = wal_current_segment(storage);
        assert(segment->last_index + 1 == entry->index);
        assert(*buffered <= STORAGE_WRITE_BUFFER_BYTES);
        segment->last_index = entry->index;
        segment->live_last_index = entry->index;
    }
    return rc;
}

int wal_append(struct storage *storage, const struct raft_entry *entries, size_t count)
{
    assert(storage != NULL);
    int rc = refuse_if_failed(storage);
    if (rc != 0 || count == 0) {
        return rc;
    }
    if (entries == NULL) {
        return storage_fail(storage, STORAGE_ERROR_INVALID, "entries is NULL");
    }
    rc = validate_batch(storage, entries, count);
    if (rc == 0) {
        rc = place_batch(storage, &entries[0]);
    }
    if (rc != 0) {
        return rc;
    }
    size_t buffered = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        rc = append_one(storage, &entries[i], &buffered);
    }
    if (rc == 0) {
        rc = flush_buffer(storage, &buffered);
    }
    if (rc != 0) {
        /* The file may now hold part of the batch: only a restart knows what is on disk. */
        return storage_poison(storage, rc);
    }
    storage->last_index = entries[count - 1].index;
    storage->last_term = entries[count - 1].term;
    assert(wal_current_segment(storage) != NULL);
    assert(wal_current_segment(storage)->last_index == storage->last_index);
    assert(wal_current_segment(storage)->live_last_index == storage->last_index);
    return 0;
}

bool wal_sync_pending(const struct storage *storage)
{
    assert(storage != NULL);
    if (storage->wal_dir_dirty) {
        return true;
    }
    for (size_t i = 0; i < storage->segment_count; i++) {
        if (storage->segments[i].dirty) {
            return true;
        }
    }
    return false;
}

int wal_sync(struct storage *storage)
{
    assert(storage != NULL);
    const struct storage_io *io = storage->io;
    int rc = refuse_if_failed(storage);
    if (rc != 0) {
        return rc;
    }
    if (storage->wal_dir_dirty) {
        rc = io->fsync_dir(io->context, storage->wal_dir);
        if (rc < 0) {
            rc = storage_fail_io(storage, rc, "fsync directory", storage->wal_dir);
            return storage_poison(storage, rc);
        }
        storage->wal_dir_dirty = false;
    }
    for (size_t i = 0; i < storage->segment_count; i++) {
        struct wal_segment *segment = &storage->segments[i];
        if (!segment->dirty) {
            continue;
        }
        assert(segment->fd >= 0);
        rc = io->fdatasync(io->context, segment->fd);
        if (rc < 0) {
            char path[STORAGE_MAX_PATH_BYTES];
            wal_segment_path(storage, path, segment);
            rc = storage_fail_io(storage, rc, "fdatasync", path);
            return storage_poison(storage, rc);
        }
        segment->dirty = false;
        if (i + 1 < storage->segment_count) {
            wal_close_segment(storage, segment);
        }
    }
    assert(!storage->wal_dir_dirty);
    assert(!wal_sync_pending(storage));
    return 0;
}

int wal_reset(struct storage *storage, uint64_t index, uint64_t term)
{
    assert(storage != NULL);
    int rc = refuse_if_failed(storage);
    if (rc != 0) {
        return rc;
    }
    cut_live_log(storage, index + 1);
    /* An empty segment starting at index + 1 replaces everything after index, durably. */
    rc = start_segment(storage, index + 1);
    if (rc != 0) {
        return storage_poison(storage, rc);
    }
    assert(wal_current_segment(storage)->first_index == index + 1);
    assert(wal_current_segment(storage)->live_last_index == index);
    storage->last_index = index;
    storage->last_term = term;
    return 0;
}

int wal_compact(struct storage *storage, uint64_t upto_index)
{
    assert(storage != NULL);
    int rc = refuse_if_failed(storage);
    if (rc != 0) {
        return rc;
    }
    if (!storage->has_snapshot || upto_index > storage->snapshot.index) {
        return storage_fail(storage, STORAGE_ERROR_INVALID,
                            "compaction up to %" PRIu64 " is not covered by a snapshot",
                            upto_index);
    }
    size_t kept = 0;
    for (size_t i = 0; i < storage->segment_count; i++) {
        struct wal_segment *segment = &storage->segments[i];
        bool last = i + 1 == storage->segment_count;
        if (last || segment->last_index > upto_index || rc != 0) {
            storage->segments[kept++] = *segment;
            continue;
        }
        /* Every record is covered; if the unlink is lost in a crash, recovery skips them. */
        char path[STORAGE_MAX_PATH_BYTES];
        rc = wal_segment_path(storage, path, segment);
        wal_close_segment(storage, segment);
        if (rc == 0 && storage_trash_ready(storage)) {
            rc = storage_trash_move(storage, path);
        } else if (rc == 0) {
            rc = storage->io->unlink(storage->io->context, path);
            rc = rc < 0 ? storage_fail_io(storage, rc, "delete", path) : 0;
        }
        if (rc != 0) {
            storage->segments[kept++] = *segment;
        }
    }
    assert(kept <= storage->segment_count);
    assert(storage->segment_count == 0 || kept > 0); /* the segment being written stays */
    storage->segment_count = kept;
    return rc;
}

uint64_t wal_last_index(const struct storage *storage)
{
    assert(storage != NULL);
    return storage->last_index;
}

uint64_t wal_last_term(const struct storage *storage)
{
    assert(storage != NULL);
    return storage->last_term;
}

size_t wal_segment_count(const struct storage *storage)
{
    assert(storage != NULL);
    assert(storage->segment_count <= storage->segment_capacity);
    return storage->segment_count;
}
