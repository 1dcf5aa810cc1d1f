/*
 * memfs.c — the crash-simulating in-memory file system (see memfs.h for the model).
 *
 * Happy path: paths resolve from the root through each directory's current entries; a file
 * is a growable byte array plus a copy made durable by fsync; a directory is a list of
 * entries plus a durable copy made by a directory fsync. Nodes are never freed before
 * memfs_free, so a node an entry no longer names (unlinked, or lost in a crash) stays valid for
 * descriptors still open on it, as in POSIX. Failure modes: the errno values a POSIX system
 * returns (ENOENT, EEXIST, ENOTEMPTY, EISDIR, ENOTDIR, EBADF, EMFILE), -EIO after a crash,
 * and -ENOMEM when an allocation fails.
 */
#include "storage/memfs.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

struct memfs_child {
    char name[MEMFS_MAX_NAME_BYTES];
    struct memfs_node *node;
};

struct memfs_children {
    struct memfs_child *items;
    size_t count;
    size_t capacity;
};

struct memfs_bytes {
    uint8_t *data;
    size_t size;
    size_t capacity;
};

struct memfs_node {
    bool is_directory;
    struct memfs_bytes content; /* files */
    struct memfs_bytes durable_content;
    struct memfs_children children; /* directories */
    struct memfs_children durable_children;
};

struct memfs {
    struct storage_io io;
    struct memfs_node **nodes;
    size_t node_count;
    size_t node_capacity;
    struct memfs_node *root;
    struct memfs_node *open_files[MEMFS_MAX_FILES_OPEN];
    uint64_t operation_count;
    uint64_t crash_operation;
    bool crashed;
    uint64_t fail_operation;
    int fail_errno;
    struct memfs_node *torn_node; /* the file the crashing pwrite was writing */
    uint64_t torn_offset;
    struct memfs_bytes torn_bytes;
};

static int bytes_reserve(struct memfs_bytes *bytes, size_t size)
{
    if (size <= bytes->capacity) {
        return 0;
    }
    size_t capacity = bytes->capacity == 0 ? 256 : bytes->capacity;
    while (capacity < size) {
        capacity *= 2;
    }
    uint8_t *grown = realloc(bytes->data, capacity);
    if (grown == NULL) {
        return -ENOMEM;
    }
    bytes->data = grown;
    bytes->capacity = capacity;
    return 0;
}

/* Sets the size, zero filling what grows. */
static int bytes_resize(struct memfs_bytes *bytes, size_t size)
{
    int rc = bytes_reserve(bytes, size);
    if (rc != 0) {
        return rc;
    }
    if (size > bytes->size) {
        memset(bytes->data + bytes->size, 0, size - bytes->size);
    }
    bytes->size = size;
    return 0;
}

static int bytes_write(struct memfs_bytes *bytes, const void *data, size_t size, uint64_t offset)
{
    size_t end = (size_t)offset + size;
    if (end > bytes->size) {
        int rc = bytes_resize(bytes, end);
        if (rc != 0) {
            return rc;
        }
    }
    if (size > 0) {
        memcpy(bytes->data + offset, data, size);
    }
    return 0;
}

static int bytes_copy(struct memfs_bytes *to, const struct memfs_bytes *from)
{
    int rc = bytes_reserve(to, from->size);
    if (rc == 0) {
        if (from->size > 0) {
            memcpy(to->data, from->data, from->size);
        }
        to->size = from->size;
    }
    return rc;
}

static int children_copy(struct memfs_children *to, const struct memfs_children *from)
{
    if (from->count > to->capacity) {
        struct memfs_child *grown = realloc(to->items, from->count * sizeof *grown);
        if (grown == NULL) {
            return -ENOMEM;
        }
        to->items = grown;
        to->capacity = from->count;
    }
    if (from->count > 0) {
        memcpy(to->items, from->items, from->count * sizeof *to->items);
    }
    to->count = from->count;
    return 0;
}

static struct memfs_node *node_new(struct memfs *memfs, bool is_directory)
{
    if (memfs->node_count == memfs->node_capacity) {
        size_t capacity = memfs->node_capacity == 0 ? 64 : memfs->node_capacity * 2;
        struct memfs_node **grown = realloc(memfs->nodes, capacity * sizeof *grown);
        if (grown == NULL) {
            return NULL;
        }
        memfs->nodes = grown;
        memfs->node_capacity = capacity;
    }
    struct memfs_node *node = calloc(1, sizeof *node);
    if (node != NULL) {
        node->is_directory = is_directory;
        memfs->nodes[memfs->node_count++] = node;
    }
    return node;
}

static struct memfs_child *child_find(struct memfs_node *directory, const char *name)
{
    for (size_t i = 0; i < directory->children.count; i++) {
        if (strcmp(directory->children.items[i].name, name) == 0) {
            return &directory->children.items[i];
        }
    }
    return NULL;
}

static int child_add(struct memfs_node *directory, const char *name, struct memfs_node *node)
{
    struct memfs_children *children = &directory->children;
    if (children->count == children->capacity) {
        size_t capacity = children->capacity == 0 ? 8 : children->capacity * 2;
        struct memfs_child *grown = realloc(children->items, capacity * sizeof *grown);
        if (grown == NULL) {
            return -ENOMEM;
        }
        children->items = grown;
        children->capacity = capacity;
    }
    struct memfs_child *child = &children->items[children->count++];
    memset(child->name, 0, sizeof child->name);
    strncpy(child->name, name, sizeof child->name - 1);
    child->node = node;
    return 0;
}

static void child_remove(struct memfs_node *directory, struct memfs_child *child)
{
    struct memfs_children *children = &directory->children;
    size_t position = (size_t)(child - children->items);
    assert(position < children->count);
    memmove(child, child + 1, (children->count - position - 1) * sizeof *child);
    children->count--;
}

/*
 * Splits path into its directory and last name: walks every component but the last.
 * "/" and "." resolve to the root with an empty name.
 */
static int resolve_parent(struct memfs *memfs, const char *path, struct memfs_node **parent,
                          char *name)
{
    struct memfs_node *directory = memfs->root;
    name[0] = '\0';
    const char *cursor = path;
    for (;;) {
        while (*cursor == '/') {
            cursor++;
        }
        const char *end = strchr(cursor, '/');
        size_t length = end == NULL ? strlen(cursor) : (size_t)(end - cursor);
        if (length >= MEMFS_MAX_NAME_BYTES) {
            return -ENAMETOOLONG;
        }
        const char *rest = cursor + length;
        while (*rest == '/') {
            rest++;
        }
        bool last = *rest == '\0';
        if (length == 0 || (length == 1 && cursor[0] == '.')) {
            if (last) {
                break;
            }
            cursor = rest;
            continue;
        }
        if (last) {
            memcpy(name, cursor, length);
            name[length] = '\0';
            break;
        }
        char component[MEMFS_MAX_NAME_BYTES];
        memcpy(component, cursor, length);
        component[length] = '\0';
        struct memfs_child *child = child_find(directory, component);
        if (child == NULL) {
            return -ENOENT;
        }
        if (!child->node->is_directory) {
            return -ENOTDIR;
        }
        directory = child->node;
        cursor = rest;
    }
    *parent = directory;
    return 0;
}

static int resolve(struct memfs *memfs, const char *path, struct memfs_node **node)
{
    struct memfs_node *parent = NULL;
    char name[MEMFS_MAX_NAME_BYTES];
    int rc = resolve_parent(memfs, path, &parent, name);
    if (rc != 0) {
        return rc;
    }
    if (name[0] == '\0') {
        *node = parent;
        return 0;
    }
    struct memfs_child *child = child_find(parent, name);
    if (child == NULL) {
        return -ENOENT;
    }
    *node = child->node;
    return 0;
}

/* Every mutating call starts here: counts it, and crashes or fails it when armed. */
static int begin_operation(struct memfs *memfs)
{
    if (memfs->crashed) {
        return -EIO;
    }
    memfs->operation_count++;
    if (memfs->crash_operation != 0 && memfs->operation_count == memfs->crash_operation) {
        memfs->crashed = true;
        return -EIO;
    }
    if (memfs->fail_operation != 0 && memfs->operation_count == memfs->fail_operation) {
        memfs->fail_operation = 0;
        return memfs->fail_errno;
    }
    return 0;
}

static struct memfs_node *file_at(struct memfs *memfs, int fd)
{
    if (fd < 0 || fd >= MEMFS_MAX_FILES_OPEN) {
        return NULL;
    }
    return memfs->open_files[fd];
}

static int memfs_open(void *context, const char *path, int flags, mode_t mode)
{
    struct memfs *memfs = context;
    if (memfs->crashed) {
        return -EIO;
    }
    struct memfs_node *parent = NULL;
    char name[MEMFS_MAX_NAME_BYTES];
    int rc = resolve_parent(memfs, path, &parent, name);
    if (rc != 0) {
        return rc;
    }
    struct memfs_child *child = name[0] == '\0' ? NULL : child_find(parent, name);
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
        if ((rc = begin_operation(memfs)) != 0) {
            return rc;
        }
    }
    if (node == NULL) {
        node = node_new(memfs, false);
        if (node == NULL || child_add(parent, name, node) != 0) {
            return -ENOMEM;
        }
    } else if (flags & O_TRUNC) {
        node->content.size = 0;
    }
    memfs->open_files[fd] = node;
    return fd;
}

static int memfs_close(void *context, int fd)
{
    struct memfs *memfs = context;
    if (file_at(memfs, fd) == NULL) {
        return -EBADF;
    }
    memfs->open_files[fd] = NULL;
    return 0;
}

static ssize_t memfs_pread(void *context, int fd, void *buffer, size_t bytes, uint64_t offset)
{
    struct memfs *memfs = context;
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
    struct memfs_node *node = file_at(memfs, fd);
    if (node == NULL) {
        return -EBADF;
    }
    bool was_crashed = memfs->crashed;
    int rc = begin_operation(memfs);
    if (rc != 0) {
        if (!was_crashed && memfs->crashed) {
            /* This very write crashed: a prefix of it may reach the disk (memfs_restart). */
            memfs->torn_node = node;
            memfs->torn_offset = offset;
            memfs->torn_bytes.size = 0;
            if (bytes_write(&memfs->torn_bytes, buffer, bytes, 0) != 0) {
                memfs->torn_node = NULL;
            }
        }
        return rc;
    }
    rc = bytes_write(&node->content, buffer, bytes, offset);
    return rc != 0 ? rc : (ssize_t)bytes;
}

static int memfs_sync_file(void *context, int fd)
{
    struct memfs *memfs = context;
    struct memfs_node *node = file_at(memfs, fd);
    if (node == NULL) {
        return -EBADF;
    }
    int rc = begin_operation(memfs);
    return rc != 0 ? rc : bytes_copy(&node->durable_content, &node->content);
}

static int memfs_ftruncate(void *context, int fd, uint64_t size_bytes)
{
    struct memfs *memfs = context;
    struct memfs_node *node = file_at(memfs, fd);
    if (node == NULL) {
        return -EBADF;
    }
    int rc = begin_operation(memfs);
    return rc != 0 ? rc : bytes_resize(&node->content, (size_t)size_bytes);
}

static int memfs_fallocate(void *context, int fd, uint64_t offset, uint64_t length_bytes)
{
    struct memfs *memfs = context;
    struct memfs_node *node = file_at(memfs, fd);
    if (node == NULL) {
        return -EBADF;
    }
    int rc = begin_operation(memfs);
    if (rc != 0 || offset + length_bytes <= node->content.size) {
        return rc;
    }
    return bytes_resize(&node->content, (size_t)(offset + length_bytes));
}

static int memfs_file_size(void *context, int fd, uint64_t *size_bytes)
{
    struct memfs *memfs = context;
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
    struct memfs_node *node = NULL;
    int rc = memfs->crashed ? -EIO : resolve(memfs, path, &node);
    if (rc == 0) {
        *is_directory = node->is_directory;
    }
    return rc;
}

static int memfs_rename(void *context, const char *from, const char *to)
{
    struct memfs *memfs = context;
    struct memfs_node *from_parent = NULL;
    struct memfs_node *to_parent = NULL;
    char from_name[MEMFS_MAX_NAME_BYTES];
    char to_name[MEMFS_MAX_NAME_BYTES];
    int rc = memfs->crashed ? -EIO : resolve_parent(memfs, from, &from_parent, from_name);
    if (rc == 0) {
        rc = resolve_parent(memfs, to, &to_parent, to_name);
    }
    if (rc != 0) {
        return rc;
    }
    struct memfs_child *source = child_find(from_parent, from_name);
    if (source == NULL) {
        return -ENOENT;
    }
    struct memfs_child *target = child_find(to_parent, to_name);
    if (target != NULL && target->node->is_directory && target->node->children.count > 0) {
        return -ENOTEMPTY;
    }
    if ((rc = begin_operation(memfs)) != 0) {
        return rc;
    }
    struct memfs_node *node = source->node;
    child_remove(from_parent, source);
    target = child_find(to_parent, to_name);
    if (target != NULL) {
        target->node = node;
        return 0;
    }
    return child_add(to_parent, to_name, node);
}

static int memfs_remove(struct memfs *memfs, const char *path, bool directory)
{
    struct memfs_node *parent = NULL;
    char name[MEMFS_MAX_NAME_BYTES];
    int rc = memfs->crashed ? -EIO : resolve_parent(memfs, path, &parent, name);
    if (rc != 0) {
        return rc;
    }
    struct memfs_child *child = child_find(parent, name);
    if (child == NULL) {
        return -ENOENT;
    }
    if (child->node->is_directory != directory) {
        return directory ? -ENOTDIR : -EISDIR;
    }
    if (directory && child->node->children.count > 0) {
        return -ENOTEMPTY;
    }
    if ((rc = begin_operation(memfs)) != 0) {
        return rc;
    }
    child_remove(parent, child);
    return 0;
}

static int memfs_unlink(void *context, const char *path)
{
    return memfs_remove(context, path, false);
}

static int memfs_rmdir(void *context, const char *path)
{
    return memfs_remove(context, path, true);
}

static int memfs_mkdir(void *context, const char *path)
{
    struct memfs *memfs = context;
    struct memfs_node *parent = NULL;
    char name[MEMFS_MAX_NAME_BYTES];
    int rc = memfs->crashed ? -EIO : resolve_parent(memfs, path, &parent, name);
    if (rc != 0) {
        return rc;
    }
    if (name[0] == '\0' || child_find(parent, name) != NULL) {
        return -EEXIST;
    }
    if ((rc = begin_operation(memfs)) != 0) {
        return rc;
    }
    struct memfs_node *node = node_new(memfs, true);
    if (node == NULL) {
        return -ENOMEM;
    }
    return child_add(parent, name, node);
}

static int memfs_fsync_dir(void *context, const char *path)
{
    struct memfs *memfs = context;
    struct memfs_node *node = NULL;
    int rc = memfs->crashed ? -EIO : resolve(memfs, path, &node);
    if (rc == 0 && !node->is_directory) {
        rc = -ENOTDIR;
    }
    if (rc == 0) {
        rc = begin_operation(memfs);
    }
    return rc != 0 ? rc : children_copy(&node->durable_children, &node->children);
}

static int memfs_list_dir(void *context, const char *path, storage_io_each_name_fn each, void *arg)
{
    struct memfs *memfs = context;
    struct memfs_node *node = NULL;
    int rc = memfs->crashed ? -EIO : resolve(memfs, path, &node);
    if (rc == 0 && !node->is_directory) {
        rc = -ENOTDIR;
    }
    if (rc != 0) {
        return rc;
    }
    /* A snapshot of the entries, so that `each` may delete what it is handed. */
    struct memfs_children names = {0};
    if (children_copy(&names, &node->children) != 0) {
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
    memfs->root = node_new(memfs, true);
    if (memfs->root == NULL) {
        memfs_free(memfs);
        return NULL;
    }
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

const struct storage_io *memfs_io(struct memfs *memfs)
{
    return &memfs->io;
}

uint64_t memfs_operation_count(const struct memfs *memfs)
{
    return memfs->operation_count;
}

void memfs_crash_at(struct memfs *memfs, uint64_t operation)
{
    memfs->crash_operation = operation;
}

bool memfs_crashed(const struct memfs *memfs)
{
    return memfs->crashed;
}

void memfs_fail_at(struct memfs *memfs, uint64_t operation, int negative_errno)
{
    assert(negative_errno < 0);
    memfs->fail_operation = operation;
    memfs->fail_errno = negative_errno;
}

/* Applies a prefix of the crashing write (never all of it) to the torn file's content. */
static void apply_torn_prefix(struct memfs *memfs, uint64_t random)
{
    if (memfs->torn_node == NULL || memfs->torn_bytes.size == 0) {
        return;
    }
    size_t keep = (size_t)(random % memfs->torn_bytes.size);
    int rc =
        bytes_write(&memfs->torn_node->content, memfs->torn_bytes.data, keep, memfs->torn_offset);
    assert(rc == 0);
    (void)rc;
}

void memfs_restart(struct memfs *memfs, enum memfs_crash_mode mode, uint64_t random)
{
    for (int fd = 0; fd < MEMFS_MAX_FILES_OPEN; fd++) {
        memfs->open_files[fd] = NULL;
    }
    for (size_t i = 0; i < memfs->node_count; i++) {
        struct memfs_node *node = memfs->nodes[i];
        bool keep_unsynced = mode == MEMFS_CRASH_PROCESS ||
                             (mode == MEMFS_CRASH_TORN_WRITE && node == memfs->torn_node);
        int rc = 0;
        if (node->is_directory && mode != MEMFS_CRASH_PROCESS) {
            rc = children_copy(&node->children, &node->durable_children);
        } else if (!node->is_directory && !keep_unsynced) {
            rc = bytes_copy(&node->content, &node->durable_content);
        }
        assert(rc == 0);
        (void)rc;
    }
    if (mode != MEMFS_CRASH_POWER_LOSS) {
        apply_torn_prefix(memfs, random);
    }
    /* What the restarted machine finds is, from now on, its durable state. */
    for (size_t i = 0; i < memfs->node_count; i++) {
        struct memfs_node *node = memfs->nodes[i];
        int rc = node->is_directory ? children_copy(&node->durable_children, &node->children)
                                    : bytes_copy(&node->durable_content, &node->content);
        assert(rc == 0);
        (void)rc;
    }
    memfs->crashed = false;
    memfs->crash_operation = 0;
    memfs->fail_operation = 0;
    memfs->torn_node = NULL;
    memfs->torn_bytes.size = 0;
}

int memfs_file_bytes(struct memfs *memfs, const char *path, uint8_t **bytes, size_t *size)
{
    struct memfs_node *node = NULL;
    int rc = resolve(memfs, path, &node);
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
    struct memfs_node *node = NULL;
    int rc = resolve(memfs, path, &node);
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
    struct memfs_node *parent = NULL;
    char name[MEMFS_MAX_NAME_BYTES];
    int rc = resolve_parent(memfs, path, &parent, name);
    if (rc != 0) {
        return rc;
    }
    struct memfs_child *child = child_find(parent, name);
    struct memfs_node *node = child != NULL ? child->node : node_new(memfs, false);
    if (node == NULL || node->is_directory) {
        return node == NULL ? -ENOMEM : -EISDIR;
    }
    if (child == NULL && (rc = child_add(parent, name, node)) != 0) {
        return rc;
    }
    node->content.size = 0;
    rc = bytes_write(&node->content, bytes, size, 0);
    if (rc == 0) {
        rc = bytes_copy(&node->durable_content, &node->content);
    }
    if (rc == 0) {
        rc = children_copy(&parent->durable_children, &parent->children);
    }
    return rc;
}
