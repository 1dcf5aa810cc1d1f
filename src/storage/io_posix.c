/*
 * io_posix.c — the storage I/O table over the real file system.
 *
 * Each function is one POSIX call translated to the table's convention: the result on
 * success, -errno on failure. fallocate uses mode 0 (allocate and extend the file, zero
 * filled); where the file system does not support it, posix_fallocate's emulation would
 * write zeros, so EOPNOTSUPP is reported as success instead: preallocation is only an
 * optimization. Directory fsync opens the directory read-only and fsyncs it, which is how
 * Linux makes a create, rename or unlink durable.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/storage.h"

static int result(int rc)
{
    assert(rc >= -1); /* what the wrapped calls return: a result, or -1 with errno set */
    return rc < 0 ? -errno : rc;
}

static int posix_open(void *context, const char *path, int flags, mode_t mode)
{
    assert(path != NULL);
    return result(open(path, flags | O_CLOEXEC, mode));
}

static int posix_close(void *context, int fd)
{
    assert(fd >= 0);
    return result(close(fd));
}

static ssize_t posix_pread(void *context, int fd, void *buffer, size_t bytes, uint64_t offset)
{
    assert(fd >= 0);
    assert(buffer != NULL || bytes == 0);
    ssize_t got = pread(fd, buffer, bytes, (off_t)offset);
    assert(got <= (ssize_t)bytes);
    return got < 0 ? -errno : got;
}

static ssize_t posix_pwrite(void *context, int fd, const void *buffer, size_t bytes,
                            uint64_t offset)
{
    assert(fd >= 0);
    assert(buffer != NULL || bytes == 0);
    ssize_t written = pwrite(fd, buffer, bytes, (off_t)offset);
    assert(written <= (ssize_t)bytes);
    return written < 0 ? -errno : written;
}

static int posix_fsync(void *context, int fd)
{
    assert(fd >= 0);
    return result(fsync(fd));
}

static int posix_fdatasync(void *context, int fd)
{
    assert(fd >= 0);
    return result(fdatasync(fd));
}

static int posix_ftruncate(void *context, int fd, uint64_t size_bytes)
{
    assert(fd >= 0);
    assert(size_bytes <= INT64_MAX);
    return result(ftruncate(fd, (off_t)size_bytes));
}

static int io_fallocate(void *context, int fd, uint64_t offset, uint64_t length_bytes)
{
    assert(fd >= 0);
    assert(length_bytes > 0); /* segment_max_bytes is at least STORAGE_MIN_SEGMENT_BYTES */
    int rc = fallocate(fd, 0, (off_t)offset, (off_t)length_bytes);
    if (rc < 0 && (errno == EOPNOTSUPP || errno == ENOSYS)) {
        return 0;
    }
    return result(rc);
}

static int posix_file_size(void *context, int fd, uint64_t *size_bytes)
{
    assert(fd >= 0);
    assert(size_bytes != NULL);
    struct stat info;
    if (fstat(fd, &info) < 0) {
        return -errno;
    }
    *size_bytes = (uint64_t)info.st_size;
    return 0;
}

static int posix_stat(void *context, const char *path, bool *is_directory)
{
    assert(path != NULL);
    assert(is_directory != NULL);
    struct stat info;
    if (stat(path, &info) < 0) {
        return -errno;
    }
    *is_directory = S_ISDIR(info.st_mode);
    return 0;
}

static int posix_rename(void *context, const char *from, const char *to)
{
    assert(from != NULL);
    assert(to != NULL);
    return result(rename(from, to));
}

static int posix_unlink(void *context, const char *path)
{
    assert(path != NULL);
    return result(unlink(path));
}

static int posix_mkdir(void *context, const char *path)
{
    assert(path != NULL);
    return result(mkdir(path, 0755));
}

static int posix_rmdir(void *context, const char *path)
{
    assert(path != NULL);
    return result(rmdir(path));
}

static int posix_fsync_dir(void *context, const char *path)
{
    assert(path != NULL);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    int rc = result(fsync(fd));
    close(fd);
    return rc;
}

static int posix_list_dir(void *context, const char *path, storage_io_each_name_fn each, void *arg)
{
    assert(path != NULL);
    assert(each != NULL);
    DIR *directory = opendir(path);
    if (directory == NULL) {
        return -errno;
    }
    int rc = 0;
    struct dirent *item;
    while (rc == 0 && (item = readdir(directory)) != NULL) {
        if (strcmp(item->d_name, ".") == 0 || strcmp(item->d_name, "..") == 0) {
            continue;
        }
        bool is_directory = item->d_type == DT_DIR;
        if (item->d_type == DT_UNKNOWN) {
            struct stat info;
            if (fstatat(dirfd(directory), item->d_name, &info, 0) == 0) {
                is_directory = S_ISDIR(info.st_mode);
            }
        }
        rc = each(arg, item->d_name, is_directory);
    }
    closedir(directory);
    return rc;
}

static int posix_writeback(void *context, int fd, uint64_t offset, uint64_t bytes, bool wait)
{
    (void)context;
    assert(fd >= 0);
    assert(bytes > 0);
    unsigned flags = SYNC_FILE_RANGE_WRITE;
    if (wait) {
        flags |= SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WAIT_AFTER;
    }
    return sync_file_range(fd, (off_t)offset, (off_t)bytes, flags) == 0 ? 0 : -errno;
}

static const struct storage_io posix_io = {
    .context = NULL,
    .open = posix_open,
    .close = posix_close,
    .pread = posix_pread,
    .pwrite = posix_pwrite,
    .fsync = posix_fsync,
    .fdatasync = posix_fdatasync,
    .ftruncate = posix_ftruncate,
    .fallocate = io_fallocate,
    .file_size = posix_file_size,
    .stat = posix_stat,
    .rename = posix_rename,
    .unlink = posix_unlink,
    .mkdir = posix_mkdir,
    .rmdir = posix_rmdir,
    .fsync_dir = posix_fsync_dir,
    .list_dir = posix_list_dir,
    .writeback = posix_writeback,
};

const struct storage_io *storage_io_posix(void)
{
    assert(posix_io.open != NULL);
    return &posix_io;
}
