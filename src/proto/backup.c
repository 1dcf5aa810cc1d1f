/*
 * backup.c — the backup format of backup.h: header encoding and checked decoding, and the
 * data hash.
 */
#include "proto/backup.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static void put_le(uint8_t *out, uint64_t value, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        out[i] = (uint8_t)(value >> (8 * i));
    }
}

static uint64_t get_le(const uint8_t *in, int bytes)
{
    uint64_t value = 0;
    for (int i = 0; i < bytes; i++) {
        value |= (uint64_t)in[i] << (8 * i);
    }
    return value;
}

void backup_put_u64(uint8_t *out, uint64_t value)
{
    put_le(out, value, 8);
}

uint64_t backup_get_u64(const uint8_t *in)
{
    return get_le(in, 8);
}

size_t backup_header_bytes(const struct backup_header *header)
{
    return BACKUP_FIXED_BYTES + header->configuration_bytes;
}

void backup_header_encode(const struct backup_header *header, uint8_t *out)
{
    assert(header->configuration_bytes <= BACKUP_MAX_CONFIGURATION);
    size_t total = backup_header_bytes(header);
    memcpy(out, BACKUP_MAGIC, 8);
    put_le(out + 8, total, 4);
    put_le(out + 12, header->configuration_bytes, 4);
    put_le(out + 16, header->index, 8);
    put_le(out + 24, header->term, 8);
    put_le(out + 32, header->data_bytes, 8);
    if (header->configuration_bytes > 0) {
        memcpy(out + 40, header->configuration, header->configuration_bytes);
    }
    put_le(out + total - 8, XXH3_64bits(out, total - 8), 8);
}

int backup_header_decode(const uint8_t *in, size_t bytes, struct backup_header *header,
                         size_t *header_bytes, char message[BACKUP_MESSAGE_BYTES])
{
    message[0] = '\0';
    if (bytes < 16) {
        *header_bytes = BACKUP_FIXED_BYTES;
        return bytes >= 8 && memcmp(in, BACKUP_MAGIC, 8) != 0 ? PROTO_ERROR_PROTOCOL
                                                              : BACKUP_NEED_MORE;
    }
    if (memcmp(in, BACKUP_MAGIC, 8) != 0) {
        snprintf(message, BACKUP_MESSAGE_BYTES, "not a raftkv backup (no %s at its start)",
                 BACKUP_MAGIC);
        return PROTO_ERROR_PROTOCOL;
    }
    uint64_t total = get_le(in + 8, 4);
    uint64_t configuration_bytes = get_le(in + 12, 4);
    if (configuration_bytes > BACKUP_MAX_CONFIGURATION ||
        total != BACKUP_FIXED_BYTES + configuration_bytes) {
        snprintf(message, BACKUP_MESSAGE_BYTES,
                 "backup header of %llu bytes with a configuration of %llu: not a valid header",
                 (unsigned long long)total, (unsigned long long)configuration_bytes);
        return PROTO_ERROR_PROTOCOL;
    }
    *header_bytes = (size_t)total;
    if (bytes < total) {
        return BACKUP_NEED_MORE;
    }
    if (XXH3_64bits(in, (size_t)total - 8) != get_le(in + total - 8, 8)) {
        snprintf(message, BACKUP_MESSAGE_BYTES,
                 "the backup's header checksum does not match: the file is damaged");
        return PROTO_ERROR_PROTOCOL;
    }
    header->configuration_bytes = (uint32_t)configuration_bytes;
    header->index = get_le(in + 16, 8);
    header->term = get_le(in + 24, 8);
    header->data_bytes = get_le(in + 32, 8);
    header->configuration = configuration_bytes > 0 ? in + 40 : NULL;
    if (header->index == 0 || header->term == 0) {
        snprintf(message, BACKUP_MESSAGE_BYTES, "the backup names index %llu, term %llu",
                 (unsigned long long)header->index, (unsigned long long)header->term);
        return PROTO_ERROR_PROTOCOL;
    }
    return PROTO_OK;
}

struct backup_hash {
    XXH3_state_t *state;
};

struct backup_hash *backup_hash_new(void)
{
    struct backup_hash *hash = malloc(sizeof *hash);
    if (hash == NULL) {
        return NULL;
    }
    hash->state = XXH3_createState();
    if (hash->state == NULL || XXH3_64bits_reset(hash->state) != XXH_OK) {
        XXH3_freeState(hash->state);
        free(hash);
        return NULL;
    }
    return hash;
}

void backup_hash_update(struct backup_hash *hash, const void *data, size_t bytes)
{
    XXH3_64bits_update(hash->state, data, bytes);
}

uint64_t backup_hash_digest(const struct backup_hash *hash)
{
    return XXH3_64bits_digest(hash->state);
}

void backup_hash_free(struct backup_hash *hash)
{
    if (hash != NULL) {
        XXH3_freeState(hash->state);
        free(hash);
    }
}
