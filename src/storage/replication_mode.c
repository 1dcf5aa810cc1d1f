/*
 * replication_mode.c — the record of which replication mode made a data directory.
 *
 * raftkv's default (and only production) mode is Raft; the lecture's foils, `naive` and
 * `lww` (src/replica), keep their state in the same directory layout but under rules that
 * are not Raft's: a state machine that was written by one must never be read by another as
 * if it were its own (a Raft node would trust an applied index no log backs; a foil would
 * serve data Raft committed as if it had replicated it itself). So a foil writes its mode
 * into <dir>/replication-mode on the directory's first start, and every start compares:
 *
 *   replication-mode   u32 magic "RKRM", u32 layout version 1, name[16] (NUL-padded),
 *                      u64 XXH3 of the 24 bytes before it
 *
 * Raft writes nothing, so a Raft directory is byte-for-byte what it was before the modes
 * existed, and a directory without the file counts as Raft's. Replaced atomically
 * (storage_replace_file), so a damaged file is corruption, never a torn write.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "storage/internal.h"

#define MODE_FILE       "replication-mode"
#define MODE_MAGIC      0x4d524b52u /* "RKRM" */
#define MODE_LAYOUT     1
#define MODE_FILE_BYTES 32
#define MODE_MAX_READ   4096
#define MODE_RAFT       "raft"

static int read_mode(struct storage *storage, char name[STORAGE_MODE_NAME_BYTES], bool *present)
{
    char path[STORAGE_MAX_PATH_BYTES];
    int rc = storage_join_path(storage, path, storage->dir, MODE_FILE);
    if (rc != 0) {
        return rc;
    }
    bool is_directory = false;
    rc = storage->io->stat(storage->io->context, path, &is_directory);
    *present = rc != -ENOENT;
    if (!*present) {
        return 0;
    }
    uint8_t *bytes = NULL;
    size_t size = 0;
    rc = storage_read_file(storage, path, MODE_MAX_READ, &bytes, &size);
    if (rc != 0) {
        return rc;
    }
    if (size != MODE_FILE_BYTES || storage_get_u32(bytes) != MODE_MAGIC ||
        storage_get_u32(bytes + 4) != MODE_LAYOUT || bytes[8 + STORAGE_MODE_NAME_BYTES - 1] != 0) {
        rc = storage_fail(storage, STORAGE_ERROR_CORRUPT,
                          "%s at offset 0: bad size, magic, layout version or name", path);
    } else if (XXH3_64bits(bytes, 24) != storage_get_u64(bytes + 24)) {
        rc = storage_fail(storage, STORAGE_ERROR_CORRUPT, "%s at offset 24: checksum mismatch",
                          path);
    } else {
        memcpy(name, bytes + 8, STORAGE_MODE_NAME_BYTES);
    }
    free(bytes);
    return rc;
}

static int write_mode(struct storage *storage, const char *mode)
{
    uint8_t bytes[MODE_FILE_BYTES];
    memset(bytes, 0, sizeof bytes);
    storage_put_u32(bytes, MODE_MAGIC);
    storage_put_u32(bytes + 4, MODE_LAYOUT);
    memcpy(bytes + 8, mode, strlen(mode));
    storage_put_u64(bytes + 24, XXH3_64bits(bytes, 24));
    return storage_replace_file(storage, storage->dir, MODE_FILE, bytes, sizeof bytes);
}

int storage_replication_mode_claim(struct storage *storage, const char *mode, bool fresh)
{
    assert(storage != NULL);
    assert(mode != NULL);
    size_t mode_bytes = strlen(mode);
    if (mode_bytes == 0 || mode_bytes >= STORAGE_MODE_NAME_BYTES) {
        return storage_fail(storage, STORAGE_ERROR_INVALID, "replication mode name '%s'", mode);
    }
    char found[STORAGE_MODE_NAME_BYTES];
    bool present = false;
    int rc = read_mode(storage, found, &present);
    if (rc != 0) {
        return rc;
    }
    bool is_raft = strcmp(mode, MODE_RAFT) == 0;
    if (present && strcmp(found, mode) != 0) {
        return storage_fail(storage, STORAGE_ERROR_MODE,
                            "%s was made by replication mode '%s'; this node runs '%s', which "
                            "never reads another mode's data (use another --data-dir)",
                            storage->dir, found, mode);
    }
    if (present || is_raft) {
        return 0; /* Raft writes nothing: a directory without the file is Raft's */
    }
    if (!fresh) {
        return storage_fail(storage, STORAGE_ERROR_MODE,
                            "%s was made by replication mode 'raft' (it has no "
                            "replication-mode file); this node runs '%s', which never reads "
                            "another mode's data (use another --data-dir)",
                            storage->dir, mode);
    }
    return write_mode(storage, mode);
}
