/*
 * memfs_faults.c — memfs's crash machinery: numbering the mutating calls, crashing or failing
 * the one a test armed, and rebuilding the disk the way the chosen crash leaves it (the modes
 * are described in memfs.h).
 *
 * Happy path: every mutating call of memfs.c starts with memfs_begin_operation, which counts
 * it. At the armed crash operation the file system stops: that call and every later one
 * return -EIO; a pwrite that crashed keeps its bytes (memfs_keep_torn_write). memfs_restart
 * then goes back to each node's durable copy (or keeps what was written, for a process crash),
 * lets a prefix of the crashing write through where the mode allows, closes every descriptor,
 * and makes what the restarted machine finds its new durable state. An armed failure instead
 * fails one call with the chosen errno and the file system goes on. Failure modes: the restart
 * has no way to report one, so it asserts that its copies (which may allocate) succeed; a torn
 * write that cannot be kept for lack of memory is lost whole, as if no prefix reached the disk.
 */
#include <assert.h>
#include <errno.h>

#include "storage/memfs_internal.h"

int memfs_begin_operation(struct memfs *memfs)
{
    assert(memfs->fail_operation == 0 || memfs->fail_errno < 0);
    assert(memfs->torn_node == NULL || memfs->crashed);
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

void memfs_keep_torn_write(struct memfs *memfs, struct memfs_node *node, const void *buffer,
                           size_t bytes, uint64_t offset)
{
    assert(memfs->crashed); /* only the write that crashed is torn */
    assert(!node->is_directory);
    memfs->torn_node = node;
    memfs->torn_offset = offset;
    memfs->torn_bytes.size = 0;
    if (memfs_bytes_write(&memfs->torn_bytes, buffer, bytes, 0) != 0) {
        memfs->torn_node = NULL;
    }
}

uint64_t memfs_operation_count(const struct memfs *memfs)
{
    assert(memfs != NULL);
    return memfs->operation_count;
}

void memfs_crash_at(struct memfs *memfs, uint64_t operation)
{
    assert(memfs != NULL);
    assert(!memfs->crashed); /* a crashed memfs is restarted before the next crash is armed */
    memfs->crash_operation = operation;
}

bool memfs_crashed(const struct memfs *memfs)
{
    assert(!memfs->crashed || memfs->operation_count == memfs->crash_operation);
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
    assert(!memfs->torn_node->is_directory);
    size_t keep = (size_t)(random % memfs->torn_bytes.size);
    int rc = memfs_bytes_write(&memfs->torn_node->content, memfs->torn_bytes.data, keep,
                               memfs->torn_offset);
    assert(rc == 0);
    (void)rc;
}

void memfs_restart(struct memfs *memfs, enum memfs_crash_mode mode, uint64_t random)
{
    assert(mode >= MEMFS_CRASH_POWER_LOSS);
    assert(mode <= MEMFS_CRASH_PROCESS);
    for (int fd = 0; fd < MEMFS_MAX_FILES_OPEN; fd++) {
        memfs->open_files[fd] = NULL;
    }
    for (size_t i = 0; i < memfs->node_count; i++) {
        struct memfs_node *node = memfs->nodes[i];
        bool keep_unsynced = mode == MEMFS_CRASH_PROCESS ||
                             (mode == MEMFS_CRASH_TORN_WRITE && node == memfs->torn_node);
        int rc = 0;
        if (node->is_directory && mode != MEMFS_CRASH_PROCESS) {
            rc = memfs_children_copy(&node->children, &node->durable_children);
        } else if (!node->is_directory && !keep_unsynced) {
            rc = memfs_bytes_copy(&node->content, &node->durable_content);
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
        int rc = node->is_directory ? memfs_children_copy(&node->durable_children, &node->children)
                                    : memfs_bytes_copy(&node->durable_content, &node->content);
        assert(rc == 0);
        (void)rc;
    }
    memfs->crashed = false;
    memfs->crash_operation = 0;
    memfs->fail_operation = 0;
    memfs->torn_node = NULL;
    memfs->torn_bytes.size = 0;
}
