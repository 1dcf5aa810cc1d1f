/*
 * clean_stop.c — the record that the state machine was closed cleanly.
 *
 * The state machine (LMDB) commits without fsync: the WAL is the source of durability. After
 * a power loss its file may hold a meta page that points at pages never written, so it may be
 * trusted only after a clean stop, which syncs it and then leaves this marker. The host asks
 * at start (storage_clean_stop_take): the marker is removed, durably, before anything is
 * applied, so that a crash after this start is never mistaken for a clean one; without the
 * marker the host rebuilds its state machine from the latest snapshot and the log (the log is
 * never compacted past a snapshot, so together they hold everything).
 *
 * Failure modes: a marker that cannot be removed durably is an error (the start must not
 * trust a database it might mistake for clean later); one that cannot be written durably is
 * removed again, and the next start rebuilds.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>

#include "storage/internal.h"

#define CLEAN_STOP_FILE "kv-clean-shutdown"

int storage_clean_stop_take(struct storage *storage, bool *was_clean)
{
    assert(storage != NULL);
    assert(was_clean != NULL);
    const struct storage_io *io = storage->io;
    char path[STORAGE_MAX_PATH_BYTES];
    assert(storage->io != NULL);
    *was_clean = false;
    int rc = storage_join_path(storage, path, storage->dir, CLEAN_STOP_FILE);
    if (rc != 0) {
        return rc;
    }
    rc = io->unlink(io->context, path);
    if (rc == -ENOENT) {
        return 0;
    }
    if (rc < 0) {
        return storage_fail_io(storage, rc, "delete", path);
    }
    rc = io->fsync_dir(io->context, storage->dir);
    if (rc < 0) {
        return storage_fail_io(storage, rc, "fsync directory", storage->dir);
    }
    *was_clean = true;
    return 0;
}

int storage_clean_stop_mark(struct storage *storage)
{
    assert(storage != NULL);
    assert(storage->io != NULL);
    const struct storage_io *io = storage->io;
    char path[STORAGE_MAX_PATH_BYTES];
    int rc = storage_join_path(storage, path, storage->dir, CLEAN_STOP_FILE);
    if (rc != 0) {
        return rc;
    }
    int fd = io->open(io->context, path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        return storage_fail_io(storage, fd, "create", path);
    }
    rc = io->fsync(io->context, fd);
    io->close(io->context, fd);
    if (rc == 0) {
        rc = io->fsync_dir(io->context, storage->dir);
    }
    if (rc < 0) {
        io->unlink(io->context, path); /* not known durable: the next start rebuilds */
        return storage_fail_io(storage, rc, "fsync", path);
    }
    return 0;
}
