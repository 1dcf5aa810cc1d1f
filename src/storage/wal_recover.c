/*
 * wal_recover.c — reading the write-ahead log back after a restart (the layout and the commit
 * order are wal.c's).
 *
 * Recovery essay: why a bad record at the tail is cut, and one elsewhere refuses.
 * A crash can leave, after the last synced record, a partial record, zeros (preallocated
 * space), or a newly created segment with nothing valid in it. None of that was ever
 * acknowledged, so dropping it loses nothing. Bit rot or a bug leaves a bad record with valid
 * records after it, in the same segment or in a later one. The recovery tells the two apart by
 * looking for any valid record (at an 8-aligned offset) after the first bad one: if there is
 * one, the bad record is not the tail, and the node refuses to start with the file and offset;
 * if not, the tail is cut off (ftruncate, fsync) and reported through options.log. Checksummed
 * records that break the sequence (index gap, term going backwards, first index not what the
 * file name says) are never explained by a torn write, so they always refuse. A segment with
 * no valid record whose first index would leave a gap was created by a rollover whose older
 * segment's records never reached the disk; it is deleted. Finally, recovery fdatasyncs every
 * segment it read: the log it returns may be acknowledged, so it must be durable even if the
 * process that wrote it died before its own sync.
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

#define SEGMENT_READ_LIMIT_BYTES (STORAGE_MAX_SEGMENT_BYTES + (uint64_t)STORAGE_MAX_ENTRY_BYTES)

struct recovery {
    struct storage *storage;
    struct storage_recovered *recovered;
    size_t entry_capacity;
    uint64_t snapshot_index;
    uint64_t snapshot_term;
    uint64_t last_index; /* of the live log, entries at or below the snapshot included */
    uint64_t last_term;
    const char *path; /* of the segment being read */
};

struct listing {
    struct storage *storage;
    struct wal_segment *segments;
    size_t count;
    size_t capacity;
    int error;
};

static int collect_segment(void *arg, const char *name, bool is_directory)
{
    struct listing *listing = arg;
    assert(listing != NULL);
    assert(name != NULL);
    uint64_t sequence = 0;
    uint64_t first_index = 0;
    if (!is_directory && storage_spare_name(name)) {
        return 0; /* not part of the log until renamed (spare.c) */
    }
    if (is_directory || !wal_parse_segment_name(name, &sequence, &first_index) ||
        first_index == 0) {
        storage_log(listing->storage, STORAGE_LOG_WARNING, "ignoring %s/%s: not a segment",
                    listing->storage->wal_dir, name);
        return 0;
    }
    if (listing->count == listing->capacity) {
        size_t capacity = listing->capacity == 0 ? 16 : listing->capacity * 2;
        struct wal_segment *grown = realloc(listing->segments, capacity * sizeof *grown);
        if (grown == NULL) {
            listing->error = STORAGE_ERROR_NO_MEMORY;
            return 1;
        }
        listing->segments = grown;
        listing->capacity = capacity;
    }
    assert(listing->count < listing->capacity);
    struct wal_segment *segment = &listing->segments[listing->count++];
    memset(segment, 0, sizeof *segment);
    segment->sequence = sequence;
    segment->first_index = first_index;
    segment->fd = -1;
    return 0;
}

static int compare_sequence(const void *left, const void *right)
{
    const struct wal_segment *a = left;
    const struct wal_segment *b = right;
    assert(a != NULL);
    assert(b != NULL);
    return a->sequence < b->sequence ? -1 : a->sequence > b->sequence ? 1 : 0;
}

static int list_segments(struct storage *storage)
{
    assert(storage->segments == NULL); /* recovery builds the list once, at open */
    assert(storage->segment_count == 0);
    struct listing listing = {.storage = storage};
    int rc =
        storage->io->list_dir(storage->io->context, storage->wal_dir, collect_segment, &listing);
    if (listing.error != 0) {
        free(listing.segments);
        return storage_fail(storage, listing.error, "listing %s", storage->wal_dir);
    }
    if (rc < 0) {
        free(listing.segments);
        return storage_fail_io(storage, rc, "list", storage->wal_dir);
    }
    if (listing.count > 0) {
        qsort(listing.segments, listing.count, sizeof *listing.segments, compare_sequence);
    }
    for (size_t i = 1; i < listing.count; i++) {
        if (listing.segments[i].sequence == listing.segments[i - 1].sequence) {
            free(listing.segments);
            return storage_fail(storage, STORAGE_ERROR_CORRUPT,
                                "%s: two segments with sequence %" PRIu64, storage->wal_dir,
                                listing.segments[i].sequence);
        }
        assert(listing.segments[i].sequence > listing.segments[i - 1].sequence);
    }
    assert(listing.count <= listing.capacity);
    storage->segments = listing.segments;
    storage->segment_count = listing.count;
    storage->segment_capacity = listing.capacity;
    return 0;
}

static int read_segment(struct storage *storage, const struct wal_segment *segment, char *path,
                        uint8_t **bytes, size_t *size)
{
    assert(segment != NULL);
    assert(bytes != NULL);
    int rc = wal_segment_path(storage, path, segment);
    if (rc == 0) {
        rc = storage_read_file(storage, path, SEGMENT_READ_LIMIT_BYTES, bytes, size);
    }
    return rc;
}

/* The term of the live entry at index, if the recovery knows it (0 when it does not). */
static uint64_t recovered_term_at(const struct recovery *recovery, uint64_t index)
{
    const struct storage_recovered *recovered = recovery->recovered;
    assert(recovered != NULL);
    assert(recovered->entry_count <= recovery->entry_capacity);
    if (index == recovery->snapshot_index) {
        return recovery->snapshot_term;
    }
    if (index <= recovery->snapshot_index || recovered->entry_count == 0) {
        return 0;
    }
    uint64_t first = recovered->entries[0].index;
    if (index < first || index - first >= recovered->entry_count) {
        return 0;
    }
    return recovered->entries[index - first].term;
}

static void drop_entries_from(struct recovery *recovery, uint64_t index)
{
    struct storage_recovered *recovered = recovery->recovered;
    assert(recovered->entry_count <= recovery->entry_capacity);
    while (recovered->entry_count > 0 &&
           recovered->entries[recovered->entry_count - 1].index >= index) {
        free(recovered->entries[recovered->entry_count - 1].data);
        recovered->entry_count--;
    }
    assert(recovered->entry_count == 0 ||
           recovered->entries[recovered->entry_count - 1].index < index);
}

static int keep_entry(struct recovery *recovery, const struct wal_record_view *record)
{
    struct storage_recovered *recovered = recovery->recovered;
    assert(record->index > recovery->snapshot_index);         /* only live entries are kept */
    assert(record->payload_bytes <= STORAGE_MAX_ENTRY_BYTES); /* the decoder's bound */
    if (recovered->entry_count == recovery->entry_capacity) {
        size_t capacity = recovery->entry_capacity == 0 ? 256 : recovery->entry_capacity * 2;
        struct raft_entry *grown = realloc(recovered->entries, capacity * sizeof *grown);
        if (grown == NULL) {
            return STORAGE_ERROR_NO_MEMORY;
        }
        recovered->entries = grown;
        recovery->entry_capacity = capacity;
    }
    assert(recovered->entry_count < recovery->entry_capacity);
    /* Kept in index order: a segment that cut the log dropped the entries it replaced. */
    assert(recovered->entry_count == 0 ||
           recovered->entries[recovered->entry_count - 1].index < record->index);
    struct raft_entry *entry = &recovered->entries[recovered->entry_count];
    entry->index = record->index;
    entry->term = record->term;
    entry->type = record->entry_type;
    entry->data_bytes = record->payload_bytes;
    entry->data = NULL;
    if (record->payload_bytes > 0) {
        entry->data = malloc(record->payload_bytes);
        if (entry->data == NULL) {
            return STORAGE_ERROR_NO_MEMORY;
        }
        memcpy(entry->data, record->payload, record->payload_bytes);
    }
    recovered->entry_count++;
    return 0;
}

static int on_recovered_record(void *arg, const struct wal_record_view *record, uint64_t offset)
{
    struct recovery *recovery = arg;
    struct storage *storage = recovery->storage;
    assert(record->index <= recovery->last_index + 1);
    assert(record->index > 0); /* the decoder refuses index 0 */
    assert(recovery->path != NULL);
    /* Only against an entry kept above the snapshot: entries at or below it may be another
     * history's (a follower's log before a leader's snapshot), later replaced. The first entry
     * after the snapshot is checked against the snapshot's term in finish_recovery. */
    uint64_t previous_term = 0;
    if (record->index - 1 > recovery->snapshot_index) {
        previous_term = recovered_term_at(recovery, record->index - 1);
    }
    if (record->term < previous_term) {
        return storage_fail(storage, STORAGE_ERROR_CORRUPT,
                            "%s at offset %" PRIu64 ": entry %" PRIu64 " has term %" PRIu64
                            ", below the term %" PRIu64 " before it",
                            recovery->path, offset, record->index, record->term, previous_term);
    }
    recovery->last_index = record->index;
    recovery->last_term = record->term;
    if (record->index <= recovery->snapshot_index) {
        return 0;
    }
    int rc = keep_entry(recovery, record);
    if (rc != 0) {
        return storage_fail(storage, rc, "keeping entry %" PRIu64, record->index);
    }
    return 0;
}

/*
 * Looks for any valid record after from_offset in this segment's bytes, then anywhere in the
 * later segments. *found_path is left empty when nothing is found.
 */
static int find_valid_after(struct storage *storage, size_t position, const uint8_t *bytes,
                            size_t size, uint64_t from_offset, const char *path, char *found_path,
                            uint64_t *found_offset)
{
    assert(position < storage->segment_count);
    assert(found_path != NULL);
    uint32_t limit = STORAGE_MAX_ENTRY_BYTES; /* the format's bound, not today's option */
    found_path[0] = '\0';
    if (wal_find_valid_record(bytes, size, from_offset, limit, found_offset)) {
        snprintf(found_path, STORAGE_MAX_PATH_BYTES, "%s", path);
        return 0;
    }
    for (size_t i = position + 1; i < storage->segment_count; i++) {
        char later_path[STORAGE_MAX_PATH_BYTES];
        uint8_t *later = NULL;
        size_t later_size = 0;
        int rc = read_segment(storage, &storage->segments[i], later_path, &later, &later_size);
        if (rc != 0) {
            return rc;
        }
        bool valid = wal_find_valid_record(later, later_size, 0, limit, found_offset);
        free(later);
        if (valid) {
            snprintf(found_path, STORAGE_MAX_PATH_BYTES, "%s", later_path);
            return 0;
        }
    }
    return 0;
}

/* Removes segments[from..] (no valid record in any of them). */
static int delete_segments_from(struct storage *storage, size_t from, const char *why)
{
    assert(from <= storage->segment_count);
    for (size_t i = storage->segment_count; i > from; i--) {
        assert(storage->segments[i - 1].fd < 0); /* only the last is opened, after recovery */
        char path[STORAGE_MAX_PATH_BYTES];
        int rc = wal_segment_path(storage, path, &storage->segments[i - 1]);
        if (rc != 0) {
            return rc;
        }
        rc = storage->io->unlink(storage->io->context, path);
        if (rc < 0) {
            return storage_fail_io(storage, rc, "delete", path);
        }
        storage_log(storage, STORAGE_LOG_WARNING, "deleted %s: %s", path, why);
        storage->segment_count--;
    }
    int rc = storage->io->fsync_dir(storage->io->context, storage->wal_dir);
    if (rc < 0) {
        return storage_fail_io(storage, rc, "fsync directory", storage->wal_dir);
    }
    return 0;
}

/* Where a segment joins the log: it may cut the log, never leave a gap past the snapshot. */
static int join_segment(struct recovery *recovery, size_t position, const uint8_t *bytes,
                        size_t size, const struct wal_segment_scan *scan, bool *drop_rest)
{
    assert(position < recovery->storage->segment_count);
    assert(scan->valid_bytes <= size);
    struct storage *storage = recovery->storage;
    struct wal_segment *segment = &storage->segments[position];
    assert(segment->first_index > 0); /* collect_segment skips names with index 0 */
    uint64_t reach = recovery->last_index > recovery->snapshot_index ? recovery->last_index
                                                                     : recovery->snapshot_index;
    *drop_rest = false;
    if (segment->first_index > reach + 1) {
        /* Created (by a rollover) before a crash lost the older segment's unsynced records?
         * Then nothing valid is in it or after it, and dropping it loses nothing. */
        char found_path[STORAGE_MAX_PATH_BYTES];
        uint64_t found_offset = 0;
        int rc = find_valid_after(storage, position, bytes, size, 0, recovery->path, found_path,
                                  &found_offset);
        if (rc == 0 && found_path[0] == '\0') {
            *drop_rest = true;
            return 0;
        }
        if (rc != 0) {
            return rc;
        }
        return storage_fail(storage, STORAGE_ERROR_CORRUPT,
                            "%s at offset 0: starts at index %" PRIu64
                            " but the log ends at %" PRIu64
                            ": a gap (valid record in %s at offset %" PRIu64 ")",
                            recovery->path, segment->first_index, reach, found_path, found_offset);
    }
    if (segment->first_index <= recovery->last_index) {
        drop_entries_from(recovery, segment->first_index);
        for (size_t i = 0; i < position; i++) {
            struct wal_segment *older = &storage->segments[i];
            if (older->live_last_index >= segment->first_index) {
                older->live_last_index = segment->first_index - 1;
            }
        }
    }
    recovery->last_index = segment->first_index - 1;
    recovery->last_term = recovered_term_at(recovery, recovery->last_index);
    return 0;
}

/* A bad record is a torn tail only if no valid record follows it anywhere. */
static int check_torn_tail(struct storage *storage, size_t position, const uint8_t *bytes,
                           size_t size, const struct wal_segment_scan *scan, const char *path)
{
    assert(scan->tail == WAL_TAIL_BAD);
    assert(scan->valid_bytes < size); /* a bad tail has bytes after the valid records */
    char found_path[STORAGE_MAX_PATH_BYTES];
    uint64_t found_offset = 0;
    int rc =
        find_valid_after(storage, position, bytes, size, scan->valid_bytes + WAL_RECORD_ALIGN_BYTES,
                         path, found_path, &found_offset);
    if (rc != 0 || found_path[0] == '\0') {
        return rc;
    }
    return storage_fail(storage, STORAGE_ERROR_CORRUPT,
                        "%s at offset %" PRIu64
                        ": %s, and %s holds a valid record at offset %" PRIu64
                        ", so this is damage, not a torn write",
                        path, scan->valid_bytes, scan->bad_reason, found_path, found_offset);
}

/*
 * Recovered records become the node's log, which it may acknowledge to a leader, so they must
 * be durable even if an earlier process wrote them and died before its sync: sync each file
 * read. (On a file with nothing dirty this costs next to nothing.)
 */
static int sync_segment_file(struct storage *storage, const char *path)
{
    assert(path != NULL);
    const struct storage_io *io = storage->io;
    int fd = io->open(io->context, path, O_RDONLY, 0);
    if (fd < 0) {
        return storage_fail_io(storage, fd, "open", path);
    }
    int rc = io->fdatasync(io->context, fd);
    io->close(io->context, fd);
    return rc < 0 ? storage_fail_io(storage, rc, "fdatasync", path) : 0;
}

static int recover_segment(struct recovery *recovery, size_t position, bool *stop)
{
    struct storage *storage = recovery->storage;
    assert(position < storage->segment_count);
    assert(recovery->path == NULL);
    struct wal_segment *segment = &storage->segments[position];
    char path[STORAGE_MAX_PATH_BYTES];
    uint8_t *bytes = NULL;
    size_t size = 0;
    uint32_t limit = STORAGE_MAX_ENTRY_BYTES; /* records written under a larger option */
    *stop = false;
    int rc = read_segment(storage, segment, path, &bytes, &size);
    if (rc != 0) {
        return rc;
    }
    recovery->path = path;
    struct wal_segment_scan scan;
    rc = wal_segment_scan(bytes, size, segment->first_index, limit, NULL, NULL, &scan);
    if (rc != 0) {
        rc = storage_fail(storage, STORAGE_ERROR_CORRUPT, "%s at offset %" PRIu64 ": %s", path,
                          scan.error_offset, scan.error_reason);
        goto free_bytes;
    }
    bool drop_rest = false;
    rc = join_segment(recovery, position, bytes, size, &scan, &drop_rest);
    if (rc != 0 || drop_rest) {
        if (rc == 0) {
            rc = delete_segments_from(storage, position, "never written before a crash");
            *stop = true;
        }
        goto free_bytes;
    }
    if (scan.tail == WAL_TAIL_BAD) {
        rc = check_torn_tail(storage, position, bytes, size, &scan, path);
        if (rc != 0) {
            goto free_bytes;
        }
        storage_log(storage, STORAGE_LOG_WARNING,
                    "%s: torn record at offset %" PRIu64 " (%s) after a crash; cutting %" PRIu64
                    " bytes of unacknowledged data",
                    path, scan.valid_bytes, scan.bad_reason, (uint64_t)size - scan.valid_bytes);
        *stop = true;
    }
    rc = wal_segment_scan(bytes, size, segment->first_index, limit, on_recovered_record, recovery,
                          &scan);
    assert(rc <= 0);
    if (rc == 0) {
        rc = sync_segment_file(storage, path);
    }
    segment->last_index = scan.record_count > 0 ? scan.last_index : segment->first_index - 1;
    segment->live_last_index = segment->last_index;
    segment->size_bytes = scan.valid_bytes;
    assert(segment->size_bytes <= size);
    if (rc == 0 && *stop && position + 1 < storage->segment_count) {
        rc = delete_segments_from(storage, position + 1, "after a torn tail, nothing valid");
    }
free_bytes:
    free(bytes);
    recovery->path = NULL;
    return rc;
}

/* The last segment is written next: cut what follows its valid records, and open it. */
static int open_last_segment(struct storage *storage)
{
    struct wal_segment *segment = wal_current_segment(storage);
    if (segment == NULL) {
        return 0;
    }
    assert(segment->fd < 0);
    assert(segment->live_last_index <= segment->last_index);
    const struct storage_io *io = storage->io;
    char path[STORAGE_MAX_PATH_BYTES];
    int rc = wal_segment_path(storage, path, segment);
    if (rc != 0) {
        return rc;
    }
    segment->fd = io->open(io->context, path, O_RDWR, 0);
    if (segment->fd < 0) {
        rc = segment->fd;
        segment->fd = -1;
        return storage_fail_io(storage, rc, "open", path);
    }
    uint64_t file_bytes = 0;
    rc = io->file_size(io->context, segment->fd, &file_bytes);
    if (rc < 0) {
        return storage_fail_io(storage, rc, "stat", path);
    }
    if (file_bytes == segment->size_bytes) {
        return 0;
    }
    storage_log(storage, STORAGE_LOG_INFO, "%s: cutting %" PRIu64 " bytes after offset %" PRIu64,
                path, file_bytes - segment->size_bytes, segment->size_bytes);
    rc = io->ftruncate(io->context, segment->fd, segment->size_bytes);
    if (rc == 0) {
        rc = io->fsync(io->context, segment->fd);
    }
    if (rc < 0) {
        return storage_fail_io(storage, rc, "truncate", path);
    }
    return 0;
}

static int finish_recovery(struct recovery *recovery)
{
    struct storage *storage = recovery->storage;
    struct storage_recovered *recovered = recovery->recovered;
    uint64_t expected_first = recovery->snapshot_index + 1;
    if (recovered->entry_count > 0) {
        const struct raft_entry *first = &recovered->entries[0];
        if (first->index != expected_first) {
            return storage_fail(storage, STORAGE_ERROR_CORRUPT,
                                "%s: the log resumes at index %" PRIu64 ", expected %" PRIu64,
                                storage->wal_dir, first->index, expected_first);
        }
        if (first->term < recovery->snapshot_term) {
            return storage_fail(
                storage, STORAGE_ERROR_CORRUPT,
                "%s: entry %" PRIu64 " has term %" PRIu64 ", below the snapshot's term %" PRIu64,
                storage->wal_dir, first->index, first->term, recovery->snapshot_term);
        }
    }
    if (recovery->last_index >= recovery->snapshot_index) {
        storage->last_index = recovery->last_index;
        storage->last_term = recovery->last_term;
    } else {
        storage->last_index = recovery->snapshot_index;
        storage->last_term = recovery->snapshot_term;
    }
    assert(storage->last_index >= recovery->snapshot_index);
    for (size_t i = 0; i < storage->segment_count; i++) {
        /* internal.h's invariants, as the recovery leaves them. */
        assert(i == 0 || storage->segments[i - 1].sequence < storage->segments[i].sequence);
        assert(storage->segments[i].live_last_index <= storage->segments[i].last_index);
    }
    struct wal_segment *last = wal_current_segment(storage);
    storage->next_sequence = last == NULL ? 1 : last->sequence + 1;
    int rc = storage->io->fsync_dir(storage->io->context, storage->wal_dir);
    if (rc < 0) {
        return storage_fail_io(storage, rc, "fsync directory", storage->wal_dir);
    }
    return open_last_segment(storage);
}

int wal_recover(struct storage *storage, struct storage_recovered *recovered)
{
    assert(storage != NULL);
    assert(recovered != NULL);
    assert(recovered->entry_count == 0);
    struct recovery recovery = {
        .storage = storage,
        .recovered = recovered,
        .snapshot_index = storage->has_snapshot ? storage->snapshot.index : 0,
        .snapshot_term = storage->has_snapshot ? storage->snapshot.term : 0,
    };
    int rc = list_segments(storage);
    for (size_t i = 0; rc == 0 && i < storage->segment_count; i++) {
        bool stop = false;
        rc = recover_segment(&recovery, i, &stop);
        if (stop) {
            break;
        }
    }
    if (rc == 0) {
        rc = finish_recovery(&recovery);
    }
    return rc;
}
