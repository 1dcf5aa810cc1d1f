/*
 * memfs.c — the crash-simulating in-memory file system (see memfs.h for the model): its
 * struct storage_io table, its life cycle, and the test helpers that reach past the table.
 *
 * Happy path: each call of the table resolves its path (memfs_tree.c), checks what POSIX
 * would check, then — if it changes anything — starts with memfs_begin_operation
 * (memfs_faults.c), which counts it and may crash or fail it, and only then changes the tree.
 * A file's writes land in its content; fsync and fdatasync copy the content to the durable
 * copy, a directory fsync copies the entries to theirs. Nodes are never freed before
 * memfs_free, so a node an entry no longer names (unlinked, or lost in a crash) stays valid for
 * descriptors still open on it, as in POSIX. Failure modes: the errno values a POSIX system
 * returns (ENOENT, EEXIST, ENOTEMPTY, EISDIR, ENOTDIR, EBADF, EMFILE), -EIO after a crash,
 * and -ENOMEM when an allocation fails.
 */
#include "storage/memfs_internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

static struct memfs_node *file_at(struct memfs *memfs, int fd)
{
    assert(memfs != NULL);
    if (fd < 0 || fd >= MEMFS_MAX_FILES_OPEN) {
        return NULL;
    }
    struct memfs_node *node = memfs->open_files[fd];
    assert(node == NULL || !node->is_directory); /* descriptors name files only */
    return node;
}

static int memfs_open(void *context, const char *path, int flags, mode_t mode)
{
    struct memfs *memfs = context;
    assert(memfs != NULL);
    assert(path != NULL);
    if (memfs->crashed) {
        return -EIO;
    }
    struct memfs_node *parent = NULL;
    char name[MEMFS_MAX_NAME_BYTES];
    int rc = memfs_resolve_parent(memfs, path, &parent, name);
    if (rc != 0) {
        return rc;
    }
    struct memfs_child *child = name[0] == '\0' ? NULL : memfs_child_find(parent, name);
    struct memfs_node *node = child != NULL ? child->node : NULL;
    if (node != NULL && (flags & O_CREAT) && (flags & O_EXCL)) {
        return -EEXIST;
    }
    if (node == NULL && !(flags & O_CREAT)) {
        return -ENOENT;
    }
    if (node != NULL && node->is_directory) {
        return -EISDIR;
    }
    int fd = 0;
    while (fd < MEMFS_MAX_FILES_OPEN && memfs->open_files[fd] != NULL) {
        fd++;
    }
    if (fd == MEMFS_MAX_FILES_OPEN) {
        return -EMFILE;
    }
    if (node == NULL || (flags & O_TRUNC)) {
        if ((rc = memfs_begin_operation(memfs)) != 0) {
            return rc;
        }
    }
    if (node == NULL) {
        node = memfs_node_new(memfs, false);
        if (node == NULL || memfs_child_add(parent, name, node) != 0) {
            return -ENOMEM;
        }
    } else if (flags & O_TRUNC) {
        node->content.size = 0;
    }
    assert(!node->is_directory);
    memfs->open_files[fd] = node;
    return fd;
}

static int memfs_close(void *context, int fd)
{
    struct memfs *memfs = context;
    assert(memfs != NULL);
    if (file_at(memfs, fd) == NULL) {
        return -EBADF;
    }
    memfs->open_files[fd] = NULL;
    return 0;
}

static ssize_t memfs_pread(void *context, int fd, void *buffer, size_t bytes, uint64_t offset)
{
    struct memfs *memfs = context;
    assert(buffer != NULL || bytes == 0);
    struct memfs_node *node = file_at(memfs, fd);
    if (node == NULL) {
        return -EBADF;
    }
    if (memfs->crashed) {
        return -EIO;
    }
    if (offset >= node->content.size) {
        return 0;
    }
    size_t available = node->content.size - (size_t)offset;
    size_t count = bytes < available ? bytes : available;
    memcpy(buffer, node->content.data + offset, count);
    return (ssize_t)count;
}

static ssize_t memfs_pwrite(void *context, int fd, const void *buffer, size_t bytes,
                            uint64_t offset)
{
    struct memfs *memfs = context;
    assert(buffer != NULL || bytes == 0);
    struct memfs_node *node = file_at(memfs, fd);
    if (node == NULL) {
        return -EBADF;
    }
    bool was_crashed = memfs->crashed;
    int rc = memfs_begin_operation(memfs);
    if (rc != 0) {
        if (!was_crashed && memfs->crashed) {
            /* This very write crashed: a prefix of it may reach the disk (memfs_restart). */
            memfs_keep_torn_write(memfs, node, buffer, bytes, offset);
        }
        return rc;
    }
    rc = memfs_bytes_write(&node->content, buffer, bytes, offset);
    return rc != 0 ? rc : (ssize_t)bytes;
}

static int memfs_sync_file(void *context, int fd)
{
    struct memfs *memfs = context;
    struct memfs_node *node = file_at(memfs, fd);
    if (node == NULL) {
        return -EBADF;
    }
    int rc = memfs_begin_operation(memfs);
    if (rc == 0) {
        rc = memfs_bytes_copy(&node->durable_content, &node->content);
    }
    assert(rc != 0 || node->durable_content.size == node->content.size);
    return rc;
}

static int memfs_ftruncate(void *context, int fd, uint64_t size_bytes)
{
    struct memfs *memfs = context;
    struct memfs_node *node = file_at(memfs, fd);
    if (node == NULL) {
        return -EBADF;
    }
    int rc = memfs_begin_operation(memfs);
    if (rc == 0) {
        rc = memfs_bytes_resize(&node->content, (size_t)size_bytes);
    }
    assert(rc != 0 || node->content.size == size_bytes);
    return rc;
}

static int memfs_fallocate(void *context, int fd, uint64_t offset, uint64_t length_bytes)
{
    struct memfs *memfs = context;
    assert(offset <= UINT64_MAX - length_bytes); /* the end below does not wrap */
    struct memfs_node *node = file_at(memfs, fd);
    if (node == NULL) {
        return -EBADF;
    }
    int rc = memfs_begin_operation(memfs);
    if (rc != 0 || offset + length_bytes <= node->content.size) {
        return rc;
    }
    return memfs_bytes_resize(&node->content, (size_t)(offset + length_bytes));
}

static int memfs_file_size(void *context, int fd, uint64_t *size_bytes)
{
    struct memfs *memfs = context;
    assert(size_bytes != NULL);
    struct memfs_node *node = file_at(memfs, fd);
    if (node == NULL) {
        return -EBADF;
    }
    *size_bytes = node->content.size;
    return 0;
}

static int memfs_stat(void *context, const char *path, bool *is_directory)
{
    struct memfs *memfs = context;
    assert(memfs != NULL);
    assert(is_directory != NULL);
    struct memfs_node *node = NULL;
    int rc = memfs->crashed ? -EIO : memfs_resolve(memfs, path, &node);
    if (rc == 0) {
        *is_directory = node->is_directory;
    }
    return rc;
}

static int memfs_rename(void *context, const char *from, const char *to)
{
    struct memfs *memfs = context;
    assert(memfs != NULL);
    assert(to != NULL);
    struct memfs_node *from_parent = NULL;
    struct memfs_node *to_parent = NULL;
    char from_name[MEMFS_MAX_NAME_BYTES];
    char to_name[MEMFS_MAX_NAME_BYTES];
    int rc = memfs->crashed ? -EIO : memfs_resolve_parent(memfs, from, &from_parent, from_name);
    if (rc == 0) {
        rc = memfs_resolve_parent(memfs, to, &to_parent, to_name);
    }
    if (rc != 0) {
        return rc;
    }
    struct memfs_child *source = memfs_child_find(from_parent, from_name);
    if (source == NULL) {
        return -ENOENT;
    }
    struct memfs_child *target = memfs_child_find(to_parent, to_name);
    if (target != NULL && target->node->is_directory && target->node->children.count > 0) {
        return -ENOTEMPTY;
    }
    if ((rc = memfs_begin_operation(memfs)) != 0) {
        return rc;
    }
    struct memfs_node *node = source->node;
    memfs_child_remove(from_parent, source);
    target = memfs_child_find(to_parent, to_name);
    if (target != NULL) {
        target->node = node;
        return 0;
    }
    return memfs_child_add(to_parent, to_name, node);
}

static int memfs_remove(struct memfs *memfs, const char *path, bool directory)
{
    assert(memfs != NULL);
    struct memfs_node *parent = NULL;
    char name[MEMFS_MAX_NAME_BYTES];
    int rc = memfs->crashed ? -EIO : memfs_resolve_parent(memfs, path, &parent, name);
    if (rc != 0) {
        return rc;
    }
    struct memfs_child *child = memfs_child_find(parent, name);
    if (child == NULL) {
        return -ENOENT;
    }
    if (child->node->is_directory != directory) {
        return directory ? -ENOTDIR : -EISDIR;
    }
    if (directory && child->node->children.count > 0) {
        return -ENOTEMPTY;
    }
    if ((rc = memfs_begin_operation(memfs)) != 0) {
        return rc;
    }
    memfs_child_remove(parent, child);
    return 0;
}

static int memfs_unlink(void *context, const char *path)
{
    assert(context != NULL);
    return memfs_remove(context, path, false);
}

static int memfs_rmdir(void *context, const char *path)
{
    assert(context != NULL);
    return memfs_remove(context, path, true);
}

static int memfs_mkdir(void *context, const char *path)
{
    struct memfs *memfs = context;
    assert(memfs != NULL);
    struct memfs_node *parent = NULL;
    char name[MEMFS_MAX_NAME_BYTES];
    int rc = memfs->crashed ? -EIO : memfs_resolve_parent(memfs, path, &parent, name);
    if (rc != 0) {
        return rc;
    }
    if (name[0] == '\0' || memfs_child_find(parent, name) != NULL) {
        return -EEXIST;
    }
    if ((rc = memfs_begin_operation(memfs)) != 0) {
        return rc;
    }
    struct memfs_node *node = memfs_node_new(memfs, true);
    if (node == NULL) {
        return -ENOMEM;
    }
    return memfs_child_add(parent, name, node);
}

static int memfs_fsync_dir(void *context, const char *path)
{
    struct memfs *memfs = context;
    assert(memfs != NULL);
    struct memfs_node *node = NULL;
    int rc = memfs->crashed ? -EIO : memfs_resolve(memfs, path, &node);
    if (rc == 0 && !node->is_directory) {
        rc = -ENOTDIR;
    }
    if (rc == 0) {
        rc = memfs_begin_operation(memfs);
    }
    return rc != 0 ? rc : memfs_children_copy(&node->durable_children, &node->children);
}

static int memfs_list_dir(void *context, const char *path, storage_io_each_name_fn each, void *arg)
{
    struct memfs *memfs = context;
    assert(memfs != NULL);
    assert(each != NULL);
    struct memfs_node *node = NULL;
    int rc = memfs->crashed ? -EIO : memfs_resolve(memfs, path, &node);
    if (rc == 0 && !node->is_directory) {
        rc = -ENOTDIR;
    }
    if (rc != 0) {
        return rc;
    }
    /* A snapshot of the entries, so that `each` may delete what it is handed. */
    struct memfs_children names = {0};
    if (memfs_children_copy(&names, &node->children) != 0) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < names.count && rc == 0; i++) {
        rc = each(arg, names.items[i].name, names.items[i].node->is_directory);
    }
    free(names.items);
    return rc;
}

struct memfs *memfs_new(void)
{
    struct memfs *memfs = calloc(1, sizeof *memfs);
    if (memfs == NULL) {
        return NULL;
    }
    memfs->root = memfs_node_new(memfs, true);
    if (memfs->root == NULL) {
        memfs_free(memfs);
        return NULL;
    }
    assert(memfs->root == memfs->nodes[0]); /* memfs_restart and memfs_free walk nodes[] */
    assert(memfs->root->is_directory);
    memfs->io = (struct storage_io){
        .context = memfs,
        .open = memfs_open,
        .close = memfs_close,
        .pread = memfs_pread,
        .pwrite = memfs_pwrite,
        .fsync = memfs_sync_file,
        .fdatasync = memfs_sync_file,
        .ftruncate = memfs_ftruncate,
        .fallocate = memfs_fallocate,
        .file_size = memfs_file_size,
        .stat = memfs_stat,
        .rename = memfs_rename,
        .unlink = memfs_unlink,
        .mkdir = memfs_mkdir,
        .rmdir = memfs_rmdir,
        .fsync_dir = memfs_fsync_dir,
        .list_dir = memfs_list_dir,
    };
    return memfs;
}

void memfs_free(struct memfs *memfs)
{
    if (memfs == NULL) {
        return;
    }
    assert(memfs->node_count <= memfs->node_capacity);
    for (size_t i = 0; i < memfs->node_count; i++) {
        struct memfs_node *node = memfs->nodes[i];
        free(node->content.data);
        free(node->durable_content.data);
        free(node->children.items);
        free(node->durable_children.items);
        free(node);
    }
    free(memfs->nodes);
    free(memfs->torn_bytes.data);
    free(memfs);
}

/* ---- test helpers: direct access that counts no operation and ignores a crash ---- */

const struct storage_io *memfs_io(struct memfs *memfs)
{
    assert(memfs->io.context == memfs);
    return &memfs->io;
}

int memfs_file_bytes(struct memfs *memfs, const char *path, uint8_t **bytes, size_t *size)
{
    assert(bytes != NULL);
    assert(size != NULL);
    struct memfs_node *node = NULL;
    int rc = memfs_resolve(memfs, path, &node);
    if (rc != 0) {
        return rc;
    }
    if (node->is_directory) {
        return -EISDIR;
    }
    *bytes = node->content.data;
    *size = node->content.size;
    return 0;
}

int memfs_flip_byte(struct memfs *memfs, const char *path, uint64_t offset)
{
    assert(memfs != NULL);
    struct memfs_node *node = NULL;
    int rc = memfs_resolve(memfs, path, &node);
    if (rc != 0) {
        return rc;
    }
    if (node->is_directory || offset >= node->content.size) {
        return -EINVAL;
    }
    node->content.data[offset] ^= 0x40;
    if (offset < node->durable_content.size) {
        node->durable_content.data[offset] ^= 0x40;
    }
    return 0;
}

int memfs_put_file(struct memfs *memfs, const char *path, const void *bytes, size_t size)
{
    assert(bytes != NULL || size == 0);
    struct memfs_node *parent = NULL;
    char name[MEMFS_MAX_NAME_BYTES];
    int rc = memfs_resolve_parent(memfs, path, &parent, name);
    if (rc != 0) {
        return rc;
    }
    struct memfs_child *child = memfs_child_find(parent, name);
    struct memfs_node *node = child != NULL ? child->node : memfs_node_new(memfs, false);
    if (node == NULL || node->is_directory) {
        return node == NULL ? -ENOMEM : -EISDIR;
    }
    if (child == NULL && (rc = memfs_child_add(parent, name, node)) != 0) {
        return rc;
    }
    node->content.size = 0;
    rc = memfs_bytes_write(&node->content, bytes, size, 0);
    if (rc == 0) {
        rc = memfs_bytes_copy(&node->durable_content, &node->content);
    }
    if (rc == 0) {
        rc = memfs_children_copy(&parent->durable_children, &parent->children);
    }
    return rc;
}
