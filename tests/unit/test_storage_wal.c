/*
 * test_storage_wal.c — unit tests of the storage module: fresh starts and refusals, append /
 * sync / reopen, suffix truncation, segment rollover, compaction, corruption detection,
 * torn-tail repair, hard state, snapshots, the failure latch, and a smoke test on the real
 * file system. Most tests run on memfs (an in-memory file system) so that they can look at
 * and damage the bytes on "disk" directly.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "storage/memfs.h"
#include "storage/record.h"
#include "storage/storage.h"

#define DIR "/data"

struct log_capture {
    int warnings;
    int infos;
    char last_warning[STORAGE_MESSAGE_BYTES];
};

static void capture_log(void *arg, enum storage_log_level level, const char *message)
{
    struct log_capture *capture = arg;
    if (level == STORAGE_LOG_WARNING) {
        capture->warnings++;
        snprintf(capture->last_warning, sizeof capture->last_warning, "%s", message);
    } else {
        capture->infos++;
    }
}

struct fixture {
    struct memfs *memfs;
    struct storage_options options;
    struct storage *storage;
    struct storage_recovered recovered;
    struct log_capture log;
    char message[STORAGE_MESSAGE_BYTES];
};

static struct fixture *fixture_new(void)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->memfs = memfs_new();
    assert_non_null(f->memfs);
    storage_options_default(&f->options);
    f->options.io = memfs_io(f->memfs);
    f->options.segment_max_bytes = 64 * 1024;
    f->options.log = capture_log;
    f->options.log_arg = &f->log;
    return f;
}

static int fixture_open(struct fixture *f)
{
    storage_recovered_free(&f->recovered);
    return storage_open(DIR, &f->options, &f->storage, &f->recovered, f->message,
                        sizeof f->message);
}

static void fixture_close(struct fixture *f)
{
    storage_close(f->storage);
    f->storage = NULL;
}

static void fixture_reopen(struct fixture *f)
{
    fixture_close(f);
    int rc = fixture_open(f);
    if (rc != 0) {
        fail_msg("reopen: %s: %s", storage_error_string(rc), f->message);
    }
}

static void fixture_free(struct fixture *f)
{
    fixture_close(f);
    storage_recovered_free(&f->recovered);
    memfs_free(f->memfs);
    free(f);
}

/* Payloads derived from (index, term, size), so that any entry can be checked alone. */
static uint8_t payload_byte(uint64_t index, uint64_t term, size_t position)
{
    return (uint8_t)(index * 31 + term * 7 + position * 13);
}

static void make_entry(struct raft_entry *entry, uint64_t index, uint64_t term, uint32_t bytes)
{
    entry->index = index;
    entry->term = term;
    entry->type = bytes == 0 ? RAFT_ENTRY_NOOP : RAFT_ENTRY_COMMAND;
    entry->data_bytes = bytes;
    entry->data = NULL;
    if (bytes > 0) {
        entry->data = malloc(bytes);
        assert_non_null(entry->data);
        for (uint32_t i = 0; i < bytes; i++) {
            entry->data[i] = payload_byte(index, term, i);
        }
    }
}

static uint32_t size_for(uint64_t index)
{
    return (uint32_t)((index * 37) % 300);
}

static void append_range(struct storage *storage, uint64_t first, uint64_t last, uint64_t term)
{
    size_t count = (size_t)(last - first + 1);
    struct raft_entry *entries = calloc(count, sizeof *entries);
    assert_non_null(entries);
    for (size_t i = 0; i < count; i++) {
        make_entry(&entries[i], first + i, term, size_for(first + i));
    }
    int rc = wal_append(storage, entries, count);
    if (rc != 0) {
        fail_msg("append %" PRIu64 "..%" PRIu64 ": %s", first, last, storage_message(storage));
    }
    for (size_t i = 0; i < count; i++) {
        free(entries[i].data);
    }
    free(entries);
}

static void assert_entry(const struct raft_entry *entry, uint64_t index, uint64_t term)
{
    assert_int_equal(entry->index, index);
    assert_int_equal(entry->term, term);
    uint32_t bytes = size_for(index);
    assert_int_equal(entry->data_bytes, bytes);
    for (uint32_t i = 0; i < bytes; i++) {
        assert_int_equal(entry->data[i], payload_byte(index, term, i));
    }
}

static void segment_paths(struct fixture *f, char paths[][128], size_t *count);

static void test_missing_directory_is_a_fresh_start(void **state)
{
    struct fixture *f = fixture_new();
    assert_int_equal(fixture_open(f), 0);
    assert_true(f->recovered.fresh);
    assert_false(f->recovered.has_hard_state);
    assert_false(f->recovered.has_snapshot);
    assert_int_equal(f->recovered.entry_count, 0);
    assert_int_equal(wal_last_index(f->storage), 0);
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(memfs_file_bytes(f->memfs, DIR "/VERSION", &bytes, &size), 0);
    assert_int_equal(size, 24);
    fixture_reopen(f);
    assert_false(f->recovered.fresh);
    fixture_free(f);
}

static void test_empty_directory_is_a_fresh_start(void **state)
{
    struct fixture *f = fixture_new();
    assert_int_equal(memfs_io(f->memfs)->mkdir(f->memfs, DIR), 0);
    assert_int_equal(fixture_open(f), 0);
    assert_true(f->recovered.fresh);
    fixture_free(f);
}

static void test_directory_with_other_files_is_refused(void **state)
{
    struct fixture *f = fixture_new();
    assert_int_equal(memfs_io(f->memfs)->mkdir(f->memfs, DIR), 0);
    assert_int_equal(memfs_put_file(f->memfs, DIR "/notes.txt", "hi", 2), 0);
    assert_int_equal(fixture_open(f), STORAGE_ERROR_FOREIGN);
    assert_null(f->storage);
    assert_non_null(strstr(f->message, "no VERSION"));
    fixture_free(f);
}

static void test_foreign_version_magic_is_refused(void **state)
{
    struct fixture *f = fixture_new();
    assert_int_equal(fixture_open(f), 0);
    fixture_close(f);
    assert_int_equal(memfs_put_file(f->memfs, DIR "/VERSION", "SQLite format 3\0", 16), 0);
    assert_int_equal(fixture_open(f), STORAGE_ERROR_FOREIGN);
    assert_non_null(strstr(f->message, DIR "/VERSION"));
    fixture_free(f);
}

static void test_newer_format_version_is_refused(void **state)
{
    struct fixture *f = fixture_new();
    assert_int_equal(fixture_open(f), 0);
    fixture_close(f);
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(memfs_file_bytes(f->memfs, DIR "/VERSION", &bytes, &size), 0);
    uint8_t copy[24];
    memcpy(copy, bytes, sizeof copy);
    copy[8] = STORAGE_FORMAT_VERSION + 1;
    assert_int_equal(memfs_put_file(f->memfs, DIR "/VERSION", copy, sizeof copy), 0);
    assert_int_equal(fixture_open(f), STORAGE_ERROR_VERSION);
    assert_non_null(strstr(f->message, "newer"));
    fixture_free(f);
}

static void test_append_sync_reopen_returns_every_entry(void **state)
{
    struct fixture *f = fixture_new();
    assert_int_equal(fixture_open(f), 0);
    append_range(f->storage, 1, 100, 1);
    append_range(f->storage, 101, 150, 2);
    assert_true(wal_sync_pending(f->storage));
    assert_int_equal(wal_sync(f->storage), 0);
    assert_false(wal_sync_pending(f->storage));
    fixture_reopen(f);
    assert_int_equal(f->recovered.entry_count, 150);
    for (uint64_t i = 1; i <= 150; i++) {
        assert_entry(&f->recovered.entries[i - 1], i, i <= 100 ? 1 : 2);
    }
    assert_int_equal(wal_last_index(f->storage), 150);
    assert_int_equal(wal_last_term(f->storage), 2);
    fixture_free(f);
}

static void test_suffix_truncation_then_reappend(void **state)
{
    struct fixture *f = fixture_new();
    assert_int_equal(fixture_open(f), 0);
    append_range(f->storage, 1, 20, 1);
    assert_int_equal(wal_sync(f->storage), 0);
    append_range(f->storage, 15, 18, 2); /* replaces 15..20 */
    assert_int_equal(wal_last_index(f->storage), 18);
    append_range(f->storage, 19, 22, 2);
    append_range(f->storage, 10, 12, 3); /* replaces 10..22 */
    assert_int_equal(wal_sync(f->storage), 0);
    fixture_reopen(f);
    assert_int_equal(f->recovered.entry_count, 12);
    for (uint64_t i = 1; i <= 9; i++) {
        assert_entry(&f->recovered.entries[i - 1], i, 1);
    }
    for (uint64_t i = 10; i <= 12; i++) {
        assert_entry(&f->recovered.entries[i - 1], i, 3);
    }
    append_range(f->storage, 13, 14, 3); /* the recovered log goes on where it ended */
    assert_int_equal(wal_sync(f->storage), 0);
    fixture_reopen(f);
    assert_int_equal(f->recovered.entry_count, 14);
    assert_entry(&f->recovered.entries[13], 14, 3);
    fixture_free(f);
}

static void test_append_rejects_gaps_and_terms_going_backwards(void **state)
{
    struct fixture *f = fixture_new();
    assert_int_equal(fixture_open(f), 0);
    append_range(f->storage, 1, 5, 2);
    struct raft_entry entry;
    make_entry(&entry, 7, 2, 10);
    assert_int_equal(wal_append(f->storage, &entry, 1), STORAGE_ERROR_INVALID);
    assert_non_null(strstr(storage_message(f->storage), "gap"));
    free(entry.data);
    make_entry(&entry, 6, 1, 10);
    assert_int_equal(wal_append(f->storage, &entry, 1), STORAGE_ERROR_INVALID);
    free(entry.data);
    f->options.max_entry_bytes = 64; /* lowering the limit must not cut older, bigger records */
    fixture_reopen(f);
    assert_int_equal(f->recovered.entry_count, 5);
    make_entry(&entry, 6, 2, 65);
    assert_int_equal(wal_append(f->storage, &entry, 1), STORAGE_ERROR_TOO_BIG);
    free(entry.data);
    make_entry(&entry, 6, 2, 64); /* refusals are not failures: the WAL goes on */
    int rc = wal_append(f->storage, &entry, 1);
    if (rc != 0) {
        fail_msg("%s", storage_message(f->storage));
    }
    free(entry.data);
    fixture_free(f);
}

static void test_segments_roll_over_at_the_size_limit(void **state)
{
    struct fixture *f = fixture_new();
    f->options.segment_max_bytes = STORAGE_MIN_SEGMENT_BYTES;
    assert_int_equal(fixture_open(f), 0);
    for (uint64_t i = 1; i <= 300; i += 10) {
        append_range(f->storage, i, i + 9, 1 + i / 100);
    }
    assert_int_equal(wal_sync(f->storage), 0);
    size_t segments = wal_segment_count(f->storage);
    assert_true(segments >= 10);
    char paths[64][128];
    size_t count = 0;
    segment_paths(f, paths, &count);
    assert_int_equal(count, segments);
    for (size_t i = 0; i < count; i++) {
        uint8_t *bytes = NULL;
        size_t size = 0;
        assert_int_equal(memfs_file_bytes(f->memfs, paths[i], &bytes, &size), 0);
        assert_true(size <= STORAGE_MIN_SEGMENT_BYTES);
    }
    fixture_reopen(f);
    assert_int_equal(f->recovered.entry_count, 300);
    for (uint64_t i = 1; i <= 300; i++) {
        assert_entry(&f->recovered.entries[i - 1], i, 1 + ((i - 1) / 10 * 10 + 1) / 100);
    }
    fixture_free(f);
}

static int collect_path(void *arg, const char *name, bool is_directory)
{
    struct {
        char (*paths)[128];
        size_t count;
    } *list = arg;
    snprintf(list->paths[list->count++], 128, DIR "/wal/%s", name);
    return 0;
}

static int compare_paths(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void segment_paths(struct fixture *f, char paths[][128], size_t *count)
{
    struct {
        char (*paths)[128];
        size_t count;
    } list = {paths, 0};
    assert_int_equal(memfs_io(f->memfs)->list_dir(f->memfs, DIR "/wal", collect_path, &list), 0);
    qsort(paths, list.count, 128, compare_paths);
    *count = list.count;
}

static void commit_snapshot(struct fixture *f, uint64_t index, uint64_t term, const char *data)
{
    struct raft_snapshot_meta meta = {.index = index, .term = term};
    meta.configuration.voter_count = 3;
    for (int i = 0; i < 3; i++) {
        meta.configuration.voters[i] = (raft_node_id)(i + 1);
    }
    struct storage_snapshot_writer *writer = NULL;
    assert_int_equal(storage_snapshot_begin(f->storage, &meta, &writer), 0);
    assert_int_equal(storage_snapshot_write(f->storage, writer, data, strlen(data)), 0);
    int rc = storage_snapshot_commit(f->storage, writer);
    if (rc != 0) {
        fail_msg("snapshot commit: %s", storage_message(f->storage));
    }
}

static int count_entry(void *arg, const char *name, bool is_directory)
{
    (void)name;
    (void)is_directory;
    (*(int *)arg)++;
    return 0;
}

static int trash_entries(struct fixture *f)
{
    int count = 0;
    memfs_io(f->memfs)->list_dir(f->memfs, DIR "/trash", count_entry, &count);
    return count;
}

/* With defer_deletes, what compaction and a newer snapshot delete waits in the trash until
 * the host empties it (off its loop); a crash before that loses nothing: open empties it. */
static void test_deferred_deletes_wait_in_the_trash(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    f->options.segment_max_bytes = STORAGE_MIN_SEGMENT_BYTES;
    f->options.defer_deletes = true;
    assert_int_equal(fixture_open(f), 0);
    for (uint64_t i = 1; i <= 200; i += 10) {
        append_range(f->storage, i, i + 9, 1);
    }
    assert_int_equal(wal_sync(f->storage), 0);
    size_t before = wal_segment_count(f->storage);
    commit_snapshot(f, 95, 1, "state at 95");
    commit_snapshot(f, 150, 1, "state at 150");
    assert_int_equal(wal_compact(f->storage, 150), 0);
    size_t removed = before - wal_segment_count(f->storage);
    assert_true(removed > 0);
    assert_int_equal(trash_entries(f), (int)removed + 1); /* the segments and snapshot 95 */
    const char *trash = NULL;
    assert_true(storage_trash_take(f->storage, &trash));
    assert_false(storage_trash_take(f->storage, &trash));
    assert_int_equal(storage_trash_empty(memfs_io(f->memfs), trash), 0);
    assert_int_equal(trash_entries(f), 0);

    commit_snapshot(f, 180, 1, "state at 180"); /* snapshot 150 goes to the trash */
    assert_int_equal(trash_entries(f), 1);
    fixture_reopen(f);
    assert_int_equal(trash_entries(f), 0);
    assert_true(f->recovered.has_snapshot);
    assert_int_equal(f->recovered.snapshot.index, 180);
    assert_int_equal(f->recovered.entry_count, 20);
    fixture_free(f);
}

struct first_name {
    char name[128];
    int count;
};

static int remember_name(void *arg, const char *name, bool is_directory)
{
    (void)is_directory;
    struct first_name *first = arg;
    snprintf(first->name, sizeof first->name, "%s", name);
    first->count++;
    return 0;
}

/* An older snapshot found at open is deleted while recovering, before the trash exists: it
 * used to be "moved into the trash" under an empty trash path, at the file system's root. */
static void test_snapshot_left_behind_is_deleted_at_open_not_moved_to_the_root(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    f->options.defer_deletes = true;
    assert_int_equal(fixture_open(f), 0);
    append_range(f->storage, 1, 20, 1);
    assert_int_equal(wal_sync(f->storage), 0);
    commit_snapshot(f, 10, 1, "state at 10");
    commit_snapshot(f, 15, 1, "state at 15"); /* snapshot 10 goes to the trash */
    struct first_name trashed = {0};
    memfs_io(f->memfs)->list_dir(f->memfs, DIR "/trash", remember_name, &trashed);
    assert_int_equal(trashed.count, 1);
    /* As if a crash had come before the older snapshot left: put it back. */
    char from[256];
    snprintf(from, sizeof from, DIR "/trash/%s", trashed.name);
    assert_int_equal(memfs_io(f->memfs)->rename(f->memfs, from,
                                                DIR "/snapshots/"
                                                    "00000000000000000010-00000000000000000001"),
                     0);
    fixture_reopen(f);
    assert_int_equal(f->recovered.snapshot.index, 15);
    struct first_name root = {0};
    memfs_io(f->memfs)->list_dir(f->memfs, "/", remember_name, &root);
    assert_int_equal(root.count, 1); /* only the data directory */
    fixture_free(f);
}

/* The clean-stop marker says once, durably, that the state machine was closed cleanly: taking
 * it removes it, so a crash after a start is never mistaken for a clean stop. */
static void test_clean_stop_is_taken_once(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    assert_int_equal(fixture_open(f), 0);
    bool clean = true;
    assert_int_equal(storage_clean_stop_take(f->storage, "", &clean), 0);
    assert_false(clean);
    assert_int_equal(storage_clean_stop_mark(f->storage), 0);
    fixture_reopen(f);
    assert_int_equal(storage_clean_stop_take(f->storage, "", &clean), 0);
    assert_true(clean);
    fixture_reopen(f);
    assert_int_equal(storage_clean_stop_take(f->storage, "", &clean), 0);
    assert_false(clean);
    fixture_free(f);
}

/* A start on the same boot of the machine as the last one trusts the database without a
 * clean stop (only the process died); another boot, an unknown one, or a failed write-back in
 * between does not. */
static void test_same_boot_trusts_the_database(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    assert_int_equal(fixture_open(f), 0);
    bool trusted = true;
    assert_int_equal(storage_clean_stop_take(f->storage, "boot-a", &trusted), 0);
    assert_false(trusted); /* nothing recorded yet */
    fixture_reopen(f);
    assert_int_equal(storage_clean_stop_take(f->storage, "boot-a", &trusted), 0);
    assert_true(trusted);
    fixture_reopen(f);
    assert_int_equal(storage_clean_stop_take(f->storage, "boot-b", &trusted), 0);
    assert_false(trusted); /* the machine restarted */
    assert_int_equal(storage_clean_stop_forget(f->storage), 0);
    fixture_reopen(f);
    assert_int_equal(storage_clean_stop_take(f->storage, "boot-b", &trusted), 0);
    assert_false(trusted);
    fixture_reopen(f);
    assert_int_equal(storage_clean_stop_take(f->storage, "", &trusted), 0);
    assert_false(trusted);
    fixture_reopen(f);
    assert_int_equal(storage_clean_stop_take(f->storage, "", &trusted), 0);
    assert_false(trusted);
    fixture_free(f);
}

static void test_compaction_deletes_only_fully_covered_segments(void **state)
{
    struct fixture *f = fixture_new();
    f->options.segment_max_bytes = STORAGE_MIN_SEGMENT_BYTES;
    assert_int_equal(fixture_open(f), 0);
    for (uint64_t i = 1; i <= 200; i += 10) {
        append_range(f->storage, i, i + 9, 1);
    }
    assert_int_equal(wal_sync(f->storage), 0);
    size_t before = wal_segment_count(f->storage);
    assert_int_equal(wal_compact(f->storage, 50), STORAGE_ERROR_INVALID); /* no snapshot */
    commit_snapshot(f, 95, 1, "state at 95");
    assert_int_equal(wal_compact(f->storage, 95), 0);
    size_t after = wal_segment_count(f->storage);
    assert_true(after < before);
    /* The first segment left must still hold entry 96's predecessor range: nothing above 95
     * was lost, and a segment holding anything above 95 was kept. */
    fixture_reopen(f);
    assert_true(f->recovered.has_snapshot);
    assert_int_equal(f->recovered.snapshot.index, 95);
    assert_int_equal(f->recovered.snapshot.configuration.voter_count, 3);
    assert_int_equal(f->recovered.entry_count, 105);
    assert_entry(&f->recovered.entries[0], 96, 1);
    char paths[64][128];
    size_t count = 0;
    segment_paths(f, paths, &count);
    assert_int_equal(count, after);
    /* Every segment left but the last holds a record above 95 (its successor starts after 96). */
    unsigned long long sequence = 0;
    unsigned long long first = 0;
    assert_int_equal(sscanf(paths[0] + strlen(DIR "/wal/"), "%llu-%llu", &sequence, &first), 2);
    assert_true(first <= 96);
    if (count > 1) {
        assert_int_equal(sscanf(paths[1] + strlen(DIR "/wal/"), "%llu-%llu", &sequence, &first), 2);
        assert_true(first > 96);
    }
    fixture_free(f);
}

static void test_corrupt_byte_in_the_middle_is_refused_naming_file_and_offset(void **state)
{
    struct fixture *f = fixture_new();
    assert_int_equal(fixture_open(f), 0);
    append_range(f->storage, 1, 40, 1);
    assert_int_equal(wal_sync(f->storage), 0);
    fixture_close(f);
    char paths[8][128];
    size_t count = 0;
    segment_paths(f, paths, &count);
    assert_int_equal(count, 1);
    /* Entry 10's payload: offset of record 10 plus a few header bytes. */
    uint64_t offset = 0;
    for (uint64_t i = 1; i < 10; i++) {
        offset += wal_record_bytes(size_for(i));
    }
    assert_int_equal(memfs_flip_byte(f->memfs, paths[0], offset + 40), 0);
    assert_int_equal(fixture_open(f), STORAGE_ERROR_CORRUPT);
    char expected[64];
    snprintf(expected, sizeof expected, "offset %" PRIu64, offset);
    assert_non_null(strstr(f->message, paths[0]));
    assert_non_null(strstr(f->message, expected));
    assert_non_null(strstr(f->message, "checksum"));
    fixture_free(f);
}

static void test_corrupt_record_in_an_older_segment_is_refused(void **state)
{
    struct fixture *f = fixture_new();
    f->options.segment_max_bytes = STORAGE_MIN_SEGMENT_BYTES;
    assert_int_equal(fixture_open(f), 0);
    append_range(f->storage, 1, 100, 1);
    assert_int_equal(wal_sync(f->storage), 0);
    fixture_close(f);
    char paths[64][128];
    size_t count = 0;
    segment_paths(f, paths, &count);
    assert_true(count >= 3);
    assert_int_equal(memfs_flip_byte(f->memfs, paths[1], 20), 0); /* first record's index */
    assert_int_equal(fixture_open(f), STORAGE_ERROR_CORRUPT);
    assert_non_null(strstr(f->message, paths[1]));
    assert_non_null(strstr(f->message, "offset 0"));
    fixture_free(f);
}

static void test_torn_tail_is_cut_and_logged(void **state)
{
    struct fixture *f = fixture_new();
    f->options.preallocate = false;
    assert_int_equal(fixture_open(f), 0);
    append_range(f->storage, 1, 10, 1);
    assert_int_equal(wal_sync(f->storage), 0);
    fixture_close(f);
    char paths[8][128];
    size_t count = 0;
    segment_paths(f, paths, &count);
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(memfs_file_bytes(f->memfs, paths[0], &bytes, &size), 0);
    /* Half of a record for entry 11, as a crash in the middle of its write leaves it. */
    struct raft_entry entry;
    make_entry(&entry, 11, 1, 200);
    uint64_t record_bytes = wal_record_bytes(200);
    uint8_t *torn = malloc(size + record_bytes);
    memcpy(torn, bytes, size);
    wal_record_encode(&entry, torn + size);
    assert_int_equal(memfs_put_file(f->memfs, paths[0], torn, size + record_bytes / 2), 0);
    free(torn);
    size_t good_size = size;
    assert_int_equal(fixture_open(f), 0);
    assert_int_equal(f->recovered.entry_count, 10);
    assert_int_equal(f->log.warnings, 1);
    assert_non_null(strstr(f->log.last_warning, "torn"));
    assert_int_equal(memfs_file_bytes(f->memfs, paths[0], &bytes, &size), 0);
    assert_int_equal(size, good_size);
    assert_int_equal(wal_append(f->storage, &entry, 1), 0);
    free(entry.data);
    assert_int_equal(wal_sync(f->storage), 0);
    fixture_reopen(f);
    assert_int_equal(f->recovered.entry_count, 11);
    fixture_free(f);
}

static void test_preallocated_zeros_are_cut_from_the_last_segment(void **state)
{
    struct fixture *f = fixture_new();
    f->options.preallocate = true;
    assert_int_equal(fixture_open(f), 0);
    append_range(f->storage, 1, 5, 1);
    assert_int_equal(wal_sync(f->storage), 0);
    char paths[8][128];
    size_t count = 0;
    segment_paths(f, paths, &count);
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(memfs_file_bytes(f->memfs, paths[0], &bytes, &size), 0);
    assert_int_equal(size, f->options.segment_max_bytes);
    fixture_reopen(f);
    assert_int_equal(f->recovered.entry_count, 5);
    assert_int_equal(f->log.warnings, 0);
    assert_int_equal(f->log.infos, 1);
    assert_int_equal(memfs_file_bytes(f->memfs, paths[0], &bytes, &size), 0);
    uint64_t expected = 0;
    for (uint64_t i = 1; i <= 5; i++) {
        expected += wal_record_bytes(size_for(i));
    }
    assert_int_equal(size, expected);
    fixture_free(f);
}

/* memfs behind a table that counts fallocate calls: a segment made from the spare makes none. */
static int fallocate_calls;

static int counting_fallocate(void *context, int fd, uint64_t offset, uint64_t length_bytes)
{
    fallocate_calls++;
    return memfs_io(context)->fallocate(context, fd, offset, length_bytes);
}

static struct storage_io counting_io;

static void count_fallocates(struct fixture *f)
{
    counting_io = *memfs_io(f->memfs);
    counting_io.fallocate = counting_fallocate;
    f->options.io = &counting_io;
    fallocate_calls = 0;
}

static bool file_exists(struct fixture *f, const char *path)
{
    bool is_directory = false;
    return memfs_io(f->memfs)->stat(f->memfs, path, &is_directory) == 0;
}

/* The host allocates the next segment ahead (off its loop in the server); the segment that
 * rolls over is then that file, renamed, with no allocation of its own. */
static void test_a_prepared_spare_becomes_the_next_segment(void **state)
{
    struct fixture *f = fixture_new();
    f->options.segment_max_bytes = STORAGE_MIN_SEGMENT_BYTES;
    count_fallocates(f);
    assert_int_equal(fixture_open(f), 0);
    append_range(f->storage, 1, 5, 1);
    assert_int_equal(fallocate_calls, 1); /* the first segment, made where it was needed */
    const char *path = NULL;
    uint64_t bytes = 0;
    assert_true(storage_spare_wanted(f->storage, &path, &bytes));
    assert_string_equal(path, DIR "/wal/segment.spare");
    assert_int_equal(bytes, STORAGE_MIN_SEGMENT_BYTES);
    assert_int_equal(storage_spare_prepare(&counting_io, path, bytes), 0);
    assert_int_equal(fallocate_calls, 2);
    storage_spare_ready(f->storage);
    assert_false(storage_spare_wanted(f->storage, &path, &bytes));

    size_t segments = wal_segment_count(f->storage);
    uint64_t last = 5;
    while (wal_segment_count(f->storage) == segments) {
        append_range(f->storage, last + 1, last + 5, 1);
        last += 5;
    }
    assert_int_equal(fallocate_calls, 2); /* the new segment is the spare */
    assert_false(file_exists(f, DIR "/wal/segment.spare"));
    assert_true(storage_spare_wanted(f->storage, &path, &bytes));
    char paths[8][128];
    size_t count = 0;
    segment_paths(f, paths, &count);
    assert_int_equal(count, 2);
    uint8_t *data = NULL;
    size_t size = 0;
    assert_int_equal(memfs_file_bytes(f->memfs, paths[1], &data, &size), 0);
    assert_int_equal(size, STORAGE_MIN_SEGMENT_BYTES);

    /* Without a spare ready, the next segment is allocated where it is created. */
    segments = wal_segment_count(f->storage);
    while (wal_segment_count(f->storage) == segments) {
        append_range(f->storage, last + 1, last + 5, 1);
        last += 5;
    }
    assert_int_equal(fallocate_calls, 3);
    assert_int_equal(wal_sync(f->storage), 0);
    fixture_reopen(f);
    assert_int_equal(f->recovered.entry_count, last);
    for (uint64_t i = 1; i <= last; i++) {
        assert_entry(&f->recovered.entries[i - 1], i, 1);
    }
    assert_int_equal(f->log.warnings, 0);
    fixture_free(f);
}

/* A spare that was never renamed (a crash, a stop) is no segment: recovery skips it without a
 * word. A spare of the wrong size is not used: the segment is made as without one. */
static void test_a_spare_left_behind_or_damaged_is_not_used(void **state)
{
    struct fixture *f = fixture_new();
    f->options.segment_max_bytes = STORAGE_MIN_SEGMENT_BYTES;
    count_fallocates(f);
    assert_int_equal(fixture_open(f), 0);
    append_range(f->storage, 1, 5, 1);
    assert_int_equal(wal_sync(f->storage), 0);
    const char *path = NULL;
    uint64_t bytes = 0;
    assert_true(storage_spare_wanted(f->storage, &path, &bytes));
    assert_int_equal(storage_spare_prepare(&counting_io, path, bytes), 0);
    fixture_reopen(f);
    assert_int_equal(f->recovered.entry_count, 5);
    assert_int_equal(f->log.warnings, 0);
    assert_true(file_exists(f, DIR "/wal/segment.spare"));

    assert_int_equal(memfs_put_file(f->memfs, DIR "/wal/segment.spare", "short", 5), 0);
    assert_true(storage_spare_wanted(f->storage, &path, &bytes));
    storage_spare_ready(f->storage);
    int before = fallocate_calls;
    uint64_t last = 5;
    while (wal_segment_count(f->storage) == 1) {
        append_range(f->storage, last + 1, last + 5, 1);
        last += 5;
    }
    assert_int_equal(fallocate_calls, before + 1);
    assert_int_equal(f->log.warnings, 1);
    assert_non_null(strstr(f->log.last_warning, "not using the spare segment"));
    assert_int_equal(wal_sync(f->storage), 0);
    fixture_reopen(f);
    assert_int_equal(f->recovered.entry_count, last);
    fixture_free(f);
}

static void test_missing_middle_segment_is_a_gap(void **state)
{
    struct fixture *f = fixture_new();
    f->options.segment_max_bytes = STORAGE_MIN_SEGMENT_BYTES;
    assert_int_equal(fixture_open(f), 0);
    append_range(f->storage, 1, 100, 1);
    assert_int_equal(wal_sync(f->storage), 0);
    fixture_close(f);
    char paths[64][128];
    size_t count = 0;
    segment_paths(f, paths, &count);
    assert_true(count >= 3);
    assert_int_equal(memfs_io(f->memfs)->unlink(f->memfs, paths[1]), 0);
    assert_int_equal(fixture_open(f), STORAGE_ERROR_CORRUPT);
    assert_non_null(strstr(f->message, "gap"));
    assert_non_null(strstr(f->message, paths[2]));
    fixture_free(f);
}

static void test_term_going_backwards_between_records_is_refused(void **state)
{
    struct fixture *f = fixture_new();
    assert_int_equal(fixture_open(f), 0);
    fixture_close(f);
    struct raft_entry entries[3];
    make_entry(&entries[0], 1, 2, 10);
    make_entry(&entries[1], 2, 3, 10);
    make_entry(&entries[2], 3, 1, 10); /* checksummed fine, but term 1 after term 3 */
    uint8_t buffer[1024];
    size_t size = 0;
    for (int i = 0; i < 3; i++) {
        wal_record_encode(&entries[i], buffer + size);
        size += wal_record_bytes(entries[i].data_bytes);
        free(entries[i].data);
    }
    assert_int_equal(memfs_put_file(f->memfs,
                                    DIR "/wal/00000000000000000001-00000000000000000001.wal",
                                    buffer, size),
                     0);
    assert_int_equal(fixture_open(f), STORAGE_ERROR_CORRUPT);
    assert_non_null(strstr(f->message, "term goes backwards"));
    char expected[32];
    snprintf(expected, sizeof expected, "offset %" PRIu64, 2 * wal_record_bytes(10));
    assert_non_null(strstr(f->message, expected));
    fixture_free(f);
}

static void test_hard_state_survives_reopen_and_is_replaced_whole(void **state)
{
    struct fixture *f = fixture_new();
    assert_int_equal(fixture_open(f), 0);
    struct raft_hard_state hard_state = {.term = 7, .vote = 3, .commit = 0};
    assert_int_equal(storage_hard_state_save(f->storage, &hard_state), 0);
    hard_state.commit = 12;
    assert_int_equal(storage_hard_state_save(f->storage, &hard_state), 0);
    uint64_t operations = memfs_operation_count(f->memfs);
    assert_int_equal(storage_hard_state_save(f->storage, &hard_state), 0); /* unchanged: no I/O */
    assert_int_equal(memfs_operation_count(f->memfs), operations);
    fixture_reopen(f);
    assert_true(f->recovered.has_hard_state);
    assert_int_equal(f->recovered.hard_state.term, 7);
    assert_int_equal(f->recovered.hard_state.vote, 3);
    assert_int_equal(f->recovered.hard_state.commit, 12);
    fixture_close(f);
    assert_int_equal(memfs_flip_byte(f->memfs, DIR "/hard_state", 9), 0);
    assert_int_equal(fixture_open(f), STORAGE_ERROR_CORRUPT);
    assert_non_null(strstr(f->message, DIR "/hard_state"));
    fixture_free(f);
}

static void test_snapshot_commit_replaces_the_older_one(void **state)
{
    struct fixture *f = fixture_new();
    assert_int_equal(fixture_open(f), 0);
    append_range(f->storage, 1, 30, 1);
    assert_int_equal(wal_sync(f->storage), 0);
    commit_snapshot(f, 10, 1, "ten");
    commit_snapshot(f, 20, 1, "twenty");
    struct raft_snapshot_meta meta;
    char path[STORAGE_MAX_PATH_BYTES];
    assert_int_equal(storage_snapshot_latest(f->storage, &meta, path, sizeof path), 0);
    assert_int_equal(meta.index, 20);
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(memfs_file_bytes(f->memfs, path, &bytes, &size), 0);
    assert_int_equal(size, 6);
    assert_memory_equal(bytes, "twenty", 6);
    assert_int_equal(memfs_file_bytes(f->memfs,
                                      DIR "/snapshots/00000000000000000010-00000000000000000001"
                                          "/data",
                                      &bytes, &size),
                     -ENOENT);
    struct raft_snapshot_meta older = {.index = 15, .term = 1};
    struct storage_snapshot_writer *writer = NULL;
    assert_int_equal(storage_snapshot_begin(f->storage, &older, &writer), STORAGE_ERROR_INVALID);
    /* An unfinished snapshot is deleted at the next open. */
    struct raft_snapshot_meta newer = {.index = 25, .term = 1};
    assert_int_equal(storage_snapshot_begin(f->storage, &newer, &writer), 0);
    assert_int_equal(storage_snapshot_write(f->storage, writer, "partial", 7), 0);
    fixture_close(f);
    assert_int_equal(fixture_open(f), 0);
    storage_snapshot_abort(f->storage, NULL);
    free(writer); /* the writer of a closed storage: only its memory is left */
    assert_int_equal(f->recovered.snapshot.index, 20);
    assert_int_equal(f->recovered.entry_count, 10);
    assert_entry(&f->recovered.entries[0], 21, 1);
    assert_int_equal(memfs_file_bytes(f->memfs,
                                      DIR "/snapshots/tmp-00000000000000000025-"
                                          "00000000000000000001/data",
                                      &bytes, &size),
                     -ENOENT);
    fixture_free(f);
}

static void test_damaged_snapshot_data_is_refused(void **state)
{
    struct fixture *f = fixture_new();
    assert_int_equal(fixture_open(f), 0);
    append_range(f->storage, 1, 5, 1);
    assert_int_equal(wal_sync(f->storage), 0);
    commit_snapshot(f, 5, 1, "the state machine");
    char path[STORAGE_MAX_PATH_BYTES];
    assert_int_equal(storage_snapshot_latest(f->storage, NULL, path, sizeof path), 0);
    fixture_close(f);
    assert_int_equal(memfs_flip_byte(f->memfs, path, 3), 0);
    assert_int_equal(fixture_open(f), STORAGE_ERROR_CORRUPT);
    assert_non_null(strstr(f->message, path));
    fixture_free(f);
}

static void test_reset_after_a_leader_snapshot_drops_the_conflicting_log(void **state)
{
    struct fixture *f = fixture_new();
    assert_int_equal(fixture_open(f), 0);
    append_range(f->storage, 1, 30, 1);
    assert_int_equal(wal_sync(f->storage), 0);
    /* The leader's snapshot at 20, term 3, conflicts with our entries: reset, sync, commit. */
    struct raft_snapshot_meta meta = {.index = 20, .term = 3};
    struct storage_snapshot_writer *writer = NULL;
    assert_int_equal(storage_snapshot_begin(f->storage, &meta, &writer), 0);
    assert_int_equal(storage_snapshot_write(f->storage, writer, "leader state", 12), 0);
    assert_int_equal(storage_snapshot_install_from_leader(f->storage, writer), 0);
    assert_int_equal(wal_last_index(f->storage), 20);
    assert_false(wal_sync_pending(f->storage));
    append_range(f->storage, 21, 25, 3);
    assert_int_equal(wal_sync(f->storage), 0);
    fixture_reopen(f);
    assert_int_equal(f->recovered.snapshot.index, 20);
    assert_int_equal(f->recovered.entry_count, 5);
    assert_entry(&f->recovered.entries[0], 21, 3);
    /* A snapshot beyond the end of our log: the next entry follows the snapshot. */
    commit_snapshot(f, 40, 4, "far ahead");
    append_range(f->storage, 41, 42, 4);
    assert_int_equal(wal_sync(f->storage), 0);
    fixture_reopen(f);
    assert_int_equal(f->recovered.entry_count, 2);
    assert_entry(&f->recovered.entries[0], 41, 4);
    fixture_free(f);
}

static void test_failed_sync_refuses_every_later_call(void **state)
{
    struct fixture *f = fixture_new();
    assert_int_equal(fixture_open(f), 0);
    append_range(f->storage, 1, 5, 1);
    memfs_fail_at(f->memfs, memfs_operation_count(f->memfs) + 2, -EIO); /* dir, then data */
    assert_int_equal(wal_sync(f->storage), STORAGE_ERROR_IO);
    assert_non_null(strstr(storage_message(f->storage), "fdatasync"));
    assert_int_equal(wal_sync(f->storage), STORAGE_ERROR_FAILED);
    struct raft_entry entry;
    make_entry(&entry, 6, 1, 3);
    assert_int_equal(wal_append(f->storage, &entry, 1), STORAGE_ERROR_FAILED);
    free(entry.data);
    fixture_free(f);
}

/* A record bigger than the write buffer and than a segment; a batch bigger than the buffer. */
static void test_large_entries_and_large_batches_round_trip(void **state)
{
    struct fixture *f = fixture_new();
    f->options.segment_max_bytes = 1024 * 1024;
    assert_int_equal(fixture_open(f), 0);
    enum { SMALL_COUNT = 400, SMALL_BYTES = 5000, LARGE_BYTES = 3 * 1024 * 1024 };
    struct raft_entry *entries = calloc(SMALL_COUNT + 1, sizeof *entries);
    assert_non_null(entries);
    for (uint64_t i = 0; i < SMALL_COUNT; i++) {
        make_entry(&entries[i], i + 1, 1, SMALL_BYTES);
    }
    make_entry(&entries[SMALL_COUNT], SMALL_COUNT + 1, 1, LARGE_BYTES);
    assert_int_equal(wal_append(f->storage, entries, SMALL_COUNT + 1), 0);
    assert_int_equal(wal_sync(f->storage), 0);
    fixture_reopen(f);
    assert_int_equal(f->recovered.entry_count, SMALL_COUNT + 1);
    for (size_t i = 0; i <= SMALL_COUNT; i++) {
        const struct raft_entry *got = &f->recovered.entries[i];
        assert_int_equal(got->index, entries[i].index);
        assert_int_equal(got->data_bytes, entries[i].data_bytes);
        assert_memory_equal(got->data, entries[i].data, got->data_bytes);
        free(entries[i].data);
    }
    free(entries);
    assert_true(wal_segment_count(f->storage) >= 3);
    fixture_free(f);
}

static void *sync_on_another_thread(void *arg)
{
    struct storage *storage = arg;
    return (void *)(intptr_t)wal_sync(storage);
}

/* The server's pattern: append on the loop thread, sync on a pool thread, then go on. */
static void test_sync_runs_on_another_thread(void **state)
{
    struct fixture *f = fixture_new();
    assert_int_equal(fixture_open(f), 0);
    for (uint64_t round = 0; round < 20; round++) {
        append_range(f->storage, round * 10 + 1, round * 10 + 10, 1);
        pthread_t thread;
        assert_int_equal(pthread_create(&thread, NULL, sync_on_another_thread, f->storage), 0);
        void *result = NULL;
        assert_int_equal(pthread_join(thread, &result), 0);
        assert_int_equal((intptr_t)result, 0);
    }
    memfs_restart(f->memfs, MEMFS_CRASH_POWER_LOSS, 0);
    storage_close(f->storage);
    f->storage = NULL;
    assert_int_equal(fixture_open(f), 0);
    assert_int_equal(f->recovered.entry_count, 200);
    fixture_free(f);
}

/* Every code in STORAGE_ERRORS has its own text, and values beyond the list fall back. */
static void test_error_strings_name_every_code(void **state)
{
    int lowest = 0;
#define STORAGE_CHECK_CODE(name, value, text)                                                      \
    assert_int_equal(name, value);                                                                 \
    assert_true(text[0] != '\0');                                                                  \
    assert_string_not_equal(text, "unknown storage error");                                        \
    assert_string_equal(storage_error_string(value), text);                                        \
    lowest = value < lowest ? value : lowest;
    STORAGE_ERRORS(STORAGE_CHECK_CODE)
#undef STORAGE_CHECK_CODE
    assert_string_equal(storage_error_string(lowest - 1), "unknown storage error");
    assert_string_equal(storage_error_string(1), "unknown storage error");
    assert_string_equal(storage_error_string(-100), "unknown storage error");
}

/* The same life on the real file system: preallocation, fdatasync, rename, reopen. */
static void test_real_file_system_round_trip(void **state)
{
    char template[] = "/tmp/raftkv-storage-XXXXXX";
    assert_non_null(mkdtemp(template));
    char dir[128];
    snprintf(dir, sizeof dir, "%s/node", template);
    struct storage_options options;
    storage_options_default(&options);
    options.segment_max_bytes = 16 * 1024;
    struct storage *storage = NULL;
    struct storage_recovered recovered;
    char message[STORAGE_MESSAGE_BYTES];
    assert_int_equal(storage_open(dir, &options, &storage, &recovered, message, sizeof message), 0);
    assert_true(recovered.fresh);
    append_range(storage, 1, 200, 1);
    assert_int_equal(wal_sync(storage), 0);
    struct raft_hard_state hard_state = {.term = 1, .vote = 1, .commit = 150};
    assert_int_equal(storage_hard_state_save(storage, &hard_state), 0);
    storage_close(storage);
    assert_int_equal(storage_open(dir, &options, &storage, &recovered, message, sizeof message), 0);
    assert_int_equal(recovered.entry_count, 200);
    assert_entry(&recovered.entries[199], 200, 1);
    assert_int_equal(recovered.hard_state.commit, 150);
    storage_recovered_free(&recovered);
    /* kv writes the snapshot's data file itself, at the path the writer names. */
    struct raft_snapshot_meta meta = {.index = 150, .term = 1};
    struct storage_snapshot_writer *writer = NULL;
    assert_int_equal(storage_snapshot_begin(storage, &meta, &writer), 0);
    FILE *data = fopen(storage_snapshot_data_path(writer), "wb");
    assert_non_null(data);
    assert_true(fputs("written by kv", data) >= 0);
    assert_int_equal(fclose(data), 0);
    assert_int_equal(storage_snapshot_commit(storage, writer), 0);
    assert_int_equal(wal_compact(storage, 150), 0);
    storage_close(storage);
    assert_int_equal(storage_open(dir, &options, &storage, &recovered, message, sizeof message), 0);
    assert_int_equal(recovered.snapshot.index, 150);
    assert_int_equal(recovered.entry_count, 50);
    assert_entry(&recovered.entries[0], 151, 1);
    storage_recovered_free(&recovered);
    storage_close(storage);
    char command[256];
    snprintf(command, sizeof command, "rm -rf '%s'", template);
    assert_int_equal(system(command), 0);
}

/* ---- the replication mode that made the directory (replication_mode.c) ---- */

static void test_a_foil_mode_claims_a_fresh_directory_and_refuses_it_to_another(void **state)
{
    struct fixture *f = fixture_new();
    assert_int_equal(fixture_open(f), 0);
    assert_true(f->recovered.fresh);
    assert_int_equal(storage_replication_mode_claim(f->storage, "naive", true), 0);
    fixture_reopen(f);
    assert_int_equal(storage_replication_mode_claim(f->storage, "naive", false), 0);
    assert_int_equal(storage_replication_mode_claim(f->storage, "lww", false), STORAGE_ERROR_MODE);
    assert_non_null(strstr(storage_message(f->storage),
                           "made by replication mode 'naive'; this node runs 'lww'"));
    assert_int_equal(storage_replication_mode_claim(f->storage, "raft", false), STORAGE_ERROR_MODE);
    fixture_free(f);
}

static void test_raft_writes_no_mode_record_and_a_foil_refuses_its_directory(void **state)
{
    struct fixture *f = fixture_new();
    assert_int_equal(fixture_open(f), 0);
    assert_int_equal(storage_replication_mode_claim(f->storage, "raft", true), 0);
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_true(memfs_file_bytes(f->memfs, DIR "/replication-mode", &bytes, &size) != 0);
    fixture_reopen(f); /* no longer fresh: a directory from before the modes, say */
    assert_int_equal(storage_replication_mode_claim(f->storage, "raft", false), 0);
    assert_int_equal(storage_replication_mode_claim(f->storage, "lww", false), STORAGE_ERROR_MODE);
    assert_non_null(strstr(storage_message(f->storage), "made by replication mode 'raft'"));
    fixture_free(f);
}

static void test_a_damaged_mode_record_is_corruption(void **state)
{
    struct fixture *f = fixture_new();
    assert_int_equal(fixture_open(f), 0);
    assert_int_equal(storage_replication_mode_claim(f->storage, "lww", true), 0);
    assert_int_equal(memfs_flip_byte(f->memfs, DIR "/replication-mode", 9), 0);
    assert_int_equal(storage_replication_mode_claim(f->storage, "lww", false),
                     STORAGE_ERROR_CORRUPT);
    assert_non_null(strstr(storage_message(f->storage), "checksum mismatch"));
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_foil_mode_claims_a_fresh_directory_and_refuses_it_to_another),
        cmocka_unit_test(test_raft_writes_no_mode_record_and_a_foil_refuses_its_directory),
        cmocka_unit_test(test_a_damaged_mode_record_is_corruption),
        cmocka_unit_test(test_missing_directory_is_a_fresh_start),
        cmocka_unit_test(test_empty_directory_is_a_fresh_start),
        cmocka_unit_test(test_directory_with_other_files_is_refused),
        cmocka_unit_test(test_foreign_version_magic_is_refused),
        cmocka_unit_test(test_newer_format_version_is_refused),
        cmocka_unit_test(test_append_sync_reopen_returns_every_entry),
        cmocka_unit_test(test_suffix_truncation_then_reappend),
        cmocka_unit_test(test_append_rejects_gaps_and_terms_going_backwards),
        cmocka_unit_test(test_segments_roll_over_at_the_size_limit),
        cmocka_unit_test(test_compaction_deletes_only_fully_covered_segments),
        cmocka_unit_test(test_deferred_deletes_wait_in_the_trash),
        cmocka_unit_test(test_clean_stop_is_taken_once),
        cmocka_unit_test(test_same_boot_trusts_the_database),
        cmocka_unit_test(test_snapshot_left_behind_is_deleted_at_open_not_moved_to_the_root),
        cmocka_unit_test(test_corrupt_byte_in_the_middle_is_refused_naming_file_and_offset),
        cmocka_unit_test(test_corrupt_record_in_an_older_segment_is_refused),
        cmocka_unit_test(test_torn_tail_is_cut_and_logged),
        cmocka_unit_test(test_preallocated_zeros_are_cut_from_the_last_segment),
        cmocka_unit_test(test_a_prepared_spare_becomes_the_next_segment),
        cmocka_unit_test(test_a_spare_left_behind_or_damaged_is_not_used),
        cmocka_unit_test(test_missing_middle_segment_is_a_gap),
        cmocka_unit_test(test_term_going_backwards_between_records_is_refused),
        cmocka_unit_test(test_hard_state_survives_reopen_and_is_replaced_whole),
        cmocka_unit_test(test_snapshot_commit_replaces_the_older_one),
        cmocka_unit_test(test_damaged_snapshot_data_is_refused),
        cmocka_unit_test(test_reset_after_a_leader_snapshot_drops_the_conflicting_log),
        cmocka_unit_test(test_failed_sync_refuses_every_later_call),
        cmocka_unit_test(test_large_entries_and_large_batches_round_trip),
        cmocka_unit_test(test_sync_runs_on_another_thread),
        cmocka_unit_test(test_error_strings_name_every_code),
        cmocka_unit_test(test_real_file_system_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
