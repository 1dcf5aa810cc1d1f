/*
 * spare.c — the next WAL segment, allocated ahead, off the caller's thread.
 *
 * A new segment is fallocated to segment_max_bytes so that appends never grow the file. On
 * a busy disk that fallocate took 58-64 ms for a 64 MiB segment (perf trace), on the event
 * loop that appended the entry which rolled the log over: every write in flight waited for
 * it. So the host may keep one spare: <wal_dir>/segment.spare, created and fallocated by
 * storage_spare_prepare(), which touches no struct storage and may run on any thread. Once it
 * returned, storage_spare_ready() tells the storage, and the next new segment is the spare
 * renamed to its name (a directory entry only) instead of a file created and allocated then.
 *
 * Crash safety: the spare holds no record until it is renamed, and the rename is made durable
 * with the directory by the next wal_sync, like a created segment. A spare left by a crash is
 * not a segment: recovery skips it, and the next storage_spare_prepare() truncates it.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "storage/internal.h"

#define SPARE_NAME "segment.spare"

bool storage_spare_name(const char *name)
{
    return strcmp(name, SPARE_NAME) == 0;
}

bool storage_spare_wanted(struct storage *storage, const char **path, uint64_t *bytes)
{
    assert(storage != NULL);
    if (!storage->options.preallocate || storage->spare_ready || storage->failed) {
        return false;
    }
    if (storage->spare_path[0] == '\0' &&
        storage_join_path(storage, storage->spare_path, storage->wal_dir, SPARE_NAME) != 0) {
        return false;
    }
    *path = storage->spare_path;
    *bytes = storage->options.segment_max_bytes;
    return true;
}

int storage_spare_prepare(const struct storage_io *io, const char *path, uint64_t bytes)
{
    if (io == NULL) {
        io = storage_io_posix();
    }
    int fd = io->open(io->context, path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        return fd;
    }
    int rc = io->fallocate(io->context, fd, 0, bytes);
    int closed = io->close(io->context, fd);
    rc = rc < 0 ? rc : closed;
    if (rc < 0) {
        (void)io->unlink(io->context, path); /* what a full disk let it allocate goes back */
    }
    return rc < 0 ? rc : 0;
}

void storage_spare_ready(struct storage *storage)
{
    assert(storage != NULL);
    storage->spare_ready = storage->options.preallocate && storage->spare_path[0] != '\0';
}

/* The spare, renamed to the segment's path and opened: its fd, or a negative errno when
 * there is none (the caller creates the segment itself). */
int storage_spare_take(struct storage *storage, const char *segment_path)
{
    const struct storage_io *io = storage->io;
    if (!storage->spare_ready) {
        return -ENOENT;
    }
    storage->spare_ready = false;
    uint64_t size_bytes = 0;
    int fd = io->open(io->context, storage->spare_path, O_RDWR, 0);
    if (fd < 0) {
        return fd;
    }
    /* Only a spare that storage_spare_prepare finished is used: anything else is recreated. */
    int rc = io->file_size(io->context, fd, &size_bytes);
    if (rc == 0 && size_bytes != storage->options.segment_max_bytes) {
        rc = -EINVAL;
    }
    bool is_directory = false;
    if (rc == 0 && io->stat(io->context, segment_path, &is_directory) == 0) {
        rc = -EEXIST; /* a rename would replace it: the caller's create reports it */
    }
    if (rc == 0) {
        rc = io->rename(io->context, storage->spare_path, segment_path);
    }
    if (rc < 0) {
        io->close(io->context, fd);
        storage_log(storage, STORAGE_LOG_WARNING, "not using the spare segment %s: %s",
                    storage->spare_path, strerror(-rc));
        return rc;
    }
    return fd;
}
