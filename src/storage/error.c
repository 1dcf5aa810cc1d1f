/*
 * error.c — the storage's error strings, its message buffer, its log callback, and the small
 * file helpers every part uses (paths, whole writes, whole reads, atomic replace).
 *
 * Failure modes: a path longer than STORAGE_MAX_PATH_BYTES is refused, never truncated; a
 * short write is retried until done or an error; a file larger than the caller's bound is
 * refused before it is read.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/internal.h"

const char *storage_error_string(int error)
{
    /* A switch rather than a table: two codes with one value fail to compile. */
    switch (error) {
#define STORAGE_ERROR_CASE(name, value, text)                                                      \
    case name:                                                                                     \
        return text;
        STORAGE_ERRORS(STORAGE_ERROR_CASE)
#undef STORAGE_ERROR_CASE
    }
    return "unknown storage error";
}

int storage_fail(struct storage *storage, int error, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(storage->message, sizeof storage->message, format, arguments);
    va_end(arguments);
    return error;
}

int storage_fail_io(struct storage *storage, int negative_errno, const char *what, const char *path)
{
    assert(negative_errno < 0);
    return storage_fail(storage, STORAGE_ERROR_IO, "%s %s: %s", what, path,
                        strerror(-negative_errno));
}

int storage_poison(struct storage *storage, int error)
{
    storage->failed = true;
    return error;
}

void storage_log(struct storage *storage, enum storage_log_level level, const char *format, ...)
{
    if (storage->options.log == NULL) {
        return;
    }
    char line[STORAGE_MESSAGE_BYTES];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(line, sizeof line, format, arguments);
    va_end(arguments);
    storage->options.log(storage->options.log_arg, level, line);
}

int storage_join_path(struct storage *storage, char *out, const char *dir, const char *name)
{
    int length = snprintf(out, STORAGE_MAX_PATH_BYTES, "%s/%s", dir, name);
    if (length < 0 || length >= STORAGE_MAX_PATH_BYTES) {
        return storage_fail(storage, STORAGE_ERROR_INVALID, "path too long: %s/%s", dir, name);
    }
    return 0;
}

void storage_put_u32(uint8_t *out, uint32_t value)
{
    for (int i = 0; i < 4; i++) {
        out[i] = (uint8_t)(value >> (8 * i));
    }
}

void storage_put_u64(uint8_t *out, uint64_t value)
{
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(value >> (8 * i));
    }
}

uint32_t storage_get_u32(const uint8_t *in)
{
    uint32_t value = 0;
    for (int i = 3; i >= 0; i--) {
        value = (value << 8) | in[i];
    }
    return value;
}

uint64_t storage_get_u64(const uint8_t *in)
{
    uint64_t value = 0;
    for (int i = 7; i >= 0; i--) {
        value = (value << 8) | in[i];
    }
    return value;
}

int storage_write_all(struct storage *storage, int fd, const void *bytes, size_t size,
                      uint64_t offset, const char *path)
{
    const uint8_t *cursor = bytes;
    while (size > 0) {
        ssize_t written = storage->io->pwrite(storage->io->context, fd, cursor, size, offset);
        if (written == -EINTR) {
            continue;
        }
        if (written < 0) {
            return storage_fail_io(storage, (int)written, "write", path);
        }
        if (written == 0) {
            return storage_fail_io(storage, -EIO, "write (no progress)", path);
        }
        cursor += written;
        size -= (size_t)written;
        offset += (uint64_t)written;
    }
    return 0;
}

static int read_all(struct storage *storage, int fd, uint8_t *buffer, size_t size, const char *path)
{
    size_t done = 0;
    while (done < size) {
        ssize_t got =
            storage->io->pread(storage->io->context, fd, buffer + done, size - done, done);
        if (got == -EINTR) {
            continue;
        }
        if (got < 0) {
            return storage_fail_io(storage, (int)got, "read", path);
        }
        if (got == 0) {
            return storage_fail(storage, STORAGE_ERROR_IO, "read %s: file shrank while read", path);
        }
        done += (size_t)got;
    }
    return 0;
}

int storage_read_file(struct storage *storage, const char *path, uint64_t max_bytes, uint8_t **out,
                      size_t *size)
{
    const struct storage_io *io = storage->io;
    *out = NULL;
    *size = 0;
    int fd = io->open(io->context, path, O_RDONLY, 0);
    if (fd < 0) {
        return storage_fail_io(storage, fd, "open", path);
    }
    uint64_t file_bytes = 0;
    int rc = io->file_size(io->context, fd, &file_bytes);
    if (rc < 0) {
        rc = storage_fail_io(storage, rc, "stat", path);
        goto close_file;
    }
    if (file_bytes > max_bytes) {
        rc = storage_fail(storage, STORAGE_ERROR_CORRUPT,
                          "%s is %llu bytes, above the limit of %llu", path,
                          (unsigned long long)file_bytes, (unsigned long long)max_bytes);
        goto close_file;
    }
    uint8_t *buffer = malloc(file_bytes > 0 ? file_bytes : 1);
    if (buffer == NULL) {
        rc = storage_fail(storage, STORAGE_ERROR_NO_MEMORY, "reading %s", path);
        goto close_file;
    }
    rc = read_all(storage, fd, buffer, file_bytes, path);
    if (rc != 0) {
        free(buffer);
        goto close_file;
    }
    *out = buffer;
    *size = file_bytes;
close_file:
    io->close(io->context, fd);
    return rc;
}

int storage_replace_file(struct storage *storage, const char *dir, const char *name,
                         const void *bytes, size_t size)
{
    const struct storage_io *io = storage->io;
    char path[STORAGE_MAX_PATH_BYTES];
    char temporary[STORAGE_MAX_PATH_BYTES + 8];
    int rc = storage_join_path(storage, path, dir, name);
    if (rc != 0) {
        return rc;
    }
    snprintf(temporary, sizeof temporary, "%s.tmp", path);
    int fd = io->open(io->context, temporary, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        return storage_fail_io(storage, fd, "create", temporary);
    }
    rc = storage_write_all(storage, fd, bytes, size, 0, temporary);
    if (rc != 0) {
        goto close_file;
    }
    rc = io->fsync(io->context, fd);
    if (rc < 0) {
        rc = storage_fail_io(storage, rc, "fsync", temporary);
        goto close_file;
    }
    rc = io->close(io->context, fd);
    fd = -1;
    if (rc < 0) {
        return storage_fail_io(storage, rc, "close", temporary);
    }
    rc = io->rename(io->context, temporary, path);
    if (rc < 0) {
        return storage_fail_io(storage, rc, "rename to", path);
    }
    rc = io->fsync_dir(io->context, dir);
    if (rc < 0) {
        return storage_fail_io(storage, rc, "fsync directory", dir);
    }
    return 0;
close_file:
    io->close(io->context, fd);
    return rc;
}
