/*
 * memfs.h — an in-memory file system behind struct storage_io that can crash.
 *
 * For tests and the simulator: it keeps, for every file, the bytes written so far and the
 * bytes made durable by the last fsync/fdatasync, and for every directory, its entries and the
 * entries made durable by the last fsync of that directory — the POSIX durability contract,
 * with nothing more promised than that contract promises.
 *
 * Every mutating call (a create, a truncating open, pwrite, fsync, fdatasync, ftruncate,
 * fallocate, rename, unlink, mkdir, rmdir, directory fsync) is numbered from 1. Arm a crash
 * at operation n and that call and every later one fail with -EIO, as if the machine stopped
 * there. memfs_restart() then rebuilds the disk the way the chosen crash leaves it:
 *
 *   MEMFS_CRASH_POWER_LOSS   only what was synced survives.
 *   MEMFS_CRASH_TORN_WRITE   as power loss, but the file the crashing pwrite was writing keeps
 *                            its unsynced writes in order plus a prefix of the crashing one.
 *   MEMFS_CRASH_PROCESS      everything written survives (the kernel kept the page cache);
 *                            the crashing pwrite leaves a prefix.
 *
 * Paths are absolute ("/data/wal/..."); the root always exists. Ownership: memfs_new
 * allocates, memfs_free frees every node; the struct storage_io returned by memfs_io lives as
 * long as the memfs. Not thread-safe. The code: memfs.c (the I/O table, the helpers below),
 * memfs_tree.c (nodes and paths), memfs_faults.c (the crash machinery); memfs_internal.h.
 */
#ifndef RAFTKV_STORAGE_MEMFS_H
#define RAFTKV_STORAGE_MEMFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/storage.h"

#define MEMFS_MAX_FILES_OPEN 256
#define MEMFS_MAX_NAME_BYTES 256

enum memfs_crash_mode {
    MEMFS_CRASH_POWER_LOSS = 0,
    MEMFS_CRASH_TORN_WRITE = 1,
    MEMFS_CRASH_PROCESS = 2,
};

struct memfs;

struct memfs *memfs_new(void);
void memfs_free(struct memfs *memfs);
const struct storage_io *memfs_io(struct memfs *memfs);

/* Mutating operations performed so far. */
uint64_t memfs_operation_count(const struct memfs *memfs);
/* Operation number n (counted from the start) crashes; 0 disarms. */
void memfs_crash_at(struct memfs *memfs, uint64_t operation);
bool memfs_crashed(const struct memfs *memfs);
/* Operation number n fails once with negative_errno; the file system goes on. 0 disarms. */
void memfs_fail_at(struct memfs *memfs, uint64_t operation, int negative_errno);
/* Rebuilds the disk as the crash leaves it; random chooses the torn prefix length. Closes
 * every descriptor. Also works when no crash was armed (a crash "now"). */
void memfs_restart(struct memfs *memfs, enum memfs_crash_mode mode, uint64_t random);

/* Test helpers that bypass the crash machinery (and count no operation). */
int memfs_file_bytes(struct memfs *memfs, const char *path, uint8_t **bytes, size_t *size);
int memfs_flip_byte(struct memfs *memfs, const char *path, uint64_t offset);
int memfs_put_file(struct memfs *memfs, const char *path, const void *bytes, size_t size);

#endif
