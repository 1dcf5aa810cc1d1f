/*
 * hard_state.c — the two small fixed-layout files: <dir>/VERSION and <dir>/hard_state.
 *
 * Both are replaced atomically (storage_replace_file: write a temporary file, fsync it,
 * rename it over the old one, fsync the directory), so a crash leaves the old file or the new
 * one, never a mix; a damaged file is therefore corruption, never a torn write.
 *
 *   VERSION     8-byte magic "RAFTKVDB", u32 format version, u32 zero, u64 XXH3 of the 16
 *               bytes before it. Written last when a directory is initialized: its presence
 *               means wal/ and snapshots/ exist durably.
 *   hard_state  u32 magic "RKHS", u32 layout version 1, u64 term, u64 vote, u64 commit,
 *               u64 XXH3 of the 32 bytes before it.
 *
 * Fresh start: a missing directory, or one holding nothing but what an interrupted
 * initialization leaves (empty wal/ and snapshots/, VERSION.tmp). Anything else without a
 * VERSION file is refused as foreign, so that raftkv never writes into a directory it does
 * not own.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "storage/internal.h"

#define VERSION_FILE           "VERSION"
#define VERSION_FILE_BYTES     24
#define VERSION_MAGIC          "RAFTKVDB"
#define VERSION_MAX_READ_BYTES 4096
#define HARD_STATE_FILE        "hard_state"
#define HARD_STATE_MAGIC       0x53484b52u /* "RKHS" */
#define HARD_STATE_LAYOUT      1
#define HARD_STATE_FILE_BYTES  40
#define WAL_DIRECTORY          "wal"
#define SNAPSHOT_DIRECTORY     "snapshots"

static int check_version_bytes(struct storage *storage, const char *path, const uint8_t *bytes,
                               size_t size)
{
    assert(path != NULL);
    assert(bytes != NULL || size == 0);
    size_t magic_bytes = strlen(VERSION_MAGIC);
    if (size < magic_bytes || memcmp(bytes, VERSION_MAGIC, magic_bytes) != 0) {
        return storage_fail(storage, STORAGE_ERROR_FOREIGN,
                            "%s: foreign magic; this is not a raftkv data directory", path);
    }
    if (size >= 12) {
        uint32_t version = storage_get_u32(bytes + 8);
        if (version > STORAGE_FORMAT_VERSION) {
            return storage_fail(storage, STORAGE_ERROR_VERSION,
                                "%s: format version %u is newer than this build reads (%u); "
                                "run a newer raftkv",
                                path, version, STORAGE_FORMAT_VERSION);
        }
        if (version == 0) {
            return storage_fail(storage, STORAGE_ERROR_CORRUPT, "%s: format version 0", path);
        }
    }
    if (size != VERSION_FILE_BYTES) {
        return storage_fail(storage, STORAGE_ERROR_CORRUPT, "%s: %zu bytes, expected %d", path,
                            size, VERSION_FILE_BYTES);
    }
    if (XXH3_64bits(bytes, 16) != storage_get_u64(bytes + 16)) {
        return storage_fail(storage, STORAGE_ERROR_CORRUPT, "%s: checksum mismatch at offset 16",
                            path);
    }
    return 0;
}

static int write_version(struct storage *storage)
{
    static_assert(sizeof VERSION_MAGIC - 1 == 8, "the magic fills the first 8 bytes");
    assert(storage->dir[0] != '\0');
    uint8_t bytes[VERSION_FILE_BYTES];
    memcpy(bytes, VERSION_MAGIC, 8);
    storage_put_u32(bytes + 8, STORAGE_FORMAT_VERSION);
    storage_put_u32(bytes + 12, 0);
    storage_put_u64(bytes + 16, XXH3_64bits(bytes, 16));
    return storage_replace_file(storage, storage->dir, VERSION_FILE, bytes, sizeof bytes);
}

struct directory_census {
    bool has_version;
    bool has_other; /* anything an interrupted initialization would not leave */
    bool has_wal;
    bool has_snapshots;
};

static int count_entry(void *arg, const char *name, bool is_directory)
{
    struct directory_census *census = arg;
    assert(census != NULL);
    assert(name != NULL);
    if (strcmp(name, VERSION_FILE) == 0) {
        census->has_version = true;
    } else if (is_directory && strcmp(name, WAL_DIRECTORY) == 0) {
        census->has_wal = true;
    } else if (is_directory && strcmp(name, SNAPSHOT_DIRECTORY) == 0) {
        census->has_snapshots = true;
    } else if (strcmp(name, VERSION_FILE ".tmp") != 0) {
        census->has_other = true;
    }
    return 0;
}

static int count_any(void *arg, const char *name, bool is_directory)
{
    bool *any = arg;
    assert(any != NULL);
    assert(name != NULL);
    *any = true;
    return 1;
}

/* An interrupted initialization may have left wal/ and snapshots/; they must be empty. */
static int subdirectory_empty(struct storage *storage, const char *path, bool exists, bool *empty)
{
    assert(path != NULL);
    assert(empty != NULL);
    *empty = true;
    if (!exists) {
        return 0;
    }
    bool any = false;
    int rc = storage->io->list_dir(storage->io->context, path, count_any, &any);
    if (rc < 0) {
        return storage_fail_io(storage, rc, "list", path);
    }
    *empty = !any;
    return 0;
}

static int make_directory(struct storage *storage, const char *path)
{
    assert(path != NULL);
    assert(path[0] != '\0');
    int rc = storage->io->mkdir(storage->io->context, path);
    if (rc < 0 && rc != -EEXIST) {
        return storage_fail_io(storage, rc, "create directory", path);
    }
    return 0;
}

static int sync_parent(struct storage *storage)
{
    assert(storage->dir[0] != '\0'); /* set_paths refuses an empty path */
    char parent[STORAGE_MAX_PATH_BYTES];
    snprintf(parent, sizeof parent, "%s", storage->dir);
    char *slash = strrchr(parent, '/');
    if (slash == NULL) {
        snprintf(parent, sizeof parent, ".");
    } else if (slash == parent) {
        parent[1] = '\0';
    } else {
        *slash = '\0';
    }
    int rc = storage->io->fsync_dir(storage->io->context, parent);
    if (rc < 0) {
        return storage_fail_io(storage, rc, "fsync directory", parent);
    }
    return 0;
}

/* wal/ and snapshots/ are made durable before VERSION names the directory ours. */
static int initialize(struct storage *storage)
{
    assert(storage->wal_dir[0] != '\0');
    assert(storage->snapshot_dir[0] != '\0');
    int rc = make_directory(storage, storage->wal_dir);
    if (rc == 0) {
        rc = make_directory(storage, storage->snapshot_dir);
    }
    if (rc == 0) {
        rc = storage->io->fsync_dir(storage->io->context, storage->dir);
        if (rc < 0) {
            rc = storage_fail_io(storage, rc, "fsync directory", storage->dir);
        }
    }
    if (rc == 0) {
        rc = write_version(storage);
    }
    return rc;
}

static int check_existing_version(struct storage *storage, const struct directory_census *census)
{
    assert(census != NULL);
    assert(census->has_version);
    char path[STORAGE_MAX_PATH_BYTES];
    int rc = storage_join_path(storage, path, storage->dir, VERSION_FILE);
    if (rc != 0) {
        return rc;
    }
    uint8_t *bytes = NULL;
    size_t size = 0;
    rc = storage_read_file(storage, path, VERSION_MAX_READ_BYTES, &bytes, &size);
    if (rc != 0) {
        return rc;
    }
    rc = check_version_bytes(storage, path, bytes, size);
    free(bytes);
    if (rc == 0 && (!census->has_wal || !census->has_snapshots)) {
        rc = storage_fail(storage, STORAGE_ERROR_CORRUPT,
                          "%s has a VERSION file but no %s directory", storage->dir,
                          census->has_wal ? SNAPSHOT_DIRECTORY : WAL_DIRECTORY);
    }
    return rc;
}

int storage_version_check_or_create(struct storage *storage, bool *fresh)
{
    assert(storage != NULL);
    assert(fresh != NULL);
    const struct storage_io *io = storage->io;
    *fresh = false;
    bool is_directory = false;
    int rc = io->stat(io->context, storage->dir, &is_directory);
    if (rc == -ENOENT) {
        rc = make_directory(storage, storage->dir);
        if (rc == 0) {
            rc = sync_parent(storage);
        }
        if (rc == 0) {
            *fresh = true;
            rc = initialize(storage);
        }
        return rc;
    }
    if (rc < 0) {
        return storage_fail_io(storage, rc, "stat", storage->dir);
    }
    if (!is_directory) {
        return storage_fail(storage, STORAGE_ERROR_FOREIGN, "%s is not a directory", storage->dir);
    }
    struct directory_census census = {0};
    rc = io->list_dir(io->context, storage->dir, count_entry, &census);
    if (rc < 0) {
        return storage_fail_io(storage, rc, "list", storage->dir);
    }
    if (census.has_version) {
        return check_existing_version(storage, &census);
    }
    bool wal_empty = true;
    bool snapshots_empty = true;
    rc = subdirectory_empty(storage, storage->wal_dir, census.has_wal, &wal_empty);
    if (rc == 0) {
        rc = subdirectory_empty(storage, storage->snapshot_dir, census.has_snapshots,
                                &snapshots_empty);
    }
    if (rc != 0) {
        return rc;
    }
    if (census.has_other || !wal_empty || !snapshots_empty) {
        return storage_fail(storage, STORAGE_ERROR_FOREIGN,
                            "%s is not empty and has no VERSION file; refusing to use it",
                            storage->dir);
    }
    *fresh = true;
    return initialize(storage);
}

int storage_hard_state_load(struct storage *storage)
{
    assert(storage != NULL);
    assert(!storage->has_hard_state); /* loaded once, at open */
    char path[STORAGE_MAX_PATH_BYTES];
    int rc = storage_join_path(storage, path, storage->dir, HARD_STATE_FILE);
    if (rc != 0) {
        return rc;
    }
    bool is_directory = false;
    rc = storage->io->stat(storage->io->context, path, &is_directory);
    if (rc == -ENOENT) {
        storage->has_hard_state = false;
        return 0;
    }
    uint8_t *bytes = NULL;
    size_t size = 0;
    rc = storage_read_file(storage, path, VERSION_MAX_READ_BYTES, &bytes, &size);
    if (rc != 0) {
        return rc;
    }
    if (size != HARD_STATE_FILE_BYTES || storage_get_u32(bytes) != HARD_STATE_MAGIC ||
        storage_get_u32(bytes + 4) != HARD_STATE_LAYOUT) {
        rc = storage_fail(storage, STORAGE_ERROR_CORRUPT,
                          "%s at offset 0: bad size, magic or layout version", path);
    } else if (XXH3_64bits(bytes, 32) != storage_get_u64(bytes + 32)) {
        rc = storage_fail(storage, STORAGE_ERROR_CORRUPT, "%s at offset 32: checksum mismatch",
                          path);
    } else {
        storage->has_hard_state = true;
        storage->hard_state.term = storage_get_u64(bytes + 8);
        storage->hard_state.vote = storage_get_u64(bytes + 16);
        storage->hard_state.commit = storage_get_u64(bytes + 24);
    }
    free(bytes);
    return rc;
}

int storage_hard_state_save(struct storage *storage, const struct raft_hard_state *hard_state)
{
    assert(storage != NULL);
    if (storage->failed) {
        return storage_fail(storage, STORAGE_ERROR_FAILED, "storage failed earlier");
    }
    if (hard_state == NULL) {
        return storage_fail(storage, STORAGE_ERROR_INVALID, "hard_state is NULL");
    }
    if (storage->has_hard_state && storage->hard_state.term == hard_state->term &&
        storage->hard_state.vote == hard_state->vote &&
        storage->hard_state.commit == hard_state->commit) {
        return 0;
    }
    uint8_t bytes[HARD_STATE_FILE_BYTES];
    storage_put_u32(bytes, HARD_STATE_MAGIC);
    storage_put_u32(bytes + 4, HARD_STATE_LAYOUT);
    storage_put_u64(bytes + 8, hard_state->term);
    storage_put_u64(bytes + 16, hard_state->vote);
    storage_put_u64(bytes + 24, hard_state->commit);
    storage_put_u64(bytes + 32, XXH3_64bits(bytes, 32));
    int rc = storage_replace_file(storage, storage->dir, HARD_STATE_FILE, bytes, sizeof bytes);
    if (rc != 0) {
        /* Which of the two records a crash now leaves is unknown: restart to find out. */
        return storage_poison(storage, rc);
    }
    assert(!storage->failed);
    storage->has_hard_state = true;
    storage->hard_state = *hard_state;
    return 0;
}
