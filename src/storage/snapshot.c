/*
 * snapshot.c — writing a snapshot and committing it: the writer, measuring its data, the commit
 * that makes it the latest, a leader's snapshot installed over our log, and the latest's name.
 *
 * The files and the meta's layout are snapshot_meta.c's; finding and verifying the newest
 * snapshot at open is snapshot_open.c's.
 *
 * Happy path: storage_snapshot_begin makes a "tmp-<index>-<term>" directory and opens its data
 * file; the host writes the data (storage_snapshot_write, or directly at
 * storage_snapshot_data_path, or moves a finished file in with storage_snapshot_adopt); commit
 * measures it and renames the directory into place.
 *
 * Commit order: data written and fsynced, meta written and fsynced, the temporary directory
 * fsynced, renamed to its final name, the snapshots directory fsynced; only then are older
 * snapshots deleted. A crash before the rename leaves a "tmp-" directory, deleted at the next
 * open; a crash after it leaves the new snapshot complete, maybe beside an older one, which
 * the next open deletes. Failure modes: a snapshot not newer than the latest is
 * STORAGE_ERROR_INVALID; a begin, adopt or commit that fails deletes the temporary directory
 * (keeping the message of the error that caused it) and frees the writer, and after a failed
 * write the caller aborts; a failed fsync of the snapshots directory after the rename poisons
 * the storage, since the rename is then not known durable.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "storage/internal.h"

struct storage_snapshot_writer {
    struct raft_snapshot_meta meta;
    char directory[STORAGE_MAX_PATH_BYTES]; /* the temporary one */
    char data_path[STORAGE_MAX_PATH_BYTES];
    int data_fd;
    uint64_t data_bytes;
};

struct tree_removal {
    struct storage *storage;
    const char *directory;
    int error;
};

static int remove_entry(void *arg, const char *name, bool is_directory)
{
    struct tree_removal *removal = arg;
    assert(removal != NULL);
    assert(name != NULL);
    struct storage *storage = removal->storage;
    char path[STORAGE_MAX_PATH_BYTES];
    int rc = storage_join_path(storage, path, removal->directory, name);
    if (rc == 0) {
        rc = is_directory ? storage->io->rmdir(storage->io->context, path)
                          : storage->io->unlink(storage->io->context, path);
        rc = rc < 0 ? storage_fail_io(storage, rc, "delete", path) : 0;
    }
    removal->error = rc;
    return rc != 0;
}

/* Deletes a snapshot directory and the files in it. */
int storage_snapshot_remove_tree(struct storage *storage, const char *directory)
{
    assert(directory != NULL);
    assert(directory[0] != '\0');
    struct tree_removal removal = {.storage = storage, .directory = directory};
    int rc = storage->io->list_dir(storage->io->context, directory, remove_entry, &removal);
    if (removal.error != 0) {
        return removal.error;
    }
    if (rc < 0 && rc != -ENOENT) {
        return storage_fail_io(storage, rc, "list", directory);
    }
    rc = storage->io->rmdir(storage->io->context, directory);
    if (rc < 0 && rc != -ENOENT) {
        return storage_fail_io(storage, rc, "delete directory", directory);
    }
    return 0;
}

/* Cleanup after a failure: the message keeps the error that caused it. */
static void remove_tree_keeping_message(struct storage *storage, const char *directory)
{
    assert(storage != NULL);
    assert(directory != NULL);
    char message[STORAGE_MESSAGE_BYTES];
    static_assert(sizeof message == sizeof storage->message, "the whole message is kept");
    memcpy(message, storage->message, sizeof message);
    storage_snapshot_remove_tree(storage, directory);
    memcpy(storage->message, message, sizeof message);
}

int storage_snapshot_begin(struct storage *storage, const struct raft_snapshot_meta *meta,
                           struct storage_snapshot_writer **out)
{
    assert(storage != NULL);
    assert(out != NULL);
    *out = NULL;
    if (storage->failed) {
        return storage_fail(storage, STORAGE_ERROR_FAILED, "storage failed earlier");
    }
    if (meta == NULL || !storage_snapshot_meta_valid(meta)) {
        return storage_fail(storage, STORAGE_ERROR_INVALID, "bad snapshot meta");
    }
    if (storage->has_snapshot && meta->index <= storage->snapshot.index) {
        return storage_fail(storage, STORAGE_ERROR_INVALID,
                            "snapshot at %" PRIu64 " is not newer than the one at %" PRIu64,
                            meta->index, storage->snapshot.index);
    }
    struct storage_snapshot_writer *writer = calloc(1, sizeof *writer);
    if (writer == NULL) {
        return storage_fail(storage, STORAGE_ERROR_NO_MEMORY, "allocating a snapshot writer");
    }
    writer->meta = *meta;
    writer->data_fd = -1;
    char name[STORAGE_SNAPSHOT_NAME_BYTES];
    storage_snapshot_name(name, STORAGE_SNAPSHOT_TEMPORARY_PREFIX, meta->index, meta->term);
    int rc = storage_join_path(storage, writer->directory, storage->snapshot_dir, name);
    if (rc == 0) {
        rc = storage_join_path(storage, writer->data_path, writer->directory,
                               STORAGE_SNAPSHOT_DATA_FILE);
    }
    if (rc == 0) {
        rc = storage_snapshot_remove_tree(storage,
                                          writer->directory); /* left by an earlier attempt */
    }
    if (rc == 0) {
        rc = storage->io->mkdir(storage->io->context, writer->directory);
        rc = rc < 0 ? storage_fail_io(storage, rc, "create directory", writer->directory) : 0;
    }
    if (rc == 0) {
        writer->data_fd = storage->io->open(storage->io->context, writer->data_path,
                                            O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (writer->data_fd < 0) {
            rc = storage_fail_io(storage, writer->data_fd, "create", writer->data_path);
            writer->data_fd = -1;
        }
    }
    if (rc != 0) {
        storage_snapshot_abort(storage, writer);
        return rc;
    }
    assert(writer->data_fd >= 0); /* open until adopt, commit or abort */
    assert(writer->data_bytes == 0);
    *out = writer;
    return 0;
}

int storage_snapshot_adopt(struct storage *storage, struct storage_snapshot_writer *writer,
                           const char *path)
{
    assert(storage != NULL);
    assert(writer != NULL);
    assert(path != NULL);
    if (writer->data_fd >= 0) {
        storage->io->close(storage->io->context, writer->data_fd);
        writer->data_fd = -1;
    }
    int rc = storage->io->rename(storage->io->context, path, writer->data_path);
    if (rc < 0) {
        rc = storage_fail_io(storage, rc, "move into the snapshot", path);
        storage_snapshot_abort(storage, writer);
        return rc;
    }
    assert(writer->data_fd < 0); /* the adopted file is the data now; nothing more is written */
    return 0;
}

const char *storage_snapshot_data_path(const struct storage_snapshot_writer *writer)
{
    assert(writer != NULL);
    assert(writer->data_path[0] != '\0');
    return writer->data_path;
}

int storage_snapshot_write(struct storage *storage, struct storage_snapshot_writer *writer,
                           const void *data, size_t bytes)
{
    assert(storage != NULL);
    assert(writer != NULL);
    if (bytes > 0 && data == NULL) {
        return storage_fail(storage, STORAGE_ERROR_INVALID, "snapshot data is NULL");
    }
    assert(writer->data_fd >= 0); /* written only before adopt, commit or abort */
    int rc = storage_write_all(storage, writer->data_fd, data, bytes, writer->data_bytes,
                               writer->data_path);
    if (rc == 0) {
        assert(writer->data_bytes + bytes >= writer->data_bytes); /* the offset only grows */
        writer->data_bytes += bytes;
    }
    return rc;
}

/* Fsyncs (when asked) and measures a data file: its size and XXH3-64, read through the I/O
 * table. It touches no struct storage, so that a snapshot can be measured on another thread
 * (storage_snapshot_measure); returns 0 or a negative errno, naming the failed step. */
static int measure_file(const struct storage_io *io, const char *path, bool sync,
                        uint64_t *data_bytes, uint64_t *checksum, const char **what)
{
    assert(io != NULL);
    assert(path != NULL);
    assert(what != NULL);
    int rc = -ENOMEM;
    *what = "allocate a buffer to checksum";
    uint8_t *chunk = malloc(STORAGE_COPY_CHUNK_BYTES);
    XXH3_state_t *state = XXH3_createState();
    int fd = io->open(io->context, path, O_RDONLY, 0);
    if (chunk == NULL || state == NULL) {
        goto release;
    }
    *what = "open";
    if ((rc = fd) < 0) {
        goto release;
    }
    *what = "fsync";
    if (sync && (rc = io->fsync(io->context, fd)) < 0) {
        goto release;
    }
    XXH3_64bits_reset(state);
    uint64_t offset = 0;
    *what = "read";
    for (;;) {
        ssize_t got = io->pread(io->context, fd, chunk, STORAGE_COPY_CHUNK_BYTES, offset);
        if (got <= 0) {
            rc = (int)got;
            break;
        }
        assert((size_t)got <= STORAGE_COPY_CHUNK_BYTES);
        XXH3_64bits_update(state, chunk, (size_t)got);
        offset += (uint64_t)got;
    }
    if (rc == 0) {
        *data_bytes = offset;
        *checksum = XXH3_64bits_digest(state);
    }
release:
    if (fd >= 0) {
        io->close(io->context, fd);
    }
    XXH3_freeState(state);
    free(chunk);
    return rc;
}

int storage_snapshot_checksum_data(struct storage *storage, const char *path, bool sync,
                                   uint64_t *data_bytes, uint64_t *checksum)
{
    assert(data_bytes != NULL);
    assert(checksum != NULL);
    const char *what = NULL;
    int rc = measure_file(storage->io, path, sync, data_bytes, checksum, &what);
    return rc < 0 ? storage_fail_io(storage, rc, what, path) : 0;
}

int storage_snapshot_measure(const struct storage_io *io, const char *path, uint64_t *data_bytes,
                             uint64_t *checksum, char *message, size_t message_bytes)
{
    assert(path != NULL);
    assert(data_bytes != NULL);
    assert(checksum != NULL);
    const char *what = NULL;
    int rc =
        measure_file(io != NULL ? io : storage_io_posix(), path, true, data_bytes, checksum, &what);
    if (rc < 0) {
        snprintf(message, message_bytes, "%s %s: %s", what, path, strerror(-rc));
        return STORAGE_ERROR_IO;
    }
    return 0;
}

static int write_meta(struct storage *storage, const struct storage_snapshot_writer *writer,
                      uint64_t data_bytes, uint64_t data_checksum)
{
    assert(writer->data_fd < 0); /* the data file is closed before its meta is written */
    assert(storage_snapshot_meta_valid(&writer->meta));
    const struct storage_io *io = storage->io;
    char path[STORAGE_MAX_PATH_BYTES];
    int rc = storage_join_path(storage, path, writer->directory, STORAGE_SNAPSHOT_META_FILE);
    if (rc != 0) {
        return rc;
    }
    uint8_t bytes[STORAGE_SNAPSHOT_META_BYTES];
    storage_snapshot_meta_encode(bytes, &writer->meta, data_bytes, data_checksum);
    int fd = io->open(io->context, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        return storage_fail_io(storage, fd, "create", path);
    }
    rc = storage_write_all(storage, fd, bytes, sizeof bytes, 0, path);
    if (rc == 0 && (rc = io->fsync(io->context, fd)) < 0) {
        rc = storage_fail_io(storage, rc, "fsync", path);
    }
    io->close(io->context, fd);
    if (rc == 0 && (rc = io->fsync_dir(io->context, writer->directory)) < 0) {
        rc = storage_fail_io(storage, rc, "fsync directory", writer->directory);
    }
    return rc;
}

struct older_snapshots {
    struct storage *storage;
    const char *keep;
    int error;
};

static int remove_other(void *arg, const char *name, bool is_directory)
{
    struct older_snapshots *older = arg;
    assert(older != NULL);
    assert(name != NULL);
    if (!is_directory || strcmp(name, older->keep) == 0) {
        return 0;
    }
    char path[STORAGE_MAX_PATH_BYTES];
    older->error = storage_join_path(older->storage, path, older->storage->snapshot_dir, name);
    if (older->error == 0) {
        older->error = storage_trash_ready(older->storage)
                           ? storage_trash_move(older->storage, path)
                           : storage_snapshot_remove_tree(older->storage, path);
    }
    return older->error != 0;
}

/* Deletes every snapshot directory but `keep`. Only entries already listed are deleted, which
 * readdir allows; a deletion lost in a crash is redone by the next open. */
int storage_snapshot_remove_others(struct storage *storage, const char *keep)
{
    assert(keep != NULL);
    assert(keep[0] != '\0');
    struct older_snapshots older = {.storage = storage, .keep = keep};
    int rc =
        storage->io->list_dir(storage->io->context, storage->snapshot_dir, remove_other, &older);
    if (older.error != 0) {
        return older.error;
    }
    if (rc < 0) {
        return storage_fail_io(storage, rc, "list", storage->snapshot_dir);
    }
    return 0;
}

/* Meta, then the rename into place: the data file is already fsynced and measured. */
static int install_measured(struct storage *storage, struct storage_snapshot_writer *writer,
                            uint64_t data_bytes, uint64_t data_checksum)
{
    assert(writer->data_fd < 0);
    const struct storage_io *io = storage->io;
    int rc = write_meta(storage, writer, data_bytes, data_checksum);
    char name[STORAGE_SNAPSHOT_NAME_BYTES];
    char final_path[STORAGE_MAX_PATH_BYTES];
    storage_snapshot_name(name, "", writer->meta.index, writer->meta.term);
    if (rc == 0) {
        rc = storage_join_path(storage, final_path, storage->snapshot_dir, name);
    }
    if (rc == 0 && (rc = io->rename(io->context, writer->directory, final_path)) < 0) {
        rc = storage_fail_io(storage, rc, "rename to", final_path);
    }
    if (rc == 0 && (rc = io->fsync_dir(io->context, storage->snapshot_dir)) < 0) {
        rc = storage_fail_io(storage, rc, "fsync directory", storage->snapshot_dir);
        return storage_poison(storage, rc); /* renamed, but not known durable */
    }
    if (rc != 0) {
        return rc;
    }
    /* commit refused a snapshot that is not newer: snapshot points only move forward. */
    assert(!storage->has_snapshot || storage->snapshot.index < writer->meta.index);
    storage->has_snapshot = true;
    storage->snapshot = writer->meta;
    /* The new snapshot is durable; an older one left behind is deleted by the next open. */
    if (storage_snapshot_remove_others(storage, name) != 0) {
        storage_log(storage, STORAGE_LOG_WARNING, "%s", storage->message);
    }
    return 0;
}

static int install(struct storage *storage, struct storage_snapshot_writer *writer)
{
    assert(writer->data_fd < 0);
    assert(!storage->failed);
    uint64_t data_bytes = 0;
    uint64_t data_checksum = 0;
    int rc = storage_snapshot_checksum_data(storage, writer->data_path, true, &data_bytes,
                                            &data_checksum);
    return rc != 0 ? rc : install_measured(storage, writer, data_bytes, data_checksum);
}

/* Commit, with the data measured by the caller (measured) or here (not). */
static int commit(struct storage *storage, struct storage_snapshot_writer *writer, bool measured,
                  uint64_t data_bytes, uint64_t data_checksum)
{
    assert(storage != NULL);
    assert(writer != NULL);
    int rc = 0;
    if (storage->failed) {
        rc = storage_fail(storage, STORAGE_ERROR_FAILED, "storage failed earlier");
    }
    if (rc == 0 && storage->has_snapshot && writer->meta.index <= storage->snapshot.index) {
        rc = storage_fail(storage, STORAGE_ERROR_INVALID, "snapshot is not newer than %" PRIu64,
                          storage->snapshot.index);
    }
    if (writer->data_fd >= 0) {
        storage->io->close(storage->io->context, writer->data_fd);
        writer->data_fd = -1;
    }
    assert(writer->data_fd < 0);
    if (rc == 0) {
        rc = measured ? install_measured(storage, writer, data_bytes, data_checksum)
                      : install(storage, writer);
    }
    if (rc != 0) {
        remove_tree_keeping_message(storage, writer->directory); /* gone if renamed */
    }
    free(writer);
    return rc;
}

int storage_snapshot_commit(struct storage *storage, struct storage_snapshot_writer *writer)
{
    assert(storage != NULL);
    assert(writer != NULL);
    return commit(storage, writer, false, 0, 0);
}

int storage_snapshot_commit_measured(struct storage *storage,
                                     struct storage_snapshot_writer *writer, uint64_t data_bytes,
                                     uint64_t data_checksum)
{
    assert(storage != NULL);
    assert(writer != NULL);
    return commit(storage, writer, true, data_bytes, data_checksum);
}

/*
 * Reset and sync first: a crash then leaves either the old snapshot with our log cut after
 * meta.index (entries above it were never committed, since our log conflicts with the
 * leader's), or the new snapshot with an empty log after it. Committing first could leave the
 * new snapshot followed by entries of another history.
 */
int storage_snapshot_install_from_leader(struct storage *storage,
                                         struct storage_snapshot_writer *writer)
{
    assert(storage != NULL);
    assert(writer != NULL);
    int rc = wal_reset(storage, writer->meta.index, writer->meta.term);
    if (rc == 0) {
        rc = wal_sync(storage);
    }
    if (rc != 0) {
        storage_snapshot_abort(storage, writer);
        return rc;
    }
    /* The log now continues after the snapshot, durably, before the snapshot is named. */
    assert(storage->last_index == writer->meta.index);
    assert(!wal_sync_pending(storage));
    return storage_snapshot_commit(storage, writer);
}

void storage_snapshot_abort(struct storage *storage, struct storage_snapshot_writer *writer)
{
    if (writer == NULL) {
        return;
    }
    assert(storage != NULL);
    assert(writer->directory[0] != '\0');
    if (writer->data_fd >= 0) {
        storage->io->close(storage->io->context, writer->data_fd);
    }
    remove_tree_keeping_message(storage, writer->directory);
    free(writer);
}

int storage_snapshot_latest(const struct storage *storage, struct raft_snapshot_meta *meta,
                            char *data_path, size_t data_path_bytes)
{
    assert(storage != NULL);
    if (!storage->has_snapshot) {
        return STORAGE_ERROR_NOT_FOUND;
    }
    if (meta != NULL) {
        *meta = storage->snapshot;
    }
    if (data_path != NULL) {
        char name[STORAGE_SNAPSHOT_NAME_BYTES];
        storage_snapshot_name(name, "", storage->snapshot.index, storage->snapshot.term);
        int length = snprintf(data_path, data_path_bytes, "%s/%s/%s", storage->snapshot_dir, name,
                              STORAGE_SNAPSHOT_DATA_FILE);
        if (length < 0 || (size_t)length >= data_path_bytes) {
            return STORAGE_ERROR_INVALID;
        }
    }
    return 0;
}
