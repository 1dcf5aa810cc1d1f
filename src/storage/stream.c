/*
 * stream.c — a snapshot's data file, streamed in chunks to or from a peer.
 *
 * The transport sends the latest snapshot to a follower chunk by chunk, and writes the
 * chunks a leader sends into a file that storage_snapshot_adopt() later moves into place.
 * Both sides run on the event loop while the WAL may be syncing on another thread, so these
 * functions touch no struct storage: a stream owns its descriptor and nothing else. A file
 * being received is written back as it grows (base/writeback.h), so a gigabyte arriving never
 * sits dirty in the page cache; it is fsynced when it is committed (storage_snapshot_commit
 * measures it), not here.
 *
 * Failure modes: every call returns 0 or a negative errno; a reader whose file shrank under it
 * gets -EIO. Ownership: *_open allocates the stream, *_close frees it.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/writeback.h"
#include "storage/storage.h"

struct storage_stream {
    int fd;
    uint64_t bytes; /* the file's size (reading) or what was written (writing) */
    struct writeback writeback;
};

static int stream_new(int fd, struct storage_stream **out)
{
    struct storage_stream *stream = calloc(1, sizeof *stream);
    if (stream == NULL) {
        close(fd);
        return -ENOMEM;
    }
    stream->fd = fd;
    *out = stream;
    return 0;
}

int storage_stream_open_read(const char *path, struct storage_stream **out, uint64_t *total_bytes)
{
    assert(path != NULL && out != NULL && total_bytes != NULL);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    struct stat status;
    if (fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    int rc = stream_new(fd, out);
    if (rc == 0) {
        (*out)->bytes = (uint64_t)status.st_size;
        *total_bytes = (*out)->bytes;
    }
    return rc;
}

int storage_stream_read(struct storage_stream *stream, void *out, size_t bytes)
{
    assert(stream != NULL && stream->fd >= 0);
    size_t done = 0;
    while (done < bytes) {
        ssize_t got = read(stream->fd, (uint8_t *)out + done, bytes - done);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            return got < 0 ? -errno : -EIO; /* an error, or the file shrank */
        }
        done += (size_t)got;
    }
    return 0;
}

int storage_stream_create(const char *path, struct storage_stream **out)
{
    assert(path != NULL && out != NULL);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return -errno;
    }
    return stream_new(fd, out);
}

int storage_stream_write(struct storage_stream *stream, const void *data, size_t bytes)
{
    assert(stream != NULL && stream->fd >= 0);
    int rc = writeback_write(stream->fd, &stream->writeback, data, bytes);
    if (rc == 0) {
        stream->bytes += bytes;
    }
    return rc;
}

void storage_stream_close(struct storage_stream *stream)
{
    if (stream == NULL) {
        return;
    }
    assert(stream->fd >= 0);
    close(stream->fd);
    free(stream);
}

int storage_stream_claim(const char *from, const char *to)
{
    assert(from != NULL && to != NULL);
    return rename(from, to) == 0 ? 0 : -errno;
}
