/*
 * memfs_internal.h — what memfs's source files share: the file system's structs, and the
 * helpers over them.
 *
 *   memfs.c         the struct storage_io table (open, pwrite, rename, ...) and the test helpers
 *   memfs_tree.c    nodes, byte arrays, directory entries and path resolution
 *   memfs_faults.c  counting operations, crashing or failing one, rebuilding the disk after it
 *
 * Invariants (checked by assertions in those files):
 *   - nodes[] owns every node ever made, and nodes[0] is the root, a directory; a node is freed
 *     only by memfs_free, so one that no entry names any more stays valid for its descriptors.
 *   - open_files[fd] is NULL or a file, never a directory.
 *   - while crashed, operation_count == crash_operation: the crashing call was the last counted.
 *   - torn_node is set only while crashed, by the pwrite that crashed.
 *   - fail_operation != 0 only with a negative fail_errno.
 * Ownership: the memfs owns every node, their buffers and entry arrays, and torn_bytes.
 * Private to src/storage/memfs*.c; tests use memfs.h.
 */
#ifndef RAFTKV_STORAGE_MEMFS_INTERNAL_H
#define RAFTKV_STORAGE_MEMFS_INTERNAL_H

#include "storage/memfs.h"

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

/* memfs_tree.c. Every function returns 0 or -ENOMEM unless it says otherwise. */
/* Sets the size, zero filling what grows. */
int memfs_bytes_resize(struct memfs_bytes *bytes, size_t size);
/* Writes size bytes at offset, growing (zero filled) as needed. */
int memfs_bytes_write(struct memfs_bytes *bytes, const void *data, size_t size, uint64_t offset);
int memfs_bytes_copy(struct memfs_bytes *to, const struct memfs_bytes *from);
int memfs_children_copy(struct memfs_children *to, const struct memfs_children *from);
/* A new empty node, owned by the memfs; NULL when out of memory. */
struct memfs_node *memfs_node_new(struct memfs *memfs, bool is_directory);
/* The directory's entry called name, or NULL. */
struct memfs_child *memfs_child_find(struct memfs_node *directory, const char *name);
int memfs_child_add(struct memfs_node *directory, const char *name, struct memfs_node *node);
void memfs_child_remove(struct memfs_node *directory, struct memfs_child *child);
/* Splits path into its directory and last name (MEMFS_MAX_NAME_BYTES): walks every component
 * but the last. "/" and "." resolve to the root with an empty name. Returns 0, -ENOENT,
 * -ENOTDIR or -ENAMETOOLONG. */
int memfs_resolve_parent(struct memfs *memfs, const char *path, struct memfs_node **parent,
                         char *name);
/* The node path names: 0, or an error of memfs_resolve_parent's, or -ENOENT. */
int memfs_resolve(struct memfs *memfs, const char *path, struct memfs_node **node);

/* memfs_faults.c */
/* Every mutating call starts here: counts it, and crashes or fails it when armed. Returns 0, or
 * the error the call must return. */
int memfs_begin_operation(struct memfs *memfs);
/* Called by a pwrite whose memfs_begin_operation crashed the file system: keeps the write, so
 * that memfs_restart may let a prefix of it reach the disk. */
void memfs_keep_torn_write(struct memfs *memfs, struct memfs_node *node, const void *buffer,
                           size_t bytes, uint64_t offset);

#endif
