/*
 * snapshot_meta.c — the snapshot's on-disk format: the directory names and the meta file.
 *
 * Layout: <dir>/snapshots/<index>-<term>/ (20-digit decimals) holds
 *   meta   u32 magic "RKSM", u32 layout 2, u64 index, u64 term, u32 voter count, u32 learner
 *          count, 16 u64 voters, 16 u64 learners, u64 highest id, u64 data bytes, u64 data
 *          XXH3-64, and an XXH3-64 of everything before it (320 bytes, little-endian). Layout
 *          1 (312 bytes, no highest id: it is then the highest member id) is still read.
 *   data   the state machine's bytes, opaque here (kv/ writes them, e.g. mdb_env_copyfd).
 * A directory being written is named "tmp-<index>-<term>".
 *
 * Happy path: snapshot.c encodes the meta of a writer's snapshot at commit; snapshot_open.c
 * decodes the newest one at open. Everything here is pure: no I/O, no struct storage. Failure
 * modes: a name that is not <index>-<term> does not parse; a meta with a bad magic, layout,
 * size, checksum or member count does not decode (the caller reports it as corrupt). Only
 * layout 2 is written.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "storage/internal.h"

#define SNAPSHOT_META_MAGIC    0x4d534b52u /* "RKSM" */
#define SNAPSHOT_META_LAYOUT   2
#define SNAPSHOT_META_V1_BYTES (STORAGE_SNAPSHOT_META_BYTES - 8)

void storage_snapshot_name(char *out, const char *prefix, uint64_t index, uint64_t term)
{
    assert(out != NULL);
    assert(prefix != NULL);
    snprintf(out, STORAGE_SNAPSHOT_NAME_BYTES, "%s%020" PRIu64 "-%020" PRIu64, prefix, index, term);
}

bool storage_snapshot_parse_name(const char *name, uint64_t *index, uint64_t *term)
{
    assert(name != NULL);
    assert(index != NULL);
    assert(term != NULL);
    if (strlen(name) != 41 || name[20] != '-') {
        return false;
    }
    char *end = NULL;
    for (int i = 0; i < 41; i++) {
        if (i != 20 && (name[i] < '0' || name[i] > '9')) {
            return false;
        }
    }
    errno = 0;
    *index = strtoull(name, &end, 10);
    if (errno != 0 || end != name + 20) {
        return false;
    }
    *term = strtoull(name + 21, &end, 10);
    return errno == 0 && *end == '\0';
}

bool storage_snapshot_meta_valid(const struct raft_snapshot_meta *meta)
{
    assert(meta != NULL);
    return meta->index > 0 && meta->configuration.voter_count <= RAFT_MAX_NODES &&
           meta->configuration.learner_count <= RAFT_MAX_NODES;
}

void storage_snapshot_meta_encode(uint8_t *out, const struct raft_snapshot_meta *meta,
                                  uint64_t data_bytes, uint64_t data_checksum)
{
    assert(out != NULL);
    /* meta_valid checked the counts at begin: the layout holds RAFT_MAX_NODES of each. */
    assert(meta->configuration.voter_count <= RAFT_MAX_NODES);
    assert(meta->configuration.learner_count <= RAFT_MAX_NODES);
    memset(out, 0, STORAGE_SNAPSHOT_META_BYTES);
    storage_put_u32(out, SNAPSHOT_META_MAGIC);
    storage_put_u32(out + 4, SNAPSHOT_META_LAYOUT);
    storage_put_u64(out + 8, meta->index);
    storage_put_u64(out + 16, meta->term);
    storage_put_u32(out + 24, meta->configuration.voter_count);
    storage_put_u32(out + 28, meta->configuration.learner_count);
    uint8_t *cursor = out + 32;
    for (int i = 0; i < RAFT_MAX_NODES; i++, cursor += 8) {
        storage_put_u64(cursor, meta->configuration.voters[i]);
    }
    for (int i = 0; i < RAFT_MAX_NODES; i++, cursor += 8) {
        storage_put_u64(cursor, meta->configuration.learners[i]);
    }
    storage_put_u64(cursor, meta->configuration.highest_id);
    cursor += 8;
    assert(cursor + 24 == out + STORAGE_SNAPSHOT_META_BYTES);
    storage_put_u64(cursor, data_bytes);
    storage_put_u64(cursor + 8, data_checksum);
    storage_put_u64(cursor + 16, XXH3_64bits(out, (size_t)(cursor + 16 - out)));
}

bool storage_snapshot_meta_decode(const uint8_t *in, size_t size, struct raft_snapshot_meta *meta,
                                  uint64_t *data_bytes, uint64_t *data_checksum)
{
    assert(in != NULL);
    assert(meta != NULL);
    if (size < SNAPSHOT_META_V1_BYTES) {
        return false;
    }
    uint32_t layout = storage_get_u32(in + 4);
    size_t expected = layout == 1 ? SNAPSHOT_META_V1_BYTES : STORAGE_SNAPSHOT_META_BYTES;
    const uint8_t *tail = in + 32 + 16 * RAFT_MAX_NODES + (layout == 1 ? 0 : 8);
    if (storage_get_u32(in) != SNAPSHOT_META_MAGIC || (layout != 1 && layout != 2) ||
        size != expected ||
        XXH3_64bits(in, (size_t)(tail + 16 - in)) != storage_get_u64(tail + 16)) {
        return false;
    }
    memset(meta, 0, sizeof *meta);
    meta->index = storage_get_u64(in + 8);
    meta->term = storage_get_u64(in + 16);
    meta->configuration.voter_count = storage_get_u32(in + 24);
    meta->configuration.learner_count = storage_get_u32(in + 28);
    if (meta->configuration.voter_count > RAFT_MAX_NODES ||
        meta->configuration.learner_count > RAFT_MAX_NODES) {
        return false;
    }
    for (int i = 0; i < RAFT_MAX_NODES; i++) {
        meta->configuration.voters[i] = storage_get_u64(in + 32 + 8 * i);
        meta->configuration.learners[i] = storage_get_u64(in + 32 + 8 * (RAFT_MAX_NODES + i));
    }
    if (layout == 1) {
        for (int i = 0; i < RAFT_MAX_NODES; i++) {
            raft_node_id voter = meta->configuration.voters[i];
            raft_node_id learner = meta->configuration.learners[i];
            raft_node_id high = voter > learner ? voter : learner;
            if (high > meta->configuration.highest_id) {
                meta->configuration.highest_id = high;
            }
        }
    } else {
        meta->configuration.highest_id = storage_get_u64(in + 32 + 16 * RAFT_MAX_NODES);
    }
    *data_bytes = storage_get_u64(tail);
    *data_checksum = storage_get_u64(tail + 8);
    return true;
}
