/*
 * stream.c — a snapshot's data file, streamed in chunks to or from a peer.
 *
 * The transport sends the latest snapshot to a follower chunk by chunk, and writes the
 * chunks a leader sends into a file that storage_snapshot_adopt() later moves into place.
 * Both sides run on the event loop while the WAL may be syncing on another thread, so these
 * functions touch no struct storage: a stream owns its descriptor and its I/O table, nothing
 * else. They go through struct storage_io like every other durable file, so the crash tests
 * (tests/unit/test_storage_crash.c) crash them too. A file being received is written back as
 * it grows (io->writeback, 8 MiB at a time, waiting for the range before), so a gigabyte
 * arriving never sits dirty in the page cache; it is fsynced when it is committed
 * (storage_snapshot_commit measures it), not here.
 *
 * Failure modes: every call returns 0 or a negative errno; a reader whose file shrank under it
 * gets -EIO. Ownership: *_open and *_create allocate the stream, close frees it.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "base/writeback.h"
#include "storage/storage.h"

struct storage_stream {
    const struct storage_io *io;
    int fd;
    uint64_t offset; /* where the next read or write goes */
    struct writeback writeback;
    uint64_t size_bytes; /* the file's size, when reading */
};

static const struct storage_io *io_or_posix(const struct storage_io *io)
{
    const struct storage_io *chosen = io != NULL ? io : storage_io_posix();
    assert(chosen != NULL);
    return chosen;
}

static int stream_new(const struct storage_io *io, int fd, struct storage_stream **out)
{
    assert(io != NULL);
    assert(fd >= 0);
    assert(out != NULL);
    struct storage_stream *stream = calloc(1, sizeof *stream);
    if (stream == NULL) {
        io->close(io->context, fd);
        return -ENOMEM;
    }
    stream->io = io;
    stream->fd = fd;
    *out = stream;
    return 0;
}

int storage_stream_open_read(const struct storage_io *io, const char *path,
                             struct storage_stream **out, uint64_t *total_bytes)
{
    assert(path != NULL);
    assert(out != NULL);
    assert(total_bytes != NULL);
    io = io_or_posix(io);
    bool is_directory = false;
    int rc = io->stat(io->context, path, &is_directory);
    if (rc < 0 || is_directory) {
        return rc < 0 ? rc : -EINVAL;
    }
    int fd = io->open(io->context, path, O_RDONLY, 0);
    if (fd < 0) {
        return fd;
    }
    uint64_t size_bytes = 0;
    rc = io->file_size(io->context, fd, &size_bytes);
    if (rc < 0) {
        io->close(io->context, fd);
        return rc;
    }
    rc = stream_new(io, fd, out);
    if (rc == 0) {
        (*out)->size_bytes = size_bytes;
        *total_bytes = size_bytes;
    }
    return rc;
}

int storage_stream_read(struct storage_stream *stream, void *out, size_t bytes)
{
    assert(stream != NULL);
    assert(stream->fd >= 0);
    assert(out != NULL || bytes == 0);
    size_t done = 0;
    while (done < bytes) {
        ssize_t got = stream->io->pread(stream->io->context, stream->fd, (uint8_t *)out + done,
                                        bytes - done, stream->offset);
        if (got <= 0) {
            return got < 0 ? (int)got : -EIO; /* an error, or the file shrank */
        }
        assert((size_t)got <= bytes - done); /* pread returns at most what was asked */
        done += (size_t)got;
        stream->offset += (uint64_t)got;
    }
    return 0;
}

int storage_stream_create(const struct storage_io *io, const char *path,
                          struct storage_stream **out)
{
    assert(path != NULL);
    assert(out != NULL);
    io = io_or_posix(io);
    int fd = io->open(io->context, path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        return fd;
    }
    return stream_new(io, fd, out);
}

static void write_back_range(void *context, uint64_t offset, uint64_t bytes, bool wait)
{
    struct storage_stream *stream = context;
    (void)stream->io->writeback(stream->io->context, stream->fd, offset, bytes, wait);
}

int storage_stream_write(struct storage_stream *stream, const void *data, size_t bytes)
{
    assert(stream != NULL);
    assert(stream->fd >= 0);
    assert(data != NULL || bytes == 0);
    size_t done = 0;
    while (done < bytes) {
        ssize_t wrote =
            stream->io->pwrite(stream->io->context, stream->fd, (const uint8_t *)data + done,
                               bytes - done, stream->offset);
        if (wrote <= 0) {
            return wrote < 0 ? (int)wrote : -EIO;
        }
        assert((size_t)wrote <= bytes - done);
        done += (size_t)wrote;
        stream->offset += (uint64_t)wrote;
    }
    stream->writeback.written_bytes = stream->offset;
    if (stream->io->writeback != NULL) {
        writeback_schedule(&stream->writeback, write_back_range, stream);
    }
    return 0;
}

void storage_stream_close(struct storage_stream *stream)
{
    if (stream == NULL) {
        return;
    }
    assert(stream->fd >= 0);
    stream->io->close(stream->io->context, stream->fd);
    free(stream);
}

int storage_stream_claim(const struct storage_io *io, const char *from, const char *to)
{
    assert(from != NULL);
    assert(to != NULL);
    io = io_or_posix(io);
    return io->rename(io->context, from, to);
}
