/*
 * writeback.h — writing a large file without piling up dirty pages.
 *
 * raftkv writes gigabyte files beside its latency-critical ones: a snapshot export, a copy of
 * a snapshot for the state machine, a snapshot arriving from the leader. Left to the page
 * cache, such a file's dirty pages are written back all at once, and on ext4 (data=ordered) an
 * fsync of the WAL or of a small meta file must first wait for them: a 1 GiB export made the
 * next fsync take seconds, which stalled commits and cost the leader its lease. So these
 * writers start the write-back of every WRITEBACK_BYTES as they go and wait for the one before
 * it (sync_file_range), keeping at most about twice that dirty. This is no durability point:
 * the caller still fsyncs the file when it is complete.
 *
 * Dependency-free (POSIX and Linux's sync_file_range): any module may include it.
 */
#ifndef RAFTKV_BASE_WRITEBACK_H
#define RAFTKV_BASE_WRITEBACK_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#define WRITEBACK_BYTES ((uint64_t)8 * 1024 * 1024)

/* Where one file's writer stands: bytes written, and bytes whose write-back was started. */
struct writeback {
    uint64_t written_bytes;
    uint64_t started_bytes;
};

/* Starts (wait false) or waits for (wait true) the write-back of a range of the file. */
typedef void (*writeback_range_fn)(void *context, uint64_t offset, uint64_t bytes, bool wait);

/* After state->written_bytes grew: wait for the previous range, start the next one, so the
 * disk always has work queued and the file never has more than two ranges dirty. */
static inline void writeback_schedule(struct writeback *state, writeback_range_fn range,
                                      void *context)
{
    while (state->written_bytes - state->started_bytes >= WRITEBACK_BYTES) {
        uint64_t start = state->started_bytes;
        if (start >= WRITEBACK_BYTES) {
            range(context, start - WRITEBACK_BYTES, WRITEBACK_BYTES, true);
        }
        range(context, start, WRITEBACK_BYTES, false);
        state->started_bytes += WRITEBACK_BYTES;
    }
}

/* sync_file_range on the real file system. Failures are not fatal here: the final fsync
 * reports a real write error. */
static inline void writeback_range_posix(void *context, uint64_t offset, uint64_t bytes, bool wait)
{
    unsigned flags = SYNC_FILE_RANGE_WRITE;
    if (wait) {
        flags |= SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WAIT_AFTER;
    }
    (void)sync_file_range(*(const int *)context, (off_t)offset, (off_t)bytes, flags);
}

/* Appends data at the file's current position; 0, or a negative errno. */
static inline int writeback_write(int fd, struct writeback *state, const void *data,
                                  size_t data_bytes)
{
    const uint8_t *bytes = data;
    size_t done = 0;
    while (done < data_bytes) {
        ssize_t wrote = write(fd, bytes + done, data_bytes - done);
        if (wrote < 0 && errno == EINTR) {
            continue;
        }
        if (wrote <= 0) {
            return wrote < 0 ? -errno : -EIO;
        }
        done += (size_t)wrote;
    }
    state->written_bytes += data_bytes;
    writeback_schedule(state, writeback_range_posix, &fd);
    return 0;
}

#endif
