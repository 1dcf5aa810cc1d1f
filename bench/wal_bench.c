/*
 * wal_bench.c — how fast the WAL makes entries durable, next to what the disk can do.
 *
 * In a temporary directory (under the directory given as the first argument, default
 * $TMPDIR or /tmp, so that the disk under test can be chosen), it measures for a bounded time
 * per row (second argument, default 2 seconds):
 *   - raw: a loop of one 4 KiB pwrite + fdatasync on a plain file — the disk's sync rate —
 *     once appending (the file grows, so each sync also commits metadata) and once
 *     overwriting the same block (data only, like a write into preallocated space);
 *   - wal: wal_append of a batch of B entries of ~100 bytes + wal_sync, for B = 1, 16, 256 —
 *     with group commit, entries/s should grow with B while syncs/s stays near the raw rate.
 * and prints one table. Failure modes: any storage or system call error stops the run with a
 * message and exit status 1; the temporary directory is removed on every path.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "storage/storage.h"

#define ENTRY_BYTES     100
#define RAW_WRITE_BYTES 4096
#define MAX_BATCH       256
#define DEFAULT_SECONDS 2.0
#define MAX_SECONDS     30.0

static double now_seconds(void)
{
    struct timespec time;
    clock_gettime(CLOCK_MONOTONIC, &time);
    return (double)time.tv_sec + (double)time.tv_nsec / 1e9;
}

/* The disk alone: write 4 KiB, fdatasync, repeat. Returns syncs per second, or -1. */
static double raw_fdatasync_rate(const char *dir, double seconds, bool append)
{
    char path[600];
    snprintf(path, sizeof path, "%s/raw", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(path);
        return -1;
    }
    static char block[RAW_WRITE_BYTES];
    memset(block, 'x', sizeof block);
    uint64_t count = 0;
    double start = now_seconds();
    double elapsed = 0;
    while (elapsed < seconds) {
        off_t offset = append ? (off_t)(count * sizeof block) : 0;
        if (pwrite(fd, block, sizeof block, offset) != (ssize_t)sizeof block ||
            fdatasync(fd) != 0) {
            perror("raw write/fdatasync");
            close(fd);
            return -1;
        }
        count++;
        elapsed = now_seconds() - start;
    }
    close(fd);
    unlink(path);
    return (double)count / elapsed;
}

struct wal_result {
    double entries_per_second;
    double syncs_per_second;
};

static int wal_rate(const char *dir, size_t batch, double seconds, struct wal_result *result)
{
    char path[600];
    snprintf(path, sizeof path, "%s/wal-batch-%zu", dir, batch);
    struct storage_options options;
    storage_options_default(&options);
    struct storage *storage = NULL;
    struct storage_recovered recovered;
    char message[STORAGE_MESSAGE_BYTES];
    int rc = storage_open(path, &options, &storage, &recovered, message, sizeof message);
    if (rc != 0) {
        fprintf(stderr, "storage_open %s: %s\n", path, message);
        return -1;
    }
    storage_recovered_free(&recovered);
    static uint8_t payload[ENTRY_BYTES];
    memset(payload, 'v', sizeof payload);
    static struct raft_entry entries[MAX_BATCH];
    uint64_t next = 1;
    uint64_t syncs = 0;
    double start = now_seconds();
    double elapsed = 0;
    while (elapsed < seconds && rc == 0) {
        for (size_t i = 0; i < batch; i++) {
            entries[i] = (struct raft_entry){.index = next + i,
                                             .term = 1,
                                             .type = 0,
                                             .data_bytes = ENTRY_BYTES,
                                             .data = payload};
        }
        rc = wal_append(storage, entries, batch);
        if (rc == 0) {
            rc = wal_sync(storage);
        }
        next += batch;
        syncs++;
        elapsed = now_seconds() - start;
    }
    if (rc != 0) {
        fprintf(stderr, "wal: %s\n", storage_message(storage));
    }
    storage_close(storage);
    result->entries_per_second = (double)(next - 1) / elapsed;
    result->syncs_per_second = (double)syncs / elapsed;
    return rc == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *parent = argc > 1 ? argv[1] : getenv("TMPDIR");
    if (parent == NULL) {
        parent = "/tmp";
    }
    double seconds = argc > 2 ? atof(argv[2]) : DEFAULT_SECONDS;
    if (!(seconds > 0 && seconds <= MAX_SECONDS)) {
        fprintf(stderr, "usage: wal_bench [directory] [seconds per row, up to %.0f]\n",
                MAX_SECONDS);
        return 1;
    }
    char dir[512];
    snprintf(dir, sizeof dir, "%s/raftkv-wal-bench-XXXXXX", parent);
    if (mkdtemp(dir) == NULL) {
        perror(dir);
        return 1;
    }
    int status = 0;
    double raw_append = raw_fdatasync_rate(dir, seconds, true);
    double raw_overwrite = raw_append < 0 ? -1 : raw_fdatasync_rate(dir, seconds, false);
    printf("disk under %s, %.1f s per row, entries of %d bytes\n\n", parent, seconds, ENTRY_BYTES);
    printf("%-28s %14s %12s\n", "", "entries/s", "fsyncs/s");
    printf("%-28s %14s %12.0f\n", "raw: append 4 KiB + sync", "-", raw_append);
    printf("%-28s %14s %12.0f\n", "raw: overwrite 4 KiB + sync", "-", raw_overwrite);
    status = raw_append < 0 || raw_overwrite < 0;
    static const size_t batches[] = {1, 16, 256};
    for (size_t i = 0; i < sizeof batches / sizeof batches[0] && status == 0; i++) {
        struct wal_result result;
        if (wal_rate(dir, batches[i], seconds, &result) != 0) {
            status = 1;
            break;
        }
        char label[64];
        snprintf(label, sizeof label, "wal, batch of %zu", batches[i]);
        printf("%-28s %14.0f %12.0f\n", label, result.entries_per_second, result.syncs_per_second);
    }
    char command[600];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0) {
        fprintf(stderr, "could not remove %s\n", dir);
    }
    return status;
}
