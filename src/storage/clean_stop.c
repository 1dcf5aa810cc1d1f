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
 * A crash of the process alone loses nothing of LMDB, though: what it wrote is in the page
 * cache, which outlives the process, and LMDB's file is consistent at its last commit as any
 * reader sees it. Only a crash of the machine (power loss, a kernel panic) can lose what was
 * never synced. So each start also leaves a second marker holding the machine's boot id
 * (the host reads it from /proc/sys/kernel/random/boot_id); a start that finds no clean-stop
 * marker but its own boot id there trusts the database as well, and replays only the log
 * after its applied index. A failed write-back of the database (storage_clean_stop_forget)
 * removes that marker: the kernel may have dropped pages it could not write.
 *
 * Failure modes: a marker that cannot be removed durably is an error (the start must not
 * trust a database it might mistake for clean later); one that cannot be written durably is
 * removed again, and the next start rebuilds.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "storage/internal.h"

#define CLEAN_STOP_FILE "kv-clean-shutdown"
#define RUNNING_FILE    "kv-running-boot"

enum { BOOT_ID_MAX_BYTES = 64 };

/* Whether RUNNING_FILE holds exactly `boot`; a missing or unreadable file does not. */
static bool running_since_boot(struct storage *storage, const char *boot)
{
    const struct storage_io *io = storage->io;
    char path[STORAGE_MAX_PATH_BYTES];
    size_t length = strlen(boot);
    if (length == 0 || length > BOOT_ID_MAX_BYTES ||
        storage_join_path(storage, path, storage->dir, RUNNING_FILE) != 0) {
        return false;
    }
    int fd = io->open(io->context, path, O_RDONLY, 0);
    if (fd < 0) {
        return false;
    }
    char stored[BOOT_ID_MAX_BYTES + 1];
    ssize_t got = io->pread(io->context, fd, stored, sizeof stored, 0);
    io->close(io->context, fd);
    return got == (ssize_t)length && memcmp(stored, boot, length) == 0;
}

/* Leaves RUNNING_FILE with this boot's id ("": none, so no later start trusts this one). */
static int mark_running(struct storage *storage, const char *boot)
{
    const struct storage_io *io = storage->io;
    char path[STORAGE_MAX_PATH_BYTES];
    int rc = storage_join_path(storage, path, storage->dir, RUNNING_FILE);
    if (rc != 0) {
        return rc;
    }
    size_t length = strlen(boot);
    if (length == 0 || length > BOOT_ID_MAX_BYTES) {
        rc = io->unlink(io->context, path);
        return rc == 0 || rc == -ENOENT ? 0 : storage_fail_io(storage, rc, "delete", path);
    }
    int fd = io->open(io->context, path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        return storage_fail_io(storage, fd, "create", path);
    }
    ssize_t wrote = io->pwrite(io->context, fd, boot, length, 0);
    rc = wrote == (ssize_t)length ? io->fsync(io->context, fd) : (wrote < 0 ? (int)wrote : -EIO);
    io->close(io->context, fd);
    return rc < 0 ? storage_fail_io(storage, rc, "write", path) : 0;
}

int storage_clean_stop_forget(struct storage *storage)
{
    return mark_running(storage, "");
}

int storage_clean_stop_take(struct storage *storage, const char *boot, bool *trusted)
{
    assert(storage != NULL);
    assert(trusted != NULL);
    assert(boot != NULL);
    const struct storage_io *io = storage->io;
    char path[STORAGE_MAX_PATH_BYTES];
    assert(storage->io != NULL);
    *trusted = false;
    bool same_boot = running_since_boot(storage, boot);
    int rc = storage_join_path(storage, path, storage->dir, CLEAN_STOP_FILE);
    if (rc != 0) {
        return rc;
    }
    rc = mark_running(storage, boot);
    if (rc != 0) {
        return rc;
    }
    rc = io->unlink(io->context, path);
    if (rc == -ENOENT) {
        *trusted = same_boot;
        return 0;
    }
    if (rc < 0) {
        return storage_fail_io(storage, rc, "delete", path);
    }
    rc = io->fsync_dir(io->context, storage->dir);
    if (rc < 0) {
        return storage_fail_io(storage, rc, "fsync directory", storage->dir);
    }
    *trusted = true;
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
