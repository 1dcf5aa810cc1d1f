/*
 * storage.c — opening and closing the data directory.
 *
 * storage_open runs the recovery in the order the files depend on each other:
 *   1. VERSION (hard_state.c): missing or empty directory → initialize; foreign magic or a
 *      newer format → refuse.
 *   2. hard_state: absent on a fresh node; damaged → refuse.
 *   3. the newest snapshot (snapshot_open.c): verified, older ones and unfinished ones deleted.
 *   4. the WAL (wal.c): every entry after the snapshot; a torn tail is cut.
 * Any failure frees everything and returns the error with its message; nothing is half-open.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/internal.h"

#define DEFAULT_SEGMENT_MAX_BYTES (64ull * 1024 * 1024)

void storage_options_default(struct storage_options *options)
{
    assert(options != NULL);
    memset(options, 0, sizeof *options);
    options->segment_max_bytes = DEFAULT_SEGMENT_MAX_BYTES;
    options->preallocate = true;
    options->max_entry_bytes = STORAGE_MAX_ENTRY_BYTES;
    options->verify_snapshot_data = true;
}

void storage_recovered_free(struct storage_recovered *recovered)
{
    if (recovered == NULL) {
        return;
    }
    assert(recovered->entry_count == 0 || recovered->entries != NULL);
    for (size_t i = 0; i < recovered->entry_count; i++) {
        free(recovered->entries[i].data);
    }
    free(recovered->entries);
    memset(recovered, 0, sizeof *recovered);
}

const char *storage_message(const struct storage *storage)
{
    assert(storage != NULL);
    return storage->message;
}

static int check_options(struct storage *storage, const struct storage_options *options)
{
    assert(options != NULL);
    assert(storage != NULL);
    if (options->segment_max_bytes < STORAGE_MIN_SEGMENT_BYTES ||
        options->segment_max_bytes > STORAGE_MAX_SEGMENT_BYTES) {
        return storage_fail(
            storage, STORAGE_ERROR_INVALID, "segment_max_bytes %llu is outside [%u, %llu]",
            (unsigned long long)options->segment_max_bytes, STORAGE_MIN_SEGMENT_BYTES,
            (unsigned long long)STORAGE_MAX_SEGMENT_BYTES);
    }
    if (options->max_entry_bytes == 0 || options->max_entry_bytes > STORAGE_MAX_ENTRY_BYTES) {
        return storage_fail(storage, STORAGE_ERROR_INVALID, "max_entry_bytes %u is outside [1, %u]",
                            options->max_entry_bytes, STORAGE_MAX_ENTRY_BYTES);
    }
    return 0;
}

static int set_paths(struct storage *storage, const char *dir)
{
    assert(dir != NULL);
    size_t length = strlen(dir);
    while (length > 1 && dir[length - 1] == '/') {
        length--; /* "data/" and "data" are the same directory */
    }
    if (length == 0 || length >= STORAGE_MAX_PATH_BYTES - 32) {
        return storage_fail(storage, STORAGE_ERROR_INVALID, "bad directory path");
    }
    assert(length < sizeof storage->dir);
    memcpy(storage->dir, dir, length);
    storage->dir[length] = '\0';
    int rc = storage_join_path(storage, storage->wal_dir, storage->dir, "wal");
    if (rc == 0) {
        rc = storage_join_path(storage, storage->snapshot_dir, storage->dir, "snapshots");
    }
    return rc;
}

static int recover(struct storage *storage, struct storage_recovered *recovered)
{
    assert(recovered != NULL);
    assert(storage->io != NULL);
    bool fresh = false;
    int rc = storage_version_check_or_create(storage, &fresh);
    if (rc == 0) {
        rc = storage_hard_state_load(storage);
    }
    if (rc == 0) {
        rc = storage_snapshot_recover(storage);
    }
    if (rc == 0) {
        rc = wal_recover(storage, recovered);
    }
    if (rc == 0) {
        recovered->fresh = fresh;
        recovered->has_hard_state = storage->has_hard_state;
        recovered->hard_state = storage->hard_state;
        recovered->has_snapshot = storage->has_snapshot;
        recovered->snapshot = storage->snapshot;
    }
    return rc;
}

int storage_open(const char *dir, const struct storage_options *options, struct storage **out,
                 struct storage_recovered *recovered, char *message, size_t message_bytes)
{
    assert(out != NULL);
    assert(recovered != NULL);
    *out = NULL;
    memset(recovered, 0, sizeof *recovered);
    struct storage *storage = calloc(1, sizeof *storage);
    if (storage == NULL) {
        if (message != NULL && message_bytes > 0) {
            snprintf(message, message_bytes, "out of memory");
        }
        return STORAGE_ERROR_NO_MEMORY;
    }
    int rc = 0;
    if (dir == NULL || options == NULL) {
        rc = storage_fail(storage, STORAGE_ERROR_INVALID, "dir or options is NULL");
        goto fail;
    }
    storage->options = *options;
    storage->io = options->io != NULL ? options->io : storage_io_posix();
    rc = check_options(storage, options);
    if (rc == 0) {
        rc = set_paths(storage, dir);
    }
    if (rc == 0) {
        rc = recover(storage, recovered); /* creates the directory on a fresh start */
    }
    if (rc == 0) {
        rc = storage_trash_open(storage);
    }
    if (rc != 0) {
        goto fail;
    }
    *out = storage;
    return 0;
fail:
    if (message != NULL && message_bytes > 0) {
        snprintf(message, message_bytes, "%s", storage->message);
    }
    storage_recovered_free(recovered);
    storage_close(storage);
    return rc;
}

void storage_close(struct storage *storage)
{
    if (storage == NULL) {
        return;
    }
    assert(storage->write_buffer_bytes <= STORAGE_WRITE_BUFFER_BYTES);
    wal_close_all(storage);
    free(storage->write_buffer);
    free(storage);
}
