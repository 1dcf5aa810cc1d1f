/*
 * snapshot_open.c — at open, finding the newest snapshot and verifying it before it is trusted.
 *
 * Happy path (step 3 of storage_open): list <dir>/snapshots, delete every "tmp-" directory (a
 * snapshot whose commit never reached its rename), pick the newest <index>-<term> directory,
 * verify it — the meta's checksum, its index and term against the directory name, the data
 * file's size and, unless options.verify_snapshot_data is off, the data checksum — and only
 * then delete the older ones. An older snapshot may be left beside the newest by a crash after
 * the commit's rename; this is where it goes. Failure modes: a damaged newest snapshot refuses
 * with STORAGE_ERROR_CORRUPT naming the file — never a silent fall back to an older state;
 * entries that are not snapshots are logged and left alone; I/O errors are STORAGE_ERROR_IO.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "storage/internal.h"

#define SNAPSHOT_META_MAX_READ_BYTES 4096 /* far above any layout's size */

struct snapshot_census {
    struct storage *storage;
    bool found;
    uint64_t index;
    uint64_t term;
    int error;
};

static int census_entry(void *arg, const char *name, bool is_directory)
{
    struct snapshot_census *census = arg;
    assert(census != NULL);
    assert(name != NULL);
    struct storage *storage = census->storage;
    uint64_t index = 0;
    uint64_t term = 0;
    if (is_directory && strncmp(name, STORAGE_SNAPSHOT_TEMPORARY_PREFIX,
                                strlen(STORAGE_SNAPSHOT_TEMPORARY_PREFIX)) == 0) {
        char path[STORAGE_MAX_PATH_BYTES];
        census->error = storage_join_path(storage, path, storage->snapshot_dir, name);
        if (census->error == 0) {
            census->error = storage_snapshot_remove_tree(storage, path);
            storage_log(storage, STORAGE_LOG_INFO, "deleted %s: an unfinished snapshot", path);
        }
        return census->error != 0;
    }
    if (!is_directory || !storage_snapshot_parse_name(name, &index, &term)) {
        storage_log(storage, STORAGE_LOG_WARNING, "ignoring %s/%s: not a snapshot",
                    storage->snapshot_dir, name);
        return 0;
    }
    if (!census->found || index > census->index ||
        (index == census->index && term > census->term)) {
        census->found = true;
        census->index = index;
        census->term = term;
    }
    return 0;
}

static int verify_snapshot(struct storage *storage, const char *directory, uint64_t index,
                           uint64_t term)
{
    assert(directory != NULL);
    assert(!storage->has_snapshot); /* the newest one is verified once, at open */
    char meta_path[STORAGE_MAX_PATH_BYTES];
    char data_path[STORAGE_MAX_PATH_BYTES];
    int rc = storage_join_path(storage, meta_path, directory, STORAGE_SNAPSHOT_META_FILE);
    if (rc == 0) {
        rc = storage_join_path(storage, data_path, directory, STORAGE_SNAPSHOT_DATA_FILE);
    }
    uint8_t *bytes = NULL;
    size_t size = 0;
    if (rc == 0) {
        rc = storage_read_file(storage, meta_path, SNAPSHOT_META_MAX_READ_BYTES, &bytes, &size);
    }
    if (rc != 0) {
        return rc == STORAGE_ERROR_IO ? STORAGE_ERROR_CORRUPT : rc;
    }
    struct raft_snapshot_meta meta;
    uint64_t data_bytes = 0;
    uint64_t data_checksum = 0;
    bool valid = storage_snapshot_meta_decode(bytes, size, &meta, &data_bytes, &data_checksum);
    free(bytes);
    if (!valid || meta.index != index || meta.term != term) {
        return storage_fail(storage, STORAGE_ERROR_CORRUPT,
                            "%s at offset 0: bad size, checksum, or index/term unlike the "
                            "directory name",
                            meta_path);
    }
    uint64_t actual_bytes = 0;
    uint64_t actual_checksum = 0;
    rc = storage_snapshot_checksum_data(storage, data_path, false, &actual_bytes, &actual_checksum);
    if (rc != 0) {
        return rc == STORAGE_ERROR_IO ? STORAGE_ERROR_CORRUPT : rc;
    }
    if (actual_bytes != data_bytes ||
        (storage->options.verify_snapshot_data && actual_checksum != data_checksum)) {
        return storage_fail(storage, STORAGE_ERROR_CORRUPT,
                            "%s: %" PRIu64 " bytes, checksum %016" PRIx64 "; meta says %" PRIu64
                            " bytes, checksum %016" PRIx64,
                            data_path, actual_bytes, actual_checksum, data_bytes, data_checksum);
    }
    storage->has_snapshot = true;
    storage->snapshot = meta;
    return 0;
}

int storage_snapshot_recover(struct storage *storage)
{
    assert(storage != NULL);
    assert(!storage->has_snapshot);
    struct snapshot_census census = {.storage = storage};
    int rc =
        storage->io->list_dir(storage->io->context, storage->snapshot_dir, census_entry, &census);
    if (census.error != 0) {
        return census.error;
    }
    if (rc < 0) {
        return storage_fail_io(storage, rc, "list", storage->snapshot_dir);
    }
    if (!census.found) {
        return 0;
    }
    char name[STORAGE_SNAPSHOT_NAME_BYTES];
    char directory[STORAGE_MAX_PATH_BYTES];
    storage_snapshot_name(name, "", census.index, census.term);
    rc = storage_join_path(storage, directory, storage->snapshot_dir, name);
    if (rc == 0) {
        rc = verify_snapshot(storage, directory, census.index, census.term);
    }
    if (rc == 0) {
        rc = storage_snapshot_remove_others(storage, name);
    }
    return rc;
}
