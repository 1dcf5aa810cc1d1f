/*
 * map.c — the data file's blocks and LMDB's map, which are kept the same size.
 *
 * The environment is opened with MDB_WRITEMAP: a commit stores its pages into a shared
 * mapping of data.mdb instead of one pwrite per dirty page (a fifth of a node's CPU per write,
 * bench/RESULTS.md). LMDB extends the file to the map's size with ftruncate, which leaves a
 * hole, and a store into a hole on a full disk raises SIGBUS: the node would die where a
 * pwrite returns ENOSPC. So every byte of the map is allocated first (posix_fallocate), and
 * the map is never larger than what is allocated: LMDB then meets the end of the map
 * (MDB_MAP_FULL), an error, before it can meet the end of the disk.
 *
 * Happy path: at open, kv_map_prepare() sizes the map and kv_map_allocate() gives the file its
 * blocks before the first write transaction; before each batch
 * kv_reserve_map() grows file and map together, ahead of the batch by a bound on what it
 * adds (its payload and a few pages a command) and a step (an eighth of the map, 16 MiB to
 * 1 GiB). A batch that adds more (COPY of a large key, APPEND to a large value, a rewrite of
 * many pages) meets MDB_MAP_FULL; kv_apply_batch() aborts it, kv_grow_full_map() grows by a
 * step, doubled at each further run, and the batch runs again from its start (its sinks
 * rewound, kv.h).
 *
 * The allocation runs ahead on a thread of its own (the allocator): posix_fallocate of a
 * step waits on the file system's journal, 65-226 ms on a busy disk (perf trace, bench/
 * RESULTS.md), which on the applying thread stalled the node's loop. Once the file's
 * allocation reaches less than half a step past a batch's need, kv_reserve_map() starts the
 * allocator on the next step; a later batch that needs more than the map only remaps, up to
 * what the allocator allocated. The map is never set below the allocated size, nor while the
 * allocator runs (LMDB ftruncates the file to the map's size: a smaller map would cut
 * allocated blocks off, and a later larger one would leave a hole). When the allocator is
 * behind (a batch larger than the room), the applying thread waits for it and allocates
 * what is missing itself.
 *
 * Failure modes: a full disk leaves file and map as they were and the batch is refused with
 * KV_ERROR_STORAGE ("No space left on device"), which the host handles like a failed write
 * and retries; the growth is tried again then, and succeeds once space is freed. Growing
 * remaps, which is safe only while no other thread reads through the map: nothing does for
 * long (kv_sync() writes back with fdatasync, and an export copies through a mapping of its
 * own), but whatever holds map_lock holds the growth off. Before a batch the growth is then
 * skipped (the step left room); after MDB_MAP_FULL it waits KV_MAP_LOCK_WAIT_MS and then
 * refuses the batch with KV_ERROR_MAP_FULL.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kv/kv_internal.h"

#define KV_MAP_ALIGN_BYTES    4096ull /* LMDB's page, and the smallest system page */
#define KV_MAP_STEP_MIN_BYTES (16ull << 20)
#define KV_MAP_STEP_MAX_BYTES (1ull << 30)
/* How long a batch that met MDB_MAP_FULL waits for map_lock before it is refused: an export
 * holds it only to begin its read transaction. */
#define KV_MAP_LOCK_WAIT_MS 250
/* How long the allocator waits after a failed allocation (a full disk) before it tries again;
 * meanwhile the applying thread allocates what a batch needs itself, and reports ENOSPC. */
#define KV_MAP_ALLOCATOR_RETRY_MS 1000

static uint64_t kv_map_align(uint64_t bytes)
{
    return (bytes + KV_MAP_ALIGN_BYTES - 1) / KV_MAP_ALIGN_BYTES * KV_MAP_ALIGN_BYTES;
}

static uint64_t kv_map_step(const struct kv *kv)
{
    uint64_t step = kv->map_bytes / 8;
    return step < KV_MAP_STEP_MIN_BYTES   ? KV_MAP_STEP_MIN_BYTES
           : step > KV_MAP_STEP_MAX_BYTES ? KV_MAP_STEP_MAX_BYTES
                                          : step;
}

static int kv_path(struct kv *kv, const char *name, char *path, size_t path_bytes)
{
    int length = snprintf(path, path_bytes, "%s/%s", kv->directory, name);
    if (length < 0 || (size_t)length >= path_bytes) {
        snprintf(kv->error_message, sizeof kv->error_message, "database path too long");
        return KV_ERROR_INVALID;
    }
    return 0;
}

/* LMDB extends its lock file with ftruncate and then writes the reader table through a shared
 * mapping: the same hole as the data file's, allocated before LMDB opens it. */
static int kv_lock_file_prepare(struct kv *kv)
{
    char path[KV_PATH_BYTES];
    int result = kv_path(kv, KV_LOCK_FILE_NAME, path, sizeof path);
    if (result != 0) {
        return result;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, KV_FILE_MODE);
    if (fd < 0) {
        snprintf(kv->error_message, sizeof kv->error_message, "opening %s: %s", KV_LOCK_FILE_NAME,
                 strerror(errno));
        return KV_ERROR_STORAGE;
    }
    int rc = posix_fallocate(fd, 0, KV_LOCK_FILE_BYTES);
    close(fd);
    if (rc != 0) {
        snprintf(kv->error_message, sizeof kv->error_message, "allocating %s: %s",
                 KV_LOCK_FILE_NAME, strerror(rc));
        return KV_ERROR_STORAGE;
    }
    return 0;
}

int kv_map_prepare(struct kv *kv, uint64_t *map_bytes)
{
    int result = kv_lock_file_prepare(kv);
    if (result != 0) {
        return result;
    }
    char path[KV_PATH_BYTES];
    result = kv_path(kv, KV_DATA_FILE_NAME, path, sizeof path);
    if (result != 0) {
        return result;
    }
    /* A file larger than asked for (an earlier, larger map) is mapped whole. A new file is
     * LMDB's to create: it recognizes an empty file, not one of zeros. */
    struct stat info;
    uint64_t file_bytes = stat(path, &info) == 0 ? (uint64_t)info.st_size : 0;
    uint64_t asked = kv->options.map_size_bytes;
    *map_bytes = kv_map_align(file_bytes > asked ? file_bytes : asked);
    return 0;
}

/* The map LMDB opened, or, on a disk without room for it, just the pages in use: a node on a
 * full disk still opens, and serves reads, while its writes wait for space. */
int kv_map_allocate(struct kv *kv)
{
    mdb_filehandle_t fd;
    MDB_envinfo info;
    MDB_stat stat;
    int rc = mdb_env_get_fd(kv->env, &fd);
    if (rc == 0) {
        rc = mdb_env_info(kv->env, &info);
    }
    if (rc == 0) {
        rc = mdb_env_stat(kv->env, &stat);
    }
    if (rc != 0) {
        return kv_storage_error(kv, rc, "mdb_env_info");
    }
    uint64_t in_use = ((uint64_t)info.me_last_pgno + 1) * stat.ms_psize;
    rc = posix_fallocate(fd, 0, (off_t)kv->map_bytes);
    if (rc != 0 && in_use < kv->map_bytes && posix_fallocate(fd, 0, (off_t)in_use) == 0) {
        int mdb_rc = mdb_env_set_mapsize(kv->env, (size_t)in_use); /* and the file to it */
        if (mdb_rc != 0) {
            return kv_storage_error(kv, mdb_rc, "mdb_env_set_mapsize");
        }
        kv->map_bytes = in_use;
        rc = 0;
    }
    if (rc != 0) {
        snprintf(kv->error_message, sizeof kv->error_message, "allocating %llu bytes for %s: %s",
                 (unsigned long long)kv->map_bytes, KV_DATA_FILE_NAME, strerror(rc));
        return KV_ERROR_STORAGE;
    }
    kv->allocated_bytes = kv->map_bytes;
    kv->allocator.retry_ms = 0;
    return 0;
}

static uint64_t kv_monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

static void *kv_allocator_thread(void *argument)
{
    struct kv *kv = argument;
    kv->allocator.result = posix_fallocate(kv->allocator.fd, (off_t)kv->allocator.from,
                                           (off_t)(kv->allocator.to - kv->allocator.from));
    atomic_store_explicit(&kv->allocator.done, true, memory_order_release);
    return NULL;
}

/* Takes in what the allocator did; `wait`: even if it is still at work. */
static void kv_allocator_collect(struct kv *kv, bool wait)
{
    if (!kv->allocator.running ||
        (!wait && !atomic_load_explicit(&kv->allocator.done, memory_order_acquire))) {
        return;
    }
    pthread_join(kv->allocator.thread, NULL);
    kv->allocator.running = false;
    if (kv->allocator.result == 0) {
        if (kv->allocator.to > kv->allocated_bytes) {
            kv->allocated_bytes = kv->allocator.to;
        }
    } else {
        kv->allocator.retry_ms = kv_monotonic_ms() + KV_MAP_ALLOCATOR_RETRY_MS;
    }
}

void kv_map_allocator_join(struct kv *kv)
{
    kv_allocator_collect(kv, true);
}

/* Starts allocating the file up to `to` on the allocator's thread, unless it is at work,
 * failed a moment ago, or the file already reaches half a step past `to`'s need. */
static void kv_allocator_start(struct kv *kv, uint64_t to)
{
    to = kv_map_align(to);
    uint64_t from = kv->allocated_bytes > kv->map_bytes ? kv->allocated_bytes : kv->map_bytes;
    if (kv->allocator.running || from + kv_map_step(kv) / 2 >= to ||
        kv_monotonic_ms() < kv->allocator.retry_ms) {
        return;
    }
    mdb_filehandle_t fd;
    if (mdb_env_get_fd(kv->env, &fd) != 0) {
        return;
    }
    kv->allocator.fd = fd;
    kv->allocator.from = from;
    kv->allocator.to = to;
    atomic_store_explicit(&kv->allocator.done, false, memory_order_relaxed);
    kv->allocator.running =
        pthread_create(&kv->allocator.thread, NULL, kv_allocator_thread, kv) == 0;
}

/* Allocates the file up to `bytes` and maps that much; the caller holds map_lock. Nothing
 * changes when the disk has no room. */
static int kv_map_grow_locked(struct kv *kv, uint64_t bytes)
{
    /* LMDB sets the file's size to the map's (ftruncate): never below what the allocator
     * allocated, and not while it still allocates. */
    kv_allocator_collect(kv, true);
    bytes = kv_map_align(bytes > kv->allocated_bytes ? bytes : kv->allocated_bytes);
    if (bytes <= kv->map_bytes) {
        return 0;
    }
    mdb_filehandle_t fd;
    int rc = mdb_env_get_fd(kv->env, &fd);
    if (rc != 0) {
        return kv_storage_error(kv, rc, "mdb_env_get_fd");
    }
    /* Most often the allocator has been there already; posix_fallocate of allocated blocks
     * would still wait on the file system's journal. */
    rc = bytes <= kv->allocated_bytes
             ? 0
             : posix_fallocate(fd, (off_t)kv->map_bytes, (off_t)(bytes - kv->map_bytes));
    if (rc != 0) {
        /* What was allocated stays (LMDB maps a larger file whole at the next open). */
        snprintf(kv->error_message, sizeof kv->error_message,
                 "growing the database file from %llu to %llu bytes: %s",
                 (unsigned long long)kv->map_bytes, (unsigned long long)bytes, strerror(rc));
        return KV_ERROR_STORAGE;
    }
    rc = mdb_env_set_mapsize(kv->env, (size_t)bytes);
    if (rc != 0) {
        return kv_storage_error(kv, rc, "mdb_env_set_mapsize");
    }
    MDB_envinfo info;
    rc = mdb_env_info(kv->env, &info);
    if (rc != 0) {
        return kv_storage_error(kv, rc, "mdb_env_info");
    }
    kv->map_bytes = info.me_mapsize;
    if (kv->map_bytes > kv->allocated_bytes) {
        kv->allocated_bytes = kv->map_bytes;
    }
    return 0;
}

/* Tries `target`, then just `needed` (a disk with room for the batch but not for the step). */
static int kv_map_grow_to(struct kv *kv, uint64_t needed, uint64_t target)
{
    int result = kv_map_grow_locked(kv, target);
    if (result != 0 && needed < target) {
        result = kv_map_grow_locked(kv, needed);
    }
    return result;
}

void kv_reserve_map(struct kv *kv, uint64_t batch_bytes)
{
    MDB_envinfo info;
    MDB_stat stat;
    if (mdb_env_info(kv->env, &info) != 0 || mdb_env_stat(kv->env, &stat) != 0) {
        return;
    }
    uint64_t high_water = ((uint64_t)info.me_last_pgno + 1) * stat.ms_psize;
    uint64_t needed = high_water + 2 * batch_bytes + KV_MAP_ALIGN_BYTES;
    kv_allocator_collect(kv, false);
    if (needed > kv->map_bytes && pthread_mutex_trylock(&kv->map_lock) == 0) {
        /* Up to what the allocator allocated when that is enough (a remap, no allocation
         * here). A failure is not the batch's: it runs in the room there is, and meets
         * MDB_MAP_FULL if that is too little. */
        kv_allocator_collect(kv, true);
        uint64_t target =
            kv->allocated_bytes >= needed ? kv->allocated_bytes : needed + kv_map_step(kv);
        (void)kv_map_grow_to(kv, needed, target);
        pthread_mutex_unlock(&kv->map_lock);
    }
    kv_allocator_start(kv, high_water + 2 * batch_bytes + kv_map_step(kv));
}

int kv_grow_full_map(struct kv *kv, unsigned run)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_nsec += KV_MAP_LOCK_WAIT_MS * 1000000L;
    deadline.tv_sec += deadline.tv_nsec / 1000000000L;
    deadline.tv_nsec %= 1000000000L;
    if (pthread_mutex_timedlock(&kv->map_lock, &deadline) != 0) {
        /* kv_last_error() still names MDB_MAP_FULL, from the write that met it. */
        return KV_ERROR_MAP_FULL;
    }
    /* Each run that meets the end again doubles the growth: a batch that adds a lot (a script
     * that writes 512 MiB) runs a few times, not hundreds; the file then holds at most twice
     * what the batch needed beyond the step. */
    uint64_t step = kv_map_step(kv);
    unsigned doublings = run > 0 ? run - 1 : 0;
    uint64_t growth = step << (doublings < 16 ? doublings : 16);
    int result = kv_map_grow_to(kv, kv->map_bytes + KV_MAP_STEP_MIN_BYTES, kv->map_bytes + growth);
    pthread_mutex_unlock(&kv->map_lock);
    return result;
}
