/*
 * snapshot.c — snapshot files: naming, placing, verifying and swapping them.
 *
 * Layout: <dir>/snapshots/<index>-<term>/ (20-digit decimals) holds
 *   meta   u32 magic "RKSM", u32 layout 2, u64 index, u64 term, u32 voter count, u32 learner
 *          count, 16 u64 voters, 16 u64 learners, u64 highest id, u64 data bytes, u64 data
 *          XXH3-64, and an XXH3-64 of everything before it (320 bytes, little-endian). Layout
 *          1 (312 bytes, no highest id: it is then the highest member id) is still read.
 *   data   the state machine's bytes, opaque here (kv/ writes them, e.g. mdb_env_copyfd).
 *
 * Commit order: data written and fsynced, meta written and fsynced, the temporary directory
 * fsynced, renamed to its final name, the snapshots directory fsynced; only then are older
 * snapshots deleted. A crash before the rename leaves a "tmp-" directory, deleted at the next
 * open; a crash after it leaves the new snapshot complete, maybe beside an older one, which
 * the next open deletes. At open the newest snapshot is verified (meta checksum, data size,
 * and, unless options.verify_snapshot_data is off, the data checksum); a damaged one refuses
 * with STORAGE_ERROR_CORRUPT naming the file — never a silent fall back to an older state.
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

#define SNAPSHOT_META_FILE        "meta"
#define SNAPSHOT_DATA_FILE        "data"
#define SNAPSHOT_TEMPORARY_PREFIX "tmp-"
#define SNAPSHOT_META_MAGIC       0x4d534b52u /* "RKSM" */
#define SNAPSHOT_META_LAYOUT      2
#define SNAPSHOT_META_BYTES       (8 + 16 + 8 + 16 * RAFT_MAX_NODES + 8 + 16 + 8)
#define SNAPSHOT_META_V1_BYTES    (SNAPSHOT_META_BYTES - 8)
#define SNAPSHOT_NAME_BYTES       48

struct storage_snapshot_writer {
    struct raft_snapshot_meta meta;
    char directory[STORAGE_MAX_PATH_BYTES]; /* the temporary one */
    char data_path[STORAGE_MAX_PATH_BYTES];
    int data_fd;
    uint64_t data_bytes;
};

static void snapshot_name(char *out, const char *prefix, uint64_t index, uint64_t term)
{
    assert(out != NULL);
    assert(prefix != NULL);
    snprintf(out, SNAPSHOT_NAME_BYTES, "%s%020" PRIu64 "-%020" PRIu64, prefix, index, term);
}

static bool parse_snapshot_name(const char *name, uint64_t *index, uint64_t *term)
{
    assert(name != NULL);
    assert(index != NULL);
    assert(term != NULL);
    if (strlen(name) != 41 || name[20] != '-') {
        return false;
    }
    char *end = NULL;
    for (int i = 0; i < 41; i++) {
        if (i != 20 && (name[i] < '0' || name[i] > '9')) {
            return false;
        }
    }
    errno = 0;
    *index = strtoull(name, &end, 10);
    if (errno != 0 || end != name + 20) {
        return false;
    }
    *term = strtoull(name + 21, &end, 10);
    return errno == 0 && *end == '\0';
}

static void encode_meta(uint8_t *out, const struct raft_snapshot_meta *meta, uint64_t data_bytes,
                        uint64_t data_checksum)
{
    assert(out != NULL);
    /* meta_valid checked the counts at begin: the layout holds RAFT_MAX_NODES of each. */
    assert(meta->configuration.voter_count <= RAFT_MAX_NODES);
    assert(meta->configuration.learner_count <= RAFT_MAX_NODES);
    memset(out, 0, SNAPSHOT_META_BYTES);
    storage_put_u32(out, SNAPSHOT_META_MAGIC);
    storage_put_u32(out + 4, SNAPSHOT_META_LAYOUT);
    storage_put_u64(out + 8, meta->index);
    storage_put_u64(out + 16, meta->term);
    storage_put_u32(out + 24, meta->configuration.voter_count);
    storage_put_u32(out + 28, meta->configuration.learner_count);
    uint8_t *cursor = out + 32;
    for (int i = 0; i < RAFT_MAX_NODES; i++, cursor += 8) {
        storage_put_u64(cursor, meta->configuration.voters[i]);
    }
    for (int i = 0; i < RAFT_MAX_NODES; i++, cursor += 8) {
        storage_put_u64(cursor, meta->configuration.learners[i]);
    }
    storage_put_u64(cursor, meta->configuration.highest_id);
    cursor += 8;
    assert(cursor + 24 == out + SNAPSHOT_META_BYTES);
    storage_put_u64(cursor, data_bytes);
    storage_put_u64(cursor + 8, data_checksum);
    storage_put_u64(cursor + 16, XXH3_64bits(out, (size_t)(cursor + 16 - out)));
}

static bool decode_meta(const uint8_t *in, size_t size, struct raft_snapshot_meta *meta,
                        uint64_t *data_bytes, uint64_t *data_checksum)
{
    assert(in != NULL);
    assert(meta != NULL);
    if (size < SNAPSHOT_META_V1_BYTES) {
        return false;
    }
    uint32_t layout = storage_get_u32(in + 4);
    size_t expected = layout == 1 ? SNAPSHOT_META_V1_BYTES : SNAPSHOT_META_BYTES;
    const uint8_t *tail = in + 32 + 16 * RAFT_MAX_NODES + (layout == 1 ? 0 : 8);
    if (storage_get_u32(in) != SNAPSHOT_META_MAGIC || (layout != 1 && layout != 2) ||
        size != expected ||
        XXH3_64bits(in, (size_t)(tail + 16 - in)) != storage_get_u64(tail + 16)) {
        return false;
    }
    memset(meta, 0, sizeof *meta);
    meta->index = storage_get_u64(in + 8);
    meta->term = storage_get_u64(in + 16);
    meta->configuration.voter_count = storage_get_u32(in + 24);
    meta->configuration.learner_count = storage_get_u32(in + 28);
    if (meta->configuration.voter_count > RAFT_MAX_NODES ||
        meta->configuration.learner_count > RAFT_MAX_NODES) {
        return false;
    }
    for (int i = 0; i < RAFT_MAX_NODES; i++) {
        meta->configuration.voters[i] = storage_get_u64(in + 32 + 8 * i);
        meta->configuration.learners[i] = storage_get_u64(in + 32 + 8 * (RAFT_MAX_NODES + i));
    }
    if (layout == 1) {
        for (int i = 0; i < RAFT_MAX_NODES; i++) {
            raft_node_id voter = meta->configuration.voters[i];
            raft_node_id learner = meta->configuration.learners[i];
            raft_node_id high = voter > learner ? voter : learner;
            if (high > meta->configuration.highest_id) {
                meta->configuration.highest_id = high;
            }
        }
    } else {
        meta->configuration.highest_id = storage_get_u64(in + 32 + 16 * RAFT_MAX_NODES);
    }
    *data_bytes = storage_get_u64(tail);
    *data_checksum = storage_get_u64(tail + 8);
    return true;
}

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
static int remove_tree(struct storage *storage, const char *directory)
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
    remove_tree(storage, directory);
    memcpy(storage->message, message, sizeof message);
}

static bool meta_valid(const struct raft_snapshot_meta *meta)
{
    assert(meta != NULL);
    return meta->index > 0 && meta->configuration.voter_count <= RAFT_MAX_NODES &&
           meta->configuration.learner_count <= RAFT_MAX_NODES;
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
    if (meta == NULL || !meta_valid(meta)) {
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
    char name[SNAPSHOT_NAME_BYTES];
    snapshot_name(name, SNAPSHOT_TEMPORARY_PREFIX, meta->index, meta->term);
    int rc = storage_join_path(storage, writer->directory, storage->snapshot_dir, name);
    if (rc == 0) {
        rc = storage_join_path(storage, writer->data_path, writer->directory, SNAPSHOT_DATA_FILE);
    }
    if (rc == 0) {
        rc = remove_tree(storage, writer->directory); /* left by an earlier attempt */
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

static int checksum_data(struct storage *storage, const char *path, bool sync, uint64_t *data_bytes,
                         uint64_t *checksum)
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
    assert(meta_valid(&writer->meta));
    const struct storage_io *io = storage->io;
    char path[STORAGE_MAX_PATH_BYTES];
    int rc = storage_join_path(storage, path, writer->directory, SNAPSHOT_META_FILE);
    if (rc != 0) {
        return rc;
    }
    uint8_t bytes[SNAPSHOT_META_BYTES];
    encode_meta(bytes, &writer->meta, data_bytes, data_checksum);
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
                           : remove_tree(older->storage, path);
    }
    return older->error != 0;
}

/* Deletes every snapshot directory but `keep`. Only entries already listed are deleted, which
 * readdir allows; a deletion lost in a crash is redone by the next open. */
static int remove_other_snapshots(struct storage *storage, const char *keep)
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
    char name[SNAPSHOT_NAME_BYTES];
    char final_path[STORAGE_MAX_PATH_BYTES];
    snapshot_name(name, "", writer->meta.index, writer->meta.term);
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
    if (remove_other_snapshots(storage, name) != 0) {
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
    int rc = checksum_data(storage, writer->data_path, true, &data_bytes, &data_checksum);
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
        char name[SNAPSHOT_NAME_BYTES];
        snapshot_name(name, "", storage->snapshot.index, storage->snapshot.term);
        int length = snprintf(data_path, data_path_bytes, "%s/%s/%s", storage->snapshot_dir, name,
                              SNAPSHOT_DATA_FILE);
        if (length < 0 || (size_t)length >= data_path_bytes) {
            return STORAGE_ERROR_INVALID;
        }
    }
    return 0;
}

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
    if (is_directory &&
        strncmp(name, SNAPSHOT_TEMPORARY_PREFIX, strlen(SNAPSHOT_TEMPORARY_PREFIX)) == 0) {
        char path[STORAGE_MAX_PATH_BYTES];
        census->error = storage_join_path(storage, path, storage->snapshot_dir, name);
        if (census->error == 0) {
            census->error = remove_tree(storage, path);
            storage_log(storage, STORAGE_LOG_INFO, "deleted %s: an unfinished snapshot", path);
        }
        return census->error != 0;
    }
    if (!is_directory || !parse_snapshot_name(name, &index, &term)) {
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
    int rc = storage_join_path(storage, meta_path, directory, SNAPSHOT_META_FILE);
    if (rc == 0) {
        rc = storage_join_path(storage, data_path, directory, SNAPSHOT_DATA_FILE);
    }
    uint8_t *bytes = NULL;
    size_t size = 0;
    if (rc == 0) {
        rc = storage_read_file(storage, meta_path, 4096, &bytes, &size);
    }
    if (rc != 0) {
        return rc == STORAGE_ERROR_IO ? STORAGE_ERROR_CORRUPT : rc;
    }
    struct raft_snapshot_meta meta;
    uint64_t data_bytes = 0;
    uint64_t data_checksum = 0;
    bool valid = decode_meta(bytes, size, &meta, &data_bytes, &data_checksum);
    free(bytes);
    if (!valid || meta.index != index || meta.term != term) {
        return storage_fail(storage, STORAGE_ERROR_CORRUPT,
                            "%s at offset 0: bad size, checksum, or index/term unlike the "
                            "directory name",
                            meta_path);
    }
    uint64_t actual_bytes = 0;
    uint64_t actual_checksum = 0;
    rc = checksum_data(storage, data_path, false, &actual_bytes, &actual_checksum);
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
    char name[SNAPSHOT_NAME_BYTES];
    char directory[STORAGE_MAX_PATH_BYTES];
    snapshot_name(name, "", census.index, census.term);
    rc = storage_join_path(storage, directory, storage->snapshot_dir, name);
    if (rc == 0) {
        rc = verify_snapshot(storage, directory, census.index, census.term);
    }
    if (rc == 0) {
        rc = remove_other_snapshots(storage, name);
    }
    return rc;
}
