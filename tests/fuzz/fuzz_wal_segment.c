/*
 * fuzz_wal_segment.c — arbitrary bytes as a WAL segment file.
 *
 * The first byte picks the path under test. Even: the pure decoder (wal_segment_scan over the
 * rest, with the first index taken from the next byte or "any", then the forward search for a
 * valid record that tells damage from a torn tail). Odd: the whole recovery — the rest becomes
 * the only segment of an otherwise valid data directory on memfs, and storage_open must either
 * refuse with a clean error or recover a contiguous log that takes a new append.
 * Never a crash, a leak, or a read outside the input.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/memfs.h"
#include "storage/record.h"
#include "storage/storage.h"

#define SEGMENT_PATH "/node/wal/00000000000000000001-00000000000000000001.wal"

static int count_record(void *arg, const struct wal_record_view *record, uint64_t offset)
{
    uint64_t *count = arg;
    assert(record->record_bytes >= WAL_RECORD_HEADER_BYTES);
    (*count)++;
    return 0;
}

static void fuzz_decoder(const uint8_t *data, size_t size)
{
    uint64_t first_index = size > 0 && data[0] < 128 ? data[0] : 0;
    struct wal_segment_scan scan;
    uint64_t count = 0;
    int rc = wal_segment_scan(data, size, first_index, STORAGE_MAX_ENTRY_BYTES, count_record,
                              &count, &scan);
    assert(rc == 0 || rc == -1);
    if (rc == 0) {
        assert(scan.valid_bytes <= size);
        assert(count == scan.record_count);
        uint64_t found = 0;
        if (wal_find_valid_record(data, size, scan.valid_bytes, STORAGE_MAX_ENTRY_BYTES, &found)) {
            assert(found < size);
        }
    }
}

static void fuzz_recovery(const uint8_t *data, size_t size)
{
    struct memfs *memfs = memfs_new();
    assert(memfs != NULL);
    struct storage_options options;
    storage_options_default(&options);
    options.io = memfs_io(memfs);
    options.preallocate = false;
    struct storage *storage = NULL;
    struct storage_recovered recovered;
    char message[STORAGE_MESSAGE_BYTES];
    int rc = storage_open("/node", &options, &storage, &recovered, message, sizeof message);
    assert(rc == 0);
    storage_close(storage);
    rc = memfs_put_file(memfs, SEGMENT_PATH, data, size);
    assert(rc == 0);
    rc = storage_open("/node", &options, &storage, &recovered, message, sizeof message);
    if (rc == 0) {
        for (size_t i = 0; i < recovered.entry_count; i++) {
            assert(recovered.entries[i].index == i + 1);
        }
        struct raft_entry entry = {
            .index = wal_last_index(storage) + 1,
            .term = wal_last_term(storage),
            .type = RAFT_ENTRY_NOOP,
        };
        rc = wal_append(storage, &entry, 1);
        assert(rc == 0);
        rc = wal_sync(storage);
        assert(rc == 0);
        storage_recovered_free(&recovered);
        storage_close(storage);
    } else {
        assert(storage == NULL);
        assert(message[0] != '\0');
        assert(strcmp(storage_error_string(rc), "unknown storage error") != 0);
    }
    memfs_free(memfs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    if ((data[0] & 1) == 0) {
        fuzz_decoder(data + 1, size - 1);
    } else {
        fuzz_recovery(data + 1, size - 1);
    }
    return 0;
}
