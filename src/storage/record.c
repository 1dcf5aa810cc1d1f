/*
 * record.c — encoding and decoding WAL records, and scanning one segment's bytes.
 *
 * Happy path: wal_record_encode lays out header, payload, padding and checksum;
 * wal_segment_scan walks a file's records in order, calling back for each, and reports how
 * the file ends (cleanly, in zeros, or in bytes that are not a record). Failure modes: a
 * record with a valid checksum that breaks the index/term sequence is reported as an error
 * with its offset; every other oddity is a "bad tail" that the recovery (wal.c) judges,
 * because only it knows whether anything valid follows. Never reads outside the buffer.
 */
#include "storage/record.h"

#include <assert.h>
#include <string.h>
#include <xxhash.h>

static void put_u16(uint8_t *out, uint16_t value)
{
    assert(out != NULL);
    out[0] = (uint8_t)value;
    out[1] = (uint8_t)(value >> 8);
}

static void put_u32(uint8_t *out, uint32_t value)
{
    assert(out != NULL);
    for (int i = 0; i < 4; i++) {
        out[i] = (uint8_t)(value >> (8 * i));
    }
}

static void put_u64(uint8_t *out, uint64_t value)
{
    assert(out != NULL);
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(value >> (8 * i));
    }
}

static uint32_t get_u32(const uint8_t *in)
{
    assert(in != NULL);
    uint32_t value = 0;
    for (int i = 3; i >= 0; i--) {
        value = (value << 8) | in[i];
    }
    return value;
}

static uint64_t get_u64(const uint8_t *in)
{
    assert(in != NULL);
    uint64_t value = 0;
    for (int i = 7; i >= 0; i--) {
        value = (value << 8) | in[i];
    }
    return value;
}

static uint64_t padded_payload_bytes(uint32_t payload_bytes)
{
    uint64_t bytes = payload_bytes;
    uint64_t padded =
        (bytes + WAL_RECORD_ALIGN_BYTES - 1) / WAL_RECORD_ALIGN_BYTES * WAL_RECORD_ALIGN_BYTES;
    assert(padded >= bytes);
    assert(padded - bytes < WAL_RECORD_ALIGN_BYTES);
    return padded;
}

uint64_t wal_record_bytes(uint32_t payload_bytes)
{
    uint64_t record_bytes =
        WAL_RECORD_HEADER_BYTES + padded_payload_bytes(payload_bytes) + WAL_RECORD_CHECKSUM_BYTES;
    assert(record_bytes % WAL_RECORD_ALIGN_BYTES == 0); /* the next record starts aligned */
    assert(record_bytes > payload_bytes);
    return record_bytes;
}

void wal_record_encode(const struct raft_entry *entry, uint8_t *out)
{
    assert(entry != NULL);
    assert(entry->index > 0);
    assert(out != NULL);
    assert(entry->data_bytes == 0 || entry->data != NULL);
    uint64_t body_bytes = WAL_RECORD_HEADER_BYTES + padded_payload_bytes(entry->data_bytes);
    put_u32(out, WAL_RECORD_MAGIC);
    out[4] = WAL_RECORD_KIND_ENTRY;
    out[5] = entry->type;
    put_u16(out + 6, 0);
    put_u32(out + 8, entry->data_bytes);
    put_u32(out + 12, 0);
    put_u64(out + 16, entry->index);
    put_u64(out + 24, entry->term);
    if (entry->data_bytes > 0) {
        memcpy(out + WAL_RECORD_HEADER_BYTES, entry->data, entry->data_bytes);
    }
    uint64_t padding_start = WAL_RECORD_HEADER_BYTES + (uint64_t)entry->data_bytes;
    memset(out + padding_start, 0, body_bytes - padding_start);
    put_u64(out + body_bytes, XXH3_64bits(out, body_bytes));
}

static bool header_prefix_plausible(const uint8_t *bytes, size_t size)
{
    assert(size < WAL_RECORD_HEADER_BYTES);
    assert(bytes != NULL || size == 0);
    uint8_t magic[4];
    put_u32(magic, WAL_RECORD_MAGIC);
    size_t compare = size < sizeof magic ? size : sizeof magic;
    return memcmp(bytes, magic, compare) == 0;
}

static enum wal_decode_result invalid(const char **reason, const char *why)
{
    assert(why != NULL);
    if (reason != NULL) {
        *reason = why;
    }
    return WAL_DECODE_INVALID;
}

enum wal_decode_result wal_record_decode(const uint8_t *bytes, size_t size,
                                         uint32_t max_payload_bytes, struct wal_record_view *out,
                                         const char **reason)
{
    assert(bytes != NULL || size == 0);
    assert(out != NULL);
    if (size < WAL_RECORD_HEADER_BYTES) {
        if (header_prefix_plausible(bytes, size)) {
            return WAL_DECODE_NEED_MORE;
        }
        return invalid(reason, "bad record magic");
    }
    if (get_u32(bytes) != WAL_RECORD_MAGIC) {
        return invalid(reason, "bad record magic");
    }
    if (bytes[4] != WAL_RECORD_KIND_ENTRY) {
        return invalid(reason, "unknown record kind");
    }
    if (bytes[6] != 0 || bytes[7] != 0 || get_u32(bytes + 12) != 0) {
        return invalid(reason, "nonzero reserved header bytes");
    }
    uint32_t payload_bytes = get_u32(bytes + 8);
    if (payload_bytes > max_payload_bytes) {
        return invalid(reason, "payload length above the limit");
    }
    uint64_t index = get_u64(bytes + 16);
    if (index == 0) {
        return invalid(reason, "record index 0");
    }
    uint64_t record_bytes = wal_record_bytes(payload_bytes);
    if (record_bytes > size) {
        return WAL_DECODE_NEED_MORE;
    }
    assert(record_bytes % WAL_RECORD_ALIGN_BYTES == 0);
    uint64_t body_bytes = record_bytes - WAL_RECORD_CHECKSUM_BYTES;
    if (XXH3_64bits(bytes, body_bytes) != get_u64(bytes + body_bytes)) {
        return invalid(reason, "checksum mismatch");
    }
    for (uint64_t i = WAL_RECORD_HEADER_BYTES + payload_bytes; i < body_bytes; i++) {
        if (bytes[i] != 0) {
            return invalid(reason, "nonzero padding");
        }
    }
    out->index = index;
    out->term = get_u64(bytes + 24);
    out->entry_type = bytes[5];
    out->payload_bytes = payload_bytes;
    out->payload = bytes + WAL_RECORD_HEADER_BYTES;
    out->record_bytes = record_bytes;
    return WAL_DECODE_DONE;
}

static bool all_zero(const uint8_t *bytes, size_t size)
{
    assert(bytes != NULL || size == 0);
    for (size_t i = 0; i < size; i++) {
        if (bytes[i] != 0) {
            return false;
        }
    }
    return true;
}

/* A checksummed record that does not continue the sequence: real damage, never a torn write. */
static int sequence_error(struct wal_segment_scan *scan, uint64_t offset, const char *why)
{
    assert(why != NULL);
    assert(offset % WAL_RECORD_ALIGN_BYTES == 0); /* records start 8-aligned */
    scan->error_offset = offset;
    scan->error_reason = why;
    return -1;
}

static int check_sequence(struct wal_segment_scan *scan, const struct wal_record_view *record,
                          uint64_t first_index, uint64_t offset)
{
    assert(record->index > 0); /* the decoder refuses index 0 */
    assert(scan->record_count == 0 || offset > 0);
    if (scan->record_count == 0) {
        if (first_index != 0 && record->index != first_index) {
            return sequence_error(scan, offset, "first record's index differs from file name");
        }
        return 0;
    }
    if (record->index != scan->last_index + 1) {
        return sequence_error(scan, offset, "index gap between records");
    }
    if (record->term < scan->last_term) {
        return sequence_error(scan, offset, "term goes backwards between records");
    }
    return 0;
}

int wal_segment_scan(const uint8_t *bytes, size_t size, uint64_t first_index,
                     uint32_t max_payload_bytes, wal_record_fn on_record, void *arg,
                     struct wal_segment_scan *scan)
{
    assert(scan != NULL);
    assert(bytes != NULL || size == 0);
    memset(scan, 0, sizeof *scan);
    uint64_t offset = 0;
    while (offset < size) {
        struct wal_record_view record;
        const char *reason = "record cut short";
        enum wal_decode_result result =
            wal_record_decode(bytes + offset, size - offset, max_payload_bytes, &record, &reason);
        if (result != WAL_DECODE_DONE) {
            scan->valid_bytes = offset;
            if (all_zero(bytes + offset, size - offset)) {
                scan->tail = WAL_TAIL_ZEROS;
            } else {
                scan->tail = WAL_TAIL_BAD;
                scan->bad_reason = reason;
            }
            return 0;
        }
        int rc = check_sequence(scan, &record, first_index, offset);
        if (rc == 0 && on_record != NULL) {
            rc = on_record(arg, &record, offset);
        }
        if (rc != 0) {
            return rc;
        }
        if (scan->record_count == 0) {
            scan->first_index = record.index;
        }
        scan->record_count++;
        scan->last_index = record.index;
        scan->last_term = record.term;
        assert(record.record_bytes <= size - offset); /* the decoder stays in the buffer */
        offset += record.record_bytes;
    }
    assert(offset == size);
    scan->valid_bytes = offset;
    scan->tail = WAL_TAIL_CLEAN;
    return 0;
}

bool wal_find_valid_record(const uint8_t *bytes, size_t size, uint64_t from_offset,
                           uint32_t max_payload_bytes, uint64_t *found_offset)
{
    assert(bytes != NULL || size == 0);
    assert(found_offset != NULL);
    uint64_t offset = (from_offset + WAL_RECORD_ALIGN_BYTES - 1) / WAL_RECORD_ALIGN_BYTES *
                      WAL_RECORD_ALIGN_BYTES;
    for (; offset + WAL_RECORD_HEADER_BYTES <= size; offset += WAL_RECORD_ALIGN_BYTES) {
        if (get_u32(bytes + offset) != WAL_RECORD_MAGIC) {
            continue;
        }
        struct wal_record_view record;
        if (wal_record_decode(bytes + offset, size - offset, max_payload_bytes, &record, NULL) ==
            WAL_DECODE_DONE) {
            *found_offset = offset;
            return true;
        }
    }
    return false;
}
