/*
 * fuzz_backup.c — arbitrary bytes as the start of a backup file (proto/backup.h): the header
 * decoder must accept only what it can vouch for, and fed a prefix it must ask for more without
 * reading past it. A decoded header re-encodes to the same bytes. Never a crash or an
 * out-of-bounds read.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/backup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct backup_header header;
    size_t header_bytes = 0;
    char message[BACKUP_MESSAGE_BYTES];
    /* Copied so that a read one past the end is caught by ASan. */
    uint8_t *copy = malloc(size > 0 ? size : 1);
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, size);
    int rc = backup_header_decode(copy, size, &header, &header_bytes, message);
    assert(rc == PROTO_OK || rc == BACKUP_NEED_MORE || rc == PROTO_ERROR_PROTOCOL);
    if (rc == BACKUP_NEED_MORE) {
        assert(header_bytes > size || size < 16);
    }
    if (rc == PROTO_ERROR_PROTOCOL) {
        assert(memchr(message, '\0', sizeof message) != NULL);
    }
    if (rc == PROTO_OK) {
        assert(header_bytes <= size);
        assert(header_bytes == backup_header_bytes(&header));
        assert(header.index > 0 && header.term > 0);
        uint8_t *again = malloc(header_bytes);
        assert(again != NULL);
        backup_header_encode(&header, again);
        assert(memcmp(again, copy, header_bytes) == 0);
        free(again);
    }
    free(copy);
    return 0;
}
