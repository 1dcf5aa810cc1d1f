/*
 * memfs_tree.c — memfs's data: nodes, the byte arrays of files, the entry lists of directories,
 * and how a path resolves to them.
 *
 * Happy path: a path resolves from the root through each directory's current entries ("/" and
 * "." name the directory they are in, repeated slashes count as one); a file is a growable byte
 * array, a directory a list of (name, node) entries. Each has a second copy, the durable one,
 * which memfs.c's fsyncs replace and memfs_faults.c's restart goes back to. Nodes are never
 * freed before memfs_free (memfs_node_new records each in memfs->nodes). Failure modes:
 * -ENOENT, -ENOTDIR and -ENAMETOOLONG from resolution, -ENOMEM when an allocation fails (the
 * structure is then unchanged). Nothing here counts an operation or looks at a crash.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/memfs_internal.h"

static int bytes_reserve(struct memfs_bytes *bytes, size_t size)
{
    assert(bytes->size <= bytes->capacity);
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

int memfs_bytes_resize(struct memfs_bytes *bytes, size_t size)
{
    int rc = bytes_reserve(bytes, size);
    if (rc != 0) {
        return rc;
    }
    assert(size <= bytes->capacity);
    if (size > bytes->size) {
        memset(bytes->data + bytes->size, 0, size - bytes->size);
    }
    bytes->size = size;
    return 0;
}

int memfs_bytes_write(struct memfs_bytes *bytes, const void *data, size_t size, uint64_t offset)
{
    assert(data != NULL || size == 0);
    assert(offset <= SIZE_MAX - size); /* the end below does not wrap */
    size_t end = (size_t)offset + size;
    if (end > bytes->size) {
        int rc = memfs_bytes_resize(bytes, end);
        if (rc != 0) {
            return rc;
        }
    }
    if (size > 0) {
        memcpy(bytes->data + offset, data, size);
    }
    return 0;
}

int memfs_bytes_copy(struct memfs_bytes *to, const struct memfs_bytes *from)
{
    assert(to != from);
    assert(from->size <= from->capacity);
    int rc = bytes_reserve(to, from->size);
    if (rc == 0) {
        if (from->size > 0) {
            memcpy(to->data, from->data, from->size);
        }
        to->size = from->size;
    }
    return rc;
}

int memfs_children_copy(struct memfs_children *to, const struct memfs_children *from)
{
    assert(to != from);
    assert(from->count <= from->capacity);
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

struct memfs_node *memfs_node_new(struct memfs *memfs, bool is_directory)
{
    assert(memfs != NULL);
    assert(memfs->node_count <= memfs->node_capacity);
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

struct memfs_child *memfs_child_find(struct memfs_node *directory, const char *name)
{
    assert(directory->is_directory);
    assert(name != NULL);
    for (size_t i = 0; i < directory->children.count; i++) {
        if (strcmp(directory->children.items[i].name, name) == 0) {
            return &directory->children.items[i];
        }
    }
    return NULL;
}

int memfs_child_add(struct memfs_node *directory, const char *name, struct memfs_node *node)
{
    assert(directory->is_directory);
    assert(node != NULL);
    assert(strlen(name) < MEMFS_MAX_NAME_BYTES); /* resolution bounds every name */
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

void memfs_child_remove(struct memfs_node *directory, struct memfs_child *child)
{
    assert(directory->is_directory);
    struct memfs_children *children = &directory->children;
    size_t position = (size_t)(child - children->items);
    assert(position < children->count);
    memmove(child, child + 1, (children->count - position - 1) * sizeof *child);
    children->count--;
}

int memfs_resolve_parent(struct memfs *memfs, const char *path, struct memfs_node **parent,
                         char *name)
{
    assert(path != NULL);
    assert(parent != NULL);
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
        struct memfs_child *child = memfs_child_find(directory, component);
        if (child == NULL) {
            return -ENOENT;
        }
        if (!child->node->is_directory) {
            return -ENOTDIR;
        }
        directory = child->node;
        cursor = rest;
    }
    assert(directory->is_directory);
    *parent = directory;
    return 0;
}

int memfs_resolve(struct memfs *memfs, const char *path, struct memfs_node **node)
{
    assert(node != NULL);
    struct memfs_node *parent = NULL;
    char name[MEMFS_MAX_NAME_BYTES];
    int rc = memfs_resolve_parent(memfs, path, &parent, name);
    if (rc != 0) {
        return rc;
    }
    if (name[0] == '\0') {
        *node = parent;
        return 0;
    }
    struct memfs_child *child = memfs_child_find(parent, name);
    if (child == NULL) {
        return -ENOENT;
    }
    *node = child->node;
    return 0;
}
