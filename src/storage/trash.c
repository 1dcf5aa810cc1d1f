/*
 * trash.c — deleting files later, off the caller's thread.
 *
 * Compaction deletes WAL segments and a new snapshot deletes the one before it. On ext4 an
 * unlink of a large file frees its extents before it returns: 57 ms for a 64 MiB segment,
 * 1.2 s for a 1 GiB snapshot, measured on the event loop that called it. With
 * options.defer_deletes, those files are instead renamed into <dir>/trash (a rename is only a
 * directory entry), and the host empties the trash wherever it likes with
 * storage_trash_empty(), which touches no struct storage and may run on any thread.
 *
 * Crash safety: whatever is in the trash is no longer part of the log or of the latest
 * snapshot, so losing a rename or a delete in a crash loses nothing; storage_open empties the
 * trash once it has recovered.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "storage/internal.h"

#define TRASH_DIRECTORY "trash"

struct trash_walk {
    const struct storage_io *io;
    const char *directory;
    int error;
};

static int trash_join(char *out, const char *directory, const char *name)
{
    assert(out != NULL);
    assert(directory != NULL);
    int length = snprintf(out, STORAGE_MAX_PATH_BYTES, "%s/%s", directory, name);
    return length < 0 || length >= STORAGE_MAX_PATH_BYTES ? -ENAMETOOLONG : 0;
}

static int remove_file(void *arg, const char *name, bool is_directory)
{
    struct trash_walk *walk = arg;
    assert(walk != NULL);
    assert(name != NULL);
    char path[STORAGE_MAX_PATH_BYTES];
    int rc = trash_join(path, walk->directory, name);
    if (rc == 0) {
        rc = is_directory ? walk->io->rmdir(walk->io->context, path)
                          : walk->io->unlink(walk->io->context, path);
    }
    if (rc < 0 && rc != -ENOENT && walk->error == 0) {
        walk->error = rc;
    }
    return 0; /* go on with the others */
}

/* An entry of the trash: a file, or a snapshot's directory of files. */
static int remove_entry(void *arg, const char *name, bool is_directory)
{
    struct trash_walk *walk = arg;
    assert(walk != NULL);
    assert(name != NULL);
    char path[STORAGE_MAX_PATH_BYTES];
    int rc = trash_join(path, walk->directory, name);
    if (rc == 0 && is_directory) {
        struct trash_walk inner = {.io = walk->io, .directory = path};
        rc = walk->io->list_dir(walk->io->context, path, remove_file, &inner);
        rc = rc < 0 ? rc : inner.error;
        int removed = walk->io->rmdir(walk->io->context, path);
        rc = rc < 0 ? rc : removed;
    } else if (rc == 0) {
        rc = walk->io->unlink(walk->io->context, path);
    }
    if (rc < 0 && rc != -ENOENT && walk->error == 0) {
        walk->error = rc;
    }
    return 0;
}

int storage_trash_empty(const struct storage_io *io, const char *trash_path)
{
    assert(trash_path != NULL);
    struct trash_walk walk = {.io = io != NULL ? io : storage_io_posix(), .directory = trash_path};
    int rc = walk.io->list_dir(walk.io->context, trash_path, remove_entry, &walk);
    if (rc < 0 && rc != -ENOENT) {
        return rc;
    }
    return walk.error;
}

int storage_trash_open(struct storage *storage)
{
    assert(storage != NULL);
    assert(storage->io != NULL);
    if (!storage->options.defer_deletes) {
        return 0;
    }
    int rc = storage_join_path(storage, storage->trash_dir, storage->dir, TRASH_DIRECTORY);
    if (rc != 0) {
        return rc;
    }
    rc = storage->io->mkdir(storage->io->context, storage->trash_dir);
    if (rc < 0 && rc != -EEXIST) {
        return storage_fail_io(storage, rc, "create directory", storage->trash_dir);
    }
    rc = storage_trash_empty(storage->io, storage->trash_dir);
    return rc < 0 ? storage_fail_io(storage, rc, "empty", storage->trash_dir) : 0;
}

bool storage_trash_ready(const struct storage *storage)
{
    assert(storage != NULL);
    return storage->options.defer_deletes && storage->trash_dir[0] != '\0';
}

int storage_trash_move(struct storage *storage, const char *path)
{
    assert(storage_trash_ready(storage)); /* recovery, before the trash exists, deletes */
    assert(storage->options.defer_deletes);
    assert(path != NULL);
    const char *name = strrchr(path, '/');
    name = name != NULL ? name + 1 : path;
    char target[STORAGE_MAX_PATH_BYTES];
    char unique[STORAGE_MAX_PATH_BYTES];
    snprintf(unique, sizeof unique, "%020" PRIu64 "-%s", ++storage->trash_sequence, name);
    int rc = storage_join_path(storage, target, storage->trash_dir, unique);
    if (rc != 0) {
        return rc;
    }
    rc = storage->io->rename(storage->io->context, path, target);
    if (rc < 0) {
        return storage_fail_io(storage, rc, "move to the trash", path);
    }
    storage->trash_pending = true;
    return 0;
}

int storage_discard(struct storage *storage, const char *path)
{
    assert(storage != NULL);
    assert(path != NULL);
    if (storage_trash_ready(storage)) {
        return storage_trash_move(storage, path);
    }
    int rc = storage->io->unlink(storage->io->context, path);
    return rc < 0 && rc != -ENOENT ? storage_fail_io(storage, rc, "delete", path) : 0;
}

bool storage_trash_take(struct storage *storage, const char **trash_path)
{
    assert(storage != NULL);
    assert(trash_path != NULL);
    bool pending = storage->trash_pending;
    storage->trash_pending = false;
    *trash_path = storage->trash_dir;
    return pending;
}
